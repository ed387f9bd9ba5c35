// Linear: y = x Wᵀ with weight [out, in] and no bias (torch nn.Linear(bias=False)).
// Both products run on the layer's context (ComputeContext.gemm: cut by shape, any thread count
// gives the same bits); a forward of at most four rows (a decoding step) reads a float32 weight in
// place (ComputeContext.fewRowProduct) instead of through sgemm, which packs it first. When the
// parameters hold their matrices packed (`--weights bf16`, `q8_0`, …) the weight exists only
// packed and every forward reads it so (ComputeContext.packedProduct); such a layer is for
// inference and has no backward.
//
// Shapes: N rows, I input width, O output width.

import HATTensor

public final class Linear {
    public let name: String
    /// The weight [O, I], float32 or packed (for inference only) as the parameters hold it.
    public let weight: LayerWeight
    public let weightGrad: Tensor   // [O, I]
    /// Skip dW (the input gradient still flows).
    public var isFrozen = false
    public let context: ComputeContext

    public let inputWidth: Int
    public let outputWidth: Int

    public init(parameters: ParameterSet, name: String, context: ComputeContext) {
        self.name = name
        self.context = context
        weight = LayerWeight(parameters: parameters, name: name)
        weightGrad = parameters.grad(name)
        (inputWidth, outputWidth) = (weightGrad.cols, weightGrad.rows)
    }

    public static func parameterSpecs(name: String, input: Int, output: Int) -> [ParameterSpec] {
        [ParameterSpec(name, [output, input])]
    }

    /// y = x Wᵀ, or y += x Wᵀ with `accumulate` (a residual add for free).
    public func forward(out y: Tensor /*[N, O]*/, input x: Tensor /*[N, I]*/, accumulate: Bool = false) {
        switch weight {
        case .float32(let weight) where x.rows <= PackedMatrix.maxRows && weight.rowStride == weight.cols:
            context.fewRowProduct(x, weight, into: y, accumulate: accumulate)
        case .float32(let weight): context.gemm(x, weight, transposeB: true, into: y, beta: accumulate ? 1 : 0)
        case .packed(let packed): context.packedProduct(x, packed, into: y, accumulate: accumulate)
        }
    }

    /// dW += dyᵀ x (unless frozen); dx = dy W, or dx += dy W with `accumulateInput`; dx nil skips it.
    /// dW is summed before dx is written, so dx may be x's own memory.
    public func backward(dInput dx: Tensor? /*[N, I]*/, dOut dy: Tensor /*[N, O]*/, input x: Tensor /*[N, I]*/,
                         accumulateInput: Bool = false) {
        let weight = weight.requireFloat32(in: "Linear \(name)")
        if !isFrozen {
            context.gemm(dy, transposeA: true, x, into: weightGrad, beta: 1)
        }
        if let dx {
            context.gemm(dy, weight, into: dx, beta: accumulateInput ? 1 : 0)
        }
    }
}
