/* test_ringsig.c - the accountable ring signature (mv_ringsig.h) and the group formats
 * (mv_group.h): round trips over ring sizes 2..1024 with every signer position class, every
 * bit flip of a signature, binding to epoch, roster, message and group, batch verification,
 * 2-of-3 and single openings, forged openings, proofs of possession and authorship, the MVG1
 * roster codec, key regression, and the known-answer vectors of tests/vectors/ringsig.json
 * (MV_WRITE_RINGSIG_VECTORS=FILE writes them instead: docs/group-signature.md says how they
 * are made). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_group.h"
#include "medvault/mv_group_case.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_ringsig.h"
#include "medvault/mv_shamir.h"
#include "medvault/mv_sig.h"

/* A test group: N members with known keys, an opener key split t-of-n. */
struct tgroup {
    size_t n;
    uint8_t *sk;      /* n * 32, in member order (sorted by public key) */
    uint8_t *members; /* n * 32 ascending */
    uint8_t dk[32];
    uint8_t shares[3][32];
    mv_ring ring;
};

/* Deterministic scalar from a label and an index (vectors and reproducible tests). */
static void det_scalar(const char *label, unsigned i, uint8_t out[32])
{
    char in[96];
    int len = snprintf(in, sizeof in, "%s %u", label, i);
    assert_int_equal(mv_r255_hash_to_scalar(out, (const uint8_t *)in, (size_t)len,
                                            (const uint8_t *)"medvault-ring-v1-test", 21),
                     MV_OK);
}

struct kp {
    uint8_t pk[32], sk[32];
};

static int cmp_kp(const void *a, const void *b)
{
    return memcmp(((const struct kp *)a)->pk, ((const struct kp *)b)->pk, 32);
}

static void tgroup_make(struct tgroup *g, size_t n, uint64_t epoch, unsigned openers, const char *label)
{
    memset(g, 0, sizeof *g);
    g->n = n;
    struct kp *kps = mv_calloc(n, sizeof *kps);
    g->sk = mv_calloc(n, 32);
    g->members = mv_calloc(n, 32);
    assert_non_null(kps);
    assert_non_null(g->sk);
    assert_non_null(g->members);
    for (size_t i = 0; i < n; i++) {
        det_scalar(label, (unsigned)i, kps[i].sk);
        assert_int_equal(mv_r255_smul_base(kps[i].pk, kps[i].sk), MV_OK);
    }
    qsort(kps, n, sizeof *kps, cmp_kp);
    for (size_t i = 0; i < n; i++) {
        memcpy(g->sk + 32 * i, kps[i].sk, 32);
        memcpy(g->members + 32 * i, kps[i].pk, 32);
    }
    mv_free(kps);
    det_scalar("opener dk", 0, g->dk);
    memset(g->ring.group_id, 0x42, sizeof g->ring.group_id);
    g->ring.epoch = epoch;
    g->ring.members = g->members;
    g->ring.n_members = n;
    assert_int_equal(mv_r255_smul_base(g->ring.ek, g->dk), MV_OK);
    if (openers == 3) {
        uint8_t coeffs[64];
        memcpy(coeffs, g->dk, 32);
        det_scalar("opener coefficient", 1, coeffs + 32);
        g->ring.t = 2;
        g->ring.n_openers = 3;
        for (unsigned i = 0; i < 3; i++) {
            assert_int_equal(mv_shamir_poly_eval(coeffs, 2, i + 1, g->shares[i]), MV_OK);
            assert_int_equal(mv_r255_smul_base(g->ring.ek_shares[i], g->shares[i]), MV_OK);
        }
    } else {
        g->ring.t = 1;
        g->ring.n_openers = 1;
        memcpy(g->shares[0], g->dk, 32);
        memcpy(g->ring.ek_shares[0], g->ring.ek, 32);
    }
    assert_int_equal(mv_ring_init(&g->ring), MV_OK);
}

static void tgroup_free(struct tgroup *g)
{
    mv_free(g->sk);
    mv_free(g->members);
}

static const uint8_t MSG[] = "a ward note, version 2";

static void sign_ok(const struct tgroup *g, size_t who, const uint8_t *msg, size_t len, mv_buf *sig)
{
    mv_buf_reset(sig);
    assert_int_equal(mv_ring_sign(&g->ring, g->sk + 32 * who, msg, len, NULL, sig), MV_OK);
    assert_int_equal(sig->len, mv_ring_sig_bytes(&g->ring));
}

static void test_sizes_round_trip(void **state)
{
    (void)state;
    static const size_t sizes[] = {2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 64, 127, 128, 129, 256, 257, 513, 1024};
    mv_buf sig;
    mv_buf_init(&sig, 1 << 16);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        struct tgroup g;
        tgroup_make(&g, sizes[s], 7, 3, "member");
        /* First, last (in a ring that is not a power of two, the last key pads the ring) and
         * one in the middle. */
        size_t who[3] = {0, g.n - 1, g.n / 2};
        for (int k = 0; k < 3; k++) {
            sign_ok(&g, who[k], MSG, sizeof MSG, &sig);
            assert_int_equal(mv_ring_verify(&g.ring, MSG, sizeof MSG, sig.ptr, sig.len), MV_OK);
            /* The opening names exactly this member. */
            uint8_t parts[2 * MV_RING_PARTIAL_BYTES];
            assert_int_equal(mv_ring_open_partial(&g.ring, sig.ptr, sig.len, 1, g.shares[0], NULL, parts), MV_OK);
            assert_int_equal(
                mv_ring_open_partial(&g.ring, sig.ptr, sig.len, 3, g.shares[2], NULL, parts + MV_RING_PARTIAL_BYTES),
                MV_OK);
            uint32_t pos = 99999;
            mv_buf op;
            mv_buf_init(&op, 4096);
            assert_int_equal(mv_ring_open_combine(&g.ring, sig.ptr, sig.len, parts, 2, &pos, NULL, &op), MV_OK);
            assert_int_equal(pos, who[k]);
            uint32_t judged = 99999;
            assert_int_equal(mv_ring_judge(&g.ring, MSG, sizeof MSG, sig.ptr, sig.len, op.ptr, op.len, &judged),
                             MV_OK);
            assert_int_equal(judged, who[k]);
            mv_buf_clear(&op);
        }
        tgroup_free(&g);
    }
    mv_buf_clear(&sig);
}

static void test_sizes_and_limits(void **state)
{
    (void)state;
    assert_int_equal(MV_RING_SIG_BYTES(7), 1098); /* 128 members: under 1.2 KB */
    struct tgroup g;
    tgroup_make(&g, 128, 1, 1, "member");
    assert_int_equal(mv_ring_sig_bytes(&g.ring), 1098);
    assert_int_equal(g.ring.bits, 7);
    /* A ring of one hides nobody. */
    mv_ring one = g.ring;
    one.n_members = 1;
    assert_int_equal(mv_ring_init(&one), MV_ERR_INVAL);
    /* Members out of order or repeated are refused. */
    mv_ring bad = g.ring;
    uint8_t swapped[64];
    memcpy(swapped, g.members + 32, 32);
    memcpy(swapped + 32, g.members, 32);
    bad.members = swapped;
    bad.n_members = 2;
    assert_int_equal(mv_ring_init(&bad), MV_ERR_PARSE);
    /* A key that is not in the roster cannot sign. */
    uint8_t stranger[32];
    det_scalar("stranger", 0, stranger);
    mv_buf sig;
    mv_buf_init(&sig, 1 << 16);
    assert_int_equal(mv_ring_sign(&g.ring, stranger, MSG, sizeof MSG, NULL, &sig), MV_ERR_NOT_FOUND);
    assert_int_equal(sig.len, 0);
    mv_buf_clear(&sig);
    tgroup_free(&g);
}

/* Signs with member `signer` of a ring of n and checks that flipped bits are refused: every
 * bit of the signature (every_bit), or one bit of every byte, its position moving from byte to
 * byte; and that a truncated signature is refused. */
static void flips_refused(size_t n, unsigned openers, size_t signer, int every_bit)
{
    struct tgroup g;
    tgroup_make(&g, n, 3, openers, "member");
    mv_buf sig;
    mv_buf_init(&sig, 1 << 16);
    sign_ok(&g, signer, MSG, sizeof MSG, &sig);
    assert_int_equal(mv_ring_verify(&g.ring, MSG, sizeof MSG, sig.ptr, sig.len), MV_OK);
    for (size_t bit = 0; bit < sig.len * 8; bit++) {
        if (!every_bit && bit % 8 != (bit / 8) * 5 % 8)
            continue;
        sig.ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (mv_ring_verify(&g.ring, MSG, sizeof MSG, sig.ptr, sig.len) == MV_OK)
            fail_msg("a signature of a ring of %zu with bit %zu flipped verified", n, bit);
        sig.ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_int_equal(mv_ring_verify(&g.ring, MSG, sizeof MSG, sig.ptr, sig.len - 1), MV_ERR_AUTH);
    mv_buf_clear(&sig);
    tgroup_free(&g);
}

static void test_every_bit_flip(void **state)
{
    (void)state;
    flips_refused(2, 1, 1, 1);
}

static void test_bit_flips_large_ring(void **state)
{
    (void)state;
    flips_refused(128, 3, 77, 0);
}

static void test_binding(void **state)
{
    (void)state;
    struct tgroup g, other_epoch, other_group;
    tgroup_make(&g, 16, 5, 3, "member");
    tgroup_make(&other_epoch, 16, 6, 3, "member");
    tgroup_make(&other_group, 16, 5, 3, "member");
    memset(other_group.ring.group_id, 0x43, sizeof other_group.ring.group_id);
    assert_int_equal(mv_ring_init(&other_group.ring), MV_OK);
    mv_buf sig;
    mv_buf_init(&sig, 1 << 16);
    sign_ok(&g, 3, MSG, sizeof MSG, &sig);
    assert_int_equal(mv_ring_verify(&g.ring, MSG, sizeof MSG, sig.ptr, sig.len), MV_OK);
    static const uint8_t other_msg[] = "a ward note, version 3";
    assert_int_equal(mv_ring_verify(&g.ring, other_msg, sizeof other_msg, sig.ptr, sig.len), MV_ERR_AUTH);
    assert_int_equal(mv_ring_verify(&other_epoch.ring, MSG, sizeof MSG, sig.ptr, sig.len), MV_ERR_AUTH);
    assert_int_equal(mv_ring_verify(&other_group.ring, MSG, sizeof MSG, sig.ptr, sig.len), MV_ERR_AUTH);
    /* The same epoch number with the header rewritten to it still fails: the roster hash is
     * in the challenge. */
    memcpy(sig.ptr + 2, (const uint8_t[8]){0, 0, 0, 0, 0, 0, 0, 6}, 8);
    assert_int_equal(mv_ring_verify(&other_epoch.ring, MSG, sizeof MSG, sig.ptr, sig.len), MV_ERR_AUTH);
    /* A roster with one member removed (a revocation) refuses signatures of the old one. */
    struct tgroup smaller = g;
    smaller.ring.n_members = 15;
    smaller.ring.epoch = 6;
    assert_int_equal(mv_ring_init(&smaller.ring), MV_OK);
    sign_ok(&g, 3, MSG, sizeof MSG, &sig);
    assert_int_equal(mv_ring_verify(&smaller.ring, MSG, sizeof MSG, sig.ptr, sig.len), MV_ERR_AUTH);
    /* ...and the removed member (the last one) cannot sign under it. */
    mv_buf_reset(&sig);
    assert_int_equal(mv_ring_sign(&smaller.ring, g.sk + 32 * 15, MSG, sizeof MSG, NULL, &sig), MV_ERR_NOT_FOUND);
    mv_buf_clear(&sig);
    tgroup_free(&g);
    tgroup_free(&other_epoch);
    tgroup_free(&other_group);
}

static void test_batch(void **state)
{
    (void)state;
    struct tgroup g;
    tgroup_make(&g, 64, 2, 1, "member");
    enum { K = 5 };
    mv_buf sigs[K];
    const uint8_t *sp[K], *mp[K];
    size_t sl[K], ml[K];
    uint8_t msgs[K][8];
    for (int i = 0; i < K; i++) {
        mv_buf_init(&sigs[i], 1 << 16);
        memset(msgs[i], 'a' + i, 8);
        sign_ok(&g, (size_t)(i * 13), msgs[i], 8, &sigs[i]);
        sp[i] = sigs[i].ptr;
        sl[i] = sigs[i].len;
        mp[i] = msgs[i];
        ml[i] = 8;
    }
    assert_int_equal(mv_ring_verify_batch(&g.ring, K, mp, ml, sp, sl), MV_OK);
    /* One bad signature fails the batch. */
    sigs[3].ptr[sigs[3].len - 40] ^= 1;
    assert_int_equal(mv_ring_verify_batch(&g.ring, K, mp, ml, sp, sl), MV_ERR_AUTH);
    sigs[3].ptr[sigs[3].len - 40] ^= 1;
    /* Two signatures swapped between messages fail too. */
    mp[0] = msgs[1];
    assert_int_equal(mv_ring_verify_batch(&g.ring, K, mp, ml, sp, sl), MV_ERR_AUTH);
    for (int i = 0; i < K; i++)
        mv_buf_clear(&sigs[i]);
    tgroup_free(&g);
}

static void test_openings(void **state)
{
    (void)state;
    struct tgroup g;
    tgroup_make(&g, 10, 4, 3, "member");
    mv_buf sig, op;
    mv_buf_init(&sig, 1 << 16);
    mv_buf_init(&op, 4096);
    sign_ok(&g, 6, MSG, sizeof MSG, &sig);
    uint8_t part[3][MV_RING_PARTIAL_BYTES];
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(mv_ring_open_partial(&g.ring, sig.ptr, sig.len, (uint8_t)(i + 1), g.shares[i], NULL, part[i]),
                         MV_OK);
    /* Any two of three open it; one alone cannot. */
    static const int pairs[3][2] = {{0, 1}, {0, 2}, {1, 2}};
    for (int p = 0; p < 3; p++) {
        uint8_t two[2 * MV_RING_PARTIAL_BYTES];
        memcpy(two, part[pairs[p][0]], MV_RING_PARTIAL_BYTES);
        memcpy(two + MV_RING_PARTIAL_BYTES, part[pairs[p][1]], MV_RING_PARTIAL_BYTES);
        uint32_t pos = 0;
        mv_buf_reset(&op);
        assert_int_equal(mv_ring_open_combine(&g.ring, sig.ptr, sig.len, two, 2, &pos, NULL, &op), MV_OK);
        assert_int_equal(pos, 6);
    }
    uint32_t pos = 0;
    mv_buf_reset(&op);
    assert_int_equal(mv_ring_open_combine(&g.ring, sig.ptr, sig.len, part[0], 1, &pos, NULL, &op), MV_ERR_INVAL);
    /* The same opener twice is not two openers. */
    uint8_t twice[2 * MV_RING_PARTIAL_BYTES];
    memcpy(twice, part[1], MV_RING_PARTIAL_BYTES);
    memcpy(twice + MV_RING_PARTIAL_BYTES, part[1], MV_RING_PARTIAL_BYTES);
    assert_int_equal(mv_ring_open_combine(&g.ring, sig.ptr, sig.len, twice, 2, &pos, NULL, &op), MV_ERR_INVAL);
    /* A share that is not the one behind EK_i is refused at once. */
    assert_int_equal(mv_ring_open_partial(&g.ring, sig.ptr, sig.len, 2, g.shares[0], NULL, part[2]), MV_ERR_AUTH);

    /* A cheating opener: D computed with another scalar and a proof that cannot match. */
    uint8_t two[2 * MV_RING_PARTIAL_BYTES];
    assert_int_equal(mv_ring_open_partial(&g.ring, sig.ptr, sig.len, 1, g.shares[0], NULL, two), MV_OK);
    assert_int_equal(mv_ring_open_partial(&g.ring, sig.ptr, sig.len, 2, g.shares[1], NULL, two + MV_RING_PARTIAL_BYTES),
                     MV_OK);
    two[MV_RING_PARTIAL_BYTES + 70] ^= 4; /* z of the second partial */
    uint8_t bad = 0;
    assert_int_equal(mv_ring_open_combine(&g.ring, sig.ptr, sig.len, two, 2, &pos, &bad, &op), MV_ERR_AUTH);
    assert_int_equal(bad, 2);
    two[MV_RING_PARTIAL_BYTES + 70] ^= 4;

    /* The judge: the honest opening passes; naming another member fails, whether the key, the
     * position or both are changed; a partial of another signature fails. */
    mv_buf_reset(&op);
    assert_int_equal(mv_ring_open_combine(&g.ring, sig.ptr, sig.len, two, 2, &pos, NULL, &op), MV_OK);
    uint32_t judged = 0;
    assert_int_equal(mv_ring_judge(&g.ring, MSG, sizeof MSG, sig.ptr, sig.len, op.ptr, op.len, &judged), MV_OK);
    assert_int_equal(judged, 6);
    uint8_t *forged = mv_malloc(op.len);
    assert_non_null(forged);
    memcpy(forged, op.ptr, op.len);
    forged[7] = 2; /* position 2 */
    assert_int_equal(mv_ring_judge(&g.ring, MSG, sizeof MSG, sig.ptr, sig.len, forged, op.len, &judged), MV_ERR_AUTH);
    memcpy(forged + 8, g.members + 64, 32); /* and its key */
    assert_int_equal(mv_ring_judge(&g.ring, MSG, sizeof MSG, sig.ptr, sig.len, forged, op.len, &judged), MV_ERR_AUTH);
    memcpy(forged, op.ptr, op.len);
    for (size_t i = 0; i < op.len; i++) {
        forged[i] ^= 0x10;
        if (mv_ring_judge(&g.ring, MSG, sizeof MSG, sig.ptr, sig.len, forged, op.len, &judged) == MV_OK)
            fail_msg("an opening with byte %zu changed was accepted", i);
        forged[i] ^= 0x10;
    }
    /* An opening of this signature does not open another one. */
    mv_buf sig2;
    mv_buf_init(&sig2, 1 << 16);
    sign_ok(&g, 2, MSG, sizeof MSG, &sig2);
    assert_int_equal(mv_ring_judge(&g.ring, MSG, sizeof MSG, sig2.ptr, sig2.len, op.ptr, op.len, &judged),
                     MV_ERR_AUTH);
    /* Nor does the judge accept an opening of a signature over another message. */
    assert_int_equal(mv_ring_judge(&g.ring, MSG, sizeof MSG - 1, sig.ptr, sig.len, op.ptr, op.len, &judged),
                     MV_ERR_AUTH);
    mv_free(forged);
    mv_buf_clear(&sig2);

    /* The manager alone (t = n = 1). */
    struct tgroup m;
    tgroup_make(&m, 5, 1, 1, "member");
    sign_ok(&m, 4, MSG, sizeof MSG, &sig);
    uint8_t one[MV_RING_PARTIAL_BYTES];
    assert_int_equal(mv_ring_open_partial(&m.ring, sig.ptr, sig.len, 1, m.dk, NULL, one), MV_OK);
    mv_buf_reset(&op);
    assert_int_equal(mv_ring_open_combine(&m.ring, sig.ptr, sig.len, one, 1, &pos, NULL, &op), MV_OK);
    assert_int_equal(pos, 4);
    assert_int_equal(mv_ring_judge(&m.ring, MSG, sizeof MSG, sig.ptr, sig.len, op.ptr, op.len, &judged), MV_OK);
    assert_int_equal(judged, 4);
    tgroup_free(&m);

    mv_buf_clear(&sig);
    mv_buf_clear(&op);
    tgroup_free(&g);
}

static void test_pop_and_link(void **state)
{
    (void)state;
    struct tgroup g;
    tgroup_make(&g, 4, 9, 1, "member");
    uint8_t proof[MV_RING_POP_BYTES];
    static const uint8_t ctx[] = "group 4242 / user aa";
    assert_int_equal(mv_ring_pop_prove(g.sk, g.members, ctx, sizeof ctx, proof), MV_OK);
    assert_int_equal(mv_ring_pop_verify(g.members, ctx, sizeof ctx, proof), MV_OK);
    assert_int_equal(mv_ring_pop_verify(g.members, ctx, sizeof ctx - 1, proof), MV_ERR_AUTH);
    assert_int_equal(mv_ring_pop_verify(g.members + 32, ctx, sizeof ctx, proof), MV_ERR_AUTH);
    proof[40] ^= 1;
    assert_int_equal(mv_ring_pop_verify(g.members, ctx, sizeof ctx, proof), MV_ERR_AUTH);

    mv_buf sig;
    mv_buf_init(&sig, 1 << 16);
    sign_ok(&g, 2, MSG, sizeof MSG, &sig);
    uint8_t link[MV_RING_LINK_BYTES];
    static const uint8_t del[] = "delete record 1 at t";
    assert_int_equal(mv_ring_link_prove(&g.ring, g.sk + 64, MSG, sizeof MSG, sig.ptr, sig.len, del, sizeof del, link),
                     MV_OK);
    assert_int_equal(mv_ring_link_verify(&g.ring, sig.ptr, sig.len, del, sizeof del, link), MV_OK);
    assert_int_equal(mv_ring_link_verify(&g.ring, sig.ptr, sig.len, del, sizeof del - 1, link), MV_ERR_AUTH);
    /* Another member cannot claim the signature. */
    assert_int_equal(mv_ring_link_prove(&g.ring, g.sk + 32, MSG, sizeof MSG, sig.ptr, sig.len, del, sizeof del, link),
                     MV_ERR_AUTH);
    /* A proof for one signature does not claim another. */
    mv_buf sig2;
    mv_buf_init(&sig2, 1 << 16);
    sign_ok(&g, 2, del, sizeof del, &sig2);
    assert_int_equal(mv_ring_link_prove(&g.ring, g.sk + 64, MSG, sizeof MSG, sig.ptr, sig.len, del, sizeof del, link),
                     MV_OK);
    assert_int_equal(mv_ring_link_verify(&g.ring, sig2.ptr, sig2.len, del, sizeof del, link), MV_ERR_AUTH);
    mv_buf_clear(&sig);
    mv_buf_clear(&sig2);
    tgroup_free(&g);
}

static void test_roster_codec(void **state)
{
    (void)state;
    struct tgroup g;
    tgroup_make(&g, 6, 12, 3, "member");
    uint8_t hpk[32], hsk[64], opk[32], osk[64];
    assert_int_equal(mv_sign_keypair(hpk, hsk), MV_OK);
    assert_int_equal(mv_sign_keypair(opk, osk), MV_OK);
    mv_roster r;
    memset(&r, 0, sizeof r);
    memcpy(r.group_id, g.ring.group_id, 16);
    r.epoch = 12;
    r.issued_at = 1790000000u;
    memcpy(r.ek, g.ring.ek, 32);
    r.t = 2;
    r.n_openers = 3;
    memcpy(r.ek_shares, g.ring.ek_shares, sizeof r.ek_shares);
    /* Members given out of order: the encoding sorts them. */
    uint8_t rev[6 * 32];
    for (int i = 0; i < 6; i++)
        memcpy(rev + 32 * i, g.members + 32 * (5 - i), 32);
    r.members = rev;
    r.n_members = 6;
    mv_buf enc;
    mv_buf_init(&enc, 1 << 16);
    assert_int_equal(mv_roster_sign(&r, hpk, hsk, &enc), MV_OK);
    assert_int_equal(enc.len, 106 + 96 + 6 * 32 + 64);
    assert_memory_equal(enc.ptr, "MVG1", 4);
    mv_roster back;
    assert_int_equal(mv_roster_verify(enc.ptr, enc.len, hpk, &back), MV_OK);
    assert_int_equal(back.epoch, 12);
    assert_int_equal(back.n_members, 6);
    assert_memory_equal(back.members, g.members, 6 * 32);
    mv_ring ring;
    assert_int_equal(mv_roster_ring(&back, &ring), MV_OK);
    assert_memory_equal(ring.roster_hash, g.ring.roster_hash, 32);
    assert_int_equal(mv_roster_find(&back, g.members + 64), 2);
    mv_roster_clear(&back);
    /* Another hospital's key, and every byte changed, are refused. */
    assert_int_equal(mv_roster_verify(enc.ptr, enc.len, opk, &back), MV_ERR_AUTH);
    for (size_t i = 0; i < enc.len; i++) {
        enc.ptr[i] ^= 0x01;
        if (mv_roster_verify(enc.ptr, enc.len, hpk, &back) == MV_OK)
            fail_msg("a roster with byte %zu changed verified", i);
        assert_null(back.members);
        enc.ptr[i] ^= 0x01;
    }
    assert_int_equal(mv_roster_verify(enc.ptr, enc.len - 1, hpk, &back), MV_ERR_PARSE);
    /* Duplicates and a signing key that is not the issuer's are refused. */
    memcpy(rev + 32, rev, 32);
    mv_buf_reset(&enc);
    assert_int_equal(mv_roster_sign(&r, hpk, hsk, &enc), MV_ERR_PARSE);
    assert_int_equal(mv_roster_sign(&r, hpk, osk, &enc), MV_ERR_INVAL);
    assert_int_equal(enc.len, 0);
    mv_buf_clear(&enc);
    tgroup_free(&g);
}

static void test_key_chain(void **state)
{
    (void)state;
    uint8_t seed[32], k5[32], k4[32], k1[32], back[32], f4[32], f5[32];
    memset(seed, 7, sizeof seed);
    assert_int_equal(mv_group_key_at(seed, 5, k5), MV_OK);
    assert_int_equal(mv_group_key_at(seed, 4, k4), MV_OK);
    assert_int_equal(mv_group_key_at(seed, 1, k1), MV_OK);
    assert_memory_not_equal(k5, k4, 32);
    assert_int_equal(mv_group_key_regress(k5, 5, 4, back), MV_OK);
    assert_memory_equal(back, k4, 32);
    assert_int_equal(mv_group_key_regress(k5, 5, 1, back), MV_OK);
    assert_memory_equal(back, k1, 32);
    assert_int_equal(mv_group_key_regress(k5, 5, 5, back), MV_OK);
    assert_memory_equal(back, k5, 32);
    /* Never a newer key, and no epoch 0 or beyond the chain. */
    assert_int_equal(mv_group_key_regress(k4, 4, 5, back), MV_ERR_INVAL);
    assert_int_equal(mv_group_key_at(seed, 0, back), MV_ERR_INVAL);
    assert_int_equal(mv_group_key_at(seed, MV_GROUP_MAX_EPOCHS + 1, back), MV_ERR_INVAL);
    uint8_t gid[16] = {1};
    assert_int_equal(mv_group_file_key(k4, gid, 4, f4), MV_OK);
    assert_int_equal(mv_group_file_key(k5, gid, 5, f5), MV_OK);
    assert_memory_not_equal(f4, f5, 32);
    /* The op message layout: fixed length, fields where docs/groups.md says. */
    uint8_t msg[MV_GROUP_OP_MSG_BYTES], rid[16] = {9}, nonce[16] = {8}, h[32] = {7};
    mv_group_op_msg(gid, 0x0102030405060708ull, MV_GROUP_OP_MODIFY, rid, 3, 1790000000u, nonce, h, msg);
    assert_int_equal(sizeof msg, 126);
    assert_memory_equal(msg, "medvault-group-op-v1\n", 21);
    assert_int_equal(msg[37], 1);
    assert_int_equal(msg[44], 8);
    assert_int_equal(msg[45], MV_GROUP_OP_MODIFY);
    assert_int_equal(msg[46], 9);
    assert_int_equal(msg[69], 3);
    assert_int_equal(msg[78], 8);
    assert_int_equal(msg[94], 7);
    mv_group_op_fields f;
    assert_int_equal(mv_group_op_parse(msg, sizeof msg, &f), MV_OK);
    assert_int_equal(f.epoch, 0x0102030405060708ull);
    assert_int_equal(f.op, MV_GROUP_OP_MODIFY);
    assert_int_equal(f.version, 3);
    assert_int_equal(f.timestamp, 1790000000u);
    assert_memory_equal(f.record_id, rid, 16);
    assert_memory_equal(f.body_hash, h, 32);
    assert_int_equal(mv_group_op_parse(msg, sizeof msg - 1, &f), MV_ERR_PARSE);
    msg[45] = 9;
    assert_int_equal(mv_group_op_parse(msg, sizeof msg, &f), MV_ERR_PARSE);
}

/* The case, partial and opening files: what `group open` and `group judge` carry around. */
static void test_case_files(void **state)
{
    (void)state;
    struct tgroup g;
    tgroup_make(&g, 6, 4, 3, "member");
    uint8_t hpk[32], hsk[64], opk[32], osk[64];
    assert_int_equal(mv_sign_keypair(hpk, hsk), MV_OK);
    assert_int_equal(mv_sign_keypair(opk, osk), MV_OK);
    mv_roster r;
    memset(&r, 0, sizeof r);
    memcpy(r.group_id, g.ring.group_id, 16);
    r.epoch = 4;
    memcpy(r.ek, g.ring.ek, 32);
    r.t = 2;
    r.n_openers = 3;
    memcpy(r.ek_shares, g.ring.ek_shares, sizeof r.ek_shares);
    r.members = g.members;
    r.n_members = 6;
    mv_buf roster, sig, cs, p1, p2, opening;
    mv_buf_init(&roster, 1 << 16);
    mv_buf_init(&sig, 1 << 16);
    mv_buf_init(&cs, 1 << 20);
    mv_buf_init(&p1, 4096);
    mv_buf_init(&p2, 4096);
    mv_buf_init(&opening, 8192);
    assert_int_equal(mv_roster_sign(&r, hpk, hsk, &roster), MV_OK);
    uint8_t rid[16] = {3}, nonce[16] = {1}, bh[32] = {2}, op[MV_GROUP_OP_MSG_BYTES];
    mv_group_op_msg(g.ring.group_id, 4, MV_GROUP_OP_MODIFY, rid, 2, 1790000000u, nonce, bh, op);
    sign_ok(&g, 5, op, sizeof op, &sig);
    assert_int_equal(mv_group_case_write(g.ring.group_id, rid, 2, roster.ptr, roster.len, op, sizeof op, sig.ptr,
                                         sig.len, &cs),
                     MV_OK);
    mv_group_case c;
    const char *why = NULL;
    assert_int_equal(mv_group_case_parse((const char *)cs.ptr, cs.len, hpk, &c, &why), MV_OK);
    assert_int_equal(c.version, 2);
    assert_int_equal(c.op.op, MV_GROUP_OP_MODIFY);
    /* The case's labels are the signed ones: the same signature presented as another version
     * or another record is refused, and so is a signature over a message that is not a group
     * operation, and one whose (u, v) was spliced into another signature to have it opened. */
    mv_group_case other;
    mv_buf relabel;
    mv_buf_init(&relabel, 1 << 20);
    uint8_t rid_b[16] = {4};
    assert_int_equal(mv_group_case_write(g.ring.group_id, rid, 9, roster.ptr, roster.len, op, sizeof op, sig.ptr,
                                         sig.len, &relabel),
                     MV_OK);
    assert_int_equal(mv_group_case_parse((const char *)relabel.ptr, relabel.len, hpk, &other, &why), MV_ERR_PARSE);
    mv_buf_reset(&relabel);
    assert_int_equal(mv_group_case_write(g.ring.group_id, rid_b, 2, roster.ptr, roster.len, op, sizeof op, sig.ptr,
                                         sig.len, &relabel),
                     MV_OK);
    assert_int_equal(mv_group_case_parse((const char *)relabel.ptr, relabel.len, hpk, &other, &why), MV_ERR_PARSE);
    mv_buf spliced;
    mv_buf_init(&spliced, 1 << 16);
    uint8_t op_b[MV_GROUP_OP_MSG_BYTES];
    mv_group_op_msg(g.ring.group_id, 4, MV_GROUP_OP_MODIFY, rid_b, 5, 1790000000u, nonce, bh, op_b);
    sign_ok(&g, 1, op_b, sizeof op_b, &spliced);
    memcpy(spliced.ptr + 10, sig.ptr + 10, 64); /* the target's (u, v) */
    mv_buf_reset(&relabel);
    assert_int_equal(mv_group_case_write(g.ring.group_id, rid_b, 5, roster.ptr, roster.len, op_b, sizeof op_b,
                                         spliced.ptr, spliced.len, &relabel),
                     MV_OK);
    assert_int_equal(mv_group_case_parse((const char *)relabel.ptr, relabel.len, hpk, &other, &why), MV_ERR_AUTH);
    mv_buf_reset(&relabel);
    assert_int_equal(mv_group_case_write(g.ring.group_id, rid, 2, roster.ptr, roster.len, MSG, sizeof MSG, sig.ptr,
                                         sig.len, &relabel),
                     MV_OK);
    assert_int_equal(mv_group_case_parse((const char *)relabel.ptr, relabel.len, hpk, &other, &why), MV_ERR_PARSE);
    mv_buf_clear(&relabel);
    mv_buf_clear(&spliced);
    /* Another hospital's key refuses the roster, with a reason. */
    assert_int_equal(mv_group_case_parse((const char *)cs.ptr, cs.len, opk, &other, &why), MV_ERR_AUTH);
    assert_non_null(why);
    assert_int_equal(mv_group_case_partial(&c, 1, g.shares[0], &p1), MV_OK);
    assert_int_equal(mv_group_case_partial(&c, 2, g.shares[1], &p2), MV_OK);
    const char *parts[2] = {(const char *)p1.ptr, (const char *)p2.ptr};
    size_t lens[2] = {p1.len, p2.len};
    uint32_t pos = 0;
    assert_int_equal(mv_group_case_open(&c, parts, lens, 1, &pos, NULL, &opening), MV_ERR_INVAL);
    mv_buf_reset(&opening);
    assert_int_equal(mv_group_case_open(&c, parts, lens, 2, &pos, NULL, &opening), MV_OK);
    assert_int_equal(pos, 5);
    uint8_t key[32];
    uint32_t judged = 0;
    assert_int_equal(mv_group_case_judge(&c, (const char *)opening.ptr, opening.len, &judged, key), MV_OK);
    assert_int_equal(judged, 5);
    assert_memory_equal(key, g.members + 5 * 32, 32);
    /* A forged opening file (another member's index and key in the summary and the bytes). */
    char *forged = mv_malloc(opening.len + 1);
    assert_non_null(forged);
    memcpy(forged, opening.ptr, opening.len);
    forged[opening.len] = 0;
    char *at = strstr(forged, "\"opening\":\"");
    assert_non_null(at);
    at += strlen("\"opening\":\"") + 8 * 2 - 2; /* the low byte of the position */
    at[1] = at[1] == '0' ? '1' : '0';
    assert_int_equal(mv_group_case_judge(&c, forged, opening.len, &judged, key), MV_ERR_AUTH);
    mv_free(forged);
    /* A partial made for another signature is refused before any combination. */
    mv_buf sig2, cs2, p3;
    mv_buf_init(&sig2, 1 << 16);
    mv_buf_init(&cs2, 1 << 20);
    mv_buf_init(&p3, 4096);
    uint8_t op3[MV_GROUP_OP_MSG_BYTES];
    mv_group_op_msg(g.ring.group_id, 4, MV_GROUP_OP_MODIFY, rid, 3, 1790000001u, nonce, bh, op3);
    sign_ok(&g, 1, op3, sizeof op3, &sig2);
    assert_int_equal(mv_group_case_write(g.ring.group_id, rid, 3, roster.ptr, roster.len, op3, sizeof op3, sig2.ptr,
                                         sig2.len, &cs2),
                     MV_OK);
    mv_group_case c2;
    assert_int_equal(mv_group_case_parse((const char *)cs2.ptr, cs2.len, hpk, &c2, &why), MV_OK);
    assert_int_equal(mv_group_case_partial(&c2, 3, g.shares[2], &p3), MV_OK);
    const char *mixed[2] = {(const char *)p1.ptr, (const char *)p3.ptr};
    size_t mixed_lens[2] = {p1.len, p3.len};
    mv_buf_reset(&opening);
    assert_int_equal(mv_group_case_open(&c, mixed, mixed_lens, 2, &pos, NULL, &opening), MV_ERR_PARSE);
    /* Malformed case files get a reason, not a crash. */
    static const char *bad[] = {"", "{}", "{\"v\":2}", "{\"v\":1,\"group\":\"zz\"}", "[1,2]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        assert_int_not_equal(mv_group_case_parse(bad[i], strlen(bad[i]), hpk, &other, &why), MV_OK);
        assert_non_null(why);
    }
    mv_group_case_clear(&c);
    mv_group_case_clear(&c2);
    mv_buf_clear(&roster);
    mv_buf_clear(&sig);
    mv_buf_clear(&sig2);
    mv_buf_clear(&cs);
    mv_buf_clear(&cs2);
    mv_buf_clear(&p1);
    mv_buf_clear(&p2);
    mv_buf_clear(&p3);
    mv_buf_clear(&opening);
    tgroup_free(&g);
}

/* ---- known-answer vectors ---- */

struct vcase {
    size_t n;
    unsigned openers;
    size_t signer;
    uint64_t epoch;
};
static const struct vcase VCASES[] = {{2, 1, 1, 1}, {5, 3, 4, 2}, {16, 3, 9, 3}};

static void hex_field(FILE *f, const char *key, const uint8_t *p, size_t n, int last)
{
    fprintf(f, "      \"%s\": \"", key);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", p[i]);
    fprintf(f, "\"%s\n", last ? "" : ",");
}

/* One case, computed from its fixed inputs; writes it to f when f is not NULL, else checks it
 * against the stored case. */
static void vector_case(const struct vcase *vc, FILE *f, const mv_json *stored)
{
    struct tgroup g;
    tgroup_make(&g, vc->n, vc->epoch, vc->openers, "vector member");
    uint8_t seed[32], oseed[3][32];
    memset(seed, 0xa5, 32);
    for (int i = 0; i < 3; i++)
        memset(oseed[i], 0x11 * (i + 1), 32);
    char msgtxt[64];
    int ml = snprintf(msgtxt, sizeof msgtxt, "medvault ring signature vector %zu", vc->n);
    mv_buf sig, op;
    mv_buf_init(&sig, 1 << 16);
    mv_buf_init(&op, 4096);
    assert_int_equal(mv_ring_sign(&g.ring, g.sk + 32 * vc->signer, (const uint8_t *)msgtxt, (size_t)ml, seed, &sig),
                     MV_OK);
    assert_int_equal(mv_ring_verify(&g.ring, (const uint8_t *)msgtxt, (size_t)ml, sig.ptr, sig.len), MV_OK);
    uint8_t parts[2 * MV_RING_PARTIAL_BYTES];
    unsigned ids[2] = {1, vc->openers == 3 ? 3u : 0u};
    size_t count = vc->openers == 3 ? 2 : 1;
    for (size_t i = 0; i < count; i++)
        assert_int_equal(mv_ring_open_partial(&g.ring, sig.ptr, sig.len, (uint8_t)ids[i], g.shares[ids[i] - 1],
                                              oseed[i], parts + MV_RING_PARTIAL_BYTES * i),
                         MV_OK);
    uint32_t pos = 0;
    assert_int_equal(mv_ring_open_combine(&g.ring, sig.ptr, sig.len, parts, count, &pos, NULL, &op), MV_OK);
    assert_int_equal(pos, vc->signer);
    if (f) {
        fprintf(f, "    {\n      \"members\": %zu,\n      \"epoch\": %llu,\n      \"t\": %u,\n      \"n\": %u,\n", vc->n,
                (unsigned long long)vc->epoch, g.ring.t, g.ring.n_openers);
        hex_field(f, "group_id", g.ring.group_id, 16, 0);
        fprintf(f, "      \"member_keys\": [");
        for (size_t i = 0; i < vc->n; i++) {
            fprintf(f, "%s\"", i ? ", " : "");
            for (int b = 0; b < 32; b++)
                fprintf(f, "%02x", g.members[32 * i + b]);
            fprintf(f, "\"");
        }
        fprintf(f, "],\n");
        hex_field(f, "ek", g.ring.ek, 32, 0);
        hex_field(f, "ek_shares", &g.ring.ek_shares[0][0], 32 * (size_t)g.ring.n_openers, 0);
        hex_field(f, "roster_hash", g.ring.roster_hash, 32, 0);
        hex_field(f, "generators", &g.ring.gens[0][0], 32 * ((size_t)g.ring.bits + 1), 0);
        fprintf(f, "      \"signer_index\": %zu,\n", vc->signer);
        hex_field(f, "signer_sk", g.sk + 32 * vc->signer, 32, 0);
        hex_field(f, "opener_shares", &g.shares[0][0], 32 * (size_t)g.ring.n_openers, 0);
        hex_field(f, "msg", (const uint8_t *)msgtxt, (size_t)ml, 0);
        hex_field(f, "sign_seed", seed, 32, 0);
        hex_field(f, "opener_seeds", &oseed[0][0], 32 * count, 0);
        hex_field(f, "signature", sig.ptr, sig.len, 0);
        hex_field(f, "opening", op.ptr, op.len, 1);
        fprintf(f, "    }");
    } else {
        size_t n;
        uint8_t *want = tu_json_hex(stored, "signature", &n);
        assert_int_equal(n, sig.len);
        assert_memory_equal(want, sig.ptr, n);
        mv_free(want);
        want = tu_json_hex(stored, "opening", &n);
        assert_int_equal(n, op.len);
        assert_memory_equal(want, op.ptr, n);
        mv_free(want);
        want = tu_json_hex(stored, "roster_hash", &n);
        assert_memory_equal(want, g.ring.roster_hash, 32);
        mv_free(want);
        uint32_t judged = 0;
        assert_int_equal(mv_ring_judge(&g.ring, (const uint8_t *)msgtxt, (size_t)ml, sig.ptr, sig.len, op.ptr, op.len,
                                       &judged),
                         MV_OK);
        assert_int_equal(judged, vc->signer);
    }
    mv_buf_clear(&sig);
    mv_buf_clear(&op);
    tgroup_free(&g);
}

static void test_vectors(void **state)
{
    (void)state;
    const char *out = getenv("MV_WRITE_RINGSIG_VECTORS");
    size_t ncases = sizeof VCASES / sizeof VCASES[0];
    if (out && *out) {
        FILE *f = fopen(out, "w");
        assert_non_null(f);
        fprintf(f, "{\n  \"scheme\": \"medvault-ring-v1 (docs/group-signature.md)\",\n  \"cases\": [\n");
        for (size_t i = 0; i < ncases; i++) {
            vector_case(&VCASES[i], f, NULL);
            fprintf(f, "%s\n", i + 1 < ncases ? "," : "");
        }
        fprintf(f, "  ]\n}\n");
        assert_int_equal(fclose(f), 0);
        return;
    }
    mv_json *root = tu_load_json("ringsig.json");
    const mv_json *cases = mv_json_get(root, "cases");
    assert_non_null(cases);
    assert_int_equal(mv_json_len(cases), ncases);
    for (size_t i = 0; i < ncases; i++)
        vector_case(&VCASES[i], NULL, mv_json_at(cases, i));
    mv_json_free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_sizes_and_limits),
        cmocka_unit_test(test_binding),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_openings),
        cmocka_unit_test(test_pop_and_link),
        cmocka_unit_test(test_roster_codec),
        cmocka_unit_test(test_key_chain),
        cmocka_unit_test(test_case_files),
        cmocka_unit_test(test_every_bit_flip),
        cmocka_unit_test(test_bit_flips_large_ring),
        cmocka_unit_test(test_sizes_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
