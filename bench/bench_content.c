/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MIMI content codec speed: decode, encode and message id of three typical
 * messages (a short text, an attachment reference, a nested multipart),
 * printed as a table of microseconds per operation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "valise/content.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void build(int kind, struct vl_mimi_content *c)
{
	vl_mimi_content_init(c);
	if (vl_mimi_content_new_salt(c) ||
	    vl_mimi_content_set_uris(c, "mimi://valise.example/u/consul",
	                             "mimi://valise.example/r/crisis-cell"))
		abort();
	static const char text[] = "The convoy leaves at 06:00 from the north gate; confirm.";
	uint8_t key[16] = {1}, nonce[12] = {2}, hash[32] = {3};
	struct vl_mimi_external e = {
	    .url = {(char *)"https://valise.example/blobs/7f3a9c", 35},
	    .size = 5u << 20,
	    .enc_alg = 1,
	    .key = {key, 16},
	    .nonce = {nonce, 12},
	    .hash_alg = 1,
	    .content_hash = {hash, 32},
	    .filename = {(char *)"draft.jpg", 9},
	};
	int rc = 0;
	switch (kind) {
	case 0:
		rc = vl_mimi_content_set_text(c, true, text, sizeof text - 1);
		break;
	case 1:
		rc = vl_mimi_part_set_external(&c->body, VL_MIMI_DISP_ATTACHMENT, "", "image/jpeg",
		                               &e);
		break;
	default:
		rc = vl_mimi_part_set_multi(&c->body, 1, "", VL_MIMI_CHOOSE_ONE, 2);
		for (int i = 0; !rc && i < 2; i++)
			rc = vl_mimi_part_set_multi(&c->body.parts[i], 1, "", VL_MIMI_SINGLE_UNIT,
			                            3);
		for (int i = 0; !rc && i < 6; i++)
			rc = vl_mimi_part_set_single(&c->body.parts[i / 3].parts[i % 3], 1, "en",
			                             "text/html;charset=utf-8", text,
			                             sizeof text - 1);
		break;
	}
	if (rc)
		abort();
}

int main(void)
{
	static const char *const names[] = {"text (markdown)", "attachment", "multipart 2x3"};
	printf("%-18s %6s %12s %12s %14s\n", "message", "bytes", "decode us", "encode us",
	       "message id us");
	for (int k = 0; k < 3; k++) {
		struct vl_mimi_content c, d;
		build(k, &c);
		uint8_t *buf;
		size_t len;
		if (vl_mimi_content_encode_alloc(&c, &buf, &len))
			abort();
		const int n = 20000;
		double t0 = now();
		for (int i = 0; i < n; i++) {
			if (vl_mimi_content_decode(&d, buf, len))
				abort();
			vl_mimi_content_cleanup(&d);
		}
		double t1 = now();
		for (int i = 0; i < n; i++) {
			uint8_t *out;
			size_t out_len;
			if (vl_mimi_content_encode_alloc(&c, &out, &out_len))
				abort();
			free(out);
		}
		double t2 = now();
		uint8_t id[VL_MIMI_MESSAGE_ID_LEN];
		for (int i = 0; i < n; i++)
			if (vl_mimi_message_id(buf, len, "mimi://valise.example/u/consul", 30,
			                       "mimi://valise.example/r/crisis-cell", 35, id))
				abort();
		double t3 = now();
		printf("%-18s %6zu %12.2f %12.2f %14.2f\n", names[k], len, (t1 - t0) * 1e6 / n,
		       (t2 - t1) * 1e6 / n, (t3 - t2) * 1e6 / n);
		free(buf);
		vl_mimi_content_cleanup(&c);
	}
	return 0;
}
