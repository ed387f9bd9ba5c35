// SafeTensorsWriter: streaming safetensors writer. The header (with every tensor's offsets) is
// written first, then the tensors in the declared order, converted from Float to F32/F16/BF16
// in small chunks, so a model never has to sit in memory whole. Output goes to a temporary file
// in the same directory; `finish` fsyncs and renames it onto `path`, so an existing file is
// replaced only by a complete one. AtomicFile does the same for small files (JSON configs).

import HATTensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

@inline(__always)
private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, p, n)
    #else
    Darwin.write(fd, p, n)
    #endif
}

/// A file descriptor open for writing to a temporary file beside the destination.
final class TemporaryFile {
    let path: String
    let temporaryPath: String
    private(set) var fd: Int32
    private var done = false

    init(for path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        temporaryPath = dir + "/." + url.lastPathComponent + ".partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw HATIOError(.io, path: path, "cannot create temporary file \(temporaryPath): \(errnoText())")
        }
    }

    /// Writes all bytes (retrying short writes and EINTR).
    func write(_ p: UnsafeRawPointer, _ count: Int) throws {
        var done = 0
        while done < count {
            let n = posixWrite(fd, p + done, count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw HATIOError(.io, path: path, "write failed after \(done) of \(count) bytes: \(errnoText())")
            }
            done += n
        }
    }

    /// fsync, close, rename onto `path`, fsync the directory.
    func commit() throws {
        guard fsync(fd) == 0 else { throw HATIOError(.io, path: path, "fsync failed: \(errnoText())") }
        let rc = close(fd)
        fd = -1
        guard rc == 0 else { throw HATIOError(.io, path: path, "close failed: \(errnoText())") }
        guard rename(temporaryPath, path) == 0 else {
            throw HATIOError(.io, path: path, "cannot rename \(temporaryPath) onto it: \(errnoText())")
        }
        done = true
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    /// Closes and deletes the temporary file (the destination is untouched).
    func abandon() {
        if done { return }
        if fd >= 0 { close(fd); fd = -1 }
        unlink(temporaryPath)
        done = true
    }

    deinit { abandon() }
}

public enum AtomicFile {
    /// Writes `bytes` to a temporary file beside `path`, fsyncs, and renames it onto `path`.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let t = try TemporaryFile(for: path)
        do {
            try bytes.withUnsafeBytes { b in
                if let base = b.baseAddress { try t.write(base, b.count) }
            }
            try t.commit()
        } catch {
            t.abandon()
            throw error
        }
    }

    public static func write(_ data: Data, to path: String) throws {
        try write([UInt8](data), to: path)
    }

    public static func write(_ text: String, to path: String) throws {
        try write(Array(text.utf8), to: path)
    }
}

public final class SafeTensorsWriter {
    public let path: String
    public let dtype: DType
    private let tensors: [(name: String, shape: [Int], count: Int)]
    private let file: TemporaryFile
    private var current = 0          // index of the tensor being written
    private var writtenOfCurrent = 0 // elements of it written so far
    private var failed = false
    private var finished = false
    private let chunkElements = 1 << 16
    private let scratch: UnsafeMutableRawPointer

    /// Declares every tensor up front (the header needs all offsets) and writes the header.
    /// `dtype` is the stored type: .f32, .f16 or .bf16.
    public init(path: String, tensors: [(name: String, shape: [Int])], dtype: DType, metadata: [String: String] = [:]) throws {
        guard dtype == .f32 || dtype == .bf16 || dtype == .f16 else {
            throw HATIOError(.unsupported, path: path, "the writer stores F32, F16 or BF16, not \(dtype.rawValue)")
        }
        self.path = path
        self.dtype = dtype
        var seen = Set<String>()
        var list: [(name: String, shape: [Int], count: Int)] = []
        var header = "{"
        if !metadata.isEmpty {
            header += jsonQuoted("__metadata__") + ":{"
            header += metadata.keys.sorted().map { jsonQuoted($0) + ":" + jsonQuoted(metadata[$0]!) }.joined(separator: ",")
            header += "}"
        }
        var offset = 0
        for (name, shape) in tensors {
            guard name != "__metadata__", seen.insert(name).inserted else {
                throw HATIOError(.duplicate, path: path, tensor: name, "declared twice (or uses the reserved name)")
            }
            guard let count = checkedProduct(shape), let bytes = checkedMul(count, dtype.size),
                  let end = checkedAdd(offset, bytes) else {
                throw HATIOError(.badShape, path: path, tensor: name, "shape \(shape) is negative or too large")
            }
            if header.count > 1 { header += "," }
            header += jsonQuoted(name) + ":{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}"
            offset = end
            list.append((name, shape, count))
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(0x20) }   // data section 8-byte aligned
        self.tensors = list
        file = try TemporaryFile(for: path)
        scratch = UnsafeMutableRawPointer.allocate(byteCount: chunkElements * 4, alignment: 64)
        var n = UInt64(headerBytes.count).littleEndian
        do {
            try withUnsafeBytes(of: &n) { try file.write($0.baseAddress!, 8) }
            try headerBytes.withUnsafeBytes { try file.write($0.baseAddress!, $0.count) }
        } catch {
            file.abandon()
            scratch.deallocate()
            throw error
        }
        skipEmpty()
    }

    deinit {
        scratch.deallocate()
        if !finished { file.abandon() }
    }

    /// The name of the tensor the next `write` must be for (nil when all are written).
    public var nextTensor: String? { current < tensors.count ? tensors[current].name : nil }

    private func skipEmpty() {
        while current < tensors.count && tensors[current].count == 0 { current += 1 }
    }

    /// Writes a whole tensor; `count` must equal its element count and tensors come in declared order.
    public func write(_ name: String, from src: UnsafePointer<Float>, count: Int) throws {
        guard current < tensors.count, tensors[current].name == name, writtenOfCurrent == 0 else {
            throw usage(name, "written out of order: expected \(nextTensor.map { "'\($0)'" } ?? "no more tensors")")
        }
        guard count == tensors[current].count else {
            throw usage(name, "write of \(count) elements but shape \(tensors[current].shape) has \(tensors[current].count)")
        }
        try writePart(name, from: src, count: count)
    }

    /// Writes the next `count` elements of tensor `name` (for tensors streamed in pieces).
    public func writePart(_ name: String, from src: UnsafePointer<Float>, count: Int) throws {
        guard !failed, !finished else { throw usage(name, "the writer has already failed or finished") }
        guard current < tensors.count, tensors[current].name == name else {
            throw usage(name, "written out of order: expected \(nextTensor.map { "'\($0)'" } ?? "no more tensors")")
        }
        let remaining = tensors[current].count - writtenOfCurrent
        guard count >= 0, count <= remaining else {
            throw usage(name, "write of \(count) elements but only \(remaining) of shape \(tensors[current].shape) remain")
        }
        do {
            var done = 0
            while done < count {
                let n = min(chunkElements, count - done)
                switch dtype {
                case .f32:
                    try file.write(UnsafeRawPointer(src + done), 4 * n)
                case .bf16:
                    Half.floatToBF16(src + done, scratch.assumingMemoryBound(to: UInt16.self), count: n)
                    try file.write(scratch, 2 * n)
                default:
                    Half.floatToF16(src + done, scratch.assumingMemoryBound(to: UInt16.self), count: n)
                    try file.write(scratch, 2 * n)
                }
                done += n
            }
        } catch {
            failed = true
            file.abandon()
            throw error
        }
        writtenOfCurrent += count
        if writtenOfCurrent == tensors[current].count {
            current += 1
            writtenOfCurrent = 0
            skipEmpty()
        }
    }

    /// Checks that every tensor was written, then fsyncs and renames the file onto `path`.
    public func finish() throws {
        guard !failed, !finished else { throw usage(nil, "finish after the writer failed or finished") }
        guard current == tensors.count else {
            let missing = tensors[current...].map(\.name)
            failed = true
            file.abandon()
            throw HATIOError(.missingTensor, path: path, tensor: missing.first,
                             "finish with \(missing.count) tensor(s) not written: \(missing.prefix(5).joined(separator: ", "))\(missing.count > 5 ? ", …" : ""); nothing was written to the destination")
        }
        do {
            try file.commit()
        } catch {
            failed = true
            file.abandon()
            throw error
        }
        finished = true
    }

    private func usage(_ name: String?, _ message: String) -> HATIOError {
        HATIOError(.usage, path: path, tensor: name, message)
    }
}
