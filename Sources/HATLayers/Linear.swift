// Linear: y = x Wᵀ with weight [out, in] and no bias (torch nn.Linear(bias=False)).
// Both products run on the layer's context (ComputeContext.gemm: cut by shape, any thread count
// gives the same bits). When the parameters hold their matrices packed (`--weights bf16`, `q8_0`,
// …), a forward of at most PackedMatrix.maxRows rows (a decoding step) reads the packed copy.
//
// Shapes: N rows, I input width, O output width.

import HATTensor

public final class Linear {
    public let name: String
    public let weight: Tensor       // [O, I]
    public let weightGrad: Tensor   // [O, I]
    /// The weight packed (the same numbers as `weight`), when the parameters were loaded so.
    public let packedWeight: PackedMatrix?
    /// Skip dW (the input gradient still flows).
    public var isFrozen = false
    public let context: ComputeContext

    public var inputWidth: Int { weight.cols }
    public var outputWidth: Int { weight.rows }

    public init(parameters: ParameterSet, name: String, context: ComputeContext) {
        self.name = name
        self.context = context
        weight = parameters.value(name)
        weightGrad = parameters.grad(name)
        packedWeight = parameters.packedMatrix(name)
    }

    public static func parameterSpecs(name: String, input: Int, output: Int) -> [ParameterSpec] {
        [ParameterSpec(name, [output, input])]
    }

    /// y = x Wᵀ, or y += x Wᵀ with `accumulate` (a residual add for free).
    public func forward(out y: Tensor /*[N, O]*/, input x: Tensor /*[N, I]*/, accumulate: Bool = false) {
        if let w = packedWeight, x.rows <= PackedMatrix.maxRows {
            context.packedProduct(x, w, into: y, accumulate: accumulate)
        } else {
            context.gemm(x, weight, transposeB: true, into: y, beta: accumulate ? 1 : 0)
        }
    }

    /// dW += dyᵀ x (unless frozen); dx = dy W, or dx += dy W with `accumulateInput`; dx nil skips it.
    public func backward(dInput dx: Tensor? /*[N, I]*/, dOut dy: Tensor /*[N, O]*/, input x: Tensor /*[N, I]*/,
                         accumulateInput: Bool = false) {
        if !isFrozen {
            context.gemm(dy, transposeA: true, x, into: weightGrad, beta: 1)
        }
        if let dx {
            context.gemm(dy, weight, into: dx, beta: accumulateInput ? 1 : 0)
        }
    }
}
