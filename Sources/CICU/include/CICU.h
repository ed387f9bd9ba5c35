// CICU: the few ICU services hat needs, behind plain C types (ICU headers stay in icu.c,
// because ICU's UErrorCode and Foundation's clash inside one Swift module).
#ifndef CICU_H
#define CICU_H
#include <stdint.h>
#include <stddef.h>

/// ICU's version string, e.g. "72.1".
const char *hat_icu_version(void);

#endif
