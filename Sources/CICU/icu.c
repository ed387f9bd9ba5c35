// CICU implementation: ICU calls behind the plain C interface of CICU.h.
#include "CICU.h"
#include <unicode/uversion.h>
#include <stdio.h>

const char *hat_icu_version(void) {
    static char text[U_MAX_VERSION_STRING_LENGTH];
    UVersionInfo info;
    u_getVersion(info);
    u_versionToString(info, text);
    return text;
}
