/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the server core without sockets: a fake transport records
 * the frames each connection is sent, and the tests play devices with the
 * transport-free test client (tests/common/vtc.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <unistd.h>

#include "mls/struct/struct.h"
#include "server/core.h"
#include "server/log.h"
#include "vtc.h"

/* --- fake transport ---------------------------------------------------- */

struct sent {
	uint8_t *buf;
	size_t len;
};

struct fconn {
	struct vl_conn *c;
	struct sent q[4096];
	size_t head, n;
	bool close_requested;
	bool full; /* simulate a full send buffer */
	struct vtc_challenge ch;
	uint32_t next_id;
};

static bool f_send(void *t, const uint8_t *b, size_t len)
{
	struct fconn *fc = t;
	if (fc->full || fc->n == 4096)
		return false;
	struct sent *s = &fc->q[(fc->head + fc->n) % 4096];
	s->buf = malloc(len);
	assert_non_null(s->buf);
	memcpy(s->buf, b, len);
	s->len = len;
	fc->n++;
	return true;
}

static void f_close(void *t)
{
	struct fconn *fc = t;
	fc->close_requested = true;
}

static const struct vl_conn_ops fops = {f_send, f_close};

static uint64_t fake_ms;
static uint64_t clk_ms(void *ctx)
{
	(void)ctx;
	return fake_ms;
}
static uint64_t clk_s(void *ctx)
{
	(void)ctx;
	return 1700000000u + fake_ms / 1000;
}

struct fx {
	char dir[64];
	char path[128];
	struct vl_store *st;
	struct vl_core *core;
	struct vl_core_config cfg;
};

/* A core on f's store with f->cfg, no executor (jobs run inline). */
static void new_core(struct fx *f)
{
	struct vl_core_clock clock = {clk_ms, clk_s, NULL};
	assert_int_equal(vl_core_new(&f->cfg, f->st, NULL, NULL, NULL, &clock, &f->core), VL_OK);
}

static int setup(void **state)
{
	vl_log_set_level(VL_LOG_ERROR);
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	strcpy(f->dir, "/tmp/vl_server_XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/valise.db", f->dir);
	struct vl_store_config sc = {.backend = "sqlite", .path = f->path};
	assert_int_equal(vl_store_open(&sc, &f->st), VL_OK);
	vl_core_config_defaults(&f->cfg);
	f->cfg.server_name = "example.org";
	fake_ms = 1000;
	new_core(f);
	*state = f;
	return 0;
}

static void drain_frames(struct fconn *fc)
{
	while (fc->n) {
		free(fc->q[fc->head].buf);
		fc->head = (fc->head + 1) % 4096;
		fc->n--;
	}
}

static int teardown(void **state)
{
	struct fx *f = *state;
	assert_int_equal(vl_core_conn_count(f->core), 0);
	vl_core_free(f->core);
	vl_store_free(f->st);
	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Pops the next frame; its bytes stay valid until the next pop. */
static uint8_t *last_buf;
static struct vl_frame pop(struct fconn *fc)
{
	assert_true(fc->n > 0);
	free(last_buf);
	struct sent s = fc->q[fc->head];
	fc->head = (fc->head + 1) % 4096;
	fc->n--;
	last_buf = s.buf;
	struct vl_frame fr;
	assert_int_equal(vl_frame_decode(s.buf, s.len, VL_PROTO_FRAME_MAX, &fr), VL_OK);
	return fr;
}

static struct fconn *open_conn(struct fx *f)
{
	struct fconn *fc = calloc(1, sizeof *fc);
	assert_non_null(fc);
	fc->c = vl_core_conn_open(f->core, &fops, fc, "test");
	assert_non_null(fc->c);
	assert_true(fc->n == 1);
	assert_int_equal(vtc_challenge_parse(fc->q[fc->head].buf, fc->q[fc->head].len, &fc->ch),
	                 VL_OK);
	assert_string_equal(fc->ch.server_name, "example.org");
	(void)pop(fc);
	fc->next_id = 1;
	return fc;
}

static void close_conn(struct fconn *fc)
{
	vl_core_conn_closed(fc->c);
	drain_frames(fc);
	free(fc);
}

static void input_writer(struct fconn *fc, struct vl_writer *w)
{
	assert_int_equal(w->err, VL_OK);
	vl_core_conn_input(fc->c, w->buf, w->len);
	vl_writer_cleanup(w);
}

/* Expects the next frame to be ERROR code for request id. */
static void expect_error(struct fconn *fc, uint32_t id, unsigned code)
{
	struct vl_frame fr = pop(fc);
	assert_int_equal(fr.type, VL_FRAME_ERROR);
	assert_int_equal(fr.request_id, id);
	struct vl_msg_error e;
	assert_int_equal(vl_msg_error_decode(&fr.body, &e), VL_OK);
	assert_int_equal(e.code, code);
}

static void expect_reply(struct fconn *fc, uint8_t type, uint32_t id)
{
	struct vl_frame fr = pop(fc);
	if (fr.type == VL_FRAME_ERROR) {
		struct vl_msg_error e;
		assert_int_equal(vl_msg_error_decode(&fr.body, &e), VL_OK);
		fail_msg("ERROR %s instead of %s", vl_proto_error_name(e.code),
		         vl_proto_type_name(type | VL_FRAME_REPLY));
	}
	assert_int_equal(fr.type, type | VL_FRAME_REPLY);
	assert_int_equal(fr.request_id, id);
}

static void make_invite(struct fx *f, const char *code, const char *user)
{
	uint8_t key[32];
	assert_int_equal(vl_core_invite_key((const uint8_t *)code, strlen(code), key), VL_OK);
	/* Valid at the core's clock (1700000000) and not yet expired by the
	 * real one, which the store executor's pruning reads. */
	assert_int_equal(vl_store_invite_create(f->st, key, 32, user, UINT32_MAX, 1700000000u),
	                 VL_OK);
}

/* Registers d on a fresh connection and returns it authenticated. */
static struct fconn *registered(struct fx *f, struct vtc_device *d, const char *user,
                                const char *name, uint16_t suite)
{
	assert_int_equal(vtc_device_init(d, user, name, suite), VL_OK);
	char code[160];
	snprintf(code, sizeof code, "INV-%s-%s", user, name);
	make_invite(f, code, user);
	struct fconn *fc = open_conn(f);
	struct vl_writer w;
	vl_writer_init_heap(&w, 4096);
	uint32_t id = fc->next_id++;
	assert_int_equal(vtc_register_frame(&w, id, d, code, &fc->ch), VL_OK);
	input_writer(fc, &w);
	expect_reply(fc, VL_FRAME_REGISTER, id);
	return fc;
}

static struct fconn *authed(struct fx *f, const struct vtc_device *d)
{
	struct fconn *fc = open_conn(f);
	struct vl_writer w;
	vl_writer_init_heap(&w, 4096);
	uint32_t id = fc->next_id++;
	assert_int_equal(vtc_auth_frame(&w, id, d, &fc->ch), VL_OK);
	input_writer(fc, &w);
	expect_reply(fc, VL_FRAME_AUTH, id);
	/* A device without KeyPackages is told so right after. */
	if (fc->n && fc->q[fc->head].buf[1] == VL_FRAME_KP_LOW)
		(void)pop(fc);
	return fc;
}

/* --- tests ------------------------------------------------------------- */

static void test_register_auth(void **state)
{
	struct fx *f = *state;
	struct vtc_device a, b;
	struct fconn *fa = registered(f, &a, "alice@example.org", "laptop", 1);
	close_conn(fa);

	/* Unknown invite, a used invite. */
	assert_int_equal(vtc_device_init(&b, "bob@example.org", "phone", 2), VL_OK);
	struct fconn *fb = open_conn(f);
	struct vl_writer w;
	vl_writer_init_heap(&w, 4096);
	assert_int_equal(vtc_register_frame(&w, 5, &b, "NOPE", &fb->ch), VL_OK);
	input_writer(fb, &w);
	expect_error(fb, 5, VL_PERR_INVALID_INVITE);
	vl_writer_init_heap(&w, 4096);
	assert_int_equal(vtc_register_frame(&w, 6, &b, "INV-alice@example.org-laptop", &fb->ch),
	                 VL_OK);
	input_writer(fb, &w);
	expect_error(fb, 6, VL_PERR_INVALID_INVITE);
	/* Requests before authentication. */
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_frame_encode_empty(&w, VL_FRAME_DEVICE_LIST, 7), VL_OK);
	input_writer(fb, &w);
	expect_error(fb, 7, VL_PERR_NOT_AUTHENTICATED);
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_frame_encode_empty(&w, VL_FRAME_PING, 8), VL_OK);
	input_writer(fb, &w);
	expect_reply(fb, VL_FRAME_PING, 8);
	/* AUTH of a device with the wrong key, of an unknown device. */
	struct vtc_device mallory;
	assert_int_equal(vtc_device_init(&mallory, "alice@example.org", "laptop", 1), VL_OK);
	vl_writer_init_heap(&w, 4096);
	assert_int_equal(vtc_auth_frame(&w, 9, &mallory, &fb->ch), VL_OK);
	input_writer(fb, &w);
	expect_error(fb, 9, VL_PERR_AUTH_FAILED);
	vl_writer_init_heap(&w, 4096);
	assert_int_equal(vtc_auth_frame(&w, 10, &b, &fb->ch), VL_OK);
	input_writer(fb, &w);
	expect_error(fb, 10, VL_PERR_AUTH_FAILED);
	/* A signature over another connection's challenge does not work. */
	struct fconn *other = open_conn(f);
	vl_writer_init_heap(&w, 4096);
	assert_int_equal(vtc_auth_frame(&w, 11, &a, &other->ch), VL_OK);
	input_writer(fb, &w);
	expect_error(fb, 11, VL_PERR_AUTH_FAILED);
	close_conn(other);
	/* The right one. */
	vl_writer_init_heap(&w, 4096);
	assert_int_equal(vtc_auth_frame(&w, 12, &a, &fb->ch), VL_OK);
	input_writer(fb, &w);
	struct vl_frame fr = pop(fb);
	assert_int_equal(fr.type, VL_FRAME_AUTH | VL_FRAME_REPLY);
	struct vl_msg_auth_ok ok;
	assert_int_equal(vl_msg_auth_ok_decode(&fr.body, &ok), VL_OK);
	assert_int_equal(ok.key_packages, 0);
	/* No packages yet: KP_LOW follows. */
	fr = pop(fb);
	assert_int_equal(fr.type, VL_FRAME_KP_LOW);
	/* Authenticating twice on one connection is refused. */
	vl_writer_init_heap(&w, 4096);
	assert_int_equal(vtc_auth_frame(&w, 13, &a, &fb->ch), VL_OK);
	input_writer(fb, &w);
	expect_error(fb, 13, VL_PERR_FORBIDDEN);
	/* A second connection of the same device replaces the first. */
	struct fconn *fb2 = authed(f, &a);
	fr = pop(fb);
	assert_int_equal(fr.type, VL_FRAME_CLOSING);
	assert_true(fb->close_requested);
	close_conn(fb);
	close_conn(fb2);
	assert_true(vl_core_metrics(f->core)->auth_failed >= 3);
}

static void test_malformed(void **state)
{
	struct fx *f = *state;
	struct fconn *fc = open_conn(f);
	static const uint8_t junk[] = {1, 0x24, 0, 0, 0, 9, 1, 2};
	vl_core_conn_input(fc->c, junk, sizeof junk);
	expect_error(fc, 9, VL_PERR_MALFORMED);
	/* A body that does not decode. */
	static const uint8_t badbody[] = {1, VL_FRAME_AUTH, 0, 0, 0, 3, 1, 0x40};
	vl_core_conn_input(fc->c, badbody, sizeof badbody);
	expect_error(fc, 3, VL_PERR_MALFORMED);
	/* Unknown type: not counted against the connection. */
	static const uint8_t unknown[] = {1, 0x60, 0, 0, 0, 4, 0};
	vl_core_conn_input(fc->c, unknown, sizeof unknown);
	expect_error(fc, 4, VL_PERR_UNKNOWN_TYPE);
	/* Too large. */
	uint8_t *big = calloc(1, f->cfg.max_frame + 1);
	assert_non_null(big);
	big[0] = 1;
	big[1] = VL_FRAME_SEND;
	big[5] = 7;
	vl_core_conn_input(fc->c, big, f->cfg.max_frame + 1);
	expect_error(fc, 7, VL_PERR_TOO_LARGE);
	free(big);
	/* Enough garbage closes the connection. */
	for (unsigned i = 3; i < f->cfg.max_malformed; i++) {
		vl_core_conn_input(fc->c, junk, sizeof junk);
		expect_error(fc, 9, VL_PERR_MALFORMED);
	}
	struct vl_frame fr = pop(fc);
	assert_int_equal(fr.type, VL_FRAME_CLOSING);
	assert_true(fc->close_requested);
	/* Nothing more is processed. */
	vl_core_conn_input(fc->c, junk, sizeof junk);
	assert_int_equal(fc->n, 0);
	close_conn(fc);
	assert_true(vl_core_metrics(f->core)->malformed >= f->cfg.max_malformed);

	/* Another version: answered, then closed. */
	fc = open_conn(f);
	static const uint8_t v2[] = {2, 0x24, 0, 0, 0, 5, 0};
	vl_core_conn_input(fc->c, v2, sizeof v2);
	expect_error(fc, 5, VL_PERR_UNSUPPORTED_VERSION);
	fr = pop(fc);
	assert_int_equal(fr.type, VL_FRAME_CLOSING);
	assert_true(fc->close_requested);
	close_conn(fc);
}

static void upload(struct fconn *fc, const struct vtc_device *d, size_t n, bool last_resort,
                   const char *identity, unsigned expect_code, uint32_t expect_stock)
{
	struct vl_kp_upload_item items[8];
	uint8_t *bufs[8];
	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++) {
		size_t len;
		assert_int_equal(vtc_key_package(d, identity, &bufs[i], &len), VL_OK);
		items[i] = (struct vl_kp_upload_item){last_resort && i == 0, {bufs[i], len}};
	}
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	uint32_t id = fc->next_id++;
	assert_int_equal(vl_msg_kp_upload_encode(&w, id, items, n), VL_OK);
	input_writer(fc, &w);
	for (size_t i = 0; i < n; i++)
		free(bufs[i]);
	if (expect_code) {
		expect_error(fc, id, expect_code);
		return;
	}
	struct vl_frame fr = pop(fc);
	assert_int_equal(fr.type, VL_FRAME_KP_UPLOAD | VL_FRAME_REPLY);
	struct vl_msg_kp_count m;
	assert_int_equal(vl_msg_kp_count_decode(&fr.body, &m), VL_OK);
	assert_int_equal(m.key_packages, expect_stock);
}

static void test_key_packages(void **state)
{
	struct fx *f = *state;
	struct vtc_device a, b, b2;
	struct fconn *fa = registered(f, &a, "alice@example.org", "laptop", 1);
	struct fconn *fb = registered(f, &b, "bob@example.org", "phone", 2);
	upload(fb, &b, 3, true, NULL, 0, 2);
	/* Someone else's identity, or another key: the batch is refused. */
	upload(fb, &b, 2, false, "bob@example.org#tablet", VL_PERR_INVALID, 0);
	upload(fb, &a, 1, false, "bob@example.org#phone", VL_PERR_INVALID, 0);
	/* Bob's second device, through an invite from his first. */
	struct vl_writer w;
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_frame_encode_empty(&w, VL_FRAME_DEVICE_INVITE, 50), VL_OK);
	input_writer(fb, &w);
	struct vl_frame fr = pop(fb);
	assert_int_equal(fr.type, VL_FRAME_DEVICE_INVITE | VL_FRAME_REPLY);
	struct vl_msg_device_invite_ok inv;
	assert_int_equal(vl_msg_device_invite_ok_decode(&fr.body, &inv), VL_OK);
	char code[64] = {0};
	memcpy(code, inv.invite.p, inv.invite.len);
	assert_int_equal(vtc_device_init(&b2, "bob@example.org", "tablet", 1), VL_OK);
	struct fconn *fb2 = open_conn(f);
	vl_writer_init_heap(&w, 4096);
	assert_int_equal(vtc_register_frame(&w, 1, &b2, code, &fb2->ch), VL_OK);
	input_writer(fb2, &w);
	expect_reply(fb2, VL_FRAME_REGISTER, 1);
	fb2->next_id = 2;
	upload(fb2, &b2, 1, false, NULL, 0, 1);

	/* Alice claims Bob: one package per device. */
	struct vl_msg_kp_claim cl = {{(const uint8_t *)"bob@example.org", 15}};
	vl_writer_init_heap(&w, 256);
	assert_int_equal(vl_msg_kp_claim_encode(&w, 60, &cl), VL_OK);
	input_writer(fa, &w);
	fr = pop(fa);
	assert_int_equal(fr.type, VL_FRAME_KP_CLAIM | VL_FRAME_REPLY);
	struct vl_msg_kp_claim_ok ok;
	assert_int_equal(vl_msg_kp_claim_ok_decode(&fr.body, &ok), VL_OK);
	assert_int_equal(ok.key_packages.count, 2);
	/* Both of Bob's devices are now low and told so. */
	fr = pop(fb);
	assert_int_equal(fr.type, VL_FRAME_KP_LOW);
	fr = pop(fb2);
	assert_int_equal(fr.type, VL_FRAME_KP_LOW);
	struct vl_msg_kp_count low;
	assert_int_equal(vl_msg_kp_count_decode(&fr.body, &low), VL_OK);
	assert_int_equal(low.key_packages, 0);
	/* Unknown user. */
	struct vl_msg_kp_claim cl2 = {{(const uint8_t *)"nobody@example.org", 18}};
	vl_writer_init_heap(&w, 256);
	assert_int_equal(vl_msg_kp_claim_encode(&w, 61, &cl2), VL_OK);
	input_writer(fa, &w);
	expect_error(fa, 61, VL_PERR_NOT_FOUND);

	/* Device list, and revocation. */
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_frame_encode_empty(&w, VL_FRAME_DEVICE_LIST, 70), VL_OK);
	input_writer(fb, &w);
	fr = pop(fb);
	assert_int_equal(fr.type, VL_FRAME_DEVICE_LIST | VL_FRAME_REPLY);
	struct vl_msg_device_list_ok dl;
	assert_int_equal(vl_msg_device_list_ok_decode(&fr.body, &dl), VL_OK);
	assert_int_equal(dl.devices.count, 2);
	struct vl_msg_device_revoke rv = {{(const uint8_t *)"tablet", 6}};
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_msg_device_revoke_encode(&w, 71, &rv), VL_OK);
	input_writer(fb, &w);
	expect_reply(fb, VL_FRAME_DEVICE_REVOKE, 71);
	fr = pop(fb2);
	assert_int_equal(fr.type, VL_FRAME_CLOSING);
	struct vl_msg_closing cg;
	assert_int_equal(vl_msg_closing_decode(&fr.body, &cg), VL_OK);
	assert_int_equal(cg.code, VL_PERR_REVOKED);
	assert_true(fb2->close_requested);
	close_conn(fb2);
	/* The revoked device can no longer authenticate. */
	struct fconn *again = open_conn(f);
	vl_writer_init_heap(&w, 4096);
	assert_int_equal(vtc_auth_frame(&w, 1, &b2, &again->ch), VL_OK);
	input_writer(again, &w);
	expect_error(again, 1, VL_PERR_AUTH_FAILED);
	close_conn(again);
	close_conn(fa);
	close_conn(fb);
}

static const uint8_t GID[32] = {0x47, 1, 2, 3};

static void create_group(struct fconn *fc)
{
	struct vl_msg_group_create g = {{GID, sizeof GID}};
	struct vl_writer w;
	vl_writer_init_heap(&w, 64);
	uint32_t id = fc->next_id++;
	assert_int_equal(vl_msg_group_create_encode(&w, id, &g), VL_OK);
	input_writer(fc, &w);
	expect_reply(fc, VL_FRAME_GROUP_CREATE, id);
}

/* Sends a COMMIT from the member at leaf `from` for epoch adding `add`
 * (may be NULL); returns the reply type or error code through the
 * expectations. */
static void commit(struct fconn *fc, uint32_t from, uint64_t epoch, const struct vtc_device *add,
                   unsigned expect_code, uint8_t cmid_tag)
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
	memset(m.client_msg_id, cmid_tag, sizeof m.client_msg_id);
	struct vl_device_ref ref;
	if (add)
		ref = (struct vl_device_ref){{(const uint8_t *)add->user, strlen(add->user)},
		                             {(const uint8_t *)add->name, strlen(add->name)}};
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	uint32_t id = fc->next_id++;
	assert_int_equal(vl_msg_commit_encode(&w, id, &m, add ? &ref : NULL, add ? 1 : 0, NULL, 0),
	                 VL_OK);
	input_writer(fc, &w);
	free(cm);
	free(wel);
	if (expect_code) {
		expect_error(fc, id, expect_code);
		return;
	}
	struct vl_frame fr = pop(fc);
	assert_int_equal(fr.type, VL_FRAME_COMMIT | VL_FRAME_REPLY);
	struct vl_msg_commit_ok ok;
	assert_int_equal(vl_msg_commit_ok_decode(&fr.body, &ok), VL_OK);
	assert_true(ok.epoch == epoch + 1);
}

/* Sends a PrivateMessage made in `epoch` with client id tag^16. */
static void send_sized(struct fconn *fc, uint64_t epoch, uint8_t tag, size_t len,
                       unsigned expect_code)
{
	uint8_t *pm;
	size_t pm_len;
	assert_int_equal(vtc_private_message(GID, sizeof GID, epoch, len, &pm, &pm_len), VL_OK);
	struct vl_msg_send m = {.group_id = {GID, sizeof GID}, .message = {pm, pm_len}};
	memset(m.client_msg_id, tag, sizeof m.client_msg_id);
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	uint32_t id = fc->next_id++;
	assert_int_equal(vl_msg_send_encode(&w, id, &m), VL_OK);
	input_writer(fc, &w);
	free(pm);
	if (expect_code)
		expect_error(fc, id, expect_code);
	else
		expect_reply(fc, VL_FRAME_SEND, id);
}

static void send_msg(struct fconn *fc, uint64_t epoch, uint8_t tag, unsigned expect_code)
{
	send_sized(fc, epoch, tag, 40, expect_code);
}

static uint64_t expect_deliver(struct fconn *fc, uint8_t kind)
{
	struct vl_frame fr = pop(fc);
	assert_int_equal(fr.type, VL_FRAME_DELIVER);
	struct vl_msg_deliver d;
	assert_int_equal(vl_msg_deliver_decode(&fr.body, &d), VL_OK);
	assert_int_equal(d.kind, kind);
	return d.seq;
}

static void ack(struct fconn *fc, uint64_t seq)
{
	struct vl_msg_ack a = {seq};
	struct vl_writer w;
	vl_writer_init_heap(&w, 64);
	uint32_t id = fc->next_id++;
	assert_int_equal(vl_msg_ack_encode(&w, id, &a), VL_OK);
	input_writer(fc, &w);
	expect_reply(fc, VL_FRAME_ACK, id);
}

static void test_delivery(void **state)
{
	struct fx *f = *state;
	struct vtc_device a, b, c;
	struct fconn *fa = registered(f, &a, "alice@example.org", "laptop", 1);
	struct fconn *fb = registered(f, &b, "bob@example.org", "phone", 1);
	struct fconn *fc = registered(f, &c, "carol@example.org", "desk", 1);
	create_group(fa);
	/* Carol is not a member: may not send or commit. */
	send_msg(fc, 0, 0x11, VL_PERR_FORBIDDEN);
	commit(fc, 2, 0, NULL, VL_PERR_FORBIDDEN, 0x12);
	/* A commit whose Add proposals name someone other than `added`. */
	{
		uint8_t *cm;
		size_t cm_len;
		const struct vtc_device *adds[1] = {&c};
		assert_int_equal(vtc_commit_message(GID, sizeof GID, 0, adds, 1, &cm, &cm_len),
		                 VL_OK);
		struct vl_msg_commit m = {.group_id = {GID, sizeof GID}, .commit = {cm, cm_len}};
		memset(m.client_msg_id, 0x20, sizeof m.client_msg_id);
		struct vl_device_ref ref = {{(const uint8_t *)b.user, strlen(b.user)},
		                            {(const uint8_t *)b.name, strlen(b.name)}};
		struct vl_writer w;
		vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
		assert_int_equal(vl_msg_commit_encode(&w, 77, &m, &ref, 1, NULL, 0), VL_OK);
		input_writer(fa, &w);
		expect_error(fa, 77, VL_PERR_INVALID);
		/* Or an Add the roster change does not list. */
		vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
		assert_int_equal(vl_msg_commit_encode(&w, 78, &m, NULL, 0, NULL, 0), VL_OK);
		input_writer(fa, &w);
		expect_error(fa, 78, VL_PERR_INVALID);
		free(cm);
	}
	/* Alice adds Bob: Bob gets the Welcome live. */
	commit(fa, 0, 0, &b, 0, 0x21);
	uint64_t s1 = expect_deliver(fb, VL_DELIVERY_WELCOME);
	/* The epoch has moved on. */
	commit(fa, 0, 0, NULL, VL_PERR_STALE_EPOCH, 0x22);
	/* Two racing commits for epoch 1: the first wins. */
	commit(fb, 1, 1, &c, 0, 0x23);
	expect_deliver(fa, VL_DELIVERY_COMMIT);
	commit(fa, 0, 1, NULL, VL_PERR_STALE_EPOCH, 0x24);
	uint64_t cw = expect_deliver(fc, VL_DELIVERY_WELCOME);
	/* Fan-out to everyone but the sender. */
	send_msg(fa, 2, 0x31, 0);
	uint64_t s2 = expect_deliver(fb, VL_DELIVERY_APPLICATION);
	assert_true(s2 > s1);
	expect_deliver(fc, VL_DELIVERY_APPLICATION);
	assert_int_equal(fa->n, 0);
	/* The same send again: acknowledged, not delivered twice. */
	send_msg(fa, 2, 0x31, 0);
	assert_int_equal(fb->n, 0);
	assert_int_equal(fc->n, 0);

	/* Carol goes offline without acknowledging; messages wait. */
	ack(fc, cw);
	close_conn(fc);
	send_msg(fa, 2, 0x32, 0);
	expect_deliver(fb, VL_DELIVERY_APPLICATION);
	send_msg(fb, 2, 0x33, 0);
	expect_deliver(fa, VL_DELIVERY_APPLICATION);
	/* Back online: catch-up from the last acknowledgement, in order. */
	fc = authed(f, &c);
	uint64_t r1 = expect_deliver(fc, VL_DELIVERY_APPLICATION);
	uint64_t r2 = expect_deliver(fc, VL_DELIVERY_APPLICATION);
	uint64_t r3 = expect_deliver(fc, VL_DELIVERY_APPLICATION);
	assert_true(r1 < r2 && r2 < r3);
	assert_int_equal(fc->n, 0);
	/* Acknowledged up to r2: on the next connection only r3 comes. */
	ack(fc, r2);
	close_conn(fc);
	fc = authed(f, &c);
	assert_true(expect_deliver(fc, VL_DELIVERY_APPLICATION) == r3);
	ack(fc, r3);
	close_conn(fc);
	fc = authed(f, &c);
	assert_int_equal(fc->n, 0);

	/* The group is at epoch 2: a message made in an earlier epoch is
	 * refused with stale_epoch, one of a later epoch (a server that lost
	 * commits) with epoch_ahead, before anything is queued. */
	send_msg(fa, 1, 0x34, VL_PERR_STALE_EPOCH);
	send_msg(fa, 3, 0x34, VL_PERR_EPOCH_AHEAD);
	commit(fa, 0, 5, NULL, VL_PERR_EPOCH_AHEAD, 0x26);
	assert_int_equal(fb->n, 0);
	assert_int_equal(fc->n, 0);
	assert_true(vl_core_metrics(f->core)->sends_stale == 1);
	assert_true(vl_core_metrics(f->core)->commits_stale == 2);
	assert_true(vl_core_metrics(f->core)->errors_sent[VL_PERR_EPOCH_AHEAD] == 2);
	/* Bob's commit moves the group to epoch 3. */
	commit(fb, 1, 2, NULL, 0, 0x25);
	expect_deliver(fa, VL_DELIVERY_COMMIT);
	expect_deliver(fc, VL_DELIVERY_COMMIT);
	/* The resend of a message accepted in epoch 2 keeps its answer. */
	send_msg(fa, 2, 0x32, 0);
	assert_int_equal(fb->n, 0);
	assert_int_equal(fc->n, 0);
	/* A refused id left no record: the message made again in the
	 * current epoch under it goes through, once. */
	send_msg(fa, 3, 0x34, 0);
	expect_deliver(fb, VL_DELIVERY_APPLICATION);
	expect_deliver(fc, VL_DELIVERY_APPLICATION);
	assert_int_equal(fa->n, 0);
	send_msg(fa, 3, 0x34, 0);
	assert_int_equal(fb->n, 0);
	assert_int_equal(fc->n, 0);
	assert_true(vl_core_metrics(f->core)->sends_stale == 1);
	close_conn(fc);
	close_conn(fa);
	close_conn(fb);
}

/* --- commit checks (handle_commit.c) ----------------------------------- */

static const uint8_t placeholder[64] = {0x5a};

/* A PublicMessage of group GID at epoch from (sender type, index): a
 * commit of props[n] (no path) when prop is NULL, else the proposal
 * *prop. Signature and tags are placeholders (the server cannot check
 * them). */
static void public_msg(uint64_t epoch, uint8_t sender_type, uint32_t sender,
                       const struct vl_mls_proposal_or_ref *props, size_t n,
                       const struct vl_mls_proposal *prop, uint8_t **out, size_t *out_len)
{
	struct vl_mls_message m;
	memset(&m, 0, sizeof m);
	m.version = VL_MLS_VERSION_MLS10;
	m.wire_format = VL_MLS_WIRE_PUBLIC_MESSAGE;
	struct vl_mls_public_message *pm = &m.public_message;
	pm->content.group_id = (struct vl_mls_bytes){GID, sizeof GID};
	pm->content.epoch = epoch;
	pm->content.sender = (struct vl_mls_sender){sender_type, sender};
	if (prop) {
		pm->content.content_type = VL_MLS_CONTENT_PROPOSAL;
		pm->content.proposal = *prop;
	} else {
		pm->content.content_type = VL_MLS_CONTENT_COMMIT;
		pm->content.commit.proposals = props;
		pm->content.commit.proposal_count = n;
		pm->auth.confirmation_tag = (struct vl_mls_bytes){placeholder, 32};
	}
	pm->auth.signature = (struct vl_mls_bytes){placeholder, 64};
	if (sender_type == VL_MLS_SENDER_MEMBER)
		pm->membership_tag = (struct vl_mls_bytes){placeholder, 32};
	assert_int_equal(vl_mls_message_encode_alloc(&m, out, out_len), VL_OK);
}

/* The ProposalRef of a PublicMessage proposal, computed from its decoded
 * form (the server takes it from the bytes as received). */
static void proposal_ref(const uint8_t *msg, size_t len, uint8_t ref[VL_HASH_MAX])
{
	struct vl_mls_arena a;
	vl_mls_arena_init(&a, 0);
	struct vl_mls_message m;
	assert_int_equal(vl_mls_message_parse(msg, len, &a, &m), VL_OK);
	struct vl_mls_authenticated_content ac = {.wire_format = m.wire_format,
	                                          .content = m.public_message.content,
	                                          .auth = m.public_message.auth};
	uint8_t *enc;
	size_t enc_len;
	assert_int_equal(vl_mls_authenticated_content_encode_alloc(&ac, &enc, &enc_len), VL_OK);
	assert_int_equal(vl_mls_proposal_ref(vl_suite_get(1), enc, enc_len, ref), VL_OK);
	free(enc);
	vl_mls_arena_cleanup(&a);
}

/* True if the error's detail contains why. */
static bool says(const struct vl_msg_error *e, const char *why)
{
	size_t n = strlen(why);
	for (size_t i = 0; i + n <= e->detail.len; i++)
		if (memcmp(e->detail.p + i, why, n) == 0)
			return true;
	return false;
}

/* Sends a SEND of msg; expects error code (0: accepted) with a detail
 * containing why. */
static void send_raw(struct fconn *fc, const uint8_t *msg, size_t len, uint8_t tag, unsigned code,
                     const char *why)
{
	struct vl_msg_send m = {.group_id = {GID, sizeof GID}, .message = {msg, len}};
	memset(m.client_msg_id, tag, sizeof m.client_msg_id);
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	uint32_t id = fc->next_id++;
	assert_int_equal(vl_msg_send_encode(&w, id, &m), VL_OK);
	input_writer(fc, &w);
	struct vl_frame fr = pop(fc);
	assert_int_equal(fr.request_id, id);
	if (!code) {
		assert_int_equal(fr.type, VL_FRAME_SEND | VL_FRAME_REPLY);
		return;
	}
	assert_int_equal(fr.type, VL_FRAME_ERROR);
	struct vl_msg_error e;
	assert_int_equal(vl_msg_error_decode(&fr.body, &e), VL_OK);
	assert_int_equal(e.code, code);
	assert_true(says(&e, why));
}

/* Sends a COMMIT of cm with the lists; expects error code with a detail
 * containing why (code 0: accepted). */
static void commit_raw(struct fconn *fc, uint64_t epoch, uint8_t *cm, size_t cm_len,
                       const struct vtc_device *added, const struct vtc_device *removed,
                       uint8_t tag, unsigned code, const char *why)
{
	struct vl_msg_commit m = {
	    .group_id = {GID, sizeof GID}, .epoch = epoch, .commit = {cm, cm_len}};
	memset(m.client_msg_id, tag, sizeof m.client_msg_id);
	struct vl_device_ref ra, rr;
	if (added)
		ra = (struct vl_device_ref){{(const uint8_t *)added->user, strlen(added->user)},
		                            {(const uint8_t *)added->name, strlen(added->name)}};
	if (removed)
		rr =
		    (struct vl_device_ref){{(const uint8_t *)removed->user, strlen(removed->user)},
		                           {(const uint8_t *)removed->name, strlen(removed->name)}};
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	uint32_t id = fc->next_id++;
	assert_int_equal(vl_msg_commit_encode(&w, id, &m, added ? &ra : NULL, added ? 1 : 0,
	                                      removed ? &rr : NULL, removed ? 1 : 0),
	                 VL_OK);
	input_writer(fc, &w);
	free(cm);
	struct vl_frame fr = pop(fc);
	assert_int_equal(fr.request_id, id);
	if (!code) {
		assert_int_equal(fr.type, VL_FRAME_COMMIT | VL_FRAME_REPLY);
		return;
	}
	assert_int_equal(fr.type, VL_FRAME_ERROR);
	struct vl_msg_error e;
	assert_int_equal(vl_msg_error_decode(&fr.body, &e), VL_OK);
	assert_int_equal(e.code, code);
	if (!says(&e, why))
		fail_msg("detail \"%.*s\" does not say \"%s\"", (int)e.detail.len,
		         (const char *)e.detail.p, why);
}

static void test_commit_checks(void **state)
{
	struct fx *f = *state;
	struct vtc_device a, b, c;
	struct fconn *fa = registered(f, &a, "alice@example.org", "laptop", 1);
	struct fconn *fb = registered(f, &b, "bob@example.org", "phone", 1);
	struct fconn *fc = registered(f, &c, "carol@example.org", "desk", 1);
	create_group(fa);
	commit(fa, 0, 0, &b, 0, 0x60); /* Alice leaf 0, Bob leaf 1 */
	expect_deliver(fb, VL_DELIVERY_WELCOME);
	uint8_t *m;
	size_t len;
	struct vl_mls_proposal_or_ref por[2];
	memset(por, 0, sizeof por);

	/* Bob commits on his connection from Alice's leaf. */
	public_msg(1, VL_MLS_SENDER_MEMBER, 0, NULL, 0, NULL, &m, &len);
	commit_raw(fb, 1, m, len, NULL, NULL, 0x61, VL_PERR_INVALID, "sender leaf");
	/* External commits are not taken. */
	public_msg(1, VL_MLS_SENDER_NEW_MEMBER_COMMIT, 0, NULL, 0, NULL, &m, &len);
	commit_raw(fc, 1, m, len, NULL, NULL, 0x62, VL_PERR_INVALID, "external commits");
	/* Removes: of the committer, of a blank leaf, twice the same leaf. */
	por[0].type = por[1].type = VL_MLS_POR_PROPOSAL;
	por[0].proposal.type = por[1].proposal.type = VL_MLS_PROPOSAL_REMOVE;
	por[0].proposal.remove = 0;
	public_msg(1, VL_MLS_SENDER_MEMBER, 0, por, 1, NULL, &m, &len);
	commit_raw(fa, 1, m, len, NULL, &a, 0x63, VL_PERR_INVALID, "names the committer");
	por[0].proposal.remove = 5;
	public_msg(1, VL_MLS_SENDER_MEMBER, 0, por, 1, NULL, &m, &len);
	commit_raw(fa, 1, m, len, NULL, &b, 0x64, VL_PERR_INVALID, "holds no member");
	por[0].proposal.remove = por[1].proposal.remove = 1;
	public_msg(1, VL_MLS_SENDER_MEMBER, 0, por, 2, NULL, &m, &len);
	commit_raw(fa, 1, m, len, NULL, &b, 0x65, VL_PERR_INVALID, "same leaf");
	/* An Update by value is the committer's own (RFC 9420 §12.2). */
	struct vl_mls_arena ar;
	vl_mls_arena_init(&ar, 0);
	uint8_t *kpb;
	size_t kpb_len;
	struct vl_mls_message kpm;
	assert_int_equal(vtc_key_package(&b, NULL, &kpb, &kpb_len), VL_OK);
	assert_int_equal(vl_mls_message_parse(kpb, kpb_len, &ar, &kpm), VL_OK);
	por[0].proposal.type = VL_MLS_PROPOSAL_UPDATE;
	por[0].proposal.update = kpm.key_package.leaf_node;
	public_msg(1, VL_MLS_SENDER_MEMBER, 0, por, 1, NULL, &m, &len);
	commit_raw(fa, 1, m, len, NULL, NULL, 0x66, VL_PERR_INVALID, "Update of its committer");
	/* ExternalInit, and a type the server does not know. */
	por[0].proposal.type = VL_MLS_PROPOSAL_EXTERNAL_INIT;
	por[0].proposal.external_init = (struct vl_mls_bytes){placeholder, 32};
	public_msg(1, VL_MLS_SENDER_MEMBER, 0, por, 1, NULL, &m, &len);
	commit_raw(fa, 1, m, len, NULL, NULL, 0x67, VL_PERR_INVALID, "ExternalInit");
	por[0].proposal.type = 0x0a0a;
	por[0].proposal.unknown = (struct vl_mls_bytes){placeholder, 8};
	public_msg(1, VL_MLS_SENDER_MEMBER, 0, por, 1, NULL, &m, &len);
	commit_raw(fa, 1, m, len, NULL, NULL, 0x68, VL_PERR_INVALID, "cannot check");
	/* A reference to nothing the server relayed. */
	por[0].type = VL_MLS_POR_REFERENCE;
	por[0].reference = (struct vl_mls_bytes){placeholder, 32};
	public_msg(1, VL_MLS_SENDER_MEMBER, 0, por, 1, NULL, &m, &len);
	commit_raw(fa, 1, m, len, NULL, NULL, 0x69, VL_PERR_INVALID, "not sent through");

	/* SEND takes proposals only as PublicMessages from members. */
	struct vl_mls_proposal rm = {.type = VL_MLS_PROPOSAL_REMOVE, .remove = 1};
	public_msg(1, VL_MLS_SENDER_EXTERNAL, 0, NULL, 0, &rm, &m, &len);
	send_raw(fa, m, len, 0x70, VL_PERR_INVALID, "PublicMessage from a member");
	free(m);
	{
		struct vl_mls_message pv;
		memset(&pv, 0, sizeof pv);
		pv.version = VL_MLS_VERSION_MLS10;
		pv.wire_format = VL_MLS_WIRE_PRIVATE_MESSAGE;
		pv.private_message.group_id = (struct vl_mls_bytes){GID, sizeof GID};
		pv.private_message.epoch = 1;
		pv.private_message.content_type = VL_MLS_CONTENT_PROPOSAL;
		pv.private_message.encrypted_sender_data = (struct vl_mls_bytes){placeholder, 28};
		pv.private_message.ciphertext = (struct vl_mls_bytes){placeholder, 48};
		assert_int_equal(vl_mls_message_encode_alloc(&pv, &m, &len), VL_OK);
		send_raw(fa, m, len, 0x71, VL_PERR_INVALID, "does not match");
		free(m);
	}
	assert_int_equal(fb->n, 0);

	/* Bob's Update by reference that names Carol: refused at commit. */
	struct vl_mls_proposal up = {.type = VL_MLS_PROPOSAL_UPDATE};
	uint8_t *kpc;
	size_t kpc_len;
	struct vl_mls_message kpcm;
	assert_int_equal(vtc_key_package(&c, NULL, &kpc, &kpc_len), VL_OK);
	assert_int_equal(vl_mls_message_parse(kpc, kpc_len, &ar, &kpcm), VL_OK);
	up.update = kpcm.key_package.leaf_node;
	public_msg(1, VL_MLS_SENDER_MEMBER, 1, NULL, 0, &up, &m, &len);
	uint8_t ref_up[VL_HASH_MAX];
	proposal_ref(m, len, ref_up);
	send_raw(fb, m, len, 0x72, 0, NULL);
	free(m);
	expect_deliver(fa, VL_DELIVERY_APPLICATION);
	por[0].type = VL_MLS_POR_REFERENCE;
	por[0].reference = (struct vl_mls_bytes){ref_up, 32};
	public_msg(1, VL_MLS_SENDER_MEMBER, 0, por, 1, NULL, &m, &len);
	commit_raw(fa, 1, m, len, NULL, NULL, 0x73, VL_PERR_INVALID, "identity or key");
	/* A proposal Bob sends under Alice's leaf is relayed (the server
	 * cannot check its signature), but cannot be committed. */
	public_msg(1, VL_MLS_SENDER_MEMBER, 0, NULL, 0, &rm, &m, &len);
	uint8_t ref_forged[VL_HASH_MAX];
	proposal_ref(m, len, ref_forged);
	send_raw(fb, m, len, 0x7d, 0, NULL);
	free(m);
	expect_deliver(fa, VL_DELIVERY_APPLICATION);
	por[0].type = VL_MLS_POR_REFERENCE;
	por[0].reference = (struct vl_mls_bytes){ref_forged, 32};
	public_msg(1, VL_MLS_SENDER_MEMBER, 0, por, 1, NULL, &m, &len);
	commit_raw(fa, 1, m, len, NULL, &b, 0x7e, VL_PERR_INVALID, "not the device that sent it");
	/* Bob's own Update by reference (his identity and key): accepted,
	 * with no roster change. The reference is computed here from the
	 * decoded form, by the server from the bytes as received. */
	up.update = kpm.key_package.leaf_node;
	public_msg(1, VL_MLS_SENDER_MEMBER, 1, NULL, 0, &up, &m, &len);
	uint8_t ref_ok[VL_HASH_MAX];
	proposal_ref(m, len, ref_ok);
	send_raw(fb, m, len, 0x74, 0, NULL);
	free(m);
	expect_deliver(fa, VL_DELIVERY_APPLICATION);
	por[0].reference = (struct vl_mls_bytes){ref_ok, 32};
	public_msg(1, VL_MLS_SENDER_MEMBER, 0, por, 1, NULL, &m, &len);
	commit_raw(fa, 1, m, len, NULL, NULL, 0x75, 0, NULL);
	expect_deliver(fb, VL_DELIVERY_COMMIT);
	/* Bob proposes leaving; Alice commits it by reference. */
	public_msg(2, VL_MLS_SENDER_MEMBER, 1, NULL, 0, &rm, &m, &len);
	uint8_t ref_rm[VL_HASH_MAX];
	proposal_ref(m, len, ref_rm);
	send_raw(fb, m, len, 0x76, 0, NULL);
	free(m);
	expect_deliver(fa, VL_DELIVERY_APPLICATION);
	por[0].reference = (struct vl_mls_bytes){ref_rm, 32};
	public_msg(2, VL_MLS_SENDER_MEMBER, 0, por, 1, NULL, &m, &len);
	commit_raw(fa, 2, m, len, NULL, NULL, 0x77, VL_PERR_INVALID, "removed devices");
	public_msg(2, VL_MLS_SENDER_MEMBER, 0, por, 1, NULL, &m, &len);
	commit_raw(fa, 2, m, len, NULL, &c, 0x78, VL_PERR_INVALID, "removed devices");
	public_msg(2, VL_MLS_SENDER_MEMBER, 0, por, 1, NULL, &m, &len);
	commit_raw(fa, 2, m, len, NULL, &b, 0x79, 0, NULL);
	expect_deliver(fb, VL_DELIVERY_COMMIT);
	/* Proposals live for one epoch. */
	public_msg(3, VL_MLS_SENDER_MEMBER, 0, por, 1, NULL, &m, &len);
	commit_raw(fa, 3, m, len, NULL, &b, 0x7a, VL_PERR_INVALID, "not sent through");
	/* Alice is alone at leaf 0; Carol, added now, takes leaf 1, and
	 * commits from it. */
	commit(fa, 0, 3, &c, 0, 0x7b);
	expect_deliver(fc, VL_DELIVERY_WELCOME);
	public_msg(4, VL_MLS_SENDER_MEMBER, 1, NULL, 0, NULL, &m, &len);
	commit_raw(fc, 4, m, len, NULL, NULL, 0x7c, 0, NULL);
	expect_deliver(fa, VL_DELIVERY_COMMIT);
	assert_int_equal(fb->n, 0);
	/* Carol's second device joins at leaf 2 and is revoked: it keeps its
	 * leaf until a commit removes it, and cannot be added again. */
	struct vtc_device c2;
	struct fconn *fc2 = registered(f, &c2, "carol@example.org", "tablet", 1);
	commit(fa, 0, 5, &c2, 0, 0x7f);
	expect_deliver(fc, VL_DELIVERY_COMMIT);
	expect_deliver(fc2, VL_DELIVERY_WELCOME);
	struct vl_msg_device_revoke rv = {{(const uint8_t *)"tablet", 6}};
	struct vl_writer w;
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_msg_device_revoke_encode(&w, 90, &rv), VL_OK);
	input_writer(fc, &w);
	expect_reply(fc, VL_FRAME_DEVICE_REVOKE, 90);
	close_conn(fc2);
	uint32_t leaf2 = 2;
	assert_int_equal(
	    vtc_commit_message_from(GID, sizeof GID, 6, 0, NULL, 0, &leaf2, 1, &m, &len), VL_OK);
	commit_raw(fa, 6, m, len, NULL, &c, 0x91, VL_PERR_INVALID, "removed devices");
	assert_int_equal(
	    vtc_commit_message_from(GID, sizeof GID, 6, 0, NULL, 0, &leaf2, 1, &m, &len), VL_OK);
	commit_raw(fa, 6, m, len, NULL, &c2, 0x92, 0, NULL);
	expect_deliver(fc, VL_DELIVERY_COMMIT);
	const struct vtc_device *again[1] = {&c2};
	assert_int_equal(
	    vtc_commit_message_from(GID, sizeof GID, 7, 0, again, 1, NULL, 0, &m, &len), VL_OK);
	commit_raw(fa, 7, m, len, &c2, NULL, 0x93, VL_PERR_INVALID, "revoked");
	free(kpb);
	free(kpc);
	vl_mls_arena_cleanup(&ar);
	close_conn(fa);
	close_conn(fb);
	close_conn(fc);
}

/* A group whose members' leaves the store does not know (created before
 * it recorded them) keeps the check of Adds by value only. */
/* RFC 9420 §12.2: a member may be added again only by the commit that
 * removes it; it then gets the commit (as a member of the old roster), the
 * Welcome, and the leaf §12.3 gives it. */
static void test_commit_readd(void **state)
{
	struct fx *f = *state;
	struct vtc_device a, b;
	struct fconn *fa = registered(f, &a, "alice@example.org", "laptop", 1);
	struct fconn *fb = registered(f, &b, "bob@example.org", "phone", 1);
	create_group(fa);
	commit(fa, 0, 0, &b, 0, 0x30); /* Alice leaf 0, Bob leaf 1 */
	expect_deliver(fb, VL_DELIVERY_WELCOME);
	const struct vtc_device *adds[1] = {&b};
	const uint32_t rm[1] = {1};
	uint8_t *m;
	size_t len;
	assert_int_equal(vtc_commit_message_from(GID, sizeof GID, 1, 0, adds, 1, NULL, 0, &m, &len),
	                 VL_OK);
	commit_raw(fa, 1, m, len, &b, NULL, 0x31, VL_PERR_INVALID, "already a member");
	assert_int_equal(vtc_commit_message_from(GID, sizeof GID, 1, 0, adds, 1, rm, 1, &m, &len),
	                 VL_OK);
	commit_raw(fa, 1, m, len, &b, &b, 0x32, 0, NULL);
	expect_deliver(fb, VL_DELIVERY_COMMIT);
	/* Still a member, at leaf 1 again: he receives, and commits from it. */
	send_msg(fa, 2, 0x33, 0);
	expect_deliver(fb, VL_DELIVERY_APPLICATION);
	commit(fb, 1, 2, NULL, 0, 0x34);
	expect_deliver(fa, VL_DELIVERY_COMMIT);
	close_conn(fa);
	close_conn(fb);
}

static void test_commit_legacy_group(void **state)
{
	struct fx *f = *state;
	struct vtc_device a, b, c;
	struct fconn *fa = registered(f, &a, "alice@example.org", "laptop", 1);
	struct fconn *fb = registered(f, &b, "bob@example.org", "phone", 1);
	struct fconn *fc = registered(f, &c, "carol@example.org", "desk", 1);
	create_group(fa);
	commit(fa, 0, 0, &b, 0, 0x80);
	expect_deliver(fb, VL_DELIVERY_WELCOME);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, "UPDATE members SET leaf = NULL", NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	uint8_t *m;
	size_t len;
	/* Adds by value must still match `added`... */
	const struct vtc_device *adds[1] = {&c};
	assert_int_equal(vtc_commit_message_from(GID, sizeof GID, 1, 0, adds, 1, NULL, 0, &m, &len),
	                 VL_OK);
	commit_raw(fa, 1, m, len, &b, NULL, 0x81, VL_PERR_INVALID, "added devices");
	/* ...while Removes are taken as stated: the server cannot map them. */
	uint32_t leaf = 1;
	assert_int_equal(
	    vtc_commit_message_from(GID, sizeof GID, 1, 0, NULL, 0, &leaf, 1, &m, &len), VL_OK);
	commit_raw(fa, 1, m, len, NULL, &b, 0x82, 0, NULL);
	expect_deliver(fb, VL_DELIVERY_COMMIT);
	commit(fa, 0, 2, &c, 0, 0x83);
	expect_deliver(fc, VL_DELIVERY_WELCOME);
	close_conn(fa);
	close_conn(fb);
	close_conn(fc);
}

static void test_window_and_limits(void **state)
{
	struct fx *f = *state;
	vl_core_free(f->core);
	f->cfg.window = 2;
	f->cfg.burst = 40;
	f->cfg.rate = 1;
	new_core(f);
	struct vtc_device a, b;
	struct fconn *fa = registered(f, &a, "alice@example.org", "laptop", 1);
	struct fconn *fb = registered(f, &b, "bob@example.org", "phone", 1);
	create_group(fa);
	commit(fa, 0, 0, &b, 0, 0x41);
	uint64_t w1 = expect_deliver(fb, VL_DELIVERY_WELCOME);
	for (uint8_t i = 0; i < 5; i++)
		send_msg(fa, 1, (uint8_t)(0x50 + i), 0);
	/* Window 2: the Welcome and one message, nothing more in memory. */
	uint64_t m1 = expect_deliver(fb, VL_DELIVERY_APPLICATION);
	assert_int_equal(fb->n, 0);
	ack(fb, w1);
	uint64_t m2 = expect_deliver(fb, VL_DELIVERY_APPLICATION);
	assert_true(m2 > m1);
	assert_int_equal(fb->n, 0);
	ack(fb, m2);
	expect_deliver(fb, VL_DELIVERY_APPLICATION);
	expect_deliver(fb, VL_DELIVERY_APPLICATION);
	assert_int_equal(fb->n, 0);

	/* Rate limit: the bucket (40) runs dry, then refills with time. */
	unsigned limited = 0;
	for (uint32_t i = 0; i < 60; i++) {
		struct vl_writer w;
		vl_writer_init_heap(&w, 64);
		assert_int_equal(vl_frame_encode_empty(&w, VL_FRAME_PING, 1000 + i), VL_OK);
		input_writer(fa, &w);
		struct vl_frame fr = pop(fa);
		if (fr.type == VL_FRAME_ERROR)
			limited++;
	}
	assert_true(limited >= 20);
	fake_ms += 5000;
	struct vl_writer w;
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_frame_encode_empty(&w, VL_FRAME_PING, 2000), VL_OK);
	input_writer(fa, &w);
	expect_reply(fa, VL_FRAME_PING, 2000);

	/* A full send buffer closes the slow reader; its messages stay
	 * queued. */
	fb->full = true;
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_frame_encode_empty(&w, VL_FRAME_PING, 1), VL_OK);
	input_writer(fb, &w);
	assert_true(fb->close_requested);
	close_conn(fb);
	close_conn(fa);
}

/* The window in octets (invariant 3): pushes stop once window_bytes are
 * unacknowledged, live or fetched from the queue, and a message larger
 * than the window goes alone. */
static void test_window_bytes(void **state)
{
	struct fx *f = *state;
	vl_core_free(f->core);
	f->cfg.window_bytes = 3000; /* two 1,200-octet messages, not three */
	new_core(f);
	struct vtc_device a, b;
	struct fconn *fa = registered(f, &a, "alice@example.org", "laptop", 1);
	struct fconn *fb = registered(f, &b, "bob@example.org", "phone", 1);
	create_group(fa);
	commit(fa, 0, 0, &b, 0, 0x41);
	ack(fb, expect_deliver(fb, VL_DELIVERY_WELCOME));

	/* Live: two of five, then one more per ACK that makes room. */
	for (uint8_t i = 0; i < 5; i++)
		send_sized(fa, 1, (uint8_t)(0x50 + i), 1200, 0);
	uint64_t m1 = expect_deliver(fb, VL_DELIVERY_APPLICATION);
	expect_deliver(fb, VL_DELIVERY_APPLICATION);
	assert_int_equal(fb->n, 0);
	ack(fb, m1);
	uint64_t m3 = expect_deliver(fb, VL_DELIVERY_APPLICATION);
	assert_int_equal(fb->n, 0);
	ack(fb, m3);
	expect_deliver(fb, VL_DELIVERY_APPLICATION);
	uint64_t m5 = expect_deliver(fb, VL_DELIVERY_APPLICATION);
	assert_int_equal(fb->n, 0);

	/* Larger than the window: it waits for an empty window, goes alone,
	 * and what follows waits for its ACK. */
	send_sized(fa, 1, 0x60, 5000, 0);
	send_sized(fa, 1, 0x61, 40, 0);
	assert_int_equal(fb->n, 0);
	ack(fb, m5);
	uint64_t big = expect_deliver(fb, VL_DELIVERY_APPLICATION);
	assert_int_equal(fb->n, 0);
	ack(fb, big);
	ack(fb, expect_deliver(fb, VL_DELIVERY_APPLICATION));
	assert_int_equal(fb->n, 0);

	/* From the queue after a reconnect: the same two at a time. */
	close_conn(fb);
	for (uint8_t i = 0; i < 5; i++)
		send_sized(fa, 1, (uint8_t)(0x70 + i), 1200, 0);
	fb = authed(f, &b);
	uint64_t q1 = expect_deliver(fb, VL_DELIVERY_APPLICATION);
	uint64_t q2 = expect_deliver(fb, VL_DELIVERY_APPLICATION);
	assert_int_equal(fb->n, 0);
	ack(fb, q1);
	uint64_t q3 = expect_deliver(fb, VL_DELIVERY_APPLICATION);
	assert_true(q1 < q2 && q2 < q3);
	assert_int_equal(fb->n, 0);
	ack(fb, q3);
	expect_deliver(fb, VL_DELIVERY_APPLICATION);
	ack(fb, expect_deliver(fb, VL_DELIVERY_APPLICATION));
	assert_int_equal(fb->n, 0);
	close_conn(fb);
	close_conn(fa);
}

static void test_drain(void **state)
{
	struct fx *f = *state;
	struct vtc_device a;
	struct fconn *fa = registered(f, &a, "alice@example.org", "laptop", 1);
	vl_core_drain(f->core);
	assert_true(vl_core_draining(f->core));
	struct vl_frame fr = pop(fa);
	assert_int_equal(fr.type, VL_FRAME_CLOSING);
	assert_true(fa->close_requested);
	close_conn(fa);
	/* New connections are told at once. */
	struct fconn *fb = calloc(1, sizeof *fb);
	assert_non_null(fb);
	fb->c = vl_core_conn_open(f->core, &fops, fb, "late");
	assert_true(fb->close_requested);
	close_conn(fb);
}

/* With the executor: completions arrive on another thread and are run
 * by vl_core_run_completions. */
static void test_executor(void **state)
{
	struct fx *f = *state;
	vl_core_free(f->core);
	/* The invite goes in first: once the executor runs, only its threads
	 * may use the store (it prunes and checkpoints on its own when idle). */
	make_invite(f, "X1", "alice@example.org");
	struct vl_store_exec *x;
	assert_int_equal(vl_store_exec_new(f->st, 64, &x), VL_OK);
	struct vl_core_clock clock = {clk_ms, clk_s, NULL};
	assert_int_equal(vl_core_new(&f->cfg, f->st, x, NULL, NULL, &clock, &f->core), VL_OK);
	struct vtc_device a;
	assert_int_equal(vtc_device_init(&a, "alice@example.org", "laptop", 3), VL_OK);
	struct fconn *fa = open_conn(f);
	struct vl_writer w;
	vl_writer_init_heap(&w, 4096);
	assert_int_equal(vtc_register_frame(&w, 1, &a, "X1", &fa->ch), VL_OK);
	input_writer(fa, &w);
	for (int i = 0; i < 1000 && fa->n == 0; i++) {
		usleep(2000);
		vl_core_run_completions(f->core);
	}
	expect_reply(fa, VL_FRAME_REGISTER, 1);
	/* Then the queue fetch that starts delivery. */
	for (int i = 0; i < 1000 && vl_core_jobs_inflight(f->core); i++) {
		usleep(2000);
		vl_core_run_completions(f->core);
	}
	assert_int_equal(vl_core_jobs_inflight(f->core), 0);
	close_conn(fa);
	vl_store_exec_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_register_auth, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_packages, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delivery, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_commit_checks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_commit_legacy_group, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_commit_readd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_window_and_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_window_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_executor, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(last_buf);
	return rc;
}
