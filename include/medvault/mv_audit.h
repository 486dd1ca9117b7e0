/* mv_audit.h - a tamper-evident, hash-chained audit log with signed checkpoints.
 *
 * Every daemon keeps one log, DIR/audit/audit.log: JSON lines, one per entry, each chained to
 * the previous one by
 *     hash = SHA-256("medvault-audit-v1" || prev_hash(32 bytes) || line without its hash member)
 * (prev_hash of the first line: 32 zero bytes), and every checkpoint_entries entries, every
 * checkpoint_seconds with new entries and at close a checkpoint line signs the chain's head
 * with the daemon's Ed25519 key. Editing, deleting, inserting or reordering any line before
 * the last checkpoint breaks the chain or a signature and is found by mv_audit_verify_*.
 * Entries after the last checkpoint are covered by the chain only (a truncation there is not
 * detectable from the file alone); a truncation that also removes checkpoints needs an
 * external copy of the last checkpoint (docs/audit.md). Line format: docs/audit.md.
 *
 * Entries never contain request bodies or query strings: principal (a public key), address,
 * action ("METHOD /path"), result (status) and a short note token. */
#ifndef MV_AUDIT_H
#define MV_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_AUDIT_DEFAULT_CHECKPOINT_ENTRIES 256
#define MV_AUDIT_DEFAULT_CHECKPOINT_SECONDS 60
#define MV_AUDIT_COMPONENT_MAX 31 /* [a-z0-9_-], 1..31 characters */
#define MV_AUDIT_ACTION_MAX 255   /* longer actions are cut (and end in "...") */
#define MV_AUDIT_NOTE_MAX 63      /* [a-z0-9:_.-] */
#define MV_AUDIT_LINE_MAX 2048    /* no valid line is longer (verify refuses longer ones) */
#define MV_AUDIT_FETCH_MAX 10000  /* lines per mv_audit_read / GET /v1/audit page */

typedef struct mv_audit mv_audit;

typedef struct mv_audit_options {
    uint64_t checkpoint_entries; /* entries between checkpoints; 0 = 256 */
    double checkpoint_seconds;   /* a checkpoint this long after new entries; 0 = 60; < 0 = never
                                    (tests) */
    double sync_seconds;         /* fdatasync at most this long after an entry; 0 = 1 */
} mv_audit_options;

/* Opens (or creates) dir/audit/audit.log (the directory 0700, the file 0600) for component,
 * signing checkpoints with sk (64-byte libsodium form; copied into locked memory, the caller
 * keeps and wipes its own copy). opt may be NULL (defaults).
 * A new log starts with a genesis line naming the component and the public key. An existing
 * log is verified in full before anything is appended: a torn final line (no newline: a crash
 * during a write) is cut off and the cut is logged as an event entry; a log whose genesis key
 * is not sk's public key (the daemon's key changed) is renamed to audit.log.<time> and a new
 * log starts whose genesis names the old log's last hash. Starts a background thread (with
 * every signal blocked) that fdatasyncs and writes time-based checkpoints.
 * Holds an exclusive lock (flock on dir/audit/lock) until close.
 * Errors: MV_ERR_INVAL (NULL, bad component), MV_ERR_BUSY (another process has the log open),
 * MV_ERR_VERIFY (the existing log fails
 * verification: logged with the seq and reason; nothing is changed), MV_ERR_IO, MV_ERR_NOMEM,
 * MV_ERR_CRYPTO. */
MV_API mv_err mv_audit_open(const char *dir, const char *component, const uint8_t sk[static 64],
                            const mv_audit_options *opt, mv_audit **out) __attribute__((warn_unused_result));

/* Appends one request entry. Thread-safe (one mutex; one write(2) per line). principal is 32
 * bytes or NULL (unknown); address, action, note may be NULL (""). action is cut to
 * MV_AUDIT_ACTION_MAX bytes and control bytes in it are escaped; a note with characters
 * outside [a-z0-9:_.-] or longer than MV_AUDIT_NOTE_MAX is recorded as "invalid-note".
 * Writes a checkpoint after every checkpoint_entries entries (with fdatasync).
 * Errors: MV_ERR_INVAL (a NULL), MV_ERR_IO (the write failed: the file is cut back to its
 * last whole line; if even that fails the log refuses every later append with
 * MV_ERR_BAD_STATE), MV_ERR_NOMEM. */
MV_API mv_err mv_audit_append(mv_audit *a, const uint8_t *principal, const char *address, const char *action, int result,
                              const char *note) __attribute__((warn_unused_result));

/* Writes a checkpoint now if entries were appended since the last one (else does nothing),
 * and fdatasyncs. Thread-safe. Errors: MV_ERR_INVAL, MV_ERR_IO, MV_ERR_BAD_STATE, MV_ERR_CRYPTO. */
MV_API mv_err mv_audit_checkpoint(mv_audit *a) __attribute__((warn_unused_result));

/* Appends raw lines seq from..from+limit-1 (those that exist; limit capped at
 * MV_AUDIT_FETCH_MAX) to out, each ending in '\n'. Thread-safe.
 * Errors: MV_ERR_INVAL, MV_ERR_IO, MV_ERR_TOO_LARGE (out's cap), MV_ERR_NOMEM. */
MV_API mv_err mv_audit_read(mv_audit *a, uint64_t from, uint64_t limit, mv_buf *out)
    __attribute__((warn_unused_result));

/* Number of lines in the log (the next seq). */
MV_API uint64_t mv_audit_count(mv_audit *a);

/* Writes a final checkpoint, fdatasyncs, stops the thread, closes the file and frees a (wiping
 * the key). Accepts NULL. Call after every appender stopped. */
MV_API void mv_audit_close(mv_audit *a);

/* Loads the Ed25519 signing key of a daemon without an identity from path (a 32-byte seed,
 * mode 0600), creating it with a fresh random seed on first use, into sk (64 bytes).
 * Errors: MV_ERR_INVAL, MV_ERR_AUTH (the file is readable by group or others), MV_ERR_PARSE
 * (not 32 bytes), MV_ERR_IO, MV_ERR_NOMEM, MV_ERR_CRYPTO. sk is wiped on failure. */
MV_API mv_err mv_audit_key_load(const char *path, uint8_t sk[static 64]) __attribute__((warn_unused_result));

/* What verification found. */
typedef enum mv_audit_problem {
    MV_AUDIT_OK = 0,
    MV_AUDIT_BAD_LINE = 1,  /* not a line of this format (or not canonical) */
    MV_AUDIT_HASH = 2,      /* the line's hash does not match its content and the chain */
    MV_AUDIT_SEQ = 3,       /* a line is missing or out of order (seq gap) */
    MV_AUDIT_SIG = 4,       /* a checkpoint's signature, count or head is wrong */
    MV_AUDIT_KEY = 5,       /* the log is signed by another key than the expected one */
    MV_AUDIT_GENESIS = 6,   /* missing or misplaced genesis line */
    MV_AUDIT_TORN = 7,      /* the last line has no newline (crash before restart, or a cut) */
    MV_AUDIT_EMPTY = 8,     /* no lines at all */
} mv_audit_problem;

typedef struct mv_audit_report {
    uint64_t lines;            /* lines read and found valid before any problem */
    uint64_t entries;          /* request and event entries among them */
    uint64_t checkpoints;      /* checkpoints among them */
    uint64_t last_checkpoint;  /* seq of the last valid checkpoint (0 if none) */
    uint64_t unsigned_tail;    /* valid lines after the last checkpoint (a warning) */
    char component[MV_AUDIT_COMPONENT_MAX + 1];
    uint8_t key[32];           /* the genesis key */
    uint8_t head[32];          /* hash of the last valid line */
    uint8_t checkpoint_head[32]; /* hash of the last valid checkpoint line: the external anchor */
    mv_audit_problem problem;
    uint64_t bad_seq;          /* seq (line index from 0) where the problem was found */
    char reason[160];          /* human-readable; never line content */
} mv_audit_report;

/* Verifies a whole log held in data[0..len). expect_key (32 bytes) may be NULL: then the
 * genesis key is trusted (compare it out of band). Fills rep (always).
 * Returns MV_OK (the log is valid; rep->unsigned_tail may be non-zero), MV_ERR_VERIFY (a
 * problem: rep->problem, bad_seq, reason), MV_ERR_INVAL, MV_ERR_NOMEM, MV_ERR_CRYPTO. */
MV_API mv_err mv_audit_verify_buf(const uint8_t *data, size_t len, const uint8_t *expect_key, mv_audit_report *rep)
    __attribute__((warn_unused_result));

/* As mv_audit_verify_buf on the file at path (read whole, at most 4 GiB).
 * Additional errors: MV_ERR_NOT_FOUND, MV_ERR_IO, MV_ERR_TOO_LARGE. */
MV_API mv_err mv_audit_verify_file(const char *path, const uint8_t *expect_key, mv_audit_report *rep)
    __attribute__((warn_unused_result));

/* Static name of a problem ("ok", "hash mismatch", "seq gap", ...). */
MV_API const char *mv_audit_problem_name(mv_audit_problem p);

#ifdef __cplusplus
}
#endif
#endif
