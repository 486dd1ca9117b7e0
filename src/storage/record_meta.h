/* record_meta.h - the record metadata of the storage server's answers (the JSON of
 * GET /v1/records, GET /v1/records/{id}/readers and GET /v1/stats, and the headers of
 * GET /v1/records/{id}), written in one place for both roles: the
 * primary (storage_records.c) and the decoy cloud (decoy_answers.c), whose answers must match
 * the primary's byte for byte. Internal to libmedvault. */
#ifndef MV_STORAGE_RECORD_META_H
#define MV_STORAGE_RECORD_META_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_decoy.h"
#include "medvault/mv_http.h"
#include "medvault/mv_json.h"
#include "medvault/mv_store.h"

/* One record's line of a listing (GET /v1/records). */
typedef struct storage_listing_entry {
    uint8_t id[16], owner[32], patient[32], episode[16]; /* patient, episode all zero: none */
    char dept[MV_STORE_DEPT_MAX + 1];
    uint64_t created, envelope_len, logical_bytes, n_tags; /* logical: envelope + blocks */
} storage_listing_entry;

/* info's line of a listing. */
void storage_listing_entry_of(const mv_store_record_info *info, storage_listing_entry *e);
/* Fills *info from the decoy shape s as the primary's store would report that record (its
 * metadata and sizes) with an empty ACL: the decoy adds the readers it shows. */
void storage_info_of_shape(const mv_decoy_shape *s, mv_store_record_info *info);

/* Appends the listing answer {"records":[...]} for v[0..n), sorted in place by creation time
 * then id: the one writer of both roles, so the decoy cloud's listings have the primary's
 * format and order. Errors: MV_ERR_TOO_LARGE (b's cap), MV_ERR_NOMEM. */
mv_err storage_write_listing(mv_buf *b, storage_listing_entry *v, size_t n) __attribute__((warn_unused_result));
/* Appends the readers answer (GET /v1/records/{id}/readers): {"id","owner","patient",
 * "episode","department","created","readers":[...]} from info (readers in info's order, owner
 * first). Both roles write it. Errors: MV_ERR_TOO_LARGE (b's cap), MV_ERR_NOMEM. */
mv_err storage_write_access(mv_buf *b, const mv_store_record_info *info) __attribute__((warn_unused_result));
/* Sets the headers of GET /v1/records/{id} in both roles: MV-Record-Owner, then
 * MV-Record-Patient and MV-Record-Episode only when the record has them (not all zero), as
 * lowercase hex. Errors: MV_ERR_INVAL (a header refused; the caller answers 500). */
mv_err storage_set_record_headers(mv_http_response *resp, const uint8_t owner[32], const uint8_t patient[32],
                                  const uint8_t episode[16]) __attribute__((warn_unused_result));
/* Appends the stats answer (GET /v1/stats, fields in docs/api.md) for st: the primary's real
 * numbers and the decoy cloud's invented ones alike. Each savings is 1 - physical/logical
 * with 4 decimals (0 when nothing is stored). Errors: MV_ERR_TOO_LARGE, MV_ERR_NOMEM. */
mv_err storage_write_stats(mv_buf *b, const mv_store_stats *st) __attribute__((warn_unused_result));

/* The batch answers of PUT /v1/records, PUT /v1/blocks and POST /v1/dupcheck,
 * {"results":[...]}, one element per item in request order; the decoy's answers use the same
 * calls so the two clouds cannot differ in a byte. storage_results_open starts w on b and
 * opens the array; storage_results_close closes it and returns mv_jw_finish. */
void storage_results_open(mv_jw *w, mv_buf *b);
mv_err storage_results_close(mv_jw *w) __attribute__((warn_unused_result));
/* One element {"id":hex,"status":status}, without "id" when id is NULL (blocks). */
void storage_result_status(mv_jw *w, const uint8_t *id, const char *status);
/* The dupcheck element of a token the cloud does not hold: {"exists":false}. */
void storage_result_absent(mv_jw *w);

#endif
