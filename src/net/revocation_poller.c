/* revocation_poller.c - the services' poller keeps the last good revocation list whatever the
 * network does: a list is installed only if it verifies under the hospital key and is not
 * older than the installed one. */
#include "medvault/mv_revocation_poller.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medvault/mv_clock.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"

#define WARN_EVERY_S 60.0
#define COMPONENT_MAX 32
#define PATH "/v1/revocations"
/* The MVL1 header (64 bytes), the most keys a list may name, the signature (mv_revocation.h). */
#define LIST_BYTES_MAX ((size_t)64 + 32 * (size_t)MV_REVOCATION_MAX + 64)

struct mv_revocation_poller {
    char url[MV_REVOCATION_URL_MAX];
    char component[COMPONENT_MAX + 1];
    char gauge[MV_METRICS_MAX_NAME], counter[MV_METRICS_MAX_NAME];
    uint8_t hospital_pk[32];
    unsigned interval;
    long timeout_ms;
    mv_auth_verifier *verifier;
    mv_metrics *metrics;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;
    int stop;
    double last_warn;       /* monotonic seconds of the last WARN line, < 0 = never */
    unsigned long failures; /* since the last good list */
    uint64_t logged_serial; /* the last serial announced at INFO */
    pthread_t thread;
};

static int component_ok(const char *c)
{
    size_t n = 0;
    for (; c[n]; n++)
        if (n >= COMPONENT_MAX || !((c[n] >= 'a' && c[n] <= 'z') || (c[n] >= '0' && c[n] <= '9') || c[n] == '_'))
            return 0;
    return n > 0;
}

/* http(s)://authority[/path] of printable ASCII without userinfo, query or fragment (the URL
 * is logged, so it must not be able to carry a password). */
static int url_copy(char *dst, size_t cap, const char *url)
{
    size_t n = strnlen(url, cap);
    size_t skip = !strncmp(url, "http://", 7) ? 7 : !strncmp(url, "https://", 8) ? 8 : 0;
    if (skip == 0 || n + sizeof PATH > cap || n == skip)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f || url[i] == '@' || url[i] == '?' ||
            url[i] == '#' || url[i] == '\\')
            return 0;
    if (url[skip] == '/')
        return 0;
    while (n > skip && url[n - 1] == '/')
        n--;
    memcpy(dst, url, n);
    memcpy(dst + n, PATH, sizeof PATH);
    return 1;
}

int mv_revocation_url_ok(const char *url)
{
    char tmp[MV_REVOCATION_URL_MAX];
    return url && url_copy(tmp, sizeof tmp, url);
}

static void metrics_update(mv_revocation_poller *p, int failed)
{
    if (!p->metrics)
        return;
    /* Best effort: a full registry drops the sample. Delta 0 still creates the series. */
    (void)!mv_metrics_counter_add(p->metrics, p->counter, "Revocation list fetches that failed", NULL,
                                  failed ? 1 : 0);
    (void)!mv_metrics_gauge_set(p->metrics, p->gauge, "Serial of the installed revocation list (0 = none)", NULL,
                               (double)mv_auth_verifier_revocation_serial(p->verifier));
}

/* One fetch, verify and install. why receives a short reason on failure. */
static mv_err fetch(mv_revocation_poller *p, mv_revocation_list *l, char *why, size_t why_cap)
{
    mv_httpc_call c;
    mv_err rc;
    mv_httpc_call_init(&c);
    c.method = "GET";
    c.url = p->url;
    c.timeout_ms = p->timeout_ms;
    c.response.max = LIST_BYTES_MAX;
    if ((rc = mv_httpc_run(&c, 1)) == MV_OK)
        rc = c.rc;
    if (rc != MV_OK) {
        snprintf(why, why_cap, "cannot fetch it: %s", mv_strerror(rc));
        goto out;
    }
    if (c.status != 200) {
        rc = MV_ERR_HTTP;
        snprintf(why, why_cap, "the hospital answered HTTP %ld", c.status);
        goto out;
    }
    if ((rc = mv_revocation_verify(c.response.ptr, c.response.len, p->hospital_pk, l)) != MV_OK) {
        snprintf(why, why_cap, "the list does not verify under the hospital key: %s", mv_strerror(rc));
        goto out;
    }
    if ((rc = mv_auth_verifier_set_revocations(p->verifier, l)) != MV_OK) {
        if (rc == MV_ERR_BAD_STATE)
            snprintf(why, why_cap, "the hospital served serial %llu, older than the installed %llu",
                     (unsigned long long)l->serial,
                     (unsigned long long)mv_auth_verifier_revocation_serial(p->verifier));
        else
            snprintf(why, why_cap, "cannot install it: %s", mv_strerror(rc));
    }
out:
    mv_httpc_call_clear(&c);
    return rc;
}

mv_err mv_revocation_poller_poll_now(mv_revocation_poller *p)
{
    mv_revocation_list l;
    char why[160] = "";
    if (!p)
        return MV_ERR_INVAL;
    memset(&l, 0, sizeof l);
    mv_err rc = fetch(p, &l, why, sizeof why);
    double now = mv_mono_seconds();
    int warn = 0, recovered = 0, changed = 0;
    unsigned long failures;
    pthread_mutex_lock(&p->lock);
    if (rc == MV_OK && l.serial != p->logged_serial) {
        p->logged_serial = l.serial;
        changed = 1;
    }
    if (rc != MV_OK) {
        p->failures++;
        if (p->last_warn < 0 || now - p->last_warn >= WARN_EVERY_S) {
            p->last_warn = now;
            warn = 1;
        }
    } else {
        recovered = p->failures > 0;
        p->failures = 0;
        p->last_warn = -1;
    }
    failures = p->failures;
    pthread_mutex_unlock(&p->lock);
    metrics_update(p, rc != MV_OK);
    if (warn) {
        uint64_t serial = mv_auth_verifier_revocation_serial(p->verifier);
        if (serial)
            mv_log(MV_LOG_WARN, p->component,
                   "revocation list from %s: %s (%lu failed in a row; keeping serial %llu)", p->url, why, failures,
                   (unsigned long long)serial);
        else
            mv_log(MV_LOG_WARN, p->component,
                   "revocation list from %s: %s (%lu failed in a row; no list yet: revoked users are refused only "
                   "when their credential expires)",
                   p->url, why, failures);
    } else if (recovered || changed) {
        mv_log(MV_LOG_INFO, p->component, "revocation list %s: serial %llu, %zu keys%s", p->url,
               (unsigned long long)l.serial, l.n, recovered ? " (fetched again after failures)" : "");
    }
    mv_revocation_list_clear(&l);
    return rc;
}

static void *poller_main(void *arg)
{
    mv_revocation_poller *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        struct timespec deadline;
        mv_mono_deadline(&deadline, (uint64_t)p->interval * 1000u);
        while (!p->stop) {
            int e = pthread_cond_timedwait(&p->wake, &p->lock, &deadline);
            if (e == ETIMEDOUT)
                break;
        }
        if (p->stop)
            break;
        pthread_mutex_unlock(&p->lock);
        (void)!mv_revocation_poller_poll_now(p); /* the outcome is logged there */
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

mv_err mv_revocation_poller_start(const mv_revocation_poller_config *cfg, mv_revocation_poller **out)
{
    mv_revocation_poller *p = NULL;
    pthread_condattr_t ca;
    int have_lock = 0, have_cond = 0;
    mv_err rc = MV_ERR_INVAL;
    if (!out)
        return MV_ERR_INVAL;
    *out = NULL;
    if (!cfg || !cfg->hospital_url || !cfg->verifier || !cfg->component || !component_ok(cfg->component) ||
        cfg->interval_seconds < 1 || cfg->interval_seconds > MV_REVOCATION_MAX_INTERVAL)
        return MV_ERR_INVAL;
    if (!(p = mv_calloc(1, sizeof *p)))
        return MV_ERR_NOMEM;
    if (!url_copy(p->url, sizeof p->url, cfg->hospital_url))
        goto out;
    snprintf(p->component, sizeof p->component, "%s", cfg->component);
    snprintf(p->gauge, sizeof p->gauge, "medvault_%s_revocation_serial", cfg->component);
    snprintf(p->counter, sizeof p->counter, "medvault_%s_revocation_failures_total", cfg->component);
    memcpy(p->hospital_pk, cfg->hospital_pk, 32);
    p->interval = cfg->interval_seconds;
    p->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms
                                        : (p->interval * 1000L < 5000 ? (long)p->interval * 1000L : 5000);
    p->verifier = cfg->verifier;
    p->metrics = cfg->metrics;
    p->last_warn = -1;
    rc = MV_ERR_BAD_STATE;
    if (pthread_mutex_init(&p->lock, NULL) != 0)
        goto out;
    have_lock = 1;
    if (pthread_condattr_init(&ca) != 0)
        goto out;
    /* The wait is on the monotonic clock: a wall-clock step neither stalls nor floods it. */
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 || pthread_cond_init(&p->wake, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        goto out;
    }
    pthread_condattr_destroy(&ca);
    have_cond = 1;
    (void)!mv_revocation_poller_poll_now(p); /* a failure is only the warning */
    if (pthread_create(&p->thread, NULL, poller_main, p) != 0)
        goto out;
    *out = p;
    p = NULL;
    rc = MV_OK;
out:
    if (p) {
        if (have_cond)
            pthread_cond_destroy(&p->wake);
        if (have_lock)
            pthread_mutex_destroy(&p->lock);
        mv_free(p);
    }
    return rc;
}

void mv_revocation_poller_stop(mv_revocation_poller *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    mv_free(p);
}

mv_err mv_revocation_poller_start_service(const char *hospital_url, const uint8_t hospital_pk[static 32],
                                          unsigned interval_seconds, mv_auth_verifier *verifier,
                                          mv_metrics *metrics, const char *component, mv_revocation_poller **out)
{
    if (!out || !hospital_pk || !component)
        return MV_ERR_INVAL;
    *out = NULL;
    if (!hospital_url || !hospital_url[0]) {
        mv_log(MV_LOG_INFO, component,
               "no hospital_url: revocations are not polled (revoked users are refused only when their "
               "credential expires)");
        return MV_OK;
    }
    mv_revocation_poller_config pc = {
        .hospital_url = hospital_url,
        .interval_seconds = interval_seconds,
        .verifier = verifier,
        .metrics = metrics,
        .component = component,
    };
    memcpy(pc.hospital_pk, hospital_pk, 32);
    mv_err rc = mv_revocation_poller_start(&pc, out);
    if (rc != MV_OK)
        mv_log(MV_LOG_ERROR, component, "cannot poll revocations (hospital_url, revocation_poll_seconds 1..%u): %s",
               MV_REVOCATION_MAX_INTERVAL, mv_strerror(rc));
    return rc;
}
