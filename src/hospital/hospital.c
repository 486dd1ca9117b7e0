/* hospital.c - the hospital service: registers users and issues credentials (only admins may
 * register), and derives dedup tokens with per-department privilege keys that never leave
 * this process, so the storage cloud can only match content within one department. */
#include "medvault/mv_hospital.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "medvault/mv_auth.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_config.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_daemon.h"
#include "medvault/mv_file.h"
#include "medvault/mv_hmac.h"
#include "medvault/mv_http.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_metrics.h"

#define COMPONENT "hospital"
#define MAX_DEPTS 256
#define NAME_MAX_BYTES 128
#define USER_FILE_MAX 8192

mv_err mv_token_compute(mv_token_alg alg, const uint8_t key[static 32], const uint8_t tag[static 32],
                        uint8_t token[static MV_TOKEN_BYTES])
{
    if (!key || !tag || !token)
        return MV_ERR_INVAL;
    switch (alg) {
    case MV_TOKEN_HMAC_SHA256:
        return mv_hmac_sha256(token, key, 32, tag, 32);
    case MV_TOKEN_HMAC_SHA1:
        memset(token, 0, MV_TOKEN_BYTES);
        return mv_hmac_sha1(token, key, 32, tag, 32);
    }
    return MV_ERR_INVAL;
}

/* ---------- configuration ---------- */

mv_err mv_hospital_config_defaults(mv_hospital_config *cfg, const char *dir, size_t *err_line)
{
    static const char *const allowed[] = {"threads", "skew_seconds", "credential_days", "token_hmac", NULL};
    mv_config *c = NULL;
    if (!cfg)
        return MV_ERR_INVAL;
    memset(cfg, 0, sizeof *cfg);
    cfg->dir = dir;
    cfg->token_alg = MV_TOKEN_HMAC_SHA256;
    mv_config_num num[] = {
        {"threads", 4, 1, 256, 0}, {"skew_seconds", 300, 1, 3600, 0}, {"credential_days", 365, 1, 3650, 0},
    };
    mv_err rc = mv_config_load_settings(dir, "hospital.conf", COMPONENT, allowed, num, sizeof num / sizeof num[0], &c,
                                        err_line);
    cfg->threads = (unsigned)num[0].v;
    cfg->skew_seconds = num[1].v;
    cfg->credential_days = num[2].v;
    const char *alg = rc == MV_OK && c ? mv_config_get(c, "token_hmac") : NULL;
    if (alg && !strcmp(alg, "sha1")) {
        cfg->token_alg = MV_TOKEN_HMAC_SHA1;
    } else if (alg && strcmp(alg, "sha256") != 0) {
        if (err_line)
            *err_line = mv_config_line(c, "token_hmac");
        mv_log(MV_LOG_ERROR, COMPONENT, "%s/hospital.conf: token_hmac must be sha256 or sha1", dir);
        rc = MV_ERR_PARSE;
    }
    mv_config_free(c);
    return rc;
}

/* ---------- the registry (one JSON file per user) ---------- */

static int name_ok(const char *s, size_t len)
{
    if (len == 0 || len > NAME_MAX_BYTES)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

static int role_ok(const char *r)
{
    return r && (!strcmp(r, "doctor") || !strcmp(r, "patient") || !strcmp(r, "admin"));
}

static mv_err user_path(const char *dir, const uint8_t sign_pk[32], char *out, size_t cap)
{
    char hex[65], name[80], users[4096];
    mv_err rc;
    if ((rc = mv_hex_encode(hex, sizeof hex, sign_pk, 32)) != MV_OK)
        return rc;
    snprintf(name, sizeof name, "%s.json", hex);
    if ((rc = mv_path_join(users, sizeof users, dir, "users")) != MV_OK)
        return rc;
    return mv_path_join(out, cap, users, name);
}

/* A registration as JSON: {"name","role","departments":[],"sign_public_key","box_public_key",
 * "status","registered_at"}. */
static mv_err user_json(mv_buf *b, const char *name, const char *role, const char *const *depts, size_t n,
                        const uint8_t sign_pk[32], const uint8_t box_pk[32], uint64_t now)
{
    mv_err rc;
    if ((rc = mv_buf_puts(b, "{\"name\":")) != MV_OK || (rc = mv_json_write_str(b, name, strlen(name))) != MV_OK ||
        (rc = mv_buf_puts(b, ",\"role\":")) != MV_OK || (rc = mv_json_write_str(b, role, strlen(role))) != MV_OK ||
        (rc = mv_buf_puts(b, ",\"departments\":[")) != MV_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        if ((i && (rc = mv_buf_puts(b, ",")) != MV_OK) || (rc = mv_json_write_str(b, depts[i], strlen(depts[i]))) != MV_OK)
            return rc;
    if ((rc = mv_buf_puts(b, "],\"sign_public_key\":")) != MV_OK || (rc = mv_json_write_hex(b, sign_pk, 32)) != MV_OK ||
        (rc = mv_buf_puts(b, ",\"box_public_key\":")) != MV_OK || (rc = mv_json_write_hex(b, box_pk, 32)) != MV_OK)
        return rc;
    return mv_buf_printf(b, ",\"status\":\"active\",\"registered_at\":%llu}", (unsigned long long)now);
}

static mv_err issue_credential(const mv_identity *hosp, const char *role, const char *const *depts, size_t n,
                               const uint8_t sign_pk[32], uint64_t days, char *out, size_t cap)
{
    mv_credential c;
    memset(&c, 0, sizeof c);
    if (strlen(role) > MV_CRED_MAX_ROLE || n > MV_CRED_MAX_DEPTS)
        return MV_ERR_INVAL;
    memcpy(c.subject, sign_pk, 32);
    memcpy(c.role, role, strlen(role) + 1);
    c.n_departments = n;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(depts[i]);
        if (l == 0 || l > MV_CRED_MAX_DEPT_LEN)
            return MV_ERR_INVAL;
        memcpy(c.departments[i], depts[i], l + 1);
    }
    c.issued_at = (uint64_t)time(NULL);
    c.expires_at = c.issued_at + days * 86400u;
    mv_err rc = mv_credential_issue(&c, mv_identity_sign_pk(hosp), mv_identity_sign_sk(hosp));
    if (rc == MV_OK)
        rc = mv_credential_encode(&c, out, cap);
    return rc;
}

/* Registers with an already loaded hospital identity; serialised by the caller. */
static mv_err register_user(const char *dir, const mv_identity *hosp, const char *name, const char *role,
                            const char *const *depts, size_t n, const uint8_t sign_pk[32], const uint8_t box_pk[32],
                            uint64_t days, char *cred, size_t cap)
{
    char path[4096], users[4096];
    mv_buf b;
    mv_err rc;
    if (!name || !name_ok(name, strlen(name)) || !role_ok(role) || (n && !depts) || days == 0 || days > 3650)
        return MV_ERR_INVAL;
    if (!strcmp(role, "doctor") && n == 0)
        return MV_ERR_INVAL;
    mv_buf_init(&b, USER_FILE_MAX);
    if ((rc = issue_credential(hosp, role, depts, n, sign_pk, days, cred, cap)) != MV_OK)
        goto out;
    if ((rc = mv_path_join(users, sizeof users, dir, "users")) != MV_OK ||
        (rc = mv_file_mkdir(users, 0700)) != MV_OK || (rc = user_path(dir, sign_pk, path, sizeof path)) != MV_OK)
        goto out;
    if (mv_file_exists(path)) {
        rc = MV_ERR_EXISTS;
        goto out;
    }
    if ((rc = user_json(&b, name, role, depts, n, sign_pk, box_pk, (uint64_t)time(NULL))) != MV_OK ||
        (rc = mv_file_write_atomic(path, b.ptr, b.len, 0600)) != MV_OK)
        goto out;
out:
    if (rc != MV_OK && cred && cap)
        mv_wipe(cred, cap);
    mv_buf_clear(&b);
    return rc;
}

mv_err mv_hospital_register(const char *dir, const char *name, const char *role, const char *const *departments,
                            size_t n_departments, const uint8_t sign_pk[static 32], const uint8_t box_pk[static 32],
                            uint64_t days, char *cred_b64, size_t cap)
{
    mv_identity *hosp = NULL;
    if (!dir || !sign_pk || !box_pk || !cred_b64)
        return MV_ERR_INVAL;
    mv_err rc = mv_identity_load(dir, &hosp);
    if (rc == MV_OK)
        rc = register_user(dir, hosp, name, role, departments, n_departments, sign_pk, box_pk, days, cred_b64, cap);
    mv_identity_free(hosp);
    return rc;
}

/* ---------- the service ---------- */

struct privkey {
    char dept[MV_CRED_MAX_DEPT_LEN + 1];
    uint8_t *key; /* secure memory, 32 bytes */
};

struct hosp {
    const mv_hospital_config *cfg;
    mv_identity *id;
    mv_auth_verifier *auth;
    mv_metrics *metrics;
    mv_http_server *http;
    pthread_mutex_t lock; /* guards keys[] and registrations */
    struct privkey keys[MAX_DEPTS];
    size_t n_keys;
};

static void metric_add(struct hosp *h, const char *name, const char *help, const char *labels, uint64_t n)
{
    if (mv_metrics_counter_add(h->metrics, name, help, labels, n) != MV_OK)
        mv_log(MV_LOG_DEBUG, COMPONENT, "metric %s dropped", name);
}

/* The privilege key of dept, loaded from or created in DIR/privileges on first use.
 * Returns a pointer into secure memory owned by h (valid until shutdown), or NULL. */
static const uint8_t *privilege_key(struct hosp *h, const char *dept, mv_err *err)
{
    const uint8_t *found = NULL;
    char hex[2 * MV_CRED_MAX_DEPT_LEN + 1], fname[2 * MV_CRED_MAX_DEPT_LEN + 8], pdir[4096], path[4096];
    mv_buf b;
    mv_err rc = MV_OK;
    mv_buf_init(&b, 256);
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->n_keys; i++)
        if (!strcmp(h->keys[i].dept, dept)) {
            found = h->keys[i].key;
            goto out;
        }
    if (h->n_keys == MAX_DEPTS) {
        rc = MV_ERR_TOO_LARGE;
        goto out;
    }
    size_t dl = strlen(dept);
    if (dl == 0 || dl > MV_CRED_MAX_DEPT_LEN) {
        rc = MV_ERR_INVAL;
        goto out;
    }
    struct privkey *pk = &h->keys[h->n_keys];
    pk->key = mv_secure_alloc(32);
    if (!pk->key) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    if ((rc = mv_hex_encode(hex, sizeof hex, (const uint8_t *)dept, dl)) != MV_OK)
        goto fail;
    snprintf(fname, sizeof fname, "%s.key", hex);
    if ((rc = mv_path_join(pdir, sizeof pdir, h->cfg->dir, "privileges")) != MV_OK ||
        (rc = mv_file_mkdir(pdir, 0700)) != MV_OK || (rc = mv_path_join(path, sizeof path, pdir, fname)) != MV_OK)
        goto fail;
    if (mv_file_exists(path)) {
        if ((rc = mv_file_read(path, 256, &b)) != MV_OK)
            goto fail;
        size_t l = b.len;
        while (l && (b.ptr[l - 1] == '\n' || b.ptr[l - 1] == '\r'))
            l--;
        if (mv_hex_decode_exact(pk->key, 32, (const char *)b.ptr, l) != MV_OK) {
            rc = MV_ERR_PARSE;
            goto fail;
        }
    } else {
        char khex[66];
        if ((rc = mv_random_bytes(pk->key, 32)) != MV_OK || (rc = mv_hex_encode(khex, sizeof khex, pk->key, 32)) != MV_OK)
            goto fail;
        khex[64] = '\n';
        rc = mv_file_write_atomic(path, khex, 65, 0600);
        mv_wipe(khex, sizeof khex);
        if (rc != MV_OK)
            goto fail;
        mv_log(MV_LOG_INFO, COMPONENT, "created a privilege key for a new department");
    }
    memcpy(pk->dept, dept, dl + 1);
    found = pk->key;
    h->n_keys++;
    goto out;
fail:
    mv_secure_free(pk->key);
    pk->key = NULL;
out:
    pthread_mutex_unlock(&h->lock);
    mv_buf_clear(&b);
    if (err)
        *err = found ? MV_OK : rc;
    return found;
}

static int authenticate(struct hosp *h, const mv_http_request *req, mv_http_response *resp, mv_credential *cred)
{
    mv_err rc = mv_http_verify(h->auth, req, (uint64_t)time(NULL), cred);
    if (rc == MV_OK)
        return 0;
    mv_http_respond_auth_failure(resp, rc);
    metric_add(h, "medvault_hospital_rejections_total", "Requests refused, by reason", "reason=\"auth\"", 1);
    return 1;
}

/* POST /v1/tokens {"tags":[hex...], "departments":[...]?}: TokenGen for every department of
 * the caller, or ShareTokenGen for the requested subset of them. */
static void handle_tokens(struct hosp *h, const mv_http_request *req, mv_http_response *resp)
{
    mv_credential cred;
    mv_json *root = NULL;
    mv_buf b;
    uint8_t *tags = NULL;
    const char *depts[MV_CRED_MAX_DEPTS];
    size_t nd = 0;
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);
    if (authenticate(h, req, resp, &cred))
        goto out;
    mv_json_limits lim = {.max_bytes = 16u << 20, .max_depth = 8, .max_nodes = MV_HOSPITAL_MAX_TAGS + 64};
    mv_err rc = mv_json_parse((const char *)req->body, req->body_len, &lim, &root, NULL);
    if (rc != MV_OK || mv_json_type_of(root) != MV_JSON_OBJECT) {
        mv_http_respond_json_error(resp, rc == MV_ERR_TOO_LARGE ? 413 : 400, "body must be a JSON object");
        goto out;
    }
    const mv_json *jt = mv_json_get(root, "tags");
    size_t n = mv_json_len(jt);
    if (mv_json_type_of(jt) != MV_JSON_ARRAY || n > MV_HOSPITAL_MAX_TAGS) {
        mv_http_respond_json_error(resp, 400, "tags must be an array of at most 100000 hex tags");
        goto out;
    }
    const mv_json *jd = mv_json_get(root, "departments");
    if (jd) {
        if (mv_json_type_of(jd) != MV_JSON_ARRAY || mv_json_len(jd) > MV_CRED_MAX_DEPTS) {
            mv_http_respond_json_error(resp, 400, "departments must be an array of department names");
            goto out;
        }
        for (size_t i = 0; i < mv_json_len(jd); i++) {
            const char *d = mv_json_str(mv_json_at(jd, i), NULL);
            if (!d || !mv_credential_has_department(&cred, d)) {
                mv_http_respond_json_error(resp, 403, "a requested department is not one of the caller's");
                goto out;
            }
            depts[nd++] = d;
        }
    } else {
        for (size_t i = 0; i < cred.n_departments; i++)
            depts[nd++] = cred.departments[i];
    }
    if (nd == 0) {
        mv_http_respond_json_error(resp, 403, "the caller's credential names no department");
        goto out;
    }
    tags = mv_mallocarray(n ? n : 1, 32);
    if (!tags) {
        mv_http_respond_json_error(resp, 503, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t l = 0;
        const char *s = mv_json_str(mv_json_at(jt, i), &l);
        if (!s || mv_hex_decode_exact(tags + 32 * i, 32, s, l) != MV_OK) {
            mv_http_respond_json_error(resp, 400, "every tag must be 64 hex digits");
            goto out;
        }
    }
    rc = mv_buf_printf(&b, "{\"alg\":\"%s\",\"tokens\":{",
                       h->cfg->token_alg == MV_TOKEN_HMAC_SHA1 ? "hmac-sha1" : "hmac-sha256");
    for (size_t d = 0; d < nd && rc == MV_OK; d++) {
        const uint8_t *key = privilege_key(h, depts[d], &rc);
        if (!key)
            break;
        if ((d && (rc = mv_buf_puts(&b, ",")) != MV_OK) ||
            (rc = mv_json_write_str(&b, depts[d], strlen(depts[d]))) != MV_OK || (rc = mv_buf_puts(&b, ":[")) != MV_OK)
            break;
        for (size_t i = 0; i < n && rc == MV_OK; i++) {
            uint8_t tok[MV_TOKEN_BYTES];
            if ((rc = mv_token_compute(h->cfg->token_alg, key, tags + 32 * i, tok)) == MV_OK &&
                (!i || (rc = mv_buf_puts(&b, ",")) == MV_OK))
                rc = mv_json_write_hex(&b, tok, MV_TOKEN_BYTES);
            mv_wipe(tok, sizeof tok);
        }
        if (rc == MV_OK)
            rc = mv_buf_puts(&b, "]");
    }
    if (rc == MV_OK)
        rc = mv_buf_puts(&b, "}}");
    mv_http_respond_built(resp, rc, 200, &b);
    if (rc == MV_OK)
        metric_add(h, "medvault_hospital_tokens_total", "Dedup tokens derived", "", (uint64_t)n * nd);
out:
    mv_free(tags);
    mv_json_free(root);
    mv_buf_clear(&b);
}

/* POST /v1/users (admins only): registers a user and returns its credential. */
static void handle_register(struct hosp *h, const mv_http_request *req, mv_http_response *resp)
{
    mv_credential cred;
    mv_json *root = NULL;
    char credential[MV_CRED_B64_MAX + 1];
    const char *depts[MV_CRED_MAX_DEPTS];
    uint8_t spk[32], bpk[32];
    uint64_t days = h->cfg->credential_days;
    size_t nd = 0;
    if (authenticate(h, req, resp, &cred))
        return;
    if (strcmp(cred.role, "admin") != 0) {
        mv_http_respond_json_error(resp, 403, "only an admin may register users");
        return;
    }
    if (mv_json_parse((const char *)req->body, req->body_len, NULL, &root, NULL) != MV_OK ||
        mv_json_type_of(root) != MV_JSON_OBJECT) {
        mv_http_respond_json_error(resp, 400, "body must be a JSON object");
        goto out;
    }
    const char *name = mv_json_get_str(root, "name", NULL);
    const char *role = mv_json_get_str(root, "role", NULL);
    const mv_json *jd = mv_json_get(root, "departments");
    if (jd && (mv_json_type_of(jd) != MV_JSON_ARRAY || mv_json_len(jd) > MV_CRED_MAX_DEPTS)) {
        mv_http_respond_json_error(resp, 400, "departments must be an array of at most 16 names");
        goto out;
    }
    for (size_t i = 0; i < mv_json_len(jd); i++)
        if (!(depts[nd++] = mv_json_str(mv_json_at(jd, i), NULL))) {
            mv_http_respond_json_error(resp, 400, "departments must be strings");
            goto out;
        }
    if (mv_json_get(root, "days") && mv_json_get_u64(root, "days", &days) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "days must be a whole number");
        goto out;
    }
    if (!name || !role || mv_json_get_hex(root, "sign_public_key", spk, 32) != MV_OK ||
        mv_json_get_hex(root, "box_public_key", bpk, 32) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "name, role, sign_public_key and box_public_key are required");
        goto out;
    }
    pthread_mutex_lock(&h->lock);
    mv_err rc = register_user(h->cfg->dir, h->id, name, role, depts, nd, spk, bpk, days, credential, sizeof credential);
    pthread_mutex_unlock(&h->lock);
    switch (rc) {
    case MV_OK:
        mv_http_respond_fmt(resp, 201, "{\"credential\":\"%s\",\"days\":%llu}", credential, (unsigned long long)days);
        metric_add(h, "medvault_hospital_registrations_total", "Users registered", "", 1);
        mv_log(MV_LOG_INFO, COMPONENT, "registered a user with role %s", role);
        break;
    case MV_ERR_EXISTS:
        mv_http_respond_json_error(resp, 409, "this signing key is already registered");
        break;
    case MV_ERR_INVAL:
        mv_http_respond_json_error(resp, 400,
                                   "invalid registration: role must be doctor, patient or admin, a doctor needs a "
                                   "department, names are 1-128 printable bytes, departments [A-Za-z0-9 _.-]");
        break;
    case MV_ERR_NOMEM: case MV_ERR_AUTH: case MV_ERR_TOO_LARGE: case MV_ERR_PARSE: case MV_ERR_IO:
    case MV_ERR_NOT_FOUND: case MV_ERR_CRYPTO: case MV_ERR_BUSY: case MV_ERR_BAD_STATE: case MV_ERR_RATE_LIMITED:
    case MV_ERR_NET: case MV_ERR_TIMEOUT: case MV_ERR_IDENTITY: case MV_ERR_VERIFY: case MV_ERR_EXPIRED:
    case MV_ERR_REPLAY: case MV_ERR_FORBIDDEN: case MV_ERR_PROTOCOL: case MV_ERR_UNAVAILABLE: case MV_ERR_HTTP:
        mv_http_respond_json_error(resp, 500, "registration failed");
        break;
    }
    mv_wipe(credential, sizeof credential);
out:
    mv_json_free(root);
}

/* GET /v1/users/{sign key hex}: the public part of a registration (any authenticated user:
 * clients look up a reader's encryption key here). */
static void handle_user_get(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const char *hex)
{
    mv_credential cred;
    uint8_t pk[32];
    char path[4096];
    mv_buf b;
    if (authenticate(h, req, resp, &cred))
        return;
    if (mv_hex_decode_exact(pk, 32, hex, strlen(hex)) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "expected /v1/users/<64 hex digits>");
        return;
    }
    mv_buf_init(&b, USER_FILE_MAX);
    if (user_path(h->cfg->dir, pk, path, sizeof path) != MV_OK || !mv_file_exists(path))
        mv_http_respond_json_error(resp, 404, "no such user");
    else if (mv_file_read(path, USER_FILE_MAX, &b) != MV_OK)
        mv_http_respond_json_error(resp, 500, "cannot read the registry");
    else
        mv_http_respond_json(resp, 200, &b);
    mv_buf_clear(&b);
}

static void handler(void *ctx, const mv_http_request *req, mv_http_response *resp)
{
    struct hosp *h = ctx;
    if (!strcmp(req->path, "/v1/tokens")) {
        if (strcmp(req->method, "POST") != 0)
            mv_http_respond_json_error(resp, 405, "use POST");
        else
            handle_tokens(h, req, resp);
    } else if (!strcmp(req->path, "/v1/users")) {
        if (strcmp(req->method, "POST") != 0)
            mv_http_respond_json_error(resp, 405, "use POST");
        else
            handle_register(h, req, resp);
    } else if (!strncmp(req->path, "/v1/users/", 10)) {
        if (strcmp(req->method, "GET") != 0)
            mv_http_respond_json_error(resp, 405, "use GET");
        else
            handle_user_get(h, req, resp, req->path + 10);
    } else {
        mv_http_respond_json_error(resp, 404, "no such endpoint");
    }
}

mv_err mv_hospital_run(const mv_hospital_config *cfg)
{
    struct hosp h;
    mv_err rc;
    memset(&h, 0, sizeof h);
    if (!cfg || !cfg->dir || !cfg->listen)
        return MV_ERR_INVAL;
    h.cfg = cfg;
    pthread_mutex_init(&h.lock, NULL);
    mv_daemon_harden();
    if ((rc = mv_identity_load(cfg->dir, &h.id)) != MV_OK) {
        mv_log(MV_LOG_ERROR, COMPONENT, "cannot load the hospital identity from %s: %s (run `medvault hospital init`)",
               cfg->dir, mv_strerror(rc));
        goto out;
    }
    if ((rc = mv_auth_verifier_new(mv_identity_sign_pk(h.id), cfg->skew_seconds, 1u << 20, &h.auth)) != MV_OK ||
        (rc = mv_metrics_new(&h.metrics)) != MV_OK)
        goto out;
    mv_daemon_block_signals();
    mv_http_config hc = {
        .listen = cfg->listen,
        .max_body = 16u << 20,
        .threads = cfg->threads,
        .handler = handler,
        .ctx = &h,
        .metrics = h.metrics,
        .component = "medvault_hospital",
    };
    if ((rc = mv_http_server_start(&hc, &h.http)) != MV_OK) {
        mv_log(MV_LOG_ERROR, COMPONENT, "cannot listen on %s: %s", cfg->listen, mv_strerror(rc));
        goto out;
    }
    if (mv_daemon_write_port(cfg->port_file, mv_http_server_port(h.http)) != 0)
        mv_log(MV_LOG_WARN, COMPONENT, "cannot write the port file");
    mv_log(MV_LOG_INFO, COMPONENT, "listening on port %u (tokens: %s)", (unsigned)mv_http_server_port(h.http),
           cfg->token_alg == MV_TOKEN_HMAC_SHA1 ? "HMAC-SHA-1" : "HMAC-SHA-256");
    mv_daemon_wait(1.0, NULL, NULL);
    mv_log(MV_LOG_INFO, COMPONENT, "shutting down");
    rc = MV_OK;
out:
    mv_http_server_stop(h.http);
    for (size_t i = 0; i < h.n_keys; i++)
        mv_secure_free(h.keys[i].key);
    mv_auth_verifier_free(h.auth);
    mv_metrics_free(h.metrics);
    mv_identity_free(h.id);
    pthread_mutex_destroy(&h.lock);
    return rc;
}
