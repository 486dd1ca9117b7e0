/* test_oprf.c - RFC 9497 (V)OPRF ristretto255-SHA512: every vector of Appendix A.1.1 (OPRF)
 * and A.1.2 (VOPRF), batch-of-2 included, from tests/vectors/rfc9497-ristretto255-sha512.json,
 * plus proof soundness (bit flips), element validation and argument bounds.
 * A.1.3 (POPRF, mode 2) is not implemented by medvault: the test counts that it skips exactly
 * that one mode. */
#include "testutil.h"

#include <string.h>

#include "medvault/mv_mem.h"
#include "medvault/mv_oprf.h"
#include "medvault/mv_r255.h"

#define VEC "rfc9497-ristretto255-sha512.json"

/* Decodes arr[i] (hex) into out, asserting its length. */
static void hex_at(const mv_json *arr, size_t i, uint8_t *out, size_t n)
{
    size_t len = 0;
    const char *s = mv_json_str(mv_json_at(arr, i), &len);
    assert_non_null(s);
    size_t got = 0;
    uint8_t *b = tu_hex(s, &got);
    assert_int_equal(got, n);
    memcpy(out, b, n);
    mv_free(b);
}

static void hex_field(const mv_json *obj, const char *key, uint8_t *out, size_t n)
{
    assert_int_equal(mv_json_get_hex(obj, key, out, n), MV_OK);
}

#define MAXB 2

typedef struct vec {
    size_t batch;
    uint8_t *input[MAXB];
    size_t input_len[MAXB];
    uint8_t blind[MAXB][32], blinded[MAXB * 32], evaluated[MAXB * 32], output[MAXB][64];
    int has_proof;
    uint8_t proof[64], r[32];
} vec;

static void load_vec(const mv_json *v, vec *out)
{
    uint64_t b = 0;
    memset(out, 0, sizeof *out);
    assert_int_equal(mv_json_get_u64(v, "Batch", &b), MV_OK);
    assert_true(b >= 1 && b <= MAXB);
    out->batch = (size_t)b;
    const mv_json *inputs = mv_json_get(v, "Input");
    assert_int_equal(mv_json_len(inputs), out->batch);
    for (size_t i = 0; i < out->batch; i++) {
        out->input[i] = tu_hex(mv_json_str(mv_json_at(inputs, i), NULL), &out->input_len[i]);
        hex_at(mv_json_get(v, "Blind"), i, out->blind[i], 32);
        hex_at(mv_json_get(v, "BlindedElement"), i, out->blinded + 32 * i, 32);
        hex_at(mv_json_get(v, "EvaluationElement"), i, out->evaluated + 32 * i, 32);
        hex_at(mv_json_get(v, "Output"), i, out->output[i], 64);
    }
    if (mv_json_get(v, "Proof")) {
        out->has_proof = 1;
        hex_field(v, "Proof", out->proof, 64);
        hex_field(v, "ProofRandomScalar", out->r, 32);
    }
}

static void free_vec(vec *v)
{
    for (size_t i = 0; i < v->batch; i++)
        mv_free(v->input[i]);
}

/* Runs one vector of mode `mode` with key (sk, pk) through every client and server step. */
static void run_vector(mv_oprf_mode mode, const uint8_t sk[32], const uint8_t pk[32], const vec *v)
{
    uint8_t blind[32], blinded[MAXB * 32], evaluated[MAXB * 32], out[64], proof[64];
    for (size_t i = 0; i < v->batch; i++) {
        assert_int_equal(mv_oprf_blind(mode, v->input[i], v->input_len[i], v->blind[i], blind, blinded + 32 * i),
                         MV_OK);
        assert_memory_equal(blind, v->blind[i], 32);
        assert_memory_equal(blinded + 32 * i, v->blinded + 32 * i, 32);
    }
    assert_int_equal(mv_oprf_blind_evaluate(sk, blinded, v->batch, evaluated), MV_OK);
    assert_memory_equal(evaluated, v->evaluated, 32 * v->batch);
    if (mode == MV_OPRF_MODE_VOPRF) {
        assert_true(v->has_proof);
        assert_int_equal(mv_voprf_prove(sk, pk, blinded, evaluated, v->batch, v->r, proof), MV_OK);
        assert_memory_equal(proof, v->proof, 64);
        assert_int_equal(mv_voprf_verify(pk, blinded, evaluated, v->batch, v->proof), MV_OK);
        /* A fresh random r gives a different proof that verifies too. */
        assert_int_equal(mv_voprf_prove(sk, pk, blinded, evaluated, v->batch, NULL, proof), MV_OK);
        assert_memory_not_equal(proof, v->proof, 64);
        assert_int_equal(mv_voprf_verify(pk, blinded, evaluated, v->batch, proof), MV_OK);
    }
    for (size_t i = 0; i < v->batch; i++) {
        assert_int_equal(mv_oprf_finalize(mode, v->input[i], v->input_len[i], v->blind[i], evaluated + 32 * i, out),
                         MV_OK);
        assert_memory_equal(out, v->output[i], 64);
        assert_int_equal(mv_oprf_evaluate(mode, sk, v->input[i], v->input_len[i], out), MV_OK);
        assert_memory_equal(out, v->output[i], 64);
    }
    /* In place: evaluated may be the blinded buffer itself. */
    memcpy(evaluated, blinded, sizeof evaluated);
    assert_int_equal(mv_oprf_blind_evaluate(sk, evaluated, v->batch, evaluated), MV_OK);
    assert_memory_equal(evaluated, v->evaluated, 32 * v->batch);
}

/* RFC 9497 A.1.1 and A.1.2. */
static void test_rfc9497_vectors(void **state)
{
    (void)state;
    mv_json *root = tu_load_json(VEC);
    const mv_json *modes = mv_json_get(root, "modes");
    size_t ran_vectors = 0, skipped_modes = 0, batch2 = 0;
    for (size_t m = 0; m < mv_json_len(modes); m++) {
        const mv_json *md = mv_json_at(modes, m);
        uint64_t mode = 0;
        assert_int_equal(mv_json_get_u64(md, "mode", &mode), MV_OK);
        if (mode == 2) {
            skipped_modes++; /* POPRF: not part of medvault */
            continue;
        }
        uint8_t seed[32], sk[32], pk[32], want_sk[32], want_pk[32];
        size_t info_len = 0;
        hex_field(md, "Seed", seed, 32);
        uint8_t *info = tu_json_hex(md, "KeyInfo", &info_len);
        hex_field(md, "skSm", want_sk, 32);
        assert_int_equal(mv_oprf_derive_keypair((mv_oprf_mode)mode, seed, info, info_len, sk, pk), MV_OK);
        assert_memory_equal(sk, want_sk, 32);
        if (mode == 1) {
            hex_field(md, "pkSm", want_pk, 32);
            assert_memory_equal(pk, want_pk, 32);
        }
        mv_free(info);
        const mv_json *vs = mv_json_get(md, "vectors");
        for (size_t i = 0; i < mv_json_len(vs); i++) {
            vec v;
            load_vec(mv_json_at(vs, i), &v);
            run_vector((mv_oprf_mode)mode, sk, pk, &v);
            batch2 += v.batch == 2;
            free_vec(&v);
            ran_vectors++;
        }
    }
    /* A.1.1 has 2 vectors, A.1.2 has 3 (one of them a batch of 2). */
    assert_int_equal(ran_vectors, 5);
    assert_int_equal(batch2, 1);
    assert_int_equal(skipped_modes, 1);
    mv_json_free(root);
}

/* Loads the A.1.2 batch-of-2 vector and the VOPRF key. */
static void load_voprf_batch2(uint8_t pk[32], vec *v)
{
    mv_json *root = tu_load_json(VEC);
    const mv_json *md = mv_json_at(mv_json_get(root, "modes"), 1);
    uint64_t mode = 0;
    assert_int_equal(mv_json_get_u64(md, "mode", &mode), MV_OK);
    assert_int_equal(mode, 1);
    hex_field(md, "pkSm", pk, 32);
    load_vec(mv_json_at(mv_json_get(md, "vectors"), 2), v);
    assert_int_equal(v->batch, 2);
    mv_json_free(root);
}

/* Any one-bit change to an evaluated element, a blinded element or the proof makes
 * verification fail: VERIFY, or CRYPTO/IDENTITY when the flip breaks the encoding. */
static void test_verify_bit_flips(void **state)
{
    (void)state;
    uint8_t pk[32];
    vec v;
    load_voprf_batch2(pk, &v);
    assert_int_equal(mv_voprf_verify(pk, v.blinded, v.evaluated, 2, v.proof), MV_OK);
    size_t verify_fail = 0, enc_fail = 0;
    for (size_t bit = 0; bit < 2 * 256; bit++) {
        uint8_t *bufs[2] = {v.evaluated, v.blinded};
        for (size_t k = 0; k < 2; k++) {
            bufs[k][bit / 8] ^= (uint8_t)(1u << (bit % 8));
            mv_err rc = mv_voprf_verify(pk, v.blinded, v.evaluated, 2, v.proof);
            bufs[k][bit / 8] ^= (uint8_t)(1u << (bit % 8));
            assert_true(rc == MV_ERR_VERIFY || rc == MV_ERR_CRYPTO || rc == MV_ERR_IDENTITY);
            if (bit % 256 == 255)
                assert_int_equal(rc, MV_ERR_CRYPTO); /* bit 255 set: not canonical (RFC 9496 4.3.1) */
            verify_fail += rc == MV_ERR_VERIFY;
            enc_fail += rc != MV_ERR_VERIFY;
        }
    }
    /* Both kinds occur (many flips still decode to a valid element). */
    assert_true(verify_fail > 0 && enc_fail > 0);
    for (size_t bit = 0; bit < 512; bit++) {
        v.proof[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(mv_voprf_verify(pk, v.blinded, v.evaluated, 2, v.proof), MV_ERR_VERIFY);
        v.proof[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    /* Swapped elements, a truncated batch and another key fail as well. */
    uint8_t sw[64];
    memcpy(sw, v.evaluated + 32, 32);
    memcpy(sw + 32, v.evaluated, 32);
    assert_int_equal(mv_voprf_verify(pk, v.blinded, sw, 2, v.proof), MV_ERR_VERIFY);
    assert_int_equal(mv_voprf_verify(pk, v.blinded, v.evaluated, 1, v.proof), MV_ERR_VERIFY);
    uint8_t sk2[32], pk2[32];
    mv_r255_scalar_random(sk2);
    assert_int_equal(mv_r255_smul_base(pk2, sk2), MV_OK);
    assert_int_equal(mv_voprf_verify(pk2, v.blinded, v.evaluated, 2, v.proof), MV_ERR_VERIFY);
    /* A non-canonical proof scalar (s = L) is rejected, not reduced. */
    uint8_t bad[64];
    memcpy(bad, v.proof, 64);
    memset(bad + 32, 0, 32);
    static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                  0xa2, 0xde, 0xf9, 0xde, 0x14, [31] = 0x10};
    memcpy(bad + 32, L, 32);
    assert_int_equal(mv_voprf_verify(pk, v.blinded, v.evaluated, 2, bad), MV_ERR_VERIFY);
    free_vec(&v);
}

static const uint8_t IDENTITY[32] = {0};
/* Not a valid ristretto255 encoding: 0xff..ff is not canonical. */
static const uint8_t BAD_ENC[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};

/* RFC 9497 DeserializeElement: the server and the client reject the identity and invalid
 * encodings wherever an element comes from the other side. */
static void test_element_rejection(void **state)
{
    (void)state;
    uint8_t pk[32], sk[32], seed[32] = {1};
    vec v;
    load_voprf_batch2(pk, &v);
    assert_int_equal(mv_oprf_derive_keypair(MV_OPRF_MODE_VOPRF, seed, NULL, 0, sk, pk), MV_OK);

    uint8_t in[64], out[64], proof[64];
    memcpy(in, v.blinded, 64);
    memcpy(in + 32, IDENTITY, 32);
    memset(out, 0xaa, sizeof out);
    assert_int_equal(mv_oprf_blind_evaluate(sk, in, 2, out), MV_ERR_IDENTITY);
    for (size_t i = 0; i < 64; i++)
        assert_int_equal(out[i], 0); /* whole output zeroed on error */
    memcpy(in + 32, BAD_ENC, 32);
    assert_int_equal(mv_oprf_blind_evaluate(sk, in, 2, out), MV_ERR_CRYPTO);
    /* The same element with bit 255 set is a non-canonical encoding. */
    memcpy(in + 32, v.blinded, 32);
    in[63] |= 0x80;
    assert_int_equal(mv_oprf_blind_evaluate(sk, in, 2, out), MV_ERR_CRYPTO);
    /* A negative field element (odd low bit) is not canonical either. */
    uint8_t odd[32] = {1};
    assert_int_equal(mv_oprf_blind_evaluate(sk, odd, 1, out), MV_ERR_CRYPTO);

    /* Prover: refuses to prove over a bad blinded batch. */
    memcpy(in + 32, IDENTITY, 32);
    assert_int_equal(mv_voprf_prove(sk, pk, in, v.evaluated, 2, NULL, proof), MV_ERR_IDENTITY);

    /* Verifier: every element checked. */
    uint8_t ev[64];
    memcpy(ev, v.evaluated, 64);
    memcpy(ev + 32, IDENTITY, 32);
    assert_int_equal(mv_voprf_verify(pk, v.blinded, ev, 2, v.proof), MV_ERR_IDENTITY);
    memcpy(ev + 32, BAD_ENC, 32);
    assert_int_equal(mv_voprf_verify(pk, v.blinded, ev, 2, v.proof), MV_ERR_CRYPTO);
    assert_int_equal(mv_voprf_verify(IDENTITY, v.blinded, v.evaluated, 2, v.proof), MV_ERR_IDENTITY);
    assert_int_equal(mv_voprf_verify(BAD_ENC, v.blinded, v.evaluated, 2, v.proof), MV_ERR_CRYPTO);

    /* Finalize: the evaluated element is checked. */
    assert_int_equal(mv_oprf_finalize(MV_OPRF_MODE_VOPRF, v.input[0], v.input_len[0], v.blind[0], IDENTITY, out),
                     MV_ERR_IDENTITY);
    assert_int_equal(mv_oprf_finalize(MV_OPRF_MODE_VOPRF, v.input[0], v.input_len[0], v.blind[0], BAD_ENC, out),
                     MV_ERR_CRYPTO);
    free_vec(&v);
}

static void test_arguments(void **state)
{
    (void)state;
    uint8_t sk[32], pk[32], seed[32] = {7}, blind[32], blinded[32], out[64], zero[32] = {0};
    assert_int_equal(mv_oprf_derive_keypair((mv_oprf_mode)2, seed, NULL, 0, sk, pk), MV_ERR_INVAL);
    assert_int_equal(mv_oprf_derive_keypair(MV_OPRF_MODE_OPRF, seed, NULL, 0, sk, pk), MV_OK);

    /* Inputs are length-prefixed with 2 bytes: 65535 is the longest. */
    uint8_t *big = mv_calloc(MV_OPRF_MAX_INPUT + 1, 1);
    assert_non_null(big);
    assert_int_equal(mv_oprf_blind(MV_OPRF_MODE_OPRF, big, MV_OPRF_MAX_INPUT, NULL, blind, blinded), MV_OK);
    assert_int_equal(mv_oprf_blind(MV_OPRF_MODE_OPRF, big, MV_OPRF_MAX_INPUT + 1, NULL, blind, blinded), MV_ERR_INVAL);
    assert_memory_equal(blind, zero, 32);
    assert_int_equal(mv_oprf_evaluate(MV_OPRF_MODE_OPRF, sk, big, MV_OPRF_MAX_INPUT + 1, out), MV_ERR_INVAL);
    assert_int_equal(mv_oprf_derive_keypair(MV_OPRF_MODE_OPRF, seed, big, MV_OPRF_MAX_INPUT + 1, sk, pk),
                     MV_ERR_INVAL);
    mv_free(big);
    assert_int_equal(mv_oprf_derive_keypair(MV_OPRF_MODE_OPRF, seed, NULL, 0, sk, pk), MV_OK);

    /* Empty input is fine (RFC allows it); a zero or non-canonical blind is not. */
    assert_int_equal(mv_oprf_blind(MV_OPRF_MODE_OPRF, NULL, 0, NULL, blind, blinded), MV_OK);
    assert_int_equal(mv_r255_elem_check(blinded), MV_OK);
    assert_int_equal(mv_oprf_blind(MV_OPRF_MODE_OPRF, NULL, 0, zero, blind, blinded), MV_ERR_INVAL);
    uint8_t ff[32];
    memset(ff, 0xff, sizeof ff);
    assert_int_equal(mv_oprf_blind(MV_OPRF_MODE_OPRF, NULL, 0, ff, blind, blinded), MV_ERR_INVAL);
    assert_int_equal(mv_oprf_blind((mv_oprf_mode)5, NULL, 0, NULL, blind, blinded), MV_ERR_INVAL);

    /* Round trip with a random blind, empty input. */
    uint8_t ev[32], o1[64], o2[64];
    assert_int_equal(mv_oprf_blind(MV_OPRF_MODE_OPRF, NULL, 0, NULL, blind, blinded), MV_OK);
    assert_int_equal(mv_oprf_blind_evaluate(sk, blinded, 1, ev), MV_OK);
    assert_int_equal(mv_oprf_finalize(MV_OPRF_MODE_OPRF, NULL, 0, blind, ev, o1), MV_OK);
    assert_int_equal(mv_oprf_evaluate(MV_OPRF_MODE_OPRF, sk, NULL, 0, o2), MV_OK);
    assert_memory_equal(o1, o2, 64);
    /* The mode's context separates outputs: a mode-1 evaluation of the same input differs. */
    assert_int_equal(mv_oprf_evaluate(MV_OPRF_MODE_VOPRF, sk, NULL, 0, o2), MV_OK);
    assert_memory_not_equal(o1, o2, 64);

    /* Batch bounds and keys. */
    assert_int_equal(mv_oprf_blind_evaluate(sk, blinded, 0, ev), MV_ERR_INVAL);
    assert_int_equal(mv_oprf_blind_evaluate(sk, blinded, MV_OPRF_MAX_BATCH + 1, ev), MV_ERR_INVAL);
    assert_int_equal(mv_oprf_blind_evaluate(zero, blinded, 1, ev), MV_ERR_INVAL);
    assert_int_equal(mv_oprf_blind_evaluate(ff, blinded, 1, ev), MV_ERR_INVAL);
    assert_int_equal(mv_oprf_evaluate(MV_OPRF_MODE_OPRF, zero, NULL, 0, o2), MV_ERR_INVAL);
    uint8_t proof[64];
    assert_int_equal(mv_voprf_prove(sk, pk, blinded, ev, 0, NULL, proof), MV_ERR_INVAL);
    assert_int_equal(mv_voprf_prove(sk, pk, blinded, ev, 1, zero, proof), MV_ERR_INVAL);
    assert_int_equal(mv_voprf_prove(sk, zero, blinded, ev, 1, NULL, proof), MV_ERR_INVAL);
    assert_int_equal(mv_voprf_verify(pk, blinded, ev, MV_OPRF_MAX_BATCH + 1, proof), MV_ERR_INVAL);
    assert_int_equal(mv_oprf_finalize(MV_OPRF_MODE_OPRF, NULL, 0, zero, ev, o1), MV_ERR_INVAL);
    assert_memory_equal(o1, (uint8_t[64]){0}, 64);
}

/* A batch of 64 (the key server's working size): client blinds, server evaluates and proves,
 * client verifies and finalizes; each output equals Evaluate. */
static void test_batch_round_trip(void **state)
{
    (void)state;
    enum { B = 64 };
    uint8_t sk[32], pk[32], seed[32] = {9};
    uint8_t *blinds = mv_malloc(B * 32), *blinded = mv_malloc(B * 32), *ev = mv_malloc(B * 32);
    assert_non_null(blinds);
    assert_non_null(blinded);
    assert_non_null(ev);
    assert_int_equal(mv_oprf_derive_keypair(MV_OPRF_MODE_VOPRF, seed, (const uint8_t *)"k", 1, sk, pk), MV_OK);
    uint8_t inputs[B][5];
    for (size_t i = 0; i < B; i++) {
        memcpy(inputs[i], "in", 2);
        inputs[i][2] = (uint8_t)i;
        inputs[i][3] = (uint8_t)(i * 7);
        inputs[i][4] = 0;
        assert_int_equal(mv_oprf_blind(MV_OPRF_MODE_VOPRF, inputs[i], 5, NULL, blinds + 32 * i, blinded + 32 * i),
                         MV_OK);
    }
    uint8_t proof[64], o1[64], o2[64];
    assert_int_equal(mv_oprf_blind_evaluate(sk, blinded, B, ev), MV_OK);
    assert_int_equal(mv_voprf_prove(sk, pk, blinded, ev, B, NULL, proof), MV_OK);
    assert_int_equal(mv_voprf_verify(pk, blinded, ev, B, proof), MV_OK);
    ev[32 * 40] ^= 0x04;
    assert_int_not_equal(mv_voprf_verify(pk, blinded, ev, B, proof), MV_OK);
    ev[32 * 40] ^= 0x04;
    for (size_t i = 0; i < B; i++) {
        assert_int_equal(mv_oprf_finalize(MV_OPRF_MODE_VOPRF, inputs[i], 5, blinds + 32 * i, ev + 32 * i, o1), MV_OK);
        assert_int_equal(mv_oprf_evaluate(MV_OPRF_MODE_VOPRF, sk, inputs[i], 5, o2), MV_OK);
        assert_memory_equal(o1, o2, 64);
    }
    mv_free(blinds);
    mv_free(blinded);
    mv_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc9497_vectors),
        cmocka_unit_test(test_verify_bit_flips),
        cmocka_unit_test(test_element_rejection),
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_batch_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
