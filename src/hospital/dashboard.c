/* dashboard.c - the admin dashboard: only a logged-in admin who is still active in the registry
 * sees or changes anything, every value shown is HTML-escaped, every form POST carries the
 * session's CSRF token, session ids and login tokens are random, compared in constant time,
 * wiped when they die and never logged, and login challenges are MACed with a key in locked
 * memory, so that showing the login page costs no state an unauthenticated visitor could
 * exhaust. No page can show record content:
 * the hospital never holds any. */
#include "hospital/dashboard.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/endian.h"
#include "hospital/registry.h"
#include "medvault/mv_auth.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_deployment.h"
#include "medvault/mv_hmac.h"
#include "medvault/mv_html.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_sig.h"

#define COMPONENT "hospital"
#define APP "medvault hospital admin"
#define MAX_SESSIONS 64
#define MAX_TOKENS 64
/* Successful challenge logins remembered for one challenge window (single use). Only a
 * verified admin login adds one, so this bounds admin logins per 5 minutes, not visitors. */
#define MAX_USED_CHALLENGES 256
/* Domain of the challenge MAC (never an Ed25519-signed text: admins sign the login context). */
#define CHALLENGE_MAC_CONTEXT "medvault-dashboard-challenge-mac-v1\n"
#define CHALLENGE_BODY_BYTES 16 /* issued (8, big-endian unix seconds) || nonce (8 random bytes) */
#define CHALLENGE_TAG_BYTES 16  /* HMAC-SHA-256 truncated to 128 bits (RFC 2104 section 5) */
#define LIST_LIMIT 500          /* rows per table; a note says when more exist */
#define URL_MAX 1024
#define STORAGE_TIMEOUT_MS 5000L
#define STORAGE_CRED_SECONDS 300
#define COOKIE_NAME "mv_session"

/* One session or login token. `id` is the secret (session id, token). */
typedef struct slot {
    uint8_t id[32];
    uint8_t admin[32]; /* sessions and tokens: the admin's signing key */
    uint8_t csrf[32];  /* sessions: the CSRF token of their forms */
    uint64_t created;
    uint64_t expires;
    int used;
} slot;

/* A challenge spent by a successful login: its body (issued || nonce) until its window ends. */
typedef struct used_challenge {
    uint8_t body[CHALLENGE_BODY_BYTES];
    uint64_t expires; /* 0: free */
} used_challenge;

struct hospital_dash {
    registry *reg;          /* borrowed: every read and the formulary's writes go through it */
    pthread_mutex_t lock;   /* guards sessions, tokens and used */
    uint8_t *challenge_key;  /* 32 bytes, secure memory: MACs the login page's challenges */
    uint64_t (*clock)(void *); /* challenge time (tests); NULL: time(NULL) */
    void *clock_ctx;
    const mv_identity *hosp;
    char *storage_url; /* without trailing '/', or NULL */
    char *deployment_path; /* read for storage_url when storage_url is NULL; or NULL */
    hospital_dash_decide_fn decide; /* step-up decisions (set by the hospital), or NULL */
    void *decide_ctx;
    slot sessions[MAX_SESSIONS];
    slot tokens[MAX_TOKENS];
    used_challenge used[MAX_USED_CHALLENGES];
};

/* The logged-in admin of one request. */
typedef struct who {
    uint8_t key[32];
    uint8_t sid[32];
    uint8_t csrf[32];
    char csrf_hex[65];
    long long id;
    char name[129];
} who;

static uint64_t now_s(void)
{
    return (uint64_t)time(NULL);
}

/* ---------- in-memory secrets ---------- */

/* Empties every expired slot. */
static void sweep(slot *s, size_t n, uint64_t now)
{
    for (size_t i = 0; i < n; i++)
        if (s[i].used && s[i].expires <= now)
            mv_wipe(&s[i], sizeof s[i]);
}

/* A free slot, after sweeping; when none is free the oldest is dropped. Never NULL. */
static slot *slot_take(slot *s, size_t n, uint64_t now)
{
    size_t oldest = 0;
    sweep(s, n, now);
    for (size_t i = 0; i < n; i++) {
        if (!s[i].used)
            return &s[i];
        if (s[i].created < s[oldest].created)
            oldest = i;
    }
    mv_wipe(&s[oldest], sizeof s[oldest]);
    return &s[oldest];
}

/* The live slot whose id is `id`, or NULL. Every slot is compared (constant time in the
 * position of the match and in the id). */
static slot *slot_find(slot *s, size_t n, const uint8_t id[32], uint64_t now)
{
    slot *found = NULL;
    sweep(s, n, now);
    for (size_t i = 0; i < n; i++) {
        int eq = mv_ct_eq(s[i].id, id, 32);
        if (eq & s[i].used)
            found = &s[i];
    }
    return found;
}

/* Drops every session and token of an admin who is no longer active. */
static void forget_admin(hospital_dash *d, const uint8_t admin[32])
{
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < MAX_SESSIONS; i++)
        if (d->sessions[i].used && mv_ct_eq(d->sessions[i].admin, admin, 32))
            mv_wipe(&d->sessions[i], sizeof d->sessions[i]);
    for (size_t i = 0; i < MAX_TOKENS; i++)
        if (d->tokens[i].used && mv_ct_eq(d->tokens[i].admin, admin, 32))
            mv_wipe(&d->tokens[i], sizeof d->tokens[i]);
    pthread_mutex_unlock(&d->lock);
}

/* ---------- login challenges ---------- */

/* The login page's challenge is stateless, so that no number of visitors can push out the one an
 * admin is signing (issue 11, finding 9): 32 bytes = issued (8, big-endian unix seconds) ||
 * nonce (8 random bytes) || the first 16 bytes of HMAC-SHA-256(challenge_key,
 * CHALLENGE_MAC_CONTEXT || issued || nonce). Showing the page stores nothing; a login checks
 * the MAC and the window, and only a successful one is remembered (`used`, single use). */

static uint64_t challenge_now(const hospital_dash *d)
{
    return d->clock ? d->clock(d->clock_ctx) : now_s();
}

/* mac = HMAC-SHA-256(challenge_key, context || body). */
static mv_err challenge_mac(const hospital_dash *d, const uint8_t body[CHALLENGE_BODY_BYTES],
                            uint8_t mac[MV_HMAC_SHA256_BYTES])
{
    uint8_t msg[sizeof CHALLENGE_MAC_CONTEXT - 1 + CHALLENGE_BODY_BYTES];
    memcpy(msg, CHALLENGE_MAC_CONTEXT, sizeof CHALLENGE_MAC_CONTEXT - 1);
    memcpy(msg + sizeof CHALLENGE_MAC_CONTEXT - 1, body, CHALLENGE_BODY_BYTES);
    return mv_hmac_sha256(mac, d->challenge_key, 32, msg, sizeof msg);
}

/* A fresh challenge issued at now. */
static mv_err challenge_make(const hospital_dash *d, uint64_t now, uint8_t ch[32])
{
    uint8_t mac[MV_HMAC_SHA256_BYTES];
    mv_be64_put(ch, now);
    mv_err rc = mv_random_bytes(ch + 8, CHALLENGE_BODY_BYTES - 8);
    if (rc == MV_OK)
        rc = challenge_mac(d, ch, mac);
    if (rc == MV_OK)
        memcpy(ch + CHALLENGE_BODY_BYTES, mac, CHALLENGE_TAG_BYTES);
    mv_wipe(mac, sizeof mac);
    return rc;
}

/* 1 if ch was made by this process (its tag verifies, in constant time) and was issued less
 * than HOSPITAL_DASH_CHALLENGE_SECONDS before now (never after: a clock stepped back refuses
 * the challenges it had shown, and the admin reloads the page). Whether it was used is
 * challenge_spend's question. */
static int challenge_valid(const hospital_dash *d, const uint8_t ch[32], uint64_t now)
{
    uint8_t mac[MV_HMAC_SHA256_BYTES];
    const uint64_t issued = mv_be64_get(ch);
    int ok = challenge_mac(d, ch, mac) == MV_OK && mv_ct_eq(mac, ch + CHALLENGE_BODY_BYTES, CHALLENGE_TAG_BYTES);
    mv_wipe(mac, sizeof mac);
    return ok && issued <= now && now - issued < HOSPITAL_DASH_CHALLENGE_SECONDS;
}

/* Marks a valid challenge used. MV_ERR_REPLAY if it was used already; MV_ERR_BUSY if
 * MAX_USED_CHALLENGES logins happened within one window (nothing is evicted: dropping an entry
 * whose challenge is still valid would let its signed answer be replayed). Entries are kept
 * exactly as long as their challenge could pass challenge_valid. Caller holds d->lock. */
static mv_err challenge_spend(hospital_dash *d, const uint8_t ch[32], uint64_t now)
{
    used_challenge *free_slot = NULL;
    int seen = 0;
    for (size_t i = 0; i < MAX_USED_CHALLENGES; i++) {
        used_challenge *u = &d->used[i];
        if (u->expires && u->expires <= now)
            memset(u, 0, sizeof *u);
        if (!u->expires) {
            if (!free_slot)
                free_slot = u;
            continue;
        }
        seen |= mv_ct_eq(u->body, ch, CHALLENGE_BODY_BYTES);
    }
    if (seen)
        return MV_ERR_REPLAY;
    if (!free_slot)
        return MV_ERR_BUSY;
    memcpy(free_slot->body, ch, CHALLENGE_BODY_BYTES);
    free_slot->expires = mv_be64_get(ch) + HOSPITAL_DASH_CHALLENGE_SECONDS;
    return MV_OK;
}

/* ---------- registry access ---------- */

/* MV_OK if key is an active admin (then *id and name are set), MV_ERR_FORBIDDEN if not,
 * MV_ERR_IO if the registry cannot be read. */
static mv_err admin_lookup(hospital_dash *d, const uint8_t key[32], long long *id, char name[129])
{
    registry_user u;
    mv_err rc = registry_user_get(d->reg, key, &u);
    if (rc == MV_ERR_NOT_FOUND || (rc == MV_OK && (u.role != REGISTRY_ROLE_ADMIN || strcmp(u.status, "active") != 0)))
        rc = MV_ERR_FORBIDDEN;
    else if (rc != MV_OK)
        rc = MV_ERR_IO;
    if (rc == MV_OK && id)
        *id = u.id;
    if (rc == MV_OK && name)
        snprintf(name, 129, "%s", u.name);
    /* The row carries the admin's contact details, which this page never needs. */
    mv_wipe(&u, sizeof u);
    return rc;
}

/* ---------- responses ---------- */

static void fail500(mv_http_response *resp)
{
    mv_buf_reset(&resp->body);
    resp->status = 500;
    snprintf(resp->content_type, sizeof resp->content_type, "text/plain; charset=utf-8");
    if (mv_buf_puts(&resp->body, "internal error\n") != MV_OK)
        mv_buf_reset(&resp->body);
}

static mv_err security_headers(mv_http_response *resp)
{
    mv_err rc = mv_http_response_header(resp, "Content-Security-Policy",
                                        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                        "frame-ancestors 'none'");
    if (rc == MV_OK)
        rc = mv_http_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (rc == MV_OK)
        rc = mv_http_response_header(resp, "Referrer-Policy", "no-referrer");
    return rc;
}

static void redirect(mv_http_response *resp, const char *location)
{
    mv_buf_reset(&resp->body);
    resp->status = 303;
    snprintf(resp->content_type, sizeof resp->content_type, "text/plain; charset=utf-8");
    if (mv_http_response_header(resp, "Location", location) != MV_OK || mv_buf_puts(&resp->body, "see other\n") != MV_OK)
        fail500(resp);
}

/* Sets the session cookie (sid NULL: the cookie is cleared). */
static mv_err set_cookie(mv_http_response *resp, const uint8_t *sid)
{
    char hex[65], v[200];
    mv_err rc = MV_OK;
    if (sid && (rc = mv_hex_encode(hex, sizeof hex, sid, 32)) != MV_OK)
        return rc;
    snprintf(v, sizeof v, COOKIE_NAME "=%s; HttpOnly; SameSite=Strict; Path=/admin; Max-Age=%d", sid ? hex : "",
             sid ? HOSPITAL_DASH_SESSION_SECONDS : 0);
    rc = mv_http_response_header(resp, "Set-Cookie", v);
    mv_wipe(hex, sizeof hex);
    mv_wipe(v, sizeof v);
    return rc;
}

static void html_done(mv_http_response *resp, mv_err rc, int status)
{
    if (rc != MV_OK) {
        fail500(resp);
        return;
    }
    resp->status = status;
    snprintf(resp->content_type, sizeof resp->content_type, "text/html; charset=utf-8");
}

/* ---------- page frame ---------- */

struct page;
typedef mv_err (*page_fn)(hospital_dash *d, const who *w, const mv_http_request *req, mv_http_response *resp,
                          int *status);

typedef struct page {
    const char *href;
    const char *label;
    page_fn fn;
} page;

static mv_err page_overview(hospital_dash *, const who *, const mv_http_request *, mv_http_response *, int *);
static mv_err page_departments(hospital_dash *, const who *, const mv_http_request *, mv_http_response *, int *);
static mv_err page_doctors(hospital_dash *, const who *, const mv_http_request *, mv_http_response *, int *);
static mv_err page_patients(hospital_dash *, const who *, const mv_http_request *, mv_http_response *, int *);
static mv_err page_appointments(hospital_dash *, const who *, const mv_http_request *, mv_http_response *, int *);
static mv_err page_medicines(hospital_dash *, const who *, const mv_http_request *, mv_http_response *, int *);
static mv_err page_storage(hospital_dash *, const who *, const mv_http_request *, mv_http_response *, int *);
static mv_err page_alerts(hospital_dash *, const who *, const mv_http_request *, mv_http_response *, int *);

static const page PAGES[] = {
    {"/admin/", "Overview", page_overview},
    {"/admin/departments", "Departments", page_departments},
    {"/admin/doctors", "Doctors", page_doctors},
    {"/admin/patients", "Patients", page_patients},
    {"/admin/appointments", "Appointments", page_appointments},
    {"/admin/medicines", "Medicines", page_medicines},
    {"/admin/storage", "Storage", page_storage},
    {"/admin/alerts", "Alerts", page_alerts},
};
#define N_PAGES (sizeof PAGES / sizeof PAGES[0])

static void begin(mv_hw *o, const char *title, const char *current)
{
    mv_html_link links[N_PAGES];
    for (size_t i = 0; i < N_PAGES; i++) {
        links[i].href = PAGES[i].href;
        links[i].label = PAGES[i].label;
    }
    mv_hw_begin(o, APP, title, current ? links : NULL, current ? N_PAGES : 0, current);
}

/* The footer of every logged-in page: who is signed in, and the logout form. */
static void end(mv_hw *o, const who *w)
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
    begin(&o, "Overview", "/admin/");
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
    end(&o, w);
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
    begin(&o, "Departments", "/admin/departments");
    mv_hw_raw(&o, "<table id=\"departments\"><thead><tr><th>Department</th><th>Description</th>"
                  "<th class=\"num\">Doctors</th><th class=\"num\">Patients</th><th>Created</th></tr></thead>"
                  "<tbody>\n");
    LIST(&t, registry_department_rows(d->reg, LIST_LIMIT + 1, department_row, &t));
    table_end(&t, "<p class=\"muted\">No departments yet: registering a doctor creates the doctor's "
                  "departments.</p>\n");
    end(&o, w);
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

static mv_err page_doctors(hospital_dash *d, const who *w, const mv_http_request *req, mv_http_response *resp,
                           int *status)
{
    mv_hw o;
    table t = {.o = &o, .w = w};
    mv_hw_init(&o, &resp->body);
    begin(&o, "Doctors", "/admin/doctors");
    mv_hw_raw(&o, "<table id=\"doctors\"><thead><tr><th>Name</th><th>Departments</th><th>Status</th>"
                  "<th>Key</th><th>Registered</th></tr></thead><tbody>\n");
    LIST(&t, registry_user_rows(d->reg, REGISTRY_ROLE_DOCTOR, LIST_LIMIT + 1, doctor_row, &t));
    table_end(&t, "<p class=\"muted\">No doctors yet.</p>\n");
    end(&o, w);
    *status = 200;
    return mv_hw_finish(&o);
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
    mv_hw o;
    table t = {.o = &o, .w = w};
    mv_hw_init(&o, &resp->body);
    begin(&o, "Patients", "/admin/patients");
    mv_hw_raw(&o, "<table id=\"patients\"><thead><tr><th>Name</th><th>MRN</th><th>Status</th>"
                  "<th>Home department</th><th>Registered</th></tr></thead><tbody>\n");
    LIST(&t, registry_user_rows(d->reg, REGISTRY_ROLE_PATIENT, LIST_LIMIT + 1, patient_row, &t));
    table_end(&t, "<p class=\"muted\">No patients yet.</p>\n");
    end(&o, w);
    *status = 200;
    return mv_hw_finish(&o);
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
    begin(&o, "Appointments", "/admin/appointments");
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
    end(&o, w);
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
    begin(&o, "Medicines", "/admin/medicines");
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
    end(&o, w);
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
                                       now_s(), &created, NULL, NULL);
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
        fail500(resp);
    else if (status == 303)
        redirect(resp, !strcmp(action, "save") ? "/admin/medicines?done=saved" : "/admin/medicines?done=deleted");
    else
        html_done(resp, render_medicines(d, w, "", err, &f, &resp->body), status);
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
    const uint64_t now = now_s();
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
    begin(&o, "Storage", "/admin/storage");
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
    end(&o, w);
out:
    mv_json_free(root);
    return mv_hw_finish(&o);
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
    mv_hw_printf(t->o,
                 "<tr><td>%lld</td><td>%s</td><td>%s</td><td><code>%s</code></td><td>%s</td><td>"
                 "<form class=\"inline\" method=\"post\" action=\"/admin/alerts\">"
                 "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                 "<input type=\"hidden\" name=\"request\" value=\"%lld\">"
                 "<button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button> "
                 "<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>"
                 "</form></td></tr>\n",
                 (long long)row->id, c, row->name, row->sign_pk, row->role, t->w->csrf_hex, (long long)row->id);
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
    mv_hw_printf(t->o,
                 "<tr><td>%s</td><td>%s</td><td>%s</td><td><code>%s</code></td><td>%s</td>"
                 "<td><code>%s</code></td><td>%s</td><td>%llu</td><td>%s</td><td>%s</td></tr>\n",
                 at, row->source, row->kind, row->principal, row->address, row->object, row->reason,
                 (unsigned long long)row->count, last, dlv);
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
    begin(&o, "Alerts", "/admin/alerts");
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
    end(&o, w);
    *status = 200;
    return mv_hw_finish(&o);
}

static void simple_page(mv_http_response *resp, const who *w, const char *title, const char *text, int status);

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
        simple_page(resp, w, "Bad request", "Unknown step-up form.", 400);
        return;
    }
    if (!d->decide) {
        simple_page(resp, w, "Unavailable", "Step-up decisions are not available here.", 503);
        return;
    }
    mv_err rc = d->decide(d->decide_ctx, (int64_t)id, (int64_t)w->id, !strcmp(decision, "approve"), &why);
    if (rc != MV_OK) {
        simple_page(resp, w, "Not decided", why ? why : "The step-up request could not be decided.",
                    rc == MV_ERR_NOT_FOUND ? 404 : rc == MV_ERR_BAD_STATE ? 409 : 500);
        return;
    }
    redirect(resp, !strcmp(decision, "approve") ? "/admin/alerts?done=approved" : "/admin/alerts?done=denied");
}

void hospital_dash_set_stepup(hospital_dash *d, hospital_dash_decide_fn fn, void *ctx)
{
    if (!d)
        return;
    d->decide = fn;
    d->decide_ctx = ctx;
}

/* ---------- login, sessions, logout ---------- */

/* Reads the mv_session cookie into sid; 0 if absent or malformed. */
static int cookie_session(const mv_http_request *req, uint8_t sid[32])
{
    static const char name[] = COOKIE_NAME "=";
    const size_t nl = sizeof name - 1;
    const char *c = mv_http_header(req, "Cookie");
    while (c && *c) {
        while (*c == ' ' || *c == ';')
            c++;
        const char *e = strchr(c, ';');
        size_t l = e ? (size_t)(e - c) : strlen(c);
        while (l && c[l - 1] == ' ')
            l--;
        if (l == nl + 64 && !memcmp(c, name, nl))
            return mv_hex_decode_exact(sid, 32, c + nl, 64) == MV_OK;
        c = e ? e : c + l;
    }
    return 0;
}

/* 1 and *w filled if req carries a live session of an active admin; else 0. */
static int session_check(hospital_dash *d, const mv_http_request *req, who *w)
{
    int ok = 0;
    memset(w, 0, sizeof *w);
    if (!cookie_session(req, w->sid))
        return 0;
    pthread_mutex_lock(&d->lock);
    slot *s = slot_find(d->sessions, MAX_SESSIONS, w->sid, now_s());
    if (s) {
        memcpy(w->key, s->admin, 32);
        memcpy(w->csrf, s->csrf, 32);
        ok = 1;
    }
    pthread_mutex_unlock(&d->lock);
    if (!ok)
        return 0;
    mv_err rc = admin_lookup(d, w->key, &w->id, w->name);
    if (rc == MV_ERR_FORBIDDEN)
        forget_admin(d, w->key); /* suspended, revoked or no longer an admin: every session dies */
    if (rc != MV_OK || mv_hex_encode(w->csrf_hex, sizeof w->csrf_hex, w->csrf, 32) != MV_OK) {
        mv_wipe(w, sizeof *w);
        return 0;
    }
    return 1;
}

/* Starts a session for admin and answers 303 to /admin/ with its cookie. */
static void start_session(hospital_dash *d, const uint8_t admin[32], mv_http_response *resp)
{
    uint8_t sid[32], csrf[32];
    const uint64_t now = now_s();
    mv_err rc;
    if ((rc = mv_random_bytes(sid, sizeof sid)) == MV_OK && (rc = mv_random_bytes(csrf, sizeof csrf)) == MV_OK) {
        pthread_mutex_lock(&d->lock);
        slot *s = slot_take(d->sessions, MAX_SESSIONS, now);
        memcpy(s->id, sid, 32);
        memcpy(s->admin, admin, 32);
        memcpy(s->csrf, csrf, 32);
        s->created = now;
        s->expires = now + HOSPITAL_DASH_SESSION_SECONDS;
        s->used = 1;
        pthread_mutex_unlock(&d->lock);
        redirect(resp, "/admin/");
        rc = set_cookie(resp, sid);
    }
    if (rc != MV_OK)
        fail500(resp);
    else
        mv_log(MV_LOG_INFO, COMPONENT, "dashboard: an admin logged in");
    mv_wipe(sid, sizeof sid);
    mv_wipe(csrf, sizeof csrf);
}

/* The login page with a fresh challenge; `err` (may be NULL) shown above it. Stores nothing. */
static void login_page(hospital_dash *d, mv_http_response *resp, const char *err, int status)
{
    uint8_t ch[32];
    char hex[65];
    mv_hw o;
    mv_buf_reset(&resp->body);
    mv_hw_init(&o, &resp->body);
    o.rc = challenge_make(d, challenge_now(d), ch);
    if (o.rc == MV_OK)
        o.rc = mv_hex_encode(hex, sizeof hex, ch, 32);
    begin(&o, "Log in", NULL);
    if (err)
        mv_hw_printf(&o, "<p class=\"error\" id=\"message\">%s</p>\n", err);
    mv_hw_printf(
        &o,
        "<p>Run <code>medvault dashboard --user ADMIN_DIR</code> for a one-time login link, or sign this "
        "challenge (valid for 5 minutes, once):</p>\n<pre id=\"challenge\">%s</pre>\n"
        "<p><code>medvault dashboard --sign %s --user ADMIN_DIR</code> prints your key and the signature.</p>\n"
        "<form id=\"login-form\" method=\"post\" action=\"/admin/login\">"
        "<input type=\"hidden\" name=\"challenge\" value=\"%s\">"
        "<p><label>Admin key <input name=\"key\" required size=\"70\" maxlength=\"64\" "
        "pattern=\"[0-9a-fA-F]{64}\"></label></p>"
        "<p><label>Signature <input name=\"signature\" required size=\"70\" maxlength=\"128\" "
        "pattern=\"[0-9a-fA-F]{128}\"></label></p>"
        "<p><button type=\"submit\">Log in</button></p></form>\n",
        hex, hex, hex);
    end(&o, NULL);
    html_done(resp, mv_hw_finish(&o), status);
}

/* GET /admin/login?token=T: the one-time token from POST /v1/sessions. */
static void login_token(hospital_dash *d, const char *tok_text, mv_http_response *resp)
{
    uint8_t tok[32], admin[32];
    int found = 0;
    if (strlen(tok_text) == 64 && mv_hex_decode_exact(tok, 32, tok_text, 64) == MV_OK) {
        pthread_mutex_lock(&d->lock);
        slot *s = slot_find(d->tokens, MAX_TOKENS, tok, now_s());
        if (s) {
            memcpy(admin, s->admin, 32);
            mv_wipe(s, sizeof *s); /* one use, whatever happens next */
            found = 1;
        }
        pthread_mutex_unlock(&d->lock);
    }
    if (found && admin_lookup(d, admin, NULL, NULL) == MV_OK) {
        start_session(d, admin, resp);
    } else {
        mv_log(MV_LOG_WARN, COMPONENT, "dashboard: a login link was refused (unknown, expired or used)");
        login_page(d, resp, "This login link is invalid, expired or already used. Ask for a new one with "
                            "medvault dashboard, or sign the challenge below.", 403);
    }
    mv_wipe(tok, sizeof tok);
    mv_wipe(admin, sizeof admin);
}

/* POST /admin/login: challenge, key, signature. Only a successful login spends the challenge
 * (an unauthenticated caller cannot write to the used set); a refused one may be answered again
 * within its window, which gains nothing without the admin's signing key. */
static void login_signed(hospital_dash *d, const mv_http_request *req, mv_http_response *resp)
{
    const char *body = (const char *)req->body;
    char ch_hex[80], key_hex[80], sig_hex[144], msg[sizeof HOSPITAL_DASH_LOGIN_CONTEXT + 64];
    uint8_t ch[32], key[32], sig[64];
    const uint64_t now = challenge_now(d);
    const char *refusal = "Login refused: the challenge was unknown, expired or already used, or the signature is not "
                          "by the key of an active admin.";
    int status = 403;
    int ok = mv_http_form_get(body, req->body_len, "challenge", ch_hex, sizeof ch_hex) == MV_OK &&
             mv_http_form_get(body, req->body_len, "key", key_hex, sizeof key_hex) == MV_OK &&
             mv_http_form_get(body, req->body_len, "signature", sig_hex, sizeof sig_hex) == MV_OK &&
             mv_hex_decode_exact(ch, 32, ch_hex, strlen(ch_hex)) == MV_OK &&
             mv_hex_decode_exact(key, 32, key_hex, strlen(key_hex)) == MV_OK &&
             mv_hex_decode_exact(sig, 64, sig_hex, strlen(sig_hex)) == MV_OK && challenge_valid(d, ch, now);
    if (ok) {
        /* The signed text is the challenge as the page shows it: lowercase hex. */
        const size_t cl = sizeof HOSPITAL_DASH_LOGIN_CONTEXT - 1;
        memcpy(msg, HOSPITAL_DASH_LOGIN_CONTEXT, cl);
        ok = mv_hex_encode(msg + cl, sizeof msg - cl, ch, 32) == MV_OK &&
             mv_sign_verify(sig, msg, cl + 64, key) == MV_OK && admin_lookup(d, key, NULL, NULL) == MV_OK;
    }
    if (ok) {
        pthread_mutex_lock(&d->lock);
        mv_err rc = challenge_spend(d, ch, now);
        pthread_mutex_unlock(&d->lock);
        if (rc == MV_ERR_BUSY) {
            refusal = "Too many logins in the last 5 minutes: try again in a few minutes, or use a one-time link "
                      "from medvault dashboard.";
            status = 503;
        }
        ok = rc == MV_OK;
    }
    if (ok) {
        start_session(d, key, resp);
    } else {
        mv_log(MV_LOG_WARN, COMPONENT, "dashboard: a signed login was refused");
        login_page(d, resp, refusal, status);
    }
    mv_wipe(ch, sizeof ch);
}

/* 1 if the form body carries the session's CSRF token. */
static int csrf_ok(const mv_http_request *req, const who *w)
{
    char hex[80];
    uint8_t t[32];
    int ok = mv_http_form_get((const char *)req->body, req->body_len, "csrf", hex, sizeof hex) == MV_OK &&
             strlen(hex) == 64 && mv_hex_decode_exact(t, 32, hex, 64) == MV_OK && mv_ct_eq(t, w->csrf, 32);
    mv_wipe(hex, sizeof hex);
    mv_wipe(t, sizeof t);
    return ok;
}

static void simple_page(mv_http_response *resp, const who *w, const char *title, const char *text, int status)
{
    mv_hw o;
    mv_buf_reset(&resp->body);
    mv_hw_init(&o, &resp->body);
    begin(&o, title, w ? "" : NULL);
    mv_hw_printf(&o, "<p class=\"error\" id=\"message\">%s</p>\n", text);
    end(&o, w);
    html_done(resp, mv_hw_finish(&o), status);
}

int hospital_dash_handle(hospital_dash *d, const mv_http_request *req, mv_http_response *resp)
{
    who w;
    if (!d || !req || !resp || !req->path || !req->method)
        return 0;
    const char *p = req->path;
    if (strcmp(p, "/admin") != 0 && strncmp(p, "/admin/", 7) != 0)
        return 0;
    memset(&w, 0, sizeof w);
    if (security_headers(resp) != MV_OK) {
        fail500(resp);
        return 1;
    }
    const int is_get = !strcmp(req->method, "GET"); /* not HEAD: a HEAD must not spend a login token */
    const int is_post = !strcmp(req->method, "POST");
    if (!strcmp(p, "/admin")) {
        redirect(resp, "/admin/");
        return 1;
    }
    if (!strcmp(p, "/admin/login")) {
        char tok[80] = "";
        const char *q = mv_http_query(req);
        if (is_get && mv_http_form_get(q, strlen(q), "token", tok, sizeof tok) != MV_ERR_NOT_FOUND)
            login_token(d, tok, resp);
        else if (is_get)
            login_page(d, resp, NULL, 200);
        else if (is_post)
            login_signed(d, req, resp);
        else
            simple_page(resp, NULL, "Method not allowed", "Use GET or POST.", 405);
        mv_wipe(tok, sizeof tok);
        return 1;
    }
    if (!session_check(d, req, &w)) {
        redirect(resp, "/admin/login");
        return 1;
    }
    if (!strcmp(p, "/admin/logout")) {
        if (!is_post) {
            simple_page(resp, &w, "Method not allowed", "Log out with the button.", 405);
        } else if (!csrf_ok(req, &w)) {
            simple_page(resp, &w, "Forbidden", "The form was stale or forged (bad CSRF token): reload and retry.", 403);
        } else {
            pthread_mutex_lock(&d->lock);
            slot *s = slot_find(d->sessions, MAX_SESSIONS, w.sid, now_s());
            if (s)
                mv_wipe(s, sizeof *s);
            pthread_mutex_unlock(&d->lock);
            redirect(resp, "/admin/login");
            if (set_cookie(resp, NULL) != MV_OK)
                fail500(resp);
        }
        goto out;
    }
    const page *pg = NULL;
    for (size_t i = 0; i < N_PAGES; i++)
        if (!strcmp(p, PAGES[i].href))
            pg = &PAGES[i];
    if (!pg) {
        simple_page(resp, &w, "Not found", "There is no such page.", 404);
    } else if (is_post && pg->fn == page_medicines) {
        if (!csrf_ok(req, &w))
            simple_page(resp, &w, "Forbidden", "The form was stale or forged (bad CSRF token): reload and retry.", 403);
        else
            post_medicines(d, &w, req, resp);
    } else if (is_post && pg->fn == page_alerts) {
        if (!csrf_ok(req, &w))
            simple_page(resp, &w, "Forbidden", "The form was stale or forged (bad CSRF token): reload and retry.", 403);
        else
            post_stepup(d, &w, req, resp);
    } else if (!is_get) {
        simple_page(resp, &w, "Method not allowed", "This page only answers GET.", 405);
    } else {
        int status = 200;
        mv_err rc = pg->fn(d, &w, req, resp, &status);
        html_done(resp, rc, status);
    }
out:
    mv_wipe(&w, sizeof w);
    return 1;
}

/* ---------- tokens for POST /v1/sessions ---------- */

mv_err hospital_dash_session_token(hospital_dash *d, const uint8_t admin_key[32], char token_hex[65],
                                   uint64_t *expires_at)
{
    uint8_t tok[32];
    const uint64_t now = now_s();
    mv_err rc;
    if (!d || !admin_key || !token_hex)
        return MV_ERR_INVAL;
    memset(token_hex, 0, 65);
    if ((rc = admin_lookup(d, admin_key, NULL, NULL)) != MV_OK || (rc = mv_random_bytes(tok, sizeof tok)) != MV_OK ||
        (rc = mv_hex_encode(token_hex, 65, tok, 32)) != MV_OK)
        goto out;
    pthread_mutex_lock(&d->lock);
    slot *s = slot_take(d->tokens, MAX_TOKENS, now);
    memcpy(s->id, tok, 32);
    memcpy(s->admin, admin_key, 32);
    s->created = now;
    s->expires = now + HOSPITAL_DASH_TOKEN_SECONDS;
    s->used = 1;
    pthread_mutex_unlock(&d->lock);
    if (expires_at)
        *expires_at = now + HOSPITAL_DASH_TOKEN_SECONDS;
out:
    if (rc != MV_OK)
        mv_wipe(token_hex, 65);
    mv_wipe(tok, sizeof tok);
    return rc;
}

void hospital_dash_respond_session(hospital_dash *d, const uint8_t admin_key[32], mv_http_response *resp)
{
    char tok[65];
    uint64_t exp = 0;
    mv_err rc = hospital_dash_session_token(d, admin_key, tok, &exp);
    if (rc == MV_OK)
        mv_http_respond_fmt(resp, 201, "{\"login_url\":\"/admin/login?token=%s\",\"expires_at\":%llu}", tok,
                            (unsigned long long)exp);
    else if (rc == MV_ERR_FORBIDDEN)
        mv_http_respond_json_error(resp, 403, "only an active admin may open the dashboard");
    else
        mv_http_respond_json_error(resp, 500, "cannot create a login token");
    mv_wipe(tok, sizeof tok);
}

/* ---------- lifecycle ---------- */

mv_err hospital_dash_new(registry *reg, const mv_identity *hospital, const char *storage_url,
                         const char *deployment_path, hospital_dash **out)
{
    hospital_dash *d = NULL;
    mv_err rc = MV_OK;
    if (!reg || !hospital || !out)
        return MV_ERR_INVAL;
    *out = NULL;
    if (storage_url && (strlen(storage_url) > URL_MAX ||
                        (strncmp(storage_url, "http://", 7) != 0 && strncmp(storage_url, "https://", 8) != 0)))
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if (!(d = mv_calloc(1, sizeof *d)))
        return MV_ERR_NOMEM;
    d->reg = reg;
    d->hosp = hospital;
    pthread_mutex_init(&d->lock, NULL);
    /* A fresh key per process: a restart invalidates the challenges shown before it, as it
     * already logs everyone out, and needs no key file. */
    if (!(d->challenge_key = mv_secure_alloc(32))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    if ((rc = mv_random_bytes(d->challenge_key, 32)) != MV_OK)
        goto out;
    if (deployment_path && deployment_path[0] && !(d->deployment_path = mv_strdup(deployment_path))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    if (storage_url && storage_url[0]) {
        if (!(d->storage_url = mv_strdup(storage_url))) {
            rc = MV_ERR_NOMEM;
            goto out;
        }
        size_t l = strlen(d->storage_url);
        while (l > 8 && d->storage_url[l - 1] == '/')
            d->storage_url[--l] = 0;
    }
out:
    if (rc != MV_OK)
        hospital_dash_free(d);
    else
        *out = d;
    return rc;
}

void hospital_dash_set_challenge_clock(hospital_dash *d, uint64_t (*now)(void *ctx), void *ctx)
{
    if (!d)
        return;
    d->clock = now;
    d->clock_ctx = ctx;
}

void hospital_dash_free(hospital_dash *d)
{
    if (!d)
        return;
    mv_secure_free(d->challenge_key);
    mv_free(d->storage_url);
    mv_free(d->deployment_path);
    pthread_mutex_destroy(&d->lock);
    mv_wipe(d, sizeof *d);
    mv_free(d);
}
