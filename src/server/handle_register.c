/* SPDX-License-Identifier: Apache-2.0 */
/*
 * REGISTER (docs/protocol.md §4.1): proof of possession of the signature
 * key over this connection's challenge, then the invite is consumed and
 * the key bound to user#device in one store operation.
 */
#include <stdlib.h>
#include <string.h>

#include "server/core.h"
#include "server/log.h"

struct register_job {
	struct vl_core_job job;
	uint8_t invite_key[32];
	char user[VL_PROTO_ADDRESS_MAX + 1];
	char name[VL_PROTO_DEVICE_MAX + 1];
	uint16_t suite;
	uint8_t sig_pub[VL_PROTO_SIG_KEY_MAX];
	size_t sig_pub_len;
	unsigned max_devices;
	uint64_t now;
	struct vl_store_device dev;
};

static int register_run(struct vl_store *st, struct vl_core_job *job)
{
	struct register_job *j = (struct register_job *)job;
	return vl_store_device_register(st, j->invite_key, sizeof j->invite_key, j->user, j->name,
	                                j->suite, j->sig_pub, j->sig_pub_len, j->max_devices,
	                                j->now, &j->dev);
}

static void register_complete(struct vl_core_job *job)
{
	struct register_job *j = (struct register_job *)job;
	struct vl_conn *c = job->conn;
	struct vl_core *core = job->core;
	vl_conn_set_auth_pending(c, false);
	int rc = job->sj.status;
	vl_wipe(j->invite_key, sizeof j->invite_key);
	if (!vl_conn_alive(c))
		return;
	if (rc != VL_OK) {
		unsigned code = rc == VL_ERR_AUTH ? VL_PERR_INVALID_INVITE : vl_core_error_of(rc);
		vl_log(VL_LOG_INFO, "register_refused", "conn=%llu user=%s device=%s error=%s",
		       (unsigned long long)vl_conn_id(c), j->user, j->name,
		       vl_proto_error_name(code));
		vl_conn_error(c, job->request_id, code, NULL);
		return;
	}
	vl_core_metrics_mut(core)->registered++;
	vl_log(VL_LOG_INFO, "device_registered", "conn=%llu user=%s device=%s suite=%u",
	       (unsigned long long)vl_conn_id(c), j->user, j->name, j->suite);
	vl_conn_reply_empty(c, VL_FRAME_REGISTER, job->request_id);
	vl_conn_set_authed(c, &j->dev);
}

void vl_handle_register(struct vl_conn *c, const struct vl_frame *f)
{
	struct vl_core *core = vl_conn_core(c);
	struct vl_msg_register m;
	int rc = vl_msg_register_decode(&f->body, &m);
	if (rc) {
		vl_conn_bad_body(c, f->request_id, rc);
		return;
	}
	const struct vl_suite *s = vl_suite_get(m.cipher_suite);
	if (!s || m.signature_key.len != s->sig_pub_len) {
		vl_conn_error(c, f->request_id, VL_PERR_INVALID, "cipher suite or key length");
		return;
	}
	if (m.invite.len == 0) {
		vl_conn_error(c, f->request_id, VL_PERR_INVALID_INVITE, NULL);
		return;
	}
	/* Proof of possession: the key signs this connection's challenge. */
	uint8_t tbs[512];
	struct vl_writer w;
	vl_writer_init_fixed(&w, tbs, sizeof tbs);
	const struct vl_core_config *cfg = vl_core_config(core);
	struct vl_bytes ch = {vl_conn_challenge(c), VL_PROTO_CHALLENGE_LEN};
	struct vl_bytes sn = {(const uint8_t *)cfg->server_name, strlen(cfg->server_name)};
	if (vl_proto_auth_tbs(&w, VL_PROTO_LABEL_REGISTER, &ch, &sn, &m.user, &m.device) != VL_OK ||
	    vl_verify(s, m.signature_key.p, m.signature_key.len, tbs, w.len, m.signature.p,
	              m.signature.len) != VL_OK) {
		vl_core_metrics_mut(core)->auth_failed++;
		vl_conn_error(c, f->request_id, VL_PERR_AUTH_FAILED, NULL);
		return;
	}
	struct register_job *j = (struct register_job *)vl_core_job_new(
	    c, sizeof *j, f->request_id, NULL, 0, register_run, register_complete);
	if (!j) {
		vl_conn_error(c, f->request_id, VL_PERR_INTERNAL, NULL);
		return;
	}
	if (vl_core_invite_key(m.invite.p, m.invite.len, j->invite_key) != VL_OK) {
		vl_conn_error(c, f->request_id, VL_PERR_INTERNAL, NULL);
		j->job.complete = NULL;
		free(j);
		return;
	}
	memcpy(j->user, m.user.p, m.user.len);
	memcpy(j->name, m.device.p, m.device.len);
	j->suite = m.cipher_suite;
	memcpy(j->sig_pub, m.signature_key.p, m.signature_key.len);
	j->sig_pub_len = m.signature_key.len;
	j->max_devices = cfg->max_devices;
	j->now = vl_core_now(core);
	vl_conn_set_auth_pending(c, true);
	vl_core_job_submit(&j->job);
}
