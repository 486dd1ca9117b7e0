/* storage_internal.h - shared state and helpers of the storage server's modules
 * (storage.c: lifecycle, routing, metrics; storage_blocks.c: dupcheck and blocks;
 * storage_records.c: records, stats, gc). Internal to libmedvault. */
#ifndef MV_STORAGE_INTERNAL_H
#define MV_STORAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_auth.h"
#include "medvault/mv_http.h"
#include "medvault/mv_metrics.h"
#include "medvault/mv_storage.h"
#include "medvault/mv_store.h"

#define STORAGE_COMPONENT "storage"
#define STORAGE_POW_KEY_BYTES 32

typedef struct storage_srv {
    const mv_storage_config *cfg;
    mv_store *store;
    mv_auth_verifier *auth;
    mv_metrics *metrics;
    mv_http_server *http;
    uint8_t *pow_key; /* secure memory, STORAGE_POW_KEY_BYTES */
    mv_audit *audit;  /* the request log (mv_audit.h); borrowed by the HTTP server */
} storage_srv;

/* A bounds-checked little-endian reader over an untrusted frame. Every getter returns 0 on
 * success and -1 (consuming nothing) when the frame is too short. */
typedef struct storage_rd {
    const uint8_t *p;
    size_t len;
    size_t off;
} storage_rd;

void storage_rd_init(storage_rd *r, const uint8_t *p, size_t len);
size_t storage_rd_left(const storage_rd *r);
int storage_rd_bytes(storage_rd *r, size_t n, const uint8_t **out);
int storage_rd_u8(storage_rd *r, uint8_t *out);
int storage_rd_u32(storage_rd *r, uint32_t *out);
int storage_rd_u64(storage_rd *r, uint64_t *out);

/* Little-endian appends. */
mv_err storage_put_u32(mv_buf *b, uint32_t v) __attribute__((warn_unused_result));

/* Metrics are best effort: a full registry drops the sample, serving goes on. */
void storage_count(storage_srv *s, const char *name, const char *help, const char *labels, uint64_t n);
/* Refreshes the logical/physical/record gauges from mv_store_stats. */
void storage_update_gauges(storage_srv *s);

/* Copies a department name of dlen bytes from a frame into out (NUL-terminated). Returns 0
 * if it is 1..MV_CRED_MAX_DEPT_LEN bytes, -1 otherwise. Characters are not checked here: a
 * name is only ever compared with the credential's departments. */
int storage_dept_copy(char out[MV_CRED_MAX_DEPT_LEN + 1], const uint8_t *p, size_t dlen);

/* Answers a store failure that is not the caller's fault: 503 when busy or out of
 * memory, else 500. Logs the error code, nothing else. */
void storage_respond_store_error(mv_http_response *resp, mv_err rc, const char *what);

/* Sets an octet-stream or JSON answer whose body the handler built directly in resp->body. */
void storage_set_type(mv_http_response *resp, int status, const char *content_type);

void storage_handle_dupcheck(storage_srv *s, const mv_credential *cred, const mv_http_request *req,
                             mv_http_response *resp);
void storage_handle_blocks_put(storage_srv *s, const mv_credential *cred, const mv_http_request *req,
                               mv_http_response *resp);
void storage_handle_blocks_get(storage_srv *s, const mv_http_request *req, mv_http_response *resp);
void storage_handle_block_get(storage_srv *s, const char *hex, mv_http_response *resp);

void storage_handle_records_put(storage_srv *s, const mv_credential *cred, const mv_http_request *req,
                                mv_http_response *resp);
void storage_handle_record_get(storage_srv *s, const mv_credential *cred, const char *hex,
                               mv_http_response *resp);
void storage_handle_records_get(storage_srv *s, const mv_credential *cred, const mv_http_request *req,
                                mv_http_response *resp);
void storage_handle_records_list(storage_srv *s, const mv_credential *cred, mv_http_response *resp);
/* arg is "<32 hex>/readers". GET: the record's metadata and ACL (readers only); POST: an
 * MVA1 frame replacing the ACL (owner, patient or admin). */
void storage_handle_record_readers_get(storage_srv *s, const mv_credential *cred, const char *arg,
                                       mv_http_response *resp);
void storage_handle_record_readers_set(storage_srv *s, const mv_credential *cred, const char *arg,
                                       const mv_http_request *req, mv_http_response *resp);
void storage_handle_record_delete(storage_srv *s, const mv_credential *cred, const char *hex,
                                  mv_http_response *resp);
void storage_handle_stats(storage_srv *s, mv_http_response *resp);
void storage_handle_gc(storage_srv *s, const mv_credential *cred, mv_http_response *resp);

#endif
