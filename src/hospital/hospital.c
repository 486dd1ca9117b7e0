/* hospital.c - the hospital service: the router and lifecycle of its JSON API (users,
 * credentials and revocation, appointments, delegations, the formulary: handlers in
 * hospital_users.c, hospital_workflow.c, hospital_alerts.c and hospital_stepup.c, the helpers
 * they share in hospital_http.c, state in the SQLite registry), and the dedup
 * token service, whose per-department privilege keys never leave this process, so the
 * storage cloud can only match content within one department. Every signed request is
 * refused unless the registry says its subject is an active user, so a suspended or revoked
 * user's credential stops working here at once. */
#include "medvault/mv_hospital.h"

#include "hospital/dashboard.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hospital/hospital_internal.h"
#include "hospital/registry.h"
#include "medvault/mv_audit_http.h"
#include "medvault/mv_auth.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_config.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_daemon.h"
#include "medvault/mv_file.h"
#include "medvault/mv_hmac.h"
#include "medvault/mv_http.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_service.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_metrics.h"
#include "medvault/mv_stepup.h"

#define COMPONENT HOSP_COMPONENT
#define MAX_DEPTS HOSP_MAX_DEPTS

mv_err mv_token_compute(mv_token_alg alg, const uint8_t key[static 32], const uint8_t tag[static 32],
                        uint8_t token[static MV_TOKEN_BYTES])
{
    if (!key || !tag || !token)
        return MV_ERR_INVAL;
    switch (alg) {
    case MV_TOKEN_HMAC_SHA256:
        return mv_hmac_sha256(token, key, 32, tag, 32);
    case MV_TOKEN_HMAC_SHA1:
        memset(token, 0, MV_TOKEN_BYTES);
        return mv_hmac_sha1(token, key, 32, tag, 32);
    }
    return MV_ERR_INVAL;
}

/* ---------- configuration ---------- */

/* An optional http(s) URL setting into out[0..cap) (left "" when absent). */
static mv_err conf_url(mv_config *c, const char *dir, const char *key, char *out, size_t cap, size_t *err_line)
{
    const char *url = c ? mv_config_get(c, key) : NULL;
    if (!url)
        return MV_OK;
    size_t l = strlen(url);
    if (l >= cap || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
        if (err_line)
            *err_line = mv_config_line(c, key);
        mv_log(MV_LOG_ERROR, COMPONENT, "%s/hospital.conf: %s must be an http(s) URL under %zu bytes", dir, key, cap);
        return MV_ERR_PARSE;
    }
    memcpy(out, url, l + 1);
    return MV_OK;
}

mv_err mv_hospital_config_defaults(mv_hospital_config *cfg, const char *dir, size_t *err_line)
{
    static const char *const allowed[] = {"threads",           "skew_seconds", "credential_days",
                                          "token_hmac",        "credential_minutes",
                                          "revocation_poll_seconds", "storage_url",
                                          "webhook_url",       "syslog",
                                          "alert_window_seconds", "stepup_grant_seconds",
                                          "public_url",        NULL};
    mv_config *c = NULL;
    if (!cfg)
        return MV_ERR_INVAL;
    memset(cfg, 0, sizeof *cfg);
    cfg->dir = dir;
    cfg->token_alg = MV_TOKEN_HMAC_SHA256;
    mv_config_num num[] = {
        {"threads", 4, 1, 256, 0},
        {"skew_seconds", 300, 1, 3600, 0},
        {"credential_days", 365, 1, 3650, 0},
        {"credential_minutes", 60, 1, 10080, 0},
        {"revocation_poll_seconds", 10, 1, 3600, 0},
        {"syslog", 0, 0, 1, 0},
        {"alert_window_seconds", 600, 1, 86400, 0},
        {"stepup_grant_seconds", MV_STEPUP_LIFETIME, 60, 86400, 0},
    };
    mv_err rc = mv_config_load_settings(dir, "hospital.conf", COMPONENT, allowed, num, sizeof num / sizeof num[0], &c,
                                        err_line);
    cfg->threads = (unsigned)num[0].v;
    cfg->skew_seconds = num[1].v;
    cfg->credential_days = num[2].v;
    cfg->credential_minutes = num[3].v;
    cfg->revocation_poll_seconds = num[4].v;
    cfg->syslog = num[5].v != 0;
    cfg->alert_window_seconds = num[6].v;
    cfg->stepup_grant_seconds = num[7].v;
    const char *alg = rc == MV_OK && c ? mv_config_get(c, "token_hmac") : NULL;
    if (alg && !strcmp(alg, "sha1")) {
        cfg->token_alg = MV_TOKEN_HMAC_SHA1;
    } else if (alg && strcmp(alg, "sha256") != 0) {
        if (err_line)
            *err_line = mv_config_line(c, "token_hmac");
        mv_log(MV_LOG_ERROR, COMPONENT, "%s/hospital.conf: token_hmac must be sha256 or sha1", dir);
        rc = MV_ERR_PARSE;
    }
    if (rc == MV_OK)
        rc = conf_url(c, dir, "storage_url", cfg->storage_url, sizeof cfg->storage_url, err_line);
    if (rc == MV_OK)
        rc = conf_url(c, dir, "webhook_url", cfg->webhook_url, sizeof cfg->webhook_url, err_line);
    const char *pub = rc == MV_OK && c ? mv_config_get(c, "public_url") : NULL;
    if (pub && mv_auth_verifier_add_urls(NULL, pub) != MV_OK) {
        if (err_line)
            *err_line = mv_config_line(c, "public_url");
        mv_log(MV_LOG_ERROR, COMPONENT, "%s/hospital.conf: public_url must be http(s) URLs separated by commas", dir);
        rc = MV_ERR_PARSE;
    } else if (pub) {
        snprintf(cfg->public_urls, sizeof cfg->public_urls, "%s", pub);
    }
    mv_config_free(c);
    return rc;
}

/* ---------- registration without a server ---------- */

mv_err mv_hospital_register(const char *dir, const char *name, const char *role, const char *const *departments,
                            size_t n_departments, const uint8_t sign_pk[static 32], const uint8_t box_pk[static 32],
                            uint64_t days, char *cred_b64, size_t cap)
{
    mv_identity *hosp = NULL;
    registry *reg = NULL;
    mv_hospital_config cfg;
    registry_new_user nu;
    uint64_t expires = 0;
    (void)days; /* lifetimes come from hospital.conf (credential_minutes) */
    if (!dir || !sign_pk || !box_pk || !cred_b64 || (n_departments && !departments))
        return MV_ERR_INVAL;
    mv_err rc = mv_hospital_config_defaults(&cfg, dir, NULL);
    if (rc == MV_OK)
        rc = mv_identity_load(dir, &hosp);
    if (rc == MV_OK)
        rc = registry_open(dir, &reg);
    if (rc == MV_OK) {
        memset(&nu, 0, sizeof nu);
        nu.name = name;
        nu.role = role;
        nu.departments = departments;
        nu.n_departments = n_departments;
        memcpy(nu.sign_pk, sign_pk, 32);
        memcpy(nu.box_pk, box_pk, 32);
        nu.status = "active";
        rc = hosp_register(reg, hosp, cfg.credential_minutes, &nu, cred_b64, cap, &expires, NULL, NULL);
    }
    registry_close(reg);
    mv_identity_free(hosp);
    return rc;
}

/* ---------- the service ---------- */

/* The privilege key of dept, loaded from or created in DIR/privileges on first use.
 * Returns a pointer into secure memory owned by h (valid until shutdown), or NULL. */
static const uint8_t *privilege_key(struct hosp *h, const char *dept, mv_err *err)
{
    const uint8_t *found = NULL;
    char hex[2 * MV_CRED_MAX_DEPT_LEN + 1], fname[2 * MV_CRED_MAX_DEPT_LEN + 8];
    mv_err rc = MV_OK;
    int created = 0;
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->n_keys; i++)
        if (!strcmp(h->keys[i].dept, dept)) {
            found = h->keys[i].key;
            goto out;
        }
    if (h->n_keys == MAX_DEPTS) {
        rc = MV_ERR_TOO_LARGE;
        goto out;
    }
    size_t dl = strlen(dept);
    if (dl == 0 || dl > MV_CRED_MAX_DEPT_LEN) {
        rc = MV_ERR_INVAL;
        goto out;
    }
    struct hosp_privkey *pk = &h->keys[h->n_keys];
    pk->key = mv_secure_alloc(32);
    if (!pk->key) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    if ((rc = mv_hex_encode(hex, sizeof hex, (const uint8_t *)dept, dl)) != MV_OK)
        goto fail;
    snprintf(fname, sizeof fname, "%s.key", hex);
    if ((rc = hosp_key_file(h, fname, 1, pk->key, &created)) != MV_OK)
        goto fail;
    if (created)
        mv_log(MV_LOG_INFO, COMPONENT, "created a privilege key for a new department");
    memcpy(pk->dept, dept, dl + 1);
    found = pk->key;
    h->n_keys++;
    goto out;
fail:
    mv_secure_free(pk->key);
    pk->key = NULL;
out:
    pthread_mutex_unlock(&h->lock);
    if (err)
        *err = found ? MV_OK : rc;
    return found;
}

int hosp_tags_parse(const mv_http_request *req, mv_http_response *resp, mv_json **root, uint8_t **tags, size_t *n)
{
    mv_json_limits lim = {.max_bytes = 16u << 20, .max_depth = 8, .max_nodes = MV_HOSPITAL_MAX_TAGS + 64};
    *tags = NULL;
    *n = 0;
    mv_err rc = mv_json_parse((const char *)req->body, req->body_len, &lim, root, NULL);
    if (rc != MV_OK || mv_json_type_of(*root) != MV_JSON_OBJECT) {
        if (rc == MV_ERR_TOO_LARGE)
            mv_http_respond_json_error(resp, 413, "too many tags in one request");
        else
            mv_http_respond_json_error(resp, 400, "body must be a JSON object nested at most 8 levels deep");
        return 1;
    }
    const mv_json *jt = mv_json_get(*root, "tags");
    size_t count = mv_json_len(jt);
    if (mv_json_type_of(jt) != MV_JSON_ARRAY || count > MV_HOSPITAL_MAX_TAGS) {
        mv_http_respond_json_error(resp, 400, "tags must be an array of at most 100000 hex tags");
        return 1;
    }
    if (!(*tags = mv_mallocarray(count ? count : 1, 32))) {
        mv_http_respond_json_error(resp, 503, "out of memory");
        return 1;
    }
    for (size_t i = 0; i < count; i++) {
        size_t l = 0;
        const char *s = mv_json_str(mv_json_at(jt, i), &l);
        if (!s || mv_hex_decode_exact(*tags + 32 * i, 32, s, l) != MV_OK) {
            mv_http_respond_json_error(resp, 400, "every tag must be 64 hex digits");
            mv_free(*tags);
            *tags = NULL;
            return 1;
        }
    }
    *n = count;
    return 0;
}

void hosp_tokens_answer(struct hosp *h, mv_http_response *resp, mv_token_alg alg, const char *const *labels,
                        const uint8_t *const *keys, size_t nk, const uint8_t *tags, size_t n)
{
    mv_buf b;
    mv_jw w;
    mv_err rc = MV_OK;
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "alg", alg == MV_TOKEN_HMAC_SHA1 ? "hmac-sha1" : "hmac-sha256");
    mv_jw_key(&w, "tokens");
    mv_jw_obj(&w);
    for (size_t d = 0; d < nk && rc == MV_OK; d++) {
        mv_jw_key(&w, labels[d]);
        mv_jw_arr(&w);
        for (size_t i = 0; i < n && rc == MV_OK; i++) {
            uint8_t tok[MV_TOKEN_BYTES];
            if ((rc = mv_token_compute(alg, keys[d], tags + 32 * i, tok)) == MV_OK)
                mv_jw_hex(&w, tok, MV_TOKEN_BYTES);
            mv_wipe(tok, sizeof tok);
        }
        mv_jw_arr_end(&w);
    }
    mv_jw_obj_end(&w);
    mv_jw_obj_end(&w);
    if (rc == MV_OK)
        rc = mv_jw_finish(&w);
    mv_http_respond_built(resp, rc, 200, &b);
    if (rc == MV_OK)
        hosp_metric_add(h, "medvault_hospital_tokens_total", "Dedup tokens derived", "", (uint64_t)n * nk);
    mv_buf_clear(&b);
}

/* POST /v1/tokens {"tags":[hex...], "departments":[...]?}: TokenGen for every department of
 * the caller, or ShareTokenGen for the requested subset of them. */
static void handle_tokens(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                          const char *param)
{
    const mv_credential *cred = &caller->cred;
    mv_json *root = NULL;
    uint8_t *tags = NULL;
    const char *depts[MV_CRED_MAX_DEPTS];
    const uint8_t *keys[MV_CRED_MAX_DEPTS];
    size_t nd = 0, n = 0;
    (void)param;
    if (hosp_tags_parse(req, resp, &root, &tags, &n))
        goto out;
    const mv_json *jd = mv_json_get(root, "departments");
    if (jd) {
        if (mv_json_type_of(jd) != MV_JSON_ARRAY || mv_json_len(jd) > MV_CRED_MAX_DEPTS) {
            mv_http_respond_json_error(resp, 400, "departments must be an array of department names");
            goto out;
        }
        for (size_t i = 0; i < mv_json_len(jd); i++) {
            const char *d = mv_json_str(mv_json_at(jd, i), NULL);
            if (!d || !mv_credential_has_department(cred, d)) {
                mv_http_respond_json_error(resp, 403, "a requested department is not one of the caller's");
                goto out;
            }
            depts[nd++] = d;
        }
    } else {
        for (size_t i = 0; i < cred->n_departments; i++)
            depts[nd++] = cred->departments[i];
    }
    if (nd == 0) {
        mv_http_respond_json_error(resp, 403, "the caller's credential names no department");
        goto out;
    }
    for (size_t d = 0; d < nd; d++) {
        mv_err rc = MV_OK;
        if (!(keys[d] = privilege_key(h, depts[d], &rc))) {
            hosp_respond_err(resp, rc, NULL);
            goto out;
        }
    }
    hosp_tokens_answer(h, resp, h->cfg->token_alg, depts, keys, nd, tags, n);
out:
    mv_free(tags);
    mv_json_free(root);
}


/* ---------- routing ---------- */

/* AUTH_SIGNED: a signed request by an active registry user. AUTH_SERVICE: a signed request
 * whose credential verifies under the hospital key with role keyserver or storage (services
 * have no registry row). */
enum { AUTH_NONE = 0, AUTH_SIGNED = 1, AUTH_SERVICE = 2 };
/* Who may call a route: a set of registry roles. */
enum { R_ADMIN = REGISTRY_ROLE_ADMIN, R_DOCTOR = REGISTRY_ROLE_DOCTOR, R_PATIENT = REGISTRY_ROLE_PATIENT,
       R_ANY = REGISTRY_ROLES_ANY };

struct route {
    const char *method;
    const char *pattern; /* '*' matches one non-empty path segment */
    int auth;
    unsigned roles;
    hosp_handler_fn fn;
};

/* The JSON API. Unauthenticated routes check what they need themselves (POST /v1/credentials
 * proves key possession; /v1/register carries a signature; /v1/revocations is public). */
/* POST /v1/sessions (admins): a one-time dashboard login URL. */
static void handle_sessions(struct hosp *h, const mv_http_request *req, mv_http_response *resp,
                            const hosp_caller *caller, const char *param)
{
    hospital_dash_respond_session(h->dash, caller->cred.subject, resp);
}

/* GET /v1/audit (admins): the hospital's request log (mv_audit.h). */
static void handle_audit(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                         const char *param)
{
    mv_audit_respond(h->audit, req, resp);
}

static const struct route routes[] = {
    {"POST", "/v1/tokens", AUTH_SIGNED, R_ANY, handle_tokens},
    {"POST", "/v1/users", AUTH_SIGNED, R_ADMIN, hosp_users_add},
    {"GET", "/v1/users/*", AUTH_SIGNED, R_ANY, hosp_users_get},
    {"POST", "/v1/users/*/status", AUTH_SIGNED, R_ADMIN, hosp_users_status},
    {"POST", "/v1/credentials", AUTH_NONE, 0, hosp_credentials},
    {"GET", "/v1/revocations", AUTH_NONE, 0, hosp_revocations},
    {"POST", "/v1/register", AUTH_NONE, 0, hosp_self_register},
    {"GET", "/v1/profile", AUTH_SIGNED, R_ANY, hosp_profile_get},
    {"PUT", "/v1/profile", AUTH_SIGNED, R_ANY, hosp_profile_put},
    {"PUT", "/v1/users/me/pre-key", AUTH_SIGNED, R_ANY, hosp_pre_key_put},
    {"GET", "/v1/departments", AUTH_SIGNED, R_ANY, hosp_departments_list},
    {"POST", "/v1/departments", AUTH_SIGNED, R_ADMIN, hosp_departments_put},
    {"GET", "/v1/directory", AUTH_SIGNED, R_ADMIN | R_DOCTOR, hosp_directory},
    {"GET", "/v1/appointments", AUTH_SIGNED, R_ANY, hosp_appts_list},
    {"POST", "/v1/appointments", AUTH_SIGNED, R_ADMIN | R_PATIENT, hosp_appts_create},
    {"GET", "/v1/appointments/*", AUTH_SIGNED, R_ANY, hosp_appts_get},
    {"POST", "/v1/appointments/*", AUTH_SIGNED, R_ANY, hosp_appts_update},
    {"GET", "/v1/delegations", AUTH_SIGNED, R_ANY, hosp_delegations_list},
    {"POST", "/v1/delegations", AUTH_SIGNED, R_PATIENT, hosp_delegations_add},
    {"DELETE", "/v1/delegations/*", AUTH_SIGNED, R_ADMIN | R_PATIENT, hosp_delegations_revoke},
    {"GET", "/v1/patients/*", AUTH_SIGNED, R_ADMIN | R_DOCTOR, hosp_patients_get},
    {"GET", "/v1/medicines", AUTH_SIGNED, R_ANY, hosp_medicines_list},
    {"POST", "/v1/medicines", AUTH_SIGNED, R_ADMIN, hosp_medicines_put},
    {"DELETE", "/v1/medicines/*", AUTH_SIGNED, R_ADMIN, hosp_medicines_delete},
    {"GET", "/v1/alerts", AUTH_SIGNED, R_ADMIN, hosp_alerts_list},
    {"POST", "/v1/alerts", AUTH_SERVICE, 0, hosp_alerts_post},
    {"POST", "/v1/users/*/devices", AUTH_SIGNED, R_ADMIN, hosp_devices_add},
    {"GET", "/v1/users/*/devices", AUTH_SIGNED, R_ADMIN, hosp_devices_list},
    {"POST", "/v1/stepup", AUTH_SIGNED, R_ANY, hosp_stepup_post},
    {"GET", "/v1/stepup/*", AUTH_SIGNED, R_ANY, hosp_stepup_get},
    {"POST", "/v1/stepup/*", AUTH_SIGNED, R_ADMIN, hosp_stepup_decide},
    {"POST", "/v1/sessions", AUTH_SIGNED, R_ADMIN, handle_sessions},
    {"GET", "/v1/audit", AUTH_SIGNED, R_ADMIN, handle_audit},
    /* Groups (docs/groups.md); the handlers read the group from the path themselves. */
    {"POST", "/v1/groups", AUTH_SIGNED, R_ADMIN, hosp_groups_create},
    {"GET", "/v1/groups", AUTH_SIGNED, R_ANY, hosp_groups_list},
    {"GET", "/v1/groups/*", AUTH_SIGNED, R_ANY, hosp_groups_get},
    {"POST", "/v1/groups/*/members", AUTH_SIGNED, R_ADMIN, hosp_groups_add},
    {"DELETE", "/v1/groups/*/members/*", AUTH_SIGNED, R_ADMIN, hosp_groups_remove},
    {"GET", "/v1/groups/*/members/*", AUTH_SIGNED, R_ADMIN | R_DOCTOR, hosp_groups_whois},
    {"POST", "/v1/groups/*/join", AUTH_SIGNED, R_ANY, hosp_groups_join},
    {"GET", "/v1/groups/*/roster", AUTH_NONE, 0, hosp_groups_roster},
    {"GET", "/v1/groups/*/revocations", AUTH_NONE, 0, hosp_groups_revocations},
    {"GET", "/v1/groups/*/key", AUTH_SIGNED, R_ANY, hosp_groups_key},
    {"POST", "/v1/groups/*/tokens", AUTH_SIGNED, R_ANY, hosp_groups_tokens},
    {"GET", "/v1/groups/*/opener-share", AUTH_SIGNED, R_ADMIN | R_DOCTOR, hosp_groups_opener_share},
    {"POST", "/v1/groups/*/openings", AUTH_SIGNED, R_ADMIN | R_DOCTOR, hosp_groups_openings},
};

/* 1 if path matches pattern; *param receives what '*' matched (into param[0..cap)). */
static int route_match(const char *pattern, const char *path, char *param, size_t cap)
{
    param[0] = 0;
    while (*pattern && *path) {
        if (*pattern == '*') {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= cap)
                return 0;
            memcpy(param, path, n);
            param[n] = 0;
            path += n;
            pattern++;
        } else if (*pattern++ != *path++) {
            return 0;
        }
    }
    return *pattern == 0 && *path == 0;
}

static const char *roles_text(unsigned roles)
{
    switch (roles) {
    case R_ADMIN: return "only an admin may do this";
    case R_DOCTOR: return "only a doctor may do this";
    case R_PATIENT: return "only a patient may do this";
    case R_ADMIN | R_DOCTOR: return "only admins and doctors may do this";
    case R_ADMIN | R_PATIENT: return "only admins and patients may do this";
    default: return "not allowed for this role";
    }
}

/* A credential_misuse alert for a request at the hospital. */
static void misuse_alert(struct hosp *h, const mv_http_request *req, const uint8_t *principal, const char *reason)
{
    char object[MV_ALERT_FIELD];
    mv_alert a;
    snprintf(object, sizeof object, "%s %s", req->method, req->path);
    mv_alert_fill(&a, (uint64_t)time(NULL), "hospital", "credential_misuse", principal, req->remote_addr, object,
                  reason);
    hosp_alert_raise(h, &a, 1);
}

/* After mv_http_verify_ex refused a request (why): raises credential_misuse for a forged
 * credential or signature, or an expired credential. Only a key that provably signed the
 * request (expired: judged after the signature, mv_auth.h) is named; a forgery names nobody
 * (its MV-Key and credential are anybody's to copy: credentials travel to every service) and
 * is coalesced by address. At most HOSP_ALERT_BURST such alerts per address, then one per
 * HOSP_ALERT_INTERVAL_MS, so a caller cycling keys cannot flood the alert log. Unsigned
 * requests, clock skew, replays and v1 clients raise nothing (not intruders). */
static void auth_failure_alert(struct hosp *h, const mv_http_request *req, mv_auth_failure why)
{
    const char *reason = NULL;
    const uint8_t *principal = NULL;
    mv_credential cred;
    const char *b64 = mv_http_header(req, "MV-Credential");
    switch (why) {
    case MV_AUTH_FAIL_FORGED:
    case MV_AUTH_FAIL_MALFORMED:
        if (b64 && mv_http_header(req, "MV-Signature"))
            reason = "forged credential or signature";
        break;
    case MV_AUTH_FAIL_EXPIRED:
        if (b64 && mv_credential_decode(b64, strnlen(b64, MV_CRED_B64_MAX + 1), &cred) == MV_OK) {
            reason = "expired credential";
            principal = cred.subject;
        }
        break;
    case MV_AUTH_FAIL_NONE: case MV_AUTH_FAIL_MISSING: case MV_AUTH_FAIL_SKEW: case MV_AUTH_FAIL_REVOKED:
    case MV_AUTH_FAIL_REPLAY: case MV_AUTH_FAIL_TARGET: case MV_AUTH_FAIL_BODY: case MV_AUTH_FAIL_VERSION:
        break;
    }
    if (!reason)
        return;
    if (!net_addr_limit_take(h->alert_limit, req->remote_addr, net_addr_limit_now_ms(), NULL)) {
        hosp_metric_add(h, "medvault_hospital_alerts_throttled_total", "Misuse alerts not raised: address over budget",
                        NULL, 1);
        return;
    }
    misuse_alert(h, req, principal, reason);
}

/* Verifies the signed request and that its subject is an active user of the registry. */
static int authenticate(struct hosp *h, const mv_http_request *req, mv_http_response *resp, hosp_caller *c)
{
    uint64_t now = (uint64_t)time(NULL);
    mv_auth_failure why = MV_AUTH_FAIL_NONE;
    mv_err rc = mv_http_verify_ex(h->auth, req, now, &c->cred, &why);
    if (rc != MV_OK) {
        mv_http_respond_auth_failure(resp, rc);
        hosp_metric_add(h, "medvault_hospital_rejections_total", "Requests refused, by reason", "reason=\"auth\"", 1);
        auth_failure_alert(h, req, why);
        return 1;
    }
    rc = registry_user_get(h->reg, c->cred.subject, &c->user);
    if (rc == MV_OK && strcmp(c->user.status, "active") == 0)
        return 0;
    if (rc == MV_OK || rc == MV_ERR_NOT_FOUND) {
        mv_http_respond_json_error(resp, 401, rc == MV_OK ? "credential revoked" : "unknown user");
        hosp_metric_add(h, "medvault_hospital_rejections_total", "Requests refused, by reason", "reason=\"revoked\"", 1);
        if (rc == MV_OK && (!strcmp(c->user.status, "revoked") || !strcmp(c->user.status, "suspended")))
            misuse_alert(h, req, c->cred.subject,
                         !strcmp(c->user.status, "revoked") ? "revoked credential" : "suspended credential");
    } else {
        hosp_respond_err(resp, rc, NULL);
    }
    return 1;
}

/* AUTH_SERVICE: a signed request by a service (credential role keyserver or storage); no
 * registry row. A valid user credential is refused with 403. */
static int authenticate_service(struct hosp *h, const mv_http_request *req, mv_http_response *resp, hosp_caller *c)
{
    uint64_t now = (uint64_t)time(NULL);
    mv_auth_failure why = MV_AUTH_FAIL_NONE;
    mv_err rc = mv_http_verify_ex(h->auth, req, now, &c->cred, &why);
    if (rc != MV_OK) {
        mv_http_respond_auth_failure(resp, rc);
        hosp_metric_add(h, "medvault_hospital_rejections_total", "Requests refused, by reason", "reason=\"auth\"", 1);
        auth_failure_alert(h, req, why);
        return 1;
    }
    if (!(mv_role_of(c->cred.role) & (MV_ROLE_KEYSERVER | MV_ROLE_STORAGE))) {
        mv_http_respond_json_error(resp, 403, "only a key server or storage server may do this");
        return 1;
    }
    return 0;
}

static void handler(void *ctx, const mv_http_request *req, mv_http_response *resp)
{
    struct hosp *h = ctx;
    char param[256];
    int path_known = 0;
    /* The dashboard's pages (/admin, /admin/...) answer with HTML and their own session logins. */
    if (hospital_dash_handle(h->dash, req, resp))
        return;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const struct route *rt = &routes[i];
        if (!route_match(rt->pattern, req->path, param, sizeof param))
            continue;
        path_known = 1;
        if (strcmp(rt->method, req->method) != 0)
            continue;
        if (rt->auth == AUTH_NONE) {
            rt->fn(h, req, resp, NULL, param);
            return;
        }
        hosp_caller *c = mv_calloc(1, sizeof *c);
        if (!c) {
            mv_http_respond_json_error(resp, 503, "out of memory");
            return;
        }
        if (rt->auth == AUTH_SERVICE) {
            if (!authenticate_service(h, req, resp, c))
                rt->fn(h, req, resp, c, param);
        } else if (!authenticate(h, req, resp, c)) {
            if (!((unsigned)c->user.role & rt->roles))
                mv_http_respond_json_error(resp, 403, roles_text(rt->roles));
            else
                rt->fn(h, req, resp, c, param);
        }
        mv_wipe(c, sizeof *c);
        mv_free(c);
        return;
    }
    if (path_known)
        mv_http_respond_json_error(resp, 405, "method not allowed");
    else
        mv_http_respond_json_error(resp, 404, "no such endpoint");
}

mv_err mv_hospital_run(const mv_hospital_config *cfg)
{
    struct hosp h;
    mv_service svc;
    mv_err rc;
    memset(&h, 0, sizeof h);
    memset(&svc, 0, sizeof svc);
    if (!cfg || !cfg->dir || !cfg->listen)
        return MV_ERR_INVAL;
    h.cfg = cfg;
    pthread_mutex_init(&h.lock, NULL);
    mv_daemon_harden();
    if ((rc = mv_identity_load(cfg->dir, &h.id)) != MV_OK) {
        mv_log(MV_LOG_ERROR, COMPONENT, "cannot load the hospital identity from %s: %s (run `medvault hospital init`)",
               cfg->dir, mv_strerror(rc));
        goto out;
    }
    if ((rc = mv_audit_open(cfg->dir, "hospital", mv_identity_sign_sk(h.id), NULL, &h.audit)) != MV_OK) {
        mv_log(MV_LOG_ERROR, COMPONENT, "cannot open the audit log in %s: %s", cfg->dir, mv_strerror(rc));
        goto out;
    }
    if ((rc = registry_open(cfg->dir, &h.reg)) != MV_OK) {
        mv_log(MV_LOG_ERROR, COMPONENT, "cannot open the registry in %s: %s", cfg->dir, mv_strerror(rc));
        goto out;
    }
    if ((rc = hospital_dash_new(h.reg, h.id, cfg->storage_url[0] ? cfg->storage_url : NULL, cfg->deployment,
                                &h.dash)) != MV_OK) {
        mv_log(MV_LOG_ERROR, COMPONENT, "cannot start the dashboard: %s", mv_strerror(rc));
        goto out;
    }
    /* The hospital verifies the credentials it issues itself, and publishes the revocation list
     * rather than polling one (hospital_url NULL). */
    mv_service_config sc = {
        .component = COMPONENT,
        .dir = cfg->dir,
        .skew_seconds = cfg->skew_seconds,
        .audit = h.audit,
    };
    memcpy(sc.hospital_pk, mv_identity_sign_pk(h.id), 32);
    if ((rc = mv_service_start(&sc, &svc)) != MV_OK)
        goto out;
    h.auth = svc.auth; /* borrowed from svc by the handlers */
    h.metrics = svc.metrics;
    if ((rc = net_addr_limit_new(HOSP_REGISTER_ADDRESSES, HOSP_REGISTER_BURST, HOSP_REGISTER_INTERVAL_MS,
                                  &h.register_limit)) != MV_OK ||
        (rc = net_addr_limit_new(HOSP_REGISTER_ADDRESSES, HOSP_ALERT_BURST, HOSP_ALERT_INTERVAL_MS, &h.alert_limit)) !=
            MV_OK)
        goto out;
    hospital_dash_set_stepup(h.dash, hosp_stepup_decide_id, &h);
    if ((rc = hosp_alerts_start(&h)) != MV_OK) {
        mv_log(MV_LOG_ERROR, COMPONENT, "cannot start alert delivery: %s", mv_strerror(rc));
        goto out;
    }
    mv_http_config hc = {
        .listen = cfg->listen,
        .max_body = 16u << 20,
        .threads = cfg->threads,
        .handler = handler,
        .ctx = &h,
        .component = "medvault_hospital",
        /* Only a credential holder's body is buffered past 64 KiB (TokenGen batches are the
         * only large bodies; the dashboard's cookie-authenticated forms are a few hundred
         * bytes): an unauthenticated caller cannot make the hospital hold 16 MiB per request. */
        .body_gate = mv_http_gate_signed, /* a signature that verifies from the headers */
        .body_gate_ctx = h.auth,
    };
    if ((rc = mv_service_listen(&svc, &hc, cfg->public_urls, cfg->port_file)) != MV_OK)
        goto out;
    mv_log(MV_LOG_INFO, COMPONENT, "listening on port %u (tokens: %s, credentials: %llu min)",
           (unsigned)svc.port, cfg->token_alg == MV_TOKEN_HMAC_SHA1 ? "HMAC-SHA-1" : "HMAC-SHA-256",
           (unsigned long long)cfg->credential_minutes);
    mv_daemon_wait(1.0, NULL, NULL);
    mv_log(MV_LOG_INFO, COMPONENT, "shutting down");
    rc = MV_OK;
out:
    mv_service_stop_serving(&svc);
    mv_audit_close(h.audit);
    hosp_alerts_stop(&h);
    hospital_dash_free(h.dash);
    for (size_t i = 0; i < h.n_keys; i++)
        mv_secure_free(h.keys[i].key);
    registry_close(h.reg);
    net_addr_limit_free(h.register_limit);
    net_addr_limit_free(h.alert_limit);
    mv_service_stop(&svc); /* after the alert thread, which counts in the metrics */
    mv_identity_free(h.id);
    pthread_mutex_destroy(&h.lock);
    return rc;
}
