// RandomGenerator: xoshiro256** seeded through SplitMix64. Passed explicitly (inout) to
// everything that draws random numbers; nothing global. Its state is four words. Training draws
// from generators seeded by the run's seed and epoch, so a resumed run recomputes exactly what an
// uninterrupted one would draw (checkpoints hold no generator state).

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

public struct RandomGenerator: RandomNumberGenerator, Codable, Equatable, Sendable {
    public var state: [UInt64]

    public init(seed: UInt64) {
        var s = seed
        var words: [UInt64] = []
        for _ in 0..<4 {
            // SplitMix64
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            words.append(z ^ (z >> 31))
        }
        state = words
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = RandomGenerator.rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = RandomGenerator.rotl(state[3], 45)
        return result
    }

    /// Uniform in [0, 1) with 24 random bits.
    public mutating func nextUniform() -> Float {
        Float(next() >> 40) * (1.0 / Float(1 << 24))
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextDouble() -> Double {
        Double(next() >> 11) * (1.0 / Double(UInt64(1) << 53))
    }

    /// Standard normal by Box–Muller (one value per call; simple and exact enough for init).
    public mutating func nextNormal() -> Float {
        var u1 = nextDouble()
        while u1 <= .ulpOfOne { u1 = nextDouble() }
        let u2 = nextDouble()
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// Uniform integer in 0..<bound.
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0)
        return Int(next(upperBound: UInt64(bound)))
    }

    /// Fill a tensor with N(0, std²).
    public mutating func fillNormal(_ t: Tensor, std: Float) {
        for r in 0..<t.rows {
            let p = t.row(r)
            for c in 0..<t.cols { p[c] = nextNormal() * std }
        }
    }

    /// Fill a tensor with U(-bound, bound).
    public mutating func fillUniform(_ t: Tensor, bound: Float) {
        for r in 0..<t.rows {
            let p = t.row(r)
            for c in 0..<t.cols { p[c] = (2 * nextUniform() - 1) * bound }
        }
    }
}

