/* SPDX-License-Identifier: Apache-2.0 */
/* End-to-end checks of the roster change a COMMIT claims, with real MLS
 * groups (the group engine, real signatures and trees) against the real
 * valised: honest commits that add, remove and update, by value and by
 * reference, are accepted and keep every member in step; commits whose
 * `added`/`removed` lists disagree with their proposals, that come from
 * another device's leaf, that include a proposal the server never relayed
 * or that add a device under a key it did not register are refused with
 * `invalid` and reach nobody; the server's map of leaves survives a
 * restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2e.h"
#include "valise/mls.h"

static const char *valised_path;
static const uint8_t GID[32] = {0xc0, 0xdd, 0x17, 4, 5, 6};

#define OK(t) ((t) | VL_FRAME_REPLY)

/* A device with its MLS state. */
struct member {
	struct cli c;
	char identity[VL_PROTO_ADDRESS_MAX + VL_PROTO_DEVICE_MAX + 2];
	struct vl_group *g;
	struct vl_key_package *kp; /* until it joins */
};

static uint32_t next_msg_id;

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

static void member_new(struct member *m, struct srv *s, const char *user, const char *name)
{
	memset(m, 0, sizeof *m);
	assert_int_equal(cli_new_device(&m->c, s, user, name, 1), 0);
	snprintf(m->identity, sizeof m->identity, "%s#%s", user, name);
	assert_int_equal(vl_key_package_new(1, (const uint8_t *)m->identity, strlen(m->identity),
	                                    m->c.dev.priv, &m->kp),
	                 VL_OK);
}

static void member_free(struct member *m)
{
	vl_group_free(m->g);
	vl_key_package_free(m->kp);
	cli_close(&m->c);
}

static struct vl_device_ref ref_of(const struct member *m)
{
	return (struct vl_device_ref){{(const uint8_t *)m->c.dev.user, strlen(m->c.dev.user)},
	                              {(const uint8_t *)m->c.dev.name, strlen(m->c.dev.name)}};
}

/* Waits for the reply to request id: its type; *code and detail (copied
 * into detail[200]) for an ERROR. */
static int reply(struct cli *c, uint32_t id, uint16_t *code, char detail[200])
{
	struct rframe r = {0};
	int t = cli_reply(c, id, code, &r, 5000);
	detail[0] = 0;
	if (t == VL_FRAME_ERROR) {
		struct vl_msg_error e;
		assert_int_equal(vl_msg_error_decode(&r.f.body, &e), VL_OK);
		size_t n = e.detail.len < 199 ? e.detail.len : 199;
		memcpy(detail, e.detail.p, n);
		detail[n] = 0;
	}
	rframe_free(&r);
	return t;
}

static void fresh_id(uint8_t id[VL_PROTO_MSG_ID_LEN])
{
	memset(id, 0, VL_PROTO_MSG_ID_LEN);
	uint32_t n = ++next_msg_id;
	memcpy(id, &n, sizeof n);
}

/* Sends a COMMIT with the given lists on c's connection; returns the reply
 * type (code and detail set for an ERROR). */
static int send_commit(struct cli *c, uint64_t epoch, const uint8_t *cm, size_t cm_len,
                       const uint8_t *wel, size_t wel_len, const struct vl_device_ref *added,
                       size_t n_added, const struct vl_device_ref *removed, size_t n_removed,
                       uint16_t *code, char detail[200])
{
	struct vl_msg_commit m = {.group_id = {GID, sizeof GID},
	                          .epoch = epoch,
	                          .commit = {cm, cm_len},
	                          .has_welcome = wel != NULL,
	                          .welcome = {wel, wel_len}};
	fresh_id(m.client_msg_id);
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	uint32_t id = c->next_id++;
	assert_int_equal(vl_msg_commit_encode(&w, id, &m, added, n_added, removed, n_removed),
	                 VL_OK);
	assert_int_equal(cli_send_writer(c, &w), 0);
	return reply(c, id, code, detail);
}

/* Sends an MLS message (a proposal) with SEND; expects it accepted. */
static void send_msg(struct cli *c, const uint8_t *msg, size_t len)
{
	struct vl_msg_send m = {.group_id = {GID, sizeof GID}, .message = {msg, len}};
	fresh_id(m.client_msg_id);
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	uint32_t id = c->next_id++;
	assert_int_equal(vl_msg_send_encode(&w, id, &m), VL_OK);
	assert_int_equal(cli_send_writer(c, &w), 0);
	uint16_t code = 0;
	char detail[200];
	int t = reply(c, id, &code, detail);
	if (t == VL_FRAME_ERROR)
		fail_msg("SEND: ERROR %s (%s)", vl_proto_error_name(code), detail);
	assert_int_equal(t, OK(VL_FRAME_SEND));
}

static void ack(struct cli *c, uint64_t seq)
{
	struct vl_msg_ack a = {seq};
	struct vl_writer w;
	vl_writer_init_heap(&w, 64);
	uint32_t id = c->next_id++;
	assert_int_equal(vl_msg_ack_encode(&w, id, &a), VL_OK);
	assert_int_equal(cli_send_writer(c, &w), 0);
	uint16_t code;
	char detail[200];
	assert_int_equal(reply(c, id, &code, detail), OK(VL_FRAME_ACK));
}

/* Takes the next delivery of m (of kind `kind`, within 5 s) into its group:
 * a Welcome joins, a commit or proposal is processed. Returns what
 * vl_group_process said of it (kind). */
static enum vl_group_msg_kind take(struct member *m, uint8_t kind)
{
	struct rframe r;
	assert_int_equal(cli_wait(&m->c, VL_FRAME_DELIVER, 0, 5000, &r), 1);
	struct vl_msg_deliver d;
	assert_int_equal(vl_msg_deliver_decode(&r.f.body, &d), VL_OK);
	assert_int_equal(d.kind, kind);
	enum vl_group_msg_kind got = 0;
	if (kind == VL_DELIVERY_WELCOME) {
		assert_null(m->g);
		assert_int_equal(
		    vl_group_join(m->kp, d.message.p, d.message.len, NULL, 0, NULL, &m->g), VL_OK);
		vl_key_package_free(m->kp);
		m->kp = NULL;
	} else {
		struct vl_group_msg out;
		int rc = vl_group_process(m->g, d.message.p, d.message.len, &out);
		if (rc)
			fail_msg("%s: processing a delivery: %s", m->identity, vl_strerror(rc));
		free(out.data);
		got = out.kind;
	}
	uint64_t seq = d.seq;
	rframe_free(&r);
	ack(&m->c, seq);
	return got;
}

/* Nothing arrives for m within ms. */
static void quiet(struct member *m, int ms)
{
	struct rframe r;
	assert_int_equal(cli_wait(&m->c, VL_FRAME_DELIVER, UINT32_MAX, ms, &r), -1);
}

/* A built commit, before it is sent. */
struct built {
	uint8_t *commit, *welcome;
	size_t commit_len, welcome_len;
};

static void build(struct member *m, const uint8_t *const *add, const size_t *add_len, size_t n_add,
                  const uint32_t *remove, size_t n_remove, struct built *b)
{
	struct vl_commit_args args = {
	    .add = add, .add_len = add_len, .n_add = n_add, .remove = remove, .n_remove = n_remove};
	memset(b, 0, sizeof *b);
	assert_int_equal(
	    vl_group_commit(m->g, &args, &b->commit, &b->commit_len, &b->welcome, &b->welcome_len),
	    VL_OK);
}

static void built_free(struct built *b)
{
	free(b->commit);
	free(b->welcome);
}

/* Sends m's pending commit with the given lists and expects it refused
 * with invalid and a detail containing `why`; the commit is discarded. */
static void expect_refused(struct member *m, struct built *b, const struct vl_device_ref *added,
                           size_t n_added, const struct vl_device_ref *removed, size_t n_removed,
                           const char *why)
{
	uint16_t code = 0;
	char detail[200];
	int t = send_commit(&m->c, vl_group_epoch(m->g), b->commit, b->commit_len, b->welcome,
	                    b->welcome_len, added, n_added, removed, n_removed, &code, detail);
	assert_int_equal(t, VL_FRAME_ERROR);
	assert_int_equal(code, VL_PERR_INVALID);
	if (!strstr(detail, why))
		fail_msg("detail \"%s\" does not say \"%s\"", detail, why);
	vl_group_commit_discard(m->g);
	built_free(b);
}

/* Sends m's pending commit and expects it accepted; merges it. */
static void expect_accepted(struct member *m, struct built *b, const struct vl_device_ref *added,
                            size_t n_added, const struct vl_device_ref *removed, size_t n_removed)
{
	uint16_t code = 0;
	char detail[200];
	uint64_t epoch = vl_group_epoch(m->g);
	int t = send_commit(&m->c, epoch, b->commit, b->commit_len, b->welcome, b->welcome_len,
	                    added, n_added, removed, n_removed, &code, detail);
	if (t == VL_FRAME_ERROR)
		fail_msg("COMMIT: ERROR %s (%s)", vl_proto_error_name(code), detail);
	assert_int_equal(t, OK(VL_FRAME_COMMIT));
	assert_int_equal(vl_group_commit_merge(m->g), VL_OK);
	assert_true(vl_group_epoch(m->g) == epoch + 1);
	built_free(b);
}

/* Every member of ms[n] is at the same epoch with the same members. */
static void in_step(struct member *const *ms, size_t n)
{
	uint8_t a0[64], ai[64];
	size_t l0, li;
	vl_group_epoch_authenticator(ms[0]->g, a0, &l0);
	for (size_t i = 1; i < n; i++) {
		assert_true(vl_group_epoch(ms[i]->g) == vl_group_epoch(ms[0]->g));
		assert_int_equal(vl_group_member_count(ms[i]->g), vl_group_member_count(ms[0]->g));
		vl_group_epoch_authenticator(ms[i]->g, ai, &li);
		assert_memory_equal(a0, ai, l0);
	}
}

static void reconnect(struct member *m, struct srv *s)
{
	uint16_t code;
	cli_close(&m->c);
	assert_int_equal(cli_open(&m->c, s), 0);
	assert_int_equal(cli_auth(&m->c, &code), OK(VL_FRAME_AUTH));
}

static void test_roster_changes(void **state)
{
	struct srv *s = *state;
	struct member A, B, C, D;
	member_new(&A, s, "alice@example.org", "laptop");
	member_new(&B, s, "bob@example.org", "phone");
	member_new(&C, s, "carol@example.org", "desk");
	member_new(&D, s, "dave@example.org", "tablet");
	struct vl_device_ref rB = ref_of(&B), rC = ref_of(&C), rD = ref_of(&D);

	/* Alice creates the group (leaf 0) and adds Bob and Carol by value:
	 * leaves 1 and 2. */
	struct vl_msg_group_create gc = {{GID, sizeof GID}};
	struct vl_writer w;
	vl_writer_init_heap(&w, 128);
	uint32_t id = A.c.next_id++;
	assert_int_equal(vl_msg_group_create_encode(&w, id, &gc), VL_OK);
	assert_int_equal(cli_send_writer(&A.c, &w), 0);
	uint16_t code;
	char detail[200];
	assert_int_equal(reply(&A.c, id, &code, detail), OK(VL_FRAME_GROUP_CREATE));
	assert_int_equal(vl_group_create(1, GID, sizeof GID, (const uint8_t *)A.identity,
	                                 strlen(A.identity), A.c.dev.priv, NULL, &A.g),
	                 VL_OK);
	const uint8_t *kp[2];
	size_t kp_len[2];
	vl_key_package_bytes(B.kp, &kp[0], &kp_len[0]);
	vl_key_package_bytes(C.kp, &kp[1], &kp_len[1]);
	struct built b;
	struct vl_device_ref bc[2] = {rB, rC}, cb[2] = {rC, rB};
	/* An Add the lists leave out, or a device they add without one. */
	build(&A, kp, kp_len, 2, NULL, 0, &b);
	expect_refused(&A, &b, bc, 1, NULL, 0, "added devices do not match");
	build(&A, kp, kp_len, 1, NULL, 0, &b);
	expect_refused(&A, &b, bc, 2, NULL, 0, "added devices do not match");
	/* The order of `added` does not matter. */
	build(&A, kp, kp_len, 2, NULL, 0, &b);
	expect_accepted(&A, &b, cb, 2, NULL, 0);
	take(&B, VL_DELIVERY_WELCOME);
	take(&C, VL_DELIVERY_WELCOME);
	struct member *abc[3] = {&A, &B, &C};
	in_step(abc, 3);

	/* Removes by value: Carol is at leaf 2. A commit that removes her
	 * but names Bob, that names her without removing anyone, or that
	 * removes her without saying so is refused, and reaches nobody. */
	uint32_t leaf_c = 2;
	build(&A, NULL, NULL, 0, &leaf_c, 1, &b);
	expect_refused(&A, &b, NULL, 0, &rB, 1, "removed devices do not match");
	build(&A, NULL, NULL, 0, NULL, 0, &b);
	expect_refused(&A, &b, NULL, 0, &rC, 1, "removed devices do not match");
	build(&A, NULL, NULL, 0, &leaf_c, 1, &b);
	expect_refused(&A, &b, NULL, 0, NULL, 0, "removed devices do not match");
	/* Bob's commit sent over Alice's connection: its path puts Bob's
	 * identity and key in the leaf of the committer. */
	build(&B, NULL, NULL, 0, NULL, 0, &b);
	expect_refused(&A, &b, NULL, 0, NULL, 0, "path changes the committer's identity");
	vl_group_commit_discard(B.g);
	quiet(&B, 200);
	quiet(&C, 50);

	/* A Remove proposal by reference: Bob proposes removing Carol and
	 * sends it through the server; Alice commits it by reference. */
	uint8_t *prop;
	size_t prop_len;
	assert_int_equal(vl_group_propose_remove(B.g, leaf_c, &prop, &prop_len), VL_OK);
	send_msg(&B.c, prop, prop_len);
	free(prop);
	assert_int_equal(take(&A, VL_DELIVERY_APPLICATION), VL_GROUP_MSG_PROPOSAL);
	assert_int_equal(take(&C, VL_DELIVERY_APPLICATION), VL_GROUP_MSG_PROPOSAL);
	build(&A, NULL, NULL, 0, NULL, 0, &b);
	expect_refused(&A, &b, NULL, 0, NULL, 0, "removed devices do not match");
	build(&A, NULL, NULL, 0, NULL, 0, &b);
	expect_refused(&A, &b, NULL, 0, &rB, 1, "removed devices do not match");
	build(&A, NULL, NULL, 0, NULL, 0, &b);
	expect_accepted(&A, &b, NULL, 0, &rC, 1);
	take(&B, VL_DELIVERY_COMMIT);
	take(&C, VL_DELIVERY_COMMIT);
	assert_false(vl_group_active(C.g));
	struct member *ab[2] = {&A, &B};
	in_step(ab, 2);

	/* A proposal that never went through the server (handed to a copy
	 * of Alice's group directly) cannot be committed by reference. */
	{
		uint8_t *st;
		size_t st_len;
		struct vl_group *keep = A.g, *B2;
		assert_int_equal(vl_group_export(keep, &st, &st_len), VL_OK);
		assert_int_equal(vl_group_import(st, st_len, NULL, &A.g), VL_OK);
		free(st);
		assert_int_equal(vl_group_export(B.g, &st, &st_len), VL_OK);
		assert_int_equal(vl_group_import(st, st_len, NULL, &B2), VL_OK);
		free(st);
		assert_int_equal(vl_group_propose_update(B2, &prop, &prop_len), VL_OK);
		struct vl_group_msg out;
		assert_int_equal(vl_group_process(A.g, prop, prop_len, &out), VL_OK);
		assert_int_equal(out.kind, VL_GROUP_MSG_PROPOSAL);
		free(prop);
		build(&A, NULL, NULL, 0, NULL, 0, &b);
		expect_refused(&A, &b, NULL, 0, NULL, 0, "not sent through this server");
		vl_group_free(A.g);
		A.g = keep;
		vl_group_free(B2);
	}

	/* An Update by reference, relayed: accepted with no roster change. */
	assert_int_equal(vl_group_propose_update(B.g, &prop, &prop_len), VL_OK);
	send_msg(&B.c, prop, prop_len);
	free(prop);
	assert_int_equal(take(&A, VL_DELIVERY_APPLICATION), VL_GROUP_MSG_PROPOSAL);
	build(&A, NULL, NULL, 0, NULL, 0, &b);
	expect_accepted(&A, &b, NULL, 0, NULL, 0);
	take(&B, VL_DELIVERY_COMMIT);
	in_step(ab, 2);

	/* Adds the server must refuse whatever the lists say: a device it
	 * does not know, and a real device under a key it never registered. */
	{
		struct vl_key_package *bad;
		const char *nobody = "eve@example.org#laptop";
		assert_int_equal(
		    vl_key_package_new(1, (const uint8_t *)nobody, strlen(nobody), NULL, &bad),
		    VL_OK);
		const uint8_t *bkp;
		size_t bkp_len;
		vl_key_package_bytes(bad, &bkp, &bkp_len);
		struct vl_device_ref eve = {{(const uint8_t *)"eve@example.org", 15},
		                            {(const uint8_t *)"laptop", 6}};
		build(&A, &bkp, &bkp_len, 1, NULL, 0, &b);
		expect_refused(&A, &b, &eve, 1, NULL, 0, "no device of this server");
		vl_key_package_free(bad);
		assert_int_equal(vl_key_package_new(1, (const uint8_t *)D.identity,
		                                    strlen(D.identity), NULL, &bad),
		                 VL_OK);
		vl_key_package_bytes(bad, &bkp, &bkp_len);
		build(&A, &bkp, &bkp_len, 1, NULL, 0, &b);
		expect_refused(&A, &b, &rD, 1, NULL, 0, "registered key");
		vl_key_package_free(bad);
	}

	/* The server's map of leaves is durable: restart it. */
	srv_kill9(s);
	assert_int_equal(srv_restart(s), 0);
	reconnect(&A, s);
	reconnect(&B, s);
	reconnect(&D, s);

	/* An Add by reference: Bob proposes Dave, Alice commits. Dave takes
	 * leaf 2, the one Carol left blank (RFC 9420 §12.3). */
	vl_key_package_bytes(D.kp, &kp[0], &kp_len[0]);
	assert_int_equal(vl_group_propose_add(B.g, kp[0], kp_len[0], &prop, &prop_len), VL_OK);
	send_msg(&B.c, prop, prop_len);
	free(prop);
	assert_int_equal(take(&A, VL_DELIVERY_APPLICATION), VL_GROUP_MSG_PROPOSAL);
	build(&A, NULL, NULL, 0, NULL, 0, &b);
	expect_refused(&A, &b, NULL, 0, NULL, 0, "added devices do not match");
	build(&A, NULL, NULL, 0, NULL, 0, &b);
	expect_accepted(&A, &b, &rD, 1, NULL, 0);
	take(&B, VL_DELIVERY_COMMIT);
	take(&D, VL_DELIVERY_WELCOME);
	assert_int_equal(vl_group_own_leaf(D.g), 2);
	struct member *abd[3] = {&A, &B, &D};
	in_step(abd, 3);

	/* Leaf 2 is Dave's now: removing it while naming Carol (gone) is
	 * refused; naming Dave is accepted, and Bob commits it from leaf 1. */
	build(&B, NULL, NULL, 0, &leaf_c, 1, &b);
	expect_refused(&B, &b, NULL, 0, &rC, 1, "removed devices do not match");
	build(&B, NULL, NULL, 0, &leaf_c, 1, &b);
	expect_accepted(&B, &b, NULL, 0, &rD, 1);
	take(&A, VL_DELIVERY_COMMIT);
	take(&D, VL_DELIVERY_COMMIT);
	assert_false(vl_group_active(D.g));
	in_step(ab, 2);
	/* Nothing of the refused commits reached anyone. */
	quiet(&A, 200);
	quiet(&B, 50);
	quiet(&D, 50);

	member_free(&A);
	member_free(&B);
	member_free(&C);
	member_free(&D);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s VALISED\n", argv[0]);
		return 2;
	}
	valised_path = argv[1];
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_roster_changes, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
