// CICU normalization: canonical decomposition (NFD) through ICU's unorm2, UTF-8 in and out
// (UTF-8 -> UTF-16 with u_strFromUTF8, unorm2_normalize with the NFD instance, UTF-16 -> UTF-8
// with u_strToUTF8). Used by the diacritics perturbation (Sources/HATEval/PerturbLetters.swift).
#include "CICU.h"
#include <stdlib.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

int64_t hat_icu_nfd(const uint8_t *text, int64_t length, uint8_t *out, int64_t capacity) {
    if (length < 0 || capacity < 0 || (length > 0 && text == NULL) || (capacity > 0 && out == NULL)) return -1;
    if (length > INT32_MAX / 4) return -1;          // ICU lengths are int32_t; NFD may grow 3x in UTF-16
    if (length == 0) return 0;

    UErrorCode status = U_ZERO_ERROR;
    const UNormalizer2 *nfd = unorm2_getNFDInstance(&status);
    if (U_FAILURE(status)) return -1;

    // UTF-8 -> UTF-16 (preflight for the length; invalid UTF-8 fails with U_INVALID_CHAR_FOUND).
    int32_t units = 0;
    u_strFromUTF8(NULL, 0, &units, (const char *)text, (int32_t)length, &status);
    if (status != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(status)) return -1;
    status = U_ZERO_ERROR;
    UChar *source = malloc(sizeof(UChar) * ((size_t)units + 1));
    if (source == NULL) return -1;
    u_strFromUTF8(source, units + 1, &units, (const char *)text, (int32_t)length, &status);
    if (U_FAILURE(status)) { free(source); return -1; }

    // NFD (preflight, then the real call).
    int32_t decomposed = unorm2_normalize(nfd, source, units, NULL, 0, &status);
    if (status != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(status)) { free(source); return -1; }
    status = U_ZERO_ERROR;
    UChar *result = malloc(sizeof(UChar) * ((size_t)decomposed + 1));
    if (result == NULL) { free(source); return -1; }
    decomposed = unorm2_normalize(nfd, source, units, result, decomposed + 1, &status);
    free(source);
    if (U_FAILURE(status)) { free(result); return -1; }

    // UTF-16 -> UTF-8 into the caller's buffer; a too small buffer still reports the size needed.
    int32_t bytes = 0;
    int32_t cap = capacity > INT32_MAX ? INT32_MAX : (int32_t)capacity;
    u_strToUTF8((char *)out, cap, &bytes, result, decomposed, &status);
    free(result);
    if (status == U_BUFFER_OVERFLOW_ERROR || status == U_STRING_NOT_TERMINATED_WARNING) return bytes;
    if (U_FAILURE(status)) return -1;
    return bytes;
}
