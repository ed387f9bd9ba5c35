// ParameterSet: every trainable tensor of a model in one contiguous Float buffer, with a
// gradient buffer of exactly the same layout (llm.c style). Optimizer moments, clipping,
// checkpoint writing and gradient checks are then flat loops over `count` floats.
// Entries are named by their checkpoint keys (ARCHITECTURE.md §3) and keep their logical shape.

import CKernels

public struct ParameterSpec: Equatable, Sendable {
    public let name: String
    /// Logical shape as in the checkpoint, e.g. [out, in] for a linear weight, [C] for a norm.
    public let shape: [Int]
    public init(_ name: String, _ shape: [Int]) {
        self.name = name
        self.shape = shape
    }
    public var count: Int { shape.reduce(1, *) }
    /// AdamW decays matrices only (rank ≥ 2), not norm gains or learned vectors.
    public var decays: Bool { shape.count >= 2 }
}

public final class ParameterSet {
    public struct Entry: Sendable {
        public let spec: ParameterSpec
        /// Offset of the first float in `values` / `grads`.
        public let offset: Int
        public var name: String { spec.name }
        public var shape: [Int] { spec.shape }
        public var count: Int { spec.count }
    }

    public let entries: [Entry]
    private let index: [String: Int]
    /// Total number of floats.
    public let count: Int
    public let values: UnsafeMutablePointer<Float>   // [count]
    public let grads: UnsafeMutablePointer<Float>    // [count], same layout as values
    /// The matrices in bfloat16, same layout as values (vectors left zero); nil unless
    /// `storeMatricesInBF16()` was called (a model loaded with `--weights bf16`).
    public private(set) var bf16Values: UnsafeMutablePointer<UInt16>?

    /// Lays the specs out in order, zero-filled. Names must be unique.
    public init(_ specs: [ParameterSpec]) {
        var entries: [Entry] = []
        var index: [String: Int] = [:]
        var offset = 0
        let alignFloats = Arena.alignmentBytes / MemoryLayout<Float>.stride
        for spec in specs {
            precondition(index[spec.name] == nil, "duplicate parameter name \(spec.name)")
            precondition(spec.shape.allSatisfy { $0 > 0 }, "parameter \(spec.name) has empty shape \(spec.shape)")
            index[spec.name] = entries.count
            entries.append(Entry(spec: spec, offset: offset))
            offset += (spec.count + alignFloats - 1) / alignFloats * alignFloats
        }
        self.entries = entries
        self.index = index
        self.count = offset
        values = ParameterSet.allocateZeroed(offset)
        grads = ParameterSet.allocateZeroed(offset)
    }

    /// Floats of `values` (and of `grads`) for these specs, padded as `init` lays them out;
    /// checked arithmetic, nil on overflow. What a caller checks before it allocates.
    public static func floats(_ specs: [ParameterSpec]) -> Int? {
        let alignFloats = Arena.alignmentBytes / MemoryLayout<Float>.stride
        return checkedSum(specs.map { spec in
            checkedProduct(spec.shape).flatMap { checkedAdd($0, alignFloats - 1) }.map { $0 / alignFloats * alignFloats }
        })
    }

    deinit {
        values.deallocate()
        grads.deallocate()
        bf16Values?.deallocate()
    }

    /// Rounds every matrix (rank ≥ 2) to bfloat16 and keeps those bits in `bf16Values`; the float32
    /// values are replaced by the same rounded numbers, so a product over either gives the same
    /// terms. Call once, right after loading and before any layer is made over these parameters
    /// (layers take their bf16 view when they are made); norm gains and vectors stay float32.
    public func storeMatricesInBF16() {
        precondition(bf16Values == nil, "the matrices are already in bfloat16")
        let bits = UnsafeMutablePointer<UInt16>.allocate(capacity: max(count, 1))
        bits.initialize(repeating: 0, count: max(count, 1))
        for entry in entries where entry.spec.decays {
            hat_bf16_from_f32(values + entry.offset, bits + entry.offset, entry.count)
            for i in 0..<entry.count { values[entry.offset + i] = Float(bitPattern: UInt32(bits[entry.offset + i]) << 16) }
        }
        bf16Values = bits
    }

    /// The named matrix in bfloat16, when `storeMatricesInBF16()` was called.
    public func bf16Matrix(_ name: String) -> BF16Matrix? {
        guard let bits = bf16Values else { return nil }
        let e = entry(name)
        guard e.spec.decays else { return nil }
        let cols = e.shape.last!
        return BF16Matrix(data: bits + e.offset, rows: e.count / cols, cols: cols)
    }

    private static func allocateZeroed(_ count: Int) -> UnsafeMutablePointer<Float> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride,
                                                   alignment: Arena.alignmentBytes)
        let pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
        return pointer
    }

    public func contains(_ name: String) -> Bool { index[name] != nil }

    public func entry(_ name: String) -> Entry {
        guard let i = index[name] else { preconditionFailure("no parameter named \(name)") }
        return entries[i]
    }

    /// The entry's values as a 2-D view: [out, in] for matrices, [1, n] for vectors.
    public func value(_ name: String) -> Tensor { view(entry(name), values) }
    /// The entry's gradient, same view as `value`.
    public func grad(_ name: String) -> Tensor { view(entry(name), grads) }

    private func view(_ entry: Entry, _ base: UnsafeMutablePointer<Float>) -> Tensor {
        let cols = entry.shape.last!
        return Tensor(data: base + entry.offset, rows: entry.count / cols, cols: cols)
    }

    /// Number of scalar parameters (without alignment padding).
    public var scalarCount: Int { entries.reduce(0) { $0 + $1.count } }

    public func zeroGrads() { grads.update(repeating: 0, count: count) }
}
