/* SPDX-License-Identifier: Apache-2.0 */
/* End-to-end: registration with invites, challenge-signature
 * authentication, second devices, device list and revocation, and the
 * KeyPackage directory, against a real valised over real sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "e2e.h"

static const char *valised_path;

static int setup(void **state)
{
	struct srv *s = calloc(1, sizeof *s);
	assert_non_null(s);
	assert_int_equal(srv_start(s, valised_path, false), 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct srv *s = *state;
	srv_cleanup(s);
	free(s);
	return 0;
}

#define OK(t) ((t) | VL_FRAME_REPLY)

/* c's device can no longer authenticate: a fresh connection's AUTH is
 * refused with auth_failed. */
static void auth_refused(struct cli *c, struct srv *s)
{
	uint16_t code = 0;
	assert_int_equal(cli_open(c, s), 0);
	assert_int_equal(cli_auth(c, &code), VL_FRAME_ERROR);
	assert_int_equal(code, VL_PERR_AUTH_FAILED);
	cli_close(c);
}

/* A new device user#name cannot register with invite: invalid_invite. */
static void invite_refused(struct srv *s, const char *user, const char *name, const char *invite)
{
	struct cli c;
	uint16_t code = 0;
	assert_int_equal(vtc_device_init(&c.dev, user, name, 1), VL_OK);
	assert_int_equal(cli_open(&c, s), 0);
	assert_int_equal(cli_register(&c, invite, &code), VL_FRAME_ERROR);
	assert_int_equal(code, VL_PERR_INVALID_INVITE);
	cli_close(&c);
}

static void test_register_and_auth(void **state)
{
	struct srv *s = *state;
	struct cli a, b;
	uint16_t code = 0;
	assert_int_equal(cli_new_device(&a, s, "alice@example.org", "laptop", 1), 0);

	/* Bad invites. */
	assert_int_equal(vtc_device_init(&b.dev, "bob@example.org", "phone", 2), VL_OK);
	assert_int_equal(cli_open(&b, s), 0);
	assert_int_equal(cli_register(&b, "NOT-AN-INVITE", &code), VL_FRAME_ERROR);
	assert_int_equal(code, VL_PERR_INVALID_INVITE);
	char *alice_inv = srv_invite(s, "alice@example.org");
	assert_non_null(alice_inv);
	assert_int_equal(cli_register(&b, alice_inv, &code), VL_FRAME_ERROR);
	assert_int_equal(code, VL_PERR_INVALID_INVITE);
	free(alice_inv);
	char *inv = srv_invite(s, "bob@example.org");
	assert_non_null(inv);
	assert_int_equal(cli_register(&b, inv, &code), OK(VL_FRAME_REGISTER));
	cli_close(&b);
	/* A used invite cannot be used again. */
	invite_refused(s, "bob@example.org", "tablet", inv);
	free(inv);

	/* Authentication on a new connection; a stranger's key fails. */
	assert_int_equal(cli_open(&b, s), 0);
	assert_int_equal(cli_auth(&b, &code), OK(VL_FRAME_AUTH));
	struct cli m;
	assert_int_equal(vtc_device_init(&m.dev, "bob@example.org", "phone", 2), VL_OK);
	auth_refused(&m, s);
	cli_close(&a);
	cli_close(&b);
}

/* A DEVICE_INVITE from c: the invite for the user's next device into inv
 * (80 octets). */
static void device_invite(struct cli *c, char *inv)
{
	struct vl_writer w;
	vl_writer_init_heap(&w, 64);
	uint32_t id = c->next_id++;
	uint16_t code = 0;
	assert_int_equal(vl_frame_encode_empty(&w, VL_FRAME_DEVICE_INVITE, id), VL_OK);
	assert_int_equal(cli_send_writer(c, &w), 0);
	struct rframe r;
	assert_int_equal(cli_reply(c, id, &code, &r, 5000), OK(VL_FRAME_DEVICE_INVITE));
	struct vl_msg_device_invite_ok io;
	assert_int_equal(vl_msg_device_invite_ok_decode(&r.f.body, &io), VL_OK);
	assert_true(io.invite.len < 80);
	memcpy(inv, io.invite.p, io.invite.len);
	inv[io.invite.len] = '\0';
	rframe_free(&r);
}

static void test_devices_and_revocation(void **state)
{
	struct srv *s = *state;
	struct cli a, p;
	uint16_t code = 0;
	assert_int_equal(cli_new_device(&a, s, "alice@example.org", "laptop", 1), 0);
	/* The first device invites the second. */
	char inv[80];
	device_invite(&a, inv);
	struct vl_writer w;
	uint32_t id;
	struct rframe r;
	assert_int_equal(vtc_device_init(&p.dev, "alice@example.org", "phone", 3), VL_OK);
	assert_int_equal(cli_open(&p, s), 0);
	assert_int_equal(cli_register(&p, inv, &code), OK(VL_FRAME_REGISTER));

	vl_writer_init_heap(&w, 64);
	id = a.next_id++;
	assert_int_equal(vl_frame_encode_empty(&w, VL_FRAME_DEVICE_LIST, id), VL_OK);
	assert_int_equal(cli_send_writer(&a, &w), 0);
	assert_int_equal(cli_reply(&a, id, &code, &r, 5000), OK(VL_FRAME_DEVICE_LIST));
	struct vl_msg_device_list_ok dl;
	assert_int_equal(vl_msg_device_list_ok_decode(&r.f.body, &dl), VL_OK);
	assert_int_equal(dl.devices.count, 2);
	rframe_free(&r);

	/* Revoke the phone while it is connected. */
	struct vl_msg_device_revoke rv = {{(const uint8_t *)"phone", 5}};
	vl_writer_init_heap(&w, 64);
	id = a.next_id++;
	assert_int_equal(vl_msg_device_revoke_encode(&w, id, &rv), VL_OK);
	assert_int_equal(cli_send_writer(&a, &w), 0);
	assert_int_equal(cli_reply(&a, id, &code, &r, 5000), OK(VL_FRAME_DEVICE_REVOKE));
	rframe_free(&r);
	assert_int_equal(cli_closing_code(&p, 5000), VL_PERR_REVOKED);
	/* The server closes the socket. */
	uint8_t *msg;
	size_t n;
	int op;
	assert_int_equal(wsc_recv(&p.ws, &msg, &n, &op, 5000), 0);
	cli_close(&p);
	/* And the device cannot come back. */
	auth_refused(&p, s);
	cli_close(&a);
}

/* `valised admin ARGS --data DIR`: its exit status, its stdout and stderr
 * (one line each, at most) into out. */
static int admin(struct srv *s, const char *args, char *out, size_t cap)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "'%s' admin %s --data '%s' 2>&1", s->exe, args, s->dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* `valised admin ARGS` succeeds (ok) or fails, and says want; its output
 * stays in out for further checks. */
static void admin_says(struct srv *s, const char *args, bool ok, const char *want, char *out,
                       size_t cap)
{
	int st = admin(s, args, out, cap);
	if (ok ? st != 0 : st == 0)
		fail_msg("admin %s: exit %d: %s", args, st, out);
	if (!strstr(out, want))
		fail_msg("admin %s: no \"%s\" in: %s", args, want, out);
}

/* One raw request on the operator's socket: the answer line. */
static void admin_raw(const char *sock, const void *req, size_t len, char *out, size_t cap)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	size_t got = 0;
	ssize_t n;
	while (got < cap - 1 && (n = recv(fd, out + got, cap - 1 - got, 0)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fd);
}

/* The operator revokes a device (a lost phone, its user's only device):
 * through the running server, which disconnects it at once; on the store
 * itself when no server runs. */
static void test_admin_revoke(void **state)
{
	struct srv *s = *state;
	struct cli a, b;
	char out[512];
	assert_int_equal(cli_new_device(&a, s, "alice@example.org", "phone", 1), 0);
	assert_int_equal(cli_new_device(&b, s, "bob@example.org", "laptop", 1), 0);

	admin_says(s, "revoke 'alice@example.org#phone'", true, "alice@example.org#phone: revoked",
	           out, sizeof out);
	assert_int_equal(cli_closing_code(&a, 5000), VL_PERR_REVOKED);
	cli_close(&a);
	auth_refused(&a, s);

	/* The list shows it revoked. */
	admin_says(s, "devices alice@example.org", true,
	           "alice@example.org#phone\tsuite 1\tregistered ", out, sizeof out);
	assert_non_null(strstr(out, "\trevoked\n"));
	admin_says(s, "devices carol@example.org", false, "no device", out, sizeof out);

	/* Again: already revoked. Unknown devices and bad names are refused
	 * with a reason. */
	admin_says(s, "revoke 'alice@example.org#phone'", true, "already revoked", out, sizeof out);
	admin_says(s, "revoke 'alice@example.org#tablet'", false, "no such device", out,
	           sizeof out);
	admin_says(s, "revoke 'Alice@example.org'", false, "USER@DOMAIN#DEVICE", out, sizeof out);

	/* One server per data folder: a second one says which holds it. */
	char cmd[512];
	snprintf(cmd, sizeof cmd,
	         "'%s' run --plain --listen 127.0.0.1:0 --data '%s' --set log_level=error 2>&1",
	         s->exe, s->dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, sizeof out - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0);
	assert_non_null(strstr(out, "another valised (pid "));

	/* The socket is the owner's alone, and goes with the server. */
	char sock[200];
	snprintf(sock, sizeof sock, "%s/admin.sock", s->dir);
	struct stat sb;
	assert_int_equal(stat(sock, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* What else arrives there gets a reason, and changes nothing. */
	admin_raw(sock, "list\n", 5, out, sizeof out);
	assert_string_equal(out, "error unknown request (revoke USER@DOMAIN[#DEVICE])\n");
	admin_raw(sock, "revoke bob@example.org#\n", 24, out, sizeof out);
	assert_string_equal(out, "error expected USER@DOMAIN[#DEVICE]\n");
	admin_raw(sock, "revoke Bob@example.org\n", 23, out, sizeof out);
	assert_string_equal(out, "error expected USER@DOMAIN[#DEVICE]\n");
	admin_raw(sock, "revoke bob@example.org#lap\0top\n", 31, out, sizeof out);
	assert_string_equal(out, "error NUL in the request\n");
	char longline[600];
	memset(longline, 'a', sizeof longline);
	admin_raw(sock, longline, sizeof longline, out, sizeof out);
	assert_string_equal(out, "error request line too long\n");
	/* Without it, the command will not write behind the server's back. */
	char aside[220];
	snprintf(aside, sizeof aside, "%s.aside", sock);
	assert_int_equal(rename(sock, aside), 0);
	admin_says(s, "revoke 'bob@example.org#laptop'", false, "does not answer", out, sizeof out);
	assert_int_equal(rename(aside, sock), 0);

	/* No server running: the store alone. */
	cli_close(&b);
	assert_int_equal(srv_stop(s, 10000), 0);
	assert_int_not_equal(stat(sock, &sb), 0);
	admin_says(s, "revoke 'bob@example.org#laptop'", true, "bob@example.org#laptop: revoked",
	           out, sizeof out);
	assert_int_equal(srv_restart(s), 0);
	auth_refused(&b, s);
}

/* Someone leaves: the operator revokes every device of the user and the
 * user's unused invites at once, through the running server (which
 * disconnects the devices) or on the store when none runs. */
static void test_admin_revoke_user(void **state)
{
	struct srv *s = *state;
	struct cli a1, a2, b;
	uint16_t code = 0;
	char out[512];
	assert_int_equal(cli_new_device(&a1, s, "alice@example.org", "phone", 1), 0);
	assert_int_equal(cli_new_device(&a2, s, "alice@example.org", "laptop", 2), 0);
	assert_int_equal(cli_new_device(&b, s, "bob@example.org", "laptop", 1), 0);
	char *unused = srv_invite(s, "alice@example.org");
	assert_non_null(unused);

	assert_int_equal(admin(s, "revoke alice@example.org", out, sizeof out), 0);
	assert_non_null(
	    strstr(out, "alice@example.org: revoked 2 devices (0 before), cancelled 1 invite"));
	assert_int_equal(cli_closing_code(&a1, 5000), VL_PERR_REVOKED);
	assert_int_equal(cli_closing_code(&a2, 5000), VL_PERR_REVOKED);
	cli_close(&a1);
	cli_close(&a2);
	auth_refused(&a1, s);
	/* The invite handed out before is void. */
	invite_refused(s, "alice@example.org", "tablet", unused);
	free(unused);
	/* Bob is untouched. */
	uint8_t ping[] = {1, VL_FRAME_PING, 0, 0, 0, 9, 0};
	assert_int_equal(wsc_send(&b.ws, WSC_BINARY, ping, sizeof ping), 0);
	struct rframe rf;
	assert_int_equal(cli_reply(&b, 9, &code, &rf, 5000), OK(VL_FRAME_PING));
	rframe_free(&rf);
	assert_int_equal(admin(s, "devices alice@example.org", out, sizeof out), 0);
	assert_null(strstr(out, "\tactive"));

	/* Again: nothing left to do. Someone invited who never registered;
	 * someone unknown. */
	admin_says(s, "revoke alice@example.org", true,
	           "revoked 0 devices (2 before), cancelled 0 invites", out, sizeof out);
	char *dave = srv_invite(s, "dave@example.org");
	assert_non_null(dave);
	free(dave);
	admin_says(s, "revoke dave@example.org", true,
	           "revoked 0 devices (0 before), cancelled 1 invite", out, sizeof out);
	admin_says(s, "revoke carol@example.org", false, "no such user", out, sizeof out);
	/* The operator's list: Dave, invited only, is not in it. */
	admin_says(s, "users", true, "alice@example.org\t0 active\t2 revoked\tsince 20", out,
	           sizeof out);
	assert_non_null(strstr(out, "bob@example.org\t1 active\t0 revoked\tsince 20"));
	assert_non_null(strstr(out, " UTC\t0 blob bytes\n"));
	assert_null(strstr(out, "dave@"));
	/* The operator may invite Alice again later (she comes back). */
	assert_int_equal(cli_new_device(&a1, s, "alice@example.org", "desk", 1), 0);
	cli_close(&a1);

	/* No server running: the store alone, in one transaction. */
	cli_close(&b);
	assert_int_equal(srv_stop(s, 10000), 0);
	assert_int_equal(admin(s, "revoke bob@example.org", out, sizeof out), 0);
	assert_non_null(
	    strstr(out, "bob@example.org: revoked 1 device (0 before), cancelled 0 invites"));
	admin_says(s, "revoke carol@example.org", false, "carol@example.org: no such user", out,
	           sizeof out);
	assert_int_equal(srv_restart(s), 0);
	auth_refused(&b, s);
}

static uint32_t upload(struct cli *c, size_t n, const char *identity, uint16_t *code)
{
	struct vl_kp_upload_item items[4];
	uint8_t *bufs[4];
	for (size_t i = 0; i < n; i++) {
		size_t len;
		assert_int_equal(vtc_key_package(&c->dev, identity, &bufs[i], &len), VL_OK);
		items[i] = (struct vl_kp_upload_item){i == 0, {bufs[i], len}};
	}
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	uint32_t id = c->next_id++;
	assert_int_equal(vl_msg_kp_upload_encode(&w, id, items, n), VL_OK);
	assert_int_equal(cli_send_writer(c, &w), 0);
	for (size_t i = 0; i < n; i++)
		free(bufs[i]);
	struct rframe r;
	int t = cli_reply(c, id, code, &r, 5000);
	uint32_t stock = UINT32_MAX;
	if (t == OK(VL_FRAME_KP_UPLOAD)) {
		struct vl_msg_kp_count m;
		assert_int_equal(vl_msg_kp_count_decode(&r.f.body, &m), VL_OK);
		stock = m.key_packages;
	}
	rframe_free(&r);
	return stock;
}

/* A server whose invites last one second (invite_ttl). */
static int setup_short_invites(void **state)
{
	struct srv *s = calloc(1, sizeof *s);
	assert_non_null(s);
	s->extra[0] = "invite_ttl=1";
	assert_int_equal(srv_start(s, valised_path, false), 0);
	*state = s;
	return 0;
}

/* An invite past its invite_ttl registers nothing, and the server
 * deletes it. The operator's command reads invite_ttl from its config
 * file; a device's invite gets the server's. */
static void test_invite_expiry(void **state)
{
	struct srv *s = *state;
	char conf[200], args[300], out[512];
	snprintf(conf, sizeof conf, "%s/valised.conf", s->dir);
	FILE *f = fopen(conf, "w");
	assert_non_null(f);
	fputs("invite_ttl = 1\n", f);
	assert_int_equal(fclose(f), 0);
	snprintf(args, sizeof args, "invite bob@example.org --config '%s'", conf);
	assert_int_equal(admin(s, args, out, sizeof out), 0);
	out[strcspn(out, "\r\n")] = '\0';

	struct cli a;
	assert_int_equal(cli_new_device(&a, s, "alice@example.org", "laptop", 1), 0);
	char inv[80];
	device_invite(&a, inv);
	cli_close(&a);
	sleep(2);

	invite_refused(s, "bob@example.org", "phone", out);
	invite_refused(s, "alice@example.org", "phone", inv);
	/* Both invites go within a second or two of expiring. */
	assert_int_equal(srv_metric_wait(s, "valised_store_invites_pruned_total", 2, 5000), 2);
}

static void test_key_packages(void **state)
{
	struct srv *s = *state;
	struct cli a, b;
	uint16_t code = 0;
	assert_int_equal(cli_new_device(&a, s, "alice@example.org", "laptop", 1), 0);
	assert_int_equal(cli_new_device(&b, s, "bob@example.org", "phone", 2), 0);
	/* One last-resort and two ordinary packages. */
	assert_int_equal(upload(&b, 3, NULL, &code), 2);
	/* A package naming another device is refused, and nothing stored. */
	assert_int_equal(upload(&b, 2, "bob@example.org#other", &code), UINT32_MAX);
	assert_int_equal(code, VL_PERR_INVALID);

	for (int round = 0; round < 4; round++) {
		struct vl_msg_kp_claim cl = {{(const uint8_t *)"bob@example.org", 15}};
		struct vl_writer w;
		vl_writer_init_heap(&w, 256);
		uint32_t id = a.next_id++;
		assert_int_equal(vl_msg_kp_claim_encode(&w, id, &cl), VL_OK);
		assert_int_equal(cli_send_writer(&a, &w), 0);
		struct rframe r;
		assert_int_equal(cli_reply(&a, id, &code, &r, 5000), OK(VL_FRAME_KP_CLAIM));
		struct vl_msg_kp_claim_ok ok;
		assert_int_equal(vl_msg_kp_claim_ok_decode(&r.f.body, &ok), VL_OK);
		/* Rounds 3 and 4 get the last-resort package, never consumed. */
		assert_int_equal(ok.key_packages.count, 1);
		struct vl_claimed_kp ck;
		assert_true(vl_claimed_kp_next(&ok.key_packages, &ck));
		assert_memory_equal(ck.device.p, "phone", 5);
		rframe_free(&r);
		/* Bob is told his stock is low. */
		assert_int_equal(cli_wait(&b, VL_FRAME_KP_LOW, 0, 5000, &r), 1);
		rframe_free(&r);
	}
	cli_close(&a);
	cli_close(&b);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-VALISED\n", argv[0]);
		return 2;
	}
	valised_path = argv[1];
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_register_and_auth, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_devices_and_revocation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_admin_revoke, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_admin_revoke_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invite_expiry, setup_short_invites, teardown),
	    cmocka_unit_test_setup_teardown(test_key_packages, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
