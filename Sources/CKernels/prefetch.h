// prefetch.h: how far ahead the one-row products (dense.c, quantized.c) prefetch their weights.
// They read four weight rows side by side, which the hardware prefetcher does not follow; a
// software prefetch this many bytes ahead of the read front doubled the rate at which a stream of
// L3- or memory-resident matrices was read on Zen 3 (1,024–8,192 measured; Reports/performance.md).
#ifndef HAT_PREFETCH_H
#define HAT_PREFETCH_H

#define HAT_PREFETCH_AHEAD 4096

#endif
