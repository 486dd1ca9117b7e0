/* cmd_medicine.c - `medvault medicine`: the hospital's formulary. */
#include <stdio.h>

#include "workflow.h"

static const wf_col med_cols[] = {
    {"ID", "id", COL_STR},         {"NAME", "name", COL_STR},     {"FORM", "form", COL_STR},
    {"STRENGTH", "strength", COL_STR}, {"DOSAGE", "dosage", COL_STR}, {"CODE", "code", COL_STR},
};
#define N_MED_COLS (sizeof med_cols / sizeof med_cols[0])

static const char med_list_usage[] =
    "usage: medvault medicine list [--name TEXT] [--json]\n\nThe hospital's formulary.\n" CLI_COMMON_HELP;
static const char med_add_usage[] =
    "usage: medvault medicine add --name N --form F --strength S --dosage D [--code C] [--json]\n\n"
    "Adds or updates (same name, form and strength) a formulary entry (admins).\n" CLI_COMMON_HELP;
static const char med_rm_usage[] = "usage: medvault medicine rm ID [--json]\n\nRemoves a formulary entry (admins).\n" CLI_COMMON_HELP;

static int med_list(int argc, char **argv)
{
    static const wf_opt own[] = {{"name", 0}};
    wf_opts o;
    mv_buf path;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, med_list_usage, own, 1, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 0, med_list_usage)) >= 0)
        return r;
    mv_buf_init(&path, 1024);
    if (mv_buf_puts(&path, "/v1/medicines") != MV_OK || wf_query_add(&path, "q", o.v[0]) != MV_OK) {
        mv_buf_clear(&path);
        return CLI_USAGE;
    }
    if ((r = wf_simple(&o, "GET", wf_cstr(&path), NULL, &root)) == CLI_OK && !o.c.json)
        wf_print_table(mv_json_get(root, "medicines"), med_cols, N_MED_COLS);
    mv_json_free(root);
    mv_buf_clear(&path);
    return r;
}

static int med_add(int argc, char **argv)
{
    static const wf_opt own[] = {{"name", 0}, {"form", 1}, {"strength", 2}, {"dosage", 3}, {"code", 4}};
    wf_opts o;
    mv_buf body;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, med_add_usage, own, 5, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 0, med_add_usage)) >= 0)
        return r;
    if (!o.v[0] || !o.v[1] || !o.v[2] || !o.v[3]) {
        cli_err("--name, --form, --strength and --dosage are required");
        return cli_usage(med_add_usage, 0);
    }
    mv_buf_init(&body, 8192);
    mv_err rc = mv_buf_puts(&body, "{");
    if (rc == MV_OK) rc = wf_json_str(&body, "name", o.v[0]);
    if (rc == MV_OK) rc = wf_json_str(&body, "form", o.v[1]);
    if (rc == MV_OK) rc = wf_json_str(&body, "strength", o.v[2]);
    if (rc == MV_OK) rc = wf_json_str(&body, "dosage", o.v[3]);
    if (rc == MV_OK) rc = wf_json_str(&body, "code", o.v[4]);
    if (rc == MV_OK) rc = mv_buf_puts(&body, "}");
    if (rc != MV_OK)
        r = CLI_USAGE;
    else if ((r = wf_simple(&o, "POST", "/v1/medicines", &body, &root)) == CLI_OK && !o.c.json)
        wf_print_fields(root, med_cols, N_MED_COLS);
    mv_json_free(root);
    mv_buf_clear(&body);
    return r;
}

static int med_rm(int argc, char **argv)
{
    wf_opts o;
    char path[64];
    uint64_t n = 0;
    int r = wf_parse(argc, argv, med_rm_usage, NULL, 0, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 1, med_rm_usage)) >= 0)
        return r;
    if (cli_u64_arg(argv[optind], 1, UINT64_MAX / 2, &n, "medicine id") != 0)
        return CLI_USAGE;
    snprintf(path, sizeof path, "/v1/medicines/%llu", (unsigned long long)n);
    if ((r = wf_simple(&o, "DELETE", path, NULL, NULL)) == CLI_OK && !o.c.json)
        printf("medicine %llu removed\n", (unsigned long long)n);
    return r;
}

int cmd_medicine(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"list", med_list, "list the formulary"},
        {"add", med_add, "add or update a medicine (admins)"},
        {"rm", med_rm, "remove a medicine (admins)"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault medicine", table, argc, argv);
}
