// Helpers shared by the HATTokenizer tests: the committed fixtures (written by
// scripts/make_tokenizer_fixtures.py; see Fixtures/MANIFEST.json), the tokenizers loaded from them
// once, a writer of small GGUF files for loader and hostile-input tests, and a seeded generator.

import Foundation
import HATTokenizer
import Testing

/// Directory of the committed fixtures (Tests/HATTokenizerTests/Fixtures).
let fixturesPath: String = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path

struct CaseFile: Decodable {
    struct Case: Decodable {
        var source: String
        var text: String
        var smollm2: [Int]
        var tiny_llama: [Int]
        /// transformers' SmolLM2 tokenizer from the GGUF (plain GPT-2 split), where it differs.
        var smollm2_gpt2: [Int]?
        var smollm2_decoded: String?
        var tiny_llama_decoded: String?
    }
    var cases: [Case]
}

struct DecodeCaseFile: Decodable {
    struct Case: Decodable {
        var tokenizer: String
        var ids: [Int]
        var text: String
        var text_skipping_special: String
    }
    var cases: [Case]
}

/// Loaded once per test process (they are immutable values).
enum Fixtures {
    static let cases: [CaseFile.Case] = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: fixturesPath + "/cases.json"))
        return try! JSONDecoder().decode(CaseFile.self, from: data).cases
    }()

    static let decodeCases: [DecodeCaseFile.Case] = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: fixturesPath + "/decode_cases.json"))
        return try! JSONDecoder().decode(DecodeCaseFile.self, from: data).cases
    }()

    static let smollm2: BPETokenizer = try! BPETokenizer(tokenizerJSONPath: fixturesPath + "/smollm2.tokenizer.json")
    static let tinyLlama: BPETokenizer = try! BPETokenizer(tokenizerJSONPath: fixturesPath + "/tiny_llama.tokenizer.json")
}

/// Text with spaces, tabs and line breaks made visible, cut to `limit` characters.
func visible(_ s: String, limit: Int = 80) -> String {
    var out = ""
    for u in s.unicodeScalars.prefix(limit) {
        switch u {
        case " ": out += "␣"
        case "\n": out += "↵"
        case "\r": out += "␍"
        case "\t": out += "⇥"
        default: out.unicodeScalars.append(u)
        }
    }
    return s.unicodeScalars.count > limit ? out + "…" : out
}

/// Runs `body`, expecting a TokenizerError of `kind`; returns it for further checks.
@discardableResult
func expectTokenizerError(_ kind: TokenizerError.Kind, sourceLocation: SourceLocation = #_sourceLocation,
                          _ body: () throws -> Void) -> TokenizerError? {
    do {
        try body()
    } catch let e as TokenizerError {
        if e.kind != kind { Issue.record("expected \(kind), got \(e.kind): \(e)", sourceLocation: sourceLocation) }
        return e
    } catch {
        Issue.record("expected TokenizerError \(kind), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
    Issue.record("expected TokenizerError \(kind), nothing was thrown", sourceLocation: sourceLocation)
    return nil
}

/// A fresh directory under the system temporary directory, removed when the value dies.
final class ScratchDirectory {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "hattokenizer-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let p = path + "/" + name
        _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }
}

/// A GGUF v3 file with metadata only (no tensors), little-endian, as the gguf package writes it.
struct GGUFMetadataWriter {
    enum Value {
        case string(String)
        case uint32(UInt32)
        case int32(Int32)
        case bool(Bool)
        case strings([String])
        case int32s([Int32])
    }

    var entries: [(String, Value)] = []

    subscript(key: String) -> Value? {
        get { entries.first { $0.0 == key }?.1 }
        set {
            entries.removeAll { $0.0 == key }
            if let newValue { entries.append((key, newValue)) }
        }
    }

    func bytes() -> [UInt8] {
        var b: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); b += Array(s.utf8) }
        b += Array("GGUF".utf8)
        u32(3)
        u64(0)  // tensors
        u64(UInt64(entries.count))
        for (key, value) in entries {
            str(key)
            switch value {
            case .string(let s): u32(8); str(s)
            case .uint32(let v): u32(4); u32(v)
            case .int32(let v): u32(5); u32(UInt32(bitPattern: v))
            case .bool(let v): u32(7); b.append(v ? 1 : 0)
            case .strings(let a): u32(9); u32(8); u64(UInt64(a.count)); for s in a { str(s) }
            case .int32s(let a): u32(9); u32(5); u64(UInt64(a.count)); for v in a { u32(UInt32(bitPattern: v)) }
            }
        }
        while b.count % 32 != 0 { b.append(0) }
        return b
    }

    /// A small valid byte-level tokenizer: the 256 byte tokens, "ab", "abc", "Ġa", two controls.
    static func small(pre: String = "gpt2") -> GGUFMetadataWriter {
        var tokens = (0..<256).map { String(ByteLevel.scalarForByte[$0]) }
        tokens += ["ab", "abc", "Ġa", "<s>", "</s>"]
        var w = GGUFMetadataWriter()
        w["general.architecture"] = .string("llama")
        w["tokenizer.ggml.model"] = .string("gpt2")
        w["tokenizer.ggml.pre"] = .string(pre)
        w["tokenizer.ggml.tokens"] = .strings(tokens)
        w["tokenizer.ggml.token_type"] = .int32s(tokens.indices.map { $0 >= 259 ? 3 : 1 })
        w["tokenizer.ggml.merges"] = .strings(["a b", "ab c", "Ġ a"])
        w["tokenizer.ggml.bos_token_id"] = .uint32(259)
        w["tokenizer.ggml.eos_token_id"] = .uint32(260)
        w["tokenizer.ggml.add_bos_token"] = .bool(true)
        return w
    }
}

/// SplitMix64: small, seeded, the same on every machine.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
