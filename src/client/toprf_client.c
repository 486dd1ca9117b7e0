/* toprf_client.c - threshold VOPRF client: every partial evaluation is checked against its
 * server's pinned public share before it is used, so a wrong share cannot poison a key. */
#include "medvault/mv_toprf.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "medvault/mv_buf.h"
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
    }
    return "unknown";
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

/* One batch of at most MV_OPRF_MAX_BATCH blinded elements. `bad` marks servers that
 * already failed in this evaluation so later batches do not ask them again. */
static mv_err eval_batch(const mv_deployment *d, const mv_identity *id, const uint8_t *blinded, size_t count,
                         uint8_t *combined, const mv_toprf_options *o, size_t start, int *bad,
                         mv_toprf_report *rep)
{
    const size_t n = d->n_servers, t = d->threshold;
    uint8_t *partials[MV_DEPLOY_MAX_SERVERS] = {0};
    const uint8_t *good_elems[MV_DEPLOY_MAX_SERVERS];
    uint32_t good_ids[MV_DEPLOY_MAX_SERVERS];
    mv_httpc_call calls[MV_DEPLOY_MAX_SERVERS];
    size_t call_srv[MV_DEPLOY_MAX_SERVERS];
    char urls[MV_DEPLOY_MAX_SERVERS][MV_DEPLOY_URL_MAX + 32];
    int tried[MV_DEPLOY_MAX_SERVERS] = {0};
    size_t good = 0, next = 0, ncalls = 0;
    int saw_429 = 0;
    mv_buf body;
    mv_err rc;

    mv_buf_init(&body, 128 + count * 67);
    if ((rc = build_body(&body, blinded, count)) != MV_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        partials[i] = mv_malloc(count * 32);
        if (!partials[i]) {
            rc = MV_ERR_NOMEM;
            goto out;
        }
    }
    while (good < t) {
        /* Pick the next untried, not-known-bad servers, enough to reach t if all answer. */
        ncalls = 0;
        while (ncalls < t - good && next < n) {
            size_t s = (start + next++) % n;
            if (bad[s] || tried[s])
                continue;
            tried[s] = 1;
            call_srv[ncalls++] = s;
        }
        if (ncalls == 0)
            break;
        rep->rounds++;
        for (size_t k = 0; k < ncalls; k++) {
            const mv_keyserver_entry *srv = &d->servers[call_srv[k]];
            mv_httpc_call_init(&calls[k]);
            snprintf(urls[k], sizeof urls[k], "%s/v1/evaluate", srv->url);
            calls[k].method = "POST";
            calls[k].url = urls[k];
            calls[k].body = body.ptr;
            calls[k].body_len = body.len;
            calls[k].timeout_ms = o->timeout_ms;
            if ((rc = mv_httpc_sign(&calls[k], mv_identity_sign_pk(id), mv_identity_sign_sk(id),
                                    mv_identity_credential(id), (uint64_t)time(NULL))) != MV_OK) {
                for (size_t j = 0; j <= k; j++)
                    mv_httpc_call_clear(&calls[j]);
                goto out;
            }
        }
        double t0 = now_s();
        rc = mv_httpc_run(calls, ncalls);
        double dt = now_s() - t0;
        for (size_t k = 0; k < ncalls; k++) {
            size_t s = call_srv[k];
            const mv_keyserver_entry *srv = &d->servers[s];
            mv_toprf_server_report *r = &rep->servers[s];
            mv_toprf_status st =
                rc == MV_OK ? check_answer(srv, &calls[k], blinded, count, partials[s]) : MV_TOPRF_DOWN;
            r->status = st;
            r->http_status = calls[k].rc == MV_OK ? calls[k].status : 0;
            r->seconds = dt;
            if (st == MV_TOPRF_OK) {
                good_ids[good] = srv->index;
                good_elems[good] = partials[s];
                good++;
                continue;
            }
            bad[s] = 1;
            if (st == MV_TOPRF_RATE_LIMITED) {
                saw_429 = 1;
                if (calls[k].retry_after > rep->retry_after)
                    rep->retry_after = calls[k].retry_after;
            }
            if (st == MV_TOPRF_BAD_PROOF || st == MV_TOPRF_BAD_RESPONSE)
                mv_log(MV_LOG_WARN, "toprf",
                       "key server %u (%s) misbehaved: %s; skipping it", (unsigned)srv->index, srv->url,
                       mv_toprf_status_name(st));
            else
                mv_log(MV_LOG_INFO, "toprf", "key server %u (%s) unusable: %s (HTTP %ld); trying another",
                       (unsigned)srv->index, srv->url, mv_toprf_status_name(st), r->http_status);
        }
        for (size_t k = 0; k < ncalls; k++)
            mv_httpc_call_clear(&calls[k]);
        if (rc != MV_OK)
            goto out;
    }
    if (good < t) {
        rc = saw_429 ? MV_ERR_RATE_LIMITED : MV_ERR_UNAVAILABLE;
        goto out;
    }
    rc = mv_shamir_combine_batch(good_ids, t, good_elems, count, combined);
out:
    for (size_t i = 0; i < n; i++) {
        if (partials[i]) {
            mv_wipe(partials[i], count * 32);
            mv_free(partials[i]);
        }
    }
    mv_buf_clear(&body);
    return rc;
}

mv_err mv_toprf_evaluate(const mv_deployment *d, const mv_identity *id, const uint8_t *const *inputs,
                         const size_t *input_lens, size_t count, uint8_t *outputs,
                         const mv_toprf_options *opts, mv_toprf_report *report)
{
    mv_toprf_options o = {10000, 0};
    mv_toprf_report local;
    uint8_t *blinds = NULL, *blinded = NULL, *combined = NULL;
    int bad[MV_DEPLOY_MAX_SERVERS] = {0};
    mv_err rc;

    if (!d || !id || (count && (!inputs || !input_lens || !outputs)) || d->n_servers == 0 ||
        d->threshold == 0 || d->threshold > d->n_servers)
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
        for (size_t i = 0; i < m; i++) {
            if ((rc = mv_oprf_blind(MV_OPRF_MODE_VOPRF, inputs[off + i], input_lens[off + i], NULL,
                                    blinds + i * 32, blinded + i * 32)) != MV_OK)
                goto out;
        }
        if ((rc = eval_batch(d, id, blinded, m, combined, &o, start, bad, report)) != MV_OK)
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
