/* test_pre.c - threshold proxy re-encryption (mv_pre.h, docs/pre.md): round trips 2-of-2 and
 * 3-of-5 over every subset, too few cfrags, cfrags of another recipient or delegation, every
 * byte flip of a capsule, a cfrag and a delegation, the sealed kfrag's binding to its proxy and
 * commitment, a consumer with one cloud's cfrag, and the known-answer vectors of
 * tests/vectors/pre.json (MV_WRITE_PRE_VECTORS=FILE writes them instead: docs/pre.md section 9
 * says how they are made). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_box.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_credential.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_pre.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_sig.h"

/* Deterministic bytes from a label and an index: SHA-512 via expand_message_xmd (the same
 * recipe the vectors document). */
static void det_bytes(const char *label, unsigned i, uint8_t *out, size_t n)
{
    uint8_t s[32];
    char in[96];
    int len = snprintf(in, sizeof in, "%s %u", label, i);
    assert_true(n <= 32 || n == 64);
    if (n == 64) {
        det_bytes(label, 1000 + i, out, 32);
        det_bytes(label, 2000 + i, out + 32, 32);
        return;
    }
    assert_int_equal(mv_r255_hash_to_scalar(s, (const uint8_t *)in, (size_t)len, (const uint8_t *)"medvault-pre-v1-test", 20),
                     MV_OK);
    memcpy(out, s, n);
}

struct party {
    uint8_t box_sk[32], seed[32], sk[32], pk[32];
};

static void party_make(struct party *p, const char *label)
{
    det_bytes(label, 0, p->box_sk, 32);
    mv_pre_seed(p->box_sk, p->seed);
    assert_int_equal(mv_pre_recipient_key(p->seed, p->sk, p->pk), MV_OK);
}

/* Everything one delegation needs: the owner's label key, a capsule, kfrags to bob. */
struct setup {
    struct party owner, bob;
    uint8_t owner_sign_pk[32], owner_sign_sk[64];
    uint8_t label[16], a[32], A[32];
    uint8_t capsule[MV_PRE_CAPSULE_BYTES], key[32];
    uint8_t X_A[32];
    unsigned t, n;
    mv_pre_kfrag kf[MV_PRE_MAX_FRAGS];
    uint8_t aux[32];
};

static void setup_make(struct setup *s, unsigned t, unsigned n, const char *tag)
{
    uint8_t sseed[32], krnd[32];
    memset(s, 0, sizeof *s);
    party_make(&s->owner, "owner");
    party_make(&s->bob, tag);
    det_bytes("owner-sign", 0, sseed, 32);
    assert_int_equal(mv_sign_seed_keypair(s->owner_sign_pk, s->owner_sign_sk, sseed), MV_OK);
    det_bytes("label", 0, s->label, 16);
    assert_int_equal(mv_pre_label_key(s->owner.seed, s->owner_sign_pk, MV_PRE_LABEL_EPISODE, s->label, s->a, s->A), MV_OK);
    assert_int_equal(mv_pre_encapsulate(s->A, NULL, s->capsule, s->key), MV_OK);
    s->t = t;
    s->n = n;
    det_bytes(tag, 7, krnd, 32);
    assert_int_equal(mv_pre_kfrags(s->a, s->A, s->bob.pk, t, n, NULL, s->X_A, s->kf), MV_OK);
    det_bytes("aux", 0, s->aux, 32);
}

static void cfrag_of(const struct setup *s, unsigned i, uint8_t cf[MV_PRE_CFRAG_BYTES])
{
    assert_int_equal(mv_pre_reencrypt(&s->kf[i], s->capsule, s->aux, NULL, cf), MV_OK);
    assert_int_equal(mv_pre_cfrag_verify(s->capsule, cf, s->kf[i].id, s->kf[i].U1, s->aux), MV_OK);
}

static void test_round_trip_2_of_2(void **state)
{
    (void)state;
    struct setup s;
    uint8_t cfs[2 * MV_PRE_CFRAG_BYTES], key[32], own[32];
    setup_make(&s, 2, 2, "bob");
    assert_int_equal(mv_pre_capsule_check(s.capsule), MV_OK);
    assert_int_equal(mv_pre_decapsulate(s.a, s.capsule, own), MV_OK);
    assert_memory_equal(own, s.key, 32);
    for (unsigned i = 0; i < 2; i++) {
        assert_int_equal(mv_pre_kfrag_check(&s.kf[i]), MV_OK);
        cfrag_of(&s, i, cfs + i * MV_PRE_CFRAG_BYTES);
    }
    assert_int_equal(mv_pre_decapsulate_frags(s.bob.sk, s.bob.pk, s.A, s.X_A, s.capsule, cfs, 2, key), MV_OK);
    assert_memory_equal(key, s.key, 32);
    /* In either order. */
    uint8_t swapped[2 * MV_PRE_CFRAG_BYTES];
    memcpy(swapped, cfs + MV_PRE_CFRAG_BYTES, MV_PRE_CFRAG_BYTES);
    memcpy(swapped + MV_PRE_CFRAG_BYTES, cfs, MV_PRE_CFRAG_BYTES);
    assert_int_equal(mv_pre_decapsulate_frags(s.bob.sk, s.bob.pk, s.A, s.X_A, s.capsule, swapped, 2, key), MV_OK);
    assert_memory_equal(key, s.key, 32);
    /* One cfrag (one cloud) is not enough, whichever it is; the same one twice neither. */
    for (unsigned i = 0; i < 2; i++) {
        assert_int_equal(mv_pre_decapsulate_frags(s.bob.sk, s.bob.pk, s.A, s.X_A, s.capsule, cfs + i * MV_PRE_CFRAG_BYTES, 1, key),
                         MV_ERR_VERIFY);
        assert_true(tu_all_zero(key, 32));
        uint8_t twice[2 * MV_PRE_CFRAG_BYTES];
        memcpy(twice, cfs + i * MV_PRE_CFRAG_BYTES, MV_PRE_CFRAG_BYTES);
        memcpy(twice + MV_PRE_CFRAG_BYTES, cfs + i * MV_PRE_CFRAG_BYTES, MV_PRE_CFRAG_BYTES);
        assert_int_equal(mv_pre_decapsulate_frags(s.bob.sk, s.bob.pk, s.A, s.X_A, s.capsule, twice, 2, key), MV_ERR_VERIFY);
    }
    /* Wrap a keyset key under the capsule's key; the recipient unwraps it with hers. */
    assert_int_equal(mv_pre_decapsulate_frags(s.bob.sk, s.bob.pk, s.A, s.X_A, s.capsule, cfs, 2, key), MV_OK);
    uint8_t ref[16], secret[32], wrapped[MV_PRE_WRAPPED_BYTES], back[32];
    det_bytes("ref", 0, ref, 16);
    det_bytes("secret", 0, secret, 32);
    assert_int_equal(mv_pre_wrap(s.key, s.capsule, ref, secret, wrapped), MV_OK);
    assert_int_equal(mv_pre_unwrap(key, s.capsule, ref, wrapped, back), MV_OK);
    assert_memory_equal(back, secret, 32);
    ref[0] ^= 1;
    assert_int_equal(mv_pre_unwrap(key, s.capsule, ref, wrapped, back), MV_ERR_VERIFY);
    assert_true(tu_all_zero(back, 32));
}

static void test_3_of_5_every_subset(void **state)
{
    (void)state;
    struct setup s;
    uint8_t all[5 * MV_PRE_CFRAG_BYTES], pick[5 * MV_PRE_CFRAG_BYTES], key[32];
    setup_make(&s, 3, 5, "bob");
    for (unsigned i = 0; i < 5; i++)
        cfrag_of(&s, i, all + i * MV_PRE_CFRAG_BYTES);
    unsigned ok = 0, refused = 0;
    for (unsigned mask = 1; mask < 32; mask++) {
        size_t k = 0;
        for (unsigned i = 0; i < 5; i++)
            if (mask & (1u << i))
                memcpy(pick + MV_PRE_CFRAG_BYTES * k++, all + i * MV_PRE_CFRAG_BYTES, MV_PRE_CFRAG_BYTES);
        mv_err rc = mv_pre_decapsulate_frags(s.bob.sk, s.bob.pk, s.A, s.X_A, s.capsule, pick, k, key);
        if (k >= 3) {
            assert_int_equal(rc, MV_OK);
            assert_memory_equal(key, s.key, 32);
            ok++;
        } else {
            assert_int_equal(rc, MV_ERR_VERIFY);
            refused++;
        }
    }
    assert_int_equal(ok, 16);      /* C(5,3) + C(5,4) + C(5,5) */
    assert_int_equal(refused, 15); /* C(5,1) + C(5,2) */
}

/* Kfrags for bob do not serve carol, nor do cfrags of another delegation (another label, or
 * another kfrag set to bob), and a consumer holding one cloud's cfrag plus her own keys gets
 * nothing of a label not delegated to her. */
static void test_wrong_recipient_and_mixing(void **state)
{
    (void)state;
    struct setup s, other;
    struct party carol;
    uint8_t cfs[2 * MV_PRE_CFRAG_BYTES], key[32];
    setup_make(&s, 2, 2, "bob");
    party_make(&carol, "carol");
    for (unsigned i = 0; i < 2; i++)
        cfrag_of(&s, i, cfs + i * MV_PRE_CFRAG_BYTES);
    assert_int_equal(mv_pre_decapsulate_frags(carol.sk, carol.pk, s.A, s.X_A, s.capsule, cfs, 2, key), MV_ERR_VERIFY);
    assert_true(tu_all_zero(key, 32));
    /* A second kfrag set to bob for the same label: its cfrags do not combine with the first's. */
    memcpy(&other, &s, sizeof s);
    assert_int_equal(mv_pre_kfrags(s.a, s.A, s.bob.pk, 2, 2, NULL, other.X_A, other.kf), MV_OK);
    uint8_t mixed[2 * MV_PRE_CFRAG_BYTES];
    memcpy(mixed, cfs, MV_PRE_CFRAG_BYTES);
    cfrag_of(&other, 1, mixed + MV_PRE_CFRAG_BYTES);
    assert_int_equal(mv_pre_decapsulate_frags(s.bob.sk, s.bob.pk, s.A, s.X_A, s.capsule, mixed, 2, key), MV_ERR_VERIFY);
    assert_int_equal(mv_pre_decapsulate_frags(s.bob.sk, s.bob.pk, s.A, other.X_A, s.capsule, mixed, 2, key), MV_ERR_VERIFY);
    /* Carol was delegated another label by the same owner (kfrags to her): with her own two
     * cfrags of that delegation and cloud 1's cfrag of bob's, she still cannot open bob's capsule. */
    uint8_t label2[16], a2[32], A2[32], X2[32];
    mv_pre_kfrag kc[2];
    det_bytes("label", 1, label2, 16);
    assert_int_equal(mv_pre_label_key(s.owner.seed, s.owner_sign_pk, MV_PRE_LABEL_EPISODE, label2, a2, A2), MV_OK);
    assert_memory_not_equal(A2, s.A, 32);
    assert_int_equal(mv_pre_kfrags(a2, A2, carol.pk, 2, 2, NULL, X2, kc), MV_OK);
    uint8_t cc[2 * MV_PRE_CFRAG_BYTES];
    /* Cloud 2 re-encrypting bob's capsule with carol's kfrag (the proof verifies against
     * carol's commitment, but the result is for label2's key and carol). */
    assert_int_equal(mv_pre_reencrypt(&kc[1], s.capsule, s.aux, NULL, cc + MV_PRE_CFRAG_BYTES), MV_OK);
    memcpy(cc, cfs, MV_PRE_CFRAG_BYTES);
    assert_int_equal(mv_pre_decapsulate_frags(carol.sk, carol.pk, s.A, s.X_A, s.capsule, cc, 2, key), MV_ERR_VERIFY);
    assert_int_equal(mv_pre_decapsulate_frags(carol.sk, carol.pk, A2, X2, s.capsule, cc, 2, key), MV_ERR_VERIFY);
    /* A capsule for another label's key is opened by its owner only with that label's key. */
    assert_int_equal(mv_pre_decapsulate(a2, s.capsule, key), MV_OK);
    assert_memory_not_equal(key, s.key, 32);
}

/* Every single-byte change of a capsule, a cfrag, its id or aux is refused; each cfrag proof
 * is bound to its kfrag's commitment. */
static void test_every_byte_flip(void **state)
{
    (void)state;
    struct setup s;
    uint8_t cf[MV_PRE_CFRAG_BYTES], bad[MV_PRE_CFRAG_BYTES], cap[MV_PRE_CAPSULE_BYTES];
    setup_make(&s, 2, 2, "bob");
    cfrag_of(&s, 0, cf);
    for (size_t i = 0; i < MV_PRE_CFRAG_BYTES; i++) {
        memcpy(bad, cf, sizeof bad);
        bad[i] ^= 0x01;
        assert_int_equal(mv_pre_cfrag_verify(s.capsule, bad, s.kf[0].id, s.kf[0].U1, s.aux), MV_ERR_VERIFY);
    }
    /* A changed capsule: its check fails, a cfrag of the original does not verify for it (E
     * and V are in the proof), and the genuine cfrags do not decapsulate it (s is in the final
     * check). */
    uint8_t cfs[2 * MV_PRE_CFRAG_BYTES], key[32];
    memcpy(cfs, cf, MV_PRE_CFRAG_BYTES);
    cfrag_of(&s, 1, cfs + MV_PRE_CFRAG_BYTES);
    for (size_t i = 0; i < MV_PRE_CAPSULE_BYTES; i++) {
        memcpy(cap, s.capsule, sizeof cap);
        cap[i] ^= 0x01;
        assert_int_equal(mv_pre_capsule_check(cap), MV_ERR_VERIFY);
        if (i < 64)
            assert_int_equal(mv_pre_cfrag_verify(cap, cf, s.kf[0].id, s.kf[0].U1, s.aux), MV_ERR_VERIFY);
        assert_int_equal(mv_pre_decapsulate_frags(s.bob.sk, s.bob.pk, s.A, s.X_A, cap, cfs, 2, key), MV_ERR_VERIFY);
        assert_int_not_equal(mv_pre_decapsulate(s.a, cap, key), MV_OK);
    }
    /* An opener made once serves every capsule of the delegation. */
    mv_pre_opener o;
    assert_int_equal(mv_pre_opener_init(&o, s.bob.sk, s.bob.pk, s.A, s.X_A), MV_OK);
    assert_int_equal(mv_pre_opener_open(&o, s.capsule, cfs, 2, key), MV_OK);
    assert_memory_equal(key, s.key, 32);
    mv_pre_opener_wipe(&o);
    uint8_t aux2[32];
    memcpy(aux2, s.aux, 32);
    aux2[31] ^= 0x80;
    assert_int_equal(mv_pre_cfrag_verify(s.capsule, cf, s.kf[0].id, s.kf[0].U1, aux2), MV_ERR_VERIFY);
    assert_int_equal(mv_pre_cfrag_verify(s.capsule, cf, s.kf[1].id, s.kf[1].U1, s.aux), MV_ERR_VERIFY);
    assert_int_equal(mv_pre_cfrag_verify(s.capsule, cf, s.kf[0].id, s.kf[1].U1, s.aux), MV_ERR_VERIFY);
    /* A proxy that shifts E1 by D and V1 by -h*D keeps the final decapsulation equation true
     * and changes the key: its proof fails, which is why every cfrag must be verified. */
    {
        uint8_t D[32], dsc[32], hsc[32], hD[32], shifted[2 * MV_PRE_CFRAG_BYTES], k1[32], k2[32];
        mv_r255_scalar_random(dsc);
        assert_int_equal(mv_r255_smul_base(D, dsc), MV_OK);
        assert_int_equal(mv_r255_hash_to_scalar(hsc, s.capsule, 64, (const uint8_t *)"medvault-pre-v1-capsule", 23), MV_OK);
        assert_int_equal(mv_r255_smul(hD, hsc, D), MV_OK);
        memcpy(shifted, cfs, sizeof shifted);
        uint8_t *c2 = shifted + MV_PRE_CFRAG_BYTES;
        assert_int_equal(mv_r255_add(c2, c2, D), MV_OK);
        assert_int_equal(mv_r255_sub(c2 + 32, c2 + 32, hD), MV_OK);
        assert_int_equal(mv_pre_cfrag_verify(s.capsule, c2, s.kf[1].id, s.kf[1].U1, s.aux), MV_ERR_VERIFY);
        assert_int_equal(mv_pre_decapsulate_frags(s.bob.sk, s.bob.pk, s.A, s.X_A, s.capsule, cfs, 2, k1), MV_OK);
        if (mv_pre_decapsulate_frags(s.bob.sk, s.bob.pk, s.A, s.X_A, s.capsule, shifted, 2, k2) == MV_OK)
            assert_memory_not_equal(k1, k2, 32);
    }
    /* A proxy that used another scalar than its committed rk is caught. */
    mv_pre_kfrag liar = s.kf[0];
    mv_r255_scalar_add(liar.rk, liar.rk, liar.rk);
    assert_int_equal(mv_pre_kfrag_check(&liar), MV_ERR_VERIFY);
    assert_int_equal(mv_pre_reencrypt(&liar, s.capsule, s.aux, NULL, bad), MV_OK);
    assert_int_equal(mv_pre_cfrag_verify(s.capsule, bad, s.kf[0].id, s.kf[0].U1, s.aux), MV_ERR_VERIFY);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct setup s;
    uint8_t X[32], zero[32] = {0}, key[32], cap[MV_PRE_CAPSULE_BYTES];
    mv_pre_kfrag kf[MV_PRE_MAX_FRAGS + 1];
    setup_make(&s, 2, 2, "bob");
    assert_int_equal(mv_pre_kfrags(s.a, s.A, s.bob.pk, 0, 2, NULL, X, kf), MV_ERR_INVAL);
    assert_int_equal(mv_pre_kfrags(s.a, s.A, s.bob.pk, 3, 2, NULL, X, kf), MV_ERR_INVAL);
    assert_int_equal(mv_pre_kfrags(s.a, s.A, s.bob.pk, 1, MV_PRE_MAX_FRAGS + 1, NULL, X, kf), MV_ERR_INVAL);
    assert_int_equal(mv_pre_kfrags(s.a, s.A, s.A, 2, 2, NULL, X, kf), MV_ERR_INVAL);        /* to herself */
    assert_int_equal(mv_pre_kfrags(s.a, s.bob.pk, s.A, 2, 2, NULL, X, kf), MV_ERR_INVAL);   /* A not a's */
    assert_int_equal(mv_pre_kfrags(s.a, s.A, zero, 2, 2, NULL, X, kf), MV_ERR_INVAL);       /* identity B */
    assert_int_equal(mv_pre_encapsulate(zero, NULL, cap, key), MV_ERR_INVAL);
    assert_int_equal(mv_pre_label_key(s.owner.seed, s.owner_sign_pk, (mv_pre_label_kind)3, s.label, X, key), MV_ERR_INVAL);
    /* 1-of-1 works (a single proxy), 16-of-16 too. */
    uint8_t cfs[MV_PRE_MAX_FRAGS * MV_PRE_CFRAG_BYTES];
    for (unsigned n = 1; n <= MV_PRE_MAX_FRAGS; n += 15) {
        assert_int_equal(mv_pre_kfrags(s.a, s.A, s.bob.pk, n, n, NULL, X, kf), MV_OK);
        for (unsigned i = 0; i < n; i++)
            assert_int_equal(mv_pre_reencrypt(&kf[i], s.capsule, s.aux, NULL, cfs + i * MV_PRE_CFRAG_BYTES), MV_OK);
        assert_int_equal(mv_pre_decapsulate_frags(s.bob.sk, s.bob.pk, s.A, X, s.capsule, cfs, n, key), MV_OK);
        assert_memory_equal(key, s.key, 32);
    }
}

/* A delegation with two entries, signed by the owner. */
static void delegation_make(const struct setup *s, mv_pre_delegation *d, mv_pre_entry e[2])
{
    memset(d, 0, sizeof *d);
    memcpy(d->owner, s->owner_sign_pk, 32);
    d->label_kind = MV_PRE_LABEL_EPISODE;
    memcpy(d->label, s->label, 16);
    memcpy(d->pk_A, s->A, 32);
    det_bytes("recipient-sign", 0, d->recipient, 32);
    memcpy(d->pk_B, s->bob.pk, 32);
    d->role = MV_ROLE_DOCTOR;
    snprintf(d->department, sizeof d->department, "%s", "cardiology");
    d->issued_at = 1800000000;
    d->expires_at = 1800000000 + 30 * 86400;
    d->t = (uint8_t)s->t;
    d->n = (uint8_t)s->n;
    memcpy(d->X_A, s->X_A, 32);
    for (unsigned i = 0; i < s->n; i++) {
        d->commit[i].proxy = (uint8_t)(i + 1);
        memcpy(d->commit[i].kfrag_id, s->kf[i].id, 32);
        memcpy(d->commit[i].U1, s->kf[i].U1, 32);
    }
    for (unsigned i = 0; i < 2; i++) {
        uint8_t k[32], secret[32];
        e[i].kind = MV_PRE_ENTRY_KEYSET;
        det_bytes("ref", i, e[i].ref, 16);
        e[i].ref[0] = (uint8_t)i; /* ascending */
        det_bytes("secret", i, secret, 32);
        assert_int_equal(mv_pre_encapsulate(s->A, NULL, e[i].capsule, k), MV_OK);
        assert_int_equal(mv_pre_wrap(k, e[i].capsule, e[i].ref, secret, e[i].wrapped), MV_OK);
    }
    d->n_entries = 2;
    d->entries = e;
}

static void test_delegation_codec(void **state)
{
    (void)state;
    struct setup s;
    mv_pre_delegation d, p;
    mv_pre_entry e[2];
    mv_buf b;
    mv_buf_init(&b, MV_PRE_DELEGATION_MAX_BYTES);
    setup_make(&s, 2, 2, "bob");
    delegation_make(&s, &d, e);
    assert_int_equal(mv_pre_delegation_sign(&d, s.owner_sign_sk, &b), MV_OK);
    assert_int_equal(b.len, 152 + 10 + 50 + 65 * 2 + 2 + MV_PRE_ENTRY_BYTES * 2 + 64);
    assert_int_equal(mv_pre_delegation_parse(b.ptr, b.len, &p), MV_OK);
    assert_memory_equal(p.owner, d.owner, 32);
    assert_string_equal(p.department, "cardiology");
    assert_int_equal(p.n_entries, 2);
    assert_memory_equal(p.entries[1].wrapped, e[1].wrapped, MV_PRE_WRAPPED_BYTES);
    assert_memory_equal(p.commit[1].U1, s.kf[1].U1, 32);
    /* Every byte flip is refused (the signature covers all; the signature's own bytes too). */
    uint8_t *copy = mv_malloc(b.len);
    assert_non_null(copy);
    for (size_t i = 0; i < b.len; i++) {
        memcpy(copy, b.ptr, b.len);
        copy[i] ^= 0x01;
        mv_pre_delegation q;
        mv_err rc = mv_pre_delegation_parse(copy, b.len, &q);
        assert_true(rc == MV_ERR_PARSE || rc == MV_ERR_VERIFY);
        assert_null(q.entries);
    }
    /* Truncated and extended encodings. */
    for (size_t l = 0; l < b.len; l += 7) {
        mv_pre_delegation q;
        assert_int_not_equal(mv_pre_delegation_parse(b.ptr, l, &q), MV_OK);
    }
    mv_pre_delegation q;
    memcpy(copy, b.ptr, b.len);
    assert_int_equal(mv_pre_delegation_parse(copy, b.len - 1, &q), MV_ERR_PARSE);
    /* Sealed kfrags: each proxy opens its own, checked against the commitment. */
    uint8_t bpk[2][32], bsk[2][32], sealed[2][MV_PRE_SEALED_KFRAG_BYTES];
    for (unsigned i = 0; i < 2; i++) {
        assert_int_equal(mv_box_keypair(bpk[i], bsk[i]), MV_OK);
        assert_int_equal(mv_pre_kfrag_seal(&s.kf[i], (uint8_t)(i + 1), bpk[i], sealed[i]), MV_OK);
    }
    mv_pre_kfrag k;
    assert_int_equal(mv_pre_kfrag_open(sealed[0], bpk[0], bsk[0], &p, 1, &k), MV_OK);
    assert_memory_equal(k.rk, s.kf[0].rk, 32);
    assert_int_equal(mv_pre_kfrag_open(sealed[1], bpk[1], bsk[1], &p, 2, &k), MV_OK);
    assert_int_equal(mv_pre_kfrag_open(sealed[1], bpk[0], bsk[0], &p, 2, &k), MV_ERR_VERIFY); /* not sealed to 1 */
    assert_true(tu_all_zero(k.rk, 32));
    assert_int_equal(mv_pre_kfrag_open(sealed[0], bpk[0], bsk[0], &p, 2, &k), MV_ERR_VERIFY); /* index 1's, claimed 2 */
    /* A kfrag sealed for proxy 2 but re-labelled as proxy 1's is refused by its index. */
    uint8_t wrongidx[MV_PRE_SEALED_KFRAG_BYTES];
    assert_int_equal(mv_pre_kfrag_seal(&s.kf[1], 1, bpk[0], wrongidx), MV_OK);
    assert_int_equal(mv_pre_kfrag_open(wrongidx, bpk[0], bsk[0], &p, 1, &k), MV_ERR_VERIFY);
    /* Refused at signing: an expired window, two roles, a bad department, entries out of order. */
    mv_buf_reset(&b);
    d.expires_at = d.issued_at;
    assert_int_equal(mv_pre_delegation_sign(&d, s.owner_sign_sk, &b), MV_ERR_INVAL);
    d.expires_at = d.issued_at + 1;
    d.role = MV_ROLE_DOCTOR | MV_ROLE_PATIENT;
    assert_int_equal(mv_pre_delegation_sign(&d, s.owner_sign_sk, &b), MV_ERR_INVAL);
    d.role = MV_ROLE_DOCTOR;
    snprintf(d.department, sizeof d.department, "%s", "card/iology");
    assert_int_equal(mv_pre_delegation_sign(&d, s.owner_sign_sk, &b), MV_ERR_INVAL);
    snprintf(d.department, sizeof d.department, "%s", "cardiology");
    mv_pre_entry tmp = e[0];
    e[0] = e[1];
    e[1] = tmp;
    assert_int_equal(mv_pre_delegation_sign(&d, s.owner_sign_sk, &b), MV_ERR_INVAL);
    e[1] = e[0];
    e[0] = tmp;
    /* Two entries sharing one capsule (a key and nonce used twice), duplicate kfrag ids or
     * commitments, an id that is not a canonical scalar: refused (review findings). */
    mv_pre_entry keep = e[1];
    memcpy(e[1].capsule, e[0].capsule, MV_PRE_CAPSULE_BYTES);
    assert_int_equal(mv_pre_delegation_sign(&d, s.owner_sign_sk, &b), MV_ERR_INVAL);
    e[1] = keep;
    assert_int_equal(mv_pre_delegation_sign(&d, s.owner_sign_sk, &b), MV_OK);
    mv_pre_commitment c1 = d.commit[1];
    memcpy(d.commit[1].kfrag_id, d.commit[0].kfrag_id, 32);
    assert_int_equal(mv_pre_delegation_sign(&d, s.owner_sign_sk, &b), MV_ERR_INVAL);
    d.commit[1] = c1;
    memcpy(d.commit[1].U1, d.commit[0].U1, 32);
    assert_int_equal(mv_pre_delegation_sign(&d, s.owner_sign_sk, &b), MV_ERR_INVAL);
    d.commit[1] = c1;
    memset(d.commit[1].kfrag_id, 0xff, 32);
    assert_int_equal(mv_pre_delegation_sign(&d, s.owner_sign_sk, &b), MV_ERR_INVAL);
    d.commit[1] = c1;
    memcpy(d.recipient, d.owner, 32);
    assert_int_equal(mv_pre_delegation_sign(&d, s.owner_sign_sk, &b), MV_ERR_INVAL);
    mv_free(copy);
    mv_pre_delegation_clear(&p);
    mv_buf_clear(&b);
}

/* ---- known-answer vectors ---- */

struct vcase {
    const char *name;
    unsigned t, n;
};

static const struct vcase VCASES[] = {
    {"2-of-2", 2, 2},
    {"3-of-5", 3, 5},
    {"1-of-1", 1, 1},
};

/* Writes "name":"hex" to f, or compares with obj[name]. */
static void field(FILE *f, const mv_json *obj, const char *name, const uint8_t *p, size_t n, int last)
{
    if (f) {
        fprintf(f, "      \"%s\": \"", name);
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%02x", p[i]);
        fprintf(f, "\"%s\n", last ? "" : ",");
        return;
    }
    size_t got = 0;
    uint8_t *want = tu_json_hex(obj, name, &got);
    assert_int_equal(got, n);
    if (memcmp(want, p, n) != 0)
        fail_msg("vector field %s differs", name);
    mv_free(want);
}

static void vector_case(const struct vcase *vc, unsigned idx, FILE *f, const mv_json *obj)
{
    uint8_t owner_box_sk[32], rec_box_sk[32], oseed[32], rseed[32], b[32], B[32], sign_seed[32], spk[32], ssk[64];
    uint8_t label[16], a[32], A[32], encap_rnd[64], capsule[MV_PRE_CAPSULE_BYTES], key[32], kseed[32], X_A[32];
    uint8_t prnd[MV_PRE_MAX_FRAGS][32], cfs[MV_PRE_MAX_FRAGS * MV_PRE_CFRAG_BYTES], got[32];
    uint8_t ref[16], secret[32], hash[32], sealed_plain[70];
    mv_pre_kfrag kf[MV_PRE_MAX_FRAGS];
    mv_pre_delegation d, p;
    mv_pre_entry e;
    mv_buf enc;
    mv_buf_init(&enc, MV_PRE_DELEGATION_MAX_BYTES);
    det_bytes("vector owner box_sk", idx, owner_box_sk, 32);
    det_bytes("vector recipient box_sk", idx, rec_box_sk, 32);
    det_bytes("vector owner sign seed", idx, sign_seed, 32);
    det_bytes("vector label", idx, label, 16);
    det_bytes("vector encap rnd", idx, encap_rnd, 64);
    det_bytes("vector kfrag seed", idx, kseed, 32);
    det_bytes("vector ref", idx, ref, 16);
    det_bytes("vector secret", idx, secret, 32);
    mv_pre_seed(owner_box_sk, oseed);
    mv_pre_seed(rec_box_sk, rseed);
    assert_int_equal(mv_pre_recipient_key(rseed, b, B), MV_OK);
    assert_int_equal(mv_sign_seed_keypair(spk, ssk, sign_seed), MV_OK);
    assert_int_equal(mv_pre_label_key(oseed, spk, MV_PRE_LABEL_RECORD, label, a, A), MV_OK);
    assert_int_equal(mv_pre_encapsulate(A, encap_rnd, capsule, key), MV_OK);
    assert_int_equal(mv_pre_kfrags(a, A, B, vc->t, vc->n, kseed, X_A, kf), MV_OK);
    /* The delegation: one record, its record key wrapped. */
    memset(&d, 0, sizeof d);
    memcpy(d.owner, spk, 32);
    d.label_kind = MV_PRE_LABEL_RECORD;
    memcpy(d.label, label, 16);
    memcpy(d.pk_A, A, 32);
    det_bytes("vector recipient sign", idx, d.recipient, 32);
    memcpy(d.pk_B, B, 32);
    d.role = MV_ROLE_DOCTOR;
    snprintf(d.department, sizeof d.department, "%s", "cardiology");
    d.issued_at = 1800000000;
    d.expires_at = 1802592000;
    d.t = (uint8_t)vc->t;
    d.n = (uint8_t)vc->n;
    memcpy(d.X_A, X_A, 32);
    for (unsigned i = 0; i < vc->n; i++) {
        d.commit[i].proxy = (uint8_t)(i + 1);
        memcpy(d.commit[i].kfrag_id, kf[i].id, 32);
        memcpy(d.commit[i].U1, kf[i].U1, 32);
    }
    e.kind = MV_PRE_ENTRY_RECORD;
    memcpy(e.ref, label, 16);
    memcpy(e.capsule, capsule, MV_PRE_CAPSULE_BYTES);
    assert_int_equal(mv_pre_wrap(key, capsule, e.ref, secret, e.wrapped), MV_OK);
    d.n_entries = 1;
    d.entries = &e;
    assert_int_equal(mv_pre_delegation_sign(&d, ssk, &enc), MV_OK);
    assert_int_equal(mv_pre_delegation_parse(enc.ptr, enc.len, &p), MV_OK);
    mv_pre_delegation_clear(&p);
    mv_pre_delegation_hash(enc.ptr, enc.len, hash);
    for (unsigned i = 0; i < vc->n; i++) {
        det_bytes("vector proof rnd", idx * 100 + i, prnd[i], 32);
        assert_int_equal(mv_pre_reencrypt(&kf[i], capsule, hash, prnd[i], cfs + i * MV_PRE_CFRAG_BYTES), MV_OK);
        assert_int_equal(mv_pre_cfrag_verify(capsule, cfs + i * MV_PRE_CFRAG_BYTES, kf[i].id, kf[i].U1, hash), MV_OK);
    }
    /* The recipient combines the last t cfrags. */
    assert_int_equal(mv_pre_decapsulate_frags(b, B, A, X_A, capsule, cfs + (vc->n - vc->t) * MV_PRE_CFRAG_BYTES, vc->t, got),
                     MV_OK);
    assert_memory_equal(got, key, 32);
    memcpy(sealed_plain, "MVKF", 4);
    sealed_plain[4] = 1;
    sealed_plain[5] = 1;
    memcpy(sealed_plain + 6, kf[0].id, 32);
    memcpy(sealed_plain + 38, kf[0].rk, 32);

    if (f)
        fprintf(f, "    {\n      \"name\": \"%s\",\n      \"t\": %u,\n      \"n\": %u,\n", vc->name, vc->t, vc->n);
    else {
        assert_int_equal(tu_json_u64(obj, "t"), vc->t);
        assert_int_equal(tu_json_u64(obj, "n"), vc->n);
    }
    field(f, obj, "owner_box_sk", owner_box_sk, 32, 0);
    field(f, obj, "owner_seed", oseed, 32, 0);
    field(f, obj, "owner_sign_seed", sign_seed, 32, 0);
    field(f, obj, "owner_sign_pk", spk, 32, 0);
    field(f, obj, "label", label, 16, 0);
    field(f, obj, "label_sk", a, 32, 0);
    field(f, obj, "label_pk", A, 32, 0);
    field(f, obj, "recipient_box_sk", rec_box_sk, 32, 0);
    field(f, obj, "recipient_seed", rseed, 32, 0);
    field(f, obj, "recipient_sk", b, 32, 0);
    field(f, obj, "recipient_pk", B, 32, 0);
    field(f, obj, "encap_rnd", encap_rnd, 64, 0);
    field(f, obj, "capsule", capsule, MV_PRE_CAPSULE_BYTES, 0);
    field(f, obj, "key", key, 32, 0);
    field(f, obj, "kfrag_seed", kseed, 32, 0);
    field(f, obj, "X_A", X_A, 32, 0);
    for (unsigned i = 0; i < vc->n; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "kfrag%u_id", i + 1);
        field(f, obj, nm, kf[i].id, 32, 0);
        snprintf(nm, sizeof nm, "kfrag%u_rk", i + 1);
        field(f, obj, nm, kf[i].rk, 32, 0);
        snprintf(nm, sizeof nm, "kfrag%u_U1", i + 1);
        field(f, obj, nm, kf[i].U1, 32, 0);
        snprintf(nm, sizeof nm, "proof%u_rnd", i + 1);
        field(f, obj, nm, prnd[i], 32, 0);
        snprintf(nm, sizeof nm, "cfrag%u", i + 1);
        field(f, obj, nm, cfs + i * MV_PRE_CFRAG_BYTES, MV_PRE_CFRAG_BYTES, 0);
    }
    field(f, obj, "kfrag1_sealed_plaintext", sealed_plain, sizeof sealed_plain, 0);
    field(f, obj, "wrapped_secret", secret, 32, 0);
    field(f, obj, "wrapped", e.wrapped, MV_PRE_WRAPPED_BYTES, 0);
    field(f, obj, "delegation_recipient_sign_pk", d.recipient, 32, 0);
    field(f, obj, "delegation", enc.ptr, enc.len, 0);
    field(f, obj, "delegation_hash", hash, 32, 1);
    if (f)
        fprintf(f, "    }");
    mv_buf_clear(&enc);
}

static void test_vectors(void **state)
{
    (void)state;
    const char *out = getenv("MV_WRITE_PRE_VECTORS");
    size_t ncases = sizeof VCASES / sizeof VCASES[0];
    if (out && *out) {
        FILE *f = fopen(out, "w");
        assert_non_null(f);
        fprintf(f, "{\n  \"scheme\": \"medvault-pre-v1 (docs/pre.md)\",\n  \"cases\": [\n");
        for (size_t i = 0; i < ncases; i++) {
            vector_case(&VCASES[i], (unsigned)i, f, NULL);
            fprintf(f, "%s\n", i + 1 < ncases ? "," : "");
        }
        fprintf(f, "  ]\n}\n");
        assert_int_equal(fclose(f), 0);
        return;
    }
    mv_json *root = tu_load_json("pre.json");
    const mv_json *cases = mv_json_get(root, "cases");
    assert_non_null(cases);
    assert_int_equal(mv_json_len(cases), ncases);
    for (size_t i = 0; i < ncases; i++)
        vector_case(&VCASES[i], (unsigned)i, NULL, mv_json_at(cases, i));
    mv_json_free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_round_trip_2_of_2),
        cmocka_unit_test(test_3_of_5_every_subset),
        cmocka_unit_test(test_wrong_recipient_and_mixing),
        cmocka_unit_test(test_every_byte_flip),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_delegation_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
