/* mv_httpc.h - the HTTP client (libcurl): batches of calls run in parallel, signed with the
 * MV-* request headers of mv_auth.h.
 *
 * Policy for every call: redirects are never followed, proxies from the environment are
 * ignored (CURLOPT_NOPROXY "*"), only http and https URLs are allowed, the path is sent as
 * given (no dot-segment normalisation, so the signed path is the sent path), and response
 * bodies are capped. Requests carry no "Expect: 100-continue"; a body without a
 * Content-Type header in c->headers is sent as application/octet-stream. c->headers must
 * not contain MV-* headers of its own when the call is signed. Calls are independent: mv_httpc_run may be used from several threads
 * at once on different calls. */
#ifndef MV_HTTPC_H
#define MV_HTTPC_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_auth.h"
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_HTTPC_RESPONSE_MAX ((size_t)64 << 20) /* default response cap */
#define MV_HTTPC_DEFAULT_TIMEOUT_MS 30000L
#define MV_HTTPC_MAX_URL 8192
#define MV_HTTPC_KEEP_MAX 8 /* response headers one call keeps (keep_prefix) */

typedef struct mv_httpc_call {
    /* Inputs, borrowed until mv_httpc_run returns. */
    const char *method;              /* upper-case token; NULL = "GET" */
    const char *url;                 /* http:// or https:// */
    const char *const *headers;      /* "Name: value" strings, NULL-terminated; may be NULL */
    const uint8_t *body;             /* may be NULL when body_len is 0 */
    size_t body_len;
    long timeout_ms;                 /* whole call; <= 0 = MV_HTTPC_DEFAULT_TIMEOUT_MS */
    const char *keep_prefix;         /* keep the response headers whose names start with this
                                        (case-insensitive, e.g. "MV-Record-"); NULL = none */
    /* Outputs of mv_httpc_run. */
    mv_err rc;        /* MV_OK if an HTTP response arrived (any status); MV_ERR_NET (connect,
                         send, receive, or a refused URL), MV_ERR_TIMEOUT, MV_ERR_TOO_LARGE
                         (response over response.max) otherwise */
    long status;      /* HTTP status, 0 if none */
    mv_buf response;  /* the response body (owned; cap response.max, default
                         MV_HTTPC_RESPONSE_MAX; change .max after init to lower it) */
    long retry_after; /* seconds from Retry-After (delta-seconds or HTTP-date), -1 if absent */
    char content_type[64]; /* the response's Content-Type, "" if absent or longer than 63 */
    size_t n_kept;         /* headers kept by keep_prefix, in the order received: names as
                              sent, values trimmed; a header too long for the fields or
                              beyond MV_HTTPC_KEEP_MAX is dropped and counts in n_dropped */
    char kept_names[MV_HTTPC_KEEP_MAX][64];
    char kept_values[MV_HTTPC_KEEP_MAX][256];
    size_t n_dropped;
    int step_up_required; /* 1 if the answer carried "MV-Step-Up: required" (mv_stepup.h), else 0 */
    /* Private: the MV-* header lines set by mv_httpc_sign. */
    size_t priv_n_signed;
    char priv_key_hdr[8 + 64 + 1];
    char priv_date_hdr[9 + 20 + 1];
    char priv_nonce_hdr[10 + 32 + 1];
    char priv_target_hdr[11 + MV_AUTH_MAX_TARGET + 1];
    char priv_digest_hdr[19 + 64 + 1];
    char priv_sig_hdr[14 + 128 + 1];
    char priv_cred_hdr[15 + MV_CRED_B64_MAX + 1];
    int priv_too_large;
} mv_httpc_call;

/* Initialises a call: everything empty, retry_after -1, rc MV_ERR_NET, response cap
 * MV_HTTPC_RESPONSE_MAX. Allocates nothing. */
MV_API void mv_httpc_call_init(mv_httpc_call *c);
/* Frees the response and forgets the signed headers; the call can be initialised again.
 * Accepts NULL. */
MV_API void mv_httpc_call_clear(mv_httpc_call *c);

/* Initialises libcurl once per process (thread-safe; mv_httpc_run calls it too).
 * Errors: MV_ERR_NET if libcurl cannot be initialised. */
MV_API mv_err mv_httpc_global_init(void) __attribute__((warn_unused_result));

/* Runs calls[0..n) in parallel (one curl multi handle) and returns when all have finished
 * or timed out. Each call's rc, status, response (reset first) and retry_after are set.
 * Returns MV_OK even if calls failed (see each rc); MV_ERR_INVAL (calls NULL with n > 0, a
 * call without url, a malformed method, a header string with CR or LF), MV_ERR_NOMEM or
 * MV_ERR_NET if the batch could not be set up: then no call was sent. */
MV_API mv_err mv_httpc_run(mv_httpc_call *calls, size_t n) __attribute__((warn_unused_result));

/* Signs the call as DESIGN section 3 requires: computes MV-Key, MV-Date (now), MV-Nonce
 * (fresh), MV-Target (the origin of c->url, mv_auth_origin), MV-Content-SHA256,
 * MV-Credential (credential_b64) and MV-Signature over the target, c->method (NULL = GET),
 * the path and query of c->url, and c->body, and stores them in the call; mv_httpc_run
 * sends them after c->headers. Set url, method and body first; changing them afterwards
 * invalidates the signature. Signing again replaces the previous MV-* headers.
 * credential_b64 may be NULL: the request then carries no MV-Credential (a key-possession
 * request, as the hospital's POST /v1/credentials accepts for a user's first credential).
 * Errors: MV_ERR_INVAL (NULL call, keys or url, url not http(s)://host..., path not signable (see
 * mv_auth_sign_request), credential over MV_CRED_B64_MAX or not base64 text, sk not
 * matching pk), MV_ERR_NOMEM, MV_ERR_CRYPTO. */
MV_API mv_err mv_httpc_sign(mv_httpc_call *c, const uint8_t pk[static 32], const uint8_t sk[static 64],
                            const char *credential_b64, uint64_t now) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
