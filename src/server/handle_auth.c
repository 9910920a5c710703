/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AUTH (docs/protocol.md §4.1): looks the device up, then checks on the
 * core's thread that its registered key signed this connection's
 * challenge. Every failure is the same auth_failed.
 */
#include <string.h>

#include "server/core.h"
#include "server/log.h"

struct auth_job {
	struct vl_core_job job;
	char user[VL_PROTO_ADDRESS_MAX + 1];
	char name[VL_PROTO_DEVICE_MAX + 1];
	uint8_t sig[VL_PROTO_SIGNATURE_MAX];
	size_t sig_len;
	struct vl_store_device dev;
	uint32_t stock;
};

static int auth_run(struct vl_store *st, struct vl_core_job *job)
{
	struct auth_job *j = (struct auth_job *)job;
	int rc = vl_store_device_get(st, j->user, j->name, &j->dev);
	if (rc == VL_OK && !j->dev.revoked)
		rc = vl_store_kp_count(st, j->dev.id, &j->stock);
	return rc;
}

static void auth_complete(struct vl_core_job *job)
{
	struct auth_job *j = (struct auth_job *)job;
	struct vl_conn *c = job->conn;
	struct vl_core *core = job->core;
	vl_conn_set_auth_pending(c, false);
	if (!vl_conn_alive(c))
		return;
	int rc = job->sj.status;
	const struct vl_suite *s = rc == VL_OK ? vl_suite_get(j->dev.suite) : NULL;
	if (rc == VL_OK && (j->dev.revoked || !s))
		rc = VL_ERR_AUTH;
	if (rc == VL_OK) {
		uint8_t tbs[512];
		struct vl_writer w;
		vl_writer_init_fixed(&w, tbs, sizeof tbs);
		const struct vl_core_config *cfg = vl_core_config(core);
		struct vl_bytes ch = {vl_conn_challenge(c), VL_PROTO_CHALLENGE_LEN};
		struct vl_bytes sn = {(const uint8_t *)cfg->server_name, strlen(cfg->server_name)};
		struct vl_bytes u = {(const uint8_t *)j->user, strlen(j->user)};
		struct vl_bytes d = {(const uint8_t *)j->name, strlen(j->name)};
		if (vl_proto_auth_tbs(&w, VL_PROTO_LABEL_AUTH, &ch, &sn, &u, &d) != VL_OK ||
		    vl_verify(s, j->dev.sig_pub, j->dev.sig_pub_len, tbs, w.len, j->sig,
		              j->sig_len) != VL_OK)
			rc = VL_ERR_AUTH;
	}
	if (rc != VL_OK) {
		vl_core_metrics_mut(core)->auth_failed++;
		vl_log(VL_LOG_INFO, "auth_failed", "conn=%llu user=%s device=%s",
		       (unsigned long long)vl_conn_id(c), j->user, j->name);
		/* The same answer whatever failed (protocol §4.1). */
		vl_conn_error(c, job->request_id,
		              rc == VL_ERR_AUTH || rc == VL_ERR_NOT_FOUND ? VL_PERR_AUTH_FAILED
		                                                          : VL_PERR_INTERNAL,
		              NULL);
		return;
	}
	vl_core_metrics_mut(core)->auth_ok++;
	vl_log(VL_LOG_DEBUG, "auth_ok", "conn=%llu user=%s device=%s",
	       (unsigned long long)vl_conn_id(c), j->user, j->name);
	uint8_t buf[32];
	struct vl_writer w;
	vl_writer_init_fixed(&w, buf, sizeof buf);
	struct vl_msg_auth_ok ok = {j->stock, j->dev.acked_seq};
	if (vl_msg_auth_ok_encode(&w, job->request_id, &ok) == VL_OK)
		vl_conn_send_writer(c, &w);
	if (j->stock < vl_core_config(core)->kp_low)
		vl_conn_push_kp_low(c, j->stock);
	vl_conn_set_authed(c, &j->dev);
}

void vl_handle_auth(struct vl_conn *c, const struct vl_frame *f)
{
	struct vl_msg_auth m;
	int rc = vl_msg_auth_decode(&f->body, &m);
	if (rc) {
		vl_conn_bad_body(c, f->request_id, rc);
		return;
	}
	struct auth_job *j = (struct auth_job *)vl_core_job_new(c, sizeof *j, f->request_id, NULL,
	                                                        0, auth_run, auth_complete);
	if (!j) {
		vl_conn_error(c, f->request_id, VL_PERR_INTERNAL, NULL);
		return;
	}
	memcpy(j->user, m.user.p, m.user.len);
	memcpy(j->name, m.device.p, m.device.len);
	memcpy(j->sig, m.signature.p, m.signature.len);
	j->sig_len = m.signature.len;
	vl_conn_set_auth_pending(c, true);
	vl_core_job_submit(&j->job);
}
