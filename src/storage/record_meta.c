/* record_meta.c - the record metadata JSON of the storage server's answers, written once for
 * the primary and the decoy cloud: a decoy answer that differed from the primary's in one byte
 * (a format specifier, a field order, a rounding) would tell an attacker which cloud he is
 * talking to. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_json.h"
#include "record_meta.h"

/* The member key: hex of p[0..n), or "" when it is all zero (no patient / no episode). */
static void hex_or_empty(mv_jw *w, const char *key, const uint8_t *p, size_t n)
{
    if (sodium_is_zero(p, n))
        mv_jw_kstr(w, key, "");
    else
        mv_jw_khex(w, key, p, n);
}

mv_err storage_set_record_headers(mv_http_response *resp, const uint8_t owner[32], const uint8_t patient[32],
                                  const uint8_t episode[16])
{
    char h[65];
    if (mv_hex_encode(h, sizeof h, owner, 32) != MV_OK || mv_http_response_header(resp, "MV-Record-Owner", h) != MV_OK)
        return MV_ERR_INVAL;
    if (!sodium_is_zero(patient, 32) && (mv_hex_encode(h, sizeof h, patient, 32) != MV_OK ||
                                         mv_http_response_header(resp, "MV-Record-Patient", h) != MV_OK))
        return MV_ERR_INVAL;
    if (!sodium_is_zero(episode, 16) && (mv_hex_encode(h, sizeof h, episode, 16) != MV_OK ||
                                         mv_http_response_header(resp, "MV-Record-Episode", h) != MV_OK))
        return MV_ERR_INVAL;
    return MV_OK;
}

void storage_listing_entry_of(const mv_store_record_info *info, storage_listing_entry *e)
{
    memset(e, 0, sizeof *e);
    memcpy(e->id, info->id, 16);
    memcpy(e->owner, info->owner, 32);
    memcpy(e->patient, info->patient, 32);
    memcpy(e->episode, info->episode, 16);
    snprintf(e->dept, sizeof e->dept, "%s", info->dept);
    e->created = info->created;
    e->envelope_len = info->envelope_len;
    e->logical_bytes = info->logical_bytes;
    e->n_tags = info->n_tags;
}

void storage_info_of_shape(const mv_decoy_shape *s, mv_store_record_info *info)
{
    memset(info, 0, sizeof *info);
    memcpy(info->id, s->id, 16);
    memcpy(info->owner, s->owner, 32);
    memcpy(info->patient, s->patient, 32);
    memcpy(info->episode, s->episode, 16);
    snprintf(info->dept, sizeof info->dept, "%s", s->department);
    info->created = s->created;
    info->envelope_len = s->env_len;
    info->logical_bytes = mv_decoy_shape_bytes(s); /* envelope + blocks, as the store counts it */
    info->n_tags = s->n_blocks;
}

static int list_cmp(const void *a, const void *b)
{
    const storage_listing_entry *x = a, *y = b;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    return memcmp(x->id, y->id, 16);
}

mv_err storage_write_listing(mv_buf *b, storage_listing_entry *v, size_t n)
{
    mv_jw w;
    if (n)
        qsort(v, n, sizeof *v, list_cmp);
    mv_jw_init(&w, b);
    mv_jw_obj(&w);
    mv_jw_key(&w, "records");
    mv_jw_arr(&w);
    for (size_t i = 0; i < n; i++) {
        const storage_listing_entry *e = &v[i];
        mv_jw_obj(&w);
        mv_jw_khex(&w, "id", e->id, 16);
        mv_jw_khex(&w, "owner", e->owner, 32);
        hex_or_empty(&w, "patient", e->patient, 32);
        hex_or_empty(&w, "episode", e->episode, 16);
        mv_jw_kstr(&w, "department", e->dept);
        mv_jw_ku64(&w, "created", e->created);
        mv_jw_ku64(&w, "envelope_bytes", e->envelope_len);
        mv_jw_ku64(&w, "logical_bytes", e->logical_bytes);
        mv_jw_ku64(&w, "blocks", e->n_tags);
        mv_jw_obj_end(&w);
    }
    mv_jw_arr_end(&w);
    mv_jw_obj_end(&w);
    return mv_jw_finish(&w);
}

mv_err storage_write_access(mv_buf *b, const mv_store_record_info *info)
{
    mv_jw w;
    mv_jw_init(&w, b);
    mv_jw_obj(&w);
    mv_jw_khex(&w, "id", info->id, 16);
    mv_jw_khex(&w, "owner", info->owner, 32);
    hex_or_empty(&w, "patient", info->patient, 32);
    hex_or_empty(&w, "episode", info->episode, 16);
    mv_jw_key(&w, "department");
    mv_jw_strn(&w, info->dept, strnlen(info->dept, sizeof info->dept));
    mv_jw_ku64(&w, "created", info->created);
    mv_jw_key(&w, "readers");
    mv_jw_arr(&w);
    for (size_t i = 0; i < info->n_readers && i < MV_STORE_MAX_READERS; i++)
        mv_jw_hex(&w, info->readers[i], 32);
    mv_jw_arr_end(&w);
    mv_jw_obj_end(&w);
    return mv_jw_finish(&w);
}

/* The savings member: 1 - physical/logical with exactly 4 decimals (0 when nothing is
 * stored), a fixed format the decoy mirrors, so it goes in preformatted. */
static void savings(mv_jw *w, uint64_t logical, uint64_t physical)
{
    char num[32];
    double v = logical ? 1.0 - (double)physical / (double)logical : 0.0;
    if (fabs(v) < 0.00005)
        v = 0.0;
    int len = snprintf(num, sizeof num, "%.4f", v);
    mv_jw_key(w, "savings");
    mv_jw_raw(w, num, len > 0 && (size_t)len < sizeof num ? (size_t)len : 0);
}

mv_err storage_write_stats(mv_buf *b, const mv_store_stats *st)
{
    /* physical_bytes: everything the store keeps on disk (packs and index), so savings is
     * what the cloud bill sees; data_bytes: what physical_bytes meant before (envelopes and
     * referenced blocks). */
    mv_jw w;
    mv_jw_init(&w, b);
    mv_jw_obj(&w);
    mv_jw_ku64(&w, "records", st->records);
    mv_jw_ku64(&w, "blocks", st->blocks);
    mv_jw_ku64(&w, "logical_bytes", st->logical_bytes);
    mv_jw_ku64(&w, "physical_bytes", st->physical_bytes);
    mv_jw_ku64(&w, "data_bytes", st->data_bytes);
    mv_jw_ku64(&w, "pack_bytes", st->pack_bytes);
    mv_jw_ku64(&w, "index_bytes", st->index_bytes);
    mv_jw_ku64(&w, "envelope_bytes", st->envelope_bytes);
    mv_jw_ku64(&w, "block_bytes", st->block_bytes);
    savings(&w, st->logical_bytes, st->physical_bytes);
    mv_jw_key(&w, "departments");
    mv_jw_obj(&w);
    for (size_t i = 0; i < st->n_depts && i < sizeof st->depts / sizeof st->depts[0]; i++) {
        const mv_store_dept_stats *d = &st->depts[i];
        char dept[sizeof d->dept + 1];
        /* A key is NUL-terminated; the field need not be. */
        memcpy(dept, d->dept, sizeof d->dept);
        dept[strnlen(d->dept, sizeof d->dept)] = 0;
        mv_jw_key(&w, dept);
        mv_jw_obj(&w);
        mv_jw_ku64(&w, "records", d->records);
        mv_jw_ku64(&w, "logical_bytes", d->logical_bytes);
        mv_jw_ku64(&w, "physical_bytes", d->physical_bytes);
        mv_jw_ku64(&w, "dedup_hits", d->dedup_hits);
        savings(&w, d->logical_bytes, d->physical_bytes);
        mv_jw_obj_end(&w);
    }
    mv_jw_obj_end(&w);
    mv_jw_obj_end(&w);
    return mv_jw_finish(&w);
}

void storage_results_open(mv_jw *w, mv_buf *b)
{
    mv_jw_init(w, b);
    mv_jw_obj(w);
    mv_jw_key(w, "results");
    mv_jw_arr(w);
}

mv_err storage_results_close(mv_jw *w)
{
    mv_jw_arr_end(w);
    mv_jw_obj_end(w);
    return mv_jw_finish(w);
}

void storage_result_status(mv_jw *w, const uint8_t *id, const char *status)
{
    mv_jw_obj(w);
    if (id)
        mv_jw_khex(w, "id", id, 16);
    mv_jw_kstr(w, "status", status);
    mv_jw_obj_end(w);
}

void storage_result_absent(mv_jw *w)
{
    mv_jw_obj(w);
    mv_jw_kbool(w, "exists", 0);
    mv_jw_obj_end(w);
}
