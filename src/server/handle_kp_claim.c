/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KP_CLAIM (docs/protocol.md §4.3): one package per device of a user in
 * one atomic store operation; devices left low on stock are told.
 */
#include <stdlib.h>
#include <string.h>

#include "server/core.h"

struct claimed {
	int64_t device_id;
	char name[VL_PROTO_DEVICE_MAX + 1];
	uint8_t *kp;
	size_t kp_len;
	uint32_t left;
};

struct claim_job {
	struct vl_core_job job;
	char user[VL_PROTO_ADDRESS_MAX + 1];
	struct claimed *items;
	size_t n;
};

static int collect(void *ctx, const struct vl_store_device *d, const uint8_t *kp, size_t kp_len,
                   uint32_t left)
{
	struct claim_job *j = ctx;
	if (j->n == VL_PROTO_LIST_MAX)
		return VL_ERR_LIMIT;
	if (j->n % 16 == 0) {
		struct claimed *more = realloc(j->items, (j->n + 16) * sizeof *more);
		if (!more)
			return VL_ERR_NOMEM;
		j->items = more;
	}
	struct claimed *it = &j->items[j->n];
	it->kp = malloc(kp_len ? kp_len : 1);
	if (!it->kp)
		return VL_ERR_NOMEM;
	memcpy(it->kp, kp, kp_len);
	it->kp_len = kp_len;
	it->device_id = d->id;
	strcpy(it->name, d->name);
	it->left = left;
	j->n++;
	return VL_OK;
}

static int claim_run(struct vl_store *st, struct vl_core_job *job)
{
	struct claim_job *j = (struct claim_job *)job;
	return vl_store_kp_claim(st, j->user, collect, j);
}

static void claim_complete(struct vl_core_job *job)
{
	struct claim_job *j = (struct claim_job *)job;
	struct vl_conn *c = job->conn;
	struct vl_core *core = job->core;
	int rc = job->sj.status;
	struct vl_claimed_kp *out = calloc(j->n ? j->n : 1, sizeof *out);
	if (rc == VL_OK && !out)
		rc = VL_ERR_NOMEM; /* the packages are spent: reported, not lost silently */
	if (rc != VL_OK) {
		vl_conn_error(c, job->request_id, vl_core_error_of(rc), NULL);
	} else {
		for (size_t i = 0; i < j->n; i++)
			out[i] = (struct vl_claimed_kp){
			    {(const uint8_t *)j->items[i].name, strlen(j->items[i].name)},
			    {j->items[i].kp, j->items[i].kp_len}};
		struct vl_writer w;
		vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
		if (vl_msg_kp_claim_ok_encode(&w, job->request_id, out, j->n) == VL_OK) {
			vl_conn_send_writer(c, &w);
		} else {
			vl_writer_cleanup(&w);
			vl_conn_error(c, job->request_id, VL_PERR_INTERNAL, NULL);
		}
		vl_core_metrics_mut(core)->kp_claimed += j->n;
		unsigned low = vl_core_config(core)->kp_low;
		for (size_t i = 0; i < j->n; i++) {
			struct vl_conn *owner = vl_core_conn_of(core, j->items[i].device_id);
			if (owner && j->items[i].left < low)
				vl_conn_push_kp_low(owner, j->items[i].left);
		}
	}
	for (size_t i = 0; i < j->n; i++)
		free(j->items[i].kp);
	free(j->items);
	free(out);
}

void vl_handle_kp_claim(struct vl_conn *c, const struct vl_frame *f)
{
	struct vl_msg_kp_claim m;
	int rc = vl_msg_kp_claim_decode(&f->body, &m);
	if (rc) {
		vl_conn_bad_body(c, f->request_id, rc);
		return;
	}
	struct claim_job *j = (struct claim_job *)vl_core_job_new(c, sizeof *j, f->request_id, NULL,
	                                                          0, claim_run, claim_complete);
	if (!j) {
		vl_conn_error(c, f->request_id, VL_PERR_INTERNAL, NULL);
		return;
	}
	memcpy(j->user, m.user.p, m.user.len);
	vl_core_job_submit(&j->job);
}
