/* mv_html.h - server-rendered HTML for the admin dashboard (hospital) and each user's local
 * UI (`medvault ui`): escaping, and one page frame with the shared stylesheet.
 *
 * Every value interpolated into a page goes through mv_html_escape (text and attribute
 * values alike), so nothing a user typed can become markup. Pages need no JavaScript. */
#ifndef MV_HTML_H
#define MV_HTML_H

#include <stddef.h>
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Appends s[0..len) to out with & < > " ' escaped (safe in text and in quoted attribute
 * values). Invalid UTF-8 bytes become U+FFFD. Errors: MV_ERR_INVAL (NULL with len > 0),
 * MV_ERR_TOO_LARGE / MV_ERR_NOMEM (out). */
MV_API mv_err mv_html_escape(mv_buf *out, const char *s, size_t len) __attribute__((warn_unused_result));
/* mv_html_escape of a NUL-terminated string (NULL appends nothing). */
MV_API mv_err mv_html_text(mv_buf *out, const char *s) __attribute__((warn_unused_result));

/* printf-style append where every %s argument is HTML-escaped (other conversions are
 * formatted as by printf: use them only for numbers). Errors as mv_buf_printf. */
MV_API mv_err mv_html_printf(mv_buf *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), warn_unused_result));

/* A navigation link of the page frame. */
typedef struct mv_html_link {
    const char *href;
    const char *label;
} mv_html_link;

/* Appends "<!doctype html>..." up to the start of <main>: title (escaped), the stylesheet
 * (inline, so a page is one response), a header with app name (escaped) and the links, the
 * current one (href equal to `current`, may be NULL) marked aria-current. */
MV_API mv_err mv_html_begin(mv_buf *out, const char *app, const char *title, const mv_html_link *links, size_t n_links,
                            const char *current) __attribute__((warn_unused_result));
/* Closes what mv_html_begin opened. */
MV_API mv_err mv_html_end(mv_buf *out) __attribute__((warn_unused_result));

/* A page writer: a page is written as a plain sequence of calls and checked once at the end,
 * like mv_jw (mv_json.h). The first error wins: every later call does nothing, and
 * mv_hw_finish returns it. A caller that runs something else between writes (a query that
 * fills a table) stores its error in rc only while rc is still MV_OK:
 *
 *     mv_hw w;
 *     mv_hw_init(&w, &resp->body);
 *     mv_hw_begin(&w, "app", "Title", links, n, "/current");
 *     mv_hw_printf(&w, "<p>%s has %d rows</p>\n", name, n);
 *     if (w.rc == MV_OK)
 *         w.rc = fill_table(&w);
 *     mv_hw_end(&w);
 *     rc = mv_hw_finish(&w);
 *
 * On an error the buffer keeps what was written before it; the caller answers with an error
 * page instead. */
typedef struct mv_hw {
    mv_buf *b;
    mv_err rc; /* the first error, or MV_OK */
} mv_hw;

/* Starts writing into b (NULL: every call fails with MV_ERR_INVAL). */
MV_API void mv_hw_init(mv_hw *w, mv_buf *b);
/* mv_html_printf: every %s argument escaped, other conversions for numbers only. */
MV_API void mv_hw_printf(mv_hw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* markup appended as it is: for literal markup only, never for text from a user (NULL is
 * MV_ERR_INVAL). */
MV_API void mv_hw_raw(mv_hw *w, const char *markup);
/* mv_html_begin and mv_html_end. */
MV_API void mv_hw_begin(mv_hw *w, const char *app, const char *title, const mv_html_link *links, size_t n_links,
                        const char *current);
MV_API void mv_hw_end(mv_hw *w);
/* The first error of the page, or MV_OK. */
MV_API mv_err mv_hw_finish(const mv_hw *w) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
