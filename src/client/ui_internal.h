/* ui_internal.h - what the local UI's files share (not installed). ui.c is the server: the
 * session (login token, cookie, CSRF), the page frame and helpers, and the router; each page
 * group has its file: ui_appts.c (home, appointments, delegations), ui_find.c (the record
 * list), ui_records.c (one record, sharing), ui_fhir.c (readable FHIR resources), ui_orders.c
 * (prescriptions and treatment orders). */
#ifndef MV_CLIENT_UI_INTERNAL_H
#define MV_CLIENT_UI_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "medvault/mv_client.h"
#include "medvault/mv_credential.h"
#include "medvault/mv_html.h"
#include "medvault/mv_http.h"
#include "medvault/mv_json.h"
#include "medvault/mv_ui.h"

#include "loopback.h"

#define COMPONENT "ui"
#define APP "medvault"
#define BODY_MAX ((size_t)64 << 10)
#define JSON_MAX ((size_t)16 << 20)
#define RECORD_MAX ((size_t)64 << 20)
#define DELEGATION_SECONDS (7u * 24 * 3600)
#define MAX_PEOPLE 64

struct ui {
    const mv_ui_config *cfg;
    pthread_mutex_t lock;
    int ready;
    mv_client *client;
    uint64_t last_open;
    uint64_t synced_at;              /* the local index's last sync (ui_find.c), 0: never */
    mv_credential cred;
    char me[65];                     /* own sign key, hex */
    char token[257];                 /* login token */
    char session[MV_UI_TOKEN_HEX + 1];
    char csrf[MV_UI_TOKEN_HEX + 1];
    char cookie_name[24];            /* mv_ui_PORT */
    mvc_loopback lb;                 /* the server, its port and the Host values it accepts */
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

/* ---- ui.c: helpers ---- */
uint64_t mvc_ui_now_s(void);
/* 1 if the signed-in user's credential has this role. */
int mvc_ui_is_role(const struct ui *u, const char *role);
/* 1 if s may be an MRN: 1..32 characters of [A-Za-z0-9-]. */
int mvc_ui_is_mrn(const char *s);
/* t (unix seconds) as "YYYY-MM-DD HH:MM UTC", or "-". */
void mvc_ui_fmt_time(uint64_t t, char *out, size_t cap);
/* The string member key of o, or "" (never NULL). */
const char *mvc_ui_js(const mv_json *o, const char *key);
/* A time member: unix seconds (formatted) or a string (as given); "-" when absent. */
void mvc_ui_jtime(const mv_json *o, const char *key, char *out, size_t cap);
/* The first 16 hex digits of a key: enough to tell keys apart on a page. */
void mvc_ui_short_key(const char *hex, char out[17]);
/* One hospital call with a JSON answer. *root gets the parsed answer (NULL if it is not
 * JSON). Caller holds u->lock. */
mv_err mvc_ui_hosp(struct ui *u, const char *method, const char *path, const mv_buf *body, long *status,
                   mv_json **root);
/* GET path; on success (200 with JSON) returns the tree, else NULL with the reason in why. */
mv_json *mvc_ui_hosp_get(struct ui *u, const char *path, char *why, size_t cap);

/* ---- ui.c: responses and the page frame ---- */
/* The message the next page shows (ok: success or failure styling; href: a link, or NULL). */
void mvc_ui_set_flash(struct ui *u, int ok, const char *href, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 303 to location (a path of ours). */
void mvc_ui_redirect(mv_http_response *resp, const char *location);
/* Opens q's page: head, navigation for the user's role (current marked), the flash. */
void mvc_ui_page_begin(struct req *q, const char *title, const char *current);
/* Closes q's page and answers it with status. */
void mvc_ui_page_end(struct req *q, int status);
/* A whole page that only says msg. */
void mvc_ui_page_error(struct req *q, int status, const char *title, const char *msg);
/* A form's opening tag with the CSRF token. */
void mvc_ui_form_open(struct req *q, const char *action, int inline_form);
/* A POST form field (NUL-terminated into out); 0 if present and valid, else out = "". */
int mvc_ui_field(const struct req *q, const char *name, char *out, size_t cap);
/* A query parameter, like mvc_ui_field. */
int mvc_ui_qparam(const struct req *q, const char *name, char *out, size_t cap);
/* Appends v to o as indented JSON (ind levels deep). */
mv_err mvc_ui_pretty(mv_buf *o, const mv_json *v, unsigned ind);

/* ---- ui_appts.c ---- */
void mvc_ui_handle_home(struct req *q);
/* 1 for an appointment records may still be written for (booked or checked in). */
int mvc_ui_appt_open(const char *status);
void mvc_ui_handle_appointments(struct req *q);
/* POST /appointments/request (patients). */
void mvc_ui_appt_request(struct req *q);
/* POST /appointments/{id}/status. */
void mvc_ui_appt_status(struct req *q, const char *id);
/* POST /appointments/{id}/delegate: the patient signs a delegation to the appointment's doctor. */
void mvc_ui_appt_delegate(struct req *q, const char *id);
/* POST /delegations/{id}/revoke. */
void mvc_ui_delegation_revoke(struct req *q, const char *idtxt);

/* ---- ui_clouds.c: delegations through the clouds (docs/pre.md) ---- */
/* The "Delegate through the clouds" form of open episode appt (32 hex). */
void mvc_ui_clouds_form(struct req *q, const char *appt);
/* The patient's delegations through the clouds, each with a Revoke button. */
void mvc_ui_clouds_section(struct req *q);
/* POST /appointments/{id}/clouds and POST /clouds/revoke. */
void mvc_ui_clouds_grant(struct req *q, const char *appt);
void mvc_ui_clouds_revoke(struct req *q);

/* ---- ui_find.c ---- */
/* GET /records: one page of the local index, searched and filtered (docs/ui.md). */
void mvc_ui_handle_records(struct req *q);

/* ---- ui_fhir.c ---- */
/* A table of doc's main fields for a person to read (docs/ui.md "Reading a record"). */
void mvc_ui_fhir_summary(struct req *q, const mv_json *doc);

/* ---- ui_records.c ---- */
void mvc_ui_handle_record(struct req *q, const char *id);
/* POST /records/{id}/share. */
void mvc_ui_record_share(struct req *q, const char *id);
/* POST /records/{id}/patient. */
void mvc_ui_record_patient(struct req *q, const char *id);

/* ---- ui_orders.c: /prescribe and /orders, one form for two resource types ---- */
enum order_kind { ORDER_RX, ORDER_SERVICE };

struct order_page {
    enum order_kind kind;
    const char *path, *title, *button;
};

extern const struct order_page mvc_ui_rx_page, mvc_ui_sr_page;

void mvc_ui_handle_order_form(struct req *q, const struct order_page *pg);
void mvc_ui_handle_order_post(struct req *q, const struct order_page *pg);

#endif
