/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON-RPC 2.0 for `valise daemon`: message framing on a byte stream and
 * request dispatch, independent of the transport (stdio or a Unix socket)
 * and of the methods (cmd_*.c through a handler).
 *
 * Framing: one JSON text per line (newline-delimited; a compact JSON text
 * has no raw newline). A line longer than the limit is answered with an
 * Invalid Request error and skipped up to its newline, so a client that
 * sends too much cannot make the daemon buffer without bound.
 *
 * Dispatch follows the JSON-RPC 2.0 specification: a request (with "id")
 * gets exactly one response, a notification (without "id") none; a batch
 * (array) gets an array of the responses of its requests, or nothing if it
 * held only notifications; an empty batch is one Invalid Request error.
 */
#ifndef VL_CLI_RPC_H
#define VL_CLI_RPC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "cli/cli.h"

/* Largest request line, and largest number of calls in one batch. */
#define CLI_RPC_MAX_REQUEST ((size_t)1 << 20)
#define CLI_RPC_MAX_BATCH   64

/* Error codes of the specification (§5.1). Application errors use the
 * positive value of the enum vl_status that caused them, with
 * data.status its name (cli_status_name). */
enum {
	CLI_RPC_PARSE_ERROR = -32700,
	CLI_RPC_INVALID_REQUEST = -32600,
	CLI_RPC_METHOD_NOT_FOUND = -32601,
	CLI_RPC_INVALID_PARAMS = -32602,
	CLI_RPC_INTERNAL_ERROR = -32603,
};

struct cli_rpc_error {
	int code; /* 0: no error */
	char message[CLI_ERR_MAX];
	json_t *data; /* optional, owned; dispatch releases it */
};

/* Calls a method. params is the request's "params" (NULL if absent; an
 * object or an array, borrowed). On success leave err->code 0 and set
 * *result to a new reference (NULL means null). On failure set err (see
 * cli_rpc_error_from). */
typedef void (*cli_rpc_handler)(void *arg, const char *method, json_t *params, json_t **result,
                                struct cli_rpc_error *err);

/* Fills a JSON-RPC error from an operation's error: VL_ERR_ARG becomes
 * Invalid params, anything else an application error (code = status). */
void cli_rpc_error_from(struct cli_rpc_error *e, const struct cli_err *err);

/* Handles one received JSON text (a request, a notification or a batch).
 * Returns the response to send (a new reference: object or array) or NULL
 * when nothing is to be sent. Parse errors and invalid requests are
 * answered as the specification says. */
json_t *cli_rpc_handle(const char *text, size_t len, cli_rpc_handler h, void *arg);

/* A notification {"jsonrpc":"2.0","method":method,"params":params};
 * params is stolen (may be NULL: no params member). NULL on no memory. */
json_t *cli_rpc_notification(const char *method, json_t *params);
/* An error response with id (borrowed; NULL means null). */
json_t *cli_rpc_error_response(json_t *id, int code, const char *message, json_t *data);

/* Splits a byte stream into lines of at most max bytes. */
struct cli_rpc_lines {
	char *buf;
	size_t len, cap, max;
	bool discarding; /* inside an over-long line */
};
/* Called per complete line (without its "\n"; a trailing "\r" is
 * removed). too_long is true (and line NULL) once per over-long line. */
typedef void (*cli_rpc_line_fn)(void *arg, const char *line, size_t len, bool too_long);

void cli_rpc_lines_init(struct cli_rpc_lines *l, size_t max);
/* Feeds received bytes; returns VL_OK or VL_ERR_NOMEM. */
enum vl_status cli_rpc_lines_feed(struct cli_rpc_lines *l, const char *data, size_t n,
                                  cli_rpc_line_fn fn, void *arg);
void cli_rpc_lines_cleanup(struct cli_rpc_lines *l);

/* The reply to an over-long line (Invalid Request, id null). */
json_t *cli_rpc_too_long(void);

#endif
