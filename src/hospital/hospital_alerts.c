/* hospital_alerts.c - the hospital's alert pipeline: every alert (reported by a service or raised here)
 * is aggregated into one registry row per (source, kind, principal, address, reason) and
 * window, and each row is handed to the webhook until it answers 2xx, then marked delivered
 * so it is never sent again; alerts carry identifiers and fixed reasons only, never content
 * or secrets. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "hospital/hospital_internal.h"
#include "medvault/mv_alert.h"
#include "medvault/mv_buf.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"

#define COMPONENT HOSP_COMPONENT
#define BATCH 32
#define SCAN_S 30          /* rescan for undelivered rows at least this often */
#define BACKOFF_MIN_S 1
#define BACKOFF_MAX_S 30
#define WEBHOOK_TIMEOUT_MS 5000L
#define FUTURE_SLACK_S 300 /* a reported `at` further ahead than this is replaced by now */

struct hosp_alerts {
    struct hosp *h;
    char url[512];
    int syslog_open;
    int have_thread;
    pthread_mutex_t lock; /* guards stop and kick */
    pthread_cond_t wake;
    int stop, kick;
    pthread_t thread;
};

static void metric(struct hosp *h, const char *name, const char *help, uint64_t n)
{
    hosp_metric_add(h, name, help, "", n);
}

static void to_row(registry_alert *row, const mv_alert *a)
{
    memset(row, 0, sizeof *row);
    row->at = a->at;
    snprintf(row->source, sizeof row->source, "%s", a->source);
    snprintf(row->kind, sizeof row->kind, "%s", a->kind);
    snprintf(row->principal, sizeof row->principal, "%s", a->principal);
    snprintf(row->address, sizeof row->address, "%s", a->address);
    snprintf(row->object, sizeof row->object, "%s", a->object);
    snprintf(row->reason, sizeof row->reason, "%s", a->reason);
}

void hosp_alert_raise(struct hosp *h, const mv_alert *a, uint64_t n)
{
    registry_alert row;
    int64_t id = 0;
    int created = 0;
    uint64_t now = (uint64_t)time(NULL);
    if (!h || !a || n == 0)
        return;
    to_row(&row, a);
    if (row.at == 0 || row.at > now + FUTURE_SLACK_S)
        row.at = now;
    uint64_t window = h->cfg->alert_window_seconds ? h->cfg->alert_window_seconds : 600;
    mv_err rc = registry_alert_record(h->reg, &row, n, now, window, &id, &created);
    if (rc != MV_OK) {
        mv_log(MV_LOG_ERROR, COMPONENT, "cannot store an alert (%s %s from %s): %s", row.kind, row.reason,
               row.source, mv_strerror(rc));
        return;
    }
    metric(h, "medvault_hospital_alerts_total", "Alert occurrences recorded (after aggregation into rows)", n);
    if (!created)
        return;
    mv_log(MV_LOG_WARN, COMPONENT, "alert %lld: %s source=%s principal=%.16s address=%s reason=%s", (long long)id,
           row.kind, row.source, row.principal[0] ? row.principal : "-", row.address[0] ? row.address : "-",
           row.reason);
    if (h->cfg->syslog)
        syslog(LOG_AUTH | LOG_WARNING, "medvault alert id=%lld at=%llu source=%s kind=%s principal=%s address=%s "
                                       "object=%s reason=%s",
               (long long)id, (unsigned long long)row.at, row.source, row.kind, row.principal[0] ? row.principal : "-",
               row.address[0] ? row.address : "-", row.object[0] ? row.object : "-", row.reason);
    struct hosp_alerts *d = h->alerts;
    if (d && d->have_thread) {
        pthread_mutex_lock(&d->lock);
        d->kick = 1;
        pthread_cond_signal(&d->wake);
        pthread_mutex_unlock(&d->lock);
    }
}

/* ---------- webhook delivery ---------- */

static mv_err webhook_json(const registry_alert *a, mv_buf *b)
{
    mv_jw w;
    mv_jw_init(&w, b);
    mv_jw_obj(&w);
    mv_jw_ki64(&w, "id", a->id);
    mv_jw_ku64(&w, "at", a->at);
    mv_jw_kstr(&w, "source", a->source);
    mv_jw_kstr(&w, "kind", a->kind);
    mv_jw_kstr(&w, "principal", a->principal);
    mv_jw_kstr(&w, "address", a->address);
    mv_jw_kstr(&w, "object", a->object);
    mv_jw_kstr(&w, "reason", a->reason);
    mv_jw_ku64(&w, "count", a->count);
    mv_jw_obj_end(&w);
    return mv_jw_finish(&w);
}

/* POSTs one row; MV_OK only for a 2xx answer. */
static mv_err webhook_post(struct hosp_alerts *d, const registry_alert *a)
{
    mv_httpc_call c;
    mv_buf b;
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    mv_httpc_call_init(&c);
    mv_buf_init(&b, MV_ALERT_BODY_MAX);
    mv_err rc = webhook_json(a, &b);
    if (rc == MV_OK) {
        c.method = "POST";
        c.url = d->url;
        c.headers = hdrs;
        c.body = b.ptr;
        c.body_len = b.len;
        c.timeout_ms = WEBHOOK_TIMEOUT_MS;
        c.response.max = 4096;
        if ((rc = mv_httpc_run(&c, 1)) == MV_OK)
            rc = c.rc;
        if (rc == MV_OK && (c.status < 200 || c.status > 299))
            rc = MV_ERR_HTTP;
    }
    if (rc != MV_OK)
        mv_log(MV_LOG_WARN, COMPONENT, "webhook: alert %lld not delivered (%s%s%ld); retrying", (long long)a->id,
               mv_strerror(rc), rc == MV_ERR_HTTP ? ", HTTP " : "", rc == MV_ERR_HTTP ? c.status : 0L);
    mv_httpc_call_clear(&c);
    mv_buf_clear(&b);
    return rc;
}

/* Delivers undelivered rows oldest first. Returns -1 if a POST failed (stop and back off),
 * 1 if a full batch went out (more may wait), 0 when done. */
static int deliver_batch(struct hosp_alerts *d)
{
    registry_alert rows[BATCH];
    size_t n = 0;
    if (registry_alerts_undelivered(d->h->reg, rows, BATCH, &n) != MV_OK)
        return -1;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&d->lock);
        int stop = d->stop;
        pthread_mutex_unlock(&d->lock);
        if (stop)
            return 0;
        if (webhook_post(d, &rows[i]) != MV_OK) {
            metric(d->h, "medvault_hospital_webhook_failures_total", "Webhook deliveries that failed (retried)", 1);
            return -1;
        }
        mv_err rc = registry_alert_delivered(d->h->reg, rows[i].id, (uint64_t)time(NULL));
        if (rc != MV_OK && rc != MV_ERR_NOT_FOUND) {
            mv_log(MV_LOG_ERROR, COMPONENT, "webhook: alert %lld delivered but not recorded: %s", (long long)rows[i].id,
                   mv_strerror(rc));
            return -1;
        }
        metric(d->h, "medvault_hospital_webhook_delivered_total", "Alerts delivered to the webhook", 1);
    }
    return n == BATCH ? 1 : 0;
}

static void deadline_in(struct timespec *ts, unsigned s)
{
    mv_mono_deadline(ts, (uint64_t)s * 1000u);
}

static void *delivery_main(void *arg)
{
    struct hosp_alerts *d = arg;
    unsigned backoff = 0;
    struct timespec next;
    deadline_in(&next, 0);
    pthread_mutex_lock(&d->lock);
    d->kick = 1; /* deliver any backlog at once */
    while (!d->stop) {
        /* Wait for a new alert or the periodic rescan (rows another process may have added).
         * While backing off, new alerts do not shorten the wait: a dead webhook is not hammered. */
        while (!d->stop && (backoff || !d->kick))
            if (pthread_cond_timedwait(&d->wake, &d->lock, &next) == ETIMEDOUT)
                break;
        if (d->stop)
            break;
        d->kick = 0;
        pthread_mutex_unlock(&d->lock);
        int r = deliver_batch(d);
        pthread_mutex_lock(&d->lock);
        if (r < 0) {
            backoff = backoff ? (backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : backoff * 2) : BACKOFF_MIN_S;
            deadline_in(&next, backoff);
        } else {
            backoff = 0;
            if (r > 0)
                d->kick = 1;
            deadline_in(&next, SCAN_S);
        }
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

mv_err hosp_alerts_start(struct hosp *h)
{
    struct hosp_alerts *d;
    pthread_condattr_t ca;
    if (!h || h->alerts)
        return MV_ERR_INVAL;
    if (!(d = mv_calloc(1, sizeof *d)))
        return MV_ERR_NOMEM;
    d->h = h;
    snprintf(d->url, sizeof d->url, "%s", h->cfg->webhook_url);
    if (pthread_mutex_init(&d->lock, NULL) != 0) {
        mv_free(d);
        return MV_ERR_BAD_STATE;
    }
    if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&d->wake, &ca) != 0) {
        pthread_mutex_destroy(&d->lock);
        mv_free(d);
        return MV_ERR_BAD_STATE;
    }
    pthread_condattr_destroy(&ca);
    if (h->cfg->syslog) {
        openlog("medvault-hospital", LOG_PID, LOG_AUTH);
        d->syslog_open = 1;
    }
    h->alerts = d;
    metric(h, "medvault_hospital_alerts_total", "Alert occurrences recorded (after aggregation into rows)", 0);
    if (d->url[0]) {
        metric(h, "medvault_hospital_webhook_delivered_total", "Alerts delivered to the webhook", 0);
        metric(h, "medvault_hospital_webhook_failures_total", "Webhook deliveries that failed (retried)", 0);
        if (pthread_create(&d->thread, NULL, delivery_main, d) != 0) {
            hosp_alerts_stop(h);
            return MV_ERR_BAD_STATE;
        }
        d->have_thread = 1;
        mv_log(MV_LOG_INFO, COMPONENT, "alerts: delivering to the webhook %s%s", d->url,
               d->syslog_open ? " and to syslog" : "");
    } else if (d->syslog_open) {
        mv_log(MV_LOG_INFO, COMPONENT, "alerts: delivering to syslog (no webhook)");
    }
    return MV_OK;
}

void hosp_alerts_stop(struct hosp *h)
{
    struct hosp_alerts *d = h ? h->alerts : NULL;
    if (!d)
        return;
    if (d->have_thread) {
        pthread_mutex_lock(&d->lock);
        d->stop = 1;
        pthread_cond_signal(&d->wake);
        pthread_mutex_unlock(&d->lock);
        pthread_join(d->thread, NULL);
    }
    if (d->syslog_open)
        closelog();
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->lock);
    h->alerts = NULL;
    mv_free(d);
}

/* ---------- POST /v1/alerts ---------- */

void hosp_alerts_post(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                      const char *param)
{
    mv_json *root = NULL;
    mv_alert a;
    uint64_t n = 1;
    (void)param;
    if (hosp_json_body(req, resp, &root))
        goto out;
    if (mv_alert_from_json(root, &a, &n) != MV_OK) {
        mv_http_respond_json_error(resp, 400,
                                   "expected {\"at\":N,\"kind\":\"decoy_served|honeytoken|stepup_failed|"
                                   "credential_misuse\",\"principal\":\"hex|\",\"address\",\"object\",\"reason\","
                                   "\"count\":N}");
        goto out;
    }
    /* The source is who signed, not what the body claims; a storage server may speak for its
     * decoy role. */
    const char *role = caller->cred.role;
    const char *source = mv_role_of(role) == MV_ROLE_STORAGE && !strcmp(a.source, "decoy") ? "decoy" : role;
    snprintf(a.source, sizeof a.source, "%s", source);
    hosp_alert_raise(h, &a, n);
    mv_http_respond_fmt(resp, 200, "{\"accepted\":%llu}", (unsigned long long)n);
out:
    mv_json_free(root);
}
