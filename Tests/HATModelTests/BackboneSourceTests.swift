// A model whose backbone stays in its pretrained file (config `backbone_source`, `hat export
// --backbone-source`): the tiny Llama GGUF is converted and grafted; the directory written holds
// only the local tensors and the file's path relative to it, and loading reads the backbone from
// the GGUF — the same numbers as the graft, every bit. Refused, by name: a backbone that is not the
// file's (a changed value), a file with another SHA-256, a missing file (with its fetch command).
// A GGUF whose blocks' matrices are quantized (Q8_0, Q4_1, as SmolLM2's file) is held as stored:
// its blocks packed as the file has them, each meaning the converted graft's numbers exactly.
// A training run that keeps the backbone frozen checkpoints only the local tensors (and loads
// back); one that trains the backbone drops `backbone_source`, so its checkpoints hold it.

import Foundation
import HATIO
import HATModel
import HATTensor
import HATTestSupport
import Testing

struct BackboneSourceTests {
    static let fixtures = TinyModel.repositoryRoot + "/Tests/HATIOTests/Fixtures/"

    /// The tiny HAT preset grafted onto the tiny Llama (a copy of its GGUF `fixture` in `directory`:
    /// F16 matrices, or layer 0's in Q8_0 and layer 1's in Q4_1).
    static func graft(in directory: TemporaryDirectory, fixture: String = "tiny_llama.gguf")
        throws -> (config: HATConfig, parameters: ParameterSet, gguf: String) {
        let gguf = directory.file("tiny_llama.gguf")
        try FileManager.default.copyItem(atPath: fixtures + fixture, toPath: gguf)
        let converted = directory.file("backbone")
        _ = try BackboneConversion.convert(try openLlamaCheckpoint(gguf), outDir: converted, dtype: .f32, convertedBy: "test")
        let (config, parameters, _) = try Graft.make(backboneDirectory: converted, preset: try TinyModel.config(), seed: 3)
        return (config, parameters, gguf)
    }

    /// The graft with its `backbone_source` set to its GGUF copy (as `hat export --backbone-source` sets it).
    static func sourcedGraft(in directory: TemporaryDirectory, fixture: String = "tiny_llama.gguf", fetch: String? = "fetch-tiny") throws
        -> (config: HATConfig, parameters: ParameterSet, gguf: String) {
        var (config, parameters, gguf) = try graft(in: directory, fixture: fixture)
        config.backboneSource = try ModelFiles.backboneSource(equalTo: parameters, config: config, file: gguf, fetch: fetch)
        return (config, parameters, gguf)
    }

    @Test func theBackboneIsReadFromItsSourceFile() throws {
        let directory = try TemporaryDirectory("backbone-source")
        let (config, parameters, gguf) = try Self.sourcedGraft(in: directory)
        let model = directory.file("models/tiny-graft")
        try ModelFiles.save(config: config, parameters: parameters, to: model, dtype: .f32)

        let stored = try SafeTensorsFile(path: model + "/" + ModelFiles.weightsName)
        #expect(!stored.names.isEmpty && stored.names.allSatisfy { !ModelFiles.isBackbone($0) }, "only the local tensors are written")
        let written = try HATConfig.load(path: model + "/" + ModelFiles.configName)
        #expect(written.backboneSource?.path == "../../tiny_llama.gguf", "the file's path relative to the model directory")
        #expect(written.backboneSource?.fetch == "fetch-tiny")

        let (loaded, read) = try ModelFiles.load(from: model)
        #expect(loaded.backboneSource?.path == gguf, "absolute once loaded, so a copy saved elsewhere still finds it")
        for entry in parameters.entries {
            let a = parameters.value(entry.name).toArray(), b = read.value(entry.name).toArray()
            #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "\(entry.name): the graft's numbers")
        }
        let (_, packed) = try ModelFiles.load(from: model, weights: .bf16)
        #expect(packed.packedMatrix("backbone.layers.1.mlp.up_proj.weight")?.format == .bf16)
        // As stored: the GGUF's F16 matrices are not blocks the packed kernels read, so they stay float32 (not bf16).
        let (_, asStored) = try ModelFiles.load(from: model, weights: nil)
        let up = "backbone.layers.1.mlp.up_proj.weight"
        #expect(asStored.packedMatrix(up) == nil && asStored.value(up).toArray() == parameters.value(up).toArray())
    }

    @Test func quantizedBlocksAreHeldAsTheFileStoresThem() throws {
        let directory = try TemporaryDirectory("backbone-source")
        let (config, parameters, _) = try Self.sourcedGraft(in: directory, fixture: "tiny_llama_q8_0_q4_1.gguf")
        let model = directory.file("model")
        try ModelFiles.save(config: config, parameters: parameters, to: model, dtype: .f32)

        let (_, widened) = try ModelFiles.load(from: model, weights: .f32)
        let (_, asStored) = try ModelFiles.load(from: model, weights: nil)
        let matrices = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
        for (layer, format) in [(0, WeightFormat.q8_0), (1, .q4_1)] {
            for matrix in matrices {
                let name = "backbone.layers.\(layer).\(matrix).weight"
                let graft = parameters.value(name).toArray()
                #expect(widened.value(name).toArray().map(\.bitPattern) == graft.map(\.bitPattern), "\(name) in float32: the graft's numbers")
                let packed = try #require(asStored.packedMatrix(name), "\(name) held as stored")
                #expect(packed.format == format && packed.rows * packed.cols == graft.count, "\(name): \(packed.format)")
                // q and k rows come back in Hugging Face's order (the file permutes them for llama.cpp's RoPE)
                var rows = [Float](repeating: .nan, count: graft.count)
                rows.withUnsafeMutableBufferPointer { packed.widenRows(0..<packed.rows, into: $0.baseAddress!) }
                #expect(rows.map(\.bitPattern) == graft.map(\.bitPattern), "\(name): its blocks mean the graft's numbers")
            }
        }
        let norm = "backbone.layers.1.input_layernorm.weight"
        #expect(asStored.packedMatrix(norm) == nil && asStored.value(norm).toArray() == parameters.value(norm).toArray())
    }

    @Test func aBackboneThatIsNotTheFilesIsRefused() throws {
        let directory = try TemporaryDirectory("backbone-source")
        let (config, parameters, gguf) = try Self.graft(in: directory)
        parameters.value("backbone.layers.0.self_attn.k_proj.weight").data[5] += 0.001
        let message = "\(try #require(throws: ModelFileError.self) { try ModelFiles.backboneSource(equalTo: parameters, config: config, file: gguf, fetch: nil) })"
        #expect(message.contains("backbone.layers.0.self_attn.k_proj.weight") && message.contains("element 5"), "\(message)")
    }

    @Test func anotherFileOrNoFileIsAClearError() throws {
        let directory = try TemporaryDirectory("backbone-source")
        let (config, parameters, gguf) = try Self.sourcedGraft(in: directory)
        let model = directory.file("model")
        try ModelFiles.save(config: config, parameters: parameters, to: model, dtype: .bf16)

        // One byte of the GGUF's last tensor changed: the hash no longer matches.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: gguf))
        var changed = bytes
        changed[changed.count - 1] ^= 1
        try changed.write(to: URL(fileURLWithPath: gguf))
        let mismatch = "\(try #require(throws: ModelFileError.self) { try ModelFiles.load(from: model) })"
        #expect(mismatch.contains("SHA-256") && mismatch.contains(gguf), "\(mismatch)")

        try FileManager.default.removeItem(atPath: gguf)
        let missing = "\(try #require(throws: ModelFileError.self) { try ModelFiles.load(from: model) })"
        #expect(missing.contains("is missing") && missing.contains("fetch it with: fetch-tiny") && missing.contains("tiny_llama.gguf"), "\(missing)")
    }

    @Test(arguments: [true, false])
    func checkpointsHoldTheBackboneOnlyWhenItTrains(frozen: Bool) throws {
        let directory = try TemporaryDirectory("backbone-source")
        let (config, parameters, _) = try Self.sourcedGraft(in: directory, fetch: nil)
        let data = try TinyCorpus.write(into: directory.file("corpus")), run = directory.file("run")
        var options = tinyOptions(data: data, steps: 4)
        if frozen { options.freeze = ["backbone"] }
        let trainer = try Trainer(runDirectory: run, options: options, config: config, parameters: parameters,
                                  context: ComputeContext(threads: 2))
        _ = try trainer.run { _ in }
        let checkpoint = try #require(try Trainer.newestCheckpoint(in: run + "/checkpoints"))
        let stored = try SafeTensorsFile(path: checkpoint + "/" + ModelFiles.weightsName)
        #expect(stored.names.contains { ModelFiles.isBackbone($0) } == !frozen)
        let (saved, reloaded) = try ModelFiles.load(from: checkpoint)
        #expect((saved.backboneSource != nil) == frozen)
        let name = "backbone.layers.0.mlp.up_proj.weight"
        #expect(reloaded.value(name).toArray() == trainer.parameters.value(name).toArray(), "the run's backbone, wherever it is read from")
    }

    @Test func aSha256ThatIsNotHexIsRefusedByName() throws {
        let directory = try TemporaryDirectory("backbone-source")
        var (config, _, _) = try Self.sourcedGraft(in: directory, fetch: nil)
        config.backboneSource?.sha256 = "ABC"
        let error = "\(try #require(throws: ConfigError.self) { try config.validate() })"
        #expect(error.contains("backbone_source.sha256"), "\(error)")
    }
}

/// The shipped graft `Models/smollm2-hat` (local weights in git, SmolLM2's blocks in the GGUF that
/// `scripts/fetch_data.py smollm2` brings): its config is valid and names the GGUF relative to the
/// model directory with its SHA-256 and fetch command; its file holds exactly the local tensors, in
/// BF16, with the config's shapes; a copy away from the GGUF fails to load with an error naming the
/// fetch command. (Loading it with the GGUF is what `hat eval --model Models/smollm2-hat` does;
/// tests do not fetch 98 MB.)
@Suite struct ShippedGraft {
    static let model = TinyModel.repositoryRoot + "/Models/smollm2-hat"

    @Test func holdsTheLocalPartsAndNamesItsBackbonesFile() throws {
        let config = try HATConfig.load(path: Self.model + "/config.json")
        let source = try #require(config.backboneSource)
        #expect(source.path == "../../data/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        #expect(source.sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")
        #expect(source.fetch == "python3 scripts/fetch_data.py smollm2")
        #expect(config.backboneConfig.numHiddenLayers == 30 && config.backboneConfig.hiddenSize == 576)

        let file = try SafeTensorsFile(path: Self.model + "/model.safetensors")
        let local = HierarchicalModel.parameterSpecs(config).filter { !ModelFiles.isBackbone($0.name) }
        #expect(Set(file.names) == Set(local.map(\.name)))
        for spec in local {
            let info = try file.info(spec.name)
            #expect(info.shape == spec.shape && info.dtype == .bf16, "\(spec.name): \(info.dtype) \(info.shape)")
        }

        let directory = try TemporaryDirectory("shipped-graft")
        let copy = directory.file("a/b")
        try FileManager.default.createDirectory(atPath: directory.file("a"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.model, toPath: copy)
        let missing = "\(try #require(throws: ModelFileError.self) { try ModelFiles.load(from: copy) })"
        #expect(missing.contains("is missing") && missing.contains("fetch it with: python3 scripts/fetch_data.py smollm2"), "\(missing)")
    }
}
