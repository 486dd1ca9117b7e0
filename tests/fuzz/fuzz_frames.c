/* fuzz_frames.c - fuzz target for the storage wire frames (src/net/frames.h): every input is
 * fed to every decoder (MVB1, MVG1 and MVQ1 requests and answers, MVP2, MVA1, the dupcheck
 * body).
 *
 * Properties (abort on violation): decoding never crashes, leaks or over-reads; a refusal is
 * MV_ERR_PARSE or MV_ERR_TOO_LARGE with a fault that names the frame, and leaves the output
 * empty; the binary decoders allocate nothing at all (every allocation is made to fail while
 * they run); whatever decodes satisfies the documented caps, its iterator yields exactly
 * count items that lie inside the input, and the writers re-encode it to exactly the input
 * bytes (the binary formats have no slack); a decoded dupcheck body re-encodes to a body that
 * decodes to the same department and tokens. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_mem.h"
#include "net/frames.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *g_data;
static size_t g_size;

/* 1 if p[0..n) lies inside the input. */
static int inside(const uint8_t *p, size_t n)
{
    if (n == 0)
        return 1;
    return p && p >= g_data && n <= g_size && (size_t)(p - g_data) <= g_size - n;
}

static void check_refusal(mv_err rc, const mv_frame_fault *f)
{
    CHECK(rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE);
    CHECK(f->frame != NULL && f->what != NULL);
}

static void same_as_input(const mv_buf *b)
{
    CHECK(b->len == g_size && (g_size == 0 || memcmp(b->ptr, g_data, g_size) == 0));
}

static void fuzz_blocks(mv_buf *enc)
{
    mv_frame_blocks fb;
    mv_frame_fault f;
    mv_frame_iter it;
    mv_frame_block b;
    mv_frame_writer w;
    char dept[MV_FRAME_DEPT_MAX + 1];
    mv_mem_fail_after(0);
    mv_err rc = mv_frame_blocks_decode(g_data, g_size, &fb, &f);
    mv_mem_fail_after(SIZE_MAX);
    if (rc != MV_OK) {
        check_refusal(rc, &f);
        CHECK(fb.count == 0 && fb.items == NULL && fb.dept == NULL);
        return;
    }
    CHECK(fb.count >= 1 && fb.dept_len >= 1 && fb.dept_len <= MV_FRAME_DEPT_MAX);
    CHECK(memchr(fb.dept, 0, fb.dept_len) == NULL && inside((const uint8_t *)fb.dept, fb.dept_len));
    memcpy(dept, fb.dept, fb.dept_len);
    dept[fb.dept_len] = 0;
    mv_buf_reset(enc);
    mv_frame_blocks_begin(&w, enc, dept);
    mv_frame_blocks_iter(&fb, &it);
    uint32_t n = 0;
    while (mv_frame_blocks_next(&it, &b)) {
        n++;
        CHECK(inside(b.token, 32) && inside(b.tag, 32));
        if (b.kind == MV_FRAME_UPLOAD)
            CHECK(b.len >= 1 && b.len <= MV_FRAME_MAX_BLOCK && inside(b.data, b.len));
        else
            CHECK(b.kind == MV_FRAME_PROOF && inside(b.nonce, 16) && inside(b.response, 32));
        mv_frame_blocks_add(&w, &b);
    }
    CHECK(n == fb.count);
    CHECK(mv_frame_end(&w) == MV_OK);
    same_as_input(enc);
}

static void fuzz_ids(mv_buf *enc, int records)
{
    mv_frame_ids ids;
    mv_frame_fault f;
    mv_frame_writer w;
    size_t size = records ? 16 : 32;
    mv_mem_fail_after(0);
    mv_err rc = records ? mv_frame_records_get_decode(g_data, g_size, &ids, &f)
                        : mv_frame_blocks_get_decode(g_data, g_size, &ids, &f);
    mv_mem_fail_after(SIZE_MAX);
    if (rc != MV_OK) {
        check_refusal(rc, &f);
        CHECK(ids.v == NULL && ids.count == 0);
        return;
    }
    CHECK(ids.count >= 1 && ids.count <= MV_FRAME_MAX_GET && inside(ids.v, size * ids.count));
    mv_buf_reset(enc);
    if (records)
        mv_frame_records_get_begin(&w, enc);
    else
        mv_frame_blocks_get_begin(&w, enc);
    for (uint32_t i = 0; i < ids.count; i++) {
        if (records)
            mv_frame_records_get_add(&w, ids.v + size * i);
        else
            mv_frame_blocks_get_add(&w, ids.v + size * i);
    }
    CHECK(mv_frame_end(&w) == MV_OK);
    same_as_input(enc);
}

static void fuzz_answer(mv_buf *enc, int records)
{
    mv_frame_answer a;
    mv_frame_fault f;
    mv_frame_iter it;
    mv_frame_writer w;
    /* The count the input claims, so that well-formed answers reach the success path. */
    uint32_t expect = 0;
    if (g_size >= 8)
        expect = (uint32_t)g_data[4] | (uint32_t)g_data[5] << 8 | (uint32_t)g_data[6] << 16 |
                 (uint32_t)g_data[7] << 24;
    mv_mem_fail_after(0);
    mv_err rc = records ? mv_frame_records_answer_decode(g_data, g_size, expect, &a, &f)
                        : mv_frame_blocks_answer_decode(g_data, g_size, expect, &a, &f);
    mv_mem_fail_after(SIZE_MAX);
    if (rc != MV_OK) {
        check_refusal(rc, &f);
        CHECK(a.count == 0 && a.items == NULL);
        return;
    }
    CHECK(a.count == expect);
    mv_buf_reset(enc);
    if (records)
        mv_frame_records_answer_begin(&w, enc);
    else
        mv_frame_blocks_answer_begin(&w, enc);
    mv_frame_answer_iter(&a, &it);
    uint8_t st = 0;
    const uint8_t *d = NULL;
    size_t l = 0;
    uint32_t n = 0;
    while (mv_frame_answer_next(&it, &st, &d, &l)) {
        n++;
        CHECK(inside(d, l) && l <= (records ? MV_FRAME_MAX_ENVELOPE : MV_FRAME_MAX_BLOCK));
        int has = records ? st == MV_FRAME_RECORD_OK : st == MV_FRAME_BLOCK_FOUND;
        CHECK(has || l == 0);
        mv_frame_answer_open(&w);
        CHECK(mv_buf_append(enc, d, l) == MV_OK);
        mv_frame_answer_close(&w, st);
    }
    CHECK(n == a.count);
    CHECK(mv_frame_end(&w) == MV_OK);
    same_as_input(enc);
}

static void fuzz_records(mv_buf *enc)
{
    mv_frame_records fr;
    mv_frame_record r;
    mv_frame_fault f;
    mv_frame_iter it;
    mv_frame_writer w;
    mv_mem_fail_after(0);
    mv_err rc = mv_frame_records_decode(g_data, g_size, &fr, &f);
    mv_mem_fail_after(SIZE_MAX);
    if (rc != MV_OK) {
        check_refusal(rc, &f);
        CHECK(fr.count == 0 && fr.items == NULL);
        return;
    }
    CHECK(fr.count >= 1 && fr.count <= MV_FRAME_MAX_RECORDS);
    mv_buf_reset(enc);
    mv_frame_records_begin(&w, enc);
    mv_frame_records_iter(&fr, &it);
    uint32_t n = 0;
    while (mv_frame_records_next(&it, &r)) {
        n++;
        CHECK(inside(r.id, 16) && inside(r.patient, 32) && inside(r.episode, 16));
        CHECK(r.dept_len >= 1 && r.dept_len <= MV_FRAME_DEPT_MAX && inside((const uint8_t *)r.dept, r.dept_len));
        CHECK(memchr(r.dept, 0, r.dept_len) == NULL);
        CHECK(r.n_readers <= 255 && inside(r.readers, 32 * r.n_readers));
        CHECK(inside(r.tags, 32 * r.n_tags) && inside(r.delegation, r.delegation_len));
        CHECK(r.envelope_len <= MV_FRAME_MAX_ENVELOPE && inside(r.envelope, r.envelope_len));
        mv_frame_records_add(&w, &r);
    }
    CHECK(n == fr.count);
    CHECK(mv_frame_end(&w) == MV_OK);
    same_as_input(enc);
}

static void fuzz_access(mv_buf *enc)
{
    mv_frame_access a;
    mv_frame_fault f;
    mv_mem_fail_after(0);
    mv_err rc = mv_frame_access_decode(g_data, g_size, &a, &f);
    mv_mem_fail_after(SIZE_MAX);
    if (rc != MV_OK) {
        check_refusal(rc, &f);
        CHECK(a.patient == NULL && a.readers == NULL && a.envelope == NULL);
        return;
    }
    CHECK((a.flags & ~MV_FRAME_ACCESS_SET_PATIENT) == 0 && inside(a.patient, 32));
    CHECK(a.n_readers <= MV_FRAME_MAX_ACL && inside(a.readers, 32 * a.n_readers));
    CHECK(a.envelope_len <= MV_FRAME_MAX_ENVELOPE && inside(a.envelope, a.envelope_len));
    mv_buf_reset(enc);
    CHECK(mv_frame_access_encode(&a, enc) == MV_OK);
    same_as_input(enc);
}

static void fuzz_dupcheck(mv_buf *enc)
{
    mv_frame_dupcheck d, again;
    mv_frame_fault f;
    mv_frame_writer w;
    mv_err rc = mv_frame_dupcheck_decode(g_data, g_size, &d, &f);
    if (rc != MV_OK) {
        check_refusal(rc, &f);
        CHECK(d.tokens == NULL && d.n_tokens == 0);
        return;
    }
    size_t dl = strlen(d.dept);
    CHECK(dl >= 1 && dl <= MV_FRAME_DEPT_MAX && d.n_tokens <= MV_FRAME_MAX_TOKENS);
    CHECK(d.n_tokens == 0 || d.tokens != NULL);
    mv_buf_reset(enc);
    mv_frame_dupcheck_begin(&w, enc, d.dept);
    for (size_t i = 0; i < d.n_tokens; i++)
        mv_frame_dupcheck_add(&w, d.tokens + 32 * i);
    CHECK(mv_frame_end(&w) == MV_OK);
    CHECK(mv_frame_dupcheck_decode(enc->ptr, enc->len, &again, NULL) == MV_OK);
    CHECK(strcmp(again.dept, d.dept) == 0 && again.n_tokens == d.n_tokens);
    CHECK(d.n_tokens == 0 || memcmp(again.tokens, d.tokens, 32 * d.n_tokens) == 0);
    mv_frame_dupcheck_clear(&again);
    mv_frame_dupcheck_clear(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mv_buf enc;
    g_data = data;
    g_size = size;
    mv_buf_init(&enc, size + ((size_t)1 << 20));
    fuzz_blocks(&enc);
    fuzz_ids(&enc, 0);
    fuzz_ids(&enc, 1);
    fuzz_answer(&enc, 0);
    fuzz_answer(&enc, 1);
    fuzz_records(&enc);
    fuzz_access(&enc);
    fuzz_dupcheck(&enc);
    mv_buf_clear(&enc);
    return 0;
}
