/* main.c - the medvault binary: one table of subcommands (as wg(8) does). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "medvault/mv_crypto.h"

static const cli_cmd commands[] = {
    {"hospital", cmd_hospital, "the hospital's identity (init)"},
    {"keygen", cmd_keygen, "create a user directory with fresh Ed25519 + X25519 keys"},
    {"credential", cmd_credential, "issue or show hospital-signed credentials"},
    {"keyserver", cmd_keyserver, "threshold VOPRF key server: init, import-share, peers, run, refresh"},
    {"deployment", cmd_deployment, "write or check the deployment file clients use"},
    {"storage", cmd_storage, "storage server: run, check, gc"},
    {"oprf", cmd_oprf, "evaluate the threshold VOPRF on inputs (operators and tests)"},
    {"canon", cmd_canon, "print the canonical form of a JSON file, or its FHIR envelope/content split"},
    {"gen-emr", cmd_genemr, "generate a synthetic FHIR R4 prescription workload (tests, benchmarks)"},
    {"gen-imaging", cmd_genimaging, "generate synthetic DICOM-like attachments with shifted duplicates"},
    {"up", cmd_up, "run a whole deployment on loopback (hospital, 3 key servers, storage)"},
    {"user", cmd_user, "register users and manage their status (add, status, show)"},
    {"put", cmd_put, "encrypt and store records and attachments"},
    {"get", cmd_get, "fetch, check and decrypt records"},
    {"ls", cmd_ls, "list the records you may read (type, id, version, date, patient; filters)"},
    {"history", cmd_history, "every version of a FHIR resource"},
    {"export", cmd_export, "write FHIR resources as Bulk Data NDJSON, one file per type"},
    {"rm", cmd_rm, "delete records"},
    {"stats", cmd_stats, "storage statistics: logical, physical, savings per department"},
    {"appointment", cmd_appointment, "request, book, check in, complete, cancel and list appointments"},
    {"delegate", cmd_delegate, "patients delegate an episode to their doctor (grant, list, revoke)"},
    {"group", cmd_group, "group sharing: create, add, remove, join, roster, ls, and the group's files"},
    {"share", cmd_share, "grant or revoke another user's access to a record or an episode"},
    {"directory", cmd_directory, "search the hospital's users (admins and doctors)"},
    {"profile", cmd_profile, "show or update your own profile"},
    {"medicine", cmd_medicine, "the formulary: list, add, rm"},
    {"department", cmd_department, "list and create departments"},
    {"alerts", cmd_alerts, "the hospital's alert log (admins)"},
    {"audit", cmd_audit, "verify or fetch a daemon's tamper-evident audit log"},
    {"stepup", cmd_stepup, "step up (device key or admin approval) when storage asks; approve/deny (admins)"},
    {"dashboard", cmd_dashboard, "log a browser into the admin dashboard"},
    {"ui", cmd_ui, "your local web UI: appointments, records (decrypted here), sharing, prescriptions"},
    {"fhir", cmd_fhir, "your records through FHIR's REST API: `fhir serve` on loopback"},
    {"honeytoken", cmd_honeytoken, "plant and list honeytoken records on the storage server (admins)"},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
        printf("medvault 0.1.0\n");
        return CLI_OK;
    }
    if (mv_crypto_init() != MV_OK) {
        cli_err("cannot initialise the crypto library");
        return CLI_FAIL;
    }
    return cli_dispatch("medvault", commands, argc, argv);
}
