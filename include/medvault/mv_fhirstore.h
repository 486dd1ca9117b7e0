/* mv_fhirstore.h - the user's records as FHIR knows them: resource identity and versions,
 * and the local index that finds them (docs/fhir.md).
 *
 * A FHIR resource with an id is one logical resource, "Type/id"; each record that stores it
 * is one version, stamped with meta.versionId ("1", "2", ...) and meta.lastUpdated (FHIR
 * instant, UTC, milliseconds) inside the encrypted record: the storage server never sees a
 * type, an id or a version. Storing a resource again whose content (everything but
 * meta.versionId and meta.lastUpdated) is unchanged stores nothing.
 *
 * The local index (USER_DIR/fhir-index) lists what this user can read: for each record its
 * kind, type, logical id, version, patient reference, clinical date, code, status and a short
 * human summary, taken from the decrypted record. It is an append-only file of entries each
 * sealed with AES-256-GCM under a key derived from the user's X25519 secret, so it reveals
 * nothing but its size. It is a cache: mv_client_index_sync rebuilds it from the storage
 * server's listing and the records themselves, so losing or damaging it loses nothing.
 *
 * Entries handed to callbacks and *out below are borrowed from the client: valid until the
 * next call that stores, syncs or closes. */
#ifndef MV_FHIRSTORE_H
#define MV_FHIRSTORE_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The identifier system whose value is the hospital's MRN in a Patient resource
 * (docs/fhir.md "Patients as FHIR knows them"). */
#define MV_MRN_SYSTEM_DEFAULT "urn:medvault:mrn"

typedef struct mv_fhir_entry {
    uint8_t record_id[MV_CLIENT_ID_BYTES];
    int kind;          /* MV_RECORD_FHIR, MV_RECORD_ATTACHMENT, or 0: listed but not readable by this user */
    uint64_t created;  /* unix seconds (the record's) */
    uint32_t version;  /* meta.versionId of a FHIR resource with an id, else 0 */
    int latest;        /* 1: no later version of this logical id is known */
    /* "" when absent: */
    const char *type, *id, *last_updated; /* resourceType, logical id, meta.lastUpdated */
    const char *patient;                  /* the patient reference as written ("Patient/123") */
    const char *mrn;                      /* the MRN the patient reference resolves to, if known */
    const char *date, *code, *status, *display;
    const char *name;                     /* an attachment's file name */
} mv_fhir_entry;

typedef struct mv_fhir_query {
    const char *type;     /* resourceType; NULL: any (attachments included) */
    const char *id;       /* logical id */
    const char *patient;  /* an MRN, a Patient id, or a reference ("Patient/123", "urn:uuid:...") */
    const char *since;    /* meta.lastUpdated (or, for records without one, created) >= since (ISO 8601 date or instant) */
    const char *date_ge;  /* the clinical date's first 10 characters >= / <= these (YYYY-MM-DD...) */
    const char *date_le;
    const char *code;     /* "code" or "system|code" */
    const char *status;
    const char *text;     /* a substring (ASCII case-insensitive) of type, id, code, display or name */
    int all_versions;     /* 0: only the latest version of each logical id */
    int newest_first;     /* 0: by created, then record id */
    size_t offset, limit; /* paging; limit 0: no limit */
} mv_fhir_query;

/* Called once per entry; return non-zero to stop. */
typedef int (*mv_fhir_entry_fn)(void *ctx, const mv_fhir_entry *e);

typedef struct mv_index_sync_stats {
    uint64_t listed, fetched, removed, unreadable;
} mv_index_sync_stats;

/* Brings the local index up to date: lists the records this user may read at the storage
 * server, fetches and indexes those it does not know yet (refresh = 1: also those it could
 * not read before), and drops those no longer listed. st may be NULL.
 * Errors: those of mv_client_list_json and mv_client_get_many; MV_ERR_IO (the index file). */
MV_API mv_err mv_client_index_sync(mv_client *c, int refresh, mv_index_sync_stats *st) __attribute__((warn_unused_result));

/* Calls fn for every entry of the local index that matches q (q may be NULL: all readable
 * records), in q's order, from q->offset, at most q->limit. *total (may be NULL) receives
 * the number of matches before paging. Does not sync. */
MV_API mv_err mv_client_index_find(mv_client *c, const mv_fhir_query *q, mv_fhir_entry_fn fn, void *ctx, size_t *total)
    __attribute__((warn_unused_result));

/* The local index's entry for Type/id: version 0 the latest, else that version.
 * Errors: MV_ERR_NOT_FOUND, MV_ERR_INVAL. */
MV_API mv_err mv_client_fhir_lookup(mv_client *c, const char *type, const char *id, uint32_t version, mv_fhir_entry *out)
    __attribute__((warn_unused_result));

/* The local index's entry for a record id. Errors: MV_ERR_NOT_FOUND, MV_ERR_INVAL. */
MV_API mv_err mv_client_index_entry(mv_client *c, const uint8_t id[static MV_CLIENT_ID_BYTES], mv_fhir_entry *out)
    __attribute__((warn_unused_result));

/* Every known version of Type/id, newest first. Errors: MV_ERR_NOT_FOUND, MV_ERR_INVAL. */
MV_API mv_err mv_client_fhir_history(mv_client *c, const char *type, const char *id, mv_fhir_entry_fn fn, void *ctx)
    __attribute__((warn_unused_result));

typedef enum mv_fhir_outcome {
    MV_FHIR_CREATED = 1,   /* version 1 of a new logical id (or a record without an id) */
    MV_FHIR_UPDATED = 2,   /* a new version */
    MV_FHIR_UNCHANGED = 3, /* the content equals the latest version: nothing stored */
} mv_fhir_outcome;

typedef struct mv_fhir_put_result {
    mv_fhir_outcome outcome;
    uint8_t record_id[MV_CLIENT_ID_BYTES]; /* the version's record (the existing one if unchanged) */
    uint32_t version;
    char id[65];
    char last_updated[40];
} mv_fhir_put_result;

/* Stores one FHIR resource json[0..len) as mv_client_put stores a file (same patient rules:
 * a resource whose patient is a registered patient is written for that patient when the
 * hospital handed this user a delegation, and refused otherwise).
 *   create = 1: FHIR create: a new logical id is assigned (the body's id is ignored).
 *   create = 0: FHIR update of Type/id: the body's resourceType and id must be type and id
 *     (MV_ERR_INVAL otherwise); if_match > 0 requires the latest version to be if_match
 *     (MV_ERR_BAD_STATE otherwise, FHIR's 412), and if_match == 0 means no condition.
 * Errors: MV_ERR_PARSE (not a JSON resource), MV_ERR_INVAL, MV_ERR_BAD_STATE, MV_ERR_FORBIDDEN
 * (no delegation), and those of mv_client_put; last_error says why. */
MV_API mv_err mv_client_fhir_put(mv_client *c, const uint8_t *json, size_t len, int create, const char *type,
                                 const char *id, uint32_t if_match, mv_fhir_put_result *out)
    __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
