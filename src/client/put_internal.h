/* put_internal.h - what the files of mv_client_put share (not installed): the batch and
 * record state, and the stages. put_plan.c expands the inputs and settles each patient;
 * put.c reads and chunks the inputs and runs the pipeline (one batch filled here while the
 * worker commits the previous one); put_toprf.c derives the MLE keys through the threshold
 * VOPRF and fetches department tokens; put_upload.c packs a batch, deduplicates it, uploads
 * its blocks and seals and stores its records. */
#ifndef MV_CLIENT_PUT_INTERNAL_H
#define MV_CLIENT_PUT_INTERNAL_H

#include <pthread.h>

#include "client_internal.h"
#include "medvault/mv_fhir.h"
#include "medvault/mv_fhirstore.h"
#include "medvault/mv_json.h"
#include "medvault/mv_record.h"

#define MAX_JSON_FILE ((size_t)64 << 20)
#define MAX_REQUEST_BYTES ((size_t)32 << 20) /* FileStore bodies are split at this size */
#define MAX_PATH_LEN 4096

/* zstd level of attachment chunks (FHIR content blocks keep MV_ZSTD_LEVEL). Like that level
 * it is part of the dedup format: p, hence fp, key and tag, depend on it, so chunks stored
 * by a client with another level do not deduplicate against these (they stay readable).
 * Measured on the unique FastCDC chunks of `gen-imaging --mib 256 --seed 42`, one thread,
 * reused context (docs/records.md, "Compressing blocks"): level 3 0.485 of the input at
 * 94-113 MB/s, level 2 0.490 at 188-199 MB/s, level 1 0.525 at 204-263 MB/s. Level 2 halves
 * the client's dominant cost for 1% more bytes; level 1 would cost 8% more bytes. An
 * incompressible chunk needs no probe of ours: libzstd 1.5.4 detects it and stores raw
 * blocks at about 2 GB/s (random data and zstd -19 output, measured the same way). */
#define ATTACHMENT_ZSTD_LEVEL 2

struct rec {
    char *path;            /* what the user is told: the file, "FILE:LINE" or "FILE#entry N" */
    const char *src;       /* the file the bytes are read from when not path (borrowed from the container) */
    uint64_t off;          /* slice: the bytes are [off, off + bytes) of src */
    int slice;
    uint8_t *mem;          /* or the bytes themselves (Bundle entries, mv_client_fhir_put); owned */
    int cached;            /* mem holds the whole file path, as the prescan read it */
    int container;         /* 1: an NDJSON file or a split Bundle, expanded into the records after it */
    int deferred;          /* 1: for a registered patient: stored by that patient's own run */
    char mrn[32];          /* deferred: the patient */
    /* FHIR identity (put_fhir.c): */
    mv_fhir_facts *facts;  /* what the local index records; NULL for attachments */
    uint8_t digest[32];
    uint32_t version;      /* 0: no logical id */
    int outcome;           /* mv_fhir_outcome */
    struct rec *same_as;   /* unchanged: the record of this run that holds the content, or NULL */
    char own_mrn[MV_FHIR_ID_MAX + 1]; /* a Patient's MRN in the hospital's identifier system */
    int kind;
    uint64_t bytes;
    mv_record r;
    size_t blocks_total;   /* blocks added to batches */
    size_t blocks_done;    /* blocks whose ref is in r */
    int complete;          /* every block of the input has been added */
    int finished;          /* stored or failed; reported */
    mv_err rc;
    uint8_t id[16];
};

struct blk {
    struct rec *rec;
    uint32_t slot;
    uint8_t *plain;
    size_t plain_len;
    mv_buf p;       /* zstd(plain) */
    int level;      /* zstd level: a part of the dedup format, per kind of record */
    uint8_t fp[32];
    size_t u;       /* index into the unique table */
};

struct uniq {
    uint8_t fp[32], key[32], tag[32], token[32];
    size_t first;   /* the first block with this fingerprint */
    uint8_t *c;
    size_t c_len;
    int exists;
    uint64_t issued;
    uint8_t nonce[16], challenge[32];
};

/* One batch of blocks on their way to the storage server. */
struct batch {
    struct blk *blks;
    size_t n_blks, cap_blks;
    size_t batch_bytes;
    struct uniq *u;
    size_t n_u;
};

struct put {
    mv_client *c;
    mv_put_fn fn;
    void *fn_ctx;
    mv_put_stats *st;
    struct rec **recs;   /* every input, in order */
    size_t n_recs, cap_recs, next_report;
    /* Two batches: the main thread reads, splits, chunks and compresses into *fill while a
     * worker thread commits the other (keys, tokens, dupcheck, upload, seal, store), so the
     * round trips of one batch overlap the local work of the next. */
    struct batch bt[2];
    struct batch *fill;
    pthread_t worker;
    int busy;            /* the worker runs; only the main thread reads or writes this */
    mv_err worker_rc;
    struct batch *running;
    size_t upto;         /* the batch running covers records [0, upto): all wholly ingested */
    /* report() runs on both threads. */
    pthread_mutex_t mu;
    /* Input problems found by the main thread while the worker may be writing c->err: copied
     * there when the worker is joined. */
    char ingest_err[sizeof ((mv_client *)0)->err];
    uint64_t total_bytes, done_bytes;
    mv_err first_err;
    /* opt.patient with a delegation: every record is written for this patient and episode. */
    int for_patient;
    uint8_t pat_sign[32], pat_box[32], episode[16];
    uint8_t dg[MV_DELEGATION_MAX_BYTES];
    size_t dglen;
    /* MRNs named by FHIR subjects (without opt.patient), each looked up once per put. */
    struct mrn_seen {
        char mrn[32];
        int registered; /* 1 registered, 0 not, -1 the hospital refused the look-up */
    } *mrns;
    size_t n_mrns, cap_mrns;
    int have_keyset;
    uint8_t kid[16], K[32]; /* the reader set's keyset (decision 0010); K wiped at the end */
    /* FHIR identity (put_fhir.c), shared by a put's runs: */
    struct put_fhir *fx;
    int sub;             /* a registered patient's run of deferred records */
};


#define NO_DELEGATION_FMT "no delegation from patient %s for you: the patient signs one at the appointment"

/* ---- put_plan.c ---- */
/* Adds path (a file, or a directory walked recursively in name order) to P's records. A path
 * that cannot be read is added as a record that has already failed (reported, counted), so
 * the others are still stored. Returns MV_ERR_NOMEM or MV_ERR_TOO_LARGE (nesting, path). */
mv_err mvc_put_expand(struct put *P, const char *path, int depth);
/* *reg: 1 if doc's subject is a registered patient, -1 if the hospital refused to say, 0
 * otherwise. Each MRN is asked once per put. Returns a service failure. */
mv_err mvc_put_subject_registered(struct put *P, const mv_json *doc, int *reg, char mrn[32]);
/* The same for an MRN. */
mv_err mvc_put_mrn_registered(struct put *P, const char *mrn, int *reg);
/* opt.patient: looks the MRN up and, if registered, takes the delegation the hospital handed
 * this doctor (and its department); saved_dept receives the department to restore. */
mv_err mvc_put_prepare_patient(struct put *P, const char *mrn, char saved_dept[64]);
/* Adds a record for path (label) to P: src/off/len name its bytes (src NULL: path itself). */
mv_err mvc_put_add_rec(struct put *P, const char *label, uint64_t size, struct rec **out);

/* ---- put_fhir.c ---- */
/* The state a put's runs share: the local index, versions decided in this put, the Patient
 * links found in its inputs, entries waiting to be added to the index. */
struct put_fhir;
mv_err mvc_put_fhir_begin(struct put *P);
void mvc_put_fhir_end(struct put *P);
/* 1 if path names an NDJSON file (.ndjson, .jsonl). */
int mvc_put_is_ndjson(const char *path);
/* 1 if doc is a Bundle stored entry by entry (transaction, batch, collection, searchset). */
int mvc_put_bundle_splits(const mv_json *doc);
/* Expands container P->recs[idx] (an NDJSON file; or a Bundle, doc) into one record per
 * resource right after it, and marks it a container. Joins the worker first. */
mv_err mvc_put_expand_ndjson(struct put *P, size_t idx);
mv_err mvc_put_expand_bundle(struct put *P, size_t idx, const mv_json *doc);
/* Reads the inputs' Patient resources for their MRN identifiers (Patient id -> MRN). */
mv_err mvc_put_prescan(struct put *P);
/* The MRN of the registered-or-not patient r's resource is about ("" if none known). */
void mvc_put_patient_of(struct put *P, struct rec *r, char mrn[32]);
/* Splits doc into sp and decides the version of r (r->facts filled): r->outcome UNCHANGED
 * (nothing to store), or CREATED/UPDATED with r->version, the facts' version_id/last_updated
 * and sp's envelope stamped with them (version 0 when r has no logical id: stored as it is). */
mv_err mvc_put_version(struct put *P, struct rec *r, const mv_json *doc, mv_fhir_split *sp);
/* Brings the local index up to date, once per put (joins the worker first: its failure is
 * returned; the sync's own failure is only logged). */
mv_err mvc_put_sync_once(struct put *P);
/* A stored record's index entry, queued; mvc_put_index_flush writes the queue. */
mv_err mvc_put_index_note(struct put *P, struct rec *r);
mv_err mvc_put_index_flush(struct put *P);

/* ---- put.c ---- */
/* 1 if the file looks like JSON (first non-blank byte '{' or a .json name). */
int mvc_put_looks_json(const char *path, const uint8_t *head, size_t len);
/* Waits for the batch being committed, reports what finished; the worker's result. */
mv_err mvc_put_join_worker(struct put *P);

/* ---- put_toprf.c ---- */
/* MLE keys of the batch's unique blocks: the local cache first, the threshold VOPRF for the
 * rest. */
mv_err mvc_put_derive_keys(struct put *P, struct batch *B);
/* Department tokens for the batch's blocks from the hospital (TokenGen). */
mv_err mvc_put_get_tokens(struct put *P, struct batch *B);
/* POSTs body to base + path and parses the JSON answer into *root (what names the service
 * in errors). */
mv_err mvc_put_post_json(struct put *P, const char *base, const char *path, const char *what, const mv_buf *body,
                         mv_json **root);

/* ---- put_upload.c ---- */
/* Adds one block of record r at slot to the batch being filled (data copied). */
mv_err mvc_put_add_block(struct put *P, struct rec *r, uint32_t slot, const uint8_t *data, size_t len);
/* Frees a batch's blocks, wiping keys and plaintext; the batch is reusable. */
void mvc_put_batch_free(struct batch *B);
/* mvc_parallel task: compresses block i of the batch ctx. */
mv_err mvc_put_task_compress(void *ctx, size_t i);
/* Commits a compressed batch: MLE keys, encryption, tokens, dupcheck, FileStore, then seals
 * and stores the records it completed. Worker thread; B is emptied whatever happens. */
mv_err mvc_put_commit(struct put *P, struct batch *B);
/* Counts r as finished (stored or failed). Either thread; r must be in this thread's hands. */
void mvc_put_report(struct put *P, struct rec *r);
/* Calls fn for every finished record at the front of the input order. Main thread, with the
 * worker joined. */
void mvc_put_report_in_order(struct put *P);

#endif
