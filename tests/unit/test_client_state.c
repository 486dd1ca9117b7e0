/* test_client_state.c - atomic files, identity directories, the deployment file, and the key
 * server's share file and rate limiter (the on-disk state of issue 2). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "keyserver/ratelimit.h"
#include "medvault/mv_auth.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_deployment.h"
#include "medvault/mv_file.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_keyserver.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_shamir.h"

static void path(char *out, size_t cap, const char *dir, const char *name)
{
    assert_int_equal(mv_path_join(out, cap, dir, name), MV_OK);
}

static void test_file_atomic(void **state)
{
    (void)state;
    const char *d = tu_tmpdir();
    char p[512];
    path(p, sizeof p, d, "f");
    mv_buf b;
    mv_buf_init(&b, 100);
    assert_int_equal(mv_file_read(p, 100, &b), MV_ERR_NOT_FOUND);
    assert_int_equal(mv_file_write_atomic(p, "hello", 5, 0600), MV_OK);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(mv_file_write_atomic(p, "world!", 6, 0644), MV_OK);
    assert_int_equal(mv_file_read(p, 100, &b), MV_OK);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.ptr, "world!", 6);
    mv_buf_reset(&b);
    assert_int_equal(mv_file_read(p, 3, &b), MV_ERR_TOO_LARGE);
    mv_buf_clear(&b);
    /* A directory that does not exist: nothing written, clear error. */
    path(p, sizeof p, d, "missing/f");
    assert_int_equal(mv_file_write_atomic(p, "x", 1, 0600), MV_ERR_IO);
    char big[5000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(mv_path_join(p, sizeof p, d, big), MV_ERR_TOO_LARGE);
}

static void test_identity(void **state)
{
    (void)state;
    const char *root = tu_tmpdir();
    char d[512], p[600];
    path(d, sizeof d, root, "alice");
    mv_identity *a = NULL, *b = NULL;
    assert_int_equal(mv_identity_load(d, &a), MV_ERR_NOT_FOUND);
    assert_int_equal(mv_identity_create(d, &a), MV_OK);
    assert_null(mv_identity_credential(a));
    /* Never overwrites keys. */
    assert_int_equal(mv_identity_create(d, &b), MV_ERR_EXISTS);
    assert_int_equal(mv_identity_load(d, &b), MV_OK);
    assert_memory_equal(mv_identity_sign_pk(a), mv_identity_sign_pk(b), 32);
    assert_memory_equal(mv_identity_sign_sk(a), mv_identity_sign_sk(b), 64);
    assert_memory_equal(mv_identity_box_pk(a), mv_identity_box_pk(b), 32);
    assert_memory_equal(mv_identity_box_sk(a), mv_identity_box_sk(b), 32);
    mv_identity_free(b);
    b = NULL;
    struct stat st;
    path(p, sizeof p, d, "keys");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(d, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* Keys readable by others are refused. */
    assert_int_equal(chmod(p, 0644), 0);
    assert_int_equal(mv_identity_load(d, &b), MV_ERR_AUTH);
    assert_int_equal(chmod(p, 0600), 0);

    /* A credential must name this identity. */
    char hd[512];
    path(hd, sizeof hd, root, "hospital");
    mv_identity *h = NULL;
    assert_int_equal(mv_identity_create(hd, &h), MV_OK);
    mv_credential c;
    memset(&c, 0, sizeof c);
    memcpy(c.subject, mv_identity_sign_pk(h), 32); /* wrong subject */
    snprintf(c.role, sizeof c.role, "doctor");
    c.issued_at = (uint64_t)time(NULL);
    c.expires_at = c.issued_at + 100;
    char b64[MV_CRED_B64_MAX];
    assert_int_equal(mv_credential_issue(&c, mv_identity_sign_pk(h), mv_identity_sign_sk(h)), MV_OK);
    assert_int_equal(mv_credential_encode(&c, b64, sizeof b64), MV_OK);
    assert_int_equal(mv_identity_save_credential(a, d, b64), MV_ERR_AUTH);
    memcpy(c.subject, mv_identity_sign_pk(a), 32);
    assert_int_equal(mv_credential_issue(&c, mv_identity_sign_pk(h), mv_identity_sign_sk(h)), MV_OK);
    assert_int_equal(mv_credential_encode(&c, b64, sizeof b64), MV_OK);
    assert_int_equal(mv_identity_save_credential(a, d, b64), MV_OK);
    assert_int_equal(mv_identity_load(d, &b), MV_OK);
    assert_string_equal(mv_identity_credential(b), b64);
    /* A corrupted keys file is a parse error, not a crash. */
    assert_int_equal(mv_file_write_atomic(p, "{\"version\":1}", 13, 0600), MV_OK);
    mv_identity *c2 = NULL;
    assert_int_equal(mv_identity_load(d, &c2), MV_ERR_PARSE);
    mv_identity_free(a);
    mv_identity_free(b);
    mv_identity_free(h);
}

/* Builds a deployment document for the file's 2-of-3 threshold set. */
static char *threshold_doc(const char *override_pk1)
{
    mv_json *v = tu_load_json("rfc9497-ristretto255-sha512.json");
    const mv_json *t = mv_json_get(v, "threshold_extension_vectors_not_in_rfc");
    const mv_json *sh = mv_json_get(t, "shares");
    mv_buf b;
    mv_buf_init(&b, 1 << 16);
    size_t l = 0;
    assert_int_equal(mv_buf_printf(&b, "{\"version\":1,\"suite\":\"ristretto255-SHA512\",\"hospital_public_key\":\"%064d\","
                                       "\"threshold\":2,\"epoch\":3,\"group_public_key\":\"%s\",\"keyservers\":[",
                                   0, mv_json_get_str(t, "pkSm", &l)),
                     MV_OK);
    /* Listed in reverse index order: parsing sorts them. */
    for (size_t i = 0; i < 3; i++) {
        size_t idx = 3 - i;
        const char *pk = mv_json_get_str(mv_json_at(sh, idx - 1), "pk_i", &l);
        if (idx == 1 && override_pk1)
            pk = override_pk1;
        assert_int_equal(mv_buf_printf(&b, "%s{\"index\":%zu,\"url\":\"http://127.0.0.1:%zu/\",\"public_share\":\"%s\"}",
                                       i ? "," : "", idx, 4000 + idx, pk),
                         MV_OK);
    }
    assert_int_equal(mv_buf_puts(&b, "]}"), MV_OK);
    mv_json_free(v);
    return (char *)mv_buf_steal(&b, NULL);
}

static void test_deployment(void **state)
{
    (void)state;
    char *doc = threshold_doc(NULL);
    mv_deployment d, d2;
    assert_int_equal(mv_deployment_parse(doc, strlen(doc), &d), MV_OK);
    assert_int_equal(d.threshold, 2);
    assert_int_equal(d.epoch, 3);
    assert_int_equal(d.n_servers, 3);
    /* Sorted by index; the trailing slash dropped. */
    assert_int_equal(d.servers[0].index, 1);
    assert_string_equal(d.servers[0].url, "http://127.0.0.1:4001");
    mv_buf b;
    mv_buf_init(&b, 1 << 16);
    assert_int_equal(mv_deployment_write(&d, &b), MV_OK);
    assert_int_equal(mv_deployment_parse((const char *)b.ptr, b.len, &d2), MV_OK);
    assert_memory_equal(&d, &d2, sizeof d);
    mv_buf_clear(&b);
    mv_free(doc);

    /* A public share off the polynomial: refused as inconsistent. */
    doc = threshold_doc("e2a62f39eede11269e3bd5a7d97554f5ca384f9f6d3dd9c3c0d05083c7254f57");
    assert_int_equal(mv_deployment_parse(doc, strlen(doc), &d), MV_ERR_VERIFY);
    mv_free(doc);

    static const char *bad[] = {
        "",
        "[]",
        "{\"version\":2}",
        "{\"version\":1,\"suite\":\"P256-SHA256\"}",
        "{\"version\":1,\"suite\":\"ristretto255-SHA512\",\"hospital_public_key\":\"00\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(mv_deployment_parse(bad[i], strlen(bad[i]), &d), MV_ERR_PARSE);
    assert_int_equal(mv_deployment_load("/nonexistent/deployment.json", &d), MV_ERR_NOT_FOUND);
}

/* threshold_doc with tail (the "proxies" part, or "") inserted before its closing brace. */
static mv_err parse_with(const char *tail, mv_deployment *d, char *why, size_t why_cap)
{
    char *doc = threshold_doc(NULL);
    mv_buf b;
    mv_buf_init(&b, 1 << 16);
    size_t l = strlen(doc);
    assert_int_equal(mv_buf_append(&b, doc, l - 1), MV_OK);
    assert_int_equal(mv_buf_printf(&b, "%s}", tail), MV_OK);
    mv_free(doc);
    const char *t = tu_tmpdir();
    char file[512];
    path(file, sizeof file, t, "proxies.json");
    assert_int_equal(mv_file_write_atomic(file, b.ptr, b.len, 0644), MV_OK);
    mv_err rc = mv_deployment_parse((const char *)b.ptr, b.len, d);
    /* The message names what is wrong (checked against the plain parse). */
    mv_deployment d2;
    assert_int_equal(mv_deployment_load_msg(file, NULL, &d2, NULL, why, why_cap), rc);
    mv_buf_clear(&b);
    return rc;
}

#define PK1 "1111111111111111111111111111111111111111111111111111111111111111"
#define PK2 "2222222222222222222222222222222222222222222222222222222222222222"
#define PK0 "0000000000000000000000000000000000000000000000000000000000000000"

/* The re-encryption proxies (docs/pre.md 7.2): optional, sorted by index, written back
 * as read, and every bad input refused with a message naming the field. */
static void test_deployment_proxies(void **state)
{
    (void)state;
    mv_deployment d, d2;
    char why[512];
    assert_int_equal(parse_with("", &d, why, sizeof why), MV_OK);
    assert_int_equal(d.n_proxies, 0);
    assert_int_equal(d.proxy_threshold, 0);
    assert_int_equal(parse_with(",\"proxies\":[{\"index\":2,\"url\":\"http://127.0.0.1:5002/\",\"box_public_key\":\"" PK2
                                "\"},{\"index\":1,\"url\":\"http://127.0.0.1:5001\",\"box_public_key\":\"" PK1
                                "\"}],\"proxy_threshold\":2",
                                &d, why, sizeof why),
                     MV_OK);
    assert_int_equal(d.n_proxies, 2);
    assert_int_equal(d.proxy_threshold, 2);
    assert_int_equal(d.proxies[0].index, 1);
    assert_string_equal(d.proxies[0].url, "http://127.0.0.1:5001");
    assert_string_equal(d.proxies[1].url, "http://127.0.0.1:5002");
    assert_int_equal(d.proxies[1].box_pk[0], 0x22);
    mv_buf b;
    mv_buf_init(&b, 1 << 16);
    assert_int_equal(mv_deployment_write(&d, &b), MV_OK);
    assert_int_equal(mv_deployment_parse((const char *)b.ptr, b.len, &d2), MV_OK);
    assert_memory_equal(&d, &d2, sizeof d);
    mv_buf_clear(&b);

    static const struct { const char *tail, *why; } bad[] = {
        /* duplicate index */
        {",\"proxies\":[{\"index\":1,\"url\":\"http://a\",\"box_public_key\":\"" PK1
         "\"},{\"index\":1,\"url\":\"http://b\",\"box_public_key\":\"" PK2 "\"}],\"proxy_threshold\":1",
         "a proxy's \"index\""},
        /* index out of 1..n */
        {",\"proxies\":[{\"index\":2,\"url\":\"http://a\",\"box_public_key\":\"" PK1 "\"}],\"proxy_threshold\":1",
         "a proxy's \"index\""},
        /* threshold above n, and 0 */
        {",\"proxies\":[{\"index\":1,\"url\":\"http://a\",\"box_public_key\":\"" PK1 "\"}],\"proxy_threshold\":2",
         "\"proxy_threshold\" is missing"},
        {",\"proxies\":[{\"index\":1,\"url\":\"http://a\",\"box_public_key\":\"" PK1 "\"}],\"proxy_threshold\":0",
         "\"proxy_threshold\" is missing"},
        /* the one without the other */
        {",\"proxies\":[{\"index\":1,\"url\":\"http://a\",\"box_public_key\":\"" PK1 "\"}]", "\"proxy_threshold\" is missing"},
        {",\"proxy_threshold\":1", "\"proxies\" is missing"},
        {",\"proxies\":[],\"proxy_threshold\":1", "\"proxies\" is missing"},
        /* bad hex, short key, the all-zero key */
        {",\"proxies\":[{\"index\":1,\"url\":\"http://a\",\"box_public_key\":\"zz" PK1 "\"}],\"proxy_threshold\":1",
         "\"box_public_key\""},
        {",\"proxies\":[{\"index\":1,\"url\":\"http://a\",\"box_public_key\":\"1111\"}],\"proxy_threshold\":1",
         "\"box_public_key\""},
        {",\"proxies\":[{\"index\":1,\"url\":\"http://a\",\"box_public_key\":\"" PK0 "\"}],\"proxy_threshold\":1",
         "\"box_public_key\""},
        /* not an http(s) URL */
        {",\"proxies\":[{\"index\":1,\"url\":\"ftp://a\",\"box_public_key\":\"" PK1 "\"}],\"proxy_threshold\":1",
         "\"url\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse_with(bad[i].tail, &d, why, sizeof why), MV_ERR_PARSE);
        if (!strstr(why, bad[i].why))
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, why, bad[i].why);
        assert_int_equal(d.n_proxies, 0);
    }
}

/* mv_deployment_load_msg says which file is at fault and what is wrong with it (issue 14: a
 * directory gave "input/output error"; a missing file or user directory was not named). */
static void expect_msg(const char *path, const char *user_dir, mv_err want, const char *want_msg)
{
    mv_deployment d;
    char err[512];
    assert_int_equal(mv_deployment_load_msg(path, user_dir, &d, NULL, err, sizeof err), want);
    if (want == MV_OK)
        assert_string_equal(err, "");
    if (!strstr(err, want_msg))
        fail_msg("message \"%s\" lacks \"%s\"", err, want_msg);
}

static void test_deployment_messages(void **state)
{
    (void)state;
    const char *t = tu_tmpdir();
    char dir[512], file[512], bad[512], ud[512], inside[512], msg[1200];
    path(dir, sizeof dir, t, "dep-dir");
    path(file, sizeof file, t, "deployment.json");
    path(bad, sizeof bad, t, "bad.json");
    path(ud, sizeof ud, t, "not-a-user");
    assert_int_equal(mv_file_mkdir(dir, 0700), MV_OK);
    assert_int_equal(mv_file_mkdir(ud, 0700), MV_OK);
    char *doc = threshold_doc(NULL);
    assert_int_equal(mv_file_write_atomic(file, doc, strlen(doc), 0644), MV_OK);
    mv_free(doc);
    static const char bad_doc[] = "{\"version\":1,\"suite\":\"ristretto255-SHA512\",\"hospital_public_key\":\"00\"}";
    assert_int_equal(mv_file_write_atomic(bad, bad_doc, strlen(bad_doc), 0644), MV_OK);

    snprintf(msg, sizeof msg, "deployment file %s/nope.json: no such file", t);
    path(inside, sizeof inside, t, "nope.json");
    expect_msg(inside, NULL, MV_ERR_NOT_FOUND, msg);
    snprintf(msg, sizeof msg, "deployment file %s: is a directory", dir);
    expect_msg(dir, NULL, MV_ERR_IO, msg);
    /* A directory that holds one: the message names it. */
    path(inside, sizeof inside, dir, "deployment.json");
    assert_int_equal(mv_file_write_atomic(inside, "{}", 2, 0644), MV_OK);
    snprintf(msg, sizeof msg, "is a directory; the deployment file is %s", inside);
    expect_msg(dir, NULL, MV_ERR_IO, msg);
    snprintf(msg, sizeof msg, "deployment file %s: not a valid deployment file: \"hospital_public_key\"", bad);
    expect_msg(bad, NULL, MV_ERR_PARSE, msg);
    /* The user directory: missing, or holding no keys (and no pin is written there). */
    path(inside, sizeof inside, t, "no-such-user");
    snprintf(msg, sizeof msg, "user directory %s: no such directory", inside);
    expect_msg(file, inside, MV_ERR_NOT_FOUND, msg);
    snprintf(msg, sizeof msg, "user directory %s: holds no user keys", ud);
    expect_msg(file, ud, MV_ERR_NOT_FOUND, msg);
    path(inside, sizeof inside, ud, "hospital.pin");
    assert_false(mv_file_exists(inside));
    /* Success clears the message; the old entry points agree. */
    expect_msg(file, NULL, MV_OK, "");
    mv_deployment d;
    assert_int_equal(mv_deployment_load(dir, &d), MV_ERR_IO);
    assert_int_equal(mv_deployment_load_for_user(file, ud, &d, NULL), MV_ERR_NOT_FOUND);
}

/* Issues a credential for `subject` signed by hosp, valid from issued_at for `life` seconds,
 * and writes it to dir/credential. */
static void write_cred(const char *dir, const mv_identity *hosp, const uint8_t subject[32], uint64_t issued_at,
                       uint64_t life)
{
    mv_credential c;
    char b64[MV_CRED_B64_MAX], p[600];
    memset(&c, 0, sizeof c);
    memcpy(c.subject, subject, 32);
    snprintf(c.role, sizeof c.role, "doctor");
    c.issued_at = issued_at;
    c.expires_at = issued_at + life;
    assert_int_equal(mv_credential_issue(&c, mv_identity_sign_pk(hosp), mv_identity_sign_sk(hosp)), MV_OK);
    assert_int_equal(mv_credential_encode(&c, b64, sizeof b64), MV_OK);
    path(p, sizeof p, dir, "credential");
    assert_int_equal(mv_file_write_atomic(p, b64, strlen(b64), 0600), MV_OK);
}

/* The hospital key pin (issue 11, finding 14): written at registration, never replaced,
 * compared on every load; a directory without one is pinned on first use, but only to the
 * hospital that signed its credential. */
static void test_hospital_pin(void **state)
{
    (void)state;
    const char *root = tu_tmpdir();
    char ud[512], hd[512], ed[512], pin[600], od[512], nd[512];
    mv_identity *u = NULL, *h = NULL, *e = NULL, *o = NULL, *n = NULL;
    int fresh = -1;
    path(ud, sizeof ud, root, "user");
    path(hd, sizeof hd, root, "hospital");
    path(ed, sizeof ed, root, "evil");
    path(od, sizeof od, root, "old");
    path(nd, sizeof nd, root, "nocred");
    path(pin, sizeof pin, ud, "hospital.pin");
    assert_int_equal(mv_identity_create(hd, &h), MV_OK);
    assert_int_equal(mv_identity_create(ed, &e), MV_OK);
    const uint8_t *hk = mv_identity_sign_pk(h), *ek = mv_identity_sign_pk(e);

    /* No keys: nothing pinned, nothing written. */
    assert_int_equal(mv_identity_pin_hospital(ud, hk), MV_ERR_NOT_FOUND);
    assert_int_equal(mv_identity_check_hospital(ud, hk, &fresh), MV_ERR_NOT_FOUND);
    assert_false(mv_file_exists(pin));

    /* Registration pins; the same key again is fine, another is refused and never written. */
    assert_int_equal(mv_identity_create(ud, &u), MV_OK);
    assert_int_equal(mv_identity_pin_hospital(ud, hk), MV_OK);
    assert_int_equal(mv_identity_pin_hospital(ud, hk), MV_OK);
    assert_int_equal(mv_identity_pin_hospital(ud, ek), MV_ERR_AUTH);
    assert_int_equal(mv_identity_check_hospital(ud, hk, &fresh), MV_OK);
    assert_int_equal(fresh, 0);
    assert_int_equal(mv_identity_check_hospital(ud, ek, &fresh), MV_ERR_AUTH);
    assert_int_equal(fresh, 0);
    assert_int_equal(mv_identity_check_hospital(ud, hk, NULL), MV_OK);
    /* Every single-bit change of the key is refused. */
    uint8_t flipped[32];
    for (size_t bit = 0; bit < 256; bit++) {
        memcpy(flipped, hk, 32);
        flipped[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(mv_identity_check_hospital(ud, flipped, NULL), MV_ERR_AUTH);
    }
    struct stat st;
    assert_int_equal(stat(pin, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);

    /* A damaged pin is a parse error, never silently replaced. */
    static const char *damaged[] = {"", "{}", "{\"hospital_public_key\":\"00\"}", "not json"};
    for (size_t i = 0; i < sizeof damaged / sizeof damaged[0]; i++) {
        assert_int_equal(mv_file_write_atomic(pin, damaged[i], strlen(damaged[i]), 0644), MV_OK);
        assert_int_equal(mv_identity_check_hospital(ud, hk, &fresh), MV_ERR_PARSE);
        assert_int_equal(mv_identity_pin_hospital(ud, hk), MV_ERR_PARSE);
    }
    char big[400];
    memset(big, ' ', sizeof big);
    assert_int_equal(mv_file_write_atomic(pin, big, sizeof big, 0644), MV_OK);
    assert_int_equal(mv_identity_check_hospital(ud, hk, &fresh), MV_ERR_TOO_LARGE);

    /* A directory from before pins existed, with a credential: the hospital that signed it
     * is pinned on first use (even once the credential has expired), another is refused and
     * not pinned. */
    assert_int_equal(mv_identity_create(od, &o), MV_OK);
    write_cred(od, h, mv_identity_sign_pk(o), (uint64_t)time(NULL) - 7200, 3600);
    assert_int_equal(mv_identity_check_hospital(od, ek, &fresh), MV_ERR_AUTH);
    assert_int_equal(fresh, 0);
    path(pin, sizeof pin, od, "hospital.pin");
    assert_false(mv_file_exists(pin));
    assert_int_equal(mv_identity_check_hospital(od, hk, &fresh), MV_OK);
    assert_int_equal(fresh, 1);
    assert_true(mv_file_exists(pin));
    assert_int_equal(mv_identity_check_hospital(od, hk, &fresh), MV_OK);
    assert_int_equal(fresh, 0);
    assert_int_equal(mv_identity_check_hospital(od, ek, &fresh), MV_ERR_AUTH);
    /* A malformed credential is not a reason to pin. */
    assert_int_equal(unlink(pin), 0);
    char cp[600];
    path(cp, sizeof cp, od, "credential");
    assert_int_equal(mv_file_write_atomic(cp, "bm90IGEgY3JlZGVudGlhbA==", 24, 0600), MV_OK);
    assert_int_equal(mv_identity_check_hospital(od, hk, &fresh), MV_ERR_PARSE);
    assert_false(mv_file_exists(pin));

    /* Without a credential (a pending kiosk registration from before pins): plain trust on
     * first use. */
    assert_int_equal(mv_identity_create(nd, &n), MV_OK);
    assert_int_equal(mv_identity_check_hospital(nd, hk, &fresh), MV_OK);
    assert_int_equal(fresh, 1);
    assert_int_equal(mv_identity_check_hospital(nd, ek, &fresh), MV_ERR_AUTH);
    assert_int_equal(mv_identity_check_hospital(NULL, hk, &fresh), MV_ERR_INVAL);
    assert_int_equal(mv_identity_pin_hospital(NULL, hk), MV_ERR_INVAL);

    /* Through the deployment loader: a deployment naming another hospital key is refused
     * and *out left zeroed. */
    char *doc = threshold_doc(NULL);
    char dp[600], hex[65];
    mv_deployment d;
    path(dp, sizeof dp, root, "deployment.json");
    assert_int_equal(mv_hex_encode(hex, sizeof hex, hk, 32), MV_OK);
    memcpy(strstr(doc, "\"hospital_public_key\":\"") + 23, hex, 64);
    assert_int_equal(mv_file_write_atomic(dp, doc, strlen(doc), 0644), MV_OK);
    assert_int_equal(mv_deployment_load_for_user(dp, nd, &d, &fresh), MV_OK);
    assert_int_equal(fresh, 0);
    assert_memory_equal(d.hospital_pk, hk, 32);
    assert_int_equal(mv_hex_encode(hex, sizeof hex, ek, 32), MV_OK);
    memcpy(strstr(doc, "\"hospital_public_key\":\"") + 23, hex, 64);
    assert_int_equal(mv_file_write_atomic(dp, doc, strlen(doc), 0644), MV_OK);
    assert_int_equal(mv_deployment_load(dp, &d), MV_OK);
    assert_int_equal(mv_deployment_load_for_user(dp, nd, &d, &fresh), MV_ERR_AUTH);
    uint8_t zero[sizeof d];
    memset(zero, 0, sizeof zero);
    assert_memory_equal(&d, zero, sizeof d);
    mv_free(doc);

    mv_identity_free(u);
    mv_identity_free(h);
    mv_identity_free(e);
    mv_identity_free(o);
    mv_identity_free(n);
}

static void test_share_file(void **state)
{
    (void)state;
    const char *d = tu_tmpdir();
    uint8_t key[32], shares[3 * 32], pubs[3 * 32];
    mv_r255_scalar_random(key);
    assert_int_equal(mv_shamir_split(key, 2, 3, NULL, shares), MV_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(mv_r255_smul_base(pubs + i * 32, shares + i * 32), MV_OK);
    /* Wrong share for index 2: refused, nothing written. */
    assert_int_equal(mv_keyserver_import_share(d, 2, 2, shares, pubs, 3, 0, 0), MV_ERR_VERIFY);
    mv_ks_share s;
    assert_int_equal(mv_ks_share_load(d, &s), MV_ERR_NOT_FOUND);
    assert_int_equal(mv_keyserver_import_share(d, 2, 2, shares + 32, pubs, 3, 7, 0), MV_OK);
    assert_int_equal(mv_keyserver_import_share(d, 2, 2, shares + 32, pubs, 3, 7, 0), MV_ERR_EXISTS);
    assert_int_equal(mv_ks_share_load(d, &s), MV_OK);
    assert_int_equal(s.index, 2);
    assert_int_equal(s.epoch, 7);
    assert_memory_equal(s.share, shares + 32, 32);
    uint8_t group[32];
    assert_int_equal(mv_r255_smul_base(group, key), MV_OK);
    assert_memory_equal(s.group_pk, group, 32);
    mv_wipe(&s, sizeof s);
    char p[512];
    path(p, sizeof p, d, "share.json");
    assert_int_equal(chmod(p, 0640), 0);
    assert_int_equal(mv_ks_share_load(d, &s), MV_ERR_AUTH);
    mv_wipe(key, 32);
    mv_wipe(shares, sizeof shares);
}

static void test_ratelimit(void **state)
{
    (void)state;
    const char *d = tu_tmpdir();
    uint8_t a[32] = {1}, b[32] = {2};
    mv_ratelimit *rl = NULL;
    long retry = 0;
    assert_int_equal(mv_ratelimit_open(d, 2.0, 10.0, &rl), MV_OK);
    double t = 1000000.0;
    assert_int_equal(mv_ratelimit_take(rl, a, 6, t, &retry), MV_OK);
    assert_int_equal(mv_ratelimit_take(rl, a, 4, t, &retry), MV_OK);
    assert_int_equal(mv_ratelimit_take(rl, a, 1, t, &retry), MV_ERR_RATE_LIMITED);
    assert_int_equal(retry, 1); /* 1 token at 2/s: 0.5 s, rounded up */
    assert_int_equal(mv_ratelimit_take(rl, a, 5, t, &retry), MV_ERR_RATE_LIMITED);
    assert_int_equal(retry, 3); /* 5 tokens at 2/s: 2.5 s */
    assert_int_equal(mv_ratelimit_take(rl, a, 11, t, &retry), MV_ERR_RATE_LIMITED);
    assert_int_equal(retry, -1); /* above the burst: never */
    assert_int_equal(mv_ratelimit_take(rl, b, 10, t, &retry), MV_OK); /* other client unaffected */
    /* Refill: 2 tokens per second. */
    assert_int_equal(mv_ratelimit_take(rl, a, 4, t + 2.0, &retry), MV_OK);
    assert_int_equal(mv_ratelimit_take(rl, a, 1, t + 2.0, &retry), MV_ERR_RATE_LIMITED);
    /* Persisted: reopening does not refill. */
    mv_ratelimit_close(rl);
    rl = NULL;
    assert_int_equal(mv_ratelimit_open(d, 2.0, 10.0, &rl), MV_OK);
    assert_int_equal(mv_ratelimit_take(rl, a, 1, t + 2.0, &retry), MV_ERR_RATE_LIMITED);
    assert_int_equal(mv_ratelimit_take(rl, a, 10, t + 100.0, &retry), MV_OK); /* capped at burst */
    assert_int_equal(mv_ratelimit_take(rl, a, 1, t + 100.0, &retry), MV_ERR_RATE_LIMITED);
    mv_ratelimit_close(rl);
    assert_int_equal(mv_ratelimit_open(d, 0, 10.0, &rl), MV_ERR_INVAL);
}

static void test_keyserver_config(void **state)
{
    (void)state;
    const char *d = tu_tmpdir();
    char p[512];
    size_t line = 0;
    mv_keyserver_config cfg;
    /* No file: the documented defaults. */
    assert_int_equal(mv_keyserver_config_defaults(&cfg, d, &line), MV_OK);
    assert_true(cfg.rate_per_sec == 100 && cfg.rate_burst == 10000 && cfg.threads == 2);
    assert_int_equal(cfg.skew_seconds, 300);
    path(p, sizeof p, d, "keyserver.conf");
    const char *good = "# limits\nrate_burst = 40\nrate_per_sec = 2\nthreads = 8\n";
    assert_int_equal(mv_file_write_atomic(p, good, strlen(good), 0600), MV_OK);
    assert_int_equal(mv_keyserver_config_defaults(&cfg, d, &line), MV_OK);
    assert_true(cfg.rate_burst == 40 && cfg.rate_per_sec == 2 && cfg.threads == 8);
    assert_true(cfg.dkg_timeout_s == 120);
    /* An unknown key (the listen address is a flag only) and a bad value: refused, line named. */
    const char *unknown = "threads = 3\nlisten = 127.0.0.1:1\n";
    assert_int_equal(mv_file_write_atomic(p, unknown, strlen(unknown), 0600), MV_OK);
    line = 0;
    assert_int_equal(mv_keyserver_config_defaults(&cfg, d, &line), MV_ERR_PARSE);
    assert_int_equal(line, 2);
    const char *bad = "\n\nrate_burst = lots\n";
    assert_int_equal(mv_file_write_atomic(p, bad, strlen(bad), 0600), MV_OK);
    line = 0;
    assert_int_equal(mv_keyserver_config_defaults(&cfg, d, &line), MV_ERR_PARSE);
    assert_int_equal(line, 3);
    const char *range = "threads = 0\n";
    assert_int_equal(mv_file_write_atomic(p, range, strlen(range), 0600), MV_OK);
    /* Out of range is malformed input (MV_ERR_PARSE), as in every daemon's config file. */
    assert_int_equal(mv_keyserver_config_defaults(&cfg, d, &line), MV_ERR_PARSE);
    assert_int_equal(line, 1);
}

int main(void)
{
    assert_int_equal(mv_crypto_init(), MV_OK);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_atomic),      cmocka_unit_test(test_identity),
        cmocka_unit_test(test_deployment),       cmocka_unit_test(test_deployment_messages),
        cmocka_unit_test(test_deployment_proxies),
        cmocka_unit_test(test_share_file),       cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_keyserver_config), cmocka_unit_test(test_hospital_pin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
