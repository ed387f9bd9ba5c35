// hat info: what a model directory holds: its config, parameters per part, the weights file
// (dtype, size) and provenance.

import ArgumentParser
import Foundation
import HATIO
import HATModel
import HATTensor

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a model's config, parameters per part and provenance.")

    @Argument(help: "Model directory (default: Models/default).") var model: String?

    func run() throws {
        let directory = try model ?? Locations.defaultModel()
        let (config, parameters) = try ModelFiles.load(from: directory)
        let weights = (directory as NSString).appendingPathComponent(ModelFiles.weightsName)
        let file = try SafeTensorsFile(path: weights)
        let dtypes = Set(try file.names.map { try file.info($0).dtype.rawValue }).sorted()
        let size = (try? FileManager.default.attributesOfItem(atPath: weights)[.size] as? Int) ?? 0

        print("model:        \(directory)")
        print("weights:      \(ModelFiles.weightsName), \(dtypes.joined(separator: "+")), \(String(format: "%.1f", Double(size) / 1e6)) MB")
        func describe(_ name: String, _ c: TransformerConfig) {
            var line = "\(name): \(c.numHiddenLayers) layers, width \(c.hiddenSize), \(c.numAttentionHeads) heads"
            line += " (\(c.numKeyValueHeads) KV, head size \(c.headDim)), FFN \(c.intermediateSize)"
            if let w = c.slidingWindow { line += ", window \(w)" }
            line += ", rope θ \(String(format: "%g", Double(c.ropeTheta)))"
            print(line)
        }
        describe("encoder     ", config.encoderConfig)
        describe("backbone    ", config.backboneConfig)
        describe("decoder     ", config.decoderConfig)
        print("words:        splitter \(config.splitter.name), max \(config.maxWordSize) bytes, end of sequence byte \(config.eosTokenId)")

        var perPart: [String: Int] = [:]
        for entry in parameters.entries { perPart[TrainingOptions.part(of: entry.name), default: 0] += entry.count }
        print("parameters:   \(parameters.scalarCount) in all")
        for part in TrainingOptions.parts {
            print("  \(part.padding(toLength: 10, withPad: " ", startingAt: 0)) \(perPart[part, default: 0])")
        }
        let p = config.provenance
        print("provenance:")
        if let g = p.graftedFrom {
            print("  backbone grafted from: " + g.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
        }
        if let d = p.trainingData { print("  training data: \(d)") }
        if let s = p.trainingSteps { print("  training steps: \(s)") }
        if let b = p.trainingBytes { print("  training bytes: \(b)") }
        if let c = p.createdBy { print("  created by: \(c)") }
        if let n = p.notes { print("  notes: \(n)") }
    }
}
