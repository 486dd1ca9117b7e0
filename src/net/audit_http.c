/* audit_http.c - the audit log's HTTP side: what the server reports of each answered request
 * becomes one log entry, and GET /v1/audit pages through the raw lines. Kept apart from
 * audit.c so the log has no HTTP in it and the server no audit log in it. */
#include "medvault/mv_audit_http.h"

#include <stdio.h>
#include <string.h>

#include "medvault/mv_log.h"
#include "medvault/mv_metrics.h"

void mv_audit_http_record(void *ctx, const mv_http_answer *a)
{
    char action[MV_AUDIT_ACTION_MAX + 1];
    mv_audit *audit = ctx;
    if (!audit || !a)
        return;
    /* The buffer cuts an over-long action exactly as the server did before the hook existed. */
    snprintf(action, sizeof action, "%s %s", a->method, a->path);
    mv_err rc = mv_audit_append(audit, a->principal, a->remote, action, (int)a->status, a->note);
    if (rc != MV_OK) {
        mv_log(MV_LOG_ERROR, "http", "audit append failed: %s", mv_strerror(rc));
        if (a->metrics)
            (void)!mv_metrics_counter_add(a->metrics, "medvault_audit_append_failures_total",
                                          "Requests that could not be appended to the audit log.", NULL, 1);
    }
}

void mv_audit_respond(mv_audit *a, const mv_http_request *req, mv_http_response *resp)
{
    char v[24];
    uint64_t from = 0, limit = 1000;
    const char *q;
    mv_err rc;
    if (!req || !resp)
        return;
    if (strcmp(req->method, "GET") != 0) {
        mv_http_respond_json_error(resp, 405, "method not allowed");
        if (mv_http_response_header(resp, "Allow", "GET") != MV_OK)
            mv_http_respond_json_error(resp, 500, "internal error");
        return;
    }
    if (!a) {
        mv_http_respond_json_error(resp, 503, "no audit log");
        return;
    }
    q = mv_http_query(req);
    static const char *const names[] = {"from", "limit"};
    uint64_t *dst[] = {&from, &limit};
    for (size_t i = 0; i < 2; i++) {
        rc = mv_http_form_get(q, strlen(q), names[i], v, sizeof v);
        if (rc == MV_ERR_NOT_FOUND)
            continue;
        uint64_t x = 0;
        size_t n = strlen(v);
        int ok = rc == MV_OK && n > 0 && n <= 19 && strspn(v, "0123456789") == n;
        for (size_t k = 0; ok && k < n; k++)
            x = x * 10 + (uint64_t)(v[k] - '0');
        if (!ok || (i == 1 && (x == 0 || x > MV_AUDIT_FETCH_MAX))) {
            mv_http_respond_json_error(resp, 400, "from must be a seq and limit 1..10000");
            return;
        }
        *dst[i] = x;
    }
    mv_buf_reset(&resp->body);
    if ((rc = mv_audit_read(a, from, limit, &resp->body)) != MV_OK) {
        mv_log(MV_LOG_ERROR, "audit", "reading the audit log failed: %s", mv_strerror(rc));
        mv_http_respond_json_error(resp, rc == MV_ERR_NOMEM ? 503 : 500, "cannot read the audit log");
        return;
    }
    resp->status = 200;
    snprintf(resp->content_type, sizeof resp->content_type, "application/x-ndjson");
}
