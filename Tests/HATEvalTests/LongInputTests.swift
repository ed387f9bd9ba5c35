// Long inputs (issue item 8): no step's cost grows worse than linearly with one huge word or
// line. `delete` decides each letter from its neighbours (the same choices as re-scanning the
// shortened word, checked on random words with apostrophes, marks and Hangul jamo); every
// perturbation of one 200 kB word, and the splitting and row cutting of a 4 MB single line, finish
// within generous bounds that a quadratic step (minutes to hours at these sizes) cannot meet.

import Dispatch
import Foundation
@testable import HATEval
import HATModel
import HATTensor
import HATText
import Testing

@Suite struct LongInputs {
    @Test func deleteChoosesWhatRescanningWouldChoose() {
        let pieces: [String] = ["a", "b", "Z", "é", "e\u{301}", "ж", "λ", "\u{1100}", "\u{1161}", "\u{11A8}", "가", "'", "\u{2019}", "ß", "ﬁ"]
        var rng = RandomGenerator(seed: 11)
        var checked = 0
        for _ in 0..<4000 {
            let text = (0..<(1 + rng.nextInt(below: 9))).map { _ in pieces[rng.nextInt(below: pieces.count)] }.joined()
            guard PerturbWords.isSingleWord(text) else { continue }
            let word = Array(text)
            for pos in PerturbWords.letterPositions(word) {
                var shorter = word
                shorter.remove(at: pos)
                #expect(DeleteLetter.leavesOneWord(word, deleting: pos) == PerturbWords.isSingleWord(String(shorter)),
                        "\(text.unicodeScalars.map { String($0.value, radix: 16) }) at \(pos)")
                checked += 1
            }
        }
        #expect(checked > 2000)
    }

    @Test func everyPerturbationOfOneHugeWordIsLinear() throws {
        let word = String(repeating: "abcdéfghij", count: 20_000)          // one 210 kB word
        for p in everyPerturbation {
            var rng = RandomGenerator(seed: 1)
            let start = DispatchTime.now().uptimeNanoseconds
            _ = p.apply(word, rate: 1, rng: &rng)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            // Linear takes well under a second; the quadratic delete took over a minute at this size.
            #expect(seconds < 20, "\(p.name) took \(seconds) s on one 210 kB word")
        }
    }

    @Test func aHugeSingleLineIsSplitAndCutIntoRowsLinearly() throws {
        let splitter = try WordSplitter(options: SplitterOptions(maxWordBytes: 100))
        var line: [UInt8] = []
        var rng = RandomGenerator(seed: 2)
        let words = ["the", "cat", "sat", "on", "a", "mat", ",", ".", "1,000", "x:y", "naïve"]
        while line.count < 4_000_000 { line += Array(words[rng.nextInt(below: words.count)].utf8) + [0x20] }
        line += Array(repeating: UInt8(ascii: "a"), count: 1_000_000)       // and one 1 MB "word", cut by the cap
        let start = DispatchTime.now().uptimeNanoseconds
        var stream = WordStream()
        stream.appendDocument(line, splitter: splitter, endOfSequence: 192)
        let rows = stream.rows(wordsPerRow: 256, maxRowBytes: 2048)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        #expect(stream.byteCount == line.count + 1 && rows.last?.upperBound == stream.wordCount)
        #expect(seconds < 30, "5 MB took \(seconds) s")
    }
}
