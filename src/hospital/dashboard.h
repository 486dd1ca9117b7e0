/* dashboard.h - the hospital's admin dashboard (server-rendered HTML under /admin/), internal to
 * the hospital service (ISSUE4 section 4; issue 5: the alerts page decides step-up requests).
 *
 * The dashboard reads the registry, and writes its formulary (medicines), only through the
 * registry API (registry.h), the same calls the JSON API makes: one schema, one owner. Logins:
 * a one-time token (120 s) handed out by POST /v1/sessions to a signed admin request
 * (hospital_dash_session_token), or the login page's challenge (5 min, one use) signed with
 * Ed25519 over "medvault-dashboard-login-v1\n" + challenge by the key of an active admin.
 * Challenges are stateless (issue time and nonce, MACed with a per-process key in locked
 * memory): showing the login page stores nothing, and only a successful login records its
 * challenge as used (at most 256 per 5 minutes; beyond that a login answers 503), so no
 * number of unauthenticated visitors can invalidate the challenge an admin is signing.
 * A login sets the cookie mv_session (32 random bytes, hex; HttpOnly; SameSite=Strict;
 * Path=/admin; 8 h). Sessions, tokens and used challenges live in memory only (capped, mutex
 * guarded, expired ones swept); a session dies as soon as its admin is no longer an active
 * admin in the registry (checked on every request). Every POST form carries the session's
 * CSRF token. Tokens are compared in constant time and never logged.
 *
 * Thread-safety: hospital_dash_handle and hospital_dash_session_token may be called from any
 * number of HTTP worker threads at once. */
#ifndef MV_HOSPITAL_DASHBOARD_H
#define MV_HOSPITAL_DASHBOARD_H

#include <stdint.h>
#include "hospital/registry.h"
#include "medvault/mv_err.h"
#include "medvault/mv_http.h"
#include "medvault/mv_identity.h"

typedef struct hospital_dash hospital_dash;

/* Signature context of the challenge login (the signed message is this + the challenge's 64
 * lowercase hex characters as shown on the login page). */
#define HOSPITAL_DASH_LOGIN_CONTEXT "medvault-dashboard-login-v1\n"
#define HOSPITAL_DASH_TOKEN_SECONDS 120
#define HOSPITAL_DASH_CHALLENGE_SECONDS 300
#define HOSPITAL_DASH_SESSION_SECONDS (8 * 3600)

/* A dashboard over reg (borrowed: it must outlive the dashboard). hospital is borrowed too:
 * its key signs the short credential (role admin, subject = hospital key, 5 minutes) with which
 * the storage page calls storage_url's GET /v1/stats. storage_url may be NULL (the storage
 * page then says it is not configured, unless deployment_path names a deployment file, whose
 * storage_url is then read each time the page is shown: `medvault up` starts the hospital
 * before the storage server and writes that file last); both are copied. Errors: MV_ERR_INVAL
 * (NULL reg, hospital or out; storage_url not http:// or https://, or over 1024 bytes),
 * MV_ERR_NOMEM, MV_ERR_CRYPTO. */
mv_err hospital_dash_new(registry *reg, const mv_identity *hospital, const char *storage_url,
                         const char *deployment_path, hospital_dash **out) __attribute__((warn_unused_result));

/* Decides step-up request id as admin admin_id (approve 1: sign and store a grant; 0: deny
 * and raise the stepup_failed alert). *why (may be set) explains a refusal. Errors:
 * MV_ERR_NOT_FOUND, MV_ERR_BAD_STATE (already decided), others from the registry. */
typedef mv_err (*hospital_dash_decide_fn)(void *ctx, int64_t id, int64_t admin_id, int approve, const char **why);
/* Lets the alerts page decide pending step-up requests (POST /admin/alerts, CSRF-checked)
 * through fn(ctx, ...). Call before serving; without it the forms answer 503. */
void hospital_dash_set_stepup(hospital_dash *d, hospital_dash_decide_fn fn, void *ctx);

/* Tests only: the clock (unix seconds) that issues and checks login challenges and ages the
 * used ones; now NULL restores time(NULL). Sessions and tokens keep the real clock. Call
 * before serving. Accepts a NULL d. */
void hospital_dash_set_challenge_clock(hospital_dash *d, uint64_t (*now)(void *ctx), void *ctx);

/* Wipes every session, token, used challenge and the challenge key.
 * Accepts NULL. No call on d may be in progress. */
void hospital_dash_free(hospital_dash *d);

/* Answers req if its path is "/admin" or starts with "/admin/" and returns 1; returns 0 (resp
 * untouched) for any other path, or if d, req or resp is NULL. */
int hospital_dash_handle(hospital_dash *d, const mv_http_request *req, mv_http_response *resp);

/* Creates a one-time login token (32 random bytes; lowercase hex, NUL-terminated, into
 * token_hex) valid for HOSPITAL_DASH_TOKEN_SECONDS, for admin_key, which must be the signing
 * key of an active admin in the registry. The login URL is "/admin/login?token=" + token_hex.
 * *expires_at (may be NULL) receives its expiry (unix seconds). The oldest token is dropped
 * when the table (64) is full. Errors: MV_ERR_INVAL (NULL), MV_ERR_FORBIDDEN (not an active
 * admin), MV_ERR_IO (registry), MV_ERR_CRYPTO. token_hex is zeroed on error. */
mv_err hospital_dash_session_token(hospital_dash *d, const uint8_t admin_key[32], char token_hex[65],
                                   uint64_t *expires_at) __attribute__((warn_unused_result));

/* The whole answer of POST /v1/sessions for a caller whose signed request the hospital has
 * already verified with role admin: 201 {"login_url":"/admin/login?token=...","expires_at":n},
 * or 403 (not an active admin in the registry) / 500 as JSON errors. */
void hospital_dash_respond_session(hospital_dash *d, const uint8_t admin_key[32], mv_http_response *resp);

#endif
