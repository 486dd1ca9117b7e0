/* mv_storage_load.c - test helper: drives a storage server with uploads and records, and
 * checks afterwards that what it acknowledged is still there (tests/integration/test_storage_crash.sh).
 *
 *   mv_storage_load load URL USER_DIR DEPT ROUND N
 *       for i in 0..N: uploads two blocks (one shared by several records, so it deduplicates,
 *       and one unique) and a record naming both, 1 to 3 records per call (their envelopes
 *       share one segment on the server); prints each record id (hex) on stdout, and flushes,
 *       as soon as the server acknowledged its call "stored". Exits 0 after N records, 3 as
 *       soon as a request fails (the server was killed), 1 on a protocol error.
 *   mv_storage_load verify URL USER_DIR
 *       reads ids (hex, one per line) on stdin; for each, GETs the record and both its blocks
 *       and checks the bytes. Exits 0 if all are intact, 1 otherwise (naming the first bad id).
 *
 * Everything is a function of the record id: the envelope, the unique block, and (through
 * id[0] % 7) which shared block it names, so verify needs nothing but the ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"

static const char *g_url;
static mv_identity *g_id;

/* Deterministic bytes: SHA-256 in counter mode over (label, seed). */
static void expand(uint8_t *out, size_t n, const char *label, const uint8_t *seed, size_t seed_len)
{
    uint8_t in[128], h[32];
    size_t ll = strlen(label);
    for (uint32_t ctr = 0, off = 0; off < n; ctr++) {
        memcpy(in, label, ll);
        memcpy(in + ll, seed, seed_len);
        memcpy(in + ll + seed_len, &ctr, 4);
        if (mv_sha256(h, in, ll + seed_len + 4) != MV_OK)
            exit(1);
        size_t k = n - off < 32 ? n - off : 32;
        memcpy(out + off, h, k);
        off += (uint32_t)k;
    }
}

typedef struct rec {
    uint8_t id[16];
    uint8_t *shared, *uniq, *env;
    size_t shared_len, uniq_len, env_len;
    uint8_t shared_tag[32], uniq_tag[32];
} rec;

static void make_rec(rec *r, const uint8_t id[16])
{
    uint8_t which = (uint8_t)(id[0] % 7);
    memcpy(r->id, id, 16);
    r->shared_len = 300 + which;
    r->uniq_len = 1000 + (size_t)id[1] * 40;
    r->env_len = 160 + id[2]; /* at least an MVE1 header, one reader entry, a nonce and a tag */
    r->shared = mv_malloc(r->shared_len);
    r->uniq = mv_malloc(r->uniq_len);
    r->env = mv_malloc(r->env_len);
    if (!r->shared || !r->uniq || !r->env)
        exit(1);
    expand(r->shared, r->shared_len, "shared", &which, 1);
    expand(r->uniq, r->uniq_len, "unique", id, 16);
    expand(r->env, r->env_len, "envelope", id, 16);
    /* The public structure the server checks (one reader); the rest stays derived from id. */
    memcpy(r->env, "MVE1", 4);
    r->env[4] = 1;
    if (mv_sha256(r->shared_tag, r->shared, r->shared_len) != MV_OK ||
        mv_sha256(r->uniq_tag, r->uniq, r->uniq_len) != MV_OK)
        exit(1);
}

static void free_rec(rec *r)
{
    mv_free(r->shared);
    mv_free(r->uniq);
    mv_free(r->env);
}

/* One signed call; returns the HTTP status, or -1 if no answer came (server down). */
static long call(const char *method, const char *path, const mv_buf *body, mv_buf *out)
{
    char url[512];
    mv_httpc_call c;
    snprintf(url, sizeof url, "%s%s", g_url, path);
    mv_httpc_call_init(&c);
    c.method = method;
    c.url = url;
    c.body = body ? body->ptr : NULL;
    c.body_len = body ? body->len : 0;
    c.timeout_ms = 20000;
    if (mv_httpc_sign(&c, mv_identity_sign_pk(g_id), mv_identity_sign_sk(g_id), mv_identity_credential(g_id),
                      (uint64_t)time(NULL)) != MV_OK ||
        mv_httpc_run(&c, 1) != MV_OK) {
        mv_httpc_call_clear(&c);
        return -1;
    }
    long st = c.rc == MV_OK ? c.status : -1;
    if (out) {
        mv_buf_reset(out);
        if (mv_buf_append(out, c.response.ptr, c.response.len) != MV_OK)
            st = -1;
    }
    mv_httpc_call_clear(&c);
    return st;
}

static int put_u32(mv_buf *b, uint32_t v)
{
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return mv_buf_append(b, le, 4) == MV_OK ? 0 : -1;
}

static int add_upload(mv_buf *f, const uint8_t *c, size_t len, const uint8_t tag[32])
{
    uint8_t kind = 1, token[32];
    expand(token, 32, "token", tag, 32); /* stands in for the hospital's HMAC token */
    return mv_buf_append(f, &kind, 1) != MV_OK || mv_buf_append(f, token, 32) != MV_OK ||
                   mv_buf_append(f, tag, 32) != MV_OK || put_u32(f, (uint32_t)len) ||
                   mv_buf_append(f, c, len) != MV_OK
               ? -1
               : 0;
}

/* Stores records r[0..n) with one blocks call and one records call (the server keeps their
 * envelopes in one envelope segment). 0 stored, 3 server gone, 1 protocol error. */
static int store_batch(const rec *r, size_t n, const char *dept)
{
    mv_buf f, out;
    mv_json *j = NULL;
    int ret = 1;
    uint8_t dl = (uint8_t)strlen(dept);
    mv_buf_init(&f, 1 << 24);
    mv_buf_init(&out, 1 << 20);
    if (mv_buf_append(&f, "MVB1", 4) != MV_OK || mv_buf_append(&f, &dl, 1) != MV_OK ||
        mv_buf_append(&f, dept, dl) != MV_OK || put_u32(&f, (uint32_t)(2 * n)))
        goto out;
    for (size_t i = 0; i < n; i++)
        if (add_upload(&f, r[i].shared, r[i].shared_len, r[i].shared_tag) ||
            add_upload(&f, r[i].uniq, r[i].uniq_len, r[i].uniq_tag))
            goto out;
    long st = call("POST", "/v1/blocks", &f, &out);
    if (st < 0) {
        ret = 3;
        goto out;
    }
    if (st != 200) {
        fprintf(stderr, "mv_storage_load: blocks answered %ld: %s\n", st, out.ptr ? (char *)out.ptr : "");
        goto out;
    }
    mv_buf_reset(&f);
    uint8_t nr = 0, nobody[32 + 16 + 2] = {0}; /* no patient, no episode, no delegation */
    if (mv_buf_append(&f, "MVP2", 4) != MV_OK || put_u32(&f, (uint32_t)n))
        goto out;
    for (size_t i = 0; i < n; i++)
        if (mv_buf_append(&f, r[i].id, 16) != MV_OK || mv_buf_append(&f, &dl, 1) != MV_OK ||
            mv_buf_append(&f, dept, dl) != MV_OK || mv_buf_append(&f, nobody, sizeof nobody) != MV_OK ||
            mv_buf_append(&f, &nr, 1) != MV_OK || put_u32(&f, 2) ||
            mv_buf_append(&f, r[i].shared_tag, 32) != MV_OK || mv_buf_append(&f, r[i].uniq_tag, 32) != MV_OK ||
            put_u32(&f, (uint32_t)r[i].env_len) || mv_buf_append(&f, r[i].env, r[i].env_len) != MV_OK)
            goto out;
    st = call("POST", "/v1/records", &f, &out);
    if (st < 0) {
        ret = 3;
        goto out;
    }
    if (st != 200 || mv_json_parse((const char *)out.ptr, out.len, NULL, &j, NULL) != MV_OK) {
        fprintf(stderr, "mv_storage_load: records answered %ld\n", st);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *status = mv_json_get_str(mv_json_at(mv_json_get(j, "results"), i), "status", NULL);
        if (!status || strcmp(status, "stored") != 0) {
            fprintf(stderr, "mv_storage_load: record %zu: %s\n", i, status ? status : "no status");
            goto out;
        }
    }
    ret = 0;
out:
    mv_json_free(j);
    mv_buf_clear(&f);
    mv_buf_clear(&out);
    return ret;
}

static int do_load(const char *dept, unsigned long round, unsigned long n)
{
    for (unsigned long i = 0; i < n;) {
        /* 1, 2 or 3 records per call, so some segments hold several envelopes. */
        size_t k = 1 + i % 3;
        rec r[3];
        if (k > n - i)
            k = n - i;
        for (size_t j = 0; j < k; j++) {
            uint8_t seed[16], id[16];
            unsigned long x = i + j;
            memcpy(seed, &round, sizeof round < 8 ? sizeof round : 8);
            memcpy(seed + 8, &x, sizeof x < 8 ? sizeof x : 8);
            expand(id, 16, "id", seed, sizeof seed);
            make_rec(&r[j], id);
        }
        int rc = store_batch(r, k, dept);
        for (size_t j = 0; j < k && rc == 0; j++) {
            char hex[33];
            if (mv_hex_encode(hex, sizeof hex, r[j].id, 16) != MV_OK)
                rc = 1;
            else
                printf("%s\n", hex);
        }
        fflush(stdout);
        for (size_t j = 0; j < k; j++)
            free_rec(&r[j]);
        if (rc != 0)
            return rc;
        i += k;
    }
    return 0;
}

static int check_bytes(const char *path, const uint8_t *want, size_t len, mv_buf *got)
{
    long st = call("GET", path, NULL, got);
    return st == 200 && got->len == len && memcmp(got->ptr, want, len) == 0 ? 0 : -1;
}

static int do_verify(void)
{
    char line[128];
    unsigned long n = 0;
    mv_buf got;
    mv_buf_init(&got, 1 << 24);
    while (fgets(line, sizeof line, stdin)) {
        size_t l = strcspn(line, "\r\n");
        uint8_t id[16];
        if (l == 0)
            continue;
        if (mv_hex_decode_exact(id, 16, line, l) != MV_OK) {
            fprintf(stderr, "mv_storage_load: bad id line\n");
            return 1;
        }
        line[l] = 0;
        rec r;
        make_rec(&r, id);
        char path[256], th[65];
        snprintf(path, sizeof path, "/v1/records/%s", line);
        int bad = check_bytes(path, r.env, r.env_len, &got);
        if (!bad && mv_hex_encode(th, sizeof th, r.shared_tag, 32) == MV_OK) {
            snprintf(path, sizeof path, "/v1/blocks/%s", th);
            bad = check_bytes(path, r.shared, r.shared_len, &got);
        }
        if (!bad && mv_hex_encode(th, sizeof th, r.uniq_tag, 32) == MV_OK) {
            snprintf(path, sizeof path, "/v1/blocks/%s", th);
            bad = check_bytes(path, r.uniq, r.uniq_len, &got);
        }
        free_rec(&r);
        if (bad) {
            fprintf(stderr, "mv_storage_load: acknowledged record %s is missing or differs\n", line);
            mv_buf_clear(&got);
            return 1;
        }
        n++;
    }
    mv_buf_clear(&got);
    fprintf(stderr, "mv_storage_load: %lu acknowledged records intact\n", n);
    return 0;
}

int main(int argc, char **argv)
{
    int ret = 2;
    if (argc < 4 || mv_crypto_init() != MV_OK || mv_httpc_global_init() != MV_OK)
        return 2;
    g_url = argv[2];
    if (mv_identity_load(argv[3], &g_id) != MV_OK || !mv_identity_credential(g_id)) {
        fprintf(stderr, "mv_storage_load: cannot load the identity and credential in %s\n", argv[3]);
        return 2;
    }
    if (!strcmp(argv[1], "load") && argc == 7) {
        char *e1 = NULL, *e2 = NULL;
        unsigned long round = strtoul(argv[5], &e1, 10), n = strtoul(argv[6], &e2, 10);
        if (*e1 || *e2)
            goto out;
        ret = do_load(argv[4], round, n);
    } else if (!strcmp(argv[1], "verify") && argc == 4) {
        ret = do_verify();
    }
out:
    mv_identity_free(g_id);
    return ret;
}
