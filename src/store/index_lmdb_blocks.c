/* index_lmdb_blocks.c - the LMDB index's blocks, block ids, tokens and claims: a block's
 * value is decoded with bounds checks before use, and a freed block takes its tokens and its
 * id with it in the same transaction. */
#include "fault.h"
#include "index_lmdb_internal.h"

#include <string.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_mem.h"

/* ---- blocks ---- */

/* Version 1 (index formats 1 and 2): version u8, pack u32, off u64, len u32, refs u64,
 * dept_len u8, dept. Version 2 (format 3): version u8 = 2, then varints pack, off, len, refs,
 * block id (0: none assigned yet), then dept_len u8, dept. */
#define VERSION 1
#define BLOCK_FIXED 26
#define BLOCK_V2 2

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
        b->pack = idx_get_u32(p + 1);
        b->off = idx_get_u64(p + 5);
        b->len = idx_get_u32(p + 13);
        b->refs = idx_get_u64(p + 17);
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

mv_err idx_block_get(mv_itxn *t, const uint8_t *tag, mv_ix_block *b)
{
    MDB_val v;
    mv_err rc = idx_get(t, DB_BLOCKS, tag, 32, &v);
    return rc != MV_OK ? rc : decode_block(&v, b);
}

mv_err idx_block_put(mv_itxn *t, const uint8_t *tag, const mv_ix_block *b)
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
    if ((rc = idx_put(t, DB_BLOCKS, tag, 32, v, n + dl)) != MV_OK)
        return rc;
    return b->refs == 0 ? idx_put(t, DB_ZERO, tag, 32, "", 0) : idx_del_opt(t, DB_ZERO, tag, 32);
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

mv_err idx_block_del(mv_itxn *t, const uint8_t *tag)
{
    keylist l = {0};
    mv_ix_block b;
    mv_err rc;
    if ((rc = idx_block_get(t, tag, &b)) != MV_OK)
        return rc;
    if (b.id && (rc = block_id_free(t, b.id)) != MV_OK)
        return rc;
    if ((rc = idx_del(t, DB_BLOCKS, tag, 32)) != MV_OK)
        return rc;
    if ((rc = idx_del_opt(t, DB_ZERO, tag, 32)) != MV_OK)
        return rc;
    /* block_tokens keys are tag || dept || token; the tokens key is dept || token. */
    if ((rc = idx_scan(t, DB_BTOK, tag, 32, keylist_add, &l)) != MV_OK)
        goto out;
    for (size_t i = 0; i < l.n; i++) {
        const uint8_t *k = l.keys + i * KEYMAX;
        if ((rc = idx_del_opt(t, DB_TOKENS, k + 32, l.lens[i] - 32)) != MV_OK ||
            (rc = idx_del(t, DB_BTOK, k, l.lens[i])) != MV_OK)
            goto out;
    }
out:
    keylist_free(&l);
    return rc;
}

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

mv_err idx_block_iter(mv_itxn *t, mv_ix_block_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.block = fn;
    return idx_scan(t, DB_BLOCKS, NULL, 0, block_iter_kv, &c);
}

static mv_err zero_iter_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    cb *c = ctx;
    (void)v;
    if (k->mv_size != 32)
        return MV_ERR_PARSE;
    return c->fn.tag(c->ctx, k->mv_data);
}

mv_err idx_zero_iter(mv_itxn *t, mv_ix_tag_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.tag = fn;
    return idx_scan(t, DB_ZERO, NULL, 0, zero_iter_kv, &c);
}

/* ---- block ids: a block's number, given when a record first names it, so that a record's
 * bytes in its segment name the block by a varint instead of its 32-byte tag. block_ids maps
 * them back: chunk number (BE u32) -> the tags of ids 31 * chunk + 1 .. 31 * chunk + 31, 32
 * bytes each, all zero for a freed one (a chunk whose ids are all freed is dropped). Ids
 * grow, so chunks are appended (block_ids has the largest prefix of "tables"), and 31 tags
 * and a key make four chunks fill a 4 KiB page. An id is only reused after the chunks above
 * it were dropped, when no record names it: a freed block had no references. ---- */

#define BID_CHUNK 31

mv_err idx_block_id_new(mv_itxn *t, const uint8_t *tag, uint64_t *id)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    uint8_t key[4], buf[32 * BID_CHUNK];
    uint64_t chunk = 0;
    size_t have = 0;
    mv_err rc = idx_map_err(mdb_cursor_open(t->txn, idx_D(t, DB_BLOCKIDS), &c));
    if (rc != MV_OK)
        return rc;
    int e = idx_table_edge(c, DB_BLOCKIDS, 1, &k, &v);
    if (e == 0) {
        rc = MV_ERR_PARSE;
        if (k.mv_size != 4 || v.mv_size == 0 || v.mv_size % 32 || v.mv_size > sizeof buf)
            goto out;
        chunk = idx_get_be32(k.mv_data);
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
        rc = idx_map_err(e);
        goto out;
    }
    mdb_cursor_close(c);
    c = NULL;
    memcpy(buf + 32 * have, tag, 32);
    idx_put_be32(key, (uint32_t)chunk);
    if ((rc = idx_put_ordered(t, DB_BLOCKIDS, key, 4, buf, 32 * (have + 1), 0)) != MV_OK)
        goto out;
    *id = BID_CHUNK * chunk + have + 1;
    rc = MV_OK;
out:
    if (c)
        mdb_cursor_close(c);
    return rc;
}

mv_err idx_block_id_tag(mv_itxn *t, uint64_t id, uint8_t *tag)
{
    uint8_t key[4], acc = 0;
    MDB_val v;
    if (id == 0 || (id - 1) / BID_CHUNK > UINT32_MAX)
        return MV_ERR_NOT_FOUND;
    size_t slot = (size_t)((id - 1) % BID_CHUNK);
    idx_put_be32(key, (uint32_t)((id - 1) / BID_CHUNK));
    mv_err rc = idx_get(t, DB_BLOCKIDS, key, 4, &v);
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
    idx_put_be32(key, (uint32_t)((id - 1) / BID_CHUNK));
    mv_err rc = idx_get(t, DB_BLOCKIDS, key, 4, &v);
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
    return acc ? idx_put(t, DB_BLOCKIDS, key, 4, buf, n) : idx_del(t, DB_BLOCKIDS, key, 4);
}

/* ---- tokens ---- */

static size_t token_key(uint8_t *k, const char *dept, const uint8_t *token)
{
    size_t dl = strlen(dept);
    memcpy(k, dept, dl);
    memcpy(k + dl, token, 32);
    return dl + 32;
}

mv_err idx_token_get(mv_itxn *t, const char *dept, const uint8_t *token, uint8_t *tag)
{
    uint8_t k[96];
    MDB_val v;
    if (strlen(dept) > 64)
        return MV_ERR_INVAL;
    mv_err rc = idx_get(t, DB_TOKENS, k, token_key(k, dept, token), &v);
    if (rc != MV_OK)
        return rc;
    if (v.mv_size != 32)
        return MV_ERR_PARSE;
    memcpy(tag, v.mv_data, 32);
    return MV_OK;
}

mv_err idx_token_put(mv_itxn *t, const char *dept, const uint8_t *token, const uint8_t *tag)
{
    uint8_t k[96], bk[128];
    mv_err rc;
    if (strlen(dept) > 64)
        return MV_ERR_INVAL;
    size_t kn = token_key(k, dept, token);
    if ((rc = idx_put(t, DB_TOKENS, k, kn, tag, 32)) != MV_OK)
        return rc;
    memcpy(bk, tag, 32);
    memcpy(bk + 32, k, kn);
    return idx_put(t, DB_BTOK, bk, 32 + kn, "", 0);
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

mv_err idx_token_iter(mv_itxn *t, mv_ix_token_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.token = fn;
    return idx_scan(t, DB_TOKENS, NULL, 0, token_iter_kv, &c);
}

/* ---- claims: claims (tag || claimant -> at) and claims_by_time (at BE || tag || claimant) ---- */

mv_err idx_claim_get(mv_itxn *t, const uint8_t *tag, const uint8_t *claimant, uint64_t *at)
{
    uint8_t k[64];
    MDB_val v;
    memcpy(k, tag, 32);
    memcpy(k + 32, claimant, 32);
    mv_err rc = idx_get(t, DB_CLAIMS, k, 64, &v);
    if (rc != MV_OK)
        return rc;
    if (v.mv_size != 8)
        return MV_ERR_PARSE;
    *at = idx_get_u64(v.mv_data);
    return MV_OK;
}

mv_err idx_claim_put(mv_itxn *t, const uint8_t *tag, const uint8_t *claimant, uint64_t at)
{
    uint8_t k[64], tk[72], v[8];
    uint64_t old;
    mv_err rc = idx_claim_get(t, tag, claimant, &old);
    memcpy(k, tag, 32);
    memcpy(k + 32, claimant, 32);
    memcpy(tk + 8, k, 64);
    if (rc == MV_OK) {
        idx_put_be64(tk, old);
        if ((rc = idx_del_opt(t, DB_CTIME, tk, 72)) != MV_OK)
            return rc;
    } else if (rc != MV_ERR_NOT_FOUND) {
        return rc;
    }
    idx_put_u64(v, at);
    idx_put_be64(tk, at);
    if ((rc = idx_put(t, DB_CLAIMS, k, 64, v, 8)) != MV_OK)
        return rc;
    return idx_put(t, DB_CTIME, tk, 72, "", 0);
}

static mv_err stop_at_first(void *ctx, const MDB_val *k, const MDB_val *v)
{
    (void)k;
    (void)v;
    *(int *)ctx = 1;
    return MV_ERR_EXISTS; /* stops the idx_scan */
}

mv_err idx_claim_any(mv_itxn *t, const uint8_t *tag)
{
    int found = 0;
    mv_err rc = idx_scan(t, DB_CLAIMS, tag, 32, stop_at_first, &found);
    if (rc == MV_ERR_EXISTS && found)
        return MV_OK;
    return rc == MV_OK ? MV_ERR_NOT_FOUND : rc;
}

mv_err idx_claim_expire(mv_itxn *t, uint64_t before, uint64_t *n)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    *n = 0;
    mv_err rc = idx_map_err(mdb_cursor_open(t->txn, idx_D(t, DB_CTIME), &c));
    if (rc != MV_OK)
        return rc;
    int e;
    /* Deleting at the cursor moves it to the next key, so keep taking the first one. */
    while ((e = idx_table_edge(c, DB_CTIME, 0, &k, &v)) == 0) {
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
        if ((rc = idx_map_err(mdb_cursor_del(c, 0))) != MV_OK ||
            (rc = idx_del_opt(t, DB_CLAIMS, ck, 64)) != MV_OK)
            goto out;
        (*n)++;
    }
    rc = e == 0 || e == MDB_NOTFOUND ? MV_OK : idx_map_err(e);
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
    return c->fn.claim(c->ctx, p, p + 32, idx_get_u64(v->mv_data));
}

mv_err idx_claim_iter(mv_itxn *t, mv_ix_claim_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.claim = fn;
    return idx_scan(t, DB_CLAIMS, NULL, 0, claim_iter_kv, &c);
}
