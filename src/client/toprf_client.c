/* toprf_client.c - threshold VOPRF client: every partial evaluation is checked against its
 * server's pinned public share before it is used, so a wrong share cannot poison a key; a
 * server that does not answer is hedged around after a short delay, never waited for. */
#include "medvault/mv_toprf.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_oprf.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_shamir.h"

const char *mv_toprf_status_name(mv_toprf_status s)
{
    switch (s) {
    case MV_TOPRF_UNUSED: return "unused";
    case MV_TOPRF_OK: return "ok";
    case MV_TOPRF_DOWN: return "down";
    case MV_TOPRF_BAD_PROOF: return "bad-proof";
    case MV_TOPRF_BAD_RESPONSE: return "bad-response";
    case MV_TOPRF_RATE_LIMITED: return "rate-limited";
    case MV_TOPRF_REFUSED: return "refused";
    case MV_TOPRF_SLOW: return "slow";
    }
    return "unknown";
}

static double now_s(void)
{
    return mv_mono_seconds();
}

/* Checks one server's answer: parses it and verifies the batched proof against the pinned
 * public share. On success evaluated[0..count*32) holds the partial evaluations. */
static mv_toprf_status check_answer(const mv_keyserver_entry *srv, const mv_httpc_call *c, const uint8_t *blinded,
                                    size_t count, uint8_t *evaluated)
{
    mv_json *root = NULL;
    uint8_t proof[MV_OPRF_PROOF_BYTES];
    uint64_t idx = 0;
    mv_toprf_status st = MV_TOPRF_BAD_RESPONSE;
    if (c->rc != MV_OK)
        return MV_TOPRF_DOWN;
    if (c->status == 429)
        return MV_TOPRF_RATE_LIMITED;
    if (c->status != 200)
        return MV_TOPRF_REFUSED;
    if (mv_json_parse((const char *)c->response.ptr, c->response.len, NULL, &root, NULL) != MV_OK)
        goto out;
    if (mv_json_get_u64(root, "index", &idx) != MV_OK || idx != srv->index)
        goto out;
    const mv_json *ev = mv_json_get(root, "evaluated");
    if (mv_json_type_of(ev) != MV_JSON_ARRAY || mv_json_len(ev) != count)
        goto out;
    for (size_t i = 0; i < count; i++) {
        size_t sl = 0;
        const char *s = mv_json_str(mv_json_at(ev, i), &sl);
        if (!s || mv_hex_decode_exact(evaluated + i * 32, 32, s, sl) != MV_OK)
            goto out;
    }
    if (mv_json_get_hex(root, "proof", proof, sizeof proof) != MV_OK)
        goto out;
    st = mv_voprf_verify(srv->public_share, blinded, evaluated, count, proof) == MV_OK ? MV_TOPRF_OK
                                                                                       : MV_TOPRF_BAD_PROOF;
out:
    mv_json_free(root);
    return st;
}

static mv_err build_body(mv_buf *body, const uint8_t *blinded, size_t count)
{
    mv_err rc = mv_buf_puts(body, "{\"blinded\":[");
    for (size_t i = 0; rc == MV_OK && i < count; i++) {
        if (i && (rc = mv_buf_puts(body, ",")) != MV_OK)
            break;
        rc = mv_json_write_hex(body, blinded + i * 32, 32);
    }
    if (rc == MV_OK)
        rc = mv_buf_puts(body, "]}");
    return rc;
}

/* ---------- one batch, hedged ----------
 *
 * Every request of a batch runs on its own thread, so the caller can go on as soon as t
 * verifying answers are in instead of waiting for the slowest server (libcurl cannot hand
 * back a finished call while others of the same batch still run). A request still running
 * when the batch is done finishes by itself within its timeout: it holds a reference to the
 * shared state below, never to the caller's buffers, and the last reference frees it. */

enum { ASK_IDLE = 0, ASK_RUNNING, ASK_DONE, ASK_SEEN };

struct hedge;

struct ask {
    struct hedge *h;
    size_t srv;                           /* position in h->srv */
    mv_httpc_call call;
    char url[MV_DEPLOY_URL_MAX + 32];
    uint8_t *evaluated;                   /* count * 32: filled by a verifying answer */
    double started;
    /* Under h->lock: */
    int state;
    int answered;                         /* an HTTP answer (or error) arrived; being verified */
    int late;                             /* no answer within the hedge delay: no longer counted on */
    mv_toprf_status st;
    double seconds;                       /* until the HTTP answer, verification excluded */
};

struct hedge {
    pthread_mutex_t lock;
    pthread_cond_t cond;                  /* signalled whenever an ask is done */
    size_t refs;                          /* the caller plus every running thread */
    size_t count;
    uint8_t *blinded;                     /* count * 32, a copy the threads may read after the caller left */
    mv_buf body;
    mv_keyserver_entry srv[MV_DEPLOY_MAX_SERVERS];
    struct ask asks[MV_DEPLOY_MAX_SERVERS];
};

static void hedge_free(struct hedge *h)
{
    for (size_t i = 0; i < MV_DEPLOY_MAX_SERVERS; i++) {
        struct ask *a = &h->asks[i];
        if (a->evaluated) {
            mv_wipe(a->evaluated, h->count * 32);
            mv_free(a->evaluated);
        }
        mv_httpc_call_clear(&a->call);
    }
    mv_buf_clear(&h->body);
    mv_free(h->blinded);
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->lock);
    mv_free(h);
}

static void hedge_release(struct hedge *h)
{
    pthread_mutex_lock(&h->lock);
    int last = --h->refs == 0;
    pthread_mutex_unlock(&h->lock);
    if (last)
        hedge_free(h);
}

static mv_err hedge_new(const mv_deployment *d, const uint8_t *blinded, size_t count, struct hedge **out)
{
    pthread_condattr_t ca;
    struct hedge *h = mv_calloc(1, sizeof *h);
    if (!h)
        return MV_ERR_NOMEM;
    h->refs = 1;
    h->count = count;
    mv_buf_init(&h->body, 128 + count * 67);
    for (size_t i = 0; i < MV_DEPLOY_MAX_SERVERS; i++) {
        mv_httpc_call_init(&h->asks[i].call);
        h->asks[i].h = h;
        h->asks[i].srv = i;
    }
    memcpy(h->srv, d->servers, d->n_servers * sizeof d->servers[0]);
    /* The hedge delay is measured on the monotonic clock: a wall-clock jump must not fire it. */
    int ok = pthread_condattr_init(&ca) == 0;
    if (ok) {
        ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&h->cond, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (!ok) {
        mv_buf_clear(&h->body);
        mv_free(h);
        return MV_ERR_NOMEM;
    }
    pthread_mutex_init(&h->lock, NULL);
    mv_err rc = MV_ERR_NOMEM;
    if ((h->blinded = mv_malloc(count * 32)) == NULL)
        goto fail;
    memcpy(h->blinded, blinded, count * 32);
    if ((rc = build_body(&h->body, blinded, count)) != MV_OK)
        goto fail;
    *out = h;
    return MV_OK;
fail:
    hedge_free(h);
    return rc;
}

static void *ask_thread(void *arg)
{
    struct ask *a = arg;
    struct hedge *h = a->h;
    mv_toprf_status st = MV_TOPRF_DOWN;
    mv_err rc = mv_httpc_run(&a->call, 1);
    /* The hedge delay covers the server, not our own proof check (about 0.3 s for a batch of
     * 1024 on a slow client core): an answer being verified is no reason to ask another. */
    pthread_mutex_lock(&h->lock);
    a->answered = 1;
    a->seconds = now_s() - a->started;
    pthread_mutex_unlock(&h->lock);
    if (rc == MV_OK)
        st = check_answer(&h->srv[a->srv], &a->call, h->blinded, h->count, a->evaluated);
    pthread_mutex_lock(&h->lock);
    a->st = st;
    a->state = ASK_DONE;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    hedge_release(h);
    return NULL;
}

/* Signs and starts the request to server s on its own (detached) thread. Caller holds h->lock. */
static mv_err ask_start(struct hedge *h, size_t s, const mv_identity *id, long timeout_ms)
{
    struct ask *a = &h->asks[s];
    pthread_attr_t attr;
    pthread_t tid;
    mv_err rc;
    if (!(a->evaluated = mv_malloc(h->count * 32)))
        return MV_ERR_NOMEM;
    static const char path[] = "/v1/evaluate";
    size_t ul = strnlen(h->srv[s].url, sizeof h->srv[s].url);
    if (ul + sizeof path > sizeof a->url)
        return MV_ERR_INVAL; /* cannot happen: deployment URLs are capped at MV_DEPLOY_URL_MAX */
    memcpy(a->url, h->srv[s].url, ul);
    memcpy(a->url + ul, path, sizeof path);
    a->call.method = "POST";
    a->call.url = a->url;
    a->call.body = h->body.ptr;
    a->call.body_len = h->body.len;
    a->call.timeout_ms = timeout_ms;
    if ((rc = mv_httpc_sign(&a->call, mv_identity_sign_pk(id), mv_identity_sign_sk(id), mv_identity_credential(id),
                            (uint64_t)time(NULL))) != MV_OK)
        return rc;
    if (pthread_attr_init(&attr) != 0)
        return MV_ERR_NOMEM;
    int ok = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0;
    a->started = now_s();
    a->state = ASK_RUNNING;
    h->refs++;
    ok = ok && pthread_create(&tid, &attr, ask_thread, a) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) {
        h->refs--;
        a->state = ASK_IDLE;
        return MV_ERR_NOMEM;
    }
    return MV_OK;
}

/* One batch of at most MV_OPRF_MAX_BATCH blinded elements. `bad` marks servers that
 * already failed in this evaluation so later batches do not ask them again; `slow` marks
 * servers that had not answered when a batch was done, which later batches ask last.
 * *observed is raised to the slowest answer this batch used (seconds). */
static mv_err eval_batch(const mv_deployment *d, const mv_identity *id, const uint8_t *blinded, size_t count,
                         uint8_t *combined, const mv_toprf_options *o, double hedge_s, size_t start, int *bad,
                         int *slow, double *observed, mv_toprf_report *rep)
{
    const size_t n = d->n_servers, t = d->threshold;
    const uint8_t *good_elems[MV_DEPLOY_MAX_SERVERS];
    uint32_t good_ids[MV_DEPLOY_MAX_SERVERS];
    size_t order[MV_DEPLOY_MAX_SERVERS], n_order = 0, next = 0, good = 0;
    struct hedge *h = NULL;
    int saw_429 = 0;
    mv_err rc;

    /* Responsive servers first (from `start`), then the ones that were slow before. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t k = 0; k < n; k++) {
            size_t s = (start + k) % n;
            if (!bad[s] && slow[s] == pass)
                order[n_order++] = s;
        }
    if ((rc = hedge_new(d, blinded, count, &h)) != MV_OK)
        return rc;
    pthread_mutex_lock(&h->lock);
    for (;;) {
        double now = now_s(), wake = 0;
        size_t hoping = 0, running = 0; /* hoping: running requests still counted on */
        for (size_t s = 0; s < n; s++) {
            struct ask *a = &h->asks[s];
            const mv_keyserver_entry *srv = &d->servers[s];
            mv_toprf_server_report *r = &rep->servers[s];
            if (a->state == ASK_RUNNING) {
                running++;
                if (!a->late && !a->answered && now - a->started >= hedge_s) {
                    a->late = 1;
                    mv_log(MV_LOG_INFO, "toprf", "key server %u (%s) has not answered after %.1f s; asking another",
                           (unsigned)srv->index, srv->url, now - a->started);
                }
                if (!a->late) {
                    hoping++;
                    if (!a->answered && (wake == 0 || a->started + hedge_s < wake))
                        wake = a->started + hedge_s;
                }
                continue;
            }
            if (a->state != ASK_DONE)
                continue;
            /* Newly done: account for it once. */
            a->state = ASK_SEEN;
            r->status = a->st;
            r->http_status = a->call.rc == MV_OK ? a->call.status : 0;
            r->seconds = a->seconds;
            if (a->st == MV_TOPRF_OK) {
                slow[s] = 0;
                if (good < t) {
                    good_ids[good] = srv->index;
                    good_elems[good] = a->evaluated;
                    good++;
                    if (a->seconds > *observed)
                        *observed = a->seconds;
                }
                continue;
            }
            bad[s] = 1;
            if (a->st == MV_TOPRF_RATE_LIMITED) {
                saw_429 = 1;
                if (a->call.retry_after > rep->retry_after)
                    rep->retry_after = a->call.retry_after;
            }
            if (a->st == MV_TOPRF_BAD_PROOF || a->st == MV_TOPRF_BAD_RESPONSE)
                mv_log(MV_LOG_WARN, "toprf", "key server %u (%s) misbehaved: %s; skipping it", (unsigned)srv->index,
                       srv->url, mv_toprf_status_name(a->st));
            else
                mv_log(MV_LOG_INFO, "toprf", "key server %u (%s) unusable: %s (HTTP %ld); trying another",
                       (unsigned)srv->index, srv->url, mv_toprf_status_name(a->st), r->http_status);
        }
        if (good >= t)
            break;
        /* Ask further servers until t answers can be hoped for: at the start, after a
         * failure, and when a request outlives the hedge delay. Never more: every request
         * costs rate-limit budget at its server (DESIGN section 3). */
        size_t started = 0;
        while (good + hoping < t && next < n_order) {
            size_t s = order[next++];
            if ((rc = ask_start(h, s, id, o->timeout_ms)) != MV_OK)
                goto out;
            started++;
            hoping++;
            running++;
            if (wake == 0 || h->asks[s].started + hedge_s < wake)
                wake = h->asks[s].started + hedge_s;
        }
        if (started)
            rep->rounds++;
        if (running == 0)
            break; /* nothing in flight and nobody left to ask */
        if (wake > 0) {
            struct timespec ts;
            double w = wake > now_s() ? wake : now_s();
            ts.tv_sec = (time_t)w;
            ts.tv_nsec = (long)((w - (double)ts.tv_sec) * 1e9);
            if (ts.tv_nsec >= 1000000000L)
                ts.tv_nsec = 999999999L;
            (void)pthread_cond_timedwait(&h->cond, &h->lock, &ts);
        } else {
            /* Only answers being verified and late requests that nobody is left to cover
             * remain: wait for them (each ends within timeout_ms). */
            (void)pthread_cond_wait(&h->cond, &h->lock);
        }
    }
    if (good < t) {
        rc = saw_429 ? MV_ERR_RATE_LIMITED : MV_ERR_UNAVAILABLE;
        goto out;
    }
    rc = mv_shamir_combine_batch(good_ids, t, good_elems, count, combined);
out:
    /* Requests still running are left to finish on their own. */
    for (size_t s = 0; s < n; s++) {
        struct ask *a = &h->asks[s];
        if (a->state != ASK_RUNNING)
            continue;
        slow[s] = 1;
        rep->servers[s].status = MV_TOPRF_SLOW;
        rep->servers[s].http_status = 0;
        rep->servers[s].seconds = now_s() - a->started;
    }
    pthread_mutex_unlock(&h->lock);
    hedge_release(h);
    return rc;
}

mv_err mv_toprf_evaluate(const mv_deployment *d, const mv_identity *id, const uint8_t *const *inputs,
                         const size_t *input_lens, size_t count, uint8_t *outputs,
                         const mv_toprf_options *opts, mv_toprf_report *report)
{
    mv_toprf_options o = {10000, 0};
    mv_toprf_report local;
    uint8_t *blinds = NULL, *blinded = NULL, *combined = NULL;
    int bad[MV_DEPLOY_MAX_SERVERS] = {0}, slow[MV_DEPLOY_MAX_SERVERS] = {0};
    double observed = 0;
    mv_err rc;

    if (!d || !id || (count && (!inputs || !input_lens || !outputs)) || d->n_servers == 0 ||
        d->n_servers > MV_DEPLOY_MAX_SERVERS || d->threshold == 0 || d->threshold > d->n_servers)
        return MV_ERR_INVAL;
    if (!mv_identity_credential(id))
        return MV_ERR_AUTH;
    if (opts) {
        o = *opts;
        if (o.timeout_ms <= 0)
            o.timeout_ms = 10000;
    }
    if (!report)
        report = &local;
    memset(report, 0, sizeof *report);
    report->n_servers = d->n_servers;
    report->retry_after = -1;
    for (size_t i = 0; i < d->n_servers; i++)
        report->servers[i].index = d->servers[i].index;
    if (count == 0)
        return MV_OK;
    if ((rc = mv_httpc_global_init()) != MV_OK)
        return rc;

    size_t chunk = count < MV_OPRF_MAX_BATCH ? count : MV_OPRF_MAX_BATCH;
    blinds = mv_secure_alloc(chunk * 32);
    blinded = mv_malloc(chunk * 32);
    combined = mv_malloc(chunk * 32);
    if (!blinds || !blinded || !combined) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    size_t start = 0;
    if (!o.deterministic) {
        uint8_t r[32];
        mv_r255_scalar_random(r);
        start = r[0] % d->n_servers;
    }
    for (size_t off = 0; off < count; off += chunk) {
        size_t m = count - off < chunk ? count - off : chunk;
        /* Adaptive hedge: never sooner than MV_TOPRF_HEDGE_MS, and not sooner than three
         * times the slowest answer an earlier batch of this evaluation used, so servers that
         * are merely slow (large batches, a long link) are not asked twice on every batch. */
        double hedge_s = (double)MV_TOPRF_HEDGE_MS / 1000.0;
        if (3 * observed > hedge_s)
            hedge_s = 3 * observed;
        for (size_t i = 0; i < m; i++) {
            if ((rc = mv_oprf_blind(MV_OPRF_MODE_VOPRF, inputs[off + i], input_lens[off + i], NULL,
                                    blinds + i * 32, blinded + i * 32)) != MV_OK)
                goto out;
        }
        if ((rc = eval_batch(d, id, blinded, m, combined, &o, hedge_s, start, bad, slow, &observed, report)) != MV_OK)
            goto out;
        for (size_t i = 0; i < m; i++) {
            if ((rc = mv_oprf_finalize(MV_OPRF_MODE_VOPRF, inputs[off + i], input_lens[off + i], blinds + i * 32,
                                       combined + i * 32, outputs + (off + i) * MV_TOPRF_OUTPUT_BYTES)) != MV_OK)
                goto out;
        }
    }
    rc = MV_OK;
out:
    if (blinds)
        mv_secure_free(blinds);
    mv_free(blinded);
    if (combined) {
        mv_wipe(combined, chunk * 32);
        mv_free(combined);
    }
    if (rc != MV_OK && outputs)
        mv_wipe(outputs, count * MV_TOPRF_OUTPUT_BYTES);
    return rc;
}
