/* mv_fhir.h - splitting FHIR R4 records into an envelope and shareable content blocks, and
 * joining them back (docs/records.md).
 *
 * A resource's envelope holds its identity and per-visit fields (who, when, where, free
 * text); its content block holds the clinical content that repeats across patients (drug,
 * dosage, codes), so that two patients' prescriptions of the same drug and dosage give
 * byte-identical content blocks. Which top-level fields are envelope is read from a profile
 * per resource type (data/fhir-profiles.json, built into the library); a type without a
 * profile is envelope only. Whatever a profile says, these stay in the envelope: resourceType,
 * id, meta, implicitRules, language, text, contained, identifier, extension,
 * modifierExtension, and every member whose name starts with '_' (FHIR's extensions of
 * primitive values).
 *
 * Everything here is canonical JSON (mv_canon.h), and the invariant is
 *   mv_fhir_join(mv_fhir_split_doc(x)) == mv_canon(x), byte for byte. */
#ifndef MV_FHIR_H
#define MV_FHIR_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"
#include "medvault/mv_json.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Hard caps: a profile file's size, and each split buffer's size (also the parse cap of
 * every text mv_fhir_join reads). */
#define MV_FHIR_PROFILES_MAX_BYTES ((size_t)1 << 20)
#define MV_FHIR_MAX_BYTES ((size_t)64 << 20)
/* Caps inside a profile file. */
#define MV_FHIR_PROFILE_MAX_TYPES 1024
#define MV_FHIR_PROFILE_MAX_FIELDS 512 /* per type */
#define MV_FHIR_PROFILE_MAX_NAME 64    /* bytes of a type name or of one path segment */
#define MV_FHIR_PROFILE_MAX_SEGMENTS 8 /* segments of a dotted path */

/* The slot of a single resource's content block (a Bundle's blocks have the entry index). */
#define MV_FHIR_SLOT_ROOT UINT32_MAX

/* Parsed split profiles: immutable once built, so one may be shared by several threads. */
typedef struct mv_fhir_profiles mv_fhir_profiles;

/* The profiles built into the library (data/fhir-profiles.json at build time). The caller
 * owns *out (mv_fhir_profiles_free). Errors: MV_ERR_NOMEM, MV_ERR_INVAL (NULL out). */
MV_API mv_err mv_fhir_profiles_default(mv_fhir_profiles **out) __attribute__((warn_unused_result));

/* Parses a profile file's text[0..len):
 *   {"version":1, "default":PROFILE, "types":{"TypeName":PROFILE, ...}}
 *   PROFILE = {"envelope":"*"} (the whole resource is envelope) or
 *             {"envelope":["field", "dotted.path", ...]} (these top-level members, or these
 *             members of nested objects, are envelope; everything else is content).
 * Strict: every key above is required, no other key is accepted, version must be 1, a type
 * name is [A-Za-z][A-Za-z0-9]*, a path segment [A-Za-z_][A-Za-z0-9_]*, a path may not repeat
 * or lie under another listed path, and the caps above hold. On success the caller owns *out.
 * Errors: MV_ERR_PARSE (malformed JSON or any rule above), MV_ERR_TOO_LARGE (len above
 * MV_FHIR_PROFILES_MAX_BYTES or a cap above), MV_ERR_NOMEM, MV_ERR_INVAL (NULL arguments). */
MV_API mv_err mv_fhir_profiles_parse(const char *text, size_t len, mv_fhir_profiles **out)
    __attribute__((warn_unused_result));

/* Reads and parses the profile file at path (mv_fhir_profiles_parse).
 * Errors: those of mv_fhir_profiles_parse, MV_ERR_NOT_FOUND, MV_ERR_IO. */
MV_API mv_err mv_fhir_profiles_load(const char *path, mv_fhir_profiles **out) __attribute__((warn_unused_result));

/* Frees profiles. Accepts NULL. */
MV_API void mv_fhir_profiles_free(mv_fhir_profiles *p);

/* The result of a split. Owned by the caller: init before use, clear after. */
typedef struct mv_fhir_split {
    mv_buf envelope;  /* canonical JSON object */
    size_t n_blocks;  /* content blocks, in entry order */
    mv_buf *blocks;   /* blocks[i]: canonical JSON object (never empty) */
    uint32_t *slots;  /* slots[i]: MV_FHIR_SLOT_ROOT or the Bundle entry index */
    size_t cap_blocks; /* room in blocks and slots (internal) */
} mv_fhir_split;

/* Makes s empty. Allocates nothing. */
MV_API void mv_fhir_split_init(mv_fhir_split *s);
/* Frees (and wipes) everything s holds and leaves it empty. Accepts NULL. */
MV_API void mv_fhir_split_clear(mv_fhir_split *s);

/* Splits doc (read, never modified; it must stay alive during the call only) with profiles p
 * into out, whose previous contents are freed first.
 *   - A resource: out->envelope is its canonical form without its content members; if any
 *     content remains it is block 0 with slot MV_FHIR_SLOT_ROOT.
 *   - A Bundle (resourceType "Bundle"): all the Bundle's own members, and each entry's members
 *     other than "resource", are envelope. Entry i's resource (an object with a string
 *     resourceType; anything else stays in the envelope untouched) is split by its type's
 *     profile: its envelope part stays at entry[i].resource, and its content, if any, is a
 *     block with slot i. A Bundle inside an entry is split as a resource of type "Bundle".
 * A nested object named by a dotted path is split member by member: its envelope members
 * stay in the envelope, the rest go to the content block; a nested object with nothing for
 * one side is not written there at all (an empty one stays in the envelope); a dotted path
 * through a value that is not an object moves that whole value to the envelope.
 * On error out is left empty.
 * Errors: MV_ERR_PARSE (doc is not an object with a string resourceType),
 * MV_ERR_TOO_LARGE (a part exceeds MV_FHIR_MAX_BYTES, or a Bundle with 2^32-1 entries or more),
 * MV_ERR_NOMEM, MV_ERR_INVAL (NULL arguments). */
MV_API mv_err mv_fhir_split_doc(const mv_fhir_profiles *p, const mv_json *doc, mv_fhir_split *out)
    __attribute__((warn_unused_result));

/* mv_fhir_split_doc of doc as if its root meta.versionId and meta.lastUpdated were vid and lu
 * (stamp = 1; NULL: left out, and a meta left empty with them), in the same pass; with
 * stamp = 0 the envelope is doc's own. versionless (may be NULL) receives the envelope
 * without meta.versionId/lastUpdated (mv_fhir_restamp's rule), which with the blocks is the
 * resource's content independent of versioning (docs/fhir.md "Versions"). Only the root's
 * meta is stamped (not a Bundle entry's). Same errors as mv_fhir_split_doc, and MV_ERR_PARSE
 * for a meta that is not an object. On error out is empty and versionless unchanged or wiped. */
MV_API mv_err mv_fhir_split_stamped(const mv_fhir_profiles *p, const mv_json *doc, const char *vid, const char *lu,
                                   int stamp, mv_fhir_split *out, mv_buf *versionless)
    __attribute__((warn_unused_result));

/* Joins an envelope and its content blocks (all untrusted) and appends the canonical form
 * of the record to out (all or nothing). blocks[k][0..block_lens[k]) is merged into the
 * envelope at slots[k]: MV_FHIR_SLOT_ROOT is the envelope itself, i is entry[i].resource of
 * a Bundle envelope. Merging is deep: the same key on both sides is an error unless both
 * values are objects, which are then merged in turn. Blocks may come in any order. Each text
 * is parsed with mv_json_parse's default depth and node caps and MV_FHIR_MAX_BYTES.
 * Errors: MV_ERR_PARSE (a text is not valid JSON, the envelope is not an object with a
 * string resourceType, a block is not an object, a slot is out of range, not a Bundle entry
 * with an object resource, or given twice, or a key is on both sides and not an object on
 * both), MV_ERR_TOO_LARGE (a parse cap, or out's cap), MV_ERR_NOMEM, MV_ERR_INVAL (NULL
 * arguments with non-zero lengths or counts). */
MV_API mv_err mv_fhir_join(const uint8_t *envelope, size_t env_len, const uint8_t *const *blocks,
                           const size_t *block_lens, const uint32_t *slots, size_t n_blocks, mv_buf *out)
    __attribute__((warn_unused_result));

/* ---- a resource's identity and search facts (docs/fhir.md) ---- */

#define MV_FHIR_ID_MAX 64        /* FHIR R4 id: [A-Za-z0-9\-\.]{1,64} */
#define MV_FHIR_TYPE_MAX 64
#define MV_FHIR_FACT_MAX 192     /* bytes of a reference, a system|code, a display text */
#define MV_FHIR_IDENTIFIERS_MAX 8

/* What a resource says about itself, for the user's local index: copied out of the parsed
 * resource, each field NUL-terminated and empty when absent (or, for a search field, longer
 * than its room: such a value is not searchable rather than cut). */
typedef struct mv_fhir_identifier {
    char system[MV_FHIR_FACT_MAX];
    char value[MV_FHIR_ID_MAX + 1];
} mv_fhir_identifier;

typedef struct mv_fhir_facts {
    char type[MV_FHIR_TYPE_MAX + 1];
    char id[MV_FHIR_ID_MAX + 1];      /* empty: no id, or one that is not a FHIR id (id_invalid) */
    int id_invalid;                   /* the resource has an "id" that is not a valid FHIR id */
    char version_id[MV_FHIR_ID_MAX + 1];
    char last_updated[40];
    /* The patient the resource is about, as written: subject, patient or beneficiary
     * reference ("Patient/123", "urn:uuid:..."); a Patient names itself ("Patient/<id>"). */
    char patient[MV_FHIR_FACT_MAX];
    char date[40];                    /* the first clinical date or date-time it carries */
    char code[MV_FHIR_FACT_MAX];      /* "system|code" of the first coding of its main code */
    char display[MV_FHIR_FACT_MAX];   /* a human summary (code display, a patient's name); cut at a UTF-8 boundary */
    char status[40];                  /* status, or clinicalStatus's first code */
    size_t n_identifiers;             /* a Patient's identifiers (system, value), at most MV_FHIR_IDENTIFIERS_MAX */
    mv_fhir_identifier identifiers[MV_FHIR_IDENTIFIERS_MAX];
} mv_fhir_facts;

/* 1 if s[0..len) is a FHIR R4 id: 1 to 64 of [A-Za-z0-9-.]. */
MV_API int mv_fhir_id_ok(const char *s, size_t len);

/* Fills *out from doc (a parsed resource; read only). Never fails on content it does not
 * understand: what it cannot find stays empty.
 * Errors: MV_ERR_PARSE (doc is not an object with a string resourceType of at most
 * MV_FHIR_TYPE_MAX bytes), MV_ERR_INVAL (NULL). */
MV_API mv_err mv_fhir_facts_of(const mv_json *doc, mv_fhir_facts *out) __attribute__((warn_unused_result));

/* Appends to out the canonical JSON of doc with meta.versionId and meta.lastUpdated replaced
 * by version_id and last_updated (NULL: removed; meta itself is left out when nothing else is
 * in it). With both NULL this is the resource's content independent of versioning, which is
 * what decides whether a new version of it is a change (docs/fhir.md "Versions").
 * All or nothing. Errors: MV_ERR_PARSE (doc not an object, meta not an object),
 * MV_ERR_TOO_LARGE (out's cap), MV_ERR_NOMEM, MV_ERR_INVAL. */
MV_API mv_err mv_fhir_restamp(const mv_json *doc, const char *version_id, const char *last_updated, mv_buf *out)
    __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
