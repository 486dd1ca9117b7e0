/* decoy_gen.c - deterministic decoy records: same sizes and readers as the real record, content
 * derived only from the decoy cloud's secret seed and the public shape, never from real data.
 *
 * Keys: k = HKDF-SHA-256(salt "medvault-decoy-v1", ikm seed, info id), 32 bytes. Every choice
 * (content, record key R, GCM nonce, MLE keys, attachment bytes) is a ChaCha20 keystream under
 * k with a nonce naming its purpose; the sealed boxes' ephemeral X25519 seeds are
 * HMAC-SHA-256(k, "eph" || reader pk). Content does not depend on the readers, so adding a
 * reader to the shape changes only the envelope's reader list, as on the primary.
 *
 * The sealed boxes use libsodium's documented crypto_box_seal construction with a derived
 * ephemeral key pair: epk | crypto_box_easy(R, blake2b-24(epk || pk), pk, esk), which
 * crypto_box_seal_open (mv_box_seal_open) opens like any sealed box. The envelope framing is
 * the MVE1, MVE2 or MVK1 layout of mv_record.h, assembled here (record.c draws R and the nonce
 * from the OS, which a decoy must not). A decoy keyset (MVK1) seals
 * K_d = HKDF-SHA-256(salt "medvault-decoy-keyset-v1", ikm seed, info kid) to its readers; a
 * decoy MVE2 record under kid is encrypted under R = HKDF-SHA-256(salt "medvault-record-key-v2",
 * ikm K_d, info id), as a real one is under the real keyset's K, so whoever opens the decoy
 * keyset opens the decoy record. Size matching: docs/decoy.md. */
#include "medvault/mv_decoy.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "medvault/mv_aead.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_fhir.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_hkdf.h"
#include "medvault/mv_hmac.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_mle.h"
#include "medvault/mv_record.h"
#include "medvault/mv_zstd.h"
#include "decoy_drbg.h"
#include "decoy_gen.h"

#define ATTACH_MIN_BLOCK ((uint32_t)64 << 10) /* a shape with a block this large is an attachment */
#define VARIANTS 4
#define SCAN 24
#define KNOB_MAX ((size_t)8 << 20)

/* How a part is compressed: libzstd; a stored (raw-block) frame; the same with a 4-byte
 * content size field (3 bytes more: it bridges the 2-byte step where the 1-byte field ends). */
enum { Z_ZSTD, Z_RAW, Z_RAW4 };

static const char env_aad_label[] = "medvault-envelope-v1";
static const char env2_aad_label[] = "medvault-envelope-v2";
static const char rkey2_salt[] = "medvault-record-key-v2"; /* mv_record.h: R of an MVE2 record */
static const char keyset_salt[] = "medvault-decoy-keyset-v1";

/* ---------- compression to an exact size ---------- */

static void le_put(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A zstd frame (RFC 8878 section 3.1.1) holding in[0..n) in raw blocks: single segment, the
 * content size declared (1 or 2 bytes, or 4 when wide), no checksum, and dict_id (when not 0)
 * in the field size libzstd picks for it, as a real frame compressed with that dictionary
 * names it. Its size is n + header + 3 per 128 KiB block. */
static mv_err zstd_raw(const uint8_t *in, size_t n, int wide, unsigned dict_id, mv_buf *out)
{
    uint8_t h[4 + 1 + 4 + 4];
    size_t hl = 5;
    mv_err rc;
    int did = dict_id ? 1 + (dict_id >= 256) + (dict_id >= 65536) : 0; /* Dictionary_ID_flag */
    memcpy(h, "\x28\xb5\x2f\xfd", 4);
    if (did) {
        le_put(h + hl, dict_id, did == 3 ? 4 : did);
        hl += did == 3 ? 4 : (size_t)did;
    }
    if (wide && n <= UINT32_MAX) {
        h[4] = 0xa0;
        le_put(h + hl, n, 4);
        hl += 4;
    } else if (n < 256) {
        h[4] = 0x20;
        h[hl++] = (uint8_t)n;
    } else if (n < 65536 + 256) {
        h[4] = 0x60;
        le_put(h + hl, n - 256, 2);
        hl += 2;
    } else {
        h[4] = 0xa0;
        le_put(h + hl, n, 4);
        hl += 4;
    }
    h[4] |= (uint8_t)did;
    if ((rc = mv_buf_append(out, h, hl)) != MV_OK)
        return rc;
    size_t off = 0;
    do {
        size_t k = n - off > ((size_t)128 << 10) ? (size_t)128 << 10 : n - off;
        uint8_t bh[3];
        le_put(bh, (uint64_t)(off + k == n) | (uint64_t)k << 3, 3);
        if ((rc = mv_buf_append(out, bh, 3)) != MV_OK || (rc = mv_buf_append(out, in + off, k)) != MV_OK)
            return rc;
        off += k;
    } while (off < n);
    return MV_OK;
}

/* Content blocks and attachment chunks: compressed as the client compresses blocks. */
static mv_err compress_into(int mode, const uint8_t *in, size_t n, mv_buf *z)
{
    mv_buf_reset(z);
    return mode == Z_ZSTD ? mv_zstd_compress(in, n, MV_ZSTD_LEVEL, z) : zstd_raw(in, n, mode == Z_RAW4, 0, z);
}

/* Envelope bodies: compressed as mv_envelope_seal compresses a real body (its level and
 * dictionary), so a decoy's body decompresses like a real one and its size search lands on
 * the sizes real bodies take. */
static mv_err compress_body(int mode, const uint8_t *in, size_t n, mv_buf *z)
{
    mv_buf_reset(z);
    return mode == Z_ZSTD ? mv_zstd_compress_dict(in, n, MV_ZSTD_BODY_LEVEL, MV_ZSTD_DICT_BODY, z)
                          : zstd_raw(in, n, mode == Z_RAW4, MV_ZSTD_DICT_BODY, z);
}

/* The part being sized: build(knob) leaves its compressed form in g->z. */
typedef mv_err (*build_fn)(gen *g, void *ctx, size_t knob);

/* Finds a knob in [0, kmax] whose compressed size is exactly target (sizes grow with the
 * knob, by small noisy steps): binary search for the first knob reaching target, then a
 * scan around it. *found is 0 when no knob hits (too small, too large, or a gap). When found,
 * the last build was the knob's: g->z (and whatever f leaves besides) is its. The knobs built
 * and their order are part of the generator's output (sizes are not monotonic in the knob, so
 * another probe order can settle on another knob): a change here changes decoys. */
static mv_err search(gen *g, build_fn f, void *ctx, size_t target, size_t kmax, size_t *knob, int *found)
{
    mv_err rc;
    *found = 0;
    if ((rc = f(g, ctx, 0)) != MV_OK)
        return rc;
    if (g->z.len >= target) {
        *knob = 0;
        *found = g->z.len == target;
        return MV_OK;
    }
    size_t lo = 0, hi = kmax, last = kmax;
    if ((rc = f(g, ctx, hi)) != MV_OK)
        return rc;
    if (g->z.len < target)
        return MV_OK;
    if (g->z.len == target && hi == 0) {
        *found = 1;
        *knob = 0;
        return MV_OK;
    }
    size_t hi_len = g->z.len; /* the size at hi: every hi was built once already */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((rc = f(g, ctx, mid)) != MV_OK)
            return rc;
        last = mid;
        if (g->z.len >= target) {
            hi = mid;
            hi_len = g->z.len;
        } else {
            lo = mid;
        }
    }
    /* hi usually hits (steps are mostly 0 or 1 byte); it is built again only when it hits and
     * was not the last build, so that g->z (and what f leaves besides) is hi's. */
    if (hi_len == target && last != hi && (rc = f(g, ctx, hi)) != MV_OK)
        return rc;
    if (hi_len == target) {
        *knob = hi;
        *found = 1;
        return MV_OK;
    }
    size_t from = hi > SCAN ? hi - SCAN : 0, to = hi + SCAN < kmax ? hi + SCAN : kmax;
    for (size_t k = from; k <= to; k++) {
        if (k == hi)
            continue;
        if ((rc = f(g, ctx, k)) != MV_OK)
            return rc;
        if (g->z.len == target) {
            *knob = k;
            *found = 1;
            return MV_OK;
        }
    }
    return MV_OK;
}

/* ---------- FHIR content blocks ---------- */

typedef struct part {
    int type, minimal, mode;
    unsigned variant;
    size_t knob;
    uint64_t entry;
} part;

typedef struct blk_out {
    uint8_t key[32];
    uint8_t *p; /* compressed plaintext (NULL: filler ciphertext) */
    size_t p_len, plain_len;
} blk_out;

/* Builds resource pt with the knob and splits it: its content block's JSON into g->tmp. */
static mv_err build_block_json(gen *g, const part *pt, size_t knob)
{
    mv_json *doc = NULL;
    mv_fhir_split sp;
    mv_fhir_split_init(&sp);
    mv_buf_reset(&g->doc);
    mv_err rc = decoy_resource(g, pt->type, pt->entry, knob, pt->variant, SIZE_MAX, pt->minimal, 0, &g->doc);
    if (rc == MV_OK)
        rc = mv_json_parse((const char *)g->doc.ptr, g->doc.len, NULL, &doc, NULL);
    if (rc == MV_OK)
        rc = mv_fhir_split_doc(g->prof, doc, &sp);
    if (rc == MV_OK && sp.n_blocks != 1)
        rc = MV_ERR_BAD_STATE;
    if (rc == MV_OK) {
        mv_buf_reset(&g->tmp);
        rc = mv_buf_append(&g->tmp, sp.blocks[0].ptr, sp.blocks[0].len);
    }
    mv_fhir_split_clear(&sp);
    mv_json_free(doc);
    return rc;
}

/* Templates. A knob only ever adds characters of one text stream to one string member: for
 * every knob in a part's range the JSON around it is the same (decoy_resource(): the content knob
 * for any knob >= 1; the envelope's narrative for any knob >= 1, or the house-style note for
 * any knob > 64, where its id has its full 32 characters), and words, digits and spaces are
 * written unescaped by the canonical writer. So the part at knob k is its JSON built once with
 * KNOB_MARK for the knob text, with the stream's first k - delta characters for the mark: the
 * same bytes without building, parsing and splitting the resource for every size probe. */

/* Starts a template for key, unless t already is the one for key. 1: build the part now at
 * knob_ref with g->marking set (then tpl_take). */
static int tpl_want(gen *g, knob_tpl *t, const uint64_t key[4], uint64_t mark_e)
{
    if (t->state && memcmp(t->key, key, sizeof t->key) == 0)
        return 0;
    memcpy(t->key, key, sizeof t->key);
    t->state = -1;
    g->marking = 1;
    g->marks = 0;
    g->mark_e = mark_e;
    return 1;
}

/* Takes built (the part built at knob_ref while marking) as t's text: usable when one knob text
 * was marked, and the mark occurs exactly once. */
static mv_err tpl_take(gen *g, knob_tpl *t, const mv_buf *built, size_t knob_ref)
{
    size_t ml = sizeof KNOB_MARK - 1, at = SIZE_MAX, hits = 0;
    g->marking = 0;
    if (g->marks != 1 || g->mark_n > knob_ref)
        return MV_OK;
    for (size_t i = 0; i + ml <= built->len; i++)
        if (built->ptr[i] == 'Q' && memcmp(built->ptr + i, KNOB_MARK, ml) == 0) {
            at = i;
            hits++;
        }
    if (hits != 1)
        return MV_OK;
    mv_buf_reset(&t->text);
    mv_err rc = mv_buf_append(&t->text, built->ptr, built->len);
    if (rc != MV_OK)
        return rc;
    t->at = at;
    t->delta = knob_ref - g->mark_n;
    t->e = g->mark_e_seen;
    t->v = g->mark_v;
    t->samples = g->mark_samples;
    t->state = 2;
    return MV_OK;
}

/* The part at knob from template t into out. */
static mv_err tpl_render(gen *g, const knob_tpl *t, size_t knob, mv_buf *out)
{
    const mv_buf *x = NULL;
    size_t ml = sizeof KNOB_MARK - 1, n = knob - t->delta;
    mv_err rc = decoy_text_stream_get(g, t->e, t->v, t->samples, n, &x);
    mv_buf_reset(out);
    if (rc == MV_OK)
        rc = mv_buf_append(out, t->text.ptr, t->at);
    if (rc == MV_OK)
        rc = mv_buf_append(out, x->ptr, n);
    if (rc == MV_OK)
        rc = mv_buf_append(out, t->text.ptr + t->at + ml, t->text.len - t->at - ml);
    return rc;
}

/* After a full build of the part (built) at knob: a template made but not yet used must give
 * the same bytes, or it is not used. */
static mv_err tpl_check(gen *g, knob_tpl *t, const mv_buf *built, size_t knob)
{
    if (t->state != 2)
        return MV_OK;
    mv_buf r;
    mv_buf_init(&r, MV_FHIR_MAX_BYTES);
    mv_err rc = tpl_render(g, t, knob, &r);
    t->state = rc == MV_OK && r.len == built->len && memcmp(r.ptr, built->ptr, r.len) == 0 ? 1 : -1;
    mv_buf_clear(&r);
    return rc;
}

/* pt's content block at the knob, compressed into g->z (g->tmp keeps the block's JSON): from
 * the template when it is usable, else built. */
static mv_err build_block(gen *g, void *ctx, size_t knob)
{
    part *pt = ctx;
    mv_err rc = MV_OK;
    const uint64_t key[4] = {(uint64_t)pt->type, (uint64_t)pt->minimal, pt->variant, pt->entry};
    if (knob >= 1 && tpl_want(g, &g->btpl, key, MARK_ANY)) {
        rc = build_block_json(g, pt, 1);
        if (rc == MV_OK)
            rc = tpl_take(g, &g->btpl, &g->tmp, 1);
        g->marking = 0;
        if (rc != MV_OK)
            return rc;
    }
    if (knob >= 1 && g->btpl.state == 1) {
        rc = tpl_render(g, &g->btpl, knob, &g->tmp);
    } else {
        if ((rc = build_block_json(g, pt, knob)) == MV_OK && knob >= 1)
            rc = tpl_check(g, &g->btpl, &g->tmp, knob);
    }
    return rc == MV_OK ? compress_into(pt->mode, g->tmp.ptr, g->tmp.len, &g->z) : rc;
}

static int type_for(drbg *d, uint32_t len)
{
    if (len > 1400)
        return T_ECG;
    uint32_t x = below(d, 100);
    return x < 50 ? T_MEDREQ : x < 75 ? T_VITAL : x < 90 ? T_CONDITION : T_REPORT;
}

/* Sizes block i (content of entry pt->entry) to exactly len ciphertext bytes. */
static mv_err make_block(gen *g, part *pt, uint32_t len, blk_out *o, unsigned *inexact)
{
    mv_err rc = MV_OK;
    int found = 0;
    size_t target = len - MV_MLE_OVERHEAD;
    int type = pt->type;
    /* Variants of the full content, of the minimal one, of the leanest (minimal 2: text-only
     * codes, as this system's client writes them), the leanest Condition; then raw frames. */
    for (int attempt = 0; attempt < 4 * VARIANTS + 3 && !found; attempt++) {
        pt->minimal = attempt < VARIANTS ? 0 : attempt < 2 * VARIANTS ? 1 : 2;
        pt->mode = attempt > 4 * VARIANTS + 1 ? Z_RAW4 : attempt >= 4 * VARIANTS ? Z_RAW : Z_ZSTD;
        pt->variant = (unsigned)(attempt % VARIANTS);
        pt->type = attempt >= 3 * VARIANTS && attempt != 4 * VARIANTS ? T_CONDITION : type;
        if ((rc = search(g, build_block, pt, target, KNOB_MAX < 8 * target + 64 ? KNOB_MAX : 8 * target + 64,
                         &pt->knob, &found)) != MV_OK)
            return rc;
    }
    if (!found) { /* even a raw frame does not fit: filler ciphertext of the exact size */
        (*inexact)++;
        pt->knob = SIZE_MAX;
        return MV_OK;
    }
    *inexact += pt->mode != Z_ZSTD;
    o->p = mv_malloc(g->z.len);
    if (!o->p)
        return MV_ERR_NOMEM;
    memcpy(o->p, g->z.ptr, g->z.len);
    o->p_len = g->z.len;
    o->plain_len = g->tmp.len;
    return MV_OK;
}

/* ---------- attachments ---------- */

/* An attachment's invented file name: modality, body part, date, series. */
static const char *const modalities[] = {"CT", "MR", "CR", "US", "MG", "DX", "PT", "NM"};
static const char *const bodyparts[] = {"CHEST", "HEAD", "ABDOMEN", "PELVIS", "SPINE", "KNEE", "BREAST", "HEART"};

typedef struct chunk_ctx {
    uint32_t index;
    uint8_t *bytes; /* KNOB bytes of "image" data, generated once at the largest size */
} chunk_ctx;

static mv_err build_chunk(gen *g, void *ctx, size_t knob)
{
    chunk_ctx *c = ctx;
    return compress_into(Z_ZSTD, c->bytes, knob, &g->z);
}

/* Bytes that look like a compressed image: a DICOM preamble and header on the first chunk,
 * then JPEG 2000-like high-entropy data. */
static void image_bytes(gen *g, uint32_t index, uint8_t *p, size_t n)
{
    drbg d;
    drbg_init(&d, g->k, DOM_BULK, index);
    drbg_bytes(&d, p, n);
    if (index == 0 && n >= 160) {
        memset(p, 0, 128);
        memcpy(p + 128, "DICM\x02\x00\x01\x00OB\x00\x00\x02\x00\x00\x00\x00\x01", 18);
    }
}

static mv_err make_chunk(gen *g, uint32_t index, uint32_t len, blk_out *o, unsigned *inexact)
{
    size_t target = len - MV_MLE_OVERHEAD, kmax = target;
    chunk_ctx c = {index, mv_malloc(kmax ? kmax : 1)};
    int found = 0;
    size_t knob = 0;
    mv_err rc;
    if (!c.bytes)
        return MV_ERR_NOMEM;
    image_bytes(g, index, c.bytes, kmax);
    /* Incompressible data: size = knob + overhead; start one overhead below and step. */
    size_t guess = target > 64 ? target - 24 - 3 * (target >> 17) : 0;
    if ((rc = build_chunk(g, &c, guess)) != MV_OK)
        goto out;
    for (int i = 0; i < 64 && !found; i++) {
        if (g->z.len == target) {
            found = 1;
            knob = guess;
            break;
        }
        /* Random bytes are stored raw: the size follows the knob nearly one for one. */
        size_t over = g->z.len > target ? g->z.len - target : 0, under = target > g->z.len ? target - g->z.len : 0;
        size_t next = under ? guess + (i < 8 ? under : 1) : (guess > over ? guess - (i < 8 ? over : 1) : 0);
        if (next == guess || next > kmax)
            break;
        guess = next;
        if ((rc = build_chunk(g, &c, guess)) != MV_OK)
            goto out;
    }
    if (!found) {
        (*inexact)++;
        goto out; /* filler ciphertext */
    }
    o->p = mv_malloc(g->z.len);
    if (!o->p) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    memcpy(o->p, g->z.ptr, g->z.len);
    o->p_len = g->z.len;
    o->plain_len = knob;
out:
    mv_wipe(c.bytes, kmax);
    mv_free(c.bytes);
    return rc;
}

/* ---------- the envelope ---------- */

typedef struct env_ctx {
    mv_record *r;
    int fhir, lean, narr, mode;
    int bundle;
    part *parts;
    size_t n_parts;
    char name_base[96];
} env_ctx;

/* The FHIR document of e with the envelope knob, split: its envelope (the skeleton) into g->skel. */
static mv_err build_skeleton(gen *g, env_ctx *e, size_t knob)
{
    mv_err rc = MV_OK;
    mv_json *doc = NULL;
    mv_fhir_split sp;
    mv_fhir_split_init(&sp);
    mv_buf_reset(&g->doc);
    size_t narr = e->narr ? knob : SIZE_MAX;
    if (e->bundle) {
        drbg d;
        char id[37];
        drbg_init(&d, g->k, DOM_CHOICE, 0xfffff);
        decoy_uuid(&d, id);
        if (e->lean >= 2)
            rc = mv_buf_puts(&g->doc, "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[");
        else
            rc = mv_buf_printf(&g->doc, "{\"resourceType\":\"Bundle\",\"id\":\"%s\",\"type\":\"collection\","
                                        "\"timestamp\":\"%s\",\"entry\":[",
                               id, g->dt);
        for (size_t i = 0; rc == MV_OK && i < e->n_parts; i++) {
            rc = mv_buf_puts(&g->doc, i ? ",{\"resource\":" : "{\"resource\":");
            if (rc == MV_OK)
                rc = decoy_resource(g, e->parts[i].type, e->parts[i].entry, e->parts[i].knob, e->parts[i].variant,
                                    i == 0 ? narr : SIZE_MAX, e->parts[i].minimal, e->lean, &g->doc);
            if (rc == MV_OK)
                rc = mv_buf_puts(&g->doc, "}");
        }
        if (rc == MV_OK)
            rc = mv_buf_puts(&g->doc, "]}");
    } else {
        rc = decoy_resource(g, e->parts[0].type, e->parts[0].entry, e->parts[0].knob, e->parts[0].variant, narr,
                            e->parts[0].minimal, e->lean, &g->doc);
    }
    if (rc == MV_OK)
        rc = mv_json_parse((const char *)g->doc.ptr, g->doc.len, NULL, &doc, NULL);
    if (rc == MV_OK)
        rc = mv_fhir_split_doc(g->prof, doc, &sp);
    if (rc == MV_OK) {
        mv_buf_reset(&g->skel);
        rc = mv_buf_append(&g->skel, sp.envelope.ptr, sp.envelope.len);
    }
    mv_fhir_split_clear(&sp);
    mv_json_free(doc);
    return rc;
}

/* The skeleton (FHIR) or file name (attachment) with a knob, then zstd(encode) into g->z: the
 * record encoding mv_envelope_seal writes (MVR2, packed skeleton), compressed by compress_body. The
 * skeleton comes from its template (the narrative's or note's text stream) when usable. */
static mv_err build_env(gen *g, void *ctx, size_t knob)
{
    env_ctx *e = ctx;
    mv_err rc = MV_OK;
    mv_buf enc;
    mv_buf_init(&enc, MV_ENVELOPE_MAX_PLAIN);
    if (e->fhir) {
        /* The knob's range with one shape of JSON around it (see "Templates"). */
        size_t kmin = e->lean >= 2 && e->parts[0].type != T_PATIENT ? 65 : 1;
        const uint64_t key[4] = {(uint64_t)e->lean, g->narr_variant, (uint64_t)e->narr, 0};
        int templ = e->narr && knob >= kmin;
        if (templ && tpl_want(g, &g->etpl, key, 0xffff)) {
            rc = build_skeleton(g, e, kmin);
            if (rc == MV_OK)
                rc = tpl_take(g, &g->etpl, &g->skel, kmin);
            g->marking = 0;
        }
        if (rc == MV_OK && templ && g->etpl.state == 1) {
            rc = tpl_render(g, &g->etpl, knob, &g->skel);
        } else if (rc == MV_OK) {
            rc = build_skeleton(g, e, knob);
            if (rc == MV_OK && templ)
                rc = tpl_check(g, &g->etpl, &g->skel, knob);
        }
        if (rc == MV_OK)
            rc = mv_record_set_skeleton(e->r, g->skel.ptr, g->skel.len);
    } else {
        mv_buf name;
        mv_buf_init(&name, MV_RECORD_NAME_MAX);
        rc = mv_buf_puts(&name, e->lean ? "IM" : e->name_base);
        if (rc == MV_OK && knob) { /* a DICOM UID of knob digits (lean: a bare image number) */
            drbg d;
            drbg_init(&d, g->k, DOM_TEXT, 0xfffe);
            if (!e->lean)
                rc = mv_buf_puts(&name, "_1.2.840.113619.2.55.3.");
            for (size_t i = 0; rc == MV_OK && i < knob; i++) {
                char c = (char)('0' + below(&d, 10));
                if (!e->lean && i % 9 == 8 && i + 1 < knob)
                    c = '.';
                rc = mv_buf_append(&name, &c, 1);
            }
        }
        if (rc == MV_OK && !e->lean)
            rc = mv_buf_puts(&name, ".dcm");
        if (rc == MV_OK)
            rc = mv_record_set_name(e->r, name.ptr, name.len);
        mv_buf_clear(&name);
    }
    if (rc == MV_OK)
        rc = mv_record_encode(e->r, &enc);
    if (rc == MV_OK)
        rc = compress_body(e->mode, enc.ptr, enc.len, &g->z);
    mv_buf_clear(&enc);
    return rc;
}

/* Appends reader pk's entry: pk | sealed box of R under an ephemeral key derived from k. */
static mv_err put_entry(gen *g, const uint8_t *pk, const uint8_t R[32], mv_buf *out)
{
    uint8_t seed[32], epk[32], esk[32], nonce[crypto_box_NONCEBYTES], ent[ENV_ENTRY];
    uint8_t msg[3 + 32];
    mv_err rc;
    memcpy(msg, "eph", 3);
    memcpy(msg + 3, pk, 32);
    if ((rc = mv_hmac_sha256(seed, g->k, 32, msg, sizeof msg)) != MV_OK)
        goto out;
    rc = MV_ERR_CRYPTO;
    if (crypto_box_seed_keypair(epk, esk, seed) != 0)
        goto out;
    crypto_generichash_state st;
    if (crypto_generichash_init(&st, NULL, 0, sizeof nonce) != 0 || crypto_generichash_update(&st, epk, 32) != 0 ||
        crypto_generichash_update(&st, pk, 32) != 0 || crypto_generichash_final(&st, nonce, sizeof nonce) != 0)
        goto out;
    memcpy(ent, pk, 32);
    memcpy(ent + 32, epk, 32);
    if (crypto_box_easy(ent + 64, R, 32, nonce, pk, esk) != 0)
        goto out;
    rc = mv_buf_append(out, ent, sizeof ent);
out:
    mv_wipe(seed, sizeof seed);
    mv_wipe(esk, sizeof esk);
    return rc;
}

/* The envelope's fixed bytes (header, nonce, tag) for s's kind, beyond its reader entries. */
static size_t env_fixed(const mv_decoy_shape *s)
{
    return s->kind == MV_DECOY_MVE2 ? ENV2_FIXED : s->kind == MV_DECOY_MVK1 ? KEYSET_FIXED : ENV_FIXED;
}

/* The MVK1 keyset of a keyset shape: K_d(kid) sealed to each reader, exactly 5 + 112 n bytes. */
static mv_err seal_keyset(gen *g, mv_decoy_record *out)
{
    const mv_decoy_shape *s = g->s;
    mv_buf env;
    mv_err rc;
    mv_buf_init(&env, MV_DECOY_MAX_ENV_LEN);
    uint8_t hdr[5] = {'M', 'V', 'K', '1', s->n_readers};
    if ((rc = mv_buf_append(&env, hdr, 5)) != MV_OK)
        goto out;
    for (unsigned i = 0; i < s->n_readers; i++)
        if ((rc = put_entry(g, s->readers[i], g->kset, &env)) != MV_OK)
            goto out;
    out->env = mv_buf_steal(&env, &out->env_len);
    if (!out->env)
        rc = MV_ERR_NOMEM;
out:
    mv_buf_clear(&env);
    return rc;
}

/* The envelope around the compressed record z (or, z NULL, keystream filler of z_len bytes):
 * MVE1, R from k, sealed to each reader; MVE2, R = HKDF(salt "medvault-record-key-v2",
 * K_d(kid), id), sealed to the shape's own readers, readable through the decoy keyset. */
static mv_err seal(gen *g, const uint8_t *z, size_t z_len, mv_decoy_record *out)
{
    const mv_decoy_shape *s = g->s;
    int v2 = s->kind == MV_DECOY_MVE2;
    uint8_t rn[32 + 12], aad[sizeof env2_aad_label - 1 + 32];
    size_t aad_len;
    mv_buf env;
    mv_err rc;
    drbg d;
    mv_buf_init(&env, MV_DECOY_MAX_ENV_LEN);
    drbg_init(&d, g->k, DOM_REC, 0);
    drbg_bytes(&d, rn, sizeof rn); /* R | GCM nonce */
    if (v2) {
        uint8_t hdr[4 + 16 + 1] = {'M', 'V', 'E', '2'};
        memcpy(hdr + 4, s->kid, 16);
        hdr[20] = s->n_readers;
        memcpy(aad, env2_aad_label, sizeof env2_aad_label - 1);
        memcpy(aad + sizeof env2_aad_label - 1, s->id, 16);
        memcpy(aad + sizeof env2_aad_label - 1 + 16, s->kid, 16);
        aad_len = sizeof env2_aad_label - 1 + 32;
        if ((rc = mv_hkdf_sha256(rn, 32, (const uint8_t *)rkey2_salt, sizeof rkey2_salt - 1, g->kset, 32, s->id,
                                 16)) != MV_OK ||
            (rc = mv_buf_append(&env, hdr, sizeof hdr)) != MV_OK)
            goto out;
    } else {
        uint8_t hdr[5] = {'M', 'V', 'E', '1', s->n_readers};
        memcpy(aad, env_aad_label, sizeof env_aad_label - 1);
        memcpy(aad + sizeof env_aad_label - 1, s->id, 16);
        aad_len = sizeof env_aad_label - 1 + 16;
        if ((rc = mv_buf_append(&env, hdr, 5)) != MV_OK)
            goto out;
    }
    for (unsigned i = 0; i < s->n_readers; i++)
        if ((rc = put_entry(g, s->readers[i], rn, &env)) != MV_OK)
            goto out;
    if ((rc = mv_buf_append(&env, rn + 32, 12)) != MV_OK || (rc = mv_buf_reserve(&env, z_len + 16)) != MV_OK)
        goto out;
    if (z) {
        if ((rc = mv_aead_encrypt(env.ptr + env.len, z, z_len, aad, aad_len, rn + 32, rn)) != MV_OK)
            goto out;
    } else { /* filler: framing and wraps are genuine, the body is keystream */
        drbg f;
        drbg_init(&f, g->k, DOM_REC, 1);
        drbg_bytes(&f, env.ptr + env.len, z_len + 16);
    }
    env.len += z_len + 16;
    out->env = mv_buf_steal(&env, &out->env_len);
    if (!out->env)
        rc = MV_ERR_NOMEM;
out:
    mv_wipe(rn, sizeof rn);
    mv_buf_clear(&env);
    return rc;
}

/* ---------- public ---------- */

void mv_decoy_record_init(mv_decoy_record *r)
{
    if (r)
        memset(r, 0, sizeof *r);
}

void mv_decoy_record_clear(mv_decoy_record *r)
{
    if (!r)
        return;
    for (size_t i = 0; r->blocks && i < r->n_blocks; i++)
        mv_free(r->blocks[i].c);
    mv_free(r->blocks);
    mv_free(r->env);
    memset(r, 0, sizeof *r);
}

static int shape_valid(const mv_decoy_shape *s)
{
    unsigned n = s->n_readers;
    if (s->kind > MV_DECOY_MVK1 || n > MV_DECOY_MAX_READERS || (n == 0 && s->kind != MV_DECOY_MVE2) ||
        (n == MV_DECOY_MAX_READERS && s->kind == MV_DECOY_MVE2) || s->n_blocks > MV_DECOY_MAX_BLOCKS ||
        (s->n_blocks && !s->block_len) || strnlen(s->department, sizeof s->department) > MV_DECOY_DEPT_MAX ||
        s->env_len > MV_DECOY_MAX_ENV_LEN || s->env_len < env_fixed(s) + ENV_ENTRY * (uint32_t)n)
        return 0;
    /* A keyset's size is fixed by its readers; it names no blocks and its id is its kid. */
    if (s->kind == MV_DECOY_MVK1 &&
        (s->env_len != KEYSET_FIXED + ENV_ENTRY * n || s->n_blocks || memcmp(s->kid, s->id, 16) != 0))
        return 0;
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < i; j++)
            if (memcmp(s->readers[i], s->readers[j], 32) == 0)
                return 0; /* an envelope never lists a reader twice */
    for (uint32_t i = 0; i < s->n_blocks; i++)
        if (s->block_len[i] < MV_MLE_OVERHEAD || s->block_len[i] > MV_DECOY_MAX_BLOCK_LEN)
            return 0;
    return 1;
}

int mv_decoy_shape_valid(const mv_decoy_shape *s)
{
    return s && shape_valid(s);
}

/* Encrypts block i's compressed content o (or, when o->p is NULL, draws keystream filler of
 * the exact length) into b (b->len = its length; b->c allocated here). */
static mv_err encrypt_block(gen *g, size_t i, blk_out *o, mv_decoy_block *b)
{
    size_t cl = 0;
    mv_err rc;
    b->len = g->s->block_len[i];
    if (!(b->c = mv_malloc(b->len)))
        return MV_ERR_NOMEM;
    if (o->p)
        return mv_mle_encrypt(o->key, o->p, o->p_len, b->c, b->len, &cl, b->tag);
    drbg f;
    drbg_init(&f, g->k, DOM_BULK, 0x100000000ull + i);
    drbg_bytes(&f, b->c, b->len);
    rc = mv_sha256(b->tag, b->c, b->len);
    o->plain_len = b->len - MV_MLE_OVERHEAD;
    return rc;
}

static void blk_out_clear(blk_out *o)
{
    mv_wipe(o->key, 32);
    if (o->p)
        mv_wipe(o->p, o->p_len);
    mv_free(o->p);
    o->p = NULL;
    o->p_len = 0;
}

/* The generator's per-record state for shape s under seed (g->k derived, profiles loaded). */
static mv_err gen_open(gen *g, const uint8_t seed[MV_DECOY_SEED_BYTES], const mv_decoy_shape *s)
{
    mv_err rc;
    memset(g, 0, sizeof *g);
    g->s = s;
    mv_buf_init(&g->doc, MV_FHIR_MAX_BYTES);
    mv_buf_init(&g->tmp, MV_FHIR_MAX_BYTES);
    mv_buf_init(&g->z, (size_t)MV_DECOY_MAX_BLOCK_LEN * 2);
    for (unsigned i = 0; i < TEXT_STREAMS; i++)
        mv_buf_init(&g->ts[i].text, KNOB_MAX + 32);
    mv_buf_init(&g->btpl.text, MV_FHIR_MAX_BYTES);
    mv_buf_init(&g->etpl.text, MV_FHIR_MAX_BYTES);
    mv_buf_init(&g->skel, MV_FHIR_MAX_BYTES);
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if ((rc = mv_hkdf_sha256(g->k, 32, (const uint8_t *)"medvault-decoy-v1", 17, seed, MV_DECOY_SEED_BYTES, s->id,
                             16)) != MV_OK)
        return rc;
    /* One decoy key per keyset id, whatever record asks: the decoy keyset (id kid) and every
     * decoy MVE2 record under it agree on K_d(kid). */
    if (s->kind != MV_DECOY_MVE1 &&
        (rc = mv_hkdf_sha256(g->kset, 32, (const uint8_t *)keyset_salt, sizeof keyset_salt - 1, seed,
                             MV_DECOY_SEED_BYTES, s->kid, 16)) != MV_OK)
        return rc;
    decoy_fmt_time(s->created, g->date, g->dt);
    if ((rc = decoy_vocab_load(&g->voc)) != MV_OK)
        return rc;
    return mv_fhir_profiles_default(&g->prof);
}

static void gen_close(gen *g)
{
    mv_fhir_profiles_free(g->prof);
    decoy_vocab_clear(&g->voc);
    mv_buf_clear(&g->doc);
    mv_buf_clear(&g->tmp);
    mv_buf_clear(&g->z);
    for (unsigned i = 0; i < TEXT_STREAMS; i++)
        mv_buf_clear(&g->ts[i].text);
    mv_buf_clear(&g->btpl.text);
    mv_buf_clear(&g->etpl.text);
    mv_buf_clear(&g->skel);
    mv_wipe(g->ts, sizeof g->ts);
    mv_wipe(g->k, sizeof g->k);
    mv_wipe(g->kset, sizeof g->kset);
}

static int is_attachment(const mv_decoy_shape *s)
{
    for (uint32_t i = 0; i < s->n_blocks; i++)
        if (s->block_len[i] >= ATTACH_MIN_BLOCK)
            return 1;
    return 0;
}

int mv_decoy_shape_is_attachment(const mv_decoy_shape *s)
{
    return s && s->block_len && is_attachment(s);
}

uint64_t mv_decoy_shape_bytes(const mv_decoy_shape *s)
{
    uint64_t n = s ? s->env_len : 0;
    for (uint32_t i = 0; s && s->block_len && i < s->n_blocks; i++)
        n += s->block_len[i];
    return n;
}

mv_err mv_decoy_generate_stream(const uint8_t seed[static MV_DECOY_SEED_BYTES], const mv_decoy_shape *s,
                                mv_decoy_block_fn fn, void *ctx, mv_decoy_record *out)
{
    gen g;
    mv_record r;
    blk_out bo;
    part *parts = NULL;
    mv_err rc;
    unsigned inexact = 0;
    if (!out)
        return MV_ERR_INVAL;
    mv_decoy_record_clear(out);
    if (!seed || !s || !shape_valid(s))
        return MV_ERR_INVAL;
    memset(&bo, 0, sizeof bo);
    mv_record_init(&r);
    if ((rc = gen_open(&g, seed, s)) != MV_OK)
        goto out;
    if (s->kind == MV_DECOY_MVK1) { /* a keyset: no content, no blocks */
        if ((rc = seal_keyset(&g, out)) == MV_OK)
            memcpy(out->id, s->id, 16);
        goto out;
    }
    size_t nb = s->n_blocks;
    parts = mv_calloc(nb + 1, sizeof *parts);
    out->blocks = mv_calloc(nb ? nb : 1, sizeof *out->blocks);
    if (!parts || !out->blocks) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    out->n_blocks = nb;
    int fhir = !is_attachment(s);
    drbg d;
    drbg_init(&d, g.k, DOM_CHOICE, 0xffffff);
    env_ctx e = {&r, fhir, 0, 1, Z_ZSTD, nb >= 2, parts, 0, ""};
    size_t first = 0;
    if (fhir) {
        r.kind = MV_RECORD_FHIR;
        first = e.bundle ? 1 : 0; /* a Bundle leads with its Patient (envelope only) */
        if (e.bundle)
            parts[0] = (part){T_PATIENT, 0, Z_ZSTD, 0, 0, 0};
        else if (nb == 0)
            parts[0] = (part){T_ENCOUNTER, 0, Z_ZSTD, 0, 0, 0};
        e.n_parts = nb + first ? nb + first : 1;
    } else {
        r.kind = MV_RECORD_ATTACHMENT;
        char when[11], whent[21];
        decoy_fmt_time(s->created, when, whent);
        snprintf(e.name_base, sizeof e.name_base, "%s_%s_%c%c%c%c%c%c%c%c_S%u", modalities[skewed(&d, 8)],
                 bodyparts[skewed(&d, 8)], when[0], when[1], when[2], when[3], when[5], when[6], when[8], when[9],
                 (unsigned)range_u(&d, 1, 12));
    }
    /* One block at a time: content, C = MLE(p) under the derived key (or keystream filler of
     * the exact length), the reference, then the ciphertext goes to fn and is freed, so a
     * shape of any size costs one block of memory. */
    for (size_t i = 0; i < nb; i++) {
        mv_decoy_block *b = &out->blocks[i];
        drbg m;
        drbg_init(&m, g.k, DOM_MLE, i);
        drbg_bytes(&m, bo.key, 32);
        if (fhir) {
            part *pt = &parts[first + i];
            *pt = (part){type_for(&d, s->block_len[i]), 0, Z_ZSTD, 0, 0, first + i};
            if ((rc = make_block(&g, pt, s->block_len[i], &bo, &inexact)) != MV_OK)
                goto out;
            if (pt->knob == SIZE_MAX) { /* filler block: keep a plausible entry in the skeleton */
                pt->knob = 0;
                pt->minimal = 1;
            }
        } else if ((rc = make_chunk(&g, (uint32_t)i, s->block_len[i], &bo, &inexact)) != MV_OK) {
            goto out;
        }
        if ((rc = encrypt_block(&g, i, &bo, b)) != MV_OK)
            goto out;
        mv_block_ref ref;
        memset(&ref, 0, sizeof ref);
        memcpy(ref.tag, b->tag, 32);
        memcpy(ref.key, bo.key, 32);
        ref.slot = fhir ? (e.bundle ? (uint32_t)i + 1 : MV_RECORD_SLOT_ROOT) : (uint32_t)i;
        ref.plain_len = bo.plain_len;
        ref.cipher_len = b->len;
        rc = mv_record_add_block(&r, &ref);
        mv_wipe(&ref, sizeof ref);
        blk_out_clear(&bo);
        if (rc == MV_OK && fn) {
            rc = fn(ctx, i, b);
            mv_free(b->c);
            b->c = NULL;
        }
        if (rc != MV_OK)
            goto out;
    }
    r.created = s->created;
    /* The envelope: tune the narrative (FHIR) or the file name's UID (attachment). */
    size_t target = s->env_len - env_fixed(s) - ENV_ENTRY * (size_t)s->n_readers, knob = 0;
    int found = 0;
    size_t kmax = fhir ? (KNOB_MAX < 8 * target + 64 ? KNOB_MAX : 8 * target + 64) : MV_RECORD_NAME_MAX - 128;
    /* lean level (decoy_resource()), knob (narrative / note, or name digits), compression: richest
     * first, then leaner skeletons, the leanest tier before any raw frame, raw frames last. */
    static const int plan[][3] = {{0, 1, Z_ZSTD}, {1, 1, Z_ZSTD}, {1, 0, Z_ZSTD}, {2, 1, Z_ZSTD},
                                  {3, 1, Z_ZSTD}, {4, 1, Z_ZSTD}, {5, 1, Z_ZSTD}, {5, 0, Z_ZSTD},
                                  {0, 1, Z_RAW},  {1, 1, Z_RAW},  {2, 1, Z_RAW},  {3, 1, Z_RAW},
                                  {4, 1, Z_RAW},  {5, 1, Z_RAW},  {5, 0, Z_RAW},  {1, 1, Z_RAW4},
                                  {5, 1, Z_RAW4}};
    for (size_t a = 0; a < VARIANTS * (sizeof plan / sizeof plan[0]) && !found; a++) {
        g.narr_variant = (unsigned)(a % VARIANTS);
        e.lean = plan[a / VARIANTS][0];
        e.narr = plan[a / VARIANTS][1];
        e.mode = plan[a / VARIANTS][2];
        if ((!fhir || !e.narr) && g.narr_variant) /* names and the bare skeleton have no variants */
            continue;
        if (!fhir && (!e.narr || e.lean > 1)) /* attachments: lean 0 (full name) and 1 (bare number) */
            continue;
        if ((rc = search(&g, build_env, &e, target, e.narr ? kmax : 0, &knob, &found)) != MV_OK)
            goto out;
    }
    /* Found: the search's last build was the knob's (g.z and the record's skeleton are its). */
    if (found)
        inexact += e.mode != Z_ZSTD;
    else
        inexact++;
    if ((rc = seal(&g, found ? g.z.ptr : NULL, target, out)) != MV_OK)
        goto out;
    memcpy(out->id, s->id, 16);
    out->n_inexact = inexact;
out:
    if (rc != MV_OK)
        mv_decoy_record_clear(out);
    blk_out_clear(&bo);
    mv_free(parts);
    mv_record_clear(&r);
    gen_close(&g);
    return rc;
}

mv_err mv_decoy_generate(const uint8_t seed[static MV_DECOY_SEED_BYTES], const mv_decoy_shape *s,
                         mv_decoy_record *out)
{
    return mv_decoy_generate_stream(seed, s, NULL, NULL, out);
}

mv_err mv_decoy_generate_block(const uint8_t seed[static MV_DECOY_SEED_BYTES], const mv_decoy_shape *s,
                               size_t index, mv_decoy_block *out)
{
    gen g;
    blk_out bo;
    unsigned inexact = 0;
    mv_err rc;
    if (!out)
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (!seed || !s || !shape_valid(s) || index >= s->n_blocks || !is_attachment(s))
        return MV_ERR_INVAL;
    memset(&bo, 0, sizeof bo);
    if ((rc = gen_open(&g, seed, s)) == MV_OK) {
        /* As mv_decoy_generate_stream: an attachment's chunk i depends only on (k, i, length). */
        drbg m;
        drbg_init(&m, g.k, DOM_MLE, index);
        drbg_bytes(&m, bo.key, 32);
        rc = make_chunk(&g, (uint32_t)index, s->block_len[index], &bo, &inexact);
    }
    if (rc == MV_OK)
        rc = encrypt_block(&g, index, &bo, out);
    if (rc != MV_OK) {
        mv_free(out->c);
        memset(out, 0, sizeof *out);
    }
    blk_out_clear(&bo);
    gen_close(&g);
    return rc;
}
