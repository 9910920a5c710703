/* SPDX-License-Identifier: Apache-2.0 */
/* key-schedule.json: GroupContext, epoch secrets, external_pub and the
 * exporter over a chain of epochs (RFC 9420 §8). One line per suite.
 * Usage: vec_key_schedule [FILE] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "mls/keyschedule.h"
#include "vec_mls.h"

/* Checks every epoch of one entry; returns false at the first mismatch. */
static bool check_entry(json_t *e, const struct vl_suite *s)
{
	size_t gid_len, init_len;
	uint8_t *gid = tu_json_hex(e, "group_id", &gid_len);
	uint8_t *init = tu_json_hex(e, "initial_init_secret", &init_len);
	json_t *epochs = json_object_get(e, "epochs");
	bool ok = gid && init && init_len == s->hash_len && json_is_array(epochs);
	uint8_t prev_init[VL_HASH_MAX];
	if (ok)
		memcpy(prev_init, init, s->hash_len);
	size_t i;
	json_t *ep;
	json_array_foreach(epochs, i, ep)
	{
		if (!ok)
			break;
		size_t th_len, cth_len, cs_len, psk_len, ctx_len, lab_len;
		uint8_t *th = tu_json_hex(ep, "tree_hash", &th_len);
		uint8_t *cth = tu_json_hex(ep, "confirmed_transcript_hash", &cth_len);
		uint8_t *cs = tu_json_hex(ep, "commit_secret", &cs_len);
		uint8_t *psk = tu_json_hex(ep, "psk_secret", &psk_len);
		json_t *ex = json_object_get(ep, "exporter");
		/* The exporter label is a string: its characters are the label. */
		const char *label = json_string_value(json_object_get(ex, "label"));
		lab_len = label ? strlen(label) : 0;
		uint8_t *ctx = tu_json_hex(ex, "context", &ctx_len);
		uint64_t exp_len = 0;
		uint8_t *gc = NULL;
		size_t gc_len = 0;
		ok = th && cth && cs && psk && label && ctx && th_len == s->hash_len &&
		     cth_len == s->hash_len && cs_len == s->hash_len && psk_len == s->hash_len &&
		     tu_json_uint(ex, "length", &exp_len) && exp_len <= 1024;
		ok = ok && mls_group_context_encode(s, gid, gid_len, i, th, cth, NULL, 0, &gc,
		                                    &gc_len) == VL_OK;
		ok = ok && vec_same(ep, "group_context", gc, gc_len);
		struct mls_epoch_secrets es;
		memset(&es, 0, sizeof es);
		ok = ok && mls_ks_joiner(s, prev_init, cs, gc, gc_len, es.joiner) == VL_OK &&
		     mls_ks_from_joiner(s, psk, gc, gc_len, &es) == VL_OK;
		size_t nh = s->hash_len;
		ok = ok && vec_same(ep, "joiner_secret", es.joiner, nh) &&
		     vec_same(ep, "welcome_secret", es.welcome, nh) &&
		     vec_same(ep, "init_secret", es.init, nh) &&
		     vec_same(ep, "sender_data_secret", es.sender_data, nh) &&
		     vec_same(ep, "encryption_secret", es.encryption, nh) &&
		     vec_same(ep, "exporter_secret", es.exporter, nh) &&
		     vec_same(ep, "epoch_authenticator", es.epoch_authenticator, nh) &&
		     vec_same(ep, "external_secret", es.external, nh) &&
		     vec_same(ep, "confirmation_key", es.confirmation_key, nh) &&
		     vec_same(ep, "membership_key", es.membership_key, nh) &&
		     vec_same(ep, "resumption_psk", es.resumption_psk, nh);
		uint8_t pub[VL_KEM_PUB_MAX];
		ok = ok && mls_ks_external_keypair(s, es.external, NULL, pub) == VL_OK &&
		     vec_same(ep, "external_pub", pub, s->kem_pub_len);
		uint8_t out[1024];
		ok = ok &&
		     mls_ks_export(s, es.exporter, (const uint8_t *)label, lab_len, ctx, ctx_len,
		                   out, (uint16_t)exp_len) == VL_OK &&
		     vec_same(ex, "secret", out, exp_len);
		/* The welcome secret alone, as a joiner computes it. */
		uint8_t ws[VL_HASH_MAX];
		ok = ok && mls_ks_welcome_secret(s, es.joiner, psk, ws) == VL_OK &&
		     vec_same(ep, "welcome_secret", ws, nh);
		memcpy(prev_init, es.init, nh);
		mls_epoch_secrets_wipe(&es);
		free(th);
		free(cth);
		free(cs);
		free(psk);
		free(ctx);
		free(gc);
	}
	free(gid);
	free(init);
	return ok;
}

int main(int argc, char **argv)
{
	return vec_main(argc, argv, "mls/key-schedule.json", check_entry, "key schedule mismatch");
}
