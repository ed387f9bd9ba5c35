// bf16.c: see include/ckernels.h. Shapes: R rows of x [R, I], weights w [O, I] in bfloat16,
// y [R, O]. A bfloat16 widens to float32 exactly (shift left by 16), so these products equal
// float32 products over the rounded weights, up to the order of the sums.

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

static inline __m256 widen8(const uint16_t *p) {
    __m128i half = _mm_loadu_si128((const __m128i *)p);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(half), 16));
}

static inline float widen1(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
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
static void rows4(const uint16_t *w, long width, long first, long end, const float *x, long xStride, int rows,
                  float *y, long yStride, int accumulate) {
    long vectorEnd = width & ~7L;
    for (long o = first; o < end; o++) {
        const uint16_t *wo = w + o * width;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (long i = 0; i < vectorEnd; i += 8) {
            __m256 wv = widen8(wo + i);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), wv, a0);
            if (rows > 1) a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + xStride + i), wv, a1);
            if (rows > 2) a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 2 * xStride + i), wv, a2);
            if (rows > 3) a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 3 * xStride + i), wv, a3);
        }
        float s[4] = {sum8(a0), sum8(a1), sum8(a2), sum8(a3)};
        for (long i = vectorEnd; i < width; i++) {
            float wi = widen1(wo[i]);
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
// rows4 sums it, so the bits are the same. The four weight rows are read side by side, which the
// hardware prefetcher does not follow; the loop prefetches HAT_PREFETCH_AHEAD bytes ahead of
// where it reads, one cache line per step (a step reads 64 bytes: 16 of each row).
static void one_row(const uint16_t *w, long width, long first, long end, const float *x, float *y, int accumulate) {
    long vectorEnd = width & ~7L;
    long o = first;
    for (; o + 4 <= end; o += 4) {
        const uint16_t *w0 = w + o * width, *w1 = w0 + width, *w2 = w1 + width, *w3 = w2 + width;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (long i = 0; i < vectorEnd; i += 8) {
            __m256 xv = _mm256_loadu_ps(x + i);
            _mm_prefetch((const char *)w0 + HAT_PREFETCH_AHEAD + 8 * i, _MM_HINT_T0);
            a0 = _mm256_fmadd_ps(xv, widen8(w0 + i), a0);
            a1 = _mm256_fmadd_ps(xv, widen8(w1 + i), a1);
            a2 = _mm256_fmadd_ps(xv, widen8(w2 + i), a2);
            a3 = _mm256_fmadd_ps(xv, widen8(w3 + i), a3);
        }
        float s[4] = {sum8(a0), sum8(a1), sum8(a2), sum8(a3)};
        const uint16_t *rowsOf[4] = {w0, w1, w2, w3};
        for (int j = 0; j < 4; j++) {
            for (long i = vectorEnd; i < width; i++) s[j] += x[i] * widen1(rowsOf[j][i]);
            y[o + j] = accumulate ? y[o + j] + s[j] : s[j];
        }
    }
    if (o < end) rows4(w, width, o, end, x, 0, 1, y, 0, accumulate);
}

void hat_bf16_rows_times_transposed(const uint16_t *w, long width, long first, long end,
                                    const float *x, long xStride, long rows,
                                    float *y, long yStride, int accumulate) {
    if (rows == 1) {
        one_row(w, width, first, end, x, y, accumulate);
        return;
    }
    for (long r = 0; r < rows; r += 4) {
        int group = rows - r < 4 ? (int)(rows - r) : 4;
        rows4(w, width, first, end, x + r * xStride, xStride, group, y + r * yStride, yStride, accumulate);
    }
}
