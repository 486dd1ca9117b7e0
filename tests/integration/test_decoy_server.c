/* test_decoy_server.c - the decoy cloud against a real `medvault storage run --role decoy`
 * process: a forwarded record read signed by the primary's key gets a 200 envelope of exactly
 * the shape's size, identical on a second fetch; another key (with a valid credential) and an
 * unsigned request get 401; a shapes push stores decoys whose blocks are then served by their
 * tags (MVG1 and GET), unknown tags 404; a changed shape regenerates; a restart serves the same
 * bytes; other paths 404; /healthz and /metrics answer. Unverified callers get invented records
 * only (issue 11); an attachment's decoy blocks are regenerated, not stored; a shape over the
 * cap is refused. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "medvault/mv_auth.h"
#include "medvault/mv_box.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_decoy.h"
#include "medvault/mv_file.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_mle.h"
#include "medvault/mv_record.h"

static char g_dir[256], g_stdir[300], g_portfile[320];
static pid_t g_pid = -1;
static unsigned g_port;
static mv_identity *g_hosp;

typedef struct svc {
    mv_identity *id;
    char *cred;
} svc;

static svc g_primary, g_other;

static void start_server(void)
{
    char hk[65], pk[65];
    assert_int_equal(mv_hex_encode(hk, sizeof hk, mv_identity_sign_pk(g_hosp), 32), MV_OK);
    assert_int_equal(mv_hex_encode(pk, sizeof pk, mv_identity_sign_pk(g_primary.id), 32), MV_OK);
    const char *args[] = {"storage", "run", "--role", "decoy", "--primary-key", pk, "--dir", g_stdir,
                          "--listen", "127.0.0.1:0", "--hospital-key", hk, "--port-file", g_portfile,
                          "--threads", "2", NULL};
    g_pid = tu_daemon_start("decoy server", g_portfile, args, &g_port);
}

static void stop_server(void)
{
    tu_daemon_stop("decoy server", &g_pid);
}

static svc make_svc(const char *name)
{
    char d[400];
    svc u = {0};
    snprintf(d, sizeof d, "%s/%s", g_dir, name);
    assert_int_equal(mv_identity_create(d, &u.id), MV_OK);
    u.cred = tu_credential(g_hosp, mv_identity_sign_pk(u.id), "storage", NULL);
    return u;
}

static long call(const char *method, const char *path, const void *body, size_t len, const svc *u, mv_buf *out)
{
    char url[64 + 8192]; /* "http://127.0.0.1:PORT" and a path up to MV_AUTH_MAX_PATH */
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", g_port, path);
    return tu_call(method, url, body, len, u ? u->id : NULL, u ? u->cred : NULL, out);
}

static uint8_t g_reader_sk[32];

static void make_shape(mv_decoy_shape *s, uint8_t idbyte, uint32_t env_len)
{
    static uint32_t lens[2] = {412, 377};
    static uint8_t pk[32];
    static int have;
    if (!have) {
        assert_int_equal(mv_box_keypair(pk, g_reader_sk), MV_OK);
        have = 1;
    }
    mv_decoy_shape_init(s);
    memset(s->id, idbyte, 16);
    snprintf(s->department, sizeof s->department, "cardiology");
    s->created = 1745000000;
    memset(s->owner, 0x61, 32);
    memset(s->patient, 0x62, 32);
    memset(s->episode, 0x63, 16);
    s->env_len = env_len;
    s->n_readers = 1;
    memcpy(s->readers[0], pk, 32);
    s->n_blocks = 2;
    s->block_len = lens;
}

/* A forwarded request: MVX1 around method, path and body with the given shapes. */
static uint8_t g_reason = MV_DECOY_REVOKED; /* a caller who proved its key */

static long forward(const svc *u, const char *method, const char *path, const void *body, size_t blen,
                    mv_decoy_shape *shapes, size_t n, mv_buf *out)
{
    mv_decoy_forward f;
    mv_buf fb;
    mv_decoy_forward_init(&f);
    f.reason = g_reason;
    snprintf(f.method, sizeof f.method, "%s", method);
    f.path = path;
    f.path_len = strlen(path);
    f.body = body;
    f.body_len = blen;
    f.shapes = shapes;
    f.n_shapes = n;
    mv_buf_init(&fb, (size_t)16 << 20);
    assert_int_equal(mv_decoy_forward_encode(&f, &fb), MV_OK);
    long st = call("POST", "/v1/decoy", fb.ptr, fb.len, u, out);
    mv_buf_clear(&fb);
    return st;
}

static void test_decoy_cloud(void **state)
{
    (void)state;
    mv_decoy_shape s, s2;
    mv_buf a, b;
    char path[128], idhex[33];
    mv_buf_init(&a, (size_t)64 << 20);
    mv_buf_init(&b, (size_t)64 << 20);
    make_shape(&s, 0x5e, 1700);
    assert_int_equal(mv_hex_encode(idhex, sizeof idhex, s.id, 16), MV_OK);
    snprintf(path, sizeof path, "/v1/records/%s", idhex);

    /* Forwarded read by the primary: 200, exact size, the same bytes twice; it opens. */
    assert_int_equal(forward(&g_primary, "GET", path, NULL, 0, &s, 1, &a), 200);
    assert_int_equal(a.len, s.env_len);
    assert_int_equal(forward(&g_primary, "GET", path, NULL, 0, &s, 1, &b), 200);
    assert_int_equal(b.len, a.len);
    assert_memory_equal(a.ptr, b.ptr, a.len);
    mv_record r;
    mv_record_init(&r);
    assert_int_equal(mv_envelope_open(s.id, a.ptr, a.len, s.readers[0], g_reader_sk, &r), MV_OK);
    assert_int_equal(r.n_blocks, 2);
    /* Another storage identity (valid credential), and no signature at all: 401. */
    assert_int_equal(forward(&g_other, "GET", path, NULL, 0, &s, 1, &b), 401);
    assert_int_equal(call("POST", "/v1/decoy", "MVX1", 4, NULL, &b), 401);
    assert_int_equal(call("POST", "/v1/decoy/shapes", "MVH1", 4, &g_other, &b), 401);
    /* Malformed frame, unknown paths, wrong method. */
    assert_int_equal(call("POST", "/v1/decoy", "MVX1", 4, &g_primary, &b), 400);
    assert_int_equal(call("GET", "/v1/records", NULL, 0, &g_primary, &b), 404);
    assert_int_equal(call("GET", "/v1/decoy", NULL, 0, &g_primary, &b), 405);
    assert_int_equal(call("GET", "/healthz", NULL, 0, NULL, &b), 200);

    /* Shapes push: stored (nothing generated); blocks of a served envelope by their decoy tags. */
    make_shape(&s2, 0x77, 1500);
    mv_decoy_shape both[2] = {s, s2};
    mv_buf hb;
    mv_buf_init(&hb, 1 << 20);
    assert_int_equal(mv_decoy_shapes_encode(both, 2, &hb), MV_OK);
    assert_int_equal(call("POST", "/v1/decoy/shapes", hb.ptr, hb.len, &g_primary, &b), 200);
    assert_string_equal((const char *)b.ptr, "{\"stored\":1}"); /* s was stored by the read */
    assert_int_equal(call("POST", "/v1/decoy/shapes", hb.ptr, hb.len, &g_primary, &b), 200);
    assert_string_equal((const char *)b.ptr, "{\"stored\":0}");
    mv_buf g;
    mv_buf_init(&g, 1 << 20);
    assert_int_equal(mv_buf_append(&g, "MVG1\x03\x00\x00\x00", 8), MV_OK);
    assert_int_equal(mv_buf_append(&g, r.blocks[0].tag, 32), MV_OK);
    assert_int_equal(mv_buf_append(&g, r.blocks[1].tag, 32), MV_OK);
    uint8_t unknown[32] = {0};
    assert_int_equal(mv_buf_append(&g, unknown, 32), MV_OK);
    assert_int_equal(forward(&g_primary, "POST", "/v1/blocks/get", g.ptr, g.len, NULL, 0, &b), 200);
    assert_memory_equal(b.ptr, "MVG1\x03\x00\x00\x00", 8);
    size_t off = 8;
    for (int i = 0; i < 2; i++) {
        uint32_t len = (uint32_t)b.ptr[off + 1] | (uint32_t)b.ptr[off + 2] << 8 | (uint32_t)b.ptr[off + 3] << 16;
        assert_int_equal(b.ptr[off], 1);
        assert_true(len == r.blocks[i].cipher_len);
        assert_true(mv_mle_tag_ok(b.ptr + off + 5, len, r.blocks[i].tag));
        off += 5 + len;
    }
    assert_int_equal(b.ptr[off], 0); /* the unknown tag */
    assert_int_equal(off + 5, b.len);
    char tpath[128], thex[65];
    assert_int_equal(mv_hex_encode(thex, sizeof thex, r.blocks[0].tag, 32), MV_OK);
    snprintf(tpath, sizeof tpath, "/v1/blocks/%s", thex);
    assert_int_equal(forward(&g_primary, "GET", tpath, NULL, 0, NULL, 0, &b), 200);
    assert_true(b.len == r.blocks[0].cipher_len);
    snprintf(tpath, sizeof tpath, "/v1/blocks/%064d", 0);
    assert_int_equal(forward(&g_primary, "GET", tpath, NULL, 0, NULL, 0, &b), 404);
    /* For a caller who proved its key, only what the frame carries exists (the primary sends
     * the records that caller may read): a stored shape is no answer by itself. */
    assert_int_equal(forward(&g_primary, "GET", path, NULL, 0, NULL, 0, &b), 404);
    assert_int_equal(forward(&g_primary, "GET", path, NULL, 0, &s, 1, &b), 200);
    assert_memory_equal(a.ptr, b.ptr, a.len);
    assert_int_equal(forward(&g_primary, "GET", "/v1/records/00000000000000000000000000000000", NULL, 0, NULL, 0, &b),
                     404);
    /* Readers JSON from the shape, the owner first as on the primary; forwarded writes get
     * plausible answers. */
    snprintf(tpath, sizeof tpath, "/v1/records/%s/readers", idhex);
    assert_int_equal(forward(&g_primary, "GET", tpath, NULL, 0, &s, 1, &b), 200);
    assert_non_null(strstr((const char *)b.ptr, "\"department\":\"cardiology\""));
    assert_non_null(strstr((const char *)b.ptr, "\"readers\":[\"6161616161616161"));
    static const char dc[] = "{\"department\":\"x\",\"tokens\":[\""
                             "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\",\""
                             "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\"]}";
    assert_int_equal(forward(&g_primary, "POST", "/v1/dupcheck", dc, sizeof dc - 1, NULL, 0, &b), 200);
    assert_string_equal((const char *)b.ptr, "{\"results\":[{\"exists\":false},{\"exists\":false}]}");
    /* A body the primary refuses gets the primary's refusal (one decoder for both roles). */
    static const char bad[] = "{\"department\":\"x\",\"tokens\":[\"a\",\"b\"]}";
    assert_int_equal(forward(&g_primary, "POST", "/v1/dupcheck", bad, sizeof bad - 1, NULL, 0, &b), 400);
    assert_non_null(strstr((const char *)b.ptr, "dupcheck body: token 0: not 32 bytes of hex"));
    assert_int_equal(forward(&g_primary, "POST", "/v1/blocks", "MVB1\x01x\x00\x00\x00\x00", 10, NULL, 0, &b), 400);
    assert_non_null(strstr((const char *)b.ptr, "MVB1 frame: no items"));
    /* MVQ1 batch: the decoy envelope, and "not found" for an unknown id. */
    mv_buf q;
    mv_buf_init(&q, 1024);
    assert_int_equal(mv_buf_append(&q, "MVQ1\x02\x00\x00\x00", 8), MV_OK);
    assert_int_equal(mv_buf_append(&q, s.id, 16), MV_OK);
    assert_int_equal(mv_buf_append(&q, unknown, 16), MV_OK);
    assert_int_equal(forward(&g_primary, "POST", "/v1/records/get", q.ptr, q.len, &s, 1, &b), 200);
    assert_int_equal(b.len, 8 + 5 + a.len + 5);
    assert_memory_equal(b.ptr + 13, a.ptr, a.len);
    assert_int_equal(b.ptr[13 + a.len], 1);

    /* A changed shape regenerates (new size); the old shape again gives the old bytes. */
    s.env_len = 1900;
    assert_int_equal(forward(&g_primary, "GET", path, NULL, 0, &s, 1, &b), 200);
    assert_int_equal(b.len, 1900);
    s.env_len = 1700;
    assert_int_equal(forward(&g_primary, "GET", path, NULL, 0, &s, 1, &b), 200);
    assert_memory_equal(a.ptr, b.ptr, a.len);

    /* Restart: the same seed, the same bytes. */
    stop_server();
    start_server();
    assert_int_equal(forward(&g_primary, "GET", path, NULL, 0, &s, 1, &b), 200);
    assert_int_equal(b.len, a.len);
    assert_memory_equal(a.ptr, b.ptr, a.len);
    /* The decoy cloud shows no metrics at all without its token (issue 11, finding 7). */
    assert_int_equal(tu_get_metrics(g_port, NULL, &b), 401);
    assert_null(strstr((const char *)b.ptr, "medvault_decoy"));
    assert_int_equal(tu_get_metrics(g_port, g_stdir, &b), 200);
    assert_non_null(strstr((const char *)b.ptr, "medvault_decoy"));
    struct stat st;
    char seedp[400];
    snprintf(seedp, sizeof seedp, "%s/decoy.seed", g_stdir);
    assert_int_equal(stat(seedp, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);

    mv_record_clear(&r);
    mv_buf_clear(&q);
    mv_buf_clear(&g);
    mv_buf_clear(&hb);
    mv_buf_clear(&a);
    mv_buf_clear(&b);
}

/* The decoy cloud's seed and the instant it dates invented records before (the seed file's
 * mtime), read from its directory: what a test needs to recompute an invented decoy. */
static uint64_t read_seed(uint8_t seed[MV_DECOY_SEED_BYTES])
{
    char p[400];
    struct stat st;
    mv_buf b;
    snprintf(p, sizeof p, "%s/decoy.seed", g_stdir);
    mv_buf_init(&b, 64);
    assert_int_equal(mv_file_read(p, 64, &b), MV_OK);
    assert_int_equal(b.len, MV_DECOY_SEED_BYTES);
    memcpy(seed, b.ptr, MV_DECOY_SEED_BYTES);
    mv_buf_clear(&b);
    assert_int_equal(stat(p, &st), 0);
    return (uint64_t)st.st_mtime;
}

/* A response header's value (the decoy's MV-Record-* headers) from a forwarded GET. */
static long forward_headers(const char *path, char owner[65])
{
    char url[256];
    mv_httpc_call c;
    mv_decoy_forward f;
    mv_buf fb;
    mv_decoy_forward_init(&f);
    f.reason = g_reason;
    snprintf(f.method, sizeof f.method, "GET");
    f.path = path;
    f.path_len = strlen(path);
    mv_buf_init(&fb, 1 << 16);
    assert_int_equal(mv_decoy_forward_encode(&f, &fb), MV_OK);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/decoy", g_port);
    mv_httpc_call_init(&c);
    c.method = "POST";
    c.url = url;
    c.body = fb.ptr;
    c.body_len = fb.len;
    c.keep_prefix = "MV-Record-";
    assert_int_equal(mv_httpc_sign(&c, mv_identity_sign_pk(g_primary.id), mv_identity_sign_sk(g_primary.id),
                                   g_primary.cred, (uint64_t)time(NULL)),
                     MV_OK);
    assert_int_equal(mv_httpc_run(&c, 1), MV_OK);
    owner[0] = 0;
    for (size_t i = 0; i < c.n_kept; i++)
        if (!strcmp(c.kept_names[i], "MV-Record-Owner"))
            snprintf(owner, 65, "%.64s", c.kept_values[i]);
    long st = c.status;
    mv_httpc_call_clear(&c);
    mv_buf_clear(&fb);
    return st;
}

/* Issue 11, findings 1 and 2: a caller who did not prove its key gets invented records, the
 * same on every fetch, whatever shapes exist; the listing a claimed key selects is invented
 * and readable as listed; blocks of invented decoys are served by their tags. */
static void test_unverified_invented(void **state)
{
    (void)state;
    uint8_t seed[MV_DECOY_SEED_BYTES], id[16];
    mv_buf a, b;
    char path[128], idhex[33], owner[65], owner2[65];
    mv_buf_init(&a, 1 << 20);
    mv_buf_init(&b, 1 << 20);
    uint64_t anchor = read_seed(seed);
    g_reason = MV_DECOY_UNAUTHENTICATED;
    memset(id, 0x3c, 16);
    assert_int_equal(mv_hex_encode(idhex, sizeof idhex, id, 16), MV_OK);
    snprintf(path, sizeof path, "/v1/records/%s", idhex);
    /* The decoy is the invented shape's, exactly, and stable. */
    mv_decoy_shape sh;
    mv_decoy_record rec;
    mv_decoy_shape_init(&sh);
    mv_decoy_record_init(&rec);
    assert_int_equal(mv_decoy_shape_synth(seed, id, anchor, &sh), MV_OK);
    assert_int_equal(mv_decoy_generate(seed, &sh, &rec), MV_OK);
    assert_int_equal(forward(&g_primary, "GET", path, NULL, 0, NULL, 0, &a), 200);
    assert_int_equal(a.len, rec.env_len);
    assert_memory_equal(a.ptr, rec.env, rec.env_len);
    assert_int_equal(forward_headers(path, owner), 200);
    char want[65];
    assert_int_equal(mv_hex_encode(want, sizeof want, sh.owner, 32), MV_OK);
    assert_string_equal(owner, want);
    assert_int_equal(forward_headers(path, owner2), 200);
    assert_string_equal(owner, owner2);
    /* A shape the frame carries for this id under another reason is never mixed in: the
     * invented answer does not depend on real shapes. */
    mv_decoy_shape real;
    make_shape(&real, 0x3c, 1700); /* as the primary sends a honeytoken: real owner, department */
    assert_int_equal(forward(&g_primary, "GET", path, NULL, 0, &real, 1, &b), 200);
    assert_int_equal(b.len, a.len);
    assert_memory_equal(a.ptr, b.ptr, a.len);
    /* Its blocks by tag (MVG1). */
    mv_buf gq;
    mv_buf_init(&gq, 1 << 16);
    uint8_t one[4] = {(uint8_t)rec.n_blocks, 0, 0, 0};
    assert_int_equal(mv_buf_append(&gq, "MVG1", 4), MV_OK);
    assert_int_equal(mv_buf_append(&gq, one, 4), MV_OK);
    for (size_t i = 0; i < rec.n_blocks; i++)
        assert_int_equal(mv_buf_append(&gq, rec.blocks[i].tag, 32), MV_OK);
    assert_int_equal(forward(&g_primary, "POST", "/v1/blocks/get", gq.ptr, gq.len, NULL, 0, &b), 200);
    size_t off = 8;
    for (size_t i = 0; i < rec.n_blocks; i++) {
        uint32_t len = (uint32_t)b.ptr[off + 1] | (uint32_t)b.ptr[off + 2] << 8 | (uint32_t)b.ptr[off + 3] << 16;
        assert_int_equal(b.ptr[off], 1);
        assert_int_equal(len, rec.blocks[i].len);
        assert_memory_equal(b.ptr + off + 5, rec.blocks[i].c, len);
        off += 5 + len;
    }
    /* The listing a claimed key selects: invented, stable, other for another key; each entry
     * reads with its listed owner. */
    mv_decoy_forward f;
    uint8_t victim[32];
    memset(victim, 0x61, 32);
    mv_buf fb;
    mv_buf_init(&fb, 1 << 16);
    for (int round = 0; round < 3; round++) {
        mv_decoy_forward_init(&f);
        f.reason = MV_DECOY_FORGED;
        memcpy(f.principal, victim, 32);
        if (round == 2)
            f.principal[0] ^= 1;
        snprintf(f.method, sizeof f.method, "GET");
        f.path = "/v1/records";
        f.path_len = strlen(f.path);
        f.shapes = &real; /* a honeytoken: a member of the pool, its metadata never shown */
        f.n_shapes = 1;
        mv_buf_reset(&fb);
        assert_int_equal(mv_decoy_forward_encode(&f, &fb), MV_OK);
        assert_int_equal(call("POST", "/v1/decoy", fb.ptr, fb.len, &g_primary, round == 0 ? &a : &b), 200);
    }
    assert_null(strstr((const char *)a.ptr, "6161616161616161")); /* the honeytoken's real owner */
    assert_null(strstr((const char *)a.ptr, "cardiology\",\"created\":1745000000"));
    assert_false(a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0); /* another key, another listing */
    uint8_t ids[MV_DECOY_SYNTH_LIST_MAX][16];
    const uint8_t (*extra)[16] = (const uint8_t (*)[16])real.id;
    size_t n = mv_decoy_synth_list(seed, victim, anchor, extra, 1, ids, MV_DECOY_SYNTH_LIST_MAX);
    assert_true(n >= 12);
    /* The pool: a honeytoken shows in about as many listings as any invented id (a few of a
     * thousand claimed keys here); no id of the pool stands out. */
    size_t honey = 0, other = 0;
    uint8_t probe[32], lids[MV_DECOY_SYNTH_LIST_MAX][16], first[16];
    size_t nv = mv_decoy_synth_list(seed, victim, anchor, extra, 1, lids, MV_DECOY_SYNTH_LIST_MAX);
    /* An invented record (a keyset shows whenever any record of its reader set does). */
    for (size_t i = 0; i < nv; i++) {
        mv_decoy_shape fs;
        mv_decoy_shape_init(&fs);
        assert_int_equal(mv_decoy_shape_synth(seed, lids[i], anchor, &fs), MV_OK);
        int rec_ok = fs.kind == MV_DECOY_MVE2 && memcmp(lids[i], real.id, 16) != 0;
        mv_decoy_shape_clear(&fs);
        if (rec_ok) {
            memcpy(first, lids[i], 16);
            break;
        }
    }
    for (uint32_t k = 0; k < 1000; k++) {
        memset(probe, 0, 32);
        memcpy(probe, &k, sizeof k);
        size_t m = mv_decoy_synth_list(seed, probe, anchor, extra, 1, lids, MV_DECOY_SYNTH_LIST_MAX);
        for (size_t i = 0; i < m; i++) {
            honey += memcmp(lids[i], real.id, 16) == 0;
            other += memcmp(lids[i], first, 16) == 0;
        }
    }
    assert_true(honey < 40 && other < 40); /* expected about 7 each (30 of 4,097 per listing) */
    for (size_t i = 0; i < n; i++) {
        char h[33];
        assert_int_equal(mv_hex_encode(h, sizeof h, ids[i], 16), MV_OK);
        assert_non_null(strstr((const char *)a.ptr, h));
    }
    assert_int_equal(mv_hex_encode(idhex, sizeof idhex, ids[0], 16), MV_OK);
    snprintf(path, sizeof path, "/v1/records/%s", idhex);
    mv_decoy_shape l0;
    mv_decoy_shape_init(&l0);
    assert_int_equal(mv_decoy_shape_synth(seed, ids[0], anchor, &l0), MV_OK);
    assert_int_equal(mv_hex_encode(want, sizeof want, l0.owner, 32), MV_OK);
    assert_non_null(strstr((const char *)a.ptr, want));
    assert_int_equal(forward_headers(path, owner), 200);
    assert_string_equal(owner, want);
    /* One unverified MVQ1 of 4,000 ids (under 64 KiB) invents at most 16 new decoys, whatever
     * it asks (the review of issue 11 measured 0.8 CPU-seconds per such request before): the
     * rest are answered missing, at once. */
    mv_buf q;
    mv_buf_init(&q, 1 << 17);
    uint8_t cnt[4] = {0xa0, 0x0f, 0, 0}; /* 4000 */
    assert_int_equal(mv_buf_append(&q, "MVQ1", 4), MV_OK);
    assert_int_equal(mv_buf_append(&q, cnt, 4), MV_OK);
    for (uint32_t i = 0; i < 4000; i++) {
        uint8_t rid[16];
        memset(rid, 0xe7, 16);
        memcpy(rid, &i, sizeof i);
        assert_int_equal(mv_buf_append(&q, rid, 16), MV_OK);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(forward(&g_primary, "POST", "/v1/records/get", q.ptr, q.len, NULL, 0, &b), 200);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    size_t found = 0, at = 8;
    for (uint32_t i = 0; i < 4000 && at + 5 <= b.len; i++) {
        uint32_t el = (uint32_t)b.ptr[at + 1] | (uint32_t)b.ptr[at + 2] << 8 | (uint32_t)b.ptr[at + 3] << 16 |
                      (uint32_t)b.ptr[at + 4] << 24;
        found += b.ptr[at] == 0;
        at += 5 + el;
    }
    assert_int_equal(at, b.len);
    assert_true(found <= 16);
    assert_true((t1.tv_sec - t0.tv_sec) < 5);
    mv_buf_clear(&q);
    /* The other endpoints a caller has answer as for a clinician. */
    assert_int_equal(forward(&g_primary, "GET", "/v1/stats", NULL, 0, NULL, 0, &b), 200);
    assert_non_null(strstr((const char *)b.ptr, "\"departments\":{"));
    /* The primary's fields (docs/api.md), so the shape alone tells nothing. */
    assert_non_null(strstr((const char *)b.ptr, "\"physical_bytes\":"));
    assert_non_null(strstr((const char *)b.ptr, "\"data_bytes\":"));
    assert_non_null(strstr((const char *)b.ptr, "\"index_bytes\":"));
    assert_int_equal(forward(&g_primary, "POST", "/v1/gc", NULL, 0, NULL, 0, &b), 403);
    assert_int_equal(forward(&g_primary, "GET", "/v1/honeytokens", NULL, 0, NULL, 0, &b), 403);
    assert_int_equal(forward(&g_primary, "GET", "/v1/audit", NULL, 0, NULL, 0, &b), 403);
    g_reason = MV_DECOY_REVOKED;
    mv_decoy_shape_clear(&l0);
    mv_decoy_shape_clear(&sh);
    mv_decoy_record_clear(&rec);
    mv_buf_clear(&fb);
    mv_buf_clear(&gq);
    mv_buf_clear(&a);
    mv_buf_clear(&b);
}

static uint64_t ms_of(const uint8_t id[16])
{
    uint64_t ms = 0;
    for (int i = 0; i < MV_RECORD_ID_TIME_BYTES; i++)
        ms = ms << 8 | id[i];
    return ms;
}

/* Issue 12: the invented world looks like the primary's. An unverified listing holds
 * time-ordered ids dated within the invented history, MVE2 records and the MVK1 keysets they
 * name (blocks 0), in the primary's order; every entry reads as listed (a record's kid is a
 * listed keyset, a keyset is an MVK1 of 5 + 112 n bytes with its listed readers); an id with a
 * real-looking time gets that time as its creation, an old random id still gets an answer. */
static void test_unverified_world(void **state)
{
    (void)state;
    uint8_t seed[MV_DECOY_SEED_BYTES], victim[32], ids[MV_DECOY_SYNTH_LIST_MAX][16];
    uint64_t anchor = read_seed(seed);
    memset(victim, 0x5e, 32);
    size_t n = mv_decoy_synth_list(seed, victim, anchor, NULL, 0, ids, MV_DECOY_SYNTH_LIST_MAX);
    assert_true(n >= 13);
    size_t n_rec = 0, n_ks = 0;
    for (size_t i = 0; i < n; i++) {
        mv_decoy_shape sh, ks;
        mv_decoy_shape_init(&sh);
        mv_decoy_shape_init(&ks);
        assert_int_equal(mv_decoy_shape_synth(seed, ids[i], anchor, &sh), MV_OK);
        assert_true(mv_decoy_shape_valid(&sh));
        /* Its id's time is its creation time, within the two years before the anchor. */
        assert_int_equal(ms_of(ids[i]) / 1000, sh.created);
        assert_true(sh.created < anchor && sh.created > anchor - 2u * 365 * 86400);
        if (sh.kind == MV_DECOY_MVK1) {
            n_ks++;
            assert_int_equal(sh.env_len, 5 + 112u * sh.n_readers);
            assert_int_equal(sh.n_blocks, 0);
        } else {
            n_rec++;
            assert_int_equal(sh.kind, MV_DECOY_MVE2);
            assert_true(sh.n_blocks >= 1 && sh.env_len >= MV_ENVELOPE2_FIXED_BYTES + 112u * sh.n_readers + 200);
            /* Under a keyset of the same listing, made before it, with the same people. */
            size_t k = 0;
            while (k < n && memcmp(ids[k], sh.kid, 16) != 0)
                k++;
            assert_true(k < n);
            assert_int_equal(mv_decoy_shape_synth(seed, sh.kid, anchor, &ks), MV_OK);
            assert_int_equal(ks.kind, MV_DECOY_MVK1);
            assert_true(ms_of(ks.id) < ms_of(sh.id));
            assert_memory_equal(ks.owner, sh.owner, 32);
            assert_memory_equal(ks.patient, sh.patient, 32);
            assert_memory_equal(ks.episode, sh.episode, 16);
            assert_string_equal(ks.department, sh.department);
        }
        mv_decoy_shape_clear(&sh);
        mv_decoy_shape_clear(&ks);
    }
    assert_true(n_rec >= 12 && n_ks >= 1 && n_ks <= n_rec);
    /* Every entry below is read once, up to MV_DECOY_SYNTH_LIST_MAX (96) new invented decoys.
     * The cloud's budget for them is a burst of 100, then 20 a second, whoever asks, and the
     * tests before this one spent part of it: with a long listing (the seed is new each run)
     * the reads past the budget got "no such record", as they should. A fresh process starts
     * with the whole burst, so every read of the listing is inside it. */
    stop_server();
    start_server();
    /* The listing the decoy cloud serves: those entries, in the primary's order (creation,
     * then id: with time-ordered ids, id order). */
    mv_decoy_forward f;
    mv_buf fb, a, b;
    mv_buf_init(&fb, 1 << 16);
    mv_buf_init(&a, 1 << 20);
    mv_buf_init(&b, 1 << 20);
    mv_decoy_forward_init(&f);
    f.reason = MV_DECOY_UNAUTHENTICATED;
    memcpy(f.principal, victim, 32);
    snprintf(f.method, sizeof f.method, "GET");
    f.path = "/v1/records";
    f.path_len = strlen(f.path);
    assert_int_equal(mv_decoy_forward_encode(&f, &fb), MV_OK);
    assert_int_equal(call("POST", "/v1/decoy", fb.ptr, fb.len, &g_primary, &a), 200);
    mv_json *root = NULL;
    assert_int_equal(mv_json_parse((const char *)a.ptr, a.len, NULL, &root, NULL), MV_OK);
    const mv_json *recs = mv_json_get(root, "records");
    assert_int_equal(mv_json_len(recs), n);
    uint8_t prev[16];
    uint64_t prev_created = 0;
    memset(prev, 0, sizeof prev);
    uint8_t save_reason = g_reason;
    g_reason = MV_DECOY_UNAUTHENTICATED;
    for (size_t i = 0; i < n; i++) {
        const mv_json *e = mv_json_at(recs, i);
        uint8_t id[16];
        uint64_t created = 0, env_bytes = 0, logical = 0, blocks = 0;
        size_t hl = 0;
        const char *hex = mv_json_get_str(e, "id", &hl);
        assert_non_null(hex);
        assert_int_equal(mv_hex_decode_exact(id, 16, hex, hl), MV_OK);
        assert_int_equal(mv_json_get_u64(e, "created", &created), MV_OK);
        assert_int_equal(mv_json_get_u64(e, "envelope_bytes", &env_bytes), MV_OK);
        assert_int_equal(mv_json_get_u64(e, "logical_bytes", &logical), MV_OK);
        assert_int_equal(mv_json_get_u64(e, "blocks", &blocks), MV_OK);
        assert_true(memcmp(prev, id, 16) < 0 && prev_created <= created);
        assert_int_equal(ms_of(id) / 1000, created);
        memcpy(prev, id, 16);
        prev_created = created;
        /* A read of it: the listed size, the listed kind. */
        char path[64];
        snprintf(path, sizeof path, "/v1/records/%.32s", hex);
        assert_int_equal(forward(&g_primary, "GET", path, NULL, 0, NULL, 0, &b), 200);
        assert_int_equal(b.len, env_bytes);
        mv_envelope_kind kind;
        uint8_t kid[16];
        assert_int_equal(mv_envelope_kind_of(b.ptr, b.len, &kind, kid), MV_OK);
        if (blocks == 0) {
            assert_int_equal(kind, MV_ENVELOPE_MVK1);
            assert_int_equal(logical, env_bytes);
            uint8_t pks[2 * 32];
            size_t m = 0;
            assert_int_equal(mv_envelope_readers(b.ptr, b.len, pks, 2, &m), MV_OK);
            assert_int_equal(env_bytes, 5 + 112 * m);
        } else {
            assert_int_equal(kind, MV_ENVELOPE_MVE2);
            assert_true(logical > env_bytes);
            char khex[33];
            assert_int_equal(mv_hex_encode(khex, sizeof khex, kid, 16), MV_OK);
            assert_non_null(strstr((const char *)a.ptr, khex));
        }
    }
    g_reason = save_reason;
    mv_json_free(root);
    /* Any id with a real-looking time: that time, the same on every ask; an old random id
     * (before issue 12) still gets an invented record within the history. */
    uint8_t rid[16];
    mv_decoy_shape r1, r2;
    mv_decoy_shape_init(&r1);
    mv_decoy_shape_init(&r2);
    assert_int_equal(mv_record_id_new(rid), MV_OK);
    assert_int_equal(mv_decoy_shape_synth(seed, rid, anchor, &r1), MV_OK);
    assert_int_equal(mv_decoy_shape_synth(seed, rid, anchor, &r2), MV_OK);
    assert_int_equal(r1.created, ms_of(rid) / 1000);
    assert_int_equal(r1.env_len, r2.env_len);
    assert_memory_equal(r1.kid, r2.kid, 16);
    mv_decoy_shape_clear(&r1);
    mv_decoy_shape_clear(&r2);
    memset(rid, 0xd7, 16);
    assert_int_equal(mv_decoy_shape_synth(seed, rid, anchor, &r1), MV_OK);
    assert_true(r1.created < anchor && r1.created > anchor - 2u * 365 * 86400 - 86400);
    assert_int_equal(r1.kind, MV_DECOY_MVE2);
    assert_int_equal(mv_decoy_shape_synth(seed, r1.kid, anchor, &r2), MV_OK);
    assert_int_equal(r2.kind, MV_DECOY_MVK1);
    assert_true(r2.created <= r1.created);
    mv_decoy_shape_clear(&r1);
    mv_decoy_shape_clear(&r2);
    /* Honeytokens (time-ordered ids of their own) in a listing come with the keyset
     * mv_decoy_shape_synth puts them under; 4,000 of them make most of a listing. */
    uint8_t(*hx)[16] = mv_mallocarray(4000, 16);
    assert_non_null(hx);
    for (size_t i = 0; i < 4000; i++)
        assert_int_equal(mv_record_id_new(hx[i]), MV_OK);
    n = mv_decoy_synth_list(seed, victim, anchor, (const uint8_t(*)[16])hx, 4000, ids, MV_DECOY_SYNTH_LIST_MAX);
    size_t n_honey = 0;
    for (size_t i = 0; i < n; i++) {
        size_t h = 0;
        while (h < 4000 && memcmp(hx[h], ids[i], 16) != 0)
            h++;
        if (h == 4000)
            continue;
        n_honey++;
        assert_int_equal(mv_decoy_shape_synth(seed, ids[i], anchor, &r1), MV_OK);
        assert_int_equal(r1.created, ms_of(ids[i]) / 1000);
        size_t k = 0;
        while (k < n && memcmp(ids[k], r1.kid, 16) != 0)
            k++;
        assert_true(k < n);
        assert_int_equal(mv_decoy_shape_synth(seed, r1.kid, anchor, &r2), MV_OK);
        assert_int_equal(r2.kind, MV_DECOY_MVK1);
        assert_true(r2.created <= r1.created);
        mv_decoy_shape_clear(&r1);
        mv_decoy_shape_clear(&r2);
    }
    assert_true(n_honey >= 1);
    mv_free(hx);
    mv_buf_clear(&fb);
    mv_buf_clear(&a);
    mv_buf_clear(&b);
}

/* Issue 11, finding 5: an attachment's decoy keeps no ciphertext on disk (its blocks are
 * regenerated on each read, byte-identical), and a shape over the cap is refused at once. */
static void test_decoy_costs(void **state)
{
    (void)state;
    uint8_t seed[MV_DECOY_SEED_BYTES];
    (void)read_seed(seed);
    static uint32_t lens[3] = {1u << 20, 1u << 20, 300000};
    mv_decoy_shape s;
    make_shape(&s, 0x91, 1500);
    s.n_blocks = 3;
    s.block_len = lens;
    mv_buf hb, b;
    mv_buf_init(&hb, 1 << 20);
    mv_buf_init(&b, (size_t)16 << 20);
    assert_int_equal(mv_decoy_shapes_encode(&s, 1, &hb), MV_OK);
    assert_int_equal(call("POST", "/v1/decoy/shapes", hb.ptr, hb.len, &g_primary, &b), 200);
    assert_string_equal((const char *)b.ptr, "{\"stored\":1}");
    mv_decoy_record rec;
    mv_decoy_record_init(&rec);
    assert_int_equal(mv_decoy_generate(seed, &s, &rec), MV_OK);
    /* A decoy tag exists once its envelope was served (the only way a caller learns it). */
    char rpath[64], rhex[33];
    assert_int_equal(mv_hex_encode(rhex, sizeof rhex, s.id, 16), MV_OK);
    snprintf(rpath, sizeof rpath, "/v1/records/%s", rhex);
    char t0hex[65], t0path[128];
    assert_int_equal(mv_hex_encode(t0hex, sizeof t0hex, rec.blocks[0].tag, 32), MV_OK);
    snprintf(t0path, sizeof t0path, "/v1/blocks/%s", t0hex);
    assert_int_equal(forward(&g_primary, "GET", t0path, NULL, 0, NULL, 0, &b), 404);
    assert_int_equal(forward(&g_primary, "GET", rpath, NULL, 0, &s, 1, &b), 200);
    assert_int_equal(b.len, rec.env_len);
    assert_memory_equal(b.ptr, rec.env, b.len);
    for (size_t i = 0; i < 3; i++) {
        char tpath[128], thex[65];
        assert_int_equal(mv_hex_encode(thex, sizeof thex, rec.blocks[i].tag, 32), MV_OK);
        snprintf(tpath, sizeof tpath, "/v1/blocks/%s", thex);
        assert_int_equal(forward(&g_primary, "GET", tpath, NULL, 0, NULL, 0, &b), 200);
        assert_int_equal(b.len, rec.blocks[i].len);
        assert_memory_equal(b.ptr, rec.blocks[i].c, b.len);
    }
    /* Nothing of its size under the decoy directory: 2.3 MiB of decoy costs a shape and tags. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test \"$(du -sb '%s/decoys' | cut -f1)\" -lt 262144", g_stdir);
    assert_int_equal(system(cmd), 0);
    /* 600 blocks of 8 MiB (4.7 GiB): refused, fast, nothing generated. */
    uint32_t *big = mv_mallocarray(600, sizeof *big);
    assert_non_null(big);
    for (size_t i = 0; i < 600; i++)
        big[i] = 8u << 20;
    mv_decoy_shape bs;
    make_shape(&bs, 0x92, 1500);
    bs.n_blocks = 600;
    bs.block_len = big;
    mv_buf_reset(&hb);
    assert_int_equal(mv_decoy_shapes_encode(&bs, 1, &hb), MV_OK);
    time_t t0 = time(NULL);
    assert_int_equal(call("POST", "/v1/decoy/shapes", hb.ptr, hb.len, &g_primary, &b), 200);
    assert_string_equal((const char *)b.ptr, "{\"stored\":0}");
    assert_true(time(NULL) - t0 < 5);
    mv_free(big);
    mv_decoy_record_clear(&rec);
    mv_buf_clear(&hb);
    mv_buf_clear(&b);
}

/* Bytes of every file under DIR/decoys (apparent sizes: what the decoy cloud keeps). */
static uint64_t decoy_dir_bytes(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "du -sb --apparent-size '%s/decoys' | cut -f1", g_stdir);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    unsigned long long n = 0;
    assert_int_equal(fscanf(f, "%llu", &n), 1);
    pclose(f);
    return n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Pushes shapes[from..to) of a prescription-like stream (100 episodes, a patient and a doctor as
 * readers, one block) in the primary's batches of 256; time_ordered: ids as mv_record_id_new
 * mints them (6 bytes of big-endian milliseconds, then 10 random bytes), else 16 random bytes.
 * Returns the slowest push in seconds. */
static double push_stream(size_t from, size_t to, int time_ordered, uint8_t (*pks)[32], uint32_t *lens)
{
    mv_decoy_shape *v = mv_calloc(256, sizeof *v);
    mv_buf hb, b;
    double worst = 0;
    assert_non_null(v);
    mv_buf_init(&hb, (size_t)16 << 20);
    mv_buf_init(&b, 1 << 16);
    for (size_t done = from; done < to;) {
        size_t n = to - done < 256 ? to - done : 256;
        for (size_t i = 0; i < n; i++) {
            size_t k = done + i, ep = k % 100;
            mv_decoy_shape *sh = &v[i];
            mv_decoy_shape_init(sh);
            randombytes_buf(sh->id, 16);
            if (time_ordered) {
                uint64_t ms = 1745000000000ull + 1000 * (uint64_t)k + (uint64_t)(k % 7);
                for (int j = 0; j < 6; j++)
                    sh->id[j] = (uint8_t)(ms >> (40 - 8 * j));
            }
            snprintf(sh->department, sizeof sh->department, "cardiology");
            sh->created = 1745000000 + 37 * k;
            memset(sh->owner, (int)(ep % 4) + 1, 32);
            memset(sh->patient, 0x70, 32);
            sh->patient[0] = (uint8_t)ep;
            memset(sh->episode, (int)ep, 16);
            sh->n_readers = 2;
            memcpy(sh->readers[0], pks[ep], 32);
            memcpy(sh->readers[1], pks[100 + ep % 4], 32);
            sh->env_len = 33 + 224 + 380 + (uint32_t)(k * 7919 % 300);
            lens[k] = 300 + (uint32_t)(k * 104729 % 1800);
            sh->n_blocks = 1;
            sh->block_len = &lens[k];
        }
        mv_buf_reset(&hb);
        assert_int_equal(mv_decoy_shapes_encode(v, n, &hb), MV_OK);
        double t0 = now_s();
        assert_int_equal(call("POST", "/v1/decoy/shapes", hb.ptr, hb.len, &g_primary, &b), 200);
        double dt = now_s() - t0;
        worst = dt > worst ? dt : worst;
        char want[64];
        snprintf(want, sizeof want, "{\"stored\":%zu}", n);
        assert_string_equal((const char *)b.ptr, want);
        done += n;
    }
    mv_free(v);
    mv_buf_clear(&hb);
    mv_buf_clear(&b);
    return worst;
}

/* Issue 12: the decoy cloud keeps a shape, not a decoy. Prescription-like shapes pushed in the
 * primary's batches of 256 into a fresh decoy directory cost, the whole directory counted
 * (du -sb: LMDB's data and lock files, the directories):
 *   time-ordered ids: at most 64 bytes a record after 5,000 and 48 after 20,000. Each push
 *     appends (MDB_APPEND) to full leaves: an entry is about 38 bytes (16-byte id, 12 bytes of
 *     varints, LMDB's 8-byte node header and 2-byte slot), 106 to a 4 KiB leaf; the rest is a
 *     near-constant 60 KiB (100 access sets of 170 bytes, two meta pages, the pages two
 *     commits back that copy-on-write keeps, the lock file, two directory entries). Measured
 *     57.6 and 43.9: the margins (10 %) absorb the varints of other ids, times and sizes.
 *   random ids: at most 192 bytes a record after 5,000. Random inserts split leaves to about
 *     69 % full (55 bytes a record), and each push of 256 touches nearly every leaf of a
 *     5,000-record tree, which copy-on-write keeps twice (measured 167).
 * Each push answers well within a second. The previous store wrote 7,300 bytes a record. */
#define N_SHAPES 5000
#define N_SHAPES_BIG 20000
#define SHAPE_BYTES_MAX 64
#define SHAPE_BYTES_MAX_BIG 48
#define SHAPE_BYTES_MAX_RANDOM 192
static void test_shape_store_compact(void **state)
{
    (void)state;
    static uint8_t pks[200][32];
    uint8_t sk[32];
    char saved[sizeof g_stdir];
    for (int i = 0; i < 200; i++)
        assert_int_equal(mv_box_keypair(pks[i], sk), MV_OK);
    uint32_t *lens = mv_calloc(N_SHAPES_BIG, sizeof *lens);
    assert_non_null(lens);
    memcpy(saved, g_stdir, sizeof saved);
    for (int time_ordered = 1; time_ordered >= 0; time_ordered--) {
        /* A fresh directory: the whole of it is what these shapes cost. */
        stop_server();
        snprintf(g_stdir, sizeof g_stdir, "%s/compact%d", g_dir, time_ordered);
        start_server();
        double worst = push_stream(0, N_SHAPES, time_ordered, pks, lens);
        double per = (double)decoy_dir_bytes() / N_SHAPES;
        printf("decoy directory, %s ids: %.1f bytes per record after %d shapes; slowest push of 256: %.0f ms\n",
               time_ordered ? "time-ordered" : "random", per, N_SHAPES, worst * 1000);
        assert_true(per <= (time_ordered ? SHAPE_BYTES_MAX : SHAPE_BYTES_MAX_RANDOM));
        assert_true(worst < 1.0);
        if (time_ordered) {
            worst = push_stream(N_SHAPES, N_SHAPES_BIG, 1, pks, lens);
            per = (double)decoy_dir_bytes() / N_SHAPES_BIG;
            printf("decoy directory, time-ordered ids: %.1f bytes per record after %d shapes; slowest push: %.0f ms\n",
                   per, N_SHAPES_BIG, worst * 1000);
            assert_true(per <= SHAPE_BYTES_MAX_BIG);
            assert_true(worst < 1.0);
        }
    }
    stop_server();
    memcpy(g_stdir, saved, sizeof saved);
    start_server();
    mv_free(lens);
}

/* Same bytes on every fetch and after kill -9 and a restart; an acknowledged shape survives. */
static void test_restart_kill9(void **state)
{
    (void)state;
    mv_decoy_shape x, y;
    mv_buf a, a2, blk, b, hb;
    char path[128], hex[65], tpath[128];
    make_shape(&x, 0xa1, 1400);
    make_shape(&y, 0xa2, 1300);
    mv_buf_init(&a, 1 << 20);
    mv_buf_init(&a2, 1 << 20);
    mv_buf_init(&blk, 1 << 20);
    mv_buf_init(&b, 1 << 20);
    mv_buf_init(&hb, 1 << 20);
    assert_int_equal(mv_hex_encode(hex, sizeof hex, x.id, 16), MV_OK);
    snprintf(path, sizeof path, "/v1/records/%s", hex);
    assert_int_equal(forward(&g_primary, "GET", path, NULL, 0, &x, 1, &a), 200);
    assert_int_equal(a.len, 1400);
    assert_int_equal(forward(&g_primary, "GET", path, NULL, 0, &x, 1, &a2), 200);
    assert_int_equal(a2.len, a.len);
    assert_memory_equal(a.ptr, a2.ptr, a.len);
    mv_record r;
    mv_record_init(&r);
    assert_int_equal(mv_envelope_open(x.id, a.ptr, a.len, x.readers[0], g_reader_sk, &r), MV_OK);
    assert_int_equal(mv_hex_encode(hex, sizeof hex, r.blocks[1].tag, 32), MV_OK);
    snprintf(tpath, sizeof tpath, "/v1/blocks/%s", hex);
    assert_int_equal(forward(&g_primary, "GET", tpath, NULL, 0, NULL, 0, &blk), 200);
    assert_true(mv_mle_tag_ok(blk.ptr, blk.len, r.blocks[1].tag));
    assert_int_equal(mv_decoy_shapes_encode(&y, 1, &hb), MV_OK);
    assert_int_equal(call("POST", "/v1/decoy/shapes", hb.ptr, hb.len, &g_primary, &b), 200);
    assert_string_equal((const char *)b.ptr, "{\"stored\":1}");
    /* kill -9 right after the acknowledgement, then a fresh process. */
    tu_daemon_kill(&g_pid);
    start_server();
    assert_int_equal(call("POST", "/v1/decoy/shapes", hb.ptr, hb.len, &g_primary, &b), 200);
    assert_string_equal((const char *)b.ptr, "{\"stored\":0}"); /* y was durable */
    mv_buf_reset(&b);
    assert_int_equal(forward(&g_primary, "GET", tpath, NULL, 0, NULL, 0, &b), 200); /* the tag too */
    assert_int_equal(b.len, blk.len);
    assert_memory_equal(b.ptr, blk.ptr, b.len);
    mv_buf_reset(&b);
    assert_int_equal(forward(&g_primary, "GET", path, NULL, 0, &x, 1, &b), 200);
    assert_int_equal(b.len, a.len);
    assert_memory_equal(b.ptr, a.ptr, a.len);
    mv_record_clear(&r);
    mv_buf_clear(&a);
    mv_buf_clear(&a2);
    mv_buf_clear(&blk);
    mv_buf_clear(&b);
    mv_buf_clear(&hb);
}

static void put_u32le(mv_buf *b, uint32_t v)
{
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    assert_int_equal(mv_buf_append(b, le, 4), MV_OK);
}

/* Issue 12: a bulk read (MVQ1) of many records nobody read before answers within the primary's
 * 10 s forward timeout (4,096 of them, the most one MVQ1 names): generation stops after its
 * budget (4 s) and the answer is 413, as the primary answers a bulk read too large for one
 * answer; a client halving its request as src/client/get.c does gets every envelope in the end (those generated before a 413 are
 * cached), each the generator's bytes. The decoys of one answer are stored in one transaction
 * before it is sent: after kill -9 a block tag it named still reads the same block. */
#define N_BULK 4096 /* the most one MVQ1 names: about 8 s of generation here, 2 ms each */
static void test_bulk_read_budget(void **state)
{
    (void)state;
    uint8_t seed[MV_DECOY_SEED_BYTES], pk[32], sk[32];
    static uint32_t lens[N_BULK];
    (void)read_seed(seed);
    assert_int_equal(mv_box_keypair(pk, sk), MV_OK);
    mv_decoy_shape *v = mv_calloc(N_BULK, sizeof *v);
    assert_non_null(v);
    for (size_t k = 0; k < N_BULK; k++) {
        mv_decoy_shape *sh = &v[k];
        mv_decoy_shape_init(sh);
        randombytes_buf(sh->id, 16);
        snprintf(sh->department, sizeof sh->department, "cardiology");
        sh->created = 1745000000 + 37 * k;
        memset(sh->owner, 0x61, 32);
        sh->n_readers = 1;
        memcpy(sh->readers[0], pk, 32);
        sh->env_len = 33 + 112 + 380 + (uint32_t)(k * 7919 % 300);
        lens[k] = 300 + (uint32_t)(k * 104729 % 1800);
        sh->n_blocks = 1;
        sh->block_len = &lens[k];
    }
    mv_buf q, b;
    mv_buf_init(&q, 8 + 16 * N_BULK);
    mv_buf_init(&b, (size_t)64 << 20);
    size_t off = 0, group = N_BULK, over = 0, rounds = 0;
    double worst = 0;
    while (off < N_BULK) {
        size_t m = N_BULK - off < group ? N_BULK - off : group;
        mv_buf_reset(&q);
        assert_int_equal(mv_buf_append(&q, "MVQ1", 4), MV_OK);
        put_u32le(&q, (uint32_t)m);
        for (size_t i = 0; i < m; i++)
            assert_int_equal(mv_buf_append(&q, v[off + i].id, 16), MV_OK);
        double t0 = now_s();
        long st = forward(&g_primary, "POST", "/v1/records/get", q.ptr, q.len, v + off, m, &b);
        double dt = now_s() - t0;
        worst = dt > worst ? dt : worst;
        assert_true(dt < 9.0); /* inside the forward timeout, with room for the transfer */
        assert_true(++rounds < 200);
        if (st == 413) {
            assert_non_null(strstr((const char *)b.ptr, "ask for fewer records"));
            assert_true(m > 1);
            group = m / 2;
            over++;
            continue;
        }
        assert_int_equal(st, 200);
        assert_true(b.len >= 8);
        assert_memory_equal(b.ptr, "MVQ1", 4);
        size_t pos = 8;
        for (size_t i = 0; i < m; i++) {
            assert_true(pos + 5 <= b.len);
            uint32_t len = (uint32_t)b.ptr[pos + 1] | (uint32_t)b.ptr[pos + 2] << 8 | (uint32_t)b.ptr[pos + 3] << 16 |
                           (uint32_t)b.ptr[pos + 4] << 24;
            assert_int_equal(b.ptr[pos], 0);
            assert_int_equal(len, v[off + i].env_len);
            assert_true(pos + 5 + len <= b.len);
            if ((off + i) % 500 == 0) { /* a sample: the generator's bytes */
                mv_decoy_record rec;
                mv_decoy_record_init(&rec);
                assert_int_equal(mv_decoy_generate(seed, &v[off + i], &rec), MV_OK);
                assert_memory_equal(b.ptr + pos + 5, rec.env, len);
                mv_decoy_record_clear(&rec);
            }
            pos += 5 + len;
        }
        assert_int_equal(pos, b.len);
        off += m;
    }
    printf("bulk read of %d new records: %zu rounds, %zu answered 413, slowest answer %.1f s\n", N_BULK, rounds,
           over, worst);
    /* Should generation ever fit 4,096 decoys in the budget, this test no longer reaches it. */
    assert_true(over >= 1);
    /* The last answer's tags were durable before it was sent. */
    mv_decoy_record rec;
    mv_decoy_record_init(&rec);
    assert_int_equal(mv_decoy_generate(seed, &v[N_BULK - 1], &rec), MV_OK);
    tu_daemon_kill(&g_pid);
    start_server();
    char hex[65], tpath[128];
    assert_int_equal(mv_hex_encode(hex, sizeof hex, rec.blocks[0].tag, 32), MV_OK);
    snprintf(tpath, sizeof tpath, "/v1/blocks/%s", hex);
    assert_int_equal(forward(&g_primary, "GET", tpath, NULL, 0, NULL, 0, &b), 200);
    assert_int_equal(b.len, rec.blocks[0].len);
    assert_memory_equal(b.ptr, rec.blocks[0].c, b.len);
    mv_decoy_record_clear(&rec);
    for (size_t k = 0; k < N_BULK; k++)
        v[k].block_len = NULL; /* static */
    mv_free(v);
    mv_buf_clear(&q);
    mv_buf_clear(&b);
}

/* A decoy directory of the previous release (DIR/decoys/<id>.rec: u32 shape_len | shape v1 |
 * u32 env_len | envelope | u32 n | tag * n, DIR/decoys/blocks/<tag>, DIR/decoys/ptr/) is
 * imported on start: the .rec and block files are gone, a tag it had served still reads the
 * same ciphertext, and the record the same envelope. */
static void test_upgrade_from_rec_files(void **state)
{
    (void)state;
    uint8_t seed[MV_DECOY_SEED_BYTES];
    (void)read_seed(seed);
    mv_decoy_shape z;
    mv_decoy_record rec;
    mv_buf enc, file, b;
    char p[700], hex[65], idhex[33];
    make_shape(&z, 0xa3, 1350);
    mv_decoy_record_init(&rec);
    assert_int_equal(mv_decoy_generate(seed, &z, &rec), MV_OK);
    mv_buf_init(&enc, 1 << 20);
    mv_buf_init(&file, 1 << 20);
    mv_buf_init(&b, 1 << 20);
    assert_int_equal(mv_decoy_shape_encode(&z, &enc), MV_OK);
    stop_server();
    /* The old .rec holds the version-1 shape: the version-2 one without version and kind. */
    put_u32le(&file, (uint32_t)enc.len - 2);
    assert_int_equal(mv_buf_append(&file, enc.ptr + 2, enc.len - 2), MV_OK);
    put_u32le(&file, (uint32_t)rec.env_len);
    assert_int_equal(mv_buf_append(&file, rec.env, rec.env_len), MV_OK);
    put_u32le(&file, (uint32_t)rec.n_blocks);
    for (size_t i = 0; i < rec.n_blocks; i++)
        assert_int_equal(mv_buf_append(&file, rec.blocks[i].tag, 32), MV_OK);
    assert_int_equal(mv_hex_encode(idhex, sizeof idhex, z.id, 16), MV_OK);
    snprintf(p, sizeof p, "%s/decoys/%s.rec", g_stdir, idhex);
    assert_int_equal(mv_file_write_atomic(p, file.ptr, file.len, 0600), MV_OK);
    snprintf(p, sizeof p, "%s/decoys/blocks", g_stdir);
    assert_int_equal(mv_file_mkdir(p, 0700), MV_OK);
    for (size_t i = 0; i < rec.n_blocks; i++) {
        assert_int_equal(mv_hex_encode(hex, sizeof hex, rec.blocks[i].tag, 32), MV_OK);
        snprintf(p, sizeof p, "%s/decoys/blocks/%s", g_stdir, hex);
        assert_int_equal(mv_file_write_atomic(p, rec.blocks[i].c, rec.blocks[i].len, 0600), MV_OK);
    }
    snprintf(p, sizeof p, "%s/decoys/ptr", g_stdir);
    assert_int_equal(mv_file_mkdir(p, 0700), MV_OK);
    snprintf(p, sizeof p, "%s/decoys/ptr/%064d", g_stdir, 0);
    assert_int_equal(mv_file_write_atomic(p, "MVDP", 4, 0600), MV_OK);
    start_server();
    snprintf(p, sizeof p, "%s/decoys/%s.rec", g_stdir, idhex);
    assert_false(mv_file_exists(p));
    snprintf(p, sizeof p, "%s/decoys/blocks", g_stdir);
    assert_false(mv_file_exists(p));
    snprintf(p, sizeof p, "%s/decoys/ptr", g_stdir);
    assert_false(mv_file_exists(p));
    /* A tag served before the upgrade, read without reading the envelope again. */
    assert_int_equal(mv_hex_encode(hex, sizeof hex, rec.blocks[1].tag, 32), MV_OK);
    snprintf(p, sizeof p, "/v1/blocks/%s", hex);
    assert_int_equal(forward(&g_primary, "GET", p, NULL, 0, NULL, 0, &b), 200);
    assert_int_equal(b.len, rec.blocks[1].len);
    assert_memory_equal(b.ptr, rec.blocks[1].c, b.len);
    snprintf(p, sizeof p, "/v1/records/%s", idhex);
    mv_buf_reset(&b);
    assert_int_equal(forward(&g_primary, "GET", p, NULL, 0, &z, 1, &b), 200);
    assert_int_equal(b.len, rec.env_len);
    assert_memory_equal(b.ptr, rec.env, b.len);
    /* The imported shape is the stored one. */
    mv_buf_reset(&file);
    assert_int_equal(mv_decoy_shapes_encode(&z, 1, &file), MV_OK);
    mv_buf_reset(&b);
    assert_int_equal(call("POST", "/v1/decoy/shapes", file.ptr, file.len, &g_primary, &b), 200);
    assert_string_equal((const char *)b.ptr, "{\"stored\":0}");
    mv_decoy_record_clear(&rec);
    mv_buf_clear(&enc);
    mv_buf_clear(&file);
    mv_buf_clear(&b);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
    snprintf(g_stdir, sizeof g_stdir, "%s/decoy", g_dir);
    snprintf(g_portfile, sizeof g_portfile, "%s/port", g_dir);
    char hd[300];
    snprintf(hd, sizeof hd, "%s/hospital", g_dir);
    assert_int_equal(mv_identity_create(hd, &g_hosp), MV_OK);
    g_primary = make_svc("primary");
    g_other = make_svc("other");
    start_server();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (g_pid > 0)
        stop_server();
    mv_identity_free(g_primary.id);
    mv_identity_free(g_other.id);
    mv_free(g_primary.cred);
    mv_free(g_other.cred);
    mv_identity_free(g_hosp);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_decoy_cloud), cmocka_unit_test(test_unverified_invented),
                                       cmocka_unit_test(test_unverified_world),
                                       cmocka_unit_test(test_decoy_costs), cmocka_unit_test(test_shape_store_compact),
                                       cmocka_unit_test(test_restart_kill9), cmocka_unit_test(test_bulk_read_budget),
                                       cmocka_unit_test(test_upgrade_from_rec_files)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
