/* fuzz_check.h - the fuzz targets' property check: abort (so the fuzzer or the sanitizer
 * replay reports it) when a property fails. */
#ifndef MV_FUZZ_CHECK_H
#define MV_FUZZ_CHECK_H

#include <stdlib.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#endif
