/* dashboard_internal.h - what the dashboard's two files share (internal to src/hospital):
 * dashboard.c (sessions, logins, routing, lifecycle) and dashboard_pages.c (the pages and
 * forms behind a checked session), with the Groups page in dashboard_groups.c. */
#ifndef MV_HOSPITAL_DASHBOARD_INTERNAL_H
#define MV_HOSPITAL_DASHBOARD_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "hospital/dashboard.h"
#include "hospital/registry.h"
#include "medvault/mv_html.h"
#include "medvault/mv_http.h"

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

/* A page of the dashboard: GET renders it through fn (status 200 unless fn says otherwise),
 * POST (CSRF checked by the router) goes to post, or is 405 when post is NULL. */
typedef mv_err (*dash_page_fn)(hospital_dash *d, const who *w, const mv_http_request *req, mv_http_response *resp,
                               int *status);
typedef void (*dash_post_fn)(hospital_dash *d, const who *w, const mv_http_request *req, mv_http_response *resp);
typedef struct dash_page {
    const char *href;
    const char *label;
    dash_page_fn fn;
    dash_post_fn post;
} dash_page;

/* ---- dashboard_pages.c ---- */
extern const dash_page dash_pages[];
extern const size_t dash_n_pages;
/* ---- dashboard_groups.c: /admin/groups (the list) and /admin/groups?g=GROUP (one group) ---- */
mv_err dash_page_groups(hospital_dash *d, const who *w, const mv_http_request *req, mv_http_response *resp,
                        int *status);
/* The page frame: header with the navigation (none when current is NULL: the login page),
 * and the footer with who is signed in and the logout form (none when w is NULL). */
void dash_begin(mv_hw *o, const char *title, const char *current);
void dash_end(mv_hw *o, const who *w);

/* ---- dashboard.c ---- */
uint64_t dash_now(void);
/* A plain 500 (the body so far is dropped). */
void dash_fail500(mv_http_response *resp);
/* 303 to location. */
void dash_redirect(mv_http_response *resp, const char *location);
/* Finishes an HTML answer with status, or a 500 if rc is not MV_OK. */
void dash_html_done(mv_http_response *resp, mv_err rc, int status);
/* A page with one error message (w NULL: without navigation and footer). */
void dash_simple_page(mv_http_response *resp, const who *w, const char *title, const char *text, int status);

#endif
