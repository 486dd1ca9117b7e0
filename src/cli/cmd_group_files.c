/* cmd_group_files.c - `medvault group put|get|modify|rm|history|files`: the group's files at
 * the storage server, stored, read, modified and deleted anonymously with the member's ring
 * signature (mv_group_files.h). Output names records and versions, never content or keys. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmd_group.h"
#include "medvault/mv_client.h"
#include "medvault/mv_file.h"
#include "medvault/mv_groups.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"

#define GROUP_FILES_COMMON                                                                                       \
    "  --group G        the group: its name or its id (32 hex digits)\n"                                   \
    "  --json           one JSON object on stdout\n" CLI_COMMON_HELP

static const char put_usage[] =
    "usage: medvault group put --group G FILE... [--json]\n\n"
    "Stores each FILE as a new record of the group, signed anonymously with your ring key:\n"
    "the storage server learns that a current member stored it, not which one. Prints each\n"
    "record's id.\n\n" GROUP_FILES_COMMON;
static const char get_usage[] =
    "usage: medvault group get --group G ID [--version V] [-o FILE] [--json]\n"
    "       medvault group get --group G --list [--json]\n\n"
    "Reads the latest version of the group record ID, or with --version V that version (every\n"
    "version is kept until the record is deleted), to stdout or to FILE; or with --list lists\n"
    "the group's records (id, version, size, times).\n\n" GROUP_FILES_COMMON
    "  -o, --out FILE   write the content to FILE (0600) instead of stdout\n"
    "  --version V      read version V (1 = as first stored)\n";
static const char modify_usage[] =
    "usage: medvault group modify --group G ID FILE [--json]\n\n"
    "Replaces the content of the group record ID with FILE as its next version. Every\n"
    "version's signature stays at the storage server for the group's manager.\n\n" GROUP_FILES_COMMON;
static const char rm_usage[] =
    "usage: medvault group rm --group G ID [--manager] [--json]\n\n"
    "Deletes the group record ID. Only its owner (the member who stored version 1, proving it\n"
    "without revealing herself) or, with --manager, the group's manager (an admin) may.\n\n" GROUP_FILES_COMMON
    "  --manager        delete as the group's manager (a signed request; admins only)\n";
static const char history_usage[] =
    "usage: medvault group history --group G ID [--json]\n\n"
    "The group's manager (an admin): every version of record ID with its operation, epoch,\n"
    "time, size, and the signed message and ring signature (base64) that `group open` traces.\n\n" GROUP_FILES_COMMON;
static const char files_usage[] =
    "usage: medvault group files --group G [--json]\n\n"
    "Lists the group's records at the storage server (id, version, size, times).\n\n" GROUP_FILES_COMMON;

/* Parsed options of every group files command. */
typedef struct gf_opts {
    cli_common o;
    const char *group, *out;
    int list, manager;
    uint64_t version; /* get --version (0: the latest) */
    int first;      /* argv index of the first positional argument */
    uint8_t id[16]; /* the record ID argument, when the command takes one */
    mv_client *cl;
} gf_opts;

/* Options beyond the common ones that a command accepts. */
enum { GF_OUT = 1, GF_LIST = 2, GF_MANAGER = 4, GF_VERSION = 8 };

/* Parses argv (refusing options outside allow); returns -1 to go on, else the exit code
 * (usage printed). */
static int gf_parse(int argc, char **argv, const char *usage, int allow, gf_opts *g)
{
    static const struct option opts[] = {
        {"deployment", required_argument, NULL, 'D'}, {"user", required_argument, NULL, 'u'},
        {"group", required_argument, NULL, 'g'},      {"out", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, 'j'},             {"list", no_argument, NULL, 'l'},
        {"manager", no_argument, NULL, 'm'},          {"help", no_argument, NULL, 'h'},
        {"version", required_argument, NULL, 'V'},    {NULL, 0, NULL, 0},
    };
    int c;
    memset(g, 0, sizeof *g);
    cli_common_init(&g->o);
    optind = 0;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        switch (c) {
        case 'D': g->o.deployment = optarg; break;
        case 'u': g->o.user = optarg; break;
        case 'g': g->group = optarg; break;
        case 'o': g->out = optarg; break;
        case 'j': g->o.json = 1; break;
        case 'l': g->list = 1; break;
        case 'm': g->manager = 1; break;
        case 'V':
            if (cli_u64_arg(optarg, 1, 1024, &g->version, "--version"))
                return CLI_USAGE;
            break;
        case 'h': return cli_usage(usage, 1);
        default: return cli_usage(usage, 0);
        }
    }
    if (cli_common_check(&g->o, usage) != CLI_OK)
        return CLI_USAGE;
    if (!g->group || !g->group[0] || (g->out && !(allow & GF_OUT)) || (g->list && !(allow & GF_LIST)) ||
        (g->manager && !(allow & GF_MANAGER)) || (g->version && !(allow & GF_VERSION)))
        return cli_usage(usage, 0);
    g->first = optind;
    return -1;
}

/* After gf_parse: checks that there are n_pos positional arguments (n_pos < 0: at least one),
 * reads the first as a record id when with_id, and opens the client (g->cl; the caller closes
 * it). Returns -1 to go on, else the exit code. */
static int gf_open(gf_opts *g, int argc, char **argv, const char *usage, int n_pos, int with_id, const char *what)
{
    if (n_pos < 0 ? g->first >= argc : argc - g->first != n_pos)
        return cli_usage(usage, 0);
    if (with_id && cli_id_arg(argv[g->first], g->id))
        return CLI_USAGE;
    if (!(g->cl = cli_open_client(&g->o, NULL, what)))
        return CLI_FAIL;
    return -1;
}

/* gf_parse then gf_open: the start of every command but get. */
static int gf_start(int argc, char **argv, const char *usage, int allow, int n_pos, int with_id, const char *what,
                    gf_opts *g)
{
    int r = gf_parse(argc, argv, usage, allow, g);
    return r < 0 ? gf_open(g, argc, argv, usage, n_pos, with_id, what) : r;
}

/* Reports a failed library call: what failed, the error and the library's reason. */
static int gf_fail(mv_client *cl, const char *what, mv_err rc)
{
    cli_err("%s: %s (%s)", what, mv_strerror(rc), mv_client_last_error(cl));
    return CLI_FAIL;
}

/* Writes {"id","version"} (json) or "ID version N" for one stored version. */
static int print_version(const gf_opts *g, const uint8_t id[16], uint64_t version, const char *file)
{
    if (g->o.json) {
        mv_jw w;
        mv_buf b;
        cli_json_begin(&w, &b);
        if (file)
            mv_jw_kstr(&w, "file", file);
        mv_jw_khex(&w, "id", id, 16);
        mv_jw_ku64(&w, "version", version);
        return cli_json_end(&w, &b);
    }
    char hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", id[i]);
    if (file)
        cli_out("%s\t%s\tversion %llu\n", hex, file, (unsigned long long)version);
    else
        cli_out("%s\tversion %llu\n", hex, (unsigned long long)version);
    return CLI_OK;
}

int cmd_group_put(int argc, char **argv)
{
    gf_opts g;
    int r = gf_start(argc, argv, put_usage, 0, -1, 0, "group put", &g);
    if (r >= 0)
        return r;
    r = CLI_OK;
    for (int i = g.first; i < argc; i++) {
        uint8_t id[16];
        uint64_t v = 0;
        mv_err rc = mv_client_group_put(g.cl, g.group, argv[i], id, &v);
        if (rc != MV_OK)
            r = gf_fail(g.cl, argv[i], rc);
        else if (print_version(&g, id, v, argv[i]) != CLI_OK)
            r = CLI_FAIL;
    }
    mv_client_close(g.cl);
    return r;
}

static int print_json_answer(const mv_buf *b)
{
    int r = cli_print_buf(b);
    if (r == CLI_OK && fputc('\n', stdout) == EOF)
        r = CLI_FAIL;
    return r;
}

/* The listing as text: one line per record. */
static int print_listing(const mv_buf *b)
{
    mv_json *root = NULL;
    if (mv_json_parse((const char *)b->ptr, b->len, NULL, &root, NULL) != MV_OK) {
        cli_err("the storage server sent a malformed listing");
        return CLI_FAIL;
    }
    const mv_json *recs = mv_json_get(root, "records");
    for (size_t i = 0; i < mv_json_len(recs); i++) {
        const mv_json *e = mv_json_at(recs, i);
        size_t l = 0;
        const char *id = mv_json_get_str(e, "id", &l);
        uint64_t v = 0, size = 0;
        (void)mv_json_get_u64(e, "version", &v);
        (void)mv_json_get_u64(e, "size", &size);
        cli_out("%.*s\tversion %llu\t%llu bytes\n", (int)l, id ? id : "", (unsigned long long)v,
                (unsigned long long)size);
    }
    mv_json_free(root);
    return CLI_OK;
}

static int list_files(const gf_opts *g, mv_client *cl)
{
    mv_buf b;
    mv_buf_init(&b, (size_t)64 << 20);
    mv_err rc = mv_client_group_list(cl, g->group, &b);
    int r = rc != MV_OK ? gf_fail(cl, "group files", rc) : g->o.json ? print_json_answer(&b) : print_listing(&b);
    mv_buf_clear(&b);
    return r;
}

int cmd_group_files(int argc, char **argv)
{
    gf_opts g;
    int r = gf_start(argc, argv, files_usage, 0, 0, 0, "group files", &g);
    if (r >= 0)
        return r;
    r = list_files(&g, g.cl);
    mv_client_close(g.cl);
    return r;
}

int cmd_group_get(int argc, char **argv)
{
    gf_opts g;
    int r = gf_parse(argc, argv, get_usage, GF_OUT | GF_LIST | GF_VERSION, &g);
    if (r < 0 && g.list && (g.out || g.version))
        r = cli_usage(get_usage, 0);
    if (r < 0)
        r = gf_open(&g, argc, argv, get_usage, g.list ? 0 : 1, !g.list, "group get");
    if (r >= 0)
        return r;
    r = CLI_OK;
    if (g.list) {
        r = list_files(&g, g.cl);
        mv_client_close(g.cl);
        return r;
    }
    mv_buf b;
    char name[MV_GROUP_FILE_NAME_MAX + 1] = "";
    uint64_t v = 0;
    mv_buf_init(&b, MV_GROUP_FILE_MAX);
    mv_err rc = mv_client_group_get_version(g.cl, g.group, g.id, g.version, &b, &v, name, sizeof name);
    if (rc != MV_OK) {
        r = gf_fail(g.cl, "group get", rc);
    } else if (g.out) {
        if ((rc = mv_file_write_atomic(g.out, b.ptr, b.len, 0600)) != MV_OK) {
            cli_err("cannot write %s", g.out);
            r = CLI_FAIL;
        } else if (g.o.json) {
            mv_jw w;
            mv_buf jb;
            cli_json_begin(&w, &jb);
            mv_jw_khex(&w, "id", g.id, 16);
            mv_jw_ku64(&w, "version", v);
            mv_jw_kstr(&w, "name", name);
            mv_jw_ku64(&w, "bytes", b.len);
            mv_jw_kstr(&w, "out", g.out);
            r = cli_json_end(&w, &jb);
        }
    } else if (g.o.json) {
        cli_err("--json needs -o FILE (the content is not JSON)");
        r = CLI_USAGE;
    } else {
        r = cli_print_content(b.ptr, b.len);
    }
    if (b.ptr)
        mv_wipe(b.ptr, b.len);
    mv_buf_clear(&b);
    mv_client_close(g.cl);
    return r;
}

int cmd_group_modify(int argc, char **argv)
{
    gf_opts g;
    int r = gf_start(argc, argv, modify_usage, 0, 2, 1, "group modify", &g);
    if (r >= 0)
        return r;
    uint64_t v = 0;
    mv_err rc = mv_client_group_modify(g.cl, g.group, g.id, argv[g.first + 1], &v);
    r = rc != MV_OK ? gf_fail(g.cl, "group modify", rc) : print_version(&g, g.id, v, NULL);
    mv_client_close(g.cl);
    return r;
}

int cmd_group_rm(int argc, char **argv)
{
    gf_opts g;
    int r = gf_start(argc, argv, rm_usage, GF_MANAGER, 1, 1, "group rm", &g);
    if (r >= 0)
        return r;
    r = CLI_OK;
    mv_err rc = mv_client_group_rm(g.cl, g.group, g.id, g.manager);
    if (rc != MV_OK) {
        r = gf_fail(g.cl, "group rm", rc);
    } else if (g.o.json) {
        mv_jw w;
        mv_buf b;
        cli_json_begin(&w, &b);
        mv_jw_khex(&w, "id", g.id, 16);
        mv_jw_kbool(&w, "deleted", 1);
        mv_jw_kstr(&w, "by", g.manager ? "manager" : "owner");
        r = cli_json_end(&w, &b);
    } else {
        cli_out("deleted\n");
    }
    mv_client_close(g.cl);
    return r;
}

int cmd_group_history(int argc, char **argv)
{
    gf_opts g;
    int r = gf_start(argc, argv, history_usage, 0, 1, 1, "group history", &g);
    if (r >= 0)
        return r;
    r = CLI_OK;
    mv_buf b;
    mv_json *root = NULL;
    mv_buf_init(&b, (size_t)16 << 20);
    mv_err rc = mv_client_group_history(g.cl, g.group, g.id, &b);
    if (rc != MV_OK) {
        r = gf_fail(g.cl, "group history", rc);
    } else if (g.o.json) {
        r = print_json_answer(&b);
    } else if (mv_json_parse((const char *)b.ptr, b.len, NULL, &root, NULL) != MV_OK) {
        cli_err("the storage server sent a malformed history");
        r = CLI_FAIL;
    } else {
        const mv_json *vs = mv_json_get(root, "versions");
        for (size_t i = 0; i < mv_json_len(vs); i++) {
            const mv_json *e = mv_json_at(vs, i);
            size_t l = 0;
            uint64_t v = 0, ep = 0, t = 0;
            const char *op = mv_json_get_str(e, "op", &l);
            (void)mv_json_get_u64(e, "version", &v);
            (void)mv_json_get_u64(e, "epoch", &ep);
            (void)mv_json_get_u64(e, "time", &t);
            cli_out("version %llu\t%.*s\tepoch %llu\ttime %llu\n", (unsigned long long)v, (int)l, op ? op : "",
                    (unsigned long long)ep, (unsigned long long)t);
        }
    }
    mv_json_free(root);
    mv_buf_clear(&b);
    mv_client_close(g.cl);
    return r;
}
