// hat info: what a model holds. A HAT model directory: its config, parameters per part, the
// weights file (dtype, size) and provenance. A token model (GGUF file or Hugging Face Llama
// directory): its shape, storage types, tokenizer (pre-tokenizer, vocabulary, special tokens)
// and parameter count, read from the tensor shapes without loading the weights.

import ArgumentParser
import Foundation
import HATCommandLine
import HATIO
import HATModel
import HATTensor
import HATTokenizer

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a model's config, parameters per part and provenance.")

    @Argument(help: ArgumentHelp(Locations.modelHelp)) var model: String?

    func run() throws {
        let directory = try model ?? Locations.defaultModel()
        if TokenModelFiles.isTokenModel(directory) {
            print(try Info.tokenModelDescription(directory))
            return
        }
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

    /// The lines `hat info` prints for a token model.
    static func tokenModelDescription(_ path: String) throws -> String {
        let checkpoint = try openLlamaCheckpoint(path)
        let c = checkpoint.config
        let tokenizer = try BPETokenizer(try TokenizerText.definition(from: path), source: path)
        let parameters = checkpoint.tensorShapes.filter { !$0.name.hasSuffix("rotary_emb.inv_freq") }
            .reduce(0) { $0 + $1.shape.reduce(1, *) }
        let storage = Dictionary(grouping: checkpoint.tensorShapes.map(\.name), by: { checkpoint.storageType($0) })
            .map { "\($0.key) ×\($0.value.count)" }.sorted()
        let size = checkpoint.weightFiles.reduce(0) {
            $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0)
        }
        let tied = !checkpoint.tensorShapes.contains { $0.name == TokenModel.headName }
        var lines = ["model:        \(path) (token model, \(checkpoint.format), \(c.architecture))"]
        lines.append("weights:      \(storage.joined(separator: ", ")), \(String(format: "%.1f", Double(size) / 1e6)) MB")
        var shape = "blocks:       \(c.numLayers) layers, width \(c.hiddenSize), \(c.numHeads) heads (\(c.numKVHeads) KV, head size \(c.headDim)), FFN \(c.intermediateSize)"
        if let w = c.slidingWindow { shape += ", window \(w)" }
        shape += ", rope θ \(String(format: "%g", c.ropeTheta))"
        lines.append(shape)
        let embeddingRows = checkpoint.tensorShapes.first { $0.name == TokenModel.embeddingName }?.shape.first
        if let rows = embeddingRows, rows < tokenizer.vocabularySize {
            throw HATIOError(.badShape, path: path, tensor: TokenModel.embeddingName,
                             "has \(rows) rows but the tokenizer (\(checkpoint.format == "gguf" ? "tokenizer.ggml.tokens" : "tokenizer.json")) declares a vocabulary of \(tokenizer.vocabularySize)")
        }
        lines.append("embedding:    \(embeddingRows.map(String.init) ?? "missing") rows\(tied ? ", tied to the head" : ", separate head")"
                     + (c.maxPositionEmbeddings.map { ", \($0) positions" } ?? ""))
        let specials = (0..<tokenizer.vocabularySize).filter { tokenizer.isSpecialToken($0) }.count
        var tokens = "tokenizer:    BPE, pre-tokenizer \(tokenizer.preTokenizer.rawValue), \(tokenizer.vocabularySize) tokens (\(specials) special)"
        if let start = TokenizerText.documentStart(tokenizer), let spelling = tokenizer.spelling(of: start) {
            tokens += ", documents open with \(spelling)"
        }
        lines.append(tokens)
        lines.append("parameters:   \(parameters) in all")
        return lines.joined(separator: "\n")
    }
}
