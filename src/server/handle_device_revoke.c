/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DEVICE_REVOKE (docs/protocol.md §4.2): a device of the caller's own user
 * is revoked for good; if it is connected, it is told and disconnected.
 * The operator's revocation (`valised admin revoke`, docs/operations.md)
 * takes the same steps without a connection of the user, for one device
 * or for every device of a user, whose unused invites it also cancels.
 */
#include <stdio.h>
#include <stdlib.h>
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

static int revoked_add(struct vl_core_revoked *r, int64_t id)
{
	int64_t *ids = realloc(r->ids, (r->n + 1) * sizeof *ids);
	if (!ids)
		return VL_ERR_NOMEM;
	ids[r->n++] = id;
	r->ids = ids;
	return VL_OK;
}

/* The names of a user's devices that are not revoked yet. */
struct active_names {
	char (*name)[VL_PROTO_DEVICE_MAX + 1];
	size_t n;
	size_t revoked;
};

static int collect_active(void *ctx, const struct vl_store_device *d)
{
	struct active_names *a = ctx;
	if (d->revoked) {
		a->revoked++;
		return VL_OK;
	}
	void *p = realloc(a->name, (a->n + 1) * sizeof *a->name);
	if (!p)
		return VL_ERR_NOMEM;
	a->name = p;
	snprintf(a->name[a->n++], sizeof *a->name, "%s", d->name);
	return VL_OK;
}

static int revoke_user(struct vl_store *st, const char *user, struct vl_core_revoked *r)
{
	int rc = vl_store_invite_cancel(st, user, &r->invites);
	int64_t user_id = 0;
	if (rc == VL_OK)
		rc = vl_store_user_get(st, user, &user_id);
	if (rc == VL_ERR_NOT_FOUND && r->invites)
		return VL_OK; /* invited, never registered */
	if (rc)
		return rc;
	struct active_names a = {0};
	rc = vl_store_device_list(st, user_id, collect_active, &a);
	r->already = a.revoked;
	for (size_t i = 0; rc == VL_OK && i < a.n; i++) {
		int64_t id;
		rc = vl_store_device_revoke(st, user_id, a.name[i], &id);
		if (rc == VL_OK)
			rc = revoked_add(r, id);
	}
	free(a.name);
	return rc;
}

int vl_core_revoke_named(struct vl_store *st, const char *user, const char *name,
                         struct vl_core_revoked *r)
{
	*r = (struct vl_core_revoked){0};
	int rc;
	if (!name) {
		rc = revoke_user(st, user, r);
	} else {
		struct vl_store_device d;
		int64_t id;
		rc = vl_store_device_get(st, user, name, &d);
		if (rc == VL_OK && d.revoked)
			r->already = 1;
		else if (rc == VL_OK &&
		         (rc = vl_store_device_revoke(st, d.user_id, name, &id)) == VL_OK)
			rc = revoked_add(r, id);
	}
	return rc;
}

void vl_core_revoked_text(const struct vl_core_revoked *r, bool whole_user, char *out, size_t cap)
{
	if (whole_user)
		snprintf(out, cap, "revoked %zu device%s (%zu before), cancelled %u invite%s", r->n,
		         r->n == 1 ? "" : "s", r->already, r->invites, r->invites == 1 ? "" : "s");
	else
		snprintf(out, cap, "%s", r->already ? "already revoked" : "revoked");
}

struct admin_revoke_job {
	struct vl_core_job job;
	char user[VL_PROTO_ADDRESS_MAX + 1];
	char name[VL_PROTO_DEVICE_MAX + 1]; /* empty: the whole user */
	struct vl_core_revoked r;
	vl_core_admin_done_fn done;
	void *ctx;
};

static int admin_revoke_run(struct vl_store *st, struct vl_core_job *job)
{
	struct admin_revoke_job *j = (struct admin_revoke_job *)job;
	return vl_core_revoke_named(st, j->user, j->name[0] ? j->name : NULL, &j->r);
}

static void admin_revoke_complete(struct vl_core_job *job)
{
	struct admin_revoke_job *j = (struct admin_revoke_job *)job;
	int rc = job->sj.status;
	vl_core_metrics_mut(job->core)->revoked += j->r.n;
	for (size_t i = 0; i < j->r.n; i++) {
		struct vl_conn *victim = vl_core_conn_of(job->core, j->r.ids[i]);
		if (victim)
			vl_conn_close_with(victim, VL_PERR_REVOKED);
	}
	if (rc == VL_OK) {
		if (j->name[0] && j->r.n)
			vl_log(VL_LOG_INFO, "device_revoked", "by=admin user=%s device=%s", j->user,
			       j->name);
		else if (!j->name[0])
			vl_log(VL_LOG_INFO, "user_revoked",
			       "by=admin user=%s devices=%zu invites=%u", j->user, j->r.n,
			       j->r.invites);
	}
	j->done(j->ctx, rc, &j->r);
	free(j->r.ids);
}

int vl_core_admin_revoke(struct vl_core *core, const char *user, const char *name,
                         vl_core_admin_done_fn done, void *ctx)
{
	if (strlen(user) > VL_PROTO_ADDRESS_MAX || (name && strlen(name) > VL_PROTO_DEVICE_MAX))
		return VL_ERR_ARG;
	struct admin_revoke_job *j = (struct admin_revoke_job *)vl_core_job_new_raw(
	    core, sizeof *j, admin_revoke_run, admin_revoke_complete);
	if (!j)
		return VL_ERR_NOMEM;
	strcpy(j->user, user);
	if (name)
		strcpy(j->name, name);
	j->done = done;
	j->ctx = ctx;
	vl_core_job_submit(&j->job);
	return VL_OK;
}
