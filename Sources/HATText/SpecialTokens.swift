// Special tokens as single bytes that never occur in UTF-8 (C0, C1, F5–FF), so the splitter
// makes each of them a one-byte word and no text can forge them (ARCHITECTURE.md §2, rule 7).
// Token strings are replaced by their bytes before splitting (`encode`) and back for display
// (`decode`). End of sequence is 192 (0xC0), the `eos_token_id` of model configs.

public enum SpecialTokens {
    /// End of sequence / end of turn: separates documents in training data; generation stops on it.
    public static let endOfSequence: UInt8 = 192
    /// Begin of sequence.
    public static let beginOfSequence: UInt8 = 193
    /// Chat header delimiters (Llama 3 style).
    public static let startHeader: UInt8 = 245
    public static let endHeader: UInt8 = 246

    /// Canonical token strings and their bytes (decode writes these).
    public static let tokens: [(text: String, byte: UInt8)] = [
        ("<|eot_id|>", endOfSequence),
        ("<|begin_of_text|>", beginOfSequence),
        ("<|start_header_id|>", startHeader),
        ("<|end_header_id|>", endHeader),
    ]
    /// Further spellings accepted by `encode`.
    public static let aliases: [(text: String, byte: UInt8)] = [
        ("<|end_of_text|>", endOfSequence),
    ]

    /// Whether `byte` never occurs in well-formed UTF-8 (and so can stand for a special token).
    @inline(__always)
    public static func isNeverUTF8(_ byte: UInt8) -> Bool { byte == 0xC0 || byte == 0xC1 || byte >= 0xF5 }

    /// The canonical token string of `byte`, if it is a special token.
    public static func name(of byte: UInt8) -> String? {
        tokens.first { $0.byte == byte }?.text
    }

    /// UTF-8 of `text` with every token string (canonical or alias) replaced by its byte.
    public static func encode(_ text: String) -> [UInt8] {
        encode(Array(text.utf8))
    }

    /// `bytes` with every token string replaced by its byte (leftmost match, longest token first).
    public static func encode(_ bytes: [UInt8]) -> [UInt8] {
        let all = (tokens + aliases).map { (Array($0.text.utf8), $0.byte) }.sorted { $0.0.count > $1.0.count }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        let n = bytes.count
        while i < n {
            // Every token starts with "<|".
            if bytes[i] == 0x3C, i + 1 < n, bytes[i + 1] == 0x7C {
                var matched = false
                for (pattern, byte) in all where i + pattern.count <= n {
                    if bytes[i..<(i + pattern.count)].elementsEqual(pattern) {
                        out.append(byte)
                        i += pattern.count
                        matched = true
                        break
                    }
                }
                if matched { continue }
            }
            out.append(bytes[i])
            i += 1
        }
        return out
    }

    /// `bytes` with every special-token byte replaced by its canonical string; other bytes as they are.
    public static func decode(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for b in bytes {
            if let text = name(of: b) { out.append(contentsOf: text.utf8) } else { out.append(b) }
        }
        return out
    }
}
