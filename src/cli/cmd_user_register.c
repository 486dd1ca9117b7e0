/* cmd_user_register.c - `medvault user register`: a patient registers themself; fresh keys
 * are made on this machine and only the public keys leave it, signed with the new key. */
#include <stdio.h>

#include "workflow.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_deployment.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_sig.h"

static const char user_register_usage[] =
    "usage: medvault user register --name NAME --out DIR [--email E] [--phone P] [--json]\n\n"
    "A patient registers themself (the hospital's kiosk): creates fresh keys in DIR and sends\n"
    "the public keys and name, signed with the new key, to the hospital. The registration is\n"
    "pending (it gets an MRN) until an admin activates it (`medvault user status KEY active`);\n"
    "the first command run with --user DIR after that fetches the user's credential.\n"
    "  --deployment F   the deployment file (default $MEDVAULT_DEPLOYMENT)\n";

int cli_user_register(int argc, char **argv)
{
    static const wf_opt own[] = {{"name", 0}, {"out", 1}, {"email", 2}, {"phone", 3}};
    wf_opts o;
    mv_deployment dep;
    mv_identity *id = NULL;
    mv_httpc_call call;
    mv_buf body, msg;
    mv_json *root = NULL;
    char shex[65], bhex[65], sig_hex[129], url[sizeof dep.hospital_url + 16];
    uint8_t sig[64];
    int r = wf_parse(argc, argv, user_register_usage, own, 4, &o, 0);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 0, user_register_usage)) >= 0)
        return r;
    if (!o.c.deployment || !o.v[0] || !o.v[1]) {
        cli_err("--deployment, --name and --out are required");
        return cli_usage(user_register_usage, 0);
    }
    if (mv_httpc_global_init() != MV_OK)
        return CLI_FAIL;
    if (cli_load_deployment(o.c.deployment, NULL, &dep) != CLI_OK)
        return CLI_FAIL;
    if (!dep.hospital_url[0]) {
        cli_err("deployment file %s: names no hospital_url (the file `medvault up` writes has it)", o.c.deployment);
        return CLI_FAIL;
    }
    mv_err rc = mv_identity_create(o.v[1], &id);
    if (rc == MV_OK && (rc = mv_identity_pin_hospital(o.v[1], dep.hospital_pk)) != MV_OK)
        mv_identity_free(id);
    if (rc != MV_OK) {
        cli_err("%s: %s", o.v[1], rc == MV_ERR_EXISTS ? "already holds keys" : mv_strerror(rc));
        return CLI_FAIL;
    }
    mv_buf_init(&body, 8192);
    mv_buf_init(&msg, 4096);
    mv_httpc_call_init(&call);
    r = CLI_FAIL;
    if (mv_hex_encode(shex, sizeof shex, mv_identity_sign_pk(id), 32) != MV_OK ||
        mv_hex_encode(bhex, sizeof bhex, mv_identity_box_pk(id), 32) != MV_OK ||
        mv_buf_printf(&msg, "medvault-register-v1\n%s\n%s\n%s", o.v[0], shex, bhex) != MV_OK ||
        mv_sign(sig, msg.ptr, msg.len, mv_identity_sign_sk(id)) != MV_OK ||
        mv_hex_encode(sig_hex, sizeof sig_hex, sig, 64) != MV_OK || mv_buf_puts(&body, "{") != MV_OK ||
        wf_json_str(&body, "name", o.v[0]) != MV_OK || wf_json_str(&body, "sign_public_key", shex) != MV_OK ||
        wf_json_str(&body, "box_public_key", bhex) != MV_OK || wf_json_str(&body, "email", o.v[2]) != MV_OK ||
        wf_json_str(&body, "phone", o.v[3]) != MV_OK || wf_json_str(&body, "signature", sig_hex) != MV_OK ||
        mv_buf_puts(&body, "}") != MV_OK) {
        cli_err("cannot build the registration");
        goto out;
    }
    snprintf(url, sizeof url, "%s/v1/register", dep.hospital_url);
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    call.method = "POST";
    call.url = url;
    call.headers = hdrs;
    call.body = body.ptr;
    call.body_len = body.len;
    if (mv_httpc_run(&call, 1) != MV_OK || call.rc != MV_OK) {
        cli_err("no answer from the hospital at %s", dep.hospital_url);
        goto out;
    }
    (void)!mv_json_parse((const char *)call.response.ptr, call.response.len, NULL, &root, NULL);
    if (call.status != 202 && call.status != 201) {
        const char *e = mv_json_get_str(root, "error", NULL);
        cli_err("the hospital answered %ld: %s", call.status, e ? e : "(no message)");
        goto out;
    }
    const char *mrn = mv_json_get_str(root, "mrn", NULL);
    if (o.c.json) {
        mv_buf out;
        mv_buf_init(&out, 4096);
        if (mv_buf_puts(&out, "{") == MV_OK && wf_json_str(&out, "status", "pending") == MV_OK &&
            wf_json_str(&out, "mrn", mrn) == MV_OK && wf_json_str(&out, "sign_public_key", shex) == MV_OK &&
            wf_json_str(&out, "dir", o.v[1]) == MV_OK && mv_buf_puts(&out, "}\n") == MV_OK)
            (void)!cli_print_buf(&out);
        mv_buf_clear(&out);
    } else {
        printf("registration pending as %s (key %s); an admin activates it with\n"
               "  medvault user status %s active\n",
               mrn ? mrn : "a patient", shex, shex);
    }
    r = CLI_OK;
out:
    mv_json_free(root);
    mv_httpc_call_clear(&call);
    mv_buf_clear(&body);
    mv_buf_clear(&msg);
    mv_identity_free(id);
    return r;
}
