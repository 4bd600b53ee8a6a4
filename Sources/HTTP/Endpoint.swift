import Foundation

/// What the transport allows of a URL before anything is sent.
public enum Endpoint {
    /// Whether a host name is this machine's loopback: `localhost`, 127.0.0.0/8 or `::1`.
    public static func isLoopback(host: String) -> Bool {
        var name = host.lowercased()
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        if name == "localhost" || name.hasSuffix(".localhost") || name == "::1" || name == "0:0:0:0:0:0:0:1" {
            return true
        }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Why a URL may not carry credentials, or nil when it may: anything but `https://` to a host other than
    /// this machine's loopback would put them on the network in clear text. TLS verification itself is never
    /// off, so an `https://` URL is always verified.
    public static func cleartextProblem(_ url: String) -> String? {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased() else {
            return "'\(url)' is not a URL"
        }
        if scheme == "https" { return nil }
        let host = parsed.host ?? ""
        if scheme == "http", isLoopback(host: host) { return nil }
        return
            "\(scheme):// to \(host.isEmpty ? "no host" : host) is not encrypted; use https:// (plain http is allowed for a loopback host only)"
    }
}
