/* cmd_group_open.c - `medvault group open|judge`: revealing the signer of a disputed group
 * operation (a quorum of the group's openers) and checking an opening (anyone, offline: the
 * case file and the opening file carry everything, checked against the hospital's key in the
 * deployment file). docs/groups.md "Tracing". */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd_group.h"
#include "workflow.h"
#include "medvault/mv_client.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_deployment.h"
#include "medvault/mv_file.h"
#include "medvault/mv_group_case.h"
#include "medvault/mv_groups.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"

#define MAX_PARTIALS MV_RING_MAX_OPENERS
#define SMALL_FILE_MAX (64u * 1024u)

static const char open_usage[] =
    "usage: medvault group open CASE [--partial FILE]... [--out FILE] [--note TEXT] [--json]\n\n"
    "Opens the ring signature of the operation in CASE (a case file from `medvault group case`):\n"
    "if you are one of the group's openers, your share decrypts your part (a partial, with a\n"
    "proof that you used your share). With fewer partials than the group's threshold the partial\n"
    "is written (to --out, default standard output) for the next opener; with enough (yours and\n"
    "those given with --partial) they are combined into an opening that names the signer's ring\n"
    "key and roster position, written to --out, and the hospital is asked who holds that key\n"
    "(admins and openers may ask) and logs the opening with --note. Anyone can check the opening\n"
    "with `medvault group judge CASE OPENING`.\n" CLI_COMMON_HELP;
static const char case_usage[] =
    "usage: medvault group case GROUP RECORD_ID [--version V] [--out FILE] [--json]\n\n"
    "Writes the case file of one version of a group record (default: the latest) for tracing\n"
    "(admins: the storage server's history is the manager's): the operation's signed message, its\n"
    "ring signature and the hospital-signed roster of its epoch. Give it to the openers\n"
    "(`medvault group open`) and to whoever should check the outcome (`medvault group judge`).\n" CLI_COMMON_HELP;
static const char judge_usage[] =
    "usage: medvault group judge CASE OPENING [--deployment F] [--json]\n\n"
    "Checks an opening: that CASE's roster is signed by the hospital of the deployment file,\n"
    "that its ring signature is valid, and that OPENING's partial decryptions and proofs name\n"
    "exactly the member it says. Needs no account and no network. Exit status 0 only if valid.\n";

/* Reads path (at most max bytes) or prints why not. */
static int read_small(const char *path, size_t max, mv_buf *out, const char *what)
{
    mv_err rc = mv_file_read(path, max, out);
    if (rc != MV_OK) {
        cli_err("cannot read the %s %s: %s", what, path, mv_strerror(rc));
        return CLI_FAIL;
    }
    return CLI_OK;
}

static int load_case(const char *path, const uint8_t hospital_pk[32], mv_group_case *c)
{
    mv_buf b;
    const char *why = NULL;
    mv_buf_init(&b, MV_GROUP_CASE_MAX_BYTES);
    int r = read_small(path, MV_GROUP_CASE_MAX_BYTES, &b, "case file");
    if (r == CLI_OK && mv_group_case_parse((const char *)b.ptr, b.len, hospital_pk, c, &why) != MV_OK) {
        cli_err("%s: %s", path, why ? why : "not a case file");
        r = CLI_FAIL;
    }
    mv_buf_clear(&b);
    return r;
}

/* Writes data to path, or to standard output when path is NULL. */
static int emit(const char *path, const mv_buf *data, const char *what)
{
    if (!path) {
        fwrite(data->ptr, 1, data->len, stdout);
        fputc('\n', stdout);
        return CLI_OK;
    }
    mv_err rc = mv_file_write_atomic(path, data->ptr, data->len, 0600);
    if (rc != MV_OK) {
        cli_err("cannot write the %s to %s: %s", what, path, mv_strerror(rc));
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cmd_group_open(int argc, char **argv)
{
    static const wf_opt own[] = {{"out", 0}, {"note", 1}};
    const char *partial_paths[MAX_PARTIALS];
    size_t n_partial_paths = 0;
    int m = 0;
    /* --partial may repeat, which wf_parse does not take: taken out first. */
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--partial")) {
            if (i + 1 >= argc) {
                cli_err("--partial needs a file");
                return CLI_USAGE;
            }
            if (n_partial_paths == MAX_PARTIALS) {
                cli_err("at most %u --partial files", (unsigned)MAX_PARTIALS);
                return CLI_USAGE;
            }
            partial_paths[n_partial_paths++] = argv[++i];
        } else {
            argv[m++] = argv[i];
        }
    }
    argc = m;
    wf_opts o;
    int r = wf_parse(argc, argv, open_usage, own, 2, &o, 1);
    if (r >= 0)
        return r;
    if (argc - optind != 1)
        return cli_usage(open_usage, 0);
    const char *case_path = argv[optind];

    mv_deployment dep;
    mv_group_case c;
    mv_client *cl = NULL;
    mv_buf parts[MAX_PARTIALS + 1], out, who;
    const char *texts[MAX_PARTIALS + 1];
    size_t lens[MAX_PARTIALS + 1], count = 0;
    uint8_t share[32];
    unsigned idx = 0, t = 0, n = 0;
    char group_hex[33];
    memset(&c, 0, sizeof c);
    for (size_t i = 0; i <= MAX_PARTIALS; i++)
        mv_buf_init(&parts[i], SMALL_FILE_MAX);
    mv_buf_init(&out, SMALL_FILE_MAX);
    mv_buf_init(&who, SMALL_FILE_MAX);
    if ((r = cli_load_deployment(o.c.deployment, o.c.user, &dep)) != CLI_OK)
        goto out;
    if ((r = load_case(case_path, dep.hospital_pk, &c)) != CLI_OK)
        goto out;
    for (size_t i = 0; i < n_partial_paths; i++) {
        if ((r = read_small(partial_paths[i], SMALL_FILE_MAX, &parts[count], "partial")) != CLI_OK)
            goto out;
        texts[count] = (const char *)parts[count].ptr;
        lens[count] = parts[count].len;
        count++;
    }
    if (!(cl = cli_open_client(&o.c, NULL, "group open"))) {
        r = CLI_FAIL;
        goto out;
    }
    if (mv_hex_encode(group_hex, sizeof group_hex, c.group_id, 16) != MV_OK) {
        r = CLI_FAIL;
        goto out;
    }
    /* My own partial, if I am an opener; without a share I can still combine others'. */
    mv_err rc = mv_client_group_opener_share(cl, group_hex, &idx, &t, &n, share);
    int mine = 0;
    if (rc == MV_OK) {
        mv_buf *p = &parts[count];
        if ((rc = mv_group_case_partial(&c, (uint8_t)idx, share, p)) != MV_OK) {
            cli_err("your share does not open this case (%s): is it of this group?", mv_strerror(rc));
            r = CLI_FAIL;
            goto out;
        }
        texts[count] = (const char *)p->ptr;
        lens[count] = p->len;
        count++;
        mine = 1;
    } else if (rc != MV_ERR_FORBIDDEN) {
        cli_err("%s (%s)", mv_client_last_error(cl), mv_strerror(rc));
        r = CLI_FAIL;
        goto out;
    }
    mv_wipe(share, sizeof share);
    unsigned need = c.roster.t;
    if (count < need) {
        if (!mine) {
            cli_err("you are not an opener of this group and have %zu of the %u partials it takes", count, need);
            r = CLI_FAIL;
            goto out;
        }
        if ((r = emit(o.v[0], &parts[count - 1], "partial")) != CLI_OK)
            goto out;
        if (!o.c.json && o.v[0])
            printf("wrote your partial (opener %u) to %s: %zu of %u; give it to another opener\n", idx, o.v[0], count,
                   need);
        /* The log entry is the hospital's record that an opening was asked for; a failure to
         * log does not take the partial back, so it is reported, not fatal. */
        if (mv_client_group_log_opening(cl, group_hex, c.record_id, c.version, NULL, o.v[1]) != MV_OK)
            cli_err("warning: the hospital did not log this step: %s", mv_client_last_error(cl));
        r = CLI_OK;
        goto out;
    }
    uint32_t pos = 0;
    uint8_t bad = 0;
    if ((rc = mv_group_case_open(&c, texts, lens, count, &pos, &bad, &out)) != MV_OK) {
        if (rc == MV_ERR_AUTH)
            cli_err("the partial of opener %u does not verify: it was not made with that opener's share", bad);
        else if (rc == MV_ERR_PARSE)
            cli_err("a partial is malformed or of another case");
        else if (rc == MV_ERR_NOT_FOUND)
            cli_err("the partials decrypt to a key that is not in the roster of this case");
        else
            cli_err("cannot combine the partials: %s", mv_strerror(rc));
        r = CLI_FAIL;
        goto out;
    }
    const uint8_t *signer = c.roster.members + 32 * (size_t)pos;
    if ((r = emit(o.v[0] ? o.v[0] : NULL, &out, "opening")) != CLI_OK)
        goto out;
    /* Who holds the key: the hospital knows, and logs that we asked. */
    rc = mv_client_group_whois(cl, group_hex, signer, &who);
    mv_err logged = mv_client_group_log_opening(cl, group_hex, c.record_id, c.version, signer, o.v[1]);
    char key_hex[65];
    if (mv_hex_encode(key_hex, sizeof key_hex, signer, 32) != MV_OK) {
        r = CLI_FAIL;
        goto out;
    }
    if (o.c.json) {
        mv_buf b;
        mv_jw w;
        cli_json_begin(&w, &b);
        mv_jw_ku64(&w, "member_index", pos);
        mv_jw_kstr(&w, "ring_public_key", key_hex);
        mv_jw_ku64(&w, "epoch", c.roster.epoch);
        mv_jw_ku64(&w, "partials", count);
        if (rc == MV_OK) {
            mv_jw_key(&w, "member");
            mv_jw_raw(&w, (const char *)who.ptr, who.len);
        }
        mv_jw_kbool(&w, "logged", logged == MV_OK);
        if (o.v[0])
            mv_jw_kstr(&w, "opening_file", o.v[0]);
        r = cli_json_end(&w, &b);
    } else {
        printf("opened with %zu partials: the signer is roster position %u of epoch %llu, ring key %s\n", count, pos,
               (unsigned long long)c.roster.epoch, key_hex);
        mv_json *wj = NULL;
        if (rc == MV_OK && mv_json_parse((const char *)who.ptr, who.len, NULL, &wj, NULL) == MV_OK) {
            uint64_t joined = 0;
            const char *name = mv_json_get_str(wj, "name", NULL), *st = mv_json_get_str(wj, "status", NULL),
                       *spk = mv_json_get_str(wj, "sign_public_key", NULL);
            if (mv_json_get_u64(wj, "joined_epoch", &joined) != MV_OK)
                joined = 0;
            printf("the hospital names its holder: %s (user key %.16s..., %s, joined at epoch %llu)\n",
                   name ? name : "?", spk ? spk : "?", st ? st : "?", (unsigned long long)joined);
            mv_json_free(wj);
        } else if (rc == MV_OK)
            printf("the hospital names its holder: %.*s\n", (int)who.len, (const char *)who.ptr);
        else
            printf("(the hospital did not name its holder: %s)\n", mv_client_last_error(cl));
        if (o.v[0])
            printf("the opening is in %s: anyone can check it with `medvault group judge %s %s`\n", o.v[0], case_path,
                   o.v[0]);
        r = CLI_OK;
    }
out:
    mv_wipe(share, sizeof share);
    mv_client_close(cl);
    mv_group_case_clear(&c);
    for (size_t i = 0; i <= MAX_PARTIALS; i++)
        mv_buf_clear(&parts[i]);
    mv_buf_clear(&out);
    mv_buf_clear(&who);
    return r;
}

/* The version-th entry of a history answer (version 0: the last signed one). */
static const mv_json *history_version(const mv_json *root, uint64_t version)
{
    const mv_json *vs = mv_json_get(root, "versions"), *pick = NULL;
    for (size_t i = 0; i < mv_json_len(vs); i++) {
        const mv_json *v = mv_json_at(vs, i);
        uint64_t n = 0;
        if (mv_json_get_u64(v, "version", &n) != MV_OK || !mv_json_get(v, "sig"))
            continue;
        if (version ? n == version : 1)
            pick = v;
    }
    return pick;
}

/* Decodes the base64 string obj[key] into a new buffer of at most cap bytes. */
static mv_err b64_field(const mv_json *obj, const char *key, size_t cap, uint8_t **out, size_t *n)
{
    size_t len = 0;
    const char *s = mv_json_get_str(obj, key, &len);
    *out = NULL;
    if (!s || len > 4 * (cap / 3 + 1))
        return MV_ERR_PARSE;
    if (!(*out = mv_malloc(cap)))
        return MV_ERR_NOMEM;
    mv_err rc = mv_b64_decode(*out, cap, n, s, len);
    if (rc != MV_OK) {
        mv_free(*out);
        *out = NULL;
    }
    return rc;
}

int cmd_group_case(int argc, char **argv)
{
    static const wf_opt own[] = {{"version", 0}, {"out", 1}};
    wf_opts o;
    int r = wf_parse(argc, argv, case_usage, own, 2, &o, 1);
    if (r >= 0)
        return r;
    if (argc - optind != 2)
        return cli_usage(case_usage, 0);
    const char *group = argv[optind], *rec = argv[optind + 1];
    uint8_t id[16], gid[16];
    uint64_t want = 0;
    if (mv_hex_decode_exact(id, sizeof id, rec, strlen(rec)) != MV_OK) {
        cli_err("RECORD_ID is 32 hex digits");
        return CLI_USAGE;
    }
    if (o.v[0] && cli_u64_arg(o.v[0], 1, UINT64_MAX, &want, "--version") != 0)
        return CLI_USAGE;
    mv_client *cl = cli_open_client(&o.c, NULL, "group case");
    if (!cl)
        return CLI_FAIL;
    mv_buf hist, raw, out;
    mv_json *root = NULL;
    mv_roster roster;
    uint8_t *msg = NULL, *sig = NULL;
    size_t msg_len = 0, sig_len = 0;
    uint64_t version = 0, epoch = 0;
    memset(&roster, 0, sizeof roster);
    mv_buf_init(&hist, 64u << 20);
    mv_buf_init(&raw, 1u << 20);
    mv_buf_init(&out, MV_GROUP_CASE_MAX_BYTES);
    mv_err rc = mv_client_group_id(cl, group, gid);
    if (rc == MV_OK)
        rc = mv_client_group_history(cl, group, id, &hist);
    if (rc != MV_OK) {
        cli_err("%s (%s)", mv_client_last_error(cl), mv_strerror(rc));
        r = CLI_FAIL;
        goto out;
    }
    const mv_json *v = NULL;
    if (mv_json_parse((const char *)hist.ptr, hist.len, NULL, &root, NULL) != MV_OK ||
        !(v = history_version(root, want))) {
        cli_err(want ? "the record has no signed version %llu" : "the record has no signed version",
                (unsigned long long)want);
        r = CLI_FAIL;
        goto out;
    }
    if (mv_json_get_u64(v, "version", &version) != MV_OK || mv_json_get_u64(v, "epoch", &epoch) != MV_OK ||
        b64_field(v, "msg", MV_GROUP_CASE_MAX_MSG, &msg, &msg_len) != MV_OK ||
        b64_field(v, "sig", MV_RING_SIG_MAX_BYTES, &sig, &sig_len) != MV_OK) {
        cli_err("the storage server's history answer is malformed");
        r = CLI_FAIL;
        goto out;
    }
    if ((rc = mv_client_group_roster(cl, group, epoch, &roster, &raw)) != MV_OK ||
        (rc = mv_group_case_write(gid, id, version, raw.ptr, raw.len, msg, msg_len, sig, sig_len, &out)) != MV_OK) {
        cli_err("cannot fetch the roster of epoch %llu: %s (%s)", (unsigned long long)epoch, mv_client_last_error(cl),
                mv_strerror(rc));
        r = CLI_FAIL;
        goto out;
    }
    if ((r = emit(o.v[1], &out, "case file")) != CLI_OK)
        goto out;
    if (o.v[1]) {
        if (o.c.json) {
            mv_buf b;
            mv_jw w;
            cli_json_begin(&w, &b);
            mv_jw_kstr(&w, "case_file", o.v[1]);
            mv_jw_ku64(&w, "version", version);
            mv_jw_ku64(&w, "epoch", epoch);
            r = cli_json_end(&w, &b);
        } else {
            printf("wrote the case of version %llu (epoch %llu) to %s\n", (unsigned long long)version,
                   (unsigned long long)epoch, o.v[1]);
        }
    }
out:
    mv_client_close(cl);
    mv_json_free(root);
    mv_roster_clear(&roster);
    mv_free(msg);
    mv_free(sig);
    mv_buf_clear(&hist);
    mv_buf_clear(&raw);
    mv_buf_clear(&out);
    return r;
}

int cmd_group_judge(int argc, char **argv)
{
    wf_opts o;
    int r = wf_parse(argc, argv, judge_usage, NULL, 0, &o, 0);
    if (r >= 0)
        return r;
    if (argc - optind != 2)
        return cli_usage(judge_usage, 0);
    if (!o.c.deployment) {
        cli_err("give the deployment file (--deployment or $MEDVAULT_DEPLOYMENT): it holds the hospital's key");
        return CLI_USAGE;
    }
    mv_deployment dep;
    mv_group_case c;
    mv_buf op;
    memset(&c, 0, sizeof c);
    mv_buf_init(&op, SMALL_FILE_MAX);
    if ((r = cli_load_deployment(o.c.deployment, NULL, &dep)) != CLI_OK)
        goto out;
    if ((r = load_case(argv[optind], dep.hospital_pk, &c)) != CLI_OK)
        goto out;
    if ((r = read_small(argv[optind + 1], SMALL_FILE_MAX, &op, "opening")) != CLI_OK)
        goto out;
    uint32_t pos = 0;
    uint8_t key[32];
    char key_hex[65], rec_hex[33];
    mv_err rc = mv_group_case_judge(&c, (const char *)op.ptr, op.len, &pos, key);
    if (mv_hex_encode(key_hex, sizeof key_hex, key, 32) != MV_OK ||
        mv_hex_encode(rec_hex, sizeof rec_hex, c.record_id, 16) != MV_OK) {
        r = CLI_FAIL;
        goto out;
    }
    if (o.c.json) {
        mv_buf b;
        mv_jw w;
        cli_json_begin(&w, &b);
        mv_jw_kbool(&w, "valid", rc == MV_OK);
        mv_jw_kstr(&w, "record", rec_hex);
        mv_jw_kstr(&w, "op", mv_group_op_name(c.op.op));
        mv_jw_ku64(&w, "version", c.version);
        mv_jw_ku64(&w, "epoch", c.roster.epoch);
        if (rc == MV_OK) {
            mv_jw_ku64(&w, "member_index", pos);
            mv_jw_kstr(&w, "ring_public_key", key_hex);
        } else {
            mv_jw_kstr(&w, "error", mv_strerror(rc));
        }
        r = cli_json_end(&w, &b);
        if (r == CLI_OK && rc != MV_OK)
            r = CLI_FAIL;
    } else if (rc == MV_OK) {
        printf("valid: the %s of version %llu of record %s was signed by roster position %u of epoch %llu, ring key %s\n",
               mv_group_op_name(c.op.op), (unsigned long long)c.version, rec_hex, pos,
               (unsigned long long)c.roster.epoch, key_hex);
        r = CLI_OK;
    } else {
        cli_err("NOT valid: %s", rc == MV_ERR_AUTH ? "the signature or the opening does not verify"
                                                   : "the opening file is malformed or of another case");
        r = CLI_FAIL;
    }
out:
    mv_group_case_clear(&c);
    mv_buf_clear(&op);
    return r;
}
