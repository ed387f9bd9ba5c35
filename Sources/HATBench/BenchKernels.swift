// hat bench kernels: the numerics figures of Reports/performance.md in one run — the OpenBLAS
// core and threads, sgemm GFLOP/s at the block's shapes, Llama block forward+backward (model
// FLOPs, fraction of the same-run sgemm rate), attention and element-wise kernels separately,
// resident memory across steady-state steps, and PyTorch timing the same block
// (scripts/bench_torch_block.py) side by side. `--json` prints all of it as one JSON object.

import ArgumentParser
import Dispatch
import Foundation
import HATCommandLine
import HATLayers
import HATTensor

struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Block, attention, element-wise and sgemm speed; PyTorch on the same block in the same run.",
        discussion: """
            Blocks timed: C=256 (H=4, G=2, D=64, F=704) and C=512 (H=8, G=4, D=64, F=1408), both over \
            --rows positions with a causal sliding window of --window. Model FLOPs count 2 per multiply-add of \
            every projection and, for attention, 4·D per allowed query–key pair per head (QKᵀ and PV) in \
            forward; backward counts twice forward. Build in release: swift build -c release.
            """)

    @OptionGroup var threadOptions: ThreadOptions
    @Option(parsing: .unconditional, help: "Positions N of the block (default 4096).") var rows = 4096
    @Option(parsing: .unconditional, help: "Sliding window (default 512; 0 = full causal).") var window = 512
    @Option(parsing: .unconditional, help: "Timed repetitions per figure; the median is reported (default 5).") var repeats = 5
    @Option(parsing: .unconditional, help: "Steady-state forward+backward steps between the two resident-memory readings (default 100).")
    var steadySteps = 100
    @Option(help: "Python with torch and transformers (default: $HAT_PYTHON, else python3).")
    var python: String?
    @Option(help: "The PyTorch timing script (default scripts/bench_torch_block.py).")
    var torchScript = "scripts/bench_torch_block.py"
    @Option(help: "Block widths to time, from 256 (H=4, G=2, F=704) and 512 (H=8, G=4, F=1408) (default 256,512).")
    var widths = "256,512"
    @Flag(help: "Skip the PyTorch comparison.") var noTorch = false
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func validate() throws {
        try checkFlag("rows", rows, 1...Limits.batchBytes / 512)
        try checkFlag("window", window, 0...Limits.positions, "(0 = full causal)")
        try checkFlag("repeats", repeats, 1...Limits.repeats)
        try checkFlag("steady-steps", steadySteps, 0...Limits.repeats)
        let known = ["256", "512"]
        for w in widths.split(separator: ",") where !known.contains(String(w)) {
            throw ValidationError("--widths: expected a list from 256,512, found \(w)")
        }
    }

    func run() throws {
        let context = threadOptions.makeContext()
        var report = KernelReport(machine: Machine.current(threads: threadOptions.threads), rows: rows, window: window,
                                  repeats: repeats)
        let configs = [
            LlamaBlockConfig(hidden: 256, heads: 4, kvHeads: 2, headDim: 64, intermediate: 704, rmsEps: 1e-5,
                             ropeTheta: 10_000, window: window > 0 ? window : nil),
            LlamaBlockConfig(hidden: 512, heads: 8, kvHeads: 4, headDim: 64, intermediate: 1408, rmsEps: 1e-5,
                             ropeTheta: 10_000, window: window > 0 ? window : nil),
        ]
        let chosen = configs.filter { widths.split(separator: ",").contains(Substring(String($0.hidden))) }
        for config in chosen {
            report.blocks.append(try benchBlock(config, isLast: config == chosen.last, context: context))
        }
        if !noTorch {
            for i in report.blocks.indices {
                report.blocks[i].torch = runTorch(report.blocks[i].config)
            }
        }
        report.machine.loadAverageEnd = Machine.loadAverage()
        try printFigures(report, json: json) { report.text }
    }

    // MARK: one block configuration

    func benchBlock(_ config: LlamaBlockConfig, isLast: Bool, context: ComputeContext) throws -> BlockReport {
        let planned = Arena.plannedFloats(LlamaBlock.arenaRequests(config: config, maxRows: rows, threads: context.threads)
                                          + [checkedMul(rows, config.hidden), rows, rows, rows])
        try Limits.requireMemory(planned.flatMap { checkedMul(4, $0.reserved) },
                                 for: "a block of width \(config.hidden) over \(rows) rows")
        let n = rows, c = config.hidden, a = config.heads * config.headDim, kv = config.kvHeads * config.headDim
        let f = config.intermediate
        var rng = RandomGenerator(seed: 1)
        let parameters = ParameterSet(LlamaBlock.parameterSpecs(prefix: "block", config: config))
        for entry in parameters.entries {
            if entry.name.hasSuffix("norm.weight") {
                parameters.value(entry.name).fill(1)
            } else {
                rng.fillNormal(parameters.value(entry.name), std: 0.02)
            }
        }
        let arena = Arena(name: "bench-activations")
        let block = LlamaBlock(prefix: "block", config: config, parameters: parameters, maxRows: n, arena: arena,
                               context: context)
        let x = arena.tensor(rows: n, cols: c)
        let positions = arena.allocateInt32(count: n)
        for i in 0..<n { positions[i] = Int32(i) }
        var ranges = KeyRanges(capacity: n, arena: arena)
        ranges.fillCausal(count: n, window: config.window)
        let pairs = ranges.pairCount(queries: n)
        let blockFLOPs = 3 * config.forwardFLOPs(rows: n, pairs: pairs)

        // sgemm at every shape the block's projections use (forward, input gradient, weight gradient).
        var shapes: [GemmShape] = []
        for (label, out, inp, count) in [("q_proj", a, c, 1), ("k_proj,v_proj", kv, c, 2), ("o_proj", c, a, 1),
                                         ("gate_proj,up_proj", f, c, 2), ("down_proj", c, f, 1)] {
            shapes.append(GemmShape(label: "\(label) forward", m: n, n: out, k: inp, transposeA: false, transposeB: true, count: count))
            shapes.append(GemmShape(label: "\(label) d input", m: n, n: inp, k: out, transposeA: false, transposeB: false, count: count))
            shapes.append(GemmShape(label: "\(label) d weight", m: out, n: inp, k: n, transposeA: true, transposeB: false, count: count))
        }
        let gemmArena = Arena(name: "bench-gemm")
        let maxWidth = max(c, a, f)
        let ga = gemmArena.tensor(rows: max(n, maxWidth), cols: max(n, maxWidth))
        let gb = gemmArena.tensor(rows: max(n, maxWidth), cols: maxWidth)
        let gc = gemmArena.tensor(rows: max(n, maxWidth), cols: maxWidth)
        rng.fillUniform(ga, bound: 1)
        rng.fillUniform(gb, bound: 1)
        for i in shapes.indices {
            let s = shapes[i]
            let aView = s.transposeA ? ga.rows(0..<s.k).columns(0..<s.m) : ga.rows(0..<s.m).columns(0..<s.k)
            let bView = s.transposeB ? gb.rows(0..<s.n).columns(0..<s.k) : gb.rows(0..<s.k).columns(0..<s.n)
            let cView = gc.rows(0..<s.m).columns(0..<s.n)
            let seconds = medianSeconds {
                context.gemm(aView, transposeA: s.transposeA, bView, transposeB: s.transposeB, into: cView)
            }
            shapes[i].gflops = 2 * Double(s.m) * Double(s.n) * Double(s.k) / seconds / 1e9
        }
        let peak = shapes.map(\.gflops).max() ?? 0
        let gemmFLOPs = shapes.reduce(0.0) { $0 + 2 * Double($1.m) * Double($1.n) * Double($1.k) * Double($1.count) }
        let gemmSeconds = shapes.reduce(0.0) { $0 + 2 * Double($1.m) * Double($1.n) * Double($1.k) * Double($1.count) / ($1.gflops * 1e9) }
        let composite = gemmFLOPs / gemmSeconds / 1e9

        // The block, forward + backward, from the same input every step (the copy is part of the step).
        let input = arena.tensor(rows: n, cols: c)
        rng.fillNormal(input, std: 1)
        let step = {
            x.copy(from: input, on: context)
            block.forward(x, positions: positions, ranges: ranges)
            block.backward(x, positions: positions, ranges: ranges)
        }
        let forwardSeconds = medianSeconds(setup: { x.copy(from: input, on: context) }) {
            block.forward(x, positions: positions, ranges: ranges)
        }
        let blockSeconds = medianSeconds(step)

        // Attention alone at the block's shapes.
        let core = block.attention.attention.core
        let q = arena.tensor(rows: n, cols: a), k = arena.tensor(rows: n, cols: kv), v = arena.tensor(rows: n, cols: kv)
        let o = arena.tensor(rows: n, cols: a), dq = arena.tensor(rows: n, cols: a)
        let dk = arena.tensor(rows: n, cols: kv), dv = arena.tensor(rows: n, cols: kv)
        rng.fillNormal(q, std: 1)
        rng.fillNormal(k, std: 1)
        rng.fillNormal(v, std: 1)
        let attentionFLOPs = core.forwardFLOPs(queries: n, ranges: ranges)
        var attention = AttentionReport(pairs: pairs, forwardGFLOP: attentionFLOPs / 1e9)
        attention.forwardMs = 1000 * medianSeconds { core.forward(out: o, q: q, k: k, v: v, ranges: ranges) }
        attention.backwardMs = 1000 * medianSeconds {
            core.backward(dQ: dq, dK: dk, dV: dv, dOut: o, q: q, k: k, v: v, out: o, ranges: ranges)
        }
        attention.forwardGFLOPS = attention.forwardGFLOP / attention.forwardMs * 1000
        attention.backwardGFLOPS = 2 * attention.forwardGFLOP / attention.backwardMs * 1000

        // Element-wise kernels.
        var elementwise: [ElementwiseReport] = []
        func timeKernel(_ name: String, _ elements: Int, setup: () -> Void = {}, _ body: () -> Void) {
            let s = medianSeconds(setup: setup, body)
            elementwise.append(ElementwiseReport(kernel: name, elements: elements, ms: 1000 * s,
                                                 nsPerElement: 1e9 * s / Double(elements)))
        }
        let y = arena.tensor(rows: n, cols: c), dy = arena.tensor(rows: n, cols: c)
        rng.fillNormal(x, std: 1)
        rng.fillNormal(dy, std: 1)
        timeKernel("rmsnorm forward [N, C]", n * c) { block.inputNorm.forward(out: y, input: x) }
        timeKernel("rmsnorm backward [N, C]", n * c) { block.inputNorm.backward(dInput: y, dOut: dy, input: x) }
        let rotary = block.attention.attention.rotary
        timeKernel("rope q and k [N, (H+G)·D]", n * (a + kv)) {
            rotary.apply(q, heads: config.heads, positions: positions, on: context)
            rotary.apply(k, heads: config.kvHeads, positions: positions, on: context)
        }
        let gate = arena.tensor(rows: n, cols: f), up = arena.tensor(rows: n, cols: f), hidden = arena.tensor(rows: n, cols: f)
        let gate0 = arena.tensor(rows: n, cols: f), up0 = arena.tensor(rows: n, cols: f)
        rng.fillNormal(gate0, std: 1)
        rng.fillNormal(up0, std: 1)
        let restore = {
            gate.copy(from: gate0, on: context)
            up.copy(from: up0, on: context)
        }
        restore()
        timeKernel("swiglu activation forward [N, F]", n * f) { SwiGLU.activate(gate: gate, up: up, into: hidden, on: context) }
        timeKernel("swiglu activation backward [N, F]", n * f, setup: restore) {
            SwiGLU.activationBackward(gate: gate, up: up, dHidden: hidden, on: context)
        }
        timeKernel("residual add [N, C]", n * c) { y.add(dy, on: context) }
        timeKernel("copy [N, C]", n * c) { y.copy(from: dy, on: context) }
        let logits = arena.tensor(rows: n, cols: 256), logits0 = arena.tensor(rows: n, cols: 256)
        rng.fillNormal(logits0, std: 2)
        let targets = arena.allocateInt32(count: n)
        for i in 0..<n { targets[i] = Int32(rng.nextInt(below: 256)) }
        timeKernel("cross-entropy forward + backward [N, 256]", n * 256, setup: { logits.copy(from: logits0, on: context) }) {
            _ = CrossEntropy.forward(logits: logits, targets: targets, mask: nil, on: context)
            CrossEntropy.backward(dLogits: logits, logits: logits, targets: targets, mask: nil, scale: 1, on: context)
        }

        // Steady state: resident memory before and after many steps.
        var steady: SteadyStateReport?
        if isLast && steadySteps > 0 {
            for _ in 0..<3 { step() }   // warm-up: worker threadOptions.threads and their stacks exist from here on
            let before = ProcessStats.residentBytes()
            var checkpoints: [Int] = []   // resident KiB after each tenth of the steps
            let start = DispatchTime.now().uptimeNanoseconds
            for i in 1...steadySteps {
                step()
                if i * 10 % steadySteps < 10 { checkpoints.append(ProcessStats.residentBytes() / 1024) }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let after = ProcessStats.residentBytes()
            steady = SteadyStateReport(steps: steadySteps, residentBytesBefore: before, residentBytesAfter: after,
                                       residentKiBCheckpoints: checkpoints, arenaBytes: arena.reservedBytes,
                                       secondsPerStep: seconds / Double(steadySteps))
        }

        // Where one step's time goes: products at their measured rates, attention, and the element-wise
        // kernels as often as a step runs them (2 norms forward and backward, RoPE on q,k forward and
        // inverse, SwiGLU activation forward and backward, 3 copies of [N, C]).
        func kernelMs(_ prefix: String) -> Double { elementwise.first { $0.kernel.hasPrefix(prefix) }?.ms ?? 0 }
        let elementwiseMs = 2 * kernelMs("rmsnorm forward") + 2 * kernelMs("rmsnorm backward") + 2 * kernelMs("rope")
            + kernelMs("swiglu activation forward") + kernelMs("swiglu activation backward") + 3 * kernelMs("copy")
        let budget = TimeBudget(productsMs: 1000 * gemmSeconds, attentionMs: attention.forwardMs + attention.backwardMs,
                                elementwiseMs: elementwiseMs,
                                otherMs: 1000 * blockSeconds - 1000 * gemmSeconds - attention.forwardMs - attention.backwardMs - elementwiseMs)

        return BlockReport(
            config: config, rows: n, pairs: pairs, shapes: shapes, sgemmPeakGFLOPS: peak,
            sgemmCompositeGFLOPS: composite, modelGFLOP: blockFLOPs / 1e9,
            forwardMs: 1000 * forwardSeconds, forwardBackwardMs: 1000 * blockSeconds,
            achievedGFLOPS: blockFLOPs / blockSeconds / 1e9, attention: attention, elementwise: elementwise,
            budget: budget, steadyState: steady, torch: nil)
    }

    /// Median wall time of --repeats runs of `body` after one warm-up run; `setup` runs untimed before each.
    func medianSeconds(setup: () -> Void = {}, _ body: () -> Void) -> Double {
        HATBench.medianSeconds(repeats: repeats, setup: setup, body)
    }

    // MARK: PyTorch

    func runTorch(_ config: LlamaBlockConfig) -> TorchReport {
        let python = Python.interpreter(self.python)
        guard FileManager.default.fileExists(atPath: torchScript) else {
            return TorchReport(error: "PyTorch comparison unavailable: no script at \(torchScript) (run from the repository root or pass --torch-script)")
        }
        if let missing = Python.missing(["torch", "transformers"], python, otherwise: "--no-torch") {
            return TorchReport(error: "PyTorch comparison unavailable: " + missing)
        }
        let run: Python.Run
        do {
            run = try Python.run(python, [torchScript, "--rows", "\(rows)", "--hidden", "\(config.hidden)", "--heads", "\(config.heads)",
                                          "--kv-heads", "\(config.kvHeads)", "--head-dim", "\(config.headDim)",
                                          "--intermediate", "\(config.intermediate)", "--window", "\(config.window ?? 0)",
                                          "--threads", "\(threadOptions.threads)", "--repeats", "\(max(2, min(repeats, 3)))"])
        } catch {
            return TorchReport(error: "PyTorch comparison unavailable: could not start \(python): \(error)")
        }
        guard run.status == 0,
              let object = try? JSONSerialization.jsonObject(with: run.output) as? [String: Any],
              let seconds = object["seconds"] as? Double else {
            return TorchReport(error: "PyTorch comparison failed: " + run.failure(python, torchScript))
        }
        return TorchReport(seconds: seconds, implementation: object["implementation"] as? String,
                           version: object["torch"] as? String, transformers: object["transformers"] as? String,
                           secondsByImplementation: object["seconds_by_implementation"] as? [String: Double])
    }
}

// MARK: - Report

struct Machine: Encodable {
    var cpu: String
    var cores: Int
    var blasCore: String
    var threads: Int
    /// 1-minute load average (/proc/loadavg) when the run started and ended: the machine is shared.
    var loadAverageStart: Double?
    var loadAverageEnd: Double?

    /// The first lines of every benchmark's text output: which OpenBLAS kernels ran, how many
    /// threads, and how loaded the shared machine was.
    var header: String {
        "openblas core: \(blasCore), threads: \(threads) (cpu: \(cpu), \(cores) cores)\n"
            + "load average (1 min, shared machine): \(loadAverageStart.map { String($0) } ?? "?") at start, "
            + "\(loadAverageEnd.map { String($0) } ?? "?") at end\n"
    }

    static func loadAverage() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        return text.split(separator: " ").first.flatMap { Double($0) }
    }

    /// The CPU's model name from /proc/cpuinfo, or nil.
    static func cpuModel() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let colon = line.firstIndex(of: ":") else { return nil }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }

    static func current(threads: Int) -> Machine {
        return Machine(cpu: cpuModel() ?? "unknown", cores: ProcessInfo.processInfo.activeProcessorCount,
                       blasCore: BLASCore.provenance(environment: ProcessInfo.processInfo.environment), threads: threads, loadAverageStart: loadAverage())
    }
}

struct GemmShape: Encodable {
    var label: String
    var m: Int, n: Int, k: Int
    var transposeA: Bool, transposeB: Bool
    /// How many times the block's forward + backward runs this product.
    var count: Int
    var gflops = 0.0
}

struct AttentionReport: Encodable {
    var pairs: Int
    var forwardGFLOP: Double
    var forwardMs = 0.0
    var backwardMs = 0.0
    /// Model FLOPs per second: forward counts forwardGFLOP, backward twice that.
    var forwardGFLOPS = 0.0
    var backwardGFLOPS = 0.0
}

struct ElementwiseReport: Encodable {
    var kernel: String
    var elements: Int
    var ms: Double
    var nsPerElement: Double
}

/// One forward+backward step split by kind of work (products estimated from the same-run sgemm rates).
struct TimeBudget: Encodable {
    var productsMs: Double
    var attentionMs: Double
    var elementwiseMs: Double
    /// The rest: zeroing and summing attention's per-worker dK/dV, thread hand-offs, timing noise.
    var otherMs: Double
}

struct SteadyStateReport: Encodable {
    var steps: Int
    var residentBytesBefore: Int
    var residentBytesAfter: Int
    /// Resident KiB after every tenth of the steps.
    var residentKiBCheckpoints: [Int]
    var arenaBytes: Int
    var secondsPerStep: Double
}

struct TorchReport: Encodable {
    var seconds: Double?
    var implementation: String?
    var version: String?
    var transformers: String?
    var secondsByImplementation: [String: Double]?
    var error: String?

    init(seconds: Double? = nil, implementation: String? = nil, version: String? = nil, transformers: String? = nil,
         secondsByImplementation: [String: Double]? = nil, error: String? = nil) {
        self.seconds = seconds
        self.implementation = implementation
        self.version = version
        self.transformers = transformers
        self.secondsByImplementation = secondsByImplementation
        self.error = error
    }
}

struct BlockReport: Encodable {
    var config: LlamaBlockConfig
    var rows: Int
    var pairs: Int
    var shapes: [GemmShape]
    var sgemmPeakGFLOPS: Double
    var sgemmCompositeGFLOPS: Double
    var modelGFLOP: Double
    var forwardMs: Double
    var forwardBackwardMs: Double
    var achievedGFLOPS: Double
    var attention: AttentionReport
    var elementwise: [ElementwiseReport]
    var budget: TimeBudget
    var steadyState: SteadyStateReport?
    var torch: TorchReport?
    var fractionOfPeakSgemm: Double { achievedGFLOPS / sgemmPeakGFLOPS }
    var fractionOfCompositeSgemm: Double { achievedGFLOPS / sgemmCompositeGFLOPS }

    enum CodingKeys: String, CodingKey {
        case config, rows, pairs, shapes, sgemmPeakGFLOPS, sgemmCompositeGFLOPS, modelGFLOP, forwardMs,
             forwardBackwardMs, achievedGFLOPS, attention, elementwise, budget, steadyState, torch,
             fractionOfPeakSgemm, fractionOfCompositeSgemm
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(config, forKey: .config)
        try c.encode(rows, forKey: .rows)
        try c.encode(pairs, forKey: .pairs)
        try c.encode(shapes, forKey: .shapes)
        try c.encode(sgemmPeakGFLOPS, forKey: .sgemmPeakGFLOPS)
        try c.encode(sgemmCompositeGFLOPS, forKey: .sgemmCompositeGFLOPS)
        try c.encode(modelGFLOP, forKey: .modelGFLOP)
        try c.encode(forwardMs, forKey: .forwardMs)
        try c.encode(forwardBackwardMs, forKey: .forwardBackwardMs)
        try c.encode(achievedGFLOPS, forKey: .achievedGFLOPS)
        try c.encode(attention, forKey: .attention)
        try c.encode(elementwise, forKey: .elementwise)
        try c.encode(budget, forKey: .budget)
        try c.encodeIfPresent(steadyState, forKey: .steadyState)
        try c.encodeIfPresent(torch, forKey: .torch)
        try c.encode(fractionOfPeakSgemm, forKey: .fractionOfPeakSgemm)
        try c.encode(fractionOfCompositeSgemm, forKey: .fractionOfCompositeSgemm)
    }
}

struct KernelReport: Encodable {
    var machine: Machine
    var rows: Int
    var window: Int
    var repeats: Int
    var blocks: [BlockReport] = []

    var text: String {
        var s = machine.header
        s += "positions N = \(rows), window \(window == 0 ? "none (full causal)" : String(window)), median of \(repeats)\n"
        for b in blocks {
            let cfg = b.config
            s += "\n== block C=\(cfg.hidden) H=\(cfg.heads) G=\(cfg.kvHeads) D=\(cfg.headDim) F=\(cfg.intermediate)\n"
            s += "sgemm at the block's shapes (GFLOP/s):\n"
            for g in b.shapes {
                s += "  \(pad(g.label, 28)) [\(g.m)x\(g.k)]\(g.transposeA ? "ᵀ" : "")·[\(g.k)x\(g.n)]\(g.transposeB ? "ᵀ" : "")  \(fmt(g.gflops))\n"
            }
            s += "  peak \(fmt(b.sgemmPeakGFLOPS)), composite of the block's products \(fmt(b.sgemmCompositeGFLOPS))\n"
            s += "block forward: \(fmt(b.forwardMs)) ms\n"
            s += "block forward+backward: \(fmt(b.forwardBackwardMs)) ms, \(fmt(b.modelGFLOP)) model GFLOP "
                + "(\(b.pairs) query–key pairs per head), \(fmt(b.achievedGFLOPS)) GFLOP/s = "
                + "\(fmt(100 * b.fractionOfPeakSgemm))% of peak sgemm, \(fmt(100 * b.fractionOfCompositeSgemm))% of composite\n"
            let a = b.attention
            s += "attention (\(fmt(a.forwardGFLOP)) GFLOP forward): forward \(fmt(a.forwardMs)) ms (\(fmt(a.forwardGFLOPS)) GFLOP/s), "
                + "backward \(fmt(a.backwardMs)) ms (\(fmt(a.backwardGFLOPS)) GFLOP/s)\n"
            s += "element-wise:\n"
            for e in b.elementwise {
                s += "  \(pad(e.kernel, 44)) \(fmt(e.ms)) ms (\(fmt(e.nsPerElement)) ns/element)\n"
            }
            let t = b.budget
            s += "step budget: products \(fmt(t.productsMs)) ms (at the sgemm rates above), attention \(fmt(t.attentionMs)) ms, "
                + "element-wise \(fmt(t.elementwiseMs)) ms, other \(fmt(t.otherMs)) ms\n"
            if let st = b.steadyState {
                s += "steady state: resident \(st.residentBytesBefore / 1024) KiB before, \(st.residentBytesAfter / 1024) KiB "
                    + "after \(st.steps) more forward+backward steps (\(st.residentBytesAfter / 1024 - st.residentBytesBefore / 1024) KiB "
                    + "change; \(fmt(1000 * st.secondsPerStep)) ms/step); activation arena \(st.arenaBytes / 1_048_576) MiB\n"
                s += "  resident KiB along the way: \(st.residentKiBCheckpoints.map(String.init).joined(separator: " "))\n"
            }
            if let t = b.torch {
                if let seconds = t.seconds {
                    s += "pytorch \(t.version ?? "?") (transformers \(t.transformers ?? "?"), attention \(t.implementation ?? "?")): "
                        + "forward+backward \(fmt(1000 * seconds)) ms; hat is \(fmt(1000 * seconds / b.forwardBackwardMs))× faster\n"
                    if let all = t.secondsByImplementation, all.count > 1 {
                        s += "  pytorch by attention implementation: "
                            + all.keys.sorted().map { "\($0) \(fmt(1000 * all[$0]!)) ms" }.joined(separator: ", ") + "\n"
                    }
                } else {
                    s += (t.error ?? "pytorch: no result") + "\n"
                }
            }
        }
        return s
    }
}

private func fmt(_ x: Double) -> String {
    if x >= 100 { return String(Int(x.rounded())) }
    if x >= 10 { return String((x * 10).rounded() / 10) }
    return String((x * 100).rounded() / 100)
}

private func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
}
