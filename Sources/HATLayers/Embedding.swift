// Embedding: row lookup in a table weight [V, C] (byte embedding, V = 256), as torch
// nn.Embedding. Forward copies rows (widens them when the table is held packed, `--weights`);
// backward adds each output-gradient row to its id's row.
//
// Shapes: N rows, V vocabulary, C channels.

import HATTensor

public final class Embedding {
    public let name: String
    /// The table [V, C], float32 or packed (for inference only) as the parameters hold it.
    public let weight: LayerWeight
    public let weightGrad: Tensor   // [V, C]
    /// Skip the weight gradient (backward then does nothing).
    public var isFrozen = false
    public let context: ComputeContext

    public var vocabulary: Int { weightGrad.rows }
    public var channels: Int { weightGrad.cols }

    public init(parameters: ParameterSet, name: String, context: ComputeContext) {
        self.name = name
        self.context = context
        weight = LayerWeight(parameters: parameters, name: name)
        weightGrad = parameters.grad(name)
    }

    public static func parameterSpecs(name: String, vocabulary: Int, channels: Int) -> [ParameterSpec] {
        [ParameterSpec(name, [vocabulary, channels])]
    }

    /// out[i] = W[ids[i]]. Ids must be in 0..<V (the caller validates its input).
    public func forward(out: Tensor /*[N, C]*/, ids: UnsafePointer<Int32> /*[N]*/) {
        precondition(out.cols == channels, "Embedding \(name): out \(out.shapeDescription), table [\(vocabulary), \(channels)]")
        let c = channels, weight = weight
        context.parallelChunks(out.rows, chunk: 256) { range in
            for i in range {
                let id = Int(ids[i])
                switch weight {
                case .float32(let table): out.row(i).update(from: table.row(id), count: c)
                case .packed(let packed): packed.widenRows(id..<(id + 1), into: out.row(i))
                }
            }
        }
    }

    /// dW[ids[i]] += dOut[i]. Split over columns so that no two workers touch one float.
    public func backward(dOut: Tensor /*[N, C]*/, ids: UnsafePointer<Int32>) {
        if isFrozen { return }
        weight.requireFloat32(in: "Embedding \(name)")
        precondition(dOut.cols == channels, "Embedding \(name): dOut \(dOut.shapeDescription), table [\(vocabulary), \(channels)]")
        let grad = weightGrad, n = dOut.rows
        context.parallelChunks(channels, chunk: 16) { cols in
            for i in 0..<n {
                let src = dOut.row(i), dst = grad.row(Int(ids[i]))
                for j in cols { dst[j] += src[j] }
            }
        }
    }
}
