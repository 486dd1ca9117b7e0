/* storage_internal.h - shared state and helpers of the storage server's modules
 * (storage.c: configuration, start-up of either role, metrics; storage_router.c: routing;
 * storage_blocks.c: dupcheck and blocks; storage_records.c: records, stats, gc).
 * Internal to libmedvault. */
#ifndef MV_STORAGE_INTERNAL_H
#define MV_STORAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_audit.h"
#include "medvault/mv_auth.h"
#include "medvault/mv_http.h"
#include "medvault/mv_metrics.h"
#include "medvault/mv_service.h"
#include "medvault/mv_storage.h"
#include "medvault/mv_store.h"

#define STORAGE_COMPONENT "storage"
#define STORAGE_POW_KEY_BYTES 32

typedef struct storage_guard storage_guard;
typedef struct storage_groups storage_groups;
typedef struct pre_proxy pre_proxy;

typedef struct storage_srv {
    const mv_storage_config *cfg;
    mv_store *store;
    mv_auth_verifier *auth;
    mv_metrics *metrics;
    uint8_t *pow_key; /* secure memory, STORAGE_POW_KEY_BYTES */
    mv_audit *audit;  /* the request log (mv_audit.h); borrowed by the HTTP server */
    storage_guard *guard; /* routing of suspicious requests (storage_guard.c); never NULL while serving */
    storage_groups *groups; /* group records' admission state (storage_groups.c); never NULL while serving */
    pre_proxy *pre; /* re-encryption proxy 1 (pre_proxy.h); NULL without an identity */
} storage_srv;

/* The endpoint of a request: a small fixed set, never request data. */
enum storage_route {
    R_NONE,
    R_DUPCHECK,
    R_BLOCKS_PUT,
    R_BLOCKS_GET,
    R_BLOCK_GET,
    R_RECORDS_PUT,
    R_RECORDS_GET,
    R_RECORDS_LIST,
    R_RECORD_GET,
    R_RECORD_DELETE,
    R_RECORD_READERS_GET,
    R_RECORD_READERS_SET,
    R_STATS,
    R_GC,
    R_HONEYTOKENS_PUT,
    R_HONEYTOKENS_GET,
    R_AUDIT, /* GET /v1/audit (any method reaches the same check) */
    R_GROUP_OPS,           /* POST /v1/groups/{g}/ops: anonymous, ring-signed (before authentication) */
    R_GROUP_RECORD_DELETE, /* DELETE /v1/groups/{g}/records/{id}: the manager */
    R_GROUP_HISTORY,       /* GET /v1/groups/{g}/records/{id}/history: the manager */
};

/* Runs the second cloud's re-encryption proxy (cfg->role MV_STORAGE_PROXY; pre_proxy_server.c)
 * until SIGTERM/SIGINT. Errors: MV_ERR_INVAL (no identity, index outside 1..16, the fields
 * mv_storage_run needs), those of starting the service and pre_proxy_open. */
mv_err storage_proxy_run(const mv_storage_config *cfg) __attribute__((warn_unused_result));

/* Metrics are best effort: a full registry drops the sample, serving goes on. */
void storage_count(storage_srv *s, const char *name, const char *help, const char *labels, uint64_t n);
/* Refreshes the logical/physical/record gauges from mv_store_stats. */
void storage_update_gauges(storage_srv *s);

/* Opens cfg->dir's audit log (mv_audit.h) for component ("storage" or "decoy"), signed with
 * the server's identity key if cfg->identity_dir is set, else with DIR/audit.key (created
 * 0600 on first start). Logs why it failed. Errors: those of mv_identity_load, mv_audit_key_load
 * and mv_audit_open. */
mv_err storage_open_audit(const mv_storage_config *cfg, const char *component, mv_audit **out)
    __attribute__((warn_unused_result));
/* GET /v1/audit for either role: a signed request from a credential with role admin gets the
 * log (mv_audit_respond); 401 / 403 otherwise. */
void storage_respond_audit(mv_auth_verifier *auth, mv_audit *audit, const mv_http_request *req,
                           mv_http_response *resp);

/* Starts what every storage-side daemon shares (mv_service_start) from cfg: the verifier for
 * cfg->hospital_pk, the metrics, the revocation poller, the metrics token; answers go to
 * audit. Errors as mv_service_start (on error call mv_service_stop). */
mv_err storage_service_start(const mv_storage_config *cfg, const char *component, mv_audit *audit, mv_service *svc)
    __attribute__((warn_unused_result));

/* Loads dir/name, a secret of exactly n (1..64) random bytes, into secure memory (*out, free
 * with mv_secure_free), creating it (0600, atomically) on first start; refuses a file readable
 * by group or others (MV_ERR_AUTH) or of another size (MV_ERR_PARSE). Logs under component,
 * naming the secret as `what` and never its value. Other errors: MV_ERR_IO, MV_ERR_NOMEM,
 * MV_ERR_INVAL. */
mv_err storage_secret_load(const char *dir, const char *name, size_t n, const char *component, const char *what,
                           uint8_t **out) __attribute__((warn_unused_result));

/* Answers a store failure that is not the caller's fault: 503 when busy or out of
 * memory, else 500. Logs the error code, nothing else. */
void storage_respond_store_error(mv_http_response *resp, mv_err rc, const char *what);

/* Answers 405 with the Allow header naming the methods the path takes. */
void storage_respond_405(mv_http_response *resp, const char *allowed);

/* Sets an octet-stream or JSON answer whose body the handler built directly in resp->body. */
void storage_set_type(mv_http_response *resp, int status, const char *content_type);
/* Finishes a binary answer built in resp->body: 200 application/octet-stream if rc is MV_OK;
 * else 413 with the message too_large if rc is MV_ERR_TOO_LARGE and too_large is not NULL;
 * else the store error (storage_respond_store_error, what names the operation). */
void storage_respond_octets(mv_http_response *resp, mv_err rc, const char *too_large, const char *what);

void storage_handle_dupcheck(storage_srv *s, const mv_credential *cred, const mv_http_request *req,
                             mv_http_response *resp);
void storage_handle_blocks_put(storage_srv *s, const mv_credential *cred, const mv_http_request *req,
                               mv_http_response *resp);
/* Reads block tag into out (appending): MV_OK, MV_ERR_NOT_FOUND, or a store error. */
typedef mv_err (*storage_block_reader)(void *ctx, const uint8_t tag[32], mv_buf *out);
/* Answers an MVG1 request body (docs/api.md, POST /v1/blocks/get) with blocks from read: both
 * roles of the storage server (the primary's store, the decoy cloud's decoys) share it. */
void storage_answer_blocks_get(const uint8_t *body, size_t body_len, storage_block_reader read, void *ctx,
                               mv_http_response *resp);
void storage_handle_blocks_get(storage_srv *s, const mv_http_request *req, mv_http_response *resp);
void storage_handle_block_get(storage_srv *s, const char *hex, mv_http_response *resp);

void storage_handle_records_put(storage_srv *s, const mv_credential *cred, const mv_http_request *req,
                                mv_http_response *resp);
void storage_handle_record_get(storage_srv *s, const mv_credential *cred, const char *hex,
                               mv_http_response *resp);
void storage_handle_records_get(storage_srv *s, const mv_credential *cred, const mv_http_request *req,
                                mv_http_response *resp);
void storage_handle_records_list(storage_srv *s, const mv_credential *cred, mv_http_response *resp);

/* arg is "<32 hex>/readers". GET: the record's metadata and ACL (readers only); POST: an
 * MVA1 frame replacing the ACL (owner, patient or admin). */
void storage_handle_record_readers_get(storage_srv *s, const mv_credential *cred, const char *arg,
                                       mv_http_response *resp);
void storage_handle_record_readers_set(storage_srv *s, const mv_credential *cred, const char *arg,
                                       const mv_http_request *req, mv_http_response *resp);
void storage_handle_record_delete(storage_srv *s, const mv_credential *cred, const char *hex,
                                  mv_http_response *resp);
void storage_handle_stats(storage_srv *s, mv_http_response *resp);
void storage_handle_gc(storage_srv *s, const mv_credential *cred, mv_http_response *resp);

/* The primary's HTTP handler (mv_http_config.handler; ctx is the storage_srv): routes, counts,
 * authenticates, asks the guard, then calls the endpoint's handler (storage_router.c). */
void storage_handle_request(void *ctx, const mv_http_request *req, mv_http_response *resp);

/* ---------- group records (storage_groups.c, storage_group_records.c) ---------- */

/* Starts the admission state of group operations and creates DIR/groups. Errors:
 * MV_ERR_NOMEM, MV_ERR_IO, MV_ERR_CRYPTO. */
mv_err storage_groups_start(storage_srv *s) __attribute__((warn_unused_result));
/* Frees it. Accepts NULL. No request may be in progress. */
void storage_groups_stop(storage_groups *gs);
/* The body gate of the primary (mv_http_config.body_gate, ctx the storage_srv): an anonymous
 * group operation announcing at most MV_GROUP_OPS_MAX_BODY bytes from an address within its
 * rate limit (and within the anonymous bodies' budget: MV_HTTP_GATE_BUSY, 503, otherwise), or
 * any request whose signature verifies from its headers. */
int storage_body_gate(void *ctx, const mv_http_request *req);
/* mv_http_config.body_done: releases what the gate reserved for req's anonymous body. */
void storage_body_done(void *ctx, const mv_http_request *req);
/* POST /v1/groups/{g}/ops; arg is "<32 hex>/ops". Anonymous: called before authentication. */
void storage_handle_group_ops(storage_srv *s, const char *arg, const mv_http_request *req, mv_http_response *resp);
/* DELETE /v1/groups/{g}/records/{id} and GET .../history (admin); arg is "<g>/records/<id>[/history]". */
void storage_handle_group_record(storage_srv *s, const mv_credential *cred, enum storage_route r, const char *arg,
                                 mv_http_response *resp);

/* ---------- the guard (storage_guard*.c; its private state: storage_guard.h) ----------
 * Pure decision functions first (storage_guard_policy.c, unit-tested with injected time), then
 * the server hooks. */

/* Profile parameters (mv_storage_config). */
typedef struct guard_params {
    uint64_t floor;        /* reads in the last hour always allowed */
    double factor;         /* burst = reads in the last hour > max(floor, factor x baseline) */
    uint64_t max_denials;  /* ACL refusals in the last hour that count as reading outside */
    uint64_t skew;         /* the verifier's date skew: a credential expired less than this
                              long ago is a clock problem, not an attack */
} guard_params;

#define GUARD_SLOTS 60          /* one-minute slots of the sliding hour */
#define GUARD_DECOY_SECONDS 3600 /* longest decoy mode without a valid step-up grant */
#define GUARD_BASELINE_ALPHA 0.2 /* weight of the newest active hour in the moving average */

/* One principal's access profile. All times are unix seconds. */
typedef struct guard_profile {
    uint8_t subject[32];
    uint64_t minute;              /* minute index (now / 60) of the newest slot */
    uint32_t reads[GUARD_SLOTS];  /* reads per minute, slot = minute % GUARD_SLOTS */
    uint32_t denials[GUARD_SLOTS];
    uint64_t hour;                /* hour index (now / 3600) being accumulated */
    uint64_t hour_reads;          /* reads in that hour */
    double baseline;              /* moving average of reads per active hour (0 = none yet) */
    uint64_t active_hours;        /* hours folded into the baseline */
    uint64_t demanded_at;         /* a step-up demand is outstanding since then (0: none) */
    uint64_t decoy_until;         /* decoy mode until then (0: not in decoy mode) */
    int dirty;                    /* baseline changed since the last save */
} guard_profile;

/* What a read by a valid credential gets. */
typedef enum guard_action {
    GUARD_SERVE,       /* the real answer */
    GUARD_DEMAND,      /* 401 "step-up required" (no alert) */
    GUARD_DECOY,       /* the decoy answer (decoy mode, already alerted) */
    GUARD_DECOY_ALERT, /* the decoy answer and one alert: decoy mode starts now */
} guard_action;

/* Initialises p for subject (all counters zero). */
void guard_profile_init(guard_profile *p, const uint8_t subject[32]);
/* Moves p's clock to now: slots older than an hour are cleared, finished hours with reads are
 * folded into the baseline. A clock that goes backwards changes nothing. */
void guard_profile_advance(guard_profile *p, uint64_t now);
/* Reads and ACL refusals counted in the last hour (call guard_profile_advance first). */
uint64_t guard_profile_reads(const guard_profile *p);
uint64_t guard_profile_denials(const guard_profile *p);
/* The burst threshold: max(floor, factor x baseline). */
uint64_t guard_profile_limit(const guard_profile *p, const guard_params *gp);
/* Counts n reads / n ACL refusals at now. */
void guard_profile_count_reads(guard_profile *p, uint64_t now, uint64_t n);
void guard_profile_count_denials(guard_profile *p, uint64_t now, uint64_t n);
/* Clears the sliding window (reads and refusals), keeps the baseline. */
void guard_profile_reset_window(guard_profile *p);

/* The decision for one request by a valid credential at now: is_read (the request reads
 * records), n_reads (records it names), grant_ok (it carries a valid step-up grant for this
 * principal). Updates p (counts the reads it serves, the demand, decoy mode). *why receives
 * the reason for the alert or demand ("burst above access profile", "reads outside
 * departments", "step-up not completed"), else "". */
guard_action guard_decide(guard_profile *p, uint64_t now, int is_read, uint64_t n_reads, int grant_ok,
                          const guard_params *gp, const char **why);

/* Classifies a failed authentication. Returns the MVX1 reason (1 unauthenticated, 2 forged,
 * 3 revoked, 4 expired) when the request is suspicious and gets the decoy, 0 when it keeps
 * the plain answer (clock skew, replay, a credential expired less than gp->skew ago, busy,
 * internal errors). cred_expires is the (authentic) credential's expires_at when why is
 * MV_AUTH_FAIL_EXPIRED, else ignored. *text receives the alert reason ("" for 0). */
uint8_t guard_classify_auth(mv_err rc, mv_auth_failure why, uint64_t now, uint64_t cred_expires,
                            const guard_params *gp, const char **text);

/* Starts the guard for s (after s->store, s->auth and s->metrics are set): loads the
 * honeytoken set and the profiles from cfg->dir, loads the identity, starts the alert
 * reporter and the shape pusher (which pushes every record's shape once).
 * Errors: MV_ERR_PARSE (a malformed state file), MV_ERR_IO, MV_ERR_NOMEM, what loading the
 * identity returns. */
mv_err storage_guard_start(storage_srv *s) __attribute__((warn_unused_result));
/* Stops the threads (flushing alerts, bounded), saves the profiles, frees. Accepts NULL. */
void storage_guard_stop(storage_guard *g);

/* Called by handler() when authentication failed: answers from the decoy cloud and returns 1
 * for a suspicious request, else returns 0 (the caller answers the plain 401). */
int storage_guard_auth_failed(storage_srv *s, const mv_http_request *req, enum storage_route r, const char *arg,
                              mv_err rc, mv_auth_failure why, mv_http_response *resp);
/* Called by handler() for a valid credential before dispatch: returns 1 after answering
 * (step-up demand, decoy mode), 0 to serve the real answer. Raises the honeytoken alert. */
int storage_guard_check(storage_srv *s, const mv_credential *cred, const mv_http_request *req,
                        enum storage_route r, const char *arg, mv_http_response *resp);
/* storage_guard_check for an authenticated /v1/pre request (docs/pre.md 7.3): a re-encryption
 * or a delegation fetch counts as one read; a step-up demand is answered as on the record
 * routes, decoy mode with 404 "no such delegation". Returns 1 after answering, else 0. */
int storage_guard_check_pre(storage_srv *s, const mv_credential *cred, const mv_http_request *req,
                            mv_http_response *resp);
/* 1 if id is a honeytoken (answered to any valid caller as to a reader). */
int storage_guard_is_honeytoken(storage_srv *s, const uint8_t id[16]);
/* Counts n ACL refusals of cred's reads in its profile. */
void storage_guard_note_denials(storage_srv *s, const mv_credential *cred, uint64_t n);
/* Queues the shapes of records just stored or changed for the decoy cloud. */
void storage_guard_shapes_changed(storage_srv *s, const uint8_t *ids, size_t n);
/* POST /v1/honeytokens and GET /v1/honeytokens (admin). */
void storage_guard_honeytokens_put(storage_srv *s, const mv_credential *cred, const mv_http_request *req,
                                   mv_http_response *resp);
void storage_guard_honeytokens_get(storage_srv *s, const mv_credential *cred, mv_http_response *resp);

#endif
