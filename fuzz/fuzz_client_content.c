/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libvalise's handling of decrypted application data: whatever a group
 * member may send (any MIMI content, Valise control parts with arbitrary
 * bodies: receipts, typing, group meta, leave requests; edits, deletes and
 * reactions of stored or unknown messages; attachments), and the decoder
 * of stored message records. A real client object with a real sealed
 * store (key file, temporary folder) and a real one-member group; no
 * network.
 *
 * Input: one selector octet, then the data. Selector 0: content from
 * another user; 1: from this user's other device; 2: a stored record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/client_int.h"

static struct vl_client *client;
static struct cl_conv *conv;
static char dir[64];

static void cleanup(void)
{
	if (conv) {
		vl_group_free(conv->g);
		free(conv->name);
		cl_strv_free(conv->admins, conv->n_admins);
		cl_strv_free(conv->leavers, conv->n_leavers);
		free(conv->rcpt);
		free(conv);
	}
	if (client) {
		struct vl_event ev;
		while (vl_client_next_event(client, &ev))
			vl_event_cleanup(&ev);
		free(client->evq);
		vl_client_store_close(client->st);
		free(client);
	}
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_client_content: could not remove %s\n", dir);
}

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/vl_fuzzc_XXXXXX");
	if (!mkdtemp(dir))
		abort();
	char db[128], key[128];
	snprintf(db, sizeof db, "%s/store.db", dir);
	snprintf(key, sizeof key, "%s/key", dir);
	client = calloc(1, sizeof *client);
	if (!client)
		abort();
	cl_net_init(&client->net);
	struct vl_client_store_opts so = {.path = db, .key_file = key, .create = true};
	if (vl_client_store_open(&so, &client->st))
		abort();
	snprintf(client->address, sizeof client->address, "me@example.org");
	snprintf(client->device, sizeof client->device, "laptop");
	snprintf(client->identity, sizeof client->identity, "me@example.org#laptop");
	client->suite = CL_SUITE;
	client->s = vl_suite_get(CL_SUITE);
	conv = calloc(1, sizeof *conv);
	if (!conv)
		abort();
	memset(conv->gid, 0x42, CL_GROUP_ID_LEN);
	conv->gid_len = CL_GROUP_ID_LEN;
	vl_hex_encode(conv->gid, conv->gid_len, conv->id);
	conv->kind = VL_CONV_GROUP;
	conv->active = true;
	if (vl_group_create(CL_SUITE, conv->gid, conv->gid_len, (const uint8_t *)client->identity,
	                    strlen(client->identity), NULL, NULL, &conv->g))
		abort();
	client->convs = conv;
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!client)
		setup();
	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	switch (data[0] % 3) {
	case 0:
		(void)!cl_msg_receive(client, conv, "other@example.org", "phone", p, n);
		break;
	case 1:
		(void)!cl_msg_receive(client, conv, "me@example.org", "desk", p, n);
		break;
	default: {
		struct vl_message m;
		if (cl_record_decode(p, n, &m) == VL_OK) {
			uint8_t *buf;
			size_t len;
			/* What decodes encodes back to the same bytes. */
			if (cl_record_encode(&m, &buf, &len) == VL_OK) {
				if (len != n || memcmp(buf, p, n) != 0)
					abort();
				free(buf);
			}
			vl_message_cleanup(&m);
		}
		break;
	}
	}
	/* Receipts and leave requests wait for the end of a batch; without a
	 * connection they are dropped there. */
	cl_receipts_flush(client);
	cl_convs_after_batch(client);
	struct vl_event ev;
	while (vl_client_next_event(client, &ev))
		vl_event_cleanup(&ev);
	return 0;
}
