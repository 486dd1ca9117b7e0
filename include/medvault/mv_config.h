/* mv_config.h - the daemons' configuration files: `key = value` lines.
 *
 * Format (UTF-8 text, at most MV_CONFIG_MAX_BYTES):
 *   - one `key = value` per line; lines end with LF (a CR before the LF is ignored);
 *     at most MV_CONFIG_MAX_LINE bytes per line, not counting the line end;
 *   - blank lines and lines whose first non-blank character is '#' are ignored;
 *   - keys match [a-z0-9_.-]+ and appear at most once;
 *   - spaces and tabs around the key, the '=' and the value are ignored;
 *   - the value is the rest of the line, trimmed ('#' inside it is NOT a comment), or a
 *     double-quoted string in which only \" and \\ are escapes (to keep leading/trailing
 *     blanks or a literal '"'); nothing but blanks may follow the closing quote;
 *   - NUL and control characters other than TAB are rejected, as is invalid UTF-8.
 * A mv_config is immutable after loading and may be read from several threads at once.
 * Values may be secrets: mv_config_free wipes them. Errors name the line (1-based) only,
 * never echo a value. */
#ifndef MV_CONFIG_H
#define MV_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_CONFIG_MAX_BYTES ((size_t)1 << 20) /* whole file */
#define MV_CONFIG_MAX_LINE ((size_t)4096)     /* one line, without its line end */

typedef struct mv_config mv_config;

/* Parses text[0..len) (need not be NUL-terminated). On success *out owns a new config
 * (free with mv_config_free). On failure *out is NULL and *err_line (if not NULL) receives
 * the 1-based line of the error, or 0 when the error is not tied to a line (size, memory).
 * Errors: MV_ERR_PARSE (syntax, bad key, duplicate key (the line of its second occurrence),
 * invalid UTF-8, control characters), MV_ERR_TOO_LARGE (len > MV_CONFIG_MAX_BYTES, or a
 * line longer than MV_CONFIG_MAX_LINE), MV_ERR_NOMEM, MV_ERR_INVAL (NULL arguments). */
MV_API mv_err mv_config_parse(const char *text, size_t len, mv_config **out, size_t *err_line)
    __attribute__((warn_unused_result));
/* Reads and parses the file at path (NUL-terminated), as mv_config_parse. The file's bytes
 * are wiped from memory after parsing. Additional errors: MV_ERR_NOT_FOUND (no such file),
 * MV_ERR_IO (cannot open or read it, or it is not a regular file), MV_ERR_TOO_LARGE (the
 * file is larger than MV_CONFIG_MAX_BYTES; err_line 0). */
MV_API mv_err mv_config_load(const char *path, mv_config **out, size_t *err_line)
    __attribute__((warn_unused_result));
/* Wipes and frees a config. Accepts NULL. */
MV_API void mv_config_free(mv_config *cfg);

/* The value of key (NUL-terminated, owned by cfg, valid until mv_config_free), or NULL if
 * the key is absent or cfg/key is NULL. */
MV_API const char *mv_config_get(const mv_config *cfg, const char *key);
/* The 1-based line on which key was set, or 0 if absent. */
MV_API size_t mv_config_line(const mv_config *cfg, const char *key);
/* Number of keys set. */
MV_API size_t mv_config_count(const mv_config *cfg);

/* key as an unsigned decimal integer (digits only: no sign, no blanks, no 0x) in [min, max].
 * Absent: *out = dflt and MV_OK (dflt is not range-checked). MV_ERR_PARSE if the value is
 * not such an integer or does not fit in uint64_t, MV_ERR_INVAL if it is out of [min, max]
 * or cfg/key/out is NULL. *out is unchanged on error. */
MV_API mv_err mv_config_get_u64(const mv_config *cfg, const char *key, uint64_t dflt, uint64_t min,
                                uint64_t max, uint64_t *out) __attribute__((warn_unused_result));
/* key as a boolean: true/yes/1 or false/no/0 (ASCII case-insensitive for the words).
 * Absent: *out = (dflt != 0) and MV_OK. MV_ERR_PARSE for any other value, MV_ERR_INVAL if
 * cfg/key/out is NULL. *out is unchanged on error. */
MV_API mv_err mv_config_get_bool(const mv_config *cfg, const char *key, int dflt, int *out)
    __attribute__((warn_unused_result));
/* Checks every key of cfg against `allowed` (a NULL-terminated array of NUL-terminated
 * keys), so that a misspelt key fails loudly instead of being silently ignored.
 * MV_ERR_PARSE if some key is not allowed: *bad_key (if not NULL) then points to the first
 * such key in file order (owned by cfg; mv_config_line gives its line). MV_ERR_INVAL if
 * cfg or allowed is NULL. */
MV_API mv_err mv_config_check_keys(const mv_config *cfg, const char *const *allowed, const char **bad_key)
    __attribute__((warn_unused_result));

/* One numeric setting of a daemon's configuration file: key, default, allowed range; v
 * receives the value (the default when the file or the key is absent). */
typedef struct mv_config_num {
    const char *key;
    uint64_t dflt, min, max;
    uint64_t v;
} mv_config_num;

/* What every daemon does with its optional DIR/FILE: if it exists, parses it, refuses keys
 * not in `allowed` (NULL-terminated) and reads nums[0..n) within their ranges; if it does
 * not exist, sets each nums[i].v to its default. On success *out (if out is not NULL)
 * receives the parsed file for the caller's other keys (NULL when there is no file; free
 * with mv_config_free). Errors: MV_ERR_PARSE (syntax, an unknown key, a value out of range;
 * *err_line names the line and one log line under `component` names the setting),
 * MV_ERR_IO, MV_ERR_NOMEM, MV_ERR_TOO_LARGE. */
MV_API mv_err mv_config_load_settings(const char *dir, const char *file, const char *component,
                                      const char *const *allowed, mv_config_num *nums, size_t n, mv_config **out,
                                      size_t *err_line) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
