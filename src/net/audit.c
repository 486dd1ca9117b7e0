/* audit.c - every line of an audit log is chained to all lines before it and periodically
 * signed, so no line before the last checkpoint can be edited, removed, added or moved
 * without verification failing at that line; entries never carry request content. */
#include "medvault/mv_audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/endian.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_file.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_sig.h"

#define HASH_DOMAIN "medvault-audit-v1"
#define SIG_DOMAIN "medvault-audit-checkpoint-v1"
#define LOG_NAME "audit.log"
#define MARK_EVERY 1024 /* the read index keeps the offset of every 1024th line */
#define READ_CHUNK 65536
#define FILE_MAX ((size_t)4 << 30)
#define NOTE_CHARS "abcdefghijklmnopqrstuvwxyz0123456789:_.-"
#define ADDRESS_MAX 63

enum etype { T_GENESIS, T_REQUEST, T_EVENT, T_CHECKPOINT };

static const char *type_name(enum etype t)
{
    switch (t) {
    case T_GENESIS: return "genesis";
    case T_REQUEST: return "request";
    case T_EVENT: return "event";
    case T_CHECKPOINT: return "checkpoint";
    }
    return "?";
}

/* One line's content, borrowed strings; the hash member is not part of it. */
typedef struct entry {
    uint64_t seq, time;
    enum etype type;
    const char *component;
    /* request */
    int has_principal;
    uint8_t principal[32];
    const char *address, *action, *note; /* action also for events */
    uint64_t result;
    /* genesis: key, prev; checkpoint: count, head, key, sig */
    uint64_t count;
    uint8_t key[32], prev[32], head[32], sig[64];
} entry;

/* The canonical JSON object of e: fixed member order, no spaces. Without hash it is the body
 * the chain hash covers; with it, the stored line (hash last, so the line is the body with one
 * member more). */
static mv_err entry_body(const entry *e, const uint8_t *hash, mv_buf *b)
{
    mv_jw w;
    mv_jw_init(&w, b);
    mv_jw_obj(&w);
    mv_jw_ku64(&w, "seq", e->seq);
    mv_jw_ku64(&w, "time", e->time);
    mv_jw_kstr(&w, "type", type_name(e->type));
    mv_jw_kstr(&w, "component", e->component);
    switch (e->type) {
    case T_GENESIS:
        mv_jw_khex(&w, "key", e->key, 32);
        mv_jw_khex(&w, "prev", e->prev, 32);
        break;
    case T_REQUEST:
        if (e->has_principal)
            mv_jw_khex(&w, "principal", e->principal, 32);
        else
            mv_jw_kstr(&w, "principal", "");
        mv_jw_kstr(&w, "address", e->address);
        mv_jw_kstr(&w, "action", e->action);
        mv_jw_ku64(&w, "result", e->result);
        mv_jw_kstr(&w, "note", e->note);
        break;
    case T_EVENT:
        mv_jw_kstr(&w, "action", e->action);
        break;
    case T_CHECKPOINT:
        mv_jw_ku64(&w, "count", e->count);
        mv_jw_khex(&w, "head", e->head, 32);
        mv_jw_khex(&w, "key", e->key, 32);
        mv_jw_khex(&w, "sig", e->sig, 64);
        break;
    }
    if (hash)
        mv_jw_khex(&w, "hash", hash, 32);
    mv_jw_obj_end(&w);
    return mv_jw_finish(&w);
}

/* hash = SHA-256(HASH_DOMAIN || prev || body). */
static mv_err chain_hash(uint8_t out[32], const uint8_t prev[32], const uint8_t *body, size_t n)
{
    mv_sha256_ctx *c = NULL;
    mv_err rc = mv_sha256_new(&c);
    if (rc == MV_OK && (rc = mv_sha256_update(c, HASH_DOMAIN, sizeof HASH_DOMAIN - 1)) == MV_OK &&
        (rc = mv_sha256_update(c, prev, 32)) == MV_OK && (rc = mv_sha256_update(c, body, n)) == MV_OK) {
        rc = mv_sha256_final(c, out);
        c = NULL;
    }
    mv_sha256_free(c);
    return rc;
}

/* The bytes a checkpoint signs: SIG_DOMAIN || u8 len || component || u64be count || u64be time || head. */
static size_t checkpoint_message(const entry *e, uint8_t *out)
{
    size_t cl = strlen(e->component), off = 0;
    memcpy(out, SIG_DOMAIN, sizeof SIG_DOMAIN - 1);
    off = sizeof SIG_DOMAIN - 1;
    out[off++] = (uint8_t)cl;
    memcpy(out + off, e->component, cl);
    off += cl;
    mv_be64_put(out + off, e->count);
    off += 8;
    mv_be64_put(out + off, e->time);
    off += 8;
    memcpy(out + off, e->head, 32);
    return off + 32;
}
#define CHECKPOINT_MSG_MAX (sizeof SIG_DOMAIN - 1 + 1 + MV_AUDIT_COMPONENT_MAX + 8 + 8 + 32)

/* The full line of e with its hash: the canonical object and a newline. */
static mv_err make_line(const entry *e, const uint8_t hash[32], mv_buf *line)
{
    mv_err rc;
    if ((rc = entry_body(e, hash, line)) != MV_OK || (rc = mv_buf_puts(line, "\n")) != MV_OK)
        return rc;
    return line->len > MV_AUDIT_LINE_MAX + 1 ? MV_ERR_TOO_LARGE : MV_OK;
}

static int component_ok(const char *c)
{
    size_t n = strnlen(c, MV_AUDIT_COMPONENT_MAX + 1);
    return n > 0 && n <= MV_AUDIT_COMPONENT_MAX && strspn(c, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* ---------- verification ---------- */

const char *mv_audit_problem_name(mv_audit_problem p)
{
    switch (p) {
    case MV_AUDIT_OK: return "ok";
    case MV_AUDIT_BAD_LINE: return "malformed line";
    case MV_AUDIT_HASH: return "hash mismatch";
    case MV_AUDIT_SEQ: return "seq gap";
    case MV_AUDIT_SIG: return "bad checkpoint";
    case MV_AUDIT_KEY: return "key mismatch";
    case MV_AUDIT_GENESIS: return "bad genesis";
    case MV_AUDIT_TORN: return "torn final line";
    case MV_AUDIT_EMPTY: return "empty log";
    }
    return "?";
}

static mv_err fail(mv_audit_report *rep, mv_audit_problem p, uint64_t seq, const char *why)
{
    rep->problem = p;
    rep->bad_seq = seq;
    snprintf(rep->reason, sizeof rep->reason, "%s", why);
    return MV_ERR_VERIFY;
}

/* Reads a parsed line into e (strings borrowed from root). 0 if every member of its type is
 * present and well-formed (the canonical comparison catches extra members). */
static int entry_from_json(const mv_json *root, entry *e)
{
    size_t n;
    const char *t;
    memset(e, 0, sizeof *e);
    if (mv_json_get_u64(root, "seq", &e->seq) != MV_OK || mv_json_get_u64(root, "time", &e->time) != MV_OK ||
        !(t = mv_json_get_str(root, "type", &n)) || !(e->component = mv_json_get_str(root, "component", &n)) ||
        strlen(e->component) != n || !component_ok(e->component))
        return -1;
    if (!strcmp(t, "genesis")) {
        e->type = T_GENESIS;
        return mv_json_get_hex(root, "key", e->key, 32) != MV_OK || mv_json_get_hex(root, "prev", e->prev, 32) != MV_OK;
    }
    if (!strcmp(t, "event")) {
        e->type = T_EVENT;
        return !(e->action = mv_json_get_str(root, "action", &n)) || strlen(e->action) != n;
    }
    if (!strcmp(t, "checkpoint")) {
        e->type = T_CHECKPOINT;
        return mv_json_get_u64(root, "count", &e->count) != MV_OK || mv_json_get_hex(root, "head", e->head, 32) != MV_OK ||
               mv_json_get_hex(root, "key", e->key, 32) != MV_OK || mv_json_get_hex(root, "sig", e->sig, 64) != MV_OK;
    }
    if (strcmp(t, "request") != 0)
        return -1;
    e->type = T_REQUEST;
    const char *p = mv_json_get_str(root, "principal", &n);
    if (!p || (n != 0 && mv_json_get_hex(root, "principal", e->principal, 32) != MV_OK))
        return -1;
    e->has_principal = n != 0;
    if (!(e->address = mv_json_get_str(root, "address", &n)) || strlen(e->address) != n ||
        !(e->action = mv_json_get_str(root, "action", &n)) || strlen(e->action) != n ||
        !(e->note = mv_json_get_str(root, "note", &n)) || strlen(e->note) != n ||
        mv_json_get_u64(root, "result", &e->result) != MV_OK)
        return -1;
    return 0;
}

/* Verifies data[0..len). If marks is not NULL, (*marks)[k] receives the offset of line
 * k * MARK_EVERY (the caller frees *marks; *n_marks counts them). */
static mv_err verify_core(const uint8_t *data, size_t len, const uint8_t *expect_key, mv_audit_report *rep,
                          uint64_t **marks, size_t *n_marks)
{
    uint8_t prev[32] = {0}, hash[32], msg[CHECKPOINT_MSG_MAX];
    size_t off = 0, mark_cap = 0;
    uint64_t seq = 0;
    int have_cp = 0;
    mv_buf body, line;
    mv_json *root = NULL;
    mv_err rc = MV_OK;
    char why[160];
    const mv_json_limits lim = {.max_bytes = MV_AUDIT_LINE_MAX, .max_depth = 2, .max_nodes = 64};
    mv_buf_init(&body, MV_AUDIT_LINE_MAX + 2);
    mv_buf_init(&line, MV_AUDIT_LINE_MAX + 2);
    while (off < len) {
        const uint8_t *nl = memchr(data + off, '\n', len - off);
        if (!nl) {
            rc = fail(rep, MV_AUDIT_TORN, seq, "the last line has no newline (a crash before a restart, or a cut)");
            goto out;
        }
        size_t ll = (size_t)(nl - (data + off));
        entry e;
        mv_json_free(root);
        root = NULL;
        mv_err prc = ll > MV_AUDIT_LINE_MAX ? MV_ERR_TOO_LARGE
                                            : mv_json_parse((const char *)data + off, ll, &lim, &root, NULL);
        if (prc == MV_ERR_NOMEM) {
            rc = prc; /* not the log's fault: never reported as tampering */
            goto out;
        }
        if (prc != MV_OK || mv_json_type_of(root) != MV_JSON_OBJECT || entry_from_json(root, &e) != 0) {
            rc = fail(rep, MV_AUDIT_BAD_LINE, seq, "not an audit line of this format");
            goto out;
        }
        if (e.seq != seq) {
            snprintf(why, sizeof why, "expected seq %llu, found %llu: a line is missing, added or moved",
                     (unsigned long long)seq, (unsigned long long)e.seq);
            rc = fail(rep, MV_AUDIT_SEQ, seq, why);
            goto out;
        }
        mv_buf_reset(&body);
        mv_buf_reset(&line);
        if ((rc = entry_body(&e, NULL, &body)) != MV_OK || (rc = chain_hash(hash, prev, body.ptr, body.len)) != MV_OK) {
            if (rc == MV_ERR_NOMEM || rc == MV_ERR_CRYPTO)
                goto out;
            rc = fail(rep, MV_AUDIT_BAD_LINE, seq, "not an audit line of this format");
            goto out;
        }
        /* The stored line must be exactly the canonical one: then the hash member is the only
         * thing left to compare. */
        uint8_t stored[32];
        mv_err lrc = mv_json_get_hex(root, "hash", stored, 32) == MV_OK ? make_line(&e, stored, &line) : MV_ERR_PARSE;
        if (lrc == MV_ERR_NOMEM) {
            rc = lrc;
            goto out;
        }
        if (lrc != MV_OK || line.len != ll + 1 || memcmp(line.ptr, data + off, ll + 1) != 0) {
            rc = fail(rep, MV_AUDIT_BAD_LINE, seq, "the line is not in canonical form (edited?)");
            goto out;
        }
        if (!mv_ct_eq(stored, hash, 32)) {
            rc = fail(rep, MV_AUDIT_HASH, seq, "the line's hash does not match its content and the lines before it");
            goto out;
        }
        if ((e.type == T_GENESIS) != (seq == 0)) {
            rc = fail(rep, MV_AUDIT_GENESIS, seq, seq == 0 ? "the first line is not a genesis line" : "a second genesis line");
            goto out;
        }
        if (e.type == T_GENESIS) {
            memcpy(rep->key, e.key, 32);
            snprintf(rep->component, sizeof rep->component, "%s", e.component);
            if (expect_key && !mv_ct_eq(expect_key, e.key, 32)) {
                rc = fail(rep, MV_AUDIT_KEY, seq, "the log's key is not the expected key");
                goto out;
            }
        } else if (strcmp(e.component, rep->component) != 0) {
            rc = fail(rep, MV_AUDIT_BAD_LINE, seq, "the component differs from the genesis line's");
            goto out;
        }
        if (e.type == T_CHECKPOINT) {
            if (!mv_ct_eq(e.key, rep->key, 32)) {
                rc = fail(rep, MV_AUDIT_SIG, seq, "the checkpoint names another key than the genesis line");
                goto out;
            }
            if (e.count != seq || !mv_ct_eq(e.head, prev, 32)) {
                rc = fail(rep, MV_AUDIT_SIG, seq, "the checkpoint's count or head does not match the lines before it");
                goto out;
            }
            size_t ml = checkpoint_message(&e, msg);
            if (mv_sign_verify(e.sig, msg, ml, rep->key) != MV_OK) {
                rc = fail(rep, MV_AUDIT_SIG, seq, "the checkpoint's signature does not verify");
                goto out;
            }
            rep->checkpoints++;
            rep->last_checkpoint = seq;
            memcpy(rep->checkpoint_head, hash, 32);
            have_cp = 1;
        } else if (e.type != T_GENESIS) {
            rep->entries++;
        }
        if (marks && seq % MARK_EVERY == 0) {
            if ((rc = mv_array_grow(marks, &mark_cap, *n_marks, sizeof **marks, 64)) != MV_OK)
                goto out;
            (*marks)[(*n_marks)++] = off;
        }
        memcpy(prev, hash, 32);
        memcpy(rep->head, hash, 32);
        seq++;
        rep->lines = seq;
        rep->unsigned_tail = have_cp ? seq - rep->last_checkpoint - 1 : seq;
        off += ll + 1;
    }
    if (seq == 0)
        rc = fail(rep, MV_AUDIT_EMPTY, 0, "the log has no lines");
out:
    mv_json_free(root);
    mv_buf_clear(&body);
    mv_buf_clear(&line);
    return rc;
}

mv_err mv_audit_verify_buf(const uint8_t *data, size_t len, const uint8_t *expect_key, mv_audit_report *rep)
{
    if (!rep)
        return MV_ERR_INVAL;
    memset(rep, 0, sizeof *rep);
    if (!data && len)
        return MV_ERR_INVAL;
    return verify_core(data, len, expect_key, rep, NULL, NULL);
}

mv_err mv_audit_verify_file(const char *path, const uint8_t *expect_key, mv_audit_report *rep)
{
    mv_buf b;
    mv_err rc;
    if (!rep)
        return MV_ERR_INVAL;
    memset(rep, 0, sizeof *rep);
    if (!path)
        return MV_ERR_INVAL;
    mv_buf_init(&b, FILE_MAX);
    if ((rc = mv_file_read(path, FILE_MAX, &b)) == MV_OK)
        rc = verify_core(b.ptr, b.len, expect_key, rep, NULL, NULL);
    mv_buf_clear(&b);
    return rc;
}

/* ---------- the writer ---------- */

struct mv_audit {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int thread_started, stopping, poisoned, dirty;
    int fd, rfd, lockfd;
    char path[4096];
    char component[MV_AUDIT_COMPONENT_MAX + 1];
    uint8_t *sk; /* locked memory, 64 bytes */
    uint8_t pk[32];
    uint64_t seq;       /* next line's seq */
    uint8_t head[32];   /* hash of the last line */
    uint64_t size;      /* bytes of whole lines in the file */
    uint64_t since_cp;  /* lines after the last checkpoint */
    double last_cp;     /* monotonic time of the last checkpoint */
    uint64_t *marks;    /* offset of line k * MARK_EVERY */
    size_t n_marks, mark_cap;
    mv_audit_options opt;
};

static mv_err write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return MV_ERR_IO;
        p += w;
        n -= (size_t)w;
    }
    return MV_OK;
}

/* Appends one line with e.seq set here (lock held). On a failed write the file is cut back to
 * its last whole line, or the log is poisoned if even that fails. */
static mv_err append_locked(mv_audit *a, entry *e)
{
    uint8_t hash[32];
    mv_buf body, line;
    mv_err rc;
    if (a->poisoned)
        return MV_ERR_BAD_STATE;
    mv_buf_init(&body, MV_AUDIT_LINE_MAX + 2);
    mv_buf_init(&line, MV_AUDIT_LINE_MAX + 2);
    e->seq = a->seq;
    e->component = a->component;
    if ((rc = entry_body(e, NULL, &body)) != MV_OK || (rc = chain_hash(hash, a->head, body.ptr, body.len)) != MV_OK ||
        (rc = make_line(e, hash, &line)) != MV_OK)
        goto out;
    if (a->seq % MARK_EVERY == 0 &&
        (rc = mv_array_grow(&a->marks, &a->mark_cap, a->n_marks, sizeof *a->marks, 64)) != MV_OK)
        goto out;
    if ((rc = write_all(a->fd, line.ptr, line.len)) != MV_OK) {
        if (ftruncate(a->fd, (off_t)a->size) != 0) {
            a->poisoned = 1;
            mv_log(MV_LOG_ERROR, "audit", "%s: a failed write could not be undone; the log refuses further entries",
                   a->path);
        }
        goto out;
    }
    if (a->seq % MARK_EVERY == 0)
        a->marks[a->n_marks++] = a->size;
    a->size += line.len;
    memcpy(a->head, hash, 32);
    a->seq++;
    a->since_cp++;
    a->dirty = 1;
out:
    mv_buf_clear(&body);
    mv_buf_clear(&line);
    return rc;
}

static mv_err event_locked(mv_audit *a, const char *action)
{
    entry e;
    memset(&e, 0, sizeof e);
    e.type = T_EVENT;
    e.time = (uint64_t)time(NULL);
    e.action = action;
    return append_locked(a, &e);
}

/* Signs the current head and appends the checkpoint, then fdatasyncs (lock held). */
static mv_err checkpoint_locked(mv_audit *a)
{
    entry e;
    uint8_t msg[CHECKPOINT_MSG_MAX];
    mv_err rc;
    memset(&e, 0, sizeof e);
    e.type = T_CHECKPOINT;
    e.time = (uint64_t)time(NULL);
    e.component = a->component;
    e.count = a->seq;
    memcpy(e.head, a->head, 32);
    memcpy(e.key, a->pk, 32);
    size_t ml = checkpoint_message(&e, msg);
    if ((rc = mv_sign(e.sig, msg, ml, a->sk)) != MV_OK || (rc = append_locked(a, &e)) != MV_OK)
        return rc;
    a->since_cp = 0;
    a->last_cp = mv_mono_seconds();
    if (fdatasync(a->fd) != 0)
        return MV_ERR_IO;
    a->dirty = 0;
    return MV_OK;
}

static void *flusher(void *arg)
{
    mv_audit *a = arg;
    pthread_mutex_lock(&a->lock);
    while (!a->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        double s = a->opt.sync_seconds;
        until.tv_sec += (time_t)s;
        until.tv_nsec += (long)((s - (double)(time_t)s) * 1e9);
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&a->wake, &a->lock, &until);
        if (a->stopping)
            break;
        if (a->since_cp > 0 && a->opt.checkpoint_seconds > 0 && mv_mono_seconds() - a->last_cp >= a->opt.checkpoint_seconds) {
            mv_err rc = checkpoint_locked(a);
            if (rc != MV_OK)
                mv_log(MV_LOG_ERROR, "audit", "%s: checkpoint failed: %s", a->path, mv_strerror(rc));
        }
        if (a->dirty) {
            /* Sync outside the lock: appends go on while the disk catches up. The fd stays
             * open until this thread is joined. */
            a->dirty = 0;
            pthread_mutex_unlock(&a->lock);
            if (fdatasync(a->fd) != 0)
                mv_log(MV_LOG_ERROR, "audit", "fdatasync of the audit log failed");
            pthread_mutex_lock(&a->lock);
        }
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

static mv_err sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return MV_ERR_IO;
    int r = fsync(fd);
    close(fd);
    return r == 0 ? MV_OK : MV_ERR_IO;
}

/* Creates a fresh log at a->path whose genesis names prev (lock not needed: not shared yet). */
static mv_err create_log(mv_audit *a, const char *adir, const uint8_t prev[32])
{
    entry e;
    a->fd = open(a->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (a->fd < 0)
        return MV_ERR_IO;
    memset(&e, 0, sizeof e);
    e.type = T_GENESIS;
    e.time = (uint64_t)time(NULL);
    memcpy(e.key, a->pk, 32);
    memcpy(e.prev, prev, 32);
    mv_err rc = append_locked(a, &e);
    if (rc == MV_OK && fsync(a->fd) != 0)
        rc = MV_ERR_IO;
    if (rc == MV_OK)
        rc = sync_dir(adir);
    return rc;
}

/* Resumes an existing log: verifies it, cuts a torn tail, archives it if the key changed.
 * *cut receives the bytes cut; *archived is set when a new log was started. */
static mv_err resume_log(mv_audit *a, const char *adir, size_t *cut, int *archived, uint8_t old_head[32])
{
    mv_buf b;
    mv_audit_report rep;
    mv_err rc;
    mv_buf_init(&b, FILE_MAX);
    memset(&rep, 0, sizeof rep);
    if ((rc = mv_file_read(a->path, FILE_MAX, &b)) != MV_OK)
        goto out;
    size_t keep = b.len;
    while (keep > 0 && b.ptr[keep - 1] != '\n')
        keep--;
    *cut = b.len - keep;
    if (keep > 0) {
        rc = verify_core(b.ptr, keep, NULL, &rep, &a->marks, &a->n_marks);
        a->mark_cap = a->n_marks;
        if (rc == MV_ERR_VERIFY) {
            mv_log(MV_LOG_ERROR, "audit", "%s fails verification at seq %llu (%s: %s); not appending to it",
                   a->path, (unsigned long long)rep.bad_seq, mv_audit_problem_name(rep.problem), rep.reason);
            goto out;
        }
        if (rc != MV_OK)
            goto out;
    }
    if (*cut) {
        int fd = open(a->path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ftruncate(fd, (off_t)keep) != 0 || fsync(fd) != 0) {
            if (fd >= 0)
                close(fd);
            rc = MV_ERR_IO;
            goto out;
        }
        close(fd);
    }
    if (keep == 0 || !mv_ct_eq(rep.key, a->pk, 32) || strcmp(rep.component, a->component) != 0) {
        /* Nothing whole left, or another key or component: keep the old file, start anew. */
        memcpy(old_head, rep.head, 32);
        if (keep > 0) {
            char dst[4200];
            int n = snprintf(dst, sizeof dst, "%s.%llu", a->path, (unsigned long long)time(NULL));
            if (n < 0 || (size_t)n >= sizeof dst || mv_file_exists(dst) || rename(a->path, dst) != 0) {
                rc = MV_ERR_IO;
                goto out;
            }
            mv_log(MV_LOG_WARN, "audit", "the audit key or component changed: the old log is kept as %s", dst);
        } else if (unlink(a->path) != 0) {
            rc = MV_ERR_IO;
            goto out;
        }
        mv_free(a->marks);
        a->marks = NULL;
        a->n_marks = a->mark_cap = 0;
        *archived = keep > 0;
        rc = create_log(a, adir, old_head);
        goto out;
    }
    a->fd = open(a->path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (a->fd < 0) {
        rc = MV_ERR_IO;
        goto out;
    }
    a->seq = rep.lines;
    a->size = keep;
    a->since_cp = rep.unsigned_tail;
    memcpy(a->head, rep.head, 32);
    rc = MV_OK;
out:
    mv_buf_clear(&b);
    return rc;
}

mv_err mv_audit_open(const char *dir, const char *component, const uint8_t sk[static 64], const mv_audit_options *opt,
                     mv_audit **out)
{
    mv_audit *a = NULL;
    char adir[4096];
    uint8_t old_head[32] = {0};
    size_t cut = 0;
    int archived = 0, sync_ok = 0;
    mv_err rc = MV_ERR_INVAL;
    if (!out)
        return MV_ERR_INVAL;
    *out = NULL;
    if (!dir || !component || !sk || !component_ok(component))
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if (!(a = mv_calloc(1, sizeof *a)))
        return MV_ERR_NOMEM;
    a->fd = a->rfd = a->lockfd = -1;
    snprintf(a->component, sizeof a->component, "%s", component);
    if (opt)
        a->opt = *opt;
    if (a->opt.checkpoint_entries == 0)
        a->opt.checkpoint_entries = MV_AUDIT_DEFAULT_CHECKPOINT_ENTRIES;
    if (a->opt.checkpoint_seconds == 0)
        a->opt.checkpoint_seconds = MV_AUDIT_DEFAULT_CHECKPOINT_SECONDS;
    if (!(a->opt.sync_seconds > 0))
        a->opt.sync_seconds = 1;
    if (!(a->sk = mv_secure_alloc(64))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    memcpy(a->sk, sk, 64);
    memcpy(a->pk, sk + 32, 32);
    if (pthread_mutex_init(&a->lock, NULL) != 0 || pthread_cond_init(&a->wake, NULL) != 0) {
        rc = MV_ERR_NOMEM; /* only the first can have succeeded: destroying an unused mutex is harmless */
        pthread_mutex_destroy(&a->lock);
        goto out;
    }
    sync_ok = 1;
    if ((rc = mv_path_join(adir, sizeof adir, dir, "audit")) != MV_OK ||
        (rc = mv_path_join(a->path, sizeof a->path, adir, LOG_NAME)) != MV_OK)
        goto out;
    if ((rc = mv_file_mkdir(adir, 0700)) != MV_OK)
        goto out;
    /* One writer per log: a second daemon on the same directory must not interleave its chain. */
    char lpath[4096];
    if ((rc = mv_path_join(lpath, sizeof lpath, adir, "lock")) != MV_OK)
        goto out;
    if ((a->lockfd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        rc = MV_ERR_IO;
        goto out;
    }
    if (flock(a->lockfd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? MV_ERR_BUSY : MV_ERR_IO;
        goto out;
    }
    rc = mv_file_exists(a->path) ? resume_log(a, adir, &cut, &archived, old_head) : create_log(a, adir, old_head);
    if (rc != MV_OK)
        goto out;
    if ((a->rfd = open(a->path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = MV_ERR_IO;
        goto out;
    }
    a->last_cp = mv_mono_seconds();
    char msg[128];
    if (cut) {
        snprintf(msg, sizeof msg, "recovered: cut a torn final line of %zu bytes", cut);
        if ((rc = event_locked(a, msg)) != MV_OK)
            goto out;
    }
    if (archived && (rc = event_locked(a, "new log: the previous log's key or component changed")) != MV_OK)
        goto out;
    if ((rc = event_locked(a, "start")) != MV_OK)
        goto out;
    /* The flusher must never take a process signal (the daemons wait for them on the main thread). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int cr = pthread_create(&a->thread, NULL, flusher, a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (cr != 0) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    a->thread_started = 1;
    char pkhex[65];
    if (mv_hex_encode(pkhex, sizeof pkhex, a->pk, 32) == MV_OK)
        mv_log(MV_LOG_INFO, "audit", "%s: %llu lines, checkpoints signed by %s", a->path, (unsigned long long)a->seq,
               pkhex);
    *out = a;
    a = NULL;
    rc = MV_OK;
out:
    if (a) {
        if (a->fd >= 0)
            close(a->fd);
        if (a->rfd >= 0)
            close(a->rfd);
        if (a->lockfd >= 0)
            close(a->lockfd);
        if (sync_ok) {
            pthread_cond_destroy(&a->wake);
            pthread_mutex_destroy(&a->lock);
        }
        if (a->sk)
            mv_secure_free(a->sk);
        mv_free(a->marks);
        mv_free(a);
    }
    return rc;
}

/* Copies s into out[0..cap) replacing bytes outside printable ASCII with '?', cutting long
 * text to end in "...". */
static void sanitize(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; s && s[n] && n + 1 < cap; n++)
        out[n] = (s[n] >= 0x20 && s[n] < 0x7f) ? s[n] : '?';
    out[n] = 0;
    if (s && s[n] && cap > 4)
        memcpy(out + cap - 4, "...", 4);
}

mv_err mv_audit_append(mv_audit *a, const uint8_t *principal, const char *address, const char *action, int result,
                       const char *note)
{
    char act[MV_AUDIT_ACTION_MAX + 1], addr[ADDRESS_MAX + 1];
    entry e;
    mv_err rc;
    if (!a)
        return MV_ERR_INVAL;
    memset(&e, 0, sizeof e);
    sanitize(act, sizeof act, action);
    sanitize(addr, sizeof addr, address);
    size_t nl = note ? strnlen(note, MV_AUDIT_NOTE_MAX + 1) : 0;
    e.type = T_REQUEST;
    e.time = (uint64_t)time(NULL);
    if (principal) {
        e.has_principal = 1;
        memcpy(e.principal, principal, 32);
    }
    e.address = addr;
    e.action = act;
    e.result = result < 0 ? 0 : (uint64_t)result;
    e.note = !note ? "" : (nl <= MV_AUDIT_NOTE_MAX && strspn(note, NOTE_CHARS) == nl) ? note : "invalid-note";
    pthread_mutex_lock(&a->lock);
    rc = append_locked(a, &e);
    if (rc == MV_OK && a->since_cp >= a->opt.checkpoint_entries)
        rc = checkpoint_locked(a);
    pthread_mutex_unlock(&a->lock);
    return rc;
}

mv_err mv_audit_checkpoint(mv_audit *a)
{
    mv_err rc = MV_OK;
    if (!a)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&a->lock);
    if (a->since_cp > 0)
        rc = checkpoint_locked(a);
    pthread_mutex_unlock(&a->lock);
    return rc;
}

uint64_t mv_audit_count(mv_audit *a)
{
    uint64_t n;
    if (!a)
        return 0;
    pthread_mutex_lock(&a->lock);
    n = a->seq;
    pthread_mutex_unlock(&a->lock);
    return n;
}

mv_err mv_audit_read(mv_audit *a, uint64_t from, uint64_t limit, mv_buf *out)
{
    uint8_t *chunk = NULL;
    mv_buf partial;
    mv_err rc = MV_OK;
    if (!a || !out)
        return MV_ERR_INVAL;
    if (limit > MV_AUDIT_FETCH_MAX)
        limit = MV_AUDIT_FETCH_MAX;
    pthread_mutex_lock(&a->lock);
    uint64_t end = a->size, count = a->seq;
    uint64_t seq = from < count ? from / MARK_EVERY * MARK_EVERY : count;
    uint64_t pos = from < count ? a->marks[from / MARK_EVERY] : end;
    pthread_mutex_unlock(&a->lock);
    if (limit == 0 || from >= count)
        return MV_OK;
    mv_buf_init(&partial, MV_AUDIT_LINE_MAX + 2);
    if (!(chunk = mv_malloc(READ_CHUNK))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    /* Only whole lines lie below the size snapshot: appends write a line at a time under the lock. */
    while (pos < end && limit > 0) {
        size_t want = end - pos < READ_CHUNK ? (size_t)(end - pos) : READ_CHUNK;
        ssize_t r = pread(a->rfd, chunk, want, (off_t)pos);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = MV_ERR_IO;
            goto out;
        }
        pos += (uint64_t)r;
        for (size_t i = 0; i < (size_t)r && limit > 0;) {
            const uint8_t *nl = memchr(chunk + i, '\n', (size_t)r - i);
            size_t n = nl ? (size_t)(nl - (chunk + i)) + 1 : (size_t)r - i;
            if (seq >= from && (rc = mv_buf_append(&partial, chunk + i, n)) != MV_OK) {
                rc = rc == MV_ERR_TOO_LARGE ? MV_ERR_IO : rc; /* no line of ours is that long */
                goto out;
            }
            i += n;
            if (nl) {
                if (seq >= from) {
                    if ((rc = mv_buf_append(out, partial.ptr, partial.len)) != MV_OK)
                        goto out;
                    limit--;
                }
                mv_buf_reset(&partial);
                seq++;
            }
        }
    }
out:
    mv_free(chunk);
    mv_buf_clear(&partial);
    return rc;
}

void mv_audit_close(mv_audit *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    mv_err rc = event_locked(a, "stop");
    if (rc == MV_OK)
        rc = checkpoint_locked(a);
    if (rc != MV_OK)
        mv_log(MV_LOG_ERROR, "audit", "%s: final checkpoint failed: %s", a->path, mv_strerror(rc));
    a->stopping = 1;
    pthread_cond_broadcast(&a->wake);
    pthread_mutex_unlock(&a->lock);
    if (a->thread_started)
        pthread_join(a->thread, NULL);
    if (a->fd >= 0) {
        if (fdatasync(a->fd) != 0)
            mv_log(MV_LOG_ERROR, "audit", "%s: fdatasync failed", a->path);
        close(a->fd);
    }
    if (a->rfd >= 0)
        close(a->rfd);
    if (a->lockfd >= 0)
        close(a->lockfd);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    mv_secure_free(a->sk);
    mv_free(a->marks);
    mv_free(a);
}

/* ---------- keys ---------- */

mv_err mv_audit_key_load(const char *path, uint8_t sk[static 64])
{
    uint8_t seed[32], pk[32];
    struct stat st;
    mv_buf b;
    mv_err rc;
    if (!path || !sk)
        return MV_ERR_INVAL;
    mv_buf_init(&b, 33);
    if ((rc = mv_crypto_init()) != MV_OK)
        goto out;
    if (!mv_file_exists(path)) {
        if ((rc = mv_random_bytes(seed, sizeof seed)) != MV_OK ||
            (rc = mv_file_write_atomic(path, seed, sizeof seed, 0600)) != MV_OK)
            goto out;
        mv_log(MV_LOG_INFO, "audit", "created a new audit signing key");
    }
    if (stat(path, &st) != 0) {
        rc = MV_ERR_IO;
        goto out;
    }
    if (st.st_mode & 077) {
        mv_log(MV_LOG_ERROR, "audit", "%s is readable by group or others (must be 0600)", path);
        rc = MV_ERR_AUTH;
        goto out;
    }
    if ((rc = mv_file_read(path, 33, &b)) != MV_OK) {
        rc = rc == MV_ERR_TOO_LARGE ? MV_ERR_PARSE : rc;
        goto out;
    }
    if (b.len != 32) {
        rc = MV_ERR_PARSE;
        goto out;
    }
    memcpy(seed, b.ptr, 32);
    rc = mv_sign_seed_keypair(pk, sk, seed);
out:
    if (rc != MV_OK)
        mv_wipe(sk, 64);
    mv_wipe(seed, sizeof seed);
    mv_buf_clear(&b);
    return rc;
}
