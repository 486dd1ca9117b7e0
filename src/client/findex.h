/* findex.h - the user's local FHIR index (mv_fhirstore.h, docs/fhir.md "The local index"):
 * in memory, every entry with hash tables by record id and by logical id; on disk an
 * append-only file of sealed entries. Not installed. */
#ifndef MV_CLIENT_FINDEX_H
#define MV_CLIENT_FINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "client_internal.h"
#include "medvault/mv_fhir.h"
#include "medvault/mv_fhirstore.h"

enum { FS_TYPE, FS_ID, FS_UPDATED, FS_PATIENT, FS_MRN, FS_DATE, FS_CODE, FS_STATUS, FS_DISPLAY, FS_NAME, FS_N };

struct fx_ent {
    uint8_t rid[16];
    uint8_t digest[32]; /* HMAC of the versionless content (mvc_findex_digest); zero when none */
    uint32_t version;
    uint8_t kind;       /* MV_RECORD_FHIR, MV_RECORD_ATTACHMENT, 0 unreadable */
    uint8_t gone;       /* no longer listed, or deleted */
    uint8_t latest;
    uint64_t created;
    char *s[FS_N];      /* never NULL; "" when absent (into one allocation, strs) */
    char *strs;
};

/* What is added for one record. */
typedef struct fx_add {
    uint8_t rid[16];
    int kind;
    uint64_t created;
    uint32_t version;
    const uint8_t *digest;      /* may be NULL */
    const mv_fhir_facts *facts; /* may be NULL (attachments, unreadable) */
    const char *mrn;            /* a Patient's own MRN (its identifier in the hospital's system), or NULL */
    const char *name;           /* an attachment's name, or NULL */
} fx_add;

typedef struct mvc_findex mvc_findex;

/* Opens (loading, or creating) USER_DIR/fhir-index for c; idempotent (c->findex). A damaged
 * file is set aside as fhir-index.damaged and a new one started (sync rebuilds it). */
mv_err mvc_findex_get(mv_client *c, mvc_findex **out);
void mvc_findex_close(mvc_findex *x);
/* Appends the entries (one write, under flock) and applies them in memory. Never synced to
 * disk: the index is a cache of the storage server's records (docs/fhir.md). */
mv_err mvc_findex_add(mvc_findex *x, const fx_add *a, size_t n);
/* Marks the end of a put or sync (nothing to write: see findex.c). */
mv_err mvc_findex_flush(mvc_findex *x);
/* Marks records gone (appended and applied as mvc_findex_add). */
mv_err mvc_findex_drop(mvc_findex *x, const uint8_t *rids, size_t n);
/* A resource's content digest, from its split sp and its versionless envelope vless
 * (mv_fhir_split_stamped):
 *   HMAC-SHA-256(k_digest, SHA-256(len u64 || versionless envelope || per block: slot u32 ||
 *   len u64 || block)), big-endian. Equal iff the content (everything but meta.versionId and
 *   meta.lastUpdated) is, for one set of split profiles (a change of profiles may make an
 *   unchanged resource a new version once: harmless). */
mv_err mvc_findex_digest_split(mvc_findex *x, const mv_buf *vless, const mv_fhir_split *sp, uint8_t out[32]);
/* The same from the whole resource doc (split with p first). */
mv_err mvc_findex_digest(mvc_findex *x, const mv_fhir_profiles *p, const mv_json *doc, uint8_t out[32]);
/* The latest live version of Type/id, or NULL. */
const struct fx_ent *mvc_findex_latest(const mvc_findex *x, const char *type, const char *id);
/* The live entry of record rid, or NULL (gone entries too when with_gone). */
const struct fx_ent *mvc_findex_by_rid(const mvc_findex *x, const uint8_t rid[16], int with_gone);
/* The MRN a patient reference resolves to through a known Patient's identifier (or a
 * "Patient/MRN-..." reference itself), or NULL. */
const char *mvc_findex_mrn_of(const mvc_findex *x, const char *ref);
/* Every entry (live and gone), for scans. */
const struct fx_ent *mvc_findex_entries(const mvc_findex *x, size_t *n);
/* Fills the public view of e. */
void mvc_findex_view(const mvc_findex *x, const struct fx_ent *e, mv_fhir_entry *out);
/* meta.versionId as a version number: 1..2^32-1 written in decimal without leading zeros;
 * anything else (absent, a server's own scheme) counts as 1. */
uint32_t mvc_version_number(const char *vid);
/* The identifier system of the hospital's MRNs. */
const char *mvc_mrn_system(const mv_client *c);

#endif
