/* deployment.c - the deployment file, the map of the services that every party reads: parse
 * strictly, check the shares are consistent, and (for a client) refuse a hospital key other
 * than the one the user registered with. In net, under the parties, because the hospital's
 * dashboard reads it as well as the client. */
#include "medvault/mv_deployment.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "medvault/mv_file.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_shamir.h"

static int url_ok(const char *s, size_t len)
{
    if (len == 0 || len > MV_DEPLOY_URL_MAX)
        return 0;
    if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

/* Copies the URL u[0..ul) (url_ok checked it) into dst without its trailing slashes. */
static void url_copy(char *dst, const char *u, size_t ul)
{
    memcpy(dst, u, ul);
    dst[ul] = 0;
    while (ul > 0 && dst[ul - 1] == '/')
        dst[--ul] = 0;
}

/* What is wrong with a document that does not parse as a deployment, for the message of
 * mv_deployment_load_msg; *why is a static string. */
#define WHY(msg) (why ? (void)(*why = (msg)) : (void)0)

/* The optional "proxies" and "proxy_threshold" (docs/pre.md 7.2): both or neither. */
static mv_err parse_proxies(const mv_json *root, mv_deployment *out, const char **why)
{
    static const uint8_t zero[32] = {0};
    const mv_json *px = mv_json_get(root, "proxies");
    uint64_t v = 0;
    if (!px && !mv_json_get(root, "proxy_threshold"))
        return MV_OK;
    size_t n = mv_json_len(px);
    WHY("\"proxies\" is missing (\"proxy_threshold\" is present), or not an array of 1 to 16 proxies");
    if (mv_json_type_of(px) != MV_JSON_ARRAY || n == 0 || n > MV_DEPLOY_MAX_PROXIES)
        return MV_ERR_PARSE;
    WHY("\"proxy_threshold\" is missing or not 1..the number of proxies");
    if (mv_json_get_u64(root, "proxy_threshold", &v) != MV_OK || v == 0 || v > n)
        return MV_ERR_PARSE;
    out->proxy_threshold = (uint32_t)v;
    WHY("a proxy's \"index\" (1..n, each once), \"url\" (http:// or https://) or \"box_public_key\" (64 hex "
        "digits, not all zero) is missing or malformed");
    int seen[MV_DEPLOY_MAX_PROXIES + 1] = {0};
    for (size_t i = 0; i < n; i++) {
        const mv_json *e = mv_json_at(px, i);
        size_t ul = 0;
        const char *url = mv_json_get_str(e, "url", &ul);
        if (mv_json_get_u64(e, "index", &v) != MV_OK || v == 0 || v > n || seen[v])
            return MV_ERR_PARSE;
        seen[v] = 1;
        mv_proxy_entry *pe = &out->proxies[v - 1];
        pe->index = (uint32_t)v;
        if (!url || !url_ok(url, ul))
            return MV_ERR_PARSE;
        url_copy(pe->url, url, ul);
        if (mv_json_get_hex(e, "box_public_key", pe->box_pk, 32) != MV_OK || memcmp(pe->box_pk, zero, 32) == 0)
            return MV_ERR_PARSE;
    }
    out->n_proxies = n;
    return MV_OK;
}

static mv_err parse(const char *text, size_t len, mv_deployment *out, const char **why)
{
    mv_json *root = NULL;
    uint8_t shares[MV_DEPLOY_MAX_SERVERS * 32];
    uint64_t v = 0;
    mv_err rc = MV_ERR_PARSE;
    if (!text || !out)
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if ((rc = mv_json_parse(text, len, NULL, &root, NULL)) != MV_OK) {
        WHY("it is not valid JSON");
        return rc == MV_ERR_TOO_LARGE ? rc : MV_ERR_PARSE;
    }
    rc = MV_ERR_PARSE;
    WHY("it is not a JSON object");
    if (mv_json_type_of(root) != MV_JSON_OBJECT)
        goto out;
    WHY("\"version\" is missing or not 1");
    if (mv_json_get_u64(root, "version", &v) != MV_OK || v != 1)
        goto out;
    size_t sl = 0;
    const char *suite = mv_json_get_str(root, "suite", &sl);
    WHY("\"suite\" is missing or not \"ristretto255-SHA512\"");
    if (!suite || strcmp(suite, "ristretto255-SHA512") != 0)
        goto out;
    WHY("\"hospital_public_key\" or \"group_public_key\" is missing or not 64 hex digits");
    if (mv_json_get_hex(root, "hospital_public_key", out->hospital_pk, 32) != MV_OK ||
        mv_json_get_hex(root, "group_public_key", out->group_pk, 32) != MV_OK)
        goto out;
    WHY("\"threshold\" is missing or not 1-16");
    if (mv_json_get_u64(root, "threshold", &v) != MV_OK || v == 0 || v > MV_DEPLOY_MAX_SERVERS)
        goto out;
    out->threshold = (uint32_t)v;
    WHY("\"epoch\" is not a number");
    if (mv_json_get(root, "epoch")) {
        if (mv_json_get_u64(root, "epoch", &out->epoch) != MV_OK)
            goto out;
    }
    const mv_json *ks = mv_json_get(root, "keyservers");
    size_t n = mv_json_len(ks);
    WHY("\"keyservers\" is missing, or not an array of threshold to 16 key servers");
    if (mv_json_type_of(ks) != MV_JSON_ARRAY || n == 0 || n > MV_DEPLOY_MAX_SERVERS || n < out->threshold)
        goto out;
    WHY("a key server's \"index\" (1..n, each once), \"url\" (http:// or https://) or \"public_share\" is "
        "missing or malformed");
    int seen[MV_DEPLOY_MAX_SERVERS + 1] = {0};
    for (size_t i = 0; i < n; i++) {
        const mv_json *e = mv_json_at(ks, i);
        size_t ul = 0;
        const char *url = mv_json_get_str(e, "url", &ul);
        if (mv_json_get_u64(e, "index", &v) != MV_OK || v == 0 || v > n || seen[v])
            goto out;
        seen[v] = 1;
        mv_keyserver_entry *se = &out->servers[v - 1];
        se->index = (uint32_t)v;
        if (!url || !url_ok(url, ul))
            goto out;
        url_copy(se->url, url, ul);
        if (mv_json_get_hex(e, "public_share", se->public_share, 32) != MV_OK ||
            mv_r255_elem_check(se->public_share) != MV_OK)
            goto out;
        memcpy(shares + (v - 1) * 32, se->public_share, 32);
    }
    out->n_servers = n;
    static const struct { const char *key; size_t off; } urls[] = {
        {"hospital_url", offsetof(mv_deployment, hospital_url)},
        {"storage_url", offsetof(mv_deployment, storage_url)},
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        if (!mv_json_get(root, urls[i].key))
            continue;
        size_t ul = 0;
        const char *u = mv_json_get_str(root, urls[i].key, &ul);
        char *dst = (char *)out + urls[i].off;
        WHY(i == 0 ? "\"hospital_url\" is not an http:// or https:// URL" : "\"storage_url\" is not an http:// or https:// URL");
        if (!u || !url_ok(u, ul))
            goto out;
        url_copy(dst, u, ul);
    }
    if ((rc = parse_proxies(root, out, why)) != MV_OK)
        goto out;
    rc = MV_ERR_PARSE;
    rc = mv_public_shares_check(shares, n, out->threshold, out->group_pk);
    if (rc != MV_OK) {
        WHY("the key servers' public shares do not match the group public key");
        rc = MV_ERR_VERIFY;
    }
out:
    mv_json_free(root);
    return rc;
}

mv_err mv_deployment_parse(const char *text, size_t len, mv_deployment *out)
{
    return parse(text, len, out, NULL);
}

#define SAY(...) (err && err_cap ? (void)snprintf(err, err_cap, __VA_ARGS__) : (void)0)

mv_err mv_deployment_load_msg(const char *path, const char *user_dir, mv_deployment *out, int *pinned_now, char *err,
                              size_t err_cap)
{
    struct stat sb;
    const char *why = NULL;
    int fresh = 0;
    mv_buf b;
    mv_err rc;
    if (err && err_cap)
        err[0] = 0;
    if (pinned_now)
        *pinned_now = 0;
    if (!path || !out)
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    mv_buf_init(&b, MV_DEPLOY_FILE_MAX);
    /* Checked first so that the message says what the path is: read(2) on a directory
     * answers EISDIR, which would otherwise surface as a bare "input/output error". */
    if (stat(path, &sb) != 0) {
        int e = errno;
        rc = e == ENOENT || e == ENOTDIR ? MV_ERR_NOT_FOUND : MV_ERR_IO;
        SAY("deployment file %s: %s", path, rc == MV_ERR_NOT_FOUND ? "no such file" : strerror(e));
        goto out;
    }
    rc = MV_ERR_IO;
    if (S_ISDIR(sb.st_mode)) {
        char inside[4096];
        if (mv_path_join(inside, sizeof inside, path, "deployment.json") == MV_OK && mv_file_exists(inside))
            SAY("deployment file %s: is a directory; the deployment file is %s", path, inside);
        else
            SAY("deployment file %s: is a directory, not a deployment file (`medvault up --dir D` writes "
                "D/deployment.json)", path);
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        SAY("deployment file %s: not a regular file", path);
        goto out;
    }
    if (access(path, R_OK) != 0) {
        SAY("deployment file %s: cannot read it (%s)", path, strerror(errno));
        goto out;
    }
    if ((rc = mv_file_read(path, MV_DEPLOY_FILE_MAX, &b)) != MV_OK) {
        if (rc == MV_ERR_TOO_LARGE)
            SAY("deployment file %s: larger than 1 MiB, not a deployment file", path);
        else
            SAY("deployment file %s: cannot read it (%s)", path, mv_strerror(rc));
        goto out;
    }
    if ((rc = parse((const char *)b.ptr, b.len, out, &why)) != MV_OK) {
        SAY("deployment file %s: not a valid deployment file: %s", path, why ? why : mv_strerror(rc));
        goto out;
    }
    if (!user_dir)
        goto out;
    /* The pin is written into user_dir on first use: only into a user's directory. */
    char keys[4096];
    if (stat(user_dir, &sb) != 0) {
        int e = errno;
        rc = e == ENOENT ? MV_ERR_NOT_FOUND : MV_ERR_IO;
        SAY("user directory %s: %s", user_dir, e == ENOENT ? "no such directory" : strerror(e));
        goto out;
    }
    if (!S_ISDIR(sb.st_mode)) {
        rc = MV_ERR_IO;
        SAY("user directory %s: not a directory", user_dir);
        goto out;
    }
    if ((rc = mv_path_join(keys, sizeof keys, user_dir, "keys")) != MV_OK || !mv_file_exists(keys)) {
        rc = rc != MV_OK ? rc : MV_ERR_NOT_FOUND;
        SAY("user directory %s: holds no user keys (no %s/keys; `medvault user add` makes a user's directory)",
            user_dir, user_dir);
        goto out;
    }
    if ((rc = mv_identity_check_hospital(user_dir, out->hospital_pk, &fresh)) != MV_OK) {
        if (rc == MV_ERR_AUTH)
            SAY("%s: %s", user_dir, MV_DEPLOY_PIN_MSG);
        else
            SAY("user directory %s: cannot check the hospital key pin against deployment file %s (%s)", user_dir,
                path, mv_strerror(rc));
        goto out;
    }
    if (fresh)
        mv_log(MV_LOG_INFO, "client",
               "the user directory had no hospital key pin: pinned this deployment's hospital key in "
               "hospital.pin (trust on first use; docs/deployment.md)");
    if (pinned_now)
        *pinned_now = fresh;
out:
    mv_buf_clear(&b);
    if (rc != MV_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

mv_err mv_deployment_load(const char *path, mv_deployment *out)
{
    return mv_deployment_load_msg(path, NULL, out, NULL, NULL, 0);
}

mv_err mv_deployment_load_for_user(const char *path, const char *user_dir, mv_deployment *out, int *pinned_now)
{
    if (!user_dir)
        return MV_ERR_INVAL;
    return mv_deployment_load_msg(path, user_dir, out, pinned_now, NULL, 0);
}

mv_err mv_deployment_write(const mv_deployment *d, mv_buf *b)
{
    mv_err rc;
    if ((rc = mv_buf_puts(b, "{\n  \"version\": 1,\n  \"suite\": \"ristretto255-SHA512\",\n"
                             "  \"hospital_public_key\": ")) != MV_OK ||
        (rc = mv_json_write_hex(b, d->hospital_pk, 32)) != MV_OK ||
        (rc = mv_buf_printf(b, ",\n  \"threshold\": %u,\n  \"epoch\": %llu,\n  \"group_public_key\": ",
                            (unsigned)d->threshold, (unsigned long long)d->epoch)) != MV_OK ||
        (rc = mv_json_write_hex(b, d->group_pk, 32)) != MV_OK ||
        (rc = mv_buf_puts(b, ",\n  \"keyservers\": [")) != MV_OK)
        return rc;
    for (size_t i = 0; i < d->n_servers; i++) {
        const mv_keyserver_entry *e = &d->servers[i];
        if ((rc = mv_buf_printf(b, "%s\n    {\"index\": %u, \"url\": ", i ? "," : "", (unsigned)e->index)) != MV_OK ||
            (rc = mv_json_write_str(b, e->url, strlen(e->url))) != MV_OK ||
            (rc = mv_buf_puts(b, ", \"public_share\": ")) != MV_OK ||
            (rc = mv_json_write_hex(b, e->public_share, 32)) != MV_OK || (rc = mv_buf_puts(b, "}")) != MV_OK)
            return rc;
    }
    if ((rc = mv_buf_puts(b, "\n  ]")) != MV_OK)
        return rc;
    if (d->hospital_url[0] && ((rc = mv_buf_puts(b, ",\n  \"hospital_url\": ")) != MV_OK ||
                               (rc = mv_json_write_str(b, d->hospital_url, strlen(d->hospital_url))) != MV_OK))
        return rc;
    if (d->storage_url[0] && ((rc = mv_buf_puts(b, ",\n  \"storage_url\": ")) != MV_OK ||
                              (rc = mv_json_write_str(b, d->storage_url, strlen(d->storage_url))) != MV_OK))
        return rc;
    if (d->n_proxies > 0) {
        if ((rc = mv_buf_puts(b, ",\n  \"proxies\": [")) != MV_OK)
            return rc;
        for (size_t i = 0; i < d->n_proxies; i++) {
            const mv_proxy_entry *e = &d->proxies[i];
            if ((rc = mv_buf_printf(b, "%s\n    {\"index\": %u, \"url\": ", i ? "," : "", (unsigned)e->index)) != MV_OK ||
                (rc = mv_json_write_str(b, e->url, strlen(e->url))) != MV_OK ||
                (rc = mv_buf_puts(b, ", \"box_public_key\": ")) != MV_OK ||
                (rc = mv_json_write_hex(b, e->box_pk, 32)) != MV_OK || (rc = mv_buf_puts(b, "}")) != MV_OK)
                return rc;
        }
        if ((rc = mv_buf_printf(b, "\n  ],\n  \"proxy_threshold\": %u", (unsigned)d->proxy_threshold)) != MV_OK)
            return rc;
    }
    return mv_buf_puts(b, "\n}\n");
}

mv_err mv_deployment_save(const mv_deployment *d, const char *path)
{
    mv_buf b;
    mv_buf_init(&b, 1u << 20);
    mv_err rc = mv_deployment_write(d, &b);
    if (rc == MV_OK)
        rc = mv_file_write_atomic(path, b.ptr, b.len, 0644);
    mv_buf_clear(&b);
    return rc;
}
