// GGML tensor types as stored in GGUF files (ids, block sizes, bytes per block) and the
// dequantisation of F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K to Float.
// Block layouts follow ggml-common.h; the arithmetic (float32, same order of operations)
// follows the reference dequantisers so results match the `gguf` Python package bit for bit.

public enum GGMLType: UInt32, CaseIterable, Sendable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39, nvfp4 = 40, q1_0 = 41

    /// The ggml name, e.g. "Q4_K".
    public var name: String {
        switch self {
        case .f32: "F32"; case .f16: "F16"; case .bf16: "BF16"; case .f64: "F64"
        case .i8: "I8"; case .i16: "I16"; case .i32: "I32"; case .i64: "I64"
        case .q4_0: "Q4_0"; case .q4_1: "Q4_1"; case .q5_0: "Q5_0"; case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"; case .q8_1: "Q8_1"
        case .q2_K: "Q2_K"; case .q3_K: "Q3_K"; case .q4_K: "Q4_K"; case .q5_K: "Q5_K"; case .q6_K: "Q6_K"; case .q8_K: "Q8_K"
        case .iq2_xxs: "IQ2_XXS"; case .iq2_xs: "IQ2_XS"; case .iq3_xxs: "IQ3_XXS"; case .iq1_s: "IQ1_S"
        case .iq4_nl: "IQ4_NL"; case .iq3_s: "IQ3_S"; case .iq2_s: "IQ2_S"; case .iq4_xs: "IQ4_XS"; case .iq1_m: "IQ1_M"
        case .tq1_0: "TQ1_0"; case .tq2_0: "TQ2_0"; case .mxfp4: "MXFP4"; case .nvfp4: "NVFP4"; case .q1_0: "Q1_0"
        }
    }

    /// Elements per block (1 for plain types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_nl, .mxfp4: 32
        case .nvfp4: 64
        case .q1_0: 128
        default: 256
        }
    }

    /// Bytes per block.
    public var typeSize: Int {
        let k = 256
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .f64, .i64: return 8
        case .i8: return 1
        case .q4_0: return 2 + 16
        case .q4_1: return 2 + 2 + 16
        case .q5_0: return 2 + 4 + 16
        case .q5_1: return 2 + 2 + 4 + 16
        case .q8_0: return 2 + 32
        case .q8_1: return 4 + 4 + 32
        case .q2_K: return 2 + 2 + k / 16 + k / 4
        case .q3_K: return 2 + k / 4 + k / 8 + 12
        case .q4_K: return 2 + 2 + k / 2 + 12
        case .q5_K: return 2 + 2 + k / 2 + k / 8 + 12
        case .q6_K: return 2 + k / 2 + k / 4 + k / 16
        case .q8_K: return 4 + k + k / 8
        case .iq2_xxs: return 2 + k / 4
        case .iq2_xs: return 2 + k / 4 + k / 32
        case .iq3_xxs: return 2 + k / 4 + k / 8
        case .iq1_s: return 2 + k / 8 + k / 16
        case .iq4_nl: return 2 + 16
        case .iq3_s: return 2 + k / 4 + k / 8 + k / 32 + 4
        case .iq2_s: return 2 + k / 4 + k / 16
        case .iq4_xs: return 2 + 2 + k / 2 + k / 64
        case .iq1_m: return k / 8 + k / 16 + k / 32
        case .tq1_0: return 2 + 4 * 13
        case .tq2_0: return 2 + 64
        case .mxfp4: return 1 + 16
        case .nvfp4: return 4 + 32
        case .q1_0: return 2 + 16
        }
    }

    /// Types `GGMLDequantize.run` converts to Float.
    public static let dequantizable: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]

    public var canDequantize: Bool { Self.dequantizable.contains(self) }
}

public enum GGMLDequantize {
    /// Converts `count` elements (a whole number of blocks) of `type` at `src` into `dst`.
    /// The caller has checked that `src` holds `count / blockSize * typeSize` bytes.
    /// Returns false for a type this function does not handle.
    @discardableResult
    public static func run(_ type: GGMLType, src: UnsafeRawPointer, dst: UnsafeMutablePointer<Float>, count: Int) -> Bool {
        precondition(count % type.blockSize == 0, "\(type.name): \(count) elements is not a whole number of blocks")
        let blocks = count / type.blockSize
        switch type {
        case .f32: UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: 4 * count)
        case .f16: Half.f16ToFloat(src, dst, count: count)
        case .bf16: Half.bf16ToFloat(src, dst, count: count)
        case .q8_0: for b in 0..<blocks { q8_0(src + b * 34, dst + b * 32) }
        case .q4_0: for b in 0..<blocks { q4_0(src + b * 18, dst + b * 32) }
        case .q4_1: for b in 0..<blocks { q4_1(src + b * 20, dst + b * 32) }
        case .q5_0: for b in 0..<blocks { q5_0(src + b * 22, dst + b * 32) }
        case .q5_1: for b in 0..<blocks { q5_1(src + b * 24, dst + b * 32) }
        case .q4_K: for b in 0..<blocks { q4_K(src + b * 144, dst + b * 256) }
        case .q5_K: for b in 0..<blocks { q5_K(src + b * 176, dst + b * 256) }
        case .q6_K: for b in 0..<blocks { q6_K(src + b * 210, dst + b * 256) }
        default: return false
        }
        return true
    }

    @inline(__always)
    private static func f16(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Half.f16ToFloat(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self).littleEndian)
    }

    @inline(__always)
    private static func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
        p.load(fromByteOffset: offset, as: UInt8.self)
    }

    // Q8_0 block (34 bytes): f16 d, int8 q[32]; x = q · d
    private static func q8_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 0)
        for j in 0..<32 { y[j] = Float(Int8(bitPattern: byte(p, 2 + j))) * d }
    }

    // Q4_0 block (18 bytes): f16 d, 16 bytes of nibbles; x[j] = (lo - 8)·d, x[j+16] = (hi - 8)·d
    private static func q4_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 0)
        for j in 0..<16 {
            let q = byte(p, 2 + j)
            y[j] = d * Float(Int(q & 0x0F) - 8)
            y[j + 16] = d * Float(Int(q >> 4) - 8)
        }
    }

    // Q4_1 block (20 bytes): f16 d, f16 m, 16 bytes of nibbles; x = q·d + m
    private static func q4_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 0), m = f16(p, 2)
        for j in 0..<16 {
            let q = byte(p, 4 + j)
            y[j] = d * Float(q & 0x0F) + m
            y[j + 16] = d * Float(q >> 4) + m
        }
    }

    // Q5_0 block (22 bytes): f16 d, u32 qh (fifth bits), 16 bytes of nibbles; x = (q - 16)·d
    private static func q5_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 0)
        let qh = p.loadUnaligned(fromByteOffset: 2, as: UInt32.self).littleEndian
        for j in 0..<16 {
            let q = byte(p, 6 + j)
            let h0 = Int((qh >> UInt32(j)) & 1) << 4
            let h1 = Int((qh >> UInt32(j + 16)) & 1) << 4
            y[j] = d * Float((Int(q & 0x0F) | h0) - 16)
            y[j + 16] = d * Float((Int(q >> 4) | h1) - 16)
        }
    }

    // Q5_1 block (24 bytes): f16 d, f16 m, u32 qh, 16 bytes of nibbles; x = q·d + m
    private static func q5_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 0), m = f16(p, 2)
        let qh = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
        for j in 0..<16 {
            let q = byte(p, 8 + j)
            let h0 = Int((qh >> UInt32(j)) & 1) << 4
            let h1 = Int((qh >> UInt32(j + 16)) & 1) << 4
            y[j] = d * Float(Int(q & 0x0F) | h0) + m
            y[j + 16] = d * Float(Int(q >> 4) | h1) + m
        }
    }

    /// 6-bit scale and min of sub-block j (0..<8) from the 12 packed bytes of Q4_K/Q5_K.
    @inline(__always)
    private static func scaleMin(_ s: UnsafeRawPointer, _ j: Int) -> (Float, Float) {
        if j < 4 {
            return (Float(byte(s, j) & 63), Float(byte(s, j + 4) & 63))
        }
        let sc = (byte(s, j + 4) & 0x0F) | ((byte(s, j - 4) >> 6) << 4)
        let m = (byte(s, j + 4) >> 4) | ((byte(s, j) >> 6) << 4)
        return (Float(sc), Float(m))
    }

    // Q4_K super-block (144 bytes): f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of
    // nibbles; 8 sub-blocks of 32: x = (d·sc)·q - dmin·m. Bytes 32g..32g+31 hold sub-blocks 2g (low) and 2g+1 (high).
    private static func q4_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 0), dmin = f16(p, 2)
        let scales = p + 4
        let qs = p + 16
        for g in 0..<4 {
            let (sc0, m0) = scaleMin(scales, 2 * g)
            let (sc1, m1) = scaleMin(scales, 2 * g + 1)
            let d0 = d * sc0, dm0 = dmin * m0, d1 = d * sc1, dm1 = dmin * m1
            for l in 0..<32 {
                let q = byte(qs, 32 * g + l)
                y[64 * g + l] = d0 * Float(q & 0x0F) - dm0
                y[64 * g + 32 + l] = d1 * Float(q >> 4) - dm1
            }
        }
    }

    // Q5_K super-block (176 bytes): f16 d, f16 dmin, 12 bytes of scales/mins, 32 bytes qh (bit i of
    // qh[l] is the fifth bit of element l of sub-block i), 128 bytes of nibbles as in Q4_K.
    private static func q5_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 0), dmin = f16(p, 2)
        let scales = p + 4
        let qh = p + 16
        let qs = p + 48
        for g in 0..<4 {
            let (sc0, m0) = scaleMin(scales, 2 * g)
            let (sc1, m1) = scaleMin(scales, 2 * g + 1)
            let d0 = d * sc0, dm0 = dmin * m0, d1 = d * sc1, dm1 = dmin * m1
            for l in 0..<32 {
                let q = byte(qs, 32 * g + l)
                let h = byte(qh, l)
                let h0 = (h >> UInt8(2 * g)) & 1, h1 = (h >> UInt8(2 * g + 1)) & 1
                y[64 * g + l] = d0 * Float((q & 0x0F) | (h0 << 4)) - dm0
                y[64 * g + 32 + l] = d1 * Float((q >> 4) | (h1 << 4)) - dm1
            }
        }
    }

    // Q6_K super-block (210 bytes): ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16], f16 d.
    // Each half of 128 elements uses ql[64h…], qh[32h…]; 16 sub-blocks of 16: x = (d·sc)·(q - 32).
    private static func q6_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 208)
        for h in 0..<2 {
            let ql = p + 64 * h
            let qh = p + 128 + 32 * h
            let sc = p + 192 + 8 * h
            let out = y + 128 * h
            for l in 0..<32 {
                let a = byte(ql, l), b = byte(ql, l + 32), hh = byte(qh, l)
                let q1 = Int((a & 0x0F) | ((hh & 3) << 4)) - 32
                let q2 = Int((b & 0x0F) | (((hh >> 2) & 3) << 4)) - 32
                let q3 = Int((a >> 4) | (((hh >> 4) & 3) << 4)) - 32
                let q4 = Int((b >> 4) | (((hh >> 6) & 3) << 4)) - 32
                let s = l / 16
                out[l] = (d * Float(Int8(bitPattern: byte(sc, s)))) * Float(q1)
                out[l + 32] = (d * Float(Int8(bitPattern: byte(sc, s + 2)))) * Float(q2)
                out[l + 64] = (d * Float(Int8(bitPattern: byte(sc, s + 4)))) * Float(q3)
                out[l + 96] = (d * Float(Int8(bitPattern: byte(sc, s + 6)))) * Float(q4)
            }
        }
    }
}
