/* storage_guard.h - the guard's state shared by its modules (storage_guard.c: decisions on
 * requests, forwarding to the decoy cloud, the shape pusher, lifecycle; storage_guard_state.c:
 * the honeytoken and profile files; storage_guard_honey.c: planting and listing honeytokens).
 * The pure decisions and the hooks the server calls are declared in storage_internal.h.
 * Internal to libmedvault. */
#ifndef MV_STORAGE_GUARD_H
#define MV_STORAGE_GUARD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "medvault/mv_alert.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "storage_internal.h"

#define GUARD_MAX_PROFILES 100000   /* principals with a profile; more are judged by the floor */
#define GUARD_MAX_HONEYTOKENS 10000
#define GUARD_PLANT_MAX 100         /* honeytokens per POST /v1/honeytokens */
#define GUARD_QUEUE_MAX ((size_t)1 << 20) /* record ids waiting for their shape push */
#define GUARD_PUSH_BATCH 256        /* shapes per POST /v1/decoy/shapes */
#define GUARD_PUSH_BACKOFF_MAX 30   /* seconds between failed pushes, at most */
#define GUARD_FORWARD_TIMEOUT_MS 10000L
#define GUARD_STATE_MAX ((size_t)64 << 20) /* cap on the honeytokens / profiles files */
#define GUARD_ALERT_WINDOW 60       /* seconds the reporter coalesces repeats */
/* Requests of unverified callers forwarded per source address: a token bucket (per second,
 * burst) in a table of GUARD_ADDR_SLOTS addresses, so nobody can make the decoy cloud invent
 * decoys (about 15 ms each) without bound. Beyond it: 503, as a busy server answers. */
#define GUARD_UNVERIFIED_RATE 10.0
#define GUARD_UNVERIFIED_BURST 40.0
#define GUARD_ADDR_SLOTS 4096

typedef struct honeytoken {
    uint8_t id[16];
    char dept[MV_CRED_MAX_DEPT_LEN + 1];
    uint64_t created;
} honeytoken;

struct storage_guard {
    storage_srv *s;
    guard_params gp;
    mv_identity *id;               /* NULL: no identity (no forwarding, alerts only logged) */
    mv_alert_reporter *alerts;     /* NULL: alerts only logged */
    char honey_path[4096], prof_path[4096];

    pthread_mutex_t lock;          /* profiles and honeytokens */
    guard_profile *prof;           /* sorted by subject */
    size_t n_prof, cap_prof;
    int prof_dirty;
    honeytoken *ht;                /* sorted by id */
    size_t n_ht;

    pthread_mutex_t alock;         /* the per-address budget of unverified forwards */
    struct addr_bucket {
        char addr[48];
        double tokens;
        double last;               /* CLOCK_MONOTONIC seconds of the last refill */
    } *buckets;                    /* GUARD_ADDR_SLOTS, open addressing by a keyed hash */
    uint8_t addr_key[16];
    unsigned unverified_in_flight, unverified_max; /* forwards of unverified callers (alock) */

    pthread_mutex_t qlock;         /* the shape queue and the pusher's life */
    pthread_cond_t qcond;
    uint8_t (*queue)[16];
    size_t nq, capq;
    int stopping, pusher_started;
    pthread_t pusher;
};

/* Orders record ids (16 bytes) for qsort and bsearch. */
static inline int cmp_id16(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

/* The profile of subject, created if missing (NULL when the table is full). Lock held. */
guard_profile *guard_profile_of(storage_guard *g, const uint8_t subject[32]);

/* The state files (storage_guard_state.c), written atomically: a crash leaves the old or the
 * new file. Saving: lock held. Loading: at start, before any thread; a missing file is an
 * empty set. Errors: MV_ERR_IO, MV_ERR_PARSE, MV_ERR_NOMEM, MV_ERR_TOO_LARGE. */
mv_err guard_save_honeytokens(storage_guard *g) __attribute__((warn_unused_result));
/* Appends {"honeytokens":[{"id","department","created"},...]}: the file's content and the
 * admin's GET /v1/honeytokens answer alike. Lock held. Errors: MV_ERR_TOO_LARGE, MV_ERR_NOMEM. */
mv_err guard_write_honeytokens(const storage_guard *g, mv_buf *b) __attribute__((warn_unused_result));
/* The array [{"id","department","created"},...] of ht[0..n): the state file's and the plant
 * answer's element format, written in one place. */
void guard_honeytokens_jw(mv_jw *w, const honeytoken *ht, size_t n);
mv_err guard_load_honeytokens(storage_guard *g) __attribute__((warn_unused_result));
mv_err guard_save_profiles(storage_guard *g) __attribute__((warn_unused_result));
mv_err guard_load_profiles(storage_guard *g) __attribute__((warn_unused_result));

#endif
