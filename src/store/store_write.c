/* store_write.c - what every mutating path of the store shares: the counters' deltas applied
 * in the index transaction, the pack writer (nothing it writes is visible until that
 * transaction commits), and the lists of packs that recovery, gc and check walk. */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "medvault/mv_mem.h"

/* ---------------------------------------------------------------- stats deltas ---- */

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

mv_ix_stats *store_delta_dept(deltas *d, const char *dept)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i].dept, dept) == 0)
            return &d->v[i].d;
    if (mv_array_grow(&d->v, &d->cap, d->n, sizeof *d->v, 4) != MV_OK)
        return NULL;
    dept_delta *e = &d->v[d->n++];
    memset(e, 0, sizeof *e);
    memcpy(e->dept, dept, strlen(dept) + 1);
    return &e->d;
}

mv_err store_deltas_apply(mv_store *s, mv_itxn *t, const deltas *d)
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

void store_deltas_free(deltas *d) { mv_free(d->v); }

/* ------------------------------------------------------------------ pack writer ---- */

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

mv_err store_wr_flush(wr *w)
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

mv_err store_wr_add(wr *w, const uint8_t *tag, const uint8_t *data, size_t len, uint32_t *pack,
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
        if ((rc = store_wr_flush(w)) != MV_OK || (rc = wr_push(w, s->next_pack++, 0, 1)) != MV_OK)
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

mv_err store_wr_sync(wr *w)
{
    mv_err rc;
    if ((rc = store_wr_flush(w)) != MV_OK)
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

void store_wr_mark_live(wr *w, uint32_t pack, uint64_t bytes)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->packs[i].pack == pack) {
            w->packs[i].live_bytes += bytes;
            w->packs[i].live_entries++;
            return;
        }
}

/* Records the new ends and live bytes of the touched packs in transaction t. */
mv_err store_wr_apply(wr *w, mv_itxn *t, deltas *d)
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

mv_err store_wr_commit(wr *w, mv_itxn **t)
{
    mv_err rc = IX(w->s)->commit(*t);
    *t = NULL; /* a failed commit has ended the transaction too */
    if (rc == MV_OK) {
        w->committed = 1;
        wr_done(w);
    }
    return rc;
}

void store_wr_finish(wr *w, mv_itxn *t)
{
    if (t)
        IX(w->s)->abort(t);
    if (!w->committed)
        wr_fail(w);
}

void store_wr_free(wr *w)
{
    mv_free(w->packs);
    mv_free(w->pend);
}

/* ------------------------------------------------------------------ pack lists ---- */

mv_err store_pl_add(pack_list *l, uint32_t id, uint64_t size)
{
    /* Two arrays share l->cap, which moves only once both have grown: if the second fails,
     * the first is merely larger than l->cap says. */
    size_t ci = l->cap, cs = l->cap;
    mv_err rc;
    if ((rc = mv_array_grow(&l->id, &ci, l->n, sizeof *l->id, 16)) != MV_OK ||
        (rc = mv_array_grow(&l->size, &cs, l->n, sizeof *l->size, 16)) != MV_OK)
        return rc;
    l->cap = ci;
    l->id[l->n] = id;
    l->size[l->n++] = size;
    return MV_OK;
}

void store_pl_free(pack_list *l)
{
    mv_free(l->id);
    mv_free(l->size);
}

/* Index of id in l (sorted by id), or -1. */
long store_pl_find(const pack_list *l, uint32_t id)
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
    return store_pl_add(ctx, pack, p->end);
}

static mv_err pl_blob_cb(void *ctx, uint32_t pack, uint64_t size)
{
    return store_pl_add(ctx, pack, size);
}

/* Index packs (in id order, from t) and pack files. */
mv_err store_list_packs(mv_store *s, mv_itxn *t, pack_list *ixp, pack_list *files)
{
    mv_err rc = IX(s)->pack_iter(t, pl_ix_cb, ixp);
    if (rc == MV_OK && files)
        rc = BLOB(s)->list(s->blob, pl_blob_cb, files);
    return rc;
}
