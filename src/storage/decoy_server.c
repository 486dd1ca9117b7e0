/* decoy_server.c - the decoy cloud (`medvault storage run --role decoy`): answers only requests
 * the primary signs and forwards, with decoys shaped like the real records and never derived
 * from their content; the seed that makes decoys stable never leaves locked memory.
 *
 * State in DIR: decoy.seed (0600, 32 bytes), decoys/<id hex>.rec (u32 shape_len | shape |
 * u32 env_len | envelope | u32 n | tag(32) * n) and decoys/blocks/<tag hex>. A push writes the
 * blocks, then the .rec file (each with mv_file_write_atomic: fsync, rename, fsync dir), so
 * a .rec on disk always has its blocks; replaced blocks are removed after the new .rec. */
#include "medvault/mv_decoy.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "medvault/mv_audit.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_daemon.h"
#include "medvault/mv_file.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "storage_internal.h"

#define DECOY_COMPONENT "decoy"
#define REC_MAX ((size_t)64 << 20)

typedef struct decoy_srv {
    const mv_storage_config *cfg;
    mv_auth_verifier *auth;
    mv_metrics *metrics;
    uint8_t *seed; /* secure memory */
    mv_audit *audit; /* the request log (mv_audit.h); borrowed by the HTTP server */
    char dir[4096], blocks[4096];
    pthread_mutex_t lock; /* serialises writes of .rec and block files */
} decoy_srv;

static void count(decoy_srv *d, const char *name, const char *help, const char *labels, uint64_t n)
{
    if (mv_metrics_counter_add(d->metrics, name, help, labels, n) != MV_OK)
        mv_log(MV_LOG_DEBUG, DECOY_COMPONENT, "metric %s dropped", name);
}

static int is_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* ---------- stored decoys ---------- */

static mv_err rec_path(const decoy_srv *d, const uint8_t id[16], char *out, size_t cap)
{
    char hex[33], name[40];
    if (mv_hex_encode(hex, sizeof hex, id, 16) != MV_OK)
        return MV_ERR_INVAL;
    snprintf(name, sizeof name, "%s.rec", hex);
    return mv_path_join(out, cap, d->dir, name);
}

static mv_err block_path(const decoy_srv *d, const uint8_t tag[32], char *out, size_t cap)
{
    char hex[65];
    if (mv_hex_encode(hex, sizeof hex, tag, 32) != MV_OK)
        return MV_ERR_INVAL;
    return mv_path_join(out, cap, d->blocks, hex);
}

/* A stored .rec, parsed in place over buf. */
typedef struct stored {
    mv_buf buf;
    const uint8_t *shape, *env, *tags;
    size_t shape_len, env_len, n_tags;
} stored;

static mv_err stored_load(const decoy_srv *d, const uint8_t id[16], stored *st)
{
    char path[4200];
    mv_err rc;
    memset(st, 0, sizeof *st);
    mv_buf_init(&st->buf, REC_MAX);
    if ((rc = rec_path(d, id, path, sizeof path)) != MV_OK || (rc = mv_file_read(path, REC_MAX, &st->buf)) != MV_OK)
        return rc;
    storage_rd r;
    uint32_t sl, el, n;
    storage_rd_init(&r, st->buf.ptr, st->buf.len);
    if (storage_rd_u32(&r, &sl) || storage_rd_bytes(&r, sl, &st->shape) || storage_rd_u32(&r, &el) ||
        storage_rd_bytes(&r, el, &st->env) || storage_rd_u32(&r, &n) || n > storage_rd_left(&r) / 32 ||
        storage_rd_bytes(&r, (size_t)n * 32, &st->tags) || storage_rd_left(&r) != 0)
        return MV_ERR_PARSE;
    st->shape_len = sl;
    st->env_len = el;
    st->n_tags = n;
    return MV_OK;
}

static void stored_clear(stored *st)
{
    mv_buf_clear(&st->buf);
}

/* Generates the decoy of s and stores it unless the same shape is stored already.
 * *generated is 1 when it (re)generated. */
static mv_err store_shape(decoy_srv *d, const mv_decoy_shape *s, int *generated)
{
    mv_buf enc, rec;
    mv_decoy_record dr;
    stored old;
    char path[4200];
    mv_err rc;
    *generated = 0;
    mv_buf_init(&enc, REC_MAX);
    mv_buf_init(&rec, REC_MAX);
    mv_decoy_record_init(&dr);
    memset(&old, 0, sizeof old);
    if ((rc = mv_decoy_shape_encode(s, &enc)) != MV_OK)
        return rc;
    pthread_mutex_lock(&d->lock);
    mv_err lrc = stored_load(d, s->id, &old);
    if (lrc == MV_OK && old.shape_len == enc.len && memcmp(old.shape, enc.ptr, enc.len) == 0)
        goto out; /* unchanged */
    if ((rc = mv_decoy_generate(d->seed, s, &dr)) != MV_OK)
        goto out;
    if (dr.n_inexact)
        count(d, "medvault_decoy_inexact_parts_total",
              "Decoy parts sized with a stored zstd frame or filler instead of compressed content", NULL, dr.n_inexact);
    for (size_t i = 0; i < dr.n_blocks; i++) {
        if ((rc = block_path(d, dr.blocks[i].tag, path, sizeof path)) != MV_OK ||
            (rc = mv_file_write_atomic(path, dr.blocks[i].c, dr.blocks[i].len, 0600)) != MV_OK)
            goto out;
    }
    if ((rc = storage_put_u32(&rec, (uint32_t)enc.len)) != MV_OK || (rc = mv_buf_append(&rec, enc.ptr, enc.len)) != MV_OK ||
        (rc = storage_put_u32(&rec, (uint32_t)dr.env_len)) != MV_OK ||
        (rc = mv_buf_append(&rec, dr.env, dr.env_len)) != MV_OK ||
        (rc = storage_put_u32(&rec, (uint32_t)dr.n_blocks)) != MV_OK)
        goto out;
    for (size_t i = 0; i < dr.n_blocks; i++)
        if ((rc = mv_buf_append(&rec, dr.blocks[i].tag, 32)) != MV_OK)
            goto out;
    if ((rc = rec_path(d, s->id, path, sizeof path)) != MV_OK ||
        (rc = mv_file_write_atomic(path, rec.ptr, rec.len, 0600)) != MV_OK)
        goto out;
    *generated = 1;
    /* The old decoy's blocks are no longer referenced (decoy tags are unique per record). */
    for (size_t i = 0; lrc == MV_OK && i < old.n_tags; i++) {
        int kept = 0;
        for (size_t j = 0; j < dr.n_blocks && !kept; j++)
            kept = memcmp(dr.blocks[j].tag, old.tags + 32 * i, 32) == 0;
        if (!kept && block_path(d, old.tags + 32 * i, path, sizeof path) == MV_OK)
            (void)unlink(path);
    }
out:
    pthread_mutex_unlock(&d->lock);
    stored_clear(&old);
    mv_decoy_record_clear(&dr);
    mv_buf_clear(&enc);
    mv_buf_clear(&rec);
    return rc;
}

/* The shape for id: from the forward frame if it carries one, else from the store. *s is
 * borrowed (frame) or filled into own (decoded from the store; the caller clears it). */
static const mv_decoy_shape *find_shape(decoy_srv *d, const mv_decoy_forward *f, const uint8_t id[16],
                                        mv_decoy_shape *own)
{
    for (size_t i = 0; i < f->n_shapes; i++)
        if (memcmp(f->shapes[i].id, id, 16) == 0)
            return &f->shapes[i];
    stored st;
    size_t used = 0;
    const mv_decoy_shape *found = NULL;
    if (stored_load(d, id, &st) == MV_OK && mv_decoy_shape_decode(st.shape, st.shape_len, &used, own) == MV_OK &&
        used == st.shape_len)
        found = own;
    stored_clear(&st);
    return found;
}

/* Appends the decoy envelope of s: the stored one when its shape matches, else a freshly
 * generated (and then stored) one. */
static mv_err decoy_envelope(decoy_srv *d, const mv_decoy_shape *s, mv_buf *out)
{
    stored st;
    int gen = 0;
    mv_err rc = store_shape(d, s, &gen);
    if (rc != MV_OK)
        return rc;
    count(d, "medvault_decoy_generated_total", "Decoys generated (new or changed shapes)", NULL, (uint64_t)gen);
    if ((rc = stored_load(d, s->id, &st)) == MV_OK)
        rc = mv_buf_append(out, st.env, st.env_len);
    stored_clear(&st);
    return rc;
}

/* ---------- answers to forwarded requests (mirroring storage_records.c / storage_blocks.c) ---------- */

static mv_err write_hex_or_empty(mv_buf *b, const uint8_t *p, size_t n)
{
    return is_zero(p, n) ? mv_buf_puts(b, "\"\"") : mv_json_write_hex(b, p, n);
}

static int parse_hex(const char *hex, size_t hex_len, uint8_t *out, size_t n)
{
    return mv_hex_decode_exact(out, n, hex, hex_len) == MV_OK ? 0 : -1;
}

static void record_get(decoy_srv *d, const mv_decoy_forward *f, const char *hex, mv_http_response *resp)
{
    uint8_t id[16];
    mv_decoy_shape own;
    char h[65];
    mv_decoy_shape_init(&own);
    if (parse_hex(hex, strlen(hex), id, 16)) {
        mv_http_respond_json_error(resp, 400, "the path must end in a 32-hex-digit record id");
        return;
    }
    const mv_decoy_shape *s = find_shape(d, f, id, &own);
    if (!s) {
        mv_http_respond_json_error(resp, 404, "no such record");
        return;
    }
    mv_buf_reset(&resp->body);
    mv_err rc = decoy_envelope(d, s, &resp->body);
    if (rc == MV_OK && (mv_hex_encode(h, sizeof h, s->owner, 32) != MV_OK ||
                        mv_http_response_header(resp, "MV-Record-Owner", h) != MV_OK))
        rc = MV_ERR_INVAL;
    if (rc == MV_OK && !is_zero(s->patient, 32) &&
        (mv_hex_encode(h, sizeof h, s->patient, 32) != MV_OK ||
         mv_http_response_header(resp, "MV-Record-Patient", h) != MV_OK))
        rc = MV_ERR_INVAL;
    if (rc == MV_OK && !is_zero(s->episode, 16) &&
        (mv_hex_encode(h, sizeof h, s->episode, 16) != MV_OK ||
         mv_http_response_header(resp, "MV-Record-Episode", h) != MV_OK))
        rc = MV_ERR_INVAL;
    mv_decoy_shape_clear(&own);
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "decoy record");
        return;
    }
    storage_set_type(resp, 200, "application/octet-stream");
}

static void records_get(decoy_srv *d, const mv_decoy_forward *f, mv_http_response *resp)
{
    storage_rd r;
    const uint8_t *p = NULL;
    uint32_t n = 0;
    mv_buf *out = &resp->body;
    mv_err rc = MV_OK;
    storage_rd_init(&r, f->body, f->body_len);
    if (storage_rd_bytes(&r, 4, &p) || memcmp(p, "MVQ1", 4) != 0) {
        mv_http_respond_json_error(resp, 400, "not an MVQ1 frame (bad magic)");
        return;
    }
    if (storage_rd_u32(&r, &n) || n == 0 || n > MV_STORAGE_MAX_GET) {
        mv_http_respond_json_error(resp, 400, "the id count must be 1 to 4096");
        return;
    }
    if (storage_rd_left(&r) != (size_t)n * 16) {
        mv_http_respond_json_error(resp, 400, "the id count does not match the body");
        return;
    }
    mv_buf_reset(out);
    if ((rc = mv_buf_append(out, "MVQ1", 4)) == MV_OK)
        rc = storage_put_u32(out, n);
    for (uint32_t i = 0; rc == MV_OK && i < n; i++) {
        const uint8_t *id = NULL;
        mv_decoy_shape own;
        mv_decoy_shape_init(&own);
        (void)storage_rd_bytes(&r, 16, &id);
        uint8_t idc[16];
        memcpy(idc, id, 16);
        const mv_decoy_shape *s = find_shape(d, f, idc, &own);
        uint8_t st = s ? 0 : 1;
        size_t at = out->len;
        if ((rc = mv_buf_append(out, &st, 1)) == MV_OK && (rc = storage_put_u32(out, 0)) == MV_OK && s &&
            (rc = decoy_envelope(d, s, out)) == MV_OK) {
            uint32_t el = (uint32_t)(out->len - at - 5);
            for (int k = 0; k < 4; k++)
                out->ptr[at + 1 + (size_t)k] = (uint8_t)(el >> (8 * k));
        }
        mv_decoy_shape_clear(&own);
    }
    if (rc == MV_ERR_TOO_LARGE) {
        mv_http_respond_json_error(resp, 413, "the answer would exceed 256 MiB: ask for fewer records");
        return;
    }
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "record read");
        return;
    }
    storage_set_type(resp, 200, "application/octet-stream");
}

static void readers_get(decoy_srv *d, const mv_decoy_forward *f, const char *arg, mv_http_response *resp)
{
    uint8_t id[16];
    mv_decoy_shape own;
    mv_buf b;
    if (strlen(arg) != 32 + 8 || strcmp(arg + 32, "/readers") != 0 || parse_hex(arg, 32, id, 16)) {
        mv_http_respond_json_error(resp, 400, "the path must be /v1/records/<32 hex>/readers");
        return;
    }
    mv_decoy_shape_init(&own);
    const mv_decoy_shape *s = find_shape(d, f, id, &own);
    if (!s) {
        mv_http_respond_json_error(resp, 404, "no such record");
        return;
    }
    mv_buf_init(&b, 1u << 16);
    /* As the primary: the ACL beyond the owner, which for a patient's record is the patient. */
    mv_err rc = mv_buf_puts(&b, "{\"id\":");
    if (rc == MV_OK)
        rc = mv_json_write_hex(&b, s->id, 16);
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, ",\"owner\":");
    if (rc == MV_OK)
        rc = mv_json_write_hex(&b, s->owner, 32);
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, ",\"patient\":");
    if (rc == MV_OK)
        rc = write_hex_or_empty(&b, s->patient, 32);
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, ",\"episode\":");
    if (rc == MV_OK)
        rc = write_hex_or_empty(&b, s->episode, 16);
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, ",\"department\":");
    if (rc == MV_OK)
        rc = mv_json_write_str(&b, s->department, strlen(s->department));
    if (rc == MV_OK)
        rc = mv_buf_printf(&b, ",\"created\":%llu,\"readers\":[", (unsigned long long)s->created);
    if (rc == MV_OK && !is_zero(s->patient, 32))
        rc = mv_json_write_hex(&b, s->patient, 32);
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, "]}");
    mv_http_respond_built(resp, rc, 200, &b);
    mv_buf_clear(&b);
    mv_decoy_shape_clear(&own);
}

/* Appends block tag's ciphertext to out; MV_ERR_NOT_FOUND for a tag that is no decoy's. */
static mv_err block_read(decoy_srv *d, const uint8_t tag[32], mv_buf *out)
{
    char path[4200];
    mv_err rc = block_path(d, tag, path, sizeof path);
    return rc == MV_OK ? mv_file_read(path, MV_STORAGE_MAX_BLOCK, out) : rc;
}

static void block_get(decoy_srv *d, const char *hex, mv_http_response *resp)
{
    uint8_t tag[32];
    if (parse_hex(hex, strlen(hex), tag, 32)) {
        mv_http_respond_json_error(resp, 400, "the path must end in a 64-hex-digit tag");
        return;
    }
    mv_buf_reset(&resp->body);
    mv_err rc = block_read(d, tag, &resp->body);
    if (rc == MV_ERR_NOT_FOUND) {
        mv_http_respond_json_error(resp, 404, "no such block");
        return;
    }
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "block read");
        return;
    }
    storage_set_type(resp, 200, "application/octet-stream");
}

static mv_err decoy_block_read(void *ctx, const uint8_t tag[32], mv_buf *out)
{
    return block_read(ctx, tag, out);
}

static void blocks_get(decoy_srv *d, const mv_decoy_forward *f, mv_http_response *resp)
{
    storage_answer_blocks_get(f->body, f->body_len, decoy_block_read, d, resp);
}

/* Forwarded writes: plausible success answers in the primary's formats; nothing is stored. */
static void dupcheck(const mv_decoy_forward *f, mv_http_response *resp)
{
    mv_json *doc = NULL;
    mv_buf b;
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);
    if (mv_json_parse((const char *)f->body, f->body_len, NULL, &doc, NULL) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "malformed JSON body");
        return;
    }
    const mv_json *arr = mv_json_get(doc, "tokens");
    size_t n = mv_json_len(arr);
    mv_err rc = mv_buf_puts(&b, "{\"results\":[");
    for (size_t i = 0; rc == MV_OK && i < n; i++)
        rc = mv_buf_puts(&b, i ? ",{\"exists\":false}" : "{\"exists\":false}");
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, "]}");
    mv_http_respond_built(resp, rc, 200, &b);
    mv_buf_clear(&b);
    mv_json_free(doc);
}

static void blocks_put(const mv_decoy_forward *f, mv_http_response *resp)
{
    storage_rd r;
    const uint8_t *p = NULL;
    uint8_t dlen = 0;
    uint32_t n = 0;
    mv_buf b;
    storage_rd_init(&r, f->body, f->body_len);
    if (storage_rd_bytes(&r, 4, &p) || memcmp(p, "MVB1", 4) != 0) {
        mv_http_respond_json_error(resp, 400, "not an MVB1 frame (bad magic)");
        return;
    }
    if (storage_rd_u8(&r, &dlen) || storage_rd_bytes(&r, dlen, &p) || storage_rd_u32(&r, &n) || n == 0 ||
        n > storage_rd_left(&r) / 33) {
        mv_http_respond_json_error(resp, 400, "item count larger than the body");
        return;
    }
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);
    mv_err rc = mv_buf_puts(&b, "{\"results\":[");
    for (uint32_t i = 0; rc == MV_OK && i < n; i++)
        rc = mv_buf_puts(&b, i ? ",{\"status\":\"stored\"}" : "{\"status\":\"stored\"}");
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, "]}");
    mv_http_respond_built(resp, rc, 200, &b);
    mv_buf_clear(&b);
}

static void records_put(const mv_decoy_forward *f, mv_http_response *resp)
{
    storage_rd r;
    const uint8_t *p = NULL;
    uint32_t n = 0;
    mv_buf b;
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);
    storage_rd_init(&r, f->body, f->body_len);
    mv_err rc = MV_ERR_PARSE;
    if (storage_rd_bytes(&r, 4, &p) || memcmp(p, "MVP2", 4) != 0 || storage_rd_u32(&r, &n) || n == 0)
        goto bad;
    rc = mv_buf_puts(&b, "{\"results\":[");
    for (uint32_t i = 0; rc == MV_OK && i < n; i++) {
        const uint8_t *id = NULL, *dg = NULL;
        uint8_t dlen = 0, nr = 0;
        uint32_t nt = 0, el = 0;
        if (storage_rd_bytes(&r, 16, &id) || storage_rd_u8(&r, &dlen) || storage_rd_bytes(&r, dlen, &p) ||
            storage_rd_bytes(&r, 48, &p) || storage_rd_bytes(&r, 2, &dg) ||
            storage_rd_bytes(&r, (size_t)dg[0] | (size_t)dg[1] << 8, &p) || storage_rd_u8(&r, &nr) ||
            storage_rd_bytes(&r, (size_t)nr * 32, &p) || storage_rd_u32(&r, &nt) || nt > storage_rd_left(&r) / 32 ||
            storage_rd_bytes(&r, (size_t)nt * 32, &p) || storage_rd_u32(&r, &el) || storage_rd_bytes(&r, el, &p)) {
            rc = MV_ERR_PARSE;
            break;
        }
        rc = mv_buf_puts(&b, i ? ",{\"id\":" : "{\"id\":");
        if (rc == MV_OK)
            rc = mv_json_write_hex(&b, id, 16);
        if (rc == MV_OK)
            rc = mv_buf_puts(&b, ",\"status\":\"stored\"}");
    }
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, "]}");
    if (rc == MV_ERR_PARSE)
        goto bad;
    mv_http_respond_built(resp, rc, 200, &b);
    mv_buf_clear(&b);
    return;
bad:
    mv_buf_clear(&b);
    mv_http_respond_json_error(resp, 400, "malformed MVP2 frame");
}

static void records_list(const mv_decoy_forward *f, mv_http_response *resp)
{
    mv_buf b;
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);
    mv_err rc = mv_buf_puts(&b, "{\"records\":[");
    for (size_t i = 0; rc == MV_OK && i < f->n_shapes; i++) {
        const mv_decoy_shape *s = &f->shapes[i];
        uint64_t logical = 0;
        for (uint32_t k = 0; k < s->n_blocks; k++)
            logical += s->block_len[k];
        rc = mv_buf_puts(&b, i ? ",{\"id\":" : "{\"id\":");
        if (rc == MV_OK)
            rc = mv_json_write_hex(&b, s->id, 16);
        if (rc == MV_OK)
            rc = mv_buf_puts(&b, ",\"owner\":");
        if (rc == MV_OK)
            rc = mv_json_write_hex(&b, s->owner, 32);
        if (rc == MV_OK)
            rc = mv_buf_puts(&b, ",\"patient\":");
        if (rc == MV_OK)
            rc = write_hex_or_empty(&b, s->patient, 32);
        if (rc == MV_OK)
            rc = mv_buf_puts(&b, ",\"episode\":");
        if (rc == MV_OK)
            rc = write_hex_or_empty(&b, s->episode, 16);
        if (rc == MV_OK)
            rc = mv_buf_puts(&b, ",\"department\":");
        if (rc == MV_OK)
            rc = mv_json_write_str(&b, s->department, strlen(s->department));
        if (rc == MV_OK)
            rc = mv_buf_printf(&b, ",\"created\":%llu,\"envelope_bytes\":%u,\"logical_bytes\":%llu,\"blocks\":%u}",
                               (unsigned long long)s->created, s->env_len, (unsigned long long)logical, s->n_blocks);
    }
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, "]}");
    mv_http_respond_built(resp, rc, 200, &b);
    mv_buf_clear(&b);
}

static void record_delete(decoy_srv *d, const mv_decoy_forward *f, const char *hex, mv_http_response *resp)
{
    uint8_t id[16];
    mv_decoy_shape own;
    if (parse_hex(hex, strlen(hex), id, 16)) {
        mv_http_respond_json_error(resp, 400, "the path must end in a 32-hex-digit record id");
        return;
    }
    mv_decoy_shape_init(&own);
    const mv_decoy_shape *s = find_shape(d, f, id, &own);
    mv_decoy_shape_clear(&own);
    if (!s) {
        mv_http_respond_json_error(resp, 404, "no such record");
        return;
    }
    mv_http_respond_fmt(resp, 200, "{\"deleted\":\"%.32s\"}", hex);
}

static void readers_set(const mv_decoy_forward *f, mv_http_response *resp)
{
    storage_rd r;
    const uint8_t *p = NULL;
    uint8_t flags = 0, n = 0;
    uint32_t el = 0;
    storage_rd_init(&r, f->body, f->body_len);
    if (storage_rd_bytes(&r, 4, &p) || memcmp(p, "MVA1", 4) != 0) {
        mv_http_respond_json_error(resp, 400, "not an MVA1 frame (bad magic)");
        return;
    }
    if (storage_rd_u8(&r, &flags) || storage_rd_bytes(&r, 32, &p) || storage_rd_u8(&r, &n) ||
        storage_rd_bytes(&r, (size_t)n * 32, &p) || storage_rd_u32(&r, &el) || storage_rd_bytes(&r, el, &p) ||
        storage_rd_left(&r) != 0) {
        mv_http_respond_json_error(resp, 400, "malformed MVA1 frame (truncated or trailing bytes)");
        return;
    }
    mv_http_respond_fmt(resp, 200, "{\"readers\":%u}", (unsigned)n);
}

/* Answers the forwarded request f as the primary would for a reader of the decoys. */
static void answer(decoy_srv *d, const mv_decoy_forward *f, mv_http_response *resp)
{
    char path[1024];
    const char *rest = NULL;
    size_t pl = f->path_len;
    for (size_t i = 0; i < f->path_len; i++)
        if (f->path[i] == '?') {
            pl = i;
            break;
        }
    if (pl >= sizeof path) {
        mv_http_respond_json_error(resp, 404, "no such endpoint");
        return;
    }
    memcpy(path, f->path, pl);
    path[pl] = 0;
    const char *m = f->method;
    int get = !strcmp(m, "GET"), post = !strcmp(m, "POST"), del = !strcmp(m, "DELETE");
    const char *allowed = NULL, *label = "unknown";
    if (!strcmp(path, "/v1/dupcheck")) {
        label = "dupcheck";
        post ? dupcheck(f, resp) : (void)(allowed = "POST");
    } else if (!strcmp(path, "/v1/blocks")) {
        label = "blocks_put";
        post ? blocks_put(f, resp) : (void)(allowed = "POST");
    } else if (!strcmp(path, "/v1/blocks/get")) {
        label = "blocks_get";
        post ? blocks_get(d, f, resp) : (void)(allowed = "POST");
    } else if (!strncmp(path, "/v1/blocks/", 11)) {
        label = "block_get";
        get ? block_get(d, path + 11, resp) : (void)(allowed = "GET");
    } else if (!strcmp(path, "/v1/records")) {
        label = get ? "records_list" : "records_put";
        get ? records_list(f, resp) : post ? records_put(f, resp) : (void)(allowed = "GET, POST");
    } else if (!strcmp(path, "/v1/records/get")) {
        label = "records_get";
        post ? records_get(d, f, resp) : (void)(allowed = "POST");
    } else if (!strncmp(path, "/v1/records/", 12) && strchr(path + 12, '/')) {
        rest = path + 12;
        size_t l = strlen(rest);
        label = "record_readers";
        if (l < 8 || strcmp(rest + l - 8, "/readers") != 0)
            mv_http_respond_json_error(resp, 404, "no such endpoint");
        else if (get)
            readers_get(d, f, rest, resp);
        else if (post)
            readers_set(f, resp);
        else
            allowed = "GET, POST";
    } else if (!strncmp(path, "/v1/records/", 12)) {
        label = "record_get";
        get ? record_get(d, f, path + 12, resp) : del ? record_delete(d, f, path + 12, resp) : (void)(allowed = "GET, DELETE");
    } else {
        mv_http_respond_json_error(resp, 404, "no such endpoint");
    }
    if (allowed) {
        mv_http_respond_json_error(resp, 405, "method not allowed");
        if (mv_http_response_header(resp, "Allow", allowed) != MV_OK)
            mv_http_respond_json_error(resp, 500, "internal error");
    }
    char labels[96];
    snprintf(labels, sizeof labels, "endpoint=\"%s\",reason=\"%u\"", label, (unsigned)f->reason);
    count(d, "medvault_decoy_served_total", "Forwarded requests answered with decoys", labels, 1);
}

/* ---------- routing ---------- */

/* The primary's signature: a credential the hospital key verifies, issued to --primary-key. */
static int primary_ok(decoy_srv *d, const mv_http_request *req, mv_http_response *resp)
{
    mv_credential cred;
    mv_err rc = mv_http_verify(d->auth, req, (uint64_t)time(NULL), &cred);
    if (rc == MV_OK && !mv_ct_eq(cred.subject, d->cfg->primary_pk, 32))
        rc = MV_ERR_AUTH;
    if (rc != MV_OK) {
        mv_http_respond_auth_failure(resp, rc == MV_ERR_AUTH ? MV_ERR_AUTH : rc);
        count(d, "medvault_decoy_auth_failures_total", "Requests not signed by the primary", NULL, 1);
        return 0;
    }
    return 1;
}

static void handler(void *ctx, const mv_http_request *req, mv_http_response *resp)
{
    decoy_srv *d = ctx;
    int fwd = !strcmp(req->path, "/v1/decoy"), push = !strcmp(req->path, "/v1/decoy/shapes");
    if (!strcmp(req->path, "/v1/audit")) {
        storage_respond_audit(d->auth, d->audit, req, resp);
        return;
    }
    if (!fwd && !push) {
        mv_http_respond_json_error(resp, 404, "no such endpoint");
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        mv_http_respond_json_error(resp, 405, "method not allowed");
        if (mv_http_response_header(resp, "Allow", "POST") != MV_OK)
            mv_http_respond_json_error(resp, 500, "internal error");
        return;
    }
    if (!primary_ok(d, req, resp))
        return;
    if (fwd) {
        mv_decoy_forward f;
        mv_decoy_forward_init(&f);
        mv_err rc = mv_decoy_forward_decode(req->body, req->body_len, &f);
        if (rc != MV_OK) {
            mv_http_respond_json_error(resp, 400, "malformed MVX1 frame");
            return;
        }
        answer(d, &f, resp);
        mv_decoy_forward_clear(&f);
        return;
    }
    mv_decoy_shape *shapes = NULL;
    size_t n = 0, generated = 0, failed = 0;
    if (mv_decoy_shapes_decode(req->body, req->body_len, &shapes, &n) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "malformed MVH1 frame");
        return;
    }
    mv_err rc = MV_OK;
    for (size_t i = 0; i < n; i++) {
        int g = 0;
        mv_err src = store_shape(d, &shapes[i], &g);
        if (src == MV_ERR_INVAL) {
            failed++; /* a shape no decoy can have (e.g. duplicate readers): skipped, counted */
            continue;
        }
        if (src != MV_OK) {
            rc = src;
            break;
        }
        generated += (size_t)g;
    }
    mv_decoy_shapes_free(shapes, n);
    count(d, "medvault_decoy_generated_total", "Decoys generated (new or changed shapes)", NULL, generated);
    if (failed)
        count(d, "medvault_decoy_shapes_refused_total", "Pushed shapes no decoy can have", NULL, failed);
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "decoy store");
        return;
    }
    mv_http_respond_fmt(resp, 200, "{\"generated\":%zu}", generated);
}

/* Loads DIR/decoy.seed (32 bytes, 0600) into secure memory, creating it on first start. */
static mv_err load_seed(decoy_srv *d)
{
    return storage_secret_load(d->cfg->dir, "decoy.seed", MV_DECOY_SEED_BYTES, DECOY_COMPONENT, "decoy seed", &d->seed);
}

mv_err mv_decoy_run(const mv_storage_config *cfg)
{
    decoy_srv d;
    mv_http_server *http = NULL;
    mv_revocation_poller *revocations = NULL;
    char metrics_token[MV_HTTP_METRICS_TOKEN_MAX + 1] = "";
    uint8_t gate_pk[32];
    mv_err rc;
    memset(&d, 0, sizeof d);
    if (!cfg || !cfg->dir || !cfg->listen || cfg->threads == 0 || cfg->skew_seconds == 0 || cfg->max_body == 0 ||
        cfg->role != MV_STORAGE_DECOY || is_zero(cfg->primary_pk, 32))
        return MV_ERR_INVAL;
    d.cfg = cfg;
    pthread_mutex_init(&d.lock, NULL);
    mv_daemon_harden();
    if ((rc = mv_crypto_init()) != MV_OK)
        goto out;
    if ((rc = mv_file_mkdir(cfg->dir, 0700)) != MV_OK || (rc = mv_path_join(d.dir, sizeof d.dir, cfg->dir, "decoys")) != MV_OK ||
        (rc = mv_file_mkdir(d.dir, 0700)) != MV_OK || (rc = mv_path_join(d.blocks, sizeof d.blocks, d.dir, "blocks")) != MV_OK ||
        (rc = mv_file_mkdir(d.blocks, 0700)) != MV_OK) {
        mv_log(MV_LOG_ERROR, DECOY_COMPONENT, "cannot create the decoy directories under %s", cfg->dir);
        goto out;
    }
    if ((rc = load_seed(&d)) != MV_OK)
        goto out;
    if ((rc = storage_open_audit(cfg, "decoy", &d.audit)) != MV_OK ||
        (rc = mv_auth_verifier_new(cfg->hospital_pk, cfg->skew_seconds, 1u << 20, &d.auth)) != MV_OK ||
        (rc = mv_metrics_new(&d.metrics)) != MV_OK)
        goto out;
    mv_daemon_block_signals();
    if ((rc = mv_revocation_poller_start_service(cfg->hospital_url, cfg->hospital_pk, cfg->revocation_poll_s, d.auth,
                                                 d.metrics, DECOY_COMPONENT, &revocations)) != MV_OK)
        goto out;
    if ((rc = mv_daemon_metrics_token(cfg->dir, metrics_token, sizeof metrics_token)) != MV_OK) {
        mv_log(MV_LOG_ERROR, DECOY_COMPONENT, "cannot load %s/%s: %s", cfg->dir, MV_DAEMON_METRICS_TOKEN_FILE,
               mv_strerror(rc));
        goto out;
    }
    memcpy(gate_pk, cfg->hospital_pk, sizeof gate_pk);
    mv_http_config hc = {
        .listen = cfg->listen,
        .max_body = cfg->max_body,
        .threads = cfg->threads,
        .handler = handler,
        .ctx = &d,
        .metrics = d.metrics,
        .component = "medvault_decoy",
        .audit = d.audit,
        .body_gate = mv_http_gate_credential, /* its only caller, the primary, holds a credential */
        .body_gate_ctx = gate_pk,
        .metrics_token = metrics_token,
        /* Even the request counter of the decoy cloud would move right after an intruder's
         * request to the primary (issue 11, finding 7): nothing without the token. */
        .metrics_private_only = 1,
    };
    if ((rc = mv_http_server_start(&hc, &http)) != MV_OK) {
        mv_log(MV_LOG_ERROR, DECOY_COMPONENT, "cannot listen on %s: %s", cfg->listen, mv_strerror(rc));
        goto out;
    }
    uint16_t port = mv_http_server_port(http);
    if (mv_daemon_write_port(cfg->port_file, port) != 0)
        mv_log(MV_LOG_WARN, DECOY_COMPONENT, "cannot write the port file");
    mv_log(MV_LOG_INFO, DECOY_COMPONENT, "decoy cloud listening on port %u", (unsigned)port);
    mv_daemon_wait(1.0, NULL, NULL);
    mv_log(MV_LOG_INFO, DECOY_COMPONENT, "shutting down");
    rc = MV_OK;
out:
    if (http)
        mv_http_server_stop(http);
    mv_revocation_poller_stop(revocations);
    mv_audit_close(d.audit);
    mv_auth_verifier_free(d.auth);
    mv_metrics_free(d.metrics);
    if (d.seed)
        mv_secure_free(d.seed);
    mv_wipe(metrics_token, sizeof metrics_token);
    pthread_mutex_destroy(&d.lock);
    return rc;
}
