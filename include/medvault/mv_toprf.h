/* mv_toprf.h - the client side of the threshold VOPRF (server-aided MLE keys).
 *
 * mv_toprf_evaluate blinds a batch of inputs, sends the same blinded batch to t key
 * servers in parallel (signed requests), verifies every server's batched DLEQ proof
 * against that server's public share pinned in the deployment file, asks the next server
 * when one fails, times out or misbehaves (and reports it), interpolates the t partial
 * evaluations in the exponent, unblinds and runs RFC 9497 Finalize. For any t honest
 * servers the output equals RFC 9497 Evaluate under the shared key k. No key server
 * learns the input or the output; fewer than t of them learn nothing about k. */
#ifndef MV_TOPRF_H
#define MV_TOPRF_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_deployment.h"
#include "medvault/mv_err.h"
#include "medvault/mv_identity.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_TOPRF_OUTPUT_BYTES 64

typedef enum mv_toprf_status {
    MV_TOPRF_UNUSED = 0,       /* not asked */
    MV_TOPRF_OK = 1,           /* answered with a verifying proof */
    MV_TOPRF_DOWN = 2,         /* no HTTP answer (connection refused, timeout) */
    MV_TOPRF_BAD_PROOF = 3,    /* answered, but the proof fails against its pinned public share */
    MV_TOPRF_BAD_RESPONSE = 4, /* answered 200 with a malformed body (wrong index, count, lengths) */
    MV_TOPRF_RATE_LIMITED = 5, /* 429 */
    MV_TOPRF_REFUSED = 6,      /* another HTTP error (401, 400, 503, ...) */
} mv_toprf_status;

typedef struct mv_toprf_server_report {
    uint32_t index;
    mv_toprf_status status;
    long http_status;  /* 0 if none */
    double seconds;    /* wall time of this server's last call */
} mv_toprf_server_report;

typedef struct mv_toprf_report {
    size_t n_servers;
    mv_toprf_server_report servers[MV_DEPLOY_MAX_SERVERS]; /* by index - 1 */
    long retry_after;  /* largest Retry-After seen from a 429, or -1 */
    size_t rounds;     /* parallel rounds of requests (1 when the first t servers all answer) */
} mv_toprf_report;

typedef struct mv_toprf_options {
    long timeout_ms;       /* per request; default 10000 */
    int deterministic;     /* ask servers in index order (tests); default: random start */
} mv_toprf_options;

/* Evaluates count inputs (inputs[i] of input_lens[i] bytes, each <= 65535) and writes
 * count * 64 bytes of outputs. id supplies the signing key and credential. opts and report
 * may be NULL. Batches larger than 1024 are split into several requests per server.
 * Errors: MV_ERR_INVAL, MV_ERR_NOMEM, MV_ERR_RATE_LIMITED (every untried server answered
 * 429 or was otherwise unusable and at least one was rate limited), MV_ERR_UNAVAILABLE
 * (fewer than t servers gave verifying answers), MV_ERR_AUTH (identity has no credential). */
mv_err mv_toprf_evaluate(const mv_deployment *d, const mv_identity *id, const uint8_t *const *inputs,
                         const size_t *input_lens, size_t count, uint8_t *outputs,
                         const mv_toprf_options *opts, mv_toprf_report *report)
    __attribute__((warn_unused_result));

/* A static name for a status ("ok", "down", "bad-proof", ...). */
const char *mv_toprf_status_name(mv_toprf_status s);

#ifdef __cplusplus
}
#endif
#endif
