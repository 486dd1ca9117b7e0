/* mv_toprf.h - the client side of the threshold VOPRF (server-aided MLE keys).
 *
 * mv_toprf_evaluate blinds a batch of inputs, sends the same blinded batch to t key
 * servers in parallel (signed requests), verifies every server's batched DLEQ proof
 * against that server's public share pinned in the deployment file, asks the next server
 * at once when one fails or misbehaves (and reports it), interpolates the first t verifying
 * partial evaluations in the exponent, unblinds and runs RFC 9497 Finalize. For any t
 * honest servers the output equals RFC 9497 Evaluate under the shared key k. No key server
 * learns the input or the output; fewer than t of them learn nothing about k.
 *
 * Hedging: a server that has not answered after the hedge delay (MV_TOPRF_HEDGE_MS, or
 * three times the slowest answer an earlier batch of the same call used, whichever is
 * larger) is no longer waited for: the same batch goes to one more server, and the first t
 * verifying answers win. A frozen key server therefore costs about one hedge delay, not the
 * request timeout. Further servers are asked only on failure or delay, never up front,
 * because every request costs rate-limit budget at its server (docs/deployment.md). Each
 * request runs on its own thread; one still running when the call returns (a server that
 * was hedged around) finishes by itself within timeout_ms and references nothing of the
 * caller's. */
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
/* The shortest hedge delay, in milliseconds: several times what a batch of 1024 elements
 * costs a key server (about 0.12 s on one core, docs/BENCHMARKS.md), short enough that a
 * frozen server costs a user about a second. It runs until the server's HTTP answer; the
 * client's own proof check is not counted. */
#define MV_TOPRF_HEDGE_MS 1000

typedef enum mv_toprf_status {
    MV_TOPRF_UNUSED = 0,       /* not asked */
    MV_TOPRF_OK = 1,           /* answered with a verifying proof */
    MV_TOPRF_DOWN = 2,         /* no HTTP answer (connection refused, timeout) */
    MV_TOPRF_BAD_PROOF = 3,    /* answered, but the proof fails against its pinned public share */
    MV_TOPRF_BAD_RESPONSE = 4, /* answered 200 with a malformed body (wrong index, count, lengths) */
    MV_TOPRF_RATE_LIMITED = 5, /* 429 */
    MV_TOPRF_REFUSED = 6,      /* another HTTP error (401, 400, 503, ...) */
    MV_TOPRF_SLOW = 7,         /* asked, but no answer yet when t others had answered (hedged around) */
} mv_toprf_status;

typedef struct mv_toprf_server_report {
    uint32_t index;
    mv_toprf_status status;
    long http_status;  /* 0 if none */
    double seconds;    /* wall time until this server's last answer (so far, for MV_TOPRF_SLOW) */
} mv_toprf_server_report;

typedef struct mv_toprf_report {
    size_t n_servers;
    mv_toprf_server_report servers[MV_DEPLOY_MAX_SERVERS]; /* by index - 1 */
    long retry_after;  /* largest Retry-After seen from a 429, or -1 */
    size_t rounds;     /* times further servers were asked, the first t included (1 when the
                          first t servers all answer within the hedge delay) */
} mv_toprf_report;

typedef struct mv_toprf_options {
    long timeout_ms;       /* per request; default 10000 (a server that takes longer is "down") */
    int deterministic;     /* ask servers in index order (tests); default: random start */
} mv_toprf_options;

/* Evaluates count inputs (inputs[i] of input_lens[i] bytes, each <= 65535) and writes
 * count * 64 bytes of outputs. id supplies the signing key and credential. opts and report
 * may be NULL. Batches larger than 1024 are split into several requests per server.
 * Errors: MV_ERR_INVAL, MV_ERR_NOMEM, MV_ERR_RATE_LIMITED (every untried server answered
 * 429 or was otherwise unusable and at least one was rate limited), MV_ERR_UNAVAILABLE
 * (fewer than t servers gave verifying answers), MV_ERR_AUTH (identity has no credential). */
MV_API mv_err mv_toprf_evaluate(const mv_deployment *d, const mv_identity *id, const uint8_t *const *inputs,
                                const size_t *input_lens, size_t count, uint8_t *outputs,
                                const mv_toprf_options *opts, mv_toprf_report *report)
    __attribute__((warn_unused_result));

/* A static name for a status ("ok", "down", "bad-proof", ...). */
MV_API const char *mv_toprf_status_name(mv_toprf_status s);

#ifdef __cplusplus
}
#endif
#endif
