/* test_dashboard.c - the hospital's admin dashboard (src/hospital/dashboard.c) served by a real
 * mv_http_server on 127.0.0.1 and driven over HTTP with libcurl (to see Location and
 * Set-Cookie): a registry made from mv_migrations[] with fixture rows, redirects without a
 * session, one-time token login, challenge login (admin signature accepted; a doctor's, a
 * wrong, a forged, an expired or a replayed one refused; 1,000 visitors of the login page do
 * not invalidate an admin's challenge; successful logins per window are bounded), every page showing the fixtures HTML-escaped,
 * appointment filters, the formulary form (CSRF refused, valid stored, update, delete,
 * validation), sessions dying with a suspended admin, logout, and the storage page against a
 * stand-in storage server that verifies the hospital-signed request.
 *
 * With MV_DASH_SERVE=FILE in the environment it instead serves the fixture dashboard (and a
 * stand-in storage server) for the browser test: it writes the token login URL to FILE and
 * serves until FILE is deleted or MV_DASH_SERVE_SECONDS (default 300) pass. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "testutil.h"

#include <curl/curl.h>
#include <ftw.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "hospital/dashboard.h"
#include "hospital/migrations.h"
#include "hospital/registry.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_http.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_sig.h"

#define DOCTOR_NAME_SQL "Dr <script>alert(1)</script> Who"
#define DOCTOR_NAME_HTML "Dr &lt;script&gt;alert(1)&lt;/script&gt; Who"

typedef struct keypair {
    uint8_t pk[32];
    uint8_t sk[64];
    char hex[65];
} keypair;

typedef struct fake_storage {
    mv_http_server *srv;
    mv_auth_verifier *v;
    int verified; /* requests whose hospital-signed admin credential verified */
} fake_storage;

typedef struct harness {
    char dir[256];
    char db_path[300];
    mv_identity *hosp;
    hospital_dash *dash;
    mv_http_server *srv;
    uint16_t port;
    registry *reg; /* the registry the dashboard reads, as the hospital opens it */
    sqlite3 *db;   /* the test's own connection, for fixtures and checks */
    keypair admin, admin2, doctor;
    fake_storage storage;
    _Atomic uint64_t now; /* the challenges' clock (unix seconds); 0: the real one */
} harness;

typedef struct reply {
    long status;
    char location[256];
    char cookie[256]; /* the Set-Cookie value */
    char csp[256];
    char nosniff[64];
    char referrer[64];
    char ctype[128];
    mv_buf body;
} reply;

static void keypair_new(keypair *k)
{
    assert_int_equal(mv_sign_keypair(k->pk, k->sk), MV_OK);
    assert_int_equal(mv_hex_encode(k->hex, sizeof k->hex, k->pk, 32), MV_OK);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("sql failed: %s (%s)", err ? err : "?", sql);
}

static long long query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static uint64_t harness_clock(void *ctx)
{
    harness *h = ctx;
    uint64_t t = atomic_load(&h->now);
    return t ? t : (uint64_t)time(NULL);
}

static void dash_handler(void *ctx, const mv_http_request *req, mv_http_response *resp)
{
    harness *h = ctx;
    if (!hospital_dash_handle(h->dash, req, resp))
        mv_http_respond_json_error(resp, 404, "no such endpoint");
}

/* The stand-in storage server: GET /v1/stats answers only a request signed with a valid
 * credential of role admin whose subject is the hospital key itself. */
static void storage_handler(void *ctx, const mv_http_request *req, mv_http_response *resp)
{
    harness *h = ctx;
    mv_credential c;
    if (strcmp(req->path, "/v1/stats") != 0) {
        mv_http_respond_json_error(resp, 404, "no");
        return;
    }
    mv_err rc = mv_http_verify(h->storage.v, req, (uint64_t)time(NULL), &c);
    if (rc != MV_OK || strcmp(c.role, "admin") != 0 || memcmp(c.subject, mv_identity_sign_pk(h->hosp), 32) != 0 ||
        c.n_departments != 0 || c.expires_at > (uint64_t)time(NULL) + 600) {
        mv_http_respond_json_error(resp, 401, "unauthenticated");
        return;
    }
    h->storage.verified++;
    mv_http_respond_fmt(resp, 200,
                        "{\"records\":3,\"blocks\":3,\"logical_bytes\":7050,\"physical_bytes\":4050,"
                        "\"pack_bytes\":4312,\"envelope_bytes\":350,\"block_bytes\":4144,\"savings\":0.4255,"
                        "\"departments\":{\"cardiology\":{\"records\":2,\"logical_bytes\":6000,\"physical_bytes\":"
                        "3000,\"dedup_hits\":1,\"savings\":0.5000},\"<b>onc</b>\":{\"records\":1,\"logical_bytes\":"
                        "1050,\"physical_bytes\":1050,\"dedup_hits\":0,\"savings\":0.0000}}}");
}

static void storage_start(harness *h, const uint8_t *trusted_pk)
{
    assert_int_equal(mv_auth_verifier_new(trusted_pk, 300, 1000, &h->storage.v), MV_OK);
    mv_http_config cfg = {.listen = "127.0.0.1:0", .threads = 1, .handler = storage_handler, .ctx = h};
    assert_int_equal(mv_http_server_start(&cfg, &h->storage.srv), MV_OK);
    assert_int_equal(mv_auth_verifier_add_listen(h->storage.v, "127.0.0.1:0", mv_http_server_port(h->storage.srv)),
                     MV_OK);
}

static void storage_stop(harness *h)
{
    mv_http_server_stop(h->storage.srv);
    mv_auth_verifier_free(h->storage.v);
    h->storage.srv = NULL;
    h->storage.v = NULL;
}

static void fixtures(harness *h)
{
    char sql[4096];
    keypair patient, patient2, pending, doctor2;
    keypair_new(&h->admin);
    keypair_new(&h->admin2);
    keypair_new(&h->doctor);
    keypair_new(&patient);
    keypair_new(&patient2);
    keypair_new(&pending);
    keypair_new(&doctor2);
    exec_sql(h->db, "INSERT INTO departments (name, description, created_at) VALUES"
                    " ('cardiology', 'Heart <b>care</b>', 1700000000), ('oncology', '', 1700000000)");
    snprintf(sql, sizeof sql,
             "INSERT INTO users (id, sign_pk, box_pk, name, role, status, mrn, registered_at, status_changed_at) VALUES"
             " (1, '%s', '%s', 'Ada Admin', 'admin', 'active', NULL, 1700000000, 1700000000),"
             " (2, '%s', '%s', 'Sam Suspended', 'admin', 'suspended', NULL, 1700000000, 1700000000),"
             " (3, '%s', '%s', '" DOCTOR_NAME_SQL "', 'doctor', 'active', NULL, 1700000000, 1700000000),"
             " (4, '%s', '%s', 'Pat O''Neil', 'patient', 'active', 'MRN-000001', 1700000000, 1700000000),"
             " (5, '%s', '%s', 'Quinn Other', 'patient', 'active', 'MRN-000002', 1700000000, 1700000000),"
             " (6, '%s', '%s', 'Penny Pending', 'patient', 'pending', 'MRN-000003', 1700000000, 1700000000),"
             " (7, '%s', '%s', 'Dora Second', 'doctor', 'revoked', NULL, 1700000000, 1700000000)",
             h->admin.hex, h->admin.hex, h->admin2.hex, h->admin2.hex, h->doctor.hex, h->doctor.hex, patient.hex,
             patient.hex, patient2.hex, patient2.hex, pending.hex, pending.hex, doctor2.hex, doctor2.hex);
    exec_sql(h->db, sql);
    exec_sql(h->db, "INSERT INTO user_departments (user_id, department) VALUES (3, 'cardiology'), (3, 'oncology'),"
                    " (4, 'cardiology'), (7, 'oncology')");
    exec_sql(h->db,
             "INSERT INTO appointments (id, patient_id, department, doctor_id, starts_at, place, reason, status,"
             " created_at, updated_at) VALUES"
             " ('00112233445566778899aabbccddeeff', 4, 'cardiology', 3, 1800000000, 'Room <7>', 'chest pain',"
             "  'booked', 1700000000, 1700000000),"
             " ('ffeeddccbbaa99887766554433221100', 5, 'oncology', NULL, NULL, '', 'check-up', 'requested',"
             "  1700000001, 1700000001)");
    exec_sql(h->db, "INSERT INTO medicines (name, form, strength, dosage, code, updated_by, updated_at) VALUES"
                    " ('Amoxicillin', 'capsule', '500 mg', '1 capsule 3 times a day', '308182', 1, 1700000000)");
}

static harness *start(const char *storage_url_mode)
{
    harness *h = mv_calloc(1, sizeof *h);
    char hdir[300];
    assert_non_null(h);
    snprintf(h->dir, sizeof h->dir, "%s", tu_tmpdir());
    snprintf(h->db_path, sizeof h->db_path, "%s/registry.db", h->dir);
    snprintf(hdir, sizeof hdir, "%s/hospital", h->dir);
    assert_int_equal(mv_identity_create(hdir, &h->hosp), MV_OK);
    /* The registry creates the schema (every migration); the fixtures go in beside it. */
    assert_int_equal(registry_open(h->dir, &h->reg), MV_OK);
    assert_int_equal(registry_schema_version(h->reg), registry_migration_version(
                                                          mv_migrations[mv_migrations_count - 1].name));
    assert_int_equal(sqlite3_open(h->db_path, &h->db), SQLITE_OK);
    exec_sql(h->db, "PRAGMA foreign_keys = ON");
    fixtures(h);
    char url[64];
    const char *surl = NULL;
    if (storage_url_mode) {
        storage_start(h, !strcmp(storage_url_mode, "wrong-key") ? h->admin.pk : mv_identity_sign_pk(h->hosp));
        snprintf(url, sizeof url, "http://127.0.0.1:%u/", (unsigned)mv_http_server_port(h->storage.srv));
        surl = url;
    }
    assert_int_equal(hospital_dash_new(h->reg, h->hosp, surl, NULL, &h->dash), MV_OK);
    hospital_dash_set_challenge_clock(h->dash, harness_clock, h);
    mv_http_config cfg = {
        .listen = "127.0.0.1:0", .max_body = 65536, .threads = 1, .handler = dash_handler, .ctx = h};
    assert_int_equal(mv_http_server_start(&cfg, &h->srv), MV_OK);
    h->port = mv_http_server_port(h->srv);
    return h;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void stop(harness *h)
{
    mv_http_server_stop(h->srv);
    storage_stop(h);
    hospital_dash_free(h->dash);
    registry_close(h->reg);
    sqlite3_close(h->db);
    mv_identity_free(h->hosp);
    nftw(h->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    mv_wipe(h, sizeof *h);
    mv_free(h);
}

/* ---------- HTTP with libcurl (the dashboard's redirects and cookies are what we test) ---------- */

static void copy_header(char *dst, size_t cap, const char *line, size_t n, const char *name)
{
    size_t nl = strlen(name);
    if (n <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    size_t vl = n - nl - 1;
    while (vl && (*v == ' '))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
        vl--;
    snprintf(dst, cap, "%.*s", (int)vl, v);
}

static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    size_t len = size * n;
    copy_header(r->location, sizeof r->location, line, len, "Location");
    copy_header(r->cookie, sizeof r->cookie, line, len, "Set-Cookie");
    copy_header(r->csp, sizeof r->csp, line, len, "Content-Security-Policy");
    copy_header(r->nosniff, sizeof r->nosniff, line, len, "X-Content-Type-Options");
    copy_header(r->referrer, sizeof r->referrer, line, len, "Referrer-Policy");
    copy_header(r->ctype, sizeof r->ctype, line, len, "Content-Type");
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    return mv_buf_append(&r->body, p, size * n) == MV_OK ? size * n : 0;
}

static void reply_clear(reply *r)
{
    mv_buf_clear(&r->body);
    memset(r, 0, sizeof *r);
}

/* One request; cookie is the mv_session value (NULL = none); form (NULL for GET) is the
 * urlencoded POST body. r is reset first. */
static void http(harness *h, const char *method, const char *path, const char *cookie, const char *form, reply *r)
{
    char url[512], ck[128];
    mv_buf_clear(&r->body);
    memset(r, 0, sizeof *r);
    mv_buf_init(&r->body, 4u << 20);
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)h->port, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    if (cookie) {
        snprintf(ck, sizeof ck, "other=1; mv_session=%s", cookie);
        curl_easy_setopt(c, CURLOPT_COOKIE, ck);
    }
    if (form) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
    }
    if (strcmp(method, form ? "POST" : "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
}

static const char *body(const reply *r)
{
    return r->body.ptr ? (const char *)r->body.ptr : "";
}

static void assert_contains(const reply *r, const char *s)
{
    if (!strstr(body(r), s))
        fail_msg("expected \"%s\" in the page (status %ld)", s, r->status);
}

static void assert_lacks(const reply *r, const char *s)
{
    if (strstr(body(r), s))
        fail_msg("did not expect \"%s\" in the page", s);
}

/* The session id from a login reply's Set-Cookie (checks the cookie's attributes). */
static void session_from(const reply *r, char sid[65])
{
    assert_int_equal(r->status, 303);
    assert_string_equal(r->location, "/admin/");
    assert_true(!strncmp(r->cookie, "mv_session=", 11));
    assert_non_null(strstr(r->cookie, "; HttpOnly"));
    assert_non_null(strstr(r->cookie, "; SameSite=Strict"));
    assert_non_null(strstr(r->cookie, "; Path=/admin"));
    assert_non_null(strstr(r->cookie, "; Max-Age=28800"));
    memcpy(sid, r->cookie + 11, 64);
    sid[64] = 0;
    uint8_t tmp[32];
    assert_int_equal(mv_hex_decode_exact(tmp, 32, sid, 64), MV_OK);
}

static void login(harness *h, char sid[65])
{
    char tok[65], path[128];
    reply r = {0};
    assert_int_equal(hospital_dash_session_token(h->dash, h->admin.pk, tok, NULL), MV_OK);
    snprintf(path, sizeof path, "/admin/login?token=%s", tok);
    http(h, "GET", path, NULL, NULL, &r);
    session_from(&r, sid);
    reply_clear(&r);
}

/* The CSRF token in a page's forms. */
static void csrf_from(const reply *r, char out[65])
{
    const char *p = strstr(body(r), "name=\"csrf\" value=\"");
    assert_non_null(p);
    p += strlen("name=\"csrf\" value=\"");
    memcpy(out, p, 64);
    out[64] = 0;
    assert_int_equal(p[64], '"');
}

static void check_security_headers(const reply *r)
{
    assert_string_equal(r->csp, "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                "frame-ancestors 'none'");
    assert_string_equal(r->nosniff, "nosniff");
    assert_string_equal(r->referrer, "no-referrer");
}

/* ---------- tests ---------- */

static void test_redirect_without_session(void **state)
{
    (void)state;
    harness *h = start(NULL);
    reply r = {0};
    static const char *const paths[] = {"/admin/", "/admin/departments", "/admin/doctors", "/admin/patients",
                                        "/admin/appointments", "/admin/medicines", "/admin/storage",
                                        "/admin/alerts", "/admin/nope"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        http(h, "GET", paths[i], NULL, NULL, &r);
        assert_int_equal(r.status, 303);
        assert_string_equal(r.location, "/admin/login");
        check_security_headers(&r);
        assert_lacks(&r, "Amoxicillin");
        /* A made-up session id is no session. */
        http(h, "GET", paths[i], "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", NULL, &r);
        assert_int_equal(r.status, 303);
        assert_string_equal(r.location, "/admin/login");
    }
    http(h, "POST", "/admin/medicines", NULL, "action=save&name=X&form=f&strength=s&dosage=d", &r);
    assert_int_equal(r.status, 303);
    assert_int_equal(query_int(h->db, "SELECT count(*) FROM medicines"), 1);
    http(h, "GET", "/admin", NULL, NULL, &r);
    assert_int_equal(r.status, 303);
    assert_string_equal(r.location, "/admin/");
    /* Paths outside /admin are not the dashboard's. */
    http(h, "GET", "/administrator", NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.csp, "");
    reply_clear(&r);
    stop(h);
}

static void test_token_login_once(void **state)
{
    (void)state;
    harness *h = start(NULL);
    reply r = {0};
    char tok[65], path[128], sid[65];
    uint64_t exp = 0;
    const uint64_t now = (uint64_t)time(NULL);
    assert_int_equal(hospital_dash_session_token(h->dash, h->admin.pk, tok, &exp), MV_OK);
    assert_int_equal(strlen(tok), 64);
    assert_true(exp >= now + HOSPITAL_DASH_TOKEN_SECONDS && exp <= now + HOSPITAL_DASH_TOKEN_SECONDS + 2);
    snprintf(path, sizeof path, "/admin/login?token=%s", tok);
    http(h, "GET", path, NULL, NULL, &r);
    session_from(&r, sid);
    check_security_headers(&r);
    /* The same token again: refused, no cookie. */
    http(h, "GET", path, NULL, NULL, &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.cookie, "");
    assert_contains(&r, "invalid, expired or already used");
    /* The session works. */
    http(h, "GET", "/admin/", sid, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.ctype, "text/html"));
    check_security_headers(&r);
    assert_contains(&r, "Signed in as Ada Admin");
    /* Tokens only for active admins. */
    assert_int_equal(hospital_dash_session_token(h->dash, h->doctor.pk, tok, NULL), MV_ERR_FORBIDDEN);
    assert_int_equal(tok[0], 0);
    assert_int_equal(hospital_dash_session_token(h->dash, h->admin2.pk, tok, NULL), MV_ERR_FORBIDDEN);
    assert_int_equal(hospital_dash_session_token(NULL, h->admin.pk, tok, NULL), MV_ERR_INVAL);
    /* Malformed and made-up tokens. */
    http(h, "GET", "/admin/login?token=zz", NULL, NULL, &r);
    assert_int_equal(r.status, 403);
    http(h, "GET", "/admin/login?token=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", NULL,
         NULL, &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.cookie, "");
    /* A token issued before the admin was suspended is refused at login. */
    assert_int_equal(hospital_dash_session_token(h->dash, h->admin.pk, tok, NULL), MV_OK);
    exec_sql(h->db, "UPDATE users SET status = 'suspended' WHERE id = 1");
    snprintf(path, sizeof path, "/admin/login?token=%s", tok);
    http(h, "GET", path, NULL, NULL, &r);
    assert_int_equal(r.status, 403);
    /* POST /v1/sessions's answer. */
    exec_sql(h->db, "UPDATE users SET status = 'active' WHERE id = 1");
    mv_http_response resp;
    memset(&resp, 0, sizeof resp);
    mv_buf_init(&resp.body, 4096);
    hospital_dash_respond_session(h->dash, h->admin.pk, &resp);
    assert_int_equal(resp.status, 201);
    mv_json *j = NULL;
    assert_int_equal(mv_json_parse((const char *)resp.body.ptr, resp.body.len, NULL, &j, NULL), MV_OK);
    const char *url = mv_json_get_str(j, "login_url", NULL);
    assert_non_null(url);
    assert_int_equal(strlen(url), strlen("/admin/login?token=") + 64);
    assert_true(tu_json_u64(j, "expires_at") >= now + HOSPITAL_DASH_TOKEN_SECONDS);
    http(h, "GET", url, NULL, NULL, &r);
    session_from(&r, sid);
    mv_json_free(j);
    mv_buf_reset(&resp.body);
    resp.status = 0;
    hospital_dash_respond_session(h->dash, h->doctor.pk, &resp);
    assert_int_equal(resp.status, 403);
    mv_buf_clear(&resp.body);
    reply_clear(&r);
    stop(h);
}

/* GETs the login page and returns its challenge. */
static void get_challenge(harness *h, char ch[65])
{
    reply r = {0};
    http(h, "GET", "/admin/login", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    check_security_headers(&r);
    const char *p = strstr(body(&r), "<pre id=\"challenge\">");
    assert_non_null(p);
    p += strlen("<pre id=\"challenge\">");
    memcpy(ch, p, 64);
    ch[64] = 0;
    assert_int_equal(p[64], '<');
    reply_clear(&r);
}

/* POSTs the login form: challenge text `signed_ch` signed by `signer`, presented as `key`. */
static void post_login(harness *h, const char *ch, const char *signed_ch, const keypair *signer, const keypair *key,
                       reply *r)
{
    char msg[200], sig_hex[129], form[400];
    uint8_t sig[64];
    int n = snprintf(msg, sizeof msg, "%s%s", HOSPITAL_DASH_LOGIN_CONTEXT, signed_ch);
    assert_int_equal(mv_sign(sig, msg, (size_t)n, signer->sk), MV_OK);
    assert_int_equal(mv_hex_encode(sig_hex, sizeof sig_hex, sig, 64), MV_OK);
    snprintf(form, sizeof form, "challenge=%s&key=%s&signature=%s", ch, key->hex, sig_hex);
    http(h, "POST", "/admin/login", NULL, form, r);
}

static void test_challenge_login(void **state)
{
    (void)state;
    harness *h = start(NULL);
    reply r = {0};
    char ch[65], sid[65];
    /* A doctor's key and signature: refused (not an admin). */
    get_challenge(h, ch);
    post_login(h, ch, ch, &h->doctor, &h->doctor, &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.cookie, "");
    assert_contains(&r, "Login refused");
    /* The admin's key with a signature by another key: refused. */
    get_challenge(h, ch);
    post_login(h, ch, ch, &h->doctor, &h->admin, &r);
    assert_int_equal(r.status, 403);
    /* A refused attempt does not spend the challenge (an unauthenticated caller cannot write the
     * used set): the admin's own signature over it still logs in, once. */
    post_login(h, ch, ch, &h->admin, &h->admin, &r);
    session_from(&r, sid);
    post_login(h, ch, ch, &h->admin, &h->admin, &r);
    assert_int_equal(r.status, 403);
    /* A signature over another challenge text: refused. */
    get_challenge(h, ch);
    char other[65];
    memcpy(other, ch, 65);
    other[0] = other[0] == '0' ? '1' : '0';
    post_login(h, ch, other, &h->admin, &h->admin, &r);
    assert_int_equal(r.status, 403);
    /* A made-up challenge: refused. */
    post_login(h, other, other, &h->admin, &h->admin, &r);
    assert_int_equal(r.status, 403);
    /* A suspended admin: refused. */
    get_challenge(h, ch);
    post_login(h, ch, ch, &h->admin2, &h->admin2, &r);
    assert_int_equal(r.status, 403);
    /* The active admin: accepted once. */
    get_challenge(h, ch);
    post_login(h, ch, ch, &h->admin, &h->admin, &r);
    session_from(&r, sid);
    check_security_headers(&r);
    post_login(h, ch, ch, &h->admin, &h->admin, &r);
    assert_int_equal(r.status, 403);
    http(h, "GET", "/admin/doctors", sid, NULL, &r);
    assert_int_equal(r.status, 200);
    /* Missing fields. */
    http(h, "POST", "/admin/login", NULL, "challenge=&key=", &r);
    assert_int_equal(r.status, 403);
    reply_clear(&r);
    stop(h);
}

/* Issue 11, finding 9: 1,000 unauthenticated visits of the login page (more than the 256-slot
 * challenge table the dashboard used to keep, which they flushed) leave the challenge an admin
 * is signing valid. */
static void test_challenge_survives_visitors(void **state)
{
    (void)state;
    harness *h = start(NULL);
    reply r = {0};
    char first[65], ch[65], sid[65];
    get_challenge(h, first);
    for (int i = 0; i < 1000; i++) {
        http(h, "GET", "/admin/login", NULL, NULL, &r);
        assert_int_equal(r.status, 200);
    }
    get_challenge(h, ch);
    assert_string_not_equal(ch, first);
    post_login(h, first, first, &h->admin, &h->admin, &r);
    session_from(&r, sid);
    http(h, "GET", "/admin/doctors", sid, NULL, &r);
    assert_int_equal(r.status, 200);
    reply_clear(&r);
    stop(h);
}

/* A challenge is good for HOSPITAL_DASH_CHALLENGE_SECONDS from the moment it is shown, never
 * before, and only as this process issued it (the issue time is MACed). */
static void test_challenge_window_and_forgery(void **state)
{
    (void)state;
    harness *h = start(NULL);
    reply r = {0};
    char ch[65], sid[65];
    const uint64_t t0 = (uint64_t)time(NULL);
    atomic_store(&h->now, t0);
    /* The last second of the window: accepted. */
    get_challenge(h, ch);
    atomic_store(&h->now, t0 + HOSPITAL_DASH_CHALLENGE_SECONDS - 1);
    post_login(h, ch, ch, &h->admin, &h->admin, &r);
    session_from(&r, sid);
    /* One second later: expired. */
    atomic_store(&h->now, t0);
    get_challenge(h, ch);
    atomic_store(&h->now, t0 + HOSPITAL_DASH_CHALLENGE_SECONDS);
    post_login(h, ch, ch, &h->admin, &h->admin, &r);
    assert_int_equal(r.status, 403);
    assert_contains(&r, "Login refused");
    /* Shown "in the future" (the clock stepped back): refused. */
    atomic_store(&h->now, t0 + 100);
    get_challenge(h, ch);
    atomic_store(&h->now, t0 + 99);
    post_login(h, ch, ch, &h->admin, &h->admin, &r);
    assert_int_equal(r.status, 403);
    /* An expired challenge whose issue time an attacker moves forward (the first 16 hex digits),
     * properly signed by the admin: the MAC no longer verifies. Likewise a flipped nonce or tag bit. */
    atomic_store(&h->now, t0);
    get_challenge(h, ch);
    atomic_store(&h->now, t0 + 2 * HOSPITAL_DASH_CHALLENGE_SECONDS);
    char moved[65];
    snprintf(moved, sizeof moved, "%016llx%s", (unsigned long long)(t0 + 2 * HOSPITAL_DASH_CHALLENGE_SECONDS - 10),
             ch + 16);
    post_login(h, moved, moved, &h->admin, &h->admin, &r);
    assert_int_equal(r.status, 403);
    atomic_store(&h->now, t0);
    for (int pos = 16; pos < 64; pos += 16) {
        get_challenge(h, ch);
        ch[pos + 3] = ch[pos + 3] == '0' ? '1' : '0';
        post_login(h, ch, ch, &h->admin, &h->admin, &r);
        assert_int_equal(r.status, 403);
    }
    /* A challenge of another dashboard (another key) is unknown here. */
    harness *other = start(NULL);
    char foreign[65];
    get_challenge(other, foreign);
    stop(other);
    post_login(h, foreign, foreign, &h->admin, &h->admin, &r);
    assert_int_equal(r.status, 403);
    reply_clear(&r);
    stop(h);
}

/* Successful logins are remembered for one window only, at most 256 of them: the 257th within
 * 5 minutes is refused with 503 (nothing is evicted, so none can be replayed), and the table
 * empties itself when the window passes. */
static void test_challenge_used_set_bounded(void **state)
{
    (void)state;
    harness *h = start(NULL);
    reply r = {0};
    char ch[65], sid[65], last[65];
    const uint64_t t0 = (uint64_t)time(NULL);
    atomic_store(&h->now, t0);
    for (int i = 0; i < 256; i++) {
        get_challenge(h, ch);
        post_login(h, ch, ch, &h->admin, &h->admin, &r);
        session_from(&r, sid);
        memcpy(last, ch, sizeof last);
    }
    get_challenge(h, ch);
    post_login(h, ch, ch, &h->admin, &h->admin, &r);
    assert_int_equal(r.status, 503);
    assert_contains(&r, "Too many logins");
    assert_string_equal(r.cookie, "");
    /* Still single use while full: the last spent challenge is refused, not evicted. */
    post_login(h, last, last, &h->admin, &h->admin, &r);
    assert_int_equal(r.status, 403);
    /* The window passes: the spent entries go, a fresh challenge logs in. */
    atomic_store(&h->now, t0 + HOSPITAL_DASH_CHALLENGE_SECONDS);
    get_challenge(h, ch);
    post_login(h, ch, ch, &h->admin, &h->admin, &r);
    session_from(&r, sid);
    reply_clear(&r);
    stop(h);
}

static void test_pages_show_fixtures_escaped(void **state)
{
    (void)state;
    harness *h = start(NULL);
    reply r = {0};
    char sid[65], path[256];
    login(h, sid);

    http(h, "GET", "/admin/", sid, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "Departments<b>2</b>");
    assert_contains(&r, "Doctors<b>2</b>");
    assert_contains(&r, "Patients<b>3</b>");
    assert_contains(&r, "Pending registrations<b>1</b>");
    assert_contains(&r, "Medicines<b>1</b>");
    assert_contains(&r, "Alerts<b>0</b>");
    assert_contains(&r, ">booked</a></td><td class=\"num\">1</td>");
    assert_contains(&r, ">requested</a></td><td class=\"num\">1</td>");
    assert_contains(&r, ">completed</a></td><td class=\"num\">0</td>");
    assert_contains(&r, "aria-current=\"page\">Overview</a>");

    http(h, "GET", "/admin/departments", sid, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_contains(&r, ">cardiology</a></td><td>Heart &lt;b&gt;care&lt;/b&gt;</td><td class=\"num\">1</td>"
                        "<td class=\"num\">1</td>");
    assert_contains(&r, ">oncology</a></td><td></td><td class=\"num\">2</td><td class=\"num\">0</td>");
    assert_lacks(&r, "<b>care</b>");

    http(h, "GET", "/admin/doctors", sid, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_contains(&r, DOCTOR_NAME_HTML);
    assert_lacks(&r, "<script>");
    assert_contains(&r, "<td>cardiology, oncology</td>");
    snprintf(path, sizeof path, "<td class=\"status-active\">active</td><td><code title=\"%s\">%.16s&hellip;</code>",
             h->doctor.hex, h->doctor.hex);
    assert_contains(&r, path);
    assert_contains(&r, "Dora Second");
    assert_contains(&r, "status-revoked\">revoked<");
    assert_lacks(&r, "Pat O");

    http(h, "GET", "/admin/patients", sid, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "<tr><td>Pat O&#39;Neil</td><td><code>MRN-000001</code></td><td class=\"status-active\">"
                        "active</td><td>cardiology</td>");
    assert_contains(&r, "MRN-000002");
    assert_contains(&r, "Penny Pending</td><td><code>MRN-000003</code></td><td class=\"status-pending\">");
    assert_lacks(&r, "Ada Admin</td>");

    http(h, "GET", "/admin/appointments", sid, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "MRN-000001");
    assert_contains(&r, "MRN-000002");
    assert_contains(&r, "Room &lt;7&gt;");
    assert_contains(&r, "2027-01-15 08:00 UTC"); /* starts_at 1800000000 */
    assert_contains(&r, DOCTOR_NAME_HTML);
    assert_lacks(&r, "<script>");
    http(h, "GET", "/admin/appointments?status=booked", sid, NULL, &r);
    assert_contains(&r, "MRN-000001");
    assert_lacks(&r, "MRN-000002");
    assert_contains(&r, "<option selected>booked</option>");
    http(h, "GET", "/admin/appointments?department=oncology", sid, NULL, &r);
    assert_lacks(&r, "MRN-000001");
    assert_contains(&r, "MRN-000002");
    assert_contains(&r, "<option value=\"oncology\" selected>oncology</option>");
    snprintf(path, sizeof path, "/admin/appointments?doctor=%s", h->doctor.hex);
    http(h, "GET", path, sid, NULL, &r);
    assert_contains(&r, "MRN-000001");
    assert_lacks(&r, "MRN-000002");
    http(h, "GET", "/admin/appointments?status=completed&department=cardiology", sid, NULL, &r);
    assert_lacks(&r, "MRN-00000");
    assert_contains(&r, "No appointments match.");
    /* A filter value with markup is escaped back into the form, never interpreted. */
    http(h, "GET", "/admin/appointments?department=%3Cscript%3E", sid, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_lacks(&r, "<script>");

    http(h, "GET", "/admin/medicines", sid, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "<td>Amoxicillin</td><td>capsule</td><td>500 mg</td><td>1 capsule 3 times a day</td>"
                        "<td>308182</td>");
    assert_contains(&r, "<td>Ada Admin</td>");
    http(h, "GET", "/admin/medicines?edit=1", sid, NULL, &r);
    assert_contains(&r, "name=\"name\" required maxlength=\"128\" value=\"Amoxicillin\"");

    http(h, "GET", "/admin/alerts", sid, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "No alerts recorded.");
    exec_sql(h->db, "INSERT INTO alerts (at, source, kind, principal, address, object, reason) VALUES"
                    " (1700000000, 'decoy', 'decoy_read', 'abcd', '10.0.0.9', 'rec1', 'touched <a decoy>')");
    http(h, "GET", "/admin/alerts", sid, NULL, &r);
    assert_lacks(&r, "No alerts recorded.");
    assert_contains(&r, "<td>2023-11-14 22:13 UTC</td><td>decoy</td><td>decoy_read</td>");
    assert_contains(&r, "touched &lt;a decoy&gt;");
    /* A registered user's key is shown as their name and role, the key shortened (whole in the
     * title); an unknown key stays whole (issue 14: the page named people by key). */
    {
        char sql[512], cell[256];
        snprintf(sql, sizeof sql,
                 "INSERT INTO alerts (at, source, kind, principal, address, object, reason) VALUES"
                 " (1700000100, 'hospital', 'stepup_failed', '%s', '', 'step-up request 1', 'denied by admin')",
                 h->doctor.hex);
        exec_sql(h->db, sql);
        http(h, "GET", "/admin/alerts", sid, NULL, &r);
        snprintf(cell, sizeof cell,
                 "<td><span class=\"who\">" DOCTOR_NAME_HTML "</span> <span class=\"muted\">doctor</span> "
                 "<code class=\"key short\" title=\"%s\">\u2026%s</code></td>",
                 h->doctor.hex, h->doctor.hex + 56);
        assert_contains(&r, cell);
        snprintf(cell, sizeof cell, ">%s<", h->doctor.hex);
        assert_lacks(&r, cell); /* the whole key only as the title */
        assert_contains(&r, "<td><code class=\"key\">abcd</code></td>");
    }

    http(h, "GET", "/admin/storage", sid, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "No storage server is configured");

    http(h, "GET", "/admin/nope", sid, NULL, &r);
    assert_int_equal(r.status, 404);
    http(h, "DELETE", "/admin/doctors", sid, NULL, &r);
    assert_int_equal(r.status, 405);
    reply_clear(&r);
    stop(h);
}

static void test_medicines_form(void **state)
{
    (void)state;
    harness *h = start(NULL);
    reply r = {0};
    char sid[65], sid2[65], csrf[65], csrf2[65], form[1024];
    login(h, sid);
    login(h, sid2);
    assert_string_not_equal(sid, sid2);
    http(h, "GET", "/admin/medicines", sid, NULL, &r);
    csrf_from(&r, csrf);
    http(h, "GET", "/admin/medicines", sid2, NULL, &r);
    csrf_from(&r, csrf2);
    assert_string_not_equal(csrf, csrf2);
    static const char fields[] = "action=save&name=Ibuprofen+%3Cb%3E&form=tablet&strength=200+mg"
                                 "&dosage=1+tablet+every+8+hours&code=5640";
    /* Without a CSRF token, with a wrong one, and with another session's: refused, nothing stored. */
    http(h, "POST", "/admin/medicines", sid, fields, &r);
    assert_int_equal(r.status, 403);
    snprintf(form, sizeof form, "%s&csrf=%s", fields, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    http(h, "POST", "/admin/medicines", sid, form, &r);
    assert_int_equal(r.status, 403);
    snprintf(form, sizeof form, "%s&csrf=%s", fields, csrf2);
    http(h, "POST", "/admin/medicines", sid, form, &r);
    assert_int_equal(r.status, 403);
    assert_int_equal(query_int(h->db, "SELECT count(*) FROM medicines"), 1);
    /* Valid: stored, and the page shows it escaped. */
    snprintf(form, sizeof form, "csrf=%s&%s", csrf, fields);
    http(h, "POST", "/admin/medicines", sid, form, &r);
    assert_int_equal(r.status, 303);
    assert_string_equal(r.location, "/admin/medicines?done=saved");
    assert_int_equal(query_int(h->db, "SELECT count(*) FROM medicines WHERE name = 'Ibuprofen <b>' AND form = "
                                      "'tablet' AND strength = '200 mg' AND dosage = '1 tablet every 8 hours' AND "
                                      "code = '5640' AND updated_by = 1"),
                     1);
    http(h, "GET", "/admin/medicines?done=saved", sid, NULL, &r);
    assert_contains(&r, "Medicine saved.");
    assert_contains(&r, "<td>Ibuprofen &lt;b&gt;</td>");
    assert_lacks(&r, "Ibuprofen <b>");
    /* Same name, form and strength: updated in place. An empty Code keeps the code the medicine
     * has, as registry_medicine_put does for the JSON API (the dashboard used to blank it). */
    snprintf(form, sizeof form,
             "csrf=%s&action=save&name=Ibuprofen+%%3Cb%%3E&form=tablet&strength=200+mg&dosage=2+tablets&code=", csrf);
    http(h, "POST", "/admin/medicines", sid, form, &r);
    assert_int_equal(r.status, 303);
    assert_int_equal(query_int(h->db, "SELECT count(*) FROM medicines"), 2);
    assert_int_equal(query_int(h->db, "SELECT count(*) FROM medicines WHERE dosage = '2 tablets' AND code = '5640'"),
                     1);
    /* The same without a code field at all; then a code given replaces the old one. */
    snprintf(form, sizeof form,
             "csrf=%s&action=save&name=Ibuprofen+%%3Cb%%3E&form=tablet&strength=200+mg&dosage=3+tablets", csrf);
    http(h, "POST", "/admin/medicines", sid, form, &r);
    assert_int_equal(r.status, 303);
    assert_int_equal(query_int(h->db, "SELECT count(*) FROM medicines WHERE dosage = '3 tablets' AND code = '5640'"),
                     1);
    snprintf(form, sizeof form,
             "csrf=%s&action=save&name=Ibuprofen+%%3Cb%%3E&form=tablet&strength=200+mg&dosage=2+tablets&code=77",
             csrf);
    http(h, "POST", "/admin/medicines", sid, form, &r);
    assert_int_equal(r.status, 303);
    assert_int_equal(query_int(h->db, "SELECT count(*) FROM medicines WHERE dosage = '2 tablets' AND code = '77'"), 1);
    assert_int_equal(query_int(h->db, "SELECT count(*) FROM medicines"), 2);
    /* Validation: name of 129 bytes, empty dosage, a control character, missing form. */
    char longname[130];
    memset(longname, 'a', 129);
    longname[129] = 0;
    snprintf(form, sizeof form, "csrf=%s&action=save&name=%s&form=f&strength=s&dosage=d", csrf, longname);
    http(h, "POST", "/admin/medicines", sid, form, &r);
    assert_int_equal(r.status, 400);
    assert_contains(&r, "Not saved");
    snprintf(form, sizeof form, "csrf=%s&action=save&name=X&form=f&strength=s&dosage=", csrf);
    http(h, "POST", "/admin/medicines", sid, form, &r);
    assert_int_equal(r.status, 400);
    snprintf(form, sizeof form, "csrf=%s&action=save&name=X%%0A&form=f&strength=s&dosage=d", csrf);
    http(h, "POST", "/admin/medicines", sid, form, &r);
    assert_int_equal(r.status, 400);
    snprintf(form, sizeof form, "csrf=%s&action=save&name=X&strength=s&dosage=d", csrf);
    http(h, "POST", "/admin/medicines", sid, form, &r);
    assert_int_equal(r.status, 400);
    memset(longname, 'a', 128);
    longname[128] = 0;
    snprintf(form, sizeof form, "csrf=%s&action=save&name=%s&form=f&strength=s&dosage=d", csrf, longname);
    http(h, "POST", "/admin/medicines", sid, form, &r);
    assert_int_equal(r.status, 303);
    assert_int_equal(query_int(h->db, "SELECT count(*) FROM medicines"), 3);
    /* Delete: the Amoxicillin row (id 1); a second time is a 404; a bad id a 400. */
    snprintf(form, sizeof form, "csrf=%s&action=delete&id=1", csrf);
    http(h, "POST", "/admin/medicines", sid, form, &r);
    assert_int_equal(r.status, 303);
    assert_string_equal(r.location, "/admin/medicines?done=deleted");
    assert_int_equal(query_int(h->db, "SELECT count(*) FROM medicines WHERE id = 1"), 0);
    http(h, "POST", "/admin/medicines", sid, form, &r);
    assert_int_equal(r.status, 404);
    snprintf(form, sizeof form, "csrf=%s&action=delete&id=1x", csrf);
    http(h, "POST", "/admin/medicines", sid, form, &r);
    assert_int_equal(r.status, 400);
    snprintf(form, sizeof form, "csrf=%s&action=explode", csrf);
    http(h, "POST", "/admin/medicines", sid, form, &r);
    assert_int_equal(r.status, 400);
    assert_int_equal(query_int(h->db, "SELECT count(*) FROM medicines"), 2);
    /* Other pages take no POST. */
    snprintf(form, sizeof form, "csrf=%s", csrf);
    http(h, "POST", "/admin/doctors", sid, form, &r);
    assert_int_equal(r.status, 405);
    reply_clear(&r);
    stop(h);
}

static void test_session_dies_and_logout(void **state)
{
    (void)state;
    harness *h = start(NULL);
    reply r = {0};
    char sid[65], sid2[65], csrf[65], form[128];
    login(h, sid);
    login(h, sid2);
    http(h, "GET", "/admin/", sid, NULL, &r);
    assert_int_equal(r.status, 200);
    /* Suspending the admin ends every one of their sessions, even after reactivation. */
    exec_sql(h->db, "UPDATE users SET status = 'suspended' WHERE id = 1");
    http(h, "GET", "/admin/", sid, NULL, &r);
    assert_int_equal(r.status, 303);
    assert_string_equal(r.location, "/admin/login");
    exec_sql(h->db, "UPDATE users SET status = 'active' WHERE id = 1");
    http(h, "GET", "/admin/", sid, NULL, &r);
    assert_int_equal(r.status, 303);
    http(h, "GET", "/admin/", sid2, NULL, &r);
    assert_int_equal(r.status, 303);
    /* Logout: needs POST and the CSRF token; then the session is gone and the cookie cleared. */
    login(h, sid);
    http(h, "GET", "/admin/", sid, NULL, &r);
    csrf_from(&r, csrf);
    http(h, "GET", "/admin/logout", sid, NULL, &r);
    assert_int_equal(r.status, 405);
    http(h, "POST", "/admin/logout", sid, "csrf=", &r);
    assert_int_equal(r.status, 403);
    http(h, "GET", "/admin/", sid, NULL, &r);
    assert_int_equal(r.status, 200);
    snprintf(form, sizeof form, "csrf=%s", csrf);
    http(h, "POST", "/admin/logout", sid, form, &r);
    assert_int_equal(r.status, 303);
    assert_string_equal(r.location, "/admin/login");
    assert_true(!strncmp(r.cookie, "mv_session=;", 12));
    assert_non_null(strstr(r.cookie, "Max-Age=0"));
    http(h, "GET", "/admin/", sid, NULL, &r);
    assert_int_equal(r.status, 303);
    reply_clear(&r);
    stop(h);
}

static void test_storage_page(void **state)
{
    (void)state;
    harness *h = start("ok");
    reply r = {0};
    char sid[65];
    login(h, sid);
    http(h, "GET", "/admin/storage", sid, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(h->storage.verified, 1);
    assert_contains(&r, "<tr><td>cardiology</td><td class=\"num\">2</td><td class=\"num\" title=\"6000 bytes\">5.9 KiB"
                        "</td><td class=\"num\" title=\"3000 bytes\">2.9 KiB</td><td class=\"num\">1</td>"
                        "<td class=\"num\">50.0 %</td></tr>");
    assert_contains(&r, "<tr><td>&lt;b&gt;onc&lt;/b&gt;</td>");
    assert_contains(&r, "<th>All departments</th><td class=\"num\">3</td>");
    assert_contains(&r, "<td class=\"num\">42.6 %</td>"); /* 1 - 4050/7050 */
    assert_lacks(&r, "<b>onc");
    /* Storage down: a clear message. */
    mv_http_server_stop(h->storage.srv);
    h->storage.srv = NULL;
    http(h, "GET", "/admin/storage", sid, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_contains(&r, "is not available");
    assert_contains(&r, "Is it running?");
    reply_clear(&r);
    stop(h);
}

static void test_storage_refuses_other_signer(void **state)
{
    (void)state;
    /* A storage server that trusts another hospital key answers 401: the page says so. */
    harness *h = start("wrong-key");
    reply r = {0};
    char sid[65];
    login(h, sid);
    http(h, "GET", "/admin/storage", sid, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(h->storage.verified, 0);
    assert_contains(&r, "it answered HTTP 401");
    reply_clear(&r);
    stop(h);
}

static void test_new_errors(void **state)
{
    (void)state;
    hospital_dash *d = NULL;
    mv_identity *id = NULL;
    registry *reg = NULL;
    char dir[300], path[320];
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    snprintf(path, sizeof path, "%s/h", dir);
    assert_int_equal(mv_identity_create(path, &id), MV_OK);
    assert_int_equal(registry_open(dir, &reg), MV_OK);
    assert_int_equal(hospital_dash_new(NULL, id, NULL, NULL, &d), MV_ERR_INVAL);
    assert_null(d);
    assert_int_equal(hospital_dash_new(reg, NULL, NULL, NULL, &d), MV_ERR_INVAL);
    assert_int_equal(hospital_dash_new(reg, id, "ftp://x", NULL, &d), MV_ERR_INVAL);
    assert_null(d);
    assert_int_equal(hospital_dash_handle(NULL, NULL, NULL), 0);
    hospital_dash_free(NULL);
    registry_close(reg);
    mv_identity_free(id);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* MV_DASH_SERVE mode (for tests/browser/dashboard.mjs): serve the fixtures until told to stop. */
static int serve_for_browser(const char *url_file)
{
    char tok[65], url[256];
    const char *secs = getenv("MV_DASH_SERVE_SECONDS");
    long limit = secs ? strtol(secs, NULL, 10) : 300;
    harness *h = start("ok");
    assert_int_equal(hospital_dash_session_token(h->dash, h->admin.pk, tok, NULL), MV_OK);
    int n = snprintf(url, sizeof url, "http://127.0.0.1:%u/admin/login?token=%s\n", (unsigned)h->port, tok);
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.tmp", url_file);
    FILE *f = fopen(tmp, "w");
    if (!f || fwrite(url, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0 || rename(tmp, url_file) != 0) {
        fprintf(stderr, "cannot write %s\n", url_file);
        stop(h);
        return 1;
    }
    for (long i = 0; i < limit * 10 && access(url_file, F_OK) == 0; i++)
        nanosleep(&(struct timespec){0, 100000000L}, NULL);
    stop(h);
    return 0;
}

int main(void)
{
    if (mv_httpc_global_init() != MV_OK)
        return 1;
    const char *serve = getenv("MV_DASH_SERVE");
    if (serve && serve[0])
        return serve_for_browser(serve);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redirect_without_session),
        cmocka_unit_test(test_token_login_once),
        cmocka_unit_test(test_challenge_login),
        cmocka_unit_test(test_challenge_survives_visitors),
        cmocka_unit_test(test_challenge_window_and_forgery),
        cmocka_unit_test(test_challenge_used_set_bounded),
        cmocka_unit_test(test_pages_show_fixtures_escaped),
        cmocka_unit_test(test_medicines_form),
        cmocka_unit_test(test_session_dies_and_logout),
        cmocka_unit_test(test_storage_page),
        cmocka_unit_test(test_storage_refuses_other_signer),
        cmocka_unit_test(test_new_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
