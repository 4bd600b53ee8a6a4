import Foundation

/// Small file helpers with errors that name the file and the system's reason.
enum FileIO {
    /// Reads a whole file, refusing one larger than `limit` bytes.
    static func read(_ path: String, limit: Int) throws(SyncError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, message: systemError()) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .io(path: path, message: systemError()) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .io(path: path, message: "not a regular file") }
        guard Int(info.st_size) <= limit else {
            throw .io(path: path, message: "file is \(info.st_size) bytes, more than the \(limit) allowed")
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeMutableBytes { buffer in
                Foundation.read(fd, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, message: systemError())
            }
            if count == 0 { break }
            offset += count
        }
        return Array(bytes[0..<offset])
    }

    /// Creates a new file (never an existing one) readable only by its owner, and writes `bytes` to it without
    /// copying them first.
    static func writeNew(_ path: String, _ bytes: [UInt8]) throws(SyncError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .io(path: path, message: systemError()) }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { buffer in
                Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if count < 0 {
                if errno == EINTR { continue }
                let reason = systemError()
                unlink(path)
                throw .io(path: path, message: reason)
            }
            offset += count
        }
    }

    /// Whether a path is a directory.
    static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    /// Whether something exists at a path.
    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// The entries of a directory, sorted, hidden ones left out.
    static func list(_ directory: String) throws(SyncError) -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: directory).filter { !$0.hasPrefix(".") }.sorted()
        } catch {
            throw .io(path: directory, message: "cannot list directory")
        }
    }

    /// `a/b` joined, without a leading `./`.
    static func join(_ directory: String, _ name: String) -> String {
        if directory.isEmpty || directory == "." { return name }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// The last path component without its extension.
    static func stem(_ path: String) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = base.lastIndex(of: "."), dot != base.startIndex else { return base }
        return String(base[..<dot])
    }

    /// The directory part of a path ("." for a bare name).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The absolute path with `.` and `..` removed and symbolic links resolved; for a path that does not
    /// exist, the standardized absolute path.
    static func canonical(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return standardized(path) }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The absolute path with `.` and `..` removed (symbolic links kept).
    static func standardized(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// The last component of a path ("" for "/").
    static func lastComponent(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? ""
    }

    /// The text of errno.
    static func systemError(_ code: Int32 = errno) -> String {
        String(cString: strerror(code)).lowercased()
    }
}
