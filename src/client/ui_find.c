/* ui_find.c - the UI's record list: one bounded page of the user's local FHIR index
 * (mv_fhirstore.h), searched and filtered in this process. The index is brought up to date
 * from the storage server at most every SYNC_SECONDS; nothing typed in the search form leaves
 * this computer. */
#include "ui_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_fhir.h"
#include "medvault/mv_fhirstore.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"

#define PAGE_DEFAULT 50
/* Rows on one page whatever ?limit= asks: a page stays small however many records there are. */
#define PAGE_MAX 100
#define SYNC_SECONDS 5
#define TEXT_MAX 128
#define MAX_FACETS 64 /* distinct types (or statuses) offered in a filter's select */
#define HREF_MAX 2048

/* What the records page was asked for: each value "" when absent (or refused, with why). */
struct rec_filter {
    char text[TEXT_MAX + 1];
    char type[MV_FHIR_TYPE_MAX + 1];
    char patient[MV_FHIR_FACT_MAX];
    char from[11], to[11];
    char status[41];
    size_t page, limit; /* page from 1; limit 1..PAGE_MAX */
};

/* The values a select offers, sorted; those past MAX_FACETS are not offered (still searchable). */
struct facets {
    char v[MAX_FACETS][MV_FHIR_TYPE_MAX + 1];
    size_t n;
    int other; /* types: a record without a FHIR type (an attachment) exists */
};

/* ---------- the index, kept fresh ---------- */

/* Syncs the index unless it was synced less than SYNC_SECONDS ago. The first sync of this
 * process also retries records it could not read before (a delegation may have arrived since).
 * On failure why says so; the page then shows what the index already holds. */
static void index_refresh(struct ui *u, char *why, size_t cap)
{
    uint64_t now = mvc_ui_now_s();
    if (u->synced_at && now < u->synced_at + SYNC_SECONDS)
        return;
    mv_err rc = mv_client_index_sync(u->client, !u->synced_at, NULL);
    if (rc != MV_OK) {
        snprintf(why, cap, "Cannot bring the list up to date: %s (%s). It shows what this computer already knew.",
                 mv_strerror(rc), mv_client_last_error(u->client));
        return;
    }
    u->synced_at = now;
}

/* ---------- the request ---------- */

/* A query parameter into out: 0 absent or fine, -1 present but refused (out = ""). */
static int param(const struct req *q, const char *name, char *out, size_t cap)
{
    const char *qs = mv_http_query(q->r);
    mv_err rc = mv_http_form_get(qs, strlen(qs), name, out, cap);
    return rc == MV_OK || rc == MV_ERR_NOT_FOUND ? 0 : -1;
}

/* 1 if s is all of set's characters (ASCII ranges "az", "AZ", "09", or single characters). */
static int only(const char *s, const char *ranges, const char *singles)
{
    for (; *s; s++) {
        int ok = strchr(singles, *s) != NULL;
        for (const char *r = ranges; !ok && r[0] && r[1]; r += 2)
            ok = *s >= r[0] && *s <= r[1];
        if (!ok)
            return 0;
    }
    return 1;
}

/* A date filter: YYYY, YYYY-MM or YYYY-MM-DD (what the index compares as a prefix). */
static int date_ok(const char *s)
{
    size_t n = strlen(s);
    return (n == 4 || n == 7 || n == 10) && only(s, "09", "-") && s[0] != '-' && (n < 5 || s[4] == '-') &&
           (n < 8 || s[7] == '-');
}

/* 1..max from decimal text (any larger number is max), else def. */
static size_t small_number(const char *s, size_t def, size_t max)
{
    uint64_t v = 0;
    if (!s[0] || !only(s, "09", ""))
        return def;
    for (; *s && v <= max; s++)
        v = v * 10 + (uint64_t)(*s - '0');
    return v == 0 ? def : v > max ? max : (size_t)v;
}

/* Reads the filter; every refused value is dropped (and named in why), the rest still applies. */
static void read_filter(const struct req *q, struct rec_filter *f, char *why, size_t cap)
{
    char num[32];
    size_t w = 0;
    memset(f, 0, sizeof *f);
#define REFUSE(msg)                                                                                                    \
    do {                                                                                                               \
        if (w < cap)                                                                                                   \
            w += (size_t)snprintf(why + w, cap - w, "%s%s", w ? " " : "", msg);                                        \
    } while (0)
    if (param(q, "q", f->text, sizeof f->text))
        REFUSE("The search text was not used: at most 128 characters, and no control characters.");
    if (param(q, "type", f->type, sizeof f->type) || (f->type[0] && strcmp(f->type, "-") && !only(f->type, "azAZ", ""))) {
        f->type[0] = 0;
        REFUSE("The type filter was not used: a FHIR resource type is letters only.");
    }
    if (param(q, "patient", f->patient, sizeof f->patient))
        REFUSE("The patient filter was not used: at most 191 characters, and no control characters.");
    if (param(q, "from", f->from, sizeof f->from) || (f->from[0] && !date_ok(f->from))) {
        f->from[0] = 0;
        REFUSE("The from date was not used: dates are YYYY-MM-DD.");
    }
    if (param(q, "to", f->to, sizeof f->to) || (f->to[0] && !date_ok(f->to))) {
        f->to[0] = 0;
        REFUSE("The to date was not used: dates are YYYY-MM-DD.");
    }
    if (param(q, "status", f->status, sizeof f->status) || (f->status[0] && !only(f->status, "azAZ09", "-"))) {
        f->status[0] = 0;
        REFUSE("The status filter was not used: a FHIR status is letters and '-'.");
    }
#undef REFUSE
    (void)param(q, "page", num, sizeof num);
    /* Pages beyond this would need more records than a user has; it keeps offsets in range. */
    f->page = small_number(num, 1, 10000000);
    (void)param(q, "limit", num, sizeof num);
    f->limit = small_number(num, PAGE_DEFAULT, PAGE_MAX);
}

static void to_query(const struct rec_filter *f, mv_fhir_query *out)
{
    memset(out, 0, sizeof *out);
    out->text = f->text[0] ? f->text : NULL;
    /* "-": records without a FHIR type (attachments), whose type in the index is "". */
    out->type = !strcmp(f->type, "-") ? "" : f->type[0] ? f->type : NULL;
    out->patient = f->patient[0] ? f->patient : NULL;
    out->date_ge = f->from[0] ? f->from : NULL;
    out->date_le = f->to[0] ? f->to : NULL;
    out->status = f->status[0] ? f->status : NULL;
    out->newest_first = 1;
    out->offset = (f->page - 1) * f->limit;
    out->limit = f->limit;
}

/* "/records?..." with f's filters and page (the default limit left out) into b, NUL-terminated. */
static mv_err list_href(mv_buf *b, const struct rec_filter *f, size_t page)
{
    char num[24];
    mv_buf_reset(b);
    mv_err rc = mv_buf_puts(b, "/records");
    static const char *const names[] = {"q", "type", "patient", "from", "to", "status"};
    const char *vals[] = {f->text, f->type, f->patient, f->from, f->to, f->status};
    for (size_t i = 0; i < sizeof names / sizeof *names && rc == MV_OK; i++)
        if (vals[i][0])
            rc = mv_http_query_add(b, names[i], vals[i]);
    if (rc == MV_OK && f->limit != PAGE_DEFAULT) {
        snprintf(num, sizeof num, "%zu", f->limit);
        rc = mv_http_query_add(b, "limit", num);
    }
    if (rc == MV_OK && page > 1) {
        snprintf(num, sizeof num, "%zu", page);
        rc = mv_http_query_add(b, "page", num);
    }
    if (rc == MV_OK)
        rc = mv_buf_append(b, "", 1);
    return rc;
}

/* ---------- the filters' choices ---------- */

static void facet_add(struct facets *fs, const char *v)
{
    if (!v[0] || fs->n == MAX_FACETS || strlen(v) >= sizeof fs->v[0])
        return;
    for (size_t i = 0; i < fs->n; i++)
        if (!strcmp(fs->v[i], v))
            return;
    snprintf(fs->v[fs->n++], sizeof fs->v[0], "%s", v);
}

struct facet_ctx {
    struct facets *types, *statuses;
};

static int facet_cb(void *ctx, const mv_fhir_entry *e)
{
    struct facet_ctx *fc = ctx;
    facet_add(fc->types, e->type);
    facet_add(fc->statuses, e->status);
    if (!e->type[0])
        fc->types->other = 1;
    return 0;
}

static int facet_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void facet_select(struct req *q, const char *name, const char *label, const struct facets *fs, const char *chosen)
{
    P(q, "<label>%s <select name=\"%s\"><option value=\"\">any</option>", label, name);
    for (size_t i = 0; i < fs->n; i++)
        P(q, "<option%s>%s</option>", strcmp(fs->v[i], chosen) ? "" : " selected", fs->v[i]);
    if (fs->other)
        P(q, "<option value=\"-\"%s>(attachments)</option>", strcmp(chosen, "-") ? "" : " selected");
    P(q, "</select></label>\n");
}

static void search_form(struct req *q, const struct rec_filter *f, const struct facets *types,
                        const struct facets *statuses)
{
    P(q, "<form method=\"get\" action=\"/records\" class=\"filters\" role=\"search\">\n"
         "<input type=\"search\" name=\"q\" value=\"%s\" maxlength=\"128\" size=\"28\" "
         "placeholder=\"Search: name, code, type, id\" aria-label=\"Search\">\n",
      f->text);
    facet_select(q, "type", "Type", types, f->type);
    P(q, "<label>Patient <input name=\"patient\" value=\"%s\" maxlength=\"191\" size=\"16\" "
         "placeholder=\"MRN or Patient id\"></label>\n"
         "<label>From <input type=\"date\" name=\"from\" value=\"%s\"></label>\n"
         "<label>to <input type=\"date\" name=\"to\" value=\"%s\"></label>\n",
      f->patient, f->from, f->to);
    facet_select(q, "status", "Status", statuses, f->status);
    if (f->limit != PAGE_DEFAULT)
        P(q, "<input type=\"hidden\" name=\"limit\" value=\"%zu\">", f->limit);
    P(q, "<button>Search</button> <a href=\"/records\">Clear</a></form>\n");
}

/* ---------- the rows ---------- */

struct row_ctx {
    struct req *q;
    mv_buf *href;
};

/* The id a patient reference names ("Patient/X", "urn:uuid:X"), or "". */
static const char *patient_id(const char *ref)
{
    if (!strncmp(ref, "Patient/", 8))
        return ref + 8;
    if (!strncmp(ref, "urn:uuid:", 9))
        return ref + 9;
    return "";
}

/* The patient cell: the Patient's name when the index knows that Patient, else the
 * reference; a link that filters the list by this patient. */
static void patient_cell(struct row_ctx *rc, const mv_fhir_entry *e)
{
    struct req *q = rc->q;
    mv_fhir_entry pe;
    const char *shown = e->patient, *pid = patient_id(e->patient);
    if (!e->patient[0]) {
        P(q, "<td>-</td>");
        return;
    }
    if (!strcmp(e->type, "Patient"))
        shown = e->display[0] ? e->display : shown;
    else if (pid[0] && mv_client_fhir_lookup(q->u->client, "Patient", pid, 0, &pe) == MV_OK && pe.display[0])
        shown = pe.display;
    struct rec_filter only_patient = {.page = 1, .limit = PAGE_DEFAULT};
    snprintf(only_patient.patient, sizeof only_patient.patient, "%s", e->patient);
    if (q->w.rc == MV_OK)
        q->w.rc = list_href(rc->href, &only_patient, 1);
    P(q, "<td><a href=\"%s\">%s</a>", q->w.rc == MV_OK ? (const char *)rc->href->ptr : "", shown);
    if (e->mrn[0] && !strstr(shown, e->mrn))
        P(q, " <span class=\"muted\">%s</span>", e->mrn);
    P(q, "</td>");
}

static int row_cb(void *ctx, const mv_fhir_entry *e)
{
    struct row_ctx *rc = ctx;
    struct req *q = rc->q;
    char hex[2 * MV_CLIENT_ID_BYTES + 1], when[64];
    const char *bar = strrchr(e->code, '|'), *code = bar ? bar + 1 : e->code;
    const char *summary = e->display[0] ? e->display : code[0] ? code : e->name[0] ? e->name : "(no summary)";
    if (mv_hex_encode(hex, sizeof hex, e->record_id, MV_CLIENT_ID_BYTES) != MV_OK)
        return 0;
    if (e->date[0])
        snprintf(when, sizeof when, "%.10s", e->date);
    else
        mvc_ui_fmt_time(e->created, when, sizeof when);
    P(q, "<tr><td>%s</td><td><a href=\"/records/%s\">%s</a>", e->type[0] ? e->type : "Attachment", hex, summary);
    if (code[0] && strcmp(code, summary))
        P(q, " <span class=\"muted\">%s</span>", code);
    P(q, "</td><td class=\"nowrap\">%s</td>", when);
    patient_cell(rc, e);
    if (e->version)
        P(q, "<td class=\"num\">%u</td>", (unsigned)e->version);
    else
        P(q, "<td class=\"num\">-</td>");
    P(q, "<td>%s</td></tr>\n", e->status);
    return q->w.rc != MV_OK;
}

static int count_only(void *ctx, const mv_fhir_entry *e)
{
    (void)ctx;
    (void)e;
    return 1;
}

/* Page links: previous, the first and last pages, two around the current one, next. */
static void pager(struct req *q, const struct rec_filter *f, size_t pages, mv_buf *href)
{
    if (pages <= 1)
        return;
    P(q, "<nav class=\"pager\" aria-label=\"Pages\">");
    int gap = 0;
    for (size_t p = 0; p <= pages + 1; p++) {
        size_t to = p == 0 ? f->page - 1 : p == pages + 1 ? f->page + 1 : p;
        const char *label = p == 0 ? "Previous" : p == pages + 1 ? "Next" : NULL;
        int near = to + 2 >= f->page && to <= f->page + 2;
        if (!label && !(to == 1 || to == pages || near)) {
            if (!gap)
                P(q, " &hellip;");
            gap = 1;
            continue;
        }
        gap = 0;
        if (to < 1 || to > pages || (!label && to == f->page)) {
            if (label)
                P(q, " <span class=\"muted\">%s</span>", label);
            else
                P(q, " <b aria-current=\"page\">%zu</b>", to);
            continue;
        }
        if (q->w.rc == MV_OK)
            q->w.rc = list_href(href, f, to);
        if (q->w.rc != MV_OK)
            return;
        if (label)
            P(q, " <a href=\"%s\" rel=\"%s\">%s</a>", (const char *)href->ptr, p == 0 ? "prev" : "next", label);
        else
            P(q, " <a href=\"%s\">%zu</a>", (const char *)href->ptr, to);
    }
    P(q, "</nav>\n");
}

void mvc_ui_handle_records(struct req *q)
{
    struct ui *u = q->u;
    char why[320] = "", refused[512] = "";
    struct rec_filter f;
    mv_fhir_query fq;
    mv_buf href;
    size_t total = 0, all = 0;
    struct facets *types = mv_calloc(2, sizeof *types);
    struct facets *statuses = types ? types + 1 : NULL;
    mv_buf_init(&href, HREF_MAX);
    if (!types) {
        q->w.rc = MV_ERR_NOMEM;
        return;
    }
    index_refresh(u, why, sizeof why);
    read_filter(q, &f, refused, sizeof refused);
    mvc_ui_page_begin(q, "Records", "/records");
    if (why[0])
        P(q, "<p class=\"error\">%s</p>\n", why);
    if (refused[0])
        P(q, "<p class=\"error\">%s</p>\n", refused);
    mv_err rc = mv_client_index_find(u->client, NULL, facet_cb, &(struct facet_ctx){types, statuses}, &all);
    qsort(types->v, types->n, sizeof types->v[0], facet_cmp);
    qsort(statuses->v, statuses->n, sizeof statuses->v[0], facet_cmp);
    search_form(q, &f, types, statuses);
    struct row_ctx rows = {.q = q, .href = &href};
    to_query(&f, &fq);
    /* Count first, so that a page past the end shows the last page rather than nothing. */
    if (rc == MV_OK)
        rc = mv_client_index_find(u->client, &fq, count_only, NULL, &total);
    size_t pages = (total + f.limit - 1) / f.limit;
    if (rc == MV_OK && total && f.page > pages) {
        f.page = pages;
        to_query(&f, &fq);
    }
    if (rc != MV_OK) {
        P(q, "<p class=\"error\">Cannot read the local index: %s (%s)</p>\n", mv_strerror(rc),
          mv_client_last_error(u->client));
    } else if (!all) {
        P(q, "<p class=\"muted\">No records you can read.</p>\n");
    } else if (!total) {
        P(q, "<p class=\"muted\">No record matches (of %zu you can read).</p>\n", all);
    } else {
        size_t first = (f.page - 1) * f.limit;
        P(q, "<p id=\"total\">Records %zu&ndash;%zu of <b>%zu</b>", first + 1,
          first + f.limit < total ? first + f.limit : total, total);
        if (total != all)
            P(q, " matching (of %zu you can read)", all);
        P(q, ", found in this computer&#39;s index of what you can read.</p>\n");
        P(q, "<table id=\"records\"><tr><th>Type</th><th>Summary</th><th>Date</th><th>Patient</th>"
             "<th class=\"num\">Version</th><th>Status</th></tr>\n");
        if (q->w.rc == MV_OK && (rc = mv_client_index_find(u->client, &fq, row_cb, &rows, NULL)) != MV_OK)
            P(q, "<tr><td colspan=\"6\" class=\"error\">Cannot read the local index: %s</td></tr>\n", mv_strerror(rc));
        P(q, "</table>\n");
        pager(q, &f, pages, &href);
    }
    mv_buf_clear(&href);
    mv_free(types);
    mvc_ui_page_end(q, 200);
}
