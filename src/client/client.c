/* client.c - opening a client, signed calls to the services, list/delete/stats, and user
 * registration. Every request is signed with the user's key; nothing secret is logged. */
#include "client_internal.h"
#include "findex.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "medvault/mv_auth.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_file.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"

void mvc_seterr(mv_client *c, const char *fmt, ...)
{
    va_list ap;
    if (!c)
        return;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
}

const char *mv_client_last_error(const mv_client *c)
{
    return c && c->err[0] ? c->err : "no details";
}

mv_err mvc_call_setup(mv_httpc_call *call, char *urlbuf, size_t cap, const char *base, const char *path,
                      const char *method, const uint8_t *body, size_t len, const char *const *headers)
{
    int n = snprintf(urlbuf, cap, "%s%s", base, path);
    if (n < 0 || (size_t)n >= cap)
        return MV_ERR_TOO_LARGE;
    mv_httpc_call_init(call);
    call->url = urlbuf;
    call->method = method;
    call->body = body;
    call->body_len = len;
    call->headers = headers;
    call->timeout_ms = 120000;
    return MV_OK;
}

#define MAX_CALL_HEADERS 8

/* The one place every signed call passes: while a step-up grant is held, storage calls carry
 * it (MV-Step-Up); while step-up is pending, storage reads are not sent at all; a storage
 * answer demanding step-up is remembered (DIR/stepup.pending). */
mv_err mvc_run(mv_client *c, mv_httpc_call *calls, size_t n)
{
    const char *cred = mv_identity_credential(c->id);
    uint64_t now = (uint64_t)time(NULL);
    const char *const **saved = NULL;
    const char **extra = NULL;
    mv_err rc = MV_OK;
    size_t sl = strlen(c->dep.storage_url);
    if (c->stepup_pending)
        for (size_t i = 0; i < n; i++)
            if (mvc_stepup_is_read(calls[i].method, calls[i].url, c->dep.storage_url)) {
                mvc_seterr(c, MVC_STEPUP_MSG);
                return MV_ERR_AUTH;
            }
    if (c->stepup_hdr[0] && n) {
        saved = mv_calloc(n, sizeof *saved);
        extra = mv_calloc(n * (MAX_CALL_HEADERS + 2), sizeof *extra);
        if (!saved || !extra) {
            rc = MV_ERR_NOMEM;
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            saved[i] = calls[i].headers;
            if (strncmp(calls[i].url, c->dep.storage_url, sl) != 0)
                continue;
            const char **h = extra + i * (MAX_CALL_HEADERS + 2);
            size_t k = 0;
            for (; calls[i].headers && calls[i].headers[k]; k++) {
                if (k == MAX_CALL_HEADERS) {
                    rc = MV_ERR_INVAL;
                    goto out;
                }
                h[k] = calls[i].headers[k];
            }
            h[k++] = c->stepup_hdr;
            h[k] = NULL;
            calls[i].headers = h;
        }
    }
    for (size_t i = 0; i < n && rc == MV_OK; i++)
        rc = mv_httpc_sign(&calls[i], mv_identity_sign_pk(c->id), mv_identity_sign_sk(c->id), cred, now);
    if (rc == MV_OK)
        rc = mv_httpc_run(calls, n);
    for (size_t i = 0; i < n && rc == MV_OK; i++)
        if (calls[i].rc == MV_OK && calls[i].status == 401 && calls[i].step_up_required &&
            strncmp(calls[i].url, c->dep.storage_url, sl) == 0) {
            mvc_stepup_demanded(c);
            break;
        }
out:
    if (saved)
        for (size_t i = 0; i < n; i++)
            calls[i].headers = saved[i];
    mv_free(saved);
    mv_free(extra);
    return rc;
}

mv_err mvc_status_err(mv_client *c, const char *what, long status, const mv_buf *body)
{
    char msg[160] = "";
    mv_json *root = NULL;
    if (body && body->len && mv_json_parse((const char *)body->ptr, body->len, NULL, &root, NULL) == MV_OK) {
        size_t l = 0;
        const char *e = mv_json_get_str(root, "error", &l);
        if (e)
            snprintf(msg, sizeof msg, ": %.*s", (int)(l < 150 ? l : 150), e);
    }
    mv_json_free(root);
    if (status == 401 && c->stepup_demanded) {
        mvc_seterr(c, MVC_STEPUP_MSG);
        return MV_ERR_AUTH;
    }
    mvc_seterr(c, "%s answered HTTP %ld%s", what, status, msg);
    switch (status) {
    case 401: return MV_ERR_AUTH;
    case 403: return MV_ERR_FORBIDDEN;
    case 404: return MV_ERR_NOT_FOUND;
    case 409: return MV_ERR_EXISTS;
    case 413: return MV_ERR_TOO_LARGE;
    case 429: return MV_ERR_RATE_LIMITED;
    case 400: return MV_ERR_PARSE;
    default: return MV_ERR_HTTP;
    }
}

mv_err mvc_simple(mv_client *c, const char *base, const char *method, const char *path, const uint8_t *body,
                  size_t len, const char *content_type, long *status, mv_buf *resp)
{
    char url[MV_HTTPC_MAX_URL], ct[96];
    const char *headers[2] = {NULL, NULL};
    mv_httpc_call call;
    mv_err rc;
    if (content_type) {
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
        headers[0] = ct;
    }
    if ((rc = mvc_call_setup(&call, url, sizeof url, base, path, method, body, len, headers)) != MV_OK)
        return rc;
    if ((rc = mvc_run(c, &call, 1)) == MV_OK) {
        rc = call.rc;
        if (rc == MV_OK) {
            *status = call.status;
            if (resp && call.response.len)
                rc = mv_buf_append(resp, call.response.ptr, call.response.len);
        } else {
            mvc_seterr(c, "no answer from %s (%s)", base, mv_strerror(rc));
        }
    }
    mv_httpc_call_clear(&call);
    return rc;
}

mv_err mvc_records_get(mv_client *c, const uint8_t *ids, size_t n, mv_buf *resp, mv_frame_iter *it)
{
    mv_buf body;
    mv_frame_writer w;
    mv_frame_answer a;
    long status = 0;
    mv_buf_init(&body, 8 + 16 * n);
    mv_frame_records_get_begin(&w, &body);
    for (size_t i = 0; i < n; i++)
        mv_frame_records_get_add(&w, ids + 16 * i);
    mv_err rc = mv_frame_end(&w);
    if (rc == MV_OK)
        rc = mvc_simple(c, c->dep.storage_url, "POST", "/v1/records/get", body.ptr, body.len, "application/octet-stream",
                        &status, resp);
    mv_buf_clear(&body);
    if (rc != MV_OK)
        return rc;
    if (status != 200)
        return mvc_status_err(c, "the storage server", status, resp);
    if (mv_frame_records_answer_decode(resp->ptr, resp->len, (uint32_t)n, &a, NULL) != MV_OK) {
        mvc_seterr(c, "the storage server sent a malformed records answer");
        return MV_ERR_PROTOCOL;
    }
    mv_frame_answer_iter(&a, it);
    return MV_OK;
}

#define RENEW_REFUSED "the hospital refused to renew this user's credential (suspended or revoked)"


/* Renews the user's credential at the hospital (POST /v1/credentials, signed with the user's
 * key and carrying the old credential, which may have expired) when it has expired or less
 * than half its lifetime remains; saves the new one in user_dir (atomic replace) and
 * updates *cred. A refusal (403) fails with MV_ERR_AUTH. Any other failure is fatal only if
 * the old credential has expired: otherwise the next open retries. */
static mv_err renew_if_due(mv_client *c, const char *user_dir, mv_credential *cred, uint64_t now)
{
    mv_credential fresh;
    mv_buf resp;
    mv_json *root = NULL;
    long status = 0;
    /* A user directory without a credential (a patient who registered at a kiosk and was
     * activated since) gets its first one here: cred is all zero, so it counts as expired. */
    int expired = now >= cred->expires_at;
    uint64_t life = cred->expires_at > cred->issued_at ? cred->expires_at - cred->issued_at : 0;
    if (!expired && (cred->expires_at - now) * 2 >= life)
        return MV_OK;
    mv_buf_init(&resp, 1u << 16);
    mv_err rc = mvc_simple(c, c->dep.hospital_url, "POST", "/v1/credentials", (const uint8_t *)"{}", 2,
                           "application/json", &status, &resp);
    if (rc != MV_OK)
        goto out; /* mvc_simple described it */
    if (status == 403) {
        /* The hospital's answer names the status; a pending registration is not a revocation. */
        const char *why = mv_json_parse((const char *)resp.ptr, resp.len, NULL, &root, NULL) == MV_OK
                              ? mv_json_get_str(root, "error", NULL)
                              : NULL;
        if (why && strstr(why, "pending"))
            mvc_seterr(c, "this user's registration awaits an admin's approval (no credential yet)");
        else
            mvc_seterr(c, RENEW_REFUSED);
        rc = MV_ERR_AUTH;
        goto out;
    }
    if (status != 200) {
        rc = mvc_status_err(c, "the hospital (credential renewal)", status, &resp);
        if (status == 404 || status == 401)
            rc = MV_ERR_AUTH;
        goto out;
    }
    size_t len = 0;
    const char *b64;
    if (mv_json_parse((const char *)resp.ptr, resp.len, NULL, &root, NULL) != MV_OK ||
        !(b64 = mv_json_get_str(root, "credential", &len)) || strlen(b64) != len ||
        mv_credential_decode(b64, len, &fresh) != MV_OK ||
        mv_credential_verify(&fresh, c->dep.hospital_pk, now) != MV_OK ||
        !mv_ct_eq(fresh.subject, mv_identity_sign_pk(c->id), 32)) {
        mvc_seterr(c, "the hospital renewed the credential with one that does not verify for this user");
        rc = MV_ERR_PROTOCOL;
        goto out;
    }
    if ((rc = mv_identity_save_credential(c->id, user_dir, b64)) != MV_OK) {
        mvc_seterr(c, "cannot save the renewed credential in the user directory (%s)", mv_strerror(rc));
        goto out;
    }
    *cred = fresh;
out:
    /* Still valid: a renewal that merely failed (hospital down, old hospital) is not fatal. */
    if (rc != MV_OK && rc != MV_ERR_NOMEM && !expired && !(rc == MV_ERR_AUTH && status == 403))
        rc = MV_OK;
    mv_json_free(root);
    mv_buf_clear(&resp);
    return rc;
}

mv_err mv_client_open(const char *deployment_path, const char *user_dir, const mv_client_options *opt,
                      mv_client **out)
{
    return mv_client_open_msg(deployment_path, user_dir, opt, out, NULL, 0);
}

/* Loads the user's keys from user_dir (which mv_deployment_load_msg found to hold them) into
 * c->id, describing in c->err what is wrong with them when that fails. */
static mv_err load_identity(mv_client *c, const char *user_dir)
{
    mv_err rc = mv_identity_load(user_dir, &c->id);
    if (rc == MV_ERR_AUTH)
        mvc_seterr(c, "user directory %s: its keys file is readable by others (chmod 600 %s/keys)", user_dir, user_dir);
    else if (rc != MV_OK)
        mvc_seterr(c, "user directory %s: cannot load the user's keys (%s)", user_dir, mv_strerror(rc));
    return rc;
}

mv_err mv_client_open_msg(const char *deployment_path, const char *user_dir, const mv_client_options *opt,
                          mv_client **out, char *err, size_t err_cap)
{
    mv_client *c = NULL;
    mv_credential cred;
    mv_err rc;
    if (err && err_cap)
        err[0] = 0;
    if (!deployment_path || !user_dir || !out)
        return MV_ERR_INVAL;
    *out = NULL;
    if ((rc = mv_httpc_global_init()) != MV_OK)
        return rc;
    c = mv_calloc(1, sizeof *c);
    if (!c)
        return MV_ERR_NOMEM;
    if (opt)
        c->opt = *opt;
    if (!c->opt.batch_blocks)
        c->opt.batch_blocks = 1024;
    if (!c->opt.batch_bytes)
        c->opt.batch_bytes = (size_t)64 << 20;
    if (!c->opt.threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->opt.threads = n > 0 && n < 64 ? (unsigned)n : 2;
    }
    if ((rc = mv_deployment_load_msg(deployment_path, user_dir, &c->dep, NULL, c->err, sizeof c->err)) != MV_OK ||
        (rc = load_identity(c, user_dir)) != MV_OK)
        goto fail;
    if (!c->dep.hospital_url[0] || !c->dep.storage_url[0]) {
        mvc_seterr(c, "deployment file %s: names no hospital_url or storage_url (the file `medvault up` writes has both)",
                   deployment_path);
        rc = MV_ERR_BAD_STATE;
        goto fail;
    }
    if (strlen(user_dir) >= sizeof c->user_dir) {
        rc = MV_ERR_TOO_LARGE;
        goto fail;
    }
    memcpy(c->user_dir, user_dir, strlen(user_dir) + 1);
    mvc_stepup_load(c);
    const char *b64 = mv_identity_credential(c->id);
    memset(&cred, 0, sizeof cred);
    if (b64 && (rc = mv_credential_decode(b64, strlen(b64), &cred)) != MV_OK) {
        mvc_seterr(c, "the user's credential file is malformed");
        goto fail;
    }
    if ((rc = renew_if_due(c, user_dir, &cred, (uint64_t)time(NULL))) != MV_OK)
        goto fail;
    /* Once per user directory: the first command that reaches the hospital. Only with a
     * credential this deployment's hospital signed and that is current: another would be
     * refused anyway, and each refusal is an alert at the hospital (a second one per command). */
    if (mv_identity_credential(c->id) && mv_credential_verify(&cred, c->dep.hospital_pk, (uint64_t)time(NULL)) == MV_OK)
        mvc_pre_publish(c);
    if (c->opt.department) {
        if (!mv_credential_has_department(&cred, c->opt.department)) {
            rc = MV_ERR_FORBIDDEN;
            goto fail;
        }
        snprintf(c->dept, sizeof c->dept, "%s", c->opt.department);
    } else if (cred.n_departments) {
        snprintf(c->dept, sizeof c->dept, "%s", cred.departments[0]);
    }
    c->opt.department = NULL;
    rc = c->opt.profiles_path ? mv_fhir_profiles_load(c->opt.profiles_path, &c->profiles)
                              : mv_fhir_profiles_default(&c->profiles);
    if (rc != MV_OK)
        goto fail;
    c->opt.profiles_path = NULL;
    if (!c->opt.no_cache &&
        (rc = mvc_cache_open(user_dir, mv_identity_box_sk(c->id), c->dep.group_pk, &c->cache)) != MV_OK)
        goto fail;
    *out = c;
    return MV_OK;
fail:
    if (err && err_cap && c && c->err[0])
        snprintf(err, err_cap, "%s", c->err);
    mv_client_close(c);
    return rc;
}

void mv_client_close(mv_client *c)
{
    if (!c)
        return;
    mvc_cache_close(c->cache);
    mvc_findex_close(c->findex);
    mvc_keysets_free(c->keysets);
    mvc_pre_free(c->pre);
    mv_fhir_profiles_free(c->profiles);
    mv_identity_free(c->id);
    mv_wipe(c, sizeof *c);
    mv_free(c);
}

static mv_err get_json(mv_client *c, const char *path, const char *what, mv_buf *out)
{
    long status = 0;
    mv_buf resp;
    mv_buf_init(&resp, MV_HTTPC_RESPONSE_MAX);
    mv_err rc = mvc_simple(c, c->dep.storage_url, "GET", path, NULL, 0, NULL, &status, &resp);
    if (rc == MV_OK && status != 200)
        rc = mvc_status_err(c, what, status, &resp);
    if (rc == MV_OK)
        rc = mv_buf_append(out, resp.ptr, resp.len);
    mv_buf_clear(&resp);
    return rc;
}

/* The listing without keysets (records that name no block, decision 0010): they are keys,
 * not records a user stores, reads or deletes by hand. */
static mv_err without_keysets(mv_client *c, const mv_buf *in, mv_buf *out)
{
    mv_json *root = NULL;
    mv_err rc = mv_json_parse((const char *)in->ptr, in->len, NULL, &root, NULL);
    if (rc != MV_OK || mv_json_type_of(root) != MV_JSON_OBJECT) {
        mv_json_free(root);
        mvc_seterr(c, "the storage server sent a malformed record list");
        return MV_ERR_PROTOCOL;
    }
    size_t start = out->len;
    rc = mv_buf_puts(out, "{");
    for (size_t i = 0; rc == MV_OK && i < mv_json_len(root); i++) {
        size_t kl = 0;
        const mv_json *v = NULL;
        const char *key = mv_json_key_at(root, i, &kl);
        v = mv_json_value_at(root, i);
        if ((rc = mv_buf_puts(out, i ? "," : "")) != MV_OK || (rc = mv_json_write_str(out, key, kl)) != MV_OK ||
            (rc = mv_buf_puts(out, ":")) != MV_OK)
            break;
        if (kl != 7 || memcmp(key, "records", 7) != 0 || mv_json_type_of(v) != MV_JSON_ARRAY) {
            rc = mv_json_write(out, v);
            continue;
        }
        rc = mv_buf_puts(out, "[");
        for (size_t j = 0, w = 0; rc == MV_OK && j < mv_json_len(v); j++) {
            const mv_json *e = mv_json_at(v, j);
            uint64_t blocks = 1;
            if (mv_json_get_u64(e, "blocks", &blocks) == MV_OK && blocks == 0)
                continue;
            if ((rc = mv_buf_puts(out, w++ ? "," : "")) == MV_OK)
                rc = mv_json_write(out, e);
        }
        if (rc == MV_OK)
            rc = mv_buf_puts(out, "]");
    }
    if (rc == MV_OK)
        rc = mv_buf_puts(out, "}");
    if (rc != MV_OK && out->len > start) {
        mv_wipe(out->ptr + start, out->len - start);
        out->len = start;
    }
    mv_json_free(root);
    return rc;
}

mv_err mv_client_list_json(mv_client *c, mv_buf *out)
{
    mv_buf raw;
    if (!c || !out)
        return MV_ERR_INVAL;
    mv_buf_init(&raw, out->max);
    mv_err rc = get_json(c, "/v1/records", "the storage server", &raw);
    if (rc == MV_OK)
        rc = without_keysets(c, &raw, out);
    mv_buf_clear(&raw);
    return rc;
}

mv_err mv_client_stats_json(mv_client *c, mv_buf *out)
{
    if (!c || !out)
        return MV_ERR_INVAL;
    return get_json(c, "/v1/stats", "the storage server", out);
}

mv_err mv_client_delete(mv_client *c, const uint8_t id[static MV_CLIENT_ID_BYTES])
{
    char path[64], hex[33];
    long status = 0;
    mv_buf resp;
    if (!c || !id)
        return MV_ERR_INVAL;
    mv_err rc = mv_hex_encode(hex, sizeof hex, id, MV_CLIENT_ID_BYTES);
    if (rc != MV_OK)
        return rc;
    snprintf(path, sizeof path, "/v1/records/%s", hex);
    mv_buf_init(&resp, 1u << 16);
    rc = mvc_simple(c, c->dep.storage_url, "DELETE", path, NULL, 0, NULL, &status, &resp);
    if (rc == MV_OK && status != 200)
        rc = mvc_status_err(c, "the storage server", status, &resp);
    mv_buf_clear(&resp);
    return rc;
}

mv_err mv_client_user_add(const char *deployment_path, const char *admin_dir, const char *name, const char *role,
                          const char *const *departments, size_t n_departments, const char *new_dir)
{
    return mv_client_user_add_msg(deployment_path, admin_dir, name, role, departments, n_departments, new_dir, NULL, 0);
}

#define SAY(...) (err && err_cap ? (void)snprintf(err, err_cap, __VA_ARGS__) : (void)0)

mv_err mv_client_user_add_msg(const char *deployment_path, const char *admin_dir, const char *name, const char *role,
                              const char *const *departments, size_t n_departments, const char *new_dir, char *err,
                              size_t err_cap)
{
    mv_client *c = NULL;
    mv_identity *nu = NULL;
    mv_json *root = NULL;
    mv_buf body, resp;
    long status = 0;
    int registered = 0, dir_existed = 0;
    char keys[4096];
    mv_err rc;
    if (err && err_cap)
        err[0] = 0;
    if (!deployment_path || !admin_dir || !name || !role || !new_dir || (n_departments && !departments))
        return MV_ERR_INVAL;
    /* What can be checked here is checked before anything is created: a refused registration
     * must not leave a directory behind that the retry would find "already holding keys". */
    mv_role r = mv_role_of(role);
    if (r != MV_ROLE_ADMIN && r != MV_ROLE_DOCTOR && r != MV_ROLE_PATIENT) {
        SAY("the role must be doctor, patient or admin (not \"%.32s\")", role);
        return MV_ERR_INVAL;
    }
    if (r == MV_ROLE_DOCTOR && n_departments == 0) {
        SAY("a doctor needs at least one department");
        return MV_ERR_INVAL;
    }
    if ((rc = mv_path_join(keys, sizeof keys, new_dir, "keys")) != MV_OK)
        return rc;
    if (mv_file_exists(keys)) {
        SAY("%s already holds keys; refusing to overwrite them (give another --out)", new_dir);
        return MV_ERR_EXISTS;
    }
    mv_buf_init(&body, 1u << 16);
    mv_buf_init(&resp, 1u << 16);
    mv_client_options o = {.no_cache = 1};
    if ((rc = mv_client_open_msg(deployment_path, admin_dir, &o, &c, err, err_cap)) != MV_OK)
        goto out;
    dir_existed = mv_file_exists(new_dir);
    if ((rc = mv_identity_create(new_dir, &nu)) != MV_OK) {
        SAY("cannot create keys in %s (%s)", new_dir, mv_strerror(rc));
        goto out;
    }
    mv_jw w;
    mv_jw_init(&w, &body);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "name", name);
    mv_jw_kstr(&w, "role", role);
    mv_jw_key(&w, "departments");
    mv_jw_arr(&w);
    for (size_t i = 0; i < n_departments; i++)
        mv_jw_str(&w, departments[i]);
    mv_jw_arr_end(&w);
    mv_jw_khex(&w, "sign_public_key", mv_identity_sign_pk(nu), 32);
    mv_jw_khex(&w, "box_public_key", mv_identity_box_pk(nu), 32);
    mv_jw_obj_end(&w);
    if ((rc = mv_jw_finish(&w)) != MV_OK)
        goto out;
    if ((rc = mvc_simple(c, c->dep.hospital_url, "POST", "/v1/users", body.ptr, body.len, "application/json", &status,
                         &resp)) != MV_OK) {
        SAY("no answer from the hospital at %s (%s)", c->dep.hospital_url, mv_client_last_error(c));
        goto out;
    }
    if (status != 201) {
        rc = mvc_status_err(c, "the hospital", status, &resp);
        if (rc == MV_ERR_PARSE)
            rc = MV_ERR_INVAL;
        SAY("%s", mv_client_last_error(c));
        goto out;
    }
    registered = 1;
    size_t cl = 0;
    const char *cred;
    if ((rc = mv_json_parse((const char *)resp.ptr, resp.len, NULL, &root, NULL)) != MV_OK ||
        !(cred = mv_json_get_str(root, "credential", &cl))) {
        rc = MV_ERR_PROTOCOL;
        SAY("the hospital registered the key in %s but sent no credential; the first command run with --user %s "
            "fetches it", new_dir, new_dir);
        goto out;
    }
    if ((rc = mv_identity_save_credential(nu, new_dir, cred)) == MV_OK)
        rc = mv_identity_pin_hospital(new_dir, c->dep.hospital_pk); /* the admin's deployment passed its pin */
    if (rc != MV_OK)
        SAY("registered, but cannot save the credential and hospital pin in %s (%s)", new_dir, mv_strerror(rc));
    if (rc == MV_OK) {
        /* The new directory's first client publishes its recipient key for sharing through
         * the clouds (docs/pre.md 7.1), so that an owner can delegate to this user before she
         * ever runs a command. Best effort: a failure here is retried by her first command. */
        mv_client *nc = NULL;
        if (mv_client_open(deployment_path, new_dir, NULL, &nc) == MV_OK)
            mv_client_close(nc);
    }
out:
    /* Refused before the hospital took the key: nothing of this attempt stays. Once it took
     * the key, the directory is the user's and stays whatever happened after. */
    if (rc != MV_OK && nu && !registered)
        (void)!mv_identity_remove(new_dir, !dir_existed);
    mv_json_free(root);
    mv_buf_clear(&body);
    mv_buf_clear(&resp);
    mv_identity_free(nu);
    mv_client_close(c);
    return rc;
}

/* ---------- a small worker pool for CPU-bound steps ---------- */

struct par {
    mvc_task_fn fn;
    void *ctx;
    size_t n;
    size_t next;
    mv_err first;
    pthread_mutex_t lock;
};

static void *par_worker(void *arg)
{
    struct par *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        size_t i = p->next++;
        int stop = p->first != MV_OK;
        pthread_mutex_unlock(&p->lock);
        if (i >= p->n || stop)
            return NULL;
        mv_err rc = p->fn(p->ctx, i);
        if (rc != MV_OK) {
            pthread_mutex_lock(&p->lock);
            if (p->first == MV_OK)
                p->first = rc;
            pthread_mutex_unlock(&p->lock);
        }
    }
}

mv_err mvc_parallel(unsigned threads, size_t n, mvc_task_fn fn, void *ctx)
{
    struct par p = {.fn = fn, .ctx = ctx, .n = n, .next = 0, .first = MV_OK};
    pthread_t tids[16];
    size_t started = 0;
    if (threads > 16)
        threads = 16;
    if (threads <= 1 || n <= 1) {
        for (size_t i = 0; i < n; i++) {
            mv_err rc = fn(ctx, i);
            if (rc != MV_OK)
                return rc;
        }
        return MV_OK;
    }
    pthread_mutex_init(&p.lock, NULL);
    for (unsigned t = 1; t < threads && t < n; t++)
        if (pthread_create(&tids[started], NULL, par_worker, &p) == 0)
            started++;
    par_worker(&p);
    for (size_t t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    pthread_mutex_destroy(&p.lock);
    return p.first;
}

mv_err mv_client_hospital(mv_client *c, const char *method, const char *path, const uint8_t *body, size_t len,
                          long *status, mv_buf *out)
{
    if (!c || !method || !path || !status || !out || (len && !body))
        return MV_ERR_INVAL;
    *status = 0;
    mv_err rc = mvc_simple(c, c->dep.hospital_url, method, path, body, len, len ? "application/json" : NULL, status, out);
    if (rc == MV_OK && *status >= 400)
        (void)!mvc_status_err(c, "the hospital", *status, out);
    return rc;
}

void mv_client_whoami(const mv_client *c, mv_credential *cred, uint8_t box_pk[32])
{
    if (!c)
        return;
    const char *b64 = mv_identity_credential(c->id);
    if (cred && (!b64 || mv_credential_decode(b64, strlen(b64), cred) != MV_OK))
        memset(cred, 0, sizeof *cred);
    if (box_pk)
        memcpy(box_pk, mv_identity_box_pk(c->id), 32);
}

mv_err mv_client_hospital_url(const mv_client *c, mv_buf *out)
{
    if (!c || !out)
        return MV_ERR_INVAL;
    size_t l = strlen(c->dep.hospital_url);
    while (l && c->dep.hospital_url[l - 1] == '/')
        l--;
    return mv_buf_append(out, c->dep.hospital_url, l);
}
