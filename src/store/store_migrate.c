/* store_migrate.c - bringing an index of format 0, 1 or 2 up to format 3 at open, in batches
 * that each commit, so a crash mid-way resumes where it stopped. */
#include <inttypes.h>
#include <string.h>

#include "store_internal.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"

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
            store_make_set(lg.owner, lg.patient, lg.episode, lg.dept, lg.readers, lg.n_readers, st) !=
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
        if ((rc = store_block_refs(s, t, tags, lg.n_tags, refs, &nrefs)) != MV_OK ||
            (rc = store_sb_add(&sb, refs, nrefs, env, (size_t)rec.envelope_len, &rec.seg,
                               &rec.off)) != MV_OK ||
            (rc = store_set_acquire(s, t, st, &rec.set)) != MV_OK ||
            (rc = store_sb_member(&sb, id, &rec)) != MV_OK)
            goto out;
        memcpy(after, id, 16);
        *started = 1;
        n++;
    }
    if ((rc = store_sb_index(s, &sb, t)) != MV_OK ||
        (rc = store_sb_write(s, &sb, &w, t)) != MV_OK ||
        (rc = store_wr_apply(&w, t, &d)) != MV_OK || (rc = store_deltas_apply(s, t, &d)) != MV_OK)
        goto out;
    if (*done && (rc = IX(s)->legacy_finish(t)) != MV_OK)
        goto out;
    if ((rc = store_wr_commit(&w, &t)) != MV_OK)
        goto out;
    *moved += n;
out:
    store_wr_finish(&w, t);
    store_sb_free(&sb);
    store_wr_free(&w);
    store_deltas_free(&d);
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
 * then marked format 3. *format receives the format found. store_migrate then converts
 * format-1 records. Every step is one transaction, so a crash leaves a store the next open
 * carries on with. */
mv_err store_fold(mv_store *s, uint32_t *format)
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
mv_err store_migrate(mv_store *s, uint32_t format)
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
