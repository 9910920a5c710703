/* SPDX-License-Identifier: Apache-2.0 */
/* secret-tree.json: sender-data key and nonce, and the handshake and
 * application ratchets of every leaf at the listed generations (RFC 9420
 * §§6.3.2, 9). Usage: vec_secret_tree [FILE] */
#include "crypto/crypto.h"
#include "mls/secrettree.h"
#include "vec_mls.h"

static bool check_entry(json_t *e, const struct vl_suite *s)
{
	json_t *sd = json_object_get(e, "sender_data");
	size_t sds_len, ct_len, es_len;
	uint8_t *sds = tu_json_hex(sd, "sender_data_secret", &sds_len);
	uint8_t *ct = tu_json_hex(sd, "ciphertext", &ct_len);
	uint8_t *es = tu_json_hex(e, "encryption_secret", &es_len);
	json_t *leaves = json_object_get(e, "leaves");
	uint8_t key[VL_AEAD_KEY_MAX], nonce[VL_AEAD_NONCE_MAX];
	bool ok = sds && ct && es && sds_len == s->hash_len && es_len == s->hash_len &&
	          json_is_array(leaves) && json_array_size(leaves) > 0;
	ok = ok && mls_sender_data_key_nonce(s, sds, ct, ct_len, key, nonce) == VL_OK &&
	     vec_same(sd, "key", key, s->aead_key_len) &&
	     vec_same(sd, "nonce", nonce, s->aead_nonce_len);
	struct mls_secret_tree st;
	/* A window as large as the biggest jump in the file keeps every key. */
	ok = ok &&
	     mls_secret_tree_init(&st, s, es, (uint32_t)json_array_size(leaves), 64, 0) == VL_OK;
	if (!ok)
		goto done;
	size_t leaf;
	json_t *gens;
	json_array_foreach(leaves, leaf, gens)
	{
		size_t j;
		json_t *g;
		json_array_foreach(gens, j, g)
		{
			uint64_t gen;
			ok = ok && tu_json_uint(g, "generation", &gen) && gen <= UINT32_MAX;
			ok = ok &&
			     mls_secret_tree_get(&st, (uint32_t)leaf, MLS_RATCHET_HANDSHAKE,
			                         (uint32_t)gen, key, nonce) == VL_OK &&
			     vec_same(g, "handshake_key", key, s->aead_key_len) &&
			     vec_same(g, "handshake_nonce", nonce, s->aead_nonce_len);
			ok = ok &&
			     mls_secret_tree_get(&st, (uint32_t)leaf, MLS_RATCHET_APPLICATION,
			                         (uint32_t)gen, key, nonce) == VL_OK &&
			     vec_same(g, "application_key", key, s->aead_key_len) &&
			     vec_same(g, "application_nonce", nonce, s->aead_nonce_len);
			/* Forward secrecy: a used key is gone. */
			ok = ok && mls_secret_tree_get(&st, (uint32_t)leaf, MLS_RATCHET_APPLICATION,
			                               (uint32_t)gen, key, nonce) == VL_ERR_INVALID;
		}
	}
	mls_secret_tree_cleanup(&st);
done:
	free(sds);
	free(ct);
	free(es);
	return ok;
}

int main(int argc, char **argv)
{
	return vec_main(argc, argv, "mls/secret-tree.json", check_entry, "secret tree mismatch");
}
