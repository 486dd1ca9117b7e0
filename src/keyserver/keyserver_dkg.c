/* keyserver_dkg.c - distributed key generation and proactive refresh among the key servers:
 * the peers' messages (deal, reveal, status) and the driver thread that deals, answers
 * complaints, waits for every peer to agree on the same commitments, then stores the share. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "keyserver_internal.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---------- DKG / refresh: message handlers ---------- */

static void dkg_fail_locked(struct ks *ks, const char *reason)
{
    if (!ks->dkg.failed) {
        ks->dkg.failed = 1;
        snprintf(ks->dkg.reason, sizeof ks->dkg.reason, "%s", reason);
        mv_log(MV_LOG_ERROR, COMPONENT, "key generation (epoch %llu) failed: %s",
               (unsigned long long)ks->dkg.epoch, reason);
    }
}

/* Records one dealer's deal (commitments + my share). Returns 0 accepted, 1 complaint.
 * A repeated delivery (a retry after a lost answer) gets the first delivery's answer; a
 * different deal from the same dealer (equivocation) sets *err. */
static int dkg_accept_locked(struct ks *ks, uint32_t from, const uint8_t *commits, const uint8_t share[32],
                             mv_err *err)
{
    struct dkg_state *st = &ks->dkg;
    *err = MV_OK;
    mv_err rc = mv_dkg_receive(st->dkg, from, commits, ks->threshold, share);
    if (rc != MV_OK && rc != MV_ERR_VERIFY) {
        *err = rc;
        return 1;
    }
    if (!st->have[from]) {
        st->have[from] = 1;
        st->deals++;
        if (rc == MV_ERR_VERIFY) {
            st->complained[from] = 1;
            st->unresolved++;
            mv_log(MV_LOG_WARN, COMPONENT,
                   "share from key server %u fails its Feldman commitments: complaint filed", (unsigned)from);
        }
        if (st->deals == ks->n_peers && mv_dkg_digest(st->dkg, st->digest) == MV_OK)
            st->digest_ready = 1;
    }
    return rc == MV_ERR_VERIFY;
}

void ks_handle_dkg_deal(struct ks *ks, const mv_http_request *req, mv_http_response *resp)
{
    mv_json *root = NULL;
    uint8_t commits[MAX_T * 32];
    uint8_t sealed[SEALED_SHARE_BYTES];
    uint8_t share[32];
    uint64_t epoch = 0, from = 0;
    mv_buf b;
    mv_buf_init(&b, 256);
    if (mv_json_parse((const char *)req->body, req->body_len, NULL, &root, NULL) != MV_OK ||
        mv_json_get_u64(root, "epoch", &epoch) != MV_OK || mv_json_get_u64(root, "from", &from) != MV_OK ||
        from == 0 || from > ks->n_peers || mv_json_get_hex(root, "sealed_share", sealed, sizeof sealed) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "malformed deal");
        goto out;
    }
    if (ks_authenticate_peer(ks, req, resp, (uint32_t)from))
        goto out;
    const mv_json *ca = mv_json_get(root, "commitments");
    if (mv_json_len(ca) != ks->threshold) {
        mv_http_respond_json_error(resp, 400, "wrong number of commitments");
        goto out;
    }
    for (size_t i = 0; i < ks->threshold; i++) {
        size_t sl = 0;
        const char *s = mv_json_str(mv_json_at(ca, i), &sl);
        if (!s || mv_hex_decode_exact(commits + i * 32, 32, s, sl) != MV_OK) {
            mv_http_respond_json_error(resp, 400, "malformed commitment");
            goto out;
        }
    }
    if (mv_box_seal_open(share, sealed, sizeof sealed, ks->xpk, ks->xsk) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "sealed share does not open with this server's key");
        goto out;
    }
    pthread_mutex_lock(&ks->dkg_lock);
    if (!ks->dkg.active || ks->dkg.epoch != epoch || ks->dkg.finished || !ks->dkg.dkg) {
        pthread_mutex_unlock(&ks->dkg_lock);
        mv_http_respond_json_error(resp, 409, "no key generation running for this epoch yet");
        goto out;
    }
    mv_err err = MV_OK;
    int complaint = dkg_accept_locked(ks, (uint32_t)from, commits, share, &err);
    if (err != MV_OK) {
        char reason[96];
        snprintf(reason, sizeof reason, "deal from key server %u rejected: %s", (unsigned)from, mv_strerror(err));
        dkg_fail_locked(ks, reason);
    }
    pthread_mutex_unlock(&ks->dkg_lock);
    if (err != MV_OK) {
        mv_http_respond_json_error(resp, 400, "deal rejected");
        goto out;
    }
    mv_jw w;
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_kbool(&w, "accepted", !complaint);
    mv_jw_obj_end(&w);
    if (mv_jw_finish(&w) == MV_OK)
        mv_http_respond_json(resp, 200, &b);
out:
    mv_wipe(share, sizeof share);
    mv_json_free(root);
    mv_buf_clear(&b);
}

/* Applies a dealer's public reveal of the share it sent `complainer`. */
static void dkg_resolve_locked(struct ks *ks, uint32_t dealer, uint32_t complainer, const uint8_t share[32])
{
    mv_err rc = mv_dkg_resolve(ks->dkg.dkg, dealer, complainer, share);
    if (rc == MV_OK) {
        if (complainer == ks->my_index && ks->dkg.complained[dealer]) {
            ks->dkg.complained[dealer] = 0;
            ks->dkg.unresolved--;
        }
        mv_log(MV_LOG_INFO, COMPONENT, "complaint of key server %u against %u resolved by a valid reveal",
               (unsigned)complainer, (unsigned)dealer);
    } else {
        char reason[128];
        snprintf(reason, sizeof reason, "key server %u disqualified: its revealed share for %u does not verify",
                 (unsigned)dealer, (unsigned)complainer);
        dkg_fail_locked(ks, reason);
    }
}

void ks_handle_dkg_reveal(struct ks *ks, const mv_http_request *req, mv_http_response *resp)
{
    mv_json *root = NULL;
    uint64_t epoch = 0, dealer = 0, complainer = 0;
    uint8_t share[32];
    if (mv_json_parse((const char *)req->body, req->body_len, NULL, &root, NULL) != MV_OK ||
        mv_json_get_u64(root, "epoch", &epoch) != MV_OK || mv_json_get_u64(root, "dealer", &dealer) != MV_OK ||
        mv_json_get_u64(root, "complainer", &complainer) != MV_OK || dealer == 0 || dealer > ks->n_peers ||
        complainer == 0 || complainer > ks->n_peers || mv_json_get_hex(root, "share", share, 32) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "malformed reveal");
        goto out;
    }
    if (ks_authenticate_peer(ks, req, resp, (uint32_t)dealer))
        goto out;
    pthread_mutex_lock(&ks->dkg_lock);
    if (!ks->dkg.active || ks->dkg.epoch != epoch || !ks->dkg.have[dealer]) {
        pthread_mutex_unlock(&ks->dkg_lock);
        mv_http_respond_json_error(resp, 409, "no deal from this dealer in this epoch yet");
        goto out;
    }
    if (!ks->dkg.finished)
        dkg_resolve_locked(ks, (uint32_t)dealer, (uint32_t)complainer, share);
    pthread_mutex_unlock(&ks->dkg_lock);
    mv_http_respond_fmt(resp, 200, "{\"ok\":true}");
out:
    mv_wipe(share, sizeof share);
    mv_json_free(root);
}

void ks_handle_dkg_status(struct ks *ks, const mv_http_request *req, mv_http_response *resp)
{
    mv_credential cred;
    mv_buf b;
    if (ks_authenticate(ks, req, resp, &cred))
        return;
    mv_buf_init(&b, 1024);
    pthread_mutex_lock(&ks->dkg_lock);
    const struct dkg_state *st = &ks->dkg;
    mv_jw w;
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_kbool(&w, "active", st->active);
    mv_jw_ku64(&w, "epoch", st->epoch);
    mv_jw_ku64(&w, "deals", st->deals);
    mv_jw_ku64(&w, "unresolved", st->unresolved);
    mv_jw_kbool(&w, "failed", st->failed);
    mv_jw_kbool(&w, "finished", st->finished);
    if (st->digest_ready)
        mv_jw_khex(&w, "digest", st->digest, 32);
    else
        mv_jw_kstr(&w, "digest", "");
    mv_jw_kstr(&w, "reason", st->reason);
    pthread_mutex_unlock(&ks->dkg_lock);
    mv_jw_obj_end(&w);
    mv_err rc = mv_jw_finish(&w);
    mv_http_respond_built(resp, rc, 200, &b);
    mv_buf_clear(&b);
}

void ks_handle_refresh(struct ks *ks, const mv_http_request *req, mv_http_response *resp)
{
    mv_credential cred;
    mv_json *root = NULL;
    uint64_t epoch = 0;
    mv_buf b;
    mv_buf_init(&b, 256);
    if (ks_authenticate(ks, req, resp, &cred))
        goto out;
    if (!mv_credential_has_role(&cred, MV_ROLE_ADMIN)) {
        mv_http_respond_json_error(resp, 403, "only a hospital admin may start a refresh");
        goto out;
    }
    if (mv_json_parse((const char *)req->body, req->body_len, NULL, &root, NULL) != MV_OK ||
        mv_json_get_u64(root, "epoch", &epoch) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "body must be {\"epoch\": N}");
        goto out;
    }
    pthread_rwlock_rdlock(&ks->share_lock);
    uint64_t cur = ks->share ? ks->share->epoch : 0;
    int have = ks->share != NULL;
    pthread_rwlock_unlock(&ks->share_lock);
    if (!have) {
        mv_http_respond_json_error(resp, 409, "no key yet");
        goto out;
    }
    pthread_mutex_lock(&ks->dkg_lock);
    int busy = ks->dkg.active && !ks->dkg.finished && !ks->dkg.failed;
    int thread_live = ks->dkg_thread_started && !ks->dkg_thread_done;
    pthread_mutex_unlock(&ks->dkg_lock);
    if (epoch == cur && !busy) {
        /* Already at this epoch (a retried request): report success. */
        mv_http_respond_fmt(resp, 200, "{\"epoch\":%llu,\"started\":false,\"current\":true}", (unsigned long long)epoch);
        goto out;
    }
    if (epoch != cur + 1) {
        mv_http_respond_json_error(resp, 409, "epoch must be the current epoch plus one");
        goto out;
    }
    if (busy || thread_live) {
        pthread_mutex_lock(&ks->dkg_lock);
        int same = ks->dkg.active && ks->dkg.epoch == epoch;
        pthread_mutex_unlock(&ks->dkg_lock);
        if (same) {
            mv_http_respond_fmt(resp, 202, "{\"epoch\":%llu,\"started\":true}", (unsigned long long)epoch);
        } else {
            mv_http_respond_json_error(resp, 409, "a key generation is already running");
        }
        goto out;
    }
    ks_start_dkg(ks, epoch, 1);
    mv_http_respond_fmt(resp, 202, "{\"epoch\":%llu,\"started\":true}", (unsigned long long)epoch);
out:
    mv_json_free(root);
    mv_buf_clear(&b);
}

/* ---------- DKG / refresh: the driver thread ---------- */

struct dkg_args {
    struct ks *ks;
    uint64_t epoch;
    int refresh;
};

/* Sends one signed request to each peer in `targets` (indexes into ks->peers), in parallel. */
static mv_err send_to(struct ks *ks, const char *method, const char *path, const mv_buf *body,
                      const size_t *targets, size_t nt, mv_httpc_call *calls, char (*urls)[320])
{
    for (size_t k = 0; k < nt; k++) {
        const struct peer *p = &ks->peers[targets[k]];
        mv_httpc_call_init(&calls[k]);
        snprintf(urls[k], 320, "%s%s", p->url, path);
        calls[k].method = method;
        calls[k].url = urls[k];
        calls[k].body = body ? body->ptr : NULL;
        calls[k].body_len = body ? body->len : 0;
        calls[k].timeout_ms = 5000;
        mv_err rc = mv_httpc_sign(&calls[k], mv_identity_sign_pk(ks->id), mv_identity_sign_sk(ks->id),
                                  mv_identity_credential(ks->id), (uint64_t)time(NULL));
        if (rc != MV_OK) {
            for (size_t j = 0; j <= k; j++)
                mv_httpc_call_clear(&calls[j]);
            return rc;
        }
    }
    mv_err rc = mv_httpc_run(calls, nt);
    if (rc != MV_OK)
        for (size_t k = 0; k < nt; k++)
            mv_httpc_call_clear(&calls[k]);
    return rc;
}

static int dkg_should_stop(struct ks *ks, double deadline, char *why, size_t why_cap)
{
    if (ks->stopping) {
        snprintf(why, why_cap, "server shutting down");
        return 1;
    }
    if (mv_mono_seconds() > deadline) {
        snprintf(why, why_cap, "timed out waiting for the other key servers");
        return 1;
    }
    pthread_mutex_lock(&ks->dkg_lock);
    int failed = ks->dkg.failed;
    if (failed)
        snprintf(why, why_cap, "%s", ks->dkg.reason);
    pthread_mutex_unlock(&ks->dkg_lock);
    return failed;
}

/* Step 1: deal. My commitments go to every peer with its share sealed to its key.
 * Returns the peers that complained (bitmap by index) through `complainers`. */
static mv_err dkg_deal(struct ks *ks, uint64_t epoch, double deadline, int *complainers, char *why, size_t why_cap)
{
    size_t pending[MAX_T], np = 0;
    mv_buf bodies[MAX_T];
    mv_httpc_call calls[MAX_T];
    char urls[MAX_T][320];
    mv_err rc = MV_OK;
    for (size_t i = 0; i < ks->n_peers; i++)
        mv_buf_init(&bodies[i], 8192);
    for (size_t i = 0; i < ks->n_peers; i++) {
        const struct peer *p = &ks->peers[i];
        if (p->index == ks->my_index)
            continue;
        uint8_t share[32], sealed[SEALED_SHARE_BYTES];
        pthread_mutex_lock(&ks->dkg_lock);
        const uint8_t *commits = mv_dkg_my_commitments(ks->dkg.dkg);
        rc = mv_dkg_share_for(ks->dkg.dkg, p->index, share);
        mv_jw w;
        mv_jw_init(&w, &bodies[i]);
        mv_jw_obj(&w);
        mv_jw_ku64(&w, "epoch", epoch);
        mv_jw_ku64(&w, "from", ks->my_index);
        mv_jw_key(&w, "commitments");
        mv_jw_arr(&w);
        for (uint32_t k = 0; rc == MV_OK && k < ks->threshold; k++)
            mv_jw_hex(&w, commits + k * 32, 32);
        mv_jw_arr_end(&w);
        pthread_mutex_unlock(&ks->dkg_lock);
        if (rc == MV_OK)
            rc = mv_box_seal(sealed, share, 32, p->xpk);
        mv_wipe(share, sizeof share);
        if (rc == MV_OK)
            mv_jw_khex(&w, "sealed_share", sealed, sizeof sealed);
        mv_jw_obj_end(&w);
        if (rc == MV_OK)
            rc = mv_jw_finish(&w);
        if (rc != MV_OK)
            goto out;
        pending[np++] = i;
    }
    while (np > 0) {
        if (dkg_should_stop(ks, deadline, why, why_cap)) {
            rc = MV_ERR_TIMEOUT;
            goto out;
        }
        size_t still[MAX_T], ns = 0;
        /* Peers may still be starting: retry each undelivered deal until it is answered. */
        for (size_t k = 0; k < np; k++) {
            mv_httpc_call call;
            size_t tgt = pending[k];
            if ((rc = send_to(ks, "POST", "/v1/dkg/deal", &bodies[tgt], &tgt, 1, &call, &urls[k])) != MV_OK)
                goto out;
            calls[k] = call;
        }
        for (size_t k = 0; k < np; k++) {
            mv_httpc_call *c = &calls[k];
            const struct peer *p = &ks->peers[pending[k]];
            if (c->rc == MV_OK && c->status == 200) {
                mv_json *r = NULL;
                int accepted = 0;
                if (mv_json_parse((const char *)c->response.ptr, c->response.len, NULL, &r, NULL) != MV_OK ||
                    mv_json_bool(mv_json_get(r, "accepted"), &accepted) != MV_OK) {
                    snprintf(why, why_cap, "key server %u answered my deal with a malformed body",
                             (unsigned)p->index);
                    rc = MV_ERR_PROTOCOL;
                } else if (!accepted) {
                    complainers[p->index] = 1;
                }
                mv_json_free(r);
            } else if (c->rc == MV_OK && c->status != 409 && c->status != 503) {
                snprintf(why, why_cap, "key server %u refused my deal (HTTP %ld)", (unsigned)p->index, c->status);
                rc = MV_ERR_PROTOCOL;
            } else {
                still[ns++] = pending[k];
            }
            mv_httpc_call_clear(c);
        }
        if (rc != MV_OK)
            goto out;
        memcpy(pending, still, ns * sizeof still[0]);
        np = ns;
        if (np)
            sleep_ms(200);
    }
out:
    for (size_t i = 0; i < ks->n_peers; i++)
        mv_buf_clear(&bodies[i]);
    return rc;
}

/* Step 2: answer complaints against me by revealing the complainer's share to everyone. */
static mv_err dkg_reveal(struct ks *ks, uint64_t epoch, const int *complainers, double deadline, char *why,
                         size_t why_cap)
{
    mv_err rc = MV_OK;
    for (uint32_t c = 1; c <= ks->n_peers; c++) {
        if (!complainers[c])
            continue;
        uint8_t share[32];
        mv_buf body;
        mv_buf_init(&body, 512);
        pthread_mutex_lock(&ks->dkg_lock);
        rc = mv_dkg_share_for(ks->dkg.dkg, c, share);
        if (rc == MV_OK)
            dkg_resolve_locked(ks, ks->my_index, c, share);
        pthread_mutex_unlock(&ks->dkg_lock);
        if (rc == MV_OK) {
            mv_jw w;
            mv_jw_init(&w, &body);
            mv_jw_obj(&w);
            mv_jw_ku64(&w, "epoch", epoch);
            mv_jw_ku64(&w, "dealer", ks->my_index);
            mv_jw_ku64(&w, "complainer", c);
            mv_jw_khex(&w, "share", share, 32);
            mv_jw_obj_end(&w);
            rc = mv_jw_finish(&w);
        }
        mv_wipe(share, sizeof share);
        for (size_t i = 0; rc == MV_OK && i < ks->n_peers; i++) {
            if (ks->peers[i].index == ks->my_index)
                continue;
            for (;;) {
                mv_httpc_call call;
                char url[1][320];
                if (dkg_should_stop(ks, deadline, why, why_cap)) {
                    rc = MV_ERR_TIMEOUT;
                    break;
                }
                if ((rc = send_to(ks, "POST", "/v1/dkg/reveal", &body, &i, 1, &call, url)) != MV_OK)
                    break;
                int done = call.rc == MV_OK && call.status == 200;
                mv_httpc_call_clear(&call);
                if (done)
                    break;
                sleep_ms(200);
            }
        }
        mv_buf_clear(&body);
        if (rc != MV_OK)
            return rc;
    }
    return rc;
}

/* Step 3: wait until every peer has all n deals, no unresolved complaint, and the same
 * digest of all commitment vectors as mine (so no dealer equivocated). */
static mv_err dkg_agree(struct ks *ks, uint64_t epoch, double deadline, char *why, size_t why_cap)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/dkg/status?epoch=%llu", (unsigned long long)epoch);
    for (;;) {
        if (dkg_should_stop(ks, deadline, why, why_cap))
            return MV_ERR_TIMEOUT;
        uint8_t mine[32];
        pthread_mutex_lock(&ks->dkg_lock);
        int ready = ks->dkg.deals == ks->n_peers && ks->dkg.unresolved == 0 && ks->dkg.digest_ready;
        memcpy(mine, ks->dkg.digest, 32);
        pthread_mutex_unlock(&ks->dkg_lock);
        if (!ready) {
            sleep_ms(100);
            continue;
        }
        size_t targets[MAX_T], nt = 0;
        mv_httpc_call calls[MAX_T];
        char urls[MAX_T][320];
        for (size_t i = 0; i < ks->n_peers; i++)
            if (ks->peers[i].index != ks->my_index)
                targets[nt++] = i;
        mv_err rc = send_to(ks, "GET", path, NULL, targets, nt, calls, urls);
        if (rc != MV_OK)
            return rc;
        size_t agreed = 0;
        for (size_t k = 0; k < nt; k++) {
            mv_json *r = NULL;
            uint64_t e = 0, deals = 0, unres = 1;
            int failed = 0;
            uint8_t dg[32];
            if (calls[k].rc == MV_OK && calls[k].status == 200 &&
                mv_json_parse((const char *)calls[k].response.ptr, calls[k].response.len, NULL, &r, NULL) ==
                    MV_OK &&
                mv_json_get_u64(r, "epoch", &e) == MV_OK && e == epoch &&
                mv_json_get_u64(r, "deals", &deals) == MV_OK && mv_json_get_u64(r, "unresolved", &unres) == MV_OK &&
                mv_json_bool(mv_json_get(r, "failed"), &failed) == MV_OK) {
                if (failed) {
                    snprintf(why, why_cap, "key server %u reports the key generation failed",
                             (unsigned)ks->peers[targets[k]].index);
                    rc = MV_ERR_PROTOCOL;
                } else if (deals == ks->n_peers && unres == 0 && mv_json_get_hex(r, "digest", dg, 32) == MV_OK) {
                    if (!mv_ct_eq(dg, mine, 32)) {
                        snprintf(why, why_cap, "key server %u saw different commitments (a dealer equivocated)",
                                 (unsigned)ks->peers[targets[k]].index);
                        rc = MV_ERR_PROTOCOL;
                    } else {
                        agreed++;
                    }
                }
            }
            mv_json_free(r);
            mv_httpc_call_clear(&calls[k]);
        }
        if (rc != MV_OK)
            return rc;
        if (agreed == nt)
            return MV_OK;
        sleep_ms(150);
    }
}

static void *dkg_main(void *arg)
{
    struct dkg_args a = *(struct dkg_args *)arg;
    struct ks *ks = a.ks;
    int complainers[MAX_T + 1] = {0};
    char why[192] = "";
    mv_ks_share *fresh = NULL;
    mv_err rc;
    mv_free(arg);
    double deadline = mv_mono_seconds() + ks->cfg->dkg_timeout_s;
    mv_log(MV_LOG_INFO, COMPONENT, "%s (epoch %llu) started: %u of %zu, threshold %u",
           a.refresh ? "proactive refresh" : "distributed key generation", (unsigned long long)a.epoch,
           (unsigned)ks->my_index, ks->n_peers, (unsigned)ks->threshold);

    /* My own deal to myself. */
    uint8_t myshare[32];
    pthread_mutex_lock(&ks->dkg_lock);
    mv_err err = MV_OK;
    rc = mv_dkg_share_for(ks->dkg.dkg, ks->my_index, myshare);
    if (rc == MV_OK)
        (void)dkg_accept_locked(ks, ks->my_index, mv_dkg_my_commitments(ks->dkg.dkg), myshare, &err);
    pthread_mutex_unlock(&ks->dkg_lock);
    mv_wipe(myshare, sizeof myshare);
    if (rc != MV_OK || err != MV_OK) {
        snprintf(why, sizeof why, "own deal failed");
        rc = MV_ERR_BAD_STATE;
        goto out;
    }
    if ((rc = dkg_deal(ks, a.epoch, deadline, complainers, why, sizeof why)) != MV_OK)
        goto out;
    if ((rc = dkg_reveal(ks, a.epoch, complainers, deadline, why, sizeof why)) != MV_OK)
        goto out;
    if ((rc = dkg_agree(ks, a.epoch, deadline, why, sizeof why)) != MV_OK)
        goto out;

    fresh = mv_secure_alloc(sizeof *fresh);
    if (!fresh) {
        rc = MV_ERR_NOMEM;
        snprintf(why, sizeof why, "out of memory");
        goto out;
    }
    memset(fresh, 0, sizeof *fresh);
    fresh->index = ks->my_index;
    fresh->threshold = ks->threshold;
    fresh->n = (uint32_t)ks->n_peers;
    fresh->epoch = a.epoch;
    pthread_rwlock_rdlock(&ks->share_lock);
    pthread_mutex_lock(&ks->dkg_lock);
    if (a.refresh)
        rc = mv_dkg_finish(ks->dkg.dkg, ks->share->share, &ks->share->public_shares[0][0], fresh->share,
                           &fresh->public_shares[0][0], fresh->group_pk);
    else
        rc = mv_dkg_finish(ks->dkg.dkg, NULL, NULL, fresh->share, &fresh->public_shares[0][0], fresh->group_pk);
    int group_same = !a.refresh || mv_ct_eq(fresh->group_pk, ks->share->group_pk, 32);
    pthread_mutex_unlock(&ks->dkg_lock);
    pthread_rwlock_unlock(&ks->share_lock);
    if (rc != MV_OK || !group_same) {
        snprintf(why, sizeof why, "finishing failed: %s", rc != MV_OK ? mv_strerror(rc) : "group key changed");
        rc = rc != MV_OK ? rc : MV_ERR_PROTOCOL;
        goto out;
    }
    /* Persist before switching: a crash after the switch must not lose the new share. */
    if ((rc = mv_ks_share_save(ks->cfg->dir, fresh)) != MV_OK) {
        snprintf(why, sizeof why, "cannot save the new share: %s", mv_strerror(rc));
        goto out;
    }
    pthread_rwlock_wrlock(&ks->share_lock);
    mv_ks_share *old = ks->share;
    ks->share = fresh;
    fresh = NULL;
    pthread_rwlock_unlock(&ks->share_lock);
    if (old)
        mv_secure_free(old);
    mv_log(MV_LOG_INFO, COMPONENT, "%s (epoch %llu) finished: share and public shares stored",
           a.refresh ? "proactive refresh" : "distributed key generation", (unsigned long long)a.epoch);
out:
    if (fresh)
        mv_secure_free(fresh);
    pthread_mutex_lock(&ks->dkg_lock);
    if (rc == MV_OK) {
        ks->dkg.finished = 1;
    } else {
        dkg_fail_locked(ks, why[0] ? why : mv_strerror(rc));
    }
    mv_dkg_free(ks->dkg.dkg);
    ks->dkg.dkg = NULL;
    ks->dkg_thread_done = 1;
    pthread_mutex_unlock(&ks->dkg_lock);
    return NULL;
}

void ks_join_dkg_thread(struct ks *ks)
{
    if (ks->dkg_thread_started) {
        pthread_join(ks->dkg_thread, NULL);
        ks->dkg_thread_started = 0;
    }
}

/* Called with no lock held, from the HTTP thread (refresh) or at startup (DKG). */
void ks_start_dkg(struct ks *ks, uint64_t epoch, int refresh)
{
    pthread_mutex_lock(&ks->dkg_lock);
    if (ks->dkg_thread_started && ks->dkg_thread_done) {
        pthread_join(ks->dkg_thread, NULL);
        ks->dkg_thread_started = 0;
    }
    if (ks->dkg_thread_started) {
        pthread_mutex_unlock(&ks->dkg_lock);
        return;
    }
    mv_dkg_free(ks->dkg.dkg);
    memset(&ks->dkg, 0, sizeof ks->dkg);
    ks->dkg.epoch = epoch;
    if (mv_dkg_new(ks->my_index, ks->threshold, ks->n_peers, refresh, &ks->dkg.dkg) != MV_OK) {
        ks->dkg.active = 1;
        dkg_fail_locked(ks, "cannot create the DKG state");
        pthread_mutex_unlock(&ks->dkg_lock);
        return;
    }
    ks->dkg.active = 1;
    struct dkg_args *a = mv_malloc(sizeof *a);
    if (a) {
        a->ks = ks;
        a->epoch = epoch;
        a->refresh = refresh;
        ks->dkg_thread_done = 0;
        if (pthread_create(&ks->dkg_thread, NULL, dkg_main, a) == 0) {
            ks->dkg_thread_started = 1;
        } else {
            mv_free(a);
            dkg_fail_locked(ks, "cannot start the DKG thread");
        }
    } else {
        dkg_fail_locked(ks, "out of memory");
    }
    pthread_mutex_unlock(&ks->dkg_lock);
}

