// HATConfig: the model's config.json (ARCHITECTURE.md §4). Snake_case keys with Hugging Face
// names where the concept exists; one block each for encoder, backbone and decoder.
// Unknown keys and inconsistent values are errors that name the field (e.g.
// "decoder_config.hidden_size"), so a typo never silently falls back to a default. Every number
// is checked against `Limits` (HATTensor) and the total parameter count computed with checked
// arithmetic, so a validated config can be laid out and allocated without overflow.

import Foundation
import HATLayers
import HATText
import HATTensor

/// A config problem, always with the dotted path of the field it concerns.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let field: String
    public let message: String
    public init(field: String, _ message: String) {
        self.field = field
        self.message = message
    }
    public var description: String { "config field \(field): \(message)" }
}

/// Attention between two streams (pooling: word queries over bytes; decoder: bytes over words).
public struct CrossAttentionConfig: Codable, Equatable, Sendable {
    /// Inner width A = heads × head size.
    public var hiddenSize: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int

    public init(hiddenSize: Int, numAttentionHeads: Int, numKeyValueHeads: Int) {
        self.hiddenSize = hiddenSize
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case hiddenSize = "hidden_size"
        case numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads"
    }

    public init(from decoder: Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
    }

    public var headDim: Int { hiddenSize / max(numAttentionHeads, 1) }

    func validate(_ path: String) throws {
        try requireIn(hiddenSize, 1...Limits.hiddenSize, path + ".hidden_size")
        try requireIn(numAttentionHeads, 1...Limits.heads, path + ".num_attention_heads")
        try require(hiddenSize % numAttentionHeads == 0, path + ".hidden_size",
                    "\(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads)")
        try require(numKeyValueHeads > 0 && numAttentionHeads % numKeyValueHeads == 0, path + ".num_key_value_heads",
                    "must divide num_attention_heads \(numAttentionHeads), found \(numKeyValueHeads)")
        try require(headDim % 2 == 0, path + ".hidden_size",
                    "hidden_size / num_attention_heads = \(headDim) must be even (rotary pairs)")
    }
}

/// One stack of Llama blocks (encoder, backbone or decoder).
public struct TransformerConfig: Codable, Equatable, Sendable {
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    /// Head size D; defaults to hidden_size / num_attention_heads.
    public var headDim: Int
    public var intermediateSize: Int
    public var rmsNormEps: Float
    public var ropeTheta: Float
    /// Keys i-window+1 … i are visible to query i; nil means no window.
    public var slidingWindow: Int?
    /// Vocabulary of the byte embedding / head (encoder and decoder only): 256.
    public var vocabSize: Int?
    /// Pooling (encoder) or byte-to-word attention (decoder); absent in the backbone.
    public var crossAttentionConfig: CrossAttentionConfig?
    /// Decoder only: cross-attention in every layer instead of layer 0 only.
    public var crossAttnEveryLayer: Bool?

    public init(hiddenSize: Int, numHiddenLayers: Int, numAttentionHeads: Int, numKeyValueHeads: Int,
                headDim: Int? = nil, intermediateSize: Int, rmsNormEps: Float = 1e-5, ropeTheta: Float = 10000,
                slidingWindow: Int? = nil, vocabSize: Int? = nil,
                crossAttentionConfig: CrossAttentionConfig? = nil, crossAttnEveryLayer: Bool? = nil) {
        self.hiddenSize = hiddenSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads
        self.headDim = headDim ?? hiddenSize / max(numAttentionHeads, 1)
        self.intermediateSize = intermediateSize
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.slidingWindow = slidingWindow
        self.vocabSize = vocabSize
        self.crossAttentionConfig = crossAttentionConfig
        self.crossAttnEveryLayer = crossAttnEveryLayer
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case hiddenSize = "hidden_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim"
        case intermediateSize = "intermediate_size"
        case rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta"
        case slidingWindow = "sliding_window"
        case vocabSize = "vocab_size"
        case crossAttentionConfig = "cross_attention_config"
        case crossAttnEveryLayer = "cross_attn_every_layer"
    }

    public init(from decoder: Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim) ?? hiddenSize / max(numAttentionHeads, 1)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? 1e-5
        ropeTheta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? 10000
        slidingWindow = try c.decodeIfPresent(Int.self, forKey: .slidingWindow)
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize)
        crossAttentionConfig = try c.decodeIfPresent(CrossAttentionConfig.self, forKey: .crossAttentionConfig)
        crossAttnEveryLayer = try c.decodeIfPresent(Bool.self, forKey: .crossAttnEveryLayer)
    }

    /// The per-block hyperparameters the layers need.
    public var block: LlamaBlockConfig {
        LlamaBlockConfig(hidden: hiddenSize, heads: numAttentionHeads, kvHeads: numKeyValueHeads, headDim: headDim,
                         intermediate: intermediateSize, rmsEps: rmsNormEps, ropeTheta: ropeTheta, window: slidingWindow)
    }

    func validate(_ path: String) throws {
        try requireIn(hiddenSize, 1...Limits.hiddenSize, path + ".hidden_size")
        try requireIn(numHiddenLayers, 0...Limits.layers, path + ".num_hidden_layers")
        try requireIn(numAttentionHeads, 1...Limits.heads, path + ".num_attention_heads")
        try require(numKeyValueHeads > 0 && numAttentionHeads % numKeyValueHeads == 0, path + ".num_key_value_heads",
                    "must divide num_attention_heads \(numAttentionHeads), found \(numKeyValueHeads)")
        try require(hiddenSize % numAttentionHeads == 0 || headDim != hiddenSize / numAttentionHeads, path + ".hidden_size",
                    "\(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads) (give head_dim explicitly if that is intended)")
        try requireIn(headDim, 2...Limits.headDim, path + ".head_dim")
        try require(headDim % 2 == 0, path + ".head_dim", "must be even (rotary pairs), found \(headDim)")
        try require(numAttentionHeads * headDim <= Limits.hiddenSize, path + ".head_dim",
                    "num_attention_heads × head_dim = \(numAttentionHeads * headDim) exceeds the limit of \(Limits.hiddenSize)")
        try requireIn(intermediateSize, 1...Limits.intermediateSize, path + ".intermediate_size")
        try require(rmsNormEps > 0 && rmsNormEps < 1, path + ".rms_norm_eps", "must be in (0, 1), found \(rmsNormEps)")
        try require(ropeTheta > 1 && Double(ropeTheta) <= Limits.ropeTheta, path + ".rope_theta",
                    "must be in (1, \(String(format: "%g", Limits.ropeTheta))], found \(ropeTheta)")
        if let window = slidingWindow {
            try requireIn(window, 1...Limits.positions, path + ".sliding_window", "or absent")
        }
    }
}

/// Which splitter turns text into words, and its options.
public struct SplitterConfig: Codable, Equatable, Sendable {
    /// "hat" (the default, causal) or "icu-dictionary".
    public var name: String
    public init(name: String = "hat") { self.name = name }
    enum CodingKeys: String, CodingKey, CaseIterable { case name }
    public init(from decoder: Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
    }
}

/// Where the weights came from.
public struct Provenance: Codable, Equatable, Sendable {
    /// The converted backbone's recorded source (path, format, architecture, sha256, …), if grafted.
    public var graftedFrom: [String: String]?
    /// What the model was trained on.
    public var trainingData: String?
    public var trainingSteps: Int?
    public var trainingBytes: Int?
    public var createdBy: String?
    public var notes: String?

    public init(graftedFrom: [String: String]? = nil, trainingData: String? = nil, trainingSteps: Int? = nil,
                trainingBytes: Int? = nil, createdBy: String? = nil, notes: String? = nil) {
        self.graftedFrom = graftedFrom
        self.trainingData = trainingData
        self.trainingSteps = trainingSteps
        self.trainingBytes = trainingBytes
        self.createdBy = createdBy
        self.notes = notes
    }

    /// A model about to be trained further (`hat train --init-from source`): the training it
    /// already had moves into `notes` ("then trained from source, which had N steps, B bytes of
    /// D"), so that the new run's checkpoints record their own data, steps and bytes — not the new
    /// run's counts beside the earlier run's data.
    public mutating func continueTraining(from source: String) {
        guard trainingData != nil || trainingSteps != nil || trainingBytes != nil else { return }
        let earlier = "then trained from \(source), which had \(trainingSteps.map(String.init) ?? "?") steps, "
            + "\(trainingBytes.map(String.init) ?? "?") bytes of \(trainingData ?? "unrecorded data")"
        notes = [notes, earlier].compactMap { $0 }.joined(separator: "; ")
        trainingData = nil
        trainingSteps = nil
        trainingBytes = nil
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case graftedFrom = "grafted_from"
        case trainingData = "training_data"
        case trainingSteps = "training_steps"
        case trainingBytes = "training_bytes"
        case createdBy = "created_by"
        case notes
    }

    public init(from decoder: Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        graftedFrom = try c.decodeIfPresent([String: String].self, forKey: .graftedFrom)
        trainingData = try c.decodeIfPresent(String.self, forKey: .trainingData)
        trainingSteps = try c.decodeIfPresent(Int.self, forKey: .trainingSteps)
        trainingBytes = try c.decodeIfPresent(Int.self, forKey: .trainingBytes)
        createdBy = try c.decodeIfPresent(String.self, forKey: .createdBy)
        notes = try c.decodeIfPresent(String.self, forKey: .notes)
    }
}

/// A backbone that stays in its source file: the pretrained token model's GGUF (or Hugging Face
/// checkpoint) the backbone was grafted from and kept frozen, so a model directory ships only its
/// local weights (ModelFiles: loading reads the backbone's blocks from the file after checking
/// its SHA-256; saving leaves them out).
public struct BackboneSource: Codable, Equatable, Sendable {
    /// The source file (a GGUF, or a Hugging Face directory's main weights file), relative to the
    /// model directory in config.json; ModelFiles.load makes it absolute in memory and save
    /// writes it relative to the directory it writes.
    public var path: String
    /// SHA-256 of that file, lowercase hex: the blocks must be exactly those trained with.
    public var sha256: String
    /// The command that fetches the file, named in the error when it is missing.
    public var fetch: String?

    public init(path: String, sha256: String, fetch: String? = nil) {
        self.path = path
        self.sha256 = sha256
        self.fetch = fetch
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case path, sha256, fetch }

    public init(from decoder: Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        path = try c.decode(String.self, forKey: .path)
        sha256 = try c.decode(String.self, forKey: .sha256)
        fetch = try c.decodeIfPresent(String.self, forKey: .fetch)
    }
}

/// The whole model configuration (config.json beside model.safetensors).
public struct HATConfig: Codable, Equatable, Sendable {
    public var modelType: String
    public var encoderConfig: TransformerConfig
    public var backboneConfig: TransformerConfig
    public var decoderConfig: TransformerConfig
    /// Longest word in bytes; longer words are cut (ARCHITECTURE.md §2 rule 6).
    public var maxWordSize: Int
    public var splitter: SplitterConfig
    /// The byte that ends a sequence (192, never valid in UTF-8).
    public var eosTokenId: Int
    public var provenance: Provenance
    /// Set when the backbone's blocks are read from their source file, not from model.safetensors.
    public var backboneSource: BackboneSource?

    public init(encoderConfig: TransformerConfig, backboneConfig: TransformerConfig, decoderConfig: TransformerConfig,
                maxWordSize: Int = 100, splitter: SplitterConfig = SplitterConfig(), eosTokenId: Int = 192,
                provenance: Provenance = Provenance()) {
        modelType = "hat"
        self.encoderConfig = encoderConfig
        self.backboneConfig = backboneConfig
        self.decoderConfig = decoderConfig
        self.maxWordSize = maxWordSize
        self.splitter = splitter
        self.eosTokenId = eosTokenId
        self.provenance = provenance
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case modelType = "model_type"
        case encoderConfig = "encoder_config"
        case backboneConfig = "backbone_config"
        case decoderConfig = "decoder_config"
        case maxWordSize = "max_word_size"
        case splitter
        case eosTokenId = "eos_token_id"
        case provenance
        case backboneSource = "backbone_source"
    }

    public init(from decoder: Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? "hat"
        encoderConfig = try c.decode(TransformerConfig.self, forKey: .encoderConfig)
        backboneConfig = try c.decode(TransformerConfig.self, forKey: .backboneConfig)
        decoderConfig = try c.decode(TransformerConfig.self, forKey: .decoderConfig)
        maxWordSize = try c.decodeIfPresent(Int.self, forKey: .maxWordSize) ?? 100
        splitter = try c.decodeIfPresent(SplitterConfig.self, forKey: .splitter) ?? SplitterConfig()
        eosTokenId = try c.decodeIfPresent(Int.self, forKey: .eosTokenId) ?? 192
        provenance = try c.decodeIfPresent(Provenance.self, forKey: .provenance) ?? Provenance()
        backboneSource = try c.decodeIfPresent(BackboneSource.self, forKey: .backboneSource)
    }

    /// Checks every field and the relations between the three stacks.
    public func validate() throws {
        try require(modelType == "hat", "model_type", "must be \"hat\", found \"\(modelType)\"")
        try encoderConfig.validate("encoder_config")
        try backboneConfig.validate("backbone_config")
        try decoderConfig.validate("decoder_config")
        for (path, stack) in [("encoder_config", encoderConfig), ("decoder_config", decoderConfig)] {
            try require(stack.vocabSize ?? 256 == 256, path + ".vocab_size", "must be 256 (bytes), found \(stack.vocabSize ?? 256)")
            guard let cross = stack.crossAttentionConfig else {
                throw ConfigError(field: path + ".cross_attention_config", "is required (\(path == "encoder_config" ? "word pooling" : "byte-to-word attention"))")
            }
            try cross.validate(path + ".cross_attention_config")
        }
        try require(encoderConfig.numHiddenLayers >= 1, "encoder_config.num_hidden_layers", "needs at least 1 layer")
        try require(decoderConfig.numHiddenLayers >= 1, "decoder_config.num_hidden_layers",
                    "needs at least 1 layer (layer 0 holds the cross-attention)")
        try require(backboneConfig.crossAttentionConfig == nil, "backbone_config.cross_attention_config",
                    "the backbone is plain Llama blocks; remove this field")
        try require(backboneConfig.vocabSize == nil, "backbone_config.vocab_size",
                    "the backbone has no token embedding or head; remove this field")
        try require(encoderConfig.crossAttnEveryLayer == nil, "encoder_config.cross_attn_every_layer", "is a decoder option")
        try require(decoderConfig.hiddenSize == encoderConfig.hiddenSize, "decoder_config.hidden_size",
                    "must equal encoder_config.hidden_size \(encoderConfig.hiddenSize) (the decoder reads the encoder's byte states), found \(decoderConfig.hiddenSize)")
        try requireIn(maxWordSize, 1...Limits.wordBytes, "max_word_size")
        try require(splitter.name == "hat" || splitter.name == "icu-dictionary", "splitter.name",
                    "must be \"hat\" or \"icu-dictionary\", found \"\(splitter.name)\"")
        try require(eosTokenId == 0xC0 || eosTokenId == 0xC1 || (0xF5...0xFF).contains(eosTokenId), "eos_token_id",
                    "must be a byte that never occurs in UTF-8 (192, 193 or 245…255), found \(eosTokenId)")
        if let source = backboneSource {
            try require(!source.path.isEmpty, "backbone_source.path", "must name the backbone's source file")
            try require(source.sha256.count == 64 && source.sha256.allSatisfy { "0123456789abcdef".contains($0) },
                        "backbone_source.sha256", "must be 64 lowercase hex digits, found \"\(source.sha256)\"")
        }
        guard let count = parameterCount, count <= Limits.parameters else {
            throw ConfigError(field: "(all stacks)", "the model would have \(parameterCount.map(String.init) ?? "more than 2⁶³") parameters, "
                              + "more than the limit of \(Limits.parameters)")
        }
    }

    /// Parameters of a model with this config (checked arithmetic), or nil when the config lacks
    /// a cross-attention block or the count overflows. `validate` asks once every field is
    /// within `Limits`, so the layout it counts is small enough to build.
    public var parameterCount: Int? {
        guard encoderConfig.crossAttentionConfig != nil, decoderConfig.crossAttentionConfig != nil else { return nil }
        return checkedSum(HierarchicalModel.parameterSpecs(self).map { checkedProduct($0.shape) })
    }

    // MARK: JSON

    /// Reads and validates a config.json.
    public static func load(path: String) throws -> HATConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(field: "(file)", "cannot read \(path)")
        }
        return try decode(data, source: path)
    }

    /// Decodes and validates config JSON; `source` names it in errors.
    public static func decode(_ data: Data, source: String) throws -> HATConfig {
        let config: HATConfig
        do {
            config = try JSONDecoder().decode(HATConfig.self, from: data)
        } catch let error as ConfigError {
            throw error
        } catch let DecodingError.keyNotFound(key, context) {
            throw ConfigError(field: dotted(context.codingPath + [key]), "is missing in \(source)")
        } catch let DecodingError.typeMismatch(type, context) {
            throw ConfigError(field: dotted(context.codingPath), "expected \(type) in \(source)")
        } catch let DecodingError.valueNotFound(type, context) {
            throw ConfigError(field: dotted(context.codingPath), "expected \(type), found null in \(source)")
        } catch let DecodingError.dataCorrupted(context) {
            throw ConfigError(field: dotted(context.codingPath), "\(context.debugDescription) in \(source)")
        }
        try config.validate()
        return config
    }

    /// Pretty JSON with sorted keys, so diffs stay readable.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

// MARK: - Helpers

private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

private func dotted(_ path: [CodingKey]) -> String {
    path.isEmpty ? "(top level)" : path.map(\.stringValue).joined(separator: ".")
}

/// Throws `ConfigError` for the first key of the object being decoded that is not in `known`.
func rejectUnknownKeys(_ decoder: Decoder, _ known: [String]) throws {
    let container = try decoder.container(keyedBy: AnyKey.self)
    let allowed = Set(known)
    for key in container.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) where !allowed.contains(key.stringValue) {
        throw ConfigError(field: dotted(decoder.codingPath + [key]),
                          "unknown field (known: \(known.sorted().joined(separator: ", ")))")
    }
}

private func require(_ condition: Bool, _ field: String, _ message: @autoclosure () -> String) throws {
    if !condition { throw ConfigError(field: field, message()) }
}

extension HATConfig {
    /// The options of the word splitter this model was trained with (the one place that reads them
    /// from a config; `makeSplitter` builds the splitter from them).
    public func splitterOptions() throws -> SplitterOptions {
        guard let mode = SplitterMode(rawValue: splitter.name) else {
            throw ConfigError(field: "splitter.name", "unknown splitter \"\(splitter.name)\"; known: \(SplitterMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return SplitterOptions(mode: mode, maxWordBytes: maxWordSize)
    }

    /// The word splitter this model was trained with.
    public func makeSplitter() throws -> WordSplitter {
        try WordSplitter(options: splitterOptions())
    }
}

/// Throws unless `value` lies in `range`, naming the field and the range (the limit).
private func requireIn(_ value: Int, _ range: ClosedRange<Int>, _ field: String, _ alternative: String = "") throws {
    if !range.contains(value) {
        throw ConfigError(field: field, "must be in \(range.lowerBound)…\(range.upperBound)\(alternative.isEmpty ? "" : " " + alternative), found \(value)")
    }
}
