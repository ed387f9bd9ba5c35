// hat bench decode-kernels: the kernels a decoding step spends its time in, alone — products of a
// few rows over float32 and packed weights (ComputeContext.fewRowProduct / packedProduct, each
// packed kernel this CPU runs; float32 also through OpenBLAS's sgemm), and one query's attention
// over float32 and 16-bit key/value caches (AttentionCore.forward, as a cached backbone step runs
// it). Each set of weights or caches is copied until it takes --megabytes, so every pass reads it
// from memory, not from a cache, as decoding a large model does. Every figure is the median pass;
// each result is also compared with sgemm (attention: the blocked float32 loop, gemm over each
// key chunk, which a training core runs and is timed beside) over the numbers it holds, so a fast
// wrong kernel shows.
//
// Shapes: products x [R, I] · W [O, I]ᵀ → y [R, O]; attention L layers × N positions of keys
// and values [N, G·D] against one query [1, H·D].

import ArgumentParser
import Dispatch
import Foundation
import HATCommandLine
import HATLayers
import HATTensor

struct BenchDecodeKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode-kernels",
        abstract: "One-row products over packed weights and one query's attention over float32 and 16-bit caches, alone.",
        discussion: """
            Defaults are SmolLM2-135M's backbone: its two MLP matrix shapes and 30 layers of 3 key/value heads × 64 \
            against 9 query heads. Products: every --formats entry with every packed kernel this CPU runs (avx2; avx512 \
            where the CPU has AVX-512); f32 with the AVX2 kernel decoding runs and through OpenBLAS's sgemm. Build in \
            release: swift build -c release.
            """)

    @OptionGroup var threadOptions: ThreadOptions
    @Option(help: "Weight shapes OxI (outputs × width), comma-separated (default 1536x576,576x1536).")
    var shapes = "1536x576,576x1536"
    @Option(help: "Formats of the products, from f32, bf16, q8_0, q4_1, q4_k (default all).")
    var formats = "f32,bf16,q8_0,q4_1,q4_k"
    @Option(help: "Rows R of x per product, each 1…\(PackedMatrix.maxRows) (the packed kernels' range; default 1,4).")
    var rows = "1,4"
    @Option(parsing: .unconditional, help: "Least bytes each set of weights or caches takes, in MB: copies are added until it does (default 128).")
    var megabytes = 128
    @Option(parsing: .unconditional, help: "Attention: positions N in each layer's cache (default 2000; 0 skips attention).")
    var positions = 2000
    @Option(parsing: .unconditional, help: "Attention: layers L read per step (default 30).") var layers = 30
    @Option(parsing: .unconditional, help: "Attention: query heads H (default 9).") var heads = 9
    @Option(parsing: .unconditional, help: "Attention: key/value heads G, dividing H (default 3).") var kvHeads = 3
    @Option(parsing: .unconditional, help: "Attention: head size D (default 64).") var headDim = 64
    @Option(parsing: .unconditional, help: "Timed passes per figure; the median is reported (default 20).") var repeats = 20
    @Flag(help: "Print one JSON object instead of text.") var json = false

    var weightShapes: [(outputs: Int, width: Int)] {
        shapes.split(separator: ",").compactMap { entry in
            let sides = entry.split(separator: "x", omittingEmptySubsequences: false).compactMap { Int($0) }
            return sides.count == 2 ? (sides[0], sides[1]) : nil
        }
    }
    var weightFormats: [WeightFormat] { formats.split(separator: ",").compactMap { WeightFormat(rawValue: String($0)) } }
    var rowCounts: [Int] { rows.split(separator: ",").compactMap { Int($0) } }

    func validate() throws {
        let shapeList = weightShapes
        guard !shapeList.isEmpty, shapeList.count == shapes.split(separator: ",").count,
              shapeList.allSatisfy({ (1...Limits.matrixSide).contains($0.outputs) && (1...Limits.matrixSide).contains($0.width) })
        else {
            throw ValidationError("--shapes: expected OxI pairs in 1…\(Limits.matrixSide) like 1536x576,576x1536, found \(shapes)")
        }
        guard !weightFormats.isEmpty, weightFormats.count == formats.split(separator: ",").count else {
            throw ValidationError("--formats: expected names from f32, bf16, q8_0, q4_1, q4_k, comma-separated, found \(formats)")
        }
        guard !rowCounts.isEmpty, rowCounts.count == rows.split(separator: ",").count,
              rowCounts.allSatisfy({ (1...PackedMatrix.maxRows).contains($0) }) else {
            throw ValidationError("--rows: expected row counts in 1…\(PackedMatrix.maxRows) like 1,4, found \(rows)")
        }
        try checkFlag("megabytes", megabytes, 1...65_536)
        try checkFlag("positions", positions, 0...Limits.positions, "(0 = skip attention)")
        try checkFlag("layers", layers, 1...Limits.layers)
        try checkFlag("heads", heads, 1...Limits.heads)
        try checkFlag("kv-heads", kvHeads, 1...heads)
        guard heads % kvHeads == 0 else { throw ValidationError("--kv-heads \(kvHeads) must divide --heads \(heads)") }
        try checkFlag("head-dim", headDim, 1...Limits.headDim)
        try checkFlag("repeats", repeats, 1...Limits.repeats)
    }

    func run() throws {
        let report = try measure()
        try printFigures(report, json: json) { report.text }
    }

    /// Every figure, in one run.
    func measure() throws -> DecodeKernelReport {
        // One set at a time (at least one matrix), beside the matrix's float32 values and their widened copy.
        for shape in weightShapes {
            let matrixBytes = 4 * shape.outputs * shape.width   // sides ≤ 2¹⁶: no overflow
            try Limits.requireMemory(max(megabytes << 20, matrixBytes) + 2 * matrixBytes,
                                     for: "products with [\(shape.outputs), \(shape.width)] matrices")
        }
        // Keys and values in float32 and in one 16-bit format at a time: 12 bytes per number; the
        // blocked loop's core holds two [N, (H − G)·D] float32 gradient buffers besides.
        try Limits.requireMemory(checkedSum([checkedProduct([12, layers, positions, kvHeads * headDim]),
                                             checkedProduct([8, positions, heads * headDim])]),
                                 for: "\(layers) layers of \(positions) cached positions")
        var report = DecodeKernelReport(machine: Machine.current(threads: threadOptions.threads),
                                        packedKernels: PackedKernel.allCases.filter(\.runsHere).map(\.rawValue),
                                        megabytes: megabytes, repeats: repeats)
        for shape in weightShapes {
            report.products += benchProducts(outputs: shape.outputs, width: shape.width)
        }
        if positions > 0 { report.attention = benchAttention() }
        report.machine.loadAverageEnd = Machine.loadAverage()
        return report
    }

    // MARK: products

    /// Every format and kernel on copies of one random [outputs, width] matrix.
    func benchProducts(outputs: Int, width: Int) -> [ProductFigure] {
        let matrixFloats = outputs * width
        let values = UnsafeMutablePointer<Float>.allocate(capacity: matrixFloats)
        defer { values.deallocate() }
        var rng = RandomGenerator(seed: 1)
        rng.fillNormal(Tensor(data: values, rows: outputs, cols: width), std: 0.02)
        let maxRows = rowCounts.max()!
        let x = UnsafeMutablePointer<Float>.allocate(capacity: maxRows * width)
        let y = UnsafeMutablePointer<Float>.allocate(capacity: maxRows * outputs)
        let reference = UnsafeMutablePointer<Float>.allocate(capacity: maxRows * outputs)
        let widened = UnsafeMutablePointer<Float>.allocate(capacity: matrixFloats)
        defer { for p in [x, y, reference, widened] { p.deallocate() } }
        rng.fillUniform(Tensor(data: x, rows: maxRows, cols: width), bound: 1)
        var figures: [ProductFigure] = []
        var float32Seconds: [Int: Double] = [:]
        for requested in weightFormats {
            let format = requested.format(forRowsOf: width)
            let matrixBytes = format.bytes(rows: outputs, cols: width)
            let copies = max(1, ((megabytes << 20) + matrixBytes - 1) / matrixBytes)
            let stride = (matrixBytes + Arena.alignmentBytes - 1) / Arena.alignmentBytes * Arena.alignmentBytes
            let memory = UnsafeMutableRawPointer.allocate(byteCount: copies * stride, alignment: Arena.alignmentBytes)
            defer { memory.deallocate() }
            // The first copy holds the matrix as `format` holds it; the others repeat its bytes.
            let first: PackedMatrix?
            if format == .f32 {
                memory.copyMemory(from: values, byteCount: matrixBytes)
                first = nil
            } else {
                first = PackedMatrix.pack(values, rows: outputs, cols: width, format: format, into: memory)
            }
            for c in 1..<copies { (memory + c * stride).copyMemory(from: memory, byteCount: matrixBytes) }
            // The numbers every copy means, in float32: the reference's weights.
            if let first { first.widenRows(0..<outputs, into: widened) } else { widened.update(from: values, count: matrixFloats) }
            // float32: the AVX2 kernel decoding runs (Linear's few-row product), then OpenBLAS's sgemm.
            let kernels: [String] = format == .f32 ? ["avx2", "blas"] : PackedKernel.allCases.filter(\.runsHere).map(\.rawValue)
            for kernel in kernels {
                let context = ComputeContext(threads: threadOptions.threads, packedKernel: PackedKernel(rawValue: kernel) ?? .best)
                for r in rowCounts {
                    let xs = Tensor(data: x, rows: r, cols: width), ys = Tensor(data: y, rows: r, cols: outputs)
                    func product(_ c: Int) {
                        let at = memory + c * stride
                        if format == .f32 {
                            let weights = Tensor(data: at.assumingMemoryBound(to: Float.self), rows: outputs, cols: width)
                            if kernel == "blas" {
                                context.gemm(xs, weights, transposeB: true, into: ys)
                            } else {
                                context.fewRowProduct(xs, weights, into: ys, accumulate: false)
                            }
                        } else {
                            context.packedProduct(xs, PackedMatrix(format: format, data: at, rows: outputs, cols: width),
                                                  into: ys, accumulate: false)
                        }
                    }
                    let seconds = medianSeconds(repeats: repeats) { for c in 0..<copies { product(c) } } / Double(copies)
                    // The last copy's result against sgemm over the same numbers (sgemm is its own reference).
                    var largest: Float? = nil
                    if kernel != "blas" {
                        context.gemm(xs, Tensor(data: widened, rows: outputs, cols: width), transposeB: true,
                                     into: Tensor(data: reference, rows: r, cols: outputs))
                        largest = (0..<(r * outputs)).reduce(Float(0)) { max($0, abs(y[$1] - reference[$1])) }
                    }
                    if format == .f32 && float32Seconds[r] == nil { float32Seconds[r] = seconds }
                    figures.append(ProductFigure(
                        shape: [outputs, width], format: requested.rawValue, heldAs: format.rawValue,
                        kernel: kernel, rows: r, copies: copies, matrixBytes: matrixBytes,
                        microseconds: seconds * 1e6, gigabytesPerSecond: Double(matrixBytes) / seconds / 1e9,
                        gigaMultiplyAddsPerSecond: Double(r * matrixFloats) / seconds / 1e9,
                        float32Ratio: float32Seconds[r].map { $0 / seconds }, largestDifference: largest.map(Double.init)))
                }
            }
        }
        return figures
    }

    // MARK: attention

    /// One query's attention over `layers` caches of `positions` rows, as a cached backbone step runs
    /// it, with float32, f16 and bf16 keys and values (copies of one random layer).
    func benchAttention() -> AttentionFigure {
        let kvWidth = kvHeads * headDim, width = heads * headDim
        let layerFloats = positions * kvWidth
        let arena = Arena(name: "bench-attention")
        let context = threadOptions.makeContext()
        let core = AttentionCore(heads: heads, kvHeads: kvHeads, headDim: headDim, maxQueries: 1, maxKeys: positions,
                                 arena: arena, context: context, needsBackward: false)
        // A core built for training runs one query through the blocked loop (gemm over each key
        // chunk): the reference every cache is compared with, timed beside the decoding step.
        let blockedCore = AttentionCore(heads: heads, kvHeads: kvHeads, headDim: headDim, maxQueries: 1, maxKeys: positions,
                                        arena: arena, context: context)
        let ranges = KeyRanges(capacity: 1, arena: arena)
        ranges.lo[0] = 0
        ranges.hi[0] = Int32(positions)
        var rng = RandomGenerator(seed: 2)
        let q = arena.tensor(rows: 1, cols: width), out = arena.tensor(rows: 1, cols: width)
        let reference = arena.tensor(rows: 1, cols: width)
        rng.fillNormal(q, std: 1)
        // Keys and values of every layer, float32: copies of one random layer.
        let keys = arena.tensor(rows: layers * positions, cols: kvWidth)
        let values = arena.tensor(rows: layers * positions, cols: kvWidth)
        rng.fillNormal(keys.rows(0..<positions), std: 1)
        rng.fillNormal(values.rows(0..<positions), std: 1)
        for l in 1..<layers {
            keys.row(l * positions).update(from: keys.data, count: layerFloats)
            values.row(l * positions).update(from: values.data, count: layerFloats)
        }
        func layer(_ t: Tensor, _ l: Int) -> Tensor { t.rows(l * positions..<(l + 1) * positions) }
        func largestDifference() -> Double {
            var largest: Float = 0
            for c in 0..<width { largest = max(largest, abs(out[0, c] - reference[0, c])) }
            return Double(largest)
        }
        let floatSeconds = medianSeconds(repeats: repeats) {
            for l in 0..<layers { core.forward(out: out, q: q, k: layer(keys, l), v: layer(values, l), ranges: ranges) }
        }
        let blockedSeconds = medianSeconds(repeats: repeats) {
            for l in 0..<layers { blockedCore.forward(out: reference, q: q, k: layer(keys, l), v: layer(values, l), ranges: ranges) }
        }
        var figure = AttentionFigure(layers: layers, positions: positions, heads: heads, kvHeads: kvHeads, headDim: headDim,
                                     caches: [CacheFigure(cache: "f32", microseconds: floatSeconds * 1e6,
                                                          gigabytesPerSecond: Double(8 * layers * layerFloats) / floatSeconds / 1e9,
                                                          float32Ratio: 1, largestDifference: largestDifference()),
                                              CacheFigure(cache: "f32 (blocked loop, gemm)", microseconds: blockedSeconds * 1e6,
                                                          gigabytesPerSecond: Double(8 * layers * layerFloats) / blockedSeconds / 1e9,
                                                          float32Ratio: floatSeconds / blockedSeconds, largestDifference: nil)])
        let widenedKeys = arena.tensor(rows: positions, cols: kvWidth), widenedValues = arena.tensor(rows: positions, cols: kvWidth)
        for format in HalfFormat.allCases {
            let bits = UnsafeMutablePointer<UInt16>.allocate(capacity: 2 * layers * layerFloats)
            defer { bits.deallocate() }
            func half(_ which: Int, _ l: Int) -> HalfMatrix {
                HalfMatrix(data: bits + (which * layers + l) * layerFloats, rows: positions, cols: kvWidth, format: format)
            }
            half(0, 0).store(layer(keys, 0))
            half(1, 0).store(layer(values, 0))
            for l in 1..<layers {
                half(0, l).data.update(from: half(0, 0).data, count: layerFloats)
                half(1, l).data.update(from: half(1, 0).data, count: layerFloats)
            }
            let seconds = medianSeconds(repeats: repeats) {
                for l in 0..<layers {
                    core.forward(out: out, q: q, k: .half(half(0, l)), v: .half(half(1, l)), ranges: ranges)
                }
            }
            // The last layer's output against the blocked float32 loop over the same (widened) numbers.
            half(0, 0).widen(into: widenedKeys)
            half(1, 0).widen(into: widenedValues)
            blockedCore.forward(out: reference, q: q, k: widenedKeys, v: widenedValues, ranges: ranges)
            figure.caches.append(CacheFigure(cache: format.rawValue, microseconds: seconds * 1e6,
                                             gigabytesPerSecond: Double(4 * layers * layerFloats) / seconds / 1e9,
                                             float32Ratio: floatSeconds / seconds, largestDifference: largestDifference()))
        }
        return figure
    }

}

// MARK: - Report

struct ProductFigure: Encodable {
    /// [outputs, width] of W.
    var shape: [Int]
    /// The format asked for, and the one the matrix is held in (Q4_K falls back to Q4_1 when the
    /// rows do not split into super-blocks).
    var format: String
    var heldAs: String
    /// "avx2" or "avx512" (our kernels), or "blas" (float32 through OpenBLAS's sgemm).
    var kernel: String
    var rows: Int
    var copies: Int
    var matrixBytes: Int
    /// Per matrix: median pass time over all copies divided by the copies.
    var microseconds: Double
    var gigabytesPerSecond: Double
    var gigaMultiplyAddsPerSecond: Double
    /// The float32 path's time (the first f32 entry: what decoding a float32 model runs) over this
    /// one's at the same shape and rows (nil without an f32 entry before it).
    var float32Ratio: Double?
    /// Largest |y − y_sgemm| with y_sgemm computed by sgemm from the numbers the format holds
    /// (nil for sgemm itself).
    var largestDifference: Double?
}

struct CacheFigure: Encodable {
    var cache: String
    /// One step: every layer's attention for one query.
    var microseconds: Double
    /// Keys and values read per second.
    var gigabytesPerSecond: Double
    var float32Ratio: Double
    /// Largest |out − out_blocked| with out_blocked the float32 attention through the blocked loop
    /// (gemm, as a training core runs it) over the numbers the cache holds (nil for that loop itself).
    var largestDifference: Double?
}

struct AttentionFigure: Encodable {
    var layers: Int, positions: Int, heads: Int, kvHeads: Int, headDim: Int
    var caches: [CacheFigure]
}

struct DecodeKernelReport: Encodable {
    var machine: Machine
    var packedKernels: [String]
    var megabytes: Int
    var repeats: Int
    var products: [ProductFigure] = []
    var attention: AttentionFigure?

    init(machine: Machine, packedKernels: [String], megabytes: Int, repeats: Int) {
        self.machine = machine
        self.packedKernels = packedKernels
        self.megabytes = megabytes
        self.repeats = repeats
    }

    var text: String {
        func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
        func difference(_ x: Double?) -> String { x.map { String(format: "%.2g", $0) } ?? "–" }
        var lines = [machine.header + "packed kernels this CPU runs: \(packedKernels.joined(separator: ", "))",
                     "each set of weights or caches copied to at least \(megabytes) MB (read from memory); median of \(repeats) passes", ""]
        if !products.isEmpty {
            lines += ["Products x [R, I] · W [O, I]ᵀ (per matrix)", "",
                      "| W [O, I] | format | kernel | R | bytes | µs | GB/s read | G multiply-adds/s | × float32 path | max abs diff vs sgemm on the same numbers |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            for p in products {
                let format = p.format == p.heldAs ? p.format : "\(p.format) (held as \(p.heldAs))"
                lines.append("| [\(p.shape[0]), \(p.shape[1])] | \(format) | \(p.kernel) | \(p.rows) | \(p.matrixBytes) | "
                             + "\(fixed(p.microseconds, 1)) | \(fixed(p.gigabytesPerSecond, 1)) | \(fixed(p.gigaMultiplyAddsPerSecond, 2)) | "
                             + "\(p.float32Ratio.map { fixed($0, 2) + "×" } ?? "–") | \(difference(p.largestDifference)) |")
            }
            lines.append("")
        }
        if let a = attention {
            lines += ["One query's attention over \(a.layers) layers × \(a.positions) cached positions, \(a.heads) heads "
                      + "(\(a.kvHeads) key/value heads) × \(a.headDim) (per step: every layer)", "",
                      "| keys and values | µs | GB/s read | × float32 | max abs diff vs the blocked loop on the same numbers |",
                      "|---|---|---|---|---|"]
            for c in a.caches {
                lines.append("| \(c.cache) | \(fixed(c.microseconds, 1)) | \(fixed(c.gigabytesPerSecond, 1)) | "
                             + "\(fixed(c.float32Ratio, 2))× | \(difference(c.largestDifference)) |")
            }
        }
        return lines.joined(separator: "\n")
    }
}
