/* hospital_users.c - users, credentials and revocation at the hospital: only admins register
 * and change users, a credential is (re)issued only to a key the registry lists as active, and
 * the revocation list is signed over the registry's current suspended and revoked keys. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hospital/hospital_internal.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_revocation.h"
#include "medvault/mv_sig.h"

#define COMPONENT HOSP_COMPONENT
#define ANSWER_MAX_USERS ((size_t)16 << 20)

mv_err hosp_issue_credential(const mv_identity *hosp_id, const char *role, const char *const *depts, size_t n,
                             const uint8_t subject[32], uint64_t minutes, uint64_t now, char *cred, size_t cap,
                             uint64_t *expires)
{
    mv_credential c;
    mv_err rc = MV_OK;
    if (!hosp_id || !role || !subject || !cred || !expires || (n && !depts) || minutes == 0)
        return MV_ERR_INVAL;
    memset(&c, 0, sizeof c);
    if (strlen(role) > MV_CRED_MAX_ROLE) {
        rc = MV_ERR_INVAL;
        goto out;
    }
    /* Admins act on the registry, not on department data; a patient carries their home one. */
    if (registry_role_of(role) == REGISTRY_ROLE_ADMIN)
        n = 0;
    else if (registry_role_of(role) == REGISTRY_ROLE_PATIENT && n > 1)
        n = 1;
    if (n > MV_CRED_MAX_DEPTS) {
        rc = MV_ERR_INVAL;
        goto out;
    }
    memcpy(c.subject, subject, 32);
    memcpy(c.role, role, strlen(role) + 1);
    c.n_departments = n;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(depts[i]);
        if (l == 0 || l > MV_CRED_MAX_DEPT_LEN) {
            rc = MV_ERR_INVAL;
            goto out;
        }
        memcpy(c.departments[i], depts[i], l + 1);
    }
    c.issued_at = now;
    c.expires_at = now + minutes * 60u;
    if ((rc = mv_credential_issue(&c, mv_identity_sign_pk(hosp_id), mv_identity_sign_sk(hosp_id))) == MV_OK &&
        (rc = mv_credential_encode(&c, cred, cap)) == MV_OK)
        *expires = c.expires_at;
out:
    if (rc != MV_OK && cap)
        mv_wipe(cred, cap);
    return rc;
}

mv_err hosp_register(registry *reg, const mv_identity *hosp_id, uint64_t minutes, const registry_new_user *nu,
                     char *cred, size_t cap, uint64_t *expires, registry_user *out, const char **why)
{
    uint64_t now = (uint64_t)time(NULL);
    if (!reg || !nu || !cred || !expires)
        return MV_ERR_INVAL;
    /* Validate through the registry's rules first, so a bad role never reaches the signer. */
    if (!registry_name_ok(nu->name) || !nu->role ||
        registry_role_of(nu->role) == REGISTRY_ROLE_NONE) {
        if (why)
            *why = "invalid registration: role must be doctor, patient or admin, names are 1-128 printable bytes";
        return MV_ERR_INVAL;
    }
    for (size_t i = 0; i < nu->n_departments; i++)
        if (!registry_department_ok(nu->departments[i])) {
            if (why)
                *why = "department names are 1-63 characters of [A-Za-z0-9 _.-]";
            return MV_ERR_INVAL;
        }
    if (nu->n_departments > MV_CRED_MAX_DEPTS) {
        if (why)
            *why = "at most 16 departments";
        return MV_ERR_INVAL;
    }
    mv_err rc = hosp_issue_credential(hosp_id, nu->role, nu->departments, nu->n_departments, nu->sign_pk, minutes, now,
                                      cred, cap, expires);
    if (rc == MV_OK)
        rc = registry_user_add(reg, nu, now, now, *expires, out, why);
    if (rc != MV_OK)
        mv_wipe(cred, cap);
    return rc;
}

/* Reads a departments array (strings) into depts; answers 400 and returns 1 if malformed. */
static int read_departments(const mv_json *root, mv_http_response *resp, const char *depts[MV_CRED_MAX_DEPTS],
                            size_t *n)
{
    const mv_json *jd = mv_json_get(root, "departments");
    *n = 0;
    if (!jd)
        return 0;
    if (mv_json_type_of(jd) != MV_JSON_ARRAY || mv_json_len(jd) > MV_CRED_MAX_DEPTS) {
        mv_http_respond_json_error(resp, 400, "departments must be an array of at most 16 names");
        return 1;
    }
    for (size_t i = 0; i < mv_json_len(jd); i++)
        if (!(depts[(*n)++] = mv_json_str(mv_json_at(jd, i), NULL))) {
            mv_http_respond_json_error(resp, 400, "departments must be strings");
            return 1;
        }
    return 0;
}

/* Appends {"credential","expires_at","user":USER}. */
static mv_err registration_answer(mv_buf *b, const char *cred, uint64_t expires, const registry_user *u)
{
    mv_jw w;
    mv_jw_init(&w, b);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "credential", cred);
    mv_jw_ku64(&w, "expires_at", expires);
    mv_jw_key(&w, "user");
    registry_user_jw(&w, u, 1);
    mv_jw_obj_end(&w);
    return mv_jw_finish(&w);
}

/* POST /v1/users (admin). */
void hosp_users_add(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                    const char *param)
{
    mv_json *root = NULL;
    char cred[MV_CRED_B64_MAX + 1];
    const char *depts[MV_CRED_MAX_DEPTS];
    registry_new_user nu;
    registry_user *u = NULL;
    uint64_t expires = 0;
    const char *why = NULL;
    mv_buf b;
    (void)caller, (void)param;
    mv_buf_init(&b, 1 << 16);
    memset(&nu, 0, sizeof nu);
    if (hosp_json_body(req, resp, &root) || read_departments(root, resp, depts, &nu.n_departments) ||
        hosp_opt_str(root, "name", resp, &nu.name) || hosp_opt_str(root, "role", resp, &nu.role) ||
        hosp_opt_str(root, "email", resp, &nu.email) || hosp_opt_str(root, "phone", resp, &nu.phone))
        goto out;
    if (!nu.name || !nu.role || mv_json_get_hex(root, "sign_public_key", nu.sign_pk, 32) != MV_OK ||
        mv_json_get_hex(root, "box_public_key", nu.box_pk, 32) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "name, role, sign_public_key and box_public_key (64 hex) are required");
        goto out;
    }
    nu.departments = depts;
    nu.status = "active";
    if (!(u = mv_malloc(sizeof *u))) {
        mv_http_respond_json_error(resp, 503, "out of memory");
        goto out;
    }
    mv_err rc = hosp_register(h->reg, h->id, h->cfg->credential_minutes, &nu, cred, sizeof cred, &expires, u, &why);
    if (rc != MV_OK) {
        hosp_respond_err(resp, rc, why);
        goto out;
    }
    rc = registration_answer(&b, cred, expires, u);
    mv_http_respond_built(resp, rc, 201, &b);
    hosp_metric_add(h, "medvault_hospital_registrations_total", "Users registered", "", 1);
    mv_log(MV_LOG_INFO, COMPONENT, "registered a user with role %s", registry_role_name(u->role));
out:
    mv_wipe(cred, sizeof cred);
    mv_free(u);
    mv_json_free(root);
    mv_buf_clear(&b);
}

/* GET /v1/users/{sign key hex}: the public form; admins and the user themself get contacts. */
void hosp_users_get(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                    const char *param)
{
    uint8_t pk[32];
    registry_user *u = NULL;
    mv_buf b;
    (void)req;
    mv_buf_init(&b, 1 << 16);
    if (mv_hex_decode_exact(pk, 32, param, strlen(param)) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "expected /v1/users/<64 hex digits>");
        goto out;
    }
    if (!(u = mv_malloc(sizeof *u))) {
        mv_http_respond_json_error(resp, 503, "out of memory");
        goto out;
    }
    mv_err rc = registry_user_get(h->reg, pk, u);
    if (rc != MV_OK) {
        hosp_respond_err(resp, rc, "no such user");
        goto out;
    }
    int private = caller->user.role == REGISTRY_ROLE_ADMIN || caller->user.id == u->id;
    rc = registry_user_json(&b, u, private);
    mv_http_respond_built(resp, rc, 200, &b);
out:
    mv_free(u);
    mv_buf_clear(&b);
}

/* POST /v1/users/{key}/status (admin) {"status": active|suspended|revoked}. */
void hosp_users_status(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                       const char *param)
{
    uint8_t pk[32];
    mv_json *root = NULL;
    registry_user *u = NULL;
    const char *status = NULL, *why = NULL;
    mv_buf b;
    (void)caller;
    mv_buf_init(&b, 1 << 16);
    if (mv_hex_decode_exact(pk, 32, param, strlen(param)) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "expected /v1/users/<64 hex digits>/status");
        goto out;
    }
    if (hosp_json_body(req, resp, &root) || hosp_opt_str(root, "status", resp, &status))
        goto out;
    if (!status || (strcmp(status, "active") && strcmp(status, "suspended") && strcmp(status, "revoked"))) {
        mv_http_respond_json_error(resp, 400, "status must be active, suspended or revoked");
        goto out;
    }
    if (!(u = mv_malloc(sizeof *u))) {
        mv_http_respond_json_error(resp, 503, "out of memory");
        goto out;
    }
    mv_err rc = registry_user_set_status_groups(h->reg, pk, status, (uint64_t)time(NULL), hosp_group_sign_epoch, h, u,
                                                &why);
    if (rc != MV_OK) {
        hosp_respond_err(resp, rc, why);
        goto out;
    }
    mv_log(MV_LOG_INFO, COMPONENT, "user %.16s... is now %s", param, status);
    rc = registry_user_json(&b, u, 1);
    mv_http_respond_built(resp, rc, 200, &b);
out:
    mv_free(u);
    mv_json_free(root);
    mv_buf_clear(&b);
}

/* POST /v1/credentials: renewal by key possession (MV-Credential may be absent or expired). */
void hosp_credentials(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                      const char *param)
{
    uint8_t pk[32];
    char cred[MV_CRED_B64_MAX + 1];
    const char *depts[MV_CRED_MAX_DEPTS];
    registry_user *u = NULL;
    uint64_t expires = 0, now = (uint64_t)time(NULL);
    (void)caller, (void)param;
    mv_err rc = mv_http_verify_key(h->auth, req, now, pk);
    if (rc != MV_OK) {
        mv_http_respond_auth_failure(resp, rc);
        hosp_metric_add(h, "medvault_hospital_rejections_total", "Requests refused, by reason", "reason=\"auth\"", 1);
        goto out;
    }
    if (!(u = mv_malloc(sizeof *u))) {
        mv_http_respond_json_error(resp, 503, "out of memory");
        goto out;
    }
    if ((rc = registry_user_get(h->reg, pk, u)) != MV_OK) {
        hosp_respond_err(resp, rc, "this key is not registered");
        goto out;
    }
    if (strcmp(u->status, "active") != 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "this user is %s", u->status);
        mv_http_respond_json_error(resp, 403, msg);
        goto out;
    }
    for (size_t i = 0; i < u->n_departments; i++)
        depts[i] = u->departments[i];
    if ((rc = hosp_issue_credential(h->id, registry_role_name(u->role), depts, u->n_departments, pk,
                                    h->cfg->credential_minutes, now, cred, sizeof cred, &expires)) != MV_OK ||
        (rc = registry_credential_log(h->reg, u->id, now, expires, "renew")) != MV_OK) {
        hosp_respond_err(resp, rc, NULL);
        goto out;
    }
    mv_http_respond_fmt(resp, 200, "{\"credential\":\"%s\",\"expires_at\":%llu}", cred, (unsigned long long)expires);
    hosp_metric_add(h, "medvault_hospital_credentials_total", "Credentials renewed", "", 1);
out:
    mv_wipe(cred, sizeof cred);
    mv_free(u);
}

/* GET /v1/revocations (public): a fresh MVL1 list of every suspended and revoked key. */
void hosp_revocations(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                      const char *param)
{
    uint8_t *keys = NULL;
    size_t n = 0;
    uint64_t serial = 0, now = (uint64_t)time(NULL);
    mv_buf b;
    (void)req, (void)caller, (void)param;
    mv_buf_init(&b, (size_t)64 << 20);
    mv_err rc = registry_revocations(h->reg, &keys, &n, &serial);
    if (rc == MV_OK)
        rc = mv_revocation_sign(keys, n, serial, now, now + h->cfg->revocation_poll_seconds,
                                mv_identity_sign_pk(h->id), mv_identity_sign_sk(h->id), &b);
    if (rc != MV_OK)
        hosp_respond_err(resp, rc, NULL);
    else
        mv_http_respond_bytes(resp, 200, b.ptr, b.len);
    mv_free(keys);
    mv_buf_clear(&b);
}

/* Answers with the caller's own USER object (contacts included). */
static void answer_self(struct hosp *h, mv_http_response *resp, const hosp_caller *caller)
{
    registry_user *u = mv_malloc(sizeof *u);
    mv_buf b;
    mv_buf_init(&b, 1 << 16);
    mv_err rc = u ? registry_user_get(h->reg, caller->user.sign_pk, u) : MV_ERR_NOMEM;
    if (rc == MV_OK)
        rc = registry_user_json(&b, u, 1);
    mv_http_respond_built(resp, rc, 200, &b);
    mv_free(u);
    mv_buf_clear(&b);
}

/* GET /v1/profile. */
void hosp_profile_get(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                      const char *param)
{
    (void)req, (void)param;
    answer_self(h, resp, caller);
}

/* PUT /v1/profile {email?, phone?, about?}. */
void hosp_profile_put(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                      const char *param)
{
    mv_json *root = NULL;
    const char *email = NULL, *phone = NULL, *about = NULL, *why = NULL;
    (void)param;
    if (hosp_json_body(req, resp, &root) || hosp_opt_str(root, "email", resp, &email) ||
        hosp_opt_str(root, "phone", resp, &phone) || hosp_opt_str(root, "about", resp, &about))
        goto out;
    mv_err rc = registry_profile_update(h->reg, caller->user.id, email, phone, about, &why);
    if (rc != MV_OK)
        hosp_respond_err(resp, rc, why);
    else
        answer_self(h, resp, caller);
out:
    mv_json_free(root);
}

/* PUT /v1/users/me/pre-key {pre_public_key, signature} (docs/pre.md 7.1). The hospital checks
 * what it can (an element, signed by the requester's key) so that a broken client cannot
 * publish a key that every owner's client would then refuse; owners verify it again
 * themselves and trust the directory for nothing. */
void hosp_pre_key_put(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                      const char *param)
{
    static const char ctx[] = "medvault-pre-key-v1\n";
    mv_json *root = NULL;
    uint8_t pk[32], sig[64], msg[sizeof ctx - 1 + 32];
    (void)param;
    if (hosp_json_body(req, resp, &root))
        goto out;
    if (mv_json_get_hex(root, "pre_public_key", pk, 32) != MV_OK || mv_json_get_hex(root, "signature", sig, 64) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "pre_public_key (64 hex) and signature (128 hex) are required");
        goto out;
    }
    if (mv_r255_elem_check(pk) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "pre_public_key is not a valid ristretto255 element");
        goto out;
    }
    memcpy(msg, ctx, sizeof ctx - 1);
    memcpy(msg + sizeof ctx - 1, pk, 32);
    if (mv_sign_verify(sig, msg, sizeof msg, caller->user.sign_pk) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "the signature does not verify under the requester's key");
        goto out;
    }
    mv_err rc = registry_pre_key_set(h->reg, caller->user.id, pk, sig);
    if (rc != MV_OK)
        hosp_respond_err(resp, rc, NULL);
    else
        answer_self(h, resp, caller);
out:
    mv_json_free(root);
}

/* GET /v1/departments. */
void hosp_departments_list(struct hosp *h, const mv_http_request *req, mv_http_response *resp,
                           const hosp_caller *caller, const char *param)
{
    mv_buf b;
    (void)req, (void)caller, (void)param;
    mv_buf_init(&b, (size_t)16 << 20);
    mv_err rc = registry_departments_json(h->reg, &b);
    if (rc == MV_OK)
        mv_http_respond_json(resp, 200, &b);
    else
        hosp_respond_err(resp, rc, NULL);
    mv_buf_clear(&b);
}

/* POST /v1/departments (admin) {name, description?}: 201 created, 200 updated. */
void hosp_departments_put(struct hosp *h, const mv_http_request *req, mv_http_response *resp,
                          const hosp_caller *caller, const char *param)
{
    mv_json *root = NULL;
    const char *name = NULL, *desc = NULL, *why = NULL;
    int created = 0;
    mv_buf b;
    (void)caller, (void)param;
    mv_buf_init(&b, 1 << 12);
    if (hosp_json_body(req, resp, &root) || hosp_opt_str(root, "name", resp, &name) ||
        hosp_opt_str(root, "description", resp, &desc))
        goto out;
    mv_err rc = registry_department_put(h->reg, name, desc, (uint64_t)time(NULL), &created, &why);
    if (rc != MV_OK) {
        hosp_respond_err(resp, rc, why);
        goto out;
    }
    mv_jw w;
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "name", name);
    mv_jw_kbool(&w, "created", created);
    mv_jw_obj_end(&w);
    rc = mv_jw_finish(&w);
    mv_http_respond_built(resp, rc, created ? 201 : 200, &b);
out:
    mv_json_free(root);
    mv_buf_clear(&b);
}

/* GET /v1/directory?q=&role=&department=&limit= (admins and doctors; admins see contacts). */
void hosp_directory(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                    const char *param)
{
    char q[129], role[16], dept[80];
    uint64_t limit = 50;
    int hq, hr, hd;
    mv_buf b;
    (void)param;
    if ((hq = hosp_query(req, resp, "q", q, sizeof q)) < 0 || (hr = hosp_query(req, resp, "role", role, sizeof role)) < 0 ||
        (hd = hosp_query(req, resp, "department", dept, sizeof dept)) < 0 ||
        hosp_query_limit(req, resp, 50, REGISTRY_DIRECTORY_MAX, &limit))
        return;
    if (hr && role[0] && registry_role_of(role) == REGISTRY_ROLE_NONE) {
        mv_http_respond_json_error(resp, 400, "role must be admin, doctor or patient");
        return;
    }
    mv_buf_init(&b, ANSWER_MAX_USERS);
    mv_err rc = registry_directory_json(h->reg, hq ? q : NULL, hr ? role : NULL, hd ? dept : NULL, (size_t)limit,
                                        caller->user.role == REGISTRY_ROLE_ADMIN, &b);
    if (rc == MV_OK)
        mv_http_respond_json(resp, 200, &b);
    else
        hosp_respond_err(resp, rc, NULL);
    mv_buf_clear(&b);
}

/* Answers 429 with Retry-After and counts the refusal. */
static void respond_too_many(struct hosp *h, mv_http_response *resp, uint64_t retry_after_s, const char *why)
{
    char ra[24];
    snprintf(ra, sizeof ra, "%llu", (unsigned long long)retry_after_s);
    mv_http_respond_json_error(resp, 429, why);
    if (mv_http_response_header(resp, "Retry-After", ra) != MV_OK)
        mv_log(MV_LOG_WARN, COMPONENT, "cannot add Retry-After to a 429");
    hosp_metric_add(h, "medvault_hospital_rejections_total", "Requests refused, by reason", "reason=\"register_limit\"",
                    1);
}

/* POST /v1/register (unauthenticated kiosk self-registration of a patient; pending until an
 * admin activates it). The signature proves possession of the signing key. An unauthenticated
 * caller must not be able to close registration for everyone, nor learn how many patients
 * there are (issue 11, finding 10): each source address has a token bucket (checked before any
 * work) and a cap on its pending registrations, all pending ones have a cap and expire after a
 * day (registry.h), and the MRN in the answer is random. */
void hosp_self_register(struct hosp *h, const mv_http_request *req, mv_http_response *resp,
                        const hosp_caller *caller, const char *param)
{
    mv_json *root = NULL;
    registry_new_user nu;
    registry_user *u = NULL;
    uint8_t sig[64];
    char shex[65], bhex[65];
    const char *why = NULL;
    uint64_t retry = 0;
    mv_buf msg;
    (void)caller, (void)param;
    memset(&nu, 0, sizeof nu);
    mv_buf_init(&msg, 1 << 12);
    /* Every attempt from an address costs a token, malformed or not, before any parsing,
     * signature check or database write. */
    if (!net_addr_limit_take(h->register_limit, req->remote_addr, net_addr_limit_now_ms(), &retry)) {
        respond_too_many(h, resp, retry, "too many registrations from this address; try again later");
        goto out;
    }
    if (hosp_json_body(req, resp, &root) || hosp_opt_str(root, "name", resp, &nu.name) ||
        hosp_opt_str(root, "email", resp, &nu.email) || hosp_opt_str(root, "phone", resp, &nu.phone))
        goto out;
    if (!nu.name || mv_json_get_hex(root, "sign_public_key", nu.sign_pk, 32) != MV_OK ||
        mv_json_get_hex(root, "box_public_key", nu.box_pk, 32) != MV_OK ||
        mv_json_get_hex(root, "signature", sig, 64) != MV_OK) {
        mv_http_respond_json_error(resp, 400,
                                   "name, sign_public_key, box_public_key (64 hex) and signature (128 hex) are required");
        goto out;
    }
    if (!registry_name_ok(nu.name)) {
        mv_http_respond_json_error(resp, 400, "names are 1-128 printable bytes");
        goto out;
    }
    mv_err rc;
    if ((rc = mv_hex_encode(shex, sizeof shex, nu.sign_pk, 32)) != MV_OK ||
        (rc = mv_hex_encode(bhex, sizeof bhex, nu.box_pk, 32)) != MV_OK ||
        (rc = mv_buf_printf(&msg, "medvault-register-v1\n%s\n%s\n%s", nu.name, shex, bhex)) != MV_OK) {
        hosp_respond_err(resp, rc, NULL);
        goto out;
    }
    if (mv_sign_verify(sig, msg.ptr, msg.len, nu.sign_pk) != MV_OK) {
        mv_http_respond_json_error(resp, 401, "the signature does not verify under sign_public_key");
        goto out;
    }
    nu.role = "patient";
    nu.status = "pending";
    nu.source = req->remote_addr ? req->remote_addr : "";
    if (!(u = mv_malloc(sizeof *u))) {
        mv_http_respond_json_error(resp, 503, "out of memory");
        goto out;
    }
    if ((rc = registry_user_add(h->reg, &nu, (uint64_t)time(NULL), 0, 0, u, &why)) != MV_OK) {
        /* This address's pending ones free up when an admin acts on them or they expire: no
         * better Retry-After than "in a while". */
        if (rc == MV_ERR_RATE_LIMITED)
            respond_too_many(h, resp, 3600, why);
        else
            hosp_respond_err(resp, rc, why);
        goto out;
    }
    mv_log(MV_LOG_INFO, COMPONENT, "self-registration %.16s... is pending", shex);
    /* The MRN is the patient's reference at the desk that activates the registration; it is
     * random, so it tells the caller nothing about other patients. */
    mv_http_respond_fmt(resp, 202, "{\"status\":\"pending\",\"mrn\":\"%s\"}", u->mrn);
out:
    mv_free(u);
    mv_json_free(root);
    mv_buf_clear(&msg);
}
