// Real misspellings: a selected word with a known misspelling is replaced by one. The table is
// codespell's list of misspellings seen in the wild (`wrong TAB right`, written to
// data/spelling/codespell.tsv by scripts/fetch_data.py; CC-BY-SA-3.0), read inverted
// (right → wrongs). Only pairs where both sides are single words (PerturbCore's definition) are
// kept, so the number of words never changes.

import Foundation
import HATIO
import HATTensor

public struct MisspellingTable: Sendable, Equatable {
    /// Lower-case correct word → its misspellings (lower case, sorted, no duplicates).
    public let misspellings: [String: [String]]

    /// From (wrong, right) pairs; pairs that are not single words, or equal, are skipped.
    public init(pairs: [(wrong: String, right: String)]) {
        var m: [String: Set<String>] = [:]
        for (wrong, right) in pairs {
            let w = wrong.lowercased(), r = right.lowercased()
            guard w != r, MisspellingTable.isWord(w), MisspellingTable.isWord(r) else { continue }
            m[r, default: []].insert(w)
        }
        misspellings = m.mapValues { $0.sorted() }
    }

    /// Reads a `wrong TAB right` file (blank lines and lines starting with # are skipped).
    public static func load(path: String) throws -> MisspellingTable {
        let data: [UInt8]
        do { data = try TextFile.contents(of: path, what: "misspelling table") } catch let error as HATIOError {
            throw PerturbationError.cannotRead(path: path, reason: error.message)
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw PerturbationError.cannotRead(path: path, reason: "not valid UTF-8")
        }
        var pairs: [(wrong: String, right: String)] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 2, !fields[0].isEmpty, !fields[1].isEmpty else {
                throw PerturbationError.badLine(path: path, line: n + 1, found: String(line))
            }
            pairs.append((String(fields[0]), String(fields[1])))
        }
        return MisspellingTable(pairs: pairs)
    }

    /// Where Debian's `codespell` package keeps codespell's dictionary.
    public static let codespellDictionary = "/usr/lib/python3/dist-packages/codespell_lib/data/dictionary.txt"

    /// Reads codespell's own dictionary (`wrong->right`, lines as scripts/fetch_data.py turns them
    /// into codespell.tsv): one fix is taken; several options (a trailing comma) give the first;
    /// a comma followed by a reason (the "misspelling" is often a real word) drops the line.
    public static func load(codespellDictionary path: String) throws -> MisspellingTable {
        let data: [UInt8]
        do { data = try TextFile.contents(of: path, what: "codespell dictionary") } catch let error as HATIOError {
            throw PerturbationError.cannotRead(path: path, reason: error.message)
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw PerturbationError.cannotRead(path: path, reason: "not valid UTF-8")
        }
        return MisspellingTable(pairs: codespellPairs(text))
    }

    /// The (wrong, right) pairs of a codespell dictionary's text.
    static func codespellPairs(_ text: String) -> [(wrong: String, right: String)] {
        var pairs: [(wrong: String, right: String)] = []
        for line in text.split(separator: "\n") {
            guard let arrow = line.range(of: "->") else { continue }
            let wrong = line[..<arrow.lowerBound].trimmingCharacters(in: .whitespaces)
            let fixes = line[arrow.upperBound...].trimmingCharacters(in: .whitespacesAndNewlines)
            if fixes.contains(","), !fixes.hasSuffix(",") { continue }
            guard let right = fixes.split(separator: ",").first?.trimmingCharacters(in: .whitespaces),
                  !wrong.isEmpty, !right.isEmpty else { continue }
            pairs.append((wrong, right))
        }
        return pairs
    }

    /// Number of correct words that have a misspelling.
    public var count: Int { misspellings.count }

    static func isWord(_ s: String) -> Bool { PerturbWords.isSingleWord(s) }
}

/// Replace a selected word by a real misspelling of it, case kept (Word → Wrod, WORD → WROD).
public struct Misspell: WordPerturbation {
    public static let name = "misspell"
    public static let summary = "replace a word by a real misspelling of it (codespell list; words without one unchanged)"
    public let table: MisspellingTable
    public init(table: MisspellingTable) { self.table = table }
    public var name: String { Misspell.name }
    public var summary: String { Misspell.summary }

    public func perturb(word: [Character], rng: inout RandomGenerator) -> [Character]? {
        let original = String(word)
        guard let wrongs = table.misspellings[original.lowercased()], !wrongs.isEmpty else { return nil }
        let wrong = wrongs[rng.nextInt(below: wrongs.count)]
        let allCaps = word.count > 1 && word.contains(where: \.isUppercase) && !word.contains(where: \.isLowercase)
        if allCaps { return Array(wrong.uppercased()) }
        if let first = word.first, first.isUppercase, let w0 = wrong.first {
            return Array(w0.uppercased() + wrong.dropFirst())
        }
        return Array(wrong)
    }
}
