/* SPDX-License-Identifier: Apache-2.0 */
/* DEVICE_LIST (docs/protocol.md §4.2): the devices of the caller's user. */
#include <stdlib.h>
#include <string.h>

#include "server/core.h"

struct list_job {
	struct vl_core_job job;
	int64_t user_id;
	struct vl_store_device *devs;
	size_t n;
};

static int collect(void *ctx, const struct vl_store_device *d)
{
	struct list_job *j = ctx;
	if (j->n == VL_PROTO_LIST_MAX)
		return VL_ERR_LIMIT;
	if (j->n % 16 == 0) {
		struct vl_store_device *more = realloc(j->devs, (j->n + 16) * sizeof *more);
		if (!more)
			return VL_ERR_NOMEM;
		j->devs = more;
	}
	j->devs[j->n++] = *d;
	return VL_OK;
}

static int list_run(struct vl_store *st, struct vl_core_job *job)
{
	struct list_job *j = (struct list_job *)job;
	return vl_store_device_list(st, j->user_id, collect, j);
}

static void list_complete(struct vl_core_job *job)
{
	struct list_job *j = (struct list_job *)job;
	struct vl_conn *c = job->conn;
	int rc = job->sj.status;
	struct vl_device_info *info = calloc(j->n ? j->n : 1, sizeof *info);
	if (rc == VL_OK && !info)
		rc = VL_ERR_NOMEM;
	if (rc != VL_OK) {
		vl_conn_error(c, job->request_id, vl_core_error_of(rc), NULL);
	} else {
		for (size_t i = 0; i < j->n; i++)
			info[i] = (struct vl_device_info){
			    {(const uint8_t *)j->devs[i].name, strlen(j->devs[i].name)},
			    j->devs[i].suite,
			    {j->devs[i].sig_pub, j->devs[i].sig_pub_len},
			    j->devs[i].created,
			    j->devs[i].revoked,
			};
		struct vl_writer w;
		vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
		if (vl_msg_device_list_ok_encode(&w, job->request_id, info, j->n) == VL_OK)
			vl_conn_send_writer(c, &w);
		else {
			vl_writer_cleanup(&w);
			vl_conn_error(c, job->request_id, VL_PERR_INTERNAL, NULL);
		}
	}
	free(info);
	free(j->devs);
}

void vl_handle_device_list(struct vl_conn *c, const struct vl_frame *f)
{
	if (vl_proto_empty_decode(&f->body) != VL_OK) {
		vl_conn_bad_body(c, f->request_id, VL_ERR_DECODE);
		return;
	}
	struct list_job *j = (struct list_job *)vl_core_job_new(c, sizeof *j, f->request_id, NULL,
	                                                        0, list_run, list_complete);
	if (!j) {
		vl_conn_error(c, f->request_id, VL_PERR_INTERNAL, NULL);
		return;
	}
	j->user_id = vl_conn_device(c)->user_id;
	vl_core_job_submit(&j->job);
}
