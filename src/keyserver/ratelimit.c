/* ratelimit.c - DupLESS-style online rate limiting: every evaluated element costs a token,
 * and bucket state is committed to LMDB before the answer, so a restart does not refill it. */
#include "ratelimit.h"

#include <lmdb.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "medvault/mv_file.h"
#include "medvault/mv_mem.h"

struct mv_ratelimit {
    MDB_env *env;
    MDB_dbi dbi;
    double rate;
    double burst;
};

struct bucket {
    double tokens;
    double updated; /* unix seconds */
};

void mv_ratelimit_close(mv_ratelimit *rl)
{
    if (!rl)
        return;
    if (rl->env) {
        mdb_env_sync(rl->env, 1);
        mdb_env_close(rl->env);
    }
    mv_free(rl);
}

mv_err mv_ratelimit_open(const char *dir, double rate, double burst, mv_ratelimit **out)
{
    char path[4096];
    mv_ratelimit *rl = NULL;
    MDB_txn *txn = NULL;
    mv_err rc = MV_ERR_IO;
    if (!dir || !out || !(rate > 0) || !(burst >= 1))
        return MV_ERR_INVAL;
    *out = NULL;
    if ((rc = mv_path_join(path, sizeof path, dir, "ratelimit")) != MV_OK)
        return rc;
    if ((rc = mv_file_mkdir(path, 0700)) != MV_OK)
        return rc;
    rl = mv_calloc(1, sizeof *rl);
    if (!rl)
        return MV_ERR_NOMEM;
    rl->rate = rate;
    rl->burst = burst;
    rc = MV_ERR_IO;
    if (mdb_env_create(&rl->env) != 0) {
        rl->env = NULL;
        goto out;
    }
    /* 64 MiB map: 32-byte keys and 16-byte values, far beyond any hospital's client count.
     * MDB_NOSYNC: a commit reaches the page cache (survives kill -9); mv_ratelimit_sync
     * flushes it for power loss, periodically. */
    if (mdb_env_set_mapsize(rl->env, 64u << 20) != 0 ||
        mdb_env_open(rl->env, path, MDB_NOSYNC | MDB_NOTLS, 0600) != 0)
        goto out;
    if (mdb_txn_begin(rl->env, NULL, 0, &txn) != 0)
        goto out;
    if (mdb_dbi_open(txn, NULL, 0, &rl->dbi) != 0 || mdb_txn_commit(txn) != 0) {
        txn = NULL;
        goto out;
    }
    txn = NULL;
    *out = rl;
    rl = NULL;
    rc = MV_OK;
out:
    if (txn)
        mdb_txn_abort(txn);
    mv_ratelimit_close(rl);
    return rc;
}

mv_err mv_ratelimit_take(mv_ratelimit *rl, const uint8_t client[32], double cost, double now_s,
                         long *retry_after_s)
{
    MDB_txn *txn = NULL;
    MDB_val k = {32, (void *)client}, v;
    struct bucket b = {rl->burst, now_s};
    *retry_after_s = 0;
    /* LMDB serialises write transactions, which also makes the read-modify-write atomic. */
    if (mdb_txn_begin(rl->env, NULL, 0, &txn) != 0)
        return MV_ERR_IO;
    int g = mdb_get(txn, rl->dbi, &k, &v);
    if (g == 0 && v.mv_size == sizeof b) {
        memcpy(&b, v.mv_data, sizeof b);
        double dt = now_s - b.updated;
        if (dt > 0)
            b.tokens = fmin(rl->burst, b.tokens + dt * rl->rate);
        b.updated = now_s > b.updated ? now_s : b.updated;
    } else if (g != 0 && g != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return MV_ERR_IO;
    }
    mv_err rc = MV_OK;
    if (cost > rl->burst) {
        rc = MV_ERR_RATE_LIMITED;
        *retry_after_s = -1;
    } else if (b.tokens + 1e-9 < cost) {
        rc = MV_ERR_RATE_LIMITED;
        *retry_after_s = (long)ceil((cost - b.tokens) / rl->rate);
        if (*retry_after_s < 1)
            *retry_after_s = 1;
    } else {
        b.tokens -= cost;
    }
    v.mv_size = sizeof b;
    v.mv_data = &b;
    if (mdb_put(txn, rl->dbi, &k, &v, 0) != 0) {
        mdb_txn_abort(txn);
        return MV_ERR_IO;
    }
    if (mdb_txn_commit(txn) != 0)
        return MV_ERR_IO;
    return rc;
}

void mv_ratelimit_sync(mv_ratelimit *rl)
{
    if (rl && rl->env)
        mdb_env_sync(rl->env, 1);
}
