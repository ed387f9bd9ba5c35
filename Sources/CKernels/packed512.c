// packed512.c: the AVX-512 versions of the packed products (see include/ckernels.h), for CPUs
// with AVX-512 F/BW (both machine kinds this project runs on; the caller checks, see
// ComputeContext.packedKernel). Sixteen weights per step instead of eight; a 4-bit block
// widens through a 16-entry table of the numbers its nibbles mean, built with the same
// multiplications and additions as quantized.c, so the weights are the same floats. The sums
// run in 16 lanes in a fixed order: other bits than the AVX2 kernels', the same for any thread
// count.

#include "ckernels.h"
#include <immintrin.h>
#include <string.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))

AVX512 static inline float half_to_float(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

AVX512 static inline void scale_min_q4_k(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

// The nibbles of 16 bytes, low or high, as 16 lane indices.
AVX512 static inline __m512i nibbles16(const uint8_t *p, int high) {
    __m128i bytes = _mm_loadu_si128((const __m128i *)p);
    if (high) bytes = _mm_srli_epi16(bytes, 4);
    return _mm512_cvtepu8_epi32(_mm_and_si128(bytes, _mm_set1_epi8(15)));
}

AVX512 static inline __m512 levels16(void) {
    return _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

#define MULTIPLY_ADD16(w, i)                                                                   \
    do {                                                                                       \
        __m512 wv = (w);                                                                       \
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + (i)), wv, a0);                                \
        if (rows > 1) a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + xStride + (i)), wv, a1);        \
        if (rows > 2) a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + 2 * xStride + (i)), wv, a2);    \
        if (rows > 3) a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + 3 * xStride + (i)), wv, a3);    \
    } while (0)

#define STORE_SUMS(tail)                                                                       \
    do {                                                                                       \
        float sums[4] = {_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1),                   \
                         _mm512_reduce_add_ps(a2), _mm512_reduce_add_ps(a3)};                  \
        tail;                                                                                  \
        for (int r = 0; r < rows; r++) {                                                       \
            float *target = y + r * yStride + o;                                               \
            *target = accumulate ? *target + sums[r] : sums[r];                                \
        }                                                                                      \
    } while (0)

AVX512 static void bf16_rows4(const uint16_t *w, long width, long first, long end, const float *x, long xStride,
                              int rows, float *y, long yStride, int accumulate) {
    long vectorEnd = width & ~15L;
    for (long o = first; o < end; o++) {
        const uint16_t *wo = w + o * width;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        for (long i = 0; i < vectorEnd; i += 16) {
            __m256i half = _mm256_loadu_si256((const __m256i *)(wo + i));
            MULTIPLY_ADD16(_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(half), 16)), i);
        }
        STORE_SUMS(
            for (long i = vectorEnd; i < width; i++) {
                uint32_t bits = (uint32_t)wo[i] << 16;
                float wi;
                memcpy(&wi, &bits, 4);
                for (int r = 0; r < rows; r++) sums[r] += x[r * xStride + i] * wi;
            });
    }
}

AVX512 static void quantized_rows4(int format, const uint8_t *w, long width, long first, long end, const float *x,
                                   long xStride, int rows, float *y, long yStride, int accumulate) {
    long k = hat_quantized_block_weights(format), bytes = hat_quantized_block_bytes(format);
    long blocks = width / k, rowBytes = blocks * bytes;
    __m512 levels = levels16();
    for (long o = first; o < end; o++) {
        const uint8_t *wo = w + o * rowBytes;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        for (long b = 0; b < blocks; b++) {
            const uint8_t *block = wo + b * bytes;
            long base = b * k;
            if (format == HAT_Q8_0) {
                __m512 d = _mm512_set1_ps(half_to_float(block));
                for (int i = 0; i < 2; i++) {
                    __m128i q = _mm_loadu_si128((const __m128i *)(block + 2 + 16 * i));
                    MULTIPLY_ADD16(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), d), base + 16 * i);
                }
            } else if (format == HAT_Q4_1) {
                // table[q] = q·d + m: what each nibble means in this block.
                __m512 table = _mm512_add_ps(_mm512_mul_ps(levels, _mm512_set1_ps(half_to_float(block))),
                                             _mm512_set1_ps(half_to_float(block + 2)));
                MULTIPLY_ADD16(_mm512_permutexvar_ps(nibbles16(block + 4, 0), table), base);
                MULTIPLY_ADD16(_mm512_permutexvar_ps(nibbles16(block + 4, 1), table), base + 16);
            } else {
                float d = half_to_float(block), dmin = half_to_float(block + 2);
                for (int s = 0; s < 8; s++) {
                    int sc, m;
                    scale_min_q4_k(block + 4, s, &sc, &m);
                    // table[q] = (d·sc)·q − dmin·m.
                    __m512 table = _mm512_sub_ps(_mm512_mul_ps(_mm512_set1_ps(d * (float)sc), levels),
                                                 _mm512_set1_ps(dmin * (float)m));
                    const uint8_t *qs = block + 16 + 32 * (s >> 1);
                    MULTIPLY_ADD16(_mm512_permutexvar_ps(nibbles16(qs, s & 1), table), base + 32 * s);
                    MULTIPLY_ADD16(_mm512_permutexvar_ps(nibbles16(qs + 16, s & 1), table), base + 32 * s + 16);
                }
            }
        }
        STORE_SUMS((void)0);
    }
}

void hat_bf16_rows_times_transposed_avx512(const uint16_t *w, long width, long first, long end,
                                           const float *x, long xStride, long rows,
                                           float *y, long yStride, int accumulate) {
    for (long r = 0; r < rows; r += 4) {
        int group = rows - r < 4 ? (int)(rows - r) : 4;
        bf16_rows4(w, width, first, end, x + r * xStride, xStride, group, y + r * yStride, yStride, accumulate);
    }
}

void hat_quantized_rows_times_transposed_avx512(int format, const uint8_t *w, long width, long first, long end,
                                                const float *x, long xStride, long rows,
                                                float *y, long yStride, int accumulate) {
    for (long r = 0; r < rows; r += 4) {
        int group = rows - r < 4 ? (int)(rows - r) : 4;
        quantized_rows4(format, w, width, first, end, x + r * xStride, xStride, group, y + r * yStride, yStride, accumulate);
    }
}
