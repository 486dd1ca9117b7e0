/* frames.c - the storage wire frames (frames.h, docs/frames.md): every length and count is
 * checked against the bytes that remain and against the frame's caps before it is used, so a
 * hostile body can neither read past its end nor make a receiver allocate more than it sent. */
#include "net/frames.h"

#include <stdio.h>
#include <string.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"
#include "core/endian.h"

/* The writer's frames (mv_frame_writer.kind). */
enum { K_NONE, K_MVB1, K_MVG1, K_MVQ1, K_MVG1_ANSWER, K_MVQ1_ANSWER, K_MVP2, K_DUPCHECK };

/* Smallest MVB1 item: kind, token, tag, u32 length (a proof is larger, an upload has data). */
#define MVB1_MIN_ITEM (1 + 32 + 32 + 4)
/* Smallest MVP2 record: id, dlen, one dept byte, patient, episode, dglen, n_readers, n_tags,
 * one tag, env_len, one envelope byte (a keyset names no tag but its envelope is longer than a
 * tag). Only bounds the count against the body. */
#define MVP2_MIN_RECORD (16 + 1 + 1 + 32 + 16 + 2 + 1 + 4 + 32 + 4 + 1)
/* An answer item: status, u32 length. */
#define ANSWER_ITEM_HEAD 5

/* ---------- reading ---------- */

static int magic_ok(mv_rd *r, const char *magic)
{
    const uint8_t *p;
    return mv_rd_bytes(r, 4, &p) == 0 && memcmp(p, magic, 4) == 0;
}

/* A department name: 1..63 bytes and no NUL (credential departments never hold one, and a
 * receiver copies it into a C string). Characters are otherwise not judged here: a name is
 * only ever compared with the caller's credential. */
static int dept_ok(const uint8_t *p, size_t n)
{
    return n >= 1 && n <= MV_FRAME_DEPT_MAX && memchr(p, 0, n) == NULL;
}

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* The kind of env[0..len) if it has the public structure of an envelope (mv_record.h): MVE1
 * (1..64 distinct reader entries, room for the nonce and the GCM tag), MVE2 (a kid, 0..63
 * distinct extra entries, room for the nonce and the tag) or an MVK1 keyset (1..64 distinct
 * entries, exact length); 0 otherwise. That is all a server can check: it holds no key, so
 * it cannot tell a garbage body from a sealed one (decision 0008). */
static int envelope_kind(const uint8_t *env, size_t len)
{
    mv_envelope_kind k;
    return mv_envelope_kind_of(env, len, &k, NULL) == MV_OK ? (int)k : 0;
}

/* A record names blocks and carries a record envelope (MVE1, MVE2), or it is a keyset: no
 * block and an MVK1 envelope (decision 0010). */
static int envelope_fits(int kind, size_t n_tags)
{
    return kind != 0 && (kind == MV_ENVELOPE_MVK1) == (n_tags == 0);
}

static mv_err refuse(mv_frame_fault *f, const char *frame, const char *noun, size_t item, const char *what,
                     mv_err rc)
{
    if (f) {
        f->frame = frame;
        f->noun = noun;
        f->item = item;
        f->what = what;
    }
    return rc;
}

void mv_frame_fault_text(const mv_frame_fault *f, char *out, size_t cap)
{
    if (!out || cap == 0)
        return;
    if (!f || !f->frame || !f->what)
        snprintf(out, cap, "malformed frame");
    else if (f->item == MV_FRAME_NO_ITEM)
        snprintf(out, cap, "%s: %s", f->frame, f->what);
    else
        snprintf(out, cap, "%s: %s %zu: %s", f->frame, f->noun ? f->noun : "item", f->item, f->what);
}

void mv_frame_respond_fault(mv_http_response *resp, mv_err rc, const mv_frame_fault *f)
{
    char msg[192];
    if (rc == MV_ERR_NOMEM) {
        mv_http_respond_json_error(resp, 503, "out of memory");
        return;
    }
    mv_frame_fault_text(f, msg, sizeof msg);
    mv_http_respond_json_error(resp, rc == MV_ERR_TOO_LARGE ? 413 : 400, msg);
}

/* ---------- writing ---------- */

/* Shortens b to at bytes, wiping what goes (it may be ciphertext or an envelope). */
static void cut(mv_buf *b, size_t at)
{
    if (b->ptr && b->len > at) {
        mv_wipe(b->ptr + at, b->len - at);
        b->len = at;
        b->ptr[at] = 0;
    }
}

static void put(mv_frame_writer *w, const void *p, size_t n)
{
    if (w->rc == MV_OK && n)
        w->rc = mv_buf_append(w->out, p, n);
}

static void put_u8(mv_frame_writer *w, uint8_t v)
{
    put(w, &v, 1);
}

static void put_u32(mv_frame_writer *w, uint32_t v)
{
    uint8_t b[4];
    mv_le_put(b, v, 4);
    put(w, b, 4);
}

static void put_u64(mv_frame_writer *w, uint64_t v)
{
    uint8_t b[8];
    mv_le_put(b, v, 8);
    put(w, b, 8);
}

static void fail(mv_frame_writer *w, mv_err rc)
{
    if (w->rc == MV_OK)
        w->rc = rc;
}

static void begin(mv_frame_writer *w, mv_buf *out, uint8_t kind, const char *magic)
{
    memset(w, 0, sizeof *w);
    w->kind = kind;
    w->out = out;
    if (!out) {
        w->rc = MV_ERR_INVAL;
        return;
    }
    w->start = out->len;
    if (magic) {
        put(w, magic, 4);
        put_u32(w, 0); /* the count, patched by mv_frame_end */
    }
}

/* 1 if w may take an item of kind: no earlier error, the right frame, no open answer item,
 * and fewer than max items so far. */
static int may_add(mv_frame_writer *w, uint8_t kind, uint32_t max)
{
    if (w->rc != MV_OK)
        return 0;
    if (w->kind != kind || w->open) {
        w->rc = MV_ERR_INVAL;
        return 0;
    }
    if (w->count >= max) {
        w->rc = MV_ERR_TOO_LARGE;
        return 0;
    }
    return 1;
}

mv_err mv_frame_end(mv_frame_writer *w)
{
    if (!w)
        return MV_ERR_INVAL;
    if (!w->out)
        return w->rc != MV_OK ? w->rc : MV_ERR_INVAL;
    uint32_t min = 1;
    size_t count_at = w->start + 4;
    switch (w->kind) {
    case K_MVB1: count_at = w->start + 5 + (w->out->len > w->start + 4 ? w->out->ptr[w->start + 4] : 0); break;
    case K_MVG1: case K_MVQ1: case K_MVP2: break;
    case K_MVG1_ANSWER: case K_MVQ1_ANSWER: min = 0; break;
    case K_DUPCHECK: min = 0; count_at = 0; break;
    default: fail(w, MV_ERR_INVAL); break;
    }
    if (w->open || w->count < min)
        fail(w, MV_ERR_INVAL);
    if (w->kind == K_DUPCHECK)
        put(w, "]}", 2);
    else if (w->rc == MV_OK)
        mv_le_put(w->out->ptr + count_at, w->count, 4);
    if (w->rc != MV_OK)
        cut(w->out, w->start);
    w->open = 0;
    return w->rc;
}

/* ---------- MVB1 ---------- */

#define MVB1 "MVB1 frame"

/* Reads one MVB1 item. MV_OK, or the error with *what. */
/* ---- item lists (MVB1, MVP2): n items checked once at decode, then iterated as views ---- */

/* Parses one item of a kind at r into out (a mv_frame_block or mv_frame_record). */
typedef mv_err (*item_fn)(mv_rd *r, void *out, const char **what);

/* Checks the n items of frame (each `noun` i) that start at r and must end the input exactly
 * (else the refusal says `trailing`); on success items and items_len delimit them for the
 * iterator. */
static mv_err items_check(mv_rd *r, uint32_t n, const char *frame, const char *noun, const char *trailing,
                          item_fn parse, void *scratch, mv_frame_fault *fault, const uint8_t **items,
                          size_t *items_len)
{
    const uint8_t *start = r->p;
    for (uint32_t i = 0; i < n; i++) {
        const char *what = NULL;
        mv_err rc = parse(r, scratch, &what);
        if (rc != MV_OK)
            return refuse(fault, frame, noun, i, what, rc);
    }
    if (r->left)
        return refuse(fault, frame, NULL, MV_FRAME_NO_ITEM, trailing, MV_ERR_PARSE);
    *items = start;
    *items_len = (size_t)(r->p - start);
    return MV_OK;
}

static void items_iter(mv_frame_iter *it, const uint8_t *items, size_t len, uint32_t count, int kind)
{
    it->p = items;
    it->left = len;
    it->remaining = count;
    it->kind = kind;
}

static int items_next(mv_frame_iter *it, int kind, item_fn parse, void *out)
{
    mv_rd r = {it->p, it->left};
    const char *what = NULL;
    if (it->kind != kind || it->remaining == 0 || parse(&r, out, &what) != MV_OK)
        return 0;
    it->p = r.p;
    it->left = r.left;
    it->remaining--;
    return 1;
}

static mv_err block_item(mv_rd *r, mv_frame_block *b, const char **what)
{
    uint32_t len = 0;
    memset(b, 0, sizeof *b);
    *what = "truncated";
    if (mv_rd_u8(r, &b->kind) || mv_rd_bytes(r, 32, &b->token) || mv_rd_bytes(r, 32, &b->tag))
        return MV_ERR_PARSE;
    if (b->kind == MV_FRAME_UPLOAD) {
        if (mv_rd_u32(r, &len))
            return MV_ERR_PARSE;
        if (len > MV_FRAME_MAX_BLOCK) {
            *what = "block larger than 8 MiB";
            return MV_ERR_TOO_LARGE;
        }
        if (len == 0) {
            *what = "empty block";
            return MV_ERR_PARSE;
        }
        b->len = len;
        return mv_rd_bytes(r, len, &b->data) ? MV_ERR_PARSE : MV_OK;
    }
    if (b->kind == MV_FRAME_PROOF)
        return mv_rd_u64(r, &b->issued) || mv_rd_bytes(r, MV_FRAME_NONCE_BYTES, &b->nonce) || mv_rd_bytes(r, 32, &b->response)
                   ? MV_ERR_PARSE
                   : MV_OK;
    *what = "unknown kind";
    return MV_ERR_PARSE;
}

static mv_err block_item_any(mv_rd *r, void *out, const char **what)
{
    return block_item(r, out, what);
}

mv_err mv_frame_blocks_decode(const uint8_t *p, size_t len, mv_frame_blocks *out, mv_frame_fault *fault)
{
    mv_rd r = {p, len};
    const uint8_t *d = NULL;
    uint8_t dl = 0;
    uint32_t n = 0;
    if (!out || (!p && len))
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (!magic_ok(&r, "MVB1"))
        return refuse(fault, MVB1, NULL, MV_FRAME_NO_ITEM, "bad magic", MV_ERR_PARSE);
    if (mv_rd_u8(&r, &dl) || mv_rd_bytes(&r, dl, &d) || !dept_ok(d, dl))
        return refuse(fault, MVB1, NULL, MV_FRAME_NO_ITEM, "malformed department (1 to 63 bytes, no NUL)",
                      MV_ERR_PARSE);
    if (mv_rd_u32(&r, &n))
        return refuse(fault, MVB1, NULL, MV_FRAME_NO_ITEM, "truncated before the item count", MV_ERR_PARSE);
    if (n == 0)
        return refuse(fault, MVB1, NULL, MV_FRAME_NO_ITEM, "no items", MV_ERR_PARSE);
    if (n > r.left / MVB1_MIN_ITEM)
        return refuse(fault, MVB1, NULL, MV_FRAME_NO_ITEM, "item count larger than the body", MV_ERR_PARSE);
    mv_frame_block scratch;
    mv_err rc = items_check(&r, n, MVB1, "item", "trailing bytes after the last item", block_item_any, &scratch, fault, &out->items, &out->items_len);
    if (rc != MV_OK) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->dept = (const char *)d;
    out->dept_len = dl;
    out->count = n;
    return MV_OK;
}

void mv_frame_blocks_iter(const mv_frame_blocks *f, mv_frame_iter *it)
{
    items_iter(it, f->items, f->items_len, f->count, K_MVB1);
}

int mv_frame_blocks_next(mv_frame_iter *it, mv_frame_block *out)
{
    return items_next(it, K_MVB1, block_item_any, out);
}

void mv_frame_blocks_begin(mv_frame_writer *w, mv_buf *out, const char *dept)
{
    size_t dl = dept ? strlen(dept) : 0;
    begin(w, out, K_MVB1, NULL);
    if (!dept || !dept_ok((const uint8_t *)dept, dl)) {
        fail(w, MV_ERR_INVAL);
        return;
    }
    put(w, "MVB1", 4);
    put_u8(w, (uint8_t)dl);
    put(w, dept, dl);
    put_u32(w, 0);
}

void mv_frame_blocks_add(mv_frame_writer *w, const mv_frame_block *b)
{
    if (!may_add(w, K_MVB1, UINT32_MAX))
        return;
    if (!b || !b->token || !b->tag) {
        fail(w, MV_ERR_INVAL);
        return;
    }
    if (b->kind == MV_FRAME_UPLOAD) {
        if (b->len > MV_FRAME_MAX_BLOCK) {
            fail(w, MV_ERR_TOO_LARGE);
            return;
        }
        if (b->len == 0 || !b->data) {
            fail(w, MV_ERR_INVAL);
            return;
        }
    } else if (b->kind != MV_FRAME_PROOF || !b->nonce || !b->response) {
        fail(w, MV_ERR_INVAL);
        return;
    }
    put_u8(w, b->kind);
    put(w, b->token, 32);
    put(w, b->tag, 32);
    if (b->kind == MV_FRAME_UPLOAD) {
        put_u32(w, (uint32_t)b->len);
        put(w, b->data, b->len);
    } else {
        put_u64(w, b->issued);
        put(w, b->nonce, MV_FRAME_NONCE_BYTES);
        put(w, b->response, 32);
    }
    if (w->rc == MV_OK)
        w->count++;
}

/* ---------- MVG1 / MVQ1 requests ---------- */

static mv_err ids_decode(const uint8_t *p, size_t len, const char *magic, const char *frame, size_t size,
                         mv_frame_ids *out, mv_frame_fault *fault)
{
    mv_rd r = {p, len};
    uint32_t n = 0;
    if (!out || (!p && len))
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (!magic_ok(&r, magic))
        return refuse(fault, frame, NULL, MV_FRAME_NO_ITEM, "bad magic", MV_ERR_PARSE);
    if (mv_rd_u32(&r, &n) || n == 0 || n > MV_FRAME_MAX_GET)
        return refuse(fault, frame, NULL, MV_FRAME_NO_ITEM, "the count must be 1 to 4096", MV_ERR_PARSE);
    if (r.left != (size_t)n * size)
        return refuse(fault, frame, NULL, MV_FRAME_NO_ITEM, "the count does not match the body", MV_ERR_PARSE);
    out->v = r.p;
    out->count = n;
    return MV_OK;
}

mv_err mv_frame_blocks_get_decode(const uint8_t *p, size_t len, mv_frame_ids *out, mv_frame_fault *fault)
{
    return ids_decode(p, len, "MVG1", "MVG1 frame", MV_FRAME_TAG_BYTES, out, fault);
}

mv_err mv_frame_records_get_decode(const uint8_t *p, size_t len, mv_frame_ids *out, mv_frame_fault *fault)
{
    return ids_decode(p, len, "MVQ1", "MVQ1 frame", MV_FRAME_ID_BYTES, out, fault);
}

void mv_frame_blocks_get_begin(mv_frame_writer *w, mv_buf *out)
{
    begin(w, out, K_MVG1, "MVG1");
}

void mv_frame_blocks_get_add(mv_frame_writer *w, const uint8_t tag[32])
{
    if (!may_add(w, K_MVG1, MV_FRAME_MAX_GET))
        return;
    if (!tag) {
        fail(w, MV_ERR_INVAL);
        return;
    }
    put(w, tag, MV_FRAME_TAG_BYTES);
    if (w->rc == MV_OK)
        w->count++;
}

void mv_frame_records_get_begin(mv_frame_writer *w, mv_buf *out)
{
    begin(w, out, K_MVQ1, "MVQ1");
}

void mv_frame_records_get_add(mv_frame_writer *w, const uint8_t id[16])
{
    if (!may_add(w, K_MVQ1, MV_FRAME_MAX_GET))
        return;
    if (!id) {
        fail(w, MV_ERR_INVAL);
        return;
    }
    put(w, id, MV_FRAME_ID_BYTES);
    if (w->rc == MV_OK)
        w->count++;
}

/* ---------- MVG1 / MVQ1 answers ---------- */

/* 1 if status carries data in an answer of kind (found / ok), 0 if it carries none, -1 if it
 * is not a status of that answer. */
static int status_has_data(uint8_t kind, uint8_t status)
{
    if (kind == K_MVG1_ANSWER)
        return status == MV_FRAME_BLOCK_FOUND ? 1 : status == MV_FRAME_BLOCK_ABSENT ? 0 : -1;
    return status == MV_FRAME_RECORD_OK                                                    ? 1
           : status == MV_FRAME_RECORD_NOT_FOUND || status == MV_FRAME_RECORD_FORBIDDEN ? 0
                                                                                          : -1;
}

static size_t answer_cap(uint8_t kind)
{
    return kind == K_MVG1_ANSWER ? MV_FRAME_MAX_BLOCK : MV_FRAME_MAX_ENVELOPE;
}

static mv_err answer_item(mv_rd *r, uint8_t kind, uint8_t *status, const uint8_t **data, size_t *len,
                          const char **what)
{
    uint32_t l = 0;
    *data = NULL;
    *len = 0;
    *what = "truncated";
    if (mv_rd_u8(r, status) || mv_rd_u32(r, &l))
        return MV_ERR_PARSE;
    int has = status_has_data(kind, *status);
    if (has < 0) {
        *what = "unknown status";
        return MV_ERR_PARSE;
    }
    if (!has && l) {
        *what = "bytes on an item without data";
        return MV_ERR_PARSE;
    }
    if (l > answer_cap(kind)) {
        *what = kind == K_MVG1_ANSWER ? "block larger than 8 MiB" : "envelope larger than 1 MiB";
        return MV_ERR_TOO_LARGE;
    }
    if (mv_rd_bytes(r, l, data))
        return MV_ERR_PARSE;
    *len = l;
    if (l == 0)
        *data = NULL;
    return MV_OK;
}

static mv_err answer_decode(const uint8_t *p, size_t len, uint32_t expect, uint8_t kind, mv_frame_answer *out,
                            mv_frame_fault *fault)
{
    const char *magic = kind == K_MVG1_ANSWER ? "MVG1" : "MVQ1";
    const char *frame = kind == K_MVG1_ANSWER ? "MVG1 answer" : "MVQ1 answer";
    const char *noun = kind == K_MVG1_ANSWER ? "tag" : "id";
    mv_rd r = {p, len};
    uint32_t n = 0;
    if (!out || (!p && len))
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (!magic_ok(&r, magic))
        return refuse(fault, frame, NULL, MV_FRAME_NO_ITEM, "bad magic", MV_ERR_PARSE);
    if (mv_rd_u32(&r, &n) || n != expect)
        return refuse(fault, frame, NULL, MV_FRAME_NO_ITEM, "not one item per item asked", MV_ERR_PARSE);
    if (n > r.left / ANSWER_ITEM_HEAD)
        return refuse(fault, frame, NULL, MV_FRAME_NO_ITEM, "item count larger than the body", MV_ERR_PARSE);
    const uint8_t *items = r.p;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t st = 0;
        const uint8_t *d = NULL;
        size_t l = 0;
        const char *what = NULL;
        mv_err rc = answer_item(&r, kind, &st, &d, &l, &what);
        if (rc != MV_OK)
            return refuse(fault, frame, noun, i, what, rc);
    }
    if (r.left)
        return refuse(fault, frame, NULL, MV_FRAME_NO_ITEM, "trailing bytes after the last item", MV_ERR_PARSE);
    out->count = n;
    out->items = items;
    out->items_len = (size_t)(r.p - items);
    out->kind = kind;
    return MV_OK;
}

mv_err mv_frame_blocks_answer_decode(const uint8_t *p, size_t len, uint32_t expect, mv_frame_answer *out,
                                     mv_frame_fault *fault)
{
    return answer_decode(p, len, expect, K_MVG1_ANSWER, out, fault);
}

mv_err mv_frame_records_answer_decode(const uint8_t *p, size_t len, uint32_t expect, mv_frame_answer *out,
                                      mv_frame_fault *fault)
{
    return answer_decode(p, len, expect, K_MVQ1_ANSWER, out, fault);
}

void mv_frame_answer_iter(const mv_frame_answer *a, mv_frame_iter *it)
{
    it->p = a->items;
    it->left = a->items_len;
    it->remaining = a->count;
    it->kind = a->kind;
}

int mv_frame_answer_next(mv_frame_iter *it, uint8_t *status, const uint8_t **data, size_t *len)
{
    mv_rd r = {it->p, it->left};
    const char *what = NULL;
    if ((it->kind != K_MVG1_ANSWER && it->kind != K_MVQ1_ANSWER) || it->remaining == 0 ||
        answer_item(&r, it->kind, status, data, len, &what) != MV_OK)
        return 0;
    it->p = r.p;
    it->left = r.left;
    it->remaining--;
    return 1;
}

void mv_frame_blocks_answer_begin(mv_frame_writer *w, mv_buf *out)
{
    begin(w, out, K_MVG1_ANSWER, "MVG1");
}

void mv_frame_records_answer_begin(mv_frame_writer *w, mv_buf *out)
{
    begin(w, out, K_MVQ1_ANSWER, "MVQ1");
}

void mv_frame_answer_open(mv_frame_writer *w)
{
    static const uint8_t head[ANSWER_ITEM_HEAD] = {0, 0, 0, 0, 0};
    if (w->rc != MV_OK)
        return;
    if (w->kind != K_MVG1_ANSWER && w->kind != K_MVQ1_ANSWER) {
        fail(w, MV_ERR_INVAL);
        return;
    }
    if (!may_add(w, w->kind, MV_FRAME_MAX_GET))
        return;
    w->item_at = w->out->len;
    put(w, head, sizeof head);
    w->open = w->rc == MV_OK;
}

void mv_frame_answer_close(mv_frame_writer *w, uint8_t status)
{
    if (w->rc != MV_OK)
        return;
    if (!w->open) {
        fail(w, MV_ERR_INVAL);
        return;
    }
    int has = status_has_data(w->kind, status);
    size_t data_at = w->item_at + ANSWER_ITEM_HEAD, n = w->out->len - data_at;
    if (has < 0) {
        fail(w, MV_ERR_INVAL);
        return;
    }
    if (!has) {
        cut(w->out, data_at);
        n = 0;
    } else if (n > answer_cap(w->kind)) {
        fail(w, MV_ERR_TOO_LARGE);
        return;
    }
    w->out->ptr[w->item_at] = status;
    mv_le_put(w->out->ptr + w->item_at + 1, (uint32_t)n, 4);
    w->open = 0;
    w->count++;
}

void mv_frame_answer_fail(mv_frame_writer *w, mv_err rc)
{
    fail(w, rc == MV_OK ? MV_ERR_INVAL : rc);
}

/* ---------- MVP2 ---------- */

#define MVP2 "MVP2 frame"

static mv_err record_item(mv_rd *r, mv_frame_record *rec, const char **what)
{
    const uint8_t *d = NULL;
    uint8_t dl = 0, nr = 0;
    uint16_t dg = 0;
    uint32_t nt = 0, el = 0;
    memset(rec, 0, sizeof *rec);
    *what = "truncated";
    if (mv_rd_bytes(r, 16, &rec->id) || mv_rd_u8(r, &dl) || mv_rd_bytes(r, dl, &d))
        return MV_ERR_PARSE;
    if (!dept_ok(d, dl)) {
        *what = "malformed department (1 to 63 bytes, no NUL)";
        return MV_ERR_PARSE;
    }
    if (mv_rd_bytes(r, 32, &rec->patient) || mv_rd_bytes(r, 16, &rec->episode) || mv_rd_u16(r, &dg) ||
        mv_rd_bytes(r, dg, &rec->delegation) || mv_rd_u8(r, &nr) || mv_rd_bytes(r, (size_t)nr * 32, &rec->readers) ||
        mv_rd_u32(r, &nt))
        return MV_ERR_PARSE;
    if (nt > r->left / 32 || mv_rd_bytes(r, (size_t)nt * 32, &rec->tags) || mv_rd_u32(r, &el))
        return MV_ERR_PARSE;
    if (el > MV_FRAME_MAX_ENVELOPE) {
        *what = "envelope larger than 1 MiB";
        return MV_ERR_TOO_LARGE;
    }
    if (mv_rd_bytes(r, el, &rec->envelope))
        return MV_ERR_PARSE;
    int kind = envelope_kind(rec->envelope, el);
    if (!kind) {
        *what = "the envelope is not a sealed MVE1/MVE2 envelope or MVK1 keyset (its framing does not parse)";
        return MV_ERR_PARSE;
    }
    if (!envelope_fits(kind, nt)) {
        /* A record naming no block costs its writer nothing: only a keyset, which serves
         * other records, may (an empty resource or file still has one block). */
        *what = nt ? "a keyset (MVK1 envelope) names no tags"
                   : "no tags (a record names at least one block), and the envelope is not an MVK1 keyset";
        return MV_ERR_PARSE;
    }
    rec->dept = (const char *)d;
    rec->dept_len = dl;
    rec->delegation_len = dg;
    rec->n_readers = nr;
    rec->n_tags = nt;
    rec->envelope_len = el;
    if (!dg)
        rec->delegation = NULL;
    if (!nr)
        rec->readers = NULL;
    return MV_OK;
}

static mv_err record_item_any(mv_rd *r, void *out, const char **what)
{
    return record_item(r, out, what);
}

mv_err mv_frame_records_decode(const uint8_t *p, size_t len, mv_frame_records *out, mv_frame_fault *fault)
{
    mv_rd r = {p, len};
    uint32_t n = 0;
    if (!out || (!p && len))
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (!magic_ok(&r, "MVP2"))
        return refuse(fault, MVP2, NULL, MV_FRAME_NO_ITEM, "bad magic", MV_ERR_PARSE);
    if (mv_rd_u32(&r, &n))
        return refuse(fault, MVP2, NULL, MV_FRAME_NO_ITEM, "truncated before the record count", MV_ERR_PARSE);
    if (n == 0)
        return refuse(fault, MVP2, NULL, MV_FRAME_NO_ITEM, "no records", MV_ERR_PARSE);
    if (n > MV_FRAME_MAX_RECORDS)
        return refuse(fault, MVP2, NULL, MV_FRAME_NO_ITEM, "more than 4096 records", MV_ERR_PARSE);
    if (n > r.left / MVP2_MIN_RECORD)
        return refuse(fault, MVP2, NULL, MV_FRAME_NO_ITEM, "record count larger than the body", MV_ERR_PARSE);
    mv_frame_record scratch;
    mv_err rc = items_check(&r, n, MVP2, "record", "trailing bytes after the last record", record_item_any, &scratch, fault, &out->items, &out->items_len);
    if (rc != MV_OK) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->count = n;
    return MV_OK;
}

void mv_frame_records_iter(const mv_frame_records *f, mv_frame_iter *it)
{
    items_iter(it, f->items, f->items_len, f->count, K_MVP2);
}

int mv_frame_records_next(mv_frame_iter *it, mv_frame_record *out)
{
    return items_next(it, K_MVP2, record_item_any, out);
}

void mv_frame_records_begin(mv_frame_writer *w, mv_buf *out)
{
    begin(w, out, K_MVP2, "MVP2");
}

void mv_frame_records_add(mv_frame_writer *w, const mv_frame_record *r)
{
    static const uint8_t zero[32] = {0};
    if (!may_add(w, K_MVP2, MV_FRAME_MAX_RECORDS))
        return;
    if (!r || !r->id || !r->dept || !dept_ok((const uint8_t *)r->dept, r->dept_len) ||
        (r->n_tags && !r->tags) || r->n_tags > UINT32_MAX / 32 || r->n_readers > UINT8_MAX || (r->n_readers && !r->readers) ||
        r->delegation_len > UINT16_MAX || (r->delegation_len && !r->delegation) || !r->envelope) {
        fail(w, MV_ERR_INVAL);
        return;
    }
    if (r->envelope_len > MV_FRAME_MAX_ENVELOPE) {
        fail(w, MV_ERR_TOO_LARGE);
        return;
    }
    if (!envelope_fits(envelope_kind(r->envelope, r->envelope_len), r->n_tags)) {
        fail(w, MV_ERR_INVAL);
        return;
    }
    uint8_t dg[2] = {(uint8_t)r->delegation_len, (uint8_t)(r->delegation_len >> 8)};
    put(w, r->id, 16);
    put_u8(w, (uint8_t)r->dept_len);
    put(w, r->dept, r->dept_len);
    put(w, r->patient ? r->patient : zero, 32);
    put(w, r->episode ? r->episode : zero, 16);
    put(w, dg, 2);
    put(w, r->delegation, r->delegation_len);
    put_u8(w, (uint8_t)r->n_readers);
    put(w, r->readers, r->n_readers * 32);
    put_u32(w, (uint32_t)r->n_tags);
    put(w, r->tags, r->n_tags * 32);
    put_u32(w, (uint32_t)r->envelope_len);
    put(w, r->envelope, r->envelope_len);
    if (w->rc == MV_OK)
        w->count++;
}

/* ---------- MVA1 ---------- */

#define MVA1 "MVA1 frame"

mv_err mv_frame_access_decode(const uint8_t *p, size_t len, mv_frame_access *out, mv_frame_fault *fault)
{
    mv_rd r = {p, len};
    uint8_t n = 0;
    uint32_t el = 0;
    if (!out || (!p && len))
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (!magic_ok(&r, "MVA1"))
        return refuse(fault, MVA1, NULL, MV_FRAME_NO_ITEM, "bad magic", MV_ERR_PARSE);
    if (mv_rd_u8(&r, &out->flags) || mv_rd_bytes(&r, 32, &out->patient) || mv_rd_u8(&r, &n))
        goto truncated;
    if (n > MV_FRAME_MAX_ACL) {
        memset(out, 0, sizeof *out);
        return refuse(fault, MVA1, NULL, MV_FRAME_NO_ITEM, "too many readers (at most 64)", MV_ERR_PARSE);
    }
    if (mv_rd_bytes(&r, (size_t)n * 32, &out->readers) || mv_rd_u32(&r, &el))
        goto truncated;
    if (el > MV_FRAME_MAX_ENVELOPE) {
        memset(out, 0, sizeof *out);
        return refuse(fault, MVA1, NULL, MV_FRAME_NO_ITEM, "envelope larger than 1 MiB", MV_ERR_TOO_LARGE);
    }
    if (mv_rd_bytes(&r, el, &out->envelope))
        goto truncated;
    if (r.left) {
        memset(out, 0, sizeof *out);
        return refuse(fault, MVA1, NULL, MV_FRAME_NO_ITEM, "trailing bytes", MV_ERR_PARSE);
    }
    int set = out->flags & MV_FRAME_ACCESS_SET_PATIENT;
    if ((out->flags & ~MV_FRAME_ACCESS_SET_PATIENT) || set == all_zero(out->patient, 32)) {
        memset(out, 0, sizeof *out);
        return refuse(fault, MVA1, NULL, MV_FRAME_NO_ITEM,
                      "unknown flags, or a patient field that disagrees with them", MV_ERR_PARSE);
    }
    if (el && !envelope_kind(out->envelope, el)) {
        memset(out, 0, sizeof *out);
        return refuse(fault, MVA1, NULL, MV_FRAME_NO_ITEM,
                      "the envelope is not a sealed MVE1/MVE2 envelope or MVK1 keyset (its framing does not parse)",
                      MV_ERR_PARSE);
    }
    out->n_readers = n;
    out->envelope_len = el;
    if (!n)
        out->readers = NULL;
    if (!el)
        out->envelope = NULL;
    return MV_OK;
truncated:
    memset(out, 0, sizeof *out);
    return refuse(fault, MVA1, NULL, MV_FRAME_NO_ITEM, "truncated", MV_ERR_PARSE);
}

mv_err mv_frame_access_encode(const mv_frame_access *a, mv_buf *out)
{
    static const uint8_t zero[32] = {0};
    mv_frame_writer w;
    if (!a || !out)
        return MV_ERR_INVAL;
    const uint8_t *pat = a->patient ? a->patient : zero;
    int set = a->flags & MV_FRAME_ACCESS_SET_PATIENT;
    if ((a->flags & ~MV_FRAME_ACCESS_SET_PATIENT) || set == all_zero(pat, 32) || a->n_readers > MV_FRAME_MAX_ACL ||
        (a->n_readers && !a->readers) || (a->envelope_len && !a->envelope))
        return MV_ERR_INVAL;
    if (a->envelope_len > MV_FRAME_MAX_ENVELOPE)
        return MV_ERR_TOO_LARGE;
    if (a->envelope_len && !envelope_kind(a->envelope, a->envelope_len))
        return MV_ERR_INVAL;
    /* Not a counted frame: the writer only supplies the sticky error and the roll-back. */
    begin(&w, out, K_NONE, NULL);
    put(&w, "MVA1", 4);
    put_u8(&w, a->flags);
    put(&w, pat, 32);
    put_u8(&w, (uint8_t)a->n_readers);
    put(&w, a->readers, a->n_readers * 32);
    put_u32(&w, (uint32_t)a->envelope_len);
    put(&w, a->envelope, a->envelope_len);
    if (w.rc != MV_OK)
        cut(out, w.start);
    return w.rc;
}

/* ---------- POST /v1/dupcheck ---------- */

#define DUPCHECK "dupcheck body"

mv_err mv_frame_dupcheck_decode(const uint8_t *p, size_t len, mv_frame_dupcheck *out, mv_frame_fault *fault)
{
    mv_json *root = NULL;
    mv_err rc = MV_ERR_PARSE;
    size_t dl = 0;
    if (!out || (!p && len))
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    mv_err jrc = mv_json_parse(p ? (const char *)p : "", len, NULL, &root, NULL);
    if (jrc == MV_ERR_NOMEM) {
        rc = jrc;
        goto out;
    }
    if (jrc != MV_OK || mv_json_type_of(root) != MV_JSON_OBJECT) {
        refuse(fault, DUPCHECK, NULL, MV_FRAME_NO_ITEM, "not a JSON object", rc);
        goto out;
    }
    const char *d = mv_json_get_str(root, "department", &dl);
    if (!d || !dept_ok((const uint8_t *)d, dl)) {
        refuse(fault, DUPCHECK, NULL, MV_FRAME_NO_ITEM, "\"department\" must be a department name", rc);
        goto out;
    }
    const mv_json *arr = mv_json_get(root, "tokens");
    size_t n = mv_json_len(arr);
    if (mv_json_type_of(arr) != MV_JSON_ARRAY) {
        refuse(fault, DUPCHECK, NULL, MV_FRAME_NO_ITEM, "\"tokens\" must be an array of 64-hex-digit tokens", rc);
        goto out;
    }
    if (n > MV_FRAME_MAX_TOKENS) {
        refuse(fault, DUPCHECK, NULL, MV_FRAME_NO_ITEM, "too many tokens (at most 100000 per request)", rc);
        goto out;
    }
    if (n && !(out->tokens = mv_mallocarray(n, 32))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t sl = 0;
        const char *t = mv_json_str(mv_json_at(arr, i), &sl);
        if (!t || mv_hex_decode_exact(out->tokens + 32 * i, 32, t, sl) != MV_OK) {
            refuse(fault, DUPCHECK, "token", i, "not 32 bytes of hex", rc);
            goto out;
        }
    }
    memcpy(out->dept, d, dl);
    out->dept[dl] = 0;
    out->n_tokens = n;
    rc = MV_OK;
out:
    mv_json_free(root);
    if (rc != MV_OK)
        mv_frame_dupcheck_clear(out);
    return rc;
}

void mv_frame_dupcheck_clear(mv_frame_dupcheck *d)
{
    if (!d)
        return;
    if (d->tokens) {
        mv_wipe(d->tokens, 32 * d->n_tokens);
        mv_free(d->tokens);
    }
    memset(d, 0, sizeof *d);
}

void mv_frame_dupcheck_begin(mv_frame_writer *w, mv_buf *out, const char *dept)
{
    size_t dl = dept ? strlen(dept) : 0;
    begin(w, out, K_DUPCHECK, NULL);
    if (!dept || !dept_ok((const uint8_t *)dept, dl)) {
        fail(w, MV_ERR_INVAL);
        return;
    }
    put(w, "{\"department\":", 14);
    if (w->rc == MV_OK)
        w->rc = mv_json_write_str(w->out, dept, dl);
    put(w, ",\"tokens\":[", 11);
}

void mv_frame_dupcheck_add(mv_frame_writer *w, const uint8_t token[32])
{
    if (!may_add(w, K_DUPCHECK, MV_FRAME_MAX_TOKENS))
        return;
    if (!token) {
        fail(w, MV_ERR_INVAL);
        return;
    }
    if (w->count)
        put(w, ",", 1);
    if (w->rc == MV_OK)
        w->rc = mv_json_write_hex(w->out, token, 32);
    if (w->rc == MV_OK)
        w->count++;
}
