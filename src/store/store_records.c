/* store_records.c - records: envelopes packed into segments, access sets, and the record
 * calls of mv_store.h (put, get, list, delete, change of readers). */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"

/* ----------------------------------------------------------------------- records ---- */

static const uint8_t seg_magic[SEG_HDR] = {'M', 'V', 'S', SEG_VERSION};

int store_seg_hdr_ok(const uint8_t *d, size_t len)
{
    return len >= SEG_HDR && memcmp(d, seg_magic, 3) == 0 && (d[3] == 1 || d[3] == 2);
}

/* Bytes of a record's ids: n varints at p[0..len); 0 when they do not parse. */
size_t store_refs_len(const uint8_t *p, size_t len, uint64_t n)
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
mv_err store_make_set(const uint8_t *owner, const uint8_t *patient, const uint8_t *episode,
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
mv_err store_set_acquire(mv_store *s, mv_itxn *t, mv_ix_set *st, uint32_t *id)
{
    mv_err rc = IX(s)->set_find(t, st, id);
    if (rc != MV_ERR_NOT_FOUND)
        return rc;
    if ((rc = IX(s)->set_next_id(t, id)) != MV_OK)
        return rc;
    return IX(s)->set_put(t, *id, st);
}

mv_err store_sb_member(seg_build *b, const uint8_t *id, const mv_ix_record *rec)
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
mv_err store_sb_index(mv_store *s, seg_build *b, mv_itxn *t)
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
mv_err store_sb_add(seg_build *b, const uint8_t *refs, size_t refs_len, const uint8_t *env,
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
mv_err store_sb_write(mv_store *s, seg_build *b, wr *w, mv_itxn *t)
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
            (rc = store_wr_add(w, tags[i], d->ptr, d->len, &packs[i], &offs[i])) != MV_OK)
            goto out;
    }
    if ((rc = store_wr_sync(w)) != MV_OK)
        goto out;
    for (size_t i = 0; i < b->n; i++) {
        const mv_buf *d = &b->v[i].buf;
        mv_ix_seg g = {packs[i], offs[i], (uint32_t)d->len, b->v[i].records, d->len - SEG_HDR};
        if ((rc = IX(s)->seg_put(t, b->base + i, &g)) != MV_OK)
            goto out;
        store_wr_mark_live(w, packs[i], OVERHEAD + d->len);
    }
    rc = MV_OK;
out:
    mv_free(tags);
    mv_free(packs);
    mv_free(offs);
    return rc;
}

void store_sb_free(seg_build *b)
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
mv_err store_read_refs(mv_store *s, mv_itxn *t, const mv_ix_record *r, uint8_t **tags,
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
mv_err store_block_refs(mv_store *s, mv_itxn *t, const uint8_t *tags, size_t n, uint8_t *refs,
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
    if (!store_dept_ok(r->dept) || r->envelope_len > MV_STORE_MAX_ENVELOPE ||
        (r->envelope_len && !r->envelope) || r->n_tags > MV_STORE_MAX_TAGS ||
        (r->n_tags && !r->tags))
        return MV_OK;
    if (all_zero(r->patient, 32) && !all_zero(r->episode, 16))
        return MV_OK;
    if (!(st = mv_malloc(sizeof *st)))
        return MV_ERR_NOMEM;
    if (store_make_set(r->owner, r->patient, r->episode, r->dept, r->readers, r->n_readers, st) != MV_OK)
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
    mv_ix_stats *ds = store_delta_dept(d, r->dept);
    rc = MV_ERR_NOMEM;
    if (!ds || (r->n_tags && !(refs = mv_mallocarray(r->n_tags, REF_MAX))))
        goto out;
    for (size_t i = 0; i < r->n_tags; i++) {
        if ((rc = IX(s)->block_get(t, r->tags + 32 * i, &b)) != MV_OK)
            goto out;
        if (b.refs++ == 0) {
            mv_ix_stats *fs = store_delta_dept(d, b.dept);
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
    ds = store_delta_dept(d, r->dept); /* the array may have moved */
    if (!ds)
        goto nomem;
    memset(&rec, 0, sizeof rec);
    if ((rc = store_set_acquire(s, t, st, &rec.set)) != MV_OK ||
        (rc = store_sb_add(sb, refs, nrefs, r->envelope, r->envelope_len, &rec.seg, &rec.off)) !=
            MV_OK)
        goto out;
    rec.ids = 1;
    rec.created = now;
    rec.logical = logical;
    rec.n_tags = r->n_tags;
    rec.envelope_len = r->envelope_len;
    if ((rc = store_sb_member(sb, r->id, &rec)) != MV_OK) /* written by store_sb_index */
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
    if ((rc = store_sb_index(s, &sb, t)) != MV_OK ||
        (rc = store_sb_write(s, &sb, &w, t)) != MV_OK ||
        (rc = store_wr_apply(&w, t, &d)) != MV_OK || (rc = store_deltas_apply(s, t, &d)) != MV_OK)
        goto out;
    if ((rc = store_wr_commit(&w, &t)) != MV_OK)
        goto out;
out:
    store_wr_finish(&w, t);
    pthread_mutex_unlock(&s->write_mu);
    mv_free(order);
    store_sb_free(&sb);
    store_wr_free(&w);
    store_deltas_free(&d);
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

/* Record id and its access set in t. A set the record names but the index lacks is
 * corruption: MV_ERR_PARSE, not the MV_ERR_NOT_FOUND of a missing record. */
static mv_err record_with_set(mv_store *s, mv_itxn *t, const uint8_t *id, mv_ix_record *r,
                              mv_ix_set *st)
{
    mv_err rc = IX(s)->record_get(t, id, r);
    if (rc == MV_OK && (rc = IX(s)->set_get(t, r->set, st)) == MV_ERR_NOT_FOUND)
        rc = MV_ERR_PARSE;
    return rc;
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
    if ((rc = record_with_set(s, t, id, &r, st)) != MV_OK)
        goto out;
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
    if (k && (rc = store_read_refs(s, t, &r, &all, NULL)) != MV_OK)
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
    /* ids and sets share c->cap, which moves only once both have grown (see store_pl_add). */
    size_t ci = c->cap, cs = c->cap;
    if ((*rc = mv_array_grow(&c->ids, &ci, c->n, sizeof *c->ids, 8)) != MV_OK ||
        (*rc = mv_array_grow(&c->sets, &cs, c->n, sizeof *c->sets, 8)) != MV_OK)
        return NULL;
    c->cap = ci;
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

int store_cmp_u32(const void *a, const void *b)
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
    qsort(l->sets, l->n_sets, sizeof *l->sets, store_cmp_u32);
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
    if ((rc = record_with_set(s, t, id, &r, st)) != MV_OK)
        goto out;
    /* The blocks are named next to the envelope: read them back to drop the references. */
    uint64_t span = 0;
    if ((rc = store_read_refs(s, t, &r, &tags, &span)) != MV_OK)
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
            mv_ix_stats *fs = store_delta_dept(&d, b.dept);
            rc = MV_ERR_NOMEM;
            if (!fs)
                goto out;
            fs->physical -= b.len;
            d.total.physical -= b.len;
        }
        if ((rc = IX(s)->block_put(t, tags + 32 * i, &b)) != MV_OK)
            goto out;
    }
    mv_ix_stats *ds = store_delta_dept(&d, st->dept);
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
    if ((rc = store_deltas_apply(s, t, &d)) != MV_OK)
        goto out;
    rc = IX(s)->commit(t);
    t = NULL;
out:
    if (t)
        IX(s)->abort(t);
    pthread_mutex_unlock(&s->write_mu);
    mv_free(tags);
    mv_free(st);
    store_deltas_free(&d);
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
    if ((rc = record_with_set(s, t, id, &r, st)) != MV_OK)
        goto out;
    if (patient) {
        if (!all_zero(st->patient, 32)) {
            rc = MV_ERR_EXISTS;
            goto out;
        }
        memcpy(st->patient, patient, 32);
    }
    if ((rc = store_make_set(st->owner, st->patient, st->episode, st->dept, readers, n, ns)) != MV_OK)
        goto out;
    if ((rc = store_set_acquire(s, t, ns, &r.set)) != MV_OK)
        goto out;
    if (envelope) {
        /* A new envelope goes to a new segment with the record's block ids (a record of
         * format 2 is rewritten with ids); the old bytes stay dead in their segment until gc. */
        mv_ix_stats *ds = store_delta_dept(&d, st->dept);
        rc = MV_ERR_NOMEM;
        if (!ds || (r.n_tags && !(refs = mv_mallocarray((size_t)r.n_tags, REF_MAX))))
            goto out;
        if ((rc = store_read_refs(s, t, &r, &tags, &span)) != MV_OK ||
            (rc = seg_drop(s, t, r.seg, span)) != MV_OK ||
            (rc = store_block_refs(s, t, tags, (size_t)r.n_tags, refs, &nrefs)) != MV_OK ||
            (rc = IX(s)->seg_next_id(t, &sb.base)) != MV_OK ||
            (rc = store_sb_add(&sb, refs, nrefs, envelope, envelope_len, &r.seg, &r.off)) !=
                MV_OK ||
            (rc = store_sb_write(s, &sb, &w, t)) != MV_OK ||
            (rc = store_wr_apply(&w, t, &d)) != MV_OK)
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
    if ((rc = IX(s)->record_put(t, id, &r)) != MV_OK || (rc = store_deltas_apply(s, t, &d)) != MV_OK)
        goto out;
    if ((rc = store_wr_commit(&w, &t)) != MV_OK)
        goto out;
out:
    store_wr_finish(&w, t);
    pthread_mutex_unlock(&s->write_mu);
    store_sb_free(&sb);
    store_wr_free(&w);
    mv_free(tags);
    mv_free(refs);
    mv_free(st);
    mv_free(ns);
    store_deltas_free(&d);
    return rc;
}
