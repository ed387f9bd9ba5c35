// BPETokenizer: byte-level BPE (GPT-2 family) with the ids of HF tokenizers 0.23.3 for SmolLM2,
// GPT-2-style and Llama 3 vocabularies. Encode: added tokens matched in the raw text, the rest
// pre-tokenized and merged by rank; bytes without a token are dropped, as HF drops them. Decode:
// token bytes concatenated, invalid UTF-8 → U+FFFD as HF. Input that is not UTF-8 is refused (HF
// takes only str). Immutable and Sendable; the only mutable state is the caller's BPEWordCache.

/// A byte-level BPE tokenizer. Added tokens are matched first (those with normalized == false,
/// then those with normalized == true in the text between, as HF); the text between is split by
/// the pre-tokenizer and each pre-token's bytes are merged by rank (BPEMerging.swift). A byte
/// without a token is dropped, as HF's BPE without an unk token does (SmolLM2 has none for 21
/// bytes, e.g. 0x04 and the UTF-8 lead bytes 0xF1, 0xF2), so decode cannot give it back.
public struct BPETokenizer: Sendable {
    public let definition: TokenizerDefinition
    /// The token id of each byte's single-character token, -1 if there is none.
    private let byteTokenIDs: [Int32]
    private let merges: MergeTable
    /// The model's byte-level tokens by their raw bytes (only with ignoreMerges).
    private let tokensByBytes: ByteStringMap
    private let idBySpelling: [ExactText: Int]
    private let tokenByteArena: [UInt8]
    /// Token id k's bytes are tokenByteArena[tokenByteStart[k] ..< tokenByteStart[k + 1]].
    private let tokenByteStart: [Int]
    private let isSpecial: [Bool]
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    /// Tells a BPEWordCache which tokenizer its entries belong to.
    let identity: UInt64

    /// Validates `definition`; `source` names it in errors.
    public init(_ definition: TokenizerDefinition, source: String = "definition") throws(TokenizerError) {
        self.definition = definition
        let tokens = definition.tokens
        guard !tokens.isEmpty else { throw TokenizerError(.missingField, source: source, field: "tokens", "the vocabulary is empty") }
        guard tokens.count < Int(Int32.max) else {
            throw TokenizerError(.unsupported, source: source, field: "tokens", "\(tokens.count) tokens: at most \(Int32.max - 1) are supported")
        }

        var idBySpelling: [ExactText: Int] = [:]
        idBySpelling.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() {
            if let first = idBySpelling.updateValue(id, forKey: ExactText(token)) {
                throw TokenizerError(.duplicate, source: source, field: "tokens", index: id, "'\(token)' is also token \(first)")
            }
        }
        self.idBySpelling = idBySpelling

        var isSpecial = [Bool](repeating: false, count: tokens.count)
        var isOutsideModel = [Bool](repeating: false, count: tokens.count)
        var seenContent: [ExactText: Int] = [:]
        for (k, added) in definition.addedTokens.enumerated() {
            guard tokens.indices.contains(added.id) else {
                throw TokenizerError(.unknownToken, source: source, field: "addedTokens", index: k,
                                     "'\(added.content)' has id \(added.id), outside the \(tokens.count) tokens")
            }
            guard !added.content.isEmpty else {
                throw TokenizerError(.malformed, source: source, field: "addedTokens", index: k, "id \(added.id) has empty content")
            }
            guard ExactText(tokens[added.id]) == ExactText(added.content) else {
                throw TokenizerError(.malformed, source: source, field: "addedTokens", index: k,
                                     "'\(added.content)' has id \(added.id), which is spelled '\(tokens[added.id])'")
            }
            if let other = seenContent.updateValue(k, forKey: ExactText(added.content)) {
                throw TokenizerError(.duplicate, source: source, field: "addedTokens", index: k, "'\(added.content)' is also added token #\(other)")
            }
            isOutsideModel[added.id] = !added.inModelVocabulary
            isSpecial[added.id] = added.special
        }
        self.isSpecial = isSpecial
        rawMatcher = AddedTokenMatcher(definition.addedTokens.filter { !$0.normalized })
        normalizedMatcher = AddedTokenMatcher(definition.addedTokens.filter { $0.normalized })

        for (name, id) in [("bosTokenID", definition.bosTokenID), ("eosTokenID", definition.eosTokenID)] {
            if let id, !tokens.indices.contains(id) {
                throw TokenizerError(.unknownToken, source: source, field: name, "id \(id) is outside the \(tokens.count) tokens")
            }
        }
        if definition.addBOS && definition.bosTokenID == nil {
            throw TokenizerError(.missingField, source: source, field: "bosTokenID", "addBOS is set but there is no BOS id")
        }
        if definition.addEOS && definition.eosTokenID == nil {
            throw TokenizerError(.missingField, source: source, field: "eosTokenID", "addEOS is set but there is no EOS id")
        }

        // Byte-level lookups see the BPE model's vocabulary only (HF keeps added tokens apart).
        var byteTokenIDs = [Int32](repeating: -1, count: 256)
        for byte in 0..<256 {
            if let id = idBySpelling[ExactText(String(ByteLevel.scalarForByte[byte]))], !isOutsideModel[id] { byteTokenIDs[byte] = Int32(id) }
        }
        self.byteTokenIDs = byteTokenIDs

        var merges = MergeTable(capacity: definition.merges.count)
        for (rank, pair) in definition.merges.enumerated() {
            for (side, id) in [("left", pair.left), ("right", pair.right)] where !tokens.indices.contains(id) {
                throw TokenizerError(.unknownToken, source: source, field: "merges", index: rank,
                                     "the \(side) token id \(id) is outside the \(tokens.count) tokens")
            }
            let spelling = tokens[pair.left] + tokens[pair.right]
            for (side, id) in [("left", pair.left), ("right", pair.right)] where isOutsideModel[id] {
                throw TokenizerError(.unknownToken, source: source, field: "merges", index: rank,
                                     "the \(side) token '\(tokens[id])' is an added token outside the model's vocabulary")
            }
            guard let merged = idBySpelling[ExactText(spelling)], !isOutsideModel[merged] else {
                throw TokenizerError(.unknownToken, source: source, field: "merges", index: rank,
                                     "'\(tokens[pair.left])' + '\(tokens[pair.right])' gives '\(spelling)', which is not a token of the model")
            }
            merges.insert(left: UInt32(pair.left), right: UInt32(pair.right), rank: UInt32(rank), merged: UInt32(merged))
        }
        self.merges = merges

        var arena: [UInt8] = []
        var starts: [Int] = [0]
        starts.reserveCapacity(tokens.count + 1)
        var byBytes = ByteStringMap()
        for (id, token) in tokens.enumerated() {
            let byteLevel = ByteLevel.bytes(ofSpelling: token)
            let bytes = byteLevel ?? Array(token.utf8)
            if definition.ignoreMerges, let byteLevel, !isOutsideModel[id] {
                byteLevel.withUnsafeBufferPointer { p in
                    let h = ByteStringMap.hash(p, 0..<p.count)
                    if byBytes.value(p, 0..<p.count, hash: h) == nil { byBytes.insertNew(p, 0..<p.count, hash: h, value: UInt64(id)) }
                }
            }
            arena += bytes
            starts.append(arena.count)
        }
        tokenByteArena = arena
        tokenByteStart = starts
        tokensByBytes = byBytes
        var random = SystemRandomNumberGenerator()
        identity = random.next()
    }

    // MARK: - Vocabulary

    /// Number of token ids (0 ..< vocabularySize).
    public var vocabularySize: Int { definition.tokens.count }
    public var bosTokenID: Int? { definition.bosTokenID }
    public var eosTokenID: Int? { definition.eosTokenID }
    public var preTokenizer: PreTokenizer { definition.preTokenizer }

    /// The raw bytes token `id` stands for (what decode gives for it), or nil outside the vocabulary.
    public func tokenBytes(_ id: Int) -> [UInt8]? {
        guard id >= 0, id < vocabularySize else { return nil }
        return Array(tokenByteArena[tokenByteStart[id]..<tokenByteStart[id + 1]])
    }

    /// The bytes of every token, by id.
    public var allTokenBytes: [[UInt8]] { (0..<vocabularySize).map { Array(tokenByteArena[tokenByteStart[$0]..<tokenByteStart[$0 + 1]]) } }

    /// The token's spelling ("Ġthe", "<|im_start|>"), or nil outside the vocabulary.
    public func spelling(of id: Int) -> String? {
        guard id >= 0, id < vocabularySize else { return nil }
        return definition.tokens[id]
    }

    /// The id of a spelling, or nil.
    public func id(ofSpelling spelling: String) -> Int? { idBySpelling[ExactText(spelling)] }

    /// True for added tokens marked special (skipped by decode(skipSpecialTokens: true)).
    public func isSpecialToken(_ id: Int) -> Bool { id >= 0 && id < vocabularySize && isSpecial[id] }

    /// Bytes that no token stands for: encode drops them, as HF does.
    public var bytesWithoutToken: [UInt8] { (0..<256).filter { byteTokenIDs[$0] < 0 }.map { UInt8($0) } }

    // MARK: - Encoding

    /// The ids of `text`; with `addSpecialTokens`, BOS/EOS as the definition says
    /// (HF encode(text, add_special_tokens=...)).
    public func encode(_ text: String, addSpecialTokens: Bool = false) -> [Int] {
        var cache = BPEWordCache()
        return encode(text, addSpecialTokens: addSpecialTokens, cache: &cache)
    }

    /// The same, reusing the word cache across calls (one cache per thread).
    public func encode(_ text: String, addSpecialTokens: Bool = false, cache: inout BPEWordCache) -> [Int] {
        var text = text
        return text.withUTF8 { encodeValidUTF8($0, addSpecialTokens: addSpecialTokens, cache: &cache) }
    }

    /// The ids of UTF-8 bytes; bytes that are not UTF-8 are refused with their offset.
    public func encode(utf8 bytes: [UInt8], addSpecialTokens: Bool = false) throws(TokenizerError) -> [Int] {
        var cache = BPEWordCache()
        return try encode(utf8: bytes, addSpecialTokens: addSpecialTokens, cache: &cache)
    }

    public func encode(utf8 bytes: [UInt8], addSpecialTokens: Bool = false, cache: inout BPEWordCache) throws(TokenizerError) -> [Int] {
        try bytes.withUnsafeBufferPointer { (p) throws(TokenizerError) -> [Int] in
            if let bad = firstInvalidUTF8(p) {
                let shown = p[bad..<min(p.count, bad + 4)].map { "0x" + String($0, radix: 16, uppercase: true) }.joined(separator: " ")
                throw TokenizerError(.invalidUTF8, source: "input", index: bad,
                                     "byte offset \(bad) (\(shown)) is not UTF-8; HF tokenizers takes only text (decode the bytes first, e.g. replacing invalid ones with U+FFFD)")
            }
            return encodeValidUTF8(p, addSpecialTokens: addSpecialTokens, cache: &cache)
        }
    }

    private func encodeValidUTF8(_ text: UnsafeBufferPointer<UInt8>, addSpecialTokens: Bool, cache: inout BPEWordCache) -> [Int] {
        cache.prepare(for: identity)
        var ids: [Int] = []
        ids.reserveCapacity(text.count / 3 + 2)
        if addSpecialTokens, definition.addBOS, let bos = definition.bosTokenID { ids.append(bos) }
        var workspace = MergeWorkspace()
        forEachAddedTokenSplit(text, 0..<text.count, rawMatcher) { range, id in
            if let id {
                ids.append(id)
                return
            }
            forEachAddedTokenSplit(text, range, normalizedMatcher) { range, id in
                if let id {
                    ids.append(id)
                    return
                }
                var scanner = PreTokenScanner(definition.preTokenizer, text, range)
                var start = range.lowerBound
                while let end = scanner.next() {
                    encodeWord(text, start..<end, into: &ids, cache: &cache, workspace: &workspace)
                    start = end
                }
            }
        }
        if addSpecialTokens, definition.addEOS, let eos = definition.eosTokenID { ids.append(eos) }
        return ids
    }

    /// Calls `body` with each stretch of text between matches (id nil) and each match (its id), in order.
    private func forEachAddedTokenSplit(_ text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ matcher: AddedTokenMatcher,
                                        _ body: (Range<Int>, Int?) -> Void) {
        var start = range.lowerBound
        if !matcher.isEmpty {
            while start < range.upperBound, let match = matcher.firstMatch(in: text, start..<range.upperBound) {
                if match.range.lowerBound > start { body(start..<match.range.lowerBound, nil) }
                body(match.range, match.id)
                start = match.range.upperBound
            }
        }
        if start < range.upperBound { body(start..<range.upperBound, nil) }
    }

    private func encodeWord(_ text: UnsafeBufferPointer<UInt8>, _ word: Range<Int>, into ids: inout [Int],
                            cache: inout BPEWordCache, workspace: inout MergeWorkspace) {
        if word.count == 1 {
            let id = byteTokenIDs[Int(text[word.lowerBound])]
            if id >= 0 { ids.append(Int(id)) }
            return
        }
        let cacheable = word.count <= BPEWordCache.maxWordBytes
        let hash = ByteStringMap.hash(text, word)
        if cacheable, let cached = cache.ids(text, word, hash: hash) {
            for id in cached { ids.append(Int(id)) }
            return
        }
        let first = ids.count
        if definition.ignoreMerges, let id = tokensByBytes.value(text, word, hash: hash) {
            ids.append(Int(id))
        } else {
            if workspace.symbols.count < word.count { workspace.symbols = [UInt32](repeating: 0, count: max(word.count, 64)) }
            var n = 0
            for i in word {
                let id = byteTokenIDs[Int(text[i])]
                if id >= 0 {
                    workspace.symbols[n] = UInt32(id)
                    n += 1
                }
            }
            let count = merges.merge(&workspace, count: n)
            for k in 0..<count { ids.append(Int(workspace.symbols[k])) }
        }
        if cacheable { cache.store(text, word, hash: hash, ids: ids[first...]) }
    }

    // MARK: - Decoding

    /// The bytes of `ids` (HF's ByteLevel decoder before its UTF-8 step). An id outside the
    /// vocabulary is an error (HF skips it).
    public func decodeBytes(_ ids: [Int], skipSpecialTokens: Bool = false) throws(TokenizerError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 4)
        for (k, id) in ids.enumerated() {
            guard id >= 0, id < vocabularySize else {
                throw TokenizerError(.unknownID, source: "input", field: "ids", index: k, "id \(id) is outside 0..<\(vocabularySize)")
            }
            if skipSpecialTokens && isSpecial[id] { continue }
            out.append(contentsOf: tokenByteArena[tokenByteStart[id]..<tokenByteStart[id + 1]])
        }
        return out
    }

    /// The text of `ids`: their bytes with invalid UTF-8 replaced by U+FFFD (HF decode).
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) throws(TokenizerError) -> String {
        String(decoding: try decodeBytes(ids, skipSpecialTokens: skipSpecialTokens), as: UTF8.self)
    }
}

/// The offset of the first byte that does not belong to a well-formed UTF-8 sequence, or nil.
func firstInvalidUTF8(_ p: UnsafeBufferPointer<UInt8>) -> Int? {
    var i = 0
    let n = p.count
    while i < n {
        let b0 = p[i]
        if b0 < 0x80 {
            i += 1
            continue
        }
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF  // allowed range of the second byte
        switch b0 {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: return i
        }
        guard i + length <= n else { return i }
        guard p[i + 1] >= low, p[i + 1] <= high else { return i }
        for k in 2..<max(2, length) where p[i + k] & 0xC0 != 0x80 { return i }
        i += length
    }
    return nil
}
