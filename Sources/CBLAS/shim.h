// CBLAS: OpenBLAS's C interface (cblas_sgemm, openblas_get_corename, openblas_set_num_threads).
// Debian's libopenblas-dev installs this header as <cblas.h> through the alternatives system.
#include <cblas.h>
