/* cmd_storage.c - `medvault storage run|check|gc`. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "medvault/mv_file.h"
#include "medvault/mv_json.h"
#include "medvault/mv_storage.h"
#include "medvault/mv_store.h"

static const char run_usage[] =
    "usage: medvault storage run --dir DIR --listen 127.0.0.1:PORT --hospital-key HEX\n"
    "                            [--port-file FILE] [--threads N]\n"
    "                            [--hospital-url URL] [--revocation-poll SECONDS]\n"
    "                            [--role primary|decoy|proxy] [--primary-key HEX]\n"
    "                            [--proxy-index N]\n"
    "                            [--identity DIR] [--decoy-url URL] [--profile-floor N]\n"
    "                            [--profile-factor F] [--profile-denials N]\n\n"
    "Serves the storage API (docs/api.md, \"Storage server\") until SIGTERM/SIGINT: dedup\n"
    "checks with proof-of-ownership challenges, block uploads, record envelopes with ACLs,\n"
    "stats and garbage collection. State lives in DIR (created if missing): the store in\n"
    "DIR/store, the challenge key in DIR/pow.key (0600). Settings may also come from\n"
    "DIR/storage.conf (threads, skew_seconds, max_body, gc_interval_seconds,\n"
    "claim_ttl_seconds, hospital_url, revocation_poll_seconds); flags override it. Every\n"
    "request must be signed with a credential issued by the hospital key HEX.\n"
    "With --hospital-url (http://HOST:PORT of the hospital) the server fetches the hospital's\n"
    "signed revocation list at start and every SECONDS (default 10, 1..3600) and refuses\n"
    "revoked users (docs/revocation.md); without it, revoked users are refused only when\n"
    "their short-lived credential expires.\n"
    "The guard (docs/guard.md): with --decoy-url (the decoy cloud) and --identity (a directory\n"
    "with this server's key and a `storage` credential from `medvault credential issue`),\n"
    "requests that fail authentication (no, forged, revoked or expired credential) are\n"
    "answered from the decoy cloud, every record's shape is pushed to it, and a user reading\n"
    "more than max(N, F x their hourly baseline) records in an hour (default N 300, F 5), or\n"
    "refused by the ACL N times an hour (--profile-denials, default 10), must step up first.\n"
    "Alerts go to --hospital-url when --identity is given. Honeytokens: `medvault honeytoken`.\n"
    "--role decoy runs the decoy cloud instead (docs/decoy.md): it answers only requests the\n"
    "primary storage server signs with the identity whose key is --primary-key HEX (required),\n"
    "from decoys generated under DIR/decoy.seed.\n"
    "Re-encryption (docs/pre.md): with --identity the server is also proxy 1 of sharing through\n"
    "the clouds (the /v1/pre routes; delegations in DIR/pre, kfrags sealed to the identity's\n"
    "key). --role proxy runs the second cloud instead: only the /v1/pre routes, /healthz and\n"
    "/metrics, with --identity DIR (required: its service identity, whose box key the\n"
    "deployment file names) and --proxy-index N (required, 2..16: its index there).\n";

/* The guard's flags (any may be NULL = keep storage.conf's value). */
static int guard_args(mv_storage_config *cfg, const char *identity, const char *decoy_url, const char *floor_arg,
                      const char *factor, const char *denials)
{
    uint64_t v = 0;
    if (identity) {
        if (!identity[0] || strlen(identity) >= sizeof cfg->identity_dir) {
            cli_err("--identity: a directory path shorter than %d bytes", MV_STORAGE_PATH_MAX);
            return -1;
        }
        snprintf(cfg->identity_dir, sizeof cfg->identity_dir, "%s", identity);
    }
    if (decoy_url) {
        if (!mv_revocation_url_ok(decoy_url) || strlen(decoy_url) >= sizeof cfg->decoy_url) {
            cli_err("--decoy-url must be http(s)://host[:port]");
            return -1;
        }
        snprintf(cfg->decoy_url, sizeof cfg->decoy_url, "%s", decoy_url);
    }
    if (floor_arg) {
        if (cli_u64_arg(floor_arg, 1, 1000000000, &v, "--profile-floor"))
            return -1;
        cfg->profile_floor = v;
    }
    if (factor && mv_storage_parse_factor(factor, &cfg->profile_factor) != MV_OK) {
        cli_err("--profile-factor must be a number from 1 to 1000");
        return -1;
    }
    if (denials) {
        if (cli_u64_arg(denials, 1, 1000000, &v, "--profile-denials"))
            return -1;
        cfg->profile_denials = v;
    }
    return 0;
}

static int st_run(int argc, char **argv)
{
    const char *dir = NULL, *listen = NULL, *hk = NULL, *port_file = NULL, *threads = NULL, *hospital_url = NULL,
               *poll = NULL, *identity = NULL, *decoy_url = NULL, *floor_arg = NULL, *factor = NULL,
               *denials = NULL, *role = NULL, *primary = NULL, *proxy_index = NULL;
    const cli_opt opts[] = {
        {"dir", &dir, NULL, 1},
        {"listen", &listen, NULL, 1},
        {"hospital-key", &hk, NULL, 1},
        {"port-file", &port_file, NULL, 0},
        {"threads", &threads, NULL, 0},
        CLI_OPT_HELP,
        {"hospital-url", &hospital_url, NULL, 0},
        {"revocation-poll", &poll, NULL, 0},
        {"identity", &identity, NULL, 0},
        {"decoy-url", &decoy_url, NULL, 0},
        {"profile-floor", &floor_arg, NULL, 0},
        {"profile-factor", &factor, NULL, 0},
        {"profile-denials", &denials, NULL, 0},
        {"role", &role, NULL, 0},
        {"primary-key", &primary, NULL, 0},
        {"proxy-index", &proxy_index, NULL, 0},
        {NULL, NULL, NULL, 0},
    };
    int done = cli_parse(argc, argv, opts, run_usage);
    if (done >= 0)
        return done;
    mv_storage_config cfg;
    size_t line = 0;
    mv_err rc = mv_storage_config_defaults(&cfg, dir, &line);
    if (rc != MV_OK) {
        cli_err("%s/storage.conf: %s (line %zu)", dir, mv_strerror(rc), line);
        return CLI_FAIL;
    }
    cfg.listen = listen;
    cfg.port_file = port_file;
    if (cli_hex_arg(hk, cfg.hospital_pk, 32, "--hospital-key"))
        return CLI_USAGE;
    if (threads && cli_threads_arg(threads, &cfg.threads))
        return CLI_USAGE;
    if (cli_revocation_args(hospital_url, poll, cfg.hospital_url, sizeof cfg.hospital_url, &cfg.revocation_poll_s))
        return CLI_USAGE;
    if (role && strcmp(role, "decoy") == 0) {
        cfg.role = MV_STORAGE_DECOY;
        if (!primary) {
            cli_err("--role decoy needs --primary-key HEX (the primary storage server's key)");
            return CLI_USAGE;
        }
    } else if (role && strcmp(role, "proxy") == 0) {
        cfg.role = MV_STORAGE_PROXY;
        if (!proxy_index || !identity) {
            cli_err("--role proxy needs --proxy-index N (2..16) and --identity DIR (its service identity)");
            return CLI_USAGE;
        }
    } else if (role && strcmp(role, "primary") != 0) {
        cli_err("--role must be primary, decoy or proxy");
        return CLI_USAGE;
    }
    if (proxy_index) {
        uint64_t v = 0;
        if (cfg.role != MV_STORAGE_PROXY) {
            cli_err("--proxy-index only applies to --role proxy (the primary storage server is proxy 1)");
            return CLI_USAGE;
        }
        if (cli_u64_arg(proxy_index, 2, 16, &v, "--proxy-index"))
            return CLI_USAGE;
        cfg.proxy_index = (unsigned)v;
    }
    if (primary && cfg.role != MV_STORAGE_DECOY) {
        cli_err("--primary-key only applies to --role decoy");
        return CLI_USAGE;
    }
    if (primary && cli_hex_arg(primary, cfg.primary_pk, 32, "--primary-key"))
        return CLI_USAGE;
    if (guard_args(&cfg, identity, decoy_url, floor_arg, factor, denials))
        return CLI_USAGE;
    rc = mv_storage_run(&cfg);
    if (rc == MV_ERR_BUSY) {
        cli_err("store is in use by a running server (%s/store)", dir);
        return CLI_FAIL;
    }
    if (rc != MV_OK) {
        cli_err("storage server stopped: %s", mv_strerror(rc));
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* Opens DIR/store for an offline command, with the claim lifetime of DIR/storage.conf. */
static int open_offline(const char *dir, mv_store **out)
{
    char path[4096];
    mv_storage_config cfg;
    size_t line = 0;
    mv_err rc = mv_storage_config_defaults(&cfg, dir, &line);
    if (rc != MV_OK) {
        cli_err("%s/storage.conf: %s (line %zu)", dir, mv_strerror(rc), line);
        return CLI_FAIL;
    }
    if (mv_path_join(path, sizeof path, dir, "store") != MV_OK || !mv_file_exists(path)) {
        cli_err("%s holds no store", dir);
        return CLI_FAIL;
    }
    mv_store_options so = {.claim_ttl_s = cfg.claim_ttl_s};
    rc = mv_store_open(path, &so, out);
    if (rc == MV_ERR_BUSY) {
        cli_err("store is in use by a running server; stop it first (%s)", path);
        return CLI_FAIL;
    }
    if (rc != MV_OK) {
        cli_err("cannot open the store %s: %s", path, mv_strerror(rc));
        return CLI_FAIL;
    }
    return CLI_OK;
}

static const char check_usage[] =
    "usage: medvault storage check --dir DIR [--json]\n\n"
    "Offline full check of DIR/store (the server must be stopped): reads every pack entry and\n"
    "verifies it hashes to its tag, that the index and the packs agree, and that every block's\n"
    "reference count equals the records naming it. Prints the report and one line per\n"
    "problem. Exit status 0 only if the store is clean, 1 otherwise.\n";

/* The options of check and gc (--dir DIR [--json]), and the store they work on. Returns -1
 * with *s open, else the exit code. */
static int offline_args(int argc, char **argv, const char *usage, mv_store **s, int *json)
{
    const char *dir = NULL;
    const cli_opt opts[] = {
        {"dir", &dir, NULL, 1},
        {"json", NULL, json, 0},
        CLI_OPT_HELP,
        {NULL, NULL, NULL, 0},
    };
    int done = cli_parse(argc, argv, opts, usage);
    if (done >= 0)
        return done;
    return open_offline(dir, s) == CLI_OK ? -1 : CLI_FAIL;
}

struct problems {
    mv_buf text; /* one JSON string per problem, comma-separated */
    size_t n;
    int json;
};

#define MAX_PROBLEMS_SHOWN 10000

static void on_problem(void *ctx, const char *what)
{
    struct problems *p = ctx;
    p->n++;
    if (p->n > MAX_PROBLEMS_SHOWN)
        return;
    if (!p->json) {
        printf("problem: %s\n", what);
        return;
    }
    if ((p->text.len && mv_buf_puts(&p->text, ",") != MV_OK) ||
        mv_json_write_str(&p->text, what, strlen(what)) != MV_OK)
        cli_err("problem list truncated");
}

static int st_check(int argc, char **argv)
{
    mv_store *s = NULL;
    int json = 0;
    int done = offline_args(argc, argv, check_usage, &s, &json);
    if (done >= 0)
        return done;
    struct problems p = {.json = json};
    mv_buf_init(&p.text, (size_t)64 << 20);
    mv_store_check_report rep;
    memset(&rep, 0, sizeof rep);
    mv_err rc = mv_store_check(s, &rep, on_problem, &p);
    mv_store_close(s);
    if (rc != MV_OK) {
        cli_err("the check could not finish: %s", mv_strerror(rc));
        mv_buf_clear(&p.text);
        return CLI_FAIL;
    }
    int clean = rep.bad_entries + rep.missing + rep.orphans + rep.refcount_errors == 0 && p.n == 0;
    if (json) {
        printf("{\"clean\":%s,\"packs\":%llu,\"entries\":%llu,\"bytes\":%llu,\"bad_entries\":%llu,\"missing\":%llu,"
               "\"orphans\":%llu,\"refcount_errors\":%llu,\"problems\":[%s]}\n",
               clean ? "true" : "false", (unsigned long long)rep.packs, (unsigned long long)rep.entries,
               (unsigned long long)rep.bytes, (unsigned long long)rep.bad_entries, (unsigned long long)rep.missing,
               (unsigned long long)rep.orphans, (unsigned long long)rep.refcount_errors,
               p.text.len ? (const char *)p.text.ptr : "");
    } else {
        if (p.n > MAX_PROBLEMS_SHOWN)
            printf("... %zu more problems not shown\n", p.n - MAX_PROBLEMS_SHOWN);
        printf("%llu packs, %llu entries, %llu bytes read\n", (unsigned long long)rep.packs,
               (unsigned long long)rep.entries, (unsigned long long)rep.bytes);
        printf("bad entries %llu, missing %llu, orphans %llu, reference count errors %llu\n",
               (unsigned long long)rep.bad_entries, (unsigned long long)rep.missing, (unsigned long long)rep.orphans,
               (unsigned long long)rep.refcount_errors);
        printf("%s\n", clean ? "store is clean" : "store has problems");
    }
    mv_buf_clear(&p.text);
    return clean ? CLI_OK : CLI_FAIL;
}

static const char gc_usage[] =
    "usage: medvault storage gc --dir DIR [--json]\n\n"
    "Offline garbage collection of DIR/store (the server must be stopped; a running server\n"
    "collects by itself every gc_interval_seconds, or on POST /v1/gc): drops expired claims,\n"
    "frees blocks no record references and nobody holds a live claim on, and compacts the\n"
    "pack files.\n";

static int st_gc(int argc, char **argv)
{
    mv_store *s = NULL;
    int json = 0;
    int done = offline_args(argc, argv, gc_usage, &s, &json);
    if (done >= 0)
        return done;
    mv_store_gc_report rep;
    memset(&rep, 0, sizeof rep);
    mv_err rc = mv_store_gc(s, (uint64_t)time(NULL), &rep);
    mv_store_close(s);
    if (rc != MV_OK) {
        cli_err("garbage collection failed after freeing %llu blocks: %s", (unsigned long long)rep.blocks_freed,
                mv_strerror(rc));
        return CLI_FAIL;
    }
    if (json) {
        mv_buf b;
        mv_jw w;
        cli_json_begin(&w, &b);
        mv_jw_ku64(&w, "blocks_freed", rep.blocks_freed);
        mv_jw_ku64(&w, "bytes_freed", rep.bytes_freed);
        mv_jw_ku64(&w, "packs_rewritten", rep.packs_rewritten);
        mv_jw_ku64(&w, "packs_deleted", rep.packs_deleted);
        mv_jw_ku64(&w, "claims_expired", rep.claims_expired);
        return cli_json_end(&w, &b);
    }
    printf("%llu blocks (%llu bytes) freed, %llu packs rewritten, %llu packs deleted, %llu claims expired\n",
           (unsigned long long)rep.blocks_freed, (unsigned long long)rep.bytes_freed,
           (unsigned long long)rep.packs_rewritten, (unsigned long long)rep.packs_deleted,
           (unsigned long long)rep.claims_expired);
    return CLI_OK;
}

int cmd_storage(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"run", st_run, "serve the storage API (blocks, dedup, records)"},
        {"check", st_check, "offline full consistency check of a store"},
        {"gc", st_gc, "offline garbage collection of a store"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault storage", table, argc, argv);
}
