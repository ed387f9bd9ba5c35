// ModelFiles: a model directory is `config.json` (HATConfig) beside `model.safetensors`
// (tensors named as in ARCHITECTURE.md §3, f32 or bf16). Loading checks the weights against
// the config: every expected tensor present with its shape, nothing extra; errors list the
// missing and extra names and name the file. Files are written to a temporary name, then renamed.
// Nothing is allocated for the weights until the config is valid, the file's header matches it
// and the parameters fit the machine's memory (MemoryPlan). A config with `backbone_source` keeps
// the backbone's blocks in the pretrained file they were grafted from (checked by SHA-256 at load,
// left out at save); model.safetensors then holds only the local tensors.

import Foundation
import HATIO
import HATTensor

public struct ModelFileError: Error, CustomStringConvertible {
    public let path: String
    public let message: String
    public init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}

public enum ModelFiles {
    public static let configName = "config.json"
    public static let weightsName = "model.safetensors"

    /// Writes `config.json` and `model.safetensors` into `directory` (created if needed). A config
    /// with a `backbone_source` leaves the backbone's blocks out (they are the source file's) and
    /// records the source's path relative to `directory`.
    public static func save(config: HATConfig, parameters: ParameterSet, to directory: String, dtype: DType = .f32,
                            metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var written = config
        if let source = config.backboneSource {
            written.backboneSource?.path = relativePath(of: absolutePath(source.path, in: FileManager.default.currentDirectoryPath),
                                                        from: absolutePath(directory, in: FileManager.default.currentDirectoryPath))
        }
        try writeWeights(parameters, to: (directory as NSString).appendingPathComponent(weightsName), dtype: dtype,
                         metadata: metadata.merging(["format": "pt", "producer": "hat"]) { a, _ in a },
                         including: { config.backboneSource == nil || !isBackbone($0) })
        try AtomicFile.write(Array(try written.encoded()), to: (directory as NSString).appendingPathComponent(configName))
    }

    /// Writes the entries of `parameters` whose names `including` accepts (all by default) to
    /// one safetensors file (atomically).
    public static func writeWeights(_ parameters: ParameterSet, to path: String, dtype: DType,
                                    metadata: [String: String], including: (String) -> Bool = { _ in true }) throws {
        let entries = parameters.entries.filter { including($0.name) }
        let writer = try SafeTensorsWriter(path: path, tensors: entries.map { ($0.name, $0.shape) },
                                           dtype: dtype, metadata: metadata)
        for entry in entries {
            try writer.write(entry.name, from: parameters.values + entry.offset, count: entry.count)
        }
        try writer.finish()
    }

    /// True for the backbone's tensors (`backbone.layers.{i}.*`).
    public static func isBackbone(_ name: String) -> Bool { name.hasPrefix("backbone.") }

    /// Reads a model directory: the config (validated) and its parameters. The weights file's
    /// header is checked against the config (every tensor present with its shape) and the
    /// parameters' memory against the machine before the parameters are allocated.
    /// `weights` other than f32 packs the matrices so (for decoding: ParameterSet.packMatrices);
    /// nil holds them as the files store them: the local matrices in bf16 when every one is stored
    /// in BF16, else f32; the blocks of a `backbone_source` in the source's own ggml blocks where
    /// the packed kernels read them (Q8_0, Q4_1, Q4_K: the numbers the float32 path reads), else f32.
    /// With a `backbone_source` the backbone's blocks are read from that file (made absolute in
    /// the returned config) once its SHA-256 matches the config's.
    public static func load(from directory: String, weights: WeightFormat? = .f32) throws -> (config: HATConfig, parameters: ParameterSet) {
        let configPath = (directory as NSString).appendingPathComponent(configName)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw ModelFileError(path: directory, "no such directory (a model directory holds config.json and model.safetensors)")
        }
        guard isDirectory.boolValue else {
            throw ModelFileError(path: directory, "is a file, not a model directory (config.json and model.safetensors)")
        }
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw ModelFileError(path: directory, "no \(configName) here: not a model directory")
        }
        var config = try HATConfig.load(path: configPath)
        let allSpecs = HierarchicalModel.parameterSpecs(config)
        let weightsPath = (directory as NSString).appendingPathComponent(weightsName)
        let file = try openWeights(weightsPath)
        var backbone: ExternalBackbone?
        if let source = config.backboneSource {
            config.backboneSource?.path = absolutePath(source.path, in: absolutePath(directory, in: FileManager.default.currentDirectoryPath))
            backbone = try ExternalBackbone(config.backboneSource!, specs: allSpecs.filter { isBackbone($0.name) },
                                            config: config.backboneConfig, model: configPath)
        }
        let specs = backbone == nil ? allSpecs : allSpecs.filter { !isBackbone($0.name) }
        try match(file, specs, optional: { _ in false }, ignoreExtra: { _ in false })
        let localFormat = try weights ?? (specs.filter(\.decays).allSatisfy { try file.info($0.name).dtype == .bf16 } ? .bf16 : .f32)
        let parameters = try MemoryPlan.allocateParameters(config, for: directory)
        // Each matrix is packed as soon as it is read, so loading holds one matrix in float32 at a time.
        try parameters.fill({ entry in
            if let backbone, isBackbone(entry.name) {
                try backbone.read(entry.name, into: parameters.values + entry.offset, count: entry.count)
            } else {
                try read(file, entry, into: parameters)
            }
        }, packing: { entry in
            // As stored, a source's block matrices keep their blocks and its other matrices their float32 values.
            if weights == nil, let backbone, isBackbone(entry.name) { return backbone.storedFormat(entry) ?? .f32 }
            return localFormat.format(forRowsOf: entry.shape.last!)
        }, storedBytes: { entry, bytes, count in
            // Asked only for packed matrices: a backbone one held as stored is in the source's own blocks.
            guard weights == nil, let backbone, isBackbone(entry.name) else { return false }
            try backbone.readBlocks(entry, into: bytes, byteCount: count)
            return true
        })
        return (config, parameters)
    }

    /// The backbone's blocks read from their source file (config `backbone_source`): the file is
    /// checked by SHA-256 and its tensors against the config's shapes before anything is read.
    struct ExternalBackbone {
        let checkpoint: LlamaCheckpoint
        /// Source name (Hugging Face, e.g. model.layers.3.mlp.up_proj.weight) of each backbone tensor.
        let sourceNames: [String: String]

        init(_ source: BackboneSource, specs: [ParameterSpec], config: TransformerConfig, model: String) throws {
            guard FileManager.default.fileExists(atPath: source.path) else {
                throw ModelFileError(path: model, "the backbone's source file \(source.path) (backbone_source.path) is missing"
                                     + (source.fetch.map { "; fetch it with: \($0)" } ?? ""))
            }
            let checkpoint = try openLlamaCheckpoint(source.path)
            let main = checkpoint.weightFiles.first ?? source.path
            let sha256 = try SHA256.file(main)
            guard sha256 == source.sha256 else {
                throw ModelFileError(path: main, "has SHA-256 \(sha256), but \(model) (backbone_source.sha256) needs \(source.sha256): "
                                     + "not the file this model's backbone was trained with")
            }
            try self.init(checked: checkpoint, specs: specs, config: config, model: model)
        }

        /// The backbone of an opened source file whose SHA-256 has been checked (or, on export, recorded).
        init(checked checkpoint: LlamaCheckpoint, specs: [ParameterSpec], config: TransformerConfig, model: String) throws {
            let main = checkpoint.weightFiles.first ?? checkpoint.path
            let plan = try BackboneConversion.plan(checkpoint)
            let shapes = Dictionary(plan.map { ($0.output, $0.shape) }, uniquingKeysWith: { a, _ in a })
            for spec in specs where shapes[spec.name] != spec.shape {
                throw ModelFileError(path: main, "tensor \(spec.name) is \(shapes[spec.name].map { "\($0)" } ?? "absent"), "
                                     + "the backbone of \(model) needs \(spec.shape)")
            }
            guard plan.count == specs.count else {
                throw ModelFileError(path: main, "has \(checkpoint.config.numLayers) blocks, the backbone of \(model) has \(config.numHiddenLayers)")
            }
            let c = checkpoint.config
            guard Float(c.rmsNormEps) == config.rmsNormEps, Float(c.ropeTheta) == config.ropeTheta else {
                throw ModelFileError(path: main, "rms_norm_eps \(c.rmsNormEps) and rope_theta \(c.ropeTheta) differ from the backbone_config of \(model) "
                                     + "(\(config.rmsNormEps), \(config.ropeTheta))")
            }
            self.checkpoint = checkpoint
            sourceNames = Dictionary(plan.map { ($0.output, $0.source) }, uniquingKeysWith: { a, _ in a })
        }

        /// Reads the backbone tensor `tensor` (`count` floats) in float32 and gives its file pages
        /// back; refuses a non-finite value.
        func read(_ tensor: String, into values: UnsafeMutablePointer<Float>, count: Int) throws {
            let name = sourceNames[tensor]!
            defer { checkpoint.release(name) }
            try checkpoint.read(name, into: values, count: count)
            try HATIOError.requireFinite(values, count: count, path: checkpoint.path, tensor: name)
        }

        /// The packed format of the source's own blocks for this tensor, when the packed kernels read them.
        func storedFormat(_ entry: ParameterSet.Entry) -> WeightFormat? {
            guard let format = checkpoint.blockType(sourceNames[entry.name]!).flatMap(WeightFormat.init(blocks:)),
                  format.format(forRowsOf: entry.shape.last!) == format else { return nil }
            return format
        }

        func readBlocks(_ entry: ParameterSet.Entry, into bytes: UnsafeMutableRawPointer, byteCount: Int) throws {
            let name = sourceNames[entry.name]!
            defer { checkpoint.release(name) }
            try checkpoint.readBlocks(name, into: bytes, byteCount: byteCount)
        }
    }

    /// The `backbone_source` naming `file` for a model whose backbone equals that file's blocks
    /// value for value (a backbone grafted from it and kept frozen); an error naming the first
    /// tensor and element that differ otherwise.
    public static func backboneSource(equalTo parameters: ParameterSet, config: HATConfig, file: String,
                                      fetch: String?) throws -> BackboneSource {
        let absolute = absolutePath(file, in: FileManager.default.currentDirectoryPath)
        let checkpoint = try openLlamaCheckpoint(absolute)
        let source = BackboneSource(path: absolute, sha256: try SHA256.file(checkpoint.weightFiles.first ?? absolute), fetch: fetch)
        let specs = parameters.entries.map(\.spec).filter { isBackbone($0.name) }
        let backbone = try ExternalBackbone(checked: checkpoint, specs: specs, config: config.backboneConfig, model: "the model")
        let theirs = UnsafeMutablePointer<Float>.allocate(capacity: specs.map(\.count).max() ?? 1)
        defer { theirs.deallocate() }
        for spec in specs {
            try backbone.read(spec.name, into: theirs, count: spec.count)
            let mine = parameters.value(spec.name).data
            if let k = (0..<spec.count).first(where: { mine[$0].bitPattern != theirs[$0].bitPattern }) {
                throw ModelFileError(path: file, "tensor \(spec.name) differs from the model's at element \(k) (\(theirs[k]) in the file, "
                                     + "\(mine[k]) in the model): the backbone is not this file's (was it trained?)")
            }
        }
        return source
    }

    /// `path` made absolute against `base` (an absolute directory), with `.` and `..` resolved.
    public static func absolutePath(_ path: String, in base: String) -> String {
        let joined = path.hasPrefix("/") ? path : (base as NSString).appendingPathComponent(path)
        return (joined as NSString).standardizingPath
    }

    /// The relative path from directory `base` to `path` (both absolute and standardized).
    static func relativePath(of path: String, from base: String) -> String {
        let target = path.split(separator: "/"), from = base.split(separator: "/")
        var common = 0
        while common < min(target.count, from.count) && target[common] == from[common] { common += 1 }
        let parts = Array(repeating: "..", count: from.count - common) + target[common...].map(String.init)
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }

    /// Fills `parameters` from a safetensors file. The file must hold exactly the names
    /// `parameters` has, except names for which `optional` is true (those may be absent and
    /// keep their values), with the same shapes.
    public static func readWeights(into parameters: ParameterSet, from path: String,
                                   optional: (String) -> Bool = { _ in false },
                                   ignoreExtra: (String) -> Bool = { _ in false }) throws {
        let file = try openWeights(path)
        try match(file, parameters.entries.map(\.spec), optional: optional, ignoreExtra: ignoreExtra)
        for entry in parameters.entries {
            try read(file, entry, into: parameters)
        }
    }

    private static func openWeights(_ path: String) throws -> SafeTensorsFile {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelFileError(path: path, "file not found")
        }
        return try SafeTensorsFile(path: path)
    }

    /// Checks the file's tensor names and shapes against `specs` (nothing is read or allocated).
    private static func match(_ file: SafeTensorsFile, _ specs: [ParameterSpec], optional: (String) -> Bool,
                              ignoreExtra: (String) -> Bool) throws {
        let path = file.path
        let present = Set(file.names)
        let expected = Set(specs.map(\.name))
        let missing = expected.subtracting(present).filter { !optional($0) }.sorted()
        let extra = present.subtracting(expected).filter { !ignoreExtra($0) }.sorted()
        if !missing.isEmpty || !extra.isEmpty {
            var lines: [String] = ["the tensors do not match the config"]
            if !missing.isEmpty { lines.append("missing (\(missing.count)): " + summarize(missing)) }
            if !extra.isEmpty { lines.append("extra (\(extra.count)): " + summarize(extra)) }
            throw ModelFileError(path: path, lines.joined(separator: "\n  "))
        }
        for spec in specs where present.contains(spec.name) {
            let info = try file.info(spec.name)
            guard info.shape == spec.shape else {
                throw ModelFileError(path: path, "tensor \(spec.name) has shape \(info.shape), the config needs \(spec.shape)")
            }
            guard info.dtype.isReadableAsFloat else {
                throw ModelFileError(path: path, "tensor \(spec.name) is \(info.dtype.rawValue); weights must be F32, F16, BF16 or F64")
            }
        }
    }

    /// Reads one tensor `match` accepted into its entry of `parameters` (an entry the file does not
    /// hold keeps its values) and gives the file's pages for it back; refuses a non-finite value.
    private static func read(_ file: SafeTensorsFile, _ entry: ParameterSet.Entry, into parameters: ParameterSet) throws {
        guard file.contains(entry.name) else { return }
        defer { file.release(entry.name) }
        try file.read(entry.name, into: parameters.values + entry.offset, count: entry.count)
        try HATIOError.requireFinite(parameters.values + entry.offset, count: entry.count, path: file.path, tensor: entry.name)
    }

    private static func summarize(_ names: [String]) -> String {
        names.count <= 12 ? names.joined(separator: ", ") : names.prefix(12).joined(separator: ", ") + ", …"
    }
}
