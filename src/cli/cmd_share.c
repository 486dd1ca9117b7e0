/* cmd_share.c - `medvault share`: grants and revokes read access to records; the record keys
 * are rewrapped on this machine, the only workflow command that sees record keys. */
#include <stdio.h>
#include <string.h>

#include "workflow.h"
#include "medvault/mv_client.h"
#include "medvault/mv_codec.h"

static const char share_usage[] =
    "usage: medvault share grant|revoke (RECORD_ID | --episode APPOINTMENT_ID) --to KEY [--json]\n"
    "       medvault share patient RECORD_ID --mrn MRN [--json]\n\n"
    "grant: lets the user with Ed25519 key KEY (64 hex) read the record, or every record of the\n"
    "episode: the record key is rewrapped on this machine and the storage ACL updated.\n"
    "revoke: removes their access at once. Key material they already fetched cannot be taken\n"
    "back: revoking stops further reads, it does not erase what was read.\n"
    "patient: the author of a record written before its patient registered names the patient.\n" CLI_COMMON_HELP;

static int share_run(int argc, char **argv, int mode /* 1 grant, 0 revoke, 2 patient */)
{
    static const wf_opt own[] = {{"to", 0}, {"episode", 1}, {"mrn", 2}};
    wf_opts o;
    uint8_t id[16], target[32];
    size_t changed = 0;
    int r = wf_parse(argc, argv, share_usage, own, 3, &o, 1);
    if (r >= 0)
        return r;
    int by_episode = mode != 2 && o.v[1];
    if ((r = wf_expect_args(argc, optind, by_episode ? 0 : 1, share_usage)) >= 0)
        return r;
    if (!by_episode && cli_id_arg(argv[optind], id))
        return CLI_USAGE;
    if (mode == 2 && !o.v[2]) {
        cli_err("--mrn MRN is required");
        return CLI_USAGE;
    }
    if (mode != 2 && (!o.v[0] || cli_hex_arg(o.v[0], target, 32, "--to KEY") != 0))
        return CLI_USAGE;
    if (by_episode && !mv_is_lower_hex(o.v[1], 32)) {
        cli_err("--episode takes an appointment id (32 lowercase hex digits)");
        return CLI_USAGE;
    }
    mv_client *cl = cli_open_client(&o.c, NULL, "share");
    if (!cl)
        return CLI_FAIL;
    mv_err rc;
    if (mode == 2)
        rc = mv_client_grant_patient(cl, id, o.v[2]);
    else if (by_episode)
        rc = mv_client_share_episode(cl, o.v[1], target, mode, &changed);
    else
        rc = mv_client_share(cl, id, target, mode);
    if (rc != MV_OK) {
        cli_err("%s (%s)", mv_client_last_error(cl), mv_strerror(rc));
        r = CLI_FAIL;
    } else {
        const char *what = mode == 2 ? "patient set" : mode ? "granted" : "revoked";
        r = CLI_OK;
        if (o.c.json) {
            mv_buf b;
            mv_jw w;
            cli_json_begin(&w, &b);
            mv_jw_kstr(&w, "status", what);
            mv_jw_ku64(&w, "records", by_episode ? changed : (size_t)1);
            r = cli_json_end(&w, &b);
        } else
            printf("%s on %zu record%s\n", what, by_episode ? changed : (size_t)1,
                   (by_episode ? changed : 1) == 1 ? "" : "s");
    }
    mv_client_close(cl);
    return r;
}

static int share_grant(int argc, char **argv) { return share_run(argc, argv, 1); }
static int share_revoke(int argc, char **argv) { return share_run(argc, argv, 0); }
static int share_patient(int argc, char **argv) { return share_run(argc, argv, 2); }

int cmd_share(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"grant", share_grant, "let another user read a record or an episode"},
        {"revoke", share_revoke, "take that access away"},
        {"patient", share_patient, "name the patient of a record written before they registered"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault share", table, argc, argv);
}
