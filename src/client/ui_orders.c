/* ui_orders.c - the UI's prescription and treatment-order form: the FHIR resource is built
 * from validated form fields (every value JSON-escaped) and stored through mv_client_put. */
#include "ui_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "medvault/mv_client.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"

/* ---------- /prescribe and /orders: one form, two resource types ---------- */

const struct order_page mvc_ui_rx_page = {ORDER_RX, "/prescribe", "Write a prescription", "Sign and store the prescription"};
const struct order_page mvc_ui_sr_page = {ORDER_SERVICE, "/orders", "Write a treatment order", "Sign and store the order"};

/* The doctor's own appointments that records may be written for (booked or checked in). */
static mv_json *open_appointments(struct ui *u, char *why, size_t cap)
{
    return mvc_ui_hosp_get(u, "/v1/appointments?doctor=me", why, cap);
}

static const mv_json *find_appt(const mv_json *root, const char *id)
{
    const mv_json *a = mv_json_get(root, "appointments");
    for (size_t i = 0; i < mv_json_len(a); i++)
        if (!strcmp(mvc_ui_js(mv_json_at(a, i), "id"), id) && mvc_ui_appt_open(mvc_ui_js(mv_json_at(a, i), "status")))
            return mv_json_at(a, i);
    return NULL;
}

static const mv_json *find_med(const mv_json *root, const char *id)
{
    const mv_json *a = mv_json_get(root, "medicines");
    for (size_t i = 0; i < mv_json_len(a); i++) {
        const mv_json *m = mv_json_at(a, i), *v = mv_json_get(m, "id");
        const char *s = mv_json_num(v, NULL) ? mv_json_num(v, NULL) : mv_json_str(v, NULL);
        if (s && !strcmp(s, id))
            return m;
    }
    return NULL;
}

static const char *med_id(const mv_json *m)
{
    const mv_json *v = mv_json_get(m, "id");
    const char *s = mv_json_num(v, NULL) ? mv_json_num(v, NULL) : mv_json_str(v, NULL);
    return s ? s : "";
}

static void appt_select(struct req *q, const mv_json *appts, const char *chosen)
{
    const mv_json *a = mv_json_get(appts, "appointments");
    char t[64];
    P(q, "<p><label>Appointment <select name=\"appointment\" required><option value=\"\">(choose)</option>");
    for (size_t i = 0; i < mv_json_len(a); i++) {
        const mv_json *ap = mv_json_at(a, i), *pt = mv_json_get(ap, "patient");
        const char *id = mvc_ui_js(ap, "id");
        if (!mvc_ui_appt_open(mvc_ui_js(ap, "status")) || !mv_is_lower_hex(id, 32))
            continue;
        mvc_ui_jtime(ap, "starts_at", t, sizeof t);
        P(q, "<option value=\"%s\"%s>%s - %s (%s) - %s, %s</option>", id, !strcmp(id, chosen) ? " selected" : "", t,
          mvc_ui_js(pt, "name"), mvc_ui_js(pt, "mrn"), mvc_ui_js(ap, "department"), mvc_ui_js(ap, "status"));
    }
    P(q, "</select></label></p>\n");
}

void mvc_ui_handle_order_form(struct req *q, const struct order_page *pg)
{
    struct ui *u = q->u;
    char why[256] = "", why2[256] = "", appt[40], med[24];
    mv_json *appts = open_appointments(u, why, sizeof why), *meds = NULL;
    mvc_ui_qparam(q, "appointment", appt, sizeof appt);
    mvc_ui_qparam(q, "medicine", med, sizeof med);
    if (pg->kind == ORDER_RX)
        meds = mvc_ui_hosp_get(u, "/v1/medicines", why2, sizeof why2);
    mvc_ui_page_begin(q, pg->title, pg->path);
    if (!appts)
        P(q, "<p class=\"error\">Appointments unavailable: %s</p>\n", why);
    if (pg->kind == ORDER_RX && !meds)
        P(q, "<p class=\"error\">The formulary is unavailable: %s</p>\n", why2);
    const mv_json *ap = find_appt(appts, appt), *m = find_med(meds, med);
    P(q, "<p>The record is encrypted on this computer for you and the patient, and stored only if the patient "
         "signed a delegation to you for the appointment.</p>\n");
    if (pg->kind == ORDER_RX && !m) {
        /* Step 1: the medicine (its usual dosage is then prefilled, editable). */
        P(q, "<form method=\"get\" action=\"/prescribe\">");
        appt_select(q, appts, appt);
        P(q, "<p><label>Medicine <select name=\"medicine\" required><option value=\"\">(choose)</option>");
        const mv_json *a = mv_json_get(meds, "medicines");
        for (size_t i = 0; i < mv_json_len(a); i++) {
            const mv_json *x = mv_json_at(a, i);
            P(q, "<option value=\"%s\">%s %s %s</option>", med_id(x), mvc_ui_js(x, "name"), mvc_ui_js(x, "strength"), mvc_ui_js(x, "form"));
        }
        P(q, "</select></label> <button>Continue</button></p></form>\n");
        goto done;
    }
    mvc_ui_form_open(q, pg->path, 0);
    appt_select(q, appts, appt);
    P(q, "<p><label>Patient MRN <input name=\"mrn\" maxlength=\"32\" value=\"%s\" placeholder=\"the appointment&#39;s "
         "patient\"></label></p>\n",
      ap ? mvc_ui_js(mv_json_get(ap, "patient"), "mrn") : "");
    if (pg->kind == ORDER_RX) {
        P(q, "<input type=\"hidden\" name=\"medicine\" value=\"%s\"><p>Medicine: <b>%s %s %s</b> "
             "<a href=\"/prescribe?appointment=%s\">change</a></p>\n",
          med_id(m), mvc_ui_js(m, "name"), mvc_ui_js(m, "strength"), mvc_ui_js(m, "form"), appt);
        P(q, "<p><label>Dosage <input name=\"dosage\" required maxlength=\"400\" size=\"60\" value=\"%s\"></label></p>\n"
             "<p><label>Quantity <input name=\"quantity\" type=\"number\" min=\"1\" max=\"100000\" required "
             "value=\"1\"></label></p>\n",
          mvc_ui_js(m, "dosage"));
    } else {
        P(q, "<p><label>Order <input name=\"order\" required maxlength=\"256\" size=\"60\" "
             "placeholder=\"e.g. Physiotherapy, 6 sessions\"></label></p>\n<p><label>Note<br><textarea name=\"note\" "
             "rows=\"4\" cols=\"60\" maxlength=\"2000\"></textarea></label></p>\n");
    }
    P(q, "<p><button>%s</button></p></form>\n", pg->button);
done:
    mv_json_free(appts);
    mv_json_free(meds);
    mvc_ui_page_end(q, 200);
}

/* Writes json into a fresh private directory under the user's directory (0700 / 0600),
 * stores it with a client opened for the patient and episode, and removes the file. The
 * long-lived client is closed first: one LMDB cache must not be open twice in a process. */
static mv_err store_record(struct ui *u, const mv_buf *json, const char *mrn, const char *appt, const char *dept,
                           uint8_t id_out[16], char *err, size_t cap);

struct put_res {
    mv_err rc;
    int called;
    uint8_t id[16];
};

static void put_cb(void *ctx, const mv_put_result *r)
{
    struct put_res *pr = ctx;
    pr->called = 1;
    pr->rc = r->rc;
    memcpy(pr->id, r->id, 16);
}

static mv_err store_record(struct ui *u, const mv_buf *json, const char *mrn, const char *appt, const char *dept,
                           uint8_t id_out[16], char *err, size_t cap)
{
    char dir[4096], path[4200];
    mv_client *c = NULL;
    struct put_res pr = {.rc = MV_ERR_IO};
    int fd = -1, have_dir = 0, have_file = 0;
    mv_err rc = MV_ERR_IO;
    if ((size_t)snprintf(dir, sizeof dir, "%s/.ui-XXXXXX", u->cfg->user_dir) >= sizeof dir) {
        snprintf(err, cap, "the user directory path is too long");
        return MV_ERR_INVAL;
    }
    if (!mkdtemp(dir)) {
        snprintf(err, cap, "cannot create a temporary directory in the user directory");
        goto out;
    }
    have_dir = 1;
    snprintf(path, sizeof path, "%s/record.json", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, cap, "cannot create the temporary record file");
        goto out;
    }
    have_file = 1;
    for (size_t off = 0; off < json->len;) {
        ssize_t w = write(fd, json->ptr + off, json->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, cap, "cannot write the temporary record file");
            goto out;
        }
        off += (size_t)w;
    }
    close(fd);
    fd = -1;
    mv_client_close(u->client);
    u->client = NULL;
    mv_client_options opt = {.department = dept, .patient = mrn, .appointment = appt};
    if ((rc = mv_client_open(u->cfg->deployment_path, u->cfg->user_dir, &opt, &c)) != MV_OK) {
        snprintf(err, cap, "%s", rc == MV_ERR_FORBIDDEN ? "the appointment's department is not one of yours"
                                                          : mv_strerror(rc));
        goto out;
    }
    const char *paths[1] = {path};
    rc = mv_client_put(c, paths, 1, put_cb, &pr, NULL);
    if (rc == MV_OK && (!pr.called || pr.rc != MV_OK))
        rc = pr.called ? pr.rc : MV_ERR_PROTOCOL;
    if (rc != MV_OK)
        snprintf(err, cap, "%s", mv_client_last_error(c)[0] ? mv_client_last_error(c) : mv_strerror(rc));
    else
        memcpy(id_out, pr.id, 16);
out:
    if (fd >= 0)
        close(fd);
    if (have_file)
        unlink(path);
    if (have_dir)
        rmdir(dir);
    mv_client_close(c);
    return rc;
}

/* key: {"reference":"<kind>/<id>"} (FHIR Reference, truncated to 63 bytes like any id here). */
static void reference(mv_jw *w, const char *key, const char *kind, const char *id)
{
    char ref[64];
    snprintf(ref, sizeof ref, "%s/%s", kind, id);
    mv_jw_key(w, key);
    mv_jw_obj(w);
    mv_jw_kstr(w, "reference", ref);
    mv_jw_obj_end(w);
}

/* key: [{"text":s}] (FHIR dosageInstruction and note: a list of one free-text element). */
static void text_list(mv_jw *w, const char *key, const char *s)
{
    mv_jw_key(w, key);
    mv_jw_arr(w);
    mv_jw_obj(w);
    mv_jw_kstr(w, "text", s);
    mv_jw_obj_end(w);
    mv_jw_arr_end(w);
}

/* Opens the resource: its type, and the status and intent every order here has. */
static void order_head(mv_jw *w, const char *resource_type)
{
    mv_jw_obj(w);
    mv_jw_kstr(w, "resourceType", resource_type);
    mv_jw_kstr(w, "status", "active");
    mv_jw_kstr(w, "intent", "order");
}

/* "subject", "encounter", "authoredOn" and "requester" of either resource, and the close.
 * MV_ERR_INVAL if the clock cannot be written; else MV_OK (the writer keeps its own error). */
static mv_err fhir_tail(mv_jw *w, const struct ui *u, const char *mrn, const char *appt)
{
    char t[32], k[17];
    struct tm tm;
    time_t now = (time_t)mvc_ui_now_s();
    if (!gmtime_r(&now, &tm) || !strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return MV_ERR_INVAL;
    reference(w, "subject", "Patient", mrn);
    reference(w, "encounter", "Encounter", appt);
    mv_jw_kstr(w, "authoredOn", t);
    mvc_ui_short_key(u->me, k);
    reference(w, "requester", "Practitioner", k);
    mv_jw_obj_end(w);
    return MV_OK;
}

void mvc_ui_handle_order_post(struct req *q, const struct order_page *pg)
{
    struct ui *u = q->u;
    char appt[40], mrn[40], why[320] = "", err[320] = "", back[128], a1[400], a2[2048], med[24];
    mv_json *appts = NULL, *meds = NULL;
    mv_buf j;
    mv_jw w; /* writes the resource into j; its first error wins */
    uint8_t id[16];
    uint64_t quantity = 0;
    mv_err rc = MV_OK;
    mv_buf_init(&j, 64 << 10);
    mv_jw_init(&w, &j);
    mvc_ui_field(q, "appointment", appt, sizeof appt);
    mvc_ui_field(q, "mrn", mrn, sizeof mrn);
    mvc_ui_field(q, "medicine", med, sizeof med);
    snprintf(back, sizeof back, "%s?appointment=%s%s%s", pg->path, mv_is_lower_hex(appt, 32) ? appt : "",
             med[0] && strspn(med, "0123456789") == strlen(med) ? "&medicine=" : "",
             med[0] && strspn(med, "0123456789") == strlen(med) ? med : "");
    if (!mv_is_lower_hex(appt, 32) || (mrn[0] && !mvc_ui_is_mrn(mrn))) {
        mvc_ui_set_flash(u, 0, NULL, "Choose an appointment (and the patient's MRN, like MRN-000001).");
        goto out;
    }
    if (!(appts = open_appointments(u, why, sizeof why))) {
        mvc_ui_set_flash(u, 0, NULL, "%s", why);
        goto out;
    }
    const mv_json *ap = find_appt(appts, appt);
    if (!ap) {
        mvc_ui_set_flash(u, 0, NULL, "Choose one of your booked or checked-in appointments.");
        goto out;
    }
    /* An empty MRN means the appointment's patient. */
    if (!mrn[0])
        snprintf(mrn, sizeof mrn, "%s", mvc_ui_js(mv_json_get(ap, "patient"), "mrn"));
    if (!mvc_ui_is_mrn(mrn)) {
        mvc_ui_set_flash(u, 0, NULL, "Type the patient's MRN (like MRN-000001).");
        goto out;
    }
    if (pg->kind == ORDER_RX) {
        if (mvc_ui_field(q, "dosage", a1, sizeof a1) || !a1[0] || mvc_ui_field(q, "quantity", a2, 24) ||
            strspn(a2, "0123456789") != strlen(a2) || !a2[0] || strlen(a2) > 6 ||
            (quantity = strtoull(a2, NULL, 10)) == 0) {
            mvc_ui_set_flash(u, 0, NULL, "Give a dosage and a quantity (1 to 100000).");
            goto out;
        }
        if (!(meds = mvc_ui_hosp_get(u, "/v1/medicines", why, sizeof why))) {
            mvc_ui_set_flash(u, 0, NULL, "%s", why);
            goto out;
        }
        const mv_json *m = find_med(meds, med);
        if (!m) {
            mvc_ui_set_flash(u, 0, NULL, "Choose a medicine from the formulary.");
            goto out;
        }
        char text[400];
        snprintf(text, sizeof text, "%s %s %s", mvc_ui_js(m, "name"), mvc_ui_js(m, "strength"), mvc_ui_js(m, "form"));
        order_head(&w, "MedicationRequest");
        mv_jw_key(&w, "medicationCodeableConcept");
        mv_jw_obj(&w);
        mv_jw_kstr(&w, "text", text);
        if (*mvc_ui_js(m, "code")) {
            mv_jw_key(&w, "coding");
            mv_jw_arr(&w);
            mv_jw_obj(&w);
            mv_jw_kstr(&w, "system", "urn:medvault:formulary");
            mv_jw_kstr(&w, "code", mvc_ui_js(m, "code"));
            mv_jw_kstr(&w, "display", mvc_ui_js(m, "name"));
            mv_jw_obj_end(&w);
            mv_jw_arr_end(&w);
        }
        mv_jw_obj_end(&w);
        text_list(&w, "dosageInstruction", a1);
        mv_jw_key(&w, "dispenseRequest");
        mv_jw_obj(&w);
        mv_jw_key(&w, "quantity");
        mv_jw_obj(&w);
        mv_jw_ku64(&w, "value", quantity);
        mv_jw_obj_end(&w);
        mv_jw_obj_end(&w);
    } else {
        if (mvc_ui_field(q, "order", a1, sizeof a1) || !a1[0]) {
            mvc_ui_set_flash(u, 0, NULL, "Describe the order.");
            goto out;
        }
        mvc_ui_field(q, "note", a2, sizeof a2);
        order_head(&w, "ServiceRequest");
        mv_jw_key(&w, "code");
        mv_jw_obj(&w);
        mv_jw_kstr(&w, "text", a1);
        mv_jw_obj_end(&w);
        if (a2[0])
            text_list(&w, "note", a2);
    }
    rc = fhir_tail(&w, u, mrn, appt);
    if (rc == MV_OK)
        rc = mv_jw_finish(&w);
    if (rc != MV_OK) {
        mvc_ui_set_flash(u, 0, NULL, "Cannot build the record: %s", mv_strerror(rc));
        goto out;
    }
    const char *dept = mvc_ui_js(ap, "department");
    if ((rc = store_record(u, &j, mrn, appt, dept[0] ? dept : NULL, id, err, sizeof err)) != MV_OK) {
        mvc_ui_set_flash(u, 0, NULL, "Not stored: %s", err);
        goto out;
    }
    char hex[33];
    if (mv_hex_encode(hex, sizeof hex, id, 16) == MV_OK) {
        snprintf(back, sizeof back, "/records/%s", hex);
        mvc_ui_set_flash(u, 1, NULL, "Stored as record %s, readable by you and patient %s.", hex, mrn);
    }
out:
    mv_json_free(appts);
    mv_json_free(meds);
    mv_buf_clear(&j);
    mv_wipe(a1, sizeof a1);
    mv_wipe(a2, sizeof a2);
    mvc_ui_redirect(q->resp, back);
}
