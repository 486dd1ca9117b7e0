/* cmd_records.c - `medvault user add`, `put`, `get`, `ls`, `rm`, `stats`: the record
 * pipeline from the command line. Output never includes record content except the record
 * itself written where the user asked (get). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "medvault/mv_client.h"
#include "medvault/mv_fhirstore.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_deployment.h"
#include "medvault/mv_file.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"

int cli_id_arg(const char *s, uint8_t id[MV_CLIENT_ID_BYTES])
{
    if (strlen(s) != 2 * MV_CLIENT_ID_BYTES || mv_hex_decode_exact(id, MV_CLIENT_ID_BYTES, s, strlen(s)) != MV_OK) {
        cli_err("a record id is 32 hex digits");
        return 1;
    }
    return 0;
}

/* ---------- user add ---------- */

static const char user_add_usage[] =
    "usage: medvault user add --deployment F --user ADMIN_DIR --name NAME --role doctor|patient|admin\n"
    "                         [--department DEPT]... [--out DIR] [--json]\n\n"
    "Registers a new user with the hospital (as the admin in ADMIN_DIR): creates fresh keys in\n"
    "DIR (default ./NAME), sends the public keys, and saves the credential the hospital issues\n"
    "in DIR/credential. A doctor needs at least one department.\n";

static int user_add(int argc, char **argv)
{
    static const struct option opts[] = {
        {"deployment", required_argument, NULL, 'D'}, {"user", required_argument, NULL, 'u'},
        {"name", required_argument, NULL, 'n'},       {"role", required_argument, NULL, 'r'},
        {"department", required_argument, NULL, 'd'}, {"out", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, 'j'},             {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_common o;
    const char *name = NULL, *role = NULL, *out = NULL, *depts[16];
    size_t nd = 0;
    int c;
    cli_common_init(&o);
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'D': o.deployment = optarg; break;
        case 'u': o.user = optarg; break;
        case 'n': name = optarg; break;
        case 'r': role = optarg; break;
        case 'd':
            if (nd == 16) {
                cli_err("at most 16 departments");
                return CLI_USAGE;
            }
            depts[nd++] = optarg;
            break;
        case 'o': out = optarg; break;
        case 'j': o.json = 1; break;
        case 'h': return cli_usage(user_add_usage, 1);
        default: return cli_usage(user_add_usage, 0);
        }
    }
    if (cli_common_check(&o, user_add_usage) != CLI_OK)
        return CLI_USAGE;
    if (!name || !role || optind != argc)
        return cli_usage(user_add_usage, 0);
    if (!out) {
        for (const char *p = name; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                  *p == '_' || *p == '.')) {
                cli_err("give --out DIR: the name cannot serve as a directory name");
                return CLI_USAGE;
            }
        out = name;
    }
    mv_deployment dep;
    mv_err rc = mv_deployment_load_for_user(o.deployment, o.user, &dep, NULL);
    if (rc == MV_ERR_AUTH) {
        cli_err("%s: %s", o.user, MV_DEPLOY_PIN_MSG);
        return CLI_FAIL;
    }
    rc = mv_client_user_add(o.deployment, o.user, name, role, depts, nd, out);
    if (rc != MV_OK) {
        if (rc == MV_ERR_EXISTS)
            cli_err("%s already holds keys, or the key is already registered", out);
        else if (rc == MV_ERR_FORBIDDEN)
            cli_err("only an admin may register users");
        else if (rc == MV_ERR_INVAL)
            cli_err("the hospital refused the registration (role doctor|patient|admin; a doctor needs a department)");
        else
            cli_err("registration failed: %s", mv_strerror(rc));
        return CLI_FAIL;
    }
    /* A patient's MRN is assigned by the hospital: ask for it as the new user. */
    char mrn[64] = "";
    if (mv_role_of(role) == MV_ROLE_PATIENT) {
        cli_common np = o;
        np.user = out;
        mv_client *cl = cli_open_client(&np, NULL, "user add");
        mv_buf resp;
        long status = 0;
        mv_json *prof = NULL;
        mv_buf_init(&resp, 1u << 20);
        if (cl && mv_client_hospital(cl, "GET", "/v1/profile", NULL, 0, &status, &resp) == MV_OK && status == 200 &&
            mv_json_parse((const char *)resp.ptr, resp.len, NULL, &prof, NULL) == MV_OK) {
            const char *m = mv_json_get_str(prof, "mrn", NULL);
            if (m && strlen(m) < sizeof mrn)
                memcpy(mrn, m, strlen(m) + 1);
        }
        mv_json_free(prof);
        mv_buf_clear(&resp);
        mv_client_close(cl);
    }
    if (o.json) {
        mv_buf b;
        mv_buf_init(&b, 4096);
        mv_jw w;
        mv_jw_init(&w, &b);
        mv_jw_obj(&w);
        mv_jw_kstr(&w, "name", name);
        mv_jw_kstr(&w, "role", role);
        mv_jw_kstr(&w, "dir", out);
        if (mrn[0])
            mv_jw_kstr(&w, "mrn", mrn);
        mv_jw_obj_end(&w);
        int ok = mv_jw_finish(&w) == MV_OK && mv_buf_puts(&b, "\n") == MV_OK;
        if (ok)
            cli_print_buf(&b);
        mv_buf_clear(&b);
        return ok ? CLI_OK : CLI_FAIL;
    }
    if (mrn[0])
        printf("registered %s (%s, %s) in %s\n", name, role, mrn, out);
    else
        printf("registered %s (%s) in %s\n", name, role, out);
    return CLI_OK;
}

int cmd_user(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"add", user_add, "register a user with the hospital and write their directory"},
        {"status", cli_user_status, "activate, suspend or revoke a user (admins)"},
        {"show", cli_user_show, "show a user's registration"},
        {"register", cli_user_register, "a patient registers themself (pending until an admin activates it)"},
        {"device", cli_user_device, "register or list a user's step-up device keys (admins)"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault user", table, argc, argv);
}

/* ---------- put ---------- */

static const char put_usage[] =
    "usage: medvault put [--deployment F] [--user DIR] [--department D] [--no-cache] [--json] PATH...\n\n"
    "Encrypts and stores each file (directories are walked): FHIR JSON is canonicalised and\n"
    "split into an envelope and deduplicable content blocks; anything else is an attachment cut\n"
    "into content-defined chunks. FHIR Bulk Data NDJSON (.ndjson, .jsonl) is one record per\n"
    "line, and a transaction, batch, collection or searchset Bundle one record per entry. A\n"
    "resource with an id is versioned: stored again unchanged it is not stored twice, changed it\n"
    "becomes its next version (meta.versionId, meta.lastUpdated). Resources about a registered\n"
    "patient (see docs/fhir.md) are written for that patient when you hold her delegation.\n"
    "Prints one line per record: the record id, the input (FILE:LINE, FILE#entry N), and for a\n"
    "resource Type/id and its version (with --json, one JSON object with every record and the\n"
    "run's statistics).\n" CLI_COMMON_HELP
    "  --department D   store in this of the user's departments (default: the first)\n"
    "  --patient MRN    write the records for this patient: needs the patient's delegation for\n"
    "                   you (`medvault delegate grant`); readable by the patient and you. A\n"
    "                   patient who is not registered (legacy import) leaves them yours alone\n"
    "  --appointment ID the episode (default: the one the delegation names)\n"
    "  --no-cache       do not use the local OPRF cache (every block asks the key servers)\n";

struct put_out {
    int json;
    mv_buf *b;
    size_t n;
};

static void put_cb(void *ctx, const mv_put_result *r)
{
    struct put_out *po = ctx;
    char hex[33] = "";
    if (r->rc == MV_OK && mv_hex_encode(hex, sizeof hex, r->id, 16) != MV_OK)
        hex[0] = 0;
    static const char *const outcomes[] = {"", "created", "updated", "unchanged"};
    const char *outcome = r->outcome >= MV_FHIR_CREATED && r->outcome <= MV_FHIR_UNCHANGED ? outcomes[r->outcome] : "";
    if (!po->json) {
        if (r->rc == MV_OK && r->version)
            printf("%s  %s  %s/%s v%u%s\n", hex, r->path, r->fhir_type, r->fhir_id, (unsigned)r->version,
                   r->outcome == MV_FHIR_UNCHANGED ? " (unchanged)" : "");
        else if (r->rc == MV_OK)
            printf("%s  %s\n", hex, r->path);
        else
            cli_err("%s: not stored (%s)", r->path, mv_strerror(r->rc));
        return;
    }
    mv_buf *b = po->b;
    mv_err rc = mv_buf_puts(b, po->n++ ? ",\n  {\"path\":" : "\n  {\"path\":");
    if (rc == MV_OK)
        rc = mv_json_write_str(b, r->path, strlen(r->path));
    if (rc == MV_OK && r->rc == MV_OK) {
        rc = mv_buf_printf(b, ",\"id\":\"%s\",\"kind\":\"%s\",\"bytes\":%llu,\"blocks\":%zu,\"status\":\"%s\"", hex,
                           r->kind == MV_RECORD_FHIR ? "fhir" : "attachment", (unsigned long long)r->bytes, r->blocks,
                           r->outcome == MV_FHIR_UNCHANGED ? "unchanged" : "stored");
        if (rc == MV_OK && r->version) {
            rc = mv_buf_printf(b, ",\"outcome\":\"%s\",\"version\":%u,\"resource\":", outcome, (unsigned)r->version);
            if (rc == MV_OK)
                rc = mv_buf_printf(b, "\"%s/%s\"", r->fhir_type, r->fhir_id); /* FHIR types and ids need no escape */
        }
        if (rc == MV_OK)
            rc = mv_buf_puts(b, "}");
    } else if (rc == MV_OK)
        rc = mv_buf_printf(b, ",\"status\":\"failed\",\"error\":\"%s\"}", mv_strerror(r->rc));
    if (rc != MV_OK)
        cli_err("output too large");
}

int cmd_put(int argc, char **argv)
{
    static const struct option opts[] = {
        {"deployment", required_argument, NULL, 'D'}, {"user", required_argument, NULL, 'u'},
        {"department", required_argument, NULL, 'd'}, {"no-cache", no_argument, NULL, 'N'},
        {"patient", required_argument, NULL, 'P'},    {"appointment", required_argument, NULL, 'A'},
        {"json", no_argument, NULL, 'j'},             {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_common o;
    mv_client_options extra;
    int c;
    cli_common_init(&o);
    memset(&extra, 0, sizeof extra);
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'D': o.deployment = optarg; break;
        case 'u': o.user = optarg; break;
        case 'd': o.department = optarg; break;
        case 'N': o.no_cache = 1; break;
        case 'P': extra.patient = optarg; break;
        case 'A': extra.appointment = optarg; break;
        case 'j': o.json = 1; break;
        case 'h': return cli_usage(put_usage, 1);
        default: return cli_usage(put_usage, 0);
        }
    }
    if (extra.appointment && !mv_is_lower_hex(extra.appointment, 32)) {
        cli_err("--appointment takes an appointment id (32 lowercase hex digits)");
        return CLI_USAGE;
    }
    if (extra.appointment && !extra.patient) {
        cli_err("--appointment needs --patient MRN");
        return CLI_USAGE;
    }
    if (cli_common_check(&o, put_usage) != CLI_OK)
        return CLI_USAGE;
    if (optind >= argc) {
        cli_err("name at least one file or directory");
        return cli_usage(put_usage, 0);
    }
    mv_client *cl = cli_open_client(&o, &extra, "put");
    if (!cl)
        return CLI_FAIL;
    mv_buf b;
    mv_buf_init(&b, (size_t)1 << 30);
    struct put_out po = {o.json, &b, 0};
    mv_put_stats st;
    int ok = !o.json || mv_buf_puts(&b, "{\"records\":[") == MV_OK;
    mv_err rc = mv_client_put(cl, (const char *const *)argv + optind, (size_t)(argc - optind), put_cb, &po, &st);
    if (rc != MV_OK)
        cli_err("put: %s (%s)", mv_strerror(rc), mv_client_last_error(cl));
    double rps = st.seconds > 0 ? (double)st.records / st.seconds : 0;
    if (o.json) {
        ok = ok && mv_buf_printf(&b,
                                 "\n],\n\"stats\":{\"records\":%llu,\"failed\":%llu,\"bytes_in\":%llu,\"blocks\":%llu,"
                                 "\"unique_blocks\":%llu,\"uploaded_blocks\":%llu,\"proven_blocks\":%llu,"
                                 "\"uploaded_bytes\":%llu,\"envelope_bytes\":%llu,\"oprf_evaluations\":%llu,"
                                 "\"cache_hits\":%llu,\"round_trips\":%llu,\"public_key_ops\":%llu,\"unchanged\":%llu,"
                                 "\"new_versions\":%llu,\"seconds\":%.3f,\"records_per_second\":%.1f}}\n",
                                 (unsigned long long)st.records, (unsigned long long)st.failed,
                                 (unsigned long long)st.bytes_in, (unsigned long long)st.blocks,
                                 (unsigned long long)st.unique_blocks, (unsigned long long)st.uploaded_blocks,
                                 (unsigned long long)st.proven_blocks, (unsigned long long)st.uploaded_bytes,
                                 (unsigned long long)st.envelope_bytes, (unsigned long long)st.oprf_evaluations,
                                 (unsigned long long)st.cache_hits, (unsigned long long)st.round_trips,
                                 (unsigned long long)st.public_key_ops, (unsigned long long)st.unchanged,
                                 (unsigned long long)st.new_versions, st.seconds, rps) == MV_OK;
        if (ok)
            cli_print_buf(&b);
    } else {
        fprintf(stderr,
                "stored %llu records (%llu new versions, %llu unchanged, %llu failed), %.1f MiB in %.2f s (%.0f "
                "records/s): %llu blocks, %llu unique in their batches, %llu uploaded, %llu deduplicated with a proof "
                "of ownership; %llu OPRF evaluations, %llu cache hits\n",
                (unsigned long long)st.records, (unsigned long long)st.new_versions, (unsigned long long)st.unchanged,
                (unsigned long long)st.failed, (double)st.bytes_in / 1048576.0,
                st.seconds, rps, (unsigned long long)st.blocks, (unsigned long long)st.unique_blocks,
                (unsigned long long)st.uploaded_blocks, (unsigned long long)st.proven_blocks,
                (unsigned long long)st.oprf_evaluations, (unsigned long long)st.cache_hits);
    }
    mv_buf_clear(&b);
    mv_client_close(cl);
    return rc == MV_OK && ok ? CLI_OK : CLI_FAIL;
}

/* ---------- get ---------- */

static const char get_usage[] =
    "usage: medvault get [--deployment F] [--user DIR] [-o FILE|DIR] ID...\n"
    "       medvault get [--deployment F] [--user DIR] --all -o DIR\n\n"
    "Fetches records, checks and decrypts them on this machine, and writes their content: the\n"
    "canonical JSON of FHIR records, the original bytes of attachments. One ID without -o\n"
    "writes to standard output; with -o FILE to FILE. Several IDs (or --all: every record this\n"
    "user may read) need -o DIR and are written as DIR/NAME (the original file name; the id is\n"
    "prefixed when two records share a name). Files are created 0600 and are not synced to disk\n"
    "one by one, nor at the end: when `get` returns they are written but a power loss may still\n"
    "lose them: after a crash, run it again into an empty directory.\n\n"
    "Exit status: 0 if every record was written; with --all, also when the only records that\n"
    "could not be read were written by someone else (each is reported as skipped: its id, its\n"
    "writer and why). 1 if a named record, or one of your own, could not be read, or a service\n"
    "failed. 2 on bad usage.\n" CLI_COMMON_HELP;

/* Writes b to fd (if fd >= 0) and closes it; 1 on failure (the caller says so). */
static int write_close(int fd, const mv_buf *b)
{
    size_t off = 0;
    while (fd >= 0 && off < b->len) {
        ssize_t w = write(fd, b->ptr + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (fd < 0 || off != b->len || close(fd) != 0) {
        if (fd >= 0 && off != b->len)
            close(fd);
        return 1;
    }
    return 0;
}

/* Writes a restored record (0600) to -o FILE. Not fsync'd: see get_usage (what `get` promises). */
static int write_out(const char *path, const mv_buf *b)
{
    if (write_close(open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), b) == 0)
        return 0;
    cli_err("cannot write %s", path);
    return 1;
}

/* Restoring into a directory: the records are handed to writer threads. Creating a file on a
 * real disk waits for the file system (a new inode, a directory entry: 0.1-1 ms each on a
 * loaded VM disk, against a few microseconds of decryption), and meanwhile the caller goes on
 * fetching and decrypting. One writer: ext4 creates files in one directory under that
 * directory's lock, so a second writer only waits for it, and its wait is a spin (with eight,
 * spinning on the lock was 27% of a 10,000-record restore's CPU, taken from decryption).
 * A record goes to the writer chosen by a hash of its file name, and each writer works in
 * order, so of two records with the same name the first listed still gets NAME and the
 * second ID-NAME, as when writing in one thread. Large records are written by the caller once
 * the queues are empty (they are not copied), and the queued bytes are capped. */
#define GET_WRITERS 1
#define GET_QUEUE_BYTES ((size_t)64 << 20)
#define GET_INLINE_BYTES ((size_t)4 << 20)

struct wjob {
    struct wjob *next;
    char hex[33];
    char name[300]; /* as get_cb's fname */
    size_t len;
    uint8_t data[]; /* len bytes */
};

struct writer {
    pthread_t tid;
    pthread_cond_t work;
    struct wjob *head, *tail;
    struct wpool *pool;
};

struct wpool {
    pthread_mutex_t lock;
    pthread_cond_t room; /* queued bytes fell, or a job finished */
    struct writer w[GET_WRITERS];
    size_t started;      /* writer threads running; 0 = write in the caller */
    size_t queued;       /* bytes waiting */
    size_t pending;      /* jobs queued or being written */
    int stop, failed;
    int dirfd;
    const char *dir;
};

struct get_ctx {
    const char *out; /* NULL = stdout */
    int into_dir;
    int dirfd;    /* into_dir: the output directory, opened once; files are created relative to it */
    int progress; /* whether progress is shown (asked once: it is a syscall) */
    int failed;
    size_t done, total;
    /* --all: the writer of each listed record (32 bytes per id, in the order asked) and the
     * user's own key; NULL otherwise. */
    const uint8_t *owners, *me;
    size_t skipped;
    struct wpool *pool; /* into_dir: the writers (NULL: write in the caller) */
    int streamed;       /* the record being reported went through the sink (get_sink) */
};

/* Creates NAME in the directory dirfd, or ID-NAME when NAME is taken (a file of an earlier
 * run, or an earlier record of the same name); *used (cap 340) gets the name. openat relative
 * to the directory opened once, with O_EXCL both creating the file and telling whether the
 * name was taken, where a separate stat was needed. */
static int create_in_dir(int dirfd, const char *fname, const char *hex, char used[static 340])
{
    snprintf(used, 340, "%s", fname);
    int fd = openat(dirfd, fname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        snprintf(used, 340, "%s-%s", hex, fname);
        fd = openat(dirfd, used, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    }
    return fd;
}

/* Writes one record into the directory dirfd (named dir in messages) as NAME or ID-NAME
 * (create_in_dir). A file costs three system calls: openat, write, close; no fsync (see
 * get_usage). */
static int write_into_dir(int dirfd, const char *dir, const char *fname, const char *hex, const mv_buf *b)
{
    char name[340];
    int fd = create_in_dir(dirfd, fname, hex, name);
    if (write_close(fd, b) == 0)
        return 0;
    flockfile(stderr); /* one whole line even when several writers fail at once */
    cli_err("cannot write %s/%s", dir, name);
    funlockfile(stderr);
    return 1;
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct wpool *p = w->pool;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (!w->head && !p->stop)
            pthread_cond_wait(&w->work, &p->lock);
        struct wjob *j = w->head;
        if (!j) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        pthread_mutex_unlock(&p->lock);
        mv_buf b = {j->data, j->len, j->len, j->len};
        int bad = write_into_dir(p->dirfd, p->dir, j->name, j->hex, &b);
        pthread_mutex_lock(&p->lock);
        p->failed |= bad;
        p->queued -= j->len;
        p->pending--;
        pthread_cond_signal(&p->room);
        pthread_mutex_unlock(&p->lock);
        mv_wipe(j->data, j->len); /* record content: not left in freed memory */
        free(j);
    }
}

/* Starts the writers (as many as can be started; none is not an error: the caller writes). */
static void wpool_start(struct wpool *p, int dirfd, const char *dir)
{
    memset(p, 0, sizeof *p);
    p->dirfd = dirfd;
    p->dir = dir;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->room, NULL);
    for (size_t i = 0; i < GET_WRITERS; i++) {
        struct writer *w = &p->w[p->started];
        w->pool = p;
        pthread_cond_init(&w->work, NULL);
        if (pthread_create(&w->tid, NULL, writer_main, w) != 0) {
            pthread_cond_destroy(&w->work);
            break;
        }
        p->started++;
    }
}

/* Waits until every queued record is written. */
static void wpool_drain(struct wpool *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->pending)
        pthread_cond_wait(&p->room, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

/* Writes what is queued, stops the writers; 1 if any record could not be written. */
static int wpool_finish(struct wpool *p)
{
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    for (size_t i = 0; i < p->started; i++)
        pthread_cond_signal(&p->w[i].work);
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < p->started; i++) {
        pthread_join(p->w[i].tid, NULL);
        pthread_cond_destroy(&p->w[i].work);
    }
    pthread_cond_destroy(&p->room);
    pthread_mutex_destroy(&p->lock);
    return p->failed;
}

/* Hands one record to its writer (a copy: data is borrowed for the callback only), or writes
 * it here when there are no writers, it is large, or no memory is left for the copy. */
static int put_into_dir(struct get_ctx *g, const char *fname, const char *hex, const mv_buf *b)
{
    struct wpool *p = g->pool;
    struct wjob *j = NULL;
    if (p && p->started && b->len <= GET_INLINE_BYTES && (j = malloc(sizeof *j + (b->len ? b->len : 1)))) {
        uint32_t h = 2166136261u; /* FNV-1a of the name: the same name, the same writer */
        for (const char *c = fname; *c; c++)
            h = (h ^ (uint8_t)*c) * 16777619u;
        struct writer *w = &p->w[h % p->started];
        j->next = NULL;
        snprintf(j->hex, sizeof j->hex, "%s", hex);
        snprintf(j->name, sizeof j->name, "%s", fname);
        j->len = b->len;
        if (b->len)
            memcpy(j->data, b->ptr, b->len);
        pthread_mutex_lock(&p->lock);
        while (p->queued && p->queued + b->len > GET_QUEUE_BYTES)
            pthread_cond_wait(&p->room, &p->lock);
        p->queued += b->len;
        p->pending++;
        if (w->tail)
            w->tail->next = j;
        else
            w->head = j;
        w->tail = j;
        pthread_cond_signal(&w->work);
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    if (p && p->started)
        wpool_drain(p); /* an earlier record of the same name is on disk before this one */
    return write_into_dir(g->dirfd, g->out, fname, hex, b);
}

/* The file name a record gets in the output directory: its original name if it is a safe
 * single path component (at most 255 bytes), else its id in hex. */
static void record_fname(const char *name, size_t name_len, const char *hex, char fname[static 300])
{
    size_t l = name_len < 255 ? name_len : 255;
    memcpy(fname, name ? name : "", l);
    fname[l] = 0;
    if (!l || memchr(fname, '/', l) || memchr(fname, 0, l) || !strcmp(fname, ".") || !strcmp(fname, ".."))
        snprintf(fname, 300, "%s", hex);
}

/* Attachments restored into a directory are written block by block as they are decrypted
 * (mv_get_sink): the file is created in list order (after the writers have written every
 * earlier record, so names are given as in one thread), each block is written at its offset
 * by the thread that decrypted it (pwrite: blocks of one file from several threads at once),
 * and the file is removed again if any block fails its checks or cannot be written. */
struct sfile {
    int fd;
    char name[340];
};

static int sink_open(void *ctx, const uint8_t *id, const char *name, size_t name_len, uint64_t size, void **h)
{
    struct get_ctx *g = ctx;
    char hex[33], fname[300];
    struct sfile *f;
    (void)size;
    if (!g->into_dir || !(f = malloc(sizeof *f)))
        return 1; /* the record comes whole to get_cb, which writes it or says why not */
    if (mv_hex_encode(hex, sizeof hex, id, 16) != MV_OK)
        hex[0] = 0;
    record_fname(name, name_len, hex, fname);
    if (g->pool && g->pool->started)
        wpool_drain(g->pool);
    if ((f->fd = create_in_dir(g->dirfd, fname, hex, f->name)) < 0) {
        free(f);
        return 1;
    }
    *h = f;
    return 0;
}

static int sink_write(void *ctx, void *h, uint64_t off, const uint8_t *data, size_t len)
{
    struct sfile *f = h;
    (void)ctx;
    while (len) {
        ssize_t w = pwrite(f->fd, data, len, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 1;
        data += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static void sink_close(void *ctx, void *h, mv_err rc)
{
    struct get_ctx *g = ctx;
    struct sfile *f = h;
    int closed = close(f->fd) == 0;
    if (rc != MV_OK || !closed) {
        (void)unlinkat(g->dirfd, f->name, 0); /* nothing of a record that failed is left */
        if (rc == MV_OK || rc == MV_ERR_IO) {
            cli_err("cannot write %s/%s", g->out, f->name);
            g->failed = 1;
        }
    }
    g->streamed = 1; /* get_cb must not write it again, whatever happened */
    free(f);
}

static const mv_get_sink get_sink = {sink_open, sink_write, sink_close};

/* Writes one fetched record where the user asked (see get_usage). */
static void get_cb(void *ctx, const uint8_t *id, mv_err rc, int kind, const char *name, size_t name_len,
                   const uint8_t *data, size_t len)
{
    struct get_ctx *g = ctx;
    char hex[33], fname[300];
    mv_buf b = {(uint8_t *)data, len, len, len};
    int streamed = g->streamed;
    g->streamed = 0;
    g->done++;
    if (mv_hex_encode(hex, sizeof hex, id, 16) != MV_OK)
        hex[0] = 0;
    if (rc != MV_OK) {
        const char *why = rc == MV_ERR_FORBIDDEN   ? "forbidden (not a reader, or not sealed for your key)"
                          : rc == MV_ERR_NOT_FOUND ? "no such record"
                                                   : mv_strerror(rc);
        /* Anyone may name you as a reader of a record you cannot open (decision 0008): under
         * --all such a record is reported and skipped, and only your own records count. */
        const uint8_t *owner = g->owners && g->done <= g->total ? g->owners + 32 * (g->done - 1) : NULL;
        char oh[65];
        if (owner && memcmp(owner, g->me, 32) != 0 && mv_hex_encode(oh, sizeof oh, owner, 32) == MV_OK) {
            cli_err("%s: skipped, cannot be read: %s (written by %s)", hex, why, oh);
            g->skipped++;
            return;
        }
        cli_err("%s: %s", hex, why);
        g->failed = 1;
        return;
    }
    if (!g->out) {
        if (len && fwrite(data, 1, len, stdout) != len)
            g->failed = 1;
        if (kind == MV_RECORD_FHIR)
            putchar('\n');
        return;
    }
    if (!g->into_dir) {
        g->failed |= write_out(g->out, &b);
        return;
    }
    record_fname(name, name_len, hex, fname);
    if (!streamed)
        g->failed |= put_into_dir(g, fname, hex, &b);
    /* Progress about every 1% (and at the end): a line per record costs more than the record. */
    if (g->progress && (g->done == g->total || g->done % (g->total / 100 + 1) == 0))
        cli_progress("get", g->done, g->total);
}

int cmd_get(int argc, char **argv)
{
    static const struct option opts[] = {
        {"deployment", required_argument, NULL, 'D'}, {"user", required_argument, NULL, 'u'},
        {"out", required_argument, NULL, 'o'},        {"all", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    cli_common o;
    const char *out = NULL;
    int all = 0, c;
    cli_common_init(&o);
    optind = 0;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        switch (c) {
        case 'D': o.deployment = optarg; break;
        case 'u': o.user = optarg; break;
        case 'o': out = optarg; break;
        case 'a': all = 1; break;
        case 'h': return cli_usage(get_usage, 1);
        default: return cli_usage(get_usage, 0);
        }
    }
    if (cli_common_check(&o, get_usage) != CLI_OK)
        return CLI_USAGE;
    size_t n = (size_t)(argc - optind);
    if ((all && n) || (!all && n == 0) || ((all || n > 1) && !out))
        return cli_usage(get_usage, 0);
    int into_dir = all || n > 1;
    if (into_dir && mv_file_mkdir(out, 0700) != MV_OK) {
        cli_err("cannot create %s", out);
        return CLI_FAIL;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t id[16];
        if (cli_id_arg(argv[optind + (int)i], id))
            return CLI_USAGE;
    }
    mv_client *cl = cli_open_client(&o, NULL, "get");
    if (!cl)
        return CLI_FAIL;
    int r = CLI_OK;
    uint8_t *ids = NULL, *owners = NULL;
    size_t count = n;
    mv_buf b;
    mv_json *root = NULL;
    mv_buf_init(&b, (size_t)1 << 30);
    if (all) {
        mv_err rc = mv_client_list_json(cl, &b);
        if (rc != MV_OK || mv_json_parse((const char *)b.ptr, b.len, NULL, &root, NULL) != MV_OK) {
            cli_err("cannot list records: %s (%s)", mv_strerror(rc), mv_client_last_error(cl));
            r = CLI_FAIL;
        }
        count = mv_json_len(mv_json_get(root, "records"));
    }
    ids = malloc(count ? 16 * count : 1);
    owners = all ? malloc(count ? 32 * count : 1) : NULL;
    if (!ids || (all && !owners))
        r = CLI_FAIL;
    for (size_t i = 0; r == CLI_OK && i < count; i++) {
        size_t l = 0;
        const mv_json *e = mv_json_at(mv_json_get(root, "records"), i);
        const char *hex = all ? mv_json_get_str(e, "id", &l) : argv[optind + (int)i];
        if (!all)
            l = strlen(hex);
        if (!hex || mv_hex_decode_exact(ids + 16 * i, 16, hex, l) != MV_OK ||
            (all && mv_json_get_hex(e, "owner", owners + 32 * i, 32) != MV_OK)) {
            cli_err("malformed record id");
            r = CLI_FAIL;
        }
    }
    if (r == CLI_OK) {
        mv_credential me;
        mv_client_whoami(cl, &me, NULL);
        struct get_ctx g = {.out = out, .into_dir = into_dir, .dirfd = -1, .progress = cli_progress_allowed(),
                            .total = count, .owners = owners, .me = me.subject};
        struct wpool pool;
        if (into_dir && (g.dirfd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
            cli_err("cannot open %s", out);
            r = CLI_FAIL;
        }
        if (g.dirfd >= 0 && count > 1) {
            wpool_start(&pool, g.dirfd, out);
            g.pool = &pool;
        }
        mv_err rc = r == CLI_OK ? mv_client_get_many_to(cl, ids, count, get_cb, into_dir ? &get_sink : NULL, &g) : MV_OK;
        if (g.pool)
            g.failed |= wpool_finish(g.pool);
        if (g.dirfd >= 0)
            close(g.dirfd);
        if (rc != MV_OK) {
            cli_err("get: %s (%s)", mv_strerror(rc), mv_client_last_error(cl));
            r = CLI_FAIL;
        } else if (g.failed) {
            r = CLI_FAIL;
        }
        if (g.skipped)
            cli_err("get: %zu record%s written by others could not be read and %s skipped", g.skipped,
                    g.skipped == 1 ? "" : "s", g.skipped == 1 ? "was" : "were");
    }
    free(ids);
    free(owners);
    mv_json_free(root);
    mv_buf_clear(&b);
    mv_client_close(cl);
    return r;
}

/* ---------- ls, rm, stats ---------- */

static int simple_opts(int argc, char **argv, const char *usage, cli_common *o, int allow_json)
{
    static const struct option opts[] = {
        {"deployment", required_argument, NULL, 'D'}, {"user", required_argument, NULL, 'u'},
        {"json", no_argument, NULL, 'j'},             {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    cli_common_init(o);
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'D': o->deployment = optarg; break;
        case 'u': o->user = optarg; break;
        case 'j':
            if (!allow_json)
                return cli_usage(usage, 0);
            o->json = 1;
            break;
        case 'h': return cli_usage(usage, 1) == CLI_OK ? -1 : CLI_USAGE;
        default: return cli_usage(usage, 0);
        }
    }
    return cli_common_check(o, usage);
}

static const char ls_usage[] =
    "usage: medvault ls [--deployment F] [--user DIR] [--json]\n\n"
    "Lists the records this user may read (an admin: every record): id, department, size.\n" CLI_COMMON_HELP;

/* What ls and stats share: fetch a JSON document from the storage server and print it
 * (--json) or show it to a human with view(). */
static int show_json(int argc, char **argv, const char *usage, const char *what,
                     mv_err (*fetch)(mv_client *, mv_buf *), void (*view)(const mv_json *root))
{
    cli_common o;
    int r = simple_opts(argc, argv, usage, &o, 1);
    if (r != CLI_OK)
        return r < 0 ? CLI_OK : r;
    if (optind != argc)
        return cli_usage(usage, 0);
    mv_client *cl = cli_open_client(&o, NULL, what);
    if (!cl)
        return CLI_FAIL;
    mv_buf b;
    mv_json *root = NULL;
    mv_buf_init(&b, (size_t)1 << 30);
    mv_err rc = fetch(cl, &b);
    if (rc != MV_OK) {
        cli_err("%s: %s (%s)", what, mv_strerror(rc), mv_client_last_error(cl));
        r = CLI_FAIL;
    } else if (o.json) {
        cli_print_buf(&b);
        putchar('\n');
    } else if (mv_json_parse((const char *)b.ptr, b.len, NULL, &root, NULL) != MV_OK) {
        cli_err("%s: malformed answer from the storage server", what);
        r = CLI_FAIL;
    } else {
        view(root);
    }
    mv_json_free(root);
    mv_buf_clear(&b);
    mv_client_close(cl);
    return r;
}

static void ls_view(const mv_json *root)
{
    const mv_json *recs = mv_json_get(root, "records");
    for (size_t i = 0; i < mv_json_len(recs); i++) {
        const mv_json *e = mv_json_at(recs, i);
        uint64_t created = 0, bytes = 0;
        (void)!mv_json_get_u64(e, "created", &created);
        (void)!mv_json_get_u64(e, "logical_bytes", &bytes);
        const char *id = mv_json_get_str(e, "id", NULL), *dept = mv_json_get_str(e, "department", NULL);
        printf("%s  %-14s %10llu bytes  created %llu\n", id ? id : "?", dept ? dept : "?", (unsigned long long)bytes,
               (unsigned long long)created);
    }
}

int cmd_ls(int argc, char **argv)
{
    return show_json(argc, argv, ls_usage, "ls", mv_client_list_json, ls_view);
}

static const char rm_usage[] =
    "usage: medvault rm [--deployment F] [--user DIR] ID...\n\n"
    "Deletes records (their owner or an admin). Blocks no other record references are\n"
    "reclaimed by the storage server's garbage collection.\n" CLI_COMMON_HELP;

int cmd_rm(int argc, char **argv)
{
    cli_common o;
    int r = simple_opts(argc, argv, rm_usage, &o, 0);
    if (r != CLI_OK)
        return r < 0 ? CLI_OK : r;
    if (optind >= argc)
        return cli_usage(rm_usage, 0);
    mv_client *cl = cli_open_client(&o, NULL, "rm");
    if (!cl)
        return CLI_FAIL;
    for (int i = optind; i < argc; i++) {
        uint8_t id[16];
        if (cli_id_arg(argv[i], id)) {
            r = CLI_USAGE;
            continue;
        }
        mv_err rc = mv_client_delete(cl, id);
        if (rc != MV_OK) {
            cli_err("%s: %s (%s)", argv[i], mv_strerror(rc), mv_client_last_error(cl));
            r = CLI_FAIL;
        } else {
            printf("deleted %s\n", argv[i]);
        }
    }
    mv_client_close(cl);
    return r;
}

static const char stats_usage[] =
    "usage: medvault stats [--deployment F] [--user DIR] [--json]\n\n"
    "The storage server's statistics: logical bytes received, physical bytes stored (all it\n"
    "keeps on disk: packs and index), savings, per department (departments: attributed data).\n" CLI_COMMON_HELP;

static void stats_view(const mv_json *root)
{
    uint64_t rec = 0, lb = 0, pb = 0;
    (void)!mv_json_get_u64(root, "records", &rec);
    (void)!mv_json_get_u64(root, "logical_bytes", &lb);
    (void)!mv_json_get_u64(root, "physical_bytes", &pb);
    printf("records %llu, logical %llu bytes, physical %llu bytes, savings %.1f%%\n", (unsigned long long)rec,
           (unsigned long long)lb, (unsigned long long)pb, lb ? 100.0 * (1.0 - (double)pb / (double)lb) : 0.0);
    uint64_t db = 0, pk = 0, ix = 0;
    if (mv_json_get_u64(root, "data_bytes", &db) == MV_OK && mv_json_get_u64(root, "pack_bytes", &pk) == MV_OK &&
        mv_json_get_u64(root, "index_bytes", &ix) == MV_OK)
        printf("  physical = packs %llu + index %llu bytes; data (envelopes, blocks once) %llu bytes\n",
               (unsigned long long)pk, (unsigned long long)ix, (unsigned long long)db);
    const mv_json *d = mv_json_get(root, "departments");
    for (size_t i = 0; i < mv_json_len(d); i++) {
        const mv_json *e = mv_json_value_at(d, i);
        uint64_t dr = 0, dl = 0, dp = 0;
        (void)!mv_json_get_u64(e, "records", &dr);
        (void)!mv_json_get_u64(e, "logical_bytes", &dl);
        (void)!mv_json_get_u64(e, "physical_bytes", &dp);
        printf("  %-16s records %llu, logical %llu, physical %llu, savings %.1f%%\n", mv_json_key_at(d, i, NULL),
               (unsigned long long)dr, (unsigned long long)dl, (unsigned long long)dp,
               dl ? 100.0 * (1.0 - (double)dp / (double)dl) : 0.0);
    }
}

int cmd_stats(int argc, char **argv)
{
    return show_json(argc, argv, stats_usage, "stats", mv_client_stats_json, stats_view);
}
