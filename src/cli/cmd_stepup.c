/* cmd_stepup.c - `medvault stepup`: steps up with a device key or an admin's approval after the
 * storage server asked for it (docs/stepup.md). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "workflow.h"
#include "medvault/mv_client.h"

static const char stepup_usage[] =
    "usage: medvault stepup --device-key DIR [--json]\n"
    "       medvault stepup --request [--wait] [--json]\n"
    "       medvault stepup approve|deny ID [--json]\n\n"
    "Steps up after the storage server asked for it (docs/stepup.md): with a device key an\n"
    "admin registered for the user (`medvault user device add`), or by asking an admin to\n"
    "approve (--request; --wait polls until decided). The grant is kept in the user directory\n"
    "(stepup.grant) and sent with storage requests until it expires. approve/deny: an admin\n"
    "decides request ID.\n" CLI_COMMON_HELP;

static int stepup_decide(int argc, char **argv, const char *decision)
{
    wf_opts o;
    uint64_t id = 0;
    char path[64];
    mv_buf body;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, stepup_usage, NULL, 0, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 1, stepup_usage)) >= 0)
        return r;
    if (cli_u64_arg(argv[optind], 1, INT64_MAX, &id, "ID"))
        return CLI_USAGE;
    snprintf(path, sizeof path, "/v1/stepup/%llu", (unsigned long long)id);
    mv_buf_init(&body, 128);
    if (mv_buf_puts(&body, "{") != MV_OK || wf_json_str(&body, "decision", decision) != MV_OK ||
        mv_buf_puts(&body, "}") != MV_OK) {
        mv_buf_clear(&body);
        return CLI_FAIL;
    }
    if ((r = wf_simple(&o, "POST", path, &body, &root)) == CLI_OK && !o.c.json)
        printf("step-up request %llu %s\n", (unsigned long long)id, !strcmp(decision, "approve") ? "approved" : "denied");
    mv_json_free(root);
    mv_buf_clear(&body);
    return r;
}

static void stepup_print(const wf_opts *o, const char *status, int64_t request, uint64_t expires)
{
    char t[32];
    if (o->c.json) {
        mv_buf b;
        mv_jw w;
        cli_json_begin(&w, &b);
        mv_jw_kstr(&w, "status", status);
        if (request)
            mv_jw_ki64(&w, "request", request);
        if (expires)
            mv_jw_ku64(&w, "expires", expires);
        (void)cli_json_end(&w, &b);
    } else if (expires) {
        wf_fmt_time(expires, t);
        printf("stepped up: storage requests carry the grant until %s\n", t);
    } else {
        printf("step-up request %lld awaits an admin: `medvault stepup approve %lld`\n", (long long)request,
               (long long)request);
    }
}

int cmd_stepup(int argc, char **argv)
{
    static const wf_opt own[] = {{"device-key", 0}};
    wf_opts o;
    int request = 0, wait = 0;
    char *args[64];
    int n = 0;
    if (argc > 1 && (!strcmp(argv[1], "approve") || !strcmp(argv[1], "deny")))
        return stepup_decide(argc - 1, argv + 1, !strcmp(argv[1], "approve") ? "approve" : "deny");
    /* --request and --wait are flags; wf_parse knows only options with a value. */
    for (int i = 0; i < argc && n < 63; i++) {
        if (i > 0 && !strcmp(argv[i], "--request"))
            request = 1;
        else if (i > 0 && !strcmp(argv[i], "--wait"))
            wait = 1;
        else
            args[n++] = argv[i];
    }
    args[n] = NULL;
    int r = wf_parse(n, args, stepup_usage, own, 1, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(n, optind, 0, stepup_usage)) >= 0)
        return r;
    if (!o.v[0] == !request || (wait && !request)) {
        cli_err("give --device-key DIR, or --request [--wait]");
        return CLI_USAGE;
    }
    mv_client *cl = cli_open_client(&o.c, NULL, "hospital");
    if (!cl)
        return CLI_FAIL;
    uint64_t expires = 0;
    int64_t id = 0;
    mv_err rc;
    r = CLI_FAIL;
    if (o.v[0]) {
        if ((rc = mv_client_stepup_device(cl, o.v[0], &expires)) != MV_OK) {
            cli_err("step-up failed: %s", mv_client_last_error(cl));
            goto out;
        }
        stepup_print(&o, "approved", 0, expires);
        r = CLI_OK;
        goto out;
    }
    if ((rc = mv_client_stepup_request(cl, &id)) != MV_OK) {
        cli_err("step-up request failed: %s", mv_client_last_error(cl));
        goto out;
    }
    for (unsigned waited = 0;; waited++) {
        int approved = 0;
        if ((rc = mv_client_stepup_poll(cl, id, &approved, &expires)) != MV_OK) {
            cli_err("step-up request %lld: %s", (long long)id, mv_client_last_error(cl));
            goto out;
        }
        if (approved) {
            stepup_print(&o, "approved", id, expires);
            break;
        }
        if (!wait) {
            stepup_print(&o, "pending", id, 0);
            break;
        }
        if (waited == 0 && !o.c.json)
            fprintf(stderr, "waiting for an admin: `medvault stepup approve %lld` ...\n", (long long)id);
        sleep(1);
    }
    r = CLI_OK;
out:
    mv_client_close(cl);
    return r;
}
