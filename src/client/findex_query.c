/* findex_query.c - the local FHIR index's public side (mv_fhirstore.h): syncing it with the
 * storage server's listing, and searching it. */
#include "findex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_clock.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"

#define LIST_MAX ((size_t)1 << 30)
#define SYNC_BATCH 512

/* ---------- sync ---------- */

struct sync_ctx {
    mv_client *c;
    mvc_findex *x;
    const uint64_t *created; /* per id asked, in order */
    size_t at;
    fx_add *adds;
    mv_fhir_facts *facts;
    uint8_t (*digests)[32];
    char (*mrns)[MV_FHIR_ID_MAX + 1];
    char (*names)[MV_RECORD_NAME_MAX + 1];
    size_t n;
    mv_index_sync_stats *st;
    mv_err rc;
};

/* The value of a Patient's identifier in the hospital's MRN system, or NULL. */
static const char *own_mrn(mv_client *c, const mv_fhir_facts *f)
{
    const char *sys = mvc_mrn_system(c);
    for (size_t i = 0; i < f->n_identifiers; i++)
        if (!strcmp(f->identifiers[i].system, sys))
            return f->identifiers[i].value;
    return NULL;
}

/* Describes one fetched record in the batch's next slot. */
static void on_record(void *ctx, const uint8_t *id, mv_err rc, int kind, const char *name, size_t name_len,
                      const uint8_t *data, size_t len)
{
    struct sync_ctx *s = ctx;
    size_t i = s->n++;
    fx_add *a = &s->adds[i];
    memset(a, 0, sizeof *a);
    memcpy(a->rid, id, 16);
    a->created = s->created[s->at++];
    if (rc != MV_OK) {
        a->kind = 0; /* listed, but this user cannot read it (yet) */
        s->st->unreadable++;
        return;
    }
    s->st->fetched++;
    a->kind = kind;
    if (kind == MV_RECORD_ATTACHMENT) {
        if (name_len > MV_RECORD_NAME_MAX)
            name_len = MV_RECORD_NAME_MAX;
        memcpy(s->names[i], name, name_len);
        s->names[i][name_len] = 0;
        if (memchr(s->names[i], 0, name_len))
            s->names[i][0] = 0;
        a->name = s->names[i];
        return;
    }
    mv_json *doc = NULL;
    mv_json_limits lim = {MV_FHIR_MAX_BYTES, 0, 0};
    if (mv_json_parse((const char *)data, len, &lim, &doc, NULL) != MV_OK ||
        mv_fhir_facts_of(doc, &s->facts[i]) != MV_OK) {
        mv_json_free(doc);
        return; /* a FHIR record that is not a resource: listed without facts */
    }
    a->facts = &s->facts[i];
    if (s->facts[i].id[0]) {
        /* The version is the stored meta.versionId; a resource stored before versions (or
         * by a client that did not stamp one) counts as version 1. */
        a->version = mvc_version_number(s->facts[i].version_id);
        if (mvc_findex_digest(s->x, s->c->profiles, doc, s->digests[i]) == MV_OK)
            a->digest = s->digests[i];
        else
            a->version = 0;
    }
    if (!strcmp(s->facts[i].type, "Patient")) {
        const char *m = own_mrn(s->c, &s->facts[i]);
        if (m) {
            snprintf(s->mrns[i], sizeof s->mrns[i], "%s", m);
            a->mrn = s->mrns[i];
        }
    }
    mv_json_free(doc);
}

static int id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

mv_err mv_client_index_sync(mv_client *c, int refresh, mv_index_sync_stats *st)
{
    mv_index_sync_stats local;
    mvc_findex *x = NULL;
    mv_buf list;
    mv_json *root = NULL;
    uint8_t *want = NULL, *listed = NULL, *drop = NULL;
    uint64_t *created = NULL;
    struct sync_ctx s;
    memset(&s, 0, sizeof s);
    if (!c)
        return MV_ERR_INVAL;
    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    mv_buf_init(&list, LIST_MAX);
    mv_err rc = mvc_findex_get(c, &x);
    if (rc != MV_OK || (rc = mv_client_list_json(c, &list)) != MV_OK)
        goto out;
    if ((rc = mv_json_parse((const char *)list.ptr, list.len, &(mv_json_limits){LIST_MAX, 0, 0}, &root, NULL)) != MV_OK) {
        mvc_seterr(c, "the storage server sent a malformed record list");
        rc = MV_ERR_PROTOCOL;
        goto out;
    }
    const mv_json *recs = mv_json_get(root, "records");
    size_t n = mv_json_len(recs), n_want = 0;
    st->listed = n;
    want = mv_calloc(n ? n : 1, 16);
    listed = mv_calloc(n ? n : 1, 16);
    created = mv_calloc(n ? n : 1, sizeof *created);
    if (!want || !listed || !created) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const mv_json *e = mv_json_at(recs, i);
        uint64_t cr = 0;
        if (mv_json_get_hex(e, "id", listed + 16 * i, 16) != MV_OK) {
            mvc_seterr(c, "the storage server sent a malformed record list");
            rc = MV_ERR_PROTOCOL;
            goto out;
        }
        (void)!mv_json_get_u64(e, "created", &cr);
        const struct fx_ent *have = mvc_findex_by_rid(x, listed + 16 * i, 0);
        if (have && (have->kind || !refresh))
            continue;
        memcpy(want + 16 * n_want, listed + 16 * i, 16);
        created[n_want++] = cr;
    }
    /* What the index holds that is no longer listed: deleted, or no longer shared. */
    qsort(listed, n, 16, id_cmp);
    size_t n_ent = 0, n_drop = 0, drop_cap = 0;
    const struct fx_ent *ents = mvc_findex_entries(x, &n_ent);
    for (size_t k = 0; k < n_ent; k++) {
        if (ents[k].gone || bsearch(ents[k].rid, listed, n, 16, id_cmp))
            continue;
        if ((rc = mv_array_grow(&drop, &drop_cap, n_drop, 16, 64)) != MV_OK)
            goto out;
        memcpy(drop + 16 * n_drop++, ents[k].rid, 16);
    }
    if ((rc = mvc_findex_drop(x, drop, n_drop)) != MV_OK)
        goto out;
    st->removed = n_drop;
    s.c = c;
    s.x = x;
    s.st = st;
    s.adds = mv_calloc(SYNC_BATCH, sizeof *s.adds);
    s.facts = mv_calloc(SYNC_BATCH, sizeof *s.facts);
    s.digests = mv_calloc(SYNC_BATCH, sizeof *s.digests);
    s.mrns = mv_calloc(SYNC_BATCH, sizeof *s.mrns);
    s.names = mv_calloc(SYNC_BATCH, sizeof *s.names);
    if (!s.adds || !s.facts || !s.digests || !s.mrns || !s.names) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    /* Patients first would make no difference: links are resolved when asked, not stored. */
    for (size_t at = 0; at < n_want && rc == MV_OK; at += SYNC_BATCH) {
        size_t m = n_want - at < SYNC_BATCH ? n_want - at : SYNC_BATCH;
        s.n = 0;
        s.at = 0;
        s.created = created + at;
        rc = mv_client_get_many(c, want + 16 * at, m, on_record, &s);
        if (rc == MV_OK)
            rc = mvc_findex_add(x, s.adds, s.n);
        mv_wipe(s.facts, SYNC_BATCH * sizeof *s.facts);
    }
    if (rc == MV_OK)
        rc = mvc_findex_flush(x);
out:
    mv_free(s.adds);
    mv_free(s.facts);
    mv_free(s.digests);
    if (s.mrns)
        mv_wipe(s.mrns, SYNC_BATCH * sizeof *s.mrns);
    if (s.names)
        mv_wipe(s.names, SYNC_BATCH * sizeof *s.names); /* file names and MRNs of what was synced */
    mv_free(s.mrns);
    mv_free(s.names);
    mv_free(want);
    mv_free(listed);
    mv_free(drop);
    mv_free(created);
    mv_json_free(root);
    mv_buf_clear(&list);
    return rc;
}

/* ---------- search ---------- */

static int ieq_sub(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    if (!nl)
        return 1;
    for (const char *h = hay; *h; h++) {
        size_t i = 0;
        while (i < nl && h[i]) {
            char a = h[i], b = needle[i];
            if (a >= 'A' && a <= 'Z')
                a = (char)(a - 'A' + 'a');
            if (b >= 'A' && b <= 'Z')
                b = (char)(b - 'A' + 'a');
            if (a != b)
                break;
            i++;
        }
        if (i == nl)
            return 1;
    }
    return 0;
}

/* The id part of a patient reference ("Patient/X", "urn:uuid:X", ".../Patient/X"), or "". */
static const char *ref_id(const char *ref)
{
    if (!strncmp(ref, "Patient/", 8))
        return ref + 8;
    if (!strncmp(ref, "urn:uuid:", 9))
        return ref + 9;
    const char *s = strstr(ref, "/Patient/");
    return s ? s + 9 : "";
}

static int code_match(const char *have, const char *want)
{
    if (strchr(want, '|'))
        return !strcmp(have, want);
    const char *bar = strrchr(have, '|');
    return !strcmp(bar ? bar + 1 : have, want);
}

static int matches(const mvc_findex *x, const struct fx_ent *e, const mv_fhir_query *q)
{
    if (e->gone || !e->kind)
        return 0;
    if (!q)
        return !e->version || e->latest;
    if (e->version && !e->latest && !q->all_versions)
        return 0;
    if (q->type && strcmp(e->s[FS_TYPE], q->type))
        return 0;
    if (q->id && strcmp(e->s[FS_ID], q->id))
        return 0;
    if (q->status && strcmp(e->s[FS_STATUS], q->status))
        return 0;
    if (q->code && !code_match(e->s[FS_CODE], q->code))
        return 0;
    if (q->patient) {
        const char *ref = e->s[FS_PATIENT];
        const char *m = e->s[FS_MRN][0] ? e->s[FS_MRN] : mvc_findex_mrn_of(x, ref);
        const char *rid = ref_id(ref), *qid = ref_id(q->patient);
        int same = !strcmp(ref, q->patient) || (rid[0] && !strcmp(rid, q->patient)) || (m && !strcmp(m, q->patient)) ||
                   (rid[0] && qid[0] && !strcmp(rid, qid));
        if (!same)
            return 0;
    }
    if (q->since) {
        char when[32];
        const char *u = e->s[FS_UPDATED];
        if (!u[0]) {
            (void)mv_iso8601(when, sizeof when, e->created * 1000u, 0);
            u = when;
        }
        if (strcmp(u, q->since) < 0)
            return 0;
    }
    if (q->date_ge || q->date_le) {
        const char *d = e->s[FS_DATE];
        if (!d[0])
            return 0;
        if (q->date_ge && strncmp(d, q->date_ge, strlen(q->date_ge)) < 0)
            return 0;
        if (q->date_le && strncmp(d, q->date_le, strlen(q->date_le)) > 0)
            return 0;
    }
    if (q->text && !ieq_sub(e->s[FS_TYPE], q->text) && !ieq_sub(e->s[FS_ID], q->text) &&
        !ieq_sub(e->s[FS_CODE], q->text) && !ieq_sub(e->s[FS_DISPLAY], q->text) && !ieq_sub(e->s[FS_NAME], q->text))
        return 0;
    return 1;
}

/* What a match is sorted by, copied out of its entry so that qsort needs no context. */
struct hit {
    uint64_t created;
    uint32_t version;
    uint8_t rid[16];
    size_t k; /* the entry's index */
};

static int hit_cmp(const void *a, const void *b)
{
    const struct hit *x = a, *y = b;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    return memcmp(x->rid, y->rid, 16);
}

static int hit_cmp_newest(const void *a, const void *b)
{
    return hit_cmp(b, a);
}

/* Newest version first (then the later created, then the higher record id). */
static int hit_cmp_version(const void *a, const void *b)
{
    const struct hit *x = a, *y = b;
    if (x->version != y->version)
        return x->version > y->version ? -1 : 1;
    return hit_cmp_newest(a, b);
}

static void hit_of(const struct fx_ent *ents, size_t k, struct hit *h)
{
    h->created = ents[k].created;
    h->version = ents[k].version;
    memcpy(h->rid, ents[k].rid, 16);
    h->k = k;
}

mv_err mv_client_index_find(mv_client *c, const mv_fhir_query *q, mv_fhir_entry_fn fn, void *ctx, size_t *total)
{
    mvc_findex *x = NULL;
    if (!c || !fn)
        return MV_ERR_INVAL;
    mv_err rc = mvc_findex_get(c, &x);
    if (rc != MV_OK)
        return rc;
    size_t n = 0, m = 0;
    const struct fx_ent *ents = mvc_findex_entries(x, &n);
    struct hit *hit = mv_calloc(n ? n : 1, sizeof *hit);
    if (!hit)
        return MV_ERR_NOMEM;
    for (size_t k = 0; k < n; k++)
        if (matches(x, &ents[k], q))
            hit_of(ents, k, &hit[m++]);
    qsort(hit, m, sizeof *hit, q && q->newest_first ? hit_cmp_newest : hit_cmp);
    if (total)
        *total = m;
    size_t from = q ? q->offset : 0, lim = q && q->limit ? q->limit : SIZE_MAX;
    for (size_t i = from, sent = 0; i < m && sent < lim; i++, sent++) {
        mv_fhir_entry v;
        mvc_findex_view(x, &ents[hit[i].k], &v);
        if (fn(ctx, &v))
            break;
    }
    mv_free(hit);
    return MV_OK;
}

/* The readable versions of Type/id, newest first, into *out (the caller frees it). */
static mv_err versions_of(mv_client *c, const char *type, const char *id, mvc_findex **xo, struct hit **out, size_t *m)
{
    mv_err rc = mvc_findex_get(c, xo);
    if (rc != MV_OK)
        return rc;
    size_t n = 0;
    const struct fx_ent *ents = mvc_findex_entries(*xo, &n);
    struct hit *hit = mv_calloc(n ? n : 1, sizeof *hit);
    if (!hit)
        return MV_ERR_NOMEM;
    *m = 0;
    for (size_t k = 0; k < n; k++)
        if (!ents[k].gone && ents[k].kind && ents[k].version && !strcmp(ents[k].s[FS_ID], id) &&
            !strcmp(ents[k].s[FS_TYPE], type))
            hit_of(ents, k, &hit[(*m)++]);
    qsort(hit, *m, sizeof *hit, hit_cmp_version);
    *out = hit;
    return MV_OK;
}

mv_err mv_client_fhir_lookup(mv_client *c, const char *type, const char *id, uint32_t version, mv_fhir_entry *out)
{
    mvc_findex *x = NULL;
    struct hit *hit = NULL;
    size_t m = 0;
    if (!c || !type || !id || !out)
        return MV_ERR_INVAL;
    if (!version) {
        /* The latest: the table by logical id answers at once. */
        mv_err rc = mvc_findex_get(c, &x);
        const struct fx_ent *e = rc == MV_OK ? mvc_findex_latest(x, type, id) : NULL;
        if (e)
            mvc_findex_view(x, e, out);
        return rc != MV_OK ? rc : e ? MV_OK : MV_ERR_NOT_FOUND;
    }
    mv_err rc = versions_of(c, type, id, &x, &hit, &m);
    size_t i = 0;
    while (rc == MV_OK && i < m && hit[i].version != version)
        i++;
    if (rc == MV_OK && i == m)
        rc = MV_ERR_NOT_FOUND;
    if (rc == MV_OK) {
        size_t n = 0;
        mvc_findex_view(x, &mvc_findex_entries(x, &n)[hit[i].k], out);
    }
    mv_free(hit);
    return rc;
}

mv_err mv_client_index_entry(mv_client *c, const uint8_t id[static MV_CLIENT_ID_BYTES], mv_fhir_entry *out)
{
    mvc_findex *x = NULL;
    if (!c || !out)
        return MV_ERR_INVAL;
    mv_err rc = mvc_findex_get(c, &x);
    if (rc != MV_OK)
        return rc;
    const struct fx_ent *e = mvc_findex_by_rid(x, id, 0);
    if (!e)
        return MV_ERR_NOT_FOUND;
    mvc_findex_view(x, e, out);
    return MV_OK;
}

mv_err mv_client_fhir_history(mv_client *c, const char *type, const char *id, mv_fhir_entry_fn fn, void *ctx)
{
    mvc_findex *x = NULL;
    struct hit *hit = NULL;
    size_t m = 0, n = 0;
    if (!c || !type || !id || !fn)
        return MV_ERR_INVAL;
    mv_err rc = versions_of(c, type, id, &x, &hit, &m);
    for (size_t i = 0; rc == MV_OK && i < m; i++) {
        mv_fhir_entry v;
        mvc_findex_view(x, &mvc_findex_entries(x, &n)[hit[i].k], &v);
        if (fn(ctx, &v))
            break;
    }
    mv_free(hit);
    return rc == MV_OK && !m ? MV_ERR_NOT_FOUND : rc;
}
