/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KP_UPLOAD (docs/protocol.md §4.3): every package of the batch is checked
 * before any is stored; one bad package rejects the batch.
 */
#include <stdlib.h>
#include <string.h>

#include "server/core.h"
#include "server/log.h"

struct upload_job {
	struct vl_core_job job;
	int64_t device_id;
	struct vl_store_kp kps[VL_PROTO_KP_PER_UPLOAD];
	size_t n;
	uint32_t stock;
};

static int upload_run(struct vl_store *st, struct vl_core_job *job)
{
	struct upload_job *j = (struct upload_job *)job;
	return vl_store_kp_add(st, j->device_id, j->kps, j->n, &j->stock);
}

static void upload_complete(struct vl_core_job *job)
{
	struct upload_job *j = (struct upload_job *)job;
	struct vl_conn *c = job->conn;
	int rc = job->sj.status;
	if (rc != VL_OK) {
		vl_conn_error(c, job->request_id, vl_core_error_of(rc), NULL);
		return;
	}
	vl_core_metrics_mut(job->core)->kp_uploaded += j->n;
	uint8_t buf[16];
	struct vl_writer w;
	vl_writer_init_fixed(&w, buf, sizeof buf);
	struct vl_msg_kp_count m = {j->stock};
	if (vl_msg_kp_count_encode(&w, VL_FRAME_KP_UPLOAD | VL_FRAME_REPLY, job->request_id, &m) ==
	    VL_OK)
		vl_conn_send_writer(c, &w);
}

void vl_handle_kp_upload(struct vl_conn *c, const struct vl_frame *f)
{
	struct vl_core *core = vl_conn_core(c);
	/* Decode from the job's copy: the stored packages point into it. */
	struct upload_job *j = (struct upload_job *)vl_core_job_new(
	    c, sizeof *j, f->request_id, f->body.p, f->body.len, upload_run, upload_complete);
	if (!j) {
		vl_conn_error(c, f->request_id, VL_PERR_INTERNAL, NULL);
		return;
	}
	struct vl_bytes body = {j->job.frame, j->job.frame_len};
	struct vl_msg_kp_upload m;
	int rc = vl_msg_kp_upload_decode(&body, &m);
	if (rc) {
		vl_conn_bad_body(c, f->request_id, rc);
		goto fail;
	}
	const struct vl_store_device *dev = vl_conn_device(c);
	uint64_t now = vl_core_now(core);
	struct vl_kp_upload_item it;
	while (vl_kp_upload_item_next(&m.key_packages, &it)) {
		if (vl_server_kp_check(dev, it.key_package.p, it.key_package.len, now) != VL_OK) {
			vl_core_metrics_mut(core)->kp_rejected++;
			vl_log(VL_LOG_INFO, "kp_rejected", "conn=%llu user=%s device=%s index=%zu",
			       (unsigned long long)vl_conn_id(c), dev->user, dev->name, j->n);
			vl_conn_error(c, f->request_id, VL_PERR_INVALID, "bad KeyPackage");
			goto fail;
		}
		j->kps[j->n++] =
		    (struct vl_store_kp){it.last_resort, it.key_package.p, it.key_package.len};
	}
	j->device_id = dev->id;
	vl_core_job_submit(&j->job);
	return;
fail:
	free(j->job.frame);
	free(j);
}
