// Options shared by several commands: --threads, which every computing command takes, and the
// one check every numeric flag goes through (`checkFlag`: the flag's name, its range and the
// value found; NaN and infinities are outside every range). Sizes are bounded by `Limits`.
// Numeric flags parse `.unconditional`ly, so `--max-bytes -1` is read as -1 and refused by name.

import ArgumentParser
import HATLayers
import HATTensor

/// --threads: the threads a command computes on. Results do not depend on it, only speed.
public struct ThreadOptions: ParsableArguments {
    public init() {}

    @Option(parsing: .unconditional, help: "Threads to compute on (1 to \(ComputeContext.maxThreads); results do not depend on it).")
    public var threads = 2

    public func validate() throws {
        try checkFlag("threads", threads, 1...ComputeContext.maxThreads)
    }

    /// A context with `threads` threads (its worker threads start on first use and end with it).
    public func makeContext() -> ComputeContext { ComputeContext(threads: threads) }
}

/// Throws a ValidationError naming `--flag`, its range and the value unless `range` holds it.
public func checkFlag<T: Comparable>(_ flag: String, _ value: T, _ range: ClosedRange<T>, _ note: String = "") throws {
    guard range.contains(value) else {
        throw ValidationError("--\(flag) must be in \(range.lowerBound)…\(range.upperBound)\(note.isEmpty ? "" : " " + note), found \(value)")
    }
}

/// As `checkFlag` for a product of two flags (e.g. rows × bytes per row), computed without overflow.
public func checkFlagProduct(_ flags: String, _ a: Int, _ b: Int, atMost limit: Int, _ what: String) throws {
    guard let product = checkedMul(a, b), product <= limit else {
        throw ValidationError("\(flags) = \(a) × \(b) exceeds the limit of \(limit) \(what)")
    }
}

/// --weights f32|bf16|q8_0|q4_1|q4_k (WeightFormat): how a HAT model's matrices are held for inference.
extension WeightFormat: ExpressibleByArgument {
    /// The help of every command's --weights.
    public static let help: ArgumentHelp = """
        How the model's matrices are held: f32; bf16 (2 bytes a weight); q8_0, q4_1 or q4_k (ggml blocks, \
        1.06, 0.63 or 0.56 bytes a weight; q4_k holds a matrix whose rows are not a multiple of 256 in q4_1). \
        Decoding reads the packed weights; everything else uses the same numbers. Default: as stored (a HAT \
        model in bf16 when its file stores every matrix so, as both shipped models do; a GGUF token model in its \
        own Q8_0/Q4_1/Q4_K blocks).
        """
}

/// --kv-cache f32|bf16|f16 (KVCacheFormat): how decoding's key/value caches hold their numbers.
extension KVCacheFormat: ExpressibleByArgument {
    /// What `generate`, `repl` and `serve` use unless told: f16 kept greedy output identical on the
    /// documented check (bf16 did not) and decodes faster than f32 (Reports/performance.md,
    /// "Key/value caches"; scripts/check_greedy_formats.sh).
    public static let commandLineDefault: KVCacheFormat = .f16

    /// The help of every command's --kv-cache.
    public static let help: ArgumentHelp = """
        How the key/value caches of decoding hold keys and values: f32; bf16 or f16 (IEEE half, saturating at \
        ±65504), 2 bytes a number, rounded once when written and read in place (half the cache memory and \
        traffic). Default: f16.
        """
}
