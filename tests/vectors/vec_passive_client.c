/* SPDX-License-Identifier: Apache-2.0 */
/* passive-client-*.json: join from a Welcome (with the tree inside or
 * given apart, with external PSKs), then follow every epoch's proposals
 * and commit, comparing the epoch authenticator each time (RFC 9420
 * §§12.4.2, 12.4.3). Usage: vec_passive_client [FILE] */
#include "crypto/crypto.h"
#include "valise/mls.h"
#include "vec_mls.h"

#define MAX_PSKS 32

struct psk_table {
	size_t n;
	uint8_t *id[MAX_PSKS], *psk[MAX_PSKS];
	size_t id_len[MAX_PSKS], psk_len[MAX_PSKS];
};

static int psk_lookup(void *ctx, const uint8_t *id, size_t id_len, const uint8_t **psk,
                      size_t *psk_len)
{
	const struct psk_table *t = ctx;
	for (size_t i = 0; i < t->n; i++)
		if (t->id_len[i] == id_len && memcmp(t->id[i], id, id_len) == 0) {
			*psk = t->psk[i];
			*psk_len = t->psk_len[i];
			return VL_OK;
		}
	return VL_ERR_NOT_FOUND;
}

static bool same_auth(const struct vl_group *g, json_t *obj, const char *key)
{
	uint8_t ea[64];
	size_t n;
	vl_group_epoch_authenticator(g, ea, &n);
	return vec_same(obj, key, ea, n);
}

static bool check_entry(json_t *e, const struct vl_suite *s)
{
	struct psk_table pt = {0};
	json_t *psks = json_object_get(e, "external_psks");
	size_t i;
	json_t *p;
	bool ok = json_array_size(psks) <= MAX_PSKS;
	json_array_foreach(psks, i, p)
	{
		if (!ok)
			break;
		pt.id[i] = tu_json_hex(p, "psk_id", &pt.id_len[i]);
		pt.psk[i] = tu_json_hex(p, "psk", &pt.psk_len[i]);
		pt.n = i + 1;
		ok = pt.id[i] && pt.psk[i];
	}
	size_t kp_len, ip_len, ep_len, sp_len, w_len, rt_len = 0;
	uint8_t *kpb = tu_json_hex(e, "key_package", &kp_len);
	uint8_t *ip = tu_json_hex(e, "init_priv", &ip_len);
	uint8_t *ep = tu_json_hex(e, "encryption_priv", &ep_len);
	uint8_t *sp = tu_json_hex(e, "signature_priv", &sp_len);
	uint8_t *wb = tu_json_hex(e, "welcome", &w_len);
	uint8_t *rt = json_is_string(json_object_get(e, "ratchet_tree"))
	                  ? tu_json_hex(e, "ratchet_tree", &rt_len)
	                  : NULL;
	struct vl_key_package *kp = NULL;
	struct vl_group *g = NULL;
	struct vl_group_config cfg = {.psk_lookup = psk_lookup, .psk_ctx = &pt};
	ok = ok && kpb && ip && ep && sp && wb &&
	     vl_key_package_from_parts(kpb, kp_len, ip, ep, sp, &kp) == VL_OK;
	int rc = ok ? vl_group_join(kp, wb, w_len, rt, rt_len, &cfg, &g) : VL_ERR_ARG;
	if (ok && rc != VL_OK)
		fprintf(stderr, "  join failed: %s\n", vl_strerror(rc));
	ok = ok && rc == VL_OK && same_auth(g, e, "initial_epoch_authenticator");
	json_t *epochs = json_object_get(e, "epochs");
	json_t *ep_obj;
	json_array_foreach(epochs, i, ep_obj)
	{
		if (!ok)
			break;
		json_t *props = json_object_get(ep_obj, "proposals");
		size_t j;
		json_t *pm;
		json_array_foreach(props, j, pm)
		{
			size_t n;
			uint8_t *b = tu_unhex(json_string_value(pm), &n);
			struct vl_group_msg out;
			rc = b ? vl_group_process(g, b, n, &out) : VL_ERR_ARG;
			if (rc != VL_OK) {
				fprintf(stderr, "  epoch %zu proposal %zu: %s\n", i, j,
				        vl_strerror(rc));
				ok = false;
			}
			free(out.data);
			free(b);
		}
		size_t n;
		uint8_t *cb = tu_json_hex(ep_obj, "commit", &n);
		struct vl_group_msg out;
		rc = ok && cb ? vl_group_process(g, cb, n, &out) : VL_ERR_ARG;
		if (ok && rc != VL_OK)
			fprintf(stderr, "  epoch %zu commit: %s\n", i, vl_strerror(rc));
		ok = ok && rc == VL_OK && same_auth(g, ep_obj, "epoch_authenticator");
		free(cb);
	}
	vl_group_free(g);
	vl_key_package_free(kp);
	for (size_t k = 0; k < pt.n; k++) {
		free(pt.id[k]);
		free(pt.psk[k]);
	}
	free(kpb);
	free(ip);
	free(ep);
	free(sp);
	free(wb);
	free(rt);
	return ok;
}

int main(int argc, char **argv)
{
	return vec_main(argc, argv, "mls/passive-client-welcome.json", check_entry,
	                "passive client diverged");
}
