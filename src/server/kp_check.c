/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The checks an uploaded KeyPackage must pass (docs/protocol.md §4.3):
 * well formed (RFC 9420 §10), of the device's cipher suite, both its
 * signatures valid (§10.1, §7.2), and bound to the uploading device: a
 * basic credential naming user#device and the device's registered key.
 * Also the reference under which the server remembers a relayed proposal
 * (§5.2), for commits that include it by reference (handle_commit.c).
 */
#include <stdio.h>
#include <string.h>

#include "mls/struct/struct.h"
#include "server/core.h"

/* Verifies SignWithLabel(label, encoding) made by pub. */
static int verify_tbs(const struct vl_suite *s, const uint8_t *pub, size_t pub_len,
                      const char *label, struct vl_writer *w, const struct vl_mls_bytes *sig)
{
	if (w->err)
		return VL_ERR_INVALID;
	return vl_mls_verify_with_label(s, pub, pub_len, label, w->buf, w->len, sig->data,
	                                sig->len);
}

int vl_server_kp_check(const struct vl_store_device *dev, const uint8_t *buf, size_t len,
                       uint64_t now)
{
	struct vl_mls_arena a;
	struct vl_mls_message m;
	struct vl_writer w;
	int rc = VL_ERR_INVALID;
	vl_mls_arena_init(&a, 1u << 20);
	vl_writer_init_heap(&w, VL_PROTO_KP_MAX);
	if (vl_mls_message_parse(buf, len, &a, &m) != VL_OK ||
	    m.wire_format != VL_MLS_WIRE_KEY_PACKAGE)
		goto cleanup;
	const struct vl_mls_key_package *kp = &m.key_package;
	const struct vl_mls_leaf_node *leaf = &kp->leaf_node;
	const struct vl_suite *s = vl_suite_get(kp->cipher_suite);
	if (kp->version != VL_MLS_VERSION_MLS10 || kp->cipher_suite != dev->suite || !s)
		goto cleanup;
	if (leaf->source != VL_MLS_LEAF_SOURCE_KEY_PACKAGE)
		goto cleanup;
	/* The credential names this device (ARCHITECTURE, MLS profile). */
	char identity[VL_PROTO_ADDRESS_MAX + VL_PROTO_DEVICE_MAX + 2];
	int n = snprintf(identity, sizeof identity, "%s#%s", dev->user, dev->name);
	if (n < 0 || (size_t)n >= sizeof identity ||
	    leaf->credential.type != VL_MLS_CREDENTIAL_BASIC ||
	    leaf->credential.identity.len != (size_t)n ||
	    memcmp(leaf->credential.identity.data, identity, (size_t)n) != 0)
		goto cleanup;
	if (leaf->signature_key.len != dev->sig_pub_len ||
	    memcmp(leaf->signature_key.data, dev->sig_pub, dev->sig_pub_len) != 0)
		goto cleanup;
	/* §10.1: init_key and the leaf's encryption_key must differ. */
	if (kp->init_key.len == leaf->encryption_key.len &&
	    memcmp(kp->init_key.data, leaf->encryption_key.data, kp->init_key.len) == 0)
		goto cleanup;
	if (vl_kem_check_public(s, kp->init_key.data, kp->init_key.len) != VL_OK ||
	    vl_kem_check_public(s, leaf->encryption_key.data, leaf->encryption_key.len) != VL_OK)
		goto cleanup;
	/* A package already expired cannot be used by anyone (§7.2). */
	if (leaf->lifetime.not_after < now || leaf->lifetime.not_before > leaf->lifetime.not_after)
		goto cleanup;
	if (vl_mls_leaf_node_tbs_encode(&w, leaf, NULL, 0) != VL_OK ||
	    verify_tbs(s, dev->sig_pub, dev->sig_pub_len, "LeafNodeTBS", &w, &leaf->signature))
		goto cleanup;
	vl_writer_cleanup(&w);
	vl_writer_init_heap(&w, VL_PROTO_KP_MAX);
	if (vl_mls_key_package_tbs_encode(&w, kp) != VL_OK ||
	    verify_tbs(s, dev->sig_pub, dev->sig_pub_len, "KeyPackageTBS", &w, &kp->signature))
		goto cleanup;
	rc = VL_OK;
cleanup:
	vl_writer_cleanup(&w);
	vl_mls_arena_cleanup(&a);
	return rc;
}

int vl_server_proposal_ref(uint16_t suite, const uint8_t *msg, size_t len, uint8_t ref[VL_HASH_MAX],
                           size_t *ref_len)
{
	struct vl_mls_arena a;
	struct vl_mls_message m;
	const struct vl_suite *s = vl_suite_get(suite);
	int rc = VL_ERR_INVALID;
	*ref_len = 0;
	vl_mls_arena_init(&a, 4u << 20);
	if (!s || vl_mls_message_parse(msg, len, &a, &m) != VL_OK ||
	    m.wire_format != VL_MLS_WIRE_PUBLIC_MESSAGE ||
	    m.public_message.content.content_type != VL_MLS_CONTENT_PROPOSAL ||
	    m.public_message.content.sender.type != VL_MLS_SENDER_MEMBER)
		goto cleanup;
	/* §5.2: the reference hashes the AuthenticatedContent, which is the
	 * PublicMessage without its version in front and its membership_tag
	 * at the end. The decoder accepts only canonical encodings, so the
	 * received bytes are that encoding: the tag is the message's last
	 * field, a minimal varint length and its bytes. */
	const struct vl_mls_bytes *tag = &m.public_message.membership_tag;
	size_t tag_field = vl_varint_size(tag->len) + tag->len;
	if (tag->data + tag->len != msg + len || len < 2 + tag_field)
		goto cleanup;
	if (vl_mls_proposal_ref(s, msg + 2, len - 2 - tag_field, ref) != VL_OK)
		goto cleanup;
	*ref_len = s->hash_len;
	rc = VL_OK;
cleanup:
	vl_mls_arena_cleanup(&a);
	return rc;
}
