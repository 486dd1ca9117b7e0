/* test_pre_proxy.c - the two clouds' re-encryption proxies (docs/pre.md 7.3) against real
 * processes: the storage server (proxy 1, its --identity's key) and `medvault storage run
 * --role proxy --proxy-index 2` (the second cloud). Delegations are built with mv_pre_* and
 * uploaded with signed requests. Checks: upload, list, get and revoke; each cloud on its own
 * refuses a wrong recipient (404), a wrong role or department (403), a window that has ended
 * or not begun (403), a revoked delegation (404 at both), a kfrag sealed to the other proxy
 * (400) and an over-cap body (413); the cfrags verify and open with both clouds' answers, not
 * with one; a delegation acknowledged just before a kill -9 is there after the restart; and
 * no 32-byte window of any file of either cloud (data and identity directories) opens a
 * capsule as the label key, as the recipient's key or as a wrapping key. */
#include "testutil.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_credential.h"
#include "medvault/mv_delegation.h"
#include "medvault/mv_file.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_pre.h"
#include "medvault/mv_record.h"
#include "storage/pre_proxy.h"

#define NCLOUD 2

static char g_dir[256];
static mv_identity *g_hosp;

/* One cloud: its process, data and identity directories. */
typedef struct cloud {
    char data[320], ident[320], portfile[340];
    mv_identity *id;
    pid_t pid;
    unsigned port;
} cloud;

static cloud g_c[NCLOUD];

/* A user: an identity and credentials for it. */
typedef struct user {
    mv_identity *id;
    char *cred; /* the main credential */
} user;

static user g_owner, g_rcpt, g_stranger;
static char *g_rcpt_nurse, *g_rcpt_oncology; /* the recipient's other credentials */

static char *issue(const mv_identity *id, const char *role, const char *dept)
{
    return tu_credential(g_hosp, mv_identity_sign_pk(id), role, dept);
}

static user make_user(const char *name, const char *role, const char *dept)
{
    char d[400];
    user u = {0};
    snprintf(d, sizeof d, "%s/%s", g_dir, name);
    assert_int_equal(mv_identity_create(d, &u.id), MV_OK);
    u.cred = issue(u.id, role, dept);
    return u;
}

static void start_cloud(int i)
{
    char hk[65];
    cloud *c = &g_c[i];
    assert_int_equal(mv_hex_encode(hk, sizeof hk, mv_identity_sign_pk(g_hosp), 32), MV_OK);
    if (i == 0) {
        const char *args[] = {"storage", "run", "--dir", c->data, "--identity", c->ident, "--listen", "127.0.0.1:0",
                              "--hospital-key", hk, "--port-file", c->portfile, "--threads", "4", NULL};
        c->pid = tu_daemon_start("storage server (proxy 1)", c->portfile, args, &c->port);
    } else {
        const char *args[] = {"storage", "run", "--role", "proxy", "--proxy-index", "2", "--dir", c->data,
                              "--identity", c->ident, "--listen", "127.0.0.1:0", "--hospital-key", hk,
                              "--port-file", c->portfile, "--threads", "4", NULL};
        c->pid = tu_daemon_start("proxy 2", c->portfile, args, &c->port);
    }
}

static long call(int i, const char *method, const char *path, const void *body, size_t len, const mv_identity *id,
                 const char *cred, mv_buf *out)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", g_c[i].port, path);
    return tu_call(method, url, body, len, id, cred, out);
}

/* ---------- delegations ---------- */

#define NENT 2

typedef struct deleg {
    mv_pre_delegation d;
    mv_pre_entry *e;
    uint8_t (*secret)[32]; /* what the entries wrap */
    uint8_t a[32];            /* the label key (the owner's) */
    uint8_t b[32], B[32];     /* the recipient's re-encryption key pair */
    mv_buf enc;               /* the signed MVPD */
    uint8_t hash[32];
    char hex[65];
    mv_buf up[NCLOUD]; /* the MVPU upload for each cloud */
} deleg;

/* A 2-of-2 delegation of episode label from g_owner to g_rcpt (doctor, cardiology) valid in
 * [issued, expires); kfrag i sealed to cloud seal_to[i]'s key. */
static void deleg_make_n(deleg *x, uint8_t label_byte, const uint8_t *record, uint64_t issued, uint64_t expires,
                         const int seal_to[NCLOUD], size_t n_ent)
{
    uint8_t seed[MV_PRE_SEED_BYTES], rseed[MV_PRE_SEED_BYTES], A[32];
    mv_pre_kfrag kf[NCLOUD];
    memset(x, 0, sizeof *x);
    mv_pre_seed(mv_identity_box_sk(g_owner.id), seed);
    mv_pre_seed(mv_identity_box_sk(g_rcpt.id), rseed);
    assert_int_equal(mv_pre_recipient_key(rseed, x->b, x->B), MV_OK);
    mv_pre_delegation *d = &x->d;
    memcpy(d->owner, mv_identity_sign_pk(g_owner.id), 32);
    d->label_kind = record ? MV_PRE_LABEL_RECORD : MV_PRE_LABEL_EPISODE;
    memset(d->label, label_byte, 16);
    if (record)
        memcpy(d->label, record, 16);
    assert_int_equal(mv_pre_label_key(seed, d->owner, d->label_kind, d->label, x->a, A), MV_OK);
    memcpy(d->pk_A, A, 32);
    memcpy(d->recipient, mv_identity_sign_pk(g_rcpt.id), 32);
    memcpy(d->pk_B, x->B, 32);
    d->role = MV_ROLE_DOCTOR;
    snprintf(d->department, sizeof d->department, "cardiology");
    d->issued_at = issued;
    d->expires_at = expires;
    d->t = 2;
    d->n = 2;
    assert_int_equal(mv_pre_kfrags(x->a, A, x->B, 2, 2, NULL, d->X_A, kf), MV_OK);
    for (unsigned i = 0; i < NCLOUD; i++) {
        d->commit[i].proxy = (uint8_t)(i + 1);
        memcpy(d->commit[i].kfrag_id, kf[i].id, 32);
        memcpy(d->commit[i].U1, kf[i].U1, 32);
    }
    x->e = mv_calloc(n_ent, sizeof *x->e);
    x->secret = mv_calloc(n_ent, sizeof *x->secret);
    assert_true(x->e && x->secret);
    for (unsigned i = 0; i < n_ent; i++) {
        uint8_t k[32];
        x->e[i].kind = record ? MV_PRE_ENTRY_RECORD : MV_PRE_ENTRY_KEYSET;
        randombytes_buf(x->e[i].ref, 16);
        x->e[i].ref[0] = (uint8_t)(i >> 8); /* ascending */
        x->e[i].ref[1] = (uint8_t)i;
        if (record)
            memcpy(x->e[i].ref, record, 16);
        randombytes_buf(x->secret[i], 32);
        assert_int_equal(mv_pre_encapsulate(A, NULL, x->e[i].capsule, k), MV_OK);
        assert_int_equal(mv_pre_wrap(k, x->e[i].capsule, x->e[i].ref, x->secret[i], x->e[i].wrapped), MV_OK);
        sodium_memzero(k, sizeof k);
    }
    d->n_entries = n_ent;
    d->entries = x->e;
    mv_buf_init(&x->enc, MV_PRE_DELEGATION_MAX_BYTES);
    assert_int_equal(mv_pre_delegation_sign(d, mv_identity_sign_sk(g_owner.id), &x->enc), MV_OK);
    mv_pre_delegation_hash(x->enc.ptr, x->enc.len, x->hash);
    assert_int_equal(mv_hex_encode(x->hex, sizeof x->hex, x->hash, 32), MV_OK);
    for (unsigned i = 0; i < NCLOUD; i++) {
        uint8_t head[9], sealed[MV_PRE_SEALED_KFRAG_BYTES];
        int to = seal_to ? seal_to[i] : (int)i;
        memcpy(head, "MVPU", 4);
        head[4] = 1;
        head[5] = (uint8_t)(x->enc.len >> 24);
        head[6] = (uint8_t)(x->enc.len >> 16);
        head[7] = (uint8_t)(x->enc.len >> 8);
        head[8] = (uint8_t)x->enc.len;
        assert_int_equal(mv_pre_kfrag_seal(&kf[i], (uint8_t)(i + 1), mv_identity_box_pk(g_c[to].id), sealed), MV_OK);
        mv_buf_init(&x->up[i], PRE_PROXY_MAX_BODY);
        assert_int_equal(mv_buf_append(&x->up[i], head, sizeof head), MV_OK);
        assert_int_equal(mv_buf_append(&x->up[i], x->enc.ptr, x->enc.len), MV_OK);
        assert_int_equal(mv_buf_append(&x->up[i], sealed, sizeof sealed), MV_OK);
    }
    sodium_memzero(kf, sizeof kf);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(rseed, sizeof rseed);
}

/* deleg_make_n with NENT entries (a record's delegation: its one key). */
static void deleg_make_for(deleg *x, uint8_t label_byte, const uint8_t *record, uint64_t issued, uint64_t expires,
                           const int seal_to[NCLOUD])
{
    deleg_make_n(x, label_byte, record, issued, expires, seal_to, record ? 1 : NENT);
}

/* An episode delegation (label 16 x label_byte) with NENT keyset entries. */
static void deleg_make(deleg *x, uint8_t label_byte, uint64_t issued, uint64_t expires, const int seal_to[NCLOUD])
{
    deleg_make_for(x, label_byte, NULL, issued, expires, seal_to);
}

static void deleg_clear(deleg *x)
{
    mv_buf_clear(&x->enc);
    if (x->secret)
        sodium_memzero(x->secret, x->d.n_entries * sizeof *x->secret);
    mv_free(x->e);
    mv_free(x->secret);
    for (unsigned i = 0; i < NCLOUD; i++)
        mv_buf_clear(&x->up[i]);
}

static long upload(int i, const deleg *x, const user *u)
{
    return call(i, "POST", "/v1/pre/delegations", x->up[i].ptr, x->up[i].len, u->id, u->cred, NULL);
}

static long by_hash(int i, const char *path, const deleg *x, const mv_identity *id, const char *cred, mv_buf *out)
{
    char body[128];
    snprintf(body, sizeof body, "{\"delegation\":\"%s\"}", x->hex);
    return call(i, "POST", path, body, strlen(body), id, cred, out);
}

static long reencrypt(int i, const deleg *x, const mv_identity *id, const char *cred, mv_buf *out)
{
    return by_hash(i, "/v1/pre/reencrypt", x, id, cred, out);
}

/* Checks cloud i's MVCF answer and copies its cfrags (NENT of them) into cf. */
static void check_mvcf(int i, const deleg *x, const mv_buf *ans, uint8_t cf[NENT][MV_PRE_CFRAG_BYTES])
{
    assert_int_equal(ans->len, MV_PRE_CFRAGS_BYTES(NENT));
    assert_memory_equal(ans->ptr, "MVCF\x01", 5);
    assert_int_equal(ans->ptr[5], i + 1);
    assert_memory_equal(ans->ptr + 6, x->hash, 32);
    assert_int_equal(ans->ptr[38] << 8 | ans->ptr[39], NENT);
    for (unsigned e = 0; e < NENT; e++) {
        memcpy(cf[e], ans->ptr + 40 + e * MV_PRE_CFRAG_BYTES, MV_PRE_CFRAG_BYTES);
        assert_int_equal(mv_pre_cfrag_verify(x->e[e].capsule, cf[e], x->d.commit[i].kfrag_id, x->d.commit[i].U1,
                                             x->hash),
                         MV_OK);
    }
}

/* The recipient fetches both clouds' cfrags and opens every entry; with one cloud's she cannot. */
static void open_with_clouds(const deleg *x)
{
    uint8_t cf[NCLOUD][NENT][MV_PRE_CFRAG_BYTES];
    mv_buf ans;
    mv_buf_init(&ans, 1 << 20);
    for (int i = 0; i < NCLOUD; i++) {
        assert_int_equal(reencrypt(i, x, g_rcpt.id, g_rcpt.cred, &ans), 200);
        check_mvcf(i, x, &ans, cf[i]);
    }
    for (unsigned e = 0; e < NENT; e++) {
        uint8_t both[2 * MV_PRE_CFRAG_BYTES], key[32], secret[32];
        memcpy(both, cf[0][e], MV_PRE_CFRAG_BYTES);
        memcpy(both + MV_PRE_CFRAG_BYTES, cf[1][e], MV_PRE_CFRAG_BYTES);
        assert_int_equal(
            mv_pre_decapsulate_frags(x->b, x->B, x->d.pk_A, x->d.X_A, x->e[e].capsule, both, 2, key), MV_OK);
        assert_int_equal(mv_pre_unwrap(key, x->e[e].capsule, x->e[e].ref, x->e[e].wrapped, secret), MV_OK);
        assert_memory_equal(secret, x->secret[e], 32);
        for (int i = 0; i < NCLOUD; i++)
            assert_int_not_equal(
                mv_pre_decapsulate_frags(x->b, x->B, x->d.pk_A, x->d.X_A, x->e[e].capsule, cf[i][e], 1, key), MV_OK);
    }
    mv_buf_clear(&ans);
}

static int listed(int i, const deleg *x, const user *u)
{
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    assert_int_equal(call(i, "GET", "/v1/pre/delegations", NULL, 0, u->id, u->cred, &b), 200);
    assert_int_equal(mv_buf_append(&b, "", 1), MV_OK);
    int hit = strstr((const char *)b.ptr, x->hex) != NULL;
    mv_buf_clear(&b);
    return hit;
}

static uint64_t now(void)
{
    return (uint64_t)time(NULL);
}

/* ---------- tests ---------- */

static void test_upload_policy_revoke(void **state)
{
    (void)state;
    deleg x, y;
    mv_buf b;
    char path[128];
    mv_buf_init(&b, 1 << 20);
    deleg_make(&x, 0x11, now() - 60, now() + 3600, NULL);
    for (int i = 0; i < NCLOUD; i++) {
        /* Only the owner may upload; then 201, and 200 for the same bytes again. */
        assert_int_equal(upload(i, &x, &g_rcpt), 403);
        assert_int_equal(call(i, "POST", "/v1/pre/delegations", x.up[i].ptr, x.up[i].len, g_owner.id, g_owner.cred,
                              &b),
                         201);
        assert_int_equal(mv_buf_append(&b, "", 1), MV_OK);
        assert_non_null(strstr((const char *)b.ptr, x.hex));
        assert_int_equal(upload(i, &x, &g_owner), 200);
        /* Malformed: a flipped byte in the signed delegation (its label, past the owner field,
         * whose change would make it another owner's: 403). */
        x.up[i].ptr[60] ^= 1;
        assert_int_equal(upload(i, &x, &g_owner), 400);
        x.up[i].ptr[60] ^= 1;
        /* Listed for the owner and the recipient, not for a stranger. */
        assert_true(listed(i, &x, &g_owner));
        assert_true(listed(i, &x, &g_rcpt));
        assert_false(listed(i, &x, &g_stranger));
        snprintf(path, sizeof path, "/v1/pre/delegations/%s", x.hex);
        assert_int_equal(call(i, "GET", path, NULL, 0, g_rcpt.id, g_rcpt.cred, &b), 200);
        assert_int_equal(b.len, x.enc.len);
        assert_memory_equal(b.ptr, x.enc.ptr, x.enc.len);
        assert_int_equal(call(i, "GET", path, NULL, 0, g_stranger.id, g_stranger.cred, &b), 404);
        /* Each cloud enforces the policy by itself. */
        assert_int_equal(reencrypt(i, &x, g_stranger.id, g_stranger.cred, &b), 404);
        assert_int_equal(reencrypt(i, &x, g_owner.id, g_owner.cred, &b), 404);
        assert_int_equal(reencrypt(i, &x, g_rcpt.id, g_rcpt_nurse, &b), 403);
        assert_int_equal(mv_buf_append(&b, "", 1), MV_OK);
        assert_non_null(strstr((const char *)b.ptr, "role"));
        assert_int_equal(reencrypt(i, &x, g_rcpt.id, g_rcpt_oncology, &b), 403);
        assert_int_equal(mv_buf_append(&b, "", 1), MV_OK);
        assert_non_null(strstr((const char *)b.ptr, "department"));
        /* Unsigned: 401. */
        assert_int_equal(reencrypt(i, &x, NULL, NULL, &b), 401);
    }
    open_with_clouds(&x);

    /* Another delegation of the same label to the same recipient while x is active: 409. */
    deleg_make(&y, 0x11, now() - 60, now() + 7200, NULL);
    for (int i = 0; i < NCLOUD; i++)
        assert_int_equal(upload(i, &y, &g_owner), 409);

    /* Revocation: a stranger's is 404 (as an unknown hash); the owner's removes it at both. */
    for (int i = 0; i < NCLOUD; i++) {
        assert_int_equal(by_hash(i, "/v1/pre/revoke", &x, g_stranger.id, g_stranger.cred, &b), 404);
        assert_int_equal(by_hash(i, "/v1/pre/revoke", &x, g_owner.id, g_owner.cred, &b), 200);
        assert_int_equal(by_hash(i, "/v1/pre/revoke", &x, g_owner.id, g_owner.cred, &b), 404);
    }
    for (int i = 0; i < NCLOUD; i++) {
        assert_int_equal(reencrypt(i, &x, g_rcpt.id, g_rcpt.cred, &b), 404);
        assert_false(listed(i, &x, &g_rcpt));
        snprintf(path, sizeof path, "/v1/pre/delegations/%s", x.hex);
        assert_int_equal(call(i, "GET", path, NULL, 0, g_owner.id, g_owner.cred, &b), 404);
        /* Now the replacement is accepted. */
        assert_int_equal(upload(i, &y, &g_owner), 201);
    }
    open_with_clouds(&y);
    for (int i = 0; i < NCLOUD; i++)
        assert_int_equal(by_hash(i, "/v1/pre/revoke", &y, g_owner.id, g_owner.cred, &b), 200);
    deleg_clear(&x);
    deleg_clear(&y);
    mv_buf_clear(&b);
}

static void test_window(void **state)
{
    (void)state;
    deleg x, late, old;
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    uint64_t t = now();
    deleg_make(&x, 0x21, t - 60, t + 3, NULL);
    deleg_make(&late, 0x22, t + 3600, t + 7200, NULL);
    deleg_make(&old, 0x23, t - 7200, t - 3600, NULL);
    for (int i = 0; i < NCLOUD; i++) {
        assert_int_equal(upload(i, &x, &g_owner), 201);
        assert_int_equal(upload(i, &late, &g_owner), 201);
        assert_int_equal(upload(i, &old, &g_owner), 400); /* over already */
        assert_int_equal(reencrypt(i, &late, g_rcpt.id, g_rcpt.cred, &b), 403);
        assert_int_equal(mv_buf_append(&b, "", 1), MV_OK);
        assert_non_null(strstr((const char *)b.ptr, "not yet valid"));
    }
    open_with_clouds(&x);
    sleep(4);
    for (int i = 0; i < NCLOUD; i++) {
        assert_int_equal(reencrypt(i, &x, g_rcpt.id, g_rcpt.cred, &b), 403);
        assert_int_equal(mv_buf_append(&b, "", 1), MV_OK);
        assert_non_null(strstr((const char *)b.ptr, "expired"));
        assert_false(listed(i, &x, &g_rcpt));
        assert_false(listed(i, &x, &g_owner));
        assert_true(listed(i, &late, &g_rcpt));
        assert_int_equal(by_hash(i, "/v1/pre/revoke", &late, g_owner.id, g_owner.cred, &b), 200);
    }
    deleg_clear(&x);
    deleg_clear(&late);
    deleg_clear(&old);
    mv_buf_clear(&b);
}

/* A kfrag sealed to the other cloud's key is refused by each; so is a body over the cap,
 * answered 413 from its announced length (an unsigned one too: nothing was read). */
static void test_wrong_seal_and_cap(void **state)
{
    (void)state;
    const int swapped[NCLOUD] = {1, 0};
    deleg x;
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    deleg_make(&x, 0x31, now() - 60, now() + 3600, swapped);
    uint8_t *big = mv_calloc(1, PRE_PROXY_MAX_BODY + 1);
    assert_non_null(big);
    for (int i = 0; i < NCLOUD; i++) {
        assert_int_equal(upload(i, &x, &g_owner), 400);
        assert_false(listed(i, &x, &g_owner));
        assert_int_equal(call(i, "POST", "/v1/pre/delegations", big, PRE_PROXY_MAX_BODY + 1, g_owner.id,
                              g_owner.cred, &b),
                         413);
        assert_int_equal(call(i, "POST", "/v1/pre/delegations", big, PRE_PROXY_MAX_BODY + 1, NULL, NULL, &b), 413);
        /* At the cap it is read, and refused as malformed. */
        assert_int_equal(
            call(i, "POST", "/v1/pre/delegations", big, PRE_PROXY_MAX_BODY, g_owner.id, g_owner.cred, &b), 400);
    }
    mv_free(big);
    deleg_clear(&x);
    mv_buf_clear(&b);
}

/* A 201 means the delegation is on disk: a kill -9 right after it loses nothing. */
static void test_kill9(void **state)
{
    (void)state;
    deleg x;
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    deleg_make(&x, 0x41, now() - 60, now() + 3600, NULL);
    for (int i = 0; i < NCLOUD; i++) {
        assert_int_equal(upload(i, &x, &g_owner), 201);
        tu_daemon_kill(&g_c[i].pid);
        start_cloud(i);
    }
    open_with_clouds(&x);
    /* A revocation is durable too. */
    for (int i = 0; i < NCLOUD; i++) {
        assert_int_equal(by_hash(i, "/v1/pre/revoke", &x, g_owner.id, g_owner.cred, &b), 200);
        tu_daemon_kill(&g_c[i].pid);
        start_cloud(i);
        assert_int_equal(reencrypt(i, &x, g_rcpt.id, g_rcpt.cred, &b), 404);
    }
    deleg_clear(&x);
    mv_buf_clear(&b);
}

/* ---------- no key at rest ---------- */

typedef struct scan {
    const deleg *x;
    uint8_t cf[NENT][2 * MV_PRE_CFRAG_BYTES]; /* both clouds' cfrags of each entry */
    uint8_t key[NENT][32];                    /* each capsule's true key */
    size_t windows, files;
} scan;

/* 1 if the 32 bytes w open anything of x: as the label key, the recipient's key (with both
 * clouds' cfrags: a stronger attacker than one cloud), or a capsule's wrapping key. */
static int opens(const scan *s, const uint8_t w[32])
{
    uint8_t key[32], secret[32];
    const deleg *x = s->x;
    for (unsigned e = 0; e < NENT; e++) {
        if (mv_pre_decapsulate(w, x->e[e].capsule, key) == MV_OK && sodium_memcmp(key, s->key[e], 32) == 0)
            return 1;
        if (mv_pre_decapsulate_frags(w, x->B, x->d.pk_A, x->d.X_A, x->e[e].capsule, s->cf[e], 2, key) == MV_OK)
            return 1;
        if (mv_pre_unwrap(w, x->e[e].capsule, x->e[e].ref, x->e[e].wrapped, secret) == MV_OK)
            return 1;
    }
    return 0;
}

static void scan_file(scan *s, const char *path)
{
    mv_buf b;
    mv_buf_init(&b, (size_t)64 << 20);
    mv_err rc = mv_file_read(path, (size_t)64 << 20, &b);
    assert_int_equal(rc, MV_OK);
    s->files++;
    for (size_t off = 0; off + 32 <= b.len; off++) {
        if (tu_all_zero(b.ptr + off, 32))
            continue; /* no key is zero; most of an LMDB file is */
        s->windows++;
        if (opens(s, b.ptr + off))
            fail_msg("%s: the 32 bytes at offset %zu open a capsule", path, off);
    }
    mv_buf_clear(&b);
}

static void scan_dir(scan *s, const char *dir)
{
    DIR *dh = opendir(dir);
    struct dirent *de;
    assert_non_null(dh);
    while ((de = readdir(dh)) != NULL) {
        char p[1024];
        struct stat st;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        assert_int_equal(lstat(p, &st), 0);
        if (S_ISDIR(st.st_mode))
            scan_dir(s, p);
        else if (S_ISREG(st.st_mode))
            scan_file(s, p);
    }
    closedir(dh);
}

static void test_no_key_at_rest(void **state)
{
    (void)state;
    deleg x;
    scan s;
    mv_buf b;
    memset(&s, 0, sizeof s);
    mv_buf_init(&b, 1 << 20);
    deleg_make(&x, 0x51, now() - 60, now() + 3600, NULL);
    s.x = &x;
    for (unsigned e = 0; e < NENT; e++)
        assert_int_equal(mv_pre_decapsulate(x.a, x.e[e].capsule, s.key[e]), MV_OK);
    for (int i = 0; i < NCLOUD; i++) {
        assert_int_equal(upload(i, &x, &g_owner), 201);
        assert_int_equal(reencrypt(i, &x, g_rcpt.id, g_rcpt.cred, &b), 200);
        for (unsigned e = 0; e < NENT; e++)
            memcpy(s.cf[e] + i * MV_PRE_CFRAG_BYTES, b.ptr + 40 + e * MV_PRE_CFRAG_BYTES, MV_PRE_CFRAG_BYTES);
    }
    /* The scan's own check: the true keys open (so a window equal to one would be caught). */
    assert_true(opens(&s, x.a));
    assert_true(opens(&s, x.b));
    assert_true(opens(&s, s.key[0]));
    for (int i = 0; i < NCLOUD; i++) {
        scan_dir(&s, g_c[i].data);
        scan_dir(&s, g_c[i].ident);
    }
    assert_true(s.files >= 6);
    assert_true(s.windows > 1000);
    print_message("scanned %zu non-zero windows in %zu files\n", s.windows, s.files);
    for (int i = 0; i < NCLOUD; i++)
        assert_int_equal(by_hash(i, "/v1/pre/revoke", &x, g_owner.id, g_owner.cred, &b), 200);
    deleg_clear(&x);
    mv_buf_clear(&b);
}

/* ---------- reading at the storage cloud (docs/pre.md 7.4) ---------- */

static void put_u32le(mv_buf *b, uint32_t v)
{
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    assert_int_equal(mv_buf_append(b, le, 4), MV_OK);
}

/* g_owner stores record id with envelope env[0..env_len), for patient (NULL: none) in episode
 * under the hospital delegation dg[0..dglen) (one block): MVB1 then MVP2 frames. */
static void put_record(const uint8_t id[16], const uint8_t *env, size_t env_len, const uint8_t *patient,
                       const uint8_t episode[16], const uint8_t *dg, uint16_t dglen)
{
    mv_buf f, b;
    uint8_t zero[32] = {0}, dl = 10, dgl[2] = {(uint8_t)dglen, (uint8_t)(dglen >> 8)}, nr = 0;
    uint8_t blk[64], tag[32], token[32], kind = 1;
    mv_buf_init(&f, 1 << 20);
    mv_buf_init(&b, 1 << 20);
    /* Its one block, uploaded first (a record names at least one). */
    randombytes_buf(blk, sizeof blk);
    randombytes_buf(token, sizeof token);
    crypto_hash_sha256(tag, blk, sizeof blk);
    assert_int_equal(mv_buf_append(&f, "MVB1", 4), MV_OK);
    assert_int_equal(mv_buf_append(&f, &dl, 1), MV_OK);
    assert_int_equal(mv_buf_append(&f, "cardiology", 10), MV_OK);
    put_u32le(&f, 1);
    assert_int_equal(mv_buf_append(&f, &kind, 1), MV_OK);
    assert_int_equal(mv_buf_append(&f, token, 32), MV_OK);
    assert_int_equal(mv_buf_append(&f, tag, 32), MV_OK);
    put_u32le(&f, sizeof blk);
    assert_int_equal(mv_buf_append(&f, blk, sizeof blk), MV_OK);
    assert_int_equal(call(0, "POST", "/v1/blocks", f.ptr, f.len, g_owner.id, g_owner.cred, &b), 200);
    mv_buf_reset(&f);
    assert_int_equal(mv_buf_append(&f, "MVP2", 4), MV_OK);
    put_u32le(&f, 1);
    assert_int_equal(mv_buf_append(&f, id, 16), MV_OK);
    assert_int_equal(mv_buf_append(&f, &dl, 1), MV_OK);
    assert_int_equal(mv_buf_append(&f, "cardiology", 10), MV_OK);
    assert_int_equal(mv_buf_append(&f, patient ? patient : zero, 32), MV_OK);
    assert_int_equal(mv_buf_append(&f, patient ? episode : zero, 16), MV_OK); /* an episode needs a patient */
    assert_int_equal(mv_buf_append(&f, dgl, 2), MV_OK);
    if (dglen)
        assert_int_equal(mv_buf_append(&f, dg, dglen), MV_OK);
    assert_int_equal(mv_buf_append(&f, &nr, 1), MV_OK);
    put_u32le(&f, 1);
    assert_int_equal(mv_buf_append(&f, tag, 32), MV_OK);
    put_u32le(&f, (uint32_t)env_len);
    assert_int_equal(mv_buf_append(&f, env, env_len), MV_OK);
    long st = call(0, "POST", "/v1/records", f.ptr, f.len, g_owner.id, g_owner.cred, &b);
    if (st != 200)
        fail_msg("put: %ld %.*s", st, (int)b.len, (const char *)b.ptr);
    assert_int_equal(mv_buf_append(&b, "", 1), MV_OK);
    if (!strstr((const char *)b.ptr, "\"stored\""))
        fail_msg("put: %s", (const char *)b.ptr);
    mv_buf_clear(&f);
    mv_buf_clear(&b);
}

/* g_owner stores record id (no patient, no episode, one block, an MVE1-looking envelope). */
static void put_owned_record(const uint8_t id[16])
{
    uint8_t env[200];
    memset(env, 0x5a, sizeof env);
    memcpy(env, "MVE1", 4);
    env[4] = 1;
    put_record(id, env, sizeof env, NULL, NULL, NULL, 0);
}

static long get_record(const uint8_t id[16], const mv_identity *who, const char *cred)
{
    char path[80], hex[33];
    assert_int_equal(mv_hex_encode(hex, sizeof hex, id, 16), MV_OK);
    snprintf(path, sizeof path, "/v1/records/%s", hex);
    return call(0, "GET", path, NULL, 0, who, cred, NULL);
}

static int lists_record(const uint8_t id[16], const user *u)
{
    char hex[33];
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    assert_int_equal(mv_hex_encode(hex, sizeof hex, id, 16), MV_OK);
    assert_int_equal(call(0, "GET", "/v1/records", NULL, 0, u->id, u->cred, &b), 200);
    assert_int_equal(mv_buf_append(&b, "", 1), MV_OK);
    int hit = strstr((const char *)b.ptr, hex) != NULL;
    mv_buf_clear(&b);
    return hit;
}

/* The value of the ACL refusal counter in the storage server's metrics (0 when absent). */
static double acl_denials(void)
{
    mv_buf b;
    double v = 0;
    mv_buf_init(&b, 1 << 20);
    assert_int_equal(tu_get_metrics(g_c[0].port, g_c[0].data, &b), 200);
    assert_int_equal(mv_buf_append(&b, "", 1), MV_OK);
    const char *p = strstr((const char *)b.ptr, "\nmedvault_storage_acl_denials_total ");
    if (p)
        v = strtod(p + strlen("\nmedvault_storage_acl_denials_total "), NULL);
    mv_buf_clear(&b);
    return v;
}

/* A recipient of an active delegation reads, from the storage cloud, the records it covers
 * (and only those, and only while her credential meets the policy); her reads are not ACL
 * refusals (which the guard counts against her); after the revocation she reads nothing. */
static void test_delegated_read(void **state)
{
    (void)state;
    deleg x;
    mv_buf b;
    uint8_t r1[16], r2[16];
    mv_buf_init(&b, 1 << 20);
    randombytes_buf(r1, 16);
    randombytes_buf(r2, 16);
    put_owned_record(r1);
    put_owned_record(r2);
    assert_int_equal(get_record(r1, g_rcpt.id, g_rcpt.cred), 403); /* no delegation yet */
    assert_false(lists_record(r1, &g_rcpt));
    /* A delegation of record r1 (an episode's records are a patient's, written under a
     * hospital delegation: the label comparison is the same code). */
    deleg_make_for(&x, 0, r1, now() - 60, now() + 3600, NULL);
    for (int i = 0; i < NCLOUD; i++)
        assert_int_equal(upload(i, &x, &g_owner), 201);
    double before = acl_denials();
    assert_int_equal(get_record(r1, g_rcpt.id, g_rcpt.cred), 200);
    assert_true(lists_record(r1, &g_rcpt));
    assert_false(lists_record(r2, &g_rcpt));
    /* The batched read: r1 served, r2 forbidden. */
    {
        mv_buf q;
        mv_buf_init(&q, 1024);
        assert_int_equal(mv_buf_append(&q, "MVQ1", 4), MV_OK);
        put_u32le(&q, 2);
        assert_int_equal(mv_buf_append(&q, r1, 16), MV_OK);
        assert_int_equal(mv_buf_append(&q, r2, 16), MV_OK);
        assert_int_equal(call(0, "POST", "/v1/records/get", q.ptr, q.len, g_rcpt.id, g_rcpt.cred, &b), 200);
        assert_true(b.len >= 8 + 5 + 200 + 5);
        assert_int_equal(b.ptr[8], 0);                /* ok */
        assert_int_equal(b.ptr[8 + 5 + 200], 2);      /* forbidden */
        mv_buf_clear(&q);
    }
    assert_int_equal(get_record(r2, g_rcpt.id, g_rcpt.cred), 403);
    before = acl_denials(); /* the two refusals of r2 counted */
    assert_int_equal(get_record(r1, g_rcpt.id, g_rcpt.cred), 200);
    assert_true(acl_denials() == before);
    /* Not covered, not the recipient, not the policy: refused. */
    assert_int_equal(get_record(r2, g_rcpt.id, g_rcpt.cred), 403);
    assert_int_equal(get_record(r1, g_stranger.id, g_stranger.cred), 403);
    assert_int_equal(get_record(r1, g_rcpt.id, g_rcpt_nurse), 403);
    assert_int_equal(get_record(r1, g_rcpt.id, g_rcpt_oncology), 403);
    for (int i = 0; i < NCLOUD; i++)
        assert_int_equal(by_hash(i, "/v1/pre/revoke", &x, g_owner.id, g_owner.cred, &b), 200);
    assert_int_equal(get_record(r1, g_rcpt.id, g_rcpt.cred), 403);
    assert_false(lists_record(r1, &g_rcpt));
    deleg_clear(&x);
    mv_buf_clear(&b);
}

/* An episode delegation serves only the records its entries name (docs/pre.md 7.4): of two
 * records of the same episode and owner, the one under a keyset the delegation has an entry
 * for is read and listed; the one under another keyset (added later, say) is neither. */
static void test_delegated_read_names_keyset(void **state)
{
    (void)state;
    deleg x;
    mv_identity *pat = NULL;
    mv_delegation hd;
    mv_record r;
    mv_buf env;
    char pd[400];
    uint8_t ep[16], in_ks[16], out_ks[16], K[32], dg[MV_DELEGATION_MAX_BYTES];
    size_t dglen = 0;
    uint8_t covered[16], other[16];
    snprintf(pd, sizeof pd, "%s/patient", g_dir);
    assert_int_equal(mv_identity_create(pd, &pat), MV_OK);
    deleg_make(&x, 0x4e, now() - 60, now() + 3600, NULL);
    memset(ep, 0x4e, 16);
    /* g_owner writes for the patient in the episode under the hospital's countersigned delegation. */
    memset(&hd, 0, sizeof hd);
    memcpy(hd.patient, mv_identity_sign_pk(pat), 32);
    memcpy(hd.doctor, mv_identity_sign_pk(g_owner.id), 32);
    memcpy(hd.appointment, ep, 16);
    hd.issued_at = now() - 60;
    hd.expires_at = now() + 3600;
    snprintf(hd.department, sizeof hd.department, "cardiology");
    assert_int_equal(mv_delegation_sign(&hd, mv_identity_sign_sk(pat)), MV_OK);
    assert_int_equal(mv_delegation_countersign(&hd, mv_identity_sign_pk(g_hosp), mv_identity_sign_sk(g_hosp)), MV_OK);
    assert_int_equal(mv_delegation_encode(&hd, dg, sizeof dg, &dglen), MV_OK);
    memcpy(in_ks, x.e[0].ref, 16);
    randombytes_buf(out_ks, 16);
    randombytes_buf(K, 32);
    randombytes_buf(covered, 16);
    randombytes_buf(other, 16);
    mv_record_init(&r);
    assert_int_equal(mv_record_set_name(&r, (const uint8_t *)"x", 1), MV_OK);
    mv_buf_init(&env, 1 << 20);
    assert_int_equal(mv_envelope2_seal(covered, &r, in_ks, K, &env), MV_OK);
    put_record(covered, env.ptr, env.len, mv_identity_sign_pk(pat), ep, dg, (uint16_t)dglen);
    mv_buf_reset(&env);
    assert_int_equal(mv_envelope2_seal(other, &r, out_ks, K, &env), MV_OK);
    put_record(other, env.ptr, env.len, mv_identity_sign_pk(pat), ep, dg, (uint16_t)dglen);
    for (int i = 0; i < NCLOUD; i++)
        assert_int_equal(upload(i, &x, &g_owner), 201);
    assert_int_equal(get_record(covered, g_rcpt.id, g_rcpt.cred), 200);
    assert_true(lists_record(covered, &g_rcpt));
    assert_int_equal(get_record(other, g_rcpt.id, g_rcpt.cred), 403);
    assert_false(lists_record(other, &g_rcpt));
    for (int i = 0; i < NCLOUD; i++)
        assert_int_equal(by_hash(i, "/v1/pre/revoke", &x, g_owner.id, g_owner.cred, &env), 200);
    mv_record_clear(&r);
    mv_buf_clear(&env);
    mv_identity_free(pat);
    deleg_clear(&x);
}

/* The second cloud serves the proxy routes, /healthz and /metrics, and nothing else. */
static void test_proxy_role_routes(void **state)
{
    (void)state;
    mv_buf b;
    char url[128];
    mv_buf_init(&b, 1 << 20);
    assert_int_equal(call(1, "GET", "/v1/records", NULL, 0, g_owner.id, g_owner.cred, &b), 404);
    assert_int_equal(call(1, "POST", "/v1/blocks/get", "x", 1, g_owner.id, g_owner.cred, &b), 404);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/healthz", g_c[1].port);
    assert_int_equal(tu_call("GET", url, NULL, 0, NULL, NULL, &b), 200);
    for (int i = 0; i < NCLOUD; i++) {
        assert_int_equal(tu_get_metrics(g_c[i].port, g_c[i].data, &b), 200);
        assert_int_equal(mv_buf_append(&b, "", 1), MV_OK);
        assert_non_null(strstr((const char *)b.ptr, "pre_reencrypt_total"));
        assert_non_null(strstr((const char *)b.ptr, "pre_delegations_stored"));
        assert_non_null(strstr((const char *)b.ptr, "pre_revocations_total"));
    }
    mv_buf_clear(&b);
}

/* Review 16, finding 1: the limits of an upload. A window over 366 days is refused; a
 * non-owner re-posting an owner's body is refused on the owner bytes, before the capsules are
 * checked (a body whose capsule is broken gets 403, not 400); an owner's 1001st active
 * delegation at one proxy is 429. */
static void test_upload_limits(void **state)
{
    (void)state;
    deleg x;
    mv_buf b;
    uint64_t t = now();
    mv_buf_init(&b, 1 << 20);
    deleg_make(&x, 0x61, t - 60, t - 60 + PRE_PROXY_MAX_LIFETIME + 1, NULL);
    for (int i = 0; i < NCLOUD; i++) {
        assert_int_equal(call(i, "POST", "/v1/pre/delegations", x.up[i].ptr, x.up[i].len, g_owner.id, g_owner.cred,
                              &b),
                         400);
        assert_false(listed(i, &x, &g_owner));
        /* The first capsule's first byte flipped: the parse would refuse it, the owner check first. */
        x.up[i].ptr[9 + 5 + 32 + 1 + 16 + 32 + 32 + 32 + 2 + 10 + 16 + 2 + 32 + 65 * 2 + 2 + 1 + 16] ^= 0x55;
        assert_int_equal(upload(i, &x, &g_rcpt), 403);
        assert_int_equal(upload(i, &x, &g_owner), 400);
    }
    deleg_clear(&x);
    /* The per-owner cap: record delegations of fresh ids until the proxy says 429. */
    size_t ok = 0;
    long st = 201;
    for (unsigned i = 0; i <= PRE_PROXY_MAX_PER_OWNER && st == 201; i++) {
        uint8_t rec[16];
        randombytes_buf(rec, sizeof rec);
        deleg_make_for(&x, 0, rec, t - 60, t + 3600, NULL);
        st = upload(0, &x, &g_owner);
        ok += st == 201;
        deleg_clear(&x);
    }
    assert_int_equal(st, 429);
    assert_true(ok > PRE_PROXY_MAX_PER_OWNER - 20 && ok <= PRE_PROXY_MAX_PER_OWNER);
    mv_buf_clear(&b);
}

/* Seconds on the monotonic clock. */
static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct reenc_job {
    const deleg *x;
    long status;
    double done; /* mono_now() when the answer came */
} reenc_job;

static void *reenc_thread(void *arg)
{
    reenc_job *j = arg;
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    j->status = reencrypt(0, j->x, g_rcpt.id, g_rcpt.cred, &b);
    j->done = mono_now();
    mv_buf_clear(&b);
    return NULL;
}

/* 1 if cloud i's data directory holds x's file. */
static int stored(int i, const deleg *x)
{
    char path[4096];
    struct stat st;
    assert_true((size_t)snprintf(path, sizeof path, "%s/pre/%s.mvpu", g_c[i].data, x->hex) < sizeof path);
    return stat(path, &st) == 0;
}

/* Review 16, finding 2: an expired delegation (which nobody can use or revoke) is deleted at
 * the next upload instead of counting toward the caps forever (the old code kept its file). */
static void test_gc_expired(void **state)
{
    (void)state;
    deleg x, y;
    uint64_t t = now();
    deleg_make(&x, 0x81, t - 60, t + 2, NULL);
    deleg_make(&y, 0x82, t - 60, t + 3600, NULL);
    for (int i = 0; i < NCLOUD; i++) {
        assert_int_equal(upload(i, &x, &g_owner), 201);
        assert_true(stored(i, &x));
    }
    while (now() <= t + 2)
        sleep(1);
    for (int i = 0; i < NCLOUD; i++) {
        assert_int_equal(upload(i, &y, &g_owner), 201);
        assert_false(stored(i, &x));
        assert_true(stored(i, &y));
        assert_int_equal(by_hash(i, "/v1/pre/revoke", &y, g_owner.id, g_owner.cred, NULL), 200);
        assert_int_equal(by_hash(i, "/v1/pre/revoke", &x, g_owner.id, g_owner.cred, NULL), 404);
    }
    deleg_clear(&x);
    deleg_clear(&y);
}

/* Review 16, finding 3: a revocation is acknowledged only after every re-encryption it races
 * has answered, and one that finishes after the revocation answers 404. The recipient starts
 * a 1024-capsule re-encryption, the owner revokes while it runs: the cfrags may come back
 * only if they arrived before the revocation was even sent (the old code answered 200 after
 * the revocation's 200). */
static void test_revoke_races_reencrypt(void **state)
{
    (void)state;
    deleg x;
    pthread_t th;
    reenc_job job = {0};
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    deleg_make_n(&x, 0x72, NULL, now() - 60, now() + 3600, NULL, MV_PRE_MAX_CAPSULES);
    assert_int_equal(upload(0, &x, &g_owner), 201);
    job.x = &x;
    assert_int_equal(pthread_create(&th, NULL, reenc_thread, &job), 0);
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
    double sent = mono_now();
    assert_int_equal(by_hash(0, "/v1/pre/revoke", &x, g_owner.id, g_owner.cred, &b), 200);
    assert_int_equal(pthread_join(th, NULL), 0);
    if (job.status == 200)
        assert_true(job.done < sent);
    else
        assert_int_equal(job.status, 404);
    deleg_clear(&x);
    mv_buf_clear(&b);
}

/* Review 16, finding 1: re-encryptions never hold every thread of the storage server. One
 * recipient's parallel re-encryptions of a 1024-capsule delegation: one runs, the others get
 * 429 at once (the old code ran all four on the server's four threads). */
static void test_reencrypt_limits(void **state)
{
    (void)state;
    enum { JOBS = 4 };
    deleg x;
    pthread_t th[JOBS];
    reenc_job job[JOBS];
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    deleg_make_n(&x, 0x71, NULL, now() - 60, now() + 3600, NULL, MV_PRE_MAX_CAPSULES);
    assert_int_equal(upload(0, &x, &g_owner), 201);
    for (int i = 0; i < JOBS; i++) {
        job[i].x = &x;
        job[i].status = 0;
        assert_int_equal(pthread_create(&th[i], NULL, reenc_thread, &job[i]), 0);
    }
    int ok = 0, busy = 0;
    for (int i = 0; i < JOBS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        ok += job[i].status == 200;
        busy += job[i].status == 429;
    }
    assert_true(ok >= 1);
    assert_true(busy >= 1);
    assert_int_equal(ok + busy, JOBS);
    assert_int_equal(by_hash(0, "/v1/pre/revoke", &x, g_owner.id, g_owner.cred, &b), 200);
    deleg_clear(&x);
    mv_buf_clear(&b);
}

static int setup(void **state)
{
    (void)state;
    char hd[300];
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
    snprintf(hd, sizeof hd, "%s/hospital", g_dir);
    assert_int_equal(mv_identity_create(hd, &g_hosp), MV_OK);
    for (int i = 0; i < NCLOUD; i++) {
        cloud *c = &g_c[i];
        snprintf(c->data, sizeof c->data, "%s/cloud%d", g_dir, i + 1);
        snprintf(c->ident, sizeof c->ident, "%s/cloud%d-id", g_dir, i + 1);
        snprintf(c->portfile, sizeof c->portfile, "%s/port%d", g_dir, i + 1);
        assert_int_equal(mv_identity_create(c->ident, &c->id), MV_OK);
        char *cred = issue(c->id, "storage", NULL);
        assert_int_equal(mv_identity_save_credential(c->id, c->ident, cred), MV_OK);
        mv_free(cred);
        c->pid = -1;
    }
    g_owner = make_user("owner", "patient", "cardiology");
    g_rcpt = make_user("rcpt", "doctor", "cardiology");
    g_stranger = make_user("stranger", "doctor", "cardiology");
    g_rcpt_nurse = issue(g_rcpt.id, "patient", "cardiology");
    g_rcpt_oncology = issue(g_rcpt.id, "doctor", "oncology");
    for (int i = 0; i < NCLOUD; i++)
        start_cloud(i);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < NCLOUD; i++) {
        if (g_c[i].pid > 0)
            tu_daemon_stop(i ? "proxy 2" : "storage server", &g_c[i].pid);
        mv_identity_free(g_c[i].id);
    }
    user *us[] = {&g_owner, &g_rcpt, &g_stranger};
    for (size_t i = 0; i < 3; i++) {
        mv_identity_free(us[i]->id);
        mv_free(us[i]->cred);
    }
    mv_free(g_rcpt_nurse);
    mv_free(g_rcpt_oncology);
    mv_identity_free(g_hosp);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upload_policy_revoke), cmocka_unit_test(test_window),
        cmocka_unit_test(test_wrong_seal_and_cap),   cmocka_unit_test(test_kill9),
        cmocka_unit_test(test_no_key_at_rest),       cmocka_unit_test(test_proxy_role_routes),
        cmocka_unit_test(test_delegated_read),
        cmocka_unit_test(test_delegated_read_names_keyset),
        cmocka_unit_test(test_reencrypt_limits),
        cmocka_unit_test(test_revoke_races_reencrypt), cmocka_unit_test(test_gc_expired),
        cmocka_unit_test(test_upload_limits), /* last: it fills the owner's cap at proxy 1 */
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
