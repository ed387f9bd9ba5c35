// Where `hat robustness` finds the misspelling table for 'misspell' without --misspellings:
// data/spelling/codespell.tsv, else Debian codespell's dictionary, else one clear error that
// names both places and how to get either.

import Foundation
@testable import hat
import Testing

@Suite struct MisspellingFallbackTests {
    @Test func theTSVComesFirstThenTheDictionaryThenAClearError() throws {
        let scratch = try temporaryDirectory("misspellings")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let tsv = scratch + "/codespell.tsv", dictionary = scratch + "/dictionary.txt"
        try "recieve\treceive\n".write(toFile: tsv, atomically: true, encoding: .utf8)
        try "teh->the\n".write(toFile: dictionary, atomically: true, encoding: .utf8)
        #expect(try Robustness.defaultMisspellingTable(tsv: tsv, dictionary: dictionary).misspellings == ["receive": ["recieve"]])
        #expect(try Robustness.defaultMisspellingTable(tsv: scratch + "/none.tsv", dictionary: dictionary).misspellings
                == ["the": ["teh"]])
        do {
            _ = try Robustness.defaultMisspellingTable(tsv: scratch + "/none.tsv", dictionary: scratch + "/none.txt")
            Issue.record("no table, no error")
        } catch {
            let message = "\(error)"
            #expect(message.contains("none.tsv") && message.contains("none.txt") && message.contains("scripts/setup"), "\(message)")
        }
    }
}
