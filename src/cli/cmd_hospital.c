/* cmd_hospital.c - `medvault hospital run`: the hospital service in the foreground. */
#include <string.h>

#include "cli.h"
#include "medvault/mv_hospital.h"

static const char run_usage[] =
    "usage: medvault hospital run --dir DIR --listen 127.0.0.1:PORT [--port-file F]\n"
    "                             [--threads N] [--token-hmac sha256|sha1] [--storage-url URL]\n"
    "                             [--deployment FILE] [--revocation-poll SECONDS]\n"
    "                             [--webhook URL] [--syslog] [--alert-window SECONDS]\n\n"
    "Runs the hospital service on DIR (made by `medvault hospital init`) until SIGTERM or\n"
    "SIGINT: the registry (DIR/registry.db: departments, doctors, patients, admins, credentials,\n"
    "appointments, delegations, the formulary, alerts), short-lived credentials and their\n"
    "renewal, the signed revocation list, dedup tokens (one privilege key per department, in\n"
    "DIR/privileges, 0600), and the admin dashboard under /admin/. The HTTP API is in\n"
    "docs/api.md. Tokens are HMAC-SHA-256 by default; sha1 selects HMAC-SHA-1 for compatibility\n"
    "with the original scheme. Settings may also come from DIR/hospital.conf (threads,\n"
    "skew_seconds, credential_minutes, revocation_poll_seconds, storage_url, token_hmac,\n"
    "webhook_url, syslog, alert_window_seconds, stepup_grant_seconds);\n"
    "flags override it. --storage-url (or the storage_url of --deployment FILE, read when the\n"
    "page is shown) is where the dashboard reads storage savings. PORT 0 picks a free port\n"
    "(see --port-file). Alerts (docs/alerts.md) are stored in the registry, repeats within\n"
    "--alert-window seconds (default 600) counted into one alert; each new alert is POSTed once\n"
    "to --webhook URL (JSON, retried until a 2xx) and, with --syslog, logged to syslog\n"
    "(LOG_AUTH, warning).\n";

int cmd_hospital_run(int argc, char **argv)
{
    const char *dir = NULL, *listen = NULL, *port_file = NULL, *threads = NULL, *alg = NULL, *deployment = NULL;
    const char *storage_url = NULL, *poll = NULL, *webhook = NULL, *window = NULL;
    int use_syslog = 0;
    const cli_opt opts[] = {
        {"dir", &dir, NULL, 1},
        {"listen", &listen, NULL, 1},
        {"port-file", &port_file, NULL, 0},
        {"threads", &threads, NULL, 0},
        {"token-hmac", &alg, NULL, 0},
        CLI_OPT_HELP,
        {"deployment", &deployment, NULL, 0},
        {"storage-url", &storage_url, NULL, 0},
        {"revocation-poll", &poll, NULL, 0},
        {"webhook", &webhook, NULL, 0},
        {"syslog", NULL, &use_syslog, 0},
        {"alert-window", &window, NULL, 0},
        {NULL, NULL, NULL, 0},
    };
    int done = cli_parse(argc, argv, opts, run_usage);
    if (done >= 0)
        return done;
    mv_hospital_config cfg;
    size_t line = 0;
    mv_err rc = mv_hospital_config_defaults(&cfg, dir, &line);
    if (rc != MV_OK) {
        cli_err("%s/hospital.conf: %s (line %zu)", dir, mv_strerror(rc), line);
        return CLI_FAIL;
    }
    cfg.listen = listen;
    cfg.port_file = port_file;
    cfg.deployment = deployment;
    if (storage_url) {
        if ((strncmp(storage_url, "http://", 7) != 0 && strncmp(storage_url, "https://", 8) != 0) ||
            strlen(storage_url) >= sizeof cfg.storage_url) {
            cli_err("--storage-url must be an http:// or https:// URL under %zu bytes", sizeof cfg.storage_url);
            return CLI_USAGE;
        }
        snprintf(cfg.storage_url, sizeof cfg.storage_url, "%s", storage_url);
    }
    if (poll && cli_u64_arg(poll, 1, 3600, &cfg.revocation_poll_seconds, "--revocation-poll"))
        return CLI_USAGE;
    if (webhook) {
        if ((strncmp(webhook, "http://", 7) != 0 && strncmp(webhook, "https://", 8) != 0) ||
            strlen(webhook) >= sizeof cfg.webhook_url) {
            cli_err("--webhook must be an http:// or https:// URL under %zu bytes", sizeof cfg.webhook_url);
            return CLI_USAGE;
        }
        snprintf(cfg.webhook_url, sizeof cfg.webhook_url, "%s", webhook);
    }
    if (use_syslog)
        cfg.syslog = 1;
    if (window && cli_u64_arg(window, 1, 86400, &cfg.alert_window_seconds, "--alert-window"))
        return CLI_USAGE;
    if (threads && cli_threads_arg(threads, &cfg.threads))
        return CLI_USAGE;
    if (alg) {
        if (!strcmp(alg, "sha256")) {
            cfg.token_alg = MV_TOKEN_HMAC_SHA256;
        } else if (!strcmp(alg, "sha1")) {
            cfg.token_alg = MV_TOKEN_HMAC_SHA1;
        } else {
            cli_err("--token-hmac must be sha256 or sha1");
            return CLI_USAGE;
        }
    }
    rc = mv_hospital_run(&cfg);
    if (rc != MV_OK) {
        cli_err("hospital service stopped: %s", mv_strerror(rc));
        return CLI_FAIL;
    }
    return CLI_OK;
}
