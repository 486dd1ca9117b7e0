/* stepup.c - step-up in the client: a grant is stored and sent only after it verifies under the
 * deployment's hospital key for this very user, and once the storage server has asked for
 * step-up the client sends no storage read until the user has stepped up. */
#include "client_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_file.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_stepup.h"

#define GRANT_FILE "stepup.grant"
#define PENDING_FILE "stepup.pending"

static mv_err user_path(const mv_client *c, const char *name, char *out, size_t cap)
{
    return mv_path_join(out, cap, c->user_dir, name);
}

/* Verifies b64[0..len) as a grant for this user now; fills *g. */
static mv_err grant_check(const mv_client *c, const char *b64, size_t len, mv_stepup_grant *g)
{
    mv_err rc = mv_stepup_grant_verify_b64(b64, len, c->dep.hospital_pk, (uint64_t)time(NULL), g);
    if (rc == MV_OK && !mv_ct_eq(g->subject, mv_identity_sign_pk(c->id), 32))
        rc = MV_ERR_VERIFY;
    return rc;
}

void mvc_stepup_load(mv_client *c)
{
    char path[4096];
    mv_buf b;
    mv_stepup_grant g;
    c->stepup_hdr[0] = 0;
    c->stepup_pending = 0;
    mv_buf_init(&b, 1024);
    if (user_path(c, GRANT_FILE, path, sizeof path) == MV_OK && mv_file_exists(path) &&
        mv_file_read(path, 1024, &b) == MV_OK) {
        size_t l = b.len;
        while (l && (b.ptr[l - 1] == '\n' || b.ptr[l - 1] == '\r'))
            l--;
        if (grant_check(c, (const char *)b.ptr, l, &g) == MV_OK)
            snprintf(c->stepup_hdr, sizeof c->stepup_hdr, MV_STEPUP_HEADER ": %.*s", (int)l, (const char *)b.ptr);
    }
    mv_buf_clear(&b);
    if (!c->stepup_hdr[0] && user_path(c, PENDING_FILE, path, sizeof path) == MV_OK && mv_file_exists(path))
        c->stepup_pending = 1;
}

int mv_client_stepup_pending(const mv_client *c)
{
    return c && c->stepup_pending;
}

void mvc_stepup_demanded(mv_client *c)
{
    char path[4096];
    static const char note[] = "the storage server asked for step-up\n";
    c->stepup_pending = 1;
    c->stepup_demanded = 1;
    c->stepup_hdr[0] = 0;
    if (user_path(c, PENDING_FILE, path, sizeof path) == MV_OK)
        (void)!mv_file_write_atomic(path, note, sizeof note - 1, 0600);
}

int mvc_stepup_is_read(const char *method, const char *url, const char *storage_url)
{
    size_t n = strlen(storage_url);
    if (strncmp(url, storage_url, n) != 0)
        return 0;
    const char *path = url + n;
    if (!method || !strcmp(method, "GET"))
        return 1;
    return !strcmp(method, "POST") && (!strncmp(path, "/v1/records/get", 15) || !strncmp(path, "/v1/blocks/get", 14));
}

/* Stores a verified grant and forgets the pending demand. */
static mv_err grant_save(mv_client *c, const char *b64, size_t len, uint64_t *expires)
{
    char path[4096], line[MV_STEPUP_GRANT_B64_LEN + 2];
    mv_stepup_grant g;
    mv_err rc;
    if (len > MV_STEPUP_GRANT_B64_LEN || (rc = grant_check(c, b64, len, &g)) != MV_OK) {
        mvc_seterr(c, "the hospital's step-up grant does not verify for this user");
        return MV_ERR_PROTOCOL;
    }
    memcpy(line, b64, len);
    line[len] = '\n';
    if ((rc = user_path(c, GRANT_FILE, path, sizeof path)) != MV_OK ||
        (rc = mv_file_write_atomic(path, line, len + 1, 0600)) != MV_OK) {
        mvc_seterr(c, "cannot save the step-up grant in the user directory (%s)", mv_strerror(rc));
        return rc;
    }
    if (user_path(c, PENDING_FILE, path, sizeof path) == MV_OK)
        (void)unlink(path);
    snprintf(c->stepup_hdr, sizeof c->stepup_hdr, MV_STEPUP_HEADER ": %.*s", (int)len, b64);
    c->stepup_pending = 0;
    c->stepup_demanded = 0;
    if (expires)
        *expires = g.expires;
    return MV_OK;
}

/* Takes the "grant" of a 200 answer. */
static mv_err grant_from_answer(mv_client *c, const mv_buf *resp, uint64_t *expires)
{
    mv_json *root = NULL;
    size_t len = 0;
    const char *b64 = NULL;
    mv_err rc = MV_ERR_PROTOCOL;
    if (mv_json_parse((const char *)resp->ptr, resp->len, NULL, &root, NULL) == MV_OK &&
        (b64 = mv_json_get_str(root, "grant", &len)) != NULL)
        rc = grant_save(c, b64, len, expires);
    else
        mvc_seterr(c, "the hospital's step-up answer carries no grant");
    mv_json_free(root);
    return rc;
}

mv_err mv_client_stepup_device(mv_client *c, const char *device_dir, uint64_t *expires)
{
    mv_identity *dev = NULL;
    uint8_t nonce[MV_STEPUP_NONCE_BYTES], sig[64];
    char pk_hex[65], nonce_hex[33], sig_hex[129];
    mv_buf body, resp;
    long status = 0;
    mv_err rc;
    if (!c || !device_dir)
        return MV_ERR_INVAL;
    mv_buf_init(&body, 1024);
    mv_buf_init(&resp, 1u << 16);
    uint64_t now = (uint64_t)time(NULL);
    if ((rc = mv_identity_load(device_dir, &dev)) != MV_OK) {
        mvc_seterr(c, "cannot load the device key from %s (%s)", device_dir, mv_strerror(rc));
        goto out;
    }
    if ((rc = mv_random_bytes(nonce, sizeof nonce)) != MV_OK ||
        (rc = mv_stepup_proof_sign(sig, mv_identity_sign_sk(dev), mv_identity_sign_pk(c->id), now, nonce)) != MV_OK ||
        (rc = mv_hex_encode(pk_hex, sizeof pk_hex, mv_identity_sign_pk(dev), 32)) != MV_OK ||
        (rc = mv_hex_encode(nonce_hex, sizeof nonce_hex, nonce, sizeof nonce)) != MV_OK ||
        (rc = mv_hex_encode(sig_hex, sizeof sig_hex, sig, 64)) != MV_OK ||
        (rc = mv_buf_printf(&body, "{\"device_pk\":\"%s\",\"time\":%llu,\"nonce\":\"%s\",\"signature\":\"%s\"}", pk_hex,
                            (unsigned long long)now, nonce_hex, sig_hex)) != MV_OK)
        goto out;
    if ((rc = mv_client_hospital(c, "POST", "/v1/stepup", body.ptr, body.len, &status, &resp)) != MV_OK)
        goto out;
    if (status != 200) {
        rc = mvc_status_err(c, "the hospital (step-up)", status, &resp);
        goto out;
    }
    rc = grant_from_answer(c, &resp, expires);
out:
    mv_identity_free(dev);
    mv_buf_clear(&body);
    mv_buf_clear(&resp);
    return rc;
}

mv_err mv_client_stepup_request(mv_client *c, int64_t *request_id)
{
    mv_buf resp;
    mv_json *root = NULL;
    long status = 0;
    uint64_t id = 0;
    static const char body[] = "{\"approval\":\"request\"}";
    if (!c || !request_id)
        return MV_ERR_INVAL;
    mv_buf_init(&resp, 1u << 16);
    mv_err rc = mv_client_hospital(c, "POST", "/v1/stepup", (const uint8_t *)body, sizeof body - 1, &status, &resp);
    if (rc == MV_OK && status != 202)
        rc = mvc_status_err(c, "the hospital (step-up request)", status, &resp);
    if (rc == MV_OK && (mv_json_parse((const char *)resp.ptr, resp.len, NULL, &root, NULL) != MV_OK ||
                        mv_json_get_u64(root, "request", &id) != MV_OK || id == 0 || id > INT64_MAX)) {
        mvc_seterr(c, "the hospital's step-up answer carries no request id");
        rc = MV_ERR_PROTOCOL;
    }
    if (rc == MV_OK)
        *request_id = (int64_t)id;
    mv_json_free(root);
    mv_buf_clear(&resp);
    return rc;
}

mv_err mv_client_stepup_poll(mv_client *c, int64_t request_id, int *approved, uint64_t *expires)
{
    char path[64];
    mv_buf resp;
    long status = 0;
    if (!c || !approved || request_id <= 0)
        return MV_ERR_INVAL;
    *approved = 0;
    snprintf(path, sizeof path, "/v1/stepup/%lld", (long long)request_id);
    mv_buf_init(&resp, 1u << 16);
    mv_err rc = mv_client_hospital(c, "GET", path, NULL, 0, &status, &resp);
    if (rc == MV_OK) {
        if (status == 200) {
            if ((rc = grant_from_answer(c, &resp, expires)) == MV_OK)
                *approved = 1;
        } else if (status != 202) {
            rc = mvc_status_err(c, "the hospital (step-up request)", status, &resp);
        }
    }
    mv_buf_clear(&resp);
    return rc;
}
