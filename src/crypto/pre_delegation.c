/* pre_delegation.c - the owner's signed delegation "MVPD" and the sealed kfrag "MVKF"
 * (docs/pre.md section 6): one canonical encoding, parsed the same way by both clouds and
 * by the recipient. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/endian.h"
#include "medvault/mv_box.h"
#include "medvault/mv_credential.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_pre.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_sig.h"

#define MAGIC "MVPD"
#define VERSION 1
#define SIG_DOMAIN "medvault-pre-delegation-v1\n"
#define HASH_DOMAIN "medvault-pre-delegation-id-v1"
#define KF_MAGIC "MVKF"
#define KF_PLAIN 70u

static int dept_ok(const char *s, size_t n)
{
    if (n == 0 || n > MV_PRE_MAX_DEPT)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == ' ' ||
              ch == '_' || ch == '.' || ch == '-'))
            return 0;
    }
    return 1;
}

static int one_role_bit(uint8_t r)
{
    return r == MV_ROLE_ADMIN || r == MV_ROLE_DOCTOR || r == MV_ROLE_PATIENT;
}

static int cmp_e(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

/* Each capsule's key wraps one value under a zero nonce: two entries sharing a capsule (the
 * same E) would reuse a ChaCha20-Poly1305 key and nonce. Sorted copy of the E values: n log n
 * for the 1,024 entries a delegation may hold. */
static int capsules_distinct(const mv_pre_delegation *d)
{
    uint8_t(*es)[32] = malloc(d->n_entries * 32);
    int ok = 1;
    if (!es)
        return 0;
    for (size_t i = 0; i < d->n_entries; i++)
        memcpy(es[i], d->entries[i].capsule, 32);
    qsort(es, d->n_entries, 32, cmp_e);
    for (size_t i = 1; i < d->n_entries && ok; i++)
        ok = memcmp(es[i - 1], es[i], 32) != 0;
    free(es);
    return ok;
}

/* Everything but the encoding: counts, kinds, keys, window, policy, entries. */
static int fields_ok(const mv_pre_delegation *d)
{
    size_t dl = strnlen(d->department, sizeof d->department);
    if ((d->label_kind != MV_PRE_LABEL_EPISODE && d->label_kind != MV_PRE_LABEL_RECORD) || !one_role_bit(d->role) ||
        dl > MV_PRE_MAX_DEPT || !dept_ok(d->department, dl) || d->expires_at <= d->issued_at || d->t < 1 ||
        d->t > d->n || d->n > MV_PRE_MAX_FRAGS || d->n_entries < 1 || d->n_entries > MV_PRE_MAX_CAPSULES ||
        !d->entries || !memcmp(d->owner, d->recipient, 32) || !memcmp(d->pk_A, d->pk_B, 32) ||
        mv_r255_elem_check(d->pk_A) != MV_OK || mv_r255_elem_check(d->pk_B) != MV_OK ||
        mv_r255_elem_check(d->X_A) != MV_OK)
        return 0;
    for (unsigned i = 0; i < d->n; i++) {
        const mv_pre_commitment *c = &d->commit[i];
        if (c->proxy != i + 1 || mv_r255_elem_check(c->U1) != MV_OK || mv_r255_scalar_check(c->kfrag_id) != MV_OK)
            return 0;
        for (unsigned j = 0; j < i; j++)
            if (!memcmp(d->commit[j].kfrag_id, c->kfrag_id, 32) || !memcmp(d->commit[j].U1, c->U1, 32))
                return 0; /* such a delegation could never be opened */
    }
    if (d->label_kind == MV_PRE_LABEL_RECORD &&
        (d->n_entries != 1 || d->entries[0].kind != MV_PRE_ENTRY_RECORD || memcmp(d->entries[0].ref, d->label, 16)))
        return 0;
    for (size_t i = 0; i < d->n_entries; i++) {
        const mv_pre_entry *e = &d->entries[i];
        if ((e->kind != MV_PRE_ENTRY_KEYSET && e->kind != MV_PRE_ENTRY_RECORD) ||
            (i > 0 && memcmp(d->entries[i - 1].ref, e->ref, 16) >= 0))
            return 0;
    }
    return capsules_distinct(d);
}

/* The bytes before the signature; returns their length (the caller sized out). */
static size_t encode_body(const mv_pre_delegation *d, uint8_t *out)
{
    size_t dl = strlen(d->department), o = 0;
    memcpy(out, MAGIC, 4);
    out[4] = VERSION;
    memcpy(out + 5, d->owner, 32);
    out[37] = d->label_kind;
    memcpy(out + 38, d->label, 16);
    memcpy(out + 54, d->pk_A, 32);
    memcpy(out + 86, d->recipient, 32);
    memcpy(out + 118, d->pk_B, 32);
    out[150] = d->role;
    out[151] = (uint8_t)dl;
    memcpy(out + 152, d->department, dl);
    o = 152 + dl;
    mv_be64_put(out + o, d->issued_at);
    mv_be64_put(out + o + 8, d->expires_at);
    out[o + 16] = d->t;
    out[o + 17] = d->n;
    memcpy(out + o + 18, d->X_A, 32);
    o += 50;
    for (unsigned i = 0; i < d->n; i++, o += 65) {
        out[o] = d->commit[i].proxy;
        memcpy(out + o + 1, d->commit[i].kfrag_id, 32);
        memcpy(out + o + 33, d->commit[i].U1, 32);
    }
    out[o] = (uint8_t)(d->n_entries >> 8);
    out[o + 1] = (uint8_t)d->n_entries;
    o += 2;
    for (size_t i = 0; i < d->n_entries; i++, o += MV_PRE_ENTRY_BYTES) {
        const mv_pre_entry *e = &d->entries[i];
        out[o] = e->kind;
        memcpy(out + o + 1, e->ref, 16);
        memcpy(out + o + 17, e->capsule, MV_PRE_CAPSULE_BYTES);
        memcpy(out + o + 17 + MV_PRE_CAPSULE_BYTES, e->wrapped, MV_PRE_WRAPPED_BYTES);
    }
    return o;
}

static size_t body_len(size_t dl, unsigned n, size_t m)
{
    return 152 + dl + 50 + 65 * (size_t)n + 2 + MV_PRE_ENTRY_BYTES * m;
}

/* SIG_DOMAIN || body, for signing or verifying. */
static uint8_t *signed_msg(const uint8_t *body, size_t len, size_t *out_len)
{
    uint8_t *m = malloc(sizeof SIG_DOMAIN - 1 + len);
    if (!m)
        return NULL;
    memcpy(m, SIG_DOMAIN, sizeof SIG_DOMAIN - 1);
    memcpy(m + sizeof SIG_DOMAIN - 1, body, len);
    *out_len = sizeof SIG_DOMAIN - 1 + len;
    return m;
}

mv_err mv_pre_delegation_sign(mv_pre_delegation *d, const uint8_t owner_sk[static 64], mv_buf *out)
{
    uint8_t *body = NULL, *msg = NULL;
    size_t ml = 0;
    mv_err rc = MV_ERR_INVAL;
    if (!d || !owner_sk || !out || !fields_ok(d) || memcmp(owner_sk + 32, d->owner, 32) != 0)
        return MV_ERR_INVAL;
    for (size_t i = 0; i < d->n_entries; i++)
        if (mv_pre_capsule_check(d->entries[i].capsule) != MV_OK)
            return MV_ERR_INVAL;
    size_t bl = body_len(strlen(d->department), d->n, d->n_entries);
    if (!(body = malloc(bl + 64))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    if (encode_body(d, body) != bl) {
        rc = MV_ERR_CRYPTO;
        goto out;
    }
    if (!(msg = signed_msg(body, bl, &ml))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    if ((rc = mv_sign(d->sig, msg, ml, owner_sk)) != MV_OK)
        goto out;
    memcpy(body + bl, d->sig, 64);
    rc = mv_buf_append(out, body, bl + 64);
out:
    free(body);
    free(msg);
    return rc;
}

void mv_pre_delegation_clear(mv_pre_delegation *d)
{
    if (!d)
        return;
    free(d->entries);
    memset(d, 0, sizeof *d);
}

mv_err mv_pre_delegation_parse(const uint8_t *b, size_t len, mv_pre_delegation *out)
{
    uint8_t *msg = NULL;
    size_t ml = 0;
    mv_err rc = MV_ERR_PARSE;
    if (!out)
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (!b || len < 152 || len > MV_PRE_DELEGATION_MAX_BYTES || memcmp(b, MAGIC, 4) != 0 || b[4] != VERSION)
        return MV_ERR_PARSE;
    size_t dl = b[151];
    if (dl < 1 || dl > MV_PRE_MAX_DEPT || len < 152 + dl + 50)
        return MV_ERR_PARSE;
    unsigned n = b[152 + dl + 17];
    if (n < 1 || n > MV_PRE_MAX_FRAGS || len < 152 + dl + 50 + 65 * (size_t)n + 2)
        return MV_ERR_PARSE;
    size_t mo = 152 + dl + 50 + 65 * (size_t)n;
    size_t m = ((size_t)b[mo] << 8) | b[mo + 1];
    if (m < 1 || m > MV_PRE_MAX_CAPSULES || len != body_len(dl, n, m) + 64)
        return MV_ERR_PARSE;
    memcpy(out->owner, b + 5, 32);
    out->label_kind = b[37];
    memcpy(out->label, b + 38, 16);
    memcpy(out->pk_A, b + 54, 32);
    memcpy(out->recipient, b + 86, 32);
    memcpy(out->pk_B, b + 118, 32);
    out->role = b[150];
    memcpy(out->department, b + 152, dl);
    size_t o = 152 + dl;
    out->issued_at = mv_be64_get(b + o);
    out->expires_at = mv_be64_get(b + o + 8);
    out->t = b[o + 16];
    out->n = (uint8_t)n;
    memcpy(out->X_A, b + o + 18, 32);
    o += 50;
    for (unsigned i = 0; i < n; i++, o += 65) {
        out->commit[i].proxy = b[o];
        memcpy(out->commit[i].kfrag_id, b + o + 1, 32);
        memcpy(out->commit[i].U1, b + o + 33, 32);
    }
    o += 2;
    out->n_entries = m;
    if (!(out->entries = calloc(m, sizeof *out->entries))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < m; i++, o += MV_PRE_ENTRY_BYTES) {
        mv_pre_entry *e = &out->entries[i];
        e->kind = b[o];
        memcpy(e->ref, b + o + 1, 16);
        memcpy(e->capsule, b + o + 17, MV_PRE_CAPSULE_BYTES);
        memcpy(e->wrapped, b + o + 17 + MV_PRE_CAPSULE_BYTES, MV_PRE_WRAPPED_BYTES);
    }
    memcpy(out->sig, b + o, 64);
    if (!fields_ok(out) || strlen(out->department) != dl) {
        rc = MV_ERR_PARSE;
        goto out;
    }
    if (!(msg = signed_msg(b, len - 64, &ml))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    if (mv_sign_verify(out->sig, msg, ml, out->owner) != MV_OK) {
        rc = MV_ERR_VERIFY;
        goto out;
    }
    for (size_t i = 0; i < m; i++)
        if (mv_pre_capsule_check(out->entries[i].capsule) != MV_OK) {
            rc = MV_ERR_VERIFY;
            goto out;
        }
    rc = MV_OK;
out:
    free(msg);
    if (rc != MV_OK)
        mv_pre_delegation_clear(out);
    return rc;
}

void mv_pre_delegation_hash(const uint8_t *bytes, size_t len, uint8_t out[static 32])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)HASH_DOMAIN, sizeof HASH_DOMAIN - 1);
    if (bytes && len)
        crypto_hash_sha256_update(&st, bytes, len);
    crypto_hash_sha256_final(&st, out);
}

mv_err mv_pre_kfrag_seal(const mv_pre_kfrag *k, uint8_t proxy, const uint8_t proxy_box_pk[static 32],
                         uint8_t out[static MV_PRE_SEALED_KFRAG_BYTES])
{
    uint8_t plain[KF_PLAIN];
    if (!k || !proxy_box_pk || !out || proxy < 1 || proxy > MV_PRE_MAX_FRAGS)
        return MV_ERR_INVAL;
    memcpy(plain, KF_MAGIC, 4);
    plain[4] = 1;
    plain[5] = proxy;
    memcpy(plain + 6, k->id, 32);
    memcpy(plain + 38, k->rk, 32);
    mv_err rc = mv_box_seal(out, plain, sizeof plain, proxy_box_pk);
    mv_wipe(plain, sizeof plain);
    return rc;
}

mv_err mv_pre_kfrag_open(const uint8_t sealed[static MV_PRE_SEALED_KFRAG_BYTES], const uint8_t box_pk[static 32],
                         const uint8_t box_sk[static 32], const mv_pre_delegation *d, uint8_t proxy, mv_pre_kfrag *k)
{
    uint8_t plain[KF_PLAIN];
    mv_err rc = MV_ERR_VERIFY;
    if (!sealed || !box_pk || !box_sk || !d || !k || proxy < 1 || proxy > d->n)
        return MV_ERR_INVAL;
    memset(k, 0, sizeof *k);
    if (mv_box_seal_open(plain, sealed, MV_PRE_SEALED_KFRAG_BYTES, box_pk, box_sk) != MV_OK)
        goto out;
    const mv_pre_commitment *c = &d->commit[proxy - 1];
    if (memcmp(plain, KF_MAGIC, 4) != 0 || plain[4] != 1 || plain[5] != proxy || c->proxy != proxy ||
        sodium_memcmp(plain + 6, c->kfrag_id, 32) != 0)
        goto out;
    memcpy(k->id, plain + 6, 32);
    memcpy(k->rk, plain + 38, 32);
    memcpy(k->U1, c->U1, 32);
    rc = mv_pre_kfrag_check(k) == MV_OK ? MV_OK : MV_ERR_VERIFY;
out:
    if (rc != MV_OK)
        mv_wipe(k, sizeof *k);
    mv_wipe(plain, sizeof plain);
    return rc;
}
