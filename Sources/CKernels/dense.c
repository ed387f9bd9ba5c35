// dense.c: see include/ckernels.h. Products of up to four rows with dense weights, bfloat16 or
// float32. Shapes: R rows of x [R, I], weights w [O, I], y [R, O]. A bfloat16 widens to float32
// exactly (shift left by 16), so the bf16 products equal float32 products over the rounded
// weights, up to the order of the sums. Both formats are one body compiled once per format
// (ALWAYS_INLINE, called with a constant), so they sum in the same order.

#include "ckernels.h"
#include "prefetch.h"
#include <immintrin.h>
#include <string.h>

void hat_bf16_from_f32(const float *source, uint16_t *target, long count) {
    for (long i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &source[i], 4);
        if ((bits & 0x7fffffffu) > 0x7f800000u) {          // NaN: keep it a NaN
            target[i] = (uint16_t)((bits >> 16) | 0x0040u);
            continue;
        }
        uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u); // ties to even
        target[i] = (uint16_t)((bits + rounding) >> 16);
    }
}

#define ALWAYS_INLINE static inline __attribute__((always_inline))

// Weights as stored: 2 bytes (bfloat16) or 4 (float32).
enum { BF16 = 2, F32 = 4 };

// Weights i … i+7 of a row, and weight i alone, as float32.
ALWAYS_INLINE __m256 load8(const int bytes, const void *row, long i) {
    if (bytes == F32) return _mm256_loadu_ps((const float *)row + i);
    __m128i half = _mm_loadu_si128((const __m128i *)((const uint16_t *)row + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(half), 16));
}

ALWAYS_INLINE float load1(const int bytes, const void *row, long i) {
    if (bytes == F32) return ((const float *)row)[i];
    uint32_t bits = (uint32_t)((const uint16_t *)row)[i] << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline float sum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

// Up to four rows against outputs [first, end).
ALWAYS_INLINE void rows4(const int bytes, const char *w, long width, long first, long end, const float *x, long xStride,
                         int rows, float *y, long yStride, int accumulate) {
    long vectorEnd = width & ~7L;
    for (long o = first; o < end; o++) {
        const char *wo = w + o * width * bytes;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (long i = 0; i < vectorEnd; i += 8) {
            __m256 wv = load8(bytes, wo, i);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), wv, a0);
            if (rows > 1) a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + xStride + i), wv, a1);
            if (rows > 2) a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 2 * xStride + i), wv, a2);
            if (rows > 3) a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 3 * xStride + i), wv, a3);
        }
        float s[4] = {sum8(a0), sum8(a1), sum8(a2), sum8(a3)};
        for (long i = vectorEnd; i < width; i++) {
            float wi = load1(bytes, wo, i);
            for (int r = 0; r < rows; r++) s[r] += x[r * xStride + i] * wi;
        }
        for (int r = 0; r < rows; r++) {
            float *target = y + r * yStride + o;
            *target = accumulate ? *target + s[r] : s[r];
        }
    }
}

// One row against outputs [first, end), four outputs at a time: one output's sum is a chain of
// dependent multiply-adds, so a single row summed output by output waits on their latency;
// four independent chains keep the multiply-add units busy. Each output is summed exactly as
// rows4 sums it, so the bits are the same. The four weight rows (contiguous) are read side by
// side, which the hardware prefetcher does not follow; the loop prefetches HAT_PREFETCH_AHEAD
// bytes ahead of where it reads, walking the four rows' bytes as fast as it reads them (a step
// reads 8 weights of each: 64 bytes of bf16, one cache line; 128 of float32, two).
ALWAYS_INLINE void one_row(const int bytes, const char *w, long width, long first, long end, const float *x, float *y,
                           int accumulate) {
    long vectorEnd = width & ~7L;
    long o = first;
    for (; o + 4 <= end; o += 4) {
        const char *w0 = w + o * width * bytes, *w1 = w0 + width * bytes, *w2 = w1 + width * bytes,
                   *w3 = w2 + width * bytes;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (long i = 0; i < vectorEnd; i += 8) {
            __m256 xv = _mm256_loadu_ps(x + i);
            const char *ahead = w0 + HAT_PREFETCH_AHEAD + 4 * bytes * i;
            for (int line = 0; line < bytes / 2; line++) _mm_prefetch(ahead + 64 * line, _MM_HINT_T0);
            a0 = _mm256_fmadd_ps(xv, load8(bytes, w0, i), a0);
            a1 = _mm256_fmadd_ps(xv, load8(bytes, w1, i), a1);
            a2 = _mm256_fmadd_ps(xv, load8(bytes, w2, i), a2);
            a3 = _mm256_fmadd_ps(xv, load8(bytes, w3, i), a3);
        }
        float s[4] = {sum8(a0), sum8(a1), sum8(a2), sum8(a3)};
        const char *rowsOf[4] = {w0, w1, w2, w3};
        for (int j = 0; j < 4; j++) {
            for (long i = vectorEnd; i < width; i++) s[j] += x[i] * load1(bytes, rowsOf[j], i);
            y[o + j] = accumulate ? y[o + j] + s[j] : s[j];
        }
    }
    if (o < end) rows4(bytes, w, width, o, end, x, 0, 1, y, 0, accumulate);
}

ALWAYS_INLINE void rows_times_transposed(const int bytes, const char *w, long width, long first, long end,
                                         const float *x, long xStride, long rows, float *y, long yStride,
                                         int accumulate) {
    if (rows == 1) {
        one_row(bytes, w, width, first, end, x, y, accumulate);
        return;
    }
    for (long r = 0; r < rows; r += 4) {
        int group = rows - r < 4 ? (int)(rows - r) : 4;
        rows4(bytes, w, width, first, end, x + r * xStride, xStride, group, y + r * yStride, yStride, accumulate);
    }
}

void hat_bf16_rows_times_transposed(const uint16_t *w, long width, long first, long end,
                                    const float *x, long xStride, long rows,
                                    float *y, long yStride, int accumulate) {
    rows_times_transposed(BF16, (const char *)w, width, first, end, x, xStride, rows, y, yStride, accumulate);
}

void hat_f32_rows_times_transposed(const float *w, long width, long first, long end,
                                   const float *x, long xStride, long rows,
                                   float *y, long yStride, int accumulate) {
    rows_times_transposed(F32, (const char *)w, width, first, end, x, xStride, rows, y, yStride, accumulate);
}
