/* pre_proxy.c - one cloud's re-encryption proxy (docs/pre.md 7.3): it keeps each delegation
 * with its kfrag still sealed, enforces the owner's policy by itself at every re-encryption,
 * and opens the kfrag with its identity key only for the time of one answer. */
#include "pre_proxy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_file.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "storage_internal.h"

#define PRE_DIR "pre"
#define PRE_VERSION "1\n"
#define PRE_EXT ".mvpu"
#define MVPU_HEAD 9u /* "MVPU" | version | u32be len */
#define MVPD_OWNER_AT 5u /* "MVPD" | version | owner (docs/pre.md 6.1) */
#define PRE_REF 17u      /* an entry's kind (1) | ref (16) */

/* What the index keeps of one delegation: everything the policy and the listing need. */
typedef struct pre_entry {
    uint8_t hash[32];
    uint8_t owner[32];
    uint8_t recipient[32];
    uint8_t label_kind;
    uint8_t label[16];
    uint8_t role;
    uint8_t t, n;
    char department[MV_PRE_MAX_DEPT + 1];
    uint64_t issued_at, expires_at;
    uint32_t entries;
    /* The entries' refs, kind | ref (PRE_REF bytes each), sorted: a read is served only for a
     * record the delegation names (docs/pre.md 7.4), not for every record of its label. Owned
     * by the index entry; NULL in a copy taken out of the index. */
    uint8_t (*refs)[PRE_REF];
} pre_entry;

/* One running re-encryption: whose, and of which delegation. */
typedef struct pre_slot {
    uint8_t recipient[32];
    uint8_t hash[32];
} pre_slot;

struct pre_proxy {
    char dir[4096]; /* DIR/pre */
    unsigned index;
    uint8_t box_pk[32];
    uint8_t *box_sk; /* secure memory, 32 bytes */
    mv_metrics *metrics;
    pthread_mutex_t wlock;  /* serialises uploads and revocations (disk, then the index) */
    pthread_rwlock_t ilock; /* the index */
    pre_entry *v;           /* sorted by (recipient, hash) */
    size_t n, cap;
    pthread_mutex_t rlock; /* running re-encryptions */
    pthread_cond_t rdone;  /* signalled when one ends (a revocation waits for those of its hash) */
    unsigned running, max_running;
    pre_slot *busy; /* the running ones (max_running slots, rlock) */
};

static void count(pre_proxy *p, const char *name, const char *help, const char *labels)
{
    if (p->metrics && mv_metrics_counter_add(p->metrics, name, help, labels, 1) != MV_OK)
        mv_log(MV_LOG_DEBUG, PRE_PROXY_COMPONENT, "metric %s dropped", name);
}

static void gauge(pre_proxy *p, size_t n)
{
    if (p->metrics && mv_metrics_gauge_set(p->metrics, "pre_delegations_stored",
                                           "Delegations this proxy holds (an expired one until the next upload or start)", NULL,
                                           (double)n) != MV_OK)
        mv_log(MV_LOG_DEBUG, PRE_PROXY_COMPONENT, "gauge dropped");
}

static void reenc_count(pre_proxy *p, const char *result)
{
    char labels[48];
    snprintf(labels, sizeof labels, "result=\"%s\"", result);
    count(p, "pre_reencrypt_total", "Re-encryption requests by result", labels);
}

/* ---------- the index ---------- */

static void entry_free(pre_entry *e);

static int entry_cmp(const uint8_t recipient[32], const uint8_t hash[32], const pre_entry *e)
{
    int c = memcmp(recipient, e->recipient, 32);
    return c ? c : memcmp(hash, e->hash, 32);
}

/* The first position whose (recipient, hash) is not below the given one (ilock held). */
static size_t lower_bound(const pre_proxy *p, const uint8_t recipient[32], const uint8_t hash[32])
{
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (entry_cmp(recipient, hash, &p->v[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The entry of hash (ilock held), or NULL: a scan, since the index is sorted by recipient
 * (uploads, revocations and fetches by hash are rare next to reads). */
static pre_entry *find_hash(pre_proxy *p, const uint8_t hash[32])
{
    for (size_t i = 0; i < p->n; i++)
        if (memcmp(p->v[i].hash, hash, 32) == 0)
            return &p->v[i];
    return NULL;
}

/* Inserts e (ilock held for writing). */
static mv_err index_insert(pre_proxy *p, const pre_entry *e)
{
    mv_err rc = mv_array_grow(&p->v, &p->cap, p->n, sizeof *p->v, 64);
    if (rc != MV_OK)
        return rc;
    size_t at = lower_bound(p, e->recipient, e->hash);
    memmove(&p->v[at + 1], &p->v[at], (p->n - at) * sizeof *p->v);
    p->v[at] = *e;
    p->n++;
    return MV_OK;
}

static void index_remove(pre_proxy *p, pre_entry *e)
{
    entry_free(e);
    size_t at = (size_t)(e - p->v);
    memmove(&p->v[at], &p->v[at + 1], (p->n - at - 1) * sizeof *p->v);
    p->n--;
}

static int ref_cmp(const void *a, const void *b)
{
    return memcmp(a, b, PRE_REF);
}

/* The index entry of d (hash) into e, its refs allocated (free them with entry_free unless the
 * entry goes into the index, which then owns them). MV_ERR_NOMEM. */
static mv_err entry_of(const mv_pre_delegation *d, const uint8_t hash[32], pre_entry *e)
{
    memset(e, 0, sizeof *e);
    if (!(e->refs = mv_calloc(d->n_entries ? d->n_entries : 1, PRE_REF)))
        return MV_ERR_NOMEM;
    for (size_t i = 0; i < d->n_entries; i++) {
        e->refs[i][0] = d->entries[i].kind;
        memcpy(&e->refs[i][1], d->entries[i].ref, 16);
    }
    qsort(e->refs, d->n_entries, PRE_REF, ref_cmp);
    memcpy(e->hash, hash, 32);
    memcpy(e->owner, d->owner, 32);
    memcpy(e->recipient, d->recipient, 32);
    e->label_kind = d->label_kind;
    memcpy(e->label, d->label, 16);
    e->role = d->role;
    e->t = d->t;
    e->n = d->n;
    snprintf(e->department, sizeof e->department, "%s", d->department);
    e->issued_at = d->issued_at;
    e->expires_at = d->expires_at;
    e->entries = (uint32_t)d->n_entries;
    return MV_OK;
}

static void entry_free(pre_entry *e)
{
    mv_free(e->refs);
    e->refs = NULL;
}

/* 1 if the delegation of e has an entry of kind for ref. */
static int has_ref(const pre_entry *e, uint8_t kind, const uint8_t ref[16])
{
    uint8_t key[PRE_REF];
    key[0] = kind;
    memcpy(key + 1, ref, 16);
    return e->refs && bsearch(key, e->refs, e->entries, PRE_REF, ref_cmp) != NULL;
}

/* ---------- files ---------- */

static mv_err file_of(const pre_proxy *p, const uint8_t hash[32], char *out, size_t cap)
{
    char hex[65], name[80];
    if (mv_hex_encode(hex, sizeof hex, hash, 32) != MV_OK)
        return MV_ERR_INVAL;
    snprintf(name, sizeof name, "%s%s", hex, PRE_EXT);
    return mv_path_join(out, cap, p->dir, name);
}

/* fsync of DIR/pre: makes an unlink (a revocation) durable before it is acknowledged. */
static mv_err sync_dir(const pre_proxy *p)
{
    int fd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return MV_ERR_IO;
    int rc = fsync(fd);
    close(fd);
    return rc == 0 ? MV_OK : MV_ERR_IO;
}

/* Splits an MVPU upload into the delegation and the sealed kfrag. MV_ERR_PARSE if malformed. */
static mv_err mvpu_split(const uint8_t *b, size_t len, const uint8_t **deleg, size_t *dlen, const uint8_t **sealed)
{
    if (len < MVPU_HEAD + MV_PRE_SEALED_KFRAG_BYTES || memcmp(b, "MVPU", 4) != 0 || b[4] != 1)
        return MV_ERR_PARSE;
    uint32_t l = (uint32_t)b[5] << 24 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 8 | b[8];
    if (l == 0 || l > MV_PRE_DELEGATION_MAX_BYTES || (size_t)l != len - MVPU_HEAD - MV_PRE_SEALED_KFRAG_BYTES)
        return MV_ERR_PARSE;
    *deleg = b + MVPU_HEAD;
    *dlen = l;
    *sealed = b + MVPU_HEAD + l;
    return MV_OK;
}

/* Reads and parses the stored upload of hash: d (clear it) and the sealed kfrag's copy. */
static mv_err load_file(const pre_proxy *p, const uint8_t hash[32], mv_pre_delegation *d,
                        uint8_t sealed[MV_PRE_SEALED_KFRAG_BYTES], mv_buf *raw)
{
    char path[4096];
    const uint8_t *dp = NULL, *sp = NULL;
    size_t dl = 0;
    uint8_t h[32];
    mv_err rc;
    if ((rc = file_of(p, hash, path, sizeof path)) != MV_OK || (rc = mv_file_read(path, PRE_PROXY_MAX_BODY, raw)) != MV_OK)
        return rc;
    if ((rc = mvpu_split(raw->ptr, raw->len, &dp, &dl, &sp)) != MV_OK)
        return rc;
    mv_pre_delegation_hash(dp, dl, h);
    if (memcmp(h, hash, 32) != 0)
        return MV_ERR_PARSE;
    memcpy(sealed, sp, MV_PRE_SEALED_KFRAG_BYTES);
    return mv_pre_delegation_parse(dp, dl, d);
}

/* Rebuilds the index from DIR/pre (start-up, no request yet). */
static mv_err index_load(pre_proxy *p)
{
    DIR *dh = opendir(p->dir);
    struct dirent *de;
    mv_err rc = MV_OK;
    size_t bad = 0;
    if (!dh)
        return MV_ERR_IO;
    while (rc == MV_OK && (de = readdir(dh)) != NULL) {
        const char *nm = de->d_name;
        size_t l = strlen(nm);
        uint8_t hash[32], sealed[MV_PRE_SEALED_KFRAG_BYTES];
        char path[4096];
        if (strstr(nm, ".tmp.")) { /* an interrupted write: never acknowledged */
            if (mv_path_join(path, sizeof path, p->dir, nm) == MV_OK && unlink(path) != 0)
                mv_log(MV_LOG_WARN, PRE_PROXY_COMPONENT, "cannot remove a leftover temporary file");
            continue;
        }
        char hx[65];
        if (l != 64 + strlen(PRE_EXT) || strcmp(nm + 64, PRE_EXT) != 0)
            continue;
        memcpy(hx, nm, 64);
        hx[64] = 0;
        if (!mv_is_lower_hex(hx, 64) || mv_hex_decode_exact(hash, 32, hx, 64) != MV_OK)
            continue;
        if (p->n >= PRE_PROXY_MAX_DELEGATIONS) {
            bad++;
            continue;
        }
        mv_pre_delegation d;
        mv_buf raw;
        pre_entry e;
        memset(&d, 0, sizeof d);
        mv_buf_init(&raw, PRE_PROXY_MAX_BODY);
        mv_err lr = load_file(p, hash, &d, sealed, &raw);
        if (lr == MV_OK) {
            if ((rc = entry_of(&d, hash, &e)) == MV_OK && (rc = index_insert(p, &e)) != MV_OK)
                entry_free(&e);
        } else if (lr == MV_ERR_NOMEM) {
            rc = lr;
        } else {
            bad++;
        }
        mv_pre_delegation_clear(&d);
        mv_buf_clear(&raw);
    }
    closedir(dh);
    if (bad)
        mv_log(MV_LOG_WARN, PRE_PROXY_COMPONENT, "%zu delegation file(s) in %s did not load and were left alone", bad,
               p->dir);
    return rc;
}

static void gc_expired(pre_proxy *p, uint64_t now);

mv_err pre_proxy_open(const char *dir, unsigned index, const char *identity_dir, unsigned threads,
                      mv_metrics *metrics, pre_proxy **out)
{
    pre_proxy *p = NULL;
    mv_identity *id = NULL;
    char vpath[4096];
    mv_buf vb;
    mv_err rc;
    if (!dir || !identity_dir || !out || index == 0 || index > MV_PRE_MAX_FRAGS || threads == 0)
        return MV_ERR_INVAL;
    *out = NULL;
    mv_buf_init(&vb, 64);
    if (!(p = mv_calloc(1, sizeof *p)))
        return MV_ERR_NOMEM;
    pthread_mutex_init(&p->wlock, NULL);
    pthread_mutex_init(&p->rlock, NULL);
    pthread_cond_init(&p->rdone, NULL);
    pthread_rwlock_init(&p->ilock, NULL);
    p->index = index;
    p->metrics = metrics;
    /* Half the threads at most: the other routes of the server (proxy 1 is the storage server)
     * keep answering while re-encryptions run. */
    p->max_running = threads / 2 ? threads / 2 : 1;
    if (!(p->busy = mv_calloc(p->max_running, sizeof *p->busy))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    if ((rc = mv_path_join(p->dir, sizeof p->dir, dir, PRE_DIR)) != MV_OK || (rc = mv_file_mkdir(p->dir, 0700)) != MV_OK) {
        mv_log(MV_LOG_ERROR, PRE_PROXY_COMPONENT, "cannot create the delegation directory under %s", dir);
        goto out;
    }
    /* The files' layout version: a later layout refuses to be read as this one. */
    if ((rc = mv_path_join(vpath, sizeof vpath, p->dir, "VERSION")) != MV_OK)
        goto out;
    rc = mv_file_read(vpath, 64, &vb);
    if (rc == MV_ERR_NOT_FOUND)
        rc = mv_file_write_atomic(vpath, PRE_VERSION, strlen(PRE_VERSION), 0600);
    else if (rc == MV_OK && (vb.len != strlen(PRE_VERSION) || memcmp(vb.ptr, PRE_VERSION, vb.len) != 0))
        rc = MV_ERR_PARSE;
    if (rc != MV_OK) {
        mv_log(MV_LOG_ERROR, PRE_PROXY_COMPONENT, "%s: missing, unreadable or of another version (%s)", vpath,
               mv_strerror(rc));
        goto out;
    }
    if ((rc = mv_identity_load(identity_dir, &id)) != MV_OK) {
        mv_log(MV_LOG_ERROR, PRE_PROXY_COMPONENT, "cannot load the service identity %s: %s", identity_dir,
               mv_strerror(rc));
        goto out;
    }
    if (!(p->box_sk = mv_secure_alloc(32))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    memcpy(p->box_sk, mv_identity_box_sk(id), 32);
    memcpy(p->box_pk, mv_identity_box_pk(id), 32);
    if ((rc = index_load(p)) != MV_OK)
        goto out;
    gc_expired(p, (uint64_t)time(NULL));
    gauge(p, p->n);
    mv_log(MV_LOG_INFO, PRE_PROXY_COMPONENT, "proxy %u holds %zu delegation(s)", index, p->n);
    *out = p;
    p = NULL;
out:
    mv_identity_free(id);
    mv_buf_clear(&vb);
    pre_proxy_close(p);
    return rc;
}

void pre_proxy_close(pre_proxy *p)
{
    if (!p)
        return;
    if (p->box_sk)
        mv_secure_free(p->box_sk);
    for (size_t i = 0; i < p->n; i++)
        entry_free(&p->v[i]);
    mv_free(p->v);
    mv_free(p->busy);
    pthread_mutex_destroy(&p->wlock);
    pthread_mutex_destroy(&p->rlock);
    pthread_cond_destroy(&p->rdone);
    pthread_rwlock_destroy(&p->ilock);
    mv_free(p);
}

/* ---------- the policy ---------- */

static int active(const pre_entry *e, uint64_t now)
{
    return now < e->expires_at;
}

/* "" if cred meets e's policy at now, else why not (a static string for the 403). */
static const char *policy_refusal(const pre_entry *e, const mv_credential *cred, uint64_t now)
{
    if (!mv_credential_has_role(cred, (mv_role)e->role))
        return "your credential lacks the role this delegation requires";
    if (!mv_credential_has_department(cred, e->department))
        return "your credential does not name the department this delegation requires";
    if (now + PRE_PROXY_SKEW < e->issued_at)
        return "the delegation is not yet valid";
    if (now >= e->expires_at)
        return "the delegation has expired";
    return "";
}

/* 1 if e covers the record: its owner is the record's owner or patient, its label is the
 * record's episode (kind 1) or id (kind 2), AND one of its entries names the record (a kind-2
 * entry for the id, or a kind-1 entry for kid, the keyset of an MVE2 envelope): a record added
 * later under another keyset, or another writer's record about the patient, is not served. */
static int covers(const pre_entry *e, const uint8_t *owner, const uint8_t *patient, const uint8_t *episode,
                  const uint8_t id[16], const uint8_t *kid)
{
    if (!((owner && memcmp(owner, e->owner, 32) == 0) || (patient && memcmp(patient, e->owner, 32) == 0)))
        return 0;
    if (e->label_kind == MV_PRE_LABEL_EPISODE) {
        if (!episode || memcmp(episode, e->label, 16) != 0)
            return 0;
    } else if (e->label_kind != MV_PRE_LABEL_RECORD || memcmp(id, e->label, 16) != 0) {
        return 0;
    }
    return has_ref(e, MV_PRE_ENTRY_RECORD, id) || (kid && has_ref(e, MV_PRE_ENTRY_KEYSET, kid));
}

int pre_proxy_may_read(pre_proxy *p, const mv_credential *cred, uint64_t now, const uint8_t *owner,
                       const uint8_t *patient, const uint8_t *episode, const uint8_t id[16], const uint8_t *kid)
{
    static const uint8_t zero[32] = {0};
    int ok = 0;
    if (!p || !cred || !id)
        return 0;
    pthread_rwlock_rdlock(&p->ilock);
    for (size_t i = lower_bound(p, cred->subject, zero); !ok && i < p->n; i++) {
        const pre_entry *e = &p->v[i];
        if (memcmp(e->recipient, cred->subject, 32) != 0)
            break;
        ok = covers(e, owner, patient, episode, id, kid) && policy_refusal(e, cred, now)[0] == 0;
    }
    pthread_rwlock_unlock(&p->ilock);
    return ok;
}

size_t pre_proxy_owners_for(pre_proxy *p, const mv_credential *cred, uint64_t now, uint8_t (*owners)[32], size_t cap)
{
    static const uint8_t zero[32] = {0};
    size_t n = 0;
    if (!p || !cred || !owners)
        return 0;
    pthread_rwlock_rdlock(&p->ilock);
    for (size_t i = lower_bound(p, cred->subject, zero); n < cap && i < p->n; i++) {
        const pre_entry *e = &p->v[i];
        if (memcmp(e->recipient, cred->subject, 32) != 0)
            break;
        if (policy_refusal(e, cred, now)[0])
            continue;
        size_t j = 0;
        while (j < n && memcmp(owners[j], e->owner, 32) != 0)
            j++;
        if (j == n)
            memcpy(owners[n++], e->owner, 32);
    }
    pthread_rwlock_unlock(&p->ilock);
    return n;
}

/* Deletes the delegations whose window has ended (at start, and under wlock before an upload):
 * nobody can use them and their owner cannot revoke them (they are listed nowhere), so kept
 * they would count toward the caps forever. A file that cannot be unlinked stays indexed. */
static void gc_expired(pre_proxy *p, uint64_t now)
{
    size_t removed = 0, n;
    pthread_rwlock_wrlock(&p->ilock);
    for (size_t i = 0; i < p->n;) {
        char path[4096];
        pre_entry *e = &p->v[i];
        if (active(e, now)) {
            i++;
        } else if (file_of(p, e->hash, path, sizeof path) != MV_OK || (unlink(path) != 0 && errno != ENOENT)) {
            mv_log(MV_LOG_WARN, PRE_PROXY_COMPONENT, "cannot delete an expired delegation's file");
            i++;
        } else {
            index_remove(p, e);
            removed++;
        }
    }
    n = p->n;
    pthread_rwlock_unlock(&p->ilock);
    if (!removed)
        return;
    if (sync_dir(p) != MV_OK)
        mv_log(MV_LOG_WARN, PRE_PROXY_COMPONENT, "cannot sync %s after deleting expired delegations", p->dir);
    gauge(p, n);
    mv_log(MV_LOG_INFO, PRE_PROXY_COMPONENT, "deleted %zu expired delegation(s)", removed);
}

/* ---------- re-encryption slots ---------- */

/* Takes a re-encryption slot for recipient's request of hash: 0, or the refusal's status
 * (429: one of hers is running already; 503: every slot is taken). */
static int reenc_enter(pre_proxy *p, const uint8_t recipient[32], const uint8_t hash[32])
{
    int status = 0;
    pthread_mutex_lock(&p->rlock);
    for (unsigned i = 0; i < p->running && !status; i++)
        if (!memcmp(p->busy[i].recipient, recipient, 32))
            status = 429;
    if (!status && p->running >= p->max_running)
        status = 503;
    if (!status) {
        memcpy(p->busy[p->running].recipient, recipient, 32);
        memcpy(p->busy[p->running++].hash, hash, 32);
    }
    pthread_mutex_unlock(&p->rlock);
    return status;
}

static void reenc_leave(pre_proxy *p, const uint8_t recipient[32])
{
    pthread_mutex_lock(&p->rlock);
    for (unsigned i = 0; i < p->running; i++)
        if (!memcmp(p->busy[i].recipient, recipient, 32)) {
            p->busy[i] = p->busy[--p->running];
            break;
        }
    pthread_cond_broadcast(&p->rdone);
    pthread_mutex_unlock(&p->rlock);
}

/* Waits until no re-encryption of hash is running (it is out of the index: a later one
 * answers 404), so a revocation is acknowledged only after every answer it races. */
static void reenc_drain(pre_proxy *p, const uint8_t hash[32])
{
    pthread_mutex_lock(&p->rlock);
    for (;;) {
        int running = 0;
        for (unsigned i = 0; i < p->running && !running; i++)
            running = !memcmp(p->busy[i].hash, hash, 32);
        if (!running)
            break;
        pthread_cond_wait(&p->rdone, &p->rlock);
    }
    pthread_mutex_unlock(&p->rlock);
}

/* ---------- routes ---------- */

int pre_proxy_is_path(const char *path)
{
    return path && strncmp(path, "/v1/pre/", 8) == 0;
}

int pre_proxy_body_ok(const mv_http_request *req)
{
    const char *cl = mv_http_header(req, "Content-Length");
    char *end = NULL;
    if (!cl || !*cl)
        return 0; /* chunked: its length is unknown until it is read */
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    return !errno && end && !*end && n <= PRE_PROXY_MAX_BODY;
}

/* The "delegation" (64 hex) of a JSON body. */
static mv_err body_hash(const mv_http_request *req, uint8_t hash[32])
{
    mv_json *root = NULL;
    mv_err rc = mv_json_parse((const char *)req->body, req->body_len, NULL, &root, NULL);
    if (rc == MV_OK)
        rc = mv_json_get_hex(root, "delegation", hash, 32) == MV_OK ? MV_OK : MV_ERR_PARSE;
    mv_json_free(root);
    return rc == MV_OK ? MV_OK : MV_ERR_PARSE;
}

static void respond_hash(mv_http_response *resp, int status, const uint8_t hash[32])
{
    char hex[65];
    if (mv_hex_encode(hex, sizeof hex, hash, 32) != MV_OK)
        mv_http_respond_json_error(resp, 500, "internal error");
    else
        mv_http_respond_fmt(resp, status, "{\"delegation\":\"%s\"}", hex);
}

static void handle_upload(pre_proxy *p, const mv_credential *cred, const mv_http_request *req, mv_http_response *resp,
                          uint64_t now)
{
    const uint8_t *dp = NULL, *sp = NULL;
    size_t dl = 0;
    uint8_t hash[32];
    mv_pre_delegation d;
    mv_pre_kfrag k;
    pre_entry e, *old = NULL;
    char path[4096];
    memset(&d, 0, sizeof d);
    memset(&k, 0, sizeof k);
    memset(&e, 0, sizeof e);
    if (req->body_len > PRE_PROXY_MAX_BODY) {
        mv_http_respond_json_error(resp, 413, "the upload is larger than the largest delegation");
        return;
    }
    if (mvpu_split(req->body, req->body_len, &dp, &dl, &sp) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "the body is not an MVPU upload (docs/pre.md 6.3)");
        return;
    }
    /* The owner field (docs/pre.md 6.1, offset 5) before the parse, which verifies up to 1024
     * capsules: a non-owner re-posting an owner's signed body costs the proxy nothing. */
    if (dl < MVPD_OWNER_AT + 32 || memcmp(dp, "MVPD", 4) != 0 || dp[4] != 1) {
        mv_http_respond_json_error(resp, 400, "the delegation does not parse (docs/pre.md 6.1)");
        return;
    }
    if (memcmp(dp + MVPD_OWNER_AT, cred->subject, 32) != 0) {
        mv_http_respond_json_error(resp, 403, "only the delegation's owner may upload it");
        return;
    }
    mv_err rc = mv_pre_delegation_parse(dp, dl, &d);
    if (rc != MV_OK) {
        mv_http_respond_json_error(resp, rc == MV_ERR_NOMEM ? 503 : 400,
                                   rc == MV_ERR_NOMEM ? "out of memory; retry"
                                                      : "the delegation does not parse or its signature or a capsule "
                                                        "does not verify");
        return;
    }
    if (now >= d.expires_at) {
        mv_http_respond_json_error(resp, 400, "the delegation has already expired");
        goto out;
    }
    if (d.expires_at - d.issued_at > PRE_PROXY_MAX_LIFETIME) {
        mv_http_respond_json_error(resp, 400, "the delegation's window is longer than 366 days");
        goto out;
    }
    if (p->index > d.n || mv_pre_kfrag_open(sp, p->box_pk, p->box_sk, &d, (uint8_t)p->index, &k) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "the kfrag is not sealed to this proxy or does not match the delegation");
        goto out;
    }
    mv_wipe(&k, sizeof k); /* checked; it stays sealed on disk until a re-encryption */
    mv_pre_delegation_hash(dp, dl, hash);
    if (entry_of(&d, hash, &e) != MV_OK) {
        mv_http_respond_json_error(resp, 503, "out of memory; retry");
        goto out;
    }
    pthread_mutex_lock(&p->wlock);
    gc_expired(p, now);
    pthread_rwlock_rdlock(&p->ilock);
    int same = find_hash(p, hash) != NULL, full = p->n >= PRE_PROXY_MAX_DELEGATIONS;
    size_t owned = 0;
    for (size_t i = 0; i < p->n; i++)
        owned += !memcmp(p->v[i].owner, e.owner, 32) && active(&p->v[i], now);
    for (size_t i = lower_bound(p, e.recipient, (const uint8_t[32]){0}); !same && i < p->n; i++) {
        const pre_entry *o = &p->v[i];
        if (memcmp(o->recipient, e.recipient, 32) != 0)
            break;
        if (!memcmp(o->owner, e.owner, 32) && o->label_kind == e.label_kind && !memcmp(o->label, e.label, 16))
            old = (pre_entry *)o;
    }
    int conflict = old && active(old, now);
    uint8_t old_hash[32];
    if (old)
        memcpy(old_hash, old->hash, 32);
    pthread_rwlock_unlock(&p->ilock);
    if (same) {
        respond_hash(resp, 200, hash);
        goto unlock;
    }
    if (conflict) {
        mv_http_respond_json_error(resp, 409,
                                   "another delegation of this label to this recipient is active; revoke it first");
        goto unlock;
    }
    if (full) {
        mv_http_respond_json_error(resp, 503, "this proxy holds too many delegations");
        goto unlock;
    }
    if (owned >= PRE_PROXY_MAX_PER_OWNER) {
        mv_http_respond_json_error(resp, 429, "you have 1000 active delegations at this proxy; revoke some first");
        goto unlock;
    }
    if ((rc = file_of(p, hash, path, sizeof path)) != MV_OK ||
        (rc = mv_file_write_atomic(path, req->body, req->body_len, 0600)) != MV_OK) {
        mv_log(MV_LOG_ERROR, PRE_PROXY_COMPONENT, "cannot store a delegation: %s", mv_strerror(rc));
        mv_http_respond_json_error(resp, 500, "cannot store the delegation");
        goto unlock;
    }
    pthread_rwlock_wrlock(&p->ilock);
    rc = index_insert(p, &e);
    /* An expired delegation of the same label and recipient is replaced by the new one. */
    pre_entry *gone = old && rc == MV_OK ? find_hash(p, old_hash) : NULL;
    if (gone)
        index_remove(p, gone);
    size_t n = p->n;
    pthread_rwlock_unlock(&p->ilock);
    if (rc == MV_OK)
        e.refs = NULL; /* the index owns them now */
    if (rc != MV_OK) {
        if (unlink(path) != 0)
            mv_log(MV_LOG_WARN, PRE_PROXY_COMPONENT, "cannot remove an unindexed delegation file");
        mv_http_respond_json_error(resp, 503, "out of memory; retry");
        goto unlock;
    }
    if (gone && (file_of(p, old_hash, path, sizeof path) != MV_OK || unlink(path) != 0 || sync_dir(p) != MV_OK))
        mv_log(MV_LOG_WARN, PRE_PROXY_COMPONENT, "cannot remove a replaced expired delegation's file");
    gauge(p, n);
    count(p, "pre_uploads_total", "Delegations stored", NULL);
    respond_hash(resp, 201, hash);
unlock:
    pthread_mutex_unlock(&p->wlock);
out:
    entry_free(&e);
    mv_pre_delegation_clear(&d);
}

static void handle_revoke(pre_proxy *p, const mv_credential *cred, const mv_http_request *req, mv_http_response *resp)
{
    uint8_t hash[32];
    char path[4096];
    mv_err rc;
    if (body_hash(req, hash) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "the body must be {\"delegation\": 64 hex digits}");
        return;
    }
    pthread_mutex_lock(&p->wlock);
    pthread_rwlock_rdlock(&p->ilock);
    const pre_entry *e = find_hash(p, hash);
    int mine = e && memcmp(e->owner, cred->subject, 32) == 0;
    pthread_rwlock_unlock(&p->ilock);
    if (!mine) { /* an unknown hash and another's delegation get the same answer */
        mv_http_respond_json_error(resp, 404, "no such delegation");
        goto out;
    }
    /* Durable before the answer: once the owner hears "revoked", a restart cannot bring it back. */
    if ((rc = file_of(p, hash, path, sizeof path)) != MV_OK || (unlink(path) != 0 && errno != ENOENT) ||
        (rc = sync_dir(p)) != MV_OK) {
        mv_log(MV_LOG_ERROR, PRE_PROXY_COMPONENT, "cannot delete a revoked delegation's file");
        mv_http_respond_json_error(resp, 500, "cannot delete the delegation; retry");
        goto out;
    }
    pthread_rwlock_wrlock(&p->ilock);
    pre_entry *g = find_hash(p, hash);
    if (g)
        index_remove(p, g);
    size_t n = p->n;
    pthread_rwlock_unlock(&p->ilock);
    reenc_drain(p, hash);
    gauge(p, n);
    count(p, "pre_revocations_total", "Delegations revoked by their owner", NULL);
    mv_http_respond_fmt(resp, 200, "{\"revoked\":true}");
out:
    pthread_mutex_unlock(&p->wlock);
}

static void write_entry(mv_jw *w, const pre_entry *e)
{
    mv_jw_obj(w);
    mv_jw_khex(w, "delegation", e->hash, 32);
    mv_jw_khex(w, "owner", e->owner, 32);
    mv_jw_khex(w, "recipient", e->recipient, 32);
    mv_jw_ku64(w, "label_kind", e->label_kind);
    mv_jw_khex(w, "label", e->label, 16);
    mv_jw_ku64(w, "role", e->role);
    mv_jw_kstr(w, "department", e->department);
    mv_jw_ku64(w, "issued_at", e->issued_at);
    mv_jw_ku64(w, "expires_at", e->expires_at);
    mv_jw_ku64(w, "entries", e->entries);
    mv_jw_ku64(w, "t", e->t);
    mv_jw_ku64(w, "n", e->n);
    mv_jw_obj_end(w);
}

static void handle_list(pre_proxy *p, const mv_credential *cred, mv_http_response *resp, uint64_t now)
{
    mv_buf b;
    mv_jw w;
    mv_buf_init(&b, MV_HTTP_RESPONSE_MAX);
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_key(&w, "delegations");
    mv_jw_arr(&w);
    pthread_rwlock_rdlock(&p->ilock);
    for (size_t i = 0; i < p->n; i++) {
        const pre_entry *e = &p->v[i];
        if (active(e, now) && (!memcmp(e->owner, cred->subject, 32) || !memcmp(e->recipient, cred->subject, 32)))
            write_entry(&w, e);
    }
    pthread_rwlock_unlock(&p->ilock);
    mv_jw_arr_end(&w);
    mv_jw_obj_end(&w);
    mv_http_respond_built(resp, mv_jw_finish(&w), 200, &b);
    mv_buf_clear(&b);
}

/* The entry of hash if cred's subject is its owner or recipient and it is active (copied). */
static int visible(pre_proxy *p, const uint8_t hash[32], const mv_credential *cred, uint64_t now, pre_entry *out,
                   int recipient_only)
{
    pthread_rwlock_rdlock(&p->ilock);
    const pre_entry *e = find_hash(p, hash);
    int ok = e && (!memcmp(e->recipient, cred->subject, 32) || (!recipient_only && !memcmp(e->owner, cred->subject, 32)));
    if (ok) {
        *out = *e;
        out->refs = NULL; /* the index's; a revocation may free them once the lock is released */
    }
    pthread_rwlock_unlock(&p->ilock);
    return ok && (recipient_only || active(out, now));
}

static void handle_get(pre_proxy *p, const mv_credential *cred, const char *hex, mv_http_response *resp, uint64_t now)
{
    uint8_t hash[32], sealed[MV_PRE_SEALED_KFRAG_BYTES];
    pre_entry e;
    mv_pre_delegation d;
    mv_buf raw;
    memset(&d, 0, sizeof d);
    if (strlen(hex) != 64 || !mv_is_lower_hex(hex, 64) || mv_hex_decode_exact(hash, 32, hex, 64) != MV_OK ||
        !visible(p, hash, cred, now, &e, 0)) {
        mv_http_respond_json_error(resp, 404, "no such delegation");
        return;
    }
    mv_buf_init(&raw, PRE_PROXY_MAX_BODY);
    mv_err rc = load_file(p, hash, &d, sealed, &raw);
    if (rc == MV_ERR_NOT_FOUND)
        mv_http_respond_json_error(resp, 404, "no such delegation"); /* revoked meanwhile */
    else if (rc != MV_OK)
        mv_http_respond_json_error(resp, 500, "cannot read the delegation");
    else
        mv_http_respond_bytes(resp, 200, raw.ptr + MVPU_HEAD, raw.len - MVPU_HEAD - MV_PRE_SEALED_KFRAG_BYTES);
    mv_wipe(sealed, sizeof sealed);
    mv_pre_delegation_clear(&d);
    mv_buf_clear(&raw);
}

/* The MVCF answer of d (hash) with kfrag k into out. */
static mv_err build_cfrags(const pre_proxy *p, const mv_pre_delegation *d, const uint8_t hash[32],
                           const mv_pre_kfrag *k, mv_buf *out)
{
    uint8_t head[40], cf[MV_PRE_CFRAG_BYTES];
    mv_err rc;
    memcpy(head, "MVCF", 4);
    head[4] = 1;
    head[5] = (uint8_t)p->index;
    memcpy(head + 6, hash, 32);
    head[38] = (uint8_t)(d->n_entries >> 8);
    head[39] = (uint8_t)d->n_entries;
    if ((rc = mv_buf_append(out, head, sizeof head)) != MV_OK)
        return rc;
    for (size_t i = 0; i < d->n_entries; i++) {
        if ((rc = mv_pre_reencrypt(k, d->entries[i].capsule, hash, NULL, cf)) != MV_OK ||
            (rc = mv_buf_append(out, cf, sizeof cf)) != MV_OK)
            return rc;
    }
    return MV_OK;
}

static void handle_reencrypt(pre_proxy *p, const mv_credential *cred, const mv_http_request *req,
                             mv_http_response *resp, uint64_t now)
{
    uint8_t hash[32], sealed[MV_PRE_SEALED_KFRAG_BYTES];
    pre_entry e;
    mv_pre_delegation d;
    mv_pre_kfrag k;
    mv_buf raw, ans;
    memset(&d, 0, sizeof d);
    memset(&k, 0, sizeof k);
    if (body_hash(req, hash) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "the body must be {\"delegation\": 64 hex digits}");
        reenc_count(p, "bad_request");
        return;
    }
    /* Anyone but the recipient learns nothing, not even that the delegation exists. */
    if (!visible(p, hash, cred, now, &e, 1)) {
        mv_http_respond_json_error(resp, 404, "no such delegation");
        reenc_count(p, "not_found");
        return;
    }
    const char *why = policy_refusal(&e, cred, now);
    if (why[0]) {
        mv_http_respond_json_error(resp, 403, why);
        reenc_count(p, now >= e.expires_at || now + PRE_PROXY_SKEW < e.issued_at ? "outside_window" : "policy");
        return;
    }
    int busy = reenc_enter(p, cred->subject, hash);
    if (busy) {
        mv_http_respond_json_error(resp, busy, busy == 429 ? "a re-encryption of yours is running; retry when it ends"
                                                           : "too many re-encryptions at once; retry");
        reenc_count(p, busy == 429 ? "recipient_busy" : "busy");
        return;
    }
    mv_buf_init(&raw, PRE_PROXY_MAX_BODY);
    mv_buf_init(&ans, MV_PRE_CFRAGS_BYTES(MV_PRE_MAX_CAPSULES));
    mv_err rc = load_file(p, hash, &d, sealed, &raw);
    if (rc == MV_ERR_NOT_FOUND) { /* revoked meanwhile */
        mv_http_respond_json_error(resp, 404, "no such delegation");
        reenc_count(p, "not_found");
        goto out;
    }
    /* The kfrag exists unsealed only from here to the wipe below. */
    if (rc == MV_OK)
        rc = mv_pre_kfrag_open(sealed, p->box_pk, p->box_sk, &d, (uint8_t)p->index, &k);
    if (rc == MV_OK)
        rc = build_cfrags(p, &d, hash, &k, &ans);
    mv_wipe(&k, sizeof k);
    /* Revoked while the cfrags were computed: the revocation waits for this slot, so it is
     * acknowledged only after this answer, which must then be the revoked one. */
    pthread_rwlock_rdlock(&p->ilock);
    int gone = find_hash(p, hash) == NULL;
    pthread_rwlock_unlock(&p->ilock);
    if (rc == MV_OK && gone) {
        mv_http_respond_json_error(resp, 404, "no such delegation");
        reenc_count(p, "not_found");
        goto out;
    }
    if (rc != MV_OK) {
        mv_log(MV_LOG_ERROR, PRE_PROXY_COMPONENT, "a re-encryption failed: %s", mv_strerror(rc));
        mv_http_respond_json_error(resp, 500, "re-encryption failed");
        reenc_count(p, "error");
        goto out;
    }
    mv_http_respond_bytes(resp, 200, ans.ptr, ans.len);
    reenc_count(p, "ok");
out:
    reenc_leave(p, cred->subject);
    mv_wipe(sealed, sizeof sealed);
    mv_pre_delegation_clear(&d);
    mv_buf_clear(&raw);
    mv_buf_clear(&ans);
}

void pre_proxy_handle(pre_proxy *p, const mv_credential *cred, const mv_http_request *req, mv_http_response *resp)
{
    const char *path = req->path, *m = req->method;
    int get = !strcmp(m, "GET"), post = !strcmp(m, "POST");
    uint64_t now = (uint64_t)time(NULL);
    const char *allowed = NULL;
    if (!strcmp(path, "/v1/pre/delegations")) {
        if (post)
            handle_upload(p, cred, req, resp, now);
        else if (get)
            handle_list(p, cred, resp, now);
        else
            allowed = "GET, POST";
    } else if (!strncmp(path, "/v1/pre/delegations/", 20)) {
        if (get)
            handle_get(p, cred, path + 20, resp, now);
        else
            allowed = "GET";
    } else if (!strcmp(path, "/v1/pre/revoke")) {
        if (post)
            handle_revoke(p, cred, req, resp);
        else
            allowed = "POST";
    } else if (!strcmp(path, "/v1/pre/reencrypt")) {
        if (post)
            handle_reencrypt(p, cred, req, resp, now);
        else
            allowed = "POST";
    } else {
        mv_http_respond_json_error(resp, 404, "no such endpoint");
    }
    if (allowed) {
        storage_respond_405(resp, allowed);
    }
}
