/* decoy_store.c - the decoy cloud's shapes in LMDB (layout: decoy_store.h): a few dozen bytes
 * per record, every commit synced before a caller is told a shape is stored, every stored value
 * decoded with bounds checks as if it were untrusted. */
#include "decoy_store.h"

#include <dirent.h>
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_file.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "core/endian.h"

enum { DB_META, DB_SETS, DB_SET_IDS, DB_SHAPES, DB_TAGS, DB_COUNT };
static const char *const db_names[DB_COUNT] = {"meta", "sets", "set_ids", "shapes", "tags"};

/* Address space only (LMDB maps it lazily; the file grows with the data): 64 bytes a record
 * leaves room for hundreds of millions of records. */
#define MAP_SIZE ((size_t)32 << 30)
#define SET_MAX (2 + 63 + 32 + 32 + 16 + 16 + 1 + 32 * MV_DECOY_MAX_READERS)
#define VARINT_MAX MV_VARINT_MAX
#define IMPORT_BATCH 256
#define REC_V0_MAX ((size_t)64 << 20) /* what the old server read back (decoy_server.c REC_MAX) */

struct decoy_store {
    MDB_env *env;
    MDB_dbi dbi[DB_COUNT];
};

static mv_err map_err(int e)
{
    switch (e) {
    case 0:
        return MV_OK;
    case MDB_NOTFOUND:
        return MV_ERR_NOT_FOUND;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
        return MV_ERR_TOO_LARGE;
    case ENOMEM:
        return MV_ERR_NOMEM;
    case MDB_CORRUPTED:
    case MDB_INCOMPATIBLE:
    case MDB_VERSION_MISMATCH:
    case MDB_INVALID:
        return MV_ERR_PARSE;
    default:
        return MV_ERR_IO;
    }
}

/* ---------- varints ---------- */


/* Reads a minimal varint; -1 when truncated, overlong or above max. */
/* One minimal varint of at most max from r (mv_varint_get), 0 or -1. */
static int varint_get(mv_rd *r, uint64_t max, uint64_t *out)
{
    uint64_t v;
    size_t used = 0;
    if (!mv_varint_get(r->p, r->left, &used, &v) || v > max)
        return -1;
    r->p += used;
    r->left -= used;
    *out = v;
    return 0;
}

/* ---------- encodings ---------- */

/* The access set of s into set[SET_MAX]; returns its length. */
static size_t set_encode(const mv_decoy_shape *s, uint8_t *set)
{
    size_t n = 0, dlen = strnlen(s->department, sizeof s->department);
    set[n++] = s->kind;
    set[n++] = (uint8_t)dlen;
    memcpy(set + n, s->department, dlen);
    n += dlen;
    memcpy(set + n, s->owner, 32);
    memcpy(set + n + 32, s->patient, 32);
    memcpy(set + n + 64, s->episode, 16);
    memcpy(set + n + 80, s->kid, 16);
    n += 96;
    set[n++] = s->n_readers;
    memcpy(set + n, s->readers, (size_t)s->n_readers * 32);
    return n + (size_t)s->n_readers * 32;
}

static mv_err set_decode(const uint8_t *p, size_t len, mv_decoy_shape *s)
{
    mv_rd r;
    const uint8_t *q;
    uint8_t kind, dlen, n;
    mv_rd_init(&r, p, len);
    if (mv_rd_u8(&r, &kind) || kind > MV_DECOY_MVK1 || mv_rd_u8(&r, &dlen) || dlen > MV_DECOY_DEPT_MAX ||
        mv_rd_bytes(&r, dlen, &q) || (dlen && memchr(q, 0, dlen)))
        return MV_ERR_PARSE;
    s->kind = kind;
    memcpy(s->department, q, dlen);
    s->department[dlen] = 0;
    if (mv_rd_bytes(&r, 96, &q))
        return MV_ERR_PARSE;
    memcpy(s->owner, q, 32);
    memcpy(s->patient, q + 32, 32);
    memcpy(s->episode, q + 64, 16);
    memcpy(s->kid, q + 80, 16);
    if (mv_rd_u8(&r, &n) || n > MV_DECOY_MAX_READERS || mv_rd_bytes(&r, (size_t)n * 32, &q) ||
        r.left != 0)
        return MV_ERR_PARSE;
    s->n_readers = n;
    memcpy(s->readers, q, (size_t)n * 32);
    return MV_OK;
}

/* The per-record value of s (set id given) into out. */
static mv_err shape_value(const mv_decoy_shape *s, uint32_t set_id, mv_buf *out)
{
    uint8_t v[4 * VARINT_MAX];
    size_t n = 0;
    mv_err rc;
    n += mv_varint_put(v + n, set_id);
    n += mv_varint_put(v + n, s->created);
    n += mv_varint_put(v + n, s->env_len);
    n += mv_varint_put(v + n, s->n_blocks);
    if ((rc = mv_buf_append(out, v, n)) != MV_OK)
        return rc;
    for (uint32_t i = 0; i < s->n_blocks; i++) {
        n = mv_varint_put(v, s->block_len[i]);
        if ((rc = mv_buf_append(out, v, n)) != MV_OK)
            return rc;
    }
    return MV_OK;
}

/* ---------- transactions ---------- */

static void put_be32(uint8_t p[4], uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static mv_err get(MDB_txn *t, MDB_dbi db, const void *k, size_t kn, MDB_val *v)
{
    MDB_val key = {kn, (void *)(uintptr_t)k};
    return map_err(mdb_get(t, db, &key, v));
}

static mv_err put_flags(MDB_txn *t, MDB_dbi db, const void *k, size_t kn, const void *v, size_t vn, unsigned flags)
{
    MDB_val key = {kn, (void *)(uintptr_t)k}, val = {vn, (void *)(uintptr_t)v};
    return map_err(mdb_put(t, db, &key, &val, flags));
}

static mv_err put(MDB_txn *t, MDB_dbi db, const void *k, size_t kn, const void *v, size_t vn)
{
    return put_flags(t, db, k, kn, v, vn, 0);
}

/* The largest key of db into last[0..kn) (*have 0 when db is empty or its last key is not kn
 * bytes long, which no table here holds). */
static mv_err last_key(MDB_txn *t, MDB_dbi db, uint8_t *last, size_t kn, int *have)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    *have = 0;
    mv_err rc = map_err(mdb_cursor_open(t, db, &c));
    if (rc != MV_OK)
        return rc;
    int e = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);
    if (e == MDB_NOTFOUND)
        return MV_OK;
    if (e != 0)
        return map_err(e);
    if (k.mv_size != kn)
        return MV_ERR_PARSE;
    memcpy(last, k.mv_data, kn);
    *have = 1;
    return MV_OK;
}

static mv_err txn_begin(decoy_store *st, int write, MDB_txn **t)
{
    *t = NULL;
    return map_err(mdb_txn_begin(st->env, NULL, write ? 0 : MDB_RDONLY, t));
}

/* The id of s's access set, interning it when new (write transaction t). */
static mv_err set_intern(decoy_store *st, MDB_txn *t, const mv_decoy_shape *s, uint32_t *id)
{
    uint8_t set[SET_MAX], h[MV_SHA256_BYTES], key[4];
    size_t n = set_encode(s, set);
    MDB_val v;
    mv_err rc;
    if ((rc = mv_sha256(h, set, n)) != MV_OK)
        return rc;
    rc = get(t, st->dbi[DB_SET_IDS], h, 16, &v);
    if (rc == MV_OK) {
        const uint8_t *p = v.mv_data;
        if (v.mv_size != 4)
            return MV_ERR_PARSE;
        *id = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        return MV_OK;
    }
    if (rc != MV_ERR_NOT_FOUND)
        return rc;
    /* A new set: the next id after the largest (big-endian keys sort numerically). */
    MDB_cursor *c = NULL;
    MDB_val k;
    uint32_t next = 0;
    if ((rc = map_err(mdb_cursor_open(t, st->dbi[DB_SETS], &c))) != MV_OK)
        return rc;
    int e = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);
    if (e == 0) {
        const uint8_t *p = k.mv_data;
        if (k.mv_size != 4)
            return MV_ERR_PARSE;
        next = ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
        if (next == UINT32_MAX)
            return MV_ERR_TOO_LARGE;
        next++;
    } else if (e != MDB_NOTFOUND) {
        return map_err(e);
    }
    uint8_t le[4] = {(uint8_t)next, (uint8_t)(next >> 8), (uint8_t)(next >> 16), (uint8_t)(next >> 24)};
    put_be32(key, next);
    /* The key is above every other: appended to the last leaf, which fills instead of splitting. */
    if ((rc = put_flags(t, st->dbi[DB_SETS], key, 4, set, n, MDB_APPEND)) != MV_OK ||
        (rc = put(t, st->dbi[DB_SET_IDS], h, 16, le, 4)) != MV_OK)
        return rc;
    *id = next;
    return MV_OK;
}

/* The shapes table's largest id, so that a larger one is appended (time-ordered ids: every new
 * record). LMDB splits a full leaf in the middle on an ordinary put, leaving half-empty leaves
 * behind an ascending stream of keys; MDB_APPEND starts a new leaf instead and leaves the
 * full one full. */
typedef struct tail {
    uint8_t last[16];
    int have;
} tail;

/* Puts one shape in write transaction t; *changed 1 when it differs from the stored one. */
static mv_err put_shape(decoy_store *st, MDB_txn *t, tail *tl, const mv_decoy_shape *s, mv_buf *val, int *changed)
{
    uint32_t set_id = 0;
    MDB_val old;
    mv_err rc;
    *changed = 0;
    mv_buf_reset(val);
    if ((rc = set_intern(st, t, s, &set_id)) != MV_OK || (rc = shape_value(s, set_id, val)) != MV_OK)
        return rc;
    if (!tl->have || memcmp(s->id, tl->last, 16) > 0) { /* above every stored id: new, appended */
        if ((rc = put_flags(t, st->dbi[DB_SHAPES], s->id, 16, val->ptr, val->len, MDB_APPEND)) != MV_OK)
            return rc;
        memcpy(tl->last, s->id, 16);
        tl->have = 1;
        *changed = 1;
        return MV_OK;
    }
    rc = get(t, st->dbi[DB_SHAPES], s->id, 16, &old);
    if (rc == MV_OK && old.mv_size == val->len && memcmp(old.mv_data, val->ptr, val->len) == 0)
        return MV_OK;
    if (rc != MV_OK && rc != MV_ERR_NOT_FOUND)
        return rc;
    if ((rc = put(t, st->dbi[DB_SHAPES], s->id, 16, val->ptr, val->len)) != MV_OK)
        return rc;
    *changed = 1;
    return MV_OK;
}

static mv_err put_tags(decoy_store *st, MDB_txn *t, const uint8_t id[16], const uint8_t *tags, size_t n)
{
    uint8_t v[16 + VARINT_MAX];
    mv_err rc = MV_OK;
    memcpy(v, id, 16);
    for (size_t i = 0; rc == MV_OK && i < n; i++) {
        size_t vn = 16 + mv_varint_put(v + 16, i);
        MDB_val old;
        /* An entry already there unchanged is not rewritten: a transaction with nothing dirty
         * commits without a write or a sync (a decoy evicted from the cache and served again). */
        rc = get(t, st->dbi[DB_TAGS], tags + 32 * i, 32, &old);
        if (rc == MV_OK && old.mv_size == vn && memcmp(old.mv_data, v, vn) == 0)
            continue;
        if (rc == MV_OK || rc == MV_ERR_NOT_FOUND)
            rc = put(t, st->dbi[DB_TAGS], tags + 32 * i, 32, v, vn);
    }
    return rc;
}

static mv_err commit(MDB_txn **t)
{
    mv_err rc = map_err(mdb_txn_commit(*t));
    *t = NULL;
    return rc;
}

static void abort_txn(MDB_txn **t)
{
    if (*t)
        mdb_txn_abort(*t);
    *t = NULL;
}

/* ---------- public ---------- */

mv_err decoy_store_open(const char *dir, unsigned max_readers, decoy_store **out)
{
    decoy_store *st = NULL;
    MDB_txn *t = NULL;
    char path[4200];
    mv_err rc;
    if (!dir || !out)
        return MV_ERR_INVAL;
    *out = NULL;
    if ((rc = mv_path_join(path, sizeof path, dir, "shapes")) != MV_OK || (rc = mv_file_mkdir(path, 0700)) != MV_OK)
        return rc;
    if (!(st = mv_calloc(1, sizeof *st)))
        return MV_ERR_NOMEM;
    if ((rc = map_err(mdb_env_create(&st->env))) != MV_OK) {
        st->env = NULL;
        goto out;
    }
    /* Durable commits (no MDB_NOSYNC): "a shape acknowledged survives kill -9" rests on them.
     * MDB_NOTLS: read transactions are not tied to threads (the server's thread pool). */
    if ((rc = map_err(mdb_env_set_mapsize(st->env, MAP_SIZE))) != MV_OK ||
        (rc = map_err(mdb_env_set_maxdbs(st->env, DB_COUNT))) != MV_OK ||
        (rc = map_err(mdb_env_set_maxreaders(st->env, max_readers < 16 ? 16 : max_readers))) != MV_OK ||
        (rc = map_err(mdb_env_open(st->env, path, MDB_NOTLS, 0600))) != MV_OK)
        goto out;
    if ((rc = txn_begin(st, 1, &t)) != MV_OK)
        goto out;
    for (int i = 0; i < DB_COUNT; i++)
        if ((rc = map_err(mdb_dbi_open(t, db_names[i], MDB_CREATE, &st->dbi[i]))) != MV_OK)
            goto out;
    MDB_val v;
    rc = get(t, st->dbi[DB_META], "version", 7, &v);
    if (rc == MV_ERR_NOT_FOUND) {
        uint8_t le[4] = {DECOY_STORE_VERSION, 0, 0, 0};
        rc = put(t, st->dbi[DB_META], "version", 7, le, 4);
    } else if (rc == MV_OK) {
        const uint8_t *p = v.mv_data;
        if (v.mv_size != 4 || p[0] != DECOY_STORE_VERSION || p[1] || p[2] || p[3]) {
            mv_log(MV_LOG_ERROR, "decoy", "%s: a decoy shape store of another format version", path);
            rc = MV_ERR_PARSE;
        }
    }
    if (rc != MV_OK || (rc = commit(&t)) != MV_OK)
        goto out;
    *out = st;
    st = NULL;
out:
    abort_txn(&t);
    decoy_store_close(st);
    return rc;
}

void decoy_store_close(decoy_store *st)
{
    if (!st)
        return;
    if (st->env)
        mdb_env_close(st->env);
    mv_free(st);
}

typedef struct by_id {
    const mv_decoy_shape *s;
    size_t i;
} by_id;

/* Ascending id, then position in the batch (a later copy of an id is stored last, as before). */
static int by_id_cmp(const void *a, const void *b)
{
    const by_id *x = a, *y = b;
    int c = memcmp(x->s->id, y->s->id, 16);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

mv_err decoy_store_put(decoy_store *st, const mv_decoy_shape *shapes, size_t n, size_t *changed)
{
    MDB_txn *t = NULL;
    by_id *order = NULL;
    tail tl;
    mv_buf val;
    size_t ch = 0;
    mv_err rc;
    if (changed)
        *changed = 0;
    if (!st || (!shapes && n))
        return MV_ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if (!mv_decoy_shape_valid(&shapes[i]))
            return MV_ERR_INVAL;
    if (n == 0)
        return MV_OK;
    /* In id order: a batch of new time-ordered ids is appended whole, whatever order it came in. */
    if (!(order = mv_mallocarray(n, sizeof *order)))
        return MV_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        order[i] = (by_id){&shapes[i], i};
    qsort(order, n, sizeof *order, by_id_cmp);
    mv_buf_init(&val, (size_t)MV_DECOY_MAX_BLOCKS * VARINT_MAX + 64);
    if ((rc = txn_begin(st, 1, &t)) != MV_OK || (rc = last_key(t, st->dbi[DB_SHAPES], tl.last, 16, &tl.have)) != MV_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        int c = 0;
        if ((rc = put_shape(st, t, &tl, order[i].s, &val, &c)) != MV_OK)
            goto out;
        ch += (size_t)c;
    }
    /* Nothing dirty: LMDB's commit writes and syncs nothing. */
    if ((rc = commit(&t)) != MV_OK)
        goto out;
    if (changed)
        *changed = ch;
out:
    abort_txn(&t);
    mv_buf_clear(&val);
    mv_free(order);
    return rc;
}

mv_err decoy_store_get(decoy_store *st, const uint8_t id[16], mv_decoy_shape *out)
{
    MDB_txn *t = NULL;
    MDB_val v, sv;
    mv_rd r;
    uint64_t set_id, created, env_len, nb;
    uint8_t key[4];
    mv_err rc;
    if (!out)
        return MV_ERR_INVAL;
    mv_decoy_shape_clear(out);
    if (!st || !id)
        return MV_ERR_INVAL;
    if ((rc = txn_begin(st, 0, &t)) != MV_OK)
        goto out;
    if ((rc = get(t, st->dbi[DB_SHAPES], id, 16, &v)) != MV_OK)
        goto out;
    mv_rd_init(&r, v.mv_data, v.mv_size);
    rc = MV_ERR_PARSE;
    if (varint_get(&r, UINT32_MAX, &set_id) || varint_get(&r, UINT64_MAX, &created) ||
        varint_get(&r, MV_DECOY_MAX_ENV_LEN, &env_len) || varint_get(&r, MV_DECOY_MAX_BLOCKS, &nb) ||
        r.left < nb)
        goto out;
    put_be32(key, (uint32_t)set_id);
    if ((rc = get(t, st->dbi[DB_SETS], key, 4, &sv)) != MV_OK) {
        rc = rc == MV_ERR_NOT_FOUND ? MV_ERR_PARSE : rc;
        goto out;
    }
    if ((rc = set_decode(sv.mv_data, sv.mv_size, out)) != MV_OK)
        goto out;
    memcpy(out->id, id, 16);
    out->created = created;
    out->env_len = (uint32_t)env_len;
    if (nb && !(out->block_len = mv_mallocarray((size_t)nb, sizeof *out->block_len))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    out->n_blocks = (uint32_t)nb;
    rc = MV_ERR_PARSE;
    for (uint64_t i = 0; i < nb; i++) {
        uint64_t l;
        if (varint_get(&r, MV_DECOY_MAX_BLOCK_LEN, &l))
            goto out;
        out->block_len[i] = (uint32_t)l;
    }
    if (r.left != 0)
        goto out;
    rc = MV_OK;
out:
    abort_txn(&t); /* a read transaction ends by abort */
    if (rc != MV_OK)
        mv_decoy_shape_clear(out);
    return rc;
}

mv_err decoy_store_tags_put(decoy_store *st, const uint8_t id[16], const uint8_t *tags, size_t n)
{
    MDB_txn *t = NULL;
    mv_err rc;
    if (!st || !id || (!tags && n))
        return MV_ERR_INVAL;
    if (n == 0)
        return MV_OK;
    if ((rc = txn_begin(st, 1, &t)) == MV_OK && (rc = put_tags(st, t, id, tags, n)) == MV_OK)
        rc = commit(&t);
    abort_txn(&t);
    return rc;
}

mv_err decoy_store_put_served(decoy_store *st, const decoy_store_served *v, size_t n)
{
    MDB_txn *t = NULL;
    tail tl;
    mv_buf val;
    mv_err rc;
    if (!st || (!v && n))
        return MV_ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if (!mv_decoy_shape_valid(v[i].shape) || (!v[i].tags && v[i].n_tags))
            return MV_ERR_INVAL;
    if (n == 0)
        return MV_OK;
    mv_buf_init(&val, (size_t)MV_DECOY_MAX_BLOCKS * VARINT_MAX + 64);
    if ((rc = txn_begin(st, 1, &t)) != MV_OK || (rc = last_key(t, st->dbi[DB_SHAPES], tl.last, 16, &tl.have)) != MV_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        int c = 0;
        if ((rc = put_shape(st, t, &tl, v[i].shape, &val, &c)) != MV_OK ||
            (rc = put_tags(st, t, v[i].shape->id, v[i].tags, v[i].n_tags)) != MV_OK)
            goto out;
    }
    rc = commit(&t); /* nothing dirty (every shape and tag already there): no write, no sync */
out:
    abort_txn(&t);
    mv_buf_clear(&val);
    return rc;
}

mv_err decoy_store_tag_get(decoy_store *st, const uint8_t tag[32], uint8_t id[16], uint32_t *index)
{
    MDB_txn *t = NULL;
    MDB_val v;
    mv_rd r;
    const uint8_t *p;
    uint64_t i;
    mv_err rc;
    if (!st || !tag || !id || !index)
        return MV_ERR_INVAL;
    if ((rc = txn_begin(st, 0, &t)) == MV_OK && (rc = get(t, st->dbi[DB_TAGS], tag, 32, &v)) == MV_OK) {
        mv_rd_init(&r, v.mv_data, v.mv_size);
        if (mv_rd_bytes(&r, 16, &p) || varint_get(&r, MV_DECOY_MAX_BLOCKS, &i) || r.left != 0) {
            rc = MV_ERR_PARSE;
        } else {
            memcpy(id, p, 16);
            *index = (uint32_t)i;
        }
    }
    abort_txn(&t);
    return rc;
}

/* ---------- the upgrade from .rec files ---------- */

/* Removes every file in dir, then dir (what is left of the old blocks/ and ptr/). */
static void remove_tree(const char *dir)
{
    DIR *dh = opendir(dir);
    struct dirent *e;
    char path[4200];
    if (!dh)
        return;
    while ((e = readdir(dh)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (mv_path_join(path, sizeof path, dir, e->d_name) == MV_OK)
            (void)unlink(path);
    }
    closedir(dh);
    (void)rmdir(dir);
}

/* Parses one old .rec (u32 shape_len | shape (MVH1 encoding) | u32 env_len | envelope |
 * u32 n | tag(32) * n) into shape and a pointer to its tags inside buf. */
static mv_err rec_v0_parse(const mv_buf *buf, mv_decoy_shape *shape, const uint8_t **tags, size_t *n_tags)
{
    mv_rd r;
    const uint8_t *sh, *env;
    uint32_t sl, el, n;
    size_t used = 0;
    mv_rd_init(&r, buf->ptr, buf->len);
    if (mv_rd_u32(&r, &sl) || mv_rd_bytes(&r, sl, &sh) || mv_rd_u32(&r, &el) ||
        mv_rd_bytes(&r, el, &env) || mv_rd_u32(&r, &n) || n > r.left / 32 ||
        mv_rd_bytes(&r, (size_t)n * 32, tags) || r.left != 0)
        return MV_ERR_PARSE;
    mv_err rc = mv_decoy_shape_decode_v1(sh, sl, &used, shape);
    if (rc == MV_OK && (used != sl || shape->n_blocks != n || !mv_decoy_shape_valid(shape)))
        rc = MV_ERR_PARSE;
    *n_tags = n;
    return rc;
}

/* Imports the .rec files named names[0..n) in one transaction, then unlinks them. */
static mv_err import_batch(decoy_store *st, const char *dir, char (*names)[40], size_t n, size_t *imported)
{
    MDB_txn *t = NULL;
    mv_buf file, val;
    mv_decoy_shape sh;
    char path[4200];
    mv_err rc;
    mv_buf_init(&file, REC_V0_MAX);
    mv_buf_init(&val, (size_t)MV_DECOY_MAX_BLOCKS * VARINT_MAX + 64);
    mv_decoy_shape_init(&sh);
    tail tl;
    if ((rc = txn_begin(st, 1, &t)) != MV_OK || (rc = last_key(t, st->dbi[DB_SHAPES], tl.last, 16, &tl.have)) != MV_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *tags = NULL;
        size_t n_tags = 0;
        int c = 0;
        mv_buf_reset(&file);
        if ((rc = mv_path_join(path, sizeof path, dir, names[i])) != MV_OK || (rc = mv_file_read(path, REC_V0_MAX, &file)) != MV_OK)
            goto out;
        if (rec_v0_parse(&file, &sh, &tags, &n_tags) != MV_OK) {
            mv_log(MV_LOG_WARN, "decoy", "upgrade: %s does not parse; left in place", names[i]);
            names[i][0] = 0;
            continue;
        }
        if ((rc = put_shape(st, t, &tl, &sh, &val, &c)) != MV_OK || (rc = put_tags(st, t, sh.id, tags, n_tags)) != MV_OK)
            goto out;
        (*imported)++;
    }
    if ((rc = commit(&t)) != MV_OK)
        goto out;
    /* Durable in the store: the files can go (a crash before this imports them again). */
    for (size_t i = 0; i < n; i++)
        if (names[i][0] && mv_path_join(path, sizeof path, dir, names[i]) == MV_OK)
            (void)unlink(path);
out:
    abort_txn(&t);
    mv_decoy_shape_clear(&sh);
    mv_buf_clear(&file);
    mv_buf_clear(&val);
    return rc;
}

mv_err decoy_store_import_v0(decoy_store *st, const char *dir, size_t *imported)
{
    char (*names)[40] = NULL, sub[4200];
    size_t n = 0, count = 0;
    mv_err rc = MV_OK;
    DIR *dh = NULL;
    struct dirent *e;
    if (imported)
        *imported = 0;
    if (!st || !dir)
        return MV_ERR_INVAL;
    if (!(names = mv_mallocarray(IMPORT_BATCH, sizeof *names)))
        return MV_ERR_NOMEM;
    if (!(dh = opendir(dir))) {
        rc = MV_ERR_IO;
        goto out;
    }
    /* Names are collected a batch at a time and unlinked after their batch commits; only
     * entries readdir already returned are removed while the stream is open. */
    while ((e = readdir(dh)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l != 32 + 4 || strcmp(e->d_name + 32, ".rec") != 0)
            continue;
        memcpy(names[n], e->d_name, l + 1); /* l is 36: fits the 40 bytes */
        n++;
        if (n == IMPORT_BATCH) {
            if ((rc = import_batch(st, dir, names, n, &count)) != MV_OK)
                goto out;
            n = 0;
        }
    }
    if (n && (rc = import_batch(st, dir, names, n, &count)) != MV_OK)
        goto out;
    if (count)
        mv_log(MV_LOG_INFO, "decoy", "upgrade: %zu stored decoys became shapes", count);
    /* Every decoy regenerates from its shape now: the old ciphertexts and pointers can go. */
    if (mv_path_join(sub, sizeof sub, dir, "blocks") == MV_OK)
        remove_tree(sub);
    if (mv_path_join(sub, sizeof sub, dir, "ptr") == MV_OK)
        remove_tree(sub);
out:
    if (dh)
        closedir(dh);
    mv_free(names);
    if (imported)
        *imported = count;
    return rc;
}
