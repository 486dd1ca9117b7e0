/* test_guard.c - the storage guard's pure decisions (src/storage/storage_guard_policy.c,
 * docs/guard.md): how a failed authentication is classified (mv_auth_verify_ex reasons on real
 * signed requests), the sliding-hour access profile and its moving baseline, and the step-up /
 * decoy state machine, all with injected time. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "medvault/mv_auth.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_decoy.h"
#include "medvault/mv_revocation.h"
#include "medvault/mv_sig.h"
#include "medvault/mv_storage.h"
#include "storage/storage_internal.h"

#define T0 1700000000ULL /* a whole hour: T0 % 3600 == 3200; tests use hour-aligned H0 */
#define H0 (T0 - T0 % 3600)

static const guard_params GP = {.floor = 300, .factor = 5.0, .max_denials = 10, .skew = 300};

/* ---------- mv_auth_verify_ex and guard_classify_auth ---------- */

typedef struct fixture {
    uint8_t hpk[32], hsk[64]; /* the hospital */
    uint8_t opk[32], osk[64]; /* another "hospital" (forger) */
    uint8_t upk[32], usk[64]; /* the user */
    char cred[MV_CRED_B64_MAX + 1], forged[MV_CRED_B64_MAX + 1], expired[MV_CRED_B64_MAX + 1];
} fixture;

static void issue(char *out, const uint8_t upk[32], const uint8_t *hpk, const uint8_t *hsk, uint64_t from, uint64_t to)
{
    mv_credential c;
    memset(&c, 0, sizeof c);
    memcpy(c.subject, upk, 32);
    snprintf(c.role, sizeof c.role, "doctor");
    c.n_departments = 1;
    snprintf(c.departments[0], sizeof c.departments[0], "cardiology");
    c.issued_at = from;
    c.expires_at = to;
    assert_int_equal(mv_credential_issue(&c, hpk, hsk), MV_OK);
    assert_int_equal(mv_credential_encode(&c, out, MV_CRED_B64_MAX + 1), MV_OK);
}

static void make_fixture(fixture *f)
{
    assert_int_equal(mv_crypto_init(), MV_OK);
    assert_int_equal(mv_sign_keypair(f->hpk, f->hsk), MV_OK);
    assert_int_equal(mv_sign_keypair(f->opk, f->osk), MV_OK);
    assert_int_equal(mv_sign_keypair(f->upk, f->usk), MV_OK);
    issue(f->cred, f->upk, f->hpk, f->hsk, T0 - 100, T0 + 3600);
    issue(f->forged, f->upk, f->opk, f->osk, T0 - 100, T0 + 3600);
    issue(f->expired, f->upk, f->hpk, f->hsk, T0 - 7200, T0 - 3600);
}

typedef struct req {
    mv_signed_headers h;
    mv_auth_request r;
} req;

static void make_req(req *q, const fixture *f, const char *cred, uint64_t date)
{
    assert_int_equal(mv_auth_sign_request(&q->h, f->upk, f->usk, "http://127.0.0.1:1", "GET", "/v1/records/x", NULL, 0,
                                          date),
                     MV_OK);
    memset(&q->r, 0, sizeof q->r);
    q->r.method = "GET";
    q->r.path_and_query = "/v1/records/x";
    q->r.key = q->h.key;
    q->r.date = q->h.date;
    q->r.nonce = q->h.nonce;
    q->r.signature = q->h.signature;
    q->r.target = q->h.target;
    q->r.credential = cred;
}

/* Verifies q at now and returns the reason; checks the error it pairs with. */
static mv_auth_failure why_of(mv_auth_verifier *v, req *q, uint64_t now, mv_err want)
{
    mv_auth_failure why = (mv_auth_failure)99;
    mv_credential got;
    assert_int_equal(mv_auth_verify_ex(v, &q->r, now, &got, &why), want);
    if (want != MV_OK)
        assert_true(tu_all_zero((const uint8_t *)&got, sizeof got));
    return why;
}

static void test_verify_ex_reasons(void **state)
{
    (void)state;
    fixture f;
    req q;
    mv_auth_verifier *v = NULL;
    make_fixture(&f);
    assert_int_equal(mv_auth_verifier_new(f.hpk, 300, 1000, &v), MV_OK);
    assert_int_equal(mv_auth_verifier_add_target(v, "http://127.0.0.1:1"), MV_OK);

    make_req(&q, &f, f.cred, T0);
    assert_int_equal(why_of(v, &q, T0, MV_OK), MV_AUTH_FAIL_NONE);
    assert_int_equal(why_of(v, &q, T0 + 1, MV_ERR_REPLAY), MV_AUTH_FAIL_REPLAY);

    mv_auth_request bare = {.method = "GET", .path_and_query = "/v1/records/x"};
    q.r = bare;
    assert_int_equal(why_of(v, &q, T0, MV_ERR_AUTH), MV_AUTH_FAIL_MISSING);

    make_req(&q, &f, f.cred, T0);
    q.r.signature = NULL; /* some headers, not all */
    assert_int_equal(why_of(v, &q, T0, MV_ERR_AUTH), MV_AUTH_FAIL_MALFORMED);
    make_req(&q, &f, "not base64!", T0);
    assert_int_equal(why_of(v, &q, T0, MV_ERR_AUTH), MV_AUTH_FAIL_MALFORMED);

    make_req(&q, &f, f.forged, T0); /* signed by another key than the hospital's */
    assert_int_equal(why_of(v, &q, T0, MV_ERR_AUTH), MV_AUTH_FAIL_FORGED);
    make_req(&q, &f, f.cred, T0);
    q.h.signature[5] = q.h.signature[5] == '0' ? '1' : '0'; /* a stolen credential, wrong key */
    assert_int_equal(why_of(v, &q, T0, MV_ERR_AUTH), MV_AUTH_FAIL_FORGED);

    make_req(&q, &f, f.expired, T0);
    assert_int_equal(why_of(v, &q, T0, MV_ERR_EXPIRED), MV_AUTH_FAIL_EXPIRED);
    make_req(&q, &f, f.cred, T0 - 301);
    assert_int_equal(why_of(v, &q, T0, MV_ERR_EXPIRED), MV_AUTH_FAIL_SKEW);

    /* Revoked: a correctly signed request of a subject on the installed list. */
    mv_revocation_list l;
    memset(&l, 0, sizeof l);
    memcpy(l.issuer, f.hpk, 32);
    l.serial = 1;
    l.n = 1;
    l.keys = f.upk;
    assert_int_equal(mv_auth_verifier_set_revocations(v, &l), MV_OK);
    make_req(&q, &f, f.cred, T0);
    assert_int_equal(why_of(v, &q, T0, MV_ERR_AUTH), MV_AUTH_FAIL_REVOKED);

    /* why is required; mv_auth_verify itself is unchanged. */
    mv_credential got;
    assert_int_equal(mv_auth_verify_ex(v, &q.r, T0, &got, NULL), MV_ERR_INVAL);
    assert_int_equal(mv_auth_verify(v, &q.r, T0, &got), MV_ERR_AUTH);
    mv_auth_verifier_free(v);
}

static void test_classify(void **state)
{
    (void)state;
    const char *t = NULL;
    assert_int_equal(guard_classify_auth(MV_OK, MV_AUTH_FAIL_NONE, T0, 0, &GP, &t), 0);
    assert_int_equal(guard_classify_auth(MV_ERR_AUTH, MV_AUTH_FAIL_MISSING, T0, 0, &GP, &t), MV_DECOY_UNAUTHENTICATED);
    assert_string_equal(t, "unauthenticated");
    assert_int_equal(guard_classify_auth(MV_ERR_AUTH, MV_AUTH_FAIL_MALFORMED, T0, 0, &GP, &t), MV_DECOY_FORGED);
    assert_int_equal(guard_classify_auth(MV_ERR_AUTH, MV_AUTH_FAIL_FORGED, T0, 0, &GP, &t), MV_DECOY_FORGED);
    assert_string_equal(t, "forged credential");
    assert_int_equal(guard_classify_auth(MV_ERR_AUTH, MV_AUTH_FAIL_REVOKED, T0, 0, &GP, &t), MV_DECOY_REVOKED);
    assert_string_equal(t, "revoked credential");
    /* Expired long ago: suspicious; within the skew or not yet valid: a clock problem. */
    assert_int_equal(guard_classify_auth(MV_ERR_EXPIRED, MV_AUTH_FAIL_EXPIRED, T0, T0 - 301, &GP, &t), MV_DECOY_EXPIRED);
    assert_string_equal(t, "expired credential");
    assert_int_equal(guard_classify_auth(MV_ERR_EXPIRED, MV_AUTH_FAIL_EXPIRED, T0, T0 - 300, &GP, &t), 0);
    assert_string_equal(t, "");
    assert_int_equal(guard_classify_auth(MV_ERR_EXPIRED, MV_AUTH_FAIL_EXPIRED, T0, T0 + 10, &GP, &t), 0);
    /* A doctor's bad clock and a retried request keep the plain 401. */
    assert_int_equal(guard_classify_auth(MV_ERR_EXPIRED, MV_AUTH_FAIL_SKEW, T0, 0, &GP, &t), 0);
    assert_int_equal(guard_classify_auth(MV_ERR_REPLAY, MV_AUTH_FAIL_REPLAY, T0, 0, &GP, &t), 0);
    assert_int_equal(guard_classify_auth(MV_ERR_BUSY, MV_AUTH_FAIL_NONE, T0, 0, &GP, &t), 0);
}

/* ---------- profiles ---------- */

static const uint8_t SUBJ[32] = {7};

static void test_profile_window_and_baseline(void **state)
{
    (void)state;
    guard_profile p;
    guard_profile_init(&p, SUBJ);
    assert_int_equal(guard_profile_limit(&p, &GP), 300);
    /* 100 reads spread over the first hour: all in the window. */
    for (int m = 0; m < 50; m++)
        guard_profile_count_reads(&p, H0 + 60 * (uint64_t)m, 2);
    guard_profile_advance(&p, H0 + 3000);
    assert_int_equal(guard_profile_reads(&p), 100);
    /* The window is the current minute and the 59 before it: at minute 70 minutes 0..10 are
     * gone (22 reads). */
    guard_profile_advance(&p, H0 + 3600 + 600);
    assert_int_equal(guard_profile_reads(&p), 78);
    /* The finished hour (100 reads) became the baseline. */
    assert_int_equal(p.active_hours, 1);
    assert_true(p.baseline > 99.9 && p.baseline < 100.1);
    assert_int_equal(guard_profile_limit(&p, &GP), 500);
    /* An idle gap of hours clears the window and does not drag the baseline down. */
    guard_profile_advance(&p, H0 + 10 * 3600);
    assert_int_equal(guard_profile_reads(&p), 0);
    assert_int_equal(p.active_hours, 1);
    /* Next active hour of 200 reads: baseline = 0.8 * 100 + 0.2 * 200 = 120. */
    guard_profile_count_reads(&p, H0 + 10 * 3600 + 5, 200);
    guard_profile_advance(&p, H0 + 11 * 3600);
    assert_int_equal(p.active_hours, 2);
    assert_true(p.baseline > 119.9 && p.baseline < 120.1);
    assert_int_equal(guard_profile_limit(&p, &GP), 600);
    /* A clock going backwards changes nothing. */
    guard_profile_count_reads(&p, H0 + 11 * 3600 + 60, 3);
    guard_profile_advance(&p, H0);
    assert_int_equal(guard_profile_reads(&p), 203 - 200); /* the 200 left the window an hour later */
    /* Denials have their own window. */
    guard_profile_count_denials(&p, H0 + 11 * 3600 + 60, 4);
    assert_int_equal(guard_profile_denials(&p), 4);
    guard_profile_reset_window(&p);
    assert_int_equal(guard_profile_reads(&p) + guard_profile_denials(&p), 0);
    assert_true(p.baseline > 119.9);
}

static void test_normal_volume_never_demands(void **state)
{
    (void)state;
    guard_profile p;
    const char *why = NULL;
    guard_profile_init(&p, SUBJ);
    /* A doctor reading 120 records an hour for 24 hours (2 880 reads), one every 30 s. */
    uint64_t served = 0;
    for (uint64_t t = H0; t < H0 + 24 * 3600; t += 30) {
        guard_action a = guard_decide(&p, t, 1, 1, 0, &GP, &why);
        assert_int_equal(a, GUARD_SERVE);
        served++;
    }
    assert_int_equal(served, 2880);
    /* Writes and listings are never profiled. */
    assert_int_equal(guard_decide(&p, H0 + 24 * 3600, 0, 0, 0, &GP, &why), GUARD_SERVE);
}

static void test_burst_stepup_then_decoys(void **state)
{
    (void)state;
    guard_profile p;
    const char *why = NULL;
    guard_profile_init(&p, SUBJ);
    uint64_t t = H0 + 100;
    /* The floor allows 300 reads, the 301st demands step-up. */
    for (int i = 0; i < 300; i++)
        assert_int_equal(guard_decide(&p, t, 1, 1, 0, &GP, &why), GUARD_SERVE);
    assert_int_equal(guard_decide(&p, t, 1, 1, 0, &GP, &why), GUARD_DEMAND);
    assert_string_equal(why, "burst above access profile");
    /* A write in between is served and changes nothing. */
    assert_int_equal(guard_decide(&p, t + 1, 0, 0, 0, &GP, &why), GUARD_SERVE);
    /* A read without a grant after the demand: decoy mode, alerted once. */
    assert_int_equal(guard_decide(&p, t + 2, 1, 1, 0, &GP, &why), GUARD_DECOY_ALERT);
    assert_string_equal(why, "step-up not completed");
    assert_int_equal(guard_decide(&p, t + 3, 1, 1, 0, &GP, &why), GUARD_DECOY);
    assert_int_equal(guard_decide(&p, t + 4, 0, 0, 0, &GP, &why), GUARD_DECOY); /* every endpoint */
    /* A valid grant: real data again, window reset. */
    assert_int_equal(guard_decide(&p, t + 5, 1, 1, 1, &GP, &why), GUARD_SERVE);
    assert_int_equal(guard_profile_reads(&p), 0);
    assert_int_equal(guard_decide(&p, t + 6, 1, 1, 0, &GP, &why), GUARD_SERVE);

    /* Decoy mode ends after an hour at most. */
    for (int i = 0; i < 400; i++)
        (void)guard_decide(&p, t + 10, 1, 1, 0, &GP, &why);
    assert_int_equal(p.decoy_until, t + 10 + GUARD_DECOY_SECONDS);
    assert_int_equal(guard_decide(&p, t + 10 + GUARD_DECOY_SECONDS - 1, 1, 1, 0, &GP, &why), GUARD_DECOY);
    assert_int_equal(guard_decide(&p, t + 10 + GUARD_DECOY_SECONDS, 1, 1, 0, &GP, &why), GUARD_SERVE);

    /* A demand not followed by a read for an hour lapses. */
    guard_profile_init(&p, SUBJ);
    assert_int_equal(guard_decide(&p, t, 1, 301, 0, &GP, &why), GUARD_DEMAND); /* one MVQ1 of 301 ids */
    assert_int_equal(guard_decide(&p, t + GUARD_DECOY_SECONDS, 1, 1, 0, &GP, &why), GUARD_SERVE);
}

static void test_baseline_raises_limit(void **state)
{
    (void)state;
    guard_profile p;
    const char *why = NULL;
    guard_profile_init(&p, SUBJ);
    /* A busy radiologist: 250 reads in each of 5 hours -> baseline 250, limit 1250. */
    for (uint64_t h = 0; h < 5; h++)
        for (int i = 0; i < 250; i++)
            assert_int_equal(guard_decide(&p, H0 + h * 3600 + 10 * (uint64_t)i, 1, 1, 0, &GP, &why), GUARD_SERVE);
    guard_profile_advance(&p, H0 + 5 * 3600);
    assert_int_equal(guard_profile_limit(&p, &GP), 1250);
    guard_profile_reset_window(&p);
    assert_int_equal(guard_decide(&p, H0 + 5 * 3600 + 1, 1, 1250, 0, &GP, &why), GUARD_SERVE);
    assert_int_equal(guard_decide(&p, H0 + 5 * 3600 + 2, 1, 1, 0, &GP, &why), GUARD_DEMAND);
    /* A lower factor tightens it. */
    guard_params tight = GP;
    tight.factor = 1.0;
    guard_profile_init(&p, SUBJ);
    p.baseline = 250;
    p.active_hours = 5;
    assert_int_equal(guard_profile_limit(&p, &tight), 300);
    tight.floor = 10;
    assert_int_equal(guard_profile_limit(&p, &tight), 250);
}

static void test_denials_demand_stepup(void **state)
{
    (void)state;
    guard_profile p;
    const char *why = NULL;
    guard_profile_init(&p, SUBJ);
    /* Nine refusals within the hour are tolerated (a doctor guessing wrong ids), the tenth is not. */
    guard_profile_count_denials(&p, H0 + 10, 9);
    assert_int_equal(guard_decide(&p, H0 + 20, 1, 1, 0, &GP, &why), GUARD_SERVE);
    guard_profile_count_denials(&p, H0 + 30, 1);
    assert_int_equal(guard_decide(&p, H0 + 40, 1, 1, 0, &GP, &why), GUARD_DEMAND);
    assert_string_equal(why, "reads outside departments");
    /* The refusals age out of the window. */
    guard_profile_init(&p, SUBJ);
    guard_profile_count_denials(&p, H0, 10);
    assert_int_equal(guard_decide(&p, H0 + 3600, 1, 1, 0, &GP, &why), GUARD_SERVE);
}

static void test_parse_factor(void **state)
{
    (void)state;
    double f = 0;
    assert_int_equal(mv_storage_parse_factor("5", &f), MV_OK);
    assert_true(f == 5.0);
    assert_int_equal(mv_storage_parse_factor("2.5", &f), MV_OK);
    assert_true(f == 2.5);
    assert_int_equal(mv_storage_parse_factor("1000", &f), MV_OK);
    const char *bad[] = {"", "0.5", "1001", "-2", "+2", " 2", "2x", "nan", "inf", "1e400"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(mv_storage_parse_factor(bad[i], &f), MV_ERR_PARSE);
    assert_int_equal(mv_storage_parse_factor(NULL, &f), MV_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_ex_reasons),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_profile_window_and_baseline),
        cmocka_unit_test(test_normal_volume_never_demands),
        cmocka_unit_test(test_burst_stepup_then_decoys),
        cmocka_unit_test(test_baseline_raises_limit),
        cmocka_unit_test(test_denials_demand_stepup),
        cmocka_unit_test(test_parse_factor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
