/* ui_clouds.c - the patient's delegations through the clouds (docs/pre.md): the form on an
 * episode and the list of those she gave, with a Revoke button. Everything is signed by the
 * client library with her keys; the page only passes the recipient, the policy and the label. */
#include "ui_internal.h"

#include <stdio.h>
#include <string.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_pre.h"

/* The form on one open episode (appointment id hex). */
void mvc_ui_clouds_form(struct req *q, const char *appt)
{
    char action[96];
    snprintf(action, sizeof action, "/appointments/%s/clouds", appt);
    mvc_ui_form_open(q, action, 0);
    P(q, "<details><summary>Delegate through the clouds</summary><p>"
         "<label>Recipient key <input name=\"to\" size=\"40\" maxlength=\"64\" placeholder=\"64 hex digits\"></label> "
         "<label>Department <input name=\"department\" size=\"14\" maxlength=\"63\" placeholder=\"theirs\"></label> "
         "<label>Days <input name=\"days\" size=\"3\" maxlength=\"3\" value=\"30\"></label> "
         "<button>Delegate</button></p><p class=\"muted\">You may go offline afterwards: both clouds check the "
         "reader's credential, the expiry and your revocation at every read.</p></details></form>");
}

/* The delegations the patient gave (proxy 1's list), each with a Revoke button. */
void mvc_ui_clouds_section(struct req *q)
{
    struct ui *u = q->u;
    mv_buf b;
    mv_json *root = NULL;
    char t[64], k[17], lbl[17];
    mv_buf_init(&b, JSON_MAX);
    mv_err rc = mv_client_pre_delegations_json(u->client, &b);
    P(q, "<h2>Delegations through the clouds</h2>\n");
    if (rc == MV_ERR_BAD_STATE) {
        P(q, "<p class=\"muted\">This deployment has no re-encryption clouds.</p>\n");
        goto out;
    }
    if (rc != MV_OK || mv_json_parse((const char *)b.ptr, b.len, NULL, &root, NULL) != MV_OK) {
        P(q, "<p class=\"error\">%s</p>\n", rc != MV_OK ? mv_client_last_error(u->client) : "malformed answer");
        goto out;
    }
    const mv_json *g = mv_json_get(root, "given");
    if (!mv_json_len(g)) {
        P(q, "<p class=\"muted\">None.</p>\n");
        goto out;
    }
    P(q, "<table><tr><th>Recipient</th><th>Department</th><th>What</th><th>Capsules</th><th>Expires</th><th></th></tr>\n");
    for (size_t i = 0; i < mv_json_len(g); i++) {
        const mv_json *d = mv_json_at(g, i);
        uint64_t kind = 0, n = 0;
        const char *to = mvc_ui_js(d, "recipient"), *label = mvc_ui_js(d, "label");
        (void)mv_json_get_u64(d, "label_kind", &kind);
        (void)mv_json_get_u64(d, "entries", &n);
        if (!mv_is_lower_hex(to, 64) || !mv_is_lower_hex(label, 32) || (kind != 1 && kind != 2))
            continue;
        mvc_ui_jtime(d, "expires_at", t, sizeof t);
        mvc_ui_short_key(to, k);
        mvc_ui_short_key(label, lbl);
        P(q, "<tr><td><code>%s</code>&hellip;</td><td>%s</td><td>%s <code>%s</code>&hellip;</td><td>%llu</td><td>%s</td><td>",
          k, mvc_ui_js(d, "department"), kind == 1 ? "episode" : "record", lbl, (unsigned long long)n, t);
        mvc_ui_form_open(q, "/clouds/revoke", 1);
        P(q, "<input type=\"hidden\" name=\"to\" value=\"%s\"><input type=\"hidden\" name=\"label\" value=\"%s\">"
             "<input type=\"hidden\" name=\"kind\" value=\"%llu\"><button>Revoke</button></form></td></tr>\n",
          to, label, (unsigned long long)kind);
    }
    P(q, "</table>\n");
out:
    mv_json_free(root);
    mv_buf_clear(&b);
}

/* POST /appointments/{id}/clouds {to, department, days}. */
void mvc_ui_clouds_grant(struct req *q, const char *appt)
{
    struct ui *u = q->u;
    char to[80], dept[80], days[16];
    uint8_t label[16], target[32], hash[32];
    size_t n = 0;
    uint64_t d = 0;
    mvc_ui_field(q, "to", to, sizeof to);
    mvc_ui_field(q, "department", dept, sizeof dept);
    mvc_ui_field(q, "days", days, sizeof days);
    for (size_t i = 0; days[i] && d <= 3650; i++)
        d = days[i] >= '0' && days[i] <= '9' ? d * 10 + (uint64_t)(days[i] - '0') : 9999;
    if (!mv_is_lower_hex(to, 64) || mv_hex_decode_exact(target, 32, to, 64) != MV_OK ||
        mv_hex_decode_exact(label, 16, appt, 32) != MV_OK || (days[0] && (d == 0 || d > 3650))) {
        mvc_ui_set_flash(u, 0, NULL, "Give the recipient's key (64 lowercase hex digits) and 1 to 3650 days.");
        mvc_ui_redirect(q->resp, "/appointments");
        return;
    }
    mv_client_pre_policy pol = {.department = dept[0] ? dept : NULL, .seconds = d * 86400u};
    mv_err rc = mv_client_pre_grant(u->client, MV_PRE_LABEL_EPISODE, label, target, &pol, hash, &n);
    if (rc == MV_OK)
        mvc_ui_set_flash(u, 1, NULL, "Delegated through both clouds to %.16s... (%zu capsule(s)): you may go offline.",
                         to, n);
    else
        mvc_ui_set_flash(u, 0, NULL, "The delegation failed: %s (%s)", mv_client_last_error(u->client), mv_strerror(rc));
    mvc_ui_redirect(q->resp, "/appointments");
}

/* POST /clouds/revoke {to, label, kind}. */
void mvc_ui_clouds_revoke(struct req *q)
{
    struct ui *u = q->u;
    char to[80], label[40], kind[8];
    uint8_t l[16], target[32];
    mvc_ui_field(q, "to", to, sizeof to);
    mvc_ui_field(q, "label", label, sizeof label);
    mvc_ui_field(q, "kind", kind, sizeof kind);
    int k = !strcmp(kind, "1") ? MV_PRE_LABEL_EPISODE : !strcmp(kind, "2") ? MV_PRE_LABEL_RECORD : 0;
    if (!k || !mv_is_lower_hex(to, 64) || mv_hex_decode_exact(target, 32, to, 64) != MV_OK ||
        !mv_is_lower_hex(label, 32) || mv_hex_decode_exact(l, 16, label, 32) != MV_OK) {
        mvc_ui_set_flash(u, 0, NULL, "Unknown delegation.");
        mvc_ui_redirect(q->resp, "/appointments");
        return;
    }
    mv_err rc = mv_client_pre_revoke(u->client, k, l, target, NULL);
    if (rc == MV_OK)
        mvc_ui_set_flash(u, 1, NULL, "Revoked at both clouds: neither re-encrypts for %.16s... any more.", to);
    else
        mvc_ui_set_flash(u, 0, NULL, "Revoking failed: %s (%s)", mv_client_last_error(u->client), mv_strerror(rc));
    mvc_ui_redirect(q->resp, "/appointments");
}
