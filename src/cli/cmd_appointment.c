/* cmd_appointment.c - `medvault appointment`: patients ask for appointments, admins book and
 * assign them, the designated doctor checks in and completes them. */
#include <stdio.h>
#include <string.h>

#include "workflow.h"
#include "medvault/mv_codec.h"

#define BODY_MAX ((size_t)1 << 20)

static const wf_col appt_cols[] = {
    {"ID", "id", COL_STR},           {"STATUS", "status", COL_STR},     {"WHEN", "starts_at", COL_TIME},
    {"PLACE", "place", COL_STR},     {"DEPARTMENT", "department", COL_STR}, {"PATIENT", "patient.name", COL_STR},
    {"MRN", "patient.mrn", COL_STR}, {"DOCTOR", "doctor.name", COL_STR},
};
#define N_APPT_COLS (sizeof appt_cols / sizeof appt_cols[0])

static void print_appointment(const mv_json *a)
{
    wf_print_fields(a, appt_cols, N_APPT_COLS);
    wf_col more[] = {{"REASON", "reason", COL_STR}, {"DOCTOR KEY", "doctor.sign_public_key", COL_STR}};
    wf_print_fields(a, more, 2);
}

enum { A_DEPT, A_REASON, A_PATIENT, A_DOCTOR, A_AT, A_PLACE, A_STATUS };

static const char appt_request_usage[] =
    "usage: medvault appointment request [--department D] [--reason TEXT] [--json]\n\n"
    "As a patient: asks the hospital for an appointment. The hospital assigns the department\n"
    "(if not given), designates a doctor and books a time and place.\n" CLI_COMMON_HELP;
static const char appt_book_usage[] =
    "usage: medvault appointment book --patient KEY|MRN [--department D] [--doctor KEY] [--at TIME]\n"
    "                                 [--place P] [--reason TEXT] [--json]\n\n"
    "As an admin: creates an appointment for a patient; it is booked once department, doctor,\n"
    "time and place are all set. TIME is unix seconds or YYYY-MM-DDTHH:MM (UTC).\n" CLI_COMMON_HELP;
static const char appt_update_usage[] =
    "usage: medvault appointment update ID [--department D] [--doctor KEY] [--at TIME] [--place P]\n"
    "                                      [--status booked|checked_in|completed|cancelled] [--json]\n\n"
    "Changes an appointment: admins assign department, doctor, time and place; the designated\n"
    "doctor checks the patient in and completes it; the patient cancels.\n" CLI_COMMON_HELP;

static int appt_send(int argc, char **argv, const char *usage, int create)
{
    static const wf_opt own[] = {{"department", A_DEPT}, {"reason", A_REASON}, {"patient", A_PATIENT},
                                 {"doctor", A_DOCTOR},   {"at", A_AT},         {"place", A_PLACE},
                                 {"status", A_STATUS}};
    wf_opts o;
    mv_buf body, path;
    mv_json *root = NULL;
    uint64_t at = 0;
    int r = wf_parse(argc, argv, usage, own, sizeof own / sizeof own[0], &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, create ? 0 : 1, usage)) >= 0)
        return r;
    if (o.v[A_AT] && wf_time_arg(o.v[A_AT], &at) != 0)
        return CLI_USAGE;
    const char *id = create ? NULL : argv[optind];
    if (id && !mv_is_lower_hex(id, 32)) {
        cli_err("an appointment id is 32 lowercase hex digits");
        return CLI_USAGE;
    }
    mv_buf_init(&body, BODY_MAX);
    mv_buf_init(&path, 256);
    mv_err rc = mv_buf_puts(&body, "{");
    if (rc == MV_OK) rc = wf_json_str(&body, "department", o.v[A_DEPT]);
    if (rc == MV_OK) rc = wf_json_str(&body, "reason", o.v[A_REASON]);
    if (rc == MV_OK) rc = wf_json_str(&body, "patient", o.v[A_PATIENT]);
    if (rc == MV_OK) rc = wf_json_str(&body, "doctor", o.v[A_DOCTOR]);
    if (rc == MV_OK && o.v[A_AT]) rc = wf_json_u64(&body, "starts_at", at);
    if (rc == MV_OK) rc = wf_json_str(&body, "place", o.v[A_PLACE]);
    if (rc == MV_OK) rc = wf_json_str(&body, "status", o.v[A_STATUS]);
    if (rc == MV_OK) rc = mv_buf_puts(&body, "}");
    if (rc == MV_OK) rc = create ? mv_buf_puts(&path, "/v1/appointments") : mv_buf_printf(&path, "/v1/appointments/%s", id);
    if (rc != MV_OK) {
        cli_err("arguments too long");
        r = CLI_USAGE;
    } else if ((r = wf_simple(&o, "POST", wf_cstr(&path), &body, &root)) == CLI_OK && !o.c.json) {
        print_appointment(root);
    }
    mv_json_free(root);
    mv_buf_clear(&body);
    mv_buf_clear(&path);
    return r;
}

static int appt_request(int argc, char **argv) { return appt_send(argc, argv, appt_request_usage, 1); }
static int appt_book(int argc, char **argv) { return appt_send(argc, argv, appt_book_usage, 1); }
static int appt_update(int argc, char **argv) { return appt_send(argc, argv, appt_update_usage, 0); }

static const char appt_status_usage[] =
    "usage: medvault appointment checkin|complete|cancel ID [--json]\n\n"
    "The designated doctor checks the patient in (checkin) and completes the appointment\n"
    "(complete); the patient or an admin cancels it (cancel). The same as\n"
    "`medvault appointment update ID --status checked_in|completed|cancelled`.\n" CLI_COMMON_HELP;

/* checkin / complete / cancel ID: appointment update ID --status S. */
static int appt_status(int argc, char **argv, const char *status)
{
    char *args[16];
    int n = 0;
    if (argc > 12) {
        cli_err("too many arguments");
        return CLI_USAGE;
    }
    for (int i = 0; i < argc; i++)
        args[n++] = argv[i];
    args[n++] = (char *)"--status";
    args[n++] = (char *)status;
    args[n] = NULL;
    return appt_send(n, args, appt_status_usage, 0);
}
static int appt_checkin(int argc, char **argv) { return appt_status(argc, argv, "checked_in"); }
static int appt_complete(int argc, char **argv) { return appt_status(argc, argv, "completed"); }
static int appt_cancel(int argc, char **argv) { return appt_status(argc, argv, "cancelled"); }

static const char appt_list_usage[] =
    "usage: medvault appointment list [--doctor KEY|me] [--patient KEY|MRN|me] [--department D]\n"
    "                                 [--status S] [--json]\n\n"
    "Lists appointments: patients see their own, doctors theirs and their departments', admins\n"
    "all.\n" CLI_COMMON_HELP;

static int appt_list(int argc, char **argv)
{
    static const wf_opt own[] = {{"doctor", 0}, {"patient", 1}, {"department", 2}, {"status", 3}};
    wf_opts o;
    mv_buf path;
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, appt_list_usage, own, 4, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 0, appt_list_usage)) >= 0)
        return r;
    mv_buf_init(&path, 2048);
    mv_err rc = mv_buf_puts(&path, "/v1/appointments");
    if (rc == MV_OK) rc = wf_query_add(&path, "doctor", o.v[0]);
    if (rc == MV_OK) rc = wf_query_add(&path, "patient", o.v[1]);
    if (rc == MV_OK) rc = wf_query_add(&path, "department", o.v[2]);
    if (rc == MV_OK) rc = wf_query_add(&path, "status", o.v[3]);
    if (rc != MV_OK) {
        cli_err("arguments too long");
        r = CLI_USAGE;
    } else if ((r = wf_simple(&o, "GET", wf_cstr(&path), NULL, &root)) == CLI_OK && !o.c.json) {
        wf_print_table(mv_json_get(root, "appointments"), appt_cols, N_APPT_COLS);
    }
    mv_json_free(root);
    mv_buf_clear(&path);
    return r;
}

static const char appt_show_usage[] = "usage: medvault appointment show ID [--json]\n" CLI_COMMON_HELP;

static int appt_show(int argc, char **argv)
{
    wf_opts o;
    char path[64];
    mv_json *root = NULL;
    int r = wf_parse(argc, argv, appt_show_usage, NULL, 0, &o, 1);
    if (r >= 0)
        return r;
    if ((r = wf_expect_args(argc, optind, 1, appt_show_usage)) >= 0)
        return r;
    if (!mv_is_lower_hex(argv[optind], 32)) {
        cli_err("an appointment id is 32 lowercase hex digits");
        return CLI_USAGE;
    }
    snprintf(path, sizeof path, "/v1/appointments/%s", argv[optind]);
    if ((r = wf_simple(&o, "GET", path, NULL, &root)) == CLI_OK && !o.c.json)
        print_appointment(root);
    mv_json_free(root);
    return r;
}

int cmd_appointment(int argc, char **argv)
{
    static const cli_cmd table[] = {
        {"request", appt_request, "ask for an appointment (patients)"},
        {"book", appt_book, "create or book an appointment for a patient (admins)"},
        {"update", appt_update, "assign department, doctor, time, place, or change the status"},
        {"checkin", appt_checkin, "the designated doctor checks the patient in"},
        {"complete", appt_complete, "the designated doctor completes the appointment"},
        {"cancel", appt_cancel, "cancel an appointment"},
        {"list", appt_list, "list appointments (per doctor, patient, department, status)"},
        {"show", appt_show, "show one appointment"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("medvault appointment", table, argc, argv);
}
