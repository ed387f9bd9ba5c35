// CCPU: what the x86-64 processor this runs on can do, read with CPUID and XGETBV (all zero on
// other architectures). Used to choose OpenBLAS's kernels when OpenBLAS does not know the CPU.
#ifndef HAT_CCPU_H
#define HAT_CCPU_H

typedef struct {
    char vendor[13];          // "GenuineIntel", "AuthenticAMD", … (NUL-terminated)
    unsigned family;          // display family (base + extended)
    unsigned model;           // display model (base + extended)
    int avx2, fma;
    int avx512f, avx512bw, avx512dq, avx512vl, avx512bf16;
    int osAVX;                // the OS saves YMM state (XCR0 bits 1, 2)
    int osAVX512;             // the OS saves ZMM and mask state (XCR0 bits 5, 6, 7)
} hat_cpu_features;

/// Fills `out` for the running processor.
void hat_cpu_read(hat_cpu_features *out);

#endif
