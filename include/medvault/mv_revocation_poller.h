/* mv_revocation_poller.h - the services' revocation-list poller (DESIGN.md 3, issue 4).
 *
 * A thread that fetches GET {hospital_url}/v1/revocations every interval_seconds (no
 * authentication: the list is signed), checks it with mv_revocation_verify under
 * hospital_pk and installs it in the verifier (mv_auth_verifier_set_revocations). A failed
 * fetch, an answer other than 200, a list that does not verify, or one older than the
 * installed one changes nothing (the last good list stays) and is logged at WARN under
 * `component`, at most once a minute (the line names the failure and the URL, never a
 * key); when lists arrive again after failures one INFO line says so. Failures and the
 * age of the last good list past its next_update are in the warning.
 * Metrics (if cfg->metrics): gauge medvault_<component>_revocation_serial (serial of the
 * installed list) and counter medvault_<component>_revocation_failures_total. */
#ifndef MV_REVOCATION_POLLER_H
#define MV_REVOCATION_POLLER_H

#include <stdint.h>
#include "medvault/mv_auth.h"
#include "medvault/mv_err.h"
#include "medvault/mv_metrics.h"
#include "medvault/mv_revocation.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_REVOCATION_URL_MAX 1024
#define MV_REVOCATION_MAX_INTERVAL 3600u

typedef struct mv_revocation_poller_config {
    const char *hospital_url;   /* http(s)://host[:port][/prefix], no query; a trailing '/'
                                   is ignored; copied (at most MV_REVOCATION_URL_MAX - 32) */
    uint8_t hospital_pk[32];    /* the key the lists must be signed with (also the verifier's) */
    unsigned interval_seconds;  /* 1..MV_REVOCATION_MAX_INTERVAL */
    long timeout_ms;            /* per fetch; <= 0 = the smaller of 5000 and the interval */
    mv_auth_verifier *verifier; /* borrowed: must outlive the poller */
    mv_metrics *metrics;        /* borrowed, optional (NULL = no metrics) */
    const char *component;      /* [a-z0-9_]{1,32}, e.g. "keyserver"; copied */
} mv_revocation_poller_config;

typedef struct mv_revocation_poller mv_revocation_poller;

/* 1 if url is acceptable as hospital_url above (http:// or https://, a host, printable ASCII
 * without spaces, '@', '?', '#' or '\\', short enough), else 0 (also for NULL). */
MV_API int mv_revocation_url_ok(const char *url);

/* Defaults of the services' settings `revocation_poll_seconds` (in keyserver.conf and
 * storage.conf) and the flag --revocation-poll. */
#define MV_REVOCATION_DEFAULT_INTERVAL 10u

/* Fetches once synchronously (so a service starts with the current list when the hospital
 * is up; a failure there is only the rate-limited warning), then starts the polling thread.
 * On success *out owns the poller (stop it with mv_revocation_poller_stop).
 * Errors: MV_ERR_INVAL (NULL, a malformed URL or component, interval out of range),
 * MV_ERR_NOMEM, MV_ERR_BAD_STATE (the thread could not be started). *out is NULL on error. */
MV_API mv_err mv_revocation_poller_start(const mv_revocation_poller_config *cfg, mv_revocation_poller **out)
    __attribute__((warn_unused_result));

/* What a service (key server, storage server) does at start: with hospital_url empty, logs
 * once at INFO that revocations are not polled and returns MV_OK with *out NULL; otherwise
 * starts a poller as mv_revocation_poller_start (with the default fetch timeout) and logs a
 * failure to start at ERROR. Errors as mv_revocation_poller_start. */
MV_API mv_err mv_revocation_poller_start_service(const char *hospital_url, const uint8_t hospital_pk[static 32],
                                                 unsigned interval_seconds, mv_auth_verifier *verifier,
                                                 mv_metrics *metrics, const char *component, mv_revocation_poller **out)
    __attribute__((warn_unused_result));

/* Fetches and installs the list now, from the calling thread (the polling thread's schedule
 * is unchanged) and logs a failure as the thread does. Thread-safe. Returns the outcome:
 * MV_OK (installed), MV_ERR_NET / MV_ERR_TIMEOUT (unreachable), MV_ERR_HTTP (an answer
 * other than 200), MV_ERR_TOO_LARGE (an answer larger than any list), MV_ERR_PARSE /
 * MV_ERR_AUTH (the list does not verify under hospital_pk), MV_ERR_BAD_STATE (older than
 * the installed one), MV_ERR_INVAL (NULL), MV_ERR_NOMEM. */
MV_API mv_err mv_revocation_poller_poll_now(mv_revocation_poller *p) __attribute__((warn_unused_result));

/* Stops the thread (waking it at once; a fetch in flight finishes first, bounded by the
 * fetch timeout), joins it and frees the poller. The installed list stays in the verifier.
 * Accepts NULL. */
MV_API void mv_revocation_poller_stop(mv_revocation_poller *p);

#ifdef __cplusplus
}
#endif
#endif
