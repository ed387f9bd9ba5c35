// Half: bit-exact conversions between Float and the 16-bit formats of checkpoints.
// bf16 = the top 16 bits of an IEEE f32; f16 = IEEE binary16 (1 sign, 5 exponent, 10 mantissa).
// Narrowing rounds to nearest, ties to even; NaN stays NaN (quiet); overflow gives ±inf.
// Widening is exact (f16 subnormals, infinities and NaN payloads included).

public enum Half {
    /// bf16 bits → Float (exact).
    @inlinable @inline(__always)
    public static func bf16ToFloat(_ h: UInt16) -> Float {
        Float(bitPattern: UInt32(h) << 16)
    }

    /// Float → bf16 bits, round to nearest even; NaN stays a (quiet) NaN.
    @inlinable @inline(__always)
    public static func floatToBF16(_ f: Float) -> UInt16 {
        let x = f.bitPattern
        if x & 0x7FFF_FFFF > 0x7F80_0000 {              // NaN: keep sign and top payload, force quiet bit
            return UInt16(truncatingIfNeeded: x >> 16) | 0x0040
        }
        let roundingBias: UInt32 = 0x7FFF &+ ((x >> 16) & 1)
        return UInt16(truncatingIfNeeded: (x &+ roundingBias) >> 16)
    }

    /// f16 bits → Float (exact, including subnormals, ±inf and NaN).
    @inlinable @inline(__always)
    public static func f16ToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            // zero or subnormal: mantissa · 2^-24 (exact in Float)
            let magnitude = Float(mantissa) * 0x1p-24
            return Float(bitPattern: sign | magnitude.bitPattern)
        }
        if exponent == 31 {
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))   // inf or NaN
        }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }

    /// Float → f16 bits, round to nearest even; overflow → ±inf; NaN stays a (quiet) NaN.
    @inlinable
    public static func floatToF16(_ f: Float) -> UInt16 {
        let x = f.bitPattern
        let sign = UInt16(truncatingIfNeeded: (x >> 16) & 0x8000)
        let exponent = Int((x >> 23) & 0xFF)
        let mantissa = x & 0x7F_FFFF
        if exponent == 0xFF {
            if mantissa == 0 { return sign | 0x7C00 }
            return sign | 0x7E00 | UInt16(truncatingIfNeeded: mantissa >> 13)
        }
        let e = exponent - 127 + 15                       // f16 biased exponent
        if e >= 31 { return sign | 0x7C00 }
        if e <= 0 {
            // f16 subnormal (or zero): value / 2^-24, rounded; |x| < 2^-25 rounds to zero
            if e < -10 { return sign }
            let significand = mantissa | 0x80_0000        // 24 bits
            let shift = UInt32(14 - e)                    // 14 ... 24
            var r = significand >> shift
            let rest = significand & ((1 << shift) - 1)
            let half: UInt32 = 1 << (shift - 1)
            if rest > half || (rest == half && r & 1 == 1) { r += 1 }
            return sign | UInt16(r)                       // r == 0x400 is the smallest normal
        }
        var r = UInt32(e) << 10 | (mantissa >> 13)
        let rest = mantissa & 0x1FFF
        if rest > 0x1000 || (rest == 0x1000 && r & 1 == 1) { r += 1 }   // may carry into inf
        return sign | UInt16(r)
    }

    // MARK: bulk conversions (unaligned sources allowed)

    /// `count` bf16 values from `src` (any alignment) into `dst`.
    public static func bf16ToFloat(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            dst[i] = bf16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        }
    }

    /// `count` f16 values from `src` (any alignment) into `dst`.
    public static func f16ToFloat(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            dst[i] = f16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        }
    }

    /// `count` Floats into bf16 bits.
    public static func floatToBF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count { dst[i] = floatToBF16(src[i]) }
    }

    /// `count` Floats into f16 bits.
    public static func floatToF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count { dst[i] = floatToF16(src[i]) }
    }
}
