/* SPDX-License-Identifier: Apache-2.0 */
/*
 * COMMIT (docs/protocol.md §4.4): the clear header of the MLS message must
 * agree with the frame (a PublicMessage commit of this group at this
 * epoch); the store then accepts it only at the group's current epoch and,
 * in the same step, applies the roster change and queues the fan-out. The
 * reply and the live pushes follow once that step is durable.
 */
#include <stdlib.h>
#include <string.h>

#include "mls/struct/struct.h"
#include "server/core.h"
#include "server/log.h"

struct commit_job {
	struct vl_core_job job;
	struct vl_msg_commit m; /* points into job.frame */
	struct vl_store_device_name *added, *removed;
	char *names; /* NUL-terminated copies the name arrays point into */
	uint64_t new_epoch;
	bool duplicate;
};

static int commit_run(struct vl_store *st, struct vl_core_job *job)
{
	struct commit_job *j = (struct commit_job *)job;
	struct vl_store_commit sc = {
	    .gid = j->m.group_id.p,
	    .gid_len = j->m.group_id.len,
	    .epoch = j->m.epoch,
	    .sender = vl_conn_device(job->conn)->id,
	    .client_msg_id = j->m.client_msg_id,
	    .commit = j->m.commit.p,
	    .commit_len = j->m.commit.len,
	    .added = j->added,
	    .n_added = j->m.added.count,
	    .removed = j->removed,
	    .n_removed = j->m.removed.count,
	    .welcome = j->m.has_welcome ? j->m.welcome.p : NULL,
	    .welcome_len = j->m.has_welcome ? j->m.welcome.len : 0,
	};
	return vl_store_commit_apply(st, &sc, vl_core_job_queued, job, &j->new_epoch,
	                             &j->duplicate);
}

static void commit_complete(struct vl_core_job *job)
{
	struct commit_job *j = (struct commit_job *)job;
	struct vl_conn *c = job->conn;
	struct vl_core_metrics *m = vl_core_metrics_mut(job->core);
	int rc = job->sj.status;
	if (rc == VL_OK) {
		m->commits_ok++;
		if (j->duplicate)
			m->duplicates++;
		uint8_t buf[24];
		struct vl_writer w;
		vl_writer_init_fixed(&w, buf, sizeof buf);
		struct vl_msg_commit_ok ok = {j->new_epoch};
		if (vl_msg_commit_ok_encode(&w, job->request_id, &ok) == VL_OK)
			vl_conn_send_writer(c, &w);
		struct vl_bytes msgs[4] = {{0}};
		msgs[VL_DELIVERY_COMMIT] = j->m.commit;
		msgs[VL_DELIVERY_WELCOME] = j->m.welcome;
		vl_core_deliver(job->core, job, &j->m.group_id, c, msgs);
	} else {
		if (rc == VL_ERR_STALE_EPOCH)
			m->commits_stale++;
		vl_conn_error(c, job->request_id, vl_core_error_of(rc), NULL);
	}
	free(j->added);
	free(j->removed);
	free(j->names);
}

/* The roster change a commit carries must be the one it claims: every Add
 * proposal by value names (basic credential user@domain#device) exactly
 * one of `added`, and, when every proposal is by value, each of `added`
 * has its Add. Proposals by reference cannot be resolved here (the server
 * does not keep proposals), nor can Removes (leaf indices: the server does
 * not keep the tree), so those are taken as the client states them. */
static int check_adds(const struct vl_bytes *commit, const struct vl_store_device_name *added,
                      size_t n_added)
{
	struct vl_mls_arena a;
	struct vl_mls_message m;
	vl_mls_arena_init(&a, 8u << 20);
	int rc = VL_ERR_INVALID;
	bool *seen = calloc(n_added ? n_added : 1, sizeof *seen);
	if (!seen || vl_mls_message_parse(commit->p, commit->len, &a, &m) != VL_OK ||
	    m.wire_format != VL_MLS_WIRE_PUBLIC_MESSAGE ||
	    m.public_message.content.content_type != VL_MLS_CONTENT_COMMIT)
		goto cleanup;
	const struct vl_mls_commit *cm = &m.public_message.content.commit;
	size_t by_value = 0;
	bool by_ref = false;
	for (size_t i = 0; i < cm->proposal_count; i++) {
		const struct vl_mls_proposal_or_ref *p = &cm->proposals[i];
		if (p->type != VL_MLS_POR_PROPOSAL) {
			by_ref = true;
			continue;
		}
		if (p->proposal.type != VL_MLS_PROPOSAL_ADD)
			continue;
		const struct vl_mls_credential *cr = &p->proposal.add.leaf_node.credential;
		if (cr->type != VL_MLS_CREDENTIAL_BASIC)
			goto cleanup;
		size_t k = 0;
		for (; k < n_added; k++) {
			size_t ul = strlen(added[k].user), nl = strlen(added[k].name);
			if (!seen[k] && cr->identity.len == ul + 1 + nl &&
			    memcmp(cr->identity.data, added[k].user, ul) == 0 &&
			    cr->identity.data[ul] == '#' &&
			    memcmp(cr->identity.data + ul + 1, added[k].name, nl) == 0)
				break;
		}
		if (k == n_added)
			goto cleanup;
		seen[k] = true;
		by_value++;
	}
	if (!by_ref && by_value != n_added)
		goto cleanup;
	rc = VL_OK;
cleanup:
	free(seen);
	vl_mls_arena_cleanup(&a);
	return rc;
}

/* Copies a list of device references into NUL-terminated names. */
static bool copy_refs(struct vl_proto_iter *it, struct vl_store_device_name *out, char **cursor)
{
	struct vl_device_ref r;
	size_t i = 0;
	while (vl_device_ref_next(it, &r)) {
		char *p = *cursor;
		memcpy(p, r.user.p, r.user.len);
		p[r.user.len] = 0;
		out[i].user = p;
		p += r.user.len + 1;
		memcpy(p, r.device.p, r.device.len);
		p[r.device.len] = 0;
		out[i].name = p;
		p += r.device.len + 1;
		*cursor = p;
		i++;
	}
	return true;
}

void vl_handle_commit(struct vl_conn *c, const struct vl_frame *f)
{
	struct commit_job *j = (struct commit_job *)vl_core_job_new(
	    c, sizeof *j, f->request_id, f->body.p, f->body.len, commit_run, commit_complete);
	if (!j) {
		vl_conn_error(c, f->request_id, VL_PERR_INTERNAL, NULL);
		return;
	}
	struct vl_bytes body = {j->job.frame, j->job.frame_len};
	int rc = vl_msg_commit_decode(&body, &j->m);
	if (rc) {
		vl_conn_bad_body(c, f->request_id, rc);
		goto fail;
	}
	/* RFC 9420 §6: group_id, epoch and content_type are in the clear. */
	struct vl_mls_peek pk;
	if (vl_mls_message_peek(j->m.commit.p, j->m.commit.len, &pk) != VL_OK ||
	    pk.wire_format != VL_MLS_WIRE_PUBLIC_MESSAGE ||
	    pk.content_type != VL_MLS_CONTENT_COMMIT || pk.epoch != j->m.epoch ||
	    pk.group_id.len != j->m.group_id.len ||
	    memcmp(pk.group_id.data, j->m.group_id.p, pk.group_id.len) != 0) {
		vl_conn_error(c, f->request_id, VL_PERR_INVALID,
		              "commit header does not match the frame");
		goto fail;
	}
	if (j->m.has_welcome &&
	    (vl_mls_message_peek(j->m.welcome.p, j->m.welcome.len, &pk) != VL_OK ||
	     pk.wire_format != VL_MLS_WIRE_WELCOME)) {
		vl_conn_error(c, f->request_id, VL_PERR_INVALID, "not a Welcome");
		goto fail;
	}
	size_t na = j->m.added.count, nr = j->m.removed.count;
	j->added = calloc(na ? na : 1, sizeof *j->added);
	j->removed = calloc(nr ? nr : 1, sizeof *j->removed);
	/* Each reference is at most a 255-octet address and a 64-octet name. */
	j->names = malloc((na + nr) * (VL_PROTO_ADDRESS_MAX + VL_PROTO_DEVICE_MAX + 2) + 1);
	if (!j->added || !j->removed || !j->names) {
		vl_conn_error(c, f->request_id, VL_PERR_INTERNAL, NULL);
		goto fail;
	}
	char *cursor = j->names;
	struct vl_proto_iter ia = j->m.added, ir = j->m.removed;
	copy_refs(&ia, j->added, &cursor);
	copy_refs(&ir, j->removed, &cursor);
	if (check_adds(&j->m.commit, j->added, na) != VL_OK) {
		vl_conn_error(c, f->request_id, VL_PERR_INVALID,
		              "added devices do not match the commit's Add proposals");
		goto fail;
	}
	vl_core_job_submit(&j->job);
	return;
fail:
	free(j->added);
	free(j->removed);
	free(j->names);
	free(j->job.frame);
	free(j);
}
