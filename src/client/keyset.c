/* keyset.c - the client's keysets (decision 0010): one key K per reader set, stored as an MVK1
 * record, reused for every record of that set so that sealing one costs no public-key
 * operation. The local cache maps a scope to (kid, K) with K sealed under a key derived from
 * the user's box secret key (as the OPRF cache is), so the file reveals neither keys nor
 * scopes; keys opened in a run stay in locked memory until the client closes. */
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_aead.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_file.h"
#include "medvault/mv_hkdf.h"
#include "medvault/mv_hmac.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"
#include "net/frames.h"

#define FILE_NAME "keysets"
#define FILE_MAGIC "MVKC"
#define FILE_VERSION 1
#define FILE_HDR 5
/* scope tag 32 | kid 16 | nonce 12 | GCM(K) 32 + 16 */
#define SEALED_BYTES (MV_AEAD_NONCE_BYTES + 32 + MV_AEAD_TAG_BYTES)
#define ENTRY_BYTES (32 + 16 + SEALED_BYTES)
/* Scopes remembered (the oldest go first): a doctor's open episodes, with room to spare. */
#define MAX_ENTRIES 4096u
/* Keys held in memory in one run (a reader of many episodes' records). */
#define MAX_OPEN 65536u

struct kentry {
    uint8_t tag[32], kid[16], sealed[SEALED_BYTES];
};

struct mvc_keysets {
    uint8_t *keys;          /* secure: k_index 32 | k_seal 32 */
    struct kentry *entries; /* the file's, oldest first */
    size_t n_entries, cap_entries;
    mvc_keytab open;        /* the keysets opened in this run */
};

void mvc_keysets_free(mvc_keysets *k)
{
    if (!k)
        return;
    mv_secure_free(k->keys);
    mvc_keytab_clear(&k->open);
    mv_free(k->entries);
    mv_free(k);
}

static mv_err file_path(const mv_client *c, char path[4096])
{
    return mv_path_join(path, 4096, c->user_dir, FILE_NAME);
}

/* Loads the cache file once per client. A missing, truncated or foreign file is an empty
 * cache (new keysets are made): it holds nothing that cannot be made again. */
static mv_err keysets(mv_client *c, mvc_keysets **out)
{
    static const char info[] = "medvault client keysets v1";
    char path[4096];
    mv_buf b;
    mv_err rc;
    if (c->keysets) {
        *out = c->keysets;
        return MV_OK;
    }
    mvc_keysets *k = mv_calloc(1, sizeof *k);
    if (!k)
        return MV_ERR_NOMEM;
    if (!(k->keys = mv_secure_alloc(64))) {
        mv_free(k);
        return MV_ERR_NOMEM;
    }
    if ((rc = mv_hkdf_sha256(k->keys, 64, NULL, 0, mv_identity_box_sk(c->id), 32, (const uint8_t *)info,
                             sizeof info - 1)) != MV_OK) {
        mvc_keysets_free(k);
        return rc;
    }
    mv_buf_init(&b, FILE_HDR + (size_t)MAX_ENTRIES * ENTRY_BYTES);
    if (file_path(c, path) == MV_OK && mv_file_read(path, b.max, &b) == MV_OK && b.len >= FILE_HDR &&
        memcmp(b.ptr, FILE_MAGIC, 4) == 0 && b.ptr[4] == FILE_VERSION && (b.len - FILE_HDR) % ENTRY_BYTES == 0) {
        size_t n = (b.len - FILE_HDR) / ENTRY_BYTES;
        if (n && (k->entries = mv_mallocarray(n, sizeof *k->entries)) != NULL) {
            for (size_t i = 0; i < n; i++) {
                const uint8_t *p = b.ptr + FILE_HDR + i * ENTRY_BYTES;
                memcpy(k->entries[i].tag, p, 32);
                memcpy(k->entries[i].kid, p + 32, 16);
                memcpy(k->entries[i].sealed, p + 48, SEALED_BYTES);
            }
            k->n_entries = n;
            k->cap_entries = n;
        }
    }
    mv_buf_clear(&b);
    c->keysets = k;
    *out = k;
    return MV_OK;
}

static mv_err save(mv_client *c, const mvc_keysets *k)
{
    char path[4096];
    mv_buf b;
    mv_err rc;
    uint8_t hdr[FILE_HDR] = {'M', 'V', 'K', 'C', FILE_VERSION};
    mv_buf_init(&b, FILE_HDR + (size_t)MAX_ENTRIES * ENTRY_BYTES);
    rc = mv_buf_append(&b, hdr, sizeof hdr);
    for (size_t i = 0; rc == MV_OK && i < k->n_entries; i++)
        if ((rc = mv_buf_append(&b, k->entries[i].tag, 32)) == MV_OK &&
            (rc = mv_buf_append(&b, k->entries[i].kid, 16)) == MV_OK)
            rc = mv_buf_append(&b, k->entries[i].sealed, SEALED_BYTES);
    if (rc == MV_OK && (rc = file_path(c, path)) == MV_OK)
        rc = mv_file_write_atomic(path, b.ptr, b.len, 0600);
    mv_buf_clear(&b);
    return rc;
}

static int kid_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

int mvc_keytab_get(const mvc_keytab *t, const uint8_t id[16], uint8_t key[32])
{
    const mvc_keyent *e = t->n ? bsearch(id, t->e, t->n, sizeof *t->e, kid_cmp) : NULL;
    if (!e)
        return 0;
    memcpy(key, e->key, 32);
    return 1;
}

mv_err mvc_keytab_put(mvc_keytab *t, const uint8_t id[16], const uint8_t key[32])
{
    size_t i = 0;
    while (i < t->n && memcmp(t->e[i].id, id, 16) < 0)
        i++;
    if (i < t->n && memcmp(t->e[i].id, id, 16) == 0)
        return MV_OK; /* the key first known stays: an id names one key */
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        if (cap > MAX_OPEN)
            return MV_ERR_TOO_LARGE;
        mvc_keyent *n = mv_secure_alloc(cap * sizeof *n);
        if (!n)
            return MV_ERR_NOMEM;
        if (t->n)
            memcpy(n, t->e, t->n * sizeof *n);
        mv_secure_free(t->e);
        t->e = n;
        t->cap = cap;
    }
    memmove(&t->e[i + 1], &t->e[i], (t->n - i) * sizeof *t->e);
    memcpy(t->e[i].id, id, 16);
    memcpy(t->e[i].key, key, 32);
    t->n++;
    return MV_OK;
}

void mvc_keytab_clear(mvc_keytab *t)
{
    mv_secure_free(t->e);
    memset(t, 0, sizeof *t);
}

int mvc_keyset_lookup(mv_client *c, const uint8_t kid[16], uint8_t K[32])
{
    return c->keysets && mvc_keytab_get(&c->keysets->open, kid, K);
}

/* POST /v1/records/get for ids[0..n) (n <= MV_FRAME_MAX_GET): env[i]/len[i] point into resp
 * for each record that came back (NULL otherwise). */
static mv_err fetch(mv_client *c, const uint8_t *ids, size_t n, mv_buf *resp, const uint8_t **env, size_t *len)
{
    mv_frame_iter it;
    mv_err rc = mvc_records_get(c, ids, n, resp, &it);
    if (rc != MV_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        uint8_t st = 0;
        const uint8_t *p = NULL;
        size_t l = 0;
        (void)mv_frame_answer_next(&it, &st, &p, &l); /* n items, all checked */
        env[i] = st == MV_FRAME_RECORD_OK ? p : NULL;
        len[i] = st == MV_FRAME_RECORD_OK ? l : 0;
    }
    return MV_OK;
}

mv_err mvc_keysets_fetch(mv_client *c, const uint8_t *kids, size_t n, uint64_t *pk_ops)
{
    mvc_keysets *k;
    uint8_t *want = NULL, K[32];
    const uint8_t **env = NULL;
    size_t *len = NULL, n_want = 0;
    mv_buf resp;
    mv_err rc;
    if ((rc = keysets(c, &k)) != MV_OK)
        return rc;
    if (!n)
        return MV_OK;
    mv_buf_init(&resp, MV_HTTPC_RESPONSE_MAX);
    want = mv_mallocarray(n, 16);
    env = mv_mallocarray(n, sizeof *env);
    len = mv_mallocarray(n, sizeof *len);
    rc = MV_ERR_NOMEM;
    if (!want || !env || !len)
        goto out;
    for (size_t i = 0; i < n; i++) {
        int dup = 0;
        for (size_t j = 0; j < n_want && !dup; j++)
            dup = memcmp(want + 16 * j, kids + 16 * i, 16) == 0;
        if (!dup && !mvc_keyset_lookup(c, kids + 16 * i, K))
            memcpy(want + 16 * n_want++, kids + 16 * i, 16);
    }
    rc = MV_OK;
    for (size_t from = 0; rc == MV_OK && from < n_want; from += MV_FRAME_MAX_GET) {
        size_t m = n_want - from < MV_FRAME_MAX_GET ? n_want - from : MV_FRAME_MAX_GET;
        mv_buf_reset(&resp);
        if ((rc = fetch(c, want + 16 * from, m, &resp, env, len)) != MV_OK)
            break;
        /* A keyset that is absent, not ours or does not open leaves its records unreadable
         * by key; they fail alone (or open through an extra entry). */
        for (size_t i = 0; rc == MV_OK && i < m; i++) {
            if (!env[i])
                continue;
            if (pk_ops)
                (*pk_ops)++;
            if (mv_keyset_open(env[i], len[i], mv_identity_box_pk(c->id), mv_identity_box_sk(c->id), K) == MV_OK)
                rc = mvc_keytab_put(&k->open, want + 16 * (from + i), K);
        }
    }
out:
    mv_wipe(K, sizeof K);
    mv_buf_clear(&resp);
    mv_free(want);
    mv_free(env);
    mv_free(len);
    return rc;
}

mv_err mvc_keyset_get(mv_client *c, const uint8_t kid[16], uint8_t K[32], uint64_t *pk_ops)
{
    mv_err rc;
    if (mvc_keyset_lookup(c, kid, K))
        return MV_OK;
    if ((rc = mvc_keysets_fetch(c, kid, 1, pk_ops)) != MV_OK)
        return rc;
    if (mvc_keyset_lookup(c, kid, K))
        return MV_OK;
    mvc_seterr(c, "the record's keyset is missing or does not open with this user's key");
    return MV_ERR_VERIFY;
}

static int pk_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

/* The scope's sorted, distinct reader keys into out (n x 32); *n_out their count. */
static mv_err sorted_readers(const mvc_scope *s, uint8_t *out, size_t *n_out)
{
    size_t u = 0;
    if (!s->n_box || s->n_box > MV_KEYSET_MAX_READERS)
        return s->n_box ? MV_ERR_TOO_LARGE : MV_ERR_INVAL;
    memcpy(out, s->box_pks, 32 * s->n_box);
    qsort(out, s->n_box, 32, pk_cmp);
    for (size_t i = 0; i < s->n_box; i++)
        if (u == 0 || memcmp(out + 32 * (u - 1), out + 32 * i, 32) != 0)
            memmove(out + 32 * u++, out + 32 * i, 32);
    *n_out = u;
    return MV_OK;
}

/* HMAC(k_index, "medvault-keyset-scope-v1" | storage URL | dept | owner | episode | patient |
 * sorted readers): the file never shows whose records a key serves. */
static mv_err scope_tag(mv_client *c, const mvc_keysets *k, const mvc_scope *s, const uint8_t *sorted, size_t n,
                        uint8_t tag[32])
{
    static const char label[] = "medvault-keyset-scope-v1";
    static const uint8_t zero[32] = {0};
    mv_buf m;
    mv_err rc;
    uint8_t nb = (uint8_t)n;
    mv_buf_init(&m, 4096 + 32 * MV_KEYSET_MAX_READERS + 256);
    if ((rc = mv_buf_append(&m, label, sizeof label)) == MV_OK &&
        (rc = mv_buf_append(&m, c->dep.storage_url, strlen(c->dep.storage_url) + 1)) == MV_OK &&
        (rc = mv_buf_append(&m, c->dept, strlen(c->dept) + 1)) == MV_OK &&
        (rc = mv_buf_append(&m, mv_identity_sign_pk(c->id), 32)) == MV_OK &&
        (rc = mv_buf_append(&m, s->episode ? s->episode : zero, 16)) == MV_OK &&
        (rc = mv_buf_append(&m, s->patient ? s->patient : zero, 32)) == MV_OK &&
        (rc = mv_buf_append(&m, &nb, 1)) == MV_OK && (rc = mv_buf_append(&m, sorted, 32 * n)) == MV_OK)
        rc = mv_hmac_sha256(tag, k->keys, 32, m.ptr, m.len);
    mv_buf_clear(&m);
    return rc;
}

/* 1 if the keyset envelope env[0..len) has exactly the readers sorted[0..n). */
static int keyset_is(const uint8_t *env, size_t len, const uint8_t *sorted, size_t n)
{
    uint8_t pks[MV_KEYSET_MAX_READERS * 32];
    size_t m = 0;
    mv_envelope_kind kind;
    if (!env || mv_envelope_kind_of(env, len, &kind, NULL) != MV_OK || kind != MV_ENVELOPE_MVK1 ||
        mv_envelope_readers(env, len, pks, MV_KEYSET_MAX_READERS, &m) != MV_OK || m != n)
        return 0;
    qsort(pks, m, 32, pk_cmp);
    return memcmp(pks, sorted, 32 * n) == 0;
}

/* Stores the keyset record kid (MVP2, no tags) with the scope's ACL. */
static mv_err put_keyset(mv_client *c, const mvc_scope *s, const uint8_t kid[16], const mv_buf *env)
{
    mv_frame_writer w;
    mv_buf body, resp;
    mv_json *root = NULL;
    long status = 0;
    mv_buf_init(&body, env->len + 32 * s->n_readers + s->delegation_len + 512);
    mv_buf_init(&resp, 1u << 20);
    mv_frame_record fr = {
        .id = kid,
        .dept = c->dept,
        .dept_len = strlen(c->dept),
        .patient = s->patient,
        .episode = s->episode,
        .delegation = s->delegation,
        .delegation_len = s->delegation_len,
        .readers = s->readers,
        .n_readers = s->n_readers,
        .envelope = env->ptr,
        .envelope_len = env->len,
    };
    mv_frame_records_begin(&w, &body);
    mv_frame_records_add(&w, &fr);
    mv_err rc = mv_frame_end(&w);
    if (rc == MV_OK)
        rc = mvc_simple(c, c->dep.storage_url, "POST", "/v1/records", body.ptr, body.len, "application/octet-stream",
                        &status, &resp);
    if (rc == MV_OK && status != 200)
        rc = mvc_status_err(c, "the storage server", status, &resp);
    if (rc == MV_OK) {
        const char *st = NULL;
        if (mv_json_parse((const char *)resp.ptr, resp.len, NULL, &root, NULL) == MV_OK)
            st = mv_json_get_str(mv_json_at(mv_json_get(root, "results"), 0), "status", NULL);
        if (!st || strcmp(st, "stored") != 0) {
            mvc_seterr(c, "the storage server refused the reader set's keyset (%s)", st ? st : "malformed answer");
            rc = st && !strcmp(st, "forbidden") ? MV_ERR_FORBIDDEN : MV_ERR_PROTOCOL;
        }
    }
    mv_json_free(root);
    mv_buf_clear(&body);
    mv_buf_clear(&resp);
    return rc;
}

mv_err mvc_keyset_for(mv_client *c, const mvc_scope *s, uint8_t kid[16], uint8_t K[32], uint64_t *pk_ops)
{
    mvc_keysets *k;
    uint8_t sorted[MV_KEYSET_MAX_READERS * 32], tag[32], aad[48];
    size_t n = 0;
    mv_buf env, resp;
    mv_err rc;
    mv_buf_init(&env, 5 + (size_t)MV_KEYSET_MAX_READERS * MV_ENVELOPE_ENTRY_BYTES);
    mv_buf_init(&resp, 1u << 20);
    if ((rc = keysets(c, &k)) != MV_OK || (rc = sorted_readers(s, sorted, &n)) != MV_OK ||
        (rc = scope_tag(c, k, s, sorted, n, tag)) != MV_OK)
        goto out;
    /* The newest entry for this scope, checked once per run against the stored keyset: one
     * that was deleted, or whose readers changed since (an episode share from another
     * machine), is not reused. */
    for (size_t i = k->n_entries; i-- > 0;) {
        struct kentry *e = &k->entries[i];
        if (!mv_ct_eq(e->tag, tag, 32))
            continue;
        memcpy(aad, tag, 32);
        memcpy(aad + 32, e->kid, 16);
        if (mv_aead_decrypt(K, e->sealed + MV_AEAD_NONCE_BYTES, 32 + MV_AEAD_TAG_BYTES, aad, sizeof aad, e->sealed,
                            k->keys + 32) != MV_OK)
            break;
        uint8_t K2[32];
        if (mvc_keyset_lookup(c, e->kid, K2)) {
            mv_wipe(K2, sizeof K2);
            memcpy(kid, e->kid, 16);
            goto out; /* already checked in this run */
        }
        const uint8_t *p = NULL;
        size_t l = 0;
        if ((rc = fetch(c, e->kid, 1, &resp, &p, &l)) != MV_OK)
            goto out;
        if (keyset_is(p, l, sorted, n)) {
            memcpy(kid, e->kid, 16);
            rc = mvc_keytab_put(&k->open, kid, K);
            goto out;
        }
        break;
    }
    /* A new keyset: K wrapped once per reader (the only public-key operations), stored
     * before any record that names it. */
    /* kid is the keyset record's id: time-ordered like every record id, so that the storage
     * index appends the records stored after it instead of inserting them before it (a
     * random id sorts after them and halves the fill of every index page they land on). */
    if ((rc = mv_random_bytes(K, 32)) != MV_OK || (rc = mv_record_id_new(kid)) != MV_OK ||
        (rc = mv_keyset_seal(K, sorted, n, &env)) != MV_OK)
        goto out;
    if (pk_ops)
        *pk_ops += n;
    if ((rc = put_keyset(c, s, kid, &env)) != MV_OK || (rc = mvc_keytab_put(&k->open, kid, K)) != MV_OK)
        goto out;
    /* Remember it for later runs; losing the file only costs a new keyset next time. */
    if (k->n_entries == MAX_ENTRIES) {
        memmove(k->entries, k->entries + 1, (k->n_entries - 1) * sizeof *k->entries);
        k->n_entries--;
    }
    /* Capacity is tracked apart from the count: entries loaded from the file fill their
     * allocation exactly, and a removal leaves spare room. */
    if (k->n_entries == k->cap_entries) {
        struct kentry *ne = mv_mallocarray(k->n_entries + 64, sizeof *ne);
        if (!ne) {
            rc = MV_ERR_NOMEM;
            goto out;
        }
        if (k->n_entries)
            memcpy(ne, k->entries, k->n_entries * sizeof *ne);
        mv_free(k->entries);
        k->entries = ne;
        k->cap_entries = k->n_entries + 64;
    }
    struct kentry *e = &k->entries[k->n_entries];
    memcpy(e->tag, tag, 32);
    memcpy(e->kid, kid, 16);
    memcpy(aad, tag, 32);
    memcpy(aad + 32, kid, 16);
    if ((rc = mv_random_bytes(e->sealed, MV_AEAD_NONCE_BYTES)) != MV_OK ||
        (rc = mv_aead_encrypt(e->sealed + MV_AEAD_NONCE_BYTES, K, 32, aad, sizeof aad, e->sealed, k->keys + 32)) !=
            MV_OK)
        goto out;
    k->n_entries++;
    if (save(c, k) != MV_OK)
        mvc_seterr(c, "could not update the local keyset cache"); /* not fatal */
out:
    if (rc != MV_OK)
        mv_wipe(K, 32);
    mv_buf_clear(&env);
    mv_buf_clear(&resp);
    return rc;
}

void mvc_keyset_forget(mv_client *c, const uint8_t kid[16])
{
    mvc_keysets *k;
    size_t j = 0;
    if (keysets(c, &k) != MV_OK)
        return;
    for (size_t i = 0; i < k->n_entries; i++)
        if (memcmp(k->entries[i].kid, kid, 16) != 0)
            k->entries[j++] = k->entries[i];
    if (j != k->n_entries) {
        k->n_entries = j;
        if (save(c, k) != MV_OK)
            mvc_seterr(c, "could not update the local keyset cache");
    }
}
