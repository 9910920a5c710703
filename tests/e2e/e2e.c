/* SPDX-License-Identifier: Apache-2.0 */
/* Server process control and the connected test device of e2e.h. */
#include "e2e.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int launch(struct srv *s)
{
	char portfile[200];
	snprintf(portfile, sizeof portfile, "%s/valised.port", s->dir);
	unlink(portfile);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		const char *argv[32];
		int n = 0;
		argv[n++] = s->exe;
		argv[n++] = "run";
		argv[n++] = "--listen";
		argv[n++] = "127.0.0.1:0";
		argv[n++] = "--data";
		argv[n++] = s->dir;
		argv[n++] = "--set";
		argv[n++] = "server_name=example.org";
		argv[n++] = "--set";
		argv[n++] = "log_level=warn";
		if (!s->tls)
			argv[n++] = "--plain";
		for (int i = 0; i < 8 && s->extra[i]; i++) {
			argv[n++] = "--set";
			argv[n++] = s->extra[i];
		}
		argv[n] = NULL;
		/* The server's banner and logs go to its data folder, not into
		 * the test's output (whose pipe they would keep open). */
		char log[200];
		snprintf(log, sizeof log, "%s/valised.log", s->dir);
		FILE *o = freopen("/dev/null", "w", stdout);
		FILE *e = freopen(log, "a", stderr);
		(void)o;
		(void)e;
		execv(s->exe, (char *const *)argv);
		_exit(127);
	}
	s->pid = pid;
	for (int i = 0; i < 500; i++) {
		FILE *f = fopen(portfile, "r");
		if (f) {
			int port = 0;
			int ok = fscanf(f, "%d", &port);
			fclose(f);
			if (ok == 1 && port > 0) {
				s->port = port;
				return 0;
			}
		}
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			s->pid = 0;
			return -1;
		}
		sleep_ms(10);
	}
	return -1;
}

int srv_start(struct srv *s, const char *exe, bool tls)
{
	/* A peer that closes first must not kill the test with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	s->exe = exe;
	s->tls = tls;
	snprintf(s->dir, sizeof s->dir, "/tmp/vl_e2e_XXXXXX");
	if (!mkdtemp(s->dir))
		return -1;
	return launch(s);
}

int srv_restart(struct srv *s)
{
	return launch(s);
}

void srv_kill9(struct srv *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
}

int srv_stop(struct srv *s, int timeout_ms)
{
	if (s->pid <= 0)
		return -1;
	kill(s->pid, SIGTERM);
	for (int t = 0; t < timeout_ms; t += 10) {
		int st;
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		sleep_ms(10);
	}
	srv_kill9(s);
	return -1;
}

void srv_cleanup(struct srv *s)
{
	srv_kill9(s);
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "e2e: could not remove %s\n", s->dir);
}

long srv_metric(const struct srv *s, const char *name)
{
	char *body = NULL;
	if (wsc_http_get("127.0.0.1", s->port, s->tls, "/metrics", &body) != 200 || !body) {
		free(body);
		return -1;
	}
	char key[128];
	snprintf(key, sizeof key, "\n%s ", name);
	const char *p = strstr(body, key);
	long v = p ? atol(p + strlen(key)) : -1;
	free(body);
	return v;
}

long srv_metric_wait(const struct srv *s, const char *name, long want, int timeout_ms)
{
	long v = srv_metric(s, name);
	for (int t = 0; v != want && t < timeout_ms; t += 20) {
		sleep_ms(20);
		v = srv_metric(s, name);
	}
	return v;
}

char *srv_invite(struct srv *s, const char *user)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "'%s' admin invite '%s' --data '%s' 2>/dev/null", s->exe, user,
	         s->dir);
	FILE *p = popen(cmd, "r");
	if (!p)
		return NULL;
	char line[128] = {0};
	char *ok = fgets(line, sizeof line, p);
	int st = pclose(p);
	if (!ok || st != 0)
		return NULL;
	line[strcspn(line, "\r\n")] = 0;
	return strdup(line);
}

void rframe_free(struct rframe *r)
{
	free(r->buf);
	r->buf = NULL;
}

int cli_open(struct cli *c, struct srv *s)
{
	memset(&c->ws, 0, sizeof c->ws);
	c->n_backlog = 0;
	c->next_id = 1;
	if (wsc_connect(&c->ws, "127.0.0.1", s->port, s->tls, VL_PROTO_SUBPROTOCOL))
		return -1;
	uint8_t *m;
	size_t n;
	int op;
	if (wsc_recv(&c->ws, &m, &n, &op, 5000) != 1)
		return -1;
	int rc = vtc_challenge_parse(m, n, &c->ch);
	free(m);
	return rc == VL_OK ? 0 : -1;
}

void cli_close(struct cli *c)
{
	wsc_close(&c->ws);
	for (size_t i = 0; i < c->n_backlog; i++)
		free(c->backlog[i].buf);
	c->n_backlog = 0;
}

int cli_send_writer(struct cli *c, struct vl_writer *w)
{
	int rc = w->err == VL_OK ? wsc_send(&c->ws, WSC_BINARY, w->buf, w->len) : -1;
	vl_writer_cleanup(w);
	return rc;
}

static bool matches(const struct rframe *r, uint8_t type, uint32_t id)
{
	return r->f.type == type && (id == UINT32_MAX || r->f.request_id == id);
}

int cli_wait(struct cli *c, uint8_t type, uint32_t id, int timeout_ms, struct rframe *out)
{
	for (size_t i = 0; i < c->n_backlog; i++)
		if (matches(&c->backlog[i], type, id)) {
			*out = c->backlog[i];
			memmove(&c->backlog[i], &c->backlog[i + 1],
			        (c->n_backlog - i - 1) * sizeof c->backlog[0]);
			c->n_backlog--;
			return 1;
		}
	for (;;) {
		struct rframe r;
		int op;
		int rc = wsc_recv(&c->ws, &r.buf, &r.len, &op, timeout_ms);
		if (rc != 1)
			return rc;
		if (vl_frame_decode(r.buf, r.len, VL_PROTO_FRAME_MAX + 4096, &r.f) != VL_OK) {
			free(r.buf);
			return -1;
		}
		if (matches(&r, type, id)) {
			*out = r;
			return 1;
		}
		if (c->n_backlog == 256) {
			free(r.buf);
			return -1;
		}
		c->backlog[c->n_backlog++] = r;
	}
}

int cli_closing_code(struct cli *c, int timeout_ms)
{
	struct rframe r;
	if (cli_wait(c, VL_FRAME_CLOSING, 0, timeout_ms, &r) != 1)
		return -1;
	struct vl_msg_closing cl;
	int code = vl_msg_closing_decode(&r.f.body, &cl) == VL_OK ? cl.code : -1;
	rframe_free(&r);
	return code;
}

int cli_reply(struct cli *c, uint32_t id, uint16_t *code, struct rframe *out, int timeout_ms)
{
	/* Whichever of ERROR or the OK reply with this id comes first. On
	 * timeout or error *out is empty, so callers may always free it. */
	memset(out, 0, sizeof *out);
	for (int waited = 0; waited < timeout_ms; waited += 20) {
		for (size_t i = 0; i < c->n_backlog; i++) {
			struct rframe *r = &c->backlog[i];
			if (r->f.request_id == id &&
			    (r->f.type == VL_FRAME_ERROR || (r->f.type & 0xc0) == VL_FRAME_REPLY)) {
				*out = *r;
				memmove(r, r + 1, (c->n_backlog - i - 1) * sizeof *r);
				c->n_backlog--;
				if (out->f.type == VL_FRAME_ERROR) {
					struct vl_msg_error e;
					if (vl_msg_error_decode(&out->f.body, &e) == VL_OK && code)
						*code = e.code;
				}
				return out->f.type;
			}
		}
		struct rframe r;
		int op;
		int rc = wsc_recv(&c->ws, &r.buf, &r.len, &op, 20);
		if (rc == 0)
			return -1;
		if (rc == 1) {
			if (vl_frame_decode(r.buf, r.len, VL_PROTO_FRAME_MAX + 4096, &r.f) !=
			        VL_OK ||
			    c->n_backlog == 256) {
				free(r.buf);
				return -1;
			}
			c->backlog[c->n_backlog++] = r;
		}
	}
	return -1;
}

int cli_register(struct cli *c, const char *invite, uint16_t *code)
{
	struct vl_writer w;
	vl_writer_init_heap(&w, 4096);
	uint32_t id = c->next_id++;
	if (vtc_register_frame(&w, id, &c->dev, invite, &c->ch) || cli_send_writer(c, &w))
		return -1;
	struct rframe r;
	int t = cli_reply(c, id, code, &r, 5000);
	if (t >= 0)
		rframe_free(&r);
	return t;
}

int cli_auth(struct cli *c, uint16_t *code)
{
	struct vl_writer w;
	vl_writer_init_heap(&w, 4096);
	uint32_t id = c->next_id++;
	if (vtc_auth_frame(&w, id, &c->dev, &c->ch) || cli_send_writer(c, &w))
		return -1;
	struct rframe r;
	int t = cli_reply(c, id, code, &r, 5000);
	if (t >= 0)
		rframe_free(&r);
	return t;
}

/* Opens c as device (user, name) and registers it with invite. */
static int cli_enrol(struct cli *c, struct srv *s, const char *user, const char *name,
                     uint16_t suite, const char *invite)
{
	uint16_t code = 0;
	if (vtc_device_init(&c->dev, user, name, suite) || cli_open(c, s) ||
	    cli_register(c, invite, &code) != (VL_FRAME_REGISTER | VL_FRAME_REPLY))
		return -1;
	return 0;
}

int cli_new_device(struct cli *c, struct srv *s, const char *user, const char *name, uint16_t suite)
{
	char *inv = srv_invite(s, user);
	if (!inv)
		return -1;
	int rc = cli_enrol(c, s, user, name, suite, inv);
	free(inv);
	return rc;
}

int cli_new_devices(struct cli *c, size_t n, struct srv *s, const char *prefix)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "'%s' admin invites '%s@example.org' %zu --data '%s' 2>/dev/null",
	         s->exe, prefix, n, s->dir);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	char line[256], user[200], code[40];
	size_t i = 0;
	int rc = 0;
	while (fgets(line, sizeof line, p))
		if (rc || i == n || sscanf(line, "%199s %39s", user, code) != 2 ||
		    cli_enrol(&c[i++], s, user, "d", 1, code))
			rc = -1;
	if (pclose(p) != 0 || i != n)
		rc = -1;
	return rc;
}

int blob_auth_headers(struct srv *s, const struct vtc_device *d, bool corrupt_sig,
                      char *challenge_out, const char *reuse_challenge, char *headers, size_t cap)
{
	char ch_hex[80];
	if (reuse_challenge) {
		snprintf(ch_hex, sizeof ch_hex, "%s", reuse_challenge);
	} else {
		char *chal = NULL;
		int st = wsc_http_get("127.0.0.1", s->port, s->tls, "/blob/challenge", &chal);
		if (st == 200)
			snprintf(ch_hex, sizeof ch_hex, "%.64s", chal);
		free(chal);
		if (st != 200)
			return -1;
	}
	if (challenge_out)
		strcpy(challenge_out, ch_hex);
	struct vtc_challenge ch;
	for (int i = 0; i < 32; i++) {
		unsigned v;
		if (sscanf(ch_hex + 2 * i, "%2x", &v) != 1)
			return -1;
		ch.challenge[i] = (uint8_t)v;
	}
	uint8_t tbs[600], sig[VL_SIG_MAX];
	size_t sig_len;
	struct vl_writer w;
	vl_writer_init_fixed(&w, tbs, sizeof tbs);
	struct vl_bytes cb = {ch.challenge, 32}, sn = {(const uint8_t *)"example.org", 11};
	struct vl_bytes u = {(const uint8_t *)d->user, strlen(d->user)};
	struct vl_bytes n = {(const uint8_t *)d->name, strlen(d->name)};
	if (vl_proto_auth_tbs(&w, VL_PROTO_LABEL_BLOB, &cb, &sn, &u, &n) != VL_OK ||
	    vl_sign(vl_suite_get(d->suite), d->priv, tbs, w.len, sig, &sig_len) != VL_OK)
		return -1;
	if (corrupt_sig)
		sig[3] ^= 1;
	char sig_hex[2 * VL_SIG_MAX + 1];
	vl_hex_encode(sig, sig_len, sig_hex);
	snprintf(headers, cap,
	         "X-Valise-User: %s\r\nX-Valise-Device: %s\r\nX-Valise-Challenge: %s\r\n"
	         "X-Valise-Signature: %s\r\n",
	         d->user, d->name, ch_hex, sig_hex);
	return 0;
}
