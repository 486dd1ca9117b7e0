/* fuzz_group_frames.c - fuzz target for the group operation frames (net/group_frames.h): MVGO
 * (mv_group_op_decode), MVGC and MVGR (mv_group_content_decode with and without tokens).
 *
 * Properties (abort on violation): decoding never crashes or over-reads; a failure is
 * MV_ERR_PARSE or MV_ERR_TOO_LARGE; whatever decodes satisfies the caps and re-encodes to
 * exactly the input bytes (the formats have no slack). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_buf.h"
#include "net/group_frames.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void content_roundtrip(const uint8_t *data, size_t size, int with_tokens)
{
    mv_group_content c;
    mv_group_block b;
    mv_buf enc;
    mv_err rc = mv_group_content_decode(data, size, with_tokens, &c, NULL);
    if (rc != MV_OK) {
        CHECK(rc == MV_ERR_PARSE);
        return;
    }
    CHECK(c.n_blocks <= MV_GROUP_MAX_BLOCKS && c.envelope_len <= MV_STORE_MAX_ENVELOPE);
    mv_buf_init(&enc, size + 64);
    rc = with_tokens ? mv_group_content_begin(&enc, c.envelope, c.envelope_len, c.n_blocks)
                     : mv_group_answer_begin(&enc, &c, c.envelope, c.envelope_len, c.n_blocks);
    CHECK(rc == MV_OK);
    uint32_t n = 0;
    while (mv_group_blocks_next(&c, &b)) {
        CHECK(b.len <= MV_STORE_MAX_BLOCK && (b.token != NULL) == (with_tokens != 0));
        CHECK(b.len >= 1 ? b.data != NULL : with_tokens && b.data == NULL);
        CHECK(mv_group_content_block(&enc, b.token, b.tag, b.data, b.len) == MV_OK);
        n++;
    }
    CHECK(n == c.n_blocks && enc.len == size && memcmp(enc.ptr, data, size) == 0);
    mv_buf_clear(&enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mv_group_op_frame f;
    mv_err rc = mv_group_op_decode(data, size, &f, NULL);
    if (rc != MV_OK) {
        CHECK(rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE);
    } else {
        mv_buf enc;
        CHECK(f.op >= 1 && f.op <= 5 && f.sig_len >= 1 && f.sig_len <= MV_RING_SIG_MAX_BYTES);
        mv_buf_init(&enc, size + 64);
        CHECK(mv_group_op_encode(&f, &enc) == MV_OK);
        CHECK(enc.len == size && memcmp(enc.ptr, data, size) == 0);
        mv_buf_clear(&enc);
    }
    content_roundtrip(data, size, 1);
    content_roundtrip(data, size, 0);
    return 0;
}
