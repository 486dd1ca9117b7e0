/* service.c - one start-up and shut-down order for every daemon, so that signals are blocked
 * before any thread starts, the verifier knows its origins before the first request, the port
 * file is written only once the port accepts signed requests, and nothing is freed while a
 * request or the poller may still use it. */
#include "medvault/mv_service.h"

#include <stdio.h>
#include <string.h>

#include "medvault/mv_audit_http.h"
#include "medvault/mv_daemon.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"

/* Nonces one verifier remembers (mv_auth_verifier_new's max_nonces), as every daemon had. */
#define SERVICE_MAX_NONCES (1u << 20)

mv_err mv_service_start(const mv_service_config *cfg, mv_service *svc)
{
    mv_err rc = MV_ERR_INVAL;
    if (!svc)
        return MV_ERR_INVAL;
    memset(svc, 0, sizeof *svc);
    if (!cfg || !cfg->component || !cfg->dir || !cfg->component[0] ||
        strlen(cfg->component) >= sizeof svc->component)
        goto out;
    snprintf(svc->component, sizeof svc->component, "%s", cfg->component);
    svc->audit = cfg->audit;
    if ((rc = mv_auth_verifier_new(cfg->hospital_pk, cfg->skew_seconds, SERVICE_MAX_NONCES, &svc->auth)) != MV_OK ||
        (rc = mv_metrics_new(&svc->metrics)) != MV_OK)
        goto out;
    /* Only the main thread takes SIGTERM/SIGINT (mv_daemon_wait): block them before the first
     * thread (the poller's) starts, so that it and every later one inherits the mask. */
    mv_daemon_block_signals();
    if (cfg->hospital_url &&
        (rc = mv_revocation_poller_start_service(cfg->hospital_url, cfg->hospital_pk, cfg->revocation_poll_s,
                                                 svc->auth, svc->metrics, svc->component, &svc->revocations)) !=
            MV_OK)
        goto out;
    if ((rc = mv_daemon_metrics_token(cfg->dir, svc->metrics_token, sizeof svc->metrics_token)) != MV_OK) {
        mv_log(MV_LOG_ERROR, svc->component, "cannot load %s/%s: %s", cfg->dir, MV_DAEMON_METRICS_TOKEN_FILE,
               mv_strerror(rc));
        goto out;
    }
    rc = MV_OK;
out:
    return rc;
}

/* The origins a request to this daemon may name: listen with port (0: listen's own) and, the
 * first time, the public URLs. */
static mv_err add_origins(mv_service *svc, const char *listen, uint16_t port, const char *public_urls)
{
    mv_err rc = mv_auth_verifier_add_listen(svc->auth, listen, port);
    if (rc == MV_OK && port == 0 && public_urls && public_urls[0])
        rc = mv_auth_verifier_add_urls(svc->auth, public_urls);
    if (rc != MV_OK)
        mv_log(MV_LOG_ERROR, svc->component, "cannot set the origins signed requests must name: %s", mv_strerror(rc));
    return rc;
}

mv_err mv_service_listen(mv_service *svc, const mv_http_config *http, const char *public_urls, const char *port_file)
{
    mv_err rc = MV_ERR_INVAL;
    if (!svc || !http || !http->listen || !svc->auth)
        goto out;
    mv_http_config hc = *http;
    hc.metrics = svc->metrics;
    hc.metrics_token = svc->metrics_token;
    hc.on_answer = svc->audit ? mv_audit_http_record : NULL;
    hc.on_answer_ctx = svc->audit;
    /* A fixed port's origins before the first request (peers of a DKG know the URL already);
     * a port chosen at bind time after binding, before the port file publishes it. */
    if ((rc = add_origins(svc, hc.listen, 0, public_urls)) != MV_OK)
        goto out;
    if ((rc = mv_http_server_start(&hc, &svc->http)) != MV_OK) {
        mv_log(MV_LOG_ERROR, svc->component, "cannot listen on %s: %s", hc.listen, mv_strerror(rc));
        goto out;
    }
    svc->port = mv_http_server_port(svc->http);
    if ((rc = add_origins(svc, hc.listen, svc->port, NULL)) != MV_OK)
        goto out;
    if (mv_daemon_write_port(port_file, svc->port) != 0)
        mv_log(MV_LOG_WARN, svc->component, "cannot write the port file");
    rc = MV_OK;
out:
    return rc;
}

void mv_service_stop_serving(mv_service *svc)
{
    if (!svc || !svc->http)
        return;
    mv_http_server_stop(svc->http);
    svc->http = NULL;
}

void mv_service_stop(mv_service *svc)
{
    if (!svc)
        return;
    mv_service_stop_serving(svc);
    /* The poller installs lists into the verifier and counts in the registry: it goes first. */
    mv_revocation_poller_stop(svc->revocations);
    mv_auth_verifier_free(svc->auth);
    mv_metrics_free(svc->metrics);
    mv_wipe(svc, sizeof *svc);
}
