/* test_hospital_api.c - the hospital's JSON API against a real `medvault hospital run`
 * process on loopback, driven with signed requests: registration of each role, credential
 * renewal (active, suspended, revoked, unknown), the signed revocation list and its serial,
 * a revoked user's credential refused by the hospital itself, appointments and their
 * transitions, delegations and who may obtain them, patient lookup, the directory, the
 * formulary, departments, profiles, self-registration, alerts and a clean exit on SIGTERM.
 * Issue 11, finding 10: a flood of kiosk self-registrations from one address (127.0.0.2) is
 * limited there and leaves registration open from another address, and MRNs are random with a
 * Luhn check digit, never consecutive. */
#include "testutil.h"

#include <curl/curl.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "medvault/mv_auth.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_delegation.h"
#include "medvault/mv_file.h"
#include "medvault/mv_hospital.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_revocation.h"
#include "medvault/mv_sig.h"

static char g_dir[256];  /* test root */
static char g_hdir[300]; /* the hospital's directory */
static char g_portfile[320];
static pid_t g_pid = -1;
static unsigned g_port;
static mv_identity *g_hosp;

typedef struct user {
    mv_identity *id;
    char cred[MV_CRED_B64_MAX + 1];
    char hex[65];
    char mrn[16];
} user;

static user g_admin, g_doc, g_doc2, g_onc, g_pat, g_pat2;

/* ---------- process control ---------- */

static void start_server(void)
{
    const char *args[] = {"hospital", "run", "--dir", g_hdir, "--listen", "127.0.0.1:0", "--port-file", g_portfile,
                          "--threads", "3", NULL};
    g_pid = tu_daemon_start("hospital", g_portfile, args, &g_port);
}

static void stop_server(void)
{
    tu_daemon_stop("hospital", &g_pid);
}

/* ---------- requests ---------- */

/* One request signed by u (unsigned if u is NULL) with credential cred (u->cred if NULL);
 * returns the status and the body in out (if not NULL). */
static long call_as(const char *method, const char *path, const char *body, const user *u, const char *cred,
                    mv_buf *out)
{
    char url[64 + 8192];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", g_port, path);
    return tu_call(method, url, body, body ? strlen(body) : 0, u ? u->id : NULL, u ? (cred ? cred : u->cred) : NULL,
                   out);
}

/* As call_as, the answer parsed as JSON into *out (caller frees; NULL to ignore it). */
static long call(const char *method, const char *path, const char *body, const user *u, mv_json **out)
{
    mv_buf b;
    mv_buf_init(&b, 1 << 22);
    long st = call_as(method, path, body, u, NULL, &b);
    if (out) {
        *out = NULL;
        assert_int_equal(mv_json_parse((const char *)b.ptr, b.len, NULL, out, NULL), MV_OK);
    }
    mv_buf_clear(&b);
    return st;
}

/* Status only, and the error message checked to be a JSON error when status >= 400. */
static long st_of(const char *method, const char *path, const char *body, const user *u)
{
    mv_json *j = NULL;
    long st = call(method, path, body, u, &j);
    if (st >= 400)
        assert_non_null(mv_json_get_str(j, "error", NULL));
    mv_json_free(j);
    return st;
}

static void new_identity(user *u, const char *name)
{
    char d[400];
    memset(u, 0, sizeof *u);
    snprintf(d, sizeof d, "%s/%s", g_dir, name);
    assert_int_equal(mv_identity_create(d, &u->id), MV_OK);
    assert_int_equal(mv_hex_encode(u->hex, sizeof u->hex, mv_identity_sign_pk(u->id), 32), MV_OK);
}

/* The registration body for u. */
static void reg_body(char *out, size_t cap, const user *u, const char *name, const char *role, const char *depts)
{
    char bhex[65];
    assert_int_equal(mv_hex_encode(bhex, sizeof bhex, mv_identity_box_pk(u->id), 32), MV_OK);
    snprintf(out, cap,
             "{\"name\":\"%s\",\"role\":\"%s\",\"departments\":[%s],\"sign_public_key\":\"%s\","
             "\"box_public_key\":\"%s\",\"email\":\"%s@example.org\",\"days\":30}",
             name, role, depts, u->hex, bhex, name);
}

/* Registers a new user through POST /v1/users as the admin. */
static user reg_user(const char *name, const char *role, const char *depts)
{
    char body[1024];
    user u;
    mv_json *j = NULL;
    mv_buf raw, want;
    new_identity(&u, name);
    reg_body(body, sizeof body, &u, name, role, depts);
    mv_buf_init(&raw, 1 << 16);
    mv_buf_init(&want, 1 << 16);
    assert_int_equal(call_as("POST", "/v1/users", body, &g_admin, NULL, &raw), 201);
    assert_int_equal(mv_json_parse((const char *)raw.ptr, raw.len, NULL, &j, NULL), MV_OK);
    const char *cred = mv_json_get_str(j, "credential", NULL);
    assert_non_null(cred);
    snprintf(u.cred, sizeof u.cred, "%s", cred);
    uint64_t exp = tu_json_u64(j, "expires_at");
    /* The answer's exact bytes: members in this order, compact, the user object last. */
    assert_int_equal(mv_buf_printf(&want, "{\"credential\":\"%s\",\"expires_at\":%llu,\"user\":", cred,
                                   (unsigned long long)exp),
                     MV_OK);
    assert_int_equal(mv_json_write(&want, mv_json_get(j, "user")), MV_OK);
    assert_int_equal(mv_buf_puts(&want, "}"), MV_OK);
    assert_int_equal(raw.len, want.len);
    assert_memory_equal(raw.ptr, want.ptr, want.len);
    mv_buf_clear(&raw);
    mv_buf_clear(&want);
    uint64_t now = (uint64_t)time(NULL);
    assert_true(exp > now + 5 * 60 - 30 && exp <= now + 5 * 60 + 5); /* credential_minutes = 5 */
    const mv_json *ju = mv_json_get(j, "user");
    assert_string_equal(mv_json_get_str(ju, "role", NULL), role);
    assert_string_equal(mv_json_get_str(ju, "status", NULL), "active");
    assert_string_equal(mv_json_get_str(ju, "sign_public_key", NULL), u.hex);
    const char *mrn = mv_json_get_str(ju, "mrn", NULL);
    if (!strcmp(role, "patient")) {
        assert_non_null(mrn);
        snprintf(u.mrn, sizeof u.mrn, "%s", mrn);
    } else {
        assert_null(mrn);
    }
    mv_credential c;
    assert_int_equal(mv_credential_decode(u.cred, strlen(u.cred), &c), MV_OK);
    assert_int_equal(mv_credential_verify(&c, mv_identity_sign_pk(g_hosp), now), MV_OK);
    assert_string_equal(c.role, role);
    mv_json_free(j);
    return u;
}

static void free_user(user *u)
{
    mv_identity_free(u->id);
    memset(u, 0, sizeof *u);
}

/* The current revocation list, verified. */
static void fetch_revocations(mv_revocation_list *l)
{
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    assert_int_equal(call_as("GET", "/v1/revocations", NULL, NULL, NULL, &b), 200);
    assert_int_equal(mv_revocation_verify(b.ptr, b.len, mv_identity_sign_pk(g_hosp), l), MV_OK);
    mv_buf_clear(&b);
}

static long set_status(const user *u, const char *status)
{
    char path[128], body[64];
    snprintf(path, sizeof path, "/v1/users/%s/status", u->hex);
    snprintf(body, sizeof body, "{\"status\":\"%s\"}", status);
    return st_of("POST", path, body, &g_admin);
}

/* ---------- fixture ---------- */

static int setup(void **state)
{
    (void)state;
    assert_int_equal(mv_crypto_init(), MV_OK);
    assert_int_equal(mv_httpc_global_init(), MV_OK);
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
    snprintf(g_hdir, sizeof g_hdir, "%s/hospital", g_dir);
    snprintf(g_portfile, sizeof g_portfile, "%s/port", g_dir);
    assert_int_equal(mv_identity_create(g_hdir, &g_hosp), MV_OK);
    char conf[400];
    snprintf(conf, sizeof conf, "%s/hospital.conf", g_hdir);
    const char text[] = "credential_minutes = 5\nrevocation_poll_seconds = 7\nstorage_url = http://127.0.0.1:1\n";
    assert_int_equal(mv_file_write_atomic(conf, text, sizeof text - 1, 0644), MV_OK);
    /* The first admin, as `medvault up` registers it: directly in the registry. */
    new_identity(&g_admin, "admin");
    assert_int_equal(mv_hospital_register(g_hdir, "admin", "admin", NULL, 0, mv_identity_sign_pk(g_admin.id),
                                          mv_identity_box_pk(g_admin.id), 365, g_admin.cred, sizeof g_admin.cred),
                     MV_OK);
    char again[MV_CRED_B64_MAX + 1];
    assert_int_equal(mv_hospital_register(g_hdir, "admin", "admin", NULL, 0, mv_identity_sign_pk(g_admin.id),
                                          mv_identity_box_pk(g_admin.id), 365, again, sizeof again),
                     MV_ERR_EXISTS);
    start_server();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (g_pid > 0)
        stop_server();
    user *all[] = {&g_admin, &g_doc, &g_doc2, &g_onc, &g_pat, &g_pat2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free_user(all[i]);
    mv_identity_free(g_hosp);
    return 0;
}

/* 1 if mrn is "MRN-" + 10 digits whose last is the Luhn check digit of the nine before it
 * (written here independently of src/hospital/registry.c). */
static int mrn_ok(const char *mrn)
{
    unsigned sum = 0;
    if (!mrn || strlen(mrn) != 14 || strncmp(mrn, "MRN-", 4) != 0)
        return 0;
    for (int i = 0; i < 10; i++) {
        char c = mrn[13 - i];
        if (c < '0' || c > '9')
            return 0;
        unsigned d = (unsigned)(c - '0') * (i % 2 ? 2u : 1u);
        sum += d > 9 ? d - 9 : d;
    }
    return sum % 10 == 0;
}

/* 1 if the numbers of two MRNs differ by exactly one. */
static int mrn_adjacent(const char *a, const char *b)
{
    unsigned long long x = strtoull(a + 4, NULL, 10), y = strtoull(b + 4, NULL, 10);
    return x == y + 1 || y == x + 1;
}

/* ---------- users and credentials ---------- */

static void test_registration(void **state)
{
    (void)state;
    char body[1024];
    user x;
    g_doc = reg_user("dr-alvarez", "doctor", "\"cardiology\"");
    g_doc2 = reg_user("dr-baker", "doctor", "\"cardiology\"");
    g_onc = reg_user("dr-chen", "doctor", "\"oncology\"");
    g_pat = reg_user("pat-one", "patient", "");
    g_pat2 = reg_user("pat-two", "patient", "");
    /* Random MRNs (issue 11, finding 10): the second patient's does not follow the first's. */
    assert_true(mrn_ok(g_pat.mrn));
    assert_true(mrn_ok(g_pat2.mrn));
    assert_false(mrn_adjacent(g_pat.mrn, g_pat2.mrn));
    user adm2 = reg_user("admin-two", "admin", "");
    free_user(&adm2);

    /* Refusals: a doctor without department, a bad role, a duplicate key, a non-admin, no signature. */
    new_identity(&x, "x");
    reg_body(body, sizeof body, &x, "dr-x", "doctor", "");
    assert_int_equal(st_of("POST", "/v1/users", body, &g_admin), 400);
    reg_body(body, sizeof body, &x, "x", "wizard", "");
    assert_int_equal(st_of("POST", "/v1/users", body, &g_admin), 400);
    assert_int_equal(st_of("POST", "/v1/users", "{\"name\":1}", &g_admin), 400);
    assert_int_equal(st_of("POST", "/v1/users", "not json", &g_admin), 400);
    reg_body(body, sizeof body, &g_doc, "dr-alvarez", "doctor", "\"cardiology\"");
    assert_int_equal(st_of("POST", "/v1/users", body, &g_admin), 409);
    reg_body(body, sizeof body, &x, "x", "patient", "");
    assert_int_equal(st_of("POST", "/v1/users", body, &g_doc), 403);
    assert_int_equal(st_of("POST", "/v1/users", body, NULL), 401);
    assert_int_equal(st_of("GET", "/v1/users", NULL, &g_admin), 405);
    assert_int_equal(st_of("GET", "/v1/nothing", NULL, &g_admin), 404);
    free_user(&x);
}

static void test_user_lookup(void **state)
{
    (void)state;
    char path[128];
    mv_json *j = NULL;
    snprintf(path, sizeof path, "/v1/users/%s", g_pat.hex);
    assert_int_equal(call("GET", path, NULL, &g_doc, &j), 200); /* public form */
    assert_string_equal(mv_json_get_str(j, "mrn", NULL), g_pat.mrn);
    assert_null(mv_json_get(j, "email"));
    assert_non_null(mv_json_get_str(j, "box_public_key", NULL));
    mv_json_free(j);
    assert_int_equal(call("GET", path, NULL, &g_admin, &j), 200);
    assert_string_equal(mv_json_get_str(j, "email", NULL), "pat-one@example.org");
    mv_json_free(j);
    assert_int_equal(call("GET", path, NULL, &g_pat, &j), 200); /* themself */
    assert_non_null(mv_json_get_str(j, "email", NULL));
    mv_json_free(j);
    assert_int_equal(st_of("GET", "/v1/users/00000000000000000000000000000000000000000000000000000000000000ff", NULL,
                           &g_doc),
                     404);
    assert_int_equal(st_of("GET", "/v1/users/xyz", NULL, &g_doc), 400);
}

/* A harmless signed GET for u: its own registration. */
static const char *probe(const user *u)
{
    static char path[128];
    snprintf(path, sizeof path, "/v1/users/%s", u->hex);
    return path;
}

static long renew(const user *u, const char *cred, mv_json **out)
{
    mv_buf b;
    mv_buf_init(&b, 1 << 16);
    long st = call_as("POST", "/v1/credentials", NULL, u, cred, &b);
    if (out)
        assert_int_equal(mv_json_parse((const char *)b.ptr, b.len, NULL, out, NULL), MV_OK);
    mv_buf_clear(&b);
    return st;
}

static void test_renewal_and_revocation(void **state)
{
    (void)state;
    mv_json *j = NULL;
    mv_revocation_list l0, l1;
    memset(&l0, 0, sizeof l0);
    memset(&l1, 0, sizeof l1);
    user v = reg_user("dr-victim", "doctor", "\"cardiology\",\"oncology\"");
    user w = reg_user("dr-wait", "doctor", "\"cardiology\"");

    /* Active: renewed with the current credential, with an expired one, and with none at all. */
    assert_int_equal(renew(&v, NULL, &j), 200);
    mv_credential c;
    const char *nc = mv_json_get_str(j, "credential", NULL);
    assert_non_null(nc);
    assert_int_equal(mv_credential_decode(nc, strlen(nc), &c), MV_OK);
    assert_int_equal(mv_credential_verify(&c, mv_identity_sign_pk(g_hosp), (uint64_t)time(NULL)), MV_OK);
    assert_memory_equal(c.subject, mv_identity_sign_pk(v.id), 32);
    assert_int_equal(c.n_departments, 2);
    assert_int_equal(tu_json_u64(j, "expires_at"), c.expires_at);
    mv_json_free(j);
    mv_credential old;
    memset(&old, 0, sizeof old);
    memcpy(old.subject, mv_identity_sign_pk(v.id), 32);
    snprintf(old.role, sizeof old.role, "doctor");
    old.issued_at = (uint64_t)time(NULL) - 7200;
    old.expires_at = (uint64_t)time(NULL) - 3600;
    char expired[MV_CRED_B64_MAX + 1];
    assert_int_equal(mv_credential_issue(&old, mv_identity_sign_pk(g_hosp), mv_identity_sign_sk(g_hosp)), MV_OK);
    assert_int_equal(mv_credential_encode(&old, expired, sizeof expired), MV_OK);
    assert_int_equal(renew(&v, expired, NULL), 200);
    assert_int_equal(st_of("GET", probe(&v), NULL, &v), 200);
    assert_int_equal(call_as("GET", probe(&v), NULL, &v, expired, NULL), 401); /* expired is no credential */
    assert_int_equal(renew(&v, "AAAA", NULL), 200);
    /* Unknown key: 404. */
    user stranger;
    new_identity(&stranger, "stranger");
    snprintf(stranger.cred, sizeof stranger.cred, "AAAA");
    assert_int_equal(renew(&stranger, NULL, NULL), 404);
    free_user(&stranger);

    fetch_revocations(&l0);
    assert_int_equal(l0.next_update - l0.issued_at, 7);
    assert_false(mv_revocation_contains(&l0, mv_identity_sign_pk(v.id)));

    /* Suspended: renewal 403, its live credential refused by the hospital, listed. */
    assert_int_equal(set_status(&w, "suspended"), 200);
    assert_int_equal(renew(&w, NULL, &j), 403);
    assert_string_equal(mv_json_get_str(j, "error", NULL), "this user is suspended");
    mv_json_free(j);
    assert_int_equal(call("GET", probe(&w), NULL, &w, &j), 401);
    assert_string_equal(mv_json_get_str(j, "error", NULL), "credential revoked");
    mv_json_free(j);
    assert_int_equal(set_status(&w, "active"), 200);
    assert_int_equal(st_of("GET", probe(&w), NULL, &w), 200);

    /* Revoked: final, renewal 403, refused here, listed with a higher serial. */
    assert_int_equal(set_status(&v, "revoked"), 200);
    assert_int_equal(renew(&v, NULL, &j), 403);
    assert_string_equal(mv_json_get_str(j, "error", NULL), "this user is revoked");
    mv_json_free(j);
    assert_int_equal(call("GET", probe(&v), NULL, &v, &j), 401);
    assert_string_equal(mv_json_get_str(j, "error", NULL), "credential revoked");
    mv_json_free(j);
    assert_int_equal(set_status(&v, "active"), 409);
    assert_int_equal(set_status(&v, "asleep"), 400);
    assert_int_equal(set_status(&w, "revoked"), 200);
    fetch_revocations(&l1);
    assert_true(l1.serial > l0.serial);
    assert_int_equal(l1.serial, l0.serial + 4); /* w suspended, w active, v revoked, w revoked */
    assert_true(mv_revocation_contains(&l1, mv_identity_sign_pk(v.id)));
    assert_true(mv_revocation_contains(&l1, mv_identity_sign_pk(w.id)));
    assert_false(mv_revocation_contains(&l1, mv_identity_sign_pk(g_doc.id)));
    /* Only admins change a status. */
    char path[128];
    snprintf(path, sizeof path, "/v1/users/%s/status", g_pat.hex);
    assert_int_equal(st_of("POST", path, "{\"status\":\"revoked\"}", &g_doc), 403);
    mv_revocation_list_clear(&l0);
    mv_revocation_list_clear(&l1);
    free_user(&v);
    free_user(&w);
}

/* ---------- appointments ---------- */

static char g_appt_flow[33];

/* Creates an appointment as u with body; returns its id (static) after checking the status. */
static const char *create_appt(const user *u, const char *body, const char *want_status)
{
    static char id[33];
    mv_json *j = NULL;
    assert_int_equal(call("POST", "/v1/appointments", body, u, &j), 201);
    assert_string_equal(mv_json_get_str(j, "status", NULL), want_status);
    snprintf(id, sizeof id, "%s", mv_json_get_str(j, "id", NULL));
    assert_int_equal(strlen(id), 32);
    mv_json_free(j);
    return id;
}

static const char *appt_status(const user *u, const char *id)
{
    static char st[32];
    char path[128];
    mv_json *j = NULL;
    snprintf(path, sizeof path, "/v1/appointments/%s", id);
    assert_int_equal(call("GET", path, NULL, u, &j), 200);
    snprintf(st, sizeof st, "%s", mv_json_get_str(j, "status", NULL));
    mv_json_free(j);
    return st;
}

static long update_appt(const user *u, const char *id, const char *body)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/appointments/%s", id);
    return st_of("POST", path, body, u);
}

/* Number of appointments u sees with query q. */
static size_t count_appts(const user *u, const char *q)
{
    char path[256];
    mv_json *j = NULL;
    snprintf(path, sizeof path, "/v1/appointments%s", q);
    assert_int_equal(call("GET", path, NULL, u, &j), 200);
    size_t n = mv_json_len(mv_json_get(j, "appointments"));
    mv_json_free(j);
    return n;
}

/* An admin books pat with doc in cardiology in one call. */
static const char *book(const user *pat, const user *doc)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"patient\":\"%s\",\"department\":\"cardiology\",\"doctor\":\"%s\",\"starts_at\":%llu,"
             "\"place\":\"room 4\",\"reason\":\"follow-up\"}",
             pat->mrn, doc->hex, (unsigned long long)time(NULL) + 86400);
    return create_appt(&g_admin, body, "booked");
}

static void test_appointments(void **state)
{
    (void)state;
    char body[512], path[128];
    mv_json *j = NULL;
    size_t pat_before = count_appts(&g_pat, "");
    /* requested by the patient -> booked by the admin -> checked_in -> completed by the doctor. */
    snprintf(g_appt_flow, sizeof g_appt_flow, "%s",
             create_appt(&g_pat, "{\"department\":\"cardiology\",\"reason\":\"chest pain\"}", "requested"));
    assert_int_equal(update_appt(&g_admin, g_appt_flow, "{\"status\":\"booked\"}"), 409); /* incomplete */
    snprintf(body, sizeof body, "{\"doctor\":\"%s\"}", g_onc.hex);
    assert_int_equal(update_appt(&g_admin, g_appt_flow, body), 400); /* not in cardiology */
    snprintf(body, sizeof body, "{\"doctor\":\"%s\",\"starts_at\":%llu,\"place\":\"room 3\"}", g_doc.hex,
             (unsigned long long)time(NULL) + 3600);
    assert_int_equal(update_appt(&g_admin, g_appt_flow, body), 200);
    assert_string_equal(appt_status(&g_pat, g_appt_flow), "booked");
    assert_int_equal(update_appt(&g_doc2, g_appt_flow, "{\"status\":\"checked_in\"}"), 403); /* not designated */
    assert_int_equal(update_appt(&g_onc, g_appt_flow, "{\"status\":\"checked_in\"}"), 404);  /* cannot see it */
    assert_int_equal(update_appt(&g_pat, g_appt_flow, "{\"status\":\"checked_in\"}"), 403);
    assert_int_equal(update_appt(&g_doc, g_appt_flow, "{\"status\":\"completed\"}"), 409); /* skips check-in */
    assert_int_equal(update_appt(&g_doc, g_appt_flow, "{\"status\":\"checked_in\"}"), 200);
    assert_string_equal(appt_status(&g_doc, g_appt_flow), "checked_in");
    assert_int_equal(update_appt(&g_doc, g_appt_flow, "{\"status\":\"completed\"}"), 200);
    assert_string_equal(appt_status(&g_admin, g_appt_flow), "completed");
    assert_int_equal(update_appt(&g_pat, g_appt_flow, "{\"status\":\"cancelled\"}"), 409);
    assert_int_equal(update_appt(&g_admin, g_appt_flow, "{\"status\":\"nonsense\"}"), 400);
    assert_int_equal(update_appt(&g_admin, "00000000000000000000000000000000", "{\"place\":\"x\"}"), 404);

    /* The object as documented. */
    snprintf(path, sizeof path, "/v1/appointments/%s", g_appt_flow);
    assert_int_equal(call("GET", path, NULL, &g_pat, &j), 200);
    assert_string_equal(mv_json_get_str(mv_json_get(j, "patient"), "mrn", NULL), g_pat.mrn);
    assert_string_equal(mv_json_get_str(mv_json_get(j, "doctor"), "sign_public_key", NULL), g_doc.hex);
    assert_string_equal(mv_json_get_str(j, "department", NULL), "cardiology");
    assert_string_equal(mv_json_get_str(j, "place", NULL), "room 3");
    assert_string_equal(mv_json_get_str(j, "reason", NULL), "chest pain");
    mv_json_free(j);

    /* Creation refusals: a patient booking, a patient for someone else, a doctor, no patient. */
    snprintf(body, sizeof body, "{\"department\":\"cardiology\",\"doctor\":\"%s\"}", g_doc.hex);
    assert_int_equal(st_of("POST", "/v1/appointments", body, &g_pat), 403);
    snprintf(body, sizeof body, "{\"patient\":\"%s\"}", g_pat2.mrn);
    assert_int_equal(st_of("POST", "/v1/appointments", body, &g_pat), 403);
    assert_int_equal(st_of("POST", "/v1/appointments", "{\"department\":\"cardiology\"}", &g_doc), 403);
    assert_int_equal(st_of("POST", "/v1/appointments", "{\"department\":\"cardiology\"}", &g_admin), 400);
    assert_int_equal(st_of("POST", "/v1/appointments", "{\"patient\":\"MRN-999999\"}", &g_admin), 404);
    assert_int_equal(st_of("POST", "/v1/appointments", "{\"department\":\"nowhere\"}", &g_pat), 400);

    /* Visibility. */
    const char *b2 = book(&g_pat2, &g_doc);
    char other[33];
    snprintf(other, sizeof other, "%s", b2);
    assert_int_equal(count_appts(&g_pat, ""), pat_before + 1);
    assert_int_equal(st_of("GET", "/v1/appointments/" "00000000000000000000000000000000", NULL, &g_pat), 404);
    snprintf(path, sizeof path, "/v1/appointments/%s", other);
    assert_int_equal(st_of("GET", path, NULL, &g_pat), 404); /* pat2's */
    assert_int_equal(st_of("GET", path, NULL, &g_onc), 404); /* another department */
    assert_int_equal(st_of("GET", path, NULL, &g_doc2), 200); /* same department */
    assert_int_equal(count_appts(&g_onc, ""), 0);
    assert_true(count_appts(&g_doc, "?doctor=me") >= 2);
    assert_int_equal(count_appts(&g_doc2, "?doctor=me"), 0);
    snprintf(path, sizeof path, "?patient=%s", g_pat2.mrn);
    assert_int_equal(count_appts(&g_admin, path), 1);
    assert_int_equal(count_appts(&g_pat, path), 0);
    assert_int_equal(count_appts(&g_admin, "?status=completed&department=cardiology"), 1);
    assert_int_equal(st_of("GET", "/v1/appointments?status=bogus", NULL, &g_admin), 400);
    assert_int_equal(st_of("GET", "/v1/appointments?patient=bogus", NULL, &g_admin), 400);
}

/* ---------- delegations and patient lookup ---------- */

static char *delegation_b64(const user *pat, const user *doc, const char *appt, const char *dept, uint64_t life)
{
    static char b64[MV_DELEGATION_B64_MAX];
    mv_delegation d;
    memset(&d, 0, sizeof d);
    memcpy(d.patient, mv_identity_sign_pk(pat->id), 32);
    memcpy(d.doctor, mv_identity_sign_pk(doc->id), 32);
    assert_int_equal(mv_hex_decode_exact(d.appointment, 16, appt, 32), MV_OK);
    d.issued_at = (uint64_t)time(NULL);
    d.expires_at = d.issued_at + life;
    snprintf(d.department, sizeof d.department, "%s", dept);
    assert_int_equal(mv_delegation_sign(&d, mv_identity_sign_sk(pat->id)), MV_OK);
    assert_int_equal(mv_delegation_to_b64(&d, b64, sizeof b64), MV_OK);
    return b64;
}

static long post_delegation(const user *by, const char *b64, mv_json **out)
{
    char body[600];
    snprintf(body, sizeof body, "{\"delegation\":\"%s\"}", b64);
    if (out)
        return call("POST", "/v1/delegations", body, by, out);
    return st_of("POST", "/v1/delegations", body, by);
}

static size_t count_delegations(const user *u)
{
    mv_json *j = NULL;
    assert_int_equal(call("GET", "/v1/delegations", NULL, u, &j), 200);
    size_t n = mv_json_len(mv_json_get(j, "delegations"));
    mv_json_free(j);
    return n;
}

static void test_delegations(void **state)
{
    (void)state;
    char a[33], b[33], c[33], path[128];
    mv_json *j = NULL;
    snprintf(a, sizeof a, "%s", book(&g_pat, &g_doc));
    snprintf(b, sizeof b, "%s", book(&g_pat2, &g_doc));
    snprintf(c, sizeof c, "%s", book(&g_pat, &g_doc));
    assert_int_equal(update_appt(&g_pat, c, "{\"status\":\"cancelled\"}"), 200);

    /* Accepted for the designated doctor, and countersigned. */
    assert_int_equal(post_delegation(&g_pat, delegation_b64(&g_pat, &g_doc, a, "cardiology", 7 * 86400), &j), 201);
    char cs[MV_DELEGATION_B64_MAX];
    assert_non_null(mv_json_get_str(j, "delegation", NULL));
    snprintf(cs, sizeof cs, "%s", mv_json_get_str(j, "delegation", NULL));
    mv_delegation d;
    assert_int_equal(mv_delegation_from_b64(cs, strlen(cs), &d), MV_OK);
    assert_int_equal(mv_delegation_verify(&d, mv_identity_sign_pk(g_hosp), (uint64_t)time(NULL)), MV_OK);
    assert_int_equal(tu_json_u64(j, "expires_at"), d.expires_at);
    uint64_t did = tu_json_u64(j, "id");
    mv_json_free(j);

    /* Refused: another doctor, another patient's appointment, a cancelled one, too long, by a doctor. */
    assert_int_equal(post_delegation(&g_pat, delegation_b64(&g_pat, &g_doc2, a, "cardiology", 86400), NULL), 403);
    assert_int_equal(post_delegation(&g_pat, delegation_b64(&g_pat, &g_doc, b, "cardiology", 86400), NULL), 403);
    assert_int_equal(post_delegation(&g_pat, delegation_b64(&g_pat, &g_doc, c, "cardiology", 86400), NULL), 409);
    assert_int_equal(post_delegation(&g_pat, delegation_b64(&g_pat, &g_doc, a, "cardiology", 91 * 86400), NULL), 400);
    assert_int_equal(post_delegation(&g_pat, delegation_b64(&g_pat, &g_doc, a, "oncology", 86400), NULL), 400);
    assert_int_equal(post_delegation(&g_pat2, delegation_b64(&g_pat, &g_doc, a, "cardiology", 86400), NULL), 403);
    assert_int_equal(post_delegation(&g_doc, delegation_b64(&g_pat, &g_doc, a, "cardiology", 86400), NULL), 403);
    assert_int_equal(post_delegation(&g_pat, "bm90IGEgZGVsZWdhdGlvbg==", NULL), 400);

    /* Patient lookup: the delegation goes only to the doctor it names. */
    snprintf(path, sizeof path, "/v1/patients/%s", g_pat.mrn);
    assert_int_equal(call("GET", path, NULL, &g_doc, &j), 200);
    assert_true(mv_json_type_of(mv_json_get(j, "registered")) == MV_JSON_TRUE);
    assert_string_equal(mv_json_get_str(j, "delegation", NULL), cs);
    assert_string_equal(mv_json_get_str(j, "appointment", NULL), a);
    assert_string_equal(mv_json_get_str(j, "mrn", NULL), g_pat.mrn);
    assert_non_null(mv_json_get_str(j, "box_public_key", NULL));
    mv_json_free(j);
    assert_int_equal(call("GET", path, NULL, &g_doc2, &j), 200);
    assert_true(mv_json_type_of(mv_json_get(j, "delegation")) == MV_JSON_NULL);
    assert_true(mv_json_type_of(mv_json_get(j, "appointment")) == MV_JSON_NULL);
    mv_json_free(j);
    assert_int_equal(st_of("GET", path, NULL, &g_pat), 403);
    assert_int_equal(call("GET", "/v1/patients/MRN-999999", NULL, &g_doc, &j), 404);
    assert_true(mv_json_type_of(mv_json_get(j, "registered")) == MV_JSON_FALSE);
    mv_json_free(j);

    /* Listing by role; revocation by the patient hides it from the doctor. */
    assert_int_equal(count_delegations(&g_doc), 1);
    assert_int_equal(count_delegations(&g_doc2), 0);
    assert_int_equal(count_delegations(&g_pat), 1);
    assert_int_equal(count_delegations(&g_pat2), 0);
    assert_int_equal(count_delegations(&g_admin), 1);
    char dpath[64];
    snprintf(dpath, sizeof dpath, "/v1/delegations/%llu", (unsigned long long)did);
    assert_int_equal(st_of("DELETE", dpath, NULL, &g_doc), 403);
    assert_int_equal(st_of("DELETE", dpath, NULL, &g_pat2), 403);
    assert_int_equal(st_of("DELETE", "/v1/delegations/999", NULL, &g_pat), 404);
    assert_int_equal(st_of("DELETE", dpath, NULL, &g_pat), 200);
    assert_int_equal(call("GET", path, NULL, &g_doc, &j), 200);
    assert_true(mv_json_type_of(mv_json_get(j, "delegation")) == MV_JSON_NULL);
    mv_json_free(j);
    assert_int_equal(call("GET", "/v1/delegations", NULL, &g_doc, &j), 200);
    assert_true(mv_json_type_of(mv_json_get(mv_json_at(mv_json_get(j, "delegations"), 0), "revoked")) ==
                MV_JSON_TRUE);
    mv_json_free(j);
}

/* ---------- formulary and alerts ---------- */

static void test_medicines_and_alerts(void **state)
{
    (void)state;
    mv_json *j = NULL;
    const char *m1 = "{\"name\":\"Amoxicillin\",\"form\":\"capsule\",\"strength\":\"500 mg\",\"dosage\":\"1 every 8 h\","
                     "\"code\":\"723\"}";
    const char *m1b = "{\"name\":\"Amoxicillin\",\"form\":\"capsule\",\"strength\":\"500 mg\",\"dosage\":\"1 every 12 h\"}";
    const char *m2 = "{\"name\":\"Para_50%\",\"form\":\"tablet\",\"strength\":\"1 g\",\"dosage\":\"as needed\"}";
    assert_int_equal(call("POST", "/v1/medicines", m1, &g_admin, &j), 201);
    uint64_t id = tu_json_u64(j, "id");
    mv_json_free(j);
    assert_int_equal(call("POST", "/v1/medicines", m1b, &g_admin, &j), 200); /* upsert */
    assert_int_equal(tu_json_u64(j, "id"), id);
    assert_string_equal(mv_json_get_str(j, "dosage", NULL), "1 every 12 h");
    assert_string_equal(mv_json_get_str(j, "code", NULL), "723"); /* kept */
    mv_json_free(j);
    assert_int_equal(st_of("POST", "/v1/medicines", m2, &g_admin), 201);
    assert_int_equal(st_of("POST", "/v1/medicines", m2, &g_doc), 403);
    assert_int_equal(st_of("POST", "/v1/medicines", "{\"name\":\"x\"}", &g_admin), 400);
    /* Listing and search: '%' and '_' are literal. */
    assert_int_equal(call("GET", "/v1/medicines", NULL, &g_doc, &j), 200);
    assert_int_equal(mv_json_len(mv_json_get(j, "medicines")), 2);
    mv_json_free(j);
    assert_int_equal(call("GET", "/v1/medicines?q=amox", NULL, &g_pat, &j), 200);
    assert_int_equal(mv_json_len(mv_json_get(j, "medicines")), 1);
    mv_json_free(j);
    assert_int_equal(call("GET", "/v1/medicines?q=%25", NULL, &g_doc, &j), 200);
    assert_int_equal(mv_json_len(mv_json_get(j, "medicines")), 1);
    mv_json_free(j);
    assert_int_equal(call("GET", "/v1/medicines?q=a_5", NULL, &g_doc, &j), 200);
    assert_int_equal(mv_json_len(mv_json_get(j, "medicines")), 1);
    mv_json_free(j);
    assert_int_equal(call("GET", "/v1/medicines?q=i_l", NULL, &g_doc, &j), 200); /* not "ill" */
    assert_int_equal(mv_json_len(mv_json_get(j, "medicines")), 0);
    mv_json_free(j);
    char path[64];
    snprintf(path, sizeof path, "/v1/medicines/%llu", (unsigned long long)id);
    assert_int_equal(st_of("DELETE", path, NULL, &g_doc), 403);
    assert_int_equal(st_of("DELETE", path, NULL, &g_admin), 200);
    assert_int_equal(st_of("DELETE", path, NULL, &g_admin), 404);
    assert_int_equal(st_of("DELETE", "/v1/medicines/abc", NULL, &g_admin), 404);
    /* Alerts: admin only, empty until the alert system writes some. */
    assert_int_equal(call("GET", "/v1/alerts?limit=10", NULL, &g_admin, &j), 200);
    assert_int_equal(mv_json_type_of(mv_json_get(j, "alerts")), MV_JSON_ARRAY);
    mv_json_free(j);
    assert_int_equal(st_of("GET", "/v1/alerts", NULL, &g_doc), 403);
    assert_int_equal(st_of("GET", "/v1/alerts?limit=0", NULL, &g_admin), 400);
}

/* ---------- departments, directory, profile, self-registration ---------- */

static size_t count_users(const user *u, const char *q)
{
    char path[256];
    mv_json *j = NULL;
    snprintf(path, sizeof path, "/v1/directory%s", q);
    assert_int_equal(call("GET", path, NULL, u, &j), 200);
    size_t n = mv_json_len(mv_json_get(j, "users"));
    mv_json_free(j);
    return n;
}

static void test_departments_directory_profile(void **state)
{
    (void)state;
    mv_json *j = NULL;
    /* Departments: created on first use by registrations, counted; admins add and describe. */
    assert_int_equal(call("GET", "/v1/departments", NULL, &g_pat, &j), 200);
    const mv_json *ds = mv_json_get(j, "departments");
    int seen = 0;
    for (size_t i = 0; i < mv_json_len(ds); i++)
        if (!strcmp(mv_json_get_str(mv_json_at(ds, i), "name", NULL), "cardiology")) {
            assert_true(tu_json_u64(mv_json_at(ds, i), "doctors") >= 2);
            seen = 1;
        }
    assert_true(seen);
    mv_json_free(j);
    /* The answers' exact bytes are pinned: clients compare them as written. */
    mv_buf raw;
    mv_buf_init(&raw, 1 << 12);
    assert_int_equal(call_as("POST", "/v1/departments", "{\"name\":\"radiology\",\"description\":\"X-ray\"}",
                             &g_admin, NULL, &raw),
                     201);
    assert_int_equal(mv_buf_append(&raw, "", 1), MV_OK);
    assert_string_equal((char *)raw.ptr, "{\"name\":\"radiology\",\"created\":true}");
    mv_buf_reset(&raw);
    assert_int_equal(call_as("POST", "/v1/departments", "{\"name\":\"radiology\",\"description\":\"imaging\"}",
                             &g_admin, NULL, &raw),
                     200);
    assert_int_equal(mv_buf_append(&raw, "", 1), MV_OK);
    assert_string_equal((char *)raw.ptr, "{\"name\":\"radiology\",\"created\":false}");
    mv_buf_clear(&raw);
    assert_int_equal(st_of("POST", "/v1/departments", "{\"name\":\"bad/name\"}", &g_admin), 400);
    assert_int_equal(st_of("POST", "/v1/departments", "{\"name\":\"surgery\"}", &g_doc), 403);

    /* Directory: admins and doctors only, filtered by role, department and name. */
    assert_int_equal(st_of("GET", "/v1/directory", NULL, &g_pat), 403);
    assert_int_equal(count_users(&g_doc, "?role=doctor&department=oncology"), 2); /* dr-chen, dr-victim (revoked) */
    assert_int_equal(count_users(&g_doc, "?role=patient&department=oncology"), 0);
    assert_int_equal(count_users(&g_doc, "?role=patient&q=PAT-"), 2); /* case-insensitive */
    assert_int_equal(count_users(&g_admin, "?q=dr-&department=cardiology&limit=1"), 1);
    assert_int_equal(count_users(&g_admin, "?q=%25"), 0); /* '%' is literal */
    assert_int_equal(count_users(&g_admin, "?q=dr_"), 0);  /* '_' is literal */
    assert_int_equal(st_of("GET", "/v1/directory?limit=501", NULL, &g_admin), 400);
    assert_int_equal(st_of("GET", "/v1/directory?role=wizard", NULL, &g_admin), 400);
    assert_int_equal(call("GET", "/v1/directory?q=pat-one", NULL, &g_doc, &j), 200);
    assert_null(mv_json_get(mv_json_at(mv_json_get(j, "users"), 0), "email")); /* doctors: public form */
    mv_json_free(j);
    assert_int_equal(call("GET", "/v1/directory?q=pat-one", NULL, &g_admin, &j), 200);
    assert_non_null(mv_json_get_str(mv_json_at(mv_json_get(j, "users"), 0), "email", NULL));
    mv_json_free(j);

    /* Profile. */
    assert_int_equal(call("PUT", "/v1/profile", "{\"phone\":\"+1 555 0100\",\"about\":\"night shift\"}", &g_doc, &j),
                     200);
    assert_string_equal(mv_json_get_str(j, "phone", NULL), "+1 555 0100");
    assert_string_equal(mv_json_get_str(j, "email", NULL), "dr-alvarez@example.org"); /* unchanged */
    mv_json_free(j);
    assert_int_equal(call("GET", "/v1/profile", NULL, &g_doc, &j), 200);
    assert_string_equal(mv_json_get_str(j, "about", NULL), "night shift");
    mv_json_free(j);
    assert_int_equal(st_of("PUT", "/v1/profile", "{\"about\":\"line\\nbreak\"}", &g_doc), 400);
    assert_int_equal(st_of("PUT", "/v1/profile", "{\"about\":7}", &g_doc), 400);
}

/* PUT /v1/users/me/pre-key (docs/pre.md 7.1): body for key B signed by signer. */
static void pre_key_body(char *body, size_t cap, const uint8_t B[32], const user *signer)
{
    static const char ctx[] = "medvault-pre-key-v1\n";
    uint8_t msg[sizeof ctx - 1 + 32], sig[64];
    char bhex[65], shex[129];
    memcpy(msg, ctx, sizeof ctx - 1);
    memcpy(msg + sizeof ctx - 1, B, 32);
    assert_int_equal(mv_sign(sig, msg, sizeof msg, mv_identity_sign_sk(signer->id)), MV_OK);
    assert_int_equal(mv_hex_encode(bhex, sizeof bhex, B, 32), MV_OK);
    assert_int_equal(mv_hex_encode(shex, sizeof shex, sig, 64), MV_OK);
    snprintf(body, cap, "{\"pre_public_key\":\"%s\",\"signature\":\"%s\"}", bhex, shex);
}

static void test_pre_key(void **state)
{
    (void)state;
    static const uint8_t dst[] = "test-pre-key";
    uint8_t B[32], got[32], bad[32];
    char body[512], path[128], bhex[65];
    mv_json *j = NULL;
    assert_int_equal(mv_r255_hash_to_group(B, (const uint8_t *)"b", 1, dst, sizeof dst - 1), MV_OK);
    snprintf(path, sizeof path, "/v1/users/%s", g_doc.hex);
    /* Not published yet: the directory names no key. */
    assert_int_equal(call("GET", path, NULL, &g_pat, &j), 200);
    assert_null(mv_json_get(j, "pre_public_key"));
    mv_json_free(j);
    /* Signed by somebody else's key, not an element, malformed: 400, nothing stored. */
    pre_key_body(body, sizeof body, B, &g_pat);
    assert_int_equal(st_of("PUT", "/v1/users/me/pre-key", body, &g_doc), 400);
    memset(bad, 0, sizeof bad); /* the identity */
    pre_key_body(body, sizeof body, bad, &g_doc);
    assert_int_equal(st_of("PUT", "/v1/users/me/pre-key", body, &g_doc), 400);
    memset(bad, 0xff, sizeof bad); /* not canonical */
    pre_key_body(body, sizeof body, bad, &g_doc);
    assert_int_equal(st_of("PUT", "/v1/users/me/pre-key", body, &g_doc), 400);
    assert_int_equal(st_of("PUT", "/v1/users/me/pre-key", "{\"pre_public_key\":\"00\"}", &g_doc), 400);
    assert_int_equal(st_of("PUT", "/v1/users/me/pre-key", "{\"pre_public_key\":\"00\"}", NULL), 401);
    assert_int_equal(call("GET", path, NULL, &g_pat, &j), 200);
    assert_null(mv_json_get(j, "pre_public_key"));
    mv_json_free(j);
    /* Published: everyone reads B and the signature, which verifies under the doctor's key. */
    pre_key_body(body, sizeof body, B, &g_doc);
    assert_int_equal(st_of("PUT", "/v1/users/me/pre-key", body, &g_doc), 200);
    assert_int_equal(call("GET", path, NULL, &g_pat, &j), 200);
    assert_int_equal(mv_json_get_hex(j, "pre_public_key", got, 32), MV_OK);
    assert_memory_equal(got, B, 32);
    uint8_t sig[64], msg[20 + 32];
    assert_int_equal(mv_json_get_hex(j, "pre_key_signature", sig, 64), MV_OK);
    memcpy(msg, "medvault-pre-key-v1\n", 20);
    memcpy(msg + 20, B, 32);
    assert_int_equal(mv_sign_verify(sig, msg, sizeof msg, mv_identity_sign_pk(g_doc.id)), MV_OK);
    mv_json_free(j);
    /* Replaced (a new identity's key). */
    assert_int_equal(mv_r255_hash_to_group(B, (const uint8_t *)"b2", 2, dst, sizeof dst - 1), MV_OK);
    pre_key_body(body, sizeof body, B, &g_doc);
    assert_int_equal(st_of("PUT", "/v1/users/me/pre-key", body, &g_doc), 200);
    assert_int_equal(call("GET", path, NULL, &g_doc, &j), 200);
    assert_int_equal(mv_hex_encode(bhex, sizeof bhex, B, 32), MV_OK);
    assert_string_equal(mv_json_get_str(j, "pre_public_key", NULL), bhex);
    mv_json_free(j);
}

static void test_self_registration(void **state)
{
    (void)state;
    user k;
    char bhex[65], msg[512], body[1024], shex[129];
    uint8_t sig[64];
    mv_json *j = NULL;
    new_identity(&k, "kiosk");
    assert_int_equal(mv_hex_encode(bhex, sizeof bhex, mv_identity_box_pk(k.id), 32), MV_OK);
    int n = snprintf(msg, sizeof msg, "medvault-register-v1\nWalk In\n%s\n%s", k.hex, bhex);
    assert_int_equal(mv_sign(sig, msg, (size_t)n, mv_identity_sign_sk(k.id)), MV_OK);
    assert_int_equal(mv_hex_encode(shex, sizeof shex, sig, 64), MV_OK);
    /* A signature by another name does not verify. */
    snprintf(body, sizeof body,
             "{\"name\":\"Walk Out\",\"sign_public_key\":\"%s\",\"box_public_key\":\"%s\",\"signature\":\"%s\"}", k.hex,
             bhex, shex);
    assert_int_equal(st_of("POST", "/v1/register", body, NULL), 401);
    snprintf(body, sizeof body,
             "{\"name\":\"Walk In\",\"sign_public_key\":\"%s\",\"box_public_key\":\"%s\",\"signature\":\"%s\"}", k.hex,
             bhex, shex);
    assert_int_equal(call("POST", "/v1/register", body, NULL, &j), 202);
    assert_string_equal(mv_json_get_str(j, "status", NULL), "pending");
    assert_int_equal(strncmp(mv_json_get_str(j, "mrn", NULL), "MRN-", 4), 0);
    mv_json_free(j);
    assert_int_equal(st_of("POST", "/v1/register", body, NULL), 409);
    assert_int_equal(st_of("POST", "/v1/register", "{\"name\":\"x\"}", NULL), 400);
    /* Pending: no credential until an admin activates it. */
    snprintf(k.cred, sizeof k.cred, "AAAA");
    assert_int_equal(renew(&k, NULL, &j), 403);
    assert_string_equal(mv_json_get_str(j, "error", NULL), "this user is pending");
    mv_json_free(j);
    assert_int_equal(set_status(&k, "active"), 200);
    assert_int_equal(renew(&k, NULL, &j), 200);
    snprintf(k.cred, sizeof k.cred, "%s", mv_json_get_str(j, "credential", NULL));
    mv_json_free(j);
    assert_int_equal(call("GET", "/v1/profile", NULL, &k, &j), 200);
    assert_string_equal(mv_json_get_str(j, "role", NULL), "patient");
    assert_string_equal(mv_json_get_str(j, "status", NULL), "active");
    mv_json_free(j);
    free_user(&k);
}

/* ---------- kiosk flood (issue 11, finding 10) ---------- */

typedef struct kiosk_reply {
    long status;
    long retry_after; /* -1: no Retry-After header */
    mv_buf body;
} kiosk_reply;

static size_t kiosk_header(char *line, size_t size, size_t n, void *ud)
{
    kiosk_reply *r = ud;
    size_t len = size * n;
    if (len > 12 && !strncasecmp(line, "Retry-After:", 12))
        r->retry_after = strtol(line + 12, NULL, 10);
    return len;
}

static size_t kiosk_body(char *p, size_t size, size_t n, void *ud)
{
    kiosk_reply *r = ud;
    return mv_buf_append(&r->body, p, size * n) == MV_OK ? size * n : 0;
}

/* POST /v1/register for a fresh identity `name`, sent from source address `from` (libcurl binds
 * the client socket to it); returns the status, the MRN (on 202) in mrn[0..16). */
static long kiosk_register(const char *from, const char *name, char mrn[16], long *retry_after)
{
    user k;
    char bhex[65], msg[512], body[1024], shex[129], url[128];
    uint8_t sig[64];
    kiosk_reply r = {.retry_after = -1};
    mv_json *j = NULL;
    new_identity(&k, name);
    assert_int_equal(mv_hex_encode(bhex, sizeof bhex, mv_identity_box_pk(k.id), 32), MV_OK);
    int n = snprintf(msg, sizeof msg, "medvault-register-v1\n%s\n%s\n%s", name, k.hex, bhex);
    assert_int_equal(mv_sign(sig, msg, (size_t)n, mv_identity_sign_sk(k.id)), MV_OK);
    assert_int_equal(mv_hex_encode(shex, sizeof shex, sig, 64), MV_OK);
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"sign_public_key\":\"%s\",\"box_public_key\":\"%s\",\"signature\":\"%s\"}", name,
             k.hex, bhex, shex);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/register", g_port);
    mv_buf_init(&r.body, 1 << 16);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_INTERFACE, from);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, kiosk_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, kiosk_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    assert_int_equal(mv_json_parse((const char *)r.body.ptr, r.body.len, NULL, &j, NULL), MV_OK);
    mrn[0] = 0;
    if (r.status == 202) {
        const char *m = mv_json_get_str(j, "mrn", NULL);
        assert_non_null(m);
        snprintf(mrn, 16, "%s", m);
    }
    else
        assert_non_null(mv_json_get_str(j, "error", NULL)); /* every refusal says why */
    *retry_after = r.retry_after;
    mv_json_free(j);
    mv_buf_clear(&r.body);
    free_user(&k);
    return r.status;
}

/* 120 registrations from 127.0.0.2: the first ones (the address's burst) are pending, the rest
 * 429 with Retry-After, never 503; then a patient at 127.0.0.1 still registers. On the code
 * before issue 11 the flood filled the 100-slot cap and 127.0.0.1 got 503. */
static void test_kiosk_flood(void **state)
{
    (void)state;
    enum { FLOOD = 120 };
    char mrns[FLOOD + 1][16], name[32];
    int accepted = 0, limited = 0, other = 0, bad_retry = 0;
    time_t t0 = time(NULL);
    for (int i = 0; i < FLOOD; i++) {
        long retry = 0;
        snprintf(name, sizeof name, "flood-%d", i);
        long st = kiosk_register("127.0.0.2", name, mrns[accepted], &retry);
        if (st == 202)
            accepted++;
        else if (st == 429)
            limited++, bad_retry += !(retry >= 1 && retry <= 30);
        else
            other++;
    }
    time_t took = time(NULL) - t0;
    /* The point of the test first: another address still registers. */
    long retry = 0;
    assert_int_equal(kiosk_register("127.0.0.1", "after-the-flood", mrns[accepted], &retry), 202);
    /* The flood: 10 at once and one more per 30 s it lasted; the rest 429 with Retry-After. */
    assert_int_equal(other, 0);
    assert_int_equal(bad_retry, 0);
    assert_int_equal(accepted + limited, FLOOD);
    assert_true(accepted >= 10 && accepted <= 10 + (int)(took / 30) + 1);
    accepted++;
    /* Every MRN well-formed, distinct, and no two in a row consecutive numbers. */
    for (int i = 0; i < accepted; i++) {
        assert_true(mrn_ok(mrns[i]));
        for (int k = 0; k < i; k++)
            assert_string_not_equal(mrns[i], mrns[k]);
        if (i)
            assert_false(mrn_adjacent(mrns[i - 1], mrns[i]));
    }
}

static void test_clean_shutdown(void **state)
{
    (void)state;
    stop_server(); /* SIGTERM: exit status 0 */
    start_server(); /* the registry re-opens with everything in it */
    mv_json *j = NULL;
    char path[128];
    snprintf(path, sizeof path, "/v1/patients/%s", g_pat.mrn);
    assert_int_equal(call("GET", path, NULL, &g_doc, &j), 200);
    assert_string_equal(mv_json_get_str(j, "name", NULL), "pat-one");
    mv_json_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registration),
        cmocka_unit_test(test_user_lookup),
        cmocka_unit_test(test_renewal_and_revocation),
        cmocka_unit_test(test_appointments),
        cmocka_unit_test(test_delegations),
        cmocka_unit_test(test_medicines_and_alerts),
        cmocka_unit_test(test_departments_directory_profile),
        cmocka_unit_test(test_pre_key),
        cmocka_unit_test(test_self_registration),
        cmocka_unit_test(test_kiosk_flood),
        cmocka_unit_test(test_clean_shutdown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
