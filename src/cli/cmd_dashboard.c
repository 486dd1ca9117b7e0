/* cmd_dashboard.c - `medvault dashboard`: a one-time login URL for the hospital's admin
 * dashboard, or the signed answer to its login challenge. */
#include <stdio.h>
#include <string.h>

#include "workflow.h"
#include "medvault/mv_client.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_sig.h"

static const char dashboard_usage[] =
    "usage: medvault dashboard [--json]\n"
    "       medvault dashboard --sign CHALLENGE\n\n"
    "As an admin: prints a one-time URL (valid 2 minutes) that logs a browser into the hospital's\n"
    "admin dashboard. With --sign, prints the answer to the challenge shown on the dashboard's\n"
    "login page instead (paste the key and signature there).\n" CLI_COMMON_HELP;

#define DASH_DOMAIN "medvault-dashboard-login-v1\n"

int cmd_dashboard(int argc, char **argv)
{
    static const wf_opt own[] = {{"sign", 0}};
    wf_opts o;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, dashboard_usage, own, 1, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 0, dashboard_usage)) >= 0)
        return r;
    if (o.v[0]) {
        mv_identity *id = NULL;
        uint8_t sig[64], msg[sizeof DASH_DOMAIN + 256];
        char khex[65], shex[129];
        size_t cl = strlen(o.v[0]);
        if (cl > 256 || !mv_is_lower_hex(o.v[0], cl)) {
            cli_err("the challenge is the hex text shown on the login page");
            return CLI_USAGE;
        }
        if (mv_identity_load(o.c.user, &id) != MV_OK) {
            cli_err("%s: cannot load the user's keys", o.c.user);
            return CLI_FAIL;
        }
        memcpy(msg, DASH_DOMAIN, sizeof DASH_DOMAIN - 1);
        memcpy(msg + sizeof DASH_DOMAIN - 1, o.v[0], cl);
        mv_err rc = mv_sign(sig, msg, sizeof DASH_DOMAIN - 1 + cl, mv_identity_sign_sk(id));
        if (rc == MV_OK)
            rc = mv_hex_encode(khex, sizeof khex, mv_identity_sign_pk(id), 32);
        if (rc == MV_OK)
            rc = mv_hex_encode(shex, sizeof shex, sig, 64);
        mv_identity_free(id);
        if (rc != MV_OK) {
            cli_err("cannot sign: %s", mv_strerror(rc));
            return CLI_FAIL;
        }
        if (o.c.json) {
            mv_buf b;
            mv_jw w;
            cli_json_begin(&w, &b);
            mv_jw_kstr(&w, "key", khex);
            mv_jw_kstr(&w, "signature", shex);
            return cli_json_end(&w, &b);
        }
        printf("key        %s\nsignature  %s\n", khex, shex);
        return CLI_OK;
    }
    mv_client *cl = cli_open_client(&o.c, NULL, "dashboard");
    if (!cl)
        return CLI_FAIL;
    wf_opts quiet = o;
    quiet.c.json = 0;
    if ((r = wf_call(cl, &quiet, "POST", "/v1/sessions", NULL, &root)) == CLI_OK) {
        const char *u = mv_json_get_str(root, "login_url", NULL);
        mv_buf url;
        mv_buf_init(&url, 4096);
        /* The hospital answers with a path; the deployment knows where the hospital is. */
        if (!u || mv_client_hospital_url(cl, &url) != MV_OK || mv_buf_puts(&url, u) != MV_OK) {
            cli_err("the hospital's answer has no login_url");
            r = CLI_FAIL;
        } else if (o.c.json) {
            mv_buf b;
            mv_jw w;
            cli_json_begin(&w, &b);
            mv_jw_kstr(&w, "url", wf_cstr(&url));
            r = cli_json_end(&w, &b);
        } else {
            printf("%s\n", wf_cstr(&url));
        }
        mv_buf_clear(&url);
    }
    mv_json_free(root);
    mv_client_close(cl);
    return r;
}
