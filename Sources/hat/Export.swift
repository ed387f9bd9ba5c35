// hat export: copy a model (or a training checkpoint) to a clean model directory, optionally
// in bf16 — how a trained run becomes a shippable model. With --backbone-source the backbone
// stays in the pretrained file it was grafted from (a frozen backbone: every value must equal
// the file's, checked), and the directory holds only the local weights.

import ArgumentParser
import Foundation
import HATIO
import HATModel

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model directory (config.json + model.safetensors) from a model or checkpoint.")

    @Argument(help: "Model or checkpoint directory.") var source: String
    @Option(help: "Output model directory (must be absent or empty unless --force; never the source).") var out: String
    @Option(help: "Weight dtype: f32 or bf16.") var dtype = "bf16"
    @Option(help: "Notes to record in the config's provenance.") var notes: String?
    @Option(help: ArgumentHelp("Leave the backbone in this pretrained file (GGUF or Hugging Face checkpoint), read by SHA-256 at load; the model's backbone must equal it exactly.",
                               valueName: "FILE")) var backboneSource: String?
    @Option(help: "With --backbone-source: the command that fetches the file, named when it is missing.") var backboneFetch: String?
    @Flag(help: "Replace an existing output directory (the whole directory, once the new one is complete).") var force = false

    func validate() throws {
        guard dtype == "f32" || dtype == "bf16" else { throw ValidationError("--dtype must be f32 or bf16, found \(dtype)") }
        if backboneFetch != nil && backboneSource == nil { throw ValidationError("--backbone-fetch needs --backbone-source") }
        do { try AtomicDirectory.check(out, force: force, inputs: [source]) } catch let error as HATIOError {
            throw ValidationError(error.message)
        }
    }

    func run() throws {
        var (config, parameters) = try ModelFiles.load(from: source)
        if let notes { config.provenance.notes = notes }
        if let backboneSource {
            config.backboneSource = try ModelFiles.backboneSource(equalTo: parameters, config: config, file: backboneSource, fetch: backboneFetch)
        }
        try AtomicDirectory.write(out, force: force, inputs: [source]) { directory in
            try ModelFiles.save(config: config, parameters: parameters, to: directory, dtype: dtype == "bf16" ? .bf16 : .f32)
        }
        print("wrote \(out)/\(ModelFiles.configName) and \(ModelFiles.weightsName) (\(dtype))")
    }
}
