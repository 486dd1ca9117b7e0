/* group_files.c - a member's group files at the storage server: every operation is signed
 * with her ring key under the group's current roster and sent anonymously (no credential, no
 * key of hers on the wire), and every byte she stores is encrypted: blocks with MLE keys
 * derived from the group's dedup secret, the envelope under the group's file key of the
 * epoch. What an operation needs from the hospital (the group's id, its keys) is kept in her
 * directory, so the operation itself makes no signed call anywhere (docs/groups.md). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client_internal.h"
#include "core/endian.h"
#include "medvault/mv_aead.h"
#include "medvault/mv_cdc.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_file.h"
#include "medvault/mv_groups.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_hkdf.h"
#include "medvault/mv_hmac.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_mle.h"
#include "medvault/mv_record.h"
#include "medvault/mv_zstd.h"
#include "net/group_frames.h"

/* The envelope's plaintext "MVGE" (little-endian): magic, u8 format (1), u64 file size,
 * u16 name length, name, u32 chunk count, per chunk: tag (32), MLE key (32), u32 plaintext
 * length. Sealed as nonce (12, random) || AES-256-GCM(F_e, plaintext, aad). */
#define ENV_FORMAT 1
#define ENV_CHUNK_BYTES (32u + 32u + 4u)
static const uint8_t ENV_MAGIC[4] = {'M', 'V', 'G', 'E'};
static const char ENV_AAD_TAG[] = "medvault group envelope v1";
#define ENV_AAD_BYTES (sizeof ENV_AAD_TAG - 1 + 16 + 16 + 8 + 8)

/* What one operation needs: the group, its current roster and ring, the caller's ring key. */
typedef struct gop {
    mv_client *c;
    const char *group;
    uint8_t g[16];
    char ghex[33]; /* the group's id: the roster is fetched by id, with no name to resolve */
    mv_roster roster;
    mv_ring ring;
    uint8_t sk[32], pk[32];
    mv_group_keys *keys; /* loaded on first use (gop_keys) */
} gop;

static void gop_close(gop *x)
{
    mv_roster_clear(&x->roster);
    mv_group_keys_free(x->keys);
    x->keys = NULL;
    mv_wipe(x->sk, sizeof x->sk);
}

/* The caller's group keys covering epoch: those kept in her directory unless they end before
 * it (mvc_group_keys_for), so an operation makes no signed call to the hospital that would
 * tie her to it. Borrowed from x. */
static mv_err gop_keys(gop *x, uint64_t epoch, const mv_group_keys **out)
{
    mv_err rc = MV_OK;
    if (!x->keys || mv_group_keys_epoch(x->keys) < epoch) {
        mv_group_keys_free(x->keys);
        x->keys = NULL;
        rc = mvc_group_keys_for(x->c, x->g, epoch, &x->keys);
    }
    *out = x->keys;
    return rc;
}

/* Fetches the current roster and checks that the caller is in it. */
static mv_err gop_roster(gop *x)
{
    mv_roster_clear(&x->roster);
    mv_err rc = mv_client_group_roster(x->c, x->ghex, 0, &x->roster, NULL);
    if (rc == MV_OK && (rc = mv_roster_ring(&x->roster, &x->ring)) != MV_OK)
        mvc_seterr(x->c, "the group's roster is not a usable ring (%s)", mv_strerror(rc));
    if (rc == MV_OK && mv_roster_find(&x->roster, x->pk) < 0) {
        mvc_seterr(x->c, "you are not in the group's current roster (not joined, or removed)");
        rc = MV_ERR_FORBIDDEN;
    }
    return rc;
}

static mv_err gop_open(mv_client *c, const char *group, gop *x)
{
    memset(x, 0, sizeof *x);
    x->c = c;
    x->group = group;
    mv_err rc = mv_client_group_id(c, group, x->g);
    if (rc == MV_OK)
        rc = mv_hex_encode(x->ghex, sizeof x->ghex, x->g, 16);
    if (rc == MV_OK && (rc = mv_ring_derive_key(mv_identity_box_sk(c->id), x->g, x->sk, x->pk)) != MV_OK)
        mvc_seterr(c, "cannot derive your ring key (%s)", mv_strerror(rc));
    if (rc == MV_OK)
        rc = gop_roster(x);
    return rc;
}

/* The owner's part of a delete: version 1's epoch, message and signature. */
typedef struct owner_sig {
    uint64_t epoch;
    const uint8_t *msg, *sig;
    size_t sig_len;
} owner_sig;

/* 1 if the storage server's answer says the roster the operation was signed under is stale. */
static int is_stale(const mv_buf *resp)
{
    return resp->ptr && strstr((const char *)resp->ptr, "stale roster") != NULL; /* mv_buf is NUL-terminated */
}

/* Signs and sends one operation; the answer's status and body go to *status and resp. A
 * "stale roster" answer (the group changed since the roster was fetched) to an operation
 * without payload is retried once with the new roster (write_version retries the others). */
static mv_err gop_send(gop *x, uint8_t op, const uint8_t id[16], uint64_t version, const uint8_t *payload, size_t plen,
                       const owner_sig *owner, long *status, mv_buf *resp)
{
    uint8_t body_hash[32], msg[MV_GROUP_OP_MSG_BYTES], link[MV_RING_LINK_BYTES];
    char url[MV_HTTPC_MAX_URL], path[64], ghex[33];
    const char *headers[] = {"Content-Type: application/octet-stream", NULL};
    mv_buf sig, body;
    mv_httpc_call call;
    mv_err rc;
    mv_buf_init(&sig, MV_RING_SIG_MAX_BYTES);
    mv_buf_init(&body, MV_GROUP_OPS_MAX_BODY);
    mv_httpc_call_init(&call);
    if ((rc = mv_sha256(body_hash, payload, plen)) != MV_OK || (rc = mv_hex_encode(ghex, sizeof ghex, x->g, 16)) != MV_OK)
        goto out;
    snprintf(path, sizeof path, "/v1/groups/%s/ops", ghex);
    for (int attempt = 0; attempt < 2; attempt++) {
        mv_group_op_frame f = {.op = op, .epoch = x->roster.epoch, .version = version, .timestamp = (uint64_t)time(NULL),
                               .payload = payload, .payload_len = plen};
        memcpy(f.record_id, id, 16);
        if ((rc = mv_random_bytes(f.nonce, sizeof f.nonce)) != MV_OK)
            goto out;
        mv_group_op_msg(x->g, f.epoch, (enum mv_group_op)op, id, version, f.timestamp, f.nonce, body_hash, msg);
        if (owner) {
            /* The link proof is bound to this request's message, so it cannot be replayed for
             * another delete. It needs the roster version 1 was signed under. */
            mv_roster r1;
            mv_ring ring1;
            memset(&r1, 0, sizeof r1);
            rc = mv_client_group_roster(x->c, x->ghex, owner->epoch, &r1, NULL);
            if (rc == MV_OK && (rc = mv_roster_ring(&r1, &ring1)) == MV_OK)
                rc = mv_ring_link_prove(&ring1, x->sk, owner->msg, MV_GROUP_OP_MSG_BYTES, owner->sig, owner->sig_len,
                                        msg, sizeof msg, link);
            mv_roster_clear(&r1);
            if (rc != MV_OK) {
                mvc_seterr(x->c, "cannot prove that you stored version 1 of this record (%s)", mv_strerror(rc));
                rc = rc == MV_ERR_NOT_FOUND || rc == MV_ERR_AUTH ? MV_ERR_FORBIDDEN : rc;
                goto out;
            }
            f.link = link;
        }
        mv_buf_reset(&sig);
        if ((rc = mv_ring_sign(&x->ring, x->sk, msg, sizeof msg, NULL, &sig)) != MV_OK) {
            mvc_seterr(x->c, "cannot sign the group operation (%s)", mv_strerror(rc));
            goto out;
        }
        f.sig = sig.ptr;
        f.sig_len = sig.len;
        mv_buf_reset(&body);
        if ((rc = mv_group_op_encode(&f, &body)) != MV_OK) {
            mvc_seterr(x->c, "the group operation is too large (%s)", mv_strerror(rc));
            goto out;
        }
        /* Unsigned on purpose: a signed request would name the member. */
        mv_httpc_call_clear(&call);
        if ((rc = mvc_call_setup(&call, url, sizeof url, x->c->dep.storage_url, path, "POST", body.ptr, body.len,
                                 headers)) != MV_OK ||
            (rc = mv_httpc_run(&call, 1)) != MV_OK)
            goto out;
        if ((rc = call.rc) != MV_OK) {
            mvc_seterr(x->c, "no answer from the storage server (%s)", mv_strerror(rc));
            goto out;
        }
        /* A payload's envelope is sealed under the epoch's key: only the caller can rebuild it. */
        if (call.status == 409 && is_stale(&call.response) && attempt == 0 && plen == 0) {
            if ((rc = gop_roster(x)) != MV_OK)
                goto out;
            continue;
        }
        /* The server is fetching the roster of an epoch newer than its own: a second later. */
        if (call.status == 503 && call.retry_after >= 0 && attempt == 0) {
            struct timespec pause = {call.retry_after > 2 ? 2 : (call.retry_after < 1 ? 1 : call.retry_after), 0};
            nanosleep(&pause, NULL);
            continue;
        }
        break;
    }
    *status = call.status;
    rc = mv_buf_append(resp, call.response.ptr, call.response.len);
out:
    mv_httpc_call_clear(&call);
    mv_buf_clear(&sig);
    mv_buf_clear(&body);
    mv_wipe(link, sizeof link);
    return rc;
}

/* ---------- content ---------- */

static void env_aad(uint8_t aad[ENV_AAD_BYTES], const uint8_t g[16], const uint8_t id[16], uint64_t version,
                    uint64_t epoch)
{
    size_t n = sizeof ENV_AAD_TAG - 1;
    memcpy(aad, ENV_AAD_TAG, n);
    memcpy(aad + n, g, 16);
    memcpy(aad + n + 16, id, 16);
    mv_be64_put(aad + n + 32, version);
    mv_be64_put(aad + n + 40, epoch);
}

/* F_e for epoch: the caller's key of that epoch (by regression), then the file key. */
static mv_err file_key(gop *x, uint64_t epoch, uint8_t F[32])
{
    const mv_group_keys *keys = NULL;
    uint8_t K[MV_GROUP_KEY_BYTES];
    mv_err rc = gop_keys(x, epoch, &keys);
    if (rc == MV_OK && (rc = mv_group_keys_at(keys, epoch, K)) != MV_OK)
        mvc_seterr(x->c, "you hold no group key for epoch %llu (you joined later without the history, or were removed)",
                   (unsigned long long)epoch);
    if (rc == MV_OK)
        rc = mv_group_file_key(K, x->g, epoch, F);
    mv_wipe(K, sizeof K);
    return rc;
}

/* One chunk of the file being stored. */
typedef struct gchunk {
    uint8_t fp[32], key[32], tag[32];
    uint32_t plain_len;
    mv_buf c;        /* the MLE ciphertext */
    size_t same_as;  /* index of the first chunk with this fingerprint (itself if first) */
} gchunk;

typedef struct gfile {
    gchunk *ch;
    size_t n, cap;
} gfile;

static void gfile_free(gfile *f)
{
    for (size_t i = 0; i < f->n; i++) {
        mv_wipe(f->ch[i].key, 32);
        /* A repeated chunk's buffer still holds its compressed plaintext. */
        if (f->ch[i].c.ptr)
            mv_wipe(f->ch[i].c.ptr, f->ch[i].c.len);
        mv_buf_clear(&f->ch[i].c);
    }
    mv_free(f->ch);
    memset(f, 0, sizeof *f);
}

/* Chunks data (FastCDC), compresses each chunk and fingerprints it. */
static mv_err chunk_file(const uint8_t *data, size_t len, gfile *f)
{
    const mv_cdc_params p = {MV_CDC_MIN, MV_CDC_AVG, MV_CDC_MAX};
    size_t off = 0;
    mv_err rc = MV_OK;
    while (off < len && rc == MV_OK) {
        size_t n = mv_cdc_cut(&p, data + off, len - off, 1);
        if ((rc = mv_array_grow(&f->ch, &f->cap, f->n, sizeof *f->ch, 16)) != MV_OK)
            return rc;
        gchunk *c = &f->ch[f->n];
        memset(c, 0, sizeof *c);
        /* zstd's worst case is n + n/255 + a small frame overhead; then the GCM tag. */
        mv_buf_init(&c->c, n + n / 128 + 1024 + MV_MLE_OVERHEAD);
        c->plain_len = (uint32_t)n;
        c->same_as = f->n;
        f->n++;
        if ((rc = mv_zstd_compress(data + off, n, MV_ZSTD_LEVEL, &c->c)) == MV_OK)
            rc = mv_mle_fingerprint(c->c.ptr, c->c.len, c->fp);
        for (size_t i = 0; i + 1 < f->n && rc == MV_OK; i++)
            if (memcmp(f->ch[i].fp, c->fp, 32) == 0) {
                c->same_as = i;
                break;
            }
        off += n;
    }
    return rc;
}

/* The group's dedup keys, derived on the member's machine from the group's dedup secret S
 * (docs/groups.md "Dedup within the group"): the token key and the base of the blocks' MLE
 * keys. Neither the hospital's tokens endpoint nor the key servers are asked (either would
 * see a signed call at the moment of the anonymous operation), and the storage cloud, which
 * does not hold S, can neither compute a token nor a block key. */
typedef struct gdedup {
    uint8_t tok[32], mle[32];
} gdedup;

static const char DEDUP_TOKENS_INFO[] = "medvault group tokens v1";
static const char DEDUP_MLE_INFO[] = "medvault group mle v1";

/* k_tok = HKDF-SHA-256(salt "", S, "medvault group tokens v1"); k_mle likewise with
 * "medvault group mle v1"; S is that of the keys covering the current epoch. */
static mv_err dedup_keys(gop *x, gdedup *d)
{
    const mv_group_keys *keys = NULL;
    uint8_t S[32];
    mv_err rc = gop_keys(x, x->roster.epoch, &keys);
    if (rc == MV_OK && (rc = mv_group_keys_dedup_secret(keys, S, NULL)) != MV_OK)
        mvc_seterr(x->c, "the hospital's key answer holds no dedup secret");
    if (rc == MV_OK)
        rc = mv_hkdf_sha256(d->tok, 32, NULL, 0, S, 32, (const uint8_t *)DEDUP_TOKENS_INFO,
                            sizeof DEDUP_TOKENS_INFO - 1);
    if (rc == MV_OK)
        rc = mv_hkdf_sha256(d->mle, 32, NULL, 0, S, 32, (const uint8_t *)DEDUP_MLE_INFO, sizeof DEDUP_MLE_INFO - 1);
    mv_wipe(S, sizeof S);
    return rc;
}

/* Each unique chunk's MLE key, HKDF-SHA-256(salt "", k_mle, info = SHA-256(compressed chunk)),
 * convergent within the group, and the chunk encrypted in place of its compressed bytes. */
static mv_err encrypt_chunks(const gdedup *d, gfile *f)
{
    mv_err rc = MV_OK;
    for (size_t i = 0; i < f->n && rc == MV_OK; i++) {
        gchunk *ch = &f->ch[i];
        if (ch->same_as != i) {
            memcpy(ch->key, f->ch[ch->same_as].key, 32);
            memcpy(ch->tag, f->ch[ch->same_as].tag, 32);
            continue;
        }
        size_t plen = ch->c.len, clen = 0;
        if ((rc = mv_hkdf_sha256(ch->key, 32, NULL, 0, d->mle, 32, ch->fp, 32)) == MV_OK &&
            (rc = mv_buf_reserve(&ch->c, MV_MLE_OVERHEAD)) == MV_OK &&
            (rc = mv_mle_encrypt(ch->key, ch->c.ptr, plen, ch->c.ptr, ch->c.cap, &clen, ch->tag)) == MV_OK)
            ch->c.len = clen;
    }
    return rc;
}

/* The sealed envelope of f for (id, version, epoch) under F. */
static mv_err seal_envelope(const gop *x, const gfile *f, const char *name, uint64_t size, const uint8_t id[16],
                            uint64_t version, const uint8_t F[32], mv_buf *out)
{
    uint8_t aad[ENV_AAD_BYTES], nonce[MV_AEAD_NONCE_BYTES], hdr[4 + 1 + 8 + 2];
    size_t name_len = strnlen(name, MV_GROUP_FILE_NAME_MAX);
    mv_buf pt;
    mv_err rc;
    mv_buf_init(&pt, MV_STORE_MAX_ENVELOPE - MV_AEAD_NONCE_BYTES - MV_AEAD_TAG_BYTES);
    memcpy(hdr, ENV_MAGIC, 4);
    hdr[4] = ENV_FORMAT;
    mv_le_put(hdr + 5, size, 8);
    mv_le_put(hdr + 13, name_len, 2);
    uint8_t n4[4];
    mv_le_put(n4, f->n, 4);
    rc = mv_buf_append(&pt, hdr, sizeof hdr);
    if (rc == MV_OK)
        rc = mv_buf_append(&pt, name, name_len);
    if (rc == MV_OK)
        rc = mv_buf_append(&pt, n4, 4);
    for (size_t i = 0; i < f->n && rc == MV_OK; i++) {
        uint8_t e[ENV_CHUNK_BYTES];
        memcpy(e, f->ch[i].tag, 32);
        memcpy(e + 32, f->ch[i].key, 32);
        mv_le_put(e + 64, f->ch[i].plain_len, 4);
        rc = mv_buf_append(&pt, e, sizeof e);
        mv_wipe(e, sizeof e);
    }
    env_aad(aad, x->g, id, version, x->roster.epoch);
    if (rc == MV_OK)
        rc = mv_random_bytes(nonce, sizeof nonce);
    if (rc == MV_OK)
        rc = mv_buf_reserve(out, MV_AEAD_NONCE_BYTES + pt.len + MV_AEAD_TAG_BYTES);
    if (rc == MV_OK) {
        memcpy(out->ptr + out->len, nonce, sizeof nonce);
        rc = mv_aead_encrypt(out->ptr + out->len + sizeof nonce, pt.ptr, pt.len, aad, sizeof aad, nonce, F);
        if (rc == MV_OK)
            out->len += sizeof nonce + pt.len + MV_AEAD_TAG_BYTES;
    }
    if (pt.ptr)
        mv_wipe(pt.ptr, pt.len);
    mv_buf_clear(&pt);
    return rc;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* A file ready to be stored: its chunks encrypted, its unique blocks' tokens computed. */
typedef struct gprep {
    gfile f;
    uint8_t *tokens; /* n_u * 32, in the order of the unique chunks */
    size_t n_u;
    uint64_t size;
    char name[MV_GROUP_FILE_NAME_MAX + 1];
} gprep;

static void gprep_free(gprep *p)
{
    gfile_free(&p->f);
    mv_free(p->tokens);
    memset(p, 0, sizeof *p);
}

/* Reads, chunks and encrypts the file at path and computes the group's tokens of its blocks,
 * HMAC-SHA-256(k_tok, tag). */
static mv_err prepare_file(gop *x, const char *path, gprep *p)
{
    mv_buf data;
    gdedup d;
    mv_err rc;
    memset(&d, 0, sizeof d);
    memset(p, 0, sizeof *p);
    mv_buf_init(&data, MV_GROUP_FILE_MAX);
    if ((rc = mv_file_read(path, MV_GROUP_FILE_MAX, &data)) != MV_OK) {
        mvc_seterr(x->c, rc == MV_ERR_TOO_LARGE ? "%s is larger than a group file may be (24 MiB)" : "cannot read %s",
                   path);
        goto out;
    }
    p->size = data.len;
    snprintf(p->name, sizeof p->name, "%s", base_name(path));
    if ((rc = chunk_file(data.ptr, data.len, &p->f)) != MV_OK || (rc = dedup_keys(x, &d)) != MV_OK ||
        (rc = encrypt_chunks(&d, &p->f)) != MV_OK)
        goto out;
    if (p->f.n > MV_GROUP_MAX_BLOCKS) {
        mvc_seterr(x->c, "%s has too many blocks for one group operation", path);
        rc = MV_ERR_TOO_LARGE;
        goto out;
    }
    if (p->f.n && !(p->tokens = mv_mallocarray(p->f.n, 32))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < p->f.n && rc == MV_OK; i++)
        if (p->f.ch[i].same_as == i)
            rc = mv_hmac_sha256(p->tokens + 32 * p->n_u++, d.tok, 32, p->f.ch[i].tag, 32);
out:
    if (data.ptr)
        mv_wipe(data.ptr, data.len);
    mv_buf_clear(&data);
    mv_wipe(&d, sizeof d);
    return rc;
}

/* The MVGC payload of p for (id, version) under the current epoch: unique block k is sent as
 * a reference (no data) when refs[k] is set. */
static mv_err build_payload(gop *x, const gprep *p, const uint8_t id[16], uint64_t version, const uint8_t *refs,
                            mv_buf *payload)
{
    uint8_t F[32];
    mv_buf env;
    mv_err rc;
    mv_buf_init(&env, MV_STORE_MAX_ENVELOPE);
    if ((rc = file_key(x, x->roster.epoch, F)) == MV_OK &&
        (rc = seal_envelope(x, &p->f, p->name, p->size, id, version, F, &env)) == MV_OK)
        rc = mv_group_content_begin(payload, env.ptr, env.len, (uint32_t)p->n_u);
    for (size_t i = 0, k = 0; i < p->f.n && rc == MV_OK; i++) {
        const gchunk *ch = &p->f.ch[i];
        if (ch->same_as != i)
            continue;
        rc = refs[k] ? mv_group_content_block(payload, p->tokens + 32 * k, ch->tag, NULL, 0)
                     : mv_group_content_block(payload, p->tokens + 32 * k, ch->tag, ch->c.ptr, ch->c.len);
        k++;
    }
    if (rc == MV_ERR_TOO_LARGE)
        mvc_seterr(x->c, "%s is too large for one group operation", p->name);
    mv_wipe(F, sizeof F);
    mv_buf_clear(&env);
    return rc;
}

/* A 409 that lists blocks the group does not hold: clears their refs and returns 1. */
static int take_missing(const mv_buf *resp, uint8_t *refs, size_t n_u)
{
    mv_json *root = NULL;
    int found = 0;
    if (resp->len && mv_json_parse((const char *)resp->ptr, resp->len, NULL, &root, NULL) == MV_OK) {
        const mv_json *m = mv_json_get(root, "missing");
        for (size_t i = 0; i < mv_json_len(m); i++) {
            uint64_t k = 0;
            if (mv_json_u64(mv_json_at(m, i), &k) == MV_OK && k < n_u && refs[k]) {
                refs[k] = 0;
                found = 1;
            }
        }
    }
    mv_json_free(root);
    return found;
}

/* ---------- answers ---------- */

static mv_err expect(gop *x, long status, long want, const mv_buf *resp)
{
    if (status == want)
        return MV_OK;
    mv_err rc = mvc_status_err(x->c, "the storage server", status, resp);
    if (status == 409 && is_stale(resp))
        rc = MV_ERR_BAD_STATE;
    if (status == 410)
        rc = MV_ERR_NOT_FOUND;
    return rc;
}

/* Reads record id (READ op; how: MV_GROUP_READ_CONTENT, _HEAD, or _VERSION + v): the decoded
 * answer borrows resp. */
static mv_err read_record(gop *x, const uint8_t id[16], uint64_t how, mv_buf *resp, mv_group_content *a)
{
    long status = 0;
    const char *what = "";
    mv_err rc = gop_send(x, MV_GROUP_OP_READ, id, how, NULL, 0, NULL, &status, resp);
    if (rc == MV_OK)
        rc = expect(x, status, 200, resp);
    if (rc == MV_OK && mv_group_content_decode(resp->ptr, resp->len, 0, a, &what) != MV_OK) {
        mvc_seterr(x->c, "the storage server sent a malformed group record (%s)", what);
        rc = MV_ERR_PROTOCOL;
    }
    return rc;
}

/* Opens a read answer's envelope and appends the file to out. */
static mv_err open_content(gop *x, const uint8_t id[16], const mv_group_content *a, mv_buf *out, char *name,
                           size_t name_cap)
{
    uint8_t F[32], aad[ENV_AAD_BYTES];
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    mv_buf plain, z;
    mv_err rc;
    mv_buf_init(&plain, MV_STORE_MAX_BLOCK);
    mv_buf_init(&z, MV_CDC_MAX);
    if (a->envelope_len < MV_AEAD_NONCE_BYTES + MV_AEAD_TAG_BYTES) {
        rc = MV_ERR_PROTOCOL;
        goto out;
    }
    if ((rc = file_key(x, a->epoch, F)) != MV_OK)
        goto out;
    pt_len = a->envelope_len - MV_AEAD_NONCE_BYTES - MV_AEAD_TAG_BYTES;
    if (!(pt = mv_malloc(pt_len ? pt_len : 1))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    env_aad(aad, x->g, id, a->version, a->epoch);
    if ((rc = mv_aead_decrypt(pt, a->envelope + MV_AEAD_NONCE_BYTES, a->envelope_len - MV_AEAD_NONCE_BYTES, aad,
                              sizeof aad, a->envelope, F)) != MV_OK) {
        mvc_seterr(x->c, "the record's envelope does not decrypt with the group key (tampered, or another group's)");
        rc = MV_ERR_VERIFY;
        goto out;
    }
    mv_rd r;
    const uint8_t *p, *nm;
    uint8_t fmt;
    uint64_t size;
    uint16_t nl;
    uint32_t n;
    mv_rd_init(&r, pt, pt_len);
    if (mv_rd_bytes(&r, 4, &p) || memcmp(p, ENV_MAGIC, 4) || mv_rd_u8(&r, &fmt) || fmt != ENV_FORMAT ||
        mv_rd_u64(&r, &size) || mv_rd_u16(&r, &nl) || mv_rd_bytes(&r, nl, &nm) || mv_rd_u32(&r, &n) ||
        r.left != (size_t)n * ENV_CHUNK_BYTES) {
        mvc_seterr(x->c, "the record's envelope is malformed");
        rc = MV_ERR_PROTOCOL;
        goto out;
    }
    if (name && name_cap)
        snprintf(name, name_cap, "%.*s", (int)nl, (const char *)nm);
    for (uint32_t i = 0; i < n && rc == MV_OK; i++) {
        const uint8_t *e = NULL;
        if (mv_rd_bytes(&r, ENV_CHUNK_BYTES, &e)) { /* cannot happen: the length was checked */
            rc = MV_ERR_PROTOCOL;
            break;
        }
        uint32_t plen = (uint32_t)mv_le_get(e + 64, 4);
        mv_group_content walk = *a;
        mv_group_block b;
        int found = 0;
        while (!found && mv_group_blocks_next(&walk, &b))
            found = memcmp(b.tag, e, 32) == 0;
        if (!found || !mv_mle_tag_ok(b.data, b.len, e)) {
            mvc_seterr(x->c, "the storage server did not send a block of the record, or sent a wrong one");
            rc = MV_ERR_VERIFY;
            break;
        }
        size_t zl = 0;
        mv_buf_reset(&z);
        if ((rc = mv_buf_reserve(&z, b.len)) != MV_OK ||
            (rc = mv_mle_decrypt(e + 32, b.data, b.len, z.ptr, z.cap, &zl)) != MV_OK) {
            mvc_seterr(x->c, "a block of the record does not decrypt");
            rc = MV_ERR_VERIFY;
            break;
        }
        z.len = zl;
        mv_buf_reset(&plain);
        if ((rc = mv_zstd_decompress(z.ptr, z.len, plen, &plain)) != MV_OK || plain.len != plen) {
            mvc_seterr(x->c, "a block of the record does not decompress");
            rc = rc == MV_OK ? MV_ERR_PROTOCOL : rc;
            break;
        }
        rc = mv_buf_append(out, plain.ptr, plain.len);
    }
    if (rc == MV_OK && out->len < size)
        rc = MV_ERR_PROTOCOL;
out:
    mv_wipe(F, sizeof F);
    if (pt)
        mv_wipe(pt, pt_len);
    mv_free(pt);
    if (plain.ptr)
        mv_wipe(plain.ptr, plain.len);
    if (z.ptr)
        mv_wipe(z.ptr, z.len);
    mv_buf_clear(&plain);
    mv_buf_clear(&z);
    return rc;
}

/* ---------- the public functions ---------- */

static mv_err write_version(mv_client *c, const char *group, const char *path, const uint8_t id[16], int modify,
                            uint64_t *version)
{
    gop x;
    gprep p;
    mv_buf payload, resp;
    uint8_t *refs = NULL;
    long status = 0;
    uint64_t v = 1;
    int stale_retried = 0, missing_retried = 0;
    mv_err rc;
    memset(&p, 0, sizeof p);
    mv_buf_init(&payload, MV_GROUP_OPS_MAX_BODY);
    mv_buf_init(&resp, (size_t)1 << 20);
    if ((rc = gop_open(c, group, &x)) != MV_OK)
        goto out;
    if (modify) {
        /* The next version number, from the record as it stands. */
        mv_group_content a;
        if ((rc = read_record(&x, id, MV_GROUP_READ_HEAD, &resp, &a)) != MV_OK)
            goto out;
        v = a.version + 1;
    }
    if ((rc = prepare_file(&x, path, &p)) != MV_OK)
        goto out;
    if (!(refs = mv_calloc(p.n_u ? p.n_u : 1, 1))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    /* With several blocks, first ask the group to take the ones it holds by reference (a
     * modify keeps most of them, and members store the same scans): the server names those it
     * lacks and only their data is sent. One block is sent at once. */
    if (p.n_u > 1)
        memset(refs, 1, p.n_u);
    for (;;) {
        mv_buf_reset(&payload);
        mv_buf_reset(&resp);
        if ((rc = build_payload(&x, &p, id, v, refs, &payload)) != MV_OK)
            goto out;
        rc = gop_send(&x, modify ? MV_GROUP_OP_MODIFY : MV_GROUP_OP_PUT, id, v, payload.ptr, payload.len, NULL,
                      &status, &resp);
        if (rc != MV_OK)
            break;
        if (status == 409 && !missing_retried && take_missing(&resp, refs, p.n_u)) {
            missing_retried = 1;
            continue;
        }
        if (status == 409 && !missing_retried && resp.ptr &&
            strstr((const char *)resp.ptr, "referenced block is gone")) {
            missing_retried = 1;
            memset(refs, 0, p.n_u);
            continue;
        }
        rc = expect(&x, status, modify ? 200 : 201, &resp);
        /* The group changed since the roster was fetched: seal again under the new epoch. */
        if (rc != MV_ERR_BAD_STATE || stale_retried || (rc = gop_roster(&x)) != MV_OK)
            break;
        stale_retried = 1;
    }
    if (rc == MV_OK && version)
        *version = v;
out:
    gop_close(&x);
    gprep_free(&p);
    mv_free(refs);
    mv_buf_clear(&payload);
    mv_buf_clear(&resp);
    return rc;
}

mv_err mv_client_group_put(mv_client *c, const char *group, const char *path, uint8_t id[static 16], uint64_t *version)
{
    if (!c || !group || !path || !id)
        return MV_ERR_INVAL;
    mv_err rc = mv_record_id_new(id);
    return rc == MV_OK ? write_version(c, group, path, id, 0, version) : rc;
}

mv_err mv_client_group_modify(mv_client *c, const char *group, const uint8_t id[static 16], const char *path,
                              uint64_t *version)
{
    if (!c || !group || !path || !id)
        return MV_ERR_INVAL;
    return write_version(c, group, path, id, 1, version);
}

mv_err mv_client_group_get(mv_client *c, const char *group, const uint8_t id[static 16], mv_buf *out,
                           uint64_t *version, char *name, size_t name_cap)
{
    return mv_client_group_get_version(c, group, id, 0, out, version, name, name_cap);
}

mv_err mv_client_group_get_version(mv_client *c, const char *group, const uint8_t id[static 16], uint64_t which,
                                   mv_buf *out, uint64_t *version, char *name, size_t name_cap)
{
    gop x;
    mv_buf resp;
    mv_group_content a;
    mv_err rc;
    if (!c || !group || !id || !out || which >= MV_GROUP_READ_VERSION)
        return MV_ERR_INVAL;
    mv_buf_init(&resp, MV_HTTPC_RESPONSE_MAX);
    size_t start = out->len;
    uint64_t how = which ? MV_GROUP_READ_VERSION + which : MV_GROUP_READ_CONTENT;
    if ((rc = gop_open(c, group, &x)) == MV_OK && (rc = read_record(&x, id, how, &resp, &a)) == MV_OK &&
        (rc = open_content(&x, id, &a, out, name, name_cap)) == MV_OK && version)
        *version = a.version;
    if (rc != MV_OK) {
        if (out->ptr)
            mv_wipe(out->ptr + start, out->len - start);
        out->len = start;
    }
    gop_close(&x);
    mv_buf_clear(&resp);
    return rc;
}

mv_err mv_client_group_rm(mv_client *c, const char *group, const uint8_t id[static 16], int as_manager)
{
    char path[128], ghex[33], idhex[33];
    long status = 0;
    mv_buf resp;
    gop x;
    mv_err rc;
    if (!c || !group || !id)
        return MV_ERR_INVAL;
    mv_buf_init(&resp, MV_HTTPC_RESPONSE_MAX);
    memset(&x, 0, sizeof x);
    if (as_manager) {
        uint8_t g[16];
        if ((rc = mv_client_group_id(c, group, g)) == MV_OK && (rc = mv_hex_encode(ghex, sizeof ghex, g, 16)) == MV_OK &&
            (rc = mv_hex_encode(idhex, sizeof idhex, id, 16)) == MV_OK) {
            snprintf(path, sizeof path, "/v1/groups/%s/records/%s", ghex, idhex);
            rc = mvc_simple(c, c->dep.storage_url, "DELETE", path, NULL, 0, NULL, &status, &resp);
        }
        if (rc == MV_OK && status != 200)
            rc = mvc_status_err(c, "the storage server", status, &resp);
        goto out;
    }
    mv_group_content a;
    if ((rc = gop_open(c, group, &x)) != MV_OK || (rc = read_record(&x, id, MV_GROUP_READ_HEAD, &resp, &a)) != MV_OK)
        goto out;
    owner_sig o = {.epoch = a.owner_epoch, .msg = a.owner_msg, .sig = a.owner_sig, .sig_len = a.owner_sig_len};
    mv_buf answer;
    mv_buf_init(&answer, (size_t)1 << 16);
    rc = gop_send(&x, MV_GROUP_OP_DELETE, id, a.version + 1, NULL, 0, &o, &status, &answer);
    if (rc == MV_OK)
        rc = expect(&x, status, 200, &answer);
    mv_buf_clear(&answer);
out:
    gop_close(&x);
    mv_buf_clear(&resp);
    return rc;
}

mv_err mv_client_group_list(mv_client *c, const char *group, mv_buf *out)
{
    static const uint8_t none[16];
    long status = 0;
    gop x;
    mv_err rc;
    if (!c || !group || !out)
        return MV_ERR_INVAL;
    size_t start = out->len;
    if ((rc = gop_open(c, group, &x)) == MV_OK && (rc = gop_send(&x, MV_GROUP_OP_LIST, none, 0, NULL, 0, NULL, &status,
                                                                 out)) == MV_OK)
        rc = expect(&x, status, 200, out);
    if (rc != MV_OK)
        out->len = start;
    gop_close(&x);
    return rc;
}

mv_err mv_client_group_history(mv_client *c, const char *group, const uint8_t id[static 16], mv_buf *out)
{
    char path[128], ghex[33], idhex[33];
    uint8_t g[16];
    long status = 0;
    mv_err rc;
    if (!c || !group || !id || !out)
        return MV_ERR_INVAL;
    size_t start = out->len;
    if ((rc = mv_client_group_id(c, group, g)) == MV_OK && (rc = mv_hex_encode(ghex, sizeof ghex, g, 16)) == MV_OK &&
        (rc = mv_hex_encode(idhex, sizeof idhex, id, 16)) == MV_OK) {
        snprintf(path, sizeof path, "/v1/groups/%s/records/%s/history", ghex, idhex);
        rc = mvc_simple(c, c->dep.storage_url, "GET", path, NULL, 0, NULL, &status, out);
    }
    if (rc == MV_OK && status != 200) {
        rc = mvc_status_err(c, "the storage server", status, out);
        out->len = start;
    }
    return rc;
}
