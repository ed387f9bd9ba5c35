// BPEWordCache: the ids of pre-tokens already encoded (words repeat, so most are found here),
// owned by the caller so the tokenizer itself holds no mutable state. Words up to 128 bytes are
// kept, until 1 M words or 64 MB; after that nothing new is stored. A cache used with another
// tokenizer empties itself first.

public struct BPEWordCache: Sendable {
    static let maxWordBytes = 128
    static let maxWords = 1 << 20
    static let maxBytes = 64 << 20

    private var owner: UInt64 = 0
    private var words = ByteStringMap()
    private var idArena: [Int32] = []

    public init() {}

    /// Number of words held.
    public var count: Int { words.count }

    mutating func prepare(for tokenizer: UInt64) {
        if owner != tokenizer {
            self = BPEWordCache()
            owner = tokenizer
        }
    }

    @inline(__always)
    func ids(_ text: UnsafeBufferPointer<UInt8>, _ word: Range<Int>, hash: UInt64) -> ArraySlice<Int32>? {
        guard let v = words.value(text, word, hash: hash) else { return nil }
        let start = Int(v >> 32), count = Int(v & 0xFFFF_FFFF)
        return idArena[start..<(start + count)]
    }

    mutating func store(_ text: UnsafeBufferPointer<UInt8>, _ word: Range<Int>, hash: UInt64, ids: ArraySlice<Int>) {
        guard words.count < Self.maxWords, words.storedBytes + idArena.count * 4 < Self.maxBytes else { return }
        let start = idArena.count
        for id in ids { idArena.append(Int32(truncatingIfNeeded: id)) }
        words.insertNew(text, word, hash: hash, value: UInt64(start) << 32 | UInt64(ids.count))
    }
}
