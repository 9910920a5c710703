/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DEVICE_REVOKE (docs/protocol.md §4.2): a device of the caller's own user
 * is revoked for good; if it is connected, it is told and disconnected.
 * The operator's revocation (`valised admin revoke`, docs/operations.md)
 * takes the same steps without a connection of the user.
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

/* --- the operator's revocation ------------------------------------------- */

int vl_core_revoke_named(struct vl_store *st, const char *user, const char *name,
                         int64_t *device_id, bool *was_revoked)
{
	struct vl_store_device d;
	int rc = vl_store_device_get(st, user, name, &d);
	if (rc)
		return rc;
	*was_revoked = d.revoked;
	return vl_store_device_revoke(st, d.user_id, name, device_id);
}

struct admin_revoke_job {
	struct vl_core_job job;
	char user[VL_PROTO_ADDRESS_MAX + 1];
	char name[VL_PROTO_DEVICE_MAX + 1];
	int64_t device_id;
	bool was_revoked;
	vl_core_admin_done_fn done;
	void *ctx;
};

static int admin_revoke_run(struct vl_store *st, struct vl_core_job *job)
{
	struct admin_revoke_job *j = (struct admin_revoke_job *)job;
	return vl_core_revoke_named(st, j->user, j->name, &j->device_id, &j->was_revoked);
}

static void admin_revoke_complete(struct vl_core_job *job)
{
	struct admin_revoke_job *j = (struct admin_revoke_job *)job;
	int rc = job->sj.status;
	if (rc == VL_OK && !j->was_revoked) {
		vl_core_metrics_mut(job->core)->revoked++;
		vl_log(VL_LOG_INFO, "device_revoked", "by=admin user=%s device=%s", j->user,
		       j->name);
		struct vl_conn *victim = vl_core_conn_of(job->core, j->device_id);
		if (victim)
			vl_conn_close_with(victim, VL_PERR_REVOKED);
	}
	j->done(j->ctx, rc, j->was_revoked);
}

int vl_core_admin_revoke(struct vl_core *core, const char *user, const char *name,
                         vl_core_admin_done_fn done, void *ctx)
{
	if (strlen(user) > VL_PROTO_ADDRESS_MAX || strlen(name) > VL_PROTO_DEVICE_MAX)
		return VL_ERR_ARG;
	struct admin_revoke_job *j = (struct admin_revoke_job *)vl_core_job_new_raw(
	    core, sizeof *j, admin_revoke_run, admin_revoke_complete);
	if (!j)
		return VL_ERR_NOMEM;
	strcpy(j->user, user);
	strcpy(j->name, name);
	j->done = done;
	j->ctx = ctx;
	vl_core_job_submit(&j->job);
	return VL_OK;
}
