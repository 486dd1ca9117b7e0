/* mv_identity.h - a principal's key directory (user, hospital, key server).
 *
 * A directory holds `keys` (mode 0600: the Ed25519 signing seed and the X25519 secret, hex
 * in JSON), `public.json` (mode 0644: both public keys) and, once issued, `credential`
 * (the hospital-signed credential, base64, one line), and `hospital.pin` (mode 0644:
 * {"hospital_public_key":HEX}, the hospital this user registered with). The directory
 * itself is 0700. Secret keys are kept in locked memory and wiped when the identity is
 * freed.
 *
 * The pin keeps an altered deployment file from pointing a user at another hospital (its
 * credentials, key-server directory and patients' keys): clients load a deployment through
 * mv_deployment_load_for_user, which refuses one whose hospital key differs from the pin.
 * A pin is written at registration and never replaced by these functions; changing it is a
 * deliberate act (delete the file; docs/deployment.md). */
#ifndef MV_IDENTITY_H
#define MV_IDENTITY_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mv_identity mv_identity;

/* Creates dir (if missing) and fresh keys in it. MV_ERR_EXISTS if dir already holds keys
 * (never overwrites a key), MV_ERR_IO, MV_ERR_NOMEM, MV_ERR_CRYPTO. On success *out holds
 * the loaded identity (free with mv_identity_free). */
MV_API mv_err mv_identity_create(const char *dir, mv_identity **out) __attribute__((warn_unused_result));
/* Loads dir/keys and, if present, dir/credential. MV_ERR_NOT_FOUND if dir holds no keys,
 * MV_ERR_PARSE if a file is malformed, MV_ERR_AUTH if the keys file is readable by
 * group or others (it must be 0600). */
MV_API mv_err mv_identity_load(const char *dir, mv_identity **out) __attribute__((warn_unused_result));
/* Wipes and frees; accepts NULL. */
MV_API void mv_identity_free(mv_identity *id);
/* Undoes mv_identity_create and the saves after it: removes dir/keys, dir/public.json,
 * dir/credential and dir/hospital.pin (those that exist; nothing else in dir), then dir
 * itself if that leaves it empty and remove_dir is set. For a registration that failed
 * before the hospital accepted the key, so that the retry can start afresh: never call it
 * on a directory whose key is registered (its secret key is gone for good). Errors:
 * MV_ERR_IO (a file could not be removed; the others are still tried), MV_ERR_TOO_LARGE
 * (path), MV_ERR_INVAL (NULL). */
MV_API mv_err mv_identity_remove(const char *dir, int remove_dir) __attribute__((warn_unused_result));

/* Key accessors; pointers stay valid until mv_identity_free. Secret keys live in locked
 * memory: never copy them into ordinary buffers that outlive their use. */
MV_API const uint8_t *mv_identity_sign_pk(const mv_identity *id); /* 32 bytes */
MV_API const uint8_t *mv_identity_sign_sk(const mv_identity *id); /* 64 bytes */
MV_API const uint8_t *mv_identity_box_pk(const mv_identity *id);  /* 32 bytes */
MV_API const uint8_t *mv_identity_box_sk(const mv_identity *id);  /* 32 bytes */
/* The credential (base64, NUL-terminated) or NULL if the directory has none. */
MV_API const char *mv_identity_credential(const mv_identity *id);

/* Writes dir/credential (0600, atomically) after checking it decodes as a credential
 * whose subject is this identity's signing key (MV_ERR_AUTH otherwise). */
MV_API mv_err mv_identity_save_credential(mv_identity *id, const char *dir, const char *b64)
    __attribute__((warn_unused_result));

/* Pins hospital_pk in dir/hospital.pin (atomically) at registration. MV_OK if the pin is now
 * hospital_pk, also when it already was. Errors: MV_ERR_AUTH (dir already pins another key:
 * never overwritten), MV_ERR_NOT_FOUND (dir holds no keys), MV_ERR_PARSE (the existing pin
 * is malformed), MV_ERR_IO, MV_ERR_NOMEM, MV_ERR_INVAL (NULL). */
MV_API mv_err mv_identity_pin_hospital(const char *dir, const uint8_t hospital_pk[static 32])
    __attribute__((warn_unused_result));

/* Checks hospital_pk (a deployment's hospital key) against dir's pin; reads and writes only
 * local files. With no pin yet (a directory made before pins existed, or by `keygen` and
 * `credential issue`) it trusts on first use: if dir holds a credential, hospital_pk must
 * have signed it (whatever its expiry); then it writes the pin and sets *pinned_now to 1
 * (pinned_now may be NULL; it is 0 otherwise). Errors: MV_ERR_AUTH (hospital_pk differs
 * from the pin, or did not sign the directory's credential), MV_ERR_NOT_FOUND (dir holds no
 * keys), MV_ERR_PARSE (malformed pin or credential), MV_ERR_TOO_LARGE, MV_ERR_IO,
 * MV_ERR_NOMEM, MV_ERR_INVAL (NULL). */
MV_API mv_err mv_identity_check_hospital(const char *dir, const uint8_t hospital_pk[static 32], int *pinned_now)
    __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
