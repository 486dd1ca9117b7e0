/* http_request.c - what a handler reads from a request: its headers, its query, its form
 * fields (percent-decoded into capped buffers, wiped on failure), and its signature, verified
 * against the request's own method, target, headers and body. */
#include "medvault/mv_http.h"

#include <string.h>
#include <time.h>

#include "core/utf8.h"
#include "medvault/mv_mem.h"
#include "net/http_server_internal.h"

const char *mv_http_header(const mv_http_request *r, const char *name)
{
    const conn_state *st;
    if (!r || !name || !r->impl)
        return NULL;
    st = r->impl;
    return MHD_lookup_connection_value(st->conn, MHD_HEADER_KIND, name);
}

/* Remembers the verified subject on the server's request state (r->impl is NULL for requests
 * a test builds by hand). */
static void note_principal(const mv_http_request *r, const uint8_t subject[32])
{
    conn_state *st = r->impl;
    if (!st)
        return;
    memcpy(st->principal, subject, 32);
    st->has_principal = 1;
}

static void auth_request_of(const mv_http_request *r, mv_auth_request *ar)
{
    *ar = (mv_auth_request){
        .method = r->method,
        .path_and_query = r->path_and_query,
        .body = r->body,
        .body_len = r->body_len,
        .key = mv_http_header(r, "MV-Key"),
        .date = mv_http_header(r, "MV-Date"),
        .nonce = mv_http_header(r, "MV-Nonce"),
        .target = mv_http_header(r, "MV-Target"),
        .body_sha256 = mv_http_header(r, "MV-Content-SHA256"),
        .credential = mv_http_header(r, "MV-Credential"),
        .signature = mv_http_header(r, "MV-Signature"),
    };
}

mv_err mv_http_verify(mv_auth_verifier *v, const mv_http_request *r, uint64_t now, mv_credential *out_cred)
{
    mv_auth_failure why;
    return mv_http_verify_ex(v, r, now, out_cred, &why);
}

mv_err mv_http_verify_key(mv_auth_verifier *v, const mv_http_request *r, uint64_t now, uint8_t key_out[static 32])
{
    mv_auth_request ar;
    if (!v || !r)
        return MV_ERR_INVAL;
    auth_request_of(r, &ar);
    mv_err rc = mv_auth_verify_key(v, &ar, now, key_out);
    if (rc == MV_OK)
        note_principal(r, key_out);
    return rc;
}

mv_err mv_http_verify_ex(mv_auth_verifier *v, const mv_http_request *r, uint64_t now, mv_credential *out_cred,
                         mv_auth_failure *why)
{
    mv_auth_request ar;
    if (!v || !r || !why)
        return MV_ERR_INVAL;
    auth_request_of(r, &ar);
    mv_credential local;
    mv_credential *c = out_cred ? out_cred : &local;
    mv_err rc = mv_auth_verify_ex(v, &ar, now, c, why);
    if (rc == MV_OK)
        note_principal(r, c->subject);
    if (c == &local)
        mv_wipe(&local, sizeof local);
    return rc;
}

int mv_http_gate_signed(void *verifier, const mv_http_request *req)
{
    mv_auth_request ar;
    if (!verifier || !req)
        return 0;
    auth_request_of(req, &ar);
    /* Everything but the nonce and the body itself: the signature over the digest the client
     * announced in MV-Content-SHA256, the credential, the target, the window, revocation. */
    return mv_auth_preverify(verifier, &ar, (uint64_t)time(NULL), 1) == MV_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes one form value text[0..len) into out[0..cap) (see mv_http_form_get). */
static mv_err form_decode(const char *text, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t j = 0; j < len; j++) {
        int c = (unsigned char)text[j];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;
            if (len - j < 3 || (hi = hexval(text[j + 1])) < 0 || (lo = hexval(text[j + 2])) < 0)
                return MV_ERR_PARSE;
            c = hi * 16 + lo;
            j += 2;
        }
        if (c < 0x20 || c == 0x7f)
            return MV_ERR_PARSE;
        if (o + 1 >= cap)
            return MV_ERR_TOO_LARGE;
        out[o++] = (char)c;
    }
    out[o] = 0;
    for (size_t k = 0; k < o;) {
        size_t l = mv_utf8_seq((const unsigned char *)out + k, o - k);
        if (!l)
            return MV_ERR_PARSE;
        k += l;
    }
    return MV_OK;
}

mv_err mv_http_form_get(const char *text, size_t len, const char *name, char *out, size_t cap)
{
    if (!text || !name || !out || cap == 0)
        return MV_ERR_INVAL;
    out[0] = 0;
    size_t nl = strlen(name), i = 0;
    if (nl == 0)
        return MV_ERR_INVAL;
    while (i <= len) {
        size_t end = i;
        while (end < len && text[end] != '&')
            end++;
        if (end - i > nl && !memcmp(text + i, name, nl) && text[i + nl] == '=') {
            mv_err rc = form_decode(text + i + nl + 1, end - i - nl - 1, out, cap);
            if (rc != MV_OK)
                mv_wipe(out, cap); /* no half-decoded value is left behind */
            return rc;
        }
        i = end + 1;
    }
    return MV_ERR_NOT_FOUND;
}

mv_err mv_http_query_add(mv_buf *b, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!b || !name)
        return MV_ERR_INVAL;
    if (!value)
        return MV_OK;
    mv_err rc = mv_buf_puts(b, b->len && memchr(b->ptr, '?', b->len) ? "&" : "?");
    if (rc == MV_OK && (rc = mv_buf_puts(b, name)) == MV_OK)
        rc = mv_buf_puts(b, "=");
    for (const unsigned char *p = (const unsigned char *)value; *p && rc == MV_OK; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            *p == '_' || *p == '.' || *p == '~') {
            rc = mv_buf_append(b, p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = mv_buf_append(b, e, 3);
        }
    }
    return rc;
}

const char *mv_http_query(const mv_http_request *r)
{
    const char *q = r && r->path_and_query ? strchr(r->path_and_query, '?') : NULL;
    return q ? q + 1 : "";
}
