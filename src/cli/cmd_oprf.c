/* cmd_oprf.c - `medvault deployment create|show` and `medvault oprf`. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_deployment.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_toprf.h"

int cli_fetch_info(const char *url, mv_json **out, long *status);

/* GET URL/v1/info; 0 and a parsed body on HTTP 200, -1 otherwise. */
int cli_fetch_info(const char *url, mv_json **out, long *status)
{
    char full[MV_DEPLOY_URL_MAX + 32];
    mv_httpc_call c;
    int r = -1;
    *out = NULL;
    *status = 0;
    if (mv_httpc_global_init() != MV_OK)
        return -1;
    snprintf(full, sizeof full, "%s/v1/info", url);
    mv_httpc_call_init(&c);
    c.method = "GET";
    c.url = full;
    c.timeout_ms = 5000;
    if (mv_httpc_run(&c, 1) == MV_OK && c.rc == MV_OK) {
        *status = c.status;
        if (c.status == 200 && mv_json_parse((const char *)c.response.ptr, c.response.len, NULL, out, NULL) == MV_OK)
            r = 0;
    }
    mv_httpc_call_clear(&c);
    return r;
}

static const char create_usage[] =
    "usage: medvault deployment create (--hospital-key HEX | --hospital-dir DIR)\n"
    "                                  --keyserver URL [--keyserver URL]... --out FILE [--wait S] [--json]\n\n"
    "Asks every key server for its /v1/info (waiting up to S seconds, default 60, for a DKG to\n"
    "finish), checks that they agree on the threshold, epoch, group key and public shares, and\n"
    "writes the deployment file clients use (docs/deployment.md).\n";

static int deployment_create(int argc, char **argv)
{
    static const struct option opts[] = {
        {"hospital-key", required_argument, NULL, 'k'}, {"hospital-dir", required_argument, NULL, 'H'},
        {"keyserver", required_argument, NULL, 's'},    {"out", required_argument, NULL, 'o'},
        {"wait", required_argument, NULL, 'w'},         {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},               {NULL, 0, NULL, 0},
    };
    const char *hk = NULL, *hdir = NULL, *out = NULL, *urls[MV_DEPLOY_MAX_SERVERS];
    size_t nu = 0;
    uint64_t wait_s = 60;
    int c, json = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k': hk = optarg; break;
        case 'H': hdir = optarg; break;
        case 's':
            if (nu == MV_DEPLOY_MAX_SERVERS) {
                cli_err("at most %d key servers", MV_DEPLOY_MAX_SERVERS);
                return CLI_USAGE;
            }
            urls[nu++] = optarg;
            break;
        case 'o': out = optarg; break;
        case 'w': if (cli_u64_arg(optarg, 0, 3600, &wait_s, "--wait")) return CLI_USAGE; break;
        case 'j': json = 1; break;
        case 'h': return cli_usage(create_usage, 1);
        default: return cli_usage(create_usage, 0);
        }
    }
    if ((!hk == !hdir) || nu == 0 || !out || optind != argc)
        return cli_usage(create_usage, 0);
    mv_deployment d;
    memset(&d, 0, sizeof d);
    if (hk) {
        if (cli_hex_arg(hk, d.hospital_pk, 32, "--hospital-key"))
            return CLI_USAGE;
    } else {
        mv_identity *h = NULL;
        mv_err rc = mv_identity_load(hdir, &h);
        if (rc != MV_OK) {
            cli_err("cannot load the hospital keys from %s: %s", hdir, mv_strerror(rc));
            return CLI_FAIL;
        }
        memcpy(d.hospital_pk, mv_identity_sign_pk(h), 32);
        mv_identity_free(h);
    }
    uint8_t all_shares[MV_DEPLOY_MAX_SERVERS][32];
    time_t deadline = time(NULL) + (time_t)wait_s;
    for (size_t i = 0; i < nu; i++) {
        mv_json *info = NULL;
        long status = 0;
        cli_progress("key servers ready", i, nu);
        while (cli_fetch_info(urls[i], &info, &status) != 0) {
            if (time(NULL) >= deadline) {
                cli_err("key server %s is not ready (HTTP %ld)", urls[i], status);
                return CLI_FAIL;
            }
            usleep(200000);
        }
        uint64_t idx = 0, t = 0, n = 0, epoch = 0;
        uint8_t g[32], ps[32];
        const mv_json *arr = mv_json_get(info, "public_shares");
        int ok = mv_json_get_u64(info, "index", &idx) == MV_OK && mv_json_get_u64(info, "threshold", &t) == MV_OK &&
                 mv_json_get_u64(info, "servers", &n) == MV_OK && mv_json_get_u64(info, "epoch", &epoch) == MV_OK &&
                 mv_json_get_hex(info, "group_public_key", g, 32) == MV_OK &&
                 mv_json_get_hex(info, "public_share", ps, 32) == MV_OK && n == nu && idx >= 1 && idx <= n &&
                 mv_json_len(arr) == n;
        for (size_t j = 0; ok && j < n; j++) {
            uint8_t pj[32];
            if (mv_json_get_hex(mv_json_at(arr, j), "public_share", pj, 32) != MV_OK) {
                ok = 0;
                break;
            }
            if (i == 0)
                memcpy(all_shares[j], pj, 32);
            else if (memcmp(all_shares[j], pj, 32) != 0)
                ok = 0;
        }
        if (ok && i == 0) {
            d.threshold = (uint32_t)t;
            d.epoch = epoch;
            memcpy(d.group_pk, g, 32);
        } else if (ok) {
            ok = d.threshold == t && d.epoch == epoch && !memcmp(d.group_pk, g, 32);
        }
        if (ok && (memcmp(all_shares[idx - 1], ps, 32) != 0 || d.servers[idx - 1].index != 0))
            ok = 0;
        mv_json_free(info);
        if (!ok) {
            cli_err("key server %s disagrees with the others (threshold, epoch, group key, index or shares), "
                    "or lists %llu servers where %zu were given",
                    urls[i], (unsigned long long)n, nu);
            return CLI_FAIL;
        }
        mv_keyserver_entry *e = &d.servers[idx - 1];
        e->index = (uint32_t)idx;
        snprintf(e->url, sizeof e->url, "%s", urls[i]);
        memcpy(e->public_share, ps, 32);
    }
    cli_progress("key servers ready", nu, nu);
    d.n_servers = nu;
    mv_buf b;
    mv_buf_init(&b, 1u << 20);
    mv_err rc = mv_deployment_write(&d, &b);
    mv_deployment check;
    if (rc == MV_OK)
        rc = mv_deployment_parse((const char *)b.ptr, b.len, &check);
    mv_buf_clear(&b);
    if (rc == MV_OK)
        rc = mv_deployment_save(&d, out);
    if (rc != MV_OK) {
        cli_err("cannot write a consistent deployment file: %s", mv_strerror(rc));
        return CLI_FAIL;
    }
    if (json) {
        mv_buf jb;
        mv_jw w;
        cli_json_begin(&w, &jb);
        mv_jw_ku64(&w, "servers", nu);
        mv_jw_ku64(&w, "threshold", d.threshold);
        mv_jw_ku64(&w, "epoch", d.epoch);
        return cli_json_end(&w, &jb);
    }
    printf("deployment with %zu key servers (threshold %u, epoch %llu) written to %s\n", nu, (unsigned)d.threshold,
           (unsigned long long)d.epoch, out);
    return CLI_OK;
}

static const char show_usage[] =
    "usage: medvault deployment show FILE [--json]\n\n"
    "Loads and checks a deployment file (public shares consistent with the group key) and\n"
    "prints it: the hospital and storage URLs, the hospital key, the threshold, the key\n"
    "servers and the re-encryption proxies (--json: the file's fields, hospital_url and\n"
    "storage_url among them). A file that does not load is named with what is wrong with it.\n";

static int deployment_show(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int json = 0, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'h': return cli_usage(show_usage, 1);
        default: return cli_usage(show_usage, 0);
        }
    }
    if (optind != argc - 1)
        return cli_usage(show_usage, 0);
    mv_deployment d;
    if (cli_load_deployment(argv[optind], NULL, &d) != CLI_OK)
        return CLI_FAIL;
    mv_err rc;
    mv_buf b;
    mv_buf_init(&b, MV_DEPLOY_FILE_MAX);
    if (json) {
        /* The file's own form: every field, the service URLs among them. */
        rc = mv_deployment_write(&d, &b);
    } else {
        char g[65], h[65];
        rc = mv_hex_encode(g, sizeof g, d.group_pk, 32);
        if (rc == MV_OK)
            rc = mv_hex_encode(h, sizeof h, d.hospital_pk, 32);
        if (rc == MV_OK)
            rc = mv_buf_printf(&b,
                               "hospital     %s\nstorage      %s\nhospital key %s\n"
                               "threshold %u of %zu key servers, epoch %llu\ngroup public key %s\n",
                               d.hospital_url[0] ? d.hospital_url : "(none)",
                               d.storage_url[0] ? d.storage_url : "(none)", h, (unsigned)d.threshold, d.n_servers,
                               (unsigned long long)d.epoch, g);
        for (size_t i = 0; rc == MV_OK && i < d.n_servers; i++)
            rc = mv_buf_printf(&b, "  key server %u at %s\n", (unsigned)d.servers[i].index, d.servers[i].url);
        if (rc == MV_OK)
            rc = d.n_proxies ? mv_buf_printf(&b, "re-encryption: %u of %zu proxies\n", (unsigned)d.proxy_threshold,
                                             d.n_proxies)
                             : mv_buf_printf(&b, "re-encryption: no proxies (share --via-clouds unavailable)\n");
        for (size_t i = 0; rc == MV_OK && i < d.n_proxies; i++) {
            char k[65];
            rc = mv_hex_encode(k, sizeof k, d.proxies[i].box_pk, 32);
            if (rc == MV_OK)
                rc = mv_buf_printf(&b, "  proxy %u at %s, box key %s\n", (unsigned)d.proxies[i].index,
                                   d.proxies[i].url, k);
        }
    }
    if (rc == MV_OK)
        cli_print_buf(&b);
    mv_buf_clear(&b);
    return rc == MV_OK ? CLI_OK : CLI_FAIL;
}

int cmd_deployment(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"create", deployment_create, "build the deployment file from the running key servers"},
        {"show", deployment_show, "check and print a deployment file"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault deployment", table, argc, argv);
}

static const char oprf_usage[] =
    "usage: medvault oprf --deployment FILE --user DIR [--json] [--in-order] [--timeout-ms MS] INPUT_HEX...\n\n"
    "Evaluates the threshold VOPRF on each input (hex bytes; an empty input is \"\") through t\n"
    "key servers, verifying each server's proof against its pinned public share, and prints one\n"
    "64-byte output (hex) per input, in order. Servers that are down or misbehave are skipped and\n"
    "named on stderr. --in-order asks servers in index order (tests); --json adds each server's\n"
    "status. Outputs are key material: treat them as secrets.\n";

int cmd_oprf(int argc, char **argv)
{
    static const struct option opts[] = {
        {"deployment", required_argument, NULL, 'd'}, {"user", required_argument, NULL, 'u'},
        {"json", no_argument, NULL, 'j'},             {"in-order", no_argument, NULL, 'o'},
        {"timeout-ms", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dep = NULL, *udir = NULL;
    int json = 0, c;
    mv_toprf_options topts = {10000, 0};
    uint64_t v = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dep = optarg; break;
        case 'u': udir = optarg; break;
        case 'j': json = 1; break;
        case 'o': topts.deterministic = 1; break;
        case 't':
            if (cli_u64_arg(optarg, 1, 600000, &v, "--timeout-ms"))
                return CLI_USAGE;
            topts.timeout_ms = (long)v;
            break;
        case 'h': return cli_usage(oprf_usage, 1);
        default: return cli_usage(oprf_usage, 0);
        }
    }
    if (!dep || !udir || optind >= argc)
        return cli_usage(oprf_usage, 0);
    size_t count = (size_t)(argc - optind);
    mv_deployment d;
    mv_identity *id = NULL;
    if (cli_load_deployment(dep, udir, &d) != CLI_OK)
        return CLI_FAIL;
    mv_err rc;
    if ((rc = mv_identity_load(udir, &id)) != MV_OK) {
        cli_err("cannot load the user directory %s: %s", udir, mv_strerror(rc));
        return CLI_FAIL;
    }
    int ret = CLI_FAIL;
    uint8_t **inputs = mv_calloc(count, sizeof *inputs);
    size_t *lens = mv_calloc(count, sizeof *lens);
    uint8_t *outputs = mv_malloc(count * MV_TOPRF_OUTPUT_BYTES);
    mv_toprf_report rep;
    mv_buf b;
    mv_buf_init(&b, 64u << 20);
    if (!inputs || !lens || !outputs) {
        cli_err("out of memory");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        const char *h = argv[optind + (int)i];
        size_t hl = strlen(h);
        inputs[i] = mv_malloc(hl / 2 + 1);
        if (!inputs[i] || mv_hex_decode(inputs[i], hl / 2 + 1, &lens[i], h, hl) != MV_OK || lens[i] > 65535) {
            cli_err("input %zu is not hex (at most 65535 bytes)", i + 1);
            ret = CLI_USAGE;
            goto out;
        }
    }
    rc = mv_toprf_evaluate(&d, id, (const uint8_t *const *)inputs, lens, count, outputs, &topts, &rep);
    for (size_t i = 0; i < rep.n_servers; i++) {
        const mv_toprf_server_report *s = &rep.servers[i];
        if (s->status != MV_TOPRF_OK && s->status != MV_TOPRF_UNUSED)
            fprintf(stderr, "medvault: key server %u: %s (HTTP %ld)\n", (unsigned)s->index,
                    mv_toprf_status_name(s->status), s->http_status);
    }
    if (rc != MV_OK) {
        if (rc == MV_ERR_RATE_LIMITED)
            cli_err("rate limited by the key servers; retry after %ld s", rep.retry_after);
        else
            cli_err("threshold evaluation failed: %s", mv_strerror(rc));
        goto out;
    }
    char hex[MV_TOPRF_OUTPUT_BYTES * 2 + 1];
    if (json) {
        mv_jw w;
        mv_jw_init(&w, &b);
        mv_jw_obj(&w);
        mv_jw_key(&w, "outputs");
        mv_jw_arr(&w);
        for (size_t i = 0; i < count; i++)
            mv_jw_hex(&w, outputs + i * MV_TOPRF_OUTPUT_BYTES, MV_TOPRF_OUTPUT_BYTES);
        mv_jw_arr_end(&w);
        mv_jw_ku64(&w, "rounds", rep.rounds);
        mv_jw_key(&w, "servers");
        mv_jw_arr(&w);
        for (size_t i = 0; i < rep.n_servers; i++) {
            mv_jw_obj(&w);
            mv_jw_ku64(&w, "index", rep.servers[i].index);
            mv_jw_kstr(&w, "status", mv_toprf_status_name(rep.servers[i].status));
            mv_jw_ki64(&w, "http_status", rep.servers[i].http_status);
            mv_jw_obj_end(&w);
        }
        mv_jw_arr_end(&w);
        mv_jw_obj_end(&w);
        if ((rc = mv_jw_finish(&w)) == MV_OK)
            rc = mv_buf_puts(&b, "\n");
    }
    for (size_t i = 0; !json && rc == MV_OK && i < count; i++) {
        if ((rc = mv_hex_encode(hex, sizeof hex, outputs + i * MV_TOPRF_OUTPUT_BYTES, MV_TOPRF_OUTPUT_BYTES)) != MV_OK)
            break;
        rc = mv_buf_printf(&b, "%s\n", hex);
    }
    mv_wipe(hex, sizeof hex);
    if (rc == MV_OK)
        ret = cli_print_buf(&b);
out:
    if (inputs)
        for (size_t i = 0; i < count; i++)
            mv_free(inputs[i]);
    mv_free(inputs);
    mv_free(lens);
    if (outputs) {
        mv_wipe(outputs, count * MV_TOPRF_OUTPUT_BYTES);
        mv_free(outputs);
    }
    mv_buf_clear(&b);
    mv_identity_free(id);
    return ret;
}
