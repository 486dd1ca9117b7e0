/* mv_audit_http.h - the audit log (mv_audit.h) on the HTTP side: the hook that records every
 * answered request, and the handler that serves the log to an administrator.
 *
 * The log itself knows nothing of HTTP and the server (mv_http.h) nothing of the log; a
 * daemon joins them by setting mv_http_config.on_answer = mv_audit_http_record and
 * on_answer_ctx = its mv_audit. */
#ifndef MV_AUDIT_HTTP_H
#define MV_AUDIT_HTTP_H

#include "medvault/mv_audit.h"
#include "medvault/mv_http.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An mv_http_answer_fn: appends the answered request to the audit log ctx (an mv_audit *;
 * NULL records nothing) as principal, address, "METHOD /path" (cut to MV_AUDIT_ACTION_MAX,
 * never the query or body), status and note. A failed append is logged at ERROR and counted
 * in medvault_audit_append_failures_total (if the server has metrics); it never fails the
 * request (mv_audit_append keeps the log itself consistent). */
MV_API void mv_audit_http_record(void *ctx, const mv_http_answer *a);

/* Answers GET /v1/audit?from=SEQ&limit=N (from default 0, limit 1..MV_AUDIT_FETCH_MAX, default
 * 1000): 200 with the raw lines as application/x-ndjson (empty when from is past the end),
 * 400 for a malformed query, 405 for another method, 500/503 on a read failure. The caller
 * authenticates and checks the role (admin) first. */
MV_API void mv_audit_respond(mv_audit *a, const mv_http_request *req, mv_http_response *resp);

#ifdef __cplusplus
}
#endif
#endif
