/* test_frames.c - the storage wire frames (src/net/frames.h) against their byte layouts in
 * docs/frames.md: golden bytes built here independently of frames.c, round trips through the
 * writers and the decoders, every refusal (with the item it names), every prefix of every
 * valid frame refused, caps on both sides, decoders that allocate nothing, a writer that
 * keeps its first error and rolls the buffer back, and the seed corpus of fuzz_frames.c
 * (regenerated from the real encoders with MV_FRAMES_WRITE_CORPUS=DIR). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_box.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_file.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"
#include "net/frames.h"

/* ---------- bytes built without frames.c ---------- */

static void app(mv_buf *b, const void *p, size_t n)
{
    assert_int_equal(mv_buf_append(b, p, n), MV_OK);
}

static void app_u8(mv_buf *b, uint8_t v)
{
    app(b, &v, 1);
}

static void app_u16(mv_buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    app(b, x, 2);
}

static void app_u32(mv_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    app(b, x, 4);
}

static void app_u64(mv_buf *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        app_u8(b, (uint8_t)(v >> (8 * i)));
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + 7 * i);
}

/* A real sealed envelope (random key and nonce) for n fresh readers. */
static void sealed_envelope(const uint8_t id[16], size_t n_readers, mv_buf *out)
{
    uint8_t pks[4 * 32], sk[32];
    mv_record r;
    mv_block_ref ref;
    assert_true(n_readers >= 1 && n_readers <= 4);
    for (size_t i = 0; i < n_readers; i++)
        assert_int_equal(mv_box_keypair(pks + 32 * i, sk), MV_OK);
    mv_record_init(&r);
    r.kind = MV_RECORD_ATTACHMENT;
    memset(&ref, 0, sizeof ref);
    fill(ref.tag, 32, 1);
    fill(ref.key, 32, 2);
    ref.slot = 0;
    ref.plain_len = 10;
    ref.cipher_len = 40;
    assert_int_equal(mv_record_add_block(&r, &ref), MV_OK);
    assert_int_equal(mv_envelope_seal(id, &r, pks, n_readers, out), MV_OK);
    mv_record_clear(&r);
    mv_wipe(sk, sizeof sk);
}

/* ---------- decoding any frame by name ---------- */

typedef enum which { F_MVB1, F_MVG1, F_MVQ1, F_MVG1_ANSWER, F_MVQ1_ANSWER, F_MVP2, F_MVA1, F_DUPCHECK } which;

static mv_err decode(which f, const uint8_t *p, size_t n, uint32_t expect, mv_frame_fault *fault)
{
    mv_frame_blocks b;
    mv_frame_ids ids;
    mv_frame_answer a;
    mv_frame_records r;
    mv_frame_access ac;
    mv_frame_dupcheck d;
    mv_err rc = MV_ERR_INVAL;
    switch (f) {
    case F_MVB1: rc = mv_frame_blocks_decode(p, n, &b, fault); break;
    case F_MVG1: rc = mv_frame_blocks_get_decode(p, n, &ids, fault); break;
    case F_MVQ1: rc = mv_frame_records_get_decode(p, n, &ids, fault); break;
    case F_MVG1_ANSWER: rc = mv_frame_blocks_answer_decode(p, n, expect, &a, fault); break;
    case F_MVQ1_ANSWER: rc = mv_frame_records_answer_decode(p, n, expect, &a, fault); break;
    case F_MVP2: rc = mv_frame_records_decode(p, n, &r, fault); break;
    case F_MVA1: rc = mv_frame_access_decode(p, n, &ac, fault); break;
    case F_DUPCHECK:
        rc = mv_frame_dupcheck_decode(p, n, &d, fault);
        mv_frame_dupcheck_clear(&d);
        break;
    }
    return rc;
}

/* Asserts that f refuses p[0..n) with rc, a fault naming item (MV_FRAME_NO_ITEM: the header)
 * and a text containing what. */
static void refused(which f, const uint8_t *p, size_t n, uint32_t expect, mv_err rc, size_t item, const char *what)
{
    mv_frame_fault fault;
    char text[256];
    memset(&fault, 0, sizeof fault);
    assert_int_equal(decode(f, p, n, expect, &fault), rc);
    assert_true(fault.item == item);
    mv_frame_fault_text(&fault, text, sizeof text);
    if (!strstr(text, what))
        fail_msg("fault text \"%s\" lacks \"%s\"", text, what);
}

/* Every strict prefix of a valid frame is refused, and so is the frame with a byte added. */
static void prefixes_and_trailing(which f, const mv_buf *b, uint32_t expect)
{
    uint8_t *copy = mv_malloc(b->len + 1);
    assert_non_null(copy);
    memcpy(copy, b->ptr, b->len);
    for (size_t n = 0; n < b->len; n++) {
        mv_err rc = decode(f, n ? copy : NULL, n, expect, NULL);
        assert_true(rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE);
    }
    copy[b->len] = 0x00;
    assert_int_equal(decode(f, copy, b->len + 1, expect, NULL), MV_ERR_PARSE);
    assert_int_equal(decode(f, copy, b->len, expect, NULL), MV_OK);
    mv_free(copy);
}

/* ---------- MVB1 ---------- */

static void mvb1_golden(mv_buf *g, uint8_t tok[32], uint8_t tag[32], uint8_t data[100], uint8_t nonce[16],
                        uint8_t resp[32])
{
    fill(tok, 32, 3);
    fill(tag, 32, 5);
    fill(data, 100, 9);
    fill(nonce, 16, 11);
    fill(resp, 32, 13);
    app(g, "MVB1", 4);
    app_u8(g, 10);
    app(g, "cardiology", 10);
    app_u32(g, 2);
    app_u8(g, 1);
    app(g, tok, 32);
    app(g, tag, 32);
    app_u32(g, 100);
    app(g, data, 100);
    app_u8(g, 2);
    app(g, tok, 32);
    app(g, tag, 32);
    app_u64(g, 1795000000);
    app(g, nonce, 16);
    app(g, resp, 32);
}

static void test_mvb1(void **state)
{
    (void)state;
    uint8_t tok[32], tag[32], data[100], nonce[16], resp[32];
    mv_buf g, e;
    mv_frame_writer w;
    mv_frame_blocks fb;
    mv_frame_iter it;
    mv_frame_block b;
    mv_buf_init(&g, 1 << 20);
    mv_buf_init(&e, 1 << 20);
    mvb1_golden(&g, tok, tag, data, nonce, resp);

    /* The writer produces exactly the documented bytes. */
    mv_frame_blocks_begin(&w, &e, "cardiology");
    mv_frame_block up = {.kind = MV_FRAME_UPLOAD, .token = tok, .tag = tag, .data = data, .len = 100};
    mv_frame_block pr = {.kind = MV_FRAME_PROOF, .token = tok, .tag = tag, .issued = 1795000000, .nonce = nonce,
                         .response = resp};
    mv_frame_blocks_add(&w, &up);
    mv_frame_blocks_add(&w, &pr);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    assert_int_equal(e.len, g.len);
    assert_memory_equal(e.ptr, g.ptr, g.len);

    /* The decoder borrows the input and allocates nothing. */
    mv_mem_fail_after(0);
    assert_int_equal(mv_frame_blocks_decode(g.ptr, g.len, &fb, NULL), MV_OK);
    mv_mem_fail_after(SIZE_MAX);
    assert_int_equal(fb.count, 2);
    assert_int_equal(fb.dept_len, 10);
    assert_memory_equal(fb.dept, "cardiology", 10);
    assert_true(fb.dept == (const char *)g.ptr + 5);
    mv_frame_blocks_iter(&fb, &it);
    assert_int_equal(mv_frame_blocks_next(&it, &b), 1);
    assert_int_equal(b.kind, MV_FRAME_UPLOAD);
    assert_int_equal(b.len, 100);
    assert_true(b.data == g.ptr + 5 + 10 + 4 + 69);
    assert_memory_equal(b.token, tok, 32);
    assert_memory_equal(b.tag, tag, 32);
    assert_int_equal(mv_frame_blocks_next(&it, &b), 1);
    assert_int_equal(b.kind, MV_FRAME_PROOF);
    assert_true(b.issued == 1795000000);
    assert_memory_equal(b.nonce, nonce, 16);
    assert_memory_equal(b.response, resp, 32);
    assert_int_equal(mv_frame_blocks_next(&it, &b), 0);
    prefixes_and_trailing(F_MVB1, &g, 0);

    /* Refusals, each naming what and where. Offsets for "cardiology": count at 15, the first
     * kind at 19, the upload's length at 84, the second kind at 188. */
    mv_buf x;
    mv_buf_init(&x, 1 << 20);
#define RESET() (mv_buf_reset(&x), app(&x, g.ptr, g.len))
    RESET();
    x.ptr[3] = '2';
    refused(F_MVB1, x.ptr, x.len, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "MVB1 frame: bad magic");
    RESET();
    x.ptr[19] = 3;
    refused(F_MVB1, x.ptr, x.len, 0, MV_ERR_PARSE, 0, "item 0: unknown kind");
    RESET();
    x.ptr[188] = 0;
    refused(F_MVB1, x.ptr, x.len, 0, MV_ERR_PARSE, 1, "item 1: unknown kind");
    RESET();
    x.ptr[15] = 0;
    refused(F_MVB1, x.ptr, 19, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "no items");
    RESET();
    x.ptr[15] = 0xff;
    x.ptr[16] = 0xff;
    x.ptr[17] = 0xff;
    x.ptr[18] = 0xff;
    refused(F_MVB1, x.ptr, x.len, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "item count larger than the body");
    RESET();
    x.ptr[15] = 3;
    refused(F_MVB1, x.ptr, x.len, 0, MV_ERR_PARSE, 2, "item 2: truncated");
    RESET();
    x.ptr[15] = 1;
    refused(F_MVB1, x.ptr, x.len, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "trailing bytes");
    /* The upload's length: 0, then over 8 MiB (refused before its bytes are looked for). */
    RESET();
    memset(x.ptr + 84, 0, 4);
    refused(F_MVB1, x.ptr, x.len, 0, MV_ERR_PARSE, 0, "item 0: empty block");
    RESET();
    x.ptr[15] = 1;
    x.len = 84;
    app_u32(&x, (8u << 20) + 1);
    refused(F_MVB1, x.ptr, x.len, 0, MV_ERR_TOO_LARGE, 0, "block larger than 8 MiB");
    /* Departments: empty, 64 bytes, a NUL inside. */
    static const uint8_t empty_dept[] = {'M', 'V', 'B', '1', 0, 1, 0, 0, 0};
    refused(F_MVB1, empty_dept, sizeof empty_dept, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "malformed department");
    mv_buf_reset(&x);
    app(&x, "MVB1", 4);
    app_u8(&x, 64);
    for (int i = 0; i < 64; i++)
        app_u8(&x, 'a');
    app(&x, g.ptr + 15, g.len - 15);
    refused(F_MVB1, x.ptr, x.len, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "malformed department");
    RESET();
    x.ptr[9] = 0;
    refused(F_MVB1, x.ptr, x.len, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "malformed department");
#undef RESET

    /* The writer refuses what the decoder would, and leaves the buffer as it was. */
    mv_buf_reset(&e);
    app(&e, "keep", 4);
    mv_frame_blocks_begin(&w, &e, "");
    assert_int_equal(mv_frame_end(&w), MV_ERR_INVAL);
    assert_int_equal(e.len, 4);
    mv_frame_blocks_begin(&w, &e, "cardiology");
    assert_int_equal(mv_frame_end(&w), MV_ERR_INVAL); /* no items */
    assert_int_equal(e.len, 4);
    mv_frame_blocks_begin(&w, &e, "cardiology");
    up.len = (8u << 20) + 1;
    mv_frame_blocks_add(&w, &up);
    up.len = 100;
    mv_frame_blocks_add(&w, &up); /* ignored: the first error sticks */
    assert_int_equal(mv_frame_end(&w), MV_ERR_TOO_LARGE);
    assert_int_equal(e.len, 4);
    mv_frame_blocks_begin(&w, &e, "cardiology");
    up.len = 0;
    mv_frame_blocks_add(&w, &up);
    assert_int_equal(mv_frame_end(&w), MV_ERR_INVAL);
    up.len = 100;
    pr.kind = 7;
    mv_frame_blocks_begin(&w, &e, "cardiology");
    mv_frame_blocks_add(&w, &pr);
    assert_int_equal(mv_frame_end(&w), MV_ERR_INVAL);
    assert_int_equal(e.len, 4);
    assert_memory_equal(e.ptr, "keep", 4);
    /* A buffer cap reached mid-frame: rolled back. */
    mv_buf small;
    mv_buf_init(&small, 60);
    mv_frame_blocks_begin(&w, &small, "cardiology");
    mv_frame_blocks_add(&w, &up);
    assert_int_equal(mv_frame_end(&w), MV_ERR_TOO_LARGE);
    assert_int_equal(small.len, 0);
    mv_buf_clear(&small);
    mv_buf_clear(&x);
    mv_buf_clear(&g);
    mv_buf_clear(&e);
}

/* ---------- MVG1 / MVQ1 requests and answers ---------- */

static void test_batched_gets(void **state)
{
    (void)state;
    uint8_t tags[3][32], ids[2][16];
    mv_buf g, e;
    mv_frame_writer w;
    mv_frame_ids fi;
    mv_buf_init(&g, 1 << 20);
    mv_buf_init(&e, 1 << 20);
    for (int i = 0; i < 3; i++)
        fill(tags[i], 32, (uint8_t)(40 + i));
    for (int i = 0; i < 2; i++)
        fill(ids[i], 16, (uint8_t)(90 + i));

    app(&g, "MVG1", 4);
    app_u32(&g, 3);
    app(&g, tags, sizeof tags);
    mv_frame_blocks_get_begin(&w, &e);
    for (int i = 0; i < 3; i++)
        mv_frame_blocks_get_add(&w, tags[i]);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    assert_int_equal(e.len, g.len);
    assert_memory_equal(e.ptr, g.ptr, g.len);
    mv_mem_fail_after(0);
    assert_int_equal(mv_frame_blocks_get_decode(g.ptr, g.len, &fi, NULL), MV_OK);
    mv_mem_fail_after(SIZE_MAX);
    assert_int_equal(fi.count, 3);
    assert_true(fi.v == g.ptr + 8);
    prefixes_and_trailing(F_MVG1, &g, 0);
    /* An MVQ1 body is not an MVG1 one, and the counts must match the body exactly. */
    g.ptr[3] = 'Q';
    refused(F_MVG1, g.ptr, g.len, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "MVG1 frame: bad magic");
    g.ptr[3] = '1';
    g.ptr[4] = 2;
    refused(F_MVG1, g.ptr, g.len, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "does not match the body");
    g.ptr[4] = 0;
    refused(F_MVG1, g.ptr, 8, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "the count must be 1 to 4096");

    mv_buf_reset(&g);
    app(&g, "MVQ1", 4);
    app_u32(&g, 2);
    app(&g, ids, sizeof ids);
    mv_buf_reset(&e);
    mv_frame_records_get_begin(&w, &e);
    mv_frame_records_get_add(&w, ids[0]);
    mv_frame_records_get_add(&w, ids[1]);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    assert_memory_equal(e.ptr, g.ptr, g.len);
    assert_int_equal(mv_frame_records_get_decode(g.ptr, g.len, &fi, NULL), MV_OK);
    assert_int_equal(fi.count, 2);
    prefixes_and_trailing(F_MVQ1, &g, 0);

    /* 4096 ids is the cap on both sides. */
    mv_buf big;
    mv_buf_init(&big, 1 << 20);
    mv_frame_records_get_begin(&w, &big);
    for (int i = 0; i < 4096; i++)
        mv_frame_records_get_add(&w, ids[0]);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    assert_int_equal(mv_frame_records_get_decode(big.ptr, big.len, &fi, NULL), MV_OK);
    mv_buf_reset(&big);
    mv_frame_records_get_begin(&w, &big);
    for (int i = 0; i < 4097; i++)
        mv_frame_records_get_add(&w, ids[0]);
    assert_int_equal(mv_frame_end(&w), MV_ERR_TOO_LARGE);
    assert_int_equal(big.len, 0);
    app(&big, "MVQ1", 4);
    app_u32(&big, 4097);
    for (int i = 0; i < 4097; i++)
        app(&big, ids[0], 16);
    refused(F_MVQ1, big.ptr, big.len, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "the count must be 1 to 4096");
    mv_frame_records_get_begin(&w, &big);
    assert_int_equal(mv_frame_end(&w), MV_ERR_INVAL); /* no ids */

    /* MVG1 answer: found (with data), absent. */
    uint8_t c[50];
    fill(c, sizeof c, 77);
    mv_buf_reset(&g);
    app(&g, "MVG1", 4);
    app_u32(&g, 2);
    app_u8(&g, 1);
    app_u32(&g, 50);
    app(&g, c, 50);
    app_u8(&g, 0);
    app_u32(&g, 0);
    mv_buf_reset(&e);
    mv_frame_blocks_answer_begin(&w, &e);
    mv_frame_answer_open(&w);
    app(&e, c, 50); /* the caller appends the data itself */
    mv_frame_answer_close(&w, MV_FRAME_BLOCK_FOUND);
    mv_frame_answer_open(&w);
    app(&e, "dropped", 7); /* an absent item's bytes are dropped */
    mv_frame_answer_close(&w, MV_FRAME_BLOCK_ABSENT);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    assert_int_equal(e.len, g.len);
    assert_memory_equal(e.ptr, g.ptr, g.len);
    mv_frame_answer a;
    mv_frame_iter it;
    uint8_t st = 9;
    const uint8_t *d = NULL;
    size_t dl = 0;
    assert_int_equal(mv_frame_blocks_answer_decode(g.ptr, g.len, 2, &a, NULL), MV_OK);
    mv_frame_answer_iter(&a, &it);
    assert_int_equal(mv_frame_answer_next(&it, &st, &d, &dl), 1);
    assert_int_equal(st, MV_FRAME_BLOCK_FOUND);
    assert_int_equal(dl, 50);
    assert_true(d == g.ptr + 13);
    assert_int_equal(mv_frame_answer_next(&it, &st, &d, &dl), 1);
    assert_int_equal(st, MV_FRAME_BLOCK_ABSENT);
    assert_null(d);
    assert_int_equal(dl, 0);
    assert_int_equal(mv_frame_answer_next(&it, &st, &d, &dl), 0);
    prefixes_and_trailing(F_MVG1_ANSWER, &g, 2);
    refused(F_MVG1_ANSWER, g.ptr, g.len, 3, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "not one item per item asked");
    g.ptr[8] = 2;
    refused(F_MVG1_ANSWER, g.ptr, g.len, 2, MV_ERR_PARSE, 0, "tag 0: unknown status");
    g.ptr[8] = 1;
    g.ptr[64] = 1; /* the absent item's length */
    app_u8(&g, 0);
    refused(F_MVG1_ANSWER, g.ptr, g.len, 2, MV_ERR_PARSE, 1, "tag 1: bytes on an item without data");

    /* MVQ1 answer: ok, not found, forbidden; an envelope over 1 MiB is refused by both. */
    mv_buf_reset(&g);
    app(&g, "MVQ1", 4);
    app_u32(&g, 3);
    app_u8(&g, 0);
    app_u32(&g, 50);
    app(&g, c, 50);
    app_u8(&g, 1);
    app_u32(&g, 0);
    app_u8(&g, 2);
    app_u32(&g, 0);
    mv_buf_reset(&e);
    mv_frame_records_answer_begin(&w, &e);
    mv_frame_answer_open(&w);
    app(&e, c, 50);
    mv_frame_answer_close(&w, MV_FRAME_RECORD_OK);
    mv_frame_answer_open(&w);
    mv_frame_answer_close(&w, MV_FRAME_RECORD_NOT_FOUND);
    mv_frame_answer_open(&w);
    app(&e, c, 50); /* a forbidden envelope read by mistake never leaves */
    mv_frame_answer_close(&w, MV_FRAME_RECORD_FORBIDDEN);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    assert_int_equal(e.len, g.len);
    assert_memory_equal(e.ptr, g.ptr, g.len);
    prefixes_and_trailing(F_MVQ1_ANSWER, &g, 3);
    g.ptr[8 + 5 + 50 + 5] = 3;
    refused(F_MVQ1_ANSWER, g.ptr, g.len, 3, MV_ERR_PARSE, 2, "id 2: unknown status");
    /* The MVG1 statuses are not MVQ1's and the reverse. */
    mv_buf_reset(&e);
    mv_frame_records_answer_begin(&w, &e);
    mv_frame_answer_open(&w);
    mv_frame_answer_close(&w, 3);
    assert_int_equal(mv_frame_end(&w), MV_ERR_INVAL);
    mv_buf_reset(&big);
    app(&big, "MVQ1", 4);
    app_u32(&big, 1);
    app_u8(&big, 0);
    app_u32(&big, (1u << 20) + 1);
    refused(F_MVQ1_ANSWER, big.ptr, big.len, 1, MV_ERR_TOO_LARGE, 0, "envelope larger than 1 MiB");
    uint8_t *huge = mv_calloc((1u << 20) + 1, 1);
    assert_non_null(huge);
    mv_buf bigger;
    mv_buf_init(&bigger, 4u << 20);
    mv_frame_records_answer_begin(&w, &bigger);
    mv_frame_answer_open(&w);
    app(&bigger, huge, (1u << 20) + 1);
    mv_frame_answer_close(&w, MV_FRAME_RECORD_OK);
    assert_int_equal(mv_frame_end(&w), MV_ERR_TOO_LARGE);
    assert_int_equal(bigger.len, 0);
    /* Misuse: closing what was not opened, ending with an item open, failing an item. */
    mv_frame_blocks_answer_begin(&w, &bigger);
    mv_frame_answer_close(&w, MV_FRAME_BLOCK_FOUND);
    assert_int_equal(mv_frame_end(&w), MV_ERR_INVAL);
    mv_frame_blocks_answer_begin(&w, &bigger);
    mv_frame_answer_open(&w);
    assert_int_equal(mv_frame_end(&w), MV_ERR_INVAL);
    mv_frame_blocks_answer_begin(&w, &bigger);
    mv_frame_answer_open(&w);
    mv_frame_answer_fail(&w, MV_ERR_IO);
    assert_int_equal(mv_frame_end(&w), MV_ERR_IO);
    assert_int_equal(bigger.len, 0);
    /* An empty answer (zero items) is well formed. */
    mv_frame_blocks_answer_begin(&w, &bigger);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    assert_int_equal(mv_frame_blocks_answer_decode(bigger.ptr, bigger.len, 0, &a, NULL), MV_OK);
    mv_free(huge);
    mv_buf_clear(&bigger);
    mv_buf_clear(&big);
    mv_buf_clear(&g);
    mv_buf_clear(&e);
}

/* ---------- MVP2 ---------- */

typedef struct p2 {
    uint8_t id[2][16], patient[32], episode[16], dg[120], readers[2][32], tags[3][32];
    mv_buf env[2];
} p2;

static void p2_init(p2 *x)
{
    fill(x->id[0], 16, 1);
    fill(x->id[1], 16, 2);
    fill(x->patient, 32, 3);
    fill(x->episode, 16, 4);
    fill(x->dg, sizeof x->dg, 5);
    fill(x->readers[0], 32, 6);
    fill(x->readers[1], 32, 7);
    for (int i = 0; i < 3; i++)
        fill(x->tags[i], 32, (uint8_t)(8 + i));
    for (int i = 0; i < 2; i++) {
        mv_buf_init(&x->env[i], 1 << 20);
        sealed_envelope(x->id[i], (size_t)i + 1, &x->env[i]);
    }
}

static void p2_clear(p2 *x)
{
    mv_buf_clear(&x->env[0]);
    mv_buf_clear(&x->env[1]);
}

/* Record 0: legacy (no patient), one tag. Record 1: for a patient, with a delegation, two
 * readers and three tags. */
static void p2_records(const p2 *x, mv_frame_record r[2])
{
    memset(r, 0, 2 * sizeof *r);
    r[0] = (mv_frame_record){.id = x->id[0], .dept = "cardiology", .dept_len = 10, .tags = x->tags[0], .n_tags = 1,
                             .envelope = x->env[0].ptr, .envelope_len = x->env[0].len};
    r[1] = (mv_frame_record){.id = x->id[1], .dept = "oncology", .dept_len = 8, .patient = x->patient,
                             .episode = x->episode, .delegation = x->dg, .delegation_len = sizeof x->dg,
                             .readers = x->readers[0], .n_readers = 2, .tags = x->tags[0], .n_tags = 3,
                             .envelope = x->env[1].ptr, .envelope_len = x->env[1].len};
}

static void p2_golden(const p2 *x, mv_buf *g)
{
    static const uint8_t zero[32] = {0};
    app(g, "MVP2", 4);
    app_u32(g, 2);
    app(g, x->id[0], 16);
    app_u8(g, 10);
    app(g, "cardiology", 10);
    app(g, zero, 32);
    app(g, zero, 16);
    app_u16(g, 0);
    app_u8(g, 0);
    app_u32(g, 1);
    app(g, x->tags[0], 32);
    app_u32(g, (uint32_t)x->env[0].len);
    app(g, x->env[0].ptr, x->env[0].len);
    app(g, x->id[1], 16);
    app_u8(g, 8);
    app(g, "oncology", 8);
    app(g, x->patient, 32);
    app(g, x->episode, 16);
    app_u16(g, sizeof x->dg);
    app(g, x->dg, sizeof x->dg);
    app_u8(g, 2);
    app(g, x->readers, sizeof x->readers);
    app_u32(g, 3);
    app(g, x->tags, sizeof x->tags);
    app_u32(g, (uint32_t)x->env[1].len);
    app(g, x->env[1].ptr, x->env[1].len);
}

static void assert_record(const mv_frame_record *a, const mv_frame_record *b)
{
    static const uint8_t zero[32] = {0};
    assert_memory_equal(a->id, b->id, 16);
    assert_int_equal(a->dept_len, b->dept_len);
    assert_memory_equal(a->dept, b->dept, a->dept_len);
    assert_memory_equal(a->patient, b->patient ? b->patient : zero, 32);
    assert_memory_equal(a->episode, b->episode ? b->episode : zero, 16);
    assert_int_equal(a->delegation_len, b->delegation_len);
    if (a->delegation_len)
        assert_memory_equal(a->delegation, b->delegation, a->delegation_len);
    assert_int_equal(a->n_readers, b->n_readers);
    if (a->n_readers)
        assert_memory_equal(a->readers, b->readers, 32 * a->n_readers);
    assert_int_equal(a->n_tags, b->n_tags);
    if (a->n_tags)
        assert_memory_equal(a->tags, b->tags, 32 * a->n_tags);
    assert_int_equal(a->envelope_len, b->envelope_len);
    if (a->envelope_len)
        assert_memory_equal(a->envelope, b->envelope, a->envelope_len);
}

static void test_mvp2(void **state)
{
    (void)state;
    p2 x;
    mv_frame_record in[2], out;
    mv_frame_writer w;
    mv_frame_records fr;
    mv_frame_iter it;
    mv_buf g, e;
    p2_init(&x);
    p2_records(&x, in);
    mv_buf_init(&g, 1 << 22);
    mv_buf_init(&e, 1 << 22);
    p2_golden(&x, &g);
    mv_frame_records_begin(&w, &e);
    mv_frame_records_add(&w, &in[0]);
    mv_frame_records_add(&w, &in[1]);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    assert_int_equal(e.len, g.len);
    assert_memory_equal(e.ptr, g.ptr, g.len);

    mv_mem_fail_after(0);
    assert_int_equal(mv_frame_records_decode(g.ptr, g.len, &fr, NULL), MV_OK);
    mv_mem_fail_after(SIZE_MAX);
    assert_int_equal(fr.count, 2);
    mv_frame_records_iter(&fr, &it);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(mv_frame_records_next(&it, &out), 1);
        assert_record(&out, &in[i]);
    }
    assert_null(in[0].delegation);
    assert_int_equal(mv_frame_records_next(&it, &out), 0);
    prefixes_and_trailing(F_MVP2, &g, 0);

    /* Refusals. Record 0 starts at 8: dlen at 24, n_tags at 24+1+10+32+16+2+1 = 86. */
    mv_buf y;
    mv_buf_init(&y, 1 << 22);
#define RESET() (mv_buf_reset(&y), app(&y, g.ptr, g.len))
    RESET();
    y.ptr[0] = 'X';
    refused(F_MVP2, y.ptr, y.len, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "MVP2 frame: bad magic");
    RESET();
    refused(F_MVP2, y.ptr, 8, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "record count larger than the body");
    y.ptr[4] = 0;
    refused(F_MVP2, y.ptr, y.len, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "no records");
    y.ptr[4] = 200;
    refused(F_MVP2, y.ptr, y.len, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "record count larger than the body");
    y.ptr[4] = 1;
    y.ptr[5] = 0x10; /* 4097 */
    refused(F_MVP2, y.ptr, y.len, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "more than 4096 records");
    RESET();
    y.ptr[4] = 3;
    refused(F_MVP2, y.ptr, y.len, 0, MV_ERR_PARSE, 2, "record 2: truncated");
    RESET();
    y.ptr[24] = 0;
    refused(F_MVP2, y.ptr, y.len, 0, MV_ERR_PARSE, 0, "record 0: malformed department");
    RESET();
    y.ptr[30] = 0;
    refused(F_MVP2, y.ptr, y.len, 0, MV_ERR_PARSE, 0, "record 0: malformed department");
    RESET();
    y.ptr[86] = 0xff;
    refused(F_MVP2, y.ptr, y.len, 0, MV_ERR_PARSE, 0, "record 0: truncated");
    /* The envelope length of record 0 over 1 MiB: refused as soon as it is read. */
    RESET();
    size_t el_at = 86 + 4 + 32;
    y.ptr[4] = 1;
    y.len = el_at;
    app_u32(&y, (1u << 20) + 1);
    refused(F_MVP2, y.ptr, y.len, 0, MV_ERR_TOO_LARGE, 0, "record 0: envelope larger than 1 MiB");
    /* Issue 11, finding 11: a record naming no block, or whose envelope is not an MVE1
     * envelope (garbage; empty; cut short; one reader twice), is refused, whichever record. */
    RESET();
    y.len = 86;
    app_u32(&y, 0);
    app(&y, g.ptr + 90 + 32, g.len - 90 - 32);
    refused(F_MVP2, y.ptr, y.len, 0, MV_ERR_PARSE, 0, "record 0: no tags (a record names at least one block)");
    RESET();
    memcpy(y.ptr + el_at + 4, "XVE1", 4);
    refused(F_MVP2, y.ptr, y.len, 0, MV_ERR_PARSE, 0,
            "record 0: the envelope is not a sealed MVE1/MVE2 envelope or MVK1 keyset (its framing does not parse)");
    RESET();
    y.ptr[el_at + 4 + 4] = 0; /* no readers */
    refused(F_MVP2, y.ptr, y.len, 0, MV_ERR_PARSE, 0, "record 0: the envelope is not a sealed MVE1/MVE2");
    size_t env1_at = g.len - x.env[1].len;
    RESET();
    memcpy(y.ptr + env1_at + 5 + 112, y.ptr + env1_at + 5, 32); /* reader 2 = reader 1 */
    refused(F_MVP2, y.ptr, y.len, 0, MV_ERR_PARSE, 1, "record 1: the envelope is not a sealed MVE1/MVE2");
    RESET();
    y.len = el_at;
    app_u32(&y, 0);
    app(&y, g.ptr + el_at + 4 + x.env[0].len, g.len - el_at - 4 - x.env[0].len);
    refused(F_MVP2, y.ptr, y.len, 0, MV_ERR_PARSE, 0, "record 0: the envelope is not a sealed MVE1/MVE2");
    RESET();
    y.len = el_at;
    app_u32(&y, 5 + 112 + 12 + 15); /* one byte short of a nonce and a tag */
    app(&y, x.env[0].ptr, 5 + 112 + 12 + 15);
    app(&y, g.ptr + el_at + 4 + x.env[0].len, g.len - el_at - 4 - x.env[0].len);
    refused(F_MVP2, y.ptr, y.len, 0, MV_ERR_PARSE, 0, "record 0: the envelope is not a sealed MVE1/MVE2");
    RESET();
    y.ptr[el_at] = (uint8_t)(y.ptr[el_at] + 1); /* record 1 then starts a byte late */
    refused(F_MVP2, y.ptr, y.len, 0, MV_ERR_PARSE, 1, "MVP2 frame: record 1: ");
#undef RESET

    /* Writer caps: 4096 records at most; an envelope over 1 MiB; a bad department; rolled back. */
    mv_buf_reset(&e);
    mv_frame_records_begin(&w, &e);
    for (int i = 0; i < 4096; i++)
        mv_frame_records_add(&w, &in[0]);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    assert_int_equal(mv_frame_records_decode(e.ptr, e.len, &fr, NULL), MV_OK);
    assert_int_equal(fr.count, 4096);
    mv_buf_clear(&e);
    mv_buf_init(&e, 1u << 30);
    mv_frame_records_begin(&w, &e);
    for (int i = 0; i < 4097; i++)
        mv_frame_records_add(&w, &in[0]);
    assert_int_equal(mv_frame_end(&w), MV_ERR_TOO_LARGE);
    assert_int_equal(e.len, 0);
    mv_frame_record bad = in[0];
    bad.envelope_len = (1u << 20) + 1;
    mv_frame_records_begin(&w, &e);
    mv_frame_records_add(&w, &bad);
    assert_int_equal(mv_frame_end(&w), MV_ERR_TOO_LARGE);
    bad = in[0];
    bad.dept_len = 0;
    mv_frame_records_begin(&w, &e);
    mv_frame_records_add(&w, &bad);
    assert_int_equal(mv_frame_end(&w), MV_ERR_INVAL);
    bad = in[0];
    bad.n_tags = 0;
    mv_frame_records_begin(&w, &e);
    mv_frame_records_add(&w, &bad);
    assert_int_equal(mv_frame_end(&w), MV_ERR_INVAL);
    bad = in[0];
    bad.envelope = x.tags[0]; /* 32 bytes that are no envelope */
    bad.envelope_len = 32;
    mv_frame_records_begin(&w, &e);
    mv_frame_records_add(&w, &bad);
    assert_int_equal(mv_frame_end(&w), MV_ERR_INVAL);
    bad.envelope_len = 0;
    mv_frame_records_begin(&w, &e);
    mv_frame_records_add(&w, &bad);
    assert_int_equal(mv_frame_end(&w), MV_ERR_INVAL);
    mv_frame_records_begin(&w, &e);
    assert_int_equal(mv_frame_end(&w), MV_ERR_INVAL); /* no records */
    /* An item of another frame is a caller bug. */
    mv_frame_records_begin(&w, &e);
    mv_frame_records_get_add(&w, x.id[0]);
    assert_int_equal(mv_frame_end(&w), MV_ERR_INVAL);
    assert_int_equal(e.len, 0);
    mv_buf_clear(&y);
    mv_buf_clear(&g);
    mv_buf_clear(&e);
    p2_clear(&x);
}

/* ---------- MVA1 ---------- */

static void test_mva1(void **state)
{
    (void)state;
    uint8_t id[16], patient[32], readers[65][32];
    mv_buf env, g, e;
    mv_frame_access a, out;
    fill(id, 16, 1);
    fill(patient, 32, 2);
    for (int i = 0; i < 65; i++)
        fill(readers[i], 32, (uint8_t)(3 + i));
    mv_buf_init(&env, 1 << 20);
    mv_buf_init(&g, 1 << 20);
    mv_buf_init(&e, 1 << 20);
    sealed_envelope(id, 2, &env);

    /* Set the patient, two readers, a new envelope. */
    app(&g, "MVA1", 4);
    app_u8(&g, 1);
    app(&g, patient, 32);
    app_u8(&g, 2);
    app(&g, readers, 64);
    app_u32(&g, (uint32_t)env.len);
    app(&g, env.ptr, env.len);
    a = (mv_frame_access){.flags = MV_FRAME_ACCESS_SET_PATIENT, .patient = patient, .readers = readers[0],
                          .n_readers = 2, .envelope = env.ptr, .envelope_len = env.len};
    assert_int_equal(mv_frame_access_encode(&a, &e), MV_OK);
    assert_int_equal(e.len, g.len);
    assert_memory_equal(e.ptr, g.ptr, g.len);
    mv_mem_fail_after(0);
    assert_int_equal(mv_frame_access_decode(g.ptr, g.len, &out, NULL), MV_OK);
    mv_mem_fail_after(SIZE_MAX);
    assert_int_equal(out.flags, 1);
    assert_memory_equal(out.patient, patient, 32);
    assert_int_equal(out.n_readers, 2);
    assert_true(out.readers == g.ptr + 4 + 1 + 32 + 1);
    assert_int_equal(out.envelope_len, env.len);
    prefixes_and_trailing(F_MVA1, &g, 0);

    /* Keep the patient and the envelope, no readers: 42 bytes. */
    mv_buf_reset(&g);
    static const uint8_t zero[32] = {0};
    app(&g, "MVA1", 4);
    app_u8(&g, 0);
    app(&g, zero, 32);
    app_u8(&g, 0);
    app_u32(&g, 0);
    assert_int_equal(g.len, 42);
    mv_buf_reset(&e);
    a = (mv_frame_access){0};
    assert_int_equal(mv_frame_access_encode(&a, &e), MV_OK);
    assert_memory_equal(e.ptr, g.ptr, g.len);
    assert_int_equal(mv_frame_access_decode(g.ptr, g.len, &out, NULL), MV_OK);
    assert_null(out.readers);
    assert_null(out.envelope);
    prefixes_and_trailing(F_MVA1, &g, 0);

    /* Refusals: flags, a patient that disagrees with them, 65 readers, a long envelope. */
    g.ptr[4] = 2;
    refused(F_MVA1, g.ptr, g.len, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "unknown flags");
    g.ptr[4] = 1; /* set, but the patient is all zero */
    refused(F_MVA1, g.ptr, g.len, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "disagrees");
    g.ptr[4] = 0;
    g.ptr[10] = 1; /* not set, but a patient is given */
    refused(F_MVA1, g.ptr, g.len, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "disagrees");
    g.ptr[10] = 0;
    mv_buf_reset(&e);
    app(&e, g.ptr, 37);
    app_u8(&e, 65);
    app(&e, readers, sizeof readers);
    app_u32(&e, 0);
    refused(F_MVA1, e.ptr, e.len, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "too many readers");
    mv_buf_reset(&e);
    app(&e, g.ptr, 38);
    app_u32(&e, (1u << 20) + 1);
    refused(F_MVA1, e.ptr, e.len, 0, MV_ERR_TOO_LARGE, MV_FRAME_NO_ITEM, "envelope larger than 1 MiB");
    g.ptr[0] = 'm';
    refused(F_MVA1, g.ptr, g.len, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "MVA1 frame: bad magic");
    /* A new envelope that is not an MVE1 envelope (issue 11, finding 11). */
    mv_buf_reset(&e);
    app(&e, "MVA1", 4);
    app_u8(&e, 0);
    app(&e, zero, 32);
    app_u8(&e, 0);
    app_u32(&e, 200);
    for (int i = 0; i < 200; i++)
        app_u8(&e, 0x3c);
    refused(F_MVA1, e.ptr, e.len, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "the envelope is not a sealed MVE1/MVE2 envelope or MVK1 keyset");

    /* The encoder refuses the same, leaving out unchanged. */
    mv_buf_reset(&e);
    a = (mv_frame_access){.flags = 2};
    assert_int_equal(mv_frame_access_encode(&a, &e), MV_ERR_INVAL);
    a = (mv_frame_access){.flags = 1};
    assert_int_equal(mv_frame_access_encode(&a, &e), MV_ERR_INVAL);
    a = (mv_frame_access){.patient = patient};
    assert_int_equal(mv_frame_access_encode(&a, &e), MV_ERR_INVAL);
    a = (mv_frame_access){.readers = readers[0], .n_readers = 65};
    assert_int_equal(mv_frame_access_encode(&a, &e), MV_ERR_INVAL);
    a = (mv_frame_access){.envelope = env.ptr, .envelope_len = (1u << 20) + 1};
    assert_int_equal(mv_frame_access_encode(&a, &e), MV_ERR_TOO_LARGE);
    a = (mv_frame_access){.envelope = readers[0], .envelope_len = 32};
    assert_int_equal(mv_frame_access_encode(&a, &e), MV_ERR_INVAL);
    assert_int_equal(e.len, 0);
    mv_buf_clear(&env);
    mv_buf_clear(&g);
    mv_buf_clear(&e);
}

/* ---------- dupcheck ---------- */

static void test_dupcheck(void **state)
{
    (void)state;
    uint8_t t[2][32];
    mv_buf e;
    mv_frame_writer w;
    mv_frame_dupcheck d;
    mv_frame_fault f;
    fill(t[0], 32, 0xa0);
    fill(t[1], 32, 0x10);
    mv_buf_init(&e, 1 << 24);
    mv_frame_dupcheck_begin(&w, &e, "cardiology");
    mv_frame_dupcheck_add(&w, t[0]);
    mv_frame_dupcheck_add(&w, t[1]);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    char want[256], h0[65], h1[65];
    for (int i = 0; i < 32; i++) {
        snprintf(h0 + 2 * i, 3, "%02x", t[0][i]);
        snprintf(h1 + 2 * i, 3, "%02x", t[1][i]);
    }
    snprintf(want, sizeof want, "{\"department\":\"cardiology\",\"tokens\":[\"%s\",\"%s\"]}", h0, h1);
    assert_string_equal((const char *)e.ptr, want);
    assert_int_equal(mv_frame_dupcheck_decode(e.ptr, e.len, &d, NULL), MV_OK);
    assert_string_equal(d.dept, "cardiology");
    assert_int_equal(d.n_tokens, 2);
    assert_memory_equal(d.tokens, t, 64);
    mv_frame_dupcheck_clear(&d);
    assert_null(d.tokens);
    /* No tokens at all is a valid (empty) question; other members are ignored. */
    static const char empty[] = "{\"tokens\":[],\"department\":\"x\",\"note\":1}";
    assert_int_equal(mv_frame_dupcheck_decode((const uint8_t *)empty, sizeof empty - 1, &d, NULL), MV_OK);
    assert_int_equal(d.n_tokens, 0);
    mv_frame_dupcheck_clear(&d);

    /* Refusals name the token at fault; nothing is left allocated. */
    static const struct {
        const char *body;
        size_t item;
        const char *what;
    } bad[] = {
        {"not json", MV_FRAME_NO_ITEM, "not a JSON object"},
        {"[1]", MV_FRAME_NO_ITEM, "not a JSON object"},
        {"{\"tokens\":[]}", MV_FRAME_NO_ITEM, "\"department\" must be"},
        {"{\"department\":\"\",\"tokens\":[]}", MV_FRAME_NO_ITEM, "\"department\" must be"},
        {"{\"department\":\"a\\u0000b\",\"tokens\":[]}", MV_FRAME_NO_ITEM, "\"department\" must be"},
        {"{\"department\":7,\"tokens\":[]}", MV_FRAME_NO_ITEM, "\"department\" must be"},
        {"{\"department\":\"x\"}", MV_FRAME_NO_ITEM, "\"tokens\" must be an array"},
        {"{\"department\":\"x\",\"tokens\":{}}", MV_FRAME_NO_ITEM, "\"tokens\" must be an array"},
        {"{\"department\":\"x\",\"tokens\":[\"00\"]}", 0, "token 0: not 32 bytes of hex"},
        {"{\"department\":\"x\",\"tokens\":[7]}", 0, "token 0: not 32 bytes of hex"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&d, 0x5a, sizeof d);
        refused(F_DUPCHECK, (const uint8_t *)bad[i].body, strlen(bad[i].body), 0, MV_ERR_PARSE, bad[i].item,
                bad[i].what);
        assert_int_equal(mv_frame_dupcheck_decode((const uint8_t *)bad[i].body, strlen(bad[i].body), &d, &f),
                         MV_ERR_PARSE);
        assert_null(d.tokens);
        assert_int_equal(d.n_tokens, 0);
    }
    char body2[300];
    snprintf(body2, sizeof body2, "{\"department\":\"x\",\"tokens\":[\"%s\",\"%sff\"]}", h0, h0);
    refused(F_DUPCHECK, (const uint8_t *)body2, strlen(body2), 0, MV_ERR_PARSE, 1, "token 1");
    /* 100000 tokens is the cap on both sides. */
    mv_buf_reset(&e);
    mv_frame_dupcheck_begin(&w, &e, "x");
    for (int i = 0; i < 100000; i++)
        mv_frame_dupcheck_add(&w, t[0]);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    assert_int_equal(mv_frame_dupcheck_decode(e.ptr, e.len, &d, NULL), MV_OK);
    assert_int_equal(d.n_tokens, 100000);
    mv_frame_dupcheck_clear(&d);
    e.len -= 2;
    app(&e, ",\"", 2);
    app(&e, h0, 64);
    app(&e, "\"]}", 3);
    refused(F_DUPCHECK, e.ptr, e.len, 0, MV_ERR_PARSE, MV_FRAME_NO_ITEM, "too many tokens");
    mv_buf_reset(&e);
    mv_frame_dupcheck_begin(&w, &e, "x");
    for (int i = 0; i < 100001; i++)
        mv_frame_dupcheck_add(&w, t[0]);
    assert_int_equal(mv_frame_end(&w), MV_ERR_TOO_LARGE);
    assert_int_equal(e.len, 0);
    mv_frame_dupcheck_begin(&w, &e, "");
    assert_int_equal(mv_frame_end(&w), MV_ERR_INVAL);

    /* Every allocation failing in turn: MV_ERR_NOMEM, nothing left allocated (ASan checks). */
    mv_buf_reset(&e);
    mv_frame_dupcheck_begin(&w, &e, "cardiology");
    mv_frame_dupcheck_add(&w, t[0]);
    mv_frame_dupcheck_add(&w, t[1]);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    for (size_t n = 0;; n++) {
        mv_mem_fail_after(n);
        mv_err rc = mv_frame_dupcheck_decode(e.ptr, e.len, &d, NULL);
        mv_mem_fail_after(SIZE_MAX);
        if (rc == MV_OK) {
            mv_frame_dupcheck_clear(&d);
            break;
        }
        assert_int_equal(rc, MV_ERR_NOMEM);
        assert_null(d.tokens);
        assert_true(n < 1000);
    }
    mv_buf_clear(&e);
}

/* ---------- fault text ---------- */

static void test_fault_text(void **state)
{
    (void)state;
    char t[64];
    mv_frame_fault f = {"MVP2 frame", "record", 3, "no tags"};
    mv_frame_fault_text(&f, t, sizeof t);
    assert_string_equal(t, "MVP2 frame: record 3: no tags");
    f.item = MV_FRAME_NO_ITEM;
    f.what = "bad magic";
    mv_frame_fault_text(&f, t, sizeof t);
    assert_string_equal(t, "MVP2 frame: bad magic");
    mv_frame_fault_text(NULL, t, sizeof t);
    assert_string_equal(t, "malformed frame");
    mv_frame_fault_text(&f, t, 5);
    assert_string_equal(t, "MVP2");
}

/* ---------- the fuzz target's seed corpus ---------- */

typedef struct seed {
    const char *name;
    which frame;
    uint32_t expect; /* answers: the count asked */
    mv_err rc;       /* what the frame's decoder says */
    mv_buf b;
} seed;

#define MAX_SEEDS 48

/* Builds every seed: valid frames from the real encoders, then broken ones derived from them
 * (truncated, trailing bytes, zero and huge counts, caps exceeded). */
static size_t build_seeds(seed *s)
{
    size_t n = 0;
    mv_frame_writer w;
    uint8_t tok[32], tag[32], data[100], nonce[16], resp[32], id[16], patient[32];
    fill(id, 16, 0x21);
    fill(patient, 32, 0x22);
#define NEW(nm, fr, ex, r)                                                                                      \
    (s[n].name = (nm), s[n].frame = (fr), s[n].expect = (ex), s[n].rc = (r), mv_buf_init(&s[n].b, 1u << 24),  \
     &s[n++].b)
#define DERIVE(nm, from, r) (app(NEW(nm, (from)->frame, (from)->expect, r), (from)->b.ptr, (from)->b.len), &s[n - 1])
    /* MVB1 */
    mv_buf g;
    mv_buf_init(&g, 1 << 20);
    mvb1_golden(&g, tok, tag, data, nonce, resp);
    app(NEW("mvb1-upload-proof", F_MVB1, 0, MV_OK), g.ptr, g.len);
    mv_buf_clear(&g);
    seed *v = &s[n - 1];
    DERIVE("mvb1-truncated", v, MV_ERR_PARSE)->b.len -= 7;
    app(&DERIVE("mvb1-trailing", v, MV_ERR_PARSE)->b, "!", 1);
    memset(DERIVE("mvb1-huge-count", v, MV_ERR_PARSE)->b.ptr + 15, 0xff, 4);
    memset(DERIVE("mvb1-zero-count", v, MV_ERR_PARSE)->b.ptr + 15, 0, 4);
    DERIVE("mvb1-unknown-kind", v, MV_ERR_PARSE)->b.ptr[19] = 9;
    seed *tl = DERIVE("mvb1-block-too-large", v, MV_ERR_TOO_LARGE);
    tl->b.ptr[15] = 1;
    tl->b.len = 84;
    app_u32(&tl->b, (8u << 20) + 1);
    /* MVG1 / MVQ1 requests and answers */
    mv_buf *b = NEW("mvg1-request", F_MVG1, 0, MV_OK);
    mv_frame_blocks_get_begin(&w, b);
    mv_frame_blocks_get_add(&w, tag);
    mv_frame_blocks_get_add(&w, tok);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    v = &s[n - 1];
    memset(DERIVE("mvg1-request-zero", v, MV_ERR_PARSE)->b.ptr + 4, 0, 4);
    b = NEW("mvg1-request-4097", F_MVG1, 0, MV_ERR_PARSE);
    app(b, "MVG1", 4);
    app_u32(b, 4097);
    for (int i = 0; i < 4097; i++)
        app(b, tag, 32);
    b = NEW("mvg1-answer", F_MVG1_ANSWER, 2, MV_OK);
    mv_frame_blocks_answer_begin(&w, b);
    mv_frame_answer_open(&w);
    app(b, data, sizeof data);
    mv_frame_answer_close(&w, MV_FRAME_BLOCK_FOUND);
    mv_frame_answer_open(&w);
    mv_frame_answer_close(&w, MV_FRAME_BLOCK_ABSENT);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    v = &s[n - 1];
    app(&DERIVE("mvg1-answer-trailing", v, MV_ERR_PARSE)->b, "\0", 1);
    b = NEW("mvq1-request", F_MVQ1, 0, MV_OK);
    mv_frame_records_get_begin(&w, b);
    mv_frame_records_get_add(&w, id);
    mv_frame_records_get_add(&w, patient);
    mv_frame_records_get_add(&w, tag);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    v = &s[n - 1];
    DERIVE("mvq1-request-mismatch", v, MV_ERR_PARSE)->b.ptr[4] = 4;
    b = NEW("mvq1-answer", F_MVQ1_ANSWER, 3, MV_OK);
    mv_frame_records_answer_begin(&w, b);
    mv_frame_answer_open(&w);
    app(b, data, 60);
    mv_frame_answer_close(&w, MV_FRAME_RECORD_OK);
    mv_frame_answer_open(&w);
    mv_frame_answer_close(&w, MV_FRAME_RECORD_NOT_FOUND);
    mv_frame_answer_open(&w);
    mv_frame_answer_close(&w, MV_FRAME_RECORD_FORBIDDEN);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    v = &s[n - 1];
    DERIVE("mvq1-answer-bad-status", v, MV_ERR_PARSE)->b.ptr[8] = 7;
    /* MVP2 */
    p2 x;
    mv_frame_record rec[2];
    p2_init(&x);
    p2_records(&x, rec);
    b = NEW("mvp2-two", F_MVP2, 0, MV_OK);
    mv_frame_records_begin(&w, b);
    mv_frame_records_add(&w, &rec[0]);
    mv_frame_records_add(&w, &rec[1]);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    v = &s[n - 1];
    DERIVE("mvp2-truncated", v, MV_ERR_PARSE)->b.len -= 1;
    app(&DERIVE("mvp2-trailing", v, MV_ERR_PARSE)->b, "\x01", 1);
    memset(DERIVE("mvp2-zero-count", v, MV_ERR_PARSE)->b.ptr + 4, 0, 4);
    memset(DERIVE("mvp2-huge-count", v, MV_ERR_PARSE)->b.ptr + 4, 0xff, 4);
    /* Finding 11 of issue 11: no tags; an envelope that is not one. Record 0 starts at 8, its
     * n_tags at 86, its one tag at 90, its env_len at 122. */
    b = NEW("mvp2-zero-tags", F_MVP2, 0, MV_ERR_PARSE);
    app(b, v->b.ptr, 86);
    app_u32(b, 0);
    app(b, v->b.ptr + 122, v->b.len - 122);
    memset(DERIVE("mvp2-garbage-envelope", v, MV_ERR_PARSE)->b.ptr + 126, 0x3c, 8);
    p2_clear(&x);
    /* MVA1 */
    mv_buf env;
    mv_buf_init(&env, 1 << 20);
    sealed_envelope(id, 2, &env);
    mv_frame_access a = {.flags = MV_FRAME_ACCESS_SET_PATIENT, .patient = patient, .readers = tok, .n_readers = 1,
                         .envelope = env.ptr, .envelope_len = env.len};
    assert_int_equal(mv_frame_access_encode(&a, NEW("mva1-set-patient", F_MVA1, 0, MV_OK)), MV_OK);
    v = &s[n - 1];
    DERIVE("mva1-bad-flags", v, MV_ERR_PARSE)->b.ptr[4] = 3;
    memset(DERIVE("mva1-garbage-envelope", v, MV_ERR_PARSE)->b.ptr + 4 + 1 + 32 + 1 + 32 + 4, 0x3c, 8);
    a = (mv_frame_access){0};
    assert_int_equal(mv_frame_access_encode(&a, NEW("mva1-keep", F_MVA1, 0, MV_OK)), MV_OK);
    v = &s[n - 1];
    DERIVE("mva1-65-readers", v, MV_ERR_PARSE)->b.ptr[37] = 65;
    mv_buf_clear(&env);
    /* dupcheck */
    b = NEW("dupcheck-two", F_DUPCHECK, 0, MV_OK);
    mv_frame_dupcheck_begin(&w, b, "cardiology");
    mv_frame_dupcheck_add(&w, tok);
    mv_frame_dupcheck_add(&w, tag);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    v = &s[n - 1];
    DERIVE("dupcheck-bad-token", v, MV_ERR_PARSE)->b.ptr[b->len - 4] = 'x';
    app(NEW("dupcheck-empty", F_DUPCHECK, 0, MV_ERR_PARSE), "{}", 2);
#undef NEW
#undef DERIVE
    assert_true(n <= MAX_SEEDS);
    return n;
}

/* Decision 0010: a keyset record names no block and carries an MVK1 envelope; any other record
 * names blocks and carries MVE1 or MVE2. Reader and decoder agree; MVA1 takes all three. */
static void test_keyset_records(void **state)
{
    (void)state;
    static const uint8_t id[16] = {3}, kid[16] = {4}, tag[32] = {5};
    uint8_t K[32], pk[32], sk[32];
    mv_buf ks, e2, e1, f;
    mv_frame_writer w;
    mv_frame_records fr;
    mv_frame_iter it;
    mv_frame_record out;
    mv_record r;
    mv_block_ref ref;
    memset(K, 9, sizeof K);
    assert_int_equal(mv_box_keypair(pk, sk), MV_OK);
    mv_buf_init(&ks, 1 << 20);
    mv_buf_init(&e2, 1 << 20);
    mv_buf_init(&e1, 1 << 20);
    mv_buf_init(&f, 1 << 22);
    assert_int_equal(mv_keyset_seal(K, pk, 1, &ks), MV_OK);
    mv_record_init(&r);
    r.kind = MV_RECORD_ATTACHMENT;
    memset(&ref, 0, sizeof ref);
    ref.cipher_len = 40;
    assert_int_equal(mv_record_add_block(&r, &ref), MV_OK);
    assert_int_equal(mv_envelope2_seal(id, &r, kid, K, &e2), MV_OK);
    sealed_envelope(id, 1, &e1);
    mv_frame_record keyset = {.id = kid, .dept = "cardiology", .dept_len = 10, .envelope = ks.ptr,
                              .envelope_len = ks.len};
    mv_frame_record rec = {.id = id, .dept = "cardiology", .dept_len = 10, .tags = tag, .n_tags = 1,
                           .envelope = e2.ptr, .envelope_len = e2.len};
    mv_frame_records_begin(&w, &f);
    mv_frame_records_add(&w, &keyset);
    mv_frame_records_add(&w, &rec);
    assert_int_equal(mv_frame_end(&w), MV_OK);
    assert_int_equal(mv_frame_records_decode(f.ptr, f.len, &fr, NULL), MV_OK);
    mv_frame_records_iter(&fr, &it);
    assert_int_equal(mv_frame_records_next(&it, &out), 1);
    assert_int_equal(out.n_tags, 0);
    assert_int_equal(out.envelope_len, ks.len);
    assert_int_equal(mv_frame_records_next(&it, &out), 1);
    assert_int_equal(out.n_tags, 1);
    assert_memory_equal(out.envelope, e2.ptr, e2.len);
    /* A keyset with a tag, a record (MVE1 or MVE2) without one: the writer refuses. */
    mv_frame_record bad[3] = {keyset, rec, rec};
    bad[0].tags = tag;
    bad[0].n_tags = 1;
    bad[1].tags = NULL;
    bad[1].n_tags = 0;
    bad[2].tags = NULL;
    bad[2].n_tags = 0;
    bad[2].envelope = e1.ptr;
    bad[2].envelope_len = e1.len;
    for (int i = 0; i < 3; i++) {
        mv_buf_reset(&f);
        mv_frame_records_begin(&w, &f);
        mv_frame_records_add(&w, &bad[i]);
        assert_int_equal(mv_frame_end(&w), MV_ERR_INVAL);
    }
    /* ... and so does the decoder (frames written by hand). */
    for (int i = 0; i < 2; i++) {
        mv_buf_reset(&f);
        app(&f, "MVP2", 4);
        app_u32(&f, 1);
        app(&f, id, 16);
        app_u8(&f, 10);
        app(&f, "cardiology", 10);
        static const uint8_t zero[48] = {0};
        app(&f, zero, 48); /* patient, episode */
        app(&f, zero, 2);  /* no delegation */
        app_u8(&f, 0);     /* no readers */
        app_u32(&f, i == 0 ? 1 : 0);
        if (i == 0)
            app(&f, tag, 32);
        const mv_buf *env = i == 0 ? &ks : &e2;
        app_u32(&f, (uint32_t)env->len);
        app(&f, env->ptr, env->len);
        refused(F_MVP2, f.ptr, f.len, 0, MV_ERR_PARSE, 0,
                i == 0 ? "record 0: a keyset (MVK1 envelope) names no tags" : "record 0: no tags (a record names");
    }
    /* MVA1 carries any of the three (the storage server matches the kind to the record). */
    const mv_buf *envs[3] = {&ks, &e2, &e1};
    for (int i = 0; i < 3; i++) {
        mv_frame_access a = {.envelope = envs[i]->ptr, .envelope_len = envs[i]->len}, back;
        mv_buf_reset(&f);
        assert_int_equal(mv_frame_access_encode(&a, &f), MV_OK);
        assert_int_equal(mv_frame_access_decode(f.ptr, f.len, &back, NULL), MV_OK);
        assert_int_equal(back.envelope_len, envs[i]->len);
    }
    mv_record_clear(&r);
    mv_buf_clear(&ks);
    mv_buf_clear(&e2);
    mv_buf_clear(&e1);
    mv_buf_clear(&f);
    mv_wipe(sk, sizeof sk);
}

static void test_corpus(void **state)
{
    (void)state;
    seed *s = mv_calloc(MAX_SEEDS, sizeof *s);
    assert_non_null(s);
    size_t n = build_seeds(s);
    const char *write_to = getenv("MV_FRAMES_WRITE_CORPUS");
    const char *fuzz = getenv("MV_FUZZ_DIR");
    char dir[1024], path[1200];
    if (write_to)
        snprintf(dir, sizeof dir, "%s", write_to);
    else if (fuzz)
        snprintf(dir, sizeof dir, "%s/corpus/frames", fuzz);
    else
        skip();
    for (size_t i = 0; i < n; i++) {
        /* Each seed is what its decoder says it is. */
        assert_int_equal(decode(s[i].frame, s[i].b.ptr, s[i].b.len, s[i].expect, NULL), s[i].rc);
        snprintf(path, sizeof path, "%s/%s", dir, s[i].name);
        if (write_to) {
            assert_int_equal(mv_file_write_atomic(path, s[i].b.ptr, s[i].b.len, 0644), MV_OK);
        } else {
            /* The committed seed decodes the same way (its envelopes are random, so the bytes
             * are compared only where the encoders are deterministic). */
            mv_buf f;
            mv_buf_init(&f, 1u << 24);
            assert_int_equal(mv_file_read(path, 1u << 24, &f), MV_OK);
            assert_int_equal(decode(s[i].frame, f.ptr, f.len, s[i].expect, NULL), s[i].rc);
            if (s[i].frame != F_MVP2 && s[i].frame != F_MVA1) {
                assert_int_equal(f.len, s[i].b.len);
                assert_memory_equal(f.ptr, s[i].b.ptr, f.len);
            }
            mv_buf_clear(&f);
        }
        mv_buf_clear(&s[i].b);
    }
    mv_free(s);
}

int main(void)
{
    if (mv_crypto_init() != MV_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mvb1),     cmocka_unit_test(test_batched_gets), cmocka_unit_test(test_mvp2),
        cmocka_unit_test(test_mva1),     cmocka_unit_test(test_dupcheck),     cmocka_unit_test(test_fault_text),
        cmocka_unit_test(test_keyset_records), cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
