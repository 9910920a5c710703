/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Drives vl_group_process() of a fixed three-member group (built once per
 * process, restored from its exported state for every input). The first
 * byte picks how the rest is used:
 *   0: a raw MLSMessage;
 *   1: application data another member encrypts (must decrypt to itself);
 *   2: a Commit body another member frames and signs (reaches the proposal
 *      and path rules of RFC 9420 §12.4.2; the confirmation tag is wrong,
 *      so only a commit removing the receiver may be accepted);
 *   3: a Proposal body another member frames and signs; the receiver then
 *      commits whatever it cached, and discards the commit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mls/group_int.h"
#include "valise/mls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Both ends are restored from their exported states for every input, so
 * that no run depends on the ones before (the sender's ratchet would
 * otherwise run past the receiver's max_forward). */
static uint8_t *sender_state, *receiver_state; /* members A and B */
static size_t sender_state_len, receiver_state_len;

__attribute__((noreturn)) static void fail(const char *what)
{
	fprintf(stderr, "fuzz_mls_process: %s\n", what);
	abort();
}

static void setup(void)
{
	static const char gid[] = "fuzz-group";
	static const char a[] = "a@fuzz#1", b[] = "b@fuzz#1", c[] = "c@fuzz#1";
	struct vl_key_package *kb = NULL, *kc = NULL;
	const uint8_t *kp[2];
	size_t kl[2];
	uint8_t *commit, *welcome;
	size_t commit_len, welcome_len;
	struct vl_group *gb = NULL, *sender = NULL;
	if (vl_group_create(1, (const uint8_t *)gid, sizeof gid - 1, (const uint8_t *)a,
	                    sizeof a - 1, NULL, NULL, &sender) != VL_OK ||
	    vl_key_package_new(1, (const uint8_t *)b, sizeof b - 1, NULL, &kb) != VL_OK ||
	    vl_key_package_new(1, (const uint8_t *)c, sizeof c - 1, NULL, &kc) != VL_OK)
		fail("setup: create");
	vl_key_package_bytes(kb, &kp[0], &kl[0]);
	vl_key_package_bytes(kc, &kp[1], &kl[1]);
	struct vl_commit_args args = {.add = kp, .add_len = kl, .n_add = 2};
	if (vl_group_commit(sender, &args, &commit, &commit_len, &welcome, &welcome_len) != VL_OK ||
	    vl_group_commit_merge(sender) != VL_OK ||
	    vl_group_join(kb, welcome, welcome_len, NULL, 0, NULL, &gb) != VL_OK ||
	    vl_group_export(gb, &receiver_state, &receiver_state_len) != VL_OK ||
	    vl_group_export(sender, &sender_state, &sender_state_len) != VL_OK)
		fail("setup: add");
	vl_group_free(sender);
	free(commit);
	free(welcome);
	vl_group_free(gb);
	vl_key_package_free(kb);
	vl_key_package_free(kc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!sender_state)
		setup();
	if (size == 0)
		return 0;
	struct vl_group *g, *sender;
	if (vl_group_import(receiver_state, receiver_state_len, NULL, &g) != VL_OK ||
	    vl_group_import(sender_state, sender_state_len, NULL, &sender) != VL_OK)
		fail("import");
	const uint8_t *body = data + 1;
	size_t len = size - 1;
	uint8_t *msg = NULL;
	size_t msg_len = 0;
	struct vl_group_msg out = {0};
	struct vl_mls_arena a;
	vl_mls_arena_init(&a, 1u << 24);
	switch (data[0] % 4) {
	case 0:
		(void)!vl_group_process(g, body, len, &out);
		break;
	case 1:
		if (vl_group_encrypt(sender, body, len, NULL, 0, &msg, &msg_len) == VL_OK) {
			if (vl_group_process(g, msg, msg_len, &out) != VL_OK ||
			    out.data_len != len || (len && memcmp(out.data, body, len) != 0))
				fail("application round trip");
		}
		break;
	case 2: {
		struct vl_mls_commit c;
		if (vl_mls_commit_parse(body, len, &a, &c) == VL_OK &&
		    mls_group_send_raw(sender, NULL, &c, &msg, &msg_len) == VL_OK &&
		    vl_group_process(g, msg, msg_len, &out) == VL_OK && !out.removed_self)
			fail("a commit with a zero confirmation tag was accepted");
		break;
	}
	default: {
		struct vl_mls_proposal p;
		if (vl_mls_proposal_parse(body, len, &a, &p) == VL_OK &&
		    mls_group_send_raw(sender, &p, NULL, &msg, &msg_len) == VL_OK &&
		    vl_group_process(g, msg, msg_len, &out) == VL_OK) {
			uint8_t *cm, *wm;
			size_t cl, wl;
			if (vl_group_commit(g, NULL, &cm, &cl, &wm, &wl) == VL_OK) {
				vl_group_commit_discard(g);
				free(cm);
				free(wm);
			}
		}
		break;
	}
	}
	free(out.data);
	free(msg);
	vl_mls_arena_cleanup(&a);
	vl_group_free(g);
	vl_group_free(sender);
	return 0;
}
