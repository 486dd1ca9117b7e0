/* mv_file.h - crash-safe small-file I/O for keys, shares, configs and state.
 *
 * mv_file_write_atomic writes a temporary file in the same directory, fsyncs it, renames
 * it over the target and fsyncs the directory, so after a crash (kill -9 or power loss)
 * the path holds either the old or the new content, never a mix. */
#ifndef MV_FILE_H
#define MV_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Atomically replaces path with data[0..len), created with permissions `mode` (e.g. 0600).
 * Errors: MV_ERR_IO (any OS call failed; the old file, if any, is untouched), MV_ERR_INVAL. */
MV_API mv_err mv_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
    __attribute__((warn_unused_result));
/* Reads a whole file of at most max bytes into out (appending; out's own cap applies too).
 * Errors: MV_ERR_NOT_FOUND (no such file), MV_ERR_TOO_LARGE, MV_ERR_IO, MV_ERR_NOMEM. */
MV_API mv_err mv_file_read(const char *path, size_t max, mv_buf *out) __attribute__((warn_unused_result));
/* Creates directory path (one level) with `mode` if it does not exist; MV_ERR_IO otherwise.
 * An existing directory is accepted and its mode left alone. */
MV_API mv_err mv_file_mkdir(const char *path, mode_t mode) __attribute__((warn_unused_result));
/* Joins dir and name into out (cap out_cap); MV_ERR_TOO_LARGE if it does not fit. */
MV_API mv_err mv_path_join(char *out, size_t out_cap, const char *dir, const char *name)
    __attribute__((warn_unused_result));
/* 1 if path exists (any type), 0 otherwise. */
MV_API int mv_file_exists(const char *path);

#ifdef __cplusplus
}
#endif
#endif
