/* cmd_share.c - `medvault share`: grants and revokes read access to records, either by
 * rewrapping the record keys on this machine or, with --via-clouds, by a delegation the two
 * re-encryption clouds enforce (docs/pre.md section 8 says when to use which). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "workflow.h"
#include "medvault/mv_client.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_credential.h"
#include "medvault/mv_pre.h"

static const char share_usage[] =
    "usage: medvault share grant|revoke (RECORD_ID | --episode APPOINTMENT_ID) --to KEY [--json]\n"
    "       medvault share grant (RECORD_ID | --episode ID) --to KEY --via-clouds [--role ROLE]\n"
    "                            [--department D] [--expires DUR] [--json]\n"
    "       medvault share revoke (RECORD_ID | --episode ID) --to KEY --via-clouds [--json]\n"
    "       medvault share delegations [--json]\n"
    "       medvault share check DELEGATION [--json]\n"
    "       medvault share patient RECORD_ID --mrn MRN [--json]\n\n"
    "grant: lets the user with Ed25519 key KEY (64 hex) read the record, or every record of the\n"
    "episode: the record key is rewrapped on this machine and the storage ACL updated. Use it for\n"
    "a one-to-one share while both of you are online.\n"
    "grant --via-clouds: signs a delegation once and gives each of the two re-encryption clouds a\n"
    "fragment of a re-encryption key; you may then go offline. At every read each cloud checks the\n"
    "recipient's hospital credential against the policy (--role, default doctor; --department,\n"
    "default the recipient's first department), the expiry (--expires 7d, 12h, 30m; default 30d)\n"
    "and the revocations. Records added to the episode later under a new keyset need a new grant,\n"
    "which replaces the delegation. Needs \"proxies\" in the deployment file.\n"
    "revoke: removes their access at once; with --via-clouds both clouds delete their fragments and\n"
    "it succeeds only when every cloud confirmed. Key material they already fetched cannot be taken\n"
    "back: revoking stops further reads, it does not erase what was read.\n"
    "delegations: the active delegations you gave and were given through the clouds, with expiry.\n"
    "check: as the recipient of DELEGATION (64 hex), asks each cloud on its own to re-encrypt it\n"
    "and says what each answered (a refusal by policy, expiry or revocation; no answer; a bad proof).\n"
    "patient: the author of a record written before its patient registered names the patient.\n" CLI_COMMON_HELP;

/* "7d", "12h", "30m", "90s" (a number alone is seconds) into seconds; 0 if malformed. */
static uint64_t duration_arg(const char *s)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > UINT64_MAX / 10 / 86400)
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (i == 0 || (s[i] && s[i + 1]))
        return 0;
    switch (s[i]) {
    case 'd': return v * 86400;
    case 'h': return v * 3600;
    case 'm': return v * 60;
    case 's': case 0: return v;
    default: return 0;
    }
}

/* Removes every "--via-clouds" from argv (getopt sees only options with values); 1 if seen. */
static int take_flag(int *argc, char **argv, const char *flag)
{
    int seen = 0, j = 0;
    for (int i = 0; i < *argc; i++) {
        if (i > 0 && strcmp(argv[i], flag) == 0) {
            seen = 1;
            continue;
        }
        argv[j++] = argv[i];
    }
    argv[j] = NULL;
    *argc = j;
    return seen;
}

/* share grant|revoke --via-clouds (docs/pre.md). */
static int share_clouds(mv_client *cl, const wf_opts *o, int grant, int by_episode, const uint8_t label[16],
                        const uint8_t target[32])
{
    mv_client_pre_policy pol = {0};
    uint8_t hash[32];
    size_t n = 0;
    mv_err rc;
    int kind = by_episode ? MV_PRE_LABEL_EPISODE : MV_PRE_LABEL_RECORD;
    if (grant) {
        pol.department = o->v[4];
        if (o->v[3]) {
            mv_role role = mv_role_of(o->v[3]);
            if (role != MV_ROLE_DOCTOR && role != MV_ROLE_PATIENT && role != MV_ROLE_ADMIN) {
                cli_err("--role is doctor, patient or admin");
                return CLI_USAGE;
            }
            pol.role = (uint8_t)role;
        }
        if (o->v[5] && !(pol.seconds = duration_arg(o->v[5]))) {
            cli_err("--expires takes a duration such as 7d, 12h or 30m");
            return CLI_USAGE;
        }
        rc = mv_client_pre_grant(cl, kind, label, target, &pol, hash, &n);
    } else {
        rc = mv_client_pre_revoke(cl, kind, label, target, &n);
    }
    if (rc != MV_OK) {
        cli_err("%s (%s)", mv_client_last_error(cl), mv_strerror(rc));
        return CLI_FAIL;
    }
    char hex[65] = "";
    if (grant && mv_hex_encode(hex, sizeof hex, hash, 32) != MV_OK)
        return CLI_FAIL;
    if (o->c.json) {
        mv_buf b;
        mv_jw w;
        cli_json_begin(&w, &b);
        mv_jw_kstr(&w, "status", grant ? "delegated" : "revoked");
        if (grant) {
            mv_jw_kstr(&w, "delegation", hex);
            mv_jw_ku64(&w, "capsules", n);
            mv_jw_ku64(&w, "expires_at", (uint64_t)time(NULL) + (pol.seconds ? pol.seconds : 30u * 86400u));
        } else {
            mv_jw_ku64(&w, "delegations", n);
        }
        return cli_json_end(&w, &b);
    }
    if (grant)
        printf("delegated through the clouds: %zu capsule%s, delegation %s\n", n, n == 1 ? "" : "s", hex);
    else
        printf("revoked %zu delegation%s at every cloud\n", n, n == 1 ? "" : "s");
    return CLI_OK;
}

static int share_run(int argc, char **argv, int mode /* 1 grant, 0 revoke, 2 patient */)
{
    static const wf_opt own[] = {{"to", 0}, {"episode", 1}, {"mrn", 2}, {"role", 3}, {"department", 4},
                                 {"expires", 5}};
    wf_opts o;
    uint8_t id[16], target[32];
    size_t changed = 0;
    int clouds = mode != 2 && take_flag(&argc, argv, "--via-clouds");
    int r = wf_parse(argc, argv, share_usage, own, 6, &o, 1);
    if (r >= 0)
        return r;
    if (!clouds && (o.v[3] || o.v[4] || o.v[5])) {
        cli_err("--role, --department and --expires go with --via-clouds");
        return CLI_USAGE;
    }
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
    if (clouds) {
        if (by_episode && mv_hex_decode_exact(id, 16, o.v[1], 32) != MV_OK)
            r = CLI_USAGE;
        else
            r = share_clouds(cl, &o, mode, by_episode, id, target);
        mv_client_close(cl);
        return r;
    }
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

/* Prints one list of delegations ("given" or "received") of the answer. */
static void print_delegations(const mv_json *ds, const char *title, const char *who_key)
{
    printf("%s:\n", title);
    if (!mv_json_len(ds))
        printf("  (none)\n");
    for (size_t i = 0; i < mv_json_len(ds); i++) {
        const mv_json *e = mv_json_at(ds, i);
        uint64_t kind = 0, exp = 0, n = 0;
        char when[32];
        const char *who = mv_json_get_str(e, who_key, NULL), *label = mv_json_get_str(e, "label", NULL);
        const char *dept = mv_json_get_str(e, "department", NULL);
        (void)mv_json_get_u64(e, "label_kind", &kind);
        (void)mv_json_get_u64(e, "expires_at", &exp);
        (void)mv_json_get_u64(e, "entries", &n);
        wf_fmt_time(exp, when);
        printf("  %s %s %s %.16s... (%s) %" PRIu64 " capsules, expires %s\n", kind == 1 ? "episode" : "record",
               label ? label : "?", strcmp(who_key, "owner") ? "to" : "from", who ? who : "?", dept ? dept : "?", n,
               when);
    }
}

/* What `share delegations` and `share check` ask the client for, and how each prints it. */
typedef mv_err (*json_fetch_fn)(mv_client *cl, const uint8_t *arg, mv_buf *out);
typedef void (*json_print_fn)(const mv_json *root);

static mv_err fetch_delegations(mv_client *cl, const uint8_t *arg, mv_buf *out)
{
    (void)arg;
    return mv_client_pre_delegations_json(cl, out);
}

static void print_lists(const mv_json *root)
{
    print_delegations(mv_json_get(root, "given"), "given", "recipient");
    print_delegations(mv_json_get(root, "received"), "received", "owner");
}

static mv_err fetch_check(mv_client *cl, const uint8_t *hash, mv_buf *out)
{
    return mv_client_pre_check_json(cl, hash, out);
}

static void print_check(const mv_json *root)
{
    const mv_json *cs = mv_json_get(root, "clouds");
    int open = 0;
    for (size_t i = 0; i < mv_json_len(cs); i++) {
        const mv_json *e = mv_json_at(cs, i);
        uint64_t idx = 0;
        int ok = 0;
        const char *err = mv_json_get_str(e, "error", NULL), *url = mv_json_get_str(e, "url", NULL);
        (void)mv_json_get_u64(e, "proxy", &idx);
        (void)mv_json_bool(mv_json_get(e, "ok"), &ok);
        printf("proxy %" PRIu64 " (%s): %s\n", idx, url ? url : "?",
               ok ? "re-encrypted, every proof verified" : err ? err : "failed");
    }
    (void)mv_json_bool(mv_json_get(root, "keys_open"), &open);
    printf("%s\n", open ? "every key of the delegation opens" : "the keys do not open");
}

/* Runs a read-only command whose answer is a JSON document: printed as is with --json, else
 * through print. n_args is 0 or 1 (a 64-hex argument passed to fetch). */
static int json_command(int argc, char **argv, int n_args, json_fetch_fn fetch, json_print_fn print)
{
    wf_opts o;
    uint8_t arg[32] = {0};
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, share_usage, NULL, 0, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, n_args, share_usage)) >= 0)
        return r;
    if (n_args && cli_hex_arg(argv[optind], arg, 32, "DELEGATION") != 0)
        return CLI_USAGE;
    mv_client *cl = cli_open_client(&o.c, NULL, "share");
    if (!cl)
        return CLI_FAIL;
    mv_buf b;
    mv_buf_init(&b, (size_t)16 << 20);
    mv_err rc = fetch(cl, arg, &b);
    if (rc != MV_OK) {
        cli_err("%s (%s)", mv_client_last_error(cl), mv_strerror(rc));
        r = CLI_FAIL;
    } else if (o.c.json) {
        r = fwrite(b.ptr, 1, b.len, stdout) == b.len && putchar('\n') != EOF ? CLI_OK : CLI_FAIL;
    } else if (mv_json_parse((const char *)b.ptr, b.len, NULL, &root, NULL) == MV_OK) {
        print(root);
        r = CLI_OK;
    } else {
        r = CLI_FAIL;
    }
    mv_json_free(root);
    mv_buf_clear(&b);
    mv_client_close(cl);
    return r;
}

static int share_delegations(int argc, char **argv)
{
    return json_command(argc, argv, 0, fetch_delegations, print_lists);
}

static int share_check(int argc, char **argv)
{
    return json_command(argc, argv, 1, fetch_check, print_check);
}

int cmd_share(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"grant", share_grant, "let another user read a record or an episode"},
        {"revoke", share_revoke, "take that access away"},
        {"patient", share_patient, "name the patient of a record written before they registered"},
        {"delegations", share_delegations, "the delegations through the clouds you gave and were given"},
        {"check", share_check, "ask each cloud to re-encrypt a delegation you received, and say what it answered"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault share", table, argc, argv);
}
