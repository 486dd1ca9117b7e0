/* bench_pre.c - threshold proxy re-encryption (mv_pre.h, docs/pre.md): encapsulate, kfrag
 * generation 2-of-2 and 3-of-5, re-encrypt (one proxy, one capsule), verify a cfrag,
 * decapsulate from 2 and from 3 cfrags (and from 2 with the delegation's opener prepared, what
 * each further capsule of an episode costs), the owner's own decapsulation, a cloud's whole answer
 * for a 10-keyset delegation (parse and check the delegation, open the sealed kfrag,
 * re-encrypt 10 capsules), and the sizes; with libsodium's scalar multiplication timed in the
 * same run. One thread; each figure is the median over 9 rounds of the per-operation mean.
 * `--json` prints one JSON object; `--quick` runs fewer repetitions (make check's smoke run). */
#define BENCH_NAME "bench_pre"
#include "bench_common.h"

#include <string.h>

#include <sodium.h>

#include "medvault/mv_box.h"
#include "medvault/mv_buf.h"
#include "medvault/mv_credential.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_pre.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_sig.h"

#define ROUNDS 9
#define EPISODE_KEYSETS 10

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct ctx {
    uint8_t a[32], A[32], b[32], B[32], X2[32], X5[32];
    uint8_t capsule[MV_PRE_CAPSULE_BYTES], key[32], aux[32];
    mv_pre_kfrag k2[2], k5[5];
    uint8_t cf2[2 * MV_PRE_CFRAG_BYTES], cf5[5 * MV_PRE_CFRAG_BYTES];
    uint8_t box_pk[32], box_sk[32];
    mv_buf deleg; /* a delegation of EPISODE_KEYSETS capsules to B, 2-of-2 */
    uint8_t sealed[MV_PRE_SEALED_KFRAG_BYTES];
    mv_pre_opener op; /* B's opener for the 2-of-2 kfrags */
};

typedef void (*op_fn)(struct ctx *c);

static void check(mv_err rc, const char *what)
{
    if (rc != MV_OK)
        die(what, rc);
}

static void op_encap(struct ctx *c)
{
    uint8_t cap[MV_PRE_CAPSULE_BYTES], k[32];
    check(mv_pre_encapsulate(c->A, NULL, cap, k), "encapsulate");
}
static void op_kfrags2(struct ctx *c)
{
    mv_pre_kfrag k[2];
    uint8_t X[32];
    check(mv_pre_kfrags(c->a, c->A, c->B, 2, 2, NULL, X, k), "kfrags 2-of-2");
}
static void op_kfrags5(struct ctx *c)
{
    mv_pre_kfrag k[5];
    uint8_t X[32];
    check(mv_pre_kfrags(c->a, c->A, c->B, 3, 5, NULL, X, k), "kfrags 3-of-5");
}
static void op_reencrypt(struct ctx *c)
{
    uint8_t cf[MV_PRE_CFRAG_BYTES];
    check(mv_pre_reencrypt(&c->k2[0], c->capsule, c->aux, NULL, cf), "reencrypt");
}
static void op_verify(struct ctx *c)
{
    check(mv_pre_cfrag_verify(c->capsule, c->cf2, c->k2[0].id, c->k2[0].U1, c->aux), "cfrag verify");
}
static void op_decap2(struct ctx *c)
{
    uint8_t k[32];
    check(mv_pre_decapsulate_frags(c->b, c->B, c->A, c->X2, c->capsule, c->cf2, 2, k), "decapsulate 2");
}
static void op_decap3(struct ctx *c)
{
    uint8_t k[32];
    check(mv_pre_decapsulate_frags(c->b, c->B, c->A, c->X5, c->capsule, c->cf5, 3, k), "decapsulate 3");
}
/* The same with the per-delegation opener made beforehand (each further capsule of an episode). */
static void op_open2(struct ctx *c)
{
    uint8_t k[32];
    check(mv_pre_opener_open(&c->op, c->capsule, c->cf2, 2, k), "opener open 2");
}
static void op_owner(struct ctx *c)
{
    uint8_t k[32];
    check(mv_pre_decapsulate(c->a, c->capsule, k), "decapsulate (owner)");
}
/* What one cloud does for one /v1/pre/reencrypt of a 10-keyset episode. */
static void op_cloud_answer(struct ctx *c)
{
    mv_pre_delegation d;
    mv_pre_kfrag k;
    uint8_t h[32], cf[MV_PRE_CFRAG_BYTES];
    check(mv_pre_delegation_parse(c->deleg.ptr, c->deleg.len, &d), "delegation parse");
    mv_pre_delegation_hash(c->deleg.ptr, c->deleg.len, h);
    check(mv_pre_kfrag_open(c->sealed, c->box_pk, c->box_sk, &d, 1, &k), "kfrag open");
    for (size_t i = 0; i < d.n_entries; i++)
        check(mv_pre_reencrypt(&k, d.entries[i].capsule, h, NULL, cf), "reencrypt");
    mv_wipe(&k, sizeof k);
    mv_pre_delegation_clear(&d);
}

static double time_op(op_fn f, struct ctx *c, int reps)
{
    double r[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        double t0 = now();
        for (int j = 0; j < reps; j++)
            f(c);
        r[i] = (now() - t0) / reps * 1e6;
    }
    qsort(r, ROUNDS, sizeof r[0], cmpd);
    return r[ROUNDS / 2];
}

static void setup(struct ctx *c)
{
    uint8_t seed[32], sk[64], spk[32], label[16], owner_seed[32];
    memset(c, 0, sizeof *c);
    randombytes_buf(seed, sizeof seed);
    randombytes_buf(owner_seed, sizeof owner_seed);
    randombytes_buf(label, sizeof label);
    check(mv_sign_keypair(spk, sk), "sign keypair");
    check(mv_pre_label_key(owner_seed, spk, MV_PRE_LABEL_EPISODE, label, c->a, c->A), "label key");
    check(mv_pre_recipient_key(seed, c->b, c->B), "recipient key");
    check(mv_pre_encapsulate(c->A, NULL, c->capsule, c->key), "encapsulate");
    check(mv_pre_kfrags(c->a, c->A, c->B, 2, 2, NULL, c->X2, c->k2), "kfrags");
    check(mv_pre_kfrags(c->a, c->A, c->B, 3, 5, NULL, c->X5, c->k5), "kfrags");
    randombytes_buf(c->aux, sizeof c->aux);
    for (int i = 0; i < 2; i++)
        check(mv_pre_reencrypt(&c->k2[i], c->capsule, c->aux, NULL, c->cf2 + i * MV_PRE_CFRAG_BYTES), "reencrypt");
    for (int i = 0; i < 5; i++)
        check(mv_pre_reencrypt(&c->k5[i], c->capsule, c->aux, NULL, c->cf5 + i * MV_PRE_CFRAG_BYTES), "reencrypt");
    check(mv_pre_opener_init(&c->op, c->b, c->B, c->A, c->X2), "opener");
    check(mv_box_keypair(c->box_pk, c->box_sk), "box keypair");
    /* The delegation of a 10-keyset episode to B, 2-of-2. */
    mv_pre_entry e[EPISODE_KEYSETS];
    mv_pre_delegation d;
    memset(&d, 0, sizeof d);
    memcpy(d.owner, spk, 32);
    d.label_kind = MV_PRE_LABEL_EPISODE;
    memcpy(d.label, label, 16);
    memcpy(d.pk_A, c->A, 32);
    randombytes_buf(d.recipient, 32);
    memcpy(d.pk_B, c->B, 32);
    d.role = MV_ROLE_DOCTOR;
    memcpy(d.department, "cardiology", 11);
    d.issued_at = 1800000000;
    d.expires_at = d.issued_at + 86400;
    d.t = 2;
    d.n = 2;
    memcpy(d.X_A, c->X2, 32);
    for (int i = 0; i < 2; i++) {
        d.commit[i].proxy = (uint8_t)(i + 1);
        memcpy(d.commit[i].kfrag_id, c->k2[i].id, 32);
        memcpy(d.commit[i].U1, c->k2[i].U1, 32);
    }
    for (int i = 0; i < EPISODE_KEYSETS; i++) {
        uint8_t k[32], secret[32];
        e[i].kind = MV_PRE_ENTRY_KEYSET;
        memset(e[i].ref, 0, 16);
        e[i].ref[15] = (uint8_t)i;
        randombytes_buf(secret, sizeof secret);
        check(mv_pre_encapsulate(c->A, NULL, e[i].capsule, k), "encapsulate");
        check(mv_pre_wrap(k, e[i].capsule, e[i].ref, secret, e[i].wrapped), "wrap");
    }
    d.entries = e;
    d.n_entries = EPISODE_KEYSETS;
    mv_buf_init(&c->deleg, MV_PRE_DELEGATION_MAX_BYTES);
    check(mv_pre_delegation_sign(&d, sk, &c->deleg), "delegation sign");
    check(mv_pre_kfrag_seal(&c->k2[0], 1, c->box_pk, c->sealed), "kfrag seal");
    mv_wipe(sk, sizeof sk);
}

int main(int argc, char **argv)
{
    int json, quick;
    if (bench_options(argc, argv, &json, &quick))
        return 2;
    if (sodium_init() < 0)
        die("sodium_init", MV_ERR_CRYPTO);
    struct ctx *c = mv_calloc(1, sizeof *c);
    if (!c)
        die("allocation", MV_ERR_NOMEM);
    setup(c);
    int reps = quick ? 2 : 60;
    static const struct {
        const char *name;
        op_fn f;
    } ops[] = {
        {"encapsulate_us", op_encap},      {"kfrags_2of2_us", op_kfrags2},  {"kfrags_3of5_us", op_kfrags5},
        {"reencrypt_us", op_reencrypt},    {"cfrag_verify_us", op_verify},  {"decapsulate_2_us", op_decap2},
        {"decapsulate_3_us", op_decap3},   {"open_2_prepared_us", op_open2}, {"owner_decapsulate_us", op_owner},
        {"cloud_answer_10_keysets_us", op_cloud_answer},
    };
    size_t nops = sizeof ops / sizeof ops[0];
    double t[sizeof ops / sizeof ops[0]];
    uint8_t p[32], s[32], q[32];
    mv_r255_scalar_random(s);
    check(mv_r255_smul_base(p, s), "smul_base");
    double t0 = now();
    for (int i = 0; i < 2000; i++)
        check(mv_r255_smul_any(q, s, p), "smul");
    double smul_us = (now() - t0) / 2000 * 1e6;
    for (size_t i = 0; i < nops; i++)
        t[i] = time_op(ops[i].f, c, ops[i].f == op_cloud_answer ? (quick ? 1 : 10) : reps);
    if (json) {
        printf("{\"scalarmult_us\": %.2f, \"capsule_bytes\": %u, \"cfrag_bytes\": %u, \"sealed_kfrag_bytes\": %u, "
               "\"entry_bytes\": %u, \"delegation_10_keysets_bytes\": %zu",
               smul_us, MV_PRE_CAPSULE_BYTES, MV_PRE_CFRAG_BYTES, (unsigned)MV_PRE_SEALED_KFRAG_BYTES,
               MV_PRE_ENTRY_BYTES, c->deleg.len);
        for (size_t i = 0; i < nops; i++)
            printf(", \"%s\": %.1f", ops[i].name, t[i]);
        printf("}\n");
    } else {
        printf("scalar multiplication %.1f us\n", smul_us);
        for (size_t i = 0; i < nops; i++)
            printf("%-28s %10.1f us\n", ops[i].name, t[i]);
        printf("capsule %u B, cfrag %u B, sealed kfrag %u B, delegation of %d keysets %zu B\n", MV_PRE_CAPSULE_BYTES,
               MV_PRE_CFRAG_BYTES, (unsigned)MV_PRE_SEALED_KFRAG_BYTES, EPISODE_KEYSETS, c->deleg.len);
    }
    mv_buf_clear(&c->deleg);
    mv_wipe(c, sizeof *c);
    mv_free(c);
    return 0;
}
