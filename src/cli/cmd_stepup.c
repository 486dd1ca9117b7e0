/* cmd_stepup.c - `medvault stepup`: steps up with a device key or an admin's approval after the
 * storage server asked for it (docs/stepup.md). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "workflow.h"
#include "medvault/mv_client.h"
#include "medvault/mv_file.h"

static const char stepup_usage[] =
    "usage: medvault stepup --device-key DIR [--json]\n"
    "       medvault stepup --request [--wait] [--json]\n"
    "       medvault stepup --collect [ID] [--wait] [--json]\n"
    "       medvault stepup approve|deny ID [--json]\n\n"
    "Steps up after the storage server asked for it (docs/stepup.md): with a device key an\n"
    "admin registered for the user (`medvault user device add`), or by asking an admin to\n"
    "approve (--request; --wait polls until decided). A request left pending is remembered\n"
    "in the user directory (stepup.request): once an admin approved it, --collect fetches the\n"
    "grant (of request ID, default the remembered one; --wait polls until decided). The grant\n"
    "is kept in the user directory (stepup.grant) and sent with storage requests until it\n"
    "expires. approve/deny: an admin decides request ID.\n\n"
    "Exit status: 0 stepped up (or, for --request without --wait, the request was filed);\n"
    "1 failed, denied, or (--collect) still pending; 2 usage error.\n" CLI_COMMON_HELP;

#define REQUEST_FILE "stepup.request"

/* Remembers request id (decimal) in USER/stepup.request, for --collect; 0600 like the grant. */
static void request_remember(const char *user, int64_t id)
{
    char path[4096], line[32];
    int n = snprintf(line, sizeof line, "%lld\n", (long long)id);
    if (mv_path_join(path, sizeof path, user, REQUEST_FILE) != MV_OK ||
        mv_file_write_atomic(path, line, (size_t)n, 0600) != MV_OK)
        cli_err("cannot remember the request in %s: collect it with `medvault stepup --collect %lld`", user,
                (long long)id);
}

/* Reads the remembered request id: 0 if there is none (said to the user), -1 if unreadable. */
static int request_recall(const char *user, int64_t *id)
{
    char path[4096];
    mv_buf b;
    uint64_t v = 0;
    int r = -1;
    mv_buf_init(&b, 64);
    if (mv_path_join(path, sizeof path, user, REQUEST_FILE) != MV_OK) {
        cli_err("%s: the user directory's path is too long", user);
    } else if (!mv_file_exists(path)) {
        cli_err("no step-up request is pending for %s: `medvault stepup --request` files one", user);
        r = 0;
    } else {
        /* The file is "ID\n" as request_remember wrote it; the newline becomes the string's end. */
        int ok = mv_file_read(path, 64, &b) == MV_OK && b.len && b.ptr[b.len - 1] == '\n';
        if (ok)
            b.ptr[b.len - 1] = 0;
        if (!ok || cli_u64_arg((const char *)b.ptr, 1, INT64_MAX, &v, path) != 0) {
            cli_err("%s is damaged: give the request id (`medvault stepup --collect ID`)", path);
        } else {
            *id = (int64_t)v;
            r = 1;
        }
    }
    mv_buf_clear(&b);
    return r;
}

static void request_forget(const char *user)
{
    char path[4096];
    if (mv_path_join(path, sizeof path, user, REQUEST_FILE) == MV_OK && unlink(path) != 0 && errno != ENOENT)
        cli_err("cannot remove %s", path);
}

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
        printf("step-up request %lld awaits an admin (`medvault stepup approve %lld`); once approved, "
               "`medvault stepup --collect` fetches the grant\n",
               (long long)request, (long long)request);
    }
}

void cli_stepup_hint(const char *what, int bulk)
{
    cli_err("%s: step-up required: the storage server asks you to step up before it serves more\n"
            "  reads (docs/stepup.md). %s\n"
            "  Nothing is lost. To go on, ask an admin to approve and wait for it:\n"
            "    medvault stepup --request --wait\n"
            "  (or `medvault stepup --request` now, and `medvault stepup --collect` once an admin\n"
            "  approved it; or `medvault stepup --device-key DIR` with your registered device),\n"
            "  then run this command again%s.",
            what,
            bulk ? "A bulk restore reads all your records at once, far\n"
                   "  more than your access profile (your usual reads per hour) allows: that set it off."
                 : "You read more than your\n  access profile (your usual reads per hour) allows.",
            bulk ? " (into an empty directory)" : "");
}

int cmd_stepup(int argc, char **argv)
{
    static const wf_opt own[] = {{"device-key", 0}};
    wf_opts o;
    int request = 0, wait = 0, collect = 0;
    char *args[64];
    int n = 0;
    if (argc > 1 && (!strcmp(argv[1], "approve") || !strcmp(argv[1], "deny")))
        return stepup_decide(argc - 1, argv + 1, !strcmp(argv[1], "approve") ? "approve" : "deny");
    /* --request, --collect and --wait are flags; wf_parse knows only options with a value. */
    for (int i = 0; i < argc && n < 63; i++) {
        if (i > 0 && !strcmp(argv[i], "--request"))
            request = 1;
        else if (i > 0 && !strcmp(argv[i], "--collect"))
            collect = 1;
        else if (i > 0 && !strcmp(argv[i], "--wait"))
            wait = 1;
        else
            args[n++] = argv[i];
    }
    args[n] = NULL;
    int r = wf_parse(n, args, stepup_usage, own, 1, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(n, optind, collect && n > optind ? 1 : 0, stepup_usage)) >= 0)
        return r;
    if ((!!o.v[0] + request + collect) != 1 || (wait && !request && !collect)) {
        cli_err("give --device-key DIR, --request [--wait], or --collect [ID] [--wait]");
        return CLI_USAGE;
    }
    uint64_t expires = 0;
    int64_t id = 0;
    if (collect && n > optind) {
        uint64_t v = 0;
        if (cli_u64_arg(args[optind], 1, INT64_MAX, &v, "ID"))
            return CLI_USAGE;
        id = (int64_t)v;
    } else if (collect && request_recall(o.c.user, &id) <= 0) {
        return CLI_FAIL;
    }
    mv_client *cl = cli_open_client(&o.c, NULL, "hospital");
    if (!cl)
        return CLI_FAIL;
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
    if (request && (rc = mv_client_stepup_request(cl, &id)) != MV_OK) {
        cli_err("step-up request failed: %s", mv_client_last_error(cl));
        goto out;
    }
    for (unsigned waited = 0;; waited++) {
        int approved = 0;
        if ((rc = mv_client_stepup_poll(cl, id, &approved, &expires)) != MV_OK) {
            cli_err("step-up request %lld: %s", (long long)id, mv_client_last_error(cl));
            /* Denied or unknown: nothing is left to collect. Anything else may pass: kept. */
            if (rc == MV_ERR_FORBIDDEN || rc == MV_ERR_NOT_FOUND)
                request_forget(o.c.user);
            goto out;
        }
        if (approved) {
            request_forget(o.c.user);
            stepup_print(&o, "approved", id, expires);
            break;
        }
        if (!wait) {
            if (request)
                request_remember(o.c.user, id);
            stepup_print(&o, "pending", id, 0);
            if (collect)
                goto out; /* nothing collected: exit 1 */
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
