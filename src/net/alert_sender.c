/* alert_sender.c - alerts leave a service as signed requests carrying only identifiers and fixed
 * reasons (never record content or secrets), and reporting never blocks or is blocked by the
 * request path: a bounded queue, coalescing and a background sender. */
#include "medvault/mv_alert.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "medvault/mv_clock.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"

#define PATH "/v1/alerts"
#define URL_MAX 1024
#define BACKOFF_MIN 1.0
#define BACKOFF_MAX 60.0
#define POST_TIMEOUT_MS 5000L
#define STOP_BUDGET_S 3.0
#define STOP_POST_TIMEOUT_MS 1500L

static const char *const KINDS[] = {"decoy_served", "honeytoken", "stepup_failed", "credential_misuse"};

int mv_alert_kind_ok(const char *kind)
{
    if (!kind)
        return 0;
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++)
        if (strcmp(kind, KINDS[i]) == 0)
            return 1;
    return 0;
}

/* Copies s into dst[cap] truncated, printable ASCII only (others become '?'). */
static void field_copy(char *dst, size_t cap, const char *s)
{
    size_t i = 0;
    if (s)
        for (; s[i] && i + 1 < cap; i++)
            dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    dst[i] = '\0';
}

void mv_alert_fill(mv_alert *a, uint64_t at, const char *source, const char *kind, const uint8_t *principal_pk,
                   const char *address, const char *object, const char *reason)
{
    if (!a)
        return;
    memset(a, 0, sizeof *a);
    a->at = at;
    field_copy(a->source, sizeof a->source, source);
    field_copy(a->kind, sizeof a->kind, kind);
    if (principal_pk)
        (void)mv_hex_encode(a->principal, sizeof a->principal, principal_pk, 32);
    field_copy(a->address, sizeof a->address, address);
    field_copy(a->object, sizeof a->object, object);
    field_copy(a->reason, sizeof a->reason, reason);
}

/* A fixed-size field: NUL-terminated unless it fills its array. */
static void put_field(mv_jw *w, const char *name, const char *v, size_t cap)
{
    mv_jw_key(w, name);
    mv_jw_strn(w, v, strnlen(v, cap));
}

mv_err mv_alert_to_json(const mv_alert *a, uint64_t count, mv_buf *out)
{
    if (!a || !out)
        return MV_ERR_INVAL;
    mv_jw w;
    mv_jw_init(&w, out);
    mv_jw_obj(&w);
    mv_jw_ku64(&w, "at", a->at);
    put_field(&w, "source", a->source, sizeof a->source);
    put_field(&w, "kind", a->kind, sizeof a->kind);
    put_field(&w, "principal", a->principal, sizeof a->principal);
    put_field(&w, "address", a->address, sizeof a->address);
    put_field(&w, "object", a->object, sizeof a->object);
    put_field(&w, "reason", a->reason, sizeof a->reason);
    mv_jw_ku64(&w, "count", count);
    mv_jw_obj_end(&w);
    return mv_jw_finish(&w);
}

/* obj[key] as printable ASCII fitting dst[cap]; absent = "" if optional. */
static int get_field(const mv_json *obj, const char *key, char *dst, size_t cap, int optional)
{
    size_t n = 0;
    const mv_json *v = mv_json_get(obj, key);
    if (!v) {
        dst[0] = '\0';
        return optional;
    }
    const char *s = mv_json_str(v, &n);
    if (!s || n >= cap)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] >= 0x7f)
            return 0;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 1;
}

mv_err mv_alert_from_json(const mv_json *obj, mv_alert *a, uint64_t *count)
{
    if (!obj || !a || !count)
        return MV_ERR_INVAL;
    memset(a, 0, sizeof *a);
    *count = 1;
    if (mv_json_type_of(obj) != MV_JSON_OBJECT || mv_json_get_u64(obj, "at", &a->at) != MV_OK)
        goto bad;
    if (mv_json_get(obj, "count") &&
        (mv_json_get_u64(obj, "count", count) != MV_OK || *count < 1 || *count > MV_ALERT_COUNT_MAX))
        goto bad;
    if (!get_field(obj, "source", a->source, sizeof a->source, 1) ||
        !get_field(obj, "kind", a->kind, sizeof a->kind, 0) || !mv_alert_kind_ok(a->kind) ||
        !get_field(obj, "principal", a->principal, sizeof a->principal, 1) ||
        !get_field(obj, "address", a->address, sizeof a->address, 1) ||
        !get_field(obj, "object", a->object, sizeof a->object, 1) ||
        !get_field(obj, "reason", a->reason, sizeof a->reason, 1))
        goto bad;
    size_t pl = strlen(a->principal);
    if (pl != 0 && !mv_is_lower_hex(a->principal, 64))
        goto bad;
    return MV_OK;
bad:
    memset(a, 0, sizeof *a);
    *count = 1;
    return MV_ERR_PARSE;
}

/* ---- the reporter ---- */

typedef struct slot {
    int used;
    mv_alert alert;    /* the latest occurrence */
    uint64_t pending;  /* occurrences not yet posted */
    int posted;        /* the key was posted at least once in this window */
    double window_at;  /* monotonic start of the current window */
} slot;

struct mv_alert_reporter {
    char url[URL_MAX];
    const mv_identity *id;
    double window;
    mv_metrics *metrics;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;
    int stop;
    double next_try; /* monotonic; backoff after a failed POST */
    double backoff;
    slot slots[MV_ALERT_QUEUE_MAX];
    pthread_t thread;
};

static void count_metric(mv_metrics *m, const char *name, const char *help)
{
    if (m)
        (void)!mv_metrics_counter_add(m, name, help, NULL, 1);
}

/* The coalescing key: kind, the principal (or the address when unknown), reason. */
static int same_key(const mv_alert *a, const mv_alert *b)
{
    if (strcmp(a->kind, b->kind) != 0 || strcmp(a->reason, b->reason) != 0 || strcmp(a->source, b->source) != 0)
        return 0;
    if (a->principal[0] || b->principal[0])
        return strcmp(a->principal, b->principal) == 0;
    return strcmp(a->address, b->address) == 0;
}

static void log_alert(const mv_alert *a)
{
    mv_log(MV_LOG_WARN, "alert", "%s source=%s principal=%s address=%s object=%s reason=%s", a->kind, a->source,
           a->principal[0] ? a->principal : "-", a->address[0] ? a->address : "-", a->object[0] ? a->object : "-",
           a->reason);
}

void mv_alert_report(mv_alert_reporter *r, const mv_alert *a)
{
    if (!a)
        return;
    log_alert(a);
    if (!r)
        return;
    int dropped = 0;
    pthread_mutex_lock(&r->lock);
    slot *free_slot = NULL, *hit = NULL;
    for (size_t i = 0; i < MV_ALERT_QUEUE_MAX; i++) {
        slot *s = &r->slots[i];
        if (!s->used) {
            if (!free_slot)
                free_slot = s;
        } else if (same_key(&s->alert, a)) {
            hit = s;
            break;
        }
    }
    if (hit) {
        hit->alert = *a;
        if (hit->pending < MV_ALERT_COUNT_MAX)
            hit->pending++;
    } else if (free_slot) {
        memset(free_slot, 0, sizeof *free_slot);
        free_slot->used = 1;
        free_slot->alert = *a;
        free_slot->pending = 1;
        free_slot->window_at = mv_mono_seconds();
    } else {
        dropped = 1;
    }
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    count_metric(r->metrics, dropped ? "medvault_alerts_dropped_total" : "medvault_alerts_reported_total",
                 dropped ? "Alerts dropped because the reporter queue was full" : "Alerts queued for the hospital");
    if (dropped)
        mv_log(MV_LOG_ERROR, "alert", "alert queue full (%d keys): the alert above was not sent to the hospital",
               MV_ALERT_QUEUE_MAX);
}

/* One signed POST. MV_OK only for a 2xx answer. */
static mv_err post(mv_alert_reporter *r, const mv_alert *a, uint64_t count, long timeout_ms)
{
    mv_httpc_call c;
    mv_buf body;
    mv_err rc;
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    mv_httpc_call_init(&c);
    mv_buf_init(&body, MV_ALERT_BODY_MAX);
    if ((rc = mv_alert_to_json(a, count, &body)) != MV_OK)
        goto out;
    c.method = "POST";
    c.url = r->url;
    c.headers = hdrs;
    c.body = body.ptr;
    c.body_len = body.len;
    c.timeout_ms = timeout_ms;
    c.response.max = 4096;
    if ((rc = mv_httpc_sign(&c, mv_identity_sign_pk(r->id), mv_identity_sign_sk(r->id), mv_identity_credential(r->id),
                            (uint64_t)time(NULL))) != MV_OK)
        goto out;
    if ((rc = mv_httpc_run(&c, 1)) == MV_OK)
        rc = c.rc;
    if (rc == MV_OK && (c.status < 200 || c.status > 299)) {
        rc = MV_ERR_HTTP;
        mv_log(MV_LOG_WARN, "alert", "the hospital answered HTTP %ld to an alert report", c.status);
    }
out:
    mv_httpc_call_clear(&c);
    mv_buf_clear(&body);
    return rc;
}

/* Posts every slot that is due: a key's first occurrence at once, its repeats when the
 * window closes. Called with the lock held; drops it around each POST. Returns 1 if a POST
 * failed. */
static int flush_due(mv_alert_reporter *r)
{
    for (size_t i = 0; i < MV_ALERT_QUEUE_MAX; i++) {
        slot *s = &r->slots[i];
        double now = mv_mono_seconds();
        if (!s->used)
            continue;
        if (s->pending == 0) {
            if (now - s->window_at >= r->window)
                s->used = 0; /* window over, nothing new: forget the key */
            continue;
        }
        if (s->posted && now - s->window_at < r->window)
            continue;
        mv_alert a = s->alert;
        uint64_t n = s->pending;
        pthread_mutex_unlock(&r->lock);
        mv_err rc = post(r, &a, n, POST_TIMEOUT_MS);
        pthread_mutex_lock(&r->lock);
        if (rc != MV_OK) {
            count_metric(r->metrics, "medvault_alert_post_failures_total", "Alert reports the hospital did not take");
            mv_log(MV_LOG_WARN, "alert", "cannot report an alert to %s: %s (retrying)", r->url, mv_strerror(rc));
            return 1;
        }
        s->pending -= n < s->pending ? n : s->pending;
        s->posted = 1;
        s->window_at = mv_mono_seconds();
    }
    return 0;
}

static double next_due(mv_alert_reporter *r)
{
    double due = mv_mono_seconds() + r->window;
    for (size_t i = 0; i < MV_ALERT_QUEUE_MAX; i++) {
        slot *s = &r->slots[i];
        if (!s->used)
            continue;
        double t = (s->pending && !s->posted) ? s->window_at : s->window_at + r->window;
        if (t < due)
            due = t;
    }
    if (r->next_try > due)
        due = r->next_try;
    return due;
}

static void *reporter_main(void *arg)
{
    mv_alert_reporter *r = arg;
    pthread_mutex_lock(&r->lock);
    while (!r->stop) {
        double due = next_due(r), now = mv_mono_seconds();
        if (due > now) {
            struct timespec ts;
            /* Rounded up to the next millisecond, so the wait never ends before the alert is due. */
            mv_mono_deadline(&ts, (uint64_t)((due - now) * 1000.0) + 1);
            int e = pthread_cond_timedwait(&r->wake, &r->lock, &ts);
            if (e != ETIMEDOUT || r->stop)
                continue; /* woken: recompute (a new alert may be due at once) */
        }
        if (mv_mono_seconds() < r->next_try)
            continue;
        if (flush_due(r)) {
            r->backoff = r->backoff < BACKOFF_MIN ? BACKOFF_MIN : r->backoff * 2;
            if (r->backoff > BACKOFF_MAX)
                r->backoff = BACKOFF_MAX;
            r->next_try = mv_mono_seconds() + r->backoff;
        } else {
            r->backoff = 0;
            r->next_try = 0;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

mv_err mv_alert_reporter_start(const char *hospital_url, const mv_identity *id, uint64_t window_s, mv_metrics *metrics,
                               mv_alert_reporter **out)
{
    mv_alert_reporter *r = NULL;
    pthread_condattr_t ca;
    int have_lock = 0, have_cond = 0;
    mv_err rc = MV_ERR_INVAL;
    if (!out)
        return MV_ERR_INVAL;
    *out = NULL;
    if (!hospital_url || !id || !mv_identity_credential(id) || window_s == 0 || window_s > 86400)
        return MV_ERR_INVAL;
    size_t n = strlen(hospital_url);
    while (n && hospital_url[n - 1] == '/')
        n--;
    if ((strncmp(hospital_url, "http://", 7) != 0 && strncmp(hospital_url, "https://", 8) != 0) ||
        n + sizeof PATH > URL_MAX)
        return MV_ERR_INVAL;
    if (!(r = mv_calloc(1, sizeof *r)))
        return MV_ERR_NOMEM;
    memcpy(r->url, hospital_url, n);
    memcpy(r->url + n, PATH, sizeof PATH);
    r->id = id;
    r->window = (double)window_s;
    r->metrics = metrics;
    rc = MV_ERR_BAD_STATE;
    if (pthread_mutex_init(&r->lock, NULL) != 0)
        goto out;
    have_lock = 1;
    if (pthread_condattr_init(&ca) != 0)
        goto out;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 || pthread_cond_init(&r->wake, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        goto out;
    }
    pthread_condattr_destroy(&ca);
    have_cond = 1;
    if (metrics) {
        (void)!mv_metrics_counter_add(metrics, "medvault_alerts_reported_total", "Alerts queued for the hospital",
                                      NULL, 0);
        (void)!mv_metrics_counter_add(metrics, "medvault_alerts_dropped_total",
                                      "Alerts dropped because the reporter queue was full", NULL, 0);
        (void)!mv_metrics_counter_add(metrics, "medvault_alert_post_failures_total",
                                      "Alert reports the hospital did not take", NULL, 0);
    }
    if (pthread_create(&r->thread, NULL, reporter_main, r) != 0)
        goto out;
    *out = r;
    r = NULL;
    rc = MV_OK;
out:
    if (r) {
        if (have_cond)
            pthread_cond_destroy(&r->wake);
        if (have_lock)
            pthread_mutex_destroy(&r->lock);
        mv_free(r);
    }
    return rc;
}

void mv_alert_reporter_stop(mv_alert_reporter *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    /* Last attempt, bounded: one pass while the budget lasts (each POST times out in 5 s at
     * worst, so a dead hospital costs at most one timeout). */
    double deadline = mv_mono_seconds() + STOP_BUDGET_S;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < MV_ALERT_QUEUE_MAX && mv_mono_seconds() < deadline; i++) {
        slot *s = &r->slots[i];
        if (!s->used || !s->pending)
            continue;
        mv_alert a = s->alert;
        uint64_t n = s->pending;
        pthread_mutex_unlock(&r->lock);
        mv_err rc = post(r, &a, n, STOP_POST_TIMEOUT_MS);
        pthread_mutex_lock(&r->lock);
        if (rc != MV_OK) {
            mv_log(MV_LOG_WARN, "alert", "at shutdown: queued alert reports not delivered to %s: %s", r->url,
                   mv_strerror(rc));
            break;
        }
        s->pending = 0;
    }
    pthread_mutex_unlock(&r->lock);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    mv_free(r);
}
