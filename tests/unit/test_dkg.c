/* test_dkg.c - Joint-Feldman DKG with complaints and proactive refresh (DESIGN.md 3 "Key
 * generation"), run in-process for 2-of-3 and 3-of-5: consistency of shares, public shares
 * and group key; complaint handling; refresh keeps k (and so every OPRF output) while
 * changing every share. */
#include "testutil.h"

#include <string.h>

#include "medvault/mv_dkg.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_oprf.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_shamir.h"

#define MAXN 5

typedef struct run {
    size_t t, n;
    mv_dkg *p[MAXN];
    uint8_t share[MAXN][32];
    uint8_t pub[MAXN][MAXN * 32]; /* each participant's view of the public shares */
    uint8_t gpk[MAXN][32];
} run;

static void start(run *r, size_t t, size_t n, int refresh)
{
    r->t = t;
    r->n = n;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(mv_dkg_new((uint32_t)(i + 1), t, n, refresh, &r->p[i]), MV_OK);
}

/* Every dealer sends its deal to every other participant. */
static void deal_all(run *r)
{
    for (size_t from = 0; from < r->n; from++) {
        for (size_t to = 0; to < r->n; to++) {
            uint8_t s[32];
            assert_int_equal(mv_dkg_share_for(r->p[from], (uint32_t)(to + 1), s), MV_OK);
            assert_int_equal(mv_dkg_receive(r->p[to], (uint32_t)(from + 1), mv_dkg_my_commitments(r->p[from]), r->t, s),
                             MV_OK);
        }
    }
}

static void finish_all(run *r, const uint8_t old_share[][32], const uint8_t *old_pub)
{
    uint8_t d0[32], di[32];
    assert_int_equal(mv_dkg_digest(r->p[0], d0), MV_OK);
    for (size_t i = 0; i < r->n; i++) {
        assert_int_equal(mv_dkg_digest(r->p[i], di), MV_OK);
        assert_memory_equal(di, d0, 32);
        assert_int_equal(mv_dkg_finish(r->p[i], old_share ? old_share[i] : NULL, old_pub, r->share[i], r->pub[i],
                                       r->gpk[i]),
                         MV_OK);
    }
}

static void free_run(run *r)
{
    for (size_t i = 0; i < r->n; i++)
        mv_dkg_free(r->p[i]);
}

/* All views agree, every share matches its public share, and any t shares reconstruct a
 * secret whose G-multiple is the group key. Returns the secret through k. */
static void check_consistent(const run *r, uint8_t k[32])
{
    for (size_t i = 0; i < r->n; i++) {
        assert_memory_equal(r->gpk[i], r->gpk[0], 32);
        assert_memory_equal(r->pub[i], r->pub[0], r->n * 32);
        uint8_t g[32];
        assert_int_equal(mv_r255_smul_base(g, r->share[i]), MV_OK);
        assert_memory_equal(g, r->pub[0] + 32 * i, 32);
    }
    /* Every t-subset of consecutive-or-not ids: try all subsets by bitmask. */
    size_t subsets = 0;
    for (unsigned mask = 1; mask < (1u << r->n); mask++) {
        if ((size_t)__builtin_popcount(mask) != r->t)
            continue;
        uint32_t ids[MAXN];
        uint8_t sh[MAXN * 32], s[32], g[32];
        size_t c = 0;
        for (size_t i = 0; i < r->n; i++) {
            if (mask & (1u << i)) {
                ids[c] = (uint32_t)(i + 1);
                memcpy(sh + 32 * c, r->share[i], 32);
                c++;
            }
        }
        assert_int_equal(mv_shamir_combine_scalars(ids, sh, c, s), MV_OK);
        if (subsets == 0)
            memcpy(k, s, 32);
        assert_memory_equal(s, k, 32);
        assert_int_equal(mv_r255_smul_base(g, s), MV_OK);
        assert_memory_equal(g, r->gpk[0], 32);
        subsets++;
    }
    assert_true(subsets >= 3);
}

static void dkg_basic(size_t t, size_t n)
{
    run r;
    uint8_t k[32], sum[32] = {0};
    start(&r, t, n, 0);
    deal_all(&r);
    finish_all(&r, NULL, NULL);
    check_consistent(&r, k);
    /* Group key = sum of every dealer's C_0. */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(mv_r255_add(sum, sum, mv_dkg_my_commitments(r.p[i])), MV_OK);
    assert_memory_equal(sum, r.gpk[0], 32);
    free_run(&r);
}

static void test_dkg_3_of_5(void **state)
{
    (void)state;
    dkg_basic(3, 5);
}

static void test_dkg_2_of_3(void **state)
{
    (void)state;
    dkg_basic(2, 3);
}

/* Dealer 2 sends participant 3 a bad share: 3 complains (VERIFY) and cannot finish; a
 * correct public reveal resolves it and the run completes consistently. */
static void test_complaint_resolved(void **state)
{
    (void)state;
    run r;
    uint8_t k[32], s[32], out_s[32], out_pub[3 * 32], out_pk[32];
    start(&r, 2, 3, 0);
    for (size_t from = 0; from < 3; from++) {
        for (size_t to = 0; to < 3; to++) {
            assert_int_equal(mv_dkg_share_for(r.p[from], (uint32_t)(to + 1), s), MV_OK);
            mv_err want = MV_OK;
            if (from == 1 && to == 2) {
                s[0] ^= 1; /* the cheat */
                want = MV_ERR_VERIFY;
            }
            assert_int_equal(mv_dkg_receive(r.p[to], (uint32_t)(from + 1), mv_dkg_my_commitments(r.p[from]), 2, s),
                             want);
            /* Redelivery returns the same answer. */
            assert_int_equal(mv_dkg_receive(r.p[to], (uint32_t)(from + 1), mv_dkg_my_commitments(r.p[from]), 2, s),
                             want);
        }
    }
    assert_int_equal(mv_dkg_finish(r.p[2], NULL, NULL, out_s, out_pub, out_pk), MV_ERR_BAD_STATE);
    /* Dealer 2 answers the complaint with the true share; everybody checks it. */
    assert_int_equal(mv_dkg_share_for(r.p[1], 3, s), MV_OK);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(mv_dkg_resolve(r.p[i], 2, 3, s), MV_OK);
    for (size_t i = 0; i < 3; i++)
        assert_false(mv_dkg_disqualified(r.p[i], 2));
    finish_all(&r, NULL, NULL);
    check_consistent(&r, k);
    free_run(&r);
}

/* A wrong (or missing) reveal disqualifies the dealer, and finish fails for everybody. */
static void test_complaint_wrong_reveal(void **state)
{
    (void)state;
    run r;
    uint8_t s[32], out_s[32], out_pub[3 * 32], out_pk[32];
    start(&r, 2, 3, 0);
    for (size_t from = 0; from < 3; from++) {
        for (size_t to = 0; to < 3; to++) {
            assert_int_equal(mv_dkg_share_for(r.p[from], (uint32_t)(to + 1), s), MV_OK);
            if (from == 0 && to == 1)
                s[5] ^= 0x10;
            mv_err rc = mv_dkg_receive(r.p[to], (uint32_t)(from + 1), mv_dkg_my_commitments(r.p[from]), 2, s);
            assert_int_equal(rc, from == 0 && to == 1 ? MV_ERR_VERIFY : MV_OK);
        }
    }
    /* Dealer 1 "reveals" the same bad share. */
    assert_int_equal(mv_dkg_share_for(r.p[0], 2, s), MV_OK);
    s[5] ^= 0x10;
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(mv_dkg_resolve(r.p[i], 1, 2, s), MV_ERR_VERIFY);
        assert_true(mv_dkg_disqualified(r.p[i], 1));
        assert_false(mv_dkg_disqualified(r.p[i], 2));
        memset(out_pk, 0xaa, 32);
        assert_int_equal(mv_dkg_finish(r.p[i], NULL, NULL, out_s, out_pub, out_pk), MV_ERR_PROTOCOL);
        for (size_t b = 0; b < 32; b++)
            assert_int_equal(out_pk[b], 0);
    }
    /* No answer at all disqualifies as well. */
    run r2;
    start(&r2, 2, 3, 0);
    deal_all(&r2);
    assert_int_equal(mv_dkg_resolve(r2.p[0], 3, 1, NULL), MV_ERR_VERIFY);
    assert_true(mv_dkg_disqualified(r2.p[0], 3));
    assert_int_equal(mv_dkg_finish(r2.p[0], NULL, NULL, out_s, out_pub, out_pk), MV_ERR_PROTOCOL);
    free_run(&r2);
    free_run(&r);
}

static void test_receive_errors(void **state)
{
    (void)state;
    run r;
    uint8_t s[32], s2[32], comm[3 * 32], out_s[32], out_pub[3 * 32], out_pk[32];
    start(&r, 2, 3, 0);
    /* Missing deals: BAD_STATE; the digest refuses too. */
    assert_int_equal(mv_dkg_finish(r.p[1], NULL, NULL, out_s, out_pub, out_pk), MV_ERR_BAD_STATE);
    assert_int_equal(mv_dkg_digest(r.p[1], out_pk), MV_ERR_BAD_STATE);
    assert_int_equal(mv_dkg_share_for(r.p[1], 1, s), MV_OK);
    /* Wrong t: protocol error, dealer disqualified. */
    mv_dkg *other = NULL;
    assert_int_equal(mv_dkg_new(2, 3, 3, 0, &other), MV_OK);
    assert_int_equal(mv_dkg_share_for(other, 1, s2), MV_OK);
    assert_int_equal(mv_dkg_receive(r.p[0], 3, mv_dkg_my_commitments(other), 3, s2), MV_ERR_PROTOCOL);
    assert_true(mv_dkg_disqualified(r.p[0], 3));
    mv_dkg_free(other);
    /* Invalid commitment encoding. */
    memcpy(comm, mv_dkg_my_commitments(r.p[1]), 64);
    comm[63] |= 0x80;
    assert_int_equal(mv_dkg_receive(r.p[2], 2, comm, 2, s), MV_ERR_PROTOCOL);
    /* DKG: an identity C_0 is refused. */
    memcpy(comm, mv_dkg_my_commitments(r.p[1]), 64);
    memset(comm, 0, 32);
    assert_int_equal(mv_dkg_receive(r.p[1], 1, comm, 2, s), MV_ERR_PROTOCOL);
    /* Second, different deal from the same dealer: EXISTS, first one kept. */
    assert_int_equal(mv_dkg_receive(r.p[0], 2, mv_dkg_my_commitments(r.p[1]), 2, s), MV_OK);
    memcpy(s2, s, 32);
    s2[0] ^= 1;
    assert_int_equal(mv_dkg_receive(r.p[0], 2, mv_dkg_my_commitments(r.p[1]), 2, s2), MV_ERR_EXISTS);
    assert_int_equal(mv_dkg_receive(r.p[0], 2, mv_dkg_my_commitments(r.p[1]), 2, s), MV_OK);
    /* A participant's own deal is pre-recorded; a different one "from itself" is refused. */
    assert_int_equal(mv_dkg_share_for(r.p[0], 1, s2), MV_OK);
    assert_int_equal(mv_dkg_receive(r.p[0], 1, mv_dkg_my_commitments(r.p[0]), 2, s2), MV_OK);
    assert_int_equal(mv_dkg_receive(r.p[0], 1, mv_dkg_my_commitments(r.p[1]), 2, s2), MV_ERR_EXISTS);
    /* A disqualification outranks missing deals. */
    assert_int_equal(mv_dkg_finish(r.p[1], NULL, NULL, out_s, out_pub, out_pk), MV_ERR_PROTOCOL);
    /* Argument checks. */
    assert_int_equal(mv_dkg_receive(r.p[0], 0, comm, 2, s), MV_ERR_INVAL);
    assert_int_equal(mv_dkg_receive(r.p[0], 4, comm, 2, s), MV_ERR_INVAL);
    assert_int_equal(mv_dkg_resolve(r.p[1], 3, 1, s), MV_ERR_BAD_STATE); /* no deal from 3 yet */
    assert_int_equal(mv_dkg_resolve(r.p[1], 2, 2, s), MV_ERR_INVAL);
    assert_int_equal(mv_dkg_share_for(r.p[0], 4, s), MV_ERR_INVAL);
    uint8_t dummy[32] = {0};
    assert_int_equal(mv_dkg_finish(r.p[1], dummy, NULL, out_s, out_pub, out_pk), MV_ERR_INVAL);
    assert_int_equal(mv_dkg_new(0, 2, 3, 0, &other), MV_ERR_INVAL);
    assert_int_equal(mv_dkg_new(4, 2, 3, 0, &other), MV_ERR_INVAL);
    assert_int_equal(mv_dkg_new(1, 4, 3, 0, &other), MV_ERR_INVAL);
    assert_int_equal(mv_dkg_new(1, 0, 3, 0, &other), MV_ERR_INVAL);
    assert_null(other);
    free_run(&r);
}

/* Threshold VOPRF output for input x using servers ids (shares given), as the client sees it. */
static void threshold_output(const uint32_t *ids, size_t c, uint8_t shares[][32], const uint8_t *pubs,
                             const char *x, uint8_t out[64])
{
    uint8_t blind[32], blinded[32], ev[MAXN][32], proof[64], comb[32];
    const uint8_t *parts[MAXN];
    assert_int_equal(mv_oprf_blind(MV_OPRF_MODE_VOPRF, (const uint8_t *)x, strlen(x), NULL, blind, blinded), MV_OK);
    for (size_t i = 0; i < c; i++) {
        const uint8_t *sk = shares[ids[i] - 1], *pk = pubs + 32 * (ids[i] - 1);
        assert_int_equal(mv_oprf_blind_evaluate(sk, blinded, 1, ev[i]), MV_OK);
        assert_int_equal(mv_voprf_prove(sk, pk, blinded, ev[i], 1, NULL, proof), MV_OK);
        assert_int_equal(mv_voprf_verify(pk, blinded, ev[i], 1, proof), MV_OK);
        parts[i] = ev[i];
    }
    assert_int_equal(mv_shamir_combine_batch(ids, c, parts, 1, comb), MV_OK);
    assert_int_equal(mv_oprf_finalize(MV_OPRF_MODE_VOPRF, (const uint8_t *)x, strlen(x), blind, comb, out), MV_OK);
}

static void refresh_case(size_t t, size_t n)
{
    run a, b;
    uint8_t k_old[32], k_new[32];
    start(&a, t, n, 0);
    deal_all(&a);
    finish_all(&a, NULL, NULL);
    check_consistent(&a, k_old);

    start(&b, t, n, 1);
    for (size_t i = 0; i < n; i++)
        assert_true(mv_r255_is_identity(mv_dkg_my_commitments(b.p[i])));
    deal_all(&b);
    finish_all(&b, (const uint8_t(*)[32])a.share, a.pub[0]);
    check_consistent(&b, k_new);

    /* Same key, same group key; every share changed; old shares no longer match. */
    assert_memory_equal(k_new, k_old, 32);
    assert_memory_equal(b.gpk[0], a.gpk[0], 32);
    for (size_t i = 0; i < n; i++) {
        uint8_t g[32];
        assert_memory_not_equal(b.share[i], a.share[i], 32);
        assert_int_equal(mv_r255_smul_base(g, a.share[i]), MV_OK);
        assert_memory_not_equal(g, b.pub[0] + 32 * i, 32);
    }
    /* Threshold OPRF outputs before and after (different subsets) equal RFC Evaluate with k. */
    uint8_t o_old[64], o_new[64], o_ref[64];
    uint32_t ids_old[MAXN], ids_new[MAXN];
    for (size_t i = 0; i < t; i++) {
        ids_old[i] = (uint32_t)(i + 1);
        ids_new[i] = (uint32_t)(n - i);
    }
    static const char *xs[] = {"rx: metformin 500mg bid", "", "x"};
    for (size_t x = 0; x < 3; x++) {
        threshold_output(ids_old, t, a.share, a.pub[0], xs[x], o_old);
        threshold_output(ids_new, t, b.share, b.pub[0], xs[x], o_new);
        assert_int_equal(mv_oprf_evaluate(MV_OPRF_MODE_VOPRF, k_old, (const uint8_t *)xs[x], strlen(xs[x]), o_ref),
                         MV_OK);
        assert_memory_equal(o_old, o_ref, 64);
        assert_memory_equal(o_new, o_ref, 64);
    }
    /* Mixing old and new shares does not give the output (old share 1 + new share n). */
    if (t == 2) {
        uint8_t mix[MAXN][32], mixpub[MAXN * 32];
        memcpy(mix, b.share, sizeof mix);
        memcpy(mixpub, b.pub[0], n * 32);
        memcpy(mix[0], a.share[0], 32);
        memcpy(mixpub, a.pub[0], 32);
        uint32_t ids[2] = {1, (uint32_t)n};
        threshold_output(ids, 2, mix, mixpub, xs[0], o_new);
        assert_int_equal(mv_oprf_evaluate(MV_OPRF_MODE_VOPRF, k_old, (const uint8_t *)xs[0], strlen(xs[0]), o_ref),
                         MV_OK);
        assert_memory_not_equal(o_new, o_ref, 64);
    }
    free_run(&a);
    free_run(&b);
}

static void test_refresh_3_of_5(void **state)
{
    (void)state;
    refresh_case(3, 5);
}

static void test_refresh_2_of_3(void **state)
{
    (void)state;
    refresh_case(2, 3);
}

/* A refresh receiver rejects a deal whose C_0 is not the identity (it would change k), and
 * finish checks the caller's old state. */
static void test_refresh_rejects(void **state)
{
    (void)state;
    run a;
    uint8_t k[32], s[32], out_s[32], out_pub[3 * 32], out_pk[32];
    start(&a, 2, 3, 0);
    deal_all(&a);
    finish_all(&a, NULL, NULL);
    check_consistent(&a, k);

    mv_dkg *rf = NULL, *dkg_dealer = NULL;
    assert_int_equal(mv_dkg_new(1, 2, 3, 1, &rf), MV_OK);
    assert_int_equal(mv_dkg_new(2, 2, 3, 0, &dkg_dealer), MV_OK);
    assert_int_equal(mv_dkg_share_for(dkg_dealer, 1, s), MV_OK);
    assert_int_equal(mv_dkg_receive(rf, 2, mv_dkg_my_commitments(dkg_dealer), 2, s), MV_ERR_PROTOCOL);
    assert_true(mv_dkg_disqualified(rf, 2));
    mv_dkg_free(rf);
    mv_dkg_free(dkg_dealer);

    run b;
    start(&b, 2, 3, 1);
    deal_all(&b);
    /* Refresh without the old state, or with an old share that is not ours. */
    assert_int_equal(mv_dkg_finish(b.p[0], NULL, NULL, out_s, out_pub, out_pk), MV_ERR_INVAL);
    assert_int_equal(mv_dkg_finish(b.p[0], a.share[1], a.pub[0], out_s, out_pub, out_pk), MV_ERR_INVAL);
    assert_int_equal(mv_dkg_finish(b.p[0], a.share[0], a.pub[0], out_s, out_pub, out_pk), MV_OK);
    assert_memory_equal(out_pk, a.gpk[0], 32);
    free_run(&b);
    free_run(&a);
}

/* A dealer that shows participant 3 other commitments (with a matching share) passes 3's
 * Feldman check, but the digests that participants compare before finishing differ. */
static void test_equivocation_digest(void **state)
{
    (void)state;
    run r;
    mv_dkg *twin = NULL;
    uint8_t s[32], d1[32], d3[32];
    start(&r, 2, 3, 0);
    assert_int_equal(mv_dkg_new(2, 2, 3, 0, &twin), MV_OK);
    for (size_t from = 0; from < 3; from++) {
        for (size_t to = 0; to < 3; to++) {
            mv_dkg *dealer = from == 1 && to == 2 ? twin : r.p[from];
            assert_int_equal(mv_dkg_share_for(dealer, (uint32_t)(to + 1), s), MV_OK);
            assert_int_equal(mv_dkg_receive(r.p[to], (uint32_t)(from + 1), mv_dkg_my_commitments(dealer), 2, s), MV_OK);
        }
    }
    assert_int_equal(mv_dkg_digest(r.p[0], d1), MV_OK);
    assert_int_equal(mv_dkg_digest(r.p[2], d3), MV_OK);
    assert_memory_not_equal(d1, d3, 32);
    assert_int_equal(mv_dkg_digest(r.p[1], d3), MV_OK);
    assert_memory_equal(d1, d3, 32);
    mv_dkg_free(twin);
    free_run(&r);
}

/* Every allocation of mv_dkg_new and mv_dkg_finish failing in turn gives MV_ERR_NOMEM and
 * no leak (ASan checks), until enough succeed. */
static void test_alloc_failures(void **state)
{
    (void)state;
    mv_dkg *d = NULL;
    size_t i;
    for (i = 0;; i++) {
        mv_mem_fail_after(i);
        mv_err rc = mv_dkg_new(1, 1, 1, 0, &d);
        mv_mem_fail_after(SIZE_MAX);
        if (rc == MV_OK)
            break;
        assert_int_equal(rc, MV_ERR_NOMEM);
        assert_null(d);
    }
    assert_true(i > 0);
    uint8_t s[32], pub[32], pk[32];
    for (i = 0;; i++) {
        mv_mem_fail_after(i);
        mv_err rc = mv_dkg_finish(d, NULL, NULL, s, pub, pk);
        mv_mem_fail_after(SIZE_MAX);
        if (rc == MV_OK)
            break;
        assert_int_equal(rc, MV_ERR_NOMEM);
    }
    assert_true(i > 0);
    /* t = n = 1: the one share is the key. */
    uint8_t g[32];
    assert_int_equal(mv_r255_smul_base(g, s), MV_OK);
    assert_memory_equal(g, pk, 32);
    mv_dkg_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dkg_3_of_5),
        cmocka_unit_test(test_dkg_2_of_3),
        cmocka_unit_test(test_complaint_resolved),
        cmocka_unit_test(test_complaint_wrong_reveal),
        cmocka_unit_test(test_receive_errors),
        cmocka_unit_test(test_equivocation_digest),
        cmocka_unit_test(test_refresh_3_of_5),
        cmocka_unit_test(test_refresh_2_of_3),
        cmocka_unit_test(test_refresh_rejects),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
