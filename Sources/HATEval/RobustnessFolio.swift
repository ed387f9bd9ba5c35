// Natural spelling variation (issue 7, item 4): the same Shakespeare lines in modern spelling
// and in the First Folio's (haue, vpon, euer). `scripts/fetch_data.py shakespeare` writes
// data/shakespeare/aligned/<play>.tsv with one `modern TAB folio` line pair per line. Each play
// becomes one document per side (its selected lines joined by LF), evaluated as training
// evaluates (`Evaluator`'s rows: whole words, EOS-opened documents); the loss of every byte is
// attributed to its line, lines are grouped into blocks of consecutive lines, and the paired
// bootstrap over blocks (the same line pairs on both sides) gives intervals for both sides and
// for folio − modern.

import Foundation
import HATIO
import HATModel
import HATTensor
import HATText

public struct FolioOptions: Codable, Equatable, Sendable {
    /// Directory of <play>.tsv files.
    public var directory: String
    /// Plays (file names without .tsv); nil: every .tsv in the directory.
    public var plays: [String]?
    /// First line pairs used per play (nil: all).
    public var linesPerPlay: Int? = 500
    /// Lines per bootstrap block.
    public var blockLines: Int = 20
    public var wordsPerRow: Int = 256
    public var maxRowBytes: Int = 2048
    public var rowsPerBatch: Int = 2

    public init(directory: String) { self.directory = directory }

    enum CodingKeys: String, CodingKey {
        case directory, plays, linesPerPlay = "lines_per_play", blockLines = "block_lines"
        case wordsPerRow = "words_per_row", maxRowBytes = "max_row_bytes", rowsPerBatch = "rows_per_batch"
    }
}

/// The aligned line pairs of the selected plays.
public struct FolioData: Sendable {
    public var plays: [(name: String, modern: [[UInt8]], folio: [[UInt8]])]

    public var modernBytes: Int { plays.reduce(0) { $0 + $1.modern.reduce(0) { $0 + $1.count + 1 } } }
    public var folioBytes: Int { plays.reduce(0) { $0 + $1.folio.reduce(0) { $0 + $1.count + 1 } } }

    public static func load(_ options: FolioOptions) throws -> FolioData {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: options.directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw RobustnessError.badData("\(options.directory): not a directory of aligned plays (<play>.tsv; scripts/fetch_data.py shakespeare)")
        }
        let available = try fm.contentsOfDirectory(atPath: options.directory).filter { $0.hasSuffix(".tsv") }
            .map { String($0.dropLast(4)) }.sorted()
        let names = options.plays ?? available
        var data = FolioData(plays: [])
        for name in names {
            guard available.contains(name) else {
                throw RobustnessError.badData("\(options.directory): no play '\(name)'; found: \(available.joined(separator: ", "))")
            }
            let path = (options.directory as NSString).appendingPathComponent(name + ".tsv")
            let bytes: [UInt8]
            do { bytes = try TextFile.contents(of: path, what: "aligned play") } catch let error as HATIOError {
                throw RobustnessError.badData(error.description)
            }
            var modern: [[UInt8]] = [], folio: [[UInt8]] = []
            for (n, line) in Array(bytes).split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
                if line.isEmpty { continue }
                let fields = line.split(separator: 0x09, omittingEmptySubsequences: false)
                guard fields.count == 2, !fields[0].isEmpty, !fields[1].isEmpty else {
                    throw RobustnessError.badData("\(path):\(n + 1): expected 'modern<TAB>folio', found \(fields.count) field(s)")
                }
                modern.append(Array(fields[0]))
                folio.append(Array(fields[1]))
                if let limit = options.linesPerPlay, modern.count >= limit { break }
            }
            if modern.isEmpty { throw RobustnessError.badData("\(path): no line pairs") }
            data.plays.append((name, modern, folio))
        }
        if data.plays.isEmpty { throw RobustnessError.badData("\(options.directory): no .tsv files") }
        return data
    }
}

/// One side (modern or folio) of one play.
public struct FolioSide: Codable, Equatable, Sendable {
    public var bytes: Int
    public var words: Int
    public var bitsPerByte: Interval
    public var bytesPerPosition: Double { words == 0 ? .nan : Double(bytes) / Double(words) }

    enum CodingKeys: String, CodingKey { case bytes, words, bitsPerByte = "bits_per_byte", bytesPerPosition = "bytes_per_position" }

    public init(bytes: Int, words: Int, bitsPerByte: Interval) {
        self.bytes = bytes
        self.words = words
        self.bitsPerByte = bitsPerByte
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        bytes = try c.decode(Int.self, forKey: .bytes)
        words = try c.decode(Int.self, forKey: .words)
        bitsPerByte = try c.decode(Interval.self, forKey: .bitsPerByte)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(bytes, forKey: .bytes)
        try c.encode(words, forKey: .words)
        try c.encode(bitsPerByte, forKey: .bitsPerByte)
        try c.encode(bytesPerPosition, forKey: .bytesPerPosition)
    }
}

public struct FolioPlay: Codable, Equatable, Sendable {
    public var name: String
    public var lines: Int
    public var modern: FolioSide
    public var folio: FolioSide
    /// Folio − modern bits per byte (paired over the play's blocks).
    public var delta: Interval
}

public struct FolioResult: Codable, Equatable, Sendable {
    public var plays: [FolioPlay]
    public var blocks: Int
    public var blockLines: Int
    /// All plays pooled.
    public var modern: FolioSide
    public var folio: FolioSide
    public var delta: Interval
}

public enum FolioEvaluation {
    /// Evaluates one model on both sides. `progress(bytes)` after every batch.
    public static func run(config: HATConfig, parameters: ParameterSet, data: FolioData, options: FolioOptions,
                           bootstrap: BootstrapSettings, context: ComputeContext,
                           shouldStop: @escaping () -> Bool = { false },
                           progress: (Int) -> Void = { _ in }) throws -> FolioResult {
        let splitter = try config.makeSplitter()
        let capacity = options.rowsPerBatch * options.maxRowBytes
        try MemoryPlan.requireBatch(config, maxBytes: capacity, maxWords: options.rowsPerBatch * options.wordsPerRow,
                                    threads: context.threads, training: false, what: "the First Folio test")
        let network = HierarchicalModel(config: config, parameters: parameters, maxBytes: capacity,
                                        maxWords: options.rowsPerBatch * options.wordsPerRow, context: context,
                                        needsBackward: false)
        let batch = Batch(maxBytes: capacity, maxWords: options.rowsPerBatch * options.wordsPerRow, config: config)

        // Blocks: (play, first line) of every block of `blockLines` consecutive lines.
        var blockOfLine: [[Int]] = []          // [play][line] → block
        var blockPlay: [Int] = []               // [block] → play
        for (p, play) in data.plays.enumerated() {
            blockOfLine.append(play.modern.indices.map { blockPlay.count + $0 / max(options.blockLines, 1) })
            let count = (play.modern.count + max(options.blockLines, 1) - 1) / max(options.blockLines, 1)
            blockPlay += [Int](repeating: p, count: count)
        }

        /// Per-block nats and bytes of one side, and its bytes and words per play.
        func side(_ lines: (Int) -> [[UInt8]]) throws -> (nats: [Double], bytes: [Double], perPlay: [(bytes: Int, words: Int)]) {
            var stream = WordStream()
            var block: [Int32] = []             // [stream bytes] → block, −1 for EOS words
            var perPlay: [(bytes: Int, words: Int)] = []
            for p in data.plays.indices {
                var document: [UInt8] = []
                let wordsBefore = stream.wordCount
                block.append(-1)                // the EOS word
                for (l, line) in lines(p).enumerated() {
                    document += line
                    document.append(0x0A)
                    block += [Int32](repeating: Int32(blockOfLine[p][l]), count: line.count + 1)
                }
                stream.appendDocument(document, splitter: splitter, endOfSequence: UInt8(config.eosTokenId))
                perPlay.append((document.count, stream.wordCount - wordsBefore - 1))
            }
            var nats = [Double](repeating: 0, count: blockPlay.count)
            var bytes = [Double](repeating: 0, count: blockPlay.count)
            let rows = stream.rows(wordsPerRow: options.wordsPerRow, maxRowBytes: options.maxRowBytes)
            try ByteLoss.evaluate(model: network, stream: stream, rows: rows, batch: batch,
                                  shouldStop: shouldStop, progress: progress) { i, loss, _ in
                let b = Int(block[i])
                if b >= 0 {
                    nats[b] += loss
                    bytes[b] += 1
                }
            }
            return (nats, bytes, perPlay)
        }
        let modern = try side { data.plays[$0].modern }
        let folio = try side { data.plays[$0].folio }

        func sideResult(_ s: (nats: [Double], bytes: [Double], perPlay: [(bytes: Int, words: Int)]),
                        blocks: [Int], plays: [Int]) -> FolioSide {
            FolioSide(bytes: plays.reduce(0) { $0 + s.perPlay[$1].bytes }, words: plays.reduce(0) { $0 + s.perPlay[$1].words },
                      bitsPerByte: Bootstrap.bitsPerByte(nats: blocks.map { s.nats[$0] }, bytes: blocks.map { s.bytes[$0] },
                                                         settings: bootstrap))
        }
        func deltaOf(_ blocks: [Int]) -> Interval {
            Bootstrap.bitsPerByteDifference(nats: blocks.map { folio.nats[$0] }, bytes: blocks.map { folio.bytes[$0] },
                                            minus: blocks.map { modern.nats[$0] }, bytes: blocks.map { modern.bytes[$0] },
                                            settings: bootstrap)
        }
        var plays: [FolioPlay] = []
        for (p, play) in data.plays.enumerated() {
            let blocks = blockPlay.indices.filter { blockPlay[$0] == p }
            plays.append(FolioPlay(name: play.name, lines: play.modern.count,
                                   modern: sideResult(modern, blocks: blocks, plays: [p]),
                                   folio: sideResult(folio, blocks: blocks, plays: [p]), delta: deltaOf(blocks)))
        }
        let all = Array(blockPlay.indices), allPlays = Array(data.plays.indices)
        return FolioResult(plays: plays, blocks: blockPlay.count, blockLines: options.blockLines,
                           modern: sideResult(modern, blocks: all, plays: allPlays),
                           folio: sideResult(folio, blocks: all, plays: allPlays), delta: deltaOf(all))
    }
}
