/* SPDX-License-Identifier: Apache-2.0 */
/* ACK (docs/protocol.md §4.4): deletes the device's queue up to seq; the
 * connection's push window opens once that is durable. An ACK with request
 * id 0 is answered only if it fails: a receiver acknowledges about once per
 * message, and the reply nobody reads was a fifth of the socket writes of a
 * 1:1 message (bench/README.md). */
#include "server/core.h"

struct ack_job {
	struct vl_core_job job;
	int64_t device_id;
	uint64_t seq;
};

static int ack_run(struct vl_store *st, struct vl_core_job *job)
{
	struct ack_job *j = (struct ack_job *)job;
	return vl_store_queue_ack(st, j->device_id, j->seq);
}

static void ack_complete(struct vl_core_job *job)
{
	struct ack_job *j = (struct ack_job *)job;
	struct vl_conn *c = job->conn;
	int rc = job->sj.status;
	if (rc != VL_OK) {
		vl_conn_error(c, job->request_id, vl_core_error_of(rc), NULL);
		return;
	}
	vl_core_metrics_mut(job->core)->acks++;
	if (job->request_id != 0)
		vl_conn_reply_empty(c, VL_FRAME_ACK, job->request_id);
	if (vl_conn_alive(c) && vl_conn_authed(c) && vl_conn_device(c)->id == j->device_id)
		vl_conn_acked(c, j->seq);
}

void vl_handle_ack(struct vl_conn *c, const struct vl_frame *f)
{
	struct vl_msg_ack m;
	int rc = vl_msg_ack_decode(&f->body, &m);
	if (rc) {
		vl_conn_bad_body(c, f->request_id, rc);
		return;
	}
	struct ack_job *j = (struct ack_job *)vl_core_job_new(c, sizeof *j, f->request_id, NULL, 0,
	                                                      ack_run, ack_complete);
	if (!j) {
		vl_conn_error(c, f->request_id, VL_PERR_INTERNAL, NULL);
		return;
	}
	j->device_id = vl_conn_device(c)->id;
	j->seq = m.seq;
	vl_core_job_submit(&j->job);
}
