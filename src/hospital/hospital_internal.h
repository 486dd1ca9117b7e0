/* hospital_internal.h - what the hospital's source files share (internal to src/hospital):
 * the service state, the authenticated caller, and the JSON API handlers. hospital.c is the
 * router and lifecycle; hospital_users.c users, credentials, revocations, departments,
 * directory and profiles; hospital_workflow.c appointments, delegations, patients, the
 * formulary and alerts. */
#ifndef MV_HOSPITAL_INTERNAL_H
#define MV_HOSPITAL_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr_limit.h"
#include "hospital/registry.h"
#include "medvault/mv_alert.h"
#include "medvault/mv_auth.h"
#include "medvault/mv_hospital.h"
#include "medvault/mv_http.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_metrics.h"

#define HOSP_COMPONENT "hospital"
#define HOSP_MAX_DEPTS 256

/* POST /v1/register per source address (issue 11, finding 10): 10 at once, then one every 30 s
 * (a kiosk's patients take longer than that each), tracked for up to 4096 addresses at once.
 * The registry caps what stays pending (REGISTRY_MAX_PENDING_PER_SOURCE, REGISTRY_MAX_PENDING). */
#define HOSP_REGISTER_BURST 10
#define HOSP_REGISTER_INTERVAL_MS 30000
#define HOSP_REGISTER_ADDRESSES 4096
/* credential_misuse alerts from failed authentication, per source address: a burst, then one
 * per interval (a caller cycling claimed keys must not flood the alert log). */
#define HOSP_ALERT_BURST 10
#define HOSP_ALERT_INTERVAL_MS 60000

struct hosp_privkey {
    char dept[MV_CRED_MAX_DEPT_LEN + 1];
    uint8_t *key; /* secure memory, 32 bytes */
};

struct hosp {
    const mv_hospital_config *cfg;
    mv_identity *id;
    mv_auth_verifier *auth;
    mv_metrics *metrics;
    registry *reg;
    struct hospital_dash *dash; /* the admin dashboard (dashboard.h) */
    struct mv_audit *audit;     /* the request log (mv_audit.h), signed with the hospital key */
    struct hosp_alerts *alerts; /* the alert delivery thread (hospital_alerts.c); NULL until started */
    net_addr_limit *register_limit; /* POST /v1/register per source address */
    net_addr_limit *alert_limit;    /* misuse alerts from failed authentication per address */
    pthread_mutex_t lock; /* guards keys[] */
    struct hosp_privkey keys[HOSP_MAX_DEPTS];
    size_t n_keys;
};

/* The caller of a signed request after authentication: its verified credential and its
 * registry entry (status active; role and departments as the registry has them). On
 * AUTH_SERVICE routes the caller is a service (credential role keyserver or storage) and
 * user is all zero: services have no registry row. */
typedef struct hosp_caller {
    mv_credential cred;
    registry_user user;
} hosp_caller;

/* A route handler. caller is NULL on unauthenticated routes; param is the path segment a
 * route's '*' matched ("" if none), not percent-decoded. */
typedef void (*hosp_handler_fn)(struct hosp *h, const mv_http_request *req, mv_http_response *resp,
                                const hosp_caller *caller, const char *param);

/* ---- shared helpers of the handlers (hospital_http.c) ---- */
void hosp_metric_add(struct hosp *h, const char *name, const char *help, const char *labels, uint64_t n);
/* Answers a failed registry call: the mv_err picks the status (see registry.h), why (if not
 * NULL) the message. */
void hosp_respond_err(mv_http_response *resp, mv_err rc, const char *why);
/* Parses the body as a JSON object into *root (caller frees); answers 400/413 and returns 1 if
 * it is not one. */
int hosp_json_body(const mv_http_request *req, mv_http_response *resp, mv_json **root);
/* Query parameter name of req into out[0..cap): 1 if present, 0 if absent; answers 400 and
 * returns -1 if malformed or too long. */
int hosp_query(const mv_http_request *req, mv_http_response *resp, const char *name, char *out, size_t cap);
/* Query parameter "limit": *out = dflt if absent; answers 400 and returns 1 unless it is an
 * integer in 1..max. */
int hosp_query_limit(const mv_http_request *req, mv_http_response *resp, uint64_t dflt, uint64_t max, uint64_t *out);
/* Optional string member: 0 if absent or a string (*out = NULL or the string), else answers
 * 400 "KEY must be a string" and returns 1. */
int hosp_opt_str(const mv_json *root, const char *key, mv_http_response *resp, const char **out);

/* The 32-byte key kept in DIR/privileges/fname (64 hex digits and a newline, 0600): read if
 * the file exists; else, with create, drawn at random and written crash-safe (atomic replace,
 * fsynced) and *created (may be NULL) set to 1. key is wiped on error. Errors:
 * MV_ERR_NOT_FOUND (absent and not create), MV_ERR_PARSE (not a key), MV_ERR_IO,
 * MV_ERR_CRYPTO. */
mv_err hosp_key_file(struct hosp *h, const char *fname, int create, uint8_t key[32], int *created)
    __attribute__((warn_unused_result));

/* registry_epoch_fn of the hospital (ctx: the struct hosp): signs e's roster with the hospital
 * key and creates the key chain seed and the dedup secret e needs (hospital_groups.c). */
mv_err hosp_group_sign_epoch(void *ctx, const registry_epoch *e, mv_buf *out, uint8_t hash[32])
    __attribute__((warn_unused_result));

/* The tags of a token request body {"tags":[64 hex...], ...} (at most MV_HOSPITAL_MAX_TAGS)
 * into *tags (n*32 bytes, mv_free) and the parsed body into *root (caller frees); answers
 * 400/413/503 and returns 1 if the body is not one. */
int hosp_tags_parse(const mv_http_request *req, mv_http_response *resp, mv_json **root, uint8_t **tags, size_t *n);
/* Answers 200 {"alg", "tokens":{labels[d]:[token hex per tag]...}}: the token of every tag
 * under each keys[d] (32 bytes) with alg. */
void hosp_tokens_answer(struct hosp *h, mv_http_response *resp, mv_token_alg alg, const char *const *labels,
                        const uint8_t *const *keys, size_t nk, const uint8_t *tags, size_t n);

/* Signs a credential for u (role; departments: a doctor's all, a patient's home department,
 * an admin's none) valid for minutes from now. cred[0..cap) receives the base64 (wiped on
 * error), *expires its expiry. Errors: MV_ERR_INVAL, MV_ERR_TOO_LARGE, MV_ERR_CRYPTO. */
mv_err hosp_issue_credential(const mv_identity *hosp_id, const char *role, const char *const *depts, size_t n,
                             const uint8_t subject[32], uint64_t minutes, uint64_t now, char *cred, size_t cap,
                             uint64_t *expires) __attribute__((warn_unused_result));
/* Registers nu (status active) and issues its first credential, logged in the same
 * transaction. Errors as registry_user_add plus those of hosp_issue_credential. */
mv_err hosp_register(registry *reg, const mv_identity *hosp_id, uint64_t minutes, const registry_new_user *nu,
                     char *cred, size_t cap, uint64_t *expires, registry_user *out, const char **why)
    __attribute__((warn_unused_result));

/* ---- hospital_users.c ---- */
void hosp_users_add(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_users_get(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_users_status(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_credentials(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_revocations(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_profile_get(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_profile_put(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
/* PUT /v1/users/me/pre-key: the caller's recipient key for sharing through the clouds. */
void hosp_pre_key_put(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_departments_list(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *,
                           const char *);
void hosp_departments_put(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *,
                          const char *);
void hosp_directory(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_self_register(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *,
                        const char *);

/* ---- hospital_workflow.c ---- */
void hosp_appts_create(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_appts_update(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_appts_get(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_appts_list(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_delegations_add(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *,
                          const char *);
void hosp_delegations_list(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *,
                           const char *);
void hosp_delegations_revoke(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *,
                             const char *);
void hosp_patients_get(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_medicines_list(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *,
                         const char *);
void hosp_medicines_put(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_medicines_delete(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *,
                           const char *);
void hosp_alerts_list(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);

/* ---- hospital_alerts.c: aggregation, webhook and syslog delivery, POST /v1/alerts ---- */
/* Starts the delivery thread (webhook, if cfg->webhook_url is set) and opens syslog (if
 * cfg->syslog). Errors: MV_ERR_NOMEM, MV_ERR_BAD_STATE (thread). */
mv_err hosp_alerts_start(struct hosp *h) __attribute__((warn_unused_result));
/* Stops the delivery thread (an in-flight POST finishes or times out) and closes syslog. */
void hosp_alerts_stop(struct hosp *h);
/* Records n occurrences of a (its source, kind, principal, address, object, reason; at =
 * now if 0) with aggregation; a new row goes to syslog now and to the webhook thread.
 * Failures are logged (an alert that cannot be stored is still logged at ERROR). */
void hosp_alert_raise(struct hosp *h, const mv_alert *a, uint64_t n);
/* POST /v1/alerts (AUTH_SERVICE). */
void hosp_alerts_post(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);

/* ---- hospital_groups.c: the group manager (docs/groups.md) ---- */
void hosp_groups_create(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *,
                        const char *);
void hosp_groups_list(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_groups_get(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_groups_add(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_groups_remove(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *,
                        const char *);
void hosp_groups_join(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_groups_roster(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *,
                        const char *);
void hosp_groups_revocations(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *,
                             const char *);
void hosp_groups_key(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_groups_tokens(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *,
                        const char *);
void hosp_groups_opener_share(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *,
                              const char *);
void hosp_groups_openings(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *,
                          const char *);
void hosp_groups_whois(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);

/* ---- hospital_stepup.c: device keys and step-up ---- */
void hosp_devices_add(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_devices_list(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_stepup_post(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_stepup_get(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *, const char *);
void hosp_stepup_decide(struct hosp *, const mv_http_request *, mv_http_response *, const hosp_caller *,
                        const char *);
/* Decides request id as admin admin_id (ctx is the struct hosp; the dashboard's
 * hospital_dash_decide_fn): approve signs and stores a grant, deny raises stepup_failed
 * "denied by admin". Errors: MV_ERR_NOT_FOUND, MV_ERR_BAD_STATE, registry and signing errors. */
mv_err hosp_stepup_decide_id(void *ctx, int64_t id, int64_t admin_id, int approve, const char **why)
    __attribute__((warn_unused_result));

#endif
