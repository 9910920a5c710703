/* SPDX-License-Identifier: Apache-2.0 */
/* GROUP_CREATE (docs/protocol.md §4.4): a new group at epoch 0 with the
 * caller as its only member, at leaf 0: RFC 9420 §11 creates a group as a
 * one-member tree, and every later commit's roster change is checked
 * against the leaves the server tracks from there (handle_commit.c). */
#include <string.h>

#include "server/core.h"

struct create_job {
	struct vl_core_job job;
	uint8_t gid[VL_PROTO_GROUP_ID_MAX];
	size_t gid_len;
	int64_t device_id;
	uint64_t now;
};

static int create_run(struct vl_store *st, struct vl_core_job *job)
{
	struct create_job *j = (struct create_job *)job;
	return vl_store_group_create(st, j->gid, j->gid_len, j->device_id, j->now);
}

static void create_complete(struct vl_core_job *job)
{
	int rc = job->sj.status;
	if (rc != VL_OK)
		vl_conn_error(job->conn, job->request_id, vl_core_error_of(rc), NULL);
	else
		vl_conn_reply_empty(job->conn, VL_FRAME_GROUP_CREATE, job->request_id);
}

void vl_handle_group_create(struct vl_conn *c, const struct vl_frame *f)
{
	struct vl_msg_group_create m;
	int rc = vl_msg_group_create_decode(&f->body, &m);
	if (rc) {
		vl_conn_bad_body(c, f->request_id, rc);
		return;
	}
	struct create_job *j = (struct create_job *)vl_core_job_new(
	    c, sizeof *j, f->request_id, NULL, 0, create_run, create_complete);
	if (!j) {
		vl_conn_error(c, f->request_id, VL_PERR_INTERNAL, NULL);
		return;
	}
	memcpy(j->gid, m.group_id.p, m.group_id.len);
	j->gid_len = m.group_id.len;
	j->device_id = vl_conn_device(c)->id;
	j->now = vl_core_now(vl_conn_core(c));
	vl_core_job_submit(&j->job);
}
