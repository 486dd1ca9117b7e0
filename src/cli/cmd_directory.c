/* cmd_directory.c - `medvault directory` (search the hospital's users) and `medvault profile`
 * (one's own profile). */
#include <stdio.h>
#include <string.h>

#include "workflow.h"

static const char directory_usage[] =
    "usage: medvault directory [--name TEXT] [--role admin|doctor|patient] [--department D]\n"
    "                          [--limit N] [--json]\n\n"
    "Searches the hospital's users (admins and doctors only).\n" CLI_COMMON_HELP;

int cmd_directory(int argc, char **argv)
{
    static const wf_opt own[] = {{"name", 0}, {"role", 1}, {"department", 2}, {"limit", 3}};
    wf_opts o;
    mv_buf path;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, directory_usage, own, 4, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 0, directory_usage)) >= 0)
        return r;
    mv_buf_init(&path, 2048);
    mv_err rc = mv_buf_puts(&path, "/v1/directory");
    if (rc == MV_OK) rc = wf_query_add(&path, "q", o.v[0]);
    if (rc == MV_OK) rc = wf_query_add(&path, "role", o.v[1]);
    if (rc == MV_OK) rc = wf_query_add(&path, "department", o.v[2]);
    if (rc == MV_OK) rc = wf_query_add(&path, "limit", o.v[3]);
    if (rc != MV_OK)
        r = CLI_USAGE;
    else if ((r = wf_simple(&o, "GET", wf_cstr(&path), NULL, &root)) == CLI_OK && !o.c.json)
        wf_print_table(mv_json_get(root, "users"), wf_user_cols, WF_N_USER_COLS);
    mv_json_free(root);
    mv_buf_clear(&path);
    return r;
}

static const char profile_usage[] =
    "usage: medvault profile [show] [--json]\n"
    "       medvault profile set [--email E] [--phone P] [--about TEXT] [--json]\n\n"
    "Shows or updates your own profile at the hospital.\n" CLI_COMMON_HELP;

int cmd_profile(int argc, char **argv)
{
    static const wf_opt own[] = {{"email", 0}, {"phone", 1}, {"about", 2}};
    wf_opts o;
    mv_buf body;
    mv_json *root = NULL;
    int set = argc >= 2 && !strcmp(argv[1], "set");
    if (argc >= 2 && (set || !strcmp(argv[1], "show"))) {
        argc--;
        argv++;
    }
    int r = wf_parse(argc, argv, profile_usage, own, 3, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 0, profile_usage)) >= 0)
        return r;
    if (!set && (o.v[0] || o.v[1] || o.v[2])) {
        cli_err("use `medvault profile set` to change the profile");
        return CLI_USAGE;
    }
    mv_buf_init(&body, 8192);
    if (set && (mv_buf_puts(&body, "{") != MV_OK || wf_json_str(&body, "email", o.v[0]) != MV_OK ||
                wf_json_str(&body, "phone", o.v[1]) != MV_OK || wf_json_str(&body, "about", o.v[2]) != MV_OK ||
                mv_buf_puts(&body, "}") != MV_OK)) {
        mv_buf_clear(&body);
        cli_err("arguments too long");
        return CLI_USAGE;
    }
    if ((r = wf_simple(&o, set ? "PUT" : "GET", "/v1/profile", set ? &body : NULL, &root)) == CLI_OK && !o.c.json) {
        wf_print_fields(root, wf_user_cols, WF_N_USER_COLS);
        wf_col more[] = {{"EMAIL", "email", COL_STR}, {"PHONE", "phone", COL_STR}, {"ABOUT", "about", COL_STR}};
        wf_print_fields(root, more, 3);
    }
    mv_json_free(root);
    mv_buf_clear(&body);
    return r;
}
