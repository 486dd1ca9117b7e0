/* cmd_find.c - `medvault ls`, `history` and `export`: the user's records found through the
 * local FHIR index (mv_fhirstore.h, docs/fhir.md). Output never includes record content
 * except what export writes to the files asked for. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "medvault/mv_client.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_fhir.h"
#include "medvault/mv_fhirstore.h"
#include "medvault/mv_file.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"

#define FIND_FLAGS                                                                                           \
    "  --type T         only resources of this resourceType\n"                                           \
    "  --patient P      only resources about this patient: an MRN, a Patient id or a reference\n"          \
    "  --since WHEN     only those last updated at or after WHEN (2026-12-07 or an instant)\n"            \
    "  --date-from D    only those whose clinical date is on or after D (YYYY-MM-DD...)\n"                \
    "  --date-to D      ... on or before D\n"                                                               \
    "  --code C         only those whose main code is C (or system|C)\n"                                  \
    "  --status S       only those with this status\n"                                                      \
    "  --search TEXT    only those whose type, id, code, summary or name contains TEXT\n"                  \
    "  --all-versions   every version, not only the latest of each resource\n"

struct find_opts {
    cli_common o;
    mv_fhir_query q;
    const char *limit, *offset;
    int all_versions, refresh, json;
};

/* Parses the common and find options (with -o/--output DIR when output is not NULL);
 * positional arguments are left from optind. */
static int find_parse(int argc, char **argv, const char *usage, struct find_opts *f, int paging, const char **output)
{
    static const struct option opts[] = {
        {"deployment", required_argument, NULL, 'D'}, {"user", required_argument, NULL, 'u'},
        {"type", required_argument, NULL, 't'},       {"patient", required_argument, NULL, 'p'},
        {"since", required_argument, NULL, 's'},      {"date-from", required_argument, NULL, 'f'},
        {"date-to", required_argument, NULL, 'T'},    {"code", required_argument, NULL, 'c'},
        {"status", required_argument, NULL, 'S'},     {"search", required_argument, NULL, 'q'},
        {"all-versions", no_argument, NULL, 'a'},     {"limit", required_argument, NULL, 'l'},
        {"offset", required_argument, NULL, 'F'},     {"refresh", no_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},             {"help", no_argument, NULL, 'h'},
        {"output", required_argument, NULL, 'O'},     {NULL, 0, NULL, 0},
    };
    int c;
    memset(f, 0, sizeof *f);
    cli_common_init(&f->o);
    optind = 0;
    while ((c = getopt_long(argc, argv, output ? "o:" : "", opts, NULL)) != -1) {
        switch (c) {
        case 'D': f->o.deployment = optarg; break;
        case 'u': f->o.user = optarg; break;
        case 't': f->q.type = optarg; break;
        case 'p': f->q.patient = optarg; break;
        case 's': f->q.since = optarg; break;
        case 'f': f->q.date_ge = optarg; break;
        case 'T': f->q.date_le = optarg; break;
        case 'c': f->q.code = optarg; break;
        case 'S': f->q.status = optarg; break;
        case 'q': f->q.text = optarg; break;
        case 'a': f->q.all_versions = 1; break;
        case 'l': f->limit = optarg; break;
        case 'F': f->offset = optarg; break;
        case 'o':
        case 'O':
            if (!output)
                return cli_usage(usage, 0);
            *output = optarg;
            break;
        case 'r': f->refresh = 1; break;
        case 'j': f->json = f->o.json = 1; break;
        case 'h': return cli_usage(usage, 1) == CLI_OK ? -1 : CLI_USAGE;
        default: return cli_usage(usage, 0);
        }
    }
    uint64_t v = 0;
    if (f->limit) {
        if (!paging || cli_u64_arg(f->limit, 1, 1000000, &v, "--limit") != CLI_OK)
            return CLI_USAGE;
        f->q.limit = (size_t)v;
    }
    if (f->offset && paging) {
        if (cli_u64_arg(f->offset, 0, SIZE_MAX / 2, &v, "--offset") != CLI_OK)
            return CLI_USAGE;
        f->q.offset = (size_t)v;
    }
    return cli_common_check(&f->o, usage);
}

/* Opens the client and brings the local index up to date; NULL (error printed) on failure. */
static mv_client *open_synced(struct find_opts *f, const char *what)
{
    mv_client *cl = cli_open_client(&f->o, NULL, what);
    if (!cl)
        return NULL;
    mv_index_sync_stats st;
    mv_err rc = mv_client_index_sync(cl, f->refresh, &st);
    if (rc != MV_OK) {
        cli_err("%s: cannot bring the local index up to date: %s (%s)", what, mv_strerror(rc), mv_client_last_error(cl));
        mv_client_close(cl);
        return NULL;
    }
    return cl;
}

/* The storage server's listing, sorted by record id for look-ups. */
struct listing {
    struct lrow {
        uint8_t id[16];
        const mv_json *e;
    } *rows;
    size_t n;
};

static int lrow_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

static int listing_build(struct listing *L, const mv_json *records)
{
    size_t n = mv_json_len(records);
    L->n = 0;
    if (!(L->rows = mv_calloc(n ? n : 1, sizeof *L->rows)))
        return -1;
    for (size_t i = 0; i < n; i++) {
        const mv_json *e = mv_json_at(records, i);
        if (mv_json_get_hex(e, "id", L->rows[L->n].id, 16) == MV_OK)
            L->rows[L->n++].e = e;
    }
    qsort(L->rows, L->n, sizeof *L->rows, lrow_cmp);
    return 0;
}

/* The storage server's listing entry of record id, or NULL. */
static const mv_json *listed(const struct listing *L, const uint8_t id[16])
{
    const struct lrow *r = L && L->rows ? bsearch(id, L->rows, L->n, sizeof *L->rows, lrow_cmp) : NULL;
    return r ? r->e : NULL;
}

static void entry_json(mv_jw *w, const mv_fhir_entry *e, const mv_json *server)
{
    mv_jw_obj(w);
    mv_jw_khex(w, "id", e->record_id, 16);
    /* What the storage server lists (department, sizes, owner, patient key, episode) first. */
    for (size_t i = 0; i < mv_json_len(server); i++) {
        size_t kl = 0;
        const char *k = mv_json_key_at(server, i, &kl);
        char key[64];
        if (kl >= sizeof key || (kl == 2 && !memcmp(k, "id", 2)) || (kl == 7 && !memcmp(k, "created", 7)))
            continue;
        memcpy(key, k, kl);
        key[kl] = 0;
        mv_buf raw;
        mv_buf_init(&raw, (size_t)1 << 20);
        if (mv_json_write(&raw, mv_json_value_at(server, i)) == MV_OK) {
            mv_jw_key(w, key);
            mv_jw_raw(w, (const char *)raw.ptr, raw.len);
        }
        mv_buf_clear(&raw);
    }
    mv_jw_kstr(w, "kind", e->kind == MV_RECORD_FHIR ? "fhir" : e->kind == MV_RECORD_ATTACHMENT ? "attachment" : "unreadable");
    mv_jw_ku64(w, "created", e->created);
    if (e->name[0])
        mv_jw_kstr(w, "name", e->name);
    if (e->type[0]) {
        mv_jw_kstr(w, "type", e->type);
        if (e->id[0]) {
            mv_jw_kstr(w, "resource_id", e->id);
            mv_jw_ku64(w, "version", e->version);
            mv_jw_kbool(w, "latest", e->latest);
        }
        static const char *const keys[] = {"last_updated", "subject", "mrn", "date", "code", "status", "display"};
        const char *vals[] = {e->last_updated, e->patient, e->mrn, e->date, e->code, e->status, e->display};
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
            if (vals[i][0])
                mv_jw_kstr(w, keys[i], vals[i]);
    }
    mv_jw_obj_end(w);
}

static void entry_text(const mv_fhir_entry *e, const mv_json *server)
{
    char hex[33];
    const char *dept = mv_json_get_str(server, "department", NULL);
    if (mv_hex_encode(hex, sizeof hex, e->record_id, 16) != MV_OK)
        return;
    printf("%s  %-14s ", hex, dept ? dept : "-");
    if (e->kind == MV_RECORD_ATTACHMENT) {
        printf("attachment  %s\n", e->name[0] ? e->name : "-");
        return;
    }
    char res[160];
    if (e->id[0])
        snprintf(res, sizeof res, "%s/%s v%u%s", e->type, e->id, (unsigned)e->version, e->latest ? "" : " (old)");
    else
        snprintf(res, sizeof res, "%s", e->type[0] ? e->type : "FHIR");
    printf("%s  %s  %s  %s%s%s\n", res, e->date[0] ? e->date : "-", e->status[0] ? e->status : "-",
           e->display[0] ? e->display : "-", e->mrn[0] || e->patient[0] ? "  patient " : "",
           e->mrn[0] ? e->mrn : e->patient);
}

struct ls_ctx {
    int json;
    mv_jw *w;
    size_t n;
    const struct listing *listing; /* the storage server's records, for --json; may be NULL */
};

static int ls_one(void *ctx, const mv_fhir_entry *e)
{
    struct ls_ctx *l = ctx;
    l->n++;
    if (l->json)
        entry_json(l->w, e, listed(l->listing, e->record_id));
    else
        entry_text(e, listed(l->listing, e->record_id));
    return 0;
}

static const char ls_usage[] =
    "usage: medvault ls [--deployment F] [--user DIR] [FILTERS] [--limit N] [--offset N] [--refresh] [--json]\n\n"
    "Lists the records you may read, newest last, from your local index, which it first brings\n"
    "up to date with the storage server (records new to you are fetched and decrypted once;\n"
    "the index file in your directory is encrypted). One line per record: id, department,\n"
    "Type/id and version, clinical date, status, summary, patient; attachments by file name.\n"
    "With --json, {\"total\":N,\"records\":[...]} (docs/fhir.md).\n" CLI_COMMON_HELP FIND_FLAGS
    "  --limit N, --offset N   one page of the matches\n"
    "  --refresh        also retry the records you could not read before (shared with you since)\n";

int cmd_ls(int argc, char **argv)
{
    struct find_opts f;
    int r = find_parse(argc, argv, ls_usage, &f, 1, NULL);
    if (r != CLI_OK)
        return r < 0 ? CLI_OK : r;
    if (optind != argc)
        return cli_usage(ls_usage, 0);
    mv_client *cl = open_synced(&f, "ls");
    if (!cl)
        return CLI_FAIL;
    mv_buf b, lb;
    mv_jw w;
    mv_json *listing = NULL;
    mv_buf_init(&b, (size_t)1 << 30);
    mv_buf_init(&lb, (size_t)1 << 30);
    mv_jw_init(&w, &b);
    if ((mv_client_list_json(cl, &lb) != MV_OK ||
                   mv_json_parse((const char *)lb.ptr, lb.len, &(mv_json_limits){lb.max, 0, 0}, &listing, NULL) != MV_OK)) {
        cli_err("ls: cannot list the records at the storage server (%s)", mv_client_last_error(cl));
        mv_buf_clear(&b);
        mv_buf_clear(&lb);
        mv_client_close(cl);
        return CLI_FAIL;
    }
    struct listing L = {NULL, 0};
    if (listing_build(&L, mv_json_get(listing, "records")) != 0) {
        cli_err("ls: out of memory");
        r = CLI_FAIL;
    }
    struct ls_ctx l = {f.json, &w, 0, &L};
    size_t total = 0;
    if (f.json) {
        mv_jw_obj(&w);
        mv_jw_key(&w, "records");
        mv_jw_arr(&w);
    }
    mv_err rc = r == CLI_OK ? mv_client_index_find(cl, &f.q, ls_one, &l, &total) : MV_OK;
    if (rc != MV_OK) {
        cli_err("ls: %s (%s)", mv_strerror(rc), mv_client_last_error(cl));
        r = CLI_FAIL;
    } else if (r == CLI_OK && f.json) {
        mv_jw_arr_end(&w);
        mv_jw_ku64(&w, "total", total);
        mv_jw_ku64(&w, "offset", f.q.offset);
        mv_jw_obj_end(&w);
        if (mv_jw_finish(&w) != MV_OK || cli_print_buf(&b) != CLI_OK) {
            cli_err("ls: output too large");
            r = CLI_FAIL;
        }
        putchar('\n');
    } else if (r == CLI_OK && f.q.limit && total > f.q.offset + l.n) {
        fflush(stdout); /* the page, then where the next one starts */
        fprintf(stderr, "%zu of %zu records shown (--offset %zu for the next page)\n", l.n, total, f.q.offset + l.n);
    }
    mv_free(L.rows);
    mv_json_free(listing);
    mv_buf_clear(&lb);
    mv_buf_clear(&b);
    mv_client_close(cl);
    return r;
}

int cli_fhir_ref_arg(const char *s, char *type, char *id, uint32_t *version)
{
    char t[MV_FHIR_TYPE_MAX + 1], i[MV_FHIR_ID_MAX + 1];
    uint64_t v = 0;
    const char *slash = strchr(s, '/'), *hist = slash ? strstr(slash + 1, "/_history/") : NULL;
    size_t tl = slash ? (size_t)(slash - s) : 0, il = slash ? (hist ? (size_t)(hist - slash - 1) : strlen(slash + 1)) : 0;
    int ok = slash && tl && tl <= MV_FHIR_TYPE_MAX && mv_fhir_id_ok(s, tl) && !memchr(s, '.', tl) &&
             mv_fhir_id_ok(slash + 1, il);
    if (ok && hist) {
        const char *n = hist + 10;
        ok = *n >= '1' && *n <= '9' && strlen(n) <= 10;
        for (const char *p = n; ok && *p; p++)
            ok = *p >= '0' && *p <= '9';
        if (ok)
            v = strtoull(n, NULL, 10);
        ok = ok && v <= UINT32_MAX;
    }
    if (!ok) {
        cli_err("a FHIR resource is TYPE/ID or TYPE/ID/_history/N (an id is 1 to 64 of A-Z a-z 0-9 - .)");
        return 1;
    }
    memcpy(t, s, tl);
    t[tl] = 0;
    memcpy(i, slash + 1, il);
    i[il] = 0;
    if (type)
        memcpy(type, t, tl + 1);
    if (id)
        memcpy(id, i, il + 1);
    if (version)
        *version = (uint32_t)v;
    return 0;
}

int cli_sync_index(mv_client *cl, const char *what)
{
    mv_err rc = mv_client_index_sync(cl, 0, NULL);
    if (rc == MV_OK)
        return CLI_OK;
    cli_err("%s: cannot bring the local index up to date: %s (%s)", what, mv_strerror(rc), mv_client_last_error(cl));
    return CLI_FAIL;
}

int cli_resolve_ref(mv_client *cl, const char *s, uint8_t id[16])
{
    char type[MV_FHIR_TYPE_MAX + 1], rid[MV_FHIR_ID_MAX + 1];
    uint32_t version = 0;
    mv_fhir_entry e;
    if (cli_fhir_ref_arg(s, type, rid, &version))
        return CLI_USAGE;
    mv_err rc = mv_client_fhir_lookup(cl, type, rid, version, &e);
    if (rc != MV_OK) {
        cli_err("%s: %s", s, rc == MV_ERR_NOT_FOUND ? "no such resource (or version) among the records you may read" : mv_strerror(rc));
        return CLI_FAIL;
    }
    memcpy(id, e.record_id, 16);
    return CLI_OK;
}

/* ---------- history ---------- */

static const char history_usage[] =
    "usage: medvault history [--deployment F] [--user DIR] [--json] TYPE/ID\n\n"
    "Lists every version of a FHIR resource you may read, newest first: record id, version,\n"
    "meta.lastUpdated. `medvault get TYPE/ID/_history/N` reads version N.\n" CLI_COMMON_HELP;

int cmd_history(int argc, char **argv)
{
    struct find_opts f;
    int r = find_parse(argc, argv, history_usage, &f, 0, NULL);
    if (r != CLI_OK)
        return r < 0 ? CLI_OK : r;
    char type[MV_FHIR_TYPE_MAX + 1], id[MV_FHIR_ID_MAX + 1];
    uint32_t version = 0;
    if (optind + 1 != argc || cli_fhir_ref_arg(argv[optind], type, id, &version) || version)
        return cli_usage(history_usage, 0);
    mv_client *cl = open_synced(&f, "history");
    if (!cl)
        return CLI_FAIL;
    mv_buf b;
    mv_jw w;
    mv_buf_init(&b, (size_t)1 << 28);
    mv_jw_init(&w, &b);
    struct ls_ctx l = {f.json, &w, 0, NULL};
    if (f.json) {
        mv_jw_obj(&w);
        mv_jw_key(&w, "versions");
        mv_jw_arr(&w);
    }
    mv_err rc = mv_client_fhir_history(cl, type, id, ls_one, &l);
    if (rc != MV_OK) {
        cli_err("history: %s/%s: %s", type, id, rc == MV_ERR_NOT_FOUND ? "no such resource among your records" : mv_strerror(rc));
        r = CLI_FAIL;
    } else if (f.json) {
        mv_jw_arr_end(&w);
        mv_jw_obj_end(&w);
        if (mv_jw_finish(&w) != MV_OK || cli_print_buf(&b) != CLI_OK)
            r = CLI_FAIL;
        putchar('\n');
    }
    mv_buf_clear(&b);
    mv_client_close(cl);
    return r;
}

/* ---------- export ---------- */

static const char export_usage[] =
    "usage: medvault export [--deployment F] [--user DIR] [FILTERS] -o DIR [--json]\n\n"
    "Writes the FHIR resources you may read that match the filters as FHIR Bulk Data NDJSON:\n"
    "one file per type, DIR/<Type>.ndjson, one resource per line (its canonical JSON, with the\n"
    "meta.versionId and meta.lastUpdated it was stored with). Existing files are not\n"
    "overwritten. Prints the files and counts (with --json, {\"files\":[...]}).\n" CLI_COMMON_HELP FIND_FLAGS
    "  -o, --output DIR the directory to write (created if missing)\n";

struct exp_type {
    char type[MV_FHIR_TYPE_MAX + 1];
    int fd;
    uint64_t count, bytes;
};

struct exp_ctx {
    uint8_t *ids;
    size_t n, cap;
    struct exp_type *types;
    size_t n_types, cap_types;
    const char *dir;
    int failed;
    uint64_t unreadable;
};

static int collect(void *ctx, const mv_fhir_entry *e)
{
    struct exp_ctx *x = ctx;
    if (e->kind != MV_RECORD_FHIR)
        return 0;
    if (mv_array_grow(&x->ids, &x->cap, x->n, 16, 256) != MV_OK) {
        x->failed = 1;
        return 1;
    }
    memcpy(x->ids + 16 * x->n++, e->record_id, 16);
    return 0;
}

static struct exp_type *type_file(struct exp_ctx *x, const char *type, size_t tl)
{
    for (size_t i = 0; i < x->n_types; i++)
        if (strlen(x->types[i].type) == tl && !memcmp(x->types[i].type, type, tl))
            return &x->types[i];
    if (tl == 0 || tl > MV_FHIR_TYPE_MAX || !mv_fhir_id_ok(type, tl) || memchr(type, '.', tl) ||
        mv_array_grow(&x->types, &x->cap_types, x->n_types, sizeof *x->types, 8) != MV_OK)
        return NULL;
    struct exp_type *t = &x->types[x->n_types];
    memset(t, 0, sizeof *t);
    memcpy(t->type, type, tl);
    t->type[tl] = 0;
    char path[4096], name[MV_FHIR_TYPE_MAX + 8];
    snprintf(name, sizeof name, "%s.ndjson", t->type);
    if (mv_path_join(path, sizeof path, x->dir, name) != MV_OK)
        return NULL;
    t->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (t->fd < 0) {
        cli_err("export: cannot create %s (%s)", path, errno == EEXIST ? "it exists; export into a new directory" : strerror(errno));
        return NULL;
    }
    x->n_types++;
    return t;
}

static int write_full(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static void on_resource(void *ctx, const uint8_t *id, mv_err rc, int kind, const char *name, size_t name_len,
                        const uint8_t *data, size_t len)
{
    struct exp_ctx *x = ctx;
    (void)id;
    (void)name;
    (void)name_len;
    if (x->failed)
        return;
    if (rc != MV_OK || kind != MV_RECORD_FHIR) {
        x->unreadable++;
        return;
    }
    /* The canonical JSON has no raw newline (RFC 8785 escapes it), so it is one NDJSON line. */
    mv_json *doc = NULL;
    size_t tl = 0;
    const char *type = NULL;
    if (mv_json_parse((const char *)data, len, &(mv_json_limits){MV_FHIR_MAX_BYTES, 0, 0}, &doc, NULL) == MV_OK)
        type = mv_json_get_str(doc, "resourceType", &tl);
    struct exp_type *t = type ? type_file(x, type, tl) : NULL;
    if (!t || write_full(t->fd, data, len) != 0 || write_full(t->fd, (const uint8_t *)"\n", 1) != 0)
        x->failed = 1;
    else {
        t->count++;
        t->bytes += len + 1;
    }
    mv_json_free(doc);
}

int cmd_export(int argc, char **argv)
{
    struct find_opts f;
    const char *dir = NULL;
    int r = find_parse(argc, argv, export_usage, &f, 0, &dir);
    if (r != CLI_OK)
        return r < 0 ? CLI_OK : r;
    if (optind != argc || !dir) {
        if (!dir)
            cli_err("export: name the output directory with -o DIR");
        return cli_usage(export_usage, 0);
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        cli_err("export: cannot create %s (%s)", dir, strerror(errno));
        return CLI_FAIL;
    }
    mv_client *cl = open_synced(&f, "export");
    if (!cl)
        return CLI_FAIL;
    struct exp_ctx x;
    memset(&x, 0, sizeof x);
    x.dir = dir;
    mv_err rc = mv_client_index_find(cl, &f.q, collect, &x, NULL);
    if (rc == MV_OK && !x.failed && x.n)
        rc = mv_client_get_many(cl, x.ids, x.n, on_resource, &x);
    for (size_t i = 0; i < x.n_types; i++)
        if (fsync(x.types[i].fd) != 0 || close(x.types[i].fd) != 0)
            x.failed = 1;
    if (rc != MV_OK || x.failed) {
        cli_err("export: %s (%s)", rc != MV_OK ? mv_strerror(rc) : "a file could not be written",
                rc != MV_OK ? mv_client_last_error(cl) : dir);
        r = CLI_FAIL;
    } else if (f.json) {
        mv_jw w;
        mv_buf b;
        cli_json_begin(&w, &b);
        mv_jw_key(&w, "files");
        mv_jw_arr(&w);
        for (size_t i = 0; i < x.n_types; i++) {
            mv_jw_obj(&w);
            mv_jw_kstr(&w, "type", x.types[i].type);
            mv_jw_ku64(&w, "resources", x.types[i].count);
            mv_jw_ku64(&w, "bytes", x.types[i].bytes);
            mv_jw_obj_end(&w);
        }
        mv_jw_arr_end(&w);
        mv_jw_ku64(&w, "unreadable", x.unreadable);
        r = cli_json_end(&w, &b);
    } else {
        for (size_t i = 0; i < x.n_types; i++)
            printf("%s/%s.ndjson  %llu resources\n", dir, x.types[i].type, (unsigned long long)x.types[i].count);
        if (x.unreadable)
            fprintf(stderr, "%llu records could not be read\n", (unsigned long long)x.unreadable);
    }
    mv_free(x.ids);
    mv_free(x.types);
    mv_client_close(cl);
    return r;
}
