/* store_check.c - the integrity check: every pack entry against its tag, and every index
 * table, reference count and counter against what the packs and the other tables hold. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_mem.h"

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
    rc = store_read_refs(c->s, c->t, r, &tags, &bytes);
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
        if (g->g.len != len || !store_seg_hdr_ok(data, len)) {
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
    long k = store_pl_find(&c->ixp, b->pack);
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
        if (store_pl_find(&c->ixp, c->files.id[i]) < 0) {
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
        rc = store_list_packs(s, c->t, &c->ixp, &c->files);
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
    store_pl_free(&c->ixp);
    store_pl_free(&c->files);
    mv_free(c->refs.keys);
    mv_free(c->refs.cnt);
    mv_free(c->segs);
    mv_free(c->by_loc);
    mv_free(c->sets);
    mv_free(c);
    return rc;
}
