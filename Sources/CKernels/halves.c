// halves.c: see include/ckernels.h. 16-bit floats for key/value caches (ARCHITECTURE.md §5):
// narrowing float32 rows to bfloat16 or IEEE half, widening strided blocks of them back (exact
// for both formats), and the two products of a few queries' attention read straight from them.

#include "ckernels.h"
#include <immintrin.h>
#include <math.h>
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

// The two products of one query's attention over 16-bit rows, without a widened copy: each key
// or value is widened in a register and used at once (decoding reads the cache once, in half
// the bytes). Sums in float32 in a fixed order: scores 8 lanes per row, lanes added pairwise,
// then the tail; the weighted sum row after row.

static inline float sum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

void hat_half_scores(int format, const float *q, const uint16_t *k, long kStride, long n, long d, float scale,
                     float *scores) {
    long full = d - d % 8;
    long j = 0;
    for (; j + 4 <= n; j += 4) {                         // four rows at a time: four independent chains
        const uint16_t *k0 = k + j * kStride, *k1 = k0 + kStride, *k2 = k1 + kStride, *k3 = k2 + kStride;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (long c = 0; c < full; c += 8) {
            __m256 x = _mm256_loadu_ps(q + c);
            a0 = _mm256_fmadd_ps(x, widen8(format, k0 + c), a0);
            a1 = _mm256_fmadd_ps(x, widen8(format, k1 + c), a1);
            a2 = _mm256_fmadd_ps(x, widen8(format, k2 + c), a2);
            a3 = _mm256_fmadd_ps(x, widen8(format, k3 + c), a3);
        }
        float s0 = sum8(a0), s1 = sum8(a1), s2 = sum8(a2), s3 = sum8(a3);
        for (long c = full; c < d; c++) {
            s0 += q[c] * widen1(format, k0[c]);
            s1 += q[c] * widen1(format, k1[c]);
            s2 += q[c] * widen1(format, k2[c]);
            s3 += q[c] * widen1(format, k3[c]);
        }
        scores[j] = s0 * scale;
        scores[j + 1] = s1 * scale;
        scores[j + 2] = s2 * scale;
        scores[j + 3] = s3 * scale;
    }
    for (; j < n; j++) {                                 // the same order for the last rows
        const uint16_t *kj = k + j * kStride;
        __m256 a = _mm256_setzero_ps();
        for (long c = 0; c < full; c += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + c), widen8(format, kj + c), a);
        float s = sum8(a);
        for (long c = full; c < d; c++) s += q[c] * widen1(format, kj[c]);
        scores[j] = s * scale;
    }
}

void hat_half_weighted_sum(int format, const float *p, const uint16_t *v, long vStride, long n, long d, int accumulate,
                           float *out) {
    long c = 0;
    for (; c + 32 <= d; c += 32) {                       // 32 columns in four registers
        __m256 a0 = accumulate ? _mm256_loadu_ps(out + c) : _mm256_setzero_ps();
        __m256 a1 = accumulate ? _mm256_loadu_ps(out + c + 8) : _mm256_setzero_ps();
        __m256 a2 = accumulate ? _mm256_loadu_ps(out + c + 16) : _mm256_setzero_ps();
        __m256 a3 = accumulate ? _mm256_loadu_ps(out + c + 24) : _mm256_setzero_ps();
        for (long j = 0; j < n; j++) {
            __m256 w = _mm256_set1_ps(p[j]);
            const uint16_t *vj = v + j * vStride + c;
            a0 = _mm256_fmadd_ps(w, widen8(format, vj), a0);
            a1 = _mm256_fmadd_ps(w, widen8(format, vj + 8), a1);
            a2 = _mm256_fmadd_ps(w, widen8(format, vj + 16), a2);
            a3 = _mm256_fmadd_ps(w, widen8(format, vj + 24), a3);
        }
        _mm256_storeu_ps(out + c, a0);
        _mm256_storeu_ps(out + c + 8, a1);
        _mm256_storeu_ps(out + c + 16, a2);
        _mm256_storeu_ps(out + c + 24, a3);
    }
    for (; c + 8 <= d; c += 8) {
        __m256 a = accumulate ? _mm256_loadu_ps(out + c) : _mm256_setzero_ps();
        for (long j = 0; j < n; j++) a = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), widen8(format, v + j * vStride + c), a);
        _mm256_storeu_ps(out + c, a);
    }
    for (; c < d; c++) {
        float a = accumulate ? out[c] : 0;
        for (long j = 0; j < n; j++) a = fmaf(p[j], widen1(format, v[j * vStride + c]), a);
        out[c] = a;
    }
}
