// halves.c: see include/ckernels.h. 16-bit floats for key/value caches (ARCHITECTURE.md §5):
// narrowing float32 rows to bfloat16 or IEEE half, widening strided blocks of them back (exact
// for both formats), and the two products of a few queries' attention read straight from them —
// the same two products over float32 caches too, summed in the same order.

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

#define ALWAYS_INLINE static inline __attribute__((always_inline))

// The attention kernels below also read float32 rows (a float32 cache): a third element format,
// private to this file, beside HAT_HALF_BF16 and HAT_HALF_F16.
enum { ROWS_F32 = 2 };

ALWAYS_INLINE long element_bytes(const int format) { return format == ROWS_F32 ? 4 : 2; }

// Element `index` of rows starting at `base`, as an address.
ALWAYS_INLINE const void *element(const int format, const void *base, long index) {
    return (const char *)base + index * element_bytes(format);
}

// Elements index … index+7, and element index alone, as float32 (exact for every format).
ALWAYS_INLINE __m256 load8(const int format, const void *base, long index) {
    if (format == ROWS_F32) return _mm256_loadu_ps((const float *)base + index);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)base + index));
    if (format == HAT_HALF_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

ALWAYS_INLINE float load1(const int format, const void *base, long index) {
    if (format == ROWS_F32) return ((const float *)base)[index];
    uint16_t h = ((const uint16_t *)base)[index];
    if (format == HAT_HALF_F16) return _cvtsh_ss(h);
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

ALWAYS_INLINE void widen_rows(const int format, const uint16_t *source, long sourceStride, long rows, long cols,
                              float *target, long targetStride) {
    for (long r = 0; r < rows; r++) {
        const uint16_t *s = source + r * sourceStride;
        float *t = target + r * targetStride;
        long c = 0;
        for (; c + 8 <= cols; c += 8) _mm256_storeu_ps(t + c, load8(format, s, c));
        for (; c < cols; c++) t[c] = load1(format, s, c);
    }
}

void hat_widen_rows(int format, const uint16_t *source, long sourceStride, long rows, long cols,
                    float *target, long targetStride) {
    if (format == HAT_HALF_F16)
        widen_rows(HAT_HALF_F16, source, sourceStride, rows, cols, target, targetStride);
    else
        widen_rows(HAT_HALF_BF16, source, sourceStride, rows, cols, target, targetStride);
}

// The two products of one query's attention over 16-bit rows, without a widened copy: each key
// or value is widened in a register and used at once (decoding reads the cache once, in half
// the bytes). Several heads are taken together, rows outer and heads inner, so that each row is
// read once across them: head after head, every pass would stream all the rows for one head's
// slice of each (a sixth of a row for six heads). Sums in float32 in a fixed order that does not
// depend on how many heads are taken together: a score's 8 lanes per row, lanes added pairwise,
// then the tail; the weighted sum row after row.

static inline float sum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

// Both kernels are written once for a format known at compile time (ALWAYS_INLINE, called with a
// constant): with the format a variable, the compiler kept its test in the inner loops and the
// score accumulators on the stack. A float32 row holding numbers a 16-bit format can represent
// gives that format's bits: the same products summed in the same order.

// The cache rows are read far ahead of their use: at 2,000 words a backbone layer's keys and
// values are 1.5 MB each, read once per generated word, and waiting on memory took most of both
// kernels' time. SCORE_PREFETCH_ROWS rows ahead for the scores, one block of rows ahead for the
// weighted sum (each line prefetched by the pass that reads the same line of the block before).
enum { SCORE_PREFETCH_ROWS = 16 };

// scores[r] = scale · q · k[r] for the `rows` (1 to 4) rows from k: independent chains.
ALWAYS_INLINE void score_rows(const int format, const float *q, const void *k, long kStride, long rows, long d,
                              float scale, float *scores) {
    long full = d - d % 8;
    float s[4];
    if (rows == 4) {
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (long c = 0; c < full; c += 8) {
            __m256 x = _mm256_loadu_ps(q + c);
            a0 = _mm256_fmadd_ps(x, load8(format, k, c), a0);
            a1 = _mm256_fmadd_ps(x, load8(format, k, kStride + c), a1);
            a2 = _mm256_fmadd_ps(x, load8(format, k, 2 * kStride + c), a2);
            a3 = _mm256_fmadd_ps(x, load8(format, k, 3 * kStride + c), a3);
        }
        s[0] = sum8(a0), s[1] = sum8(a1), s[2] = sum8(a2), s[3] = sum8(a3);
    } else {
        for (long r = 0; r < rows; r++) {
            __m256 a = _mm256_setzero_ps();
            for (long c = 0; c < full; c += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + c), load8(format, k, r * kStride + c), a);
            s[r] = sum8(a);
        }
    }
    for (long r = 0; r < rows; r++) {
        for (long c = full; c < d; c++) s[r] += q[c] * load1(format, k, r * kStride + c);
        scores[r] = s[r] * scale;
    }
}

ALWAYS_INLINE void scores_heads(const int format, const float *q, const void *k, long kStride, long n, long d,
                                long firstHead, long heads, long group, float scale, float *scores,
                                long scoresStride) {
    // The columns these heads read in each row: their kv heads' d numbers, side by side.
    long spanBytes = ((firstHead + heads - 1) / group - firstHead / group + 1) * d * element_bytes(format);
    for (long j = 0; j < n; j += 4) {
        long rows = n - j < 4 ? n - j : 4;
        for (long r = 0; r < rows && j + SCORE_PREFETCH_ROWS + r < n; r++) {
            const char *ahead = element(format, k, (j + SCORE_PREFETCH_ROWS + r) * kStride);
            for (long b = 0; b < spanBytes; b += 64) _mm_prefetch(ahead + b, _MM_HINT_T0);
        }
        for (long i = 0; i < heads; i++) {
            const void *kj = element(format, k, j * kStride + ((firstHead + i) / group - firstHead / group) * d);
            score_rows(format, q + i * d, kj, kStride, rows, d, scale, scores + i * scoresStride + j);
        }
    }
}

void hat_half_scores_heads(int format, const float *q, const uint16_t *k, long kStride, long n, long d,
                           long firstHead, long heads, long group, float scale, float *scores, long scoresStride) {
    if (format == HAT_HALF_F16)
        scores_heads(HAT_HALF_F16, q, k, kStride, n, d, firstHead, heads, group, scale, scores, scoresStride);
    else
        scores_heads(HAT_HALF_BF16, q, k, kStride, n, d, firstHead, heads, group, scale, scores, scoresStride);
}

void hat_f32_scores_heads(const float *q, const float *k, long kStride, long n, long d, long firstHead, long heads,
                          long group, float scale, float *scores, long scoresStride) {
    scores_heads(ROWS_F32, q, k, kStride, n, d, firstHead, heads, group, scale, scores, scoresStride);
}

void hat_half_scores(int format, const float *q, const uint16_t *k, long kStride, long n, long d, float scale,
                     float *scores) {
    hat_half_scores_heads(format, q, k, kStride, n, d, 0, 1, 1, scale, scores, 0);
}

// Rows in blocks of SUM_BLOCK_ROWS: within a block, each head's output is held in registers 32
// columns at a time across the block's rows, which are re-read from L1 for the next columns and
// heads, not from memory; across blocks the output goes through memory once per block.
enum { SUM_BLOCK_ROWS = 64 };

ALWAYS_INLINE void weighted_sum_heads(const int format, const float *p, long pStride, const void *v, long vStride,
                                      long n, long d, long firstHead, long heads, long group, int accumulate,
                                      float *out) {
    if (!accumulate) memset(out, 0, (size_t)(heads * d) * sizeof(float));
    for (long j = 0; j < n; j += SUM_BLOCK_ROWS) {
        long rows = n - j < SUM_BLOCK_ROWS ? n - j : SUM_BLOCK_ROWS;
        for (long i = 0; i < heads; i++) {
            const float *w = p + i * pStride + j;
            const void *vj = element(format, v, j * vStride + ((firstHead + i) / group - firstHead / group) * d);
            float *o = out + i * d;
            long c = 0;
            for (; c + 32 <= d; c += 32) {
                __m256 a0 = _mm256_loadu_ps(o + c), a1 = _mm256_loadu_ps(o + c + 8);
                __m256 a2 = _mm256_loadu_ps(o + c + 16), a3 = _mm256_loadu_ps(o + c + 24);
                for (long r = 0; r < rows; r++) {
                    __m256 x = _mm256_set1_ps(w[r]);
                    const void *row = element(format, vj, r * vStride + c);
                    if (j + SUM_BLOCK_ROWS + r < n) _mm_prefetch(element(format, row, SUM_BLOCK_ROWS * vStride), _MM_HINT_T0);
                    a0 = _mm256_fmadd_ps(x, load8(format, row, 0), a0);
                    a1 = _mm256_fmadd_ps(x, load8(format, row, 8), a1);
                    a2 = _mm256_fmadd_ps(x, load8(format, row, 16), a2);
                    a3 = _mm256_fmadd_ps(x, load8(format, row, 24), a3);
                }
                _mm256_storeu_ps(o + c, a0);
                _mm256_storeu_ps(o + c + 8, a1);
                _mm256_storeu_ps(o + c + 16, a2);
                _mm256_storeu_ps(o + c + 24, a3);
            }
            for (; c + 8 <= d; c += 8) {
                __m256 a = _mm256_loadu_ps(o + c);
                for (long r = 0; r < rows; r++) a = _mm256_fmadd_ps(_mm256_set1_ps(w[r]), load8(format, vj, r * vStride + c), a);
                _mm256_storeu_ps(o + c, a);
            }
            for (; c < d; c++) {
                float a = o[c];
                for (long r = 0; r < rows; r++) a = fmaf(w[r], load1(format, vj, r * vStride + c), a);
                o[c] = a;
            }
        }
    }
}

void hat_half_weighted_sum_heads(int format, const float *p, long pStride, const uint16_t *v, long vStride, long n,
                                 long d, long firstHead, long heads, long group, int accumulate, float *out) {
    if (format == HAT_HALF_F16)
        weighted_sum_heads(HAT_HALF_F16, p, pStride, v, vStride, n, d, firstHead, heads, group, accumulate, out);
    else
        weighted_sum_heads(HAT_HALF_BF16, p, pStride, v, vStride, n, d, firstHead, heads, group, accumulate, out);
}

void hat_f32_weighted_sum_heads(const float *p, long pStride, const float *v, long vStride, long n, long d,
                                long firstHead, long heads, long group, int accumulate, float *out) {
    weighted_sum_heads(ROWS_F32, p, pStride, v, vStride, n, d, firstHead, heads, group, accumulate, out);
}

void hat_half_weighted_sum(int format, const float *p, const uint16_t *v, long vStride, long n, long d, int accumulate,
                           float *out) {
    hat_half_weighted_sum_heads(format, p, 0, v, vStride, n, d, 0, 1, 1, accumulate, out);
}
