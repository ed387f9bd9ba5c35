// CKernels: products of a few rows for decoding over float32 or packed weights (`--weights bf16|q8_0|q4_1|q4_k`,
// ARCHITECTURE.md §5): bfloat16 (the upper 16 bits of an IEEE float32) and ggml's quantized
// blocks. AVX2 + FMA + F16C, the baseline of every build (Package.swift compiles for Haswell);
// the sums run in float32 in a fixed order, so a result does not depend on how outputs are
// shared among threads.
#ifndef HAT_CKERNELS_H
#define HAT_CKERNELS_H

#include <stdint.h>

/// Rounds `count` floats to bfloat16, to nearest with ties to even; a NaN stays a (quiet) NaN.
void hat_bf16_from_f32(const float *source, uint16_t *target, long count);

/// y[r, o] = (or += with `accumulate`) Σ_i x[r, i] · w[o, i] for rows r < rows and outputs
/// o in [first, end): w [outputs, width] in bfloat16, row-major; x and y row-major with the given
/// row strides (in floats). Rows are taken four at a time, each weight row read once per four;
/// a single row (decoding) is summed four outputs at a time, each output in the same order.
void hat_bf16_rows_times_transposed(const uint16_t *w, long width, long first, long end,
                                    const float *x, long xStride, long rows,
                                    float *y, long yStride, int accumulate);

/// The same with float32 weights w [outputs, width] (each output summed in the same order as the
/// bfloat16 kernel sums it): decoding's products with a float32 model, which OpenBLAS's sgemm
/// runs at a fraction of the rate for one row (it packs the weights first).
void hat_f32_rows_times_transposed(const float *w, long width, long first, long end,
                                   const float *x, long xStride, long rows,
                                   float *y, long yStride, int accumulate);
/// Rounds `count` floats to IEEE half (binary16), to nearest with ties to even; magnitudes beyond
/// the largest half (65504) saturate to it instead of becoming infinite; a NaN stays a NaN.
void hat_f16_from_f32(const float *source, uint16_t *target, long count);

/// 16-bit float formats of hat_widen_rows.
enum { HAT_HALF_BF16 = 0, HAT_HALF_F16 = 1 };

/// target[r, c] = the float32 value of source[r, c] (exact) for r < rows, c < cols; both
/// row-major with the given row strides (in elements).
void hat_widen_rows(int format, const uint16_t *source, long sourceStride, long rows, long cols,
                    float *target, long targetStride);

/// scores[j] = scale · Σ_c q[c] · k[j, c] for j < n: one query (d floats) against n 16-bit key
/// rows of d numbers, kStride elements apart. Float32 sums in a fixed order.
void hat_half_scores(int format, const float *q, const uint16_t *k, long kStride, long n, long d, float scale,
                     float *scores);

/// out[c] = (out[c] if `accumulate`, else 0) + Σ_j p[j] · v[j, c] for c < d, j in order: n weights
/// against n 16-bit value rows of d numbers, vStride elements apart.
void hat_half_weighted_sum(int format, const float *p, const uint16_t *v, long vStride, long n, long d, int accumulate,
                           float *out);

/// The same for `heads` query heads firstHead, firstHead + 1, …, taken together (each row read
/// once across them): query head firstHead + i is q + i·d and attends to kv head
/// (firstHead + i) / group, whose columns start at k + ((firstHead + i) / group − firstHead / group)·d;
/// its scores go to scores + i·scoresStride. Each score is the number hat_half_scores gives.
void hat_half_scores_heads(int format, const float *q, const uint16_t *k, long kStride, long n, long d,
                           long firstHead, long heads, long group, float scale, float *scores, long scoresStride);

/// The same for `heads` query heads taken together, heads and columns as in hat_half_scores_heads:
/// head i's weights are p + i·pStride, its output out + i·d. Each output is the number
/// hat_half_weighted_sum gives.
void hat_half_weighted_sum_heads(int format, const float *p, long pStride, const uint16_t *v, long vStride, long n,
                                 long d, long firstHead, long heads, long group, int accumulate, float *out);

/// hat_half_scores_heads and hat_half_weighted_sum_heads over float32 rows (a float32 KV cache):
/// the same sums in the same order, so rows of numbers a 16-bit format holds exactly give the
/// bits that format's kernel gives.
void hat_f32_scores_heads(const float *q, const float *k, long kStride, long n, long d, long firstHead, long heads,
                          long group, float scale, float *scores, long scoresStride);
void hat_f32_weighted_sum_heads(const float *p, long pStride, const float *v, long vStride, long n, long d,
                                long firstHead, long heads, long group, int accumulate, float *out);

/// ggml block formats, by the numbers used here (not ggml's type ids).
enum { HAT_Q8_0 = 1, HAT_Q4_1 = 2, HAT_Q4_K = 3 };

/// Weights per block (32, 32, 256) and bytes per block (34, 20, 144) of a format; 0 for an unknown one.
long hat_quantized_block_weights(int format);
long hat_quantized_block_bytes(int format);

/// Packs `count` floats (a multiple of the block's weights) into blocks of `format`, each block
/// scaled to its own range (see quantized.c for the rounding).
void hat_quantize(int format, const float *source, uint8_t *target, long count);

/// The floats `count` packed weights mean (the same numbers the products multiply by).
void hat_dequantize(int format, const uint8_t *source, float *target, long count);

/// As hat_bf16_rows_times_transposed with w [outputs, width] in blocks of `format`, each row
/// width / block-weights blocks long; width must be a multiple of the block's weights.
void hat_quantized_rows_times_transposed(int format, const uint8_t *w, long width, long first, long end,
                                         const float *x, long xStride, long rows,
                                         float *y, long yStride, int accumulate);

/// The same products with AVX-512 F/BW (16 weights a step; other sums' order, so other bits
/// than the AVX2 kernels'). Only for CPUs that have AVX-512 F, BW, VL and DQ.
void hat_bf16_rows_times_transposed_avx512(const uint16_t *w, long width, long first, long end,
                                           const float *x, long xStride, long rows,
                                           float *y, long yStride, int accumulate);
void hat_quantized_rows_times_transposed_avx512(int format, const uint8_t *w, long width, long first, long end,
                                                const float *x, long xStride, long rows,
                                                float *y, long yStride, int accumulate);

#endif
