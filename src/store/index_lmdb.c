/* index_lmdb.c - the engine's index in LMDB: every change commits atomically and durably
 * (synced commits), and every stored value is decoded with bounds checks before use. */
#include "fault.h"
#include "index_lmdb_internal.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "medvault/mv_mem.h"

/* The names of the three databases (index_lmdb_internal.h). */
static const char *const phys_names[P_COUNT] = {"tables", "records", "segment_sets"};

/* Each table: its database, its prefix there (-1: a database of its own) and the format-2
 * database it is folded from (NULL: none). block_ids has the largest prefix, so that a new
 * chunk is the last key of "tables" and is appended. */
static const struct {
    int phys;
    int prefix;
    const char *old;
} tables[DB_COUNT] = {
    [DB_META] = {P_TABLES, 0x01, "meta"},
    [DB_STATS] = {P_TABLES, 0x02, "stats"},
    [DB_PACKS] = {P_TABLES, 0x03, "packs"},
    [DB_SEGS] = {P_TABLES, 0x04, "segments"},
    [DB_SETS] = {P_TABLES, 0x05, "sets"},
    [DB_SETHASH] = {P_TABLES, 0x06, "set_hash"},
    [DB_SETREADERS] = {P_TABLES, 0x07, "set_readers"},
    [DB_BLOCKS] = {P_TABLES, 0x08, "blocks"},
    [DB_ZERO] = {P_TABLES, 0x09, "zero"},
    [DB_TOKENS] = {P_TABLES, 0x0a, "tokens"},
    [DB_BTOK] = {P_TABLES, 0x0b, "block_tokens"},
    [DB_CLAIMS] = {P_TABLES, 0x0c, "claims"},
    [DB_CTIME] = {P_TABLES, 0x0d, "claims_by_time"},
    [DB_BLOCKIDS] = {P_TABLES, 0xff, NULL},
    [DB_RECORDS] = {P_RECORDS, -1, NULL},
    [DB_SEGSETS] = {P_SEGSETS, -1, "seg_sets"}, /* values recoded by fold_step */
};

#define TOTALS_KEY "\0" /* sorts before every department name (which cannot contain NUL) */

mv_err idx_map_err(int e)
{
    switch (e) {
    case 0:
        return MV_OK;
    case MDB_NOTFOUND:
        return MV_ERR_NOT_FOUND;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
        return MV_ERR_TOO_LARGE;
    case MDB_READERS_FULL:
        return MV_ERR_BUSY; /* more snapshots open at once than max_readers */
    case ENOMEM:
        return MV_ERR_NOMEM;
    case MDB_CORRUPTED:
    case MDB_INCOMPATIBLE:
    case MDB_VERSION_MISMATCH:
    case MDB_INVALID:
        return MV_ERR_PARSE;
    default:
        return MV_ERR_IO;
    }
}

void idx_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
void idx_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
uint32_t idx_get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}
uint64_t idx_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}
/* Big-endian keys so that LMDB's byte order is numeric order. */
void idx_put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}
uint32_t idx_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
void idx_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

MDB_dbi idx_D(mv_itxn *t, int which) { return t->ix->dbi[tables[which].phys]; }

/* The key of table db's key k in its database: the table's prefix, then k. */
typedef struct tkey {
    uint8_t b[1 + KEYMAX];
    MDB_val v;
} tkey;

static mv_err tkey_make(tkey *o, int db, const void *k, size_t kn)
{
    size_t n = 0;
    if (kn > KEYMAX)
        return MV_ERR_INVAL;
    if (tables[db].prefix >= 0)
        o->b[n++] = (uint8_t)tables[db].prefix;
    if (kn)
        memcpy(o->b + n, k, kn);
    o->v.mv_size = n + kn;
    o->v.mv_data = o->b;
    return MV_OK;
}

/* A key of db's database as the table sees it (prefix dropped). */
static MDB_val tkey_strip(int db, const MDB_val *k)
{
    MDB_val u = *k;
    if (tables[db].prefix >= 0) {
        u.mv_size = k->mv_size - 1;
        u.mv_data = (uint8_t *)k->mv_data + 1;
    }
    return u;
}

static int tkey_in(int db, const MDB_val *k)
{
    return tables[db].prefix < 0 ||
           (k->mv_size >= 1 && *(const uint8_t *)k->mv_data == (uint8_t)tables[db].prefix);
}

mv_err idx_get(mv_itxn *t, int db, const void *k, size_t kn, MDB_val *v)
{
    tkey key;
    mv_err rc = tkey_make(&key, db, k, kn);
    return rc != MV_OK ? rc : idx_map_err(mdb_get(t->txn, idx_D(t, db), &key.v, v));
}

mv_err idx_put(mv_itxn *t, int db, const void *k, size_t kn, const void *v, size_t vn)
{
    tkey key;
    if (mv_store_fault_hit())
        return MV_ERR_IO;
    mv_err rc = tkey_make(&key, db, k, kn);
    MDB_val val = {vn, (void *)(uintptr_t)v};
    return rc != MV_OK ? rc : idx_map_err(mdb_put(t->txn, idx_D(t, db), &key.v, &val, 0));
}

mv_err idx_del(mv_itxn *t, int db, const void *k, size_t kn)
{
    tkey key;
    if (mv_store_fault_hit())
        return MV_ERR_IO;
    mv_err rc = tkey_make(&key, db, k, kn);
    return rc != MV_OK ? rc : idx_map_err(mdb_del(t->txn, idx_D(t, db), &key.v, NULL));
}

/* Positions c on table db's first (last == 0) or last key; MDB_NOTFOUND when it is empty.
 * *k is the key as the table sees it. */
int idx_table_edge(MDB_cursor *c, int db, int last, MDB_val *k, MDB_val *v)
{
    int pf = tables[db].prefix, e;
    uint8_t b;
    if (pf < 0)
        return mdb_cursor_get(c, k, v, last ? MDB_LAST : MDB_FIRST);
    if (!last || pf < 0xff) {
        b = (uint8_t)(last ? pf + 1 : pf);
        k->mv_size = 1;
        k->mv_data = &b;
        e = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
        if (last)
            e = e == 0 ? mdb_cursor_get(c, k, v, MDB_PREV)
                       : e == MDB_NOTFOUND ? mdb_cursor_get(c, k, v, MDB_LAST) : e;
    } else {
        e = mdb_cursor_get(c, k, v, MDB_LAST);
    }
    if (e == 0 && !tkey_in(db, k))
        e = MDB_NOTFOUND;
    if (e == 0)
        *k = tkey_strip(db, k);
    return e;
}

/* Deletes k, treating an absent key as done. */
mv_err idx_del_opt(mv_itxn *t, int db, const void *k, size_t kn)
{
    mv_err rc = idx_del(t, db, k, kn);
    return rc == MV_ERR_NOT_FOUND ? MV_OK : rc;
}

/* Iterates keys starting with prefix (all keys if plen is 0); stops on fn's error. */
mv_err idx_scan(mv_itxn *t, int db, const void *prefix, size_t plen, kv_fn fn, void *ctx)
{
    MDB_cursor *c = NULL;
    tkey full;
    mv_err rc = tkey_make(&full, db, prefix, plen);
    if (rc != MV_OK)
        return rc;
    size_t fl = full.v.mv_size;
    MDB_val k = full.v, v;
    if ((rc = idx_map_err(mdb_cursor_open(t->txn, idx_D(t, db), &c))) != MV_OK)
        return rc;
    int e = mdb_cursor_get(c, &k, &v, fl ? MDB_SET_RANGE : MDB_FIRST);
    while (e == 0) {
        if (fl && (k.mv_size < fl || memcmp(k.mv_data, full.b, fl) != 0))
            break;
        MDB_val u = tkey_strip(db, &k);
        if ((rc = fn(ctx, &u, &v)) != MV_OK)
            goto out;
        e = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    rc = e == 0 || e == MDB_NOTFOUND ? MV_OK : idx_map_err(e);
out:
    mdb_cursor_close(c);
    return rc;
}

/* ---- transactions ---- */

static mv_err ix_begin(mv_index *base, int write, mv_itxn **out)
{
    index_lmdb *ix = (index_lmdb *)base;
    mv_itxn *t = mv_calloc(1, sizeof *t);
    if (!t)
        return MV_ERR_NOMEM;
    t->ix = ix;
    t->write = write;
    int e = mdb_txn_begin(ix->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
    if (e != 0) {
        mv_free(t);
        return idx_map_err(e);
    }
    *out = t;
    return MV_OK;
}

static void ix_abort(mv_itxn *t)
{
    if (!t)
        return;
    mdb_txn_abort(t->txn);
    mv_free(t);
}

static mv_err ix_commit(mv_itxn *t)
{
    if (t->write && mv_store_fault_hit()) {
        ix_abort(t);
        return MV_ERR_IO;
    }
    int e = t->write ? mdb_txn_commit(t->txn) : (mdb_txn_abort(t->txn), 0);
    mv_free(t);
    return idx_map_err(e);
}

/* Puts k (greater than every key of db, or of k's duplicates in a DUPSORT db) with
 * MDB_APPEND / MDB_APPENDDUP, otherwise plainly: appended keys fill pages instead of splitting
 * them in the middle, which is what keeps time-ordered record ids at full pages. */
mv_err idx_put_ordered(mv_itxn *t, int db, const void *k0, size_t kn0, const void *v, size_t vn,
                       int dupsort)
{
    MDB_cursor *c = NULL;
    tkey full;
    unsigned flags = 0;
    if (mv_store_fault_hit())
        return MV_ERR_IO;
    /* The whole database's last key decides: a table under a prefix appends only when its
     * prefix is the largest (block_ids); the others are put plainly. */
    mv_err rc = tkey_make(&full, db, k0, kn0);
    if (rc != MV_OK)
        return rc;
    const uint8_t *k = full.b;
    size_t kn = full.v.mv_size;
    MDB_val key = full.v, val = {vn, (void *)(uintptr_t)v}, lk, lv;
    if ((rc = idx_map_err(mdb_cursor_open(t->txn, idx_D(t, db), &c))) != MV_OK)
        return rc;
    int e;
    if (dupsort) {
        /* An existing key takes its value as the last duplicate when it sorts last. */
        lk = key;
        e = mdb_cursor_get(c, &lk, &lv, MDB_SET);
        if (e == 0 && (e = mdb_cursor_get(c, &lk, &lv, MDB_LAST_DUP)) == 0) {
            size_t dm = lv.mv_size < vn ? lv.mv_size : vn;
            int dc = memcmp(v, lv.mv_data, dm);
            if (dc > 0 || (dc == 0 && vn > lv.mv_size))
                flags = MDB_APPENDDUP;
            goto put;
        }
        if (e != MDB_NOTFOUND) {
            rc = idx_map_err(e);
            goto out;
        }
    }
    e = mdb_cursor_get(c, &lk, &lv, MDB_LAST);
    if (e == MDB_NOTFOUND) {
        flags = MDB_APPEND;
    } else if (e == 0) {
        size_t m = lk.mv_size < kn ? lk.mv_size : kn;
        int cmp = memcmp(k, lk.mv_data, m);
        if (cmp > 0 || (cmp == 0 && kn > lk.mv_size))
            flags = MDB_APPEND;
    } else {
        rc = idx_map_err(e);
        goto out;
    }
put:
    rc = idx_map_err(mdb_cursor_put(c, &key, &val, flags));
out:
    mdb_cursor_close(c);
    return rc;
}

/* ---- packs ---- */

static mv_err decode_pack(const MDB_val *v, mv_ix_pack *p)
{
    if (v->mv_size != 24)
        return MV_ERR_PARSE;
    const uint8_t *d = v->mv_data;
    p->end = idx_get_u64(d);
    p->live_bytes = idx_get_u64(d + 8);
    p->live_entries = idx_get_u64(d + 16);
    return MV_OK;
}

static mv_err ix_pack_get(mv_itxn *t, uint32_t pack, mv_ix_pack *p)
{
    uint8_t k[4];
    MDB_val v;
    idx_put_be32(k, pack);
    mv_err rc = idx_get(t, DB_PACKS, k, 4, &v);
    return rc != MV_OK ? rc : decode_pack(&v, p);
}

static mv_err ix_pack_put(mv_itxn *t, uint32_t pack, const mv_ix_pack *p)
{
    uint8_t k[4], v[24];
    idx_put_be32(k, pack);
    idx_put_u64(v, p->end);
    idx_put_u64(v + 8, p->live_bytes);
    idx_put_u64(v + 16, p->live_entries);
    return idx_put(t, DB_PACKS, k, 4, v, 24);
}

static mv_err ix_pack_del(mv_itxn *t, uint32_t pack)
{
    uint8_t k[4];
    idx_put_be32(k, pack);
    return idx_del(t, DB_PACKS, k, 4);
}

static mv_err pack_iter_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    cb *c = ctx;
    mv_ix_pack p;
    mv_err rc;
    if (k->mv_size != 4)
        return MV_ERR_PARSE;
    if ((rc = decode_pack(v, &p)) != MV_OK)
        return rc;
    return c->fn.pack(c->ctx, idx_get_be32(k->mv_data), &p);
}

static mv_err ix_pack_iter(mv_itxn *t, mv_ix_pack_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.pack = fn;
    return idx_scan(t, DB_PACKS, NULL, 0, pack_iter_kv, &c);
}

/* ---- stats: "\0" -> totals, dept -> department counters; 8 u64 each ---- */

static mv_err decode_stats(const MDB_val *v, mv_ix_stats *st)
{
    if (v->mv_size != 64)
        return MV_ERR_PARSE;
    const uint8_t *p = v->mv_data;
    uint64_t *f[8] = {&st->records, &st->blocks, &st->block_bytes, &st->envelope_bytes,
                      &st->pack_bytes, &st->logical, &st->physical, &st->dedup_hits};
    for (int i = 0; i < 8; i++)
        *f[i] = idx_get_u64(p + 8 * i);
    return MV_OK;
}

static mv_err ix_stats_get(mv_itxn *t, const char *dept, mv_ix_stats *st)
{
    MDB_val v;
    const char *k = dept ? dept : TOTALS_KEY;
    size_t kn = dept ? strlen(dept) : 1;
    memset(st, 0, sizeof *st);
    if (kn == 0 || kn > 64)
        return MV_ERR_INVAL;
    mv_err rc = idx_get(t, DB_STATS, k, kn, &v);
    if (rc == MV_ERR_NOT_FOUND)
        return MV_OK;
    return rc != MV_OK ? rc : decode_stats(&v, st);
}

static mv_err ix_stats_put(mv_itxn *t, const char *dept, const mv_ix_stats *st)
{
    uint8_t v[64];
    const char *k = dept ? dept : TOTALS_KEY;
    size_t kn = dept ? strlen(dept) : 1;
    if (kn == 0 || kn > 64)
        return MV_ERR_INVAL;
    const uint64_t f[8] = {st->records, st->blocks, st->block_bytes, st->envelope_bytes,
                           st->pack_bytes, st->logical, st->physical, st->dedup_hits};
    for (int i = 0; i < 8; i++)
        idx_put_u64(v + 8 * i, f[i]);
    return idx_put(t, DB_STATS, k, kn, v, 64);
}

static mv_err stats_iter_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    cb *c = ctx;
    mv_ix_stats st;
    char dept[65];
    mv_err rc;
    if (k->mv_size == 1 && *(const char *)k->mv_data == 0)
        return MV_OK; /* the totals */
    if (k->mv_size == 0 || k->mv_size > 64)
        return MV_ERR_PARSE;
    if ((rc = decode_stats(v, &st)) != MV_OK)
        return rc;
    memcpy(dept, k->mv_data, k->mv_size);
    dept[k->mv_size] = 0;
    return c->fn.stats(c->ctx, dept, &st);
}

static mv_err ix_stats_iter(mv_itxn *t, mv_ix_stats_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.stats = fn;
    return idx_scan(t, DB_STATS, NULL, 0, stats_iter_kv, &c);
}

/* ---- open / close ---- */

static void ix_close(mv_index *base)
{
    index_lmdb *ix = (index_lmdb *)base;
    if (!ix)
        return;
    if (ix->env)
        mdb_env_close(ix->env);
    mv_free(ix);
}

static const mv_index_ops lmdb_ops = {
    .begin = ix_begin,
    .commit = ix_commit,
    .abort = ix_abort,
    .block_get = idx_block_get,
    .block_put = idx_block_put,
    .block_del = idx_block_del,
    .block_iter = idx_block_iter,
    .block_id_new = idx_block_id_new,
    .block_id_tag = idx_block_id_tag,
    .zero_iter = idx_zero_iter,
    .token_get = idx_token_get,
    .token_put = idx_token_put,
    .token_iter = idx_token_iter,
    .claim_get = idx_claim_get,
    .claim_put = idx_claim_put,
    .claim_any = idx_claim_any,
    .claim_expire = idx_claim_expire,
    .claim_iter = idx_claim_iter,
    .record_get = idx_record_get,
    .record_put = idx_record_put,
    .record_add = idx_record_add,
    .segset_add = idx_segset_add,
    .record_del = idx_record_del,
    .record_iter = idx_record_iter,
    .set_record_iter = idx_set_record_iter,
    .set_get = idx_set_get,
    .set_find = idx_set_find,
    .set_put = idx_set_put,
    .set_del = idx_set_del,
    .set_next_id = idx_set_next_id,
    .set_iter = idx_set_iter,
    .set_reader_iter = idx_set_reader_iter,
    .seg_get = idx_seg_get,
    .seg_put = idx_seg_put,
    .seg_del = idx_seg_del,
    .seg_next_id = idx_seg_next_id,
    .seg_iter = idx_seg_iter,
    .format_get = idx_format_get,
    .legacy_next = idx_legacy_next,
    .legacy_finish = idx_legacy_finish,
    .fold_step = idx_fold_step,
    .pack_get = ix_pack_get,
    .pack_put = ix_pack_put,
    .pack_del = ix_pack_del,
    .pack_iter = ix_pack_iter,
    .stats_get = ix_stats_get,
    .stats_put = ix_stats_put,
    .stats_iter = ix_stats_iter,
    .close = ix_close,
};

/* LMDB sizes its lock file for the reader slots of whoever created it (a 128-byte header and
 * 64 bytes per slot) and keeps a larger one as it is; a lock file sized for more readers than
 * we allow is removed so that LMDB makes one of the right size. Only the holder of the store's
 * exclusive lock opens the environment, so no process is using the old one. */
static mv_err shrink_lock_file(const char *dir, unsigned max_readers)
{
    char lp[4096];
    struct stat st;
    int n = snprintf(lp, sizeof lp, "%s/lock.mdb", dir);
    if (n < 0 || (size_t)n >= sizeof lp)
        return MV_ERR_TOO_LARGE;
    if (stat(lp, &st) != 0)
        return errno == ENOENT ? MV_OK : MV_ERR_IO;
    if ((uint64_t)st.st_size <= 128 + 64 * (uint64_t)max_readers)
        return MV_OK;
    return unlink(lp) == 0 || errno == ENOENT ? MV_OK : MV_ERR_IO;
}

mv_err mv_index_lmdb_open(const char *path, size_t map_size, unsigned max_readers, mv_index **out)
{
    index_lmdb *ix = NULL;
    MDB_txn *txn = NULL;
    mv_err rc = MV_ERR_NOMEM;
    *out = NULL;
    if ((rc = shrink_lock_file(path, max_readers)) != MV_OK)
        return rc;
    rc = MV_ERR_NOMEM;
    if (!(ix = mv_calloc(1, sizeof *ix)))
        goto out;
    ix->base.ops = &lmdb_ops;
    if ((rc = idx_map_err(mdb_env_create(&ix->env))) != MV_OK) {
        ix->env = NULL;
        goto out;
    }
    /* Durable commits (no MDB_NOSYNC): mv_store's "returns only when durable" rests on them.
     * MDB_NOTLS: read transactions are not tied to threads (the server's thread pool). */
    if ((rc = idx_map_err(mdb_env_set_mapsize(ix->env, map_size))) != MV_OK ||
        (rc = idx_map_err(mdb_env_set_maxdbs(ix->env, P_COUNT + DB_COUNT + 1))) != MV_OK ||
        (rc = idx_map_err(mdb_env_set_maxreaders(ix->env, max_readers))) != MV_OK ||
        (rc = idx_map_err(mdb_env_open(ix->env, path, MDB_NOTLS, 0600))) != MV_OK)
        goto out;
    if ((rc = idx_map_err(mdb_txn_begin(ix->env, NULL, 0, &txn))) != MV_OK)
        goto out;
    for (int i = 0; i < P_COUNT; i++)
        if ((rc = idx_map_err(mdb_dbi_open(txn, phys_names[i], MDB_CREATE, &ix->dbi[i]))) != MV_OK)
            goto out;
    /* Earlier formats' databases are opened where they exist, never created. */
    for (int i = 0; i < DB_COUNT; i++) {
        if (!tables[i].old)
            continue;
        int e = mdb_dbi_open(txn, tables[i].old, 0, &ix->old[i]);
        if (e != 0 && e != MDB_NOTFOUND) {
            rc = idx_map_err(e);
            goto out;
        }
        ix->has_old[i] = e == 0;
    }
    int e = mdb_dbi_open(txn, "readers", 0, &ix->readers);
    if (e != 0 && e != MDB_NOTFOUND) {
        rc = idx_map_err(e);
        goto out;
    }
    ix->has_readers = e == 0;
    rc = idx_map_err(mdb_txn_commit(txn));
    txn = NULL;
    if (rc != MV_OK)
        goto out;
    *out = &ix->base;
    ix = NULL;
out:
    if (txn)
        mdb_txn_abort(txn);
    ix_close(ix ? &ix->base : NULL);
    return rc;
}
