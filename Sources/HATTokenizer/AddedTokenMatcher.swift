// AddedTokenMatcher: finds added tokens (e.g. "<|im_start|>") in raw UTF-8 text the way HF's
// AddedVocabulary does with its Aho-Corasick automaton in leftmost-longest mode: the match that
// starts first wins, and of those starting there the longest. The text between matches is then
// pre-tokenized. Candidates are kept by first byte, longest first.

struct AddedTokenMatcher: Sendable {
    private let contents: [[UInt8]]
    private let ids: [Int]
    /// Indices into `contents` per first byte, longest content first.
    private let candidates: [[Int]]

    init(_ tokens: [AddedToken]) {
        let contents = tokens.map { Array($0.content.utf8) }
        var byFirst = [[Int]](repeating: [], count: 256)
        for (k, bytes) in contents.enumerated() where !bytes.isEmpty { byFirst[Int(bytes[0])].append(k) }
        for b in 0..<256 { byFirst[b].sort { (contents[$0].count, $1) > (contents[$1].count, $0) } }
        self.contents = contents
        ids = tokens.map(\.id)
        candidates = byFirst
    }

    var isEmpty: Bool { contents.isEmpty }

    /// The leftmost-longest match in `bytes[range]`: its byte range and token id.
    func firstMatch(in bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> (range: Range<Int>, id: Int)? {
        guard !contents.isEmpty else { return nil }
        var i = range.lowerBound
        while i < range.upperBound {
            for k in candidates[Int(bytes[i])] {
                let content = contents[k]
                guard i + content.count <= range.upperBound else { continue }
                var equal = true
                for j in 1..<max(1, content.count) where bytes[i + j] != content[j] {
                    equal = false
                    break
                }
                if equal { return (i..<(i + content.count), ids[k]) }
            }
            i += 1
        }
        return nil
    }
}
