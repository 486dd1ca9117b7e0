/* hospital_stepup.c - device keys and step-up at the hospital: a grant is signed only for a
 * fresh (time window, unspent nonce) signature by a device key an admin registered to the very
 * user who asks, or on an admin's explicit approval; every failed attempt and every denial is
 * an alert. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hospital/hospital_internal.h"
#include "medvault/mv_alert.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_stepup.h"

#define COMPONENT HOSP_COMPONENT

static void stepup_failed(struct hosp *h, const mv_http_request *req, const uint8_t *user_pk, const char *object,
                          const char *reason)
{
    mv_alert a;
    mv_alert_fill(&a, (uint64_t)time(NULL), "hospital", "stepup_failed", user_pk, req ? req->remote_addr : "", object,
                  reason);
    hosp_alert_raise(h, &a, 1);
    hosp_metric_add(h, "medvault_hospital_stepup_total", "Step-up attempts, by outcome", "outcome=\"failed\"", 1);
}

/* Signs a grant for subject by method; b64 receives it, *expires its expiry. */
static mv_err grant_issue(struct hosp *h, const uint8_t subject[32], uint8_t method, char b64[MV_STEPUP_GRANT_B64_LEN + 1],
                          uint64_t *expires)
{
    mv_stepup_grant g;
    memset(&g, 0, sizeof g);
    memcpy(g.subject, subject, 32);
    g.issued = (uint64_t)time(NULL);
    g.expires = g.issued + (h->cfg->stepup_grant_seconds ? h->cfg->stepup_grant_seconds : MV_STEPUP_LIFETIME);
    g.method = method;
    mv_err rc = mv_stepup_grant_sign(&g, mv_identity_sign_sk(h->id));
    if (rc == MV_OK)
        rc = mv_stepup_grant_encode_b64(&g, b64, MV_STEPUP_GRANT_B64_LEN + 1);
    *expires = g.expires;
    return rc;
}

static int parse_id(const char *param, int64_t *id)
{
    int64_t v = 0;
    size_t n = strlen(param);
    if (n == 0 || n > 15)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (param[i] < '0' || param[i] > '9')
            return 0;
        v = v * 10 + (param[i] - '0');
    }
    *id = v;
    return v > 0;
}

/* POST /v1/users/{key}/devices {"device_pk":hex,"name":"..."} (admin). */
void hosp_devices_add(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                      const char *param)
{
    uint8_t pk[32], dev[32];
    mv_json *root = NULL;
    const char *name = NULL, *why = NULL;
    mv_buf b;
    mv_buf_init(&b, 4096);
    if (mv_hex_decode_exact(pk, 32, param, strlen(param)) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "expected /v1/users/<64 hex digits>/devices");
        goto out;
    }
    if (hosp_json_body(req, resp, &root) || hosp_opt_str(root, "name", resp, &name))
        goto out;
    if (mv_json_get_hex(root, "device_pk", dev, 32) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "device_pk must be 64 hex digits (an Ed25519 public key)");
        goto out;
    }
    mv_err rc = registry_device_add(h->reg, pk, dev, name, (uint64_t)time(NULL), &why);
    if (rc != MV_OK) {
        hosp_respond_err(resp, rc, why);
        goto out;
    }
    (void)caller;
    mv_log(MV_LOG_INFO, COMPONENT, "a device key was registered for user %.16s...", param);
    mv_jw w;
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_khex(&w, "device_pk", dev, 32);
    mv_jw_kstr(&w, "name", name ? name : "");
    mv_jw_obj_end(&w);
    rc = mv_jw_finish(&w);
    mv_http_respond_built(resp, rc, 201, &b);
out:
    mv_json_free(root);
    mv_buf_clear(&b);
}

/* GET /v1/users/{key}/devices (admin). */
void hosp_devices_list(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                       const char *param)
{
    uint8_t pk[32];
    mv_buf b;
    (void)req, (void)caller;
    if (mv_hex_decode_exact(pk, 32, param, strlen(param)) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "expected /v1/users/<64 hex digits>/devices");
        return;
    }
    mv_buf_init(&b, 1 << 16);
    mv_err rc = registry_devices_json(h->reg, pk, &b);
    if (rc == MV_OK)
        mv_http_respond_json(resp, 200, &b);
    else
        hosp_respond_err(resp, rc, rc == MV_ERR_NOT_FOUND ? "no such user" : NULL);
    mv_buf_clear(&b);
}

/* POST /v1/stepup (the user): a device proof, or {"approval":"request"}. */
void hosp_stepup_post(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                      const char *param)
{
    mv_json *root = NULL;
    const char *approval = NULL, *why = NULL, *reason = NULL;
    uint8_t dev[32], nonce[MV_STEPUP_NONCE_BYTES], sig[64];
    uint64_t t = 0, now = (uint64_t)time(NULL), expires = 0;
    char grant[MV_STEPUP_GRANT_B64_LEN + 1];
    const uint8_t *subject = caller->cred.subject;
    (void)param;
    if (hosp_json_body(req, resp, &root) || hosp_opt_str(root, "approval", resp, &approval))
        goto out;
    if (approval) {
        int64_t id = 0;
        if (strcmp(approval, "request") != 0) {
            mv_http_respond_json_error(resp, 400, "approval must be \"request\"");
            goto out;
        }
        mv_err rc = registry_stepup_request(h->reg, caller->user.id, now, &id, &why);
        if (rc != MV_OK) {
            hosp_respond_err(resp, rc, why);
            goto out;
        }
        mv_log(MV_LOG_INFO, COMPONENT, "step-up request %lld awaits an admin", (long long)id);
        mv_http_respond_fmt(resp, 202, "{\"request\":%lld,\"status\":\"pending\"}", (long long)id);
        goto out;
    }
    if (mv_json_get_hex(root, "device_pk", dev, 32) != MV_OK || mv_json_get_u64(root, "time", &t) != MV_OK ||
        mv_json_get_hex(root, "nonce", nonce, sizeof nonce) != MV_OK ||
        mv_json_get_hex(root, "signature", sig, 64) != MV_OK) {
        mv_http_respond_json_error(resp, 400,
                                   "expected {\"device_pk\":hex32,\"time\":N,\"nonce\":hex16,\"signature\":hex64} "
                                   "or {\"approval\":\"request\"}");
        goto out;
    }
    mv_err rc = registry_device_check(h->reg, caller->user.id, dev);
    if (rc == MV_ERR_NOT_FOUND)
        reason = "unregistered device";
    else if (rc != MV_OK)
        goto fail;
    else if (mv_stepup_proof_verify(sig, dev, subject, t, nonce) != MV_OK)
        reason = "bad device signature";
    else if (t + MV_STEPUP_PROOF_SKEW < now || t > now + MV_STEPUP_PROOF_SKEW)
        reason = "stale device proof";
    else if ((rc = registry_stepup_nonce_use(h->reg, dev, nonce, t + MV_STEPUP_PROOF_SKEW + 1, now)) == MV_ERR_REPLAY)
        reason = "reused device nonce";
    else if (rc != MV_OK)
        goto fail;
    if (reason) {
        stepup_failed(h, req, subject, "POST /v1/stepup", reason);
        mv_http_respond_json_error(resp, 403, reason);
        goto out;
    }
    if ((rc = grant_issue(h, subject, MV_STEPUP_METHOD_DEVICE, grant, &expires)) != MV_OK)
        goto fail;
    hosp_metric_add(h, "medvault_hospital_stepup_total", "Step-up attempts, by outcome", "outcome=\"device\"", 1);
    mv_http_respond_fmt(resp, 200, "{\"grant\":\"%s\",\"expires\":%llu,\"method\":\"device\"}", grant,
                        (unsigned long long)expires);
    goto out;
fail:
    hosp_respond_err(resp, rc, NULL);
out:
    mv_json_free(root);
}

/* GET /v1/stepup/{id} (the user who asked). */
void hosp_stepup_get(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                     const char *param)
{
    registry_stepup s;
    mv_stepup_grant g;
    int64_t id = 0;
    (void)req;
    if (!parse_id(param, &id)) {
        mv_http_respond_json_error(resp, 400, "expected /v1/stepup/<request id>");
        return;
    }
    mv_err rc = registry_stepup_get(h->reg, id, &s);
    if (rc == MV_OK && s.user_id != caller->user.id)
        rc = MV_ERR_NOT_FOUND; /* another user's request: not theirs to see */
    if (rc != MV_OK) {
        hosp_respond_err(resp, rc, rc == MV_ERR_NOT_FOUND ? "no such step-up request" : NULL);
        return;
    }
    if (!strcmp(s.status, "pending")) {
        mv_http_respond_fmt(resp, 202, "{\"request\":%lld,\"status\":\"pending\"}", (long long)id);
    } else if (!strcmp(s.status, "denied")) {
        mv_http_respond_fmt(resp, 403, "{\"error\":\"step-up denied by an admin\",\"request\":%lld,\"status\":\"denied\"}",
                            (long long)id);
    } else if ((rc = mv_stepup_grant_verify_b64(s.grant_b64, strlen(s.grant_b64), mv_identity_sign_pk(h->id),
                                                (uint64_t)time(NULL), &g)) == MV_OK) {
        mv_http_respond_fmt(resp, 200,
                            "{\"request\":%lld,\"status\":\"approved\",\"grant\":\"%s\",\"expires\":%llu,"
                            "\"method\":\"admin\"}",
                            (long long)id, s.grant_b64, (unsigned long long)g.expires);
    } else {
        mv_http_respond_json_error(resp, 410, "the approved grant has expired: request step-up again");
    }
}

mv_err hosp_stepup_decide_id(void *ctx, int64_t id, int64_t admin_id, int approve, const char **why)
{
    struct hosp *h = ctx;
    registry_stepup s;
    char grant[MV_STEPUP_GRANT_B64_LEN + 1], object[48];
    uint64_t expires = 0;
    mv_err rc = registry_stepup_get(h->reg, id, &s);
    if (rc == MV_ERR_NOT_FOUND && why)
        *why = "no such step-up request";
    if (rc == MV_OK && strcmp(s.status, "pending") != 0) {
        rc = MV_ERR_BAD_STATE;
        if (why)
            *why = "this step-up request was already decided";
    }
    if (rc == MV_OK && approve)
        rc = grant_issue(h, s.user_pk, MV_STEPUP_METHOD_ADMIN, grant, &expires);
    if (rc == MV_OK)
        rc = registry_stepup_decide(h->reg, id, admin_id, approve ? grant : NULL, (uint64_t)time(NULL), why);
    if (rc != MV_OK)
        return rc;
    if (approve) {
        hosp_metric_add(h, "medvault_hospital_stepup_total", "Step-up attempts, by outcome", "outcome=\"admin\"", 1);
    } else {
        snprintf(object, sizeof object, "step-up request %lld", (long long)id);
        stepup_failed(h, NULL, s.user_pk, object, "denied by admin");
    }
    mv_log(MV_LOG_INFO, COMPONENT, "step-up request %lld %s by an admin", (long long)id, approve ? "approved" : "denied");
    return MV_OK;
}

/* POST /v1/stepup/{id} {"decision":"approve"|"deny"} (admin). */
void hosp_stepup_decide(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                        const char *param)
{
    mv_json *root = NULL;
    const char *decision = NULL, *why = NULL;
    int64_t id = 0;
    if (!parse_id(param, &id)) {
        mv_http_respond_json_error(resp, 400, "expected /v1/stepup/<request id>");
        goto out;
    }
    if (hosp_json_body(req, resp, &root) || hosp_opt_str(root, "decision", resp, &decision))
        goto out;
    if (!decision || (strcmp(decision, "approve") != 0 && strcmp(decision, "deny") != 0)) {
        mv_http_respond_json_error(resp, 400, "decision must be approve or deny");
        goto out;
    }
    int approve = !strcmp(decision, "approve");
    mv_err rc = hosp_stepup_decide_id(h, id, caller->user.id, approve, &why);
    if (rc != MV_OK) {
        hosp_respond_err(resp, rc, why);
        goto out;
    }
    mv_http_respond_fmt(resp, 200, "{\"request\":%lld,\"status\":\"%s\"}", (long long)id,
                        approve ? "approved" : "denied");
out:
    mv_json_free(root);
}
