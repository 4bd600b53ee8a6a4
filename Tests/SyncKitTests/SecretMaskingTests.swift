import Testing

@testable import SyncKit

/// A definition that wrongly holds a credential is refused, and the line shown under the error does not repeat
/// the credential to the terminal or the CI log.
@Suite struct SecretMaskingTests {
    @Test func aURIsPasswordIsMaskedInTheLineShown() {
        #expect(
            Diagnostic.maskingPasswords("  url: postgresql://sync:hunter2@db.internal:5432/crm")
                == "  url: postgresql://sync:********@db.internal:5432/crm")
        #expect(
            Diagnostic.maskingPasswords("url: postgres://u@h/db?sslmode=require&password=s3cret&x=1")
                == "url: postgres://u@h/db?sslmode=require&password=********&x=1")
        #expect(Diagnostic.maskingPasswords("url: postgresql://sync@db/crm") == "url: postgresql://sync@db/crm")
        #expect(Diagnostic(.error, "m", sourceLine: "a://b:c@d").sourceLine == "a://b:********@d")
    }
}
