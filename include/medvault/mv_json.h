/* mv_json.h - a strict JSON parser (RFC 8259) to a read-only tree, and JSON writers.
 *
 * The parser keeps every number's original lexeme (FHIR decimals' precision is
 * significant), rejects invalid UTF-8 (including in escapes: lone surrogates), duplicate
 * object keys, trailing garbage, and enforces caps on input size and node count
 * (MV_ERR_TOO_LARGE) and on nesting depth (MV_ERR_PARSE: a document nested too deeply is
 * refused as malformed whatever its size). Object members keep their document order.
 * A tree is immutable after parsing and may be read from several threads at once. */
#ifndef MV_JSON_H
#define MV_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mv_json_type {
    MV_JSON_NULL = 0,
    MV_JSON_FALSE = 1,
    MV_JSON_TRUE = 2,
    MV_JSON_NUMBER = 3,
    MV_JSON_STRING = 4,
    MV_JSON_ARRAY = 5,
    MV_JSON_OBJECT = 6,
} mv_json_type;

typedef struct mv_json mv_json; /* a node; owned by the tree's root */

/* A zero field means "the default" for that cap, so callers may set just one. */
typedef struct mv_json_limits {
    size_t max_bytes; /* input length cap (default 16 MiB) */
    size_t max_depth; /* nesting cap (default 64) */
    size_t max_nodes; /* node count cap (default 1,000,000) */
} mv_json_limits;

/* Parses text[0..len) (need not be NUL-terminated). lim may be NULL for the defaults.
 * On success *out owns the tree (free with mv_json_free). On failure *out is NULL and, if
 * err_offset is not NULL, it receives the byte offset where parsing failed.
 * Errors: MV_ERR_PARSE (syntax, invalid UTF-8, duplicate key, nesting deeper than max_depth:
 * err_offset is then the bracket that opens one level too many), MV_ERR_TOO_LARGE (the byte
 * or node cap), MV_ERR_NOMEM, MV_ERR_INVAL (NULL arguments). */
MV_API mv_err mv_json_parse(const char *text, size_t len, const mv_json_limits *lim, mv_json **out,
                            size_t *err_offset) __attribute__((warn_unused_result));
/* As mv_json_parse, and on failure *why (if why is not NULL) is a short static English reason
 * for the user, never input bytes: "duplicate key in the object that ends here" (err_offset is
 * then just past that object's '}'), "nested too deeply", else mv_strerror of the error. NULL on success. */
MV_API mv_err mv_json_parse_why(const char *text, size_t len, const mv_json_limits *lim, mv_json **out,
                                size_t *err_offset, const char **why) __attribute__((warn_unused_result));
/* Frees a tree returned by mv_json_parse. Accepts NULL. */
MV_API void mv_json_free(mv_json *root);

/* Accessors. All accept NULL nodes and then return NULL/0/MV_JSON_NULL as documented. */
MV_API mv_json_type mv_json_type_of(const mv_json *v);
/* Number of elements of an array or members of an object; 0 for anything else. */
MV_API size_t mv_json_len(const mv_json *v);
/* i-th element of an array (NULL if out of range or not an array). */
MV_API const mv_json *mv_json_at(const mv_json *arr, size_t i);
/* i-th member's key (NUL-terminated; *key_len if not NULL receives its length) and value. */
MV_API const char *mv_json_key_at(const mv_json *obj, size_t i, size_t *key_len);
MV_API const mv_json *mv_json_value_at(const mv_json *obj, size_t i);
/* Member lookup by NUL-terminated key; NULL if absent or obj is not an object. */
MV_API const mv_json *mv_json_get(const mv_json *obj, const char *key);
/* String value (decoded, NUL-terminated; may contain NUL, so use *len) or NULL if not a string. */
MV_API const char *mv_json_str(const mv_json *v, size_t *len);
/* Number lexeme exactly as in the input, or NULL if not a number. */
MV_API const char *mv_json_num(const mv_json *v, size_t *len);
/* A number whose lexeme is a non-negative integer without fraction/exponent that fits in
 * uint64_t; MV_ERR_PARSE otherwise (including when v is not a number). */
MV_API mv_err mv_json_u64(const mv_json *v, uint64_t *out);
/* Booleans: MV_OK and *out = 0/1, MV_ERR_PARSE if v is not true/false. */
MV_API mv_err mv_json_bool(const mv_json *v, int *out);

/* Convenience for protocol messages: obj[key] is a string of exactly 2n hex digits,
 * decoded into out[0..n). MV_ERR_NOT_FOUND if absent, MV_ERR_PARSE if not such a string. */
MV_API mv_err mv_json_get_hex(const mv_json *obj, const char *key, uint8_t *out, size_t n);
/* obj[key] as a string (NULL if absent or not a string). */
MV_API const char *mv_json_get_str(const mv_json *obj, const char *key, size_t *len);
/* obj[key] as uint64 (MV_ERR_NOT_FOUND if absent, MV_ERR_PARSE if not an unsigned integer). */
MV_API mv_err mv_json_get_u64(const mv_json *obj, const char *key, uint64_t *out);

/* Writers, appending to a capped buffer. */
/* A quoted JSON string with RFC 8785 escaping (\b \t \n \f \r \" \\ short forms, other
 * controls as \u00xx lowercase, everything else verbatim). s[0..len) must be valid UTF-8
 * (MV_ERR_PARSE otherwise, nothing appended). */
MV_API mv_err mv_json_write_str(mv_buf *b, const char *s, size_t len) __attribute__((warn_unused_result));
/* A quoted string of lowercase hex of bin[0..n). */
MV_API mv_err mv_json_write_hex(mv_buf *b, const uint8_t *bin, size_t n) __attribute__((warn_unused_result));
/* The node serialised compactly (no whitespace), members in document order, numbers as
 * their lexemes, strings as mv_json_write_str. */
MV_API mv_err mv_json_write(mv_buf *b, const mv_json *v) __attribute__((warn_unused_result));

/* A streaming writer for building JSON documents by hand, commas and nesting kept for the
 * caller. The first error wins: every later call does nothing, and mv_jw_finish returns it,
 * so a document is written as a plain sequence of calls and checked once at the end:
 *
 *     mv_jw w;
 *     mv_jw_init(&w, b);
 *     mv_jw_obj(&w);
 *     mv_jw_kstr(&w, "name", u->name);
 *     mv_jw_key(&w, "departments");
 *     mv_jw_arr(&w);
 *     ...
 *     mv_jw_arr_end(&w);
 *     mv_jw_obj_end(&w);
 *     rc = mv_jw_finish(&w);
 *
 * Output is compact (no whitespace); strings as mv_json_write_str. Misuse (a value where an
 * object wants a key, a key outside an object, closing what is not open, nesting deeper than
 * MV_JW_DEPTH_MAX) is MV_ERR_INVAL. On an error the buffer keeps what was written before it;
 * a caller that must not send half a document resets the buffer. */
#define MV_JW_DEPTH_MAX 32

typedef struct mv_jw {
    mv_buf *b;
    mv_err rc;                     /* the first error, or MV_OK */
    unsigned depth;                /* open containers */
    unsigned char kind[MV_JW_DEPTH_MAX];  /* '{' or '[' per open container */
    unsigned char count[MV_JW_DEPTH_MAX]; /* 0 until the container has a member */
    unsigned char keyed;           /* a key was written and waits for its value */
    unsigned char done;            /* the top-level value is complete */
} mv_jw;

MV_API void mv_jw_init(mv_jw *w, mv_buf *b);
MV_API void mv_jw_obj(mv_jw *w);
MV_API void mv_jw_obj_end(mv_jw *w);
MV_API void mv_jw_arr(mv_jw *w);
MV_API void mv_jw_arr_end(mv_jw *w);
/* A member's key (NUL-terminated); the next call writes its value. */
MV_API void mv_jw_key(mv_jw *w, const char *key);
MV_API void mv_jw_str(mv_jw *w, const char *s);                /* s NUL-terminated; NULL writes null */
MV_API void mv_jw_strn(mv_jw *w, const char *s, size_t len);   /* s[0..len) */
MV_API void mv_jw_u64(mv_jw *w, uint64_t v);
MV_API void mv_jw_i64(mv_jw *w, int64_t v);
MV_API void mv_jw_bool(mv_jw *w, int v);
MV_API void mv_jw_null(mv_jw *w);
MV_API void mv_jw_hex(mv_jw *w, const uint8_t *bin, size_t n); /* a string of lowercase hex */
/* json[0..len) as a value, verbatim: the caller vouches that it is one JSON value (a
 * serialised mv_json, a document this process wrote). */
MV_API void mv_jw_raw(mv_jw *w, const char *json, size_t len);
/* Key and value in one call. */
MV_API void mv_jw_kstr(mv_jw *w, const char *key, const char *s);
MV_API void mv_jw_ku64(mv_jw *w, const char *key, uint64_t v);
MV_API void mv_jw_ki64(mv_jw *w, const char *key, int64_t v);
MV_API void mv_jw_kbool(mv_jw *w, const char *key, int v);
MV_API void mv_jw_knull(mv_jw *w, const char *key);
MV_API void mv_jw_khex(mv_jw *w, const char *key, const uint8_t *bin, size_t n);
/* The first error, or MV_ERR_INVAL if a container is still open or a key has no value. */
MV_API mv_err mv_jw_finish(const mv_jw *w) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
