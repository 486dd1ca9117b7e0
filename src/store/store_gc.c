/* store_gc.c - garbage collection: drop expired claims, unreferenced blocks and unnamed access
 * sets, then copy each dirty pack's live entries forward and unlink it. */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"

/* ---------------------------------------------------------------------------- gc ---- */

#define GC_STAGE ((size_t)4 << 20) /* bytes of live entries gc copies per write */

typedef struct tag_list {
    uint8_t *v;
    size_t n, cap;
} tag_list;

static mv_err tag_list_add(void *ctx, const uint8_t *tag)
{
    tag_list *l = ctx;
    mv_err rc = mv_array_grow(&l->v, &l->cap, l->n, 32, 64);
    if (rc == MV_OK)
        memcpy(l->v + 32 * l->n++, tag, 32);
    return rc;
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
        qsort(named.v, named.n, sizeof *named.v, store_cmp_u32);
    for (size_t i = 0; i < all.n; i++)
        if (!named.n || !bsearch(&all.v[i], named.v, named.n, sizeof *named.v, store_cmp_u32))
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
    if ((rc = store_deltas_apply(s, t, &d)) != MV_OK)
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
    store_deltas_free(&d);
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
    uint8_t *stage; /* data of queued entries, until store_wr_flush */
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
    if (e->g.len != len || !store_seg_hdr_ok(data, len))
        return MV_ERR_VERIFY;
    if ((rc = mv_sha256(h, data, len)) != MV_OK)
        return rc;
    if (memcmp(h, tag, 32) != 0)
        return MV_ERR_VERIFY; /* never copy corruption forward; check will name it */
    if (c->buf_bytes > GC_STAGE) {
        if ((rc = store_wr_flush(c->w)) != MV_OK)
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
                size_t at = (size_t)(sp->off + sp->len), n = store_refs_len(data + at, len - at, sp->n_tags);
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
    if ((rc = store_wr_add(c->w, sb->tag, sb->buf.ptr, sb->buf.len, &e->new_pack, &e->new_off)) !=
        MV_OK)
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
        if ((rc = store_wr_flush(c->w)) != MV_OK)
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
    if ((rc = store_wr_add(c->w, tdst, dst, len, &m->pack, &m->off)) != MV_OK)
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
        if (rc != MV_OK || (rc = store_wr_sync(&w)) != MV_OK)
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
        store_wr_mark_live(&w, c.mv[i].pack, OVERHEAD + c.mv[i].len);
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
        store_wr_mark_live(&w, g.pack, OVERHEAD + g.len);
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
    if ((rc = store_wr_apply(&w, t, &d)) != MV_OK || (rc = store_deltas_apply(s, t, &d)) != MV_OK)
        goto out;
    if ((rc = store_wr_commit(&w, &t)) != MV_OK)
        goto out;
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
    store_wr_finish(&w, t);
    mv_free(c.stage);
    mv_free(c.tags);
    mv_free(c.mv);
    gc_bufs_free(&c);
    mv_free(c.bufs);
    mv_free(c.segs);
    mv_free(c.spans);
    store_wr_free(&w);
    store_deltas_free(&d);
    return rc;
}

static mv_err dirty_pack_cb(void *ctx, uint32_t pack, const mv_ix_pack *p)
{
    return p->end != p->live_bytes ? store_pl_add(ctx, pack, p->end) : MV_OK;
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
    store_pl_free(&dirty);
    return rc;
}
