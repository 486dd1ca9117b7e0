/* dashboard.c - the admin dashboard: only a logged-in admin who is still active in the registry
 * sees or changes anything, every value shown is HTML-escaped, every form POST carries the
 * session's CSRF token, session ids and login tokens are random, compared in constant time,
 * wiped when they die and never logged, and login challenges are MACed with a key in locked
 * memory, so that showing the login page costs no state an unauthenticated visitor could
 * exhaust. No page can show record content: the hospital never holds any. This file holds the
 * sessions, logins, routing and lifecycle; the pages behind a checked session are in
 * dashboard_pages.c. */
#include "hospital/dashboard.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/endian.h"
#include "hospital/dashboard_internal.h"
#include "hospital/registry.h"
#include "medvault/mv_auth.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_hmac.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_sig.h"

uint64_t dash_now(void)
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
    return d->clock ? d->clock(d->clock_ctx) : dash_now();
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

void dash_fail500(mv_http_response *resp)
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

void dash_redirect(mv_http_response *resp, const char *location)
{
    mv_buf_reset(&resp->body);
    resp->status = 303;
    snprintf(resp->content_type, sizeof resp->content_type, "text/plain; charset=utf-8");
    if (mv_http_response_header(resp, "Location", location) != MV_OK || mv_buf_puts(&resp->body, "see other\n") != MV_OK)
        dash_fail500(resp);
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

void dash_html_done(mv_http_response *resp, mv_err rc, int status)
{
    if (rc != MV_OK) {
        dash_fail500(resp);
        return;
    }
    resp->status = status;
    snprintf(resp->content_type, sizeof resp->content_type, "text/html; charset=utf-8");
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
    slot *s = slot_find(d->sessions, MAX_SESSIONS, w->sid, dash_now());
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
    const uint64_t now = dash_now();
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
        dash_redirect(resp, "/admin/");
        rc = set_cookie(resp, sid);
    }
    if (rc != MV_OK)
        dash_fail500(resp);
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
    dash_begin(&o, "Log in", NULL);
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
    dash_end(&o, NULL);
    dash_html_done(resp, mv_hw_finish(&o), status);
}

/* GET /admin/login?token=T: the one-time token from POST /v1/sessions. */
static void login_token(hospital_dash *d, const char *tok_text, mv_http_response *resp)
{
    uint8_t tok[32], admin[32];
    int found = 0;
    if (strlen(tok_text) == 64 && mv_hex_decode_exact(tok, 32, tok_text, 64) == MV_OK) {
        pthread_mutex_lock(&d->lock);
        slot *s = slot_find(d->tokens, MAX_TOKENS, tok, dash_now());
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

void dash_simple_page(mv_http_response *resp, const who *w, const char *title, const char *text, int status)
{
    mv_hw o;
    mv_buf_reset(&resp->body);
    mv_hw_init(&o, &resp->body);
    dash_begin(&o, title, w ? "" : NULL);
    mv_hw_printf(&o, "<p class=\"error\" id=\"message\">%s</p>\n", text);
    dash_end(&o, w);
    dash_html_done(resp, mv_hw_finish(&o), status);
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
        dash_fail500(resp);
        return 1;
    }
    const int is_get = !strcmp(req->method, "GET"); /* not HEAD: a HEAD must not spend a login token */
    const int is_post = !strcmp(req->method, "POST");
    if (!strcmp(p, "/admin")) {
        dash_redirect(resp, "/admin/");
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
            dash_simple_page(resp, NULL, "Method not allowed", "Use GET or POST.", 405);
        mv_wipe(tok, sizeof tok);
        return 1;
    }
    if (!session_check(d, req, &w)) {
        dash_redirect(resp, "/admin/login");
        return 1;
    }
    if (!strcmp(p, "/admin/logout")) {
        if (!is_post) {
            dash_simple_page(resp, &w, "Method not allowed", "Log out with the button.", 405);
        } else if (!csrf_ok(req, &w)) {
            dash_simple_page(resp, &w, "Forbidden", "The form was stale or forged (bad CSRF token): reload and retry.", 403);
        } else {
            pthread_mutex_lock(&d->lock);
            slot *s = slot_find(d->sessions, MAX_SESSIONS, w.sid, dash_now());
            if (s)
                mv_wipe(s, sizeof *s);
            pthread_mutex_unlock(&d->lock);
            dash_redirect(resp, "/admin/login");
            if (set_cookie(resp, NULL) != MV_OK)
                dash_fail500(resp);
        }
        goto out;
    }
    const dash_page *pg = NULL;
    for (size_t i = 0; i < dash_n_pages; i++)
        if (!strcmp(p, dash_pages[i].href))
            pg = &dash_pages[i];
    if (!pg) {
        dash_simple_page(resp, &w, "Not found", "There is no such page.", 404);
    } else if (is_post && pg->post) {
        if (!csrf_ok(req, &w))
            dash_simple_page(resp, &w, "Forbidden", "The form was stale or forged (bad CSRF token): reload and retry.", 403);
        else
            pg->post(d, &w, req, resp);
    } else if (!is_get) {
        dash_simple_page(resp, &w, "Method not allowed", "This page only answers GET.", 405);
    } else {
        int status = 200;
        mv_err rc = pg->fn(d, &w, req, resp, &status);
        dash_html_done(resp, rc, status);
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
    const uint64_t now = dash_now();
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
