/* cmd_user_status.c - `medvault user status` and `user show`: an admin reads and changes a
 * user's status at the hospital. */
#include <stdio.h>

#include "workflow.h"

static const char user_status_usage[] =
    "usage: medvault user status KEY active|suspended|revoked [--json]\n\n"
    "As an admin: changes a user's status. Suspending or revoking stops every credential of\n"
    "theirs at every service within one revocation polling interval; revoked is final.\n" CLI_COMMON_HELP;
static const char user_show_usage[] = "usage: medvault user show KEY [--json]\n" CLI_COMMON_HELP;

int cli_user_status(int argc, char **argv)
{
    wf_opts o;
    uint8_t key[32];
    char path[128];
    mv_buf body;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, user_status_usage, NULL, 0, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 2, user_status_usage)) >= 0)
        return r;
    if (cli_hex_arg(argv[optind], key, 32, "KEY") != 0)
        return CLI_USAGE;
    snprintf(path, sizeof path, "/v1/users/%s/status", argv[optind]);
    mv_buf_init(&body, 256);
    if (mv_buf_puts(&body, "{") != MV_OK || wf_json_str(&body, "status", argv[optind + 1]) != MV_OK ||
        mv_buf_puts(&body, "}") != MV_OK) {
        mv_buf_clear(&body);
        return CLI_USAGE;
    }
    if ((r = wf_simple(&o, "POST", path, &body, &root)) == CLI_OK && !o.c.json)
        wf_print_fields(root, wf_user_cols, WF_N_USER_COLS);
    mv_json_free(root);
    mv_buf_clear(&body);
    return r;
}

int cli_user_show(int argc, char **argv)
{
    wf_opts o;
    uint8_t key[32];
    char path[128];
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, user_show_usage, NULL, 0, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 1, user_show_usage)) >= 0)
        return r;
    if (cli_hex_arg(argv[optind], key, 32, "KEY") != 0)
        return CLI_USAGE;
    snprintf(path, sizeof path, "/v1/users/%s", argv[optind]);
    if ((r = wf_simple(&o, "GET", path, NULL, &root)) == CLI_OK && !o.c.json)
        wf_print_fields(root, wf_user_cols, WF_N_USER_COLS);
    mv_json_free(root);
    return r;
}
