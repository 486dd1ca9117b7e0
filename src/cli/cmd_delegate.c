/* cmd_delegate.c - `medvault delegate`: a patient signs a delegation for one episode to the
 * appointment's doctor; the delegation is signed on this machine with the patient's key. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "workflow.h"
#include "medvault/mv_client.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_delegation.h"
#include "medvault/mv_identity.h"

static const char deleg_grant_usage[] =
    "usage: medvault delegate grant --appointment ID [--days N] [--json]\n\n"
    "As the patient, at the appointment: signs a delegation to the appointment's doctor for this\n"
    "episode (default 7 days, at most 90). The hospital checks and countersigns it; the doctor\n"
    "may then write records for you, readable by you and the doctor.\n" CLI_COMMON_HELP;

static int deleg_grant(int argc, char **argv)
{
    static const wf_opt own[] = {{"appointment", 0}, {"days", 1}};
    wf_opts o;
    mv_client *cl = NULL;
    mv_identity *id = NULL;
    mv_json *appt = NULL, *root = NULL;
    mv_delegation d;
    char path[64], b64[MV_DELEGATION_B64_MAX];
    mv_buf body;
    uint64_t days = 7;
    int r = wf_parse(argc, argv, deleg_grant_usage, own, 2, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 0, deleg_grant_usage)) >= 0)
        return r;
    const char *aid = o.v[0];
    memset(&d, 0, sizeof d);
    if (!aid || strlen(aid) != 32 || mv_hex_decode_exact(d.appointment, 16, aid, 32) != MV_OK) {
        cli_err("--appointment ID (32 hex digits) is required");
        return CLI_USAGE;
    }
    if (o.v[1] && cli_u64_arg(o.v[1], 1, 90, &days, "--days") != 0)
        return CLI_USAGE;
    mv_buf_init(&body, 4096);
    r = CLI_FAIL;
    if (!(cl = cli_open_client(&o.c, NULL, "delegate")))
        goto out;
    if (mv_identity_load(o.c.user, &id) != MV_OK) {
        cli_err("%s: cannot load the user's keys", o.c.user);
        goto out;
    }
    snprintf(path, sizeof path, "/v1/appointments/%s", aid);
    wf_opts quiet = o;
    quiet.c.json = 0;
    if (wf_call(cl, &quiet, "GET", path, NULL, &appt) != CLI_OK)
        goto out;
    const char *dept = mv_json_get_str(appt, "department", NULL);
    const mv_json *doc = mv_json_get(appt, "doctor");
    if (!dept || mv_json_get_hex(doc, "sign_public_key", d.doctor, 32) != MV_OK) {
        cli_err("the appointment has no department or doctor yet: it must be booked first");
        goto out;
    }
    if (strlen(dept) > MV_DELEGATION_MAX_DEPT) {
        cli_err("department name too long");
        goto out;
    }
    memcpy(d.department, dept, strlen(dept) + 1);
    memcpy(d.patient, mv_identity_sign_pk(id), 32);
    d.issued_at = (uint64_t)time(NULL);
    d.expires_at = d.issued_at + days * 86400u;
    if (mv_delegation_sign(&d, mv_identity_sign_sk(id)) != MV_OK ||
        mv_delegation_to_b64(&d, b64, sizeof b64) != MV_OK) {
        cli_err("cannot sign the delegation (is this the appointment's patient?)");
        goto out;
    }
    if (mv_buf_puts(&body, "{") != MV_OK || wf_json_str(&body, "delegation", b64) != MV_OK ||
        mv_buf_puts(&body, "}") != MV_OK)
        goto out;
    if ((r = wf_call(cl, &o, "POST", "/v1/delegations", &body, &root)) == CLI_OK && !o.c.json) {
        const mv_json *dn = mv_json_get(doc, "name");
        const char *dname = mv_json_str(dn, NULL);
        char t[32];
        uint64_t exp = 0;
        (void)!mv_json_get_u64(root, "expires_at", &exp);
        wf_fmt_time(exp, t);
        printf("delegated episode %s to %s until %s\n", aid, dname ? dname : "the doctor", t);
    }
out:
    mv_json_free(appt);
    mv_json_free(root);
    mv_buf_clear(&body);
    mv_identity_free(id);
    mv_client_close(cl);
    return r;
}

static const wf_col deleg_cols[] = {
    {"ID", "id", COL_STR},          {"APPOINTMENT", "appointment", COL_STR}, {"PATIENT", "patient.name", COL_STR},
    {"MRN", "patient.mrn", COL_STR}, {"DOCTOR", "doctor.name", COL_STR},     {"EXPIRES", "expires_at", COL_TIME},
    {"REVOKED", "revoked", COL_STR},
};

static const char deleg_list_usage[] =
    "usage: medvault delegate list [--patient KEY|MRN] [--json]\n\n"
    "Lists delegations: doctors see those naming them, patients their own, admins all.\n" CLI_COMMON_HELP;

static int deleg_list(int argc, char **argv)
{
    static const wf_opt own[] = {{"patient", 0}};
    wf_opts o;
    mv_buf path;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, deleg_list_usage, own, 1, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 0, deleg_list_usage)) >= 0)
        return r;
    mv_buf_init(&path, 1024);
    if (mv_buf_puts(&path, "/v1/delegations") != MV_OK || wf_query_add(&path, "patient", o.v[0]) != MV_OK) {
        mv_buf_clear(&path);
        return CLI_USAGE;
    }
    if ((r = wf_simple(&o, "GET", wf_cstr(&path), NULL, &root)) == CLI_OK && !o.c.json)
        wf_print_table(mv_json_get(root, "delegations"), deleg_cols, sizeof deleg_cols / sizeof deleg_cols[0]);
    mv_json_free(root);
    mv_buf_clear(&path);
    return r;
}

static const char deleg_revoke_usage[] =
    "usage: medvault delegate revoke ID [--json]\n\n"
    "Withdraws a delegation (the patient or an admin): the hospital stops handing it out. A\n"
    "doctor who already fetched it can use it until it expires; records already written stay\n"
    "readable by them until you revoke their access with `medvault share revoke`.\n" CLI_COMMON_HELP;

static int deleg_revoke(int argc, char **argv)
{
    wf_opts o;
    char path[64];
    uint64_t n = 0;
    int r = wf_parse(argc, argv, deleg_revoke_usage, NULL, 0, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 1, deleg_revoke_usage)) >= 0)
        return r;
    if (cli_u64_arg(argv[optind], 1, UINT64_MAX / 2, &n, "delegation id") != 0)
        return CLI_USAGE;
    snprintf(path, sizeof path, "/v1/delegations/%llu", (unsigned long long)n);
    if ((r = wf_simple(&o, "DELETE", path, NULL, NULL)) == CLI_OK && !o.c.json)
        printf("delegation %llu revoked\n", (unsigned long long)n);
    return r;
}

int cmd_delegate(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"grant", deleg_grant, "sign a delegation to your appointment's doctor (patients)"},
        {"list", deleg_list, "list delegations"},
        {"revoke", deleg_revoke, "withdraw a delegation"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault delegate", table, argc, argv);
}
