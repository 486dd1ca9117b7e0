/* test_revocation.c - the hospital's signed revocation list (mv_revocation.h), against the
 * MVL1 layout in that header: the bytes and the signed string checked by hand, sorting and
 * folding of duplicates, every byte tampered, the issuer, the cap on n, contains(); and the
 * services' poller against a real HTTP server in this process serving lists we sign. */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "medvault/mv_auth.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_file.h"
#include "medvault/mv_http.h"
#include "medvault/mv_keyserver.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_metrics.h"
#include "medvault/mv_revocation_poller.h"
#include "medvault/mv_sig.h"
#include "medvault/mv_storage.h"

#define T0 1790000000u

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void keys3(uint8_t k[3 * 32])
{
    /* Out of order on purpose: 0x30.., 0x10.., 0x20.. */
    memset(k, 0x30, 32);
    memset(k + 32, 0x10, 32);
    memset(k + 64, 0x20, 32);
    k[64 + 31] = 1;
}

static void test_sign_verify_layout(void **state)
{
    (void)state;
    uint8_t hpk[32], hsk[64], k[3 * 32];
    mv_buf out;
    mv_revocation_list l;
    mv_buf_init(&out, 1 << 20);
    assert_int_equal(mv_sign_keypair(hpk, hsk), MV_OK);
    keys3(k);
    assert_int_equal(mv_revocation_sign(k, 3, 42, T0, T0 + 10, hpk, hsk, &out), MV_OK);
    assert_int_equal(out.len, 64 + 3 * 32 + 64);
    assert_memory_equal(out.ptr, "MVL1", 4);
    assert_memory_equal(out.ptr + 4, hpk, 32);
    assert_true(be64(out.ptr + 36) == 42);
    assert_true(be64(out.ptr + 44) == T0);
    assert_true(be64(out.ptr + 52) == T0 + 10);
    static const uint8_t n3[4] = {0, 0, 0, 3};
    assert_memory_equal(out.ptr + 60, n3, 4);
    /* ascending */
    assert_memory_equal(out.ptr + 64, k + 32, 32);
    assert_memory_equal(out.ptr + 96, k + 64, 32);
    assert_memory_equal(out.ptr + 128, k, 32);
    /* The signature over "medvault-revocation-v1\n" || bytes[0, 64+32n), by hand. */
    {
        static const char dom[] = "medvault-revocation-v1\n";
        uint8_t msg[sizeof dom + 64 + 96];
        memcpy(msg, dom, sizeof dom - 1);
        memcpy(msg + sizeof dom - 1, out.ptr, 64 + 96);
        assert_int_equal(mv_sign_verify(out.ptr + 160, msg, sizeof dom - 1 + 160, hpk), MV_OK);
    }

    assert_int_equal(mv_revocation_verify(out.ptr, out.len, hpk, &l), MV_OK);
    assert_memory_equal(l.issuer, hpk, 32);
    assert_true(l.serial == 42 && l.issued_at == T0 && l.next_update == T0 + 10);
    assert_int_equal(l.n, 3);
    assert_memory_equal(l.keys, out.ptr + 64, 96);
    for (int i = 0; i < 3; i++)
        assert_int_equal(mv_revocation_contains(&l, k + 32 * i), 1);
    uint8_t other[32];
    memset(other, 0x20, 32);
    assert_int_equal(mv_revocation_contains(&l, other), 0); /* k+64 with its last byte 0 */
    memset(other, 0x00, 32);
    assert_int_equal(mv_revocation_contains(&l, other), 0);
    memset(other, 0xff, 32);
    assert_int_equal(mv_revocation_contains(&l, other), 0);
    assert_int_equal(mv_revocation_contains(&l, NULL), 0);
    assert_int_equal(mv_revocation_contains(NULL, k), 0);
    mv_revocation_list_clear(&l);
    assert_null(l.keys);
    assert_int_equal(l.n, 0);
    mv_revocation_list_clear(&l); /* twice is fine */
    mv_revocation_list_clear(NULL);

    /* A second signing appends (the buffer is not reset). */
    size_t first = out.len;
    assert_int_equal(mv_revocation_sign(k, 1, 43, T0, T0, hpk, hsk, &out), MV_OK);
    assert_int_equal(out.len, first + 64 + 32 + 64);
    assert_int_equal(mv_revocation_verify(out.ptr + first, out.len - first, hpk, &l), MV_OK);
    assert_true(l.serial == 43 && l.n == 1);
    mv_revocation_list_clear(&l);
    mv_buf_clear(&out);
}

static void test_duplicates_and_empty(void **state)
{
    (void)state;
    uint8_t hpk[32], hsk[64], k[6 * 32];
    mv_buf out;
    mv_revocation_list l;
    mv_buf_init(&out, 1 << 20);
    assert_int_equal(mv_sign_keypair(hpk, hsk), MV_OK);
    keys3(k);
    memcpy(k + 96, k + 64, 32);
    memcpy(k + 128, k, 32);
    memcpy(k + 160, k + 64, 32);
    assert_int_equal(mv_revocation_sign(k, 6, 7, T0, T0 + 10, hpk, hsk, &out), MV_OK);
    assert_int_equal(out.len, 64 + 3 * 32 + 64);
    assert_int_equal(mv_revocation_verify(out.ptr, out.len, hpk, &l), MV_OK);
    assert_int_equal(l.n, 3);
    for (size_t i = 1; i < l.n; i++)
        assert_true(memcmp(l.keys + 32 * (i - 1), l.keys + 32 * i, 32) < 0);
    mv_revocation_list_clear(&l);

    /* The empty list: valid, names nobody. */
    mv_buf_reset(&out);
    assert_int_equal(mv_revocation_sign(NULL, 0, 1, T0, T0 + 10, hpk, hsk, &out), MV_OK);
    assert_int_equal(out.len, 128);
    assert_int_equal(mv_revocation_verify(out.ptr, out.len, hpk, &l), MV_OK);
    assert_int_equal(l.n, 0);
    assert_true(l.serial == 1);
    assert_int_equal(mv_revocation_contains(&l, k), 0);
    mv_revocation_list_clear(&l);

    /* A list whose keys are equal or descending is not canonical: MV_ERR_PARSE, even signed. */
    {
        static const char dom[] = "medvault-revocation-v1\n";
        uint8_t buf[64 + 64 + 64], msg[sizeof dom + 128];
        for (int variant = 0; variant < 2; variant++) {
            mv_buf_reset(&out);
            assert_int_equal(mv_revocation_sign(k, 2, 9, T0, T0, hpk, hsk, &out), MV_OK); /* 2 keys */
            memcpy(buf, out.ptr, 192);
            if (variant == 0)
                memcpy(buf + 96, buf + 64, 32); /* equal */
            else {
                uint8_t t[32];
                memcpy(t, buf + 64, 32);
                memcpy(buf + 64, buf + 96, 32);
                memcpy(buf + 96, t, 32); /* descending */
            }
            memcpy(msg, dom, sizeof dom - 1);
            memcpy(msg + sizeof dom - 1, buf, 128);
            assert_int_equal(mv_sign(buf + 128, msg, sizeof dom - 1 + 128, hsk), MV_OK);
            assert_int_equal(mv_revocation_verify(buf, 192, hpk, &l), MV_ERR_PARSE);
            assert_null(l.keys);
        }
    }
    mv_buf_clear(&out);
}

static void test_tamper(void **state)
{
    (void)state;
    uint8_t hpk[32], hsk[64], k[3 * 32];
    mv_buf out;
    mv_revocation_list l;
    mv_buf_init(&out, 1 << 20);
    assert_int_equal(mv_sign_keypair(hpk, hsk), MV_OK);
    keys3(k);
    assert_int_equal(mv_revocation_sign(k, 3, 42, T0, T0 + 10, hpk, hsk, &out), MV_OK);
    uint8_t *b = mv_malloc(out.len + 1);
    assert_non_null(b);
    memcpy(b, out.ptr, out.len);
    size_t n_auth = 0;
    for (size_t i = 0; i < out.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (uint8_t)(1u << bit);
            memset(&l, 0x55, sizeof l);
            mv_err rc = mv_revocation_verify(b, out.len, hpk, &l);
            assert_int_not_equal(rc, MV_OK);
            assert_true(tu_all_zero((const uint8_t *)&l, sizeof l));
            if (i < 4 || (i >= 60 && i < 64))
                assert_true(rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE);
            else if (i >= 64 && i < 160)
                assert_true(rc == MV_ERR_PARSE || rc == MV_ERR_AUTH); /* order may break */
            else
                assert_int_equal(rc, MV_ERR_AUTH); /* issuer, serial, times, signature */
            n_auth += rc == MV_ERR_AUTH;
            b[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_true(n_auth >= (32 + 24 + 64) * 8);
    /* Every truncation and a trailing byte. */
    for (size_t len = 0; len < out.len; len++)
        assert_int_equal(mv_revocation_verify(b, len, hpk, &l), MV_ERR_PARSE);
    b[out.len] = 0;
    assert_int_equal(mv_revocation_verify(b, out.len + 1, hpk, &l), MV_ERR_PARSE);
    assert_int_equal(mv_revocation_verify(b, out.len, hpk, &l), MV_OK);
    mv_revocation_list_clear(&l);
    mv_free(b);
    mv_buf_clear(&out);
}

static void test_issuer_and_limits(void **state)
{
    (void)state;
    uint8_t hpk[32], hsk[64], xpk[32], xsk[64], k[3 * 32];
    mv_buf out, tiny;
    mv_revocation_list l;
    mv_buf_init(&out, 1 << 20);
    assert_int_equal(mv_sign_keypair(hpk, hsk), MV_OK);
    assert_int_equal(mv_sign_keypair(xpk, xsk), MV_OK);
    keys3(k);

    /* Signed by another hospital: its issuer field is not ours. */
    assert_int_equal(mv_revocation_sign(k, 3, 42, T0, T0 + 10, xpk, xsk, &out), MV_OK);
    assert_int_equal(mv_revocation_verify(out.ptr, out.len, hpk, &l), MV_ERR_AUTH);
    assert_int_equal(mv_revocation_verify(out.ptr, out.len, xpk, &l), MV_OK);
    mv_revocation_list_clear(&l);
    /* Our issuer field on a list signed by another key. */
    memcpy(out.ptr + 4, hpk, 32);
    assert_int_equal(mv_revocation_verify(out.ptr, out.len, hpk, &l), MV_ERR_AUTH);

    /* sk/pk mismatch, next_update before issued_at, NULLs: refused, out untouched. */
    mv_buf_reset(&out);
    assert_int_equal(mv_revocation_sign(k, 3, 42, T0, T0 + 10, hpk, xsk, &out), MV_ERR_INVAL);
    assert_int_equal(mv_revocation_sign(k, 3, 42, T0, T0 - 1, hpk, hsk, &out), MV_ERR_INVAL);
    assert_int_equal(mv_revocation_sign(NULL, 3, 42, T0, T0, hpk, hsk, &out), MV_ERR_INVAL);
    assert_int_equal(mv_revocation_sign(k, 3, 42, T0, T0, hpk, hsk, NULL), MV_ERR_INVAL);
    assert_int_equal(out.len, 0);
    /* n over the cap (checked before reading keys) and out's cap. */
    assert_int_equal(mv_revocation_sign(k, MV_REVOCATION_MAX + 1, 42, T0, T0, hpk, hsk, &out), MV_ERR_TOO_LARGE);
    mv_buf_init(&tiny, 64 + 3 * 32 + 63);
    assert_int_equal(mv_revocation_sign(k, 3, 42, T0, T0, hpk, hsk, &tiny), MV_ERR_TOO_LARGE);
    assert_int_equal(tiny.len, 0);
    mv_buf_clear(&tiny);

    /* A header announcing more than MV_REVOCATION_MAX keys is MV_ERR_TOO_LARGE, whatever len. */
    assert_int_equal(mv_revocation_sign(k, 3, 42, T0, T0, hpk, hsk, &out), MV_OK);
    uint32_t big = MV_REVOCATION_MAX + 1;
    out.ptr[60] = (uint8_t)(big >> 24);
    out.ptr[61] = (uint8_t)(big >> 16);
    out.ptr[62] = (uint8_t)(big >> 8);
    out.ptr[63] = (uint8_t)big;
    assert_int_equal(mv_revocation_verify(out.ptr, out.len, hpk, &l), MV_ERR_TOO_LARGE);
    memset(out.ptr + 60, 0xff, 4);
    assert_int_equal(mv_revocation_verify(out.ptr, out.len, hpk, &l), MV_ERR_TOO_LARGE);

    assert_int_equal(mv_revocation_verify(NULL, 10, hpk, &l), MV_ERR_INVAL);
    assert_int_equal(mv_revocation_verify(out.ptr, out.len, hpk, NULL), MV_ERR_INVAL);
    mv_buf_clear(&out);
}

/* A large list (20000 distinct keys in scrambled order): every key is found. */
static void test_large(void **state)
{
    (void)state;
    const size_t n = 20000;
    uint8_t hpk[32], hsk[64];
    mv_buf out;
    mv_revocation_list l;
    uint8_t *k = mv_malloc(32 * n);
    assert_non_null(k);
    assert_int_equal(mv_sign_keypair(hpk, hsk), MV_OK);
    for (size_t i = 0; i < n; i++) {
        memset(k + 32 * i, 0, 32);
        uint32_t x = (uint32_t)((i * 2654435761u) ^ 0x5bd1e995u);
        memcpy(k + 32 * i, &x, 4);
        uint32_t y = (uint32_t)i;
        memcpy(k + 32 * i + 28, &y, 4);
    }
    mv_buf_init(&out, 64 + 32 * n + 64);
    assert_int_equal(mv_revocation_sign(k, n, 5, T0, T0 + 10, hpk, hsk, &out), MV_OK);
    assert_int_equal(mv_revocation_verify(out.ptr, out.len, hpk, &l), MV_OK);
    assert_int_equal(l.n, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(mv_revocation_contains(&l, k + 32 * i), 1);
    k[5] ^= 0x80;
    assert_int_equal(mv_revocation_contains(&l, k), 0);
    mv_revocation_list_clear(&l);
    mv_buf_clear(&out);
    mv_free(k);
}

/* tests/vectors/revocation.json: lists signed by an independent Ed25519 over the documented
 * layout verify with the documented fields; one signed by another key is refused. */
static void test_vectors(void **state)
{
    (void)state;
    mv_json *j = tu_load_json("revocation.json");
    uint8_t hpk[32];
    size_t ran = 0;
    mv_revocation_list l;
    assert_int_equal(mv_json_get_hex(j, "hospital_pk", hpk, 32), MV_OK);
    const mv_json *lists = mv_json_get(j, "lists");
    for (size_t i = 0; i < mv_json_len(lists); i++) {
        const mv_json *v = mv_json_at(lists, i);
        size_t len = 0;
        uint8_t *bin = tu_json_hex(v, "hex", &len);
        assert_int_equal(mv_revocation_verify(bin, len, hpk, &l), MV_OK);
        assert_true(l.serial == tu_json_u64(v, "serial"));
        assert_true(l.issued_at == tu_json_u64(v, "issued_at"));
        assert_true(l.next_update == tu_json_u64(v, "next_update"));
        const mv_json *keys = mv_json_get(v, "keys");
        assert_int_equal(l.n, mv_json_len(keys));
        for (size_t k = 0; k < l.n; k++) {
            size_t hl = 0;
            uint8_t key[32];
            const char *hex = mv_json_str(mv_json_at(keys, k), &hl);
            assert_non_null(hex);
            assert_int_equal(mv_hex_decode_exact(key, 32, hex, hl), MV_OK);
            assert_memory_equal(l.keys + 32 * k, key, 32);
            assert_int_equal(mv_revocation_contains(&l, key), 1);
        }
        mv_revocation_list_clear(&l);
        /* Our signer, with the generator's key (seed 32 x 0x03), writes the same bytes. */
        {
            uint8_t seed[32], pk[32], sk[64], *ks = NULL;
            mv_buf out;
            size_t nk = mv_json_len(keys);
            memset(seed, 3, sizeof seed);
            assert_int_equal(mv_sign_seed_keypair(pk, sk, seed), MV_OK);
            assert_memory_equal(pk, hpk, 32);
            if (nk) {
                ks = mv_malloc(32 * nk);
                assert_non_null(ks);
                /* reversed, to exercise the sort */
                for (size_t k = 0; k < nk; k++)
                    assert_int_equal(mv_hex_decode_exact(ks + 32 * (nk - 1 - k), 32,
                                                         mv_json_str(mv_json_at(keys, k), NULL), 64),
                                     MV_OK);
            }
            mv_buf_init(&out, 1 << 16);
            assert_int_equal(mv_revocation_sign(ks, nk, tu_json_u64(v, "serial"), tu_json_u64(v, "issued_at"),
                                                tu_json_u64(v, "next_update"), pk, sk, &out),
                             MV_OK);
            assert_int_equal(out.len, len);
            assert_memory_equal(out.ptr, bin, len);
            mv_buf_clear(&out);
            mv_free(ks);
        }
        mv_free(bin);
        ran++;
    }
    assert_int_equal(ran, 2);
    size_t len = 0;
    uint8_t *bin = tu_json_hex(j, "wrong_signer", &len);
    assert_int_equal(mv_revocation_verify(bin, len, hpk, &l), MV_ERR_AUTH);
    mv_free(bin);
    mv_json_free(j);
}

/* ---- the poller, against a real mv_http_server in this process ---- */

typedef struct fake_hospital {
    pthread_mutex_t lock;
    int status;
    mv_buf body;
    unsigned hits;
    char last_path[128];
    mv_http_server *srv;
    char url[64];
} fake_hospital;

static void fake_handler(void *ctx, const mv_http_request *req, mv_http_response *resp)
{
    fake_hospital *h = ctx;
    pthread_mutex_lock(&h->lock);
    h->hits++;
    snprintf(h->last_path, sizeof h->last_path, "%s", req->path_and_query);
    if (strcmp(req->method, "GET") != 0 || strcmp(req->path_and_query, "/v1/revocations") != 0 ||
        mv_http_header(req, "MV-Signature") != NULL) {
        resp->status = 404;
    } else {
        resp->status = h->status;
        if (mv_buf_append(&resp->body, h->body.ptr, h->body.len) != MV_OK)
            resp->status = 500;
    }
    pthread_mutex_unlock(&h->lock);
}

static void fake_start(fake_hospital *h)
{
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->lock, NULL);
    mv_buf_init(&h->body, 1 << 20);
    h->status = 200;
    mv_http_config cfg = {.listen = "127.0.0.1:0", .threads = 2, .handler = fake_handler, .ctx = h};
    assert_int_equal(mv_http_server_start(&cfg, &h->srv), MV_OK);
    snprintf(h->url, sizeof h->url, "http://127.0.0.1:%u", (unsigned)mv_http_server_port(h->srv));
}

static void fake_stop(fake_hospital *h)
{
    mv_http_server_stop(h->srv);
    mv_buf_clear(&h->body);
    pthread_mutex_destroy(&h->lock);
}

/* Serves a list of keys[0..n) with this serial signed by sk. */
static void fake_serve(fake_hospital *h, int status, const uint8_t *keys, size_t n, uint64_t serial,
                       const uint8_t pk[32], const uint8_t sk[64])
{
    pthread_mutex_lock(&h->lock);
    mv_buf_reset(&h->body);
    h->status = status;
    if (pk)
        assert_int_equal(mv_revocation_sign(keys, n, serial, T0, T0 + 10, pk, sk, &h->body), MV_OK);
    pthread_mutex_unlock(&h->lock);
}

static void fake_serve_bytes(fake_hospital *h, int status, const char *text)
{
    pthread_mutex_lock(&h->lock);
    mv_buf_reset(&h->body);
    h->status = status;
    assert_int_equal(mv_buf_puts(&h->body, text), MV_OK);
    pthread_mutex_unlock(&h->lock);
}

static unsigned fake_hits(fake_hospital *h)
{
    pthread_mutex_lock(&h->lock);
    unsigned n = h->hits;
    pthread_mutex_unlock(&h->lock);
    return n;
}

static double mono(void)
{
    return mv_mono_seconds();
}

/* A request by (pk, sk) holding a credential for pk, verified now: MV_OK or the error. */
static mv_err request_by(mv_auth_verifier *v, const uint8_t hpk[32], const uint8_t hsk[64], const uint8_t pk[32],
                         const uint8_t sk[64])
{
    mv_credential c;
    mv_signed_headers h;
    char b64[MV_CRED_B64_MAX + 1];
    uint64_t now = (uint64_t)time(NULL);
    memset(&c, 0, sizeof c);
    memcpy(c.subject, pk, 32);
    snprintf(c.role, sizeof c.role, "doctor");
    c.issued_at = now - 60;
    c.expires_at = now + 3600;
    assert_int_equal(mv_credential_issue(&c, hpk, hsk), MV_OK);
    assert_int_equal(mv_credential_encode(&c, b64, sizeof b64), MV_OK);
    assert_int_equal(mv_auth_sign_request(&h, pk, sk, "http://127.0.0.1:1", "GET", "/v1/info", NULL, 0, now), MV_OK);
    mv_auth_request r = {.method = "GET", .path_and_query = "/v1/info", .body = NULL, .body_len = 0,
                         .key = h.key, .date = h.date, .nonce = h.nonce, .target = h.target,
                         .credential = b64, .signature = h.signature};
    return mv_auth_verify(v, &r, now, NULL);
}

static int metrics_has(mv_metrics *m, const char *line)
{
    mv_buf b;
    mv_buf_init(&b, 1 << 20);
    assert_int_equal(mv_metrics_render(m, &b), MV_OK);
    int hit = strstr((const char *)b.ptr, line) != NULL;
    mv_buf_clear(&b);
    return hit;
}

static void test_poller(void **state)
{
    (void)state;
    uint8_t hpk[32], hsk[64], xpk[32], xsk[64], upk[32], usk[64], opk[32], osk[64];
    fake_hospital h;
    mv_auth_verifier *v = NULL;
    mv_metrics *m = NULL;
    mv_revocation_poller *p = NULL;
    assert_int_equal(mv_sign_keypair(hpk, hsk), MV_OK);
    assert_int_equal(mv_sign_keypair(xpk, xsk), MV_OK);
    assert_int_equal(mv_sign_keypair(upk, usk), MV_OK);
    assert_int_equal(mv_sign_keypair(opk, osk), MV_OK);
    assert_int_equal(mv_auth_verifier_new(hpk, 300, 1000, &v), MV_OK);
    assert_int_equal(mv_auth_verifier_add_target(v, "http://127.0.0.1:1"), MV_OK);
    assert_int_equal(mv_metrics_new(&m), MV_OK);
    fake_start(&h);

    /* The hospital revokes the user: the first fetch happens inside start. */
    fake_serve(&h, 200, upk, 1, 5, hpk, hsk);
    assert_int_equal(request_by(v, hpk, hsk, upk, usk), MV_OK);
    char url[80];
    snprintf(url, sizeof url, "%s/", h.url); /* a trailing '/' is ignored */
    mv_revocation_poller_config cfg = {.hospital_url = url, .interval_seconds = 1, .verifier = v, .metrics = m,
                                       .component = "test"};
    memcpy(cfg.hospital_pk, hpk, 32);
    assert_int_equal(mv_revocation_poller_start(&cfg, &p), MV_OK);
    assert_true(mv_auth_verifier_revocation_serial(v) == 5);
    assert_int_equal(request_by(v, hpk, hsk, upk, usk), MV_ERR_AUTH);
    assert_int_equal(request_by(v, hpk, hsk, opk, osk), MV_OK);
    assert_true(metrics_has(m, "medvault_test_revocation_serial 5\n"));
    assert_true(metrics_has(m, "medvault_test_revocation_failures_total 0\n"));
    assert_string_equal(h.last_path, "/v1/revocations");

    /* The thread picks up a new list within about one interval. */
    fake_serve(&h, 200, opk, 1, 6, hpk, hsk);
    double t0 = mono();
    while (mv_auth_verifier_revocation_serial(v) != 6 && mono() - t0 < 10)
        usleep(20000);
    assert_true(mv_auth_verifier_revocation_serial(v) == 6);
    assert_true(mono() - t0 < 3.0);
    assert_int_equal(request_by(v, hpk, hsk, upk, usk), MV_OK);
    assert_int_equal(request_by(v, hpk, hsk, opk, osk), MV_ERR_AUTH);

    /* Failures keep the last good list and are reported by poll_now. */
    fake_serve_bytes(&h, 503, "{\"error\":\"down\"}");
    assert_int_equal(mv_revocation_poller_poll_now(p), MV_ERR_HTTP);
    fake_serve_bytes(&h, 200, "not a list");
    assert_int_equal(mv_revocation_poller_poll_now(p), MV_ERR_PARSE);
    fake_serve(&h, 200, NULL, 0, 99, xpk, xsk); /* another hospital's list */
    assert_int_equal(mv_revocation_poller_poll_now(p), MV_ERR_AUTH);
    pthread_mutex_lock(&h.lock);
    h.body.ptr[h.body.len - 1] ^= 1;
    pthread_mutex_unlock(&h.lock);
    assert_int_equal(mv_revocation_poller_poll_now(p), MV_ERR_AUTH);
    fake_serve(&h, 200, NULL, 0, 4, hpk, hsk); /* a replayed older list */
    assert_int_equal(mv_revocation_poller_poll_now(p), MV_ERR_BAD_STATE);
    assert_true(mv_auth_verifier_revocation_serial(v) == 6);
    assert_int_equal(request_by(v, hpk, hsk, opk, osk), MV_ERR_AUTH);
    assert_false(metrics_has(m, "medvault_test_revocation_failures_total 0\n"));
    /* Back to normal; equal serials are re-installed. */
    fake_serve(&h, 200, NULL, 0, 7, hpk, hsk);
    assert_int_equal(mv_revocation_poller_poll_now(p), MV_OK);
    assert_int_equal(mv_revocation_poller_poll_now(p), MV_OK);
    assert_true(mv_auth_verifier_revocation_serial(v) == 7);
    assert_int_equal(request_by(v, hpk, hsk, opk, osk), MV_OK);
    assert_true(metrics_has(m, "medvault_test_revocation_serial 7\n"));

    /* Stop is prompt (the thread sleeps in a timed wait, not a sleep). */
    t0 = mono();
    mv_revocation_poller_stop(p);
    assert_true(mono() - t0 < 1.5);
    unsigned hits = fake_hits(&h);
    usleep(1200000);
    assert_int_equal(fake_hits(&h), hits); /* no fetch after stop */

    /* A long interval: stop right away. */
    cfg.interval_seconds = MV_REVOCATION_MAX_INTERVAL;
    assert_int_equal(mv_revocation_poller_start(&cfg, &p), MV_OK);
    t0 = mono();
    mv_revocation_poller_stop(p);
    assert_true(mono() - t0 < 1.0);
    mv_revocation_poller_stop(NULL);

    /* The hospital down at start: start still succeeds, the list comes when it is up. */
    fake_stop(&h);
    mv_auth_verifier *v2 = NULL;
    assert_int_equal(mv_auth_verifier_new(hpk, 300, 1000, &v2), MV_OK);
    cfg.verifier = v2;
    cfg.interval_seconds = 1;
    cfg.metrics = NULL;
    assert_int_equal(mv_revocation_poller_start(&cfg, &p), MV_OK);
    assert_true(mv_auth_verifier_revocation_serial(v2) == 0);
    assert_int_equal(mv_revocation_poller_poll_now(p), MV_ERR_NET);
    mv_revocation_poller_stop(p);
    mv_auth_verifier_free(v2);
    cfg.verifier = v;

    /* Refused configurations. */
    const char *bad_urls[] = {"", "ftp://h/", "http://", "http:///x", "http://user:pw@h", "http://h/?a=1",
                              "http://h/#f", "http://h x", "127.0.0.1:80", "http://h\\x"};
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        cfg.hospital_url = bad_urls[i];
        p = (mv_revocation_poller *)1;
        assert_int_equal(mv_revocation_poller_start(&cfg, &p), MV_ERR_INVAL);
        assert_null(p);
    }
    char long_url[MV_REVOCATION_URL_MAX + 8];
    memset(long_url, 'a', sizeof long_url - 1);
    memcpy(long_url, "http://", 7);
    long_url[sizeof long_url - 1] = 0;
    cfg.hospital_url = long_url;
    assert_int_equal(mv_revocation_poller_start(&cfg, &p), MV_ERR_INVAL);
    cfg.hospital_url = url;
    cfg.interval_seconds = 0;
    assert_int_equal(mv_revocation_poller_start(&cfg, &p), MV_ERR_INVAL);
    cfg.interval_seconds = MV_REVOCATION_MAX_INTERVAL + 1;
    assert_int_equal(mv_revocation_poller_start(&cfg, &p), MV_ERR_INVAL);
    cfg.interval_seconds = 1;
    const char *bad_components[] = {"", "Keyserver", "key-server", "a b", "abcdefghijklmnopqrstuvwxyz0123456"};
    for (size_t i = 0; i < sizeof bad_components / sizeof bad_components[0]; i++) {
        cfg.component = bad_components[i];
        assert_int_equal(mv_revocation_poller_start(&cfg, &p), MV_ERR_INVAL);
    }
    cfg.component = NULL;
    assert_int_equal(mv_revocation_poller_start(&cfg, &p), MV_ERR_INVAL);
    cfg.component = "test";
    cfg.verifier = NULL;
    assert_int_equal(mv_revocation_poller_start(&cfg, &p), MV_ERR_INVAL);
    assert_int_equal(mv_revocation_poller_start(NULL, &p), MV_ERR_INVAL);
    assert_int_equal(mv_revocation_poller_start(&cfg, NULL), MV_ERR_INVAL);
    assert_int_equal(mv_revocation_poller_poll_now(NULL), MV_ERR_INVAL);

    mv_metrics_free(m);
    mv_auth_verifier_free(v);
}

/* hospital_url and revocation_poll_seconds in keyserver.conf and storage.conf. */
static void test_service_settings(void **state)
{
    (void)state;
    const char *d = tu_tmpdir();
    char p[600];
    size_t line = 0;
    mv_keyserver_config k;
    mv_storage_config s;
    assert_int_equal(mv_keyserver_config_defaults(&k, d, &line), MV_OK);
    assert_string_equal(k.hospital_url, "");
    assert_int_equal(k.revocation_poll_s, 10);
    assert_int_equal(mv_storage_config_defaults(&s, d, &line), MV_OK);
    assert_string_equal(s.hospital_url, "");
    assert_int_equal(s.revocation_poll_s, 10);

    static const char good[] = "threads = 3\nhospital_url = http://127.0.0.1:8080/\nrevocation_poll_seconds = 3600\n";
    const char *files[] = {"keyserver.conf", "storage.conf"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", d, files[i]);
        assert_int_equal(mv_file_write_atomic(p, good, sizeof good - 1, 0600), MV_OK);
    }
    assert_int_equal(mv_keyserver_config_defaults(&k, d, &line), MV_OK);
    assert_string_equal(k.hospital_url, "http://127.0.0.1:8080/");
    assert_int_equal(k.revocation_poll_s, 3600);
    assert_int_equal(mv_storage_config_defaults(&s, d, &line), MV_OK);
    assert_string_equal(s.hospital_url, "http://127.0.0.1:8080/");
    assert_int_equal(s.revocation_poll_s, 3600);
    assert_int_equal(s.threads, 3);

    static const char *bad[] = {
        "revocation_poll_seconds = 0\n", "revocation_poll_seconds = 3601\n",
        "\nhospital_url = ftp://h\n",     "\nhospital_url = http://u:pw@h\n",
        "\nhospital_url = http://h/?x\n",
    };
    for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
        for (int i = 0; i < 2; i++) {
            snprintf(p, sizeof p, "%s/%s", d, files[i]);
            assert_int_equal(mv_file_write_atomic(p, bad[j], strlen(bad[j]), 0600), MV_OK);
        }
        line = 0;
        assert_int_equal(mv_keyserver_config_defaults(&k, d, &line), MV_ERR_PARSE);
        assert_int_equal(line, bad[j][0] == '\n' ? 2 : 1);
        line = 0;
        assert_int_equal(mv_storage_config_defaults(&s, d, &line), MV_ERR_PARSE);
        assert_int_equal(line, bad[j][0] == '\n' ? 2 : 1);
    }
    assert_int_equal(mv_revocation_url_ok("https://hospital.example:443"), 1);
    assert_int_equal(mv_revocation_url_ok("http://h"), 1);
    assert_int_equal(mv_revocation_url_ok("http://"), 0);
    assert_int_equal(mv_revocation_url_ok(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_verify_layout), cmocka_unit_test(test_duplicates_and_empty),
        cmocka_unit_test(test_tamper),             cmocka_unit_test(test_issuer_and_limits),
        cmocka_unit_test(test_large),              cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_poller),             cmocka_unit_test(test_service_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
