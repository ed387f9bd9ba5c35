// quantized.c: see include/ckernels.h. Weights in ggml's block formats (the bytes a GGUF file
// stores), made from float32 at load and read by products of a few rows. Every weight is
// widened to the float32 the block means — with the same operations, in the same order, as
// hat_dequantize and the GGUF reader (multiplications and additions apart: this file is built
// with -ffp-contract=off) — and then summed like the bfloat16 kernel, so a product equals a
// float32 product over the dequantized weights up to the order of the sums.
//
// Blocks (little-endian):
//   Q8_0  34 bytes per 32 weights:  f16 d, int8 q[32];                 w = q·d
//   Q4_1  20 bytes per 32 weights:  f16 d, f16 m, 16 bytes of nibbles;  w = q·d + m
//         (byte j holds weight j in its low nibble and weight j + 16 in its high one)
//   Q4_K 144 bytes per 256 weights: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins,
//         128 bytes of nibbles; sub-block s of 32: w = (d·sc_s)·q − dmin·m_s (bytes 32g … 32g+31
//         hold sub-block 2g in their low nibbles and 2g + 1 in their high ones)

#include "ckernels.h"
#include "prefetch.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

static inline float half_to_float(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

static inline uint16_t float_to_half(float f) { return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }

static inline void store_half(uint8_t *p, float f) {
    uint16_t h = float_to_half(f);
    memcpy(p, &h, 2);
}

static inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

long hat_quantized_block_weights(int format) {
    switch (format) {
    case HAT_Q8_0: case HAT_Q4_1: return 32;
    case HAT_Q4_K: return 256;
    default: return 0;
    }
}

long hat_quantized_block_bytes(int format) {
    switch (format) {
    case HAT_Q8_0: return 34;
    case HAT_Q4_1: return 20;
    case HAT_Q4_K: return 144;
    default: return 0;
    }
}

// MARK: Quantizing

static void quantize_q8_0(const float *x, uint8_t *block) {
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    store_half(block, amax / 127);
    float d = half_to_float(block);
    for (int j = 0; j < 32; j++) {
        int q = d == 0 ? 0 : clamp_int((int)lrintf(x[j] / d), -127, 127);
        block[2 + j] = (uint8_t)(int8_t)q;
    }
}

static void quantize_q4_1(const float *x, uint8_t *block) {
    float lo = x[0], hi = x[0];
    for (int j = 1; j < 32; j++) { lo = fminf(lo, x[j]); hi = fmaxf(hi, x[j]); }
    store_half(block, (hi - lo) / 15);
    store_half(block + 2, lo);
    float d = half_to_float(block), m = half_to_float(block + 2);
    for (int j = 0; j < 16; j++) {
        int q0 = d == 0 ? 0 : clamp_int((int)lrintf((x[j] - m) / d), 0, 15);
        int q1 = d == 0 ? 0 : clamp_int((int)lrintf((x[j + 16] - m) / d), 0, 15);
        block[4 + j] = (uint8_t)(q0 | (q1 << 4));
    }
}

// Each sub-block's min is taken ≤ 0 (as the format's w = … − dmin·m with m ≥ 0 requires); the
// 6-bit mins are rounded up and the scales then chosen to reach the sub-block's maximum, so the
// range is covered after the scales are quantized.
static void quantize_q4_k(const float *x, uint8_t *block) {
    float mins[8], maxs[8], maxMin = 0;
    for (int s = 0; s < 8; s++) {
        float lo = 0, hi = 0;
        for (int j = 0; j < 32; j++) { lo = fminf(lo, x[32 * s + j]); hi = fmaxf(hi, x[32 * s + j]); }
        mins[s] = -lo;
        maxs[s] = hi;
        maxMin = fmaxf(maxMin, -lo);
    }
    store_half(block + 2, maxMin / 63);
    float dmin = half_to_float(block + 2);
    int sc[8], m[8];
    float needed[8], maxScale = 0;
    for (int s = 0; s < 8; s++) {
        m[s] = dmin == 0 ? 0 : clamp_int((int)ceilf(mins[s] / dmin), 0, 63);
        needed[s] = (maxs[s] + dmin * (float)m[s]) / 15;
        maxScale = fmaxf(maxScale, needed[s]);
    }
    store_half(block, maxScale / 63);
    float d = half_to_float(block);
    for (int s = 0; s < 8; s++) sc[s] = d == 0 ? 0 : clamp_int((int)ceilf(needed[s] / d), 0, 63);
    uint8_t *scales = block + 4;
    for (int j = 0; j < 4; j++) {
        scales[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        scales[j + 4] = (uint8_t)((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        scales[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
    }
    uint8_t *qs = block + 16;
    for (int g = 0; g < 4; g++) {
        int q[2][32];
        for (int half = 0; half < 2; half++) {
            int s = 2 * g + half;
            float ds = d * (float)sc[s], dm = dmin * (float)m[s];
            for (int l = 0; l < 32; l++) q[half][l] = ds == 0 ? 0 : clamp_int((int)lrintf((x[32 * s + l] + dm) / ds), 0, 15);
        }
        for (int l = 0; l < 32; l++) qs[32 * g + l] = (uint8_t)(q[0][l] | (q[1][l] << 4));
    }
}

void hat_quantize(int format, const float *source, uint8_t *target, long count) {
    long k = hat_quantized_block_weights(format), bytes = hat_quantized_block_bytes(format);
    for (long b = 0; b < count / k; b++) {
        const float *x = source + b * k;
        uint8_t *block = target + b * bytes;
        switch (format) {
        case HAT_Q8_0: quantize_q8_0(x, block); break;
        case HAT_Q4_1: quantize_q4_1(x, block); break;
        case HAT_Q4_K: quantize_q4_k(x, block); break;
        }
    }
}

// MARK: Widening (one definition of what a block means, shared by hat_dequantize and the products)

static inline void scale_min_q4_k(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

// Eight weights 8i … 8i+7 of a Q8_0 block.
static inline __m256 widen_q8_0(const uint8_t *block, int i, __m256 d) {
    __m128i q = _mm_loadl_epi64((const __m128i *)(block + 2 + 8 * i));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d);
}

// Eight 4-bit values from eight bytes: the low nibbles, or the high ones. The bytes are widened to
// 32-bit lanes first (one load-and-widen), where a high nibble is a shift and a low one a mask:
// fewer instructions than splitting the nibbles among bytes (the 4-bit products are bound by them).
static inline __m256 nibbles8(const uint8_t *p, int high) {
    __m256i bytes = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
    bytes = high ? _mm256_srli_epi32(bytes, 4) : _mm256_and_si256(bytes, _mm256_set1_epi32(15));
    return _mm256_cvtepi32_ps(bytes);
}

// Eight weights 8i … 8i+7 of a Q4_1 block: q·d + m.
static inline __m256 widen_q4_1(const uint8_t *block, int i, __m256 d, __m256 m) {
    __m256 q = nibbles8(block + 4 + 8 * (i & 1), i >> 1);
    return _mm256_add_ps(_mm256_mul_ps(q, d), m);
}

// Eight weights 8i … 8i+7 of sub-block s of a Q4_K block: ds·q − dm.
static inline __m256 widen_q4_k(const uint8_t *block, int s, int i, __m256 ds, __m256 dm) {
    __m256 q = nibbles8(block + 16 + 32 * (s >> 1) + 8 * i, s & 1);
    return _mm256_sub_ps(_mm256_mul_ps(ds, q), dm);
}

// USE(w, i) for every eight weights of a block, in order: w their widened values, i the offset of
// the first in the block. The one walk through a block's layout, for dequantizing and for the
// products.
#define FOR_EACH_EIGHT(format, block, USE)                                                              \
    do {                                                                                                \
        if ((format) == HAT_Q8_0) {                                                                     \
            __m256 d_ = _mm256_set1_ps(half_to_float(block));                                           \
            for (int i_ = 0; i_ < 4; i_++) USE(widen_q8_0(block, i_, d_), 8 * i_);                      \
        } else if ((format) == HAT_Q4_1) {                                                              \
            __m256 d_ = _mm256_set1_ps(half_to_float(block)), m_ = _mm256_set1_ps(half_to_float(block + 2)); \
            for (int i_ = 0; i_ < 4; i_++) USE(widen_q4_1(block, i_, d_, m_), 8 * i_);                  \
        } else {                                                                                        \
            float d_ = half_to_float(block), dmin_ = half_to_float(block + 2);                          \
            for (int s_ = 0; s_ < 8; s_++) {                                                            \
                int sc_, m_;                                                                            \
                scale_min_q4_k(block + 4, s_, &sc_, &m_);                                               \
                __m256 ds_ = _mm256_set1_ps(d_ * (float)sc_), dm_ = _mm256_set1_ps(dmin_ * (float)m_);  \
                for (int i_ = 0; i_ < 4; i_++) USE(widen_q4_k(block, s_, i_, ds_, dm_), 32 * s_ + 8 * i_); \
            }                                                                                           \
        }                                                                                               \
    } while (0)

void hat_dequantize(int format, const uint8_t *source, float *target, long count) {
    long k = hat_quantized_block_weights(format), bytes = hat_quantized_block_bytes(format);
    for (long b = 0; b < count / k; b++) {
        const uint8_t *block = source + b * bytes;
        float *y = target + b * k;
#define STORE(w, i) _mm256_storeu_ps(y + (i), w)
        FOR_EACH_EIGHT(format, block, STORE);
#undef STORE
    }
}

// MARK: Products

static inline float sum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

// a_r += x[r, i … i+7] · w for the first `rows` (≤ 4) rows.
#define MULTIPLY_ADD(w, i)                                                             \
    do {                                                                               \
        __m256 wv = (w);                                                               \
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + (i)), wv, a0);                        \
        if (rows > 1) a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + xStride + (i)), wv, a1); \
        if (rows > 2) a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 2 * xStride + (i)), wv, a2); \
        if (rows > 3) a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 3 * xStride + (i)), wv, a3); \
    } while (0)

// Up to four rows against outputs [first, end). Width is a multiple of the block's weights.
static void rows4(int format, const uint8_t *w, long width, long first, long end, const float *x, long xStride,
                  int rows, float *y, long yStride, int accumulate) {
    long k = hat_quantized_block_weights(format), bytes = hat_quantized_block_bytes(format);
    long blocks = width / k, rowBytes = blocks * bytes;
    for (long o = first; o < end; o++) {
        const uint8_t *wo = w + o * rowBytes;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (long b = 0; b < blocks; b++) {
            const uint8_t *block = wo + b * bytes;
            long base = b * k;
#define ROWS_MULTIPLY_ADD(w, i) MULTIPLY_ADD(w, base + (i))
            FOR_EACH_EIGHT(format, block, ROWS_MULTIPLY_ADD);
#undef ROWS_MULTIPLY_ADD
        }
        float sums[4] = {sum8(a0), sum8(a1), sum8(a2), sum8(a3)};
        for (int r = 0; r < rows; r++) {
            float *target = y + r * yStride + o;
            *target = accumulate ? *target + sums[r] : sums[r];
        }
    }
}

// a += x[0 … k) · the block's weights, in the order rows4 sums one row (x at the block's first
// weight).
static inline __m256 block_multiply_add(int format, const uint8_t *block, const float *x, __m256 a) {
#define ONE_MULTIPLY_ADD(w, i) a = _mm256_fmadd_ps(_mm256_loadu_ps(x + (i)), w, a)
    FOR_EACH_EIGHT(format, block, ONE_MULTIPLY_ADD);
#undef ONE_MULTIPLY_ADD
    return a;
}

// One row against outputs [first, end), four outputs at a time: one output's sum is a chain of
// dependent multiply-adds, so a single row summed output by output waits on their latency;
// four independent chains keep the multiply-add units busy. Each output is summed exactly as
// rows4 sums it, so the bits are the same. The four weight rows are read side by side, which the
// hardware prefetcher does not follow; the loop prefetches HAT_PREFETCH_AHEAD bytes ahead of
// where it reads (a step reads one block of each row, 4 · bytes).
// Written once for a format known at compile time (always inlined, called with a constant): with
// the format a variable the compiler tested it in every block and spilled the accumulators.
static inline __attribute__((always_inline)) void one_row(const int format, const uint8_t *w, long width, long first,
                                                          long end, const float *x, float *y, int accumulate) {
    long k = hat_quantized_block_weights(format), bytes = hat_quantized_block_bytes(format);
    long blocks = width / k, rowBytes = blocks * bytes;
    long o = first;
    for (; o + 4 <= end; o += 4) {
        const uint8_t *w0 = w + o * rowBytes, *w1 = w0 + rowBytes, *w2 = w1 + rowBytes, *w3 = w2 + rowBytes;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (long b = 0; b < blocks; b++) {
            const float *xb = x + b * k;
            const char *ahead = (const char *)w0 + 4 * bytes * b + HAT_PREFETCH_AHEAD;
            for (long p = 0; p < 4 * bytes; p += 64) _mm_prefetch(ahead + p, _MM_HINT_T0);
            a0 = block_multiply_add(format, w0 + b * bytes, xb, a0);
            a1 = block_multiply_add(format, w1 + b * bytes, xb, a1);
            a2 = block_multiply_add(format, w2 + b * bytes, xb, a2);
            a3 = block_multiply_add(format, w3 + b * bytes, xb, a3);
        }
        float sums[4] = {sum8(a0), sum8(a1), sum8(a2), sum8(a3)};
        for (int j = 0; j < 4; j++) y[o + j] = accumulate ? y[o + j] + sums[j] : sums[j];
    }
    if (o < end) rows4(format, w, width, o, end, x, 0, 1, y, 0, accumulate);
}

void hat_quantized_rows_times_transposed(int format, const uint8_t *w, long width, long first, long end,
                                         const float *x, long xStride, long rows,
                                         float *y, long yStride, int accumulate) {
    if (rows == 1) {
        switch (format) {
        case HAT_Q8_0: one_row(HAT_Q8_0, w, width, first, end, x, y, accumulate); break;
        case HAT_Q4_1: one_row(HAT_Q4_1, w, width, first, end, x, y, accumulate); break;
        default: one_row(HAT_Q4_K, w, width, first, end, x, y, accumulate); break;
        }
        return;
    }
    for (long r = 0; r < rows; r += 4) {
        int group = rows - r < 4 ? (int)(rows - r) : 4;
        rows4(format, w, width, first, end, x + r * xStride, xStride, group, y + r * yStride, yStride, accumulate);
    }
}
