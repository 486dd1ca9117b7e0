/* identity.c - principal key directories: secrets only in 0600 files and locked memory; the
 * hospital key a user registered with is pinned next to them and never silently replaced. */
#include "medvault/mv_identity.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "medvault/mv_box.h"
#include "medvault/mv_buf.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_credential.h"
#include "medvault/mv_file.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_sig.h"

struct secrets {
    uint8_t sign_seed[32];
    uint8_t sign_sk[64];
    uint8_t box_sk[32];
};

struct mv_identity {
    struct secrets *sec; /* mv_secure_alloc */
    uint8_t sign_pk[32];
    uint8_t box_pk[32];
    char *credential; /* NULL if none */
};

void mv_identity_free(mv_identity *id)
{
    if (!id)
        return;
    if (id->sec)
        mv_secure_free(id->sec);
    if (id->credential) {
        mv_wipe(id->credential, strlen(id->credential));
        mv_free(id->credential);
    }
    mv_free(id);
}

#define PIN_FILE "hospital.pin" /* the hospital key pin (below) */

static mv_err identity_alloc(mv_identity **out)
{
    mv_identity *id = mv_calloc(1, sizeof *id);
    if (!id)
        return MV_ERR_NOMEM;
    id->sec = mv_secure_alloc(sizeof *id->sec);
    if (!id->sec) {
        mv_free(id);
        return MV_ERR_NOMEM;
    }
    *out = id;
    return MV_OK;
}

/* Closes the one object w writes and ends the file with a newline. */
static mv_err end_file(mv_jw *w, mv_buf *b)
{
    mv_jw_obj_end(w);
    mv_err rc = mv_jw_finish(w);
    return rc == MV_OK ? mv_buf_puts(b, "\n") : rc;
}

static mv_err write_files(const char *dir, const mv_identity *id)
{
    char path[4096];
    mv_buf b;
    mv_jw w;
    mv_err rc;
    mv_buf_init(&b, 4096);
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_ku64(&w, "version", 1);
    mv_jw_khex(&w, "sign_seed", id->sec->sign_seed, 32);
    mv_jw_khex(&w, "box_secret", id->sec->box_sk, 32);
    mv_jw_khex(&w, "box_public", id->box_pk, 32);
    if ((rc = end_file(&w, &b)) != MV_OK)
        goto out;
    if ((rc = mv_path_join(path, sizeof path, dir, "keys")) != MV_OK ||
        (rc = mv_file_write_atomic(path, b.ptr, b.len, 0600)) != MV_OK)
        goto out;
    mv_buf_clear(&b);
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_khex(&w, "sign_public_key", id->sign_pk, 32);
    mv_jw_khex(&w, "box_public_key", id->box_pk, 32);
    if ((rc = end_file(&w, &b)) != MV_OK)
        goto out;
    if ((rc = mv_path_join(path, sizeof path, dir, "public.json")) != MV_OK ||
        (rc = mv_file_write_atomic(path, b.ptr, b.len, 0644)) != MV_OK)
        goto out;
out:
    mv_buf_clear(&b);
    return rc;
}

mv_err mv_identity_create(const char *dir, mv_identity **out)
{
    char path[4096];
    mv_identity *id = NULL;
    mv_err rc;
    if (!dir || !out)
        return MV_ERR_INVAL;
    *out = NULL;
    if ((rc = mv_path_join(path, sizeof path, dir, "keys")) != MV_OK)
        return rc;
    if (mv_file_exists(path))
        return MV_ERR_EXISTS;
    if ((rc = mv_file_mkdir(dir, 0700)) != MV_OK)
        return rc;
    if ((rc = identity_alloc(&id)) != MV_OK)
        return rc;
    if ((rc = mv_sign_keypair(id->sign_pk, id->sec->sign_sk)) != MV_OK)
        goto out;
    memcpy(id->sec->sign_seed, id->sec->sign_sk, 32); /* Ed25519 sk = seed || pk */
    if ((rc = mv_box_keypair(id->box_pk, id->sec->box_sk)) != MV_OK)
        goto out;
    if ((rc = write_files(dir, id)) != MV_OK)
        goto out;
    *out = id;
    id = NULL;
out:
    mv_identity_free(id);
    return rc;
}

mv_err mv_identity_remove(const char *dir, int remove_dir)
{
    static const char *const files[] = {"keys", "public.json", "credential", PIN_FILE};
    char path[4096];
    mv_err rc = MV_OK;
    if (!dir)
        return MV_ERR_INVAL;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        mv_err prc = mv_path_join(path, sizeof path, dir, files[i]);
        if (prc != MV_OK)
            return prc;
        if (unlink(path) != 0 && errno != ENOENT)
            rc = MV_ERR_IO;
    }
    /* rmdir refuses a directory that still holds anything: only ours goes. */
    if (rc == MV_OK && remove_dir && rmdir(dir) != 0 && errno != ENOTEMPTY && errno != EEXIST)
        rc = MV_ERR_IO;
    return rc;
}

mv_err mv_identity_load(const char *dir, mv_identity **out)
{
    char path[4096];
    mv_identity *id = NULL;
    mv_json *root = NULL;
    mv_buf b;
    struct stat st;
    mv_err rc;
    if (!dir || !out)
        return MV_ERR_INVAL;
    *out = NULL;
    mv_buf_init(&b, 64 * 1024);
    if ((rc = mv_path_join(path, sizeof path, dir, "keys")) != MV_OK)
        goto out;
    if (stat(path, &st) != 0) {
        rc = MV_ERR_NOT_FOUND;
        goto out;
    }
    if (st.st_mode & 0077) {
        rc = MV_ERR_AUTH;
        goto out;
    }
    if ((rc = mv_file_read(path, 64 * 1024, &b)) != MV_OK)
        goto out;
    if ((rc = mv_json_parse((const char *)b.ptr, b.len, NULL, &root, NULL)) != MV_OK)
        goto out;
    if ((rc = identity_alloc(&id)) != MV_OK)
        goto out;
    if (mv_json_get_hex(root, "sign_seed", id->sec->sign_seed, 32) != MV_OK ||
        mv_json_get_hex(root, "box_secret", id->sec->box_sk, 32) != MV_OK ||
        mv_json_get_hex(root, "box_public", id->box_pk, 32) != MV_OK) {
        rc = MV_ERR_PARSE;
        goto out;
    }
    if ((rc = mv_sign_seed_keypair(id->sign_pk, id->sec->sign_sk, id->sec->sign_seed)) != MV_OK)
        goto out;
    mv_buf_clear(&b);
    if ((rc = mv_path_join(path, sizeof path, dir, "credential")) != MV_OK)
        goto out;
    rc = mv_file_read(path, MV_CRED_B64_MAX, &b);
    if (rc == MV_OK) {
        while (b.len && (b.ptr[b.len - 1] == '\n' || b.ptr[b.len - 1] == '\r' || b.ptr[b.len - 1] == ' '))
            b.ptr[--b.len] = 0;
        id->credential = mv_strdup(b.len ? (const char *)b.ptr : "");
        if (!id->credential) {
            rc = MV_ERR_NOMEM;
            goto out;
        }
    } else if (rc != MV_ERR_NOT_FOUND) {
        goto out;
    }
    rc = MV_OK;
    *out = id;
    id = NULL;
out:
    mv_json_free(root);
    mv_buf_clear(&b);
    mv_identity_free(id);
    return rc;
}

const uint8_t *mv_identity_sign_pk(const mv_identity *id) { return id->sign_pk; }
const uint8_t *mv_identity_sign_sk(const mv_identity *id) { return id->sec->sign_sk; }
const uint8_t *mv_identity_box_pk(const mv_identity *id) { return id->box_pk; }
const uint8_t *mv_identity_box_sk(const mv_identity *id) { return id->sec->box_sk; }
const char *mv_identity_credential(const mv_identity *id) { return id->credential; }

mv_err mv_identity_save_credential(mv_identity *id, const char *dir, const char *b64)
{
    char path[4096];
    mv_credential cred;
    mv_err rc;
    size_t len = strlen(b64);
    while (len && (b64[len - 1] == '\n' || b64[len - 1] == '\r' || b64[len - 1] == ' '))
        len--;
    if ((rc = mv_credential_decode(b64, len, &cred)) != MV_OK)
        return rc;
    if (!mv_ct_eq(cred.subject, id->sign_pk, 32))
        return MV_ERR_AUTH;
    char *copy = mv_malloc(len + 2);
    if (!copy)
        return MV_ERR_NOMEM;
    memcpy(copy, b64, len);
    copy[len] = '\n';
    copy[len + 1] = 0;
    if ((rc = mv_path_join(path, sizeof path, dir, "credential")) == MV_OK)
        rc = mv_file_write_atomic(path, copy, len + 1, 0600);
    if (rc == MV_OK) {
        copy[len] = 0;
        if (id->credential)
            mv_free(id->credential);
        id->credential = copy;
    } else {
        mv_free(copy);
    }
    return rc;
}

/* ---------- the hospital key pin ---------- */

#define PIN_MAX 256

static mv_err keys_present(const char *dir)
{
    char path[4096];
    mv_err rc = mv_path_join(path, sizeof path, dir, "keys");
    if (rc != MV_OK)
        return rc;
    return mv_file_exists(path) ? MV_OK : MV_ERR_NOT_FOUND;
}

/* Reads dir/hospital.pin. MV_ERR_NOT_FOUND if there is none, MV_ERR_PARSE if malformed. */
static mv_err read_pin(const char *dir, uint8_t pk[32])
{
    char path[4096];
    mv_json *root = NULL;
    mv_buf b;
    mv_err rc;
    mv_buf_init(&b, PIN_MAX);
    if ((rc = mv_path_join(path, sizeof path, dir, PIN_FILE)) != MV_OK)
        goto out;
    if (!mv_file_exists(path)) {
        rc = MV_ERR_NOT_FOUND;
        goto out;
    }
    if ((rc = mv_file_read(path, PIN_MAX, &b)) != MV_OK)
        goto out;
    if (mv_json_parse((const char *)b.ptr, b.len, NULL, &root, NULL) != MV_OK ||
        mv_json_get_hex(root, "hospital_public_key", pk, 32) != MV_OK)
        rc = MV_ERR_PARSE;
out:
    mv_json_free(root);
    mv_buf_clear(&b);
    return rc;
}

static mv_err write_pin(const char *dir, const uint8_t pk[32])
{
    char path[4096];
    mv_buf b;
    mv_err rc;
    mv_jw w;
    mv_buf_init(&b, PIN_MAX);
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_khex(&w, "hospital_public_key", pk, 32);
    if ((rc = end_file(&w, &b)) == MV_OK && (rc = mv_path_join(path, sizeof path, dir, PIN_FILE)) == MV_OK)
        rc = mv_file_write_atomic(path, b.ptr, b.len, 0644);
    mv_buf_clear(&b);
    return rc;
}

/* MV_OK if dir (which must hold keys) pins pk or pins nothing yet (*absent = 1), MV_ERR_AUTH
 * if it pins another key; the errors of keys_present and read_pin otherwise. */
static mv_err pin_compare(const char *dir, const uint8_t *pk, int *absent)
{
    uint8_t pinned[32];
    mv_err rc;
    *absent = 0;
    if (!dir || !pk)
        return MV_ERR_INVAL;
    if ((rc = keys_present(dir)) != MV_OK)
        return rc;
    if ((rc = read_pin(dir, pinned)) == MV_ERR_NOT_FOUND) {
        *absent = 1;
        return MV_OK;
    }
    if (rc != MV_OK)
        return rc;
    return mv_ct_eq(pinned, pk, 32) ? MV_OK : MV_ERR_AUTH;
}

mv_err mv_identity_pin_hospital(const char *dir, const uint8_t hospital_pk[static 32])
{
    int absent = 0;
    mv_err rc = pin_compare(dir, hospital_pk, &absent);
    return rc == MV_OK && absent ? write_pin(dir, hospital_pk) : rc;
}

mv_err mv_identity_check_hospital(const char *dir, const uint8_t hospital_pk[static 32], int *pinned_now)
{
    char path[4096];
    mv_credential cred;
    mv_buf b;
    int absent = 0;
    if (pinned_now)
        *pinned_now = 0;
    mv_err rc = pin_compare(dir, hospital_pk, &absent);
    if (rc != MV_OK || !absent)
        return rc;
    /* No pin: a directory made before pins existed (or by hand). Trust on first use, but
     * not blindly: a credential in the directory names the hospital that really registered
     * this user, so a deployment whose key did not sign it is refused rather than pinned. */
    mv_buf_init(&b, MV_CRED_B64_MAX + 8);
    if ((rc = mv_path_join(path, sizeof path, dir, "credential")) != MV_OK)
        goto out;
    rc = mv_file_exists(path) ? mv_file_read(path, MV_CRED_B64_MAX + 8, &b) : MV_ERR_NOT_FOUND;
    if (rc == MV_OK) {
        while (b.len && (b.ptr[b.len - 1] == '\n' || b.ptr[b.len - 1] == '\r' || b.ptr[b.len - 1] == ' '))
            b.len--;
        if ((rc = mv_credential_decode((const char *)b.ptr, b.len, &cred)) != MV_OK)
            goto out;
        /* Checked at its own issue time: an expired credential still names its issuer. */
        if ((rc = mv_credential_verify(&cred, hospital_pk, cred.issued_at)) != MV_OK)
            goto out; /* not this hospital's (or not checkable): nothing is pinned */
    } else if (rc != MV_ERR_NOT_FOUND) {
        goto out;
    }
    if ((rc = write_pin(dir, hospital_pk)) == MV_OK && pinned_now)
        *pinned_now = 1;
out:
    mv_buf_clear(&b);
    return rc;
}
