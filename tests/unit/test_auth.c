/* test_auth.c - credentials and signed requests (mv_auth.h), against DESIGN section 3
 * "Requests": the exact signed string, every rejection reason, replay cache and threads. */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "medvault/mv_auth.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_revocation.h"
#include "medvault/mv_sig.h"

#define T0 1790000000u /* an arbitrary "now" */
#define TARGET "http://127.0.0.1:41001" /* the service the requests are meant for */
#define OTHER "http://127.0.0.1:41002"  /* another service of the same deployment */

typedef struct fixture {
    uint8_t hpk[32], hsk[64];   /* hospital */
    uint8_t upk[32], usk[64];   /* user */
    uint8_t opk[32], osk[64];   /* another user */
    mv_credential cred;
    char cred_b64[MV_CRED_B64_MAX + 1];
} fixture;

static void make_fixture(fixture *f)
{
    memset(f, 0, sizeof *f);
    assert_int_equal(mv_sign_keypair(f->hpk, f->hsk), MV_OK);
    assert_int_equal(mv_sign_keypair(f->upk, f->usk), MV_OK);
    assert_int_equal(mv_sign_keypair(f->opk, f->osk), MV_OK);
    memcpy(f->cred.subject, f->upk, 32);
    snprintf(f->cred.role, sizeof f->cred.role, "doctor");
    f->cred.n_departments = 2;
    snprintf(f->cred.departments[0], sizeof f->cred.departments[0], "cardiology");
    snprintf(f->cred.departments[1], sizeof f->cred.departments[1], "Emergency Dept-2.b_x");
    f->cred.issued_at = T0 - 3600;
    f->cred.expires_at = T0 + 3600;
    assert_int_equal(mv_credential_issue(&f->cred, f->hpk, f->hsk), MV_OK);
    assert_int_equal(mv_credential_encode(&f->cred, f->cred_b64, sizeof f->cred_b64), MV_OK);
}

/* A verifier for f's hospital that accepts TARGET (300 s skew, 1000 nonces). */
static mv_auth_verifier *verifier_for(const fixture *f)
{
    mv_auth_verifier *v = NULL;
    assert_int_equal(mv_auth_verifier_new(f->hpk, 300, 1000, &v), MV_OK);
    assert_int_equal(mv_auth_verifier_add_target(v, TARGET), MV_OK);
    return v;
}

/* A signed request as a client would send it. */
typedef struct req {
    mv_signed_headers h;
    mv_auth_request r;
    char method[16];
    char path[256];
    uint8_t body[64];
} req;

static void make_req(req *q, const fixture *f, const uint8_t *pk, const uint8_t *sk, uint64_t date)
{
    memset(q, 0, sizeof *q);
    snprintf(q->method, sizeof q->method, "POST");
    snprintf(q->path, sizeof q->path, "/v1/records?id=abc&x=%%2F");
    memcpy(q->body, "{\"resourceType\":\"Patient\"}", 26);
    assert_int_equal(mv_auth_sign_request(&q->h, pk, sk, TARGET, q->method, q->path, q->body, 26, date), MV_OK);
    q->r.target = q->h.target;
    q->r.method = q->method;
    q->r.path_and_query = q->path;
    q->r.body = q->body;
    q->r.body_len = 26;
    q->r.key = q->h.key;
    q->r.date = q->h.date;
    q->r.nonce = q->h.nonce;
    q->r.credential = f->cred_b64;
    q->r.signature = q->h.signature;
}

/* Builds the DESIGN section 3 signature by hand (independently of auth.c) with a chosen
 * nonce and date, so the wire format itself is checked. */
static void hand_sign(req *q, const fixture *f, const char *nonce_hex, const char *date)
{
    uint8_t digest[32], sig[64];
    char dhex[65], msg[1024];
    memset(q, 0, sizeof *q);
    snprintf(q->method, sizeof q->method, "GET");
    snprintf(q->path, sizeof q->path, "/v1/blocks/00ff?batch=1");
    assert_int_equal(mv_sha256(digest, NULL, 0), MV_OK);
    assert_int_equal(mv_hex_encode(dhex, sizeof dhex, digest, 32), MV_OK);
    int n = snprintf(msg, sizeof msg, "medvault-req-v2\n%s\n%s\n%s\n%s\n%s\n%s", TARGET, q->method, q->path, date,
                     nonce_hex, dhex);
    assert_true(n > 0 && (size_t)n < sizeof msg);
    assert_int_equal(mv_sign(sig, msg, (size_t)n, f->usk), MV_OK);
    assert_int_equal(mv_hex_encode(q->h.key, sizeof q->h.key, f->upk, 32), MV_OK);
    assert_int_equal(mv_hex_encode(q->h.signature, sizeof q->h.signature, sig, 64), MV_OK);
    snprintf(q->h.nonce, sizeof q->h.nonce, "%s", nonce_hex);
    snprintf(q->h.date, sizeof q->h.date, "%s", date);
    snprintf(q->h.target, sizeof q->h.target, "%s", TARGET);
    q->r.target = q->h.target;
    q->r.method = q->method;
    q->r.path_and_query = q->path;
    q->r.body = NULL;
    q->r.body_len = 0;
    q->r.key = q->h.key;
    q->r.date = q->h.date;
    q->r.nonce = q->h.nonce;
    q->r.credential = f->cred_b64;
    q->r.signature = q->h.signature;
}

static void test_credential_round_trip(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    mv_credential d;
    assert_int_equal(mv_credential_decode(f.cred_b64, strlen(f.cred_b64), &d), MV_OK);
    assert_memory_equal(d.subject, f.upk, 32);
    assert_memory_equal(d.issuer, f.hpk, 32);
    assert_string_equal(d.role, "doctor");
    assert_int_equal(d.n_departments, 2);
    assert_string_equal(d.departments[1], "Emergency Dept-2.b_x");
    assert_int_equal(d.issued_at, T0 - 3600);
    assert_int_equal(d.expires_at, T0 + 3600);
    assert_memory_equal(d.signature, f.cred.signature, 64);
    assert_int_equal(mv_credential_verify(&d, f.hpk, T0), MV_OK);
    assert_true(mv_credential_has_department(&d, "cardiology"));
    assert_false(mv_credential_has_department(&d, "Cardiology"));
    assert_false(mv_credential_has_department(&d, "cardiolog"));
    assert_false(mv_credential_has_department(&d, "cardiologyx"));
    /* The binary layout of mv_auth.h: magic, fixed fields, lengths, 64-byte signature. */
    uint8_t bin[MV_CRED_BIN_MAX];
    size_t n = 0;
    assert_int_equal(mv_b64_decode(bin, sizeof bin, &n, f.cred_b64, strlen(f.cred_b64)), MV_OK);
    assert_int_equal(n, 84 + 1 + 6 + 1 + 1 + 10 + 1 + 20 + 64);
    assert_memory_equal(bin, "MVC1", 4);
    assert_int_equal(bin[68 + 7], (uint8_t)((T0 - 3600) & 0xff));
    assert_int_equal(bin[84], 6);
    assert_int_equal(bin[91], 2);
    /* The signature covers the domain separator and all bytes before it. */
    uint8_t msg[17 + MV_CRED_BIN_MAX];
    memcpy(msg, "medvault-cred-v1\n", 17);
    memcpy(msg + 17, bin, n - 64);
    assert_int_equal(mv_sign_verify(bin + n - 64, msg, 17 + n - 64, f.hpk), MV_OK);
    /* No departments is allowed (e.g. a patient). */
    f.cred.n_departments = 0;
    assert_int_equal(mv_credential_issue(&f.cred, f.hpk, f.hsk), MV_OK);
    assert_int_equal(mv_credential_encode(&f.cred, f.cred_b64, sizeof f.cred_b64), MV_OK);
    assert_int_equal(mv_credential_decode(f.cred_b64, strlen(f.cred_b64), &d), MV_OK);
    assert_int_equal(mv_credential_verify(&d, f.hpk, T0), MV_OK);
    assert_false(mv_credential_has_department(&d, "cardiology"));
    /* Largest credential fits MV_CRED_BIN_MAX and its base64 fits MV_CRED_B64_MAX. */
    memset(f.cred.role, 'r', MV_CRED_MAX_ROLE);
    f.cred.role[MV_CRED_MAX_ROLE] = 0;
    f.cred.n_departments = MV_CRED_MAX_DEPTS;
    for (size_t i = 0; i < MV_CRED_MAX_DEPTS; i++) {
        memset(f.cred.departments[i], 'a' + (int)i, MV_CRED_MAX_DEPT_LEN);
        f.cred.departments[i][MV_CRED_MAX_DEPT_LEN] = 0;
    }
    assert_int_equal(mv_credential_issue(&f.cred, f.hpk, f.hsk), MV_OK);
    assert_int_equal(mv_credential_encode(&f.cred, f.cred_b64, sizeof f.cred_b64), MV_OK);
    assert_int_equal(strlen(f.cred_b64), MV_B64_LEN(MV_CRED_BIN_MAX));
    assert_int_equal(mv_credential_decode(f.cred_b64, strlen(f.cred_b64), &d), MV_OK);
    assert_int_equal(mv_credential_verify(&d, f.hpk, T0), MV_OK);
    assert_int_equal(mv_credential_encode(&f.cred, f.cred_b64, MV_B64_LEN(MV_CRED_BIN_MAX)), MV_ERR_TOO_LARGE);
}

/* mv_role_of and mv_role_name are inverse on the five roles the hospital issues, and every
 * other text (another case, padding, a registry status, "", NULL) is MV_ROLE_NONE, which no
 * credential check accepts: role checks stay exact string matches. */
static void test_role_mapping(void **state)
{
    (void)state;
    static const mv_role roles[] = {MV_ROLE_ADMIN, MV_ROLE_DOCTOR, MV_ROLE_PATIENT, MV_ROLE_KEYSERVER,
                                    MV_ROLE_STORAGE};
    static const char *const names[] = {"admin", "doctor", "patient", "keyserver", "storage"};
    unsigned all = 0;
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        assert_string_equal(mv_role_name(roles[i]), names[i]);
        assert_int_equal(mv_role_of(names[i]), roles[i]);
        assert_int_equal(mv_role_of(mv_role_name(roles[i])), roles[i]);
        /* Distinct bits, so that a set of roles is their OR. */
        assert_int_equal(all & (unsigned)roles[i], 0);
        all |= (unsigned)roles[i];
    }
    static const char *const unknown[] = {"Admin", "ADMIN", "admin ", " doctor", "doctors", "patien",
                                          "keyServer", "decoy", "primary", "nurse", "active", ""};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        assert_int_equal(mv_role_of(unknown[i]), MV_ROLE_NONE);
    assert_int_equal(mv_role_of(NULL), MV_ROLE_NONE);
    assert_string_equal(mv_role_name(MV_ROLE_NONE), "");
    assert_int_equal(mv_role_of(mv_role_name(MV_ROLE_NONE)), MV_ROLE_NONE);
    /* A set of several roles is not one role and has no name. */
    assert_string_equal(mv_role_name((mv_role)(MV_ROLE_ADMIN | MV_ROLE_DOCTOR)), "");
    assert_string_equal(mv_role_name((mv_role)all), "");
}

/* mv_credential_has_role on decoded credentials: the one role it carries, nothing else; a role
 * text outside the five (which the format allows) matches no role, not even MV_ROLE_NONE. */
static void test_credential_has_role(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    mv_credential d;
    assert_int_equal(mv_credential_decode(f.cred_b64, strlen(f.cred_b64), &d), MV_OK);
    assert_true(mv_credential_has_role(&d, MV_ROLE_DOCTOR));
    assert_false(mv_credential_has_role(&d, MV_ROLE_ADMIN));
    assert_false(mv_credential_has_role(&d, MV_ROLE_PATIENT));
    assert_false(mv_credential_has_role(&d, MV_ROLE_NONE));
    assert_false(mv_credential_has_role(&d, (mv_role)(MV_ROLE_DOCTOR | MV_ROLE_ADMIN)));
    assert_false(mv_credential_has_role(NULL, MV_ROLE_DOCTOR));
    static const char *const texts[] = {"storage", "Storage", "nurse"};
    static const mv_role want[] = {MV_ROLE_STORAGE, MV_ROLE_NONE, MV_ROLE_NONE};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        snprintf(f.cred.role, sizeof f.cred.role, "%s", texts[i]);
        assert_int_equal(mv_credential_issue(&f.cred, f.hpk, f.hsk), MV_OK);
        assert_int_equal(mv_credential_encode(&f.cred, f.cred_b64, sizeof f.cred_b64), MV_OK);
        assert_int_equal(mv_credential_decode(f.cred_b64, strlen(f.cred_b64), &d), MV_OK);
        assert_int_equal(mv_credential_has_role(&d, MV_ROLE_STORAGE), want[i] == MV_ROLE_STORAGE);
        assert_false(mv_credential_has_role(&d, MV_ROLE_NONE));
        assert_false(mv_credential_has_role(&d, MV_ROLE_ADMIN));
    }
    /* A hand-filled role without its NUL inside the array is no role at all. */
    memset(d.role, 'a', sizeof d.role);
    assert_false(mv_credential_has_role(&d, MV_ROLE_ADMIN));
}

static void test_credential_issue_rejects(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    mv_credential c = f.cred;
    c.role[0] = 0;
    assert_int_equal(mv_credential_issue(&c, f.hpk, f.hsk), MV_ERR_INVAL);
    c = f.cred;
    c.role[2] = '\n';
    assert_int_equal(mv_credential_issue(&c, f.hpk, f.hsk), MV_ERR_INVAL);
    c = f.cred;
    memset(c.role, 'a', sizeof c.role); /* not NUL-terminated */
    assert_int_equal(mv_credential_issue(&c, f.hpk, f.hsk), MV_ERR_INVAL);
    c = f.cred;
    c.n_departments = MV_CRED_MAX_DEPTS + 1;
    assert_int_equal(mv_credential_issue(&c, f.hpk, f.hsk), MV_ERR_INVAL);
    c = f.cred;
    c.departments[1][0] = 0;
    assert_int_equal(mv_credential_issue(&c, f.hpk, f.hsk), MV_ERR_INVAL);
    c = f.cred;
    c.departments[0][1] = '/';
    assert_int_equal(mv_credential_issue(&c, f.hpk, f.hsk), MV_ERR_INVAL);
    c = f.cred;
    c.expires_at = c.issued_at;
    assert_int_equal(mv_credential_issue(&c, f.hpk, f.hsk), MV_ERR_INVAL);
    c = f.cred;
    assert_int_equal(mv_credential_issue(&c, f.upk, f.hsk), MV_ERR_INVAL); /* pk/sk mismatch */
    uint8_t zero[64] = {0};
    assert_memory_equal(c.signature, zero, 64);
}

static void test_credential_verify_rejects(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    mv_credential c = f.cred;
    /* Validity window: [issued_at - 300, expires_at). */
    assert_int_equal(mv_credential_verify(&c, f.hpk, T0 + 3599), MV_OK);
    assert_int_equal(mv_credential_verify(&c, f.hpk, T0 + 3600), MV_ERR_EXPIRED);
    assert_int_equal(mv_credential_verify(&c, f.hpk, T0 - 3600 - 300), MV_OK);
    assert_int_equal(mv_credential_verify(&c, f.hpk, T0 - 3600 - 301), MV_ERR_EXPIRED);
    /* Wrong hospital key. */
    assert_int_equal(mv_credential_verify(&c, f.opk, T0), MV_ERR_AUTH);
    /* Forged: signed by someone else but claiming the hospital as issuer. */
    c = f.cred;
    assert_int_equal(mv_credential_issue(&c, f.opk, f.osk), MV_OK);
    memcpy(c.issuer, f.hpk, 32);
    assert_int_equal(mv_credential_verify(&c, f.hpk, T0), MV_ERR_AUTH);
    /* Any bit of the signature flipped. */
    for (size_t bit = 0; bit < 512; bit += 7) {
        c = f.cred;
        c.signature[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(mv_credential_verify(&c, f.hpk, T0), MV_ERR_AUTH);
    }
    /* Tampered fields: role, department, subject, dates. */
    c = f.cred;
    snprintf(c.role, sizeof c.role, "admin");
    assert_int_equal(mv_credential_verify(&c, f.hpk, T0), MV_ERR_AUTH);
    c = f.cred;
    c.departments[0][0] = 'C';
    assert_int_equal(mv_credential_verify(&c, f.hpk, T0), MV_ERR_AUTH);
    c = f.cred;
    c.n_departments = 1;
    assert_int_equal(mv_credential_verify(&c, f.hpk, T0), MV_ERR_AUTH);
    c = f.cred;
    c.subject[5] ^= 1;
    assert_int_equal(mv_credential_verify(&c, f.hpk, T0), MV_ERR_AUTH);
    c = f.cred;
    c.expires_at += 1;
    assert_int_equal(mv_credential_verify(&c, f.hpk, T0), MV_ERR_AUTH);
    /* Tampered role through the wire encoding. */
    uint8_t bin[MV_CRED_BIN_MAX];
    size_t n = 0;
    char b64[MV_CRED_B64_MAX + 1];
    assert_int_equal(mv_b64_decode(bin, sizeof bin, &n, f.cred_b64, strlen(f.cred_b64)), MV_OK);
    bin[85] = 'D'; /* "doctor" -> "Doctor" */
    assert_int_equal(mv_b64_encode(b64, sizeof b64, bin, n), MV_OK);
    assert_int_equal(mv_credential_decode(b64, strlen(b64), &c), MV_OK);
    assert_string_equal(c.role, "Doctor");
    assert_int_equal(mv_credential_verify(&c, f.hpk, T0), MV_ERR_AUTH);
}

/* Re-encodes a mutated binary credential and expects decode to fail with `want`. */
static void expect_decode(const uint8_t *bin, size_t n, mv_err want)
{
    char b64[MV_CRED_B64_MAX + 64];
    mv_credential c;
    assert_int_equal(mv_b64_encode(b64, sizeof b64, bin, n), MV_OK);
    assert_int_equal(mv_credential_decode(b64, strlen(b64), &c), want);
    uint8_t zero[sizeof c];
    memset(zero, 0, sizeof zero);
    if (want != MV_OK)
        assert_memory_equal(&c, zero, sizeof c);
}

static void test_credential_decode_malformed(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    uint8_t orig[MV_CRED_BIN_MAX + 8], bin[MV_CRED_BIN_MAX + 8];
    size_t n = 0;
    assert_int_equal(mv_b64_decode(orig, sizeof orig, &n, f.cred_b64, strlen(f.cred_b64)), MV_OK);
    /* Layout offsets for this credential: role len at 84, dept count at 91,
     * dept lengths at 92 and 103, signature at n - 64. */
    memcpy(bin, orig, n);
    expect_decode(bin, n, MV_OK);
    bin[n] = 0; /* trailing byte */
    expect_decode(bin, n + 1, MV_ERR_PARSE);
    expect_decode(bin, n - 1, MV_ERR_PARSE); /* truncated signature */
    expect_decode(bin, 80, MV_ERR_PARSE);    /* truncated fixed part */
    expect_decode(bin, 0, MV_ERR_PARSE);
    memcpy(bin, orig, n);
    bin[3] = '2';
    expect_decode(bin, n, MV_ERR_PARSE); /* magic */
    memcpy(bin, orig, n);
    bin[84] = 0;
    expect_decode(bin, n, MV_ERR_PARSE); /* empty role */
    bin[84] = MV_CRED_MAX_ROLE + 1;
    expect_decode(bin, n, MV_ERR_PARSE); /* role too long */
    bin[84] = 200;
    expect_decode(bin, n, MV_ERR_PARSE); /* role runs past the end */
    memcpy(bin, orig, n);
    bin[86] = 0;
    expect_decode(bin, n, MV_ERR_PARSE); /* NUL inside role */
    bin[86] = 0x7f;
    expect_decode(bin, n, MV_ERR_PARSE);
    bin[86] = '"';
    expect_decode(bin, n, MV_ERR_PARSE);
    memcpy(bin, orig, n);
    bin[91] = MV_CRED_MAX_DEPTS + 1;
    expect_decode(bin, n, MV_ERR_PARSE); /* too many departments */
    bin[91] = 3;
    expect_decode(bin, n, MV_ERR_PARSE); /* count larger than present */
    bin[91] = 1;
    expect_decode(bin, n, MV_ERR_PARSE); /* count smaller: leaves trailing bytes */
    memcpy(bin, orig, n);
    bin[92] = 0;
    expect_decode(bin, n, MV_ERR_PARSE); /* empty department */
    bin[92] = MV_CRED_MAX_DEPT_LEN + 1;
    expect_decode(bin, n, MV_ERR_PARSE);
    memcpy(bin, orig, n);
    bin[95] = 0xc3;
    expect_decode(bin, n, MV_ERR_PARSE); /* non-ASCII in department */
    /* Bad base64 text, and oversized input. */
    mv_credential c;
    assert_int_equal(mv_credential_decode("!!!!", 4, &c), MV_ERR_PARSE);
    assert_int_equal(mv_credential_decode("TVZD", 3, &c), MV_ERR_PARSE);
    assert_int_equal(mv_credential_decode("", 0, &c), MV_ERR_PARSE);
    char big[MV_CRED_B64_MAX + 5];
    memset(big, 'A', sizeof big);
    assert_int_equal(mv_credential_decode(big, sizeof big, &c), MV_ERR_TOO_LARGE);
    assert_int_equal(mv_credential_decode(big, MV_CRED_B64_MAX, &c), MV_ERR_TOO_LARGE); /* 3072 bytes */
    assert_int_equal(mv_credential_decode(big, 1600, &c), MV_ERR_PARSE); /* 1200 bytes: fits, bad magic */
    char b64[MV_CRED_B64_MAX + 1];
    snprintf(b64, sizeof b64, "%s", f.cred_b64);
    b64[10] = '*';
    assert_int_equal(mv_credential_decode(b64, strlen(b64), &c), MV_ERR_PARSE);
}

/* mv_auth_sign_request's output is exactly the DESIGN section 3 signature. */
static void test_request_format(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    mv_signed_headers h;
    const uint8_t body[] = "hello";
    assert_int_equal(mv_auth_sign_request(&h, f.upk, f.usk, TARGET, "PUT", "/a/b?c=d", body, 5, 1700000000), MV_OK);
    char khex[65];
    assert_int_equal(mv_hex_encode(khex, sizeof khex, f.upk, 32), MV_OK);
    assert_string_equal(h.key, khex);
    assert_string_equal(h.date, "1700000000");
    assert_int_equal(strlen(h.nonce), 32);
    assert_int_equal(strlen(h.signature), 128);
    assert_string_equal(h.target, TARGET);
    /* SHA-256("hello") */
    assert_string_equal(h.body_sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    char msg[512];
    int n = snprintf(msg, sizeof msg,
                     "medvault-req-v2\nhttp://127.0.0.1:41001\nPUT\n/a/b?c=d\n1700000000\n%s\n"
                     "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
                     h.nonce);
    uint8_t sig[64];
    assert_int_equal(mv_hex_decode_exact(sig, 64, h.signature, 128), MV_OK);
    assert_int_equal(mv_sign_verify(sig, msg, (size_t)n, f.upk), MV_OK);
    /* Nonces are fresh. */
    mv_signed_headers h2;
    assert_int_equal(mv_auth_sign_request(&h2, f.upk, f.usk, TARGET, "PUT", "/a/b?c=d", body, 5, 1700000000), MV_OK);
    assert_string_not_equal(h.nonce, h2.nonce);
    assert_int_equal(mv_auth_sign_request(&h, f.upk, f.usk, TARGET, "GET", "/", NULL, 0, 0), MV_OK);
    assert_string_equal(h.date, "0");
    /* Caller bugs. */
    assert_int_equal(mv_auth_sign_request(&h, f.upk, f.usk, TARGET, "get", "/", NULL, 0, 1), MV_ERR_INVAL);
    assert_int_equal(mv_auth_sign_request(&h, f.upk, f.usk, TARGET, "", "/", NULL, 0, 1), MV_ERR_INVAL);
    assert_int_equal(mv_auth_sign_request(&h, f.upk, f.usk, TARGET, "GET", "a", NULL, 0, 1), MV_ERR_INVAL);
    assert_int_equal(mv_auth_sign_request(&h, f.upk, f.usk, TARGET, "GET", "/a b", NULL, 0, 1), MV_ERR_INVAL);
    assert_int_equal(mv_auth_sign_request(&h, f.upk, f.usk, TARGET, "GET", "/a\n", NULL, 0, 1), MV_ERR_INVAL);
    assert_int_equal(mv_auth_sign_request(&h, f.upk, f.usk, TARGET, "GET", "/", NULL, 3, 1), MV_ERR_INVAL);
    assert_int_equal(mv_auth_sign_request(&h, f.opk, f.usk, TARGET, "GET", "/", NULL, 0, 1), MV_ERR_INVAL);
    /* Only a canonical origin names a target. */
    static const char *const bad_targets[] = {"", "http://127.0.0.1:41001/", "HTTP://127.0.0.1:41001",
                                              "http://127.0.0.1", "127.0.0.1:41001", "http://a@b:1"};
    for (size_t i = 0; i < sizeof bad_targets / sizeof *bad_targets; i++)
        assert_int_equal(mv_auth_sign_request(&h, f.upk, f.usk, bad_targets[i], "GET", "/", NULL, 0, 1), MV_ERR_INVAL);
    assert_int_equal(mv_auth_sign_request(&h, f.upk, f.usk, NULL, "GET", "/", NULL, 0, 1), MV_ERR_INVAL);
    assert_int_equal(h.key[0], 0);
}

static void test_request_round_trip_and_rejects(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    mv_auth_verifier *v = verifier_for(&f);
    req q;
    mv_credential got;

    make_req(&q, &f, f.upk, f.usk, T0);
    assert_int_equal(mv_auth_verify(v, &q.r, T0, &got), MV_OK);
    assert_string_equal(got.role, "doctor");
    assert_memory_equal(got.subject, f.upk, 32);
    /* Replay of the identical request. */
    assert_int_equal(mv_auth_verify(v, &q.r, T0 + 1, &got), MV_ERR_REPLAY);
    assert_int_equal(got.role[0], 0);

    /* Bad signature: a flipped hex digit; and the nonce is not burnt by a failure. */
    make_req(&q, &f, f.upk, f.usk, T0);
    char saved = q.h.signature[10];
    q.h.signature[10] = saved == '0' ? '1' : '0';
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    q.h.signature[10] = saved;
    /* Body, path, method changed. */
    q.body[0] = '[';
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    q.body[0] = '{';
    q.r.body_len = 25;
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    q.r.body_len = 26;
    q.path[1] = 'w';
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    q.path[1] = 'v';
    snprintf(q.method, sizeof q.method, "PUT");
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    snprintf(q.method, sizeof q.method, "POST");
    /* Date header altered (still in the window): signature covers it. */
    q.r.date = "1790000001";
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    q.r.date = q.h.date;
    /* Nonce altered. */
    saved = q.h.nonce[0];
    q.h.nonce[0] = saved == 'a' ? 'b' : 'a';
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    q.h.nonce[0] = saved;
    /* Unchanged again: accepted (the failures above recorded nothing). */
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_OK);

    /* Stale and future dates beyond 300 s (judged after the signature). */
    make_req(&q, &f, f.upk, f.usk, T0);
    assert_int_equal(mv_auth_verify(v, &q.r, T0 + 301, NULL), MV_ERR_EXPIRED);
    assert_int_equal(mv_auth_verify(v, &q.r, T0 - 301, NULL), MV_ERR_EXPIRED);
    assert_int_equal(mv_auth_verify(v, &q.r, T0 + 300, NULL), MV_OK);
    make_req(&q, &f, f.upk, f.usk, T0);
    assert_int_equal(mv_auth_verify(v, &q.r, T0 - 300, NULL), MV_OK);

    /* Key/subject mismatch: another user signs and presents the first user's credential. */
    make_req(&q, &f, f.opk, f.osk, T0);
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    /* ... or claims the first user's key with her own signature. */
    make_req(&q, &f, f.opk, f.osk, T0);
    assert_int_equal(mv_hex_encode(q.h.key, sizeof q.h.key, f.upk, 32), MV_OK);
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);

    /* Expired credential, credential from another hospital, forged credential. */
    make_req(&q, &f, f.upk, f.usk, T0 + 3600);
    assert_int_equal(mv_auth_verify(v, &q.r, T0 + 3600, NULL), MV_ERR_EXPIRED);
    {
        fixture g = f;
        assert_int_equal(mv_credential_issue(&g.cred, g.opk, g.osk), MV_OK);
        assert_int_equal(mv_credential_encode(&g.cred, g.cred_b64, sizeof g.cred_b64), MV_OK);
        make_req(&q, &g, g.upk, g.usk, T0);
        assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
        memcpy(g.cred.issuer, g.hpk, 32);
        assert_int_equal(mv_credential_encode(&g.cred, g.cred_b64, sizeof g.cred_b64), MV_OK);
        make_req(&q, &g, g.upk, g.usk, T0);
        assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
        snprintf(g.cred.role, sizeof g.cred.role, "admin");
        assert_int_equal(mv_credential_issue(&g.cred, g.hpk, g.hsk), MV_OK);
        g.cred.role[0] = 'A'; /* tampered after issue */
        assert_int_equal(mv_credential_encode(&g.cred, g.cred_b64, sizeof g.cred_b64), MV_OK);
        make_req(&q, &g, g.upk, g.usk, T0);
        assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    }

    /* Missing headers, each in turn (MV-Target alone: a v1 client, test_v1_clients). */
    for (int i = 0; i < 8; i++) {
        make_req(&q, &f, f.upk, f.usk, T0);
        const char **fields[] = {&q.r.key,       &q.r.date,   &q.r.nonce,          &q.r.credential,
                                 &q.r.signature, &q.r.method, &q.r.path_and_query, &q.r.target};
        *fields[i] = NULL;
        assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), i == 7 ? MV_ERR_PROTOCOL : MV_ERR_AUTH);
    }
    /* Malformed header values. */
    static const char *bad_dates[] = {"", "01790000000", "1790000000 ", "+1790000000", "17900000a0",
                                      "99999999999999999999", "123456789012345678901", "-1"};
    for (size_t i = 0; i < sizeof bad_dates / sizeof *bad_dates; i++) {
        make_req(&q, &f, f.upk, f.usk, T0);
        q.r.date = bad_dates[i];
        assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    }
    make_req(&q, &f, f.upk, f.usk, T0);
    q.h.key[63] = 0; /* odd length */
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    make_req(&q, &f, f.upk, f.usk, T0);
    q.h.key[0] = 'g';
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    make_req(&q, &f, f.upk, f.usk, T0);
    q.h.nonce[30] = 0; /* 15 bytes */
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    make_req(&q, &f, f.upk, f.usk, T0);
    q.r.nonce = "00112233445566778899aabbccddeeff00";
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    make_req(&q, &f, f.upk, f.usk, T0);
    q.h.signature[126] = 0;
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    make_req(&q, &f, f.upk, f.usk, T0);
    q.h.signature[5] = 'z';
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    make_req(&q, &f, f.upk, f.usk, T0);
    q.r.credential = "not base64!";
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    q.r.credential = "";
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    {
        char *big = mv_malloc(100000);
        assert_non_null(big);
        memset(big, 'A', 99999);
        big[99999] = 0;
        q.r.credential = big;
        assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
        mv_free(big);
    }
    make_req(&q, &f, f.upk, f.usk, T0);
    q.r.method = "post";
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    q.r.method = "POST";
    q.r.path_and_query = "v1/records";
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    q.r.path_and_query = q.path;
    /* Upper-case hex in MV-Key is accepted (the key is not part of the signed text). */
    for (char *p = q.h.key; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_OK);
    /* Caller bugs. */
    assert_int_equal(mv_auth_verify(NULL, &q.r, T0, NULL), MV_ERR_INVAL);
    assert_int_equal(mv_auth_verify(v, NULL, T0, NULL), MV_ERR_INVAL);
    q.r.body = NULL;
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_INVAL);
    mv_auth_verifier_free(v);
}

/* Nonces are remembered for 2 * skew, then forgotten; the same nonce (re-signed with a
 * fresh date) is accepted again only after that; a full cache refuses (MV_ERR_BUSY). */
static void test_replay_window_and_eviction(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    mv_auth_verifier *v = NULL;
    assert_int_equal(mv_auth_verifier_new(f.hpk, 300, 3, &v), MV_OK);
    assert_int_equal(mv_auth_verifier_add_target(v, TARGET), MV_OK);
    req q;
    const char *nonce = "000102030405060708090a0b0c0d0e0f";
    char date[32];

    snprintf(date, sizeof date, "%u", T0);
    hand_sign(&q, &f, nonce, date);
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_OK);
    /* Same nonce, new date, within 2 * skew of first sight: replay. */
    snprintf(date, sizeof date, "%u", T0 + 600);
    hand_sign(&q, &f, nonce, date);
    assert_int_equal(mv_auth_verify(v, &q.r, T0 + 600, NULL), MV_ERR_REPLAY);
    /* Upper-case spelling of the same nonce is the same nonce. */
    hand_sign(&q, &f, "000102030405060708090A0B0C0D0E0F", date);
    assert_int_equal(mv_auth_verify(v, &q.r, T0 + 600, NULL), MV_ERR_REPLAY);
    /* Fill the cache (3 entries) with fresh nonces at T0 + 100. */
    snprintf(date, sizeof date, "%u", T0 + 100);
    hand_sign(&q, &f, "10000000000000000000000000000000", date);
    assert_int_equal(mv_auth_verify(v, &q.r, T0 + 100, NULL), MV_OK);
    hand_sign(&q, &f, "20000000000000000000000000000000", date);
    assert_int_equal(mv_auth_verify(v, &q.r, T0 + 100, NULL), MV_OK);
    hand_sign(&q, &f, "30000000000000000000000000000000", date);
    assert_int_equal(mv_auth_verify(v, &q.r, T0 + 100, NULL), MV_ERR_BUSY);
    /* A replay is still recognised while full. */
    hand_sign(&q, &f, "10000000000000000000000000000000", date);
    assert_int_equal(mv_auth_verify(v, &q.r, T0 + 100, NULL), MV_ERR_REPLAY);
    /* After 2 * skew the first nonce is evicted: room for one, and the nonce is usable. */
    snprintf(date, sizeof date, "%u", T0 + 601);
    hand_sign(&q, &f, nonce, date);
    assert_int_equal(mv_auth_verify(v, &q.r, T0 + 601, NULL), MV_OK);
    assert_int_equal(mv_auth_verify(v, &q.r, T0 + 601, NULL), MV_ERR_REPLAY);
    hand_sign(&q, &f, "30000000000000000000000000000000", date);
    assert_int_equal(mv_auth_verify(v, &q.r, T0 + 601, NULL), MV_ERR_BUSY);
    /* Long after, everything is gone. */
    snprintf(date, sizeof date, "%u", T0 + 2000);
    for (int i = 1; i <= 3; i++) {
        char n[33];
        snprintf(n, sizeof n, "%d0000000000000000000000000000000", i);
        hand_sign(&q, &f, n, date);
        assert_int_equal(mv_auth_verify(v, &q.r, T0 + 2000, NULL), MV_OK);
    }
    mv_auth_verifier_free(v);

    assert_int_equal(mv_auth_verifier_new(f.hpk, 0, 10, &v), MV_ERR_INVAL);
    assert_int_equal(mv_auth_verifier_new(f.hpk, 300, 0, &v), MV_ERR_INVAL);
    assert_null(v);
}

/* Many nonces: hash chains and ring wrap-around stay consistent. */
static void test_cache_churn(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    mv_auth_verifier *v = NULL;
    assert_int_equal(mv_auth_verifier_new(f.hpk, 10, 64, &v), MV_OK);
    assert_int_equal(mv_auth_verifier_add_target(v, TARGET), MV_OK);
    req q;
    char date[32], nonce[33];
    for (unsigned round = 0; round < 5; round++) {
        uint64_t now = T0 + round * 21;
        snprintf(date, sizeof date, "%llu", (unsigned long long)now);
        for (unsigned i = 0; i < 64; i++) {
            snprintf(nonce, sizeof nonce, "%032x", i);
            hand_sign(&q, &f, nonce, date);
            assert_int_equal(mv_auth_verify(v, &q.r, now, NULL), MV_OK);
        }
        snprintf(nonce, sizeof nonce, "%032x", 99u);
        hand_sign(&q, &f, nonce, date);
        assert_int_equal(mv_auth_verify(v, &q.r, now, NULL), MV_ERR_BUSY);
        for (unsigned i = 0; i < 64; i += 9) {
            snprintf(nonce, sizeof nonce, "%032x", i);
            hand_sign(&q, &f, nonce, date);
            assert_int_equal(mv_auth_verify(v, &q.r, now, NULL), MV_ERR_REPLAY);
        }
    }
    mv_auth_verifier_free(v);
}

typedef struct thread_arg {
    const fixture *f;
    mv_auth_verifier *v;
    int ok, replay;
} thread_arg;

static void *verify_thread(void *p)
{
    thread_arg *a = p;
    for (int i = 0; i < 50; i++) {
        req q;
        make_req(&q, a->f, a->f->upk, a->f->usk, T0);
        a->ok += mv_auth_verify(a->v, &q.r, T0, NULL) == MV_OK;
        a->replay += mv_auth_verify(a->v, &q.r, T0, NULL) == MV_ERR_REPLAY;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    mv_auth_verifier *v = verifier_for(&f);
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){&f, v, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, verify_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(args[i].ok, 50);
        assert_int_equal(args[i].replay, 50);
    }
    mv_auth_verifier_free(v);
}

/* mv_auth_verify_key: a request proving possession of a key, with or without a credential
 * (the hospital's renewal endpoint). Every other check of mv_auth_verify still applies. */
static void test_verify_key(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    mv_auth_verifier *v = verifier_for(&f);
    req q;
    uint8_t key[32];

    /* No credential at all: mv_auth_verify refuses, verify_key accepts and names the key. */
    make_req(&q, &f, f.opk, f.osk, T0);
    q.r.credential = NULL;
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);
    memset(key, 0, sizeof key);
    assert_int_equal(mv_auth_verify_key(v, &q.r, T0, key), MV_OK);
    assert_memory_equal(key, f.opk, 32);
    /* The nonce is burnt for both kinds of request. */
    assert_int_equal(mv_auth_verify_key(v, &q.r, T0, key), MV_ERR_REPLAY);

    /* An expired credential, someone else's credential, or garbage in MV-Credential: ignored. */
    make_req(&q, &f, f.upk, f.usk, T0 + 7200); /* the fixture's credential expired at T0+3600 */
    assert_int_equal(mv_auth_verify(v, &q.r, T0 + 7200, NULL), MV_ERR_EXPIRED);
    assert_int_equal(mv_auth_verify_key(v, &q.r, T0 + 7200, key), MV_OK);
    assert_memory_equal(key, f.upk, 32);
    make_req(&q, &f, f.opk, f.osk, T0);
    assert_int_equal(mv_auth_verify_key(v, &q.r, T0, key), MV_OK);
    assert_memory_equal(key, f.opk, 32);
    make_req(&q, &f, f.opk, f.osk, T0);
    q.r.credential = "not base64 at all";
    assert_int_equal(mv_auth_verify_key(v, &q.r, T0, key), MV_OK);

    /* Signature, date, headers and key are still checked. */
    make_req(&q, &f, f.opk, f.osk, T0);
    q.h.signature[3] = q.h.signature[3] == '0' ? '1' : '0';
    assert_int_equal(mv_auth_verify_key(v, &q.r, T0, key), MV_ERR_AUTH);
    make_req(&q, &f, f.opk, f.osk, T0);
    q.body[1] = 'X';
    assert_int_equal(mv_auth_verify_key(v, &q.r, T0, key), MV_ERR_AUTH);
    make_req(&q, &f, f.opk, f.osk, T0);
    assert_int_equal(mv_auth_verify_key(v, &q.r, T0 + 301, key), MV_ERR_EXPIRED);
    make_req(&q, &f, f.opk, f.osk, T0);
    q.r.key = "00";
    assert_int_equal(mv_auth_verify_key(v, &q.r, T0, key), MV_ERR_AUTH);
    make_req(&q, &f, f.opk, f.osk, T0);
    q.r.nonce = NULL;
    assert_int_equal(mv_auth_verify_key(v, &q.r, T0, key), MV_ERR_AUTH);
    /* Claiming another key with one's own signature. */
    make_req(&q, &f, f.opk, f.osk, T0);
    char upk_hex[65];
    assert_int_equal(mv_hex_encode(upk_hex, sizeof upk_hex, f.upk, 32), MV_OK);
    q.r.key = upk_hex;
    assert_int_equal(mv_auth_verify_key(v, &q.r, T0, key), MV_ERR_AUTH);

    make_req(&q, &f, f.opk, f.osk, T0);
    {
        uint8_t *volatile no_key = NULL; /* hidden from the [static 32] non-null check */
        assert_int_equal(mv_auth_verify_key(v, &q.r, T0, no_key), MV_ERR_INVAL);
    }
    assert_int_equal(mv_auth_verify_key(NULL, &q.r, T0, key), MV_ERR_INVAL);
    assert_int_equal(mv_auth_verify_key(v, NULL, T0, key), MV_ERR_INVAL);
    mv_auth_verifier_free(v);
}

static void revocation_list(const fixture *f, const uint8_t *keys, size_t n, uint64_t serial, mv_revocation_list *l)
{
    mv_buf b;
    mv_buf_init(&b, 1 << 16);
    assert_int_equal(mv_revocation_sign(keys, n, serial, T0, T0 + 10, f->hpk, f->hsk, &b), MV_OK);
    assert_int_equal(mv_revocation_verify(b.ptr, b.len, f->hpk, l), MV_OK);
    mv_buf_clear(&b);
}

/* mv_auth_verifier_set_revocations: a revoked subject is refused only once a list naming it
 * is installed; serials never go back; a revoked key can still prove possession. */
static void test_revocation(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    mv_auth_verifier *v = verifier_for(&f);
    mv_revocation_list l;
    req q;
    uint8_t key[32];

    assert_true(mv_auth_verifier_revocation_serial(v) == 0);
    make_req(&q, &f, f.upk, f.usk, T0);
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_OK);

    /* A list naming someone else: the user still passes. */
    revocation_list(&f, f.opk, 1, 5, &l);
    assert_int_equal(mv_auth_verifier_set_revocations(v, &l), MV_OK);
    mv_revocation_list_clear(&l);
    assert_true(mv_auth_verifier_revocation_serial(v) == 5);
    make_req(&q, &f, f.upk, f.usk, T0);
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_OK);

    /* A list naming the user: refused with MV_ERR_AUTH, and the nonce is not burnt. */
    uint8_t both[64];
    memcpy(both, f.opk, 32);
    memcpy(both + 32, f.upk, 32);
    revocation_list(&f, both, 2, 6, &l);
    assert_int_equal(mv_auth_verifier_set_revocations(v, &l), MV_OK);
    mv_revocation_list_clear(&l);
    assert_true(mv_auth_verifier_revocation_serial(v) == 6);
    make_req(&q, &f, f.upk, f.usk, T0);
    mv_credential got;
    assert_int_equal(mv_auth_verify(v, &q.r, T0, &got), MV_ERR_AUTH);
    assert_true(tu_all_zero((const uint8_t *)&got, sizeof got));
    /* ... but the key can still prove possession (the hospital then consults its registry). */
    assert_int_equal(mv_auth_verify_key(v, &q.r, T0, key), MV_OK);
    assert_memory_equal(key, f.upk, 32);

    /* An older list (a replay of serial 5 that did not name the user) is refused. */
    revocation_list(&f, f.opk, 1, 5, &l);
    assert_int_equal(mv_auth_verifier_set_revocations(v, &l), MV_ERR_BAD_STATE);
    mv_revocation_list_clear(&l);
    assert_true(mv_auth_verifier_revocation_serial(v) == 6);
    make_req(&q, &f, f.upk, f.usk, T0);
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_AUTH);

    /* An equal serial replaces (the hospital re-signs the same state with new times). */
    revocation_list(&f, f.opk, 1, 6, &l);
    assert_int_equal(mv_auth_verifier_set_revocations(v, &l), MV_OK);
    make_req(&q, &f, f.upk, f.usk, T0);
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_OK);
    /* The installed list is a copy: the caller's may be freed. */
    mv_revocation_list_clear(&l);
    make_req(&q, &f, f.opk, f.osk, T0);
    q.r.credential = NULL;
    assert_int_equal(mv_auth_verify_key(v, &q.r, T0, key), MV_OK);

    /* An empty list with a higher serial un-revokes everyone. */
    revocation_list(&f, NULL, 0, 7, &l);
    assert_int_equal(mv_auth_verifier_set_revocations(v, &l), MV_OK);
    mv_revocation_list_clear(&l);
    assert_true(mv_auth_verifier_revocation_serial(v) == 7);

    /* Lists from another issuer, and malformed structs, are never installed. */
    {
        uint8_t xpk[32], xsk[64];
        mv_buf b;
        mv_buf_init(&b, 1 << 16);
        assert_int_equal(mv_sign_keypair(xpk, xsk), MV_OK);
        assert_int_equal(mv_revocation_sign(f.upk, 1, 100, T0, T0, xpk, xsk, &b), MV_OK);
        assert_int_equal(mv_revocation_verify(b.ptr, b.len, xpk, &l), MV_OK);
        assert_int_equal(mv_auth_verifier_set_revocations(v, &l), MV_ERR_AUTH);
        mv_revocation_list_clear(&l);
        mv_buf_clear(&b);
    }
    assert_true(mv_auth_verifier_revocation_serial(v) == 7);
    revocation_list(&f, f.upk, 1, 8, &l);
    uint8_t *keep = l.keys;
    l.keys = NULL;
    assert_int_equal(mv_auth_verifier_set_revocations(v, &l), MV_ERR_INVAL);
    l.keys = keep;
    assert_int_equal(mv_auth_verifier_set_revocations(NULL, &l), MV_ERR_INVAL);
    assert_int_equal(mv_auth_verifier_set_revocations(v, NULL), MV_ERR_INVAL);
    mv_revocation_list_clear(&l);
    assert_true(mv_auth_verifier_revocation_serial(v) == 7);
    assert_true(mv_auth_verifier_revocation_serial(NULL) == 0);
    make_req(&q, &f, f.upk, f.usk, T0);
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_OK);
    mv_auth_verifier_free(v);
}

/* mv_auth_origin: the canonical form both sides compute from a URL. */
static void test_origin(void **state)
{
    (void)state;
    static const char *const good[][2] = {
        {"http://127.0.0.1:41001", "http://127.0.0.1:41001"},
        {"HTTP://LocalHost:8080/v1/x?y#z", "http://localhost:8080"},
        {"http://localhost", "http://localhost:80"},
        {"https://Cloud.Example.org/", "https://cloud.example.org:443"},
        {"https://[::1]:8443/a", "https://[::1]:8443"},
        {"http://h?q", "http://h:80"},
    };
    static const char *const bad[] = {"ftp://h", "http://", "http:///x", "http://u@h", "http://h:",
                                      "http://h:0",  "http://h:65536", "http://h:08", "http://h:1x",
                                      "http://h_x", "http://[]", "http://[g::1]", "http://.h", "h:80"};
    char out[MV_AUTH_MAX_TARGET + 1];
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        assert_int_equal(mv_auth_origin(good[i][0], out, sizeof out), MV_OK);
        assert_string_equal(out, good[i][1]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(mv_auth_origin(bad[i], out, sizeof out), MV_ERR_PARSE);
    assert_int_equal(mv_auth_origin("http://127.0.0.1:41001", out, 10), MV_ERR_TOO_LARGE);
    assert_int_equal(mv_auth_origin(NULL, out, sizeof out), MV_ERR_INVAL);
    /* Daemons' origins: the listen address, and loopback's other names. */
    mv_auth_verifier *v = NULL;
    uint8_t hpk[32] = {1};
    assert_int_equal(mv_auth_verifier_new(hpk, 300, 10, &v), MV_OK);
    assert_int_equal(mv_auth_verifier_add_listen(v, "127.0.0.1:0", 5000), MV_OK);
    assert_int_equal(mv_auth_verifier_add_urls(v, "https://storage.example.org,http://10.0.0.5:9000/"), MV_OK);
    assert_int_equal(mv_auth_verifier_add_urls(NULL, "https://a,"), MV_ERR_PARSE);
    assert_int_equal(mv_auth_verifier_add_urls(NULL, ",https://a"), MV_ERR_PARSE);
    assert_int_equal(mv_auth_verifier_add_urls(NULL, "ftp://a"), MV_ERR_PARSE);
    assert_int_equal(mv_auth_verifier_add_urls(NULL, ""), MV_OK);
    /* Port 0: the listen address's own port (a fixed one is accepted before the server binds);
     * none when it too is 0 (added once bound). */
    assert_int_equal(mv_auth_verifier_add_listen(v, "127.0.0.1:0", 0), MV_OK);
    assert_int_equal(mv_auth_verifier_add_listen(v, "127.0.0.1:x", 0), MV_ERR_INVAL);
    assert_int_equal(mv_auth_verifier_add_listen(v, "nohost", 5), MV_ERR_INVAL);
    assert_int_equal(mv_auth_verifier_add_target(v, "http://localhost"), MV_ERR_INVAL); /* not canonical */
    /* 2 + 2 targets so far; a repeat is free; the table holds MV_AUTH_MAX_TARGETS (8). */
    assert_int_equal(mv_auth_verifier_add_target(v, "http://localhost:5000"), MV_OK);
    assert_int_equal(mv_auth_verifier_add_listen(v, "127.0.0.1:5000", 0), MV_OK); /* the same two */
    for (int i = 1; i <= 4; i++) {
        char t[32];
        snprintf(t, sizeof t, "http://a:%d", i);
        assert_int_equal(mv_auth_verifier_add_target(v, t), MV_OK);
    }
    assert_int_equal(mv_auth_verifier_add_target(v, "http://a:5"), MV_ERR_TOO_LARGE);
    mv_auth_verifier_free(v);
}

/* The signed string names its target: a request signed for one service is refused by every
 * other (finding 6 of issue 11: one admin-signed GET /v1/audit was accepted by six). */
static void test_target_binding(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    mv_auth_verifier *v = NULL, *w = NULL, *none = NULL;
    mv_auth_failure why;
    v = verifier_for(&f);
    assert_int_equal(mv_auth_verifier_new(f.hpk, 300, 1000, &w), MV_OK);
    assert_int_equal(mv_auth_verifier_add_target(w, OTHER), MV_OK);
    assert_int_equal(mv_auth_verifier_new(f.hpk, 300, 1000, &none), MV_OK);
    req q;
    make_req(&q, &f, f.upk, f.usk, T0);
    /* The other service and a service that knows no origin refuse it, and burn no nonce. */
    assert_int_equal(mv_auth_verify_ex(w, &q.r, T0, NULL, &why), MV_ERR_MISDIRECTED);
    assert_int_equal(why, MV_AUTH_FAIL_TARGET);
    assert_int_equal(mv_auth_verify(none, &q.r, T0, NULL), MV_ERR_MISDIRECTED);
    /* Rewriting MV-Target breaks the signature. */
    q.r.target = OTHER;
    assert_int_equal(mv_auth_verify_ex(w, &q.r, T0, NULL, &why), MV_ERR_AUTH);
    assert_int_equal(why, MV_AUTH_FAIL_FORGED);
    q.r.target = q.h.target;
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_OK);
    /* A target longer than any origin is malformed, not looked up. */
    char longt[MV_AUTH_MAX_TARGET + 8];
    memset(longt, 'a', sizeof longt - 1);
    longt[sizeof longt - 1] = 0;
    make_req(&q, &f, f.upk, f.usk, T0);
    q.r.target = longt;
    assert_int_equal(mv_auth_verify_ex(v, &q.r, T0, NULL, &why), MV_ERR_AUTH);
    assert_int_equal(why, MV_AUTH_FAIL_MALFORMED);
    mv_auth_verifier_free(v);
    mv_auth_verifier_free(w);
    mv_auth_verifier_free(none);
}

/* Only a key that provably signed the request is named by a refusal after the signature:
 * an expired or revoked credential presented with a bad signature is a forgery, not an
 * expired or revoked caller (the guard otherwise served the claimed key's records). */
static void test_refusals_after_signature(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    mv_auth_verifier *v = verifier_for(&f);
    mv_auth_failure why;
    req q;
    /* The victim's authentic credential, expired, with a signature by somebody else. */
    make_req(&q, &f, f.opk, f.osk, T0 + 7200);
    assert_int_equal(mv_hex_encode(q.h.key, sizeof q.h.key, f.upk, 32), MV_OK);
    assert_int_equal(mv_auth_verify_ex(v, &q.r, T0 + 7200, NULL, &why), MV_ERR_AUTH);
    assert_int_equal(why, MV_AUTH_FAIL_FORGED);
    /* The same with her real signature: expired. */
    make_req(&q, &f, f.upk, f.usk, T0 + 7200);
    assert_int_equal(mv_auth_verify_ex(v, &q.r, T0 + 7200, NULL, &why), MV_ERR_EXPIRED);
    assert_int_equal(why, MV_AUTH_FAIL_EXPIRED);
    /* Revoked, and a bad signature: forged. */
    mv_revocation_list l;
    memset(&l, 0, sizeof l);
    memcpy(l.issuer, f.hpk, 32);
    l.serial = 1;
    l.n = 1;
    l.keys = f.upk;
    assert_int_equal(mv_auth_verifier_set_revocations(v, &l), MV_OK);
    make_req(&q, &f, f.upk, f.usk, T0);
    q.h.signature[3] = q.h.signature[3] == '0' ? '1' : '0';
    assert_int_equal(mv_auth_verify_ex(v, &q.r, T0, NULL, &why), MV_ERR_AUTH);
    assert_int_equal(why, MV_AUTH_FAIL_FORGED);
    make_req(&q, &f, f.upk, f.usk, T0);
    assert_int_equal(mv_auth_verify_ex(v, &q.r, T0, NULL, &why), MV_ERR_AUTH);
    assert_int_equal(why, MV_AUTH_FAIL_REVOKED);
    /* Skew with a bad signature: forged too. */
    make_req(&q, &f, f.upk, f.usk, T0 - 1000);
    q.h.signature[3] = q.h.signature[3] == '0' ? '1' : '0';
    assert_int_equal(mv_auth_verify_ex(v, &q.r, T0, NULL, &why), MV_ERR_AUTH);
    assert_int_equal(why, MV_AUTH_FAIL_FORGED);
    mv_auth_verifier_free(v);
}

/* MV-Content-SHA256: the signature can be checked from the headers before the body arrives
 * (mv_auth_preverify), and the body must then match. */
static void test_body_digest_and_preverify(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    mv_auth_verifier *v = verifier_for(&f);
    mv_auth_failure why;
    req q;
    make_req(&q, &f, f.upk, f.usk, T0);
    q.r.body_sha256 = q.h.body_sha256;
    /* Headers alone: accepted, nonce untouched, so the full check still passes once. */
    assert_int_equal(mv_auth_preverify(v, &q.r, T0, 1), MV_OK);
    assert_int_equal(mv_auth_preverify(v, &q.r, T0, 1), MV_OK);
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_OK);
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_REPLAY);
    /* Upper-case hex in the header is the same digest. */
    make_req(&q, &f, f.upk, f.usk, T0);
    for (char *p = q.h.body_sha256; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    q.r.body_sha256 = q.h.body_sha256;
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_OK);
    /* A body that is not the signed one: a plain MV_ERR_VERIFY (the key did sign). */
    make_req(&q, &f, f.upk, f.usk, T0);
    q.r.body_sha256 = q.h.body_sha256;
    q.body[3] ^= 1;
    assert_int_equal(mv_auth_preverify(v, &q.r, T0, 1), MV_OK);
    assert_int_equal(mv_auth_verify_ex(v, &q.r, T0, NULL, &why), MV_ERR_VERIFY);
    assert_int_equal(why, MV_AUTH_FAIL_BODY);
    q.body[3] ^= 1;
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_OK); /* the failure burnt no nonce */
    /* A digest header that is not the signed one: forged. */
    make_req(&q, &f, f.upk, f.usk, T0);
    q.h.body_sha256[0] = q.h.body_sha256[0] == '0' ? '1' : '0';
    q.r.body_sha256 = q.h.body_sha256;
    assert_int_equal(mv_auth_preverify(v, &q.r, T0, 1), MV_ERR_AUTH);
    assert_int_equal(mv_auth_verify_ex(v, &q.r, T0, NULL, &why), MV_ERR_AUTH);
    assert_int_equal(why, MV_AUTH_FAIL_FORGED);
    q.r.body_sha256 = "xyz";
    assert_int_equal(mv_auth_verify_ex(v, &q.r, T0, NULL, &why), MV_ERR_AUTH);
    assert_int_equal(why, MV_AUTH_FAIL_MALFORMED);
    /* preverify needs the header, and refuses what verify would. */
    make_req(&q, &f, f.upk, f.usk, T0);
    assert_int_equal(mv_auth_preverify(v, &q.r, T0, 1), MV_ERR_AUTH);
    q.r.body_sha256 = q.h.body_sha256;
    assert_int_equal(mv_auth_preverify(v, &q.r, T0 + 301, 1), MV_ERR_EXPIRED);
    assert_int_equal(mv_auth_preverify(v, &q.r, T0 + 7200, 1), MV_ERR_EXPIRED);
    q.r.credential = NULL;
    assert_int_equal(mv_auth_preverify(v, &q.r, T0, 1), MV_ERR_AUTH);
    assert_int_equal(mv_auth_preverify(v, &q.r, T0, 0), MV_OK); /* key possession only */
    q.r.credential = f.cred_b64;
    q.r.body = NULL; /* ignored */
    assert_int_equal(mv_auth_preverify(v, &q.r, T0, 1), MV_OK);
    mv_auth_verifier *w = NULL;
    assert_int_equal(mv_auth_verifier_new(f.hpk, 300, 1000, &w), MV_OK);
    assert_int_equal(mv_auth_verifier_add_target(w, OTHER), MV_OK);
    assert_int_equal(mv_auth_preverify(w, &q.r, T0, 1), MV_ERR_MISDIRECTED);
    mv_auth_verifier_free(w);
    /* A replayed request's headers: refused before its body too. */
    make_req(&q, &f, f.upk, f.usk, T0);
    q.r.body_sha256 = q.h.body_sha256;
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_OK);
    assert_int_equal(mv_auth_preverify(v, &q.r, T0, 1), MV_ERR_REPLAY);
    mv_auth_verifier_free(v);
}

/* A client of signed requests v1 (no MV-Target) with an authentic credential of its key is
 * told so (MV_ERR_PROTOCOL); without one it is a forger like any other. */
static void test_v1_clients(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    mv_auth_verifier *v = verifier_for(&f);
    mv_auth_failure why;
    req q;
    make_req(&q, &f, f.upk, f.usk, T0);
    q.r.target = NULL;
    assert_int_equal(mv_auth_verify_ex(v, &q.r, T0, NULL, &why), MV_ERR_PROTOCOL);
    assert_int_equal(why, MV_AUTH_FAIL_VERSION);
    make_req(&q, &f, f.opk, f.osk, T0); /* another key with her credential */
    q.r.target = NULL;
    assert_int_equal(mv_auth_verify_ex(v, &q.r, T0, NULL, &why), MV_ERR_AUTH);
    assert_int_equal(why, MV_AUTH_FAIL_FORGED);
    make_req(&q, &f, f.upk, f.usk, T0);
    q.r.target = NULL;
    q.r.credential = "AAAA";
    assert_int_equal(mv_auth_verify_ex(v, &q.r, T0, NULL, &why), MV_ERR_AUTH);
    assert_int_equal(why, MV_AUTH_FAIL_MALFORMED);
    mv_auth_verifier_free(v);
}

/* Loopback's other names belong to 127.0.0.1 only: a service on 127.0.0.2:P does not accept
 * a request meant for 127.0.0.1:P. */
static void test_listen_aliases(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    mv_auth_verifier *v = NULL;
    assert_int_equal(mv_auth_verifier_new(f.hpk, 300, 1000, &v), MV_OK);
    assert_int_equal(mv_auth_verifier_add_listen(v, "127.0.0.2:0", 41001), MV_OK);
    req q;
    make_req(&q, &f, f.upk, f.usk, T0); /* signed for http://127.0.0.1:41001 */
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_ERR_MISDIRECTED);
    mv_auth_verifier_free(v);
    assert_int_equal(mv_auth_verifier_new(f.hpk, 300, 1000, &v), MV_OK);
    assert_int_equal(mv_auth_verifier_add_listen(v, "0.0.0.0:0", 41001), MV_OK);
    make_req(&q, &f, f.upk, f.usk, T0);
    assert_int_equal(mv_auth_verify(v, &q.r, T0, NULL), MV_OK);
    mv_auth_verifier_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credential_round_trip),
        cmocka_unit_test(test_role_mapping),
        cmocka_unit_test(test_credential_has_role),
        cmocka_unit_test(test_credential_issue_rejects),
        cmocka_unit_test(test_credential_verify_rejects),
        cmocka_unit_test(test_credential_decode_malformed),
        cmocka_unit_test(test_request_format),
        cmocka_unit_test(test_request_round_trip_and_rejects),
        cmocka_unit_test(test_replay_window_and_eviction),
        cmocka_unit_test(test_cache_churn),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_verify_key),
        cmocka_unit_test(test_revocation),
        cmocka_unit_test(test_origin),
        cmocka_unit_test(test_target_binding),
        cmocka_unit_test(test_refusals_after_signature),
        cmocka_unit_test(test_body_digest_and_preverify),
        cmocka_unit_test(test_v1_clients),
        cmocka_unit_test(test_listen_aliases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
