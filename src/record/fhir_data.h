/* fhir_data.h - data/fhir-profiles.json, built into the library: CMakeLists.txt generates the
 * definitions (fhir_profiles_data.c in the build directory) from the file. (internal) */
#ifndef MV_RECORD_FHIR_DATA_H
#define MV_RECORD_FHIR_DATA_H

#include <stddef.h>

extern const unsigned char mv_fhir_profiles_json[]; /* the file's bytes, not NUL-terminated */
extern const size_t mv_fhir_profiles_json_len;

#endif
