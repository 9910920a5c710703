/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DEVICE_REVOKE (docs/protocol.md §4.2): a device of the caller's own user
 * is revoked for good; if it is connected, it is told and disconnected.
 */
#include <string.h>

#include "server/core.h"
#include "server/log.h"

struct revoke_job {
	struct vl_core_job job;
	int64_t user_id;
	char name[VL_PROTO_DEVICE_MAX + 1];
	int64_t device_id;
};

static int revoke_run(struct vl_store *st, struct vl_core_job *job)
{
	struct revoke_job *j = (struct revoke_job *)job;
	return vl_store_device_revoke(st, j->user_id, j->name, &j->device_id);
}

static void revoke_complete(struct vl_core_job *job)
{
	struct revoke_job *j = (struct revoke_job *)job;
	struct vl_conn *c = job->conn;
	struct vl_core *core = job->core;
	int rc = job->sj.status;
	if (rc != VL_OK) {
		vl_conn_error(c, job->request_id, vl_core_error_of(rc), NULL);
		return;
	}
	vl_core_metrics_mut(core)->revoked++;
	vl_log(VL_LOG_INFO, "device_revoked", "by_conn=%llu user=%s device=%s",
	       (unsigned long long)vl_conn_id(c), vl_conn_device(c)->user, j->name);
	vl_conn_reply_empty(c, VL_FRAME_DEVICE_REVOKE, job->request_id);
	struct vl_conn *victim = vl_core_conn_of(core, j->device_id);
	if (victim)
		vl_conn_close_with(victim, VL_PERR_REVOKED);
}

void vl_handle_device_revoke(struct vl_conn *c, const struct vl_frame *f)
{
	struct vl_msg_device_revoke m;
	int rc = vl_msg_device_revoke_decode(&f->body, &m);
	if (rc) {
		vl_conn_bad_body(c, f->request_id, rc);
		return;
	}
	struct revoke_job *j = (struct revoke_job *)vl_core_job_new(
	    c, sizeof *j, f->request_id, NULL, 0, revoke_run, revoke_complete);
	if (!j) {
		vl_conn_error(c, f->request_id, VL_PERR_INTERNAL, NULL);
		return;
	}
	j->user_id = vl_conn_device(c)->user_id;
	memcpy(j->name, m.device.p, m.device.len);
	vl_core_job_submit(&j->job);
}
