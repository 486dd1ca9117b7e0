/* share.c - granting and revoking read access to records: the record key is re-wrapped on the
 * user's machine (only a reader can wrap it for someone else) and the storage server's ACL,
 * which only the owner, the patient or an admin may change, follows the envelope. */
#include "client_internal.h"

#include <stdio.h>
#include <string.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"
#include "net/frames.h"

#define MAX_ENVELOPE (((size_t)1 << 20) + 4096) /* the server's cap, plus one more wrap */

/* ---------- hospital look-ups ---------- */

int mvc_mrn_ok(const char *mrn)
{
    size_t n = mrn ? strlen(mrn) : 0;
    if (n == 0 || n > 31)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = mrn[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return 0;
    }
    return 1;
}

/* GET base+path as JSON: *root on 200; otherwise the mapped HTTP error (last_error set). */
static mv_err get_json_at(mv_client *c, const char *base, const char *path, const char *what, long *status,
                          mv_json **root)
{
    mv_buf resp;
    mv_buf_init(&resp, MV_HTTPC_RESPONSE_MAX);
    *root = NULL;
    *status = 0;
    mv_err rc = mvc_simple(c, base, "GET", path, NULL, 0, NULL, status, &resp);
    if (rc == MV_OK && *status != 200)
        rc = mvc_status_err(c, what, *status, &resp);
    if (rc == MV_OK && mv_json_parse((const char *)resp.ptr, resp.len, NULL, root, NULL) != MV_OK) {
        mvc_seterr(c, "%s sent a malformed answer", what);
        rc = MV_ERR_PROTOCOL;
    }
    mv_buf_clear(&resp);
    return rc;
}

mv_err mvc_patient_lookup(mv_client *c, const char *mrn, mvc_patient *out)
{
    char path[64];
    long status = 0;
    mv_json *root = NULL;
    memset(out, 0, sizeof *out);
    if (!mvc_mrn_ok(mrn)) {
        mvc_seterr(c, "an MRN is 1 to 31 letters, digits or '-'");
        return MV_ERR_INVAL;
    }
    snprintf(path, sizeof path, "/v1/patients/%s", mrn);
    mv_err rc = get_json_at(c, c->dep.hospital_url, path, "the hospital", &status, &root);
    if (rc == MV_ERR_NOT_FOUND && status == 404) {
        c->err[0] = 0;
        return MV_OK; /* not registered: legacy */
    }
    if (rc != MV_OK)
        goto out;
    int reg = 0;
    if (mv_json_bool(mv_json_get(root, "registered"), &reg) != MV_OK || !reg ||
        mv_json_get_hex(root, "sign_public_key", out->sign_pk, 32) != MV_OK ||
        mv_json_get_hex(root, "box_public_key", out->box_pk, 32) != MV_OK) {
        rc = MV_ERR_PROTOCOL;
        goto bad;
    }
    out->registered = 1;
    const mv_json *dg = mv_json_get(root, "delegation");
    if (dg && mv_json_type_of(dg) == MV_JSON_STRING) {
        size_t l = 0;
        const char *b64 = mv_json_str(dg, &l);
        if (mv_delegation_from_b64(b64, l, &out->d) != MV_OK) {
            rc = MV_ERR_PROTOCOL;
            goto bad;
        }
        out->has_delegation = 1;
    }
    goto out;
bad:
    mvc_seterr(c, "the hospital sent a malformed patient record for %s", mrn);
out:
    mv_json_free(root);
    return rc;
}

mv_err mvc_user_box_key(mv_client *c, const uint8_t sign_pk[32], uint8_t box_pk[32])
{
    char path[96], hex[65];
    long status = 0;
    mv_json *root = NULL;
    mv_err rc = mv_hex_encode(hex, sizeof hex, sign_pk, 32);
    if (rc != MV_OK)
        return rc;
    snprintf(path, sizeof path, "/v1/users/%s", hex);
    rc = get_json_at(c, c->dep.hospital_url, path, "the hospital", &status, &root);
    if (rc == MV_OK && mv_json_get_hex(root, "box_public_key", box_pk, 32) != MV_OK) {
        mvc_seterr(c, "the hospital sent a user without a box key");
        rc = MV_ERR_PROTOCOL;
    }
    mv_json_free(root);
    return rc;
}

/* ---------- the record's ACL at the storage server ---------- */

typedef struct access {
    uint8_t owner[32], patient[32], episode[16];
    int has_patient;
    size_t n;
    uint8_t readers[64][32];
} access;

static int pk_in(const uint8_t *set, size_t n, const uint8_t pk[32])
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(set + 32 * i, pk, 32) == 0)
            return 1;
    return 0;
}

/* GET /v1/records/{id}/readers. */
static mv_err get_access(mv_client *c, const uint8_t id[16], access *a)
{
    char path[96], hex[33];
    long status = 0;
    mv_json *root = NULL;
    size_t l = 0;
    memset(a, 0, sizeof *a);
    mv_err rc = mv_hex_encode(hex, sizeof hex, id, 16);
    if (rc != MV_OK)
        return rc;
    snprintf(path, sizeof path, "/v1/records/%s/readers", hex);
    if ((rc = get_json_at(c, c->dep.storage_url, path, "the storage server", &status, &root)) != MV_OK)
        return rc;
    const char *ph = mv_json_get_str(root, "patient", &l);
    const mv_json *arr = mv_json_get(root, "readers");
    rc = MV_ERR_PROTOCOL;
    if (mv_json_get_hex(root, "owner", a->owner, 32) != MV_OK || !ph ||
        (l && mv_hex_decode_exact(a->patient, 32, ph, l) != MV_OK) || mv_json_len(arr) > 64)
        goto out;
    a->has_patient = l != 0;
    a->n = mv_json_len(arr);
    for (size_t i = 0; i < a->n; i++) {
        const char *r = mv_json_str(mv_json_at(arr, i), &l);
        if (!r || mv_hex_decode_exact(a->readers[i], 32, r, l) != MV_OK)
            goto out;
    }
    const char *eh = mv_json_get_str(root, "episode", &l);
    if (!eh || (l && mv_hex_decode_exact(a->episode, 16, eh, l) != MV_OK))
        goto out;
    rc = MV_OK;
out:
    if (rc == MV_ERR_PROTOCOL)
        mvc_seterr(c, "the storage server sent a malformed reader list");
    mv_json_free(root);
    return rc;
}

/* The record's envelope, appended to env. */
static mv_err get_envelope(mv_client *c, const uint8_t id[16], mv_buf *env)
{
    char path[64], hex[33];
    long status = 0;
    mv_err rc = mv_hex_encode(hex, sizeof hex, id, 16);
    if (rc != MV_OK)
        return rc;
    snprintf(path, sizeof path, "/v1/records/%s", hex);
    rc = mvc_simple(c, c->dep.storage_url, "GET", path, NULL, 0, NULL, &status, env);
    if (rc == MV_OK && status != 200)
        rc = mvc_status_err(c, "the storage server", status, env);
    return rc;
}

/* POST /v1/records/{id}/readers (MVA1). patient NULL: keep. */
static mv_err post_access(mv_client *c, const uint8_t id[16], const uint8_t *patient, const uint8_t *readers,
                          size_t n, const mv_buf *env)
{
    char path[96], hex[33];
    long status = 0;
    mv_buf body, resp;
    mv_frame_access a = {
        .flags = patient ? MV_FRAME_ACCESS_SET_PATIENT : 0,
        .patient = patient,
        .readers = readers,
        .n_readers = n,
        .envelope = env->ptr,
        .envelope_len = env->len,
    };
    if (n > MV_FRAME_MAX_ACL)
        return MV_ERR_TOO_LARGE;
    mv_err rc = mv_hex_encode(hex, sizeof hex, id, 16);
    if (rc != MV_OK)
        return rc;
    snprintf(path, sizeof path, "/v1/records/%s/readers", hex);
    mv_buf_init(&body, 64 + 32 * n + env->len);
    mv_buf_init(&resp, 1u << 16);
    if ((rc = mv_frame_access_encode(&a, &body)) == MV_OK)
        rc = mvc_simple(c, c->dep.storage_url, "POST", path, body.ptr, body.len, "application/octet-stream", &status,
                        &resp);
    if (rc == MV_OK && status != 200)
        rc = mvc_status_err(c, "the storage server", status, &resp);
    mv_buf_clear(&body);
    mv_buf_clear(&resp);
    return rc;
}

/* The readers to send: the current ones without the owner and the patient (the server keeps
 * them anyway), then `add` (may be NULL), never `drop` (may be NULL). */
static size_t next_readers(const access *a, const uint8_t *add, const uint8_t *drop, uint8_t out[64][32])
{
    size_t k = 0;
    for (size_t i = 0; i < a->n; i++) {
        const uint8_t *r = a->readers[i];
        if (!memcmp(r, a->owner, 32) || (a->has_patient && !memcmp(r, a->patient, 32)) ||
            (drop && !memcmp(r, drop, 32)))
            continue;
        memcpy(out[k++], r, 32);
    }
    if (add && !pk_in(&out[0][0], k, add) && k < 64)
        memcpy(out[k++], add, 32);
    return k;
}

/* ---------- envelopes under keysets (decision 0010) ---------- */

/* What an envelope says about its readers: its kind, an MVE2 keyset's id and readers, and
 * the keys of its own entries (MVE1 readers, MVE2 extra readers). */
typedef struct env_readers {
    mv_envelope_kind kind;
    uint8_t kid[16];
    size_t n_entries, n_keyset;
    uint8_t entries[64 * 32], keyset[64 * 32];
} env_readers;

/* Reads env's framing and, for MVE2, the readers of its keyset record (public, fetched). */
static mv_err read_readers(mv_client *c, const mv_buf *env, env_readers *er)
{
    mv_err rc;
    memset(er, 0, sizeof *er);
    if (mv_envelope_kind_of(env->ptr, env->len, &er->kind, er->kid) != MV_OK || er->kind == MV_ENVELOPE_MVK1 ||
        mv_envelope_readers(env->ptr, env->len, er->entries, 64, &er->n_entries) != MV_OK) {
        mvc_seterr(c, er->kind == MV_ENVELOPE_MVK1 ? "this id is a keyset, not a record: share its episode instead"
                                                   : "the record's envelope is malformed");
        return er->kind == MV_ENVELOPE_MVK1 ? MV_ERR_INVAL : MV_ERR_VERIFY;
    }
    if (er->kind != MV_ENVELOPE_MVE2)
        return MV_OK;
    mv_buf ks;
    mv_buf_init(&ks, MAX_ENVELOPE);
    rc = get_envelope(c, er->kid, &ks);
    if (rc == MV_OK && mv_envelope_readers(ks.ptr, ks.len, er->keyset, 64, &er->n_keyset) != MV_OK) {
        mvc_seterr(c, "the record's keyset is malformed");
        rc = MV_ERR_VERIFY;
    }
    mv_buf_clear(&ks);
    return rc;
}

/* The record key R of the MVE2 envelope env of record id, for this user: through her own
 * extra entry, or derived from the keyset's K. */
static mv_err record_key(mv_client *c, const uint8_t id[16], const mv_buf *env, const env_readers *er, uint8_t R[32])
{
    uint8_t K[32];
    mv_err rc;
    if (pk_in(er->entries, er->n_entries, mv_identity_box_pk(c->id)))
        rc = mv_envelope2_unwrap(env->ptr, env->len, mv_identity_box_pk(c->id), mv_identity_box_sk(c->id), R);
    else if ((rc = mvc_keyset_get(c, er->kid, K, NULL)) == MV_OK)
        rc = mv_envelope_record_key(id, K, R);
    mv_wipe(K, sizeof K);
    if (rc == MV_ERR_FORBIDDEN || rc == MV_ERR_VERIFY) {
        mvc_seterr(c, "this user's key does not open the record's envelope");
        rc = MV_ERR_VERIFY;
    }
    return rc;
}

/* Appends to next the envelope env of record id with one more reader, box (MVE1: the wrap
 * of the caller's R; MVE2: an extra entry wrapping R, so box never learns the keyset's K). */
static mv_err env_add(mv_client *c, const uint8_t id[16], const mv_buf *env, const env_readers *er,
                      const uint8_t box[32], mv_buf *next)
{
    uint8_t R[32];
    mv_err rc;
    if (er->kind == MV_ENVELOPE_MVE1) {
        rc = mv_envelope_add_reader(env->ptr, env->len, mv_identity_box_pk(c->id), mv_identity_box_sk(c->id), box,
                                    next);
        if (rc == MV_ERR_FORBIDDEN || rc == MV_ERR_VERIFY) {
            mvc_seterr(c, "this user's key does not open the record's envelope");
            rc = MV_ERR_VERIFY;
        }
        return rc;
    }
    if ((rc = record_key(c, id, env, er, R)) == MV_OK)
        rc = mv_envelope2_add_reader(id, env->ptr, env->len, R, box, next);
    mv_wipe(R, sizeof R);
    return rc;
}

/* Revoking box, a keyset reader of the MVE2 record id: it knows K, so the record is sealed
 * again (a new R) under the keyset of the remaining readers, and the other extra readers get
 * the new R. acl (n Ed25519 keys) and a give the keyset record the record's new ACL. Without
 * a department of her own (a patient) the revoker cannot file a keyset: the record is then
 * sealed as MVE1 for the remaining readers (one wrap each; revocation is rare). */
static mv_err reseal_without(mv_client *c, const uint8_t id[16], const mv_buf *env, const env_readers *er,
                             const uint8_t box[32], const access *a, const uint8_t *acl, size_t n, mv_buf *next)
{
    uint8_t R[32], K[32], kid[16], rest[64 * 32];
    size_t n_rest = 0;
    mv_record r;
    mv_err rc;
    mv_record_init(&r);
    for (size_t i = 0; i < er->n_keyset; i++)
        if (memcmp(er->keyset + 32 * i, box, 32) != 0)
            memcpy(rest + 32 * n_rest++, er->keyset + 32 * i, 32);
    if ((rc = record_key(c, id, env, er, R)) != MV_OK ||
        (rc = mv_envelope2_open_with_key(id, env->ptr, env->len, R, &r)) != MV_OK)
        goto out;
    if (!c->dept[0] || n_rest == 0) {
        for (size_t i = 0; i < er->n_entries && n_rest < 64; i++)
            if (memcmp(er->entries + 32 * i, box, 32) != 0 && !pk_in(rest, n_rest, er->entries + 32 * i))
                memcpy(rest + 32 * n_rest++, er->entries + 32 * i, 32);
        if (n_rest == 0) {
            mvc_seterr(c, "the record would have no reader left");
            rc = MV_ERR_BAD_STATE;
            goto out;
        }
        rc = mv_envelope_seal(id, &r, rest, n_rest, next);
        goto out;
    }
    mvc_scope s = {
        .box_pks = rest,
        .n_box = n_rest,
        .readers = acl,
        .n_readers = n,
    };
    /* The keyset is the caller's. It carries no patient (that would need the writer's
     * delegation), hence no episode either (the storage server takes an episode only with a
     * patient): the record's owner and patient read it as listed readers. */
    uint8_t acl2[66 * 32];
    size_t n2 = n;
    memcpy(acl2, acl, 32 * n);
    const uint8_t *keep[2] = {a->owner, a->has_patient ? a->patient : NULL};
    for (size_t i = 0; i < 2; i++)
        if (keep[i] && memcmp(keep[i], mv_identity_sign_pk(c->id), 32) != 0 && !pk_in(acl2, n2, keep[i]) && n2 < 64)
            memcpy(acl2 + 32 * n2++, keep[i], 32);
    s.readers = acl2;
    s.n_readers = n2;
    if ((rc = mvc_keyset_for(c, &s, kid, K, NULL)) != MV_OK)
        goto out;
    mv_buf cur, tmp;
    mv_buf_init(&cur, MAX_ENVELOPE);
    if ((rc = mv_envelope2_seal(id, &r, kid, K, &cur)) == MV_OK && (rc = mv_envelope_record_key(id, K, R)) == MV_OK) {
        for (size_t i = 0; rc == MV_OK && i < er->n_entries; i++) {
            const uint8_t *pk = er->entries + 32 * i;
            if (!memcmp(pk, box, 32) || pk_in(rest, n_rest, pk))
                continue;
            mv_buf_init(&tmp, MAX_ENVELOPE);
            if ((rc = mv_envelope2_add_reader(id, cur.ptr, cur.len, R, pk, &tmp)) == MV_OK) {
                mv_buf_clear(&cur);
                cur = tmp;
            } else {
                mv_buf_clear(&tmp);
            }
        }
    }
    if (rc == MV_OK)
        rc = mv_buf_append(next, cur.ptr, cur.len);
    mv_buf_clear(&cur);
out:
    mv_wipe(R, sizeof R);
    mv_wipe(K, sizeof K);
    mv_record_clear(&r);
    return rc;
}

/* One record: *changed is 1 if the ACL or envelope changed. */
static mv_err share_one(mv_client *c, const uint8_t id[16], const uint8_t target[32], int grant, int *changed)
{
    const uint8_t *me = mv_identity_sign_pk(c->id);
    uint8_t box[32], list[64][32];
    access *a = mv_malloc(sizeof *a);
    env_readers *er = mv_malloc(sizeof *er);
    mv_buf env, next;
    mv_err rc = MV_ERR_NOMEM;
    *changed = 0;
    mv_buf_init(&env, MAX_ENVELOPE);
    mv_buf_init(&next, MAX_ENVELOPE);
    if (!a || !er)
        goto out;
    if ((rc = get_access(c, id, a)) != MV_OK)
        goto out;
    if (memcmp(a->owner, me, 32) != 0 && !(a->has_patient && !memcmp(a->patient, me, 32))) {
        mvc_seterr(c, "only the record's owner or its patient may share it");
        rc = MV_ERR_FORBIDDEN;
        goto out;
    }
    if (!grant && (!memcmp(target, a->owner, 32) || (a->has_patient && !memcmp(target, a->patient, 32)))) {
        mvc_seterr(c, "the record's owner and its patient always keep access");
        rc = MV_ERR_FORBIDDEN;
        goto out;
    }
    if ((rc = mvc_user_box_key(c, target, box)) != MV_OK || (rc = get_envelope(c, id, &env)) != MV_OK ||
        (rc = read_readers(c, &env, er)) != MV_OK)
        goto out;
    int in_acl = pk_in(&a->readers[0][0], a->n, target), in_entry = pk_in(er->entries, er->n_entries, box),
        in_keyset = pk_in(er->keyset, er->n_keyset, box);
    size_t n = next_readers(a, grant ? target : NULL, grant ? NULL : target, list);
    if (grant) {
        if (in_acl && (in_entry || in_keyset))
            goto out; /* nothing to do */
        if (in_entry || in_keyset) {
            rc = post_access(c, id, NULL, &list[0][0], n, &next); /* the ACL alone (env_len 0) */
            goto done;
        }
        rc = env_add(c, id, &env, er, box, &next);
    } else {
        if (!in_acl && !in_entry && !in_keyset)
            goto out;
        if (in_keyset)
            rc = reseal_without(c, id, &env, er, box, a, &list[0][0], n, &next);
        else if (in_entry)
            rc = mv_envelope_remove_reader(env.ptr, env.len, box, &next);
        /* else: in the ACL only; the envelope stays (env_len 0) */
    }
    if (rc != MV_OK)
        goto out;
    rc = post_access(c, id, NULL, &list[0][0], n, &next);
done:
    if (rc == MV_OK)
        *changed = 1;
out:
    mv_free(a);
    mv_free(er);
    mv_buf_clear(&env);
    mv_buf_clear(&next);
    return rc;
}

/* An episode's keyset record kid gains (grant) or loses the reader target (box): its MVK1
 * entries and its ACL. A grant needs K (the caller must be a keyset reader); a removal does
 * not, and does not revoke what target learnt: the records are re-sealed (share_one). The
 * cached scope that mapped to kid is dropped either way (its readers changed). */
static mv_err share_keyset(mv_client *c, const uint8_t kid[16], const uint8_t target[32], int grant, int *changed)
{
    uint8_t box[32], K[32], list[64][32];
    access *a = mv_malloc(sizeof *a);
    mv_buf env, next;
    mv_err rc = MV_ERR_NOMEM;
    *changed = 0;
    mv_buf_init(&env, MAX_ENVELOPE);
    mv_buf_init(&next, MAX_ENVELOPE);
    if (!a)
        goto out;
    if ((rc = get_access(c, kid, a)) != MV_OK || (rc = mvc_user_box_key(c, target, box)) != MV_OK ||
        (rc = get_envelope(c, kid, &env)) != MV_OK)
        goto out;
    if (!memcmp(target, a->owner, 32) || (a->has_patient && !memcmp(target, a->patient, 32)))
        goto out; /* they always keep theirs */
    size_t n_ks = 0;
    uint8_t pks[64 * 32];
    if (mv_envelope_readers(env.ptr, env.len, pks, 64, &n_ks) != MV_OK) {
        mvc_seterr(c, "the episode's keyset is malformed");
        rc = MV_ERR_VERIFY;
        goto out;
    }
    int in_acl = pk_in(&a->readers[0][0], a->n, target), in_ks = pk_in(pks, n_ks, box);
    if (grant ? (in_acl && in_ks) : (!in_acl && !in_ks))
        goto out;
    if (grant && !in_ks) {
        if ((rc = mvc_keyset_get(c, kid, K, NULL)) != MV_OK ||
            (rc = mv_keyset_add_reader(env.ptr, env.len, K, box, &next)) != MV_OK)
            goto out;
    } else if (!grant && in_ks) {
        rc = mv_envelope_remove_reader(env.ptr, env.len, box, &next);
        if (rc == MV_ERR_BAD_STATE)
            goto out; /* its last reader: nothing else reads through it */
        if (rc != MV_OK)
            goto out;
    }
    size_t n = next_readers(a, grant ? target : NULL, grant ? NULL : target, list);
    if ((rc = post_access(c, kid, NULL, &list[0][0], n, &next)) == MV_OK)
        *changed = 1;
    mvc_keyset_forget(c, kid);
out:
    if (rc == MV_ERR_BAD_STATE)
        rc = MV_OK;
    mv_wipe(K, sizeof K);
    mv_free(a);
    mv_buf_clear(&env);
    mv_buf_clear(&next);
    return rc;
}

mv_err mv_client_share(mv_client *c, const uint8_t id[static MV_CLIENT_ID_BYTES], const uint8_t target_sign_pk[static 32],
                       int grant)
{
    int changed = 0;
    if (!c || !id || !target_sign_pk)
        return MV_ERR_INVAL;
    c->err[0] = 0;
    return share_one(c, id, target_sign_pk, grant, &changed);
}

mv_err mvc_record_row(mv_client *c, const mv_json *e, mvc_row *out)
{
    size_t el = 0, pl = 0;
    const char *eh = mv_json_get_str(e, "episode", &el), *ph = mv_json_get_str(e, "patient", &pl);
    memset(out, 0, sizeof *out);
    out->blocks = 1;
    if (!eh || !ph || mv_json_get_hex(e, "id", out->id, 16) != MV_OK ||
        mv_json_get_hex(e, "owner", out->owner, 32) != MV_OK ||
        (el && mv_hex_decode_exact(out->episode, 16, eh, el) != MV_OK) ||
        (pl && mv_hex_decode_exact(out->patient, 32, ph, pl) != MV_OK) ||
        mv_json_get_u64(e, "blocks", &out->blocks) != MV_OK) {
        mvc_seterr(c, "the storage server sent a malformed record list");
        return MV_ERR_PROTOCOL;
    }
    out->has_episode = el != 0;
    out->has_patient = pl != 0;
    return MV_OK;
}

int mvc_row_is_mine(const mv_client *c, const mvc_row *r)
{
    const uint8_t *me = mv_identity_sign_pk(c->id);
    return !memcmp(r->owner, me, 32) || (r->has_patient && !memcmp(r->patient, me, 32));
}

mv_err mv_client_share_episode(mv_client *c, const char *appointment_hex, const uint8_t target_sign_pk[static 32],
                               int grant, size_t *n_changed)
{
    uint8_t ep[16];
    long status = 0;
    mv_json *root = NULL;
    size_t count = 0;
    if (n_changed)
        *n_changed = 0;
    if (!c || !appointment_hex || !target_sign_pk)
        return MV_ERR_INVAL;
    c->err[0] = 0;
    if (mv_hex_decode_exact(ep, 16, appointment_hex, strlen(appointment_hex)) != MV_OK) {
        mvc_seterr(c, "an appointment id is 32 hex digits");
        return MV_ERR_INVAL;
    }
    mv_err rc = get_json_at(c, c->dep.storage_url, "/v1/records", "the storage server", &status, &root);
    const mv_json *recs = mv_json_get(root, "records");
    /* A grant adds the reader to the episode's keysets first, so each record then needs only
     * its ACL; a revocation re-seals the records first (while the caller still reads their
     * keysets), then drops the reader from the keysets (decision 0010). */
    for (int pass = 0; rc == MV_OK && pass < 2; pass++) {
        int keysets_now = grant ? pass == 0 : pass == 1;
        for (size_t i = 0; rc == MV_OK && i < mv_json_len(recs); i++) {
            mvc_row row;
            if ((rc = mvc_record_row(c, mv_json_at(recs, i), &row)) != MV_OK)
                break;
            if (!row.has_episode || memcmp(row.episode, ep, 16) != 0 || (row.blocks == 0) != keysets_now)
                continue;
            if (!mvc_row_is_mine(c, &row))
                continue; /* readable but not ours to share */
            int changed = 0;
            if (keysets_now) {
                rc = share_keyset(c, row.id, target_sign_pk, grant, &changed);
            } else {
                rc = share_one(c, row.id, target_sign_pk, grant, &changed);
                count += (size_t)changed;
            }
        }
    }
    mv_json_free(root);
    if (n_changed)
        *n_changed = count;
    return rc;
}

mv_err mv_client_grant_patient(mv_client *c, const uint8_t id[static MV_CLIENT_ID_BYTES], const char *mrn)
{
    mvc_patient *p = NULL;
    access *a = NULL;
    env_readers *er = NULL;
    uint8_t list[64][32];
    mv_buf env, next;
    mv_err rc;
    if (!c || !id || !mrn)
        return MV_ERR_INVAL;
    c->err[0] = 0;
    mv_buf_init(&env, MAX_ENVELOPE);
    mv_buf_init(&next, MAX_ENVELOPE);
    p = mv_malloc(sizeof *p);
    a = mv_malloc(sizeof *a);
    rc = MV_ERR_NOMEM;
    if (!p || !a)
        goto out;
    if ((rc = mvc_patient_lookup(c, mrn, p)) != MV_OK)
        goto out;
    if (!p->registered) {
        mvc_seterr(c, "no patient with MRN %s is registered", mrn);
        rc = MV_ERR_NOT_FOUND;
        goto out;
    }
    if ((rc = get_access(c, id, a)) != MV_OK)
        goto out;
    if (memcmp(a->owner, mv_identity_sign_pk(c->id), 32) != 0) {
        mvc_seterr(c, "only the record's owner may name its patient");
        rc = MV_ERR_FORBIDDEN;
        goto out;
    }
    if (a->has_patient) {
        mvc_seterr(c, "the record already names its patient");
        rc = MV_ERR_EXISTS;
        goto out;
    }
    if ((rc = get_envelope(c, id, &env)) != MV_OK)
        goto out;
    if ((er = mv_malloc(sizeof *er)) == NULL) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    if ((rc = read_readers(c, &env, er)) != MV_OK || (rc = env_add(c, id, &env, er, p->box_pk, &next)) != MV_OK)
        goto out;
    size_t n = next_readers(a, NULL, NULL, list);
    rc = post_access(c, id, p->sign_pk, &list[0][0], n, &next);
out:
    if (p)
        mv_wipe(p, sizeof *p);
    mv_free(p);
    mv_free(a);
    mv_free(er);
    mv_buf_clear(&env);
    mv_buf_clear(&next);
    return rc;
}
