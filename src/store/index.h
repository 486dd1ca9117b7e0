/* index.h - internal: the engine's index behind a small vtable (LMDB today; PostgreSQL later).
 *
 * Everything lives in transactions: a write transaction sees its own changes, commits
 * atomically and durably, and an aborted one leaves no trace. Read transactions see one
 * consistent snapshot. The engine keeps every invariant (reference counts, stats, pack and
 * segment accounting, set reference counts); the index only stores, except for derived sets
 * it maintains itself: the zero-reference set (blocks with refs == 0, for gc), the tokens of
 * each block (so a freed block drops its tokens), the records of each (segment, access set)
 * and the sets of each reader (for listing by reader), and the content hash of each set.
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
    uint64_t id;   /* the block's number in records' segments (block_id_new); 0: none yet */
    char dept[65]; /* first uploader's department */
} mv_ix_block;

typedef struct mv_ix_pack {
    uint64_t end;          /* committed bytes */
    uint64_t live_bytes;   /* framing + data of entries the index points at */
    uint64_t live_entries;
} mv_ix_pack;

/* A record: 16-byte id -> where its bytes are and which access set it has. With ids set
 * (index format 3), its envelope and then its blocks' ids (varints) lie at offset off of
 * segment seg's data; otherwise (written by format 2) its tags (32 bytes each) and then its
 * envelope. */
typedef struct mv_ix_record {
    uint32_t set;          /* access set id */
    uint64_t created;
    uint64_t logical;
    uint64_t seg;          /* envelope segment id */
    uint64_t off;          /* of the record's bytes within the segment's data */
    uint64_t n_tags;
    uint64_t envelope_len;
    int ids;               /* layout: envelope then block ids (1) or tags then envelope (0) */
} mv_ix_record;

/* An access set: who may read a record and what it belongs to. Records with equal access
 * share one set (interned by content hash). Sets keep no reference count: gc drops the
 * ones no record names. */
typedef struct mv_ix_set {
    uint8_t owner[32];
    uint8_t patient[32]; /* all zero: none */
    uint8_t episode[16]; /* all zero: none */
    char dept[65];
    size_t n_readers;    /* owner first, then the patient, then the others sorted */
    uint8_t readers[64][32];
} mv_ix_set;

/* An envelope segment: one pack entry holding the tags and envelopes of several records. */
typedef struct mv_ix_seg {
    uint32_t pack;
    uint64_t off;          /* of the entry's framing */
    uint32_t len;          /* bytes of the segment's data */
    uint64_t live_records; /* records whose bytes are in it */
    uint64_t live_bytes;   /* their tags + envelope bytes */
} mv_ix_seg;

/* A record value of index format 1 (envelope, readers and tags inline), read only to migrate
 * it. Pointers are valid as the record arrays above. */
typedef struct mv_ix_legacy {
    uint8_t owner[32];
    uint8_t patient[32];
    uint8_t episode[16];
    char dept[65];
    uint64_t created;
    uint64_t logical;
    size_t n_readers;
    const uint8_t *readers;
    size_t n_tags;
    const uint8_t *tags;
    size_t envelope_len;
    const uint8_t *envelope;
} mv_ix_legacy;

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
typedef mv_err (*mv_ix_set_fn)(void *ctx, uint32_t set, const mv_ix_set *st);
typedef mv_err (*mv_ix_id_fn)(void *ctx, uint32_t set, const uint8_t *id);
typedef mv_err (*mv_ix_setid_fn)(void *ctx, const uint8_t *reader, uint32_t set);
typedef mv_err (*mv_ix_seg_fn)(void *ctx, uint64_t seg, const mv_ix_seg *g);
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
    mv_err (*block_del)(mv_itxn *t, const uint8_t *tag); /* also its tokens and id; NOT_FOUND */
    /* block ids: new gives tag the next id (the caller stores it in the block's entry);
     * tag maps an id back (NOT_FOUND: no such id, or its block was freed) */
    mv_err (*block_id_new)(mv_itxn *t, const uint8_t *tag, uint64_t *id);
    mv_err (*block_id_tag)(mv_itxn *t, uint64_t id, uint8_t *tag);
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

    /* records: id (16) -> record; put replaces, keeping seg_sets in step (a record moves to
     * the (segment, set) it now names) */
    mv_err (*record_get)(mv_itxn *t, const uint8_t *id, mv_ix_record *r);
    mv_err (*record_put)(mv_itxn *t, const uint8_t *id, const mv_ix_record *r);
    mv_err (*record_del)(mv_itxn *t, const uint8_t *id); /* NOT_FOUND */
    /* A new record (or a format-1 value being migrated: replaced) without its seg_sets
     * entry: the caller adds it with segset_add, one call per (segment, set), so that a batch
     * writes each entry once. */
    mv_err (*record_add)(mv_itxn *t, const uint8_t *id, const mv_ix_record *r);
    mv_err (*segset_add)(mv_itxn *t, uint64_t seg, uint32_t set, const uint8_t *ids, size_t n);
    mv_err (*record_iter)(mv_itxn *t, mv_ix_record_fn fn, void *ctx); /* id order */
    /* The ids of the records of the sets sets[0..n_sets) (sorted; sets NULL: of every set),
     * in (segment, set) order: one scan of seg_sets whatever the number of sets. */
    mv_err (*set_record_iter)(mv_itxn *t, const uint32_t *sets, size_t n_sets, mv_ix_id_fn fn,
                              void *ctx);

    /* access sets: id -> set; find looks one up by content (NOT_FOUND); put interns a new
     * set (content is immutable: a put of other content under a used id is INVAL), keeping
     * the content-hash lookup and the reader -> set entries in step; next_id is one above
     * the largest id in use (1 when there is none) */
    mv_err (*set_get)(mv_itxn *t, uint32_t id, mv_ix_set *st);
    mv_err (*set_find)(mv_itxn *t, const mv_ix_set *st, uint32_t *id);
    mv_err (*set_put)(mv_itxn *t, uint32_t id, const mv_ix_set *st);
    mv_err (*set_del)(mv_itxn *t, uint32_t id); /* NOT_FOUND */
    mv_err (*set_next_id)(mv_itxn *t, uint32_t *id);
    mv_err (*set_iter)(mv_itxn *t, mv_ix_set_fn fn, void *ctx);
    /* The sets reader belongs to (reader NULL: every reader entry), in (reader, set) order. */
    mv_err (*set_reader_iter)(mv_itxn *t, const uint8_t *reader, mv_ix_setid_fn fn, void *ctx);

    /* envelope segments: id -> location and live accounting (NOT_FOUND) */
    mv_err (*seg_get)(mv_itxn *t, uint64_t id, mv_ix_seg *g);
    mv_err (*seg_put)(mv_itxn *t, uint64_t id, const mv_ix_seg *g);
    mv_err (*seg_del)(mv_itxn *t, uint64_t id);
    mv_err (*seg_next_id)(mv_itxn *t, uint64_t *id);
    mv_err (*seg_iter)(mv_itxn *t, mv_ix_seg_fn fn, void *ctx);

    /* format: the index format version (0 for an index that predates it, 1 when it holds
     * format-1 records); legacy_next reads the first format-1 record with id > after (after
     * NULL: from the start) into *r and its id into id (NOT_FOUND: none left);
     * legacy_finish drops the format-1 reader entries and records the current format (3). */
    mv_err (*format_get)(mv_itxn *t, uint32_t *format);
    mv_err (*legacy_next)(mv_itxn *t, const uint8_t *after, uint8_t *id, mv_ix_legacy *r);
    mv_err (*legacy_finish)(mv_itxn *t);
    /* Moves up to max entries of an index format 2's one-database-per-table layout into the
     * format-3 layout; *done once nothing is left to move (every call after is a no-op). */
    mv_err (*fold_step)(mv_itxn *t, size_t max, int *done);

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
 * map_size in bytes; max_readers read transactions may be open at once (the lock file holds
 * a 64-byte slot for each: a larger lock file left by an earlier open is removed first, which
 * is safe because the caller holds the store's exclusive lock). MV_ERR_IO, MV_ERR_NOMEM, MV_ERR_PARSE (not an LMDB environment of a
 * compatible version). */
mv_err mv_index_lmdb_open(const char *path, size_t map_size, unsigned max_readers, mv_index **out);

#endif
