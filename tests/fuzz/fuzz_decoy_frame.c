/* fuzz_decoy_frame.c - fuzz target for the decoy cloud's frame decoders (mv_decoy.h): MVX2 and
 * MVX1 (mv_decoy_forward_decode), MVH2 and MVH1 (mv_decoy_shapes_decode) and a bare shape of
 * either version.
 *
 * Properties (abort on violation): decoding never crashes, leaks or over-reads; a failure is
 * MV_ERR_PARSE or MV_ERR_TOO_LARGE and leaves nothing allocated; whatever decodes satisfies the
 * documented caps and re-encodes to exactly the input bytes (the formats have no slack), a
 * version-1 frame to the version-2 frame that decodes to the same shapes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_decoy.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_shape(const mv_decoy_shape *s)
{
    CHECK(s->kind <= MV_DECOY_MVK1);
    if (s->kind == MV_DECOY_MVE2)
        CHECK(s->n_readers < MV_DECOY_MAX_READERS);
    else
        CHECK(s->n_readers >= 1 && s->n_readers <= MV_DECOY_MAX_READERS);
    if (s->kind == MV_DECOY_MVK1)
        CHECK(s->n_blocks == 0 && memcmp(s->kid, s->id, 16) == 0);
    CHECK(s->n_blocks <= MV_DECOY_MAX_BLOCKS);
    CHECK(s->n_blocks == 0 || s->block_len != NULL);
    CHECK(strlen(s->department) <= MV_DECOY_DEPT_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mv_buf enc;
    mv_buf_init(&enc, 2 * size + 64); /* a version-1 frame re-encodes 2 bytes longer per shape */
    /* MVX2, MVX1 */
    mv_decoy_forward f;
    mv_decoy_forward_init(&f);
    mv_err rc = mv_decoy_forward_decode(data, size, &f);
    if (rc != MV_OK) {
        CHECK(rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE);
        CHECK(f.shapes == NULL && f.n_shapes == 0);
    } else {
        CHECK(f.reason >= 1 && f.reason <= 6 && f.path_len >= 1 && strlen(f.method) >= 1);
        for (size_t i = 0; i < f.n_shapes; i++)
            check_shape(&f.shapes[i]);
        CHECK(mv_decoy_forward_encode(&f, &enc) == MV_OK);
        if (memcmp(data, "MVX2", 4) == 0) {
            CHECK(enc.len == size && memcmp(enc.ptr, data, size) == 0);
        } else { /* MVX1: 2 bytes more per shape, the same frame otherwise */
            CHECK(enc.len == size + 2 * f.n_shapes && memcmp(enc.ptr, "MVX2", 4) == 0);
            mv_decoy_forward g;
            mv_decoy_forward_init(&g);
            CHECK(mv_decoy_forward_decode(enc.ptr, enc.len, &g) == MV_OK && g.n_shapes == f.n_shapes);
            mv_decoy_forward_clear(&g);
        }
        mv_decoy_forward_clear(&f);
    }
    /* MVH2, MVH1 */
    mv_decoy_shape *shapes = NULL;
    size_t n = 0;
    rc = mv_decoy_shapes_decode(data, size, &shapes, &n);
    if (rc != MV_OK) {
        CHECK(rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE);
        CHECK(shapes == NULL && n == 0);
    } else {
        for (size_t i = 0; i < n; i++)
            check_shape(&shapes[i]);
        mv_buf_reset(&enc);
        CHECK(mv_decoy_shapes_encode(shapes, n, &enc) == MV_OK);
        if (memcmp(data, "MVH2", 4) == 0)
            CHECK(enc.len == size && memcmp(enc.ptr, data, size) == 0);
        else
            CHECK(enc.len == size + 2 * n && memcmp(enc.ptr, "MVH2", 4) == 0);
        mv_decoy_shapes_free(shapes, n);
    }
    /* A bare shape (a prefix of the input) */
    mv_decoy_shape s;
    size_t used = 0;
    mv_decoy_shape_init(&s);
    rc = mv_decoy_shape_decode(data, size, &used, &s);
    if (rc != MV_OK) {
        CHECK(rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE);
        CHECK(s.block_len == NULL && used == 0);
    } else {
        check_shape(&s);
        CHECK(used <= size);
        mv_buf_reset(&enc);
        CHECK(mv_decoy_shape_encode(&s, &enc) == MV_OK);
        CHECK(enc.len == used && memcmp(enc.ptr, data, used) == 0);
        mv_decoy_shape_clear(&s);
    }
    rc = mv_decoy_shape_decode_v1(data, size, &used, &s);
    if (rc != MV_OK) {
        CHECK(rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE);
        CHECK(s.block_len == NULL && used == 0);
    } else {
        check_shape(&s);
        CHECK(used <= size && s.kind == MV_DECOY_MVE1);
        mv_buf_reset(&enc);
        CHECK(mv_decoy_shape_encode(&s, &enc) == MV_OK);
        CHECK(enc.len == used + 2 && memcmp(enc.ptr + 2, data, used) == 0);
        mv_decoy_shape_clear(&s);
    }
    mv_buf_clear(&enc);
    return 0;
}
