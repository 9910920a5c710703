/* SPDX-License-Identifier: Apache-2.0 */
/* messages.json: every structure of every entry is decoded, re-encoded and
 * compared byte for byte with the original (RFC 9420 §§6-12).
 * Usage: vec_messages [FILE] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mls/struct/struct.h"
#include "testutil.h"

/* Decodes a whole buffer as one structure kind and re-encodes it. */
typedef int (*round_trip_fn)(const uint8_t *buf, size_t len, struct vl_mls_arena *a,
                             struct vl_writer *w);

/* An MLSMessage whose wire format must be the expected one; for public
 * messages also the content type. */
static int message_expect(const uint8_t *buf, size_t len, struct vl_mls_arena *a,
                          struct vl_writer *w, uint16_t wire_format, uint8_t content_type)
{
	struct vl_mls_message m;
	int rc = vl_mls_message_parse(buf, len, a, &m);
	if (rc)
		return rc;
	if (m.wire_format != wire_format)
		return VL_ERR_INVALID;
	if (wire_format == VL_MLS_WIRE_PUBLIC_MESSAGE &&
	    m.public_message.content.content_type != content_type)
		return VL_ERR_INVALID;
	/* The clear-header peek must agree with the full decode. */
	struct vl_mls_peek pk;
	if ((rc = vl_mls_message_peek(buf, len, &pk)) != VL_OK)
		return rc;
	if (pk.wire_format != m.wire_format)
		return VL_ERR_INVALID;
	return vl_mls_message_encode(w, &m);
}

static int rt_welcome(const uint8_t *b, size_t n, struct vl_mls_arena *a, struct vl_writer *w)
{
	return message_expect(b, n, a, w, VL_MLS_WIRE_WELCOME, 0);
}

static int rt_group_info(const uint8_t *b, size_t n, struct vl_mls_arena *a, struct vl_writer *w)
{
	return message_expect(b, n, a, w, VL_MLS_WIRE_GROUP_INFO, 0);
}

static int rt_key_package(const uint8_t *b, size_t n, struct vl_mls_arena *a, struct vl_writer *w)
{
	return message_expect(b, n, a, w, VL_MLS_WIRE_KEY_PACKAGE, 0);
}

static int rt_pub_app(const uint8_t *b, size_t n, struct vl_mls_arena *a, struct vl_writer *w)
{
	return message_expect(b, n, a, w, VL_MLS_WIRE_PUBLIC_MESSAGE, VL_MLS_CONTENT_APPLICATION);
}

static int rt_pub_proposal(const uint8_t *b, size_t n, struct vl_mls_arena *a, struct vl_writer *w)
{
	return message_expect(b, n, a, w, VL_MLS_WIRE_PUBLIC_MESSAGE, VL_MLS_CONTENT_PROPOSAL);
}

static int rt_pub_commit(const uint8_t *b, size_t n, struct vl_mls_arena *a, struct vl_writer *w)
{
	return message_expect(b, n, a, w, VL_MLS_WIRE_PUBLIC_MESSAGE, VL_MLS_CONTENT_COMMIT);
}

static int rt_private(const uint8_t *b, size_t n, struct vl_mls_arena *a, struct vl_writer *w)
{
	return message_expect(b, n, a, w, VL_MLS_WIRE_PRIVATE_MESSAGE, 0);
}

static int rt_tree(const uint8_t *b, size_t n, struct vl_mls_arena *a, struct vl_writer *w)
{
	struct vl_mls_ratchet_tree t;
	int rc = vl_mls_ratchet_tree_parse(b, n, a, &t);
	return rc ? rc : vl_mls_ratchet_tree_encode(w, &t);
}

static int rt_group_secrets(const uint8_t *b, size_t n, struct vl_mls_arena *a, struct vl_writer *w)
{
	struct vl_mls_group_secrets gs;
	int rc = vl_mls_group_secrets_parse(b, n, a, &gs);
	return rc ? rc : vl_mls_group_secrets_encode(w, &gs);
}

static int rt_commit(const uint8_t *b, size_t n, struct vl_mls_arena *a, struct vl_writer *w)
{
	struct vl_mls_commit c;
	int rc = vl_mls_commit_parse(b, n, a, &c);
	return rc ? rc : vl_mls_commit_encode(w, &c);
}

/* A proposal body alone (Add, Update, ...), selected by type. */
static int proposal_body(const uint8_t *b, size_t n, struct vl_mls_arena *a, struct vl_writer *w,
                         uint16_t type)
{
	struct vl_reader r;
	struct vl_mls_proposal p;
	vl_reader_init(&r, b, n);
	int rc = vl_mls_proposal_body_decode(&r, a, type, &p);
	if (rc == VL_OK)
		rc = vl_reader_finish(&r);
	return rc ? rc : vl_mls_proposal_body_encode(w, &p);
}

#define PROPOSAL_RT(NAME, TYPE)                                                                    \
	static int rt_##NAME(const uint8_t *b, size_t n, struct vl_mls_arena *a,                   \
	                     struct vl_writer *w)                                                  \
	{                                                                                          \
		return proposal_body(b, n, a, w, TYPE);                                            \
	}
PROPOSAL_RT(add, VL_MLS_PROPOSAL_ADD)
PROPOSAL_RT(update, VL_MLS_PROPOSAL_UPDATE)
PROPOSAL_RT(remove, VL_MLS_PROPOSAL_REMOVE)
PROPOSAL_RT(psk, VL_MLS_PROPOSAL_PSK)
PROPOSAL_RT(reinit, VL_MLS_PROPOSAL_REINIT)
PROPOSAL_RT(external_init, VL_MLS_PROPOSAL_EXTERNAL_INIT)
PROPOSAL_RT(gce, VL_MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS)

static const struct {
	const char *key;
	round_trip_fn fn;
} kinds[] = {
    {"mls_welcome", rt_welcome},
    {"mls_group_info", rt_group_info},
    {"mls_key_package", rt_key_package},
    {"ratchet_tree", rt_tree},
    {"group_secrets", rt_group_secrets},
    {"add_proposal", rt_add},
    {"update_proposal", rt_update},
    {"remove_proposal", rt_remove},
    {"pre_shared_key_proposal", rt_psk},
    {"re_init_proposal", rt_reinit},
    {"external_init_proposal", rt_external_init},
    {"group_context_extensions_proposal", rt_gce},
    {"commit", rt_commit},
    {"public_message_application", rt_pub_app},
    {"public_message_proposal", rt_pub_proposal},
    {"public_message_commit", rt_pub_commit},
    {"private_message", rt_private},
};

int main(int argc, char **argv)
{
	const char *path = tu_vector_path(argc > 1 ? argv[1] : NULL, "mls/messages.json");
	json_t *root = tu_load_json(path);
	struct tu_tally t = {.file = tu_basename(path)};
	if (!root) {
		printf("vectors: %s: 0 passed, 0 failed, 1 skipped (file absent)\n", t.file);
		return 77;
	}
	size_t i;
	json_t *e;
	json_array_foreach(root, i, e)
	{
		/* One case per structure of an entry. */
		for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
			size_t n;
			uint8_t *buf = tu_json_hex(e, kinds[k].key, &n);
			char what[160];
			if (!buf) {
				snprintf(what, sizeof what, "%s: missing or bad hex", kinds[k].key);
				tu_fail(&t, i, what);
				continue;
			}
			struct vl_mls_arena a;
			struct vl_writer w;
			vl_mls_arena_init(&a, 0);
			vl_writer_init_heap(&w, VL_MLS_MAX_ENCODED);
			int rc = kinds[k].fn(buf, n, &a, &w);
			if (rc) {
				snprintf(what, sizeof what, "%s: %s", kinds[k].key,
				         vl_strerror(rc));
				tu_fail(&t, i, what);
			} else if (w.len != n || memcmp(w.buf, buf, n) != 0) {
				snprintf(what, sizeof what, "%s: re-encoding differs",
				         kinds[k].key);
				tu_fail(&t, i, what);
			} else {
				t.passed++;
			}
			vl_writer_cleanup(&w);
			vl_mls_arena_cleanup(&a);
			free(buf);
		}
	}
	json_decref(root);
	tu_tally_print(&t);
	return t.failed ? 1 : 0;
}
