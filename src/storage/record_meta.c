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

/* Appends hex of p[0..n), or "" when it is all zero (no patient / no episode), as JSON. */
static mv_err write_hex_or_empty(mv_buf *b, const uint8_t *p, size_t n)
{
    return sodium_is_zero(p, n) ? mv_buf_puts(b, "\"\"") : mv_json_write_hex(b, p, n);
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
    if (n)
        qsort(v, n, sizeof *v, list_cmp);
    mv_err rc = mv_buf_puts(b, "{\"records\":[");
    for (size_t i = 0; rc == MV_OK && i < n; i++) {
        const storage_listing_entry *e = &v[i];
        rc = mv_buf_puts(b, i ? ",{\"id\":" : "{\"id\":");
        if (rc == MV_OK)
            rc = mv_json_write_hex(b, e->id, 16);
        if (rc == MV_OK)
            rc = mv_buf_puts(b, ",\"owner\":");
        if (rc == MV_OK)
            rc = mv_json_write_hex(b, e->owner, 32);
        if (rc == MV_OK)
            rc = mv_buf_puts(b, ",\"patient\":");
        if (rc == MV_OK)
            rc = write_hex_or_empty(b, e->patient, 32);
        if (rc == MV_OK)
            rc = mv_buf_puts(b, ",\"episode\":");
        if (rc == MV_OK)
            rc = write_hex_or_empty(b, e->episode, 16);
        if (rc == MV_OK)
            rc = mv_buf_puts(b, ",\"department\":");
        if (rc == MV_OK)
            rc = mv_json_write_str(b, e->dept, strlen(e->dept));
        if (rc == MV_OK)
            rc = mv_buf_printf(b, ",\"created\":%llu,\"envelope_bytes\":%llu,\"logical_bytes\":%llu,\"blocks\":%llu}",
                               (unsigned long long)e->created, (unsigned long long)e->envelope_len,
                               (unsigned long long)e->logical_bytes, (unsigned long long)e->n_tags);
    }
    return rc == MV_OK ? mv_buf_puts(b, "]}") : rc;
}

mv_err storage_write_access(mv_buf *b, const mv_store_record_info *info)
{
    mv_err rc = mv_buf_puts(b, "{\"id\":");
    if (rc == MV_OK)
        rc = mv_json_write_hex(b, info->id, 16);
    if (rc == MV_OK)
        rc = mv_buf_puts(b, ",\"owner\":");
    if (rc == MV_OK)
        rc = mv_json_write_hex(b, info->owner, 32);
    if (rc == MV_OK)
        rc = mv_buf_puts(b, ",\"patient\":");
    if (rc == MV_OK)
        rc = write_hex_or_empty(b, info->patient, 32);
    if (rc == MV_OK)
        rc = mv_buf_puts(b, ",\"episode\":");
    if (rc == MV_OK)
        rc = write_hex_or_empty(b, info->episode, 16);
    if (rc == MV_OK)
        rc = mv_buf_puts(b, ",\"department\":");
    if (rc == MV_OK)
        rc = mv_json_write_str(b, info->dept, strnlen(info->dept, sizeof info->dept));
    if (rc == MV_OK)
        rc = mv_buf_printf(b, ",\"created\":%llu,\"readers\":[", (unsigned long long)info->created);
    for (size_t i = 0; rc == MV_OK && i < info->n_readers && i < MV_STORE_MAX_READERS; i++) {
        if (i)
            rc = mv_buf_puts(b, ",");
        if (rc == MV_OK)
            rc = mv_json_write_hex(b, info->readers[i], 32);
    }
    return rc == MV_OK ? mv_buf_puts(b, "]}") : rc;
}

/* 1 - physical/logical with 4 decimals (0 when nothing is stored), as JSON. */
static mv_err write_savings(mv_buf *b, uint64_t logical, uint64_t physical)
{
    double v = logical ? 1.0 - (double)physical / (double)logical : 0.0;
    if (fabs(v) < 0.00005)
        v = 0.0;
    return mv_buf_printf(b, "%.4f", v);
}

mv_err storage_write_stats(mv_buf *b, const mv_store_stats *st)
{
    /* physical_bytes: everything the store keeps on disk (packs and index), so savings is
     * what the cloud bill sees; data_bytes: what physical_bytes meant before (envelopes and
     * referenced blocks). */
    mv_err rc = mv_buf_printf(b,
                       "{\"records\":%llu,\"blocks\":%llu,\"logical_bytes\":%llu,\"physical_bytes\":%llu,"
                       "\"data_bytes\":%llu,\"pack_bytes\":%llu,\"index_bytes\":%llu,\"envelope_bytes\":%llu,"
                       "\"block_bytes\":%llu,\"savings\":",
                       (unsigned long long)st->records, (unsigned long long)st->blocks,
                       (unsigned long long)st->logical_bytes, (unsigned long long)st->physical_bytes,
                       (unsigned long long)st->data_bytes, (unsigned long long)st->pack_bytes,
                       (unsigned long long)st->index_bytes, (unsigned long long)st->envelope_bytes,
                       (unsigned long long)st->block_bytes);
    if (rc == MV_OK)
        rc = write_savings(b, st->logical_bytes, st->physical_bytes);
    if (rc == MV_OK)
        rc = mv_buf_puts(b, ",\"departments\":{");
    for (size_t i = 0; rc == MV_OK && i < st->n_depts && i < sizeof st->depts / sizeof st->depts[0]; i++) {
        const mv_store_dept_stats *d = &st->depts[i];
        if (i)
            rc = mv_buf_puts(b, ",");
        if (rc == MV_OK)
            rc = mv_json_write_str(b, d->dept, strnlen(d->dept, sizeof d->dept));
        if (rc == MV_OK)
            rc = mv_buf_printf(b, ":{\"records\":%llu,\"logical_bytes\":%llu,\"physical_bytes\":%llu,"
                                   "\"dedup_hits\":%llu,\"savings\":",
                               (unsigned long long)d->records, (unsigned long long)d->logical_bytes,
                               (unsigned long long)d->physical_bytes, (unsigned long long)d->dedup_hits);
        if (rc == MV_OK)
            rc = write_savings(b, d->logical_bytes, d->physical_bytes);
        if (rc == MV_OK)
            rc = mv_buf_puts(b, "}");
    }
    if (rc == MV_OK)
        rc = mv_buf_puts(b, "}}");
    return rc;
}
