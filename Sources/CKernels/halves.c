// halves.c: see include/ckernels.h. 16-bit floats for key/value caches (ARCHITECTURE.md §5):
// narrowing float32 rows to bfloat16 or IEEE half and widening strided blocks of them back.
// Widening is exact for both formats, so attention over widened rows multiplies exactly the
// numbers the cache holds.

#include "ckernels.h"
#include <immintrin.h>
#include <string.h>

void hat_f16_from_f32(const float *source, uint16_t *target, long count) {
    const __m256 largest = _mm256_set1_ps(65504.0f);
    const __m256 smallest = _mm256_set1_ps(-65504.0f);
    long i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 x = _mm256_loadu_ps(source + i);
        // min/max return their second operand for a NaN first operand: keep NaN lanes as they are.
        __m256 clamped = _mm256_max_ps(_mm256_min_ps(x, largest), smallest);
        __m256 isNaN = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
        clamped = _mm256_blendv_ps(clamped, x, isNaN);
        _mm_storeu_si128((__m128i *)(target + i), _mm256_cvtps_ph(clamped, _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < count; i++) {
        float x = source[i];
        if (x == x) x = x > 65504.0f ? 65504.0f : (x < -65504.0f ? -65504.0f : x);
        target[i] = _cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT);
    }
}

static inline __m256 widen8(int format, const uint16_t *p) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (format == HAT_HALF_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

static inline float widen1(int format, uint16_t h) {
    if (format == HAT_HALF_F16) return _cvtsh_ss(h);
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void hat_widen_rows(int format, const uint16_t *source, long sourceStride, long rows, long cols,
                    float *target, long targetStride) {
    for (long r = 0; r < rows; r++) {
        const uint16_t *s = source + r * sourceStride;
        float *t = target + r * targetStride;
        long c = 0;
        for (; c + 8 <= cols; c += 8) _mm256_storeu_ps(t + c, widen8(format, s + c));
        for (; c < cols; c++) t[c] = widen1(format, s[c]);
    }
}
