/* mv_alert.h - security alerts raised by the services and sent to the hospital
 * (issue 5, docs/alerts.md).
 *
 * Storage servers (primary and decoy) and key servers report every decoy served, honeytoken
 * touched, failed step-up and credential misuse with a signed POST /v1/alerts to the hospital,
 * which aggregates, stores and delivers them (webhook, syslog, dashboard, `medvault alerts`).
 * An alert says who, what, when, from where and why; it NEVER carries record content, keys
 * or tokens: object is a record id in hex or an endpoint label, reason a fixed phrase.
 *
 * Wire body of POST /v1/alerts (JSON, one object):
 *   {"at":N,"source":"...","kind":"...","principal":"hex|","address":"...","object":"...",
 *    "reason":"...","count":N}
 * The hospital takes the source from the caller's credential role ("storage", "keyserver"),
 * except that a storage credential may say "decoy". */
#ifndef MV_ALERT_H
#define MV_ALERT_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_ALERT_FIELD 128
#define MV_ALERT_QUEUE_MAX 1024   /* distinct pending alert keys per reporter; more are dropped (logged) */
#define MV_ALERT_BODY_MAX 2048    /* cap of one POST /v1/alerts body */
#define MV_ALERT_COUNT_MAX 1000000000u

typedef struct mv_alert {
    uint64_t at;                 /* unix seconds */
    char source[32];             /* "storage", "decoy", "keyserver", "hospital" */
    char kind[32];               /* "decoy_served" | "honeytoken" | "stepup_failed" | "credential_misuse" */
    char principal[65];          /* lowercase hex Ed25519 key, "" if unknown */
    char address[64];            /* caller's IPv4 text */
    char object[MV_ALERT_FIELD]; /* record id hex / endpoint label; NEVER content */
    char reason[MV_ALERT_FIELD]; /* e.g. "unauthenticated", "forged credential", "revoked credential",
                                    "expired credential", "honeytoken read", "burst above access profile",
                                    "reads outside departments", "step-up not completed",
                                    "bad device signature", "denied by admin" */
} mv_alert;

typedef struct mv_alert_reporter mv_alert_reporter;

/* Fills *a: zeroes it, sets at, and copies each string (NULL = "") truncated to its field.
 * Characters outside printable ASCII are replaced by '?' so an alert is always one safe line.
 * principal, if 32 bytes are given (principal_pk not NULL), is written as lowercase hex.
 * a must not be NULL (returns quietly otherwise). */
MV_API void mv_alert_fill(mv_alert *a, uint64_t at, const char *source, const char *kind,
                          const uint8_t *principal_pk, const char *address, const char *object, const char *reason);

/* Appends the wire JSON of a with count (see above) to out. Errors: MV_ERR_INVAL (NULL),
 * MV_ERR_TOO_LARGE (out's cap), MV_ERR_NOMEM. On error out may hold a partial object. */
MV_API mv_err mv_alert_to_json(const mv_alert *a, uint64_t count, mv_buf *out) __attribute__((warn_unused_result));

/* Parses a wire object (untrusted, already parsed JSON) into *a and *count. kind must be one
 * of the four kinds; at a u64; count 1..MV_ALERT_COUNT_MAX (absent = 1); principal "" or 64
 * lowercase hex; strings must fit their field and be printable ASCII; source is optional
 * (a->source is "" when absent). Errors: MV_ERR_INVAL (NULL), MV_ERR_PARSE. */
MV_API mv_err mv_alert_from_json(const mv_json *obj, mv_alert *a, uint64_t *count) __attribute__((warn_unused_result));

/* 1 if kind is one of "decoy_served", "honeytoken", "stepup_failed", "credential_misuse". */
MV_API int mv_alert_kind_ok(const char *kind);

/* Starts a background thread posting alerts to hospital_url + "/v1/alerts", signed with id
 * (borrowed; must outlive the reporter; it must hold a credential). Never blocks the caller;
 * coalesces repeats of the same (kind, principal-or-address, reason) for window_s seconds
 * into one POST with a count: the first occurrence is posted at once, the repeats within the
 * window in one POST when the window closes. A failed POST is retried with backoff (1 s
 * doubling to 60 s); nothing is lost while the queue has room. metrics (borrowed, may be
 * NULL) gains medvault_alerts_reported_total, medvault_alerts_dropped_total and
 * medvault_alert_post_failures_total.
 * Errors: MV_ERR_INVAL (NULL url/id/out, url not http(s), id without credential,
 * window_s 0 or over a day), MV_ERR_NOMEM, MV_ERR_BAD_STATE (thread creation). */
MV_API mv_err mv_alert_reporter_start(const char *hospital_url, const mv_identity *id, uint64_t window_s,
                                      mv_metrics *metrics, mv_alert_reporter **out) __attribute__((warn_unused_result));

/* Queues a (copied) and logs it at WARN (one line, the alert's fields). r NULL: logs only.
 * Thread-safe; takes only the reporter's mutex, never waits on the network. When the queue
 * is full the alert is dropped and counted (it was still logged). */
MV_API void mv_alert_report(mv_alert_reporter *r, const mv_alert *a);

/* Stops the thread after one last attempt to post what is queued (bounded: at most about
 * 3 s), then frees the reporter. Accepts NULL. No mv_alert_report may run concurrently. */
MV_API void mv_alert_reporter_stop(mv_alert_reporter *r);

#ifdef __cplusplus
}
#endif
#endif
