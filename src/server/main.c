/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The valised command:
 *   valised run [--dev] [--config FILE] [--data DIR] [--listen HOST:PORT]
 *               [--plain] [--set KEY=VALUE]...
 *   valised admin invite USER@DOMAIN [--data DIR] [--config FILE]
 *   valised version
 * `run` serves until SIGTERM or SIGINT, then stops accepting, answers what
 * is in flight, closes every connection and exits 0 with everything it
 * acknowledged on disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "server/admin.h"
#include "server/backup.h"
#include "server/config.h"
#include "server/core.h"
#include "server/log.h"
#include "server/transport.h"

extern char **environ;

static void usage(FILE *f)
{
	fprintf(f, "usage: valised run [--dev] [--config FILE] [--data DIR] [--listen HOST:PORT]\n"
	           "                   [--plain] [--set KEY=VALUE]...\n"
	           "       valised admin invite USER@DOMAIN [--data DIR] [--config FILE]\n"
	           "       valised admin invites PREFIX@DOMAIN COUNT [--data DIR] [--config FILE]\n"
	           "       valised admin devices USER@DOMAIN [--data DIR] [--config FILE]\n"
	           "       valised admin usage USER@DOMAIN [--data DIR] [--config FILE]\n"
	           "       valised admin users [--data DIR] [--config FILE]\n"
	           "       valised admin revoke USER@DOMAIN[#DEVICE] [--data DIR] [--config FILE]\n"
	           "       valised admin backup DIR [--data DIR] [--config FILE]\n"
	           "       valised version\n"
	           "Configuration keys: docs/operations.md.\n");
}

/* A diagnostic that quotes the bad value; returns the exit code. */
__attribute__((format(printf, 1, 2))) static int die(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "valised: %s\n", msg);
	return 2;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[VL_CONFIG_PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
		return -1;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, mode) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, mode) && errno != EEXIST ? -1 : 0;
}

/* Parses the options shared by run and admin. Returns 0, or the exit code. */
static int parse_options(int argc, char **argv, int first, struct vl_server_config *cfg, bool *dev,
                         bool admin)
{
	char err[600];
	/* --dev and --config first: they set the base the other flags change. */
	for (int i = first; i < argc; i++) {
		if (strcmp(argv[i], "--dev") == 0) {
			*dev = true;
			strcpy(cfg->listen_host, "127.0.0.1");
			cfg->port = 8443;
			strcpy(cfg->data_dir, "data");
		}
	}
	for (int i = first; i < argc; i++)
		if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc)
				return die("%s needs a file", "--config");
			if (vl_server_config_load(cfg, argv[i + 1], err, sizeof err))
				return die("%s", err);
		}
	for (int i = first; i < argc; i++) {
		const char *a = argv[i];
		char msg[600];
		if (strcmp(a, "--dev") == 0)
			continue;
		if (strcmp(a, "--config") == 0) {
			i++;
			continue;
		}
		if (strcmp(a, "--data") == 0 || strcmp(a, "--listen") == 0 ||
		    strcmp(a, "--set") == 0) {
			if (i + 1 >= argc)
				return die("%s needs a value", a);
			const char *v = argv[++i];
			int rc;
			if (strcmp(a, "--data") == 0)
				rc = vl_server_config_set(cfg, "data_dir", v, msg, sizeof msg);
			else if (strcmp(a, "--listen") == 0)
				rc = vl_server_config_set(cfg, "listen", v, msg, sizeof msg);
			else {
				char key[64];
				const char *eq = strchr(v, '=');
				if (!eq || (size_t)(eq - v) >= sizeof key)
					return die("--set \"%s\": expected KEY=VALUE", v);
				memcpy(key, v, (size_t)(eq - v));
				key[eq - v] = 0;
				rc = vl_server_config_set(cfg, key, eq + 1, msg, sizeof msg);
			}
			if (rc)
				return die("%s", msg);
			continue;
		}
		if (!admin && strcmp(a, "--plain") == 0) {
			cfg->tls = false;
			continue;
		}
		return die("unknown option \"%s\"", a);
	}
	return 0;
}

/* An admin command's configuration: the defaults, then its options from
 * argv[first]. 0, or the exit code after saying why not. */
static int admin_options(int argc, char **argv, int first, struct vl_server_config *cfg)
{
	vl_server_config_defaults(cfg);
	bool dev = false;
	return parse_options(argc, argv, first, cfg, &dev, true);
}

/* --- development certificate ------------------------------------------------ */

/* Makes a self-signed certificate for localhost with the openssl command
 * (the same OpenSSL the server links; nothing here handles key bytes). */
static int make_dev_cert(const char *cert, const char *key)
{
	char *args[] = {"openssl",
	                "req",
	                "-x509",
	                "-newkey",
	                "ec",
	                "-pkeyopt",
	                "ec_paramgen_curve:P-256",
	                "-nodes",
	                "-days",
	                "365",
	                "-subj",
	                "/CN=localhost",
	                "-addext",
	                "subjectAltName=DNS:localhost,IP:127.0.0.1",
	                "-keyout",
	                (char *)key,
	                "-out",
	                (char *)cert,
	                NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	mode_t old = umask(077);
	int rc = posix_spawnp(&pid, "openssl", &fa, NULL, args, environ);
	posix_spawn_file_actions_destroy(&fa);
	int status = 0;
	if (rc == 0 && waitpid(pid, &status, 0) < 0)
		rc = errno;
	umask(old);
	if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	return 0;
}

/* --- the data folder's lock ---------------------------------------------------- */

/* One valised per data folder: the store hands out message ids from memory
 * and caches groups, so a second process on the same store would break
 * both. An flock on DATA/valised.lock, held until exit (the kernel drops it
 * even after kill -9), holding the owner's pid for the message.
 * 0 (*fd_out holds it), 1 if another process holds it (*pid_out, or 0 if
 * unknown), -1 on error (errno). */
static int data_lock(const char *dir, int *fd_out, long *pid_out)
{
	char path[VL_CONFIG_PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/valised.lock", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		char buf[24] = {0};
		*pid_out = pread(fd, buf, sizeof buf - 1, 0) > 0 ? atol(buf) : 0;
		close(fd);
		errno = e;
		return e == EWOULDBLOCK ? 1 : -1;
	}
	/* The pid is only for the message: the lock holds without it. */
	char buf[24];
	int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	(void)!ftruncate(fd, 0);
	(void)!pwrite(fd, buf, (size_t)n, 0);
	*fd_out = fd;
	return 0;
}

/* --- run ------------------------------------------------------------------------ */

struct server {
	struct vl_server_config cfg;
	uv_loop_t loop;
	uv_async_t wake;
	uv_signal_t sigterm, sigint;
	uv_timer_t drain_timer;
	struct vl_store *st;
	struct vl_store_exec *exec;
	struct vl_core *core;
	struct vl_transport *transport;
	struct vl_admin *admin;
	uint64_t drain_deadline;
	bool stopping;
	int lock_fd;
};

static void on_wake(uv_async_t *h)
{
	struct server *s = h->data;
	vl_core_run_completions(s->core);
	/* Replies and pushes of a batch go out now, not after the rest of
	 * this turn's reads: a turn under load reads hundreds of sockets. */
	if (s->transport)
		vl_transport_flush(s->transport);
}

/* Called from the executor thread. */
static void wake_loop(void *ctx)
{
	struct server *s = ctx;
	uv_async_send(&s->wake);
}

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void finish(struct server *s)
{
	if (s->stopping)
		return;
	s->stopping = true;
	vl_log(VL_LOG_INFO, "drain_done", "connections=%zu jobs=%zu", vl_core_conn_count(s->core),
	       vl_core_jobs_inflight(s->core));
	uv_timer_stop(&s->drain_timer);
	vl_transport_close(s->transport); /* closes what is left */
	vl_admin_close(s->admin);
	close_handle((uv_handle_t *)&s->drain_timer);
	/* Completions still to come are run after the loop (cmd_run). */
	close_handle((uv_handle_t *)&s->wake);
	close_handle((uv_handle_t *)&s->sigterm);
	close_handle((uv_handle_t *)&s->sigint);
}

static void on_drain_tick(uv_timer_t *t)
{
	struct server *s = t->data;
	vl_core_run_completions(s->core);
	bool idle = vl_core_conn_count(s->core) == 0 && vl_core_jobs_inflight(s->core) == 0;
	if (idle || uv_now(&s->loop) >= s->drain_deadline)
		finish(s);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct server *s = h->data;
	if (vl_core_draining(s->core))
		return;
	vl_log(VL_LOG_INFO, "signal", "signal=%s", signum == SIGTERM ? "TERM" : "INT");
	vl_transport_stop_accepting(s->transport);
	vl_core_drain(s->core);
	s->drain_deadline = uv_now(&s->loop) + (uint64_t)s->cfg.drain_seconds * 1000u;
	uv_timer_start(&s->drain_timer, on_drain_tick, 0, 20);
}

static void print_connect(const struct server *s, int port, bool dev, const char *exe)
{
	const char *ws = s->cfg.tls ? "wss" : "ws", *http = s->cfg.tls ? "https" : "http";
	char abs[VL_CONFIG_PATH_MAX];
	if (!realpath(s->cfg.data_dir, abs))
		snprintf(abs, sizeof abs, "%s", s->cfg.data_dir);
	printf("valised %s%s\n", "0.1.0", dev ? " (development mode)" : "");
	printf("  connect      %s://%s:%d/  (WebSocket subprotocol %s%s)\n", ws, s->cfg.listen_host,
	       port, VL_PROTO_SUBPROTOCOL, s->cfg.tls ? ", TLS 1.3" : ", plain, loopback only");
	printf("  health       %s://%s:%d/healthz\n", http, s->cfg.listen_host, port);
	printf("  metrics      %s://%s:%d/metrics\n", http, s->cfg.listen_host, port);
	printf("  data         %s\n", abs);
	if (s->cfg.tls)
		printf("  certificate  %s%s\n", s->cfg.tls_cert,
		       dev ? "  (self-signed for localhost, made on first run)" : "");
	printf("  domain       %s  (addresses are user@%s)\n", s->cfg.server_name,
	       s->cfg.server_name);
	printf("  first invite %s admin invite alice@%s --data %s\n", exe, s->cfg.server_name,
	       s->cfg.data_dir);
	printf("Stop with Ctrl-C or SIGTERM: valised drains and exits with nothing lost.\n");
	fflush(stdout);
}

static int cmd_run(int argc, char **argv)
{
	struct server *s = calloc(1, sizeof *s);
	if (!s)
		return 1;
	vl_server_config_defaults(&s->cfg);
	bool dev = false;
	int rc = parse_options(argc, argv, 2, &s->cfg, &dev, false);
	if (rc) {
		free(s);
		return rc;
	}
	vl_log_set_level(s->cfg.log_level);
	s->cfg.core.server_name = s->cfg.server_name;
	if (!s->cfg.tls && !vl_server_host_is_loopback(s->cfg.listen_host)) {
		rc = die("plain WebSocket only on a loopback address, not \"%s\"",
		         s->cfg.listen_host);
		free(s);
		return rc;
	}
	if (mkdir_p(s->cfg.data_dir, 0700)) {
		rc = die("cannot create data folder \"%s\": %s", s->cfg.data_dir, strerror(errno));
		free(s);
		return rc;
	}
	long holder = 0;
	s->lock_fd = -1;
	rc = data_lock(s->cfg.data_dir, &s->lock_fd, &holder);
	if (rc) {
		rc = rc > 0 ? die("another valised (pid %ld) is using the data folder \"%s\": stop "
		                  "it first, or give this one its own --data",
		                  holder, s->cfg.data_dir)
		            : die("cannot lock the data folder \"%s\": %s", s->cfg.data_dir,
		                  strerror(errno));
		free(s);
		return rc;
	}
	if (s->cfg.tls && !s->cfg.tls_cert[0]) {
		char tlsdir[VL_CONFIG_PATH_MAX + 8];
		snprintf(tlsdir, sizeof tlsdir, "%s/tls", s->cfg.data_dir);
		snprintf(s->cfg.tls_cert, sizeof s->cfg.tls_cert, "%s/tls/cert.pem",
		         s->cfg.data_dir);
		snprintf(s->cfg.tls_key, sizeof s->cfg.tls_key, "%s/tls/key.pem", s->cfg.data_dir);
		if (access(s->cfg.tls_cert, R_OK) || access(s->cfg.tls_key, R_OK)) {
			if (mkdir_p(tlsdir, 0700) ||
			    make_dev_cert(s->cfg.tls_cert, s->cfg.tls_key)) {
				rc = die("cannot make a development certificate in \"%s\"", tlsdir);
				free(s);
				return rc;
			}
			vl_log(VL_LOG_INFO, "dev_certificate", "path=%s", s->cfg.tls_cert);
		}
	}
	signal(SIGPIPE, SIG_IGN);
	/* A fan-out turn allocates a send buffer per member and frees them
	 * all once written: with glibc's default the heap's top was given
	 * back and grown again every message (page faults in malloc were a
	 * sixth of the server's time at 1,000 members, bench_loadgen). */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_TOP_PAD, 8 << 20);
	char dbpath[VL_CONFIG_PATH_MAX + 16];
	snprintf(dbpath, sizeof dbpath, "%s/valise.db", s->cfg.data_dir);
	/* Message ids start above the clock in nanoseconds (valised gives far
	 * fewer than one a nanosecond; the int64 ids last until 2262): a store
	 * restored from a backup never gives again an id its clients saw
	 * after the backup, which they would drop as already seen
	 * (docs/internals/store.md). */
	struct timespec start;
	clock_gettime(CLOCK_REALTIME, &start);
	struct vl_store_config sc = {.backend = "sqlite",
	                             .path = dbpath,
	                             .min_msg_id = (uint64_t)start.tv_sec * 1000000000u +
	                                           (uint64_t)start.tv_nsec};
	int exit_code = 1;
	if (vl_store_open(&sc, &s->st) != VL_OK) {
		fprintf(stderr, "valised: cannot open the store \"%s\"\n", dbpath);
		goto cleanup;
	}
	struct vl_store_exec_config xc;
	vl_store_exec_config_defaults(&xc);
	xc.batch_max = s->cfg.batch_max;
	xc.batch_us = s->cfg.batch_us;
	xc.batch_gap_us = s->cfg.batch_gap_us;
	xc.sent_ttl = s->cfg.sent_ttl;
	if (vl_store_exec_start(s->st, &xc, &s->exec) != VL_OK)
		goto cleanup;
	if (uv_loop_init(&s->loop))
		goto cleanup;
	uv_async_init(&s->loop, &s->wake, on_wake);
	s->wake.data = s;
	if (vl_core_new(&s->cfg.core, s->st, s->exec, wake_loop, s, NULL, &s->core) != VL_OK)
		goto cleanup_loop;
	rc = vl_transport_new(&s->loop, &s->cfg, s->core, &s->transport);
	if (rc == VL_ERR_IO || rc == VL_ERR_CRYPTO) {
		fprintf(stderr,
		        "valised: cannot use the TLS certificate \"%s\" and key \"%s\" (%s): "
		        "check that both are readable PEM files and belong together\n",
		        s->cfg.tls_cert, s->cfg.tls_key, vl_strerror(rc));
		goto cleanup_loop;
	}
	if (rc) {
		fprintf(stderr,
		        "valised: cannot listen on %s:%u (%s): is another server using it? "
		        "Choose another address with --listen HOST:PORT\n",
		        s->cfg.listen_host, s->cfg.port, vl_strerror(rc));
		goto cleanup_loop;
	}
	int port = vl_transport_port(s->transport);
	/* Tests start valised on port 0 and read the port from here. */
	char portfile[VL_CONFIG_PATH_MAX + 16];
	snprintf(portfile, sizeof portfile, "%s/valised.port", s->cfg.data_dir);
	FILE *pf = fopen(portfile, "w");
	if (pf) {
		fprintf(pf, "%d\n", port);
		fclose(pf);
	}
	/* The operator's socket (docs/operations.md); without it valised
	 * still serves, and `valised admin` works on the store alone. */
	char adminpath[VL_CONFIG_PATH_MAX + 16];
	snprintf(adminpath, sizeof adminpath, "%s/admin.sock", s->cfg.data_dir);
	if (vl_admin_listen(&s->loop, s->core, adminpath, &s->admin) != VL_OK)
		fprintf(stderr, "valised: no operator socket at %s (see the log)\n", adminpath);
	uv_signal_init(&s->loop, &s->sigterm);
	uv_signal_init(&s->loop, &s->sigint);
	s->sigterm.data = s->sigint.data = s;
	uv_signal_start(&s->sigterm, on_signal, SIGTERM);
	uv_signal_start(&s->sigint, on_signal, SIGINT);
	uv_timer_init(&s->loop, &s->drain_timer);
	s->drain_timer.data = s;
	vl_log(VL_LOG_INFO, "listening", "host=%s port=%d tls=%s io_uring=%s data=%s",
	       s->cfg.listen_host, port, s->cfg.tls ? "on" : "off",
	       vl_transport_io_uring(s->transport) ? "on" : "off", s->cfg.data_dir);
	print_connect(s, port, dev, argv[0]);

	uv_run(&s->loop, UV_RUN_DEFAULT);
	/* Stopped: make the last jobs durable and answer them. */
	vl_store_exec_free(s->exec);
	s->exec = NULL;
	vl_core_run_completions(s->core);
	exit_code = 0;
	vl_log(VL_LOG_INFO, "stopped", "%s", "");
cleanup_loop:
	vl_admin_close(s->admin);
	if (s->transport) {
		vl_transport_close(s->transport);
		uv_run(&s->loop, UV_RUN_DEFAULT);
		vl_transport_free(s->transport);
		s->transport = NULL;
	}
	vl_store_exec_free(s->exec);
	s->exec = NULL;
	if (s->core)
		vl_core_run_completions(s->core);
	close_handle((uv_handle_t *)&s->wake);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	uv_loop_close(&s->loop);
	vl_admin_free(s->admin);
	vl_core_free(s->core);
cleanup:
	vl_store_exec_free(s->exec);
	vl_store_free(s->st);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s);
	return exit_code;
}

/* --- admin --------------------------------------------------------------------- */

/* `admin invites PREFIX@DOMAIN COUNT`: COUNT invites for PREFIX1@DOMAIN
 * .. PREFIXCOUNT@DOMAIN in one transaction, printed as "address code"
 * lines (load tests and bulk enrolment). */
static int admin_invite_range(struct vl_store *st, const struct vl_server_config *cfg,
                              const char *pattern, unsigned long count)
{
	const char *at = strchr(pattern, '@');
	uint64_t now = (uint64_t)time(NULL);
	int rc = vl_store_batch_begin(st);
	for (unsigned long i = 1; rc == VL_OK && i <= count; i++) {
		char user[VL_PROTO_ADDRESS_MAX + 1], code[20];
		uint8_t key[32];
		snprintf(user, sizeof user, "%.*s%lu%s", (int)(at - pattern), pattern, i, at);
		if (!vl_proto_address_valid((const uint8_t *)user, strlen(user)))
			rc = VL_ERR_ARG;
		if (rc == VL_OK)
			rc = vl_core_invite_code(code);
		if (rc == VL_OK)
			rc = vl_core_invite_key((const uint8_t *)code, strlen(code), key);
		if (rc == VL_OK)
			rc = vl_store_invite_create(st, key, sizeof key, user,
			                            now + cfg->core.invite_ttl, now);
		if (rc == VL_OK)
			printf("%s %s\n", user, code);
		vl_wipe(code, sizeof code);
	}
	if (rc == VL_OK)
		rc = vl_store_batch_commit(st);
	if (rc != VL_OK)
		vl_store_batch_rollback(st);
	return rc;
}

static int admin_revoke_offline(const struct vl_server_config *cfg, char *who, char *hash);

/* Opens the store of an existing data folder for an admin command: 0, or
 * the exit code after saying why not. */
static int admin_store_open(const struct vl_server_config *cfg, struct vl_store **st)
{
	char dbpath[VL_CONFIG_PATH_MAX + 16];
	snprintf(dbpath, sizeof dbpath, "%s/valise.db", cfg->data_dir);
	if (access(dbpath, F_OK) != 0)
		return die("no store at \"%s\" (is --data right?)", dbpath);
	struct vl_store_config sc = {.backend = "sqlite", .path = dbpath};
	if (vl_store_open(&sc, st) != VL_OK)
		return die("cannot open the store \"%s\"", dbpath);
	return 0;
}

/* `admin revoke USER@DOMAIN#DEVICE`, or `USER@DOMAIN` for every device of
 * the user and its unused invites: through the running server's socket,
 * which also closes the devices' connections; on the store itself when no
 * server runs on this data folder. */
static int admin_revoke(int argc, char **argv)
{
	char who[VL_PROTO_ADDRESS_MAX + VL_PROTO_DEVICE_MAX + 2];
	if (snprintf(who, sizeof who, "%s", argv[3]) >= (int)sizeof who)
		return die("\"%s\" is too long for USER@DOMAIN#DEVICE", argv[3]);
	char *hash = strrchr(who, '#');
	size_t alen = hash ? (size_t)(hash - who) : strlen(who);
	if ((hash && (!hash[1] || strlen(hash + 1) > VL_PROTO_DEVICE_MAX)) ||
	    !vl_proto_address_valid((const uint8_t *)who, alen))
		return die("\"%s\" is neither USER@DOMAIN#DEVICE nor USER@DOMAIN (a lower-case "
		           "address, then the device name if one device)",
		           argv[3]);
	struct vl_server_config cfg;
	int rc = admin_options(argc, argv, 4, &cfg);
	if (rc)
		return rc;
	char path[VL_CONFIG_PATH_MAX + 16], line[VL_ADMIN_LINE_MAX + 8], reply[128];
	snprintf(path, sizeof path, "%s/admin.sock", cfg.data_dir);
	snprintf(line, sizeof line, "revoke %s\n", who);
	rc = vl_admin_request(path, line, reply, sizeof reply, 30000);
	if (rc == VL_OK) {
		if (strncmp(reply, "ok ", 3) != 0)
			return die("the server refused: %s",
			           strncmp(reply, "error ", 6) == 0 ? reply + 6 : reply);
		bool some = strncmp(reply + 3, "revoked", 7) == 0 &&
		            strncmp(reply + 3, "revoked 0 ", 10) != 0;
		printf("%s: %s%s\n", who, reply + 3, some ? " (disconnected, if connected)" : "");
		return 0;
	}
	if (rc != VL_ERR_NOT_FOUND)
		return die("cannot reach the server at %s: %s", path, vl_strerror(rc));
	/* No server answers: the store alone (nothing is connected), unless a
	 * valised holds the folder without its socket. */
	int lock_fd = -1;
	long holder = 0;
	rc = data_lock(cfg.data_dir, &lock_fd, &holder);
	if (rc > 0)
		return die("valised (pid %ld) runs on \"%s\" but does not answer on %s (see its "
		           "log): revoke through it, or stop it first",
		           holder, cfg.data_dir, path);
	if (rc < 0)
		return die("cannot lock the data folder \"%s\": %s", cfg.data_dir, strerror(errno));
	rc = admin_revoke_offline(&cfg, who, hash);
	close(lock_fd);
	return rc;
}

/* admin revoke, on the store itself, in one transaction; who is
 * "user@domain#device" with hash at its '#', or "user@domain" with hash
 * NULL. */
static int admin_revoke_offline(const struct vl_server_config *cfg, char *who, char *hash)
{
	struct vl_store *st;
	int rc = admin_store_open(cfg, &st);
	if (rc)
		return rc;
	if (hash)
		*hash = '\0';
	struct vl_core_revoked r = {0};
	rc = vl_store_batch_begin(st);
	if (rc == VL_OK)
		rc = vl_core_revoke_named(st, who, hash ? hash + 1 : NULL, &r);
	if (rc == VL_OK)
		rc = vl_store_batch_commit(st);
	else
		vl_store_batch_rollback(st);
	vl_store_free(st);
	free(r.ids);
	if (hash)
		*hash = '#';
	if (rc == VL_ERR_NOT_FOUND)
		return die("%s: no such %s", who, hash ? "device" : "user");
	if (rc)
		return die("could not revoke %s: %s", who, vl_strerror(rc));
	char text[96];
	vl_core_revoked_text(&r, !hash, text, sizeof text);
	printf("%s: %s\n", who, text);
	return 0;
}

/* Unix seconds as "YYYY-MM-DD HH:MM UTC" (or "?"). */
static void utc_minute(uint64_t secs, char out[32])
{
	time_t t = (time_t)secs;
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm))
		strcpy(out, "?");
}

static int print_device(void *ctx, const struct vl_store_device *d)
{
	(void)ctx;
	char when[32];
	utc_minute(d->created, when);
	printf("%s#%s\tsuite %u\tregistered %s\t%s\n", d->user, d->name, d->suite, when,
	       d->revoked ? "revoked" : "active");
	return 0;
}

static int print_user(void *ctx, const struct vl_store_user *u)
{
	(void)ctx;
	char when[32];
	utc_minute(u->created, when);
	printf("%s\t%u active\t%u revoked\tsince %s\t%llu blob bytes\n", u->address, u->active,
	       u->revoked, when, (unsigned long long)u->blob_bytes);
	return 0;
}

/* `admin users`: every user that ever had a device, with its devices and
 * blob bytes, read from the store (a running server is not disturbed). */
static int admin_users(int argc, char **argv)
{
	struct vl_server_config cfg;
	struct vl_store *st;
	int rc = admin_options(argc, argv, 3, &cfg);
	if (rc || (rc = admin_store_open(&cfg, &st)))
		return rc;
	rc = vl_store_user_list(st, print_user, NULL);
	vl_store_free(st);
	return rc ? die("could not read the users: %s", vl_strerror(rc)) : 0;
}

/* For `admin devices|usage USER@DOMAIN`: checks the address, reads the
 * options after it, opens the store and finds the user. Returns 0 with
 * *st open, or the exit code (nothing left open); `missing` ends the
 * message for a user the store does not know. */
static int admin_user_open(int argc, char **argv, const char *missing, struct vl_server_config *cfg,
                           struct vl_store **st, int64_t *uid)
{
	const char *user = argv[3];
	if (!vl_proto_address_valid((const uint8_t *)user, strlen(user)))
		return die("\"%s\" is not an address (lower-case user@domain)", user);
	int rc = admin_options(argc, argv, 4, cfg);
	if (rc || (rc = admin_store_open(cfg, st)))
		return rc;
	rc = vl_store_user_get(*st, user, uid);
	if (rc == VL_OK)
		return 0;
	vl_store_free(*st);
	if (rc == VL_ERR_NOT_FOUND)
		return die("%s %s", user, missing);
	return die("could not read %s: %s", user, vl_strerror(rc));
}

/* `admin devices USER@DOMAIN`: every device of the user, revoked ones
 * too, read from the store (a running server is not disturbed). */
static int admin_devices(int argc, char **argv)
{
	struct vl_server_config cfg;
	struct vl_store *st;
	int64_t uid;
	int rc = admin_user_open(argc, argv, "has no device on this server", &cfg, &st, &uid);
	if (rc)
		return rc;
	rc = vl_store_device_list(st, uid, print_device, NULL);
	vl_store_free(st);
	return rc ? die("could not read the devices of %s: %s", argv[3], vl_strerror(rc)) : 0;
}

/* `admin usage USER@DOMAIN`: the user's blob bytes against blob_quota,
 * read from the store. */
static int admin_usage(int argc, char **argv)
{
	struct vl_server_config cfg;
	struct vl_store *st;
	int64_t uid;
	int rc = admin_user_open(argc, argv, "has no account on this server", &cfg, &st, &uid);
	if (rc)
		return rc;
	uint64_t used = 0;
	rc = vl_store_blob_usage(st, uid, &used);
	vl_store_free(st);
	if (rc)
		return die("could not read the usage of %s: %s", argv[3], vl_strerror(rc));
	printf("%s\tblobs\t%llu\tof\t%llu\tbytes\t%.1f%%\n", argv[3], (unsigned long long)used,
	       (unsigned long long)cfg.blob_quota, 100.0 * (double)used / (double)cfg.blob_quota);
	return 0;
}

static double mib(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

static void backup_progress(const struct vl_backup_result *r)
{
	fprintf(stderr, "\rvalised: %llu blobs, %.1f MiB so far", (unsigned long long)r->blobs,
	        mib(r->blob_bytes));
}

/* `admin backup DIR`: the store (one snapshot) and the blobs into a new
 * folder DIR, while a server runs or not (docs/operations.md). */
static int admin_backup(int argc, char **argv)
{
	const char *dest = argv[3];
	if (dest[0] == '-')
		return die("backup: \"%s\" is not a folder (valised admin backup DIR [--data DIR])",
		           dest);
	struct vl_server_config cfg;
	struct vl_store *st;
	int rc = admin_options(argc, argv, 4, &cfg);
	if (rc || (rc = admin_store_open(&cfg, &st)))
		return rc;
	struct vl_backup_result r;
	char err[VL_CONFIG_PATH_MAX + 200];
	bool tty = isatty(STDERR_FILENO);
	char dbpath[VL_CONFIG_PATH_MAX + 16];
	struct stat sb;
	snprintf(dbpath, sizeof dbpath, "%s/valise.db", cfg.data_dir);
	if (tty && stat(dbpath, &sb) == 0) /* one step, with no progress of its own */
		fprintf(stderr, "valised: copying the store (%.1f MiB and its log)...\n",
		        mib((uint64_t)sb.st_size));
	rc = vl_backup(st, cfg.data_dir, dest, tty ? backup_progress : NULL, &r, err, sizeof err);
	unsigned version = vl_store_schema_version(st);
	vl_store_free(st);
	if (tty && r.blobs)
		fputc('\n', stderr);
	if (rc == VL_ERR_EXISTS)
		return die("\"%s\" exists: a backup goes into a new folder", dest);
	if (rc)
		return die("backup failed: %s%s", err,
		           access(dest, F_OK) == 0 ? " (what was copied is left there)" : "");
	printf("backup of %s in %s: store %.1f MiB (schema %u), %llu blobs %.1f MiB (%llu linked, "
	       "%llu copied)\n",
	       cfg.data_dir, dest, mib(r.store_bytes), version, (unsigned long long)r.blobs,
	       mib(r.blob_bytes), (unsigned long long)r.linked, (unsigned long long)r.copied);
	printf("to restore: stop valised, put %s in place of the data folder (or start valised "
	       "with --data %s)\n",
	       dest, dest);
	return 0;
}

static int cmd_admin(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[2], "backup") == 0)
		return admin_backup(argc, argv);
	if (argc >= 4 && strcmp(argv[2], "revoke") == 0)
		return admin_revoke(argc, argv);
	if (argc >= 4 && strcmp(argv[2], "devices") == 0)
		return admin_devices(argc, argv);
	if (argc >= 4 && strcmp(argv[2], "usage") == 0)
		return admin_usage(argc, argv);
	if (argc >= 3 && strcmp(argv[2], "users") == 0)
		return admin_users(argc, argv);
	bool range = argc >= 5 && strcmp(argv[2], "invites") == 0;
	if (argc < 4 || (!range && strcmp(argv[2], "invite") != 0)) {
		usage(stderr);
		return 2;
	}
	const char *user = argv[3];
	unsigned long count = 0;
	if (range) {
		char *end;
		count = strtoul(argv[4], &end, 10);
		if (*end || count == 0 || count > 1000000)
			return die("invites: \"%s\" is not a count (1..1000000)", argv[4]);
		if (!strchr(user, '@') || strchr(user, '@') == user)
			return die("invites: \"%s\" is not PREFIX@DOMAIN", user);
	} else if (!vl_proto_address_valid((const uint8_t *)user, strlen(user))) {
		return die("\"%s\" is not an address (lower-case user@domain)", user);
	}
	struct vl_server_config cfg;
	int rc = admin_options(argc, argv, range ? 5 : 4, &cfg);
	if (rc)
		return rc;
	if (mkdir_p(cfg.data_dir, 0700))
		return die("cannot create data folder \"%s\": %s", cfg.data_dir, strerror(errno));
	char dbpath[VL_CONFIG_PATH_MAX + 16];
	snprintf(dbpath, sizeof dbpath, "%s/valise.db", cfg.data_dir);
	struct vl_store_config sc = {.backend = "sqlite", .path = dbpath};
	struct vl_store *st;
	if (vl_store_open(&sc, &st) != VL_OK)
		return die("cannot open the store \"%s\"", dbpath);
	if (range) {
		rc = admin_invite_range(st, &cfg, user, count);
		vl_store_free(st);
		return rc ? die("could not record the invites: %s", vl_strerror(rc)) : 0;
	}
	char code[20];
	uint8_t key[32];
	uint64_t now = (uint64_t)time(NULL);
	rc = vl_core_invite_code(code);
	if (rc == VL_OK)
		rc = vl_core_invite_key((const uint8_t *)code, strlen(code), key);
	if (rc == VL_OK)
		rc = vl_store_invite_create(st, key, sizeof key, user, now + cfg.core.invite_ttl,
		                            now);
	vl_store_free(st);
	if (rc) {
		vl_wipe(code, sizeof code);
		return die("could not record the invite: %s", vl_strerror(rc));
	}
	/* The code goes to stdout only, for the administrator to pass on. */
	printf("%s\n", code);
	vl_wipe(code, sizeof code);
	fprintf(stderr, "valised: one-time invite for %s, valid %llu hours\n", user,
	        (unsigned long long)(cfg.core.invite_ttl / 3600));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc, argv);
	if (strcmp(argv[1], "admin") == 0)
		return cmd_admin(argc, argv);
	if (strcmp(argv[1], "version") == 0) {
		printf("valised 0.1.0 (protocol %d)\n", VL_PROTO_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
