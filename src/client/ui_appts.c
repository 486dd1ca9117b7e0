/* ui_appts.c - the UI's home page, appointments and delegations: a patient's delegation is
 * signed here with the patient's key and only its signature leaves the process. */
#include "ui_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_delegation.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"

/* ---------- / ---------- */

void mvc_ui_handle_home(struct req *q)
{
    struct ui *u = q->u;
    char why[256] = "", t[64], k[17];
    mv_json *p = mvc_ui_hosp_get(u, "/v1/profile", why, sizeof why);
    mvc_ui_page_begin(q, "Home", "/");
    if (p) {
        P(q, "<table><tr><th>Name</th><td>%s</td></tr><tr><th>Role</th><td>%s</td></tr>", mvc_ui_js(p, "name"),
          mvc_ui_js(p, "role"));
        if (mv_json_get(p, "mrn"))
            P(q, "<tr><th>MRN</th><td>%s</td></tr>", mvc_ui_js(p, "mrn"));
        P(q, "<tr><th>Departments</th><td>");
        const mv_json *d = mv_json_get(p, "departments");
        for (size_t i = 0; i < mv_json_len(d); i++)
            P(q, "%s%s", i ? ", " : "", mv_json_str(mv_json_at(d, i), NULL) ? mv_json_str(mv_json_at(d, i), NULL) : "");
        if (!mv_json_len(d))
            P(q, "<span class=\"muted\">none</span>");
        mvc_ui_short_key(mvc_ui_js(p, "sign_public_key"), k);
        P(q, "</td></tr><tr><th>Key</th><td><code>%s</code>&hellip;</td></tr><tr><th>Status</th><td>%s</td></tr>", k,
          mvc_ui_js(p, "status"));
        if (*mvc_ui_js(p, "email") || *mvc_ui_js(p, "phone"))
            P(q, "<tr><th>Contact</th><td>%s %s</td></tr>", mvc_ui_js(p, "email"), mvc_ui_js(p, "phone"));
    } else {
        P(q, "<p class=\"error\">Profile unavailable (%s); from your credential:</p>", why);
        mvc_ui_short_key(u->me, k);
        P(q, "<table><tr><th>Role</th><td>%s</td></tr><tr><th>Departments</th><td>", u->cred.role);
        for (size_t i = 0; i < u->cred.n_departments; i++)
            P(q, "%s%s", i ? ", " : "", u->cred.departments[i]);
        P(q, "</td></tr><tr><th>Key</th><td><code>%s</code>&hellip;</td></tr>", k);
    }
    mvc_ui_fmt_time(u->cred.expires_at, t, sizeof t);
    P(q, "<tr><th>Credential valid until</th><td>%s</td></tr></table>\n<ul>", t);
    P(q, "<li><a href=\"/appointments\">Your appointments</a></li><li><a href=\"/records\">Records you can "
         "read</a> (decrypted only on this computer)</li>");
    if (mvc_ui_is_role(u, "doctor"))
        P(q, "<li><a href=\"/prescribe\">Write a prescription</a></li><li><a href=\"/orders\">Write a treatment "
             "order</a></li>");
    P(q, "</ul>\n");
    mv_json_free(p);
    mvc_ui_page_end(q, 200);
}

/* ---------- /appointments ---------- */

int mvc_ui_appt_open(const char *status)
{
    return !strcmp(status, "booked") || !strcmp(status, "checked_in");
}

static void status_button(struct req *q, const char *id, const char *status, const char *label)
{
    char action[64];
    snprintf(action, sizeof action, "/appointments/%s/status", id);
    mvc_ui_form_open(q, action, 1);
    P(q, "<input type=\"hidden\" name=\"status\" value=\"%s\"><button>%s</button></form> ", status, label);
}

static void delegations_section(struct req *q, int patient)
{
    char why[256] = "", t1[64], t2[64], k[17];
    mv_json *root = mvc_ui_hosp_get(q->u, "/v1/delegations", why, sizeof why);
    P(q, "<h2>%s</h2>\n", patient ? "Your delegations" : "Delegations from your patients");
    if (!root) {
        P(q, "<p class=\"error\">%s</p>\n", why);
        return;
    }
    const mv_json *a = mv_json_get(root, "delegations");
    if (!mv_json_len(a))
        P(q, "<p class=\"muted\">None.</p>\n");
    else
        P(q, "<table><tr><th>%s</th><th>Department</th><th>Appointment</th><th>Issued</th><th>Expires</th>"
             "<th>State</th>%s</tr>\n",
          patient ? "Doctor" : "Patient", patient ? "<th></th>" : "");
    for (size_t i = 0; i < mv_json_len(a); i++) {
        const mv_json *d = mv_json_at(a, i), *who = mv_json_get(d, patient ? "doctor" : "patient");
        int revoked = 0;
        uint64_t id = 0;
        (void)mv_json_bool(mv_json_get(d, "revoked"), &revoked);
        (void)mv_json_get_u64(d, "id", &id);
        mvc_ui_jtime(d, "issued_at", t1, sizeof t1);
        mvc_ui_jtime(d, "expires_at", t2, sizeof t2);
        mvc_ui_short_key(mvc_ui_js(d, "appointment"), k);
        P(q, "<tr><td>%s %s</td><td>%s</td><td><code>%s</code></td><td>%s</td><td>%s</td><td>%s</td>", mvc_ui_js(who, "name"),
          mvc_ui_js(who, "mrn"), mvc_ui_js(d, "department"), k, t1, t2, revoked ? "revoked" : "active");
        if (patient) {
            P(q, "<td>");
            if (!revoked) {
                char action[64];
                snprintf(action, sizeof action, "/delegations/%llu/revoke", (unsigned long long)id);
                mvc_ui_form_open(q, action, 1);
                P(q, "<button>Revoke</button></form>");
            }
            P(q, "</td>");
        }
        P(q, "</tr>\n");
    }
    if (mv_json_len(a))
        P(q, "</table>\n");
    mv_json_free(root);
}

void mvc_ui_handle_appointments(struct req *q)
{
    struct ui *u = q->u;
    int doctor = mvc_ui_is_role(u, "doctor"), patient = mvc_ui_is_role(u, "patient");
    char why[256] = "", t[64];
    mv_json *root = mvc_ui_hosp_get(u, doctor ? "/v1/appointments?doctor=me" : patient ? "/v1/appointments?patient=me"
                                                                                : "/v1/appointments",
                             why, sizeof why);
    mvc_ui_page_begin(q, "Appointments", "/appointments");
    if (!root)
        P(q, "<p class=\"error\">%s</p>\n", why);
    const mv_json *a = mv_json_get(root, "appointments");
    if (root && !mv_json_len(a))
        P(q, "<p class=\"muted\">No appointments.</p>\n");
    if (mv_json_len(a))
        P(q, "<table><tr><th>When</th><th>Department</th><th>%s</th><th>Place</th><th>Reason</th><th>Status</th>"
             "<th>Actions</th></tr>\n",
          patient ? "Doctor" : "Patient");
    for (size_t i = 0; i < mv_json_len(a); i++) {
        const mv_json *ap = mv_json_at(a, i), *pt = mv_json_get(ap, "patient"), *dr = mv_json_get(ap, "doctor");
        const char *id = mvc_ui_js(ap, "id"), *st = mvc_ui_js(ap, "status");
        if (!mv_is_lower_hex(id, 32))
            continue;
        mvc_ui_jtime(ap, "starts_at", t, sizeof t);
        P(q, "<tr><td>%s</td><td>%s</td>", t, mvc_ui_js(ap, "department"));
        if (patient)
            P(q, "<td>%s</td>", mv_json_type_of(dr) == MV_JSON_OBJECT ? mvc_ui_js(dr, "name") : "-");
        else
            P(q, "<td>%s <span class=\"muted\">%s</span></td>", mvc_ui_js(pt, "name"), mvc_ui_js(pt, "mrn"));
        P(q, "<td>%s</td><td>%s</td><td>%s</td><td>", mvc_ui_js(ap, "place"), mvc_ui_js(ap, "reason"), st);
        if (doctor && !strcmp(mvc_ui_js(dr, "sign_public_key"), u->me)) {
            if (!strcmp(st, "booked"))
                status_button(q, id, "checked_in", "Check in");
            if (!strcmp(st, "checked_in"))
                status_button(q, id, "completed", "Complete");
            if (mvc_ui_appt_open(st))
                P(q, "<a href=\"/prescribe?appointment=%s\">Prescribe</a> <a href=\"/orders?appointment=%s\">Order</a>",
                  id, id);
        }
        if (patient) {
            if (mvc_ui_appt_open(st) && mv_json_type_of(dr) == MV_JSON_OBJECT) {
                char action[80];
                snprintf(action, sizeof action, "/appointments/%s/delegate", id);
                mvc_ui_form_open(q, action, 1);
                P(q, "<button>Let %s write my records for this visit (7 days)</button></form> ", mvc_ui_js(dr, "name"));
            }
            if (strcmp(st, "completed") && strcmp(st, "cancelled"))
                status_button(q, id, "cancelled", "Cancel");
            if (strcmp(st, "requested") && strcmp(st, "cancelled"))
                mvc_ui_clouds_form(q, id);
        }
        P(q, "</td></tr>\n");
    }
    if (mv_json_len(a))
        P(q, "</table>\n");
    mv_json_free(root);
    if (patient) {
        P(q, "<h2>Request an appointment</h2>\n");
        mvc_ui_form_open(q, "/appointments/request", 0);
        mv_json *deps = mvc_ui_hosp_get(u, "/v1/departments", why, sizeof why);
        const mv_json *d = mv_json_get(deps, "departments");
        P(q, "<p><label>Department <select name=\"department\"><option value=\"\">(let the hospital choose)</option>");
        for (size_t i = 0; i < mv_json_len(d); i++)
            P(q, "<option>%s</option>", mvc_ui_js(mv_json_at(d, i), "name"));
        P(q, "</select></label> <label>Reason <input name=\"reason\" maxlength=\"256\" size=\"40\"></label> "
             "<button>Request</button></p></form>\n");
        mv_json_free(deps);
    }
    if (patient || doctor)
        delegations_section(q, patient);
    if (patient)
        mvc_ui_clouds_section(q);
    mvc_ui_page_end(q, 200);
}

void mvc_ui_appt_request(struct req *q)
{
    char dept[128], reason[512];
    mv_buf body;
    mv_json *root = NULL;
    long status = 0;
    mv_buf_init(&body, 4096);
    mvc_ui_field(q, "department", dept, sizeof dept);
    mvc_ui_field(q, "reason", reason, sizeof reason);
    mv_jw w;
    mv_jw_init(&w, &body);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "reason", reason);
    if (dept[0])
        mv_jw_kstr(&w, "department", dept);
    mv_jw_obj_end(&w);
    mv_err rc = mv_jw_finish(&w);
    if (rc == MV_OK)
        rc = mvc_ui_hosp(q->u, "POST", "/v1/appointments", &body, &status, &root);
    if (rc == MV_OK && status == 201)
        mvc_ui_set_flash(q->u, 1, NULL, "Appointment requested: the hospital will book a time, a place and a doctor.");
    else
        mvc_ui_set_flash(q->u, 0, NULL, "The request failed: %s", rc != MV_OK ? mv_strerror(rc) : mvc_ui_js(root, "error"));
    mv_json_free(root);
    mv_buf_clear(&body);
    mvc_ui_redirect(q->resp, "/appointments");
}

/* {"key":"value"}: the one-member bodies of the hospital's appointment status and
 * delegation calls. */
static mv_err one_member(mv_buf *b, const char *key, const char *value)
{
    mv_jw w;
    mv_jw_init(&w, b);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, key, value);
    mv_jw_obj_end(&w);
    return mv_jw_finish(&w);
}

void mvc_ui_appt_status(struct req *q, const char *id)
{
    char st[32];
    mv_buf body;
    mv_json *root = NULL;
    long status = 0;
    char path[80];
    mv_buf_init(&body, 256);
    mvc_ui_field(q, "status", st, sizeof st);
    if (strcmp(st, "checked_in") && strcmp(st, "completed") && strcmp(st, "cancelled")) {
        mvc_ui_set_flash(q->u, 0, NULL, "Unknown status.");
        mvc_ui_redirect(q->resp, "/appointments");
        return;
    }
    snprintf(path, sizeof path, "/v1/appointments/%s", id);
    mv_err rc = one_member(&body, "status", st);
    if (rc == MV_OK)
        rc = mvc_ui_hosp(q->u, "POST", path, &body, &status, &root);
    if (rc == MV_OK && status == 200)
        mvc_ui_set_flash(q->u, 1, NULL, "The appointment is now %s.", st);
    else
        mvc_ui_set_flash(q->u, 0, NULL, "The change failed: %s", rc != MV_OK ? mv_strerror(rc) : mvc_ui_js(root, "error"));
    mv_json_free(root);
    mv_buf_clear(&body);
    mvc_ui_redirect(q->resp, "/appointments");
}

/* The patient signs a delegation to the appointment's doctor (MVD1, 7 days) with the secret
 * key loaded for this one signature, and hands it to the hospital to countersign. */
void mvc_ui_appt_delegate(struct req *q, const char *id)
{
    struct ui *u = q->u;
    char why[256] = "", path[80], b64[MV_DELEGATION_B64_MAX];
    mv_identity *ident = NULL;
    mv_json *ap = NULL, *res = NULL;
    mv_buf body;
    mv_delegation d;
    long status = 0;
    mv_err rc;
    memset(&d, 0, sizeof d);
    mv_buf_init(&body, 1024);
    snprintf(path, sizeof path, "/v1/appointments/%s", id);
    if (!(ap = mvc_ui_hosp_get(u, path, why, sizeof why))) {
        mvc_ui_set_flash(u, 0, NULL, "Cannot read the appointment: %s", why);
        goto out;
    }
    const mv_json *dr = mv_json_get(ap, "doctor");
    const char *dept = mvc_ui_js(ap, "department");
    if (!mvc_ui_appt_open(mvc_ui_js(ap, "status")) || mv_json_get_hex(dr, "sign_public_key", d.doctor, 32) != MV_OK ||
        strlen(dept) == 0 || strlen(dept) > MV_DELEGATION_MAX_DEPT) {
        mvc_ui_set_flash(u, 0, NULL, "Only a booked or checked-in appointment with a doctor and a department can be delegated.");
        goto out;
    }
    memcpy(d.patient, u->cred.subject, 32);
    if (mv_hex_decode_exact(d.appointment, 16, id, 32) != MV_OK)
        goto out;
    memcpy(d.department, dept, strlen(dept) + 1);
    d.issued_at = mvc_ui_now_s();
    d.expires_at = d.issued_at + DELEGATION_SECONDS;
    if ((rc = mv_identity_load(u->cfg->user_dir, &ident)) != MV_OK ||
        (rc = mv_delegation_sign(&d, mv_identity_sign_sk(ident))) != MV_OK ||
        (rc = mv_delegation_to_b64(&d, b64, sizeof b64)) != MV_OK) {
        mvc_ui_set_flash(u, 0, NULL, "Cannot sign the delegation: %s", mv_strerror(rc));
        goto out;
    }
    if ((rc = one_member(&body, "delegation", b64)) == MV_OK)
        rc = mvc_ui_hosp(u, "POST", "/v1/delegations", &body, &status, &res);
    if (rc == MV_OK && status == 201) {
        char t[64];
        mvc_ui_fmt_time(d.expires_at, t, sizeof t);
        mvc_ui_set_flash(u, 1, NULL, "%s may now write records for you for this visit, until %s.", mvc_ui_js(dr, "name"), t);
    } else {
        mvc_ui_set_flash(u, 0, NULL, "The hospital refused the delegation: %s", rc != MV_OK ? mv_strerror(rc) : mvc_ui_js(res, "error"));
    }
out:
    mv_identity_free(ident);
    mv_wipe(&d, sizeof d);
    mv_json_free(ap);
    mv_json_free(res);
    mv_buf_clear(&body);
    mvc_ui_redirect(q->resp, "/appointments");
}

void mvc_ui_delegation_revoke(struct req *q, const char *idtxt)
{
    char path[64];
    mv_json *root = NULL;
    long status = 0;
    size_t n = strlen(idtxt);
    int ok = n > 0 && n <= 19;
    for (size_t i = 0; i < n; i++)
        ok = ok && idtxt[i] >= '0' && idtxt[i] <= '9';
    if (!ok) {
        mvc_ui_set_flash(q->u, 0, NULL, "Unknown delegation.");
        mvc_ui_redirect(q->resp, "/appointments");
        return;
    }
    snprintf(path, sizeof path, "/v1/delegations/%s", idtxt);
    mv_err rc = mvc_ui_hosp(q->u, "DELETE", path, NULL, &status, &root);
    if (rc == MV_OK && status == 200)
        mvc_ui_set_flash(q->u, 1, NULL, "Delegation revoked: the hospital no longer hands it out.");
    else
        mvc_ui_set_flash(q->u, 0, NULL, "Revoking failed: %s", rc != MV_OK ? mv_strerror(rc) : mvc_ui_js(root, "error"));
    mv_json_free(root);
    mvc_ui_redirect(q->resp, "/appointments");
}
