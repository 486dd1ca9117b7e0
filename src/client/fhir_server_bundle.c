/* fhir_server_bundle.c - search and history of the local FHIR server: the Bundles that list
 * many resources. Each answer is built from the local index (a search syncs it first, at most
 * every MV_FHIR_SERVER_SYNC_SECONDS, so the pages of one search agree) and the resources of
 * one page are fetched in one batch; a page never holds more than MV_FHIR_SERVER_PAGE_MAX
 * resources, and every parameter value is capped. */
#include "fhir_server_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "medvault/mv_clock.h"
#include "medvault/mv_fhir.h"
#include "medvault/mv_fhirstore.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"

#define FS_OFFSET_MAX 100000000u

static const char *const op_names[] = {"eq", "gt", "ge", "lt", "le"};

/* One resource of the page being built (copied out of the index: its entries are borrowed). */
struct hit {
    uint8_t rid[MV_CLIENT_ID_BYTES];
    uint32_t version;
    char id[MV_FHIR_ID_MAX + 1];
    char last_updated[40];
};

/* The page: the matches before offset are counted, the next count are kept. */
struct page {
    const struct params *p;
    struct hit *h;
    size_t n, total;
};

/* ---------- parameters ---------- */

static int cmp_parse(const char *val, struct cmp *c)
{
    c->op = OP_EQ;
    for (size_t i = 0; i < sizeof op_names / sizeof op_names[0]; i++)
        if (!strncmp(val, op_names[i], 2)) {
            c->op = (enum cmp_op)i;
            val += 2;
            break;
        }
    size_t n = strlen(val);
    if (n < 4 || n > FS_INSTANT_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char ch = val[i];
        if (i < 4 ? !(ch >= '0' && ch <= '9') : !((ch >= '0' && ch <= '9') || strchr("-T:.Z", ch)))
            return -1;
    }
    memcpy(c->v, val, n + 1);
    return 0;
}

static int cmp_ok(const char *field, const struct cmp *c)
{
    if (!field[0])
        return 0;
    int r = strncmp(field, c->v, strlen(c->v));
    switch (c->op) {
    case OP_EQ: return r == 0;
    case OP_GT: return r > 0;
    case OP_GE: return r >= 0;
    case OP_LT: return r < 0;
    case OP_LE: return r <= 0;
    }
    return 0;
}

static int uint_parse(const char *s, size_t max, size_t *out)
{
    size_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > max / 10)
            return -1;
        v = v * 10 + (size_t)(*s - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* A single-valued token parameter: set once (a repeat would mean AND, which the index cannot). */
static int set_once(char *dst, const char *val, char *why, size_t cap, const char *name)
{
    if (dst[0]) {
        snprintf(why, cap, "%s is given twice (one value per parameter)", name);
        return -1;
    }
    if (strchr(val, ',')) {
        snprintf(why, cap, "%s: one value, not a comma-separated list", name);
        return -1;
    }
    snprintf(dst, FS_VALUE_MAX, "%s", val);
    return 0;
}

int mvc_fs_params_parse(const char *qs, int history, int lenient, struct params *p, char *why, size_t cap)
{
    char name[32], val[FS_VALUE_MAX];
    memset(p, 0, sizeof *p);
    p->count = MV_FHIR_SERVER_PAGE_DEFAULT;
    p->patient_name = "patient";
    while (*qs) {
        size_t len = strcspn(qs, "&"), nl = strcspn(qs, "=");
        const char *pair = qs;
        qs += len;
        if (*qs == '&')
            qs++;
        if (len == 0)
            continue;
        if (nl > len)
            nl = len;
        if (nl == 0 || nl >= sizeof name) {
            if (lenient)
                continue;
            snprintf(why, cap, "an unknown search parameter");
            return -1;
        }
        memcpy(name, pair, nl);
        name[nl] = 0;
        mv_err rc = mv_http_form_get(pair, len, name, val, sizeof val);
        if (rc != MV_OK) {
            snprintf(why, cap, "parameter %.31s: %s", name, rc == MV_ERR_NOT_FOUND ? "no value" : "a malformed value");
            return -1;
        }
        int is_updated = !strcmp(name, "_lastUpdated"), is_date = !strcmp(name, "date");
        if (!strcmp(name, "_format") || !strcmp(name, "_pretty") || !strcmp(name, "_total"))
            continue; /* negotiated before; pretty printing is not offered; totals are always exact */
        if (!strcmp(name, "_count")) {
            if (uint_parse(val, SIZE_MAX / 16, &p->count) != 0) {
                snprintf(why, cap, "_count must be a number");
                return -1;
            }
            if (p->count > MV_FHIR_SERVER_PAGE_MAX) /* FHIR lets a server return fewer than asked */
                p->count = MV_FHIR_SERVER_PAGE_MAX;
        } else if (!strcmp(name, "_offset")) {
            if (uint_parse(val, FS_OFFSET_MAX, &p->offset) != 0) {
                snprintf(why, cap, "_offset must be a number up to %u", FS_OFFSET_MAX);
                return -1;
            }
        } else if (history) {
            if (lenient)
                continue;
            snprintf(why, cap, "history takes only _count and _offset, not %.31s", name);
            return -1;
        } else if (!strcmp(name, "_id")) {
            if (set_once(p->id, val, why, cap, name) != 0)
                return -1;
        } else if (!strcmp(name, "patient") || !strcmp(name, "subject")) {
            if (p->patient[0]) {
                snprintf(why, cap, "give patient or subject, once");
                return -1;
            }
            if (set_once(p->patient, val, why, cap, name) != 0)
                return -1;
            p->patient_name = !strcmp(name, "patient") ? "patient" : "subject";
        } else if (!strcmp(name, "code") || !strcmp(name, "status")) {
            if (set_once(name[0] == 'c' ? p->code : p->status, val, why, cap, name) != 0)
                return -1;
        } else if (is_updated || is_date) {
            struct cmp *c = is_updated ? p->updated : p->date;
            size_t *n = is_updated ? &p->n_updated : &p->n_date;
            if (*n == FS_MAX_CMP) {
                snprintf(why, cap, "%s is given more than %d times", name, FS_MAX_CMP);
                return -1;
            }
            if (cmp_parse(val, &c[*n]) != 0) {
                snprintf(why, cap,
                         "%s: a prefix eq, gt, ge, lt or le and a date or UTC instant (YYYY-MM-DD[Thh:mm:ss[.sss]Z])",
                         name);
                return -1;
            }
            (*n)++;
        } else if (!lenient) {
            snprintf(why, cap, "search parameter %.31s is not supported here (see GET /metadata)", name);
            return -1;
        }
    }
    return 0;
}

/* mvc_fs_params_parse of r's query, lenient when r says "Prefer: handling=lenient" (FHIR R4
 * search.html, "Handling errors"). */
static int params_parse(const mv_http_request *r, int history, struct params *p, char *why, size_t cap)
{
    const char *prefer = mv_http_header(r, "Prefer");
    return mvc_fs_params_parse(mv_http_query(r), history, prefer && strstr(prefer, "handling=lenient"), p, why, cap);
}

/* Appends "&name=value" (or "?name=value" first), value percent-encoded (RFC 3986 unreserved
 * characters as they are). */
static mv_err qs_add(mv_buf *b, int *first, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    mv_err rc = mv_buf_printf(b, "%c%s=", *first ? '?' : '&', name);
    *first = 0;
    for (const unsigned char *v = (const unsigned char *)value; *v && rc == MV_OK; v++) {
        if ((*v >= 'A' && *v <= 'Z') || (*v >= 'a' && *v <= 'z') || (*v >= '0' && *v <= '9') || strchr("-._~", *v))
            rc = mv_buf_append(b, v, 1);
        else
            rc = mv_buf_printf(b, "%%%c%c", hex[*v >> 4], hex[*v & 15]);
    }
    return rc;
}

mv_err mvc_fs_page_url(const char *base, const char *path, const struct params *p, size_t offset, mv_buf *out)
{
    char num[32];
    int first = 1;
    mv_buf_reset(out);
    mv_err rc = mv_buf_printf(out, "%s%s", base, path);
    const struct {
        const char *name, *value;
    } tok[] = {{"_id", p->id}, {p->patient_name, p->patient}, {"code", p->code}, {"status", p->status}};
    for (size_t i = 0; i < sizeof tok / sizeof tok[0] && rc == MV_OK; i++)
        if (tok[i].value[0])
            rc = qs_add(out, &first, tok[i].name, tok[i].value);
    for (int d = 0; d < 2; d++) {
        const struct cmp *c = d ? p->date : p->updated;
        for (size_t i = 0; i < (d ? p->n_date : p->n_updated) && rc == MV_OK; i++) {
            char v[FS_INSTANT_MAX + 3];
            snprintf(v, sizeof v, "%s%s", op_names[c[i].op], c[i].v);
            rc = qs_add(out, &first, d ? "date" : "_lastUpdated", v);
        }
    }
    snprintf(num, sizeof num, "%zu", p->count);
    if (rc == MV_OK)
        rc = qs_add(out, &first, "_count", num);
    snprintf(num, sizeof num, "%zu", offset);
    if (rc == MV_OK)
        rc = qs_add(out, &first, "_offset", num);
    return rc;
}

/* ---------- collecting a page ---------- */

static void page_take(struct page *pg, const mv_fhir_entry *e)
{
    const struct params *p = pg->p;
    if (pg->total++ < p->offset || pg->n >= p->count)
        return;
    struct hit *h = &pg->h[pg->n++];
    memcpy(h->rid, e->record_id, sizeof h->rid);
    h->version = e->version;
    snprintf(h->id, sizeof h->id, "%s", e->id);
    snprintf(h->last_updated, sizeof h->last_updated, "%s", e->last_updated);
}

static int search_cb(void *ctx, const mv_fhir_entry *e)
{
    struct page *pg = ctx;
    const struct params *p = pg->p;
    char when[40];
    if (e->kind != MV_RECORD_FHIR || !e->id[0]) /* only what has a FHIR URL can be a match */
        return 0;
    const char *u = e->last_updated;
    if (!u[0] && mv_iso8601(when, sizeof when, e->created * 1000u, 0) == 0)
        u = when;
    for (size_t i = 0; i < p->n_updated; i++)
        if (!cmp_ok(u, &p->updated[i]))
            return 0;
    for (size_t i = 0; i < p->n_date; i++)
        if (!cmp_ok(e->date, &p->date[i]))
            return 0;
    page_take(pg, e);
    return 0;
}

static int history_cb(void *ctx, const mv_fhir_entry *e)
{
    if (e->kind == MV_RECORD_FHIR)
        page_take(ctx, e);
    return 0;
}

/* ---------- writing the Bundle ---------- */

struct writer {
    struct fs_req *q;
    mv_jw *w;
    const char *type;
    int history;
    const struct page *pg;
    size_t next; /* get_many reports in order: where to look first */
    size_t failed;
};

static void entry_cb(void *ctx, const uint8_t *id, mv_err rc, int kind, const char *name, size_t name_len,
                     const uint8_t *data, size_t len)
{
    struct writer *wr = ctx;
    const struct page *pg = wr->pg;
    mv_jw *w = wr->w;
    char url[MV_HTTP_HEADER_VALUE_MAX], v[64];
    (void)name;
    (void)name_len;
    size_t i = wr->next;
    while (i < pg->n && memcmp(pg->h[i].rid, id, MV_CLIENT_ID_BYTES) != 0)
        i++;
    if (i == pg->n)
        for (i = 0; i < pg->n && memcmp(pg->h[i].rid, id, MV_CLIENT_ID_BYTES) != 0; i++)
            ;
    if (i == pg->n || rc != MV_OK || kind != MV_RECORD_FHIR) {
        wr->failed++;
        return;
    }
    wr->next = i + 1;
    const struct hit *h = &pg->h[i];
    snprintf(url, sizeof url, "%s/%s/%s", wr->q->s->base, wr->type, h->id);
    mv_jw_obj(w);
    mv_jw_kstr(w, "fullUrl", url);
    mv_jw_key(w, "resource");
    mv_jw_raw(w, (const char *)data, len);
    if (!wr->history) {
        mv_jw_key(w, "search");
        mv_jw_obj(w);
        mv_jw_kstr(w, "mode", "match");
        mv_jw_obj_end(w);
    } else {
        /* Version 1 was created, every later one an update (FHIR R4 http.html, "history"). */
        int first = h->version == 1;
        mv_jw_key(w, "request");
        mv_jw_obj(w);
        mv_jw_kstr(w, "method", first ? "POST" : "PUT");
        snprintf(url, sizeof url, first ? "%s" : "%s/%s", wr->type, h->id);
        mv_jw_kstr(w, "url", url);
        mv_jw_obj_end(w);
        mv_jw_key(w, "response");
        mv_jw_obj(w);
        mv_jw_kstr(w, "status", first ? "201 Created" : "200 OK");
        snprintf(v, sizeof v, "W/\"%u\"", (unsigned)h->version);
        mv_jw_kstr(w, "etag", v);
        if (h->last_updated[0])
            mv_jw_kstr(w, "lastModified", h->last_updated);
        mv_jw_obj_end(w);
    }
    mv_jw_obj_end(w);
}

static void add_link(mv_jw *w, const char *rel, const mv_buf *url)
{
    mv_jw_obj(w);
    mv_jw_kstr(w, "relation", rel);
    mv_jw_key(w, "url");
    mv_jw_strn(w, (const char *)url->ptr, url->len);
    mv_jw_obj_end(w);
}

/* Answers 200 with the Bundle (searchset or history) of pg, its links for path's pages. */
static void send_bundle(struct fs_req *q, const char *type, const char *path, const struct params *p,
                        const struct page *pg, int history)
{
    mv_jw w;
    mv_buf url;
    char now[40];
    uint8_t *ids = NULL;
    mv_err rc = MV_OK;
    struct writer wr = {.q = q, .w = &w, .type = type, .history = history, .pg = pg};
    mv_buf_init(&url, 16 << 10);
    mv_buf_reset(&q->resp->body);
    mv_jw_init(&w, &q->resp->body);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "resourceType", "Bundle");
    if (mv_iso8601(now, sizeof now, mv_wall_ms(), 1) == 0) {
        mv_jw_key(&w, "meta");
        mv_jw_obj(&w);
        mv_jw_kstr(&w, "lastUpdated", now);
        mv_jw_obj_end(&w);
    }
    mv_jw_kstr(&w, "type", history ? "history" : "searchset");
    mv_jw_ku64(&w, "total", pg->total);
    mv_jw_key(&w, "link");
    mv_jw_arr(&w);
    if ((rc = mvc_fs_page_url(q->s->base, path, p, p->offset, &url)) == MV_OK)
        add_link(&w, "self", &url);
    if (rc == MV_OK && p->count && p->offset + pg->n < pg->total && (rc = mvc_fs_page_url(q->s->base, path, p, p->offset + p->count, &url)) == MV_OK)
        add_link(&w, "next", &url);
    if (rc == MV_OK && p->offset > 0 &&
        (rc = mvc_fs_page_url(q->s->base, path, p, p->offset > p->count ? p->offset - p->count : 0, &url)) == MV_OK)
        add_link(&w, "previous", &url);
    mv_jw_arr_end(&w);
    if (rc == MV_OK && pg->n) {
        if (!(ids = mv_malloc(pg->n * MV_CLIENT_ID_BYTES))) {
            rc = MV_ERR_NOMEM;
            goto out;
        }
        for (size_t i = 0; i < pg->n; i++)
            memcpy(ids + i * MV_CLIENT_ID_BYTES, pg->h[i].rid, MV_CLIENT_ID_BYTES);
        mv_jw_key(&w, "entry");
        mv_jw_arr(&w);
        rc = mv_client_get_many(q->s->client, ids, pg->n, entry_cb, &wr);
        if (rc == MV_OK && wr.failed && !history) {
            /* A listed record that could not be read (revoked since, or damaged): say so in the
             * Bundle rather than fail the page (FHIR R4 search.html, search.mode "outcome"). */
            char msg[96];
            snprintf(msg, sizeof msg, "%zu resource(s) of this page could not be read", wr.failed);
            mv_jw_obj(&w);
            mv_jw_key(&w, "resource");
            mv_jw_obj(&w);
            mv_jw_kstr(&w, "resourceType", "OperationOutcome");
            mv_jw_key(&w, "issue");
            mv_jw_arr(&w);
            mv_jw_obj(&w);
            mv_jw_kstr(&w, "severity", "warning");
            mv_jw_kstr(&w, "code", "incomplete");
            mv_jw_kstr(&w, "diagnostics", msg);
            mv_jw_obj_end(&w);
            mv_jw_arr_end(&w);
            mv_jw_obj_end(&w);
            mv_jw_key(&w, "search");
            mv_jw_obj(&w);
            mv_jw_kstr(&w, "mode", "outcome");
            mv_jw_obj_end(&w);
            mv_jw_obj_end(&w);
        }
        mv_jw_arr_end(&w);
    }
    mv_jw_obj_end(&w);
    if (rc == MV_OK)
        rc = mv_jw_finish(&w);
out:
    if (wr.failed)
        mv_log(MV_LOG_WARN, FS_COMPONENT, "%zu listed record(s) could not be read", wr.failed);
    if (rc == MV_ERR_NET || rc == MV_ERR_HTTP)
        mvc_fs_outcome(q->resp, 503, "transient", "the storage server did not answer");
    else if (rc == MV_ERR_AUTH) /* the storage server asks for step-up: say how (no patient data) */
        mvc_fs_outcome(q->resp, 403, "security", mv_client_last_error(q->s->client));
    else if (rc != MV_OK)
        mvc_fs_outcome(q->resp, 500, "exception", "cannot build the Bundle");
    else
        mvc_fs_answer(q->resp, 200);
    mv_free(ids);
    mv_buf_clear(&url);
}

/* ---------- the interactions ---------- */

static int page_init(struct page *pg, const struct params *p)
{
    memset(pg, 0, sizeof *pg);
    pg->p = p;
    pg->h = mv_calloc(p->count ? p->count : 1, sizeof *pg->h);
    return pg->h ? 0 : -1;
}

void mvc_fs_search(struct fs_req *q, const char *type)
{
    struct params p;
    struct page pg = {0};
    char why[320], path[MV_FHIR_TYPE_MAX + 2];
    if (params_parse(q->r, 0, &p, why, sizeof why) != 0) {
        mvc_fs_outcome(q->resp, 400, "not-supported", why);
        return;
    }
    mv_err rc = mvc_fs_sync(q->s);
    if (rc != MV_OK) {
        snprintf(why, sizeof why, "cannot bring the index up to date: %s", mv_client_last_error(q->s->client));
        mvc_fs_outcome(q->resp, 503, "transient", why);
        return;
    }
    if (page_init(&pg, &p) != 0) {
        mvc_fs_outcome(q->resp, 500, "exception", "out of memory");
        return;
    }
    mv_fhir_query fq = {
        .type = type,
        .id = p.id[0] ? p.id : NULL,
        .patient = p.patient[0] ? p.patient : NULL,
        .code = p.code[0] ? p.code : NULL,
        .status = p.status[0] ? p.status : NULL,
    };
    rc = mv_client_index_find(q->s->client, &fq, search_cb, &pg, NULL);
    if (rc != MV_OK)
        mvc_fs_outcome(q->resp, 500, "exception", "cannot read the local index");
    else {
        snprintf(path, sizeof path, "/%s", type);
        send_bundle(q, type, path, &p, &pg, 0);
    }
    mv_free(pg.h);
}

void mvc_fs_history(struct fs_req *q, const char *type, const char *id)
{
    struct params p;
    struct page pg = {0};
    char why[320], path[MV_FHIR_TYPE_MAX + MV_FHIR_ID_MAX + 16];
    if (params_parse(q->r, 1, &p, why, sizeof why) != 0) {
        mvc_fs_outcome(q->resp, 400, "not-supported", why);
        return;
    }
    if (page_init(&pg, &p) != 0) {
        mvc_fs_outcome(q->resp, 500, "exception", "out of memory");
        return;
    }
    mv_err rc = mv_client_fhir_history(q->s->client, type, id, history_cb, &pg);
    if (rc == MV_ERR_NOT_FOUND && mvc_fs_sync(q->s) == MV_OK) {
        pg.n = pg.total = 0;
        rc = mv_client_fhir_history(q->s->client, type, id, history_cb, &pg);
    }
    if (rc == MV_OK && pg.total == 0)
        rc = MV_ERR_NOT_FOUND;
    if (rc == MV_ERR_NOT_FOUND) {
        snprintf(why, sizeof why, "no resource %.64s/%.64s", type, id);
        mvc_fs_outcome(q->resp, 404, "not-found", why);
    } else if (rc != MV_OK) {
        mvc_fs_outcome(q->resp, 500, "exception", "cannot read the local index");
    } else {
        snprintf(path, sizeof path, "/%s/%s/_history", type, id);
        send_bundle(q, type, path, &p, &pg, 1);
    }
    mv_free(pg.h);
}
