// CICU: the few ICU services hat needs, behind plain C types (ICU headers stay in icu.c,
// because ICU's UErrorCode and Foundation's clash inside one Swift module).
#ifndef CICU_H
#define CICU_H
#include <stdint.h>
#include <stddef.h>
#include "wordbreak.h" // word-break property table and ICU word iterator (wordbreak.c)

/// ICU's version string, e.g. "72.1".
const char *hat_icu_version(void);

/// Canonical decomposition (NFD) of UTF-8 `text[0..<length]` into `out` (at most `capacity`
/// bytes). Returns the number of bytes the result needs (call again with a larger buffer when
/// it exceeds `capacity`), or -1 when the input is not valid UTF-8 or ICU fails.
/// Implemented in normalize.c.
int64_t hat_icu_nfd(const uint8_t *text, int64_t length, uint8_t *out, int64_t capacity);

#endif
