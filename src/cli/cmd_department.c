/* cmd_department.c - `medvault department`: the hospital's departments. */
#include <stdio.h>

#include "workflow.h"

static const char dept_list_usage[] = "usage: medvault department list [--json]\n" CLI_COMMON_HELP;
static const char dept_add_usage[] =
    "usage: medvault department add NAME [--description TEXT] [--json]\n\nCreates or describes a department (admins).\n" CLI_COMMON_HELP;

static int dept_list(int argc, char **argv)
{
    static const wf_col cols[] = {{"NAME", "name", COL_STR},
                                  {"DOCTORS", "doctors", COL_STR},
                                  {"PATIENTS", "patients", COL_STR},
                                  {"DESCRIPTION", "description", COL_STR}};
    wf_opts o;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, dept_list_usage, NULL, 0, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 0, dept_list_usage)) >= 0)
        return r;
    if ((r = wf_simple(&o, "GET", "/v1/departments", NULL, &root)) == CLI_OK && !o.c.json)
        wf_print_table(mv_json_get(root, "departments"), cols, 4);
    mv_json_free(root);
    return r;
}

static int dept_add(int argc, char **argv)
{
    static const wf_opt own[] = {{"description", 0}};
    wf_opts o;
    mv_buf body;
    int r = wf_parse(argc, argv, dept_add_usage, own, 1, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 1, dept_add_usage)) >= 0)
        return r;
    mv_buf_init(&body, 8192);
    if (mv_buf_puts(&body, "{") != MV_OK || wf_json_str(&body, "name", argv[optind]) != MV_OK ||
        wf_json_str(&body, "description", o.v[0]) != MV_OK || mv_buf_puts(&body, "}") != MV_OK) {
        mv_buf_clear(&body);
        return CLI_USAGE;
    }
    if ((r = wf_simple(&o, "POST", "/v1/departments", &body, NULL)) == CLI_OK && !o.c.json)
        printf("department %s saved\n", argv[optind]);
    mv_buf_clear(&body);
    return r;
}

int cmd_department(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"list", dept_list, "list departments with their numbers of doctors and patients"},
        {"add", dept_add, "create or describe a department (admins)"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault department", table, argc, argv);
}
