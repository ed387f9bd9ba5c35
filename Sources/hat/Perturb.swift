// hat perturb: apply named, seeded perturbations (HATEval/Perturb*.swift) to a file or standard
// input and write the result to standard output. Several names separated by commas are applied
// in order; `--list` shows every perturbation with its one-line description.

import ArgumentParser
import Foundation
import HATCommandLine
import HATEval
import HATIO
import HATTensor

struct Perturb: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Perturb text (typos, case, diacritics, homoglyphs, spaces, real misspellings) for robustness tests.",
        discussion: """
            A word is a run of letters (apostrophes allowed inside). --rate is the probability that a \
            word is selected; for a given --seed and --rate every perturbation selects the same words. \
            Rate 0 prints the input unchanged. 'misspell' reads a codespell table \
            (scripts/fetch_data.py spelling writes data/spelling/codespell.tsv).
            """)

    @Argument(help: "Input text file, UTF-8 (default: standard input).") var file: String?
    @Option(name: [.customShort("p"), .long], help: "Perturbation name(s), comma-separated, applied in order (see --list).")
    var perturbation: String?
    @Option(parsing: .unconditional, help: "Probability that a word is selected, 0...1.") var rate: Double = 0.1
    @Option(parsing: .unconditional, help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Misspelling table (wrong TAB right) for 'misspell'.")
    var misspellings: String = "data/spelling/codespell.tsv"
    @Flag(help: "List the perturbations with their descriptions and exit.") var list = false

    func validate() throws {
        if list { return }
        guard let perturbation, !perturbation.isEmpty else {
            throw ValidationError("--perturbation is required (one or more names separated by commas; see --list)")
        }
        try checkFlag("rate", rate, 0...1)
    }

    func run() throws {
        if list {
            let width = Perturbations.catalogue.map(\.name.count).max() ?? 0
            for (name, summary) in Perturbations.catalogue {
                print(name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + summary)
            }
            return
        }
        let names = perturbation ?? ""
        let table = names.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == Misspell.name }
            ? try MisspellingTable.load(path: misspellings) : nil
        let p = try Perturbations.parse(names, misspellings: table)

        let data = Data(try TextFile.contents(of: file ?? "/dev/stdin", what: file == nil ? "standard input" : "input file"))
        let text = try PerturbCommandError.utf8(data, source: file ?? "standard input")
        var rng = RandomGenerator(seed: seed)
        let perturbed = ProgressLine().whileRunning("perturbing \(ProgressLine.megabytes(data.count))") {
            p.apply(text, rate: rate, rng: &rng)
        }
        FileHandle.standardOutput.write(Data(perturbed.utf8))
    }
}

struct PerturbCommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }

    /// `data` as a String, or an error naming the byte offset of the first invalid UTF-8.
    static func utf8(_ data: Data, source: String) throws -> String {
        var parser = Unicode.UTF8.ForwardParser()
        var bytes = data.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &bytes) {
            case .valid(let s): offset += s.count
            case .emptyInput: return String(decoding: data, as: UTF8.self)
            case .error(let length):
                throw PerturbCommandError("\(source): expected UTF-8 text, found an invalid sequence of \(length) byte(s) at byte offset \(offset)")
            }
        }
    }
}
