/* storage.c - the storage server's lifecycle and routing: no endpoint is reachable without a
 * hospital-verified signed request, and the proof-of-ownership key never leaves locked memory. */
#include "medvault/mv_storage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "medvault/mv_audit_http.h"
#include "medvault/mv_config.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_daemon.h"
#include "medvault/mv_decoy.h"
#include "medvault/mv_file.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_revocation.h"
#include "pre_proxy.h"
#include "storage_internal.h"

/* ---------- config ---------- */

/* The guard's string settings of storage.conf: decoy_url, identity, profile_factor. */
static mv_err guard_config(mv_storage_config *cfg, const mv_config *c, size_t *err_line)
{
    const char *url = mv_config_get(c, "decoy_url"), *idd = mv_config_get(c, "identity"),
               *f = mv_config_get(c, "profile_factor"), *pub = mv_config_get(c, "public_url");
    const char *bad = NULL;
    if (url && (!mv_revocation_url_ok(url) || strlen(url) >= sizeof cfg->decoy_url))
        bad = "decoy_url";
    else if (pub && mv_auth_verifier_add_urls(NULL, pub) != MV_OK)
        bad = "public_url";
    else if (idd && (!idd[0] || strlen(idd) >= sizeof cfg->identity_dir))
        bad = "identity";
    else if (f && mv_storage_parse_factor(f, &cfg->profile_factor) != MV_OK)
        bad = "profile_factor";
    if (bad) {
        if (err_line)
            *err_line = mv_config_line(c, bad);
        mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "storage.conf: bad value for %s", bad);
        return MV_ERR_PARSE;
    }
    if (url)
        snprintf(cfg->decoy_url, sizeof cfg->decoy_url, "%s", url);
    if (idd)
        snprintf(cfg->identity_dir, sizeof cfg->identity_dir, "%s", idd);
    if (pub)
        snprintf(cfg->public_urls, sizeof cfg->public_urls, "%s", pub);
    return MV_OK;
}

mv_err mv_storage_parse_factor(const char *text, double *out)
{
    char *end = NULL;
    if (!text || !out)
        return MV_ERR_INVAL;
    if (!text[0] || text[0] == ' ' || text[0] == '+' || text[0] == '-')
        return MV_ERR_PARSE;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || !end || *end || !(v >= 1.0 && v <= 1000.0))
        return MV_ERR_PARSE;
    *out = v;
    return MV_OK;
}

mv_err mv_storage_config_defaults(mv_storage_config *cfg, const char *dir, size_t *err_line)
{
    /* The listen address and hospital key are command-line flags only: one source of truth. */
    static const char *const allowed[] = {"threads",         "skew_seconds",           "max_body",
                                          "gc_interval_seconds", "claim_ttl_seconds",  "hospital_url",
                                          "revocation_poll_seconds", "decoy_url",      "identity",
                                          "profile_floor",   "profile_factor",         "profile_denials",
                                          "public_url",      NULL};
    mv_config *c = NULL;
    if (err_line)
        *err_line = 0;
    if (!cfg)
        return MV_ERR_INVAL;
    memset(cfg, 0, sizeof *cfg);
    cfg->dir = dir;
    mv_config_num num[] = {
        {"threads", 4, 1, 256, 0},
        {"skew_seconds", 300, 1, 3600, 0},
        {"max_body", (uint64_t)256 << 20, 4096, (uint64_t)1 << 30, 0},
        {"gc_interval_seconds", 600, 0, 7 * 86400, 0},
        {"claim_ttl_seconds", 3600, 1, 30 * 86400, 0},
        {"revocation_poll_seconds", MV_REVOCATION_DEFAULT_INTERVAL, 1, MV_REVOCATION_MAX_INTERVAL, 0},
        {"profile_floor", 300, 1, 1000000000, 0},
        {"profile_denials", 10, 1, 1000000, 0},
    };
    mv_err rc = mv_config_load_settings(dir, "storage.conf", STORAGE_COMPONENT, allowed, num,
                                        sizeof num / sizeof num[0], &c, err_line);
    cfg->threads = (unsigned)num[0].v;
    cfg->skew_seconds = num[1].v;
    cfg->max_body = (size_t)num[2].v;
    cfg->gc_interval_s = (double)num[3].v;
    cfg->claim_ttl_s = num[4].v;
    cfg->revocation_poll_s = (unsigned)num[5].v;
    cfg->profile_floor = num[6].v;
    cfg->profile_denials = num[7].v;
    cfg->profile_factor = 5.0;
    if (rc == MV_OK)
        rc = guard_config(cfg, c, err_line);
    const char *url = rc == MV_OK ? mv_config_get(c, "hospital_url") : NULL;
    if (url && !mv_revocation_url_ok(url)) {
        if (err_line)
            *err_line = mv_config_line(c, "hospital_url");
        mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "storage.conf: hospital_url must be http(s)://host[:port] (no user, query)");
        rc = MV_ERR_PARSE;
    } else if (url) {
        snprintf(cfg->hospital_url, sizeof cfg->hospital_url, "%s", url);
    }
    mv_config_free(c);
    return rc;
}

/* ---------- shared helpers ---------- */

void storage_count(storage_srv *s, const char *name, const char *help, const char *labels, uint64_t n)
{
    if (mv_metrics_counter_add(s->metrics, name, help, labels, n) != MV_OK)
        mv_log(MV_LOG_DEBUG, STORAGE_COMPONENT, "metric %s dropped", name);
}

void storage_update_gauges(storage_srv *s)
{
    mv_store_stats st;
    if (mv_store_get_stats(s->store, &st) != MV_OK) {
        mv_log(MV_LOG_DEBUG, STORAGE_COMPONENT, "stats unavailable for the gauges");
        return;
    }
    if (mv_metrics_gauge_set(s->metrics, "medvault_storage_logical_bytes",
                             "Bytes of every record's blocks counted once per reference", NULL,
                             (double)st.logical_bytes) != MV_OK ||
        mv_metrics_gauge_set(s->metrics, "medvault_storage_physical_bytes",
                             "Bytes kept on disk: pack files (blocks, envelopes, dead bytes) and the index", NULL,
                             (double)st.physical_bytes) != MV_OK ||
        mv_metrics_gauge_set(s->metrics, "medvault_storage_data_bytes",
                             "Envelopes plus each referenced block once (no framing, index or dead bytes)", NULL,
                             (double)st.data_bytes) != MV_OK ||
        mv_metrics_gauge_set(s->metrics, "medvault_storage_index_bytes", "Size of the index file", NULL,
                             (double)st.index_bytes) != MV_OK ||
        mv_metrics_gauge_set(s->metrics, "medvault_storage_records", "Records stored", NULL, (double)st.records) !=
            MV_OK ||
        mv_metrics_gauge_set(s->metrics, "medvault_storage_blocks", "Distinct blocks stored", NULL,
                             (double)st.blocks) != MV_OK)
        mv_log(MV_LOG_DEBUG, STORAGE_COMPONENT, "gauge dropped");
}

void storage_respond_store_error(mv_http_response *resp, mv_err rc, const char *what)
{
    mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "%s failed: %s", what, mv_strerror(rc));
    if (rc == MV_ERR_NOMEM || rc == MV_ERR_BUSY)
        mv_http_respond_json_error(resp, 503, "storage temporarily unavailable; retry");
    else
        mv_http_respond_json_error(resp, 500, "storage error");
}

void storage_respond_405(mv_http_response *resp, const char *allowed)
{
    mv_http_respond_json_error(resp, 405, "method not allowed");
    if (mv_http_response_header(resp, "Allow", allowed) != MV_OK)
        mv_http_respond_json_error(resp, 500, "internal error");
}

void storage_set_type(mv_http_response *resp, int status, const char *content_type)
{
    resp->status = status;
    snprintf(resp->content_type, sizeof resp->content_type, "%s", content_type);
}

void storage_respond_octets(mv_http_response *resp, mv_err rc, const char *too_large, const char *what)
{
    if (rc == MV_ERR_TOO_LARGE && too_large)
        mv_http_respond_json_error(resp, 413, too_large);
    else if (rc != MV_OK)
        storage_respond_store_error(resp, rc, what);
    else
        storage_set_type(resp, 200, "application/octet-stream");
}

/* ---------- pow key ---------- */

mv_err storage_secret_load(const char *dir, const char *name, size_t n, const char *component, const char *what,
                           uint8_t **out)
{
    char path[4096];
    uint8_t fresh[64];
    mv_buf b;
    struct stat st;
    mv_err rc;
    if (n == 0 || n > sizeof fresh)
        return MV_ERR_INVAL;
    mv_buf_init(&b, n + 1);
    if ((rc = mv_path_join(path, sizeof path, dir, name)) != MV_OK)
        goto out;
    if (!mv_file_exists(path)) {
        randombytes_buf(fresh, n);
        if ((rc = mv_file_write_atomic(path, fresh, n, 0600)) != MV_OK) {
            mv_log(MV_LOG_ERROR, component, "cannot create %s: %s", path, mv_strerror(rc));
            goto out;
        }
        mv_log(MV_LOG_INFO, component, "created a new %s", what);
    }
    if (stat(path, &st) != 0) {
        rc = MV_ERR_IO;
        goto out;
    }
    if (st.st_mode & 077) {
        mv_log(MV_LOG_ERROR, component, "%s is readable by group or others (must be 0600)", path);
        rc = MV_ERR_AUTH;
        goto out;
    }
    if ((rc = mv_file_read(path, n + 1, &b)) != MV_OK)
        goto out;
    if (b.len != n) {
        mv_log(MV_LOG_ERROR, component, "%s must hold exactly %zu bytes", path, n);
        rc = MV_ERR_PARSE;
        goto out;
    }
    if (!(*out = mv_secure_alloc(n))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    memcpy(*out, b.ptr, n);
out:
    mv_wipe(fresh, sizeof fresh);
    mv_buf_clear(&b);
    return rc;
}

/* Loads dir/pow.key (32 raw bytes, 0600) into secure memory, creating it on first start. */
static mv_err load_pow_key(storage_srv *s)
{
    return storage_secret_load(s->cfg->dir, "pow.key", STORAGE_POW_KEY_BYTES, STORAGE_COMPONENT,
                               "proof-of-ownership key", &s->pow_key);
}

/* ---------- audit log ---------- */

/* Opens dir/audit/audit.log signed with dir/audit.key (created 0600 on first start). The one
 * place that picks the storage server's audit key. */
mv_err storage_open_audit(const mv_storage_config *cfg, const char *component, mv_audit **out)
{
    uint8_t sk[64];
    char path[4096];
    mv_identity *id = NULL;
    mv_err rc;
    /* The server's identity key when it has one (the key the hospital issued its credential
     * for), else a key of its own in DIR/audit.key. */
    if (cfg->identity_dir[0]) {
        if ((rc = mv_identity_load(cfg->identity_dir, &id)) == MV_OK)
            memcpy(sk, mv_identity_sign_sk(id), sizeof sk);
    } else if ((rc = mv_path_join(path, sizeof path, cfg->dir, "audit.key")) == MV_OK) {
        rc = mv_audit_key_load(path, sk);
    }
    if (rc == MV_OK)
        rc = mv_audit_open(cfg->dir, component, sk, NULL, out);
    if (rc != MV_OK)
        mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "cannot open the audit log in %s: %s", cfg->dir, mv_strerror(rc));
    mv_identity_free(id);
    mv_wipe(sk, sizeof sk);
    return rc;
}

/* ---------- run ---------- */

mv_err storage_service_start(const mv_storage_config *cfg, const char *component, mv_audit *audit, mv_service *svc)
{
    mv_service_config sc = {
        .component = component,
        .dir = cfg->dir,
        .skew_seconds = cfg->skew_seconds,
        .hospital_url = cfg->hospital_url,
        .revocation_poll_s = cfg->revocation_poll_s,
        .audit = audit,
    };
    memcpy(sc.hospital_pk, cfg->hospital_pk, 32);
    return mv_service_start(&sc, svc);
}

static void gc_tick(void *ctx)
{
    storage_srv *s = ctx;
    mv_store_gc_report rep;
    memset(&rep, 0, sizeof rep);
    mv_err rc = mv_store_gc(s->store, (uint64_t)time(NULL), &rep);
    if (rc != MV_OK) {
        mv_log(MV_LOG_WARN, STORAGE_COMPONENT, "background gc failed: %s", mv_strerror(rc));
        return;
    }
    storage_count(s, "medvault_storage_gc_runs_total", "Garbage collection passes", NULL, 1);
    storage_update_gauges(s);
}

mv_err mv_storage_run(const mv_storage_config *cfg)
{
    storage_srv s;
    mv_service svc;
    char store_dir[4096];
    mv_err rc;
    memset(&s, 0, sizeof s);
    memset(&svc, 0, sizeof svc);
    if (cfg && cfg->role == MV_STORAGE_DECOY) /* the decoy cloud: its own server (decoy_server.c) */
        return mv_decoy_run(cfg);
    if (cfg && cfg->role == MV_STORAGE_PROXY) /* the second cloud's proxy (pre_proxy_server.c) */
        return storage_proxy_run(cfg);
    if (!cfg || !cfg->dir || !cfg->listen || cfg->threads == 0 || cfg->skew_seconds == 0 || cfg->max_body == 0 ||
        cfg->claim_ttl_s == 0 ||
        !(cfg->gc_interval_s >= 0))
        return MV_ERR_INVAL;
    s.cfg = cfg;
    mv_daemon_harden();
    if ((rc = mv_crypto_init()) != MV_OK)
        goto out;
    if ((rc = mv_file_mkdir(cfg->dir, 0700)) != MV_OK) {
        mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "cannot create %s", cfg->dir);
        goto out;
    }
    if ((rc = load_pow_key(&s)) != MV_OK)
        goto out;
    if ((rc = mv_path_join(store_dir, sizeof store_dir, cfg->dir, "store")) != MV_OK)
        goto out;
    /* Each server thread holds at most two index snapshots (a listing and a read inside it);
     * the rest is for the guard, gc, check and stats. */
    mv_store_options so = {.claim_ttl_s = cfg->claim_ttl_s, .max_readers = 2 * cfg->threads + 16};
    if ((rc = mv_store_open(store_dir, &so, &s.store)) != MV_OK) {
        if (rc == MV_ERR_BUSY)
            mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "%s is in use by another process", store_dir);
        else
            mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "cannot open the store %s: %s", store_dir, mv_strerror(rc));
        goto out;
    }
    if ((rc = storage_open_audit(cfg, "storage", &s.audit)) != MV_OK)
        goto out;
    if ((rc = storage_service_start(cfg, STORAGE_COMPONENT, s.audit, &svc)) != MV_OK)
        goto out;
    s.auth = svc.auth; /* borrowed from svc by the handlers and the guard */
    s.metrics = svc.metrics;
    storage_update_gauges(&s);
    if ((rc = storage_guard_start(&s)) != MV_OK)
        goto out;
    if ((rc = storage_groups_start(&s)) != MV_OK)
        goto out;
    /* Proxy 1 of the clouds' re-encryption (docs/pre.md 7.2): its kfrags are sealed to this
     * server's identity, so without one the /v1/pre routes answer 404. */
    if (cfg->identity_dir[0] &&
        (rc = pre_proxy_open(cfg->dir, cfg->proxy_index ? cfg->proxy_index : 1, cfg->identity_dir, cfg->threads, s.metrics,
                             &s.pre)) != MV_OK)
        goto out;
    mv_http_config hc = {
        .listen = cfg->listen,
        .max_body = cfg->max_body,
        .threads = cfg->threads,
        .handler = storage_handle_request,
        .ctx = &s,
        .component = "medvault_storage",
        /* Only a credential holder's body is buffered past 64 KiB (an unsigned 200 MiB upload
         * costs 64 KiB, and the guard forwards no more than that to the decoy cloud), and an
         * anonymous group operation's up to its own cap, within its address's rate limit. */
        .body_gate = storage_body_gate,
        .body_gate_ctx = &s,
        .body_done = storage_body_done, /* releases what the gate reserved for an anonymous body */
    };
    if ((rc = mv_service_listen(&svc, &hc, cfg->public_urls, cfg->port_file)) != MV_OK)
        goto out;
    mv_log(MV_LOG_INFO, STORAGE_COMPONENT, "listening on port %u", (unsigned)svc.port);
    if (cfg->gc_interval_s > 0)
        mv_daemon_wait(cfg->gc_interval_s, gc_tick, &s);
    else
        mv_daemon_wait(1.0, NULL, NULL);
    mv_log(MV_LOG_INFO, STORAGE_COMPONENT, "shutting down");
    rc = MV_OK;
out:
    mv_service_stop_serving(&svc);
    storage_guard_stop(s.guard); /* it borrows the verifier and the metrics */
    storage_groups_stop(s.groups);
    pre_proxy_close(s.pre);
    mv_service_stop(&svc);
    mv_store_close(s.store);
    mv_audit_close(s.audit);
    if (s.pow_key)
        mv_secure_free(s.pow_key);
    return rc;
}
