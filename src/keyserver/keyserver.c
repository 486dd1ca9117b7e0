/* keyserver.c - one threshold VOPRF key server: holds a share, never the key; answers only
 * signed, rate-limited requests; runs DKG and proactive refresh with its peers. */
#include "medvault/mv_keyserver.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "medvault/mv_auth.h"
#include "medvault/mv_box.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_config.h"
#include "medvault/mv_daemon.h"
#include "medvault/mv_dkg.h"
#include "medvault/mv_file.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_http.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_audit_http.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_metrics.h"
#include "medvault/mv_oprf.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_revocation.h"
#include "medvault/mv_service.h"
#include "medvault/mv_sig.h"
#include "ratelimit.h"

#define COMPONENT "keyserver"
#define MAX_T MV_KS_MAX_SERVERS
#define SEALED_SHARE_BYTES (32 + MV_BOX_SEAL_BYTES)

struct peer {
    uint32_t index;
    char url[256];
    uint8_t key[32]; /* Ed25519: signs its DKG messages */
    uint8_t xpk[32]; /* X25519 form of key: deals are sealed to it */
};

/* One DKG or refresh run. Guarded by ks->dkg_lock. Kept after finishing so that peers still
 * polling the status of this epoch get a stable answer. */
struct dkg_state {
    int active;        /* a run exists for `epoch` */
    uint64_t epoch;
    mv_dkg *dkg;
    int have[MAX_T + 1];
    int complained[MAX_T + 1]; /* I complained about this dealer and it is unresolved */
    unsigned deals;
    unsigned unresolved;
    int digest_ready;
    uint8_t digest[32];
    int failed;
    int finished;
    char reason[192];
};

struct ks {
    const mv_keyserver_config *cfg;
    mv_identity *id;
    uint8_t *xsk; /* secure memory: X25519 secret derived from the signing key */
    uint8_t xpk[32];
    struct peer peers[MAX_T];
    size_t n_peers;
    uint32_t my_index;
    uint32_t threshold;

    pthread_rwlock_t share_lock;
    mv_ks_share *share; /* secure memory; NULL until the key exists */

    pthread_mutex_t dkg_lock;
    struct dkg_state dkg;
    pthread_t dkg_thread;
    int dkg_thread_started;
    int dkg_thread_done;

    mv_auth_verifier *auth;
    mv_ratelimit *rl;
    mv_metrics *metrics;
    mv_audit *audit; /* the request log, signed with the identity key */
    volatile sig_atomic_t stopping;
};

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double mono_now(void)
{
    return mv_mono_seconds();
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---------- config ---------- */

mv_err mv_keyserver_config_defaults(mv_keyserver_config *cfg, const char *dir, size_t *err_line)
{
    /* The listen address and hospital key are command-line flags only: one source of truth. */
    static const char *const allowed[] = {"rate_per_sec", "rate_burst", "threads", "skew_seconds",
                                          "dkg_timeout_seconds", "hospital_url", "revocation_poll_seconds",
                                          "public_url", NULL};
    mv_config *c = NULL;
    memset(cfg, 0, sizeof *cfg);
    cfg->dir = dir;
    /* One table of the numeric settings: key, default, range. */
    mv_config_num num[] = {
        {"rate_per_sec", 100, 1, 100000000, 0},  {"rate_burst", 10000, 1, 1000000000, 0},
        {"threads", 2, 1, 256, 0},               {"skew_seconds", 300, 1, 3600, 0},
        {"dkg_timeout_seconds", 120, 1, 86400, 0},
        {"revocation_poll_seconds", MV_REVOCATION_DEFAULT_INTERVAL, 1, MV_REVOCATION_MAX_INTERVAL, 0},
    };
    mv_err rc = mv_config_load_settings(dir, "keyserver.conf", COMPONENT, allowed, num, sizeof num / sizeof num[0],
                                        &c, err_line);
    cfg->rate_per_sec = (double)num[0].v;
    cfg->rate_burst = (double)num[1].v;
    cfg->threads = (unsigned)num[2].v;
    cfg->skew_seconds = num[3].v;
    cfg->dkg_timeout_s = (double)num[4].v;
    cfg->revocation_poll_s = (unsigned)num[5].v;
    const char *url = rc == MV_OK ? mv_config_get(c, "hospital_url") : NULL;
    if (url && !mv_revocation_url_ok(url)) {
        if (err_line)
            *err_line = mv_config_line(c, "hospital_url");
        mv_log(MV_LOG_ERROR, COMPONENT, "keyserver.conf: hospital_url must be http(s)://host[:port] (no user, query)");
        rc = MV_ERR_PARSE;
    } else if (url) {
        snprintf(cfg->hospital_url, sizeof cfg->hospital_url, "%s", url);
    }
    const char *pub = rc == MV_OK ? mv_config_get(c, "public_url") : NULL;
    if (pub && mv_auth_verifier_add_urls(NULL, pub) != MV_OK) {
        if (err_line)
            *err_line = mv_config_line(c, "public_url");
        mv_log(MV_LOG_ERROR, COMPONENT, "keyserver.conf: public_url must be http(s) URLs separated by commas");
        rc = MV_ERR_PARSE;
    } else if (pub) {
        snprintf(cfg->public_urls, sizeof cfg->public_urls, "%s", pub);
    }
    mv_config_free(c);
    return rc;
}

/* ---------- small JSON/HTTP helpers ---------- */

/* Metrics are best effort: a full registry drops the sample, serving goes on. */
static void metric_add(struct ks *ks, const char *name, const char *help, const char *labels, uint64_t n)
{
    if (mv_metrics_counter_add(ks->metrics, name, help, labels, n) != MV_OK)
        mv_log(MV_LOG_DEBUG, COMPONENT, "metric %s dropped", name);
}

static void count_rejection(struct ks *ks, const char *reason)
{
    char labels[64];
    snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
    metric_add(ks, "medvault_keyserver_rejections_total", "Evaluate requests refused, by reason", labels, 1);
}

/* Verifies a signed request; on failure writes the 401 (or 503) answer and returns non-zero. */
static int authenticate(struct ks *ks, const mv_http_request *req, mv_http_response *resp, mv_credential *cred)
{
    mv_err rc = mv_http_verify(ks->auth, req, (uint64_t)time(NULL), cred);
    if (rc == MV_OK)
        return 0;
    mv_http_respond_auth_failure(resp, rc);
    count_rejection(ks, "auth");
    return 1;
}

static const struct peer *peer_by_index(const struct ks *ks, uint32_t index)
{
    for (size_t i = 0; i < ks->n_peers; i++)
        if (ks->peers[i].index == index)
            return &ks->peers[i];
    return NULL;
}

/* DKG messages must come from the key server registered for `index` in peers.json,
 * holding a hospital-issued credential with role keyserver. */
static int authenticate_peer(struct ks *ks, const mv_http_request *req, mv_http_response *resp, uint32_t index)
{
    mv_credential cred;
    if (authenticate(ks, req, resp, &cred))
        return 1;
    const struct peer *p = peer_by_index(ks, index);
    if (strcmp(cred.role, "keyserver") != 0 || !p || !mv_ct_eq(p->key, cred.subject, 32)) {
        mv_http_respond_json_error(resp, 403, "not the key server registered for this index");
        return 1;
    }
    return 0;
}

/* ---------- GET /v1/info ---------- */

static void handle_info(struct ks *ks, mv_http_response *resp)
{
    mv_buf b;
    mv_err rc = MV_OK;
    mv_buf_init(&b, 16384);
    pthread_rwlock_rdlock(&ks->share_lock);
    const mv_ks_share *s = ks->share;
    if (!s) {
        pthread_rwlock_unlock(&ks->share_lock);
        mv_http_respond_json_error(resp, 503, "key generation in progress");
        mv_buf_clear(&b);
        return;
    }
    rc = mv_buf_printf(&b, "{\"suite\":\"ristretto255-SHA512\",\"mode\":1,\"index\":%u,\"threshold\":%u,"
                           "\"servers\":%u,\"epoch\":%llu,\"public_share\":",
                       (unsigned)s->index, (unsigned)s->threshold, (unsigned)s->n, (unsigned long long)s->epoch);
    if (rc == MV_OK)
        rc = mv_json_write_hex(&b, s->public_shares[s->index - 1], 32);
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, ",\"group_public_key\":");
    if (rc == MV_OK)
        rc = mv_json_write_hex(&b, s->group_pk, 32);
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, ",\"public_shares\":[");
    for (uint32_t i = 0; rc == MV_OK && i < s->n; i++) {
        if (i)
            rc = mv_buf_puts(&b, ",");
        if (rc == MV_OK)
            rc = mv_buf_printf(&b, "{\"index\":%u,\"public_share\":", (unsigned)(i + 1));
        if (rc == MV_OK)
            rc = mv_json_write_hex(&b, s->public_shares[i], 32);
        if (rc == MV_OK)
            rc = mv_buf_puts(&b, "}");
    }
    pthread_rwlock_unlock(&ks->share_lock);
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, "],\"server_key\":");
    if (rc == MV_OK)
        rc = mv_json_write_hex(&b, mv_identity_sign_pk(ks->id), 32);
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, "}");
    mv_http_respond_built(resp, rc, 200, &b);
    mv_buf_clear(&b);
}

/* ---------- POST /v1/evaluate ---------- */

static void handle_evaluate(struct ks *ks, const mv_http_request *req, mv_http_response *resp)
{
    mv_credential cred;
    mv_json *root = NULL;
    uint8_t *blinded = NULL, *evaluated = NULL;
    uint8_t proof[MV_OPRF_PROOF_BYTES];
    char msg[128];
    mv_buf b;
    double t0 = mono_now();
    mv_buf_init(&b, 128 + (size_t)MV_OPRF_MAX_BATCH * 70);

    if (authenticate(ks, req, resp, &cred))
        goto out;
    if (mv_json_parse((const char *)req->body, req->body_len, NULL, &root, NULL) != MV_OK ||
        mv_json_type_of(root) != MV_JSON_OBJECT) {
        mv_http_respond_json_error(resp, 400, "malformed JSON body");
        count_rejection(ks, "invalid");
        goto out;
    }
    const mv_json *arr = mv_json_get(root, "blinded");
    size_t count = mv_json_len(arr);
    if (mv_json_type_of(arr) != MV_JSON_ARRAY || count == 0) {
        mv_http_respond_json_error(resp, 400, "\"blinded\" must be a non-empty array of hex elements");
        count_rejection(ks, "invalid");
        goto out;
    }
    if (count > MV_OPRF_MAX_BATCH) {
        snprintf(msg, sizeof msg, "too many elements: %zu (at most %d per request)", count, MV_OPRF_MAX_BATCH);
        mv_http_respond_json_error(resp, 400, msg);
        count_rejection(ks, "invalid");
        goto out;
    }
    blinded = mv_malloc(count * 32);
    evaluated = mv_malloc(count * 32);
    if (!blinded || !evaluated) {
        mv_http_respond_json_error(resp, 503, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        size_t sl = 0;
        const char *s = mv_json_str(mv_json_at(arr, i), &sl);
        if (!s || mv_hex_decode_exact(blinded + i * 32, 32, s, sl) != MV_OK) {
            snprintf(msg, sizeof msg, "element %zu is not 32 bytes of hex", i);
            mv_http_respond_json_error(resp, 400, msg);
            count_rejection(ks, "invalid");
            goto out;
        }
        mv_err erc = mv_r255_elem_check(blinded + i * 32);
        if (erc != MV_OK) {
            snprintf(msg, sizeof msg, erc == MV_ERR_IDENTITY ? "element %zu is the identity element"
                                                              : "element %zu is not a valid ristretto255 encoding",
                     i);
            mv_http_respond_json_error(resp, 400, msg);
            count_rejection(ks, "invalid");
            goto out;
        }
    }
    long retry = 0;
    mv_err rrc = mv_ratelimit_take(ks->rl, cred.subject, (double)count, wall_now(), &retry);
    if (rrc == MV_ERR_RATE_LIMITED) {
        char ra[32];
        snprintf(ra, sizeof ra, "%ld", retry < 0 ? 3600L : retry);
        mv_http_respond_json_error(resp, 429, retry < 0 ? "batch larger than this client's burst allowance"
                                           : "rate limit exceeded for this client");
        if (mv_http_response_header(resp, "Retry-After", ra) != MV_OK)
            mv_http_respond_json_error(resp, 500, "internal error");
        count_rejection(ks, "rate_limited");
        goto out;
    } else if (rrc != MV_OK) {
        mv_http_respond_json_error(resp, 503, "rate limiter unavailable");
        goto out;
    }

    pthread_rwlock_rdlock(&ks->share_lock);
    const mv_ks_share *s = ks->share;
    mv_err erc = MV_ERR_BAD_STATE;
    uint32_t my_index = 0;
    if (s) {
        my_index = s->index;
        erc = mv_oprf_blind_evaluate(s->share, blinded, count, evaluated);
        if (erc == MV_OK)
            erc = mv_voprf_prove(s->share, s->public_shares[s->index - 1], blinded, evaluated, count, NULL, proof);
    }
    pthread_rwlock_unlock(&ks->share_lock);
    if (erc == MV_ERR_BAD_STATE) {
        mv_http_respond_json_error(resp, 503, "key generation in progress");
        goto out;
    }
    if (erc != MV_OK) {
        mv_http_respond_json_error(resp, 400, "an element could not be evaluated");
        count_rejection(ks, "invalid");
        goto out;
    }
    mv_err rc = mv_buf_printf(&b, "{\"index\":%u,\"evaluated\":[", (unsigned)my_index);
    for (size_t i = 0; rc == MV_OK && i < count; i++) {
        if (i)
            rc = mv_buf_puts(&b, ",");
        if (rc == MV_OK)
            rc = mv_json_write_hex(&b, evaluated + i * 32, 32);
    }
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, "],\"proof\":");
    if (rc == MV_OK)
        rc = mv_json_write_hex(&b, proof, sizeof proof);
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, "}");
    if (rc != MV_OK) {
        mv_http_respond_json_error(resp, 500, "internal error");
        goto out;
    }
    mv_http_respond_json(resp, 200, &b);
    metric_add(ks, "medvault_keyserver_evaluations_total", "Blinded elements evaluated", NULL, count);
    metric_add(ks, "medvault_keyserver_evaluate_requests_total", "Evaluate requests answered with 200", NULL, 1);
    if (mv_metrics_histogram_observe(ks->metrics, "medvault_keyserver_evaluate_duration_seconds",
                                     "Time to authenticate, evaluate and prove one batch", NULL,
                                     mono_now() - t0) != MV_OK)
        mv_log(MV_LOG_DEBUG, COMPONENT, "latency sample dropped");
out:
    mv_wipe(proof, sizeof proof);
    mv_free(blinded);
    mv_free(evaluated); /* public: it is the answer */
    mv_json_free(root);
    mv_buf_clear(&b);
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

static void handle_dkg_deal(struct ks *ks, const mv_http_request *req, mv_http_response *resp)
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
    if (authenticate_peer(ks, req, resp, (uint32_t)from))
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
    if (mv_buf_printf(&b, "{\"accepted\":%s}", complaint ? "false" : "true") == MV_OK)
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

static void handle_dkg_reveal(struct ks *ks, const mv_http_request *req, mv_http_response *resp)
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
    if (authenticate_peer(ks, req, resp, (uint32_t)dealer))
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

static void handle_dkg_status(struct ks *ks, const mv_http_request *req, mv_http_response *resp)
{
    mv_credential cred;
    mv_buf b;
    if (authenticate(ks, req, resp, &cred))
        return;
    mv_buf_init(&b, 1024);
    pthread_mutex_lock(&ks->dkg_lock);
    const struct dkg_state *st = &ks->dkg;
    mv_err rc = mv_buf_printf(&b, "{\"active\":%s,\"epoch\":%llu,\"deals\":%u,\"unresolved\":%u,\"failed\":%s,"
                                  "\"finished\":%s,\"digest\":",
                              st->active ? "true" : "false", (unsigned long long)st->epoch, st->deals,
                              st->unresolved, st->failed ? "true" : "false", st->finished ? "true" : "false");
    if (rc == MV_OK)
        rc = st->digest_ready ? mv_json_write_hex(&b, st->digest, 32) : mv_buf_puts(&b, "\"\"");
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, ",\"reason\":");
    if (rc == MV_OK)
        rc = mv_json_write_str(&b, st->reason, strlen(st->reason));
    pthread_mutex_unlock(&ks->dkg_lock);
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, "}");
    mv_http_respond_built(resp, rc, 200, &b);
    mv_buf_clear(&b);
}

static void start_dkg(struct ks *ks, uint64_t epoch, int refresh);

static void handle_refresh(struct ks *ks, const mv_http_request *req, mv_http_response *resp)
{
    mv_credential cred;
    mv_json *root = NULL;
    uint64_t epoch = 0;
    mv_buf b;
    mv_buf_init(&b, 256);
    if (authenticate(ks, req, resp, &cred))
        goto out;
    if (strcmp(cred.role, "admin") != 0) {
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
    start_dkg(ks, epoch, 1);
    mv_http_respond_fmt(resp, 202, "{\"epoch\":%llu,\"started\":true}", (unsigned long long)epoch);
out:
    mv_json_free(root);
    mv_buf_clear(&b);
}

/* GET /v1/audit: the request log, for a hospital admin's credential only. */
static void handle_audit(struct ks *ks, const mv_http_request *req, mv_http_response *resp)
{
    mv_credential cred;
    if (authenticate(ks, req, resp, &cred))
        return;
    if (strcmp(cred.role, "admin") != 0)
        mv_http_respond_json_error(resp, 403, "only an admin may read the audit log");
    else
        mv_audit_respond(ks->audit, req, resp);
}

static void handler(void *ctx, const mv_http_request *req, mv_http_response *resp)
{
    struct ks *ks = ctx;
    int get = !strcmp(req->method, "GET"), post = !strcmp(req->method, "POST");
    if (!strcmp(req->path, "/v1/info") && get)
        handle_info(ks, resp);
    else if (!strcmp(req->path, "/v1/evaluate") && post)
        handle_evaluate(ks, req, resp);
    else if (!strcmp(req->path, "/v1/dkg/deal") && post)
        handle_dkg_deal(ks, req, resp);
    else if (!strcmp(req->path, "/v1/dkg/reveal") && post)
        handle_dkg_reveal(ks, req, resp);
    else if (!strcmp(req->path, "/v1/dkg/status") && get)
        handle_dkg_status(ks, req, resp);
    else if (!strcmp(req->path, "/v1/admin/refresh") && post)
        handle_refresh(ks, req, resp);
    else if (!strcmp(req->path, "/v1/audit"))
        handle_audit(ks, req, resp);
    else if (!strcmp(req->path, "/v1/info") || !strcmp(req->path, "/v1/evaluate") ||
             !strncmp(req->path, "/v1/dkg/", 8) || !strcmp(req->path, "/v1/admin/refresh"))
        mv_http_respond_json_error(resp, 405, "method not allowed");
    else
        mv_http_respond_json_error(resp, 404, "no such endpoint");
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
    if (mono_now() > deadline) {
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
        mv_buf *bd = &bodies[i];
        if (rc == MV_OK)
            rc = mv_buf_printf(bd, "{\"epoch\":%llu,\"from\":%u,\"commitments\":[", (unsigned long long)epoch,
                               (unsigned)ks->my_index);
        for (uint32_t k = 0; rc == MV_OK && k < ks->threshold; k++) {
            if (k)
                rc = mv_buf_puts(bd, ",");
            if (rc == MV_OK)
                rc = mv_json_write_hex(bd, commits + k * 32, 32);
        }
        pthread_mutex_unlock(&ks->dkg_lock);
        if (rc == MV_OK)
            rc = mv_box_seal(sealed, share, 32, p->xpk);
        mv_wipe(share, sizeof share);
        if (rc == MV_OK)
            rc = mv_buf_puts(bd, "],\"sealed_share\":");
        if (rc == MV_OK)
            rc = mv_json_write_hex(bd, sealed, sizeof sealed);
        if (rc == MV_OK)
            rc = mv_buf_puts(bd, "}");
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
        if (rc == MV_OK)
            rc = mv_buf_printf(&body, "{\"epoch\":%llu,\"dealer\":%u,\"complainer\":%u,\"share\":",
                               (unsigned long long)epoch, (unsigned)ks->my_index, (unsigned)c);
        if (rc == MV_OK)
            rc = mv_json_write_hex(&body, share, 32);
        if (rc == MV_OK)
            rc = mv_buf_puts(&body, "}");
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
    double deadline = mono_now() + ks->cfg->dkg_timeout_s;
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

static void join_dkg_thread(struct ks *ks)
{
    if (ks->dkg_thread_started) {
        pthread_join(ks->dkg_thread, NULL);
        ks->dkg_thread_started = 0;
    }
}

/* Called with no lock held, from the HTTP thread (refresh) or at startup (DKG). */
static void start_dkg(struct ks *ks, uint64_t epoch, int refresh)
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

/* ---------- startup ---------- */

static mv_err load_peers(struct ks *ks)
{
    char path[4096];
    mv_json *root = NULL;
    mv_buf b;
    uint64_t v = 0;
    mv_err rc;
    if ((rc = mv_path_join(path, sizeof path, ks->cfg->dir, "peers.json")) != MV_OK)
        return rc;
    mv_buf_init(&b, 1u << 20);
    if ((rc = mv_file_read(path, 1u << 20, &b)) != MV_OK)
        goto out;
    rc = MV_ERR_PARSE;
    if (mv_json_parse((const char *)b.ptr, b.len, NULL, &root, NULL) != MV_OK)
        goto out;
    if (mv_json_get_u64(root, "threshold", &v) != MV_OK || v == 0 || v > MAX_T)
        goto out;
    ks->threshold = (uint32_t)v;
    const mv_json *arr = mv_json_get(root, "keyservers");
    size_t n = mv_json_len(arr);
    if (n == 0 || n > MAX_T || n < ks->threshold)
        goto out;
    int seen[MAX_T + 1] = {0};
    for (size_t i = 0; i < n; i++) {
        const mv_json *e = mv_json_at(arr, i);
        struct peer *p = &ks->peers[i];
        size_t ul = 0;
        const char *url = mv_json_get_str(e, "url", &ul);
        if (mv_json_get_u64(e, "index", &v) != MV_OK || v == 0 || v > n || seen[v] || !url || ul == 0 ||
            ul >= sizeof p->url || mv_json_get_hex(e, "server_key", p->key, 32) != MV_OK)
            goto out;
        seen[v] = 1;
        p->index = (uint32_t)v;
        memcpy(p->url, url, ul);
        p->url[ul] = 0;
        if (mv_sign_pk_to_x25519(p->xpk, p->key) != MV_OK)
            goto out;
        if (mv_ct_eq(p->key, mv_identity_sign_pk(ks->id), 32))
            ks->my_index = p->index;
    }
    ks->n_peers = n;
    rc = ks->my_index ? MV_OK : MV_ERR_NOT_FOUND;
    if (rc != MV_OK)
        mv_log(MV_LOG_ERROR, COMPONENT, "%s does not list this server's key", path);
out:
    if (rc == MV_ERR_PARSE)
        mv_log(MV_LOG_ERROR, COMPONENT, "%s is malformed", path);
    mv_json_free(root);
    mv_buf_clear(&b);
    return rc;
}

static void ratelimit_tick(void *ctx)
{
    mv_ratelimit_sync(ctx);
}

mv_err mv_keyserver_run(const mv_keyserver_config *cfg)
{
    struct ks ks;
    mv_ks_share loaded;
    mv_service svc;
    mv_err rc;
    memset(&ks, 0, sizeof ks);
    memset(&loaded, 0, sizeof loaded);
    memset(&svc, 0, sizeof svc);
    ks.cfg = cfg;
    pthread_rwlock_init(&ks.share_lock, NULL);
    pthread_mutex_init(&ks.dkg_lock, NULL);
    if (!cfg || !cfg->dir || !cfg->listen)
        return MV_ERR_INVAL;
    mv_daemon_harden();
    if ((rc = mv_httpc_global_init()) != MV_OK)
        goto out;
    if ((rc = mv_identity_load(cfg->dir, &ks.id)) != MV_OK) {
        mv_log(MV_LOG_ERROR, COMPONENT, "cannot load the server identity from %s: %s (run `medvault keyserver init`)",
               cfg->dir, mv_strerror(rc));
        goto out;
    }
    ks.xsk = mv_secure_alloc(32);
    if (!ks.xsk) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    if ((rc = mv_sign_sk_to_x25519(ks.xsk, mv_identity_sign_sk(ks.id))) != MV_OK ||
        (rc = mv_sign_pk_to_x25519(ks.xpk, mv_identity_sign_pk(ks.id))) != MV_OK)
        goto out;

    rc = mv_ks_share_load(cfg->dir, &loaded);
    if (rc == MV_OK) {
        ks.share = mv_secure_alloc(sizeof *ks.share);
        if (!ks.share) {
            rc = MV_ERR_NOMEM;
            goto out;
        }
        *ks.share = loaded;
        ks.my_index = loaded.index;
        ks.threshold = loaded.threshold;
    } else if (rc != MV_ERR_NOT_FOUND) {
        mv_log(MV_LOG_ERROR, COMPONENT, "share.json in %s: %s", cfg->dir, mv_strerror(rc));
        goto out;
    }
    mv_wipe(&loaded, sizeof loaded);
    char ppath[4096];
    if ((rc = mv_path_join(ppath, sizeof ppath, cfg->dir, "peers.json")) != MV_OK)
        goto out;
    if (mv_file_exists(ppath)) {
        uint32_t idx = ks.my_index, t = ks.threshold;
        if ((rc = load_peers(&ks)) != MV_OK)
            goto out;
        if (ks.share && (idx != ks.my_index || t != ks.threshold || ks.share->n != ks.n_peers)) {
            mv_log(MV_LOG_ERROR, COMPONENT, "peers.json disagrees with share.json (index, threshold or count)");
            rc = MV_ERR_PARSE;
            goto out;
        }
    } else if (!ks.share) {
        mv_log(MV_LOG_ERROR, COMPONENT,
               "%s has neither share.json nor peers.json: import a share or give the peers for a DKG", cfg->dir);
        rc = MV_ERR_NOT_FOUND;
        goto out;
    }
    if (!ks.share && !mv_identity_credential(ks.id)) {
        mv_log(MV_LOG_ERROR, COMPONENT, "a DKG needs this server's credential (role keyserver) in %s/credential",
               cfg->dir);
        rc = MV_ERR_AUTH;
        goto out;
    }

    if ((rc = mv_ratelimit_open(cfg->dir, cfg->rate_per_sec, cfg->rate_burst, &ks.rl)) != MV_OK) {
        mv_log(MV_LOG_ERROR, COMPONENT, "cannot open the rate-limit store: %s", mv_strerror(rc));
        goto out;
    }
    if ((rc = mv_audit_open(cfg->dir, "keyserver", mv_identity_sign_sk(ks.id), NULL, &ks.audit)) != MV_OK) {
        mv_log(MV_LOG_ERROR, COMPONENT, "cannot open the audit log in %s: %s", cfg->dir, mv_strerror(rc));
        goto out;
    }
    mv_service_config sc = {
        .component = COMPONENT,
        .dir = cfg->dir,
        .skew_seconds = cfg->skew_seconds,
        .hospital_url = cfg->hospital_url,
        .revocation_poll_s = cfg->revocation_poll_s,
        .audit = ks.audit,
    };
    memcpy(sc.hospital_pk, cfg->hospital_pk, 32);
    if ((rc = mv_service_start(&sc, &svc)) != MV_OK)
        goto out;
    ks.auth = svc.auth; /* borrowed from svc by the handlers */
    ks.metrics = svc.metrics;

    mv_http_config hc = {
        .listen = cfg->listen,
        .max_body = 256 * 1024,
        .threads = cfg->threads,
        .handler = handler,
        .ctx = &ks,
        .component = "medvault_keyserver",
        .body_gate = mv_http_gate_signed, /* a signature that verifies from the headers */
        .body_gate_ctx = ks.auth,
    };
    if ((rc = mv_service_listen(&svc, &hc, cfg->public_urls, cfg->port_file)) != MV_OK)
        goto out;
    mv_log(MV_LOG_INFO, COMPONENT, "listening on port %u (index %u, threshold %u, %s)", (unsigned)svc.port,
           (unsigned)ks.my_index, (unsigned)ks.threshold, ks.share ? "share loaded" : "running DKG");
    if (!ks.share)
        start_dkg(&ks, 0, 0);

    mv_daemon_wait(5.0, ratelimit_tick, ks.rl);
    mv_log(MV_LOG_INFO, COMPONENT, "shutting down");
    rc = MV_OK;
out:
    ks.stopping = 1;
    mv_service_stop_serving(&svc);
    join_dkg_thread(&ks);
    mv_service_stop(&svc);
    mv_audit_close(ks.audit);
    mv_dkg_free(ks.dkg.dkg);
    mv_ratelimit_close(ks.rl);
    if (ks.share)
        mv_secure_free(ks.share);
    if (ks.xsk)
        mv_secure_free(ks.xsk);
    mv_identity_free(ks.id);
    mv_wipe(&loaded, sizeof loaded);
    pthread_rwlock_destroy(&ks.share_lock);
    pthread_mutex_destroy(&ks.dkg_lock);
    return rc;
}
