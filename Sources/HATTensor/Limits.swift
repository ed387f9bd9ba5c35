// Limits: the one place that holds the sane bounds on every size hat reads from a file or a flag,
// the checked arithmetic that combines sizes, and the memory a computation may plan to use.
// Release builds of the numeric targets use -Ounchecked: an overflowing product wraps silently
// and preconditions are not checked, so each size is compared with these bounds and every
// product of sizes computed with `checkedProduct`/`checkedSum` *before* anything is allocated
// or indexed. Errors name the field or flag and the limit.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum Limits {
    // MARK: Model shapes (config.json, converted backbones, Llama sources)
    // Room for the largest published Llama-family shapes and more: Llama 3.1 405B has hidden
    // 16384, FFN 53248, 126 layers, 128 heads of 128, vocabulary 128256, context 131072.

    /// Width of a stack (hidden_size) and of an attention (heads × head size).
    public static let hiddenSize = 1 << 16
    /// FFN width (intermediate_size).
    public static let intermediateSize = 1 << 18
    /// Blocks per stack (num_hidden_layers).
    public static let layers = 1024
    /// Query or key/value heads of one attention.
    public static let heads = 1024
    /// Head size (head_dim).
    public static let headDim = 1024
    /// Token vocabulary of a Llama source (kept only in token_head.safetensors).
    public static let vocabulary = 1 << 21
    /// Positions: sliding windows, context lengths, context words of generation.
    public static let positions = 1 << 21
    /// Longest word in bytes (max_word_size); byte models use a few hundred at most.
    public static let wordBytes = 65_535
    /// rope_theta (Llama 3 uses 500000; the largest published bases are about 1e8).
    public static let ropeTheta: Double = 1e12
    /// Parameters of one model: about 1.1 × 10¹², beyond any model a CPU could hold. A model
    /// within this bound must still fit the machine's memory (`requireMemory`).
    public static let parameters = 1 << 40

    // MARK: Work sizes (command-line flags and saved run options)

    /// Bytes of one row (--max-row-bytes) and words of one row (--words-per-row).
    public static let rowBytes = 1 << 20
    public static let rowWords = 1 << 16
    /// Rows of one batch (--rows-per-batch).
    public static let rowsPerBatch = 1 << 12
    /// Bytes and words of one batch (rows × row size): positions are stored as Int32.
    public static let batchBytes = 1 << 24
    public static let batchWords = 1 << 22
    /// Optimizer steps, warm-up steps, intervals (--steps, --warmup-steps, …).
    public static let steps = 1 << 32
    /// Micro-batches per step (--accumulation) and checkpoints kept.
    public static let accumulation = 1 << 16
    public static let keptCheckpoints = 1 << 16
    /// Bytes one generation may produce (--max-bytes; positions are stored as Int32) and the
    /// longest stop sequence (checked against the output's end after every byte).
    public static let generatedBytes = 1 << 30
    public static let stopBytes = 4096
    /// Bytes of a text input read whole (a prompt file, a corpus file, a document).
    public static let textBytes = Int(Int32.max)
    /// Robustness: samples, words per sample, bootstrap resamples, bytes per forward pass.
    public static let samples = 1 << 20
    public static let sampleWords = 1 << 16
    public static let bootstrapResamples = 1 << 20
    /// Repetitions, rounds and warm-up steps of the benchmarks.
    public static let repeats = 1 << 16
    /// Matrix sizes of `hat bench blas` (M, N, K).
    public static let matrixSide = 1 << 16
    /// Threads of one computation (--threads).
    public static let threads = 256

    // MARK: Memory

    /// Bytes of memory this machine has (physical pages × page size); what a computation may
    /// plan to use at most. Nil where the system does not say.
    public static var physicalMemory: Int? {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return nil }
        return checkedProduct([pages, size])
    }

    /// Throws unless `bytes` (nil: too large to count) fits in `physicalMemory`. `what` names
    /// the thing that needs it, e.g. "the parameters of model M (values and gradients, f32)".
    public static func requireMemory(_ bytes: Int?, for what: @autoclosure () -> String) throws {
        let available = physicalMemory ?? Int.max
        guard let bytes, bytes <= available else {
            throw LimitError("\(what()) need \(bytes.map(formatBytes) ?? "more than 2⁶³ bytes") of memory, "
                             + "more than this machine's \(formatBytes(available))")
        }
    }

    /// "12.3 GB", "456 MB", "789 kB", "12 bytes".
    public static func formatBytes(_ bytes: Int) -> String {
        let b = Double(bytes)
        if b >= 1e12 { return String(format1: b / 1e12) + " TB" }
        if b >= 1e9 { return String(format1: b / 1e9) + " GB" }
        if b >= 1e6 { return String(format1: b / 1e6) + " MB" }
        if b >= 1e3 { return String(format1: b / 1e3) + " kB" }
        return "\(bytes) bytes"
    }
}

/// A size or memory need beyond `Limits`.
public struct LimitError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

// MARK: - Checked arithmetic (the one helper for products of sizes)

/// a × b, or nil when it overflows Int.
@inline(__always)
public func checkedMul(_ a: Int, _ b: Int) -> Int? {
    let (r, o) = a.multipliedReportingOverflow(by: b)
    return o ? nil : r
}

/// a + b, or nil when it overflows Int.
@inline(__always)
public func checkedAdd(_ a: Int, _ b: Int) -> Int? {
    let (r, o) = a.addingReportingOverflow(b)
    return o ? nil : r
}

/// Product of non-negative factors, or nil on overflow, a negative factor or a nil factor.
public func checkedProduct(_ factors: [Int?]) -> Int? {
    var n = 1
    for f in factors {
        guard let f, f >= 0, let m = checkedMul(n, f) else { return nil }
        n = m
    }
    return n
}

/// Product of non-negative dims (a tensor's element count), or nil.
public func checkedProduct(_ dims: [Int]) -> Int? {
    checkedProduct(dims.map(Optional.some))
}

/// Sum of non-negative terms, or nil on overflow, a negative term or a nil term.
public func checkedSum(_ terms: [Int?]) -> Int? {
    var n = 0
    for t in terms {
        guard let t, t >= 0, let s = checkedAdd(n, t) else { return nil }
        n = s
    }
    return n
}

extension String {
    /// One decimal.
    fileprivate init(format1 value: Double) {
        let tenths = (value * 10).rounded()
        self = "\(Int(tenths) / 10).\(Int(tenths) % 10)"
    }
}
