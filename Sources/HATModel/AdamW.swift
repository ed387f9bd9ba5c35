// AdamW exactly as torch.optim.AdamW computes it (decoupled weight decay applied first, bias
// corrections folded into the step size and denominator), over a ParameterSet's flat layout:
// the moments m and v have the same layout as the parameters, so the update is a flat loop
// per parameter entry. Entries carry a learning-rate multiplier (the backbone's own rate in
// stage 2 of grafting), a frozen flag (stage 1) and decay only for matrices.

import HATTensor

#if canImport(Glibc)
import Glibc
#endif

public struct AdamWSettings: Codable, Equatable, Sendable {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.95
    public var epsilon: Float = 1e-8
    public var weightDecay: Float = 0.1
    public init(beta1: Float = 0.9, beta2: Float = 0.95, epsilon: Float = 1e-8, weightDecay: Float = 0.1) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }
}

public final class AdamW {
    public let settings: AdamWSettings
    public let parameters: ParameterSet
    public let m: UnsafeMutablePointer<Float>   // [count] first moments, parameter layout
    public let v: UnsafeMutablePointer<Float>   // [count] second moments, parameter layout
    /// Number of updates taken so far (bias corrections use it).
    public var step = 0
    public let context: ComputeContext

    public init(parameters: ParameterSet, settings: AdamWSettings, context: ComputeContext) {
        self.parameters = parameters
        self.context = context
        self.settings = settings
        m = .allocate(capacity: max(parameters.count, 1))
        v = .allocate(capacity: max(parameters.count, 1))
        m.initialize(repeating: 0, count: max(parameters.count, 1))
        v.initialize(repeating: 0, count: max(parameters.count, 1))
    }

    deinit {
        m.deallocate()
        v.deallocate()
    }

    /// One update with base learning rate `learningRate`; `rateMultiplier(entry)` scales it per
    /// entry (0 = frozen: neither the weights nor the moments move).
    public func update(learningRate: Float, rateMultiplier: (ParameterSet.Entry) -> Float) {
        step += 1
        let b1 = settings.beta1, b2 = settings.beta2, eps = settings.epsilon
        let correction1 = 1 - Float(pow(Double(b1), Double(step)))
        let correction2Root = Float(sqrt(1 - pow(Double(b2), Double(step))))
        let values = parameters.values, grads = parameters.grads
        for entry in parameters.entries {
            let rate = learningRate * rateMultiplier(entry)
            if rate == 0 { continue }
            let decay: Float = entry.spec.decays ? 1 - rate * settings.weightDecay : 1
            let stepSize = rate / correction1
            let start = entry.offset, end = entry.offset + entry.count
            context.parallelChunks(end - start, chunk: 1 << 14) { range in
                for i in (start + range.lowerBound)..<(start + range.upperBound) {
                    let g = grads[i]
                    let mi = b1 * m[i] + (1 - b1) * g
                    let vi = b2 * v[i] + (1 - b2) * g * g
                    m[i] = mi
                    v[i] = vi
                    let denominator = vi.squareRoot() / correction2Root + eps
                    values[i] = values[i] * decay - stepSize * mi / denominator
                }
            }
        }
    }
}

/// Global L2 norm of the gradients of the entries where `include` is true; when it exceeds
/// `maxNorm`, scales them by maxNorm / (norm + 1e-6) (as torch.nn.utils.clip_grad_norm_).
/// Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: ParameterSet, maxNorm: Float, include: (ParameterSet.Entry) -> Bool) -> Float {
    var sumSquares = 0.0
    for entry in parameters.entries where include(entry) {
        let g = parameters.grads + entry.offset
        var partial: Float = 0
        for i in 0..<entry.count { partial += g[i] * g[i] }
        sumSquares += Double(partial)
    }
    let norm = Float(sumSquares.squareRoot())
    if maxNorm > 0 && norm > maxNorm {
        let factor = maxNorm / (norm + 1e-6)
        for entry in parameters.entries where include(entry) {
            let g = parameters.grads + entry.offset
            for i in 0..<entry.count { g[i] *= factor }
        }
    }
    return norm
}

/// Linear warm-up to the peak rate, then cosine decay to `finalFraction` of it at `totalSteps`
/// (ARCHITECTURE.md §7: decay to 10 %). `step` counts from 0.
public struct LearningRateSchedule: Codable, Equatable, Sendable {
    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    public var finalFraction: Float = 0.1

    public init(peak: Float, warmupSteps: Int, totalSteps: Int, finalFraction: Float = 0.1) {
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.finalFraction = finalFraction
    }

    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let span = max(totalSteps - warmupSteps, 1)
        let progress = min(Double(step - warmupSteps) / Double(span), 1)
        let cosine = 0.5 * (1 + cos(Double.pi * progress))
        return peak * (finalFraction + (1 - finalFraction) * Float(cosine))
    }
}
