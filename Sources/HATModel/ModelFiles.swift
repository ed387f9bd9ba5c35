// ModelFiles: a model directory is `config.json` (HATConfig) beside `model.safetensors`
// (tensors named as in ARCHITECTURE.md §3, f32 or bf16). Loading checks the weights against
// the config: every expected tensor present with its shape, nothing extra; errors list the
// missing and extra names and name the file. Files are written to a temporary name, then renamed.
// Nothing is allocated for the weights until the config is valid, the file's header matches it
// and the parameters fit the machine's memory (MemoryPlan).

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

    /// Writes `config.json` and `model.safetensors` into `directory` (created if needed).
    public static func save(config: HATConfig, parameters: ParameterSet, to directory: String, dtype: DType = .f32,
                            metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try writeWeights(parameters, to: (directory as NSString).appendingPathComponent(weightsName), dtype: dtype,
                         metadata: metadata.merging(["format": "pt", "producer": "hat"]) { a, _ in a })
        try AtomicFile.write(Array(try config.encoded()), to: (directory as NSString).appendingPathComponent(configName))
    }

    /// Writes every entry of `parameters` to one safetensors file (atomically).
    public static func writeWeights(_ parameters: ParameterSet, to path: String, dtype: DType,
                                    metadata: [String: String]) throws {
        let writer = try SafeTensorsWriter(path: path, tensors: parameters.entries.map { ($0.name, $0.shape) },
                                           dtype: dtype, metadata: metadata)
        for entry in parameters.entries {
            try writer.write(entry.name, from: parameters.values + entry.offset, count: entry.count)
        }
        try writer.finish()
    }

    /// Reads a model directory: the config (validated) and its parameters. The weights file's
    /// header is checked against the config (every tensor present with its shape) and the
    /// parameters' memory against the machine before the parameters are allocated.
    /// `weights` other than f32 packs the matrices so (for decoding: ParameterSet.packMatrices);
    /// nil holds them as the file stores them: bf16 when every matrix is stored in BF16, else f32.
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
        let config = try HATConfig.load(path: configPath)
        let specs = HierarchicalModel.parameterSpecs(config)
        let weightsPath = (directory as NSString).appendingPathComponent(weightsName)
        let file = try openWeights(weightsPath)
        try match(file, specs, optional: { _ in false }, ignoreExtra: { _ in false })
        let format = try weights ?? (specs.filter(\.decays).allSatisfy { try file.info($0.name).dtype == .bf16 } ? .bf16 : .f32)
        let parameters = try MemoryPlan.allocateParameters(config, for: directory)
        // Each matrix is packed as soon as it is read, so loading holds one matrix in float32 at a time.
        try parameters.fill({ try read(file, $0, into: parameters) }, packing: { format.format(forRowsOf: $0.shape.last!) })
        return (config, parameters)
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
        for i in 0..<entry.count where !parameters.values[entry.offset + i].isFinite {
            throw ModelFileError(path: file.path, "tensor \(entry.name) holds a non-finite value at element \(i)")
        }
    }

    private static func summarize(_ names: [String]) -> String {
        names.count <= 12 ? names.joined(separator: ", ") : names.prefix(12).joined(separator: ", ") + ", …"
    }
}
