/* storage_router.c - the primary storage server's request path: method and path to an
 * endpoint, a request counter per endpoint, authentication (a suspicious failure goes to the
 * guard, which may answer from the decoy cloud), the guard's checks, then the endpoint's
 * handler in storage_blocks.c, storage_records.c or storage_guard.c. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "medvault/mv_audit_http.h"
#include "pre_proxy.h"
#include "storage_internal.h"

static const char *route_label(enum storage_route r)
{
    switch (r) {
    case R_NONE: return "unknown";
    case R_DUPCHECK: return "dupcheck";
    case R_BLOCKS_PUT: return "blocks_put";
    case R_BLOCKS_GET: return "blocks_get";
    case R_BLOCK_GET: return "block_get";
    case R_RECORDS_PUT: return "records_put";
    case R_RECORDS_GET: return "records_get";
    case R_RECORDS_LIST: return "records_list";
    case R_RECORD_GET: return "record_get";
    case R_RECORD_DELETE: return "record_delete";
    case R_RECORD_READERS_GET: return "record_readers_get";
    case R_RECORD_READERS_SET: return "record_readers_set";
    case R_STATS: return "stats";
    case R_GC: return "gc";
    case R_HONEYTOKENS_PUT: return "honeytokens_put";
    case R_HONEYTOKENS_GET: return "honeytokens_get";
    case R_AUDIT: return "audit";
    case R_GROUP_OPS: return "group_ops";
    case R_GROUP_RECORD_DELETE: return "group_record_delete";
    case R_GROUP_HISTORY: return "group_history";
    }
    return "unknown";
}

static int has_prefix(const char *s, const char *p, const char **rest)
{
    size_t n = strlen(p);
    if (strncmp(s, p, n) != 0)
        return 0;
    *rest = s + n;
    return 1;
}

/* Finds the route for method + path; *arg receives the {hex} part of parameterised paths.
 * Sets *allowed (for a 405) when the path exists but not with this method. */
static enum storage_route route_of(const char *m, const char *path, const char **arg, const char **allowed)
{
    const char *rest = NULL;
    int get = !strcmp(m, "GET"), post = !strcmp(m, "POST"), del = !strcmp(m, "DELETE");
    *allowed = NULL;
    if (!strcmp(path, "/v1/dupcheck"))
        return post ? R_DUPCHECK : (*allowed = "POST", R_NONE);
    if (!strcmp(path, "/v1/blocks"))
        return post ? R_BLOCKS_PUT : (*allowed = "POST", R_NONE);
    if (!strcmp(path, "/v1/blocks/get"))
        return post ? R_BLOCKS_GET : (*allowed = "POST", R_NONE);
    if (has_prefix(path, "/v1/blocks/", &rest)) {
        *arg = rest;
        return get ? R_BLOCK_GET : (*allowed = "GET", R_NONE);
    }
    if (!strcmp(path, "/v1/records"))
        return post ? R_RECORDS_PUT : get ? R_RECORDS_LIST : (*allowed = "GET, POST", R_NONE);
    if (!strcmp(path, "/v1/records/get"))
        return post ? R_RECORDS_GET : (*allowed = "POST", R_NONE);
    if (has_prefix(path, "/v1/records/", &rest) && strchr(rest, '/')) {
        size_t l = strlen(rest);
        *arg = rest;
        if (l < 8 || strcmp(rest + l - 8, "/readers") != 0)
            return R_NONE;
        return get ? R_RECORD_READERS_GET : post ? R_RECORD_READERS_SET : (*allowed = "GET, POST", R_NONE);
    }
    if (has_prefix(path, "/v1/records/", &rest)) {
        *arg = rest;
        return get ? R_RECORD_GET : del ? R_RECORD_DELETE : (*allowed = "GET, DELETE", R_NONE);
    }
    if (!strcmp(path, "/v1/stats"))
        return get ? R_STATS : (*allowed = "GET", R_NONE);
    if (!strcmp(path, "/v1/gc"))
        return post ? R_GC : (*allowed = "POST", R_NONE);
    if (!strcmp(path, "/v1/honeytokens"))
        return post ? R_HONEYTOKENS_PUT : get ? R_HONEYTOKENS_GET : (*allowed = "GET, POST", R_NONE);
    if (!strcmp(path, "/v1/audit"))
        return R_AUDIT;
    if (has_prefix(path, "/v1/groups/", &rest)) {
        size_t l = strlen(rest);
        *arg = rest;
        if (l == 36 && !strcmp(rest + 32, "/ops"))
            return post ? R_GROUP_OPS : (*allowed = "POST", R_NONE);
        if (l == 32 + 9 + 32 && !strncmp(rest + 32, "/records/", 9))
            return del ? R_GROUP_RECORD_DELETE : (*allowed = "DELETE", R_NONE);
        if (l == 32 + 9 + 32 + 8 && !strncmp(rest + 32, "/records/", 9) && !strcmp(rest + 73, "/history"))
            return get ? R_GROUP_HISTORY : (*allowed = "GET", R_NONE);
        return R_NONE;
    }
    return R_NONE;
}

/* GET /v1/audit: the request log, for a hospital admin's credential only. */
void storage_respond_audit(mv_auth_verifier *auth, mv_audit *audit, const mv_http_request *req,
                           mv_http_response *resp)
{
    mv_credential cred;
    mv_err rc = mv_http_verify(auth, req, (uint64_t)time(NULL), &cred);
    if (rc != MV_OK)
        mv_http_respond_auth_failure(resp, rc);
    else if (!mv_credential_has_role(&cred, MV_ROLE_ADMIN))
        mv_http_respond_json_error(resp, 403, "only an admin may read the audit log");
    else
        mv_audit_respond(audit, req, resp);
}

/* The /v1/pre routes: proxy 1 (pre_proxy.c). A failed signature gets the plain 401, not the guard's
 * decoy: the proxy holds no record to imitate, and its answers reveal nothing without a
 * delegation naming the requester. A valid one goes through the guard's decision for her
 * (storage_guard_check_pre): a principal asked to step up or in decoy mode gets no cfrags. */
static void storage_handle_pre(storage_srv *s, const mv_http_request *req, mv_http_response *resp)
{
    mv_credential cred;
    storage_count(s, "medvault_storage_requests_total", "Requests by endpoint", "endpoint=\"pre\"", 1);
    if (!s->pre) {
        mv_http_respond_json_error(resp, 404, "this storage server runs no re-encryption proxy (no --identity)");
        return;
    }
    mv_err rc = mv_http_verify(s->auth, req, (uint64_t)time(NULL), &cred);
    if (rc != MV_OK)
        mv_http_respond_auth_failure(resp, rc);
    else if (!storage_guard_check_pre(s, &cred, req, resp)) /* step-up and decoy mode apply here too */
        pre_proxy_handle(s->pre, &cred, req, resp);
}

void storage_handle_request(void *ctx, const mv_http_request *req, mv_http_response *resp)
{
    storage_srv *s = ctx;
    const char *arg = NULL, *allowed = NULL;
    char labels[64];
    if (pre_proxy_is_path(req->path)) {
        storage_handle_pre(s, req, resp);
        return;
    }
    enum storage_route r = route_of(req->method, req->path, &arg, &allowed);
    snprintf(labels, sizeof labels, "endpoint=\"%s\"", route_label(r));
    storage_count(s, "medvault_storage_requests_total", "Requests by endpoint", labels, 1);
    if (r == R_NONE) {
        if (allowed) {
            storage_respond_405(resp, allowed);
        } else {
            mv_http_respond_json_error(resp, 404, "no such endpoint");
        }
        return;
    }
    /* Group operations are anonymous: the ring signature is their authorisation, checked
     * (after the bounds on what an anonymous peer may cost) by storage_groups.c. */
    if (r == R_GROUP_OPS) {
        storage_handle_group_ops(s, arg, req, resp);
        return;
    }
    /* Every other endpoint is signed: authenticate before looking at the body. A suspicious failure
     * (no, forged, revoked or long-expired authentication) is answered from the decoy cloud;
     * an honest client's trouble (clock skew, a replayed nonce) keeps the plain 401. */
    mv_credential cred;
    mv_auth_failure why = MV_AUTH_FAIL_NONE;
    mv_err rc = mv_http_verify_ex(s->auth, req, (uint64_t)time(NULL), &cred, &why);
    if (rc != MV_OK) {
        storage_count(s, "medvault_storage_auth_failures_total", "Requests refused by authentication", NULL, 1);
        if (!storage_guard_auth_failed(s, req, r, arg, rc, why, resp))
            mv_http_respond_auth_failure(resp, rc);
        return;
    }
    if (storage_guard_check(s, &cred, req, r, arg, resp))
        return;
    if (req->body_len)
        storage_count(s, "medvault_storage_received_bytes_total", "Request body bytes received (authenticated)",
                      NULL, req->body_len);
    switch (r) {
    case R_NONE: break;
    case R_DUPCHECK: storage_handle_dupcheck(s, &cred, req, resp); break;
    case R_BLOCKS_PUT: storage_handle_blocks_put(s, &cred, req, resp); break;
    case R_BLOCKS_GET: storage_handle_blocks_get(s, req, resp); break;
    case R_BLOCK_GET: storage_handle_block_get(s, arg, resp); break;
    case R_RECORDS_PUT: storage_handle_records_put(s, &cred, req, resp); break;
    case R_RECORDS_GET: storage_handle_records_get(s, &cred, req, resp); break;
    case R_RECORDS_LIST: storage_handle_records_list(s, &cred, resp); break;
    case R_RECORD_GET: storage_handle_record_get(s, &cred, arg, resp); break;
    case R_RECORD_DELETE: storage_handle_record_delete(s, &cred, arg, resp); break;
    case R_RECORD_READERS_GET: storage_handle_record_readers_get(s, &cred, arg, resp); break;
    case R_RECORD_READERS_SET: storage_handle_record_readers_set(s, &cred, arg, req, resp); break;
    case R_STATS: storage_handle_stats(s, resp); break;
    case R_GC: storage_handle_gc(s, &cred, resp); break;
    case R_HONEYTOKENS_PUT: storage_guard_honeytokens_put(s, &cred, req, resp); break;
    case R_HONEYTOKENS_GET: storage_guard_honeytokens_get(s, &cred, resp); break;
    case R_AUDIT:
        if (!mv_credential_has_role(&cred, MV_ROLE_ADMIN))
            mv_http_respond_json_error(resp, 403, "only an admin may read the audit log");
        else
            mv_audit_respond(s->audit, req, resp);
        break;
    case R_GROUP_OPS: break; /* answered before authentication */
    case R_GROUP_RECORD_DELETE:
    case R_GROUP_HISTORY: storage_handle_group_record(s, &cred, r, arg, resp); break;
    }
}
