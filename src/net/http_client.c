/* http_client.c - outgoing calls go only where the URL says (no redirects, no proxies, http(s)
 * only), send exactly the signed path, and never buffer more than the caller's cap. */
#include "medvault/mv_httpc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "medvault/mv_mem.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_ok;
static void curl_init_once(void) { curl_init_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }

mv_err mv_httpc_global_init(void)
{
    if (pthread_once(&curl_once, curl_init_once) != 0 || !curl_init_ok)
        return MV_ERR_NET;
    return MV_OK;
}

void mv_httpc_call_init(mv_httpc_call *c)
{
    if (!c)
        return;
    memset(c, 0, sizeof *c);
    c->rc = MV_ERR_NET;
    c->retry_after = -1;
    mv_buf_init(&c->response, MV_HTTPC_RESPONSE_MAX);
}

void mv_httpc_call_clear(mv_httpc_call *c)
{
    if (!c)
        return;
    mv_buf_clear(&c->response);
    c->priv_n_signed = 0;
    mv_wipe(c->priv_cred_hdr, sizeof c->priv_cred_hdr);
}


static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    mv_httpc_call *c = userdata;
    size_t n = size * nmemb;
    if (mv_buf_append(&c->response, ptr, n) != MV_OK) {
        c->priv_too_large = c->response.len + n > c->response.max;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

static int starts_nocase(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++) {
        char a = *s, b = *prefix;
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return 1;
}

/* Builds the header list of one call. MV_ERR_INVAL for header injection, MV_ERR_NOMEM. */
static mv_err build_headers(const mv_httpc_call *c, struct curl_slist **out)
{
    struct curl_slist *l = NULL, *t;
    int has_ct = 0;
    const char *signed_hdrs[7] = {c->priv_key_hdr,    c->priv_date_hdr,  c->priv_nonce_hdr, c->priv_target_hdr,
                                  c->priv_digest_hdr, c->priv_cred_hdr, c->priv_sig_hdr};
    *out = NULL;
    for (size_t i = 0; c->headers && c->headers[i]; i++) {
        if (strpbrk(c->headers[i], "\r\n") || !strchr(c->headers[i], ':'))
            goto inval;
        has_ct |= starts_nocase(c->headers[i], "content-type:");
        if (!(t = curl_slist_append(l, c->headers[i])))
            goto nomem;
        l = t;
    }
    for (size_t i = 0; i < c->priv_n_signed && i < 7; i++) {
        if (!signed_hdrs[i][0]) /* a key-possession request carries no MV-Credential */
            continue;
        if (!(t = curl_slist_append(l, signed_hdrs[i])))
            goto nomem;
        l = t;
    }
    /* No 100-continue round trip; no form-encoding content type guessed by libcurl. */
    if (!(t = curl_slist_append(l, "Expect:")))
        goto nomem;
    l = t;
    if (!has_ct && c->body_len) {
        if (!(t = curl_slist_append(l, "Content-Type: application/octet-stream")))
            goto nomem;
        l = t;
    }
    *out = l;
    return MV_OK;
inval:
    curl_slist_free_all(l);
    return MV_ERR_INVAL;
nomem:
    curl_slist_free_all(l);
    return MV_ERR_NOMEM;
}

#define SETOPT(h, opt, val)                                                                                        \
    do {                                                                                                           \
        if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK)                                                        \
            return MV_ERR_NET;                                                                                     \
    } while (0)

static mv_err setup_easy(CURL *h, mv_httpc_call *c, struct curl_slist *hdrs)
{
    const char *method = c->method ? c->method : "GET";
    long timeout = c->timeout_ms > 0 ? c->timeout_ms : MV_HTTPC_DEFAULT_TIMEOUT_MS;
    SETOPT(h, CURLOPT_URL, c->url);
    SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(h, CURLOPT_NOPROXY, "*");
    SETOPT(h, CURLOPT_PATH_AS_IS, 1L);
    SETOPT(h, CURLOPT_NOSIGNAL, 1L);
    SETOPT(h, CURLOPT_TIMEOUT_MS, timeout);
    SETOPT(h, CURLOPT_PRIVATE, (void *)c);
    SETOPT(h, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(h, CURLOPT_WRITEDATA, (void *)c);
    SETOPT(h, CURLOPT_HTTPHEADER, hdrs);
    if (c->response.max < (size_t)INT64_MAX)
        SETOPT(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->response.max);
    if (strcmp(method, "HEAD") == 0) {
        SETOPT(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") == 0 && c->body_len == 0) {
        SETOPT(h, CURLOPT_HTTPGET, 1L);
    } else {
        if (c->body_len || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
            SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
            SETOPT(h, CURLOPT_POSTFIELDS, c->body_len ? (const char *)c->body : "");
        }
        SETOPT(h, CURLOPT_CUSTOMREQUEST, method);
    }
    return MV_OK;
}

/* Retry-After (RFC 9110 section 10.2.3): delta-seconds or an HTTP-date. */
static long retry_after_of(CURL *h)
{
    struct curl_header *hd = NULL;
    if (curl_easy_header(h, "Retry-After", 0, CURLH_HEADER, -1, &hd) != CURLHE_OK || !hd || !hd->value)
        return -1;
    const char *v = hd->value;
    if (*v >= '0' && *v <= '9') {
        long s = 0;
        for (; *v >= '0' && *v <= '9'; v++)
            s = s > (0x7fffffffL - 9) / 10 ? 0x7fffffffL : s * 10 + (*v - '0');
        return *v ? -1 : s;
    }
    time_t t = curl_getdate(v, NULL);
    if (t == (time_t)-1)
        return -1;
    time_t now = time(NULL);
    return t > now ? (long)(t - now) : 0;
}

/* Content-Type and the headers named by keep_prefix, from the last response. */
static void keep_headers_of(CURL *h, mv_httpc_call *c)
{
    struct curl_header *hd = NULL, *prev = NULL;
    c->content_type[0] = 0;
    c->n_kept = c->n_dropped = 0;
    if (curl_easy_header(h, "Content-Type", 0, CURLH_HEADER, -1, &hd) == CURLHE_OK && hd && hd->value &&
        strlen(hd->value) < sizeof c->content_type)
        snprintf(c->content_type, sizeof c->content_type, "%s", hd->value);
    if (!c->keep_prefix || !c->keep_prefix[0])
        return;
    char lower[64];
    size_t pl = strlen(c->keep_prefix);
    if (pl >= sizeof lower)
        return;
    for (size_t i = 0; i <= pl; i++)
        lower[i] = (char)(c->keep_prefix[i] >= 'A' && c->keep_prefix[i] <= 'Z' ? c->keep_prefix[i] - 'A' + 'a'
                                                                               : c->keep_prefix[i]);
    while ((hd = curl_easy_nextheader(h, CURLH_HEADER, -1, prev)) != NULL) {
        prev = hd;
        if (!hd->name || !hd->value || !starts_nocase(hd->name, lower))
            continue;
        if (c->n_kept == MV_HTTPC_KEEP_MAX || strlen(hd->name) >= sizeof c->kept_names[0] ||
            strlen(hd->value) >= sizeof c->kept_values[0]) {
            c->n_dropped++;
            continue;
        }
        snprintf(c->kept_names[c->n_kept], sizeof c->kept_names[0], "%s", hd->name);
        snprintf(c->kept_values[c->n_kept], sizeof c->kept_values[0], "%s", hd->value);
        c->n_kept++;
    }
}

/* "MV-Step-Up: required": the storage server asks the user to step up (mv_stepup.h). */
static int step_up_required_of(CURL *h)
{
    struct curl_header *hd = NULL;
    return curl_easy_header(h, "MV-Step-Up", 0, CURLH_HEADER, -1, &hd) == CURLHE_OK && hd && hd->value &&
           strcmp(hd->value, "required") == 0;
}

/* libcurl's error enum is open-ended, so an if-chain rather than a -Wswitch-enum switch. */
static void finish_call(CURL *h, mv_httpc_call *c, CURLcode res)
{
    if (res == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        c->status = status;
        c->retry_after = retry_after_of(h);
        keep_headers_of(h, c);
        c->step_up_required = step_up_required_of(h);
        c->rc = MV_OK;
    } else if (res == CURLE_OPERATION_TIMEDOUT) {
        c->rc = MV_ERR_TIMEOUT;
    } else if (res == CURLE_FILESIZE_EXCEEDED || (res == CURLE_WRITE_ERROR && c->priv_too_large)) {
        c->rc = MV_ERR_TOO_LARGE;
    } else {
        c->rc = MV_ERR_NET;
    }
}

mv_err mv_httpc_run(mv_httpc_call *calls, size_t n)
{
    CURLM *multi = NULL;
    CURL **easy = NULL;
    struct curl_slist **hdrs = NULL;
    mv_err rc;
    if (n == 0)
        return MV_OK;
    if (!calls)
        return MV_ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if (!calls[i].url || (calls[i].method && !mv_auth_method_ok(calls[i].method)) ||
            (calls[i].body_len && !calls[i].body) || strnlen(calls[i].url, MV_HTTPC_MAX_URL + 1) > MV_HTTPC_MAX_URL)
            return MV_ERR_INVAL;
    if ((rc = mv_httpc_global_init()) != MV_OK)
        return rc;
    rc = MV_ERR_NOMEM;
    easy = mv_calloc(n, sizeof *easy);
    hdrs = mv_calloc(n, sizeof *hdrs);
    if (!easy || !hdrs || !(multi = curl_multi_init()))
        goto out;
    for (size_t i = 0; i < n; i++) {
        mv_httpc_call *c = &calls[i];
        c->rc = MV_ERR_NET;
        c->status = 0;
        c->retry_after = -1;
        c->step_up_required = 0;
        c->priv_too_large = 0;
        mv_buf_reset(&c->response);
        if ((rc = build_headers(c, &hdrs[i])) != MV_OK)
            goto out;
        rc = MV_ERR_NOMEM;
        if (!(easy[i] = curl_easy_init()))
            goto out;
        if ((rc = setup_easy(easy[i], c, hdrs[i])) != MV_OK)
            goto out;
    }
    rc = MV_ERR_NET;
    for (size_t i = 0; i < n; i++)
        if (curl_multi_add_handle(multi, easy[i]) != CURLM_OK)
            goto out;
    int running = 0;
    CURLMcode mc;
    do {
        mc = curl_multi_perform(multi, &running);
        if (mc == CURLM_OK && running)
            mc = curl_multi_poll(multi, NULL, 0, 1000, NULL);
    } while (mc == CURLM_OK && running);
    CURLMsg *msg;
    int left = 0;
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv) == CURLE_OK && priv)
            finish_call(msg->easy_handle, (mv_httpc_call *)(void *)priv, msg->data.result);
    }
    /* A multi-level failure leaves unfinished calls with rc MV_ERR_NET. */
    rc = MV_OK;
out:
    for (size_t i = 0; easy && i < n; i++) {
        if (easy[i]) {
            if (multi)
                curl_multi_remove_handle(multi, easy[i]);
            curl_easy_cleanup(easy[i]);
        }
        curl_slist_free_all(hdrs ? hdrs[i] : NULL);
    }
    if (multi)
        curl_multi_cleanup(multi);
    mv_free(easy);
    mv_free(hdrs);
    return rc;
}

/* The request target of an absolute http(s) URL as curl sends it: path (or "/") and query,
 * without the fragment. */
static mv_err url_target(const char *url, char *out, size_t cap)
{
    const char *p;
    size_t n;
    if (starts_nocase(url, "http://"))
        p = url + 7;
    else if (starts_nocase(url, "https://"))
        p = url + 8;
    else
        return MV_ERR_INVAL;
    p += strcspn(p, "/?#");
    n = strcspn(p, "#");
    if (*p != '/') {
        /* "http://host?q" is sent as "/?q". */
        if (n + 2 > cap)
            return MV_ERR_INVAL;
        out[0] = '/';
        memcpy(out + 1, p, n);
        out[n + 1] = 0;
        return MV_OK;
    }
    if (n + 1 > cap)
        return MV_ERR_INVAL;
    memcpy(out, p, n);
    out[n] = 0;
    return MV_OK;
}

static int b64_text_ok(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '+' ||
              *s == '/' || *s == '='))
            return 0;
    return 1;
}

mv_err mv_httpc_sign(mv_httpc_call *c, const uint8_t pk[static 32], const uint8_t sk[static 64],
                     const char *credential_b64, uint64_t now)
{
    char target[MV_AUTH_MAX_PATH + 2], origin[MV_AUTH_MAX_TARGET + 1];
    mv_signed_headers h;
    mv_err rc;
    if (!c || !pk || !sk || !c->url)
        return MV_ERR_INVAL;
    c->priv_n_signed = 0;
    if (credential_b64 && (strnlen(credential_b64, MV_CRED_B64_MAX + 1) > MV_CRED_B64_MAX || !credential_b64[0] ||
                           !b64_text_ok(credential_b64)))
        return MV_ERR_INVAL;
    if ((rc = url_target(c->url, target, sizeof target)) != MV_OK)
        return rc;
    if (mv_auth_origin(c->url, origin, sizeof origin) != MV_OK)
        return MV_ERR_INVAL;
    if ((rc = mv_auth_sign_request(&h, pk, sk, origin, c->method ? c->method : "GET", target, c->body, c->body_len,
                                   now)) != MV_OK)
        return rc;
    snprintf(c->priv_key_hdr, sizeof c->priv_key_hdr, "MV-Key: %s", h.key);
    snprintf(c->priv_date_hdr, sizeof c->priv_date_hdr, "MV-Date: %s", h.date);
    snprintf(c->priv_nonce_hdr, sizeof c->priv_nonce_hdr, "MV-Nonce: %s", h.nonce);
    snprintf(c->priv_target_hdr, sizeof c->priv_target_hdr, "MV-Target: %s", h.target);
    snprintf(c->priv_digest_hdr, sizeof c->priv_digest_hdr, "MV-Content-SHA256: %s", h.body_sha256);
    snprintf(c->priv_sig_hdr, sizeof c->priv_sig_hdr, "MV-Signature: %s", h.signature);
    if (credential_b64)
        snprintf(c->priv_cred_hdr, sizeof c->priv_cred_hdr, "MV-Credential: %s", credential_b64);
    else
        c->priv_cred_hdr[0] = 0;
    c->priv_n_signed = 7;
    return MV_OK;
}
