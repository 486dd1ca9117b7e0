/* hospital_http.c - the helpers every handler of the hospital's JSON API shares (its error
 * statuses, body and query parsing, metrics), apart from the router in hospital.c, so that the
 * handler files (hospital_users.c, hospital_workflow.c, hospital_alerts.c, ...) depend on these
 * and the router depends on them, never the other way round. */
#include <stdio.h>
#include <string.h>

#include "hospital/hospital_internal.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_file.h"
#include "medvault/mv_http.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_metrics.h"

#define COMPONENT HOSP_COMPONENT

void hosp_metric_add(struct hosp *h, const char *name, const char *help, const char *labels, uint64_t n)
{
    if (mv_metrics_counter_add(h->metrics, name, help, labels, n) != MV_OK)
        mv_log(MV_LOG_DEBUG, COMPONENT, "metric %s dropped", name);
}

void hosp_respond_err(mv_http_response *resp, mv_err rc, const char *why)
{
    int status = 500;
    switch (rc) {
    case MV_ERR_INVAL: case MV_ERR_PARSE: status = 400; break;
    case MV_ERR_AUTH: status = 401; break;
    case MV_ERR_FORBIDDEN: status = 403; break;
    case MV_ERR_NOT_FOUND: status = 404; break;
    case MV_ERR_EXISTS: case MV_ERR_BAD_STATE: status = 409; break;
    case MV_ERR_TOO_LARGE: status = 413; break;
    case MV_ERR_MISDIRECTED: status = 421; break;
    case MV_ERR_BUSY: case MV_ERR_RATE_LIMITED: case MV_ERR_UNAVAILABLE: status = 503; break;
    case MV_OK: case MV_ERR_NOMEM: case MV_ERR_IO: case MV_ERR_CRYPTO: case MV_ERR_NET: case MV_ERR_TIMEOUT:
    case MV_ERR_IDENTITY: case MV_ERR_VERIFY: case MV_ERR_EXPIRED: case MV_ERR_REPLAY: case MV_ERR_PROTOCOL:
    case MV_ERR_HTTP:
        status = 500;
        break;
    }
    if (status == 500 || !why) {
        switch (status) {
        case 404: why = why ? why : "not found"; break;
        case 503: why = why ? why : "the registry is busy; retry"; break;
        case 500: why = "internal error"; break;
        default: why = why ? why : mv_strerror(rc); break;
        }
    }
    mv_http_respond_json_error(resp, status, why);
}

int hosp_json_body(const mv_http_request *req, mv_http_response *resp, mv_json **root)
{
    mv_json_limits lim = {.max_bytes = 64u << 10, .max_depth = 8, .max_nodes = 4096};
    *root = NULL;
    mv_err rc = mv_json_parse((const char *)req->body, req->body_len, &lim, root, NULL);
    if (rc != MV_OK || mv_json_type_of(*root) != MV_JSON_OBJECT) {
        mv_json_free(*root);
        *root = NULL;
        if (rc == MV_ERR_TOO_LARGE)
            mv_http_respond_json_error(resp, 413, "body must be a JSON object of at most 64 KiB and 4096 values");
        else
            mv_http_respond_json_error(resp, 400, "body must be a JSON object nested at most 8 levels deep");
        return 1;
    }
    return 0;
}

int hosp_query(const mv_http_request *req, mv_http_response *resp, const char *name, char *out, size_t cap)
{
    const char *q = mv_http_query(req);
    mv_err rc = mv_http_form_get(q, strlen(q), name, out, cap);
    if (rc == MV_OK)
        return 1;
    if (rc == MV_ERR_NOT_FOUND) {
        out[0] = 0;
        return 0;
    }
    char msg[96];
    snprintf(msg, sizeof msg, "query parameter %s is malformed or too long", name);
    mv_http_respond_json_error(resp, 400, msg);
    return -1;
}

int hosp_query_limit(const mv_http_request *req, mv_http_response *resp, uint64_t dflt, uint64_t max, uint64_t *out)
{
    char lim[24];
    uint64_t v = 0;
    int has = hosp_query(req, resp, "limit", lim, sizeof lim);
    *out = dflt;
    if (has <= 0)
        return has < 0;
    size_t l = strlen(lim);
    for (size_t i = 0; i < l && l <= 18; i++) {
        if (lim[i] < '0' || lim[i] > '9') {
            v = 0;
            break;
        }
        v = v * 10 + (uint64_t)(lim[i] - '0');
    }
    if (l == 0 || l > 18 || v == 0 || v > max) {
        char msg[64];
        snprintf(msg, sizeof msg, "limit must be 1 to %llu", (unsigned long long)max);
        mv_http_respond_json_error(resp, 400, msg);
        return 1;
    }
    *out = v;
    return 0;
}

int hosp_opt_str(const mv_json *root, const char *key, mv_http_response *resp, const char **out)
{
    const mv_json *v = mv_json_get(root, key);
    size_t len = 0;
    *out = NULL;
    if (!v)
        return 0;
    *out = mv_json_str(v, &len);
    if (!*out || strlen(*out) != len) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be a string", key);
        mv_http_respond_json_error(resp, 400, msg);
        return 1;
    }
    return 0;
}

mv_err hosp_key_file(struct hosp *h, const char *fname, int create, uint8_t key[32], int *created)
{
    char pdir[4096], path[4096], khex[66];
    mv_buf b;
    mv_err rc;
    if (created)
        *created = 0;
    mv_buf_init(&b, 256);
    if ((rc = mv_path_join(pdir, sizeof pdir, h->cfg->dir, "privileges")) != MV_OK ||
        (rc = mv_file_mkdir(pdir, 0700)) != MV_OK || (rc = mv_path_join(path, sizeof path, pdir, fname)) != MV_OK)
        goto out;
    if (mv_file_exists(path)) {
        if ((rc = mv_file_read(path, 256, &b)) != MV_OK)
            goto out;
        size_t l = b.len;
        while (l && (b.ptr[l - 1] == '\n' || b.ptr[l - 1] == '\r'))
            l--;
        if (mv_hex_decode_exact(key, 32, (const char *)b.ptr, l) != MV_OK)
            rc = MV_ERR_PARSE;
        goto out;
    }
    if (!create) {
        rc = MV_ERR_NOT_FOUND;
        goto out;
    }
    if ((rc = mv_random_bytes(key, 32)) != MV_OK || (rc = mv_hex_encode(khex, sizeof khex, key, 32)) != MV_OK)
        goto out;
    khex[64] = '\n';
    if ((rc = mv_file_write_atomic(path, khex, 65, 0600)) == MV_OK && created)
        *created = 1;
out:
    mv_wipe(khex, sizeof khex);
    if (b.ptr)
        mv_wipe(b.ptr, b.len);
    mv_buf_clear(&b);
    if (rc != MV_OK)
        mv_wipe(key, 32);
    return rc;
}
