/* ui.c - the local UI decrypts records only in this process and shows them only to the browser
 * holding the session cookie of the printed login URL (loopback, CSRF-checked forms, strict CSP,
 * every value HTML-escaped). */
#include "medvault/mv_ui.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "medvault/mv_client.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_daemon.h"
#include "medvault/mv_delegation.h"
#include "medvault/mv_html.h"
#include "medvault/mv_http.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_metrics.h"
#include "medvault/mv_record.h"

#define COMPONENT "ui"
#define APP "medvault"
#define BODY_MAX ((size_t)64 << 10)
#define JSON_MAX ((size_t)16 << 20)
#define RECORD_MAX ((size_t)64 << 20)
#define DELEGATION_SECONDS (7u * 24 * 3600)
#define REOPEN_RETRY_SECONDS 60
#define MAX_PEOPLE 64

static const char CSP[] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                          "frame-ancestors 'none'; base-uri 'none'";

struct ui {
    const mv_ui_config *cfg;
    pthread_mutex_t lock;
    int ready;
    mv_client *client;
    uint64_t last_open;
    mv_credential cred;
    char me[65];                     /* own sign key, hex */
    char token[257];                 /* login token */
    char session[MV_UI_TOKEN_HEX + 1];
    char csrf[MV_UI_TOKEN_HEX + 1];
    char cookie_name[24];            /* mv_ui_PORT */
    char host_ip[24], host_local[24]; /* accepted Host headers */
    char flash[512];
    char flash_href[64];
    int flash_ok;
};

/* One request being answered: the page is built in resp->body through w. */
struct req {
    struct ui *u;
    const mv_http_request *r;
    mv_http_response *resp;
    mv_hw w; /* writes the page into resp->body; its first error wins */
};

/* Appends to q's page (mv_hw_printf: %s escaped; nothing after the page's first error). */
#define P(q, ...) mv_hw_printf(&(q)->w, __VA_ARGS__)

static uint64_t now_s(void)
{
    return (uint64_t)time(NULL);
}

static int is_role(const struct ui *u, const char *role)
{
    return mv_credential_has_role(&u->cred, mv_role_of(role));
}

static int is_mrn(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-'))
            return 0;
    return 1;
}

static mv_err random_hex(char out[MV_UI_TOKEN_HEX + 1])
{
    uint8_t r[MV_UI_TOKEN_HEX / 2];
    mv_err rc = mv_random_bytes(r, sizeof r);
    if (rc == MV_OK)
        rc = mv_hex_encode(out, MV_UI_TOKEN_HEX + 1, r, sizeof r);
    mv_wipe(r, sizeof r);
    return rc;
}

static void fmt_time(uint64_t t, char *out, size_t cap)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || !strftime(out, cap, "%Y-%m-%d %H:%M UTC", &tm))
        snprintf(out, cap, "-");
}

static const char *js(const mv_json *o, const char *key)
{
    const char *s = mv_json_get_str(o, key, NULL);
    return s ? s : "";
}

/* A time member: unix seconds (formatted) or a string (as given); "-" when absent. */
static void jtime(const mv_json *o, const char *key, char *out, size_t cap)
{
    const mv_json *v = mv_json_get(o, key);
    uint64_t t;
    if (mv_json_u64(v, &t) == MV_OK)
        fmt_time(t, out, cap);
    else if (mv_json_type_of(v) == MV_JSON_STRING)
        snprintf(out, cap, "%s", mv_json_str(v, NULL));
    else
        snprintf(out, cap, "-");
}

/* The first 16 hex digits of a key: enough to tell keys apart on a page. */
static void short_key(const char *hex, char out[17])
{
    snprintf(out, 17, "%.16s", hex);
}

/* ---------- the client handle ---------- */

/* Opens the long-lived client, or re-opens it once the credential is past half its lifetime
 * (mv_client_open renews it then) and at most once a minute. Caller holds u->lock. */
static mv_err ui_client(struct ui *u, char *why, size_t cap)
{
    uint64_t now = now_s();
    if (u->client) {
        if (u->cred.expires_at <= u->cred.issued_at ||
            now < u->cred.issued_at + (u->cred.expires_at - u->cred.issued_at) / 2 ||
            now < u->last_open + REOPEN_RETRY_SECONDS)
            return MV_OK;
        mv_client_close(u->client);
        u->client = NULL;
    }
    u->last_open = now;
    mv_err rc = mv_client_open(u->cfg->deployment_path, u->cfg->user_dir, NULL, &u->client);
    if (rc != MV_OK) {
        u->client = NULL;
        snprintf(why, cap, "cannot open the client for %s: %s", u->cfg->user_dir, mv_strerror(rc));
        return rc;
    }
    mv_client_whoami(u->client, &u->cred, NULL);
    return mv_hex_encode(u->me, sizeof u->me, u->cred.subject, 32);
}

/* One hospital call with a JSON answer. *root gets the parsed answer (NULL if it is not JSON);
 * *status the HTTP status. */
static mv_err hosp(struct ui *u, const char *method, const char *path, const mv_buf *body, long *status,
                   mv_json **root)
{
    mv_buf out;
    mv_buf_init(&out, JSON_MAX);
    *root = NULL;
    *status = 0;
    mv_err rc = mv_client_hospital(u->client, method, path, body ? body->ptr : NULL, body ? body->len : 0, status, &out);
    if (rc == MV_OK && out.len && mv_json_parse((const char *)out.ptr, out.len, NULL, root, NULL) != MV_OK)
        *root = NULL;
    mv_buf_clear(&out);
    return rc;
}

/* GET path; on success (200 with JSON) returns the tree, else NULL with the reason in why. */
static mv_json *hosp_get(struct ui *u, const char *path, char *why, size_t cap)
{
    mv_json *root = NULL;
    long status = 0;
    mv_err rc = hosp(u, "GET", path, NULL, &status, &root);
    if (rc == MV_OK && status == 200 && root)
        return root;
    if (rc != MV_OK)
        snprintf(why, cap, "the hospital did not answer: %s", mv_strerror(rc));
    else if (root && mv_json_get_str(root, "error", NULL))
        snprintf(why, cap, "the hospital answered %ld: %s", status, js(root, "error"));
    else
        snprintf(why, cap, "the hospital answered %ld", status);
    mv_json_free(root);
    return NULL;
}

/* ---------- responses and page frame ---------- */

static void set_flash(struct ui *u, int ok, const char *href, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void set_flash(struct ui *u, int ok, const char *href, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(u->flash, sizeof u->flash, fmt, ap);
    va_end(ap);
    u->flash_ok = ok;
    snprintf(u->flash_href, sizeof u->flash_href, "%s", href ? href : "");
}

static void redirect(mv_http_response *resp, const char *location)
{
    mv_buf_reset(&resp->body);
    resp->status = 303;
    snprintf(resp->content_type, sizeof resp->content_type, "text/plain; charset=utf-8");
    if (mv_http_response_header(resp, "Location", location) != MV_OK)
        resp->status = 500;
}

static void page_begin(struct req *q, const char *title, const char *current)
{
    struct ui *u = q->u;
    mv_html_link links[6];
    size_t n = 0;
    links[n++] = (mv_html_link){"/", "Home"};
    if (is_role(u, "doctor") || is_role(u, "patient") || is_role(u, "admin"))
        links[n++] = (mv_html_link){"/appointments", "Appointments"};
    links[n++] = (mv_html_link){"/records", "Records"};
    if (is_role(u, "doctor")) {
        links[n++] = (mv_html_link){"/prescribe", "Prescribe"};
        links[n++] = (mv_html_link){"/orders", "Orders"};
    }
    mv_hw_begin(&q->w, APP, title, links, n, current);
    if (u->flash[0]) {
        P(q, "<p class=\"%s\">%s", u->flash_ok ? "ok" : "error", u->flash);
        if (u->flash_href[0])
            P(q, " <a href=\"%s\">open it</a>", u->flash_href);
        P(q, "</p>\n");
        u->flash[0] = 0;
        u->flash_href[0] = 0;
    }
}

static void page_end(struct req *q, int status)
{
    P(q, "<form method=\"post\" action=\"/logout\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" "
         "value=\"%s\"><button>Log out of this UI</button></form>\n",
      q->u->csrf);
    mv_hw_end(&q->w);
    q->resp->status = status;
    snprintf(q->resp->content_type, sizeof q->resp->content_type, "text/html; charset=utf-8");
}

static void page_error(struct req *q, int status, const char *title, const char *msg)
{
    mv_buf_reset(q->w.b);
    mv_hw_init(&q->w, q->w.b);
    page_begin(q, title, NULL);
    P(q, "<p class=\"error\">%s</p>\n", msg);
    page_end(q, status);
}

/* A form's opening tag with the CSRF token. */
static void form_open(struct req *q, const char *action, int inline_form)
{
    P(q, "<form method=\"post\" action=\"%s\"%s><input type=\"hidden\" name=\"csrf\" value=\"%s\">", action,
      inline_form ? " class=\"inline\"" : "", q->u->csrf);
}

/* A POST form field (NUL-terminated into out); 0 if present and valid, else out = "". */
static int field(const struct req *q, const char *name, char *out, size_t cap)
{
    if (mv_http_form_get((const char *)q->r->body, q->r->body_len, name, out, cap) != MV_OK) {
        out[0] = 0;
        return -1;
    }
    return 0;
}

static int qparam(const struct req *q, const char *name, char *out, size_t cap)
{
    const char *qs = mv_http_query(q->r);
    if (mv_http_form_get(qs, strlen(qs), name, out, cap) != MV_OK) {
        out[0] = 0;
        return -1;
    }
    return 0;
}

/* ---------- pretty-printed JSON ---------- */

static mv_err indent(mv_buf *o, unsigned n)
{
    mv_err rc = MV_OK;
    for (unsigned i = 0; i < n && rc == MV_OK; i++)
        rc = mv_buf_puts(o, "  ");
    return rc;
}

static mv_err pretty(mv_buf *o, const mv_json *v, unsigned ind)
{
    mv_err rc = MV_OK;
    size_t n = mv_json_len(v), l = 0;
    const char *s;
    switch (mv_json_type_of(v)) {
    case MV_JSON_OBJECT:
    case MV_JSON_ARRAY: {
        int obj = mv_json_type_of(v) == MV_JSON_OBJECT;
        if (!n)
            return mv_buf_puts(o, obj ? "{}" : "[]");
        rc = mv_buf_puts(o, obj ? "{\n" : "[\n");
        for (size_t i = 0; i < n && rc == MV_OK; i++) {
            rc = indent(o, ind + 1);
            if (rc == MV_OK && obj && (s = mv_json_key_at(v, i, &l)) != NULL &&
                (rc = mv_json_write_str(o, s, l)) == MV_OK)
                rc = mv_buf_puts(o, ": ");
            if (rc == MV_OK)
                rc = pretty(o, obj ? mv_json_value_at(v, i) : mv_json_at(v, i), ind + 1);
            if (rc == MV_OK)
                rc = mv_buf_puts(o, i + 1 < n ? ",\n" : "\n");
        }
        if (rc == MV_OK)
            rc = indent(o, ind);
        if (rc == MV_OK)
            rc = mv_buf_puts(o, obj ? "}" : "]");
        return rc;
    }
    case MV_JSON_STRING:
        s = mv_json_str(v, &l);
        return mv_json_write_str(o, s, l);
    case MV_JSON_NUMBER:
        s = mv_json_num(v, &l);
        return mv_buf_append(o, s, l);
    case MV_JSON_TRUE: return mv_buf_puts(o, "true");
    case MV_JSON_FALSE: return mv_buf_puts(o, "false");
    case MV_JSON_NULL: return mv_buf_puts(o, "null");
    }
    return MV_ERR_PARSE;
}

/* ---------- login ---------- */

static int cookie_ok(const struct ui *u, const mv_http_request *r)
{
    const char *c = mv_http_header(r, "Cookie");
    size_t nl = strlen(u->cookie_name);
    while (c && *c) {
        while (*c == ' ' || *c == ';')
            c++;
        const char *end = strchr(c, ';');
        size_t len = end ? (size_t)(end - c) : strlen(c);
        if (len == nl + 1 + MV_UI_TOKEN_HEX && !strncmp(c, u->cookie_name, nl) && c[nl] == '=')
            return mv_ct_eq(c + nl + 1, u->session, MV_UI_TOKEN_HEX);
        c = end;
    }
    return 0;
}

static void login_page(struct req *q, int status, const char *msg)
{
    mv_buf_reset(q->w.b);
    mv_hw_init(&q->w, q->w.b);
    mv_hw_begin(&q->w, APP, "Log in", NULL, 0, NULL);
    if (msg)
        P(q, "<p class=\"error\">%s</p>\n", msg);
    P(q, "<p>This is the local medvault UI of one user. To log in, open the address that "
         "<code>medvault ui</code> printed when it started (it ends in <code>/login?token=...</code>) "
         "in this browser. The token works as long as that process runs; restart "
         "<code>medvault ui</code> for a new one.</p>\n");
    mv_hw_end(&q->w);
    q->resp->status = status;
    snprintf(q->resp->content_type, sizeof q->resp->content_type, "text/html; charset=utf-8");
}

static void handle_login(struct req *q)
{
    char tok[sizeof q->u->token];
    size_t tl = strlen(q->u->token);
    const char *qs = mv_http_query(q->r);
    mv_err rc = mv_http_form_get(qs, strlen(qs), "token", tok, sizeof tok);
    if (rc == MV_ERR_NOT_FOUND) {
        login_page(q, 200, NULL);
        return;
    }
    int ok = rc == MV_OK && strlen(tok) == tl && mv_ct_eq(tok, q->u->token, tl);
    mv_wipe(tok, sizeof tok);
    if (!ok) {
        mv_log(MV_LOG_WARN, COMPONENT, "refused a login with a wrong token from %s", q->r->remote_addr);
        login_page(q, 403, "That login token is not valid.");
        return;
    }
    char cookie[MV_HTTP_HEADER_VALUE_MAX];
    snprintf(cookie, sizeof cookie, "%s=%s; HttpOnly; SameSite=Strict; Path=/", q->u->cookie_name, q->u->session);
    redirect(q->resp, "/");
    if (mv_http_response_header(q->resp, "Set-Cookie", cookie) != MV_OK)
        q->resp->status = 500;
    mv_wipe(cookie, sizeof cookie);
}

static void handle_logout(struct req *q)
{
    char cookie[MV_HTTP_HEADER_VALUE_MAX];
    /* A new session value logs every browser out; the login URL keeps working. */
    if (random_hex(q->u->session) != MV_OK) {
        page_error(q, 500, "Error", "no randomness");
        return;
    }
    snprintf(cookie, sizeof cookie, "%s=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0", q->u->cookie_name);
    redirect(q->resp, "/login");
    if (mv_http_response_header(q->resp, "Set-Cookie", cookie) != MV_OK)
        q->resp->status = 500;
}

/* ---------- / ---------- */

static void handle_home(struct req *q)
{
    struct ui *u = q->u;
    char why[256] = "", t[64], k[17];
    mv_json *p = hosp_get(u, "/v1/profile", why, sizeof why);
    page_begin(q, "Home", "/");
    if (p) {
        P(q, "<table><tr><th>Name</th><td>%s</td></tr><tr><th>Role</th><td>%s</td></tr>", js(p, "name"),
          js(p, "role"));
        if (mv_json_get(p, "mrn"))
            P(q, "<tr><th>MRN</th><td>%s</td></tr>", js(p, "mrn"));
        P(q, "<tr><th>Departments</th><td>");
        const mv_json *d = mv_json_get(p, "departments");
        for (size_t i = 0; i < mv_json_len(d); i++)
            P(q, "%s%s", i ? ", " : "", mv_json_str(mv_json_at(d, i), NULL) ? mv_json_str(mv_json_at(d, i), NULL) : "");
        if (!mv_json_len(d))
            P(q, "<span class=\"muted\">none</span>");
        short_key(js(p, "sign_public_key"), k);
        P(q, "</td></tr><tr><th>Key</th><td><code>%s</code>&hellip;</td></tr><tr><th>Status</th><td>%s</td></tr>", k,
          js(p, "status"));
        if (*js(p, "email") || *js(p, "phone"))
            P(q, "<tr><th>Contact</th><td>%s %s</td></tr>", js(p, "email"), js(p, "phone"));
    } else {
        P(q, "<p class=\"error\">Profile unavailable (%s); from your credential:</p>", why);
        short_key(u->me, k);
        P(q, "<table><tr><th>Role</th><td>%s</td></tr><tr><th>Departments</th><td>", u->cred.role);
        for (size_t i = 0; i < u->cred.n_departments; i++)
            P(q, "%s%s", i ? ", " : "", u->cred.departments[i]);
        P(q, "</td></tr><tr><th>Key</th><td><code>%s</code>&hellip;</td></tr>", k);
    }
    fmt_time(u->cred.expires_at, t, sizeof t);
    P(q, "<tr><th>Credential valid until</th><td>%s</td></tr></table>\n<ul>", t);
    P(q, "<li><a href=\"/appointments\">Your appointments</a></li><li><a href=\"/records\">Records you can "
         "read</a> (decrypted only on this computer)</li>");
    if (is_role(u, "doctor"))
        P(q, "<li><a href=\"/prescribe\">Write a prescription</a></li><li><a href=\"/orders\">Write a treatment "
             "order</a></li>");
    P(q, "</ul>\n");
    mv_json_free(p);
    page_end(q, 200);
}

/* ---------- /appointments ---------- */

static int appt_open(const char *status)
{
    return !strcmp(status, "booked") || !strcmp(status, "checked_in");
}

static void status_button(struct req *q, const char *id, const char *status, const char *label)
{
    char action[64];
    snprintf(action, sizeof action, "/appointments/%s/status", id);
    form_open(q, action, 1);
    P(q, "<input type=\"hidden\" name=\"status\" value=\"%s\"><button>%s</button></form> ", status, label);
}

static void delegations_section(struct req *q, int patient)
{
    char why[256] = "", t1[64], t2[64], k[17];
    mv_json *root = hosp_get(q->u, "/v1/delegations", why, sizeof why);
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
        jtime(d, "issued_at", t1, sizeof t1);
        jtime(d, "expires_at", t2, sizeof t2);
        short_key(js(d, "appointment"), k);
        P(q, "<tr><td>%s %s</td><td>%s</td><td><code>%s</code></td><td>%s</td><td>%s</td><td>%s</td>", js(who, "name"),
          js(who, "mrn"), js(d, "department"), k, t1, t2, revoked ? "revoked" : "active");
        if (patient) {
            P(q, "<td>");
            if (!revoked) {
                char action[64];
                snprintf(action, sizeof action, "/delegations/%llu/revoke", (unsigned long long)id);
                form_open(q, action, 1);
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

static void handle_appointments(struct req *q)
{
    struct ui *u = q->u;
    int doctor = is_role(u, "doctor"), patient = is_role(u, "patient");
    char why[256] = "", t[64];
    mv_json *root = hosp_get(u, doctor ? "/v1/appointments?doctor=me" : patient ? "/v1/appointments?patient=me"
                                                                                : "/v1/appointments",
                             why, sizeof why);
    page_begin(q, "Appointments", "/appointments");
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
        const char *id = js(ap, "id"), *st = js(ap, "status");
        if (!mv_is_lower_hex(id, 32))
            continue;
        jtime(ap, "starts_at", t, sizeof t);
        P(q, "<tr><td>%s</td><td>%s</td>", t, js(ap, "department"));
        if (patient)
            P(q, "<td>%s</td>", mv_json_type_of(dr) == MV_JSON_OBJECT ? js(dr, "name") : "-");
        else
            P(q, "<td>%s <span class=\"muted\">%s</span></td>", js(pt, "name"), js(pt, "mrn"));
        P(q, "<td>%s</td><td>%s</td><td>%s</td><td>", js(ap, "place"), js(ap, "reason"), st);
        if (doctor && !strcmp(js(dr, "sign_public_key"), u->me)) {
            if (!strcmp(st, "booked"))
                status_button(q, id, "checked_in", "Check in");
            if (!strcmp(st, "checked_in"))
                status_button(q, id, "completed", "Complete");
            if (appt_open(st))
                P(q, "<a href=\"/prescribe?appointment=%s\">Prescribe</a> <a href=\"/orders?appointment=%s\">Order</a>",
                  id, id);
        }
        if (patient) {
            if (appt_open(st) && mv_json_type_of(dr) == MV_JSON_OBJECT) {
                char action[80];
                snprintf(action, sizeof action, "/appointments/%s/delegate", id);
                form_open(q, action, 1);
                P(q, "<button>Let %s write my records for this visit (7 days)</button></form> ", js(dr, "name"));
            }
            if (strcmp(st, "completed") && strcmp(st, "cancelled"))
                status_button(q, id, "cancelled", "Cancel");
        }
        P(q, "</td></tr>\n");
    }
    if (mv_json_len(a))
        P(q, "</table>\n");
    mv_json_free(root);
    if (patient) {
        P(q, "<h2>Request an appointment</h2>\n");
        form_open(q, "/appointments/request", 0);
        mv_json *deps = hosp_get(u, "/v1/departments", why, sizeof why);
        const mv_json *d = mv_json_get(deps, "departments");
        P(q, "<p><label>Department <select name=\"department\"><option value=\"\">(let the hospital choose)</option>");
        for (size_t i = 0; i < mv_json_len(d); i++)
            P(q, "<option>%s</option>", js(mv_json_at(d, i), "name"));
        P(q, "</select></label> <label>Reason <input name=\"reason\" maxlength=\"256\" size=\"40\"></label> "
             "<button>Request</button></p></form>\n");
        mv_json_free(deps);
    }
    if (patient || doctor)
        delegations_section(q, patient);
    page_end(q, 200);
}

static void appt_request(struct req *q)
{
    char dept[128], reason[512];
    mv_buf body;
    mv_json *root = NULL;
    long status = 0;
    mv_buf_init(&body, 4096);
    field(q, "department", dept, sizeof dept);
    field(q, "reason", reason, sizeof reason);
    mv_err rc = mv_buf_puts(&body, "{\"reason\":");
    if (rc == MV_OK)
        rc = mv_json_write_str(&body, reason, strlen(reason));
    if (rc == MV_OK && dept[0] && (rc = mv_buf_puts(&body, ",\"department\":")) == MV_OK)
        rc = mv_json_write_str(&body, dept, strlen(dept));
    if (rc == MV_OK)
        rc = mv_buf_puts(&body, "}");
    if (rc == MV_OK)
        rc = hosp(q->u, "POST", "/v1/appointments", &body, &status, &root);
    if (rc == MV_OK && status == 201)
        set_flash(q->u, 1, NULL, "Appointment requested: the hospital will book a time, a place and a doctor.");
    else
        set_flash(q->u, 0, NULL, "The request failed: %s", rc != MV_OK ? mv_strerror(rc) : js(root, "error"));
    mv_json_free(root);
    mv_buf_clear(&body);
    redirect(q->resp, "/appointments");
}

static void appt_status(struct req *q, const char *id)
{
    char st[32];
    mv_buf body;
    mv_json *root = NULL;
    long status = 0;
    char path[80];
    mv_buf_init(&body, 256);
    field(q, "status", st, sizeof st);
    if (strcmp(st, "checked_in") && strcmp(st, "completed") && strcmp(st, "cancelled")) {
        set_flash(q->u, 0, NULL, "Unknown status.");
        redirect(q->resp, "/appointments");
        return;
    }
    snprintf(path, sizeof path, "/v1/appointments/%s", id);
    mv_err rc = mv_buf_printf(&body, "{\"status\":\"%s\"}", st);
    if (rc == MV_OK)
        rc = hosp(q->u, "POST", path, &body, &status, &root);
    if (rc == MV_OK && status == 200)
        set_flash(q->u, 1, NULL, "The appointment is now %s.", st);
    else
        set_flash(q->u, 0, NULL, "The change failed: %s", rc != MV_OK ? mv_strerror(rc) : js(root, "error"));
    mv_json_free(root);
    mv_buf_clear(&body);
    redirect(q->resp, "/appointments");
}

/* The patient signs a delegation to the appointment's doctor (MVD1, 7 days) with the secret
 * key loaded for this one signature, and hands it to the hospital to countersign. */
static void appt_delegate(struct req *q, const char *id)
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
    if (!(ap = hosp_get(u, path, why, sizeof why))) {
        set_flash(u, 0, NULL, "Cannot read the appointment: %s", why);
        goto out;
    }
    const mv_json *dr = mv_json_get(ap, "doctor");
    const char *dept = js(ap, "department");
    if (!appt_open(js(ap, "status")) || mv_json_get_hex(dr, "sign_public_key", d.doctor, 32) != MV_OK ||
        strlen(dept) == 0 || strlen(dept) > MV_DELEGATION_MAX_DEPT) {
        set_flash(u, 0, NULL, "Only a booked or checked-in appointment with a doctor and a department can be delegated.");
        goto out;
    }
    memcpy(d.patient, u->cred.subject, 32);
    if (mv_hex_decode_exact(d.appointment, 16, id, 32) != MV_OK)
        goto out;
    memcpy(d.department, dept, strlen(dept) + 1);
    d.issued_at = now_s();
    d.expires_at = d.issued_at + DELEGATION_SECONDS;
    if ((rc = mv_identity_load(u->cfg->user_dir, &ident)) != MV_OK ||
        (rc = mv_delegation_sign(&d, mv_identity_sign_sk(ident))) != MV_OK ||
        (rc = mv_delegation_to_b64(&d, b64, sizeof b64)) != MV_OK) {
        set_flash(u, 0, NULL, "Cannot sign the delegation: %s", mv_strerror(rc));
        goto out;
    }
    if ((rc = mv_buf_printf(&body, "{\"delegation\":\"%s\"}", b64)) == MV_OK)
        rc = hosp(u, "POST", "/v1/delegations", &body, &status, &res);
    if (rc == MV_OK && status == 201) {
        char t[64];
        fmt_time(d.expires_at, t, sizeof t);
        set_flash(u, 1, NULL, "%s may now write records for you for this visit, until %s.", js(dr, "name"), t);
    } else {
        set_flash(u, 0, NULL, "The hospital refused the delegation: %s", rc != MV_OK ? mv_strerror(rc) : js(res, "error"));
    }
out:
    mv_identity_free(ident);
    mv_wipe(&d, sizeof d);
    mv_json_free(ap);
    mv_json_free(res);
    mv_buf_clear(&body);
    redirect(q->resp, "/appointments");
}

static void delegation_revoke(struct req *q, const char *idtxt)
{
    char path[64];
    mv_json *root = NULL;
    long status = 0;
    size_t n = strlen(idtxt);
    int ok = n > 0 && n <= 19;
    for (size_t i = 0; i < n; i++)
        ok = ok && idtxt[i] >= '0' && idtxt[i] <= '9';
    if (!ok) {
        set_flash(q->u, 0, NULL, "Unknown delegation.");
        redirect(q->resp, "/appointments");
        return;
    }
    snprintf(path, sizeof path, "/v1/delegations/%s", idtxt);
    mv_err rc = hosp(q->u, "DELETE", path, NULL, &status, &root);
    if (rc == MV_OK && status == 200)
        set_flash(q->u, 1, NULL, "Delegation revoked: the hospital no longer hands it out.");
    else
        set_flash(q->u, 0, NULL, "Revoking failed: %s", rc != MV_OK ? mv_strerror(rc) : js(root, "error"));
    mv_json_free(root);
    redirect(q->resp, "/appointments");
}

/* ---------- /records ---------- */

/* The storage server's listing; NULL (reason in why) on failure. */
static mv_json *record_list(struct ui *u, char *why, size_t cap)
{
    mv_buf out;
    mv_json *root = NULL;
    mv_buf_init(&out, JSON_MAX);
    mv_err rc = mv_client_list_json(u->client, &out);
    if (rc == MV_OK)
        rc = mv_json_parse((const char *)out.ptr, out.len, NULL, &root, NULL);
    if (rc != MV_OK)
        snprintf(why, cap, "cannot list records: %s (%s)", mv_strerror(rc), mv_client_last_error(u->client));
    mv_buf_clear(&out);
    return root;
}

static const char *who(const struct ui *u, const char *hex, char k[17])
{
    if (!hex[0])
        return "-";
    if (!strcmp(hex, u->me))
        return "you";
    short_key(hex, k);
    return k;
}

static void handle_records(struct req *q)
{
    struct ui *u = q->u;
    char why[320] = "", t[64], k1[17], k2[17], k3[17];
    mv_json *root = record_list(u, why, sizeof why);
    page_begin(q, "Records", "/records");
    if (!root)
        P(q, "<p class=\"error\">%s</p>\n", why);
    const mv_json *a = mv_json_get(root, "records");
    if (root && !mv_json_len(a))
        P(q, "<p class=\"muted\">No records you can read.</p>\n");
    if (mv_json_len(a))
        P(q, "<p>Records are fetched and decrypted on this computer when you open one.</p>\n<table><tr><th>Record</th>"
             "<th>Kind</th><th>Created</th><th>Department</th><th>Patient</th><th>Episode</th><th>Owner</th>"
             "<th class=\"num\">Bytes</th></tr>\n");
    for (size_t i = 0; i < mv_json_len(a); i++) {
        const mv_json *r = mv_json_at(a, i);
        const char *id = js(r, "id"), *kind = js(r, "kind");
        uint64_t bytes = 0;
        if (!mv_is_lower_hex(id, 32))
            continue;
        (void)mv_json_get_u64(r, "logical_bytes", &bytes);
        jtime(r, "created", t, sizeof t);
        short_key(js(r, "episode"), k2);
        P(q, "<tr><td><a href=\"/records/%s\"><code>%s</code></a></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
             "<td><code>%s</code></td><td>%s</td><td class=\"num\">%llu</td></tr>\n",
          id, id, kind[0] ? kind : "-", t, js(r, "department"), who(u, js(r, "patient"), k1), k2[0] ? k2 : "-",
          who(u, js(r, "owner"), k3), (unsigned long long)bytes);
    }
    if (mv_json_len(a))
        P(q, "</table>\n");
    mv_json_free(root);
    page_end(q, 200);
}

/* People the user may pick as a grantee: the doctors of a patient's own appointments
 * (patients cannot search the directory), else the doctors in the directory. */
struct person {
    char key[65];
    char name[96];
};
struct people {
    struct person v[MAX_PEOPLE];
    size_t n;
};

static void people_add(struct people *pp, const mv_json *o)
{
    const char *k = js(o, "sign_public_key");
    if (!mv_is_lower_hex(k, 64) || pp->n == MAX_PEOPLE)
        return;
    for (size_t i = 0; i < pp->n; i++)
        if (!strcmp(pp->v[i].key, k))
            return;
    snprintf(pp->v[pp->n].key, sizeof pp->v[pp->n].key, "%s", k);
    snprintf(pp->v[pp->n].name, sizeof pp->v[pp->n].name, "%s", js(o, "name"));
    pp->n++;
}

static void people_load(struct ui *u, struct people *pp)
{
    char why[256];
    pp->n = 0;
    if (is_role(u, "patient")) {
        mv_json *root = hosp_get(u, "/v1/appointments?patient=me", why, sizeof why);
        const mv_json *a = mv_json_get(root, "appointments");
        for (size_t i = 0; i < mv_json_len(a); i++)
            people_add(pp, mv_json_get(mv_json_at(a, i), "doctor"));
        mv_json_free(root);
    } else {
        mv_json *root = hosp_get(u, "/v1/directory?role=doctor&limit=200", why, sizeof why);
        const mv_json *a = mv_json_get(root, "users");
        for (size_t i = 0; i < mv_json_len(a); i++)
            if (strcmp(js(mv_json_at(a, i), "sign_public_key"), u->me))
                people_add(pp, mv_json_at(a, i));
        mv_json_free(root);
    }
}

static void person_picker(struct req *q, const struct people *pp)
{
    char k[17];
    if (pp->n) {
        P(q, "<label>Doctor <select name=\"pick\"><option value=\"\">(choose)</option>");
        for (size_t i = 0; i < pp->n; i++) {
            short_key(pp->v[i].key, k);
            P(q, "<option value=\"%s\">%s (%s&hellip;)</option>", pp->v[i].key, pp->v[i].name, k);
        }
        P(q, "</select></label> or ");
    }
    P(q, "<label>key <input name=\"key\" size=\"66\" maxlength=\"64\" pattern=\"[0-9a-f]{64}\" "
         "placeholder=\"64 hex digits\"></label> ");
}

static void share_forms(struct req *q, const char *id, const mv_json *meta)
{
    struct ui *u = q->u;
    struct people *pp = mv_calloc(1, sizeof *pp);
    char action[80], k[17];
    const char *owner = js(meta, "owner"), *patient = js(meta, "patient"), *episode = js(meta, "episode");
    if (!pp) {
        q->w.rc = MV_ERR_NOMEM;
        return;
    }
    people_load(u, pp);
    snprintf(action, sizeof action, "/records/%s/share", id);
    char k2[17];
    P(q, "<h2>Who may read it</h2>\n<p>Owner: %s. Patient: %s.", who(u, owner, k), patient[0] ? who(u, patient, k2) : "none");
    const mv_json *readers = mv_json_get(meta, "readers");
    if (mv_json_type_of(readers) == MV_JSON_ARRAY) {
        P(q, "</p>\n<table><tr><th>Reader</th><th></th></tr>\n");
        for (size_t i = 0; i < mv_json_len(readers); i++) {
            const char *r = mv_json_str(mv_json_at(readers, i), NULL);
            if (!r || !mv_is_lower_hex(r, 64))
                continue;
            const char *name = r;
            for (size_t j = 0; j < pp->n; j++)
                if (!strcmp(pp->v[j].key, r))
                    name = pp->v[j].name;
            P(q, "<tr><td>%s <code>%.16s</code></td><td>", name == r ? "" : name, r);
            if (strcmp(r, owner) && strcmp(r, patient)) {
                form_open(q, action, 1);
                P(q, "<input type=\"hidden\" name=\"action\" value=\"revoke\"><input type=\"hidden\" name=\"key\" "
                     "value=\"%s\"><button>Revoke</button></form>",
                  r);
            }
            P(q, "</td></tr>\n");
        }
        P(q, "</table>\n");
    } else {
        P(q, "</p>\n");
    }
    form_open(q, action, 0);
    P(q, "<p><b>This record:</b> ");
    person_picker(q, pp);
    P(q, "<button name=\"action\" value=\"grant\">Grant</button> <button name=\"action\" value=\"revoke\">Revoke"
         "</button></p></form>\n");
    if (mv_is_lower_hex(episode, 32)) {
        form_open(q, action, 0);
        P(q, "<input type=\"hidden\" name=\"episode\" value=\"%s\"><p><b>The whole episode</b> "
             "(every record of this visit you may share): ",
          episode);
        person_picker(q, pp);
        P(q, "<button name=\"action\" value=\"grant\">Grant</button> <button name=\"action\" value=\"revoke\">"
             "Revoke</button></p></form>\n");
    }
    if (!patient[0] && !strcmp(owner, u->me)) {
        snprintf(action, sizeof action, "/records/%s/patient", id);
        form_open(q, action, 0);
        P(q, "<p><b>Name this record&#39;s patient</b> (once; they can then read and share it): <input name=\"mrn\" "
             "placeholder=\"MRN-000001\" maxlength=\"32\"> <button>Set patient</button></p></form>\n");
    }
    mv_free(pp);
}

/* A readable summary of the resource types the UI writes. */
static void fhir_summary(struct req *q, const mv_json *doc)
{
    const char *type = js(doc, "resourceType");
    char t[64];
    if (!strcmp(type, "MedicationRequest")) {
        const mv_json *m = mv_json_get(doc, "medicationCodeableConcept");
        const char *name = js(m, "text");
        if (!name[0])
            name = js(mv_json_at(mv_json_get(m, "coding"), 0), "display");
        const mv_json *qty = mv_json_get(mv_json_get(mv_json_get(doc, "dispenseRequest"), "quantity"), "value");
        snprintf(t, sizeof t, "%s", mv_json_num(qty, NULL) ? mv_json_num(qty, NULL) : "-");
        P(q, "<table><tr><th>Medication</th><td>%s</td></tr><tr><th>Dosage</th><td>%s</td></tr>"
             "<tr><th>Quantity</th><td>%s</td></tr>",
          name, js(mv_json_at(mv_json_get(doc, "dosageInstruction"), 0), "text"), t);
    } else if (!strcmp(type, "ServiceRequest")) {
        P(q, "<table><tr><th>Order</th><td>%s</td></tr><tr><th>Note</th><td>%s</td></tr>",
          js(mv_json_get(doc, "code"), "text"), js(mv_json_at(mv_json_get(doc, "note"), 0), "text"));
    } else {
        return;
    }
    P(q, "<tr><th>Status</th><td>%s</td></tr><tr><th>Patient</th><td>%s</td></tr><tr><th>Written</th><td>%s</td></tr>"
         "<tr><th>By</th><td>%s</td></tr></table>\n",
      js(doc, "status"), js(mv_json_get(doc, "subject"), "reference"), js(doc, "authoredOn"),
      js(mv_json_get(doc, "requester"), "reference"));
}

static void handle_record(struct req *q, const char *id)
{
    struct ui *u = q->u;
    uint8_t bid[16];
    char why[320] = "", name[256] = "", title[64];
    int kind = 0;
    mv_buf content, pp;
    mv_json *list = NULL, *doc = NULL;
    const mv_json *meta = NULL;
    mv_buf_init(&content, RECORD_MAX);
    mv_buf_init(&pp, RECORD_MAX);
    if (mv_hex_decode_exact(bid, 16, id, 32) != MV_OK) {
        page_error(q, 404, "Not found", "No such record.");
        goto out;
    }
    mv_err rc = mv_client_get(u->client, bid, &content, &kind, name, sizeof name);
    if (rc != MV_OK) {
        snprintf(why, sizeof why, "Cannot read this record: %s (%s)", mv_strerror(rc), mv_client_last_error(u->client));
        page_error(q, rc == MV_ERR_NOT_FOUND ? 404 : rc == MV_ERR_FORBIDDEN ? 403 : 502, "Record", why);
        goto out;
    }
    if ((list = record_list(u, why, sizeof why)) != NULL) {
        const mv_json *a = mv_json_get(list, "records");
        for (size_t i = 0; i < mv_json_len(a) && !meta; i++)
            if (!strcmp(js(mv_json_at(a, i), "id"), id))
                meta = mv_json_at(a, i);
    }
    if (kind == MV_RECORD_FHIR &&
        mv_json_parse((const char *)content.ptr, content.len, NULL, &doc, NULL) == MV_OK)
        snprintf(title, sizeof title, "%s", js(doc, "resourceType"));
    else
        snprintf(title, sizeof title, "%s", kind == MV_RECORD_FHIR ? "FHIR record" : "Attachment");
    page_begin(q, title[0] ? title : "Record", NULL);
    P(q, "<p class=\"muted\">Record <code>%s</code>, decrypted on this computer.", id);
    if (meta) {
        char t[64];
        jtime(meta, "created", t, sizeof t);
        P(q, " Department %s, stored %s.", js(meta, "department"), t);
    }
    P(q, "</p>\n");
    if (doc) {
        fhir_summary(q, doc);
        if (q->w.rc == MV_OK)
            q->w.rc = pretty(&pp, doc, 0);
        P(q, "<pre><code>%s</code></pre>\n", pp.ptr ? (const char *)pp.ptr : "");
    } else if (kind == MV_RECORD_FHIR) {
        P(q, "<pre><code>%s</code></pre>\n", content.ptr ? (const char *)content.ptr : "");
    } else {
        P(q, "<p>Attachment <b>%s</b>, %zu bytes (not shown here; use <code>medvault get</code>).</p>\n", name,
          content.len);
    }
    if (meta && (!strcmp(js(meta, "owner"), u->me) || !strcmp(js(meta, "patient"), u->me)))
        share_forms(q, id, meta);
    page_end(q, 200);
out:
    mv_json_free(doc);
    mv_json_free(list);
    mv_buf_clear(&pp);
    mv_buf_clear(&content);
}

static void record_share(struct req *q, const char *id)
{
    struct ui *u = q->u;
    char action[16], key[80], pick[80], episode[40], back[64];
    uint8_t bid[16], target[32];
    size_t changed = 0;
    mv_err rc;
    snprintf(back, sizeof back, "/records/%s", id);
    field(q, "action", action, sizeof action);
    field(q, "key", key, sizeof key);
    field(q, "pick", pick, sizeof pick);
    field(q, "episode", episode, sizeof episode);
    const char *k = key[0] ? key : pick;
    int grant = !strcmp(action, "grant");
    if ((!grant && strcmp(action, "revoke")) || !mv_is_lower_hex(k, 64) || mv_hex_decode_exact(target, 32, k, 64) != MV_OK ||
        mv_hex_decode_exact(bid, 16, id, 32) != MV_OK) {
        set_flash(u, 0, NULL, "Choose a doctor or type their key (64 hex digits).");
        redirect(q->resp, back);
        return;
    }
    if (episode[0]) {
        if (!mv_is_lower_hex(episode, 32)) {
            set_flash(u, 0, NULL, "Bad episode.");
            redirect(q->resp, back);
            return;
        }
        rc = mv_client_share_episode(u->client, episode, target, grant, &changed);
    } else {
        rc = mv_client_share(u->client, bid, target, grant);
    }
    if (rc == MV_OK && episode[0])
        set_flash(u, 1, NULL, "%s %.16s... for %zu record(s) of the episode.", grant ? "Granted access to" : "Revoked access of",
                  k, changed);
    else if (rc == MV_OK)
        set_flash(u, 1, NULL, "%s %.16s...", grant ? "Granted read access to" : "Revoked read access of", k);
    else
        set_flash(u, 0, NULL, "Sharing failed: %s (%s)", mv_strerror(rc), mv_client_last_error(u->client));
    redirect(q->resp, back);
}

static void record_patient(struct req *q, const char *id)
{
    char mrn[40], back[64];
    uint8_t bid[16];
    snprintf(back, sizeof back, "/records/%s", id);
    field(q, "mrn", mrn, sizeof mrn);
    if (!is_mrn(mrn) || mv_hex_decode_exact(bid, 16, id, 32) != MV_OK) {
        set_flash(q->u, 0, NULL, "Type the patient's MRN (like MRN-000001).");
    } else {
        mv_err rc = mv_client_grant_patient(q->u->client, bid, mrn);
        if (rc == MV_OK)
            set_flash(q->u, 1, NULL, "The record now belongs to patient %s.", mrn);
        else
            set_flash(q->u, 0, NULL, "Setting the patient failed: %s (%s)", mv_strerror(rc),
                      mv_client_last_error(q->u->client));
    }
    redirect(q->resp, back);
}

/* ---------- /prescribe and /orders: one form, two resource types ---------- */

enum order_kind { ORDER_RX, ORDER_SERVICE };

struct order_page {
    enum order_kind kind;
    const char *path, *title, *button;
};

static const struct order_page RX_PAGE = {ORDER_RX, "/prescribe", "Write a prescription", "Sign and store the prescription"};
static const struct order_page SR_PAGE = {ORDER_SERVICE, "/orders", "Write a treatment order", "Sign and store the order"};

/* The doctor's own appointments that records may be written for (booked or checked in). */
static mv_json *open_appointments(struct ui *u, char *why, size_t cap)
{
    return hosp_get(u, "/v1/appointments?doctor=me", why, cap);
}

static const mv_json *find_appt(const mv_json *root, const char *id)
{
    const mv_json *a = mv_json_get(root, "appointments");
    for (size_t i = 0; i < mv_json_len(a); i++)
        if (!strcmp(js(mv_json_at(a, i), "id"), id) && appt_open(js(mv_json_at(a, i), "status")))
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
        const char *id = js(ap, "id");
        if (!appt_open(js(ap, "status")) || !mv_is_lower_hex(id, 32))
            continue;
        jtime(ap, "starts_at", t, sizeof t);
        P(q, "<option value=\"%s\"%s>%s - %s (%s) - %s, %s</option>", id, !strcmp(id, chosen) ? " selected" : "", t,
          js(pt, "name"), js(pt, "mrn"), js(ap, "department"), js(ap, "status"));
    }
    P(q, "</select></label></p>\n");
}

static void handle_order_form(struct req *q, const struct order_page *pg)
{
    struct ui *u = q->u;
    char why[256] = "", why2[256] = "", appt[40], med[24];
    mv_json *appts = open_appointments(u, why, sizeof why), *meds = NULL;
    qparam(q, "appointment", appt, sizeof appt);
    qparam(q, "medicine", med, sizeof med);
    if (pg->kind == ORDER_RX)
        meds = hosp_get(u, "/v1/medicines", why2, sizeof why2);
    page_begin(q, pg->title, pg->path);
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
            P(q, "<option value=\"%s\">%s %s %s</option>", med_id(x), js(x, "name"), js(x, "strength"), js(x, "form"));
        }
        P(q, "</select></label> <button>Continue</button></p></form>\n");
        goto done;
    }
    form_open(q, pg->path, 0);
    appt_select(q, appts, appt);
    P(q, "<p><label>Patient MRN <input name=\"mrn\" maxlength=\"32\" value=\"%s\" placeholder=\"the appointment&#39;s "
         "patient\"></label></p>\n",
      ap ? js(mv_json_get(ap, "patient"), "mrn") : "");
    if (pg->kind == ORDER_RX) {
        P(q, "<input type=\"hidden\" name=\"medicine\" value=\"%s\"><p>Medicine: <b>%s %s %s</b> "
             "<a href=\"/prescribe?appointment=%s\">change</a></p>\n",
          med_id(m), js(m, "name"), js(m, "strength"), js(m, "form"), appt);
        P(q, "<p><label>Dosage <input name=\"dosage\" required maxlength=\"400\" size=\"60\" value=\"%s\"></label></p>\n"
             "<p><label>Quantity <input name=\"quantity\" type=\"number\" min=\"1\" max=\"100000\" required "
             "value=\"1\"></label></p>\n",
          js(m, "dosage"));
    } else {
        P(q, "<p><label>Order <input name=\"order\" required maxlength=\"256\" size=\"60\" "
             "placeholder=\"e.g. Physiotherapy, 6 sessions\"></label></p>\n<p><label>Note<br><textarea name=\"note\" "
             "rows=\"4\" cols=\"60\" maxlength=\"2000\"></textarea></label></p>\n");
    }
    P(q, "<p><button>%s</button></p></form>\n", pg->button);
done:
    mv_json_free(appts);
    mv_json_free(meds);
    page_end(q, 200);
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

/* "subject", "encounter", "authoredOn" and "requester" of either resource, and the close. */
static mv_err fhir_tail(mv_buf *j, const struct ui *u, const char *mrn, const char *appt)
{
    char t[32], ref[64];
    struct tm tm;
    time_t now = (time_t)now_s();
    if (!gmtime_r(&now, &tm) || !strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return MV_ERR_INVAL;
    mv_err rc = mv_buf_puts(j, ",\"subject\":{\"reference\":");
    snprintf(ref, sizeof ref, "Patient/%s", mrn);
    if (rc == MV_OK)
        rc = mv_json_write_str(j, ref, strlen(ref));
    snprintf(ref, sizeof ref, "Encounter/%s", appt);
    if (rc == MV_OK && (rc = mv_buf_puts(j, "},\"encounter\":{\"reference\":")) == MV_OK)
        rc = mv_json_write_str(j, ref, strlen(ref));
    if (rc == MV_OK)
        rc = mv_buf_printf(j, "},\"authoredOn\":\"%s\",\"requester\":{\"reference\":\"Practitioner/%.16s\"}}", t, u->me);
    return rc;
}

static mv_err member_str(mv_buf *j, const char *prefix, const char *s, const char *suffix)
{
    mv_err rc = mv_buf_puts(j, prefix);
    if (rc == MV_OK)
        rc = mv_json_write_str(j, s, strlen(s));
    if (rc == MV_OK)
        rc = mv_buf_puts(j, suffix);
    return rc;
}

static void handle_order_post(struct req *q, const struct order_page *pg)
{
    struct ui *u = q->u;
    char appt[40], mrn[40], why[320] = "", err[320] = "", back[128], a1[400], a2[2048], med[24];
    mv_json *appts = NULL, *meds = NULL;
    mv_buf j;
    uint8_t id[16];
    uint64_t quantity = 0;
    mv_err rc = MV_OK;
    mv_buf_init(&j, 64 << 10);
    field(q, "appointment", appt, sizeof appt);
    field(q, "mrn", mrn, sizeof mrn);
    field(q, "medicine", med, sizeof med);
    snprintf(back, sizeof back, "%s?appointment=%s%s%s", pg->path, mv_is_lower_hex(appt, 32) ? appt : "",
             med[0] && strspn(med, "0123456789") == strlen(med) ? "&medicine=" : "",
             med[0] && strspn(med, "0123456789") == strlen(med) ? med : "");
    if (!mv_is_lower_hex(appt, 32) || (mrn[0] && !is_mrn(mrn))) {
        set_flash(u, 0, NULL, "Choose an appointment (and the patient's MRN, like MRN-000001).");
        goto out;
    }
    if (!(appts = open_appointments(u, why, sizeof why))) {
        set_flash(u, 0, NULL, "%s", why);
        goto out;
    }
    const mv_json *ap = find_appt(appts, appt);
    if (!ap) {
        set_flash(u, 0, NULL, "Choose one of your booked or checked-in appointments.");
        goto out;
    }
    /* An empty MRN means the appointment's patient. */
    if (!mrn[0])
        snprintf(mrn, sizeof mrn, "%s", js(mv_json_get(ap, "patient"), "mrn"));
    if (!is_mrn(mrn)) {
        set_flash(u, 0, NULL, "Type the patient's MRN (like MRN-000001).");
        goto out;
    }
    if (pg->kind == ORDER_RX) {
        if (field(q, "dosage", a1, sizeof a1) || !a1[0] || field(q, "quantity", a2, 24) ||
            strspn(a2, "0123456789") != strlen(a2) || !a2[0] || strlen(a2) > 6 ||
            (quantity = strtoull(a2, NULL, 10)) == 0) {
            set_flash(u, 0, NULL, "Give a dosage and a quantity (1 to 100000).");
            goto out;
        }
        if (!(meds = hosp_get(u, "/v1/medicines", why, sizeof why))) {
            set_flash(u, 0, NULL, "%s", why);
            goto out;
        }
        const mv_json *m = find_med(meds, med);
        if (!m) {
            set_flash(u, 0, NULL, "Choose a medicine from the formulary.");
            goto out;
        }
        char text[400];
        snprintf(text, sizeof text, "%s %s %s", js(m, "name"), js(m, "strength"), js(m, "form"));
        rc = member_str(&j, "{\"resourceType\":\"MedicationRequest\",\"status\":\"active\",\"intent\":\"order\","
                            "\"medicationCodeableConcept\":{\"text\":",
                        text, "");
        if (rc == MV_OK && *js(m, "code")) {
            rc = member_str(&j, ",\"coding\":[{\"system\":\"urn:medvault:formulary\",\"code\":", js(m, "code"), "");
            if (rc == MV_OK)
                rc = member_str(&j, ",\"display\":", js(m, "name"), "}]");
        }
        if (rc == MV_OK)
            rc = member_str(&j, "},\"dosageInstruction\":[{\"text\":", a1, "}]");
        if (rc == MV_OK)
            rc = mv_buf_printf(&j, ",\"dispenseRequest\":{\"quantity\":{\"value\":%llu}}", (unsigned long long)quantity);
    } else {
        if (field(q, "order", a1, sizeof a1) || !a1[0]) {
            set_flash(u, 0, NULL, "Describe the order.");
            goto out;
        }
        field(q, "note", a2, sizeof a2);
        rc = member_str(&j, "{\"resourceType\":\"ServiceRequest\",\"status\":\"active\",\"intent\":\"order\","
                            "\"code\":{\"text\":",
                        a1, "}");
        if (rc == MV_OK && a2[0])
            rc = member_str(&j, ",\"note\":[{\"text\":", a2, "}]");
    }
    if (rc == MV_OK)
        rc = fhir_tail(&j, u, mrn, appt);
    if (rc != MV_OK) {
        set_flash(u, 0, NULL, "Cannot build the record: %s", mv_strerror(rc));
        goto out;
    }
    const char *dept = js(ap, "department");
    if ((rc = store_record(u, &j, mrn, appt, dept[0] ? dept : NULL, id, err, sizeof err)) != MV_OK) {
        set_flash(u, 0, NULL, "Not stored: %s", err);
        goto out;
    }
    char hex[33];
    if (mv_hex_encode(hex, sizeof hex, id, 16) == MV_OK) {
        snprintf(back, sizeof back, "/records/%s", hex);
        set_flash(u, 1, NULL, "Stored as record %s, readable by you and patient %s.", hex, mrn);
    }
out:
    mv_json_free(appts);
    mv_json_free(meds);
    mv_buf_clear(&j);
    mv_wipe(a1, sizeof a1);
    mv_wipe(a2, sizeof a2);
    redirect(q->resp, back);
}

/* ---------- dispatch ---------- */

static int host_ok(const struct ui *u, const mv_http_request *r)
{
    const char *h = mv_http_header(r, "Host");
    return h && (!strcmp(h, u->host_ip) || !strcmp(h, u->host_local));
}

/* path = prefix + 32 hex id + suffix: copies the id. */
static int match_id(const char *path, const char *prefix, const char *suffix, char id[33])
{
    size_t pl = strlen(prefix);
    if (strncmp(path, prefix, pl) != 0 || strlen(path + pl) != 32 + strlen(suffix) || strcmp(path + pl + 32, suffix))
        return 0;
    memcpy(id, path + pl, 32);
    id[32] = 0;
    return mv_is_lower_hex(id, 32);
}

static void dispatch(struct req *q)
{
    struct ui *u = q->u;
    const char *m = q->r->method, *path = q->r->path;
    char id[33], why[320];
    int get = !strcmp(m, "GET"), post = !strcmp(m, "POST");
    if (!get && !post) {
        page_error(q, 405, "Error", "Only GET and POST.");
        return;
    }
    if (get && !strcmp(path, "/login")) {
        handle_login(q);
        return;
    }
    if (!cookie_ok(u, q->r)) {
        redirect(q->resp, "/login");
        return;
    }
    if (post) {
        char tok[MV_UI_TOKEN_HEX + 8];
        if (field(q, "csrf", tok, sizeof tok) || strlen(tok) != MV_UI_TOKEN_HEX ||
            !mv_ct_eq(tok, u->csrf, MV_UI_TOKEN_HEX)) {
            page_error(q, 403, "Refused", "This form is out of date (missing or wrong CSRF token): reload the page.");
            return;
        }
        if (!strcmp(path, "/logout")) {
            handle_logout(q);
            return;
        }
    }
    if (ui_client(u, why, sizeof why) != MV_OK) {
        page_error(q, 503, "Unavailable", why);
        return;
    }
    int doctor = is_role(u, "doctor"), patient = is_role(u, "patient");
    if (get && !strcmp(path, "/"))
        handle_home(q);
    else if (get && !strcmp(path, "/appointments"))
        handle_appointments(q);
    else if (get && !strcmp(path, "/records"))
        handle_records(q);
    else if (get && match_id(path, "/records/", "", id))
        handle_record(q, id);
    else if ((!strcmp(path, "/prescribe") || !strcmp(path, "/orders")) && !doctor)
        page_error(q, 403, "Doctors only", "Only doctors write prescriptions and orders.");
    else if (get && !strcmp(path, "/prescribe"))
        handle_order_form(q, &RX_PAGE);
    else if (get && !strcmp(path, "/orders"))
        handle_order_form(q, &SR_PAGE);
    else if (post && !strcmp(path, "/prescribe"))
        handle_order_post(q, &RX_PAGE);
    else if (post && !strcmp(path, "/orders"))
        handle_order_post(q, &SR_PAGE);
    else if (post && patient && !strcmp(path, "/appointments/request"))
        appt_request(q);
    else if (post && (doctor || patient) && match_id(path, "/appointments/", "/status", id))
        appt_status(q, id);
    else if (post && patient && match_id(path, "/appointments/", "/delegate", id))
        appt_delegate(q, id);
    else if (post && patient && !strncmp(path, "/delegations/", 13) && strlen(path) > 20 &&
             !strcmp(path + strlen(path) - 7, "/revoke")) {
        char n[24];
        size_t l = strlen(path) - 13 - 7;
        if (l >= sizeof n)
            l = 0;
        memcpy(n, path + 13, l);
        n[l] = 0;
        delegation_revoke(q, n);
    } else if (post && match_id(path, "/records/", "/share", id))
        record_share(q, id);
    else if (post && match_id(path, "/records/", "/patient", id))
        record_patient(q, id);
    else
        page_error(q, 404, "Not found", "No such page.");
}

static void handler(void *ctx, const mv_http_request *r, mv_http_response *resp)
{
    struct ui *u = ctx;
    struct req q = {.u = u, .r = r, .resp = resp};
    mv_hw_init(&q.w, &resp->body);
    if (mv_http_response_header(resp, "Content-Security-Policy", CSP) != MV_OK ||
        mv_http_response_header(resp, "X-Content-Type-Options", "nosniff") != MV_OK ||
        mv_http_response_header(resp, "Referrer-Policy", "no-referrer") != MV_OK ||
        mv_http_response_header(resp, "X-Frame-Options", "DENY") != MV_OK) {
        resp->status = 500;
        return;
    }
    pthread_mutex_lock(&u->lock);
    if (!u->ready) {
        mv_http_respond_json_error(resp, 503, "starting");
    } else if (!host_ok(u, r)) {
        /* A page reached under another name (DNS rebinding) must not be served. */
        mv_http_respond_json_error(resp, 421, "wrong Host: use the printed address");
    } else {
        dispatch(&q);
        if (q.w.rc != MV_OK) {
            mv_log(MV_LOG_ERROR, COMPONENT, "cannot build the page: %s", mv_strerror(q.w.rc));
            mv_http_respond_json_error(resp, 500, "cannot build the page");
        }
    }
    pthread_mutex_unlock(&u->lock);
}

int mv_ui_listen_ok(const char *listen)
{
    unsigned long v[5];
    const char *p = listen;
    if (!p)
        return 0;
    for (int i = 0; i < 5; i++) {
        char *end = NULL;
        if (*p < '0' || *p > '9')
            return 0;
        errno = 0;
        v[i] = strtoul(p, &end, 10);
        if (errno || end - p > 5 || (i < 4 && v[i] > 255) || v[i] > 65535)
            return 0;
        if (i < 3 && *end != '.')
            return 0;
        if (i == 3 && *end != ':')
            return 0;
        if (i == 4 && *end)
            return 0;
        p = end + 1;
    }
    return v[0] == 127;
}

static int token_ok(const char *t)
{
    size_t n = strlen(t);
    if (n < 32 || n > 256)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') ||
              t[i] == '-' || t[i] == '_' || t[i] == '.'))
            return 0;
    return 1;
}

mv_err mv_ui_run(const mv_ui_config *cfg)
{
    struct ui *u = NULL;
    mv_http_server *srv = NULL;
    mv_metrics *metrics = NULL;
    char why[320] = "";
    mv_err rc;
    if (!cfg || !cfg->deployment_path || !cfg->user_dir)
        return MV_ERR_INVAL;
    const char *listen = cfg->listen ? cfg->listen : "127.0.0.1:0";
    if (!mv_ui_listen_ok(listen)) {
        mv_log(MV_LOG_ERROR, COMPONENT, "the UI listens on loopback only (127.x.y.z:PORT), not %s", listen);
        return MV_ERR_INVAL;
    }
    if (cfg->token && !token_ok(cfg->token))
        return MV_ERR_INVAL;
    /* Decrypted records pass through this process: no core dumps, no ptrace by others. */
    mv_daemon_harden();
    mv_daemon_block_signals();
    if (!(u = mv_calloc(1, sizeof *u)))
        return MV_ERR_NOMEM;
    u->cfg = cfg;
    pthread_mutex_init(&u->lock, NULL);
    if ((rc = random_hex(u->session)) != MV_OK || (rc = random_hex(u->csrf)) != MV_OK)
        goto out;
    if (cfg->token)
        snprintf(u->token, sizeof u->token, "%s", cfg->token);
    else if ((rc = random_hex(u->token)) != MV_OK)
        goto out;
    if ((rc = ui_client(u, why, sizeof why)) != MV_OK) {
        mv_log(MV_LOG_ERROR, COMPONENT, "%s", why);
        goto out;
    }
    /* /healthz and /metrics (request counts and latencies) as every medvault server has. */
    if ((rc = mv_metrics_new(&metrics)) != MV_OK)
        goto out;
    mv_http_config hc = {
        .listen = listen,
        .max_body = BODY_MAX,
        .threads = 2,
        .handler = handler,
        .ctx = u,
        .metrics = metrics,
        .component = "medvault_ui",
    };
    if ((rc = mv_http_server_start(&hc, &srv)) != MV_OK) {
        mv_log(MV_LOG_ERROR, COMPONENT, "cannot listen on %s: %s", listen, mv_strerror(rc));
        goto out;
    }
    unsigned port = mv_http_server_port(srv);
    char ip[16];
    snprintf(ip, sizeof ip, "%.*s", (int)(strchr(listen, ':') - listen), listen);
    pthread_mutex_lock(&u->lock);
    snprintf(u->cookie_name, sizeof u->cookie_name, "mv_ui_%u", port);
    snprintf(u->host_ip, sizeof u->host_ip, "%s:%u", ip, port);
    snprintf(u->host_local, sizeof u->host_local, "localhost:%u", port);
    u->ready = 1;
    pthread_mutex_unlock(&u->lock);
    printf("medvault ui: open http://%s:%u/login?token=%s\n", ip, port, u->token);
    fflush(stdout);
    if (mv_daemon_write_port(cfg->port_file, (uint16_t)port) != 0)
        mv_log(MV_LOG_WARN, COMPONENT, "cannot write the port file");
    mv_log(MV_LOG_INFO, COMPONENT, "serving the UI of %s on port %u", cfg->user_dir, port);
    mv_daemon_wait(1.0, NULL, NULL);
    mv_log(MV_LOG_INFO, COMPONENT, "shutting down");
    rc = MV_OK;
out:
    mv_http_server_stop(srv);
    mv_metrics_free(metrics);
    mv_client_close(u->client);
    pthread_mutex_destroy(&u->lock);
    mv_wipe(u, sizeof *u);
    mv_free(u);
    return rc;
}
