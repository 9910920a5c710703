/* SPDX-License-Identifier: Apache-2.0 */
/* End-to-end delivery: racing commits (one wins), Welcomes, fan-out,
 * idempotent resend, offline queueing and catch-up, kill -9 and restart
 * with every acknowledged message still delivered, a SIGTERM drain, and a
 * backup taken while the server runs, and a full disk. */
#define _GNU_SOURCE /* unshare */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"

static const char *valised_path;
static const uint8_t GID[32] = {0xd0, 0x0d, 1, 2, 3};

#define OK(t) ((t) | VL_FRAME_REPLY)

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

static uint32_t send_group_create(struct cli *c)
{
	struct vl_msg_group_create g = {{GID, sizeof GID}};
	struct vl_writer w;
	vl_writer_init_heap(&w, 128);
	uint32_t id = c->next_id++;
	assert_int_equal(vl_msg_group_create_encode(&w, id, &g), VL_OK);
	assert_int_equal(cli_send_writer(c, &w), 0);
	return id;
}

/* Sends a COMMIT from the member at leaf `from` (not waiting for the
 * reply); returns its request id. */
static uint32_t send_commit(struct cli *c, uint32_t from, uint64_t epoch,
                            const struct vtc_device *add, uint8_t tag)
{
	uint8_t *cm, *wel;
	size_t cm_len, wel_len;
	const struct vtc_device *adds[1] = {add};
	assert_int_equal(vtc_commit_message_from(GID, sizeof GID, epoch, from, adds, add ? 1 : 0,
	                                         NULL, 0, &cm, &cm_len),
	                 VL_OK);
	assert_int_equal(vtc_welcome_message(1, &wel, &wel_len), VL_OK);
	struct vl_msg_commit m = {.group_id = {GID, sizeof GID},
	                          .epoch = epoch,
	                          .commit = {cm, cm_len},
	                          .has_welcome = add != NULL,
	                          .welcome = {wel, wel_len}};
	memset(m.client_msg_id, tag, sizeof m.client_msg_id);
	struct vl_device_ref ref;
	memset(&ref, 0, sizeof ref);
	if (add)
		ref = (struct vl_device_ref){{(const uint8_t *)add->user, strlen(add->user)},
		                             {(const uint8_t *)add->name, strlen(add->name)}};
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	uint32_t id = c->next_id++;
	assert_int_equal(vl_msg_commit_encode(&w, id, &m, add ? &ref : NULL, add ? 1 : 0, NULL, 0),
	                 VL_OK);
	assert_int_equal(cli_send_writer(c, &w), 0);
	free(cm);
	free(wel);
	return id;
}

/* A SEND of a PrivateMessage made in `epoch`, client id from tag. */
static uint32_t send_app(struct cli *c, uint64_t epoch, uint32_t tag)
{
	uint8_t *pm;
	size_t pm_len;
	assert_int_equal(vtc_private_message(GID, sizeof GID, epoch, 64, &pm, &pm_len), VL_OK);
	struct vl_msg_send m = {.group_id = {GID, sizeof GID}, .message = {pm, pm_len}};
	memcpy(m.client_msg_id, &tag, sizeof tag);
	memcpy(m.client_msg_id + 4, c->dev.name,
	       strlen(c->dev.name) < 12 ? strlen(c->dev.name) : 12);
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	uint32_t id = c->next_id++;
	assert_int_equal(vl_msg_send_encode(&w, id, &m), VL_OK);
	assert_int_equal(cli_send_writer(c, &w), 0);
	free(pm);
	return id;
}

static void expect_ok(struct cli *c, uint32_t id, uint8_t type)
{
	struct rframe r;
	uint16_t code = 0;
	int t = cli_reply(c, id, &code, &r, 5000);
	if (t == VL_FRAME_ERROR)
		fail_msg("%s: ERROR %s", vl_proto_type_name(type), vl_proto_error_name(code));
	assert_int_equal(t, OK(type));
	rframe_free(&r);
}

static uint64_t expect_deliver(struct cli *c, uint8_t kind)
{
	struct rframe r;
	assert_int_equal(cli_wait(c, VL_FRAME_DELIVER, 0, 5000, &r), 1);
	struct vl_msg_deliver d;
	assert_int_equal(vl_msg_deliver_decode(&r.f.body, &d), VL_OK);
	assert_int_equal(d.kind, kind);
	uint64_t seq = d.seq;
	rframe_free(&r);
	return seq;
}

static void ack(struct cli *c, uint64_t seq)
{
	struct vl_msg_ack a = {seq};
	struct vl_writer w;
	vl_writer_init_heap(&w, 64);
	uint32_t id = c->next_id++;
	assert_int_equal(vl_msg_ack_encode(&w, id, &a), VL_OK);
	assert_int_equal(cli_send_writer(c, &w), 0);
	expect_ok(c, id, VL_FRAME_ACK);
}

static void reconnect(struct cli *c, struct srv *s)
{
	uint16_t code;
	cli_close(c);
	assert_int_equal(cli_open(c, s), 0);
	assert_int_equal(cli_auth(c, &code), OK(VL_FRAME_AUTH));
}

/* Nothing more arrives within ms. */
static void expect_quiet(struct cli *c, int ms)
{
	struct rframe r;
	assert_int_equal(cli_wait(c, VL_FRAME_DELIVER, UINT32_MAX, ms, &r), -1);
}

static void test_commits_and_fanout(void **state)
{
	struct srv *s = *state;
	struct cli a, b, c;
	assert_int_equal(cli_new_device(&a, s, "alice@example.org", "laptop", 1), 0);
	assert_int_equal(cli_new_device(&b, s, "bob@example.org", "phone", 2), 0);
	assert_int_equal(cli_new_device(&c, s, "carol@example.org", "desk", 3), 0);
	expect_ok(&a, send_group_create(&a), VL_FRAME_GROUP_CREATE);
	expect_ok(&a, send_commit(&a, 0, 0, &b.dev, 1), VL_FRAME_COMMIT);
	expect_deliver(&b, VL_DELIVERY_WELCOME);

	/* Both commit for epoch 1 at once: exactly one wins. */
	uint32_t ia = send_commit(&a, 0, 1, &c.dev, 2);
	uint32_t ib = send_commit(&b, 1, 1, NULL, 3);
	struct rframe ra, rb;
	uint16_t ca = 0, cb = 0;
	int ta = cli_reply(&a, ia, &ca, &ra, 5000), tb = cli_reply(&b, ib, &cb, &rb, 5000);
	rframe_free(&ra);
	rframe_free(&rb);
	assert_true((ta == OK(VL_FRAME_COMMIT)) != (tb == OK(VL_FRAME_COMMIT)));
	uint64_t ep = 2; /* the group's epoch once Carol is in */
	if (ta == OK(VL_FRAME_COMMIT)) {
		assert_int_equal(cb, VL_PERR_STALE_EPOCH);
		expect_deliver(&b, VL_DELIVERY_COMMIT);
		expect_deliver(&c, VL_DELIVERY_WELCOME);
	} else {
		assert_int_equal(ca, VL_PERR_STALE_EPOCH);
		expect_deliver(&a, VL_DELIVERY_COMMIT);
		/* Alice retries on the new epoch. */
		expect_ok(&a, send_commit(&a, 0, 2, &c.dev, 4), VL_FRAME_COMMIT);
		ep = 3;
		expect_deliver(&b, VL_DELIVERY_COMMIT);
		expect_deliver(&c, VL_DELIVERY_WELCOME);
	}

	/* Fan-out to everyone but the sender; a resend is not delivered twice. */
	uint32_t id = send_app(&a, ep, 100);
	expect_ok(&a, id, VL_FRAME_SEND);
	uint64_t sb = expect_deliver(&b, VL_DELIVERY_APPLICATION);
	uint64_t sc = expect_deliver(&c, VL_DELIVERY_APPLICATION);
	id = send_app(&a, ep, 100);
	expect_ok(&a, id, VL_FRAME_SEND);
	expect_quiet(&b, 200);
	expect_quiet(&c, 50);
	expect_quiet(&a, 50);
	ack(&b, sb);
	ack(&c, sc);

	/* Carol goes offline; messages wait in her queue. */
	cli_close(&c);
	for (uint32_t i = 0; i < 5; i++)
		expect_ok(&a, send_app(&a, ep, 200 + i), VL_FRAME_SEND);
	for (uint32_t i = 0; i < 5; i++)
		ack(&b, expect_deliver(&b, VL_DELIVERY_APPLICATION));
	reconnect(&c, s);
	uint64_t last = 0;
	for (uint32_t i = 0; i < 5; i++) {
		uint64_t q = expect_deliver(&c, VL_DELIVERY_APPLICATION);
		assert_true(q > last);
		last = q;
	}
	expect_quiet(&c, 100);
	/* Unacknowledged: delivered again after reconnecting. */
	reconnect(&c, s);
	for (uint32_t i = 0; i < 5; i++)
		last = expect_deliver(&c, VL_DELIVERY_APPLICATION);
	/* An ACK with request id 0 gets no reply, and still deletes. */
	struct vl_msg_ack a0 = {last};
	struct vl_writer w0;
	vl_writer_init_heap(&w0, 64);
	assert_int_equal(vl_msg_ack_encode(&w0, 0, &a0), VL_OK);
	assert_int_equal(cli_send_writer(&c, &w0), 0);
	struct rframe r0;
	assert_int_equal(cli_wait(&c, OK(VL_FRAME_ACK), UINT32_MAX, 200, &r0), -1);
	assert_int_equal(cli_wait(&c, VL_FRAME_ERROR, UINT32_MAX, 1, &r0), -1);
	reconnect(&c, s);
	expect_quiet(&c, 100);

	/* Bob commits the next epoch while Alice still encrypts in the one
	 * before: her message is refused with stale_epoch and reaches nobody. */
	expect_ok(&b, send_commit(&b, 1, ep, NULL, 5), VL_FRAME_COMMIT);
	ack(&a, expect_deliver(&a, VL_DELIVERY_COMMIT));
	ack(&c, expect_deliver(&c, VL_DELIVERY_COMMIT));
	struct rframe r;
	uint16_t code = 0;
	assert_int_equal(cli_reply(&a, send_app(&a, ep, 300), &code, &r, 5000), VL_FRAME_ERROR);
	rframe_free(&r);
	assert_int_equal(code, VL_PERR_STALE_EPOCH);
	expect_quiet(&b, 200);
	expect_quiet(&c, 50);
	/* A resend of the message accepted in the epoch before still gets
	 * its answer and is not delivered again. */
	expect_ok(&a, send_app(&a, ep, 100), VL_FRAME_SEND);
	expect_quiet(&b, 200);
	expect_quiet(&c, 50);
	/* Made again in the current epoch (the refused id left no record),
	 * it reaches both. */
	expect_ok(&a, send_app(&a, ep + 1, 300), VL_FRAME_SEND);
	ack(&b, expect_deliver(&b, VL_DELIVERY_APPLICATION));
	ack(&c, expect_deliver(&c, VL_DELIVERY_APPLICATION));
	expect_quiet(&a, 50);
	cli_close(&a);
	cli_close(&b);
	cli_close(&c);
}

/* Alice, connected, in a group with Bob at epoch 1; Bob has his Welcome
 * and is offline. */
static void alice_and_offline_bob(struct srv *s, struct cli *a, struct cli *b)
{
	assert_int_equal(cli_new_device(a, s, "alice@example.org", "laptop", 1), 0);
	assert_int_equal(cli_new_device(b, s, "bob@example.org", "phone", 1), 0);
	expect_ok(a, send_group_create(a), VL_FRAME_GROUP_CREATE);
	expect_ok(a, send_commit(a, 0, 0, &b->dev, 1), VL_FRAME_COMMIT);
	ack(b, expect_deliver(b, VL_DELIVERY_WELCOME));
	cli_close(b);
}

static void test_kill9_and_drain(void **state)
{
	struct srv *s = *state;
	struct cli a, b;
	alice_and_offline_bob(s, &a, &b);

	/* 50 sends, each acknowledged by the server, then kill -9. */
	enum { N = 50 };
	uint32_t ids[N];
	for (uint32_t i = 0; i < N; i++)
		ids[i] = send_app(&a, 1, 1000 + i);
	for (uint32_t i = 0; i < N; i++)
		expect_ok(&a, ids[i], VL_FRAME_SEND);
	srv_kill9(s);
	cli_close(&a);
	assert_int_equal(srv_restart(s), 0);

	/* Every acknowledged message is still there, in order. */
	uint16_t code;
	assert_int_equal(cli_open(&b, s), 0);
	assert_int_equal(cli_auth(&b, &code), OK(VL_FRAME_AUTH));
	uint64_t last = 0;
	for (uint32_t i = 0; i < N; i++) {
		uint64_t q = expect_deliver(&b, VL_DELIVERY_APPLICATION);
		assert_true(q > last);
		last = q;
		if (i % 16 == 15)
			ack(&b, q); /* keep the push window open */
	}
	ack(&b, last);
	expect_quiet(&b, 100);
	/* A retried send after the crash is recognised. */
	assert_int_equal(cli_open(&a, s), 0);
	assert_int_equal(cli_auth(&a, &code), OK(VL_FRAME_AUTH));
	expect_ok(&a, send_app(&a, 1, 1000), VL_FRAME_SEND);
	expect_quiet(&b, 200);

	/* SIGTERM: connections are told, the server exits 0. */
	assert_int_equal(srv_stop(s, 10000), 0);
	assert_int_equal(cli_closing_code(&b, 2000), VL_PERR_SHUTTING_DOWN);
	cli_close(&a);
	cli_close(&b);
}

/* `valised admin backup DIR` while the server runs: a server started on
 * DIR has every message queued before it, none of those sent after it,
 * and the blob; and it gives new messages ids above every id its clients
 * saw before the restore (a client drops an id it has seen). */
static void test_backup(void **state)
{
	struct srv *s = *state;
	struct cli a, b;
	alice_and_offline_bob(s, &a, &b);
	enum { BEFORE = 20, AFTER = 5 };
	for (uint32_t i = 0; i < BEFORE; i++)
		expect_ok(&a, send_app(&a, 1, 2000 + i), VL_FRAME_SEND);
	uint8_t blob[3000];
	for (size_t i = 0; i < sizeof blob; i++)
		blob[i] = (uint8_t)(i * 7);
	char headers[1024], *id = NULL, *got = NULL;
	size_t id_len = 0, got_len = 0;
	assert_int_equal(blob_auth_headers(s, &a.dev, false, NULL, NULL, headers, sizeof headers),
	                 0);
	assert_int_equal(wsc_http_request("127.0.0.1", s->port, false, "PUT", "/blob", headers,
	                                  blob, sizeof blob, &id, &id_len),
	                 201);
	assert_true(id_len >= 64);

	/* A blob file with no record, as one stored after the backup's
	 * snapshot is to that snapshot: the backup leaves it out. */
	char stray[70], path[300];
	snprintf(stray, sizeof stray, "ab%062d", 0);
	snprintf(path, sizeof path, "%s/blobs/ab", s->dir);
	assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
	snprintf(path, sizeof path, "%s/blobs/ab/%s", s->dir, stray);
	FILE *sf = fopen(path, "w");
	assert_non_null(sf);
	fclose(sf);

	char dest[160], cmd[600], out[1024];
	snprintf(dest, sizeof dest, "%s.bak", s->dir);
	snprintf(cmd, sizeof cmd, "'%s' admin backup '%s' --data '%s' 2>&1", s->exe, dest, s->dir);
	for (int round = 0; round < 2; round++) {
		FILE *p = popen(cmd, "r");
		assert_non_null(p);
		size_t n = fread(out, 1, sizeof out - 1, p);
		out[n] = '\0';
		int st = pclose(p);
		if (round == 0) {
			assert_int_equal(st, 0);
			assert_non_null(strstr(out, ", 1 blobs 0.0 MiB (1 linked, 0 copied)"));
		} else { /* never over an earlier backup */
			assert_int_not_equal(st, 0);
			assert_non_null(strstr(out, "exists: a backup goes into a new folder"));
		}
	}
	/* The disk, as /metrics shows it. */
	assert_true(srv_metric(s, "valised_store_file_bytes{file=\"db\"}") > 0);
	assert_true(srv_metric(s, "valised_store_file_bytes{file=\"wal\"}") >= 0);
	assert_true(srv_metric(s, "valised_data_free_bytes") > 0);
	/* After the backup: more messages, which Bob reads and acknowledges. */
	for (uint32_t i = 0; i < AFTER; i++)
		expect_ok(&a, send_app(&a, 1, 3000 + i), VL_FRAME_SEND);
	reconnect(&b, s);
	uint64_t seen = 0;
	for (uint32_t i = 0; i < BEFORE + AFTER; i++)
		seen = expect_deliver(&b, VL_DELIVERY_APPLICATION);
	ack(&b, seen);
	/* And a commit: epoch 2, which the backup does not have. */
	expect_ok(&a, send_commit(&a, 0, 1, NULL, 7), VL_FRAME_COMMIT);
	cli_close(&a);
	cli_close(&b);
	assert_int_equal(srv_stop(s, 10000), 0);

	/* One file, no log beside it; the blob, not the stray file. */
	snprintf(path, sizeof path, "%s/valise.db-wal", dest);
	assert_int_not_equal(access(path, F_OK), 0);
	snprintf(path, sizeof path, "%s/blobs/%.2s/%.64s", dest, id, id);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof path, "%s/blobs/ab/%s", dest, stray);
	assert_int_not_equal(access(path, F_OK), 0);
	char orig[sizeof s->dir];
	memcpy(orig, s->dir, sizeof orig);
	assert_true(strlen(dest) < sizeof s->dir);
	memcpy(s->dir, dest, strlen(dest) + 1);
	assert_int_equal(srv_restart(s), 0);
	/* The restored server has what was queued at the backup, and Bob's
	 * acknowledgements as they were then: the 20 come again, all already
	 * seen, then nothing. */
	reconnect(&b, s);
	for (uint32_t i = 0; i < BEFORE; i++)
		assert_true(expect_deliver(&b, VL_DELIVERY_APPLICATION) < seen);
	expect_quiet(&b, 300);
	/* Alice is at epoch 2, the restored server at 1: her message is
	 * refused with epoch_ahead, which says why, and counted. */
	reconnect(&a, s);
	struct rframe r;
	uint16_t code = 0;
	assert_int_equal(cli_reply(&a, send_app(&a, 2, 3999), &code, &r, 5000), VL_FRAME_ERROR);
	assert_int_equal(code, VL_PERR_EPOCH_AHEAD);
	struct vl_msg_error e;
	assert_int_equal(vl_msg_error_decode(&r.f.body, &e), VL_OK);
	char detail[200];
	snprintf(detail, sizeof detail, "%.*s", (int)e.detail.len, (const char *)e.detail.p);
	assert_non_null(strstr(detail, "restored from a backup"));
	rframe_free(&r);
	assert_int_equal(srv_metric(s, "valised_errors_total{code=\"epoch_ahead\"}"), 1);
	/* A new message gets an id above all Bob saw. */
	expect_ok(&a, send_app(&a, 1, 4000), VL_FRAME_SEND);
	assert_true(expect_deliver(&b, VL_DELIVERY_APPLICATION) > seen);
	char url[100];
	snprintf(url, sizeof url, "/blob/%.64s", id);
	assert_int_equal(wsc_http_request("127.0.0.1", s->port, false, "GET", url, NULL, NULL, 0,
	                                  &got, &got_len),
	                 200);
	assert_int_equal(got_len, sizeof blob);
	assert_memory_equal(got, blob, sizeof blob);
	free(got);
	free(id);
	cli_close(&a);
	cli_close(&b);
	srv_cleanup(s); /* the backup */
	memcpy(s->dir, orig, sizeof orig);
}

/* The data folder's disk fills up (a 2 MiB tmpfs in a mount namespace of
 * this test's own; skipped where it may not make one): writes are refused
 * with `internal` and logged, but Bob still connects and gets what was
 * queued, and all goes on once there is room. */
static void test_disk_full(void **state)
{
	struct srv *s = *state;
	srv_cleanup(s); /* the setup's server, on the ordinary disk */
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    !mkdtemp(strcpy(s->dir, "/tmp/vl_e2e_full_XXXXXX")) ||
	    mount("tmpfs", s->dir, "tmpfs", 0, "size=2m") != 0) {
		print_message("disk-full test skipped: no private tmpfs here (%s)\n",
		              strerror(errno));
		skip();
	}
	assert_int_equal(srv_restart(s), 0);
	struct cli a, b;
	alice_and_offline_bob(s, &a, &b);
	expect_ok(&a, send_app(&a, 1, 5000), VL_FRAME_SEND);

	char filler[200];
	snprintf(filler, sizeof filler, "%s/filler", s->dir);
	FILE *fp = fopen(filler, "w");
	assert_non_null(fp);
	static char junk[65536];
	while (fwrite(junk, 1, sizeof junk, fp) == sizeof junk)
		;
	fclose(fp);

	/* A send needs room: refused, counted, the connection stays. */
	struct rframe r;
	uint16_t code = 0;
	assert_int_equal(cli_reply(&a, send_app(&a, 1, 5001), &code, &r, 5000), VL_FRAME_ERROR);
	assert_int_equal(code, VL_PERR_INTERNAL);
	rframe_free(&r);
	assert_true(srv_metric(s, "valised_store_faults_total") >= 1);
	assert_int_equal(srv_metric(s, "valised_data_free_bytes"), 0);
	/* Bob authenticates and gets the message queued before. */
	reconnect(&b, s);
	uint64_t seq = expect_deliver(&b, VL_DELIVERY_APPLICATION);

	unlink(filler);
	ack(&b, seq);
	expect_ok(&a, send_app(&a, 1, 5002), VL_FRAME_SEND);
	assert_true(expect_deliver(&b, VL_DELIVERY_APPLICATION) > seq);
	cli_close(&a);
	cli_close(&b);
	/* (Its store_fault log line went to the same full disk here.) */
	assert_int_equal(srv_stop(s, 10000), 0);
	srv_cleanup(s);
	assert_int_equal(umount(s->dir), 0);
	rmdir(s->dir);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-VALISED\n", argv[0]);
		return 2;
	}
	valised_path = argv[1];
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_commits_and_fanout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kill9_and_drain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
