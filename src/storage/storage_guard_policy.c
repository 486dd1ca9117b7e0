/* storage_guard_policy.c - the guard's pure decisions (docs/guard.md): a principal's reading
 * profile and its baseline, what a request gets (real data, step-up, the decoy cloud) and how
 * an authentication failure is classified. No I/O and no clock: time is an argument, so the
 * unit tests drive them directly. */
#include <math.h>
#include <string.h>

#include "medvault/mv_decoy.h"
#include "storage_internal.h"

void guard_profile_init(guard_profile *p, const uint8_t subject[32])
{
    memset(p, 0, sizeof *p);
    memcpy(p->subject, subject, 32);
}

void guard_profile_advance(guard_profile *p, uint64_t now)
{
    uint64_t minute = now / 60, hour = now / 3600;
    if (hour > p->hour) {
        /* Only active hours count: a doctor off duty must not drag the baseline to zero. */
        if (p->hour_reads) {
            double x = (double)p->hour_reads;
            p->baseline = p->active_hours ? (1.0 - GUARD_BASELINE_ALPHA) * p->baseline + GUARD_BASELINE_ALPHA * x : x;
            p->active_hours++;
            p->dirty = 1;
        }
        p->hour = hour;
        p->hour_reads = 0;
    }
    if (minute <= p->minute)
        return;
    uint64_t gap = minute - p->minute;
    if (gap >= GUARD_SLOTS) {
        memset(p->reads, 0, sizeof p->reads);
        memset(p->denials, 0, sizeof p->denials);
    } else {
        for (uint64_t m = p->minute + 1; m <= minute; m++) {
            p->reads[m % GUARD_SLOTS] = 0;
            p->denials[m % GUARD_SLOTS] = 0;
        }
    }
    p->minute = minute;
}

uint64_t guard_profile_reads(const guard_profile *p)
{
    uint64_t n = 0;
    for (size_t i = 0; i < GUARD_SLOTS; i++)
        n += p->reads[i];
    return n;
}

uint64_t guard_profile_denials(const guard_profile *p)
{
    uint64_t n = 0;
    for (size_t i = 0; i < GUARD_SLOTS; i++)
        n += p->denials[i];
    return n;
}

uint64_t guard_profile_limit(const guard_profile *p, const guard_params *gp)
{
    double scaled = gp->factor * p->baseline;
    if (!(scaled < 1e18))
        return UINT64_MAX;
    uint64_t v = (uint64_t)ceil(scaled);
    return v > gp->floor ? v : gp->floor;
}

static uint32_t sat_add32(uint32_t a, uint64_t b)
{
    return b >= (uint64_t)(UINT32_MAX - a) ? UINT32_MAX : (uint32_t)(a + b);
}

void guard_profile_count_reads(guard_profile *p, uint64_t now, uint64_t n)
{
    guard_profile_advance(p, now);
    p->reads[p->minute % GUARD_SLOTS] = sat_add32(p->reads[p->minute % GUARD_SLOTS], n);
    p->hour_reads = p->hour_reads > UINT64_MAX - n ? UINT64_MAX : p->hour_reads + n;
}

void guard_profile_count_denials(guard_profile *p, uint64_t now, uint64_t n)
{
    guard_profile_advance(p, now);
    p->denials[p->minute % GUARD_SLOTS] = sat_add32(p->denials[p->minute % GUARD_SLOTS], n);
}

void guard_profile_reset_window(guard_profile *p)
{
    memset(p->reads, 0, sizeof p->reads);
    memset(p->denials, 0, sizeof p->denials);
}

guard_action guard_decide(guard_profile *p, uint64_t now, int is_read, uint64_t n_reads, int grant_ok,
                          const guard_params *gp, const char **why)
{
    *why = "";
    guard_profile_advance(p, now);
    if (grant_ok) {
        /* Patient safety: a clinician who passed step-up always gets real data. */
        p->demanded_at = 0;
        p->decoy_until = 0;
        guard_profile_reset_window(p);
        if (is_read)
            p->hour_reads = p->hour_reads > UINT64_MAX - n_reads ? UINT64_MAX : p->hour_reads + n_reads;
        return GUARD_SERVE;
    }
    if (p->decoy_until) {
        if (now < p->decoy_until)
            return GUARD_DECOY;
        p->decoy_until = 0;
        guard_profile_reset_window(p);
    }
    if (p->demanded_at && now - p->demanded_at >= GUARD_DECOY_SECONDS)
        p->demanded_at = 0;
    if (!is_read)
        return GUARD_SERVE;
    if (p->demanded_at) {
        /* The honest client stops reading after a demand until it steps up (mv_stepup.h):
         * a read without a grant now is someone else with the keys, or a refusal. */
        p->demanded_at = 0;
        p->decoy_until = now + GUARD_DECOY_SECONDS;
        *why = "step-up not completed";
        return GUARD_DECOY_ALERT;
    }
    uint64_t reads = guard_profile_reads(p), limit = guard_profile_limit(p, gp);
    if (reads + n_reads > limit || reads + n_reads < reads) {
        p->demanded_at = now ? now : 1;
        *why = "burst above access profile";
        return GUARD_DEMAND;
    }
    if (guard_profile_denials(p) >= gp->max_denials) {
        p->demanded_at = now ? now : 1;
        *why = "reads outside departments";
        return GUARD_DEMAND;
    }
    guard_profile_count_reads(p, now, n_reads);
    return GUARD_SERVE;
}

uint8_t guard_classify_auth(mv_err rc, mv_auth_failure why, uint64_t now, uint64_t cred_expires,
                            const guard_params *gp, const char **text)
{
    *text = "";
    if (rc == MV_OK)
        return 0;
    switch (why) {
    case MV_AUTH_FAIL_MISSING: *text = "unauthenticated"; return MV_DECOY_UNAUTHENTICATED;
    case MV_AUTH_FAIL_MALFORMED:
    case MV_AUTH_FAIL_FORGED: *text = "forged credential"; return MV_DECOY_FORGED;
    case MV_AUTH_FAIL_REVOKED: *text = "revoked credential"; return MV_DECOY_REVOKED;
    case MV_AUTH_FAIL_EXPIRED:
        /* Not yet valid, or expired within the skew: a clock problem, not an attack. */
        if (now <= cred_expires || now - cred_expires <= gp->skew)
            return 0;
        *text = "expired credential";
        return MV_DECOY_EXPIRED;
    case MV_AUTH_FAIL_NONE:
    case MV_AUTH_FAIL_SKEW:
    case MV_AUTH_FAIL_REPLAY:
    case MV_AUTH_FAIL_TARGET: /* signed by its key for another service: a plain 421 */
    case MV_AUTH_FAIL_BODY:   /* signed by its key, body damaged: a plain 400 */
    case MV_AUTH_FAIL_VERSION: /* an authentic credential from a v1 client: a plain 401 */
        break;
    }
    return 0;
}
