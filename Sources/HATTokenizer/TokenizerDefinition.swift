// TokenizerDefinition: everything that decides a byte-level BPE tokenizer's ids, as plain values:
// the token spellings (GPT-2 byte alphabet) by id, the merges in rank order, the added tokens
// matched in the raw text, the pre-tokenizer, ignore_merges, and BOS/EOS. The GGUF and
// tokenizer.json loaders both produce one (so a test can compare them); BPETokenizer validates it
// and builds its tables from it.

/// A string compared by its UTF-8 bytes, as HF (Rust) compares strings: Swift's String == calls
/// canonically equivalent strings equal ("é" and "e\u{301}"), which two tokens may be.
struct ExactText: Hashable, Sendable {
    let utf8: [UInt8]
    init(_ s: some StringProtocol) { utf8 = Array(s.utf8) }
}

/// A token matched whole in the raw text before pre-tokenization (HF "added token").
public struct AddedToken: Equatable, Hashable, Sendable {
    public var id: Int
    /// The text matched, e.g. "<|im_start|>".
    public var content: String
    /// Skipped by decode(skipSpecialTokens: true).
    public var special: Bool
    /// HF matches tokens with normalized == false first, then those with normalized == true in
    /// the text between (the same text here: no normalizer is supported).
    public var normalized: Bool
    /// The token is also in the BPE model's vocabulary, so merging may produce it and a byte may
    /// stand for it (HF gives an added token that is already a token that token's id). GGUF: all
    /// tokens are (transformers puts them all there); tokenizer.json: when model.vocab has its id.
    public var inModelVocabulary: Bool

    public init(id: Int, content: String, special: Bool, normalized: Bool = false, inModelVocabulary: Bool = true) {
        self.id = id
        self.content = content
        self.special = special
        self.normalized = normalized
        self.inModelVocabulary = inModelVocabulary
    }

    public static func == (a: AddedToken, b: AddedToken) -> Bool {
        a.id == b.id && ExactText(a.content) == ExactText(b.content) && a.special == b.special && a.normalized == b.normalized
            && a.inModelVocabulary == b.inModelVocabulary
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(ExactText(content))
    }
}

/// One merge: the ids of its left and right token (the result is the token spelled as both).
public struct TokenPair: Equatable, Hashable, Sendable {
    public var left: Int
    public var right: Int

    public init(_ left: Int, _ right: Int) {
        self.left = left
        self.right = right
    }
}

public struct TokenizerDefinition: Equatable, Sendable {
    /// Token spellings by id: byte-level tokens in the GPT-2 byte alphabet ("Ġthe"), added tokens
    /// as their content ("<|im_start|>").
    public var tokens: [String]
    /// Merges in rank order (rank = index; a pair listed twice keeps its last rank, as HF).
    public var merges: [TokenPair]
    /// Sorted by id.
    public var addedTokens: [AddedToken]
    public var preTokenizer: PreTokenizer
    /// A pre-token that is itself a token becomes that id without merging (Llama 3).
    public var ignoreMerges: Bool
    public var bosTokenID: Int?
    public var eosTokenID: Int?
    /// encode(addSpecialTokens: true) starts with BOS / ends with EOS.
    public var addBOS: Bool
    public var addEOS: Bool

    public init(tokens: [String], merges: [TokenPair], addedTokens: [AddedToken], preTokenizer: PreTokenizer,
                ignoreMerges: Bool = false, bosTokenID: Int? = nil, eosTokenID: Int? = nil,
                addBOS: Bool = false, addEOS: Bool = false) {
        self.tokens = tokens
        self.merges = merges
        self.addedTokens = addedTokens.sorted { $0.id < $1.id }
        self.preTokenizer = preTokenizer
        self.ignoreMerges = ignoreMerges
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.addBOS = addBOS
        self.addEOS = addEOS
    }

    /// Equal when every field is, tokens byte for byte.
    public static func == (a: TokenizerDefinition, b: TokenizerDefinition) -> Bool {
        a.tokens.count == b.tokens.count && zip(a.tokens, b.tokens).allSatisfy { ExactText($0) == ExactText($1) }
            && a.merges == b.merges && a.addedTokens == b.addedTokens && a.preTokenizer == b.preTokenizer
            && a.ignoreMerges == b.ignoreMerges && a.bosTokenID == b.bosTokenID && a.eosTokenID == b.eosTokenID
            && a.addBOS == b.addBOS && a.addEOS == b.addEOS
    }
}
