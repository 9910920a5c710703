/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state one run of `valise` (or one `valise daemon`) works with: the
 * global options, the libvalise client opened on the data folder (lazily,
 * so `--help` needs no passphrase), and the helpers every subcommand shares:
 * resolving a chat or message named on the command line, and turning
 * libvalise's structs into the JSON that both --json and the daemon print.
 */
#ifndef VL_CLI_SESSION_H
#define VL_CLI_SESSION_H

#include <limits.h>

#include "cli/cli.h"
#include "valise/client.h"

struct cli_ctx {
	struct cli_global g;
	const char *prog;
	struct vl_client *client; /* NULL until cli_session_open */
	bool daemon;              /* running as `valise daemon` */
	bool progress;            /* draw progress bars (a terminal, not --quiet) */
	char data_dir[PATH_MAX];
	/* Key-file path given by --key-file or $VALISE_KEY_FILE. */
	const char *key_file;
	/* Why the last vl_client_open or vl_client_register failed, from the
	 * library (a bad key file, a store error...); "" if it did not say. */
	char client_why[256];
	/* The daemon's way to notify the peer whose request is running
	 * (params stolen); NULL on the command line. */
	void (*notify)(void *arg, const char *method, json_t *params);
	void *notify_arg;
};

/* Fills ctx from the global options and the environment. */
enum vl_status cli_session_init(struct cli_ctx *ctx, const struct cli_global *g, const char *prog,
                                struct cli_err *err);
/* Options for vl_client_open/register; the passphrase (if any) is read
 * into pass (wiped by the caller with cli_session_wipe_pass). confirm asks
 * twice on a terminal (a new store). */
enum vl_status cli_session_client_opts(struct cli_ctx *ctx, struct vl_client_opts *o, char *pass,
                                       size_t pass_cap, bool confirm, struct cli_err *err);
void cli_session_wipe_pass(char *pass, size_t cap);
/* Opens the client on the data folder (once). */
enum vl_status cli_session_open(struct cli_ctx *ctx, struct cli_err *err);
/* Opens, connects and processes what the server queued meanwhile. */
enum vl_status cli_session_connect(struct cli_ctx *ctx, struct cli_err *err);
void cli_session_close(struct cli_ctx *ctx);
/* For commands that show local state: connects and catches up when the
 * server is reachable, so the output is current, and otherwise goes on
 * with what is stored (a note on stderr). *online tells which. */
enum vl_status cli_session_refresh(struct cli_ctx *ctx, bool offline, bool *online,
                                   struct cli_err *err);

/* A failed client call as an error: its status and vl_client_errmsg. */
enum vl_status cli_client_err(struct cli_ctx *ctx, int st, struct cli_err *err, const char *what);

/* Finds the conversation named by spec: its id, an unambiguous id prefix
 * (6 hex digits or more), a group's exact name, or a contact's address
 * (the direct conversation with them; created when create_direct).
 * Returns VL_OK, VL_ERR_NOT_FOUND or VL_ERR_ARG (ambiguous). */
enum vl_status cli_chat_resolve(struct cli_ctx *ctx, const char *spec, bool create_direct,
                                char id[VL_CLIENT_ID_MAX + 1], struct cli_err *err);
/* The start of every command that shows one chat: refreshes the session
 * (params "offline", see cli_session_refresh), resolves params "chat" into
 * conv and reads its info, which the caller releases with
 * vl_conv_info_cleanup() on VL_OK. */
enum vl_status cli_chat_info_load(struct cli_ctx *ctx, json_t *params, bool *online,
                                  char conv[VL_CLIENT_ID_MAX + 1], struct vl_conv_info *info,
                                  struct cli_err *err);
/* Finds a message of conv by id or unambiguous prefix (4 hex digits or
 * more). */
enum vl_status cli_msg_resolve(struct cli_ctx *ctx, const char *conv, const char *spec,
                               char id[VL_CLIENT_MSG_ID_LEN + 1], struct cli_err *err);

/* Calls fn for every stored message of conv, oldest first, a page at a
 * time (the library returns at most 100000 per call). fn returns false to
 * stop early. */
typedef bool (*cli_msg_fn)(void *arg, const struct vl_message *m);
enum vl_status cli_messages_each(struct cli_ctx *ctx, const char *conv, cli_msg_fn fn, void *arg,
                                 struct cli_err *err);

/* JSON forms (new references, NULL on no memory). */
json_t *cli_json_message(const struct vl_message *m);
json_t *cli_json_conv(const struct vl_conv_info *c);
json_t *cli_json_event(const struct vl_event *ev);
/* The same with "chat_name" (the chat's name, or the peer's address for a
 * one-to-one chat) when the chat is known. */
json_t *cli_json_event_named(struct cli_ctx *ctx, const struct vl_event *ev);
/* Stable name of an event type ("message", "devices_changed"). */
const char *cli_event_name(enum vl_event_type t);

/* Human forms. */
void cli_human_message(FILE *out, const json_t *m);
void cli_human_event(FILE *out, const json_t *ev);

/* One file transfer's progress: a bar on a terminal, and in the daemon
 * "progress" notifications to the peer that asked (at most one per
 * percent). */
struct cli_transfer {
	struct cli_progress bar;
	struct cli_ctx *ctx;
	const char *op;   /* "send" or "download" */
	const char *file; /* path */
	int last_permille;
};
void cli_transfer_init(struct cli_transfer *t, struct cli_ctx *ctx, const char *op,
                       const char *file, uint64_t total);
/* Ends the bar's line: finished (ok) or not. */
void cli_transfer_end(struct cli_transfer *t, bool ok);
/* vl_progress_fn for vl_client_send_file / vl_client_download; arg is a
 * struct cli_transfer. */
bool cli_progress_cb(void *arg, uint64_t done, uint64_t total);

#endif
