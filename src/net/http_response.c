/* http_response.c - the answers a handler builds: validated extra headers (no CR/LF or
 * non-token name can split a response), JSON errors that never echo request data, and the
 * one 401 text every authentication failure gets. */
#include "medvault/mv_http.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"
#include "net/http_server_internal.h"

int net_token_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int net_eq_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return 0;
    }
    return *a == *b;
}

mv_err mv_http_response_header(mv_http_response *r, const char *name, const char *value)
{
    static const char *const reserved[] = {"content-length", "content-type", "cache-control", "connection",
                                           "transfer-encoding"};
    size_t nl, vl;
    if (!r || !name || !value)
        return MV_ERR_INVAL;
    nl = strnlen(name, MV_HTTP_HEADER_NAME_MAX);
    vl = strnlen(value, MV_HTTP_HEADER_VALUE_MAX);
    if (nl == 0 || nl >= MV_HTTP_HEADER_NAME_MAX || vl >= MV_HTTP_HEADER_VALUE_MAX)
        return MV_ERR_INVAL;
    for (size_t i = 0; i < nl; i++)
        if (!net_token_char((unsigned char)name[i]))
            return MV_ERR_INVAL;
    for (size_t i = 0; i < vl; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c >= 0x7f)
            return MV_ERR_INVAL;
    }
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (net_eq_nocase(name, reserved[i]))
            return MV_ERR_INVAL;
    if (r->n_headers >= MV_HTTP_MAX_HEADERS)
        return MV_ERR_TOO_LARGE;
    memcpy(r->header_names[r->n_headers], name, nl + 1);
    memcpy(r->header_values[r->n_headers], value, vl + 1);
    r->n_headers++;
    return MV_OK;
}

mv_err mv_http_response_audit_note(mv_http_response *r, const char *note)
{
    size_t n;
    if (!r || !note || (n = strnlen(note, MV_HTTP_AUDIT_NOTE_MAX + 1)) == 0 || n > MV_HTTP_AUDIT_NOTE_MAX ||
        strspn(note, "abcdefghijklmnopqrstuvwxyz0123456789:_.-") != n)
        return MV_ERR_INVAL;
    memcpy(r->audit_note, note, n + 1);
    return MV_OK;
}

void net_set_content_type(mv_http_response *r, const char *ct)
{
    size_t n = strlen(ct);
    if (n >= sizeof r->content_type)
        n = sizeof r->content_type - 1;
    memcpy(r->content_type, ct, n);
    r->content_type[n] = 0;
}

void mv_http_respond_json_error(mv_http_response *r, int status, const char *message)
{
    static const char fallback[] = "{\"error\":\"error\"}";
    if (!r)
        return;
    r->status = status;
    net_set_content_type(r, "application/json");
    mv_buf_reset(&r->body);
    if (!message)
        message = "error";
    mv_jw w;
    mv_jw_init(&w, &r->body);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "error", message);
    mv_jw_obj_end(&w);
    if (mv_jw_finish(&w) != MV_OK) {
        mv_buf_reset(&r->body);
        if (mv_buf_append(&r->body, fallback, sizeof fallback - 1) != MV_OK)
            mv_buf_clear(&r->body); /* cannot even allocate: an empty body still has a status */
    }
}

void mv_http_respond_json(mv_http_response *r, int status, const mv_buf *b)
{
    if (!r)
        return;
    mv_buf_reset(&r->body);
    if (!b || (b->len && mv_buf_append(&r->body, b->ptr, b->len) != MV_OK)) {
        mv_http_respond_json_error(r, 500, "response too large");
        return;
    }
    r->status = status;
    net_set_content_type(r, "application/json");
}

void mv_http_respond_built(mv_http_response *r, mv_err rc, int status, const mv_buf *b)
{
    if (rc == MV_OK)
        mv_http_respond_json(r, status, b);
    else
        mv_http_respond_json_error(r, 500, "internal error");
}

void mv_http_respond_fmt(mv_http_response *r, int status, const char *fmt, ...)
{
    va_list ap;
    if (!r || !fmt)
        return;
    mv_buf_reset(&r->body);
    va_start(ap, fmt);
    mv_err rc = mv_buf_vprintf(&r->body, fmt, ap);
    va_end(ap);
    if (rc != MV_OK) {
        mv_http_respond_json_error(r, 500, "internal error");
        return;
    }
    r->status = status;
    net_set_content_type(r, "application/json");
}

void mv_http_respond_bytes(mv_http_response *r, int status, const uint8_t *bytes, size_t n)
{
    if (!r)
        return;
    mv_buf_reset(&r->body);
    if (n && (!bytes || mv_buf_append(&r->body, bytes, n) != MV_OK)) {
        mv_http_respond_json_error(r, 500, "response too large");
        return;
    }
    r->status = status;
    net_set_content_type(r, "application/octet-stream");
}

void mv_http_respond_auth_failure(mv_http_response *r, mv_err rc)
{
    switch (rc) {
    case MV_ERR_EXPIRED:
        mv_http_respond_json_error(r, 401, "credential expired or request date outside the allowed skew");
        return;
    case MV_ERR_REPLAY:
        mv_http_respond_json_error(r, 401, "replayed request nonce");
        return;
    case MV_ERR_BUSY:
        mv_http_respond_json_error(r, 503, "replay cache full; retry shortly");
        return;
    case MV_ERR_MISDIRECTED:
        mv_http_respond_json_error(r, 421, "request signed for another service (MV-Target is not this service)");
        return;
    case MV_ERR_VERIFY:
        mv_http_respond_json_error(r, 400, "the body does not match its signed MV-Content-SHA256");
        return;
    case MV_ERR_PROTOCOL:
        mv_http_respond_json_error(r, 401, "signed requests v2 are required (MV-Target missing; docs/api.md)");
        return;
    case MV_OK: case MV_ERR_NOMEM: case MV_ERR_INVAL: case MV_ERR_AUTH: case MV_ERR_TOO_LARGE:
    case MV_ERR_PARSE: case MV_ERR_IO: case MV_ERR_NOT_FOUND: case MV_ERR_CRYPTO: case MV_ERR_BAD_STATE:
    case MV_ERR_RATE_LIMITED: case MV_ERR_NET: case MV_ERR_TIMEOUT: case MV_ERR_IDENTITY:
    case MV_ERR_FORBIDDEN: case MV_ERR_EXISTS:
    case MV_ERR_UNAVAILABLE: case MV_ERR_HTTP:
        break;
    }
    mv_http_respond_json_error(r, 401, "authentication failed: missing or invalid signature or credential");
}

