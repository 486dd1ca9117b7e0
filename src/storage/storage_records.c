/* storage_records.c - record envelopes behind an ACL: only a reader named by the owner or the
 * patient (or the hospital admin) gets an envelope, only the owner or the admin deletes it, a
 * record may only reference blocks its owner uploaded or proved it holds, and a record names
 * a patient only with that patient's hospital-countersigned delegation to the writing doctor. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_delegation.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"
#include "net/frames.h"
#include "pre_proxy.h"
#include "record_meta.h"
#include "storage_internal.h"

/* Cap on the records one listing answers with (each is about 400 bytes of JSON). */
#define LIST_MAX ((size_t)1 << 20)
/* Delegation owners one listing looks through (a recipient of more sees the first ones'). */
#define PRE_LIST_OWNERS 256

static int is_admin(const mv_credential *cred)
{
    return mv_credential_has_role(cred, MV_ROLE_ADMIN);
}

static int is_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* 1 if the caller may read the record: a named reader (the owner and the patient are), or
 * the admin. */
static int may_read(const mv_credential *cred, const mv_store_record_info *info)
{
    if (is_admin(cred) || memcmp(info->owner, cred->subject, 32) == 0)
        return 1;
    if (!is_zero(info->patient, 32) && memcmp(info->patient, cred->subject, 32) == 0)
        return 1;
    for (size_t i = 0; i < info->n_readers && i < MV_STORE_MAX_READERS; i++)
        if (memcmp(info->readers[i], cred->subject, 32) == 0)
            return 1;
    return 0;
}

/* The keyset id of an MVE2 envelope into kid: kid, or NULL for another kind or a malformed one. */
static const uint8_t *envelope_kid(const uint8_t *env, size_t len, uint8_t kid[16])
{
    mv_envelope_kind kind;
    return mv_envelope_kind_of(env, len, &kind, kid) == MV_OK && kind == MV_ENVELOPE_MVE2 ? kid : NULL;
}

/* 1 if an active delegation held by this server's proxy lets cred read the record (docs/pre.md
 * 7.4): its envelope does not name the recipient, who recovers the key from the capsules. The
 * delegation must name the record (its id, or the keyset of its MVE2 envelope env[0..len)); env
 * NULL: read from the store here. */
static int may_read_delegated(storage_srv *s, const mv_credential *cred, const mv_store_record_info *info,
                              const uint8_t *env, size_t len)
{
    uint8_t kid[16];
    mv_store_record_info again;
    mv_buf b;
    int ok = 0;
    if (!s->pre)
        return 0;
    mv_buf_init(&b, MV_STORE_MAX_ENVELOPE);
    if (env || mv_store_record_get(s->store, info->id, &again, &b) == MV_OK)
        ok = pre_proxy_may_read(s->pre, cred, (uint64_t)time(NULL), info->owner,
                                is_zero(info->patient, 32) ? NULL : info->patient,
                                is_zero(info->episode, 16) ? NULL : info->episode, info->id,
                                env ? envelope_kid(env, len, kid) : envelope_kid(b.ptr, b.len, kid));
    mv_buf_clear(&b);
    return ok;
}

/* may_read, a delegated read, or a honeytoken: answered to any valid caller as to a reader
 * (the guard raised the alert before dispatch), so reading one looks like reading any record.
 * A delegated read is an ordinary read for the guard: never an ACL refusal. env as for
 * may_read_delegated. */
static int may_read_or_honey(storage_srv *s, const mv_credential *cred, const mv_store_record_info *info,
                             const uint8_t *env, size_t len)
{
    return may_read(cred, info) || may_read_delegated(s, cred, info, env, len) ||
           storage_guard_is_honeytoken(s, info->id);
}

static int parse_id(const char *hex, uint8_t id[16], mv_http_response *resp)
{
    if (mv_hex_decode_exact(id, 16, hex, strlen(hex)) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "the path must end in a 32-hex-digit record id");
        return -1;
    }
    return 0;
}

/* ---------- POST /v1/records ---------- */

struct rec {
    mv_store_record_in in;
    char dept[MV_CRED_MAX_DEPT_LEN + 1];
    const uint8_t *delegation;
    uint16_t dglen;
    mv_err verdict; /* MV_OK: send to the store; else the record's result */
};

static const char *record_status(mv_err rc)
{
    switch (rc) {
    case MV_OK: return "stored";
    case MV_ERR_EXISTS: return "exists";
    case MV_ERR_NOT_FOUND: return "missing-block";
    case MV_ERR_FORBIDDEN: return "forbidden";
    case MV_ERR_INVAL: return "invalid";
    case MV_ERR_NOMEM: case MV_ERR_AUTH: case MV_ERR_TOO_LARGE: case MV_ERR_PARSE: case MV_ERR_IO:
    case MV_ERR_CRYPTO: case MV_ERR_BUSY: case MV_ERR_BAD_STATE: case MV_ERR_RATE_LIMITED: case MV_ERR_NET:
    case MV_ERR_TIMEOUT: case MV_ERR_IDENTITY: case MV_ERR_VERIFY: case MV_ERR_EXPIRED: case MV_ERR_REPLAY:
    case MV_ERR_PROTOCOL: case MV_ERR_UNAVAILABLE: case MV_ERR_HTTP: case MV_ERR_MISDIRECTED:
        break;
    }
    return "invalid";
}

/* The delegation rule for a record written for a patient: the delegation verifies under the
 * hospital key at now and names this patient, the caller as doctor, this episode and this
 * department. MV_OK, MV_ERR_INVAL (a delegation on a record with no patient), or
 * MV_ERR_FORBIDDEN. */
static mv_err judge_patient(const storage_srv *s, const mv_credential *cred, const struct rec *rec, uint64_t now)
{
    mv_delegation d;
    mv_err rc = MV_ERR_FORBIDDEN;
    if (is_zero(rec->in.patient, 32))
        return rec->dglen ? MV_ERR_INVAL : MV_OK;
    if (rec->dglen == 0 || mv_delegation_decode(rec->delegation, rec->dglen, &d) != MV_OK)
        return MV_ERR_FORBIDDEN;
    if (mv_delegation_verify(&d, s->cfg->hospital_pk, now) != MV_OK)
        goto out;
    if (!mv_ct_eq(d.patient, rec->in.patient, 32) || !mv_ct_eq(d.doctor, cred->subject, 32) ||
        !mv_ct_eq(d.appointment, rec->in.episode, 16) || strcmp(d.department, rec->dept) != 0)
        goto out;
    rc = MV_OK;
out:
    mv_wipe(&d, sizeof d);
    return rc;
}

void storage_handle_records_put(storage_srv *s, const mv_credential *cred, const mv_http_request *req,
                                mv_http_response *resp)
{
    struct rec *recs = NULL;
    mv_store_record_in *in = NULL;
    mv_err *results = NULL;
    mv_frame_records fr;
    mv_frame_record fx;
    mv_frame_iter it;
    mv_frame_fault fault;
    mv_buf b;
    char msg[128];
    uint32_t count = 0, n_in = 0;
    uint64_t now = (uint64_t)time(NULL), forbidden = 0;
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);

    mv_err frc = mv_frame_records_decode(req->body, req->body_len, &fr, &fault);
    if (frc != MV_OK) {
        mv_frame_respond_fault(resp, frc, &fault);
        goto out;
    }
    /* At most MV_FRAME_MAX_RECORDS records: these arrays stay small whatever the body. */
    count = fr.count;
    recs = mv_calloc(count, sizeof *recs);
    in = mv_calloc(count, sizeof *in);
    results = mv_calloc(count, sizeof *results);
    if (!recs || !in || !results) {
        mv_http_respond_json_error(resp, 503, "out of memory");
        goto out;
    }
    mv_frame_records_iter(&fr, &it);
    for (uint32_t i = 0; i < count && mv_frame_records_next(&it, &fx); i++) {
        struct rec *rec = &recs[i];
        memcpy(rec->dept, fx.dept, fx.dept_len); /* 1..63 bytes without NUL (the decoder checked) */
        rec->dept[fx.dept_len] = 0;
        memcpy(rec->in.id, fx.id, 16);
        memcpy(rec->in.patient, fx.patient, 32);
        memcpy(rec->in.episode, fx.episode, 16);
        rec->delegation = fx.delegation;
        rec->dglen = (uint16_t)fx.delegation_len;
        rec->in.readers = fx.readers;
        rec->in.n_readers = fx.n_readers;
        rec->in.tags = fx.tags;
        rec->in.n_tags = fx.n_tags;
        rec->in.envelope = fx.envelope;
        rec->in.envelope_len = fx.envelope_len;
    }
    for (uint32_t i = 0; i < count; i++) {
        if (!mv_credential_has_department(cred, recs[i].dept)) {
            snprintf(msg, sizeof msg, "record %u: department not in your credential; nothing stored", (unsigned)i);
            mv_http_respond_json_error(resp, 403, msg);
            goto out;
        }
        recs[i].verdict = judge_patient(s, cred, &recs[i], now);
        forbidden += recs[i].verdict == MV_ERR_FORBIDDEN;
        if (recs[i].verdict != MV_OK)
            continue;
        in[n_in] = recs[i].in;
        in[n_in].dept = recs[i].dept;
        memcpy(in[n_in].owner, cred->subject, 32);
        n_in++;
    }
    if (forbidden) {
        storage_count(s, "medvault_storage_delegation_refusals_total",
                      "Patient records refused for a missing or invalid delegation", NULL, forbidden);
        mv_log(MV_LOG_WARN, STORAGE_COMPONENT, "%llu patient records refused: no valid delegation",
               (unsigned long long)forbidden);
    }
    mv_err rc = mv_store_put_records(s->store, in, n_in, results, now);
    if (rc == MV_ERR_TOO_LARGE) {
        mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "store index is full");
        mv_http_respond_json_error(resp, 507, "storage full");
        goto out;
    }
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "record store");
        goto out;
    }
    for (uint32_t i = 0, k = 0; i < count; i++)
        if (recs[i].verdict == MV_OK)
            recs[i].verdict = results[k++];
    for (uint32_t i = 0; i < count; i++)
        if (recs[i].verdict == MV_OK)
            storage_guard_shapes_changed(s, recs[i].in.id, 1);
    uint64_t stored = 0;
    mv_jw w;
    storage_results_open(&w, &b);
    for (uint32_t i = 0; i < count; i++) {
        stored += recs[i].verdict == MV_OK;
        storage_result_status(&w, recs[i].in.id, record_status(recs[i].verdict));
    }
    rc = storage_results_close(&w);
    mv_http_respond_built(resp, rc, 200, &b);
    storage_count(s, "medvault_storage_records_stored_total", "Records stored", NULL, stored);
    storage_count(s, "medvault_storage_records_refused_total", "Records refused (exists, missing block, forbidden, invalid)",
                  NULL, count - stored);
    if (stored)
        storage_update_gauges(s);
out:
    mv_free(recs);
    mv_free(in);
    mv_free(results);
    mv_buf_clear(&b);
}

/* Reads record id's metadata (and, if envelope is not NULL, appends its envelope) for a caller
 * who may read it. Returns 0, or 1 after answering 404 (absent), 403 (not a reader; counted)
 * or a store error. */
static int load_readable(storage_srv *s, const mv_credential *cred, const uint8_t id[16], mv_store_record_info *info,
                         mv_buf *envelope, mv_http_response *resp)
{
    size_t at = envelope ? envelope->len : 0;
    mv_err rc = mv_store_record_get(s->store, id, info, envelope);
    if (rc == MV_ERR_NOT_FOUND) {
        mv_http_respond_json_error(resp, 404, "no such record");
        return 1;
    }
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "record read");
        return 1;
    }
    if (!may_read_or_honey(s, cred, info, envelope ? envelope->ptr + at : NULL, envelope ? envelope->len - at : 0)) {
        storage_count(s, "medvault_storage_acl_denials_total", "Record reads or deletes refused by the ACL", NULL, 1);
        storage_guard_note_denials(s, cred, 1);
        mv_http_respond_json_error(resp, 403, "not a reader of this record");
        return 1;
    }
    return 0;
}

/* ---------- GET /v1/records/{id}, POST /v1/records/get ---------- */

void storage_handle_record_get(storage_srv *s, const mv_credential *cred, const char *hex, mv_http_response *resp)
{
    uint8_t id[16];
    mv_store_record_info info;
    if (parse_id(hex, id, resp))
        return;
    mv_buf_reset(&resp->body);
    if (load_readable(s, cred, id, &info, &resp->body, resp))
        return;
    if (storage_set_record_headers(resp, info.owner, info.patient, info.episode) != MV_OK) {
        mv_http_respond_json_error(resp, 500, "internal error");
        return;
    }
    storage_set_type(resp, 200, "application/octet-stream");
}

void storage_handle_records_get(storage_srv *s, const mv_credential *cred, const mv_http_request *req,
                                mv_http_response *resp)
{
    mv_frame_ids ids;
    mv_frame_fault fault;
    mv_frame_writer w;
    mv_store_record_info info;
    uint64_t denied = 0;
    mv_err rc = mv_frame_records_get_decode(req->body, req->body_len, &ids, &fault);
    if (rc != MV_OK) {
        mv_frame_respond_fault(resp, rc, &fault);
        return;
    }
    mv_buf_reset(&resp->body);
    mv_frame_records_answer_begin(&w, &resp->body);
    for (uint32_t i = 0; i < ids.count && w.rc == MV_OK; i++) {
        /* The envelope is read into the answer; a refused one is wiped from it again. */
        mv_frame_answer_open(&w);
        if (w.rc != MV_OK)
            break;
        size_t at = resp->body.len;
        mv_err grc = mv_store_record_get(s->store, ids.v + 16 * (size_t)i, &info, &resp->body);
        if (grc == MV_ERR_NOT_FOUND) {
            mv_frame_answer_close(&w, MV_FRAME_RECORD_NOT_FOUND);
        } else if (grc != MV_OK) {
            mv_frame_answer_fail(&w, grc);
        } else if (!may_read_or_honey(s, cred, &info, resp->body.ptr + at, resp->body.len - at)) {
            mv_frame_answer_close(&w, MV_FRAME_RECORD_FORBIDDEN);
            denied++;
        } else {
            mv_frame_answer_close(&w, MV_FRAME_RECORD_OK);
        }
    }
    rc = mv_frame_end(&w);
    if (denied) {
        storage_count(s, "medvault_storage_acl_denials_total", "Record reads or deletes refused by the ACL", NULL,
                      denied);
        storage_guard_note_denials(s, cred, denied);
    }
    storage_respond_octets(resp, rc, "the answer would exceed 256 MiB: ask for fewer records", "record read");
}

/* ---------- GET /v1/records ---------- */

struct list_ctx {
    storage_listing_entry *v;
    size_t n, cap;
    /* Set for the pass over a delegation owner's records: only those the delegation covers
     * and that the caller does not already read as a named reader. */
    storage_srv *s;
    const mv_credential *cred;
};

static mv_err list_one(void *ctx, const mv_store_record_info *info)
{
    struct list_ctx *l = ctx;
    if (l->cred && (may_read(l->cred, info) || !may_read_delegated(l->s, l->cred, info, NULL, 0)))
        return MV_OK;
    if (l->n == l->cap && l->cap >= LIST_MAX)
        return MV_ERR_TOO_LARGE;
    mv_err rc = mv_array_grow(&l->v, &l->cap, l->n, sizeof *l->v, 64);
    if (rc != MV_OK)
        return rc;
    storage_listing_entry_of(info, &l->v[l->n++]);
    return MV_OK;
}

void storage_handle_records_list(storage_srv *s, const mv_credential *cred, mv_http_response *resp)
{
    struct list_ctx l = {0};
    mv_buf b;
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);
    mv_err rc = mv_store_record_list(s->store, is_admin(cred) ? NULL : cred->subject, list_one, &l);
    /* Then the records delegations let the caller read: through each owner's (an index lookup
     * by recipient; a recipient has few owners). */
    uint8_t owners[PRE_LIST_OWNERS][32];
    size_t n_owners = rc == MV_OK && s->pre && !is_admin(cred)
                          ? pre_proxy_owners_for(s->pre, cred, (uint64_t)time(NULL), owners, PRE_LIST_OWNERS)
                          : 0;
    l.s = s;
    l.cred = cred;
    for (size_t i = 0; rc == MV_OK && i < n_owners; i++)
        rc = mv_store_record_list(s->store, owners[i], list_one, &l);
    if (rc == MV_ERR_TOO_LARGE) {
        mv_http_respond_json_error(resp, 413, "too many records to list in one answer");
        goto out;
    }
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "record listing");
        goto out;
    }
    rc = storage_write_listing(&b, l.v, l.n);
    mv_http_respond_built(resp, rc, 200, &b);
out:
    mv_free(l.v);
    mv_buf_clear(&b);
}

/* ---------- GET /v1/records/{id}/readers, POST /v1/records/{id}/readers ---------- */

/* Parses "<32 hex>/readers" (the router checked the suffix). */
static int parse_readers_path(const char *arg, uint8_t id[16], mv_http_response *resp)
{
    if (strlen(arg) != 32 + 8 || strcmp(arg + 32, "/readers") != 0 || mv_hex_decode_exact(id, 16, arg, 32) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "the path must be /v1/records/<32 hex>/readers");
        return -1;
    }
    return 0;
}

void storage_handle_record_readers_get(storage_srv *s, const mv_credential *cred, const char *arg,
                                       mv_http_response *resp)
{
    uint8_t id[16];
    mv_store_record_info info;
    mv_buf b;
    if (parse_readers_path(arg, id, resp))
        return;
    if (load_readable(s, cred, id, &info, NULL, resp))
        return;
    mv_buf_init(&b, 1u << 16);
    mv_err rc = storage_write_access(&b, &info);
    mv_http_respond_built(resp, rc, 200, &b);
    mv_buf_clear(&b);
}

void storage_handle_record_readers_set(storage_srv *s, const mv_credential *cred, const char *arg,
                                       const mv_http_request *req, mv_http_response *resp)
{
    uint8_t id[16];
    mv_store_record_info info;
    mv_frame_access a;
    mv_frame_fault fault;
    if (parse_readers_path(arg, id, resp))
        return;
    mv_err rc = mv_frame_access_decode(req->body, req->body_len, &a, &fault);
    if (rc != MV_OK) {
        mv_frame_respond_fault(resp, rc, &fault);
        return;
    }
    int set_patient = a.flags & MV_FRAME_ACCESS_SET_PATIENT;
    rc = mv_store_record_get(s->store, id, &info, NULL);
    if (rc == MV_ERR_NOT_FOUND) {
        mv_http_respond_json_error(resp, 404, "no such record");
        return;
    }
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "record read");
        return;
    }
    int owner = memcmp(info.owner, cred->subject, 32) == 0;
    int is_patient = !is_zero(info.patient, 32) && memcmp(info.patient, cred->subject, 32) == 0;
    if (!owner && !is_patient && !is_admin(cred)) {
        storage_count(s, "medvault_storage_acl_denials_total", "Record reads or deletes refused by the ACL", NULL, 1);
        mv_http_respond_json_error(resp, 403, "only the record's owner, its patient or an admin may change its readers");
        return;
    }
    if (set_patient && !owner) {
        mv_http_respond_json_error(resp, 403, "only the record's owner may name its patient");
        return;
    }
    if (a.envelope_len) {
        /* A keyset stays a keyset and a record a record: a keyset names no block, so an
         * envelope that turned it into a record (or a record into a keyset) would reference
         * blocks it never named or forget those it does (decision 0010). */
        mv_envelope_kind kind;
        if (mv_envelope_kind_of(a.envelope, a.envelope_len, &kind, NULL) != MV_OK ||
            (kind == MV_ENVELOPE_MVK1) != (info.n_tags == 0)) {
            mv_http_respond_json_error(resp, 400, info.n_tags ? "a record's envelope must be MVE1 or MVE2, not a keyset"
                                                              : "a keyset's envelope must be an MVK1 keyset");
            return;
        }
    }
    rc = mv_store_record_set_access(s->store, id, set_patient ? a.patient : NULL, a.readers, a.n_readers, a.envelope,
                                    a.envelope_len);
    if (rc == MV_ERR_EXISTS) {
        mv_http_respond_json_error(resp, 409, "the record already names its patient");
        return;
    }
    if (rc == MV_ERR_INVAL) {
        mv_http_respond_json_error(resp, 400, "too many readers (at most 64 with the owner and the patient)");
        return;
    }
    if (rc == MV_ERR_NOT_FOUND) {
        mv_http_respond_json_error(resp, 404, "no such record");
        return;
    }
    if (rc == MV_OK)
        rc = mv_store_record_get(s->store, id, &info, NULL);
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "record readers update");
        return;
    }
    mv_http_respond_fmt(resp, 200, "{\"readers\":%zu}", info.n_readers);
    storage_count(s, "medvault_storage_acl_updates_total", "Record reader lists replaced", NULL, 1);
    storage_guard_shapes_changed(s, id, 1);
    if (a.envelope_len)
        storage_update_gauges(s);
}

/* ---------- DELETE /v1/records/{id} ---------- */

void storage_handle_record_delete(storage_srv *s, const mv_credential *cred, const char *hex, mv_http_response *resp)
{
    uint8_t id[16];
    mv_store_record_info info;
    char idh[33];
    if (parse_id(hex, id, resp))
        return;
    mv_err rc = mv_store_record_get(s->store, id, &info, NULL);
    if (rc == MV_OK && !is_admin(cred) && memcmp(info.owner, cred->subject, 32) != 0) {
        storage_count(s, "medvault_storage_acl_denials_total", "Record reads or deletes refused by the ACL", NULL, 1);
        mv_http_respond_json_error(resp, 403, "only the owner or an admin may delete a record");
        return;
    }
    if (rc == MV_OK)
        rc = mv_store_record_delete(s->store, id);
    if (rc == MV_ERR_NOT_FOUND) {
        mv_http_respond_json_error(resp, 404, "no such record");
        return;
    }
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "record delete");
        return;
    }
    if (mv_hex_encode(idh, sizeof idh, id, 16) != MV_OK) {
        mv_http_respond_json_error(resp, 500, "internal error");
        return;
    }
    mv_http_respond_fmt(resp, 200, "{\"deleted\":\"%s\"}", idh);
    storage_count(s, "medvault_storage_records_deleted_total", "Records deleted", NULL, 1);
    storage_update_gauges(s);
}

/* ---------- GET /v1/stats, POST /v1/gc ---------- */

void storage_handle_stats(storage_srv *s, mv_http_response *resp)
{
    mv_store_stats st;
    mv_buf b;
    mv_buf_init(&b, 1u << 20);
    mv_err rc = mv_store_get_stats(s->store, &st);
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "stats");
        goto out;
    }
    rc = storage_write_stats(&b, &st);
    mv_http_respond_built(resp, rc, 200, &b);
out:
    mv_buf_clear(&b);
}

void storage_handle_gc(storage_srv *s, const mv_credential *cred, mv_http_response *resp)
{
    mv_store_gc_report rep;
    memset(&rep, 0, sizeof rep);
    if (!is_admin(cred)) {
        mv_http_respond_json_error(resp, 403, "garbage collection is for admins");
        return;
    }
    mv_err rc = mv_store_gc(s->store, (uint64_t)time(NULL), &rep);
    storage_count(s, "medvault_storage_gc_runs_total", "Garbage collection passes", NULL, 1);
    storage_update_gauges(s);
    if (rc != MV_OK) {
        storage_respond_store_error(resp, rc, "gc");
        return;
    }
    mv_http_respond_fmt(resp, 200,
                        "{\"blocks_freed\":%llu,\"bytes_freed\":%llu,\"packs_rewritten\":%llu,\"packs_deleted\":%llu,"
                        "\"claims_expired\":%llu}",
                        (unsigned long long)rep.blocks_freed, (unsigned long long)rep.bytes_freed,
                        (unsigned long long)rep.packs_rewritten, (unsigned long long)rep.packs_deleted,
                        (unsigned long long)rep.claims_expired);
    mv_log(MV_LOG_INFO, STORAGE_COMPONENT, "gc by admin: %llu blocks, %llu bytes freed",
           (unsigned long long)rep.blocks_freed, (unsigned long long)rep.bytes_freed);
}
