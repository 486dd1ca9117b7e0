/* cmd_keyserver.c - `medvault keyserver init|import-share|peers|run|refresh`. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_deployment.h"
#include "medvault/mv_file.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_keyserver.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_shamir.h"

int cmd_keyserver_init(int argc, char **argv);
int cli_fetch_info(const char *url, mv_json **out, long *status);

static const char import_usage[] =
    "usage: medvault keyserver import-share --dir DIR --index I --threshold T --share HEX\n"
    "                                       --public-shares HEX,HEX,... [--epoch E] [--force] [--json]\n\n"
    "Restores a key share from a backup (or loads a known key for interop tests). Checks that\n"
    "share*G is this index's public share and that all public shares lie on one polynomial of\n"
    "degree T-1 before writing DIR/share.json (0600). Refuses to replace an existing share\n"
    "unless --force is given.\n";

static int ks_import(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},           {"index", required_argument, NULL, 'i'},
        {"threshold", required_argument, NULL, 't'},     {"share", required_argument, NULL, 's'},
        {"public-shares", required_argument, NULL, 'p'}, {"epoch", required_argument, NULL, 'e'},
        {"force", no_argument, NULL, 'f'},               {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},                {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *share_hex = NULL, *pubs = NULL;
    uint64_t index = 0, t = 0, epoch = 0;
    int force = 0, json = 0, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'i': if (cli_u64_arg(optarg, 1, MV_KS_MAX_SERVERS, &index, "--index")) return CLI_USAGE; break;
        case 't': if (cli_u64_arg(optarg, 1, MV_KS_MAX_SERVERS, &t, "--threshold")) return CLI_USAGE; break;
        case 's': share_hex = optarg; break;
        case 'p': pubs = optarg; break;
        case 'e': if (cli_u64_arg(optarg, 0, UINT64_MAX - 1, &epoch, "--epoch")) return CLI_USAGE; break;
        case 'f': force = 1; break;
        case 'j': json = 1; break;
        case 'h': return cli_usage(import_usage, 1);
        default: return cli_usage(import_usage, 0);
        }
    }
    if (!dir || !index || !t || !share_hex || !pubs || optind != argc)
        return cli_usage(import_usage, 0);
    uint8_t share[32], public_shares[MV_KS_MAX_SERVERS * 32];
    size_t n = 0;
    if (cli_hex_arg(share_hex, share, 32, "--share"))
        return CLI_USAGE;
    const char *p = pubs;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (n == MV_KS_MAX_SERVERS || mv_hex_decode_exact(public_shares + n * 32, 32, p, len) != MV_OK) {
            cli_err("--public-shares must be 1 to %d comma-separated 32-byte hex values", MV_KS_MAX_SERVERS);
            mv_wipe(share, sizeof share);
            return CLI_USAGE;
        }
        n++;
        p += len + (comma ? 1 : 0);
    }
    if (index > n || t > n) {
        cli_err("--index and --threshold must not exceed the number of public shares (%zu)", n);
        mv_wipe(share, sizeof share);
        return CLI_USAGE;
    }
    mv_err rc = mv_keyserver_import_share(dir, (uint32_t)index, (uint32_t)t, share, public_shares, n, epoch, force);
    mv_wipe(share, sizeof share);
    if (rc == MV_ERR_VERIFY) {
        cli_err("the share does not match its public share, or the public shares are inconsistent; nothing written");
        return CLI_FAIL;
    }
    if (rc == MV_ERR_EXISTS) {
        cli_err("%s already has a share; use --force to replace it", dir);
        return CLI_FAIL;
    }
    if (rc != MV_OK) {
        cli_err("cannot import the share: %s", mv_strerror(rc));
        return CLI_FAIL;
    }
    if (json) {
        mv_buf o;
        mv_jw w;
        cli_json_begin(&w, &o);
        mv_jw_ku64(&w, "index", index);
        mv_jw_ku64(&w, "servers", n);
        mv_jw_ku64(&w, "threshold", t);
        mv_jw_ku64(&w, "epoch", epoch);
        return cli_json_end(&w, &o);
    }
    printf("share %llu of %zu (threshold %llu) imported into %s\n", (unsigned long long)index, n,
           (unsigned long long)t, dir);
    return CLI_OK;
}

static const char peers_usage[] =
    "usage: medvault keyserver peers --threshold T --peer URL,SERVER_KEY_HEX [--peer ...] --out FILE\n\n"
    "Writes the peers file for a distributed key generation: the n key servers in index order\n"
    "(the first --peer is index 1), each with its URL and signing key (from `keyserver init`).\n"
    "Copy it to every key server's directory as peers.json before `keyserver run`.\n";

static int ks_peers(int argc, char **argv)
{
    static const struct option opts[] = {
        {"threshold", required_argument, NULL, 't'}, {"peer", required_argument, NULL, 'p'},
        {"out", required_argument, NULL, 'o'},       {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *peers[MV_KS_MAX_SERVERS], *out = NULL;
    size_t np = 0;
    uint64_t t = 0;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't': if (cli_u64_arg(optarg, 1, MV_KS_MAX_SERVERS, &t, "--threshold")) return CLI_USAGE; break;
        case 'p':
            if (np == MV_KS_MAX_SERVERS) {
                cli_err("at most %d key servers", MV_KS_MAX_SERVERS);
                return CLI_USAGE;
            }
            peers[np++] = optarg;
            break;
        case 'o': out = optarg; break;
        case 'h': return cli_usage(peers_usage, 1);
        default: return cli_usage(peers_usage, 0);
        }
    }
    if (!t || !np || !out || optind != argc)
        return cli_usage(peers_usage, 0);
    if (t > np) {
        cli_err("the threshold (%llu) exceeds the number of key servers (%zu)", (unsigned long long)t, np);
        return CLI_USAGE;
    }
    mv_buf b;
    mv_buf_init(&b, 1u << 16);
    mv_err rc = mv_buf_printf(&b, "{\"threshold\":%llu,\"keyservers\":[", (unsigned long long)t);
    for (size_t i = 0; rc == MV_OK && i < np; i++) {
        const char *comma = strrchr(peers[i], ',');
        uint8_t key[32];
        if (!comma || cli_hex_arg(comma + 1, key, 32, "the server key in --peer")) {
            cli_err("--peer must be URL,SERVER_KEY_HEX");
            mv_buf_clear(&b);
            return CLI_USAGE;
        }
        size_t ul = (size_t)(comma - peers[i]);
        if (ul == 0 || (strncmp(peers[i], "http://", 7) && strncmp(peers[i], "https://", 8))) {
            cli_err("--peer URL must start with http:// or https://");
            mv_buf_clear(&b);
            return CLI_USAGE;
        }
        rc = mv_buf_printf(&b, "%s\n {\"index\":%zu,\"url\":", i ? "," : "", i + 1);
        if (rc == MV_OK)
            rc = mv_json_write_str(&b, peers[i], ul);
        if (rc == MV_OK)
            rc = mv_buf_puts(&b, ",\"server_key\":");
        if (rc == MV_OK)
            rc = mv_json_write_hex(&b, key, 32);
        if (rc == MV_OK)
            rc = mv_buf_puts(&b, "}");
    }
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, "\n]}\n");
    if (rc == MV_OK)
        rc = mv_file_write_atomic(out, b.ptr, b.len, 0644);
    mv_buf_clear(&b);
    if (rc != MV_OK) {
        cli_err("cannot write %s: %s", out, mv_strerror(rc));
        return CLI_FAIL;
    }
    return CLI_OK;
}

static const char run_usage[] =
    "usage: medvault keyserver run --dir DIR --listen 127.0.0.1:PORT --hospital-key HEX\n"
    "                              [--rate-per-sec R] [--rate-burst B] [--threads N]\n"
    "                              [--dkg-timeout S] [--port-file FILE]\n"
    "                              [--hospital-url URL] [--revocation-poll SECONDS]\n\n"
    "Serves the threshold VOPRF (API in docs/api.md) until SIGTERM/SIGINT. With no share in DIR\n"
    "it first runs the distributed key generation with the servers in DIR/peers.json.\n"
    "Settings may also come from DIR/keyserver.conf (rate_per_sec, rate_burst, threads,\n"
    "skew_seconds, dkg_timeout_seconds, hospital_url, revocation_poll_seconds); flags override\n"
    "it. Rate limits count blinded elements per client: a bucket of B elements refilled at R\n"
    "per second (defaults 10000, 100).\n"
    "With --hospital-url (http://HOST:PORT of the hospital) the server fetches the hospital's\n"
    "signed revocation list at start and every SECONDS (default 10, 1..3600) and refuses\n"
    "revoked users (docs/revocation.md); without it, revoked users are refused only when\n"
    "their short-lived credential expires.\n";

static int ks_run(int argc, char **argv)
{
    const char *dir = NULL, *listen = NULL, *hk = NULL, *rate = NULL, *burst = NULL, *threads = NULL,
               *dkg_to = NULL, *port_file = NULL, *hospital_url = NULL, *poll = NULL;
    const cli_opt opts[] = {
        {"dir", &dir, NULL, 1},
        {"listen", &listen, NULL, 1},
        {"hospital-key", &hk, NULL, 1},
        {"rate-per-sec", &rate, NULL, 0},
        {"rate-burst", &burst, NULL, 0},
        {"threads", &threads, NULL, 0},
        {"dkg-timeout", &dkg_to, NULL, 0},
        {"port-file", &port_file, NULL, 0},
        {"hospital-url", &hospital_url, NULL, 0},
        {"revocation-poll", &poll, NULL, 0},
        CLI_OPT_HELP,
        {NULL, NULL, NULL, 0},
    };
    int done = cli_parse(argc, argv, opts, run_usage);
    if (done >= 0)
        return done;
    mv_keyserver_config cfg;
    size_t line = 0;
    mv_err rc = mv_keyserver_config_defaults(&cfg, dir, &line);
    if (rc != MV_OK) {
        cli_err("%s/keyserver.conf: %s (line %zu)", dir, mv_strerror(rc), line);
        return CLI_FAIL;
    }
    cfg.listen = listen;
    cfg.port_file = port_file;
    if (cli_hex_arg(hk, cfg.hospital_pk, 32, "--hospital-key"))
        return CLI_USAGE;
    uint64_t v = 0;
    if (rate) {
        char *end = NULL;
        double r = strtod(rate, &end);
        if (!end || *end || !(r > 0) || r > 1e9) {
            cli_err("--rate-per-sec must be a positive number");
            return CLI_USAGE;
        }
        cfg.rate_per_sec = r;
    }
    if (burst) {
        if (cli_u64_arg(burst, 1, 1000000000, &v, "--rate-burst"))
            return CLI_USAGE;
        cfg.rate_burst = (double)v;
    }
    if (threads && cli_threads_arg(threads, &cfg.threads))
        return CLI_USAGE;
    if (dkg_to) {
        if (cli_u64_arg(dkg_to, 1, 86400, &v, "--dkg-timeout"))
            return CLI_USAGE;
        cfg.dkg_timeout_s = (double)v;
    }
    if (cli_revocation_args(hospital_url, poll, cfg.hospital_url, sizeof cfg.hospital_url, &cfg.revocation_poll_s))
        return CLI_USAGE;
    rc = mv_keyserver_run(&cfg);
    if (rc != MV_OK) {
        cli_err("key server stopped: %s", mv_strerror(rc));
        return CLI_FAIL;
    }
    return CLI_OK;
}

static const char refresh_usage[] =
    "usage: medvault keyserver refresh --deployment FILE --user ADMIN_DIR [--timeout S] [--json]\n\n"
    "Starts a proactive refresh on every key server of the deployment (an admin credential is\n"
    "required), waits until all of them report the new epoch, checks that the group key is\n"
    "unchanged and rewrites FILE with the new public shares. Old shares stop verifying.\n";

static int ks_refresh(int argc, char **argv)
{
    static const struct option opts[] = {
        {"deployment", required_argument, NULL, 'd'}, {"user", required_argument, NULL, 'u'},
        {"timeout", required_argument, NULL, 't'},    {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    const char *dep_path = NULL, *udir = NULL;
    uint64_t timeout = 120;
    int json = 0, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dep_path = optarg; break;
        case 'u': udir = optarg; break;
        case 't': if (cli_u64_arg(optarg, 1, 86400, &timeout, "--timeout")) return CLI_USAGE; break;
        case 'j': json = 1; break;
        case 'h': return cli_usage(refresh_usage, 1);
        default: return cli_usage(refresh_usage, 0);
        }
    }
    if (!dep_path || !udir || optind != argc)
        return cli_usage(refresh_usage, 0);
    mv_deployment d;
    mv_identity *id = NULL;
    if (cli_load_deployment(dep_path, udir, &d) != CLI_OK)
        return CLI_FAIL;
    mv_err rc;
    if ((rc = mv_identity_load(udir, &id)) != MV_OK || !mv_identity_credential(id)) {
        cli_err("cannot load the admin identity and credential from %s: %s", udir,
                rc == MV_OK ? "no credential" : mv_strerror(rc));
        mv_identity_free(id);
        return CLI_FAIL;
    }
    if ((rc = mv_httpc_global_init()) != MV_OK) {
        mv_identity_free(id);
        return CLI_FAIL;
    }
    uint64_t epoch = d.epoch + 1;
    char body[64], urls[MV_DEPLOY_MAX_SERVERS][MV_DEPLOY_URL_MAX + 32];
    snprintf(body, sizeof body, "{\"epoch\":%llu}", (unsigned long long)epoch);
    mv_httpc_call calls[MV_DEPLOY_MAX_SERVERS];
    int ret = CLI_FAIL;
    for (size_t i = 0; i < d.n_servers; i++) {
        mv_httpc_call_init(&calls[i]);
        snprintf(urls[i], sizeof urls[i], "%s/v1/admin/refresh", d.servers[i].url);
        calls[i].method = "POST";
        calls[i].url = urls[i];
        calls[i].body = (const uint8_t *)body;
        calls[i].body_len = strlen(body);
        calls[i].timeout_ms = 10000;
        if ((rc = mv_httpc_sign(&calls[i], mv_identity_sign_pk(id), mv_identity_sign_sk(id),
                                mv_identity_credential(id), (uint64_t)time(NULL))) != MV_OK) {
            for (size_t j = 0; j <= i; j++)
                mv_httpc_call_clear(&calls[j]);
            goto out;
        }
    }
    rc = mv_httpc_run(calls, d.n_servers);
    for (size_t i = 0; i < d.n_servers; i++) {
        if (rc == MV_OK && (calls[i].rc != MV_OK || (calls[i].status != 202 && calls[i].status != 200))) {
            cli_err("key server %u refused the refresh (%s, HTTP %ld)", (unsigned)d.servers[i].index,
                    mv_strerror(calls[i].rc), calls[i].status);
            rc = MV_ERR_HTTP;
        }
        mv_httpc_call_clear(&calls[i]);
    }
    if (rc != MV_OK)
        goto out;
    /* Wait for every server to reach the new epoch, then pin its new public shares. */
    time_t deadline = time(NULL) + (time_t)timeout;
    mv_deployment nd = d;
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < d.n_servers; i++) {
            mv_json *info = NULL;
            long status = 0;
            uint64_t e = 0;
            if (cli_fetch_info(d.servers[i].url, &info, &status) == 0 &&
                mv_json_get_u64(info, "epoch", &e) == MV_OK && e == epoch) {
                uint8_t g[32];
                if (mv_json_get_hex(info, "group_public_key", g, 32) != MV_OK || !mv_ct_eq(g, d.group_pk, 32)) {
                    cli_err("key server %u reports a different group key after refresh", (unsigned)d.servers[i].index);
                    mv_json_free(info);
                    goto out;
                }
                if (mv_json_get_hex(info, "public_share", nd.servers[i].public_share, 32) == MV_OK)
                    done++;
            }
            mv_json_free(info);
        }
        cli_progress("key servers refreshed", done, d.n_servers);
        if (done == d.n_servers)
            break;
        if (time(NULL) > deadline) {
            cli_err("timed out: only %zu of %zu key servers reached epoch %llu", done, d.n_servers,
                    (unsigned long long)epoch);
            goto out;
        }
        usleep(200000);
    }
    nd.epoch = epoch;
    uint8_t shares[MV_DEPLOY_MAX_SERVERS * 32];
    for (size_t i = 0; i < nd.n_servers; i++)
        memcpy(shares + i * 32, nd.servers[i].public_share, 32);
    if ((rc = mv_public_shares_check(shares, nd.n_servers, nd.threshold, nd.group_pk)) != MV_OK) {
        cli_err("the refreshed public shares are inconsistent; deployment file left unchanged");
        goto out;
    }
    if ((rc = mv_deployment_save(&nd, dep_path)) != MV_OK) {
        cli_err("cannot write %s: %s", dep_path, mv_strerror(rc));
        goto out;
    }
    if (json) {
        mv_buf o;
        mv_jw w;
        cli_json_begin(&w, &o);
        mv_jw_ku64(&w, "epoch", epoch);
        mv_jw_ku64(&w, "servers", nd.n_servers);
        mv_jw_kbool(&w, "group_key_unchanged", 1);
        ret = cli_json_end(&w, &o);
    } else {
        printf("refresh to epoch %llu done on %zu key servers; group key unchanged; %s updated\n",
               (unsigned long long)epoch, nd.n_servers, dep_path);
        ret = CLI_OK;
    }
out:
    mv_identity_free(id);
    return ret;
}

int cmd_keyserver(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"init", cmd_keyserver_init, "create a key server's directory and signing key"},
        {"import-share", ks_import, "restore a key share from a backup"},
        {"peers", ks_peers, "write the peers file for a DKG"},
        {"run", ks_run, "serve the threshold VOPRF (runs the DKG first if needed)"},
        {"refresh", ks_refresh, "proactive refresh of every share (admin)"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault keyserver", table, argc, argv);
}
