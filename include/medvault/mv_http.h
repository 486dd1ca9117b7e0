/* mv_http.h - the HTTP/1.1 server every medvault daemon uses (libmicrohttpd).
 *
 * The server listens on one IPv4 address, reads each request (body capped at max_body),
 * and calls one handler function per request on a pool of worker threads, so the handler
 * must be thread-safe. Built in, before the handler:
 *   GET /healthz  -> 200 "ok\n" (text/plain)
 *   GET /metrics  -> the registry in Prometheus text format 0.0.4 (only if cfg.metrics is set)
 * Every response counts in <component>_http_requests_total{code="NNN"} and
 * <component>_http_request_duration_seconds (from the request line to the response being
 * queued) when cfg.metrics is set. Every response carries Content-Length and
 * Cache-Control: no-store. Bodies are accepted only on POST and PUT (else 400); a body over
 * max_body is answered 413 without calling the handler, whether announced by
 * Content-Length or found while receiving a chunked body.
 *
 * A handler blocks the worker thread it runs on (and the other connections that thread
 * serves) until it returns: size `threads` for the slowest expected handler. */
#ifndef MV_HTTP_H
#define MV_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_auth.h"
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"
#include "medvault/mv_metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Cap on a response body built by a handler (appends beyond it fail with MV_ERR_TOO_LARGE). */
#define MV_HTTP_RESPONSE_MAX ((size_t)256 << 20)
#define MV_HTTP_MAX_HEADERS 8
#define MV_HTTP_HEADER_NAME_MAX 64
#define MV_HTTP_HEADER_VALUE_MAX 256
#define MV_HTTP_AUDIT_NOTE_MAX 63

/* One request, valid only during the handler call (everything is borrowed from the server). */
typedef struct mv_http_request {
    const char *method;         /* "GET", "POST", ... as received */
    const char *path;           /* the request target up to '?', not percent-decoded */
    const char *path_and_query; /* the request target exactly as received (what signatures cover) */
    const uint8_t *body;        /* never NULL ("" when empty) */
    size_t body_len;
    const char *remote_addr;    /* client IPv4 address as text */
    void *impl;                 /* private to the server */
} mv_http_request;

/* Value of request header `name` (case-insensitive), NUL-terminated, or NULL if absent or
 * if r or name is NULL. With repeated headers, the first. Valid during the handler call. */
const char *mv_http_header(const mv_http_request *r, const char *name);

/* Verifies r as a signed request (DESIGN section 3): takes the MV-* headers, method,
 * path-and-query and body from r and calls mv_auth_verify(v, ..., now, out_cred); returns
 * what that returns. One place for every service to authenticate a request. On success the
 * verified subject is remembered as the request's principal for the audit log. */
mv_err mv_http_verify(mv_auth_verifier *v, const mv_http_request *r, uint64_t now, mv_credential *out_cred)
    __attribute__((warn_unused_result));

/* As mv_http_verify with mv_auth_verify_ex: *why (required) receives the refusal's reason. */
mv_err mv_http_verify_ex(mv_auth_verifier *v, const mv_http_request *r, uint64_t now, mv_credential *out_cred,
                         mv_auth_failure *why) __attribute__((warn_unused_result));

/* As mv_http_verify with mv_auth_verify_key (a key-possession request; no credential); the
 * verified key becomes the request's principal for the audit log. */
mv_err mv_http_verify_key(mv_auth_verifier *v, const mv_http_request *r, uint64_t now, uint8_t key_out[static 32])
    __attribute__((warn_unused_result));

/* Finds parameter `name` in an application/x-www-form-urlencoded text (a query string after
 * '?', or a form body): text[0..len), pairs separated by '&', "name=value". Copies the first
 * match's value, percent-decoded and with '+' as space, NUL-terminated, into out[0..cap).
 * A NUL byte, a control character (below 0x20 or 0x7f) or invalid UTF-8 after decoding is
 * refused. On any error out holds "" (when cap > 0). Errors: MV_ERR_NOT_FOUND (absent),
 * MV_ERR_PARSE (bad escape or refused byte), MV_ERR_TOO_LARGE (cap), MV_ERR_INVAL (NULL,
 * cap 0, empty name). */
mv_err mv_http_form_get(const char *text, size_t len, const char *name, char *out, size_t cap)
    __attribute__((warn_unused_result));

/* The query string of r (after '?', "" if none). */
const char *mv_http_query(const mv_http_request *r);

/* The handler fills this in. On entry: status 0, content_type "", body empty (cap
 * MV_HTTP_RESPONSE_MAX), no headers. A status left at 0 or outside 100..599 is sent as 500.
 * An empty content_type is sent as application/octet-stream. */
typedef struct mv_http_response {
    int status;
    char content_type[64];
    mv_buf body;
    size_t n_headers;
    char header_names[MV_HTTP_MAX_HEADERS][MV_HTTP_HEADER_NAME_MAX];
    char header_values[MV_HTTP_MAX_HEADERS][MV_HTTP_HEADER_VALUE_MAX];
    char audit_note[MV_HTTP_AUDIT_NOTE_MAX + 1]; /* set with mv_http_response_audit_note */
} mv_http_response;

/* Adds a response header (copied). name is an HTTP token; value is printable ASCII
 * (space and tab allowed, no CR/LF). Content-Length, Content-Type, Cache-Control,
 * Connection and Transfer-Encoding are set by the server and refused here.
 * Errors: MV_ERR_INVAL (NULL, bad characters, a refused name, name or value too long for
 * the fixed fields), MV_ERR_TOO_LARGE (already MV_HTTP_MAX_HEADERS). */
mv_err mv_http_response_header(mv_http_response *r, const char *name, const char *value)
    __attribute__((warn_unused_result));

/* Replaces the body with {"error":"message"} (message JSON-escaped; NULL = "error"), sets
 * status and content type application/json. Never fails: on a problem it falls back to a
 * fixed body. Headers already added are kept. */
void mv_http_respond_json_error(mv_http_response *r, int status, const char *message);

/* Replaces the body with b's bytes, sets status and content type application/json. A body
 * that cannot be copied becomes a 500 error answer. b is borrowed (not freed). */
void mv_http_respond_json(mv_http_response *r, int status, const mv_buf *b);
/* As mv_http_respond_json when rc is MV_OK (b was built), else a 500 "internal error". */
void mv_http_respond_built(mv_http_response *r, mv_err rc, int status, const mv_buf *b);
/* A small JSON answer formatted in place (printf-style); a 500 if it cannot be built. */
void mv_http_respond_fmt(mv_http_response *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Replaces the body with bytes[0..n) as application/octet-stream (a 500 if it cannot be copied). */
void mv_http_respond_bytes(mv_http_response *r, int status, const uint8_t *bytes, size_t n);

/* Maps a failed mv_http_verify to the answer every service gives: 401 (expired, replayed,
 * or any other authentication failure, with a message that reveals nothing else) or 503
 * (replay cache full). Writes the answer into r. */
void mv_http_respond_auth_failure(mv_http_response *r, mv_err rc);

/* Sets the note the audit log records for this request (mv_audit.h): a short token of
 * [a-z0-9:_.-], e.g. "decoy:forged", copied (at most MV_HTTP_AUDIT_NOTE_MAX characters).
 * Never request data. Errors: MV_ERR_INVAL (NULL, empty, too long, a character outside the set). */
mv_err mv_http_response_audit_note(mv_http_response *r, const char *note) __attribute__((warn_unused_result));

typedef void (*mv_http_handler_fn)(void *ctx, const mv_http_request *req, mv_http_response *resp);

typedef struct mv_audit mv_audit; /* mv_audit.h */

typedef struct mv_http_config {
    const char *listen;         /* "a.b.c.d:PORT" (IPv4 only); PORT 0 picks a free port */
    size_t max_body;            /* request body cap in bytes (0 = no body accepted) */
    unsigned threads;           /* worker threads (0 = 4) */
    mv_http_handler_fn handler; /* required */
    void *ctx;                  /* passed to handler, borrowed */
    mv_metrics *metrics;        /* optional, borrowed; must outlive the server */
    const char *component;      /* metric prefix, [a-zA-Z_][a-zA-Z0-9_]* up to 63 chars;
                                   NULL = "medvault" */
    mv_audit *audit;            /* optional, borrowed; must outlive the server: every answered
                                   request except GET /healthz and GET /metrics is appended
                                   (principal, address, "METHOD /path", status, note) */
} mv_http_config;

typedef struct mv_http_server mv_http_server;

/* Starts listening and serving. cfg is copied (its strings too); ctx and metrics are
 * borrowed until mv_http_server_stop returns.
 * Errors: MV_ERR_INVAL (NULL cfg/out/handler/listen, listen not "a.b.c.d:port", bad
 * component), MV_ERR_NET (cannot bind or start, e.g. address in use), MV_ERR_NOMEM. */
mv_err mv_http_server_start(const mv_http_config *cfg, mv_http_server **out) __attribute__((warn_unused_result));

/* The port actually bound (useful with PORT 0); 0 if s is NULL. */
uint16_t mv_http_server_port(const mv_http_server *s);

/* Stops gracefully and frees s (accepts NULL): stops accepting connections, waits (up to
 * 10 seconds) for requests already received to be answered, closes every connection,
 * joins the worker threads. Must not be called from a handler. */
void mv_http_server_stop(mv_http_server *s);

#ifdef __cplusplus
}
#endif
#endif
