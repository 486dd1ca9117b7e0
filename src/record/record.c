/* record.c - records and their envelopes: the decoder never trusts a length it has not checked
 * against the remaining input and a cap, the envelope releases nothing that GCM under R (bound
 * to the record id) did not authenticate, and every key and plaintext copy is wiped. */
#include "medvault/mv_record.h"

#include <string.h>
#include <time.h>

#include <sodium.h>

#include "medvault/mv_aead.h"
#include "medvault/mv_box.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_hkdf.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_zstd.h"
#include "record/skel.h"

static const uint8_t rec1_magic[4] = {'M', 'V', 'R', '1'}; /* read only: raw skeleton */
static const uint8_t rec2_magic[4] = {'M', 'V', 'R', '2'}; /* packed skeleton (skel.h) */
static const uint8_t env1_magic[4] = {'M', 'V', 'E', '1'};
static const uint8_t env2_magic[4] = {'M', 'V', 'E', '2'};
static const uint8_t ks_magic[4] = {'M', 'V', 'K', '1'};
static const char env1_aad_label[] = "medvault-envelope-v1";
static const char env2_aad_label[] = "medvault-envelope-v2";
static const char rkey_salt[] = "medvault-record-key-v2";

#define KEY_BYTES 32                                 /* R, and a keyset's K */
#define WRAP_BYTES (KEY_BYTES + MV_BOX_SEAL_BYTES)   /* crypto_box_seal(R) or (K) */
#define ENV1_HDR 5                                   /* "MVE1" | n_readers */
#define ENV2_HDR (4 + MV_RECORD_ID_BYTES + 1)        /* "MVE2" | kid | m */
#define KS_HDR 5                                     /* "MVK1" | n */
#define AAD1_BYTES (sizeof env1_aad_label - 1 + MV_RECORD_ID_BYTES)
#define AAD2_BYTES (sizeof env2_aad_label - 1 + 2 * MV_RECORD_ID_BYTES)
/* Smallest encoded block: tag, key and three one-byte varints. */
#define MIN_BLOCK_BYTES (32 + 32 + 3)
#define VARINT_MAX 10
#define REC1_VERSION 1
/* A packed skeleton is at most twice its text (skel.h: only bytes below 0x20 grow). */
#define PACKED_SKELETON_MAX (2 * MV_RECORD_SKELETON_MAX)
#define PACKED_NAME_MAX (2 * MV_RECORD_NAME_MAX)
_Static_assert(MV_RECORD_VERSION == 2, "mv_record_encode writes MVR2");

_Static_assert(MV_ENVELOPE_ENTRY_BYTES == MV_BOX_PUBLIC_BYTES + WRAP_BYTES, "entry = pk | wrap");
_Static_assert(KEY_BYTES == MV_AEAD_KEY_BYTES, "R is an AES-256 key");
_Static_assert(KEY_BYTES == MV_KEYSET_KEY_BYTES, "K and R have one size");
/* The figure decision 0010 and the unit test rely on: magic, kid, m, nonce, tag. */
_Static_assert(ENV2_HDR + MV_AEAD_NONCE_BYTES + MV_AEAD_TAG_BYTES == MV_ENVELOPE2_FIXED_BYTES, "49 bytes");

/* ---- records ---------------------------------------------------------------------------- */

void mv_record_init(mv_record *r)
{
    r->kind = MV_RECORD_FHIR;
    r->created = 0;
    r->name = NULL;
    r->name_len = 0;
    r->skeleton = NULL;
    r->skeleton_len = 0;
    r->n_blocks = 0;
    r->blocks = NULL;
}

mv_err mv_record_id_new(uint8_t id[static MV_RECORD_ID_BYTES])
{
    struct timespec ts;
    if (!id)
        return MV_ERR_INVAL;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
        return MV_ERR_CRYPTO;
    /* 48 bits of milliseconds last until the year 10889. */
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    for (int i = 0; i < MV_RECORD_ID_TIME_BYTES; i++)
        id[i] = (uint8_t)(ms >> (8 * (MV_RECORD_ID_TIME_BYTES - 1 - i)));
    mv_err rc = mv_random_bytes(id + MV_RECORD_ID_TIME_BYTES, MV_RECORD_ID_RANDOM_BYTES);
    return rc == MV_OK ? MV_OK : MV_ERR_CRYPTO;
}

/* Capacity of the blocks array of a record holding n blocks: 0, then powers of two from 4.
 * Both mv_record_add_block and mv_record_decode allocate exactly this, so the array needs no
 * separate capacity field. */
static size_t block_cap(size_t n)
{
    size_t c = 4;
    if (n == 0)
        return 0;
    while (c < n)
        c *= 2;
    return c;
}

void mv_record_clear(mv_record *r)
{
    if (!r)
        return;
    if (r->blocks) {
        mv_wipe(r->blocks, block_cap(r->n_blocks) * sizeof *r->blocks);
        mv_free(r->blocks);
    }
    if (r->skeleton) {
        mv_wipe(r->skeleton, r->skeleton_len);
        mv_free(r->skeleton);
    }
    if (r->name) {
        mv_wipe(r->name, r->name_len);
        mv_free(r->name);
    }
    mv_record_init(r);
}

mv_err mv_record_add_block(mv_record *r, const mv_block_ref *b)
{
    if (!r || !b)
        return MV_ERR_INVAL;
    if (r->n_blocks >= MV_RECORD_BLOCKS_MAX)
        return MV_ERR_TOO_LARGE;
    size_t cap = block_cap(r->n_blocks);
    if (r->n_blocks == cap) {
        /* Grow by copy (not realloc) so the old array, which holds keys, can be wiped. */
        size_t ncap = block_cap(r->n_blocks + 1);
        mv_block_ref *nb = mv_mallocarray(ncap, sizeof *nb);
        if (!nb)
            return MV_ERR_NOMEM;
        if (r->blocks) {
            memcpy(nb, r->blocks, r->n_blocks * sizeof *nb);
            mv_wipe(r->blocks, cap * sizeof *nb);
            mv_free(r->blocks);
        }
        r->blocks = nb;
    }
    r->blocks[r->n_blocks++] = *b;
    return MV_OK;
}

/* Replaces *dst (of *dst_len bytes) by a copy of src[0..len). */
static mv_err set_bytes(uint8_t **dst, size_t *dst_len, const uint8_t *src, size_t len, size_t cap)
{
    uint8_t *copy = NULL;
    if ((!src && len))
        return MV_ERR_INVAL;
    if (len > cap)
        return MV_ERR_TOO_LARGE;
    if (len) {
        if (!(copy = mv_malloc(len)))
            return MV_ERR_NOMEM;
        memcpy(copy, src, len);
    }
    if (*dst) {
        mv_wipe(*dst, *dst_len);
        mv_free(*dst);
    }
    *dst = copy;
    *dst_len = len;
    return MV_OK;
}

mv_err mv_record_set_name(mv_record *r, const uint8_t *name, size_t len)
{
    if (!r)
        return MV_ERR_INVAL;
    return set_bytes(&r->name, &r->name_len, name, len, MV_RECORD_NAME_MAX);
}

mv_err mv_record_set_skeleton(mv_record *r, const uint8_t *json, size_t len)
{
    if (!r)
        return MV_ERR_INVAL;
    return set_bytes(&r->skeleton, &r->skeleton_len, json, len, MV_RECORD_SKELETON_MAX);
}

static mv_err put_varint(mv_buf *b, uint64_t v)
{
    uint8_t tmp[VARINT_MAX];
    size_t n = 0;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        tmp[n++] = (uint8_t)(byte | (v ? 0x80 : 0));
    } while (v);
    return mv_buf_append(b, tmp, n);
}

/* The invariants encode requires and decode enforces (as MV_ERR_INVAL here). */
static mv_err record_check(const mv_record *r)
{
    if (r->kind != MV_RECORD_FHIR && r->kind != MV_RECORD_ATTACHMENT)
        return MV_ERR_INVAL;
    if (r->name_len > MV_RECORD_NAME_MAX || r->skeleton_len > MV_RECORD_SKELETON_MAX ||
        r->n_blocks > MV_RECORD_BLOCKS_MAX)
        return MV_ERR_INVAL;
    if ((!r->name && r->name_len) || (!r->skeleton && r->skeleton_len) || (!r->blocks && r->n_blocks))
        return MV_ERR_INVAL;
    if (r->kind == MV_RECORD_ATTACHMENT && r->skeleton_len)
        return MV_ERR_INVAL;
    for (size_t i = 0; i < r->n_blocks; i++) {
        if (r->blocks[i].cipher_len < MV_AEAD_TAG_BYTES)
            return MV_ERR_INVAL;
        if (r->kind == MV_RECORD_ATTACHMENT && r->blocks[i].slot != i)
            return MV_ERR_INVAL;
    }
    return MV_OK;
}

/* Drops whatever was appended to b past start, wiping it. */
static void buf_truncate(mv_buf *b, size_t start)
{
    if (b->ptr && b->len > start) {
        mv_wipe(b->ptr + start, b->len - start);
        b->len = start;
        b->ptr[start] = 0;
    }
}

mv_err mv_record_encode(const mv_record *r, mv_buf *out)
{
    mv_err rc;
    size_t start;
    uint8_t hdr[6];
    mv_buf packed;

    if (!r || !out)
        return MV_ERR_INVAL;
    if ((rc = record_check(r)) != MV_OK)
        return rc;
    mv_buf_init(&packed, PACKED_SKELETON_MAX);
    start = out->len;
    /* Packing shrinks a skeleton but for bytes below 0x20: one allocation in practice. */
    if (r->skeleton_len && (rc = mv_buf_reserve(&packed, r->skeleton_len + 16)) != MV_OK)
        goto out;
    memcpy(hdr, rec2_magic, 4);
    hdr[4] = MV_RECORD_VERSION;
    hdr[5] = (uint8_t)r->kind;
    /* The name is packed too: file names exported per resource carry the resource's UUID
     * (`MedicationRequest-<uuid>.json`), 36 characters that zstd keeps as about 20 bytes. */
    if ((rc = mv_buf_append(out, hdr, sizeof hdr)) != MV_OK || (rc = put_varint(out, r->created)) != MV_OK ||
        (rc = mv_skel_pack(r->name, r->name_len, &packed)) != MV_OK ||
        (rc = put_varint(out, packed.len)) != MV_OK || (rc = mv_buf_append(out, packed.ptr, packed.len)) != MV_OK)
        goto out;
    mv_buf_reset(&packed);
    if ((rc = mv_skel_pack(r->skeleton, r->skeleton_len, &packed)) != MV_OK ||
        (rc = put_varint(out, packed.len)) != MV_OK || (rc = mv_buf_append(out, packed.ptr, packed.len)) != MV_OK ||
        (rc = put_varint(out, r->n_blocks)) != MV_OK)
        goto out;
    for (size_t i = 0; i < r->n_blocks; i++) {
        const mv_block_ref *b = &r->blocks[i];
        /* slot + 1 (mod 2^32): the FHIR root, UINT32_MAX, is then the one-byte 0. */
        if ((rc = mv_buf_append(out, b->tag, sizeof b->tag)) != MV_OK ||
            (rc = mv_buf_append(out, b->key, sizeof b->key)) != MV_OK ||
            (rc = put_varint(out, (uint32_t)(b->slot + 1u))) != MV_OK ||
            (rc = put_varint(out, b->plain_len)) != MV_OK || (rc = put_varint(out, b->cipher_len)) != MV_OK)
            goto out;
    }
out:
    mv_buf_clear(&packed);
    if (rc != MV_OK)
        buf_truncate(out, start);
    return rc;
}

typedef struct cursor {
    const uint8_t *p;
    size_t left;
} cursor;

/* Unsigned LEB128, at most 64 bits, minimal (no trailing zero groups). */
static mv_err get_varint(cursor *c, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < VARINT_MAX; i++) {
        if (!c->left)
            return MV_ERR_PARSE;
        uint8_t b = *c->p++;
        c->left--;
        if (i == VARINT_MAX - 1 && b > 1)
            return MV_ERR_PARSE; /* beyond 64 bits */
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (b == 0 && i > 0)
                return MV_ERR_PARSE; /* non-minimal */
            *v = x;
            return MV_OK;
        }
    }
    return MV_ERR_PARSE;
}

static mv_err get_bytes(cursor *c, void *dst, size_t n)
{
    if (c->left < n)
        return MV_ERR_PARSE;
    if (n)
        memcpy(dst, c->p, n);
    c->p += n;
    c->left -= n;
    return MV_OK;
}

/* A length-prefixed byte string within the input (not copied), with a cap. */
static mv_err get_view(cursor *c, size_t cap, const uint8_t **p, size_t *n)
{
    uint64_t v;
    mv_err rc;
    if ((rc = get_varint(c, &v)) != MV_OK)
        return rc;
    if (v > cap)
        return MV_ERR_TOO_LARGE;
    if (v > c->left)
        return MV_ERR_PARSE;
    *p = c->p;
    *n = (size_t)v;
    c->p += v;
    c->left -= (size_t)v;
    return MV_OK;
}

/* MVR2's name or skeleton: the packed form (skel.h) of at most packed_cap bytes, unpacked into
 * a new allocation. Strict as mv_skel_unpack: one packing per text, and no more than text_cap
 * bytes. */
static mv_err get_packed(cursor *c, size_t packed_cap, size_t text_cap, uint8_t **dst, size_t *dst_len)
{
    const uint8_t *p;
    size_t n;
    mv_err rc;
    mv_buf text;
    if ((rc = get_view(c, packed_cap, &p, &n)) != MV_OK || n == 0)
        return rc;
    mv_buf_init(&text, text_cap);
    if ((rc = mv_skel_unpack(p, n, text_cap, &text)) != MV_OK) {
        mv_buf_clear(&text);
        return rc;
    }
    *dst = mv_buf_steal(&text, dst_len); /* not NULL: a packed byte gives at least one text byte */
    return *dst ? MV_OK : MV_ERR_NOMEM;
}

/* A length-prefixed byte string with a cap, copied into a new allocation. */
static mv_err get_string(cursor *c, size_t cap, uint8_t **dst, size_t *dst_len)
{
    uint64_t n;
    mv_err rc;
    if ((rc = get_varint(c, &n)) != MV_OK)
        return rc;
    if (n > cap)
        return MV_ERR_TOO_LARGE;
    if (n > c->left)
        return MV_ERR_PARSE;
    if (n == 0)
        return MV_OK;
    if (!(*dst = mv_malloc((size_t)n)))
        return MV_ERR_NOMEM;
    *dst_len = (size_t)n;
    return get_bytes(c, *dst, (size_t)n);
}

mv_err mv_record_decode(const uint8_t *in, size_t len, mv_record *out)
{
    mv_err rc = MV_ERR_PARSE;
    cursor c = {in, len};
    uint8_t hdr[6];
    uint64_t n_blocks;
    int packed = 0;

    if (!out)
        return MV_ERR_INVAL;
    mv_record_clear(out);
    if (!in && len)
        return MV_ERR_INVAL;
    if (get_bytes(&c, hdr, sizeof hdr) != MV_OK)
        goto out;
    if (memcmp(hdr, rec2_magic, 4) == 0 && hdr[4] == MV_RECORD_VERSION)
        packed = 1;
    else if (!(memcmp(hdr, rec1_magic, 4) == 0 && hdr[4] == REC1_VERSION))
        goto out;
    if (hdr[5] == MV_RECORD_FHIR)
        out->kind = MV_RECORD_FHIR;
    else if (hdr[5] == MV_RECORD_ATTACHMENT)
        out->kind = MV_RECORD_ATTACHMENT;
    else
        goto out;
    if ((rc = get_varint(&c, &out->created)) != MV_OK ||
        (rc = (packed ? get_packed(&c, PACKED_NAME_MAX, MV_RECORD_NAME_MAX, &out->name, &out->name_len)
                      : get_string(&c, MV_RECORD_NAME_MAX, &out->name, &out->name_len))) != MV_OK ||
        (rc = (packed ? get_packed(&c, PACKED_SKELETON_MAX, MV_RECORD_SKELETON_MAX, &out->skeleton,
                                   &out->skeleton_len)
                      : get_string(&c, MV_RECORD_SKELETON_MAX, &out->skeleton, &out->skeleton_len))) != MV_OK ||
        (rc = get_varint(&c, &n_blocks)) != MV_OK)
        goto out;
    rc = MV_ERR_PARSE;
    if (out->kind == MV_RECORD_ATTACHMENT && out->skeleton_len)
        goto out;
    if (n_blocks > MV_RECORD_BLOCKS_MAX) {
        rc = MV_ERR_TOO_LARGE;
        goto out;
    }
    /* Allocate only for blocks the input can actually hold. */
    if (n_blocks > c.left / MIN_BLOCK_BYTES)
        goto out;
    if (n_blocks) {
        if (!(out->blocks = mv_mallocarray(block_cap((size_t)n_blocks), sizeof *out->blocks))) {
            rc = MV_ERR_NOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < n_blocks; i++) {
        mv_block_ref *b = &out->blocks[i];
        uint64_t slot1;
        out->n_blocks = i + 1; /* so clear wipes exactly what was written */
        memset(b, 0, sizeof *b);
        if ((rc = get_bytes(&c, b->tag, sizeof b->tag)) != MV_OK ||
            (rc = get_bytes(&c, b->key, sizeof b->key)) != MV_OK || (rc = get_varint(&c, &slot1)) != MV_OK ||
            (rc = get_varint(&c, &b->plain_len)) != MV_OK || (rc = get_varint(&c, &b->cipher_len)) != MV_OK)
            goto out;
        rc = MV_ERR_PARSE;
        if (slot1 > UINT32_MAX || b->cipher_len < MV_AEAD_TAG_BYTES)
            goto out;
        b->slot = (uint32_t)(slot1 - 1u); /* 0 -> UINT32_MAX, the FHIR root */
        if (out->kind == MV_RECORD_ATTACHMENT && b->slot != i)
            goto out;
    }
    rc = c.left ? MV_ERR_PARSE : MV_OK;
out:
    if (rc != MV_OK)
        mv_record_clear(out);
    return rc;
}


/* ---- envelopes and keysets ----------------------------------------------------------------- */

/* The one place the record body is compressed and decompressed (every envelope kind uses it). */
static mv_err body_compress(const uint8_t *in, size_t len, mv_buf *out)
{
    return mv_zstd_compress_dict(in, len, MV_ZSTD_BODY_LEVEL, MV_ZSTD_DICT_BODY, out);
}

static mv_err body_decompress(const uint8_t *in, size_t len, mv_buf *out)
{
    return mv_zstd_decompress_dict(in, len, MV_ENVELOPE_MAX_PLAIN, out);
}

typedef struct env_view {
    mv_envelope_kind kind;
    const uint8_t *kid;     /* MVE2: the keyset's record id; else NULL */
    size_t n;               /* entries */
    const uint8_t *entries; /* n x (pk | wrap) */
    const uint8_t *body;    /* MVE1/MVE2: nonce | ct || tag; MVK1: NULL */
    size_t body_len;
} env_view;

/* Strict framing of all three kinds: a known magic, an entry count within the kind's range,
 * distinct reader keys, and the exact length (MVK1) or room for the nonce and the tag. */
static mv_err env_parse(const uint8_t *env, size_t len, env_view *v)
{
    size_t hdr, lo, hi;
    memset(v, 0, sizeof *v);
    if (!env && len)
        return MV_ERR_INVAL;
    if (len < 4)
        return MV_ERR_PARSE;
    if (memcmp(env, env1_magic, 4) == 0) {
        v->kind = MV_ENVELOPE_MVE1;
        hdr = ENV1_HDR, lo = 1, hi = MV_ENVELOPE_MAX_READERS;
    } else if (memcmp(env, env2_magic, 4) == 0) {
        v->kind = MV_ENVELOPE_MVE2;
        hdr = ENV2_HDR, lo = 0, hi = MV_ENVELOPE2_MAX_EXTRA;
    } else if (memcmp(env, ks_magic, 4) == 0) {
        v->kind = MV_ENVELOPE_MVK1;
        hdr = KS_HDR, lo = 1, hi = MV_KEYSET_MAX_READERS;
    } else {
        return MV_ERR_PARSE;
    }
    if (len < hdr)
        return MV_ERR_PARSE;
    v->n = env[hdr - 1];
    if (v->n < lo || v->n > hi)
        return MV_ERR_PARSE;
    size_t head = hdr + v->n * MV_ENVELOPE_ENTRY_BYTES;
    if (v->kind == MV_ENVELOPE_MVK1) {
        if (len != head)
            return MV_ERR_PARSE;
    } else if (len < head + MV_AEAD_NONCE_BYTES + MV_AEAD_TAG_BYTES) {
        return MV_ERR_PARSE;
    }
    if (v->kind == MV_ENVELOPE_MVE2)
        v->kid = env + 4;
    v->entries = env + hdr;
    if (v->kind != MV_ENVELOPE_MVK1) {
        v->body = env + head;
        v->body_len = len - head;
    }
    for (size_t i = 0; i < v->n; i++)
        for (size_t j = i + 1; j < v->n; j++)
            if (memcmp(v->entries + i * MV_ENVELOPE_ENTRY_BYTES, v->entries + j * MV_ENVELOPE_ENTRY_BYTES,
                       MV_BOX_PUBLIC_BYTES) == 0)
                return MV_ERR_PARSE;
    return MV_OK;
}

/* Index of pk among the entries, or v->n. Public keys are public: no constant time needed. */
static size_t env_find(const env_view *v, const uint8_t *pk)
{
    for (size_t i = 0; i < v->n; i++)
        if (memcmp(v->entries + i * MV_ENVELOPE_ENTRY_BYTES, pk, MV_BOX_PUBLIC_BYTES) == 0)
            return i;
    return v->n;
}

/* env_parse for a caller that takes one kind: MV_ERR_PARSE for the others. */
static mv_err env_parse_as(const uint8_t *env, size_t len, mv_envelope_kind kind, env_view *v)
{
    mv_err rc = env_parse(env, len, v);
    if (rc == MV_OK && v->kind != kind)
        rc = MV_ERR_PARSE;
    return rc;
}

/* Appends the header of v's kind (and kid) with n entries. */
static mv_err env_put_head(mv_buf *out, const env_view *v, size_t n)
{
    uint8_t hdr[ENV2_HDR];
    size_t l;
    if (v->kind == MV_ENVELOPE_MVE2) {
        memcpy(hdr, env2_magic, 4);
        memcpy(hdr + 4, v->kid, MV_RECORD_ID_BYTES);
        l = ENV2_HDR;
    } else {
        memcpy(hdr, v->kind == MV_ENVELOPE_MVE1 ? env1_magic : ks_magic, 4);
        l = ENV1_HDR;
    }
    hdr[l - 1] = (uint8_t)n;
    return mv_buf_append(out, hdr, l);
}

/* aad = "medvault-envelope-v1" || id */
static void env1_aad(uint8_t aad[AAD1_BYTES], const uint8_t *id)
{
    memcpy(aad, env1_aad_label, sizeof env1_aad_label - 1);
    memcpy(aad + sizeof env1_aad_label - 1, id, MV_RECORD_ID_BYTES);
}

/* aad = "medvault-envelope-v2" || id || kid: a body cannot be moved to another record or
 * presented under another keyset. */
static void env2_aad(uint8_t aad[AAD2_BYTES], const uint8_t *id, const uint8_t *kid)
{
    memcpy(aad, env2_aad_label, sizeof env2_aad_label - 1);
    memcpy(aad + sizeof env2_aad_label - 1, id, MV_RECORD_ID_BYTES);
    memcpy(aad + sizeof env2_aad_label - 1 + MV_RECORD_ID_BYTES, kid, MV_RECORD_ID_BYTES);
}

/* Appends pk | crypto_box_seal(key, pk). */
static mv_err put_entry(mv_buf *out, const uint8_t *pk, const uint8_t key[KEY_BYTES])
{
    mv_err rc;
    if ((rc = mv_buf_append(out, pk, MV_BOX_PUBLIC_BYTES)) != MV_OK ||
        (rc = mv_buf_reserve(out, WRAP_BYTES)) != MV_OK)
        return rc;
    if ((rc = mv_box_seal(out->ptr + out->len, key, KEY_BYTES, pk)) != MV_OK)
        return rc;
    out->len += WRAP_BYTES;
    out->ptr[out->len] = 0;
    return MV_OK;
}

/* The distinct keys of pks[0..n) in order (first occurrence kept) into uniq. */
static mv_err uniq_readers(const uint8_t *pks, size_t n, size_t cap, const uint8_t **uniq, size_t *n_uniq)
{
    *n_uniq = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *pk = pks + i * MV_BOX_PUBLIC_BYTES;
        size_t j = 0;
        while (j < *n_uniq && memcmp(uniq[j], pk, MV_BOX_PUBLIC_BYTES) != 0)
            j++;
        if (j < *n_uniq)
            continue;
        if (*n_uniq == cap)
            return MV_ERR_TOO_LARGE;
        uniq[(*n_uniq)++] = pk;
    }
    return MV_OK;
}

/* The most entries a sealed kind starts with (MVE1 and MVK1 alike). */
#define SEAL_READERS_MAX 64
_Static_assert(MV_ENVELOPE_MAX_READERS <= SEAL_READERS_MAX && MV_KEYSET_MAX_READERS <= SEAL_READERS_MAX,
               "uniq[] in env_put_readers holds every reader a seal takes");

/* Appends the header of v's kind and one entry wrapping key for each distinct key of
 * reader_pks[0..n_readers) (first occurrence kept): MV_ERR_TOO_LARGE for more than cap. */
static mv_err env_put_readers(mv_buf *out, const env_view *v, const uint8_t *reader_pks, size_t n_readers,
                              size_t cap, const uint8_t key[KEY_BYTES])
{
    const uint8_t *uniq[SEAL_READERS_MAX];
    size_t n_uniq = 0;
    mv_err rc;
    if ((rc = uniq_readers(reader_pks, n_readers, cap, uniq, &n_uniq)) != MV_OK ||
        (rc = env_put_head(out, v, n_uniq)) != MV_OK)
        return rc;
    for (size_t i = 0; i < n_uniq; i++)
        if ((rc = put_entry(out, uniq[i], key)) != MV_OK)
            return rc;
    return MV_OK;
}

/* Appends nonce | AES-256-GCM(R, nonce, aad, compress(encode(r))). */
static mv_err seal_body(const mv_record *r, const uint8_t *aad, size_t aad_len, const uint8_t R[KEY_BYTES],
                        mv_buf *out)
{
    mv_err rc;
    uint8_t nonce[MV_AEAD_NONCE_BYTES];
    mv_buf enc, z;
    mv_buf_init(&enc, MV_ENVELOPE_MAX_PLAIN);
    mv_buf_init(&z, SIZE_MAX / 2);
    if ((rc = mv_record_encode(r, &enc)) != MV_OK || (rc = body_compress(enc.ptr, enc.len, &z)) != MV_OK)
        goto out;
    /* A random 96-bit nonce: R is fresh per seal (MVE1) or per (K, id) (MVE2), and an id is
     * sealed again only when a record's envelope is re-sealed, so (R, nonce) never repeats
     * in practice; a random nonce also keeps a re-seal of one id under one K safe. */
    randombytes_buf(nonce, sizeof nonce);
    if ((rc = mv_buf_append(out, nonce, sizeof nonce)) != MV_OK ||
        (rc = mv_buf_reserve(out, z.len + MV_AEAD_TAG_BYTES)) != MV_OK)
        goto out;
    if ((rc = mv_aead_encrypt(out->ptr + out->len, z.ptr, z.len, aad, aad_len, nonce, R)) != MV_OK)
        goto out;
    out->len += z.len + MV_AEAD_TAG_BYTES;
    out->ptr[out->len] = 0;
out:
    mv_buf_clear(&enc);
    mv_buf_clear(&z);
    return rc;
}

/* Verifies and decrypts body (nonce | ct || tag) under R and aad, then (if out is not NULL)
 * decompresses and decodes it into out. Nothing is decoded unless GCM verified. */
static mv_err open_body(const uint8_t *body, size_t body_len, const uint8_t *aad, size_t aad_len,
                        const uint8_t R[KEY_BYTES], mv_record *out)
{
    mv_err rc;
    size_t plain_len = body_len - MV_AEAD_NONCE_BYTES - MV_AEAD_TAG_BYTES;
    uint8_t *plain = mv_malloc(plain_len ? plain_len : 1);
    mv_buf dec;
    mv_buf_init(&dec, MV_ENVELOPE_MAX_PLAIN);
    if (!plain)
        return MV_ERR_NOMEM;
    if ((rc = mv_aead_decrypt(plain, body + MV_AEAD_NONCE_BYTES, body_len - MV_AEAD_NONCE_BYTES, aad, aad_len, body,
                              R)) != MV_OK)
        goto out;
    if (!out)
        goto out;
    if ((rc = body_decompress(plain, plain_len, &dec)) != MV_OK)
        goto out;
    rc = mv_record_decode(dec.ptr, dec.len, out);
out:
    mv_wipe(plain, plain_len ? plain_len : 1);
    mv_free(plain);
    mv_buf_clear(&dec);
    return rc;
}

/* Unwraps the key in box_pk's entry. */
static mv_err env_unwrap(const env_view *v, const uint8_t *box_pk, const uint8_t *box_sk, uint8_t key[KEY_BYTES])
{
    size_t i = env_find(v, box_pk);
    if (i == v->n)
        return MV_ERR_FORBIDDEN;
    return mv_box_seal_open(key, v->entries + i * MV_ENVELOPE_ENTRY_BYTES + MV_BOX_PUBLIC_BYTES, WRAP_BYTES,
                            box_pk, box_sk);
}

/* Unwraps the key in box_pk's entry of env, which must be of the given kind (an MVE2's R, an
 * MVK1's K); key is wiped if the unwrap fails. */
static mv_err env_unwrap_as(const uint8_t *env, size_t len, mv_envelope_kind kind, const uint8_t *box_pk,
                            const uint8_t *box_sk, uint8_t key[KEY_BYTES])
{
    env_view v;
    mv_err rc;
    if ((rc = env_parse_as(env, len, kind, &v)) != MV_OK)
        return rc;
    if ((rc = env_unwrap(&v, box_pk, box_sk, key)) != MV_OK)
        mv_wipe(key, KEY_BYTES);
    return rc;
}

mv_err mv_envelope_kind_of(const uint8_t *env, size_t len, mv_envelope_kind *kind,
                           uint8_t kid[MV_RECORD_ID_BYTES])
{
    env_view v;
    mv_err rc;
    if (!kind)
        return MV_ERR_INVAL;
    if ((rc = env_parse(env, len, &v)) != MV_OK)
        return rc;
    *kind = v.kind;
    if (kid && v.kind == MV_ENVELOPE_MVE2)
        memcpy(kid, v.kid, MV_RECORD_ID_BYTES);
    return MV_OK;
}

/* Appends a whole envelope of v's kind: the header, an entry wrapping R for each distinct
 * reader of reader_pks[0..n_readers) (at most cap; none for a bare MVE2), and r's body sealed
 * under R and aad. Nothing is left appended on error. */
static mv_err env_seal(mv_buf *out, const env_view *v, const uint8_t *reader_pks, size_t n_readers, size_t cap,
                       const mv_record *r, const uint8_t *aad, size_t aad_len, const uint8_t R[KEY_BYTES])
{
    size_t start = out->len;
    mv_err rc;
    if ((rc = env_put_readers(out, v, reader_pks, n_readers, cap, R)) != MV_OK ||
        (rc = seal_body(r, aad, aad_len, R, out)) != MV_OK)
        buf_truncate(out, start);
    return rc;
}

mv_err mv_envelope_seal(const uint8_t id[static MV_RECORD_ID_BYTES], const mv_record *r,
                        const uint8_t *reader_pks, size_t n_readers, mv_buf *out)
{
    mv_err rc;
    uint8_t R[KEY_BYTES];
    uint8_t aad[AAD1_BYTES];
    env_view v = {.kind = MV_ENVELOPE_MVE1};

    if (!id || !r || !reader_pks || !n_readers || !out)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    randombytes_buf(R, sizeof R);
    env1_aad(aad, id);
    rc = env_seal(out, &v, reader_pks, n_readers, MV_ENVELOPE_MAX_READERS, r, aad, sizeof aad, R);
    mv_wipe(R, sizeof R);
    return rc;
}

/* Opens the body of v (MVE1 or MVE2) of record id with its record key R. */
static mv_err env_open_R_any(const uint8_t *id, const env_view *v, const uint8_t R[KEY_BYTES], mv_record *out)
{
    uint8_t aad[AAD2_BYTES];
    if (v->kind == MV_ENVELOPE_MVE1) {
        env1_aad(aad, id);
        return open_body(v->body, v->body_len, aad, AAD1_BYTES, R, out);
    }
    if (v->kind != MV_ENVELOPE_MVE2)
        return MV_ERR_PARSE; /* a keyset, not a record */
    env2_aad(aad, id, v->kid);
    return open_body(v->body, v->body_len, aad, AAD2_BYTES, R, out);
}

mv_err mv_envelope_unwrap(const uint8_t *env, size_t len, const uint8_t box_pk[static 32],
                          const uint8_t box_sk[static 32], uint8_t R[static MV_KEYSET_KEY_BYTES])
{
    env_view v;
    mv_err rc;
    if (!box_pk || !box_sk || !R)
        return MV_ERR_INVAL;
    if ((rc = env_parse(env, len, &v)) != MV_OK)
        return rc;
    if (v.kind == MV_ENVELOPE_MVK1)
        return MV_ERR_PARSE;
    if ((rc = env_unwrap(&v, box_pk, box_sk, R)) != MV_OK)
        mv_wipe(R, KEY_BYTES);
    return rc;
}

/* Opens env (MVE1 or MVE2; only MVE2 when mve2_only) of record id with R into out. */
static mv_err open_with_key(const uint8_t *id, const uint8_t *env, size_t len, const uint8_t *R, int mve2_only,
                            mv_record *out)
{
    env_view v;
    mv_err rc;
    if (!out)
        return MV_ERR_INVAL;
    mv_record_clear(out);
    if (!id || !R)
        return MV_ERR_INVAL;
    if ((rc = env_parse(env, len, &v)) != MV_OK)
        return rc;
    if (mve2_only && v.kind != MV_ENVELOPE_MVE2)
        return MV_ERR_PARSE;
    if ((rc = env_open_R_any(id, &v, R, out)) != MV_OK)
        mv_record_clear(out);
    return rc;
}

mv_err mv_envelope_open_with_key(const uint8_t id[static MV_RECORD_ID_BYTES], const uint8_t *env, size_t len,
                                 const uint8_t R[static MV_KEYSET_KEY_BYTES], mv_record *out)
{
    return open_with_key(id, env, len, R, 0, out);
}

mv_err mv_envelope_open(const uint8_t id[static MV_RECORD_ID_BYTES], const uint8_t *env, size_t len,
                        const uint8_t box_pk[static 32], const uint8_t box_sk[static 32], mv_record *out)
{
    mv_err rc;
    env_view v;
    uint8_t R[KEY_BYTES];
    if (!out)
        return MV_ERR_INVAL;
    mv_record_clear(out);
    if (!id || !box_pk || !box_sk)
        return MV_ERR_INVAL;
    if ((rc = env_parse(env, len, &v)) != MV_OK)
        return rc;
    if (v.kind == MV_ENVELOPE_MVK1)
        return MV_ERR_PARSE; /* a keyset, not a record */
    if ((rc = env_unwrap(&v, box_pk, box_sk, R)) != MV_OK)
        goto out;
    rc = env_open_R_any(id, &v, R, out);
out:
    mv_wipe(R, sizeof R);
    if (rc != MV_OK)
        mv_record_clear(out);
    return rc;
}

mv_err mv_envelope_readers(const uint8_t *env, size_t len, uint8_t *pks_out, size_t cap_pks, size_t *n)
{
    env_view v;
    mv_err rc;
    if (!n || (!pks_out && cap_pks))
        return MV_ERR_INVAL;
    *n = 0;
    if ((rc = env_parse(env, len, &v)) != MV_OK)
        return rc;
    *n = v.n;
    if (cap_pks < v.n)
        return MV_ERR_TOO_LARGE;
    for (size_t i = 0; i < v.n; i++)
        memcpy(pks_out + i * MV_BOX_PUBLIC_BYTES, v.entries + i * MV_ENVELOPE_ENTRY_BYTES, MV_BOX_PUBLIC_BYTES);
    return MV_OK;
}

/* Appends v again with its entries but entry drop (none if drop >= v->n), then one more
 * wrapping key for new_pk if new_pk is not NULL, then the unchanged body: the one way an
 * envelope's reader list is edited. Nothing is left appended on error. */
static mv_err env_put_edited(mv_buf *out, const env_view *v, size_t drop, const uint8_t *new_pk,
                             const uint8_t *key)
{
    size_t start = out->len, keep = drop < v->n ? drop : v->n, cut = drop < v->n ? 1 : 0;
    const uint8_t *tail = v->entries + (keep + cut) * MV_ENVELOPE_ENTRY_BYTES;
    mv_err rc;
    if ((rc = env_put_head(out, v, v->n - cut + (new_pk ? 1 : 0))) != MV_OK ||
        (rc = mv_buf_append(out, v->entries, keep * MV_ENVELOPE_ENTRY_BYTES)) != MV_OK ||
        (rc = mv_buf_append(out, tail, (v->n - keep - cut) * MV_ENVELOPE_ENTRY_BYTES)) != MV_OK ||
        (new_pk && (rc = put_entry(out, new_pk, key)) != MV_OK) ||
        (rc = mv_buf_append(out, v->body, v->body_len)) != MV_OK)
        buf_truncate(out, start);
    return rc;
}

/* Appends env (parsed as v) with one more entry wrapping key for new_pk; an unchanged copy if
 * new_pk already has one. */
static mv_err env_with_entry(const uint8_t *env, size_t len, const env_view *v, const uint8_t key[KEY_BYTES],
                             const uint8_t *new_pk, mv_buf *out)
{
    size_t hi = v->kind == MV_ENVELOPE_MVE2   ? MV_ENVELOPE2_MAX_EXTRA
                : v->kind == MV_ENVELOPE_MVK1 ? MV_KEYSET_MAX_READERS
                                              : MV_ENVELOPE_MAX_READERS;
    if (env_find(v, new_pk) < v->n)
        return mv_buf_append(out, env, len);
    if (v->n >= hi)
        return MV_ERR_TOO_LARGE;
    return env_put_edited(out, v, v->n, new_pk, key);
}

mv_err mv_envelope_add_reader(const uint8_t *env, size_t len, const uint8_t box_pk[static 32],
                              const uint8_t box_sk[static 32], const uint8_t new_pk[static 32], mv_buf *out)
{
    mv_err rc;
    env_view v;
    uint8_t R[KEY_BYTES];

    if (!box_pk || !box_sk || !new_pk || !out)
        return MV_ERR_INVAL;
    if ((rc = env_parse(env, len, &v)) != MV_OK)
        return rc;
    if (v.kind == MV_ENVELOPE_MVK1)
        return MV_ERR_PARSE; /* mv_keyset_add_reader */
    if ((rc = env_unwrap(&v, box_pk, box_sk, R)) == MV_OK)
        rc = env_with_entry(env, len, &v, R, new_pk, out);
    mv_wipe(R, sizeof R);
    return rc;
}

mv_err mv_envelope_remove_reader(const uint8_t *env, size_t len, const uint8_t pk[static 32], mv_buf *out)
{
    mv_err rc;
    env_view v;
    size_t i;

    if (!pk || !out)
        return MV_ERR_INVAL;
    if ((rc = env_parse(env, len, &v)) != MV_OK)
        return rc;
    if ((i = env_find(&v, pk)) == v.n)
        return MV_ERR_NOT_FOUND;
    /* MVE2 keeps its keyset readers without any entry; the other kinds would lose every reader. */
    if (v.n == 1 && v.kind != MV_ENVELOPE_MVE2)
        return MV_ERR_BAD_STATE;
    return env_put_edited(out, &v, i, NULL, NULL);
}

/* ---- MVE2 ---------------------------------------------------------------------------------- */

mv_err mv_envelope_record_key(const uint8_t id[static MV_RECORD_ID_BYTES],
                              const uint8_t K[static MV_KEYSET_KEY_BYTES], uint8_t R[static MV_KEYSET_KEY_BYTES])
{
    if (!id || !K || !R)
        return MV_ERR_INVAL;
    return mv_hkdf_sha256(R, KEY_BYTES, (const uint8_t *)rkey_salt, sizeof rkey_salt - 1, K, KEY_BYTES, id,
                          MV_RECORD_ID_BYTES);
}

mv_err mv_envelope2_seal(const uint8_t id[static MV_RECORD_ID_BYTES], const mv_record *r,
                         const uint8_t kid[static MV_RECORD_ID_BYTES], const uint8_t K[static MV_KEYSET_KEY_BYTES],
                         mv_buf *out)
{
    mv_err rc;
    uint8_t R[KEY_BYTES];
    uint8_t aad[AAD2_BYTES];
    env_view v = {.kind = MV_ENVELOPE_MVE2, .kid = kid};

    if (!id || !r || !kid || !K || !out)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    env2_aad(aad, id, kid);
    if ((rc = mv_envelope_record_key(id, K, R)) == MV_OK)
        rc = env_seal(out, &v, NULL, 0, 0, r, aad, sizeof aad, R); /* no entry: readers use the keyset */
    mv_wipe(R, sizeof R);
    return rc;
}

/* Opens an MVE2 envelope (already parsed as v) with its record key R. */
static mv_err env2_open_R(const uint8_t *id, const env_view *v, const uint8_t R[KEY_BYTES], mv_record *out)
{
    return v->kind == MV_ENVELOPE_MVE2 ? env_open_R_any(id, v, R, out) : MV_ERR_PARSE;
}

mv_err mv_envelope2_open(const uint8_t id[static MV_RECORD_ID_BYTES], const uint8_t *env, size_t len,
                         const uint8_t K[static MV_KEYSET_KEY_BYTES], mv_record *out)
{
    mv_err rc;
    uint8_t R[KEY_BYTES];
    if (!out)
        return MV_ERR_INVAL;
    mv_record_clear(out);
    if (!id || !K)
        return MV_ERR_INVAL;
    if ((rc = mv_envelope_record_key(id, K, R)) == MV_OK)
        rc = mv_envelope2_open_with_key(id, env, len, R, out); /* clears out on error */
    mv_wipe(R, sizeof R);
    return rc;
}

mv_err mv_envelope2_open_with_key(const uint8_t id[static MV_RECORD_ID_BYTES], const uint8_t *env, size_t len,
                                  const uint8_t R[static MV_KEYSET_KEY_BYTES], mv_record *out)
{
    return open_with_key(id, env, len, R, 1, out);
}

mv_err mv_envelope2_unwrap(const uint8_t *env, size_t len, const uint8_t box_pk[static 32],
                           const uint8_t box_sk[static 32], uint8_t R[static MV_KEYSET_KEY_BYTES])
{
    if (!box_pk || !box_sk || !R)
        return MV_ERR_INVAL;
    return env_unwrap_as(env, len, MV_ENVELOPE_MVE2, box_pk, box_sk, R);
}

mv_err mv_envelope2_add_reader(const uint8_t id[static MV_RECORD_ID_BYTES], const uint8_t *env, size_t len,
                               const uint8_t R[static MV_KEYSET_KEY_BYTES], const uint8_t new_pk[static 32],
                               mv_buf *out)
{
    mv_err rc;
    env_view v;
    if (!id || !R || !new_pk || !out)
        return MV_ERR_INVAL;
    if ((rc = env_parse_as(env, len, MV_ENVELOPE_MVE2, &v)) != MV_OK)
        return rc;
    /* Wrap only a key that opens this record: a wrong R would hand the reader nothing. */
    if ((rc = env2_open_R(id, &v, R, NULL)) != MV_OK)
        return rc;
    return env_with_entry(env, len, &v, R, new_pk, out);
}

/* ---- MVK1 ---------------------------------------------------------------------------------- */

mv_err mv_keyset_seal(const uint8_t K[static MV_KEYSET_KEY_BYTES], const uint8_t *reader_pks, size_t n_readers,
                      mv_buf *out)
{
    mv_err rc;
    size_t start;
    env_view v = {.kind = MV_ENVELOPE_MVK1};
    if (!K || !reader_pks || !n_readers || !out)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    start = out->len;
    if ((rc = env_put_readers(out, &v, reader_pks, n_readers, MV_KEYSET_MAX_READERS, K)) != MV_OK)
        buf_truncate(out, start);
    return rc;
}

mv_err mv_keyset_open(const uint8_t *ks, size_t len, const uint8_t box_pk[static 32], const uint8_t box_sk[static 32],
                      uint8_t K[static MV_KEYSET_KEY_BYTES])
{
    if (!box_pk || !box_sk || !K)
        return MV_ERR_INVAL;
    return env_unwrap_as(ks, len, MV_ENVELOPE_MVK1, box_pk, box_sk, K);
}

mv_err mv_keyset_add_reader(const uint8_t *ks, size_t len, const uint8_t K[static MV_KEYSET_KEY_BYTES],
                            const uint8_t new_pk[static 32], mv_buf *out)
{
    mv_err rc;
    env_view v;
    if (!K || !new_pk || !out)
        return MV_ERR_INVAL;
    if ((rc = env_parse_as(ks, len, MV_ENVELOPE_MVK1, &v)) != MV_OK)
        return rc;
    return env_with_entry(ks, len, &v, K, new_pk, out);
}
