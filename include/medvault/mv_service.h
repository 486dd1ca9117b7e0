/* mv_service.h - the start-up and shut-down every medvault daemon shares (key server,
 * storage server, decoy cloud, hospital), so each daemon's run function holds only what is
 * its own.
 *
 * A daemon, after mv_daemon_harden and its own set-up (identity, audit log, stores):
 *
 *   mv_service svc;
 *   mv_service_start(&cfg, &svc)      request verifier, metrics registry, signals blocked,
 *                                     revocation poller, metrics token
 *   ... threads of its own (they inherit the blocked signals) ...
 *   mv_service_listen(&svc, &http, public_urls, port_file)
 *                                     the origins requests must name, the HTTP server (its
 *                                     answers recorded in the audit log), the port file
 *   mv_daemon_wait(...)               until SIGTERM or SIGINT
 *   mv_service_stop(&svc)             every piece above, in reverse order
 *
 * The pieces stay reachable as svc.auth, svc.metrics, svc.http and svc.port. Errors are
 * logged under the daemon's component, naming the failure, never a key or the token. */
#ifndef MV_SERVICE_H
#define MV_SERVICE_H

#include <stdint.h>
#include "medvault/mv_audit.h"
#include "medvault/mv_auth.h"
#include "medvault/mv_err.h"
#include "medvault/mv_http.h"
#include "medvault/mv_metrics.h"
#include "medvault/mv_revocation_poller.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mv_service_config {
    const char *component;      /* log component, also in the revocation metrics' names:
                                   [a-z0-9_]{1,32}, e.g. "keyserver"; borrowed */
    const char *dir;            /* the daemon's directory (DIR/metrics.token); borrowed */
    uint8_t hospital_pk[32];    /* the key request credentials (and revocation lists) are signed with */
    uint64_t skew_seconds;      /* accepted request date skew (mv_auth_verifier_new) */
    /* NULL: no revocation poller at all (the hospital, which publishes the list). Otherwise as
     * mv_revocation_poller_start_service: "" logs that revocations are not polled. */
    const char *hospital_url;
    unsigned revocation_poll_s; /* with a non-empty hospital_url: 1..MV_REVOCATION_MAX_INTERVAL */
    mv_audit *audit;            /* optional, borrowed (the daemon opens and closes it, after
                                   mv_service_stop): every answered request is recorded there */
} mv_service_config;

typedef struct mv_service {
    mv_auth_verifier *auth;           /* the request verifier of every handler */
    mv_metrics *metrics;              /* the daemon's registry (public and private metrics) */
    mv_revocation_poller *revocations; /* NULL when not polling */
    mv_http_server *http;             /* NULL until mv_service_listen */
    uint16_t port;                    /* the bound port, 0 until mv_service_listen */
    mv_audit *audit;                  /* cfg->audit, borrowed */
    char component[33];
    char metrics_token[MV_HTTP_METRICS_TOKEN_MAX + 1]; /* secret; wiped by mv_service_stop */
} mv_service;

/* Zeroes *svc, then creates the verifier (for cfg->hospital_pk, cfg->skew_seconds) and the
 * metrics registry, blocks SIGTERM, SIGINT and SIGPIPE in the calling thread (every thread
 * started afterwards inherits it; mv_daemon_block_signals), starts the revocation poller
 * (unless cfg->hospital_url is NULL) and loads DIR/metrics.token (mv_daemon_metrics_token).
 * On error what was started stays in *svc: call mv_service_stop. Errors: MV_ERR_INVAL (NULL,
 * a bad component), those of mv_auth_verifier_new, mv_metrics_new,
 * mv_revocation_poller_start_service and mv_daemon_metrics_token. */
MV_API mv_err mv_service_start(const mv_service_config *cfg, mv_service *svc) __attribute__((warn_unused_result));

/* Makes the verifier accept requests that name http->listen (a fixed port's origins at once,
 * a port chosen at bind time after binding) or one of public_urls ("" or NULL: none; as
 * mv_auth_verifier_add_urls), then starts the HTTP server with *http, whose metrics,
 * metrics_token, on_answer and on_answer_ctx are replaced by the service's (answers go to
 * the audit log, if any), and writes the bound port to port_file (if not NULL; a failure
 * there is only a warning). Sets svc->http and svc->port.
 * Errors: MV_ERR_INVAL (NULL svc or http), those of mv_auth_verifier_add_listen / _add_urls
 * and mv_http_server_start (MV_ERR_NET: cannot listen). */
MV_API mv_err mv_service_listen(mv_service *svc, const mv_http_config *http, const char *public_urls,
                                const char *port_file) __attribute__((warn_unused_result));

/* Stops the HTTP server gracefully (mv_http_server_stop) if it runs; the rest stays. For a
 * daemon whose own threads must end after the last request and before the verifier goes.
 * Accepts NULL; safe to call twice. */
MV_API void mv_service_stop_serving(mv_service *svc);

/* mv_service_stop_serving, then stops the revocation poller, frees the verifier and the
 * metrics registry and wipes the token; *svc is zeroed. Accepts NULL and a partly started
 * service; safe to call twice. */
MV_API void mv_service_stop(mv_service *svc);

#ifdef __cplusplus
}
#endif
#endif
