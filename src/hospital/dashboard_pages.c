/* dashboard_pages.c - the admin dashboard's pages and forms, for an admin whose session
 * dashboard.c has already checked: every value shown is HTML-escaped (mv_hw), every table is
 * read through the registry API and capped at LIST_LIMIT rows, and the two forms (the
 * formulary, step-up decisions) are CSRF-checked by the caller before they get here. */
#include "hospital/dashboard_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hospital/registry.h"
#include "medvault/mv_auth.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_deployment.h"
#include "medvault/mv_html.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"

/* ---------- the pages and the frame around them ---------- */

static mv_err page_overview(hospital_dash *, const who *, const mv_http_request *, mv_http_response *, int *);
static mv_err page_departments(hospital_dash *, const who *, const mv_http_request *, mv_http_response *, int *);
static mv_err page_doctors(hospital_dash *, const who *, const mv_http_request *, mv_http_response *, int *);
static mv_err page_patients(hospital_dash *, const who *, const mv_http_request *, mv_http_response *, int *);
static mv_err page_appointments(hospital_dash *, const who *, const mv_http_request *, mv_http_response *, int *);
static mv_err page_medicines(hospital_dash *, const who *, const mv_http_request *, mv_http_response *, int *);
static mv_err page_storage(hospital_dash *, const who *, const mv_http_request *, mv_http_response *, int *);
static mv_err page_alerts(hospital_dash *, const who *, const mv_http_request *, mv_http_response *, int *);

static void post_medicines(hospital_dash *d, const who *w, const mv_http_request *req, mv_http_response *resp);
static void post_stepup(hospital_dash *d, const who *w, const mv_http_request *req, mv_http_response *resp);

const dash_page dash_pages[] = {
    {"/admin/", "Overview", page_overview, NULL},
    {"/admin/departments", "Departments", page_departments, NULL},
    {"/admin/doctors", "Doctors", page_doctors, NULL},
    {"/admin/patients", "Patients", page_patients, NULL},
    {"/admin/appointments", "Appointments", page_appointments, NULL},
    {"/admin/medicines", "Medicines", page_medicines, post_medicines},
    {"/admin/storage", "Storage", page_storage, NULL},
    {"/admin/alerts", "Alerts", page_alerts, post_stepup},
    {"/admin/groups", "Groups", dash_page_groups, NULL},
};
#define N_PAGES (sizeof dash_pages / sizeof dash_pages[0])
const size_t dash_n_pages = N_PAGES;

void dash_begin(mv_hw *o, const char *title, const char *current)
{
    mv_html_link links[N_PAGES];
    for (size_t i = 0; i < N_PAGES; i++) {
        links[i].href = dash_pages[i].href;
        links[i].label = dash_pages[i].label;
    }
    mv_hw_begin(o, APP, title, current ? links : NULL, current ? N_PAGES : 0, current);
}

/* The footer of every logged-in page: who is signed in, and the logout form. */
void dash_end(mv_hw *o, const who *w)
{
    if (w)
        mv_hw_printf(o,
                     "<footer class=\"muted\"><form class=\"inline\" method=\"post\" action=\"/admin/logout\">"
                     "Signed in as %s. <input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                     "<button type=\"submit\">Log out</button></form></footer>\n",
                     w->name, w->csrf_hex);
    mv_hw_end(o);
}

/* t as "YYYY-MM-DD HH:MM UTC"; "-" when unset (has 0) or not representable. */
static void fmt_time(char *out, size_t cap, int has, uint64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!has || !gmtime_r(&tt, &tm) || !strftime(out, cap, "%Y-%m-%d %H:%M UTC", &tm))
        snprintf(out, cap, "-");
}

static void fmt_bytes(char *out, size_t cap, uint64_t n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(out, cap, "%llu B", (unsigned long long)n);
    else
        snprintf(out, cap, "%.1f %s", v, units[u]);
}

/* A "more rows exist" note when a table hit LIST_LIMIT. */
static void more_note(mv_hw *o, size_t rows)
{
    if (rows > LIST_LIMIT)
        mv_hw_printf(o, "<p class=\"muted\">Showing the first %d rows only.</p>\n", LIST_LIMIT);
}

/* What a table's row callback writes into. The registry is asked for LIST_LIMIT + 1 rows:
 * the last one is only counted, so that more_note can say that more exist. */
typedef struct table {
    mv_hw *o;
    const who *w;
    const char *cur; /* options: the value to mark selected (may be NULL) */
    size_t rows;
} table;

/* 1 if the row just counted is one to show. */
static int table_row(table *t)
{
    return ++t->rows <= LIST_LIMIT;
}

/* A registry listing into t, unless the page already failed. */
#define LIST(t, call)                                                                                              \
    do {                                                                                                           \
        if ((t)->o->rc == MV_OK)                                                                                   \
            (t)->o->rc = (call);                                                                                   \
    } while (0)

/* Closes a table, with `empty` (markup) after it when it had no rows, and the more-rows note. */
static void table_end(const table *t, const char *empty)
{
    mv_hw_raw(t->o, "</tbody></table>\n");
    if (!t->rows)
        mv_hw_raw(t->o, empty);
    more_note(t->o, t->rows);
}

/* ---------- pages ---------- */

static mv_err page_overview(hospital_dash *d, const who *w, const mv_http_request *req, mv_http_response *resp,
                            int *status)
{
    static const char *const statuses[] = {"requested", "booked", "checked_in", "completed", "cancelled"};
    registry_counts n;
    mv_hw o;
    mv_hw_init(&o, &resp->body);
    dash_begin(&o, "Overview", "/admin/");
    if (o.rc == MV_OK)
        o.rc = registry_counts_get(d->reg, &n);
    if (o.rc == MV_OK) {
        const struct {
            const char *label;
            uint64_t n;
            const char *href;
        } cards[] = {
            {"Departments", n.departments, "/admin/departments"},
            {"Doctors", n.doctors, "/admin/doctors"},
            {"Patients", n.patients, "/admin/patients"},
            {"Pending registrations", n.pending, "/admin/patients"},
            {"Medicines", n.medicines, "/admin/medicines"},
            {"Alerts", n.alerts, "/admin/alerts"},
        };
        mv_hw_raw(&o, "<section id=\"counts\">");
        for (size_t i = 0; i < sizeof cards / sizeof cards[0]; i++)
            mv_hw_printf(&o, "<a class=\"card\" href=\"%s\">%s<b>%llu</b></a>", cards[i].href, cards[i].label,
                         (unsigned long long)cards[i].n);
    }
    mv_hw_raw(&o, "</section>\n<h2>Appointments by status</h2>\n<table id=\"appointment-counts\"><thead><tr>"
                  "<th>Status</th><th class=\"num\">Appointments</th></tr></thead><tbody>");
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0] && o.rc == MV_OK; i++) {
        uint64_t c = 0;
        o.rc = registry_appt_count(d->reg, statuses[i], &c);
        mv_hw_printf(&o,
                     "<tr><td><a href=\"/admin/appointments?status=%s\">%s</a></td><td class=\"num\">%llu</td></tr>",
                     statuses[i], statuses[i], (unsigned long long)c);
    }
    mv_hw_raw(&o, "</tbody></table>\n");
    dash_end(&o, w);
    *status = 200;
    return mv_hw_finish(&o);
}

static mv_err department_row(void *ctx, const registry_dept_row *row)
{
    table *t = ctx;
    char c[40];
    if (!table_row(t))
        return MV_OK;
    fmt_time(c, sizeof c, 1, row->created_at);
    mv_hw_printf(t->o,
                 "<tr><td><a href=\"/admin/appointments?department=%s\">%s</a></td><td>%s</td>"
                 "<td class=\"num\">%llu</td><td class=\"num\">%llu</td><td>%s</td></tr>\n",
                 row->name, row->name, row->description, (unsigned long long)row->doctors,
                 (unsigned long long)row->patients, c);
    return t->o->rc;
}

static mv_err page_departments(hospital_dash *d, const who *w, const mv_http_request *req, mv_http_response *resp,
                               int *status)
{
    mv_hw o;
    table t = {.o = &o, .w = w};
    mv_hw_init(&o, &resp->body);
    dash_begin(&o, "Departments", "/admin/departments");
    mv_hw_raw(&o, "<table id=\"departments\"><thead><tr><th>Department</th><th>Description</th>"
                  "<th class=\"num\">Doctors</th><th class=\"num\">Patients</th><th>Created</th></tr></thead>"
                  "<tbody>\n");
    LIST(&t, registry_department_rows(d->reg, LIST_LIMIT + 1, department_row, &t));
    table_end(&t, "<p class=\"muted\">No departments yet: registering a doctor creates the doctor's "
                  "departments.</p>\n");
    dash_end(&o, w);
    *status = 200;
    return mv_hw_finish(&o);
}

static mv_err doctor_row(void *ctx, const registry_user_row *row)
{
    table *t = ctx;
    char c[40], key16[17];
    if (!table_row(t))
        return MV_OK;
    fmt_time(c, sizeof c, 1, row->registered_at);
    snprintf(key16, sizeof key16, "%s", row->sign_pk);
    mv_hw_printf(t->o,
                 "<tr><td><a href=\"/admin/appointments?doctor=%s\">%s</a></td><td>%s</td>"
                 "<td class=\"status-%s\">%s</td><td><code title=\"%s\">%s&hellip;</code></td>"
                 "<td>%s</td></tr>\n",
                 row->sign_pk, row->name, row->departments, row->status, row->status, row->sign_pk, key16, c);
    return t->o->rc;
}

/* The doctors or the patients page: one table of the users of role, `head` its opening markup
 * up to <tbody>, `empty` what stands under it when there are none. */
static mv_err users_page(hospital_dash *d, const who *w, mv_http_response *resp, registry_role role,
                         const char *title, const char *href, const char *head, registry_user_fn row,
                         const char *empty)
{
    mv_hw o;
    table t = {.o = &o, .w = w};
    mv_hw_init(&o, &resp->body);
    dash_begin(&o, title, href);
    mv_hw_raw(&o, head);
    LIST(&t, registry_user_rows(d->reg, role, LIST_LIMIT + 1, row, &t));
    table_end(&t, empty);
    dash_end(&o, w);
    return mv_hw_finish(&o);
}

static mv_err page_doctors(hospital_dash *d, const who *w, const mv_http_request *req, mv_http_response *resp,
                           int *status)
{
    *status = 200;
    return users_page(d, w, resp, REGISTRY_ROLE_DOCTOR, "Doctors", "/admin/doctors",
                      "<table id=\"doctors\"><thead><tr><th>Name</th><th>Departments</th><th>Status</th>"
                      "<th>Key</th><th>Registered</th></tr></thead><tbody>\n",
                      doctor_row, "<p class=\"muted\">No doctors yet.</p>\n");
}

static mv_err patient_row(void *ctx, const registry_user_row *row)
{
    table *t = ctx;
    char c[40];
    if (!table_row(t))
        return MV_OK;
    fmt_time(c, sizeof c, 1, row->registered_at);
    mv_hw_printf(t->o,
                 "<tr><td>%s</td><td><code>%s</code></td><td class=\"status-%s\">%s</td><td>%s</td>"
                 "<td>%s</td></tr>\n",
                 row->name, row->mrn, row->status, row->status, row->first_department, c);
    return t->o->rc;
}

static mv_err page_patients(hospital_dash *d, const who *w, const mv_http_request *req, mv_http_response *resp,
                            int *status)
{
    *status = 200;
    return users_page(d, w, resp, REGISTRY_ROLE_PATIENT, "Patients", "/admin/patients",
                      "<table id=\"patients\"><thead><tr><th>Name</th><th>MRN</th><th>Status</th>"
                      "<th>Home department</th><th>Registered</th></tr></thead><tbody>\n",
                      patient_row, "<p class=\"muted\">No patients yet.</p>\n");
}

/* Query parameter `name` of req (NULL if absent, empty or malformed) into out[0..cap). */
static const char *param(const char *text, size_t len, const char *name, char *out, size_t cap)
{
    if (mv_http_form_get(text, len, name, out, cap) != MV_OK || !out[0])
        return NULL;
    return out;
}

/* One <option> of a select, selected when value is t->cur. */
static mv_err option(table *t, const char *value, const char *label)
{
    mv_hw_printf(t->o, t->cur && !strcmp(t->cur, value) ? "<option value=\"%s\" selected>%s</option>"
                                                        : "<option value=\"%s\">%s</option>",
                 value, label);
    return t->o->rc;
}

static mv_err department_option(void *ctx, const registry_dept_row *row)
{
    return option(ctx, row->name, row->name);
}

static mv_err doctor_option(void *ctx, const registry_user_row *row)
{
    return option(ctx, row->sign_pk, row->name);
}

static mv_err appointment_row(void *ctx, const registry_appt_row *row)
{
    table *t = ctx;
    char s[40], u[40], idp[9];
    if (!table_row(t))
        return MV_OK;
    fmt_time(s, sizeof s, row->has_starts_at, row->starts_at);
    fmt_time(u, sizeof u, 1, row->updated_at);
    snprintf(idp, sizeof idp, "%s", row->id);
    mv_hw_printf(t->o,
                 "<tr><td><code title=\"%s\">%s&hellip;</code></td><td>%s</td><td><code>%s</code></td>"
                 "<td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=\"status-%s\">%s</td>"
                 "<td>%s</td></tr>\n",
                 row->id, idp, row->patient_name, row->patient_mrn, row->department, row->doctor_name, s, row->place,
                 row->reason, row->status, row->status, u);
    return t->o->rc;
}

static mv_err page_appointments(hospital_dash *d, const who *w, const mv_http_request *req, mv_http_response *resp,
                                int *status)
{
    static const char *const statuses[] = {"requested", "booked", "checked_in", "completed", "cancelled"};
    mv_hw o;
    table t = {.o = &o, .w = w};
    char dept_v[128], status_v[32], doctor_v[80];
    const char *q = mv_http_query(req);
    const size_t ql = strlen(q);
    const char *dept = param(q, ql, "department", dept_v, sizeof dept_v);
    const char *stat = param(q, ql, "status", status_v, sizeof status_v);
    const char *doctor = param(q, ql, "doctor", doctor_v, sizeof doctor_v);
    if (doctor)
        for (char *p = doctor_v; *p; p++)
            if (*p >= 'A' && *p <= 'F')
                *p = (char)(*p - 'A' + 'a');
    mv_hw_init(&o, &resp->body);
    dash_begin(&o, "Appointments", "/admin/appointments");
    mv_hw_raw(&o, "<form id=\"filters\" method=\"get\" action=\"/admin/appointments\">"
                  "<label>Department <select name=\"department\"><option value=\"\">all</option>");
    t.cur = dept;
    LIST(&t, registry_department_rows(d->reg, 0, department_option, &t));
    mv_hw_raw(&o, "</select></label> <label>Status <select name=\"status\"><option value=\"\">all</option>");
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        mv_hw_printf(&o, stat && !strcmp(stat, statuses[i]) ? "<option selected>%s</option>" : "<option>%s</option>",
                     statuses[i]);
    mv_hw_raw(&o, "</select></label> <label>Doctor <select name=\"doctor\"><option value=\"\">all</option>");
    t.cur = doctor;
    LIST(&t, registry_user_rows(d->reg, REGISTRY_ROLE_DOCTOR, 0, doctor_option, &t));
    mv_hw_raw(&o, "</select></label> <button type=\"submit\">Filter</button></form>\n"
                  "<table id=\"appointments\"><thead><tr><th>Id</th><th>Patient</th><th>MRN</th>"
                  "<th>Department</th><th>Doctor</th><th>Starts</th><th>Place</th><th>Reason</th>"
                  "<th>Status</th><th>Updated</th></tr></thead><tbody>\n");
    t.cur = NULL;
    LIST(&t, registry_appt_rows(d->reg, dept, stat, doctor, LIST_LIMIT + 1, appointment_row, &t));
    table_end(&t, "<p class=\"muted\">No appointments match.</p>\n");
    dash_end(&o, w);
    *status = 200;
    return mv_hw_finish(&o);
}

/* ---------- medicines (the only table the dashboard writes) ---------- */

typedef struct med_form {
    char name[129];
    char form[65];
    char strength[65];
    char dosage[257];
    char code[65];
} med_form;

/* Prefills the form with the medicine being edited. */
static mv_err medicine_prefill(void *ctx, const registry_medicine_row *row)
{
    med_form *f = ctx;
    snprintf(f->name, sizeof f->name, "%s", row->name);
    snprintf(f->form, sizeof f->form, "%s", row->form);
    snprintf(f->strength, sizeof f->strength, "%s", row->strength);
    snprintf(f->dosage, sizeof f->dosage, "%s", row->dosage);
    snprintf(f->code, sizeof f->code, "%s", row->code);
    return MV_OK;
}

static mv_err medicine_row(void *ctx, const registry_medicine_row *row)
{
    table *t = ctx;
    char c[40];
    if (!table_row(t))
        return MV_OK;
    fmt_time(c, sizeof c, 1, row->updated_at);
    mv_hw_printf(t->o,
                 "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>"
                 "<a href=\"/admin/medicines?edit=%lld\">Edit</a> "
                 "<form class=\"inline\" method=\"post\" action=\"/admin/medicines\">"
                 "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                 "<input type=\"hidden\" name=\"action\" value=\"delete\">"
                 "<input type=\"hidden\" name=\"id\" value=\"%lld\">"
                 "<button type=\"submit\">Delete</button></form></td></tr>\n",
                 row->name, row->form, row->strength, row->dosage, row->code, c, row->updated_by, (long long)row->id,
                 t->w->csrf_hex, (long long)row->id);
    return t->o->rc;
}

/* A non-negative decimal id (that fits a long long); -1 otherwise. */
static long long decimal_id(const char *s)
{
    char *endp = NULL;
    if (!s || s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    long long v = strtoll(s, &endp, 10);
    return errno || !endp || *endp ? -1 : v;
}

/* Renders the formulary page; `err` (may be NULL) is shown above the form, `f` (may be NULL)
 * prefills it. */
static mv_err render_medicines(hospital_dash *d, const who *w, const char *query, const char *err,
                               const med_form *f, mv_buf *b)
{
    mv_hw o;
    table t = {.o = &o, .w = w};
    char done[16], edit_v[24];
    med_form pre;
    memset(&pre, 0, sizeof pre);
    const size_t ql = strlen(query);
    const char *msg = param(query, ql, "done", done, sizeof done);
    const char *edit = param(query, ql, "edit", edit_v, sizeof edit_v);
    mv_hw_init(&o, b);
    dash_begin(&o, "Medicines", "/admin/medicines");
    if (err)
        mv_hw_printf(&o, "<p class=\"error\" id=\"message\">%s</p>\n", err);
    else if (msg && (!strcmp(msg, "saved") || !strcmp(msg, "deleted")))
        mv_hw_printf(&o, "<p class=\"ok\" id=\"message\">Medicine %s.</p>\n", msg);
    if (f) {
        pre = *f;
    } else if (edit && o.rc == MV_OK && decimal_id(edit) >= 0) {
        /* An unknown id leaves the form empty, as a page for a deleted row should. */
        mv_err e = registry_medicine_get(d->reg, decimal_id(edit), medicine_prefill, &pre);
        if (e != MV_ERR_NOT_FOUND)
            o.rc = e;
    }
    mv_hw_raw(&o, "<table id=\"medicines\"><thead><tr><th>Name</th><th>Form</th><th>Strength</th>"
                  "<th>Dosage</th><th>Code</th><th>Updated</th><th>By</th><th></th></tr></thead><tbody>\n");
    LIST(&t, registry_medicine_rows(d->reg, LIST_LIMIT + 1, medicine_row, &t));
    table_end(&t, "<p class=\"muted\">The formulary is empty.</p>\n");
    mv_hw_printf(&o,
                 "<h2>Add or update a medicine</h2>\n<p class=\"muted\">A medicine is identified by name, form and "
                 "strength: saving one that exists updates its dosage, and its code unless Code is left empty.</p>\n"
                 "<form id=\"medicine-form\" method=\"post\" action=\"/admin/medicines\">"
                 "<input type=\"hidden\" name=\"csrf\" value=\"%s\"><input type=\"hidden\" name=\"action\" "
                 "value=\"save\">"
                 "<p><label>Name <input name=\"name\" required maxlength=\"128\" value=\"%s\"></label> "
                 "<label>Form <input name=\"form\" required maxlength=\"64\" value=\"%s\"></label> "
                 "<label>Strength <input name=\"strength\" required maxlength=\"64\" value=\"%s\"></label></p>"
                 "<p><label>Dosage <input name=\"dosage\" required maxlength=\"256\" size=\"60\" value=\"%s\"></label> "
                 "<label>Code <input name=\"code\" maxlength=\"64\" value=\"%s\"></label></p>"
                 "<p><button type=\"submit\">Save medicine</button></p></form>\n",
                 w->csrf_hex, pre.name, pre.form, pre.strength, pre.dosage, pre.code);
    dash_end(&o, w);
    return mv_hw_finish(&o);
}

static mv_err page_medicines(hospital_dash *d, const who *w, const mv_http_request *req, mv_http_response *resp,
                             int *status)
{
    *status = 200;
    return render_medicines(d, w, mv_http_query(req), NULL, NULL, &resp->body);
}

/* A form field of 1..max bytes (min 0 allows empty); 0 if absent, too long or refused. */
static int field(const char *body, size_t len, const char *name, char *out, size_t cap, size_t min)
{
    mv_err rc = mv_http_form_get(body, len, name, out, cap);
    if (rc == MV_ERR_NOT_FOUND && min == 0) {
        out[0] = 0;
        return 1;
    }
    return rc == MV_OK && strlen(out) >= min;
}

/* POST /admin/medicines (CSRF checked by the caller): action=save (upsert on name, form,
 * strength, through registry_medicine_put as the JSON API does: an empty Code keeps the code
 * the medicine has) or action=delete (id). Success redirects (303) back to the page. */
static void post_medicines(hospital_dash *d, const who *w, const mv_http_request *req, mv_http_response *resp)
{
    const char *body = (const char *)req->body;
    const size_t len = req->body_len;
    const char *invalid = "Not saved: name (1-128 bytes), form and strength (1-64 bytes each) and dosage (1-256 "
                          "bytes) are required, code is at most 64 bytes, and all must be printable text.";
    char action[16], idv[24];
    med_form f;
    const char *err = NULL;
    int status = 400, created = 0;
    mv_err rc = MV_OK;
    memset(&f, 0, sizeof f);
    if (mv_http_form_get(body, len, "action", action, sizeof action) != MV_OK) {
        err = "Unknown form action.";
    } else if (!strcmp(action, "save")) {
        int ok = field(body, len, "name", f.name, sizeof f.name, 1);
        ok &= field(body, len, "form", f.form, sizeof f.form, 1);
        ok &= field(body, len, "strength", f.strength, sizeof f.strength, 1);
        ok &= field(body, len, "dosage", f.dosage, sizeof f.dosage, 1);
        ok &= field(body, len, "code", f.code, sizeof f.code, 0);
        if (ok)
            rc = registry_medicine_put(d->reg, w->id, f.name, f.form, f.strength, f.dosage, f.code[0] ? f.code : NULL,
                                       dash_now(), &created, NULL, NULL);
        if (!ok || rc == MV_ERR_INVAL) {
            err = invalid;
            rc = MV_OK;
        } else if (rc == MV_OK) {
            mv_log(MV_LOG_INFO, COMPONENT, "dashboard: an admin saved a medicine");
            status = 303;
        }
    } else if (!strcmp(action, "delete")) {
        long long id = mv_http_form_get(body, len, "id", idv, sizeof idv) == MV_OK ? decimal_id(idv) : -1;
        if (id < 0 || (rc = registry_medicine_delete(d->reg, id)) == MV_ERR_NOT_FOUND) {
            err = "Not deleted: no such medicine.";
            status = id < 0 ? 400 : 404;
            rc = MV_OK;
        } else if (rc == MV_OK) {
            mv_log(MV_LOG_INFO, COMPONENT, "dashboard: an admin deleted a medicine");
            status = 303;
        }
    } else {
        err = "Unknown form action.";
    }
    if (rc != MV_OK)
        dash_fail500(resp);
    else if (status == 303)
        dash_redirect(resp, !strcmp(action, "save") ? "/admin/medicines?done=saved" : "/admin/medicines?done=deleted");
    else
        dash_html_done(resp, render_medicines(d, w, "", err, &f, &resp->body), status);
}

/* ---------- storage (the storage server's GET /v1/stats) ---------- */

/* The storage_url of a deployment file (trailing '/' removed); MV_ERR_NOT_FOUND if it has none. */
static mv_err deployment_storage_url(const char *path, char *out, size_t cap)
{
    mv_deployment dep;
    mv_err rc = mv_deployment_load(path, &dep);
    if (rc != MV_OK)
        return rc;
    size_t l = strlen(dep.storage_url);
    while (l && dep.storage_url[l - 1] == '/')
        l--;
    if (l == 0 || l >= cap || (strncmp(dep.storage_url, "http://", 7) != 0 && strncmp(dep.storage_url, "https://", 8) != 0))
        return MV_ERR_NOT_FOUND;
    memcpy(out, dep.storage_url, l);
    out[l] = 0;
    return MV_OK;
}

/* Calls GET /v1/stats signed by the hospital with a credential it issues itself (role admin,
 * subject = hospital key, STORAGE_CRED_SECONDS). On MV_OK *root owns the parsed answer;
 * otherwise `why` says what went wrong (no secrets in it). */
static mv_err fetch_stats(hospital_dash *d, const char *storage_url, mv_json **root, char *why, size_t why_cap)
{
    mv_credential c;
    mv_httpc_call call;
    char cred[MV_CRED_B64_MAX + 1], url[URL_MAX + 16];
    const uint64_t now = dash_now();
    const uint8_t *pk = mv_identity_sign_pk(d->hosp), *sk = mv_identity_sign_sk(d->hosp);
    mv_err rc;
    *root = NULL;
    memset(&c, 0, sizeof c);
    mv_httpc_call_init(&call);
    memcpy(c.subject, pk, 32);
    snprintf(c.role, sizeof c.role, "admin");
    c.issued_at = now;
    c.expires_at = now + STORAGE_CRED_SECONDS;
    snprintf(url, sizeof url, "%s/v1/stats", storage_url);
    if ((rc = mv_credential_issue(&c, pk, sk)) != MV_OK || (rc = mv_credential_encode(&c, cred, sizeof cred)) != MV_OK) {
        snprintf(why, why_cap, "the hospital could not issue its own credential (%s)", mv_strerror(rc));
        goto out;
    }
    call.method = "GET";
    call.url = url;
    call.timeout_ms = STORAGE_TIMEOUT_MS;
    call.response.max = 4u << 20;
    if ((rc = mv_httpc_sign(&call, pk, sk, cred, now)) != MV_OK || (rc = mv_httpc_run(&call, 1)) != MV_OK ||
        (rc = call.rc) != MV_OK) {
        snprintf(why, why_cap, "it could not be reached (%s)", mv_strerror(rc));
        goto out;
    }
    if (call.status != 200) {
        snprintf(why, why_cap, "it answered HTTP %ld", call.status);
        rc = MV_ERR_HTTP;
        goto out;
    }
    if ((rc = mv_json_parse((const char *)call.response.ptr, call.response.len, NULL, root, NULL)) != MV_OK ||
        mv_json_type_of(*root) != MV_JSON_OBJECT) {
        snprintf(why, why_cap, "its answer was not the expected JSON");
        rc = MV_ERR_PROTOCOL;
    }
out:
    if (rc != MV_OK) {
        mv_json_free(*root);
        *root = NULL;
    }
    mv_httpc_call_clear(&call);
    mv_wipe(cred, sizeof cred);
    mv_wipe(&c, sizeof c);
    return rc;
}

static void stats_row(mv_hw *o, const char *label, const mv_json *j, int is_total)
{
    uint64_t records = 0, logical = 0, physical = 0, hits = 0;
    char lb[32], pb[32];
    (void)mv_json_get_u64(j, "records", &records);
    (void)mv_json_get_u64(j, "logical_bytes", &logical);
    (void)mv_json_get_u64(j, "physical_bytes", &physical);
    int has_hits = mv_json_get_u64(j, "dedup_hits", &hits) == MV_OK;
    double savings = logical && physical <= logical ? 100.0 * (1.0 - (double)physical / (double)logical) : 0.0;
    fmt_bytes(lb, sizeof lb, logical);
    fmt_bytes(pb, sizeof pb, physical);
    mv_hw_printf(o, is_total ? "<tr class=\"total\"><th>%s</th>" : "<tr><td>%s</td>", label);
    mv_hw_printf(o,
                 "<td class=\"num\">%llu</td><td class=\"num\" title=\"%llu bytes\">%s</td>"
                 "<td class=\"num\" title=\"%llu bytes\">%s</td>",
                 (unsigned long long)records, (unsigned long long)logical, lb, (unsigned long long)physical, pb);
    if (has_hits)
        mv_hw_printf(o, "<td class=\"num\">%llu</td>", (unsigned long long)hits);
    else
        mv_hw_raw(o, "<td class=\"num\"></td>");
    mv_hw_printf(o, "<td class=\"num\">%.1f %%</td></tr>\n", savings);
}

static mv_err page_storage(hospital_dash *d, const who *w, const mv_http_request *req, mv_http_response *resp,
                           int *status)
{
    mv_hw o;
    mv_json *root = NULL;
    char why[160];
    char surl_dep[sizeof ((mv_deployment *)0)->storage_url];
    const char *surl = d->storage_url;
    mv_hw_init(&o, &resp->body);
    dash_begin(&o, "Storage", "/admin/storage");
    *status = 200;
    if (o.rc != MV_OK)
        goto out;
    if (!surl && d->deployment_path && deployment_storage_url(d->deployment_path, surl_dep, sizeof surl_dep) == MV_OK)
        surl = surl_dep;
    if (!surl) {
        mv_hw_raw(&o, "<p class=\"error\" id=\"message\">No storage server is configured: set storage_url in "
                      "hospital.conf (<code>medvault up</code> writes it) to see the savings of deduplication "
                      "here.</p>\n");
    } else if (fetch_stats(d, surl, &root, why, sizeof why) != MV_OK) {
        mv_hw_printf(&o,
                     "<p class=\"error\" id=\"message\">The storage server at <code>%s</code> is not "
                     "available: %s. Is it running?</p>\n",
                     surl, why);
    } else {
        const mv_json *depts = mv_json_get(root, "departments");
        mv_hw_printf(&o,
                     "<p class=\"muted\">From <code>%s</code>. Logical bytes are what a store without "
                     "deduplication would keep; physical bytes what this one keeps.</p>\n"
                     "<table id=\"storage\"><thead><tr><th>Department</th><th class=\"num\">Records</th>"
                     "<th class=\"num\">Logical</th><th class=\"num\">Physical</th>"
                     "<th class=\"num\">Dedup hits</th><th class=\"num\">Savings</th></tr></thead><tbody>\n",
                     surl);
        for (size_t i = 0; o.rc == MV_OK && mv_json_type_of(depts) == MV_JSON_OBJECT && i < mv_json_len(depts); i++) {
            size_t kl = 0;
            const char *k = mv_json_key_at(depts, i, &kl);
            char name[MV_CRED_MAX_DEPT_LEN + 1];
            snprintf(name, sizeof name, "%.*s", (int)(kl < sizeof name ? kl : sizeof name - 1), k ? k : "");
            stats_row(&o, name, mv_json_value_at(depts, i), 0);
        }
        stats_row(&o, "All departments", root, 1);
        mv_hw_raw(&o, "</tbody></table>\n");
    }
    dash_end(&o, w);
out:
    mv_json_free(root);
    return mv_hw_finish(&o);
}

/* A user's key in a table cell, kept narrow (a 64-digit key made the alert page overflow at
 * 1280 px): its last 8 hex digits after an ellipsis, the whole key as the title (hover, copy
 * from the inspector, and what the CLI prints). */
static void key_short(mv_hw *o, const char *key)
{
    size_t l = strlen(key);
    mv_hw_printf(o, "<code class=\"key short\" title=\"%s\">%s%s</code>", key, l > 8 ? "\u2026" : "", l > 8 ? key + l - 8 : key);
}

/* The table header is written with the first row: an empty list shows only a note. */
static mv_err stepup_row(void *ctx, const registry_stepup_row *row)
{
    table *t = ctx;
    char c[40];
    if (!table_row(t))
        return MV_OK;
    fmt_time(c, sizeof c, 1, row->created_at);
    if (t->rows == 1)
        mv_hw_raw(t->o, "<table id=\"stepup\"><thead><tr><th>Request</th><th>Asked</th><th>User</th>"
                        "<th>Key</th><th>Role</th><th>Decision</th></tr></thead><tbody>\n");
    mv_hw_printf(t->o, "<tr><td>%lld</td><td>%s</td><td>%s</td><td>", (long long)row->id, c, row->name);
    key_short(t->o, row->sign_pk);
    mv_hw_printf(t->o,
                 "</td><td>%s</td><td>"
                 "<form class=\"inline\" method=\"post\" action=\"/admin/alerts\">"
                 "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                 "<input type=\"hidden\" name=\"request\" value=\"%lld\">"
                 "<button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button> "
                 "<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>"
                 "</form></td></tr>\n",
                 row->role, t->w->csrf_hex, (long long)row->id);
    return t->o->rc;
}

/* The pending step-up requests with approve/deny forms (CSRF like the medicine forms). */
static void stepup_section(hospital_dash *d, const who *w, mv_hw *o)
{
    table t = {.o = o, .w = w};
    mv_hw_raw(o, "<h2>Pending step-up requests</h2>\n");
    LIST(&t, registry_stepup_pending_rows(d->reg, LIST_LIMIT + 1, stepup_row, &t));
    mv_hw_raw(o, t.rows ? "</tbody></table>\n"
                        : "<p class=\"muted\" id=\"no-stepup\">No step-up request awaits a decision.</p>\n");
}

static mv_err alert_row(void *ctx, const registry_alert_row *row)
{
    table *t = ctx;
    char at[40], last[40], dlv[40];
    if (!table_row(t))
        return MV_OK;
    fmt_time(at, sizeof at, 1, row->at);
    fmt_time(last, sizeof last, 1, row->last_at);
    if (row->delivered)
        fmt_time(dlv, sizeof dlv, 1, row->delivered_at);
    else
        snprintf(dlv, sizeof dlv, "no");
    if (t->rows == 1)
        mv_hw_raw(t->o, "<table id=\"alerts\"><thead><tr><th>At</th><th>Source</th><th>Kind</th>"
                        "<th>Principal</th><th>Address</th><th>Object</th><th>Reason</th><th>Count</th>"
                        "<th>Last seen</th><th>Delivered</th></tr></thead><tbody>\n");
    mv_hw_printf(t->o, "<tr><td>%s</td><td>%s</td><td>%s</td><td>", at, row->source, row->kind);
    /* People by name where the registry knows the key; an unknown key (an intruder's, a
     * revoked device's) in full, wrapped, since nothing else identifies it. */
    if (row->name) {
        mv_hw_printf(t->o, "<span class=\"who\">%s</span> <span class=\"muted\">%s</span> ", row->name,
                     row->role ? row->role : "");
        key_short(t->o, row->principal);
    } else {
        mv_hw_printf(t->o, "<code class=\"key\">%s</code>", row->principal);
    }
    mv_hw_printf(t->o,
                 "</td><td>%s</td><td><code class=\"key\">%s</code></td><td>%s</td><td>%llu</td><td>%s</td>"
                 "<td>%s</td></tr>\n",
                 row->address, row->object, row->reason, (unsigned long long)row->count, last, dlv);
    return t->o->rc;
}

static mv_err page_alerts(hospital_dash *d, const who *w, const mv_http_request *req, mv_http_response *resp,
                          int *status)
{
    mv_hw o;
    table t = {.o = &o, .w = w};
    char done[16] = "";
    const char *q = mv_http_query(req);
    mv_hw_init(&o, &resp->body);
    dash_begin(&o, "Alerts", "/admin/alerts");
    if (mv_http_form_get(q, strlen(q), "done", done, sizeof done) == MV_OK &&
        (!strcmp(done, "approved") || !strcmp(done, "denied")))
        mv_hw_printf(&o, "<p class=\"ok\" id=\"message\">Step-up request %s.</p>\n", done);
    stepup_section(d, w, &o);
    mv_hw_raw(&o, "<h2>Alert log</h2>\n");
    LIST(&t, registry_alert_rows(d->reg, LIST_LIMIT + 1, alert_row, &t));
    mv_hw_raw(&o, t.rows ? "</tbody></table>\n"
                         : "<p class=\"muted\" id=\"empty\">No alerts recorded. Decoy and intrusion alerts "
                           "will appear here.</p>\n");
    more_note(&o, t.rows);
    dash_end(&o, w);
    *status = 200;
    return mv_hw_finish(&o);
}

/* POST /admin/alerts (CSRF checked by the caller): request=ID&decision=approve|deny, decided
 * through the hospital's own step-up path (grant signing, alert on deny). */
static void post_stepup(hospital_dash *d, const who *w, const mv_http_request *req, mv_http_response *resp)
{
    char idv[24], decision[16];
    const char *why = NULL;
    long long id = 0;
    const char *body = (const char *)req->body;
    int ok = mv_http_form_get(body, req->body_len, "request", idv, sizeof idv) == MV_OK &&
             mv_http_form_get(body, req->body_len, "decision", decision, sizeof decision) == MV_OK &&
             (!strcmp(decision, "approve") || !strcmp(decision, "deny"));
    for (size_t i = 0; ok && idv[i]; i++)
        ok = idv[i] >= '0' && idv[i] <= '9' && i < 15;
    if (ok)
        id = strtoll(idv, NULL, 10);
    if (!ok || id <= 0) {
        dash_simple_page(resp, w, "Bad request", "Unknown step-up form.", 400);
        return;
    }
    if (!d->decide) {
        dash_simple_page(resp, w, "Unavailable", "Step-up decisions are not available here.", 503);
        return;
    }
    mv_err rc = d->decide(d->decide_ctx, (int64_t)id, (int64_t)w->id, !strcmp(decision, "approve"), &why);
    if (rc != MV_OK) {
        dash_simple_page(resp, w, "Not decided", why ? why : "The step-up request could not be decided.",
                    rc == MV_ERR_NOT_FOUND ? 404 : rc == MV_ERR_BAD_STATE ? 409 : 500);
        return;
    }
    dash_redirect(resp, !strcmp(decision, "approve") ? "/admin/alerts?done=approved" : "/admin/alerts?done=denied");
}
