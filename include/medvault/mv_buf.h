/* mv_buf.h - growable byte buffers with a hard cap.
 *
 * A mv_buf owns ptr (heap) and never grows past max: appends beyond it return
 * MV_ERR_TOO_LARGE and leave the buffer unchanged. ptr is always NUL-terminated one byte
 * past len (not counted in len) so text can be passed to C string functions. */
#ifndef MV_BUF_H
#define MV_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mv_buf {
    uint8_t *ptr; /* owned; NULL until the first append */
    size_t len;   /* bytes used */
    size_t cap;   /* bytes allocated (excluding the NUL terminator byte) */
    size_t max;   /* hard cap on len */
} mv_buf;

/* Initialises an empty buffer that may grow to max bytes. Allocates nothing. */
MV_API void mv_buf_init(mv_buf *b, size_t max);
/* Wipes and frees the contents; the buffer is then empty with the same max. Accepts NULL. */
MV_API void mv_buf_clear(mv_buf *b);
/* Sets len to 0 without freeing (contents wiped). */
MV_API void mv_buf_reset(mv_buf *b);
/* Ensures room for `extra` more bytes. MV_ERR_TOO_LARGE past max, MV_ERR_NOMEM. */
MV_API mv_err mv_buf_reserve(mv_buf *b, size_t extra) __attribute__((warn_unused_result));
/* Appends n bytes from p (p may alias nothing inside b). */
MV_API mv_err mv_buf_append(mv_buf *b, const void *p, size_t n) __attribute__((warn_unused_result));
/* Appends a NUL-terminated string (without its NUL). */
MV_API mv_err mv_buf_puts(mv_buf *b, const char *s) __attribute__((warn_unused_result));
/* Appends printf-formatted text. */
MV_API mv_err mv_buf_printf(mv_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), warn_unused_result));
MV_API mv_err mv_buf_vprintf(mv_buf *b, const char *fmt, va_list ap) __attribute__((warn_unused_result));
/* Hands the contents to the caller (who frees with mv_free) and empties b.
 * *out_len receives the length; the returned pointer is NUL-terminated. Returns NULL
 * if nothing was ever appended and allocation of an empty string fails. */
MV_API uint8_t *mv_buf_steal(mv_buf *b, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
