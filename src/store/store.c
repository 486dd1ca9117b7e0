/* store.c - the storage engine: a block's bytes are verified against its tag and durable in a
 * pack before the index names it, so the index never points at data that is not there. */
#include "medvault/mv_store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"
#include "index.h"
#include "store_test.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_file.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"

#define PATH_CAP 4096
#define DEFAULT_PACK_TARGET ((size_t)64 << 20)
#define DEFAULT_MAP_SIZE ((size_t)64 << 30)
#define DEFAULT_CLAIM_TTL 3600
/* LMDB's own default. The lock file holds 64 bytes per reader slot: at 1024 slots it was
 * 64 KiB, more than a 500-record store's whole index. */
#define DEFAULT_MAX_READERS 126
#define MAX_READERS_CAP 65536
#define GC_STAGE ((size_t)4 << 20) /* bytes of live entries gc copies per write */
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

static int dept_ok(const char *d)
{
    size_t n = 0;
    if (!d)
        return 0;
    for (; d[n]; n++) {
        char c = d[n];
        if (n >= MV_STORE_DEPT_MAX ||
            !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == ' ' || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return n > 0;
}

/* ---------------------------------------------------------------- stats deltas ---- */

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

static void stats_add(mv_ix_stats *a, const mv_ix_stats *b)
{
    a->records += b->records;
    a->blocks += b->blocks;
    a->block_bytes += b->block_bytes;
    a->envelope_bytes += b->envelope_bytes;
    a->pack_bytes += b->pack_bytes;
    a->logical += b->logical;
    a->physical += b->physical;
    a->dedup_hits += b->dedup_hits;
}

static mv_ix_stats *delta_dept(deltas *d, const char *dept)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i].dept, dept) == 0)
            return &d->v[i].d;
    if (d->n == d->cap) {
        size_t nc = d->cap ? 2 * d->cap : 4;
        dept_delta *nv = mv_mallocarray(nc, sizeof *nv);
        if (!nv)
            return NULL;
        if (d->n)
            memcpy(nv, d->v, d->n * sizeof *nv);
        mv_free(d->v);
        d->v = nv;
        d->cap = nc;
    }
    dept_delta *e = &d->v[d->n++];
    memset(e, 0, sizeof *e);
    memcpy(e->dept, dept, strlen(dept) + 1);
    return &e->d;
}

static mv_err deltas_apply(mv_store *s, mv_itxn *t, const deltas *d)
{
    mv_ix_stats st;
    mv_err rc;
    if ((rc = IX(s)->stats_get(t, NULL, &st)) != MV_OK)
        return rc;
    stats_add(&st, &d->total);
    if ((rc = IX(s)->stats_put(t, NULL, &st)) != MV_OK)
        return rc;
    for (size_t i = 0; i < d->n; i++) {
        if ((rc = IX(s)->stats_get(t, d->v[i].dept, &st)) != MV_OK)
            return rc;
        stats_add(&st, &d->v[i].d);
        if ((rc = IX(s)->stats_put(t, d->v[i].dept, &st)) != MV_OK)
            return rc;
    }
    return MV_OK;
}

static void deltas_free(deltas *d) { mv_free(d->v); }

/* ------------------------------------------------------------------ pack writer ---- */

/* Appends entries for one commit, rolling to new packs past pack_target. Used under write_mu;
 * nothing it writes is visible until wr_apply's transaction commits, and wr_fail undoes it. */
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
} wr;

static mv_err wr_push(wr *w, uint32_t pack, uint64_t start, int created)
{
    mv_err grc = mv_array_grow(&w->packs, &w->cap, w->n, sizeof *w->packs, 2);
    if (grc != MV_OK)
        return grc;
    wr_pack *p = &w->packs[w->n++];
    memset(p, 0, sizeof *p);
    p->pack = pack;
    p->start = p->end = start;
    p->created = created;
    w->pend_off = start;
    return MV_OK;
}

static mv_err wr_flush(wr *w)
{
    mv_err rc = MV_OK;
    if (w->npend)
        rc = w->s->blob->ops->append(w->s->blob, w->packs[w->n - 1].pack, w->pend_off, w->pend,
                                     w->npend);
    if (rc == MV_OK) {
        w->npend = 0;
        w->pend_off = w->n ? w->packs[w->n - 1].end : 0;
    }
    return rc;
}

static mv_err wr_add(wr *w, const uint8_t *tag, const uint8_t *data, size_t len, uint32_t *pack,
                     uint64_t *off)
{
    mv_store *s = w->s;
    uint64_t sz = OVERHEAD + len;
    mv_err rc;
    if (w->n == 0) {
        if (s->cur_pack && s->cur_dirty) {
            if ((rc = BLOB(s)->truncate(s->blob, s->cur_pack, s->cur_end)) != MV_OK &&
                rc != MV_ERR_NOT_FOUND)
                return rc;
            s->cur_dirty = 0;
        }
        if (s->cur_pack && s->cur_end + sz > s->pack_target && s->cur_end > 0)
            s->cur_pack = 0; /* full: seal it */
        rc = s->cur_pack ? wr_push(w, s->cur_pack, s->cur_end, 0) : wr_push(w, s->next_pack++, 0, 1);
        if (rc != MV_OK)
            return rc;
    }
    wr_pack *last = &w->packs[w->n - 1];
    if (last->end > 0 && last->end + sz > s->pack_target) {
        if ((rc = wr_flush(w)) != MV_OK || (rc = wr_push(w, s->next_pack++, 0, 1)) != MV_OK)
            return rc;
        last = &w->packs[w->n - 1];
    }
    mv_err grc = mv_array_grow(&w->pend, &w->cappend, w->npend, sizeof *w->pend, 16);
    if (grc != MV_OK)
        return grc;
    w->pend[w->npend++] = (mv_blob_entry){tag, data, len};
    *pack = last->pack;
    *off = last->end;
    last->end += sz;
    return MV_OK;
}

static mv_err wr_sync(wr *w)
{
    mv_err rc;
    if ((rc = wr_flush(w)) != MV_OK)
        return rc;
    for (size_t i = 0; i < w->n; i++) {
        if (w->packs[i].end == w->packs[i].start && !w->packs[i].created)
            continue;
        if ((rc = BLOB(w->s)->sync(w->s->blob, w->packs[i].pack)) != MV_OK)
            return rc;
        atomic_fetch_add(&w->s->n_fsyncs, 1);
    }
    return MV_OK;
}

static void wr_mark_live(wr *w, uint32_t pack, uint64_t bytes)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->packs[i].pack == pack) {
            w->packs[i].live_bytes += bytes;
            w->packs[i].live_entries++;
            return;
        }
}

/* Records the new ends and live bytes of the touched packs in transaction t. */
static mv_err wr_apply(wr *w, mv_itxn *t, deltas *d)
{
    mv_store *s = w->s;
    for (size_t i = 0; i < w->n; i++) {
        wr_pack *wp = &w->packs[i];
        mv_ix_pack p = {0, 0, 0};
        mv_err rc = IX(s)->pack_get(t, wp->pack, &p);
        if (rc != MV_OK && rc != MV_ERR_NOT_FOUND)
            return rc;
        if (wp->end == p.end && wp->live_entries == 0 && rc == MV_OK)
            continue;
        d->total.pack_bytes += wp->end - p.end;
        p.end = wp->end;
        p.live_bytes += wp->live_bytes;
        p.live_entries += wp->live_entries;
        if ((rc = IX(s)->pack_put(t, wp->pack, &p)) != MV_OK)
            return rc;
    }
    return MV_OK;
}

/* After the commit: the last pack is where the next write continues. */
static void wr_done(wr *w)
{
    if (w->n == 0)
        return;
    w->s->cur_pack = w->packs[w->n - 1].pack;
    w->s->cur_end = w->packs[w->n - 1].end;
}

/* After a failure: nothing was committed, so drop what was written (best effort; recovery on
 * the next open does the same if this fails too). */
static void wr_fail(wr *w)
{
    mv_store *s = w->s;
    for (size_t i = 0; i < w->n; i++) {
        wr_pack *wp = &w->packs[i];
        if (wp->created) {
            (void)BLOB(s)->remove(s->blob, wp->pack);
        } else if (BLOB(s)->truncate(s->blob, wp->pack, wp->start) != MV_OK) {
            s->cur_dirty = 1;
        }
    }
    w->n = 0;
    w->npend = 0;
}

static void wr_free(wr *w)
{
    mv_free(w->packs);
    mv_free(w->pend);
}

/* ----------------------------------------------------------------- open / close ---- */

typedef struct pack_list {
    uint32_t *id;
    uint64_t *size; /* committed end (index) or file size (blob) */
    size_t n, cap;
} pack_list;

static mv_err pl_add(pack_list *l, uint32_t id, uint64_t size)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 16;
        uint32_t *ni = mv_mallocarray(nc, sizeof *ni);
        uint64_t *ns = mv_mallocarray(nc, sizeof *ns);
        if (!ni || !ns) {
            mv_free(ni);
            mv_free(ns);
            return MV_ERR_NOMEM;
        }
        if (l->n) {
            memcpy(ni, l->id, l->n * sizeof *ni);
            memcpy(ns, l->size, l->n * sizeof *ns);
        }
        mv_free(l->id);
        mv_free(l->size);
        l->id = ni;
        l->size = ns;
        l->cap = nc;
    }
    l->id[l->n] = id;
    l->size[l->n++] = size;
    return MV_OK;
}

static void pl_free(pack_list *l)
{
    mv_free(l->id);
    mv_free(l->size);
}

/* Index of id in l (sorted by id), or -1. */
static long pl_find(const pack_list *l, uint32_t id)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->id[mid] == id)
            return (long)mid;
        if (l->id[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static mv_err pl_ix_cb(void *ctx, uint32_t pack, const mv_ix_pack *p)
{
    return pl_add(ctx, pack, p->end);
}

static mv_err pl_blob_cb(void *ctx, uint32_t pack, uint64_t size) { return pl_add(ctx, pack, size); }

/* Index packs (in id order, from t) and pack files. */
static mv_err list_packs(mv_store *s, mv_itxn *t, pack_list *ixp, pack_list *files)
{
    mv_err rc = IX(s)->pack_iter(t, pl_ix_cb, ixp);
    if (rc == MV_OK && files)
        rc = BLOB(s)->list(s->blob, pl_blob_cb, files);
    return rc;
}

/* Truncates every pack to its committed end and deletes pack files the index does not know. */
static mv_err recover(mv_store *s)
{
    pack_list ixp = {0}, files = {0};
    mv_itxn *t = NULL;
    uint32_t max_id = 0;
    mv_err rc;
    if ((rc = IX(s)->begin(s->ix, 0, &t)) != MV_OK)
        return rc;
    rc = list_packs(s, t, &ixp, &files);
    IX(s)->abort(t);
    if (rc != MV_OK)
        goto out;
    for (size_t i = 0; i < files.n; i++) {
        uint32_t id = files.id[i];
        long k = pl_find(&ixp, id);
        if (id > max_id)
            max_id = id;
        if (k < 0) {
            if ((rc = BLOB(s)->remove(s->blob, id)) != MV_OK)
                goto out;
            mv_log(MV_LOG_INFO, "store", "recovery: removed uncommitted pack %08" PRIu32, id);
        } else if (files.size[i] > ixp.size[k]) {
            if ((rc = BLOB(s)->truncate(s->blob, id, ixp.size[k])) != MV_OK)
                goto out;
            mv_log(MV_LOG_INFO, "store", "recovery: pack %08" PRIu32 " cut from %" PRIu64
                   " to its committed %" PRIu64 " bytes", id, files.size[i], ixp.size[k]);
        } else if (files.size[i] < ixp.size[k]) {
            mv_log(MV_LOG_ERROR, "store", "pack %08" PRIu32 " is shorter than committed (%"
                   PRIu64 " < %" PRIu64 "): run a check", id, files.size[i], ixp.size[k]);
        }
    }
    for (size_t i = 0; i < ixp.n; i++) {
        if (ixp.id[i] > max_id)
            max_id = ixp.id[i];
        int found = 0;
        for (size_t j = 0; j < files.n && !found; j++)
            found = files.id[j] == ixp.id[i];
        if (!found)
            mv_log(MV_LOG_ERROR, "store", "pack %08" PRIu32 " named by the index is missing",
                   ixp.id[i]);
    }
    s->next_pack = max_id + 1;
    s->cur_pack = 0;
    s->cur_end = 0;
    if (ixp.n && ixp.size[ixp.n - 1] < s->pack_target) {
        s->cur_pack = ixp.id[ixp.n - 1];
        s->cur_end = ixp.size[ixp.n - 1];
    }
out:
    pl_free(&ixp);
    pl_free(&files);
    return rc;
}

void mv_store_close(mv_store *s)
{
    if (!s)
        return;
    if (s->blob)
        BLOB(s)->close(s->blob);
    if (s->ix)
        IX(s)->close(s->ix);
    if (s->locks_ready) {
        pthread_mutex_destroy(&s->gc_mu);
        pthread_mutex_destroy(&s->write_mu);
        pthread_rwlock_destroy(&s->pack_rw);
        pthread_mutex_destroy(&s->q_mu);
        pthread_cond_destroy(&s->q_cv);
    }
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    mv_free(s);
}

static mv_err fold(mv_store *s, uint32_t *format);
static mv_err migrate(mv_store *s, uint32_t format);

static mv_err init_locks(mv_store *s)
{
    int ok = 0;
    if (pthread_mutex_init(&s->gc_mu, NULL) != 0)
        return MV_ERR_NOMEM;
    ok++;
    if (pthread_mutex_init(&s->write_mu, NULL) != 0)
        goto fail;
    ok++;
    /* Writer preference: block reads are short and constant under load; gc's unlink must not
     * starve behind them. */
    pthread_rwlockattr_t ra;
    if (pthread_rwlockattr_init(&ra) != 0)
        goto fail;
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int e = pthread_rwlock_init(&s->pack_rw, &ra);
    pthread_rwlockattr_destroy(&ra);
    if (e != 0)
        goto fail;
    ok++;
    if (pthread_mutex_init(&s->q_mu, NULL) != 0)
        goto fail;
    ok++;
    if (pthread_cond_init(&s->q_cv, NULL) != 0)
        goto fail;
    s->locks_ready = 1;
    return MV_OK;
fail:
    if (ok > 3)
        pthread_mutex_destroy(&s->q_mu);
    if (ok > 2)
        pthread_rwlock_destroy(&s->pack_rw);
    if (ok > 1)
        pthread_mutex_destroy(&s->write_mu);
    pthread_mutex_destroy(&s->gc_mu);
    return MV_ERR_NOMEM;
}

mv_err mv_store_open(const char *dir, const mv_store_options *opt, mv_store **out)
{
    char path[PATH_CAP];
    mv_store *s = NULL;
    uint32_t format = 0;
    mv_err rc;
    if (!dir || !out)
        return MV_ERR_INVAL;
    *out = NULL;
    if (opt && ((uint64_t)opt->pack_target > UINT32_MAX || opt->max_readers > MAX_READERS_CAP))
        return MV_ERR_INVAL;
    if (!(s = mv_calloc(1, sizeof *s)))
        return MV_ERR_NOMEM;
    s->lock_fd = -1;
    s->pack_target = opt && opt->pack_target ? opt->pack_target : DEFAULT_PACK_TARGET;
    s->claim_ttl = opt && opt->claim_ttl_s ? opt->claim_ttl_s : DEFAULT_CLAIM_TTL;
    size_t map_size = opt && opt->map_size ? opt->map_size : DEFAULT_MAP_SIZE;
    unsigned max_readers = opt && opt->max_readers ? opt->max_readers : DEFAULT_MAX_READERS;

    if ((rc = mv_file_mkdir(dir, 0700)) != MV_OK)
        goto out;
    if ((rc = mv_path_join(path, sizeof path, dir, "lock")) != MV_OK)
        goto out;
    rc = MV_ERR_IO;
    if ((s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
        goto out;
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? MV_ERR_BUSY : MV_ERR_IO;
        goto out;
    }
    if ((rc = mv_path_join(path, sizeof path, dir, "index")) != MV_OK ||
        (rc = mv_file_mkdir(path, 0700)) != MV_OK ||
        (rc = mv_path_join(s->index_file, sizeof s->index_file, path, "data.mdb")) != MV_OK ||
        (rc = mv_index_lmdb_open(path, map_size, max_readers, &s->ix)) != MV_OK)
        goto out;
    /* Format 2's tables move first: recovery reads the packs from them. */
    if ((rc = fold(s, &format)) != MV_OK)
        goto out;
    if ((rc = mv_path_join(path, sizeof path, dir, "packs")) != MV_OK ||
        (rc = mv_file_mkdir(path, 0700)) != MV_OK ||
        (rc = mv_blob_file_open(path, &s->blob)) != MV_OK)
        goto out;
    if ((rc = recover(s)) != MV_OK)
        goto out;
    if ((rc = init_locks(s)) != MV_OK)
        goto out;
    if ((rc = migrate(s, format)) != MV_OK)
        goto out;
    *out = s;
    s = NULL;
out:
    mv_store_close(s);
    return rc;
}

/* ----------------------------------------------------------- put_blocks (group commit) ---- */

/* A block the group will write: the first accepted item naming a tag not stored yet. */
typedef struct new_block {
    const uint8_t *tag;
    const uint8_t *data;
    size_t len;
    uint32_t pack;
    uint64_t off;
} new_block;

static int cmp_new_block(const void *a, const void *b)
{
    return memcmp(((const new_block *)a)->tag, ((const new_block *)b)->tag, 32);
}

static const new_block *find_new_block(const new_block *v, size_t n, const uint8_t *tag)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(v[mid].tag, tag, 32);
        if (c == 0)
            return &v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Phase A, over a snapshot: per-request conflicts with the index, and the blocks to write. */
static mv_err group_check(mv_store *s, put_req *head, new_block *nb, size_t *nnb)
{
    mv_itxn *t = NULL;
    mv_err rc = IX(s)->begin(s->ix, 0, &t);
    if (rc != MV_OK)
        return rc;
    *nnb = 0;
    for (put_req *r = head; r; r = r->next) {
        size_t mark = *nnb;
        r->rc = MV_OK;
        for (size_t i = 0; i < r->n && r->rc == MV_OK; i++) {
            const mv_store_block_in *it = &r->in[i];
            uint8_t tag[32];
            mv_ix_block b;
            rc = IX(s)->token_get(t, it->dept, it->token, tag);
            if (rc == MV_OK && memcmp(tag, it->tag, 32) != 0)
                r->rc = MV_ERR_VERIFY; /* tokens are deterministic: a different tag is a lie */
            else if (rc != MV_OK && rc != MV_ERR_NOT_FOUND)
                goto out;
            if (r->rc != MV_OK)
                break;
            rc = IX(s)->block_get(t, it->tag, &b);
            if (rc == MV_OK)
                continue;
            if (rc != MV_ERR_NOT_FOUND)
                goto out;
            if (it->data) {
                nb[(*nnb)++] = (new_block){it->tag, it->data, it->len, 0, 0};
                continue;
            }
            /* A claim for a block that is not stored: fine only if this call uploads it. */
            r->rc = MV_ERR_NOT_FOUND;
            for (size_t j = 0; j < r->n; j++)
                if (r->in[j].data && memcmp(r->in[j].tag, it->tag, 32) == 0)
                    r->rc = MV_OK;
        }
        if (r->rc != MV_OK)
            *nnb = mark;
    }
    rc = MV_OK;
out:
    IX(s)->abort(t);
    return rc;
}

/* Phase C, for one accepted request inside the group's write transaction. */
static mv_err group_apply_req(mv_store *s, mv_itxn *t, put_req *r, const new_block *nb, size_t nnb,
                              wr *w, deltas *d, uint64_t now)
{
    mv_err rc;
    /* Tokens may conflict with an earlier request of this very group: check before writing. */
    for (size_t i = 0; i < r->n; i++) {
        uint8_t tag[32];
        rc = IX(s)->token_get(t, r->in[i].dept, r->in[i].token, tag);
        if (rc == MV_OK && memcmp(tag, r->in[i].tag, 32) != 0) {
            r->rc = MV_ERR_VERIFY;
            return MV_OK;
        }
        if (rc != MV_OK && rc != MV_ERR_NOT_FOUND)
            return rc;
    }
    /* Uploads first, so that claims of this call can name blocks it uploads. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < r->n; i++) {
            const mv_store_block_in *it = &r->in[i];
            mv_store_block_out *o = r->out ? &r->out[i] : NULL;
            mv_ix_block b;
            uint8_t tag[32];
            if ((pass == 0) != (it->data != NULL))
                continue;
            if (!delta_dept(d, it->dept)) /* every department that stores shows in stats */
                return MV_ERR_NOMEM;
            rc = IX(s)->block_get(t, it->tag, &b);
            if (rc == MV_ERR_NOT_FOUND && it->data) {
                const new_block *n = find_new_block(nb, nnb, it->tag);
                if (!n)
                    return MV_ERR_BAD_STATE; /* phase A queued every missing block */
                memset(&b, 0, sizeof b);
                b.pack = n->pack;
                b.off = n->off;
                b.len = (uint32_t)n->len;
                memcpy(b.dept, it->dept, strlen(it->dept) + 1);
                if ((rc = IX(s)->block_put(t, it->tag, &b)) != MV_OK)
                    return rc;
                wr_mark_live(w, n->pack, OVERHEAD + n->len);
                d->total.blocks++;
                d->total.block_bytes += n->len;
                if (o)
                    o->new_copy = 1;
            } else if (rc != MV_OK) {
                return rc == MV_ERR_NOT_FOUND ? MV_ERR_BAD_STATE : rc;
            }
            rc = IX(s)->token_get(t, it->dept, it->token, tag);
            if (rc == MV_ERR_NOT_FOUND) {
                if ((rc = IX(s)->token_put(t, it->dept, it->token, it->tag)) != MV_OK)
                    return rc;
                if (o)
                    o->new_token = 1;
            } else if (rc != MV_OK) {
                return rc;
            }
            if ((rc = IX(s)->claim_put(t, it->tag, it->claimant, now)) != MV_OK)
                return rc;
            if (!it->data) {
                mv_ix_stats *ds = delta_dept(d, it->dept);
                if (!ds)
                    return MV_ERR_NOMEM;
                ds->dedup_hits++;
            }
        }
    }
    return MV_OK;
}

/* The leader's work for the whole queue: one pack sync, one index transaction. Each request's
 * own result lands in its rc; a storage failure fails them all. */
static void group_commit(mv_store *s, put_req *head)
{
    new_block *nb = NULL;
    size_t nnb = 0, items = 0, batches = 0;
    wr w = {.s = s};
    deltas d = {0};
    mv_itxn *t = NULL;
    mv_err rc = MV_ERR_NOMEM;
    pthread_mutex_lock(&s->write_mu);
    for (put_req *r = head; r; r = r->next) {
        items += r->n;
        batches++;
    }
    if (!(nb = mv_mallocarray(items ? items : 1, sizeof *nb)))
        goto out;
    if ((rc = group_check(s, head, nb, &nnb)) != MV_OK)
        goto out;
    size_t accepted = 0;
    for (put_req *r = head; r; r = r->next)
        accepted += r->rc == MV_OK;
    if (accepted == 0)
        goto out; /* every call was refused on its own merits: nothing to write */
    /* Phase B: each missing tag once, then one sync per touched pack. */
    qsort(nb, nnb, sizeof *nb, cmp_new_block);
    size_t u = 0;
    for (size_t i = 0; i < nnb; i++)
        if (u == 0 || memcmp(nb[u - 1].tag, nb[i].tag, 32) != 0)
            nb[u++] = nb[i];
    nnb = u;
    for (size_t i = 0; i < nnb; i++)
        if ((rc = wr_add(&w, nb[i].tag, nb[i].data, nb[i].len, &nb[i].pack, &nb[i].off)) != MV_OK)
            goto out;
    if ((rc = wr_sync(&w)) != MV_OK)
        goto out;
    /* Phase C: the index transaction that makes it all visible. */
    if ((rc = IX(s)->begin(s->ix, 1, &t)) != MV_OK)
        goto out;
    uint64_t now = (uint64_t)time(NULL);
    for (put_req *r = head; r; r = r->next)
        if (r->rc == MV_OK && (rc = group_apply_req(s, t, r, nb, nnb, &w, &d, now)) != MV_OK)
            goto out;
    if ((rc = wr_apply(&w, t, &d)) != MV_OK || (rc = deltas_apply(s, t, &d)) != MV_OK)
        goto out;
    rc = IX(s)->commit(t);
    t = NULL;
    if (rc != MV_OK)
        goto out;
    wr_done(&w);
    atomic_fetch_add(&s->n_commits, 1);
    atomic_fetch_add(&s->n_batches, batches);
out:
    if (t)
        IX(s)->abort(t);
    if (rc != MV_OK) {
        wr_fail(&w);
        for (put_req *r = head; r; r = r->next)
            r->rc = rc;
    }
    pthread_mutex_unlock(&s->write_mu);
    for (put_req *r = head; r; r = r->next)
        if (r->rc != MV_OK && r->out)
            memset(r->out, 0, r->n * sizeof *r->out);
    wr_free(&w);
    deltas_free(&d);
    mv_free(nb);
}

static int cmp_token_item(const void *a, const void *b)
{
    const mv_store_block_in *x = *(const mv_store_block_in *const *)a;
    const mv_store_block_in *y = *(const mv_store_block_in *const *)b;
    int c = strcmp(x->dept, y->dept);
    return c ? c : memcmp(x->token, y->token, 32);
}

/* Everything that can be judged from the call alone, in the caller's thread (hashing in
 * parallel across callers rather than inside the leader). */
static mv_err validate_blocks(const mv_store_block_in *in, size_t n)
{
    const mv_store_block_in **by_token = NULL;
    mv_err rc = MV_ERR_INVAL;
    for (size_t i = 0; i < n; i++) {
        uint8_t h[32];
        if (!dept_ok(in[i].dept))
            return MV_ERR_INVAL;
        if (!in[i].data)
            continue;
        if (in[i].len > MV_STORE_MAX_BLOCK)
            return MV_ERR_TOO_LARGE;
        if (in[i].tag_checked)
            continue; /* the caller hashed these bytes (mv_store.h) */
        if ((rc = mv_sha256(h, in[i].data, in[i].len)) != MV_OK)
            return rc;
        if (memcmp(h, in[i].tag, 32) != 0)
            return MV_ERR_VERIFY;
    }
    if (n < 2)
        return MV_OK;
    if (!(by_token = mv_mallocarray(n, sizeof *by_token)))
        return MV_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        by_token[i] = &in[i];
    qsort(by_token, n, sizeof *by_token, cmp_token_item);
    rc = MV_OK;
    for (size_t i = 1; i < n; i++)
        if (cmp_token_item(&by_token[i - 1], &by_token[i]) == 0 &&
            memcmp(by_token[i - 1]->tag, by_token[i]->tag, 32) != 0)
            rc = MV_ERR_VERIFY;
    mv_free(by_token);
    return rc;
}

mv_err mv_store_put_blocks(mv_store *s, const mv_store_block_in *in, size_t n,
                           mv_store_block_out *out)
{
    put_req req = {in, n, out, MV_OK, 0, NULL};
    mv_err rc;
    if (!s || (n && !in))
        return MV_ERR_INVAL;
    if (out && n)
        memset(out, 0, n * sizeof *out);
    if (n == 0)
        return MV_OK;
    if ((rc = validate_blocks(in, n)) != MV_OK)
        return rc;
    pthread_mutex_lock(&s->q_mu);
    if (s->q_tail)
        s->q_tail->next = &req;
    else
        s->q_head = &req;
    s->q_tail = &req;
    while (!req.done) {
        if (!s->leader) {
            /* Lead: take the whole queue (ours included) and commit it as one group. */
            put_req *head = s->q_head;
            s->q_head = s->q_tail = NULL;
            s->leader = 1;
            pthread_mutex_unlock(&s->q_mu);
            group_commit(s, head);
            pthread_mutex_lock(&s->q_mu);
            for (put_req *r = head, *nx; r; r = nx) {
                nx = r->next; /* r belongs to its waiter once done is set */
                r->done = 1;
            }
            s->leader = 0;
            pthread_cond_broadcast(&s->q_cv);
        } else {
            pthread_cond_wait(&s->q_cv, &s->q_mu);
        }
    }
    pthread_mutex_unlock(&s->q_mu);
    return req.rc;
}

/* ----------------------------------------------------------------------- lookups ---- */

mv_err mv_store_token_lookup(mv_store *s, const char *dept, const uint8_t token[static 32],
                             uint8_t tag[static 32])
{
    mv_itxn *t = NULL;
    mv_err rc;
    if (!s || !token || !tag)
        return MV_ERR_INVAL;
    if (!dept_ok(dept))
        return MV_ERR_INVAL;
    if ((rc = IX(s)->begin(s->ix, 0, &t)) != MV_OK)
        return rc;
    rc = IX(s)->token_get(t, dept, token, tag);
    IX(s)->abort(t);
    return rc;
}

mv_err mv_store_block_info(mv_store *s, const uint8_t tag[static 32], uint64_t *len,
                           uint64_t *refs)
{
    mv_itxn *t = NULL;
    mv_ix_block b;
    mv_err rc;
    if (!s || !tag)
        return MV_ERR_INVAL;
    if ((rc = IX(s)->begin(s->ix, 0, &t)) != MV_OK)
        return rc;
    rc = IX(s)->block_get(t, tag, &b);
    IX(s)->abort(t);
    if (rc != MV_OK)
        return rc;
    if (len)
        *len = b.len;
    if (refs)
        *refs = b.refs;
    return MV_OK;
}

/* Appends block tag to out; verify: check that its bytes hash to tag (and that the pack
 * entry names it) before they are kept. */
static mv_err block_read(mv_store *s, const uint8_t tag[static 32], mv_buf *out, int verify)
{
    mv_itxn *t = NULL;
    mv_ix_block b;
    uint8_t ftag[32], h[32];
    mv_err rc;
    if (!s || !tag || !out)
        return MV_ERR_INVAL;
    size_t old = out->len;
    /* Shared lock from lookup to read: gc unlinks a pack only after repointing its blocks,
     * and only under the exclusive lock, so the location we look up stays readable. */
    pthread_rwlock_rdlock(&s->pack_rw);
    if ((rc = IX(s)->begin(s->ix, 0, &t)) == MV_OK) {
        rc = IX(s)->block_get(t, tag, &b);
        IX(s)->abort(t);
    }
    if (rc == MV_OK) {
        rc = BLOB(s)->read(s->blob, b.pack, b.off, b.len, ftag, out);
        if (rc == MV_ERR_NOT_FOUND)
            rc = MV_ERR_IO; /* the index names a pack that is gone */
    }
    pthread_rwlock_unlock(&s->pack_rw);
    if (rc != MV_OK)
        return rc;
    if (memcmp(ftag, tag, 32) != 0)
        rc = MV_ERR_VERIFY; /* the entry there is another block's */
    else if (verify && (rc = mv_sha256(h, out->ptr + old, b.len)) == MV_OK && memcmp(h, tag, 32) != 0)
        rc = MV_ERR_VERIFY;
    if (rc != MV_OK) {
        mv_wipe(out->ptr + old, b.len);
        out->len = old;
        out->ptr[old] = 0;
    }
    return rc;
}

mv_err mv_store_block_read(mv_store *s, const uint8_t tag[static 32], mv_buf *out)
{
    return block_read(s, tag, out, 1);
}

mv_err mv_store_block_read_unverified(mv_store *s, const uint8_t tag[static 32], mv_buf *out)
{
    return block_read(s, tag, out, 0);
}

/* ----------------------------------------------------------------------- records ---- */

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
static const uint8_t seg_magic[SEG_HDR] = {'M', 'V', 'S', SEG_VERSION};

static int seg_hdr_ok(const uint8_t *d, size_t len)
{
    return len >= SEG_HDR && memcmp(d, seg_magic, 3) == 0 && (d[3] == 1 || d[3] == 2);
}


/* Bytes of a record's ids: n varints at p[0..len); 0 when they do not parse. */
static size_t refs_len(const uint8_t *p, size_t len, uint64_t n)
{
    size_t pos = 0;
    uint64_t id;
    for (uint64_t i = 0; i < n; i++)
        if (!mv_varint_get(p, len, &pos, &id))
            return 0;
    return pos;
}

static int cmp_tag(const void *a, const void *b) { return memcmp(a, b, 32); }

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* The access set of a record: owner first, then the patient (unless all zero), then the
 * other readers in the order given, without duplicates. The order is kept (not sorted)
 * because callers see readers in the order they gave them; a client lists one reader set
 * the same way every time, so equal access still gives equal sets. */
static mv_err make_set(const uint8_t *owner, const uint8_t *patient, const uint8_t *episode,
                       const char *dept, const uint8_t *readers, size_t n, mv_ix_set *st)
{
    size_t k = 1;
    if (n && !readers)
        return MV_ERR_INVAL;
    memset(st, 0, sizeof *st);
    memcpy(st->owner, owner, 32);
    memcpy(st->patient, patient, 32);
    memcpy(st->episode, episode, 16);
    memcpy(st->dept, dept, strlen(dept) + 1);
    memcpy(st->readers[0], owner, 32);
    if (!all_zero(patient, 32) && memcmp(patient, owner, 32) != 0)
        memcpy(st->readers[k++], patient, 32);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = readers + 32 * i;
        size_t j = 0;
        while (j < k && memcmp(st->readers[j], r, 32) != 0)
            j++;
        if (j < k)
            continue;
        if (k == MV_STORE_MAX_READERS)
            return MV_ERR_INVAL;
        memcpy(st->readers[k++], r, 32);
    }
    st->n_readers = k;
    return MV_OK;
}

/* The set with st's content, found or interned. Sets are never rewritten: one that no
 * record names any more stays until gc drops it. */
static mv_err set_acquire(mv_store *s, mv_itxn *t, mv_ix_set *st, uint32_t *id)
{
    mv_err rc = IX(s)->set_find(t, st, id);
    if (rc != MV_ERR_NOT_FOUND)
        return rc;
    if ((rc = IX(s)->set_next_id(t, id)) != MV_OK)
        return rc;
    return IX(s)->set_put(t, *id, st);
}

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

static mv_err sb_member(seg_build *b, const uint8_t *id, const mv_ix_record *rec)
{
    mv_err rc = mv_array_grow(&b->m, &b->capm, b->nm, sizeof *b->m, 64);
    if (rc != MV_OK)
        return rc;
    seg_member *e = &b->m[b->nm++];
    e->seg = rec->seg;
    e->set = rec->set;
    memcpy(e->id, id, 16);
    e->rec = *rec;
    return MV_OK;
}

static int cmp_member_id(const void *a, const void *b)
{
    return memcmp(((const seg_member *)a)->id, ((const seg_member *)b)->id, 16);
}

static int cmp_member(const void *a, const void *b)
{
    const seg_member *x = a, *y = b;
    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    if (x->set != y->set)
        return x->set < y->set ? -1 : 1;
    return memcmp(x->id, y->id, 16);
}

/* Writes the new records in id order (ids drawn in one millisecond differ only in random
 * bits: sorted, they still append to the index), then their seg_sets entries: each
 * (segment, set) once, in key order. */
static mv_err sb_index(mv_store *s, seg_build *b, mv_itxn *t)
{
    uint8_t *ids = NULL;
    mv_err rc = MV_OK;
    if (b->nm == 0)
        return MV_OK;
    qsort(b->m, b->nm, sizeof *b->m, cmp_member_id);
    for (size_t i = 0; i < b->nm; i++)
        if ((rc = IX(s)->record_add(t, b->m[i].id, &b->m[i].rec)) != MV_OK)
            return rc;
    qsort(b->m, b->nm, sizeof *b->m, cmp_member);
    if (!(ids = mv_mallocarray(b->nm, 16)))
        return MV_ERR_NOMEM;
    for (size_t i = 0; rc == MV_OK && i < b->nm;) {
        size_t j = i;
        for (; j < b->nm && b->m[j].seg == b->m[i].seg && b->m[j].set == b->m[i].set; j++)
            memcpy(ids + 16 * (j - i), b->m[j].id, 16);
        rc = IX(s)->segset_add(t, b->m[i].seg, b->m[i].set, ids, j - i);
        i = j;
    }
    mv_free(ids);
    return rc;
}

/* Appends a record's envelope and its blocks' ids (refs, refs_len bytes of varints); *seg and
 * *off say where they went. */
static mv_err sb_add(seg_build *b, const uint8_t *refs, size_t refs_len, const uint8_t *env,
                     size_t env_len, uint64_t *seg, uint64_t *off)
{
    size_t need = refs_len + env_len;
    mv_err rc;
    if (b->n == 0 || b->v[b->n - 1].buf.len + need > SEG_MAX) {
        if ((rc = mv_array_grow(&b->v, &b->cap, b->n, sizeof *b->v, 2)) != MV_OK)
            return rc;
        seg_out *o = &b->v[b->n++];
        o->records = 0;
        mv_buf_init(&o->buf, SEG_MAX);
        if ((rc = mv_buf_append(&o->buf, seg_magic, SEG_HDR)) != MV_OK)
            return rc;
    }
    seg_out *cur = &b->v[b->n - 1];
    *seg = b->base + b->n - 1;
    *off = cur->buf.len;
    if ((env_len && (rc = mv_buf_append(&cur->buf, env, env_len)) != MV_OK) ||
        (refs_len && (rc = mv_buf_append(&cur->buf, refs, refs_len)) != MV_OK))
        return rc;
    cur->records++;
    return MV_OK;
}

/* Writes every built segment to the packs and syncs them; then, in t, records them. */
static mv_err sb_write(mv_store *s, seg_build *b, wr *w, mv_itxn *t)
{
    uint8_t(*tags)[32] = NULL;
    uint32_t *packs = NULL;
    uint64_t *offs = NULL;
    mv_err rc = MV_ERR_NOMEM;
    if (b->n == 0)
        return MV_OK;
    if (!(tags = mv_mallocarray(b->n, 32)) || !(packs = mv_mallocarray(b->n, sizeof *packs)) ||
        !(offs = mv_mallocarray(b->n, sizeof *offs)))
        goto out;
    for (size_t i = 0; i < b->n; i++) {
        const mv_buf *d = &b->v[i].buf;
        if ((rc = mv_sha256(tags[i], d->ptr, d->len)) != MV_OK ||
            (rc = wr_add(w, tags[i], d->ptr, d->len, &packs[i], &offs[i])) != MV_OK)
            goto out;
    }
    if ((rc = wr_sync(w)) != MV_OK)
        goto out;
    for (size_t i = 0; i < b->n; i++) {
        const mv_buf *d = &b->v[i].buf;
        mv_ix_seg g = {packs[i], offs[i], (uint32_t)d->len, b->v[i].records, d->len - SEG_HDR};
        if ((rc = IX(s)->seg_put(t, b->base + i, &g)) != MV_OK)
            goto out;
        wr_mark_live(w, packs[i], OVERHEAD + d->len);
    }
    rc = MV_OK;
out:
    mv_free(tags);
    mv_free(packs);
    mv_free(offs);
    return rc;
}

static void sb_free(seg_build *b)
{
    for (size_t i = 0; i < b->n; i++)
        mv_buf_clear(&b->v[i].buf);
    mv_free(b->v);
    mv_free(b->m);
}

/* A record's bytes leave segment seg (they stay in the pack as dead bytes until gc). */
static mv_err seg_drop(mv_store *s, mv_itxn *t, uint64_t seg, uint64_t bytes)
{
    mv_ix_seg g;
    mv_ix_pack p;
    uint64_t dead = bytes;
    int gone = 0;
    mv_err rc = IX(s)->seg_get(t, seg, &g);
    if (rc == MV_ERR_NOT_FOUND)
        return MV_OK; /* already inconsistent; mv_store_check reports it */
    if (rc != MV_OK)
        return rc;
    g.live_bytes -= g.live_bytes >= bytes ? bytes : g.live_bytes;
    if (g.live_records > 1) {
        g.live_records--;
        rc = IX(s)->seg_put(t, seg, &g);
    } else {
        dead = SEG_OVERHEAD + g.live_bytes + bytes; /* the whole entry is dead now */
        gone = 1;
        rc = IX(s)->seg_del(t, seg);
    }
    if (rc != MV_OK)
        return rc;
    if ((rc = IX(s)->pack_get(t, g.pack, &p)) == MV_ERR_NOT_FOUND)
        return MV_OK;
    if (rc != MV_OK)
        return rc;
    p.live_bytes -= p.live_bytes >= dead ? dead : p.live_bytes;
    if (gone)
        p.live_entries -= p.live_entries ? 1 : 0;
    return IX(s)->pack_put(t, g.pack, &p);
}

/* Reads len bytes at offset at of segment seg's data into out (appending). */
static mv_err seg_read(mv_store *s, mv_itxn *t, uint64_t seg, uint64_t at, size_t len, mv_buf *out)
{
    mv_ix_seg g;
    mv_err rc = IX(s)->seg_get(t, seg, &g);
    if (rc != MV_OK)
        return rc == MV_ERR_NOT_FOUND ? MV_ERR_PARSE : rc;
    if (at < SEG_HDR || at > g.len || len > g.len - at)
        return MV_ERR_PARSE;
    rc = BLOB(s)->read_range(s->blob, g.pack, g.off, at, len, out);
    return rc == MV_ERR_NOT_FOUND ? MV_ERR_IO : rc; /* the index names a pack that is gone */
}

/* The record's tags, copied to a new array (*tags NULL when it has none), and the bytes it
 * takes in its segment (*span, may be NULL). A block id that maps to no tag (an inconsistent
 * index, which mv_store_check reports) gives an all-zero tag, which names no block. */
static mv_err read_refs(mv_store *s, mv_itxn *t, const mv_ix_record *r, uint8_t **tags,
                        uint64_t *span)
{
    mv_ix_seg g;
    mv_buf b;
    uint64_t sp;
    mv_err rc;
    *tags = NULL;
    if (r->n_tags > MV_STORE_MAX_TAGS || r->envelope_len > MV_STORE_MAX_ENVELOPE)
        return MV_ERR_PARSE;
    if (!r->ids) {
        sp = 32 * r->n_tags + r->envelope_len;
        if (r->n_tags) {
            mv_buf_init(&b, 32 * MV_STORE_MAX_TAGS);
            if ((rc = seg_read(s, t, r->seg, r->off, 32 * r->n_tags, &b)) != MV_OK) {
                mv_buf_clear(&b);
                return rc;
            }
            *tags = b.ptr; /* the buffer's memory is the array (mv_free releases it) */
        }
        if (span)
            *span = sp;
        return MV_OK;
    }
    if (r->n_tags == 0) {
        if (span)
            *span = r->envelope_len;
        return MV_OK;
    }
    if ((rc = IX(s)->seg_get(t, r->seg, &g)) != MV_OK)
        return rc == MV_ERR_NOT_FOUND ? MV_ERR_PARSE : rc;
    uint64_t at = r->off + r->envelope_len;
    if (r->off < SEG_HDR || r->off > g.len || r->envelope_len > g.len - r->off)
        return MV_ERR_PARSE;
    size_t want = (size_t)(REF_MAX * r->n_tags < g.len - at ? REF_MAX * r->n_tags : g.len - at);
    uint8_t *out = NULL;
    mv_buf_init(&b, REF_MAX * MV_STORE_MAX_TAGS);
    if ((rc = seg_read(s, t, r->seg, at, want, &b)) != MV_OK)
        goto out;
    rc = MV_ERR_NOMEM;
    if (!(out = mv_mallocarray((size_t)r->n_tags, 32)))
        goto out;
    size_t pos = 0;
    for (size_t i = 0; i < r->n_tags; i++) {
        uint64_t id;
        rc = MV_ERR_PARSE;
        if (!mv_varint_get(b.ptr, b.len, &pos, &id))
            goto out;
        rc = IX(s)->block_id_tag(t, id, out + 32 * i);
        if (rc == MV_ERR_NOT_FOUND)
            memset(out + 32 * i, 0, 32);
        else if (rc != MV_OK)
            goto out;
    }
    if (span)
        *span = r->envelope_len + pos;
    *tags = out;
    out = NULL;
    rc = MV_OK;
out:
    mv_free(out);
    mv_buf_clear(&b);
    return rc;
}

/* The ids of blocks tags[0..n) as varints into refs (room for REF_MAX * n), *len bytes;
 * a block without an id gets one (its entry is rewritten in t). A tag the index does not
 * hold (an inconsistent one being carried over) gets id 0, which names no block. */
static mv_err block_refs(mv_store *s, mv_itxn *t, const uint8_t *tags, size_t n, uint8_t *refs,
                         size_t *len)
{
    *len = 0;
    for (size_t i = 0; i < n; i++) {
        mv_ix_block b;
        mv_err rc = IX(s)->block_get(t, tags + 32 * i, &b);
        if (rc == MV_ERR_NOT_FOUND) {
            b.id = 0;
        } else if (rc != MV_OK) {
            return rc;
        } else if (b.id == 0) {
            if ((rc = IX(s)->block_id_new(t, tags + 32 * i, &b.id)) != MV_OK ||
                (rc = IX(s)->block_put(t, tags + 32 * i, &b)) != MV_OK)
                return rc;
        }
        *len += mv_varint_put(refs + *len, b.id);
    }
    return MV_OK;
}

static int claim_live(uint64_t at, uint64_t now, uint64_t ttl)
{
    return now <= at || now - at <= ttl;
}

/* Judges and (if acceptable) applies one record inside transaction t, its bytes going to
 * the segments of sb. *verdict gets the per-record result; the return value is a storage
 * error that aborts the batch. */
static mv_err put_one_record(mv_store *s, mv_itxn *t, const mv_store_record_in *r, uint64_t now,
                             deltas *d, seg_build *sb, mv_err *verdict)
{
    mv_ix_set *st = NULL;
    uint8_t *sorted = NULL, *refs = NULL;
    size_t nrefs = 0;
    uint64_t logical = r->envelope_len;
    mv_ix_record rec, existing;
    mv_ix_block b;
    mv_err rc = MV_OK;
    *verdict = MV_ERR_INVAL;
    if (!dept_ok(r->dept) || r->envelope_len > MV_STORE_MAX_ENVELOPE ||
        (r->envelope_len && !r->envelope) || r->n_tags > MV_STORE_MAX_TAGS ||
        (r->n_tags && !r->tags))
        return MV_OK;
    if (all_zero(r->patient, 32) && !all_zero(r->episode, 16))
        return MV_OK;
    if (!(st = mv_malloc(sizeof *st)))
        return MV_ERR_NOMEM;
    if (make_set(r->owner, r->patient, r->episode, r->dept, r->readers, r->n_readers, st) != MV_OK)
        goto out;
    if (r->n_tags) {
        rc = MV_ERR_NOMEM;
        if (!(sorted = mv_mallocarray(r->n_tags, 32)))
            goto out;
        rc = MV_OK;
        memcpy(sorted, r->tags, 32 * r->n_tags);
        qsort(sorted, r->n_tags, 32, cmp_tag);
        for (size_t i = 1; i < r->n_tags; i++)
            if (memcmp(sorted + 32 * (i - 1), sorted + 32 * i, 32) == 0)
                goto out; /* INVAL */
    }
    rc = IX(s)->record_get(t, r->id, &existing);
    if (rc == MV_OK) {
        *verdict = MV_ERR_EXISTS;
        goto out;
    }
    if (rc != MV_ERR_NOT_FOUND)
        goto out;
    for (size_t i = 0; i < r->n_tags; i++) {
        if ((rc = IX(s)->block_get(t, r->tags + 32 * i, &b)) == MV_ERR_NOT_FOUND) {
            *verdict = MV_ERR_NOT_FOUND;
            rc = MV_OK;
            goto out;
        }
        if (rc != MV_OK)
            goto out;
        logical += b.len;
    }
    for (size_t i = 0; i < r->n_tags; i++) {
        uint64_t at = 0;
        rc = IX(s)->claim_get(t, r->tags + 32 * i, r->owner, &at);
        if (rc == MV_ERR_NOT_FOUND || (rc == MV_OK && !claim_live(at, now, s->claim_ttl))) {
            *verdict = MV_ERR_FORBIDDEN;
            rc = MV_OK;
            goto out;
        }
        if (rc != MV_OK)
            goto out;
    }
    mv_ix_stats *ds = delta_dept(d, r->dept);
    rc = MV_ERR_NOMEM;
    if (!ds || (r->n_tags && !(refs = mv_mallocarray(r->n_tags, REF_MAX))))
        goto out;
    for (size_t i = 0; i < r->n_tags; i++) {
        if ((rc = IX(s)->block_get(t, r->tags + 32 * i, &b)) != MV_OK)
            goto out;
        if (b.refs++ == 0) {
            mv_ix_stats *fs = delta_dept(d, b.dept);
            if (!fs)
                goto nomem;
            fs->physical += b.len;
            d->total.physical += b.len;
        }
        /* The first record naming a block gives it its id. */
        if (b.id == 0 && (rc = IX(s)->block_id_new(t, r->tags + 32 * i, &b.id)) != MV_OK)
            goto out;
        nrefs += mv_varint_put(refs + nrefs, b.id);
        if ((rc = IX(s)->block_put(t, r->tags + 32 * i, &b)) != MV_OK)
            goto out;
    }
    ds = delta_dept(d, r->dept); /* the array may have moved */
    if (!ds)
        goto nomem;
    memset(&rec, 0, sizeof rec);
    if ((rc = set_acquire(s, t, st, &rec.set)) != MV_OK ||
        (rc = sb_add(sb, refs, nrefs, r->envelope, r->envelope_len, &rec.seg, &rec.off)) != MV_OK)
        goto out;
    rec.ids = 1;
    rec.created = now;
    rec.logical = logical;
    rec.n_tags = r->n_tags;
    rec.envelope_len = r->envelope_len;
    if ((rc = sb_member(sb, r->id, &rec)) != MV_OK) /* written by sb_index */
        goto out;
    ds->records++;
    ds->logical += logical;
    ds->physical += r->envelope_len;
    d->total.records++;
    d->total.envelope_bytes += r->envelope_len;
    d->total.logical += logical;
    d->total.physical += r->envelope_len;
    *verdict = MV_OK;
    rc = MV_OK;
    goto out;
nomem:
    rc = MV_ERR_NOMEM;
out:
    mv_free(sorted);
    mv_free(refs);
    mv_free(st);
    return rc;
}

/* By id, then by position (pointers into one array), so the first of equal ids sorts first. */
static int cmp_rec_in(const void *a, const void *b)
{
    const mv_store_record_in *x = *(const mv_store_record_in *const *)a;
    const mv_store_record_in *y = *(const mv_store_record_in *const *)b;
    int c = memcmp(x->id, y->id, 16);
    return c ? c : (x < y ? -1 : x > y);
}

mv_err mv_store_put_records(mv_store *s, const mv_store_record_in *in, size_t n, mv_err *results,
                            uint64_t now)
{
    const mv_store_record_in **order = NULL;
    mv_itxn *t = NULL;
    deltas d = {0};
    seg_build sb = {0};
    wr w = {.s = s};
    int committed = 0;
    mv_err rc;
    if (!s || (n && (!in || !results)))
        return MV_ERR_INVAL;
    if (n == 0)
        return MV_OK;
    /* The pack writer: envelopes go to the packs as blocks do. */
    pthread_mutex_lock(&s->write_mu);
    if ((rc = IX(s)->begin(s->ix, 1, &t)) != MV_OK)
        goto out;
    if ((rc = IX(s)->seg_next_id(t, &sb.base)) != MV_OK)
        goto out;
    /* Records reach the index at the end, sorted: an id repeated in the batch is judged here
     * (the first one stands, the later ones EXISTS, as if stored one by one). */
    rc = MV_ERR_NOMEM;
    if (!(order = mv_mallocarray(n, sizeof *order)))
        goto out;
    for (size_t i = 0; i < n; i++)
        order[i] = &in[i];
    qsort(order, n, sizeof *order, cmp_rec_in);
    for (size_t i = 0; i < n; i++)
        results[i] = MV_OK;
    for (size_t i = 1; i < n; i++)
        if (memcmp(order[i - 1]->id, order[i]->id, 16) == 0)
            results[order[i] - in] = MV_ERR_EXISTS;
    for (size_t i = 0; i < n; i++)
        if (results[i] == MV_OK &&
            (rc = put_one_record(s, t, &in[i], now, &d, &sb, &results[i])) != MV_OK)
            goto out;
    rc = MV_OK;
    /* The segments are durable before the transaction naming them commits. */
    if ((rc = sb_index(s, &sb, t)) != MV_OK || (rc = sb_write(s, &sb, &w, t)) != MV_OK ||
        (rc = wr_apply(&w, t, &d)) != MV_OK ||
        (rc = deltas_apply(s, t, &d)) != MV_OK)
        goto out;
    rc = IX(s)->commit(t);
    t = NULL;
    if (rc != MV_OK)
        goto out;
    committed = 1;
    wr_done(&w);
out:
    if (t)
        IX(s)->abort(t);
    if (!committed)
        wr_fail(&w);
    pthread_mutex_unlock(&s->write_mu);
    mv_free(order);
    sb_free(&sb);
    wr_free(&w);
    deltas_free(&d);
    return rc;
}

static void fill_info(mv_store_record_info *info, const uint8_t *id, const mv_ix_record *r,
                      const mv_ix_set *st)
{
    memset(info, 0, sizeof *info);
    memcpy(info->id, id, 16);
    memcpy(info->owner, st->owner, 32);
    memcpy(info->dept, st->dept, sizeof info->dept);
    memcpy(info->patient, st->patient, 32);
    memcpy(info->episode, st->episode, 16);
    info->n_readers = st->n_readers;
    memcpy(info->readers, st->readers, 32 * st->n_readers);
    info->n_tags = (size_t)r->n_tags;
    info->created = r->created;
    info->envelope_len = r->envelope_len;
    info->logical_bytes = r->logical;
}

mv_err mv_store_record_get(mv_store *s, const uint8_t id[static 16], mv_store_record_info *info,
                           mv_buf *envelope)
{
    mv_itxn *t = NULL;
    mv_ix_record r;
    mv_ix_set *st = NULL;
    mv_err rc;
    if (!s || !id || !info)
        return MV_ERR_INVAL;
    if (!(st = mv_malloc(sizeof *st)))
        return MV_ERR_NOMEM;
    /* Shared lock from lookup to read: gc unlinks a pack only after repointing what it
     * held, and only under the exclusive lock. */
    pthread_rwlock_rdlock(&s->pack_rw);
    if ((rc = IX(s)->begin(s->ix, 0, &t)) != MV_OK)
        goto out;
    if ((rc = IX(s)->record_get(t, id, &r)) != MV_OK)
        goto out;
    if ((rc = IX(s)->set_get(t, r.set, st)) != MV_OK) {
        rc = rc == MV_ERR_NOT_FOUND ? MV_ERR_PARSE : rc;
        goto out;
    }
    if (envelope) {
        if (r.envelope_len > MV_STORE_MAX_ENVELOPE || r.n_tags > MV_STORE_MAX_TAGS) {
            rc = MV_ERR_PARSE;
            goto out;
        }
        uint64_t at = r.ids ? r.off : r.off + 32 * r.n_tags;
        if ((rc = seg_read(s, t, r.seg, at, (size_t)r.envelope_len, envelope)) != MV_OK)
            goto out;
    }
    fill_info(info, id, &r, st);
out:
    if (t)
        IX(s)->abort(t);
    pthread_rwlock_unlock(&s->pack_rw);
    mv_free(st);
    return rc;
}

mv_err mv_store_record_tags(mv_store *s, const uint8_t id[static 16], uint8_t *tags, size_t cap,
                            size_t *n)
{
    mv_itxn *t = NULL;
    mv_ix_record r;
    uint8_t *all = NULL;
    mv_err rc;
    if (!s || !id || !n || (cap && !tags))
        return MV_ERR_INVAL;
    pthread_rwlock_rdlock(&s->pack_rw);
    if ((rc = IX(s)->begin(s->ix, 0, &t)) != MV_OK)
        goto out;
    if ((rc = IX(s)->record_get(t, id, &r)) != MV_OK)
        goto out;
    size_t k = r.n_tags < cap ? (size_t)r.n_tags : cap;
    if (k && (rc = read_refs(s, t, &r, &all, NULL)) != MV_OK)
        goto out;
    if (k)
        memcpy(tags, all, 32 * k);
    *n = (size_t)r.n_tags;
    if (cap < r.n_tags)
        rc = MV_ERR_TOO_LARGE;
out:
    if (t)
        IX(s)->abort(t);
    pthread_rwlock_unlock(&s->pack_rw);
    mv_free(all);
    return rc;
}

/* The sets a listing meets, sorted by id (a reader's few, or every set for a full listing). */
typedef struct set_cache {
    uint32_t *ids;
    mv_ix_set **sets;
    size_t n, cap;
} set_cache;

static const mv_ix_set *sc_get(mv_store *s, mv_itxn *t, set_cache *c, uint32_t id, mv_err *rc)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->ids[mid] == id)
            return c->sets[mid];
        if (c->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (c->n == c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 8;
        uint32_t *ni = mv_mallocarray(nc, sizeof *ni);
        mv_ix_set **ns = mv_mallocarray(nc, sizeof *ns);
        if (!ni || !ns) {
            mv_free(ni);
            mv_free(ns);
            *rc = MV_ERR_NOMEM;
            return NULL;
        }
        if (c->n) {
            memcpy(ni, c->ids, c->n * sizeof *ni);
            memcpy(ns, c->sets, c->n * sizeof *ns);
        }
        mv_free(c->ids);
        mv_free(c->sets);
        c->ids = ni;
        c->sets = ns;
        c->cap = nc;
    }
    mv_ix_set *st = mv_malloc(sizeof *st);
    if (!st) {
        *rc = MV_ERR_NOMEM;
        return NULL;
    }
    if ((*rc = IX(s)->set_get(t, id, st)) != MV_OK) {
        mv_free(st);
        if (*rc == MV_ERR_NOT_FOUND)
            *rc = MV_ERR_PARSE;
        return NULL;
    }
    memmove(c->ids + lo + 1, c->ids + lo, (c->n - lo) * sizeof *c->ids);
    memmove(c->sets + lo + 1, c->sets + lo, (c->n - lo) * sizeof *c->sets);
    c->ids[lo] = id;
    c->sets[lo] = st;
    c->n++;
    return st;
}

static void sc_free(set_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        mv_free(c->sets[i]);
    mv_free(c->ids);
    mv_free(c->sets);
}

typedef struct list_ctx {
    mv_store *s;
    mv_itxn *t;
    mv_store_record_fn fn;
    void *ctx;
    set_cache sc;
    uint32_t *sets; /* the reader's sets */
    size_t n_sets, cap_sets;
    uint8_t (*ids)[16]; /* their records */
    size_t n_ids, cap_ids;
    mv_store_record_info info;
} list_ctx;

static mv_err list_cb(void *ctx, const uint8_t *id, const mv_ix_record *r)
{
    list_ctx *l = ctx;
    mv_err rc = MV_OK;
    const mv_ix_set *st = sc_get(l->s, l->t, &l->sc, r->set, &rc);
    if (!st)
        return rc;
    fill_info(&l->info, id, r, st);
    return l->fn(l->ctx, &l->info);
}

static mv_err list_set_cb(void *ctx, const uint8_t *reader, uint32_t set)
{
    list_ctx *l = ctx;
    (void)reader;
    mv_err rc = mv_array_grow(&l->sets, &l->cap_sets, l->n_sets, sizeof *l->sets, 8);
    if (rc == MV_OK)
        l->sets[l->n_sets++] = set;
    return rc;
}

static mv_err list_id_cb(void *ctx, uint32_t set, const uint8_t *id)
{
    list_ctx *l = ctx;
    (void)set;
    mv_err rc = mv_array_grow(&l->ids, &l->cap_ids, l->n_ids, sizeof *l->ids, 64);
    if (rc == MV_OK)
        memcpy(l->ids[l->n_ids++], id, 16);
    return rc;
}

static int cmp_id(const void *a, const void *b) { return memcmp(a, b, 16); }

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* A reader's records: reader -> its sets -> their records, then in id order. */
static mv_err list_reader(list_ctx *l, const uint8_t *reader)
{
    mv_err rc = IX(l->s)->set_reader_iter(l->t, reader, list_set_cb, l);
    if (rc != MV_OK || l->n_sets == 0)
        return rc;
    qsort(l->sets, l->n_sets, sizeof *l->sets, cmp_u32);
    if ((rc = IX(l->s)->set_record_iter(l->t, l->sets, l->n_sets, list_id_cb, l)) != MV_OK)
        return rc;
    if (l->n_ids)
        qsort(l->ids, l->n_ids, 16, cmp_id);
    for (size_t i = 0; rc == MV_OK && i < l->n_ids; i++) {
        mv_ix_record r;
        if ((rc = IX(l->s)->record_get(l->t, l->ids[i], &r)) != MV_OK)
            return rc == MV_ERR_NOT_FOUND ? MV_ERR_PARSE : rc;
        rc = list_cb(l, l->ids[i], &r);
    }
    return rc;
}

mv_err mv_store_record_list(mv_store *s, const uint8_t *reader, mv_store_record_fn fn, void *ctx)
{
    list_ctx *l = NULL;
    mv_err rc;
    if (!s || !fn)
        return MV_ERR_INVAL;
    if (!(l = mv_calloc(1, sizeof *l)))
        return MV_ERR_NOMEM;
    l->s = s;
    l->fn = fn;
    l->ctx = ctx;
    if ((rc = IX(s)->begin(s->ix, 0, &l->t)) == MV_OK) {
        rc = reader ? list_reader(l, reader) : IX(s)->record_iter(l->t, list_cb, l);
        IX(s)->abort(l->t);
    }
    sc_free(&l->sc);
    mv_free(l->sets);
    mv_free(l->ids);
    mv_free(l);
    return rc;
}

mv_err mv_store_record_delete(mv_store *s, const uint8_t id[static 16])
{
    mv_itxn *t = NULL;
    mv_ix_record r;
    mv_ix_set *st = NULL;
    uint8_t *tags = NULL;
    deltas d = {0};
    mv_err rc;
    if (!s || !id)
        return MV_ERR_INVAL;
    if (!(st = mv_malloc(sizeof *st)))
        return MV_ERR_NOMEM;
    /* The pack writer's lock: gc moves segments only under it. */
    pthread_mutex_lock(&s->write_mu);
    if ((rc = IX(s)->begin(s->ix, 1, &t)) != MV_OK)
        goto out;
    if ((rc = IX(s)->record_get(t, id, &r)) != MV_OK)
        goto out;
    if ((rc = IX(s)->set_get(t, r.set, st)) != MV_OK) {
        rc = rc == MV_ERR_NOT_FOUND ? MV_ERR_PARSE : rc;
        goto out;
    }
    /* The blocks are named next to the envelope: read them back to drop the references. */
    uint64_t span = 0;
    if ((rc = read_refs(s, t, &r, &tags, &span)) != MV_OK)
        goto out;
    if ((rc = IX(s)->record_del(t, id)) != MV_OK || (rc = seg_drop(s, t, r.seg, span)) != MV_OK)
        goto out;
    for (size_t i = 0; i < r.n_tags; i++) {
        mv_ix_block b;
        rc = IX(s)->block_get(t, tags + 32 * i, &b);
        if (rc == MV_ERR_NOT_FOUND)
            continue; /* already inconsistent; mv_store_check reports it */
        if (rc != MV_OK)
            goto out;
        if (b.refs == 0)
            continue; /* likewise: never wrap below zero */
        if (--b.refs == 0) {
            mv_ix_stats *fs = delta_dept(&d, b.dept);
            rc = MV_ERR_NOMEM;
            if (!fs)
                goto out;
            fs->physical -= b.len;
            d.total.physical -= b.len;
        }
        if ((rc = IX(s)->block_put(t, tags + 32 * i, &b)) != MV_OK)
            goto out;
    }
    mv_ix_stats *ds = delta_dept(&d, st->dept);
    rc = MV_ERR_NOMEM;
    if (!ds)
        goto out;
    ds->records--;
    ds->logical -= r.logical;
    ds->physical -= r.envelope_len;
    d.total.records--;
    d.total.envelope_bytes -= r.envelope_len;
    d.total.logical -= r.logical;
    d.total.physical -= r.envelope_len;
    if ((rc = deltas_apply(s, t, &d)) != MV_OK)
        goto out;
    rc = IX(s)->commit(t);
    t = NULL;
out:
    if (t)
        IX(s)->abort(t);
    pthread_mutex_unlock(&s->write_mu);
    mv_free(tags);
    mv_free(st);
    deltas_free(&d);
    return rc;
}

mv_err mv_store_record_set_readers(mv_store *s, const uint8_t id[static 16], const uint8_t *readers,
                                   size_t n, const uint8_t *envelope, size_t envelope_len)
{
    return mv_store_record_set_access(s, id, NULL, readers, n, envelope, envelope_len);
}

mv_err mv_store_record_set_access(mv_store *s, const uint8_t id[static 16], const uint8_t *patient,
                                  const uint8_t *readers, size_t n, const uint8_t *envelope, size_t envelope_len)
{
    mv_itxn *t = NULL;
    mv_ix_record r;
    mv_ix_set *st = NULL, *ns = NULL;
    uint8_t *tags = NULL, *refs = NULL;
    size_t nrefs = 0;
    uint64_t span = 0;
    seg_build sb = {0};
    wr w = {.s = s};
    deltas d = {0};
    int committed = 0;
    mv_err rc;
    if (!s || !id || (n && !readers))
        return MV_ERR_INVAL;
    if ((envelope && envelope_len > MV_STORE_MAX_ENVELOPE) || (patient && all_zero(patient, 32)))
        return MV_ERR_INVAL;
    if (!(st = mv_malloc(sizeof *st)) || !(ns = mv_malloc(sizeof *ns))) {
        mv_free(st);
        return MV_ERR_NOMEM;
    }
    pthread_mutex_lock(&s->write_mu);
    if ((rc = IX(s)->begin(s->ix, 1, &t)) != MV_OK)
        goto out;
    if ((rc = IX(s)->record_get(t, id, &r)) != MV_OK)
        goto out;
    if ((rc = IX(s)->set_get(t, r.set, st)) != MV_OK) {
        rc = rc == MV_ERR_NOT_FOUND ? MV_ERR_PARSE : rc;
        goto out;
    }
    if (patient) {
        if (!all_zero(st->patient, 32)) {
            rc = MV_ERR_EXISTS;
            goto out;
        }
        memcpy(st->patient, patient, 32);
    }
    if ((rc = make_set(st->owner, st->patient, st->episode, st->dept, readers, n, ns)) != MV_OK)
        goto out;
    if ((rc = set_acquire(s, t, ns, &r.set)) != MV_OK)
        goto out;
    if (envelope) {
        /* A new envelope goes to a new segment with the record's block ids (a record of
         * format 2 is rewritten with ids); the old bytes stay dead in their segment until gc. */
        mv_ix_stats *ds = delta_dept(&d, st->dept);
        rc = MV_ERR_NOMEM;
        if (!ds || (r.n_tags && !(refs = mv_mallocarray((size_t)r.n_tags, REF_MAX))))
            goto out;
        if ((rc = read_refs(s, t, &r, &tags, &span)) != MV_OK ||
            (rc = seg_drop(s, t, r.seg, span)) != MV_OK ||
            (rc = block_refs(s, t, tags, (size_t)r.n_tags, refs, &nrefs)) != MV_OK ||
            (rc = IX(s)->seg_next_id(t, &sb.base)) != MV_OK ||
            (rc = sb_add(&sb, refs, nrefs, envelope, envelope_len, &r.seg, &r.off)) != MV_OK ||
            (rc = sb_write(s, &sb, &w, t)) != MV_OK || (rc = wr_apply(&w, t, &d)) != MV_OK)
            goto out;
        uint64_t diff = (uint64_t)envelope_len - r.envelope_len; /* two's complement delta */
        ds->logical += diff;
        ds->physical += diff;
        d.total.envelope_bytes += diff;
        d.total.logical += diff;
        d.total.physical += diff;
        r.logical += diff;
        r.envelope_len = envelope_len;
        r.ids = 1;
    }
    if ((rc = IX(s)->record_put(t, id, &r)) != MV_OK || (rc = deltas_apply(s, t, &d)) != MV_OK)
        goto out;
    rc = IX(s)->commit(t);
    t = NULL;
    if (rc != MV_OK)
        goto out;
    committed = 1;
    wr_done(&w);
out:
    if (t)
        IX(s)->abort(t);
    if (!committed)
        wr_fail(&w);
    pthread_mutex_unlock(&s->write_mu);
    sb_free(&sb);
    wr_free(&w);
    mv_free(tags);
    mv_free(refs);
    mv_free(st);
    mv_free(ns);
    deltas_free(&d);
    return rc;
}

/* ------------------------------------------------------- format-1 index migration ---- */

#define MIGRATE_BATCH 1024 /* records per transaction */

/* Moves up to MIGRATE_BATCH format-1 records after *after (NULL: from the start) to
 * format 3 in one transaction: their envelopes and block ids into one synced segment, their
 * access into sets. *done is set when none was left (and the index is then marked format 3
 * in the same transaction). A crash between batches leaves committed batches converted and
 * the rest in format 1, so the next open goes on where this one stopped. */
static mv_err migrate_batch(mv_store *s, uint8_t after[16], int *started, int *done, uint64_t *moved)
{
    mv_itxn *t = NULL;
    mv_ix_legacy lg;
    mv_ix_set *st = NULL;
    uint8_t *tags = NULL, *refs = NULL, *env = NULL;
    size_t nrefs = 0;
    seg_build sb = {0};
    wr w = {.s = s};
    deltas d = {0};
    uint8_t id[16];
    size_t n = 0;
    int committed = 0;
    mv_err rc = MV_ERR_NOMEM;
    *done = 0;
    if (!(st = mv_malloc(sizeof *st)))
        return rc;
    if ((rc = IX(s)->begin(s->ix, 1, &t)) != MV_OK)
        goto out;
    if ((rc = IX(s)->seg_next_id(t, &sb.base)) != MV_OK)
        goto out;
    while (n < MIGRATE_BATCH && (sb.n == 0 || sb.v[sb.n - 1].buf.len < SEG_MAX / 2)) {
        rc = IX(s)->legacy_next(t, *started ? after : NULL, id, &lg);
        if (rc == MV_ERR_NOT_FOUND) {
            *done = 1;
            break;
        }
        if (rc != MV_OK)
            goto out;
        mv_ix_record rec = {0};
        rec.created = lg.created;
        rec.logical = lg.logical;
        rec.n_tags = lg.n_tags;
        rec.envelope_len = lg.envelope_len;
        rec.ids = 1;
        /* Everything is copied out of lg before the transaction changes (giving the blocks
         * their ids changes it). */
        if (lg.n_tags > MV_STORE_MAX_TAGS || lg.envelope_len > MV_STORE_MAX_ENVELOPE ||
            make_set(lg.owner, lg.patient, lg.episode, lg.dept, lg.readers, lg.n_readers, st) !=
                MV_OK) {
            rc = MV_ERR_PARSE;
            goto out;
        }
        mv_free(tags);
        mv_free(refs);
        mv_free(env);
        refs = env = NULL;
        rc = MV_ERR_NOMEM;
        if (!(tags = mv_mallocarray(lg.n_tags ? lg.n_tags : 1, 32)) ||
            !(refs = mv_mallocarray(lg.n_tags ? lg.n_tags : 1, REF_MAX)) ||
            !(env = mv_malloc(lg.envelope_len ? lg.envelope_len : 1)))
            goto out;
        if (lg.n_tags)
            memcpy(tags, lg.tags, 32 * lg.n_tags);
        if (lg.envelope_len)
            memcpy(env, lg.envelope, lg.envelope_len);
        if ((rc = block_refs(s, t, tags, lg.n_tags, refs, &nrefs)) != MV_OK ||
            (rc = sb_add(&sb, refs, nrefs, env, (size_t)rec.envelope_len, &rec.seg, &rec.off)) != MV_OK ||
            (rc = set_acquire(s, t, st, &rec.set)) != MV_OK ||
            (rc = sb_member(&sb, id, &rec)) != MV_OK)
            goto out;
        memcpy(after, id, 16);
        *started = 1;
        n++;
    }
    if ((rc = sb_index(s, &sb, t)) != MV_OK || (rc = sb_write(s, &sb, &w, t)) != MV_OK ||
        (rc = wr_apply(&w, t, &d)) != MV_OK || (rc = deltas_apply(s, t, &d)) != MV_OK)
        goto out;
    if (*done && (rc = IX(s)->legacy_finish(t)) != MV_OK)
        goto out;
    rc = IX(s)->commit(t);
    t = NULL;
    if (rc != MV_OK)
        goto out;
    committed = 1;
    wr_done(&w);
    *moved += n;
out:
    if (t)
        IX(s)->abort(t);
    if (!committed)
        wr_fail(&w);
    sb_free(&sb);
    wr_free(&w);
    deltas_free(&d);
    mv_free(st);
    mv_free(tags);
    mv_free(refs);
    mv_free(env);
    return rc;
}

/* Index format 2's tables move into format 3's shared database in transactions of this
 * many entries. */
#define FOLD_BATCH 16384

/* The first step of bringing an index of format 0 (new), 1 or 2 up to format 3 (refusing a
 * newer one), before recovery reads the packs the index names: the tables of format 2 (or 1)
 * move into format 3's layout, in transactions of FOLD_BATCH entries; a format-2 index is
 * then marked format 3. *format receives the format found. migrate() then converts format-1
 * records. Every step is one transaction, so a crash leaves a store the next open carries on
 * with. */
static mv_err fold(mv_store *s, uint32_t *format)
{
    mv_itxn *t = NULL;
    int done = 0;
    mv_err rc = IX(s)->begin(s->ix, 0, &t);
    if (rc != MV_OK)
        return rc;
    rc = IX(s)->format_get(t, format);
    IX(s)->abort(t);
    if (rc != MV_OK || *format == 3)
        return rc;
    if (*format > 3) {
        mv_log(MV_LOG_ERROR, "store", "the index has format %" PRIu32 ", newer than this "
               "version reads (3)", *format);
        return MV_ERR_PARSE;
    }
    while (!done) {
        if ((rc = IX(s)->begin(s->ix, 1, &t)) != MV_OK)
            return rc;
        if ((rc = IX(s)->fold_step(t, FOLD_BATCH, &done)) != MV_OK) {
            IX(s)->abort(t);
            return rc;
        }
        if (done && *format == 2 && (rc = IX(s)->legacy_finish(t)) != MV_OK) {
            IX(s)->abort(t);
            return rc;
        }
        if ((rc = IX(s)->commit(t)) != MV_OK)
            return rc;
    }
    if (*format == 2)
        mv_log(MV_LOG_INFO, "store", "index migrated from format 2 to 3");
    return MV_OK;
}

/* Converts the records of a format-1 index (format 0: a new index, which only gets its
 * format mark), after fold and recovery. */
static mv_err migrate(mv_store *s, uint32_t format)
{
    uint8_t after[16] = {0};
    uint64_t moved = 0;
    int started = 0, done = 0;
    mv_err rc = MV_OK;
    if (format >= 2)
        return MV_OK;
    while (!done)
        if ((rc = migrate_batch(s, after, &started, &done, &moved)) != MV_OK)
            return rc;
    if (moved)
        mv_log(MV_LOG_INFO, "store", "index migrated to format 3: %" PRIu64 " records' "
               "envelopes moved to packs", moved);
    return MV_OK;
}

/* ------------------------------------------------------------------------- stats ---- */

static mv_err stats_dept_cb(void *ctx, const char *dept, const mv_ix_stats *st)
{
    mv_store_stats *out = ctx;
    if (out->n_depts == sizeof out->depts / sizeof out->depts[0])
        return MV_OK;
    mv_store_dept_stats *ds = &out->depts[out->n_depts++];
    memcpy(ds->dept, dept, strlen(dept) + 1);
    ds->records = st->records;
    ds->logical_bytes = st->logical;
    ds->physical_bytes = st->physical;
    ds->dedup_hits = st->dedup_hits;
    return MV_OK;
}

mv_err mv_store_get_stats(mv_store *s, mv_store_stats *out)
{
    mv_itxn *t = NULL;
    mv_ix_stats st;
    mv_err rc;
    if (!s || !out)
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if ((rc = IX(s)->begin(s->ix, 0, &t)) != MV_OK)
        return rc;
    if ((rc = IX(s)->stats_get(t, NULL, &st)) == MV_OK) {
        out->records = st.records;
        out->blocks = st.blocks;
        out->block_bytes = st.block_bytes;
        out->envelope_bytes = st.envelope_bytes;
        out->pack_bytes = st.pack_bytes;
        out->logical_bytes = st.logical;
        out->data_bytes = st.physical;
        rc = IX(s)->stats_iter(t, stats_dept_cb, out);
    }
    IX(s)->abort(t);
    if (rc != MV_OK)
        return rc;
    struct stat fs;
    if (stat(s->index_file, &fs) != 0)
        return MV_ERR_IO;
    out->index_bytes = (uint64_t)fs.st_size;
    out->physical_bytes = out->pack_bytes + out->index_bytes;
    return MV_OK;
}

/* ---------------------------------------------------------------------------- gc ---- */

typedef struct tag_list {
    uint8_t *v;
    size_t n, cap;
} tag_list;

static mv_err tag_list_add(void *ctx, const uint8_t *tag)
{
    tag_list *l = ctx;
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 64;
        uint8_t *nv = mv_mallocarray(nc, 32);
        if (!nv)
            return MV_ERR_NOMEM;
        if (l->n)
            memcpy(nv, l->v, 32 * l->n);
        mv_free(l->v);
        l->v = nv;
        l->cap = nc;
    }
    memcpy(l->v + 32 * l->n++, tag, 32);
    return MV_OK;
}

typedef struct set_ids {
    uint32_t *v;
    size_t n, cap;
} set_ids;

static mv_err set_ids_add(set_ids *l, uint32_t id)
{
    mv_err rc = mv_array_grow(&l->v, &l->cap, l->n, sizeof *l->v, 16);
    if (rc == MV_OK)
        l->v[l->n++] = id;
    return rc;
}

static mv_err gc_named_cb(void *ctx, uint32_t set, const uint8_t *id)
{
    set_ids *l = ctx;
    (void)id;
    return l->n && l->v[l->n - 1] == set ? MV_OK : set_ids_add(l, set);
}

static mv_err gc_set_cb(void *ctx, uint32_t id, const mv_ix_set *st)
{
    (void)st;
    return set_ids_add(ctx, id);
}


/* Drops the access sets no record names any more (sets keep no reference count). */
static mv_err gc_sets(mv_store *s, mv_itxn *t)
{
    set_ids named = {0}, all = {0};
    mv_err rc;
    if ((rc = IX(s)->set_record_iter(t, NULL, 0, gc_named_cb, &named)) != MV_OK ||
        (rc = IX(s)->set_iter(t, gc_set_cb, &all)) != MV_OK)
        goto out;
    if (named.n)
        qsort(named.v, named.n, sizeof *named.v, cmp_u32);
    for (size_t i = 0; i < all.n; i++)
        if (!named.n || !bsearch(&all.v[i], named.v, named.n, sizeof *named.v, cmp_u32))
            if ((rc = IX(s)->set_del(t, all.v[i])) != MV_OK)
                goto out;
out:
    mv_free(named.v);
    mv_free(all.v);
    return rc;
}

/* Step 1: expired claims, unreferenced and unclaimed blocks, and access sets no record
 * names leave the index (one txn). */
static mv_err gc_free(mv_store *s, uint64_t now, mv_store_gc_report *rep)
{
    tag_list zero = {0};
    deltas d = {0};
    mv_itxn *t = NULL;
    uint64_t expired = 0, freed = 0, bytes = 0;
    mv_err rc;
    if ((rc = IX(s)->begin(s->ix, 1, &t)) != MV_OK)
        return rc;
    if (now > s->claim_ttl && (rc = IX(s)->claim_expire(t, now - s->claim_ttl, &expired)) != MV_OK)
        goto out;
    if ((rc = IX(s)->zero_iter(t, tag_list_add, &zero)) != MV_OK || (rc = gc_sets(s, t)) != MV_OK)
        goto out;
    for (size_t i = 0; i < zero.n; i++) {
        const uint8_t *tag = zero.v + 32 * i;
        mv_ix_block b;
        mv_ix_pack p;
        if ((rc = IX(s)->claim_any(t, tag)) == MV_OK)
            continue; /* a live claim: an upload whose record may still come */
        if (rc != MV_ERR_NOT_FOUND)
            goto out;
        if ((rc = IX(s)->block_get(t, tag, &b)) != MV_OK)
            goto out;
        if (b.refs != 0)
            continue;
        if ((rc = IX(s)->block_del(t, tag)) != MV_OK)
            goto out;
        if ((rc = IX(s)->pack_get(t, b.pack, &p)) == MV_OK) {
            p.live_bytes -= p.live_bytes >= OVERHEAD + b.len ? OVERHEAD + b.len : p.live_bytes;
            p.live_entries -= p.live_entries ? 1 : 0;
            if ((rc = IX(s)->pack_put(t, b.pack, &p)) != MV_OK)
                goto out;
        } else if (rc != MV_ERR_NOT_FOUND) {
            goto out;
        }
        d.total.blocks--;
        d.total.block_bytes -= b.len;
        freed++;
        bytes += b.len;
    }
    if ((rc = deltas_apply(s, t, &d)) != MV_OK)
        goto out;
    rc = IX(s)->commit(t);
    t = NULL;
    if (rc == MV_OK) {
        rep->claims_expired += expired;
        rep->blocks_freed += freed;
        rep->bytes_freed += bytes;
    }
out:
    if (t)
        IX(s)->abort(t);
    mv_free(zero.v);
    deltas_free(&d);
    return rc;
}

typedef struct move {
    uint8_t tag[32];
    uint32_t pack;
    uint64_t off;
    uint32_t len;
} move;

typedef struct copy_ctx {
    mv_store *s;
    mv_itxn *t; /* read snapshot (stable: we hold write_mu) */
    uint32_t pack;
    wr *w;
    uint8_t *stage; /* data of queued entries, until wr_flush */
    size_t stage_len, stage_cap;
    uint8_t *tags;  /* their tags */
    size_t ntags;
    move *mv;
    size_t nmv, capmv;
    /* Envelope segments of the pack (from the snapshot), the live records' spans of those
     * with dead bytes, and where each segment went. */
    struct gc_seg *segs;
    size_t nsegs, capsegs;
    struct gc_span *spans;
    size_t nspans, capspans;
    struct gc_segbuf **bufs; /* data of copied segments, until written */
    size_t nbufs, capbufs, buf_bytes;
    size_t nsegmv;
} copy_ctx;

typedef struct gc_seg {
    uint64_t id;
    mv_ix_seg g;
    size_t first_span, n_spans; /* of a segment being rewritten without its dead bytes */
    uint32_t new_pack;
    uint64_t new_off;
    uint32_t new_len;
    int moved;
} gc_seg;

typedef struct gc_segbuf {
    mv_buf buf;
    uint8_t tag[32];
} gc_segbuf;

static void gc_bufs_free(copy_ctx *c)
{
    for (size_t i = 0; i < c->nbufs; i++) {
        mv_buf_clear(&c->bufs[i]->buf);
        mv_free(c->bufs[i]);
    }
    c->nbufs = 0;
    c->buf_bytes = 0;
}

typedef struct gc_span {
    uint64_t seg;
    uint64_t off, len, new_off; /* len: the envelope's, and the tags' of a format-2 record */
    uint64_t n_tags;
    int ids;                    /* block ids follow the envelope: their bytes add to len */
    uint8_t id[16];
} gc_span;

static mv_err gc_seg_cb(void *ctx, uint64_t id, const mv_ix_seg *g)
{
    copy_ctx *c = ctx;
    if (g->pack != c->pack)
        return MV_OK;
    mv_err rc = mv_array_grow(&c->segs, &c->capsegs, c->nsegs, sizeof *c->segs, 16);
    if (rc != MV_OK)
        return rc;
    gc_seg *e = &c->segs[c->nsegs++];
    memset(e, 0, sizeof *e);
    e->id = id;
    e->g = *g;
    return MV_OK;
}

static gc_seg *gc_seg_find(copy_ctx *c, uint64_t id)
{
    size_t lo = 0, hi = c->nsegs; /* seg_iter gave them in id order */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->segs[mid].id == id)
            return &c->segs[mid];
        if (c->segs[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static mv_err gc_span_cb(void *ctx, const uint8_t *id, const mv_ix_record *r)
{
    copy_ctx *c = ctx;
    gc_seg *e = gc_seg_find(c, r->seg);
    if (!e || e->g.live_bytes + SEG_HDR == e->g.len)
        return MV_OK; /* not here, or its segment moves whole */
    mv_err rc = mv_array_grow(&c->spans, &c->capspans, c->nspans, sizeof *c->spans, 64);
    if (rc != MV_OK)
        return rc;
    gc_span *sp = &c->spans[c->nspans++];
    sp->seg = r->seg;
    sp->off = r->off;
    sp->len = r->ids ? r->envelope_len : 32 * r->n_tags + r->envelope_len;
    sp->n_tags = r->n_tags;
    sp->ids = r->ids;
    sp->new_off = 0;
    memcpy(sp->id, id, 16);
    return MV_OK;
}

static int cmp_span(const void *a, const void *b)
{
    const gc_span *x = a, *y = b;
    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Loads the pack's segments and, for those holding dead bytes, their live records. */
static mv_err gc_load_segs(copy_ctx *c)
{
    mv_store *s = c->s;
    int dirty = 0;
    mv_err rc = IX(s)->seg_iter(c->t, gc_seg_cb, c);
    for (size_t i = 0; rc == MV_OK && i < c->nsegs; i++)
        dirty |= c->segs[i].g.live_bytes + SEG_HDR != c->segs[i].g.len;
    if (rc != MV_OK || !dirty)
        return rc;
    /* No segment -> records index (it would cost every record an entry): one scan. */
    if ((rc = IX(s)->record_iter(c->t, gc_span_cb, c)) != MV_OK)
        return rc;
    if (c->nspans)
        qsort(c->spans, c->nspans, sizeof *c->spans, cmp_span);
    for (size_t i = 0; i < c->nspans;) {
        gc_seg *e = gc_seg_find(c, c->spans[i].seg);
        size_t j = i;
        while (j < c->nspans && c->spans[j].seg == c->spans[i].seg)
            j++;
        e->first_span = i;
        e->n_spans = j - i;
        i = j;
    }
    return MV_OK;
}

/* A pack entry that is a live segment: copied forward whole, or without its dead bytes. */
static mv_err copy_seg(copy_ctx *c, gc_seg *e, const uint8_t *tag, const uint8_t *data, size_t len)
{
    uint8_t h[32];
    mv_err rc;
    if (e->g.len != len || !seg_hdr_ok(data, len))
        return MV_ERR_VERIFY;
    if ((rc = mv_sha256(h, data, len)) != MV_OK)
        return rc;
    if (memcmp(h, tag, 32) != 0)
        return MV_ERR_VERIFY; /* never copy corruption forward; check will name it */
    if (c->buf_bytes > GC_STAGE) {
        if ((rc = wr_flush(c->w)) != MV_OK)
            return rc;
        gc_bufs_free(c);
    }
    if ((rc = mv_array_grow(&c->bufs, &c->capbufs, c->nbufs, sizeof *c->bufs, 16)) != MV_OK)
        return rc;
    /* On the heap, one by one: the pending write points at its data and tag. */
    gc_segbuf *sb = mv_malloc(sizeof *sb);
    if (!sb)
        return MV_ERR_NOMEM;
    c->bufs[c->nbufs++] = sb;
    mv_buf_init(&sb->buf, SEG_MAX);
    if (e->g.live_bytes + SEG_HDR == e->g.len) {
        rc = mv_buf_append(&sb->buf, data, len);
    } else {
        uint64_t sum = 0;
        rc = mv_buf_append(&sb->buf, data, SEG_HDR); /* the version stays: the layout does */
        for (size_t i = 0; rc == MV_OK && i < e->n_spans; i++) {
            gc_span *sp = &c->spans[e->first_span + i];
            if (sp->off < SEG_HDR || sp->off > len || sp->len > len - sp->off)
                return MV_ERR_VERIFY;
            if (sp->ids && sp->n_tags) {
                size_t at = (size_t)(sp->off + sp->len), n = refs_len(data + at, len - at, sp->n_tags);
                if (n == 0)
                    return MV_ERR_VERIFY;
                sp->len += n;
            }
            sp->new_off = sb->buf.len;
            sum += sp->len;
            rc = mv_buf_append(&sb->buf, data + sp->off, (size_t)sp->len);
        }
        if (rc == MV_OK && (sum != e->g.live_bytes || e->n_spans != e->g.live_records))
            return MV_ERR_VERIFY; /* accounting and records disagree: leave it for check */
    }
    if (rc != MV_OK || (rc = mv_sha256(sb->tag, sb->buf.ptr, sb->buf.len)) != MV_OK)
        return rc;
    c->buf_bytes += sb->buf.len;
    e->new_len = (uint32_t)sb->buf.len;
    if ((rc = wr_add(c->w, sb->tag, sb->buf.ptr, sb->buf.len, &e->new_pack, &e->new_off)) != MV_OK)
        return rc;
    e->moved = 1;
    c->nsegmv++;
    return MV_OK;
}

static mv_err copy_entry(void *ctx, uint64_t off, const uint8_t *tag, const uint8_t *data, size_t len)
{
    copy_ctx *c = ctx;
    mv_store *s = c->s;
    mv_ix_block b;
    uint8_t h[32];
    for (size_t i = 0; i < c->nsegs; i++)
        if (c->segs[i].g.off == off)
            return copy_seg(c, &c->segs[i], tag, data, len);
    mv_err rc = IX(s)->block_get(c->t, tag, &b);
    if (rc == MV_ERR_NOT_FOUND)
        return MV_OK;
    if (rc != MV_OK)
        return rc;
    if (b.pack != c->pack || b.off != off)
        return MV_OK; /* dead: freed, a duplicate write, or a dead segment */
    if (b.len != len)
        return MV_ERR_VERIFY;
    if ((rc = mv_sha256(h, data, len)) != MV_OK)
        return rc;
    if (memcmp(h, tag, 32) != 0)
        return MV_ERR_VERIFY; /* never copy corruption forward; check will name it */
    /* Stage the bytes (the iterator's buffer is reused) until they are written. */
    if (c->stage_len + len > c->stage_cap || c->ntags == GC_STAGE / 64) {
        if ((rc = wr_flush(c->w)) != MV_OK)
            return rc;
        c->stage_len = 0;
        c->ntags = 0;
        if (len > c->stage_cap) {
            uint8_t *ns = mv_malloc(len);
            if (!ns)
                return MV_ERR_NOMEM;
            mv_free(c->stage);
            c->stage = ns;
            c->stage_cap = len;
        }
    }
    mv_err grc = mv_array_grow(&c->mv, &c->capmv, c->nmv, sizeof *c->mv, 256);
    if (grc != MV_OK)
        return grc;
    uint8_t *dst = c->stage + c->stage_len, *tdst = c->tags + 32 * c->ntags;
    if (len)
        memcpy(dst, data, len);
    memcpy(tdst, tag, 32);
    move *m = &c->mv[c->nmv];
    memcpy(m->tag, tag, 32);
    m->len = (uint32_t)len;
    if ((rc = wr_add(c->w, tdst, dst, len, &m->pack, &m->off)) != MV_OK)
        return rc;
    c->stage_len += len;
    c->ntags++;
    c->nmv++;
    return MV_OK;
}

/* Step 2, for one pack: copy its live entries forward, repoint them, then unlink it. */
static mv_err gc_pack(mv_store *s, uint32_t pack, mv_store_gc_report *rep)
{
    copy_ctx c = {.s = s, .pack = pack};
    wr w = {.s = s};
    deltas d = {0};
    mv_itxn *t = NULL;
    mv_ix_pack p;
    uint64_t bad_off = 0;
    int committed = 0;
    mv_err rc;
    c.w = &w;
    if ((rc = IX(s)->begin(s->ix, 0, &t)) != MV_OK)
        return rc;
    rc = IX(s)->pack_get(t, pack, &p);
    if (rc != MV_OK || p.end == p.live_bytes) {
        IX(s)->abort(t);
        return rc == MV_ERR_NOT_FOUND ? MV_OK : rc;
    }
    if (s->cur_pack == pack) {
        s->cur_pack = 0; /* seal it: uploads continue in a new pack */
        s->cur_end = 0;
    }
    if (p.live_entries) {
        c.t = t;
        c.stage_cap = GC_STAGE;
        rc = MV_ERR_NOMEM;
        if (!(c.stage = mv_malloc(c.stage_cap)) || !(c.tags = mv_mallocarray(GC_STAGE / 64, 32)))
            goto out;
        if ((rc = gc_load_segs(&c)) != MV_OK)
            goto out;
        rc = BLOB(s)->iterate(s->blob, pack, p.end, MV_STORE_MAX_BLOCK, copy_entry, &c, &bad_off);
        if (rc == MV_ERR_PARSE || (rc == MV_OK && c.nmv + c.nsegmv != p.live_entries))
            rc = MV_ERR_VERIFY; /* framing broken or a live entry missing: leave the pack */
        if (rc != MV_OK || (rc = wr_sync(&w)) != MV_OK)
            goto out;
    }
    IX(s)->abort(t);
    t = NULL;
    if ((rc = IX(s)->begin(s->ix, 1, &t)) != MV_OK)
        goto out;
    for (size_t i = 0; i < c.nmv; i++) {
        mv_ix_block b;
        if ((rc = IX(s)->block_get(t, c.mv[i].tag, &b)) != MV_OK)
            goto out;
        b.pack = c.mv[i].pack;
        b.off = c.mv[i].off;
        if ((rc = IX(s)->block_put(t, c.mv[i].tag, &b)) != MV_OK)
            goto out;
        wr_mark_live(&w, c.mv[i].pack, OVERHEAD + c.mv[i].len);
    }
    /* Segments: one entry each moves (nothing else changed them: we hold write_mu); the
     * records of a segment rewritten without its dead bytes move within it. */
    for (size_t i = 0; i < c.nsegs; i++) {
        gc_seg *e = &c.segs[i];
        if (!e->moved)
            continue;
        mv_ix_seg g = e->g;
        g.pack = e->new_pack;
        g.off = e->new_off;
        g.len = e->new_len;
        if ((rc = IX(s)->seg_put(t, e->id, &g)) != MV_OK)
            goto out;
        wr_mark_live(&w, g.pack, OVERHEAD + g.len);
        for (size_t j = 0; j < e->n_spans; j++) {
            const gc_span *sp = &c.spans[e->first_span + j];
            mv_ix_record r;
            if ((rc = IX(s)->record_get(t, sp->id, &r)) != MV_OK)
                goto out;
            r.off = sp->new_off;
            if ((rc = IX(s)->record_put(t, sp->id, &r)) != MV_OK)
                goto out;
        }
    }
    if ((rc = IX(s)->pack_del(t, pack)) != MV_OK)
        goto out;
    d.total.pack_bytes -= p.end;
    if ((rc = wr_apply(&w, t, &d)) != MV_OK || (rc = deltas_apply(s, t, &d)) != MV_OK)
        goto out;
    rc = IX(s)->commit(t);
    t = NULL;
    if (rc != MV_OK)
        goto out;
    committed = 1;
    wr_done(&w);
    if (c.nmv || c.nsegmv)
        rep->packs_rewritten++;
    /* The index no longer names the pack; readers that looked it up earlier hold pack_rw. */
    pthread_rwlock_wrlock(&s->pack_rw);
    rc = BLOB(s)->remove(s->blob, pack);
    pthread_rwlock_unlock(&s->pack_rw);
    if (rc == MV_OK)
        rep->packs_deleted++;
    /* On failure the file lingers, unknown to the index, until the next open removes it. */
out:
    if (t)
        IX(s)->abort(t);
    if (!committed)
        wr_fail(&w);
    mv_free(c.stage);
    mv_free(c.tags);
    mv_free(c.mv);
    gc_bufs_free(&c);
    mv_free(c.bufs);
    mv_free(c.segs);
    mv_free(c.spans);
    wr_free(&w);
    deltas_free(&d);
    return rc;
}

static mv_err dirty_pack_cb(void *ctx, uint32_t pack, const mv_ix_pack *p)
{
    return p->end != p->live_bytes ? pl_add(ctx, pack, p->end) : MV_OK;
}

mv_err mv_store_gc(mv_store *s, uint64_t now, mv_store_gc_report *rep)
{
    mv_store_gc_report local;
    pack_list dirty = {0};
    mv_itxn *t = NULL;
    mv_err rc;
    if (!s)
        return MV_ERR_INVAL;
    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof *rep);
    pthread_mutex_lock(&s->gc_mu);
    pthread_mutex_lock(&s->write_mu);
    rc = gc_free(s, now, rep);
    pthread_mutex_unlock(&s->write_mu);
    if (rc != MV_OK)
        goto out;
    if ((rc = IX(s)->begin(s->ix, 0, &t)) != MV_OK)
        goto out;
    rc = IX(s)->pack_iter(t, dirty_pack_cb, &dirty);
    IX(s)->abort(t);
    /* One pack per writer-lock hold, so uploads wait for at most one pack's copy. */
    for (size_t i = 0; i < dirty.n && rc == MV_OK; i++) {
        pthread_mutex_lock(&s->write_mu);
        rc = gc_pack(s, dirty.id[i], rep);
        pthread_mutex_unlock(&s->write_mu);
    }
out:
    pthread_mutex_unlock(&s->gc_mu);
    pl_free(&dirty);
    return rc;
}

/* ------------------------------------------------------------------------- check ---- */

/* Open-addressing map tag -> number of records naming it. Tags are SHA-256 outputs of
 * blocks the index holds, so their first bytes hash well enough. */
typedef struct refmap {
    uint8_t *keys; /* cap * 32 */
    uint64_t *cnt; /* 0 = empty slot */
    size_t cap, n;
} refmap;

static size_t rm_slot(const refmap *m, const uint8_t *tag)
{
    uint64_t h;
    memcpy(&h, tag, sizeof h);
    size_t i = (size_t)h & (m->cap - 1);
    while (m->cnt[i] && memcmp(m->keys + 32 * i, tag, 32) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static mv_err rm_inc(refmap *m, const uint8_t *tag)
{
    if (2 * (m->n + 1) > m->cap) {
        refmap g = {NULL, NULL, m->cap ? 2 * m->cap : 1024, 0};
        g.keys = mv_mallocarray(g.cap, 32);
        g.cnt = mv_calloc(g.cap, sizeof *g.cnt);
        if (!g.keys || !g.cnt) {
            mv_free(g.keys);
            mv_free(g.cnt);
            return MV_ERR_NOMEM;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->cnt[i]) {
                size_t j = rm_slot(&g, m->keys + 32 * i);
                memcpy(g.keys + 32 * j, m->keys + 32 * i, 32);
                g.cnt[j] = m->cnt[i];
                g.n++;
            }
        mv_free(m->keys);
        mv_free(m->cnt);
        *m = g;
    }
    size_t i = rm_slot(m, tag);
    if (!m->cnt[i]) {
        memcpy(m->keys + 32 * i, tag, 32);
        m->n++;
    }
    m->cnt[i]++;
    return MV_OK;
}

static uint64_t rm_get(const refmap *m, const uint8_t *tag)
{
    return m->cap ? m->cnt[rm_slot(m, tag)] : 0;
}

typedef struct chk {
    mv_store *s;
    mv_itxn *t;
    mv_store_check_report *rep;
    mv_store_problem_fn fn;
    void *ctx;
    pack_list ixp, files;
    refmap refs;
    uint32_t pack;
    uint64_t matched, live_bytes, live_entries;
    uint64_t blocks, block_bytes, ref_block_bytes, zero_blocks, zero_ok;
    uint64_t records, env_bytes, logical;
    /* Segments (id order) with what the records say of them, and sets with their records. */
    struct chk_seg {
        uint64_t id;
        mv_ix_seg g;
        uint64_t records, bytes;
        int found;
    } *segs;
    size_t nsegs, capsegs;
    struct chk_seg **by_loc;
    struct chk_set {
        uint32_t id;
        uint64_t records, listed;
    } *sets;
    size_t nsets, capsets;
    uint64_t set_readers_total, set_readers_ok;
} chk;

static mv_err chk_seg_cb(void *ctx, uint64_t id, const mv_ix_seg *g)
{
    chk *c = ctx;
    mv_err rc = mv_array_grow(&c->segs, &c->capsegs, c->nsegs, sizeof *c->segs, 64);
    if (rc != MV_OK)
        return rc;
    c->segs[c->nsegs++] = (struct chk_seg){id, *g, 0, 0, 0};
    return MV_OK;
}

static int cmp_seg_loc(const void *a, const void *b)
{
    const struct chk_seg *x = *(const struct chk_seg *const *)a, *y = *(const struct chk_seg *const *)b;
    if (x->g.pack != y->g.pack)
        return x->g.pack < y->g.pack ? -1 : 1;
    return x->g.off < y->g.off ? -1 : x->g.off > y->g.off;
}

/* The segment at (pack, off), from the location-sorted view. */
static struct chk_seg *chk_seg_at(chk *c, uint32_t pack, uint64_t off)
{
    size_t lo = 0, hi = c->nsegs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        struct chk_seg *g = c->by_loc[mid];
        if (g->g.pack == pack && g->g.off == off)
            return g;
        if (g->g.pack < pack || (g->g.pack == pack && g->g.off < off))
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* bsearch keys: a segment's and an access set's id against the arrays sorted by id. */
static int cmp_seg_id(const void *key, const void *elem)
{
    uint64_t k = *(const uint64_t *)key, e = ((const struct chk_seg *)elem)->id;
    return k < e ? -1 : k > e;
}

static int cmp_set_id(const void *key, const void *elem)
{
    uint32_t k = *(const uint32_t *)key, e = ((const struct chk_set *)elem)->id;
    return k < e ? -1 : k > e;
}

static struct chk_seg *chk_seg_find(chk *c, uint64_t id)
{
    return c->nsegs ? bsearch(&id, c->segs, c->nsegs, sizeof *c->segs, cmp_seg_id) : NULL;
}

static struct chk_set *chk_set_find(chk *c, uint32_t id)
{
    return c->nsets ? bsearch(&id, c->sets, c->nsets, sizeof *c->sets, cmp_set_id) : NULL;
}


static void problem(chk *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(chk *c, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    if (!c->fn)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->fn(c->ctx, line);
}

static void problem(chk *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static mv_err chk_set_cb(void *ctx, uint32_t id, const mv_ix_set *st)
{
    chk *c = ctx;
    uint32_t found = 0;
    mv_err rc = mv_array_grow(&c->sets, &c->capsets, c->nsets, sizeof *c->sets, 16);
    if (rc != MV_OK)
        return rc;
    c->sets[c->nsets++] = (struct chk_set){id, 0, 0};
    c->set_readers_total += st->n_readers;
    rc = IX(c->s)->set_find(c->t, st, &found);
    if (rc == MV_OK && found == id)
        return MV_OK;
    if (rc != MV_OK && rc != MV_ERR_NOT_FOUND && rc != MV_ERR_PARSE)
        return rc;
    c->rep->missing++;
    problem(c, "access set %" PRIu32 " is not found by its content", id);
    return MV_OK;
}

static mv_err chk_record(void *ctx, const uint8_t *id, const mv_ix_record *r)
{
    chk *c = ctx;
    uint8_t *tags = NULL;
    mv_err rc;
    (void)id;
    c->records++;
    c->env_bytes += r->envelope_len;
    c->logical += r->logical;
    struct chk_set *cs = chk_set_find(c, r->set);
    if (cs) {
        cs->records++;
    } else {
        c->rep->missing++;
        problem(c, "a record names access set %" PRIu32 ", which the index does not hold", r->set);
    }
    struct chk_seg *g = chk_seg_find(c, r->seg);
    uint64_t bytes = r->ids ? r->envelope_len : 32 * r->n_tags + r->envelope_len;
    if (!g || r->n_tags > MV_STORE_MAX_TAGS || r->off < SEG_HDR || r->off > g->g.len ||
        bytes > g->g.len - r->off) {
        c->rep->missing++;
        problem(c, "a record's envelope location (segment %" PRIu64 ") is outside the segments",
                r->seg);
        return MV_OK;
    }
    g->records++;
    rc = read_refs(c->s, c->t, r, &tags, &bytes);
    g->bytes += bytes;
    if (rc == MV_ERR_VERIFY || rc == MV_ERR_PARSE) {
        c->rep->missing++;
        problem(c, "segment %" PRIu64 ": a record's blocks cannot be read", r->seg);
        return MV_OK;
    }
    if (rc != MV_OK)
        return rc;
    for (size_t i = 0; i < r->n_tags; i++) {
        mv_ix_block b;
        rc = IX(c->s)->block_get(c->t, tags + 32 * i, &b);
        if (rc == MV_ERR_NOT_FOUND) {
            c->rep->missing++;
            problem(c, "a record names a block the index does not hold");
            continue;
        }
        if (rc != MV_OK || (rc = rm_inc(&c->refs, tags + 32 * i)) != MV_OK)
            break;
    }
    mv_free(tags);
    return rc == MV_ERR_NOT_FOUND ? MV_OK : rc;
}

static mv_err chk_entry(void *ctx, uint64_t off, const uint8_t *tag, const uint8_t *data, size_t len)
{
    chk *c = ctx;
    mv_ix_block b;
    uint8_t h[32];
    mv_err rc;
    c->rep->entries++;
    c->rep->bytes += OVERHEAD + len;
    if ((rc = mv_sha256(h, data, len)) != MV_OK)
        return rc;
    if (memcmp(h, tag, 32) != 0) {
        c->rep->bad_entries++;
        problem(c, "pack %08" PRIu32 " offset %" PRIu64 ": entry does not hash to its tag",
                c->pack, off);
    }
    struct chk_seg *g = chk_seg_at(c, c->pack, off);
    if (g) {
        g->found = 1;
        if (g->g.len != len || !seg_hdr_ok(data, len)) {
            c->rep->bad_entries++;
            problem(c, "pack %08" PRIu32 " offset %" PRIu64 ": not the envelope segment the "
                    "index names", c->pack, off);
        }
        c->live_bytes += SEG_OVERHEAD + g->g.live_bytes;
        c->live_entries++;
        return MV_OK;
    }
    rc = IX(c->s)->block_get(c->t, tag, &b);
    if (rc == MV_ERR_NOT_FOUND)
        return MV_OK; /* a dead entry, awaiting compaction */
    if (rc != MV_OK)
        return rc;
    if (b.pack == c->pack && b.off == off) {
        c->matched++;
        c->live_bytes += OVERHEAD + len;
        c->live_entries++;
    }
    return MV_OK;
}

static mv_err chk_block(void *ctx, const uint8_t *tag, const mv_ix_block *b)
{
    chk *c = ctx;
    c->blocks++;
    c->block_bytes += b->len;
    if (b->refs)
        c->ref_block_bytes += b->len;
    else
        c->zero_blocks++;
    if (b->id) {
        uint8_t back[32];
        mv_err rc = IX(c->s)->block_id_tag(c->t, b->id, back);
        if (rc != MV_OK && rc != MV_ERR_NOT_FOUND)
            return rc;
        if (rc == MV_ERR_NOT_FOUND || memcmp(back, tag, 32) != 0) {
            c->rep->missing++;
            problem(c, "block in pack %08" PRIu32 " offset %" PRIu64 ": its id %" PRIu64
                    " does not map back to it", b->pack, b->off, b->id);
        }
    }
    uint64_t named = rm_get(&c->refs, tag);
    if (named != b->refs) {
        c->rep->refcount_errors++;
        problem(c, "block in pack %08" PRIu32 " offset %" PRIu64 ": reference count %" PRIu64
                ", records name it %" PRIu64 " times", b->pack, b->off, b->refs, named);
    }
    return MV_OK;
}

/* Second pass, only when some index block matched no pack entry: find which. */
static mv_err chk_locate(void *ctx, const uint8_t *tag, const mv_ix_block *b)
{
    chk *c = ctx;
    long k = pl_find(&c->ixp, b->pack);
    int ok = k >= 0 && b->off <= c->ixp.size[k] &&
             OVERHEAD + b->len <= c->ixp.size[k] - b->off;
    if (ok) {
        mv_buf tmp;
        uint8_t ft[32];
        mv_buf_init(&tmp, MV_STORE_MAX_BLOCK);
        mv_err rc = BLOB(c->s)->read(c->s->blob, b->pack, b->off, b->len, ft, &tmp);
        mv_buf_clear(&tmp);
        if (rc == MV_ERR_IO || rc == MV_ERR_NOMEM)
            return rc;
        ok = rc == MV_OK && memcmp(ft, tag, 32) == 0;
    }
    if (!ok) {
        c->rep->missing++;
        problem(c, "index block at pack %08" PRIu32 " offset %" PRIu64
                " has no matching pack entry", b->pack, b->off);
    }
    return MV_OK;
}

static mv_err chk_zero(void *ctx, const uint8_t *tag)
{
    chk *c = ctx;
    mv_ix_block b;
    mv_err rc = IX(c->s)->block_get(c->t, tag, &b);
    if (rc == MV_OK && b.refs == 0) {
        c->zero_ok++;
        return MV_OK;
    }
    if (rc != MV_OK && rc != MV_ERR_NOT_FOUND)
        return rc;
    c->rep->refcount_errors++;
    problem(c, "the zero-reference set names a block that is referenced or absent");
    return MV_OK;
}

static mv_err chk_token(void *ctx, const char *dept, const uint8_t *token, const uint8_t *tag)
{
    chk *c = ctx;
    mv_ix_block b;
    (void)token;
    mv_err rc = IX(c->s)->block_get(c->t, tag, &b);
    if (rc == MV_ERR_NOT_FOUND) {
        c->rep->orphans++;
        problem(c, "a token of department %s names no block", dept);
        return MV_OK;
    }
    return rc;
}

static mv_err chk_claim(void *ctx, const uint8_t *tag, const uint8_t *claimant, uint64_t at)
{
    chk *c = ctx;
    mv_ix_block b;
    (void)claimant;
    (void)at;
    mv_err rc = IX(c->s)->block_get(c->t, tag, &b);
    if (rc == MV_ERR_NOT_FOUND) {
        c->rep->orphans++;
        problem(c, "a claim names no block");
        return MV_OK;
    }
    return rc;
}

static mv_err chk_set_reader(void *ctx, const uint8_t *reader, uint32_t set)
{
    chk *c = ctx;
    mv_ix_set *st = mv_malloc(sizeof *st);
    if (!st)
        return MV_ERR_NOMEM;
    mv_err rc = IX(c->s)->set_get(c->t, set, st);
    if (rc == MV_OK) {
        for (size_t i = 0; i < st->n_readers; i++)
            if (memcmp(st->readers[i], reader, 32) == 0) {
                c->set_readers_ok++;
                mv_free(st);
                return MV_OK;
            }
    } else if (rc != MV_ERR_NOT_FOUND) {
        mv_free(st);
        return rc;
    }
    mv_free(st);
    c->rep->orphans++;
    problem(c, "a reader entry names access set %" PRIu32 ", which does not list that reader", set);
    return MV_OK;
}

static mv_err chk_set_record(void *ctx, uint32_t set, const uint8_t *id)
{
    chk *c = ctx;
    mv_ix_record r;
    mv_err rc = IX(c->s)->record_get(c->t, id, &r);
    if (rc == MV_OK && r.set == set) {
        struct chk_set *cs = chk_set_find(c, set);
        if (cs)
            cs->listed++;
        return MV_OK;
    }
    if (rc != MV_OK && rc != MV_ERR_NOT_FOUND)
        return rc;
    c->rep->orphans++;
    problem(c, "access set %" PRIu32 " lists a record that is not in it", set);
    return MV_OK;
}

static void chk_counter(chk *c, const char *name, uint64_t stored, uint64_t actual)
{
    if (stored == actual)
        return;
    c->rep->refcount_errors++;
    problem(c, "stats: %s is %" PRIu64 ", the index holds %" PRIu64, name, stored, actual);
}

static mv_err check_packs(chk *c)
{
    mv_store *s = c->s;
    mv_err rc;
    for (size_t i = 0; i < c->files.n; i++)
        if (pl_find(&c->ixp, c->files.id[i]) < 0) {
            c->rep->orphans++;
            problem(c, "pack file %08" PRIu32 " is not in the index", c->files.id[i]);
        }
    for (size_t i = 0; i < c->ixp.n; i++) {
        uint32_t id = c->ixp.id[i];
        uint64_t bad_off = 0;
        mv_ix_pack p;
        c->rep->packs++;
        c->pack = id;
        c->live_bytes = c->live_entries = 0;
        rc = BLOB(s)->iterate(s->blob, id, c->ixp.size[i], MV_STORE_MAX_BLOCK, chk_entry, c,
                              &bad_off);
        if (rc == MV_ERR_NOT_FOUND) {
            c->rep->missing++;
            problem(c, "pack %08" PRIu32 " named by the index is missing", id);
            continue;
        }
        if (rc == MV_ERR_PARSE) {
            c->rep->bad_entries++;
            problem(c, "pack %08" PRIu32 ": framing broken at offset %" PRIu64, id, bad_off);
            continue;
        }
        if (rc != MV_OK)
            return rc;
        if ((rc = IX(s)->pack_get(c->t, id, &p)) != MV_OK)
            return rc;
        if (p.live_bytes != c->live_bytes || p.live_entries != c->live_entries) {
            c->rep->refcount_errors++;
            problem(c, "pack %08" PRIu32 ": live accounting %" PRIu64 " bytes in %" PRIu64
                    " entries, found %" PRIu64 " in %" PRIu64, id, p.live_bytes,
                    p.live_entries, c->live_bytes, c->live_entries);
        }
    }
    return MV_OK;
}

mv_err mv_store_check(mv_store *s, mv_store_check_report *rep, mv_store_problem_fn fn, void *ctx)
{
    chk *c = NULL;
    mv_ix_stats st;
    mv_err rc;
    if (!s || !rep)
        return MV_ERR_INVAL;
    memset(rep, 0, sizeof *rep);
    if (!(c = mv_calloc(1, sizeof *c)))
        return MV_ERR_NOMEM;
    c->s = s;
    c->rep = rep;
    c->fn = fn;
    c->ctx = ctx;
    pthread_mutex_lock(&s->gc_mu);
    /* Snapshot and file list agree only if no writer is between its pack write and commit. */
    pthread_mutex_lock(&s->write_mu);
    if ((rc = IX(s)->begin(s->ix, 0, &c->t)) == MV_OK)
        rc = list_packs(s, c->t, &c->ixp, &c->files);
    pthread_mutex_unlock(&s->write_mu);
    if (rc != MV_OK)
        goto out;
    if ((rc = IX(s)->seg_iter(c->t, chk_seg_cb, c)) != MV_OK ||
        (rc = IX(s)->set_iter(c->t, chk_set_cb, c)) != MV_OK)
        goto out;
    rc = MV_ERR_NOMEM;
    if (!(c->by_loc = mv_mallocarray(c->nsegs ? c->nsegs : 1, sizeof *c->by_loc)))
        goto out;
    for (size_t i = 0; i < c->nsegs; i++)
        c->by_loc[i] = &c->segs[i];
    qsort(c->by_loc, c->nsegs, sizeof *c->by_loc, cmp_seg_loc);
    if ((rc = IX(s)->record_iter(c->t, chk_record, c)) != MV_OK ||
        (rc = check_packs(c)) != MV_OK ||
        (rc = IX(s)->block_iter(c->t, chk_block, c)) != MV_OK)
        goto out;
    if (c->matched != c->blocks && (rc = IX(s)->block_iter(c->t, chk_locate, c)) != MV_OK)
        goto out;
    if ((rc = IX(s)->zero_iter(c->t, chk_zero, c)) != MV_OK ||
        (rc = IX(s)->token_iter(c->t, chk_token, c)) != MV_OK ||
        (rc = IX(s)->claim_iter(c->t, chk_claim, c)) != MV_OK ||
        (rc = IX(s)->set_reader_iter(c->t, NULL, chk_set_reader, c)) != MV_OK ||
        (rc = IX(s)->set_record_iter(c->t, NULL, 0, chk_set_record, c)) != MV_OK)
        goto out;
    for (size_t i = 0; i < c->nsegs; i++) {
        const struct chk_seg *g = &c->segs[i];
        if (!g->found) {
            rep->missing++;
            problem(c, "envelope segment %" PRIu64 " at pack %08" PRIu32 " offset %" PRIu64
                    " has no matching pack entry", g->id, g->g.pack, g->g.off);
        }
        if (g->records != g->g.live_records || g->bytes != g->g.live_bytes) {
            rep->refcount_errors++;
            problem(c, "envelope segment %" PRIu64 ": %" PRIu64 " live records of %" PRIu64
                    " bytes, records say %" PRIu64 " of %" PRIu64, g->id, g->g.live_records,
                    g->g.live_bytes, g->records, g->bytes);
        }
    }
    for (size_t i = 0; i < c->nsets; i++) {
        const struct chk_set *cs = &c->sets[i];
        if (cs->listed != cs->records) {
            rep->refcount_errors++;
            problem(c, "access set %" PRIu32 ": %" PRIu64 " records name it, %" PRIu64
                    " listed under it", cs->id, cs->records, cs->listed);
        }
    }
    if (c->set_readers_ok != c->set_readers_total) {
        rep->missing++;
        problem(c, "%" PRIu64 " readers of access sets have no reader entry",
                c->set_readers_total - c->set_readers_ok);
    }
    if (c->zero_ok != c->zero_blocks) {
        rep->refcount_errors++;
        problem(c, "the zero-reference set misses %" PRIu64 " blocks",
                c->zero_blocks - c->zero_ok);
    }
    if ((rc = IX(s)->stats_get(c->t, NULL, &st)) != MV_OK)
        goto out;
    uint64_t pack_bytes = 0;
    for (size_t i = 0; i < c->ixp.n; i++)
        pack_bytes += c->ixp.size[i];
    chk_counter(c, "records", st.records, c->records);
    chk_counter(c, "blocks", st.blocks, c->blocks);
    chk_counter(c, "block bytes", st.block_bytes, c->block_bytes);
    chk_counter(c, "envelope bytes", st.envelope_bytes, c->env_bytes);
    chk_counter(c, "pack bytes", st.pack_bytes, pack_bytes);
    chk_counter(c, "logical bytes", st.logical, c->logical);
    chk_counter(c, "physical bytes", st.physical, c->env_bytes + c->ref_block_bytes);
out:
    if (c->t)
        IX(s)->abort(c->t);
    pthread_mutex_unlock(&s->gc_mu);
    pl_free(&c->ixp);
    pl_free(&c->files);
    mv_free(c->refs.keys);
    mv_free(c->refs.cnt);
    mv_free(c->segs);
    mv_free(c->by_loc);
    mv_free(c->sets);
    mv_free(c);
    return rc;
}

/* ---------------------------------------------------------------------- test hooks ---- */

uint64_t mv_store_test_fsyncs(mv_store *s) { return atomic_load(&s->n_fsyncs); }
uint64_t mv_store_test_commits(mv_store *s) { return atomic_load(&s->n_commits); }
uint64_t mv_store_test_batches(mv_store *s) { return atomic_load(&s->n_batches); }

uint32_t mv_store_test_current_pack(mv_store *s)
{
    pthread_mutex_lock(&s->write_mu);
    uint32_t p = s->cur_pack;
    pthread_mutex_unlock(&s->write_mu);
    return p;
}
