// hat convert-backbone: turns a pretrained Llama-family checkpoint (Hugging Face safetensors,
// single or sharded, or GGUF, quantised or not) into the backbone of a HAT model:
// DIR/model.safetensors with `backbone.layers.{i}.*` and DIR/config.json (ARCHITECTURE.md §6).

import ArgumentParser
import Foundation
import HATIO

struct ConvertBackbone: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert-backbone",
        abstract: "Extract the transformer blocks of a pretrained Llama as a HAT backbone.",
        discussion: """
        SRC is a GGUF file (architecture llama; F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K), \
        a Hugging Face directory (config.json + model.safetensors or model.safetensors.index.json; \
        LlamaForCausalLM or MistralForCausalLM; F32, F16, BF16), or a .safetensors file with config.json beside it. \
        The token embedding, final norm and LM head are dropped; GGUF q/k rows are un-permuted.

        Writes DIR/model.safetensors (backbone.layers.{i}.*) and DIR/config.json (sizes, RoPE, and the source's \
        path, architecture and SHA-256), all at once: into a temporary directory renamed into place. An existing, \
        non-empty DIR is replaced only with --force, and never when it is (or holds) the source. A NaN or \
        infinite weight is refused, naming the tensor and the element.
        """
    )

    enum OutputDType: String, ExpressibleByArgument, CaseIterable {
        case f32, bf16
        var dtype: DType { self == .f32 ? .f32 : .bf16 }
    }

    @Argument(help: "The source checkpoint (GGUF file, Hugging Face directory, or .safetensors file).")
    var source: String

    @Option(name: .long, help: "Output directory (created if missing; must be empty unless --force).")
    var out: String

    @Flag(help: "Replace an existing output directory (the whole directory, once the new one is complete).")
    var force = false

    @Option(name: .long, help: "Stored type of the backbone weights.")
    var dtype: OutputDType = .bf16

    @Flag(name: .long, help: "Also write DIR/token_head.safetensors with embed_tokens, norm and lm_head (the embedding again when tied), for later comparison. (default: off)")
    var keepTokenHead = false

    func validate() throws {
        guard FileManager.default.fileExists(atPath: source) else {
            throw ValidationError("source \(source) does not exist")
        }
        do { try AtomicDirectory.check(out, force: force, inputs: [source]) } catch let error as HATIOError {
            throw ValidationError(error.message)
        }
    }

    func run() throws {
        let start = Date()
        let src = try openLlamaCheckpoint(source)
        let c = src.config
        print("source: \(source) (\(src.format), \(c.architecture))")
        print("  \(c.numLayers) layers, C=\(c.hiddenSize), H=\(c.numHeads), G=\(c.numKVHeads), D=\(c.headDim), F=\(c.intermediateSize), rms_eps=\(c.rmsNormEps), rope_theta=\(c.ropeTheta), vocab=\(c.vocabSize.map(String.init) ?? "?")")
        for w in c.warnings { printError("WARNING: \(w)") }

        let meter = ProgressMeter()
        let report = try BackboneConversion.convert(src, outDir: out, force: force, dtype: dtype.dtype, keepTokenHead: keepTokenHead,
                                                    convertedBy: "hat \(HAT.version)") { meter.show($0) }
        meter.finish()
        let seconds = Date().timeIntervalSince(start)
        print("wrote \(report.tensorsWritten) tensors (\(c.numLayers) blocks, \(dtype.rawValue)) to \(report.modelPath)")
        if let t = report.tokenHeadPath { print("wrote embed_tokens, norm, lm_head to \(t)\(c.tieWordEmbeddings ? " (lm_head tied to the embedding)" : "")") }
        print("wrote \(out)/config.json (source sha256 \(report.config.source.sha256.prefix(16))…, source dtype \(report.config.source.sourceDtype))")
        for w in report.warnings where !c.warnings.contains(w) { printError("WARNING: \(w)") }
        print(String(format: "done in %.1f s, peak RSS %.0f MB", seconds, peakResidentMB()))
    }
}

/// One line per tensor, or a redrawn bar when stderr is a terminal; MB/s of source data converted.
private final class ProgressMeter {
    let tty = isatty(2) != 0
    var convertStart: Date? = nil
    var lastDraw = Date.distantPast
    var drewBar = false

    func show(_ p: BackboneConversion.Progress) {
        let mb = { (b: Int) in Double(b) / 1e6 }
        switch p.phase {
        case .hashing:
            if tty, Date().timeIntervalSince(lastDraw) > 0.1 {
                draw(String(format: "sha256 %@ %3.0f%%", p.item, 100 * Double(p.bytesDone) / Double(max(1, p.bytesTotal))))
            }
        case .converting:
            let start = convertStart ?? Date()
            convertStart = start
            let rate = mb(p.bytesDone) / max(1e-3, Date().timeIntervalSince(start))
            if tty {
                let width = 30
                let filled = width * (p.index + 1) / max(1, p.total)
                let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
                draw(String(format: "[%@] %d/%d %.0f/%.0f MB %.0f MB/s %@", bar, p.index + 1, p.total,
                            mb(p.bytesDone), mb(p.bytesTotal), rate, p.item))
            } else {
                printError(String(format: "[%d/%d] %@ (%.1f/%.1f MB, %.0f MB/s)", p.index + 1, p.total, p.item,
                                  mb(p.bytesDone), mb(p.bytesTotal), rate))
            }
        case .done:
            break
        }
    }

    private func draw(_ line: String) {
        lastDraw = Date()
        drewBar = true
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
    }

    func finish() {
        if drewBar { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

private func printError(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}

/// Peak resident set size (VmHWM) in MB, from /proc/self/status; 0 where unavailable.
private func peakResidentMB() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return 0 }
    let kb = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    return kb / 1024
}
