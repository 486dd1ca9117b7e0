/* cmd_alerts.c - `medvault alerts`: the hospital's alert log, and `alerts report`, which sends
 * one alert signed with a service identity as a service would. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "workflow.h"
#include "medvault/mv_alert.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_identity.h"

static const char alerts_usage[] =
    "usage: medvault alerts [--limit N] [--json]\n"
    "       medvault alerts report --identity DIR --hospital-url URL --kind KIND --reason TEXT\n"
    "                              [--principal HEX] [--address IP] [--object TEXT] [--source decoy]\n"
    "                              [--count N]\n\n"
    "The hospital's alert log (admins): each alert with how many times it was seen (COUNT, repeats\n"
    "within the hospital's alert window), when last, and whether the webhook has taken it.\n"
    "`report` sends one alert as a service would (POST /v1/alerts, signed with the service\n"
    "identity in DIR, whose credential role must be storage or keyserver): for testing the\n"
    "pipeline. KIND is decoy_served, honeytoken, stepup_failed or credential_misuse.\n" CLI_COMMON_HELP;

static int alerts_report(int argc, char **argv)
{
    static const wf_opt own[] = {{"identity", 0}, {"hospital-url", 1}, {"kind", 2},   {"reason", 3}, {"principal", 4},
                                 {"address", 5},  {"object", 6},       {"source", 7}, {"count", 8}};
    wf_opts o;
    mv_identity *id = NULL;
    mv_httpc_call call;
    mv_buf body;
    mv_alert a;
    uint64_t count = 1;
    uint8_t pk[32];
    char url[1100];
    int r = wf_parse(argc, argv, alerts_usage, own, 9, &o, 0);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 0, alerts_usage)) >= 0)
        return r;
    if (!o.v[0] || !o.v[1] || !o.v[2] || !o.v[3]) {
        cli_err("--identity, --hospital-url, --kind and --reason are required");
        return CLI_USAGE;
    }
    if (!mv_alert_kind_ok(o.v[2])) {
        cli_err("--kind must be decoy_served, honeytoken, stepup_failed or credential_misuse");
        return CLI_USAGE;
    }
    if (o.v[4] && cli_hex_arg(o.v[4], pk, 32, "--principal") != 0)
        return CLI_USAGE;
    if (o.v[8] && cli_u64_arg(o.v[8], 1, MV_ALERT_COUNT_MAX, &count, "--count"))
        return CLI_USAGE;
    if (snprintf(url, sizeof url, "%s/v1/alerts", o.v[1]) >= (int)sizeof url ||
        (strncmp(o.v[1], "http://", 7) != 0 && strncmp(o.v[1], "https://", 8) != 0)) {
        cli_err("--hospital-url must be an http(s) URL");
        return CLI_USAGE;
    }
    if (mv_httpc_global_init() != MV_OK)
        return CLI_FAIL;
    mv_err rc = mv_identity_load(o.v[0], &id);
    if (rc != MV_OK || !mv_identity_credential(id)) {
        cli_err("%s: cannot load a service identity with a credential (%s)", o.v[0], mv_strerror(rc));
        mv_identity_free(id);
        return CLI_FAIL;
    }
    mv_alert_fill(&a, (uint64_t)time(NULL), o.v[7], o.v[2], o.v[4] ? pk : NULL, o.v[5], o.v[6], o.v[3]);
    mv_buf_init(&body, MV_ALERT_BODY_MAX);
    mv_httpc_call_init(&call);
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    r = CLI_FAIL;
    call.method = "POST";
    call.url = url;
    call.headers = hdrs;
    if (mv_alert_to_json(&a, count, &body) != MV_OK)
        goto out;
    call.body = body.ptr;
    call.body_len = body.len;
    if ((rc = mv_httpc_sign(&call, mv_identity_sign_pk(id), mv_identity_sign_sk(id), mv_identity_credential(id),
                            (uint64_t)time(NULL))) != MV_OK ||
        (rc = mv_httpc_run(&call, 1)) != MV_OK || (rc = call.rc) != MV_OK) {
        cli_err("no answer from the hospital at %s (%s)", o.v[1], mv_strerror(rc));
        goto out;
    }
    if (call.status != 200) {
        mv_json *e = NULL;
        (void)!mv_json_parse((const char *)call.response.ptr, call.response.len, NULL, &e, NULL);
        const char *msg = mv_json_get_str(e, "error", NULL);
        cli_err("the hospital answered %ld: %s", call.status, msg ? msg : "(no message)");
        mv_json_free(e);
        goto out;
    }
    if (o.c.json)
        (void)!cli_print_buf(&call.response), (void)!puts("");
    else
        printf("alert accepted\n");
    r = CLI_OK;
out:
    mv_httpc_call_clear(&call);
    mv_buf_clear(&body);
    mv_identity_free(id);
    return r;
}

int cmd_alerts(int argc, char **argv)
{
    static const wf_opt own[] = {{"limit", 0}};
    static const wf_col cols[] = {{"WHEN", "at", COL_TIME},          {"SOURCE", "source", COL_STR},
                                  {"KIND", "kind", COL_STR},         {"WHO", "principal", COL_KEY},
                                  {"FROM", "address", COL_STR},      {"OBJECT", "object", COL_STR},
                                  {"WHY", "reason", COL_STR},        {"COUNT", "count", COL_STR},
                                  {"LAST", "last_at", COL_TIME},     {"DELIVERED", "delivered", COL_STR}};
    wf_opts o;
    mv_buf path;
    mv_json *root = NULL;
    if (argc > 1 && !strcmp(argv[1], "report"))
        return alerts_report(argc - 1, argv + 1);
    int r = wf_parse(argc, argv, alerts_usage, own, 1, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 0, alerts_usage)) >= 0)
        return r;
    mv_buf_init(&path, 256);
    if (mv_buf_puts(&path, "/v1/alerts") != MV_OK || wf_query_add(&path, "limit", o.v[0]) != MV_OK) {
        mv_buf_clear(&path);
        return CLI_USAGE;
    }
    if ((r = wf_simple(&o, "GET", wf_cstr(&path), NULL, &root)) == CLI_OK && !o.c.json)
        wf_print_table(mv_json_get(root, "alerts"), cols, sizeof cols / sizeof cols[0]);
    mv_json_free(root);
    mv_buf_clear(&path);
    return r;
}
