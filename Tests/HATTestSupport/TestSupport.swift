// HATTestSupport: what several test targets share — the tiny preset (Models/configs/tiny.json,
// with any departures a test needs written at its call), fresh random weights, a tiny corpus of
// public-domain prose, and temporary directories that are removed when the test ends.

import Foundation
import HATModel
import HATTensor
import HATText

public enum TinyModel {
    /// The repository's root, found from this file's place in it.
    public static let repositoryRoot: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// Models/configs/tiny.json, changed by `adjust` (e.g. a smaller word cap for a test).
    public static func config(_ adjust: (inout HATConfig) -> Void = { _ in }) throws -> HATConfig {
        var config = try HATConfig.load(path: repositoryRoot + "/Models/configs/tiny.json")
        adjust(&config)
        try config.validate()
        return config
    }

    /// A tiny random model whose logits are spread enough that greedy choices are not near-ties
    /// (for generation and robustness tests): the tiny preset with a decoder window of 12, a word
    /// cap of 12 and one kv head in the decoder's cross-attention, weights N(0, std²).
    public static func spread(seed: UInt64 = 7, std: Float = 0.3, everyLayer: Bool = false) throws -> (HATConfig, ParameterSet) {
        let config = try TinyModel.config { c in
            c.decoderConfig.slidingWindow = 12
            c.decoderConfig.crossAttentionConfig?.numKeyValueHeads = 1
            c.decoderConfig.crossAttnEveryLayer = everyLayer
            c.maxWordSize = 12
        }
        return (config, parameters(config, seed: seed, std: std))
    }

    /// The config's word splitter.
    public static func splitter(_ config: HATConfig) throws -> WordSplitter { try config.makeSplitter() }

    /// Fresh weights for `config` from `seed` (matrices N(0, std²), norm gains 1).
    public static func parameters(_ config: HATConfig, seed: UInt64 = 1, std: Float = 0.02) -> ParameterSet {
        let parameters = ParameterSet(HierarchicalModel.parameterSpecs(config))
        var rng = RandomGenerator(seed: seed)
        HierarchicalModel.initialize(parameters, rng: &rng, std: std)
        return parameters
    }
}

/// A directory under the system's temporary directory, removed with everything in it when the
/// value is released (keep it alive for the whole test: `defer { _ = directory }` or use its path late).
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(_ label: String = "test") throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("hat-\(label)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// A path inside the directory (not created).
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

public enum TinyCorpus {
    /// Three small documents (Austen, Melville, Doyle; public domain) written into `directory`;
    /// returns the directory's path.
    @discardableResult
    public static func write(into directory: String) throws -> String {
        let texts = [
            "a.txt": String(repeating: "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding families. ", count: 6),
            "b.txt": String(repeating: "Call me Ishmael. Some years ago—never mind how long precisely—having little or no money in my purse, and nothing particular to interest me on shore, I thought I would sail about a little and see the watery part of the world. ", count: 6),
            "c.txt": String(repeating: "To Sherlock Holmes she is always the woman. I have seldom heard him mention her under any other name. In his eyes she eclipses and predominates the whole of her sex. ", count: 6),
        ]
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, text) in texts {
            try text.write(toFile: (directory as NSString).appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        return directory
    }
}

/// Runs every body on its own thread, all at once, and waits for all; rethrows the first error.
/// (For tests that two computations in one process do not affect each other.)
public func runConcurrently(_ bodies: [() throws -> Void]) throws {
    final class Outcome: @unchecked Sendable {
        var errors: [Error?]
        let bodies: [() throws -> Void]
        init(_ bodies: [() throws -> Void]) { self.bodies = bodies; errors = Array(repeating: nil, count: bodies.count) }
    }
    let outcome = Outcome(bodies)
    let group = DispatchGroup()
    for i in bodies.indices {
        group.enter()
        let thread = Thread {
            do { try outcome.bodies[i]() } catch { outcome.errors[i] = error }
            group.leave()
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
    group.wait()
    if let error = outcome.errors.compactMap({ $0 }).first { throw error }
}
