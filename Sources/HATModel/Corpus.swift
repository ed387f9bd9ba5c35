// Corpus: documents read from files (a directory means every *.txt under it, at any depth,
// sorted by relative path; one file is one document, named by its path relative to the
// directory given), a deterministic train/validation split by document, and their word streams.
// The same split is reproduced from the same files, fraction and seed. A file may be a
// FIFO or a device (read to its end, TextFile).

import Foundation
import HATIO
import HATTensor
import HATText

public struct Document: Sendable {
    public let name: String
    public let bytes: [UInt8]
    public init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }
}

public struct CorpusError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

public enum Corpus {
    /// Reads documents from files and directories (a directory contributes every *.txt under it).
    public static func documents(paths: [String]) throws -> [Document] {
        var documents: [Document] = []
        let fm = FileManager.default
        for path in paths {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw CorpusError(message: "data path not found: \(path)")
            }
            if isDirectory.boolValue {
                guard let walker = fm.enumerator(atPath: path) else { throw CorpusError(message: "cannot list \(path)") }
                let names = walker.compactMap { $0 as? String }.filter { $0.hasSuffix(".txt") }.sorted()
                if names.isEmpty { throw CorpusError(message: "no .txt files in directory \(path)") }
                for name in names {
                    documents.append(try read((path as NSString).appendingPathComponent(name), name: name))
                }
            } else {
                documents.append(try read(path, name: (path as NSString).lastPathComponent))
            }
        }
        return documents
    }

    private static func read(_ path: String, name: String) throws -> Document {
        do {
            return Document(name: name, bytes: try TextFile.contents(of: path, what: "text"))
        } catch let error as HATIOError {
            throw CorpusError(message: error.description)
        }
    }

    /// Splits by document: a seeded shuffle of the documents (sorted by name first) puts the
    /// first `validationFraction` of them (at least one when there are two or more) in validation.
    public static func split(_ documents: [Document], validationFraction: Double, seed: UInt64)
        -> (train: [Document], validation: [Document]) {
        if documents.count < 2 || validationFraction <= 0 { return (documents, []) }
        var order = documents.sorted { $0.name < $1.name }
        var rng = RandomGenerator(seed: seed ^ 0x5EED_5EED)
        order.shuffle(using: &rng)
        let count = min(max(1, Int((Double(documents.count) * validationFraction).rounded())), documents.count - 1)
        let validation = Array(order.prefix(count)).sorted { $0.name < $1.name }
        let names = Set(validation.map(\.name))
        let train = documents.filter { !names.contains($0.name) }.sorted { $0.name < $1.name }
        return (train, validation)
    }

    /// Word stream of `documents` in order, each opened by the end-of-sequence word.
    public static func wordStream(_ documents: [Document], splitter: WordSplitter, endOfSequence: UInt8) -> WordStream {
        var stream = WordStream()
        for document in documents {
            stream.appendDocument(document.bytes, splitter: splitter, endOfSequence: endOfSequence)
        }
        return stream
    }
}
