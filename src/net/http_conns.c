/* http_conns.c - no connection holds a server slot longer than its deadline, however slowly it
 * trickles, and one address flooding the server evicts its own connections, not others'. */
#include "net/http_conns.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "medvault/mv_clock.h"
#include "medvault/mv_mem.h"

/* The reaper checks deadlines this often at most (a shorter header timeout checks more often,
 * so that a test's 1-second deadline is kept to within a quarter of it). */
#define REAPER_PERIOD_MS 250
#define REAPER_PERIOD_MIN_MS 10

typedef enum phase { PH_WAITING, PH_BODY, PH_HANDLER, PH_SENDING } phase;

/* Why a connection was shut down: the label of <component>_http_connections_closed_total. */
typedef enum reason {
    R_HEAD_TIMEOUT,
    R_BODY_TOO_SLOW,
    R_RESPONSE_TOO_SLOW,
    R_EVICTED_PER_ADDRESS,
    R_EVICTED_TABLE_FULL,
    R_BAD_FRAMING,
    R_COUNT
} reason;

static const char *const reason_labels[R_COUNT] = {
    "reason=\"head_timeout\"",         "reason=\"body_too_slow\"",        "reason=\"response_too_slow\"",
    "reason=\"evicted_per_address\"", "reason=\"evicted_table_full\"", "reason=\"bad_framing\"",
};

struct mv_httpconn {
    mv_httpconn *prev, *next;
    int fd;
    uint32_t addr;
    void *owner;
    pthread_t thread; /* the server thread that accepted it (and serves it) */
    phase ph;
    uint64_t since_ms;    /* when the phase began */
    uint64_t deadline_ms; /* WAITING and SENDING */
    uint64_t body_bytes;  /* BODY */
    int shut;             /* shut down here: not counted as live, never shut again */
};

struct mv_httpconns {
    mv_httpconns_config cfg;
    char closed_metric[128];
    char open_metric[128];
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t reaper;
    int stop;
    mv_httpconn *head, *tail; /* in accept order */
    size_t n;                 /* in the table */
    size_t n_live;            /* in the table and not shut down */
};

/* a * b / 1000 without overflow (saturating): the bytes a rate delivers in ms milliseconds. */
static uint64_t per_ms(uint64_t rate, uint64_t ms)
{
    if (ms != 0 && rate > UINT64_MAX / ms)
        return UINT64_MAX;
    return rate * ms / 1000u;
}

static void publish(mv_httpconns *t, const uint64_t counts[R_COUNT], size_t open)
{
    if (!t->cfg.metrics)
        return;
    /* Metric failures (a cap) never affect connections. */
    for (int r = 0; r < R_COUNT; r++)
        if (counts[r])
            (void)!mv_metrics_counter_add(t->cfg.metrics, t->closed_metric,
                                          "Connections the HTTP server shut down, by reason.", reason_labels[r],
                                          counts[r]);
    (void)!mv_metrics_gauge_set(t->cfg.metrics, t->open_metric, "Open HTTP connections.", NULL, (double)open);
}

/* 1 if bytes the client sent wait unread in the kernel: the server, not the client, is behind
 * (its worker thread is busy in a long request), so a read deadline must not count against
 * the client. A trickler's few bytes are read as soon as they arrive. Lock held. */
static int server_behind(const mv_httpconn *c)
{
    int pending = 0;
    return ioctl(c->fd, FIONREAD, &pending) == 0 && pending > 0;
}

/* Lock held. */
static void shut_locked(mv_httpconns *t, mv_httpconn *c)
{
    (void)shutdown(c->fd, SHUT_RDWR);
    c->shut = 1;
    t->n_live--;
}

static void *reaper_main(void *arg)
{
    mv_httpconns *t = arg;
    uint64_t period = t->cfg.header_timeout_ms / 4;
    if (period > REAPER_PERIOD_MS)
        period = REAPER_PERIOD_MS;
    if (period < REAPER_PERIOD_MIN_MS)
        period = REAPER_PERIOD_MIN_MS;
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        struct timespec until;
        mv_mono_deadline(&until, period);
        (void)pthread_cond_timedwait(&t->wake, &t->lock, &until);
        if (t->stop)
            break;
        uint64_t now = mv_mono_ms(), counts[R_COUNT] = {0};
        for (mv_httpconn *c = t->head; c; c = c->next) {
            if (c->shut)
                continue;
            switch (c->ph) {
            case PH_WAITING:
            case PH_SENDING:
                if (now >= c->deadline_ms && (c->ph == PH_SENDING || !server_behind(c))) {
                    shut_locked(t, c);
                    counts[c->ph == PH_WAITING ? R_HEAD_TIMEOUT : R_RESPONSE_TOO_SLOW]++;
                }
                break;
            case PH_BODY: {
                /* An average rate since the head, after a grace: a client that pauses and then
                 * catches up is fine, a trickle falls further behind every second. */
                uint64_t elapsed = now - c->since_ms, grace = t->cfg.header_timeout_ms;
                if (elapsed > grace && c->body_bytes < per_ms(t->cfg.min_rate, elapsed - grace) &&
                    !server_behind(c)) {
                    shut_locked(t, c);
                    counts[R_BODY_TOO_SLOW]++;
                }
                break;
            }
            case PH_HANDLER:
                break;
            }
        }
        size_t open = t->n;
        pthread_mutex_unlock(&t->lock);
        publish(t, counts, open);
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

mv_err mv_httpconns_new(const mv_httpconns_config *cfg, mv_httpconns **out)
{
    mv_httpconns *t = NULL;
    pthread_condattr_t ca;
    int lock_ok = 0, cond_ok = 0;
    mv_err rc = MV_ERR_INVAL;
    if (!out)
        return MV_ERR_INVAL;
    *out = NULL;
    if (!cfg || !cfg->header_timeout_ms || !cfg->min_rate || !cfg->max_connections || !cfg->max_pending_per_addr)
        goto out;
    rc = MV_ERR_NOMEM;
    if (!(t = mv_calloc(1, sizeof *t)))
        goto out;
    t->cfg = *cfg;
    t->cfg.component = NULL; /* not kept: only the metric names built from it */
    snprintf(t->closed_metric, sizeof t->closed_metric, "%s_http_connections_closed_total",
             cfg->component ? cfg->component : "medvault");
    snprintf(t->open_metric, sizeof t->open_metric, "%s_http_connections_open",
             cfg->component ? cfg->component : "medvault");
    if (pthread_mutex_init(&t->lock, NULL) != 0)
        goto out;
    lock_ok = 1;
    /* The reaper's waits are measured on the monotonic clock (a wall-clock step must not
     * stop or rush it). */
    if (pthread_condattr_init(&ca) != 0)
        goto out;
    int ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&t->wake, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!ok)
        goto out;
    cond_ok = 1;
    if (pthread_create(&t->reaper, NULL, reaper_main, t) != 0)
        goto out;
    *out = t;
    t = NULL;
    rc = MV_OK;
out:
    if (t) {
        if (cond_ok)
            pthread_cond_destroy(&t->wake);
        if (lock_ok)
            pthread_mutex_destroy(&t->lock);
        mv_free(t);
    }
    return rc;
}

void mv_httpconns_free(mv_httpconns *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->stop = 1;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->reaper, NULL);
    for (mv_httpconn *c = t->head; c;) {
        mv_httpconn *next = c->next;
        mv_free(c);
        c = next;
    }
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    mv_free(t);
}

/* The connection WAITING longest (of address addr unless any_addr), or NULL. Lock held. */
static mv_httpconn *oldest_waiting(mv_httpconns *t, uint32_t addr, int any_addr, size_t *same)
{
    mv_httpconn *oldest = NULL;
    *same = 0;
    for (mv_httpconn *c = t->head; c; c = c->next) {
        if (c->shut || c->ph != PH_WAITING || (!any_addr && c->addr != addr))
            continue;
        (*same)++;
        if (!oldest || c->since_ms < oldest->since_ms)
            oldest = c;
    }
    return oldest;
}

mv_httpconn *mv_httpconn_open(mv_httpconns *t, int fd, uint32_t addr, void *owner)
{
    uint64_t counts[R_COUNT] = {0};
    mv_httpconn *c;
    size_t same, open;
    if (!t || !(c = mv_calloc(1, sizeof *c)))
        return NULL;
    c->fd = fd;
    c->addr = addr;
    c->owner = owner;
    c->thread = pthread_self();
    c->ph = PH_WAITING;
    c->since_ms = mv_mono_ms();
    c->deadline_ms = c->since_ms + t->cfg.header_timeout_ms;
    pthread_mutex_lock(&t->lock);
    mv_httpconn *victim = oldest_waiting(t, addr, 0, &same);
    if (victim && same >= t->cfg.max_pending_per_addr) {
        shut_locked(t, victim);
        counts[R_EVICTED_PER_ADDRESS]++;
    } else if (t->n_live + 1 > t->cfg.max_connections - t->cfg.max_connections / 8 &&
               (victim = oldest_waiting(t, 0, 1, &same)) != NULL) {
        /* Near the server's own limit, where it would refuse new connections outright. */
        shut_locked(t, victim);
        counts[R_EVICTED_TABLE_FULL]++;
    }
    c->prev = t->tail;
    if (t->tail)
        t->tail->next = c;
    else
        t->head = c;
    t->tail = c;
    t->n++;
    t->n_live++;
    open = t->n;
    pthread_mutex_unlock(&t->lock);
    if (counts[R_EVICTED_PER_ADDRESS] || counts[R_EVICTED_TABLE_FULL])
        publish(t, counts, open);
    return c;
}

void mv_httpconn_close(mv_httpconns *t, mv_httpconn *c)
{
    if (!t || !c)
        return;
    pthread_mutex_lock(&t->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        t->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        t->tail = c->prev;
    t->n--;
    if (!c->shut)
        t->n_live--;
    pthread_mutex_unlock(&t->lock);
    mv_free(c);
}

static void set_phase(mv_httpconns *t, mv_httpconn *c, phase ph, uint64_t deadline_extra_ms)
{
    if (!t || !c)
        return;
    uint64_t now = mv_mono_ms();
    pthread_mutex_lock(&t->lock);
    c->ph = ph;
    c->since_ms = now;
    c->body_bytes = 0;
    c->deadline_ms = now + t->cfg.header_timeout_ms + deadline_extra_ms;
    pthread_mutex_unlock(&t->lock);
}

void mv_httpconn_head_done(mv_httpconns *t, mv_httpconn *c) { set_phase(t, c, PH_BODY, 0); }
void mv_httpconn_handling(mv_httpconns *t, mv_httpconn *c) { set_phase(t, c, PH_HANDLER, 0); }
void mv_httpconn_waiting(mv_httpconns *t, mv_httpconn *c) { set_phase(t, c, PH_WAITING, 0); }

void mv_httpconn_sending(mv_httpconns *t, mv_httpconn *c, size_t response_len)
{
    if (!t)
        return;
    /* Time to read the response at the minimum rate, on top of the grace (a response is at
     * most MV_HTTP_RESPONSE_MAX bytes, so this cannot overflow). */
    uint64_t ms = (uint64_t)response_len * 1000u / t->cfg.min_rate;
    set_phase(t, c, PH_SENDING, ms);
}

void mv_httpconn_body(mv_httpconns *t, mv_httpconn *c, size_t n)
{
    if (!t || !c)
        return;
    pthread_mutex_lock(&t->lock);
    c->body_bytes = c->body_bytes > UINT64_MAX - n ? UINT64_MAX : c->body_bytes + n;
    pthread_mutex_unlock(&t->lock);
}

int mv_httpconns_rescue(mv_httpconns *t, int (*match)(void *owner, void *arg), void *arg, const void *resp,
                        size_t len)
{
    uint64_t counts[R_COUNT] = {0};
    int found = 0;
    size_t open;
    if (!t || !match)
        return 0;
    pthread_t self = pthread_self();
    pthread_mutex_lock(&t->lock);
    for (mv_httpconn *c = t->head; c; c = c->next) {
        if (c->shut || c->ph != PH_WAITING || !pthread_equal(c->thread, self) || !match(c->owner, arg))
            continue;
        /* Nothing was sent on this connection since its last response completed, and its socket
         * buffer is empty: a small answer goes out whole or not at all (non-blocking). */
        if (resp && len)
            (void)!send(c->fd, resp, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        shut_locked(t, c);
        counts[R_BAD_FRAMING]++;
        found = 1;
        break;
    }
    open = t->n;
    pthread_mutex_unlock(&t->lock);
    if (found)
        publish(t, counts, open);
    return found;
}

void mv_httpconns_drain(mv_httpconns *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    for (mv_httpconn *c = t->head; c; c = c->next)
        if (!c->shut && c->ph == PH_WAITING)
            shut_locked(t, c);
    pthread_mutex_unlock(&t->lock);
}

size_t mv_httpconns_count(mv_httpconns *t)
{
    if (!t)
        return 0;
    pthread_mutex_lock(&t->lock);
    size_t n = t->n;
    pthread_mutex_unlock(&t->lock);
    return n;
}
