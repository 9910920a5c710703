/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chat subcommands: chats (list), send (text, reply, reaction, file), edit,
 * delete, read, download, typing, export, and watch (follow live).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"

CLI_RUN(cmd_chats)
{
	bool online;
	enum vl_status st =
	    cli_session_refresh(ctx, cli_param_bool(params, "offline"), &online, err);
	if (st != VL_OK)
		return st;
	struct vl_conv_info *list = NULL;
	size_t n = 0;
	int r = vl_client_conv_list(ctx->client, &list, &n);
	if (r != VL_OK)
		return cli_client_err(ctx, r, err, "listing chats");
	json_t *arr = json_array();
	for (size_t i = 0; arr != NULL && i < n; i++)
		json_array_append_new(arr, cli_json_conv(&list[i]));
	vl_conv_list_free(list, n);
	if (arr == NULL)
		return cli_err_set(err, VL_ERR_NOMEM, "out of memory");
	*result = arr;
	return VL_OK;
}

CLI_HUMAN(human_chats)
{
	static const char *const head[] = {"CHAT", "KIND", "NAME", "MEMBERS", "UNREAD", "LAST"};
	struct cli_table t;
	cli_table_init(&t, 6, head);
	size_t i;
	json_t *c;
	json_array_foreach(result, i, c)
	{
		char id[9], members[16], unread[16], when[32] = "";
		snprintf(id, sizeof id, "%.8s", json_string_value(json_object_get(c, "id")));
		snprintf(members, sizeof members, "%zu",
		         json_array_size(json_object_get(c, "members")));
		snprintf(unread, sizeof unread, "%lld",
		         (long long)json_integer_value(json_object_get(c, "unread")));
		json_int_t last = json_integer_value(json_object_get(c, "last_activity_ms"));
		if (last > 0)
			cli_time_human(when, sizeof when, (int64_t)(last / 1000));
		const char *kind = json_is_true(json_object_get(c, "active"))
		                       ? json_string_value(json_object_get(c, "kind"))
		                       : "left";
		const char *row[] = {id,      kind,   json_string_value(json_object_get(c, "name")),
		                     members, unread, when};
		if (cli_table_add(&t, row) != VL_OK)
			break;
	}
	cli_table_print(out, &t);
	cli_table_cleanup(&t);
}

static const char *chat_basename(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

CLI_RUN(cmd_send)
{
	enum vl_status st = cli_session_connect(ctx, err);
	if (st != VL_OK)
		return st;
	const char *text = cli_param_str(params, "text");
	const char *file = cli_param_str(params, "file");
	const char *react = cli_param_str(params, "react");
	const char *reply = cli_param_str(params, "reply_to");
	if (file != NULL && (text != NULL || react != NULL || reply != NULL))
		return cli_err_set(err, VL_ERR_ARG,
		                   "--file \"%s\" goes alone: no TEXT, --react or "
		                   "--reply-to",
		                   file);
	if (react != NULL && reply != NULL)
		return cli_err_set(err, VL_ERR_ARG, "--react and --reply-to go separately");
	if (file == NULL && (text == NULL || text[0] == '\0'))
		return cli_err_set(err, VL_ERR_ARG,
		                   react ? "missing TEXT: the reaction"
		                         : "missing TEXT (or --file PATH)");
	char conv[VL_CLIENT_ID_MAX + 1];
	if ((st = cli_chat_resolve(ctx, cli_param_str(params, "chat"), true, conv, err)) != VL_OK)
		return st;
	char id[VL_CLIENT_MSG_ID_LEN + 1] = "";
	char target[VL_CLIENT_MSG_ID_LEN + 1] = "";
	int r;
	if (react != NULL) {
		if ((st = cli_msg_resolve(ctx, conv, react, target, err)) != VL_OK)
			return st;
		r = vl_client_send_reaction(ctx->client, conv, target, text);
	} else if (file != NULL) {
		struct cli_transfer p;
		cli_transfer_init(&p, ctx, "send", file, 0);
		r = vl_client_send_file(
		    ctx->client, conv, file, cli_param_str(params, "media_type"),
		    cli_param_str(params, "file_name"), cli_progress_cb, &p, id);
		cli_transfer_end(&p, r == VL_OK);
		if (r == VL_ERR_IO)
			return cli_err_set(err, VL_ERR_IO, "cannot read \"%s\"", file);
	} else {
		if (reply != NULL && (st = cli_msg_resolve(ctx, conv, reply, target, err)) != VL_OK)
			return st;
		r = vl_client_send_text(ctx->client, conv, text, cli_param_bool(params, "markdown"),
		                        reply ? target : NULL, id);
	}
	if (r != VL_OK)
		return cli_client_err(ctx, r, err, "sending");
	*result = json_pack("{s:s,s:s?,s:s?}", "chat", conv, "id", id[0] ? id : NULL, "target",
	                    target[0] ? target : NULL);
	return VL_OK;
}

CLI_HUMAN(human_sent)
{
	const char *id = json_string_value(json_object_get(result, "id"));
	if (id != NULL)
		fprintf(out, "sent %.8s\n", id);
	else
		fputs("sent\n", out);
}

/* edit and delete: a chat and one of this user's messages. */
static enum vl_status chat_own_message(struct cli_ctx *ctx, json_t *params,
                                       char conv[VL_CLIENT_ID_MAX + 1],
                                       char id[VL_CLIENT_MSG_ID_LEN + 1], struct cli_err *err)
{
	enum vl_status st = cli_session_connect(ctx, err);
	if (st != VL_OK)
		return st;
	if ((st = cli_chat_resolve(ctx, cli_param_str(params, "chat"), false, conv, err)) != VL_OK)
		return st;
	return cli_msg_resolve(ctx, conv, cli_param_str(params, "message"), id, err);
}

CLI_RUN(cmd_edit)
{
	char conv[VL_CLIENT_ID_MAX + 1], id[VL_CLIENT_MSG_ID_LEN + 1];
	enum vl_status st = chat_own_message(ctx, params, conv, id, err);
	if (st != VL_OK)
		return st;
	int r = vl_client_edit(ctx->client, conv, id, cli_param_str(params, "text"));
	if (r == VL_ERR_PERMISSION)
		return cli_err_set(err, VL_ERR_PERMISSION, "message %.8s is not yours", id);
	if (r != VL_OK)
		return cli_client_err(ctx, r, err, "editing");
	*result = json_pack("{s:s,s:s}", "chat", conv, "edited", id);
	return VL_OK;
}

CLI_RUN(cmd_delete)
{
	char conv[VL_CLIENT_ID_MAX + 1], id[VL_CLIENT_MSG_ID_LEN + 1];
	enum vl_status st = chat_own_message(ctx, params, conv, id, err);
	if (st != VL_OK)
		return st;
	int r = vl_client_delete(ctx->client, conv, id);
	if (r == VL_ERR_PERMISSION)
		return cli_err_set(err, VL_ERR_PERMISSION, "message %.8s is not yours", id);
	if (r != VL_OK)
		return cli_client_err(ctx, r, err, "deleting");
	*result = json_pack("{s:s,s:s}", "chat", conv, "deleted", id);
	return VL_OK;
}

#define READ_MAX_RECEIPTS 1000

/* What read keeps while paging through a chat: the last `limit` messages
 * and the ids of the last `unread` messages from others (a ring). */
struct read_state {
	size_t limit, unread;
	json_t *msgs;
	char (*unread_ids)[VL_CLIENT_MSG_ID_LEN + 1];
	size_t n_ids, next_id;
};

static bool read_collect(void *arg, const struct vl_message *m)
{
	struct read_state *rs = arg;
	if (json_array_append_new(rs->msgs, cli_json_message(m)) != 0)
		return false;
	if (rs->limit > 0 && json_array_size(rs->msgs) > rs->limit)
		json_array_remove(rs->msgs, 0);
	if (rs->unread > 0 && !m->outgoing && m->kind != VL_MSG_SYSTEM) {
		memcpy(rs->unread_ids[rs->next_id], m->id, VL_CLIENT_MSG_ID_LEN + 1);
		rs->next_id = (rs->next_id + 1) % rs->unread;
		if (rs->n_ids < rs->unread)
			rs->n_ids++;
	}
	return true;
}

CLI_RUN(cmd_read)
{
	bool online;
	char conv[VL_CLIENT_ID_MAX + 1];
	struct vl_conv_info info;
	enum vl_status st = cli_chat_info_load(ctx, params, &online, conv, &info, err);
	if (st != VL_OK)
		return st;
	/* Receipts go for the newest unread messages, at most this many per
	 * run: the ring below is sized by it. */
	size_t unread = info.unread > READ_MAX_RECEIPTS ? READ_MAX_RECEIPTS : info.unread;
	json_t *jconv = cli_json_conv(&info);
	vl_conv_info_cleanup(&info);

	struct read_state rs = {
	    (size_t)cli_param_int(params, "limit", 20), unread, json_array(), NULL, 0, 0};
	rs.unread_ids = calloc(unread ? unread : 1, sizeof *rs.unread_ids);
	if (rs.msgs == NULL || rs.unread_ids == NULL) {
		st = cli_err_set(err, VL_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if ((st = cli_messages_each(ctx, conv, read_collect, &rs, err)) != VL_OK)
		goto cleanup;
	/* Read receipts for the unread messages from others (newest first,
	 * so a failure leaves the older ones for next time). */
	size_t marked = 0;
	if (online && !cli_param_bool(params, "no_receipts")) {
		for (size_t k = 0; k < rs.n_ids; k++) {
			size_t i = (rs.next_id + unread - 1 - k) % unread;
			if (vl_client_mark_read(ctx->client, conv, rs.unread_ids[i]) != VL_OK)
				break;
			marked++;
		}
	}
	*result = json_pack("{s:O,s:O,s:I}", "chat", jconv, "messages", rs.msgs, "marked_read",
	                    (json_int_t)marked);
	if (*result == NULL)
		st = cli_err_set(err, VL_ERR_NOMEM, "out of memory");
cleanup:
	json_decref(jconv);
	json_decref(rs.msgs);
	free(rs.unread_ids);
	return st;
}

CLI_HUMAN(human_read)
{
	json_t *c = json_object_get(result, "chat");
	fputs("== ", out);
	cli_print_safe(out, json_string_value(json_object_get(c, "name")), false);
	fprintf(out, " (%s %.8s, %zu members)%s\n", json_string_value(json_object_get(c, "kind")),
	        json_string_value(json_object_get(c, "id")),
	        json_array_size(json_object_get(c, "members")),
	        json_is_true(json_object_get(c, "active")) ? "" : " [you left]");
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(result, "messages"), i, m)
	{
		cli_human_message(out, m);
	}
}

/* A file name from a peer, made safe to create in the current folder: its
 * last path component, no leading dot, no control characters. */
static void chat_safe_name(char *buf, size_t len, const char *name)
{
	const char *b = chat_basename(name ? name : "");
	while (*b == '.')
		b++;
	size_t o = 0;
	for (; *b && o + 1 < len; b++)
		buf[o++] = ((unsigned char)*b < 0x20 || *b == 0x7f || *b == '\\') ? '_' : *b;
	buf[o] = '\0';
	if (o == 0)
		snprintf(buf, len, "attachment");
}

CLI_RUN(cmd_download)
{
	enum vl_status st = cli_session_connect(ctx, err);
	if (st != VL_OK)
		return st;
	char conv[VL_CLIENT_ID_MAX + 1], id[VL_CLIENT_MSG_ID_LEN + 1];
	if ((st = cli_chat_resolve(ctx, cli_param_str(params, "chat"), false, conv, err)) != VL_OK)
		return st;
	if ((st = cli_msg_resolve(ctx, conv, cli_param_str(params, "message"), id, err)) != VL_OK)
		return st;
	struct vl_message m;
	int r = vl_client_message(ctx->client, id, &m);
	if (r != VL_OK)
		return cli_client_err(ctx, r, err, "reading the message");
	if (m.kind != VL_MSG_ATTACHMENT) {
		vl_message_cleanup(&m);
		return cli_err_set(err, VL_ERR_ARG, "message %.8s carries no file", id);
	}
	char name[256];
	chat_safe_name(name, sizeof name, m.attachment.file_name);
	const char *dest = cli_param_str(params, "output");
	if (dest == NULL)
		dest = name;
	uint64_t size = m.attachment.size;
	vl_message_cleanup(&m);

	struct cli_transfer p;
	cli_transfer_init(&p, ctx, "download", dest, size);
	r = vl_client_download(ctx->client, id, dest, cli_progress_cb, &p);
	cli_transfer_end(&p, r == VL_OK);
	if (r == VL_ERR_EXISTS)
		return cli_err_set(err, VL_ERR_EXISTS, "\"%s\" exists; give --output PATH", dest);
	if (r == VL_ERR_CRYPTO)
		return cli_err_set(err, VL_ERR_CRYPTO,
		                   "the file failed its integrity check; nothing was written");
	if (r != VL_OK)
		return cli_client_err(ctx, r, err, "downloading");
	*result = json_pack("{s:s,s:I}", "path", dest, "size", (json_int_t)size);
	return *result ? VL_OK : cli_err_set(err, VL_ERR_NOMEM, "out of memory");
}

CLI_HUMAN(human_download)
{
	char sz[32];
	cli_size_human(sz, sizeof sz,
	               (uint64_t)json_integer_value(json_object_get(result, "size")));
	fputs("saved ", out);
	cli_print_safe(out, json_string_value(json_object_get(result, "path")), false);
	fprintf(out, " (%s, integrity checked)\n", sz);
}

CLI_RUN(cmd_typing)
{
	enum vl_status st = cli_session_connect(ctx, err);
	if (st != VL_OK)
		return st;
	char conv[VL_CLIENT_ID_MAX + 1];
	if ((st = cli_chat_resolve(ctx, cli_param_str(params, "chat"), false, conv, err)) != VL_OK)
		return st;
	bool typing = !cli_param_bool(params, "stop");
	int r = vl_client_typing(ctx->client, conv, typing);
	if (r != VL_OK)
		return cli_client_err(ctx, r, err, "typing");
	*result = json_pack("{s:s,s:b}", "chat", conv, "typing", typing);
	return VL_OK;
}

CLI_RUN(cmd_export)
{
	bool online;
	char conv[VL_CLIENT_ID_MAX + 1];
	struct vl_conv_info info;
	enum vl_status st = cli_chat_info_load(ctx, params, &online, conv, &info, err);
	if (st != VL_OK)
		return st;
	json_t *doc =
	    json_pack("{s:s,s:I,s:s,s:s,s:o}", "format", "valise-export/1", "exported_ms",
	              (json_int_t)time(NULL) * 1000, "exported_by", vl_client_address(ctx->client),
	              "device", vl_client_device(ctx->client), "chat", cli_json_conv(&info));
	vl_conv_info_cleanup(&info);
	struct read_state rs = {0, 0, json_array(), NULL, 0, 0};
	if (doc == NULL || rs.msgs == NULL) {
		json_decref(doc);
		json_decref(rs.msgs);
		return cli_err_set(err, VL_ERR_NOMEM, "out of memory");
	}
	if ((st = cli_messages_each(ctx, conv, read_collect, &rs, err)) != VL_OK) {
		json_decref(doc);
		json_decref(rs.msgs);
		return st;
	}
	size_t n = json_array_size(rs.msgs);
	if (json_object_set_new(doc, "messages", rs.msgs) != 0) {
		json_decref(doc);
		return cli_err_set(err, VL_ERR_NOMEM, "out of memory");
	}
	const char *path = cli_param_str(params, "output");
	if (path == NULL) {
		*result = doc;
		return VL_OK;
	}
	/* The export holds plaintext: owner-only, like the store. */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		json_decref(doc);
		return cli_err_set(err, VL_ERR_IO, "cannot write \"%s\": %s", path,
		                   strerror(errno));
	}
	/* An existing file keeps its mode through O_TRUNC: narrow it too. */
	if (fchmod(fd, 0600) != 0) {
		int e = errno;
		close(fd);
		json_decref(doc);
		return cli_err_set(err, VL_ERR_IO, "cannot restrict \"%s\": %s", path, strerror(e));
	}
	int dr = json_dumpfd(doc, fd, JSON_INDENT(2));
	bool ok = dr == 0 && write(fd, "\n", 1) == 1;
	ok = close(fd) == 0 && ok;
	json_decref(doc);
	if (!ok)
		return cli_err_set(err, VL_ERR_IO, "cannot write \"%s\"", path);
	*result = json_pack("{s:s,s:s,s:I}", "chat", conv, "path", path, "messages", (json_int_t)n);
	return VL_OK;
}

CLI_HUMAN(human_export)
{
	if (json_object_get(result, "path") != NULL) {
		fprintf(out, "exported %lld messages to %s\n",
		        (long long)json_integer_value(json_object_get(result, "messages")),
		        json_string_value(json_object_get(result, "path")));
		return;
	}
	char *s = json_dumps(result, JSON_INDENT(2));
	if (s != NULL) {
		fputs(s, out);
		fputc('\n', out);
		free(s);
	}
}

/* ---- watch ---- */

static volatile sig_atomic_t watch_stop;

static void watch_on_signal(int sig)
{
	(void)sig;
	watch_stop = 1;
}

struct watch_state {
	struct cli_ctx *ctx;
	const char *conv; /* filter, or NULL */
	long count, seen;
};

static void watch_on_event(void *arg, const struct vl_event *ev)
{
	struct watch_state *w = arg;
	if (w->conv != NULL && ev->conv[0] && strcmp(ev->conv, w->conv) != 0)
		return;
	json_t *j = cli_json_event_named(w->ctx, ev);
	if (j == NULL)
		return;
	if (w->ctx->g.json)
		cli_print_json(stdout, j);
	else
		cli_human_event(stdout, j);
	fflush(stdout);
	json_decref(j);
	if (ev->type == VL_EVENT_MESSAGE && w->count > 0 && ++w->seen >= w->count)
		watch_stop = 1;
}

static double watch_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

CLI_RUN(cmd_watch)
{
	enum vl_status st = cli_session_open(ctx, err);
	if (st != VL_OK)
		return st;
	char conv[VL_CLIENT_ID_MAX + 1];
	const char *spec = cli_param_str(params, "chat");
	if (spec != NULL && (st = cli_chat_resolve(ctx, spec, false, conv, err)) != VL_OK)
		return st;
	struct watch_state w = {ctx, spec ? conv : NULL, (long)cli_param_int(params, "count", 0),
	                        0};
	double deadline = 0;
	if (json_object_get(params, "timeout") != NULL)
		deadline = watch_now() + (double)cli_param_int(params, "timeout", 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = watch_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	vl_client_set_event_cb(ctx->client, watch_on_event, &w);

	int backoff_ms = 500;
	while (!watch_stop) {
		if (deadline > 0 && watch_now() >= deadline)
			break;
		if (!vl_client_connected(ctx->client)) {
			int r = vl_client_connect(ctx->client);
			if (r == VL_ERR_AUTH) {
				st = cli_client_err(ctx, r, err, "the server refused this device");
				break;
			}
			if (r != VL_OK) {
				if (!ctx->g.json)
					fprintf(stderr, "%s: %s; retrying in %d ms\n", ctx->prog,
					        vl_client_errmsg(ctx->client), backoff_ms);
				struct timespec ts = {backoff_ms / 1000,
				                      (long)(backoff_ms % 1000) * 1000000L};
				nanosleep(&ts, NULL);
				backoff_ms = backoff_ms >= 15000 ? 30000 : backoff_ms * 2;
				continue;
			}
			backoff_ms = 500;
		}
		int wait = 1000;
		if (deadline > 0) {
			double left = (deadline - watch_now()) * 1000.0;
			if (left < wait)
				wait = left < 0 ? 0 : (int)left;
		}
		int r = vl_client_poll(ctx->client, wait);
		if (r != VL_OK && r != VL_ERR_NET && r != VL_ERR_TIMEOUT) {
			st = cli_client_err(ctx, r, err, "receiving");
			break;
		}
	}
	vl_client_set_event_cb(ctx->client, NULL, NULL);
	*result = NULL;
	return st;
}
