// Generation: the cached session gives the same bytes as the uncached reference (full forward
// per byte) under greedy decoding, for prompts in several scripts, ending inside a word, inside
// a multi-byte character, empty, invalid UTF-8, and longer than the windows and the chunk size;
// sampling is reproducible from its seed; stop sequences and limits stop.

import Foundation
import HATGenerate
import HATModel
import HATTensor
import HATTestSupport
import Testing

func tinyModel(seed: UInt64 = 7, everyLayer: Bool = false) throws -> (HATConfig, ParameterSet) {
    try TinyModel.spread(seed: seed, everyLayer: everyLayer)
}

/// A fresh context for a session or model of a test (2 threads unless said otherwise).
func testContext(_ threads: Int = 2) -> ComputeContext { ComputeContext(threads: threads) }

let prompts: [(String, [UInt8])] = [
    ("empty", []),
    ("inside a word", Array("The quick brown fox jum".utf8)),
    ("German inside a character", Array("Grüße aus K".utf8) + [0xC3]),
    ("Chinese", Array("你好世界".utf8)),
    ("Russian", Array("Привет, ми".utf8)),
    ("Arabic and emoji", Array("مرحبا 👋🏽 ".utf8)),
    ("invalid UTF-8", [0xFF, 0x41, 0x80, 0x20, 0xC3, 0x28]),
    ("camelCase and spaces", Array("someCamelCase   words\twith\ttabs\n".utf8)),
    ("longer than windows and chunk", Array(String(repeating: "Call me Ishmael. Some years ago—never mind how long precisely—having little money. ", count: 5).utf8)),
]

@Suite(.serialized) struct CachedGeneration {
    @Test(arguments: prompts.indices)
    func cachedEqualsUncachedUnderGreedy(_ index: Int) throws {
        let (name, prompt) = prompts[index]
        for everyLayer in [false, true] {
            let (config, parameters) = try tinyModel(everyLayer: everyLayer)
            let cached = try GenerationSession(config: config, parameters: parameters, chunkBytes: 64, context: testContext())
            let uncached = try UncachedModel(config: config, parameters: parameters, capacity: 2048, context: testContext())
            let limits = GenerationLimits(maxBytes: 48)
            let a = try Generator(model: cached, sampling: .greedy).generate(prompt: prompt, limits: limits)
            let b = try Generator(model: uncached, sampling: .greedy).generate(prompt: prompt, limits: limits)
            #expect(a.bytes == b.bytes, "\(name) (cross-attention every layer: \(everyLayer)): cached \(a.bytes) vs uncached \(b.bytes)")
            #expect(a.words == b.words, "\(name): \(a.words) vs \(b.words) words")
            #expect(!a.bytes.isEmpty || a.stopReason == .endOfSequence)
        }
    }

    @Test func logitsOfCachedAndUncachedAgreeByteByByte() throws {
        let (config, parameters) = try tinyModel()
        let cached = try GenerationSession(config: config, parameters: parameters, chunkBytes: 8, context: testContext())
        let uncached = try UncachedModel(config: config, parameters: parameters, capacity: 1024, context: testContext())
        let text = Array("Hello, world! don't U.S.A. 3.14 你好 hello   world ".utf8)
        var worst: Float = 0
        for byte in text {
            cached.feed([byte])
            uncached.feed([byte])
            for i in 0..<256 { worst = max(worst, abs(cached.nextByteLogits[i] - uncached.nextByteLogits[i])) }
            #expect(cached.completedWords == uncached.completedWords)
        }
        #expect(worst < 1e-4, "max |Δ logit| \(worst)")
    }

    /// Packed weights: byte-by-byte decoding (a few rows: the packed kernels) gives the logits of
    /// the full forward over the same parameters (many rows: sgemm over the numbers the packed
    /// weights mean), so `hat eval --weights F` measures what decoding with F computes.
    @Test(arguments: [WeightFormat.bf16, .q8_0, .q4_k])
    func packedWeightsDecodeAsTheFullForwardOverTheSameNumbers(format: WeightFormat) throws {
        let (config, parameters) = try tinyModel()
        parameters.packMatrices(format)
        #expect(parameters.packedBytes > 0)
        let cached = try GenerationSession(config: config, parameters: parameters, chunkBytes: 8, context: testContext())
        let uncached = try UncachedModel(config: config, parameters: parameters, capacity: 1024, context: testContext())
        var worst: Float = 0
        for byte in Array("Hello, world! 3.14 你好 hello   world ".utf8) {
            cached.feed([byte])
            uncached.feed([byte])
            for i in 0..<256 { worst = max(worst, abs(cached.nextByteLogits[i] - uncached.nextByteLogits[i])) }
        }
        #expect(worst < 1e-4, "\(format.rawValue): max |Δ logit| \(worst)")
    }

    @Test func chunkedPrefillEqualsByteByByte() throws {
        let (config, parameters) = try tinyModel()
        let whole = try GenerationSession(config: config, parameters: parameters, chunkBytes: 32, context: testContext())
        let single = try GenerationSession(config: config, parameters: parameters, chunkBytes: 32, context: testContext())
        let text = Array("It is a truth universally acknowledged, that a single man in possession of a good fortune.".utf8)
        whole.feed(text)
        for byte in text { single.feed([byte]) }
        var worst: Float = 0
        for i in 0..<256 { worst = max(worst, abs(whole.nextByteLogits[i] - single.nextByteLogits[i])) }
        #expect(worst < 1e-4)
        #expect(whole.completedWords == single.completedWords)
    }

    @Test func resetClearsTheContext() throws {
        let (config, parameters) = try tinyModel()
        let session = try GenerationSession(config: config, parameters: parameters, context: testContext())
        let fresh = Array(UnsafeBufferPointer(start: session.nextByteLogits, count: 256))
        session.feed(Array("some context".utf8))
        session.reset()
        let again = Array(UnsafeBufferPointer(start: session.nextByteLogits, count: 256))
        #expect(fresh == again)
    }
}

@Suite(.serialized) struct SamplingBehaviour {
    @Test func sameSeedSameTextDifferentSeedDifferentText() throws {
        let (config, parameters) = try tinyModel()
        let session = try GenerationSession(config: config, parameters: parameters, context: testContext())
        func run(_ seed: UInt64) throws -> [UInt8] {
            session.reset()
            let options = SamplingOptions(temperature: 1.0, topK: 40, topP: 0.95, minP: 0.01, repetitionPenalty: 1.1, seed: seed)
            return try Generator(model: session, sampling: options).generate(prompt: Array("Once upon".utf8),
                                                                          limits: GenerationLimits(maxBytes: 64)).bytes
        }
        #expect(try run(1) == run(1))
        #expect(try run(1) != run(2))
    }

    @Test func stopSequenceStopsAndIsNotEmitted() throws {
        let (config, parameters) = try tinyModel()
        let session = try GenerationSession(config: config, parameters: parameters, context: testContext())
        let free = try Generator(model: session, sampling: .greedy).generate(prompt: [], limits: GenerationLimits(maxBytes: 40))
        // A stop sequence of two bytes of the greedy output whose first occurrence starts at p ≥ 2:
        // generation must stop right there, with exactly the p bytes before it.
        let p = try #require((2..<(free.bytes.count - 1)).first { p in
            let pair = free.bytes[p..<(p + 2)]
            return !(0..<p).contains { free.bytes[$0..<($0 + 2)] == pair }
        }, "greedy output \(free.bytes) has no two-byte sequence first seen after position 2")
        let stop = Array(free.bytes[p..<(p + 2)])
        session.reset()
        var emitted: [UInt8] = []
        let stopped = try Generator(model: session, sampling: .greedy).generate(
            prompt: [], limits: GenerationLimits(maxBytes: 40, stop: [stop]), raw: true) { bytes, _ in
            emitted += bytes
            return true
        }
        #expect(stopped.stopReason == .stopSequence)
        #expect(stopped.bytes == Array(free.bytes[0..<p]), "stopped at \(stop): \(stopped.bytes), greedy \(free.bytes)")
        #expect(emitted == stopped.bytes)
    }

    @Test func limitsInBytesAndWords() throws {
        let (config, parameters) = try tinyModel()
        let session = try GenerationSession(config: config, parameters: parameters, context: testContext())
        let sampling = SamplingOptions(temperature: 1, seed: 3)
        let free = try Generator(model: session, sampling: sampling)
            .generate(prompt: Array("a b".utf8), limits: GenerationLimits(maxBytes: 200))
        try #require(free.bytes.count >= 10 && free.words >= 4, "the free run should be long: \(free.bytes.count) bytes, \(free.words) words")
        session.reset()
        let r = try Generator(model: session, sampling: sampling)
            .generate(prompt: Array("a b".utf8), limits: GenerationLimits(maxBytes: 10))
        #expect(r.stopReason == .maxBytes)
        #expect(r.bytes == Array(free.bytes[0..<10]))
        session.reset()
        let w = try Generator(model: session, sampling: sampling)
            .generate(prompt: Array("a b".utf8), limits: GenerationLimits(maxBytes: 1000, maxWords: 3))
        // Generation stops at the first byte after which 3 words are complete; one byte can complete
        // two words at once (an ill-formed byte after a word is a word of its own), hence ≤ 4.
        #expect(w.stopReason == .maxWords)
        #expect((3...4).contains(w.words), "\(w.words) words")
        #expect(Array(free.bytes.prefix(w.bytes.count)) == w.bytes, "the word-limited run is a prefix of the free run")
    }

    @Test func greedyIsArgmaxAndTopKOneIsGreedy() {
        var logits = [Float](repeating: 0, count: 256)
        logits[65] = 3
        logits[66] = 2.9
        let greedy = Sampler(options: .greedy)
        let topOne = Sampler(options: SamplingOptions(temperature: 1.5, topK: 1))
        logits.withUnsafeBufferPointer { p in
            #expect(greedy.sample(logits: p.baseAddress!, count: 256, recent: [], coin: 0.99) == 65)
            #expect(topOne.sample(logits: p.baseAddress!, count: 256, recent: [], coin: 0.99) == 65)
            // A repetition penalty on byte 65 makes 66 the greedy choice.
            let penalised = Sampler(options: SamplingOptions(temperature: 0, repetitionPenalty: 1.1))
            #expect(penalised.sample(logits: p.baseAddress!, count: 256, recent: [65], coin: 0) == 66)
            // The coin picks within the kept set: with top-p 0.5 only the top byte remains (its p > 0.5 of the two).
            let sampler = Sampler(options: SamplingOptions(temperature: 0.1, topP: 0.5))
            #expect(sampler.sample(logits: p.baseAddress!, count: 256, recent: [], coin: 0.999) == 65)
        }
    }

    /// Top-p keeps the smallest prefix whose mass reaches p — not one unit fewer, not one more.
    @Test func topPKeepsExactlyTheUnitsWhoseMassReachesP() {
        // Probabilities 0.4, 0.35, 0.25 over units 0, 1, 2 (temperature 1).
        let logits: [Float] = [log(0.4), log(0.35), log(0.25)]
        logits.withUnsafeBufferPointer { p in
            let twoNeeded = Sampler(options: SamplingOptions(temperature: 1, topP: 0.7))
            // The kept mass is 0.75: a coin of 0.99 lands on the second unit, never the third.
            #expect(twoNeeded.sample(logits: p.baseAddress!, count: 3, recent: [], coin: 0.99) == 1)
            #expect(twoNeeded.sample(logits: p.baseAddress!, count: 3, recent: [], coin: 0.5) == 0)
            let oneNeeded = Sampler(options: SamplingOptions(temperature: 1, topP: 0.39))
            #expect(oneNeeded.sample(logits: p.baseAddress!, count: 3, recent: [], coin: 0.99) == 0)
            let all = Sampler(options: SamplingOptions(temperature: 1, topP: 0.9))
            #expect(all.sample(logits: p.baseAddress!, count: 3, recent: [], coin: 0.99) == 2)
        }
    }
}

@Suite struct OutputStream {
    @Test func wholeCharactersOnlyAndReplacementForInvalidRuns() {
        var stream = TextStream()
        var out: [UInt8] = []
        for b in Array("é".utf8) + [0xFF] + Array("中".utf8) + [0xE4, 0xB8] { out += stream.push(b) }
        out += stream.flush()
        #expect(String(decoding: out, as: UTF8.self) == "é\u{FFFD}中\u{FFFD}")
        var raw = TextStream(raw: true)
        #expect(raw.push(0xFF) == [0xFF])
    }
}


// Generation does not depend on the thread count or on other sessions running at the same time.
@Suite struct GenerationIndependence {
    static let prompt = Array("It is a truth universally acknowledged, that a single man in possession".utf8)

    func greedy(_ session: GenerationSession) throws -> [UInt8] {
        session.reset()
        return try Generator(model: session, sampling: .greedy).generate(prompt: Self.prompt, limits: GenerationLimits(maxBytes: 64)).bytes
    }

    @Test func greedyBytesAndLogitsAreTheSameForAnyThreadCount() throws {
        let (config, parameters) = try tinyModel()
        var outputs: [[UInt8]] = [], logits: [[Float]] = []
        for threads in [1, 2, 3, 8] {
            let session = try GenerationSession(config: config, parameters: parameters, chunkBytes: 16, context: testContext(threads))
            outputs.append(try greedy(session))
            logits.append(Array(UnsafeBufferPointer(start: session.nextByteLogits, count: 256)))
        }
        for (i, threads) in [2, 3, 8].enumerated() {
            #expect(outputs[i + 1] == outputs[0], "greedy bytes with \(threads) threads differ from 1 thread")
            #expect(logits[i + 1] == logits[0], "final logits with \(threads) threads differ from 1 thread")
        }
    }

    @Test func twoSessionsOfOneModelAtOnceEachEqualTheirSoloRun() throws {
        let (config, parameters) = try tinyModel()
        let a = try GenerationSession(config: config, parameters: parameters, context: testContext())
        let b = try GenerationSession(config: config, parameters: parameters, chunkBytes: 8, context: testContext())
        let soloA = try greedy(a), soloB = try greedy(b)
        final class Results: @unchecked Sendable { var a: [UInt8] = [], b: [UInt8] = [] }
        let results = Results()
        for _ in 0..<3 {
            try runConcurrently([{ results.a = try self.greedy(a) }, { results.b = try self.greedy(b) }])
            #expect(results.a == soloA)
            #expect(results.b == soloB)
        }
    }
}
