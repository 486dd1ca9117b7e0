/* findex.c - the user's local FHIR index: the sealed append-only file and the tables in
 * memory (findex.h; docs/fhir.md "The local index").
 *
 * File: "MVX1" | file id 16 | entries, each
 *   len u32 (big-endian, of what follows the nonce) | nonce 12 | AES-256-GCM(k_seal, nonce,
 *   aad = "medvault-fhir-index-v1" || file id || seq u64 big-endian, entry JSON)
 * where seq counts entries from 0, so an entry removed, repeated or moved fails to open.
 * The keys come from the user's X25519 secret: HKDF-SHA-256(ikm = box_sk,
 * info = "medvault fhir index v1") gives k_seal | k_digest. A torn last entry (a crash in
 * the middle of an append) is cut off; anything else that does not open sets the file aside
 * and starts a new one, which the next sync fills again. */
#include "findex.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/endian.h"
#include "medvault/mv_aead.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_file.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_hkdf.h"
#include "medvault/mv_hmac.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"
#include "core/utf8.h"

#define MAGIC "MVX1"
#define HEADER_BYTES 20
#define ENTRY_MAX ((size_t)64 << 10)
#define FILE_MAX ((size_t)4 << 30)
static const char aad_tag[] = "medvault-fhir-index-v1";

struct mvc_findex {
    int fd;
    char path[4096];
    uint8_t *keys; /* secure memory: k_seal 32 | k_digest 32 */
    uint8_t file_id[16];
    uint64_t seq;
    uint64_t size; /* bytes of the file read or written by this process */
    struct fx_ent *e;
    size_t n, cap;
    uint32_t *by_rid, *by_lid; /* open addressing: entry index + 1, 0 empty */
    size_t rid_cap, lid_cap;   /* powers of two */
    size_t n_lids;
};

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---------- tables ---------- */

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t lid_hash(const char *type, const char *id)
{
    uint64_t h = fnv(type, strlen(type), 0xcbf29ce484222325ull);
    h = fnv("/", 1, h);
    return fnv(id, strlen(id), h);
}

static uint64_t rid_hash(const uint8_t rid[16])
{
    return fnv(rid, 16, 0xcbf29ce484222325ull);
}

static size_t rid_slot(const mvc_findex *x, const uint8_t rid[16])
{
    size_t m = x->rid_cap - 1, i = (size_t)rid_hash(rid) & m;
    while (x->by_rid[i] && memcmp(x->e[x->by_rid[i] - 1].rid, rid, 16) != 0)
        i = (i + 1) & m;
    return i;
}

static size_t lid_slot(const mvc_findex *x, const char *type, const char *id)
{
    size_t m = x->lid_cap - 1, i = (size_t)lid_hash(type, id) & m;
    while (x->by_lid[i]) {
        const struct fx_ent *e = &x->e[x->by_lid[i] - 1];
        if (!strcmp(e->s[FS_TYPE], type) && !strcmp(e->s[FS_ID], id))
            break;
        i = (i + 1) & m;
    }
    return i;
}

/* Rebuilds a table at twice the size when it would be more than half full. */
static mv_err grow_tables(mvc_findex *x)
{
    if ((x->n + 1) * 2 > x->rid_cap) {
        size_t cap = x->rid_cap ? x->rid_cap * 2 : 1024;
        uint32_t *t = mv_calloc(cap, sizeof *t);
        if (!t)
            return MV_ERR_NOMEM;
        mv_free(x->by_rid);
        x->by_rid = t;
        x->rid_cap = cap;
        for (size_t k = 0; k < x->n; k++) {
            size_t i = rid_slot(x, x->e[k].rid);
            x->by_rid[i] = (uint32_t)(k + 1); /* the last entry of a record wins */
        }
    }
    if ((x->n_lids + 1) * 2 > x->lid_cap) {
        size_t cap = x->lid_cap ? x->lid_cap * 2 : 1024;
        uint32_t *t = mv_calloc(cap, sizeof *t);
        if (!t)
            return MV_ERR_NOMEM;
        uint32_t *old = x->by_lid;
        size_t old_cap = x->lid_cap;
        x->by_lid = t;
        x->lid_cap = cap;
        for (size_t k = 0; k < old_cap; k++)
            if (old[k]) {
                const struct fx_ent *e = &x->e[old[k] - 1];
                x->by_lid[lid_slot(x, e->s[FS_TYPE], e->s[FS_ID])] = old[k];
            }
        mv_free(old);
    }
    return MV_OK;
}

/* Among the live versions of e's logical id, the one to call latest: the highest version,
 * then the latest created, then the highest record id (so every reader agrees). */
static int newer(const struct fx_ent *a, const struct fx_ent *b)
{
    if (a->version != b->version)
        return a->version > b->version;
    if (a->created != b->created)
        return a->created > b->created;
    return memcmp(a->rid, b->rid, 16) > 0;
}

static void relink_latest(mvc_findex *x, const char *type, const char *id)
{
    size_t best = SIZE_MAX;
    for (size_t k = 0; k < x->n; k++) {
        struct fx_ent *e = &x->e[k];
        if (e->gone || !e->version || strcmp(e->s[FS_ID], id) || strcmp(e->s[FS_TYPE], type))
            continue;
        e->latest = 0;
        if (best == SIZE_MAX || newer(e, &x->e[best]))
            best = k;
    }
    size_t i = lid_slot(x, type, id);
    if (best == SIZE_MAX) {
        /* Keep the slot (open addressing has no deletion): it points at a gone entry. */
        return;
    }
    if (!x->by_lid[i])
        x->n_lids++;
    x->by_lid[i] = (uint32_t)(best + 1);
    x->e[best].latest = 1;
}

/* Applies entry k (just appended to x->e) to the tables. */
static void apply(mvc_findex *x, size_t k)
{
    struct fx_ent *e = &x->e[k];
    size_t i = rid_slot(x, e->rid);
    struct fx_ent *prev = x->by_rid[i] ? &x->e[x->by_rid[i] - 1] : NULL;
    if (e->gone && prev) {
        /* A tombstone: the record's entry goes; its logical id's latest is chosen again. */
        prev->gone = 1;
        prev->latest = 0;
        if (prev->version)
            relink_latest(x, prev->s[FS_TYPE], prev->s[FS_ID]);
        return;
    }
    if (prev) {
        prev->gone = 1; /* a newer entry for the same record (e.g. it became readable) */
        prev->latest = 0;
    }
    x->by_rid[i] = (uint32_t)(k + 1);
    if (!e->version || e->gone) {
        if (prev && prev->version)
            relink_latest(x, prev->s[FS_TYPE], prev->s[FS_ID]);
        return;
    }
    size_t j = lid_slot(x, e->s[FS_TYPE], e->s[FS_ID]);
    struct fx_ent *cur = x->by_lid[j] ? &x->e[x->by_lid[j] - 1] : NULL;
    if (cur && !cur->gone && !newer(e, cur) && cur != prev)
        return;
    if (cur)
        cur->latest = 0;
    if (!x->by_lid[j])
        x->n_lids++;
    x->by_lid[j] = (uint32_t)(k + 1);
    e->latest = 1;
    if (prev && prev->version)
        relink_latest(x, e->s[FS_TYPE], e->s[FS_ID]);
}

/* ---------- entries ---------- */

static const char *const field_keys[FS_N] = {"t", "i", "u", "p", "m", "d", "o", "s", "x", "n"};

/* Copies s into dst[MV_FHIR_FACT_MAX]: valid UTF-8 (a byte of an invalid sequence becomes
 * '?'), control characters (C0, DEL, C1) as ' ', at most MV_FHIR_FACT_MAX - 1 bytes cut at a
 * character boundary. Every stored field passes here, so what the writer writes the reader
 * takes (parse_entry's cap) and a name from another system cannot make an entry unwritable. */
static void clean_field(char dst[MV_FHIR_FACT_MAX], const char *s)
{
    size_t at = 0, len = strlen(s);
    for (size_t i = 0; i < len;) {
        size_t n = mv_utf8_seq((const unsigned char *)s + i, len - i);
        if (n == 0) {
            if (at + 1 >= MV_FHIR_FACT_MAX)
                break;
            dst[at++] = '?';
            i++;
            continue;
        }
        if (at + n >= MV_FHIR_FACT_MAX)
            break;
        const unsigned char *u = (const unsigned char *)s + i;
        if ((n == 1 && (u[0] < 0x20 || u[0] == 0x7f)) || (n == 2 && u[0] == 0xc2 && u[1] < 0xa0)) {
            dst[at++] = ' '; /* C0, DEL and C1 controls (U+0080-U+009F): nothing a terminal acts on */
        } else {
            memcpy(dst + at, s + i, n);
            at += n;
        }
        i += n;
    }
    dst[at] = 0;
}

/* Makes x->e[x->n] from the strings in vals (NULL = "") and the fixed fields. */
static mv_err push(mvc_findex *x, const struct fx_ent *fixed, const char *const vals[FS_N])
{
    mv_err rc = mv_array_grow(&x->e, &x->cap, x->n, sizeof *x->e, 256);
    if (rc != MV_OK || (rc = grow_tables(x)) != MV_OK)
        return rc;
    size_t total = 0;
    for (size_t f = 0; f < FS_N; f++)
        total += (vals[f] ? strlen(vals[f]) : 0) + 1;
    char *strs = mv_malloc(total);
    if (!strs)
        return MV_ERR_NOMEM;
    struct fx_ent *e = &x->e[x->n];
    *e = *fixed;
    e->strs = strs;
    e->latest = 0;
    for (size_t f = 0, at = 0; f < FS_N; f++) {
        size_t l = vals[f] ? strlen(vals[f]) : 0;
        e->s[f] = strs + at;
        if (l)
            memcpy(strs + at, vals[f], l);
        strs[at + l] = 0;
        at += l + 1;
    }
    x->n++;
    apply(x, x->n - 1);
    return MV_OK;
}

static mv_err entry_json(const struct fx_ent *e, const char *const vals[FS_N], mv_buf *out)
{
    mv_jw w;
    mv_jw_init(&w, out);
    mv_jw_obj(&w);
    mv_jw_khex(&w, "r", e->rid, 16);
    if (e->gone) {
        mv_jw_ku64(&w, "g", 1);
    } else {
        mv_jw_ku64(&w, "k", e->kind);
        mv_jw_ku64(&w, "c", e->created);
        if (e->version) {
            mv_jw_ku64(&w, "v", e->version);
            mv_jw_khex(&w, "h", e->digest, 32);
        }
        for (size_t f = 0; f < FS_N; f++)
            if (vals[f] && vals[f][0])
                mv_jw_kstr(&w, field_keys[f], vals[f]);
    }
    mv_jw_obj_end(&w);
    return mv_jw_finish(&w);
}

static mv_err parse_entry(mvc_findex *x, const uint8_t *pt, size_t len)
{
    mv_json *doc = NULL;
    struct fx_ent fixed;
    const char *vals[FS_N] = {0};
    char tmp[FS_N][MV_FHIR_FACT_MAX + 1];
    memset(&fixed, 0, sizeof fixed);
    mv_err rc = mv_json_parse((const char *)pt, len, NULL, &doc, NULL);
    if (rc != MV_OK || mv_json_get_hex(doc, "r", fixed.rid, 16) != MV_OK) {
        rc = MV_ERR_PARSE;
        goto out;
    }
    uint64_t v = 0;
    if (mv_json_get_u64(doc, "g", &v) == MV_OK && v == 1) {
        fixed.gone = 1;
    } else {
        if (mv_json_get_u64(doc, "k", &v) != MV_OK || v > MV_RECORD_ATTACHMENT ||
            mv_json_get_u64(doc, "c", &fixed.created) != MV_OK) {
            rc = MV_ERR_PARSE;
            goto out;
        }
        fixed.kind = (uint8_t)v;
        if (mv_json_get_u64(doc, "v", &v) == MV_OK) {
            if (v == 0 || v > UINT32_MAX || mv_json_get_hex(doc, "h", fixed.digest, 32) != MV_OK) {
                rc = MV_ERR_PARSE;
                goto out;
            }
            fixed.version = (uint32_t)v;
        }
        for (size_t f = 0; f < FS_N; f++) {
            size_t l = 0;
            const char *s = mv_json_get_str(doc, field_keys[f], &l);
            if (!s)
                continue;
            if (l > MV_FHIR_FACT_MAX || memchr(s, 0, l)) {
                rc = MV_ERR_PARSE;
                goto out;
            }
            memcpy(tmp[f], s, l);
            tmp[f][l] = 0;
            vals[f] = tmp[f];
        }
        if (fixed.version && (!vals[FS_TYPE] || !vals[FS_ID])) {
            rc = MV_ERR_PARSE;
            goto out;
        }
    }
    rc = push(x, &fixed, vals);
out:
    mv_wipe(tmp, sizeof tmp); /* patient references and names */
    mv_json_free(doc);
    return rc;
}

static void make_aad(const mvc_findex *x, uint64_t seq, uint8_t aad[sizeof aad_tag - 1 + 16 + 8])
{
    memcpy(aad, aad_tag, sizeof aad_tag - 1);
    memcpy(aad + sizeof aad_tag - 1, x->file_id, 16);
    mv_be64_put(aad + sizeof aad_tag - 1 + 16, seq);
}

/* Seals the entry JSON js as entry x->seq under nonce (random, drawn by the caller) and
 * appends the framing to out. */
static mv_err seal_into(mvc_findex *x, const mv_buf *js, const uint8_t nonce[MV_AEAD_NONCE_BYTES], mv_buf *out)
{
    uint8_t aad[sizeof aad_tag - 1 + 24], hdr[4 + MV_AEAD_NONCE_BYTES];
    size_t at = out->len;
    mv_err rc;
    make_aad(x, x->seq, aad);
    put_be32(hdr, (uint32_t)(js->len + MV_AEAD_TAG_BYTES));
    memcpy(hdr + 4, nonce, MV_AEAD_NONCE_BYTES);
    if ((rc = mv_buf_append(out, hdr, sizeof hdr)) != MV_OK || (rc = mv_buf_reserve(out, js->len + MV_AEAD_TAG_BYTES)) != MV_OK)
        return rc;
    rc = mv_aead_encrypt(out->ptr + out->len, js->ptr, js->len, aad, sizeof aad, hdr + 4, x->keys);
    if (rc != MV_OK) {
        out->len = at;
        return rc;
    }
    out->len += js->len + MV_AEAD_TAG_BYTES;
    x->seq++;
    return MV_OK;
}

static mv_err write_all(mvc_findex *x, const mv_buf *b)
{
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(x->fd, b->ptr + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return MV_ERR_IO;
        off += (size_t)w;
    }
    return MV_OK;
}

mv_err mvc_findex_flush(mvc_findex *x)
{
    /* No fdatasync: the index is a cache of what the storage server holds. A crash loses at
     * most entries written since the page cache last reached the disk (a torn last entry is cut
     * off at the next open), and the next sync fetches those records again. Two fdatasyncs per
     * put cost more than the import of a few hundred resources on these disks. */
    (void)x;
    return MV_OK;
}
/* Appends one entry per fixed[i]/vals[i] to the file, then applies them in memory. */
static mv_err catch_up(mvc_findex *x);
static int lock(int fd, int op);

static mv_err append(mvc_findex *x, const struct fx_ent *fixed, const char *(*vals)[FS_N], size_t n)
{
    mv_buf js, out;
    mv_buf_init(&js, ENTRY_MAX);
    mv_buf_init(&out, (size_t)1 << 30);
    /* Several processes of one user (put, ui, fhir serve) share the file: under the lock, the
     * entries others appended are taken first, so seq goes on from the file's last entry. */
    if (lock(x->fd, LOCK_EX) != 0)
        return MV_ERR_IO;
    mv_err rc = catch_up(x);
    uint64_t seq0 = x->seq, size0 = x->size;
    /* Every entry's random nonce from one call (96 random bits each, as before). */
    uint8_t *nonces = rc == MV_OK ? mv_mallocarray(n, MV_AEAD_NONCE_BYTES) : NULL;
    if (rc == MV_OK)
        rc = nonces ? mv_random_bytes(nonces, n * MV_AEAD_NONCE_BYTES) : MV_ERR_NOMEM;
    for (size_t i = 0; i < n && rc == MV_OK; i++) {
        js.len = 0;
        if ((rc = entry_json(&fixed[i], vals[i], &js)) == MV_OK)
            rc = seal_into(x, &js, nonces + i * MV_AEAD_NONCE_BYTES, &out);
    }
    mv_free(nonces);
    if (rc == MV_OK)
        rc = write_all(x, &out);
    if (rc == MV_OK) {
        x->size += out.len;
    } else {
        /* What may have reached the file is cut off again, so seq matches it. */
        x->seq = seq0;
        (void)!ftruncate(x->fd, (off_t)size0);
    }
    (void)lock(x->fd, LOCK_UN);
    for (size_t i = 0; i < n && rc == MV_OK; i++)
        rc = push(x, &fixed[i], vals[i]);
    mv_buf_clear(&js);
    mv_buf_clear(&out);
    return rc;
}

mv_err mvc_findex_add(mvc_findex *x, const fx_add *a, size_t n)
{
    if (!n)
        return MV_OK;
    char(*clean)[FS_N][MV_FHIR_FACT_MAX] = NULL;
    struct fx_ent *fixed = mv_calloc(n, sizeof *fixed);
    const char *(*vals)[FS_N] = mv_calloc(n, sizeof *vals);
    mv_err rc = MV_ERR_NOMEM;
    if (!fixed || !vals)
        goto out;
    if (!(clean = mv_calloc(n, sizeof *clean)))
        goto out;
    for (size_t i = 0; i < n; i++) {
        memcpy(fixed[i].rid, a[i].rid, 16);
        fixed[i].kind = (uint8_t)a[i].kind;
        fixed[i].created = a[i].created;
        const mv_fhir_facts *f = a[i].facts;
        fixed[i].version = f && f->id[0] ? a[i].version : 0;
        if (fixed[i].version && a[i].digest)
            memcpy(fixed[i].digest, a[i].digest, 32);
        if (f) {
            vals[i][FS_TYPE] = f->type;
            vals[i][FS_ID] = f->id;
            vals[i][FS_UPDATED] = f->last_updated;
            vals[i][FS_PATIENT] = f->patient;
            vals[i][FS_DATE] = f->date;
            vals[i][FS_CODE] = f->code;
            vals[i][FS_STATUS] = f->status;
            vals[i][FS_DISPLAY] = f->display;
        }
        vals[i][FS_MRN] = a[i].mrn;
        vals[i][FS_NAME] = a[i].name;
        for (size_t k = 0; k < FS_N; k++)
            if (vals[i][k]) {
                clean_field(clean[i][k], vals[i][k]);
                vals[i][k] = clean[i][k];
            }
    }
    rc = append(x, fixed, vals, n);
out:
    if (clean)
        mv_wipe(clean, n * sizeof *clean); /* patient references, names */
    mv_free(clean);
    mv_free(fixed);
    mv_free(vals);
    return rc;
}

mv_err mvc_findex_drop(mvc_findex *x, const uint8_t *rids, size_t n)
{
    if (!n)
        return MV_OK;
    struct fx_ent *fixed = mv_calloc(n, sizeof *fixed);
    const char *(*vals)[FS_N] = mv_calloc(n, sizeof *vals);
    mv_err rc = MV_ERR_NOMEM;
    if (fixed && vals) {
        for (size_t i = 0; i < n; i++) {
            memcpy(fixed[i].rid, rids + 16 * i, 16);
            fixed[i].gone = 1;
        }
        rc = append(x, fixed, vals, n);
    }
    mv_free(fixed);
    mv_free(vals);
    return rc;
}

/* ---------- the file ---------- */

static void free_entries(mvc_findex *x)
{
    for (size_t k = 0; k < x->n; k++) {
        size_t l = 0;
        for (size_t f = 0; f < FS_N; f++)
            l += strlen(x->e[k].s[f]) + 1;
        mv_wipe(x->e[k].strs, l); /* patient references and names */
        mv_free(x->e[k].strs);
    }
    mv_free(x->e);
    mv_free(x->by_rid);
    mv_free(x->by_lid);
    x->e = NULL;
    x->by_rid = x->by_lid = NULL;
    x->n = x->cap = x->rid_cap = x->lid_cap = x->n_lids = 0;
    x->seq = 0;
}

static mv_err new_file(mvc_findex *x)
{
    uint8_t hdr[HEADER_BYTES];
    memcpy(hdr, MAGIC, 4);
    mv_err rc = mv_random_bytes(hdr + 4, 16);
    if (rc != MV_OK)
        return rc;
    memcpy(x->file_id, hdr + 4, 16);
    if (ftruncate(x->fd, 0) != 0)
        return MV_ERR_IO;
    mv_buf b = {hdr, sizeof hdr, sizeof hdr, sizeof hdr};
    rc = write_all(x, &b);
    if (rc == MV_OK)
        x->size = HEADER_BYTES;
    return rc;
}

/* Reads the whole file into memory; a torn tail is cut off. MV_ERR_VERIFY / MV_ERR_PARSE if
 * anything else is wrong. */
/* Opens and applies the entries in buf[0..len) (what follows x->size in the file), counting
 * seq on; *used receives the bytes of whole entries (a torn last one is not counted).
 * MV_ERR_VERIFY / MV_ERR_PARSE if an entry does not open. */
static mv_err read_entries(mvc_findex *x, const uint8_t *buf, size_t len, size_t *used)
{
    size_t at = 0;
    mv_err rc = MV_OK;
    uint8_t *pt = mv_malloc(ENTRY_MAX);
    if (!pt)
        return MV_ERR_NOMEM;
    while (at < len) {
        if (len - at < 4 + MV_AEAD_NONCE_BYTES)
            break; /* torn */
        size_t elen = get_be32(buf + at);
        if (elen < MV_AEAD_TAG_BYTES || elen > ENTRY_MAX + MV_AEAD_TAG_BYTES) {
            rc = MV_ERR_PARSE;
            break;
        }
        if (len - at - 4 - MV_AEAD_NONCE_BYTES < elen)
            break; /* torn */
        uint8_t aad[sizeof aad_tag - 1 + 24];
        make_aad(x, x->seq, aad);
        const uint8_t *nonce = buf + at + 4, *ct = nonce + MV_AEAD_NONCE_BYTES;
        if ((rc = mv_aead_decrypt(pt, ct, elen, aad, sizeof aad, nonce, x->keys)) != MV_OK)
            break;
        rc = parse_entry(x, pt, elen - MV_AEAD_TAG_BYTES);
        mv_wipe(pt, elen - MV_AEAD_TAG_BYTES);
        if (rc != MV_OK)
            break;
        x->seq++;
        at += 4 + MV_AEAD_NONCE_BYTES + elen;
    }
    mv_free(pt);
    *used = at;
    return rc;
}

/* Takes the entries another process appended since this one last read or wrote the file
 * (the caller holds the lock), and cuts off a torn tail. */
static mv_err catch_up(mvc_findex *x)
{
    struct stat sb;
    if (fstat(x->fd, &sb) != 0)
        return MV_ERR_IO;
    if ((uint64_t)sb.st_size == x->size)
        return MV_OK;
    if ((uint64_t)sb.st_size < x->size || (uint64_t)sb.st_size - x->size > FILE_MAX)
        return MV_ERR_PARSE; /* shrunk under us, or absurd: set aside */
    size_t len = (size_t)((uint64_t)sb.st_size - x->size), used = 0, got = 0;
    uint8_t *buf = mv_malloc(len);
    if (!buf)
        return MV_ERR_NOMEM;
    while (got < len) {
        ssize_t r = pread(x->fd, buf + got, len - got, (off_t)(x->size + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    mv_err rc = got == len ? read_entries(x, buf, len, &used) : MV_ERR_IO;
    mv_free(buf);
    if (rc == MV_OK && used < len && ftruncate(x->fd, (off_t)(x->size + used)) != 0)
        rc = MV_ERR_IO;
    if (rc == MV_OK)
        x->size += used;
    return rc;
}

/* Reads the whole file into memory; a torn tail is cut off. MV_ERR_VERIFY / MV_ERR_PARSE if
 * anything else is wrong. The caller holds the lock. */
static mv_err load(mvc_findex *x)
{
    struct stat sb;
    uint8_t hdr[HEADER_BYTES];
    if (fstat(x->fd, &sb) != 0)
        return MV_ERR_IO;
    if (sb.st_size == 0)
        return new_file(x);
    if (sb.st_size < HEADER_BYTES || pread(x->fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr ||
        memcmp(hdr, MAGIC, 4) != 0)
        return MV_ERR_PARSE;
    memcpy(x->file_id, hdr + 4, 16);
    x->size = HEADER_BYTES;
    return catch_up(x);
}

/* flock that retries on EINTR. */
static int lock(int fd, int op)
{
    int r;
    while ((r = flock(fd, op)) != 0 && errno == EINTR)
        ;
    return r;
}

mv_err mvc_findex_get(mv_client *c, mvc_findex **out)
{
    if (c->findex) {
        *out = c->findex;
        return MV_OK;
    }
    mvc_findex *x = mv_calloc(1, sizeof *x);
    mv_err rc = MV_ERR_NOMEM;
    if (!x)
        return rc;
    x->fd = -1;
    if (!(x->keys = mv_secure_alloc(64)))
        goto fail;
    static const char info[] = "medvault fhir index v1";
    if ((rc = mv_hkdf_sha256(x->keys, 64, NULL, 0, mv_identity_box_sk(c->id), 32, (const uint8_t *)info,
                             sizeof info - 1)) != MV_OK ||
        (rc = mv_path_join(x->path, sizeof x->path, c->user_dir, "fhir-index")) != MV_OK)
        goto fail;
    x->fd = open(x->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (x->fd < 0) {
        mvc_seterr(c, "cannot open the local FHIR index %s (%s)", x->path, strerror(errno));
        rc = MV_ERR_IO;
        goto fail;
    }
    rc = lock(x->fd, LOCK_EX) == 0 ? load(x) : MV_ERR_IO;
    if (rc == MV_ERR_VERIFY || rc == MV_ERR_PARSE) {
        /* Damaged, or sealed under another key: set it aside; the next sync rebuilds it. */
        char aside[4096 + 16];
        snprintf(aside, sizeof aside, "%s.damaged", x->path);
        mv_log(MV_LOG_WARN, "client", "the local FHIR index does not open (%s): set aside as fhir-index.damaged, rebuilt by "
                            "the next sync", mv_strerror(rc));
        free_entries(x);
        if (rename(x->path, aside) != 0) {
            rc = MV_ERR_IO;
            goto fail;
        }
        close(x->fd); /* which drops the lock */
        x->fd = open(x->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        rc = x->fd < 0 ? MV_ERR_IO : lock(x->fd, LOCK_EX) == 0 ? load(x) : MV_ERR_IO;
    }
    if (x->fd >= 0)
        (void)lock(x->fd, LOCK_UN);
    if (rc != MV_OK) {
        mvc_seterr(c, "cannot read the local FHIR index %s (%s)", x->path, mv_strerror(rc));
        goto fail;
    }
    c->findex = x;
    *out = x;
    return MV_OK;
fail:
    mvc_findex_close(x);
    return rc;
}

void mvc_findex_close(mvc_findex *x)
{
    if (!x)
        return;
    if (x->fd >= 0) {
        (void)mvc_findex_flush(x);
        close(x->fd);
    }
    free_entries(x);
    mv_secure_free(x->keys);
    mv_free(x);
}

/* ---------- queries ---------- */

mv_err mvc_findex_digest_split(mvc_findex *x, const mv_buf *vless, const mv_fhir_split *sp, uint8_t out[32])
{
    mv_sha256_ctx *h = NULL;
    uint8_t sum[32], frame[12];
    mv_err rc = mv_sha256_new(&h);
    if (rc == MV_OK) {
        mv_be64_put(frame, vless->len);
        if ((rc = mv_sha256_update(h, frame, 8)) == MV_OK)
            rc = mv_sha256_update(h, vless->ptr, vless->len);
    }
    for (size_t i = 0; rc == MV_OK && i < sp->n_blocks; i++) {
        put_be32(frame, sp->slots[i]);
        mv_be64_put(frame + 4, sp->blocks[i].len);
        if ((rc = mv_sha256_update(h, frame, 12)) == MV_OK)
            rc = mv_sha256_update(h, sp->blocks[i].ptr, sp->blocks[i].len);
    }
    if (rc == MV_OK) {
        rc = mv_sha256_final(h, sum); /* frees h */
        h = NULL;
    }
    if (rc == MV_OK)
        rc = mv_hmac_sha256(out, x->keys + 32, 32, sum, sizeof sum);
    mv_sha256_free(h);
    return rc;
}

mv_err mvc_findex_digest(mvc_findex *x, const mv_fhir_profiles *p, const mv_json *doc, uint8_t out[32])
{
    mv_fhir_split sp;
    mv_buf vless;
    mv_fhir_split_init(&sp);
    mv_buf_init(&vless, MV_FHIR_MAX_BYTES);
    mv_err rc = mv_fhir_split_stamped(p, doc, NULL, NULL, 0, &sp, &vless);
    if (rc == MV_OK)
        rc = mvc_findex_digest_split(x, &vless, &sp, out);
    mv_buf_clear(&vless);
    mv_fhir_split_clear(&sp);
    return rc;
}

const struct fx_ent *mvc_findex_latest(const mvc_findex *x, const char *type, const char *id)
{
    if (!x->lid_cap || !type || !id)
        return NULL;
    size_t i = lid_slot(x, type, id);
    const struct fx_ent *e = x->by_lid[i] ? &x->e[x->by_lid[i] - 1] : NULL;
    return e && !e->gone ? e : NULL;
}

const struct fx_ent *mvc_findex_by_rid(const mvc_findex *x, const uint8_t rid[16], int with_gone)
{
    if (!x->rid_cap)
        return NULL;
    size_t i = rid_slot(x, rid);
    const struct fx_ent *e = x->by_rid[i] ? &x->e[x->by_rid[i] - 1] : NULL;
    return e && (with_gone || !e->gone) ? e : NULL;
}

const char *mvc_findex_mrn_of(const mvc_findex *x, const char *ref)
{
    static const char *const prefixes[] = {"Patient/", "urn:uuid:"};
    const char *id = NULL;
    if (!ref || !ref[0])
        return NULL;
    for (size_t i = 0; i < 2 && !id; i++)
        if (!strncmp(ref, prefixes[i], strlen(prefixes[i])))
            id = ref + strlen(prefixes[i]);
    if (!id) {
        const char *s = strstr(ref, "/Patient/"); /* an absolute URL */
        if (s)
            id = s + 9;
    }
    if (!id || !mv_fhir_id_ok(id, strlen(id)))
        return NULL;
    const struct fx_ent *p = mvc_findex_latest(x, "Patient", id);
    if (p && p->s[FS_MRN][0])
        return p->s[FS_MRN];
    /* Records written before FHIR ids were linked name the MRN itself ("Patient/MRN-123"). */
    if (!strncmp(ref, "Patient/MRN-", 12))
        return ref + 8;
    return NULL;
}

const struct fx_ent *mvc_findex_entries(const mvc_findex *x, size_t *n)
{
    *n = x->n;
    return x->e;
}

void mvc_findex_view(const mvc_findex *x, const struct fx_ent *e, mv_fhir_entry *out)
{
    memcpy(out->record_id, e->rid, 16);
    out->kind = e->kind;
    out->created = e->created;
    out->version = e->version;
    out->latest = e->version ? e->latest : 1;
    out->type = e->s[FS_TYPE];
    out->id = e->s[FS_ID];
    out->last_updated = e->s[FS_UPDATED];
    out->patient = e->s[FS_PATIENT];
    const char *m = e->s[FS_MRN][0] ? e->s[FS_MRN] : mvc_findex_mrn_of(x, e->s[FS_PATIENT]);
    out->mrn = m ? m : "";
    out->date = e->s[FS_DATE];
    out->code = e->s[FS_CODE];
    out->status = e->s[FS_STATUS];
    out->display = e->s[FS_DISPLAY];
    out->name = e->s[FS_NAME];
}

const char *mvc_mrn_system(const mv_client *c)
{
    (void)c;
    return MV_MRN_SYSTEM_DEFAULT;
}

uint32_t mvc_version_number(const char *vid)
{
    uint64_t v = 0;
    size_t l = strlen(vid);
    if (l == 0 || l > 10 || vid[0] == '0')
        return 1;
    for (size_t i = 0; i < l; i++) {
        if (vid[i] < '0' || vid[i] > '9')
            return 1;
        v = v * 10 + (uint64_t)(vid[i] - '0');
    }
    return v <= UINT32_MAX ? (uint32_t)v : 1;
}
