/* cmd_group.c - `medvault group`: creating groups, membership, joining, the signed roster and
 * the list of one's groups (docs/groups.md); the dispatcher also routes the group's files
 * (cmd_group_files.c) and opening and judging (cmd_group_open.c). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd_group.h"
#include "workflow.h"
#include "medvault/mv_client.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_groups.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_mem.h"

#define MAX_USERS 256

static const char create_usage[] =
    "usage: medvault group create NAME [--openers U1,U2,U3] [--json]\n\n"
    "Creates a group (admins only). Its opener key is drawn on this machine and split 2-of-3\n"
    "between the three openers named (user names or 64-hex sign keys), each share sealed to its\n"
    "opener; without --openers you are the only opener. Nobody holds the opener key whole.\n"
    "NAME: 1-64 characters of [A-Za-z0-9_.-].\n" CLI_COMMON_HELP;
static const char add_usage[] =
    "usage: medvault group add GROUP USER... [--history | --no-history] [--json]\n\n"
    "Invites users (names or 64-hex sign keys; admins only); each joins with `group join`.\n"
    "--history: they may read everything the group wrote (the default for a new member).\n"
    "--no-history: they may read only what the group writes from their join on (the default\n"
    "for a removed member added again).\n" CLI_COMMON_HELP;
static const char remove_usage[] =
    "usage: medvault group remove GROUP USER [--json]\n\n"
    "Removes a member (admins only): a new epoch without her, her ring key on the group's\n"
    "revocation list, and a group key she cannot derive.\n" CLI_COMMON_HELP;
static const char join_usage[] =
    "usage: medvault group join GROUP [--json]\n\n"
    "Joins a group you were invited to, with a ring key derived from your own keys.\n" CLI_COMMON_HELP;
static const char roster_usage[] =
    "usage: medvault group roster GROUP [--epoch E] [--json]\n\n"
    "Fetches the group's roster (the current one, or epoch E's), verifies the hospital's\n"
    "signature and prints it: epoch, openers and the members' ring keys.\n" CLI_COMMON_HELP;
static const char key_usage[] =
    "usage: medvault group key GROUP [--epoch E] [--json]\n\n"
    "Fetches your group keys (members only) and prints the epochs you may read and the\n"
    "fingerprint of epoch E's key (default: the newest), never the key: two members holding the\n"
    "same key see the same fingerprint. The same for the group's dedup secret, with its\n"
    "generation.\n" CLI_COMMON_HELP;
static const char ls_usage[] =
    "usage: medvault group ls [--json]\n\n"
    "Lists your groups (an admin: every group).\n" CLI_COMMON_HELP;

/* Prints the client's last error and returns CLI_FAIL. */
static int fail(mv_client *cl, mv_err rc)
{
    cli_err("%s (%s)", mv_client_last_error(cl), mv_strerror(rc));
    return CLI_FAIL;
}

/* Parses the common options and own[0..n_own) and expects n positional arguments (at least n
 * with at_least); opens the client. Returns -1 and *cl on success, else the exit code. */
static int start(int argc, char **argv, const char *usage, const wf_opt *own, size_t n_own, size_t n, int at_least,
                 wf_opts *o, mv_client **cl)
{
    int r = wf_parse(argc, argv, usage, own, n_own, o, 1);
    if (r >= 0)
        return r;
    size_t have = (size_t)(argc - optind);
    if (at_least ? have < n : have != n)
        return cli_usage(usage, 0);
    if (!(*cl = cli_open_client(&o->c, NULL, "group")))
        return CLI_FAIL;
    return -1;
}

static int group_create(int argc, char **argv)
{
    static const wf_opt own[] = {{"openers", 0}};
    wf_opts o;
    mv_client *cl = NULL;
    uint8_t openers[MV_GROUP_OPENERS * 32], id[16];
    char list[3 * 130];
    size_t n = 0;
    int r = start(argc, argv, create_usage, own, 1, 1, 0, &o, &cl);
    if (r >= 0)
        return r;
    const char *name = argv[optind];
    mv_err rc = MV_OK;
    if (o.v[0]) {
        if (strlen(o.v[0]) >= sizeof list) {
            cli_err("--openers names three users, separated by commas");
            r = CLI_USAGE;
            goto out;
        }
        snprintf(list, sizeof list, "%s", o.v[0]);
        for (char *u = list; u && n <= MV_GROUP_OPENERS; n++) {
            char *comma = strchr(u, ',');
            if (comma)
                *comma = 0;
            if (n < MV_GROUP_OPENERS && (rc = mv_client_user_resolve(cl, u, openers + 32 * n)) != MV_OK) {
                r = fail(cl, rc);
                goto out;
            }
            u = comma ? comma + 1 : NULL;
        }
        if (n != MV_GROUP_OPENERS) {
            cli_err("--openers names exactly three users (U1,U2,U3)");
            r = CLI_USAGE;
            goto out;
        }
    }
    if ((rc = mv_client_group_create(cl, name, n ? openers : NULL, n, id)) != MV_OK) {
        r = fail(cl, rc);
        goto out;
    }
    char hex[33];
    if (mv_hex_encode(hex, sizeof hex, id, 16) != MV_OK) {
        r = CLI_FAIL;
        goto out;
    }
    r = CLI_OK;
    if (o.c.json) {
        mv_buf b;
        mv_jw w;
        cli_json_begin(&w, &b);
        mv_jw_kstr(&w, "id", hex);
        mv_jw_kstr(&w, "name", name);
        mv_jw_ku64(&w, "t", n ? 2 : 1);
        mv_jw_ku64(&w, "n", n ? n : 1);
        r = cli_json_end(&w, &b);
    } else {
        printf("created group %s (id %s), opened by %s\n", name, hex, n ? "any 2 of its 3 openers" : "you alone");
    }
out:
    mv_client_close(cl);
    return r;
}

static int group_add(int argc, char **argv)
{
    wf_opts o;
    mv_client *cl = NULL;
    uint8_t *users = NULL;
    size_t added = 0;
    int history = -1, m = 0; /* -1: the hospital's default */
    /* --history and --no-history are flags, which wf_parse does not take: taken out first. */
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--no-history") || !strcmp(argv[i], "--history")) {
            int h = argv[i][2] == 'h';
            if (history >= 0 && history != h) {
                cli_err("--history and --no-history contradict each other");
                return CLI_USAGE;
            }
            history = h;
        } else {
            argv[m++] = argv[i];
        }
    }
    argc = m;
    int r = start(argc, argv, add_usage, NULL, 0, 2, 1, &o, &cl);
    if (r >= 0)
        return r;
    const char *group = argv[optind];
    size_t n = (size_t)(argc - optind - 1);
    if (n > MAX_USERS) {
        cli_err("at most %d users at once", MAX_USERS);
        r = CLI_USAGE;
        goto out;
    }
    if (!(users = mv_mallocarray(n, 32))) {
        r = CLI_FAIL;
        goto out;
    }
    mv_err rc = MV_OK;
    for (size_t i = 0; i < n && rc == MV_OK; i++)
        rc = mv_client_user_resolve(cl, argv[optind + 1 + (int)i], users + 32 * i);
    if (rc == MV_OK)
        rc = mv_client_group_add(cl, group, users, n, history, &added);
    if (rc != MV_OK) {
        r = fail(cl, rc);
        goto out;
    }
    r = CLI_OK;
    if (o.c.json) {
        mv_buf b;
        mv_jw w;
        cli_json_begin(&w, &b);
        mv_jw_ku64(&w, "added", added);
        if (history >= 0)
            mv_jw_kbool(&w, "history", history);
        r = cli_json_end(&w, &b);
    } else {
        printf("invited %zu user%s to %s%s\n", added, added == 1 ? "" : "s", group,
               history == 0 ? " (without history)" : history == 1 ? " (with history)" : "");
    }
out:
    mv_free(users);
    mv_client_close(cl);
    return r;
}

/* Prints {"epoch":E, key:value} under --json, else line. */
static int print_epoch(const wf_opts *o, uint64_t epoch, const char *key, int value, const char *line)
{
    if (!o->c.json) {
        printf("%s\n", line);
        return CLI_OK;
    }
    mv_buf b;
    mv_jw w;
    cli_json_begin(&w, &b);
    mv_jw_ku64(&w, "epoch", epoch);
    if (key)
        mv_jw_kbool(&w, key, value);
    return cli_json_end(&w, &b);
}

static int group_remove(int argc, char **argv)
{
    wf_opts o;
    mv_client *cl = NULL;
    uint8_t user[32];
    uint64_t epoch = 0;
    char line[160];
    int r = start(argc, argv, remove_usage, NULL, 0, 2, 0, &o, &cl);
    if (r >= 0)
        return r;
    mv_err rc = mv_client_user_resolve(cl, argv[optind + 1], user);
    if (rc == MV_OK)
        rc = mv_client_group_remove(cl, argv[optind], user, &epoch);
    if (rc != MV_OK) {
        r = fail(cl, rc);
    } else {
        snprintf(line, sizeof line, "removed from %s: the group is at epoch %llu", argv[optind],
                 (unsigned long long)epoch);
        r = print_epoch(&o, epoch, "removed", 1, line);
    }
    mv_client_close(cl);
    return r;
}

static int group_join(int argc, char **argv)
{
    wf_opts o;
    mv_client *cl = NULL;
    uint64_t epoch = 0;
    int joined = 0;
    char line[160];
    int r = start(argc, argv, join_usage, NULL, 0, 1, 0, &o, &cl);
    if (r >= 0)
        return r;
    mv_err rc = mv_client_group_join(cl, argv[optind], &joined, &epoch);
    if (rc != MV_OK) {
        r = fail(cl, rc);
    } else {
        if (joined)
            snprintf(line, sizeof line, "joined %s: epoch %llu", argv[optind], (unsigned long long)epoch);
        else
            snprintf(line, sizeof line, "already a member of %s", argv[optind]);
        r = print_epoch(&o, epoch, "joined", joined, line);
    }
    mv_client_close(cl);
    return r;
}

static int group_roster(int argc, char **argv)
{
    static const wf_opt own[] = {{"epoch", 0}};
    wf_opts o;
    mv_client *cl = NULL;
    mv_roster ro;
    uint64_t epoch = 0;
    char hex[65];
    memset(&ro, 0, sizeof ro);
    int r = start(argc, argv, roster_usage, own, 1, 1, 0, &o, &cl);
    if (r >= 0)
        return r;
    if (o.v[0] && cli_u64_arg(o.v[0], 1, 65536, &epoch, "--epoch") != 0) {
        r = CLI_USAGE;
        goto out;
    }
    mv_err rc = mv_client_group_roster(cl, argv[optind], epoch, &ro, NULL);
    if (rc != MV_OK) {
        r = fail(cl, rc);
        goto out;
    }
    r = CLI_OK;
    if (o.c.json) {
        mv_buf b;
        mv_jw w;
        cli_json_begin(&w, &b);
        mv_jw_khex(&w, "group", ro.group_id, 16);
        mv_jw_ku64(&w, "epoch", ro.epoch);
        mv_jw_ku64(&w, "issued_at", ro.issued_at);
        mv_jw_kbool(&w, "verified", 1);
        mv_jw_khex(&w, "issuer", ro.issuer, 32);
        mv_jw_khex(&w, "ek", ro.ek, 32);
        mv_jw_ku64(&w, "t", ro.t);
        mv_jw_ku64(&w, "n", ro.n_openers);
        mv_jw_key(&w, "members");
        mv_jw_arr(&w);
        for (size_t i = 0; i < ro.n_members; i++)
            mv_jw_hex(&w, ro.members + 32 * i, 32);
        mv_jw_arr_end(&w);
        r = cli_json_end(&w, &b);
    } else {
        char when[32];
        wf_fmt_time(ro.issued_at, when);
        if (mv_hex_encode(hex, sizeof hex, ro.group_id, 16) != MV_OK)
            hex[0] = 0;
        printf("group %s, epoch %llu, issued %s, signed by the hospital (verified)\n", hex,
               (unsigned long long)ro.epoch, when);
        printf("openers: any %u of %u\nmembers (%zu ring keys):\n", ro.t, ro.n_openers, ro.n_members);
        for (size_t i = 0; i < ro.n_members; i++)
            if (mv_hex_encode(hex, sizeof hex, ro.members + 32 * i, 32) == MV_OK)
                printf("  %s\n", hex);
    }
out:
    mv_roster_clear(&ro);
    mv_client_close(cl);
    return r;
}

/* The fingerprint of a group key: SHA-256("medvault group key fingerprint v1\n" || K), first
 * 16 bytes (comparing them says nothing about the key). */
static mv_err key_fingerprint(const uint8_t k[MV_GROUP_KEY_BYTES], uint8_t fp[16])
{
    static const char dom[] = "medvault group key fingerprint v1\n";
    uint8_t in[sizeof dom - 1 + MV_GROUP_KEY_BYTES], h[MV_SHA256_BYTES];
    memcpy(in, dom, sizeof dom - 1);
    memcpy(in + sizeof dom - 1, k, MV_GROUP_KEY_BYTES);
    mv_err rc = mv_sha256(h, in, sizeof in);
    memcpy(fp, h, 16);
    mv_wipe(in, sizeof in);
    mv_wipe(h, sizeof h);
    return rc;
}

static int group_key(int argc, char **argv)
{
    static const wf_opt own[] = {{"epoch", 0}};
    wf_opts o;
    mv_client *cl = NULL;
    mv_group_keys *k = NULL;
    uint64_t epoch = 0, gen = 0;
    uint8_t key[MV_GROUP_KEY_BYTES], fp[16], dfp[16];
    char hex[33], dhex[33];
    int r = start(argc, argv, key_usage, own, 1, 1, 0, &o, &cl);
    if (r >= 0)
        return r;
    if (o.v[0] && cli_u64_arg(o.v[0], 1, MV_GROUP_MAX_EPOCHS, &epoch, "--epoch") != 0) {
        r = CLI_USAGE;
        goto out;
    }
    mv_err rc = mv_client_group_keys(cl, argv[optind], &k);
    if (rc != MV_OK) {
        r = fail(cl, rc);
        goto out;
    }
    if (!epoch)
        epoch = mv_group_keys_epoch(k);
    if ((rc = mv_group_keys_at(k, epoch, key)) != MV_OK) {
        cli_err("you may not read epoch %llu of %s: your keys cover epochs %llu to %llu",
                (unsigned long long)epoch, argv[optind], (unsigned long long)mv_group_keys_first(k),
                (unsigned long long)mv_group_keys_epoch(k));
        r = CLI_FAIL;
        goto out;
    }
    rc = key_fingerprint(key, fp);
    /* The dedup secret is fingerprinted like a key (same domain: both are 32-byte secrets). */
    if (rc == MV_OK && (rc = mv_group_keys_dedup_secret(k, key, &gen)) == MV_OK)
        rc = key_fingerprint(key, dfp);
    mv_wipe(key, sizeof key);
    if (rc != MV_OK || mv_hex_encode(hex, sizeof hex, fp, sizeof fp) != MV_OK ||
        mv_hex_encode(dhex, sizeof dhex, dfp, sizeof dfp) != MV_OK) {
        r = CLI_FAIL;
        goto out;
    }
    r = CLI_OK;
    if (o.c.json) {
        mv_buf b;
        mv_jw w;
        cli_json_begin(&w, &b);
        mv_jw_ku64(&w, "epoch", mv_group_keys_epoch(k));
        mv_jw_ku64(&w, "first_epoch", mv_group_keys_first(k));
        mv_jw_ku64(&w, "key_epoch", epoch);
        mv_jw_kstr(&w, "fingerprint", hex);
        mv_jw_ku64(&w, "dedup_generation", gen);
        mv_jw_kstr(&w, "dedup_fingerprint", dhex);
        r = cli_json_end(&w, &b);
    } else {
        printf("epochs %llu to %llu; the key of epoch %llu has fingerprint %s; dedup secret generation %llu "
               "has fingerprint %s\n",
               (unsigned long long)mv_group_keys_first(k), (unsigned long long)mv_group_keys_epoch(k),
               (unsigned long long)epoch, hex, (unsigned long long)gen, dhex);
    }
out:
    mv_group_keys_free(k);
    mv_client_close(cl);
    return r;
}

static int group_ls(int argc, char **argv)
{
    static const wf_col cols[] = {
        {"NAME", "name", COL_STR},       {"ID", "id", COL_STR},         {"EPOCH", "epoch", COL_STR},
        {"MEMBERS", "member_count", COL_STR}, {"STATUS", "status", COL_STR},
    };
    wf_opts o;
    mv_client *cl = NULL;
    mv_json *root = NULL;
    mv_buf b;
    int r = start(argc, argv, ls_usage, NULL, 0, 0, 0, &o, &cl);
    if (r >= 0)
        return r;
    mv_buf_init(&b, (size_t)4 << 20);
    mv_err rc = mv_client_group_ls(cl, &b);
    if (rc != MV_OK) {
        r = fail(cl, rc);
    } else if (o.c.json) {
        r = cli_print_buf(&b) == CLI_OK && puts("") >= 0 ? CLI_OK : CLI_FAIL;
    } else if (mv_json_parse((const char *)b.ptr, b.len, NULL, &root, NULL) != MV_OK) {
        cli_err("the hospital's answer is not JSON");
        r = CLI_FAIL;
    } else {
        wf_print_table(mv_json_get(root, "groups"), cols, sizeof cols / sizeof cols[0]);
        r = CLI_OK;
    }
    mv_json_free(root);
    mv_buf_clear(&b);
    mv_client_close(cl);
    return r;
}

int cmd_group(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"create", group_create, "create a group and split its opener key (admins)"},
        {"add", group_add, "invite users to a group (admins)"},
        {"remove", group_remove, "remove a member: new epoch, revocation, new key (admins)"},
        {"join", group_join, "join a group you were invited to"},
        {"roster", group_roster, "fetch and verify a group's signed roster"},
        {"ls", group_ls, "list your groups"},
        {"key", group_key, "the epochs whose keys you hold, and a key's fingerprint"},
        {"put", cmd_group_put, "store a file in a group"},
        {"get", cmd_group_get, "fetch a group's file"},
        {"modify", cmd_group_modify, "replace a group's file"},
        {"rm", cmd_group_rm, "delete a group's file"},
        {"history", cmd_group_history, "every version of a group's file, with its signature"},
        {"files", cmd_group_files, "list a group's files"},
        {"open", cmd_group_open, "reveal who wrote a version (openers)"},
        {"case", cmd_group_case, "write the case file of a disputed version (admins)"},
        {"judge", cmd_group_judge, "check an opening's proof"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault group", table, argc, argv);
}
