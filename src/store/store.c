/* store.c - the storage engine: a block's bytes are verified against its tag and durable in a
 * pack before the index names it, so the index never points at data that is not there. */
#include "medvault/mv_store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_internal.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_file.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"

#define DEFAULT_PACK_TARGET ((size_t)64 << 20)
#define DEFAULT_MAP_SIZE ((size_t)64 << 30)
#define DEFAULT_CLAIM_TTL 3600
/* LMDB's own default. The lock file holds 64 bytes per reader slot: at 1024 slots it was
 * 64 KiB, more than a 500-record store's whole index. */
#define DEFAULT_MAX_READERS 126
#define MAX_READERS_CAP 65536

int store_dept_ok(const char *d)
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

/* Truncates every pack to its committed end and deletes pack files the index does not know. */
static mv_err recover(mv_store *s)
{
    pack_list ixp = {0}, files = {0};
    mv_itxn *t = NULL;
    uint32_t max_id = 0;
    mv_err rc;
    if ((rc = IX(s)->begin(s->ix, 0, &t)) != MV_OK)
        return rc;
    rc = store_list_packs(s, t, &ixp, &files);
    IX(s)->abort(t);
    if (rc != MV_OK)
        goto out;
    for (size_t i = 0; i < files.n; i++) {
        uint32_t id = files.id[i];
        long k = store_pl_find(&ixp, id);
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
    store_pl_free(&ixp);
    store_pl_free(&files);
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
    if ((rc = store_fold(s, &format)) != MV_OK)
        goto out;
    if ((rc = mv_path_join(path, sizeof path, dir, "packs")) != MV_OK ||
        (rc = mv_file_mkdir(path, 0700)) != MV_OK ||
        (rc = mv_blob_file_open(path, &s->blob)) != MV_OK)
        goto out;
    if ((rc = recover(s)) != MV_OK)
        goto out;
    if ((rc = init_locks(s)) != MV_OK)
        goto out;
    if ((rc = store_migrate(s, format)) != MV_OK)
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
            if (!store_delta_dept(d, it->dept)) /* every department that stores shows in stats */
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
                store_wr_mark_live(w, n->pack, OVERHEAD + n->len);
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
                mv_ix_stats *ds = store_delta_dept(d, it->dept);
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
        if ((rc = store_wr_add(&w, nb[i].tag, nb[i].data, nb[i].len, &nb[i].pack, &nb[i].off)) !=
            MV_OK)
            goto out;
    if ((rc = store_wr_sync(&w)) != MV_OK)
        goto out;
    /* Phase C: the index transaction that makes it all visible. */
    if ((rc = IX(s)->begin(s->ix, 1, &t)) != MV_OK)
        goto out;
    uint64_t now = (uint64_t)time(NULL);
    for (put_req *r = head; r; r = r->next)
        if (r->rc == MV_OK && (rc = group_apply_req(s, t, r, nb, nnb, &w, &d, now)) != MV_OK)
            goto out;
    if ((rc = store_wr_apply(&w, t, &d)) != MV_OK || (rc = store_deltas_apply(s, t, &d)) != MV_OK)
        goto out;
    if ((rc = store_wr_commit(&w, &t)) != MV_OK)
        goto out;
    atomic_fetch_add(&s->n_commits, 1);
    atomic_fetch_add(&s->n_batches, batches);
out:
    store_wr_finish(&w, t);
    if (rc != MV_OK)
        for (put_req *r = head; r; r = r->next)
            r->rc = rc;
    pthread_mutex_unlock(&s->write_mu);
    for (put_req *r = head; r; r = r->next)
        if (r->rc != MV_OK && r->out)
            memset(r->out, 0, r->n * sizeof *r->out);
    store_wr_free(&w);
    store_deltas_free(&d);
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
        if (!store_dept_ok(in[i].dept))
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
    if (!store_dept_ok(dept))
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
