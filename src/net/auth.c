/* auth.c - a request is accepted only if a hospital-issued, unexpired credential binds its key,
 * its Ed25519 signature covers method, path, date, nonce and body, and its nonce is fresh. */
#include "medvault/mv_auth.h"
#include "core/endian.h"
#include "medvault/mv_crypto.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_revocation.h"
#include "medvault/mv_sig.h"

#define CRED_MAGIC "MVC1"
#define CRED_DOMAIN "medvault-cred-v1\n"
#define CRED_DOMAIN_LEN (sizeof CRED_DOMAIN - 1)
#define REQ_DOMAIN "medvault-req-v1\n"
#define NONCE_BYTES 16
#define MAX_SKEW 86400u
#define MAX_NONCES (1u << 31)
#define NIL UINT32_MAX

/* ---- credentials ---- */

static int name_char_ok(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == ' ' ||
           ch == '_' || ch == '.' || ch == '-';
}

/* Length of a valid name stored in a char[cap] (NUL within the array, 1..cap-1 allowed
 * characters), or 0 if invalid. */
static size_t name_len(const char *s, size_t cap)
{
    size_t n = 0;
    while (n < cap && s[n])
        if (!name_char_ok((unsigned char)s[n++]))
            return 0;
    return n < cap ? n : 0;
}


/* Writes the domain separator and every credential byte before the signature into
 * out[0..CRED_DOMAIN_LEN + MV_CRED_BIN_MAX); *n receives the length written.
 * MV_ERR_INVAL if a field cannot be encoded. */
static mv_err cred_signed_part(const mv_credential *c, uint8_t *out, size_t *n)
{
    size_t off = 0, l;
    if (c->n_departments > MV_CRED_MAX_DEPTS)
        return MV_ERR_INVAL;
    memcpy(out, CRED_DOMAIN, CRED_DOMAIN_LEN);
    off = CRED_DOMAIN_LEN;
    memcpy(out + off, CRED_MAGIC, 4);
    off += 4;
    memcpy(out + off, c->subject, 32);
    off += 32;
    memcpy(out + off, c->issuer, 32);
    off += 32;
    mv_be64_put(out + off, c->issued_at);
    off += 8;
    mv_be64_put(out + off, c->expires_at);
    off += 8;
    if ((l = name_len(c->role, sizeof c->role)) == 0)
        return MV_ERR_INVAL;
    out[off++] = (uint8_t)l;
    memcpy(out + off, c->role, l);
    off += l;
    out[off++] = (uint8_t)c->n_departments;
    for (size_t i = 0; i < c->n_departments; i++) {
        if ((l = name_len(c->departments[i], sizeof c->departments[i])) == 0)
            return MV_ERR_INVAL;
        out[off++] = (uint8_t)l;
        memcpy(out + off, c->departments[i], l);
        off += l;
    }
    *n = off;
    return MV_OK;
}

mv_err mv_credential_issue(mv_credential *c, const uint8_t hospital_pk[static 32],
                           const uint8_t hospital_sk[static 64])
{
    uint8_t buf[CRED_DOMAIN_LEN + MV_CRED_BIN_MAX];
    size_t n = 0;
    mv_err rc = MV_ERR_INVAL;
    if (!c || !hospital_pk || !hospital_sk)
        return MV_ERR_INVAL;
    memset(c->signature, 0, sizeof c->signature);
    /* libsodium secret keys end with their public key; refuse a mismatched pair rather than
     * issue a credential nobody can verify. */
    if (!mv_ct_eq(hospital_sk + 32, hospital_pk, 32) || c->expires_at <= c->issued_at)
        goto out;
    memcpy(c->issuer, hospital_pk, 32);
    if ((rc = cred_signed_part(c, buf, &n)) != MV_OK)
        goto out;
    rc = mv_sign(c->signature, buf, n, hospital_sk);
out:
    if (rc != MV_OK && c)
        memset(c->signature, 0, sizeof c->signature);
    return rc;
}

mv_err mv_credential_encode(const mv_credential *c, char *out, size_t out_cap)
{
    uint8_t buf[CRED_DOMAIN_LEN + MV_CRED_BIN_MAX];
    size_t n = 0;
    mv_err rc;
    if (!c || !out)
        return MV_ERR_INVAL;
    if ((rc = cred_signed_part(c, buf, &n)) != MV_OK)
        return rc;
    memcpy(buf + n, c->signature, 64);
    n += 64;
    if (out_cap < MV_B64_LEN(n - CRED_DOMAIN_LEN) + 1)
        return MV_ERR_TOO_LARGE;
    return mv_b64_encode(out, out_cap, buf + CRED_DOMAIN_LEN, n - CRED_DOMAIN_LEN);
}

/* Reads a length-prefixed name from bin[*off..len) into dst (char[cap]). */
static mv_err read_name(const uint8_t *bin, size_t len, size_t *off, char *dst, size_t cap)
{
    if (*off >= len)
        return MV_ERR_PARSE;
    size_t l = bin[(*off)++];
    if (l == 0 || l >= cap || l > len - *off)
        return MV_ERR_PARSE;
    for (size_t i = 0; i < l; i++) {
        if (!name_char_ok(bin[*off + i]))
            return MV_ERR_PARSE;
        dst[i] = (char)bin[*off + i];
    }
    dst[l] = 0;
    *off += l;
    return MV_OK;
}

mv_err mv_credential_decode(const char *b64, size_t len, mv_credential *out)
{
    uint8_t bin[MV_CRED_BIN_MAX];
    size_t n = 0, off = 0;
    mv_err rc;
    if (!out || (len && !b64))
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (len > MV_CRED_B64_MAX)
        return MV_ERR_TOO_LARGE;
    if ((rc = mv_b64_decode(bin, sizeof bin, &n, b64, len)) != MV_OK)
        goto out;
    rc = MV_ERR_PARSE;
    /* Fixed part (84) + role length + dept count + signature is the least possible. */
    if (n < 84 + 1 + 1 + 64 || memcmp(bin, CRED_MAGIC, 4) != 0)
        goto out;
    off = 4;
    memcpy(out->subject, bin + off, 32);
    off += 32;
    memcpy(out->issuer, bin + off, 32);
    off += 32;
    out->issued_at = mv_be64_get(bin + off);
    off += 8;
    out->expires_at = mv_be64_get(bin + off);
    off += 8;
    if ((rc = read_name(bin, n, &off, out->role, sizeof out->role)) != MV_OK)
        goto out;
    rc = MV_ERR_PARSE;
    if (off >= n || bin[off] > MV_CRED_MAX_DEPTS)
        goto out;
    out->n_departments = bin[off++];
    for (size_t i = 0; i < out->n_departments; i++)
        if ((rc = read_name(bin, n, &off, out->departments[i], sizeof out->departments[i])) != MV_OK)
            goto out;
    rc = MV_ERR_PARSE;
    if (n - off != 64) /* missing or trailing bytes */
        goto out;
    memcpy(out->signature, bin + off, 64);
    rc = MV_OK;
out:
    if (rc != MV_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

mv_err mv_credential_verify(const mv_credential *c, const uint8_t hospital_pk[static 32], uint64_t now)
{
    uint8_t buf[CRED_DOMAIN_LEN + MV_CRED_BIN_MAX];
    size_t n = 0;
    mv_err rc;
    if (!c || !hospital_pk)
        return MV_ERR_INVAL;
    if (!mv_ct_eq(c->issuer, hospital_pk, 32))
        return MV_ERR_AUTH;
    if (cred_signed_part(c, buf, &n) != MV_OK)
        return MV_ERR_AUTH;
    rc = mv_sign_verify(c->signature, buf, n, hospital_pk);
    if (rc == MV_ERR_VERIFY)
        return MV_ERR_AUTH;
    if (rc != MV_OK)
        return rc;
    if (now >= c->expires_at)
        return MV_ERR_EXPIRED;
    if (c->issued_at > MV_CRED_ISSUE_SKEW && now < c->issued_at - MV_CRED_ISSUE_SKEW)
        return MV_ERR_EXPIRED;
    return MV_OK;
}

int mv_credential_has_department(const mv_credential *c, const char *dept)
{
    if (!c || !dept || c->n_departments > MV_CRED_MAX_DEPTS)
        return 0;
    for (size_t i = 0; i < c->n_departments; i++)
        if (strncmp(c->departments[i], dept, sizeof c->departments[i]) == 0 &&
            strlen(dept) < sizeof c->departments[i])
            return 1;
    return 0;
}

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

/* Builds the signed string of DESIGN section 3 into b (initialised here; caller clears). */
static mv_err request_message(mv_buf *b, const char *method, const char *path, const char *date,
                              const char *nonce, const uint8_t *body, size_t body_len)
{
    uint8_t digest[MV_SHA256_BYTES];
    char digest_hex[MV_HEX_LEN(MV_SHA256_BYTES) + 1];
    mv_err rc;
    mv_buf_init(b, 64 + MV_AUTH_MAX_METHOD + MV_AUTH_MAX_PATH + 20 + 32 + 64);
    if ((rc = mv_sha256(digest, body, body_len)) != MV_OK)
        return rc;
    if ((rc = mv_hex_encode(digest_hex, sizeof digest_hex, digest, sizeof digest)) != MV_OK)
        return rc;
    return mv_buf_printf(b, REQ_DOMAIN "%s\n%s\n%s\n%s\n%s", method, path, date, nonce, digest_hex);
}

mv_err mv_auth_sign_request(mv_signed_headers *out, const uint8_t pk[static 32], const uint8_t sk[static 64],
                            const char *method, const char *path_and_query, const uint8_t *body,
                            size_t body_len, uint64_t now)
{
    uint8_t nonce[NONCE_BYTES], sig[MV_SIGNATURE_BYTES];
    mv_buf msg;
    mv_err rc = MV_ERR_INVAL;
    mv_buf_init(&msg, 0);
    if (!out)
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (!pk || !sk || !method || !path_and_query || (body_len && !body))
        goto out;
    if (!mv_auth_method_ok(method) || !path_ok(path_and_query) || !mv_ct_eq(sk + 32, pk, 32))
        goto out;
    if ((rc = mv_crypto_init()) != MV_OK)
        goto out;
    randombytes_buf(nonce, sizeof nonce);
    if ((rc = mv_hex_encode(out->key, sizeof out->key, pk, 32)) != MV_OK ||
        (rc = mv_hex_encode(out->nonce, sizeof out->nonce, nonce, sizeof nonce)) != MV_OK)
        goto out;
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
    if ((rc = request_message(&msg, method, path_and_query, out->date, out->nonce, body, body_len)) != MV_OK)
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

/* The checks of mv_auth_verify; with need_cred 0 the credential header is ignored and only
 * the key's own signature, date and nonce are checked. */
static mv_err verify_request(mv_auth_verifier *v, const mv_auth_request *r, uint64_t now, int need_cred,
                             mv_credential *out_cred, uint8_t *out_key, mv_auth_failure *why)
{
    mv_credential cred;
    uint8_t key[32], nonce[NONCE_BYTES], sig[MV_SIGNATURE_BYTES];
    uint64_t date = 0;
    mv_buf msg;
    mv_err rc = MV_ERR_INVAL;
    mv_buf_init(&msg, 0);
    memset(&cred, 0, sizeof cred);
    *why = MV_AUTH_FAIL_NONE;
    if (out_cred)
        memset(out_cred, 0, sizeof *out_cred);
    if (!v || !r || (r->body_len && !r->body))
        goto out;

    rc = MV_ERR_AUTH;
    *why = MV_AUTH_FAIL_MALFORMED;
    if (!r->key && !r->date && !r->nonce && !r->signature && !r->credential)
        *why = MV_AUTH_FAIL_MISSING;
    if (!r->method || !r->path_and_query || !r->key || !r->date || !r->nonce || !r->signature ||
        (need_cred && !r->credential))
        goto out;
    if (!mv_auth_method_ok(r->method) || !path_ok(r->path_and_query) || !parse_date(r->date, &date))
        goto out;
    if (mv_hex_decode_exact(key, sizeof key, r->key, strlen(r->key)) != MV_OK ||
        mv_hex_decode_exact(nonce, sizeof nonce, r->nonce, strlen(r->nonce)) != MV_OK ||
        mv_hex_decode_exact(sig, sizeof sig, r->signature, strlen(r->signature)) != MV_OK)
        goto out;
    if (need_cred) {
        /* strnlen bounds the scan of an untrusted header. */
        size_t cred_len = strnlen(r->credential, MV_CRED_B64_MAX + 1);
        if (cred_len > MV_CRED_B64_MAX || mv_credential_decode(r->credential, cred_len, &cred) != MV_OK)
            goto out;
        *why = MV_AUTH_FAIL_FORGED;
        if ((rc = mv_credential_verify(&cred, v->hospital_pk, now)) != MV_OK) {
            *why = rc == MV_ERR_EXPIRED ? MV_AUTH_FAIL_EXPIRED : rc == MV_ERR_AUTH ? MV_AUTH_FAIL_FORGED
                                                                                    : MV_AUTH_FAIL_NONE;
            goto out;
        }
        rc = MV_ERR_AUTH;
        if (!mv_ct_eq(key, cred.subject, 32))
            goto out;
    }
    *why = MV_AUTH_FAIL_SKEW;
    rc = MV_ERR_EXPIRED;
    if ((now >= date ? now - date : date - now) > v->skew)
        goto out;
    *why = MV_AUTH_FAIL_NONE;
    if ((rc = request_message(&msg, r->method, r->path_and_query, r->date, r->nonce, r->body, r->body_len)) !=
        MV_OK)
        goto out;
    *why = MV_AUTH_FAIL_FORGED;
    rc = mv_sign_verify(sig, msg.ptr, msg.len, key);
    if (rc == MV_ERR_VERIFY)
        rc = MV_ERR_AUTH;
    if (rc != MV_OK)
        goto out;
    *why = MV_AUTH_FAIL_REVOKED;
    rc = MV_ERR_AUTH;
    if (need_cred && is_revoked(v, key))
        goto out;
    *why = MV_AUTH_FAIL_REPLAY;
    if ((rc = nonce_check_and_add(v, key, nonce, now)) != MV_OK)
        goto out;
    *why = MV_AUTH_FAIL_NONE;
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
    return verify_request(v, r, now, 1, out_cred, NULL, &why);
}

mv_err mv_auth_verify_ex(mv_auth_verifier *v, const mv_auth_request *r, uint64_t now, mv_credential *out_cred,
                         mv_auth_failure *why)
{
    if (!why) {
        if (out_cred)
            memset(out_cred, 0, sizeof *out_cred);
        return MV_ERR_INVAL;
    }
    return verify_request(v, r, now, 1, out_cred, NULL, why);
}

mv_err mv_auth_verify_key(mv_auth_verifier *v, const mv_auth_request *r, uint64_t now, uint8_t key_out[static 32])
{
    mv_auth_failure why;
    if (!key_out)
        return MV_ERR_INVAL;
    return verify_request(v, r, now, 0, NULL, key_out, &why);
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
