// CPUID leaves 0, 1 and 7 (sub-leaves 0 and 1) and XCR0, as the Intel SDM describes them.
#include "ccpu.h"
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long read_xcr0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

void hat_cpu_read(hat_cpu_features *out) {
    memset(out, 0, sizeof *out);
    unsigned int a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    unsigned int maxLeaf = a;
    memcpy(out->vendor, &b, 4);
    memcpy(out->vendor + 4, &d, 4);
    memcpy(out->vendor + 8, &c, 4);
    out->vendor[12] = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    unsigned base = (a >> 8) & 0xF, extFamily = (a >> 20) & 0xFF;
    unsigned model = (a >> 4) & 0xF, extModel = (a >> 16) & 0xF;
    out->family = base == 0xF ? base + extFamily : base;
    out->model = (base == 0x6 || base == 0xF) ? (extModel << 4) + model : model;
    out->fma = (c >> 12) & 1;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (osxsave) {
        unsigned long long xcr0 = read_xcr0();
        out->osAVX = avx && (xcr0 & 0x6) == 0x6;
        out->osAVX512 = out->osAVX && (xcr0 & 0xE0) == 0xE0;
    }
    if (maxLeaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        out->avx2 = (b >> 5) & 1;
        out->avx512f = (b >> 16) & 1;
        out->avx512dq = (b >> 17) & 1;
        out->avx512bw = (b >> 30) & 1;
        out->avx512vl = (b >> 31) & 1;
        unsigned subleaves = a;
        if (subleaves >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            out->avx512bf16 = (a >> 5) & 1;
        }
    }
}
#else
void hat_cpu_read(hat_cpu_features *out) { memset(out, 0, sizeof *out); }
#endif
