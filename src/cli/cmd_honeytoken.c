/* cmd_honeytoken.c - `medvault honeytoken plant|list`: an admin plants decoy records in the
 * primary storage server and lists them (docs/guard.md); requests are signed with the admin's
 * key and credential, and the answers never carry record content. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "medvault/mv_deployment.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"

static const char plant_usage[] =
    "usage: medvault honeytoken plant --department D [--count N] [--json]\n\n"
    "As an admin: plants N (default 1, at most 100) honeytoken records in department D on the\n"
    "primary storage server: plausible decoy records no legitimate workflow reads. Any read of\n"
    "one is answered like a real record and raises a `honeytoken` alert at the hospital.\n" CLI_COMMON_HELP;

static const char list_usage[] =
    "usage: medvault honeytoken list [--json]\n\n"
    "As an admin: lists the honeytokens planted on the primary storage server.\n" CLI_COMMON_HELP;

/* One signed call to the storage server of the deployment; prints the error and returns
 * CLI_FAIL unless it answered 200 with JSON (then *root holds it). */
static int storage_call(const cli_common *o, const char *method, const char *path, const char *body, mv_json **root)
{
    mv_deployment dep;
    mv_identity *id = NULL;
    mv_httpc_call call;
    char url[MV_DEPLOY_URL_MAX + 64];
    int r = CLI_FAIL;
    mv_err rc;
    *root = NULL;
    mv_httpc_call_init(&call);
    if (cli_load_deployment(o->deployment, o->user, &dep) != CLI_OK)
        goto out;
    if (!dep.storage_url[0]) {
        cli_err("the deployment names no storage server");
        goto out;
    }
    if ((rc = mv_identity_load(o->user, &id)) != MV_OK || !mv_identity_credential(id)) {
        cli_err("cannot load the user %s (keys and credential): %s", o->user, rc == MV_OK ? "no credential" : mv_strerror(rc));
        goto out;
    }
    snprintf(url, sizeof url, "%s%s", dep.storage_url, path);
    static const char *const json_hdr[] = {"Content-Type: application/json", NULL};
    call.method = method;
    call.url = url;
    call.body = (const uint8_t *)body;
    call.body_len = body ? strlen(body) : 0;
    call.headers = body ? json_hdr : NULL;
    if ((rc = mv_httpc_sign(&call, mv_identity_sign_pk(id), mv_identity_sign_sk(id), mv_identity_credential(id),
                            (uint64_t)time(NULL))) != MV_OK ||
        (rc = mv_httpc_run(&call, 1)) != MV_OK || (rc = call.rc) != MV_OK) {
        cli_err("the storage server did not answer: %s", mv_strerror(rc));
        goto out;
    }
    if (call.status != 200) {
        cli_err("the storage server answered %ld: %.*s", call.status, (int)(call.response.len > 300 ? 300 : call.response.len),
                call.response.len ? (const char *)call.response.ptr : "");
        goto out;
    }
    if (mv_json_parse((const char *)call.response.ptr, call.response.len, NULL, root, NULL) != MV_OK) {
        cli_err("the storage server's answer is not JSON");
        goto out;
    }
    r = CLI_OK;
out:
    mv_httpc_call_clear(&call);
    mv_identity_free(id);
    return r;
}

static void print_list(const mv_json *arr)
{
    printf("%-32s  %-20s  %s\n", "ID", "DEPARTMENT", "CREATED");
    for (size_t i = 0; i < mv_json_len(arr); i++) {
        const mv_json *e = mv_json_at(arr, i);
        const char *idh = mv_json_get_str(e, "id", NULL), *d = mv_json_get_str(e, "department", NULL);
        uint64_t created = 0;
        char when[32] = "?";
        if (mv_json_get_u64(e, "created", &created) == MV_OK) {
            time_t t = (time_t)created;
            struct tm tm;
            if (gmtime_r(&t, &tm))
                strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        }
        printf("%-32s  %-20s  %s\n", idh ? idh : "?", d ? d : "?", when);
    }
}

/* Parses the shared options plus --department/--count (plant only). Returns -1 to go on,
 * else the exit code. */
static int parse(int argc, char **argv, const char *usage, int plant, cli_common *o, const char **dept,
                 const char **count)
{
    static const struct option opts[] = {
        {"deployment", required_argument, NULL, 'D'}, {"user", required_argument, NULL, 'u'},
        {"department", required_argument, NULL, 'd'}, {"count", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},             {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    cli_common_init(o);
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'D': o->deployment = optarg; break;
        case 'u': o->user = optarg; break;
        case 'd':
            if (!plant)
                return cli_usage(usage, 0);
            *dept = optarg;
            break;
        case 'n':
            if (!plant)
                return cli_usage(usage, 0);
            *count = optarg;
            break;
        case 'j': o->json = 1; break;
        case 'h': return cli_usage(usage, 1);
        default: return cli_usage(usage, 0);
        }
    }
    if (optind != argc || (plant && !*dept))
        return cli_usage(usage, 0);
    return cli_common_check(o, usage) == CLI_OK ? -1 : CLI_USAGE;
}

static int ht_plant(int argc, char **argv)
{
    cli_common o;
    const char *dept = NULL, *count = NULL;
    uint64_t n = 1;
    mv_json *root = NULL;
    mv_buf body;
    int r = parse(argc, argv, plant_usage, 1, &o, &dept, &count);
    if (r >= 0)
        return r;
    if (count && cli_u64_arg(count, 1, 100, &n, "--count"))
        return CLI_USAGE;
    mv_jw w;
    mv_buf_init(&body, 1024);
    mv_jw_init(&w, &body);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "department", dept);
    mv_jw_ku64(&w, "count", n);
    mv_jw_obj_end(&w);
    if (mv_jw_finish(&w) != MV_OK || mv_buf_append(&body, "", 1) != MV_OK) {
        mv_buf_clear(&body);
        return CLI_USAGE;
    }
    r = storage_call(&o, "POST", "/v1/honeytokens", (const char *)body.ptr, &root);
    if (r == CLI_OK) {
        if (o.json) {
            mv_buf out;
            mv_buf_init(&out, 1 << 20);
            if (mv_json_write(&out, root) == MV_OK && mv_buf_puts(&out, "\n") == MV_OK)
                r = cli_print_buf(&out);
            mv_buf_clear(&out);
        } else {
            print_list(mv_json_get(root, "honeytokens"));
        }
    }
    mv_json_free(root);
    mv_buf_clear(&body);
    return r;
}

static int ht_list(int argc, char **argv)
{
    cli_common o;
    const char *dept = NULL, *count = NULL;
    mv_json *root = NULL;
    int r = parse(argc, argv, list_usage, 0, &o, &dept, &count);
    if (r >= 0)
        return r;
    r = storage_call(&o, "GET", "/v1/honeytokens", NULL, &root);
    if (r == CLI_OK) {
        if (o.json) {
            mv_buf out;
            mv_buf_init(&out, (size_t)64 << 20);
            if (mv_json_write(&out, root) == MV_OK && mv_buf_puts(&out, "\n") == MV_OK)
                r = cli_print_buf(&out);
            mv_buf_clear(&out);
        } else {
            print_list(mv_json_get(root, "honeytokens"));
        }
    }
    mv_json_free(root);
    return r;
}

int cmd_honeytoken(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"plant", ht_plant, "plant honeytoken records in a department (admins)"},
        {"list", ht_list, "list the planted honeytokens (admins)"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault honeytoken", table, argc, argv);
}
