/* test_keyserver_api.c - the key server's HTTP API against a real `medvault keyserver run`
 * process: authentication failures (401), malformed requests (400), rate limiting (429)
 * that survives a restart, /healthz and /metrics, and a clean exit on SIGTERM. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "medvault/mv_auth.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_file.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_keyserver.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_oprf.h"
#include "medvault/mv_sig.h"

static char g_dir[256];       /* test root */
static char g_ksdir[300];     /* key server state */
static char g_portfile[320];
static pid_t g_pid = -1;
static unsigned g_port;
static mv_identity *g_hosp, *g_other_hosp;
static uint8_t g_sk[32], g_pk[32]; /* the RFC 9497 A.1.2 key */

/* ---------- process control ---------- */

static void start_server(void)
{
    char hk[65];
    assert_int_equal(mv_hex_encode(hk, sizeof hk, mv_identity_sign_pk(g_hosp), 32), MV_OK);
    const char *args[] = {"keyserver", "run", "--dir", g_ksdir, "--listen", "127.0.0.1:0", "--hospital-key", hk,
                          "--rate-burst", "40", "--rate-per-sec", "0.01", "--port-file", g_portfile, NULL};
    g_pid = tu_daemon_start("key server", g_portfile, args, &g_port);
}

static void stop_server(void)
{
    tu_daemon_stop("key server", &g_pid);
}

/* ---------- requests ---------- */

typedef struct req {
    const char *method, *path;
    const char *body;
    /* authentication */
    const mv_identity *who;
    const char *cred;   /* credential base64 (NULL = none) */
    long date_offset;   /* seconds added to now for MV-Date */
    int flip_sig;       /* corrupt one hex digit of MV-Signature */
    int unsigned_req;   /* send no MV-* headers at all */
    /* for replays: reuse these signed headers */
    mv_signed_headers *reuse;
    mv_signed_headers used;
} req;

static long send_req(req *r, mv_buf *resp, long *retry_after)
{
    char url[256], origin[MV_AUTH_MAX_TARGET + 1], h[7][4300];
    const char *hdrs[9] = {0};
    mv_httpc_call c;
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", g_port, r->path);
    size_t blen = r->body ? strlen(r->body) : 0;
    if (!r->unsigned_req) {
        if (r->reuse) {
            r->used = *r->reuse;
        } else {
            assert_int_equal(mv_auth_origin(url, origin, sizeof origin), MV_OK);
            assert_int_equal(mv_auth_sign_request(&r->used, mv_identity_sign_pk(r->who), mv_identity_sign_sk(r->who),
                                                  origin, r->method, r->path, (const uint8_t *)r->body, blen,
                                                  (uint64_t)((long)time(NULL) + r->date_offset)),
                             MV_OK);
        }
        if (r->flip_sig)
            r->used.signature[10] = r->used.signature[10] == '0' ? '1' : '0';
        snprintf(h[0], sizeof h[0], "MV-Key: %s", r->used.key);
        snprintf(h[1], sizeof h[1], "MV-Date: %s", r->used.date);
        snprintf(h[2], sizeof h[2], "MV-Nonce: %s", r->used.nonce);
        snprintf(h[3], sizeof h[3], "MV-Signature: %s", r->used.signature);
        snprintf(h[4], sizeof h[4], "MV-Credential: %s", r->cred ? r->cred : "");
        snprintf(h[5], sizeof h[5], "MV-Target: %s", r->used.target);
        snprintf(h[6], sizeof h[6], "MV-Content-SHA256: %s", r->used.body_sha256);
        for (int i = 0; i < 7; i++)
            hdrs[i] = h[i];
    }
    mv_httpc_call_init(&c);
    c.method = r->method;
    c.url = url;
    c.headers = hdrs;
    c.body = (const uint8_t *)r->body;
    c.body_len = blen;
    c.timeout_ms = 10000;
    assert_int_equal(mv_httpc_run(&c, 1), MV_OK);
    assert_int_equal(c.rc, MV_OK);
    long st = c.status;
    if (resp)
        assert_int_equal(mv_buf_append(resp, c.response.ptr, c.response.len), MV_OK);
    if (retry_after)
        *retry_after = c.retry_after;
    mv_httpc_call_clear(&c);
    return st;
}

static char *issue(const mv_identity *hosp, const mv_identity *subject, const char *role, long expires_in)
{
    mv_credential cr;
    memset(&cr, 0, sizeof cr);
    memcpy(cr.subject, mv_identity_sign_pk(subject), 32);
    snprintf(cr.role, sizeof cr.role, "%s", role);
    cr.n_departments = 1;
    snprintf(cr.departments[0], sizeof cr.departments[0], "cardiology");
    cr.issued_at = (uint64_t)time(NULL) - 1000;
    cr.expires_at = (uint64_t)((long)time(NULL) + expires_in);
    assert_int_equal(mv_credential_issue(&cr, mv_identity_sign_pk(hosp), mv_identity_sign_sk(hosp)), MV_OK);
    char *b64 = mv_malloc(MV_CRED_B64_MAX);
    assert_non_null(b64);
    assert_int_equal(mv_credential_encode(&cr, b64, MV_CRED_B64_MAX), MV_OK);
    return b64;
}

static mv_identity *new_user(const char *name)
{
    char d[400];
    mv_identity *id = NULL;
    snprintf(d, sizeof d, "%s/%s", g_dir, name);
    assert_int_equal(mv_identity_create(d, &id), MV_OK);
    return id;
}

/* A JSON body {"blinded":[...]} of `count` blinded inputs. */
static char *blinded_body(size_t count)
{
    mv_buf b;
    mv_buf_init(&b, 1u << 20);
    assert_int_equal(mv_buf_puts(&b, "{\"blinded\":["), MV_OK);
    for (size_t i = 0; i < count; i++) {
        uint8_t in[8], blind[32], bl[32];
        memcpy(in, &i, sizeof in);
        assert_int_equal(mv_oprf_blind(MV_OPRF_MODE_VOPRF, in, sizeof in, NULL, blind, bl), MV_OK);
        if (i)
            assert_int_equal(mv_buf_puts(&b, ","), MV_OK);
        assert_int_equal(mv_json_write_hex(&b, bl, 32), MV_OK);
    }
    assert_int_equal(mv_buf_puts(&b, "]}"), MV_OK);
    return (char *)mv_buf_steal(&b, NULL);
}

/* ---------- fixture ---------- */

static int setup(void **state)
{
    (void)state;
    assert_int_equal(mv_crypto_init(), MV_OK);
    assert_int_equal(mv_httpc_global_init(), MV_OK);
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
    snprintf(g_ksdir, sizeof g_ksdir, "%s/ks", g_dir);
    snprintf(g_portfile, sizeof g_portfile, "%s/port", g_dir);
    g_hosp = new_user("hospital");
    g_other_hosp = new_user("other-hospital");
    mv_identity *ksid = NULL;
    assert_int_equal(mv_identity_create(g_ksdir, &ksid), MV_OK);
    mv_identity_free(ksid);
    /* RFC 9497 A.1.2 (VOPRF) key, t = n = 1. */
    mv_json *v = tu_load_json("rfc9497-ristretto255-sha512.json");
    const mv_json *modes = mv_json_get(v, "modes");
    for (size_t i = 0; i < mv_json_len(modes); i++) {
        uint64_t m = 9;
        const mv_json *e = mv_json_at(modes, i);
        if (mv_json_get_u64(e, "mode", &m) == MV_OK && m == 1) {
            assert_int_equal(mv_json_get_hex(e, "skSm", g_sk, 32), MV_OK);
            assert_int_equal(mv_json_get_hex(e, "pkSm", g_pk, 32), MV_OK);
        }
    }
    mv_json_free(v);
    assert_int_equal(mv_keyserver_import_share(g_ksdir, 1, 1, g_sk, g_pk, 1, 0, 0), MV_OK);
    start_server();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (g_pid > 0)
        stop_server();
    mv_identity_free(g_hosp);
    mv_identity_free(g_other_hosp);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        return -1;
    return 0;
}

/* ---------- tests ---------- */

static void test_evaluate_ok(void **state)
{
    (void)state;
    mv_identity *u = new_user("ok");
    char *cred = issue(g_hosp, u, "doctor", 3600);
    const uint8_t input[] = {0x00};
    uint8_t blind[32], bl[32], ev[32], proof[64], out[64], expect[64];
    assert_int_equal(mv_oprf_blind(MV_OPRF_MODE_VOPRF, input, 1, NULL, blind, bl), MV_OK);
    char body[200], hex[65];
    assert_int_equal(mv_hex_encode(hex, sizeof hex, bl, 32), MV_OK);
    snprintf(body, sizeof body, "{\"blinded\":[\"%s\"]}", hex);
    req r = {.method = "POST", .path = "/v1/evaluate", .body = body, .who = u, .cred = cred};
    mv_buf resp;
    mv_buf_init(&resp, 1 << 20);
    assert_int_equal(send_req(&r, &resp, NULL), 200);
    mv_json *j = NULL;
    assert_int_equal(mv_json_parse((const char *)resp.ptr, resp.len, NULL, &j, NULL), MV_OK);
    uint64_t idx = 0;
    assert_int_equal(mv_json_get_u64(j, "index", &idx), MV_OK);
    assert_int_equal(idx, 1);
    size_t sl = 0;
    const char *s = mv_json_str(mv_json_at(mv_json_get(j, "evaluated"), 0), &sl);
    assert_non_null(s);
    assert_int_equal(mv_hex_decode_exact(ev, 32, s, sl), MV_OK);
    assert_int_equal(mv_json_get_hex(j, "proof", proof, 64), MV_OK);
    /* The answer's exact bytes: clients of other builds parse it. */
    mv_buf want;
    mv_buf_init(&want, 1 << 16);
    assert_int_equal(mv_buf_printf(&want, "{\"index\":1,\"evaluated\":[\"%.*s\"],\"proof\":\"%s\"}", (int)sl, s,
                                   mv_json_get_str(j, "proof", NULL)),
                     MV_OK);
    assert_int_equal(resp.len, want.len);
    assert_memory_equal(resp.ptr, want.ptr, want.len);
    assert_int_equal(mv_voprf_verify(g_pk, bl, ev, 1, proof), MV_OK);
    assert_int_equal(mv_oprf_finalize(MV_OPRF_MODE_VOPRF, input, 1, blind, ev, out), MV_OK);
    assert_int_equal(mv_oprf_evaluate(MV_OPRF_MODE_VOPRF, g_sk, input, 1, expect), MV_OK);
    assert_memory_equal(out, expect, 64);
    mv_json_free(j);
    mv_buf_clear(&resp);

    /* /v1/info describes the suite and the share. */
    mv_buf_init(&resp, 1 << 16);
    req gi = {.method = "GET", .path = "/v1/info", .unsigned_req = 1};
    assert_int_equal(send_req(&gi, &resp, NULL), 200);
    assert_non_null(strstr((const char *)resp.ptr, "\"suite\":\"ristretto255-SHA512\""));
    assert_non_null(strstr((const char *)resp.ptr, "\"mode\":1"));
    char pkhex[65];
    assert_int_equal(mv_hex_encode(pkhex, sizeof pkhex, g_pk, 32), MV_OK);
    assert_non_null(strstr((const char *)resp.ptr, pkhex));
    /* Every member, in order, byte for byte (the values from the answer itself). */
    assert_int_equal(mv_json_parse((const char *)resp.ptr, resp.len, NULL, &j, NULL), MV_OK);
    mv_buf_reset(&want);
    assert_int_equal(mv_buf_printf(&want,
                                   "{\"suite\":\"ristretto255-SHA512\",\"mode\":1,\"index\":%llu,\"threshold\":%llu,"
                                   "\"servers\":%llu,\"epoch\":%llu,\"public_share\":\"%s\",\"group_public_key\":\"%s\","
                                   "\"public_shares\":[",
                                   (unsigned long long)tu_json_u64(j, "index"), (unsigned long long)tu_json_u64(j, "threshold"),
                                   (unsigned long long)tu_json_u64(j, "servers"), (unsigned long long)tu_json_u64(j, "epoch"),
                                   mv_json_get_str(j, "public_share", NULL), mv_json_get_str(j, "group_public_key", NULL)),
                     MV_OK);
    const mv_json *ps = mv_json_get(j, "public_shares");
    assert_true(mv_json_len(ps) >= 1);
    for (size_t i = 0; i < mv_json_len(ps); i++)
        assert_int_equal(mv_buf_printf(&want, "%s{\"index\":%zu,\"public_share\":\"%s\"}", i ? "," : "", i + 1,
                                       mv_json_get_str(mv_json_at(ps, i), "public_share", NULL)),
                         MV_OK);
    assert_int_equal(mv_buf_printf(&want, "],\"server_key\":\"%s\"}", mv_json_get_str(j, "server_key", NULL)), MV_OK);
    assert_int_equal(resp.len, want.len);
    assert_memory_equal(resp.ptr, want.ptr, want.len);
    mv_json_free(j);
    mv_buf_clear(&want);
    mv_buf_clear(&resp);
    mv_free(cred);
    mv_identity_free(u);
}

static void test_auth_failures(void **state)
{
    (void)state;
    mv_identity *u = new_user("auth");
    char *good = issue(g_hosp, u, "doctor", 3600);
    char *expired = issue(g_hosp, u, "doctor", -10);
    char *foreign = issue(g_other_hosp, u, "doctor", 3600);
    mv_identity *v = new_user("auth2");
    char *someone_else = issue(g_hosp, v, "doctor", 3600);
    char *body = blinded_body(1);

    req base = {.method = "POST", .path = "/v1/evaluate", .body = body, .who = u, .cred = good};
    req r;
    r = base; r.unsigned_req = 1;
    assert_int_equal(send_req(&r, NULL, NULL), 401);
    r = base; r.cred = expired;
    assert_int_equal(send_req(&r, NULL, NULL), 401);
    r = base; r.cred = foreign; /* signed by another hospital key */
    assert_int_equal(send_req(&r, NULL, NULL), 401);
    r = base; r.cred = someone_else; /* credential of another subject */
    assert_int_equal(send_req(&r, NULL, NULL), 401);
    r = base; r.flip_sig = 1;
    assert_int_equal(send_req(&r, NULL, NULL), 401);
    r = base; r.date_offset = -400; /* stale */
    assert_int_equal(send_req(&r, NULL, NULL), 401);
    r = base; r.date_offset = 400; /* from the future */
    assert_int_equal(send_req(&r, NULL, NULL), 401);
    r = base; r.cred = "bm90IGEgY3JlZGVudGlhbA=="; /* base64, but not a credential */
    assert_int_equal(send_req(&r, NULL, NULL), 401);

    /* A replayed nonce: the same signed headers twice. */
    r = base;
    assert_int_equal(send_req(&r, NULL, NULL), 200);
    req again = base;
    again.reuse = &r.used;
    assert_int_equal(send_req(&again, NULL, NULL), 401);

    /* The server still serves good requests. */
    r = base;
    assert_int_equal(send_req(&r, NULL, NULL), 200);
    mv_free(body);
    mv_free(good);
    mv_free(expired);
    mv_free(foreign);
    mv_free(someone_else);
    mv_identity_free(u);
    mv_identity_free(v);
}

static void test_bad_requests(void **state)
{
    (void)state;
    mv_identity *u = new_user("bad");
    char *cred = issue(g_hosp, u, "patient", 3600);
    char zero[65], ff[65];
    memset(zero, '0', 64);
    zero[64] = 0;
    memset(ff, 'f', 64);
    ff[64] = 0;
    char b_identity[120], b_invalid[120], b_short[120];
    snprintf(b_identity, sizeof b_identity, "{\"blinded\":[\"%s\"]}", zero);
    snprintf(b_invalid, sizeof b_invalid, "{\"blinded\":[\"%s\"]}", ff);
    snprintf(b_short, sizeof b_short, "{\"blinded\":[\"%.62s\"]}", ff);
    char *too_many = blinded_body(1025);
    const char *bodies[] = {"{not json", "[]", "{\"blinded\":[]}", "{\"blinded\":\"00\"}", "{\"blinded\":[7]}",
                            b_short, b_identity, b_invalid, too_many};
    const char *expect[] = {"malformed", "malformed", "non-empty", "non-empty", "hex",
                            "hex", "identity", "valid ristretto255", "too many"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        mv_buf resp;
        mv_buf_init(&resp, 1 << 16);
        req r = {.method = "POST", .path = "/v1/evaluate", .body = bodies[i], .who = u, .cred = cred};
        assert_int_equal(send_req(&r, &resp, NULL), 400);
        if (!strstr((const char *)resp.ptr, expect[i]))
            fail_msg("case %zu: message '%s' lacks '%s'", i, (const char *)resp.ptr, expect[i]);
        mv_buf_clear(&resp);
    }
    /* Unknown path and wrong method. */
    req r404 = {.method = "GET", .path = "/v1/nothing", .unsigned_req = 1};
    assert_int_equal(send_req(&r404, NULL, NULL), 404);
    req r405 = {.method = "GET", .path = "/v1/evaluate", .unsigned_req = 1};
    assert_int_equal(send_req(&r405, NULL, NULL), 405);
    /* And the server keeps serving. */
    char *body = blinded_body(3);
    req ok = {.method = "POST", .path = "/v1/evaluate", .body = body, .who = u, .cred = cred};
    assert_int_equal(send_req(&ok, NULL, NULL), 200);
    mv_free(body);
    mv_free(too_many);
    mv_free(cred);
    mv_identity_free(u);
}

static void test_rate_limit_survives_restart(void **state)
{
    (void)state;
    mv_identity *u = new_user("rate");
    char *cred = issue(g_hosp, u, "doctor", 3600);
    char *b30 = blinded_body(30), *b10 = blinded_body(10), *b1 = blinded_body(1);
    req r = {.method = "POST", .path = "/v1/evaluate", .body = b30, .who = u, .cred = cred};
    assert_int_equal(send_req(&r, NULL, NULL), 200); /* 30 of the burst of 40 */
    r.body = b10;
    assert_int_equal(send_req(&r, NULL, NULL), 200); /* 40 of 40 */
    long retry = -1;
    r.body = b1;
    assert_int_equal(send_req(&r, NULL, &retry), 429);
    assert_true(retry >= 1);
    /* Another client is not affected. */
    mv_identity *w = new_user("rate2");
    char *cred2 = issue(g_hosp, w, "doctor", 3600);
    req r2 = {.method = "POST", .path = "/v1/evaluate", .body = b1, .who = w, .cred = cred2};
    assert_int_equal(send_req(&r2, NULL, NULL), 200);
    /* Restart: the bucket stays empty. */
    stop_server();
    start_server();
    retry = -1;
    assert_int_equal(send_req(&r, NULL, &retry), 429);
    assert_true(retry >= 1);
    assert_int_equal(send_req(&r2, NULL, NULL), 200);
    mv_free(b30);
    mv_free(b10);
    mv_free(b1);
    mv_free(cred);
    mv_free(cred2);
    mv_identity_free(u);
    mv_identity_free(w);
}

static void test_health_and_metrics(void **state)
{
    (void)state;
    mv_buf resp;
    mv_buf_init(&resp, 1 << 20);
    req h = {.method = "GET", .path = "/healthz", .unsigned_req = 1};
    assert_int_equal(send_req(&h, &resp, NULL), 200);
    mv_buf_reset(&resp);
    /* Make sure this server process has answered an evaluation and refused one. */
    mv_identity *u = new_user("metrics");
    char *cred = issue(g_hosp, u, "doctor", 3600);
    char *b = blinded_body(2);
    req ok = {.method = "POST", .path = "/v1/evaluate", .body = b, .who = u, .cred = cred};
    assert_int_equal(send_req(&ok, NULL, NULL), 200);
    req bad = {.method = "POST", .path = "/v1/evaluate", .body = b, .who = u, .cred = cred, .flip_sig = 1};
    assert_int_equal(send_req(&bad, NULL, NULL), 401);
    /* Without the token: no evaluation counts (issue 11, finding 8). */
    assert_int_equal(tu_get_metrics(g_port, NULL, &resp), 200);
    assert_null(strstr((const char *)resp.ptr, "medvault_keyserver_evaluations_total"));
    assert_null(strstr((const char *)resp.ptr, "medvault_keyserver_rejections_total"));
    assert_non_null(strstr((const char *)resp.ptr, "medvault_keyserver_http_requests_total"));
    assert_int_equal(tu_get_metrics(g_port, g_ksdir, &resp), 200);
    const char *text = (const char *)resp.ptr;
    assert_non_null(strstr(text, "# TYPE medvault_keyserver_evaluations_total counter"));
    /* Since the last restart: 1 element (rate-limit test) + 2 here; 1 auth failure. */
    const char *ev = strstr(text, "\nmedvault_keyserver_evaluations_total ");
    assert_non_null(ev);
    assert_int_equal(strtoul(ev + strlen("\nmedvault_keyserver_evaluations_total "), NULL, 10), 3);
    assert_non_null(strstr(text, "medvault_keyserver_rejections_total{reason=\"auth\"} 1"));
    assert_non_null(strstr(text, "medvault_keyserver_rejections_total{reason=\"rate_limited\"} 1"));
    assert_non_null(strstr(text, "medvault_keyserver_evaluate_duration_seconds_bucket"));
    mv_buf_clear(&resp);
    mv_free(b);
    mv_free(cred);
    mv_identity_free(u);
}

int main(void)
{
    /* Order matters: the metrics test counts what happened since the rate-limit test's restart. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evaluate_ok),
        cmocka_unit_test(test_auth_failures),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_rate_limit_survives_restart),
        cmocka_unit_test(test_health_and_metrics),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
