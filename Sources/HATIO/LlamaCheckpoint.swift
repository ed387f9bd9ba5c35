// Llama-family source checkpoints for backbone conversion, behind one protocol:
// Hugging Face (config.json + model.safetensors or a sharded model.safetensors.index.json;
// F32/F16/BF16; LlamaForCausalLM, MistralForCausalLM) and GGUF (architecture "llama").
// Both present tensors under Hugging Face names and layout ([out, in], q/k rows un-permuted).

import Foundation
import HATTensor

/// Rotary scaling as declared by the source. Only "default" (none) is implemented by our blocks.
public struct RopeScaling: Codable, Sendable, Equatable {
    public var ropeType: String
    public var factor: Double?
    public var lowFreqFactor: Double?
    public var highFreqFactor: Double?
    public var originalMaxPositionEmbeddings: Int?
    /// False when hat's Llama block does not implement this scaling (then outputs differ from the source).
    public var supported: Bool

    enum CodingKeys: String, CodingKey {
        case ropeType = "rope_type", factor, lowFreqFactor = "low_freq_factor", highFreqFactor = "high_freq_factor"
        case originalMaxPositionEmbeddings = "original_max_position_embeddings", supported
    }
}

/// Hyper-parameters of a Llama-family source, whichever format they came from.
public struct LlamaSourceConfig: Sendable {
    public var architecture: String
    public var hiddenSize: Int              // C
    public var numLayers: Int               // L
    public var numHeads: Int                // H
    public var numKVHeads: Int              // G
    public var headDim: Int                 // D
    public var intermediateSize: Int        // F
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling?
    public var slidingWindow: Int?
    public var vocabSize: Int?
    public var maxPositionEmbeddings: Int?
    public var tieWordEmbeddings: Bool
    /// Things the user must know (unsupported scaling, sliding window, …).
    public var warnings: [String] = []

    /// Checks the numbers fit together; `path` names the config in errors.
    func validate(path: String) throws {
        func bad(_ field: String, _ message: String) -> HATIOError { HATIOError(.badConfig, path: path, tensor: field, message) }
        for (f, v, limit) in [("hidden_size", hiddenSize, Limits.hiddenSize), ("num_hidden_layers", numLayers, Limits.layers),
                              ("num_attention_heads", numHeads, Limits.heads), ("num_key_value_heads", numKVHeads, Limits.heads),
                              ("head_dim", headDim, Limits.headDim), ("intermediate_size", intermediateSize, Limits.intermediateSize)]
            where !(1...limit).contains(v) {
            throw bad(f, "is \(v), expected a size in 1…\(limit)")
        }
        guard numHeads % numKVHeads == 0 else { throw bad("num_key_value_heads", "\(numKVHeads) does not divide num_attention_heads \(numHeads)") }
        guard headDim % 2 == 0 else { throw bad("head_dim", "\(headDim) is odd; rotary embeddings need an even head size") }
        guard numHeads * headDim <= Limits.hiddenSize else {
            throw bad("head_dim", "num_attention_heads × head_dim = \(numHeads * headDim) exceeds the limit of \(Limits.hiddenSize)")
        }
        guard rmsNormEps > 0, rmsNormEps < 1 else { throw bad("rms_norm_eps", "is \(rmsNormEps), expected a small positive number") }
        guard ropeTheta > 1, ropeTheta <= Limits.ropeTheta else {
            throw bad("rope_theta", "is \(ropeTheta), expected a number in (1, \(Limits.ropeTheta)]")
        }
        if let v = vocabSize, !(1...Limits.vocabulary).contains(v) { throw bad("vocab_size", "is \(v), expected 1…\(Limits.vocabulary)") }
        if let w = slidingWindow, !(1...Limits.positions).contains(w) { throw bad("sliding_window", "is \(w), expected 1…\(Limits.positions)") }
    }
}

/// A checkpoint the backbone converter can read tensor by tensor.
public protocol LlamaCheckpoint: AnyObject {
    /// What the user passed (file or directory).
    var path: String { get }
    /// "gguf" or "safetensors".
    var format: String { get }
    var config: LlamaSourceConfig { get }
    /// Every tensor under its Hugging Face name with its [out, in] shape, in file order.
    var tensorShapes: [(name: String, shape: [Int])] { get }
    /// The files that hold the weights (for hashing), main file first.
    var weightFiles: [String] { get }
    /// Storage type of a tensor ("BF16", "Q4_1", …).
    func storageType(_ name: String) -> String
    /// Bytes the tensor occupies in the source (for progress).
    func storedBytes(_ name: String) -> Int
    /// Converts a tensor to Float in Hugging Face layout; `count` must equal its element count.
    func read(_ name: String, into dst: UnsafeMutablePointer<Float>, count: Int) throws
    /// Lets the OS drop the source pages of a tensor that has been converted.
    func release(_ name: String)
    /// The ggml block type of a tensor stored in blocks (GGUF Q8_0, Q4_1, …); nil otherwise.
    func blockType(_ name: String) -> GGMLType?
    /// Copies a block-stored tensor's bytes in Hugging Face row order (`blockType` not nil);
    /// `byteCount` must equal its stored size.
    func readBlocks(_ name: String, into dst: UnsafeMutableRawPointer, byteCount: Int) throws
}

/// Opens a GGUF file, a Hugging Face directory, a `.safetensors` file or a `.safetensors.index.json`
/// (the last two with `config.json` beside them).
public func openLlamaCheckpoint(_ path: String) throws -> LlamaCheckpoint {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
        throw HATIOError(.io, path: path, "no such file or directory")
    }
    if isDir.boolValue { return try HFCheckpoint(path: path) }
    let f = try MappedFile(path: path)
    if f.count >= 4, Array(f.bytes[0..<4]) == Array("GGUF".utf8) { return try GGUFCheckpoint(path: path) }
    if path.hasSuffix(".gguf") { _ = try GGUFFile(path: path) }       // gives the precise GGUF error
    return try HFCheckpoint(path: path)
}

// MARK: - Hugging Face

public final class HFCheckpoint: LlamaCheckpoint {
    public static let supportedArchitectures = ["LlamaForCausalLM", "MistralForCausalLM"]

    public let path: String
    public let format = "safetensors"
    public let config: LlamaSourceConfig
    public let configPath: String
    public let tensorShapes: [(name: String, shape: [Int])]
    public let weightFiles: [String]
    /// Which shard holds each tensor.
    private let location: [String: SafeTensorsFile]

    public init(path: String) throws {
        self.path = path
        var isDir: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
        let dir = isDir.boolValue ? path : (path as NSString).deletingLastPathComponent
        configPath = (dir.isEmpty ? "." : dir) + "/config.json"
        config = try Self.readConfig(configPath)

        // weights: an explicit file, else the index, else model.safetensors
        let index = dir + "/model.safetensors.index.json"
        let single = dir + "/model.safetensors"
        let weightsPath: String
        if !isDir.boolValue {
            weightsPath = path
        } else if FileManager.default.fileExists(atPath: index) {
            weightsPath = index
        } else if FileManager.default.fileExists(atPath: single) {
            weightsPath = single
        } else {
            throw HATIOError(.io, path: dir, "has neither model.safetensors nor model.safetensors.index.json")
        }

        var location: [String: SafeTensorsFile] = [:]
        var shapes: [(name: String, shape: [Int])] = []
        var files: [String] = [weightsPath]
        if weightsPath.hasSuffix(".json") {
            let map = try Self.readIndex(weightsPath)
            var shards: [String: SafeTensorsFile] = [:]
            for shardName in Set(map.values).sorted() {
                let shardPath = dir + "/" + shardName
                guard FileManager.default.fileExists(atPath: shardPath) else {
                    let example = map.first { $0.value == shardName }!.key
                    throw HATIOError(.missingTensor, path: weightsPath, tensor: example,
                                     "shard \(shardName) (which holds '\(example)' and \(map.values.filter { $0 == shardName }.count - 1) more) does not exist in \(dir)")
                }
                shards[shardName] = try SafeTensorsFile(path: shardPath)
                files.append(shardPath)
            }
            for shardName in Set(map.values).sorted() {
                let shard = shards[shardName]!
                for name in shard.names {
                    guard map[name] == shardName else {
                        throw HATIOError(.extraTensor, path: shard.path, tensor: name,
                                         map[name] == nil ? "is in the shard but not in the index \(weightsPath)" : "the index puts it in \(map[name]!)")
                    }
                    location[name] = shard
                    shapes.append((name, try shard.info(name).shape))
                }
            }
            for (name, shardName) in map.sorted(by: { $0.key < $1.key }) where location[name] == nil {
                throw HATIOError(.missingTensor, path: dir + "/" + shardName, tensor: name,
                                 "is listed in \(weightsPath) but missing from the shard")
            }
        } else {
            let f = try SafeTensorsFile(path: weightsPath)
            for name in f.names {
                location[name] = f
                shapes.append((name, try f.info(name).shape))
            }
        }
        for (name, f) in location {
            let i = try f.info(name)
            guard i.dtype.isReadableAsFloat else {
                throw HATIOError(.unsupported, path: f.path, tensor: name, "dtype \(i.dtype.rawValue) is not a float type (F32, F16, BF16)")
            }
        }
        self.location = location
        tensorShapes = shapes
        weightFiles = files
    }

    public func storageType(_ name: String) -> String { (try? location[name]?.info(name).dtype.rawValue) ?? "?" }

    public func storedBytes(_ name: String) -> Int { (try? location[name]?.info(name).byteRange.count) ?? 0 }

    public func read(_ name: String, into dst: UnsafeMutablePointer<Float>, count: Int) throws {
        guard let f = location[name] else { throw HATIOError(.missingTensor, path: path, tensor: name, "no such tensor") }
        try f.read(name, into: dst, count: count)
    }

    /// safetensors hold plain floats, never blocks.
    public func blockType(_ name: String) -> GGMLType? { nil }

    public func readBlocks(_ name: String, into dst: UnsafeMutableRawPointer, byteCount: Int) throws {
        throw HATIOError(.usage, path: path, tensor: name, "is not stored in blocks")
    }

    public func release(_ name: String) {
        guard let f = location[name], let i = try? f.info(name) else { return }
        f.file.adviseDone((f.dataStart + i.byteRange.lowerBound)..<(f.dataStart + i.byteRange.upperBound))
    }

    /// model.safetensors.index.json → tensor name : shard file name.
    static func readIndex(_ path: String) throws -> [String: String] {
        let any = try readJSONObject(path)
        guard let map = any["weight_map"] as? [String: Any] else {
            throw HATIOError(.malformed, path: path, tensor: "weight_map", "missing or not an object")
        }
        var out: [String: String] = [:]
        for (name, v) in map {
            guard let shard = v as? String else {
                throw HATIOError(.malformed, path: path, tensor: "weight_map.\(name)", "is not a file name")
            }
            guard !shard.contains("/"), shard != "..", !shard.isEmpty else {
                throw HATIOError(.malformed, path: path, tensor: "weight_map.\(name)", "shard name \"\(shard)\" must be a plain file name in the same directory")
            }
            out[name] = shard
        }
        return out
    }

    static func readJSONObject(_ path: String) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HATIOError(.io, path: path, "cannot read (missing or unreadable)")
        }
        let any: Any
        do {
            any = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw HATIOError(.malformed, path: path, "is not valid JSON: \(error.localizedDescription)")
        }
        guard let object = any as? [String: Any] else { throw HATIOError(.malformed, path: path, "is not a JSON object") }
        return object
    }

    /// Reads a Hugging Face config.json of a Llama/Mistral model (transformers 4 and 5 spellings).
    public static func readConfig(_ path: String) throws -> LlamaSourceConfig {
        let c = try readJSONObject(path)
        func bad(_ field: String, _ message: String) -> HATIOError { HATIOError(.badConfig, path: path, tensor: field, message) }
        func number(_ any: Any?) -> Double? {
            // JSON true/false also bridge to NSNumber; they come as the boolean subclass
            guard let n = any as? NSNumber, !String(describing: type(of: n)).contains("Boolean") else { return nil }
            return n.doubleValue
        }
        func int(_ field: String, in dict: [String: Any]? = nil) throws -> Int? {
            guard let v = (dict ?? c)[field], !(v is NSNull) else { return nil }
            guard let d = number(v), d == d.rounded(), abs(d) < 1e15 else { throw bad(field, "is \(v), expected an integer") }
            return Int(d)
        }
        func required(_ field: String) throws -> Int {
            guard let v = try int(field) else { throw bad(field, "is missing") }
            return v
        }
        func double(_ field: String, in dict: [String: Any]? = nil) throws -> Double? {
            guard let v = (dict ?? c)[field], !(v is NSNull) else { return nil }
            guard let d = number(v) else { throw bad(field, "is \(v), expected a number") }
            return d
        }

        let architectures = c["architectures"] as? [String] ?? []
        let modelType = c["model_type"] as? String
        let architecture: String
        if let a = architectures.first(where: { supportedArchitectures.contains($0) }) {
            architecture = a
        } else if architectures.isEmpty, let m = modelType, m == "llama" || m == "mistral" {
            architecture = m == "llama" ? "LlamaForCausalLM" : "MistralForCausalLM"
        } else {
            let found = architectures.isEmpty ? "model_type \(modelType ?? "(none)")" : architectures.joined(separator: ", ")
            throw HATIOError(.unsupported, path: path, tensor: "architectures",
                             "architecture \(found) is not supported; convert-backbone reads \(supportedArchitectures.joined(separator: " and ")) (Hugging Face) or GGUF with general.architecture = llama")
        }
        if let act = c["hidden_act"] as? String, act != "silu" {
            throw HATIOError(.unsupported, path: path, tensor: "hidden_act", "is \"\(act)\"; the Llama block implements SwiGLU with silu only")
        }
        for f in ["attention_bias", "mlp_bias"] where (c[f] as? Bool) == true {
            throw HATIOError(.unsupported, path: path, tensor: f, "is true; the Llama block has no biases")
        }

        let hidden = try required("hidden_size")
        let heads = try required("num_attention_heads")
        var config = LlamaSourceConfig(
            architecture: architecture, hiddenSize: hidden, numLayers: try required("num_hidden_layers"),
            numHeads: heads, numKVHeads: try int("num_key_value_heads") ?? heads,
            headDim: try int("head_dim") ?? (heads > 0 ? hidden / heads : 0),
            intermediateSize: try required("intermediate_size"),
            rmsNormEps: try double("rms_norm_eps") ?? 1e-6, ropeTheta: 10000,
            ropeScaling: nil, slidingWindow: try int("sliding_window"), vocabSize: try int("vocab_size"),
            maxPositionEmbeddings: try int("max_position_embeddings"),
            tieWordEmbeddings: (c["tie_word_embeddings"] as? Bool) ?? false)

        // transformers 5: rope_parameters {rope_type, rope_theta, …}; 4.x: rope_theta + rope_scaling
        let ropeParameters = c["rope_parameters"] as? [String: Any]
        let scaling = (c["rope_scaling"] as? [String: Any]) ?? ropeParameters
        if let t = try double("rope_theta", in: ropeParameters) ?? double("rope_theta") { config.ropeTheta = t }
        if let s = scaling {
            let type = (s["rope_type"] as? String) ?? (s["type"] as? String) ?? "default"
            if type != "default" {
                config.ropeScaling = RopeScaling(
                    ropeType: type, factor: try double("factor", in: s), lowFreqFactor: try double("low_freq_factor", in: s),
                    highFreqFactor: try double("high_freq_factor", in: s),
                    originalMaxPositionEmbeddings: try int("original_max_position_embeddings", in: s), supported: false)
                config.warnings.append("rope scaling \"\(type)\" is recorded but NOT implemented by hat's Llama block: the backbone will see unscaled rotary angles")
            }
        }
        if let w = config.slidingWindow {
            config.warnings.append("the source uses sliding-window attention (window \(w)); it is recorded as sliding_window")
        }
        try config.validate(path: path)
        return config
    }
}

// MARK: - GGUF

public final class GGUFCheckpoint: LlamaCheckpoint {
    public let path: String
    public let format = "gguf"
    public let config: LlamaSourceConfig
    public let file: GGUFFile
    public let tensorShapes: [(name: String, shape: [Int])]
    public var weightFiles: [String] { [path] }
    /// Hugging Face name → GGUF name.
    private let ggufName: [String: String]

    public init(path: String) throws {
        self.path = path
        file = try GGUFFile(path: path)
        config = try Self.readConfig(file)
        var map: [String: String] = [:]
        var shapes: [(name: String, shape: [Int])] = []
        for t in file.tensors {
            let hf = Self.huggingFaceName(t.name) ?? t.name
            map[hf] = t.name
            shapes.append((hf, t.shape))
        }
        ggufName = map
        tensorShapes = shapes
    }

    /// GGUF llama tensor names → Hugging Face names (nil for names with no HF counterpart).
    public static func huggingFaceName(_ g: String) -> String? {
        switch g {
        case "token_embd.weight": return "model.embed_tokens.weight"
        case "output_norm.weight": return "model.norm.weight"
        case "output.weight": return "lm_head.weight"
        default: break
        }
        let parts = g.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, parts[0] == "blk", let i = Int(parts[1]) else { return nil }
        let suffix: String
        switch parts[2] {
        case "attn_norm.weight": suffix = "input_layernorm.weight"
        case "attn_q.weight": suffix = "self_attn.q_proj.weight"
        case "attn_k.weight": suffix = "self_attn.k_proj.weight"
        case "attn_v.weight": suffix = "self_attn.v_proj.weight"
        case "attn_output.weight": suffix = "self_attn.o_proj.weight"
        case "ffn_norm.weight": suffix = "post_attention_layernorm.weight"
        case "ffn_gate.weight": suffix = "mlp.gate_proj.weight"
        case "ffn_up.weight": suffix = "mlp.up_proj.weight"
        case "ffn_down.weight": suffix = "mlp.down_proj.weight"
        default: return nil
        }
        return "model.layers.\(i).\(suffix)"
    }

    static func readConfig(_ f: GGUFFile) throws -> LlamaSourceConfig {
        let path = f.path
        guard let arch = f.architecture else {
            throw HATIOError(.badConfig, path: path, tensor: "general.architecture", "is missing")
        }
        guard arch == "llama" else {
            throw HATIOError(.unsupported, path: path, tensor: "general.architecture",
                             "architecture \"\(arch)\" is not supported; convert-backbone reads GGUF with architecture llama (Llama, Mistral) or Hugging Face \(HFCheckpoint.supportedArchitectures.joined(separator: "/"))")
        }
        func value(_ key: String) -> GGUFValue? { f.metadata["\(arch).\(key)"] }
        func int(_ key: String) throws -> Int? {
            guard let v = value(key) else { return nil }
            guard let i = v.int else { throw HATIOError(.badConfig, path: path, tensor: "\(arch).\(key)", "is \(v.typeName), expected an integer") }
            return i
        }
        func required(_ key: String) throws -> Int {
            guard let v = try int(key) else { throw HATIOError(.badConfig, path: path, tensor: "\(arch).\(key)", "is missing") }
            return v
        }
        func double(_ key: String) throws -> Double? {
            guard let v = value(key) else { return nil }
            guard let d = v.double else { throw HATIOError(.badConfig, path: path, tensor: "\(arch).\(key)", "is \(v.typeName), expected a number") }
            return d
        }
        let hidden = try required("embedding_length")
        let heads = try required("attention.head_count")
        var vocab = f.metadata["tokenizer.ggml.tokens"]?.array?.count
        if vocab == nil, let t = try? f.info("token_embd.weight") { vocab = t.dims.count == 2 ? t.dims[1] : nil }
        if vocab == nil { vocab = try int("vocab_size") }
        let headDim = try int("attention.key_length") ?? (heads > 0 ? hidden / heads : 0)
        var config = LlamaSourceConfig(
            architecture: arch, hiddenSize: hidden, numLayers: try required("block_count"), numHeads: heads,
            numKVHeads: try int("attention.head_count_kv") ?? heads, headDim: headDim,
            intermediateSize: try required("feed_forward_length"),
            rmsNormEps: try double("attention.layer_norm_rms_epsilon") ?? 1e-5,
            ropeTheta: try double("rope.freq_base") ?? 10000, ropeScaling: nil,
            slidingWindow: nil, vocabSize: vocab, maxPositionEmbeddings: try int("context_length"),
            tieWordEmbeddings: !f.contains("output.weight"))
        if let rd = try int("rope.dimension_count"), rd != headDim {
            throw HATIOError(.unsupported, path: path, tensor: "\(arch).rope.dimension_count",
                             "is \(rd) but the head size is \(headDim); partial rotary embeddings are not supported")
        }
        if let type = value("rope.scaling.type")?.string, type != "none" {
            config.ropeScaling = RopeScaling(ropeType: type, factor: try double("rope.scaling.factor"), lowFreqFactor: nil, highFreqFactor: nil,
                                             originalMaxPositionEmbeddings: try int("rope.scaling.original_context_length"), supported: false)
            config.warnings.append("rope scaling \"\(type)\" is recorded but NOT implemented by hat's Llama block")
        }
        if f.contains("rope_freqs.weight") {
            let r = config.ropeScaling ?? RopeScaling(ropeType: "llama3", factor: nil, lowFreqFactor: nil, highFreqFactor: nil,
                                                      originalMaxPositionEmbeddings: nil, supported: false)
            config.ropeScaling = r
            config.warnings.append("the GGUF has rope_freqs.weight (Llama 3 frequency scaling); it is NOT applied by hat's Llama block")
        }
        try config.validate(path: path)
        return config
    }

    public func storageType(_ name: String) -> String {
        ggufName[name].flatMap { try? file.info($0).type.name } ?? "?"
    }

    public func storedBytes(_ name: String) -> Int {
        ggufName[name].flatMap { try? file.info($0).fileRange.count } ?? 0
    }

    public func read(_ name: String, into dst: UnsafeMutablePointer<Float>, count: Int) throws {
        guard let g = ggufName[name] else { throw HATIOError(.missingTensor, path: path, tensor: name, "no such tensor") }
        let t = try file.info(g)
        guard count == t.count else {
            throw HATIOError(.usage, path: path, tensor: g, "asked for \(count) elements but \(t.shape) has \(t.count)")
        }
        let heads: Int? = g.hasSuffix(".attn_q.weight") ? config.numHeads : g.hasSuffix(".attn_k.weight") ? config.numKVHeads : nil
        guard let heads else {
            try file.dequantize(g, into: dst, count: count)
            return
        }
        // llama.cpp stored q/k rows as [heads, R/2, 2] of the Hugging Face [heads, 2, R/2] (R rows per head)
        let rows = t.rows, cols = t.rowLength
        guard rows % (2 * heads) == 0 else {
            throw HATIOError(.badShape, path: path, tensor: g, "\(rows) rows cannot be split into \(heads) heads of an even size")
        }
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: count)   // [rows, cols] GGUF order
        defer { scratch.deallocate() }
        try file.dequantize(g, into: scratch, count: count)
        unpermuteRows(scratch, dst, rows: rows, cols: cols, heads: heads)
    }

    public func release(_ name: String) {
        guard let g = ggufName[name], let t = try? file.info(g) else { return }
        file.file.adviseDone(t.fileRange)
    }

    public func blockType(_ name: String) -> GGMLType? {
        guard let g = ggufName[name], let t = try? file.info(g), t.type.blockSize > 1 else { return nil }
        return t.type
    }

    public func readBlocks(_ name: String, into dst: UnsafeMutableRawPointer, byteCount: Int) throws {
        guard let g = ggufName[name] else { throw HATIOError(.missingTensor, path: path, tensor: name, "no such tensor") }
        let t = try file.info(g)
        guard byteCount == t.fileRange.count, t.rows * t.rowBytes == byteCount else {
            throw HATIOError(.usage, path: path, tensor: g, "asked for \(byteCount) bytes but it stores \(t.fileRange.count)")
        }
        let src = UnsafeRawPointer(file.file.base! + t.fileRange.lowerBound)
        let heads: Int? = g.hasSuffix(".attn_q.weight") ? config.numHeads : g.hasSuffix(".attn_k.weight") ? config.numKVHeads : nil
        guard let heads else {
            dst.copyMemory(from: src, byteCount: byteCount)
            return
        }
        guard t.rows % (2 * heads) == 0 else {
            throw HATIOError(.badShape, path: path, tensor: g, "\(t.rows) rows cannot be split into \(heads) heads of an even size")
        }
        for r in 0..<t.rows {
            let source = permutedRow(r, rows: t.rows, heads: heads)
            (dst + r * t.rowBytes).copyMemory(from: src + source * t.rowBytes, byteCount: t.rowBytes)
        }
    }
}

/// The GGUF row that holds Hugging Face row r of a q or k projection (llama.cpp stores each head's
/// rows [R/2, 2] where Hugging Face has [2, R/2], R = rows / heads).
func permutedRow(_ r: Int, rows: Int, heads: Int) -> Int {
    let perHead = rows / heads, half = perHead / 2
    let h = r / perHead, rem = r % perHead
    let j = rem / half, i = rem % half
    return h * perHead + 2 * i + j
}

/// Inverse of llama.cpp's q/k permutation: Hugging Face row (h, j, i) ← GGUF row (h, i, j),
/// with R = rows / heads rows per head, j ∈ {0, 1} the half, i < R/2.
public func unpermuteRows(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, rows: Int, cols: Int, heads: Int) {
    for r in 0..<rows {
        (dst + r * cols).update(from: src + permutedRow(r, rows: rows, heads: heads) * cols, count: cols)
    }
}
