// Tests of the f16/bf16 conversions on edge values: zeros, subnormals, the largest finite,
// infinities, NaN, ties (round to nearest even) and exhaustive f16 round trips.

import Testing
import HATIO

@Suite struct HalfTests {
    @Test func bf16RoundsToNearestEven() {
        // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1 + 2^-7: ties to even (1.0)
        #expect(Half.floatToBF16(1 + 0x1p-8) == 0x3F80)
        // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up
        #expect(Half.floatToBF16(1 + 3 * 0x1p-8) == 0x3F82)
        // just above the halfway point rounds up
        #expect(Half.floatToBF16(Float(bitPattern: 0x3F80_8001)) == 0x3F81)
        #expect(Half.floatToBF16(Float(bitPattern: 0x3F80_7FFF)) == 0x3F80)
        #expect(Half.floatToBF16(-2.5) == 0xC020)
        #expect(Half.floatToBF16(0) == 0x0000)
        #expect(Half.floatToBF16(-0.0) == 0x8000)
        #expect(Half.floatToBF16(.infinity) == 0x7F80)
        #expect(Half.floatToBF16(-.infinity) == 0xFF80)
        // the largest finite Float rounds to infinity in bf16
        #expect(Half.floatToBF16(.greatestFiniteMagnitude) == 0x7F80)
        // smallest Float subnormal rounds to zero; a bf16-representable subnormal stays
        #expect(Half.floatToBF16(Float(bitPattern: 1)) == 0)
        #expect(Half.floatToBF16(Float(bitPattern: 0x0001_0000)) == 0x0001)
    }

    @Test func bf16NaNStaysNaN() {
        // a NaN whose payload is only in the low 16 bits would become inf if truncated
        let nan = Float(bitPattern: 0x7F80_0001)
        #expect(nan.isNaN)
        #expect(Half.bf16ToFloat(Half.floatToBF16(nan)).isNaN)
        #expect(Half.bf16ToFloat(Half.floatToBF16(-Float.nan)).isNaN)
        #expect(Half.bf16ToFloat(Half.floatToBF16(Float.nan)).isNaN)
    }

    @Test func bf16WidenIsExactForEveryPattern() {
        for h in 0...UInt32(0xFFFF) {
            let f = Half.bf16ToFloat(UInt16(h))
            #expect(f.bitPattern == h << 16)
            if !f.isNaN { #expect(Half.floatToBF16(f) == UInt16(h)) }
        }
    }

    @Test func f16EdgeValues() {
        #expect(Half.f16ToFloat(0x0000) == 0 && Half.f16ToFloat(0x0000).sign == .plus)
        #expect(Half.f16ToFloat(0x8000) == 0 && Half.f16ToFloat(0x8000).sign == .minus)
        #expect(Half.f16ToFloat(0x0001) == 0x1p-24)                     // smallest subnormal
        #expect(Half.f16ToFloat(0x03FF) == 1023 * 0x1p-24)              // largest subnormal
        #expect(Half.f16ToFloat(0x0400) == 0x1p-14)                     // smallest normal
        #expect(Half.f16ToFloat(0x7BFF) == 65504)                       // largest finite
        #expect(Half.f16ToFloat(0x3C00) == 1)
        #expect(Half.f16ToFloat(0xC000) == -2)
        #expect(Half.f16ToFloat(0x3555) == Float(0x1555 - 0x1400 + 1024) / 1024 * 0x1p-2)
        #expect(Half.f16ToFloat(0x7C00) == .infinity)
        #expect(Half.f16ToFloat(0xFC00) == -.infinity)
        #expect(Half.f16ToFloat(0x7E00).isNaN)
        #expect(Half.f16ToFloat(0x7C01).isNaN)                          // signalling NaN stays NaN
    }

    @Test func f16NarrowingRounds() {
        #expect(Half.floatToF16(65504) == 0x7BFF)
        #expect(Half.floatToF16(65519) == 0x7BFF)                        // below the halfway point to 65536
        #expect(Half.floatToF16(65520) == 0x7C00)                        // halfway: ties to even = inf
        #expect(Half.floatToF16(1e10) == 0x7C00)
        #expect(Half.floatToF16(-1e10) == 0xFC00)
        #expect(Half.floatToF16(.infinity) == 0x7C00)
        #expect(Half.f16ToFloat(Half.floatToF16(.nan)).isNaN)
        #expect(Half.f16ToFloat(Half.floatToF16(Float(bitPattern: 0x7F80_0001))).isNaN)
        #expect(Half.floatToF16(0x1p-24) == 0x0001)
        #expect(Half.floatToF16(0x1p-25) == 0x0000)                      // halfway to the smallest subnormal: even = 0
        #expect(Half.floatToF16(Float(bitPattern: (0x1p-25 as Float).bitPattern + 1)) == 0x0001)
        #expect(Half.floatToF16(3 * 0x1p-25) == 0x0002)                  // halfway between 1 and 2 units: even = 2
        #expect(Half.floatToF16(1023.5 * 0x1p-24) == 0x0400)             // rounds up into the smallest normal
        #expect(Half.floatToF16(1 + 0x1p-11) == 0x3C00)                  // tie to even (down)
        #expect(Half.floatToF16(1 + 3 * 0x1p-11) == 0x3C02)              // tie to even (up)
        #expect(Half.floatToF16(-0.0) == 0x8000)
        #expect(Half.floatToF16(1e-30) == 0)
    }

    @Test func f16RoundTripsEveryPattern() {
        for h in 0...UInt32(0xFFFF) {
            let f = Half.f16ToFloat(UInt16(h))
            if f.isNaN { continue }
            #expect(Half.floatToF16(f) == UInt16(h), "pattern \(String(h, radix: 16))")
            #if arch(arm64) || arch(x86_64)
            #expect(f == Float(Float16(bitPattern: UInt16(h))))
            #endif
        }
    }

    @Test func f16NarrowingMatchesHardwareOnRandomFloats() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<200_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let bits = UInt32(truncatingIfNeeded: state >> 32)
            let f = Float(bitPattern: bits)
            if f.isNaN { continue }
            #expect(Half.floatToF16(f) == Float16(f).bitPattern, "\(f) bits \(String(bits, radix: 16))")
        }
    }
}
