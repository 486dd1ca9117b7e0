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

/* One record: *changed is 1 if the ACL or envelope changed. */
static mv_err share_one(mv_client *c, const uint8_t id[16], const uint8_t target[32], int grant, int *changed)
{
    const uint8_t *me = mv_identity_sign_pk(c->id);
    uint8_t box[32], list[64][32];
    access *a = mv_malloc(sizeof *a);
    mv_buf env, next;
    mv_err rc;
    *changed = 0;
    mv_buf_init(&env, MAX_ENVELOPE);
    mv_buf_init(&next, MAX_ENVELOPE);
    if (!a)
        return MV_ERR_NOMEM;
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
    if ((rc = mvc_user_box_key(c, target, box)) != MV_OK || (rc = get_envelope(c, id, &env)) != MV_OK)
        goto out;
    size_t n_env = 0;
    uint8_t env_pks[64 * 32];
    if ((rc = mv_envelope_readers(env.ptr, env.len, env_pks, 64, &n_env)) != MV_OK) {
        mvc_seterr(c, "the record's envelope is malformed");
        rc = MV_ERR_VERIFY;
        goto out;
    }
    int in_acl = pk_in(&a->readers[0][0], a->n, target), in_env = pk_in(env_pks, n_env, box);
    if (grant) {
        if (in_acl && in_env)
            goto out; /* nothing to do */
        rc = mv_envelope_add_reader(env.ptr, env.len, mv_identity_box_pk(c->id), mv_identity_box_sk(c->id), box,
                                    &next);
        if (rc == MV_ERR_FORBIDDEN || rc == MV_ERR_VERIFY) {
            mvc_seterr(c, "this user's key does not open the record's envelope");
            rc = MV_ERR_VERIFY;
        }
    } else {
        if (!in_acl && !in_env)
            goto out;
        rc = in_env ? mv_envelope_remove_reader(env.ptr, env.len, box, &next) : mv_buf_append(&next, env.ptr, env.len);
    }
    if (rc != MV_OK)
        goto out;
    size_t n = next_readers(a, grant ? target : NULL, grant ? NULL : target, list);
    if ((rc = post_access(c, id, NULL, &list[0][0], n, &next)) == MV_OK)
        *changed = 1;
out:
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
    const uint8_t *me = mv_identity_sign_pk(c->id);
    mv_err rc = get_json_at(c, c->dep.storage_url, "/v1/records", "the storage server", &status, &root);
    const mv_json *recs = mv_json_get(root, "records");
    for (size_t i = 0; rc == MV_OK && i < mv_json_len(recs); i++) {
        const mv_json *e = mv_json_at(recs, i);
        uint8_t id[16], eb[16], owner[32], patient[32];
        size_t el = 0, pl = 0;
        const char *eh = mv_json_get_str(e, "episode", &el), *ph = mv_json_get_str(e, "patient", &pl);
        if (!eh || !ph || mv_json_get_hex(e, "id", id, 16) != MV_OK || mv_json_get_hex(e, "owner", owner, 32) != MV_OK ||
            (el && mv_hex_decode_exact(eb, 16, eh, el) != MV_OK) || (pl && mv_hex_decode_exact(patient, 32, ph, pl) != MV_OK)) {
            mvc_seterr(c, "the storage server sent a malformed record list");
            rc = MV_ERR_PROTOCOL;
            break;
        }
        if (!el || memcmp(eb, ep, 16) != 0)
            continue;
        if (memcmp(owner, me, 32) != 0 && !(pl && !memcmp(patient, me, 32)))
            continue; /* readable but not ours to share */
        int changed = 0;
        rc = share_one(c, id, target_sign_pk, grant, &changed);
        count += (size_t)changed;
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
    rc = mv_envelope_add_reader(env.ptr, env.len, mv_identity_box_pk(c->id), mv_identity_box_sk(c->id), p->box_pk,
                                &next);
    if (rc == MV_ERR_FORBIDDEN) {
        mvc_seterr(c, "this user's key does not open the record's envelope");
        rc = MV_ERR_VERIFY;
    }
    if (rc != MV_OK)
        goto out;
    size_t n = next_readers(a, NULL, NULL, list);
    rc = post_access(c, id, p->sign_pk, &list[0][0], n, &next);
out:
    if (p)
        mv_wipe(p, sizeof *p);
    mv_free(p);
    mv_free(a);
    mv_buf_clear(&env);
    mv_buf_clear(&next);
    return rc;
}
