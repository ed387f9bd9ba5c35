// Nothing overwritten by surprise, and inputs read whatever they are (issue items 5–7):
// AtomicDirectory refuses a non-empty output without --force, an output that is or holds an
// input even with it, and a file; it replaces a directory whole and leaves the old one when the
// writing fails. Conversion refuses NaN and infinite weights by tensor and element and leaves no
// output. TextFile reads FIFOs and refuses directories. Llama sources beyond Limits are refused.

import Foundation
import HATIO
import HATTensor
import Testing

@Suite struct AtomicDirectories {
    func directory(_ dir: ScratchDirectory, _ name: String, files: [String]) throws -> String {
        let path = dir.file(name)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for f in files { dir.write(name + "/" + f, Array(f.utf8)) }
        return path
    }

    func contents(_ path: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }

    @Test func aNonEmptyOutputNeedsForceAndIsThenReplacedWhole() throws {
        let dir = ScratchDirectory()
        let out = try directory(dir, "out", files: ["config.json", "token_head.safetensors"])
        let refused = expectIOError(.usage) { try AtomicDirectory.write(out, force: false, inputs: []) { _ in } }
        #expect(refused?.message.contains("--force") == true && refused?.message.contains("token_head.safetensors") == true)
        #expect(contents(out) == ["config.json", "token_head.safetensors"])
        try AtomicDirectory.write(out, force: true, inputs: []) { tmp in
            _ = FileManager.default.createFile(atPath: tmp + "/model.safetensors", contents: Data())
        }
        #expect(contents(out) == ["model.safetensors"], "the stale token_head.safetensors is gone with the old directory")
        #expect(contents(dir.path).filter { $0.hasPrefix(".") }.isEmpty, "no temporary or old directory is left: \(contents(dir.path))")
    }

    @Test func anOutputThatIsOrHoldsAnInputIsRefusedEvenWithForce() throws {
        let dir = ScratchDirectory()
        let backbone = try directory(dir, "backbone", files: ["config.json", "model.safetensors"])
        for inputs in [[backbone], [backbone + "/model.safetensors"], [dir.path + "/./backbone/"]] {
            let e = expectIOError(.usage) { try AtomicDirectory.write(backbone, force: true, inputs: inputs) { _ in } }
            #expect(e?.message.contains("input") == true, "\(inputs)")
        }
        try FileManager.default.createSymbolicLink(atPath: dir.file("link"), withDestinationPath: backbone)
        expectIOError(.usage) { try AtomicDirectory.write(dir.file("link"), force: true, inputs: [backbone]) { _ in } }
        #expect(contents(backbone) == ["config.json", "model.safetensors"])
    }

    @Test func aFileAsOutputIsRefused() throws {
        let dir = ScratchDirectory()
        let file = dir.write("model", [1, 2, 3])
        let e = expectIOError(.usage) { try AtomicDirectory.write(file, force: true, inputs: []) { _ in } }
        #expect(e?.message.contains("not a directory") == true)
    }

    @Test func aFailureWhileWritingLeavesTheOldDirectory() throws {
        let dir = ScratchDirectory()
        let out = try directory(dir, "out", files: ["config.json"])
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try AtomicDirectory.write(out, force: true, inputs: []) { tmp in
                _ = FileManager.default.createFile(atPath: tmp + "/half.safetensors", contents: Data())
                throw Boom()
            }
        }
        #expect(contents(out) == ["config.json"])
        #expect(contents(dir.path) == ["out"], "the partial directory is removed")
    }
}

@Suite struct NonFiniteWeights {
    /// The tiny Llama fixture with one value of `tensor` replaced.
    func checkpoint(_ dir: ScratchDirectory, _ tensor: String, index: Int, value: Float) throws -> String {
        let src = fixturesPath + "/tiny_llama_f32", dst = dir.file("source")
        try FileManager.default.createDirectory(atPath: dst, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: src + "/config.json", toPath: dst + "/config.json")
        let file = try SafeTensorsFile(path: src + "/model.safetensors")
        let writer = try SafeTensorsWriter(path: dst + "/model.safetensors", tensors: file.tensors.map { ($0.name, $0.shape) }, dtype: .f32)
        for info in file.tensors {
            var values = try file.floats(info.name)
            if info.name == tensor { values[index] = value }
            try writer.write(info.name, from: values, count: values.count)
        }
        try writer.finish()
        return dst
    }

    @Test(arguments: [(Float.nan, DType.f32), (-Float.infinity, .f32), (Float.greatestFiniteMagnitude, .bf16)])
    func areRefusedByTensorAndElement(_ value: Float, _ dtype: DType) throws {
        let dir = ScratchDirectory()
        let source = try checkpoint(dir, "model.layers.1.self_attn.k_proj.weight", index: 7, value: value)
        let e = expectIOError(.nonFinite) {
            _ = try BackboneConversion.convert(try openLlamaCheckpoint(source), outDir: dir.file("out"), dtype: dtype, convertedBy: "t")
        }
        #expect(e?.tensor == "model.layers.1.self_attn.k_proj.weight" && e?.message.contains("element 7") == true, "\(String(describing: e))")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out")), "nothing is written")
    }

    @Test func aFiniteLargeValueConvertsToF32() throws {
        let dir = ScratchDirectory()
        let source = try checkpoint(dir, "model.layers.1.self_attn.k_proj.weight", index: 7, value: .greatestFiniteMagnitude)
        _ = try BackboneConversion.convert(try openLlamaCheckpoint(source), outDir: dir.file("out"), dtype: .f32, convertedBy: "t")
    }
}

@Suite struct TextInputs {
    @Test func aFIFOIsReadToItsEnd() throws {
        let dir = ScratchDirectory()
        let fifo = dir.file("pipe")
        #expect(mkfifo(fifo, 0o600) == 0)
        let text = Array(String(repeating: "Call me Ishmael. ", count: 10_000).utf8)
        let writer = Thread {
            let fd = open(fifo, O_WRONLY)
            _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        writer.start()
        #expect(try TextFile.contents(of: fifo) == text)
    }

    @Test func aDirectoryOrAMissingFileIsAClearError() throws {
        let dir = ScratchDirectory()
        let isDirectory = expectIOError(.io) { _ = try TextFile.contents(of: dir.path, what: "prompt file") }
        #expect(isDirectory?.message.contains("prompt file is a directory") == true)
        let missing = expectIOError(.io) { _ = try TextFile.contents(of: dir.file("none.txt")) }
        #expect(missing?.message.contains("No such file") == true)
        let big = dir.write("big.txt", Array(repeating: 65, count: 100))
        let tooLong = expectIOError(.io) { _ = try TextFile.contents(of: big, limit: 99) }
        #expect(tooLong?.message.contains("limit of 99 bytes") == true)
    }
}

@Suite struct LlamaSourceLimits {
    @Test(arguments: [("hidden_size", 1 << 40), ("num_hidden_layers", 100_000), ("intermediate_size", 1 << 30),
                      ("vocab_size", 1 << 30), ("rope_theta", Int(1e15))])
    func hugeNumbersAreRefusedByField(_ field: String, _ value: Int) throws {
        let dir = ScratchDirectory()
        let src = fixturesPath + "/tiny_llama_f32/config.json"
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: src))) as! [String: Any]
        config[field] = value
        config.removeValue(forKey: "rope_parameters")
        let path = dir.write("config.json", Array(try JSONSerialization.data(withJSONObject: config)))
        let e = expectIOError(.badConfig) { _ = try HFCheckpoint.readConfig(path) }
        #expect(e?.tensor == field, "\(String(describing: e))")
    }
}
