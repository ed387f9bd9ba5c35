// hat graft: a HAT model around a converted pretrained backbone (see hat convert-backbone):
// fresh encoder, pooling, decoder and head from a local preset, or those of another HAT model
// where names and shapes match (--local-from); the backbone untouched.

import ArgumentParser
import Foundation
import HATCommandLine
import HATIO
import HATModel

struct GraftCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graft",
        abstract: "Build a HAT model whose backbone is a converted Llama (then train it with hat train --init-from).",
        discussion: """
        Stage 1 (backbone frozen):  hat train --init-from MODEL --freeze backbone …
        Stage 2 (everything):       hat train --init-from STAGE1_CHECKPOINT --backbone-learning-rate 1e-4 …
        """)

    @Option(help: "Directory written by hat convert-backbone.") var backbone: String
    @Option(help: "Preset or config.json for the local parts (its backbone_config is replaced); default with --local-from: that model's config.")
    var config: String?
    @Option(help: "A HAT model directory whose local weights (encoder, pooling, decoder, head) are copied where names and shapes match; the rest is fresh.")
    var localFrom: String?
    @Option(help: "Output model directory (must be absent or empty unless --force; never the backbone's).") var out: String
    @Option(parsing: .unconditional, help: "Seed for the fresh local weights.") var seed: UInt64 = 1
    @Flag(help: "Keep the backbone's seeded random weights (a control with the same shape and local weights). (default: off)") var randomBackbone = false
    @Flag(help: "Replace an existing output directory (the whole directory, once the new one is complete).") var force = false

    /// What the command reads: the backbone directory, and the config when it is a file.
    var inputs: [String] {
        [backbone] + (config.map { FileManager.default.fileExists(atPath: $0) ? [$0] : [] } ?? []) + (localFrom.map { [$0] } ?? [])
    }

    func validate() throws {
        guard config != nil || localFrom != nil else { throw ValidationError("--config: give a preset or config.json (or --local-from MODEL)") }
        if let localFrom, !FileManager.default.fileExists(atPath: (localFrom as NSString).appendingPathComponent(ModelFiles.configName)) {
            throw ValidationError("--local-from \(localFrom): not a HAT model directory (no \(ModelFiles.configName))")
        }
        do { try AtomicDirectory.check(out, force: force, inputs: inputs) } catch let error as HATIOError {
            throw ValidationError(error.message)
        }
    }

    func run() throws {
        let presetPath = try config.map { try Locations.config($0) }
            ?? (localFrom! as NSString).appendingPathComponent(ModelFiles.configName)
        let preset = try HATConfig.load(path: presetPath)
        let (grafted, parameters, transfer) = try Graft.make(backboneDirectory: backbone, preset: preset, seed: seed,
                                                             randomBackbone: randomBackbone, localFrom: localFrom)
        try AtomicDirectory.write(out, force: force, inputs: inputs) { directory in
            try ModelFiles.save(config: grafted, parameters: parameters, to: directory, dtype: .f32)
        }
        let b = grafted.backboneConfig
        if let transfer, let localFrom {
            let copied = transfer.copied.reduce(0) { $0 + parameters.entry($1).count }
            print("local parts from \(localFrom): \(transfer.copied.count) tensors copied (\(copied) parameters); "
                  + "\(transfer.fresh.count) fresh: " + transfer.fresh.joined(separator: ", "))
        }
        print("wrote \(out): backbone \(b.numHiddenLayers) layers × width \(b.hiddenSize) \(randomBackbone ? "RANDOM in the shape of" : "from") \(backbone), \(parameters.scalarCount) parameters")
    }
}
