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
#include "medvault/mv_mem.h"
#include "medvault/mv_zstd.h"

static const uint8_t rec_magic[4] = {'M', 'V', 'R', '1'};
static const uint8_t env_magic[4] = {'M', 'V', 'E', '1'};
static const char env_aad_label[] = "medvault-envelope-v1";

#define KEY_BYTES 32                                 /* R */
#define WRAP_BYTES (KEY_BYTES + MV_BOX_SEAL_BYTES)   /* crypto_box_seal(R) */
#define ENV_HDR 5                                    /* magic | n_readers */
/* Smallest encoded block: tag, key and three one-byte varints. */
#define MIN_BLOCK_BYTES (32 + 32 + 3)
#define VARINT_MAX 10

_Static_assert(MV_ENVELOPE_ENTRY_BYTES == MV_BOX_PUBLIC_BYTES + WRAP_BYTES, "entry = pk | wrap");
_Static_assert(KEY_BYTES == MV_AEAD_KEY_BYTES, "R is an AES-256 key");

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

    if (!r || !out)
        return MV_ERR_INVAL;
    if ((rc = record_check(r)) != MV_OK)
        return rc;
    start = out->len;
    memcpy(hdr, rec_magic, 4);
    hdr[4] = MV_RECORD_VERSION;
    hdr[5] = (uint8_t)r->kind;
    if ((rc = mv_buf_append(out, hdr, sizeof hdr)) != MV_OK || (rc = put_varint(out, r->created)) != MV_OK ||
        (rc = put_varint(out, r->name_len)) != MV_OK || (rc = mv_buf_append(out, r->name, r->name_len)) != MV_OK ||
        (rc = put_varint(out, r->skeleton_len)) != MV_OK ||
        (rc = mv_buf_append(out, r->skeleton, r->skeleton_len)) != MV_OK ||
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

    if (!out)
        return MV_ERR_INVAL;
    mv_record_clear(out);
    if (!in && len)
        return MV_ERR_INVAL;
    if (get_bytes(&c, hdr, sizeof hdr) != MV_OK || memcmp(hdr, rec_magic, 4) != 0 ||
        hdr[4] != MV_RECORD_VERSION)
        goto out;
    if (hdr[5] == MV_RECORD_FHIR)
        out->kind = MV_RECORD_FHIR;
    else if (hdr[5] == MV_RECORD_ATTACHMENT)
        out->kind = MV_RECORD_ATTACHMENT;
    else
        goto out;
    if ((rc = get_varint(&c, &out->created)) != MV_OK ||
        (rc = get_string(&c, MV_RECORD_NAME_MAX, &out->name, &out->name_len)) != MV_OK ||
        (rc = get_string(&c, MV_RECORD_SKELETON_MAX, &out->skeleton, &out->skeleton_len)) != MV_OK ||
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

/* ---- envelopes -------------------------------------------------------------------------- */

typedef struct env_view {
    size_t n;               /* readers */
    const uint8_t *entries; /* n x (pk | wrap) */
    const uint8_t *body;    /* nonce | ct || tag */
    size_t body_len;
} env_view;

static mv_err env_parse(const uint8_t *env, size_t len, env_view *v)
{
    if (!env && len)
        return MV_ERR_INVAL;
    if (len < ENV_HDR || memcmp(env, env_magic, 4) != 0)
        return MV_ERR_PARSE;
    v->n = env[4];
    if (v->n < 1 || v->n > MV_ENVELOPE_MAX_READERS)
        return MV_ERR_PARSE;
    size_t head = ENV_HDR + v->n * MV_ENVELOPE_ENTRY_BYTES;
    if (len < head + MV_AEAD_NONCE_BYTES + MV_AEAD_TAG_BYTES)
        return MV_ERR_PARSE;
    v->entries = env + ENV_HDR;
    v->body = env + head;
    v->body_len = len - head;
    for (size_t i = 0; i < v->n; i++)
        for (size_t j = i + 1; j < v->n; j++)
            if (memcmp(v->entries + i * MV_ENVELOPE_ENTRY_BYTES, v->entries + j * MV_ENVELOPE_ENTRY_BYTES,
                       MV_BOX_PUBLIC_BYTES) == 0)
                return MV_ERR_PARSE;
    return MV_OK;
}

/* Index of pk among the readers, or v->n. Public keys are public: no constant time needed. */
static size_t env_find(const env_view *v, const uint8_t *pk)
{
    for (size_t i = 0; i < v->n; i++)
        if (memcmp(v->entries + i * MV_ENVELOPE_ENTRY_BYTES, pk, MV_BOX_PUBLIC_BYTES) == 0)
            return i;
    return v->n;
}

/* aad = "medvault-envelope-v1" || id */
static void env_aad(uint8_t aad[sizeof env_aad_label - 1 + MV_RECORD_ID_BYTES], const uint8_t *id)
{
    memcpy(aad, env_aad_label, sizeof env_aad_label - 1);
    memcpy(aad + sizeof env_aad_label - 1, id, MV_RECORD_ID_BYTES);
}

/* Appends pk | crypto_box_seal(R, pk). */
static mv_err put_entry(mv_buf *out, const uint8_t *pk, const uint8_t R[KEY_BYTES])
{
    mv_err rc;
    if ((rc = mv_buf_append(out, pk, MV_BOX_PUBLIC_BYTES)) != MV_OK ||
        (rc = mv_buf_reserve(out, WRAP_BYTES)) != MV_OK)
        return rc;
    if ((rc = mv_box_seal(out->ptr + out->len, R, KEY_BYTES, pk)) != MV_OK)
        return rc;
    out->len += WRAP_BYTES;
    out->ptr[out->len] = 0;
    return MV_OK;
}

mv_err mv_envelope_seal(const uint8_t id[static MV_RECORD_ID_BYTES], const mv_record *r,
                        const uint8_t *reader_pks, size_t n_readers, mv_buf *out)
{
    mv_err rc;
    uint8_t R[KEY_BYTES], nonce[MV_AEAD_NONCE_BYTES];
    uint8_t aad[sizeof env_aad_label - 1 + MV_RECORD_ID_BYTES];
    const uint8_t *uniq[MV_ENVELOPE_MAX_READERS];
    size_t n_uniq = 0, start = 0;
    mv_buf enc, z;

    mv_buf_init(&enc, MV_ENVELOPE_MAX_PLAIN);
    mv_buf_init(&z, SIZE_MAX / 2);
    if (!id || !r || !reader_pks || !n_readers || !out)
        return MV_ERR_INVAL;
    start = out->len;
    for (size_t i = 0; i < n_readers; i++) {
        const uint8_t *pk = reader_pks + i * MV_BOX_PUBLIC_BYTES;
        size_t j = 0;
        while (j < n_uniq && memcmp(uniq[j], pk, MV_BOX_PUBLIC_BYTES) != 0)
            j++;
        if (j < n_uniq)
            continue;
        if (n_uniq == MV_ENVELOPE_MAX_READERS)
            return MV_ERR_TOO_LARGE;
        uniq[n_uniq++] = pk;
    }
    if ((rc = mv_crypto_init()) != MV_OK)
        goto out;
    if ((rc = mv_record_encode(r, &enc)) != MV_OK ||
        (rc = mv_zstd_compress(enc.ptr, enc.len, MV_ZSTD_LEVEL, &z)) != MV_OK)
        goto out;
    randombytes_buf(R, sizeof R);
    randombytes_buf(nonce, sizeof nonce);
    env_aad(aad, id);
    uint8_t hdr[ENV_HDR];
    memcpy(hdr, env_magic, 4);
    hdr[4] = (uint8_t)n_uniq;
    if ((rc = mv_buf_append(out, hdr, sizeof hdr)) != MV_OK)
        goto out;
    for (size_t i = 0; i < n_uniq; i++)
        if ((rc = put_entry(out, uniq[i], R)) != MV_OK)
            goto out;
    if ((rc = mv_buf_append(out, nonce, sizeof nonce)) != MV_OK ||
        (rc = mv_buf_reserve(out, z.len + MV_AEAD_TAG_BYTES)) != MV_OK)
        goto out;
    if ((rc = mv_aead_encrypt(out->ptr + out->len, z.ptr, z.len, aad, sizeof aad, nonce, R)) != MV_OK)
        goto out;
    out->len += z.len + MV_AEAD_TAG_BYTES;
    out->ptr[out->len] = 0;
out:
    if (rc != MV_OK)
        buf_truncate(out, start);
    mv_wipe(R, sizeof R);
    mv_buf_clear(&enc);
    mv_buf_clear(&z);
    return rc;
}

/* Unwraps R from the entry of box_pk. */
static mv_err env_unwrap(const env_view *v, const uint8_t *box_pk, const uint8_t *box_sk, uint8_t R[KEY_BYTES])
{
    size_t i = env_find(v, box_pk);
    if (i == v->n)
        return MV_ERR_FORBIDDEN;
    return mv_box_seal_open(R, v->entries + i * MV_ENVELOPE_ENTRY_BYTES + MV_BOX_PUBLIC_BYTES, WRAP_BYTES,
                            box_pk, box_sk);
}

mv_err mv_envelope_open(const uint8_t id[static MV_RECORD_ID_BYTES], const uint8_t *env, size_t len,
                        const uint8_t box_pk[static 32], const uint8_t box_sk[static 32], mv_record *out)
{
    mv_err rc;
    env_view v;
    uint8_t R[KEY_BYTES];
    uint8_t aad[sizeof env_aad_label - 1 + MV_RECORD_ID_BYTES];
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    mv_buf dec;

    mv_buf_init(&dec, MV_ENVELOPE_MAX_PLAIN);
    if (!out)
        return MV_ERR_INVAL;
    mv_record_clear(out);
    if (!id || !box_pk || !box_sk)
        return MV_ERR_INVAL;
    if ((rc = env_parse(env, len, &v)) != MV_OK)
        return rc;
    if ((rc = env_unwrap(&v, box_pk, box_sk, R)) != MV_OK)
        goto out;
    plain_len = v.body_len - MV_AEAD_NONCE_BYTES - MV_AEAD_TAG_BYTES;
    if (!(plain = mv_malloc(plain_len))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    env_aad(aad, id);
    if ((rc = mv_aead_decrypt(plain, v.body + MV_AEAD_NONCE_BYTES, v.body_len - MV_AEAD_NONCE_BYTES, aad,
                              sizeof aad, v.body, R)) != MV_OK)
        goto out;
    if ((rc = mv_zstd_decompress(plain, plain_len, MV_ENVELOPE_MAX_PLAIN, &dec)) != MV_OK)
        goto out;
    rc = mv_record_decode(dec.ptr, dec.len, out);
out:
    mv_wipe(R, sizeof R);
    if (plain) {
        mv_wipe(plain, plain_len);
        mv_free(plain);
    }
    mv_buf_clear(&dec);
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

mv_err mv_envelope_add_reader(const uint8_t *env, size_t len, const uint8_t box_pk[static 32],
                              const uint8_t box_sk[static 32], const uint8_t new_pk[static 32], mv_buf *out)
{
    mv_err rc;
    env_view v;
    uint8_t R[KEY_BYTES];
    size_t start;

    if (!box_pk || !box_sk || !new_pk || !out)
        return MV_ERR_INVAL;
    if ((rc = env_parse(env, len, &v)) != MV_OK)
        return rc;
    start = out->len;
    if ((rc = env_unwrap(&v, box_pk, box_sk, R)) != MV_OK)
        goto out;
    if (env_find(&v, new_pk) < v.n) {
        rc = mv_buf_append(out, env, len); /* already a reader */
        goto out;
    }
    if (v.n == MV_ENVELOPE_MAX_READERS) {
        rc = MV_ERR_TOO_LARGE;
        goto out;
    }
    uint8_t hdr[ENV_HDR];
    memcpy(hdr, env_magic, 4);
    hdr[4] = (uint8_t)(v.n + 1);
    if ((rc = mv_buf_append(out, hdr, sizeof hdr)) != MV_OK ||
        (rc = mv_buf_append(out, v.entries, v.n * MV_ENVELOPE_ENTRY_BYTES)) != MV_OK ||
        (rc = put_entry(out, new_pk, R)) != MV_OK || (rc = mv_buf_append(out, v.body, v.body_len)) != MV_OK)
        goto out;
out:
    if (rc != MV_OK)
        buf_truncate(out, start);
    mv_wipe(R, sizeof R);
    return rc;
}

mv_err mv_envelope_remove_reader(const uint8_t *env, size_t len, const uint8_t pk[static 32], mv_buf *out)
{
    mv_err rc;
    env_view v;
    size_t start, i;

    if (!pk || !out)
        return MV_ERR_INVAL;
    if ((rc = env_parse(env, len, &v)) != MV_OK)
        return rc;
    if ((i = env_find(&v, pk)) == v.n)
        return MV_ERR_NOT_FOUND;
    if (v.n == 1)
        return MV_ERR_BAD_STATE;
    start = out->len;
    uint8_t hdr[ENV_HDR];
    memcpy(hdr, env_magic, 4);
    hdr[4] = (uint8_t)(v.n - 1);
    if ((rc = mv_buf_append(out, hdr, sizeof hdr)) != MV_OK ||
        (rc = mv_buf_append(out, v.entries, i * MV_ENVELOPE_ENTRY_BYTES)) != MV_OK ||
        (rc = mv_buf_append(out, v.entries + (i + 1) * MV_ENVELOPE_ENTRY_BYTES,
                            (v.n - i - 1) * MV_ENVELOPE_ENTRY_BYTES)) != MV_OK ||
        (rc = mv_buf_append(out, v.body, v.body_len)) != MV_OK)
        buf_truncate(out, start);
    return rc;
}
