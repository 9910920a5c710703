/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Drives every request handler of the server core with arbitrary frames.
 * Each input runs against a fresh in-memory store in which two devices
 * (alice#laptop, bob#phone) are registered through the real REGISTER path
 * and share a group. The input is a script of records:
 *   uint8 conn (mod 3: 0 alice, 1 bob, 2 unauthenticated); uint16 len; len bytes
 * each fed to that connection as one WebSocket message. Whatever happens,
 * the core must not crash, leak, or break its accounting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core.h"
#include "server/log.h"
#include "vtc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			fprintf(stderr, "check failed: %s\n", #x);                                 \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct fconn {
	struct vl_conn *c;
	uint8_t first[512]; /* the CHALLENGE */
	size_t first_len;
	size_t frames;
	bool close_requested;
};

static bool f_send(void *t, const uint8_t *b, size_t len)
{
	struct fconn *fc = t;
	if (fc->frames++ == 0 && len <= sizeof fc->first) {
		memcpy(fc->first, b, len);
		fc->first_len = len;
	}
	/* Every frame the server sends must decode. */
	struct vl_frame f;
	CHECK(vl_frame_decode(b, len, VL_PROTO_FRAME_MAX + 1024, &f) == VL_OK);
	return true;
}

static void f_close(void *t)
{
	((struct fconn *)t)->close_requested = true;
}

static const struct vl_conn_ops fops = {f_send, f_close};

static uint64_t clk_ms(void *ctx)
{
	(void)ctx;
	return 1000;
}

static uint64_t clk_s(void *ctx)
{
	(void)ctx;
	return 1700000000u;
}

static struct vtc_device devs[2];
static bool keys_made;

static void reg(struct vl_core *core, struct vl_store *st, struct fconn *fc, int i)
{
	static const char *const codes[2] = {"SEED-A", "SEED-B"};
	uint8_t key[32];
	CHECK(vl_core_invite_key((const uint8_t *)codes[i], 6, key) == VL_OK);
	CHECK(vl_store_invite_create(st, key, 32, devs[i].user, 1800000000u, 1700000000u) == VL_OK);
	fc->c = vl_core_conn_open(core, &fops, fc, "fuzz");
	CHECK(fc->c);
	struct vtc_challenge ch;
	CHECK(vtc_challenge_parse(fc->first, fc->first_len, &ch) == VL_OK);
	struct vl_writer w;
	vl_writer_init_heap(&w, 4096);
	CHECK(vtc_register_frame(&w, 1, &devs[i], codes[i], &ch) == VL_OK);
	vl_core_conn_input(fc->c, w.buf, w.len);
	vl_writer_cleanup(&w);
	CHECK(vl_conn_authed(fc->c));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vl_log_set_level(VL_LOG_ERROR);
	if (!keys_made) {
		/* Fixed keys, so corpus entries carrying signed KeyPackages
		 * stay valid from run to run. */
		uint8_t seed[32];
		memset(seed, 0x11, sizeof seed);
		CHECK(vtc_device_init_seed(&devs[0], "alice@example.org", "laptop", 1, seed) ==
		      VL_OK);
		memset(seed, 0x22, sizeof seed);
		CHECK(vtc_device_init_seed(&devs[1], "bob@example.org", "phone", 2, seed) == VL_OK);
		keys_made = true;
	}
	struct vl_store_config sc = {.backend = "sqlite", .path = ":memory:"};
	struct vl_store *st;
	CHECK(vl_store_open(&sc, &st) == VL_OK);
	struct vl_core_config cfg;
	vl_core_config_defaults(&cfg);
	cfg.server_name = "example.org";
	cfg.max_frame = 1u << 16;
	/* Small push windows, in messages and octets, so that inputs reach
	 * them (invariant 3 of core.h). */
	cfg.window = 8;
	cfg.window_bytes = 4096;
	struct vl_core_clock clock = {clk_ms, clk_s, NULL};
	struct vl_core *core;
	CHECK(vl_core_new(&cfg, st, NULL, NULL, NULL, &clock, &core) == VL_OK);
	struct fconn fc[3];
	memset(fc, 0, sizeof fc);
	reg(core, st, &fc[0], 0);
	reg(core, st, &fc[1], 1);
	fc[2].c = vl_core_conn_open(core, &fops, &fc[2], "fuzz");
	CHECK(fc[2].c);
	/* A shared group, so SEND and COMMIT reach the store's deeper paths;
	 * bob is in it (added at the store, past the COMMIT checks), so
	 * alice's messages are pushed to him and his ACKs move his window. */
	static const uint8_t gid[] = "fuzz-group";
	CHECK(vl_store_group_create(st, gid, sizeof gid - 1, vl_conn_device(fc[0].c)->id,
	                            1700000000u) == VL_OK);
	static const uint8_t cmid[16] = {0xf0};
	static const uint8_t commit[1] = {0};
	const struct vl_store_device_name bob = {"bob@example.org", "phone"};
	const uint32_t bob_leaf = 1;
	struct vl_store_commit sc0 = {.gid = gid,
	                              .gid_len = sizeof gid - 1,
	                              .epoch = 0,
	                              .sender = vl_conn_device(fc[0].c)->id,
	                              .client_msg_id = cmid,
	                              .commit = commit,
	                              .commit_len = sizeof commit,
	                              .added = &bob,
	                              .n_added = 1,
	                              .added_leaves = &bob_leaf};
	uint64_t epoch;
	bool dup;
	CHECK(vl_store_commit_apply(st, &sc0, NULL, NULL, &epoch, &dup) == VL_OK);

	size_t pos = 0;
	while (size - pos >= 3) {
		unsigned which = data[pos] % 3;
		size_t len = (size_t)data[pos + 1] << 8 | data[pos + 2];
		pos += 3;
		if (len > size - pos)
			len = size - pos;
		vl_core_conn_input(fc[which].c, data + pos, len);
		pos += len;
	}
	CHECK(vl_core_jobs_inflight(core) == 0);
	for (int i = 0; i < 3; i++)
		vl_core_conn_closed(fc[i].c);
	CHECK(vl_core_conn_count(core) == 0);
	vl_core_free(core);
	vl_store_free(st);
	return 0;
}
