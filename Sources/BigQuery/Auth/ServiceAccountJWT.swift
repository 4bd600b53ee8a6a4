import Crypto
import CryptoExtras
import Foundation

/// Signs the RS256 JWT a service account exchanges for an access token.
public struct ServiceAccountJWT: Sendable {
    /// The OAuth scope bqsync asks for.
    public static let bigQueryScope = "https://www.googleapis.com/auth/bigquery"

    let key: ServiceAccountKey
    let scopes: [String]

    /// Creates a signer for a key and scopes.
    public init(key: ServiceAccountKey, scopes: [String] = [ServiceAccountJWT.bigQueryScope]) {
        self.key = key
        self.scopes = scopes
    }

    /// The signed assertion for a moment (Unix seconds): header `{"alg":"RS256","typ":"JWT","kid":…}`, claims
    /// `iss`, `scope`, `aud` = token URI, `iat`, `exp` = iat + 3600.
    public func assertion(issuedAt now: Int64) throws(BigQueryError) -> String {
        var header = JSONWriter()
        header.object { object in
            object.field("alg", string: "RS256")
            object.field("typ", string: "JWT")
            if let kid = key.privateKeyId { object.field("kid", string: kid) }
        }
        var claims = JSONWriter()
        claims.object { object in
            object.field("iss", string: key.clientEmail)
            object.field("scope", string: scopes.joined(separator: " "))
            object.field("aud", string: key.tokenURI)
            object.field("iat") { $0.int(now) }
            object.field("exp") { $0.int(now + 3600) }
        }
        let signingInput = Base64URL.encode(header.bytes) + "." + Base64URL.encode(claims.bytes)
        do {
            let privateKey = try _RSA.Signing.PrivateKey(pemRepresentation: key.privateKey.value)
            let signature = try privateKey.signature(
                for: SHA256.hash(data: Array(signingInput.utf8)), padding: .insecurePKCS1v1_5)
            return signingInput + "." + Base64URL.encode(Array(signature.rawRepresentation))
        } catch {
            // The library's error could describe the key; say only that it failed.
            throw .auth("\(key.path): the private key could not be read or used for RS256 signing")
        }
    }
}

/// Base64url without padding (RFC 7515).
public enum Base64URL {
    /// Encodes bytes.
    public static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Decodes, tolerating missing padding.
    public static func decode(_ text: String) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).map { Array($0) }
    }
}
