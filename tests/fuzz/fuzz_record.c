/* fuzz_record.c - fuzz target for mv_record_decode (the record inside an envelope) and for
 * the envelope framings (MVE1, MVE2, MVK1: mv_envelope_kind_of, mv_envelope_readers and the
 * openers, which parse before any key is used).
 *
 * Properties (abort on violation): decoding never crashes, leaks or over-reads; a failure is
 * MV_ERR_PARSE or MV_ERR_TOO_LARGE and leaves the record empty; whatever decodes satisfies the
 * documented caps and rules, and an MVR2 input re-encodes to exactly the input bytes (the
 * encoding is canonical: minimal varints, one packing per skeleton, no trailing bytes); any
 * decoded record encodes (as MVR2) and decodes again to the same record. Packed skeletons:
 * the input itself, taken as a skeleton, comes back byte for byte through encode and decode
 * (the packing is exact for every byte string).
 * Envelopes: the kind and the entry list agree with the documented framing (exact MVK1
 * length, MVE2 header and room for nonce and tag, distinct keys, counts in range); removing
 * the first entry gives a framing of the same kind with one entry less; a key that is no
 * reader's never opens anything (FORBIDDEN, or VERIFY for MVE2 under a guessed K). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_box.h"
#include "medvault/mv_buf.h"
#include "medvault/mv_record.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A reader key pair nobody's envelope names (fixed, so a run is reproducible). */
static uint8_t fz_pk[32], fz_sk[32];
static int fz_init;

static void fuzz_envelope(const uint8_t *data, size_t size)
{
    static const uint8_t id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    static const uint8_t K[32] = {7};
    uint8_t pks[64 * 32], kid[16], key[32];
    size_t n = 0;
    mv_envelope_kind kind = 0;
    mv_record r;
    mv_buf out;
    if (!fz_init) {
        for (size_t i = 0; i < 32; i++)
            fz_sk[i] = (uint8_t)(i * 13 + 1);
        static const uint8_t base[32] = {9}; /* the X25519 base point, u = 9 */
        CHECK(mv_x25519(fz_pk, fz_sk, base) == MV_OK);
        fz_init = 1;
    }
    mv_err rk = mv_envelope_kind_of(data, size, &kind, kid);
    mv_err rr = mv_envelope_readers(data, size, pks, 64, &n);
    CHECK((rk == MV_OK) == (rr == MV_OK));
    if (rk != MV_OK) {
        CHECK(rk == MV_ERR_PARSE && rr == MV_ERR_PARSE && n == 0);
        return;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            CHECK(memcmp(pks + 32 * i, pks + 32 * j, 32) != 0);
    mv_record_init(&r);
    if (kind == MV_ENVELOPE_MVK1) {
        CHECK(n >= 1 && n <= MV_KEYSET_MAX_READERS && size == 5 + n * MV_ENVELOPE_ENTRY_BYTES);
        CHECK(memcmp(data, "MVK1", 4) == 0);
        CHECK(mv_envelope_open(id, data, size, fz_pk, fz_sk, &r) == MV_ERR_PARSE);
    } else if (kind == MV_ENVELOPE_MVE2) {
        CHECK(n <= MV_ENVELOPE2_MAX_EXTRA && size >= MV_ENVELOPE2_FIXED_BYTES + n * MV_ENVELOPE_ENTRY_BYTES);
        CHECK(memcmp(data, "MVE2", 4) == 0 && memcmp(kid, data + 4, 16) == 0 && data[20] == n);
        CHECK(mv_envelope2_open(id, data, size, K, &r) == MV_ERR_VERIFY);
        CHECK(r.n_blocks == 0);
    } else {
        CHECK(kind == MV_ENVELOPE_MVE1);
        CHECK(n >= 1 && n <= MV_ENVELOPE_MAX_READERS && size >= 5 + n * MV_ENVELOPE_ENTRY_BYTES + 28);
    }
    if (kind != MV_ENVELOPE_MVK1) {
        int mine = 0;
        for (size_t i = 0; i < n; i++)
            mine |= memcmp(pks + 32 * i, fz_pk, 32) == 0;
        if (!mine)
            CHECK(mv_envelope_open(id, data, size, fz_pk, fz_sk, &r) == MV_ERR_FORBIDDEN);
    } else if (mv_keyset_open(data, size, fz_pk, fz_sk, key) == MV_OK) {
        CHECK(0); /* only a wrap made for fz_pk opens, and no corpus holds one */
    }
    mv_record_clear(&r);
    if (n) {
        mv_buf_init(&out, size);
        mv_err rc = mv_envelope_remove_reader(data, size, pks, &out);
        if (n == 1 && kind != MV_ENVELOPE_MVE2) {
            CHECK(rc == MV_ERR_BAD_STATE && out.len == 0);
        } else {
            size_t m = 0;
            mv_envelope_kind k2 = 0;
            CHECK(rc == MV_OK && out.len == size - MV_ENVELOPE_ENTRY_BYTES);
            CHECK(mv_envelope_kind_of(out.ptr, out.len, &k2, NULL) == MV_OK && k2 == kind);
            CHECK(mv_envelope_readers(out.ptr, out.len, NULL, 0, &m) != MV_ERR_PARSE && m == n - 1);
        }
        mv_buf_clear(&out);
    }
}

/* decode(encode(x)) == x for the skeleton x = data. */
static void fuzz_skeleton(const uint8_t *data, size_t size)
{
    mv_record r, back;
    mv_buf enc;
    if (size > MV_RECORD_SKELETON_MAX)
        return;
    mv_record_init(&r);
    mv_record_init(&back);
    mv_buf_init(&enc, 2 * size + 64);
    CHECK(mv_record_set_skeleton(&r, data, size) == MV_OK);
    CHECK(mv_record_encode(&r, &enc) == MV_OK);
    CHECK(mv_record_decode(enc.ptr, enc.len, &back) == MV_OK);
    CHECK(back.skeleton_len == size && (size == 0 || memcmp(back.skeleton, data, size) == 0));
    mv_record_clear(&back);
    mv_record_clear(&r);
    mv_buf_clear(&enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mv_record r, again;
    mv_buf enc;
    mv_record_init(&r);
    mv_record_init(&again);
    fuzz_envelope(data, size);
    fuzz_skeleton(data, size);
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
    mv_buf_init(&enc, 2 * size + 64); /* an MVR1 skeleton may pack to twice its length */
    CHECK(mv_record_encode(&r, &enc) == MV_OK);
    if (size >= 4 && memcmp(data, "MVR2", 4) == 0)
        CHECK(enc.len == size && memcmp(enc.ptr, data, size) == 0);
    else
        CHECK(size >= 4 && memcmp(data, "MVR1", 4) == 0);
    CHECK(mv_record_decode(enc.ptr, enc.len, &again) == MV_OK);
    CHECK(again.n_blocks == r.n_blocks && again.created == r.created);
    CHECK(again.skeleton_len == r.skeleton_len &&
          (r.skeleton_len == 0 || memcmp(again.skeleton, r.skeleton, r.skeleton_len) == 0));
    mv_record_clear(&again);
    mv_record_clear(&r);
    mv_buf_clear(&enc);
    return 0;
}
