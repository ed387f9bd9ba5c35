// Inputs of the fuzzer: valid seeds — config.json files (HAT, Hugging Face Llama, converted
// backbone), a safetensors file, a GGUF file — and the mutations that make them hostile: numbers
// replaced by hostile tokens (0, −1, 2⁶², 1e30, 1e400, 2⁶⁴, "12", null, …), fields deleted or
// added, deep nesting, header lengths, counts and offsets overwritten, bytes flipped, files cut.

import Foundation
import HATIO
import HATTensor

// MARK: - JSON with raw tokens

/// A JSON value whose scalars are raw token text, so a mutation can write what no encoder
/// would (1e400, 18446744073709551616, -0, a duplicate key).
indirect enum JSONTree {
    case object([(String, JSONTree)])
    case array([JSONTree])
    case raw(String)

    var text: String {
        switch self {
        case .raw(let token): return token
        case .array(let items): return "[" + items.map(\.text).joined(separator: ",") + "]"
        case .object(let members): return "{" + members.map { "\"\($0.0)\":" + $0.1.text }.joined(separator: ",") + "}"
        }
    }

    static func int(_ v: Int) -> JSONTree { .raw(String(v)) }
    static func string(_ s: String) -> JSONTree { .raw("\"" + s + "\"") }

    /// Sets the value at `path` (creating objects on the way, replacing non-objects).
    mutating func set(_ path: ArraySlice<String>, _ value: JSONTree) {
        guard let key = path.first else { self = value; return }
        var members: [(String, JSONTree)] = []
        if case .object(let m) = self { members = m }
        if let i = members.firstIndex(where: { $0.0 == key }) {
            members[i].1.set(path.dropFirst(), value)
        } else {
            var child = JSONTree.object([])
            child.set(path.dropFirst(), value)
            members.append((key, child))
        }
        self = .object(members)
    }

    /// Removes the value at `path`, if present.
    mutating func remove(_ path: ArraySlice<String>) {
        guard let key = path.first, case .object(var members) = self else { return }
        if path.count == 1 {
            members.removeAll { $0.0 == key }
        } else if let i = members.firstIndex(where: { $0.0 == key }) {
            members[i].1.remove(path.dropFirst())
        }
        self = .object(members)
    }

    /// Adds a second member `key` (JSON lets a reader keep either).
    mutating func duplicate(_ key: String, _ value: JSONTree) {
        if case .object(var members) = self { members.append((key, value)); self = .object(members) }
    }
}

// MARK: - Hostile values

enum Hostile {
    /// Number tokens around every limit and beyond what Int, Float and Double hold.
    static let numbers: [String] = [
        "0", "-1", "1", "2", "3", "4", "7", "8", "16", "31", "32", "48", "63", "64", "100", "126", "127", "128", "255", "256",
        "257", "1000", "1023", "1024", "1025", "4095", "4096", "16384", "32768", "53248", "65535", "65536", "65537",
        "128256", "131072", "262144", "262145", "1048576", "2097152", "2097153", "16777216", "16777217", "2147483647",
        "2147483648", "4294967295", "4294967296", "1099511627776", "1099511627777", "4611686018427387904",
        "9223372036854775807", "9223372036854775808", "18446744073709551615", "18446744073709551616",
        "-9223372036854775808", "-9223372036854775809", "1000000000", "1000000000000", "1e9", "1e12", "1e30",
        "100000000000000000000000000000", "0.5", "1.5", "-0", "-0.0", "1e-30", "5e-324", "1e-5", "1e38", "3.4028235e38",
        "3.5e38", "1e39", "1e308", "1.7976931348623157e308", "1e309", "-1e308", "1e400", "-1e400", "2.0", "1E3", "10000",
        "500000", "1000000000000.5",
    ]
    /// Tokens of the wrong type.
    static let others: [String] = ["\"12\"", "\"\"", "null", "true", "false", "[]", "{}", "[1]", "\"nan\"", "\"inf\""]
    /// Sizes a real config might hold (keep some inputs valid, so deeper checks run).
    static let plausible: [Int] = [1, 2, 4, 6, 8, 16, 24, 32, 48, 64, 96, 128, 256, 512]

    /// A token for a number field: mostly hostile, sometimes plausible, sometimes the wrong type.
    static func token(_ rng: inout RandomGenerator) -> String {
        switch rng.nextInt(below: 10) {
        case 0...5: return numbers[rng.nextInt(below: numbers.count)]
        case 6...7: return String(plausible[rng.nextInt(below: plausible.count)])
        case 8: return String(rng.nextInt(below: 5000) - 4)
        default: return others[rng.nextInt(below: others.count)]
        }
    }

    /// Values of the width `bytes` for binary fields: limits of the type, small counts, sizes of the file.
    static func integer(bytes: Int, fileSize: Int, _ rng: inout RandomGenerator) -> UInt64 {
        let mask: UInt64 = bytes == 8 ? .max : (1 << UInt64(8 * bytes)) - 1
        let candidates: [UInt64] = [0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 24, 31, 32, 33, 64, 255, 256, 1024, 65535,
                                    UInt64(Int32.max), 1 << 31, UInt64(UInt32.max), 1 << 32, UInt64(Int64.max), 1 << 63, .max,
                                    UInt64(fileSize), UInt64(max(fileSize - 1, 0)), UInt64(fileSize + 1), UInt64(fileSize * 2),
                                    100_000_001, rng.next()]
        return candidates[rng.nextInt(below: candidates.count)] & mask
    }

    /// A deeply nested array (parsers must bound their recursion).
    static func nested(_ depth: Int) -> String { String(repeating: "[", count: depth) + String(repeating: "]", count: depth) }
}

// MARK: - Config seeds

enum ConfigSeeds {
    static func stack(hidden: Int, layers: Int, heads: Int, kvHeads: Int, ffn: Int, window: Int?, local: Bool) -> JSONTree {
        var members: [(String, JSONTree)] = [
            ("hidden_size", .int(hidden)), ("num_hidden_layers", .int(layers)), ("num_attention_heads", .int(heads)),
            ("num_key_value_heads", .int(kvHeads)), ("intermediate_size", .int(ffn)), ("rms_norm_eps", .raw("1e-05")),
            ("rope_theta", .raw("10000")),
        ]
        if let window { members.append(("sliding_window", .int(window))) }
        if local {
            members.append(("vocab_size", .int(256)))
            members.append(("cross_attention_config", .object([("hidden_size", .int(hidden)), ("num_attention_heads", .int(2)),
                                                                ("num_key_value_heads", .int(1))])))
        }
        return .object(members)
    }

    /// Models/configs/tiny.json's shape (the model directory seed has weights for exactly this).
    static var tiny: JSONTree {
        .object([
            ("model_type", .string("hat")),
            ("encoder_config", stack(hidden: 32, layers: 1, heads: 2, kvHeads: 1, ffn: 64, window: 16, local: true)),
            ("backbone_config", stack(hidden: 48, layers: 2, heads: 4, kvHeads: 2, ffn: 96, window: nil, local: false)),
            ("decoder_config", stack(hidden: 32, layers: 2, heads: 2, kvHeads: 1, ffn: 64, window: 16, local: true)),
            ("max_word_size", .int(32)), ("eos_token_id", .int(192)), ("splitter", .object([("name", .string("hat"))])),
        ])
    }

    /// A Llama 3.1 405B-sized backbone with tiny local parts: valid, and large.
    static var large: JSONTree {
        var c = tiny
        c.set(["backbone_config"], stack(hidden: 16384, layers: 126, heads: 128, kvHeads: 8, ffn: 53248, window: nil, local: false))
        c.set(["backbone_config", "head_dim"], .int(128))
        c.set(["backbone_config", "rope_theta"], .raw("500000"))
        return c
    }

    /// The number fields of a HAT config, present or not.
    static let hatPaths: [[String]] = {
        var paths: [[String]] = [["max_word_size"], ["eos_token_id"], ["provenance", "training_steps"], ["provenance", "training_bytes"]]
        for stack in ["encoder_config", "backbone_config", "decoder_config"] {
            for field in ["hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
                          "intermediate_size", "rms_norm_eps", "rope_theta", "sliding_window", "vocab_size"] {
                paths.append([stack, field])
            }
            if stack != "backbone_config" {
                for field in ["hidden_size", "num_attention_heads", "num_key_value_heads"] {
                    paths.append([stack, "cross_attention_config", field])
                }
            }
        }
        return paths
    }()

    /// A Hugging Face LlamaForCausalLM config.json.
    static var llama: JSONTree {
        .object([
            ("architectures", .array([.string("LlamaForCausalLM")])), ("model_type", .string("llama")),
            ("hidden_size", .int(64)), ("intermediate_size", .int(128)), ("num_hidden_layers", .int(2)),
            ("num_attention_heads", .int(4)), ("num_key_value_heads", .int(2)), ("head_dim", .int(16)),
            ("rms_norm_eps", .raw("1e-06")), ("rope_theta", .raw("10000.0")), ("vocab_size", .int(100)),
            ("max_position_embeddings", .int(2048)), ("tie_word_embeddings", .raw("false")), ("hidden_act", .string("silu")),
            ("rope_scaling", .object([("rope_type", .string("llama3")), ("factor", .raw("8.0")), ("low_freq_factor", .raw("1.0")),
                                      ("high_freq_factor", .raw("4.0")), ("original_max_position_embeddings", .int(8192))])),
        ])
    }

    static let llamaPaths: [[String]] = [
        ["hidden_size"], ["intermediate_size"], ["num_hidden_layers"], ["num_attention_heads"], ["num_key_value_heads"],
        ["head_dim"], ["rms_norm_eps"], ["rope_theta"], ["vocab_size"], ["max_position_embeddings"], ["sliding_window"],
        ["rope_scaling", "factor"], ["rope_scaling", "original_max_position_embeddings"], ["rope_parameters", "rope_theta"],
    ]

    /// DIR/config.json of `hat convert-backbone`.
    static var backbone: JSONTree {
        .object([
            ("hidden_size", .int(64)), ("num_hidden_layers", .int(2)), ("num_attention_heads", .int(4)),
            ("num_key_value_heads", .int(2)), ("head_dim", .int(16)), ("intermediate_size", .int(128)),
            ("rms_norm_eps", .raw("1e-06")), ("rope_theta", .raw("10000")), ("dtype", .string("F32")),
            ("source", .object([("path", .string("x")), ("format", .string("gguf")), ("architecture", .string("llama")),
                                ("sha256", .string("0")), ("files", .object([])), ("source_dtype", .string("F32")),
                                ("vocab_size", .int(100)), ("max_position_embeddings", .int(2048)),
                                ("tie_word_embeddings", .raw("false")), ("unpermuted_qk", .raw("true")),
                                ("converted_by", .string("hat-fuzz"))])),
        ])
    }

    static let backbonePaths: [[String]] = [
        ["hidden_size"], ["num_hidden_layers"], ["num_attention_heads"], ["num_key_value_heads"], ["head_dim"],
        ["intermediate_size"], ["rms_norm_eps"], ["rope_theta"], ["sliding_window"], ["source", "vocab_size"],
    ]

    /// `seed` with 1–4 mutations: hostile numbers at `paths`, and now and then a structural one.
    static func mutate(_ seed: JSONTree, paths: [[String]], _ rng: inout RandomGenerator) -> String {
        var tree = seed
        for _ in 0...rng.nextInt(below: 4) {
            let path = paths[rng.nextInt(below: paths.count)]
            switch rng.nextInt(below: 20) {
            case 0: tree.remove(path[...])
            case 1: tree.set(path[...], .raw(Hostile.nested(rng.nextInt(below: 2) == 0 ? 100 : 100_000)))
            case 2: tree.set(["unknown_\(rng.nextInt(below: 3))"], .int(1))
            case 3: tree.duplicate(path[0], .raw(Hostile.token(&rng)))
            case 4: tree.set(path[...], .string(String(repeating: "9", count: 1 + rng.nextInt(below: 400))))
            default: tree.set(path[...], .raw(Hostile.token(&rng)))
            }
        }
        var text = tree.text
        if rng.nextInt(below: 50) == 0, !text.isEmpty {   // cut the text short
            text = String(text.prefix(rng.nextInt(below: text.count)))
        }
        return text
    }
}

// MARK: - Safetensors seed

enum SafetensorsSeed {
    /// A valid file: four tensors (F32, BF16, F16, F64 scalar) and metadata.
    static func header(_ rng: inout RandomGenerator) -> (JSONTree, data: [UInt8]) {
        let tree = JSONTree.object([
            ("__metadata__", .object([("format", .string("pt"))])),
            ("a", .object([("dtype", .string("F32")), ("shape", .array([.int(2), .int(3)])), ("data_offsets", .array([.int(0), .int(24)]))])),
            ("b", .object([("dtype", .string("BF16")), ("shape", .array([.int(4)])), ("data_offsets", .array([.int(24), .int(32)]))])),
            ("c", .object([("dtype", .string("F16")), ("shape", .array([.int(1)])), ("data_offsets", .array([.int(32), .int(34)]))])),
            ("d", .object([("dtype", .string("F64")), ("shape", .array([])), ("data_offsets", .array([.int(34), .int(42)]))])),
        ])
        return (tree, (0..<42).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
    }

    static let numberPaths: [[String]] = [
        ["a", "shape"], ["a", "data_offsets"], ["b", "shape"], ["b", "data_offsets"], ["c", "data_offsets"], ["d", "shape"],
    ]

    /// File bytes: 8-byte little-endian length, header, data.
    static func file(header: String, data: [UInt8], length: UInt64? = nil) -> [UInt8] {
        let h = Array(header.utf8)
        var out = withUnsafeBytes(of: (length ?? UInt64(h.count)).littleEndian) { Array($0) }
        out += h
        out += data
        return out
    }

    /// A mutated file (one in five keeps its header and gets random data, so reads run too).
    static func mutated(_ rng: inout RandomGenerator) -> [UInt8] {
        var (tree, data) = header(&rng)
        var lengthOverride: UInt64?
        let mutations = rng.nextInt(below: 5) == 0 ? 0 : 1 + rng.nextInt(below: 3)
        for _ in 0..<mutations {
            let path = numberPaths[rng.nextInt(below: numberPaths.count)]
            switch rng.nextInt(below: 12) {
            case 0...4:
                let count = rng.nextInt(below: 5)
                tree.set(path[...], .array((0..<count).map { _ in .raw(Hostile.token(&rng)) }))
            case 5: tree.set([path[0], "dtype"], .string(["F32", "BF16", "F16", "F64", "I64", "U8", "BOOL", "F8_E4M3", "Q4", ""][rng.nextInt(below: 10)]))
            case 6: tree.set(path[...], .raw(Hostile.nested(rng.nextInt(below: 2) == 0 ? 63 : 100_000)))
            case 7: tree.duplicate(path[0], .object([]))
            case 8: tree.set(["e\(rng.nextInt(below: 100))"], .object([("dtype", .string("F32")), ("shape", .array([.raw(Hostile.token(&rng))])),
                                                                 ("data_offsets", .array([.int(42), .raw(Hostile.token(&rng))]))]))
            case 9: lengthOverride = Hostile.integer(bytes: 8, fileSize: 200, &rng)
            case 10: tree.remove(path[...])
            default: data += (0..<rng.nextInt(below: 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            }
        }
        var bytes = file(header: tree.text, data: data, length: lengthOverride)
        Bytes.damage(&bytes, &rng)
        return bytes
    }
}

// MARK: - GGUF seed

enum GGUFSeed {
    /// A valid little GGUF v3 (architecture llama, F32 / F16 / Q8_0 / Q4_0 / Q4_K tensors) and the
    /// byte ranges of its numeric fields (counts, lengths, types, dims, offsets, alignment).
    static func file(_ rng: inout RandomGenerator) -> (bytes: [UInt8], fields: [(offset: Int, width: Int)]) {
        var b: [UInt8] = []
        var fields: [(Int, Int)] = []
        func u32(_ v: UInt32, field: Bool = true) { if field { fields.append((b.count, 4)) }; b += withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        func u64(_ v: UInt64, field: Bool = true) { if field { fields.append((b.count, 8)) }; b += withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        func string(_ s: String) { u64(UInt64(s.utf8.count)); b += Array(s.utf8) }
        func f32(_ v: Float) { fields.append((b.count, 4)); b += withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }

        // One Llama block (C 32, H 4, G 2, D 8, F 256) with its embedding and final norm, dims innermost first.
        let tensors: [(String, [Int], GGMLType)] = [
            ("token_embd.weight", [32, 4], .f32), ("output_norm.weight", [32], .f32),
            ("blk.0.attn_norm.weight", [32], .f16), ("blk.0.attn_q.weight", [32, 32], .q8_0),
            ("blk.0.attn_k.weight", [32, 16], .q4_0), ("blk.0.attn_v.weight", [32, 16], .q4_1),
            ("blk.0.attn_output.weight", [32, 32], .q5_0), ("blk.0.ffn_norm.weight", [32], .f32),
            ("blk.0.ffn_gate.weight", [32, 256], .q5_1), ("blk.0.ffn_up.weight", [32, 256], .q8_0),
            ("blk.0.ffn_down.weight", [256, 32], .q4_K),
        ]
        b += Array("GGUF".utf8)
        u32(3)
        u64(UInt64(tensors.count))
        u64(9)
        string("general.architecture"); u32(8); string("llama")
        string("general.alignment"); u32(4); u32(32)
        string("llama.block_count"); u32(4); u32(1)
        string("llama.embedding_length"); u32(4); u32(32)
        string("llama.attention.head_count"); u32(4); u32(4)
        string("llama.attention.head_count_kv"); u32(4); u32(2)
        string("llama.feed_forward_length"); u32(4); u32(256)
        string("llama.rope.freq_base"); u32(6); f32(10000)
        string("tokenizer.ggml.tokens"); u32(9); u32(8); u64(3); string("a"); string("b"); string("c")
        var offset = 0
        for (name, dims, type) in tensors {
            string(name)
            u32(UInt32(dims.count))
            for d in dims { u64(UInt64(d)) }
            u32(type.rawValue)
            u64(UInt64(offset))
            let bytes = dims.reduce(1, *) / type.blockSize * type.typeSize
            offset += (bytes + 31) / 32 * 32
        }
        while b.count % 32 != 0 { b.append(0) }
        b += (0..<offset).map { _ in UInt8(truncatingIfNeeded: rng.next() & 0x3F) }   // small exponents: finite halves
        return (b, fields)
    }

    static func mutated(_ rng: inout RandomGenerator) -> [UInt8] {
        var (bytes, fields) = file(&rng)
        let mutations = rng.nextInt(below: 5) == 0 ? 0 : 1 + rng.nextInt(below: 3)
        for _ in 0..<mutations {
            let (offset, width) = fields[rng.nextInt(below: fields.count)]
            let v = Hostile.integer(bytes: width, fileSize: bytes.count, &rng)
            for k in 0..<width { bytes[offset + k] = UInt8(truncatingIfNeeded: v >> UInt64(8 * k)) }
        }
        Bytes.damage(&bytes, &rng)
        return bytes
    }
}

enum Bytes {
    /// Now and then: flip a few bytes, cut the file short, or append garbage.
    static func damage(_ bytes: inout [UInt8], _ rng: inout RandomGenerator) {
        switch rng.nextInt(below: 8) {
        case 0:
            for _ in 0..<(1 + rng.nextInt(below: 4)) where !bytes.isEmpty {
                bytes[rng.nextInt(below: bytes.count)] ^= UInt8(1 << rng.nextInt(below: 8))
            }
        case 1: bytes.removeLast(rng.nextInt(below: bytes.count + 1))
        case 2: bytes += (0..<rng.nextInt(below: 100)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        default: break
        }
    }
}
