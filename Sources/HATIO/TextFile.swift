// TextFile: the one way commands read a text input whole — a regular file, a FIFO (named pipe),
// a character device such as /dev/stdin — by read(2) until the end, at most `Limits.textBytes`.
// A directory, a missing file or one that cannot be read is a HATIOError naming the path and
// the reason, never a Foundation error code.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HATTensor

public enum TextFile {
    /// The bytes of the file at `path`; `what` says what it is in errors ("prompt file", …).
    public static func contents(of path: String, what: String = "input", limit: Int = Limits.textBytes) throws -> [UInt8] {
        let fd = try openDescriptor(path, what: what)
        defer { close(fd) }
        var st = stat()
        var bytes: [UInt8] = []
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG {
            guard Int(st.st_size) <= limit else {
                throw HATIOError(.io, path: path, "\(what) of \(st.st_size) bytes exceeds the limit of \(limit) bytes")
            }
            bytes.reserveCapacity(Int(st.st_size))
        }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw HATIOError(.io, path: path, "cannot read the \(what): \(errnoText())")
            }
            if n == 0 { return bytes }
            guard bytes.count + n <= limit else {
                throw HATIOError(.io, path: path, "\(what) exceeds the limit of \(limit) bytes")
            }
            bytes.append(contentsOf: chunk[0..<n])
        }
    }

    /// An open, readable descriptor of `path` that is not a directory (the caller closes it).
    public static func openDescriptor(_ path: String, what: String = "input") throws -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw HATIOError(.io, path: path, "cannot open the \(what): \(errnoText())")
        }
        var st = stat()
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw HATIOError(.io, path: path, "the \(what) is a directory, not a file")
        }
        return fd
    }
}
