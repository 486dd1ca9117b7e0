/* cmd_keys.c - `medvault hospital init`, `medvault keygen`, `medvault credential issue|show`. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "medvault/mv_auth.h"
#include "medvault/mv_buf.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_file.h"
#include "medvault/mv_identity.h"
#include "medvault/mv_json.h"
#include "medvault/mv_mem.h"

/* Prints {"sign_public_key":..,"box_public_key":..} (or text) for an identity. */
static int print_public(const mv_identity *id, int json, const char *label)
{
    char s[65], b[65];
    if (mv_hex_encode(s, sizeof s, mv_identity_sign_pk(id), 32) != MV_OK ||
        mv_hex_encode(b, sizeof b, mv_identity_box_pk(id), 32) != MV_OK)
        return CLI_FAIL;
    if (json) {
        mv_buf o;
        mv_jw w;
        cli_json_begin(&w, &o);
        mv_jw_kstr(&w, "sign_public_key", s);
        mv_jw_kstr(&w, "box_public_key", b);
        return cli_json_end(&w, &o);
    }
    printf("%s\nsigning key (Ed25519):    %s\nencryption key (X25519): %s\n", label, s, b);
    return CLI_OK;
}

/* Shared by `hospital init`, `keygen` and `keyserver init`: a fresh identity directory. */
static int make_identity(const char *usage, int argc, char **argv, const char *dir_opt,
                         const char *label, int json_default)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'}, {"out", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    int json = json_default, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'j': json = 1; break;
        case 'h': return cli_usage(usage, 1);
        default: return cli_usage(usage, 0);
        }
    }
    if (!dir || optind != argc) {
        cli_err("%s is required", dir_opt);
        return cli_usage(usage, 0);
    }
    mv_identity *id = NULL;
    mv_err rc = mv_identity_create(dir, &id);
    if (rc == MV_ERR_EXISTS) {
        cli_err("%s already holds keys; refusing to overwrite them", dir);
        return CLI_FAIL;
    }
    if (rc != MV_OK) {
        cli_err("cannot create keys in %s: %s", dir, mv_strerror(rc));
        return CLI_FAIL;
    }
    int r = print_public(id, json, label);
    mv_identity_free(id);
    return r;
}

static const char hospital_init_usage[] =
    "usage: medvault hospital init --dir DIR [--json]\n\n"
    "Creates the hospital's key pair in DIR (keys 0600, public.json). The Ed25519 public key\n"
    "is the one every service is started with (--hospital-key) and that verifies credentials.\n";

static int hospital_init(int argc, char **argv)
{
    return make_identity(hospital_init_usage, argc, argv, "--dir",
                         "hospital keys created", 0);
}

int cmd_hospital(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"init", hospital_init, "create the hospital key pair"},
        {"run", cmd_hospital_run, "run the hospital service (registration, dedup tokens)"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault hospital", table, argc, argv);
}

static const char keygen_usage[] =
    "usage: medvault keygen --out DIR [--json]\n\n"
    "Creates a user directory DIR (0700) with fresh Ed25519 (signing) and X25519 (encryption)\n"
    "keys in DIR/keys (0600) and prints the public keys as JSON. Save the credential the\n"
    "hospital issues for the signing key as DIR/credential.\n";

int cmd_keygen(int argc, char **argv)
{
    return make_identity(keygen_usage, argc, argv, "--out", "user keys created", 1);
}

int cmd_keyserver_init(int argc, char **argv);
static const char ks_init_usage[] =
    "usage: medvault keyserver init --dir DIR [--json]\n\n"
    "Creates a key server's state directory with its own signing key (used for DKG messages).\n"
    "Issue it a credential with role keyserver and save it as DIR/credential.\n";

int cmd_keyserver_init(int argc, char **argv)
{
    return make_identity(ks_init_usage, argc, argv, "--dir", "key server identity created", 0);
}

/* ---------- credentials ---------- */

static const char issue_usage[] =
    "usage: medvault credential issue --hospital-dir DIR --subject PUBKEY_HEX --role ROLE\n"
    "                                 [--department NAME]... [--days N] [--out FILE] [--json]\n\n"
    "Signs a credential (subject key, role, departments, expiry) with the hospital key and\n"
    "prints it as base64 (the MV-Credential header). --out FILE also saves it (0600), e.g. as\n"
    "a user directory's `credential`. Roles: doctor, patient, admin, keyserver, storage.\n"
    "--days defaults to 30 (at most 3650).\n";

static int valid_role(const char *r)
{
    return mv_role_of(r) != MV_ROLE_NONE;
}

static int credential_issue(int argc, char **argv)
{
    static const struct option opts[] = {
        {"hospital-dir", required_argument, NULL, 'H'}, {"subject", required_argument, NULL, 's'},
        {"role", required_argument, NULL, 'r'},         {"department", required_argument, NULL, 'd'},
        {"days", required_argument, NULL, 'D'},         {"out", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, 'j'},               {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *hdir = NULL, *subject = NULL, *role = NULL, *out = NULL;
    const char *depts[MV_CRED_MAX_DEPTS];
    size_t nd = 0;
    uint64_t days = 30;
    int json = 0, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'H': hdir = optarg; break;
        case 's': subject = optarg; break;
        case 'r': role = optarg; break;
        case 'd':
            if (nd == MV_CRED_MAX_DEPTS) {
                cli_err("at most %d departments per credential", MV_CRED_MAX_DEPTS);
                return CLI_USAGE;
            }
            depts[nd++] = optarg;
            break;
        case 'D':
            if (cli_u64_arg(optarg, 1, 3650, &days, "--days"))
                return CLI_USAGE;
            break;
        case 'o': out = optarg; break;
        case 'j': json = 1; break;
        case 'h': return cli_usage(issue_usage, 1);
        default: return cli_usage(issue_usage, 0);
        }
    }
    if (!hdir || !subject || !role || optind != argc)
        return cli_usage(issue_usage, 0);
    if (!valid_role(role)) {
        cli_err("unknown role '%s' (doctor, patient, admin, keyserver, storage)", role);
        return CLI_USAGE;
    }
    mv_credential cred;
    memset(&cred, 0, sizeof cred);
    if (cli_hex_arg(subject, cred.subject, 32, "--subject"))
        return CLI_USAGE;
    snprintf(cred.role, sizeof cred.role, "%s", role);
    for (size_t i = 0; i < nd; i++) {
        if (strlen(depts[i]) == 0 || strlen(depts[i]) > MV_CRED_MAX_DEPT_LEN) {
            cli_err("department names are 1 to %d characters", MV_CRED_MAX_DEPT_LEN);
            return CLI_USAGE;
        }
        snprintf(cred.departments[i], sizeof cred.departments[i], "%s", depts[i]);
    }
    cred.n_departments = nd;
    cred.issued_at = (uint64_t)time(NULL);
    cred.expires_at = cred.issued_at + days * 86400;

    mv_identity *hosp = NULL;
    mv_err rc = mv_identity_load(hdir, &hosp);
    if (rc != MV_OK) {
        cli_err("cannot load the hospital keys from %s: %s", hdir, mv_strerror(rc));
        return CLI_FAIL;
    }
    char b64[MV_CRED_B64_MAX];
    rc = mv_credential_issue(&cred, mv_identity_sign_pk(hosp), mv_identity_sign_sk(hosp));
    if (rc == MV_OK)
        rc = mv_credential_encode(&cred, b64, sizeof b64);
    mv_identity_free(hosp);
    if (rc != MV_OK) {
        cli_err("cannot issue the credential: %s", mv_strerror(rc));
        return CLI_FAIL;
    }
    if (out) {
        size_t len = strlen(b64);
        b64[len] = '\n';
        rc = mv_file_write_atomic(out, b64, len + 1, 0600);
        b64[len] = 0;
        if (rc != MV_OK) {
            cli_err("cannot write %s: %s", out, mv_strerror(rc));
            return CLI_FAIL;
        }
    }
    if (json) {
        mv_buf o;
        mv_jw w;
        cli_json_begin(&w, &o);
        mv_jw_kstr(&w, "credential", b64);
        mv_jw_kstr(&w, "role", cred.role);
        mv_jw_ku64(&w, "expires_at", cred.expires_at);
        return cli_json_end(&w, &o);
    }
    printf("%s\n", b64);
    return CLI_OK;
}

static const char show_usage[] =
    "usage: medvault credential show FILE [--hospital-key HEX] [--json]\n\n"
    "Decodes a credential (FILE, or - for standard input) and prints its fields; with\n"
    "--hospital-key it also verifies the signature and the validity window.\n";

static int credential_show(int argc, char **argv)
{
    static const struct option opts[] = {
        {"hospital-key", required_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *hk = NULL;
    int json = 0, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k': hk = optarg; break;
        case 'j': json = 1; break;
        case 'h': return cli_usage(show_usage, 1);
        default: return cli_usage(show_usage, 0);
        }
    }
    if (optind != argc - 1)
        return cli_usage(show_usage, 0);
    const char *path = argv[optind];
    mv_buf b;
    mv_buf_init(&b, MV_CRED_B64_MAX);
    mv_err rc;
    if (!strcmp(path, "-")) {
        char chunk[512];
        size_t n;
        rc = MV_OK;
        while (rc == MV_OK && (n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
            rc = mv_buf_append(&b, chunk, n);
    } else {
        rc = mv_file_read(path, MV_CRED_B64_MAX, &b);
    }
    if (rc != MV_OK) {
        cli_err("cannot read %s: %s", path, mv_strerror(rc));
        mv_buf_clear(&b);
        return CLI_FAIL;
    }
    while (b.len && (b.ptr[b.len - 1] == '\n' || b.ptr[b.len - 1] == '\r' || b.ptr[b.len - 1] == ' '))
        b.len--;
    mv_credential cred;
    rc = mv_credential_decode((const char *)b.ptr, b.len, &cred);
    mv_buf_clear(&b);
    if (rc != MV_OK) {
        cli_err("not a medvault credential: %s", mv_strerror(rc));
        return CLI_FAIL;
    }
    const char *status = "not verified";
    int ret = CLI_OK;
    if (hk) {
        uint8_t hpk[32];
        if (cli_hex_arg(hk, hpk, 32, "--hospital-key"))
            return CLI_USAGE;
        rc = mv_credential_verify(&cred, hpk, (uint64_t)time(NULL));
        status = rc == MV_OK ? "valid" : rc == MV_ERR_EXPIRED ? "expired" : "invalid signature or issuer";
        if (rc != MV_OK)
            ret = CLI_FAIL;
    }
    char subj[65], iss[65];
    if (mv_hex_encode(subj, sizeof subj, cred.subject, 32) != MV_OK ||
        mv_hex_encode(iss, sizeof iss, cred.issuer, 32) != MV_OK)
        return CLI_FAIL;
    mv_buf o;
    mv_buf_init(&o, 8192);
    if (json) {
        mv_jw w;
        mv_jw_init(&w, &o);
        mv_jw_obj(&w);
        mv_jw_kstr(&w, "subject", subj);
        mv_jw_kstr(&w, "issuer", iss);
        mv_jw_kstr(&w, "role", cred.role);
        mv_jw_key(&w, "departments");
        mv_jw_arr(&w);
        for (size_t i = 0; i < cred.n_departments; i++)
            mv_jw_str(&w, cred.departments[i]);
        mv_jw_arr_end(&w);
        mv_jw_ku64(&w, "issued_at", cred.issued_at);
        mv_jw_ku64(&w, "expires_at", cred.expires_at);
        mv_jw_kstr(&w, "status", status);
        mv_jw_obj_end(&w);
        if ((rc = mv_jw_finish(&w)) == MV_OK)
            rc = mv_buf_puts(&o, "\n");
    } else {
        rc = mv_buf_printf(&o, "subject:     %s\nissuer:      %s\nrole:        %s\ndepartments:", subj, iss,
                           cred.role);
        for (size_t i = 0; rc == MV_OK && i < cred.n_departments; i++)
            rc = mv_buf_printf(&o, " %s", cred.departments[i]);
        if (rc == MV_OK)
            rc = mv_buf_printf(&o, "\nissued at:   %llu\nexpires at:  %llu\nstatus:      %s\n",
                               (unsigned long long)cred.issued_at, (unsigned long long)cred.expires_at, status);
    }
    if (rc == MV_OK)
        cli_print_buf(&o);
    mv_buf_clear(&o);
    return rc == MV_OK ? ret : CLI_FAIL;
}

int cmd_credential(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"issue", credential_issue, "sign a credential with the hospital key"},
        {"show", credential_show, "decode (and verify) a credential"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault credential", table, argc, argv);
}
