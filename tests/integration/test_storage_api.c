/* test_storage_api.c - the storage server's HTTP API against a real `medvault storage run`
 * process: uploads checked against their tags, server-side dedup across departments,
 * department-partitioned dupcheck, proof of ownership (refused proofs add no reference),
 * all-or-nothing batches, malformed and oversized frames, authentication (401), department
 * and ACL checks (403), delete and gc by exact byte counts, /healthz, /metrics, restart and a
 * clean exit on SIGTERM. */
#include "testutil.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "medvault/mv_auth.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_delegation.h"
#include "medvault/mv_file.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_hmac.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_mem.h"

static char g_dir[256];   /* test root */
static char g_stdir[300]; /* storage server state */
static char g_portfile[320];
static pid_t g_pid = -1;
static unsigned g_port;
static mv_identity *g_hosp;

typedef struct user {
    mv_identity *id;
    char *cred;
} user;

/* alice, carol, mallory: cardiology; bob: oncology; dave: cardiology reader; admin: role admin. */
static user g_alice, g_bob, g_carol, g_mallory, g_dave, g_admin;
/* pat, pat2: patients (no department). */
static user g_pat, g_pat2;

/* Every block the tests uploaded, with the number of live records naming it, so that the gc
 * test knows exactly which bytes must go. */
#define MAX_TRACKED 64
static struct tracked {
    uint8_t tag[32];
    size_t len;
    int refs;
} g_blocks[MAX_TRACKED];
static size_t g_n_blocks;

static void track(const uint8_t tag[32], size_t len)
{
    for (size_t i = 0; i < g_n_blocks; i++)
        if (!memcmp(g_blocks[i].tag, tag, 32))
            return;
    assert_true(g_n_blocks < MAX_TRACKED);
    memcpy(g_blocks[g_n_blocks].tag, tag, 32);
    g_blocks[g_n_blocks++].len = len;
}

static void track_ref(const uint8_t tag[32], int delta)
{
    for (size_t i = 0; i < g_n_blocks; i++)
        if (!memcmp(g_blocks[i].tag, tag, 32)) {
            g_blocks[i].refs += delta;
            return;
        }
    fail_msg("untracked block");
}

/* ---------- process control ---------- */

static void start_server(void)
{
    char hk[65];
    assert_int_equal(mv_hex_encode(hk, sizeof hk, mv_identity_sign_pk(g_hosp), 32), MV_OK);
    const char *args[] = {"storage", "run", "--dir", g_stdir, "--listen", "127.0.0.1:0", "--hospital-key", hk,
                          "--port-file", g_portfile, "--threads", "3", NULL};
    g_pid = tu_daemon_start("storage server", g_portfile, args, &g_port);
}

static void stop_server(void)
{
    tu_daemon_stop("storage server", &g_pid);
}

/* ---------- identities ---------- */

static user make_user(const char *name, const char *role, const char *dept)
{
    char d[400];
    user u = {0};
    snprintf(d, sizeof d, "%s/%s", g_dir, name);
    assert_int_equal(mv_identity_create(d, &u.id), MV_OK);
    u.cred = tu_credential(g_hosp, mv_identity_sign_pk(u.id), role, dept);
    return u;
}

static void free_user(user *u)
{
    mv_identity_free(u->id);
    mv_free(u->cred);
    memset(u, 0, sizeof *u);
}

/* ---------- requests ---------- */

/* Sends one request (signed by u, or unsigned if u is NULL); returns the status and appends
 * the response body to out (if not NULL). */
static long call(const char *method, const char *path, const void *body, size_t len, const user *u, mv_buf *out)
{
    char url[64 + 8192]; /* "http://127.0.0.1:PORT" and a path up to MV_AUTH_MAX_PATH */
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", g_port, path);
    return tu_call(method, url, body, len, u ? u->id : NULL, u ? u->cred : NULL, out);
}

static long call_json(const char *method, const char *path, const char *body, const user *u, mv_json **out)
{
    mv_buf b;
    mv_buf_init(&b, (size_t)64 << 20);
    long st = call(method, path, body, body ? strlen(body) : 0, u, &b);
    if (out) {
        *out = NULL;
        assert_int_equal(mv_json_parse((const char *)b.ptr, b.len, NULL, out, NULL), MV_OK);
    }
    mv_buf_clear(&b);
    return st;
}

/* The stats object (caller frees). */
static mv_json *stats(void)
{
    mv_json *j = NULL;
    assert_int_equal(call_json("GET", "/v1/stats", NULL, &g_alice, &j), 200);
    return j;
}

static uint64_t stat_u64(const mv_json *j, const char *key)
{
    return tu_json_u64(j, key);
}

/* results[i].status of a JSON answer, as a string. */
static const char *result_status(const mv_json *j, size_t i)
{
    const char *s = mv_json_get_str(mv_json_at(mv_json_get(j, "results"), i), "status", NULL);
    assert_non_null(s);
    return s;
}

/* Pins the exact bytes of a batch answer (PUT /v1/records, POST /v1/blocks, POST /v1/dupcheck)
 * as the decoy must mirror them: raw is rebuilt by hand from the parsed values, in this member
 * order and without whitespace. */
static void expect_results_bytes(const mv_buf *raw, const mv_json *j)
{
    mv_buf want;
    mv_buf_init(&want, 1 << 20);
    const mv_json *rs = mv_json_get(j, "results");
    assert_int_equal(mv_buf_puts(&want, "{\"results\":["), MV_OK);
    for (size_t i = 0; i < mv_json_len(rs); i++) {
        const mv_json *r = mv_json_at(rs, i);
        const mv_json *ex = mv_json_get(r, "exists");
        const char *id = mv_json_get_str(r, "id", NULL);
        assert_int_equal(mv_buf_puts(&want, i ? ",{" : "{"), MV_OK);
        if (ex && mv_json_type_of(ex) == MV_JSON_TRUE)
            assert_int_equal(mv_buf_printf(&want, "\"exists\":true,\"issued\":%llu,\"nonce\":\"%s\",\"challenge\":\"%s\"",
                                           (unsigned long long)tu_json_u64(r, "issued"), mv_json_get_str(r, "nonce", NULL),
                                           mv_json_get_str(r, "challenge", NULL)),
                             MV_OK);
        else if (ex)
            assert_int_equal(mv_buf_puts(&want, "\"exists\":false"), MV_OK);
        else if (id)
            assert_int_equal(mv_buf_printf(&want, "\"id\":\"%s\",\"status\":\"%s\"", id, mv_json_get_str(r, "status", NULL)),
                             MV_OK);
        else
            assert_int_equal(mv_buf_printf(&want, "\"status\":\"%s\"", mv_json_get_str(r, "status", NULL)), MV_OK);
        assert_int_equal(mv_buf_puts(&want, "}"), MV_OK);
    }
    assert_int_equal(mv_buf_puts(&want, "]}"), MV_OK);
    assert_int_equal(raw->len, want.len);
    assert_memory_equal(raw->ptr, want.ptr, want.len);
    mv_buf_clear(&want);
}

/* ---------- frames ---------- */

static void put_u32(mv_buf *b, uint32_t v)
{
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    assert_int_equal(mv_buf_append(b, le, 4), MV_OK);
}

static void put_u64(mv_buf *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        uint8_t x = (uint8_t)(v >> (8 * i));
        assert_int_equal(mv_buf_append(b, &x, 1), MV_OK);
    }
}

static void mvb1_start(mv_buf *f, const char *dept, uint32_t count)
{
    uint8_t dl = (uint8_t)strlen(dept);
    mv_buf_init(f, (size_t)64 << 20);
    assert_int_equal(mv_buf_append(f, "MVB1", 4), MV_OK);
    assert_int_equal(mv_buf_append(f, &dl, 1), MV_OK);
    assert_int_equal(mv_buf_append(f, dept, dl), MV_OK);
    put_u32(f, count);
}

static void mvb1_upload(mv_buf *f, const uint8_t token[32], const uint8_t tag[32], const uint8_t *c, size_t len)
{
    uint8_t kind = 1;
    assert_int_equal(mv_buf_append(f, &kind, 1), MV_OK);
    assert_int_equal(mv_buf_append(f, token, 32), MV_OK);
    assert_int_equal(mv_buf_append(f, tag, 32), MV_OK);
    put_u32(f, (uint32_t)len);
    assert_int_equal(mv_buf_append(f, c, len), MV_OK);
}

static void mvb1_proof(mv_buf *f, const uint8_t token[32], const uint8_t tag[32], uint64_t issued,
                       const uint8_t nonce[16], const uint8_t response[32])
{
    uint8_t kind = 2;
    assert_int_equal(mv_buf_append(f, &kind, 1), MV_OK);
    assert_int_equal(mv_buf_append(f, token, 32), MV_OK);
    assert_int_equal(mv_buf_append(f, tag, 32), MV_OK);
    put_u64(f, issued);
    assert_int_equal(mv_buf_append(f, nonce, 16), MV_OK);
    assert_int_equal(mv_buf_append(f, response, 32), MV_OK);
}

static void mvp_start(mv_buf *f, uint32_t count)
{
    mv_buf_init(f, (size_t)16 << 20);
    assert_int_equal(mv_buf_append(f, "MVP2", 4), MV_OK);
    put_u32(f, count);
}

/* One MVP2 record; patient (32), episode (16) and delegation may be NULL (zeros / none). */
static void mvp_record_for(mv_buf *f, const uint8_t id[16], const char *dept, const uint8_t *patient,
                           const uint8_t *episode, const uint8_t *dg, uint16_t dglen, const uint8_t *readers,
                           uint8_t nr, const uint8_t *tags, uint32_t nt, const uint8_t *env, uint32_t el)
{
    uint8_t dl = (uint8_t)strlen(dept), zero[32] = {0}, dgl[2] = {(uint8_t)dglen, (uint8_t)(dglen >> 8)};
    assert_int_equal(mv_buf_append(f, id, 16), MV_OK);
    assert_int_equal(mv_buf_append(f, &dl, 1), MV_OK);
    assert_int_equal(mv_buf_append(f, dept, dl), MV_OK);
    assert_int_equal(mv_buf_append(f, patient ? patient : zero, 32), MV_OK);
    assert_int_equal(mv_buf_append(f, episode ? episode : zero, 16), MV_OK);
    assert_int_equal(mv_buf_append(f, dgl, 2), MV_OK);
    if (dglen)
        assert_int_equal(mv_buf_append(f, dg, dglen), MV_OK);
    assert_int_equal(mv_buf_append(f, &nr, 1), MV_OK);
    if (nr)
        assert_int_equal(mv_buf_append(f, readers, (size_t)nr * 32), MV_OK);
    put_u32(f, nt);
    if (nt)
        assert_int_equal(mv_buf_append(f, tags, (size_t)nt * 32), MV_OK);
    put_u32(f, el);
    if (el)
        assert_int_equal(mv_buf_append(f, env, el), MV_OK);
}

static void mvp_record(mv_buf *f, const uint8_t id[16], const char *dept, const uint8_t *readers, uint8_t nr,
                       const uint8_t *tags, uint32_t nt, const uint8_t *env, uint32_t el)
{
    mvp_record_for(f, id, dept, NULL, NULL, NULL, 0, readers, nr, tags, nt, env, el);
}

/* An envelope of len bytes (>= 145) as the server can check one: the public MVE1 structure
 * (magic, one reader entry, room for the nonce and the GCM tag; mv_record.h), then filler.
 * The server holds no key, so this is all it can tell from a sealed one. */
static void mve1(uint8_t *p, size_t len, uint8_t seed)
{
    assert_true(len >= 5 + 112 + 12 + 16);
    memset(p, seed, len);
    memcpy(p, "MVE1", 4);
    p[4] = 1;
}

/* A block: random ciphertext bytes, its tag and a random token. */
typedef struct block {
    uint8_t *c;
    size_t len;
    uint8_t tag[32];
    uint8_t token[32];
} block;

static block new_block(size_t len)
{
    block b;
    b.len = len;
    b.c = mv_malloc(len);
    assert_non_null(b.c);
    for (size_t i = 0; i < len; i++)
        b.c[i] = (uint8_t)rand();
    assert_int_equal(mv_sha256(b.tag, b.c, len), MV_OK);
    for (size_t i = 0; i < 32; i++)
        b.token[i] = (uint8_t)rand();
    return b;
}

/* Uploads blocks[0..n) in one MVB1 batch by u in dept; returns the status, *out the JSON. */
static long upload(const user *u, const char *dept, const block *blocks, size_t n, mv_json **out)
{
    mv_buf f, b;
    mvb1_start(&f, dept, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        mvb1_upload(&f, blocks[i].token, blocks[i].tag, blocks[i].c, blocks[i].len);
    mv_buf_init(&b, 1 << 20);
    long st = call("POST", "/v1/blocks", f.ptr, f.len, u, &b);
    if (out) {
        *out = NULL;
        assert_int_equal(mv_json_parse((const char *)b.ptr, b.len, NULL, out, NULL), MV_OK);
        if (st == 200)
            expect_results_bytes(&b, *out);
    }
    if (st == 200)
        for (size_t i = 0; i < n; i++)
            track(blocks[i].tag, blocks[i].len);
    mv_buf_clear(&f);
    mv_buf_clear(&b);
    return st;
}

/* Stores one record (u owns it) naming tags; returns its status string in st (static). */
static const char *put_record(const user *u, const uint8_t id[16], const char *dept, const uint8_t *readers,
                              uint8_t nr, const uint8_t *tags, uint32_t nt, const uint8_t *env, uint32_t el)
{
    static char st[32];
    mv_buf f, b;
    mv_json *j = NULL;
    mvp_start(&f, 1);
    mvp_record(&f, id, dept, readers, nr, tags, nt, env, el);
    mv_buf_init(&b, 1 << 20);
    assert_int_equal(call("POST", "/v1/records", f.ptr, f.len, u, &b), 200);
    assert_int_equal(mv_json_parse((const char *)b.ptr, b.len, NULL, &j, NULL), MV_OK);
    expect_results_bytes(&b, j);
    snprintf(st, sizeof st, "%s", result_status(j, 0));
    if (!strcmp(st, "stored"))
        for (uint32_t i = 0; i < nt; i++)
            track_ref(tags + 32 * i, +1);
    mv_json_free(j);
    mv_buf_clear(&f);
    mv_buf_clear(&b);
    return st;
}

static void id_path(char *out, size_t cap, const char *prefix, const uint8_t *bin, size_t n)
{
    char hex[129];
    assert_int_equal(mv_hex_encode(hex, sizeof hex, bin, n), MV_OK);
    snprintf(out, cap, "%s%s", prefix, hex);
}

static long get_block(const uint8_t tag[32], mv_buf *out)
{
    char path[256];
    id_path(path, sizeof path, "/v1/blocks/", tag, 32);
    return call("GET", path, NULL, 0, &g_alice, out);
}

/* ---------- fixture ---------- */

static int setup(void **state)
{
    (void)state;
    srand(12345);
    assert_int_equal(mv_crypto_init(), MV_OK);
    assert_int_equal(mv_httpc_global_init(), MV_OK);
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
    snprintf(g_stdir, sizeof g_stdir, "%s/storage", g_dir);
    snprintf(g_portfile, sizeof g_portfile, "%s/port", g_dir);
    char hd[300];
    snprintf(hd, sizeof hd, "%s/hospital", g_dir);
    assert_int_equal(mv_identity_create(hd, &g_hosp), MV_OK);
    g_alice = make_user("alice", "doctor", "cardiology");
    g_bob = make_user("bob", "doctor", "oncology");
    g_carol = make_user("carol", "doctor", "cardiology");
    g_mallory = make_user("mallory", "doctor", "cardiology");
    g_dave = make_user("dave", "doctor", "cardiology");
    g_admin = make_user("admin", "admin", NULL);
    g_pat = make_user("pat", "patient", NULL);
    g_pat2 = make_user("pat2", "patient", NULL);
    /* A body cap small enough to test the server's 413 cheaply, large enough for a maximal block. */
    assert_int_equal(mv_file_mkdir(g_stdir, 0700), MV_OK);
    char conf[400];
    snprintf(conf, sizeof conf, "%s/storage.conf", g_stdir);
    const char text[] = "# test settings\nmax_body = 12582912\ngc_interval_seconds = 0\n";
    assert_int_equal(mv_file_write_atomic(conf, text, sizeof text - 1, 0644), MV_OK);
    start_server();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (g_pid > 0)
        stop_server();
    free_user(&g_alice);
    free_user(&g_bob);
    free_user(&g_carol);
    free_user(&g_mallory);
    free_user(&g_dave);
    free_user(&g_admin);
    free_user(&g_pat);
    free_user(&g_pat2);
    mv_identity_free(g_hosp);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---------- tests ---------- */

static void test_health_and_metrics(void **state)
{
    (void)state;
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    assert_int_equal(call("GET", "/healthz", NULL, 0, NULL, &b), 200);
    assert_memory_equal(b.ptr, "ok", 2);
    assert_int_equal(call("GET", "/v1/stats", NULL, 0, &g_alice, NULL), 200);
    /* Without credentials /metrics shows what any client sees anyway (issue 11, finding 8). */
    assert_int_equal(tu_get_metrics(g_port, NULL, &b), 200);
    assert_non_null(strstr((const char *)b.ptr, "medvault_storage_http_requests_total{code=\"200\"}"));
    assert_null(strstr((const char *)b.ptr, "medvault_storage_requests_total"));
    assert_null(strstr((const char *)b.ptr, "medvault_storage_records"));
    assert_null(strstr((const char *)b.ptr, "medvault_storage_blocks"));
    assert_null(strstr((const char *)b.ptr, "bytes"));
    /* With the token of DIR/metrics.token (0600), everything. */
    assert_int_equal(tu_get_metrics(g_port, g_stdir, &b), 200);
    assert_non_null(strstr((const char *)b.ptr, "medvault_storage_requests_total{endpoint=\"stats\"}"));
    assert_non_null(strstr((const char *)b.ptr, "medvault_storage_physical_bytes"));
    assert_non_null(strstr((const char *)b.ptr, "medvault_storage_logical_bytes"));
    char tokp[400];
    struct stat tst;
    snprintf(tokp, sizeof tokp, "%s/metrics.token", g_stdir);
    assert_int_equal(stat(tokp, &tst), 0);
    assert_int_equal(tst.st_mode & 0777, 0600);
    mv_buf_clear(&b);
}

static void test_unsigned_and_forged(void **state)
{
    (void)state;
    block x = new_block(100);
    mv_buf f;
    mvb1_start(&f, "cardiology", 1);
    mvb1_upload(&f, x.token, x.tag, x.c, x.len);
    assert_int_equal(call("POST", "/v1/blocks", f.ptr, f.len, NULL, NULL), 401);
    assert_int_equal(call("GET", "/v1/stats", NULL, 0, NULL, NULL), 401);
    assert_int_equal(call("GET", "/v1/records", NULL, 0, NULL, NULL), 401);
    /* A credential from another hospital. */
    mv_identity *other = NULL;
    char od[300];
    snprintf(od, sizeof od, "%s/other-hospital", g_dir);
    assert_int_equal(mv_identity_create(od, &other), MV_OK);
    mv_identity *saved = g_hosp;
    g_hosp = other;
    user forged = make_user("forged", "admin", "cardiology");
    g_hosp = saved;
    assert_int_equal(call("POST", "/v1/blocks", f.ptr, f.len, &forged, NULL), 401);
    assert_int_equal(get_block(x.tag, NULL), 404);
    free_user(&forged);
    mv_identity_free(other);
    mv_buf_clear(&f);
    mv_free(x.c);
}

/* Shared between the tests below, in order. */
static block g_c1;      /* uploaded by alice (cardiology) and bob (oncology) */
static uint8_t g_r1[16]; /* alice's record naming g_c1 and g_only_r1, readable by dave */
static block g_only_r1; /* referenced by g_r1 only */
static block g_unref;   /* uploaded, never referenced */

static void test_upload_and_cross_department_dedup(void **state)
{
    (void)state;
    mv_json *j = NULL, *s0 = stats(), *s1 = NULL;
    g_c1 = new_block(3000);
    g_only_r1 = new_block(700);
    g_unref = new_block(444);
    block batch[3] = {g_c1, g_only_r1, g_unref};
    assert_int_equal(upload(&g_alice, "cardiology", batch, 3, &j), 200);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(result_status(j, i), "stored");
    mv_json_free(j);

    /* The same ciphertext from another department: kept once. */
    block same = g_c1;
    for (size_t i = 0; i < 32; i++)
        same.token[i] = (uint8_t)rand();
    assert_int_equal(upload(&g_bob, "oncology", &same, 1, &j), 200);
    assert_string_equal(result_status(j, 0), "duplicate");
    mv_json_free(j);
    s1 = stats();
    assert_int_equal(stat_u64(s1, "blocks"), stat_u64(s0, "blocks") + 3);
    assert_int_equal(stat_u64(s1, "block_bytes"), stat_u64(s0, "block_bytes") + 3000 + 700 + 444);

    /* The block reads back by tag, alone and in a batch with an unknown tag. */
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    assert_int_equal(get_block(g_c1.tag, &b), 200);
    assert_int_equal(b.len, g_c1.len);
    assert_memory_equal(b.ptr, g_c1.c, g_c1.len);
    mv_buf f;
    mv_buf_init(&f, 1024);
    assert_int_equal(mv_buf_append(&f, "MVG1", 4), MV_OK);
    put_u32(&f, 2);
    uint8_t unknown[32] = {1};
    assert_int_equal(mv_buf_append(&f, g_c1.tag, 32), MV_OK);
    assert_int_equal(mv_buf_append(&f, unknown, 32), MV_OK);
    assert_int_equal(call("POST", "/v1/blocks/get", f.ptr, f.len, &g_bob, &b), 200);
    assert_int_equal(b.len, 8 + 5 + g_c1.len + 5);
    assert_memory_equal(b.ptr, "MVG1\x02\x00\x00\x00\x01", 9);
    uint32_t l0 = (uint32_t)b.ptr[9] | (uint32_t)b.ptr[10] << 8 | (uint32_t)b.ptr[11] << 16 | (uint32_t)b.ptr[12] << 24;
    assert_int_equal(l0, g_c1.len);
    assert_memory_equal(b.ptr + 13, g_c1.c, g_c1.len);
    assert_int_equal(b.ptr[13 + g_c1.len], 0);
    char bad[64];
    snprintf(bad, sizeof bad, "/v1/blocks/%s", "zz");
    assert_int_equal(call("GET", bad, NULL, 0, &g_alice, NULL), 400);
    mv_buf_clear(&f);
    mv_buf_clear(&b);

    /* Records by both departments: the block is referenced twice, stored once. */
    uint8_t env1[200], env2[150], id2[16], tags1[64];
    mve1(env1, sizeof env1, 0xa1);
    mve1(env2, sizeof env2, 0xb2);
    for (size_t i = 0; i < 16; i++) {
        g_r1[i] = (uint8_t)rand();
        id2[i] = (uint8_t)rand();
    }
    memcpy(tags1, g_c1.tag, 32);
    memcpy(tags1 + 32, g_only_r1.tag, 32);
    assert_string_equal(put_record(&g_alice, g_r1, "cardiology", mv_identity_sign_pk(g_dave.id), 1, tags1, 2, env1,
                                   sizeof env1),
                        "stored");
    assert_string_equal(put_record(&g_bob, id2, "oncology", NULL, 0, g_c1.tag, 1, env2, sizeof env2), "stored");
    /* The same id again is refused, and nothing is counted twice. */
    assert_string_equal(put_record(&g_bob, id2, "oncology", NULL, 0, g_c1.tag, 1, env2, sizeof env2), "exists");
    mv_json *s2 = stats();
    assert_int_equal(stat_u64(s2, "records"), stat_u64(s0, "records") + 2);
    assert_int_equal(stat_u64(s2, "logical_bytes"),
                     stat_u64(s0, "logical_bytes") + (200 + 3000 + 700) + (150 + 3000));
    assert_int_equal(stat_u64(s2, "data_bytes"), stat_u64(s0, "data_bytes") + 200 + 150 + 3000 + 700);
    const mv_json *onc = mv_json_get(mv_json_get(s2, "departments"), "oncology");
    assert_non_null(onc);
    assert_int_equal(tu_json_u64(onc, "records"), 1);
    size_t sl = 0;
    const char *sav = mv_json_num(mv_json_get(s2, "savings"), &sl);
    assert_non_null(sav);
    /* Four decimals; negative while the index and framing outweigh what dedup saved (a
     * few records: physical bytes count the whole index file). */
    const char *dot = memchr(sav, '.', sl);
    assert_non_null(dot);
    assert_int_equal(sl - (size_t)(dot - sav), 5);
    mv_json_free(s0);
    mv_json_free(s1);
    mv_json_free(s2);
}

static void dupcheck(const user *u, const char *dept, const uint8_t token[32], long expect_status, mv_json **out)
{
    char body[256], hex[65];
    assert_int_equal(mv_hex_encode(hex, sizeof hex, token, 32), MV_OK);
    snprintf(body, sizeof body, "{\"department\":\"%s\",\"tokens\":[\"%s\"]}", dept, hex);
    mv_buf raw;
    mv_buf_init(&raw, 1 << 20);
    assert_int_equal(call("POST", "/v1/dupcheck", body, strlen(body), u, &raw), expect_status);
    if (out) {
        *out = NULL;
        assert_int_equal(mv_json_parse((const char *)raw.ptr, raw.len, NULL, out, NULL), MV_OK);
        if (expect_status == 200)
            expect_results_bytes(&raw, *out);
    }
    mv_buf_clear(&raw);
}

/* Sends one proof item for block x by u; returns the status. */
static long prove(const user *u, const block *x, uint64_t issued, const uint8_t nonce[16], const uint8_t resp[32],
                  mv_json **out)
{
    mv_buf f, b;
    mvb1_start(&f, "cardiology", 1);
    mvb1_proof(&f, x->token, x->tag, issued, nonce, resp);
    mv_buf_init(&b, 1 << 20);
    long st = call("POST", "/v1/blocks", f.ptr, f.len, u, &b);
    if (out)
        assert_int_equal(mv_json_parse((const char *)b.ptr, b.len, NULL, out, NULL), MV_OK);
    mv_buf_clear(&f);
    mv_buf_clear(&b);
    return st;
}

static void test_dupcheck_and_proof_of_ownership(void **state)
{
    (void)state;
    mv_json *j = NULL;
    /* Alice's token is invisible to oncology, and bob may not ask about cardiology. */
    dupcheck(&g_bob, "oncology", g_c1.token, 200, &j);
    int ex = 1;
    assert_int_equal(mv_json_bool(mv_json_get(mv_json_at(mv_json_get(j, "results"), 0), "exists"), &ex), MV_OK);
    assert_int_equal(ex, 0);
    mv_json_free(j);
    dupcheck(&g_bob, "cardiology", g_c1.token, 403, NULL);
    assert_int_equal(call_json("POST", "/v1/dupcheck", "{\"department\":\"cardiology\",\"tokens\":[\"00\"]}",
                               &g_carol, NULL),
                     400);
    assert_int_equal(call_json("POST", "/v1/dupcheck", "not json", &g_carol, NULL), 400);

    /* Carol (cardiology) learns it exists and gets a challenge. */
    dupcheck(&g_carol, "cardiology", g_c1.token, 200, &j);
    const mv_json *r0 = mv_json_at(mv_json_get(j, "results"), 0);
    assert_int_equal(mv_json_bool(mv_json_get(r0, "exists"), &ex), MV_OK);
    assert_int_equal(ex, 1);
    uint64_t issued = tu_json_u64(r0, "issued");
    uint8_t nonce[16], n[32], good[32], wrong[32];
    assert_int_equal(mv_json_get_hex(r0, "nonce", nonce, 16), MV_OK);
    assert_int_equal(mv_json_get_hex(r0, "challenge", n, 32), MV_OK);
    mv_json_free(j);
    assert_true(issued + 5 >= (uint64_t)time(NULL));
    assert_int_equal(mv_hmac_sha256(good, n, 32, g_c1.c, g_c1.len), MV_OK);
    memcpy(wrong, good, 32);
    wrong[0] ^= 1;

    mv_json *s0 = stats();
    /* Wrong response, the right response for another caller or another token, a stale date. */
    assert_int_equal(prove(&g_carol, &g_c1, issued, nonce, wrong, NULL), 403);
    assert_int_equal(prove(&g_mallory, &g_c1, issued, nonce, good, NULL), 403);
    block other_token = g_c1;
    other_token.token[0] ^= 1;
    assert_int_equal(prove(&g_carol, &other_token, issued, nonce, good, NULL), 403);
    assert_int_equal(prove(&g_carol, &g_c1, issued - 1000, nonce, good, NULL), 403);
    /* Knowing the tag alone gets nothing: a record naming it is forbidden, no reference added. */
    uint8_t id[16], env[160];
    mve1(env, sizeof env, 0xc3);
    for (size_t i = 0; i < 16; i++)
        id[i] = (uint8_t)rand();
    assert_string_equal(put_record(&g_carol, id, "cardiology", NULL, 0, g_c1.tag, 1, env, sizeof env), "forbidden");
    assert_string_equal(put_record(&g_mallory, id, "cardiology", NULL, 0, g_c1.tag, 1, env, sizeof env),
                        "forbidden");
    uint8_t nowhere[32] = {7};
    assert_string_equal(put_record(&g_carol, id, "cardiology", NULL, 0, nowhere, 1, env, sizeof env),
                        "missing-block");
    mv_json *s1 = stats();
    assert_int_equal(stat_u64(s1, "records"), stat_u64(s0, "records"));
    assert_int_equal(stat_u64(s1, "logical_bytes"), stat_u64(s0, "logical_bytes"));
    mv_json_free(s1);

    /* The right proof: claimed, and then the record stores. */
    assert_int_equal(prove(&g_carol, &g_c1, issued, nonce, good, &j), 200);
    assert_string_equal(result_status(j, 0), "claimed");
    mv_json_free(j);
    assert_string_equal(put_record(&g_carol, id, "cardiology", NULL, 0, g_c1.tag, 1, env, sizeof env), "stored");
    s1 = stats();
    assert_int_equal(stat_u64(s1, "records"), stat_u64(s0, "records") + 1);
    assert_int_equal(stat_u64(s1, "blocks"), stat_u64(s0, "blocks"));
    assert_int_equal(stat_u64(s1, "logical_bytes"), stat_u64(s0, "logical_bytes") + sizeof env + g_c1.len);
    assert_int_equal(stat_u64(s1, "data_bytes"), stat_u64(s0, "data_bytes") + sizeof env);
    const mv_json *card = mv_json_get(mv_json_get(s1, "departments"), "cardiology");
    assert_true(tu_json_u64(card, "dedup_hits") >= 1);
    mv_json_free(s0);
    mv_json_free(s1);

    /* A batch with one good upload and one failed proof stores nothing. */
    block fresh = new_block(321);
    mv_buf f;
    mvb1_start(&f, "cardiology", 2);
    mvb1_upload(&f, fresh.token, fresh.tag, fresh.c, fresh.len);
    mvb1_proof(&f, g_c1.token, g_c1.tag, issued, nonce, wrong);
    assert_int_equal(call("POST", "/v1/blocks", f.ptr, f.len, &g_carol, NULL), 403);
    assert_int_equal(get_block(fresh.tag, NULL), 404);
    mv_buf_clear(&f);
    mv_free(fresh.c);
}

static void test_tag_mismatch_stores_nothing(void **state)
{
    (void)state;
    mv_json *s0 = stats(), *s1 = NULL;
    block good = new_block(500), bad = new_block(600);
    bad.tag[5] ^= 0x40;
    mv_buf b;
    mv_buf_init(&b, 4096);
    mv_buf f;
    mvb1_start(&f, "cardiology", 2);
    mvb1_upload(&f, good.token, good.tag, good.c, good.len);
    mvb1_upload(&f, bad.token, bad.tag, bad.c, bad.len);
    assert_int_equal(call("POST", "/v1/blocks", f.ptr, f.len, &g_alice, &b), 400);
    assert_non_null(strstr((const char *)b.ptr, "tag does not match ciphertext"));
    s1 = stats();
    assert_int_equal(stat_u64(s1, "blocks"), stat_u64(s0, "blocks"));
    assert_int_equal(stat_u64(s1, "block_bytes"), stat_u64(s0, "block_bytes"));
    assert_int_equal(stat_u64(s1, "pack_bytes"), stat_u64(s0, "pack_bytes"));
    assert_int_equal(get_block(good.tag, NULL), 404);
    mv_json_free(s0);
    mv_json_free(s1);
    mv_buf_clear(&f);
    mv_buf_clear(&b);
    mv_free(good.c);
    mv_free(bad.c);
}

static void test_malformed_frames(void **state)
{
    (void)state;
    mv_json *s0 = stats(), *s1 = NULL;
    block x = new_block(800);
    mv_buf f, g;
    mvb1_start(&f, "cardiology", 1);
    mvb1_upload(&f, x.token, x.tag, x.c, x.len);

    /* Truncated at every interesting point. */
    size_t cuts[] = {0, 3, 4, 5, 10, 15, 16, 19, 20, 60, 100, f.len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        assert_int_equal(call("POST", "/v1/blocks", f.ptr, cuts[i], &g_alice, NULL), 400);
    /* Wrong magic. */
    f.ptr[3] = '2';
    assert_int_equal(call("POST", "/v1/blocks", f.ptr, f.len, &g_alice, NULL), 400);
    f.ptr[3] = '1';
    /* Trailing byte. */
    mv_buf_init(&g, 1 << 20);
    assert_int_equal(mv_buf_append(&g, f.ptr, f.len), MV_OK);
    assert_int_equal(mv_buf_append(&g, "x", 1), MV_OK);
    assert_int_equal(call("POST", "/v1/blocks", g.ptr, g.len, &g_alice, NULL), 400);
    /* Offsets for department "cardiology": count at 15, first kind at 19, length at 84. */
    /* A count larger than the body. */
    mv_buf_reset(&g);
    assert_int_equal(mv_buf_append(&g, f.ptr, f.len), MV_OK);
    g.ptr[15] = 0xff;
    g.ptr[16] = 0xff;
    assert_int_equal(call("POST", "/v1/blocks", g.ptr, g.len, &g_alice, NULL), 400);
    g.ptr[15] = 2;
    g.ptr[16] = 0;
    assert_int_equal(call("POST", "/v1/blocks", g.ptr, g.len, &g_alice, NULL), 400);
    /* An unknown kind, a zero count, an empty department. */
    mv_buf_reset(&g);
    assert_int_equal(mv_buf_append(&g, f.ptr, f.len), MV_OK);
    g.ptr[19] = 3;
    assert_int_equal(call("POST", "/v1/blocks", g.ptr, g.len, &g_alice, NULL), 400);
    g.ptr[19] = 1;
    g.ptr[15] = 0;
    assert_int_equal(call("POST", "/v1/blocks", g.ptr, 19, &g_alice, NULL), 400);
    const uint8_t empty_dept[] = {'M', 'V', 'B', '1', 0, 1, 0, 0, 0};
    assert_int_equal(call("POST", "/v1/blocks", empty_dept, sizeof empty_dept, &g_alice, NULL), 400);
    /* A block length over 8 MiB (413), with or without the bytes. */
    mv_buf_reset(&g);
    assert_int_equal(mv_buf_append(&g, f.ptr, 84), MV_OK);
    put_u32(&g, (8u << 20) + 1);
    assert_int_equal(call("POST", "/v1/blocks", g.ptr, g.len, &g_alice, NULL), 413);
    block huge = new_block((8u << 20) + 1);
    mv_buf h;
    mvb1_start(&h, "cardiology", 1);
    mvb1_upload(&h, huge.token, huge.tag, huge.c, huge.len);
    assert_int_equal(call("POST", "/v1/blocks", h.ptr, h.len, &g_alice, NULL), 413);
    /* A body over the server's max_body (12 MiB here). */
    uint8_t *big = mv_calloc(13u << 20, 1);
    assert_non_null(big);
    memcpy(big, "MVB1", 4);
    assert_int_equal(call("POST", "/v1/blocks", big, 13u << 20, &g_alice, NULL), 413);
    mv_free(big);

    /* Record frames: bad magic, truncated, count over the body, an envelope over 1 MiB. */
    mv_buf p;
    uint8_t id[16] = {9}, env[160];
    mve1(env, sizeof env, 0);
    mvp_start(&p, 1);
    mvp_record(&p, id, "cardiology", NULL, 0, g_c1.tag, 1, env, sizeof env);
    for (size_t cut = 0; cut < p.len; cut += 7)
        assert_int_equal(call("POST", "/v1/records", p.ptr, cut, &g_alice, NULL), 400);
    assert_int_equal(call("POST", "/v1/records", p.ptr, p.len - 1, &g_alice, NULL), 400);
    p.ptr[0] = 'X';
    assert_int_equal(call("POST", "/v1/records", p.ptr, p.len, &g_alice, NULL), 400);
    p.ptr[0] = 'M';
    p.ptr[4] = 200;
    assert_int_equal(call("POST", "/v1/records", p.ptr, p.len, &g_alice, NULL), 400);
    mv_buf q;
    mvp_start(&q, 1);
    uint8_t *bigenv = mv_calloc((1u << 20) + 1, 1);
    assert_non_null(bigenv);
    mvp_record(&q, id, "cardiology", NULL, 0, g_c1.tag, 1, bigenv, (1u << 20) + 1);
    assert_int_equal(call("POST", "/v1/records", q.ptr, q.len, &g_alice, NULL), 413);
    mv_free(bigenv);
    /* Batched gets: a count that does not match, zero, too many. */
    const uint8_t g0[] = {'M', 'V', 'G', '1', 1, 0, 0, 0};
    assert_int_equal(call("POST", "/v1/blocks/get", g0, sizeof g0, &g_alice, NULL), 400);
    const uint8_t q0[] = {'M', 'V', 'Q', '1', 0, 0, 0, 0};
    assert_int_equal(call("POST", "/v1/records/get", q0, sizeof q0, &g_alice, NULL), 400);

    s1 = stats();
    assert_int_equal(stat_u64(s1, "blocks"), stat_u64(s0, "blocks"));
    assert_int_equal(stat_u64(s1, "records"), stat_u64(s0, "records"));
    assert_int_equal(stat_u64(s1, "pack_bytes"), stat_u64(s0, "pack_bytes"));
    assert_int_equal(get_block(x.tag, NULL), 404);
    assert_int_equal(get_block(huge.tag, NULL), 404);
    mv_json_free(s0);
    mv_json_free(s1);
    mv_buf_clear(&f);
    mv_buf_clear(&g);
    mv_buf_clear(&h);
    mv_buf_clear(&p);
    mv_buf_clear(&q);
    mv_free(x.c);
    mv_free(huge.c);
}

static void test_department_not_in_credential(void **state)
{
    (void)state;
    block x = new_block(128);
    assert_int_equal(upload(&g_alice, "oncology", &x, 1, NULL), 403);
    assert_int_equal(get_block(x.tag, NULL), 404);
    dupcheck(&g_alice, "oncology", x.token, 403, NULL);
    dupcheck(&g_admin, "cardiology", x.token, 403, NULL);
    uint8_t id[16] = {0x42}, env[160];
    mve1(env, sizeof env, 0);
    mv_buf p;
    mvp_start(&p, 1);
    mvp_record(&p, id, "oncology", NULL, 0, g_c1.tag, 1, env, sizeof env);
    assert_int_equal(call("POST", "/v1/records", p.ptr, p.len, &g_alice, NULL), 403);
    mv_buf_clear(&p);
    mv_free(x.c);
}

/* GET with the signed headers by hand, to read the MV-Record-Owner response header. */
static size_t header_cb(char *buf, size_t size, size_t n, void *ud)
{
    size_t len = size * n;
    char *owner = ud;
    if (len > 17 && !strncasecmp(buf, "MV-Record-Owner: ", 17) && len >= 17 + 64) {
        memcpy(owner, buf + 17, 64);
        owner[64] = 0;
    }
    return len;
}

static size_t discard_cb(char *buf, size_t size, size_t n, void *ud)
{
    (void)buf;
    (void)ud;
    return size * n;
}

static void owner_header(const user *u, const char *path, char owner[65])
{
    mv_signed_headers sh;
    char url[256], origin[64], h[6][4300];
    owner[0] = 0;
    snprintf(origin, sizeof origin, "http://127.0.0.1:%u", g_port);
    assert_int_equal(mv_auth_sign_request(&sh, mv_identity_sign_pk(u->id), mv_identity_sign_sk(u->id), origin, "GET",
                                          path, NULL, 0, (uint64_t)time(NULL)),
                     MV_OK);
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", g_port, path);
    snprintf(h[0], sizeof h[0], "MV-Key: %s", sh.key);
    snprintf(h[1], sizeof h[1], "MV-Date: %s", sh.date);
    snprintf(h[2], sizeof h[2], "MV-Nonce: %s", sh.nonce);
    snprintf(h[3], sizeof h[3], "MV-Signature: %s", sh.signature);
    snprintf(h[4], sizeof h[4], "MV-Credential: %s", u->cred);
    snprintf(h[5], sizeof h[5], "MV-Target: %s", sh.target);
    struct curl_slist *list = NULL;
    for (int i = 0; i < 6; i++)
        list = curl_slist_append(list, h[i]);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, owner);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_cb);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long st = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    assert_int_equal(st, 200);
    curl_easy_cleanup(c);
    curl_slist_free_all(list);
}

static void test_acl(void **state)
{
    (void)state;
    char path[256], owner[65], alice_hex[65];
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    id_path(path, sizeof path, "/v1/records/", g_r1, 16);
    uint8_t env1[200];
    mve1(env1, sizeof env1, 0xa1);
    /* Owner, named reader and admin read it; others are refused. */
    assert_int_equal(call("GET", path, NULL, 0, &g_alice, &b), 200);
    assert_int_equal(b.len, sizeof env1);
    assert_memory_equal(b.ptr, env1, sizeof env1);
    assert_int_equal(call("GET", path, NULL, 0, &g_dave, &b), 200);
    assert_memory_equal(b.ptr, env1, sizeof env1);
    assert_int_equal(call("GET", path, NULL, 0, &g_admin, &b), 200);
    assert_int_equal(call("GET", path, NULL, 0, &g_mallory, NULL), 403);
    assert_int_equal(call("GET", path, NULL, 0, &g_bob, NULL), 403);
    owner_header(&g_dave, path, owner);
    assert_int_equal(mv_hex_encode(alice_hex, sizeof alice_hex, mv_identity_sign_pk(g_alice.id), 32), MV_OK);
    assert_string_equal(owner, alice_hex);
    uint8_t absent[16] = {0xee};
    char apath[256];
    id_path(apath, sizeof apath, "/v1/records/", absent, 16);
    assert_int_equal(call("GET", apath, NULL, 0, &g_alice, NULL), 404);
    assert_int_equal(call("GET", "/v1/records/abc", NULL, 0, &g_alice, NULL), 400);

    /* Batched: ok / not found / forbidden per id. */
    mv_buf f;
    mv_buf_init(&f, 1024);
    assert_int_equal(mv_buf_append(&f, "MVQ1", 4), MV_OK);
    put_u32(&f, 2);
    assert_int_equal(mv_buf_append(&f, g_r1, 16), MV_OK);
    assert_int_equal(mv_buf_append(&f, absent, 16), MV_OK);
    assert_int_equal(call("POST", "/v1/records/get", f.ptr, f.len, &g_dave, &b), 200);
    assert_int_equal(b.len, 8 + 5 + sizeof env1 + 5);
    assert_int_equal(b.ptr[8], 0);
    assert_memory_equal(b.ptr + 13, env1, sizeof env1);
    assert_int_equal(b.ptr[13 + sizeof env1], 1);
    assert_int_equal(call("POST", "/v1/records/get", f.ptr, f.len, &g_mallory, &b), 200);
    assert_int_equal(b.len, 8 + 5 + 5);
    assert_int_equal(b.ptr[8], 2);
    assert_int_equal(b.ptr[13], 1);
    mv_buf_clear(&f);

    /* Listings: each caller sees what it may read; the admin sees everything, in order. */
    mv_json *j = NULL;
    char r1hex[33];
    assert_int_equal(mv_hex_encode(r1hex, sizeof r1hex, g_r1, 16), MV_OK);
    assert_int_equal(call_json("GET", "/v1/records", NULL, &g_dave, &j), 200);
    const mv_json *recs = mv_json_get(j, "records");
    assert_int_equal(mv_json_len(recs), 1);
    assert_string_equal(mv_json_get_str(mv_json_at(recs, 0), "id", NULL), r1hex);
    assert_string_equal(mv_json_get_str(mv_json_at(recs, 0), "department", NULL), "cardiology");
    assert_int_equal(tu_json_u64(mv_json_at(recs, 0), "blocks"), 2);
    assert_int_equal(tu_json_u64(mv_json_at(recs, 0), "envelope_bytes"), 200);
    assert_int_equal(tu_json_u64(mv_json_at(recs, 0), "logical_bytes"), 200 + 3000 + 700);
    mv_json_free(j);
    assert_int_equal(call_json("GET", "/v1/records", NULL, &g_mallory, &j), 200);
    assert_int_equal(mv_json_len(mv_json_get(j, "records")), 0);
    mv_json_free(j);
    assert_int_equal(call_json("GET", "/v1/records", NULL, &g_admin, &j), 200);
    recs = mv_json_get(j, "records");
    assert_int_equal(mv_json_len(recs), 3); /* alice's, bob's, carol's */
    for (size_t i = 1; i < mv_json_len(recs); i++) {
        uint64_t a = tu_json_u64(mv_json_at(recs, i - 1), "created"), c = tu_json_u64(mv_json_at(recs, i), "created");
        const char *ia = mv_json_get_str(mv_json_at(recs, i - 1), "id", NULL);
        const char *ic = mv_json_get_str(mv_json_at(recs, i), "id", NULL);
        assert_true(a < c || (a == c && strcmp(ia, ic) < 0));
    }
    mv_json_free(j);
    mv_buf_clear(&b);
}

/* ---------- records for patients (MVP2 delegation rule) and ACL updates (MVA1) ---------- */

/* A delegation from patient p to doctor doc for episode ep in dept, valid [issued, expires),
 * countersigned with (cs_pk, cs_sk) (the hospital's, or a forger's), or not at all if cs_pk
 * is NULL. Encoded into out; returns the length. */
static uint16_t delegation(const user *p, const user *doc, const uint8_t ep[16], const char *dept, int64_t issued_rel,
                           int64_t expires_rel, const uint8_t *cs_pk, const uint8_t *cs_sk,
                           uint8_t out[MV_DELEGATION_MAX_BYTES])
{
    mv_delegation d;
    size_t len = 0;
    uint64_t now = (uint64_t)time(NULL);
    memset(&d, 0, sizeof d);
    memcpy(d.patient, mv_identity_sign_pk(p->id), 32);
    memcpy(d.doctor, mv_identity_sign_pk(doc->id), 32);
    memcpy(d.appointment, ep, 16);
    d.issued_at = (uint64_t)((int64_t)now + issued_rel);
    d.expires_at = (uint64_t)((int64_t)now + expires_rel);
    snprintf(d.department, sizeof d.department, "%s", dept);
    assert_int_equal(mv_delegation_sign(&d, mv_identity_sign_sk(p->id)), MV_OK);
    if (cs_pk)
        assert_int_equal(mv_delegation_countersign(&d, cs_pk, cs_sk), MV_OK);
    assert_int_equal(mv_delegation_encode(&d, out, MV_DELEGATION_MAX_BYTES, &len), MV_OK);
    return (uint16_t)len;
}

/* Stores one record for a patient (u owns it); returns its status (static string). */
static const char *put_patient_record(const user *u, const uint8_t id[16], const char *dept, const user *patient,
                                      const uint8_t ep[16], const uint8_t *dg, uint16_t dglen, const block *x,
                                      const uint8_t *env, uint32_t el)
{
    static char st[32];
    mv_buf f, b;
    mv_json *j = NULL;
    mvp_start(&f, 1);
    mvp_record_for(&f, id, dept, patient ? mv_identity_sign_pk(patient->id) : NULL, ep, dg, dglen, NULL, 0, x->tag, 1,
                   env, el);
    mv_buf_init(&b, 1 << 20);
    assert_int_equal(call("POST", "/v1/records", f.ptr, f.len, u, &b), 200);
    assert_int_equal(mv_json_parse((const char *)b.ptr, b.len, NULL, &j, NULL), MV_OK);
    expect_results_bytes(&b, j);
    snprintf(st, sizeof st, "%s", result_status(j, 0));
    if (!strcmp(st, "stored"))
        track_ref(x->tag, +1);
    mv_json_free(j);
    mv_buf_clear(&f);
    mv_buf_clear(&b);
    return st;
}

static uint8_t g_pr[16];   /* alice's record for pat, episode g_ep */
static uint8_t g_ep[16];
static block g_pblk;       /* the block it names (alice, cardiology) */

static void test_patient_records_need_a_delegation(void **state)
{
    (void)state;
    const uint8_t *hpk = mv_identity_sign_pk(g_hosp), *hsk = mv_identity_sign_sk(g_hosp);
    uint8_t dg[MV_DELEGATION_MAX_BYTES], ep2[16], id[16], env[164];
    uint16_t dl;
    char path[256];
    mve1(env, sizeof env, 0x5e);
    for (size_t i = 0; i < 16; i++) {
        g_ep[i] = (uint8_t)rand();
        ep2[i] = (uint8_t)rand();
        g_pr[i] = (uint8_t)rand();
    }
    g_pblk = new_block(900);
    assert_int_equal(upload(&g_alice, "cardiology", &g_pblk, 1, NULL), 200);

    /* Each of these is refused, and nothing is stored under its id. */
    struct {
        const char *what;
        const user *doc;
        const uint8_t *ep_in_dg, *ep_in_rec;
        const char *dept;
        int64_t iss, exp;
        int cs; /* 0: none, 1: hospital, 2: forged by alice's key */
        const user *rec_patient;
    } bad[] = {
        {"no countersignature", &g_alice, g_ep, g_ep, "cardiology", -60, 3600, 0, &g_pat},
        {"forged countersignature", &g_alice, g_ep, g_ep, "cardiology", -60, 3600, 2, &g_pat},
        {"expired", &g_alice, g_ep, g_ep, "cardiology", -7200, -3600, 1, &g_pat},
        {"another doctor", &g_carol, g_ep, g_ep, "cardiology", -60, 3600, 1, &g_pat},
        {"another episode", &g_alice, ep2, g_ep, "cardiology", -60, 3600, 1, &g_pat},
        {"another department", &g_alice, g_ep, g_ep, "oncology", -60, 3600, 1, &g_pat},
        {"another patient", &g_alice, g_ep, g_ep, "cardiology", -60, 3600, 1, &g_pat2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (size_t k = 0; k < 16; k++)
            id[k] = (uint8_t)rand();
        dl = delegation(&g_pat, bad[i].doc, bad[i].ep_in_dg, bad[i].dept, bad[i].iss, bad[i].exp,
                        bad[i].cs == 1 ? hpk : bad[i].cs == 2 ? mv_identity_sign_pk(g_alice.id) : NULL,
                        bad[i].cs == 1 ? hsk : mv_identity_sign_sk(g_alice.id), dg);
        print_message("case: %s\n", bad[i].what);
        assert_string_equal(put_patient_record(&g_alice, id, "cardiology", bad[i].rec_patient, bad[i].ep_in_rec, dg,
                                               dl, &g_pblk, env, sizeof env),
                            "forbidden");
        id_path(path, sizeof path, "/v1/records/", id, 16);
        assert_int_equal(call("GET", path, NULL, 0, &g_admin, NULL), 404);
    }
    /* A patient but no delegation at all; garbage instead of one. */
    id[0] ^= 1;
    assert_string_equal(put_patient_record(&g_alice, id, "cardiology", &g_pat, g_ep, NULL, 0, &g_pblk, env, sizeof env),
                        "forbidden");
    assert_string_equal(put_patient_record(&g_alice, id, "cardiology", &g_pat, g_ep, (const uint8_t *)"MVD1junk", 8,
                                           &g_pblk, env, sizeof env),
                        "forbidden");
    /* A delegation on a record with no patient is malformed. */
    dl = delegation(&g_pat, &g_alice, g_ep, "cardiology", -60, 3600, hpk, hsk, dg);
    assert_string_equal(put_patient_record(&g_alice, id, "cardiology", NULL, NULL, dg, dl, &g_pblk, env, sizeof env),
                        "invalid");
    id_path(path, sizeof path, "/v1/records/", id, 16);
    assert_int_equal(call("GET", path, NULL, 0, &g_admin, NULL), 404);
    /* The right delegation, but carol sends it: she is not the delegated doctor. */
    assert_int_equal(upload(&g_carol, "cardiology", &g_pblk, 1, NULL), 200);
    assert_string_equal(put_patient_record(&g_carol, id, "cardiology", &g_pat, g_ep, dg, dl, &g_pblk, env, sizeof env),
                        "forbidden");

    /* Valid: stored, readable by the patient (added to the readers), listed with patient and
     * episode; other patients and doctors are refused. */
    assert_string_equal(put_patient_record(&g_alice, g_pr, "cardiology", &g_pat, g_ep, dg, dl, &g_pblk, env, sizeof env),
                        "stored");
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    id_path(path, sizeof path, "/v1/records/", g_pr, 16);
    assert_int_equal(call("GET", path, NULL, 0, &g_pat, &b), 200);
    assert_int_equal(b.len, sizeof env);
    assert_memory_equal(b.ptr, env, sizeof env);
    assert_int_equal(call("GET", path, NULL, 0, &g_pat2, NULL), 403);
    assert_int_equal(call("GET", path, NULL, 0, &g_carol, NULL), 403);
    char pat_hex[65], ep_hex[33], idhex[33];
    assert_int_equal(mv_hex_encode(pat_hex, sizeof pat_hex, mv_identity_sign_pk(g_pat.id), 32), MV_OK);
    assert_int_equal(mv_hex_encode(ep_hex, sizeof ep_hex, g_ep, 16), MV_OK);
    assert_int_equal(mv_hex_encode(idhex, sizeof idhex, g_pr, 16), MV_OK);
    mv_json *j = NULL;
    assert_int_equal(call_json("GET", "/v1/records", NULL, &g_pat, &j), 200);
    const mv_json *recs = mv_json_get(j, "records");
    assert_int_equal(mv_json_len(recs), 1);
    assert_string_equal(mv_json_get_str(mv_json_at(recs, 0), "id", NULL), idhex);
    assert_string_equal(mv_json_get_str(mv_json_at(recs, 0), "patient", NULL), pat_hex);
    assert_string_equal(mv_json_get_str(mv_json_at(recs, 0), "episode", NULL), ep_hex);
    mv_json_free(j);
    assert_int_equal(call_json("GET", "/v1/records", NULL, &g_admin, &j), 200);
    recs = mv_json_get(j, "records");
    size_t legacy = 0;
    for (size_t i = 0; i < mv_json_len(recs); i++)
        legacy += !strcmp(mv_json_get_str(mv_json_at(recs, i), "patient", NULL), "") &&
                  !strcmp(mv_json_get_str(mv_json_at(recs, i), "episode", NULL), "");
    assert_int_equal(legacy, mv_json_len(recs) - 1);
    mv_json_free(j);
    /* The metadata and ACL: owner, then the patient. */
    char rpath[300];
    snprintf(rpath, sizeof rpath, "%s/readers", path);
    assert_int_equal(call_json("GET", rpath, NULL, &g_pat, &j), 200);
    assert_string_equal(mv_json_get_str(j, "patient", NULL), pat_hex);
    assert_string_equal(mv_json_get_str(j, "episode", NULL), ep_hex);
    assert_int_equal(mv_json_len(mv_json_get(j, "readers")), 2);
    assert_string_equal(mv_json_str(mv_json_at(mv_json_get(j, "readers"), 1), NULL), pat_hex);
    mv_json_free(j);
    assert_int_equal(call("GET", rpath, NULL, 0, &g_pat2, NULL), 403);

    /* A batch judges each record alone: the valid one is stored, the undelegated one not. */
    uint8_t id_ok[16], id_bad[16];
    for (size_t k = 0; k < 16; k++) {
        id_ok[k] = (uint8_t)rand();
        id_bad[k] = (uint8_t)rand();
    }
    mv_buf f;
    mvp_start(&f, 2);
    mvp_record_for(&f, id_ok, "cardiology", mv_identity_sign_pk(g_pat.id), g_ep, dg, dl, NULL, 0, g_pblk.tag, 1, env,
                   sizeof env);
    mvp_record_for(&f, id_bad, "cardiology", mv_identity_sign_pk(g_pat2.id), g_ep, dg, dl, NULL, 0, g_pblk.tag, 1, env,
                   sizeof env);
    assert_int_equal(call("POST", "/v1/records", f.ptr, f.len, &g_alice, &b), 200);
    assert_int_equal(mv_json_parse((const char *)b.ptr, b.len, NULL, &j, NULL), MV_OK);
    assert_string_equal(result_status(j, 0), "stored");
    assert_string_equal(result_status(j, 1), "forbidden");
    track_ref(g_pblk.tag, +1);
    mv_json_free(j);
    mv_buf_clear(&f);
    id_path(path, sizeof path, "/v1/records/", id_ok, 16);
    assert_int_equal(call("GET", path, NULL, 0, &g_pat, NULL), 200);
    id_path(path, sizeof path, "/v1/records/", id_bad, 16);
    assert_int_equal(call("GET", path, NULL, 0, &g_admin, NULL), 404);
    mv_buf_clear(&b);
}

/* POST /v1/records/{id}/readers with an MVA1 frame; returns the status, *nreaders the answer's
 * count on 200 (nreaders may be NULL). */
static long set_readers(const user *u, const uint8_t id[16], uint8_t flags, const uint8_t *patient,
                        const user *const *readers, uint8_t n, const uint8_t *env, uint32_t el, uint64_t *nreaders)
{
    char path[300];
    uint8_t zero[32] = {0};
    mv_buf f, b;
    id_path(path, sizeof path, "/v1/records/", id, 16);
    snprintf(path + strlen(path), sizeof path - strlen(path), "/readers");
    mv_buf_init(&f, 1 << 20);
    mv_buf_init(&b, 1 << 16);
    assert_int_equal(mv_buf_append(&f, "MVA1", 4), MV_OK);
    assert_int_equal(mv_buf_append(&f, &flags, 1), MV_OK);
    assert_int_equal(mv_buf_append(&f, patient ? patient : zero, 32), MV_OK);
    assert_int_equal(mv_buf_append(&f, &n, 1), MV_OK);
    for (uint8_t i = 0; i < n; i++)
        assert_int_equal(mv_buf_append(&f, mv_identity_sign_pk(readers[i]->id), 32), MV_OK);
    put_u32(&f, el);
    if (el)
        assert_int_equal(mv_buf_append(&f, env, el), MV_OK);
    long st = call("POST", path, f.ptr, f.len, u, &b);
    if (st == 200 && nreaders) {
        mv_json *j = NULL;
        assert_int_equal(mv_json_parse((const char *)b.ptr, b.len, NULL, &j, NULL), MV_OK);
        *nreaders = tu_json_u64(j, "readers");
        mv_json_free(j);
    }
    mv_buf_clear(&f);
    mv_buf_clear(&b);
    return st;
}

static void test_record_readers_update(void **state)
{
    (void)state;
    char path[256], rpath[300];
    uint64_t n = 0;
    uint8_t env2[170];
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    mve1(env2, sizeof env2, 0x77);
    id_path(path, sizeof path, "/v1/records/", g_pr, 16);
    snprintf(rpath, sizeof rpath, "%s/readers", path);
    const user *dave[] = {&g_dave}, *three[] = {&g_dave, &g_carol, &g_alice};

    /* The owner adds dave with a re-wrapped envelope: dave reads the new envelope. */
    assert_int_equal(call("GET", path, NULL, 0, &g_dave, NULL), 403);
    assert_int_equal(set_readers(&g_alice, g_pr, 0, NULL, dave, 1, env2, sizeof env2, &n), 200);
    assert_int_equal(n, 3);
    assert_int_equal(call("GET", path, NULL, 0, &g_dave, &b), 200);
    assert_int_equal(b.len, sizeof env2);
    assert_memory_equal(b.ptr, env2, sizeof env2);
    /* The patient replaces the list (owner and patient always kept); dave is out. */
    assert_int_equal(set_readers(&g_pat, g_pr, 0, NULL, NULL, 0, NULL, 0, &n), 200);
    assert_int_equal(n, 2);
    assert_int_equal(call("GET", path, NULL, 0, &g_dave, NULL), 403);
    assert_int_equal(call("GET", path, NULL, 0, &g_alice, NULL), 200);
    assert_int_equal(call("GET", path, NULL, 0, &g_pat, &b), 200);
    assert_int_equal(b.len, sizeof env2); /* no envelope sent: the last one is kept */
    assert_int_equal(set_readers(&g_pat, g_pr, 0, NULL, three, 3, NULL, 0, &n), 200);
    assert_int_equal(n, 4); /* alice folded as the owner */
    /* Refused to anyone else, even a reader; the admin may. */
    assert_int_equal(set_readers(&g_mallory, g_pr, 0, NULL, NULL, 0, NULL, 0, NULL), 403);
    assert_int_equal(set_readers(&g_dave, g_pr, 0, NULL, NULL, 0, NULL, 0, NULL), 403);
    assert_int_equal(set_readers(&g_pat2, g_pr, 0, NULL, NULL, 0, NULL, 0, NULL), 403);
    assert_int_equal(set_readers(&g_admin, g_pr, 0, NULL, NULL, 0, NULL, 0, &n), 200);
    assert_int_equal(n, 2);
    /* Its patient is set: nobody sets another. */
    assert_int_equal(set_readers(&g_alice, g_pr, 1, mv_identity_sign_pk(g_pat2.id), NULL, 0, NULL, 0, NULL), 409);
    assert_int_equal(set_readers(&g_pat, g_pr, 1, mv_identity_sign_pk(g_pat2.id), NULL, 0, NULL, 0, NULL), 403);

    /* A legacy record (no patient) gets one, once, from its owner only. */
    uint8_t lid[16], env[150];
    mve1(env, sizeof env, 0x1e);
    for (size_t i = 0; i < 16; i++)
        lid[i] = (uint8_t)rand();
    assert_string_equal(put_patient_record(&g_alice, lid, "cardiology", NULL, NULL, NULL, 0, &g_pblk, env, sizeof env),
                        "stored");
    char lpath[256];
    id_path(lpath, sizeof lpath, "/v1/records/", lid, 16);
    assert_int_equal(call("GET", lpath, NULL, 0, &g_pat, NULL), 403);
    assert_int_equal(set_readers(&g_alice, lid, 0, NULL, dave, 1, NULL, 0, &n), 200);
    assert_int_equal(set_readers(&g_dave, lid, 1, mv_identity_sign_pk(g_pat.id), NULL, 0, NULL, 0, NULL), 403);
    assert_int_equal(set_readers(&g_pat, lid, 1, mv_identity_sign_pk(g_pat.id), NULL, 0, NULL, 0, NULL), 403);
    assert_int_equal(set_readers(&g_admin, lid, 1, mv_identity_sign_pk(g_pat.id), NULL, 0, NULL, 0, NULL), 403);
    assert_int_equal(call("GET", lpath, NULL, 0, &g_pat, NULL), 403);
    assert_int_equal(set_readers(&g_alice, lid, 1, mv_identity_sign_pk(g_pat.id), dave, 1, env2, sizeof env2, &n), 200);
    assert_int_equal(n, 3);
    assert_int_equal(call("GET", lpath, NULL, 0, &g_pat, &b), 200);
    assert_memory_equal(b.ptr, env2, sizeof env2);
    assert_int_equal(set_readers(&g_alice, lid, 1, mv_identity_sign_pk(g_pat2.id), NULL, 0, NULL, 0, NULL), 409);
    assert_int_equal(set_readers(&g_alice, lid, 1, mv_identity_sign_pk(g_pat.id), NULL, 0, NULL, 0, NULL), 409);
    mv_json *j = NULL;
    char pat_hex[65], lrpath[300];
    snprintf(lrpath, sizeof lrpath, "%s/readers", lpath);
    assert_int_equal(mv_hex_encode(pat_hex, sizeof pat_hex, mv_identity_sign_pk(g_pat.id), 32), MV_OK);
    assert_int_equal(call_json("GET", lrpath, NULL, &g_pat, &j), 200);
    assert_string_equal(mv_json_get_str(j, "patient", NULL), pat_hex);
    assert_string_equal(mv_json_get_str(j, "episode", NULL), "");
    mv_json_free(j);

    /* Malformed frames and unknown records. */
    assert_int_equal(call("POST", rpath, "MVA2", 4, &g_alice, NULL), 400);
    assert_int_equal(set_readers(&g_alice, g_pr, 2, NULL, NULL, 0, NULL, 0, NULL), 400);
    assert_int_equal(set_readers(&g_alice, g_pr, 1, NULL, NULL, 0, NULL, 0, NULL), 400);      /* zero patient */
    assert_int_equal(set_readers(&g_alice, g_pr, 0, mv_identity_sign_pk(g_pat.id), NULL, 0, NULL, 0, NULL), 400);
    uint8_t absent[16] = {0xee};
    assert_int_equal(set_readers(&g_alice, absent, 0, NULL, NULL, 0, NULL, 0, NULL), 404);
    assert_int_equal(call("PUT", rpath, NULL, 0, &g_alice, NULL), 405);
    mv_buf_clear(&b);
}

/* Finding 11 of issue 11: a doctor could store a record that names no block, with a garbage
 * envelope, naming any user as a reader; it showed in that user's listing and made their
 * `get --all` fail. A record without tags and an envelope whose public MVE1 structure does
 * not parse are refused (400, naming the record) and the whole batch stores nothing; an MVA1
 * envelope that does not parse is refused too and the stored one is kept. */
static void test_records_need_tags_and_a_sealed_envelope(void **state)
{
    (void)state;
    uint8_t id[16], ok_id[16], env[200], junk[200], twice[5 + 2 * 112 + 28], r1env[200];
    const uint8_t *victim = mv_identity_sign_pk(g_dave.id);
    char path[256];
    mv_buf p, b;
    mv_json *s0 = stats(), *s1 = NULL, *j = NULL;
    mv_buf_init(&b, 1 << 20);
    for (size_t k = 0; k < 16; k++) {
        id[k] = (uint8_t)rand();
        ok_id[k] = (uint8_t)rand();
    }
    mve1(env, sizeof env, 0x3c);
    memset(junk, 0x3c, sizeof junk);
    /* Two entries for the same reader key: not an envelope mv_envelope_seal writes. */
    memset(twice, 0x11, sizeof twice);
    memcpy(twice, "MVE1", 4);
    twice[4] = 2;

    /* No tags, even with a well-formed envelope. */
    mvp_start(&p, 1);
    mvp_record(&p, id, "cardiology", victim, 1, NULL, 0, env, sizeof env);
    assert_int_equal(call("POST", "/v1/records", p.ptr, p.len, &g_alice, &b), 400);
    assert_non_null(strstr((const char *)b.ptr, "MVP2 frame: record 0: no tags"));
    mv_buf_clear(&p);
    /* Envelopes that do not parse (garbage, empty, a reader twice), behind a good record:
     * the batch stores nothing, the good record included. */
    const struct {
        const uint8_t *env;
        uint32_t len;
    } bad[] = {{junk, sizeof junk}, {NULL, 0}, {twice, sizeof twice}, {env, 100}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mvp_start(&p, 2);
        mvp_record(&p, ok_id, "cardiology", NULL, 0, g_c1.tag, 1, env, sizeof env);
        mvp_record(&p, id, "cardiology", victim, 1, g_c1.tag, 1, bad[i].env, bad[i].len);
        assert_int_equal(call("POST", "/v1/records", p.ptr, p.len, &g_alice, &b), 400);
        assert_non_null(strstr((const char *)b.ptr, "MVP2 frame: record 1: the envelope is not a sealed MVE1/MVE2 envelope or MVK1 keyset"));
        mv_buf_clear(&p);
    }
    id_path(path, sizeof path, "/v1/records/", id, 16);
    assert_int_equal(call("GET", path, NULL, 0, &g_admin, NULL), 404);
    id_path(path, sizeof path, "/v1/records/", ok_id, 16);
    assert_int_equal(call("GET", path, NULL, 0, &g_admin, NULL), 404);
    /* The victim's listing does not show it. */
    char idhex[33];
    assert_int_equal(mv_hex_encode(idhex, sizeof idhex, id, 16), MV_OK);
    assert_int_equal(call_json("GET", "/v1/records", NULL, &g_dave, &j), 200);
    const mv_json *recs = mv_json_get(j, "records");
    for (size_t i = 0; i < mv_json_len(recs); i++)
        assert_string_not_equal(mv_json_get_str(mv_json_at(recs, i), "id", NULL), idhex);
    mv_json_free(j);
    s1 = stats();
    assert_int_equal(stat_u64(s1, "records"), stat_u64(s0, "records"));
    assert_int_equal(stat_u64(s1, "envelope_bytes"), stat_u64(s0, "envelope_bytes"));

    /* MVA1: a garbage envelope for an existing record is refused; envelope and readers stay. */
    const user *carol[] = {&g_carol};
    assert_int_equal(set_readers(&g_alice, g_r1, 0, NULL, carol, 1, junk, sizeof junk, NULL), 400);
    id_path(path, sizeof path, "/v1/records/", g_r1, 16);
    mve1(r1env, sizeof r1env, 0xa1);
    assert_int_equal(call("GET", path, NULL, 0, &g_alice, &b), 200);
    assert_int_equal(b.len, sizeof r1env);
    assert_memory_equal(b.ptr, r1env, sizeof r1env);
    assert_int_equal(call("GET", path, NULL, 0, &g_carol, NULL), 403);
    assert_int_equal(call("GET", path, NULL, 0, &g_dave, NULL), 200);
    mv_json_free(s0);
    mv_json_free(s1);
    mv_buf_clear(&b);
}

/* Decision 0010: a keyset (MVK1, the key of a reader set) is stored as a record that names no
 * block; MVE2 records under it are stored like any other; MVA1 keeps a keyset a keyset and a
 * record a record. */
static void test_keyset_records(void **state)
{
    (void)state;
    uint8_t kid[16], id[16], ks[5 + 2 * 112], e2[21 + 12 + 200 + 16], e1[200], other_ks[5 + 112];
    char path[256];
    mv_buf p, b;
    mv_json *j = NULL;
    mv_buf_init(&b, 1 << 20);
    for (size_t k = 0; k < 16; k++) {
        kid[k] = (uint8_t)rand();
        id[k] = (uint8_t)rand();
    }
    memset(ks, 0x21, sizeof ks);
    memcpy(ks, "MVK1\x02", 5);
    ks[5 + 112] = 0x22; /* distinct reader keys */
    memset(other_ks, 0x23, sizeof other_ks);
    memcpy(other_ks, "MVK1\x01", 5);
    memset(e2, 0x24, sizeof e2);
    memcpy(e2, "MVE2", 4);
    memcpy(e2 + 4, kid, 16);
    e2[20] = 0;
    mve1(e1, sizeof e1, 0x25);
    const uint8_t *carol = mv_identity_sign_pk(g_carol.id);
    block blk = new_block(300);
    assert_int_equal(upload(&g_alice, "cardiology", &blk, 1, NULL), 200);
    /* The keyset first (no tags), then a record under it, in one batch. */
    mvp_start(&p, 2);
    mvp_record(&p, kid, "cardiology", carol, 1, NULL, 0, ks, sizeof ks);
    mvp_record(&p, id, "cardiology", carol, 1, blk.tag, 1, e2, sizeof e2);
    assert_int_equal(call("POST", "/v1/records", p.ptr, p.len, &g_alice, &b), 200);
    assert_int_equal(mv_json_parse((const char *)b.ptr, b.len, NULL, &j, NULL), MV_OK);
    assert_string_equal(result_status(j, 0), "stored");
    assert_string_equal(result_status(j, 1), "stored");
    mv_json_free(j);
    mv_buf_clear(&p);
    /* A reader in the ACL fetches both. */
    id_path(path, sizeof path, "/v1/records/", kid, 16);
    mv_buf_reset(&b);
    assert_int_equal(call("GET", path, NULL, 0, &g_carol, &b), 200);
    assert_int_equal(b.len, sizeof ks);
    assert_memory_equal(b.ptr, ks, sizeof ks);
    id_path(path, sizeof path, "/v1/records/", id, 16);
    assert_int_equal(call("GET", path, NULL, 0, &g_carol, NULL), 200);
    assert_int_equal(call("GET", path, NULL, 0, &g_dave, NULL), 403);
    /* MVA1: a keyset's envelope stays MVK1, a record's never becomes one. */
    const user *both[] = {&g_carol, &g_dave};
    assert_int_equal(set_readers(&g_alice, kid, 0, NULL, both, 2, e1, sizeof e1, NULL), 400);
    assert_int_equal(set_readers(&g_alice, kid, 0, NULL, both, 2, e2, sizeof e2, NULL), 400);
    assert_int_equal(set_readers(&g_alice, id, 0, NULL, both, 2, other_ks, sizeof other_ks, NULL), 400);
    assert_int_equal(set_readers(&g_alice, kid, 0, NULL, both, 2, other_ks, sizeof other_ks, NULL), 200);
    assert_int_equal(set_readers(&g_alice, id, 0, NULL, both, 2, NULL, 0, NULL), 200); /* ACL only */
    assert_int_equal(set_readers(&g_alice, id, 0, NULL, both, 2, e1, sizeof e1, NULL), 200); /* MVE2 -> MVE1 */
    id_path(path, sizeof path, "/v1/records/", kid, 16);
    mv_buf_reset(&b);
    assert_int_equal(call("GET", path, NULL, 0, &g_dave, &b), 200);
    assert_int_equal(b.len, sizeof other_ks);
    /* A keyset that names a block, or a tagless record with an MVE2 envelope, is refused. */
    for (size_t k = 0; k < 16; k++)
        id[k] = (uint8_t)rand();
    mvp_start(&p, 1);
    mvp_record(&p, id, "cardiology", NULL, 0, blk.tag, 1, ks, sizeof ks);
    mv_buf_reset(&b);
    assert_int_equal(call("POST", "/v1/records", p.ptr, p.len, &g_alice, &b), 400);
    assert_non_null(strstr((const char *)b.ptr, "a keyset (MVK1 envelope) names no tags"));
    mv_buf_clear(&p);
    mvp_start(&p, 1);
    mvp_record(&p, id, "cardiology", NULL, 0, NULL, 0, e2, sizeof e2);
    assert_int_equal(call("POST", "/v1/records", p.ptr, p.len, &g_alice, NULL), 400);
    mv_buf_clear(&p);
    mv_buf_clear(&b);
    mv_free(blk.c);
}

static void test_delete_and_gc(void **state)
{
    (void)state;
    char path[256];
    id_path(path, sizeof path, "/v1/records/", g_r1, 16);
    mv_json *s0 = stats(), *j = NULL;
    /* A reader who is not the owner may not delete; the owner may, once. */
    assert_int_equal(call("DELETE", path, NULL, 0, &g_dave, NULL), 403);
    assert_int_equal(call("DELETE", path, NULL, 0, &g_mallory, NULL), 403);
    assert_int_equal(call_json("DELETE", path, NULL, &g_alice, &j), 200);
    char r1hex[33];
    assert_int_equal(mv_hex_encode(r1hex, sizeof r1hex, g_r1, 16), MV_OK);
    assert_string_equal(mv_json_get_str(j, "deleted", NULL), r1hex);
    mv_json_free(j);
    track_ref(g_c1.tag, -1);
    track_ref(g_only_r1.tag, -1);
    assert_int_equal(call("DELETE", path, NULL, 0, &g_alice, NULL), 404);
    assert_int_equal(call("GET", path, NULL, 0, &g_alice, NULL), 404);
    mv_json *s1 = stats();
    /* Its envelope and the block only it referenced no longer count as data. */
    assert_int_equal(stat_u64(s1, "data_bytes"), stat_u64(s0, "data_bytes") - 200 - g_only_r1.len);
    assert_int_equal(stat_u64(s1, "records"), stat_u64(s0, "records") - 1);
    mv_json_free(s0);

    /* Restart with a one-second claim lifetime, so that gc may free what no record names. */
    stop_server();
    char conf[400];
    snprintf(conf, sizeof conf, "%s/storage.conf", g_stdir);
    const char text[] = "max_body = 12582912\ngc_interval_seconds = 0\nclaim_ttl_seconds = 1\n";
    assert_int_equal(mv_file_write_atomic(conf, text, sizeof text - 1, 0644), MV_OK);
    start_server();
    sleep(2);
    mv_json *s2 = stats();
    assert_int_equal(stat_u64(s2, "block_bytes"), stat_u64(s1, "block_bytes")); /* survived the restart */
    assert_int_equal(call("POST", "/v1/gc", NULL, 0, &g_alice, NULL), 403);
    uint64_t freed = 0, n_freed = 0, kept = 0;
    for (size_t i = 0; i < g_n_blocks; i++) {
        if (g_blocks[i].refs == 0) {
            freed += g_blocks[i].len;
            n_freed++;
        } else {
            kept += g_blocks[i].len;
        }
    }
    assert_true(n_freed >= 2); /* g_only_r1 and g_unref at least */
    assert_int_equal(call_json("POST", "/v1/gc", NULL, &g_admin, &j), 200);
    assert_int_equal(tu_json_u64(j, "blocks_freed"), n_freed);
    assert_int_equal(tu_json_u64(j, "bytes_freed"), freed);
    mv_json_free(j);
    mv_json *s3 = stats();
    assert_int_equal(stat_u64(s3, "block_bytes"), stat_u64(s2, "block_bytes") - freed);
    assert_int_equal(stat_u64(s3, "block_bytes"), kept);
    assert_int_equal(stat_u64(s3, "blocks"), stat_u64(s2, "blocks") - n_freed);
    assert_int_equal(stat_u64(s3, "data_bytes"), stat_u64(s2, "data_bytes"));
    assert_true(stat_u64(s3, "pack_bytes") < stat_u64(s2, "pack_bytes"));
    /* Physical bytes are what the disk holds: the packs and the index file. */
    assert_int_equal(stat_u64(s3, "physical_bytes"), stat_u64(s3, "pack_bytes") + stat_u64(s3, "index_bytes"));
    assert_true(stat_u64(s3, "index_bytes") > 0);
    for (size_t i = 0; i < g_n_blocks; i++)
        assert_int_equal(get_block(g_blocks[i].tag, NULL), g_blocks[i].refs ? 200 : 404);
    /* A second pass has nothing left to free. */
    assert_int_equal(call_json("POST", "/v1/gc", NULL, &g_admin, &j), 200);
    assert_int_equal(tu_json_u64(j, "blocks_freed"), 0);
    mv_json_free(j);
    mv_json_free(s1);
    mv_json_free(s2);
    mv_json_free(s3);
}

static void test_offline_commands_refuse_a_running_store(void **state)
{
    (void)state;
    char cmd[1024];
    const char *bin = getenv("MEDVAULT_BIN");
    snprintf(cmd, sizeof cmd, "'%s' storage check --dir '%s' 2>&1 | grep -q 'store is in use by a running server'",
             bin, g_stdir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' storage gc --dir '%s' >/dev/null 2>&1", bin, g_stdir);
    assert_int_not_equal(system(cmd), 0);
    stop_server();
    snprintf(cmd, sizeof cmd, "'%s' storage check --dir '%s' --json | grep -q '\"clean\":true'", bin, g_stdir);
    assert_int_equal(system(cmd), 0);
    start_server();
    assert_int_equal(get_block(g_c1.tag, NULL), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_and_metrics),
        cmocka_unit_test(test_unsigned_and_forged),
        cmocka_unit_test(test_upload_and_cross_department_dedup),
        cmocka_unit_test(test_dupcheck_and_proof_of_ownership),
        cmocka_unit_test(test_tag_mismatch_stores_nothing),
        cmocka_unit_test(test_malformed_frames),
        cmocka_unit_test(test_department_not_in_credential),
        cmocka_unit_test(test_records_need_tags_and_a_sealed_envelope),
        cmocka_unit_test(test_acl),
        cmocka_unit_test(test_patient_records_need_a_delegation),
        cmocka_unit_test(test_record_readers_update),
        cmocka_unit_test(test_delete_and_gc),
        cmocka_unit_test(test_offline_commands_refuse_a_running_store),
        cmocka_unit_test(test_keyset_records), /* last: it adds records other tests would count */
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
