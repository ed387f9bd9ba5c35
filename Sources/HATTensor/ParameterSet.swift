// ParameterSet: every trainable tensor of a model in one contiguous Float buffer, with a
// gradient buffer of exactly the same layout (llm.c style). Optimizer moments, clipping,
// checkpoint writing and gradient checks are then flat loops over `count` floats. Both buffers
// are anonymous maps (Arena.mapZeroedFloats): the gradients of a model that only runs inference
// are never touched, so they never become resident, and a matrix packed for inference
// (`packMatrices`) gives its float32 pages back.
// Entries are named by their checkpoint keys (ARCHITECTURE.md §3) and keep their logical shape.

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

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
    /// The packed matrices by entry name, views into `packedMemory`.
    private var packedMatrices: [String: PackedMatrix] = [:]
    private var packedMemory: UnsafeMutableRawPointer?

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
        values = Arena.mapZeroedFloats(max(offset, 1), for: "parameters")
        grads = Arena.mapZeroedFloats(max(offset, 1), for: "parameter gradients")
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
        Arena.unmapFloats(values, count: max(count, 1))
        Arena.unmapFloats(grads, count: max(count, 1))
        packedMemory?.deallocate()
    }

    /// Packs every matrix (rank ≥ 2) in `format` (a Q4_K matrix whose rows do not split into
    /// super-blocks in Q4_1, see WeightFormat.format(forRowsOf:)) and releases its float32
    /// values: a packed matrix is read only packed (`packedMatrix`; `value` refuses it), which is
    /// for inference. Call once, right after loading and before any layer is made over these
    /// parameters (layers take their packed view when they are made); norm gains and vectors
    /// stay float32.
    public func packMatrices(_ format: WeightFormat) {
        packMatrices(formatOf: { format.format(forRowsOf: $0.shape.last!) })
    }

    /// Packs each matrix in the format `formatOf` gives it (f32: left as it is; a block format
    /// must split its rows). `storedBytes`, when given, may fill a matrix's packed bytes from the
    /// source instead (returning true) — e.g. a GGUF's own blocks; otherwise they are made from
    /// the float32 values. Either way the matrix's float32 values are then released.
    public func packMatrices(formatOf: (Entry) -> WeightFormat,
                             storedBytes: ((Entry, UnsafeMutableRawPointer, Int) throws -> Bool)? = nil) rethrows {
        try fill({ _ in }, packing: formatOf, storedBytes: storedBytes)
    }

    /// Fills the entries in order with `fill` (which writes an entry's float32 values, e.g. from a
    /// file) and packs each matrix as `packMatrices(formatOf:storedBytes:)` does right after it is
    /// filled, releasing its float32 values before the next is filled: a loader that fills this
    /// way holds the packed bytes and at most one matrix in float32, not every matrix at once.
    public func fill(_ fill: (Entry) throws -> Void, packing formatOf: (Entry) -> WeightFormat,
                     storedBytes: ((Entry, UnsafeMutableRawPointer, Int) throws -> Bool)? = nil) rethrows {
        precondition(packedMemory == nil, "the matrices are already packed")
        let formats = entries.map { $0.spec.decays ? formatOf($0) : .f32 }
        let alignment = Arena.alignmentBytes
        let sizes = zip(entries, formats).map { entry, held in
            held == .f32 ? 0 : held.bytes(rows: entry.count / entry.shape.last!, cols: entry.shape.last!)
        }
        let total = sizes.reduce(0) { $0 + ($1 + alignment - 1) / alignment * alignment }
        let memory = total == 0 ? nil : UnsafeMutableRawPointer.allocate(byteCount: total, alignment: alignment)
        packedMemory = memory
        var offset = 0
        for ((entry, held), size) in zip(zip(entries, formats), sizes) {
            try fill(entry)
            guard held != .f32, let memory else { continue }
            let cols = entry.shape.last!, rows = entry.count / cols
            precondition(held.format(forRowsOf: cols) == held, "\(entry.name): rows of \(cols) do not split into \(held.rawValue) blocks")
            let data = memory + offset
            let stored = try storedBytes?(entry, data, size) ?? false
            packedMatrices[entry.name] = stored
                ? PackedMatrix(format: held, data: data, rows: rows, cols: cols)
                : PackedMatrix.pack(values + entry.offset, rows: rows, cols: cols, format: held, into: data)
            releaseValues(entry)
            offset += (size + alignment - 1) / alignment * alignment
        }
    }

    /// Gives the pages that lie wholly inside the entry's float32 values back to the system and
    /// makes them unreadable, so a stray read of a released matrix fails at once instead of
    /// reading zeros (the pages it shares with its neighbours stay).
    private func releaseValues(_ entry: Entry) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = Int(bitPattern: values + entry.offset), end = Int(bitPattern: values + entry.offset + entry.count)
        let first = (start + page - 1) / page * page, last = end / page * page
        guard last > first, let pages = UnsafeMutableRawPointer(bitPattern: first) else { return }
        madvise(pages, last - first, MADV_DONTNEED)
        mprotect(pages, last - first, PROT_NONE)
    }

    /// The formats the matrices are packed in (empty while they are float32 only).
    public var packedFormats: Set<WeightFormat> { Set(packedMatrices.values.map(\.format)) }

    /// The named matrix as packed by `packMatrices`; nil for vectors, for a matrix left in
    /// float32, and before packing.
    public func packedMatrix(_ name: String) -> PackedMatrix? { packedMatrices[name] }

    /// Bytes the packed matrices take (their float32 values are released).
    public var packedBytes: Int {
        packedMatrices.values.reduce(0) { $0 + $1.format.bytes(rows: $1.rows, cols: $1.cols) }
    }

    /// Bytes of float32 values held: every entry not packed (packed ones are released).
    public var float32Bytes: Int {
        entries.filter { packedMatrices[$0.name] == nil }.reduce(0) { $0 + $1.count } * MemoryLayout<Float>.stride
    }

    public func contains(_ name: String) -> Bool { index[name] != nil }

    public func entry(_ name: String) -> Entry {
        guard let i = index[name] else { preconditionFailure("no parameter named \(name)") }
        return entries[i]
    }

    /// The entry's values as a 2-D view: [out, in] for matrices, [1, n] for vectors. Not for a
    /// packed matrix (its float32 values are released: read `packedMatrix`).
    public func value(_ name: String) -> Tensor {
        precondition(packedMatrices[name] == nil,
                     "\(name) is held packed (\(packedMatrices[name]!.format.rawValue)) for inference: read it through packedMatrix")
        return view(entry(name), values)
    }
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
