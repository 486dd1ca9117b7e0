/* keyserver.c - one threshold VOPRF key server: holds a share, never the key; answers only
 * signed, rate-limited requests; runs DKG and proactive refresh with its peers (keyserver_dkg.c). */
#include "medvault/mv_keyserver.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "medvault/mv_auth.h"
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
#include "keyserver_internal.h"

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
int ks_authenticate(struct ks *ks, const mv_http_request *req, mv_http_response *resp,
                    mv_credential *cred)
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
int ks_authenticate_peer(struct ks *ks, const mv_http_request *req, mv_http_response *resp,
                         uint32_t index)
{
    mv_credential cred;
    if (ks_authenticate(ks, req, resp, &cred))
        return 1;
    const struct peer *p = peer_by_index(ks, index);
    if (!mv_credential_has_role(&cred, MV_ROLE_KEYSERVER) || !p || !mv_ct_eq(p->key, cred.subject, 32)) {
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
    mv_jw w;
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "suite", "ristretto255-SHA512");
    mv_jw_ku64(&w, "mode", 1);
    mv_jw_ku64(&w, "index", s->index);
    mv_jw_ku64(&w, "threshold", s->threshold);
    mv_jw_ku64(&w, "servers", s->n);
    mv_jw_ku64(&w, "epoch", s->epoch);
    mv_jw_khex(&w, "public_share", s->public_shares[s->index - 1], 32);
    mv_jw_khex(&w, "group_public_key", s->group_pk, 32);
    mv_jw_key(&w, "public_shares");
    mv_jw_arr(&w);
    for (uint32_t i = 0; i < s->n; i++) {
        mv_jw_obj(&w);
        mv_jw_ku64(&w, "index", i + 1);
        mv_jw_khex(&w, "public_share", s->public_shares[i], 32);
        mv_jw_obj_end(&w);
    }
    pthread_rwlock_unlock(&ks->share_lock);
    mv_jw_arr_end(&w);
    mv_jw_khex(&w, "server_key", mv_identity_sign_pk(ks->id), 32);
    mv_jw_obj_end(&w);
    rc = mv_jw_finish(&w);
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
    double t0 = mv_mono_seconds();
    mv_buf_init(&b, 128 + (size_t)MV_OPRF_MAX_BATCH * 70);

    if (ks_authenticate(ks, req, resp, &cred))
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
    mv_jw w;
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_ku64(&w, "index", my_index);
    mv_jw_key(&w, "evaluated");
    mv_jw_arr(&w);
    for (size_t i = 0; i < count; i++)
        mv_jw_hex(&w, evaluated + i * 32, 32);
    mv_jw_arr_end(&w);
    mv_jw_khex(&w, "proof", proof, sizeof proof);
    mv_jw_obj_end(&w);
    mv_err rc = mv_jw_finish(&w);
    if (rc != MV_OK) {
        mv_http_respond_json_error(resp, 500, "internal error");
        goto out;
    }
    mv_http_respond_json(resp, 200, &b);
    metric_add(ks, "medvault_keyserver_evaluations_total", "Blinded elements evaluated", NULL, count);
    metric_add(ks, "medvault_keyserver_evaluate_requests_total", "Evaluate requests answered with 200", NULL, 1);
    if (mv_metrics_histogram_observe(ks->metrics, "medvault_keyserver_evaluate_duration_seconds",
                                     "Time to authenticate, evaluate and prove one batch", NULL,
                                     mv_mono_seconds() - t0) != MV_OK)
        mv_log(MV_LOG_DEBUG, COMPONENT, "latency sample dropped");
out:
    mv_wipe(proof, sizeof proof);
    mv_free(blinded);
    mv_free(evaluated); /* public: it is the answer */
    mv_json_free(root);
    mv_buf_clear(&b);
}

/* GET /v1/audit: the request log, for a hospital admin's credential only. */
static void handle_audit(struct ks *ks, const mv_http_request *req, mv_http_response *resp)
{
    mv_credential cred;
    if (ks_authenticate(ks, req, resp, &cred))
        return;
    if (!mv_credential_has_role(&cred, MV_ROLE_ADMIN))
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
        ks_handle_dkg_deal(ks, req, resp);
    else if (!strcmp(req->path, "/v1/dkg/reveal") && post)
        ks_handle_dkg_reveal(ks, req, resp);
    else if (!strcmp(req->path, "/v1/dkg/status") && get)
        ks_handle_dkg_status(ks, req, resp);
    else if (!strcmp(req->path, "/v1/admin/refresh") && post)
        ks_handle_refresh(ks, req, resp);
    else if (!strcmp(req->path, "/v1/audit"))
        handle_audit(ks, req, resp);
    else if (!strcmp(req->path, "/v1/info") || !strcmp(req->path, "/v1/evaluate") ||
             !strncmp(req->path, "/v1/dkg/", 8) || !strcmp(req->path, "/v1/admin/refresh"))
        mv_http_respond_json_error(resp, 405, "method not allowed");
    else
        mv_http_respond_json_error(resp, 404, "no such endpoint");
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
        ks_start_dkg(&ks, 0, 0);

    mv_daemon_wait(5.0, ratelimit_tick, ks.rl);
    mv_log(MV_LOG_INFO, COMPONENT, "shutting down");
    rc = MV_OK;
out:
    ks.stopping = 1;
    mv_service_stop_serving(&svc);
    ks_join_dkg_thread(&ks);
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
