import Crypto

/// An incremental SHA-256 with a hex result.
struct SHA256Stream {
    private var hasher = SHA256()

    mutating func update(_ bytes: UnsafeBufferPointer<UInt8>) {
        hasher.update(bufferPointer: UnsafeRawBufferPointer(bytes))
    }

    func hex() -> String {
        hasher.finalize().map { BatchEncoder.hexByte($0) }.joined()
    }
}
