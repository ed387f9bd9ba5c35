// Backbone conversion: a pretrained Llama-family checkpoint → `DIR/model.safetensors` holding only
// the transformer blocks as `backbone.layers.{i}.*` (Hugging Face names and [out, in] shapes) plus
// `DIR/config.json` (BackboneFileConfig). The token embedding, final norm and LM head are dropped,
// or kept in `DIR/token_head.safetensors` on request. Streams one tensor at a time into a temporary
// directory that replaces DIR only when complete (AtomicDirectory: an existing, non-empty DIR only
// with `force`, never an input). A NaN or infinity in the source is refused, naming tensor and index.
// Shapes: C hidden, H heads, G kv heads, D head size, F FFN width, V vocabulary, L layers.

import Foundation

/// `DIR/config.json` of a converted backbone (snake_case, sorted keys).
public struct BackboneFileConfig: Codable, Sendable, Equatable {
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var intermediateSize: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling?
    public var slidingWindow: Int?
    /// Stored dtype of model.safetensors ("F32" or "BF16").
    public var dtype: String
    public var warnings: [String]?
    public var source: Source

    public struct Source: Codable, Sendable, Equatable {
        public var path: String
        public var format: String               // "gguf" | "safetensors"
        public var architecture: String
        /// SHA-256 of the main weights file (the GGUF, model.safetensors or the shard index).
        public var sha256: String
        /// SHA-256 of every weights file by name (shards included).
        public var files: [String: String]
        /// Storage types of the converted tensors, e.g. "F32+Q4_1".
        public var sourceDtype: String
        public var vocabSize: Int?
        public var maxPositionEmbeddings: Int?
        public var tieWordEmbeddings: Bool
        /// True when the GGUF q/k row permutation was undone.
        public var unpermutedQK: Bool
        public var convertedBy: String

        enum CodingKeys: String, CodingKey {
            case path, format, architecture, sha256, files, sourceDtype = "source_dtype", vocabSize = "vocab_size"
            case maxPositionEmbeddings = "max_position_embeddings", tieWordEmbeddings = "tie_word_embeddings"
            case unpermutedQK = "unpermuted_qk", convertedBy = "converted_by"
        }
    }

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads", headDim = "head_dim", intermediateSize = "intermediate_size"
        case rmsNormEps = "rms_norm_eps", ropeTheta = "rope_theta", ropeScaling = "rope_scaling"
        case slidingWindow = "sliding_window", dtype, warnings, source
    }

    /// Reads and checks `DIR/config.json`.
    public static func read(_ path: String) throws -> BackboneFileConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HATIOError(.io, path: path, "cannot read (missing or unreadable)")
        }
        do {
            return try JSONDecoder().decode(BackboneFileConfig.self, from: data)
        } catch {
            throw HATIOError(.badConfig, path: path, "is not a backbone config: \(error)")
        }
    }

    public func encoded() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try e.encode(self) + Data("\n".utf8)
    }
}

public enum BackboneConversion {
    /// The nine tensors of block `i` (suffixes after `model.layers.{i}.` / `backbone.layers.{i}.`) and their shapes.
    public static func blockTensors(_ c: LlamaSourceConfig) -> [(suffix: String, shape: [Int])] {
        let C = c.hiddenSize, H = c.numHeads, G = c.numKVHeads, D = c.headDim, F = c.intermediateSize
        return [
            ("input_layernorm.weight", [C]),
            ("self_attn.q_proj.weight", [H * D, C]),
            ("self_attn.k_proj.weight", [G * D, C]),
            ("self_attn.v_proj.weight", [G * D, C]),
            ("self_attn.o_proj.weight", [C, H * D]),
            ("post_attention_layernorm.weight", [C]),
            ("mlp.gate_proj.weight", [F, C]),
            ("mlp.up_proj.weight", [F, C]),
            ("mlp.down_proj.weight", [C, F]),
        ]
    }

    /// Names the converter ignores silently (buffers some old checkpoints saved).
    static func isIgnorable(_ name: String) -> Bool { name.hasSuffix(".rotary_emb.inv_freq") }

    public struct Progress: Sendable {
        public enum Phase: Sendable { case hashing, converting, done }
        public var phase: Phase
        /// Tensor being written (converting) or file being hashed.
        public var item: String
        public var index: Int
        public var total: Int
        /// Source bytes processed so far and in all.
        public var bytesDone: Int
        public var bytesTotal: Int
    }

    public struct Report: Sendable {
        public var config: BackboneFileConfig
        public var tensorsWritten: Int
        public var modelPath: String
        public var tokenHeadPath: String?
        public var warnings: [String]
    }

    /// Checks the source against its config: every block tensor present with its shape, nothing extra.
    /// Returns the (source name, output name, shape) list of block tensors.
    public static func plan(_ src: LlamaCheckpoint) throws -> [(source: String, output: String, shape: [Int])] {
        let c = src.config
        let shapes = Dictionary(src.tensorShapes.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        var plan: [(source: String, output: String, shape: [Int])] = []
        var missing: [String] = []
        var wrong: [String] = []
        var expected = Set(["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"])
        for i in 0..<c.numLayers {
            for (suffix, shape) in blockTensors(c) {
                let name = "model.layers.\(i).\(suffix)"
                expected.insert(name)
                guard let found = shapes[name] else { missing.append(name); continue }
                if found != shape { wrong.append("\(name) has shape \(found), expected \(shape)") }
                plan.append((name, "backbone.layers.\(i).\(suffix)", shape))
            }
        }
        if shapes["model.embed_tokens.weight"] == nil { missing.append("model.embed_tokens.weight") }
        let extra = src.tensorShapes.map(\.name).filter { !expected.contains($0) && !isIgnorable($0) }
        if !missing.isEmpty || !extra.isEmpty || !wrong.isEmpty {
            func list(_ xs: [String]) -> String { xs.prefix(12).joined(separator: ", ") + (xs.count > 12 ? ", … (\(xs.count) in all)" : "") }
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing \(missing.count): \(list(missing))") }
            if !extra.isEmpty { parts.append("extra \(extra.count): \(list(extra))") }
            if !wrong.isEmpty { parts.append("wrong shape \(wrong.count): \(list(wrong))") }
            let kind: HATIOError.Kind = !missing.isEmpty ? .missingTensor : !extra.isEmpty ? .extraTensor : .badShape
            throw HATIOError(kind, path: src.path, tensor: (missing + extra).first,
                             "the tensors do not match the config (\(c.numLayers) layers, C=\(c.hiddenSize), H=\(c.numHeads), G=\(c.numKVHeads), D=\(c.headDim), F=\(c.intermediateSize)): " + parts.joined(separator: "; "))
        }
        return plan
    }

    /// Converts `src` into `outDir` (absent or empty, or replaced whole with `force`; never one of
    /// the source's files or directories). `dtype` is .f32 or .bf16.
    public static func convert(_ src: LlamaCheckpoint, outDir: String, force: Bool = false, dtype: DType = .bf16,
                               keepTokenHead: Bool = false, convertedBy: String,
                               progress: (Progress) -> Void = { _ in }) throws -> Report {
        guard dtype == .f32 || dtype == .bf16 else {
            throw HATIOError(.usage, path: outDir, "output dtype must be F32 or BF16, not \(dtype.rawValue)")
        }
        let plan = try plan(src)
        var report: Report?
        try AtomicDirectory.write(outDir, force: force, inputs: [src.path] + src.weightFiles) { temporary in
            report = try write(src, plan: plan, into: temporary, dtype: dtype, keepTokenHead: keepTokenHead,
                               convertedBy: convertedBy, progress: progress)
        }
        var done = report!
        done.modelPath = outDir + "/model.safetensors"
        done.tokenHeadPath = done.tokenHeadPath.map { _ in outDir + "/token_head.safetensors" }
        progress(Progress(phase: .done, item: "", index: plan.count, total: plan.count, bytesDone: 0, bytesTotal: 0))
        return done
    }

    /// Throws unless every value is finite (HATIOError.requireFinite) and, for a BF16 output, stays
    /// finite when rounded.
    static func requireFinite(_ values: UnsafePointer<Float>, count: Int, dtype: DType, path: String, tensor: String) throws {
        try HATIOError.requireFinite(values, count: count, path: path, tensor: tensor)
        guard dtype == .bf16 else { return }
        if let i = (0..<count).first(where: { !Half.bf16ToFloat(Half.floatToBF16(values[$0])).isFinite }) {
            throw HATIOError(.nonFinite, path: path, tensor: tensor,
                             "holds \(values[i]) at element \(i), which is infinite in BF16; refusing to convert it to BF16")
        }
    }

    /// Writes the converted files into `outDir` (a fresh temporary directory).
    static func write(_ src: LlamaCheckpoint, plan: [(source: String, output: String, shape: [Int])], into outDir: String,
                      dtype: DType, keepTokenHead: Bool, convertedBy: String,
                      progress: (Progress) -> Void) throws -> Report {
        let c = src.config

        // provenance first: hash every weights file
        var hashes: [String: String] = [:]
        let sizes = src.weightFiles.map { (try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int) ?? 0 }
        let hashTotal = sizes.reduce(0, +)
        var hashedBefore = 0
        for (k, file) in src.weightFiles.enumerated() {
            let name = (file as NSString).lastPathComponent
            hashes[name] = try SHA256.file(file) { done, _ in
                progress(Progress(phase: .hashing, item: name, index: k, total: src.weightFiles.count,
                                  bytesDone: hashedBefore + done, bytesTotal: hashTotal))
            }
            hashedBefore += sizes[k]
        }

        // the blocks, one tensor at a time through one scratch buffer
        let modelPath = outDir + "/model.safetensors"
        let metadata = ["format": "pt", "converted_by": convertedBy, "source": (src.path as NSString).lastPathComponent]
        let writer = try SafeTensorsWriter(path: modelPath, tensors: plan.map { ($0.output, $0.shape) }, dtype: dtype, metadata: metadata)
        let maxCount = plan.map { $0.shape.reduce(1, *) }.max() ?? 0
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(1, maxCount))
        defer { scratch.deallocate() }
        let bytesTotal = plan.reduce(0) { $0 + src.storedBytes($1.source) }
        var bytesDone = 0
        var storage = Set<String>()
        for (k, t) in plan.enumerated() {
            let n = t.shape.reduce(1, *)
            try src.read(t.source, into: scratch, count: n)
            try requireFinite(scratch, count: n, dtype: dtype, path: src.path, tensor: t.source)
            try writer.write(t.output, from: scratch, count: n)
            src.release(t.source)
            storage.insert(src.storageType(t.source))
            bytesDone += src.storedBytes(t.source)
            progress(Progress(phase: .converting, item: t.output, index: k, total: plan.count, bytesDone: bytesDone, bytesTotal: bytesTotal))
        }

        var tokenHeadPath: String? = nil
        var warnings = c.warnings
        if keepTokenHead {
            tokenHeadPath = outDir + "/token_head.safetensors"
            try writeTokenHead(src, path: tokenHeadPath!, dtype: dtype, convertedBy: convertedBy, warnings: &warnings)
        }

        let fileConfig = BackboneFileConfig(
            hiddenSize: c.hiddenSize, numHiddenLayers: c.numLayers, numAttentionHeads: c.numHeads,
            numKeyValueHeads: c.numKVHeads, headDim: c.headDim, intermediateSize: c.intermediateSize,
            rmsNormEps: c.rmsNormEps, ropeTheta: c.ropeTheta, ropeScaling: c.ropeScaling, slidingWindow: c.slidingWindow,
            dtype: dtype.rawValue, warnings: warnings.isEmpty ? nil : warnings,
            source: .init(path: src.path, format: src.format, architecture: c.architecture,
                          sha256: hashes[(src.weightFiles[0] as NSString).lastPathComponent] ?? "",
                          files: hashes, sourceDtype: storage.sorted().joined(separator: "+"),
                          vocabSize: c.vocabSize, maxPositionEmbeddings: c.maxPositionEmbeddings,
                          tieWordEmbeddings: c.tieWordEmbeddings, unpermutedQK: src.format == "gguf",
                          convertedBy: convertedBy))
        // weights first, config last: a directory with a config always has complete weights
        try writer.finish()
        try AtomicFile.write(try fileConfig.encoded(), to: outDir + "/config.json")
        return Report(config: fileConfig, tensorsWritten: plan.count, modelPath: modelPath, tokenHeadPath: tokenHeadPath, warnings: warnings)
    }

    /// embed_tokens [V, C], norm [C], lm_head [V, C] (the embedding again when tied).
    static func writeTokenHead(_ src: LlamaCheckpoint, path: String, dtype: DType, convertedBy: String, warnings: inout [String]) throws {
        let shapes = Dictionary(src.tensorShapes.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        guard let embed = shapes["model.embed_tokens.weight"] else {
            throw HATIOError(.missingTensor, path: src.path, tensor: "model.embed_tokens.weight", "needed by --keep-token-head")
        }
        guard let norm = shapes["model.norm.weight"] else {
            throw HATIOError(.missingTensor, path: src.path, tensor: "model.norm.weight", "needed by --keep-token-head")
        }
        let head = shapes["lm_head.weight"]
        let tied = head == nil
        if tied && !src.config.tieWordEmbeddings {
            warnings.append("the source has no lm_head.weight although its config does not say the head is tied; token_head.safetensors uses the embedding")
        }
        let items: [(out: String, source: String, shape: [Int])] = [
            ("embed_tokens.weight", "model.embed_tokens.weight", embed),
            ("norm.weight", "model.norm.weight", norm),
            ("lm_head.weight", tied ? "model.embed_tokens.weight" : "lm_head.weight", head ?? embed),
        ]
        let metadata = ["format": "pt", "converted_by": convertedBy, "tied_lm_head": tied ? "true" : "false",
                        "note": tied ? "lm_head.weight is a copy of embed_tokens.weight (tied in the source)" : "lm_head.weight from the source"]
        let writer = try SafeTensorsWriter(path: path, tensors: items.map { ($0.out, $0.shape) }, dtype: dtype, metadata: metadata)
        for it in items {
            let n = it.shape.reduce(1, *)
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n))
            defer { buf.deallocate() }
            try src.read(it.source, into: buf, count: n)
            try requireFinite(buf, count: n, dtype: dtype, path: src.path, tensor: it.source)
            try writer.write(it.out, from: buf, count: n)
            src.release(it.source)
        }
        try writer.finish()
    }
}
