/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SEND (docs/protocol.md §4.4): an application message (or a proposal) of
 * a group the sender belongs to, made in the group's current epoch, fanned
 * out to every other member's durable queue; acknowledged once durable;
 * idempotent by client id. The epoch is read from the MLS header here and
 * compared with the group's in the store step, where commits are ordered,
 * so no commit can slip in between the check and the fan-out. A proposal
 * (always a PublicMessage) is also recorded under its ProposalRef in that
 * step, for the commit of this epoch that includes it by reference
 * (handle_commit.c).
 */
#include <stdlib.h>
#include <string.h>

#include "mls/struct/struct.h"
#include "server/core.h"

struct send_job {
	struct vl_core_job job;
	struct vl_msg_send m;     /* points into job.frame */
	uint64_t epoch;           /* of the MLS message, from its clear header */
	uint8_t ref[VL_HASH_MAX]; /* ProposalRef, for a proposal */
	size_t ref_len;           /* 0 for anything else */
	bool duplicate;
};

static int send_run(struct vl_store *st, struct vl_core_job *job)
{
	struct send_job *j = (struct send_job *)job;
	if (j->ref_len)
		return vl_store_proposal_send(st, j->m.group_id.p, j->m.group_id.len, j->epoch,
		                              vl_conn_device(job->conn)->id, j->m.client_msg_id,
		                              j->m.message.p, j->m.message.len, j->ref, j->ref_len,
		                              vl_core_job_queued, job, &j->duplicate);
	return vl_store_send(st, j->m.group_id.p, j->m.group_id.len, j->epoch,
	                     vl_conn_device(job->conn)->id, j->m.client_msg_id, j->m.message.p,
	                     j->m.message.len, vl_core_job_queued, job, &j->duplicate);
}

static void send_complete(struct vl_core_job *job)
{
	struct send_job *j = (struct send_job *)job;
	struct vl_conn *c = job->conn;
	struct vl_core_metrics *m = vl_core_metrics_mut(job->core);
	int rc = job->sj.status;
	if (rc != VL_OK) {
		const char *detail = NULL;
		if (rc == VL_ERR_STALE_EPOCH) {
			m->sends_stale++;
			detail = "message epoch is not the group's current one";
		} else if (rc == VL_ERR_EPOCH_AHEAD) {
			detail = vl_core_epoch_ahead(c, "send");
		}
		vl_conn_error(c, job->request_id, vl_core_error_of(rc), detail);
		return;
	}
	m->sends_ok++;
	if (j->duplicate)
		m->duplicates++;
	vl_conn_reply_empty(c, VL_FRAME_SEND, job->request_id);
	struct vl_bytes msgs[4] = {{0}};
	msgs[VL_DELIVERY_APPLICATION] = j->m.message;
	vl_core_deliver(job->core, job, &j->m.group_id, c, msgs);
}

void vl_handle_send(struct vl_conn *c, const struct vl_frame *f)
{
	struct send_job *j = (struct send_job *)vl_core_job_new(
	    c, sizeof *j, f->request_id, f->body.p, f->body.len, send_run, send_complete);
	if (!j) {
		vl_conn_error(c, f->request_id, VL_PERR_INTERNAL, NULL);
		return;
	}
	struct vl_bytes body = {j->job.frame, j->job.frame_len};
	int rc = vl_msg_send_decode(&body, &j->m);
	if (rc) {
		vl_conn_bad_body(c, f->request_id, rc);
		goto fail;
	}
	/* Commits go through COMMIT, where epochs are ordered; anything else
	 * of this group may be sent: a PrivateMessage application message,
	 * or a PublicMessage proposal (RFC 9420 §6). A proposal hidden in a
	 * PrivateMessage could be committed by reference without the server
	 * seeing what it changes (docs/protocol.md §4.4). */
	struct vl_mls_peek pk;
	bool ok = vl_mls_message_peek(j->m.message.p, j->m.message.len, &pk) == VL_OK &&
	          ((pk.wire_format == VL_MLS_WIRE_PRIVATE_MESSAGE &&
	            pk.content_type == VL_MLS_CONTENT_APPLICATION) ||
	           (pk.wire_format == VL_MLS_WIRE_PUBLIC_MESSAGE &&
	            pk.content_type == VL_MLS_CONTENT_PROPOSAL)) &&
	          pk.group_id.len == j->m.group_id.len &&
	          memcmp(pk.group_id.data, j->m.group_id.p, pk.group_id.len) == 0;
	if (!ok) {
		vl_conn_error(c, f->request_id, VL_PERR_INVALID,
		              "message header does not match the frame");
		goto fail;
	}
	j->epoch = pk.epoch;
	if (pk.wire_format == VL_MLS_WIRE_PUBLIC_MESSAGE &&
	    vl_server_proposal_ref(vl_conn_device(c)->suite, j->m.message.p, j->m.message.len,
	                           j->ref, &j->ref_len) != VL_OK) {
		vl_conn_error(c, f->request_id, VL_PERR_INVALID,
		              "a proposal must be a PublicMessage from a member");
		goto fail;
	}
	vl_core_job_submit(&j->job);
	return;
fail:
	free(j->job.frame);
	free(j);
}
