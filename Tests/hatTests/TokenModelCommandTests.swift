// The `hat` commands on a token model (issue 12): eval, info, generate and repl take a GGUF
// file as --model as they take a HAT directory; eval's JSON has the same keys for both kinds and
// --documents / --score-blocks split it; and each kind of bad token-model file (no tokenizer
// metadata, an unknown pre-tokenizer, merges naming unknown tokens, more tokens than embedding
// rows, another architecture) gives one clear error naming the file and the field. The bad files
// are the tiny token teacher with its metadata rewritten (`rewrittenGGUF`).

import Foundation
import HATIO
import HATModel
import HATTestSupport
import Testing

let tinyTeacherGGUF = TinyModel.repositoryRoot + "/Tests/HATModelTests/Fixtures/token-model/tiny_teacher.gguf"

/// The bytes of GGUF file `source` with its metadata changed by `change` (tensor infos and data
/// kept as they are, the data section re-aligned).
func rewrittenGGUF(_ source: String, _ change: (inout [(String, GGUFValue)]) -> Void) throws -> Data {
    let file = try GGUFFile(path: source)
    var entries = file.metadataKeys.map { ($0, file.metadata[$0]!) }
    change(&entries)
    var out = Data()
    func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
    func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
    func string(_ s: String) { u64(UInt64(s.utf8.count)); out.append(contentsOf: Array(s.utf8)) }
    func type(_ v: GGUFValue) -> UInt32 {
        switch v {
        case .uint8: 0; case .int8: 1; case .uint16: 2; case .int16: 3; case .uint32: 4; case .int32: 5
        case .float32: 6; case .bool: 7; case .string: 8; case .array: 9; case .uint64: 10; case .int64: 11; case .float64: 12
        }
    }
    func value(_ v: GGUFValue) {
        switch v {
        case .uint8(let x): out.append(x)
        case .int8(let x): out.append(UInt8(bitPattern: x))
        case .uint16(let x): withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
        case .int16(let x): withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
        case .uint32(let x): u32(x)
        case .int32(let x): u32(UInt32(bitPattern: x))
        case .uint64(let x): u64(x)
        case .int64(let x): u64(UInt64(bitPattern: x))
        case .float32(let x): u32(x.bitPattern)
        case .float64(let x): u64(x.bitPattern)
        case .bool(let x): out.append(x ? 1 : 0)
        case .string(let s): string(s)
        case .array(let elementType, let items):
            u32(elementType.rawValue)
            u64(UInt64(items.count))
            items.forEach(value)
        }
    }
    out.append(contentsOf: Array("GGUF".utf8))
    u32(3)
    u64(UInt64(file.tensors.count))
    u64(UInt64(entries.count))
    for (key, v) in entries {
        string(key)
        u32(type(v))
        value(v)
    }
    for t in file.tensors {
        string(t.name)
        u32(UInt32(t.dims.count))
        t.dims.forEach { u64(UInt64($0)) }
        u32(t.type.rawValue)
        u64(UInt64(t.offset))
    }
    while out.count % file.alignment != 0 { out.append(0) }
    let bytes = file.file.bytes
    out.append(contentsOf: bytes[file.dataStart..<bytes.count])
    return out
}

@Suite struct TokenModelCommandTests {
    func textFile(_ directory: String) throws -> String {
        let path = directory + "/b-text.txt"
        try String(repeating: "The quick brown fox, 42 times, jumps over the lazy dog.\n", count: 30)
            .write(toFile: path, atomically: true, encoding: .utf8)
        try "A second, shorter document.\n".write(toFile: directory + "/a-text.txt", atomically: true, encoding: .utf8)
        return path
    }

    func jsonObject(_ run: Run) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: run.stdout) as? [String: Any], "\(run.text) \(run.stderr)")
    }

    @Test func evalGivesTheSameKeysForBothKindsAndSplitsByDocument() throws {
        let scratch = try temporaryDirectory("token-eval")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        _ = try textFile(scratch)
        let hatModel = scratch + "/hat-model"
        try writeTinyModel(hatModel)
        let token = try jsonObject(try hat(["eval", "--model", tinyTeacherGGUF, "--data", scratch, "--json", "--documents"]))
        let hatRun = try jsonObject(try hat(["eval", "--model", hatModel, "--data", scratch, "--json", "--documents"]))
        #expect(Set(token.keys) == Set(hatRun.keys), "\(token.keys.sorted()) vs \(hatRun.keys.sorted())")
        #expect(token["kind"] as? String == "token" && hatRun["kind"] as? String == "hat")
        let text = try Data(contentsOf: URL(fileURLWithPath: scratch + "/b-text.txt")).count + 28
        // Every byte plus one opening byte (document-start token or EOS byte) per document.
        #expect(token["bytes"] as? Int == text + 2 && hatRun["bytes"] as? Int == text + 2)
        let units = try #require(token["per_document"] as? [[String: Any]])
        #expect(units.map { $0["name"] as? String } == ["a-text.txt", "b-text.txt"])
        #expect(units.reduce(0) { $0 + ($1["positions"] as! Int) } == token["positions"] as? Int)
        #expect(units.reduce(0) { $0 + ($1["bytes"] as! Int) } == token["predicted_bytes"] as? Int)
        #expect(units.allSatisfy { ($0["bits_per_byte"] as? Double ?? 0) > 0 })

        let blocks = try jsonObject(try hat(["eval", "--model", tinyTeacherGGUF, "--data", scratch, "--json", "--score-blocks", "500"]))
        let blockUnits = try #require(blocks["per_document"] as? [[String: Any]])
        #expect(blockUnits.count > 2 && blockUnits.contains { $0["name"] as? String == "b-text.txt#1" })
        #expect(abs((blocks["bits_per_byte"] as! Double) - (token["bits_per_byte"] as! Double)) < 1e-12)
    }

    @Test func infoGenerateAndReplTakeAGGUF() throws {
        let info = try hat(["info", tinyTeacherGGUF])
        #expect(info.status == 0, "\(info.stderr)")
        for part in ["token model, gguf", "2 layers, width 48", "pre-tokenizer llama3", "3012 tokens", "parameters:"] {
            #expect(info.text.contains(part), "\(part): \(info.text)")
        }
        let generated = try hat(["generate", "--model", tinyTeacherGGUF, "--prompt", "Hello", "--max-bytes", "12",
                                 "--temperature", "0", "--json"])
        #expect(generated.status == 0, "\(generated.stderr)")
        let object = try jsonObject(generated)
        #expect((object["bytes"] as? Int ?? 99) <= 12 && object["model"] as? String == tinyTeacherGGUF)
        let repl = try hat(["repl", "--model", tinyTeacherGGUF, "--max-bytes", "16"], input: Data("/words\nHello there\n".utf8))
        #expect(repl.status == 0 && repl.text.contains("token boundaries shown") && repl.text.contains("|"), "\(repl.text) \(repl.stderr)")
    }

    @Test(arguments: [
        ("no-tokenizer", ["tokenizer.ggml.model"]),
        ("unknown-pre", ["tokenizer.ggml.pre", "qwen2"]),
        ("unknown-merge", ["tokenizer.ggml.merges", "zzqx"]),
        ("more-tokens", ["tokenizer.ggml.tokens", "3013", "3012 rows"]),
        ("gpt2-architecture", ["general.architecture", "gpt2"]),
    ])
    func badTokenModelFilesGetOneClearErrorNamingFileAndField(name: String, words: [String]) throws {
        let scratch = try temporaryDirectory("bad-gguf")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let data = try rewrittenGGUF(tinyTeacherGGUF) { entries in
            func set(_ key: String, _ change: (GGUFValue) -> GGUFValue) {
                if let k = entries.firstIndex(where: { $0.0 == key }) { entries[k].1 = change(entries[k].1) }
            }
            switch name {
            case "no-tokenizer": entries.removeAll { $0.0.hasPrefix("tokenizer.") }
            case "unknown-pre": set("tokenizer.ggml.pre") { _ in .string("qwen2") }
            case "unknown-merge":
                set("tokenizer.ggml.merges") { v in
                    guard case .array(let t, var items) = v else { return v }
                    items[3] = .string("zzqx y")
                    return .array(t, items)
                }
            case "more-tokens":
                for key in ["tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.scores"] {
                    set(key) { v in
                        guard case .array(let t, let items) = v, let last = items.last else { return v }
                        return .array(t, items + [key.hasSuffix("tokens") ? .string("<extra>") : last])
                    }
                }
            default: set("general.architecture") { _ in .string("gpt2") }
            }
        }
        let path = scratch + "/\(name).gguf"
        try data.write(to: URL(fileURLWithPath: path))
        try "Some text.\n".write(toFile: scratch + "/t.txt", atomically: true, encoding: .utf8)
        for command in [["eval", "--model", path, "--data", scratch + "/t.txt"], ["info", path],
                        ["generate", "--model", path, "--prompt", "x"]] {
            let run = try hat(command)
            expectClearError(run, ["\(name).gguf"] + words, "\(name): hat \(command[0])")
            #expect(run.stderr.split(separator: "\n").count == 1, "\(name): one line: \(run.stderr)")
        }
    }
}
