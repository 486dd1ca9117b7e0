/* pre_proxy_server.c - the second cloud's re-encryption proxy (`medvault storage run --role
 * proxy`): the storage daemons' machinery (verifier, revocation poller, audit log, /healthz,
 * /metrics, SIGTERM) around pre_proxy.c, and
 * nothing else (only the /v1/pre routes): no record, block or decoy route. */
#include <string.h>
#include <time.h>

#include "medvault/mv_crypto.h"
#include "medvault/mv_daemon.h"
#include "medvault/mv_file.h"
#include "medvault/mv_log.h"
#include "pre_proxy.h"
#include "storage_internal.h"

typedef struct proxy_srv {
    pre_proxy *pre;
    mv_auth_verifier *auth;
} proxy_srv;

/* Only a signed /v1/pre request announcing at most the largest upload is read past 64 KiB. */
static int proxy_gate(void *ctx, const mv_http_request *req)
{
    proxy_srv *ps = ctx;
    return pre_proxy_is_path(req->path) && pre_proxy_body_ok(req) && mv_http_gate_signed(ps->auth, req);
}

static void proxy_handler(void *ctx, const mv_http_request *req, mv_http_response *resp)
{
    proxy_srv *ps = ctx;
    mv_credential cred;
    if (!pre_proxy_is_path(req->path)) {
        mv_http_respond_json_error(resp, 404, "no such endpoint (this is a re-encryption proxy: only /v1/pre routes)");
        return;
    }
    mv_err rc = mv_http_verify(ps->auth, req, (uint64_t)time(NULL), &cred);
    if (rc != MV_OK)
        mv_http_respond_auth_failure(resp, rc);
    else
        pre_proxy_handle(ps->pre, &cred, req, resp);
}

mv_err storage_proxy_run(const mv_storage_config *cfg)
{
    proxy_srv ps;
    mv_service svc;
    mv_audit *audit = NULL;
    mv_err rc;
    memset(&ps, 0, sizeof ps);
    memset(&svc, 0, sizeof svc);
    if (!cfg || !cfg->dir || !cfg->listen || cfg->threads == 0 || cfg->skew_seconds == 0 ||
        cfg->role != MV_STORAGE_PROXY || !cfg->identity_dir[0] || cfg->proxy_index < 1 ||
        cfg->proxy_index > MV_PRE_MAX_FRAGS)
        return MV_ERR_INVAL;
    mv_daemon_harden();
    if ((rc = mv_crypto_init()) != MV_OK)
        goto out;
    if ((rc = mv_file_mkdir(cfg->dir, 0700)) != MV_OK) {
        mv_log(MV_LOG_ERROR, PRE_PROXY_COMPONENT, "cannot create %s", cfg->dir);
        goto out;
    }
    if ((rc = storage_open_audit(cfg, "proxy", &audit)) != MV_OK ||
        (rc = storage_service_start(cfg, "proxy", audit, &svc)) != MV_OK)
        goto out;
    ps.auth = svc.auth;
    if ((rc = pre_proxy_open(cfg->dir, cfg->proxy_index, cfg->identity_dir, cfg->threads, svc.metrics, &ps.pre)) != MV_OK)
        goto out;
    mv_http_config hc = {
        .listen = cfg->listen,
        .max_body = PRE_PROXY_MAX_BODY, /* nothing it serves is larger */
        .threads = cfg->threads,
        .handler = proxy_handler,
        .ctx = &ps,
        .component = "medvault_proxy",
        .body_gate = proxy_gate,
        .body_gate_ctx = &ps,
    };
    if ((rc = mv_service_listen(&svc, &hc, cfg->public_urls, cfg->port_file)) != MV_OK)
        goto out;
    mv_log(MV_LOG_INFO, PRE_PROXY_COMPONENT, "re-encryption proxy %u listening on port %u", cfg->proxy_index,
           (unsigned)svc.port);
    mv_daemon_wait(1.0, NULL, NULL);
    mv_log(MV_LOG_INFO, PRE_PROXY_COMPONENT, "shutting down");
    rc = MV_OK;
out:
    mv_service_stop_serving(&svc);
    pre_proxy_close(ps.pre);
    mv_service_stop(&svc);
    mv_audit_close(audit);
    return rc;
}
