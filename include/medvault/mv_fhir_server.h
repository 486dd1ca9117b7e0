/* mv_fhir_server.h - `medvault fhir serve`: a FHIR R4 REST server on loopback over the client
 * library (docs/fhir-server.md). Every FHIR tool can then read and write the user's records,
 * which are decrypted only in this process and stored encrypted and deduplicated as ever.
 *
 * Interactions (application/fhir+json only): GET /metadata (CapabilityStatement), read,
 * vread, create (POST /Type), update (PUT /Type/id, If-Match: W/"n"), history of an
 * instance (GET /Type/id/_history), and search of a type (GET /Type?...) by _id, patient,
 * subject, _lastUpdated, date, code and status with _count/_offset paging. Built in:
 * GET /healthz, and GET /metrics (request counts and latencies only, and only with the
 * token: even they tell one person's record activity).
 *
 * Access control:
 *   - it listens on a 127.x.y.z address only, and refuses a Host header other than its
 *     own address or localhost (421: DNS rebinding);
 *   - every request but /healthz must carry "Authorization: Bearer T", T the
 *     session token made at start (32 random bytes in hex, compared in constant time,
 *     written to token_file with mode 0600 or printed), else 401 with an OperationOutcome;
 *   - a body over 64 KiB is buffered only for a request that carries the token; no body
 *     over MV_FHIR_SERVER_BODY_MAX (413).
 * Requests are served one at a time (one client handle behind a mutex). */
#ifndef MV_FHIR_SERVER_H
#define MV_FHIR_SERVER_H

#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest request body (a resource to create or update). */
#define MV_FHIR_SERVER_BODY_MAX ((size_t)16 << 20)
/* Paging of a search: _count when absent, and its largest accepted value. */
#define MV_FHIR_SERVER_PAGE_DEFAULT 50u
#define MV_FHIR_SERVER_PAGE_MAX 1000u
/* A search syncs the local index with the storage server at most this often, so that the
 * pages of one search (followed within this time) see one index. */
#define MV_FHIR_SERVER_SYNC_SECONDS 5u
/* Open connections the server holds at once. */
#define MV_FHIR_SERVER_MAX_CONNECTIONS 64u

typedef struct mv_fhir_server_config {
    const char *deployment_path; /* the deployment file (required) */
    const char *user_dir;        /* the user's keys and credential (required) */
    const char *listen;          /* "127.x.y.z:PORT" (PORT 0 = any free port); NULL = "127.0.0.1:0" */
    const char *port_file;       /* if set, the bound port is written there once listening */
    const char *token_file;      /* if set, the token is written there (0600, replaced atomically)
                                    instead of printed */
    const char *token;           /* fixed token (tests; 32..256 characters of [A-Za-z0-9._-]);
                                    NULL = 32 random bytes in hex */
} mv_fhir_server_config;

/* Opens the client (so a bad deployment or identity fails at once), starts the server, writes
 * the token file (if any), prints one line on stdout (flushed),
 *   "medvault fhir: serving http://ADDR:PORT token T"   (without token_file)
 *   "medvault fhir: serving http://ADDR:PORT token-file F"   (with it)
 * writes the port file, and serves until SIGTERM or SIGINT, then shuts down cleanly (requests
 * in flight are answered).
 * Errors: MV_ERR_INVAL (NULL config or fields, a non-loopback listen address, a bad token),
 * what mv_client_open returns (the reason is logged), MV_ERR_NET (cannot listen), MV_ERR_IO
 * (the token file), MV_ERR_NOMEM, MV_ERR_CRYPTO (no randomness). */
MV_API mv_err mv_fhir_server_run(const mv_fhir_server_config *cfg) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
