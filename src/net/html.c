/* html.c - every value placed in a page is escaped, so user-supplied text never becomes markup. */
#include "medvault/mv_html.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/utf8.h"

mv_err mv_html_escape(mv_buf *out, const char *s, size_t len)
{
    mv_err rc = MV_OK;
    if (!out || (len && !s))
        return MV_ERR_INVAL;
    size_t i = 0, run = 0;
    while (i < len && rc == MV_OK) {
        const unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        size_t l = 1;
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default:
            if (!(l = mv_utf8_seq((const unsigned char *)s + i, len - i))) {
                rep = "\xef\xbf\xbd";
                l = 1;
            }
            break;
        }
        if (!rep) {
            i += l;
            run += l;
            continue;
        }
        if (run)
            rc = mv_buf_append(out, s + i - run, run);
        if (rc == MV_OK)
            rc = mv_buf_puts(out, rep);
        run = 0;
        i += l;
    }
    if (rc == MV_OK && run)
        rc = mv_buf_append(out, s + i - run, run);
    return rc;
}

mv_err mv_html_text(mv_buf *out, const char *s)
{
    return s ? mv_html_escape(out, s, strlen(s)) : (out ? MV_OK : MV_ERR_INVAL);
}

/* spec is one conversion copied from fmt, which the format attribute already had the compiler
 * check against the arguments at every call site. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static mv_err html_vprintf(mv_buf *out, const char *fmt, va_list ap)
{
    char spec[32];
    mv_err rc = MV_OK;
    if (!out || !fmt)
        return MV_ERR_INVAL;
    const char *p = fmt;
    while (*p && rc == MV_OK) {
        const char *pc = strchr(p, '%');
        if (!pc) {
            rc = mv_buf_puts(out, p);
            break;
        }
        if (pc > p && (rc = mv_buf_append(out, p, (size_t)(pc - p))) != MV_OK)
            break;
        /* One conversion: flags/width/precision/length then a letter. */
        size_t n = 1;
        while (pc[n] && strchr("-+ #0123456789.lhzj", pc[n]))
            n++;
        char conv = pc[n];
        if (!conv || n + 2 > sizeof spec) {
            rc = MV_ERR_INVAL;
            break;
        }
        memcpy(spec, pc, n + 1);
        spec[n + 1] = 0;
        int is_long = strstr(spec, "ll") ? 2 : strchr(spec, 'l') ? 1 : 0, is_size = strchr(spec, 'z') != NULL;
        switch (conv) {
        case '%': rc = mv_buf_puts(out, "%"); break;
        case 's': rc = mv_html_text(out, va_arg(ap, const char *)); break;
        case 'd': case 'i':
            rc = is_size ? mv_buf_printf(out, spec, va_arg(ap, size_t)) : is_long == 2 ? mv_buf_printf(out, spec, va_arg(ap, long long))
                 : is_long ? mv_buf_printf(out, spec, va_arg(ap, long)) : mv_buf_printf(out, spec, va_arg(ap, int));
            break;
        case 'u': case 'x': case 'X':
            rc = is_size ? mv_buf_printf(out, spec, va_arg(ap, size_t))
                 : is_long == 2 ? mv_buf_printf(out, spec, va_arg(ap, unsigned long long))
                 : is_long ? mv_buf_printf(out, spec, va_arg(ap, unsigned long)) : mv_buf_printf(out, spec, va_arg(ap, unsigned));
            break;
        case 'f': case 'g': case 'e': rc = mv_buf_printf(out, spec, va_arg(ap, double)); break;
        default: rc = MV_ERR_INVAL; break;
        }
        p = pc + n + 1;
    }
    return rc;
}
#pragma GCC diagnostic pop

mv_err mv_html_printf(mv_buf *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mv_err rc = html_vprintf(out, fmt, ap);
    va_end(ap);
    return rc;
}

/* One small stylesheet for every page (dashboard and local UI). */
static const char STYLE[] =
    "body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1b2430;background:#f6f8fa}"
    "header{background:#0b4f6c;color:#fff;padding:.6em 1.2em;display:flex;gap:1.2em;align-items:center;flex-wrap:wrap}"
    "header strong{font-size:1.1em;margin-right:1em}header a{color:#d8eef7;text-decoration:none}"
    "header a[aria-current]{color:#fff;border-bottom:2px solid #fff}"
    "main{padding:1em 1.2em;max-width:72em}h1{font-size:1.35em}"
    "table{border-collapse:collapse;background:#fff;width:100%;margin:.6em 0 1.2em}"
    "th,td{border:1px solid #d0d7de;padding:.35em .6em;text-align:left;vertical-align:top}th{background:#eef2f5}"
    ".num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#57606a}"
    ".card{display:inline-block;background:#fff;border:1px solid #d0d7de;padding:.6em 1em;margin:0 .6em .6em 0}"
    ".card b{display:block;font-size:1.6em}a.card{color:inherit;text-decoration:none}a.card:hover{border-color:#0b4f6c}"
    "footer{margin-top:2em}form.inline{display:inline}"
    "input,select,textarea,button{font:inherit;padding:.25em .4em}button{cursor:pointer}"
    ".error{color:#a40e26;background:#ffebe9;padding:.5em .8em;border:1px solid #ffcecb}"
    ".ok{color:#1a7f37;background:#dafbe1;padding:.5em .8em;border:1px solid #aceebb}"
    "pre{background:#fff;border:1px solid #d0d7de;padding:.8em;overflow:auto;white-space:pre-wrap}"
    "code{font-family:ui-monospace,monospace;font-size:.92em}"
    /* Keys and ids may break anywhere rather than push a table past the window. */
    "code.key{overflow-wrap:anywhere}code.short{white-space:nowrap}"
    ".nowrap{white-space:nowrap}form.filters label{margin-right:.5em}nav.pager{margin:.4em 0}"
    "nav.pager>*{padding:0 .25em}details{margin:.6em 0}summary{cursor:pointer}";

mv_err mv_html_begin(mv_buf *out, const char *app, const char *title, const mv_html_link *links, size_t n_links,
                     const char *current)
{
    mv_err rc;
    if (!out || !app || !title || (n_links && !links))
        return MV_ERR_INVAL;
    if ((rc = mv_html_printf(out,
                             "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                             "<meta name=\"viewport\" content=\"width=device-width\">"
                             "<title>%s - %s</title><style>",
                             title, app)) != MV_OK ||
        (rc = mv_buf_puts(out, STYLE)) != MV_OK ||
        (rc = mv_html_printf(out, "</style></head><body><header><strong>%s</strong>", app)) != MV_OK)
        return rc;
    for (size_t i = 0; i < n_links && rc == MV_OK; i++)
        rc = mv_html_printf(out, current && !strcmp(current, links[i].href) ? "<a href=\"%s\" aria-current=\"page\">%s</a>"
                                                                             : "<a href=\"%s\">%s</a>",
                            links[i].href, links[i].label);
    if (rc == MV_OK)
        rc = mv_html_printf(out, "</header><main><h1>%s</h1>\n", title);
    return rc;
}

mv_err mv_html_end(mv_buf *out)
{
    return out ? mv_buf_puts(out, "</main></body></html>\n") : MV_ERR_INVAL;
}

/* ---------- the page writer ---------- */

void mv_hw_init(mv_hw *w, mv_buf *b)
{
    w->b = b;
    w->rc = b ? MV_OK : MV_ERR_INVAL;
}

void mv_hw_printf(mv_hw *w, const char *fmt, ...)
{
    va_list ap;
    if (w->rc != MV_OK)
        return;
    va_start(ap, fmt);
    w->rc = html_vprintf(w->b, fmt, ap);
    va_end(ap);
}

void mv_hw_raw(mv_hw *w, const char *markup)
{
    if (w->rc == MV_OK)
        w->rc = markup ? mv_buf_puts(w->b, markup) : MV_ERR_INVAL;
}

void mv_hw_begin(mv_hw *w, const char *app, const char *title, const mv_html_link *links, size_t n_links,
                 const char *current)
{
    if (w->rc == MV_OK)
        w->rc = mv_html_begin(w->b, app, title, links, n_links, current);
}

void mv_hw_end(mv_hw *w)
{
    if (w->rc == MV_OK)
        w->rc = mv_html_end(w->b);
}

mv_err mv_hw_finish(const mv_hw *w)
{
    return w->rc;
}
