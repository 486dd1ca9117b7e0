/* skel.c - packed skeletons (skel.h): a transform that is exact for every byte string, whose
 * decoder trusts no escape it has not range-checked and accepts one packing per input, and
 * whose temporaries (identity values) are wiped. */
#include "record/skel.h"

#include <string.h>

#include "medvault/mv_mem.h"

enum {
    ESC_UUID = 0x01,
    ESC_DATE = 0x02,
    ESC_DT = 0x03, /* + 1 with a fraction, + 2 with an offset */
    ESC_DT_MAX = 0x06,
    ESC_LIT = 0x1f,
};

#define UUID_TEXT 36
#define MAX_DAYS 3652058u                     /* 9999-12-31 as days since 0001-01-01 */
#define MAX_SECS (((uint64_t)MAX_DAYS + 1) * 86400u - 1u)
#define FRAC_MAX_DIGITS 9
#define ZONE_MAX_Q 95u                        /* 23:45 in quarter hours */
#define ESC_MAX_BYTES (1 + 5 + 1 + 4 + 1)     /* the longest escape: 0x06 secs frac zone */
#define TEXT_MAX_BYTES (20 + 1 + FRAC_MAX_DIGITS + 6) /* its text */

/* A parsed date or date-time. */
typedef struct when {
    unsigned y, mo, d, hh, mi, ss;
    int has_time, has_frac, has_zone;
    unsigned frac_digits;
    uint32_t frac;
    int zone_neg;
    unsigned zone_q; /* quarter hours */
} when;

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static int is_lhex(uint8_t c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }

static unsigned lhex_val(uint8_t c) { return is_digit(c) ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10); }

/* Two ASCII digits at p (the caller checked them). */
static unsigned dd(const uint8_t *p) { return (unsigned)(p[0] - '0') * 10u + (unsigned)(p[1] - '0'); }

static int digits(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit(p[i]))
            return 0;
    return 1;
}

static int leap(unsigned y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned month_days(unsigned y, unsigned mo)
{
    static const unsigned char n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return mo == 2 && leap(y) ? 29u : n[mo - 1];
}

/* Days since 0001-01-01 of a valid date (H. Hinnant's days_from_civil, shifted; y >= 1 keeps
 * every intermediate non-negative). */
static uint32_t days_of(unsigned y, unsigned mo, unsigned d)
{
    uint32_t yy = y - (mo <= 2);
    uint32_t era = yy / 400, yoe = yy - era * 400;
    uint32_t doy = (153u * (mo > 2 ? mo - 3 : mo + 9) + 2u) / 5u + d - 1u;
    uint32_t doe = yoe * 365u + yoe / 4u - yoe / 100u + doy;
    /* era * 146097 + doe counts from 0000-03-01; 0001-01-01 is day 306 of that count. */
    return era * 146097u + doe - 306u;
}

/* The inverse of days_of for 0..MAX_DAYS. */
static void civil_of(uint32_t days, unsigned *y, unsigned *mo, unsigned *d)
{
    uint32_t z = days + 306u;
    uint32_t era = z / 146097u, doe = z - era * 146097u;
    uint32_t yoe = (doe - doe / 1460u + doe / 36524u - doe / 146096u) / 365u;
    uint32_t doy = doe - (365u * yoe + yoe / 4u - yoe / 100u);
    uint32_t mp = (5u * doy + 2u) / 153u;
    *d = doy - (153u * mp + 2u) / 5u + 1u;
    *mo = mp < 10 ? mp + 3u : mp - 9u;
    *y = era * 400u + yoe + (*mo <= 2);
}

/* ---- matching (what pack escapes) ---- */

static int match_uuid(const uint8_t *p, size_t left)
{
    if (left < UUID_TEXT)
        return 0;
    for (size_t i = 0; i < UUID_TEXT; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? p[i] != '-' : !is_lhex(p[i]))
            return 0;
    }
    return 1;
}

/* The longest date or date-time of an escapable shape at p: its text length (0: none). */
static size_t match_when(const uint8_t *p, size_t left, when *w)
{
    size_t n;
    memset(w, 0, sizeof *w);
    if (left < 10 || !digits(p, 4) || p[4] != '-' || !digits(p + 5, 2) || p[7] != '-' || !digits(p + 8, 2))
        return 0;
    w->y = dd(p) * 100u + dd(p + 2);
    w->mo = dd(p + 5);
    w->d = dd(p + 8);
    if (w->y < 1 || w->mo < 1 || w->mo > 12 || w->d < 1 || w->d > month_days(w->y, w->mo))
        return 0;
    /* The time part, all or nothing: when it is not one of the shapes, the date alone is. */
    if (left < 20 || p[10] != 'T' || !digits(p + 11, 2) || p[13] != ':' || !digits(p + 14, 2) || p[16] != ':' ||
        !digits(p + 17, 2))
        return 10;
    unsigned hh = dd(p + 11), mi = dd(p + 14), ss = dd(p + 17);
    if (hh > 23 || mi > 59 || ss > 59)
        return 10;
    n = 19;
    uint64_t frac = 0; /* up to 10 digits are read: the tenth refuses the time part */
    unsigned nd = 0;
    if (p[n] == '.') {
        while (n + 1 + nd < left && is_digit(p[n + 1 + nd]) && nd <= FRAC_MAX_DIGITS) {
            frac = frac * 10u + (uint32_t)(p[n + 1 + nd] - '0');
            nd++;
        }
        if (nd < 1 || nd > FRAC_MAX_DIGITS)
            return 10;
        n += 1 + nd;
    }
    if (n < left && p[n] == 'Z') {
        n += 1;
    } else if (left - n >= 6 && (p[n] == '+' || p[n] == '-') && digits(p + n + 1, 2) && p[n + 3] == ':' &&
               digits(p + n + 4, 2) && dd(p + n + 1) <= 23 && dd(p + n + 4) % 15 == 0 && dd(p + n + 4) <= 45) {
        w->has_zone = 1;
        w->zone_neg = p[n] == '-';
        w->zone_q = dd(p + n + 1) * 4u + dd(p + n + 4) / 15u;
        n += 6;
    } else {
        return 10;
    }
    w->has_time = 1;
    w->hh = hh, w->mi = mi, w->ss = ss;
    w->has_frac = nd > 0;
    w->frac_digits = nd;
    w->frac = (uint32_t)frac;
    return n;
}

/* Bytes of a fraction of nd digits (values below 10^nd). */
static size_t frac_width(unsigned nd) { return nd <= 2 ? 1 : nd <= 4 ? 2 : nd <= 7 ? 3 : 4; }

static size_t put_be(uint8_t *o, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        o[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return n;
}

static uint64_t get_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* The escape of w into e (ESC_MAX_BYTES); returns its length. */
static size_t when_escape(const when *w, uint8_t *e)
{
    size_t n = 0;
    uint32_t days = days_of(w->y, w->mo, w->d);
    if (!w->has_time) {
        e[n++] = ESC_DATE;
        n += put_be(e + n, days, 3);
        return n;
    }
    e[n++] = (uint8_t)(ESC_DT + (w->has_frac ? 1 : 0) + (w->has_zone ? 2 : 0));
    n += put_be(e + n, (uint64_t)days * 86400u + w->hh * 3600u + w->mi * 60u + w->ss, 5);
    if (w->has_frac) {
        e[n++] = (uint8_t)w->frac_digits;
        n += put_be(e + n, w->frac, frac_width(w->frac_digits));
    }
    if (w->has_zone)
        e[n++] = (uint8_t)((w->zone_neg ? 0x80u : 0u) | w->zone_q);
    return n;
}

mv_err mv_skel_pack(const uint8_t *in, size_t len, mv_buf *out)
{
    mv_err rc = MV_OK;
    size_t start, i = 0, run = 0; /* in[run..i) is a pending run of plain bytes */
    uint8_t e[ESC_MAX_BYTES > 17 ? ESC_MAX_BYTES : 17];
    when w;

    if (!out || (!in && len))
        return MV_ERR_INVAL;
    start = out->len;
    while (i < len) {
        uint8_t c = in[i];
        size_t used = 0, elen = 0;
        if (is_lhex(c) && match_uuid(in + i, len - i)) {
            e[0] = ESC_UUID;
            for (size_t k = 0, j = 0; k < 16; k++) {
                if (j == 8 || j == 13 || j == 18 || j == 23)
                    j++;
                e[1 + k] = (uint8_t)(lhex_val(in[i + j]) << 4 | lhex_val(in[i + j + 1]));
                j += 2;
            }
            used = UUID_TEXT, elen = 17;
        } else if (is_digit(c) && (used = match_when(in + i, len - i, &w)) != 0) {
            elen = when_escape(&w, e);
        } else if (c < 0x20) {
            e[0] = ESC_LIT, e[1] = c;
            used = 1, elen = 2;
        } else {
            i++;
            continue;
        }
        if ((rc = mv_buf_append(out, in + run, i - run)) != MV_OK || (rc = mv_buf_append(out, e, elen)) != MV_OK)
            goto out;
        i += used;
        run = i;
    }
    rc = mv_buf_append(out, in + run, i - run);
out:
    mv_wipe(e, sizeof e);
    mv_wipe(&w, sizeof w);
    if (rc != MV_OK && out->ptr && out->len > start) {
        mv_wipe(out->ptr + start, out->len - start);
        out->len = start;
        out->ptr[start] = 0;
    }
    return rc;
}

/* ---- unpacking ---- */

static void put2(uint8_t *t, unsigned v)
{
    t[0] = (uint8_t)('0' + v / 10u);
    t[1] = (uint8_t)('0' + v % 10u);
}

/* The text of the escape at p (p[0] is ESC_DATE..ESC_DT_MAX) into t (TEXT_MAX_BYTES):
 * *used receives the escape's length, *tlen the text's. MV_ERR_PARSE when truncated or out of
 * range. */
static mv_err when_text(const uint8_t *p, size_t left, size_t *used, uint8_t *t, size_t *tlen)
{
    unsigned y, mo, d;
    size_t n = 1, k;
    uint8_t code = p[0];
    if (code == ESC_DATE) {
        if (left < 4 || get_be(p + 1, 3) > MAX_DAYS)
            return MV_ERR_PARSE;
        civil_of((uint32_t)get_be(p + 1, 3), &y, &mo, &d);
        put2(t, y / 100u), put2(t + 2, y % 100u), t[4] = '-', put2(t + 5, mo), t[7] = '-', put2(t + 8, d);
        *used = 4, *tlen = 10;
        return MV_OK;
    }
    int has_frac = (code - ESC_DT) & 1, has_zone = (code - ESC_DT) & 2;
    if (left < 6)
        return MV_ERR_PARSE;
    uint64_t secs = get_be(p + 1, 5);
    if (secs > MAX_SECS)
        return MV_ERR_PARSE;
    n = 6;
    civil_of((uint32_t)(secs / 86400u), &y, &mo, &d);
    uint32_t s = (uint32_t)(secs % 86400u);
    put2(t, y / 100u), put2(t + 2, y % 100u), t[4] = '-', put2(t + 5, mo), t[7] = '-', put2(t + 8, d);
    t[10] = 'T', put2(t + 11, s / 3600u), t[13] = ':', put2(t + 14, s / 60u % 60u), t[16] = ':',
    put2(t + 17, s % 60u);
    k = 19;
    if (has_frac) {
        if (n >= left)
            return MV_ERR_PARSE;
        unsigned nd = p[n++];
        if (nd < 1 || nd > FRAC_MAX_DIGITS || left - n < frac_width(nd))
            return MV_ERR_PARSE;
        uint64_t f = get_be(p + n, frac_width(nd));
        n += frac_width(nd);
        t[k++] = '.';
        for (unsigned i = nd; i-- > 0;) {
            t[k + i] = (uint8_t)('0' + f % 10u);
            f /= 10u;
        }
        if (f) /* 10^nd or more */
            return MV_ERR_PARSE;
        k += nd;
    }
    if (has_zone) {
        if (n >= left)
            return MV_ERR_PARSE;
        uint8_t z = p[n++];
        unsigned q = z & 0x7fu;
        if (q > ZONE_MAX_Q)
            return MV_ERR_PARSE;
        t[k] = (z & 0x80u) ? '-' : '+';
        put2(t + k + 1, q / 4u), t[k + 3] = ':', put2(t + k + 4, q % 4u * 15u);
        k += 6;
    } else {
        t[k++] = 'Z';
    }
    *used = n, *tlen = k;
    return MV_OK;
}

mv_err mv_skel_unpack(const uint8_t *in, size_t len, size_t max_out, mv_buf *out)
{
    static const char hex[] = "0123456789abcdef";
    mv_err rc = MV_OK;
    size_t start, i = 0, run = 0, produced = 0;
    uint8_t t[TEXT_MAX_BYTES > UUID_TEXT ? TEXT_MAX_BYTES : UUID_TEXT];
    mv_buf again;

    if (!out || (!in && len))
        return MV_ERR_INVAL;
    mv_buf_init(&again, len);
    start = out->len;
    /* One allocation each in the common case: text is rarely more than twice its packing,
     * and a canonical packing packs back to exactly len bytes. A reservation beyond out->max
     * is left to the appends below, which report it. */
    if (len) {
        if ((rc = mv_buf_reserve(out, len < max_out / 2 ? len * 2 : max_out)) == MV_ERR_NOMEM ||
            (rc = mv_buf_reserve(&again, len)) == MV_ERR_NOMEM)
            goto out;
        rc = MV_OK;
    }
    while (i < len) {
        uint8_t c = in[i];
        size_t used, tlen;
        if (c >= 0x20) {
            i++;
            continue;
        }
        rc = MV_ERR_PARSE;
        if (c == ESC_UUID) {
            if (len - i < 17)
                goto out;
            for (size_t k = 0, j = 0; k < 16; k++) {
                if (j == 8 || j == 13 || j == 18 || j == 23)
                    t[j++] = '-';
                t[j++] = (uint8_t)hex[in[i + 1 + k] >> 4];
                t[j++] = (uint8_t)hex[in[i + 1 + k] & 15];
            }
            used = 17, tlen = UUID_TEXT;
        } else if (c >= ESC_DATE && c <= ESC_DT_MAX) {
            if ((rc = when_text(in + i, len - i, &used, t, &tlen)) != MV_OK)
                goto out;
        } else if (c == ESC_LIT) {
            if (len - i < 2 || in[i + 1] >= 0x20)
                goto out;
            t[0] = in[i + 1];
            used = 2, tlen = 1;
        } else {
            goto out; /* no other byte below 0x20 is written */
        }
        rc = MV_ERR_TOO_LARGE;
        if (i - run > max_out - produced || tlen > max_out - produced - (i - run))
            goto out;
        produced += i - run + tlen;
        if ((rc = mv_buf_append(out, in + run, i - run)) != MV_OK || (rc = mv_buf_append(out, t, tlen)) != MV_OK)
            goto out;
        i += used;
        run = i;
    }
    rc = MV_ERR_TOO_LARGE;
    if (i - run > max_out - produced)
        goto out;
    if ((rc = mv_buf_append(out, in + run, i - run)) != MV_OK)
        goto out;
    if (out->len == start) /* nothing in, nothing out */
        goto out;
    /* One packing per text: an escape mv_skel_pack would not have written (a UUID left as
     * text, a date escaped where a longer date-time was there to take, ...) is refused, so
     * packed forms compare as their texts do. Packing never outgrows its input here (the
     * text came from these very escapes), hence again's cap. */
    if ((rc = mv_skel_pack(out->ptr + start, out->len - start, &again)) != MV_OK) {
        rc = rc == MV_ERR_TOO_LARGE ? MV_ERR_PARSE : rc;
        goto out;
    }
    rc = again.len == len && (len == 0 || memcmp(again.ptr, in, len) == 0) ? MV_OK : MV_ERR_PARSE;
out:
    mv_wipe(t, sizeof t);
    mv_buf_clear(&again);
    if (rc != MV_OK && out->ptr && out->len > start) {
        mv_wipe(out->ptr + start, out->len - start);
        out->len = start;
        out->ptr[start] = 0;
    }
    return rc;
}
