/* store_internal.h - internal to src/store: the store handle and the pieces its files share
 * (store.c: open, recovery, blocks, stats; store_write.c: deltas, pack writer, pack lists;
 * store_records.c: segments and records; store_migrate.c: old index formats; store_gc.c;
 * store_check.c). Not installed, not part of the API. */
#ifndef MV_STORE_INTERNAL_H
#define MV_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "blob.h"
#include "index.h"
#include "medvault/mv_buf.h"
#include "medvault/mv_store.h"

#define PATH_CAP 4096
#define OVERHEAD ((uint64_t)MV_BLOB_ENTRY_OVERHEAD)

/* A put_blocks call waiting for (or being served by) a group commit. */
typedef struct put_req {
    const mv_store_block_in *in;
    size_t n;
    mv_store_block_out *out;
    mv_err rc;
    int done;
    struct put_req *next;
} put_req;

struct mv_store {
    int lock_fd;
    char index_file[PATH_CAP]; /* dir/index/data.mdb, for its size in the stats */
    mv_blob *blob;
    mv_index *ix;
    size_t pack_target;
    uint64_t claim_ttl;
    /* Lock order: gc_mu, then write_mu, then pack_rw; q_mu is never held with another. */
    pthread_mutex_t gc_mu;     /* one gc or check at a time */
    pthread_mutex_t write_mu;  /* the pack writer: group-commit leader or a gc step */
    pthread_rwlock_t pack_rw;  /* block reads (shared) vs pack removal (exclusive) */
    pthread_mutex_t q_mu;      /* the group-commit queue */
    pthread_cond_t q_cv;
    put_req *q_head, *q_tail;
    int leader;                /* a leader is committing */
    int locks_ready;
    /* Pack writer state, under write_mu. cur_pack 0: start a new pack at the next write. */
    uint32_t cur_pack;
    uint64_t cur_end; /* committed end of cur_pack */
    int cur_dirty;    /* bytes past cur_end may remain from a failed write */
    uint32_t next_pack;
    _Atomic uint64_t n_fsyncs, n_commits, n_batches;
};

#define IX(s) ((s)->ix->ops)
#define BLOB(s) ((s)->blob->ops)

/* Counters change by deltas kept as uint64: a decrement is added as its two's complement,
 * which unsigned arithmetic makes exact as long as the final counter is not negative. */
typedef struct dept_delta {
    char dept[MV_STORE_DEPT_MAX + 1];
    mv_ix_stats d;
} dept_delta;

typedef struct deltas {
    mv_ix_stats total;
    dept_delta *v;
    size_t n, cap;
} deltas;

/* Appends entries for one commit, rolling to new packs past pack_target. Used under write_mu;
 * nothing it writes is visible until store_wr_apply's transaction commits, and wr_fail undoes
 * it. */
typedef struct wr_pack {
    uint32_t pack;
    uint64_t start, end;              /* committed end before, bytes written up to */
    uint64_t live_bytes, live_entries; /* entries the index will point at */
    int created;
} wr_pack;

typedef struct wr {
    mv_store *s;
    wr_pack *packs;
    size_t n, cap;
    mv_blob_entry *pend; /* queued for the last pack, from pend_off */
    size_t npend, cappend;
    uint64_t pend_off;
    int committed; /* store_wr_commit's commit succeeded: store_wr_finish keeps what was written */
} wr;

typedef struct pack_list {
    uint32_t *id;
    uint64_t *size; /* committed end (index) or file size (blob) */
    size_t n, cap;
} pack_list;

/* An envelope segment is one pack entry (tag = SHA-256 of its data): a 4-byte header, "MVS"
 * and its version, then each record's bytes back to back with no per-record framing; the
 * index says where each record's bytes start. Version 2 (index format 3): a record's envelope,
 * then the ids of its blocks (varints, block_ids maps them to tags). Version 1 (format 2,
 * read and kept as written): its tags (32 bytes each), then its envelope. */
#define SEG_HDR 4u
#define SEG_VERSION 2
#define SEG_MAX MV_STORE_MAX_BLOCK /* a record's bytes (<= 640 KiB ids + 1 MiB envelope) fit */
#define SEG_OVERHEAD (OVERHEAD + SEG_HDR)
#define REF_MAX 10 /* bytes of one block id (a varint of a u64) */

/* Envelope segments being built for one transaction; seg ids are base, base + 1, ... */
typedef struct seg_out {
    mv_buf buf;
    uint64_t records;
} seg_out;

/* A new record of the transaction, for its seg_sets entry. */
typedef struct seg_member {
    uint64_t seg;
    uint32_t set;
    uint8_t id[16];
    mv_ix_record rec;
} seg_member;

typedef struct seg_build {
    seg_out *v;
    size_t n, cap;
    uint64_t base;
    seg_member *m;
    size_t nm, capm;
} seg_build;

/* 1 if d is a department name the store accepts (1..MV_STORE_DEPT_MAX of [A-Za-z0-9 _.-]). */
int store_dept_ok(const char *d);

/* Deltas (store_write.c). store_delta_dept: dept's entry in d, added if new (NULL: out of
 * memory); store_deltas_apply adds d to the index's counters in t; store_deltas_free frees d's
 * entries. */
mv_ix_stats *store_delta_dept(deltas *d, const char *dept);
mv_err store_deltas_apply(mv_store *s, mv_itxn *t, const deltas *d);
void store_deltas_free(deltas *d);

/* The pack writer (store_write.c), used under write_mu. store_wr_add queues an entry (its pack and
 * offset out), store_wr_flush writes the queue, store_wr_sync writes and syncs every touched pack,
 * store_wr_mark_live counts bytes the index will point at, store_wr_apply records the packs' new
 * ends in t. store_wr_commit commits *t (and sets it to NULL); store_wr_finish, on every path after
 * it, aborts t if it is still open and, unless the commit succeeded, drops what was written;
 * store_wr_free always. */
mv_err store_wr_add(wr *w, const uint8_t *tag, const uint8_t *data, size_t len, uint32_t *pack,
                    uint64_t *off);
mv_err store_wr_flush(wr *w);
mv_err store_wr_sync(wr *w);
void store_wr_mark_live(wr *w, uint32_t pack, uint64_t bytes);
mv_err store_wr_apply(wr *w, mv_itxn *t, deltas *d);
mv_err store_wr_commit(wr *w, mv_itxn **t);
void store_wr_finish(wr *w, mv_itxn *t);
void store_wr_free(wr *w);

/* Pack lists (store_write.c), sorted by id: store_pl_add appends, store_pl_find gives the index of
 * id or -1, store_list_packs fills ixp from the index (t) and files (may be NULL) from the pack
 * files. */
mv_err store_pl_add(pack_list *l, uint32_t id, uint64_t size);
void store_pl_free(pack_list *l);
long store_pl_find(const pack_list *l, uint32_t id);
mv_err store_list_packs(mv_store *s, mv_itxn *t, pack_list *ixp, pack_list *files);

/* Segments and records (store_records.c): store_seg_hdr_ok checks a segment's header,
 * store_refs_len measures a record's n block ids (0: they do not parse), store_read_refs gives
 * a record's tags, store_block_refs encodes tags as ids; store_make_set and store_set_acquire
 * build and intern an access set; store_sb_* build the segments of one transaction (store_sb_add a
 * record's bytes, store_sb_member its entry, store_sb_write writes and records the segments,
 * store_sb_index the new records). store_cmp_u32 is the qsort order of uint32_t. */
int store_seg_hdr_ok(const uint8_t *d, size_t len);
size_t store_refs_len(const uint8_t *p, size_t len, uint64_t n);
mv_err store_read_refs(mv_store *s, mv_itxn *t, const mv_ix_record *r, uint8_t **tags,
                       uint64_t *span);
mv_err store_block_refs(mv_store *s, mv_itxn *t, const uint8_t *tags, size_t n, uint8_t *refs,
                        size_t *len);
mv_err store_make_set(const uint8_t *owner, const uint8_t *patient, const uint8_t *episode,
                      const char *dept, const uint8_t *readers, size_t n, mv_ix_set *st);
mv_err store_set_acquire(mv_store *s, mv_itxn *t, mv_ix_set *st, uint32_t *id);
mv_err store_sb_member(seg_build *b, const uint8_t *id, const mv_ix_record *rec);
mv_err store_sb_add(seg_build *b, const uint8_t *refs, size_t refs_len, const uint8_t *env,
                    size_t env_len, uint64_t *seg, uint64_t *off);
mv_err store_sb_write(mv_store *s, seg_build *b, wr *w, mv_itxn *t);
mv_err store_sb_index(mv_store *s, seg_build *b, mv_itxn *t);
void store_sb_free(seg_build *b);
int store_cmp_u32(const void *a, const void *b);

/* Index formats (store_migrate.c), called by mv_store_open: store_fold brings a format 2
 * index's tables into format 3 (*format: the format found), store_migrate converts format-1
 * records. */
mv_err store_fold(mv_store *s, uint32_t *format);
mv_err store_migrate(mv_store *s, uint32_t format);

#endif
