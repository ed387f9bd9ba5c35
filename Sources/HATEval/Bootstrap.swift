// Bootstrap confidence intervals for robustness results (issue 7, item 2): the percentile
// bootstrap over samples (Efron & Tibshirani, ch. 13), paired when two conditions were measured
// on the same samples. A resample is a vector of multiplicities (how often each sample was drawn,
// n draws with replacement), so a statistic is a weighted sum and a resample costs O(n).
//
// Statistics used here: a ratio of sums (bits per byte = Σ nats / Σ bytes / ln 2, pooled over
// samples as an evaluation over their concatenation would be), a mean (accuracy), and the
// difference of two such statistics on the same resample (paired).
//
// Shapes: n samples, B resamples.

import Foundation
import HATTensor

/// A point estimate with a two-sided percentile interval.
public struct Interval: Codable, Equatable, Sendable {
    public var estimate: Double
    public var low: Double
    public var high: Double
    public init(estimate: Double, low: Double, high: Double) {
        self.estimate = estimate
        self.low = low
        self.high = high
    }
    /// True when the interval excludes 0 (a difference that the resamples agree on in sign).
    public var excludesZero: Bool { low > 0 || high < 0 }
}

public struct BootstrapSettings: Codable, Equatable, Sendable {
    /// Number of resamples B.
    public var resamples: Int = 1000
    /// Coverage of the interval (0.95: the 2.5 % and 97.5 % percentiles).
    public var level: Double = 0.95
    public var seed: UInt64 = 0
    public init(resamples: Int = 1000, level: Double = 0.95, seed: UInt64 = 0) {
        self.resamples = resamples
        self.level = level
        self.seed = seed
    }
}

public enum Bootstrap {
    /// The B resamples of n samples as multiplicity vectors [B][n] (each sums to n). The same
    /// settings and n give the same resamples, so every condition is resampled identically.
    public static func multiplicities(samples n: Int, settings: BootstrapSettings) -> [[Double]] {
        var rng = RandomGenerator(seed: settings.seed ^ 0xB007_5743)
        return (0..<max(settings.resamples, 0)).map { _ in
            var m = [Double](repeating: 0, count: n)     // [n]
            for _ in 0..<n { m[rng.nextInt(below: n)] += 1 }
            return m
        }
    }

    /// Percentile `q` (0...1) of `sorted` with linear interpolation between order statistics
    /// (R's type 7: position q·(B−1)).
    public static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let position = min(max(q, 0), 1) * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down)), upper = min(lower + 1, sorted.count - 1)
        let fraction = position - Double(lower)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
    }

    /// Estimate `statistic(all ones)` with the percentile interval of `statistic` over the
    /// resamples. Non-finite resample values (e.g. 0/0) are dropped.
    public static func interval(samples n: Int, settings: BootstrapSettings,
                                resamples: [[Double]]? = nil, statistic: ([Double]) -> Double) -> Interval {
        let estimate = statistic([Double](repeating: 1, count: n))
        guard n > 0 else { return Interval(estimate: estimate, low: .nan, high: .nan) }
        let draws = resamples ?? multiplicities(samples: n, settings: settings)
        let values = draws.map(statistic).filter(\.isFinite).sorted()
        let tail = (1 - settings.level) / 2
        return Interval(estimate: estimate, low: percentile(values, tail), high: percentile(values, 1 - tail))
    }

    // MARK: The statistics

    /// Σ w·numerator / Σ w·denominator.
    public static func ratio(_ numerator: [Double], _ denominator: [Double], weights w: [Double]) -> Double {
        var a = 0.0, b = 0.0
        for i in w.indices where w[i] != 0 {
            a += w[i] * numerator[i]
            b += w[i] * denominator[i]
        }
        return a / b
    }

    /// Σ w·x / Σ w.
    public static func mean(_ x: [Double], weights w: [Double]) -> Double {
        var a = 0.0, b = 0.0
        for i in w.indices where w[i] != 0 {
            a += w[i] * x[i]
            b += w[i]
        }
        return a / b
    }

    /// Bits per byte of the pooled samples (Σ nats / Σ bytes / ln 2) with its interval.
    public static func bitsPerByte(nats: [Double], bytes: [Double], settings: BootstrapSettings,
                                   resamples: [[Double]]? = nil) -> Interval {
        interval(samples: nats.count, settings: settings, resamples: resamples) {
            ratio(nats, bytes, weights: $0) / M_LN2
        }
    }

    /// Paired difference of pooled bits per byte, condition a minus condition b, both measured
    /// on the same samples (index i is the same sample in both).
    public static func bitsPerByteDifference(nats a: [Double], bytes aBytes: [Double], minus b: [Double],
                                             bytes bBytes: [Double], settings: BootstrapSettings,
                                             resamples: [[Double]]? = nil) -> Interval {
        precondition(a.count == b.count, "paired conditions need the same samples")
        return interval(samples: a.count, settings: settings, resamples: resamples) {
            (ratio(a, aBytes, weights: $0) - ratio(b, bBytes, weights: $0)) / M_LN2
        }
    }

    /// Mean of `x` (e.g. 0/1 correctness: a proportion) with its interval.
    public static func mean(_ x: [Double], settings: BootstrapSettings, resamples: [[Double]]? = nil) -> Interval {
        interval(samples: x.count, settings: settings, resamples: resamples) { mean(x, weights: $0) }
    }

    /// Paired difference of means (of proportions, for 0/1 values): mean(a) − mean(b).
    public static func meanDifference(_ a: [Double], minus b: [Double], settings: BootstrapSettings,
                                      resamples: [[Double]]? = nil) -> Interval {
        precondition(a.count == b.count, "paired conditions need the same samples")
        return interval(samples: a.count, settings: settings, resamples: resamples) {
            mean(a, weights: $0) - mean(b, weights: $0)
        }
    }
}
