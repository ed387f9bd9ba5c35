// CKernels: products over bfloat16 weights (the upper 16 bits of an IEEE float32), for
// decoding with `--weights bf16` (ARCHITECTURE.md §5). AVX2 + FMA, the baseline of every build
// (Package.swift compiles for Haswell); the sums run in float32 in a fixed order, so a result does
// not depend on how outputs are shared among threads.
#ifndef HAT_CKERNELS_H
#define HAT_CKERNELS_H

#include <stdint.h>

/// Rounds `count` floats to bfloat16, to nearest with ties to even; a NaN stays a (quiet) NaN.
void hat_bf16_from_f32(const float *source, uint16_t *target, long count);

/// y[r, o] = (or += with `accumulate`) Σ_i x[r, i] · w[o, i] for rows r < rows and outputs
/// o in [first, end): w [outputs, width] in bfloat16, row-major; x and y row-major with the given
/// row strides (in floats). Rows are taken four at a time, each weight row read once per four.
void hat_bf16_rows_times_transposed(const uint16_t *w, long width, long first, long end,
                                    const float *x, long xStride, long rows,
                                    float *y, long yStride, int accumulate);

#endif
