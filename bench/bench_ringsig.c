/* bench_ringsig.c - the accountable ring signature (mv_ringsig.h) at ring sizes 16, 128 and
 * 1024: sign, verify, verify in a batch of 16 (per signature), open with 2 of 3 openers
 * (both partials and the combination), judge, and the signature's size; with the raw cost of
 * libsodium's scalar multiplication and point addition measured in the same run, since both
 * bound everything here. One thread. `--json` prints one JSON object; `--quick` runs fewer
 * repetitions (used by make check's smoke run). */
#define BENCH_NAME "bench_ringsig"
#include "bench_common.h"

#include <string.h>

#include <sodium.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_ringsig.h"
#include "medvault/mv_shamir.h"

static int cmp32(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

struct ring_setup {
    mv_ring ring;
    uint8_t *members;
    uint8_t *sks;
    uint8_t shares[3][32];
};

/* N random members (sorted), an opener key split 2-of-3. Returns the secret key of a member
 * in the middle of the sorted ring through signer_sk. */
static void setup(struct ring_setup *s, size_t n, uint8_t signer_sk[32])
{
    memset(s, 0, sizeof *s);
    s->members = mv_calloc(n, 32);
    s->sks = mv_calloc(n, 64);
    if (!s->members || !s->sks)
        die("allocation", MV_ERR_NOMEM);
    /* Pairs (pk, sk) sorted by pk. */
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = s->sks + 64 * i;
        mv_r255_scalar_random(p + 32);
        mv_err rc = mv_r255_smul_base(p, p + 32);
        if (rc != MV_OK)
            die("key generation", rc);
    }
    qsort(s->sks, n, 64, cmp32);
    for (size_t i = 0; i < n; i++)
        memcpy(s->members + 32 * i, s->sks + 64 * i, 32);
    memcpy(signer_sk, s->sks + 64 * (n / 2) + 32, 32);
    uint8_t dk[32], shares[3 * 32];
    mv_r255_scalar_random(dk);
    mv_err rc = mv_shamir_split(dk, 2, 3, NULL, shares);
    if (rc != MV_OK)
        die("mv_shamir_split", rc);
    memset(s->ring.group_id, 1, sizeof s->ring.group_id);
    s->ring.epoch = 1;
    s->ring.members = s->members;
    s->ring.n_members = n;
    s->ring.t = 2;
    s->ring.n_openers = 3;
    if ((rc = mv_r255_smul_base(s->ring.ek, dk)) != MV_OK)
        die("EK", rc);
    for (int i = 0; i < 3; i++) {
        memcpy(s->shares[i], shares + 32 * i, 32);
        if ((rc = mv_r255_smul_base(s->ring.ek_shares[i], s->shares[i])) != MV_OK)
            die("EK_i", rc);
    }
    if ((rc = mv_ring_init(&s->ring)) != MV_OK)
        die("mv_ring_init", rc);
    mv_wipe(dk, sizeof dk);
    mv_wipe(shares, sizeof shares);
}

static void teardown(struct ring_setup *s)
{
    mv_wipe(s->sks, 64 * s->ring.n_members);
    mv_free(s->sks);
    mv_free(s->members);
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmpd);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define REPS_MAX 64
#define BATCH 16

struct result {
    size_t n;
    size_t sig_bytes, opening_bytes;
    double sign_ms, verify_ms, batch_ms_per_sig, open_ms, judge_ms;
};

static void run(size_t n, int reps, struct result *out)
{
    struct ring_setup s;
    uint8_t sk[32];
    setup(&s, n, sk);
    static const uint8_t msg[] = "medvault bench: a group operation message of realistic size, about 126 bytes "
                                 "long like mv_group_op_msg's output...";
    double t_sign[REPS_MAX], t_ver[REPS_MAX], t_open[REPS_MAX], t_judge[REPS_MAX];
    mv_buf sig, op;
    mv_buf_init(&sig, 1 << 16);
    mv_buf_init(&op, 1 << 12);
    mv_err rc;
    for (int i = 0; i < reps; i++) {
        mv_buf_reset(&sig);
        double t0 = now();
        if ((rc = mv_ring_sign(&s.ring, sk, msg, sizeof msg, NULL, &sig)) != MV_OK)
            die("mv_ring_sign", rc);
        double t1 = now();
        if ((rc = mv_ring_verify(&s.ring, msg, sizeof msg, sig.ptr, sig.len)) != MV_OK)
            die("mv_ring_verify", rc);
        double t2 = now();
        uint8_t parts[2 * MV_RING_PARTIAL_BYTES];
        uint32_t pos = 0, judged = 0;
        mv_buf_reset(&op);
        if ((rc = mv_ring_open_partial(&s.ring, sig.ptr, sig.len, 1, s.shares[0], NULL, parts)) != MV_OK ||
            (rc = mv_ring_open_partial(&s.ring, sig.ptr, sig.len, 3, s.shares[2], NULL,
                                       parts + MV_RING_PARTIAL_BYTES)) != MV_OK ||
            (rc = mv_ring_open_combine(&s.ring, sig.ptr, sig.len, parts, 2, &pos, NULL, &op)) != MV_OK)
            die("opening", rc);
        double t3 = now();
        if ((rc = mv_ring_judge(&s.ring, msg, sizeof msg, sig.ptr, sig.len, op.ptr, op.len, &judged)) != MV_OK)
            die("mv_ring_judge", rc);
        double t4 = now();
        if (pos != n / 2 || judged != n / 2)
            die("the opening named the wrong member", MV_ERR_AUTH);
        t_sign[i] = (t1 - t0) * 1e3;
        t_ver[i] = (t2 - t1) * 1e3;
        t_open[i] = (t3 - t2) * 1e3;
        t_judge[i] = (t4 - t3) * 1e3;
    }
    /* A batch of 16 signatures by different members over different messages. */
    mv_buf bs[BATCH];
    const uint8_t *sp[BATCH], *mp[BATCH];
    size_t sl[BATCH], ml[BATCH];
    uint8_t msgs[BATCH][32];
    for (int i = 0; i < BATCH; i++) {
        mv_buf_init(&bs[i], 1 << 16);
        memset(msgs[i], i, sizeof msgs[i]);
        if ((rc = mv_ring_sign(&s.ring, s.sks + 64 * ((size_t)i * 7 % n) + 32, msgs[i], 32, NULL, &bs[i])) != MV_OK)
            die("mv_ring_sign (batch)", rc);
        sp[i] = bs[i].ptr;
        sl[i] = bs[i].len;
        mp[i] = msgs[i];
        ml[i] = 32;
    }
    double t_batch[REPS_MAX];
    int breps = reps < 3 ? 1 : 3;
    for (int i = 0; i < breps; i++) {
        double t0 = now();
        if ((rc = mv_ring_verify_batch(&s.ring, BATCH, mp, ml, sp, sl)) != MV_OK)
            die("mv_ring_verify_batch", rc);
        t_batch[i] = (now() - t0) * 1e3 / BATCH;
    }
    out->n = n;
    out->sig_bytes = sig.len;
    out->opening_bytes = op.len;
    out->sign_ms = median(t_sign, reps);
    out->verify_ms = median(t_ver, reps);
    out->open_ms = median(t_open, reps);
    out->judge_ms = median(t_judge, reps);
    out->batch_ms_per_sig = median(t_batch, breps);
    for (int i = 0; i < BATCH; i++)
        mv_buf_clear(&bs[i]);
    mv_buf_clear(&sig);
    mv_buf_clear(&op);
    teardown(&s);
}

/* The primitives' cost in this run: everything above is counted in them. */
static void primitives(double *smul_us, double *add_us)
{
    uint8_t p[32], s[32], q[32];
    mv_r255_scalar_random(s);
    if (mv_r255_smul_base(p, s) != MV_OK)
        die("smul_base", MV_ERR_CRYPTO);
    int n = 2000;
    double t0 = now();
    for (int i = 0; i < n; i++)
        if (mv_r255_smul_any(q, s, p) != MV_OK)
            die("smul", MV_ERR_CRYPTO);
    *smul_us = (now() - t0) / n * 1e6;
    memcpy(q, p, 32);
    t0 = now();
    for (int i = 0; i < n; i++)
        if (mv_r255_add(q, q, p) != MV_OK)
            die("add", MV_ERR_CRYPTO);
    *add_us = (now() - t0) / n * 1e6;
}

int main(int argc, char **argv)
{
    int json, quick;
    if (bench_options(argc, argv, &json, &quick))
        return 2;
    if (sodium_init() < 0)
        die("sodium_init", MV_ERR_CRYPTO);
    static const size_t sizes[] = {16, 128, 1024};
    static const int reps_full[] = {31, 15, 7};
    struct result res[3];
    double smul_us, add_us;
    primitives(&smul_us, &add_us);
    for (int k = 0; k < 3; k++)
        run(sizes[k], quick ? 1 : reps_full[k], &res[k]);
    if (json) {
        printf("{\"scalarmult_us\": %.2f, \"add_us\": %.2f, \"sizes\": [", smul_us, add_us);
        for (int k = 0; k < 3; k++)
            printf("%s{\"members\": %zu, \"sig_bytes\": %zu, \"opening_bytes\": %zu, \"sign_ms\": %.3f, "
                   "\"verify_ms\": %.3f, \"verify_batch16_ms_per_sig\": %.3f, \"open_2of3_ms\": %.3f, "
                   "\"judge_ms\": %.3f}",
                   k ? ", " : "", res[k].n, res[k].sig_bytes, res[k].opening_bytes, res[k].sign_ms, res[k].verify_ms,
                   res[k].batch_ms_per_sig, res[k].open_ms, res[k].judge_ms);
        printf("]}\n");
    } else {
        printf("scalar multiplication %.1f us, point addition %.1f us\n", smul_us, add_us);
        printf("%8s %8s %10s %10s %14s %10s %10s\n", "members", "bytes", "sign ms", "verify ms", "batch16 ms/sig",
               "open ms", "judge ms");
        for (int k = 0; k < 3; k++)
            printf("%8zu %8zu %10.2f %10.2f %14.2f %10.2f %10.2f\n", res[k].n, res[k].sig_bytes, res[k].sign_ms,
                   res[k].verify_ms, res[k].batch_ms_per_sig, res[k].open_ms, res[k].judge_ms);
    }
    return 0;
}
