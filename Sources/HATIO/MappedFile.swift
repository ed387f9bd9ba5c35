// MappedFile: a read-only memory map of a whole file (mmap, PROT_READ, MAP_PRIVATE) with
// bounds-checked access. Readers never read a file whole: they map it and validate every
// offset against `count` before touching the bytes. An empty file maps to an empty buffer.

import HATTensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class MappedFile: @unchecked Sendable {
    public let path: String
    /// File size in bytes.
    public let count: Int
    /// First byte of the mapping (nil only when the file is empty).
    public let base: UnsafeRawPointer?

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw HATIOError(.io, path: path, "cannot open: \(errnoText())")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw HATIOError(.io, path: path, "cannot stat: \(errnoText())")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw HATIOError(.io, path: path, "not a regular file")
        }
        count = Int(st.st_size)
        if count == 0 {
            base = nil
            return
        }
        let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw HATIOError(.io, path: path, "cannot map \(count) bytes: \(errnoText())")
        }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }

    /// All bytes of the file.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Bytes [offset, offset + length), or a `.truncated` error naming `what`.
    public func bytes(at offset: Int, length: Int, what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        guard offset >= 0, length >= 0, let end = checkedAdd(offset, length), end <= count else {
            throw HATIOError(.truncated, path: path, offset: offset,
                             "\(what()) needs \(length) bytes at offset \(offset) but the file has \(count) bytes")
        }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<end])
    }

    /// Hint that the range will be read sequentially soon (for streaming conversion).
    public func adviseSequential(_ range: Range<Int>) {
        guard let base, !range.isEmpty, range.lowerBound >= 0, range.upperBound <= count else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), range.upperBound - start, MADV_WILLNEED)
    }

    /// Tell the kernel the range is no longer needed (keeps resident memory flat when streaming).
    public func adviseDone(_ range: Range<Int>) {
        guard let base, !range.isEmpty, range.lowerBound >= 0, range.upperBound <= count else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), range.upperBound - start, MADV_DONTNEED)
    }
}
