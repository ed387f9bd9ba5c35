// CICU normalization: canonical decomposition (NFD) through ICU's unorm2.
#include "CICU.h"

int64_t hat_icu_nfd(const uint8_t *text, int64_t length, uint8_t *out, int64_t capacity) {
    (void)text; (void)length; (void)out; (void)capacity;
    return -1; // filled in by the perturbation work (issue 7)
}
