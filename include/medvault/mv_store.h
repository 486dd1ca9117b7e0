/* mv_store.h - the storage server's engine: deduplicated ciphertext blocks, per-department
 * dedup tokens, possession claims, record envelopes with ACLs, reference counts, garbage
 * collection and a full consistency check.
 *
 * Model
 * - A block is a ciphertext C named by tag = SHA-256(C). It is stored once physically, whatever
 *   department uploads it; every store verifies the tag, so nobody can poison a tag.
 * - A token (32 bytes, an HMAC computed by the hospital) maps to a tag inside a department
 *   partition: a token stored under department A is invisible under department B.
 * - A claim (claimant public key, tag) records that a principal uploaded, or proved possession
 *   of, a block. It lives claim_ttl_s seconds. A record may only reference tags its owner holds a
 *   live claim for, so knowing a tag or a token alone gets nothing.
 * - A record has a 16-byte id, an owner, a department, readers (the ACL; the owner is always a
 *   reader), optionally a patient (an Ed25519 key, also always a reader once set) and an
 *   episode (16 bytes), the distinct tags it references and an opaque envelope. Envelopes
 *   are kept in the pack files next to the blocks (one envelope segment per
 *   mv_store_put_records call, verified by its SHA-256 like a block), each followed by the
 *   record's blocks as small block numbers (varints) rather than tags, and the index keeps a
 *   compact entry per record with its access interned in a shared access set (docs/storage.md).
 *   Record ids should be time-ordered (mv_record_id_new): the index then appends instead of
 *   splitting pages. Who may name a patient is the caller's to decide (the storage server
 *   checks a delegation); the engine only keeps the patient in the ACL.
 *   A block's reference count is the number of records naming it; mv_store_gc frees blocks
 *   with no references and no live claim, drops deleted records' envelopes, and compacts the
 *   pack files.
 *
 * Versions: the index carries its format (3). Stores written by format 2 (a database per
 * table, tags in the segments) and format 1 (envelopes inside the index) are migrated by
 * mv_store_open, in crash-safe steps; format 2's records and segments are read as written.
 *
 * Durability: every mutating function returns only once its effect is durable (pack data is
 * fdatasync'd before the index transaction naming it commits; the index commit is synced).
 * A crash at any point leaves, after mv_store_open's recovery, a consistent store holding
 * exactly the acknowledged operations (and possibly some unacknowledged ones in full).
 *
 * Thread-safety: one mv_store may be used by any number of threads at once (concurrent
 * mv_store_put_blocks calls are group-committed: one pack sync and one index transaction for
 * all of them). Only mv_store_close must not race with any other call on the same handle.
 * One process at a time may open a store directory (an exclusive lock on dir/lock).
 *
 * Errors common to every function: MV_ERR_INVAL for a NULL handle or NULL required pointer
 * (a caller bug), MV_ERR_NOMEM, MV_ERR_IO (a file-system or index call failed; nothing of the
 * operation is applied), MV_ERR_TOO_LARGE when the index map (options.map_size) is full.
 * Messages passed to callbacks never contain content, tokens or keys. */
#ifndef MV_STORE_H
#define MV_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_STORE_TAG_BYTES 32
#define MV_STORE_TOKEN_BYTES 32
#define MV_STORE_ID_BYTES 16
#define MV_STORE_PK_BYTES 32
#define MV_STORE_MAX_BLOCK ((size_t)8 << 20)    /* bytes of one ciphertext block */
#define MV_STORE_MAX_ENVELOPE ((size_t)1 << 20) /* bytes of one record envelope */
#define MV_STORE_MAX_READERS 64                 /* readers of one record, owner included */
#define MV_STORE_DEPT_MAX 64                    /* characters of a department name */
#define MV_STORE_MAX_TAGS ((size_t)1 << 16)     /* distinct tags of one record */

/* An open store. Thread-safe: every function may be called from several threads at once. */
typedef struct mv_store mv_store;

/* Tuning; a zero field takes its default, and a NULL options pointer means all defaults. */
typedef struct mv_store_options {
    size_t pack_target;   /* start a new pack file once the current one would exceed this; 64 MiB */
    size_t map_size;      /* LMDB map size (a sparse reservation, not disk use); 64 GiB */
    uint64_t claim_ttl_s; /* seconds a claim stays live; 3600 */
    unsigned max_readers; /* index snapshots open at once (a read function holds one, a
                             listing's callback may open a second); 126. Each costs 64
                             bytes of index/lock.mdb; beyond it a read fails (MV_ERR_BUSY). */
} mv_store_options;

/* Opens (creating if needed) the store in directory dir: dir/, dir/index (LMDB), dir/packs/,
 * and takes an exclusive flock on dir/lock for the life of the handle. Then runs recovery:
 * each pack file is truncated to the end committed in the index (dropping torn tails and data
 * written before a crash but never committed) and pack files the index does not know are
 * deleted (a format-2 index's tables are first folded into format 3's layout, 16384 entries
 * per transaction). A format-1 index is then migrated (its envelopes moved to the packs), one
 * transaction per 1024 records; a crash mid-way leaves a store the next open finishes.
 * dir is copied; opt is read only during the call. *out receives the handle (close it
 * with mv_store_close); it is NULL on error.
 * Errors: MV_ERR_INVAL (NULL dir/out, opt->pack_target above 4 GiB or opt->max_readers
 * above 65536), MV_ERR_BUSY (another
 * process, or another handle in this one, holds the store), MV_ERR_TOO_LARGE (path too long),
 * MV_ERR_PARSE (the index holds an entry this version cannot decode, or has a newer format),
 * MV_ERR_IO, MV_ERR_NOMEM. */
MV_API mv_err mv_store_open(const char *dir, const mv_store_options *opt, mv_store **out)
    __attribute__((warn_unused_result));

/* Closes the handle and releases the directory lock. Accepts NULL. No other call on s may be
 * running or follow. */
MV_API void mv_store_close(mv_store *s);

/* One block to store: with data, an upload; with data == NULL, a claim for an existing block,
 * made after the caller verified a proof of ownership (len is then ignored). All pointers are
 * borrowed for the duration of the call. */
typedef struct mv_store_block_in {
    const char *dept;                        /* NUL-terminated, 1..64 chars of [A-Za-z0-9 _.-] */
    uint8_t token[MV_STORE_TOKEN_BYTES];     /* stored under dept: dept||token -> tag */
    uint8_t tag[MV_STORE_TAG_BYTES];         /* must equal SHA-256(data) when data != NULL */
    const uint8_t *data;                     /* the ciphertext C, or NULL (claim only) */
    size_t len;                              /* bytes of data, <= MV_STORE_MAX_BLOCK */
    uint8_t claimant[MV_STORE_PK_BYTES];     /* public key of the uploader / prover */
    /* 1: the caller has itself checked SHA-256(data) == tag on these very bytes, which stay
     * unchanged for the call, and the store skips its own hash (every byte of an upload is
     * then hashed once, not twice). The storage server's FileStore does so, to refuse a bad
     * batch with a precise answer before anything else. Every other caller leaves it 0 and
     * the store checks. The dept, len and token checks apply either way. */
    int tag_checked;
} mv_store_block_in;

typedef struct mv_store_block_out {
    int new_copy;  /* 1 if this call wrote the physical copy of the block */
    int new_token; /* 1 if this call created the dept||token mapping */
} mv_store_block_out;

/* Stores n blocks, all or nothing. First every item is checked (dept, len, and SHA-256(data) ==
 * tag unless the item's tag_checked says the caller did); on any failure nothing is stored. Then, under group commit with concurrent callers, the
 * data of tags not yet stored is appended to the current pack, the pack is fdatasync'd, and one
 * index transaction adds the blocks (reference count 0, first department = this item's), the
 * token mappings and the claims (claimant, tag, now). Returns only when all of it is durable.
 * A block already stored is not written again (new_copy 0); an identical token mapping is
 * accepted (new_token 0). A claim made with data == NULL counts as a dedup hit of dept.
 * out (n entries, may be NULL) receives per-item results on MV_OK and is zeroed otherwise.
 * in and out must not overlap. n == 0 is a no-op.
 * Errors: MV_ERR_INVAL (bad dept, NULL in with n > 0), MV_ERR_TOO_LARGE (len > MAX_BLOCK),
 * MV_ERR_VERIFY (SHA-256(data) != tag, or the token already maps to a different tag in dept,
 * or two items of the call map one token to different tags), MV_ERR_NOT_FOUND (data == NULL
 * and the tag is neither stored nor uploaded by this call), MV_ERR_IO, MV_ERR_NOMEM. */
MV_API mv_err mv_store_put_blocks(mv_store *s, const mv_store_block_in *in, size_t n,
                                  mv_store_block_out *out) __attribute__((warn_unused_result));

/* Looks up token in department dept (the DupCheck) and writes its tag to tag.
 * Errors: MV_ERR_NOT_FOUND (no such token in dept), MV_ERR_INVAL (bad dept), MV_ERR_IO. */
MV_API mv_err mv_store_token_lookup(mv_store *s, const char *dept,
                                    const uint8_t token[static MV_STORE_TOKEN_BYTES],
                                    uint8_t tag[static MV_STORE_TAG_BYTES])
    __attribute__((warn_unused_result));

/* Appends the ciphertext named by tag to out (out's cap applies). The bytes are verified
 * against tag before they are appended; on error out is unchanged.
 * Errors: MV_ERR_NOT_FOUND, MV_ERR_VERIFY (the stored bytes do not hash to tag: corruption),
 * MV_ERR_TOO_LARGE (out's cap), MV_ERR_IO, MV_ERR_NOMEM. */
MV_API mv_err mv_store_block_read(mv_store *s, const uint8_t tag[static MV_STORE_TAG_BYTES], mv_buf *out)
    __attribute__((warn_unused_result));

/* As mv_store_block_read, but the bytes are appended as the pack holds them, without hashing
 * them: for readers that check them against tag themselves (the storage server's batched
 * block answers, whose clients verify every block's SHA-256 and GCM tag before using it).
 * Corruption is then found by that reader and by mv_store_check.
 * Errors: MV_ERR_NOT_FOUND, MV_ERR_TOO_LARGE (out's cap), MV_ERR_IO, MV_ERR_NOMEM. */
MV_API mv_err mv_store_block_read_unverified(mv_store *s, const uint8_t tag[static MV_STORE_TAG_BYTES], mv_buf *out)
    __attribute__((warn_unused_result));

/* Length and reference count of a stored block. len or refs may be NULL.
 * Errors: MV_ERR_NOT_FOUND, MV_ERR_IO. */
MV_API mv_err mv_store_block_info(mv_store *s, const uint8_t tag[static MV_STORE_TAG_BYTES],
                                  uint64_t *len, uint64_t *refs) __attribute__((warn_unused_result));

/* One record to store. Pointers are borrowed for the duration of the call. */
typedef struct mv_store_record_in {
    uint8_t id[MV_STORE_ID_BYTES];
    const char *dept;               /* 1..64 chars of [A-Za-z0-9 _.-] */
    uint8_t owner[MV_STORE_PK_BYTES];
    uint8_t patient[MV_STORE_PK_BYTES]; /* the patient's key; all zero = none (then no episode) */
    uint8_t episode[MV_STORE_ID_BYTES]; /* the episode (appointment id); all zero = none */
    const uint8_t *readers;         /* n_readers * 32 bytes; duplicates, the owner and the
                                       patient are folded (ACL: owner, patient, readers) */
    size_t n_readers;
    const uint8_t *tags;            /* n_tags * 32 bytes, distinct, each stored and claimed */
    size_t n_tags;
    const uint8_t *envelope;        /* envelope_len <= MV_STORE_MAX_ENVELOPE bytes (NULL if 0) */
    size_t envelope_len;
} mv_store_record_in;

/* Stores n records in one durable transaction, each one judged independently into results[i]:
 * MV_OK; MV_ERR_EXISTS (the id is taken, also by an earlier record of this batch);
 * MV_ERR_INVAL (bad dept, envelope or tag count, duplicate tags, more than MAX_READERS readers
 * once the owner and patient are added, NULL arrays with a nonzero count, an episode without a
 * patient); MV_ERR_NOT_FOUND (a tag is not
 * stored); MV_ERR_FORBIDDEN (the owner holds no live claim on a tag: claimed_at + ttl >= now).
 * Accepted records add one reference to each of their tags and are created at `now`.
 * results must hold n entries (not overlapping in).
 * Returns MV_OK if the batch was processed (see results); otherwise a storage error
 * (MV_ERR_IO, MV_ERR_NOMEM, MV_ERR_TOO_LARGE) and nothing is stored. */
MV_API mv_err mv_store_put_records(mv_store *s, const mv_store_record_in *in, size_t n,
                                   mv_err *results, uint64_t now) __attribute__((warn_unused_result));

/* A record's metadata (no envelope). */
typedef struct mv_store_record_info {
    uint8_t id[MV_STORE_ID_BYTES];
    uint8_t owner[MV_STORE_PK_BYTES];
    char dept[MV_STORE_DEPT_MAX + 1];
    uint8_t patient[MV_STORE_PK_BYTES];                   /* all zero: none */
    uint8_t episode[MV_STORE_ID_BYTES];                   /* all zero: none */
    size_t n_readers;                                     /* owner first, then the patient */
    uint8_t readers[MV_STORE_MAX_READERS][MV_STORE_PK_BYTES];
    size_t n_tags;
    uint64_t created;                                     /* `now` of mv_store_put_records */
    uint64_t envelope_len;
    uint64_t logical_bytes;                               /* envelope + the blocks' lengths */
} mv_store_record_info;

/* Fills *info (required) and, if envelope != NULL, appends the envelope to it (its cap applies;
 * on error it is unchanged).
 * Errors: MV_ERR_NOT_FOUND, MV_ERR_TOO_LARGE (envelope cap), MV_ERR_PARSE (corrupt index
 * entry), MV_ERR_IO, MV_ERR_NOMEM. */
MV_API mv_err mv_store_record_get(mv_store *s, const uint8_t id[static MV_STORE_ID_BYTES],
                                  mv_store_record_info *info, mv_buf *envelope)
    __attribute__((warn_unused_result));

/* Copies up to cap of the record's tags (32 bytes each, in the order given at creation) to
 * tags (may be NULL when cap == 0) and sets *n to the record's total tag count, so a call
 * with cap 0 sizes the array. Errors: MV_ERR_NOT_FOUND, MV_ERR_TOO_LARGE (cap < *n; the first
 * cap tags are copied), MV_ERR_PARSE, MV_ERR_IO. */
MV_API mv_err mv_store_record_tags(mv_store *s, const uint8_t id[static MV_STORE_ID_BYTES],
                                   uint8_t *tags, size_t cap, size_t *n) __attribute__((warn_unused_result));

/* Called once per record; a non-MV_OK return stops the listing and is returned by it. info is
 * valid only during the call. */
typedef mv_err (*mv_store_record_fn)(void *ctx, const mv_store_record_info *info);

/* Calls fn for every record that reader (32 bytes) may read, or for every record if reader is
 * NULL, in id order, over one consistent snapshot. fn may call the store's read functions;
 * it should be quick (the snapshot is held while it runs). Errors: whatever fn returned,
 * MV_ERR_PARSE, MV_ERR_IO. */
MV_API mv_err mv_store_record_list(mv_store *s, const uint8_t *reader, mv_store_record_fn fn, void *ctx)
    __attribute__((warn_unused_result));

/* Deletes a record and drops one reference from each of its tags (the blocks stay until
 * mv_store_gc). Authorisation is the caller's job. Errors: MV_ERR_NOT_FOUND, MV_ERR_PARSE,
 * MV_ERR_IO. */
MV_API mv_err mv_store_record_delete(mv_store *s, const uint8_t id[static MV_STORE_ID_BYTES])
    __attribute__((warn_unused_result));

/* Replaces a record's readers (the owner and the record's patient are kept, duplicates folded)
 * and, if envelope is not NULL, its envelope (re-wrapped record key); logical bytes follow the
 * new envelope length. Same as mv_store_record_set_access with patient NULL.
 * Errors: MV_ERR_NOT_FOUND, MV_ERR_INVAL (more than MAX_READERS with the owner and patient,
 * envelope_len > MAX_ENVELOPE, readers NULL with n > 0), MV_ERR_PARSE, MV_ERR_IO. */
MV_API mv_err mv_store_record_set_readers(mv_store *s, const uint8_t id[static MV_STORE_ID_BYTES],
                                          const uint8_t *readers, size_t n, const uint8_t *envelope,
                                          size_t envelope_len) __attribute__((warn_unused_result));

/* mv_store_record_set_readers that may also name the record's patient: with patient != NULL
 * (32 bytes, not all zero) the record's patient is set to it, in the same transaction, only if
 * the record has none yet (the episode stays as it is); the patient joins the readers. With
 * patient NULL it is mv_store_record_set_readers. Authorisation is the caller's job.
 * Errors: as mv_store_record_set_readers; MV_ERR_EXISTS (patient given and the record already
 * has one, even the same: nothing changed); MV_ERR_INVAL (an all-zero patient). */
MV_API mv_err mv_store_record_set_access(mv_store *s, const uint8_t id[static MV_STORE_ID_BYTES],
                                         const uint8_t *patient, const uint8_t *readers, size_t n,
                                         const uint8_t *envelope, size_t envelope_len)
    __attribute__((warn_unused_result));

typedef struct mv_store_gc_report {
    uint64_t blocks_freed;    /* blocks dropped from the index */
    uint64_t bytes_freed;     /* their ciphertext bytes */
    uint64_t packs_rewritten; /* packs whose live entries were copied forward */
    uint64_t packs_deleted;   /* pack files removed (rewritten ones and entirely dead ones) */
    uint64_t claims_expired;  /* claims with claimed_at + ttl < now, dropped */
} mv_store_gc_report;

/* Garbage collection: drops expired claims; frees blocks with no reference and no live claim
 * (and their tokens) and access sets no record names; then every pack holding dead bytes
 * (freed blocks, deleted or replaced envelopes) is compacted: its live entries are appended to
 * the current pack (an envelope segment without its dead records' bytes), which is
 * fdatasync'd, one transaction repoints them, and only then the old pack is unlinked. A crash at any point leaves a consistent store. Safe while the
 * store serves other threads (uploads wait while one pack is being compacted). rep (may be
 * NULL) receives the counts, also on error (work done so far). Errors: MV_ERR_IO,
 * MV_ERR_NOMEM, MV_ERR_PARSE, MV_ERR_VERIFY (a live entry read back corrupt: that pack is left
 * in place for mv_store_check to report). */
MV_API mv_err mv_store_gc(mv_store *s, uint64_t now, mv_store_gc_report *rep)
    __attribute__((warn_unused_result));

typedef struct mv_store_check_report {
    uint64_t packs;           /* pack files known to the index */
    uint64_t entries;         /* pack entries read */
    uint64_t bytes;           /* pack bytes read */
    uint64_t bad_entries;     /* entries not hashing to their tag, or unparseable framing */
    uint64_t missing;         /* index blocks with no matching pack entry; records or readers
                                 naming something the index lacks */
    uint64_t orphans;         /* pack files, tokens, claims or reader entries naming nothing */
    uint64_t refcount_errors; /* blocks whose reference count differs from the records naming
                                 them; stats counters that disagree with the index */
} mv_store_check_report;

/* Receives one line per problem; `what` names kinds, pack numbers and offsets, never content,
 * tokens or keys. Valid only during the call. */
typedef void (*mv_store_problem_fn)(void *ctx, const char *what);

/* Full check, like `restic check --read-data`: reads every committed pack entry and verifies
 * SHA-256 == its tag (blocks and envelope segments), that every index block and segment points
 * exactly at such an entry, that every record's envelope lies in its segment, that every pack
 * the index names exists, that reference counts equal the number of records naming each tag,
 * and that access sets, their reader entries and their record lists agree. Runs over one index snapshot, concurrently with readers and writers (not with gc).
 * Memory: about 48 bytes per distinct referenced tag. fn may be NULL. Returns MV_OK even if
 * problems were found: the store is clean iff bad_entries + missing + orphans +
 * refcount_errors == 0. Errors: MV_ERR_IO, MV_ERR_NOMEM (rep then partial). */
MV_API mv_err mv_store_check(mv_store *s, mv_store_check_report *rep, mv_store_problem_fn fn, void *ctx)
    __attribute__((warn_unused_result));

typedef struct mv_store_dept_stats {
    char dept[MV_STORE_DEPT_MAX + 1];
    uint64_t records;
    uint64_t logical_bytes;  /* sum over its records of envelope + block lengths */
    uint64_t physical_bytes; /* attributed data: its envelopes + referenced blocks it uploaded
                                first (the index, pack framing and dead bytes, shared by all
                                departments, are in the totals only) */
    uint64_t dedup_hits;     /* claims made with data == NULL */
} mv_store_dept_stats;

typedef struct mv_store_stats {
    uint64_t records;
    uint64_t blocks;         /* blocks in the index (referenced or awaiting gc) */
    uint64_t block_bytes;    /* their ciphertext bytes */
    uint64_t envelope_bytes;
    uint64_t pack_bytes;     /* committed bytes of all pack files: blocks, envelope segments,
                                framing, and dead bytes gc has not collected yet */
    uint64_t index_bytes;    /* size of the index file (index/data.mdb), free pages included */
    uint64_t logical_bytes;  /* what a non-deduplicating store would keep for the records */
    uint64_t physical_bytes; /* everything the store keeps on disk: pack_bytes + index_bytes
                                (what a cloud bill sees). Before index format 2 this field
                                meant what data_bytes means now. */
    uint64_t data_bytes;     /* envelope_bytes + bytes of blocks with at least one reference
                                (the data itself, without framing, index or dead bytes) */
    size_t n_depts;          /* departments in depts (the first 64 by name) */
    mv_store_dept_stats depts[64];
} mv_store_stats;

/* Fills *out from one snapshot. (Named _get_stats because C cannot give the type and the
 * function the one name mv_store_stats.) index_bytes is the index file's size when the
 * call reads it (a separate step from the snapshot). Errors: MV_ERR_PARSE, MV_ERR_IO. */
MV_API mv_err mv_store_get_stats(mv_store *s, mv_store_stats *out) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
