/* fhir_server_internal.h - what the FHIR server's files share (not installed). fhir_server.c
 * is the server: authentication, content negotiation, the router, OperationOutcome, read,
 * vread, create, update and the CapabilityStatement; fhir_server_bundle.c builds the Bundles
 * of search and history. */
#ifndef MV_CLIENT_FHIR_SERVER_INTERNAL_H
#define MV_CLIENT_FHIR_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "medvault/mv_client.h"
#include "medvault/mv_credential.h"
#include "medvault/mv_fhir_server.h"
#include "medvault/mv_buf.h"
#include "medvault/mv_http.h"

#include "loopback.h"

#define FS_COMPONENT "fhir"
#define FS_MEDIA "application/fhir+json"
/* The largest record read back into an answer (a FHIR record's own cap). */
#define FS_RECORD_MAX ((size_t)64 << 20)

struct fs {
    const mv_fhir_server_config *cfg;
    pthread_mutex_t lock; /* serialises every call into client (not thread-safe) */
    int ready;            /* set under lock once lb and base are filled in */
    mv_client *client;
    mv_credential cred;
    uint64_t last_open;
    double last_sync;     /* mv_mono_seconds of the last index sync, 0 = never */
    char token[MVC_LOOPBACK_TOKEN_MAX + 1];
    mvc_loopback lb;
    char base[48];        /* "http://127.x.y.z:PORT": fullUrl, Location and links start with it */
    char started[40];     /* the CapabilityStatement's date */
};

/* One request being answered. */
struct fs_req {
    struct fs *s;
    const mv_http_request *r;
    mv_http_response *resp;
};

/* ---- fhir_server.c ---- */
/* Answers status with an OperationOutcome of one error issue (code: a FHIR IssueType such as
 * "invalid", "not-found"; msg: never patient data). Never fails (falls back to a fixed body). */
void mvc_fs_outcome(mv_http_response *resp, int status, const char *code, const char *msg);
/* Sets status and the FHIR content type on a body already written. */
void mvc_fs_answer(mv_http_response *resp, int status);
/* Syncs the local index with the storage server unless that was done in the last
 * MV_FHIR_SERVER_SYNC_SECONDS. Caller holds s->lock. Errors: those of mv_client_index_sync. */
mv_err mvc_fs_sync(struct fs *s) __attribute__((warn_unused_result));
/* Writes FHIR instant last_updated ("YYYY-MM-DDThh:mm:ss[.sss]Z") as an HTTP-date (RFC 9110
 * section 5.6.7) into out; 0 on success, -1 if it is not such an instant. */
int mvc_fs_http_date(const char *last_updated, char *out, size_t cap);

/* ---- fhir_server_bundle.c ---- */
#define FS_VALUE_MAX 256  /* a search parameter's value, with its NUL */
#define FS_MAX_CMP 4      /* comparisons of one date parameter (a range takes two) */
#define FS_INSTANT_MAX 35 /* "YYYY-MM-DDThh:mm:ss.sssssssssZ" and a little */

enum cmp_op { OP_EQ, OP_GT, OP_GE, OP_LT, OP_LE };

/* One date comparison: the field's first strlen(v) characters against v, so a value of
 * lower precision ("2026-12") compares as the whole period it names (FHIR's implicit range). */
struct cmp {
    enum cmp_op op;
    char v[FS_INSTANT_MAX + 1];
};

/* The parameters of a search or history request, as understood. */
struct params {
    char id[FS_VALUE_MAX], patient[FS_VALUE_MAX], code[FS_VALUE_MAX], status[FS_VALUE_MAX];
    const char *patient_name; /* "patient" or "subject", as the client wrote it (for the links) */
    struct cmp updated[FS_MAX_CMP], date[FS_MAX_CMP];
    size_t n_updated, n_date;
    size_t count, offset;
};

/* Reads a NUL-terminated query string (what follows '?') into *p. history:
 * only the paging parameters apply. An unknown parameter is an error unless lenient (then
 * it is ignored). 0, or -1 with why[0..cap) set (names at most 31 characters of the
 * parameter, never its value). Fuzzed by tests/fuzz/fuzz_fhir_search.c. */
int mvc_fs_params_parse(const char *qs, int history, int lenient, struct params *p, char *why, size_t cap);
/* Writes base + path + "?" + p's parameters in a fixed order, then _count and _offset = offset,
 * values percent-encoded, into out (reset first): what mvc_fs_params_parse reads back as p. */
mv_err mvc_fs_page_url(const char *base, const char *path, const struct params *p, size_t offset, mv_buf *out)
    __attribute__((warn_unused_result));

/* GET /type?params: a searchset Bundle (docs/fhir-server.md, "Search"). */
void mvc_fs_search(struct fs_req *q, const char *type);
/* GET /type/id/_history: a history Bundle of every version, newest first. */
void mvc_fs_history(struct fs_req *q, const char *type, const char *id);

#endif
