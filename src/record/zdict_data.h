/* zdict_data.h - the zstd dictionaries for record bodies, built into the library:
 * CMakeLists.txt generates the definitions (zdict_data.c in the build directory) from
 * data/fhir-r4.zdict. Ids and how they evolve: docs/records.md. (internal) */
#ifndef MV_RECORD_ZDICT_DATA_H
#define MV_RECORD_ZDICT_DATA_H

#include <stddef.h>

extern const unsigned char mv_zdict_fhir_r4_1[]; /* a formatted zstd dictionary, id 1 */
extern const size_t mv_zdict_fhir_r4_1_len;

#endif
