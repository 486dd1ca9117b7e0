/* index_lmdb.c - the engine's index in LMDB: every change commits atomically and durably
 * (synced commits), and every stored value is decoded with bounds checks before use. */
#include "fault.h"
#include "index.h"

#include <errno.h>
#include <lmdb.h>
#include <string.h>

#include "medvault/mv_mem.h"

enum { DB_BLOCKS, DB_ZERO, DB_TOKENS, DB_BTOK, DB_CLAIMS, DB_CTIME, DB_RECORDS, DB_READERS,
       DB_PACKS, DB_STATS, DB_COUNT };
static const char *const db_names[DB_COUNT] = {
    "blocks", "zero", "tokens", "block_tokens", "claims", "claims_by_time",
    "records", "readers", "packs", "stats"};

#define VERSION 1
#define TOTALS_KEY "\0" /* sorts before every department name (which cannot contain NUL) */

typedef struct index_lmdb {
    mv_index base;
    MDB_env *env;
    MDB_dbi dbi[DB_COUNT];
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

static MDB_dbi D(mv_itxn *t, int which) { return t->ix->dbi[which]; }

static mv_err get(mv_itxn *t, int db, const void *k, size_t kn, MDB_val *v)
{
    MDB_val key = {kn, (void *)(uintptr_t)k};
    return map_err(mdb_get(t->txn, D(t, db), &key, v));
}

static mv_err put(mv_itxn *t, int db, const void *k, size_t kn, const void *v, size_t vn)
{
    if (mv_store_fault_hit())
        return MV_ERR_IO;
    MDB_val key = {kn, (void *)(uintptr_t)k}, val = {vn, (void *)(uintptr_t)v};
    return map_err(mdb_put(t->txn, D(t, db), &key, &val, 0));
}

static mv_err del(mv_itxn *t, int db, const void *k, size_t kn)
{
    if (mv_store_fault_hit())
        return MV_ERR_IO;
    MDB_val key = {kn, (void *)(uintptr_t)k};
    return map_err(mdb_del(t->txn, D(t, db), &key, NULL));
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
    MDB_val k = {plen, (void *)(uintptr_t)prefix}, v;
    mv_err rc = map_err(mdb_cursor_open(t->txn, D(t, db), &c));
    if (rc != MV_OK)
        return rc;
    int e = mdb_cursor_get(c, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
    while (e == 0) {
        if (plen && (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0))
            break;
        if ((rc = fn(ctx, &k, &v)) != MV_OK)
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

#define BLOCK_FIXED 26 /* version, pack u32, off u64, len u32, refs u64, dept_len u8 */

static mv_err decode_block(const MDB_val *v, mv_ix_block *b)
{
    const uint8_t *p = v->mv_data;
    if (v->mv_size < BLOCK_FIXED || p[0] != VERSION)
        return MV_ERR_PARSE;
    size_t dl = p[25];
    if (dl > 64 || v->mv_size != BLOCK_FIXED + dl)
        return MV_ERR_PARSE;
    b->pack = get_u32(p + 1);
    b->off = get_u64(p + 5);
    b->len = get_u32(p + 13);
    b->refs = get_u64(p + 17);
    memcpy(b->dept, p + BLOCK_FIXED, dl);
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
    uint8_t v[BLOCK_FIXED + 64];
    size_t dl = strlen(b->dept);
    mv_err rc;
    if (dl > 64)
        return MV_ERR_INVAL;
    v[0] = VERSION;
    put_u32(v + 1, b->pack);
    put_u64(v + 5, b->off);
    put_u32(v + 13, b->len);
    put_u64(v + 17, b->refs);
    v[25] = (uint8_t)dl;
    memcpy(v + BLOCK_FIXED, b->dept, dl);
    if ((rc = put(t, DB_BLOCKS, tag, 32, v, BLOCK_FIXED + dl)) != MV_OK)
        return rc;
    return b->refs == 0 ? put(t, DB_ZERO, tag, 32, "", 0) : del_opt(t, DB_ZERO, tag, 32);
}

typedef struct keylist {
    uint8_t *keys; /* n keys of at most 32 + 64 + 32 bytes each, with lengths */
    size_t *lens;
    size_t n, cap;
} keylist;

#define KEYMAX 128

static mv_err keylist_add(void *ctx, const MDB_val *k, const MDB_val *v)
{
    keylist *l = ctx;
    (void)v;
    if (k->mv_size > KEYMAX)
        return MV_ERR_PARSE;
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 4;
        uint8_t *nk = mv_mallocarray(nc, KEYMAX);
        size_t *nl = mv_mallocarray(nc, sizeof *nl);
        if (!nk || !nl) {
            mv_free(nk);
            mv_free(nl);
            return MV_ERR_NOMEM;
        }
        if (l->n) {
            memcpy(nk, l->keys, l->n * KEYMAX);
            memcpy(nl, l->lens, l->n * sizeof *nl);
        }
        mv_free(l->keys);
        mv_free(l->lens);
        l->keys = nk;
        l->lens = nl;
        l->cap = nc;
    }
    memcpy(l->keys + l->n * KEYMAX, k->mv_data, k->mv_size);
    l->lens[l->n++] = k->mv_size;
    return MV_OK;
}

static void keylist_free(keylist *l)
{
    mv_free(l->keys);
    mv_free(l->lens);
}

static mv_err ix_block_del(mv_itxn *t, const uint8_t *tag)
{
    keylist l = {0};
    mv_err rc;
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
        mv_ix_reader_fn reader;
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
    while ((e = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
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

/* ---- records ---- */

/* Version 1: version u8 = 1, dept_len u8, n_readers u16, n_tags u32, created u64,
 * logical u64, envelope_len u32, owner[32], dept, readers, tags, envelope.
 * Version 2 (written now): the same with version 2 and patient[32] || episode[16] after the
 * owner. Version-1 values (stores made before records had patients) decode with zeros. */
#define REC_V1 1
#define REC_V2 2
#define REC_FIXED_V1 60
#define REC_FIXED 108

static mv_err decode_record(const MDB_val *v, mv_ix_record *r)
{
    const uint8_t *p = v->mv_data;
    size_t n = v->mv_size, fixed;
    if (n < REC_FIXED_V1)
        return MV_ERR_PARSE;
    if (p[0] == REC_V1)
        fixed = REC_FIXED_V1;
    else if (p[0] == REC_V2)
        fixed = REC_FIXED;
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
    if (fixed == REC_FIXED) {
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

static mv_err reader_keys(mv_itxn *t, const uint8_t *id, const uint8_t *readers, size_t n, int add)
{
    uint8_t k[48];
    mv_err rc = MV_OK;
    memcpy(k + 32, id, 16);
    for (size_t i = 0; i < n && rc == MV_OK; i++) {
        memcpy(k, readers + 32 * i, 32);
        rc = add ? put(t, DB_READERS, k, 48, "", 0) : del_opt(t, DB_READERS, k, 48);
    }
    return rc;
}

/* Removes the reader entries of record id, if it exists. */
static mv_err drop_readers(mv_itxn *t, const uint8_t *id, int *existed)
{
    uint8_t old[64 * 32];
    mv_ix_record r;
    MDB_val v;
    mv_err rc = get(t, DB_RECORDS, id, 16, &v);
    *existed = 0;
    if (rc == MV_ERR_NOT_FOUND)
        return MV_OK;
    if (rc != MV_OK || (rc = decode_record(&v, &r)) != MV_OK)
        return rc;
    *existed = 1;
    /* Copy: the value's memory may move once we change the transaction. */
    size_t n = r.n_readers;
    memcpy(old, r.readers, 32 * n);
    return reader_keys(t, id, old, n, 0);
}

static mv_err ix_record_get(mv_itxn *t, const uint8_t *id, mv_ix_record *r)
{
    MDB_val v;
    mv_err rc = get(t, DB_RECORDS, id, 16, &v);
    return rc != MV_OK ? rc : decode_record(&v, r);
}

static mv_err ix_record_put(mv_itxn *t, const uint8_t *id, const mv_ix_record *r)
{
    MDB_val key = {16, (void *)(uintptr_t)id}, val;
    size_t dl = strlen(r->dept);
    int existed;
    mv_err rc;
    if (dl > 64 || r->n_readers > 64 || r->n_tags > UINT32_MAX / 32 ||
        r->envelope_len > UINT32_MAX)
        return MV_ERR_INVAL;
    size_t n = REC_FIXED + dl + 32 * r->n_readers + 32 * r->n_tags + r->envelope_len;
    if ((rc = drop_readers(t, id, &existed)) != MV_OK)
        return rc;
    /* MDB_RESERVE: LMDB hands out the space and we encode straight into it. */
    val.mv_size = n;
    if (mv_store_fault_hit())
        return MV_ERR_IO;
    if ((rc = map_err(mdb_put(t->txn, D(t, DB_RECORDS), &key, &val, MDB_RESERVE))) != MV_OK)
        return rc;
    uint8_t *p = val.mv_data;
    p[0] = REC_V2;
    p[1] = (uint8_t)dl;
    p[2] = (uint8_t)r->n_readers;
    p[3] = (uint8_t)(r->n_readers >> 8);
    put_u32(p + 4, (uint32_t)r->n_tags);
    put_u64(p + 8, r->created);
    put_u64(p + 16, r->logical);
    put_u32(p + 24, (uint32_t)r->envelope_len);
    memcpy(p + 28, r->owner, 32);
    memcpy(p + 60, r->patient, 32);
    memcpy(p + 92, r->episode, 16);
    uint8_t *q = p + REC_FIXED;
    memcpy(q, r->dept, dl);
    q += dl;
    if (r->n_readers)
        memcpy(q, r->readers, 32 * r->n_readers);
    q += 32 * r->n_readers;
    if (r->n_tags)
        memcpy(q, r->tags, 32 * r->n_tags);
    q += 32 * r->n_tags;
    if (r->envelope_len)
        memcpy(q, r->envelope, r->envelope_len);
    return reader_keys(t, id, r->readers, r->n_readers, 1);
}

static mv_err ix_record_del(mv_itxn *t, const uint8_t *id)
{
    int existed;
    mv_err rc = drop_readers(t, id, &existed);
    if (rc != MV_OK)
        return rc;
    if (!existed)
        return MV_ERR_NOT_FOUND;
    return del(t, DB_RECORDS, id, 16);
}

static mv_err record_iter_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    cb *c = ctx;
    mv_ix_record r;
    mv_err rc;
    if (k->mv_size != 16)
        return MV_ERR_PARSE;
    if ((rc = decode_record(v, &r)) != MV_OK)
        return rc;
    return c->fn.record(c->ctx, k->mv_data, &r);
}

typedef struct by_reader {
    mv_itxn *t;
    cb *c;
} by_reader;

static mv_err reader_rec_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    by_reader *br = ctx;
    MDB_val rv;
    mv_err rc;
    (void)v;
    if (k->mv_size != 48)
        return MV_ERR_PARSE;
    const uint8_t *id = (const uint8_t *)k->mv_data + 32;
    if ((rc = get(br->t, DB_RECORDS, id, 16, &rv)) != MV_OK)
        return rc == MV_ERR_NOT_FOUND ? MV_ERR_PARSE : rc;
    MDB_val idk = {16, (void *)(uintptr_t)id};
    return record_iter_kv(br->c, &idk, &rv);
}

static mv_err ix_record_iter(mv_itxn *t, const uint8_t *reader, mv_ix_record_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.record = fn;
    if (!reader)
        return scan(t, DB_RECORDS, NULL, 0, record_iter_kv, &c);
    by_reader br = {t, &c};
    return scan(t, DB_READERS, reader, 32, reader_rec_kv, &br);
}

static mv_err reader_iter_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    cb *c = ctx;
    (void)v;
    if (k->mv_size != 48)
        return MV_ERR_PARSE;
    const uint8_t *p = k->mv_data;
    return c->fn.reader(c->ctx, p, p + 32);
}

static mv_err ix_reader_iter(mv_itxn *t, mv_ix_reader_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.reader = fn;
    return scan(t, DB_READERS, NULL, 0, reader_iter_kv, &c);
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
    .record_del = ix_record_del,
    .record_iter = ix_record_iter,
    .reader_iter = ix_reader_iter,
    .pack_get = ix_pack_get,
    .pack_put = ix_pack_put,
    .pack_del = ix_pack_del,
    .pack_iter = ix_pack_iter,
    .stats_get = ix_stats_get,
    .stats_put = ix_stats_put,
    .stats_iter = ix_stats_iter,
    .close = ix_close,
};

mv_err mv_index_lmdb_open(const char *path, size_t map_size, mv_index **out)
{
    index_lmdb *ix = NULL;
    MDB_txn *txn = NULL;
    mv_err rc = MV_ERR_NOMEM;
    *out = NULL;
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
        (rc = map_err(mdb_env_set_maxdbs(ix->env, DB_COUNT))) != MV_OK ||
        (rc = map_err(mdb_env_set_maxreaders(ix->env, 1024))) != MV_OK ||
        (rc = map_err(mdb_env_open(ix->env, path, MDB_NOTLS, 0600))) != MV_OK)
        goto out;
    if ((rc = map_err(mdb_txn_begin(ix->env, NULL, 0, &txn))) != MV_OK)
        goto out;
    for (int i = 0; i < DB_COUNT; i++)
        if ((rc = map_err(mdb_dbi_open(txn, db_names[i], MDB_CREATE, &ix->dbi[i]))) != MV_OK)
            goto out;
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
