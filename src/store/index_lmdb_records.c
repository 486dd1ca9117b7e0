/* index_lmdb_records.c - the LMDB index's records, segment sets, access sets and segments,
 * and the migration of earlier index formats: every stored value is decoded with bounds
 * checks before use, and an access set is found again by the hash of its content. */
#include "fault.h"
#include "index_lmdb_internal.h"

#include <string.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_mem.h"

/* ---- varints: LEB128, at most 10 bytes for a u64 ---- */

#define VARINT_MAX MV_VARINT_MAX

/* ---- records ---- */

/* Version 4 (index format 3) and version 3 (format 2): version u8, then varints: set,
 * created (version 4: coded against the id, see created_code), logical, segment, offset in
 * the segment, tag count, envelope length; the version says the layout of the record's bytes
 * in its segment (mv_ix_record.ids). Values of versions
 * 1 and 2 (index format 1, envelope and readers inline) are read only by legacy_next, to
 * migrate them. */
#define REC_V1 1
#define REC_V2 2
#define REC_V3 3
#define REC_V4 4 /* format 3: the record's envelope, then its blocks' ids (varints) */
#define REC_FIXED_V1 60
#define REC_FIXED_V2 108

/* Version 4 stores `created` as the zigzag-coded difference from the seconds of the
 * record's id (mv_record_id_new: 48 bits of milliseconds first), one byte for a record
 * stored within a minute of its id's making instead of five. Any id and time code exactly
 * (arithmetic mod 2^64); an id that is not time-ordered only costs a longer varint. */
static uint64_t id_seconds(const uint8_t *id)
{
    uint64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = ms << 8 | id[i];
    return ms / 1000;
}

static uint64_t created_code(const uint8_t *id, uint64_t created)
{
    uint64_t d = created - id_seconds(id);
    return d << 1 ^ (d >> 63 ? UINT64_MAX : 0);
}

static uint64_t created_decode(const uint8_t *id, uint64_t z)
{
    uint64_t d = z >> 1 ^ (z & 1 ? UINT64_MAX : 0);
    return id_seconds(id) + d;
}

static mv_err decode_record(const MDB_val *v, const uint8_t *id, mv_ix_record *r)
{
    const uint8_t *p = v->mv_data;
    size_t n = v->mv_size, pos = 1;
    uint64_t set;
    if (n < 1 || (p[0] != REC_V3 && p[0] != REC_V4))
        return MV_ERR_PARSE;
    r->ids = p[0] == REC_V4;
    if (!mv_varint_get(p, n, &pos, &set) || set == 0 || set > UINT32_MAX ||
        !mv_varint_get(p, n, &pos, &r->created) || !mv_varint_get(p, n, &pos, &r->logical) ||
        !mv_varint_get(p, n, &pos, &r->seg) || !mv_varint_get(p, n, &pos, &r->off) ||
        !mv_varint_get(p, n, &pos, &r->n_tags) || !mv_varint_get(p, n, &pos, &r->envelope_len) || pos != n)
        return MV_ERR_PARSE;
    r->set = (uint32_t)set;
    if (r->ids)
        r->created = created_decode(id, r->created);
    return MV_OK;
}

mv_err idx_record_get(mv_itxn *t, const uint8_t *id, mv_ix_record *r)
{
    MDB_val v;
    mv_err rc = idx_get(t, DB_RECORDS, id, 16, &v);
    return rc != MV_OK ? rc : decode_record(&v, id, r);
}

static void set_key(uint8_t k[4], uint32_t set) { idx_put_be32(k, set); }

/* segment_sets (format 3; format 2's seg_sets is converted into it by fold_step): segment
 * id BE u64 || set id BE u32 || chunk BE u16 -> the ids of the records of that set whose bytes
 * are in that segment, coded: version u8 = 1, then for each id the zigzag-coded difference of
 * its 48-bit time prefix from the previous id's (the first: from 0) as a varint, then its
 * other 10 bytes. Time-ordered ids of one batch cost 11 bytes instead of 16. A chunk takes ids
 * while its value stays within SEGSET_BYTES (inside a leaf page, never an overflow page) and
 * SEGSET_MAX ids. A put_records call writes a new segment, whose id is the largest: its
 * entries are appended (full pages, and a transaction copies only the tail page) whatever the
 * number of sets it touches. */
#define SEGSET_V1 1
#define SEGSET_MAX 255
#define SEGSET_BYTES 1900
#define SEGSET_KEY 14
#define SEGSET_ID_MAX (VARINT_MAX + 10) /* coded bytes of one id */

static void segset_key(uint8_t k[SEGSET_KEY], uint64_t seg, uint32_t set, uint16_t chunk)
{
    idx_put_be64(k, seg);
    idx_put_be32(k + 8, set);
    k[12] = (uint8_t)(chunk >> 8);
    k[13] = (uint8_t)chunk;
}

static uint64_t id_ms(const uint8_t *id)
{
    uint64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = ms << 8 | id[i];
    return ms;
}

/* Coded bytes of id after an id of time prev (ms). */
static size_t segset_id_code(uint8_t *out, const uint8_t *id, uint64_t prev)
{
    uint64_t d = id_ms(id) - prev;
    size_t n = mv_varint_put(out, d << 1 ^ (d >> 63 ? UINT64_MAX : 0));
    memcpy(out + n, id + 6, 10);
    return n + 10;
}

/* The value coding ids[0..n) into out (room for 1 + n * SEGSET_ID_MAX). */
static size_t segset_encode(uint8_t *out, const uint8_t *ids, size_t n)
{
    size_t len = 0;
    uint64_t prev = 0;
    out[len++] = SEGSET_V1;
    for (size_t i = 0; i < n; i++) {
        len += segset_id_code(out + len, ids + 16 * i, prev);
        prev = id_ms(ids + 16 * i);
    }
    return len;
}

/* Decodes a value into ids (room for SEGSET_MAX); *n ids. */
static mv_err segset_decode(const MDB_val *v, uint8_t *ids, size_t *n)
{
    const uint8_t *p = v->mv_data;
    size_t len = v->mv_size, pos = 1;
    uint64_t prev = 0;
    *n = 0;
    if (len < 2 || p[0] != SEGSET_V1)
        return MV_ERR_PARSE;
    while (pos < len) {
        uint64_t z, ms;
        if (*n == SEGSET_MAX || !mv_varint_get(p, len, &pos, &z) || len - pos < 10)
            return MV_ERR_PARSE;
        ms = prev + (z >> 1 ^ (z & 1 ? UINT64_MAX : 0));
        if (ms >> 48)
            return MV_ERR_PARSE;
        uint8_t *id = ids + 16 * (*n)++;
        for (int i = 0; i < 6; i++)
            id[i] = (uint8_t)(ms >> (40 - 8 * i));
        memcpy(id + 6, p + pos, 10);
        pos += 10;
        prev = ms;
    }
    return MV_OK;
}

typedef struct segset_pos {
    int found;           /* the id's chunk (remove) */
    uint16_t chunk;
    int any;             /* some chunk exists */
    uint16_t last;       /* the last chunk */
} segset_pos;

typedef struct segset_find {
    const uint8_t *id;
    segset_pos *pos;
    uint8_t ids[16 * SEGSET_MAX];
} segset_find;

static mv_err segset_find_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    segset_find *f = ctx;
    const uint8_t *kp = k->mv_data;
    size_t n;
    mv_err rc;
    if (k->mv_size != SEGSET_KEY)
        return MV_ERR_PARSE;
    uint16_t chunk = (uint16_t)(kp[12] << 8 | kp[13]);
    f->pos->any = 1;
    f->pos->last = chunk;
    if (!f->id || f->pos->found)
        return MV_OK;
    if ((rc = segset_decode(v, f->ids, &n)) != MV_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (memcmp(f->ids + 16 * i, f->id, 16) == 0) {
            f->pos->found = 1;
            f->pos->chunk = chunk;
            break;
        }
    return MV_OK;
}

static mv_err segset_locate(mv_itxn *t, uint64_t seg, uint32_t set, const uint8_t *id, segset_pos *pos)
{
    uint8_t k[SEGSET_KEY];
    segset_find *f = mv_malloc(sizeof *f);
    if (!f)
        return MV_ERR_NOMEM;
    f->id = id;
    f->pos = pos;
    memset(pos, 0, sizeof *pos);
    segset_key(k, seg, set, 0);
    mv_err rc = idx_scan(t, DB_SEGSETS, k, 12, segset_find_kv, f);
    mv_free(f);
    return rc;
}

/* Working space of a chunk being changed: its ids and their coding. */
typedef struct segset_buf {
    uint8_t ids[16 * SEGSET_MAX];
    uint8_t val[1 + SEGSET_MAX * SEGSET_ID_MAX];
} segset_buf;

/* Adds ids[0..n) to (seg, set): into its last chunk while it has room, then new chunks. */
mv_err idx_segset_add(mv_itxn *t, uint64_t seg, uint32_t set, const uint8_t *ids, size_t n)
{
    uint8_t k[SEGSET_KEY], code[SEGSET_ID_MAX];
    segset_pos pos;
    MDB_val v;
    size_t have = 0, len = 1;
    uint64_t prev = 0;
    segset_buf *b = NULL;
    mv_err rc = segset_locate(t, seg, set, NULL, &pos);
    if (rc != MV_OK)
        return rc;
    if (!(b = mv_malloc(sizeof *b)))
        return MV_ERR_NOMEM;
    uint16_t chunk = pos.any ? pos.last : 0;
    if (pos.any) {
        segset_key(k, seg, set, chunk);
        if ((rc = idx_get(t, DB_SEGSETS, k, SEGSET_KEY, &v)) != MV_OK ||
            (rc = segset_decode(&v, b->ids, &have)) != MV_OK)
            goto out;
        len = v.mv_size;
        prev = id_ms(b->ids + 16 * (have - 1));
    }
    while (n > 0) {
        size_t c = segset_id_code(code, ids, prev);
        if (have == SEGSET_MAX || (have && len + c > SEGSET_BYTES)) {
            /* The last chunk is full: the ids go to the next one. */
            rc = MV_ERR_TOO_LARGE;
            if (chunk == UINT16_MAX)
                goto out;
            chunk++;
            have = 0;
            len = 1;
            prev = 0;
            continue;
        }
        memcpy(b->ids + 16 * have++, ids, 16);
        len += c;
        prev = id_ms(ids);
        ids += 16;
        n--;
        /* Written when the chunk is full or the ids run out. */
        if (n == 0 || have == SEGSET_MAX || len + segset_id_code(code, ids, prev) > SEGSET_BYTES) {
            size_t vl = segset_encode(b->val, b->ids, have);
            segset_key(k, seg, set, chunk);
            if ((rc = idx_put_ordered(t, DB_SEGSETS, k, SEGSET_KEY, b->val, vl, 0)) != MV_OK)
                goto out;
        }
    }
    rc = MV_OK;
out:
    mv_free(b);
    return rc;
}

/* Removes id from (seg, set), if there. */
static mv_err segset_remove(mv_itxn *t, uint64_t seg, uint32_t set, const uint8_t *id)
{
    uint8_t k[SEGSET_KEY];
    segset_pos pos;
    segset_buf *b = NULL;
    MDB_val v;
    size_t n, at = 0;
    mv_err rc = segset_locate(t, seg, set, id, &pos);
    if (rc != MV_OK || !pos.found)
        return rc;
    if (!(b = mv_malloc(sizeof *b)))
        return MV_ERR_NOMEM;
    segset_key(k, seg, set, pos.chunk);
    if ((rc = idx_get(t, DB_SEGSETS, k, SEGSET_KEY, &v)) != MV_OK ||
        (rc = segset_decode(&v, b->ids, &n)) != MV_OK)
        goto out;
    while (at < n && memcmp(b->ids + 16 * at, id, 16) != 0)
        at++;
    rc = MV_ERR_BAD_STATE; /* segset_locate found it in this chunk */
    if (at == n)
        goto out;
    if (n == 1) {
        rc = idx_del(t, DB_SEGSETS, k, SEGSET_KEY);
        goto out;
    }
    memmove(b->ids + 16 * at, b->ids + 16 * (at + 1), 16 * (n - at - 1));
    rc = idx_put(t, DB_SEGSETS, k, SEGSET_KEY, b->val, segset_encode(b->val, b->ids, n - 1));
out:
    mv_free(b);
    return rc;
}

static size_t encode_record(uint8_t *v, const uint8_t *id, const mv_ix_record *r)
{
    size_t n = 0;
    v[n++] = r->ids ? REC_V4 : REC_V3;
    n += mv_varint_put(v + n, r->set);
    n += mv_varint_put(v + n, r->ids ? created_code(id, r->created) : r->created);
    n += mv_varint_put(v + n, r->logical);
    n += mv_varint_put(v + n, r->seg);
    n += mv_varint_put(v + n, r->off);
    n += mv_varint_put(v + n, r->n_tags);
    n += mv_varint_put(v + n, r->envelope_len);
    return n;
}

/* A new record (or a format-1 one being migrated), without its seg_sets entry. */
mv_err idx_record_add(mv_itxn *t, const uint8_t *id, const mv_ix_record *r)
{
    uint8_t v[1 + 7 * VARINT_MAX];
    if (r->set == 0)
        return MV_ERR_INVAL;
    return idx_put_ordered(t, DB_RECORDS, id, 16, v, encode_record(v, id, r), 0);
}

mv_err idx_record_put(mv_itxn *t, const uint8_t *id, const mv_ix_record *r)
{
    uint8_t v[1 + 7 * VARINT_MAX];
    mv_ix_record old;
    mv_err rc;
    if (r->set == 0)
        return MV_ERR_INVAL;
    size_t n = encode_record(v, id, r);
    rc = idx_record_get(t, id, &old);
    if (rc == MV_OK) {
        if ((rc = idx_put(t, DB_RECORDS, id, 16, v, n)) != MV_OK)
            return rc;
        if (old.set == r->set && old.seg == r->seg)
            return MV_OK;
        if ((rc = segset_remove(t, old.seg, old.set, id)) != MV_OK)
            return rc;
    } else if (rc == MV_ERR_NOT_FOUND) {
        if ((rc = idx_put_ordered(t, DB_RECORDS, id, 16, v, n, 0)) != MV_OK)
            return rc;
    } else {
        return rc;
    }
    return idx_segset_add(t, r->seg, r->set, id, 1);
}

mv_err idx_record_del(mv_itxn *t, const uint8_t *id)
{
    mv_ix_record r;
    mv_err rc = idx_record_get(t, id, &r);
    if (rc != MV_OK)
        return rc;
    if ((rc = segset_remove(t, r.seg, r.set, id)) != MV_OK)
        return rc;
    return idx_del(t, DB_RECORDS, id, 16);
}

static mv_err record_iter_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    cb *c = ctx;
    mv_ix_record r;
    mv_err rc;
    if (k->mv_size != 16)
        return MV_ERR_PARSE;
    if ((rc = decode_record(v, k->mv_data, &r)) != MV_OK)
        return rc;
    return c->fn.record(c->ctx, k->mv_data, &r);
}

mv_err idx_record_iter(mv_itxn *t, mv_ix_record_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.record = fn;
    return idx_scan(t, DB_RECORDS, NULL, 0, record_iter_kv, &c);
}

typedef struct segset_scan {
    cb c;
    const uint32_t *sets; /* sorted; NULL: every set */
    size_t n_sets;
    uint8_t ids[16 * SEGSET_MAX];
} segset_scan;

static mv_err set_record_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    segset_scan *sc = ctx;
    size_t n;
    mv_err rc;
    if (k->mv_size != SEGSET_KEY)
        return MV_ERR_PARSE;
    uint32_t set = idx_get_be32((const uint8_t *)k->mv_data + 8);
    if (sc->sets) {
        size_t lo = 0, hi = sc->n_sets;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (sc->sets[mid] < set)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == sc->n_sets || sc->sets[lo] != set)
            return MV_OK;
    }
    if ((rc = segset_decode(v, sc->ids, &n)) != MV_OK)
        return rc;
    for (size_t i = 0; rc == MV_OK && i < n; i++)
        rc = sc->c.fn.id(sc->c.ctx, set, sc->ids + 16 * i);
    return rc;
}

/* No set -> records index (it would cost every record an entry inserted in the middle):
 * a idx_scan of seg_sets, which has one entry per (segment, set), far fewer than records. */
mv_err idx_set_record_iter(mv_itxn *t, const uint32_t *sets, size_t n_sets, mv_ix_id_fn fn,
                           void *ctx)
{
    segset_scan *sc = mv_malloc(sizeof *sc);
    if (!sc)
        return MV_ERR_NOMEM;
    memset(&sc->c, 0, sizeof sc->c);
    sc->c.ctx = ctx;
    sc->c.fn.id = fn;
    sc->sets = sets;
    sc->n_sets = n_sets;
    mv_err rc = idx_scan(t, DB_SEGSETS, NULL, 0, set_record_kv, sc);
    mv_free(sc);
    return rc;
}

/* ---- access sets ---- */

/* sets value: version u8 = 1, then the content (hashed for set_hash): owner 32, patient 32,
 * episode 16, dept_len u8, dept, n_readers u8, readers 32 each. A set is immutable once
 * interned and keeps no reference count (so storing a record never rewrites its set's
 * page); gc drops the sets no record names. */
#define SET_V1 1
#define SET_CONTENT_MAX (32 + 32 + 16 + 1 + 64 + 1 + 64 * 32)

static mv_err encode_set_content(const mv_ix_set *st, uint8_t *p, size_t *n)
{
    size_t dl = strlen(st->dept), k = 0;
    if (dl == 0 || dl > 64 || st->n_readers == 0 || st->n_readers > 64)
        return MV_ERR_INVAL;
    memcpy(p, st->owner, 32), k += 32;
    memcpy(p + k, st->patient, 32), k += 32;
    memcpy(p + k, st->episode, 16), k += 16;
    p[k++] = (uint8_t)dl;
    memcpy(p + k, st->dept, dl), k += dl;
    p[k++] = (uint8_t)st->n_readers;
    memcpy(p + k, st->readers, 32 * st->n_readers), k += 32 * st->n_readers;
    *n = k;
    return MV_OK;
}

static mv_err decode_set(const MDB_val *v, mv_ix_set *st)
{
    const uint8_t *p = v->mv_data;
    size_t n = v->mv_size, k = 1;
    if (n < 1 + 80 + 2 || p[0] != SET_V1)
        return MV_ERR_PARSE;
    memcpy(st->owner, p + k, 32), k += 32;
    memcpy(st->patient, p + k, 32), k += 32;
    memcpy(st->episode, p + k, 16), k += 16;
    size_t dl = p[k++];
    if (dl == 0 || dl > 64 || n < k + dl + 1)
        return MV_ERR_PARSE;
    memcpy(st->dept, p + k, dl), k += dl;
    st->dept[dl] = 0;
    size_t nr = p[k++];
    if (nr == 0 || nr > 64 || n != k + 32 * nr)
        return MV_ERR_PARSE;
    st->n_readers = nr;
    memcpy(st->readers, p + k, 32 * nr);
    return MV_OK;
}

mv_err idx_set_get(mv_itxn *t, uint32_t id, mv_ix_set *st)
{
    uint8_t k[4];
    MDB_val v;
    set_key(k, id);
    mv_err rc = idx_get(t, DB_SETS, k, 4, &v);
    return rc != MV_OK ? rc : decode_set(&v, st);
}

static mv_err set_hash(const mv_ix_set *st, uint8_t h[32], uint8_t *content, size_t *n)
{
    mv_err rc = encode_set_content(st, content, n);
    return rc != MV_OK ? rc : mv_sha256(h, content, *n);
}

mv_err idx_set_find(mv_itxn *t, const mv_ix_set *st, uint32_t *id)
{
    uint8_t h[32], content[SET_CONTENT_MAX], k[4];
    size_t n;
    MDB_val v;
    mv_err rc = set_hash(st, h, content, &n);
    if (rc != MV_OK || (rc = idx_get(t, DB_SETHASH, h, 32, &v)) != MV_OK)
        return rc;
    if (v.mv_size != 4)
        return MV_ERR_PARSE;
    *id = idx_get_be32(v.mv_data);
    /* Compare the content too: the lookup must never hand out another set's id. */
    set_key(k, *id);
    if ((rc = idx_get(t, DB_SETS, k, 4, &v)) != MV_OK)
        return rc == MV_ERR_NOT_FOUND ? MV_ERR_PARSE : rc;
    if (v.mv_size != 1 + n || memcmp((const uint8_t *)v.mv_data + 1, content, n) != 0)
        return MV_ERR_PARSE;
    return MV_OK;
}

static mv_err set_reader_keys(mv_itxn *t, uint32_t id, const mv_ix_set *st, int add)
{
    uint8_t k[36];
    mv_err rc = MV_OK;
    idx_put_be32(k + 32, id);
    for (size_t i = 0; i < st->n_readers && rc == MV_OK; i++) {
        memcpy(k, st->readers[i], 32);
        rc = add ? idx_put(t, DB_SETREADERS, k, 36, "", 0) : idx_del_opt(t, DB_SETREADERS, k, 36);
    }
    return rc;
}

mv_err idx_set_put(mv_itxn *t, uint32_t id, const mv_ix_set *st)
{
    uint8_t v[1 + SET_CONTENT_MAX], h[32], k[4], idv[4];
    size_t n;
    mv_err rc;
    if (id == 0)
        return MV_ERR_INVAL;
    v[0] = SET_V1;
    if ((rc = set_hash(st, h, v + 1, &n)) != MV_OK)
        return rc;
    set_key(k, id);
    idx_put_be32(idv, id);
    MDB_val old;
    rc = idx_get(t, DB_SETS, k, 4, &old);
    if (rc == MV_OK) /* interned content never changes */
        return old.mv_size == 1 + n && memcmp((const uint8_t *)old.mv_data + 1, v + 1, n) == 0
                   ? MV_OK
                   : MV_ERR_INVAL;
    if (rc != MV_ERR_NOT_FOUND)
        return rc;
    if ((rc = idx_put_ordered(t, DB_SETS, k, 4, v, 1 + n, 0)) != MV_OK ||
        (rc = idx_put(t, DB_SETHASH, h, 32, idv, 4)) != MV_OK)
        return rc;
    return set_reader_keys(t, id, st, 1);
}

mv_err idx_set_del(mv_itxn *t, uint32_t id)
{
    uint8_t h[32], content[SET_CONTENT_MAX], k[4];
    mv_ix_set st;
    size_t n;
    mv_err rc = idx_set_get(t, id, &st);
    if (rc != MV_OK)
        return rc;
    if ((rc = set_hash(&st, h, content, &n)) != MV_OK)
        return rc == MV_ERR_INVAL ? MV_ERR_PARSE : rc;
    if ((rc = set_reader_keys(t, id, &st, 0)) != MV_OK || (rc = idx_del_opt(t, DB_SETHASH, h, 32)) != MV_OK)
        return rc;
    set_key(k, id);
    return idx_del(t, DB_SETS, k, 4);
}

/* One above the last key of a database keyed by a big-endian integer of kn bytes. */
static mv_err next_id(mv_itxn *t, int db, size_t kn, uint64_t *id)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    mv_err rc = idx_map_err(mdb_cursor_open(t->txn, idx_D(t, db), &c));
    if (rc != MV_OK)
        return rc;
    int e = idx_table_edge(c, db, 1, &k, &v);
    if (e == MDB_NOTFOUND) {
        *id = 1;
        rc = MV_OK;
    } else if (e == 0 && k.mv_size == kn) {
        uint64_t x = 0;
        for (size_t i = 0; i < kn; i++)
            x = x << 8 | ((const uint8_t *)k.mv_data)[i];
        *id = x + 1;
        rc = MV_OK;
    } else {
        rc = e == 0 ? MV_ERR_PARSE : idx_map_err(e);
    }
    mdb_cursor_close(c);
    return rc;
}

mv_err idx_set_next_id(mv_itxn *t, uint32_t *id)
{
    uint64_t x;
    mv_err rc = next_id(t, DB_SETS, 4, &x);
    if (rc != MV_OK)
        return rc;
    if (x > UINT32_MAX)
        return MV_ERR_TOO_LARGE;
    *id = (uint32_t)x;
    return MV_OK;
}

static mv_err set_iter_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    cb *c = ctx;
    mv_ix_set *st = mv_malloc(sizeof *st);
    mv_err rc = MV_ERR_NOMEM;
    if (!st)
        return rc;
    rc = MV_ERR_PARSE;
    if (k->mv_size == 4 && (rc = decode_set(v, st)) == MV_OK)
        rc = c->fn.set(c->ctx, idx_get_be32(k->mv_data), st);
    mv_free(st);
    return rc;
}

mv_err idx_set_iter(mv_itxn *t, mv_ix_set_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.set = fn;
    return idx_scan(t, DB_SETS, NULL, 0, set_iter_kv, &c);
}

static mv_err set_reader_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    cb *c = ctx;
    (void)v;
    if (k->mv_size != 36)
        return MV_ERR_PARSE;
    const uint8_t *p = k->mv_data;
    return c->fn.setid(c->ctx, p, idx_get_be32(p + 32));
}

mv_err idx_set_reader_iter(mv_itxn *t, const uint8_t *reader, mv_ix_setid_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.setid = fn;
    return idx_scan(t, DB_SETREADERS, reader, reader ? 32 : 0, set_reader_kv, &c);
}

/* ---- envelope segments: id (BE u64) -> version 1, pack u32, off u64, len u32,
 * live records u64, live bytes u64 ---- */

#define SEG_V1 1
#define SEG_BYTES 33

static mv_err decode_seg(const MDB_val *v, mv_ix_seg *g)
{
    const uint8_t *p = v->mv_data;
    if (v->mv_size != SEG_BYTES || p[0] != SEG_V1)
        return MV_ERR_PARSE;
    g->pack = idx_get_u32(p + 1);
    g->off = idx_get_u64(p + 5);
    g->len = idx_get_u32(p + 13);
    g->live_records = idx_get_u64(p + 17);
    g->live_bytes = idx_get_u64(p + 25);
    return MV_OK;
}

mv_err idx_seg_get(mv_itxn *t, uint64_t id, mv_ix_seg *g)
{
    uint8_t k[8];
    MDB_val v;
    idx_put_be64(k, id);
    mv_err rc = idx_get(t, DB_SEGS, k, 8, &v);
    return rc != MV_OK ? rc : decode_seg(&v, g);
}

mv_err idx_seg_put(mv_itxn *t, uint64_t id, const mv_ix_seg *g)
{
    uint8_t k[8], v[SEG_BYTES];
    idx_put_be64(k, id);
    v[0] = SEG_V1;
    idx_put_u32(v + 1, g->pack);
    idx_put_u64(v + 5, g->off);
    idx_put_u32(v + 13, g->len);
    idx_put_u64(v + 17, g->live_records);
    idx_put_u64(v + 25, g->live_bytes);
    return idx_put_ordered(t, DB_SEGS, k, 8, v, SEG_BYTES, 0);
}

mv_err idx_seg_del(mv_itxn *t, uint64_t id)
{
    uint8_t k[8];
    idx_put_be64(k, id);
    return idx_del(t, DB_SEGS, k, 8);
}

mv_err idx_seg_next_id(mv_itxn *t, uint64_t *id) { return next_id(t, DB_SEGS, 8, id); }

static mv_err seg_iter_kv(void *ctx, const MDB_val *k, const MDB_val *v)
{
    cb *c = ctx;
    mv_ix_seg g;
    mv_err rc;
    if (k->mv_size != 8)
        return MV_ERR_PARSE;
    if ((rc = decode_seg(v, &g)) != MV_OK)
        return rc;
    uint64_t id = 0;
    for (int i = 0; i < 8; i++)
        id = id << 8 | ((const uint8_t *)k->mv_data)[i];
    return c->fn.seg(c->ctx, id, &g);
}

mv_err idx_seg_iter(mv_itxn *t, mv_ix_seg_fn fn, void *ctx)
{
    cb c = {.ctx = ctx};
    c.fn.seg = fn;
    return idx_scan(t, DB_SEGS, NULL, 0, seg_iter_kv, &c);
}

/* ---- format and the format-1 records ---- */

#define FORMAT_KEY "format"
#define FORMAT_CURRENT 3

mv_err idx_format_get(mv_itxn *t, uint32_t *format)
{
    MDB_val v;
    mv_err rc = idx_get(t, DB_META, FORMAT_KEY, sizeof FORMAT_KEY - 1, &v);
    if (rc == MV_ERR_NOT_FOUND && t->ix->has_old[DB_META]) { /* format 2, not folded yet */
        MDB_val key = {sizeof FORMAT_KEY - 1, (void *)(uintptr_t)FORMAT_KEY};
        rc = idx_map_err(mdb_get(t->txn, t->ix->old[DB_META], &key, &v));
    }
    if (rc == MV_ERR_NOT_FOUND) {
        *format = 0;
        return MV_OK;
    }
    if (rc != MV_OK)
        return rc;
    if (v.mv_size != 4)
        return MV_ERR_PARSE;
    *format = idx_get_u32(v.mv_data);
    return MV_OK;
}

/* Version 1: version u8 = 1, dept_len u8, n_readers u16, n_tags u32, created u64,
 * logical u64, envelope_len u32, owner[32], dept, readers, tags, envelope.
 * Version 2: the same with version 2 and patient[32] || episode[16] after the owner.
 * Version-1 values (stores made before records had patients) decode with zeros. */
static mv_err decode_legacy(const MDB_val *v, mv_ix_legacy *r)
{
    const uint8_t *p = v->mv_data;
    size_t n = v->mv_size, fixed;
    if (n < REC_FIXED_V1)
        return MV_ERR_PARSE;
    if (p[0] == REC_V1)
        fixed = REC_FIXED_V1;
    else if (p[0] == REC_V2)
        fixed = REC_FIXED_V2;
    else
        return MV_ERR_PARSE;
    if (n < fixed)
        return MV_ERR_PARSE;
    size_t dl = p[1], nr = (size_t)p[2] | (size_t)p[3] << 8, nt = idx_get_u32(p + 4);
    size_t el = idx_get_u32(p + 24);
    if (dl > 64 || nr > 64 || nt > (SIZE_MAX / 64) || n != fixed + dl + 32 * nr + 32 * nt + el)
        return MV_ERR_PARSE;
    r->created = idx_get_u64(p + 8);
    r->logical = idx_get_u64(p + 16);
    memcpy(r->owner, p + 28, 32);
    if (fixed == REC_FIXED_V2) {
        memcpy(r->patient, p + 60, 32);
        memcpy(r->episode, p + 92, 16);
    } else {
        memset(r->patient, 0, 32);
        memset(r->episode, 0, 16);
    }
    memcpy(r->dept, p + fixed, dl);
    r->dept[dl] = 0;
    r->n_readers = nr;
    r->readers = p + fixed + dl;
    r->n_tags = nt;
    r->tags = r->readers + 32 * nr;
    r->envelope_len = el;
    r->envelope = r->tags + 32 * nt;
    return MV_OK;
}

mv_err idx_legacy_next(mv_itxn *t, const uint8_t *after, uint8_t *id, mv_ix_legacy *r)
{
    MDB_cursor *c = NULL;
    MDB_val k = {16, (void *)(uintptr_t)after}, v;
    mv_err rc = idx_map_err(mdb_cursor_open(t->txn, idx_D(t, DB_RECORDS), &c));
    if (rc != MV_OK)
        return rc;
    int e = mdb_cursor_get(c, &k, &v, after ? MDB_SET_RANGE : MDB_FIRST);
    for (; e == 0; e = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16) {
            rc = MV_ERR_PARSE;
            goto out;
        }
        if (after && memcmp(k.mv_data, after, 16) <= 0)
            continue;
        const uint8_t *p = v.mv_data;
        if (v.mv_size && (p[0] == REC_V3 || p[0] == REC_V4))
            continue;
        memcpy(id, k.mv_data, 16);
        rc = decode_legacy(&v, r);
        goto out;
    }
    rc = idx_map_err(e);
out:
    mdb_cursor_close(c);
    return rc;
}

mv_err idx_legacy_finish(mv_itxn *t)
{
    uint8_t v[4];
    if (mv_store_fault_hit())
        return MV_ERR_IO;
    if (t->ix->has_readers) {
        mv_err rc = idx_map_err(mdb_drop(t->txn, t->ix->readers, 0));
        if (rc != MV_OK)
            return rc;
    }
    idx_put_u32(v, FORMAT_CURRENT);
    return idx_put(t, DB_META, FORMAT_KEY, sizeof FORMAT_KEY - 1, v, 4);
}

/* Moves up to max entries of format 2's per-table databases into "tables" (seg_sets into
 * segment_sets, its values recoded), deleting them there in the same transaction, so that a
 * crash between steps loses nothing and the next open goes on; *done is set once every one
 * of them is empty. The emptied databases stay (a name in the main database each, no page). */
mv_err idx_fold_step(mv_itxn *t, size_t max, int *done)
{
    uint8_t coded[1 + SEGSET_MAX * SEGSET_ID_MAX];
    size_t moved = 0;
    mv_err rc = MV_OK;
    *done = 0;
    for (int db = 0; db < DB_COUNT && moved < max; db++) {
        MDB_cursor *c = NULL;
        MDB_val k, v;
        int e;
        if (!t->ix->has_old[db])
            continue;
        if ((rc = idx_map_err(mdb_cursor_open(t->txn, t->ix->old[db], &c))) != MV_OK)
            return rc;
        while (moved < max && (e = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
            if (k.mv_size > KEYMAX) {
                rc = MV_ERR_PARSE;
                break;
            }
            if (db == DB_SEGSETS) {
                /* Format 2's value is the ids themselves, 16 bytes each. */
                rc = MV_ERR_PARSE;
                if (v.mv_size == 0 || v.mv_size % 16 || v.mv_size / 16 > SEGSET_MAX)
                    break;
                size_t vl = segset_encode(coded, v.mv_data, v.mv_size / 16);
                if ((rc = idx_put(t, db, k.mv_data, k.mv_size, coded, vl)) != MV_OK)
                    break;
            } else if ((rc = idx_put(t, db, k.mv_data, k.mv_size, v.mv_data, v.mv_size)) != MV_OK) {
                break;
            }
            if ((rc = idx_map_err(mdb_cursor_del(c, 0))) != MV_OK)
                break;
            moved++;
        }
        if (rc == MV_OK && moved < max && e != MDB_NOTFOUND)
            rc = idx_map_err(e);
        mdb_cursor_close(c);
        if (rc != MV_OK)
            return rc;
    }
    *done = moved < max;
    return MV_OK;
}
