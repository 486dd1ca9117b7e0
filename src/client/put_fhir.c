/* put_fhir.c - what makes put FHIR-native (docs/fhir.md): NDJSON files and transaction,
 * batch and collection Bundles stored resource by resource; each resource's version decided
 * against the local index (a new version when its content changed, nothing when not); the
 * patient a resource is about found through a Patient's MRN identifier; and what was stored
 * added to the local index. */
#include "put_internal.h"
#include "findex.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "medvault/mv_canon.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_file.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"

#define NDJSON_CHUNK ((size_t)1 << 20)
#define INDEX_QUEUE 4096
/* The prescan keeps JSON files of at most 1 MiB, up to 256 MiB in all, for ingest. */
#define PRESCAN_KEEP_FILE ((size_t)1 << 20)
#define PRESCAN_KEEP_TOTAL ((size_t)256 << 20)

/* A version decided in this put, by logical id. */
struct pend {
    char *key; /* "Type/id" */
    uint32_t version;
    uint8_t digest[32];
    struct rec *rec;
};

/* A Patient of this put's inputs with an MRN identifier. */
struct link {
    char id[MV_FHIR_ID_MAX + 1];
    char mrn[MV_FHIR_ID_MAX + 1];
};

struct put_fhir {
    mvc_findex *x;
    struct pend *pend;
    size_t pend_cap, n_pend; /* open addressing, power of two */
    struct link *links;
    size_t n_links, cap_links;
    fx_add *q;               /* index entries waiting to be written */
    size_t n_q;
    int synced;              /* the index was brought up to date in this put */
};

mv_err mvc_put_fhir_begin(struct put *P)
{
    struct put_fhir *f = mv_calloc(1, sizeof *f);
    if (!f)
        return MV_ERR_NOMEM;
    mv_err rc = mvc_findex_get(P->c, &f->x);
    if (rc == MV_OK && !(f->q = mv_calloc(INDEX_QUEUE, sizeof *f->q)))
        rc = MV_ERR_NOMEM;
    if (rc != MV_OK) {
        mv_free(f);
        return rc;
    }
    P->fx = f;
    return MV_OK;
}

void mvc_put_fhir_end(struct put *P)
{
    struct put_fhir *f = P->fx;
    if (!f)
        return;
    (void)mvc_findex_flush(f->x);
    for (size_t i = 0; i < f->pend_cap; i++)
        mv_free(f->pend[i].key);
    mv_free(f->pend);
    mv_free(f->links);
    mv_free(f->q);
    mv_free(f);
    P->fx = NULL;
}

/* ---------- containers ---------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t l = strlen(s), m = strlen(suffix);
    return l >= m && !strcmp(s + l - m, suffix);
}

int mvc_put_is_ndjson(const char *path)
{
    return ends_with(path, ".ndjson") || ends_with(path, ".jsonl");
}

int mvc_put_bundle_splits(const mv_json *doc)
{
    size_t l = 0;
    const char *rt = mv_json_get_str(doc, "resourceType", &l);
    if (!rt || l != 6 || memcmp(rt, "Bundle", 6) != 0)
        return 0;
    const char *type = mv_json_get_str(doc, "type", &l);
    static const char *const split[] = {"transaction", "batch", "collection", "searchset"};
    for (size_t i = 0; type && i < sizeof split / sizeof *split; i++)
        if (l == strlen(split[i]) && !memcmp(type, split[i], l))
            return 1;
    return 0;
}

/* Moves the records appended after n0 to just after idx, keeping their order. */
static void move_after(struct put *P, size_t idx, size_t n0)
{
    size_t added = P->n_recs - n0, tail = n0 - (idx + 1);
    if (!added || !tail)
        return;
    struct rec **tmp = mv_mallocarray(added, sizeof *tmp);
    if (!tmp) {
        /* Cannot reorder: the new records stay at the end, which changes only the order. */
        return;
    }
    memcpy(tmp, P->recs + n0, added * sizeof *tmp);
    memmove(P->recs + idx + 1 + added, P->recs + idx + 1, tail * sizeof *tmp);
    memcpy(P->recs + idx + 1, tmp, added * sizeof *tmp);
    mv_free(tmp);
}

/* The container itself stores nothing and is not reported: its resources are. */
static void become_container(struct put *P, struct rec *r)
{
    r->container = 1;
    r->complete = 1;
    r->finished = 1;
    P->total_bytes -= r->bytes < P->total_bytes ? r->bytes : P->total_bytes;
    P->st->bytes_in -= r->bytes < P->st->bytes_in ? r->bytes : P->st->bytes_in;
}

/* Adds the record for line n (entry 0) or entry n of parent. */
static mv_err child(struct put *P, struct rec *parent, int entry, size_t n, uint64_t size, struct rec **out)
{
    char label[MAX_PATH_LEN + 32];
    if (entry)
        snprintf(label, sizeof label, "%s#entry %zu", parent->path, n);
    else
        snprintf(label, sizeof label, "%s:%zu", parent->path, n);
    mv_err rc = mvc_put_add_rec(P, label, size, out);
    if (rc == MV_OK)
        (*out)->src = parent->src ? parent->src : parent->path;
    return rc;
}

mv_err mvc_put_expand_ndjson(struct put *P, size_t idx)
{
    mv_err rc = mvc_put_join_worker(P);
    if (rc != MV_OK)
        return rc;
    struct rec *r = P->recs[idx];
    int fd = open(r->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return MV_ERR_IO;
    uint8_t *buf = mv_malloc(NDJSON_CHUNK);
    if (!buf) {
        close(fd);
        return MV_ERR_NOMEM;
    }
    size_t n0 = P->n_recs, line = 1;
    uint64_t at = 0, start = 0;
    int blank = 1;
    for (;;) {
        ssize_t got = read(fd, buf, NDJSON_CHUNK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = MV_ERR_IO;
            break;
        }
        for (ssize_t i = 0; i <= got && rc == MV_OK; i++) {
            int end = got == 0 ? (i == 0) : (i < got && buf[i] == '\n');
            if (!end) {
                if (i < got && buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r')
                    blank = 0;
                continue;
            }
            uint64_t stop = at + (uint64_t)i;
            if (!blank) {
                struct rec *l = NULL;
                if ((rc = child(P, r, 0, line, stop - start, &l)) == MV_OK) {
                    l->slice = 1;
                    l->off = start;
                }
            }
            line++;
            start = stop + 1;
            blank = 1;
            if (got == 0)
                break;
        }
        if (got == 0 || rc != MV_OK)
            break;
        at += (uint64_t)got;
    }
    close(fd);
    mv_free(buf);
    if (rc == MV_OK) {
        become_container(P, P->recs[idx]);
        move_after(P, idx, n0);
    }
    return rc;
}

mv_err mvc_put_expand_bundle(struct put *P, size_t idx, const mv_json *doc)
{
    mv_err rc = mvc_put_join_worker(P);
    if (rc != MV_OK)
        return rc;
    struct rec *r = P->recs[idx];
    const mv_json *entries = mv_json_get(doc, "entry");
    size_t n0 = P->n_recs;
    mv_buf b;
    for (size_t i = 0; i < mv_json_len(entries) && rc == MV_OK; i++) {
        const mv_json *res = mv_json_get(mv_json_at(entries, i), "resource");
        struct rec *e = NULL;
        if (!res)
            continue; /* a DELETE or GET entry of a transaction: nothing to store (docs/fhir.md) */
        mv_buf_init(&b, MV_FHIR_MAX_BYTES);
        if ((rc = mv_canon_write(&b, res)) == MV_OK && (rc = child(P, r, 1, i + 1, b.len, &e)) == MV_OK) {
            e->mem = mv_buf_steal(&b, NULL);
            if (!e->mem && b.len)
                rc = MV_ERR_NOMEM;
        }
        mv_buf_clear(&b);
    }
    if (rc == MV_OK) {
        become_container(P, r);
        move_after(P, idx, n0);
    }
    return rc;
}

/* ---------- patients ---------- */

static mv_err add_link(struct put_fhir *f, const mv_fhir_facts *facts, const char *sys)
{
    for (size_t i = 0; i < facts->n_identifiers; i++) {
        if (strcmp(facts->identifiers[i].system, sys) != 0)
            continue;
        mv_err rc = mv_array_grow(&f->links, &f->cap_links, f->n_links, sizeof *f->links, 16);
        if (rc != MV_OK)
            return rc;
        struct link *l = &f->links[f->n_links++];
        snprintf(l->id, sizeof l->id, "%s", facts->id);
        snprintf(l->mrn, sizeof l->mrn, "%s", facts->identifiers[i].value);
        return MV_OK;
    }
    return MV_OK;
}

/* Links from one parsed JSON document: a Patient, or the Patients of a Bundle's entries. */
static mv_err scan_doc(struct put *P, const mv_json *doc)
{
    mv_fhir_facts *facts = mv_malloc(sizeof *facts);
    if (!facts)
        return MV_ERR_NOMEM;
    mv_err rc = MV_OK;
    const char *sys = mvc_mrn_system(P->c);
    if (mvc_put_bundle_splits(doc)) {
        const mv_json *entries = mv_json_get(doc, "entry");
        for (size_t i = 0; i < mv_json_len(entries) && rc == MV_OK; i++)
            if (mv_fhir_facts_of(mv_json_get(mv_json_at(entries, i), "resource"), facts) == MV_OK &&
                !strcmp(facts->type, "Patient") && facts->id[0])
                rc = add_link(P->fx, facts, sys);
    } else if (mv_fhir_facts_of(doc, facts) == MV_OK && !strcmp(facts->type, "Patient") && facts->id[0]) {
        rc = add_link(P->fx, facts, sys);
    }
    mv_wipe(facts, sizeof *facts);
    mv_free(facts);
    return rc;
}

/* 1 if text[0..len) may hold a Patient resource: "resourceType" then ':' then "Patient",
 * with any JSON white space between. Only such texts are parsed by the prescan. */
static int may_hold_patient(const uint8_t *text, size_t len)
{
    static const char key[] = "\"resourceType\"";
    if (!text || !len)
        return 0; /* an empty file (mv_buf holds no pointer) */
    const uint8_t *p = text, *end = text + len;
    while ((p = memchr(p, '"', (size_t)(end - p))) != NULL) {
        if ((size_t)(end - p) < sizeof key - 1 || memcmp(p, key, sizeof key - 1) != 0) {
            p++;
            continue;
        }
        p += sizeof key - 1;
        const uint8_t *q = p;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r' || *q == ':'))
            q++;
        if ((size_t)(end - q) >= 9 && !memcmp(q, "\"Patient\"", 9))
            return 1;
    }
    return 0;
}

/* Copies an MRN (at most 31 characters, as mvc_mrn_ok allows) into mrn[32]; "" if longer. */
static void copy_mrn(char mrn[32], const char *s)
{
    size_t l = strlen(s);
    mrn[0] = 0;
    if (l < 32)
        memcpy(mrn, s, l + 1);
}

static void scan_text(struct put *P, const uint8_t *text, size_t len)
{
    mv_json *doc = NULL;
    if (may_hold_patient(text, len) && mv_json_parse((const char *)text, len, NULL, &doc, NULL) == MV_OK)
        (void)!scan_doc(P, doc);
    mv_json_free(doc);
}

/* Reads a whole JSON-looking file (at most MAX_JSON_FILE bytes) into data: 1 if it does not
 * look like JSON (only its head was read), -1 if it cannot be read. */
static int read_if_json(const char *path, mv_buf *data)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int ret = 0;
    uint8_t buf[65536];
    for (;;) {
        ssize_t got = read(fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            ret = -1;
            break;
        }
        if (data->len == 0 && !mvc_put_looks_json(path, buf, (size_t)got < 64 ? (size_t)got : 64)) {
            ret = 1; /* an attachment: not read further */
            break;
        }
        if (got == 0)
            break;
        if (mv_buf_append(data, buf, (size_t)got) != MV_OK) {
            ret = -1;
            break;
        }
    }
    close(fd);
    return ret;
}

mv_err mvc_put_prescan(struct put *P)
{
    mv_buf data;
    size_t cached = 0;
    for (size_t i = 0; i < P->n_recs; i++) {
        struct rec *r = P->recs[i];
        int ndjson = mvc_put_is_ndjson(r->path);
        if (r->finished || r->mem || r->slice || (r->bytes > MAX_JSON_FILE && !ndjson))
            continue;
        mv_buf_init(&data, ndjson ? (size_t)1 << 30 : MAX_JSON_FILE);
        int rd = ndjson ? (mv_file_read(r->path, data.max, &data) == MV_OK ? 0 : -1) : read_if_json(r->path, &data);
        if (rd != 0) {
            mv_buf_clear(&data);
            continue; /* an attachment, unreadable, or an NDJSON file above 1 GiB (docs/fhir.md) */
        }
        if (ndjson && may_hold_patient(data.ptr, data.len)) {
            const uint8_t *p = data.ptr, *end = data.ptr + data.len;
            while (p < end) {
                const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
                const uint8_t *stop = nl ? nl : end;
                scan_text(P, p, (size_t)(stop - p));
                p = stop + 1;
            }
        } else if (!ndjson) {
            scan_text(P, data.ptr, data.len); /* parses only what may hold a Patient */
        }
        /* A small JSON file is kept for ingest, which then needs not open it again. */
        if (!ndjson && data.len == r->bytes && data.len && data.len <= PRESCAN_KEEP_FILE &&
            cached + data.len <= PRESCAN_KEEP_TOTAL) {
            cached += data.len;
            r->mem = mv_buf_steal(&data, NULL);
            r->cached = r->mem != NULL;
        }
        mv_buf_clear(&data);
    }
    return MV_OK;
}

void mvc_put_patient_of(struct put *P, struct rec *r, char mrn[32])
{
    struct put_fhir *f = P->fx;
    const mv_fhir_facts *facts = r->facts;
    mrn[0] = 0;
    if (!facts)
        return;
    if (r->own_mrn[0]) {
        copy_mrn(mrn, r->own_mrn);
        return;
    }
    const char *ref = facts->patient;
    const char *id = !strncmp(ref, "Patient/", 8) ? ref + 8 : !strncmp(ref, "urn:uuid:", 9) ? ref + 9 : NULL;
    if (!id)
        return;
    for (size_t i = f->n_links; i-- > 0;)
        if (!strcmp(f->links[i].id, id)) {
            copy_mrn(mrn, f->links[i].mrn);
            return;
        }
    const char *m = mvc_findex_mrn_of(f->x, ref);
    if (m)
        copy_mrn(mrn, m);
}

/* ---------- versions ---------- */

static uint64_t key_hash(const char *k)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *k; k++)
        h = (h ^ (uint8_t)*k) * 0x100000001b3ull;
    return h;
}

static struct pend *pend_slot(struct put_fhir *f, const char *key)
{
    size_t m = f->pend_cap - 1, i = (size_t)key_hash(key) & m;
    while (f->pend[i].key && strcmp(f->pend[i].key, key) != 0)
        i = (i + 1) & m;
    return &f->pend[i];
}

static mv_err pend_grow(struct put_fhir *f)
{
    if ((f->n_pend + 1) * 2 <= f->pend_cap)
        return MV_OK;
    size_t cap = f->pend_cap ? f->pend_cap * 2 : 256;
    struct pend *old = f->pend;
    size_t old_cap = f->pend_cap;
    if (!(f->pend = mv_calloc(cap, sizeof *f->pend))) {
        f->pend = old;
        return MV_ERR_NOMEM;
    }
    f->pend_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].key)
            *pend_slot(f, old[i].key) = old[i];
    mv_free(old);
    return MV_OK;
}

mv_err mvc_put_sync_once(struct put *P)
{
    struct put_fhir *f = P->fx;
    if (f->synced)
        return MV_OK;
    /* Versions are decided against every record this user can read, not only those this
     * machine wrote: the index is brought up to date once per put, before the first decision
     * (records new to this machine are fetched once; none on the machine that wrote them). If
     * the storage server cannot be asked, the local index decides. */
    f->synced = 1;
    mv_err rc = mvc_put_join_worker(P);
    if (rc != MV_OK)
        return rc;
    /* What this put already stored goes into the index first: the sync must not fetch it. */
    if ((rc = mvc_put_index_flush(P)) != MV_OK)
        mv_log(MV_LOG_WARN, "client", "put: the local FHIR index could not be written (%s)", mv_strerror(rc));
    if ((rc = mv_client_index_sync(P->c, 0, NULL)) != MV_OK)
        mv_log(MV_LOG_WARN, "client", "put: the local index could not be brought up to date (%s: %s); versions are "
                                      "decided against what this machine knows", mv_strerror(rc), mv_client_last_error(P->c));
    return MV_OK;
}

mv_err mvc_put_version(struct put *P, struct rec *r, const mv_json *doc, mv_fhir_split *sp)
{
    struct put_fhir *f = P->fx;
    mv_fhir_facts *facts = r->facts;
    char key[MV_FHIR_TYPE_MAX + MV_FHIR_ID_MAX + 2], vid[16], now[40];
    mv_buf vless;
    mv_err rc;
    r->outcome = MV_FHIR_CREATED;
    if (!facts->id[0])
        return mv_fhir_split_doc(P->c->profiles, doc, sp); /* no logical id: stored as it is, no version */
    if ((rc = pend_grow(f)) != MV_OK)
        return rc;
    snprintf(key, sizeof key, "%s/%s", facts->type, facts->id);
    struct pend *p = pend_slot(f, key);
    const struct fx_ent *e = p->key ? NULL : mvc_findex_latest(f->x, facts->type, facts->id);
    uint32_t latest = p->key ? p->version : e ? e->version : 0;
    const uint8_t *ldigest = p->key ? p->digest : e ? e->digest : NULL;
    if (latest == UINT32_MAX)
        return MV_ERR_TOO_LARGE;
    snprintf(vid, sizeof vid, "%u", (unsigned)(latest + 1));
    if (mv_iso8601(now, sizeof now, mv_wall_ms(), 1) != 0)
        return MV_ERR_BAD_STATE;
    /* One split writes the envelope stamped as the next version and the versionless one the
     * digest is taken over; an unchanged resource is then simply not stored. */
    mv_buf_init(&vless, MV_FHIR_MAX_BYTES);
    if ((rc = mv_fhir_split_stamped(P->c->profiles, doc, vid, now, 1, sp, &vless)) != MV_OK ||
        (rc = mvc_findex_digest_split(f->x, &vless, sp, r->digest)) != MV_OK)
        goto out;
    if (latest && mv_ct_eq(ldigest, r->digest, 32)) {
        r->outcome = MV_FHIR_UNCHANGED;
        r->version = latest;
        r->same_as = p->key ? p->rec : NULL;
        if (e)
            memcpy(r->id, e->rid, 16);
        goto out;
    }
    r->version = latest + 1;
    r->outcome = latest ? MV_FHIR_UPDATED : MV_FHIR_CREATED;
    snprintf(facts->version_id, sizeof facts->version_id, "%s", vid);
    snprintf(facts->last_updated, sizeof facts->last_updated, "%s", now);
    rc = MV_ERR_NOMEM;
    if (!p->key) {
        if (!(p->key = mv_strdup(key)))
            goto out;
        f->n_pend++;
    }
    p->version = r->version;
    memcpy(p->digest, r->digest, 32);
    p->rec = r;
    rc = MV_OK;
out:
    mv_buf_clear(&vless);
    return rc;
}

/* ---------- the index ---------- */

mv_err mvc_put_index_flush(struct put *P)
{
    struct put_fhir *f = P->fx;
    if (!f || !f->n_q)
        return MV_OK;
    mv_err rc = mvc_findex_add(f->x, f->q, f->n_q);
    for (size_t i = 0; i < f->n_q; i++)
        if (f->q[i].facts) {
            mv_wipe((void *)f->q[i].facts, sizeof *f->q[i].facts);
            mv_free((void *)f->q[i].facts);
        }
    f->n_q = 0;
    return rc;
}

mv_err mvc_put_index_note(struct put *P, struct rec *r)
{
    struct put_fhir *f = P->fx;
    if (!f || r->rc != MV_OK || r->outcome == MV_FHIR_UNCHANGED)
        return MV_OK;
    if (f->n_q == INDEX_QUEUE) {
        mv_err rc = mvc_put_index_flush(P);
        if (rc != MV_OK)
            return rc;
    }
    fx_add *a = &f->q[f->n_q++];
    memset(a, 0, sizeof *a);
    memcpy(a->rid, r->id, 16);
    a->kind = r->r.kind;
    a->created = r->r.created;
    a->version = r->version;
    a->digest = r->version ? r->digest : NULL;
    a->facts = r->facts; /* handed over: freed by the flush */
    a->mrn = r->own_mrn[0] ? r->own_mrn : NULL;
    if (r->r.kind == MV_RECORD_ATTACHMENT) {
        const char *s = strrchr(r->path, '/');
        a->name = s ? s + 1 : r->path;
    }
    r->facts = NULL;
    return MV_OK;
}
