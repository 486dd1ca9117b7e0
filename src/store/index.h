/* index.h - internal: the engine's index behind a small vtable (LMDB today; PostgreSQL later).
 *
 * Everything lives in transactions: a write transaction sees its own changes, commits
 * atomically and durably, and an aborted one leaves no trace. Read transactions see one
 * consistent snapshot. The engine keeps every invariant (reference counts, stats, pack
 * accounting); the index only stores, except for three derived sets it maintains itself:
 * the zero-reference set (blocks with refs == 0, for gc), the tokens of each block (so a freed
 * block drops its tokens) and the readers of each record (for listing by reader).
 *
 * Pointers returned inside a write transaction (record arrays) stay valid only until the next
 * change in that transaction; in a read transaction, until it ends. Callbacks of the _iter
 * functions must not change the transaction they iterate. Every function: MV_ERR_IO (backend
 * failure), MV_ERR_NOMEM, MV_ERR_TOO_LARGE (index full), MV_ERR_PARSE (undecodable entry),
 * plus the errors listed. */
#ifndef MV_STORE_INDEX_H
#define MV_STORE_INDEX_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

typedef struct mv_index mv_index;
typedef struct mv_itxn mv_itxn;

typedef struct mv_ix_block {
    uint32_t pack;
    uint64_t off; /* of the entry's framing */
    uint32_t len; /* ciphertext bytes */
    uint64_t refs;
    char dept[65]; /* first uploader's department */
} mv_ix_block;

typedef struct mv_ix_pack {
    uint64_t end;          /* committed bytes */
    uint64_t live_bytes;   /* framing + data of entries the index points at */
    uint64_t live_entries;
} mv_ix_pack;

typedef struct mv_ix_record {
    uint8_t owner[32];
    uint8_t patient[32]; /* all zero: none */
    uint8_t episode[16]; /* all zero: none */
    char dept[65];
    uint64_t created;
    uint64_t logical;
    size_t n_readers;
    const uint8_t *readers; /* n_readers * 32 */
    size_t n_tags;
    const uint8_t *tags;    /* n_tags * 32 */
    size_t envelope_len;
    const uint8_t *envelope;
} mv_ix_record;

/* Totals use every field; a department uses records, logical, physical and dedup_hits. */
typedef struct mv_ix_stats {
    uint64_t records, blocks, block_bytes, envelope_bytes, pack_bytes, logical, physical,
        dedup_hits;
} mv_ix_stats;

typedef mv_err (*mv_ix_block_fn)(void *ctx, const uint8_t *tag, const mv_ix_block *b);
typedef mv_err (*mv_ix_tag_fn)(void *ctx, const uint8_t *tag);
typedef mv_err (*mv_ix_token_fn)(void *ctx, const char *dept, const uint8_t *token,
                                 const uint8_t *tag);
typedef mv_err (*mv_ix_claim_fn)(void *ctx, const uint8_t *tag, const uint8_t *claimant,
                                 uint64_t at);
typedef mv_err (*mv_ix_record_fn)(void *ctx, const uint8_t *id, const mv_ix_record *r);
typedef mv_err (*mv_ix_reader_fn)(void *ctx, const uint8_t *reader, const uint8_t *id);
typedef mv_err (*mv_ix_pack_fn)(void *ctx, uint32_t pack, const mv_ix_pack *p);
typedef mv_err (*mv_ix_stats_fn)(void *ctx, const char *dept, const mv_ix_stats *st);

typedef struct mv_index_ops {
    mv_err (*begin)(mv_index *ix, int write, mv_itxn **t);
    /* Both end (and free) the transaction; commit of a read transaction just ends it. */
    mv_err (*commit)(mv_itxn *t);
    void (*abort)(mv_itxn *t);

    /* blocks: tag -> location, refs, first department (NOT_FOUND) */
    mv_err (*block_get)(mv_itxn *t, const uint8_t *tag, mv_ix_block *b);
    mv_err (*block_put)(mv_itxn *t, const uint8_t *tag, const mv_ix_block *b);
    mv_err (*block_del)(mv_itxn *t, const uint8_t *tag); /* also its tokens; NOT_FOUND */
    mv_err (*block_iter)(mv_itxn *t, mv_ix_block_fn fn, void *ctx);
    mv_err (*zero_iter)(mv_itxn *t, mv_ix_tag_fn fn, void *ctx);

    /* tokens: dept || token -> tag (NOT_FOUND) */
    mv_err (*token_get)(mv_itxn *t, const char *dept, const uint8_t *token, uint8_t *tag);
    mv_err (*token_put)(mv_itxn *t, const char *dept, const uint8_t *token, const uint8_t *tag);
    mv_err (*token_iter)(mv_itxn *t, mv_ix_token_fn fn, void *ctx);

    /* claims: (tag, claimant) -> time claimed */
    mv_err (*claim_get)(mv_itxn *t, const uint8_t *tag, const uint8_t *claimant, uint64_t *at);
    mv_err (*claim_put)(mv_itxn *t, const uint8_t *tag, const uint8_t *claimant, uint64_t at);
    mv_err (*claim_any)(mv_itxn *t, const uint8_t *tag); /* MV_OK if one exists, NOT_FOUND */
    /* Drops every claim with at < before; *n receives how many. */
    mv_err (*claim_expire)(mv_itxn *t, uint64_t before, uint64_t *n);
    mv_err (*claim_iter)(mv_itxn *t, mv_ix_claim_fn fn, void *ctx);

    /* records: id (16) -> record; put replaces (keeping the readers set in step) */
    mv_err (*record_get)(mv_itxn *t, const uint8_t *id, mv_ix_record *r);
    mv_err (*record_put)(mv_itxn *t, const uint8_t *id, const mv_ix_record *r);
    mv_err (*record_del)(mv_itxn *t, const uint8_t *id); /* NOT_FOUND */
    /* Records readable by reader (NULL: all), in id order. */
    mv_err (*record_iter)(mv_itxn *t, const uint8_t *reader, mv_ix_record_fn fn, void *ctx);
    mv_err (*reader_iter)(mv_itxn *t, mv_ix_reader_fn fn, void *ctx);

    /* packs: id -> accounting (NOT_FOUND); iterated in id order */
    mv_err (*pack_get)(mv_itxn *t, uint32_t pack, mv_ix_pack *p);
    mv_err (*pack_put)(mv_itxn *t, uint32_t pack, const mv_ix_pack *p);
    mv_err (*pack_del)(mv_itxn *t, uint32_t pack);
    mv_err (*pack_iter)(mv_itxn *t, mv_ix_pack_fn fn, void *ctx);

    /* stats: dept NULL = totals; a missing entry reads as zeros */
    mv_err (*stats_get)(mv_itxn *t, const char *dept, mv_ix_stats *st);
    mv_err (*stats_put)(mv_itxn *t, const char *dept, const mv_ix_stats *st);
    mv_err (*stats_iter)(mv_itxn *t, mv_ix_stats_fn fn, void *ctx); /* departments by name */

    void (*close)(mv_index *ix);
} mv_index_ops;

struct mv_index {
    const mv_index_ops *ops;
};

/* Opens (creating) the LMDB environment in directory path (which must exist).
 * map_size in bytes. MV_ERR_IO, MV_ERR_NOMEM, MV_ERR_PARSE (not an LMDB environment of a
 * compatible version). */
mv_err mv_index_lmdb_open(const char *path, size_t map_size, mv_index **out);

#endif
