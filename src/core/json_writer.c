/* json_writer.c - a streaming JSON writer with sticky errors, so the many documents a daemon
 * writes by hand (listings, metadata, errors) get commas and nesting right without checking
 * every call. */
#include "medvault/mv_json.h"

#include <inttypes.h>
#include <string.h>

void mv_jw_init(mv_jw *w, mv_buf *b)
{
    memset(w, 0, sizeof *w);
    w->b = b;
    w->rc = b ? MV_OK : MV_ERR_INVAL;
}

/* Before a value: checks the position and writes the comma a second array element needs.
 * Returns 0 if the writer has failed (and records misuse as MV_ERR_INVAL). */
static int value_begin(mv_jw *w)
{
    if (w->rc != MV_OK)
        return 0;
    if (w->depth == 0) {
        if (w->done) { /* a second top-level value */
            w->rc = MV_ERR_INVAL;
            return 0;
        }
        return 1;
    }
    unsigned top = w->depth - 1;
    if (w->kind[top] == '{') {
        if (!w->keyed) {
            w->rc = MV_ERR_INVAL;
            return 0;
        }
        w->keyed = 0;
        return 1;
    }
    if (w->count[top] && (w->rc = mv_buf_append(w->b, ",", 1)) != MV_OK)
        return 0;
    w->count[top] = 1;
    return 1;
}

/* After a complete top-level value: no other may follow. */
static void value_end(mv_jw *w)
{
    if (w->rc == MV_OK && w->depth == 0)
        w->done = 1;
}

static void open_container(mv_jw *w, char kind)
{
    if (!value_begin(w))
        return;
    if (w->depth >= MV_JW_DEPTH_MAX) {
        w->rc = MV_ERR_INVAL;
        return;
    }
    if ((w->rc = mv_buf_append(w->b, &kind, 1)) != MV_OK)
        return;
    w->kind[w->depth] = (unsigned char)kind;
    w->count[w->depth] = 0;
    w->depth++;
}

static void close_container(mv_jw *w, char kind)
{
    if (w->rc != MV_OK)
        return;
    if (w->depth == 0 || w->kind[w->depth - 1] != (kind == '}' ? '{' : '[') || w->keyed) {
        w->rc = MV_ERR_INVAL;
        return;
    }
    if ((w->rc = mv_buf_append(w->b, &kind, 1)) != MV_OK)
        return;
    w->depth--;
    value_end(w);
}

void mv_jw_obj(mv_jw *w)
{
    open_container(w, '{');
}

void mv_jw_obj_end(mv_jw *w)
{
    close_container(w, '}');
}

void mv_jw_arr(mv_jw *w)
{
    open_container(w, '[');
}

void mv_jw_arr_end(mv_jw *w)
{
    close_container(w, ']');
}

void mv_jw_key(mv_jw *w, const char *key)
{
    if (w->rc != MV_OK)
        return;
    if (!key || w->depth == 0 || w->kind[w->depth - 1] != '{' || w->keyed) {
        w->rc = MV_ERR_INVAL;
        return;
    }
    unsigned top = w->depth - 1;
    if ((w->count[top] && (w->rc = mv_buf_append(w->b, ",", 1)) != MV_OK) ||
        (w->rc = mv_json_write_str(w->b, key, strlen(key))) != MV_OK || (w->rc = mv_buf_append(w->b, ":", 1)) != MV_OK)
        return;
    w->count[top] = 1;
    w->keyed = 1;
}

void mv_jw_strn(mv_jw *w, const char *s, size_t len)
{
    if (value_begin(w) && (w->rc = mv_json_write_str(w->b, s, len)) == MV_OK)
        value_end(w);
}

void mv_jw_str(mv_jw *w, const char *s)
{
    if (!s)
        mv_jw_null(w);
    else
        mv_jw_strn(w, s, strlen(s));
}

void mv_jw_u64(mv_jw *w, uint64_t v)
{
    if (value_begin(w) && (w->rc = mv_buf_printf(w->b, "%" PRIu64, v)) == MV_OK)
        value_end(w);
}

void mv_jw_i64(mv_jw *w, int64_t v)
{
    if (value_begin(w) && (w->rc = mv_buf_printf(w->b, "%" PRId64, v)) == MV_OK)
        value_end(w);
}

void mv_jw_raw(mv_jw *w, const char *json, size_t len)
{
    if (w->rc == MV_OK && (!json || !len)) {
        w->rc = MV_ERR_INVAL;
        return;
    }
    if (value_begin(w) && (w->rc = mv_buf_append(w->b, json, len)) == MV_OK)
        value_end(w);
}

void mv_jw_bool(mv_jw *w, int v)
{
    mv_jw_raw(w, v ? "true" : "false", v ? 4 : 5);
}

void mv_jw_null(mv_jw *w)
{
    mv_jw_raw(w, "null", 4);
}

void mv_jw_hex(mv_jw *w, const uint8_t *bin, size_t n)
{
    if (value_begin(w) && (w->rc = mv_json_write_hex(w->b, bin, n)) == MV_OK)
        value_end(w);
}

void mv_jw_kstr(mv_jw *w, const char *key, const char *s)
{
    mv_jw_key(w, key);
    mv_jw_str(w, s);
}

void mv_jw_ku64(mv_jw *w, const char *key, uint64_t v)
{
    mv_jw_key(w, key);
    mv_jw_u64(w, v);
}

void mv_jw_ki64(mv_jw *w, const char *key, int64_t v)
{
    mv_jw_key(w, key);
    mv_jw_i64(w, v);
}

void mv_jw_kbool(mv_jw *w, const char *key, int v)
{
    mv_jw_key(w, key);
    mv_jw_bool(w, v);
}

void mv_jw_knull(mv_jw *w, const char *key)
{
    mv_jw_key(w, key);
    mv_jw_null(w);
}

void mv_jw_khex(mv_jw *w, const char *key, const uint8_t *bin, size_t n)
{
    mv_jw_key(w, key);
    mv_jw_hex(w, bin, n);
}

mv_err mv_jw_finish(const mv_jw *w)
{
    if (!w)
        return MV_ERR_INVAL;
    if (w->rc != MV_OK)
        return w->rc;
    return w->depth || w->keyed || !w->done ? MV_ERR_INVAL : MV_OK;
}
