// AdamW against a Double transcription of torch.optim.AdamW's update, step by step: decoupled
// weight decay on matrices only, both bias corrections (a step without either differs already at
// step 1, where they matter most), a per-entry rate multiplier, and frozen entries (rate 0) whose
// weights and moments do not move.

import Foundation
import HATModel
import HATTensor
import HATTestSupport
import Testing

@Suite struct AdamWTests {
    /// torch.optim.AdamW for one scalar: returns the new (value, m, v).
    static func reference(value: Double, grad g: Double, m: Double, v: Double, step t: Int, rate: Double,
                          decay: Double, settings s: AdamWSettings) -> (Double, Double, Double) {
        let b1 = Double(s.beta1), b2 = Double(s.beta2)
        let decayed = value * (1 - rate * decay)
        let m1 = b1 * m + (1 - b1) * g
        let v1 = b2 * v + (1 - b2) * g * g
        let mHat = m1 / (1 - pow(b1, Double(t)))
        let vHat = v1 / (1 - pow(b2, Double(t)))
        return (decayed - rate * mHat / (vHat.squareRoot() + Double(s.epsilon)), m1, v1)
    }

    @Test func fiveStepsEqualTorchsFormula() {
        let parameters = ParameterSet([ParameterSpec("matrix", [3, 4]), ParameterSpec("gain", [5]), ParameterSpec("frozen", [2, 2])])
        var rng = RandomGenerator(seed: 11)
        for i in 0..<parameters.count { parameters.values[i] = 2 * rng.nextUniform() - 1 }
        let settings = AdamWSettings(beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1)
        let optimizer = AdamW(parameters: parameters, settings: settings, context: ComputeContext(threads: 2))
        let multiplier: (ParameterSet.Entry) -> Float = { $0.name == "frozen" ? 0 : $0.name == "gain" ? 0.5 : 1 }

        var expected = (0..<parameters.count).map { Double(parameters.values[$0]) }
        var m = [Double](repeating: 0, count: parameters.count), v = m
        let frozenBefore = parameters.entries[2].offset
        let frozenValues = Array(UnsafeBufferPointer(start: parameters.values + frozenBefore, count: 4))
        for step in 1...5 {
            let bound: Float = step == 1 ? 1e-3 : 2   // tiny first gradients
            for i in 0..<parameters.count { parameters.grads[i] = (2 * rng.nextUniform() - 1) * bound }
            let learningRate: Float = 1e-2 * Float(step)
            optimizer.update(learningRate: learningRate, rateMultiplier: multiplier)
            for entry in parameters.entries {
                let rate = Double(learningRate * multiplier(entry))
                guard rate > 0 else { continue }
                for i in entry.offset..<(entry.offset + entry.count) {
                    (expected[i], m[i], v[i]) = Self.reference(value: expected[i], grad: Double(parameters.grads[i]), m: m[i], v: v[i],
                                                               step: step, rate: rate, decay: entry.spec.decays ? 0.1 : 0, settings: settings)
                }
            }
            for entry in parameters.entries where entry.name != "frozen" {
                for i in entry.offset..<(entry.offset + entry.count) {
                    #expect(abs(Double(parameters.values[i]) - expected[i]) <= 1e-6 * max(1, abs(expected[i])),
                            "step \(step) \(entry.name)[\(i - entry.offset)]: \(parameters.values[i]) vs \(expected[i])")
                    #expect(abs(Double(optimizer.m[i]) - m[i]) <= 1e-6 * max(1, abs(m[i])), "m of a sum of signed gradients (≤ 2): float rounding")
                    #expect(abs(Double(optimizer.v[i]) - v[i]) <= 1e-5 * max(1e-6, abs(v[i])))
                }
            }
        }
        #expect(Array(UnsafeBufferPointer(start: parameters.values + frozenBefore, count: 4)) == frozenValues, "frozen weights do not move")
        #expect((0..<4).allSatisfy { optimizer.m[frozenBefore + $0] == 0 && optimizer.v[frozenBefore + $0] == 0 }, "nor do their moments")
        #expect(optimizer.step == 5)
    }

    /// Without bias correction the first step would be about √(1 − β₂) / (1 − β₁) ≈ 2.2 times
    /// smaller than the learning rate; with it, every weight moves by almost exactly the rate.
    @Test func firstStepMovesEachWeightByTheRate() {
        let parameters = ParameterSet([ParameterSpec("gain", [8])])
        for i in 0..<8 { parameters.grads[i] = i % 2 == 0 ? 0.3 : -2 }
        let optimizer = AdamW(parameters: parameters, settings: AdamWSettings(weightDecay: 0), context: ComputeContext(threads: 1))
        optimizer.update(learningRate: 0.01) { _ in 1 }
        for i in 0..<8 { #expect(abs(abs(parameters.values[i]) - 0.01) < 1e-6, "\(parameters.values[i])") }
    }
}
