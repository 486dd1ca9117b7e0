/* loopback.c - the pieces `medvault ui` and `medvault fhir serve` share: both decrypt records
 * in this process, so both listen on 127.x.y.z only, refuse a Host that is not their own
 * address (a page reached through a rebinding DNS name must not be answered), and keep
 * their session secrets out of core dumps. */
#include "loopback.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_daemon.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_ui.h"

mv_err mvc_loopback_random_hex(char out[static MVC_LOOPBACK_TOKEN_HEX + 1])
{
    uint8_t r[MVC_LOOPBACK_TOKEN_HEX / 2];
    mv_err rc = mv_random_bytes(r, sizeof r);
    if (rc == MV_OK)
        rc = mv_hex_encode(out, MVC_LOOPBACK_TOKEN_HEX + 1, r, sizeof r);
    mv_wipe(r, sizeof r);
    return rc;
}

static int token_ok(const char *t)
{
    size_t n = strlen(t);
    if (n < 32 || n > MVC_LOOPBACK_TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') ||
              t[i] == '-' || t[i] == '_' || t[i] == '.'))
            return 0;
    return 1;
}

mv_err mvc_loopback_token(const char *fixed, char *out, size_t cap)
{
    if (!out || cap < MVC_LOOPBACK_TOKEN_MAX + 1)
        return MV_ERR_INVAL;
    if (!fixed)
        return mvc_loopback_random_hex(out);
    if (!token_ok(fixed))
        return MV_ERR_INVAL;
    snprintf(out, cap, "%s", fixed);
    return MV_OK;
}

mv_err mvc_loopback_prepare(const char *listen, const char *component)
{
    if (!mv_ui_listen_ok(listen)) {
        mv_log(MV_LOG_ERROR, component, "decrypted records are served on loopback only (127.x.y.z:PORT), not %s",
               listen ? listen : "(none)");
        return MV_ERR_INVAL;
    }
    mv_daemon_harden();
    mv_daemon_block_signals();
    return MV_OK;
}

mv_err mvc_loopback_client(const char *deployment_path, const char *user_dir, mv_client **client, mv_credential *cred,
                           uint64_t *last_open, char *why, size_t cap)
{
    uint64_t now = (uint64_t)time(NULL);
    if (*client) {
        if (cred->expires_at <= cred->issued_at || now < cred->issued_at + (cred->expires_at - cred->issued_at) / 2 ||
            now < *last_open + MVC_LOOPBACK_REOPEN_SECONDS)
            return MV_OK;
        mv_client_close(*client);
        *client = NULL;
    }
    *last_open = now;
    mv_err rc = mv_client_open(deployment_path, user_dir, NULL, client);
    if (rc != MV_OK) {
        *client = NULL;
        snprintf(why, cap, "cannot open the client for %s: %s", user_dir, mv_strerror(rc));
        return rc;
    }
    mv_client_whoami(*client, cred, NULL);
    return MV_OK;
}

mv_err mvc_loopback_start(mvc_loopback *lb, mv_http_config *hc, const char *log_component)
{
    memset(lb, 0, sizeof *lb);
    mv_err rc = mv_metrics_new(&lb->metrics);
    if (rc != MV_OK)
        return rc;
    hc->metrics = lb->metrics;
    if ((rc = mv_http_server_start(hc, &lb->srv)) != MV_OK) {
        mv_log(MV_LOG_ERROR, log_component, "cannot listen on %s: %s", hc->listen, mv_strerror(rc));
        return rc;
    }
    lb->port = mv_http_server_port(lb->srv);
    const char *colon = strchr(hc->listen, ':'); /* present: mv_http_server_start checked the form */
    snprintf(lb->ip, sizeof lb->ip, "%.*s", colon ? (int)(colon - hc->listen) : 0, hc->listen);
    snprintf(lb->host_ip, sizeof lb->host_ip, "%s:%u", lb->ip, lb->port);
    snprintf(lb->host_local, sizeof lb->host_local, "localhost:%u", lb->port);
    return MV_OK;
}

int mvc_loopback_host_ok(const mvc_loopback *lb, const mv_http_request *r)
{
    const char *h = mv_http_header(r, "Host");
    return h && (!strcmp(h, lb->host_ip) || !strcmp(h, lb->host_local));
}

void mvc_loopback_stop(mvc_loopback *lb)
{
    mv_http_server_stop(lb->srv);
    mv_metrics_free(lb->metrics);
    memset(lb, 0, sizeof *lb);
}
