/* cmd_audit.c - `medvault audit verify|fetch`: checks a daemon's hash-chained audit log
 * offline, and lets an admin copy a running daemon's log (GET /v1/audit, a signed request). */
#include "cli.h"

#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "medvault/mv_audit.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_file.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"

static const char verify_usage[] =
    "usage: medvault audit verify DIR [--key HEX] [--json]\n\n"
    "Verifies an audit log: DIR/audit/audit.log (a daemon's state directory), DIR/audit.log (a\n"
    "directory written by `audit fetch`) or DIR itself if it is a file. Checks every line's hash\n"
    "chain, seq order and every checkpoint's signature. With --key the log must be signed by\n"
    "that Ed25519 public key (else the genesis line's key is printed: compare it out of band).\n"
    "Lines after the last checkpoint are not signed yet: a warning, not a failure.\n"
    "Exit 0 if valid, 1 if the log fails verification (the first bad seq is printed).\n";

static const char fetch_usage[] =
    "usage: medvault audit fetch --url URL --user ADMIN_DIR --out DIR\n\n"
    "Copies the audit log of the daemon at URL (hospital, key server or storage server) into\n"
    "DIR/audit.log with signed GET /v1/audit requests as the admin in ADMIN_DIR (role admin).\n"
    "Check it afterwards with `medvault audit verify DIR --key HEX`.\n";

/* The log file for a verify argument. */
static int log_path(const char *dir, char *out, size_t cap)
{
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISREG(st.st_mode)) {
        int n = snprintf(out, cap, "%s", dir);
        return n > 0 && (size_t)n < cap ? 0 : -1;
    }
    if (mv_path_join(out, cap, dir, "audit/audit.log") != MV_OK)
        return -1;
    if (mv_file_exists(out))
        return 0;
    if (mv_path_join(out, cap, dir, "audit.log") != MV_OK)
        return -1;
    return mv_file_exists(out) ? 0 : -1;
}

static int print_json(const char *path, const mv_audit_report *r, mv_err rc)
{
    mv_buf b;
    mv_jw w;
    mv_buf_init(&b, 4096);
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_kbool(&w, "ok", rc == MV_OK);
    mv_jw_kstr(&w, "path", path);
    mv_jw_kstr(&w, "component", r->component);
    mv_jw_khex(&w, "key", r->key, 32);
    mv_jw_ku64(&w, "lines", r->lines);
    mv_jw_ku64(&w, "entries", r->entries);
    mv_jw_ku64(&w, "checkpoints", r->checkpoints);
    mv_jw_ku64(&w, "last_checkpoint", r->last_checkpoint);
    mv_jw_ku64(&w, "unsigned_tail", r->unsigned_tail);
    mv_jw_khex(&w, "checkpoint_head", r->checkpoint_head, 32);
    mv_jw_kstr(&w, "problem", mv_audit_problem_name(r->problem));
    if (rc != MV_OK) {
        mv_jw_ku64(&w, "bad_seq", r->bad_seq);
        mv_jw_kstr(&w, "reason", r->reason);
    }
    mv_jw_obj_end(&w);
    mv_err e = mv_jw_finish(&w);
    if (e == MV_OK)
        e = mv_buf_puts(&b, "\n");
    int ret = e == MV_OK ? cli_print_buf(&b) : CLI_FAIL;
    mv_buf_clear(&b);
    return ret;
}

static int audit_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint8_t key[32];
    int have_key = 0, json = 0, c;
    char path[4096], hex[65];
    mv_audit_report rep;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            if (cli_hex_arg(optarg, key, 32, "--key"))
                return CLI_USAGE;
            have_key = 1;
            break;
        case 'j': json = 1; break;
        case 'h': return cli_usage(verify_usage, 1);
        default: return cli_usage(verify_usage, 0);
        }
    }
    if (argc - optind != 1)
        return cli_usage(verify_usage, 0);
    if (log_path(argv[optind], path, sizeof path) != 0) {
        cli_err("%s: no audit log there (looked for audit/audit.log and audit.log)", argv[optind]);
        return CLI_FAIL;
    }
    mv_err rc = mv_audit_verify_file(path, have_key ? key : NULL, &rep);
    if (rc != MV_OK && rc != MV_ERR_VERIFY) {
        cli_err("%s: cannot read: %s", path, mv_strerror(rc));
        return CLI_FAIL;
    }
    if (json) {
        int r = print_json(path, &rep, rc);
        return r != CLI_OK ? r : rc == MV_OK ? CLI_OK : CLI_FAIL;
    }
    if (rc != MV_OK) {
        printf("FAILED: %s at seq %llu: %s (%llu lines before it verified)\n", mv_audit_problem_name(rep.problem),
               (unsigned long long)rep.bad_seq, rep.reason, (unsigned long long)rep.lines);
        return CLI_FAIL;
    }
    if (mv_hex_encode(hex, sizeof hex, rep.key, 32) != MV_OK)
        return CLI_FAIL;
    printf("ok: %s: %llu lines (%llu entries, %llu checkpoints), component %s\n", path,
           (unsigned long long)rep.lines, (unsigned long long)rep.entries, (unsigned long long)rep.checkpoints,
           rep.component);
    printf("signed by %s%s\n", hex, have_key ? " (the expected key)" : " (not checked: pass --key to compare)");
    if (rep.checkpoints && mv_hex_encode(hex, sizeof hex, rep.checkpoint_head, 32) == MV_OK)
        printf("last checkpoint: seq %llu, line hash %s (keep it elsewhere to detect a later truncation)\n",
               (unsigned long long)rep.last_checkpoint, hex);
    if (rep.unsigned_tail)
        printf("warning: the last %llu lines come after the last checkpoint and are not signed yet\n",
               (unsigned long long)rep.unsigned_tail);
    return CLI_OK;
}

/* Lines (newlines) in b. */
static uint64_t count_lines(const mv_buf *b)
{
    uint64_t n = 0;
    for (size_t i = 0; i < b->len; i++)
        n += b->ptr[i] == '\n';
    return n;
}

static int audit_fetch(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"user", required_argument, NULL, 'U'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *url = NULL, *user = NULL, *outdir = NULL;
    mv_identity *id = NULL;
    mv_buf all;
    mv_httpc_call call;
    char req_url[MV_HTTPC_MAX_URL], path[4096];
    uint64_t from = 0;
    const uint64_t page = 1000;
    int c, ret = CLI_FAIL;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'u': url = optarg; break;
        case 'U': user = optarg; break;
        case 'o': outdir = optarg; break;
        case 'h': return cli_usage(fetch_usage, 1);
        default: return cli_usage(fetch_usage, 0);
        }
    }
    if (!url || !user || !outdir || optind != argc)
        return cli_usage(fetch_usage, 0);
    size_t ul = strlen(url);
    while (ul > 0 && url[ul - 1] == '/')
        ul--;
    if (ul == 0 || ul > 1024 || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
        cli_err("--url must be http(s)://host:port");
        return CLI_USAGE;
    }
    if (mv_identity_load(user, &id) != MV_OK || !mv_identity_credential(id)) {
        cli_err("%s: cannot load the admin's keys and credential", user);
        mv_identity_free(id);
        return CLI_FAIL;
    }
    mv_buf_init(&all, (size_t)1 << 30);
    mv_httpc_call_init(&call);
    for (;;) {
        snprintf(req_url, sizeof req_url, "%.*s/v1/audit?from=%llu&limit=%llu", (int)ul, url,
                 (unsigned long long)from, (unsigned long long)page);
        mv_httpc_call_clear(&call);
        mv_httpc_call_init(&call);
        call.method = "GET";
        call.url = req_url;
        if (mv_httpc_sign(&call, mv_identity_sign_pk(id), mv_identity_sign_sk(id), mv_identity_credential(id),
                          (uint64_t)time(NULL)) != MV_OK || mv_httpc_run(&call, 1) != MV_OK) {
            cli_err("cannot build the request");
            goto out;
        }
        if (call.rc != MV_OK) {
            cli_err("%.*s: %s", (int)ul, url, mv_strerror(call.rc));
            goto out;
        }
        if (call.status != 200) {
            mv_json *root = NULL;
            const char *msg = NULL;
            if (mv_json_parse((const char *)call.response.ptr, call.response.len, NULL, &root, NULL) == MV_OK)
                msg = mv_json_get_str(root, "error", NULL);
            cli_err("%.*s answered %ld: %s", (int)ul, url, call.status, msg ? msg : "(no message)");
            mv_json_free(root);
            goto out;
        }
        uint64_t n = count_lines(&call.response);
        if (call.response.len && mv_buf_append(&all, call.response.ptr, call.response.len) != MV_OK) {
            cli_err("the log is too large to fetch at once");
            goto out;
        }
        from += n;
        if (n < page)
            break;
    }
    if (mv_file_mkdir(outdir, 0700) != MV_OK || mv_path_join(path, sizeof path, outdir, "audit.log") != MV_OK ||
        mv_file_write_atomic(path, all.ptr ? all.ptr : (const uint8_t *)"", all.len, 0600) != MV_OK) {
        cli_err("%s: cannot write the log", outdir);
        goto out;
    }
    printf("fetched %llu lines into %s; check them with: medvault audit verify %s --key HEX\n",
           (unsigned long long)from, path, outdir);
    ret = CLI_OK;
out:
    mv_httpc_call_clear(&call);
    mv_buf_clear(&all);
    mv_identity_free(id);
    return ret;
}

int cmd_audit(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"verify", audit_verify, "verify an audit log (hash chain, seq order, checkpoint signatures)"},
        {"fetch", audit_fetch, "copy a running daemon's audit log (admins)"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault audit", table, argc, argv);
}
