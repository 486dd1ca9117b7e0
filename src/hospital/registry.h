/* registry.h - the hospital registry (internal to src/hospital): users, departments,
 * credentials issued, revocation state, appointments, delegations, the formulary and alerts,
 * in DIR/registry.db (SQLite, schema in db/migrations).
 *
 * One connection per registry handle, guarded by a mutex: every function here may be called
 * from any thread and runs under it, so each call is atomic with respect to the others in
 * this process; writes run in one IMMEDIATE transaction each, so another process (`medvault
 * up` registering the first admin) only ever sees whole changes. SQL is prepared with bound
 * parameters only.
 *
 * Errors that answer a client carry a short static message in *why (if why is not NULL):
 *   MV_ERR_INVAL (bad input, 400), MV_ERR_FORBIDDEN (403), MV_ERR_NOT_FOUND (404),
 *   MV_ERR_EXISTS / MV_ERR_BAD_STATE (409), MV_ERR_RATE_LIMITED (503, or 429 where a handler
 *   says so);
 * MV_ERR_IO (a database error), MV_ERR_BUSY (locked beyond busy_timeout), MV_ERR_NOMEM and
 * MV_ERR_TOO_LARGE (an answer over its buffer's cap) are the server's problems. */
#ifndef MV_HOSPITAL_REGISTRY_H
#define MV_HOSPITAL_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_auth.h"
#include "medvault/mv_buf.h"
#include "medvault/mv_delegation.h"
#include "medvault/mv_err.h"
#include "medvault/mv_json.h"

#define REGISTRY_NAME_MAX 128     /* user names, bytes */
#define REGISTRY_TEXT_MAX 256     /* email, phone, about, place, reason, descriptions */
/* Kiosk self-registrations (POST /v1/register) waiting for an admin: at most this many in all,
 * and from one source address; one still pending this long after it was made is deleted. */
#define REGISTRY_MAX_PENDING 1000
#define REGISTRY_MAX_PENDING_PER_SOURCE 50
#define REGISTRY_PENDING_SECONDS (24u * 3600u)
#define REGISTRY_SOURCE_MAX 63     /* bytes of a source address (IPv4 text needs 15) */
#define REGISTRY_DELEGATION_MAX_SECONDS (90u * 86400u)
#define REGISTRY_DIRECTORY_MAX 500

typedef struct registry registry;

/* A user's role: one of the credential roles (mv_role), limited to the people the registry
 * holds; the services (keyserver, storage) get credentials but are not registry users. The
 * values are bits, so that a set of roles (those who may call a route) is their OR. The
 * registry stores and the JSON API shows the names ("admin", ...). */
typedef mv_role registry_role;
#define REGISTRY_ROLE_NONE MV_ROLE_NONE
#define REGISTRY_ROLE_ADMIN MV_ROLE_ADMIN
#define REGISTRY_ROLE_DOCTOR MV_ROLE_DOCTOR
#define REGISTRY_ROLE_PATIENT MV_ROLE_PATIENT
#define REGISTRY_ROLES_ANY (REGISTRY_ROLE_ADMIN | REGISTRY_ROLE_DOCTOR | REGISTRY_ROLE_PATIENT)

/* The role named s ("admin", "doctor" or "patient"); REGISTRY_ROLE_NONE for any other text
 * (a service role too) or NULL. */
registry_role registry_role_of(const char *s);
/* The name of role; "" for REGISTRY_ROLE_NONE, a service role or a value that is not one
 * role. */
const char *registry_role_name(registry_role role);

typedef struct registry_user {
    int64_t id;
    uint8_t sign_pk[32];
    uint8_t box_pk[32];
    char name[REGISTRY_NAME_MAX + 1];
    registry_role role;
    char status[12]; /* pending | active | suspended | revoked */
    char mrn[16];    /* "" unless a patient */
    size_t n_departments;
    char departments[MV_CRED_MAX_DEPTS][MV_CRED_MAX_DEPT_LEN + 1];
    char email[REGISTRY_TEXT_MAX + 1];
    char phone[REGISTRY_TEXT_MAX + 1];
    char about[REGISTRY_TEXT_MAX + 1];
    uint64_t registered_at;
    /* The recipient key for sharing through the clouds (docs/pre.md 7.1) and the user's
     * signature over it; has_pre_key is 0 until her client publishes one. */
    int has_pre_key;
    uint8_t pre_pk[32];
    uint8_t pre_sig[64];
} registry_user;

/* Opens (creating if needed) DIR/registry.db: WAL, foreign keys on, busy_timeout 5000 ms,
 * synchronous FULL; applies every migration of mv_migrations[] not yet in
 * schema_migrations, each in one transaction; on the transaction that creates the schema,
 * imports DIR/users/<hex>.json files of older deployments (files left in place; a malformed
 * file is skipped with a warning). Errors: MV_ERR_INVAL (NULL), MV_ERR_BAD_STATE (the database
 * records a schema version newer than this binary knows: logged), MV_ERR_IO, MV_ERR_NOMEM,
 * MV_ERR_BUSY. *out is NULL on error. */
mv_err registry_open(const char *dir, registry **out) __attribute__((warn_unused_result));
/* Closes the database; accepts NULL. No call may be in progress. */
void registry_close(registry *r);
/* Highest applied migration version (0 if none). */
uint64_t registry_schema_version(registry *r);
/* Version number of a migration file name ("0001_x.sql" -> 1); 0 if it has no digits. */
uint64_t registry_migration_version(const char *name);

/* ---- validation (pure) ---- */
/* 1 if s is 1..REGISTRY_NAME_MAX bytes without control characters. */
int registry_name_ok(const char *s);
/* 1 if s is 1..MV_CRED_MAX_DEPT_LEN bytes of [A-Za-z0-9 _.-]. */
int registry_department_ok(const char *s);
/* 1 if s is NULL or at most max bytes without control characters. */
int registry_text_ok(const char *s, size_t max);
/* 1 if mrn has the form the registry gives today ("MRN-" + 10 digits) and its last digit is the
 * Luhn check digit of the nine before it; 0 otherwise (including the sequential "MRN-000001"
 * form given before issue 11, which stays valid for lookups). */
int registry_mrn_check_ok(const char *mrn);
/* 1 if an appointment may go from status `from` to `to` (requested->booked->checked_in->
 * completed; anything but completed and cancelled -> cancelled). */
int registry_appt_transition_ok(const char *from, const char *to);

/* ---- users ---- */
typedef struct registry_new_user {
    const char *name;
    const char *role;                /* admin | doctor | patient */
    const char *const *departments;  /* doctors need >= 1; created if missing */
    size_t n_departments;            /* <= MV_CRED_MAX_DEPTS */
    uint8_t sign_pk[32];
    uint8_t box_pk[32];
    const char *email, *phone;       /* NULL = "" */
    const char *status;              /* "active", or "pending" (self-registration) */
    const char *source;              /* a self-registration's source address (status pending,
                                        <= REGISTRY_SOURCE_MAX bytes), kept while it is pending;
                                        NULL for every other registration */
} registry_new_user;

/* Adds a user and, if cred_expires is not 0, logs the credential issued to it ('register'), in
 * one transaction; *out (if not NULL) receives the stored user. A patient gets a fresh random
 * MRN ("MRN-" + 9 random digits + a Luhn check digit), unique in the registry. A
 * self-registration (nu->source set) first deletes every user still pending at least
 * REGISTRY_PENDING_SECONDS after registering (as of `now`), then is refused while its source
 * has REGISTRY_MAX_PENDING_PER_SOURCE pending (MV_ERR_RATE_LIMITED) or REGISTRY_MAX_PENDING are
 * pending in all (MV_ERR_BUSY); other registrations are not limited. A doctor or admin needs a
 * name no doctor or admin that is not revoked holds (patients may share names). Errors:
 * MV_ERR_INVAL (fields), MV_ERR_EXISTS (key registered, or the staff name taken),
 * MV_ERR_RATE_LIMITED, MV_ERR_BUSY (also: no free MRN
 * in 16 random draws, or the database locked), MV_ERR_CRYPTO (no randomness), database errors. */
mv_err registry_user_add(registry *r, const registry_new_user *nu, uint64_t now, uint64_t cred_issued,
                         uint64_t cred_expires, registry_user *out, const char **why)
    __attribute__((warn_unused_result));
/* The user with signing key pk. MV_ERR_NOT_FOUND if none. */
mv_err registry_user_get(registry *r, const uint8_t pk[32], registry_user *out) __attribute__((warn_unused_result));
/* The user named by 64 hex digits (a signing key) or an MRN ("MRN-..."). MV_ERR_NOT_FOUND,
 * MV_ERR_INVAL (neither form). */
mv_err registry_user_find(registry *r, const char *key_or_mrn, registry_user *out) __attribute__((warn_unused_result));
/* Sets a user's status (pending|active|suspended|revoked); a real change bumps the revocation
 * serial in the same transaction. Suspending or revoking a member of a group needs an epoch
 * signer: see registry_user_set_status_groups (groups section). Errors: MV_ERR_INVAL (status,
 * or she has joined a group), MV_ERR_NOT_FOUND, MV_ERR_BAD_STATE (leaving revoked, or back to
 * pending). *out receives the user after the change. */
mv_err registry_user_set_status(registry *r, const uint8_t pk[32], const char *status, uint64_t now,
                                registry_user *out, const char **why) __attribute__((warn_unused_result));
/* Updates email/phone/about (NULL = unchanged; each <= REGISTRY_TEXT_MAX, no control chars). */
/* Stores (or replaces) user_id's recipient key and signature; the caller has verified both.
 * MV_ERR_NOT_FOUND for an unknown user, MV_ERR_INVAL (NULL), MV_ERR_IO, MV_ERR_BUSY. */
mv_err registry_pre_key_set(registry *r, int64_t user_id, const uint8_t pk[32], const uint8_t sig[64])
    __attribute__((warn_unused_result));
mv_err registry_profile_update(registry *r, int64_t user_id, const char *email, const char *phone,
                               const char *about, const char **why) __attribute__((warn_unused_result));
/* Logs a credential issued to user_id (reason "register" or "renew"). */
mv_err registry_credential_log(registry *r, int64_t user_id, uint64_t issued, uint64_t expires, const char *reason)
    __attribute__((warn_unused_result));
/* The sign keys of every suspended or revoked user (*keys: n*32 bytes, mv_free; NULL when n is 0)
 * and the current revocation serial, read in one transaction. */
mv_err registry_revocations(registry *r, uint8_t **keys, size_t *n, uint64_t *serial)
    __attribute__((warn_unused_result));

/* Appends the USER object of docs/api-hospital.md; with private set, email/phone/about too. */
void registry_user_jw(mv_jw *w, const registry_user *u, int private);
/* registry_user_jw as a whole document appended to b. */
mv_err registry_user_json(mv_buf *b, const registry_user *u, int private) __attribute__((warn_unused_result));
/* {"users":[USER...]}: name contains q (case-insensitive; NULL/"" = any), role and department
 * exact (NULL = any), at most limit (1..REGISTRY_DIRECTORY_MAX) by name. */
mv_err registry_directory_json(registry *r, const char *q, const char *role, const char *dept, size_t limit,
                               int private, mv_buf *b) __attribute__((warn_unused_result));

/* ---- departments ---- */
/* {"departments":[{"name","description","doctors":n,"patients":n}]} by name. */
mv_err registry_departments_json(registry *r, mv_buf *b) __attribute__((warn_unused_result));
/* Creates a department or updates its description (desc NULL = unchanged); *created 1/0. */
mv_err registry_department_put(registry *r, const char *name, const char *desc, uint64_t now, int *created,
                               const char **why) __attribute__((warn_unused_result));

/* ---- appointments ---- */
typedef struct registry_appt_change {
    const char *department;  /* NULL = unchanged */
    const uint8_t *doctor;   /* 32 bytes; NULL = unchanged */
    int set_starts_at;
    uint64_t starts_at;
    const char *place;       /* NULL = unchanged */
    const char *reason;      /* NULL = unchanged (only on create) */
    const char *status;      /* NULL = unchanged (update only) */
} registry_appt_change;

/* Creates an appointment for `patient` by actor (a patient for themself, or an admin):
 * requested, or booked when department, doctor, time and place are all set (the doctor must be
 * an active doctor of that department). id_out receives the 32 hex id. Errors: MV_ERR_INVAL,
 * MV_ERR_FORBIDDEN (role or not the patient themself), MV_ERR_NOT_FOUND. */
mv_err registry_appt_create(registry *r, const registry_user *actor, const registry_user *patient,
                            const registry_appt_change *c, uint64_t now, char id_out[33], const char **why)
    __attribute__((warn_unused_result));
/* Changes an appointment as actor: admins any field and status; the designated doctor status
 * checked_in|completed; the patient status cancelled. Errors: MV_ERR_NOT_FOUND (unknown or not
 * visible to actor), MV_ERR_FORBIDDEN, MV_ERR_INVAL, MV_ERR_BAD_STATE (transition). Each change
 * appends an appointment event. */
mv_err registry_appt_update(registry *r, const registry_user *actor, const char *id, const registry_appt_change *c,
                            uint64_t now, const char **why) __attribute__((warn_unused_result));
/* Appends the APPT object of id if viewer may see it (patients their own, doctors theirs and
 * their departments', admins all); MV_ERR_NOT_FOUND otherwise. */
mv_err registry_appt_json(registry *r, const registry_user *viewer, const char *id, mv_buf *b)
    __attribute__((warn_unused_result));
typedef struct registry_appt_filter {
    int64_t doctor_id;  /* 0 = any */
    int64_t patient_id; /* 0 = any */
    const char *department, *status; /* NULL = any */
} registry_appt_filter;
/* {"appointments":[APPT...]} visible to viewer, matching f, by starts_at (unset last). */
mv_err registry_appt_list_json(registry *r, const registry_user *viewer, const registry_appt_filter *f, mv_buf *b)
    __attribute__((warn_unused_result));

/* ---- delegations ---- */
/* Checks a patient-signed delegation against the registry (caller is d->patient, appointment is
 * theirs, booked or checked_in, d->doctor its designated active doctor, d->department its
 * department, 0 < expires_at - issued_at <= 90 days, expires_at > now), countersigns it with the
 * hospital key and stores it, in one transaction. *id_out receives its id. Errors:
 * MV_ERR_FORBIDDEN, MV_ERR_NOT_FOUND, MV_ERR_INVAL (window, bad patient signature),
 * MV_ERR_BAD_STATE (appointment status), MV_ERR_CRYPTO. */
mv_err registry_delegation_add(registry *r, const registry_user *caller, mv_delegation *d,
                               const uint8_t hospital_pk[32], const uint8_t hospital_sk[64], uint64_t now,
                               int64_t *id_out, const char **why) __attribute__((warn_unused_result));
/* {"delegations":[...]}: admins all, doctors those naming them, patients their own; patient_id
 * 0 = any patient. */
mv_err registry_delegations_json(registry *r, const registry_user *viewer, int64_t patient_id, mv_buf *b)
    __attribute__((warn_unused_result));
/* Revokes delegation id (its patient or an admin). MV_ERR_NOT_FOUND, MV_ERR_FORBIDDEN. */
mv_err registry_delegation_revoke(registry *r, const registry_user *viewer, int64_t id, uint64_t now,
                                  const char **why) __attribute__((warn_unused_result));
/* The GET /v1/patients/{MRN} answer for viewer (doctor or admin). MV_ERR_NOT_FOUND. */
mv_err registry_patient_json(registry *r, const registry_user *viewer, const char *mrn, uint64_t now, mv_buf *b)
    __attribute__((warn_unused_result));

/* ---- formulary and alerts ---- */
/* {"medicines":[MED...]} whose name contains q (NULL/"" = all), by name. */
mv_err registry_medicines_json(registry *r, const char *q, mv_buf *b) __attribute__((warn_unused_result));
/* Upserts on (name, form, strength); *created 1/0; appends MED to b (b NULL: nothing is
 * written). code NULL keeps the code of a medicine that exists ("" for a new one): the JSON API
 * passes it when the body has no "code", the dashboard when its form leaves Code empty. */
mv_err registry_medicine_put(registry *r, int64_t actor_id, const char *name, const char *form,
                             const char *strength, const char *dosage, const char *code, uint64_t now, int *created,
                             mv_buf *b, const char **why) __attribute__((warn_unused_result));
/* Deletes medicine id. MV_ERR_NOT_FOUND. */
mv_err registry_medicine_delete(registry *r, int64_t id) __attribute__((warn_unused_result));
/* {"alerts":[{"id","at","source","kind","principal","address","object","reason","count",
 * "last_at","delivered","delivered_at"}...]} by last event, newest first, at most limit
 * (delivered_at is null until the webhook took it). */
mv_err registry_alerts_json(registry *r, size_t limit, mv_buf *b) __attribute__((warn_unused_result));

/* ---- alert aggregation (issue 5) ---- */
#define REGISTRY_ALERT_FIELD 128 /* = MV_ALERT_FIELD */

typedef struct registry_alert {
    int64_t id;
    uint64_t at, last_at, count;
    char source[32], kind[32], principal[65], address[64];
    char object[REGISTRY_ALERT_FIELD], reason[REGISTRY_ALERT_FIELD];
} registry_alert;

/* Records n (>= 1) occurrences of alert a (at, source, kind, principal, address, object,
 * reason as in a; count is ignored) seen by the hospital at `now`: if a row with the same
 * (source, kind, principal, address, reason) has last_at > now - window_s, its count grows
 * by n and last_at (and object) take now (and a's object); otherwise a new row (count n,
 * last_at now, undelivered). One transaction. *id_out receives the row id, *created 1 for a
 * new row. Errors: MV_ERR_INVAL (NULL, n 0, empty kind or source, fields over their size or
 * with control characters), database errors. */
mv_err registry_alert_record(registry *r, const registry_alert *a, uint64_t n, uint64_t now, uint64_t window_s,
                             int64_t *id_out, int *created) __attribute__((warn_unused_result));
/* The oldest undelivered rows, at most max, into out[0..*n). */
mv_err registry_alerts_undelivered(registry *r, registry_alert *out, size_t max, size_t *n)
    __attribute__((warn_unused_result));
/* Marks row id delivered at now (only if it was not: delivery is exactly once).
 * MV_ERR_NOT_FOUND if no undelivered row id. */
mv_err registry_alert_delivered(registry *r, int64_t id, uint64_t now) __attribute__((warn_unused_result));

/* ---- device keys and step-up (issue 5) ---- */
#define REGISTRY_MAX_DEVICES 16          /* per user */
#define REGISTRY_MAX_STEPUP_PENDING 100  /* pending admin-approval requests, all users */

/* Registers device_pk for the user with signing key user_pk, named name (<= 128 bytes, no
 * control characters; NULL = ""). Errors: MV_ERR_INVAL, MV_ERR_NOT_FOUND (user),
 * MV_ERR_EXISTS (device key registered, to anyone), MV_ERR_RATE_LIMITED (REGISTRY_MAX_DEVICES). */
mv_err registry_device_add(registry *r, const uint8_t user_pk[32], const uint8_t device_pk[32], const char *name,
                           uint64_t now, const char **why) __attribute__((warn_unused_result));
/* {"devices":[{"device_pk","name","added_at"}...]} of the user with signing key user_pk.
 * MV_ERR_NOT_FOUND (user). */
mv_err registry_devices_json(registry *r, const uint8_t user_pk[32], mv_buf *b) __attribute__((warn_unused_result));
/* MV_OK if device_pk is registered to user_id, MV_ERR_NOT_FOUND if not. */
mv_err registry_device_check(registry *r, int64_t user_id, const uint8_t device_pk[32])
    __attribute__((warn_unused_result));
/* Spends a device-proof nonce: MV_OK the first time, MV_ERR_REPLAY if (device_pk, nonce) was
 * spent and has not expired. The entry lives until expires_at; expired entries are purged. */
mv_err registry_stepup_nonce_use(registry *r, const uint8_t device_pk[32], const uint8_t nonce[16],
                                 uint64_t expires_at, uint64_t now) __attribute__((warn_unused_result));

typedef struct registry_stepup {
    int64_t id, user_id;
    uint8_t user_pk[32];
    uint64_t created_at;
    char status[12];   /* pending | approved | denied */
    char grant_b64[160]; /* "" unless approved */
} registry_stepup;
/* A pending admin-approval request for user_id: the user's existing pending one if any, else
 * a new one. *id_out its id. Errors: MV_ERR_RATE_LIMITED (REGISTRY_MAX_STEPUP_PENDING). */
mv_err registry_stepup_request(registry *r, int64_t user_id, uint64_t now, int64_t *id_out, const char **why)
    __attribute__((warn_unused_result));
/* Request id. MV_ERR_NOT_FOUND. */
mv_err registry_stepup_get(registry *r, int64_t id, registry_stepup *out) __attribute__((warn_unused_result));
/* Decides a pending request: approve with grant_b64 (the signed grant) or deny (grant_b64
 * NULL). Errors: MV_ERR_NOT_FOUND, MV_ERR_BAD_STATE (already decided), MV_ERR_INVAL. */
mv_err registry_stepup_decide(registry *r, int64_t id, int64_t admin_id, const char *grant_b64, uint64_t now,
                              const char **why) __attribute__((warn_unused_result));

/* ---- listings (the admin dashboard's pages, and the JSON lists built on them) ---- */
/* Each listing calls fn(ctx, row) once per row, in order, at most limit rows (0: all); the
 * row and its strings live only until fn returns (NULL columns read as "", unset times have
 * their has_ flag 0). fn runs under the registry's lock, so it must not call the registry; an
 * error it returns stops the listing and is returned. The dashboard asks for one row more than
 * it shows, to say that more exist. */

typedef struct registry_counts {
    uint64_t departments, doctors, patients, pending, medicines, alerts;
} registry_counts;
/* Row counts of the overview page: departments, doctors, patients, users pending approval,
 * medicines, alerts. */
mv_err registry_counts_get(registry *r, registry_counts *out) __attribute__((warn_unused_result));
/* *n = the appointments whose status is status (any text: an unknown one counts 0). */
mv_err registry_appt_count(registry *r, const char *status, uint64_t *n) __attribute__((warn_unused_result));

typedef struct registry_dept_row {
    const char *name, *description;
    uint64_t doctors, patients, created_at;
} registry_dept_row;
typedef mv_err (*registry_dept_fn)(void *ctx, const registry_dept_row *row);
/* Departments by name, with their doctors and patients counted. */
mv_err registry_department_rows(registry *r, size_t limit, registry_dept_fn fn, void *ctx)
    __attribute__((warn_unused_result));

typedef struct registry_user_row {
    const char *name, *sign_pk, *mrn, *status; /* sign_pk: 64 lowercase hex */
    const char *departments;                   /* by name, joined with ", " */
    const char *first_department;              /* the first by name (a patient's home) */
    uint64_t registered_at;
} registry_user_row;
typedef mv_err (*registry_user_fn)(void *ctx, const registry_user_row *row);
/* The users of one role: patients by MRN, the others by name. */
mv_err registry_user_rows(registry *r, registry_role role, size_t limit, registry_user_fn fn, void *ctx)
    __attribute__((warn_unused_result));

typedef struct registry_appt_row {
    const char *id, *patient_name, *patient_mrn, *department, *doctor_name, *place, *reason, *status;
    int has_starts_at;
    uint64_t starts_at, updated_at;
} registry_appt_row;
typedef mv_err (*registry_appt_fn)(void *ctx, const registry_appt_row *row);
/* Appointments in department, with status, of the doctor whose signing key is doctor_pk (64
 * lowercase hex); each NULL = any. By starts_at (unset last), then creation. */
mv_err registry_appt_rows(registry *r, const char *department, const char *status, const char *doctor_pk,
                          size_t limit, registry_appt_fn fn, void *ctx) __attribute__((warn_unused_result));

typedef struct registry_medicine_row {
    int64_t id;
    const char *name, *form, *strength, *dosage, *code;
    const char *updated_by; /* the name of the user who saved it last ("" if gone) */
    uint64_t updated_at;
} registry_medicine_row;
typedef mv_err (*registry_medicine_fn)(void *ctx, const registry_medicine_row *row);
/* The formulary by name, form and strength. */
mv_err registry_medicine_rows(registry *r, size_t limit, registry_medicine_fn fn, void *ctx)
    __attribute__((warn_unused_result));
/* Medicine id through fn. MV_ERR_NOT_FOUND if none. */
mv_err registry_medicine_get(registry *r, int64_t id, registry_medicine_fn fn, void *ctx)
    __attribute__((warn_unused_result));

typedef struct registry_stepup_row {
    int64_t id;
    uint64_t created_at;
    const char *name, *sign_pk, *role; /* of the user who asked */
} registry_stepup_row;
typedef mv_err (*registry_stepup_fn)(void *ctx, const registry_stepup_row *row);
/* The step-up requests awaiting a decision, oldest first. */
mv_err registry_stepup_pending_rows(registry *r, size_t limit, registry_stepup_fn fn, void *ctx)
    __attribute__((warn_unused_result));

typedef struct registry_alert_row {
    int64_t id;
    uint64_t at, count, last_at;
    int delivered; /* 0 until the webhook took it; then delivered_at is set */
    uint64_t delivered_at;
    const char *source, *kind, *principal, *address, *object, *reason;
    const char *name, *role; /* of the registered user whose key is principal; NULL if none is */
} registry_alert_row;
typedef mv_err (*registry_alert_fn)(void *ctx, const registry_alert_row *row);
/* The alert log by last event, newest first, each with the name and role of its principal
 * where the principal is a registered user's key. */
mv_err registry_alert_rows(registry *r, size_t limit, registry_alert_fn fn, void *ctx)
    __attribute__((warn_unused_result));

/* ---- groups (issue 15, docs/groups.md; registry_groups.c) ----
 * The hospital is the group manager. Every change of membership that a roster shows (a join,
 * the removal of a member who had joined) issues the next epoch in the same transaction as the
 * change: the caller's registry_epoch_fn signs the new roster (and makes the seed of a new key
 * chain when one starts) while the registry lock is held, so that no two changes interleave. */
#define REGISTRY_GROUP_NAME_MAX 64
#define REGISTRY_GROUP_MAX_OPENERS 8    /* = MV_RING_MAX_OPENERS */
#define REGISTRY_GROUP_SEALED_BYTES 80  /* a 32-byte share sealed with crypto_box_seal */
#define REGISTRY_MAX_GROUPS 10000
#define REGISTRY_GROUP_MAX_MEMBERS 4096 /* invited and active together (= MV_RING_MAX_MEMBERS) */
#define REGISTRY_GROUP_MAX_EPOCHS 65536 /* = MV_GROUP_MAX_EPOCHS: one key chain's reach */
#define REGISTRY_GROUP_MAX_RANGES 4096  /* key chains one member may read */
#define REGISTRY_GROUP_DETAILS_MAX 512  /* bytes of an event's details */

typedef struct registry_group {
    int64_t id;
    uint8_t gid[16];
    char name[REGISTRY_GROUP_NAME_MAX + 1];
    uint64_t created_at;
    uint64_t epoch;       /* current; 0 until the first join */
    uint64_t chain_start; /* first epoch of the current key chain */
    int next_chain;       /* 1: the next epoch starts a new chain (an add without history) */
    uint8_t ek[32];
    unsigned t, n;
    uint8_t ek_shares[REGISTRY_GROUP_MAX_OPENERS][32];
    uint64_t dedup_gen; /* generation of the dedup secret in force (1 at creation) */
} registry_group;

typedef struct registry_group_member {
    int64_t user_id;
    uint8_t sign_pk[32], box_pk[32];
    char name[REGISTRY_NAME_MAX + 1];
    char status[12]; /* invited | active | removed */
    int has_ring;
    uint8_t ring_pk[32];
    int history;
    uint64_t first_epoch, joined_epoch, removed_epoch; /* 0 = unset */
    uint64_t key_epoch;                                /* newest epoch whose key fetch was logged */
} registry_group_member;

/* What registry_epoch_fn is asked to sign: the new epoch of g. */
typedef struct registry_epoch {
    const registry_group *g; /* before the change */
    uint64_t epoch;          /* the new epoch (g->epoch + 1) */
    uint64_t chain_start;    /* of the new epoch: equal to epoch when it starts a new chain */
    const uint8_t *members;  /* the active members' ring keys after the change, 32 bytes each */
    size_t n_members;
    uint64_t now;
    uint64_t dedup_gen; /* generation of the dedup secret from the new epoch on */
} registry_epoch;
/* Appends the signed roster of e to roster (nothing when e->n_members is under the ring's
 * minimum: nobody can sign in that epoch) and its roster hash to hash (32 bytes, zero without a
 * roster); makes sure the seed of e->chain_start's chain and the dedup secret of generation
 * e->dedup_gen exist. An error aborts the change. */
typedef mv_err (*registry_epoch_fn)(void *ctx, const registry_epoch *e, mv_buf *roster, uint8_t hash[32]);

/* 1 if s is 1..REGISTRY_GROUP_NAME_MAX bytes of [A-Za-z0-9_.-] and not 32 lowercase hex
 * digits (those name a group by id), so that a name is always a path segment. */
int registry_group_name_ok(const char *s);
/* Creates g (gid, name, ek, t, n, ek_shares as given; epoch 0, chain 1) with opener i (1..n)
 * the active admin or doctor whose signing key is opener_pks[32(i-1)..], holding
 * sealed[80(i-1)..], and logs 'create' by actor_id. Errors: MV_ERR_INVAL (fields, an opener
 * twice), MV_ERR_NOT_FOUND (an opener is no registered user), MV_ERR_FORBIDDEN (an opener is
 * not an active admin or doctor), MV_ERR_EXISTS (name or id taken), MV_ERR_RATE_LIMITED
 * (REGISTRY_MAX_GROUPS), database errors; why says which. */
mv_err registry_group_create(registry *r, const registry_group *g, const uint8_t *opener_pks, const uint8_t *sealed,
                             int64_t actor_id, uint64_t now, const char **why) __attribute__((warn_unused_result));
/* The group named name_or_id (its name, or its id as 32 lowercase hex). MV_ERR_NOT_FOUND. */
mv_err registry_group_get(registry *r, const char *name_or_id, registry_group *out)
    __attribute__((warn_unused_result));
/* user_id's membership of group_id. MV_ERR_NOT_FOUND if she was never added. */
mv_err registry_group_member_get(registry *r, int64_t group_id, int64_t user_id, registry_group_member *out)
    __attribute__((warn_unused_result));
/* Invites the users with signing keys user_pks[0..n) (n <= REGISTRY_GROUP_MAX_MEMBERS), all or
 * none: a removed member is invited again, an invited or active one is left as she is (not
 * counted in *added). history 1: they may read every epoch; 0: their join starts a new key
 * chain and they read only from their join epoch on; -1: 1 for a user never in the group, 0
 * for a removed member added again. Logs 'add' per user. Errors: MV_ERR_NOT_FOUND (no such group or user),
 * MV_ERR_BAD_STATE (a user is not active), MV_ERR_TOO_LARGE (the group would exceed
 * REGISTRY_GROUP_MAX_MEMBERS), database errors; why says which. */
mv_err registry_group_add(registry *r, int64_t group_id, const uint8_t *user_pks, size_t n, int history,
                          int64_t actor_id, uint64_t now, size_t *added, const char **why)
    __attribute__((warn_unused_result));
/* An invited user joins with ring key ring_pk (its proof of possession already checked): she
 * becomes active and the next epoch is issued through fn (ctx); *epoch = that epoch (a member
 * without history reads from it: it starts a key chain of its own). Errors:
 * MV_ERR_FORBIDDEN (not invited: never added, or removed), MV_ERR_BAD_STATE (already joined;
 * or the group used all REGISTRY_GROUP_MAX_EPOCHS), MV_ERR_EXISTS (another member has
 * ring_pk, or she joined this group before with another ring key: a member keeps one ring key
 * per group so that all her signatures trace to her), fn's errors, database errors; why says
 * which. */
mv_err registry_group_join(registry *r, int64_t group_id, int64_t user_id, const uint8_t ring_pk[32], uint64_t now,
                           registry_epoch_fn fn, void *ctx, uint64_t *epoch, const char **why)
    __attribute__((warn_unused_result));
/* Removes the member with signing key user_pk: a member who had joined leaves the roster in
 * the next epoch, issued through fn (*epoch = it), with the next generation of the dedup
 * secret; one only invited is marked removed (*epoch = 0: no roster changes). Logs 'remove'. Errors: MV_ERR_NOT_FOUND (not a member),
 * MV_ERR_BAD_STATE (already removed, or no epoch left), fn's errors, database errors. */
mv_err registry_group_remove(registry *r, int64_t group_id, const uint8_t user_pk[32], int64_t actor_id, uint64_t now,
                             registry_epoch_fn fn, void *ctx, uint64_t *epoch, const char **why)
    __attribute__((warn_unused_result));
/* Sets a user's status (pending|active|suspended|revoked); a real change bumps the revocation
 * serial in the same transaction. Suspending or revoking her also removes her, in that
 * transaction, from every group she is invited to or a member of, as registry_group_remove
 * does: each group where she had joined gets a new epoch without her, signed through fn (ctx),
 * and the next dedup secret generation. Reinstating her puts her back in no group. fn may be
 * NULL only when no such epoch is needed (else MV_ERR_INVAL: nothing changes).
 * Errors: MV_ERR_INVAL (status, or fn missing), MV_ERR_NOT_FOUND, MV_ERR_BAD_STATE (leaving
 * revoked, or back to pending, or a group used all its epochs), fn's errors. *out receives the
 * user after the change. */
mv_err registry_user_set_status_groups(registry *r, const uint8_t pk[32], const char *status, uint64_t now,
                                       registry_epoch_fn fn, void *ctx, registry_user *out, const char **why)
    __attribute__((warn_unused_result));
/* Appends the signed roster of epoch (0: the current one) to out; *epoch_out = its epoch.
 * Errors: MV_ERR_NOT_FOUND (no such epoch: none issued yet, or epoch in the future),
 * MV_ERR_BAD_STATE (fewer than the ring's minimum had joined in that epoch: no roster). */
mv_err registry_group_roster(registry *r, int64_t group_id, uint64_t epoch, mv_buf *out, uint64_t *epoch_out)
    __attribute__((warn_unused_result));

/* Epochs first..last of one key chain (chain_start <= first <= last). */
typedef struct registry_key_range {
    uint64_t chain_start, first, last;
} registry_key_range;
/* The key ranges user_id may read in group_id (she must be active), oldest first, into
 * out[0..*n) (max of them), and *dedup_gen (may be NULL) the generation of the dedup secret of
 * the same snapshot. Logs 'key' once per member per epoch (the first fetch in it), not per
 * fetch. Errors: MV_ERR_FORBIDDEN (not an active member), MV_ERR_NOT_FOUND (no epoch issued
 * yet), MV_ERR_TOO_LARGE (more than max), database errors. */
mv_err registry_group_key_ranges(registry *r, int64_t group_id, int64_t user_id, uint64_t now, registry_key_range *out,
                                 size_t max, size_t *n, uint64_t *dedup_gen) __attribute__((warn_unused_result));
/* The ring keys of every removed member who had joined (*keys: n*32 bytes, mv_free; NULL when
 * n is 0). */
mv_err registry_group_removed_keys(registry *r, int64_t group_id, uint8_t **keys, size_t *n)
    __attribute__((warn_unused_result));
/* user_id's opener index (1..n) and sealed share. MV_ERR_NOT_FOUND if she is not an opener. */
mv_err registry_group_opener(registry *r, int64_t group_id, int64_t user_id, unsigned *idx,
                             uint8_t sealed[REGISTRY_GROUP_SEALED_BYTES]) __attribute__((warn_unused_result));
/* Logs an event (kind create|add|join|remove|epoch|key|opening; details <=
 * REGISTRY_GROUP_DETAILS_MAX bytes of text, never a secret) by actor_id (0: none). */
mv_err registry_group_event(registry *r, int64_t group_id, int64_t actor_id, const char *kind, const char *details,
                            uint64_t now) __attribute__((warn_unused_result));
/* The member (of any status) whose ring key is ring_pk. MV_ERR_NOT_FOUND. */
mv_err registry_group_whois(registry *r, int64_t group_id, const uint8_t ring_pk[32], registry_group_member *out)
    __attribute__((warn_unused_result));
/* {"groups":[GROUP_SUMMARY...]} by name: every group for an admin (all = 1), else those where
 * viewer_id is invited, a member (also removed) or an opener. GROUP_SUMMARY = {"id","name",
 * "epoch","t","n","created_at","member_count" (active),"status" (the viewer's: invited|active|
 * removed, or "" if none),"opener" (bool)}. */
mv_err registry_groups_json(registry *r, int64_t viewer_id, int all, mv_buf *b) __attribute__((warn_unused_result));
/* GROUP_SUMMARY of group_id for viewer_id, and with full set also "ek","ek_shares","chain_start",
 * "members":[{"name","sign_public_key","status","ring_public_key"|null,"history",
 * "first_epoch","joined_epoch","removed_epoch"}], "openers":[{"index","name",
 * "sign_public_key"}], "epochs":[{"epoch","members","roster_hash"|null,"chain_start",
 * "issued_at"}] (newest first, at most 1000). */
mv_err registry_group_json(registry *r, int64_t group_id, int64_t viewer_id, int full, mv_buf *b)
    __attribute__((warn_unused_result));

/* Listings of the dashboard (see "listings" above for the rules of fn). */
typedef struct registry_group_event_row {
    int64_t id;
    uint64_t at;
    const char *kind, *details, *actor; /* actor: the user's name ("" if none) */
} registry_group_event_row;
typedef mv_err (*registry_group_event_fn)(void *ctx, const registry_group_event_row *row);
/* group_id's events, newest first. */
mv_err registry_group_event_rows(registry *r, int64_t group_id, size_t limit, registry_group_event_fn fn, void *ctx)
    __attribute__((warn_unused_result));

#endif
