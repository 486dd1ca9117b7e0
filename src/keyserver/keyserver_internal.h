/* keyserver_internal.h - internal to src/keyserver: the server's state and what keyserver.c
 * (config, evaluate, router, start-up) and keyserver_dkg.c (DKG and proactive refresh: their
 * HTTP messages and the driver thread) share. Not installed, not part of the API. */
#ifndef MV_KEYSERVER_INTERNAL_H
#define MV_KEYSERVER_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_audit.h"
#include "medvault/mv_auth.h"
#include "medvault/mv_box.h"
#include "medvault/mv_dkg.h"
#include "medvault/mv_http.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_keyserver.h"
#include "medvault/mv_metrics.h"
#include "medvault/mv_revocation.h"
#include "ratelimit.h"

#define COMPONENT "keyserver"
#define MAX_T MV_KS_MAX_SERVERS
#define SEALED_SHARE_BYTES (32 + MV_BOX_SEAL_BYTES)

struct peer {
    uint32_t index;
    char url[256];
    uint8_t key[32]; /* Ed25519: signs its DKG messages */
    uint8_t xpk[32]; /* X25519 form of key: deals are sealed to it */
};

/* One DKG or refresh run. Guarded by ks->dkg_lock. Kept after finishing so that peers still
 * polling the status of this epoch get a stable answer. */
struct dkg_state {
    int active;        /* a run exists for `epoch` */
    uint64_t epoch;
    mv_dkg *dkg;
    int have[MAX_T + 1];
    int complained[MAX_T + 1]; /* I complained about this dealer and it is unresolved */
    unsigned deals;
    unsigned unresolved;
    int digest_ready;
    uint8_t digest[32];
    int failed;
    int finished;
    char reason[192];
};

struct ks {
    const mv_keyserver_config *cfg;
    mv_identity *id;
    uint8_t *xsk; /* secure memory: X25519 secret derived from the signing key */
    uint8_t xpk[32];
    struct peer peers[MAX_T];
    size_t n_peers;
    uint32_t my_index;
    uint32_t threshold;

    pthread_rwlock_t share_lock;
    mv_ks_share *share; /* secure memory; NULL until the key exists */

    pthread_mutex_t dkg_lock;
    struct dkg_state dkg;
    pthread_t dkg_thread;
    int dkg_thread_started;
    int dkg_thread_done;

    mv_auth_verifier *auth;
    mv_ratelimit *rl;
    mv_metrics *metrics;
    mv_audit *audit; /* the request log, signed with the identity key */
    volatile sig_atomic_t stopping;
};

/* Verifies a signed request; on failure writes the 401 (or 503) answer and returns non-zero
 * (keyserver.c). ks_authenticate_peer also requires the key server registered for `index`. */
int ks_authenticate(struct ks *ks, const mv_http_request *req, mv_http_response *resp,
                    mv_credential *cred);
int ks_authenticate_peer(struct ks *ks, const mv_http_request *req, mv_http_response *resp,
                         uint32_t index);

/* The DKG endpoints (keyserver_dkg.c): POST /v1/dkg/deal, POST /v1/dkg/reveal,
 * GET /v1/dkg/status, and POST /v1/admin/refresh (a hospital admin starts a refresh). */
void ks_handle_dkg_deal(struct ks *ks, const mv_http_request *req, mv_http_response *resp);
void ks_handle_dkg_reveal(struct ks *ks, const mv_http_request *req, mv_http_response *resp);
void ks_handle_dkg_status(struct ks *ks, const mv_http_request *req, mv_http_response *resp);
void ks_handle_refresh(struct ks *ks, const mv_http_request *req, mv_http_response *resp);

/* Starts a DKG (refresh 0) or refresh run for `epoch` on the driver thread, unless one is
 * running; called with no lock held. ks_join_dkg_thread waits for the driver at shut-down. */
void ks_start_dkg(struct ks *ks, uint64_t epoch, int refresh);
void ks_join_dkg_thread(struct ks *ks);

#endif
