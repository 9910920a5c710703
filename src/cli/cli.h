/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The front-end framework of the `valise` command, shared by its two faces:
 * the command line (one subcommand per run, human or --json output) and
 * `valise daemon` (JSON-RPC 2.0, see rpc.h). Every operation is described
 * once, by a struct cli_cmd: its name on the command line, its JSON-RPC
 * method name, its parameters (struct cli_param) and one function that
 * takes a JSON object of checked parameters and returns a JSON result. The
 * command line turns argv into that object (cli_args_parse), the daemon
 * checks the object it received (cli_params_check), and both call the same
 * function, so the two faces cannot drift apart.
 *
 * Nothing here talks to the network or the local store; that is the
 * business of the cmd_*.c files, which are linked only into the
 * executable. This part is the library vl_cli, unit-tested on its own.
 */
#ifndef VL_CLI_H
#define VL_CLI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "valise/status.h"

/* Exit codes of the `valise` command (docs/cli.md, "Exit codes"). */
enum cli_exit {
	CLI_EXIT_OK = 0,
	/* The operation was refused or failed (server said no, bad state). */
	CLI_EXIT_FAILED = 1,
	/* The command line is wrong: unknown option, bad or missing value. */
	CLI_EXIT_USAGE = 2,
	/* Something named does not exist: contact, chat, message, device. */
	CLI_EXIT_NOT_FOUND = 3,
	/* Refused for lack of rights: wrong passphrase, failed
	 * authentication, invalid invite, not a group admin. */
	CLI_EXIT_DENIED = 4,
	/* The server could not be reached, the connection was lost, or an
	 * operation timed out. */
	CLI_EXIT_NETWORK = 5,
	/* No account in the data folder, or the store or a local file could
	 * not be read or written. */
	CLI_EXIT_STORE = 6,
	/* A cryptographic check failed (a signature, a hash, a MAC). */
	CLI_EXIT_SECURITY = 7,
	/* A bug or out of memory. */
	CLI_EXIT_INTERNAL = 70,
};

/* Exit code for a status (VL_OK gives 0). */
int cli_exit_from_status(enum vl_status st);
/* Short stable name of a status ("not_found"), used in --json errors and
 * JSON-RPC error data. Unknown codes give "error". */
const char *cli_status_name(enum vl_status st);

/* Largest length of a diagnostic (one line, no secrets). */
#define CLI_ERR_MAX 512

/* What went wrong in an operation: a status and one line of detail that
 * quotes the offending value where there is one. */
struct cli_err {
	enum vl_status status;
	char msg[CLI_ERR_MAX];
};

/* Sets err (printf-like); returns status so callers can `return
 * cli_err_set(...)`. */
enum vl_status cli_err_set(struct cli_err *err, enum vl_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

enum cli_type {
	CLI_T_STRING, /* JSON string */
	CLI_T_INT,    /* JSON integer within [min, max] */
	CLI_T_BOOL,   /* a flag on the command line; JSON true/false */
	CLI_T_LIST,   /* repeatable option; JSON array of strings */
};

enum {
	/* Positional on the command line (in table order). */
	CLI_P_POSITIONAL = 1u << 0,
	/* Must be given. */
	CLI_P_REQUIRED = 1u << 1,
	/* Last positional: takes every remaining argument, joined by one
	 * space (`valise send bob hello there`). */
	CLI_P_REST = 1u << 2,
};

/* One parameter of an operation. Its name is the JSON key and the long
 * option (`--name`); underscores in the key are written as hyphens on the
 * command line (reply_to <-> --reply-to). */
struct cli_param {
	const char *name;
	char short_name; /* 0 if none */
	enum cli_type type;
	unsigned flags;
	const char *metavar; /* shown in help: ADDRESS, FILE, N */
	const char *help;
	int64_t min, max; /* CLI_T_INT bounds (both 0: any non-negative) */
};

struct cli_ctx;

/* Runs an operation: params is a checked object (owned by the caller);
 * on success *result is a new reference (NULL means JSON null). */
typedef enum vl_status (*cli_run_fn)(struct cli_ctx *ctx, json_t *params, json_t **result,
                                     struct cli_err *err);
/* Prints a result for people (the command line without --json). */
typedef void (*cli_human_fn)(FILE *out, const json_t *result);

enum {
	/* Command line only (daemon, watch, help): not a JSON-RPC method. */
	CLI_C_NO_RPC = 1u << 0,
	/* JSON-RPC only. */
	CLI_C_NO_CLI = 1u << 1,
};

struct cli_cmd {
	const char *name;   /* "send", "group create" */
	const char *method; /* "send", "group.create" */
	const char *summary;
	const char *help;               /* longer text for --help, may be NULL */
	const struct cli_param *params; /* NULL-name terminated; may be NULL */
	cli_run_fn run;
	cli_human_fn human; /* NULL: print the JSON result */
	unsigned flags;
};

/* The global options, accepted before or after the subcommand. */
struct cli_global {
	const char *dir;             /* --dir: data folder */
	const char *passphrase_file; /* --passphrase-file */
	const char *key_file;        /* --key-file */
	bool json;                   /* --json */
	bool help;                   /* --help / -h */
	bool version;                /* --version */
	bool quiet;                  /* --quiet: no progress bars */
};

/* Finds the command named by argv (one or two words: "send", "group
 * add"). *used receives how many words matched. NULL if none: then *used
 * is 1 if argv[0] is a group prefix ("group" alone), else 0. */
const struct cli_cmd *cli_cmd_find(const struct cli_cmd *table, size_t n, int argc, char **argv,
                                   int *used);
/* The command whose JSON-RPC method is method, or NULL. */
const struct cli_cmd *cli_cmd_by_method(const struct cli_cmd *table, size_t n, const char *method);

/* Parses a subcommand's arguments (argv after the command words) into a
 * new JSON object of parameters, and the global options into g (which the
 * caller initialised, e.g. with the options seen before the subcommand).
 * cmd may be NULL to parse global options only (stopping at the first
 * non-option, whose index is returned in *stop). Returns VL_OK, or
 * VL_ERR_ARG with err->msg quoting the bad argument. */
enum vl_status cli_args_parse(const struct cli_cmd *cmd, int argc, char **argv,
                              struct cli_global *g, json_t **params, int *stop,
                              struct cli_err *err);

/* Checks a JSON-RPC params value against cmd's parameters: an object (by
 * name) or an array (positionals by position), or absent (NULL). Returns a
 * new object of checked params, or VL_ERR_ARG with a message. */
enum vl_status cli_params_check(const struct cli_cmd *cmd, json_t *in, json_t **params,
                                struct cli_err *err);

/* Writes the help of one command (usage line, summary, options). */
void cli_help_cmd(FILE *out, const char *prog, const struct cli_cmd *cmd);
/* Writes the top-level help: global options and the command list. */
void cli_help_all(FILE *out, const char *prog, const struct cli_cmd *table, size_t n);

/* Parameter getters for run functions (params are already checked). */
const char *cli_param_str(json_t *params, const char *name);
int64_t cli_param_int(json_t *params, const char *name, int64_t dflt);
bool cli_param_bool(json_t *params, const char *name);

/* ---- output (output.c) ---- */

/* Prints a JSON value on one line, compact, UTF-8, followed by "\n". */
void cli_print_json(FILE *out, const json_t *v);
/* The --json error object {"error": {"status": name, "message": msg}}. */
json_t *cli_err_json(const struct cli_err *err);
/* Formats Unix seconds as local "YYYY-MM-DD HH:MM" into buf. */
void cli_time_human(char *buf, size_t len, int64_t unix_s);
/* Formats a byte count as "512 B", "1.5 KiB", "5.0 MiB". */
void cli_size_human(char *buf, size_t len, uint64_t n);
/* Writes s to out with control characters (a peer's text may carry
 * terminal escapes) replaced by U+FFFD or a visible escape; newlines and
 * tabs are kept when keep_newlines. */
void cli_print_safe(FILE *out, const char *s, bool keep_newlines);

/* A simple table: columns padded to their widest cell (in code points). */
#define CLI_TABLE_MAX_COLS 8
struct cli_table {
	size_t ncols;
	const char *head[CLI_TABLE_MAX_COLS];
	size_t nrows, cap;
	char **cells; /* nrows * ncols, heap copies */
};
void cli_table_init(struct cli_table *t, size_t ncols, const char *const *head);
/* Adds a row of ncols strings (NULL prints as ""); VL_ERR_NOMEM. */
enum vl_status cli_table_add(struct cli_table *t, const char *const *row);
void cli_table_print(FILE *out, const struct cli_table *t);
void cli_table_cleanup(struct cli_table *t);

/* ---- progress bar (progress.c) ---- */

struct cli_progress {
	FILE *out;
	bool enabled;   /* false: nothing is drawn (not a terminal, --quiet) */
	unsigned width; /* of the bar itself, in cells */
	const char *label;
	uint64_t total;
	double start;      /* monotonic seconds */
	int last_permille; /* last drawn, -1 before the first draw */
	bool drawn;
};

/* Renders one progress line into buf (no "\r", no newline): label, a bar
 * of width cells, percentage, done/total and rate when elapsed > 0.
 * Always NUL-terminates; never writes more than len bytes. */
void cli_progress_render(char *buf, size_t len, const char *label, unsigned width, uint64_t done,
                         uint64_t total, double elapsed_s);
/* Starts a bar on out; it draws only when enabled is true. */
void cli_progress_init(struct cli_progress *p, FILE *out, bool enabled, const char *label,
                       uint64_t total);
/* Redraws when the shown value changed (at most 1000 redraws per bar). */
void cli_progress_update(struct cli_progress *p, uint64_t done);
/* Draws the final state and ends the line. */
void cli_progress_finish(struct cli_progress *p, uint64_t done);

/* ---- QR codes (qr.c) ---- */

enum cli_qr_style {
	/* Two modules per character cell with U+2580/U+2584/U+2588 half and
	 * full blocks; light modules are drawn, for dark terminals. */
	CLI_QR_UTF8,
	/* The same with dark modules drawn, for light terminals. */
	CLI_QR_UTF8_INVERTED,
	/* Two characters "##" per dark module, one line per row; for logs. */
	CLI_QR_ASCII,
};

/* Draws text as a QR code (error correction level M, 8-bit mode, smallest
 * version that fits) with a 4-module quiet zone. Returns VL_OK,
 * VL_ERR_LIMIT if text does not fit a QR code, VL_ERR_NOMEM. */
enum vl_status cli_qr_print(FILE *out, const char *text, enum cli_qr_style style);

/* Formats a safety number (a string of decimal digits) in groups of five,
 * four groups per line, into buf. Returns false if it does not fit or is
 * not all digits. */
bool cli_safety_format(char *buf, size_t len, const char *digits);

#endif
