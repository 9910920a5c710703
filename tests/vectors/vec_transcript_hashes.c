/* SPDX-License-Identifier: Apache-2.0 */
/* transcript-hashes.json: confirmed and interim transcript hashes after a
 * commit, and its confirmation tag (RFC 9420 §§6.1, 8.2).
 * Usage: vec_transcript_hashes [FILE] */
#include "crypto/crypto.h"
#include "mls/framing.h"
#include "mls/keyschedule.h"
#include "vec_mls.h"

static bool check_entry(json_t *e, const struct vl_suite *s)
{
	size_t ck_len, ac_len, ib_len, ca_len;
	uint8_t *ck = tu_json_hex(e, "confirmation_key", &ck_len);
	uint8_t *ac = tu_json_hex(e, "authenticated_content", &ac_len);
	uint8_t *ib = tu_json_hex(e, "interim_transcript_hash_before", &ib_len);
	uint8_t *ca = tu_json_hex(e, "confirmed_transcript_hash_after", &ca_len);
	struct vl_mls_arena a;
	struct vl_mls_authenticated_content c;
	uint8_t confirmed[VL_HASH_MAX], interim[VL_HASH_MAX];
	vl_mls_arena_init(&a, 0);
	bool ok = ck && ac && ib && ca && ck_len == s->hash_len && ib_len == s->hash_len &&
	          ca_len == s->hash_len;
	ok = ok && vl_mls_authenticated_content_parse(ac, ac_len, &a, &c) == VL_OK &&
	     c.content.content_type == VL_MLS_CONTENT_COMMIT;
	ok = ok && mls_confirmation_tag_verify(s, ck, ca, c.auth.confirmation_tag.data,
	                                       c.auth.confirmation_tag.len) == VL_OK;
	ok = ok &&
	     mls_transcript_update(s, ib, c.wire_format, &c.content, &c.auth, confirmed, interim) ==
	         VL_OK &&
	     vec_same(e, "confirmed_transcript_hash_after", confirmed, s->hash_len) &&
	     vec_same(e, "interim_transcript_hash_after", interim, s->hash_len);
	vl_mls_arena_cleanup(&a);
	free(ck);
	free(ac);
	free(ib);
	free(ca);
	return ok;
}

int main(int argc, char **argv)
{
	return vec_main(argc, argv, "mls/transcript-hashes.json", check_entry,
	                "transcript hash mismatch");
}
