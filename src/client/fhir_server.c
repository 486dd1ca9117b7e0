/* fhir_server.c - the local FHIR R4 server decrypts records only in this process and answers
 * only requests that carry the session's bearer token, on loopback, under its own Host name.
 * This file is the server: authentication, content negotiation, the router, OperationOutcome,
 * read, vread, create, update and the CapabilityStatement; search and history Bundles are in
 * fhir_server_bundle.c. */
#define _XOPEN_SOURCE 700 /* strptime */
#include "fhir_server_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "medvault/mv_clock.h"
#include "medvault/mv_daemon.h"
#include "medvault/mv_fhir.h"
#include "medvault/mv_fhirstore.h"
#include "medvault/mv_file.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"
#include "medvault/mv_ui.h"

/* ---------- answers ---------- */

void mvc_fs_answer(mv_http_response *resp, int status)
{
    resp->status = status;
    snprintf(resp->content_type, sizeof resp->content_type, "%s; charset=utf-8", FS_MEDIA);
}

void mvc_fs_outcome(mv_http_response *resp, int status, const char *code, const char *msg)
{
    mv_jw w;
    mv_buf_reset(&resp->body);
    mv_jw_init(&w, &resp->body);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "resourceType", "OperationOutcome");
    mv_jw_key(&w, "issue");
    mv_jw_arr(&w);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "severity", status >= 500 ? "fatal" : "error");
    mv_jw_kstr(&w, "code", code);
    mv_jw_kstr(&w, "diagnostics", msg);
    mv_jw_obj_end(&w);
    mv_jw_arr_end(&w);
    mv_jw_obj_end(&w);
    if (mv_jw_finish(&w) != MV_OK) {
        static const char fixed[] = "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"fatal\","
                                    "\"code\":\"exception\"}]}";
        mv_buf_reset(&resp->body);
        if (mv_buf_append(&resp->body, fixed, sizeof fixed - 1) != MV_OK)
            mv_buf_reset(&resp->body);
    }
    mvc_fs_answer(resp, status);
}

/* An error of the client library as FHIR sees it; the diagnostics are the client's
 * last_error (which service, which step; never patient data) or the error's name. */
static void client_failure(struct fs_req *q, mv_err rc)
{
    const char *why = mv_client_last_error(q->s->client);
    char msg[320];
    snprintf(msg, sizeof msg, "%s", why && why[0] ? why : mv_strerror(rc));
    /* A table, not a switch: most mv_err values are one 500 (and -Wswitch-enum wants them all). */
    static const struct {
        mv_err rc;
        int status;
        const char *code;
    } map[] = {
        {MV_ERR_PARSE, 400, "structure"},      {MV_ERR_INVAL, 400, "invalid"},       {MV_ERR_NOT_FOUND, 404, "not-found"},
        {MV_ERR_BAD_STATE, 412, "conflict"},   {MV_ERR_FORBIDDEN, 403, "forbidden"}, {MV_ERR_TOO_LARGE, 413, "too-costly"},
        {MV_ERR_NET, 503, "transient"},        {MV_ERR_HTTP, 503, "transient"},      {MV_ERR_RATE_LIMITED, 503, "transient"},
        {MV_ERR_BUSY, 503, "transient"},       {MV_ERR_AUTH, 403, "security"}, /* step-up required: the message says how */
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].rc == rc) {
            mvc_fs_outcome(q->resp, map[i].status, map[i].code, msg);
            return;
        }
    mvc_fs_outcome(q->resp, 500, "exception", msg);
}

int mvc_fs_http_date(const char *last_updated, char *out, size_t cap)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = strptime(last_updated, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -1;
    if (*rest == '.') /* HTTP-dates have whole seconds */
        for (rest++; *rest >= '0' && *rest <= '9'; rest++)
            ;
    if (strcmp(rest, "Z") != 0)
        return -1;
    time_t t = timegm(&tm);
    struct tm g;
    if (t == (time_t)-1 || !gmtime_r(&t, &g) || !strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &g))
        return -1;
    return 0;
}

/* ETag W/"version", Last-Modified, and (with location) Location BASE/type/id/_history/version:
 * the headers FHIR R4 (http.html, "create" and "update") asks for. */
static mv_err version_headers(struct fs_req *q, const char *type, const char *id, uint32_t version,
                              const char *last_updated, int location)
{
    char v[MV_HTTP_HEADER_VALUE_MAX];
    mv_err rc;
    snprintf(v, sizeof v, "W/\"%u\"", (unsigned)version);
    if ((rc = mv_http_response_header(q->resp, "ETag", v)) != MV_OK)
        return rc;
    if (mvc_fs_http_date(last_updated, v, sizeof v) == 0 &&
        (rc = mv_http_response_header(q->resp, "Last-Modified", v)) != MV_OK)
        return rc;
    if (location) {
        int n = snprintf(v, sizeof v, "%s/%s/%s/_history/%u", q->s->base, type, id, (unsigned)version);
        if (n < 0 || (size_t)n >= sizeof v)
            return MV_ERR_TOO_LARGE;
        rc = mv_http_response_header(q->resp, "Location", v);
    }
    return rc;
}

/* ---------- the index ---------- */

mv_err mvc_fs_sync(struct fs *s)
{
    double now = mv_mono_seconds();
    if (s->last_sync > 0 && now - s->last_sync < MV_FHIR_SERVER_SYNC_SECONDS)
        return MV_OK;
    mv_err rc = mv_client_index_sync(s->client, 0, NULL);
    if (rc == MV_OK)
        s->last_sync = now;
    return rc;
}

/* The index entry of type/id at version (0: the latest); a miss syncs the index once (another
 * client of this user may have written it) and looks again. The entry's fields are copied. */
struct found {
    uint8_t rid[MV_CLIENT_ID_BYTES];
    uint32_t version;
    char last_updated[40];
};

static mv_err lookup(struct fs *s, const char *type, const char *id, uint32_t version, struct found *f)
{
    mv_fhir_entry e;
    mv_err rc = mv_client_fhir_lookup(s->client, type, id, version, &e);
    if (rc == MV_ERR_NOT_FOUND && mvc_fs_sync(s) == MV_OK)
        rc = mv_client_fhir_lookup(s->client, type, id, version, &e);
    if (rc != MV_OK)
        return rc;
    if (e.kind != MV_RECORD_FHIR)
        return MV_ERR_NOT_FOUND;
    memcpy(f->rid, e.record_id, sizeof f->rid);
    f->version = e.version;
    snprintf(f->last_updated, sizeof f->last_updated, "%s", e.last_updated);
    return MV_OK;
}

/* Answers status with record rid's content (the resource as stored: canonical JSON with its
 * meta.versionId and meta.lastUpdated) and its version headers. */
static void send_resource(struct fs_req *q, int status, const char *type, const char *id, const uint8_t *rid,
                          uint32_t version, const char *last_updated, int location)
{
    int kind = 0;
    mv_buf_reset(&q->resp->body);
    mv_err rc = mv_client_get(q->s->client, rid, &q->resp->body, &kind, NULL, 0);
    if (rc == MV_OK && kind != MV_RECORD_FHIR)
        rc = MV_ERR_NOT_FOUND;
    if (rc != MV_OK) {
        client_failure(q, rc);
        return;
    }
    if (version_headers(q, type, id, version, last_updated, location) != MV_OK) {
        mvc_fs_outcome(q->resp, 500, "exception", "cannot set the response headers");
        return;
    }
    mvc_fs_answer(q->resp, status);
}

/* ---------- interactions ---------- */

/* 1 if the media type m[0..n) (parameters already cut off, spaces trimmed) is one this
 * server produces or accepts: FHIR's JSON type, plain JSON, or a wildcard over them. */
static int json_media(const char *m, size_t n, int wildcard_ok)
{
    static const char *const ok[] = {FS_MEDIA, "application/json", "application/json+fhir", "*/*", "application/*"};
    size_t last = wildcard_ok ? sizeof ok / sizeof ok[0] : 3;
    for (size_t i = 0; i < last; i++)
        if (strlen(ok[i]) == n && !strncasecmp(m, ok[i], n))
            return 1;
    return 0;
}

static void handle_read(struct fs_req *q, const char *type, const char *id, uint32_t version)
{
    struct found f;
    mv_err rc = lookup(q->s, type, id, version, &f);
    if (rc == MV_ERR_NOT_FOUND || rc == MV_ERR_INVAL) {
        char msg[160];
        if (version)
            snprintf(msg, sizeof msg, "no version %u of %.64s/%.64s", (unsigned)version, type, id);
        else
            snprintf(msg, sizeof msg, "no resource %.64s/%.64s", type, id);
        mvc_fs_outcome(q->resp, 404, "not-found", msg);
        return;
    }
    if (rc != MV_OK) {
        client_failure(q, rc);
        return;
    }
    send_resource(q, 200, type, id, f.rid, f.version, f.last_updated, 0);
}

/* If-Match: W/"n" (or "n"): *n = n; absent: *n = 0. -1 if malformed. */
static int if_match(const mv_http_request *r, uint32_t *n)
{
    const char *h = mv_http_header(r, "If-Match");
    *n = 0;
    if (!h)
        return 0;
    if (!strncmp(h, "W/", 2))
        h += 2;
    size_t len = strlen(h);
    if (len < 3 || len > 12 || h[0] != '"' || h[len - 1] != '"')
        return -1;
    uint64_t v = 0;
    for (size_t i = 1; i + 1 < len; i++) {
        if (h[i] < '0' || h[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(h[i] - '0');
    }
    if (v == 0 || v > UINT32_MAX)
        return -1;
    *n = (uint32_t)v;
    return 0;
}

/* POST /type (id NULL) or PUT /type/id. */
static void handle_put(struct fs_req *q, const char *type, const char *id)
{
    uint32_t want = 0;
    mv_fhir_put_result res;
    const char *ct = mv_http_header(q->r, "Content-Type");
    if (!ct || !json_media(ct, strcspn(ct, "; \t"), 0)) {
        mvc_fs_outcome(q->resp, 415, "not-supported", "a body must be application/fhir+json");
        return;
    }
    if (if_match(q->r, &want) != 0) {
        mvc_fs_outcome(q->resp, 400, "invalid", "If-Match must be a version ETag such as W/\"1\"");
        return;
    }
    if (!id && want) {
        mvc_fs_outcome(q->resp, 400, "invalid", "If-Match applies to update (PUT), not to create");
        return;
    }
    mv_err rc = mv_client_fhir_put(q->s->client, q->r->body, q->r->body_len, !id, type, id, want, &res);
    if (rc == MV_ERR_NOT_FOUND && want) /* If-Match on a resource that does not exist: a failed precondition */
        rc = MV_ERR_BAD_STATE;
    if (rc != MV_OK) {
        client_failure(q, rc);
        return;
    }
    int created = res.outcome == MV_FHIR_CREATED;
    send_resource(q, created ? 201 : 200, type, res.id, res.record_id, res.version, res.last_updated, created);
}

/* ---------- the CapabilityStatement ---------- */

/* The resource types the CapabilityStatement names. The server handles every type the same
 * way (any resourceType is stored and indexed), but FHIR wants the list spelled out, so it
 * names the types of a clinical record (those a US Core / bulk export carries). */
static const char *const cap_types[] = {
    "AllergyIntolerance", "CarePlan", "CareTeam", "Claim", "Condition", "Coverage", "Device", "DiagnosticReport",
    "DocumentReference", "Encounter", "ExplanationOfBenefit", "Goal", "ImagingStudy", "Immunization", "Location",
    "Medication", "MedicationAdministration", "MedicationRequest", "MedicationStatement", "Observation",
    "Organization", "Patient", "Practitioner", "PractitionerRole", "Procedure", "Provenance", "ServiceRequest",
    "Specimen",
};

/* name, type, documentation: the search parameters search implements (fhir_server_bundle.c). */
static const char *const cap_params[][3] = {
    {"_id", "token", "the logical id"},
    {"_lastUpdated", "date", "meta.lastUpdated, with the prefixes eq, gt, ge, lt, le"},
    {"patient", "reference", "the patient the resource is about (Patient/id, id, or the patient's MRN)"},
    {"subject", "reference", "the same as patient"},
    {"code", "token", "the resource's main code (code or system|code)"},
    {"status", "token", "the resource's status"},
    {"date", "date", "the resource's clinical date, with the prefixes eq, gt, ge, lt, le"},
};

static void handle_metadata(struct fs_req *q)
{
    static const char *const interactions[] = {"read", "vread", "update", "history-instance", "create",
                                               "search-type"};
    mv_jw w;
    mv_buf_reset(&q->resp->body);
    mv_jw_init(&w, &q->resp->body);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "resourceType", "CapabilityStatement");
    mv_jw_kstr(&w, "status", "active");
    mv_jw_kstr(&w, "date", q->s->started);
    mv_jw_kstr(&w, "kind", "instance");
    mv_jw_key(&w, "software");
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "name", "medvault fhir serve");
    mv_jw_obj_end(&w);
    mv_jw_key(&w, "implementation");
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "description", "one user's records, decrypted on this computer (medvault)");
    mv_jw_kstr(&w, "url", q->s->base);
    mv_jw_obj_end(&w);
    mv_jw_kstr(&w, "fhirVersion", "4.0.1");
    mv_jw_key(&w, "format");
    mv_jw_arr(&w);
    mv_jw_str(&w, FS_MEDIA);
    mv_jw_str(&w, "json");
    mv_jw_arr_end(&w);
    mv_jw_key(&w, "rest");
    mv_jw_arr(&w);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "mode", "server");
    mv_jw_key(&w, "security");
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "description", "Authorization: Bearer with the token `medvault fhir serve` made at start; "
                                  "loopback only");
    mv_jw_obj_end(&w);
    mv_jw_key(&w, "resource");
    mv_jw_arr(&w);
    for (size_t t = 0; t < sizeof cap_types / sizeof cap_types[0]; t++) {
        mv_jw_obj(&w);
        mv_jw_kstr(&w, "type", cap_types[t]);
        mv_jw_key(&w, "interaction");
        mv_jw_arr(&w);
        for (size_t i = 0; i < sizeof interactions / sizeof interactions[0]; i++) {
            mv_jw_obj(&w);
            mv_jw_kstr(&w, "code", interactions[i]);
            mv_jw_obj_end(&w);
        }
        mv_jw_arr_end(&w);
        mv_jw_kstr(&w, "versioning", "versioned-update");
        mv_jw_kbool(&w, "readHistory", 1);
        mv_jw_kbool(&w, "updateCreate", 1);
        mv_jw_kbool(&w, "conditionalCreate", 0);
        mv_jw_kstr(&w, "conditionalRead", "not-supported");
        mv_jw_kbool(&w, "conditionalUpdate", 0);
        mv_jw_kstr(&w, "conditionalDelete", "not-supported");
        mv_jw_key(&w, "searchParam");
        mv_jw_arr(&w);
        for (size_t p = 0; p < sizeof cap_params / sizeof cap_params[0]; p++) {
            mv_jw_obj(&w);
            mv_jw_kstr(&w, "name", cap_params[p][0]);
            mv_jw_kstr(&w, "type", cap_params[p][1]);
            mv_jw_kstr(&w, "documentation", cap_params[p][2]);
            mv_jw_obj_end(&w);
        }
        mv_jw_arr_end(&w);
        mv_jw_obj_end(&w);
    }
    mv_jw_arr_end(&w);
    mv_jw_obj_end(&w);
    mv_jw_arr_end(&w);
    mv_jw_obj_end(&w);
    if (mv_jw_finish(&w) != MV_OK) {
        mvc_fs_outcome(q->resp, 500, "exception", "cannot build the CapabilityStatement");
        return;
    }
    mvc_fs_answer(q->resp, 200);
}

/* ---------- negotiation and routing ---------- */

/* 1 if some media range of an Accept header value is one json_media takes (q=0 ranges too:
 * a client that refuses JSON outright is rare enough to answer anyway). */
static int accept_ok(const char *h)
{
    while (h && *h) {
        while (*h == ' ' || *h == ',')
            h++;
        size_t n = strcspn(h, ",;");
        size_t t = n;
        while (t && (h[t - 1] == ' ' || h[t - 1] == '\t'))
            t--;
        if (t && json_media(h, t, 1))
            return 1;
        h += strcspn(h, ",");
    }
    return 0;
}

/* Content negotiation (FHIR R4 http.html, "Content Types and encodings"): _format overrides
 * Accept; only JSON is produced (406 otherwise). (A body's type is create's and update's
 * concern: handle_put.) */
static int negotiate(struct fs_req *q)
{
    char fmt[64];
    const char *qs = mv_http_query(q->r);
    mv_err rc = mv_http_form_get(qs, strlen(qs), "_format", fmt, sizeof fmt);
    if (rc == MV_OK) {
        if (strcmp(fmt, "json") != 0 && !json_media(fmt, strlen(fmt), 0)) {
            mvc_fs_outcome(q->resp, 406, "not-supported", "only _format=json (application/fhir+json) is served");
            return -1;
        }
    } else if (rc != MV_ERR_NOT_FOUND) {
        mvc_fs_outcome(q->resp, 400, "invalid", "a malformed _format");
        return -1;
    } else if (mv_http_header(q->r, "Accept") && !accept_ok(mv_http_header(q->r, "Accept"))) {
        mvc_fs_outcome(q->resp, 406, "not-supported", "only application/fhir+json is served");
        return -1;
    }
    return 0;
}

/* 1 if the header carries "Bearer <s->token>" (compared in constant time). */
static int bearer_ok(const struct fs *s, const mv_http_request *r)
{
    const char *h = mv_http_header(r, "Authorization");
    size_t tl = strlen(s->token);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    h += 7;
    while (*h == ' ')
        h++;
    return strlen(h) == tl && mv_ct_eq(h, s->token, tl);
}

/* The body gate (mv_http.h): a body over 64 KiB is buffered only for the token's holder. */
static int body_gate(void *ctx, const mv_http_request *r)
{
    struct fs *s = ctx;
    /* The token is fixed before the server starts and never changes: no lock needed. */
    return bearer_ok(s, r);
}

/* A resource type as FHIR spells it ([A-Z][A-Za-z]*, at most MV_FHIR_TYPE_MAX). */
static int type_ok(const char *t, size_t n)
{
    if (n == 0 || n > MV_FHIR_TYPE_MAX || t[0] < 'A' || t[0] > 'Z')
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z')))
            return 0;
    return 1;
}

#define FS_MAX_SEGMENTS 4

static void dispatch(struct fs_req *q)
{
    const char *m = q->r->method, *p = q->r->path;
    char seg[FS_MAX_SEGMENTS][MV_FHIR_ID_MAX + 1];
    size_t n = 0;
    int get = !strcmp(m, "GET"), post = !strcmp(m, "POST"), put = !strcmp(m, "PUT");
    /* Split "/a/b/c/d" into at most four segments of FHIR id size (types and ids alike). */
    if (*p != '/') {
        mvc_fs_outcome(q->resp, 400, "invalid", "a malformed request target");
        return;
    }
    for (p++; *p;) {
        size_t l = strcspn(p, "/");
        if (n == FS_MAX_SEGMENTS || l == 0 || l > MV_FHIR_ID_MAX) {
            mvc_fs_outcome(q->resp, 404, "not-found", "no such endpoint");
            return;
        }
        memcpy(seg[n], p, l);
        seg[n++][l] = 0;
        p += l;
        if (*p == '/') /* a trailing '/' names the same thing */
            p++;
    }
    if (n == 1 && !strcmp(seg[0], "metadata")) {
        if (get)
            handle_metadata(q);
        else
            mvc_fs_outcome(q->resp, 405, "not-supported", "GET /metadata only");
        return;
    }
    if (n == 0 || !type_ok(seg[0], strlen(seg[0]))) {
        mvc_fs_outcome(q->resp, 404, "not-found", "no such endpoint (a resource type is [A-Z][A-Za-z]*)");
        return;
    }
    const char *type = seg[0];
    /* "_search", "_history" (of a type) and "$operation" segments are FHIR's, just not offered. */
    int special = (n >= 2 && (seg[1][0] == '_' || seg[1][0] == '$')) || (n >= 3 && seg[2][0] == '$');
    if (special) {
        mvc_fs_outcome(q->resp, 405, "not-supported",
                       "not implemented here: see GET /metadata for the interactions this server offers");
        return;
    }
    if (n >= 2 && !mv_fhir_id_ok(seg[1], strlen(seg[1]))) {
        mvc_fs_outcome(q->resp, 404, "not-found", "not a FHIR id ([A-Za-z0-9-.]{1,64})");
        return;
    }
    if (n == 1 && get)
        mvc_fs_search(q, type);
    else if (n == 1 && post)
        handle_put(q, type, NULL);
    else if (n == 2 && get)
        handle_read(q, type, seg[1], 0);
    else if (n == 2 && put)
        handle_put(q, type, seg[1]);
    else if (n == 3 && get && !strcmp(seg[2], "_history"))
        mvc_fs_history(q, type, seg[1]);
    else if (n == 4 && get && !strcmp(seg[2], "_history")) {
        uint64_t v = 0;
        size_t l = strlen(seg[3]);
        for (size_t i = 0; i < l && v <= UINT32_MAX; i++)
            v = seg[3][i] >= '0' && seg[3][i] <= '9' ? v * 10 + (uint64_t)(seg[3][i] - '0') : UINT64_MAX;
        if (v == 0 || v > UINT32_MAX)
            mvc_fs_outcome(q->resp, 404, "not-found", "a version id is a positive number");
        else
            handle_read(q, type, seg[1], (uint32_t)v);
    } else if (n <= 2 || (n <= 4 && !strcmp(seg[2], "_history")))
        mvc_fs_outcome(q->resp, 405, "not-supported",
                       "not implemented here: see GET /metadata for the interactions this server offers");
    else
        mvc_fs_outcome(q->resp, 404, "not-found", "no such endpoint");
}

static void handler(void *ctx, const mv_http_request *r, mv_http_response *resp)
{
    struct fs *s = ctx;
    struct fs_req q = {.s = s, .r = r, .resp = resp};
    char why[320];
    if (mv_http_response_header(resp, "X-Content-Type-Options", "nosniff") != MV_OK) {
        resp->status = 500;
        return;
    }
    pthread_mutex_lock(&s->lock);
    if (!s->ready) {
        mvc_fs_outcome(resp, 503, "transient", "starting");
    } else if (!mvc_loopback_host_ok(&s->lb, r)) {
        /* A request under another name (DNS rebinding) must not be served. */
        mvc_fs_outcome(resp, 421, "security", "wrong Host: use the address `medvault fhir serve` printed");
    } else if (!bearer_ok(s, r)) {
        mv_log(MV_LOG_WARN, FS_COMPONENT, "refused a request without the session token from %s", r->remote_addr);
        mvc_fs_outcome(resp, 401, "login", "Authorization: Bearer with the session token is required");
        if (mv_http_response_header(resp, "WWW-Authenticate", "Bearer realm=\"medvault\"") != MV_OK)
            resp->status = 500;
    } else if (negotiate(&q) != 0) {
        /* answered */
    } else if (mvc_loopback_client(s->cfg->deployment_path, s->cfg->user_dir, &s->client, &s->cred, &s->last_open,
                                   why, sizeof why) != MV_OK) {
        mvc_fs_outcome(resp, 503, "transient", why);
    } else {
        dispatch(&q);
    }
    pthread_mutex_unlock(&s->lock);
}

/* ---------- the server ---------- */

mv_err mv_fhir_server_run(const mv_fhir_server_config *cfg)
{
    /* Media types whose bodies reach the handler, so that it answers 415 as an
     * OperationOutcome; a body of any other type gets the HTTP server's own 415. */
    static const char *const body_types[] = {FS_MEDIA,
                                             "application/json",
                                             "application/json+fhir",
                                             "application/fhir+xml",
                                             "application/xml",
                                             "text/xml",
                                             "text/plain",
                                             "application/x-www-form-urlencoded",
                                             "application/octet-stream",
                                             "application/fhir+ndjson",
                                             "application/x-ndjson",
                                             NULL};
    struct fs *s = NULL;
    char why[320] = "";
    mv_err rc;
    if (!cfg || !cfg->deployment_path || !cfg->user_dir)
        return MV_ERR_INVAL;
    const char *listen = cfg->listen ? cfg->listen : "127.0.0.1:0";
    if ((rc = mvc_loopback_prepare(listen, FS_COMPONENT)) != MV_OK)
        return rc;
    if (!(s = mv_calloc(1, sizeof *s)))
        return MV_ERR_NOMEM;
    s->cfg = cfg;
    pthread_mutex_init(&s->lock, NULL);
    if ((rc = mvc_loopback_token(cfg->token, s->token, sizeof s->token)) != MV_OK)
        goto out;
    if (mv_iso8601(s->started, sizeof s->started, mv_wall_ms(), 0) != 0)
        snprintf(s->started, sizeof s->started, "1970-01-01T00:00:00Z");
    if ((rc = mvc_loopback_client(cfg->deployment_path, cfg->user_dir, &s->client, &s->cred, &s->last_open, why,
                                  sizeof why)) != MV_OK) {
        mv_log(MV_LOG_ERROR, FS_COMPONENT, "%s", why);
        goto out;
    }
    if (cfg->token_file) {
        char line[MVC_LOOPBACK_TOKEN_MAX + 2];
        int n = snprintf(line, sizeof line, "%s\n", s->token);
        rc = mv_file_write_atomic(cfg->token_file, line, (size_t)n, 0600);
        mv_wipe(line, sizeof line);
        if (rc != MV_OK) {
            mv_log(MV_LOG_ERROR, FS_COMPONENT, "cannot write the token file %s: %s", cfg->token_file, mv_strerror(rc));
            goto out;
        }
    }
    mv_http_config hc = {
        .listen = listen,
        .max_body = MV_FHIR_SERVER_BODY_MAX,
        .threads = 2,
        .handler = handler,
        .ctx = s,
        .component = "medvault_fhir",
        .body_gate = body_gate,
        .body_gate_ctx = s,
        .content_types = body_types,
        .max_connections = MV_FHIR_SERVER_MAX_CONNECTIONS,
        /* Even the request counter is one person's record activity (each 201 a resource
         * stored): /metrics is for the token's holder only. */
        .metrics_token = s->token,
        .metrics_private_only = 1,
    };
    if ((rc = mvc_loopback_start(&s->lb, &hc, FS_COMPONENT)) != MV_OK)
        goto out;
    pthread_mutex_lock(&s->lock);
    snprintf(s->base, sizeof s->base, "http://%s:%u", s->lb.ip, s->lb.port);
    s->ready = 1;
    pthread_mutex_unlock(&s->lock);
    if (cfg->token_file)
        printf("medvault fhir: serving %s token-file %s\n", s->base, cfg->token_file);
    else
        printf("medvault fhir: serving %s token %s\n", s->base, s->token);
    fflush(stdout);
    if (mv_daemon_write_port(cfg->port_file, (uint16_t)s->lb.port) != 0)
        mv_log(MV_LOG_WARN, FS_COMPONENT, "cannot write the port file");
    mv_log(MV_LOG_INFO, FS_COMPONENT, "serving FHIR R4 for %s on port %u", cfg->user_dir, s->lb.port);
    mv_daemon_wait(1.0, NULL, NULL);
    mv_log(MV_LOG_INFO, FS_COMPONENT, "shutting down");
    rc = MV_OK;
out:
    mvc_loopback_stop(&s->lb);
    mv_client_close(s->client);
    pthread_mutex_destroy(&s->lock);
    mv_wipe(s, sizeof *s);
    mv_free(s);
    return rc;
}
