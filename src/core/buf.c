/* buf.c - capped growable buffers: no append can take a buffer past its max. */
#include "medvault/mv_buf.h"
#include "medvault/mv_mem.h"

#include <stdio.h>
#include <string.h>

void mv_buf_init(mv_buf *b, size_t max)
{
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void mv_buf_clear(mv_buf *b)
{
    if (!b)
        return;
    if (b->ptr) {
        mv_wipe(b->ptr, b->cap + 1);
        mv_free(b->ptr);
    }
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
}

void mv_buf_reset(mv_buf *b)
{
    if (b->ptr) {
        mv_wipe(b->ptr, b->len);
        b->ptr[0] = 0;
    }
    b->len = 0;
}

mv_err mv_buf_reserve(mv_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return MV_ERR_TOO_LARGE;
    size_t need = b->len + extra;
    if (need <= b->cap && b->ptr)
        return MV_OK;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if (ncap > b->max)
        ncap = b->max;
    /* Grow by copy rather than realloc so the old contents can be wiped. */
    uint8_t *np = mv_malloc(ncap + 1);
    if (!np)
        return MV_ERR_NOMEM;
    if (b->ptr) {
        memcpy(np, b->ptr, b->len);
        mv_wipe(b->ptr, b->cap + 1);
        mv_free(b->ptr);
    }
    np[b->len] = 0;
    b->ptr = np;
    b->cap = ncap;
    return MV_OK;
}

mv_err mv_buf_append(mv_buf *b, const void *p, size_t n)
{
    mv_err rc = mv_buf_reserve(b, n);
    if (rc != MV_OK)
        return rc;
    if (n)
        memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = 0;
    return MV_OK;
}

mv_err mv_buf_puts(mv_buf *b, const char *s) { return mv_buf_append(b, s, strlen(s)); }

mv_err mv_buf_vprintf(mv_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return MV_ERR_INVAL;
    mv_err rc = mv_buf_reserve(b, (size_t)n);
    if (rc != MV_OK)
        return rc;
    vsnprintf((char *)b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return MV_OK;
}

mv_err mv_buf_printf(mv_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mv_err rc = mv_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

uint8_t *mv_buf_steal(mv_buf *b, size_t *out_len)
{
    uint8_t *p = b->ptr;
    if (!p) {
        p = mv_malloc(1);
        if (p)
            p[0] = 0;
    }
    if (out_len)
        *out_len = b->len;
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
