/* cache.c - the user's local OPRF cache. Entries are keyed by HMAC(k_index, group key ||
 * fingerprint) and hold the MLE key sealed with AES-256-GCM under k_seal (both derived from
 * the user's X25519 secret), so the file reveals neither fingerprints nor keys. */
#include "client_internal.h"

#include <lmdb.h>
#include <string.h>

#include "medvault/mv_aead.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_file.h"
#include "medvault/mv_hkdf.h"
#include "medvault/mv_hmac.h"
#include "medvault/mv_mem.h"

#define ENTRY_BYTES (MV_AEAD_NONCE_BYTES + 32 + MV_AEAD_TAG_BYTES)

struct mvc_cache {
    MDB_env *env;
    MDB_dbi dbi;
    uint8_t *keys; /* secure memory: k_index (32) | k_seal (32) | group key (32) */
};

static mv_err lookup_key(const mvc_cache *k, const uint8_t fp[32], uint8_t out[32])
{
    uint8_t msg[64];
    memcpy(msg, k->keys + 64, 32);
    memcpy(msg + 32, fp, 32);
    return mv_hmac_sha256(out, k->keys, 32, msg, sizeof msg);
}

mv_err mvc_cache_open(const char *user_dir, const uint8_t box_sk[32], const uint8_t group_pk[32], mvc_cache **out)
{
    char path[4096];
    mv_err rc;
    MDB_txn *txn = NULL;
    mvc_cache *k = mv_calloc(1, sizeof *k);
    if (!k)
        return MV_ERR_NOMEM;
    k->keys = mv_secure_alloc(96);
    if (!k->keys) {
        rc = MV_ERR_NOMEM;
        goto fail;
    }
    static const char info[] = "medvault client cache v1";
    if ((rc = mv_hkdf_sha256(k->keys, 64, NULL, 0, box_sk, 32, (const uint8_t *)info, sizeof info - 1)) != MV_OK)
        goto fail;
    memcpy(k->keys + 64, group_pk, 32);
    if ((rc = mv_path_join(path, sizeof path, user_dir, "cache")) != MV_OK || (rc = mv_file_mkdir(path, 0700)) != MV_OK)
        goto fail;
    rc = MV_ERR_IO;
    if (mdb_env_create(&k->env) != 0)
        goto fail;
    if (mdb_env_set_mapsize(k->env, (size_t)4 << 30) != 0 || mdb_env_open(k->env, path, MDB_NOTLS, 0600) != 0 ||
        mdb_txn_begin(k->env, NULL, 0, &txn) != 0 || mdb_dbi_open(txn, NULL, 0, &k->dbi) != 0 ||
        mdb_txn_commit(txn) != 0) {
        txn = NULL;
        goto fail;
    }
    *out = k;
    return MV_OK;
fail:
    if (txn)
        mdb_txn_abort(txn);
    mvc_cache_close(k);
    return rc;
}

void mvc_cache_close(mvc_cache *k)
{
    if (!k)
        return;
    if (k->env)
        mdb_env_close(k->env);
    mv_secure_free(k->keys);
    mv_free(k);
}

int mvc_cache_get(mvc_cache *k, const uint8_t fp[32], uint8_t key[32])
{
    uint8_t lk[32];
    MDB_txn *txn = NULL;
    int hit = 0;
    if (!k || lookup_key(k, fp, lk) != MV_OK)
        return 0;
    if (mdb_txn_begin(k->env, NULL, MDB_RDONLY, &txn) != 0)
        return 0;
    MDB_val mk = {32, lk}, mv;
    if (mdb_get(txn, k->dbi, &mk, &mv) == 0 && mv.mv_size == ENTRY_BYTES) {
        const uint8_t *e = mv.mv_data;
        hit = mv_aead_decrypt(key, e + MV_AEAD_NONCE_BYTES, 32 + MV_AEAD_TAG_BYTES, lk, 32, e, k->keys + 32) == MV_OK;
    }
    mdb_txn_abort(txn);
    mv_wipe(lk, sizeof lk);
    if (!hit)
        mv_wipe(key, 32);
    return hit;
}

mv_err mvc_cache_put(mvc_cache *k, const uint8_t *fps, const uint8_t *keys, size_t n)
{
    MDB_txn *txn = NULL;
    mv_err rc = MV_OK;
    if (!k || n == 0)
        return MV_OK;
    if (mdb_txn_begin(k->env, NULL, 0, &txn) != 0)
        return MV_ERR_IO;
    for (size_t i = 0; i < n && rc == MV_OK; i++) {
        uint8_t lk[32], e[ENTRY_BYTES];
        if ((rc = lookup_key(k, fps + 32 * i, lk)) != MV_OK || (rc = mv_random_bytes(e, MV_AEAD_NONCE_BYTES)) != MV_OK ||
            (rc = mv_aead_encrypt(e + MV_AEAD_NONCE_BYTES, keys + 32 * i, 32, lk, 32, e, k->keys + 32)) != MV_OK)
            break;
        MDB_val mk = {32, lk}, mv = {sizeof e, e};
        if (mdb_put(txn, k->dbi, &mk, &mv, 0) != 0)
            rc = MV_ERR_IO;
        mv_wipe(lk, sizeof lk);
    }
    if (rc == MV_OK) {
        if (mdb_txn_commit(txn) != 0)
            rc = MV_ERR_IO;
    } else {
        mdb_txn_abort(txn);
    }
    return rc;
}
