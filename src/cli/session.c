/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One run's client session (see session.h): where the data folder is, how
 * the store is unlocked, opening and connecting, naming chats and messages,
 * and the JSON form of libvalise's messages, conversations and events.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cli/session.h"

/* Largest passphrase read from a file, the environment or a prompt. */
#define SESSION_PASS_MAX 1024
/* How long a one-shot command waits for the server's backlog. */
#define SESSION_CATCH_UP_MS 10000
/* How long closing waits for the server to confirm the last sends. */
#define SESSION_CLOSE_MS 3000

enum vl_status cli_session_init(struct cli_ctx *ctx, const struct cli_global *g, const char *prog,
                                struct cli_err *err)
{
	memset(ctx, 0, sizeof *ctx);
	ctx->g = *g;
	ctx->prog = prog;
	const char *dir = g->dir ? g->dir : getenv("VALISE_DIR");
	int n;
	if (dir != NULL && dir[0] != '\0') {
		n = snprintf(ctx->data_dir, sizeof ctx->data_dir, "%s", dir);
	} else {
		const char *home = getenv("HOME");
		if (home == NULL || home[0] == '\0')
			return cli_err_set(err, VL_ERR_ARG,
			                   "no data folder: give --dir or set VALISE_DIR or HOME");
		n = snprintf(ctx->data_dir, sizeof ctx->data_dir, "%s/.valise", home);
	}
	if (n < 0 || (size_t)n >= sizeof ctx->data_dir)
		return cli_err_set(err, VL_ERR_ARG, "data folder path too long");
	ctx->key_file = g->key_file ? g->key_file : getenv("VALISE_KEY_FILE");
	if (ctx->key_file != NULL && ctx->key_file[0] == '\0')
		ctx->key_file = NULL;
	ctx->progress = !g->quiet && !g->json && isatty(STDERR_FILENO);
	return VL_OK;
}

void cli_session_wipe_pass(char *pass, size_t cap)
{
	/* A volatile walk so the compiler keeps the wipe of a buffer that
	 * is about to go out of scope. */
	volatile char *p = pass;
	for (size_t i = 0; i < cap; i++)
		p[i] = 0;
}

/* Reads one line from the terminal without echo. */
static enum vl_status session_prompt(const char *prompt, char *buf, size_t cap)
{
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return VL_ERR_IO;
	struct termios old, quiet;
	bool restore = tcgetattr(fd, &old) == 0;
	if (restore) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	if (write(fd, prompt, strlen(prompt)) < 0) {
		/* The prompt is a courtesy; reading still works. */
	}
	size_t n = 0;
	enum vl_status st = VL_OK;
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r <= 0 || c == '\n')
			break;
		if (n + 1 >= cap) {
			st = VL_ERR_LIMIT;
			break;
		}
		buf[n++] = c;
	}
	buf[n] = '\0';
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0) {
		/* As above. */
	}
	close(fd);
	return st;
}

enum vl_status cli_session_client_opts(struct cli_ctx *ctx, struct vl_client_opts *o, char *pass,
                                       size_t pass_cap, bool confirm, struct cli_err *err)
{
	memset(o, 0, sizeof *o);
	ctx->client_why[0] = '\0';
	o->errbuf = ctx->client_why;
	o->errbuf_len = sizeof ctx->client_why;
	o->data_dir = ctx->data_dir;
	const char *m = getenv("VALISE_ARGON2_M_KIB");
	if (m != NULL && *m != '\0') {
		char *end;
		unsigned long v = strtoul(m, &end, 10);
		if (*end != '\0' || v == 0 || v > UINT32_MAX)
			return cli_err_set(err, VL_ERR_ARG,
			                   "VALISE_ARGON2_M_KIB: \"%s\" is not a "
			                   "number of KiB",
			                   m);
		o->argon2_m_kib = (uint32_t)v;
	}
	/* TLS settings chosen at registration, kept beside the store. */
	char cfg[PATH_MAX + 16];
	snprintf(cfg, sizeof cfg, "%s/cli.json", ctx->data_dir);
	json_t *c = json_load_file(cfg, 0, NULL);
	static char ca_file[PATH_MAX];
	if (c != NULL) {
		const char *ca = json_string_value(json_object_get(c, "ca_file"));
		if (ca != NULL && strlen(ca) < sizeof ca_file) {
			memcpy(ca_file, ca, strlen(ca) + 1);
			o->ca_file = ca_file;
		}
		o->tls_insecure = json_is_true(json_object_get(c, "tls_insecure"));
		json_decref(c);
	}

	if (ctx->key_file != NULL) {
		o->key_file = ctx->key_file;
		return VL_OK;
	}
	size_t len = 0;
	if (ctx->g.passphrase_file != NULL) {
		FILE *f = fopen(ctx->g.passphrase_file, "r");
		if (f == NULL)
			return cli_err_set(err, VL_ERR_IO,
			                   "--passphrase-file: cannot read \"%s\": %s",
			                   ctx->g.passphrase_file, strerror(errno));
		if (fgets(pass, (int)pass_cap, f) == NULL)
			pass[0] = '\0';
		fclose(f);
		len = strcspn(pass, "\r\n");
		pass[len] = '\0';
	} else if (getenv("VALISE_PASSPHRASE") != NULL) {
		const char *e = getenv("VALISE_PASSPHRASE");
		len = strlen(e);
		if (len + 1 > pass_cap)
			return cli_err_set(err, VL_ERR_LIMIT, "VALISE_PASSPHRASE is too long");
		memcpy(pass, e, len + 1);
	} else if (!ctx->daemon && isatty(STDIN_FILENO)) {
		if (session_prompt("Passphrase: ", pass, pass_cap) != VL_OK)
			return cli_err_set(err, VL_ERR_ARG, "could not read a passphrase");
		len = strlen(pass);
		if (confirm) {
			char again[SESSION_PASS_MAX];
			enum vl_status st = session_prompt("Again: ", again, sizeof again);
			bool same = st == VL_OK && strcmp(again, pass) == 0;
			cli_session_wipe_pass(again, sizeof again);
			if (!same)
				return cli_err_set(err, VL_ERR_ARG, "the passphrases differ");
		}
	} else {
		return cli_err_set(err, VL_ERR_ARG,
		                   "no passphrase: give --passphrase-file FILE or --key-file "
		                   "FILE, or set VALISE_PASSPHRASE");
	}
	if (len == 0)
		return cli_err_set(err, VL_ERR_ARG, "the passphrase is empty");
	o->passphrase = pass;
	o->passphrase_len = len;
	return VL_OK;
}

enum vl_status cli_client_err(struct cli_ctx *ctx, int st, struct cli_err *err, const char *what)
{
	const char *why = ctx->client ? vl_client_errmsg(ctx->client) : ctx->client_why;
	if (why == NULL || why[0] == '\0')
		why = vl_strerror(st);
	return cli_err_set(err, (enum vl_status)st, "%s: %s", what, why);
}

enum vl_status cli_session_open(struct cli_ctx *ctx, struct cli_err *err)
{
	if (ctx->client != NULL)
		return VL_OK;
	struct vl_client_opts o;
	char pass[SESSION_PASS_MAX];
	enum vl_status st = cli_session_client_opts(ctx, &o, pass, sizeof pass, false, err);
	if (st == VL_OK) {
		int r = vl_client_open(&o, &ctx->client);
		if (r == VL_ERR_NOT_FOUND)
			st = cli_err_set(err, VL_ERR_STORE,
			                 "no account in \"%s\": run `%s register` first (or give "
			                 "--dir)",
			                 ctx->data_dir, ctx->prog);
		else if (r == VL_ERR_AUTH)
			st = cli_err_set(err, VL_ERR_AUTH,
			                 "wrong passphrase or key file for \"%s\"", ctx->data_dir);
		else if (r != VL_OK)
			st = cli_client_err(ctx, r, err, "cannot open the local store");
	}
	cli_session_wipe_pass(pass, sizeof pass);
	return st;
}

enum vl_status cli_session_connect(struct cli_ctx *ctx, struct cli_err *err)
{
	enum vl_status st = cli_session_open(ctx, err);
	if (st != VL_OK)
		return st;
	if (vl_client_connected(ctx->client))
		return VL_OK;
	int r = vl_client_connect(ctx->client);
	if (r == VL_ERR_AUTH)
		return cli_err_set(err, VL_ERR_AUTH,
		                   "the server refused this device (%s): it was revoked (from "
		                   "another of your devices, or by the server's operator), or the "
		                   "server no longer knows it; `%s register` with a new invite",
		                   vl_client_errmsg(ctx->client), ctx->prog);
	if (r != VL_OK)
		return cli_client_err(ctx, r, err, "cannot connect to the server");
	/* Process what arrived while this device was offline, so that the
	 * command acts on the current state of its groups. */
	r = vl_client_catch_up(ctx->client, SESSION_CATCH_UP_MS);
	if (r != VL_OK && r != VL_ERR_TIMEOUT)
		return cli_client_err(ctx, r, err, "catching up with the server");
	return VL_OK;
}

enum vl_status cli_session_refresh(struct cli_ctx *ctx, bool offline, bool *online,
                                   struct cli_err *err)
{
	*online = false;
	if (offline)
		return cli_session_open(ctx, err);
	enum vl_status st = cli_session_connect(ctx, err);
	if (st == VL_ERR_NET || st == VL_ERR_TIMEOUT) {
		if (!ctx->daemon && !ctx->g.quiet)
			fprintf(stderr, "%s: offline (%s); showing stored state\n", ctx->prog,
			        err->msg);
		return cli_session_open(ctx, err);
	}
	*online = st == VL_OK;
	return st;
}

void cli_session_close(struct cli_ctx *ctx)
{
	/* Receipts and typing go out without waiting for the server's answer
	 * (libvalise's nowait sends), and delivery receipts are flushed by a
	 * poll: a PING round trip before closing makes sure the server has
	 * them, or a one-shot command would exit with them unsent. */
	if (ctx->client != NULL && vl_client_connected(ctx->client) &&
	    vl_client_catch_up(ctx->client, SESSION_CLOSE_MS) != VL_OK) {
		/* Nothing more can be done about it here. */
	}
	vl_client_close(ctx->client);
	ctx->client = NULL;
}

static bool session_is_hex(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isxdigit((unsigned char)*s))
			return false;
	return true;
}

enum vl_status cli_chat_info_load(struct cli_ctx *ctx, json_t *params, bool *online,
                                  char conv[VL_CLIENT_ID_MAX + 1], struct vl_conv_info *info,
                                  struct cli_err *err)
{
	enum vl_status st =
	    cli_session_refresh(ctx, cli_param_bool(params, "offline"), online, err);
	if (st != VL_OK)
		return st;
	if ((st = cli_chat_resolve(ctx, cli_param_str(params, "chat"), false, conv, err)) != VL_OK)
		return st;
	int r = vl_client_conv_info(ctx->client, conv, info);
	if (r != VL_OK)
		return cli_client_err(ctx, r, err, "reading the chat");
	return VL_OK;
}

enum vl_status cli_chat_resolve(struct cli_ctx *ctx, const char *spec, bool create_direct,
                                char id[VL_CLIENT_ID_MAX + 1], struct cli_err *err)
{
	enum vl_status st = cli_session_open(ctx, err);
	if (st != VL_OK)
		return st;
	struct vl_conv_info *list = NULL;
	size_t n = 0;
	int r = vl_client_conv_list(ctx->client, &list, &n);
	if (r != VL_OK)
		return cli_client_err(ctx, r, err, "listing chats");
	bool address = strchr(spec, '@') != NULL;
	size_t hits = 0, hit = 0;
	/* Exact id first, then names (a group's name, a direct chat's peer),
	 * then id prefixes: an id is never mistaken for a prefix of another. */
	for (size_t i = 0; i < n && hits == 0; i++)
		if (strcmp(list[i].id, spec) == 0)
			hits = 1, hit = i;
	if (hits == 0) {
		for (size_t i = 0; i < n; i++) {
			if (list[i].name == NULL || strcmp(list[i].name, spec) != 0)
				continue;
			if (address && list[i].kind != VL_CONV_DIRECT)
				continue;
			/* Several direct chats with one peer cannot exist;
			 * an inactive one (left) loses to an active one. */
			if (hits > 0 && address && !list[i].active)
				continue;
			if (hits > 0 && address && !list[hit].active) {
				hit = i;
				continue;
			}
			hits++;
			hit = i;
		}
	}
	if (hits == 0 && strlen(spec) >= 6 && session_is_hex(spec)) {
		for (size_t i = 0; i < n; i++)
			if (strncmp(list[i].id, spec, strlen(spec)) == 0)
				hits++, hit = i;
	}
	if (hits == 1) {
		memcpy(id, list[hit].id, strlen(list[hit].id) + 1);
		st = VL_OK;
	} else if (hits > 1) {
		st = cli_err_set(err, VL_ERR_ARG, "\"%s\" names %zu chats; use the chat id", spec,
		                 hits);
	} else if (address && create_direct) {
		const char *m[1] = {spec};
		r = vl_client_conv_create(ctx->client, VL_CONV_DIRECT, NULL, m, 1, id);
		st = r == VL_OK ? VL_OK : cli_client_err(ctx, r, err, "starting a chat");
	} else {
		st = cli_err_set(err, VL_ERR_NOT_FOUND, "no chat \"%s\"", spec);
	}
	vl_conv_list_free(list, n);
	return st;
}

/* Page size for cli_messages_each: bounded memory per page. */
#define SESSION_PAGE 1000

enum vl_status cli_messages_each(struct cli_ctx *ctx, const char *conv, cli_msg_fn fn, void *arg,
                                 struct cli_err *err)
{
	for (size_t offset = 0;;) {
		struct vl_message *list = NULL;
		size_t n = 0;
		int r = vl_client_messages(ctx->client, conv, offset, SESSION_PAGE, &list, &n);
		if (r != VL_OK)
			return cli_client_err(ctx, r, err, "reading messages");
		bool more = n == SESSION_PAGE;
		for (size_t i = 0; i < n; i++)
			if (!fn(arg, &list[i])) {
				more = false;
				break;
			}
		vl_message_list_free(list, n);
		if (!more)
			return VL_OK;
		offset += n;
	}
}

struct session_prefix {
	const char *spec;
	size_t len, hits;
	char id[VL_CLIENT_MSG_ID_LEN + 1];
};

static bool session_prefix_match(void *arg, const struct vl_message *m)
{
	struct session_prefix *p = arg;
	if (strncasecmp(m->id, p->spec, p->len) == 0) {
		p->hits++;
		memcpy(p->id, m->id, VL_CLIENT_MSG_ID_LEN + 1);
	}
	return true;
}

enum vl_status cli_msg_resolve(struct cli_ctx *ctx, const char *conv, const char *spec,
                               char id[VL_CLIENT_MSG_ID_LEN + 1], struct cli_err *err)
{
	size_t len = strlen(spec);
	if (len < 4 || len > VL_CLIENT_MSG_ID_LEN || !session_is_hex(spec))
		return cli_err_set(err, VL_ERR_ARG,
		                   "\"%s\" is not a message id (4 to 64 hex digits)", spec);
	if (len == VL_CLIENT_MSG_ID_LEN) {
		/* A whole id needs no search; the library checks it. */
		for (size_t i = 0; i <= len; i++)
			id[i] = (char)tolower((unsigned char)spec[i]);
		return VL_OK;
	}
	struct session_prefix p = {spec, len, 0, ""};
	enum vl_status st = cli_messages_each(ctx, conv, session_prefix_match, &p, err);
	if (st != VL_OK)
		return st;
	if (p.hits == 1) {
		memcpy(id, p.id, VL_CLIENT_MSG_ID_LEN + 1);
		return VL_OK;
	}
	if (p.hits > 1)
		return cli_err_set(err, VL_ERR_ARG, "\"%s\" names %zu messages; give more digits",
		                   spec, p.hits);
	return cli_err_set(err, VL_ERR_NOT_FOUND, "no message \"%s\" in this chat", spec);
}

/* ---- JSON forms ---- */

static json_t *session_hex(const uint8_t *b, size_t n)
{
	char s[2 * 64 + 1];
	static const char d[] = "0123456789abcdef";
	if (n > 64)
		n = 64;
	for (size_t i = 0; i < n; i++) {
		s[2 * i] = d[b[i] >> 4];
		s[2 * i + 1] = d[b[i] & 15];
	}
	s[2 * n] = '\0';
	return json_string(s);
}

/* A string that may come from a peer: invalid UTF-8 would make jansson
 * refuse it, so it is carried with replacement characters instead. */
static json_t *session_str(const char *s)
{
	if (s == NULL)
		return json_null();
	json_t *j = json_string(s);
	if (j != NULL)
		return j;
	char *mem = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&mem, &len);
	if (f == NULL)
		return NULL;
	/* cli_print_safe replaces invalid sequences; keep newlines. */
	cli_print_safe(f, s, true);
	fclose(f);
	j = json_string(mem);
	free(mem);
	return j;
}

static const char *session_receipt(enum vl_receipt_kind k)
{
	return k == VL_RECEIPT_READ ? "read" : k == VL_RECEIPT_DELIVERED ? "delivered" : NULL;
}

json_t *cli_json_message(const struct vl_message *m)
{
	json_t *o = json_object();
	if (o == NULL)
		return NULL;
	static const char *const kind[] = {
	    [VL_MSG_TEXT] = "text", [VL_MSG_ATTACHMENT] = "attachment", [VL_MSG_SYSTEM] = "system"};
	json_object_set_new(o, "id", json_string(m->id));
	json_object_set_new(o, "chat", json_string(m->conv));
	json_object_set_new(o, "kind",
	                    json_string((unsigned)m->kind <= VL_MSG_SYSTEM && kind[m->kind]
	                                    ? kind[m->kind]
	                                    : "unknown"));
	json_object_set_new(o, "sender", session_str(m->sender));
	json_object_set_new(o, "sender_device", session_str(m->sender_device));
	json_object_set_new(o, "time_ms", json_integer((json_int_t)m->timestamp_ms));
	json_object_set_new(o, "text", session_str(m->text ? m->text : ""));
	if (m->markdown)
		json_object_set_new(o, "markdown", json_true());
	if (m->in_reply_to[0])
		json_object_set_new(o, "in_reply_to", json_string(m->in_reply_to));
	json_object_set_new(o, "outgoing", json_boolean(m->outgoing));
	if (m->edited)
		json_object_set_new(o, "edited", json_true());
	if (m->deleted)
		json_object_set_new(o, "deleted", json_true());
	if (m->kind == VL_MSG_ATTACHMENT) {
		const struct vl_attachment_info *a = &m->attachment;
		json_object_set_new(o, "attachment",
		                    json_pack("{s:s,s:o,s:o,s:I,s:o}", "blob_id", a->blob_id,
		                              "file_name", session_str(a->file_name), "media_type",
		                              session_str(a->media_type), "size",
		                              (json_int_t)a->size, "content_hash",
		                              session_hex(a->hash, 32)));
	}
	if (m->n_reactions > 0) {
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < m->n_reactions; i++)
			json_array_append_new(
			    arr,
			    json_pack("{s:o,s:o}", "sender", session_str(m->reactions[i].sender),
			              "reaction", session_str(m->reactions[i].reaction)));
		json_object_set_new(o, "reactions", arr);
	}
	if (m->outgoing && session_receipt(m->receipt_any) != NULL) {
		json_t *by = json_array();
		for (size_t i = 0; by != NULL && i < m->n_receipts; i++)
			json_array_append_new(
			    by, json_pack("{s:o,s:s?}", "user", session_str(m->receipts[i].user),
			                  "receipt", session_receipt(m->receipts[i].kind)));
		json_object_set_new(
		    o, "receipts",
		    json_pack("{s:s?,s:s?,s:o}", "any", session_receipt(m->receipt_any), "all",
		              session_receipt(m->receipt_all), "by", by ? by : json_array()));
	}
	return o;
}

static json_t *session_strings(char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, session_str(v[i]));
	return a;
}

json_t *cli_json_conv(const struct vl_conv_info *c)
{
	return json_pack("{s:s,s:s,s:o,s:o,s:o,s:I,s:I,s:I,s:I,s:b}", "id", c->id, "kind",
	                 c->kind == VL_CONV_DIRECT ? "direct" : "group", "name",
	                 session_str(c->name), "members", session_strings(c->members, c->n_members),
	                 "admins", session_strings(c->admins, c->n_admins), "devices",
	                 (json_int_t)c->n_devices, "epoch", (json_int_t)c->epoch,
	                 "last_activity_ms", (json_int_t)c->last_activity_ms, "unread",
	                 (json_int_t)c->unread, "active", c->active);
}

const char *cli_event_name(enum vl_event_type t)
{
	switch (t) {
	case VL_EVENT_MESSAGE:
		return "message";
	case VL_EVENT_EDITED:
		return "edited";
	case VL_EVENT_DELETED:
		return "deleted";
	case VL_EVENT_REACTION:
		return "reaction";
	case VL_EVENT_RECEIPT:
		return "receipt";
	case VL_EVENT_TYPING:
		return "typing";
	case VL_EVENT_CONV_JOINED:
		return "joined";
	case VL_EVENT_MEMBERS:
		return "members";
	case VL_EVENT_REMOVED:
		return "removed";
	case VL_EVENT_RENAMED:
		return "renamed";
	case VL_EVENT_ADMINS:
		return "admins";
	case VL_EVENT_DEVICES_CHANGED:
		return "devices_changed";
	case VL_EVENT_DISCONNECTED:
		return "disconnected";
	case VL_EVENT_UNDECRYPTABLE:
		return "undecryptable";
	case VL_EVENT_KEY_PACKAGES:
		return "key_packages";
	}
	return "unknown";
}

json_t *cli_json_event(const struct vl_event *ev)
{
	json_t *o = json_pack("{s:s}", "event", cli_event_name(ev->type));
	if (o == NULL)
		return NULL;
	if (ev->conv[0])
		json_object_set_new(o, "chat", json_string(ev->conv));
	if (ev->sender[0])
		json_object_set_new(o, "sender", session_str(ev->sender));
	if (ev->sender_device[0])
		json_object_set_new(o, "sender_device", session_str(ev->sender_device));
	if (ev->target[0])
		json_object_set_new(o, "target", json_string(ev->target));
	if (ev->text != NULL)
		json_object_set_new(o, "text", session_str(ev->text));
	switch (ev->type) {
	case VL_EVENT_TYPING:
		json_object_set_new(o, "typing", json_boolean(ev->typing));
		break;
	case VL_EVENT_RECEIPT:
		json_object_set_new(o, "receipt",
		                    json_string(session_receipt(ev->receipt)
		                                    ? session_receipt(ev->receipt)
		                                    : "unknown"));
		break;
	case VL_EVENT_DEVICES_CHANGED:
		json_object_set_new(o, "verified_broken", json_boolean(ev->verified_broken));
		break;
	case VL_EVENT_DISCONNECTED:
		json_object_set_new(o, "status", json_string(cli_status_name(ev->code)));
		break;
	case VL_EVENT_KEY_PACKAGES:
		json_object_set_new(o, "count", json_integer(ev->code));
		break;
	default:
		break;
	}
	if (ev->has_msg)
		json_object_set_new(o, "message", cli_json_message(&ev->msg));
	return o;
}

json_t *cli_json_event_named(struct cli_ctx *ctx, const struct vl_event *ev)
{
	json_t *j = cli_json_event(ev);
	if (j == NULL || ev->conv[0] == '\0' || ctx->client == NULL)
		return j;
	struct vl_conv_info info;
	if (vl_client_conv_info(ctx->client, ev->conv, &info) == VL_OK) {
		if (info.name != NULL)
			json_object_set_new(j, "chat_name", session_str(info.name));
		vl_conv_info_cleanup(&info);
	}
	return j;
}

static const char *session_jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

void cli_human_message(FILE *out, const json_t *m)
{
	char when[32];
	cli_time_human(when, sizeof when,
	               (int64_t)(json_integer_value(json_object_get(m, "time_ms")) / 1000));
	fprintf(out, "%s  %.8s  ", when, session_jstr(m, "id"));
	const char *kind = session_jstr(m, "kind");
	if (strcmp(kind, "system") != 0)
		cli_print_safe(out, session_jstr(m, "sender"), false);
	if (strcmp(kind, "system") == 0) {
		fputs("* ", out);
		cli_print_safe(out, session_jstr(m, "text"), false);
		fputc('\n', out);
		return;
	}
	fputs(": ", out);
	if (json_object_get(m, "in_reply_to") != NULL)
		fprintf(out, "(reply to %.8s) ", session_jstr(m, "in_reply_to"));
	if (json_is_true(json_object_get(m, "deleted"))) {
		fputs("[deleted]", out);
	} else if (strcmp(kind, "attachment") == 0) {
		json_t *a = json_object_get(m, "attachment");
		char sz[32];
		cli_size_human(sz, sizeof sz,
		               (uint64_t)json_integer_value(json_object_get(a, "size")));
		fputs("[file ", out);
		cli_print_safe(out, session_jstr(a, "file_name"), false);
		fprintf(out, ", %s, ", sz);
		cli_print_safe(out, session_jstr(a, "media_type"), false);
		fputs("]", out);
		const char *t = session_jstr(m, "text");
		/* A caption, unless it merely repeats the file name. */
		if (t[0] && strcmp(t, session_jstr(a, "file_name")) != 0) {
			fputc(' ', out);
			cli_print_safe(out, t, true);
		}
	} else {
		cli_print_safe(out, session_jstr(m, "text"), true);
	}
	if (json_is_true(json_object_get(m, "edited")))
		fputs(" (edited)", out);
	json_t *r = json_object_get(m, "reactions");
	if (json_array_size(r) > 0) {
		fputs("  [", out);
		for (size_t i = 0; i < json_array_size(r); i++) {
			if (i)
				fputc(' ', out);
			cli_print_safe(out, session_jstr(json_array_get(r, i), "reaction"), false);
		}
		fputs("]", out);
	}
	json_t *rc = json_object_get(m, "receipts");
	if (rc != NULL)
		fprintf(out, "  (%s)",
		        json_is_string(json_object_get(rc, "all")) ? session_jstr(rc, "all")
		                                                   : session_jstr(rc, "any"));
	fputc('\n', out);
}

void cli_human_event(FILE *out, const json_t *ev)
{
	const char *e = session_jstr(ev, "event");
	json_t *m = json_object_get(ev, "message");
	fputc('[', out);
	if (json_object_get(ev, "chat_name") != NULL)
		cli_print_safe(out, session_jstr(ev, "chat_name"), false);
	else
		fprintf(out, "%.8s", session_jstr(ev, "chat"));
	fputs("] ", out);
	if (strcmp(e, "message") == 0 && m != NULL) {
		cli_human_message(out, m);
		return;
	}
	fputs(e, out);
	if (json_object_get(ev, "sender") != NULL) {
		fputs(" from ", out);
		cli_print_safe(out, session_jstr(ev, "sender"), false);
	}
	if (json_object_get(ev, "target") != NULL)
		fprintf(out, " on %.8s", session_jstr(ev, "target"));
	if (json_object_get(ev, "text") != NULL) {
		fputs(": ", out);
		cli_print_safe(out, session_jstr(ev, "text"), false);
	}
	if (json_object_get(ev, "receipt") != NULL)
		fprintf(out, ": %s", session_jstr(ev, "receipt"));
	if (json_object_get(ev, "typing") != NULL)
		fputs(json_is_true(json_object_get(ev, "typing")) ? ": typing" : ": stopped typing",
		      out);
	if (strcmp(e, "devices_changed") == 0)
		fprintf(out,
		        "  WARNING: this contact's devices changed%s; compare safety numbers "
		        "(valise safety)",
		        json_is_true(json_object_get(ev, "verified_broken"))
		            ? " since you verified them"
		            : "");
	if (json_object_get(ev, "status") != NULL)
		fprintf(out, ": %s", session_jstr(ev, "status"));
	fputc('\n', out);
}

static const char *session_base(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

void cli_transfer_init(struct cli_transfer *t, struct cli_ctx *ctx, const char *op,
                       const char *file, uint64_t total)
{
	memset(t, 0, sizeof *t);
	t->ctx = ctx;
	t->op = op;
	t->file = file;
	t->last_permille = -1;
	cli_progress_init(&t->bar, stderr, ctx->progress && !ctx->daemon, session_base(file),
	                  total);
}

void cli_transfer_end(struct cli_transfer *t, bool ok)
{
	if (ok)
		cli_progress_finish(&t->bar, t->bar.total);
	else if (t->bar.drawn)
		fputc('\n', stderr);
}

bool cli_progress_cb(void *arg, uint64_t done, uint64_t total)
{
	struct cli_transfer *t = arg;
	t->bar.total = total;
	cli_progress_update(&t->bar, done);
	if (t->ctx->notify != NULL) {
		int pm =
		    total == 0
		        ? 1000
		        : (int)((double)(done > total ? total : done) * 1000.0 / (double)total);
		if (pm / 10 != t->last_permille / 10 ||
		    (done >= total && t->last_permille < 1000)) {
			t->last_permille = pm;
			t->ctx->notify(t->ctx->notify_arg, "progress",
			               json_pack("{s:s,s:s,s:I,s:I}", "op", t->op, "file", t->file,
			                         "done", (json_int_t)done, "total",
			                         (json_int_t)total));
		}
	}
	return true;
}
