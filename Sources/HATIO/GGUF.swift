// GGUFFile: reader of GGUF v2/v3 files (llama.cpp / ggml; spec: ggml docs/gguf.md). Layout:
// "GGUF", u32 version, u64 tensor count, u64 metadata count, metadata (key, u32 type, value),
// tensor infos (name, u32 n_dims, u64 ne[n_dims] innermost first, u32 type, u64 offset), padding
// to `general.alignment` (default 32), tensor data. The file is memory-mapped; init validates
// every length, count, type, alignment and range, so later reads cannot leave the file.

import HATTensor

public enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6
    case bool = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Fewest bytes one value of this type occupies (bounds the length of hostile arrays).
    var minimumSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .string: 8
        case .array: 12
        }
    }
}

public indirect enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array(GGUFValueType, [GGUFValue])

    /// Any integer type as Int (nil if it does not fit or is not an integer).
    public var int: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(v)
        default: nil
        }
    }

    /// Any numeric type as Double; float32 goes through its shortest decimal text so 1e-5 stays 1e-05.
    public var double: Double? {
        switch self {
        case .float32(let v): Double("\(v)")
        case .float64(let v): v
        default: int.map(Double.init)
        }
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var array: [GGUFValue]? {
        if case .array(_, let a) = self { return a }
        return nil
    }

    public var typeName: String {
        switch self {
        case .uint8: "uint8"; case .int8: "int8"; case .uint16: "uint16"; case .int16: "int16"
        case .uint32: "uint32"; case .int32: "int32"; case .uint64: "uint64"; case .int64: "int64"
        case .float32: "float32"; case .float64: "float64"; case .bool: "bool"; case .string: "string"
        case .array: "array"
        }
    }
}

public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// ne[0], ne[1], … (innermost first, as stored). ne[0] is the row length.
    public let dims: [Int]
    public let type: GGMLType
    /// Offset relative to the start of the data section, as stored.
    public let offset: Int
    /// Absolute byte range in the file.
    public let fileRange: Range<Int>
    public let count: Int
    /// Row-major shape (outermost first), e.g. [out, in] for a linear weight.
    public var shape: [Int] { dims.reversed() }
    /// Elements per row (ne[0]).
    public var rowLength: Int { dims[0] }
    /// Number of rows (product of ne[1…]).
    public var rows: Int { dims.count > 0 && dims[0] > 0 ? count / dims[0] : 0 }
    /// Bytes of one row.
    public var rowBytes: Int { dims[0] / type.blockSize * type.typeSize }
}

public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: Int
    /// Metadata in file order.
    public let metadataKeys: [String]
    public let metadata: [String: GGUFValue]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Absolute offset of the data section.
    public let dataStart: Int
    public let file: MappedFile
    private let index: [String: Int]

    static let maxDims = 4
    static let maxArrayDepth = 8

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        var c = Cursor(file: file)
        let magic = try c.bytes(4, "the magic")
        guard Array(magic) == Array("GGUF".utf8) else {
            throw HATIOError(.malformed, path: path, offset: 0,
                             "bad magic \(Array(magic).map { String(format2: $0) }.joined(separator: " ")), expected \"GGUF\" (47 47 55 46): not a GGUF file")
        }
        let v = try c.u32("the version")
        guard v == 2 || v == 3 else {
            if v.byteSwapped == 2 || v.byteSwapped == 3 {
                throw HATIOError(.unsupported, path: path, offset: 4, "big-endian GGUF (version \(v.byteSwapped) byte-swapped) is not supported")
            }
            throw HATIOError(.unsupported, path: path, offset: 4, "GGUF version \(v) is not supported (versions 2 and 3 are)")
        }
        version = Int(v)
        let tensorCount = try c.u64("the tensor count")
        let kvCount = try c.u64("the metadata count")
        // every metadata entry needs ≥ 13 bytes and every tensor info ≥ 32: bounds hostile counts
        guard kvCount <= UInt64(file.count / 13), tensorCount <= UInt64(file.count / 32) else {
            throw HATIOError(.truncated, path: path, offset: 8,
                             "header announces \(tensorCount) tensors and \(kvCount) metadata entries, more than a \(file.count)-byte file can hold")
        }

        var keys: [String] = []
        var metadata: [String: GGUFValue] = [:]
        for k in 0..<Int(kvCount) {
            let at = c.offset
            let key = try c.string("metadata key #\(k)", strict: true)
            guard metadata[key] == nil else {
                throw HATIOError(.duplicate, path: path, tensor: key, offset: at, "metadata key appears twice")
            }
            let typeAt = c.offset
            let rawType = try c.u32("the type of metadata '\(key)'")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw HATIOError(.malformed, path: path, tensor: key, offset: typeAt, "unknown metadata value type \(rawType) (0…12 are defined)")
            }
            metadata[key] = try c.value(type, key: key, depth: 0)
            keys.append(key)
        }
        metadataKeys = keys
        self.metadata = metadata

        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard case .uint32(let v) = a, v > 0, v & (v - 1) == 0 else {
                throw HATIOError(.malformed, path: path, tensor: "general.alignment",
                                 "must be a uint32 power of two, found \(a.typeName) \(a.int.map(String.init) ?? "")")
            }
            alignment = Int(v)
        }
        self.alignment = alignment

        struct Raw { let name: String; let dims: [Int]; let type: GGMLType; let offset: Int; let bytes: Int; let count: Int; let at: Int }
        var raws: [Raw] = []
        var index: [String: Int] = [:]
        for t in 0..<Int(tensorCount) {
            let at = c.offset
            let name = try c.string("the name of tensor info #\(t)", strict: true)
            guard index[name] == nil else { throw HATIOError(.duplicate, path: path, tensor: name, offset: at, "tensor name appears twice") }
            let nDims = try c.u32("n_dims of '\(name)'")
            guard nDims >= 1 && nDims <= UInt32(Self.maxDims) else {
                throw HATIOError(.badShape, path: path, tensor: name, offset: at, "n_dims is \(nDims), expected 1…\(Self.maxDims)")
            }
            var dims: [Int] = []
            for _ in 0..<Int(nDims) {
                let d = try c.u64("a dimension of '\(name)'")
                guard d >= 1, d <= UInt64(Int.max) else {
                    throw HATIOError(.badShape, path: path, tensor: name, offset: at, "dimension \(d) is not in 1…\(Int.max)")
                }
                dims.append(Int(d))
            }
            let typeAt = c.offset
            let rawType = try c.u32("the type of '\(name)'")
            guard let type = GGMLType(rawValue: rawType) else {
                throw HATIOError(.unknownDType, path: path, tensor: name, offset: typeAt, "unknown ggml type id \(rawType)")
            }
            let offsetAt = c.offset
            let off = try c.u64("the data offset of '\(name)'")
            guard let count = checkedProduct(dims) else {
                throw HATIOError(.badShape, path: path, tensor: name, offset: at, "dims \(dims) overflow the element count")
            }
            guard dims[0] % type.blockSize == 0 else {
                throw HATIOError(.badShape, path: path, tensor: name, offset: at,
                                 "row length ne[0] = \(dims[0]) is not a multiple of the \(type.name) block size \(type.blockSize)")
            }
            guard let bytes = checkedMul(count / type.blockSize, type.typeSize) else {
                throw HATIOError(.badShape, path: path, tensor: name, offset: at, "dims \(dims) of \(type.name) overflow the byte size")
            }
            guard off <= UInt64(Int.max), Int(off) % alignment == 0 else {
                throw HATIOError(.misaligned, path: path, tensor: name, offset: offsetAt,
                                 "data offset \(off) is not a multiple of the alignment \(alignment)")
            }
            index[name] = raws.count
            raws.append(Raw(name: name, dims: dims, type: type, offset: Int(off), bytes: bytes, count: count, at: at))
        }
        let infosEnd = c.offset
        let dataStart = (infosEnd + alignment - 1) / alignment * alignment
        guard dataStart <= file.count || raws.isEmpty else {
            throw HATIOError(.truncated, path: path, offset: infosEnd, "file ends before the data section (which starts at \(dataStart))")
        }
        self.dataStart = dataStart
        let dataLength = max(0, file.count - dataStart)
        var tensors: [GGUFTensorInfo] = []
        for r in raws {
            guard let end = checkedAdd(r.offset, r.bytes), end <= dataLength else {
                throw HATIOError(.outOfBounds, path: path, tensor: r.name, offset: dataStart &+ r.offset,
                                 "\(r.type.name) \(r.dims) data [\(r.offset), \(r.offset &+ r.bytes)) lies beyond the \(dataLength)-byte data section (file is \(file.count) bytes)")
            }
            tensors.append(GGUFTensorInfo(name: r.name, dims: r.dims, type: r.type, offset: r.offset,
                                          fileRange: (dataStart + r.offset)..<(dataStart + end), count: r.count))
        }
        let sorted = tensors.sorted { ($0.fileRange.lowerBound, $0.fileRange.upperBound) < ($1.fileRange.lowerBound, $1.fileRange.upperBound) }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.fileRange.lowerBound < a.fileRange.upperBound && !b.fileRange.isEmpty {
            throw HATIOError(.overlap, path: path, tensor: b.name, offset: b.fileRange.lowerBound,
                             "data overlaps tensor '\(a.name)' (which ends at byte \(a.fileRange.upperBound))")
        }
        self.tensors = tensors
        self.index = index
    }

    public func contains(_ name: String) -> Bool { index[name] != nil }

    public func info(_ name: String) throws -> GGUFTensorInfo {
        guard let i = index[name] else {
            throw HATIOError(.missingTensor, path: path, tensor: name, "no such tensor (the file has \(tensors.count))")
        }
        return tensors[i]
    }

    /// The architecture name ("llama", …).
    public var architecture: String? { metadata["general.architecture"]?.string }

    /// Dequantises rows `rows` (each ne[0] elements) of a tensor into `dst` ([rows.count, ne[0]]).
    public func dequantize(_ name: String, rows: Range<Int>, into dst: UnsafeMutablePointer<Float>) throws {
        let t = try info(name)
        guard rows.lowerBound >= 0, rows.upperBound <= t.rows else {
            throw HATIOError(.usage, path: path, tensor: name, "rows \(rows) outside 0..<\(t.rows)")
        }
        guard t.type.canDequantize else {
            throw HATIOError(.unsupported, path: path, tensor: name,
                             "ggml type \(t.type.name) cannot be dequantised (supported: \(GGMLType.dequantizable.map(\.name).joined(separator: ", ")))")
        }
        let src = file.base! + t.fileRange.lowerBound + rows.lowerBound * t.rowBytes
        GGMLDequantize.run(t.type, src: src, dst: dst, count: rows.count * t.rowLength)
    }

    /// Dequantises a whole tensor into `dst`; `count` must equal its element count.
    public func dequantize(_ name: String, into dst: UnsafeMutablePointer<Float>, count: Int) throws {
        let t = try info(name)
        guard count == t.count else {
            throw HATIOError(.usage, path: path, tensor: name, "asked for \(count) elements but \(t.dims) has \(t.count)")
        }
        try dequantize(name, rows: 0..<t.rows, into: dst)
    }

    /// The whole tensor as Floats (row-major, `shape` order).
    public func floats(_ name: String) throws -> [Float] {
        let t = try info(name)
        return try [Float](unsafeUninitializedCapacity: t.count) { buf, n in
            try dequantize(name, into: buf.baseAddress!, count: t.count)
            n = t.count
        }
    }

    // MARK: bounds-checked cursor over the mapped bytes

    private struct Cursor {
        let file: MappedFile
        var offset = 0

        mutating func bytes(_ n: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
            let b = try file.bytes(at: offset, length: n, what: what())
            offset += n
            return b
        }
        mutating func load<T: FixedWidthInteger>(_ t: T.Type, _ what: @autoclosure () -> String) throws -> T {
            let b = try bytes(MemoryLayout<T>.size, what())
            return T(littleEndian: b.loadUnaligned(as: T.self))
        }
        mutating func u32(_ what: @autoclosure () -> String) throws -> UInt32 { try load(UInt32.self, what()) }
        mutating func u64(_ what: @autoclosure () -> String) throws -> UInt64 { try load(UInt64.self, what()) }

        /// u64 length + bytes. `strict`: must be valid UTF-8 (keys, names); else invalid bytes are replaced.
        mutating func string(_ what: @autoclosure () -> String, strict: Bool = false) throws -> String {
            let at = offset
            let n = try u64("the length of \(what())")
            guard n <= UInt64(file.count - offset) else {
                throw HATIOError(.truncated, path: file.path, offset: at,
                                 "\(what()) has length \(n) but only \(file.count - offset) bytes remain in the file")
            }
            let b = try bytes(Int(n), what())
            if strict {
                guard let s = String(validating: b, as: UTF8.self) else {
                    throw HATIOError(.malformed, path: file.path, offset: at + 8, "\(what()) is not valid UTF-8")
                }
                return s
            }
            return String(decoding: b, as: UTF8.self)
        }

        mutating func value(_ type: GGUFValueType, key: String, depth: Int) throws -> GGUFValue {
            let what = "the value of '\(key)'"
            switch type {
            case .uint8: return .uint8(try load(UInt8.self, what))
            case .int8: return .int8(try load(Int8.self, what))
            case .uint16: return .uint16(try load(UInt16.self, what))
            case .int16: return .int16(try load(Int16.self, what))
            case .uint32: return .uint32(try load(UInt32.self, what))
            case .int32: return .int32(try load(Int32.self, what))
            case .uint64: return .uint64(try load(UInt64.self, what))
            case .int64: return .int64(try load(Int64.self, what))
            case .float32: return .float32(Float(bitPattern: try load(UInt32.self, what)))
            case .float64: return .float64(Double(bitPattern: try load(UInt64.self, what)))
            case .bool: return .bool(try load(UInt8.self, what) != 0)
            case .string: return .string(try string(what))
            case .array:
                guard depth < GGUFFile.maxArrayDepth else {
                    throw HATIOError(.malformed, path: file.path, tensor: key, offset: offset, "arrays nested deeper than \(GGUFFile.maxArrayDepth)")
                }
                let at = offset
                let rawType = try u32("the element type of '\(key)'")
                guard let elementType = GGUFValueType(rawValue: rawType) else {
                    throw HATIOError(.malformed, path: file.path, tensor: key, offset: at, "unknown array element type \(rawType)")
                }
                let n = try u64("the length of array '\(key)'")
                let remaining = file.count - offset
                guard n <= UInt64(remaining / elementType.minimumSize) else {
                    throw HATIOError(.truncated, path: file.path, tensor: key, offset: at,
                                     "array of \(n) elements cannot fit in the \(remaining) bytes left in the file")
                }
                var out: [GGUFValue] = []
                out.reserveCapacity(Int(n))
                for _ in 0..<Int(n) { out.append(try value(elementType, key: key, depth: depth + 1)) }
                return .array(elementType, out)
            }
        }
    }
}

extension String {
    /// Two hex digits.
    init(format2 b: UInt8) {
        let h = String(b, radix: 16)
        self = h.count == 1 ? "0" + h : h
    }
}
