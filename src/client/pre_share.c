/* pre_share.c - sharing through the clouds (docs/pre.md): the owner signs a delegation once and
 * gives each proxy its sealed kfrag; the recipient recovers the keys from t verified cfrags.
 * Every cfrag is checked against the commitment of the proxy that answered before it is used,
 * so a cloud that lies is named and never trusted; the directory is trusted for no key: the
 * recipient's B carries her own signature. Recovered keys live in locked memory for one run. */
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_credential.h"
#include "medvault/mv_file.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_pre.h"
#include "medvault/mv_record.h"
#include "medvault/mv_sig.h"
#include "net/frames.h"

#define MARKER "pre.published"
#define KEY_CTX "medvault-pre-key-v1\n"
#define KEY_CTX_LEN (sizeof KEY_CTX - 1)
/* Delegations to the caller that one run considers, as proxy 1 lists them (only those whose
 * owner and label cover a record being opened are fetched: junk ones cannot crowd them out). */
#define MAX_LISTED 65536u
#define DEFAULT_SECONDS (30u * 86400u)
#define MVPU_HDR 9u /* "MVPU" | version | u32be length */
/* How long a run trusts its list of received delegations before asking proxy 1 again when a
 * record is not covered (a CLI run is shorter; the UI's client lives for hours). */
#define RELIST_SECONDS 60u

enum { LISTED, FETCHED, RESOLVED, BAD };

struct received {
    uint8_t hash[32], owner[32], label[16]; /* as listed; the fetched delegation must agree */
    uint64_t kind;
    int state;
    mv_pre_delegation d; /* FETCHED on: signed by owner, to the caller and her key */
    uint8_t *keys;       /* RESOLVED: the key of each entry in entry order (secure memory) */
};

struct mvc_pre {
    int loaded;
    uint64_t loaded_at; /* a long-lived client (the UI) lists again after RELIST_SECONDS */
    struct received *dl;
    size_t n_dl;
    mvc_keytab keys; /* record id -> R, each one that opened its envelope */
};

static void drop_listed(mvc_pre *p)
{
    for (size_t i = 0; i < p->n_dl; i++) {
        mv_pre_delegation_clear(&p->dl[i].d);
        mv_secure_free(p->dl[i].keys);
    }
    mv_free(p->dl);
    p->dl = NULL;
    p->n_dl = 0;
    p->loaded = 0;
}

void mvc_pre_free(mvc_pre *p)
{
    if (!p)
        return;
    drop_listed(p);
    mvc_keytab_clear(&p->keys);
    mv_free(p);
}

/* The user's recipient key pair (b, B) from her box secret key (docs/pre.md 2). */
static mv_err my_key(const mv_client *c, uint8_t b[32], uint8_t B[32])
{
    uint8_t seed[MV_PRE_SEED_BYTES];
    mv_pre_seed(mv_identity_box_sk(c->id), seed);
    mv_err rc = mv_pre_recipient_key(seed, b, B);
    mv_wipe(seed, sizeof seed);
    return rc;
}

static void key_msg(const uint8_t B[32], uint8_t msg[KEY_CTX_LEN + 32])
{
    memcpy(msg, KEY_CTX, KEY_CTX_LEN);
    memcpy(msg + KEY_CTX_LEN, B, 32);
}

void mvc_pre_publish(mv_client *c)
{
    char path[4096], body[256], err[sizeof c->err];
    uint8_t b[32], B[32], sig[64], msg[KEY_CTX_LEN + 32];
    long status = 0;
    mv_buf resp;
    if (!c->dep.hospital_url[0] || mv_path_join(path, sizeof path, c->user_dir, MARKER) != MV_OK ||
        mv_file_exists(path))
        return;
    memcpy(err, c->err, sizeof err); /* whatever happens here is not the caller's error */
    mv_buf_init(&resp, 1 << 16);
    if (my_key(c, b, B) != MV_OK)
        goto out;
    key_msg(B, msg);
    char bhex[65], shex[129];
    if (mv_sign(sig, msg, sizeof msg, mv_identity_sign_sk(c->id)) != MV_OK ||
        mv_hex_encode(bhex, sizeof bhex, B, 32) != MV_OK || mv_hex_encode(shex, sizeof shex, sig, 64) != MV_OK)
        goto out;
    int n = snprintf(body, sizeof body, "{\"pre_public_key\":\"%s\",\"signature\":\"%s\"}", bhex, shex);
    /* A hospital that is down, older, or refuses: tried again by the next run. */
    if (mvc_simple(c, c->dep.hospital_url, "PUT", "/v1/users/me/pre-key", (const uint8_t *)body, (size_t)n,
                   "application/json", &status, &resp) == MV_OK &&
        status == 200)
        (void)!mv_file_write_atomic(path, "1\n", 2, 0600);
out:
    memcpy(c->err, err, sizeof err);
    mv_wipe(b, sizeof b);
    mv_buf_clear(&resp);
}

/* GET base+path as JSON into *root on 200; the mapped HTTP error otherwise. */
static mv_err get_json(mv_client *c, const char *base, const char *path, const char *what, mv_json **root)
{
    long status = 0;
    mv_buf resp;
    mv_buf_init(&resp, MV_HTTPC_RESPONSE_MAX);
    *root = NULL;
    mv_err rc = mvc_simple(c, base, "GET", path, NULL, 0, NULL, &status, &resp);
    if (rc != MV_OK)
        mvc_seterr(c, "no answer from %s (%s)", what, mv_strerror(rc));
    else if (status != 200)
        rc = mvc_status_err(c, what, status, &resp);
    else if (mv_json_parse((const char *)resp.ptr, resp.len, NULL, root, NULL) != MV_OK) {
        mvc_seterr(c, "%s sent a malformed answer", what);
        rc = MV_ERR_PROTOCOL;
    }
    mv_buf_clear(&resp);
    return rc;
}

mv_err mv_client_pre_key(mv_client *c, const uint8_t sign_pk[static 32], uint8_t B[static 32], char *dept,
                         size_t dept_cap)
{
    char path[96], hex[65];
    uint8_t sig[64], msg[KEY_CTX_LEN + 32];
    mv_json *root = NULL;
    if (!c || !sign_pk || !B || (dept && !dept_cap))
        return MV_ERR_INVAL;
    c->err[0] = 0;
    if (dept)
        dept[0] = 0;
    mv_err rc = mv_hex_encode(hex, sizeof hex, sign_pk, 32);
    if (rc != MV_OK)
        return rc;
    snprintf(path, sizeof path, "/v1/users/%s", hex);
    if ((rc = get_json(c, c->dep.hospital_url, path, "the hospital", &root)) != MV_OK)
        goto out;
    if (!mv_json_get(root, "pre_public_key")) {
        mvc_seterr(c, "this user has published no recipient key yet (any command she runs publishes it)");
        rc = MV_ERR_NOT_FOUND;
        goto out;
    }
    if (mv_json_get_hex(root, "pre_public_key", B, 32) != MV_OK ||
        mv_json_get_hex(root, "pre_key_signature", sig, 64) != MV_OK) {
        mvc_seterr(c, "the hospital sent a malformed recipient key");
        rc = MV_ERR_PROTOCOL;
        goto out;
    }
    key_msg(B, msg);
    if (mv_sign_verify(sig, msg, sizeof msg, sign_pk) != MV_OK) {
        mvc_seterr(c, "the recipient key the hospital lists for this user is not signed by her");
        rc = MV_ERR_VERIFY;
        goto out;
    }
    const mv_json *ds = mv_json_get(root, "departments");
    const char *d0 = mv_json_len(ds) ? mv_json_str(mv_json_at(ds, 0), NULL) : NULL;
    if (dept && d0)
        snprintf(dept, dept_cap, "%s", d0);
out:
    if (rc != MV_OK)
        memset(B, 0, 32);
    mv_json_free(root);
    return rc;
}

/* ---------- the owner: building a delegation ---------- */

/* A secret to encapsulate: kind, ref, key (K or R). In secure memory. */
struct secret {
    uint8_t kind, ref[16], key[32];
};

struct plan {
    struct secret *s; /* secure memory, MV_PRE_MAX_CAPSULES */
    size_t n;
    size_t skipped; /* records whose key does not open with the caller's key */
};

static mv_err plan_add(mv_client *c, struct plan *p, uint8_t kind, const uint8_t ref[16], const uint8_t key[32])
{
    for (size_t i = 0; i < p->n; i++)
        if (!memcmp(p->s[i].ref, ref, 16))
            return MV_OK; /* one keyset serves many records */
    if (p->n == MV_PRE_MAX_CAPSULES) {
        mvc_seterr(c, "more than %u keysets and records to delegate in one label", MV_PRE_MAX_CAPSULES);
        return MV_ERR_TOO_LARGE;
    }
    p->s[p->n].kind = kind;
    memcpy(p->s[p->n].ref, ref, 16);
    memcpy(p->s[p->n].key, key, 32);
    p->n++;
    return MV_OK;
}

/* Adds the key that opens record id (envelope env): its keyset's K (the caller reads the
 * keyset) with kind 1 for an episode, else the record key R (kind 2: one record, an MVE1
 * envelope sealed per reader, e.g. after a patient's revocation, or an MVE2 record she reads
 * through an extra entry). */
static mv_err plan_record(mv_client *c, struct plan *p, int episode, const uint8_t id[16], const uint8_t *env,
                          size_t len)
{
    uint8_t kid[16], K[32], R[32];
    mv_envelope_kind kind = 0;
    mv_err rc = mv_envelope_kind_of(env, len, &kind, kid);
    if (rc != MV_OK || kind == MV_ENVELOPE_MVK1)
        return MV_OK;
    if (kind == MV_ENVELOPE_MVE2 && mvc_keyset_get(c, kid, K, NULL) == MV_OK) {
        rc = episode ? plan_add(c, p, MV_PRE_ENTRY_KEYSET, kid, K)
                     : (rc = mv_envelope_record_key(id, K, R)) == MV_OK ? plan_add(c, p, MV_PRE_ENTRY_RECORD, id, R) : rc;
    } else if (mv_envelope_unwrap(env, len, mv_identity_box_pk(c->id), mv_identity_box_sk(c->id), R) == MV_OK) {
        rc = plan_add(c, p, MV_PRE_ENTRY_RECORD, id, R);
    } else {
        p->skipped++;
    }
    c->err[0] = 0; /* a keyset that did not open is not this call's failure */
    mv_wipe(K, sizeof K);
    mv_wipe(R, sizeof R);
    return rc;
}

/* The label's records the caller owns or that name her as patient, from the storage list. */
static mv_err plan_build(mv_client *c, int kind, const uint8_t label[16], struct plan *p)
{
    uint8_t *ids = NULL;
    size_t n_ids = 0;
    mv_json *root = NULL;
    mv_buf resp;
    mv_buf_init(&resp, MV_HTTPC_RESPONSE_MAX);
    mv_err rc = get_json(c, c->dep.storage_url, "/v1/records", "the storage server", &root);
    const mv_json *recs = mv_json_get(root, "records");
    if (rc == MV_OK && !(ids = mv_mallocarray(MV_FRAME_MAX_GET, 16)))
        rc = MV_ERR_NOMEM;
    for (size_t i = 0; rc == MV_OK && i < mv_json_len(recs); i++) {
        mvc_row row;
        if ((rc = mvc_record_row(c, mv_json_at(recs, i), &row)) != MV_OK)
            break;
        if (row.blocks == 0) /* a keyset record: reached through the records it serves */
            continue;
        if (kind == MV_PRE_LABEL_EPISODE ? !row.has_episode || memcmp(row.episode, label, 16) : memcmp(row.id, label, 16))
            continue;
        if (!mvc_row_is_mine(c, &row))
            continue; /* readable, but not the caller's to delegate */
        if (n_ids == MV_FRAME_MAX_GET) {
            mvc_seterr(c, "more than %u records in one episode", MV_FRAME_MAX_GET);
            rc = MV_ERR_TOO_LARGE;
            break;
        }
        memcpy(ids + 16 * n_ids++, row.id, 16);
    }
    if (rc == MV_OK && n_ids) {
        mv_frame_iter it;
        if ((rc = mvc_records_get(c, ids, n_ids, &resp, &it)) == MV_OK)
            for (size_t i = 0; rc == MV_OK && i < n_ids; i++) {
                uint8_t st = 0;
                const uint8_t *env = NULL;
                size_t len = 0;
                (void)mv_frame_answer_next(&it, &st, &env, &len);
                if (st == MV_FRAME_RECORD_OK)
                    rc = plan_record(c, p, kind == MV_PRE_LABEL_EPISODE, ids + 16 * i, env, len);
            }
    }
    if (rc == MV_OK && p->n == 0) {
        if (p->skipped)
            mvc_seterr(c, "no key of these records opens with your key here");
        else
            mvc_seterr(c, kind == MV_PRE_LABEL_EPISODE
                              ? "this episode has no record you own or that names you as its patient"
                              : "no such record that you own or that names you as its patient");
        rc = MV_ERR_NOT_FOUND;
    }
    mv_free(ids);
    mv_json_free(root);
    mv_buf_clear(&resp);
    return rc;
}

/* 1 if d is a department a delegation can name (docs/pre.md 6.1). */
static int dept_ok(const char *d)
{
    size_t n = strlen(d);
    if (n == 0 || n > MV_PRE_MAX_DEPT)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((d[i] >= 'A' && d[i] <= 'Z') || (d[i] >= 'a' && d[i] <= 'z') || (d[i] >= '0' && d[i] <= '9') ||
              d[i] == ' ' || d[i] == '_' || d[i] == '.' || d[i] == '-'))
            return 0;
    return 1;
}

static int secret_cmp(const void *a, const void *b)
{
    return memcmp(((const struct secret *)a)->ref, ((const struct secret *)b)->ref, 16);
}

/* ---------- the owner: talking to the proxies ---------- */

static const char *proxy_name(const mv_client *c, size_t i, char *buf, size_t cap)
{
    snprintf(buf, cap, "proxy %u (%s)", (unsigned)c->dep.proxies[i].index, c->dep.proxies[i].url);
    return buf;
}

static mv_err need_proxies(mv_client *c)
{
    if (c->dep.n_proxies)
        return MV_OK;
    mvc_seterr(c, "this deployment names no re-encryption proxies (\"proxies\" in the deployment file): "
                  "use `share grant` without --via-clouds");
    return MV_ERR_BAD_STATE;
}

/* POST /v1/pre/revoke {"delegation": hash} to proxy i: MV_OK when it no longer holds it
 * (200, or 404: it never had it). */
static mv_err revoke_at(mv_client *c, size_t i, const uint8_t hash[32])
{
    char body[96], hex[65], who[300];
    long status = 0;
    mv_buf resp;
    mv_buf_init(&resp, 1 << 16);
    mv_err rc = mv_hex_encode(hex, sizeof hex, hash, 32);
    int n = snprintf(body, sizeof body, "{\"delegation\":\"%s\"}", hex);
    if (rc == MV_OK)
        rc = mvc_simple(c, c->dep.proxies[i].url, "POST", "/v1/pre/revoke", (const uint8_t *)body, (size_t)n,
                        "application/json", &status, &resp);
    if (rc != MV_OK)
        mvc_seterr(c, "%s did not answer the revocation (%s)", proxy_name(c, i, who, sizeof who), mv_strerror(rc));
    else if (status != 200 && status != 404)
        rc = mvc_status_err(c, proxy_name(c, i, who, sizeof who), status, &resp);
    mv_buf_clear(&resp);
    return rc;
}

/* Revokes hash at every proxy (all are asked even after one fails); the first failure is
 * returned and stays in last_error. */
static mv_err revoke_everywhere(mv_client *c, const uint8_t hash[32])
{
    mv_err first = MV_OK;
    char err[sizeof c->err] = "";
    for (size_t i = 0; i < c->dep.n_proxies; i++) {
        mv_err rc = revoke_at(c, i, hash);
        if (rc != MV_OK && first == MV_OK) {
            first = rc;
            memcpy(err, c->err, sizeof err);
        }
    }
    if (first != MV_OK)
        memcpy(c->err, err, sizeof err);
    return first;
}

/* The hashes of the caller's active delegations of (kind, label) to `to`, as every proxy
 * that answers lists them (a proxy may hold one the other has lost). */
static mv_err find_given(mv_client *c, int kind, const uint8_t label[16], const uint8_t to[32], uint8_t *hashes,
                         size_t cap, size_t *n)
{
    const uint8_t *me = mv_identity_sign_pk(c->id);
    *n = 0;
    int answered = 0;
    for (size_t p = 0; p < c->dep.n_proxies; p++) {
        mv_json *root = NULL;
        if (get_json(c, c->dep.proxies[p].url, "/v1/pre/delegations", "a proxy", &root) != MV_OK)
            continue;
        answered = 1;
        const mv_json *ds = mv_json_get(root, "delegations");
        for (size_t i = 0; i < mv_json_len(ds); i++) {
            const mv_json *e = mv_json_at(ds, i);
            uint8_t h[32], owner[32], rcpt[32], lb[16];
            uint64_t k = 0;
            if (mv_json_get_hex(e, "delegation", h, 32) != MV_OK || mv_json_get_hex(e, "owner", owner, 32) != MV_OK ||
                mv_json_get_hex(e, "recipient", rcpt, 32) != MV_OK || mv_json_get_hex(e, "label", lb, 16) != MV_OK ||
                mv_json_get_u64(e, "label_kind", &k) != MV_OK)
                continue;
            if (memcmp(owner, me, 32) || memcmp(rcpt, to, 32) || memcmp(lb, label, 16) || k != (uint64_t)kind)
                continue;
            int dup = 0;
            for (size_t j = 0; j < *n && !dup; j++)
                dup = !memcmp(hashes + 32 * j, h, 32);
            if (!dup && *n < cap)
                memcpy(hashes + 32 * (*n)++, h, 32);
        }
        mv_json_free(root);
    }
    if (!answered) {
        mvc_seterr(c, "no proxy answered the list of delegations");
        return MV_ERR_UNAVAILABLE;
    }
    c->err[0] = 0;
    return MV_OK;
}

/* POSTs the MVPU of (delegation, proxy i's sealed kfrag) to proxy i. *status is its answer. */
static mv_err upload_to(mv_client *c, size_t i, const mv_buf *deleg, const uint8_t sealed[MV_PRE_SEALED_KFRAG_BYTES],
                        long *status, mv_buf *resp)
{
    mv_buf body;
    mv_buf_init(&body, MVPU_HDR + deleg->len + MV_PRE_SEALED_KFRAG_BYTES);
    uint8_t hdr[MVPU_HDR] = {'M', 'V', 'P', 'U', 1, (uint8_t)(deleg->len >> 24), (uint8_t)(deleg->len >> 16),
                             (uint8_t)(deleg->len >> 8), (uint8_t)deleg->len};
    mv_err rc;
    if ((rc = mv_buf_append(&body, hdr, sizeof hdr)) == MV_OK && (rc = mv_buf_append(&body, deleg->ptr, deleg->len)) == MV_OK &&
        (rc = mv_buf_append(&body, sealed, MV_PRE_SEALED_KFRAG_BYTES)) == MV_OK)
        rc = mvc_simple(c, c->dep.proxies[i].url, "POST", "/v1/pre/delegations", body.ptr, body.len,
                        "application/octet-stream", status, resp);
    mv_buf_clear(&body);
    return rc;
}

/* Uploads to every proxy. On a 409 (an older delegation of the same label and recipient is
 * active) the older ones are revoked everywhere once and the upload starts again. If a proxy
 * refuses or does not answer, every proxy it was sent to is asked to withdraw it (one that
 * timed out or failed may have stored it), and the error names any that did not confirm. */
static mv_err upload_all(mv_client *c, int kind, const uint8_t label[16], const uint8_t to[32], const mv_buf *deleg,
                         const uint8_t hash[32], const uint8_t *sealed)
{
    char who[300];
    int replaced = 0;
    mv_buf resp;
    mv_err rc = MV_OK;
    mv_buf_init(&resp, 1 << 16);
    size_t sent = 0; /* proxies 0..sent-1 were sent it */
    for (size_t i = 0; i < c->dep.n_proxies; i++) {
        long status = 0;
        mv_buf_reset(&resp);
        if (i + 1 > sent)
            sent = i + 1;
        rc = upload_to(c, i, deleg, sealed + MV_PRE_SEALED_KFRAG_BYTES * i, &status, &resp);
        if (rc == MV_OK && status == 409 && !replaced) {
            uint8_t old[32 * 16];
            size_t n_old = 0;
            replaced = 1;
            if ((rc = find_given(c, kind, label, to, old, 16, &n_old)) != MV_OK)
                break;
            for (size_t j = 0; rc == MV_OK && j < n_old; j++)
                if (memcmp(old + 32 * j, hash, 32) != 0)
                    rc = revoke_everywhere(c, old + 32 * j);
            if (rc != MV_OK)
                break;
            i = (size_t)-1; /* again from proxy 1: those that took it answer 200 */
            continue;
        }
        if (rc != MV_OK) {
            mvc_seterr(c, "%s did not answer (%s)", proxy_name(c, i, who, sizeof who), mv_strerror(rc));
            break;
        }
        if (status != 200 && status != 201) {
            rc = mvc_status_err(c, proxy_name(c, i, who, sizeof who), status, &resp);
            break;
        }
    }
    if (rc != MV_OK && sent) {
        char err[sizeof c->err], kept[200] = "";
        memcpy(err, c->err, sizeof err);
        for (size_t i = 0; i < sent; i++) /* withdrawn: one cloud alone is no delegation */
            if (revoke_at(c, i, hash) != MV_OK) {
                size_t l = strlen(kept);
                snprintf(kept + l, sizeof kept - l, "%s%.80s", l ? ", " : "", proxy_name(c, i, who, sizeof who));
            }
        if (kept[0])
            snprintf(c->err, sizeof c->err, "%.110s; NOT withdrawn from %.80s (revoke again once it answers)", err,
                     kept);
        else
            snprintf(c->err, sizeof c->err, "%.190s; withdrawn from every proxy it was sent to", err);
    }
    mv_buf_clear(&resp);
    return rc;
}

/* Encapsulates every secret under A, splits the re-encryption key for B, signs. */
static mv_err build_delegation(mv_client *c, mv_pre_delegation *d, struct plan *p, const uint8_t a[32],
                               mv_pre_kfrag *kf, mv_buf *out)
{
    uint8_t key[MV_PRE_KEY_BYTES];
    mv_err rc = MV_OK;
    for (size_t i = 0; rc == MV_OK && i < p->n; i++) {
        mv_pre_entry *e = &d->entries[i];
        e->kind = p->s[i].kind;
        memcpy(e->ref, p->s[i].ref, 16);
        if ((rc = mv_pre_encapsulate(d->pk_A, NULL, e->capsule, key)) == MV_OK)
            rc = mv_pre_wrap(key, e->capsule, e->ref, p->s[i].key, e->wrapped);
    }
    mv_wipe(key, sizeof key);
    d->n_entries = p->n;
    if (rc == MV_OK)
        rc = mv_pre_kfrags(a, d->pk_A, d->pk_B, d->t, d->n, NULL, d->X_A, kf);
    for (unsigned i = 0; rc == MV_OK && i < d->n; i++) {
        d->commit[i].proxy = (uint8_t)c->dep.proxies[i].index;
        memcpy(d->commit[i].kfrag_id, kf[i].id, 32);
        memcpy(d->commit[i].U1, kf[i].U1, 32);
    }
    if (rc == MV_OK)
        rc = mv_pre_delegation_sign(d, mv_identity_sign_sk(c->id), out);
    if (rc != MV_OK && !c->err[0])
        mvc_seterr(c, "cannot build the delegation");
    return rc;
}

mv_err mv_client_pre_grant(mv_client *c, int kind, const uint8_t label[static 16], const uint8_t to[static 32],
                           const mv_client_pre_policy *policy, uint8_t hash[32], size_t *n_entries)
{
    uint8_t seed[MV_PRE_SEED_BYTES], a[32], sealed[MV_PRE_MAX_FRAGS * MV_PRE_SEALED_KFRAG_BYTES], h[32];
    char dept[MV_CRED_MAX_DEPT_LEN + 1];
    mv_pre_kfrag kf[MV_PRE_MAX_FRAGS];
    mv_pre_delegation d;
    struct plan p = {0};
    mv_buf deleg;
    mv_err rc;
    if (!c || !label || !to || (kind != MV_PRE_LABEL_EPISODE && kind != MV_PRE_LABEL_RECORD))
        return MV_ERR_INVAL;
    c->err[0] = 0;
    if (n_entries)
        *n_entries = 0;
    if ((rc = need_proxies(c)) != MV_OK)
        return rc;
    memset(&d, 0, sizeof d);
    mv_buf_init(&deleg, MV_PRE_DELEGATION_MAX_BYTES);
    const uint8_t *me = mv_identity_sign_pk(c->id);
    uint8_t role = policy && policy->role ? policy->role : MV_ROLE_DOCTOR;
    if (!memcmp(to, me, 32)) {
        mvc_seterr(c, "a delegation is to somebody else");
        rc = MV_ERR_INVAL;
        goto out;
    }
    if (role & (role - 1)) {
        mvc_seterr(c, "a delegation's policy names one role");
        rc = MV_ERR_INVAL;
        goto out;
    }
    if ((rc = mv_client_pre_key(c, to, d.pk_B, dept, sizeof dept)) != MV_OK)
        goto out;
    const char *dp = policy && policy->department ? policy->department : dept;
    if (!dept_ok(dp)) {
        mvc_seterr(c, dp[0] ? "a department name is 1 to 63 characters of [A-Za-z0-9 _.-]"
                            : "the recipient has no department at the hospital: give --department");
        rc = MV_ERR_INVAL;
        goto out;
    }
    if (!(p.s = mv_secure_alloc(MV_PRE_MAX_CAPSULES * sizeof *p.s)) ||
        !(d.entries = mv_mallocarray(MV_PRE_MAX_CAPSULES, sizeof *d.entries))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    if ((rc = plan_build(c, kind, label, &p)) != MV_OK)
        goto out;
    qsort(p.s, p.n, sizeof *p.s, secret_cmp);
    mv_pre_seed(mv_identity_box_sk(c->id), seed);
    if ((rc = mv_pre_label_key(seed, me, (mv_pre_label_kind)kind, label, a, d.pk_A)) != MV_OK)
        goto out;
    memcpy(d.owner, me, 32);
    d.label_kind = (uint8_t)kind;
    memcpy(d.label, label, 16);
    memcpy(d.recipient, to, 32);
    d.role = role;
    snprintf(d.department, sizeof d.department, "%s", dp);
    d.issued_at = (uint64_t)time(NULL);
    d.expires_at = d.issued_at + (policy && policy->seconds ? policy->seconds : DEFAULT_SECONDS);
    d.t = (uint8_t)c->dep.proxy_threshold;
    d.n = (uint8_t)c->dep.n_proxies;
    if ((rc = build_delegation(c, &d, &p, a, kf, &deleg)) != MV_OK)
        goto out;
    for (unsigned i = 0; rc == MV_OK && i < d.n; i++)
        rc = mv_pre_kfrag_seal(&kf[i], d.commit[i].proxy, c->dep.proxies[i].box_pk,
                               sealed + MV_PRE_SEALED_KFRAG_BYTES * i);
    if (rc != MV_OK)
        goto out;
    mv_pre_delegation_hash(deleg.ptr, deleg.len, h);
    if ((rc = upload_all(c, kind, label, to, &deleg, h, sealed)) != MV_OK)
        goto out;
    if (hash)
        memcpy(hash, h, 32);
    if (n_entries)
        *n_entries = p.n;
out:
    mv_wipe(seed, sizeof seed);
    mv_wipe(a, sizeof a);
    mv_wipe(kf, sizeof kf);
    mv_wipe(sealed, sizeof sealed);
    mv_secure_free(p.s);
    mv_free(d.entries);
    mv_buf_clear(&deleg);
    return rc;
}

mv_err mv_client_pre_revoke(mv_client *c, int kind, const uint8_t label[static 16], const uint8_t to[static 32],
                            size_t *n_revoked)
{
    uint8_t hashes[32 * 16];
    size_t n = 0;
    mv_err rc;
    if (n_revoked)
        *n_revoked = 0;
    if (!c || !label || !to)
        return MV_ERR_INVAL;
    c->err[0] = 0;
    if ((rc = need_proxies(c)) != MV_OK || (rc = find_given(c, kind, label, to, hashes, 16, &n)) != MV_OK)
        return rc;
    if (!n) {
        mvc_seterr(c, "no active delegation of this %s to this user", kind == MV_PRE_LABEL_EPISODE ? "episode" : "record");
        return MV_ERR_NOT_FOUND;
    }
    for (size_t i = 0; i < n; i++) {
        mv_err r = revoke_everywhere(c, hashes + 32 * i);
        if (r != MV_OK && rc == MV_OK)
            rc = r;
    }
    if (n_revoked)
        *n_revoked = n;
    return rc;
}

mv_err mv_client_pre_delegations_json(mv_client *c, mv_buf *out)
{
    mv_json *root = NULL;
    mv_jw w;
    char who[300];
    if (!c || !out)
        return MV_ERR_INVAL;
    c->err[0] = 0;
    mv_err rc = need_proxies(c);
    if (rc == MV_OK)
        rc = get_json(c, c->dep.proxies[0].url, "/v1/pre/delegations", proxy_name(c, 0, who, sizeof who), &root);
    if (rc != MV_OK)
        return rc;
    const uint8_t *me = mv_identity_sign_pk(c->id);
    const mv_json *ds = mv_json_get(root, "delegations");
    mv_buf one;
    mv_buf_init(&one, 1 << 16);
    mv_jw_init(&w, out);
    mv_jw_obj(&w);
    for (int given = 1; given >= 0; given--) {
        mv_jw_key(&w, given ? "given" : "received");
        mv_jw_arr(&w);
        for (size_t i = 0; i < mv_json_len(ds); i++) {
            uint8_t pk[32];
            const mv_json *e = mv_json_at(ds, i);
            if (mv_json_get_hex(e, given ? "owner" : "recipient", pk, 32) != MV_OK || memcmp(pk, me, 32) != 0)
                continue;
            mv_buf_reset(&one);
            if (mv_json_write(&one, e) == MV_OK) /* as the proxy listed it: this process re-serialised it */
                mv_jw_raw(&w, (const char *)one.ptr, one.len);
        }
        mv_jw_arr_end(&w);
    }
    mv_jw_obj_end(&w);
    rc = mv_jw_finish(&w);
    mv_buf_clear(&one);
    mv_json_free(root);
    return rc;
}

/* ---------- the recipient: recovering keys through cfrags ---------- */

int mvc_pre_record_key(mv_client *c, const uint8_t id[16], uint8_t R[32])
{
    return c->pre && mvc_keytab_get(&c->pre->keys, id, R);
}

/* Lists, once per run, the delegations proxy 1 holds with the caller as recipient (hash, owner,
 * label): nothing is fetched yet. A proxy that does not answer the list leaves none: the
 * records then fail as unshared. */
static mv_err load_received(mv_client *c, mvc_pre *p)
{
    const uint8_t *me = mv_identity_sign_pk(c->id);
    mv_json *root = NULL;
    char err[sizeof c->err];
    mv_err rc = MV_OK;
    p->loaded = 1;
    p->loaded_at = (uint64_t)time(NULL);
    memcpy(err, c->err, sizeof err);
    if (get_json(c, c->dep.proxies[0].url, "/v1/pre/delegations", "proxy 1", &root) != MV_OK)
        goto out;
    const mv_json *ds = mv_json_get(root, "delegations");
    size_t n = mv_json_len(ds) < MAX_LISTED ? mv_json_len(ds) : MAX_LISTED;
    if (n && !(p->dl = mv_calloc(n, sizeof *p->dl))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const mv_json *e = mv_json_at(ds, i);
        struct received *r = &p->dl[p->n_dl];
        uint8_t rcpt[32];
        if (mv_json_get_hex(e, "delegation", r->hash, 32) != MV_OK || mv_json_get_hex(e, "owner", r->owner, 32) != MV_OK ||
            mv_json_get_hex(e, "label", r->label, 16) != MV_OK || mv_json_get_u64(e, "label_kind", &r->kind) != MV_OK ||
            mv_json_get_hex(e, "recipient", rcpt, 32) != MV_OK || memcmp(rcpt, me, 32) != 0)
            continue;
        r->state = LISTED;
        p->n_dl++;
    }
out:
    memcpy(c->err, err, sizeof err);
    mv_json_free(root);
    return rc;
}

static mv_err fetch_delegation(mv_client *c, size_t i, const char *hex, struct received *r, char *why, size_t why_cap);

/* Fetches r from proxy 1 and keeps it only if the owner signed it as listed, for this user and
 * her key, split among this deployment's proxies with its threshold. */
static void fetch_received(mv_client *c, struct received *r)
{
    uint8_t b[32], B[32];
    char hex[65], why[200], err[sizeof c->err];
    memcpy(err, c->err, sizeof err);
    r->state = BAD;
    if (my_key(c, b, B) == MV_OK && mv_hex_encode(hex, sizeof hex, r->hash, 32) == MV_OK &&
        fetch_delegation(c, 0, hex, r, why, sizeof why) == MV_OK) {
        const mv_pre_delegation *d = &r->d;
        if (!memcmp(d->recipient, mv_identity_sign_pk(c->id), 32) && !memcmp(d->pk_B, B, 32) &&
            !memcmp(d->owner, r->owner, 32) && !memcmp(d->label, r->label, 16) && d->label_kind == r->kind &&
            d->n == c->dep.n_proxies && d->t == c->dep.proxy_threshold)
            r->state = FETCHED;
    }
    mv_wipe(b, sizeof b);
    memcpy(c->err, err, sizeof err);
}

/* The commitment in d of the proxy with this index, or NULL. */
static const mv_pre_commitment *commitment_of(const mv_pre_delegation *d, unsigned index)
{
    for (unsigned i = 0; i < d->n; i++)
        if (d->commit[i].proxy == index)
            return &d->commit[i];
    return NULL;
}
/* Asks proxy i to re-encrypt r's capsules; on MV_OK cf holds its m cfrags, each verified
 * against its commitment. why receives what went wrong (no patient data). */
static mv_err ask_proxy(mv_client *c, size_t i, const struct received *r, uint8_t *cf, char *why, size_t why_cap)
{
    const mv_pre_delegation *d = &r->d;
    unsigned idx = c->dep.proxies[i].index;
    const mv_pre_commitment *cm = commitment_of(d, idx);
    char body[96], hex[65];
    long status = 0;
    mv_buf resp;
    mv_err rc = mv_hex_encode(hex, sizeof hex, r->hash, 32);
    int n = snprintf(body, sizeof body, "{\"delegation\":\"%s\"}", hex);
    size_t want = MV_PRE_CFRAGS_BYTES(d->n_entries);
    mv_buf_init(&resp, want + (1 << 12));
    if (!cm) {
        snprintf(why, why_cap, "the delegation has no commitment for it");
        rc = MV_ERR_PROTOCOL;
        goto out;
    }
    if (rc == MV_OK)
        rc = mvc_simple(c, c->dep.proxies[i].url, "POST", "/v1/pre/reencrypt", (const uint8_t *)body, (size_t)n,
                        "application/json", &status, &resp);
    if (rc != MV_OK) {
        snprintf(why, why_cap, "no answer (%s)", mv_strerror(rc));
        rc = MV_ERR_UNAVAILABLE;
        goto out;
    }
    if (status != 200) {
        char e[sizeof c->err];
        rc = mvc_status_err(c, "it", status, &resp);
        memcpy(e, c->err, sizeof e);
        snprintf(why, why_cap, "%.150s", e + 3); /* "it answered HTTP ..." without "it " */
        goto out;
    }
    const uint8_t *a = resp.ptr;
    if (resp.len != want || memcmp(a, "MVCF", 4) != 0 || a[4] != 1 || a[5] != idx || memcmp(a + 6, r->hash, 32) != 0 ||
        ((size_t)a[38] << 8 | a[39]) != d->n_entries) {
        snprintf(why, why_cap, "a malformed answer (MVCF)");
        rc = MV_ERR_PROTOCOL;
        goto out;
    }
    for (size_t j = 0; j < d->n_entries; j++) {
        const uint8_t *cfrag = a + 40 + MV_PRE_CFRAG_BYTES * j;
        if (mv_pre_cfrag_verify(d->entries[j].capsule, cfrag, cm->kfrag_id, cm->U1, r->hash) != MV_OK) {
            snprintf(why, why_cap, "a re-encryption whose proof does not verify (capsule %zu of %zu)", j + 1,
                     d->n_entries);
            rc = MV_ERR_VERIFY;
            goto out;
        }
        memcpy(cf + MV_PRE_CFRAG_BYTES * j, cfrag, MV_PRE_CFRAG_BYTES);
    }
out:
    mv_buf_clear(&resp);
    return rc;
}

/* Combines the first t answers in cf (t x m cfrags, answer-major) per capsule of d and opens
 * each wrapped key into keys (32 bytes per entry, secure memory), or with keys NULL only
 * checks that every key opens (share check). */
static mv_err open_entries(mv_client *c, uint8_t *keys, const mv_pre_delegation *d, const uint8_t *cf)
{
    size_t m = d->n_entries;
    uint8_t b[32], B[32], key[MV_PRE_KEY_BYTES], secret[32];
    uint8_t *pick = mv_mallocarray(d->t, MV_PRE_CFRAG_BYTES);
    mv_err rc = pick ? my_key(c, b, B) : MV_ERR_NOMEM;
    for (size_t j = 0; rc == MV_OK && j < m; j++) {
        const mv_pre_entry *e = &d->entries[j];
        for (size_t g = 0; g < d->t; g++)
            memcpy(pick + MV_PRE_CFRAG_BYTES * g, cf + (size_t)MV_PRE_CFRAG_BYTES * (m * g + j), MV_PRE_CFRAG_BYTES);
        if ((rc = mv_pre_decapsulate_frags(b, B, d->pk_A, d->X_A, e->capsule, pick, d->t, key)) != MV_OK ||
            (rc = mv_pre_unwrap(key, e->capsule, e->ref, e->wrapped, secret)) != MV_OK) {
            mvc_seterr(c, "the re-encrypted capsule %zu of a delegation does not open (%s)", j + 1, mv_strerror(rc));
            break;
        }
        if (keys)
            memcpy(keys + 32 * j, secret, 32);
    }
    mv_wipe(b, sizeof b);
    mv_wipe(key, sizeof key);
    mv_wipe(secret, sizeof secret);
    mv_free(pick);
    return rc;
}

/* Recovers every key r's capsules wrap: t verified answers, combined per capsule. */
static mv_err resolve_one(mv_client *c, struct received *r)
{
    const mv_pre_delegation *d = &r->d;
    size_t m = d->n_entries, good = 0;
    uint8_t *cf = mv_mallocarray((size_t)d->n * m, MV_PRE_CFRAG_BYTES);
    uint8_t *keys = mv_secure_alloc(m ? 32 * m : 1);
    char fails[sizeof c->err] = "";
    mv_err rc = MV_OK, worst = MV_OK;
    if (!cf || !keys) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    /* Proxies in order, until t answered with every proof good: a proxy that fails is named,
     * and the next one is asked in its place when there is one (t < n). */
    for (size_t i = 0; i < c->dep.n_proxies && good < d->t; i++) {
        char why[200], who[300];
        mv_err e = ask_proxy(c, i, r, cf + (size_t)MV_PRE_CFRAG_BYTES * m * good, why, sizeof why);
        if (e == MV_OK) {
            good++;
            continue;
        }
        if (worst == MV_OK || e == MV_ERR_VERIFY)
            worst = e;
        size_t l = strlen(fails);
        snprintf(fails + l, sizeof fails - l, "%s%.80s: %.150s", l ? "; " : "", proxy_name(c, i, who, sizeof who), why);
    }
    if (good < d->t) {
        mvc_seterr(c, "the clouds did not re-encrypt the delegation (%zu of the %u needed answered correctly): %.180s",
                   good, (unsigned)d->t, fails);
        rc = worst == MV_ERR_FORBIDDEN || worst == MV_ERR_NOT_FOUND || worst == MV_ERR_VERIFY ? worst
                                                                                                : MV_ERR_UNAVAILABLE;
    } else if ((rc = open_entries(c, keys, d, cf)) == MV_OK) {
        r->keys = keys;
        keys = NULL;
        r->state = RESOLVED;
    }
out:
    mv_secure_free(keys);
    mv_free(cf); /* cfrags open only with the recipient's b */
    return rc;
}

/* 1 if r (listed) covers the record of row (docs/pre.md 7.4): its owner owns the record or is
 * its patient, and its label is the record's episode (kind 1) or id (kind 2). */
static int covers(const struct received *r, const mvc_row *row)
{
    if (memcmp(r->owner, row->owner, 32) != 0 && !(row->has_patient && !memcmp(r->owner, row->patient, 32)))
        return 0;
    if (r->kind == MV_PRE_LABEL_EPISODE)
        return row->has_episode && !memcmp(r->label, row->episode, 16);
    return r->kind == MV_PRE_LABEL_RECORD && !memcmp(r->label, row->id, 16);
}

/* The key that r (resolved, covering the record) gives record w, R, if it opens the envelope:
 * the entry of the record's keyset (kind 1 only, R derived from K) or of the record itself. */
static int key_from(const struct received *r, const mvc_pre_want *w, uint8_t R[32])
{
    mv_envelope_kind kind = 0;
    uint8_t kid[16];
    mv_record rec;
    int ok = 0;
    mv_record_init(&rec);
    if (mv_envelope_kind_of(w->env, w->env_len, &kind, kid) != MV_OK)
        return 0;
    for (size_t j = 0; !ok && j < r->d.n_entries; j++) {
        const mv_pre_entry *e = &r->d.entries[j];
        const uint8_t *key = r->keys + 32 * j;
        if (e->kind == MV_PRE_ENTRY_KEYSET && r->kind == MV_PRE_LABEL_EPISODE && kind == MV_ENVELOPE_MVE2 &&
            !memcmp(e->ref, kid, 16))
            ok = mv_envelope_record_key(w->id, key, R) == MV_OK;
        else if (e->kind == MV_PRE_ENTRY_RECORD && !memcmp(e->ref, w->id, 16)) {
            memcpy(R, key, 32);
            ok = 1;
        }
        /* Only a key that opens the envelope is kept: a wrong one is no key of this record. */
        if (ok)
            ok = mv_envelope_open_with_key(w->id, w->env, w->env_len, R, &rec) == MV_OK;
    }
    mv_record_clear(&rec);
    if (!ok)
        mv_wipe(R, 32);
    return ok;
}

/* The storage server's list rows of the records in w[0..n) (row i for w[i]; found[i] says). */
static mv_err rows_of(mv_client *c, const mvc_pre_want *w, size_t n, mvc_row *rows, int *found)
{
    mv_json *root = NULL;
    mv_err rc = get_json(c, c->dep.storage_url, "/v1/records", "the storage server", &root);
    const mv_json *recs = mv_json_get(root, "records");
    for (size_t i = 0; rc == MV_OK && i < mv_json_len(recs); i++) {
        mvc_row row;
        if ((rc = mvc_record_row(c, mv_json_at(recs, i), &row)) != MV_OK)
            break;
        for (size_t k = 0; k < n; k++)
            if (!found[k] && !memcmp(row.id, w[k].id, 16)) {
                rows[k] = row;
                found[k] = 1;
            }
    }
    mv_json_free(root);
    return rc;
}

mv_err mvc_pre_resolve(mv_client *c, const mvc_pre_want *w, size_t n)
{
    uint8_t R[32];
    mvc_row *rows = NULL;
    int *found = NULL;
    mv_err rc = MV_OK;
    if (!n || !c->dep.n_proxies)
        return MV_OK;
    if (!c->pre && !(c->pre = mv_calloc(1, sizeof *c->pre)))
        return MV_ERR_NOMEM;
    mvc_pre *p = c->pre;
    if (p->loaded && (uint64_t)time(NULL) - p->loaded_at > RELIST_SECONDS)
        drop_listed(p); /* keys already opened stay for the run */
    if (!p->loaded && (rc = load_received(c, p)) != MV_OK)
        return rc;
    if (!p->n_dl)
        return MV_OK;
    if (!(rows = mv_mallocarray(n, sizeof *rows)) || !(found = mv_calloc(n, sizeof *found))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    if ((rc = rows_of(c, w, n, rows, found)) != MV_OK)
        goto out;
    for (size_t i = 0; rc == MV_OK && i < n; i++) {
        if (!found[i] || mvc_pre_record_key(c, w[i].id, R))
            continue;
        for (size_t j = 0; rc == MV_OK && j < p->n_dl; j++) {
            struct received *r = &p->dl[j];
            if (r->state == BAD || !covers(r, &rows[i]))
                continue;
            if (r->state == LISTED)
                fetch_received(c, r);
            if (r->state == FETCHED)
                rc = resolve_one(c, r);
            if (rc == MV_OK && r->state == RESOLVED && key_from(r, &w[i], R)) {
                rc = mvc_keytab_put(&p->keys, w[i].id, R);
                break;
            }
        }
    }
out:
    mv_wipe(R, sizeof R);
    mv_free(rows);
    mv_free(found);
    return rc;
}

/* GET /v1/pre/delegations/{hex} at proxy i into r (parsed, the hash checked). why says what
 * failed. */
static mv_err fetch_delegation(mv_client *c, size_t i, const char *hex, struct received *r, char *why, size_t why_cap)
{
    char path[128];
    long status = 0;
    mv_buf resp;
    mv_buf_init(&resp, MV_PRE_DELEGATION_MAX_BYTES + 1);
    snprintf(path, sizeof path, "/v1/pre/delegations/%.64s", hex);
    mv_err rc = mvc_simple(c, c->dep.proxies[i].url, "GET", path, NULL, 0, NULL, &status, &resp);
    uint8_t got[32];
    if (rc != MV_OK) {
        snprintf(why, why_cap, "no answer (%s)", mv_strerror(rc));
        rc = MV_ERR_UNAVAILABLE;
    } else if (status != 200) {
        rc = mvc_status_err(c, "it", status, &resp);
        snprintf(why, why_cap, "%.150s", c->err + 3);
    } else {
        mv_pre_delegation_hash(resp.ptr, resp.len, got);
        if (memcmp(got, r->hash, 32) != 0 || mv_pre_delegation_parse(resp.ptr, resp.len, &r->d) != MV_OK) {
            snprintf(why, why_cap, "a delegation that is not the one asked for, or does not verify");
            rc = MV_ERR_VERIFY;
        }
    }
    mv_buf_clear(&resp);
    return rc;
}

mv_err mv_client_pre_check_json(mv_client *c, const uint8_t hash[static 32], mv_buf *out)
{
    char hex[65], why[MV_DEPLOY_MAX_PROXIES][200];
    mv_err got[MV_DEPLOY_MAX_PROXIES];
    struct received r;
    uint8_t *cf = NULL;
    mv_jw w;
    if (!c || !hash || !out)
        return MV_ERR_INVAL;
    c->err[0] = 0;
    mv_err rc = need_proxies(c);
    if (rc != MV_OK || (rc = mv_hex_encode(hex, sizeof hex, hash, 32)) != MV_OK)
        return rc;
    memset(&r, 0, sizeof r);
    memcpy(r.hash, hash, 32);
    /* The signed delegation from the first cloud that has it: each cloud is then asked
     * separately, so that a revoked or refused one shows as itself. */
    int have = 0;
    for (size_t i = 0; i < c->dep.n_proxies && !have; i++)
        have = (got[i] = fetch_delegation(c, i, hex, &r, why[i], sizeof why[i])) == MV_OK;
    if (have && !(cf = mv_mallocarray((size_t)r.d.n * r.d.n_entries, MV_PRE_CFRAG_BYTES))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    size_t good = 0;
    for (size_t i = 0; have && i < c->dep.n_proxies; i++)
        if ((got[i] = ask_proxy(c, i, &r, cf + (size_t)MV_PRE_CFRAG_BYTES * r.d.n_entries * good, why[i],
                                sizeof why[i])) == MV_OK)
            good++;
    /* With t good answers, every capsule must open: the whole recipient's path but the records. */
    int open = have && good >= r.d.t && open_entries(c, NULL, &r.d, cf) == MV_OK;
    mv_jw_init(&w, out);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "delegation", hex);
    mv_jw_kbool(&w, "keys_open", open);
    mv_jw_key(&w, "clouds");
    mv_jw_arr(&w);
    for (size_t i = 0; i < c->dep.n_proxies; i++) {
        mv_jw_obj(&w);
        mv_jw_ku64(&w, "proxy", c->dep.proxies[i].index);
        mv_jw_kstr(&w, "url", c->dep.proxies[i].url);
        mv_jw_kbool(&w, "ok", have && got[i] == MV_OK);
        if (!have || got[i] != MV_OK)
            mv_jw_kstr(&w, "error", why[i]);
        mv_jw_obj_end(&w);
    }
    mv_jw_arr_end(&w);
    mv_jw_obj_end(&w);
    rc = mv_jw_finish(&w);
out:
    c->err[0] = 0;
    mv_pre_delegation_clear(&r.d);
    mv_free(cf); /* cfrags open only with the recipient's b: nothing secret */
    return rc;
}
