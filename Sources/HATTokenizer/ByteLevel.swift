// ByteLevel: GPT-2's byte-to-character table, which byte-level BPE vocabularies (HF tokenizers'
// ByteLevel pre-tokenizer and decoder, llama.cpp's "gpt2" tokenizer model) use to spell raw bytes
// as printable characters: bytes 33…126, 161…172 and 174…255 stand for themselves, the other 68
// (controls, space, DEL, NBSP, soft hyphen) become U+0100… in byte order, so 0x20 is "Ġ", 0x0A "Ċ".

public enum ByteLevel {
    /// The character that spells each byte.
    public static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte) {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte each alphabet character stands for, indexed by scalar value (-1: not in the alphabet).
    static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 256 + 68)
        for (byte, scalar) in scalarForByte.enumerated() { table[Int(scalar.value)] = Int16(byte) }
        return table
    }()

    /// The byte `scalar` stands for, or nil if it is not one of the 256 alphabet characters.
    @inline(__always)
    public static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let v = Int(scalar.value)
        guard v < byteForScalar.count, byteForScalar[v] >= 0 else { return nil }
        return UInt8(byteForScalar[v])
    }

    /// `bytes` spelled in the alphabet ("Ġhello" for " hello").
    public static func spelling(of bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(scalarForByte[Int(b)]) }
        return String(s)
    }

    /// The bytes a spelling stands for, or nil if a character is outside the alphabet.
    public static func bytes(ofSpelling spelling: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(spelling.utf8.count)
        for scalar in spelling.unicodeScalars {
            guard let b = byte(for: scalar) else { return nil }
            out.append(b)
        }
        return out
    }

    /// The bytes HF's ByteLevel decoder turns a token into: the bytes its characters stand for if
    /// every character is in the alphabet, else the token's own UTF-8 (added tokens such as
    /// "<|im_start|>" are alphabet characters and so decode to themselves).
    public static func decodedBytes(ofToken token: String) -> [UInt8] {
        bytes(ofSpelling: token) ?? Array(token.utf8)
    }
}
