/* hospital_workflow.c - appointments, delegations, patient lookup, the formulary and alerts at
 * the hospital: each caller sees only what its role and the registry let it see (patients
 * their own, doctors theirs and their departments'), and a delegation is countersigned only
 * after every registry check passed. No answer or log line carries record content. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hospital/hospital_internal.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_delegation.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"

#define COMPONENT HOSP_COMPONENT
#define ANSWER_MAX ((size_t)64 << 20)

/* A decimal row id in a path: 1..2^62. */
static int parse_id(const char *s, int64_t *out)
{
    uint64_t v = 0;
    size_t l = strlen(s);
    if (l == 0 || l > 18)
        return 0;
    for (size_t i = 0; i < l; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v == 0)
        return 0;
    *out = (int64_t)v;
    return 1;
}

/* Resolves "me", a signing key hex or an MRN to a user id (-1: nobody, so nothing matches).
 * Answers 400 and returns 1 for a value that is none of these. */
static int resolve_user(struct hosp *h, const hosp_caller *caller, const char *v, mv_http_response *resp,
                        int64_t *id)
{
    registry_user *u;
    if (!strcmp(v, "me")) {
        *id = caller->user.id;
        return 0;
    }
    if (!(u = mv_malloc(sizeof *u))) {
        mv_http_respond_json_error(resp, 503, "out of memory");
        return 1;
    }
    mv_err rc = registry_user_find(h->reg, v, u);
    *id = rc == MV_OK ? u->id : -1;
    mv_free(u);
    if (rc == MV_OK || rc == MV_ERR_NOT_FOUND)
        return 0;
    hosp_respond_err(resp, rc, rc == MV_ERR_INVAL ? "expected me, a signing key (64 hex) or an MRN" : NULL);
    return 1;
}

/* Reads the appointment fields of a request body into *c. Answers 400 and returns 1 if one is
 * malformed. */
static int appt_fields(const mv_json *root, mv_http_response *resp, registry_appt_change *c, uint8_t doctor[32])
{
    const char *doc = NULL;
    memset(c, 0, sizeof *c);
    if (hosp_opt_str(root, "department", resp, &c->department) || hosp_opt_str(root, "place", resp, &c->place) ||
        hosp_opt_str(root, "reason", resp, &c->reason) || hosp_opt_str(root, "status", resp, &c->status) ||
        hosp_opt_str(root, "doctor", resp, &doc))
        return 1;
    if (doc) {
        if (mv_hex_decode_exact(doctor, 32, doc, strlen(doc)) != MV_OK) {
            mv_http_respond_json_error(resp, 400, "doctor must be a signing key (64 hex)");
            return 1;
        }
        c->doctor = doctor;
    }
    if (mv_json_get(root, "starts_at")) {
        if (mv_json_get_u64(root, "starts_at", &c->starts_at) != MV_OK || c->starts_at > (1ull << 40)) {
            mv_http_respond_json_error(resp, 400, "starts_at must be unix seconds");
            return 1;
        }
        c->set_starts_at = 1;
    }
    return 0;
}

/* Answers with the APPT object of id as the caller sees it. */
static void answer_appt(struct hosp *h, mv_http_response *resp, const hosp_caller *caller, const char *id, int status)
{
    mv_buf b;
    mv_buf_init(&b, 1 << 16);
    mv_err rc = registry_appt_json(h->reg, &caller->user, id, &b);
    if (rc == MV_OK)
        mv_http_respond_json(resp, status, &b);
    else
        hosp_respond_err(resp, rc, "no such appointment");
    mv_buf_clear(&b);
}

/* POST /v1/appointments (patient: a request for themself; admin: for any patient). */
void hosp_appts_create(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                       const char *param)
{
    mv_json *root = NULL;
    registry_appt_change c;
    registry_user *patient = NULL;
    uint8_t doctor[32];
    char id[33];
    const char *pv = NULL, *why = NULL;
    (void)param;
    if (hosp_json_body(req, resp, &root) || appt_fields(root, resp, &c, doctor) ||
        hosp_opt_str(root, "patient", resp, &pv))
        goto out;
    if (c.status) {
        mv_http_respond_json_error(resp, 400, "a new appointment's status follows from its fields");
        goto out;
    }
    if (!(patient = mv_malloc(sizeof *patient))) {
        mv_http_respond_json_error(resp, 503, "out of memory");
        goto out;
    }
    if (caller->user.role == REGISTRY_ROLE_PATIENT && (!pv || !strcmp(pv, "me"))) {
        *patient = caller->user;
    } else if (!pv) {
        mv_http_respond_json_error(resp, 400, "patient (a signing key or an MRN) is required");
        goto out;
    } else {
        mv_err rc = registry_user_find(h->reg, pv, patient);
        if (rc != MV_OK) {
            hosp_respond_err(resp, rc,
                             rc == MV_ERR_INVAL ? "patient must be a signing key (64 hex) or an MRN" : "no such patient");
            goto out;
        }
    }
    mv_err rc = registry_appt_create(h->reg, &caller->user, patient, &c, (uint64_t)time(NULL), id, &why);
    if (rc != MV_OK) {
        hosp_respond_err(resp, rc, why);
        goto out;
    }
    hosp_metric_add(h, "medvault_hospital_appointments_total", "Appointments created", "", 1);
    answer_appt(h, resp, caller, id, 201);
out:
    mv_free(patient);
    mv_json_free(root);
}

/* POST /v1/appointments/{id}. */
void hosp_appts_update(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                       const char *param)
{
    mv_json *root = NULL;
    registry_appt_change c;
    uint8_t doctor[32];
    const char *why = NULL;
    if (hosp_json_body(req, resp, &root) || appt_fields(root, resp, &c, doctor))
        goto out;
    mv_err rc = registry_appt_update(h->reg, &caller->user, param, &c, (uint64_t)time(NULL), &why);
    if (rc != MV_OK) {
        hosp_respond_err(resp, rc, why);
        goto out;
    }
    answer_appt(h, resp, caller, param, 200);
out:
    mv_json_free(root);
}

/* GET /v1/appointments/{id}. */
void hosp_appts_get(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                    const char *param)
{
    (void)req;
    answer_appt(h, resp, caller, param, 200);
}

/* GET /v1/appointments?doctor=&patient=&department=&status= */
void hosp_appts_list(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                     const char *param)
{
    char doctor[80], patient[80], dept[80], status[32];
    registry_appt_filter f;
    mv_buf b;
    int hd, hp, hdp, hs;
    (void)param;
    memset(&f, 0, sizeof f);
    if ((hd = hosp_query(req, resp, "doctor", doctor, sizeof doctor)) < 0 ||
        (hp = hosp_query(req, resp, "patient", patient, sizeof patient)) < 0 ||
        (hdp = hosp_query(req, resp, "department", dept, sizeof dept)) < 0 ||
        (hs = hosp_query(req, resp, "status", status, sizeof status)) < 0)
        return;
    if ((hd && doctor[0] && resolve_user(h, caller, doctor, resp, &f.doctor_id)) ||
        (hp && patient[0] && resolve_user(h, caller, patient, resp, &f.patient_id)))
        return;
    if (hs && status[0] && strcmp(status, "requested") && strcmp(status, "booked") && strcmp(status, "checked_in") &&
        strcmp(status, "completed") && strcmp(status, "cancelled")) {
        mv_http_respond_json_error(resp, 400, "status must be requested, booked, checked_in, completed or cancelled");
        return;
    }
    f.department = hdp && dept[0] ? dept : NULL;
    f.status = hs && status[0] ? status : NULL;
    mv_buf_init(&b, ANSWER_MAX);
    mv_err rc = registry_appt_list_json(h->reg, &caller->user, &f, &b);
    if (rc == MV_OK)
        mv_http_respond_json(resp, 200, &b);
    else
        hosp_respond_err(resp, rc, NULL);
    mv_buf_clear(&b);
}

/* POST /v1/delegations (patient) {"delegation": b64 MVD1 signed by the patient}. */
void hosp_delegations_add(struct hosp *h, const mv_http_request *req, mv_http_response *resp,
                          const hosp_caller *caller, const char *param)
{
    mv_json *root = NULL;
    mv_delegation d;
    char b64[MV_DELEGATION_B64_MAX];
    const char *s = NULL, *why = NULL;
    int64_t id = 0;
    (void)param;
    if (hosp_json_body(req, resp, &root) || hosp_opt_str(root, "delegation", resp, &s))
        goto out;
    if (!s || mv_delegation_from_b64(s, strlen(s), &d) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "delegation must be the base64 of an MVD1 delegation");
        goto out;
    }
    mv_err rc = registry_delegation_add(h->reg, &caller->user, &d, mv_identity_sign_pk(h->id),
                                        mv_identity_sign_sk(h->id), (uint64_t)time(NULL), &id, &why);
    if (rc == MV_OK)
        rc = mv_delegation_to_b64(&d, b64, sizeof b64);
    if (rc != MV_OK) {
        hosp_respond_err(resp, rc, why);
        goto out;
    }
    mv_http_respond_fmt(resp, 201, "{\"id\":%lld,\"delegation\":\"%s\",\"expires_at\":%llu}", (long long)id, b64,
                        (unsigned long long)d.expires_at);
    hosp_metric_add(h, "medvault_hospital_delegations_total", "Delegations countersigned", "", 1);
out:
    mv_json_free(root);
}

/* GET /v1/delegations?patient=KEY|MRN */
void hosp_delegations_list(struct hosp *h, const mv_http_request *req, mv_http_response *resp,
                           const hosp_caller *caller, const char *param)
{
    char patient[80];
    int64_t pid = 0;
    mv_buf b;
    int hp;
    (void)param;
    if ((hp = hosp_query(req, resp, "patient", patient, sizeof patient)) < 0 ||
        (hp && patient[0] && resolve_user(h, caller, patient, resp, &pid)))
        return;
    mv_buf_init(&b, ANSWER_MAX);
    mv_err rc = registry_delegations_json(h->reg, &caller->user, pid, &b);
    if (rc == MV_OK)
        mv_http_respond_json(resp, 200, &b);
    else
        hosp_respond_err(resp, rc, NULL);
    mv_buf_clear(&b);
}

/* DELETE /v1/delegations/{id} (its patient, or an admin). */
void hosp_delegations_revoke(struct hosp *h, const mv_http_request *req, mv_http_response *resp,
                             const hosp_caller *caller, const char *param)
{
    int64_t id = 0;
    const char *why = NULL;
    (void)req;
    if (!parse_id(param, &id)) {
        mv_http_respond_json_error(resp, 404, "no such delegation");
        return;
    }
    mv_err rc = registry_delegation_revoke(h->reg, &caller->user, id, (uint64_t)time(NULL), &why);
    if (rc != MV_OK) {
        hosp_respond_err(resp, rc, why);
        return;
    }
    mv_http_respond_fmt(resp, 200, "{\"id\":%lld,\"revoked\":true}", (long long)id);
}

/* GET /v1/patients/{MRN} (doctor or admin). */
void hosp_patients_get(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                       const char *param)
{
    mv_buf b;
    (void)req;
    mv_buf_init(&b, 1 << 16);
    mv_err rc = MV_ERR_NOT_FOUND;
    if (strlen(param) <= 15 && !strncmp(param, "MRN-", 4))
        rc = registry_patient_json(h->reg, &caller->user, param, (uint64_t)time(NULL), &b);
    if (rc == MV_OK)
        mv_http_respond_json(resp, 200, &b);
    else if (rc == MV_ERR_NOT_FOUND)
        mv_http_respond_fmt(resp, 404, "{\"registered\":false,\"error\":\"no patient with this MRN\"}");
    else
        hosp_respond_err(resp, rc, NULL);
    mv_buf_clear(&b);
}

/* GET /v1/medicines?q= */
void hosp_medicines_list(struct hosp *h, const mv_http_request *req, mv_http_response *resp,
                         const hosp_caller *caller, const char *param)
{
    char q[129];
    mv_buf b;
    int hq;
    (void)caller, (void)param;
    if ((hq = hosp_query(req, resp, "q", q, sizeof q)) < 0)
        return;
    mv_buf_init(&b, ANSWER_MAX);
    mv_err rc = registry_medicines_json(h->reg, hq ? q : NULL, &b);
    if (rc == MV_OK)
        mv_http_respond_json(resp, 200, &b);
    else
        hosp_respond_err(resp, rc, NULL);
    mv_buf_clear(&b);
}

/* POST /v1/medicines (admin) {name, form, strength, dosage, code?}: upsert. */
void hosp_medicines_put(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                        const char *param)
{
    mv_json *root = NULL;
    const char *name = NULL, *form = NULL, *strength = NULL, *dosage = NULL, *code = NULL, *why = NULL;
    int created = 0;
    mv_buf b;
    (void)param;
    mv_buf_init(&b, 1 << 16);
    if (hosp_json_body(req, resp, &root) || hosp_opt_str(root, "name", resp, &name) ||
        hosp_opt_str(root, "form", resp, &form) || hosp_opt_str(root, "strength", resp, &strength) ||
        hosp_opt_str(root, "dosage", resp, &dosage) || hosp_opt_str(root, "code", resp, &code))
        goto out;
    mv_err rc = registry_medicine_put(h->reg, caller->user.id, name, form, strength, dosage, code,
                                      (uint64_t)time(NULL), &created, &b, &why);
    if (rc != MV_OK)
        hosp_respond_err(resp, rc, why);
    else
        mv_http_respond_json(resp, created ? 201 : 200, &b);
out:
    mv_json_free(root);
    mv_buf_clear(&b);
}

/* DELETE /v1/medicines/{id} (admin). */
void hosp_medicines_delete(struct hosp *h, const mv_http_request *req, mv_http_response *resp,
                           const hosp_caller *caller, const char *param)
{
    int64_t id = 0;
    (void)req, (void)caller;
    mv_err rc = parse_id(param, &id) ? registry_medicine_delete(h->reg, id) : MV_ERR_NOT_FOUND;
    if (rc != MV_OK)
        hosp_respond_err(resp, rc, "no such medicine");
    else
        mv_http_respond_fmt(resp, 200, "{\"id\":%lld,\"deleted\":true}", (long long)id);
}

/* GET /v1/alerts?limit= (admin). */
void hosp_alerts_list(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                      const char *param)
{
    uint64_t limit = 100;
    mv_buf b;
    (void)caller, (void)param;
    if (hosp_query_limit(req, resp, 100, 1000, &limit))
        return;
    mv_buf_init(&b, ANSWER_MAX);
    mv_err rc = registry_alerts_json(h->reg, (size_t)limit, &b);
    if (rc == MV_OK)
        mv_http_respond_json(resp, 200, &b);
    else
        hosp_respond_err(resp, rc, NULL);
    mv_buf_clear(&b);
}
