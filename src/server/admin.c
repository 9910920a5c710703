/* SPDX-License-Identifier: Apache-2.0 */
/* The operator's socket (admin.h). */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/proto.h"
#include "server/admin.h"
#include "server/log.h"

struct admin_conn {
	uv_pipe_t pipe;
	struct vl_admin *a;
	struct admin_conn *prev, *next;
	unsigned refs; /* the handle until closed, a request in the store */
	bool closing;
	bool whole_user; /* the request names a user, not one device */
	size_t len;
	char line[VL_ADMIN_LINE_MAX];
	uv_write_t wr;
	char reply[128];
};

struct vl_admin {
	uv_loop_t *loop;
	struct vl_core *core;
	uv_pipe_t server;
	struct admin_conn *conns;
	bool closed;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static void conn_unref(struct admin_conn *c)
{
	if (--c->refs)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		c->a->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

static void on_conn_closed(uv_handle_t *h)
{
	conn_unref(h->data);
}

static void conn_close(struct admin_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

static void on_written(uv_write_t *w, int status)
{
	(void)status;
	conn_close(w->data);
}

/* Writes "ok TEXT" or "error TEXT" and closes. */
static void answer(struct admin_conn *c, bool ok, const char *text)
{
	if (c->closing)
		return;
	snprintf(c->reply, sizeof c->reply, "%s %s\n", ok ? "ok" : "error", text);
	uv_buf_t b = uv_buf_init(c->reply, (unsigned)strlen(c->reply));
	c->wr.data = c;
	if (uv_write(&c->wr, (uv_stream_t *)&c->pipe, &b, 1, on_written) != 0)
		conn_close(c);
}

static void revoke_done(void *ctx, int status, const struct vl_core_revoked *r)
{
	struct admin_conn *c = ctx;
	char text[96];
	if (status == VL_OK)
		vl_core_revoked_text(r, c->whole_user, text, sizeof text);
	else if (status == VL_ERR_NOT_FOUND)
		snprintf(text, sizeof text, "%s",
		         c->whole_user ? "no such user" : "no such device");
	else
		snprintf(text, sizeof text, "%s", vl_strerror(status));
	answer(c, status == VL_OK, text);
	conn_unref(c);
}

/* "revoke USER@DOMAIN#DEVICE", or "revoke USER@DOMAIN" for all of them. */
static void dispatch(struct admin_conn *c)
{
	static const char verb[] = "revoke ";
	if (strncmp(c->line, verb, sizeof verb - 1) != 0) {
		answer(c, false, "unknown request (revoke USER@DOMAIN[#DEVICE])");
		return;
	}
	char *arg = c->line + sizeof verb - 1;
	char *hash = strrchr(arg, '#');
	c->whole_user = !hash;
	if (!hash)
		hash = arg + strlen(arg);
	if (hash == arg || (*hash && !hash[1]) ||
	    !vl_proto_address_valid((const uint8_t *)arg, (size_t)(hash - arg))) {
		answer(c, false, "expected USER@DOMAIN[#DEVICE]");
		return;
	}
	const char *name = *hash ? hash + 1 : NULL;
	*hash = '\0';
	c->refs++;
	int rc = vl_core_admin_revoke(c->a->core, arg, name, revoke_done, c);
	if (rc) {
		c->refs--;
		answer(c, false, vl_strerror(rc));
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct admin_conn *c = h->data;
	*buf = uv_buf_init(c->line + c->len, (unsigned)(sizeof c->line - 1 - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	(void)buf;
	struct admin_conn *c = s->data;
	if (n < 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	char *nl = memchr(c->line, '\n', c->len);
	if (!nl) {
		if (c->len == sizeof c->line - 1) {
			uv_read_stop(s);
			answer(c, false, "request line too long");
		}
		return;
	}
	uv_read_stop(s);
	*nl = '\0';
	if (memchr(c->line, '\0', (size_t)(nl - c->line))) {
		answer(c, false, "NUL in the request");
		return;
	}
	dispatch(c);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct vl_admin *a = server->data;
	if (status < 0 || a->closed)
		return;
	struct admin_conn *c = calloc(1, sizeof *c);
	if (!c)
		return;
	c->a = a;
	c->refs = 1;
	uv_pipe_init(a->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->next = a->conns;
	if (a->conns)
		a->conns->prev = c;
	a->conns = c;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0 ||
	    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0)
		conn_close(c);
}

int vl_admin_listen(uv_loop_t *loop, struct vl_core *core, const char *path, struct vl_admin **out)
{
	*out = NULL;
	struct vl_admin *a = calloc(1, sizeof *a);
	if (!a)
		return VL_ERR_NOMEM;
	if (strlen(path) >= sizeof a->path) {
		free(a);
		return VL_ERR_ARG;
	}
	strcpy(a->path, path);
	a->loop = loop;
	a->core = core;
	uv_pipe_init(loop, &a->server, 0);
	a->server.data = a;
	(void)unlink(path); /* a previous run's socket */
	mode_t old = umask(0077);
	int rc = uv_pipe_bind(&a->server, path);
	umask(old);
	if (rc == 0)
		rc = chmod(path, 0600) ? -errno : 0;
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&a->server, 16, on_connection);
	if (rc) {
		vl_log(VL_LOG_WARN, "admin_socket_failed", "path=%s error=\"%s\"", path,
		       uv_strerror(rc));
		a->closed = true;
		uv_close((uv_handle_t *)&a->server, NULL);
		*out = a; /* freed by vl_admin_free once the handle is closed */
		return VL_ERR_IO;
	}
	*out = a;
	return VL_OK;
}

void vl_admin_close(struct vl_admin *a)
{
	if (!a || a->closed)
		return;
	a->closed = true;
	uv_close((uv_handle_t *)&a->server, NULL);
	for (struct admin_conn *c = a->conns; c; c = c->next)
		conn_close(c);
	(void)unlink(a->path);
}

void vl_admin_free(struct vl_admin *a)
{
	if (!a)
		return;
	/* Every handle is closed and every request completed by now. */
	while (a->conns) {
		struct admin_conn *c = a->conns;
		a->conns = c->next;
		free(c);
	}
	free(a);
}

/* --- client side ------------------------------------------------------------ */

int vl_admin_request(const char *path, const char *line, char *reply, size_t cap, int timeout_ms)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path || cap == 0)
		return VL_ERR_ARG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return VL_ERR_NET;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		int e = errno;
		close(fd);
		return e == ENOENT || e == ECONNREFUSED ? VL_ERR_NOT_FOUND : VL_ERR_NET;
	}
	size_t len = strlen(line), off = 0;
	while (off < len) {
		ssize_t w = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			return VL_ERR_NET;
		}
		off += (size_t)w;
	}
	size_t got = 0;
	int rc = VL_ERR_NET;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			rc = VL_ERR_TIMEOUT;
			break;
		}
		if (r < 0 || got + 1 >= cap)
			break;
		ssize_t n = recv(fd, reply + got, cap - 1 - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(reply, '\n', got)) {
			rc = VL_OK;
			break;
		}
	}
	close(fd);
	reply[got] = '\0';
	char *nl = strchr(reply, '\n');
	if (nl)
		*nl = '\0';
	return rc;
}
