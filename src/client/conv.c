/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Conversations: each one an MLS group (include/valise/mls.h) plus local
 * metadata (kind, name, admins, counters) kept sealed in the store, and the
 * processing of what the server delivers for them (Welcome, commits,
 * application messages).
 *
 * Commit life cycle (crash safety, issue requirement 3)
 *
 *   [S0 stored] --vl_group_commit, merge in memory, export S1-->
 *   [S0 stored + pending(commit request, S1)] --COMMIT sent-->
 *       COMMIT_OK        -> pending_accept: S1 becomes current
 *       stale_epoch      -> pending_discard, reload S0, process the
 *                           winning commit, plan again on the new epoch
 *       no answer (crash, lost connection)
 *                        -> reload S0 in memory; on the next connect the
 *                           same COMMIT (same client_msg_id, so the server
 *                           answers with its first outcome) is sent again
 *                           and accepted or discarded as above.
 *
 * The client_msg_id of a commit is the first 16 octets of SHA-256 of the
 * commit message, so a resend is recognised by the server as the same.
 * It does not start with a time as application messages' ids do
 * (send_once): the pending record keeps only the commit, from which a
 * restarted client must derive the same id again, and commits are too
 * rare (one per epoch) for their place in the server's records to cost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"
#include "mls/struct/struct.h"

#define META_VERSION 1
#define COMMIT_TRIES 8
#define SEND_TRIES   8

static int drain(struct vl_client *c);
static void learn_tree(struct vl_client *c, const struct cl_conv *cv);

unsigned long cl_stat_encryptions, cl_stat_sends;
bool cl_test_crash_after_commit_send;
bool cl_test_send_without_drain;

/* --- in-memory list and persisted metadata ------------------------------- */

static void conv_free(struct cl_conv *cv)
{
	if (!cv)
		return;
	vl_group_free(cv->g);
	vl_group_free(cv->prev);
	free(cv->name);
	for (size_t i = 0; i < cv->n_admins; i++)
		free(cv->admins[i]);
	free(cv->admins);
	for (size_t i = 0; i < cv->n_leavers; i++)
		free(cv->leavers[i]);
	free(cv->leavers);
	free(cv->rcpt);
	free(cv);
}

void cl_convs_free(struct vl_client *c)
{
	while (c->convs) {
		struct cl_conv *n = c->convs->next;
		conv_free(c->convs);
		c->convs = n;
	}
}

struct cl_conv *cl_conv_find(struct vl_client *c, const char *id)
{
	for (struct cl_conv *cv = c->convs; cv; cv = cv->next)
		if (strcmp(cv->id, id) == 0)
			return cv;
	return NULL;
}

struct cl_conv *cl_conv_find_gid(struct vl_client *c, const uint8_t *gid, size_t len)
{
	for (struct cl_conv *cv = c->convs; cv; cv = cv->next)
		if (cv->gid_len == len && memcmp(cv->gid, gid, len) == 0)
			return cv;
	return NULL;
}

static struct cl_conv *conv_new(struct vl_client *c, const uint8_t *gid, size_t len)
{
	struct cl_conv *cv = calloc(1, sizeof *cv);
	if (!cv)
		return NULL;
	memcpy(cv->gid, gid, len);
	cv->gid_len = len;
	vl_hex_encode(gid, len, cv->id);
	cv->kind = VL_CONV_GROUP;
	cv->active = true;
	cv->next = c->convs;
	c->convs = cv;
	return cv;
}

static void meta_name(const struct cl_conv *cv, char *out)
{
	memcpy(out, "conv/", 5);
	memcpy(out + 5, cv->id, strlen(cv->id) + 1);
}

int cl_conv_save_meta(struct vl_client *c, struct cl_conv *cv)
{
	struct vl_writer w;
	vl_writer_init_heap(&w, CL_RECORD_MAX);
	(void)!vl_write_u8(&w, META_VERSION);
	(void)!vl_write_u8(&w, cv->kind);
	(void)!vl_write_u8(&w, cv->active);
	(void)!vl_write_u8(&w, cv->has_meta);
	(void)!vl_write_opaque(&w, cv->name, cv->name ? strlen(cv->name) : 0);
	(void)!vl_write_opaque(&w, cv->peer, strlen(cv->peer));
	(void)!vl_write_u64(&w, cv->last_ms);
	(void)!vl_write_u32(&w, cv->unread);
	size_t mark = vl_write_vector_begin(&w);
	for (size_t i = 0; i < cv->n_admins; i++)
		(void)!vl_write_opaque(&w, cv->admins[i], strlen(cv->admins[i]));
	(void)!vl_write_vector_end(&w, mark);
	uint8_t *buf;
	size_t len;
	int rc = vl_writer_take(&w, &buf, &len);
	if (rc)
		return rc;
	char name[5 + VL_CLIENT_ID_MAX + 1];
	meta_name(cv, name);
	rc = vl_client_store_secret_put(c->st, name, buf, len);
	free(buf);
	return rc ? cl_fail(c, rc, "store: %s", vl_client_store_errmsg(c->st)) : VL_OK;
}

static char *dup_bytes(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

static void admins_clear(struct cl_conv *cv)
{
	for (size_t i = 0; i < cv->n_admins; i++)
		free(cv->admins[i]);
	free(cv->admins);
	cv->admins = NULL;
	cv->n_admins = 0;
}

/* Reads a vector of addresses into cv->admins. */
static int read_admins(struct vl_reader *r, struct cl_conv *cv)
{
	struct vl_reader sub;
	int rc = vl_read_vector(r, &sub);
	if (rc)
		return rc;
	admins_clear(cv);
	while (vl_reader_left(&sub) > 0) {
		const uint8_t *p;
		size_t n;
		if ((rc = vl_read_opaque(&sub, &p, &n, VL_CLIENT_ADDRESS_MAX)))
			return rc;
		if (!vl_proto_address_valid(p, n))
			return VL_ERR_INVALID;
		if (cv->n_admins >= 1024)
			return VL_ERR_LIMIT;
		char **na = realloc(cv->admins, (cv->n_admins + 1) * sizeof *na);
		if (!na)
			return VL_ERR_NOMEM;
		cv->admins = na;
		if (!(cv->admins[cv->n_admins] = dup_bytes(p, n)))
			return VL_ERR_NOMEM;
		cv->n_admins++;
	}
	return VL_OK;
}

static int meta_decode(struct cl_conv *cv, const uint8_t *buf, size_t len)
{
	struct vl_reader r;
	vl_reader_init(&r, buf, len);
	uint8_t ver, kind, active, has_meta;
	const uint8_t *p, *pp;
	size_t n, pn;
	int rc = vl_read_u8(&r, &ver);
	if (!rc && ver != META_VERSION)
		rc = VL_ERR_UNSUPPORTED;
	if (!rc)
		rc = vl_read_u8(&r, &kind);
	if (!rc)
		rc = vl_read_u8(&r, &active);
	if (!rc)
		rc = vl_read_u8(&r, &has_meta);
	if (!rc)
		rc = vl_read_opaque(&r, &p, &n, 4096);
	if (!rc)
		rc = vl_read_opaque(&r, &pp, &pn, VL_CLIENT_ADDRESS_MAX);
	if (!rc)
		rc = vl_read_u64(&r, &cv->last_ms);
	if (!rc)
		rc = vl_read_u32(&r, &cv->unread);
	if (!rc)
		rc = read_admins(&r, cv);
	if (!rc)
		rc = vl_reader_finish(&r);
	if (rc)
		return rc;
	cv->kind = kind == VL_CONV_DIRECT ? VL_CONV_DIRECT : VL_CONV_GROUP;
	cv->active = active;
	cv->has_meta = has_meta;
	free(cv->name);
	cv->name = n ? dup_bytes(p, n) : NULL;
	memcpy(cv->peer, pp, pn);
	cv->peer[pn] = '\0';
	return VL_OK;
}

int cl_conv_save_state(struct vl_client *c, struct cl_conv *cv)
{
	uint8_t *state;
	size_t len;
	int rc = vl_group_export(cv->g, &state, &len);
	if (rc)
		return cl_fail(c, rc, "group state does not export");
	rc = vl_client_store_group_put(c->st, cv->gid, cv->gid_len, vl_group_epoch(cv->g), state,
	                               len);
	vl_wipe(state, len);
	free(state);
	return rc ? cl_fail(c, VL_ERR_STORE, "store: %s", vl_client_store_errmsg(c->st)) : VL_OK;
}

/* A deep copy of a group (through its serialisation), or NULL. */
static struct vl_group *group_copy(const struct vl_group *g)
{
	uint8_t *state;
	size_t len;
	if (vl_group_export(g, &state, &len) != VL_OK)
		return NULL;
	struct vl_group *copy = NULL;
	if (vl_group_import(state, len, NULL, &copy) != VL_OK)
		copy = NULL;
	vl_wipe(state, len);
	free(state);
	return copy;
}

static void prev_set(struct cl_conv *cv, struct vl_group *prev)
{
	vl_group_free(cv->prev);
	cv->prev = prev;
	cv->prev_until_ms = cl_now_ms() + CL_PREV_EPOCH_MS;
}

/* Reloads the stored (current) group state into memory. */
static int conv_reload(struct vl_client *c, struct cl_conv *cv)
{
	uint8_t *state;
	size_t len;
	uint64_t epoch;
	int rc = vl_client_store_group_get(c->st, cv->gid, cv->gid_len, &epoch, &state, &len);
	if (rc)
		return cl_fail(c, rc == VL_ERR_NOT_FOUND ? rc : VL_ERR_STORE,
		               "group state missing");
	struct vl_group *g;
	rc = vl_group_import(state, len, NULL, &g);
	vl_client_store_free(state, len);
	if (rc)
		return cl_fail(c, rc, "group state does not import");
	vl_group_free(cv->g);
	cv->g = g;
	return VL_OK;
}

int cl_convs_load(struct vl_client *c)
{
	char **names;
	size_t n;
	int rc = vl_client_store_secret_list(c->st, "conv/", &names, &n);
	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < n; i++) {
		uint8_t gid[VL_PROTO_GROUP_ID_MAX];
		size_t gl;
		if (!cl_unhex(names[i] + 5, gid, sizeof gid, &gl))
			continue;
		struct cl_conv *cv = conv_new(c, gid, gl);
		if (!cv) {
			rc = VL_ERR_NOMEM;
			break;
		}
		uint8_t *buf;
		size_t len;
		rc = vl_client_store_secret_get(c->st, names[i], &buf, &len);
		if (!rc) {
			rc = meta_decode(cv, buf, len);
			vl_client_store_free(buf, len);
		}
		if (!rc && cv->active)
			rc = conv_reload(c, cv);
		if (!rc && cv->g && !vl_group_active(cv->g))
			cv->active = false;
	}
	vl_client_store_names_free(names, n);
	return rc;
}

/* --- members ------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void cl_strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* Identities of every member ("user@domain#device"), by leaf. */
static int member_ids(const struct vl_group *g, char ***out, uint32_t **leaves, size_t *n)
{
	uint32_t lc = vl_group_leaf_count(g);
	char **ids = calloc(lc ? lc : 1, sizeof *ids);
	uint32_t *lv = calloc(lc ? lc : 1, sizeof *lv);
	if (!ids || !lv) {
		free(ids);
		free(lv);
		return VL_ERR_NOMEM;
	}
	size_t k = 0;
	for (uint32_t i = 0; i < lc; i++) {
		uint16_t ct;
		const uint8_t *id;
		size_t il;
		if (vl_group_member(g, i, &ct, &id, &il) != VL_OK)
			continue;
		if (!(ids[k] = dup_bytes(id, il))) {
			cl_strv_free(ids, k);
			free(lv);
			return VL_ERR_NOMEM;
		}
		lv[k++] = i;
	}
	*out = ids;
	if (leaves)
		*leaves = lv;
	else
		free(lv);
	*n = k;
	return VL_OK;
}

int cl_conv_users(const struct cl_conv *cv, char ***users, size_t *n)
{
	*users = NULL;
	*n = 0;
	if (!cv->g)
		return VL_OK;
	char **ids;
	size_t k;
	int rc = member_ids(cv->g, &ids, NULL, &k);
	if (rc)
		return rc;
	size_t u = 0;
	for (size_t i = 0; i < k; i++) {
		char user[VL_CLIENT_ADDRESS_MAX + 1], dev[VL_CLIENT_DEVICE_MAX + 1];
		if (!cl_split_identity((const uint8_t *)ids[i], strlen(ids[i]), user, dev))
			continue;
		free(ids[u]);
		ids[u] = strdup(user);
		if (!ids[u]) {
			cl_strv_free(ids, k);
			return VL_ERR_NOMEM;
		}
		if (u != i) {
			free(ids[i]);
			ids[i] = NULL;
		}
		u++;
	}
	for (size_t i = u; i < k; i++) {
		free(ids[i]);
		ids[i] = NULL;
	}
	qsort(ids, u, sizeof *ids, cmp_str);
	size_t w = 0;
	for (size_t i = 0; i < u; i++) {
		if (w > 0 && strcmp(ids[w - 1], ids[i]) == 0) {
			free(ids[i]);
			continue;
		}
		ids[w++] = ids[i];
	}
	*users = ids;
	*n = w;
	return VL_OK;
}

bool cl_conv_is_admin(const struct cl_conv *cv, const char *user)
{
	for (size_t i = 0; i < cv->n_admins; i++)
		if (strcmp(cv->admins[i], user) == 0)
			return true;
	return false;
}

static bool ids_contain(char *const *ids, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ids[i], id) == 0)
			return true;
	return false;
}

/* --- commits ---------------------------------------------------------------------- */

struct plan {
	const uint8_t **kps;
	size_t *kp_lens;
	struct vl_device_ref *added;
	size_t n_add;
	uint32_t *remove;
	struct vl_device_ref *removed;
	char (*rm_users)[VL_CLIENT_ADDRESS_MAX + 1];
	char (*rm_devs)[VL_CLIENT_DEVICE_MAX + 1];
	size_t n_remove;
	/* storage for added refs' strings */
	char (*add_users)[VL_CLIENT_ADDRESS_MAX + 1];
	char (*add_devs)[VL_CLIENT_DEVICE_MAX + 1];
};

static void plan_free(struct plan *p)
{
	free(p->kps);
	free(p->kp_lens);
	free(p->added);
	free(p->remove);
	free(p->removed);
	free(p->rm_users);
	free(p->rm_devs);
	free(p->add_users);
	free(p->add_devs);
	memset(p, 0, sizeof *p);
}

/* Encodes the COMMIT request fields kept in the pending record. */
static int pending_encode(uint64_t epoch, const uint8_t *commit, size_t commit_len,
                          const uint8_t *welcome, size_t welcome_len,
                          const struct vl_device_ref *added, size_t n_added,
                          const struct vl_device_ref *removed, size_t n_removed, uint8_t **out,
                          size_t *out_len)
{
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_CLIENT_STORE_MAX_VALUE);
	(void)!vl_write_u64(&w, epoch);
	(void)!vl_write_opaque(&w, commit, commit_len);
	(void)!vl_write_optional(&w, welcome != NULL);
	if (welcome)
		(void)!vl_write_opaque(&w, welcome, welcome_len);
	const struct vl_device_ref *lists[2] = {added, removed};
	size_t counts[2] = {n_added, n_removed};
	for (int l = 0; l < 2; l++) {
		size_t mark = vl_write_vector_begin(&w);
		for (size_t i = 0; i < counts[l]; i++) {
			(void)!vl_write_opaque(&w, lists[l][i].user.p, lists[l][i].user.len);
			(void)!vl_write_opaque(&w, lists[l][i].device.p, lists[l][i].device.len);
		}
		(void)!vl_write_vector_end(&w, mark);
	}
	return vl_writer_take(&w, out, out_len);
}

/* Sends a COMMIT from a pending record; VL_OK, VL_ERR_STALE_EPOCH, ... */
static int commit_send(struct vl_client *c, struct cl_conv *cv, const uint8_t *rec, size_t rec_len)
{
	struct vl_reader r;
	vl_reader_init(&r, rec, rec_len);
	struct vl_msg_commit m;
	memset(&m, 0, sizeof m);
	m.group_id = (struct vl_bytes){cv->gid, cv->gid_len};
	const uint8_t *p;
	size_t n;
	bool has_w = false;
	int rc = vl_read_u64(&r, &m.epoch);
	if (!rc && !(rc = vl_read_opaque(&r, &p, &n, VL_CLIENT_STORE_MAX_VALUE)))
		m.commit = (struct vl_bytes){p, n};
	if (!rc)
		rc = vl_read_optional(&r, &has_w);
	if (!rc && has_w && !(rc = vl_read_opaque(&r, &p, &n, VL_CLIENT_STORE_MAX_VALUE))) {
		m.has_welcome = true;
		m.welcome = (struct vl_bytes){p, n};
	}
	struct vl_device_ref *refs[2] = {NULL, NULL};
	size_t counts[2] = {0, 0};
	for (int l = 0; !rc && l < 2; l++) {
		struct vl_reader sub;
		if ((rc = vl_read_vector(&r, &sub)))
			break;
		while (!rc && vl_reader_left(&sub) > 0) {
			struct vl_device_ref *nr = realloc(refs[l], (counts[l] + 1) * sizeof *nr);
			if (!nr) {
				rc = VL_ERR_NOMEM;
				break;
			}
			refs[l] = nr;
			struct vl_device_ref *d = &refs[l][counts[l]];
			rc = vl_read_opaque(&sub, &d->user.p, &d->user.len, VL_PROTO_ADDRESS_MAX);
			if (!rc)
				rc = vl_read_opaque(&sub, &d->device.p, &d->device.len,
				                    VL_PROTO_DEVICE_MAX);
			counts[l]++;
		}
	}
	uint8_t h[VL_HASH_MAX];
	if (!rc)
		rc = vl_hash(c->s, m.commit.p, m.commit.len, h);
	if (!rc) {
		memcpy(m.client_msg_id, h, VL_PROTO_MSG_ID_LEN);
		struct vl_writer w;
		vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
		uint32_t id = cl_next_id(c);
		rc = vl_msg_commit_encode(&w, id, &m, refs[0], counts[0], refs[1], counts[1]);
		if (rc) {
			vl_writer_cleanup(&w);
			rc = cl_fail(c, rc, "commit too large for one frame");
		} else if (cl_test_crash_after_commit_send && c->connected) {
			/* Test hook: the frame leaves, then the client "dies"
			 * before it reads the answer. */
			cl_test_crash_after_commit_send = false;
			(void)!cl_net_send(&c->net, w.buf, w.len);
			vl_writer_cleanup(&w);
			rc = cl_fail(c, VL_ERR_NET, "simulated crash after sending a commit");
		} else {
			rc = cl_request(c, &w, id, NULL, NULL);
		}
	}
	free(refs[0]);
	free(refs[1]);
	return rc;
}

/* Processes deliveries until cv's epoch passes `epoch` (the commit that
 * beat ours) or the timeout. */
static int wait_epoch(struct vl_client *c, struct cl_conv *cv, uint64_t epoch)
{
	uint64_t deadline = cl_now_ms() + (uint64_t)c->timeout_ms;
	for (;;) {
		int rc = cl_process_pushes(c);
		if (rc)
			return rc;
		if (!cv->active || !cv->g || vl_group_epoch(cv->g) > epoch)
			return VL_OK;
		uint64_t now = cl_now_ms();
		if (now >= deadline)
			return cl_fail(c, VL_ERR_TIMEOUT, "the winning commit did not arrive");
		rc = cl_read_one(c, (int)(deadline - now));
		if (rc && rc != VL_ERR_TIMEOUT)
			return rc;
	}
}

/* One attempt at committing plan p. */
static int commit_once(struct vl_client *c, struct cl_conv *cv, const struct plan *p)
{
	struct vl_commit_args args = {
	    .add = p->kps,
	    .add_len = p->kp_lens,
	    .n_add = p->n_add,
	    .remove = p->remove,
	    .n_remove = p->n_remove,
	};
	uint64_t epoch = vl_group_epoch(cv->g);
	uint8_t *commit = NULL, *welcome = NULL, *rec = NULL, *state = NULL;
	size_t commit_len = 0, welcome_len = 0, rec_len = 0, state_len = 0;
	struct vl_group *before = group_copy(cv->g);
	int rc = vl_group_commit(cv->g, &args, &commit, &commit_len, &welcome, &welcome_len);
	if (rc) {
		vl_group_free(before);
		return cl_fail(c, rc, "commit cannot be built: %s", vl_strerror(rc));
	}
	rc = vl_group_commit_merge(cv->g);
	if (!rc)
		rc = vl_group_export(cv->g, &state, &state_len);
	if (!rc)
		rc = pending_encode(epoch, commit, commit_len, welcome, welcome_len, p->added,
		                    p->n_add, p->removed, p->n_remove, &rec, &rec_len);
	if (!rc)
		rc = vl_client_store_pending_put(c->st, cv->gid, cv->gid_len, epoch + 1, rec,
		                                 rec_len, state, state_len);
	free(commit);
	free(welcome);
	if (state)
		vl_wipe(state, state_len);
	free(state);
	if (rc) {
		free(rec);
		vl_group_free(before);
		(void)conv_reload(c, cv);
		return cl_fail(c, rc == VL_ERR_EXISTS ? VL_ERR_STATE : rc,
		               "commit cannot be recorded: %s", vl_strerror(rc));
	}
	rc = commit_send(c, cv, rec, rec_len);
	free(rec);
	if (rc == VL_OK) {
		prev_set(cv, before);
		if (vl_client_store_pending_accept(c->st, cv->gid, cv->gid_len))
			return cl_fail(c, VL_ERR_STORE, "store: %s", vl_client_store_errmsg(c->st));
		return VL_OK; /* memory already holds S1 */
	}
	vl_group_free(before);
	if (rc == VL_ERR_NET || rc == VL_ERR_TIMEOUT) {
		/* Outcome unknown: keep the record for the next connect. */
		int keep = rc;
		(void)conv_reload(c, cv);
		return keep;
	}
	(void)!vl_client_store_pending_discard(c->st, cv->gid, cv->gid_len);
	int rr = conv_reload(c, cv);
	if (rr)
		return rr;
	if (rc == VL_ERR_STALE_EPOCH) {
		int wr = wait_epoch(c, cv, epoch);
		if (wr)
			return wr;
	}
	return rc;
}

int cl_resend_pending(struct vl_client *c)
{
	for (struct cl_conv *cv = c->convs; cv; cv = cv->next) {
		if (!cv->active || !cv->g)
			continue;
		uint8_t *rec;
		size_t rec_len;
		uint64_t ne;
		int rc = vl_client_store_pending_get(c->st, cv->gid, cv->gid_len, &ne, &rec,
		                                     &rec_len, NULL, NULL);
		if (rc == VL_ERR_NOT_FOUND)
			continue;
		if (rc)
			return cl_fail(c, VL_ERR_STORE, "store: %s", vl_client_store_errmsg(c->st));
		rc = commit_send(c, cv, rec, rec_len);
		vl_client_store_free(rec, rec_len);
		if (rc == VL_OK) {
			if (vl_client_store_pending_accept(c->st, cv->gid, cv->gid_len))
				return cl_fail(c, VL_ERR_STORE, "store: %s",
				               vl_client_store_errmsg(c->st));
			if ((rc = conv_reload(c, cv)))
				return rc;
		} else if (rc == VL_ERR_NET || rc == VL_ERR_TIMEOUT) {
			return rc;
		} else {
			(void)!vl_client_store_pending_discard(c->st, cv->gid, cv->gid_len);
		}
	}
	return VL_OK;
}

/* A plan builder: adds the claimed KeyPackages (skipping devices already
 * in the group and this device) and removes the devices of `rm_users`
 * (all devices of those users) and of `rm_ids` (single identities). */
static int plan_build(struct vl_client *c, struct cl_conv *cv, struct plan *p,
                      const struct cl_claimed *const *claims, const size_t *n_claims,
                      char *const *claim_users, size_t n_claim_users, char *const *rm_users,
                      size_t n_rm_users, char *const *rm_ids, size_t n_rm_ids)
{
	memset(p, 0, sizeof *p);
	char **ids;
	uint32_t *leaves;
	size_t n_ids;
	int rc = member_ids(cv->g, &ids, &leaves, &n_ids);
	if (rc)
		return rc;
	size_t max_add = 0;
	for (size_t u = 0; u < n_claim_users; u++)
		max_add += n_claims[u];
	size_t cap_add = max_add ? max_add : 1, cap_rm = n_ids ? n_ids : 1;
	p->kps = calloc(cap_add, sizeof *p->kps);
	p->kp_lens = calloc(cap_add, sizeof *p->kp_lens);
	p->added = calloc(cap_add, sizeof *p->added);
	p->add_users = calloc(cap_add, sizeof *p->add_users);
	p->add_devs = calloc(cap_add, sizeof *p->add_devs);
	p->remove = calloc(cap_rm, sizeof *p->remove);
	p->removed = calloc(cap_rm, sizeof *p->removed);
	p->rm_users = calloc(cap_rm, sizeof *p->rm_users);
	p->rm_devs = calloc(cap_rm, sizeof *p->rm_devs);
	if (!p->kps || !p->kp_lens || !p->added || !p->add_users || !p->add_devs || !p->remove ||
	    !p->removed || !p->rm_users || !p->rm_devs) {
		rc = VL_ERR_NOMEM;
		goto done;
	}
	for (size_t u = 0; u < n_claim_users; u++) {
		for (size_t i = 0; i < n_claims[u]; i++) {
			const struct cl_claimed *cl = &claims[u][i];
			char idb[CL_IDENTITY_MAX + 1];
			snprintf(idb, sizeof idb, "%s#%s", claim_users[u], cl->device);
			if (ids_contain(ids, n_ids, idb) || strcmp(idb, c->identity) == 0)
				continue;
			size_t k = p->n_add++;
			p->kps[k] = cl->kp;
			p->kp_lens[k] = cl->kp_len;
			snprintf(p->add_users[k], sizeof p->add_users[k], "%s", claim_users[u]);
			snprintf(p->add_devs[k], sizeof p->add_devs[k], "%s", cl->device);
			p->added[k].user = (struct vl_bytes){(const uint8_t *)p->add_users[k],
			                                     strlen(p->add_users[k])};
			p->added[k].device = (struct vl_bytes){(const uint8_t *)p->add_devs[k],
			                                       strlen(p->add_devs[k])};
		}
	}
	for (size_t i = 0; i < n_ids; i++) {
		char user[VL_CLIENT_ADDRESS_MAX + 1], dev[VL_CLIENT_DEVICE_MAX + 1];
		if (!cl_split_identity((const uint8_t *)ids[i], strlen(ids[i]), user, dev))
			continue;
		bool rm = ids_contain(rm_ids, n_rm_ids, ids[i]) ||
		          ids_contain(rm_users, n_rm_users, user);
		/* RFC 9420 §12.2: a committer does not remove itself. */
		if (!rm || leaves[i] == vl_group_own_leaf(cv->g))
			continue;
		size_t k = p->n_remove++;
		p->remove[k] = leaves[i];
		snprintf(p->rm_users[k], sizeof p->rm_users[k], "%s", user);
		snprintf(p->rm_devs[k], sizeof p->rm_devs[k], "%s", dev);
		p->removed[k].user =
		    (struct vl_bytes){(const uint8_t *)p->rm_users[k], strlen(p->rm_users[k])};
		p->removed[k].device =
		    (struct vl_bytes){(const uint8_t *)p->rm_devs[k], strlen(p->rm_devs[k])};
	}
done:
	cl_strv_free(ids, n_ids);
	free(leaves);
	if (rc)
		plan_free(p);
	return rc;
}

/* Commits with retries: the plan is rebuilt on each new epoch. */
static int commit_changes(struct vl_client *c, struct cl_conv *cv,
                          const struct cl_claimed *const *claims, const size_t *n_claims,
                          char *const *claim_users, size_t n_claim_users, char *const *rm_users,
                          size_t n_rm_users, char *const *rm_ids, size_t n_rm_ids, bool *changed)
{
	*changed = false;
	for (int attempt = 0; attempt < COMMIT_TRIES; attempt++) {
		int drc = drain(c);
		if (drc)
			return drc;
		if (!cv->active || !cv->g)
			return cl_fail(c, VL_ERR_STATE, "no longer a member");
		struct plan p;
		int rc = plan_build(c, cv, &p, claims, n_claims, claim_users, n_claim_users,
		                    rm_users, n_rm_users, rm_ids, n_rm_ids);
		if (rc)
			return rc;
		if (p.n_add == 0 && p.n_remove == 0) {
			plan_free(&p);
			return VL_OK; /* nothing (left) to do */
		}
		rc = commit_once(c, cv, &p);
		plan_free(&p);
		if (rc == VL_OK) {
			*changed = true;
			return cl_conv_save_state(c, cv);
		}
		if (rc != VL_ERR_STALE_EPOCH)
			return rc;
	}
	return cl_fail(c, VL_ERR_AGAIN, "commit lost %d times in a row", COMMIT_TRIES);
}

/* --- creating and changing conversations ---------------------------------------- */

static bool addr_ok(const char *a)
{
	return a && vl_proto_address_valid((const uint8_t *)a, strlen(a));
}

struct claims {
	struct cl_claimed **lists;
	size_t *counts;
	char **users;
	size_t n;
};

static void claims_free(struct claims *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		cl_claimed_free(cs->lists[i], cs->counts[i]);
		free(cs->users[i]);
	}
	free(cs->lists);
	free(cs->counts);
	free(cs->users);
	memset(cs, 0, sizeof *cs);
}

/* Claims KeyPackages for each user; own_optional: our own user may have
 * no other device (not an error). */
static int claims_get(struct vl_client *c, const char *const *users, size_t n, struct claims *cs)
{
	memset(cs, 0, sizeof *cs);
	cs->lists = calloc(n ? n : 1, sizeof *cs->lists);
	cs->counts = calloc(n ? n : 1, sizeof *cs->counts);
	cs->users = calloc(n ? n : 1, sizeof *cs->users);
	if (!cs->lists || !cs->counts || !cs->users) {
		claims_free(cs);
		return VL_ERR_NOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		int rc = cl_kp_claim(c, users[i], &cs->lists[i], &cs->counts[i]);
		bool own = strcmp(users[i], c->address) == 0;
		if (rc == VL_ERR_NOT_FOUND && own)
			rc = VL_OK;
		if (!rc && !(cs->users[i] = strdup(users[i])))
			rc = VL_ERR_NOMEM;
		cs->n = i + 1;
		if (rc) {
			claims_free(cs);
			return rc == VL_ERR_NOT_FOUND
			           ? cl_fail(c, rc, "%s has no device to add", users[i])
			           : rc;
		}
	}
	return VL_OK;
}

static int random_gid(uint8_t gid[CL_GROUP_ID_LEN])
{
	return vl_random(gid, CL_GROUP_ID_LEN);
}

int vl_client_conv_create(struct vl_client *c, enum vl_conv_kind kind, const char *name,
                          const char *const *members, size_t n_members,
                          char id[VL_CLIENT_ID_MAX + 1])
{
	id[0] = '\0';
	if (kind != VL_CONV_DIRECT && kind != VL_CONV_GROUP)
		return cl_fail(c, VL_ERR_ARG, "bad conversation kind");
	if (kind == VL_CONV_DIRECT && n_members != 1)
		return cl_fail(c, VL_ERR_ARG, "a direct conversation has exactly one other member");
	if (name && strlen(name) > 4096)
		return cl_fail(c, VL_ERR_ARG, "name too long");
	for (size_t i = 0; i < n_members; i++)
		if (!addr_ok(members[i]))
			return cl_fail(c, VL_ERR_ARG, "bad address: %.100s",
			               members[i] ? members[i] : "");
	if (kind == VL_CONV_DIRECT) {
		if (strcmp(members[0], c->address) == 0)
			return cl_fail(c, VL_ERR_ARG, "a direct conversation needs another user");
		for (struct cl_conv *cv = c->convs; cv; cv = cv->next)
			if (cv->active && cv->kind == VL_CONV_DIRECT &&
			    strcmp(cv->peer, members[0]) == 0) {
				snprintf(id, VL_CLIENT_ID_MAX + 1, "%s", cv->id);
				return VL_OK;
			}
	}
	/* Our own user first (our other devices), then each member once. */
	const char **users = calloc(n_members + 1, sizeof *users);
	if (!users)
		return VL_ERR_NOMEM;
	size_t nu = 0;
	users[nu++] = c->address;
	for (size_t i = 0; i < n_members; i++) {
		bool dup = false;
		for (size_t j = 0; j < nu; j++)
			dup |= strcmp(users[j], members[i]) == 0;
		if (!dup)
			users[nu++] = members[i];
	}
	struct claims cs;
	int rc = claims_get(c, users, nu, &cs);
	free(users);
	if (rc)
		return rc;
	uint8_t gid[CL_GROUP_ID_LEN];
	struct cl_conv *cv = NULL;
	if ((rc = random_gid(gid)))
		goto done;
	struct vl_writer w;
	vl_writer_init_heap(&w, 512);
	uint32_t rid = cl_next_id(c);
	struct vl_msg_group_create gc = {.group_id = {gid, sizeof gid}};
	(void)!vl_msg_group_create_encode(&w, rid, &gc);
	if ((rc = cl_request(c, &w, rid, NULL, NULL)))
		goto done;
	if (!(cv = conv_new(c, gid, sizeof gid))) {
		rc = VL_ERR_NOMEM;
		goto done;
	}
	rc = vl_group_create(c->suite, gid, sizeof gid, (const uint8_t *)c->identity,
	                     strlen(c->identity), c->sig_priv, NULL, &cv->g);
	if (rc) {
		rc = cl_fail(c, rc, "group cannot be created");
		goto done;
	}
	cv->kind = (uint8_t)kind;
	cv->has_meta = true;
	cv->last_ms = cl_now_ms();
	if (name && *name && !(cv->name = strdup(name))) {
		rc = VL_ERR_NOMEM;
		goto done;
	}
	if (kind == VL_CONV_DIRECT)
		snprintf(cv->peer, sizeof cv->peer, "%s", members[0]);
	cv->admins = calloc(1, sizeof *cv->admins);
	if (!cv->admins || !(cv->admins[0] = strdup(c->address))) {
		rc = VL_ERR_NOMEM;
		goto done;
	}
	cv->n_admins = 1;
	if ((rc = cl_conv_save_state(c, cv)) || (rc = cl_conv_save_meta(c, cv)))
		goto done;
	bool changed;
	rc = commit_changes(c, cv, (const struct cl_claimed *const *)cs.lists, cs.counts, cs.users,
	                    cs.n, NULL, 0, NULL, 0, &changed);
	if (!rc)
		rc = cl_msg_send_meta(c, cv);
	if (!rc) {
		snprintf(id, VL_CLIENT_ID_MAX + 1, "%s", cv->id);
		cl_msg_system(c, cv, "conversation created");
	}
done:
	claims_free(&cs);
	return rc;
}

static int conv_get(struct vl_client *c, const char *id, bool need_admin, struct cl_conv **out)
{
	struct cl_conv *cv = id ? cl_conv_find(c, id) : NULL;
	if (!cv)
		return cl_fail(c, VL_ERR_NOT_FOUND, "no such conversation");
	if (!cv->active || !cv->g)
		return cl_fail(c, VL_ERR_STATE, "no longer a member of this conversation");
	if (need_admin && !cl_conv_is_admin(cv, c->address))
		return cl_fail(c, VL_ERR_PERMISSION, "only the conversation's admins may do this");
	*out = cv;
	return VL_OK;
}

int vl_client_conv_add(struct vl_client *c, const char *conv, const char *const *addresses,
                       size_t n)
{
	struct cl_conv *cv;
	int rc = conv_get(c, conv, true, &cv);
	if (rc)
		return rc;
	if (cv->kind == VL_CONV_DIRECT)
		return cl_fail(c, VL_ERR_STATE, "a direct conversation has fixed members");
	for (size_t i = 0; i < n; i++)
		if (!addr_ok(addresses[i]))
			return cl_fail(c, VL_ERR_ARG, "bad address");
	struct claims cs;
	if ((rc = claims_get(c, addresses, n, &cs)))
		return rc;
	bool changed;
	rc = commit_changes(c, cv, (const struct cl_claimed *const *)cs.lists, cs.counts, cs.users,
	                    cs.n, NULL, 0, NULL, 0, &changed);
	claims_free(&cs);
	if (!rc && changed) {
		rc = cl_msg_send_meta(c, cv);
		for (size_t i = 0; i < n; i++) {
			char t[400];
			snprintf(t, sizeof t, "%s added %s", c->address, addresses[i]);
			cl_msg_system(c, cv, t);
		}
	}
	return rc;
}

int vl_client_conv_remove(struct vl_client *c, const char *conv, const char *const *addresses,
                          size_t n)
{
	struct cl_conv *cv;
	int rc = conv_get(c, conv, true, &cv);
	if (rc)
		return rc;
	if (cv->kind == VL_CONV_DIRECT)
		return cl_fail(c, VL_ERR_STATE, "a direct conversation has fixed members");
	char **users;
	size_t nu;
	if ((rc = cl_conv_users(cv, &users, &nu)))
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		if (!addr_ok(addresses[i]))
			rc = cl_fail(c, VL_ERR_ARG, "bad address");
		else if (!ids_contain(users, nu, addresses[i]))
			rc = cl_fail(c, VL_ERR_NOT_FOUND, "%s is not a member", addresses[i]);
		else if (strcmp(addresses[i], c->address) == 0)
			rc = cl_fail(c, VL_ERR_ARG, "use vl_client_conv_leave to leave");
	}
	cl_strv_free(users, nu);
	if (rc)
		return rc;
	bool changed;
	rc = commit_changes(c, cv, NULL, NULL, NULL, 0, (char *const *)addresses, n, NULL, 0,
	                    &changed);
	if (!rc && changed) {
		/* Removed users lose admin rights too. */
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < cv->n_admins; j++)
				if (strcmp(cv->admins[j], addresses[i]) == 0) {
					free(cv->admins[j]);
					cv->admins[j] = cv->admins[--cv->n_admins];
					break;
				}
		rc = cl_conv_save_meta(c, cv);
		if (!rc)
			rc = cl_msg_send_meta(c, cv);
		for (size_t i = 0; i < n; i++) {
			char t[400];
			snprintf(t, sizeof t, "%s removed %s", c->address, addresses[i]);
			cl_msg_system(c, cv, t);
		}
	}
	return rc;
}

int vl_client_conv_leave(struct vl_client *c, const char *conv)
{
	struct cl_conv *cv;
	int rc = conv_get(c, conv, false, &cv);
	if (rc)
		return rc;
	/* A member cannot commit its own removal (RFC 9420 §12.2), and the
	 * protocol carries proposals only inside commits, so leaving is a
	 * request in the group: the remaining member with the lowest leaf
	 * commits the removal of all our devices (see handle_leave). */
	struct vl_mimi_content mc;
	vl_mimi_content_init(&mc);
	rc = vl_mimi_part_set_single(&mc.body, VL_MIMI_DISP_SESSION, NULL, CL_TYPE_LEAVE,
	                             c->address, strlen(c->address));
	if (!rc)
		rc = cl_msg_send(c, cv, &mc, false, NULL);
	vl_mimi_content_cleanup(&mc);
	if (rc)
		return rc;
	cv->active = false;
	vl_group_free(cv->g);
	cv->g = NULL;
	cl_msg_system(c, cv, "you left the conversation");
	return cl_conv_save_meta(c, cv);
}

int vl_client_conv_rename(struct vl_client *c, const char *conv, const char *name)
{
	struct cl_conv *cv;
	int rc = conv_get(c, conv, true, &cv);
	if (rc)
		return rc;
	if (!name || strlen(name) > 4096)
		return cl_fail(c, VL_ERR_ARG, "bad name");
	char *nn = strdup(name);
	if (!nn)
		return VL_ERR_NOMEM;
	free(cv->name);
	cv->name = nn;
	if ((rc = cl_conv_save_meta(c, cv)))
		return rc;
	return cl_msg_send_meta(c, cv);
}

int vl_client_conv_set_admin(struct vl_client *c, const char *conv, const char *address, bool admin)
{
	struct cl_conv *cv;
	int rc = conv_get(c, conv, true, &cv);
	if (rc)
		return rc;
	if (!addr_ok(address))
		return cl_fail(c, VL_ERR_ARG, "bad address");
	bool is = cl_conv_is_admin(cv, address);
	if (is == admin)
		return VL_OK;
	if (admin) {
		char **users;
		size_t nu;
		if ((rc = cl_conv_users(cv, &users, &nu)))
			return rc;
		bool member = ids_contain(users, nu, address);
		cl_strv_free(users, nu);
		if (!member)
			return cl_fail(c, VL_ERR_NOT_FOUND, "%s is not a member", address);
		char **na = realloc(cv->admins, (cv->n_admins + 1) * sizeof *na);
		if (!na)
			return VL_ERR_NOMEM;
		cv->admins = na;
		if (!(cv->admins[cv->n_admins] = strdup(address)))
			return VL_ERR_NOMEM;
		cv->n_admins++;
	} else {
		if (cv->n_admins == 1)
			return cl_fail(c, VL_ERR_STATE, "the last admin cannot be withdrawn");
		for (size_t j = 0; j < cv->n_admins; j++)
			if (strcmp(cv->admins[j], address) == 0) {
				free(cv->admins[j]);
				cv->admins[j] = cv->admins[--cv->n_admins];
				break;
			}
	}
	if ((rc = cl_conv_save_meta(c, cv)))
		return rc;
	return cl_msg_send_meta(c, cv);
}

int vl_client_sync(struct vl_client *c)
{
	struct vl_device_entry *devs;
	size_t nd;
	int rc = vl_client_devices(c, &devs, &nd);
	if (rc)
		return rc;
	struct claims cs = {0};
	bool claimed = false;
	for (struct cl_conv *cv = c->convs; cv && !rc; cv = cv->next) {
		if (!cv->active || !cv->g)
			continue;
		char **ids;
		size_t n_ids;
		if ((rc = member_ids(cv->g, &ids, NULL, &n_ids)))
			break;
		bool missing = false;
		char **revoked = calloc(nd ? nd : 1, sizeof *revoked);
		size_t n_rev = 0;
		if (!revoked) {
			cl_strv_free(ids, n_ids);
			rc = VL_ERR_NOMEM;
			break;
		}
		for (size_t i = 0; i < nd; i++) {
			char idb[CL_IDENTITY_MAX + 1];
			snprintf(idb, sizeof idb, "%s#%s", c->address, devs[i].name);
			bool in = ids_contain(ids, n_ids, idb);
			if (!devs[i].revoked && !in)
				missing = true;
			if (devs[i].revoked && in && (revoked[n_rev] = strdup(idb)))
				n_rev++;
		}
		cl_strv_free(ids, n_ids);
		if (missing && !claimed) {
			const char *me = c->address;
			rc = claims_get(c, &me, 1, &cs);
			claimed = rc == VL_OK;
		}
		if (!rc && (missing || n_rev)) {
			bool changed;
			rc = commit_changes(c, cv, (const struct cl_claimed *const *)cs.lists,
			                    cs.counts, cs.users, cs.n, NULL, 0, revoked, n_rev,
			                    &changed);
			if (!rc && changed)
				rc = cl_msg_send_meta(c, cv);
		}
		cl_strv_free(revoked, n_rev);
	}
	claims_free(&cs);
	vl_client_devices_free(devs);
	if (!rc && c->kp_stock < c->kp_target)
		rc = cl_kp_replenish(c, c->kp_target, NULL);
	return rc;
}

/* --- leave requests ------------------------------------------------------------- */

void cl_convs_after_batch(struct vl_client *c)
{
	for (struct cl_conv *cv = c->convs; cv; cv = cv->next) {
		if (cv->n_leavers == 0)
			continue;
		char **lv = cv->leavers;
		size_t n = cv->n_leavers;
		cv->leavers = NULL;
		cv->n_leavers = 0;
		if (!cv->active || !cv->g || !c->connected) {
			cl_strv_free(lv, n);
			continue;
		}
		/* The designated committer is the member with the lowest leaf
		 * that is not leaving, so one commit is made, not one per
		 * member. */
		char **ids;
		uint32_t *leaves;
		size_t n_ids;
		if (member_ids(cv->g, &ids, &leaves, &n_ids) == VL_OK) {
			uint32_t first = UINT32_MAX;
			for (size_t i = 0; i < n_ids; i++) {
				char user[VL_CLIENT_ADDRESS_MAX + 1], dev[VL_CLIENT_DEVICE_MAX + 1];
				if (!cl_split_identity((const uint8_t *)ids[i], strlen(ids[i]),
				                       user, dev))
					continue;
				if (!ids_contain(lv, n, user) && leaves[i] < first)
					first = leaves[i];
			}
			cl_strv_free(ids, n_ids);
			free(leaves);
			bool changed;
			if (first == vl_group_own_leaf(cv->g) &&
			    commit_changes(c, cv, NULL, NULL, NULL, 0, lv, n, NULL, 0, &changed) ==
			        VL_OK &&
			    changed) {
				for (size_t j = 0; j < n; j++) {
					char t[400];
					snprintf(t, sizeof t, "%s left", lv[j]);
					cl_msg_system(c, cv, t);
				}
			}
		}
		cl_strv_free(lv, n);
	}
}

/* --- deliveries ------------------------------------------------------------------- */

static void event_conv(struct vl_client *c, enum vl_event_type t, const struct cl_conv *cv,
                       const char *text)
{
	struct vl_event ev = {.type = t};
	snprintf(ev.conv, sizeof ev.conv, "%s", cv->id);
	if (text)
		ev.text = strdup(text);
	cl_event_push(c, &ev);
}

static int on_welcome(struct vl_client *c, const struct vl_msg_deliver *d)
{
	struct vl_mls_arena a;
	vl_mls_arena_init(&a, 0);
	struct vl_mls_message m;
	int rc = vl_mls_message_parse(d->message.p, d->message.len, &a, &m);
	if (rc || m.wire_format != VL_MLS_WIRE_WELCOME) {
		vl_mls_arena_cleanup(&a);
		return VL_OK; /* not a Welcome: dropped */
	}
	struct vl_key_package *kp = NULL;
	bool last_resort = false;
	const uint8_t *ref = NULL;
	size_t ref_len = 0;
	for (size_t i = 0; i < m.welcome.secret_count && !kp; i++) {
		const struct vl_mls_bytes *nm = &m.welcome.secrets[i].new_member;
		if (cl_kp_lookup(c, nm->data, nm->len, &kp, &last_resort) == VL_OK) {
			ref = nm->data;
			ref_len = nm->len;
		}
	}
	if (!kp) {
		vl_mls_arena_cleanup(&a);
		return VL_OK; /* not for a KeyPackage of ours */
	}
	struct vl_group *g = NULL;
	rc = vl_group_join(kp, d->message.p, d->message.len, NULL, 0, NULL, &g);
	vl_key_package_free(kp);
	uint8_t ref_copy[VL_HASH_MAX];
	memcpy(ref_copy, ref, ref_len);
	vl_mls_arena_cleanup(&a);
	if (rc) {
		struct vl_event ev = {.type = VL_EVENT_UNDECRYPTABLE, .code = rc};
		cl_event_push(c, &ev);
		return VL_OK;
	}
	struct cl_conv *cv = cl_conv_find_gid(c, d->group_id.p, d->group_id.len);
	if (cv) { /* re-added after a removal: a new membership */
		vl_group_free(cv->g);
		cv->g = NULL;
		cv->active = true;
	} else if (!(cv = conv_new(c, d->group_id.p, d->group_id.len))) {
		vl_group_free(g);
		return VL_ERR_NOMEM;
	}
	cv->g = g;
	cv->last_ms = cl_now_ms();
	rc = cl_conv_save_state(c, cv);
	if (!rc)
		rc = cl_conv_save_meta(c, cv);
	if (rc)
		return rc;
	if (!last_resort)
		cl_kp_forget(c, ref_copy, ref_len);
	if (c->kp_stock > 0)
		c->kp_stock--;
	learn_tree(c, cv);
	char by[VL_CLIENT_ADDRESS_MAX + 1];
	snprintf(by, sizeof by, "%.*s", (int)d->sender.user.len, (const char *)d->sender.user.p);
	struct vl_event ev = {.type = VL_EVENT_CONV_JOINED};
	snprintf(ev.conv, sizeof ev.conv, "%s", cv->id);
	snprintf(ev.sender, sizeof ev.sender, "%s", by);
	snprintf(ev.sender_device, sizeof ev.sender_device, "%.*s", (int)d->sender.device.len,
	         (const char *)d->sender.device.p);
	cl_event_push(c, &ev);
	char t[400];
	snprintf(t, sizeof t, "%s added you", by);
	cl_msg_system(c, cv, t);
	return VL_OK;
}

/* Learns the signature key of every member from the group's ratchet tree
 * (the keys the group really uses: a device whose key changes, or a new
 * device of a known user, raises a warning). */
static void learn_tree(struct vl_client *c, const struct cl_conv *cv)
{
	uint8_t *rt;
	size_t rt_len;
	if (!cv->g || vl_group_ratchet_tree(cv->g, &rt, &rt_len) != VL_OK)
		return;
	struct vl_mls_arena a;
	vl_mls_arena_init(&a, 0);
	struct vl_mls_ratchet_tree t;
	if (vl_mls_ratchet_tree_parse(rt, rt_len, &a, &t) == VL_OK) {
		for (size_t i = 0; i < t.count; i++) {
			if (t.nodes[i].type != VL_MLS_NODE_LEAF)
				continue;
			const struct vl_mls_leaf_node *ln = &t.nodes[i].leaf;
			char user[VL_CLIENT_ADDRESS_MAX + 1], dev[VL_CLIENT_DEVICE_MAX + 1];
			if (ln->credential.type == VL_MLS_CREDENTIAL_BASIC &&
			    cl_split_identity(ln->credential.identity.data,
			                      ln->credential.identity.len, user, dev))
				cl_contact_learn(c, user, dev, ln->signature_key.data,
				                 ln->signature_key.len);
		}
	}
	vl_mls_arena_cleanup(&a);
	free(rt);
}

static int on_commit(struct vl_client *c, struct cl_conv *cv, const struct vl_msg_deliver *d)
{
	char **before;
	size_t nb;
	int rc = member_ids(cv->g, &before, NULL, &nb);
	if (rc)
		return rc;
	struct vl_group_msg out;
	memset(&out, 0, sizeof out);
	struct vl_group *copy = group_copy(cv->g);
	rc = vl_group_process(cv->g, d->message.p, d->message.len, &out);
	free(out.data);
	if (rc == VL_OK)
		prev_set(cv, copy);
	else
		vl_group_free(copy);
	if (rc == VL_ERR_STALE_EPOCH) {
		cl_strv_free(before, nb);
		return VL_OK; /* an old commit (ours, or one delivered twice) */
	}
	if (rc) {
		cl_strv_free(before, nb);
		event_conv(c, VL_EVENT_UNDECRYPTABLE, cv, vl_strerror(rc));
		return VL_OK;
	}
	char by[VL_CLIENT_ADDRESS_MAX + 1];
	snprintf(by, sizeof by, "%.*s", (int)d->sender.user.len, (const char *)d->sender.user.p);
	if (out.removed_self || !vl_group_active(cv->g)) {
		cl_strv_free(before, nb);
		rc = cl_conv_save_state(c, cv);
		cv->active = false;
		vl_group_free(cv->g);
		cv->g = NULL;
		vl_group_free(cv->prev);
		cv->prev = NULL;
		if (!rc)
			rc = cl_conv_save_meta(c, cv);
		char t[400];
		snprintf(t, sizeof t, "%s removed you", by);
		cl_msg_system(c, cv, t);
		event_conv(c, VL_EVENT_REMOVED, cv, t);
		return rc;
	}
	learn_tree(c, cv);
	char **after;
	size_t na;
	if ((rc = member_ids(cv->g, &after, NULL, &na))) {
		cl_strv_free(before, nb);
		return rc;
	}
	/* Describe the roster change by device. */
	char desc[1024];
	size_t dl = 0;
	desc[0] = '\0';
	for (size_t i = 0; i < na; i++)
		if (!ids_contain(before, nb, after[i]) && dl < sizeof desc - 300)
			dl += (size_t)snprintf(desc + dl, sizeof desc - dl, "%s%s added %s",
			                       dl ? "; " : "", by, after[i]);
	for (size_t i = 0; i < nb; i++)
		if (!ids_contain(after, na, before[i]) && dl < sizeof desc - 300)
			dl += (size_t)snprintf(desc + dl, sizeof desc - dl, "%s%s removed %s",
			                       dl ? "; " : "", by, before[i]);
	cl_strv_free(before, nb);
	cl_strv_free(after, na);
	rc = cl_conv_save_state(c, cv);
	if (dl) {
		cl_msg_system(c, cv, desc);
		event_conv(c, VL_EVENT_MEMBERS, cv, desc);
	}
	return rc;
}

static int on_application(struct vl_client *c, struct cl_conv *cv, const struct vl_msg_deliver *d)
{
	struct vl_group_msg out;
	memset(&out, 0, sizeof out);
	struct vl_group *g = cv->g;
	int rc = vl_group_process(g, d->message.p, d->message.len, &out);
	if (rc == VL_ERR_STALE_EPOCH && cv->prev && cl_now_ms() < cv->prev_until_ms) {
		/* Sent in the epoch before the last commit, by a member who had
		 * not processed that commit yet. */
		g = cv->prev;
		memset(&out, 0, sizeof out);
		rc = vl_group_process(g, d->message.p, d->message.len, &out);
	}
	if (rc || out.kind != VL_GROUP_MSG_APPLICATION) {
		free(out.data);
		if (rc)
			event_conv(c, VL_EVENT_UNDECRYPTABLE, cv, vl_strerror(rc));
		if (!rc && g == cv->g)
			return cl_conv_save_state(c, cv); /* a proposal, cached */
		return VL_OK;
	}
	uint16_t ct;
	const uint8_t *idp;
	size_t il;
	char user[VL_CLIENT_ADDRESS_MAX + 1], dev[VL_CLIENT_DEVICE_MAX + 1];
	if (vl_group_member(g, out.sender, &ct, &idp, &il) != VL_OK ||
	    !cl_split_identity(idp, il, user, dev)) {
		vl_wipe(out.data, out.data_len);
		free(out.data);
		event_conv(c, VL_EVENT_UNDECRYPTABLE, cv, "unknown sender");
		return g == cv->g ? cl_conv_save_state(c, cv) : VL_OK;
	}
	/* The message is stored before the state that consumed its key: a
	 * crash in between delivers it again, the old state decrypts it again
	 * and the store drops the duplicate by message id. */
	rc = cl_msg_receive(c, cv, user, dev, out.data, out.data_len);
	vl_wipe(out.data, out.data_len);
	free(out.data);
	if (rc == VL_ERR_STORE || rc == VL_ERR_NOMEM)
		return rc;
	return g == cv->g ? cl_conv_save_state(c, cv) : VL_OK;
}

int cl_deliver(struct vl_client *c, const struct vl_msg_deliver *d)
{
	if (d->kind == VL_DELIVERY_WELCOME)
		return on_welcome(c, d);
	struct cl_conv *cv = cl_conv_find_gid(c, d->group_id.p, d->group_id.len);
	if (!cv || !cv->active || !cv->g)
		return VL_OK; /* a group we are not (or no longer) in */
	if (d->kind == VL_DELIVERY_COMMIT)
		return on_commit(c, cv, d);
	if (d->kind == VL_DELIVERY_APPLICATION)
		return on_application(c, cv, d);
	return VL_OK;
}

/* Reads and processes what the server has already pushed, without
 * waiting, so that a message or commit is made in the group's newest
 * epoch known to the server: a message encrypted in an epoch the others
 * have left cannot be read by them. */
static int drain(struct vl_client *c)
{
	if (!c->connected)
		return VL_OK;
	int rc;
	while ((rc = cl_read_one(c, 0)) == VL_OK)
		;
	if (rc != VL_ERR_TIMEOUT)
		return rc;
	return cl_process_pushes(c);
}

/* One attempt: encrypts data in the group's current epoch (*epoch is set
 * to it) and sends it. VL_ERR_STALE_EPOCH if the server has already
 * accepted a commit that ends that epoch. */
static int send_once(struct vl_client *c, struct cl_conv *cv, const uint8_t *data, size_t len,
                     uint64_t *epoch)
{
	bool nowait = c->nowait; /* drain() may send receipts of its own */
	int rc = cl_test_send_without_drain ? VL_OK : drain(c);
	cl_test_send_without_drain = false;
	c->nowait = nowait;
	if (rc)
		return rc;
	if (!cv->active || !cv->g)
		return cl_fail(c, VL_ERR_STATE, "no longer a member of this conversation");
	*epoch = vl_group_epoch(cv->g);
	uint8_t *msg;
	size_t msg_len;
	rc = vl_group_encrypt(cv->g, data, len, NULL, 0, &msg, &msg_len);
	if (rc)
		return cl_fail(c, rc, "encryption failed");
	cl_stat_encryptions++;
	/* The advanced sender ratchet is stored before the message leaves:
	 * a crash must never make us reuse a key and nonce. */
	rc = cl_conv_save_state(c, cv);
	if (!rc) {
		/* The client id (docs/protocol.md §4.4) is the wall-clock
		 * millisecond, 48 bits big-endian, so that the server's
		 * idempotency records append in time order, then 80 bits of
		 * the message's hash: unpredictable, and a message encrypted
		 * again after stale_epoch is a new one with its own id. The id
		 * is made once and travels in the encoded frame, so a resend of
		 * that frame carries the same id. */
		struct vl_msg_send m = {.group_id = {cv->gid, cv->gid_len},
		                        .message = {msg, msg_len}};
		uint8_t h[VL_HASH_MAX];
		rc = vl_hash(c->s, msg, msg_len, h);
		uint64_t ms = cl_now_ms();
		for (int i = 0; i < 6; i++)
			m.client_msg_id[i] = (uint8_t)(ms >> (40 - 8 * i));
		memcpy(m.client_msg_id + 6, h, VL_PROTO_MSG_ID_LEN - 6);
		struct vl_writer w;
		vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
		uint32_t id = cl_next_id(c);
		if (!rc && vl_msg_send_encode(&w, id, &m)) {
			vl_writer_cleanup(&w);
			rc = cl_fail(c, VL_ERR_LIMIT, "message too large for one frame");
		} else if (!rc && c->nowait) {
			cl_stat_sends++;
			rc = c->connected ? cl_net_send(&c->net, w.buf, w.len) : VL_ERR_NET;
			vl_writer_cleanup(&w);
			if (rc)
				rc = cl_fail(c, VL_ERR_NET, "connection lost");
		} else if (!rc) {
			cl_stat_sends++;
			rc = cl_request(c, &w, id, NULL, NULL);
		} else {
			vl_writer_cleanup(&w);
		}
	}
	free(msg);
	return rc;
}

int cl_conv_send(struct vl_client *c, struct cl_conv *cv, const uint8_t *data, size_t len)
{
	/* The server refuses a message whose epoch a commit has already
	 * ended (stale_epoch: nothing was queued). The winning commit is then
	 * in our queue: process it and encrypt the same content again in the
	 * new epoch. A message sent without waiting for its answer (receipts,
	 * typing) is not retried: its refusal never reaches us. */
	for (int attempt = 1;; attempt++) {
		uint64_t epoch = 0;
		int rc = send_once(c, cv, data, len, &epoch);
		if (rc == VL_OK)
			cv->last_ms = cl_now_ms();
		if (rc != VL_ERR_STALE_EPOCH)
			return rc;
		if (attempt == SEND_TRIES)
			return cl_fail(c, VL_ERR_AGAIN,
			               "message refused as stale %d times in a row", SEND_TRIES);
		if ((rc = wait_epoch(c, cv, epoch)))
			return rc;
	}
}

/* --- listing -------------------------------------------------------------------------- */

void vl_conv_info_cleanup(struct vl_conv_info *info)
{
	if (!info)
		return;
	free(info->name);
	cl_strv_free(info->members, info->n_members);
	cl_strv_free(info->admins, info->n_admins);
	memset(info, 0, sizeof *info);
}

void vl_conv_list_free(struct vl_conv_info *list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		vl_conv_info_cleanup(&list[i]);
	free(list);
}

static int info_fill(const struct cl_conv *cv, struct vl_conv_info *info)
{
	memset(info, 0, sizeof *info);
	snprintf(info->id, sizeof info->id, "%s", cv->id);
	info->kind = (enum vl_conv_kind)cv->kind;
	const char *nm = cv->name ? cv->name : (cv->kind == VL_CONV_DIRECT ? cv->peer : "");
	if (!(info->name = strdup(nm)))
		return VL_ERR_NOMEM;
	int rc = cl_conv_users(cv, &info->members, &info->n_members);
	if (rc)
		return rc;
	info->admins = calloc(cv->n_admins ? cv->n_admins : 1, sizeof *info->admins);
	if (!info->admins)
		return VL_ERR_NOMEM;
	for (size_t i = 0; i < cv->n_admins; i++) {
		if (!(info->admins[i] = strdup(cv->admins[i])))
			return VL_ERR_NOMEM;
		info->n_admins++;
	}
	info->n_devices = cv->g ? vl_group_member_count(cv->g) : 0;
	info->epoch = cv->g ? vl_group_epoch(cv->g) : 0;
	info->last_activity_ms = cv->last_ms;
	info->unread = cv->unread;
	info->active = cv->active && cv->g;
	return VL_OK;
}

int vl_client_conv_info(struct vl_client *c, const char *conv, struct vl_conv_info *info)
{
	memset(info, 0, sizeof *info);
	struct cl_conv *cv = conv ? cl_conv_find(c, conv) : NULL;
	if (!cv)
		return cl_fail(c, VL_ERR_NOT_FOUND, "no such conversation");
	int rc = info_fill(cv, info);
	if (rc)
		vl_conv_info_cleanup(info);
	return rc;
}

static int cmp_info(const void *a, const void *b)
{
	const struct vl_conv_info *x = a, *y = b;
	if (x->last_activity_ms != y->last_activity_ms)
		return x->last_activity_ms > y->last_activity_ms ? -1 : 1;
	return strcmp(x->id, y->id);
}

int vl_client_conv_list(struct vl_client *c, struct vl_conv_info **list, size_t *n)
{
	*list = NULL;
	*n = 0;
	size_t k = 0;
	for (struct cl_conv *cv = c->convs; cv; cv = cv->next)
		k++;
	struct vl_conv_info *out = calloc(k ? k : 1, sizeof *out);
	if (!out)
		return VL_ERR_NOMEM;
	size_t i = 0;
	for (struct cl_conv *cv = c->convs; cv; cv = cv->next, i++) {
		int rc = info_fill(cv, &out[i]);
		if (rc) {
			vl_conv_list_free(out, i + 1);
			return rc;
		}
	}
	qsort(out, k, sizeof *out, cmp_info);
	*list = out;
	*n = k;
	return VL_OK;
}
