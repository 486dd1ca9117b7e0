/* test_shamir.c - Shamir/Feldman over ristretto255 and the threshold VOPRF built on them.
 * Sources (tests/vectors/rfc9497-ristretto255-sha512.json): RFC 9591 Appendix E FROST
 * (ristretto255, SHA-512) shares, and the file's 2-of-3 threshold set (NOT from an RFC) over
 * the RFC 9497 A.1.2 key, whose combined output is RFC 9497 A.1.2 vector 1's Output.
 * The oracle test checks DESIGN.md 3: for every t-subset, the threshold protocol's output
 * equals RFC 9497 Evaluate with the whole key. */
#include "testutil.h"

#include <string.h>

#include "medvault/mv_mem.h"
#include "medvault/mv_oprf.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_shamir.h"

#define VEC "rfc9497-ristretto255-sha512.json"

static const uint8_t ZERO[32] = {0};

static void hexf(const mv_json *o, const char *k, uint8_t *out, size_t n)
{
    assert_int_equal(mv_json_get_hex(o, k, out, n), MV_OK);
}

static void hexa(const mv_json *arr, size_t i, uint8_t *out, size_t n)
{
    size_t len = 0, got = 0;
    const char *s = mv_json_str(mv_json_at(arr, i), &len);
    assert_non_null(s);
    uint8_t *b = tu_hex(s, &got);
    assert_int_equal(got, n);
    memcpy(out, b, n);
    mv_free(b);
}

/* RFC 9591 Appendix E: f(x) = group_secret_key + a1*x; shares f(1), f(2), f(3); any two
 * reconstruct the secret; group_public_key = secret*G. */
static void test_rfc9591_frost_shares(void **state)
{
    (void)state;
    mv_json *root = tu_load_json(VEC);
    const mv_json *f = mv_json_get(root, "shamir_vectors_rfc9591_frost_ristretto255");
    uint8_t secret[32], gpk[32], a1[32], coeffs[64], shares[3 * 32], want[3 * 32], out[32];
    uint64_t tmin = 0, nmax = 0;
    assert_int_equal(mv_json_get_u64(f, "MIN_PARTICIPANTS", &tmin), MV_OK);
    assert_int_equal(mv_json_get_u64(f, "MAX_PARTICIPANTS", &nmax), MV_OK);
    assert_int_equal(tmin, 2);
    assert_int_equal(nmax, 3);
    hexf(f, "group_secret_key", secret, 32);
    hexf(f, "group_public_key", gpk, 32);
    const mv_json *pc = mv_json_get(f, "share_polynomial_coefficients");
    assert_int_equal(mv_json_len(pc), 1);
    hexa(pc, 0, a1, 32);
    const mv_json *ps = mv_json_get(f, "participant_shares");
    assert_int_equal(mv_json_len(ps), 3);
    for (size_t i = 0; i < 3; i++) {
        uint64_t id = 0;
        assert_int_equal(mv_json_get_u64(mv_json_at(ps, i), "identifier", &id), MV_OK);
        assert_int_equal(id, i + 1);
        hexf(mv_json_at(ps, i), "participant_share", want + 32 * i, 32);
    }

    assert_int_equal(mv_r255_smul_base(out, secret), MV_OK);
    assert_memory_equal(out, gpk, 32);
    assert_int_equal(mv_shamir_split(secret, 2, 3, a1, shares), MV_OK);
    assert_memory_equal(shares, want, sizeof want);
    memcpy(coeffs, secret, 32);
    memcpy(coeffs + 32, a1, 32);
    for (uint32_t id = 1; id <= 3; id++) {
        assert_int_equal(mv_shamir_poly_eval(coeffs, 2, id, out), MV_OK);
        assert_memory_equal(out, want + 32 * (id - 1), 32);
    }
    assert_int_equal(mv_shamir_poly_eval(coeffs, 2, 0, out), MV_OK);
    assert_memory_equal(out, secret, 32);

    /* Reconstruction from each pair and from all three (in any order). */
    static const uint32_t pairs[][3] = {{1, 2, 0}, {1, 3, 0}, {2, 3, 0}, {3, 1, 0}, {1, 2, 3}, {3, 2, 1}};
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        size_t c = pairs[p][2] ? 3 : 2;
        uint8_t sel[96];
        for (size_t i = 0; i < c; i++)
            memcpy(sel + 32 * i, want + 32 * (pairs[p][i] - 1), 32);
        assert_int_equal(mv_shamir_combine_scalars(pairs[p], sel, c, out), MV_OK);
        assert_memory_equal(out, secret, 32);
    }
    /* One share alone gives something else. */
    uint32_t one_id = 2;
    assert_int_equal(mv_shamir_combine_scalars(&one_id, want + 32, 1, out), MV_OK);
    assert_memory_not_equal(out, secret, 32);

    /* Feldman over the FROST polynomial: C0 = group_public_key, shares verify, a wrong one fails. */
    uint8_t comm[64];
    assert_int_equal(mv_feldman_commit(coeffs, 2, comm), MV_OK);
    assert_memory_equal(comm, gpk, 32);
    for (uint32_t id = 1; id <= 3; id++) {
        assert_int_equal(mv_feldman_verify(comm, 2, id, want + 32 * (id - 1)), MV_OK);
        assert_int_equal(mv_feldman_verify(comm, 2, id % 3 + 1, want + 32 * (id - 1)), MV_ERR_VERIFY);
    }
    mv_json_free(root);
}

/* The file's 2-of-3 set over the RFC 9497 A.1.2 key, reproduced exactly: shares, public
 * shares, Feldman commitments, each server's EvaluationElement and Proof (with the fixed
 * ProofRandomScalar), Lagrange coefficients, combined element and Output. */
static void test_threshold_vectors(void **state)
{
    (void)state;
    mv_json *root = tu_load_json(VEC);
    const mv_json *tv = mv_json_get(root, "threshold_extension_vectors_not_in_rfc");
    uint8_t sk[32], pk[32], a1[32], c0[32], c1[32], blind[32], blinded[32], r[32], want_out[64];
    size_t il = 0;
    hexf(tv, "skSm", sk, 32);
    hexf(tv, "pkSm", pk, 32);
    hexf(tv, "a1", a1, 32);
    hexf(mv_json_get(tv, "feldman_commitment"), "C0_equals_pkSm", c0, 32);
    hexf(mv_json_get(tv, "feldman_commitment"), "C1", c1, 32);
    uint8_t *input = tu_json_hex(tv, "Input", &il);
    hexf(tv, "Blind", blind, 32);
    hexf(tv, "BlindedElement", blinded, 32);
    hexf(tv, "ProofRandomScalar_used_by_every_server", r, 32);
    hexf(tv, "expected_Output_RFC9497_A.1.2_vector1", want_out, 64);

    uint8_t coeffs[64], comm[64], shares[96], pub[96], b2[32], bl[32];
    memcpy(coeffs, sk, 32);
    memcpy(coeffs + 32, a1, 32);
    assert_int_equal(mv_feldman_commit(coeffs, 2, comm), MV_OK);
    assert_memory_equal(comm, c0, 32);
    assert_memory_equal(comm + 32, c1, 32);
    assert_memory_equal(comm, pk, 32);
    assert_int_equal(mv_shamir_split(sk, 2, 3, a1, shares), MV_OK);
    assert_int_equal(mv_oprf_blind(MV_OPRF_MODE_VOPRF, input, il, blind, bl, b2), MV_OK);
    assert_memory_equal(b2, blinded, 32);

    const mv_json *sh = mv_json_get(tv, "shares"), *parts = mv_json_get(tv, "partials");
    assert_int_equal(mv_json_len(sh), 3);
    assert_int_equal(mv_json_len(parts), 3);
    uint8_t ev[3][32];
    for (size_t i = 0; i < 3; i++) {
        uint8_t k_i[32], pk_i[32], e_i[32], proof_i[64], proof[64], pe[32];
        uint64_t id = 0;
        assert_int_equal(mv_json_get_u64(mv_json_at(sh, i), "id", &id), MV_OK);
        assert_int_equal(id, i + 1);
        assert_int_equal(mv_json_get_u64(mv_json_at(parts, i), "id", &id), MV_OK);
        assert_int_equal(id, i + 1);
        hexf(mv_json_at(sh, i), "k_i", k_i, 32);
        hexf(mv_json_at(sh, i), "pk_i", pk_i, 32);
        hexf(mv_json_at(parts, i), "EvaluationElement_i", e_i, 32);
        hexf(mv_json_at(parts, i), "Proof_i", proof_i, 64);
        assert_memory_equal(shares + 32 * i, k_i, 32);
        assert_int_equal(mv_r255_smul_base(pub + 32 * i, k_i), MV_OK);
        assert_memory_equal(pub + 32 * i, pk_i, 32);
        assert_int_equal(mv_feldman_eval(comm, 2, (uint32_t)(i + 1), pe), MV_OK);
        assert_memory_equal(pe, pk_i, 32);
        assert_int_equal(mv_feldman_verify(comm, 2, (uint32_t)(i + 1), k_i), MV_OK);
        /* Each server: unmodified RFC BlindEvaluate + proof with its share. */
        assert_int_equal(mv_oprf_blind_evaluate(k_i, blinded, 1, ev[i]), MV_OK);
        assert_memory_equal(ev[i], e_i, 32);
        assert_int_equal(mv_voprf_prove(k_i, pk_i, blinded, ev[i], 1, r, proof), MV_OK);
        assert_memory_equal(proof, proof_i, 64);
        assert_int_equal(mv_voprf_verify(pk_i, blinded, ev[i], 1, proof_i), MV_OK);
        /* ... and a proof never verifies against another server's public share. */
        assert_int_equal(mv_voprf_verify(pk, blinded, ev[i], 1, proof_i), MV_ERR_VERIFY);
    }

    const mv_json *cs = mv_json_get(tv, "combinations");
    assert_int_equal(mv_json_len(cs), 3);
    for (size_t c = 0; c < 3; c++) {
        const mv_json *cb = mv_json_at(cs, c);
        const mv_json *idsj = mv_json_get(cb, "ids");
        uint32_t ids[2];
        for (size_t i = 0; i < 2; i++) {
            uint64_t v = 0;
            assert_int_equal(mv_json_u64(mv_json_at(idsj, i), &v), MV_OK);
            ids[i] = (uint32_t)v;
        }
        uint8_t l1[32], l2[32], want_l1[32], want_l2[32], comb[32], want_comb[32], out[64], o2[64], elems[64];
        hexf(cb, "lambda_first", want_l1, 32);
        hexf(cb, "lambda_second", want_l2, 32);
        hexf(cb, "combined_EvaluationElement", want_comb, 32);
        hexf(cb, "Output", o2, 64);
        assert_memory_equal(o2, want_out, 64);
        assert_int_equal(mv_shamir_lagrange(ids, 2, ids[0], l1), MV_OK);
        assert_int_equal(mv_shamir_lagrange(ids, 2, ids[1], l2), MV_OK);
        assert_memory_equal(l1, want_l1, 32);
        assert_memory_equal(l2, want_l2, 32);
        memcpy(elems, ev[ids[0] - 1], 32);
        memcpy(elems + 32, ev[ids[1] - 1], 32);
        assert_int_equal(mv_shamir_combine_elements(ids, elems, 2, comb), MV_OK);
        assert_memory_equal(comb, want_comb, 32);
        assert_int_equal(mv_oprf_finalize(MV_OPRF_MODE_VOPRF, input, il, blind, comb, out), MV_OK);
        assert_memory_equal(out, want_out, 64);
        /* Lagrange over public shares gives the group key too. */
        memcpy(elems, pub + 32 * (ids[0] - 1), 32);
        memcpy(elems + 32, pub + 32 * (ids[1] - 1), 32);
        assert_int_equal(mv_shamir_combine_elements(ids, elems, 2, comb), MV_OK);
        assert_memory_equal(comb, pk, 32);
    }
    mv_free(input);
    mv_json_free(root);
}

/* Advances idx[0..k) to the next k-subset of {0..n-1} in lexicographic order; 0 when done. */
static int next_subset(size_t *idx, size_t k, size_t n)
{
    for (size_t i = k; i-- > 0;) {
        if (idx[i] < n - k + i) {
            idx[i]++;
            for (size_t j = i + 1; j < k; j++)
                idx[j] = idx[j - 1] + 1;
            return 1;
        }
    }
    return 0;
}

/* THE ORACLE TEST (DESIGN.md 3): a random key shared t-of-n; for every t-subset of servers,
 * each server blind-evaluates a batch with its share and proves it; the client verifies each
 * proof against the server's public share (from the Feldman commitments), combines and
 * finalizes; every output equals RFC 9497 Evaluate with the whole key. Subsets of t-1
 * servers do not give the output; all n servers do. */
static void oracle(size_t t, size_t n, size_t *subsets_run)
{
    enum { B = 5 };
    static const char *inputs[B] = {"", "a", "prescription: amoxicillin 500mg", "\x00\x01\x02", "medvault"};
    uint8_t k[32], pk[32], coeffs[8 * 32], comm[8 * 32], shares[8 * 32], pub[8 * 32];
    uint8_t blinds[B * 32], blinded[B * 32], want[B][64];
    assert_true(t <= 8 && n <= 8);

    mv_r255_scalar_random(k);
    assert_int_equal(mv_r255_smul_base(pk, k), MV_OK);
    memcpy(coeffs, k, 32);
    for (size_t j = 1; j < t; j++)
        mv_r255_scalar_random(coeffs + 32 * j);
    assert_int_equal(mv_shamir_split(k, t, n, coeffs + 32, shares), MV_OK);
    assert_int_equal(mv_feldman_commit(coeffs, t, comm), MV_OK);
    assert_memory_equal(comm, pk, 32);
    for (size_t i = 0; i < n; i++) {
        uint8_t check[32];
        assert_int_equal(mv_feldman_eval(comm, t, (uint32_t)(i + 1), pub + 32 * i), MV_OK);
        assert_int_equal(mv_r255_smul_base(check, shares + 32 * i), MV_OK);
        assert_memory_equal(check, pub + 32 * i, 32);
    }
    for (size_t b = 0; b < B; b++) {
        size_t len = b == 3 ? 3 : strlen(inputs[b]);
        assert_int_equal(mv_oprf_evaluate(MV_OPRF_MODE_VOPRF, k, (const uint8_t *)inputs[b], len, want[b]), MV_OK);
        assert_int_equal(mv_oprf_blind(MV_OPRF_MODE_VOPRF, (const uint8_t *)inputs[b], len, NULL, blinds + 32 * b,
                                       blinded + 32 * b),
                         MV_OK);
    }

    /* Every server answers once; subsets pick among the answers. */
    uint8_t ev[8][B * 32], proofs[8][64];
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(mv_oprf_blind_evaluate(shares + 32 * i, blinded, B, ev[i]), MV_OK);
        assert_int_equal(mv_voprf_prove(shares + 32 * i, pub + 32 * i, blinded, ev[i], B, NULL, proofs[i]), MV_OK);
    }

    for (size_t k_sz = t - 1; k_sz <= n; k_sz += (k_sz == t - 1 ? 1 : n - t)) {
        if (k_sz == 0)
            continue;
        size_t idx[8];
        for (size_t i = 0; i < k_sz; i++)
            idx[i] = i;
        do {
            uint32_t ids[8];
            const uint8_t *parts[8];
            for (size_t i = 0; i < k_sz; i++) {
                ids[i] = (uint32_t)(idx[i] + 1);
                parts[i] = ev[idx[i]];
                assert_int_equal(mv_voprf_verify(pub + 32 * idx[i], blinded, ev[idx[i]], B, proofs[idx[i]]), MV_OK);
            }
            uint8_t comb[B * 32], out[64];
            assert_int_equal(mv_shamir_combine_batch(ids, k_sz, parts, B, comb), MV_OK);
            for (size_t b = 0; b < B; b++) {
                size_t len = b == 3 ? 3 : strlen(inputs[b]);
                assert_int_equal(mv_oprf_finalize(MV_OPRF_MODE_VOPRF, (const uint8_t *)inputs[b], len, blinds + 32 * b,
                                                  comb + 32 * b, out),
                                 MV_OK);
                if (k_sz >= t)
                    assert_memory_equal(out, want[b], 64);
                else
                    assert_memory_not_equal(out, want[b], 64);
                /* Single-element combine agrees with the batch combine. */
                uint8_t el[8 * 32], one[32];
                for (size_t i = 0; i < k_sz; i++)
                    memcpy(el + 32 * i, parts[i] + 32 * b, 32);
                assert_int_equal(mv_shamir_combine_elements(ids, el, k_sz, one), MV_OK);
                assert_memory_equal(one, comb + 32 * b, 32);
            }
            if (k_sz == t)
                (*subsets_run)++;
        } while (next_subset(idx, k_sz, n));
        if (k_sz == n)
            break;
    }
}

static void test_oracle(void **state)
{
    (void)state;
    size_t run = 0;
    oracle(2, 3, &run);
    assert_int_equal(run, 3); /* C(3,2) */
    run = 0;
    oracle(3, 5, &run);
    assert_int_equal(run, 10); /* C(5,3) */
}

static void test_errors(void **state)
{
    (void)state;
    uint8_t s[32], out[32], shares[3 * 32], ff[32], comm[64];
    memset(ff, 0xff, 32);
    mv_r255_scalar_random(s);
    uint32_t ids[3] = {1, 2, 3}, dup[2] = {2, 2}, zero_id[2] = {0, 1};
    assert_int_equal(mv_shamir_lagrange(ids, 3, 4, out), MV_ERR_INVAL);
    assert_int_equal(mv_shamir_lagrange(dup, 2, 2, out), MV_ERR_INVAL);
    assert_int_equal(mv_shamir_lagrange(zero_id, 2, 1, out), MV_ERR_INVAL);
    assert_int_equal(mv_shamir_lagrange(ids, 0, 1, out), MV_ERR_INVAL);
    assert_int_equal(mv_shamir_lagrange(ids, 3, 0, out), MV_ERR_INVAL);
    /* Large ids work (uint32). */
    uint32_t big[2] = {0xffffffffu, 7};
    uint8_t coeffs[64], sh[64], rec[32];
    mv_r255_scalar_random(coeffs);
    mv_r255_scalar_random(coeffs + 32);
    assert_int_equal(mv_shamir_poly_eval(coeffs, 2, big[0], sh), MV_OK);
    assert_int_equal(mv_shamir_poly_eval(coeffs, 2, big[1], sh + 32), MV_OK);
    assert_int_equal(mv_shamir_combine_scalars(big, sh, 2, rec), MV_OK);
    assert_memory_equal(rec, coeffs, 32);

    assert_int_equal(mv_shamir_split(s, 0, 3, NULL, shares), MV_ERR_INVAL);
    assert_int_equal(mv_shamir_split(s, 4, 3, NULL, shares), MV_ERR_INVAL);
    assert_int_equal(mv_shamir_split(ff, 2, 3, NULL, shares), MV_ERR_INVAL);
    assert_int_equal(mv_shamir_split(s, 2, 3, ff, shares), MV_ERR_INVAL);
    for (size_t i = 0; i < sizeof shares; i++)
        assert_int_equal(shares[i], 0);
    /* t = 1: every share is the secret. A sharing of zero has zero shares at t = 1. */
    assert_int_equal(mv_shamir_split(s, 1, 3, NULL, shares), MV_OK);
    for (size_t i = 0; i < 3; i++)
        assert_memory_equal(shares + 32 * i, s, 32);
    assert_int_equal(mv_shamir_split(ZERO, 2, 3, NULL, shares), MV_OK);
    assert_int_equal(mv_shamir_combine_scalars(ids, shares, 2, rec), MV_OK);
    assert_memory_equal(rec, ZERO, 32);
    /* Random coefficients: two splits differ, both reconstruct. */
    uint8_t sh2[3 * 32];
    assert_int_equal(mv_shamir_split(s, 2, 3, NULL, shares), MV_OK);
    assert_int_equal(mv_shamir_split(s, 2, 3, NULL, sh2), MV_OK);
    assert_memory_not_equal(shares, sh2, 32);
    assert_int_equal(mv_shamir_combine_scalars(ids + 1, shares + 32, 2, rec), MV_OK);
    assert_memory_equal(rec, s, 32);
    memcpy(sh2, ff, 32);
    assert_int_equal(mv_shamir_combine_scalars(ids, sh2, 2, rec), MV_ERR_CRYPTO);
    assert_int_equal(mv_shamir_poly_eval(ff, 1, 1, out), MV_ERR_INVAL);

    /* Element combine rejects identity and invalid elements, and an identity result. */
    uint8_t g[32], el[64], one[32];
    mv_r255_scalar_from_u64(one, 1);
    assert_int_equal(mv_r255_smul_base(g, one), MV_OK);
    memcpy(el, g, 32);
    memcpy(el + 32, ZERO, 32);
    assert_int_equal(mv_shamir_combine_elements(ids, el, 2, out), MV_ERR_IDENTITY);
    memcpy(el + 32, ff, 32);
    assert_int_equal(mv_shamir_combine_elements(ids, el, 2, out), MV_ERR_CRYPTO);
    assert_memory_equal(out, ZERO, 32);
    /* ids {1,2}: lambda_1 = 2, lambda_2 = -1; E_1 = G, E_2 = 2G gives 2G - 2G = identity. */
    uint8_t two[32];
    mv_r255_scalar_from_u64(two, 2);
    assert_int_equal(mv_r255_smul_base(el + 32, two), MV_OK);
    assert_int_equal(mv_shamir_combine_elements(ids, el, 2, out), MV_ERR_IDENTITY);
    const uint8_t *pp[2] = {el, el + 32};
    assert_int_equal(mv_shamir_combine_batch(ids, 2, pp, 0, out), MV_ERR_INVAL);
    assert_int_equal(mv_shamir_combine_batch(ids, 2, pp, MV_SHAMIR_MAX_BATCH + 1, out), MV_ERR_INVAL);

    /* Feldman: a zero coefficient commits to the identity (refresh), which evaluates fine. */
    uint8_t zc[64];
    memset(zc, 0, 32);
    mv_r255_scalar_random(zc + 32);
    assert_int_equal(mv_feldman_commit(zc, 2, comm), MV_OK);
    assert_memory_equal(comm, ZERO, 32);
    assert_int_equal(mv_shamir_poly_eval(zc, 2, 3, sh), MV_OK);
    assert_int_equal(mv_feldman_verify(comm, 2, 3, sh), MV_OK);
    assert_int_equal(mv_feldman_verify(comm, 2, 2, sh), MV_ERR_VERIFY);
    assert_int_equal(mv_feldman_verify(comm, 2, 3, ff), MV_ERR_VERIFY);
    assert_int_equal(mv_feldman_verify(comm, 2, 0, sh), MV_ERR_INVAL);
    assert_int_equal(mv_feldman_commit(ff, 1, comm), MV_ERR_INVAL);
    memset(zc, 0, 64);
    assert_int_equal(mv_feldman_commit(zc, 2, comm), MV_OK);
    assert_int_equal(mv_feldman_eval(comm, 2, 5, out), MV_OK);
    assert_memory_equal(out, ZERO, 32);
    memcpy(comm + 32, ff, 32);
    assert_int_equal(mv_feldman_eval(comm, 2, 5, out), MV_ERR_CRYPTO);
    memset(comm + 32, 0, 32);
    comm[63] = 0x80; /* the identity's encoding with bit 255 set: not canonical */
    assert_int_equal(mv_feldman_eval(comm, 2, 5, out), MV_ERR_CRYPTO);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    uint8_t secret[32], shares[3 * 32], out[32], g[32], two[32];
    mv_r255_scalar_random(secret);
    mv_mem_fail_after(0);
    assert_int_equal(mv_shamir_split(secret, 2, 3, NULL, shares), MV_ERR_NOMEM);
    mv_mem_fail_after(SIZE_MAX);
    for (size_t i = 0; i < sizeof shares; i++)
        assert_int_equal(shares[i], 0);
    mv_r255_scalar_from_u64(two, 2);
    assert_int_equal(mv_r255_smul_base(g, two), MV_OK);
    uint32_t ids[1] = {1};
    const uint8_t *pp[1] = {g};
    mv_mem_fail_after(0);
    assert_int_equal(mv_shamir_combine_batch(ids, 1, pp, 1, out), MV_ERR_NOMEM);
    mv_mem_fail_after(SIZE_MAX);
    assert_int_equal(mv_shamir_combine_batch(ids, 1, pp, 1, out), MV_OK);
    assert_memory_equal(out, g, 32); /* lambda = 1 for a single id */
}

static void test_public_shares_check(void **state)
{
    (void)state;
    /* Random 3-of-5 sharing: consistent; any single change is caught. */
    uint8_t key[32], shares[5 * 32], pubs[5 * 32], group[32];
    mv_r255_scalar_random(key);
    assert_int_equal(mv_shamir_split(key, 3, 5, NULL, shares), MV_OK);
    for (int i = 0; i < 5; i++)
        assert_int_equal(mv_r255_smul_base(pubs + i * 32, shares + i * 32), MV_OK);
    assert_int_equal(mv_r255_smul_base(group, key), MV_OK);
    assert_int_equal(mv_public_shares_check(pubs, 5, 3, group), MV_OK);
    for (int i = 0; i < 5; i++) {
        uint8_t saved[32];
        memcpy(saved, pubs + i * 32, 32);
        assert_int_equal(mv_r255_add(pubs + i * 32, saved, group), MV_OK);
        assert_int_equal(mv_public_shares_check(pubs, 5, 3, group), MV_ERR_VERIFY);
        memcpy(pubs + i * 32, saved, 32);
    }
    assert_int_equal(mv_public_shares_check(pubs, 5, 6, group), MV_ERR_INVAL);
    assert_int_equal(mv_public_shares_check(pubs, 5, 0, group), MV_ERR_INVAL);
    assert_int_equal(mv_public_shares_check(NULL, 5, 3, group), MV_ERR_INVAL);
    /* Past the cap: refused before anything is read (pubs holds only 5 elements). */
    assert_int_equal(mv_public_shares_check(pubs, MV_SHAMIR_MAX_PARTIES + 1, 3, group), MV_ERR_INVAL);
    mv_wipe(key, 32);
    mv_wipe(shares, sizeof shares);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc9591_frost_shares),
        cmocka_unit_test(test_threshold_vectors),
        cmocka_unit_test(test_oracle),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_public_shares_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
