/* SPDX-License-Identifier: Apache-2.0 */
/* psk_secret.json: psk_secret over a list of external PSKs (RFC 9420
 * §8.4). Usage: vec_psk_secret [FILE] */
#include "crypto/crypto.h"
#include "mls/keyschedule.h"
#include "vec_mls.h"

#define MAX_PSKS 64

static bool check_entry(json_t *e, const struct vl_suite *s)
{
	json_t *list = json_object_get(e, "psks");
	size_t n = json_array_size(list);
	if (!json_is_array(list) || n > MAX_PSKS)
		return false;
	struct mls_psk psks[MAX_PSKS];
	uint8_t *bufs[3 * MAX_PSKS] = {0};
	bool ok = true;
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_array_get(list, i);
		psks[i] = (struct mls_psk){.type = MLS_PSK_EXTERNAL};
		bufs[3 * i] = tu_json_hex(p, "psk_id", &psks[i].psk_id_len);
		bufs[3 * i + 1] = tu_json_hex(p, "psk_nonce", &psks[i].nonce_len);
		bufs[3 * i + 2] = tu_json_hex(p, "psk", &psks[i].secret_len);
		psks[i].psk_id = bufs[3 * i];
		psks[i].nonce = bufs[3 * i + 1];
		psks[i].secret = bufs[3 * i + 2];
		ok = ok && bufs[3 * i] && bufs[3 * i + 1] && bufs[3 * i + 2];
	}
	uint8_t out[VL_HASH_MAX];
	ok = ok && mls_psk_secret(s, psks, n, out) == VL_OK &&
	     vec_same(e, "psk_secret", out, s->hash_len);
	for (size_t i = 0; i < 3 * n; i++)
		free(bufs[i]);
	return ok;
}

int main(int argc, char **argv)
{
	return vec_main(argc, argv, "mls/psk_secret.json", check_entry, "psk_secret mismatch");
}
