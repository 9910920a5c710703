/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DEVICE_INVITE (docs/protocol.md §4.2): a one-time invite for the next
 * device of the caller's user. The store keeps only a hash of the code.
 */
#include <stdlib.h>
#include <string.h>

#include "server/core.h"

struct invite_job {
	struct vl_core_job job;
	char user[VL_PROTO_ADDRESS_MAX + 1];
	char code[20];
	uint8_t key[32];
	uint64_t now, expires;
};

static int invite_run(struct vl_store *st, struct vl_core_job *job)
{
	struct invite_job *j = (struct invite_job *)job;
	return vl_store_invite_create(st, j->key, sizeof j->key, j->user, j->expires, j->now);
}

static void invite_complete(struct vl_core_job *job)
{
	struct invite_job *j = (struct invite_job *)job;
	struct vl_conn *c = job->conn;
	int rc = job->sj.status;
	if (rc != VL_OK) {
		vl_conn_error(c, job->request_id, vl_core_error_of(rc), NULL);
	} else {
		uint8_t buf[96];
		struct vl_writer w;
		vl_writer_init_fixed(&w, buf, sizeof buf);
		struct vl_msg_device_invite_ok m = {{(const uint8_t *)j->code, strlen(j->code)}};
		if (vl_msg_device_invite_ok_encode(&w, job->request_id, &m) == VL_OK)
			vl_conn_send_writer(c, &w);
		vl_wipe(buf, sizeof buf);
	}
	vl_wipe(j->code, sizeof j->code);
}

void vl_handle_device_invite(struct vl_conn *c, const struct vl_frame *f)
{
	if (vl_proto_empty_decode(&f->body) != VL_OK) {
		vl_conn_bad_body(c, f->request_id, VL_ERR_DECODE);
		return;
	}
	struct vl_core *core = vl_conn_core(c);
	struct invite_job *j = (struct invite_job *)vl_core_job_new(
	    c, sizeof *j, f->request_id, NULL, 0, invite_run, invite_complete);
	if (!j) {
		vl_conn_error(c, f->request_id, VL_PERR_INTERNAL, NULL);
		return;
	}
	strcpy(j->user, vl_conn_device(c)->user);
	j->now = vl_core_now(core);
	j->expires = j->now + vl_core_config(core)->invite_ttl;
	if (vl_core_invite_code(j->code) != VL_OK ||
	    vl_core_invite_key((const uint8_t *)j->code, strlen(j->code), j->key) != VL_OK) {
		/* Completes with an error, through the normal path. */
		j->job.run = NULL;
	}
	if (!j->job.run) {
		vl_conn_error(c, f->request_id, VL_PERR_INTERNAL, NULL);
		vl_wipe(j->code, sizeof j->code);
		free(j);
		return;
	}
	vl_core_job_submit(&j->job);
}
