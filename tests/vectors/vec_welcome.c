/* SPDX-License-Identifier: Apache-2.0 */
/* welcome.json: find the KeyPackage's entry in a Welcome, decrypt the
 * GroupSecrets and the GroupInfo, verify the GroupInfo signature and its
 * confirmation tag (RFC 9420 §12.4.3.1). Usage: vec_welcome [FILE] */
#include "crypto/crypto.h"
#include "mls/keyschedule.h"
#include "mls/struct/struct.h"
#include "vec_mls.h"

static bool check_entry(json_t *e, const struct vl_suite *s)
{
	size_t ip_len, sp_len, kp_len, w_len;
	uint8_t *ip = tu_json_hex(e, "init_priv", &ip_len);
	uint8_t *sp = tu_json_hex(e, "signer_pub", &sp_len);
	uint8_t *kpb = tu_json_hex(e, "key_package", &kp_len);
	uint8_t *wb = tu_json_hex(e, "welcome", &w_len);
	struct vl_mls_arena a;
	struct vl_mls_message kpm, wm;
	uint8_t *kp_enc = NULL, *gs_plain = NULL, *gi_plain = NULL, *gc = NULL;
	size_t kp_enc_len = 0, gc_len = 0;
	uint8_t ref[VL_HASH_MAX];
	vl_mls_arena_init(&a, 0);
	bool ok =
	    ip && sp && kpb && wb && ip_len == s->kem_priv_len &&
	    vl_mls_message_parse(kpb, kp_len, &a, &kpm) == VL_OK &&
	    kpm.wire_format == VL_MLS_WIRE_KEY_PACKAGE &&
	    vl_mls_message_parse(wb, w_len, &a, &wm) == VL_OK &&
	    wm.wire_format == VL_MLS_WIRE_WELCOME &&
	    vl_mls_key_package_encode_alloc(&kpm.key_package, &kp_enc, &kp_enc_len) == VL_OK &&
	    vl_mls_key_package_ref(s, kp_enc, kp_enc_len, ref) == VL_OK;
	const struct vl_mls_welcome *w = &wm.welcome;
	const struct vl_mls_encrypted_group_secrets *egs = NULL;
	for (size_t i = 0; ok && i < w->secret_count; i++)
		if (w->secrets[i].new_member.len == s->hash_len &&
		    memcmp(w->secrets[i].new_member.data, ref, s->hash_len) == 0)
			egs = &w->secrets[i];
	ok = ok && egs && egs->encrypted_group_secrets.ciphertext.len >= VL_AEAD_TAG_LEN &&
	     w->encrypted_group_info.len >= VL_AEAD_TAG_LEN;
	size_t gs_len = ok ? egs->encrypted_group_secrets.ciphertext.len - VL_AEAD_TAG_LEN : 0;
	size_t gi_len = ok ? w->encrypted_group_info.len - VL_AEAD_TAG_LEN : 0;
	gs_plain = malloc(gs_len + 1);
	gi_plain = malloc(gi_len + 1);
	struct vl_mls_group_secrets gs;
	ok = ok && gs_plain && gi_plain &&
	     vl_mls_decrypt_with_label(
	         s, ip, "Welcome", w->encrypted_group_info.data, w->encrypted_group_info.len,
	         egs->encrypted_group_secrets.kem_output.data,
	         egs->encrypted_group_secrets.kem_output.len,
	         egs->encrypted_group_secrets.ciphertext.data,
	         egs->encrypted_group_secrets.ciphertext.len, gs_plain) == VL_OK &&
	     vl_mls_group_secrets_parse(gs_plain, gs_len, &a, &gs) == VL_OK &&
	     gs.joiner_secret.len == s->hash_len && gs.psk_count == 0;
	uint8_t ws[VL_HASH_MAX], key[VL_AEAD_KEY_MAX], nonce[VL_AEAD_NONCE_MAX];
	struct vl_mls_group_info gi;
	ok = ok && mls_ks_welcome_secret(s, gs.joiner_secret.data, NULL, ws) == VL_OK &&
	     mls_ks_welcome_key_nonce(s, ws, key, nonce) == VL_OK &&
	     vl_aead_open(s, key, nonce, NULL, 0, w->encrypted_group_info.data,
	                  w->encrypted_group_info.len, gi_plain) == VL_OK &&
	     vl_mls_group_info_parse(gi_plain, gi_len, &a, &gi) == VL_OK;
	struct vl_writer tw;
	vl_writer_init_heap(&tw, 1u << 24);
	ok = ok && vl_mls_group_info_tbs_encode(&tw, &gi) == VL_OK &&
	     vl_mls_verify_with_label(s, sp, sp_len, "GroupInfoTBS", tw.buf, tw.len,
	                              gi.signature.data, gi.signature.len) == VL_OK;
	vl_writer_cleanup(&tw);
	struct mls_epoch_secrets es;
	memset(&es, 0, sizeof es);
	ok = ok && vl_mls_group_context_encode_alloc(&gi.group_context, &gc, &gc_len) == VL_OK &&
	     gi.group_context.confirmed_transcript_hash.len == s->hash_len;
	if (ok) {
		memcpy(es.joiner, gs.joiner_secret.data, s->hash_len);
		ok = mls_ks_from_joiner(s, NULL, gc, gc_len, &es) == VL_OK &&
		     mls_confirmation_tag_verify(
		         s, es.confirmation_key, gi.group_context.confirmed_transcript_hash.data,
		         gi.confirmation_tag.data, gi.confirmation_tag.len) == VL_OK;
	}
	mls_epoch_secrets_wipe(&es);
	vl_mls_arena_cleanup(&a);
	free(ip);
	free(sp);
	free(kpb);
	free(wb);
	free(kp_enc);
	free(gs_plain);
	free(gi_plain);
	free(gc);
	return ok;
}

int main(int argc, char **argv)
{
	return vec_main(argc, argv, "mls/welcome.json", check_entry, "welcome mismatch");
}
