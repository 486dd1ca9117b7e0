/* mv_log.h - logging for daemons and the CLI.
 *
 * Policy: log lines name operations, principals (public key prefixes), counts, sizes and
 * error codes; never patient data, record content, keys, tokens, OPRF inputs or outputs.
 * Callers pass only such values. Lines go to stderr as
 * "2026-11-21T06:00:00Z level component: message". */
#ifndef MV_LOG_H
#define MV_LOG_H

#include "medvault/mv_api.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mv_log_level {
    MV_LOG_DEBUG = 0,
    MV_LOG_INFO = 1,
    MV_LOG_WARN = 2,
    MV_LOG_ERROR = 3,
} mv_log_level;

/* Sets the minimum level printed (default INFO; MV_LOG=debug in the environment lowers it).
 * Call before starting threads. */
MV_API void mv_log_set_level(mv_log_level lvl);
/* Parses "debug", "info", "warn", "error"; returns -1 if unknown. */
MV_API int mv_log_parse_level(const char *s);
/* Prints one line if lvl is enabled. Thread-safe (one write(2) per line). */
MV_API void mv_log(mv_log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
