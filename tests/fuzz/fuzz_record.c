/* fuzz_record.c - fuzz target for mv_record_decode (the record inside an envelope).
 *
 * Properties (abort on violation): decoding never crashes, leaks or over-reads; a failure is
 * MV_ERR_PARSE or MV_ERR_TOO_LARGE and leaves the record empty; whatever decodes satisfies the
 * documented caps and rules, and re-encodes to exactly the input bytes (the encoding is
 * canonical: minimal varints, no trailing bytes), which decode again to the same record. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_record.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mv_record r, again;
    mv_buf enc;
    mv_record_init(&r);
    mv_record_init(&again);
    mv_err rc = mv_record_decode(data, size, &r);
    if (rc != MV_OK) {
        CHECK(rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE);
        CHECK(r.n_blocks == 0 && r.blocks == NULL && r.name == NULL && r.skeleton == NULL);
        return 0;
    }
    CHECK(r.kind == MV_RECORD_FHIR || r.kind == MV_RECORD_ATTACHMENT);
    CHECK(r.name_len <= MV_RECORD_NAME_MAX && r.skeleton_len <= MV_RECORD_SKELETON_MAX);
    CHECK(r.n_blocks <= MV_RECORD_BLOCKS_MAX);
    CHECK(r.kind == MV_RECORD_FHIR || r.skeleton_len == 0);
    for (size_t i = 0; i < r.n_blocks; i++) {
        CHECK(r.blocks[i].cipher_len >= 16);
        CHECK(r.kind == MV_RECORD_FHIR || r.blocks[i].slot == i);
    }
    mv_buf_init(&enc, size + 1);
    CHECK(mv_record_encode(&r, &enc) == MV_OK);
    CHECK(enc.len == size && memcmp(enc.ptr, data, size) == 0);
    CHECK(mv_record_decode(enc.ptr, enc.len, &again) == MV_OK);
    CHECK(again.n_blocks == r.n_blocks && again.created == r.created);
    mv_record_clear(&again);
    mv_record_clear(&r);
    mv_buf_clear(&enc);
    return 0;
}
