/* SPDX-License-Identifier: Apache-2.0 */
/*
 * COMMIT (docs/protocol.md §4.4): the store accepts a commit only at the
 * group's current epoch and, in the same step, applies the roster change
 * and queues the fan-out. The roster change is the frame's `added` and
 * `removed`; this file makes sure it is the change the commit itself
 * makes, since that decides who receives the group's messages.
 *
 * What is checked where:
 *  1. On the loop thread, from the frame alone: the MLS message is a
 *     PublicMessage commit (RFC 9420 §6.2: its proposals are in the clear)
 *     of this group at this epoch, from a sender of type member (no
 *     external commits), and its update path, if any, keeps the
 *     committer's identity and registered signature key.
 *  2. In the store step (executor thread, so ordered with every other
 *     commit and send of the group), if the group is at the commit's
 *     epoch and the sender is one of its members: the server maps leaves
 *     to devices (the store keeps each member's leaf) and replays what
 *     the commit does to the roster (check_roster):
 *       - the sender's leaf is the connection's device;
 *       - a proposal by reference is one that SEND relayed in this epoch
 *         (the store keeps them by ProposalRef, §5.2, with the device that
 *         sent each), and its sender leaf is that device's;
 *       - every Remove names a member's leaf, not the committer's, once;
 *       - every Update keeps its proposer's identity and key, and is not
 *         the committer's own (§12.2);
 *       - every Add names, by its basic credential user@domain#device, an
 *         existing, unrevoked device of this server that is not a member
 *         (or that a Remove of the same commit takes out: §12.2 allows a
 *         member to be removed and added again in one commit), once, with
 *         that device's registered signature key;
 *       - no ExternalInit (§12.2) and no proposal type the server does
 *         not know (it could not tell what it does to the roster);
 *       - the devices so removed and added are exactly `removed` and
 *         `added`; the added ones take the leaves §12.3 gives them (the
 *         leftmost blank leaf after the Removes, in proposal order),
 *         which the store records.
 *  3. Otherwise the store's answer stands: stale_epoch, the first outcome
 *     of a retried commit, forbidden (not a member), not_found.
 * The server cannot check signatures or tags (it has neither the group
 * context nor the membership key): docs/security.md says what follows.
 * A group created before the store recorded leaves is checked as before:
 * Adds by value against `added`, the rest as stated.
 */
#include <stdlib.h>
#include <string.h>

#include "mls/struct/struct.h"
#include "server/core.h"
#include "server/log.h"

/* Bytes the decoded commit, and one fetched proposal at a time, may take. */
#define COMMIT_ARENA_MAX   (16u << 20)
#define PROPOSAL_ARENA_MAX (4u << 20)

struct commit_job {
	struct vl_core_job job;
	struct vl_msg_commit m; /* points into job.frame */
	struct vl_store_device_name *added, *removed;
	char *names;                        /* NUL-terminated copies the name arrays point into */
	struct vl_mls_arena arena;          /* owns what msg points to */
	struct vl_mls_message msg;          /* the decoded MLS message */
	const struct vl_mls_commit *commit; /* in msg */
	uint32_t sender_leaf;
	uint32_t *added_leaves; /* for the store, in the order of `added` */
	const char *detail;     /* why the store step refused it (static) */
	uint64_t new_epoch;
	bool duplicate;
};

/* --- the group's leaves ------------------------------------------------ */

struct leaf_entry {
	int64_t device;
	uint32_t leaf;
};

struct leaf_map {
	struct leaf_entry *by_leaf, *by_device;
	size_t n, cap;
	bool unknown; /* some member's leaf is not recorded */
};

static int leaf_collect(void *ctx, int64_t device, int64_t leaf)
{
	struct leaf_map *lm = ctx;
	if (leaf < 0 || leaf >= (int64_t)VL_MLS_MAX_LEAVES) {
		lm->unknown = true;
		return VL_OK;
	}
	if (lm->n == lm->cap) {
		size_t cap = lm->cap ? 2 * lm->cap : 16;
		struct leaf_entry *v = realloc(lm->by_leaf, cap * sizeof *v);
		if (!v)
			return VL_ERR_NOMEM;
		lm->by_leaf = v;
		lm->cap = cap;
	}
	lm->by_leaf[lm->n++] = (struct leaf_entry){device, (uint32_t)leaf};
	return VL_OK;
}

static int cmp_leaf(const void *a, const void *b)
{
	const struct leaf_entry *x = a, *y = b;
	return (x->leaf > y->leaf) - (x->leaf < y->leaf);
}

static int cmp_device(const void *a, const void *b)
{
	const struct leaf_entry *x = a, *y = b;
	return (x->device > y->device) - (x->device < y->device);
}

static const struct leaf_entry *member_at(const struct leaf_map *lm, uint32_t leaf)
{
	struct leaf_entry key = {0, leaf};
	return bsearch(&key, lm->by_leaf, lm->n, sizeof key, cmp_leaf);
}

static bool has_device(const struct leaf_map *lm, int64_t device)
{
	struct leaf_entry key = {device, 0};
	return bsearch(&key, lm->by_device, lm->n, sizeof key, cmp_device) != NULL;
}

static void leaf_map_cleanup(struct leaf_map *lm)
{
	free(lm->by_leaf);
	free(lm->by_device);
}

/* --- matching devices to credentials ---------------------------------- */

/* The device a basic credential user@domain#device names. VL_OK,
 * VL_ERR_NOT_FOUND (no such device, or not such a credential) or a store
 * error. */
static int device_of(struct vl_store *st, const struct vl_mls_credential *cr,
                     struct vl_store_device *d)
{
	if (cr->type != VL_MLS_CREDENTIAL_BASIC)
		return VL_ERR_NOT_FOUND;
	const uint8_t *id = cr->identity.data;
	size_t len = cr->identity.len, ul = len;
	while (ul > 0 && id[ul - 1] != '#')
		ul--;
	if (ul == 0)
		return VL_ERR_NOT_FOUND;
	ul--; /* the '#' */
	size_t dl = len - ul - 1;
	if (!vl_proto_address_valid(id, ul) || !vl_proto_device_valid(id + ul + 1, dl))
		return VL_ERR_NOT_FOUND;
	char user[VL_PROTO_ADDRESS_MAX + 1], name[VL_PROTO_DEVICE_MAX + 1];
	memcpy(user, id, ul);
	user[ul] = 0;
	memcpy(name, id + ul + 1, dl);
	name[dl] = 0;
	return vl_store_device_get(st, user, name, d);
}

static bool key_is(const struct vl_store_device *d, const struct vl_mls_bytes *key)
{
	return key->len == d->sig_pub_len && memcmp(key->data, d->sig_pub, key->len) == 0;
}

/* An id with its position in a list. */
struct id_pos {
	int64_t id;
	size_t pos;
};

static int cmp_id_pos(const void *a, const void *b)
{
	const struct id_pos *x = a, *y = b;
	return (x->id > y->id) - (x->id < y->id);
}

/* Pairs the frame's list of devices (names[n]) with the devices the
 * commit changes (got[n_got], ids): VL_OK if they are the same devices,
 * each once, with pos[k] the index in got of names[k]; VL_ERR_INVALID if
 * not; or a store error. */
static int match_devices(struct vl_store *st, const struct vl_store_device_name *names, size_t n,
                         const int64_t *got, size_t n_got, size_t *pos)
{
	if (n != n_got)
		return VL_ERR_INVALID;
	if (n == 0)
		return VL_OK;
	struct id_pos *sorted = malloc(n * sizeof *sorted);
	bool *used = calloc(n, sizeof *used);
	int rc = sorted && used ? VL_OK : VL_ERR_NOMEM;
	for (size_t g = 0; rc == VL_OK && g < n; g++)
		sorted[g] = (struct id_pos){got[g], g};
	if (rc == VL_OK)
		qsort(sorted, n, sizeof *sorted, cmp_id_pos);
	for (size_t k = 0; rc == VL_OK && k < n; k++) {
		struct vl_store_device d;
		rc = vl_store_device_get(st, names[k].user, names[k].name, &d);
		if (rc == VL_ERR_NOT_FOUND)
			rc = VL_ERR_INVALID;
		if (rc)
			break;
		struct id_pos key = {d.id, 0};
		const struct id_pos *hit = bsearch(&key, sorted, n, sizeof key, cmp_id_pos);
		/* Ids in got are distinct (checked while gathering). */
		if (!hit || used[hit - sorted]) {
			rc = VL_ERR_INVALID;
			break;
		}
		used[hit - sorted] = true;
		pos[k] = hit->pos;
	}
	free(sorted);
	free(used);
	return rc;
}

/* --- replaying the roster change --------------------------------------- */

/* What the commit's proposals do to the roster, gathered in one pass. */
struct change {
	uint32_t *rm_leaves;
	int64_t *rm_devices, *add_devices; /* add_devices in proposal order */
	size_t n_rm, n_add;
};

#define REFUSE(msg)                                                                                \
	do {                                                                                       \
		j->detail = (msg);                                                                 \
		rc = VL_ERR_INVALID;                                                               \
		goto cleanup;                                                                      \
	} while (0)

/* Checks one proposal (sent by leaf `from`) and adds its effect to ch:
 * VL_OK, VL_ERR_INVALID with j->detail set, or a store error. */
static int apply_one(struct vl_store *st, struct commit_job *j, const struct leaf_map *lm,
                     const struct vl_mls_proposal *p, uint32_t from, struct change *ch)
{
	int rc = VL_OK;
	struct vl_store_device d;
	switch (p->type) {
	case VL_MLS_PROPOSAL_REMOVE: {
		const struct leaf_entry *e = member_at(lm, p->remove);
		if (!e)
			REFUSE("a Remove names a leaf that holds no member");
		if (p->remove == j->sender_leaf)
			REFUSE("a Remove names the committer");
		for (size_t k = 0; k < ch->n_rm; k++)
			if (ch->rm_leaves[k] == p->remove)
				REFUSE("two Removes name the same leaf");
		ch->rm_leaves[ch->n_rm] = p->remove;
		ch->rm_devices[ch->n_rm] = e->device;
		ch->n_rm++;
		break;
	}
	case VL_MLS_PROPOSAL_UPDATE: {
		/* §12.2: a committer updates itself through its path. */
		if (from == j->sender_leaf)
			REFUSE("the commit includes an Update of its committer");
		const struct leaf_entry *e = member_at(lm, from);
		if (!e)
			REFUSE("an Update comes from a leaf that holds no member");
		rc = device_of(st, &p->update.credential, &d);
		if (rc == VL_ERR_NOT_FOUND ||
		    (rc == VL_OK && (d.id != e->device || !key_is(&d, &p->update.signature_key))))
			REFUSE("an Update changes its member's identity or key");
		if (rc)
			goto cleanup;
		break;
	}
	case VL_MLS_PROPOSAL_ADD: {
		const struct vl_mls_leaf_node *leaf = &p->add.leaf_node;
		rc = device_of(st, &leaf->credential, &d);
		if (rc == VL_ERR_NOT_FOUND)
			REFUSE("an Add names no device of this server");
		if (rc)
			goto cleanup;
		if (d.revoked)
			REFUSE("an Add names a revoked device");
		if (!key_is(&d, &leaf->signature_key))
			REFUSE("an Add's KeyPackage does not carry the device's registered key");
		/* A member may be added only if a Remove of the same commit
		 * takes it out first (§12.2: checked once all are seen). */
		for (size_t k = 0; k < ch->n_add; k++)
			if (ch->add_devices[k] == d.id)
				REFUSE("two Adds name the same device");
		ch->add_devices[ch->n_add++] = d.id;
		break;
	}
	case VL_MLS_PROPOSAL_PSK:
	case VL_MLS_PROPOSAL_REINIT:
	case VL_MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
		break; /* no change to the roster */
	case VL_MLS_PROPOSAL_EXTERNAL_INIT:
		REFUSE("a member's commit carries an ExternalInit");
	default:
		REFUSE("a proposal of a type the server cannot check");
	}
cleanup:
	return rc;
}

struct fetched {
	struct vl_mls_arena *a;
	struct vl_mls_message m;
	int64_t sender; /* the device that sent it */
};

/* Copies a relayed proposal out of the store and decodes it. */
static int fetch_proposal(void *ctx, int64_t sender, const uint8_t *data, size_t len)
{
	struct fetched *f = ctx;
	f->sender = sender;
	uint8_t *copy;
	if (vl_mls_arena_alloc(f->a, len ? len : 1, (void **)&copy) != VL_OK)
		return VL_ERR_LIMIT;
	memcpy(copy, data, len);
	/* SEND recorded only PublicMessage proposals of members. */
	if (vl_mls_message_parse(copy, len, f->a, &f->m) != VL_OK ||
	    f->m.wire_format != VL_MLS_WIRE_PUBLIC_MESSAGE ||
	    f->m.public_message.content.content_type != VL_MLS_CONTENT_PROPOSAL ||
	    f->m.public_message.content.sender.type != VL_MLS_SENDER_MEMBER)
		return VL_ERR_INVALID;
	return VL_OK;
}

/* Step 2 of the header comment. lm holds every member's leaf. */
static int check_roster(struct vl_store *st, struct commit_job *j, struct leaf_map *lm)
{
	const struct vl_mls_commit *cm = j->commit;
	size_t np = cm->proposal_count, na = j->m.added.count, nr = j->m.removed.count;
	struct change ch = {0};
	size_t *pos_add = NULL, *pos_rm = NULL;
	uint32_t *new_leaves = NULL;
	int rc = VL_OK;
	qsort(lm->by_leaf, lm->n, sizeof *lm->by_leaf, cmp_leaf);
	lm->by_device = malloc((lm->n ? lm->n : 1) * sizeof *lm->by_device);
	ch.rm_leaves = malloc((np ? np : 1) * sizeof *ch.rm_leaves);
	ch.rm_devices = malloc((np ? np : 1) * sizeof *ch.rm_devices);
	ch.add_devices = malloc((np ? np : 1) * sizeof *ch.add_devices);
	pos_add = malloc((na ? na : 1) * sizeof *pos_add);
	pos_rm = malloc((nr ? nr : 1) * sizeof *pos_rm);
	new_leaves = malloc((np ? np : 1) * sizeof *new_leaves);
	free(j->added_leaves);
	j->added_leaves = malloc((na ? na : 1) * sizeof *j->added_leaves);
	if (!lm->by_device || !ch.rm_leaves || !ch.rm_devices || !ch.add_devices || !pos_add ||
	    !pos_rm || !new_leaves || !j->added_leaves) {
		rc = VL_ERR_NOMEM;
		goto cleanup;
	}
	memcpy(lm->by_device, lm->by_leaf, lm->n * sizeof *lm->by_leaf);
	qsort(lm->by_device, lm->n, sizeof *lm->by_device, cmp_device);

	const struct leaf_entry *me = member_at(lm, j->sender_leaf);
	if (!me || me->device != vl_conn_device(j->job.conn)->id)
		REFUSE("the commit's sender leaf is not this device");

	for (size_t i = 0; i < np; i++) {
		const struct vl_mls_proposal_or_ref *por = &cm->proposals[i];
		if (por->type == VL_MLS_POR_PROPOSAL) {
			if ((rc = apply_one(st, j, lm, &por->proposal, j->sender_leaf, &ch)))
				goto cleanup;
			continue;
		}
		/* §12.4: by reference, a proposal sent earlier in this epoch;
		 * only the ones SEND relayed can reach the other members. */
		struct vl_mls_arena pa;
		vl_mls_arena_init(&pa, PROPOSAL_ARENA_MAX);
		struct fetched f = {.a = &pa};
		rc = vl_store_proposal_get(st, j->m.group_id.p, j->m.group_id.len, j->m.epoch,
		                           por->reference.data, por->reference.len, fetch_proposal,
		                           &f);
		if (rc == VL_OK) {
			const struct vl_mls_framed_content *fc = &f.m.public_message.content;
			const struct leaf_entry *pe = member_at(lm, fc->sender.index);
			if (!pe || pe->device != f.sender) {
				j->detail = "a proposal included by reference names a sender leaf "
				            "that is not the device that sent it";
				rc = VL_ERR_INVALID;
			} else {
				rc = apply_one(st, j, lm, &fc->proposal, fc->sender.index, &ch);
			}
		} else if (rc == VL_ERR_NOT_FOUND) {
			j->detail = "the commit includes by reference a proposal that was not "
			            "sent through this server in this epoch";
			rc = VL_ERR_INVALID;
		}
		vl_mls_arena_cleanup(&pa);
		if (rc)
			goto cleanup;
	}

	for (size_t a = 0; a < ch.n_add; a++) {
		bool removed = false;
		for (size_t k = 0; k < ch.n_rm && !removed; k++)
			removed = ch.rm_devices[k] == ch.add_devices[a];
		if (has_device(lm, ch.add_devices[a]) && !removed)
			REFUSE("an Add names a device that is already a member");
	}
	rc = match_devices(st, j->removed, nr, ch.rm_devices, ch.n_rm, pos_rm);
	if (rc == VL_ERR_INVALID)
		REFUSE("removed devices do not match the commit's Remove proposals");
	if (rc)
		goto cleanup;
	rc = match_devices(st, j->added, na, ch.add_devices, ch.n_add, pos_add);
	if (rc == VL_ERR_INVALID)
		REFUSE("added devices do not match the commit's Add proposals");
	if (rc)
		goto cleanup;

	/* §12.3: Removes blank their leaves, then each Add in proposal order
	 * takes the leftmost blank leaf, extending the tree when none is
	 * left. Trailing blanks cut off by truncation are the same leaves an
	 * extension would add, so indices past the end count as blank. */
	uint32_t next = 0;
	size_t at = 0;
	for (size_t a = 0; a < ch.n_add; a++) {
		for (;;) {
			while (at < lm->n && lm->by_leaf[at].leaf < next)
				at++;
			bool taken = at < lm->n && lm->by_leaf[at].leaf == next;
			for (size_t k = 0; taken && k < ch.n_rm; k++)
				if (ch.rm_leaves[k] == next)
					taken = false;
			if (!taken)
				break;
			next++;
		}
		if (next >= VL_MLS_MAX_LEAVES)
			REFUSE("the group would outgrow the largest tree");
		new_leaves[a] = next++;
	}
	for (size_t k = 0; k < na; k++)
		j->added_leaves[k] = new_leaves[pos_add[k]];
cleanup:
	free(ch.rm_leaves);
	free(ch.rm_devices);
	free(ch.add_devices);
	free(pos_add);
	free(pos_rm);
	free(new_leaves);
	return rc;
}

/* A group whose leaves the server does not know (created before the store
 * recorded them): every Add by value must name (basic credential
 * user@domain#device) one of `added`, and when every proposal is by value
 * each of `added` must have its Add. The rest is taken as stated. */
static int check_adds_only(struct commit_job *j)
{
	const struct vl_mls_commit *cm = j->commit;
	size_t n_added = j->m.added.count;
	bool *seen = calloc(n_added ? n_added : 1, sizeof *seen);
	if (!seen)
		return VL_ERR_NOMEM;
	int rc = VL_ERR_INVALID;
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
			size_t ul = strlen(j->added[k].user), nl = strlen(j->added[k].name);
			if (!seen[k] && cr->identity.len == ul + 1 + nl &&
			    memcmp(cr->identity.data, j->added[k].user, ul) == 0 &&
			    cr->identity.data[ul] == '#' &&
			    memcmp(cr->identity.data + ul + 1, j->added[k].name, nl) == 0)
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
	if (rc == VL_ERR_INVALID)
		j->detail = "added devices do not match the commit's Add proposals";
	return rc;
}

/* --- the job ------------------------------------------------------------- */

static int commit_run(struct vl_store *st, struct vl_core_job *job)
{
	struct commit_job *j = (struct commit_job *)job;
	int64_t me = vl_conn_device(job->conn)->id;
	struct leaf_map lm = {0};
	uint64_t epoch;
	j->detail = NULL;
	int rc = vl_store_group_leaves(st, j->m.group_id.p, j->m.group_id.len, &epoch, leaf_collect,
	                               &lm);
	bool member = false;
	for (size_t i = 0; rc == VL_OK && i < lm.n; i++)
		member |= lm.by_leaf[i].device == me;
	/* Only a commit the store would accept is checked: for any other
	 * (stale, a retry of an accepted one, not a member, no such group)
	 * the store's own answer is the one to give. */
	if (rc == VL_OK && epoch == j->m.epoch && (member || lm.unknown)) {
		rc = lm.unknown ? check_adds_only(j) : check_roster(st, j, &lm);
		if (lm.unknown) {
			free(j->added_leaves);
			j->added_leaves = NULL;
		}
	} else if (rc == VL_ERR_NOT_FOUND || rc == VL_OK) {
		rc = VL_OK;
	}
	leaf_map_cleanup(&lm);
	if (rc)
		return rc;
	struct vl_store_commit sc = {
	    .gid = j->m.group_id.p,
	    .gid_len = j->m.group_id.len,
	    .epoch = j->m.epoch,
	    .sender = me,
	    .client_msg_id = j->m.client_msg_id,
	    .commit = j->m.commit.p,
	    .commit_len = j->m.commit.len,
	    .added = j->added,
	    .n_added = j->m.added.count,
	    .added_leaves = j->added_leaves,
	    .removed = j->removed,
	    .n_removed = j->m.removed.count,
	    .welcome = j->m.has_welcome ? j->m.welcome.p : NULL,
	    .welcome_len = j->m.has_welcome ? j->m.welcome.len : 0,
	};
	return vl_store_commit_apply(st, &sc, vl_core_job_queued, job, &j->new_epoch,
	                             &j->duplicate);
}

static void commit_free(struct commit_job *j)
{
	free(j->added);
	free(j->removed);
	free(j->names);
	free(j->added_leaves);
	vl_mls_arena_cleanup(&j->arena);
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
		const char *detail = rc == VL_ERR_INVALID ? j->detail : NULL;
		if (rc == VL_ERR_STALE_EPOCH)
			m->commits_stale++;
		else if (rc == VL_ERR_EPOCH_AHEAD)
			detail = vl_core_epoch_ahead(c, "commit");
		vl_conn_error(c, job->request_id, vl_core_error_of(rc), detail);
	}
	commit_free(j);
}

/* Copies a list of device references into NUL-terminated names. */
static void copy_refs(struct vl_proto_iter *it, struct vl_store_device_name *out, char **cursor)
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
}

/* Step 1 of the header comment: what the commit alone must show. NULL if
 * it passes, else the reason. */
static const char *check_form(struct commit_job *j, const struct vl_store_device *dev)
{
	struct vl_mls_message *msg = &j->msg;
	int rc = vl_mls_message_parse(j->m.commit.p, j->m.commit.len, &j->arena, msg);
	if (rc == VL_ERR_LIMIT)
		return "commit too large";
	if (rc != VL_OK || msg->wire_format != VL_MLS_WIRE_PUBLIC_MESSAGE ||
	    msg->public_message.content.content_type != VL_MLS_CONTENT_COMMIT)
		return "not a PublicMessage commit";
	const struct vl_mls_framed_content *fc = &msg->public_message.content;
	if (fc->sender.type != VL_MLS_SENDER_MEMBER)
		return "only members commit: external commits are not accepted";
	j->sender_leaf = fc->sender.index;
	j->commit = &fc->commit;
	if (!fc->commit.has_path)
		return NULL;
	/* §7.5: the path's leaf replaces the committer's own. */
	const struct vl_mls_leaf_node *leaf = &fc->commit.path.leaf_node;
	const struct vl_mls_bytes *id = &leaf->credential.identity;
	size_t ul = strlen(dev->user), nl = strlen(dev->name);
	if (leaf->credential.type != VL_MLS_CREDENTIAL_BASIC || id->len != ul + 1 + nl ||
	    memcmp(id->data, dev->user, ul) != 0 || id->data[ul] != '#' ||
	    memcmp(id->data + ul + 1, dev->name, nl) != 0 ||
	    leaf->signature_key.len != dev->sig_pub_len ||
	    memcmp(leaf->signature_key.data, dev->sig_pub, dev->sig_pub_len) != 0)
		return "the commit's path changes the committer's identity or key";
	return NULL;
}

void vl_handle_commit(struct vl_conn *c, const struct vl_frame *f)
{
	struct commit_job *j = (struct commit_job *)vl_core_job_new(
	    c, sizeof *j, f->request_id, f->body.p, f->body.len, commit_run, commit_complete);
	if (!j) {
		vl_conn_error(c, f->request_id, VL_PERR_INTERNAL, NULL);
		return;
	}
	vl_mls_arena_init(&j->arena, COMMIT_ARENA_MAX);
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
	const char *why = check_form(j, vl_conn_device(c));
	if (why) {
		vl_conn_error(c, f->request_id, VL_PERR_INVALID, why);
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
	vl_core_job_submit(&j->job);
	return;
fail:
	commit_free(j);
	free(j->job.frame);
	free(j);
}
