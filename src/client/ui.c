/* ui.c - the local UI decrypts records only in this process and shows them only to the browser
 * holding the session cookie of the printed login URL (loopback, CSRF-checked forms, strict CSP,
 * every value HTML-escaped). This file is the server: the session, the page frame and the
 * router; the pages live in ui_appts.c, ui_records.c and ui_orders.c. */
#include "ui_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medvault/mv_client.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_daemon.h"
#include "medvault/mv_html.h"
#include "medvault/mv_http.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"

static const char CSP[] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                          "frame-ancestors 'none'; base-uri 'none'";

/* The session and CSRF values are made by mvc_loopback_random_hex. */
_Static_assert(MV_UI_TOKEN_HEX == MVC_LOOPBACK_TOKEN_HEX, "the UI's token length is loopback.h's");

uint64_t mvc_ui_now_s(void)
{
    return (uint64_t)time(NULL);
}

int mvc_ui_is_role(const struct ui *u, const char *role)
{
    return mv_credential_has_role(&u->cred, mv_role_of(role));
}

int mvc_ui_is_mrn(const char *s)
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

void mvc_ui_fmt_time(uint64_t t, char *out, size_t cap)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || !strftime(out, cap, "%Y-%m-%d %H:%M UTC", &tm))
        snprintf(out, cap, "-");
}

const char *mvc_ui_js(const mv_json *o, const char *key)
{
    const char *s = mv_json_get_str(o, key, NULL);
    return s ? s : "";
}

/* A time member: unix seconds (formatted) or a string (as given); "-" when absent. */
void mvc_ui_jtime(const mv_json *o, const char *key, char *out, size_t cap)
{
    const mv_json *v = mv_json_get(o, key);
    uint64_t t;
    if (mv_json_u64(v, &t) == MV_OK)
        mvc_ui_fmt_time(t, out, cap);
    else if (mv_json_type_of(v) == MV_JSON_STRING)
        snprintf(out, cap, "%s", mv_json_str(v, NULL));
    else
        snprintf(out, cap, "-");
}

/* The first 16 hex digits of a key: enough to tell keys apart on a page. */
void mvc_ui_short_key(const char *hex, char out[17])
{
    snprintf(out, 17, "%.16s", hex);
}

/* ---------- the client handle ---------- */

/* The long-lived client (loopback.h: re-opened to renew the credential). Caller holds u->lock. */
static mv_err ui_client(struct ui *u, char *why, size_t cap)
{
    mv_err rc = mvc_loopback_client(u->cfg->deployment_path, u->cfg->user_dir, &u->client, &u->cred, &u->last_open,
                                    why, cap);
    if (rc != MV_OK)
        return rc;
    return mv_hex_encode(u->me, sizeof u->me, u->cred.subject, 32);
}

/* One hospital call with a JSON answer. *root gets the parsed answer (NULL if it is not JSON);
 * *status the HTTP status. */
mv_err mvc_ui_hosp(struct ui *u, const char *method, const char *path, const mv_buf *body, long *status,
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
mv_json *mvc_ui_hosp_get(struct ui *u, const char *path, char *why, size_t cap)
{
    mv_json *root = NULL;
    long status = 0;
    mv_err rc = mvc_ui_hosp(u, "GET", path, NULL, &status, &root);
    if (rc == MV_OK && status == 200 && root)
        return root;
    if (rc != MV_OK)
        snprintf(why, cap, "the hospital did not answer: %s", mv_strerror(rc));
    else if (root && mv_json_get_str(root, "error", NULL))
        snprintf(why, cap, "the hospital answered %ld: %s", status, mvc_ui_js(root, "error"));
    else
        snprintf(why, cap, "the hospital answered %ld", status);
    mv_json_free(root);
    return NULL;
}

/* ---------- responses and page frame ---------- */

void mvc_ui_set_flash(struct ui *u, int ok, const char *href, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(u->flash, sizeof u->flash, fmt, ap);
    va_end(ap);
    u->flash_ok = ok;
    snprintf(u->flash_href, sizeof u->flash_href, "%s", href ? href : "");
}

void mvc_ui_redirect(mv_http_response *resp, const char *location)
{
    mv_buf_reset(&resp->body);
    resp->status = 303;
    snprintf(resp->content_type, sizeof resp->content_type, "text/plain; charset=utf-8");
    if (mv_http_response_header(resp, "Location", location) != MV_OK)
        resp->status = 500;
}

void mvc_ui_page_begin(struct req *q, const char *title, const char *current)
{
    struct ui *u = q->u;
    mv_html_link links[6];
    size_t n = 0;
    links[n++] = (mv_html_link){"/", "Home"};
    if (mvc_ui_is_role(u, "doctor") || mvc_ui_is_role(u, "patient") || mvc_ui_is_role(u, "admin"))
        links[n++] = (mv_html_link){"/appointments", "Appointments"};
    links[n++] = (mv_html_link){"/records", "Records"};
    if (mvc_ui_is_role(u, "doctor")) {
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

void mvc_ui_page_end(struct req *q, int status)
{
    P(q, "<form method=\"post\" action=\"/logout\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" "
         "value=\"%s\"><button>Log out of this UI</button></form>\n",
      q->u->csrf);
    mv_hw_end(&q->w);
    q->resp->status = status;
    snprintf(q->resp->content_type, sizeof q->resp->content_type, "text/html; charset=utf-8");
}

void mvc_ui_page_error(struct req *q, int status, const char *title, const char *msg)
{
    mv_buf_reset(q->w.b);
    mv_hw_init(&q->w, q->w.b);
    mvc_ui_page_begin(q, title, NULL);
    P(q, "<p class=\"error\">%s</p>\n", msg);
    mvc_ui_page_end(q, status);
}

/* A form's opening tag with the CSRF token. */
void mvc_ui_form_open(struct req *q, const char *action, int inline_form)
{
    P(q, "<form method=\"post\" action=\"%s\"%s><input type=\"hidden\" name=\"csrf\" value=\"%s\">", action,
      inline_form ? " class=\"inline\"" : "", q->u->csrf);
}

/* A POST form field (NUL-terminated into out); 0 if present and valid, else out = "". */
int mvc_ui_field(const struct req *q, const char *name, char *out, size_t cap)
{
    if (mv_http_form_get((const char *)q->r->body, q->r->body_len, name, out, cap) != MV_OK) {
        out[0] = 0;
        return -1;
    }
    return 0;
}

int mvc_ui_qparam(const struct req *q, const char *name, char *out, size_t cap)
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

mv_err mvc_ui_pretty(mv_buf *o, const mv_json *v, unsigned ind)
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
                rc = mvc_ui_pretty(o, obj ? mv_json_value_at(v, i) : mv_json_at(v, i), ind + 1);
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
    mvc_ui_redirect(q->resp, "/");
    if (mv_http_response_header(q->resp, "Set-Cookie", cookie) != MV_OK)
        q->resp->status = 500;
    mv_wipe(cookie, sizeof cookie);
}

static void handle_logout(struct req *q)
{
    char cookie[MV_HTTP_HEADER_VALUE_MAX];
    /* A new session value logs every browser out; the login URL keeps working. */
    if (mvc_loopback_random_hex(q->u->session) != MV_OK) {
        mvc_ui_page_error(q, 500, "Error", "no randomness");
        return;
    }
    snprintf(cookie, sizeof cookie, "%s=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0", q->u->cookie_name);
    mvc_ui_redirect(q->resp, "/login");
    if (mv_http_response_header(q->resp, "Set-Cookie", cookie) != MV_OK)
        q->resp->status = 500;
}

/* ---------- dispatch ---------- */

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
        mvc_ui_page_error(q, 405, "Error", "Only GET and POST.");
        return;
    }
    if (get && !strcmp(path, "/login")) {
        handle_login(q);
        return;
    }
    if (!cookie_ok(u, q->r)) {
        mvc_ui_redirect(q->resp, "/login");
        return;
    }
    if (post) {
        char tok[MV_UI_TOKEN_HEX + 8];
        if (mvc_ui_field(q, "csrf", tok, sizeof tok) || strlen(tok) != MV_UI_TOKEN_HEX ||
            !mv_ct_eq(tok, u->csrf, MV_UI_TOKEN_HEX)) {
            mvc_ui_page_error(q, 403, "Refused", "This form is out of date (missing or wrong CSRF token): reload the page.");
            return;
        }
        if (!strcmp(path, "/logout")) {
            handle_logout(q);
            return;
        }
    }
    if (ui_client(u, why, sizeof why) != MV_OK) {
        mvc_ui_page_error(q, 503, "Unavailable", why);
        return;
    }
    int doctor = mvc_ui_is_role(u, "doctor"), patient = mvc_ui_is_role(u, "patient");
    if (get && !strcmp(path, "/"))
        mvc_ui_handle_home(q);
    else if (get && !strcmp(path, "/appointments"))
        mvc_ui_handle_appointments(q);
    else if (get && !strcmp(path, "/records"))
        mvc_ui_handle_records(q);
    else if (get && match_id(path, "/records/", "", id))
        mvc_ui_handle_record(q, id);
    else if ((!strcmp(path, "/prescribe") || !strcmp(path, "/orders")) && !doctor)
        mvc_ui_page_error(q, 403, "Doctors only", "Only doctors write prescriptions and orders.");
    else if (get && !strcmp(path, "/prescribe"))
        mvc_ui_handle_order_form(q, &mvc_ui_rx_page);
    else if (get && !strcmp(path, "/orders"))
        mvc_ui_handle_order_form(q, &mvc_ui_sr_page);
    else if (post && !strcmp(path, "/prescribe"))
        mvc_ui_handle_order_post(q, &mvc_ui_rx_page);
    else if (post && !strcmp(path, "/orders"))
        mvc_ui_handle_order_post(q, &mvc_ui_sr_page);
    else if (post && patient && !strcmp(path, "/appointments/request"))
        mvc_ui_appt_request(q);
    else if (post && (doctor || patient) && match_id(path, "/appointments/", "/status", id))
        mvc_ui_appt_status(q, id);
    else if (post && patient && match_id(path, "/appointments/", "/delegate", id))
        mvc_ui_appt_delegate(q, id);
    else if (post && patient && match_id(path, "/appointments/", "/clouds", id))
        mvc_ui_clouds_grant(q, id);
    else if (post && patient && !strcmp(path, "/clouds/revoke"))
        mvc_ui_clouds_revoke(q);
    else if (post && patient && !strncmp(path, "/delegations/", 13) && strlen(path) > 20 &&
             !strcmp(path + strlen(path) - 7, "/revoke")) {
        char n[24];
        size_t l = strlen(path) - 13 - 7;
        if (l >= sizeof n)
            l = 0;
        memcpy(n, path + 13, l);
        n[l] = 0;
        mvc_ui_delegation_revoke(q, n);
    } else if (post && match_id(path, "/records/", "/share", id))
        mvc_ui_record_share(q, id);
    else if (post && match_id(path, "/records/", "/patient", id))
        mvc_ui_record_patient(q, id);
    else
        mvc_ui_page_error(q, 404, "Not found", "No such page.");
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
    } else if (!mvc_loopback_host_ok(&u->lb, r)) {
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

mv_err mv_ui_run(const mv_ui_config *cfg)
{
    struct ui *u = NULL;
    char why[320] = "";
    mv_err rc;
    if (!cfg || !cfg->deployment_path || !cfg->user_dir)
        return MV_ERR_INVAL;
    const char *listen = cfg->listen ? cfg->listen : "127.0.0.1:0";
    if ((rc = mvc_loopback_prepare(listen, COMPONENT)) != MV_OK)
        return rc;
    if (!(u = mv_calloc(1, sizeof *u)))
        return MV_ERR_NOMEM;
    u->cfg = cfg;
    pthread_mutex_init(&u->lock, NULL);
    if ((rc = mvc_loopback_random_hex(u->session)) != MV_OK || (rc = mvc_loopback_random_hex(u->csrf)) != MV_OK ||
        (rc = mvc_loopback_token(cfg->token, u->token, sizeof u->token)) != MV_OK)
        goto out;
    if ((rc = ui_client(u, why, sizeof why)) != MV_OK) {
        mv_log(MV_LOG_ERROR, COMPONENT, "%s", why);
        goto out;
    }
    mv_http_config hc = {
        .listen = listen,
        .max_body = BODY_MAX,
        .threads = 2,
        .handler = handler,
        .ctx = u,
        .component = "medvault_ui",
    };
    /* The handler answers 503 until ready is set under the lock, so lb's fields (written by
     * mvc_loopback_start while the server may already serve) are read only after that. */
    if ((rc = mvc_loopback_start(&u->lb, &hc, COMPONENT)) != MV_OK)
        goto out;
    unsigned port = u->lb.port;
    pthread_mutex_lock(&u->lock);
    snprintf(u->cookie_name, sizeof u->cookie_name, "mv_ui_%u", port);
    u->ready = 1;
    pthread_mutex_unlock(&u->lock);
    printf("medvault ui: open http://%s:%u/login?token=%s\n", u->lb.ip, port, u->token);
    fflush(stdout);
    if (mv_daemon_write_port(cfg->port_file, (uint16_t)port) != 0)
        mv_log(MV_LOG_WARN, COMPONENT, "cannot write the port file");
    mv_log(MV_LOG_INFO, COMPONENT, "serving the UI of %s on port %u", cfg->user_dir, port);
    mv_daemon_wait(1.0, NULL, NULL);
    mv_log(MV_LOG_INFO, COMPONENT, "shutting down");
    rc = MV_OK;
out:
    mvc_loopback_stop(&u->lb);
    mv_client_close(u->client);
    pthread_mutex_destroy(&u->lock);
    mv_wipe(u, sizeof *u);
    mv_free(u);
    return rc;
}