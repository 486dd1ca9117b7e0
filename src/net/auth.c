/* auth.c - a request is accepted only if a hospital-issued, unexpired credential binds its key,
 * its Ed25519 signature covers the target service, method, path, date, nonce and body, the
 * target is this service, and its nonce is fresh. */
#include "medvault/mv_auth.h"
#include "crypto/credential.h"
#include "medvault/mv_crypto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_revocation.h"
#include "medvault/mv_sig.h"

#define REQ_DOMAIN "medvault-req-v2\n"
#define NONCE_BYTES 16
#define MAX_SKEW 86400u
#define MAX_NONCES (1u << 31)
#define NIL UINT32_MAX

/* ---- signed requests ---- */

int mv_auth_method_ok(const char *m)
{
    size_t n = 0;
    if (!m)
        return 0;
    for (; m[n]; n++)
        if (m[n] < 'A' || m[n] > 'Z' || n >= MV_AUTH_MAX_METHOD)
            return 0;
    return n > 0;
}

static int path_ok(const char *p)
{
    size_t n = 0;
    if (p[0] != '/')
        return 0;
    for (; p[n]; n++)
        if ((unsigned char)p[n] <= 0x20 || (unsigned char)p[n] >= 0x7f || n >= MV_AUTH_MAX_PATH)
            return 0;
    return 1;
}

/* Builds the signed string of DESIGN section 3 into b (initialised here; caller clears):
 * digest_hex is the lowercase hex of SHA-256(body). */
static mv_err request_message(mv_buf *b, const char *target, const char *method, const char *path,
                              const char *date, const char *nonce, const char *digest_hex)
{
    mv_buf_init(b, 64 + MV_AUTH_MAX_TARGET + MV_AUTH_MAX_METHOD + MV_AUTH_MAX_PATH + 20 + 32 + 64);
    return mv_buf_printf(b, REQ_DOMAIN "%s\n%s\n%s\n%s\n%s\n%s", target, method, path, date, nonce, digest_hex);
}

static mv_err body_digest_hex(char out[MV_HEX_LEN(MV_SHA256_BYTES) + 1], const uint8_t *body, size_t len)
{
    uint8_t digest[MV_SHA256_BYTES];
    mv_err rc = mv_sha256(digest, body, len);
    if (rc == MV_OK)
        rc = mv_hex_encode(out, MV_HEX_LEN(MV_SHA256_BYTES) + 1, digest, sizeof digest);
    return rc;
}

/* ---- origins ---- */

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

mv_err mv_auth_origin(const char *url, char *out, size_t cap)
{
    const char *p, *scheme;
    unsigned long port = 0;
    size_t hl, ol;
    char host[MV_AUTH_MAX_TARGET + 1];
    if (!url || !out || cap == 0)
        return MV_ERR_INVAL;
    out[0] = 0;
    if (!strncasecmp(url, "http://", 7)) {
        scheme = "http";
        p = url + 7;
        port = 80;
    } else if (!strncasecmp(url, "https://", 8)) {
        scheme = "https";
        p = url + 8;
        port = 443;
    } else {
        return MV_ERR_PARSE;
    }
    size_t al = strcspn(p, "/?#");
    if (memchr(p, '@', al))
        return MV_ERR_PARSE; /* user info never names a service */
    if (al && p[0] == '[') {
        const char *close = memchr(p, ']', al);
        if (!close || close == p + 1)
            return MV_ERR_PARSE;
        hl = (size_t)(close - p) + 1;
        for (size_t i = 1; i + 1 < hl; i++) {
            char c = lower(p[i]);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' || c == '.'))
                return MV_ERR_PARSE;
        }
    } else {
        hl = strcspn(p, ":/?#");
        if (hl == 0 || hl > al)
            return MV_ERR_PARSE;
        for (size_t i = 0; i < hl; i++)
            if (!host_char(lower(p[i])))
                return MV_ERR_PARSE;
        if (p[0] == '.' || p[0] == '-' || p[hl - 1] == '-')
            return MV_ERR_PARSE;
    }
    if (hl >= sizeof host)
        return MV_ERR_TOO_LARGE;
    for (size_t i = 0; i < hl; i++)
        host[i] = lower(p[i]);
    host[hl] = 0;
    if (hl < al) {
        const char *q = p + hl;
        size_t digits = al - hl - 1;
        if (*q != ':' || digits == 0 || digits > 5 || q[1] == '0')
            return MV_ERR_PARSE;
        port = 0;
        for (size_t i = 1; i <= digits; i++) {
            if (q[i] < '0' || q[i] > '9')
                return MV_ERR_PARSE;
            port = port * 10 + (unsigned long)(q[i] - '0');
        }
        if (port == 0 || port > 65535)
            return MV_ERR_PARSE;
    }
    char tmp[MV_AUTH_MAX_TARGET + 32];
    int n = snprintf(tmp, sizeof tmp, "%s://%s:%lu", scheme, host, port);
    if (n < 0 || (size_t)n > MV_AUTH_MAX_TARGET)
        return MV_ERR_TOO_LARGE;
    ol = (size_t)n;
    if (ol + 1 > cap)
        return MV_ERR_TOO_LARGE;
    memcpy(out, tmp, ol + 1);
    return MV_OK;
}

/* 1 if t is an origin exactly as mv_auth_origin writes it. */
static int origin_canonical(const char *t)
{
    char c[MV_AUTH_MAX_TARGET + 1];
    size_t n = strnlen(t, MV_AUTH_MAX_TARGET + 1);
    return n <= MV_AUTH_MAX_TARGET && mv_auth_origin(t, c, sizeof c) == MV_OK && strcmp(c, t) == 0;
}

mv_err mv_auth_sign_request(mv_signed_headers *out, const uint8_t pk[static 32], const uint8_t sk[static 64],
                            const char *target, const char *method, const char *path_and_query,
                            const uint8_t *body, size_t body_len, uint64_t now)
{
    uint8_t nonce[NONCE_BYTES], sig[MV_SIGNATURE_BYTES];
    mv_buf msg;
    mv_err rc = MV_ERR_INVAL;
    mv_buf_init(&msg, 0);
    if (!out)
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (!pk || !sk || !target || !method || !path_and_query || (body_len && !body))
        goto out;
    if (!mv_auth_method_ok(method) || !path_ok(path_and_query) || !origin_canonical(target) ||
        !mv_ct_eq(sk + 32, pk, 32))
        goto out;
    if ((rc = mv_crypto_init()) != MV_OK)
        goto out;
    randombytes_buf(nonce, sizeof nonce);
    if ((rc = mv_hex_encode(out->key, sizeof out->key, pk, 32)) != MV_OK ||
        (rc = mv_hex_encode(out->nonce, sizeof out->nonce, nonce, sizeof nonce)) != MV_OK ||
        (rc = body_digest_hex(out->body_sha256, body, body_len)) != MV_OK)
        goto out;
    memcpy(out->target, target, strlen(target) + 1);
    {
        /* Decimal without leading zeros, written backwards (no snprintf into a fixed field). */
        char tmp[21];
        size_t i = sizeof tmp;
        uint64_t t = now;
        tmp[--i] = 0;
        do {
            tmp[--i] = (char)('0' + t % 10);
            t /= 10;
        } while (t);
        memcpy(out->date, tmp + i, sizeof tmp - i);
    }
    if ((rc = request_message(&msg, out->target, method, path_and_query, out->date, out->nonce, out->body_sha256)) !=
        MV_OK)
        goto out;
    if ((rc = mv_sign(sig, msg.ptr, msg.len, sk)) != MV_OK)
        goto out;
    rc = mv_hex_encode(out->signature, sizeof out->signature, sig, sizeof sig);
out:
    mv_buf_clear(&msg);
    if (rc != MV_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

/* Strict decimal: 1..20 digits, no leading zero (except "0"), fits in uint64_t. */
static int parse_date(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t n = 0;
    if (s[0] == '0' && s[1] != 0)
        return 0;
    for (; s[n]; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 20)
            return 0;
        unsigned d = (unsigned)(s[n] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return n > 0;
}

/* ---- replay cache ----
 * A ring of entries in insertion order (so the oldest is evicted first) indexed by a chained
 * hash table keyed with SipHash under a per-verifier random key, so clients cannot choose
 * nonces that collide. */

typedef struct nonce_entry {
    uint8_t key[32];
    uint8_t nonce[NONCE_BYTES];
    uint64_t seen_at;
    uint32_t next; /* next entry in the same bucket, or NIL */
} nonce_entry;

struct mv_auth_verifier {
    uint8_t hospital_pk[32];
    uint64_t skew;
    pthread_mutex_t lock;
    nonce_entry *ring;
    size_t cap, head, count;
    uint32_t *buckets;
    size_t bucket_mask;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    mv_revocation_list revoked; /* guarded by lock; empty until the first list is set */
    char targets[MV_AUTH_MAX_TARGETS][MV_AUTH_MAX_TARGET + 1]; /* guarded by lock */
    size_t n_targets;
};

mv_err mv_auth_verifier_new(const uint8_t hospital_pk[static 32], uint64_t skew_seconds, size_t max_nonces,
                            mv_auth_verifier **out)
{
    mv_auth_verifier *v = NULL;
    size_t nb = 1;
    mv_err rc = MV_ERR_INVAL;
    if (!out)
        return MV_ERR_INVAL;
    *out = NULL;
    if (!hospital_pk || max_nonces == 0 || max_nonces > MAX_NONCES || skew_seconds == 0 || skew_seconds > MAX_SKEW)
        goto out;
    if ((rc = mv_crypto_init()) != MV_OK)
        goto out;
    rc = MV_ERR_NOMEM;
    if (!(v = mv_calloc(1, sizeof *v)))
        goto out;
    while (nb < max_nonces)
        nb <<= 1;
    v->ring = mv_calloc(max_nonces, sizeof *v->ring);
    v->buckets = mv_mallocarray(nb, sizeof *v->buckets);
    if (!v->ring || !v->buckets)
        goto out;
    for (size_t i = 0; i < nb; i++)
        v->buckets[i] = NIL;
    if (pthread_mutex_init(&v->lock, NULL) != 0) {
        rc = MV_ERR_BAD_STATE;
        goto out;
    }
    memcpy(v->hospital_pk, hospital_pk, 32);
    v->skew = skew_seconds;
    v->cap = max_nonces;
    v->bucket_mask = nb - 1;
    crypto_shorthash_keygen(v->hash_key);
    *out = v;
    v = NULL;
    rc = MV_OK;
out:
    if (v) {
        mv_free(v->ring);
        mv_free(v->buckets);
        mv_free(v);
    }
    return rc;
}

void mv_auth_verifier_free(mv_auth_verifier *v)
{
    if (!v)
        return;
    pthread_mutex_destroy(&v->lock);
    mv_revocation_list_clear(&v->revoked);
    mv_free(v->ring);
    mv_free(v->buckets);
    mv_wipe(v, sizeof *v);
    mv_free(v);
}

static size_t nonce_bucket(const mv_auth_verifier *v, const uint8_t key[32], const uint8_t nonce[NONCE_BYTES])
{
    uint8_t in[32 + NONCE_BYTES], h[crypto_shorthash_BYTES];
    uint64_t x = 0;
    memcpy(in, key, 32);
    memcpy(in + 32, nonce, NONCE_BYTES);
    crypto_shorthash(h, in, sizeof in, v->hash_key);
    for (size_t i = 0; i < sizeof h; i++)
        x = (x << 8) | h[i];
    return (size_t)(x & v->bucket_mask);
}

/* Drops the oldest entries while they are older than 2 * skew. Entries are in insertion
 * order; callers' clocks may disagree slightly, so an expired entry behind a younger one
 * waits its turn: nothing is ever evicted early. Lock held. */
static void nonce_evict(mv_auth_verifier *v, uint64_t now)
{
    while (v->count) {
        nonce_entry *e = &v->ring[v->head];
        if (now <= e->seen_at || now - e->seen_at <= 2 * v->skew)
            break;
        uint32_t *link = &v->buckets[nonce_bucket(v, e->key, e->nonce)];
        while (*link != NIL && *link != (uint32_t)v->head)
            link = &v->ring[*link].next;
        if (*link == NIL) /* every ring entry is in its bucket chain */
            abort();
        *link = e->next;
        v->head = (v->head + 1) % v->cap;
        v->count--;
    }
}

/* MV_ERR_REPLAY if (key, nonce) was seen within the window, else MV_OK; records nothing. */
static mv_err nonce_check(mv_auth_verifier *v, const uint8_t key[32], const uint8_t nonce[NONCE_BYTES])
{
    mv_err rc = MV_OK;
    size_t b = nonce_bucket(v, key, nonce);
    if (pthread_mutex_lock(&v->lock) != 0)
        return MV_ERR_BAD_STATE;
    for (uint32_t i = v->buckets[b]; i != NIL && rc == MV_OK; i = v->ring[i].next)
        if (memcmp(v->ring[i].nonce, nonce, NONCE_BYTES) == 0 && memcmp(v->ring[i].key, key, 32) == 0)
            rc = MV_ERR_REPLAY;
    pthread_mutex_unlock(&v->lock);
    return rc;
}

/* Checks and records (key, nonce). MV_ERR_REPLAY if present, MV_ERR_BUSY if full. */
static mv_err nonce_check_and_add(mv_auth_verifier *v, const uint8_t key[32], const uint8_t nonce[NONCE_BYTES],
                                  uint64_t now)
{
    mv_err rc;
    size_t b = nonce_bucket(v, key, nonce);
    if (pthread_mutex_lock(&v->lock) != 0)
        return MV_ERR_BAD_STATE;
    nonce_evict(v, now);
    for (uint32_t i = v->buckets[b]; i != NIL; i = v->ring[i].next) {
        if (memcmp(v->ring[i].nonce, nonce, NONCE_BYTES) == 0 && memcmp(v->ring[i].key, key, 32) == 0) {
            rc = MV_ERR_REPLAY;
            goto out;
        }
    }
    if (v->count == v->cap) {
        rc = MV_ERR_BUSY;
        goto out;
    }
    size_t slot = (v->head + v->count) % v->cap;
    nonce_entry *e = &v->ring[slot];
    memcpy(e->key, key, 32);
    memcpy(e->nonce, nonce, NONCE_BYTES);
    e->seen_at = now;
    e->next = v->buckets[b];
    v->buckets[b] = (uint32_t)slot;
    v->count++;
    rc = MV_OK;
out:
    pthread_mutex_unlock(&v->lock);
    return rc;
}

static int is_revoked(mv_auth_verifier *v, const uint8_t key[32])
{
    int hit = 0;
    if (pthread_mutex_lock(&v->lock) != 0)
        return 1; /* fail closed */
    hit = mv_revocation_contains(&v->revoked, key);
    pthread_mutex_unlock(&v->lock);
    return hit;
}

static int target_known(mv_auth_verifier *v, const char *t)
{
    int hit = 0;
    if (pthread_mutex_lock(&v->lock) != 0)
        return 0; /* fail closed */
    for (size_t i = 0; i < v->n_targets && !hit; i++)
        hit = strcmp(v->targets[i], t) == 0;
    pthread_mutex_unlock(&v->lock);
    return hit;
}

/* 1 if h is 64 hex digits (either case). */
static int digest_hex_ok(const char *h)
{
    uint8_t d[MV_SHA256_BYTES];
    return mv_hex_decode_exact(d, sizeof d, h, strnlen(h, 65)) == MV_OK;
}

/* The checks of mv_auth_verify (pre 0) or mv_auth_preverify (pre 1, which trusts the
 * MV-Content-SHA256 header instead of hashing a body and leaves the nonce alone); with
 * need_cred 0 the credential header is ignored and only the key's own signature is checked.
 * The order matters: every refusal after the signature is about a key that provably signed
 * this request, so callers may attribute it (and answer it) to that key; before it, the
 * claimed key is anybody's. */
static mv_err verify_request(mv_auth_verifier *v, const mv_auth_request *r, uint64_t now, int need_cred, int pre,
                             mv_credential *out_cred, uint8_t *out_key, mv_auth_failure *why)
{
    mv_credential cred;
    uint8_t key[32], nonce[NONCE_BYTES], sig[MV_SIGNATURE_BYTES];
    char actual[MV_HEX_LEN(MV_SHA256_BYTES) + 1] = "", claimed[MV_HEX_LEN(MV_SHA256_BYTES) + 1] = "";
    uint64_t date = 0;
    mv_buf msg;
    mv_err rc = MV_ERR_INVAL;
    mv_buf_init(&msg, 0);
    memset(&cred, 0, sizeof cred);
    *why = MV_AUTH_FAIL_NONE;
    if (out_cred)
        memset(out_cred, 0, sizeof *out_cred);
    if (!v || !r || (!pre && r->body_len && !r->body))
        goto out;

    rc = MV_ERR_AUTH;
    *why = MV_AUTH_FAIL_MALFORMED;
    if (!r->key && !r->date && !r->nonce && !r->signature && !r->credential && !r->target)
        *why = MV_AUTH_FAIL_MISSING;
    if (!r->method || !r->path_and_query || !r->key || !r->date || !r->nonce || !r->signature ||
        (need_cred && !r->credential) || (pre && !r->body_sha256))
        goto out;
    if (!mv_auth_method_ok(r->method) || !path_ok(r->path_and_query) || !parse_date(r->date, &date) ||
        (r->target && strnlen(r->target, MV_AUTH_MAX_TARGET + 1) > MV_AUTH_MAX_TARGET))
        goto out;
    if (mv_hex_decode_exact(key, sizeof key, r->key, strnlen(r->key, 65)) != MV_OK ||
        mv_hex_decode_exact(nonce, sizeof nonce, r->nonce, strnlen(r->nonce, 33)) != MV_OK ||
        mv_hex_decode_exact(sig, sizeof sig, r->signature, strnlen(r->signature, 129)) != MV_OK ||
        (r->body_sha256 && !digest_hex_ok(r->body_sha256)))
        goto out;
    if (need_cred) {
        /* strnlen bounds the scan of an untrusted header. */
        size_t cred_len = strnlen(r->credential, MV_CRED_B64_MAX + 1);
        if (cred_len > MV_CRED_B64_MAX || mv_credential_decode(r->credential, cred_len, &cred) != MV_OK)
            goto out;
        *why = MV_AUTH_FAIL_FORGED;
        /* Authenticity only: the window is judged below, once the request signature has
         * shown who is asking. */
        if ((rc = mv_credential_authentic(&cred, v->hospital_pk)) != MV_OK) {
            if (rc != MV_ERR_AUTH)
                *why = MV_AUTH_FAIL_NONE;
            goto out;
        }
        rc = MV_ERR_AUTH;
        if (!mv_ct_eq(key, cred.subject, 32))
            goto out;
    }
    /* Every header of a signed request but MV-Target, with an authentic credential of its key:
     * a client of signed requests v1 (whose string named no target), not a forger. */
    *why = MV_AUTH_FAIL_VERSION;
    rc = MV_ERR_PROTOCOL;
    if (!r->target)
        goto out;
    *why = MV_AUTH_FAIL_NONE;
    if (!pre && (rc = body_digest_hex(actual, r->body, r->body_len)) != MV_OK)
        goto out;
    /* The signed digest is the header's when sent (a server may have checked it before the
     * body arrived), else the body's. */
    if (r->body_sha256) {
        for (size_t i = 0; i < MV_HEX_LEN(MV_SHA256_BYTES); i++)
            claimed[i] = lower(r->body_sha256[i]);
        claimed[MV_HEX_LEN(MV_SHA256_BYTES)] = 0;
    }
    if ((rc = request_message(&msg, r->target, r->method, r->path_and_query, r->date, r->nonce,
                              r->body_sha256 ? claimed : actual)) != MV_OK)
        goto out;
    *why = MV_AUTH_FAIL_FORGED;
    rc = mv_sign_verify(sig, msg.ptr, msg.len, key);
    if (rc == MV_ERR_VERIFY)
        rc = MV_ERR_AUTH;
    if (rc != MV_OK)
        goto out;
    *why = MV_AUTH_FAIL_BODY;
    rc = MV_ERR_VERIFY;
    if (!pre && r->body_sha256 && strcmp(claimed, actual) != 0)
        goto out;
    *why = MV_AUTH_FAIL_TARGET;
    rc = MV_ERR_MISDIRECTED;
    if (!target_known(v, r->target))
        goto out;
    *why = MV_AUTH_FAIL_EXPIRED;
    if (need_cred && (rc = mv_credential_in_window(&cred, now)) != MV_OK)
        goto out;
    *why = MV_AUTH_FAIL_SKEW;
    rc = MV_ERR_EXPIRED;
    if ((now >= date ? now - date : date - now) > v->skew)
        goto out;
    *why = MV_AUTH_FAIL_REVOKED;
    rc = MV_ERR_AUTH;
    if (need_cred && is_revoked(v, key))
        goto out;
    *why = MV_AUTH_FAIL_REPLAY;
    /* preverify only looks: a replayed request's large body is not buffered either. */
    if ((rc = pre ? nonce_check(v, key, nonce) : nonce_check_and_add(v, key, nonce, now)) != MV_OK)
        goto out;
    *why = MV_AUTH_FAIL_NONE;
    rc = MV_OK;
    if (out_cred)
        *out_cred = cred;
    if (out_key)
        memcpy(out_key, key, 32);
out:
    /* A nonce check that failed only because the cache is full is not a replay. */
    if (rc == MV_ERR_BUSY || rc == MV_ERR_NOMEM || rc == MV_ERR_INVAL || rc == MV_ERR_CRYPTO || rc == MV_OK)
        *why = MV_AUTH_FAIL_NONE;
    mv_buf_clear(&msg);
    return rc;
}

mv_err mv_auth_verify(mv_auth_verifier *v, const mv_auth_request *r, uint64_t now, mv_credential *out_cred)
{
    mv_auth_failure why;
    return verify_request(v, r, now, 1, 0, out_cred, NULL, &why);
}

mv_err mv_auth_verify_ex(mv_auth_verifier *v, const mv_auth_request *r, uint64_t now, mv_credential *out_cred,
                         mv_auth_failure *why)
{
    if (!why) {
        if (out_cred)
            memset(out_cred, 0, sizeof *out_cred);
        return MV_ERR_INVAL;
    }
    return verify_request(v, r, now, 1, 0, out_cred, NULL, why);
}

mv_err mv_auth_verify_key(mv_auth_verifier *v, const mv_auth_request *r, uint64_t now, uint8_t key_out[static 32])
{
    mv_auth_failure why;
    if (!key_out)
        return MV_ERR_INVAL;
    return verify_request(v, r, now, 0, 0, NULL, key_out, &why);
}

mv_err mv_auth_preverify(mv_auth_verifier *v, const mv_auth_request *r, uint64_t now, int need_cred)
{
    mv_auth_failure why;
    return verify_request(v, r, now, need_cred ? 1 : 0, 1, NULL, NULL, &why);
}

mv_err mv_auth_verifier_add_target(mv_auth_verifier *v, const char *origin)
{
    mv_err rc = MV_OK;
    if (!v || !origin || !origin_canonical(origin))
        return MV_ERR_INVAL;
    if (pthread_mutex_lock(&v->lock) != 0)
        return MV_ERR_BAD_STATE;
    size_t i = 0;
    while (i < v->n_targets && strcmp(v->targets[i], origin) != 0)
        i++;
    if (i == v->n_targets) {
        if (v->n_targets == MV_AUTH_MAX_TARGETS)
            rc = MV_ERR_TOO_LARGE;
        else
            memcpy(v->targets[v->n_targets++], origin, strlen(origin) + 1);
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

mv_err mv_auth_verifier_add_listen(mv_auth_verifier *v, const char *listen, uint16_t port)
{
    char url[64], host[16];
    struct in_addr a;
    mv_err rc;
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    size_t hl = colon ? (size_t)(colon - listen) : 0;
    if (!v || !colon || hl == 0 || hl >= sizeof host)
        return MV_ERR_INVAL;
    if (port == 0) { /* the port the listen address names, if it names one */
        unsigned long p = 0;
        const char *q = colon + 1;
        if (!*q || strlen(q) > 5)
            return MV_ERR_INVAL;
        for (; *q; q++) {
            if (*q < '0' || *q > '9')
                return MV_ERR_INVAL;
            p = p * 10 + (unsigned long)(*q - '0');
        }
        if (p > 65535)
            return MV_ERR_INVAL;
        if (p == 0)
            return MV_OK; /* chosen at bind time: the caller adds it then */
        port = (uint16_t)p;
    }
    memcpy(host, listen, hl);
    host[hl] = 0;
    if (inet_pton(AF_INET, host, &a) != 1)
        return MV_ERR_INVAL;
    uint32_t h = ntohl(a.s_addr);
    if (h != 0) {
        snprintf(url, sizeof url, "http://%s:%u", host, (unsigned)port);
        if ((rc = mv_auth_verifier_add_target(v, url)) != MV_OK)
            return rc;
    }
    /* Loopback's other names only for 127.0.0.1 itself (or the wildcard): a service on
     * 127.0.0.2:P must not accept a request meant for one on 127.0.0.1:P. */
    if (h == 0x7f000001u || h == 0) {
        snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)port);
        if ((rc = mv_auth_verifier_add_target(v, url)) != MV_OK)
            return rc;
        snprintf(url, sizeof url, "http://localhost:%u", (unsigned)port);
        return mv_auth_verifier_add_target(v, url);
    }
    return MV_OK;
}

mv_err mv_auth_verifier_add_urls(mv_auth_verifier *v, const char *urls)
{
    char one[MV_AUTH_MAX_TARGET + 1], origin[MV_AUTH_MAX_TARGET + 1];
    if (!urls)
        return MV_ERR_INVAL;
    if (strnlen(urls, MV_AUTH_PUBLIC_URLS_MAX + 1) > MV_AUTH_PUBLIC_URLS_MAX)
        return MV_ERR_TOO_LARGE;
    for (const char *p = urls; *p;) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n >= sizeof one)
            return n ? MV_ERR_TOO_LARGE : MV_ERR_PARSE;
        memcpy(one, p, n);
        one[n] = 0;
        mv_err rc = mv_auth_origin(one, origin, sizeof origin);
        if (rc != MV_OK)
            return rc;
        if (v && (rc = mv_auth_verifier_add_target(v, origin)) != MV_OK)
            return rc;
        p += n;
        if (*p == ',' && !*++p)
            return MV_ERR_PARSE; /* a trailing comma */
    }
    return MV_OK;
}
mv_err mv_auth_verifier_set_revocations(mv_auth_verifier *v, const mv_revocation_list *l)
{
    mv_revocation_list copy;
    mv_err rc = MV_OK;
    if (!v || !l || (l->n && !l->keys) || l->n > MV_REVOCATION_MAX)
        return MV_ERR_INVAL;
    /* Only the hospital this verifier trusts may revoke (a list checked against another key
     * by mistake must not be installed). */
    if (!mv_ct_eq(l->issuer, v->hospital_pk, 32))
        return MV_ERR_AUTH;
    memset(&copy, 0, sizeof copy);
    if (l->n && !(copy.keys = mv_mallocarray(l->n, 32)))
        return MV_ERR_NOMEM;
    if (l->n)
        memcpy(copy.keys, l->keys, 32 * l->n);
    memcpy(copy.issuer, l->issuer, 32);
    copy.serial = l->serial;
    copy.issued_at = l->issued_at;
    copy.next_update = l->next_update;
    copy.n = l->n;
    if (pthread_mutex_lock(&v->lock) != 0) {
        mv_revocation_list_clear(&copy);
        return MV_ERR_BAD_STATE;
    }
    if (v->revoked.serial != 0 && l->serial < v->revoked.serial) {
        rc = MV_ERR_BAD_STATE;
    } else {
        mv_revocation_list old = v->revoked;
        v->revoked = copy;
        copy = old;
    }
    pthread_mutex_unlock(&v->lock);
    mv_revocation_list_clear(&copy);
    return rc;
}

uint64_t mv_auth_verifier_revocation_serial(mv_auth_verifier *v)
{
    uint64_t s = 0;
    if (!v || pthread_mutex_lock(&v->lock) != 0)
        return 0;
    s = v->revoked.serial;
    pthread_mutex_unlock(&v->lock);
    return s;
}
