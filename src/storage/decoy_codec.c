/* decoy_codec.c - the shape, MVX and MVH frames between the primary and the decoy cloud:
 * strict decoders that never read past their input nor allocate more than it describes. */
#include "medvault/mv_decoy.h"

#include <string.h>

#include "medvault/mv_mem.h"
#include "core/endian.h"

/* Appends v as n little-endian bytes (n = 2, 4 or 8). */
static mv_err put_le(mv_buf *b, uint64_t v, size_t n)
{
    uint8_t le[8];
    mv_le_put(le, v, n);
    return mv_buf_append(b, le, n);
}

void mv_decoy_shape_init(mv_decoy_shape *s)
{
    if (s)
        memset(s, 0, sizeof *s);
}

void mv_decoy_shape_clear(mv_decoy_shape *s)
{
    if (!s)
        return;
    mv_free(s->block_len);
    memset(s, 0, sizeof *s);
}

/* The range of n_readers a kind allows. */
static int readers_ok(uint8_t kind, unsigned n)
{
    return kind == MV_DECOY_MVE2 ? n < MV_DECOY_MAX_READERS : n >= 1 && n <= MV_DECOY_MAX_READERS;
}

static int shape_ok(const mv_decoy_shape *s)
{
    size_t dlen = strnlen(s->department, sizeof s->department);
    return s->kind <= MV_DECOY_MVK1 && dlen <= MV_DECOY_DEPT_MAX && readers_ok(s->kind, s->n_readers) &&
           s->n_blocks <= MV_DECOY_MAX_BLOCKS && (s->n_blocks == 0 || s->block_len) &&
           (s->kind != MV_DECOY_MVK1 || (s->n_blocks == 0 && memcmp(s->kid, s->id, 16) == 0));
}

/* Appends the version-2 encoding without restoring out on error (callers restore the length). */
static mv_err shape_put(const mv_decoy_shape *s, mv_buf *out)
{
    mv_err rc;
    uint8_t dlen = (uint8_t)strnlen(s->department, sizeof s->department), head[2] = {2, s->kind};
    if ((rc = mv_buf_append(out, head, 2)) != MV_OK || (rc = mv_buf_append(out, s->id, 16)) != MV_OK ||
        (rc = mv_buf_append(out, &dlen, 1)) != MV_OK || (rc = mv_buf_append(out, s->department, dlen)) != MV_OK ||
        (rc = put_le(out, s->created, 8)) != MV_OK || (rc = mv_buf_append(out, s->owner, 32)) != MV_OK ||
        (rc = mv_buf_append(out, s->patient, 32)) != MV_OK || (rc = mv_buf_append(out, s->episode, 16)) != MV_OK ||
        (rc = put_le(out, s->env_len, 4)) != MV_OK ||
        (s->kind == MV_DECOY_MVE2 && (rc = mv_buf_append(out, s->kid, 16)) != MV_OK) ||
        (rc = mv_buf_append(out, &s->n_readers, 1)) != MV_OK ||
        (rc = mv_buf_append(out, s->readers, (size_t)s->n_readers * 32)) != MV_OK ||
        (rc = put_le(out, s->n_blocks, 4)) != MV_OK)
        return rc;
    for (uint32_t i = 0; i < s->n_blocks; i++)
        if ((rc = put_le(out, s->block_len[i], 4)) != MV_OK)
            return rc;
    return MV_OK;
}

static void buf_restore(mv_buf *out, size_t len0)
{
    if (out->len > len0) {
        mv_wipe(out->ptr + len0, out->len - len0);
        out->len = len0;
        out->ptr[len0] = 0;
    }
}

mv_err mv_decoy_shape_encode(const mv_decoy_shape *s, mv_buf *out)
{
    if (!s || !out || !shape_ok(s))
        return MV_ERR_INVAL;
    size_t len0 = out->len;
    mv_err rc = shape_put(s, out);
    if (rc != MV_OK)
        buf_restore(out, len0);
    return rc;
}

/* Decodes one shape of the given encoding version (1 or 2). */
static mv_err shape_get(mv_rd *r, int version, mv_decoy_shape *out)
{
    const uint8_t *p;
    uint8_t dlen, n_readers, v, kind = MV_DECOY_MVE1;
    uint32_t n_blocks;
    if (version == 2 && (mv_rd_u8(r, &v) || v != 2 || mv_rd_u8(r, &kind) || kind > MV_DECOY_MVK1))
        return MV_ERR_PARSE;
    out->kind = kind;
    if (mv_rd_bytes(r, 16, &p))
        return MV_ERR_PARSE;
    memcpy(out->id, p, 16);
    if (mv_rd_u8(r, &dlen) || dlen > MV_DECOY_DEPT_MAX || mv_rd_bytes(r, dlen, &p))
        return MV_ERR_PARSE;
    if (dlen && memchr(p, 0, dlen))
        return MV_ERR_PARSE;
    memcpy(out->department, p, dlen);
    out->department[dlen] = 0;
    if (mv_rd_u64(r, &out->created) || mv_rd_bytes(r, 32, &p))
        return MV_ERR_PARSE;
    memcpy(out->owner, p, 32);
    if (mv_rd_bytes(r, 32, &p))
        return MV_ERR_PARSE;
    memcpy(out->patient, p, 32);
    if (mv_rd_bytes(r, 16, &p))
        return MV_ERR_PARSE;
    memcpy(out->episode, p, 16);
    if (mv_rd_u32(r, &out->env_len))
        return MV_ERR_PARSE;
    if (kind == MV_DECOY_MVE2) {
        if (mv_rd_bytes(r, 16, &p))
            return MV_ERR_PARSE;
        memcpy(out->kid, p, 16);
    } else if (kind == MV_DECOY_MVK1) {
        memcpy(out->kid, out->id, 16);
    }
    if (mv_rd_u8(r, &n_readers) || !readers_ok(kind, n_readers) || mv_rd_bytes(r, (size_t)n_readers * 32, &p))
        return MV_ERR_PARSE;
    out->n_readers = n_readers;
    memcpy(out->readers, p, (size_t)n_readers * 32);
    if (mv_rd_u32(r, &n_blocks))
        return MV_ERR_PARSE;
    if (n_blocks > MV_DECOY_MAX_BLOCKS)
        return MV_ERR_TOO_LARGE;
    if (kind == MV_DECOY_MVK1 && n_blocks)
        return MV_ERR_PARSE; /* a keyset names no blocks */
    /* Allocate only what the input can back: 4 bytes per announced length. */
    if (mv_rd_bytes(r, (size_t)n_blocks * 4, &p))
        return MV_ERR_PARSE;
    if (n_blocks) {
        out->block_len = mv_mallocarray(n_blocks, sizeof *out->block_len);
        if (!out->block_len)
            return MV_ERR_NOMEM;
        for (uint32_t i = 0; i < n_blocks; i++) {
            const uint8_t *q = p + (size_t)i * 4;
            out->block_len[i] = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
        }
    }
    out->n_blocks = n_blocks;
    return MV_OK;
}

static mv_err shape_decode(const uint8_t *in, size_t len, int version, size_t *used, mv_decoy_shape *out)
{
    if (!out || !used || (!in && len))
        return MV_ERR_INVAL;
    mv_decoy_shape_clear(out);
    *used = 0;
    mv_rd r;
    mv_rd_init(&r, in, len);
    mv_err rc = shape_get(&r, version, out);
    if (rc != MV_OK) {
        mv_decoy_shape_clear(out);
        return rc;
    }
    *used = len - r.left;
    return MV_OK;
}

mv_err mv_decoy_shape_decode(const uint8_t *in, size_t len, size_t *used, mv_decoy_shape *out)
{
    return shape_decode(in, len, 2, used, out);
}

mv_err mv_decoy_shape_decode_v1(const uint8_t *in, size_t len, size_t *used, mv_decoy_shape *out)
{
    return shape_decode(in, len, 1, used, out);
}

/* ---------- MVX2 (MVX1 decoded) ---------- */

void mv_decoy_forward_init(mv_decoy_forward *f)
{
    if (f)
        memset(f, 0, sizeof *f);
}

void mv_decoy_forward_clear(mv_decoy_forward *f)
{
    if (!f)
        return;
    mv_decoy_shapes_free(f->shapes, f->n_shapes);
    memset(f, 0, sizeof *f);
}

/* Method and path never hold spaces or control bytes (they were one HTTP request line). */
static int text_ok(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] == 0x7f)
            return 0;
    return 1;
}

mv_err mv_decoy_forward_encode(const mv_decoy_forward *f, mv_buf *out)
{
    if (!f || !out)
        return MV_ERR_INVAL;
    size_t mlen = strnlen(f->method, sizeof f->method);
    if (f->reason < MV_DECOY_UNAUTHENTICATED || f->reason > MV_DECOY_PROFILE || mlen == 0 ||
        mlen > MV_DECOY_METHOD_MAX || !f->path || f->path_len == 0 || f->path_len > MV_DECOY_PATH_MAX ||
        f->body_len > UINT32_MAX || (!f->body && f->body_len) || f->n_shapes > MV_DECOY_MAX_SHAPES ||
        (!f->shapes && f->n_shapes))
        return MV_ERR_INVAL;
    for (size_t i = 0; i < f->n_shapes; i++)
        if (!shape_ok(&f->shapes[i]))
            return MV_ERR_INVAL;
    size_t len0 = out->len;
    mv_err rc;
    if ((rc = mv_buf_append(out, "MVX2", 4)) != MV_OK || (rc = mv_buf_append(out, &f->reason, 1)) != MV_OK ||
        (rc = mv_buf_append(out, f->principal, 32)) != MV_OK || (rc = put_le(out, (uint16_t)mlen, 2)) != MV_OK ||
        (rc = mv_buf_append(out, f->method, mlen)) != MV_OK ||
        (rc = put_le(out, (uint16_t)f->path_len, 2)) != MV_OK ||
        (rc = mv_buf_append(out, f->path, f->path_len)) != MV_OK ||
        (rc = put_le(out, (uint32_t)f->body_len, 4)) != MV_OK ||
        (rc = mv_buf_append(out, f->body, f->body_len)) != MV_OK ||
        (rc = put_le(out, (uint32_t)f->n_shapes, 4)) != MV_OK)
        goto out;
    for (size_t i = 0; i < f->n_shapes; i++)
        if ((rc = shape_put(&f->shapes[i], out)) != MV_OK)
            goto out;
out:
    if (rc != MV_OK)
        buf_restore(out, len0);
    return rc;
}

/* Decodes n shapes of the given version from r into a fresh array (NULL when n is 0). */
static mv_err shapes_get(mv_rd *r, int version, uint32_t n, mv_decoy_shape **out)
{
    *out = NULL;
    if (n > MV_DECOY_MAX_SHAPES)
        return MV_ERR_TOO_LARGE;
    if (n == 0)
        return MV_OK;
    /* The smallest shape is 16+1+8+32+32+16+4+1+32+4 = 146 bytes in version 1, and in version 2
     * 2 bytes more, but an MVE2 shape may have no reader entry (16 bytes of kid instead of 32 of
     * a key): 132. Bound the array by the input. */
    if (r->left / (version == 1 ? 146 : 132) < n)
        return MV_ERR_PARSE;
    mv_decoy_shape *a = mv_calloc(n, sizeof *a);
    if (!a)
        return MV_ERR_NOMEM;
    mv_err rc = MV_OK;
    for (uint32_t i = 0; i < n; i++)
        if ((rc = shape_get(r, version, &a[i])) != MV_OK)
            break;
    if (rc != MV_OK) {
        mv_decoy_shapes_free(a, n);
        return rc;
    }
    *out = a;
    return MV_OK;
}

mv_err mv_decoy_forward_decode(const uint8_t *in, size_t len, mv_decoy_forward *out)
{
    if (!out || (!in && len))
        return MV_ERR_INVAL;
    mv_decoy_forward_clear(out);
    mv_rd r;
    mv_rd_init(&r, in, len);
    const uint8_t *p;
    uint16_t mlen, plen;
    uint32_t blen, n;
    mv_err rc = MV_ERR_PARSE;
    int version = 0;
    if (mv_rd_bytes(&r, 4, &p) || (version = memcmp(p, "MVX2", 4) == 0 ? 2 : memcmp(p, "MVX1", 4) == 0) == 0 ||
        mv_rd_u8(&r, &out->reason) ||
        out->reason < MV_DECOY_UNAUTHENTICATED || out->reason > MV_DECOY_PROFILE || mv_rd_bytes(&r, 32, &p))
        goto out;
    memcpy(out->principal, p, 32);
    if (mv_rd_u16(&r, &mlen) || mlen == 0 || mlen > MV_DECOY_METHOD_MAX || mv_rd_bytes(&r, mlen, &p) ||
        !text_ok(p, mlen))
        goto out;
    memcpy(out->method, p, mlen);
    out->method[mlen] = 0;
    if (mv_rd_u16(&r, &plen) || plen == 0 || mv_rd_bytes(&r, plen, &p) || !text_ok(p, plen))
        goto out;
    out->path = (const char *)p;
    out->path_len = plen;
    if (mv_rd_u32(&r, &blen) || mv_rd_bytes(&r, blen, &p))
        goto out;
    out->body = blen ? p : NULL;
    out->body_len = blen;
    if (mv_rd_u32(&r, &n))
        goto out;
    if ((rc = shapes_get(&r, version, n, &out->shapes)) != MV_OK)
        goto out;
    out->n_shapes = n;
    rc = r.left == 0 ? MV_OK : MV_ERR_PARSE;
out:
    if (rc != MV_OK)
        mv_decoy_forward_clear(out);
    return rc;
}

/* ---------- MVH2 (MVH1 decoded) ---------- */

mv_err mv_decoy_shapes_encode(const mv_decoy_shape *shapes, size_t n, mv_buf *out)
{
    if (!out || (!shapes && n) || n > MV_DECOY_MAX_SHAPES)
        return MV_ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if (!shape_ok(&shapes[i]))
            return MV_ERR_INVAL;
    size_t len0 = out->len;
    mv_err rc;
    if ((rc = mv_buf_append(out, "MVH2", 4)) != MV_OK || (rc = put_le(out, (uint32_t)n, 4)) != MV_OK)
        goto out;
    for (size_t i = 0; i < n; i++)
        if ((rc = shape_put(&shapes[i], out)) != MV_OK)
            goto out;
out:
    if (rc != MV_OK)
        buf_restore(out, len0);
    return rc;
}

mv_err mv_decoy_shapes_decode(const uint8_t *in, size_t len, mv_decoy_shape **out, size_t *n)
{
    if (!out || !n || (!in && len))
        return MV_ERR_INVAL;
    *out = NULL;
    *n = 0;
    mv_rd r;
    mv_rd_init(&r, in, len);
    const uint8_t *p;
    uint32_t cnt;
    mv_decoy_shape *a = NULL;
    int version = 0;
    if (mv_rd_bytes(&r, 4, &p) || (version = memcmp(p, "MVH2", 4) == 0 ? 2 : memcmp(p, "MVH1", 4) == 0) == 0 ||
        mv_rd_u32(&r, &cnt))
        return MV_ERR_PARSE;
    mv_err rc = shapes_get(&r, version, cnt, &a);
    if (rc != MV_OK)
        return rc;
    if (r.left != 0) {
        mv_decoy_shapes_free(a, cnt);
        return MV_ERR_PARSE;
    }
    *out = a;
    *n = cnt;
    return MV_OK;
}

void mv_decoy_shapes_free(mv_decoy_shape *shapes, size_t n)
{
    if (!shapes)
        return;
    for (size_t i = 0; i < n; i++)
        mv_decoy_shape_clear(&shapes[i]);
    mv_free(shapes);
}
