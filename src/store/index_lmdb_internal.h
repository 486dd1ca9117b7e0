/* index_lmdb_internal.h - internal to the LMDB index (index_lmdb.c, index_lmdb_blocks.c,
 * index_lmdb_records.c): the environment, its tables and the low-level key/value helpers they
 * share. Nothing else includes it; the engine sees the index only through index.h's vtable. */
#ifndef MV_STORE_INDEX_LMDB_INTERNAL_H
#define MV_STORE_INDEX_LMDB_INTERNAL_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"
#include "medvault/mv_err.h"

/* Index format 3 keeps three LMDB databases: "records" and "seg_sets", which grow by
 * appending (their own trees, so that MDB_APPEND fills their pages), and "tables", which holds
 * every other table under a one-byte table prefix. A write transaction copies each database's
 * root-to-leaf path it touches and the main database's page naming it, and LMDB keeps the
 * copies of the last two transactions: with a database per table (format 2), a small store's
 * index was mostly sub-database roots and their copies. */
enum { P_TABLES, P_RECORDS, P_SEGSETS, P_COUNT };
enum { DB_META, DB_STATS, DB_PACKS, DB_SEGS, DB_SETS, DB_SETHASH, DB_SETREADERS, DB_BLOCKS,
       DB_ZERO, DB_TOKENS, DB_BTOK, DB_CLAIMS, DB_CTIME, DB_BLOCKIDS, DB_RECORDS, DB_SEGSETS,
       DB_COUNT };

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

#define KEYMAX 128 /* longest key of a table: block_tokens, tag || department || token */

typedef mv_err (*kv_fn)(void *ctx, const MDB_val *k, const MDB_val *v);

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

/* Little- (idx_put_u32...) and big-endian (idx_put_be32...) fixed-width codecs of stored values and
 * keys (index_lmdb.c); big-endian keys sort in numeric order. */
void idx_put_u32(uint8_t *p, uint32_t v);
void idx_put_u64(uint8_t *p, uint64_t v);
uint32_t idx_get_u32(const uint8_t *p);
uint64_t idx_get_u64(const uint8_t *p);
void idx_put_be32(uint8_t *p, uint32_t v);
uint32_t idx_get_be32(const uint8_t *p);
void idx_put_be64(uint8_t *p, uint64_t v);

/* The MV_ERR_ code of an LMDB (or errno) result: MV_ERR_NOT_FOUND for MDB_NOTFOUND,
 * MV_ERR_TOO_LARGE for a full map or transaction, MV_ERR_BUSY for no reader slot, MV_ERR_NOMEM,
 * MV_ERR_PARSE for a damaged or incompatible file, MV_ERR_IO otherwise. idx_D gives the
 * database that table `which` lives in. */
mv_err idx_map_err(int e);
MDB_dbi idx_D(mv_itxn *t, int which);

/* Table access by the table's own keys (index_lmdb.c adds and strips the table's prefix in
 * its database; a key is at most KEYMAX bytes, else MV_ERR_INVAL). idx_get's *v points into
 * the map until the next change in t. idx_put, idx_del and idx_put_ordered fail with
 * MV_ERR_IO when the store's fault injection says so. idx_del of an absent key is
 * MV_ERR_NOT_FOUND, idx_del_opt's is MV_OK. idx_table_edge positions c on table db's first
 * (last == 0) or last entry and returns an LMDB code (MDB_NOTFOUND when the table is empty).
 * idx_scan calls fn on each key starting with prefix (every key when plen is 0) and stops at
 * fn's first error. idx_put_ordered puts a key that sorts after every other (or a last
 * duplicate, dupsort) with MDB_APPEND so that pages fill, any other key plainly. */
mv_err idx_get(mv_itxn *t, int db, const void *k, size_t kn, MDB_val *v);
mv_err idx_put(mv_itxn *t, int db, const void *k, size_t kn, const void *v, size_t vn);
mv_err idx_del(mv_itxn *t, int db, const void *k, size_t kn);
mv_err idx_del_opt(mv_itxn *t, int db, const void *k, size_t kn);
int idx_table_edge(MDB_cursor *c, int db, int last, MDB_val *k, MDB_val *v);
mv_err idx_scan(mv_itxn *t, int db, const void *prefix, size_t plen, kv_fn fn, void *ctx);
mv_err idx_put_ordered(mv_itxn *t, int db, const void *k0, size_t kn0, const void *v, size_t vn,
                       int dupsort);

/* Blocks, block ids, tokens and claims (index_lmdb_blocks.c): the mv_index_ops entries of the
 * same names, with the errors index.h lists. */
mv_err idx_block_get(mv_itxn *t, const uint8_t *tag, mv_ix_block *b);
mv_err idx_block_put(mv_itxn *t, const uint8_t *tag, const mv_ix_block *b);
mv_err idx_block_del(mv_itxn *t, const uint8_t *tag);
mv_err idx_block_iter(mv_itxn *t, mv_ix_block_fn fn, void *ctx);
mv_err idx_zero_iter(mv_itxn *t, mv_ix_tag_fn fn, void *ctx);
mv_err idx_block_id_new(mv_itxn *t, const uint8_t *tag, uint64_t *id);
mv_err idx_block_id_tag(mv_itxn *t, uint64_t id, uint8_t *tag);
mv_err idx_token_get(mv_itxn *t, const char *dept, const uint8_t *token, uint8_t *tag);
mv_err idx_token_put(mv_itxn *t, const char *dept, const uint8_t *token, const uint8_t *tag);
mv_err idx_token_iter(mv_itxn *t, mv_ix_token_fn fn, void *ctx);
mv_err idx_claim_get(mv_itxn *t, const uint8_t *tag, const uint8_t *claimant, uint64_t *at);
mv_err idx_claim_put(mv_itxn *t, const uint8_t *tag, const uint8_t *claimant, uint64_t at);
mv_err idx_claim_any(mv_itxn *t, const uint8_t *tag);
mv_err idx_claim_expire(mv_itxn *t, uint64_t before, uint64_t *n);
mv_err idx_claim_iter(mv_itxn *t, mv_ix_claim_fn fn, void *ctx);

/* Records, segment sets, access sets, segments, the format and the format-1/2 migration
 * (index_lmdb_records.c): the mv_index_ops entries of the same names, with the errors
 * index.h lists. */
mv_err idx_record_get(mv_itxn *t, const uint8_t *id, mv_ix_record *r);
mv_err idx_segset_add(mv_itxn *t, uint64_t seg, uint32_t set, const uint8_t *ids, size_t n);
mv_err idx_record_add(mv_itxn *t, const uint8_t *id, const mv_ix_record *r);
mv_err idx_record_put(mv_itxn *t, const uint8_t *id, const mv_ix_record *r);
mv_err idx_record_del(mv_itxn *t, const uint8_t *id);
mv_err idx_record_iter(mv_itxn *t, mv_ix_record_fn fn, void *ctx);
mv_err idx_set_record_iter(mv_itxn *t, const uint32_t *sets, size_t n_sets, mv_ix_id_fn fn,
                           void *ctx);
mv_err idx_set_get(mv_itxn *t, uint32_t id, mv_ix_set *st);
mv_err idx_set_find(mv_itxn *t, const mv_ix_set *st, uint32_t *id);
mv_err idx_set_put(mv_itxn *t, uint32_t id, const mv_ix_set *st);
mv_err idx_set_del(mv_itxn *t, uint32_t id);
mv_err idx_set_next_id(mv_itxn *t, uint32_t *id);
mv_err idx_set_iter(mv_itxn *t, mv_ix_set_fn fn, void *ctx);
mv_err idx_set_reader_iter(mv_itxn *t, const uint8_t *reader, mv_ix_setid_fn fn, void *ctx);
mv_err idx_seg_get(mv_itxn *t, uint64_t id, mv_ix_seg *g);
mv_err idx_seg_put(mv_itxn *t, uint64_t id, const mv_ix_seg *g);
mv_err idx_seg_del(mv_itxn *t, uint64_t id);
mv_err idx_seg_next_id(mv_itxn *t, uint64_t *id);
mv_err idx_seg_iter(mv_itxn *t, mv_ix_seg_fn fn, void *ctx);
mv_err idx_format_get(mv_itxn *t, uint32_t *format);
mv_err idx_legacy_next(mv_itxn *t, const uint8_t *after, uint8_t *id, mv_ix_legacy *r);
mv_err idx_legacy_finish(mv_itxn *t);
mv_err idx_fold_step(mv_itxn *t, size_t max, int *done);

#endif
