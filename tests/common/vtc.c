/* SPDX-License-Identifier: Apache-2.0 */
/* The transport-free test client of tests/common/vtc.h. */
#include "vtc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mls/struct/struct.h"

int vtc_device_init(struct vtc_device *d, const char *user, const char *name, uint16_t suite)
{
	memset(d, 0, sizeof *d);
	const struct vl_suite *s = vl_suite_get(suite);
	if (!s || strlen(user) > VL_PROTO_ADDRESS_MAX || strlen(name) > VL_PROTO_DEVICE_MAX)
		return VL_ERR_ARG;
	strcpy(d->user, user);
	strcpy(d->name, name);
	d->suite = suite;
	d->pub_len = s->sig_pub_len;
	return vl_sig_generate(s, d->priv, d->pub);
}

int vtc_device_init_seed(struct vtc_device *d, const char *user, const char *name, uint16_t suite,
                         const uint8_t seed[32])
{
	int rc = vtc_device_init(d, user, name, suite);
	if (rc)
		return rc;
	const struct vl_suite *s = vl_suite_get(suite);
	memcpy(d->priv, seed, s->sig_priv_len);
	return vl_sig_public_from_private(s, d->priv, d->pub);
}

void vtc_device_cleanup(struct vtc_device *d)
{
	vl_wipe(d->priv, sizeof d->priv);
}

int vtc_challenge_parse(const uint8_t *frame, size_t len, struct vtc_challenge *out)
{
	struct vl_frame f;
	struct vl_msg_challenge m;
	int rc = vl_frame_decode(frame, len, VL_PROTO_FRAME_MAX, &f);
	if (rc)
		return rc;
	if (f.type != VL_FRAME_CHALLENGE)
		return VL_ERR_PROTOCOL;
	if ((rc = vl_msg_challenge_decode(&f.body, &m)))
		return rc;
	memcpy(out->challenge, m.challenge.p, VL_PROTO_CHALLENGE_LEN);
	memcpy(out->server_name, m.server_name.p, m.server_name.len);
	out->server_name[m.server_name.len] = 0;
	return VL_OK;
}

static int sign_tbs(const struct vtc_device *d, const char *label, const struct vtc_challenge *ch,
                    uint8_t *sig, size_t *sig_len)
{
	uint8_t tbs[600];
	struct vl_writer w;
	vl_writer_init_fixed(&w, tbs, sizeof tbs);
	struct vl_bytes c = {ch->challenge, VL_PROTO_CHALLENGE_LEN};
	struct vl_bytes sn = {(const uint8_t *)ch->server_name, strlen(ch->server_name)};
	struct vl_bytes u = {(const uint8_t *)d->user, strlen(d->user)};
	struct vl_bytes n = {(const uint8_t *)d->name, strlen(d->name)};
	int rc = vl_proto_auth_tbs(&w, label, &c, &sn, &u, &n);
	if (rc)
		return rc;
	return vl_sign(vl_suite_get(d->suite), d->priv, tbs, w.len, sig, sig_len);
}

int vtc_register_frame(struct vl_writer *w, uint32_t id, const struct vtc_device *d,
                       const char *invite, const struct vtc_challenge *ch)
{
	uint8_t sig[VL_SIG_MAX];
	size_t sig_len;
	int rc = sign_tbs(d, VL_PROTO_LABEL_REGISTER, ch, sig, &sig_len);
	if (rc)
		return rc;
	struct vl_msg_register m = {
	    {(const uint8_t *)invite, strlen(invite)},
	    {(const uint8_t *)d->user, strlen(d->user)},
	    {(const uint8_t *)d->name, strlen(d->name)},
	    d->suite,
	    {d->pub, d->pub_len},
	    {sig, sig_len},
	};
	return vl_msg_register_encode(w, id, &m);
}

int vtc_auth_frame(struct vl_writer *w, uint32_t id, const struct vtc_device *d,
                   const struct vtc_challenge *ch)
{
	uint8_t sig[VL_SIG_MAX];
	size_t sig_len;
	int rc = sign_tbs(d, VL_PROTO_LABEL_AUTH, ch, sig, &sig_len);
	if (rc)
		return rc;
	struct vl_msg_auth m = {
	    {(const uint8_t *)d->user, strlen(d->user)},
	    {(const uint8_t *)d->name, strlen(d->name)},
	    {sig, sig_len},
	};
	return vl_msg_auth_encode(w, id, &m);
}

static int sign_label(const struct vtc_device *d, const char *label, struct vl_writer *tbs,
                      uint8_t *sig, size_t *sig_len)
{
	if (tbs->err)
		return tbs->err;
	return vl_mls_sign_with_label(vl_suite_get(d->suite), d->priv, label, tbs->buf, tbs->len,
	                              sig, sig_len);
}

int vtc_key_package(const struct vtc_device *d, const char *identity, uint8_t **out,
                    size_t *out_len)
{
	const struct vl_suite *s = vl_suite_get(d->suite);
	uint8_t init_priv[VL_KEM_PRIV_MAX], init_pub[VL_KEM_PUB_MAX];
	uint8_t enc_priv[VL_KEM_PRIV_MAX], enc_pub[VL_KEM_PUB_MAX];
	uint8_t leaf_sig[VL_SIG_MAX], kp_sig[VL_SIG_MAX];
	size_t leaf_sig_len = 0, kp_sig_len = 0;
	char id[VL_PROTO_ADDRESS_MAX + VL_PROTO_DEVICE_MAX + 2];
	int rc;
	if ((rc = vl_kem_generate(s, init_priv, init_pub)) ||
	    (rc = vl_kem_generate(s, enc_priv, enc_pub)))
		return rc;
	vl_wipe(init_priv, sizeof init_priv);
	vl_wipe(enc_priv, sizeof enc_priv);
	if (identity)
		snprintf(id, sizeof id, "%s", identity);
	else
		snprintf(id, sizeof id, "%s#%s", d->user, d->name);
	static const uint16_t versions[] = {VL_MLS_VERSION_MLS10};
	static const uint16_t creds[] = {VL_MLS_CREDENTIAL_BASIC, VL_MLS_CREDENTIAL_X509};
	uint16_t suites[] = {d->suite};
	uint64_t now = (uint64_t)time(NULL);
	struct vl_mls_message m;
	memset(&m, 0, sizeof m);
	m.version = VL_MLS_VERSION_MLS10;
	m.wire_format = VL_MLS_WIRE_KEY_PACKAGE;
	struct vl_mls_key_package *kp = &m.key_package;
	kp->version = VL_MLS_VERSION_MLS10;
	kp->cipher_suite = d->suite;
	kp->init_key = (struct vl_mls_bytes){init_pub, s->kem_pub_len};
	struct vl_mls_leaf_node *leaf = &kp->leaf_node;
	leaf->encryption_key = (struct vl_mls_bytes){enc_pub, s->kem_pub_len};
	leaf->signature_key = (struct vl_mls_bytes){d->pub, d->pub_len};
	leaf->credential.type = VL_MLS_CREDENTIAL_BASIC;
	leaf->credential.identity = (struct vl_mls_bytes){(const uint8_t *)id, strlen(id)};
	leaf->capabilities.versions = (struct vl_mls_u16_list){versions, 1};
	leaf->capabilities.cipher_suites = (struct vl_mls_u16_list){suites, 1};
	leaf->capabilities.credentials = (struct vl_mls_u16_list){creds, 2};
	leaf->source = VL_MLS_LEAF_SOURCE_KEY_PACKAGE;
	leaf->lifetime = (struct vl_mls_lifetime){now - 3600, now + 90 * 86400};
	struct vl_writer w;
	vl_writer_init_heap(&w, 1 << 16);
	rc = vl_mls_leaf_node_tbs_encode(&w, leaf, NULL, 0);
	if (rc == VL_OK)
		rc = sign_label(d, "LeafNodeTBS", &w, leaf_sig, &leaf_sig_len);
	vl_writer_cleanup(&w);
	if (rc)
		return rc;
	leaf->signature = (struct vl_mls_bytes){leaf_sig, leaf_sig_len};
	vl_writer_init_heap(&w, 1 << 16);
	rc = vl_mls_key_package_tbs_encode(&w, kp);
	if (rc == VL_OK)
		rc = sign_label(d, "KeyPackageTBS", &w, kp_sig, &kp_sig_len);
	vl_writer_cleanup(&w);
	if (rc)
		return rc;
	kp->signature = (struct vl_mls_bytes){kp_sig, kp_sig_len};
	return vl_mls_message_encode_alloc(&m, out, out_len);
}

static const uint8_t placeholder[64] = {0x5a};

int vtc_commit_message(const uint8_t *gid, size_t gid_len, uint64_t epoch,
                       const struct vtc_device *const *adds, size_t n_adds, uint8_t **out,
                       size_t *out_len)
{
	return vtc_commit_message_from(gid, gid_len, epoch, 0, adds, n_adds, NULL, 0, out, out_len);
}

int vtc_commit_message_from(const uint8_t *gid, size_t gid_len, uint64_t epoch, uint32_t sender,
                            const struct vtc_device *const *adds, size_t n_adds,
                            const uint32_t *removes, size_t n_removes, uint8_t **out,
                            size_t *out_len)
{
	struct vl_mls_arena a;
	vl_mls_arena_init(&a, 0);
	size_t n_props = n_adds + n_removes;
	struct vl_mls_proposal_or_ref *props = calloc(n_props ? n_props : 1, sizeof *props);
	uint8_t **kps = calloc(n_adds ? n_adds : 1, sizeof *kps);
	int rc = props && kps ? VL_OK : VL_ERR_NOMEM;
	for (size_t i = 0; rc == VL_OK && i < n_adds; i++) {
		size_t len;
		struct vl_mls_message km;
		rc = vtc_key_package(adds[i], NULL, &kps[i], &len);
		if (rc == VL_OK)
			rc = vl_mls_message_parse(kps[i], len, &a, &km);
		if (rc == VL_OK) {
			props[i].type = VL_MLS_POR_PROPOSAL;
			props[i].proposal.type = VL_MLS_PROPOSAL_ADD;
			props[i].proposal.add = km.key_package;
		}
	}
	for (size_t i = 0; rc == VL_OK && i < n_removes; i++) {
		props[n_adds + i].type = VL_MLS_POR_PROPOSAL;
		props[n_adds + i].proposal.type = VL_MLS_PROPOSAL_REMOVE;
		props[n_adds + i].proposal.remove = removes[i];
	}
	if (rc == VL_OK) {
		struct vl_mls_message m;
		memset(&m, 0, sizeof m);
		m.version = VL_MLS_VERSION_MLS10;
		m.wire_format = VL_MLS_WIRE_PUBLIC_MESSAGE;
		struct vl_mls_public_message *pm = &m.public_message;
		pm->content.group_id = (struct vl_mls_bytes){gid, gid_len};
		pm->content.epoch = epoch;
		pm->content.sender = (struct vl_mls_sender){VL_MLS_SENDER_MEMBER, sender};
		pm->content.content_type = VL_MLS_CONTENT_COMMIT;
		pm->content.commit.proposals = props;
		pm->content.commit.proposal_count = n_props;
		pm->auth.signature = (struct vl_mls_bytes){placeholder, 64};
		pm->auth.confirmation_tag = (struct vl_mls_bytes){placeholder, 32};
		pm->membership_tag = (struct vl_mls_bytes){placeholder, 32};
		rc = vl_mls_message_encode_alloc(&m, out, out_len);
	}
	for (size_t i = 0; kps && i < n_adds; i++)
		free(kps[i]);
	free(kps);
	free(props);
	vl_mls_arena_cleanup(&a);
	return rc;
}

int vtc_private_message(const uint8_t *gid, size_t gid_len, uint64_t epoch, size_t len,
                        uint8_t **out, size_t *out_len)
{
	uint8_t *ct = malloc(len ? len : 1);
	if (!ct)
		return VL_ERR_NOMEM;
	for (size_t i = 0; i < len; i++)
		ct[i] = (uint8_t)(i * 31 + 7);
	struct vl_mls_message m;
	memset(&m, 0, sizeof m);
	m.version = VL_MLS_VERSION_MLS10;
	m.wire_format = VL_MLS_WIRE_PRIVATE_MESSAGE;
	struct vl_mls_private_message *pm = &m.private_message;
	pm->group_id = (struct vl_mls_bytes){gid, gid_len};
	pm->epoch = epoch;
	pm->content_type = VL_MLS_CONTENT_APPLICATION;
	pm->encrypted_sender_data = (struct vl_mls_bytes){placeholder, 28};
	pm->ciphertext = (struct vl_mls_bytes){ct, len};
	int rc = vl_mls_message_encode_alloc(&m, out, out_len);
	free(ct);
	return rc;
}

int vtc_welcome_message(uint16_t suite, uint8_t **out, size_t *out_len)
{
	struct vl_mls_encrypted_group_secrets egs = {{placeholder, 32},
	                                             {{placeholder, 32}, {placeholder, 48}}};
	struct vl_mls_message m;
	memset(&m, 0, sizeof m);
	m.version = VL_MLS_VERSION_MLS10;
	m.wire_format = VL_MLS_WIRE_WELCOME;
	m.welcome.cipher_suite = suite;
	m.welcome.secrets = &egs;
	m.welcome.secret_count = 1;
	m.welcome.encrypted_group_info = (struct vl_mls_bytes){placeholder, 64};
	return vl_mls_message_encode_alloc(&m, out, out_len);
}
