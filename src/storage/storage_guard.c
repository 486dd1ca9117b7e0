/* storage_guard.c - the primary never answers a suspicious request with a revealing error: failed
 * authentication and principals who fail step-up get the decoy cloud's answer, honeytoken reads
 * and every decoy served raise an alert, and a clinician with a valid step-up grant always gets
 * real data (docs/guard.md). A key that did not prove itself by a valid signature selects no
 * real record and no real metadata: it only chooses among invented decoys. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "medvault/mv_alert.h"
#include "medvault/mv_box.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_decoy.h"
#include "medvault/mv_file.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"
#include "medvault/mv_stepup.h"
#include "net/frames.h"
#include "storage_guard.h"
#include "storage_internal.h"

/* ---------- state ---------- */

/* The profile of subject, created if missing (NULL when the table is full). Lock held. */
guard_profile *guard_profile_of(storage_guard *g, const uint8_t subject[32])
{
    size_t lo = 0, hi = g->n_prof;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(g->prof[mid].subject, subject, 32);
        if (c == 0)
            return &g->prof[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (g->n_prof == GUARD_MAX_PROFILES)
        return NULL;
    if (mv_array_grow(&g->prof, &g->cap_prof, g->n_prof, sizeof *g->prof, 64) != MV_OK)
        return NULL;
    memmove(&g->prof[lo + 1], &g->prof[lo], (g->n_prof - lo) * sizeof *g->prof);
    g->n_prof++;
    guard_profile_init(&g->prof[lo], subject);
    return &g->prof[lo];
}

static int honeytoken_locked(const storage_guard *g, const uint8_t id[16])
{
    return g->n_ht && bsearch(id, g->ht, g->n_ht, sizeof *g->ht, cmp_id16) != NULL;
}

/* ---------- shapes ---------- */

static int key_reads(const uint8_t key[32], const mv_store_record_info *info);

/* The public part of a stored envelope (mv_record.h's one parser of the three framings): its
 * kind, keyset id (an MVK1 keyset's is its record id) and reader keys, into out. */
static mv_err envelope_public(const mv_buf *env, mv_decoy_shape *out, size_t *n_readers)
{
    mv_envelope_kind kind;
    mv_err rc = mv_envelope_kind_of(env->ptr, env->len, &kind, out->kid);
    if (rc != MV_OK)
        return rc;
    switch (kind) {
    case MV_ENVELOPE_MVE2:
        out->kind = MV_DECOY_MVE2;
        break;
    case MV_ENVELOPE_MVK1:
        out->kind = MV_DECOY_MVK1;
        memcpy(out->kid, out->id, 16);
        break;
    case MV_ENVELOPE_MVE1:
        out->kind = MV_DECOY_MVE1;
        memset(out->kid, 0, 16);
        break;
    }
    return mv_envelope_readers(env->ptr, env->len, &out->readers[0][0], MV_DECOY_MAX_READERS, n_readers);
}

/* The shape of record id from the store: metadata, the envelope's reader keys and each
 * block's cipher length in tag order. MV_ERR_NOT_FOUND if the record is gone, if reader (not
 * NULL) may not read it, or if it was created after created_max. */
static mv_err shape_of(storage_srv *s, const uint8_t id[16], const uint8_t *reader, uint64_t created_max,
                       mv_decoy_shape *out)
{
    mv_store_record_info info;
    mv_buf env;
    uint8_t *tags = NULL;
    size_t n_tags = 0, n_readers = 0;
    mv_err rc;
    mv_decoy_shape_clear(out);
    mv_buf_init(&env, MV_STORE_MAX_ENVELOPE);
    if ((rc = mv_store_record_get(s->store, id, &info, &env)) != MV_OK)
        goto out;
    rc = MV_ERR_NOT_FOUND;
    if ((reader && !key_reads(reader, &info)) || info.created > created_max)
        goto out; /* no record of another reader's, or made after the caller's credential ran out */
    memcpy(out->id, id, 16);
    /* Departments come from credentials (at most 63 bytes); a longer one cannot occur. */
    size_t dl = strnlen(info.dept, sizeof out->department - 1);
    memcpy(out->department, info.dept, dl);
    out->department[dl] = 0;
    out->created = info.created;
    memcpy(out->owner, info.owner, 32);
    memcpy(out->patient, info.patient, 32);
    memcpy(out->episode, info.episode, 16);
    out->env_len = (uint32_t)env.len;
    if ((rc = envelope_public(&env, out, &n_readers)) != MV_OK)
        goto out;
    rc = MV_ERR_PARSE;
    if (n_readers > MV_DECOY_MAX_READERS || (n_readers == 0 && out->kind != MV_DECOY_MVE2))
        goto out;
    out->n_readers = (uint8_t)n_readers;
    if ((rc = mv_store_record_tags(s->store, id, NULL, 0, &n_tags)) != MV_OK && rc != MV_ERR_TOO_LARGE)
        goto out;
    rc = MV_ERR_NOMEM;
    if (n_tags && (!(tags = mv_mallocarray(n_tags, 32)) || !(out->block_len = mv_mallocarray(n_tags, sizeof(uint32_t)))))
        goto out;
    if (n_tags && (rc = mv_store_record_tags(s->store, id, tags, n_tags, &n_tags)) != MV_OK)
        goto out;
    for (size_t i = 0; i < n_tags; i++) {
        uint64_t len = 0;
        if ((rc = mv_store_block_info(s->store, tags + 32 * i, &len, NULL)) != MV_OK)
            goto out;
        out->block_len[i] = (uint32_t)len;
    }
    out->n_blocks = (uint32_t)n_tags;
    rc = MV_OK;
out:
    mv_free(tags);
    mv_buf_clear(&env);
    if (rc != MV_OK)
        mv_decoy_shape_clear(out);
    return rc;
}

/* ---------- the ids a request names ---------- */

typedef struct named_ids {
    uint8_t (*ids)[16];
    size_t n;
} named_ids;

/* Collects the record ids request r names (GET/DELETE record, readers, MVQ1). Malformed
 * requests name nothing. Returns MV_ERR_NOMEM only. */
static mv_err ids_named(enum storage_route r, const char *arg, const mv_http_request *req, named_ids *out)
{
    out->ids = NULL;
    out->n = 0;
    switch (r) {
    case R_RECORD_GET:
    case R_RECORD_DELETE:
    case R_RECORD_READERS_GET:
    case R_RECORD_READERS_SET: {
        uint8_t id[16];
        if (!arg || strlen(arg) < 32 || mv_hex_decode_exact(id, 16, arg, 32) != MV_OK)
            return MV_OK;
        if (r == R_RECORD_GET || r == R_RECORD_DELETE ? arg[32] != 0 : strcmp(arg + 32, "/readers") != 0)
            return MV_OK;
        if (!(out->ids = mv_malloc(16)))
            return MV_ERR_NOMEM;
        memcpy(out->ids[0], id, 16);
        out->n = 1;
        return MV_OK;
    }
    case R_RECORDS_GET: {
        mv_frame_ids q;
        if (mv_frame_records_get_decode(req->body, req->body_len, &q, NULL) != MV_OK)
            return MV_OK;
        if (!(out->ids = mv_mallocarray(q.count, 16)))
            return MV_ERR_NOMEM;
        memcpy(out->ids, q.v, (size_t)q.count * 16);
        out->n = q.count;
        return MV_OK;
    }
    case R_NONE:
    case R_DUPCHECK:
    case R_BLOCKS_PUT:
    case R_BLOCKS_GET:
    case R_BLOCK_GET:
    case R_RECORDS_PUT:
    case R_RECORDS_LIST:
    case R_STATS:
    case R_GC:
    case R_HONEYTOKENS_PUT:
    case R_HONEYTOKENS_GET:
    case R_AUDIT:
    case R_GROUP_OPS:
    case R_GROUP_RECORD_DELETE:
    case R_GROUP_HISTORY:
        break;
    }
    return MV_OK;
}

static int route_reads(enum storage_route r)
{
    return r == R_RECORD_GET || r == R_RECORDS_GET || r == R_RECORD_READERS_GET;
}

/* ---------- alerts ---------- */

static void raise_alert(storage_guard *g, const char *kind, const uint8_t *principal, const char *address,
                        const char *object, const char *reason)
{
    mv_alert a;
    mv_alert_fill(&a, (uint64_t)time(NULL), "storage", kind, principal, address, object, reason);
    mv_alert_report(g->alerts, &a);
    char labels[96];
    snprintf(labels, sizeof labels, "kind=\"%s\"", kind);
    storage_count(g->s, "medvault_storage_alerts_total", "Alerts raised by the guard", labels, 1);
}

/* The alert's object: the first named record id, else the endpoint path (no query). */
static void object_of(const named_ids *ids, const mv_http_request *req, char out[MV_ALERT_FIELD])
{
    if (ids->n && mv_hex_encode(out, MV_ALERT_FIELD, ids->ids[0], 16) == MV_OK)
        return;
    snprintf(out, MV_ALERT_FIELD, "%s %s", req->method, req->path);
}

/* ---------- forwarding to the decoy cloud ---------- */

struct shape_list {
    mv_decoy_shape *v;
    size_t n, cap;
};

/* 1 if key may read the record (owner, patient or reader; the ACL of storage_records.c). */
static int key_reads(const uint8_t key[32], const mv_store_record_info *info)
{
    if (memcmp(info->owner, key, 32) == 0 || memcmp(info->patient, key, 32) == 0)
        return 1;
    for (size_t i = 0; i < info->n_readers && i < MV_STORE_MAX_READERS; i++)
        if (memcmp(info->readers[i], key, 32) == 0)
            return 1;
    return 0;
}

/* Appends the shape of id (for reader, or NULL: any; created at most at created_max) to l; a
 * record that is gone, that reader may not read or that is newer is skipped. */
static mv_err shapes_add(storage_srv *s, struct shape_list *l, const uint8_t id[16], const uint8_t *reader,
                         uint64_t created_max)
{
    if (l->n == l->cap && l->cap * 2 > MV_DECOY_MAX_SHAPES) /* the next doubling would pass the frame's cap */
        return MV_ERR_TOO_LARGE;
    mv_err rc = mv_array_grow(&l->v, &l->cap, l->n, sizeof *l->v, 16);
    if (rc != MV_OK)
        return rc;
    mv_decoy_shape_init(&l->v[l->n]);
    rc = shape_of(s, id, reader, created_max, &l->v[l->n]);
    if (rc == MV_OK)
        l->n++;
    return rc == MV_ERR_NOT_FOUND || rc == MV_ERR_PARSE ? MV_OK : rc;
}

static void shapes_free(struct shape_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        mv_decoy_shape_clear(&l->v[i]);
    mv_free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

struct list_ids {
    uint8_t (*ids)[16];
    size_t n, cap;
};

static mv_err collect_id(void *ctx, const mv_store_record_info *info)
{
    struct list_ids *l = ctx;
    if (l->n == l->cap && l->cap * 2 > MV_DECOY_MAX_SHAPES) /* the next doubling would pass the frame's cap */
        return MV_ERR_TOO_LARGE;
    mv_err rc = mv_array_grow(&l->ids, &l->cap, l->n, sizeof *l->ids, 64);
    if (rc != MV_OK)
        return rc;
    memcpy(l->ids[l->n++], info->id, 16);
    return MV_OK;
}

/* The shapes a forwarded request carries. For a caller that proved its key (reader: revoked,
 * expired or in decoy mode for its profile; admin: may read everything), the records it names
 * that it may read and, for a listing, its records, none created after created_max (an expired
 * or revoked caller's credential's end: it never saw newer ones), plus the honeytokens it names
 * or, for a listing, every honeytoken. For an unverified caller (reader NULL) no record: a
 * listing carries the honeytokens, as ids the decoy cloud mixes into invented listings. */
static mv_err forward_shapes(storage_guard *g, enum storage_route r, const named_ids *ids, const uint8_t *reader,
                             int admin, uint64_t created_max, struct shape_list *out)
{
    storage_srv *s = g->s;
    mv_err rc = MV_OK;
    for (size_t i = 0; rc == MV_OK && reader && i < ids->n; i++) {
        pthread_mutex_lock(&g->lock);
        int honey = honeytoken_locked(g, ids->ids[i]);
        pthread_mutex_unlock(&g->lock);
        rc = shapes_add(s, out, ids->ids[i], honey || admin ? NULL : reader, honey ? UINT64_MAX : created_max);
    }
    if (rc != MV_OK || r != R_RECORDS_LIST)
        return rc;
    struct list_ids l = {0};
    pthread_mutex_lock(&g->lock);
    for (size_t i = 0; rc == MV_OK && i < g->n_ht; i++) {
        mv_store_record_info info;
        memset(&info, 0, sizeof info);
        memcpy(info.id, g->ht[i].id, 16);
        rc = collect_id(&l, &info);
    }
    size_t n_honey = l.n;
    pthread_mutex_unlock(&g->lock);
    if (rc == MV_OK && reader)
        rc = mv_store_record_list(s->store, reader, collect_id, &l);
    for (size_t i = 0; rc == MV_OK && i < l.n; i++)
        rc = shapes_add(s, out, l.ids[i], NULL, i < n_honey ? UINT64_MAX : created_max);
    mv_free(l.ids);
    return rc;
}

/* Takes one unverified forward from remote's budget and a place among the forwards of
 * unverified callers in progress (at most half the worker threads, so they never occupy every
 * worker of real callers). 1: go on (call unverified_leave after); 0: over a budget. */
static int unverified_enter(storage_guard *g, const char *remote)
{
    uint8_t h[crypto_shorthash_BYTES];
    size_t n = strnlen(remote ? remote : "", sizeof g->buckets[0].addr - 1);
    int ok = 1;
    double now = mv_mono_seconds();
    crypto_shorthash(h, (const unsigned char *)(remote ? remote : ""), n, g->addr_key);
    size_t at = ((size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16) % GUARD_ADDR_SLOTS;
    pthread_mutex_lock(&g->alock);
    struct addr_bucket *b = &g->buckets[at];
    if (strncmp(b->addr, remote ? remote : "", sizeof b->addr) != 0) {
        /* A new or colliding address takes the slot with a full bucket: a collision can only
         * give an attacker a fresh burst, never take one from anybody else for long. */
        memcpy(b->addr, remote ? remote : "", n);
        b->addr[n] = 0;
        b->tokens = GUARD_UNVERIFIED_BURST;
        b->last = now;
    }
    b->tokens += (now - b->last) * GUARD_UNVERIFIED_RATE;
    b->last = now;
    if (b->tokens > GUARD_UNVERIFIED_BURST)
        b->tokens = GUARD_UNVERIFIED_BURST;
    if (b->tokens < 1.0 || g->unverified_in_flight >= g->unverified_max)
        ok = 0;
    else {
        b->tokens -= 1.0;
        g->unverified_in_flight++;
    }
    pthread_mutex_unlock(&g->alock);
    return ok;
}

static void unverified_leave(storage_guard *g)
{
    pthread_mutex_lock(&g->alock);
    g->unverified_in_flight--;
    pthread_mutex_unlock(&g->alock);
}

static const char *label_of_reason(uint8_t reason);

/* Answers resp from the decoy cloud. Returns 1 if it did, 0 if the decoy cloud is not
 * configured or unreachable (logged; the caller answers what the real server would). */
/* reader: the key that proved itself (NULL for an unverified caller); selector: the key the
 * frame names (an unverified caller's claim only selects invented decoys); admin: reader is an
 * admin's. */
static int forward(storage_guard *g, const mv_http_request *req, enum storage_route r, const named_ids *ids,
                   uint8_t reason, const uint8_t *reader, const uint8_t *selector, int admin, uint64_t created_max,
                   mv_http_response *resp)
{
    storage_srv *s = g->s;
    struct shape_list shapes = {0};
    mv_decoy_forward f;
    mv_httpc_call call;
    mv_buf frame;
    char url[MV_REVOCATION_URL_MAX + 32];
    int done = 0;
    mv_err rc;
    mv_httpc_call_init(&call);
    mv_buf_init(&frame, MV_HTTP_RESPONSE_MAX);
    if (!s->cfg->decoy_url[0] || !g->id || !mv_identity_credential(g->id))
        goto out;
    if ((rc = forward_shapes(g, r, ids, reader, admin, created_max, &shapes)) != MV_OK) {
        mv_log(MV_LOG_WARN, STORAGE_COMPONENT, "decoy forward: shapes: %s", mv_strerror(rc));
        goto out;
    }
    mv_decoy_forward_init(&f);
    f.reason = reason;
    if (selector)
        memcpy(f.principal, selector, 32);
    snprintf(f.method, sizeof f.method, "%s", req->method);
    f.path = req->path_and_query;
    f.path_len = strlen(req->path_and_query);
    f.body = req->body_len ? req->body : NULL;
    f.body_len = req->body_len;
    f.shapes = shapes.v;
    f.n_shapes = shapes.n;
    if ((rc = mv_decoy_forward_encode(&f, &frame)) != MV_OK) {
        mv_log(MV_LOG_WARN, STORAGE_COMPONENT, "decoy forward: frame: %s", mv_strerror(rc));
        goto out;
    }
    snprintf(url, sizeof url, "%s/v1/decoy", s->cfg->decoy_url);
    static const char *const hdrs[] = {"Content-Type: application/octet-stream", NULL};
    call.method = "POST";
    call.url = url;
    call.headers = hdrs;
    call.body = frame.ptr;
    call.body_len = frame.len;
    call.timeout_ms = GUARD_FORWARD_TIMEOUT_MS;
    call.keep_prefix = "MV-Record-";
    call.response.max = MV_HTTP_RESPONSE_MAX;
    if ((rc = mv_httpc_sign(&call, mv_identity_sign_pk(g->id), mv_identity_sign_sk(g->id),
                            mv_identity_credential(g->id), (uint64_t)time(NULL))) != MV_OK ||
        (rc = mv_httpc_run(&call, 1)) != MV_OK || (rc = call.rc) != MV_OK) {
        mv_log(MV_LOG_WARN, STORAGE_COMPONENT, "decoy cloud unreachable: %s", mv_strerror(rc));
        goto out;
    }
    /* The decoy cloud refusing the primary itself (401/403 to our signature) or failing is
     * not an answer to relay. */
    if (call.status < 200 || call.status == 401 || call.status >= 500) {
        mv_log(MV_LOG_WARN, STORAGE_COMPONENT, "decoy cloud answered %ld", call.status);
        goto out;
    }
    mv_buf_reset(&resp->body);
    resp->n_headers = 0;
    if (call.response.len && mv_buf_append(&resp->body, call.response.ptr, call.response.len) != MV_OK)
        goto out;
    for (size_t i = 0; i < call.n_kept; i++)
        if (mv_http_response_header(resp, call.kept_names[i], call.kept_values[i]) != MV_OK)
            goto out;
    resp->status = (int)call.status;
    snprintf(resp->content_type, sizeof resp->content_type, "%s",
             call.content_type[0] ? call.content_type : "application/octet-stream");
    storage_count(s, "medvault_storage_decoys_served_total", "Answers relayed from the decoy cloud", NULL, 1);
    /* The audit log (read by the hospital's admins, never by the caller) says what happened. */
    char note[32];
    snprintf(note, sizeof note, "decoy:%s", label_of_reason(reason));
    if (mv_http_response_audit_note(resp, note) != MV_OK)
        mv_log(MV_LOG_WARN, STORAGE_COMPONENT, "audit note dropped");
    done = 1;
out:
    if (!done) {
        mv_buf_reset(&resp->body);
        resp->n_headers = 0;
    }
    shapes_free(&shapes);
    mv_httpc_call_clear(&call);
    mv_buf_clear(&frame);
    return done;
}

/* ---------- hooks called by handler() ---------- */

static const char *label_of_reason(uint8_t reason)
{
    switch (reason) {
    case MV_DECOY_UNAUTHENTICATED: return "unauthenticated";
    case MV_DECOY_FORGED: return "forged";
    case MV_DECOY_REVOKED: return "revoked";
    case MV_DECOY_EXPIRED: return "expired";
    case MV_DECOY_HONEYTOKEN: return "honeytoken";
    case MV_DECOY_PROFILE: return "profile";
    default: return "other";
    }
}

int storage_guard_auth_failed(storage_srv *s, const mv_http_request *req, enum storage_route r, const char *arg,
                              mv_err rc, mv_auth_failure why, mv_http_response *resp)
{
    storage_guard *g = s->guard;
    const char *text = "";
    uint64_t now = (uint64_t)time(NULL), expires = 0;
    uint8_t claimed[32];
    int have_key = 0, answered = 0, entered = 0;
    named_ids ids = {0};
    if (!g)
        return 0;
    const char *k = mv_http_header(req, "MV-Key");
    have_key = k && strlen(k) == 64 && mv_hex_decode_exact(claimed, 32, k, 64) == MV_OK;
    /* Revoked and expired are judged only after the request signature verified (mv_auth.h):
     * then MV-Key is the signer's. Any other failure leaves it a mere claim. */
    int proved = have_key && (why == MV_AUTH_FAIL_REVOKED || why == MV_AUTH_FAIL_EXPIRED);
    if (proved) {
        /* The credential is authentic and its subject signed the request: its expiry is too. */
        const char *cb = mv_http_header(req, "MV-Credential");
        mv_credential c;
        if (cb && mv_credential_decode(cb, strnlen(cb, MV_CRED_B64_MAX + 1), &c) == MV_OK)
            expires = c.expires_at;
        else
            expires = now; /* cannot happen after a verified credential; judged a clock problem */
    }
    uint8_t reason = guard_classify_auth(rc, why, now, expires, &g->gp, &text);
    if (!reason)
        return 0;
    if (!proved && !unverified_enter(g, req->remote_addr)) {
        storage_count(s, "medvault_storage_unverified_throttled_total",
                      "Unverified requests refused over their address's budget", NULL, 1);
        mv_http_respond_json_error(resp, 503, "storage temporarily unavailable; retry");
        if (mv_http_response_header(resp, "Retry-After", "5") != MV_OK)
            mv_http_respond_json_error(resp, 503, "storage temporarily unavailable; retry");
        answered = 1;
        goto out;
    }
    entered = !proved;
    if (ids_named(r, arg, req, &ids) != MV_OK)
        goto out;
    /* A proven caller sees nothing created after its credential ran out (it never could). */
    if (forward(g, req, r, &ids, reason, proved ? claimed : NULL, have_key ? claimed : NULL, 0,
                proved ? expires : UINT64_MAX, resp)) {
        char object[MV_ALERT_FIELD];
        object_of(&ids, req, object);
        /* The alert names a proven key only: a claimed one is anybody's (the audit log keeps
         * the address; one reason per kind keeps a key-cycling caller from flooding rows). */
        raise_alert(g, "decoy_served", proved ? claimed : NULL, req->remote_addr, object, text);
        char labels[64];
        snprintf(labels, sizeof labels, "reason=\"%s\"", label_of_reason(reason));
        storage_count(s, "medvault_storage_forwarded_total", "Requests answered from the decoy cloud", labels, 1);
        answered = 1;
    } else {
        mv_log(MV_LOG_WARN, STORAGE_COMPONENT, "suspicious request (%s) answered 401: no decoy cloud", text);
    }
out:
    if (entered)
        unverified_leave(g);
    mv_free(ids.ids);
    return answered;
}

/* 1 if req carries a valid MV-Step-Up grant for subject at now. */
static int grant_valid(const storage_srv *s, const mv_http_request *req, const uint8_t subject[32], uint64_t now)
{
    const char *h = mv_http_header(req, MV_STEPUP_HEADER);
    mv_stepup_grant gr;
    if (!h)
        return 0;
    size_t hl = strnlen(h, MV_STEPUP_GRANT_B64_LEN + 1);
    if (mv_stepup_grant_verify_b64(h, hl, s->cfg->hospital_pk, now, &gr) != MV_OK)
        return 0;
    return mv_ct_eq(gr.subject, subject, 32);
}

/* The step-up demand: 401 with the step-up header, counted, logged and noted in the audit. */
static void demand_step_up(storage_srv *s, mv_http_response *resp, const char *why)
{
    mv_http_respond_json_error(resp, 401, "step-up required");
    if (mv_http_response_header(resp, MV_STEPUP_HEADER, "required") != MV_OK)
        mv_http_respond_json_error(resp, 500, "internal error");
    storage_count(s, "medvault_storage_stepup_demands_total", "Step-up demanded of a principal over its profile",
                  NULL, 1);
    mv_log(MV_LOG_INFO, STORAGE_COMPONENT, "step-up demanded: %s", why);
    if (mv_http_response_audit_note(resp, "step-up-demanded") != MV_OK)
        mv_log(MV_LOG_WARN, STORAGE_COMPONENT, "audit note dropped");
}

int storage_guard_check(storage_srv *s, const mv_credential *cred, const mv_http_request *req,
                        enum storage_route r, const char *arg, mv_http_response *resp)
{
    storage_guard *g = s->guard;
    named_ids ids = {0};
    uint64_t now = (uint64_t)time(NULL);
    const char *why = "";
    int answered = 0, honey = 0;
    char object[MV_ALERT_FIELD];
    if (!g)
        return 0;
    if (ids_named(r, arg, req, &ids) != MV_OK) {
        mv_http_respond_json_error(resp, 503, "out of memory");
        return 1;
    }
    int is_read = route_reads(r), grant_ok = grant_valid(s, req, cred->subject, now);
    guard_action act = GUARD_SERVE;
    pthread_mutex_lock(&g->lock);
    for (size_t i = 0; is_read && i < ids.n && !honey; i++)
        if (honeytoken_locked(g, ids.ids[i])) {
            honey = 1;
            if (mv_hex_encode(object, sizeof object, ids.ids[i], 16) != MV_OK)
                object[0] = 0;
        }
    /* Profiles and step-up are part of the decoy deployment: without a decoy cloud the server
     * keeps its plain behaviour (bulk tools and tests read far above any floor). */
    guard_profile *p = s->cfg->decoy_url[0] ? guard_profile_of(g, cred->subject) : NULL;
    if (p) {
        int was_dirty = p->dirty;
        /* A honeytoken read is answered (and alerted) whatever the profile says, unless the
         * principal is already in decoy mode; it does not count as a read. */
        act = guard_decide(p, now, is_read && !honey, is_read && !honey ? ids.n : 0, grant_ok, &g->gp, &why);
        if (p->dirty && !was_dirty)
            g->prof_dirty = 1;
    }
    pthread_mutex_unlock(&g->lock);
    switch (act) {
    case GUARD_SERVE:
        if (honey) {
            raise_alert(g, "honeytoken", cred->subject, req->remote_addr, object, "honeytoken read");
            if (mv_http_response_audit_note(resp, "honeytoken") != MV_OK)
                mv_log(MV_LOG_WARN, STORAGE_COMPONENT, "audit note dropped");
        }
        break;
    case GUARD_DEMAND:
        demand_step_up(s, resp, why);
        answered = 1;
        break;
    case GUARD_DECOY:
    case GUARD_DECOY_ALERT:
        if (!forward(g, req, r, &ids, MV_DECOY_PROFILE, cred->subject, cred->subject,
                     mv_credential_has_role(cred, MV_ROLE_ADMIN), UINT64_MAX, resp))
            mv_http_respond_auth_failure(resp, MV_ERR_AUTH);
        if (act == GUARD_DECOY_ALERT) {
            object_of(&ids, req, object);
            raise_alert(g, "decoy_served", cred->subject, req->remote_addr, object, why);
        }
        answered = 1;
        break;
    }
    mv_free(ids.ids);
    return answered;
}

int storage_guard_is_honeytoken(storage_srv *s, const uint8_t id[16])
{
    storage_guard *g = s->guard;
    if (!g)
        return 0;
    pthread_mutex_lock(&g->lock);
    int hit = honeytoken_locked(g, id);
    pthread_mutex_unlock(&g->lock);
    return hit;
}

void storage_guard_note_denials(storage_srv *s, const mv_credential *cred, uint64_t n)
{
    storage_guard *g = s->guard;
    if (!g || !n || !s->cfg->decoy_url[0])
        return;
    pthread_mutex_lock(&g->lock);
    guard_profile *p = guard_profile_of(g, cred->subject);
    if (p)
        guard_profile_count_denials(p, (uint64_t)time(NULL), n);
    pthread_mutex_unlock(&g->lock);
}

/* ---------- the shape pusher ---------- */

void storage_guard_shapes_changed(storage_srv *s, const uint8_t *ids, size_t n)
{
    storage_guard *g = s->guard;
    if (!g || !g->pusher_started || !n)
        return;
    pthread_mutex_lock(&g->qlock);
    if (g->nq + n > GUARD_QUEUE_MAX) {
        mv_log(MV_LOG_WARN, STORAGE_COMPONENT, "shape queue full: %zu shapes wait for the next start-up", n);
    } else {
        if (g->nq + n > g->capq) {
            size_t nc = g->capq ? g->capq : 256;
            while (nc < g->nq + n)
                nc *= 2;
            uint8_t(*nv)[16] = mv_realloc(g->queue, nc * 16);
            if (!nv) {
                pthread_mutex_unlock(&g->qlock);
                mv_log(MV_LOG_WARN, STORAGE_COMPONENT, "shape queue: out of memory");
                return;
            }
            g->queue = nv;
            g->capq = nc;
        }
        memcpy(g->queue[g->nq], ids, n * 16);
        g->nq += n;
        pthread_cond_signal(&g->qcond);
    }
    pthread_mutex_unlock(&g->qlock);
}

/* Posts the shapes of ids[0..n) (records gone since are skipped). MV_OK when the decoy
 * cloud took them. */
static mv_err push_shapes(storage_guard *g, const uint8_t (*ids)[16], size_t n)
{
    storage_srv *s = g->s;
    struct shape_list shapes = {0};
    mv_httpc_call call;
    mv_buf frame;
    char url[MV_REVOCATION_URL_MAX + 32];
    mv_err rc = MV_OK;
    mv_httpc_call_init(&call);
    mv_buf_init(&frame, MV_HTTP_RESPONSE_MAX);
    for (size_t i = 0; rc == MV_OK && i < n; i++)
        rc = shapes_add(s, &shapes, ids[i], NULL, UINT64_MAX);
    if (rc != MV_OK || shapes.n == 0)
        goto out;
    if ((rc = mv_decoy_shapes_encode(shapes.v, shapes.n, &frame)) != MV_OK)
        goto out;
    snprintf(url, sizeof url, "%s/v1/decoy/shapes", s->cfg->decoy_url);
    static const char *const hdrs[] = {"Content-Type: application/octet-stream", NULL};
    call.method = "POST";
    call.url = url;
    call.headers = hdrs;
    call.body = frame.ptr;
    call.body_len = frame.len;
    call.timeout_ms = 30000L;
    call.response.max = 1 << 16;
    if ((rc = mv_httpc_sign(&call, mv_identity_sign_pk(g->id), mv_identity_sign_sk(g->id),
                            mv_identity_credential(g->id), (uint64_t)time(NULL))) != MV_OK ||
        (rc = mv_httpc_run(&call, 1)) != MV_OK || (rc = call.rc) != MV_OK)
        goto out;
    if (call.status != 200) {
        mv_log(MV_LOG_WARN, STORAGE_COMPONENT, "decoy cloud refused %zu shapes: HTTP %ld", shapes.n, call.status);
        rc = MV_ERR_HTTP;
        goto out;
    }
    storage_count(s, "medvault_storage_shapes_pushed_total", "Record shapes pushed to the decoy cloud", NULL, shapes.n);
out:
    shapes_free(&shapes);
    mv_httpc_call_clear(&call);
    mv_buf_clear(&frame);
    return rc;
}

static void timed_wait(storage_guard *g, unsigned seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += seconds;
    pthread_cond_timedwait(&g->qcond, &g->qlock, &ts);
}

/* Saves the profiles when a baseline changed (at most once per pusher wake-up). */
static void maybe_save_profiles(storage_guard *g)
{
    pthread_mutex_lock(&g->lock);
    if (g->prof_dirty) {
        mv_err rc = guard_save_profiles(g);
        if (rc != MV_OK)
            mv_log(MV_LOG_WARN, STORAGE_COMPONENT, "cannot save the access profiles: %s", mv_strerror(rc));
    }
    pthread_mutex_unlock(&g->lock);
}

static void *pusher_main(void *arg)
{
    storage_guard *g = arg;
    unsigned backoff = 0;
    uint8_t(*batch)[16] = mv_mallocarray(GUARD_PUSH_BATCH, 16);
    if (!batch) {
        mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "shape pusher: out of memory");
        return NULL;
    }
    pthread_mutex_lock(&g->qlock);
    while (!g->stopping) {
        if (g->nq == 0 || backoff) {
            timed_wait(g, backoff ? backoff : 2);
            if (g->stopping)
                break;
            if (backoff && g->nq == 0)
                backoff = 0;
            pthread_mutex_unlock(&g->qlock);
            maybe_save_profiles(g);
            pthread_mutex_lock(&g->qlock);
            if (g->nq == 0)
                continue;
        }
        size_t n = g->nq < GUARD_PUSH_BATCH ? g->nq : GUARD_PUSH_BATCH;
        memcpy(batch, g->queue[g->nq - n], n * 16);
        g->nq -= n;
        pthread_mutex_unlock(&g->qlock);
        mv_err rc = g->s->cfg->decoy_url[0] ? push_shapes(g, (const uint8_t(*)[16])batch, n) : MV_OK;
        pthread_mutex_lock(&g->qlock);
        if (rc == MV_OK) {
            backoff = 0;
            continue;
        }
        mv_log(MV_LOG_WARN, STORAGE_COMPONENT, "shape push failed (%s); retrying", mv_strerror(rc));
        /* Put the batch back (the queue had room for it a moment ago unless it grew). */
        if (g->nq + n <= g->capq) {
            memcpy(g->queue[g->nq], batch, n * 16);
            g->nq += n;
        }
        backoff = backoff ? (backoff * 2 > GUARD_PUSH_BACKOFF_MAX ? GUARD_PUSH_BACKOFF_MAX : backoff * 2) : 1;
    }
    pthread_mutex_unlock(&g->qlock);
    mv_free(batch);
    return NULL;
}

static mv_err queue_all(void *ctx, const mv_store_record_info *info)
{
    storage_srv *s = ctx;
    storage_guard_shapes_changed(s, info->id, 1);
    return MV_OK;
}

/* ---------- lifecycle ---------- */

mv_err storage_guard_start(storage_srv *s)
{
    const mv_storage_config *cfg = s->cfg;
    storage_guard *g = NULL;
    mv_err rc = MV_ERR_NOMEM;
    int locks = 0;
    if (!(g = mv_calloc(1, sizeof *g)))
        goto out;
    g->s = s;
    g->gp.floor = cfg->profile_floor ? cfg->profile_floor : 300;
    g->gp.factor = cfg->profile_factor >= 1.0 ? cfg->profile_factor : 5.0;
    g->gp.max_denials = cfg->profile_denials ? cfg->profile_denials : 10;
    g->gp.skew = cfg->skew_seconds;
    rc = MV_ERR_BAD_STATE;
    if (pthread_mutex_init(&g->lock, NULL) != 0)
        goto out;
    locks = 1;
    if (pthread_mutex_init(&g->qlock, NULL) != 0)
        goto out;
    locks = 2;
    if (pthread_mutex_init(&g->alock, NULL) != 0)
        goto out;
    locks = 4;
    rc = MV_ERR_NOMEM;
    if (!(g->buckets = mv_calloc(GUARD_ADDR_SLOTS, sizeof *g->buckets)))
        goto out;
    randombytes_buf(g->addr_key, sizeof g->addr_key);
    g->unverified_max = cfg->threads > 2 ? cfg->threads / 2 : 1;
    rc = MV_ERR_BAD_STATE;
    if (pthread_cond_init(&g->qcond, NULL) != 0)
        goto out;
    locks = 5;
    if ((rc = mv_path_join(g->honey_path, sizeof g->honey_path, cfg->dir, "honeytokens")) != MV_OK ||
        (rc = mv_path_join(g->prof_path, sizeof g->prof_path, cfg->dir, "profiles")) != MV_OK)
        goto out;
    if ((rc = guard_load_honeytokens(g)) != MV_OK || (rc = guard_load_profiles(g)) != MV_OK)
        goto out;
    if (cfg->identity_dir[0]) {
        if ((rc = mv_identity_load(cfg->identity_dir, &g->id)) != MV_OK) {
            mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "cannot load the identity %s: %s", cfg->identity_dir,
                   mv_strerror(rc));
            goto out;
        }
        if (!mv_identity_credential(g->id)) {
            mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "the identity %s holds no credential", cfg->identity_dir);
            rc = MV_ERR_IDENTITY;
            goto out;
        }
        if (cfg->hospital_url[0] &&
            (rc = mv_alert_reporter_start(cfg->hospital_url, g->id, GUARD_ALERT_WINDOW, s->metrics, &g->alerts)) !=
                MV_OK) {
            mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "cannot start the alert reporter: %s", mv_strerror(rc));
            goto out;
        }
    }
    if (cfg->decoy_url[0] && !g->id)
        mv_log(MV_LOG_WARN, STORAGE_COMPONENT, "--decoy-url without --identity: suspicious requests get 401");
    s->guard = g;
    if (pthread_create(&g->pusher, NULL, pusher_main, g) != 0) {
        s->guard = NULL;
        rc = MV_ERR_BAD_STATE;
        goto out;
    }
    g->pusher_started = 1;
    if (cfg->decoy_url[0] && g->id) {
        /* Every record's shape once at start-up: the decoy cloud regenerates what changed. */
        if ((rc = mv_store_record_list(s->store, NULL, queue_all, s)) != MV_OK)
            mv_log(MV_LOG_WARN, STORAGE_COMPONENT, "start-up shape push incomplete: %s", mv_strerror(rc));
    }
    mv_log(MV_LOG_INFO, STORAGE_COMPONENT, "guard: %zu honeytokens, profile floor %llu, factor %.2f%s",
           g->n_ht, (unsigned long long)g->gp.floor, g->gp.factor, cfg->decoy_url[0] ? ", decoy cloud set" : "");
    g = NULL;
    rc = MV_OK;
out:
    if (g) {
        mv_alert_reporter_stop(g->alerts);
        mv_identity_free(g->id);
        if (locks >= 5)
            pthread_cond_destroy(&g->qcond);
        if (locks >= 4)
            pthread_mutex_destroy(&g->alock);
        if (locks >= 2)
            pthread_mutex_destroy(&g->qlock);
        if (locks >= 1)
            pthread_mutex_destroy(&g->lock);
        mv_free(g->buckets);
        mv_free(g->prof);
        mv_free(g->ht);
        mv_free(g);
    }
    return rc;
}

void storage_guard_stop(storage_guard *g)
{
    if (!g)
        return;
    if (g->pusher_started) {
        pthread_mutex_lock(&g->qlock);
        g->stopping = 1;
        pthread_cond_signal(&g->qcond);
        pthread_mutex_unlock(&g->qlock);
        pthread_join(g->pusher, NULL);
    }
    pthread_mutex_lock(&g->lock);
    for (size_t i = 0; i < g->n_prof; i++) {
        /* Fold the running hour so a restart does not lose it. */
        g->prof_dirty |= g->prof[i].dirty || g->prof[i].hour_reads;
    }
    if (g->prof_dirty && guard_save_profiles(g) != MV_OK)
        mv_log(MV_LOG_WARN, STORAGE_COMPONENT, "cannot save the access profiles");
    pthread_mutex_unlock(&g->lock);
    mv_alert_reporter_stop(g->alerts);
    mv_identity_free(g->id);
    pthread_cond_destroy(&g->qcond);
    pthread_mutex_destroy(&g->alock);
    pthread_mutex_destroy(&g->qlock);
    pthread_mutex_destroy(&g->lock);
    mv_free(g->buckets);
    mv_free(g->prof);
    mv_free(g->ht);
    mv_free(g->queue);
    mv_free(g);
}

int storage_guard_check_pre(storage_srv *s, const mv_credential *cred, const mv_http_request *req,
                            mv_http_response *resp)
{
    storage_guard *g = s->guard;
    uint64_t now = (uint64_t)time(NULL);
    const char *why = "";
    if (!g || !s->cfg->decoy_url[0])
        return 0;
    /* A re-encryption or a delegation fetch hands out key material for records: a read. */
    int is_read = (!strcmp(req->method, "POST") && !strcmp(req->path, "/v1/pre/reencrypt")) ||
                  (!strcmp(req->method, "GET") && !strncmp(req->path, "/v1/pre/delegations/", 20));
    int grant_ok = grant_valid(s, req, cred->subject, now);
    guard_action act = GUARD_SERVE;
    pthread_mutex_lock(&g->lock);
    guard_profile *p = guard_profile_of(g, cred->subject);
    if (p) {
        int was_dirty = p->dirty;
        act = guard_decide(p, now, is_read, is_read ? 1 : 0, grant_ok, &g->gp, &why);
        if (p->dirty && !was_dirty)
            g->prof_dirty = 1;
    }
    pthread_mutex_unlock(&g->lock);
    switch (act) {
    case GUARD_SERVE: return 0;
    case GUARD_DEMAND: demand_step_up(s, resp, why); return 1;
    case GUARD_DECOY:
    case GUARD_DECOY_ALERT:
        /* The decoy cloud has no /v1/pre: the answer of a proxy that holds nothing for her. */
        mv_http_respond_json_error(resp, 404, "no such delegation");
        if (act == GUARD_DECOY_ALERT)
            raise_alert(g, "decoy_served", cred->subject, req->remote_addr, req->path, why);
        return 1;
    }
    return 0;
}
