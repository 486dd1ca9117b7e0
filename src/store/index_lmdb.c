/* index_lmdb.c - the engine's index in LMDB: every change commits atomically and durably
 * (synced commits), and every stored value is decoded with bounds checks before use. */
#include "fault.h"
#include "index.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_mem.h"

/* Index format 3 keeps three LMDB databases: "records" and "seg_sets", which grow by
 * appending (their own trees, so that MDB_APPEND fills their pages), and "tables", which holds
 * every other table under a one-byte table prefix. A write transaction copies each database's
 * root-to-leaf path it touches and the main database's page naming it, and LMDB keeps the
 * copies of the last two transactions: with a database per table (format 2), a small store's
 * index was mostly sub-database roots and their copies. */
enum { P_TABLES, P_RECORDS, P_SEGSETS, P_COUNT };
static const char *const phys_names[P_COUNT] = {"tables", "records", "segment_sets"};

enum { DB_META, DB_STATS, DB_PACKS, DB_SEGS, DB_SETS, DB_SETHASH, DB_SETREADERS, DB_BLOCKS,
       DB_ZERO, DB_TOKENS, DB_BTOK, DB_CLAIMS, DB_CTIME, DB_BLOCKIDS, DB_RECORDS, DB_SEGSETS,
       DB_COUNT };
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

#define VERSION 1
#define TOTALS_KEY "\0" /* sorts before every department name (which cannot contain NUL) */

typedef struct index_lmdb {
    mv_index base;
    MDB_env *env;
    MDB_dbi dbi[P_COUNT];
    /* Databases of earlier formats that exist in this environment: format 2's one per
     * table (folded into "tables" by fold_step, then left empty) and format 1's "readers". */
    MDB_dbi old[DB_COUNT], readers;
    int has_old[DB_COUNT], has_readers;
} index_lmdb;

struct mv_itxn {
    index_lmdb *ix;
    MDB_txn *txn;
    int write;
};

static mv_err map_err(int e)
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

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}
static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}
/* Big-endian keys so that LMDB's byte order is numeric order. */
static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static MDB_dbi D(mv_itxn *t, int which) { return t->ix->dbi[tables[which].phys]; }

#define KEYMAX 128 /* longest key of a table: block_tokens, tag || department || token */

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

static mv_err get(mv_itxn *t, int db, const void *k, size_t kn, MDB_val *v)
{
    tkey key;
    mv_err rc = tkey_make(&key, db, k, kn);
    return rc != MV_OK ? rc : map_err(mdb_get(t->txn, D(t, db), &key.v, v));
}

static mv_err put(mv_itxn *t, int db, const void *k, size_t kn, const void *v, size_t vn)
{
    tkey key;
    if (mv_store_fault_hit())
        return MV_ERR_IO;
    mv_err rc = tkey_make(&key, db, k, kn);
    MDB_val val = {vn, (void *)(uintptr_t)v};
    return rc != MV_OK ? rc : map_err(mdb_put(t->txn, D(t, db), &key.v, &val, 0));
}

static mv_err del(mv_itxn *t, int db, const void *k, size_t kn)
{
    tkey key;
    if (mv_store_fault_hit())
        return MV_ERR_IO;
    mv_err rc = tkey_make(&key, db, k, kn);
    return rc != MV_OK ? rc : map_err(mdb_del(t->txn, D(t, db), &key.v, NULL));
}

/* Positions c on table db's first (last == 0) or last key; MDB_NOTFOUND when it is empty.
 * *k is the key as the table sees it. */
static int table_edge(MDB_cursor *c, int db, int last, MDB_val *k, MDB_val *v)
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
static mv_err del_opt(mv_itxn *t, int db, const void *k, size_t kn)
{
    mv_err rc = del(t, db, k, kn);
    return rc == MV_ERR_NOT_FOUND ? MV_OK : rc;
}

/* Iterates keys starting with prefix (all keys if plen is 0); stops on fn's error. */
typedef mv_err (*kv_fn)(void *ctx, const MDB_val *k, const MDB_val *v);
static mv_err scan(mv_itxn *t, int db, const void *prefix, size_t plen, kv_fn fn, void *ctx)
{
    MDB_cursor *c = NULL;
    tkey full;
    mv_err rc = tkey_make(&full, db, prefix, plen);
    if (rc != MV_OK)
        return rc;
    size_t fl = full.v.mv_size;
    MDB_val k = full.v, v;
    if ((rc = map_err(mdb_cursor_open(t->txn, D(t, db), &c))) != MV_OK)
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
    rc = e == 0 || e == MDB_NOTFOUND ? MV_OK : map_err(e);
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
        return map_err(e);
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
    return map_err(e);
}

/* ---- blocks ---- */

/* Version 1 (index formats 1 and 2): version u8, pack u32, off u64, len u32, refs u64,
 * dept_len u8, dept. Version 2 (format 3): version u8 = 2, then varints pack, off, len, refs,
 * block id (0: none assigned yet), then dept_len u8, dept. */
#define BLOCK_FIXED 26
#define BLOCK_V2 2

static mv_err put_ordered(mv_itxn *t, int db, const void *k0, size_t kn0, const void *v, size_t vn,
                          int dupsort);

static mv_err decode_block(const MDB_val *v, mv_ix_block *b)
{
    const uint8_t *p = v->mv_data;
    size_t n = v->mv_size, dl, pos = 1;
    uint64_t pack, len;
    if (n < 1)
        return MV_ERR_PARSE;
    if (p[0] == VERSION) {
        if (n < BLOCK_FIXED || (dl = p[25]) > 64 || n != BLOCK_FIXED + dl)
            return MV_ERR_PARSE;
        b->pack = get_u32(p + 1);
        b->off = get_u64(p + 5);
        b->len = get_u32(p + 13);
        b->refs = get_u64(p + 17);
        b->id = 0;
        memcpy(b->dept, p + BLOCK_FIXED, dl);
        b->dept[dl] = 0;
        return MV_OK;
    }
    if (p[0] != BLOCK_V2 || !mv_varint_get(p, n, &pos, &pack) || pack > UINT32_MAX ||
        !mv_varint_get(p, n, &pos, &b->off) || !mv_varint_get(p, n, &pos, &len) || len > UINT32_MAX ||
        !mv_varint_get(p, n, &pos, &b->refs) || !mv_varint_get(p, n, &pos, &b->id) || pos >= n)
        return MV_ERR_PARSE;
    dl = p[pos++];
    if (dl > 64 || n != pos + dl)
        return MV_ERR_PARSE;
    b->pack = (uint32_t)pack;
    b->len = (uint32_t)len;
    memcpy(b->dept, p + pos, dl);
    b->dept[dl] = 0;
    return MV_OK;
}

static mv_err ix_block_get(mv_itxn *t, const uint8_t *tag, mv_ix_block *b)
{
    MDB_val v;
    mv_err rc = get(t, DB_BLOCKS, tag, 32, &v);
    return rc != MV_OK ? rc : decode_block(&v, b);
}

static mv_err ix_block_put(mv_itxn *t, const uint8_t *tag, const mv_ix_block *b)
{
    uint8_t v[1 + 5 * 10 + 1 + 64];
    size_t dl = strlen(b->dept), n = 0;
    mv_err rc;
    if (dl > 64)
        return MV_ERR_INVAL;
    v[n++] = BLOCK_V2;
    n += mv_varint_put(v + n, b->pack);
    n += mv_varint_put(v + n, b->off);
    n += mv_varint_put(v + n, b->len);
    n += mv_varint_put(v + n, b->refs);
    n += mv_varint_put(v + n, b->id);
    v[n++] = (uint8_t)dl;
    memcpy(v + n, b->dept, dl);
    if ((rc = put(t, DB_BLOCKS, tag, 32, v, n + dl)) != MV_OK)
        return rc;
    return b->refs == 0 ? put(t, DB_ZERO, tag, 32, "", 0) : del_opt(t, DB_ZERO, tag, 32);
}

typedef struct keylist {
    uint8_t *keys; /* n keys of at most 32 + 64 + 32 bytes each, with lengths */
    size_t *lens;
    size_t n, cap;
} keylist;

static mv_err keylist_add(void *ctx, const MDB_val *k, const MDB_val *v)
{
    keylist *l = ctx;
    (void)v;
    if (k->mv_size > KEYMAX)
        return MV_ERR_PARSE;
    /* keys and lens share l->cap, which moves only once both have grown: if the second
     * fails, the first is merely larger than l->cap says. */
    size_t ck = l->cap, cl = l->cap;
    mv_err rc;
    if ((rc = mv_array_grow(&l->keys, &ck, l->n, KEYMAX, 4)) != MV_OK ||
        (rc = mv_array_grow(&l->lens, &cl, l->n, sizeof *l->lens, 4)) != MV_OK)
        return rc;
    l->cap = ck;
    memcpy(l->keys + l->n * KEYMAX, k->mv_data, k->mv_size);
    l->lens[l->n++] = k->mv_size;
    return MV_OK;
}

static void keylist_free(keylist *l)
{
    mv_free(l->keys);
    mv_free(l->lens);
}

static mv_err block_id_free(mv_itxn *t, uint64_t id);

static mv_err ix_block_del(mv_itxn *t, const uint8_t *tag)
{
    keylist l = {0};
    mv_ix_block b;
    mv_err rc;
    if ((rc = ix_block_get(t, tag, &b)) != MV_OK)
        return rc;
    if (b.id && (rc = block_id_free(t, b.id)) != MV_OK)
        return rc;
    if ((rc = del(t, DB_BLOCKS, tag, 32)) != MV_OK)
        return rc;
    if ((rc = del_opt(t, DB_ZERO, tag, 32)) != MV_OK)
        return rc;
    /* block_tokens keys are tag || dept || token; the tokens key is dept || token. */
    if ((rc = scan(t, DB_BTOK, tag, 32, keylist_add, &l)) != MV_OK)
        goto out;
    for (size_t i = 0; i < l.n; i++) {
        const uint8_t *k = l.keys + i * KEYMAX;
        if ((rc = del_opt(t, DB_TOKENS, k + 32, l.lens[i] - 32)) != MV_OK ||
            (rc = del(t, DB_BTOK, k, l.lens[i])) != MV_OK)
            goto out;
    }
out:
    keylist_free(&l);
    return rc;
}

/* One callback of whichever kind the iteration calls (ISO C has no void * for functions). */
typedef struct cb {
    union {
        mv_ix_block_fn block;
        mv_ix_tag_fn tag;
        mv_ix_token_fn token;
        mv_ix_claim_fn claim;
        mv_ix_record_fn record;
        mv_ix_set_fn set;
        mv_ix_id_fn id;
        mv_ix_setid_fn setid;
        mv_ix_seg_fn seg;
        mv_ix_pack_fn pack;
        mv_ix_stats_fn stats;
    } fn;
    void *ctx;
} cb;

static mv_err block_iter_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    cb *c = ctx;
    mv_ix_block b;
    mv_err rc;
    if (k->mv_size != 32)
        return MV_ERR_PARSE;
    if ((rc = decode_block(v, &b)) != MV_OK)
        return rc;
    return c->fn.block(c->ctx, k->mv_data, &b);
}

static mv_err ix_block_iter(mv_itxn *t, mv_ix_block_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.block = fn;
    return scan(t, DB_BLOCKS, NULL, 0, block_iter_kv, &c);
}

static mv_err zero_iter_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    cb *c = ctx;
    (void)v;
    if (k->mv_size != 32)
        return MV_ERR_PARSE;
    return c->fn.tag(c->ctx, k->mv_data);
}

static mv_err ix_zero_iter(mv_itxn *t, mv_ix_tag_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.tag = fn;
    return scan(t, DB_ZERO, NULL, 0, zero_iter_kv, &c);
}

/* ---- block ids: a block's number, given when a record first names it, so that a record's
 * bytes in its segment name the block by a varint instead of its 32-byte tag. block_ids maps
 * them back: chunk number (BE u32) -> the tags of ids 31 * chunk + 1 .. 31 * chunk + 31, 32
 * bytes each, all zero for a freed one (a chunk whose ids are all freed is dropped). Ids
 * grow, so chunks are appended (block_ids has the largest prefix of "tables"), and 31 tags
 * and a key make four chunks fill a 4 KiB page. An id is only reused after the chunks above
 * it were dropped, when no record names it: a freed block had no references. ---- */

#define BID_CHUNK 31

static mv_err ix_block_id_new(mv_itxn *t, const uint8_t *tag, uint64_t *id)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    uint8_t key[4], buf[32 * BID_CHUNK];
    uint64_t chunk = 0;
    size_t have = 0;
    mv_err rc = map_err(mdb_cursor_open(t->txn, D(t, DB_BLOCKIDS), &c));
    if (rc != MV_OK)
        return rc;
    int e = table_edge(c, DB_BLOCKIDS, 1, &k, &v);
    if (e == 0) {
        rc = MV_ERR_PARSE;
        if (k.mv_size != 4 || v.mv_size == 0 || v.mv_size % 32 || v.mv_size > sizeof buf)
            goto out;
        chunk = get_be32(k.mv_data);
        have = v.mv_size / 32;
        memcpy(buf, v.mv_data, v.mv_size);
        if (have == BID_CHUNK) {
            rc = MV_ERR_TOO_LARGE;
            if (chunk == UINT32_MAX)
                goto out;
            chunk++;
            have = 0;
        }
    } else if (e != MDB_NOTFOUND) {
        rc = map_err(e);
        goto out;
    }
    mdb_cursor_close(c);
    c = NULL;
    memcpy(buf + 32 * have, tag, 32);
    put_be32(key, (uint32_t)chunk);
    if ((rc = put_ordered(t, DB_BLOCKIDS, key, 4, buf, 32 * (have + 1), 0)) != MV_OK)
        goto out;
    *id = BID_CHUNK * chunk + have + 1;
    rc = MV_OK;
out:
    if (c)
        mdb_cursor_close(c);
    return rc;
}

static mv_err ix_block_id_tag(mv_itxn *t, uint64_t id, uint8_t *tag)
{
    uint8_t key[4], acc = 0;
    MDB_val v;
    if (id == 0 || (id - 1) / BID_CHUNK > UINT32_MAX)
        return MV_ERR_NOT_FOUND;
    size_t slot = (size_t)((id - 1) % BID_CHUNK);
    put_be32(key, (uint32_t)((id - 1) / BID_CHUNK));
    mv_err rc = get(t, DB_BLOCKIDS, key, 4, &v);
    if (rc != MV_OK)
        return rc;
    if (v.mv_size % 32 || v.mv_size > 32 * BID_CHUNK)
        return MV_ERR_PARSE;
    if (v.mv_size < 32 * (slot + 1))
        return MV_ERR_NOT_FOUND;
    const uint8_t *p = (const uint8_t *)v.mv_data + 32 * slot;
    for (int i = 0; i < 32; i++)
        acc |= p[i];
    if (!acc)
        return MV_ERR_NOT_FOUND;
    memcpy(tag, p, 32);
    return MV_OK;
}

static mv_err block_id_free(mv_itxn *t, uint64_t id)
{
    uint8_t key[4], buf[32 * BID_CHUNK], acc = 0;
    MDB_val v;
    if ((id - 1) / BID_CHUNK > UINT32_MAX)
        return MV_ERR_PARSE;
    size_t slot = (size_t)((id - 1) % BID_CHUNK);
    put_be32(key, (uint32_t)((id - 1) / BID_CHUNK));
    mv_err rc = get(t, DB_BLOCKIDS, key, 4, &v);
    if (rc == MV_ERR_NOT_FOUND)
        return MV_OK; /* already inconsistent; mv_store_check reports it */
    if (rc != MV_OK)
        return rc;
    if (v.mv_size % 32 || v.mv_size > sizeof buf)
        return MV_ERR_PARSE;
    size_t n = v.mv_size;
    if (n < 32 * (slot + 1))
        return MV_OK;
    memcpy(buf, v.mv_data, n); /* the value's memory may move once the transaction changes */
    memset(buf + 32 * slot, 0, 32);
    for (size_t i = 0; i < n; i++)
        acc |= buf[i];
    return acc ? put(t, DB_BLOCKIDS, key, 4, buf, n) : del(t, DB_BLOCKIDS, key, 4);
}

/* ---- tokens ---- */

static size_t token_key(uint8_t *k, const char *dept, const uint8_t *token)
{
    size_t dl = strlen(dept);
    memcpy(k, dept, dl);
    memcpy(k + dl, token, 32);
    return dl + 32;
}

static mv_err ix_token_get(mv_itxn *t, const char *dept, const uint8_t *token, uint8_t *tag)
{
    uint8_t k[96];
    MDB_val v;
    if (strlen(dept) > 64)
        return MV_ERR_INVAL;
    mv_err rc = get(t, DB_TOKENS, k, token_key(k, dept, token), &v);
    if (rc != MV_OK)
        return rc;
    if (v.mv_size != 32)
        return MV_ERR_PARSE;
    memcpy(tag, v.mv_data, 32);
    return MV_OK;
}

static mv_err ix_token_put(mv_itxn *t, const char *dept, const uint8_t *token, const uint8_t *tag)
{
    uint8_t k[96], bk[128];
    mv_err rc;
    if (strlen(dept) > 64)
        return MV_ERR_INVAL;
    size_t kn = token_key(k, dept, token);
    if ((rc = put(t, DB_TOKENS, k, kn, tag, 32)) != MV_OK)
        return rc;
    memcpy(bk, tag, 32);
    memcpy(bk + 32, k, kn);
    return put(t, DB_BTOK, bk, 32 + kn, "", 0);
}

static mv_err token_iter_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    cb *c = ctx;
    char dept[65];
    if (k->mv_size <= 32 || k->mv_size > 96 || v->mv_size != 32)
        return MV_ERR_PARSE;
    size_t dl = k->mv_size - 32;
    memcpy(dept, k->mv_data, dl);
    dept[dl] = 0;
    return c->fn.token(c->ctx, dept, (const uint8_t *)k->mv_data + dl, v->mv_data);
}

static mv_err ix_token_iter(mv_itxn *t, mv_ix_token_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.token = fn;
    return scan(t, DB_TOKENS, NULL, 0, token_iter_kv, &c);
}

/* ---- claims: claims (tag || claimant -> at) and claims_by_time (at BE || tag || claimant) ---- */

static mv_err ix_claim_get(mv_itxn *t, const uint8_t *tag, const uint8_t *claimant, uint64_t *at)
{
    uint8_t k[64];
    MDB_val v;
    memcpy(k, tag, 32);
    memcpy(k + 32, claimant, 32);
    mv_err rc = get(t, DB_CLAIMS, k, 64, &v);
    if (rc != MV_OK)
        return rc;
    if (v.mv_size != 8)
        return MV_ERR_PARSE;
    *at = get_u64(v.mv_data);
    return MV_OK;
}

static mv_err ix_claim_put(mv_itxn *t, const uint8_t *tag, const uint8_t *claimant, uint64_t at)
{
    uint8_t k[64], tk[72], v[8];
    uint64_t old;
    mv_err rc = ix_claim_get(t, tag, claimant, &old);
    memcpy(k, tag, 32);
    memcpy(k + 32, claimant, 32);
    memcpy(tk + 8, k, 64);
    if (rc == MV_OK) {
        put_be64(tk, old);
        if ((rc = del_opt(t, DB_CTIME, tk, 72)) != MV_OK)
            return rc;
    } else if (rc != MV_ERR_NOT_FOUND) {
        return rc;
    }
    put_u64(v, at);
    put_be64(tk, at);
    if ((rc = put(t, DB_CLAIMS, k, 64, v, 8)) != MV_OK)
        return rc;
    return put(t, DB_CTIME, tk, 72, "", 0);
}

static mv_err stop_at_first(void *ctx, const MDB_val *k, const MDB_val *v)
{
    (void)k;
    (void)v;
    *(int *)ctx = 1;
    return MV_ERR_EXISTS; /* stops the scan */
}

static mv_err ix_claim_any(mv_itxn *t, const uint8_t *tag)
{
    int found = 0;
    mv_err rc = scan(t, DB_CLAIMS, tag, 32, stop_at_first, &found);
    if (rc == MV_ERR_EXISTS && found)
        return MV_OK;
    return rc == MV_OK ? MV_ERR_NOT_FOUND : rc;
}

static mv_err ix_claim_expire(mv_itxn *t, uint64_t before, uint64_t *n)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    *n = 0;
    mv_err rc = map_err(mdb_cursor_open(t->txn, D(t, DB_CTIME), &c));
    if (rc != MV_OK)
        return rc;
    int e;
    /* Deleting at the cursor moves it to the next key, so keep taking the first one. */
    while ((e = table_edge(c, DB_CTIME, 0, &k, &v)) == 0) {
        const uint8_t *p = k.mv_data;
        rc = MV_ERR_PARSE;
        if (k.mv_size != 72)
            goto out;
        uint64_t at = 0;
        for (int i = 0; i < 8; i++)
            at = at << 8 | p[i];
        if (at >= before)
            break;
        uint8_t ck[64];
        memcpy(ck, p + 8, 64);
        rc = MV_ERR_IO;
        if (mv_store_fault_hit())
            goto out;
        if ((rc = map_err(mdb_cursor_del(c, 0))) != MV_OK ||
            (rc = del_opt(t, DB_CLAIMS, ck, 64)) != MV_OK)
            goto out;
        (*n)++;
    }
    rc = e == 0 || e == MDB_NOTFOUND ? MV_OK : map_err(e);
out:
    mdb_cursor_close(c);
    return rc;
}

static mv_err claim_iter_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    cb *c = ctx;
    if (k->mv_size != 64 || v->mv_size != 8)
        return MV_ERR_PARSE;
    const uint8_t *p = k->mv_data;
    return c->fn.claim(c->ctx, p, p + 32, get_u64(v->mv_data));
}

static mv_err ix_claim_iter(mv_itxn *t, mv_ix_claim_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.claim = fn;
    return scan(t, DB_CLAIMS, NULL, 0, claim_iter_kv, &c);
}

/* ---- varints: LEB128, at most 10 bytes for a u64 ---- */

#define VARINT_MAX MV_VARINT_MAX


/* Puts k (greater than every key of db, or of k's duplicates in a DUPSORT db) with
 * MDB_APPEND / MDB_APPENDDUP, otherwise plainly: appended keys fill pages instead of splitting
 * them in the middle, which is what keeps time-ordered record ids at full pages. */
static mv_err put_ordered(mv_itxn *t, int db, const void *k0, size_t kn0, const void *v, size_t vn,
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
    if ((rc = map_err(mdb_cursor_open(t->txn, D(t, db), &c))) != MV_OK)
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
            rc = map_err(e);
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
        rc = map_err(e);
        goto out;
    }
put:
    rc = map_err(mdb_cursor_put(c, &key, &val, flags));
out:
    mdb_cursor_close(c);
    return rc;
}

/* ---- records ---- */

/* Version 4 (index format 3) and version 3 (format 2): version u8, then varints: set,
 * created (version 4: coded against the id, see created_code), logical, segment, offset in
 * the segment, tag count, envelope length; the version says the layout of the record's bytes
 * in its segment (mv_ix_record.ids). Values of versions
 * 1 and 2 (index format 1, envelope and readers inline) are read only by legacy_next, to
 * migrate them. */
#define REC_V1 1
#define REC_V2 2
#define REC_V3 3
#define REC_V4 4 /* format 3: the record's envelope, then its blocks' ids (varints) */
#define REC_FIXED_V1 60
#define REC_FIXED_V2 108

/* Version 4 stores `created` as the zigzag-coded difference from the seconds of the
 * record's id (mv_record_id_new: 48 bits of milliseconds first), one byte for a record
 * stored within a minute of its id's making instead of five. Any id and time code exactly
 * (arithmetic mod 2^64); an id that is not time-ordered only costs a longer varint. */
static uint64_t id_seconds(const uint8_t *id)
{
    uint64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = ms << 8 | id[i];
    return ms / 1000;
}

static uint64_t created_code(const uint8_t *id, uint64_t created)
{
    uint64_t d = created - id_seconds(id);
    return d << 1 ^ (d >> 63 ? UINT64_MAX : 0);
}

static uint64_t created_decode(const uint8_t *id, uint64_t z)
{
    uint64_t d = z >> 1 ^ (z & 1 ? UINT64_MAX : 0);
    return id_seconds(id) + d;
}

static mv_err decode_record(const MDB_val *v, const uint8_t *id, mv_ix_record *r)
{
    const uint8_t *p = v->mv_data;
    size_t n = v->mv_size, pos = 1;
    uint64_t set;
    if (n < 1 || (p[0] != REC_V3 && p[0] != REC_V4))
        return MV_ERR_PARSE;
    r->ids = p[0] == REC_V4;
    if (!mv_varint_get(p, n, &pos, &set) || set == 0 || set > UINT32_MAX ||
        !mv_varint_get(p, n, &pos, &r->created) || !mv_varint_get(p, n, &pos, &r->logical) ||
        !mv_varint_get(p, n, &pos, &r->seg) || !mv_varint_get(p, n, &pos, &r->off) ||
        !mv_varint_get(p, n, &pos, &r->n_tags) || !mv_varint_get(p, n, &pos, &r->envelope_len) || pos != n)
        return MV_ERR_PARSE;
    r->set = (uint32_t)set;
    if (r->ids)
        r->created = created_decode(id, r->created);
    return MV_OK;
}

static mv_err ix_record_get(mv_itxn *t, const uint8_t *id, mv_ix_record *r)
{
    MDB_val v;
    mv_err rc = get(t, DB_RECORDS, id, 16, &v);
    return rc != MV_OK ? rc : decode_record(&v, id, r);
}

static void set_key(uint8_t k[4], uint32_t set) { put_be32(k, set); }

/* segment_sets (format 3; format 2's seg_sets is converted into it by fold_step): segment
 * id BE u64 || set id BE u32 || chunk BE u16 -> the ids of the records of that set whose bytes
 * are in that segment, coded: version u8 = 1, then for each id the zigzag-coded difference of
 * its 48-bit time prefix from the previous id's (the first: from 0) as a varint, then its
 * other 10 bytes. Time-ordered ids of one batch cost 11 bytes instead of 16. A chunk takes ids
 * while its value stays within SEGSET_BYTES (inside a leaf page, never an overflow page) and
 * SEGSET_MAX ids. A put_records call writes a new segment, whose id is the largest: its
 * entries are appended (full pages, and a transaction copies only the tail page) whatever the
 * number of sets it touches. */
#define SEGSET_V1 1
#define SEGSET_MAX 255
#define SEGSET_BYTES 1900
#define SEGSET_KEY 14
#define SEGSET_ID_MAX (VARINT_MAX + 10) /* coded bytes of one id */

static void segset_key(uint8_t k[SEGSET_KEY], uint64_t seg, uint32_t set, uint16_t chunk)
{
    put_be64(k, seg);
    put_be32(k + 8, set);
    k[12] = (uint8_t)(chunk >> 8);
    k[13] = (uint8_t)chunk;
}

static uint64_t id_ms(const uint8_t *id)
{
    uint64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = ms << 8 | id[i];
    return ms;
}

/* Coded bytes of id after an id of time prev (ms). */
static size_t segset_id_code(uint8_t *out, const uint8_t *id, uint64_t prev)
{
    uint64_t d = id_ms(id) - prev;
    size_t n = mv_varint_put(out, d << 1 ^ (d >> 63 ? UINT64_MAX : 0));
    memcpy(out + n, id + 6, 10);
    return n + 10;
}

/* The value coding ids[0..n) into out (room for 1 + n * SEGSET_ID_MAX). */
static size_t segset_encode(uint8_t *out, const uint8_t *ids, size_t n)
{
    size_t len = 0;
    uint64_t prev = 0;
    out[len++] = SEGSET_V1;
    for (size_t i = 0; i < n; i++) {
        len += segset_id_code(out + len, ids + 16 * i, prev);
        prev = id_ms(ids + 16 * i);
    }
    return len;
}

/* Decodes a value into ids (room for SEGSET_MAX); *n ids. */
static mv_err segset_decode(const MDB_val *v, uint8_t *ids, size_t *n)
{
    const uint8_t *p = v->mv_data;
    size_t len = v->mv_size, pos = 1;
    uint64_t prev = 0;
    *n = 0;
    if (len < 2 || p[0] != SEGSET_V1)
        return MV_ERR_PARSE;
    while (pos < len) {
        uint64_t z, ms;
        if (*n == SEGSET_MAX || !mv_varint_get(p, len, &pos, &z) || len - pos < 10)
            return MV_ERR_PARSE;
        ms = prev + (z >> 1 ^ (z & 1 ? UINT64_MAX : 0));
        if (ms >> 48)
            return MV_ERR_PARSE;
        uint8_t *id = ids + 16 * (*n)++;
        for (int i = 0; i < 6; i++)
            id[i] = (uint8_t)(ms >> (40 - 8 * i));
        memcpy(id + 6, p + pos, 10);
        pos += 10;
        prev = ms;
    }
    return MV_OK;
}

typedef struct segset_pos {
    int found;           /* the id's chunk (remove) */
    uint16_t chunk;
    int any;             /* some chunk exists */
    uint16_t last;       /* the last chunk */
} segset_pos;

typedef struct segset_find {
    const uint8_t *id;
    segset_pos *pos;
    uint8_t ids[16 * SEGSET_MAX];
} segset_find;

static mv_err segset_find_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    segset_find *f = ctx;
    const uint8_t *kp = k->mv_data;
    size_t n;
    mv_err rc;
    if (k->mv_size != SEGSET_KEY)
        return MV_ERR_PARSE;
    uint16_t chunk = (uint16_t)(kp[12] << 8 | kp[13]);
    f->pos->any = 1;
    f->pos->last = chunk;
    if (!f->id || f->pos->found)
        return MV_OK;
    if ((rc = segset_decode(v, f->ids, &n)) != MV_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (memcmp(f->ids + 16 * i, f->id, 16) == 0) {
            f->pos->found = 1;
            f->pos->chunk = chunk;
            break;
        }
    return MV_OK;
}

static mv_err segset_locate(mv_itxn *t, uint64_t seg, uint32_t set, const uint8_t *id, segset_pos *pos)
{
    uint8_t k[SEGSET_KEY];
    segset_find *f = mv_malloc(sizeof *f);
    if (!f)
        return MV_ERR_NOMEM;
    f->id = id;
    f->pos = pos;
    memset(pos, 0, sizeof *pos);
    segset_key(k, seg, set, 0);
    mv_err rc = scan(t, DB_SEGSETS, k, 12, segset_find_kv, f);
    mv_free(f);
    return rc;
}

/* Working space of a chunk being changed: its ids and their coding. */
typedef struct segset_buf {
    uint8_t ids[16 * SEGSET_MAX];
    uint8_t val[1 + SEGSET_MAX * SEGSET_ID_MAX];
} segset_buf;

/* Adds ids[0..n) to (seg, set): into its last chunk while it has room, then new chunks. */
static mv_err ix_segset_add(mv_itxn *t, uint64_t seg, uint32_t set, const uint8_t *ids, size_t n)
{
    uint8_t k[SEGSET_KEY], code[SEGSET_ID_MAX];
    segset_pos pos;
    MDB_val v;
    size_t have = 0, len = 1;
    uint64_t prev = 0;
    segset_buf *b = NULL;
    mv_err rc = segset_locate(t, seg, set, NULL, &pos);
    if (rc != MV_OK)
        return rc;
    if (!(b = mv_malloc(sizeof *b)))
        return MV_ERR_NOMEM;
    uint16_t chunk = pos.any ? pos.last : 0;
    if (pos.any) {
        segset_key(k, seg, set, chunk);
        if ((rc = get(t, DB_SEGSETS, k, SEGSET_KEY, &v)) != MV_OK ||
            (rc = segset_decode(&v, b->ids, &have)) != MV_OK)
            goto out;
        len = v.mv_size;
        prev = id_ms(b->ids + 16 * (have - 1));
    }
    while (n > 0) {
        size_t c = segset_id_code(code, ids, prev);
        if (have == SEGSET_MAX || (have && len + c > SEGSET_BYTES)) {
            /* The last chunk is full: the ids go to the next one. */
            rc = MV_ERR_TOO_LARGE;
            if (chunk == UINT16_MAX)
                goto out;
            chunk++;
            have = 0;
            len = 1;
            prev = 0;
            continue;
        }
        memcpy(b->ids + 16 * have++, ids, 16);
        len += c;
        prev = id_ms(ids);
        ids += 16;
        n--;
        /* Written when the chunk is full or the ids run out. */
        if (n == 0 || have == SEGSET_MAX || len + segset_id_code(code, ids, prev) > SEGSET_BYTES) {
            size_t vl = segset_encode(b->val, b->ids, have);
            segset_key(k, seg, set, chunk);
            if ((rc = put_ordered(t, DB_SEGSETS, k, SEGSET_KEY, b->val, vl, 0)) != MV_OK)
                goto out;
        }
    }
    rc = MV_OK;
out:
    mv_free(b);
    return rc;
}

/* Removes id from (seg, set), if there. */
static mv_err segset_remove(mv_itxn *t, uint64_t seg, uint32_t set, const uint8_t *id)
{
    uint8_t k[SEGSET_KEY];
    segset_pos pos;
    segset_buf *b = NULL;
    MDB_val v;
    size_t n, at = 0;
    mv_err rc = segset_locate(t, seg, set, id, &pos);
    if (rc != MV_OK || !pos.found)
        return rc;
    if (!(b = mv_malloc(sizeof *b)))
        return MV_ERR_NOMEM;
    segset_key(k, seg, set, pos.chunk);
    if ((rc = get(t, DB_SEGSETS, k, SEGSET_KEY, &v)) != MV_OK ||
        (rc = segset_decode(&v, b->ids, &n)) != MV_OK)
        goto out;
    while (at < n && memcmp(b->ids + 16 * at, id, 16) != 0)
        at++;
    rc = MV_ERR_BAD_STATE; /* segset_locate found it in this chunk */
    if (at == n)
        goto out;
    if (n == 1) {
        rc = del(t, DB_SEGSETS, k, SEGSET_KEY);
        goto out;
    }
    memmove(b->ids + 16 * at, b->ids + 16 * (at + 1), 16 * (n - at - 1));
    rc = put(t, DB_SEGSETS, k, SEGSET_KEY, b->val, segset_encode(b->val, b->ids, n - 1));
out:
    mv_free(b);
    return rc;
}

static size_t encode_record(uint8_t *v, const uint8_t *id, const mv_ix_record *r)
{
    size_t n = 0;
    v[n++] = r->ids ? REC_V4 : REC_V3;
    n += mv_varint_put(v + n, r->set);
    n += mv_varint_put(v + n, r->ids ? created_code(id, r->created) : r->created);
    n += mv_varint_put(v + n, r->logical);
    n += mv_varint_put(v + n, r->seg);
    n += mv_varint_put(v + n, r->off);
    n += mv_varint_put(v + n, r->n_tags);
    n += mv_varint_put(v + n, r->envelope_len);
    return n;
}

/* A new record (or a format-1 one being migrated), without its seg_sets entry. */
static mv_err ix_record_add(mv_itxn *t, const uint8_t *id, const mv_ix_record *r)
{
    uint8_t v[1 + 7 * VARINT_MAX];
    if (r->set == 0)
        return MV_ERR_INVAL;
    return put_ordered(t, DB_RECORDS, id, 16, v, encode_record(v, id, r), 0);
}

static mv_err ix_record_put(mv_itxn *t, const uint8_t *id, const mv_ix_record *r)
{
    uint8_t v[1 + 7 * VARINT_MAX];
    mv_ix_record old;
    mv_err rc;
    if (r->set == 0)
        return MV_ERR_INVAL;
    size_t n = encode_record(v, id, r);
    rc = ix_record_get(t, id, &old);
    if (rc == MV_OK) {
        if ((rc = put(t, DB_RECORDS, id, 16, v, n)) != MV_OK)
            return rc;
        if (old.set == r->set && old.seg == r->seg)
            return MV_OK;
        if ((rc = segset_remove(t, old.seg, old.set, id)) != MV_OK)
            return rc;
    } else if (rc == MV_ERR_NOT_FOUND) {
        if ((rc = put_ordered(t, DB_RECORDS, id, 16, v, n, 0)) != MV_OK)
            return rc;
    } else {
        return rc;
    }
    return ix_segset_add(t, r->seg, r->set, id, 1);
}

static mv_err ix_record_del(mv_itxn *t, const uint8_t *id)
{
    mv_ix_record r;
    mv_err rc = ix_record_get(t, id, &r);
    if (rc != MV_OK)
        return rc;
    if ((rc = segset_remove(t, r.seg, r.set, id)) != MV_OK)
        return rc;
    return del(t, DB_RECORDS, id, 16);
}

static mv_err record_iter_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    cb *c = ctx;
    mv_ix_record r;
    mv_err rc;
    if (k->mv_size != 16)
        return MV_ERR_PARSE;
    if ((rc = decode_record(v, k->mv_data, &r)) != MV_OK)
        return rc;
    return c->fn.record(c->ctx, k->mv_data, &r);
}

static mv_err ix_record_iter(mv_itxn *t, mv_ix_record_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.record = fn;
    return scan(t, DB_RECORDS, NULL, 0, record_iter_kv, &c);
}

typedef struct segset_scan {
    cb c;
    const uint32_t *sets; /* sorted; NULL: every set */
    size_t n_sets;
    uint8_t ids[16 * SEGSET_MAX];
} segset_scan;

static mv_err set_record_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    segset_scan *sc = ctx;
    size_t n;
    mv_err rc;
    if (k->mv_size != SEGSET_KEY)
        return MV_ERR_PARSE;
    uint32_t set = get_be32((const uint8_t *)k->mv_data + 8);
    if (sc->sets) {
        size_t lo = 0, hi = sc->n_sets;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (sc->sets[mid] < set)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == sc->n_sets || sc->sets[lo] != set)
            return MV_OK;
    }
    if ((rc = segset_decode(v, sc->ids, &n)) != MV_OK)
        return rc;
    for (size_t i = 0; rc == MV_OK && i < n; i++)
        rc = sc->c.fn.id(sc->c.ctx, set, sc->ids + 16 * i);
    return rc;
}

/* No set -> records index (it would cost every record an entry inserted in the middle):
 * a scan of seg_sets, which has one entry per (segment, set), far fewer than records. */
static mv_err ix_set_record_iter(mv_itxn *t, const uint32_t *sets, size_t n_sets, mv_ix_id_fn fn,
                                 void *ctx)
{
    segset_scan *sc = mv_malloc(sizeof *sc);
    if (!sc)
        return MV_ERR_NOMEM;
    memset(&sc->c, 0, sizeof sc->c);
    sc->c.ctx = ctx;
    sc->c.fn.id = fn;
    sc->sets = sets;
    sc->n_sets = n_sets;
    mv_err rc = scan(t, DB_SEGSETS, NULL, 0, set_record_kv, sc);
    mv_free(sc);
    return rc;
}

/* ---- access sets ---- */

/* sets value: version u8 = 1, then the content (hashed for set_hash): owner 32, patient 32,
 * episode 16, dept_len u8, dept, n_readers u8, readers 32 each. A set is immutable once
 * interned and keeps no reference count (so storing a record never rewrites its set's
 * page); gc drops the sets no record names. */
#define SET_V1 1
#define SET_CONTENT_MAX (32 + 32 + 16 + 1 + 64 + 1 + 64 * 32)

static mv_err encode_set_content(const mv_ix_set *st, uint8_t *p, size_t *n)
{
    size_t dl = strlen(st->dept), k = 0;
    if (dl == 0 || dl > 64 || st->n_readers == 0 || st->n_readers > 64)
        return MV_ERR_INVAL;
    memcpy(p, st->owner, 32), k += 32;
    memcpy(p + k, st->patient, 32), k += 32;
    memcpy(p + k, st->episode, 16), k += 16;
    p[k++] = (uint8_t)dl;
    memcpy(p + k, st->dept, dl), k += dl;
    p[k++] = (uint8_t)st->n_readers;
    memcpy(p + k, st->readers, 32 * st->n_readers), k += 32 * st->n_readers;
    *n = k;
    return MV_OK;
}

static mv_err decode_set(const MDB_val *v, mv_ix_set *st)
{
    const uint8_t *p = v->mv_data;
    size_t n = v->mv_size, k = 1;
    if (n < 1 + 80 + 2 || p[0] != SET_V1)
        return MV_ERR_PARSE;
    memcpy(st->owner, p + k, 32), k += 32;
    memcpy(st->patient, p + k, 32), k += 32;
    memcpy(st->episode, p + k, 16), k += 16;
    size_t dl = p[k++];
    if (dl == 0 || dl > 64 || n < k + dl + 1)
        return MV_ERR_PARSE;
    memcpy(st->dept, p + k, dl), k += dl;
    st->dept[dl] = 0;
    size_t nr = p[k++];
    if (nr == 0 || nr > 64 || n != k + 32 * nr)
        return MV_ERR_PARSE;
    st->n_readers = nr;
    memcpy(st->readers, p + k, 32 * nr);
    return MV_OK;
}

static mv_err ix_set_get(mv_itxn *t, uint32_t id, mv_ix_set *st)
{
    uint8_t k[4];
    MDB_val v;
    set_key(k, id);
    mv_err rc = get(t, DB_SETS, k, 4, &v);
    return rc != MV_OK ? rc : decode_set(&v, st);
}

static mv_err set_hash(const mv_ix_set *st, uint8_t h[32], uint8_t *content, size_t *n)
{
    mv_err rc = encode_set_content(st, content, n);
    return rc != MV_OK ? rc : mv_sha256(h, content, *n);
}

static mv_err ix_set_find(mv_itxn *t, const mv_ix_set *st, uint32_t *id)
{
    uint8_t h[32], content[SET_CONTENT_MAX], k[4];
    size_t n;
    MDB_val v;
    mv_err rc = set_hash(st, h, content, &n);
    if (rc != MV_OK || (rc = get(t, DB_SETHASH, h, 32, &v)) != MV_OK)
        return rc;
    if (v.mv_size != 4)
        return MV_ERR_PARSE;
    *id = get_be32(v.mv_data);
    /* Compare the content too: the lookup must never hand out another set's id. */
    set_key(k, *id);
    if ((rc = get(t, DB_SETS, k, 4, &v)) != MV_OK)
        return rc == MV_ERR_NOT_FOUND ? MV_ERR_PARSE : rc;
    if (v.mv_size != 1 + n || memcmp((const uint8_t *)v.mv_data + 1, content, n) != 0)
        return MV_ERR_PARSE;
    return MV_OK;
}

static mv_err set_reader_keys(mv_itxn *t, uint32_t id, const mv_ix_set *st, int add)
{
    uint8_t k[36];
    mv_err rc = MV_OK;
    put_be32(k + 32, id);
    for (size_t i = 0; i < st->n_readers && rc == MV_OK; i++) {
        memcpy(k, st->readers[i], 32);
        rc = add ? put(t, DB_SETREADERS, k, 36, "", 0) : del_opt(t, DB_SETREADERS, k, 36);
    }
    return rc;
}

static mv_err ix_set_put(mv_itxn *t, uint32_t id, const mv_ix_set *st)
{
    uint8_t v[1 + SET_CONTENT_MAX], h[32], k[4], idv[4];
    size_t n;
    mv_err rc;
    if (id == 0)
        return MV_ERR_INVAL;
    v[0] = SET_V1;
    if ((rc = set_hash(st, h, v + 1, &n)) != MV_OK)
        return rc;
    set_key(k, id);
    put_be32(idv, id);
    MDB_val old;
    rc = get(t, DB_SETS, k, 4, &old);
    if (rc == MV_OK) /* interned content never changes */
        return old.mv_size == 1 + n && memcmp((const uint8_t *)old.mv_data + 1, v + 1, n) == 0
                   ? MV_OK
                   : MV_ERR_INVAL;
    if (rc != MV_ERR_NOT_FOUND)
        return rc;
    if ((rc = put_ordered(t, DB_SETS, k, 4, v, 1 + n, 0)) != MV_OK ||
        (rc = put(t, DB_SETHASH, h, 32, idv, 4)) != MV_OK)
        return rc;
    return set_reader_keys(t, id, st, 1);
}

static mv_err ix_set_del(mv_itxn *t, uint32_t id)
{
    uint8_t h[32], content[SET_CONTENT_MAX], k[4];
    mv_ix_set st;
    size_t n;
    mv_err rc = ix_set_get(t, id, &st);
    if (rc != MV_OK)
        return rc;
    if ((rc = set_hash(&st, h, content, &n)) != MV_OK)
        return rc == MV_ERR_INVAL ? MV_ERR_PARSE : rc;
    if ((rc = set_reader_keys(t, id, &st, 0)) != MV_OK || (rc = del_opt(t, DB_SETHASH, h, 32)) != MV_OK)
        return rc;
    set_key(k, id);
    return del(t, DB_SETS, k, 4);
}

/* One above the last key of a database keyed by a big-endian integer of kn bytes. */
static mv_err next_id(mv_itxn *t, int db, size_t kn, uint64_t *id)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    mv_err rc = map_err(mdb_cursor_open(t->txn, D(t, db), &c));
    if (rc != MV_OK)
        return rc;
    int e = table_edge(c, db, 1, &k, &v);
    if (e == MDB_NOTFOUND) {
        *id = 1;
        rc = MV_OK;
    } else if (e == 0 && k.mv_size == kn) {
        uint64_t x = 0;
        for (size_t i = 0; i < kn; i++)
            x = x << 8 | ((const uint8_t *)k.mv_data)[i];
        *id = x + 1;
        rc = MV_OK;
    } else {
        rc = e == 0 ? MV_ERR_PARSE : map_err(e);
    }
    mdb_cursor_close(c);
    return rc;
}

static mv_err ix_set_next_id(mv_itxn *t, uint32_t *id)
{
    uint64_t x;
    mv_err rc = next_id(t, DB_SETS, 4, &x);
    if (rc != MV_OK)
        return rc;
    if (x > UINT32_MAX)
        return MV_ERR_TOO_LARGE;
    *id = (uint32_t)x;
    return MV_OK;
}

static mv_err set_iter_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    cb *c = ctx;
    mv_ix_set *st = mv_malloc(sizeof *st);
    mv_err rc = MV_ERR_NOMEM;
    if (!st)
        return rc;
    rc = MV_ERR_PARSE;
    if (k->mv_size == 4 && (rc = decode_set(v, st)) == MV_OK)
        rc = c->fn.set(c->ctx, get_be32(k->mv_data), st);
    mv_free(st);
    return rc;
}

static mv_err ix_set_iter(mv_itxn *t, mv_ix_set_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.set = fn;
    return scan(t, DB_SETS, NULL, 0, set_iter_kv, &c);
}

static mv_err set_reader_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    cb *c = ctx;
    (void)v;
    if (k->mv_size != 36)
        return MV_ERR_PARSE;
    const uint8_t *p = k->mv_data;
    return c->fn.setid(c->ctx, p, get_be32(p + 32));
}

static mv_err ix_set_reader_iter(mv_itxn *t, const uint8_t *reader, mv_ix_setid_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.setid = fn;
    return scan(t, DB_SETREADERS, reader, reader ? 32 : 0, set_reader_kv, &c);
}

/* ---- envelope segments: id (BE u64) -> version 1, pack u32, off u64, len u32,
 * live records u64, live bytes u64 ---- */

#define SEG_V1 1
#define SEG_BYTES 33

static mv_err decode_seg(const MDB_val *v, mv_ix_seg *g)
{
    const uint8_t *p = v->mv_data;
    if (v->mv_size != SEG_BYTES || p[0] != SEG_V1)
        return MV_ERR_PARSE;
    g->pack = get_u32(p + 1);
    g->off = get_u64(p + 5);
    g->len = get_u32(p + 13);
    g->live_records = get_u64(p + 17);
    g->live_bytes = get_u64(p + 25);
    return MV_OK;
}

static mv_err ix_seg_get(mv_itxn *t, uint64_t id, mv_ix_seg *g)
{
    uint8_t k[8];
    MDB_val v;
    put_be64(k, id);
    mv_err rc = get(t, DB_SEGS, k, 8, &v);
    return rc != MV_OK ? rc : decode_seg(&v, g);
}

static mv_err ix_seg_put(mv_itxn *t, uint64_t id, const mv_ix_seg *g)
{
    uint8_t k[8], v[SEG_BYTES];
    put_be64(k, id);
    v[0] = SEG_V1;
    put_u32(v + 1, g->pack);
    put_u64(v + 5, g->off);
    put_u32(v + 13, g->len);
    put_u64(v + 17, g->live_records);
    put_u64(v + 25, g->live_bytes);
    return put_ordered(t, DB_SEGS, k, 8, v, SEG_BYTES, 0);
}

static mv_err ix_seg_del(mv_itxn *t, uint64_t id)
{
    uint8_t k[8];
    put_be64(k, id);
    return del(t, DB_SEGS, k, 8);
}

static mv_err ix_seg_next_id(mv_itxn *t, uint64_t *id) { return next_id(t, DB_SEGS, 8, id); }

static mv_err seg_iter_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    cb *c = ctx;
    mv_ix_seg g;
    mv_err rc;
    if (k->mv_size != 8)
        return MV_ERR_PARSE;
    if ((rc = decode_seg(v, &g)) != MV_OK)
        return rc;
    uint64_t id = 0;
    for (int i = 0; i < 8; i++)
        id = id << 8 | ((const uint8_t *)k->mv_data)[i];
    return c->fn.seg(c->ctx, id, &g);
}

static mv_err ix_seg_iter(mv_itxn *t, mv_ix_seg_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.seg = fn;
    return scan(t, DB_SEGS, NULL, 0, seg_iter_kv, &c);
}

/* ---- format and the format-1 records ---- */

#define FORMAT_KEY "format"
#define FORMAT_CURRENT 3

static mv_err ix_format_get(mv_itxn *t, uint32_t *format)
{
    MDB_val v;
    mv_err rc = get(t, DB_META, FORMAT_KEY, sizeof FORMAT_KEY - 1, &v);
    if (rc == MV_ERR_NOT_FOUND && t->ix->has_old[DB_META]) { /* format 2, not folded yet */
        MDB_val key = {sizeof FORMAT_KEY - 1, (void *)(uintptr_t)FORMAT_KEY};
        rc = map_err(mdb_get(t->txn, t->ix->old[DB_META], &key, &v));
    }
    if (rc == MV_ERR_NOT_FOUND) {
        *format = 0;
        return MV_OK;
    }
    if (rc != MV_OK)
        return rc;
    if (v.mv_size != 4)
        return MV_ERR_PARSE;
    *format = get_u32(v.mv_data);
    return MV_OK;
}

/* Version 1: version u8 = 1, dept_len u8, n_readers u16, n_tags u32, created u64,
 * logical u64, envelope_len u32, owner[32], dept, readers, tags, envelope.
 * Version 2: the same with version 2 and patient[32] || episode[16] after the owner.
 * Version-1 values (stores made before records had patients) decode with zeros. */
static mv_err decode_legacy(const MDB_val *v, mv_ix_legacy *r)
{
    const uint8_t *p = v->mv_data;
    size_t n = v->mv_size, fixed;
    if (n < REC_FIXED_V1)
        return MV_ERR_PARSE;
    if (p[0] == REC_V1)
        fixed = REC_FIXED_V1;
    else if (p[0] == REC_V2)
        fixed = REC_FIXED_V2;
    else
        return MV_ERR_PARSE;
    if (n < fixed)
        return MV_ERR_PARSE;
    size_t dl = p[1], nr = (size_t)p[2] | (size_t)p[3] << 8, nt = get_u32(p + 4);
    size_t el = get_u32(p + 24);
    if (dl > 64 || nr > 64 || nt > (SIZE_MAX / 64) || n != fixed + dl + 32 * nr + 32 * nt + el)
        return MV_ERR_PARSE;
    r->created = get_u64(p + 8);
    r->logical = get_u64(p + 16);
    memcpy(r->owner, p + 28, 32);
    if (fixed == REC_FIXED_V2) {
        memcpy(r->patient, p + 60, 32);
        memcpy(r->episode, p + 92, 16);
    } else {
        memset(r->patient, 0, 32);
        memset(r->episode, 0, 16);
    }
    memcpy(r->dept, p + fixed, dl);
    r->dept[dl] = 0;
    r->n_readers = nr;
    r->readers = p + fixed + dl;
    r->n_tags = nt;
    r->tags = r->readers + 32 * nr;
    r->envelope_len = el;
    r->envelope = r->tags + 32 * nt;
    return MV_OK;
}

static mv_err ix_legacy_next(mv_itxn *t, const uint8_t *after, uint8_t *id, mv_ix_legacy *r)
{
    MDB_cursor *c = NULL;
    MDB_val k = {16, (void *)(uintptr_t)after}, v;
    mv_err rc = map_err(mdb_cursor_open(t->txn, D(t, DB_RECORDS), &c));
    if (rc != MV_OK)
        return rc;
    int e = mdb_cursor_get(c, &k, &v, after ? MDB_SET_RANGE : MDB_FIRST);
    for (; e == 0; e = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16) {
            rc = MV_ERR_PARSE;
            goto out;
        }
        if (after && memcmp(k.mv_data, after, 16) <= 0)
            continue;
        const uint8_t *p = v.mv_data;
        if (v.mv_size && (p[0] == REC_V3 || p[0] == REC_V4))
            continue;
        memcpy(id, k.mv_data, 16);
        rc = decode_legacy(&v, r);
        goto out;
    }
    rc = map_err(e);
out:
    mdb_cursor_close(c);
    return rc;
}

static mv_err ix_legacy_finish(mv_itxn *t)
{
    uint8_t v[4];
    if (mv_store_fault_hit())
        return MV_ERR_IO;
    if (t->ix->has_readers) {
        mv_err rc = map_err(mdb_drop(t->txn, t->ix->readers, 0));
        if (rc != MV_OK)
            return rc;
    }
    put_u32(v, FORMAT_CURRENT);
    return put(t, DB_META, FORMAT_KEY, sizeof FORMAT_KEY - 1, v, 4);
}

/* Moves up to max entries of format 2's per-table databases into "tables" (seg_sets into
 * segment_sets, its values recoded), deleting them there in the same transaction, so that a
 * crash between steps loses nothing and the next open goes on; *done is set once every one
 * of them is empty. The emptied databases stay (a name in the main database each, no page). */
static mv_err ix_fold_step(mv_itxn *t, size_t max, int *done)
{
    uint8_t coded[1 + SEGSET_MAX * SEGSET_ID_MAX];
    size_t moved = 0;
    mv_err rc = MV_OK;
    *done = 0;
    for (int db = 0; db < DB_COUNT && moved < max; db++) {
        MDB_cursor *c = NULL;
        MDB_val k, v;
        int e;
        if (!t->ix->has_old[db])
            continue;
        if ((rc = map_err(mdb_cursor_open(t->txn, t->ix->old[db], &c))) != MV_OK)
            return rc;
        while (moved < max && (e = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
            if (k.mv_size > KEYMAX) {
                rc = MV_ERR_PARSE;
                break;
            }
            if (db == DB_SEGSETS) {
                /* Format 2's value is the ids themselves, 16 bytes each. */
                rc = MV_ERR_PARSE;
                if (v.mv_size == 0 || v.mv_size % 16 || v.mv_size / 16 > SEGSET_MAX)
                    break;
                size_t vl = segset_encode(coded, v.mv_data, v.mv_size / 16);
                if ((rc = put(t, db, k.mv_data, k.mv_size, coded, vl)) != MV_OK)
                    break;
            } else if ((rc = put(t, db, k.mv_data, k.mv_size, v.mv_data, v.mv_size)) != MV_OK) {
                break;
            }
            if ((rc = map_err(mdb_cursor_del(c, 0))) != MV_OK)
                break;
            moved++;
        }
        if (rc == MV_OK && moved < max && e != MDB_NOTFOUND)
            rc = map_err(e);
        mdb_cursor_close(c);
        if (rc != MV_OK)
            return rc;
    }
    *done = moved < max;
    return MV_OK;
}

/* ---- packs ---- */

static mv_err decode_pack(const MDB_val *v, mv_ix_pack *p)
{
    if (v->mv_size != 24)
        return MV_ERR_PARSE;
    const uint8_t *d = v->mv_data;
    p->end = get_u64(d);
    p->live_bytes = get_u64(d + 8);
    p->live_entries = get_u64(d + 16);
    return MV_OK;
}

static mv_err ix_pack_get(mv_itxn *t, uint32_t pack, mv_ix_pack *p)
{
    uint8_t k[4];
    MDB_val v;
    put_be32(k, pack);
    mv_err rc = get(t, DB_PACKS, k, 4, &v);
    return rc != MV_OK ? rc : decode_pack(&v, p);
}

static mv_err ix_pack_put(mv_itxn *t, uint32_t pack, const mv_ix_pack *p)
{
    uint8_t k[4], v[24];
    put_be32(k, pack);
    put_u64(v, p->end);
    put_u64(v + 8, p->live_bytes);
    put_u64(v + 16, p->live_entries);
    return put(t, DB_PACKS, k, 4, v, 24);
}

static mv_err ix_pack_del(mv_itxn *t, uint32_t pack)
{
    uint8_t k[4];
    put_be32(k, pack);
    return del(t, DB_PACKS, k, 4);
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
    return c->fn.pack(c->ctx, get_be32(k->mv_data), &p);
}

static mv_err ix_pack_iter(mv_itxn *t, mv_ix_pack_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.pack = fn;
    return scan(t, DB_PACKS, NULL, 0, pack_iter_kv, &c);
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
        *f[i] = get_u64(p + 8 * i);
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
    mv_err rc = get(t, DB_STATS, k, kn, &v);
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
        put_u64(v + 8 * i, f[i]);
    return put(t, DB_STATS, k, kn, v, 64);
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
    return scan(t, DB_STATS, NULL, 0, stats_iter_kv, &c);
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
    .block_get = ix_block_get,
    .block_put = ix_block_put,
    .block_del = ix_block_del,
    .block_iter = ix_block_iter,
    .block_id_new = ix_block_id_new,
    .block_id_tag = ix_block_id_tag,
    .zero_iter = ix_zero_iter,
    .token_get = ix_token_get,
    .token_put = ix_token_put,
    .token_iter = ix_token_iter,
    .claim_get = ix_claim_get,
    .claim_put = ix_claim_put,
    .claim_any = ix_claim_any,
    .claim_expire = ix_claim_expire,
    .claim_iter = ix_claim_iter,
    .record_get = ix_record_get,
    .record_put = ix_record_put,
    .record_add = ix_record_add,
    .segset_add = ix_segset_add,
    .record_del = ix_record_del,
    .record_iter = ix_record_iter,
    .set_record_iter = ix_set_record_iter,
    .set_get = ix_set_get,
    .set_find = ix_set_find,
    .set_put = ix_set_put,
    .set_del = ix_set_del,
    .set_next_id = ix_set_next_id,
    .set_iter = ix_set_iter,
    .set_reader_iter = ix_set_reader_iter,
    .seg_get = ix_seg_get,
    .seg_put = ix_seg_put,
    .seg_del = ix_seg_del,
    .seg_next_id = ix_seg_next_id,
    .seg_iter = ix_seg_iter,
    .format_get = ix_format_get,
    .legacy_next = ix_legacy_next,
    .legacy_finish = ix_legacy_finish,
    .fold_step = ix_fold_step,
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
    if ((rc = map_err(mdb_env_create(&ix->env))) != MV_OK) {
        ix->env = NULL;
        goto out;
    }
    /* Durable commits (no MDB_NOSYNC): mv_store's "returns only when durable" rests on them.
     * MDB_NOTLS: read transactions are not tied to threads (the server's thread pool). */
    if ((rc = map_err(mdb_env_set_mapsize(ix->env, map_size))) != MV_OK ||
        (rc = map_err(mdb_env_set_maxdbs(ix->env, P_COUNT + DB_COUNT + 1))) != MV_OK ||
        (rc = map_err(mdb_env_set_maxreaders(ix->env, max_readers))) != MV_OK ||
        (rc = map_err(mdb_env_open(ix->env, path, MDB_NOTLS, 0600))) != MV_OK)
        goto out;
    if ((rc = map_err(mdb_txn_begin(ix->env, NULL, 0, &txn))) != MV_OK)
        goto out;
    for (int i = 0; i < P_COUNT; i++)
        if ((rc = map_err(mdb_dbi_open(txn, phys_names[i], MDB_CREATE, &ix->dbi[i]))) != MV_OK)
            goto out;
    /* Earlier formats' databases are opened where they exist, never created. */
    for (int i = 0; i < DB_COUNT; i++) {
        if (!tables[i].old)
            continue;
        int e = mdb_dbi_open(txn, tables[i].old, 0, &ix->old[i]);
        if (e != 0 && e != MDB_NOTFOUND) {
            rc = map_err(e);
            goto out;
        }
        ix->has_old[i] = e == 0;
    }
    int e = mdb_dbi_open(txn, "readers", 0, &ix->readers);
    if (e != 0 && e != MDB_NOTFOUND) {
        rc = map_err(e);
        goto out;
    }
    ix->has_readers = e == 0;
    rc = map_err(mdb_txn_commit(txn));
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
