/* mv_http.h - the HTTP/1.1 server every medvault daemon uses (libmicrohttpd).
 *
 * The server listens on one IPv4 address, reads each request (body capped at max_body),
 * and calls one handler function per request on a pool of worker threads, so the handler
 * must be thread-safe. Built in, before the handler:
 *   GET /healthz  -> 200 "ok\n" (text/plain)
 *   GET /metrics  -> Prometheus text format 0.0.4 (only if cfg.metrics is set): without
 *                    credentials only the server's own request counter and duration histogram
 *                    (what any client observes anyway); with "Authorization: Bearer TOKEN"
 *                    (cfg.metrics_token) also every metric of cfg.metrics; a wrong token 401
 * Every response counts in <component>_http_requests_total{code="NNN"} and
 * <component>_http_request_duration_seconds (from the request line to the response being
 * queued). Every response carries Content-Length and Cache-Control: no-store.
 *
 * What the server refuses before the handler runs (a JSON error, one response on the wire):
 *   400  a malformed, negative or repeated Content-Length; Content-Length together with
 *        Transfer-Encoding; a body on a method other than POST and PUT; a bad request target
 *   413  a body over max_body, announced by Content-Length or found while receiving a chunked
 *        body (an all-digit Content-Length too large to represent, too)
 *   415  a body (Content-Length > 0 or chunked) whose Content-Type media type is not in
 *        cfg.content_types
 *   501  a Transfer-Encoding other than "chunked"
 *
 * Memory and connections (docs/api.md, "Limits and strict HTTP"):
 *   - a body is buffered as it arrives (never reserved ahead from an announced length);
 *   - a body over MV_HTTP_UNVERIFIED_BODY_MAX is accepted only if cfg.body_gate allows it at
 *     header time (or when a chunked body grows past it); otherwise the request is answered 413
 *     at once, nothing of its body is kept, and the connection closes;
 *   - a connection must deliver each request head within header_timeout_ms (from accept or from
 *     the end of the previous response), its body at body_min_rate on average after the same
 *     grace, and read its response likewise; past that its socket is shut down (unless bytes it
 *     sent wait unread: then the server is the slow one);
 *   - one address holding more than max_pending_per_addr connections that have not sent a
 *     complete request head loses its oldest such connection (the new one is served).
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
/* A request body up to this size is always buffered; a larger one only if the body gate lets
 * it (mv_http_config.body_gate). 64 KiB holds every request an unauthenticated caller may
 * legitimately send (self-registration, forms); larger ones (block and envelope uploads,
 * TokenGen batches) come from credential holders. */
#define MV_HTTP_UNVERIFIED_BODY_MAX ((size_t)64 << 10)
/* Defaults of the connection limits in mv_http_config (a field left 0). */
#define MV_HTTP_HEADER_TIMEOUT_MS_DEFAULT 15000u
#define MV_HTTP_BODY_MIN_RATE_DEFAULT 8192u      /* bytes per second */
#define MV_HTTP_MAX_CONNECTIONS_DEFAULT 8192u    /* lowered to RLIMIT_NOFILE - 64 if that is less */
#define MV_HTTP_MAX_PENDING_PER_ADDR_DEFAULT 256u
/* Content types accepted on a request body when mv_http_config.content_types is NULL. */
#define MV_HTTP_CONTENT_TYPES_DEFAULT "application/json", "application/octet-stream", \
                                      "application/x-www-form-urlencoded"
#define MV_HTTP_MAX_CONTENT_TYPES 16
#define MV_HTTP_CONTENT_TYPE_MAX 63
/* Longest metrics token accepted in mv_http_config (a token68 of RFC 9110 section 11.2). */
#define MV_HTTP_METRICS_TOKEN_MAX 256

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

/* Decides at header time whether a body larger than MV_HTTP_UNVERIFIED_BODY_MAX may be
 * buffered (return 1) or is refused with 413 (return 0). Called at
 * most once per request, on a worker thread, when Content-Length announces more than
 * MV_HTTP_UNVERIFIED_BODY_MAX or a chunked body grows past it: req's method, path, query,
 * remote address and headers (mv_http_header) are readable, body_len is 0. Must be
 * thread-safe and fast (it holds up the connection's worker thread). */
typedef int (*mv_http_body_gate_fn)(void *ctx, const mv_http_request *req);
/* A body gate's answer for a body it would take but not now (a budget of bodies in flight is
 * spent): the server answers 503 instead of 413. */
#define MV_HTTP_GATE_BUSY 2
/* Called once, when a request whose body the gate allowed (returned 1) ends, however it ends
 * (answered, refused, or the peer went away), with the request as the gate saw it (the same
 * req->impl; no headers). Lets the gate release what it reserved. Must be thread-safe. */
typedef void (*mv_http_body_done_fn)(void *ctx, const mv_http_request *req);

/* The body gate of every daemon: allows the body iff the request as its headers describe it
 * verifies (mv_auth_preverify with verifier ctx, an mv_auth_verifier*, borrowed): a credential
 * signed by the hospital, valid, naming MV-Key, not revoked; MV-Target one of the service's
 * origins; MV-Date within the skew; and MV-Signature valid over the digest MV-Content-SHA256
 * announces. So only a key holder's request makes the server buffer more than
 * MV_HTTP_UNVERIFIED_BODY_MAX bytes; mv_http_verify then checks the body against that digest
 * and the nonce once the body is in. */
MV_API int mv_http_gate_signed(void *verifier, const mv_http_request *req);

/* Value of request header `name` (case-insensitive), NUL-terminated, or NULL if absent or
 * if r or name is NULL. With repeated headers, the first. Valid during the handler call. */
MV_API const char *mv_http_header(const mv_http_request *r, const char *name);

/* Verifies r as a signed request (DESIGN section 3): takes the MV-* headers, method,
 * path-and-query and body from r and calls mv_auth_verify(v, ..., now, out_cred); returns
 * what that returns. One place for every service to authenticate a request. On success the
 * verified subject is remembered as the request's principal for the audit log. */
MV_API mv_err mv_http_verify(mv_auth_verifier *v, const mv_http_request *r, uint64_t now, mv_credential *out_cred)
    __attribute__((warn_unused_result));

/* As mv_http_verify with mv_auth_verify_ex: *why (required) receives the refusal's reason. */
MV_API mv_err mv_http_verify_ex(mv_auth_verifier *v, const mv_http_request *r, uint64_t now, mv_credential *out_cred,
                                mv_auth_failure *why) __attribute__((warn_unused_result));

/* As mv_http_verify with mv_auth_verify_key (a key-possession request; no credential); the
 * verified key becomes the request's principal for the audit log. */
MV_API mv_err mv_http_verify_key(mv_auth_verifier *v, const mv_http_request *r, uint64_t now,
                                 uint8_t key_out[static 32])
    __attribute__((warn_unused_result));

/* Finds parameter `name` in an application/x-www-form-urlencoded text (a query string after
 * '?', or a form body): text[0..len), pairs separated by '&', "name=value". Copies the first
 * match's value, percent-decoded and with '+' as space, NUL-terminated, into out[0..cap).
 * A NUL byte, a control character (below 0x20 or 0x7f) or invalid UTF-8 after decoding is
 * refused. On any error out holds "" (when cap > 0). Errors: MV_ERR_NOT_FOUND (absent),
 * MV_ERR_PARSE (bad escape or refused byte), MV_ERR_TOO_LARGE (cap), MV_ERR_INVAL (NULL,
 * cap 0, empty name). */
MV_API mv_err mv_http_form_get(const char *text, size_t len, const char *name, char *out, size_t cap)
    __attribute__((warn_unused_result));

/* Appends "?name=value" to the URL being built in b, or "&name=value" when b already holds a
 * '?'; value is percent-encoded (everything but A-Z a-z 0-9 - _ . ~), name is appended as it
 * is (a literal of the caller's). value NULL appends nothing. The reverse of
 * mv_http_form_get. Errors: MV_ERR_INVAL (NULL b or name), those of mv_buf_append. */
MV_API mv_err mv_http_query_add(mv_buf *b, const char *name, const char *value) __attribute__((warn_unused_result));

/* The query string of r (after '?', "" if none). */
MV_API const char *mv_http_query(const mv_http_request *r);

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
MV_API mv_err mv_http_response_header(mv_http_response *r, const char *name, const char *value)
    __attribute__((warn_unused_result));

/* Replaces the body with {"error":"message"} (message JSON-escaped; NULL = "error"), sets
 * status and content type application/json. Never fails: on a problem it falls back to a
 * fixed body. Headers already added are kept. */
MV_API void mv_http_respond_json_error(mv_http_response *r, int status, const char *message);

/* Replaces the body with b's bytes, sets status and content type application/json. A body
 * that cannot be copied becomes a 500 error answer. b is borrowed (not freed). */
MV_API void mv_http_respond_json(mv_http_response *r, int status, const mv_buf *b);
/* As mv_http_respond_json when rc is MV_OK (b was built), else a 500 "internal error". */
MV_API void mv_http_respond_built(mv_http_response *r, mv_err rc, int status, const mv_buf *b);
/* A small JSON answer formatted in place (printf-style); a 500 if it cannot be built. */
MV_API void mv_http_respond_fmt(mv_http_response *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Replaces the body with bytes[0..n) as application/octet-stream (a 500 if it cannot be copied). */
MV_API void mv_http_respond_bytes(mv_http_response *r, int status, const uint8_t *bytes, size_t n);

/* Maps a failed mv_http_verify to the answer every service gives: 401 (expired, replayed,
 * or any other authentication failure, with a message that reveals nothing else) or 503
 * (replay cache full). Writes the answer into r. */
MV_API void mv_http_respond_auth_failure(mv_http_response *r, mv_err rc);

/* Sets the note the audit log records for this request (mv_audit.h): a short token of
 * [a-z0-9:_.-], e.g. "decoy:forged", copied (at most MV_HTTP_AUDIT_NOTE_MAX characters).
 * Never request data. Errors: MV_ERR_INVAL (NULL, empty, too long, a character outside the set). */
MV_API mv_err mv_http_response_audit_note(mv_http_response *r, const char *note) __attribute__((warn_unused_result));

typedef void (*mv_http_handler_fn)(void *ctx, const mv_http_request *req, mv_http_response *resp);

/* One answered request, as the server reports it to its answer hook (mv_http_config.on_answer).
 * Every pointer is valid only during the call. */
typedef struct mv_http_answer {
    const char *method;         /* never NULL ("?" if unknown) */
    const char *path;           /* up to '?', never the query; never NULL ("?" if unknown) */
    const uint8_t *principal;   /* 32 bytes: the key mv_http_verify(_key) verified, or NULL */
    const char *remote;         /* the peer's IPv4 address, NUL-terminated */
    unsigned status;            /* the status sent */
    const char *note;           /* mv_http_response_audit_note's token, "" if none */
    mv_metrics *metrics;        /* the server's (mv_http_config.metrics), may be NULL */
} mv_http_answer;

/* Called once for every answered request except GET /healthz and GET /metrics, from the
 * worker thread, before the response is queued; must be thread-safe and must not fail the
 * request. The daemon sets it (the audit log's is mv_audit_http_record, mv_audit_http.h), so
 * the server knows nothing of what records its answers. */
typedef void (*mv_http_answer_fn)(void *ctx, const mv_http_answer *a);

typedef struct mv_http_config {
    const char *listen;         /* "a.b.c.d:PORT" (IPv4 only); PORT 0 picks a free port */
    size_t max_body;            /* request body cap in bytes (0 = no body accepted) */
    unsigned threads;           /* worker threads (0 = 4) */
    mv_http_handler_fn handler; /* required */
    void *ctx;                  /* passed to handler, borrowed */
    mv_metrics *metrics;        /* optional, borrowed; must outlive the server */
    const char *component;      /* metric prefix, [a-zA-Z_][a-zA-Z0-9_]* up to 63 chars;
                                   NULL = "medvault" */
    mv_http_answer_fn on_answer; /* optional (NULL = none); see mv_http_answer_fn */
    void *on_answer_ctx;        /* passed to on_answer, borrowed; must outlive the server */
    /* Body gate (see mv_http_body_gate_fn). NULL: every body up to max_body is buffered (the
     * behaviour before the gate existed, kept so that a service without a gate works). */
    mv_http_body_gate_fn body_gate;
    void *body_gate_ctx;        /* passed to body_gate and body_done, borrowed */
    mv_http_body_done_fn body_done; /* optional (NULL = none); see mv_http_body_done_fn */
    /* Media types (lower-case "type/subtype") a request body may carry, NULL-terminated, at
     * most MV_HTTP_MAX_CONTENT_TYPES (copied). NULL = MV_HTTP_CONTENT_TYPES_DEFAULT.
     * Parameters ("; charset=utf-8") are ignored; the type is compared case-insensitively. */
    const char *const *content_types;
    /* Bearer token that unlocks the private metrics on GET /metrics (copied, never logged);
     * [A-Za-z0-9._~+/=-], 16..MV_HTTP_METRICS_TOKEN_MAX characters. NULL: nobody sees them. */
    const char *metrics_token;
    int metrics_private_only;   /* 1: GET /metrics without the token answers 401 */
    /* Connection limits; 0 = the MV_HTTP_*_DEFAULT above. */
    unsigned header_timeout_ms;    /* a request head must arrive within this */
    unsigned body_min_rate;        /* bytes per second, average, after the same grace */
    unsigned max_connections;      /* open connections (further ones are refused) */
    unsigned max_pending_per_addr; /* connections of one address without a complete head */
} mv_http_config;

typedef struct mv_http_server mv_http_server;

/* Starts listening and serving. cfg is copied (its strings too); ctx, metrics, on_answer_ctx
 * and body_gate_ctx are borrowed until mv_http_server_stop returns.
 * Errors: MV_ERR_INVAL (NULL cfg/out/handler/listen, listen not "a.b.c.d:port", bad
 * component, content type or metrics token, too many content types), MV_ERR_NET (cannot
 * bind or start, e.g. address in use), MV_ERR_NOMEM. */
MV_API mv_err mv_http_server_start(const mv_http_config *cfg, mv_http_server **out) __attribute__((warn_unused_result));

/* The port actually bound (useful with PORT 0); 0 if s is NULL. */
MV_API uint16_t mv_http_server_port(const mv_http_server *s);

/* Stops gracefully and frees s (accepts NULL): stops accepting connections, waits (up to
 * 10 seconds) for requests already received to be answered, closes every connection,
 * joins the worker threads. Must not be called from a handler. */
MV_API void mv_http_server_stop(mv_http_server *s);

#ifdef __cplusplus
}
#endif
#endif
