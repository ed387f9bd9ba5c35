// SwiGLU MLP, as Hugging Face LlamaMLP: out = down(silu(gate x) ⊙ up x), no biases, with
// silu(g) = g·σ(g) and silu'(g) = σ(g)·(1 + g·(1 − σ(g))).
// Backward overwrites the saved activations with their gradients (so it runs once per forward).
//
// Shapes: N rows, C channels, F intermediate width.

import HATTensor

public final class SwiGLU {
    public let prefix: String
    public let gateProj: Linear, upProj: Linear, downProj: Linear
    public let maxRows: Int
    public let context: ComputeContext
    public var isFrozen = false {
        didSet { for p in [gateProj, upProj, downProj] { p.isFrozen = isFrozen } }
    }
    // Saved by forward; backward reuses them for dgate, dup and dh.
    let gate: Tensor     // [N, F] gate x
    let up: Tensor       // [N, F] up x
    let hidden: Tensor   // [N, F] silu(gate) ⊙ up

    /// Parameters "\(prefix).{gate,up}_proj.weight" [F, C] and "\(prefix).down_proj.weight" [C, F].
    public init(prefix: String, hidden c: Int, intermediate f: Int, parameters: ParameterSet, maxRows: Int, arena: Arena,
                context: ComputeContext) {
        self.prefix = prefix
        self.maxRows = maxRows
        self.context = context
        gateProj = Linear(parameters: parameters, name: "\(prefix).gate_proj.weight", context: context)
        upProj = Linear(parameters: parameters, name: "\(prefix).up_proj.weight", context: context)
        downProj = Linear(parameters: parameters, name: "\(prefix).down_proj.weight", context: context)
        precondition(gateProj.outputWidth == f && gateProj.inputWidth == c && upProj.outputWidth == f
                     && upProj.inputWidth == c && downProj.outputWidth == c && downProj.inputWidth == f,
                     "\(prefix): MLP weights do not match C \(c), F \(f)")
        gate = arena.tensor(rows: maxRows, cols: f)
        up = arena.tensor(rows: maxRows, cols: f)
        hidden = arena.tensor(rows: maxRows, cols: f)
    }

    /// The float counts `init` takes from its arena (checked; nil on overflow).
    public static func arenaRequests(intermediate f: Int, maxRows: Int) -> [Int?] {
        Array(repeating: checkedMul(maxRows, f), count: 3)
    }

    public static func parameterSpecs(prefix: String, hidden c: Int, intermediate f: Int) -> [ParameterSpec] {
        [
            ParameterSpec("\(prefix).gate_proj.weight", [f, c]),
            ParameterSpec("\(prefix).up_proj.weight", [f, c]),
            ParameterSpec("\(prefix).down_proj.weight", [c, f]),
        ]
    }

    /// out = (or += with `accumulate`) down(silu(gate x) ⊙ up x).
    public func forward(out: Tensor /*[N, C]*/, input x: Tensor /*[N, C]*/, accumulate: Bool = false) {
        let n = x.rows
        precondition(n <= maxRows, "\(prefix): \(n) rows exceed capacity \(maxRows)")
        let g = gate.rows(0..<n), u = up.rows(0..<n), h = hidden.rows(0..<n)
        gateProj.forward(out: g, input: x)
        upProj.forward(out: u, input: x)
        SwiGLU.activate(gate: g, up: u, into: h, on: context)
        downProj.forward(out: out, input: h, accumulate: accumulate)
    }

    /// dInput = (or += with `accumulateInput`) ∂L/∂x, weight gradients accumulate.
    public func backward(dInput dx: Tensor, dOut dy: Tensor, input x: Tensor, accumulateInput: Bool = false) {
        let n = x.rows
        let g = gate.rows(0..<n), u = up.rows(0..<n), h = hidden.rows(0..<n)
        downProj.backward(dInput: h, dOut: dy, input: h)            // dWd += dyᵀ h, then dh = dy Wd over h
        SwiGLU.activationBackward(gate: g, up: u, dHidden: h, on: context)   // gate ← dgate, up ← dup
        gateProj.backward(dInput: dx, dOut: g, input: x, accumulateInput: accumulateInput)
        upProj.backward(dInput: dx, dOut: u, input: x, accumulateInput: true)
    }

    // MARK: element-wise kernels (contiguous [N, F] tensors)

    /// h = silu(gate) ⊙ up.
    public static func activate(gate g: Tensor, up u: Tensor, into h: Tensor, on context: ComputeContext) {
        precondition(g.isContiguous && u.isContiguous && h.isContiguous && g.count == u.count && g.count == h.count)
        let count = g.count
        let gp = g.data, up = u.data, hp = h.data
        context.parallelChunks(count / 16, chunk: 1024) { range in
            for i in range {
                let o = i * 16
                let gv = VectorMath.load(gp + o)
                VectorMath.store(gv * VectorMath.sigmoid(gv) * VectorMath.load(up + o), hp + o)
            }
        }
        for o in (count / 16 * 16)..<count {
            let gv = VectorMath.V(repeating: gp[o])
            hp[o] = (gv * VectorMath.sigmoid(gv))[0] * up[o]
        }
    }

    /// From dh: gate ← dgate = dh ⊙ up ⊙ silu'(gate), up ← dup = dh ⊙ silu(gate).
    public static func activationBackward(gate g: Tensor, up u: Tensor, dHidden h: Tensor, on context: ComputeContext) {
        precondition(g.isContiguous && u.isContiguous && h.isContiguous && g.count == u.count && g.count == h.count)
        let count = g.count
        let gp = g.data, up = u.data, hp = h.data
        @inline(__always) func step(_ gv: VectorMath.V, _ uv: VectorMath.V, _ dh: VectorMath.V)
            -> (VectorMath.V, VectorMath.V) {
            let s = VectorMath.sigmoid(gv)
            let one = VectorMath.V(repeating: 1)
            return (dh * uv * s * (one + gv * (one - s)), dh * gv * s)
        }
        context.parallelChunks(count / 16, chunk: 1024) { range in
            for i in range {
                let o = i * 16
                let (dg, du) = step(VectorMath.load(gp + o), VectorMath.load(up + o), VectorMath.load(hp + o))
                VectorMath.store(dg, gp + o)
                VectorMath.store(du, up + o)
            }
        }
        for o in (count / 16 * 16)..<count {
            let (dg, du) = step(.init(repeating: gp[o]), .init(repeating: up[o]), .init(repeating: hp[o]))
            gp[o] = dg[0]
            up[o] = du[0]
        }
    }
}
