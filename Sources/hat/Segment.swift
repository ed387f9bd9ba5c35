// hat segment: split a file (or standard input) into words with HATText's WordSplitter and
// show them for people (text), for programs (json), or as statistics. Any bytes round-trip:
// reading streams in blocks cut just after a line feed, where the splitter always ends a word
// and starts afresh, so the words equal those of splitting the whole input at once.

import ArgumentParser
import Foundation
import HATCommandLine
import HATIO
import HATTensor
import HATText

extension SplitterMode: ExpressibleByArgument {}

struct Segment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Split text into words (HAT rules on UAX #29; any bytes round-trip).",
        discussion: """
            text: words separated by │, with ␣ for a space, ↵ for a line feed (followed by a real \
            line break), ⇥ tab, ␍ carriage return, ⍽ no-break space, ␀–␟ other controls, and ⟨XX⟩ \
            for bytes that are not UTF-8 (special tokens as ⟨<|eot_id|>⟩).
            json: one array for the whole input, one element per word: a string when the word is \
            valid UTF-8, otherwise the array of its byte values.
            Bytes that are not UTF-8 are one-byte words; an incomplete character at the very end \
            stays with the word before it (see HATText/WordSplitter.swift).
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @Argument(help: "Input file (default: standard input).") var file: String?
    @Option(help: "Splitter: hat (UAX #29 without dictionaries, causal) or icu-dictionary (ICU dictionaries for Chinese, Japanese, Thai, Lao, Khmer, Burmese).")
    var splitter: SplitterMode = .hat
    @Option(parsing: .unconditional, help: "Longest word in bytes; 0 for no cap.") var maxWordBytes = 100
    @Option(help: "Output: text (for people) or json (one array of words).") var format: Format = .text
    @Flag(help: "Print statistics (words, bytes, bytes per word, longest word, words over the cap) instead of the words.")
    var stats = false
    @Flag(help: "Replace special-token strings such as <|eot_id|> by their one-byte words first (off: bytes are kept exactly).")
    var specialTokens = false

    func validate() throws {
        try checkFlag("max-word-bytes", maxWordBytes, 0...Limits.textBytes, "(0 = no cap)")
    }

    func run() throws {
        let options = SplitterOptions(mode: splitter, maxWordBytes: maxWordBytes == 0 ? nil : maxWordBytes)
        let wordSplitter = try WordSplitter(options: options)
        let input: FileHandle
        if let file {
            input = FileHandle(fileDescriptor: try TextFile.openDescriptor(file, what: "input file"), closeOnDealloc: true)
        } else {
            input = FileHandle.standardInput
        }
        var output = SegmentOutput()
        var summary = SegmentSummary()
        var first = true
        if !stats && format == .json { output.append("[") }
        var ends: [Int] = []
        let show: (UnsafeBufferPointer<UInt8>, [Int]) -> Void = { block, ends in
            if stats {
                summary.add(block, ends, cappedWords: wordSplitter.lastCappedWords, capPieces: wordSplitter.lastCapPieces)
                return
            }
            var start = 0
            for end in ends {
                let word = UnsafeBufferPointer(rebasing: block[start..<end])
                switch format {
                case .text:
                    if !first { output.append("│") }
                    output.appendVisible(word)
                case .json:
                    output.append(first ? "\n" : ",\n")
                    output.appendJSON(word)
                }
                first = false
                start = end
                output.flushIfLarge()
            }
        }
        let progress = ProgressLine(quiet: !stats)
        var read = 0
        try forEachBlock(input) { block in
            read += block.count
            progress.update("splitting: \(ProgressLine.megabytes(read)) read")
            if specialTokens {
                let encoded = SpecialTokens.encode(Array(block))
                encoded.withUnsafeBufferPointer { b in
                    wordSplitter.split(b, into: &ends)
                    show(b, ends)
                }
            } else {
                wordSplitter.split(block, into: &ends)
                show(block, ends)
            }
        }
        progress.finish()
        if stats {
            summary.print(cap: options.maxWordBytes, to: &output)
        } else if format == .json {
            output.append(first ? "]\n" : "\n]\n")
        } else if !first {
            output.append("\n")
        }
        output.flush()
    }

    /// Calls `body` with consecutive blocks of the input, each ending just after a line feed
    /// (or at the end of the input); a line is never split across blocks.
    func forEachBlock(_ input: FileHandle, _ body: (UnsafeBufferPointer<UInt8>) -> Void) throws {
        let readSize = 4 << 20
        var pending: [UInt8] = []
        while true {
            let data = try input.read(upToCount: readSize) ?? Data()
            if data.isEmpty { break }
            let searchFrom = pending.count
            pending.append(contentsOf: data)
            guard let lastLineFeed = pending[searchFrom...].lastIndex(of: 0x0A) else { continue }
            pending.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[0...lastLineFeed])) }
            pending.removeFirst(lastLineFeed + 1)
        }
        if !pending.isEmpty { pending.withUnsafeBufferPointer { body($0) } }
    }
}

/// Totals for `--stats`.
struct SegmentSummary {
    var words = 0
    var bytes = 0
    var longest = 0
    var cappedWords = 0
    var capPieces = 0

    mutating func add(_ block: UnsafeBufferPointer<UInt8>, _ ends: [Int], cappedWords: Int, capPieces: Int) {
        var start = 0
        for end in ends {
            longest = max(longest, end - start)
            start = end
        }
        words += ends.count
        bytes += block.count
        self.cappedWords += cappedWords
        self.capPieces += capPieces
    }

    func print(cap: Int?, to output: inout SegmentOutput) {
        let perWord = words > 0 ? Double(bytes) / Double(words) : 0
        let before = words - capPieces + cappedWords // words before the cap cut any
        let share = before > 0 ? 100 * Double(cappedWords) / Double(before) : 0
        output.append("words:          \(words)\n")
        output.append("bytes:          \(bytes)\n")
        output.append("bytes per word: \(String(format: "%.3f", perWord))\n")
        output.append("longest word:   \(longest) bytes\n")
        if let cap {
            output.append("over the cap:   \(cappedWords) of \(before) words longer than \(cap) bytes (\(String(format: "%.3f", share)) %), cut into \(capPieces) words\n")
        } else {
            output.append("over the cap:   no cap\n")
        }
    }
}

/// Buffered standard output.
struct SegmentOutput {
    var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(1 << 20) }

    mutating func append(_ s: String) { bytes.append(contentsOf: s.utf8) }

    mutating func flushIfLarge() { if bytes.count >= 1 << 20 { flush() } }

    mutating func flush() {
        if bytes.isEmpty { return }
        FileHandle.standardOutput.write(Data(bytes))
        bytes.removeAll(keepingCapacity: true)
    }

    /// The word with spaces, newlines, controls and non-UTF-8 bytes made visible.
    mutating func appendVisible(_ word: UnsafeBufferPointer<UInt8>) {
        var i = 0
        while i < word.count {
            let length = utf8CharacterLength(word, at: i)
            if length == 0 {
                let b = word[i]
                if let name = SpecialTokens.name(of: b) { append("⟨\(name)⟩") }
                else { append("⟨" + String(b, radix: 16, uppercase: true).leftPadded(2) + "⟩") }
                i += 1
                continue
            }
            if length == 1 {
                let b = word[i]
                switch b {
                case 0x20: append("␣")
                case 0x0A: append("↵\n")
                case 0x09: append("⇥")
                case 0x0D: append("␍")
                case 0x7F: append("␡")
                case 0..<0x20: bytes.append(contentsOf: [0xE2, 0x90, 0x80 + b]) // U+2400 + b
                default: bytes.append(b)
                }
            } else if length == 2 && word[i] == 0xC2 && word[i + 1] == 0xA0 {
                append("⍽")
            } else {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: word[i..<(i + length)]))
            }
            i += length
        }
    }

    /// The word as a JSON string, or as an array of byte values when it is not UTF-8.
    mutating func appendJSON(_ word: UnsafeBufferPointer<UInt8>) {
        guard isValidUTF8(word) else {
            append("[" + word.map { String($0) }.joined(separator: ",") + "]")
            return
        }
        bytes.append(0x22)
        for b in word {
            switch b {
            case 0x22: append("\\\"")
            case 0x5C: append("\\\\")
            case 0x0A: append("\\n")
            case 0x0D: append("\\r")
            case 0x09: append("\\t")
            case 0..<0x20: append("\\u00" + String(b, radix: 16).leftPadded(2))
            default: bytes.append(b)
            }
        }
        bytes.append(0x22)
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
