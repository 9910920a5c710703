/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `valise daemon`: the command's operations as JSON-RPC 2.0 methods for
 * bots and other programs, on stdin/stdout or on a Unix socket, with every
 * incoming message and event pushed as a notification.
 *
 * Design:
 *  1. One thread, one poll() loop over the listening socket, the peers and
 *     the server connection. libvalise is not thread-safe; nothing here
 *     needs it to be.
 *  2. Requests are handled one at a time, in arrival order; a slow one (a
 *     large file) delays the others. Replies and notifications go through
 *     a per-peer output buffer capped at DAEMON_OUT_MAX: a peer that stops
 *     reading is dropped rather than letting the daemon grow without
 *     bound (on stdio, where the peer is the parent, writes block instead).
 *  3. Events reach peers only from vl_client_poll(), which runs when the
 *     server's socket is readable and after every request (a call keeps
 *     frames that arrive meanwhile for the next poll).
 *  4. A lost server connection is retried with a growing delay (0.5 s to
 *     30 s); requests that need the server try to connect themselves and
 *     fail with the network error meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/rpc.h"

#define DAEMON_MAX_PEERS 32
#define DAEMON_OUT_MAX   ((size_t)16 << 20)

struct daemon_peer {
	int in_fd, out_fd;
	bool socket; /* non-blocking, dropped when its buffer overflows */
	bool eof;
	struct cli_rpc_lines lines;
	char *out;
	size_t out_len, out_cap;
};

struct daemon {
	struct cli_ctx *ctx;
	int listen_fd;
	struct daemon_peer peers[DAEMON_MAX_PEERS];
	size_t n_peers;
	struct daemon_peer *current; /* peer whose line is being handled */
};

static volatile sig_atomic_t daemon_stop;

static void daemon_on_signal(int sig)
{
	(void)sig;
	daemon_stop = 1;
}

static double daemon_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void daemon_peer_close(struct daemon_peer *p)
{
	if (p->in_fd >= 0 && p->socket)
		close(p->in_fd);
	cli_rpc_lines_cleanup(&p->lines);
	free(p->out);
	memset(p, 0, sizeof *p);
	p->in_fd = p->out_fd = -1;
}

/* Writes what the peer's buffer holds, as far as the fd takes it. */
static void daemon_flush(struct daemon_peer *p)
{
	size_t off = 0;
	while (off < p->out_len) {
		ssize_t w = write(p->out_fd, p->out + off, p->out_len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w <= 0) {
			/* The peer went away: nothing more can reach it. */
			p->eof = true;
			p->out_len = 0;
			return;
		}
		off += (size_t)w;
	}
	memmove(p->out, p->out + off, p->out_len - off);
	p->out_len -= off;
}

static void daemon_send(struct daemon_peer *p, json_t *msg)
{
	if (p->out_fd < 0 || p->eof || msg == NULL)
		return;
	char *s = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s == NULL)
		return;
	size_t n = strlen(s);
	if (p->out_len + n + 1 > DAEMON_OUT_MAX) {
		fprintf(stderr, "valise daemon: a peer stopped reading; dropping it\n");
		p->eof = true;
		p->out_len = 0;
		free(s);
		return;
	}
	if (p->out_len + n + 1 > p->out_cap) {
		size_t cap = p->out_cap ? p->out_cap : 8192;
		while (cap < p->out_len + n + 1)
			cap *= 2;
		char *b = realloc(p->out, cap);
		if (b == NULL) {
			free(s);
			return;
		}
		p->out = b;
		p->out_cap = cap;
	}
	memcpy(p->out + p->out_len, s, n);
	p->out[p->out_len + n] = '\n';
	p->out_len += n + 1;
	free(s);
	daemon_flush(p);
}

static void daemon_on_event(void *arg, const struct vl_event *ev)
{
	struct daemon *d = arg;
	json_t *n =
	    cli_rpc_notification(cli_event_name(ev->type), cli_json_event_named(d->ctx, ev));
	for (size_t i = 0; i < d->n_peers; i++)
		daemon_send(&d->peers[i], n);
	json_decref(n);
}

static void daemon_notify(void *arg, const char *method, json_t *params)
{
	struct daemon *d = arg;
	json_t *n = cli_rpc_notification(method, params);
	daemon_send(d->current, n);
	json_decref(n);
}

static void daemon_call(void *arg, const char *method, json_t *params, json_t **result,
                        struct cli_rpc_error *e)
{
	struct daemon *d = arg;
	const struct cli_cmd *cmd = cli_cmd_by_method(cli_commands, cli_n_commands, method);
	if (cmd == NULL) {
		e->code = CLI_RPC_METHOD_NOT_FOUND;
		snprintf(e->message, sizeof e->message, "Method not found");
		return;
	}
	struct cli_err err = {0};
	json_t *checked = NULL;
	enum vl_status st = cli_params_check(cmd, params, &checked, &err);
	if (st == VL_OK)
		st = cmd->run(d->ctx, checked, result, &err);
	json_decref(checked);
	if (st != VL_OK) {
		json_decref(*result);
		*result = NULL;
		cli_rpc_error_from(e, &err);
	}
}

static void daemon_on_line(void *arg, const char *line, size_t len, bool too_long)
{
	struct daemon *d = arg;
	json_t *reply = too_long ? cli_rpc_too_long() : cli_rpc_handle(line, len, daemon_call, d);
	daemon_send(d->current, reply);
	json_decref(reply);
}

static enum vl_status daemon_listen(struct daemon *d, const char *path, struct cli_err *err)
{
	/* Bound under a temporary name and renamed once listening, so that
	 * a client waiting for the path never finds a socket that refuses
	 * connections. */
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	char tmp[sizeof sa.sun_path];
	int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return cli_err_set(err, VL_ERR_ARG,
		                   "--socket: \"%s\" is too long for a socket path", path);
	memcpy(sa.sun_path, tmp, (size_t)n + 1);
	struct stat stt;
	/* A stale socket from an earlier run is replaced; anything else at
	 * that path is left alone. */
	if (lstat(path, &stt) == 0 && !S_ISSOCK(stt.st_mode))
		return cli_err_set(err, VL_ERR_EXISTS,
		                   "--socket: \"%s\" exists and is not a socket", path);
	if (lstat(tmp, &stt) == 0) {
		if (!S_ISSOCK(stt.st_mode))
			return cli_err_set(err, VL_ERR_EXISTS,
			                   "--socket: \"%s\" exists and is not a socket", tmp);
		unlink(tmp);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cli_err_set(err, VL_ERR_IO, "socket: %s", strerror(errno));
	/* Owner only from the start: the socket gives full use of the
	 * account. */
	mode_t old = umask(0177);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (r != 0 || listen(fd, 8) != 0 || rename(tmp, path) != 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return cli_err_set(err, VL_ERR_IO, "--socket \"%s\": %s", path, strerror(e));
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	d->listen_fd = fd;
	return VL_OK;
}

static struct daemon_peer *daemon_add_peer(struct daemon *d, int in_fd, int out_fd, bool sock)
{
	if (d->n_peers == DAEMON_MAX_PEERS)
		return NULL;
	struct daemon_peer *p = &d->peers[d->n_peers++];
	memset(p, 0, sizeof *p);
	p->in_fd = in_fd;
	p->out_fd = out_fd;
	p->socket = sock;
	cli_rpc_lines_init(&p->lines, CLI_RPC_MAX_REQUEST);
	return p;
}

static void daemon_reap(struct daemon *d)
{
	for (size_t i = 0; i < d->n_peers;) {
		struct daemon_peer *p = &d->peers[i];
		if (p->eof && (p->out_len == 0 || p->socket)) {
			daemon_peer_close(p);
			d->peers[i] = d->peers[--d->n_peers];
		} else {
			i++;
		}
	}
}

CLI_RUN(cmd_daemon)
{
	ctx->daemon = true;
	ctx->progress = false;
	enum vl_status st = cli_session_open(ctx, err);
	if (st != VL_OK)
		return st;
	struct daemon d;
	memset(&d, 0, sizeof d);
	d.ctx = ctx;
	d.listen_fd = -1;
	const char *path = cli_param_str(params, "socket");
	if (path != NULL) {
		if ((st = daemon_listen(&d, path, err)) != VL_OK)
			return st;
	} else {
		daemon_add_peer(&d, STDIN_FILENO, STDOUT_FILENO, false);
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = daemon_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	vl_client_set_event_cb(ctx->client, daemon_on_event, &d);
	ctx->notify = daemon_notify;
	ctx->notify_arg = &d;

	double next_connect = 0;
	int backoff_ms = 500;
	while (!daemon_stop) {
		if (!vl_client_connected(ctx->client) && daemon_now() >= next_connect) {
			int r = vl_client_connect(ctx->client);
			if (r == VL_OK) {
				backoff_ms = 500;
				/* The backlog becomes notifications. */
				if (vl_client_poll(ctx->client, 0) != VL_OK) {
					/* Reported as a disconnected event. */
				}
			} else {
				fprintf(stderr, "valise daemon: %s; retrying in %d ms\n",
				        vl_client_errmsg(ctx->client), backoff_ms);
				next_connect = daemon_now() + backoff_ms / 1000.0;
				backoff_ms = backoff_ms >= 15000 ? 30000 : backoff_ms * 2;
			}
		}
		struct pollfd fds[2 + 2 * DAEMON_MAX_PEERS];
		struct daemon_peer *who[2 + 2 * DAEMON_MAX_PEERS];
		nfds_t nf = 0;
		int client_slot = -1, listen_slot = -1;
		int cfd = vl_client_fd(ctx->client);
		if (cfd >= 0) {
			client_slot = (int)nf;
			fds[nf++] = (struct pollfd){cfd, POLLIN, 0};
		}
		if (d.listen_fd >= 0 && d.n_peers < DAEMON_MAX_PEERS) {
			listen_slot = (int)nf;
			fds[nf++] = (struct pollfd){d.listen_fd, POLLIN, 0};
		}
		size_t first_peer = nf;
		for (size_t i = 0; i < d.n_peers; i++) {
			struct daemon_peer *p = &d.peers[i];
			short ev = p->eof ? 0 : POLLIN;
			if (p->in_fd == p->out_fd && p->out_len > 0)
				ev |= POLLOUT;
			who[nf] = p;
			fds[nf++] = (struct pollfd){p->in_fd, ev, 0};
			if (p->in_fd != p->out_fd && p->out_len > 0) {
				who[nf] = p;
				fds[nf++] = (struct pollfd){p->out_fd, POLLOUT, 0};
			}
		}
		int timeout = vl_client_connected(ctx->client) ? 1000 : 200;
		int n = poll(fds, nf, timeout);
		if (n < 0 && errno != EINTR) {
			st = cli_err_set(err, VL_ERR_IO, "poll: %s", strerror(errno));
			break;
		}
		if (n <= 0)
			continue;
		if (client_slot >= 0 && fds[client_slot].revents != 0) {
			if (vl_client_poll(ctx->client, 0) != VL_OK) {
				/* A lost connection is an event; reconnecting
				 * happens at the top of the loop. */
			}
		}
		if (listen_slot >= 0 && (fds[listen_slot].revents & POLLIN)) {
			int c = accept(d.listen_fd, NULL, NULL);
			if (c >= 0) {
				fcntl(c, F_SETFD, FD_CLOEXEC);
				fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
				if (daemon_add_peer(&d, c, c, true) == NULL)
					close(c);
			}
		}
		bool handled = false;
		for (size_t k = first_peer; k < nf; k++) {
			struct daemon_peer *p = who[k];
			if (fds[k].revents & POLLOUT)
				daemon_flush(p);
			if (fds[k].fd != p->in_fd ||
			    !(fds[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			char buf[65536];
			ssize_t r = read(p->in_fd, buf, sizeof buf);
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				/* A last request without its newline still counts. */
				d.current = p;
				if (r == 0 && p->lines.len > 0 &&
				    cli_rpc_lines_feed(&p->lines, "\n", 1, daemon_on_line, &d) ==
				        VL_OK)
					handled = true;
				p->eof = true;
				continue;
			}
			d.current = p;
			if (cli_rpc_lines_feed(&p->lines, buf, (size_t)r, daemon_on_line, &d) !=
			    VL_OK)
				p->eof = true;
			handled = true;
		}
		if (handled && vl_client_connected(ctx->client)) {
			if (vl_client_poll(ctx->client, 0) != VL_OK) {
				/* As above. */
			}
		}
		daemon_reap(&d);
		/* On stdio, the end of input ends the daemon once its replies
		 * are out. */
		if (d.listen_fd < 0 && d.n_peers == 0)
			break;
	}
	vl_client_set_event_cb(ctx->client, NULL, NULL);
	ctx->notify = NULL;
	for (size_t i = 0; i < d.n_peers; i++)
		daemon_peer_close(&d.peers[i]);
	if (d.listen_fd >= 0) {
		close(d.listen_fd);
		unlink(path);
	}
	*result = NULL;
	return st;
}
