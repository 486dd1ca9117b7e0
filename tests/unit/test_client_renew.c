/* test_client_renew.c - credential renewal in mv_client_open (ISSUE 4 section 2, contract of
 * POST /v1/credentials in section 1), against a stand-in hospital: a real mv_http_server in
 * this process that checks each renewal request with mv_http_verify_key, as the hospital
 * does, and answers as the test says. (The end-to-end test against the real hospital lives
 * with the hospital's integration tests.) */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "medvault/mv_auth.h"
#include "medvault/mv_client.h"
#include "medvault/mv_deployment.h"
#include "medvault/mv_file.h"
#include "medvault/mv_http.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_sig.h"

enum mode { ISSUE, ISSUE_OTHER_SUBJECT, ISSUE_OTHER_ISSUER, REFUSE, UNKNOWN, BROKEN };

typedef struct fake {
    pthread_mutex_t lock;
    mv_auth_verifier *v;
    uint8_t hpk[32], hsk[64], xpk[32], xsk[64];
    enum mode mode;
    unsigned hits, verified;
    int had_credential;
    char issued[MV_CRED_B64_MAX + 1];
    mv_http_server *srv;
} fake;

static void handler(void *ctx, const mv_http_request *req, mv_http_response *resp)
{
    fake *f = ctx;
    uint8_t key[32];
    pthread_mutex_lock(&f->lock);
    /* Only renewals count: a client also publishes its recipient key once (PUT
     * /v1/users/me/pre-key, docs/pre.md 7.1), which this fake answers 404 and the client
     * retries on its next run. */
    if (strcmp(req->method, "POST") != 0 || strcmp(req->path, "/v1/credentials") != 0) {
        mv_http_respond_json_error(resp, 404, "no such endpoint");
        goto out;
    }
    f->hits++;
    if (mv_http_verify_key(f->v, req, (uint64_t)time(NULL), key) != MV_OK) {
        mv_http_respond_json_error(resp, 401, "bad signature");
        goto out;
    }
    f->verified++;
    f->had_credential = mv_http_header(req, "MV-Credential") != NULL;
    switch (f->mode) {
    case ISSUE:
    case ISSUE_OTHER_SUBJECT:
    case ISSUE_OTHER_ISSUER: {
        mv_credential c;
        uint64_t now = (uint64_t)time(NULL);
        memset(&c, 0, sizeof c);
        memcpy(c.subject, key, 32);
        if (f->mode == ISSUE_OTHER_SUBJECT)
            c.subject[0] ^= 1;
        snprintf(c.role, sizeof c.role, "doctor");
        c.n_departments = 1;
        snprintf(c.departments[0], sizeof c.departments[0], "renewed");
        c.issued_at = now;
        c.expires_at = now + 3600;
        if (f->mode == ISSUE_OTHER_ISSUER)
            assert_int_equal(mv_credential_issue(&c, f->xpk, f->xsk), MV_OK);
        else
            assert_int_equal(mv_credential_issue(&c, f->hpk, f->hsk), MV_OK);
        assert_int_equal(mv_credential_encode(&c, f->issued, sizeof f->issued), MV_OK);
        mv_buf b;
        mv_buf_init(&b, 1 << 16);
        assert_int_equal(mv_buf_printf(&b, "{\"credential\":\"%s\",\"expires_at\":%llu}", f->issued,
                                       (unsigned long long)c.expires_at),
                         MV_OK);
        mv_http_respond_json(resp, 200, &b);
        mv_buf_clear(&b);
        break;
    }
    case REFUSE: mv_http_respond_json_error(resp, 403, "this user is suspended"); break;
    case UNKNOWN: mv_http_respond_json_error(resp, 404, "unknown key"); break;
    case BROKEN: mv_http_respond_json_error(resp, 500, "internal error"); break;
    }
out:
    pthread_mutex_unlock(&f->lock);
}

typedef struct world {
    fake f;
    char dep_path[512], user[512];
    mv_identity *id;
    int port;
} world;

/* A deployment (the 2-of-3 public shares of the RFC 9497 file's threshold set) naming the
 * stand-in hospital; the storage URL is never contacted by mv_client_open. */
static void make_world(world *w)
{
    memset(w, 0, sizeof *w);
    fake *f = &w->f;
    pthread_mutex_init(&f->lock, NULL);
    assert_int_equal(mv_sign_keypair(f->hpk, f->hsk), MV_OK);
    assert_int_equal(mv_sign_keypair(f->xpk, f->xsk), MV_OK);
    assert_int_equal(mv_auth_verifier_new(f->hpk, 300, 1000, &f->v), MV_OK);
    mv_http_config hc = {.listen = "127.0.0.1:0", .max_body = 4096, .threads = 2, .handler = handler, .ctx = f};
    assert_int_equal(mv_http_server_start(&hc, &f->srv), MV_OK);
    w->port = mv_http_server_port(f->srv);
    assert_int_equal(mv_auth_verifier_add_listen(f->v, "127.0.0.1:0", w->port), MV_OK);

    mv_json *v = tu_load_json("rfc9497-ristretto255-sha512.json");
    const mv_json *t = mv_json_get(v, "threshold_extension_vectors_not_in_rfc");
    const mv_json *sh = mv_json_get(t, "shares");
    mv_buf b;
    mv_buf_init(&b, 1 << 16);
    size_t l = 0;
    assert_int_equal(mv_buf_printf(&b, "{\"version\":1,\"suite\":\"ristretto255-SHA512\",\"hospital_public_key\":\"%064d\","
                                       "\"threshold\":2,\"epoch\":1,\"group_public_key\":\"%s\",\"keyservers\":[",
                                   0, mv_json_get_str(t, "pkSm", &l)),
                     MV_OK);
    for (size_t i = 1; i <= 3; i++)
        assert_int_equal(mv_buf_printf(&b, "%s{\"index\":%zu,\"url\":\"http://127.0.0.1:9/\",\"public_share\":\"%s\"}",
                                       i > 1 ? "," : "", i, mv_json_get_str(mv_json_at(sh, i - 1), "pk_i", &l)),
                         MV_OK);
    assert_int_equal(mv_buf_puts(&b, "]}"), MV_OK);
    mv_json_free(v);
    mv_deployment d;
    assert_int_equal(mv_deployment_parse((const char *)b.ptr, b.len, &d), MV_OK);
    mv_buf_clear(&b);
    memcpy(d.hospital_pk, f->hpk, 32);
    snprintf(d.hospital_url, sizeof d.hospital_url, "http://127.0.0.1:%d", w->port);
    snprintf(d.storage_url, sizeof d.storage_url, "http://127.0.0.1:9");
    const char *root = tu_tmpdir();
    snprintf(w->dep_path, sizeof w->dep_path, "%s/deployment.json", root);
    snprintf(w->user, sizeof w->user, "%s/user", root);
    assert_int_equal(mv_deployment_save(&d, w->dep_path), MV_OK);
    assert_int_equal(mv_identity_create(w->user, &w->id), MV_OK);
}

static void free_world(world *w)
{
    mv_http_server_stop(w->f.srv);
    mv_auth_verifier_free(w->f.v);
    mv_identity_free(w->id);
    pthread_mutex_destroy(&w->f.lock);
}

/* Gives the user a credential issued `age` seconds ago, valid for `life` seconds. */
static void give_credential(world *w, uint64_t age, uint64_t life, char *b64, size_t cap)
{
    mv_credential c;
    uint64_t now = (uint64_t)time(NULL);
    memset(&c, 0, sizeof c);
    memcpy(c.subject, mv_identity_sign_pk(w->id), 32);
    snprintf(c.role, sizeof c.role, "doctor");
    c.n_departments = 1;
    snprintf(c.departments[0], sizeof c.departments[0], "original");
    c.issued_at = now - age;
    c.expires_at = now - age + life;
    assert_int_equal(mv_credential_issue(&c, w->f.hpk, w->f.hsk), MV_OK);
    assert_int_equal(mv_credential_encode(&c, b64, cap), MV_OK);
    assert_int_equal(mv_identity_save_credential(w->id, w->user, b64), MV_OK);
}

/* The credential file's content, without the line end. */
static void read_credential(const world *w, char *out, size_t cap)
{
    char p[600];
    mv_buf b;
    snprintf(p, sizeof p, "%s/credential", w->user);
    mv_buf_init(&b, MV_CRED_B64_MAX + 2);
    assert_int_equal(mv_file_read(p, MV_CRED_B64_MAX + 2, &b), MV_OK);
    while (b.len && b.ptr[b.len - 1] == '\n')
        b.len--;
    assert_true(b.len < cap);
    memcpy(out, b.ptr, b.len);
    out[b.len] = 0;
    mv_buf_clear(&b);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static mv_err open_client(world *w, char *err, size_t cap, char *dept_out)
{
    mv_client *c = NULL;
    mv_client_options o;
    memset(&o, 0, sizeof o);
    o.no_cache = 1;
    if (dept_out)
        o.department = dept_out;
    mv_err rc = mv_client_open_msg(w->dep_path, w->user, &o, &c, err, cap);
    if (rc == MV_OK)
        assert_non_null(c);
    else
        assert_null(c);
    mv_client_close(c);
    return rc;
}

static void set_mode(world *w, enum mode m)
{
    pthread_mutex_lock(&w->f.lock);
    w->f.mode = m;
    w->f.hits = 0;
    w->f.verified = 0;
    w->f.issued[0] = 0;
    pthread_mutex_unlock(&w->f.lock);
}

static void test_renewal(void **state)
{
    (void)state;
    world w;
    char old[MV_CRED_B64_MAX + 1], now_file[MV_CRED_B64_MAX + 1], err[256];
    make_world(&w);

    /* A fresh credential (90% of its life left): no call to the hospital. */
    set_mode(&w, ISSUE);
    give_credential(&w, 360, 3600, old, sizeof old);
    assert_int_equal(open_client(&w, err, sizeof err, NULL), MV_OK);
    assert_int_equal(w.f.hits, 0);
    /* Exactly half left: still no renewal ("less than half"). */
    give_credential(&w, 1800, 3600, old, sizeof old);
    assert_int_equal(open_client(&w, err, sizeof err, NULL), MV_OK);
    assert_int_equal(w.f.hits, 0);

    /* Less than half left: renewed, saved (0600, atomically), used (its department). */
    give_credential(&w, 2000, 3600, old, sizeof old);
    assert_int_equal(open_client(&w, err, sizeof err, "renewed"), MV_OK);
    assert_int_equal(w.f.verified, 1);
    assert_true(w.f.had_credential); /* the old credential travels with the request */
    read_credential(&w, now_file, sizeof now_file);
    assert_string_equal(now_file, w.f.issued);
    assert_string_not_equal(now_file, old);
    /* ... so the next open does not renew again. */
    set_mode(&w, ISSUE);
    assert_int_equal(open_client(&w, err, sizeof err, "renewed"), MV_OK);
    assert_int_equal(w.f.hits, 0);

    /* Expired: renewed the same way (the hospital ignores the expired credential). */
    set_mode(&w, ISSUE);
    give_credential(&w, 7200, 3600, old, sizeof old);
    assert_int_equal(open_client(&w, err, sizeof err, NULL), MV_OK);
    assert_int_equal(w.f.verified, 1);
    read_credential(&w, now_file, sizeof now_file);
    assert_string_equal(now_file, w.f.issued);

    /* Refused (suspended or revoked): MV_ERR_AUTH with a clear message, even while the old
     * credential is still valid; the file is left alone. */
    set_mode(&w, REFUSE);
    give_credential(&w, 2000, 3600, old, sizeof old);
    assert_int_equal(open_client(&w, err, sizeof err, NULL), MV_ERR_AUTH);
    assert_string_equal(err, "the hospital refused to renew this user's credential (suspended or revoked)");
    read_credential(&w, now_file, sizeof now_file);
    assert_string_equal(now_file, old);
    give_credential(&w, 7200, 3600, old, sizeof old);
    assert_int_equal(open_client(&w, err, sizeof err, NULL), MV_ERR_AUTH);
    assert_string_equal(err, "the hospital refused to renew this user's credential (suspended or revoked)");

    /* Other failures: harmless while the old credential is valid, fatal once it expired. */
    enum mode soft[] = {UNKNOWN, BROKEN, ISSUE_OTHER_SUBJECT, ISSUE_OTHER_ISSUER};
    mv_err when_expired[] = {MV_ERR_AUTH, MV_ERR_HTTP, MV_ERR_PROTOCOL, MV_ERR_PROTOCOL};
    for (size_t i = 0; i < sizeof soft / sizeof soft[0]; i++) {
        set_mode(&w, soft[i]);
        give_credential(&w, 2000, 3600, old, sizeof old);
        assert_int_equal(open_client(&w, err, sizeof err, "original"), MV_OK);
        assert_int_equal(w.f.verified, 1);
        read_credential(&w, now_file, sizeof now_file);
        assert_string_equal(now_file, old);
        give_credential(&w, 7200, 3600, old, sizeof old);
        assert_int_equal(open_client(&w, err, sizeof err, NULL), when_expired[i]);
        assert_true(strlen(err) > 0);
        read_credential(&w, now_file, sizeof now_file);
        assert_string_equal(now_file, old);
    }

    /* No credential at all (a registration an admin approved since): the client asks with
     * its key alone (no MV-Credential header) and saves the first credential. */
    char p[600];
    snprintf(p, sizeof p, "%s/credential", w.user);
    assert_int_equal(unlink(p), 0);
    set_mode(&w, REFUSE);
    assert_int_equal(open_client(&w, err, sizeof err, NULL), MV_ERR_AUTH);
    assert_int_equal(access(p, F_OK), -1);
    set_mode(&w, ISSUE);
    assert_int_equal(open_client(&w, err, sizeof err, NULL), MV_OK);
    assert_false(w.f.had_credential);
    read_credential(&w, now_file, sizeof now_file);
    assert_true(strlen(now_file) > 0);

    /* The hospital down. */
    mv_http_server_stop(w.f.srv);
    mv_http_config hc = {.listen = "127.0.0.1:0", .max_body = 4096, .threads = 1, .handler = handler, .ctx = &w.f};
    give_credential(&w, 2000, 3600, old, sizeof old);
    assert_int_equal(open_client(&w, err, sizeof err, NULL), MV_OK);
    give_credential(&w, 7200, 3600, old, sizeof old);
    mv_err rc = open_client(&w, err, sizeof err, NULL);
    assert_true(rc == MV_ERR_NET || rc == MV_ERR_TIMEOUT);
    assert_non_null(strstr(err, "no answer from"));
    assert_int_equal(mv_http_server_start(&hc, &w.f.srv), MV_OK); /* for free_world */

    free_world(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_renewal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
