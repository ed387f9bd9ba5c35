// SafeTensorsFile: reader of the Hugging Face safetensors format (8-byte little-endian header
// length N, N bytes of JSON {name: {dtype, shape, data_offsets}, "__metadata__": {…}}, then the
// data section). The file is memory-mapped; init validates the whole header (sizes, dtypes,
// ranges inside the data section, no overlap, no gap) so later reads cannot go out of bounds.

import HATTensor

/// Element types of safetensors (names as in the format). Only F32, F16, BF16 (and F64) read as Float.
public enum DType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
    case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8"
    case bool = "BOOL", f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64, .u64: 8
        case .f32, .i32, .u32: 4
        case .f16, .bf16, .i16, .u16: 2
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2: 1
        }
    }

    /// True for the types `floats`/`read(_:into:count:)` convert.
    public var isReadableAsFloat: Bool { self == .f32 || self == .f16 || self == .bf16 || self == .f64 }
}

public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Bytes of this tensor within the data section (which starts at `dataStart` of the file).
    public let byteRange: Range<Int>
    /// Product of the shape (1 for a scalar).
    public let count: Int
}

public final class SafeTensorsFile: @unchecked Sendable {
    public let path: String
    /// Tensor names in file order (by position in the data section).
    public let names: [String]
    /// The "__metadata__" strings (empty if absent).
    public let metadata: [String: String]
    /// Absolute file offset of the data section (8 + header length).
    public let dataStart: Int
    public let file: MappedFile
    private let infos: [String: TensorInfo]

    /// Largest header accepted (the reference implementation's limit is 100 MB).
    public static let maxHeaderBytes = 100_000_000

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        let size = file.count
        guard size >= 8 else {
            throw HATIOError(.truncated, path: path, offset: 0,
                             "file is \(size) bytes, shorter than the 8-byte header length")
        }
        let n64 = file.bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian
        guard n64 <= UInt64(size - 8) else {
            throw HATIOError(.truncated, path: path, offset: 0,
                             "header length \(n64) exceeds the \(size - 8) bytes after the length field (file is \(size) bytes)")
        }
        let n = Int(n64)
        guard n <= Self.maxHeaderBytes else {
            throw HATIOError(.malformed, path: path, offset: 0, "header length \(n) exceeds the limit of \(Self.maxHeaderBytes) bytes")
        }
        guard n >= 2 else {
            throw HATIOError(.malformed, path: path, offset: 8, "header of \(n) bytes cannot hold a JSON object")
        }
        dataStart = 8 + n
        let dataLength = size - dataStart
        let headerBytes = UnsafeRawBufferPointer(rebasing: file.bytes[8..<dataStart])
        guard headerBytes[0] == UInt8(ascii: "{") else {
            throw HATIOError(.malformed, path: path, offset: 8, "header does not start with '{'")
        }
        let header: JSONValue
        do {
            header = try JSONParser.parse(headerBytes)
        } catch {
            throw HATIOError(.malformed, path: path, offset: 8 + error.offset, "header JSON: \(error.message)")
        }
        guard case .object(let members) = header else {
            throw HATIOError(.malformed, path: path, offset: 8, "header is \(header.typeName), expected an object")
        }

        var metadata: [String: String] = [:]
        var infos: [String: TensorInfo] = [:]
        var order: [(name: String, index: Int)] = []
        var sawMetadata = false
        for (index, (key, value)) in members.enumerated() {
            if key == "__metadata__" {
                guard !sawMetadata else { throw HATIOError(.duplicate, path: path, tensor: key, "appears twice in the header") }
                sawMetadata = true
                guard case .object(let entries) = value else {
                    throw HATIOError(.malformed, path: path, tensor: key, "is \(value.typeName), expected an object of strings")
                }
                for (k, v) in entries {
                    guard let s = v.stringValue else {
                        throw HATIOError(.malformed, path: path, tensor: "__metadata__.\(k)", "is \(v.typeName), expected a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            guard infos[key] == nil else { throw HATIOError(.duplicate, path: path, tensor: key, "appears twice in the header") }
            let info = try Self.parseInfo(name: key, value, path: path, dataStart: dataStart, dataLength: dataLength)
            infos[key] = info
            order.append((key, index))
        }

        // Ranges must tile the data section exactly: sorted by start, each starts where the last ended.
        let sorted = order.sorted { a, b in
            let ra = infos[a.name]!.byteRange, rb = infos[b.name]!.byteRange
            return (ra.lowerBound, ra.upperBound, a.index) < (rb.lowerBound, rb.upperBound, b.index)
        }
        var end = 0
        var previous: String? = nil
        for (name, _) in sorted {
            let r = infos[name]!.byteRange
            if r.lowerBound < end {
                throw HATIOError(.overlap, path: path, tensor: name, offset: dataStart + r.lowerBound,
                                 "data_offsets [\(r.lowerBound), \(r.upperBound)] overlap tensor '\(previous ?? "")' which ends at \(end)")
            }
            if r.lowerBound > end {
                throw HATIOError(.gap, path: path, tensor: name, offset: dataStart + end,
                                 "data_offsets start at \(r.lowerBound) but the previous tensor ends at \(end): \(r.lowerBound - end) bytes belong to no tensor")
            }
            end = r.upperBound
            previous = name
        }
        if end != dataLength {
            throw HATIOError(.gap, path: path, offset: dataStart + end,
                             "tensors cover \(end) bytes of the \(dataLength)-byte data section; the rest belongs to no tensor")
        }
        self.names = sorted.map(\.name)
        self.metadata = metadata
        self.infos = infos
    }

    private static func parseInfo(name: String, _ value: JSONValue, path: String, dataStart: Int, dataLength: Int) throws -> TensorInfo {
        guard case .object(let fields) = value else {
            throw HATIOError(.malformed, path: path, tensor: name, "header entry is \(value.typeName), expected an object")
        }
        func field(_ f: String) throws -> JSONValue {
            guard let v = fields.first(where: { $0.key == f })?.value else {
                throw HATIOError(.malformed, path: path, tensor: name, "header entry has no \"\(f)\"")
            }
            return v
        }
        guard let dtypeName = try field("dtype").stringValue else {
            throw HATIOError(.malformed, path: path, tensor: name, "\"dtype\" is not a string")
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw HATIOError(.unknownDType, path: path, tensor: name,
                             "unknown dtype \"\(dtypeName)\" (known: \(DType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard case .array(let dims) = try field("shape") else {
            throw HATIOError(.malformed, path: path, tensor: name, "\"shape\" is not an array")
        }
        var shape: [Int] = []
        for d in dims {
            guard let v = d.intValue, v >= 0 else {
                throw HATIOError(.badShape, path: path, tensor: name, "shape entry \(d) is not a non-negative integer")
            }
            shape.append(v)
        }
        guard let count = checkedProduct(shape), let nbytes = checkedMul(count, dtype.size) else {
            throw HATIOError(.badShape, path: path, tensor: name, "shape \(shape) of \(dtypeName) overflows the size of a tensor")
        }
        guard case .array(let offsets) = try field("data_offsets"), offsets.count == 2,
              let begin = offsets[0].intValue, let end = offsets[1].intValue, begin >= 0, end >= begin else {
            throw HATIOError(.malformed, path: path, tensor: name, "\"data_offsets\" must be [begin, end] with 0 ≤ begin ≤ end")
        }
        guard end - begin == nbytes else {
            throw HATIOError(.badShape, path: path, tensor: name,
                             "shape \(shape) of \(dtypeName) needs \(nbytes) bytes but data_offsets [\(begin), \(end)] span \(end - begin)")
        }
        guard end <= dataLength else {
            throw HATIOError(.outOfBounds, path: path, tensor: name, offset: dataStart &+ begin,
                             "data_offsets [\(begin), \(end)] end beyond the data section of \(dataLength) bytes")
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape, byteRange: begin..<end, count: count)
    }

    /// Number of tensors.
    public var count: Int { names.count }

    public func contains(_ name: String) -> Bool { infos[name] != nil }

    public func info(_ name: String) throws -> TensorInfo {
        guard let i = infos[name] else {
            throw HATIOError(.missingTensor, path: path, tensor: name, "no such tensor (the file has \(names.count))")
        }
        return i
    }

    /// All tensor infos in file order.
    public var tensors: [TensorInfo] { names.map { infos[$0]! } }

    /// The raw bytes of a tensor (inside the map; valid while this object lives).
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let i = try info(name)
        return UnsafeRawBufferPointer(rebasing: file.bytes[(dataStart + i.byteRange.lowerBound)..<(dataStart + i.byteRange.upperBound)])
    }

    /// Gives the tensor's mapped pages back: a loader that has read a tensor and moves on keeps
    /// its resident memory to what it holds itself (a page shared with a neighbour is read again
    /// from the page cache if needed).
    public func release(_ name: String) {
        guard let i = infos[name] else { return }
        file.adviseDone((dataStart + i.byteRange.lowerBound)..<(dataStart + i.byteRange.upperBound))
    }

    /// The tensor converted to Float (F32, F16, BF16, F64).
    public func floats(_ name: String) throws -> [Float] {
        let i = try info(name)
        try checkFloat(i)
        return try [Float](unsafeUninitializedCapacity: i.count) { buffer, initialized in
            try read(name, into: buffer.baseAddress!, count: i.count)
            initialized = i.count
        }
    }

    /// Converts the tensor into `into`; `count` must equal its element count.
    public func read(_ name: String, into dst: UnsafeMutablePointer<Float>, count: Int) throws {
        let i = try info(name)
        try checkFloat(i)
        guard count == i.count else {
            throw HATIOError(.usage, path: path, tensor: name, "read asked for \(count) elements but the tensor \(i.shape) has \(i.count)")
        }
        guard count > 0 else { return }
        let src = try rawBytes(name).baseAddress!
        switch i.dtype {
        case .f32: UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: 4 * count)
        case .bf16: Half.bf16ToFloat(src, dst, count: count)
        case .f16: Half.f16ToFloat(src, dst, count: count)
        case .f64:
            for k in 0..<count { dst[k] = Float(src.loadUnaligned(fromByteOffset: 8 * k, as: Double.self)) }
        default: break
        }
    }

    private func checkFloat(_ i: TensorInfo) throws {
        guard i.dtype.isReadableAsFloat else {
            throw HATIOError(.unsupported, path: path, tensor: i.name, "dtype \(i.dtype.rawValue) cannot be read as floats (F32, F16, BF16, F64 can)")
        }
    }
}
