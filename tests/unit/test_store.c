/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the store interface on its SQLite backend: migrations,
 * invites and devices, the KeyPackage directory, commits (one per epoch),
 * fan-out, idempotent sends, queues and acknowledgements, batches and the
 * group-commit executor. Each test works in its own temporary folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include "server/store/store.h"

struct fx {
	char dir[64];
	char path[128];
	struct vl_store *st;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	strcpy(f->dir, "/tmp/vl_store_XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/valise.db", f->dir);
	struct vl_store_config cfg = {.backend = "sqlite", .path = f->path};
	assert_int_equal(vl_store_open(&cfg, &f->st), VL_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	vl_store_free(f->st);
	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void reopen(struct fx *f)
{
	vl_store_free(f->st);
	struct vl_store_config cfg = {.backend = "sqlite", .path = f->path};
	assert_int_equal(vl_store_open(&cfg, &f->st), VL_OK);
}

#define NOW 1700000000u
static const uint8_t KEY32[32] = {1, 2, 3};

static void invite(struct fx *f, const char *code, const char *user)
{
	assert_int_equal(vl_store_invite_create(f->st, (const uint8_t *)code, strlen(code), user,
	                                        NOW + 3600, NOW),
	                 VL_OK);
}

/* Registers user#name through a fresh invite. */
static struct vl_store_device add_device(struct fx *f, const char *user, const char *name)
{
	char code[128];
	snprintf(code, sizeof code, "inv-%s-%s", user, name);
	invite(f, code, user);
	struct vl_store_device d;
	assert_int_equal(vl_store_device_register(f->st, (const uint8_t *)code, strlen(code), user,
	                                          name, 1, KEY32, 32, 16, NOW, &d),
	                 VL_OK);
	return d;
}

static void test_open_migrate(void **state)
{
	struct fx *f = *state;
	assert_int_equal(vl_store_schema_version(f->st), vl_store_schema_latest());
	assert_true(vl_store_schema_latest() >= 2);

	/* A database left at version 1 is brought up step by step, keeping
	 * its rows. */
	char p1[160];
	snprintf(p1, sizeof p1, "%s/old.db", f->dir);
	struct vl_store_config cfg = {.backend = "sqlite", .path = p1, .max_version = 1};
	struct vl_store *st;
	assert_int_equal(vl_store_open(&cfg, &st), VL_OK);
	assert_int_equal(vl_store_schema_version(st), 1);
	/* Below the latest version the store refuses to operate. */
	assert_int_equal(vl_store_invite_create(st, KEY32, 32, "a@b", NOW, NOW), VL_ERR_STATE);
	vl_store_free(st);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(p1, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO users (address, created) VALUES ('x@y', 1)",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	cfg.max_version = 0;
	assert_int_equal(vl_store_open(&cfg, &st), VL_OK);
	assert_int_equal(vl_store_schema_version(st), vl_store_schema_latest());
	vl_store_free(st);
	assert_int_equal(sqlite3_open(p1, &db), SQLITE_OK);
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT blob_bytes FROM users WHERE address = 'x@y'",
	                                    -1, &s, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 0);
	sqlite3_finalize(s);
	/* A database from a newer program is refused. */
	assert_int_equal(
	    sqlite3_exec(db, "UPDATE schema_version SET version = 999", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(vl_store_open(&cfg, &st), VL_ERR_STORE);
	assert_null(st);

	struct vl_store_config bad = {.backend = "postgres", .path = p1};
	assert_int_equal(vl_store_open(&bad, &st), VL_ERR_UNSUPPORTED);
}

struct users {
	struct vl_store_user u[4];
	size_t n;
};

static int collect_user(void *ctx, const struct vl_store_user *u)
{
	struct users *l = ctx;
	if (l->n == 4)
		return VL_ERR_LIMIT;
	l->u[l->n++] = *u;
	return VL_OK;
}

static void test_register(void **state)
{
	struct fx *f = *state;
	struct vl_store_device d;
	const uint8_t *k = (const uint8_t *)"code-1";
	/* Unknown invite. */
	assert_int_equal(vl_store_device_register(f->st, k, 6, "alice@ex.org", "laptop", 1, KEY32,
	                                          32, 2, NOW, &d),
	                 VL_ERR_AUTH);
	invite(f, "code-1", "alice@ex.org");
	assert_int_equal(vl_store_invite_create(f->st, k, 6, "bob@ex.org", NOW, NOW),
	                 VL_ERR_EXISTS);
	/* Invite for another address. */
	assert_int_equal(
	    vl_store_device_register(f->st, k, 6, "bob@ex.org", "laptop", 1, KEY32, 32, 2, NOW, &d),
	    VL_ERR_AUTH);
	/* Expired. */
	assert_int_equal(vl_store_device_register(f->st, k, 6, "alice@ex.org", "laptop", 1, KEY32,
	                                          32, 2, NOW + 7200, &d),
	                 VL_ERR_AUTH);
	assert_int_equal(vl_store_device_register(f->st, k, 6, "alice@ex.org", "laptop", 2, KEY32,
	                                          32, 2, NOW, &d),
	                 VL_OK);
	assert_string_equal(d.user, "alice@ex.org");
	assert_string_equal(d.name, "laptop");
	assert_int_equal(d.suite, 2);
	assert_int_equal(d.sig_pub_len, 32);
	assert_memory_equal(d.sig_pub, KEY32, 32);
	assert_false(d.revoked);
	/* Used. */
	assert_int_equal(vl_store_device_register(f->st, k, 6, "alice@ex.org", "phone", 1, KEY32,
	                                          32, 2, NOW, &d),
	                 VL_ERR_AUTH);
	/* Name taken: the invite stays usable. */
	invite(f, "code-2", "alice@ex.org");
	k = (const uint8_t *)"code-2";
	assert_int_equal(vl_store_device_register(f->st, k, 6, "alice@ex.org", "laptop", 1, KEY32,
	                                          32, 2, NOW, &d),
	                 VL_ERR_EXISTS);
	assert_int_equal(vl_store_device_register(f->st, k, 6, "alice@ex.org", "phone", 1, KEY32,
	                                          32, 2, NOW, &d),
	                 VL_OK);
	/* Device limit (2). */
	invite(f, "code-3", "alice@ex.org");
	k = (const uint8_t *)"code-3";
	assert_int_equal(vl_store_device_register(f->st, k, 6, "alice@ex.org", "tablet", 1, KEY32,
	                                          32, 2, NOW, &d),
	                 VL_ERR_LIMIT);
	/* Revoking frees a slot but not the name. */
	int64_t rid;
	assert_int_equal(vl_store_device_revoke(f->st, d.user_id, "phone", &rid), VL_OK);
	assert_int_equal(rid, d.id);
	assert_int_equal(vl_store_device_revoke(f->st, d.user_id, "nosuch", NULL),
	                 VL_ERR_NOT_FOUND);
	assert_int_equal(vl_store_device_register(f->st, k, 6, "alice@ex.org", "phone", 1, KEY32,
	                                          32, 2, NOW, &d),
	                 VL_ERR_EXISTS);
	assert_int_equal(vl_store_device_register(f->st, k, 6, "alice@ex.org", "tablet", 1, KEY32,
	                                          32, 2, NOW, &d),
	                 VL_OK);

	assert_int_equal(vl_store_device_get(f->st, "alice@ex.org", "phone", &d), VL_OK);
	assert_true(d.revoked);
	assert_int_equal(vl_store_device_get(f->st, "alice@ex.org", "desk", &d), VL_ERR_NOT_FOUND);
	assert_int_equal(vl_store_device_get(f->st, "carol@ex.org", "phone", &d), VL_ERR_NOT_FOUND);

	/* Cancelling a user's invites: only the unused ones, only that
	 * user's. */
	invite(f, "code-4", "alice@ex.org");
	invite(f, "code-5", "alice@ex.org");
	invite(f, "code-6", "bob@ex.org");
	unsigned n = 9;
	assert_int_equal(vl_store_invite_cancel(f->st, "alice@ex.org", &n), VL_OK);
	assert_int_equal(n, 2);
	k = (const uint8_t *)"code-4";
	assert_int_equal(
	    vl_store_device_register(f->st, k, 6, "alice@ex.org", "desk", 1, KEY32, 32, 9, NOW, &d),
	    VL_ERR_AUTH);
	assert_int_equal(vl_store_invite_cancel(f->st, "alice@ex.org", &n), VL_OK);
	assert_int_equal(n, 0);
	assert_int_equal(vl_store_invite_cancel(f->st, "carol@ex.org", &n), VL_OK);
	assert_int_equal(n, 0);
	k = (const uint8_t *)"code-6";
	assert_int_equal(
	    vl_store_device_register(f->st, k, 6, "bob@ex.org", "desk", 1, KEY32, 32, 9, NOW, &d),
	    VL_OK);

	/* The operator's list: by address, devices counted. */
	struct users ul = {0};
	assert_int_equal(vl_store_user_list(f->st, collect_user, &ul), VL_OK);
	assert_int_equal(ul.n, 2);
	assert_string_equal(ul.u[0].address, "alice@ex.org");
	assert_int_equal(ul.u[0].active, 2);
	assert_int_equal(ul.u[0].revoked, 1);
	assert_int_equal(ul.u[0].created, NOW);
	assert_int_equal(ul.u[0].blob_bytes, 0);
	assert_string_equal(ul.u[1].address, "bob@ex.org");
	assert_int_equal(ul.u[1].active, 1);
	assert_int_equal(ul.u[1].revoked, 0);

	/* Persisted. */
	reopen(f);
	assert_int_equal(vl_store_device_get(f->st, "alice@ex.org", "tablet", &d), VL_OK);
	assert_false(d.revoked);
}

struct names {
	char list[8][VL_STORE_DEVICE_MAX + 1];
	bool revoked[8];
	size_t n;
};

static int collect_device(void *ctx, const struct vl_store_device *d)
{
	struct names *n = ctx;
	if (n->n == 8)
		return VL_ERR_LIMIT;
	strcpy(n->list[n->n], d->name);
	n->revoked[n->n++] = d->revoked;
	return VL_OK;
}

static void test_device_list(void **state)
{
	struct fx *f = *state;
	struct vl_store_device a = add_device(f, "alice@ex.org", "laptop");
	add_device(f, "alice@ex.org", "phone");
	add_device(f, "bob@ex.org", "laptop");
	assert_int_equal(vl_store_device_revoke(f->st, a.user_id, "phone", NULL), VL_OK);
	struct names n = {0};
	assert_int_equal(vl_store_device_list(f->st, a.user_id, collect_device, &n), VL_OK);
	assert_int_equal(n.n, 2);
	assert_string_equal(n.list[0], "laptop");
	assert_false(n.revoked[0]);
	assert_string_equal(n.list[1], "phone");
	assert_true(n.revoked[1]);
}

struct claims {
	char dev[8][VL_STORE_DEVICE_MAX + 1];
	uint8_t first[8];
	uint32_t left[8];
	size_t n;
	size_t fail_at; /* return an error at this call (1-based), 0: never */
};

static int collect_claim(void *ctx, const struct vl_store_device *d, const uint8_t *kp,
                         size_t kp_len, uint32_t left)
{
	struct claims *c = ctx;
	if (c->fail_at && c->n + 1 == c->fail_at)
		return VL_ERR_NOMEM;
	strcpy(c->dev[c->n], d->name);
	c->first[c->n] = kp_len ? kp[0] : 0;
	c->left[c->n++] = left;
	return VL_OK;
}

static void test_key_packages(void **state)
{
	struct fx *f = *state;
	struct vl_store_device l = add_device(f, "alice@ex.org", "laptop");
	struct vl_store_device p = add_device(f, "alice@ex.org", "phone");
	add_device(f, "alice@ex.org", "tablet"); /* uploads nothing */
	uint8_t a[] = {0xa1}, b[] = {0xa2}, lr[] = {0xaf}, lr2[] = {0xae}, c[] = {0xb1};
	struct vl_store_kp up[] = {{false, a, 1}, {true, lr, 1}, {false, b, 1}};
	uint32_t stock;
	assert_int_equal(vl_store_kp_add(f->st, l.id, up, 3, &stock), VL_OK);
	assert_int_equal(stock, 2);
	/* A new last-resort package replaces the old one. */
	struct vl_store_kp up2[] = {{true, lr2, 1}};
	assert_int_equal(vl_store_kp_add(f->st, l.id, up2, 1, &stock), VL_OK);
	assert_int_equal(stock, 2);
	struct vl_store_kp up3[] = {{false, c, 1}};
	assert_int_equal(vl_store_kp_add(f->st, p.id, up3, 1, &stock), VL_OK);
	assert_int_equal(stock, 1);

	struct claims cl = {0};
	assert_int_equal(vl_store_kp_claim(f->st, "alice@ex.org", collect_claim, &cl), VL_OK);
	assert_int_equal(cl.n, 2);
	assert_string_equal(cl.dev[0], "laptop");
	assert_int_equal(cl.first[0], 0xa1);
	assert_int_equal(cl.left[0], 1);
	assert_string_equal(cl.dev[1], "phone");
	assert_int_equal(cl.first[1], 0xb1);
	assert_int_equal(cl.left[1], 0);

	/* A claim that fails midway changes nothing. */
	memset(&cl, 0, sizeof cl);
	cl.fail_at = 1;
	assert_int_equal(vl_store_kp_claim(f->st, "alice@ex.org", collect_claim, &cl),
	                 VL_ERR_NOMEM);
	assert_int_equal(vl_store_kp_count(f->st, l.id, &stock), VL_OK);
	assert_int_equal(stock, 1);

	memset(&cl, 0, sizeof cl);
	assert_int_equal(vl_store_kp_claim(f->st, "alice@ex.org", collect_claim, &cl), VL_OK);
	assert_int_equal(cl.n, 1); /* phone has none left and no last resort */
	assert_int_equal(cl.first[0], 0xa2);
	/* Now only the last-resort package: handed out, never consumed. */
	for (int i = 0; i < 3; i++) {
		memset(&cl, 0, sizeof cl);
		assert_int_equal(vl_store_kp_claim(f->st, "alice@ex.org", collect_claim, &cl),
		                 VL_OK);
		assert_int_equal(cl.n, 1);
		assert_int_equal(cl.first[0], 0xae);
		assert_int_equal(cl.left[0], 0);
	}
	/* Revoking deletes a device's packages. */
	assert_int_equal(vl_store_device_revoke(f->st, l.user_id, "laptop", NULL), VL_OK);
	memset(&cl, 0, sizeof cl);
	assert_int_equal(vl_store_kp_claim(f->st, "alice@ex.org", collect_claim, &cl),
	                 VL_ERR_NOT_FOUND);
	assert_int_equal(vl_store_kp_claim(f->st, "nobody@ex.org", collect_claim, &cl),
	                 VL_ERR_NOT_FOUND);
}

struct queued {
	int64_t dev[64];
	uint64_t seq[64];
	uint8_t kind[64];
	size_t n;
};

static void on_queued(void *ctx, int64_t device_id, uint64_t seq, uint8_t kind)
{
	struct queued *q = ctx;
	assert_true(q->n < 64);
	q->dev[q->n] = device_id;
	q->seq[q->n] = seq;
	q->kind[q->n++] = kind;
}

struct fetched {
	uint64_t seq[64];
	uint8_t kind[64];
	uint8_t first[64];
	char sender[64][80];
	size_t n;
};

static int on_entry(void *ctx, const struct vl_store_entry *e)
{
	struct fetched *fe = ctx;
	assert_true(fe->n < 64);
	fe->seq[fe->n] = e->seq;
	fe->kind[fe->n] = e->kind;
	fe->first[fe->n] = e->msg_len ? e->msg[0] : 0;
	snprintf(fe->sender[fe->n], sizeof fe->sender[0], "%s#%s", e->sender_user, e->sender_name);
	fe->n++;
	return VL_OK;
}

static const uint8_t GID[] = "group-one";
#define GL (sizeof GID - 1)

static void test_commits(void **state)
{
	struct fx *f = *state;
	struct vl_store_device a = add_device(f, "alice@ex.org", "laptop");
	struct vl_store_device b = add_device(f, "bob@ex.org", "phone");
	struct vl_store_device c = add_device(f, "carol@ex.org", "desk");
	assert_int_equal(vl_store_group_create(f->st, GID, GL, a.id, NOW), VL_OK);
	assert_int_equal(vl_store_group_create(f->st, GID, GL, b.id, NOW), VL_ERR_EXISTS);
	uint64_t epoch;
	assert_int_equal(vl_store_group_epoch(f->st, GID, GL, &epoch), VL_OK);
	assert_true(epoch == 0);
	assert_int_equal(vl_store_group_is_member(f->st, GID, GL, a.id), VL_OK);
	assert_int_equal(vl_store_group_is_member(f->st, GID, GL, b.id), VL_ERR_NOT_FOUND);

	uint8_t cmid[16] = {1}, commit[] = {0xc0}, welcome[] = {0x77};
	struct vl_store_device_name add_b[] = {{"bob@ex.org", "phone"}};
	struct vl_store_commit cm = {.gid = GID,
	                             .gid_len = GL,
	                             .epoch = 0,
	                             .sender = a.id,
	                             .client_msg_id = cmid,
	                             .commit = commit,
	                             .commit_len = 1,
	                             .added = add_b,
	                             .n_added = 1,
	                             .welcome = welcome,
	                             .welcome_len = 1};
	struct queued q = {0};
	bool dup;
	uint64_t ne;
	/* Not a member. */
	cm.sender = c.id;
	assert_int_equal(vl_store_commit_apply(f->st, &cm, on_queued, &q, &ne, &dup),
	                 VL_ERR_PERMISSION);
	cm.sender = a.id;
	assert_int_equal(vl_store_commit_apply(f->st, &cm, on_queued, &q, &ne, &dup), VL_OK);
	assert_false(dup);
	assert_true(ne == 1);
	/* Alice was alone: only the Welcome to Bob is queued. */
	assert_int_equal(q.n, 1);
	assert_int_equal(q.dev[0], b.id);
	assert_int_equal(q.kind[0], 3);
	assert_int_equal(vl_store_group_is_member(f->st, GID, GL, b.id), VL_OK);

	/* Retried: same outcome, nothing queued. */
	memset(&q, 0, sizeof q);
	assert_int_equal(vl_store_commit_apply(f->st, &cm, on_queued, &q, &ne, &dup), VL_OK);
	assert_true(dup);
	assert_true(ne == 1);
	assert_int_equal(q.n, 0);

	/* Two commits for epoch 1: the first wins, the second is stale. */
	uint8_t cmid_a[16] = {2}, cmid_b[16] = {3};
	struct vl_store_device_name add_c[] = {{"carol@ex.org", "desk"}};
	struct vl_store_commit ca = {.gid = GID,
	                             .gid_len = GL,
	                             .epoch = 1,
	                             .sender = a.id,
	                             .client_msg_id = cmid_a,
	                             .commit = commit,
	                             .commit_len = 1,
	                             .added = add_c,
	                             .n_added = 1,
	                             .welcome = welcome,
	                             .welcome_len = 1};
	struct vl_store_commit cb = {.gid = GID,
	                             .gid_len = GL,
	                             .epoch = 1,
	                             .sender = b.id,
	                             .client_msg_id = cmid_b,
	                             .commit = commit,
	                             .commit_len = 1};
	memset(&q, 0, sizeof q);
	assert_int_equal(vl_store_commit_apply(f->st, &cb, on_queued, &q, &ne, &dup), VL_OK);
	assert_true(ne == 2);
	assert_int_equal(q.n, 1);
	assert_int_equal(q.dev[0], a.id);
	assert_int_equal(q.kind[0], 2);
	memset(&q, 0, sizeof q);
	assert_int_equal(vl_store_commit_apply(f->st, &ca, on_queued, &q, &ne, &dup),
	                 VL_ERR_STALE_EPOCH);
	struct vl_store_commit ahead = ca; /* made in an epoch the store never saw */
	ahead.epoch = 5;
	assert_int_equal(vl_store_commit_apply(f->st, &ahead, on_queued, &q, &ne, &dup),
	                 VL_ERR_EPOCH_AHEAD);
	assert_int_equal(q.n, 0);
	assert_int_equal(vl_store_group_is_member(f->st, GID, GL, c.id), VL_ERR_NOT_FOUND);
	/* Retried on the new epoch it wins. */
	ca.epoch = 2;
	assert_int_equal(vl_store_commit_apply(f->st, &ca, on_queued, &q, &ne, &dup), VL_OK);
	assert_true(ne == 3);
	assert_int_equal(q.n, 2); /* commit to Bob, Welcome to Carol */

	/* Roster checks: adding a member again, removing a non-member. */
	uint8_t cmid_x[16] = {4};
	struct vl_store_commit cx = {.gid = GID,
	                             .gid_len = GL,
	                             .epoch = 3,
	                             .sender = a.id,
	                             .client_msg_id = cmid_x,
	                             .commit = commit,
	                             .commit_len = 1,
	                             .added = add_b,
	                             .n_added = 1};
	assert_int_equal(vl_store_commit_apply(f->st, &cx, NULL, NULL, &ne, &dup), VL_ERR_INVALID);
	struct vl_store_device_name nobody[] = {{"dave@ex.org", "x"}};
	cx.added = nobody;
	assert_int_equal(vl_store_commit_apply(f->st, &cx, NULL, NULL, &ne, &dup), VL_ERR_INVALID);
	cx.n_added = 0;
	cx.removed = nobody;
	cx.n_removed = 1;
	assert_int_equal(vl_store_commit_apply(f->st, &cx, NULL, NULL, &ne, &dup), VL_ERR_INVALID);
	/* Remove Carol: she gets the commit, then no longer a member. */
	cx.removed = add_c;
	memset(&q, 0, sizeof q);
	assert_int_equal(vl_store_commit_apply(f->st, &cx, on_queued, &q, &ne, &dup), VL_OK);
	assert_int_equal(q.n, 2);
	assert_int_equal(vl_store_group_is_member(f->st, GID, GL, c.id), VL_ERR_NOT_FOUND);
	assert_int_equal(vl_store_group_epoch(f->st, GID, GL, &epoch), VL_OK);
	assert_true(epoch == 4);

	uint8_t cmid_y[16] = {5};
	cx.client_msg_id = cmid_y;
	cx.epoch = 4;
	cx.n_removed = 0;
	cx.gid = (const uint8_t *)"nosuch";
	cx.gid_len = 6;
	assert_int_equal(vl_store_commit_apply(f->st, &cx, NULL, NULL, &ne, &dup),
	                 VL_ERR_NOT_FOUND);
}

static void test_send_and_queue(void **state)
{
	struct fx *f = *state;
	struct vl_store_device a = add_device(f, "alice@ex.org", "laptop");
	struct vl_store_device a2 = add_device(f, "alice@ex.org", "phone");
	struct vl_store_device b = add_device(f, "bob@ex.org", "phone");
	struct vl_store_device c = add_device(f, "carol@ex.org", "desk");
	assert_int_equal(vl_store_group_create(f->st, GID, GL, a.id, NOW), VL_OK);
	uint8_t cmid[16] = {9}, commit[] = {0xc0};
	struct vl_store_device_name add[] = {{"alice@ex.org", "phone"}, {"bob@ex.org", "phone"}};
	struct vl_store_commit cm = {.gid = GID,
	                             .gid_len = GL,
	                             .epoch = 0,
	                             .sender = a.id,
	                             .client_msg_id = cmid,
	                             .commit = commit,
	                             .commit_len = 1,
	                             .added = add,
	                             .n_added = 2};
	uint64_t ne;
	bool dup;
	assert_int_equal(vl_store_commit_apply(f->st, &cm, NULL, NULL, &ne, &dup), VL_OK);

	struct queued q = {0};
	uint8_t m1[16] = {1}, m2[16] = {2};
	for (uint8_t i = 0; i < 5; i++) {
		uint8_t id[16] = {0x10, i};
		uint8_t msg[] = {(uint8_t)(0x50 + i)};
		assert_int_equal(
		    vl_store_send(f->st, GID, GL, 1, a.id, id, msg, 1, on_queued, &q, &dup), VL_OK);
		assert_false(dup);
	}
	assert_int_equal(q.n, 10); /* to a2 and b, five times */
	/* Sequence numbers grow per device. */
	for (size_t i = 2; i < q.n; i++)
		assert_true(q.seq[i] > q.seq[i - 2]);
	/* Idempotent resend. */
	uint8_t id0[16] = {0x10, 0};
	uint8_t msg0[] = {0x50};
	memset(&q, 0, sizeof q);
	assert_int_equal(vl_store_send(f->st, GID, GL, 1, a.id, id0, msg0, 1, on_queued, &q, &dup),
	                 VL_OK);
	assert_true(dup);
	assert_int_equal(q.n, 0);
	/* A message of another epoch than the group's (1 since the commit)
	 * is refused and queues nothing: stale if earlier, ahead if later (a
	 * store restored from before the commit that made that epoch). */
	uint8_t m3[16] = {3};
	memset(&q, 0, sizeof q);
	assert_int_equal(vl_store_send(f->st, GID, GL, 0, a.id, m3, msg0, 1, on_queued, &q, &dup),
	                 VL_ERR_STALE_EPOCH);
	assert_int_equal(vl_store_send(f->st, GID, GL, 2, a.id, m3, msg0, 1, on_queued, &q, &dup),
	                 VL_ERR_EPOCH_AHEAD);
	assert_int_equal(q.n, 0);
	/* The resend of an accepted message keeps its answer whatever epoch
	 * it names. */
	assert_int_equal(vl_store_send(f->st, GID, GL, 0, a.id, id0, msg0, 1, on_queued, &q, &dup),
	                 VL_OK);
	assert_true(dup);
	assert_int_equal(q.n, 0);
	/* Non-members may not send; unknown groups are not found. */
	assert_int_equal(vl_store_send(f->st, GID, GL, 1, c.id, m1, msg0, 1, NULL, NULL, &dup),
	                 VL_ERR_PERMISSION);
	assert_int_equal(
	    vl_store_send(f->st, (const uint8_t *)"zz", 2, 1, a.id, m1, msg0, 1, NULL, NULL, &dup),
	    VL_ERR_NOT_FOUND);

	struct fetched fe = {0};
	assert_int_equal(vl_store_queue_fetch(f->st, b.id, 0, 100, on_entry, &fe), VL_OK);
	assert_int_equal(fe.n, 5); /* added by the commit, Bob does not receive it */
	assert_int_equal(fe.kind[0], 1);
	assert_string_equal(fe.sender[0], "alice@ex.org#laptop");
	for (size_t i = 1; i < fe.n; i++)
		assert_true(fe.seq[i] > fe.seq[i - 1]);

	/* Bob acknowledges the first three: they are gone for him only. */
	uint64_t n;
	assert_int_equal(vl_store_queue_ack(f->st, b.id, fe.seq[2]), VL_OK);
	assert_int_equal(vl_store_queue_count(f->st, b.id, &n), VL_OK);
	assert_true(n == 2);
	assert_int_equal(vl_store_queue_count(f->st, a2.id, &n), VL_OK);
	assert_true(n == 5);
	struct fetched fe2 = {0};
	assert_int_equal(vl_store_queue_fetch(f->st, b.id, 0, 2, on_entry, &fe2), VL_OK);
	assert_int_equal(fe2.n, 2);
	assert_true(fe2.seq[0] == fe.seq[3]);
	assert_true(fe2.seq[1] == fe.seq[4]);
	/* The ack mark never moves back. */
	assert_int_equal(vl_store_queue_ack(f->st, b.id, 1), VL_OK);
	struct vl_store_device bd;
	assert_int_equal(vl_store_device_get(f->st, "bob@ex.org", "phone", &bd), VL_OK);
	assert_true(bd.acked_seq == fe.seq[2]);

	/* A revoked device receives nothing more, and its queue is gone. */
	assert_int_equal(vl_store_device_revoke(f->st, b.user_id, "phone", NULL), VL_OK);
	assert_int_equal(vl_store_queue_count(f->st, b.id, &n), VL_OK);
	assert_true(n == 0);
	memset(&q, 0, sizeof q);
	assert_int_equal(vl_store_send(f->st, GID, GL, 1, a.id, m2, msg0, 1, on_queued, &q, &dup),
	                 VL_OK);
	assert_int_equal(q.n, 1);
	assert_int_equal(q.dev[0], a2.id);

	/* Survives a reopen. */
	reopen(f);
	assert_int_equal(vl_store_queue_count(f->st, a2.id, &n), VL_OK);
	assert_true(n == 6);
	assert_int_equal(vl_store_send(f->st, GID, GL, 1, a.id, m2, msg0, 1, NULL, NULL, &dup),
	                 VL_OK);
	assert_true(dup);
}

struct leaves {
	int64_t device[8], leaf[8];
	size_t n;
};

static int on_leaf(void *ctx, int64_t device_id, int64_t leaf)
{
	struct leaves *l = ctx;
	assert_true(l->n < 8);
	l->device[l->n] = device_id;
	l->leaf[l->n] = leaf;
	l->n++;
	return VL_OK;
}

static int64_t leaf_of(const struct leaves *l, int64_t device)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->device[i] == device)
			return l->leaf[i];
	return -2;
}

struct blob {
	uint8_t data[64];
	size_t len;
	int64_t sender;
};

static int on_blob(void *ctx, int64_t sender, const uint8_t *data, size_t len)
{
	struct blob *b = ctx;
	b->sender = sender;
	assert_true(len <= sizeof b->data);
	memcpy(b->data, data, len);
	b->len = len;
	return VL_OK;
}

/* Leaves of members, and proposals recorded per epoch by ProposalRef. */
static void test_leaves_and_proposals(void **state)
{
	struct fx *f = *state;
	struct vl_store_device a = add_device(f, "alice@ex.org", "laptop");
	struct vl_store_device b = add_device(f, "bob@ex.org", "phone");
	struct vl_store_device c = add_device(f, "carol@ex.org", "desk");
	assert_int_equal(vl_store_group_create(f->st, GID, GL, a.id, NOW), VL_OK);
	struct leaves l = {0};
	uint64_t epoch = 9;
	assert_int_equal(vl_store_group_leaves(f->st, GID, GL, &epoch, on_leaf, &l), VL_OK);
	assert_true(epoch == 0);
	assert_int_equal(l.n, 1);
	assert_true(leaf_of(&l, a.id) == 0); /* the creator */
	assert_int_equal(
	    vl_store_group_leaves(f->st, (const uint8_t *)"zz", 2, &epoch, on_leaf, &l),
	    VL_ERR_NOT_FOUND);

	uint8_t cmid[16] = {1}, commit[] = {0xc0};
	struct vl_store_device_name add[] = {{"bob@ex.org", "phone"}, {"carol@ex.org", "desk"}};
	uint32_t leaves[] = {2, 1};
	struct vl_store_commit cm = {.gid = GID,
	                             .gid_len = GL,
	                             .epoch = 0,
	                             .sender = a.id,
	                             .client_msg_id = cmid,
	                             .commit = commit,
	                             .commit_len = 1,
	                             .added = add,
	                             .n_added = 2,
	                             .added_leaves = leaves};
	bool dup;
	uint64_t ne;
	assert_int_equal(vl_store_commit_apply(f->st, &cm, NULL, NULL, &ne, &dup), VL_OK);
	memset(&l, 0, sizeof l);
	assert_int_equal(vl_store_group_leaves(f->st, GID, GL, &epoch, on_leaf, &l), VL_OK);
	assert_true(epoch == 1);
	assert_int_equal(l.n, 3);
	assert_true(leaf_of(&l, b.id) == 2 && leaf_of(&l, c.id) == 1);

	/* A proposal is relayed and recorded in one step; a retry records
	 * nothing new; refused sends record nothing. */
	uint8_t ref[32] = {0xaa}, ref2[32] = {0xbb}, msg[] = {1, 2, 3};
	uint8_t m1[16] = {0x21}, m2[16] = {0x22}, m3[16] = {0x23};
	assert_int_equal(
	    vl_store_proposal_send(f->st, GID, GL, 1, b.id, m1, msg, 3, ref, 32, NULL, NULL, &dup),
	    VL_OK);
	assert_false(dup);
	assert_int_equal(
	    vl_store_proposal_send(f->st, GID, GL, 1, b.id, m1, msg, 3, ref, 32, NULL, NULL, &dup),
	    VL_OK);
	assert_true(dup);
	assert_int_equal(
	    vl_store_proposal_send(f->st, GID, GL, 0, b.id, m2, msg, 3, ref2, 32, NULL, NULL, &dup),
	    VL_ERR_STALE_EPOCH);
	struct blob bl = {0};
	assert_int_equal(vl_store_proposal_get(f->st, GID, GL, 1, ref, 32, on_blob, &bl), VL_OK);
	assert_int_equal(bl.len, 3);
	assert_memory_equal(bl.data, msg, 3);
	assert_true(bl.sender == b.id);
	assert_int_equal(vl_store_proposal_get(f->st, GID, GL, 1, ref2, 32, on_blob, &bl),
	                 VL_ERR_NOT_FOUND);
	assert_int_equal(vl_store_proposal_get(f->st, GID, GL, 0, ref, 32, on_blob, &bl),
	                 VL_ERR_NOT_FOUND);
	reopen(f);
	assert_int_equal(vl_store_proposal_get(f->st, GID, GL, 1, ref, 32, on_blob, &bl), VL_OK);

	/* The next commit drops them; the removed member's leaf goes. */
	struct vl_store_device_name rm[] = {{"carol@ex.org", "desk"}};
	uint8_t cmid2[16] = {2};
	struct vl_store_commit cm2 = {.gid = GID,
	                              .gid_len = GL,
	                              .epoch = 1,
	                              .sender = a.id,
	                              .client_msg_id = cmid2,
	                              .commit = commit,
	                              .commit_len = 1,
	                              .removed = rm,
	                              .n_removed = 1};
	assert_int_equal(vl_store_commit_apply(f->st, &cm2, NULL, NULL, &ne, &dup), VL_OK);
	assert_int_equal(vl_store_proposal_get(f->st, GID, GL, 1, ref, 32, on_blob, &bl),
	                 VL_ERR_NOT_FOUND);
	memset(&l, 0, sizeof l);
	assert_int_equal(vl_store_group_leaves(f->st, GID, GL, &epoch, on_leaf, &l), VL_OK);
	assert_int_equal(l.n, 2);
	assert_true(leaf_of(&l, c.id) == -2);

	/* At most VL_STORE_PROPOSALS_MAX per group and epoch. */
	for (unsigned i = 0; i < VL_STORE_PROPOSALS_MAX; i++) {
		uint8_t r[32] = {0}, id[16] = {0x30};
		memcpy(r, &i, sizeof i);
		memcpy(id + 4, &i, sizeof i);
		assert_int_equal(vl_store_proposal_send(f->st, GID, GL, 2, b.id, id, msg, 3, r, 32,
		                                        NULL, NULL, &dup),
		                 VL_OK);
	}
	uint8_t ref3[32] = {[31] = 0xcc};
	assert_int_equal(
	    vl_store_proposal_send(f->st, GID, GL, 2, b.id, m3, msg, 3, ref3, 32, NULL, NULL, &dup),
	    VL_ERR_LIMIT);
	assert_int_equal(vl_store_proposal_get(f->st, GID, GL, 2, ref3, 32, on_blob, &bl),
	                 VL_ERR_NOT_FOUND);
	/* Nothing was queued for the refused one: a retry under its id is
	 * judged afresh. */
	assert_int_equal(
	    vl_store_proposal_send(f->st, GID, GL, 2, b.id, m3, msg, 3, ref3, 32, NULL, NULL, &dup),
	    VL_ERR_LIMIT);
}

/* A database from before leaves were recorded: its members have none. */
static void test_leaves_migrated(void **state)
{
	struct fx *f = *state;
	char p2[160];
	snprintf(p2, sizeof p2, "%s/v2.db", f->dir);
	struct vl_store_config cfg = {.backend = "sqlite", .path = p2, .max_version = 2};
	struct vl_store *st;
	assert_int_equal(vl_store_open(&cfg, &st), VL_OK);
	vl_store_free(st);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(p2, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db,
	                 "INSERT INTO users (id, address, created) VALUES (1, 'x@y', 1);"
	                 "INSERT INTO devices (id, user_id, name, suite, sig_pub, created)"
	                 " VALUES (1, 1, 'd', 1, x'00', 1);"
	                 "INSERT INTO groups (id, gid, epoch, created) VALUES (1, x'0102', 4, 1);"
	                 "INSERT INTO members (group_id, device_id) VALUES (1, 1);",
	                 NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	cfg.max_version = 0;
	assert_int_equal(vl_store_open(&cfg, &st), VL_OK);
	struct leaves l = {0};
	uint64_t epoch;
	static const uint8_t gid[] = {1, 2};
	assert_int_equal(vl_store_group_leaves(st, gid, 2, &epoch, on_leaf, &l), VL_OK);
	assert_true(epoch == 4);
	assert_int_equal(l.n, 1);
	assert_true(l.leaf[0] == -1);
	vl_store_free(st);
}

static void test_batch(void **state)
{
	struct fx *f = *state;
	struct vl_store_device a = add_device(f, "alice@ex.org", "laptop");
	struct vl_store_device b = add_device(f, "bob@ex.org", "phone");
	assert_int_equal(vl_store_group_create(f->st, GID, GL, a.id, NOW), VL_OK);
	struct vl_store_stats s0, s1;
	vl_store_stats_get(f->st, &s0);
	assert_int_equal(vl_store_batch_begin(f->st), VL_OK);
	assert_int_equal(vl_store_batch_begin(f->st), VL_ERR_STATE);
	bool dup;
	uint8_t id1[16] = {1}, id2[16] = {2}, msg[] = {1};
	assert_int_equal(vl_store_send(f->st, GID, GL, 0, a.id, id1, msg, 1, NULL, NULL, &dup),
	                 VL_OK);
	/* A failing operation inside the batch is undone alone. */
	assert_int_equal(vl_store_group_create(f->st, GID, GL, b.id, NOW), VL_ERR_EXISTS);
	assert_int_equal(vl_store_send(f->st, GID, GL, 0, b.id, id2, msg, 1, NULL, NULL, &dup),
	                 VL_ERR_PERMISSION);
	assert_int_equal(vl_store_group_create(f->st, (const uint8_t *)"g2", 2, b.id, NOW), VL_OK);
	assert_int_equal(vl_store_batch_commit(f->st), VL_OK);
	vl_store_stats_get(f->st, &s1);
	assert_true(s1.commits == s0.commits + 1);
	assert_true(s1.operations == s0.operations + 4);
	reopen(f);
	assert_int_equal(vl_store_group_is_member(f->st, (const uint8_t *)"g2", 2, b.id), VL_OK);
	assert_int_equal(vl_store_send(f->st, GID, GL, 0, a.id, id1, msg, 1, NULL, NULL, &dup),
	                 VL_OK);
	assert_true(dup);

	/* A rolled-back batch leaves nothing. */
	assert_int_equal(vl_store_batch_begin(f->st), VL_OK);
	assert_int_equal(vl_store_group_create(f->st, (const uint8_t *)"g3", 2, b.id, NOW), VL_OK);
	vl_store_batch_rollback(f->st);
	uint64_t e;
	assert_int_equal(vl_store_group_epoch(f->st, (const uint8_t *)"g3", 2, &e),
	                 VL_ERR_NOT_FOUND);
}

/* The executor: several threads submit sends at once; all complete, each
 * reported only after a durable commit, in fewer commits than sends. */
/* Jobs still to complete, counted down by their done callbacks. */
struct countdown {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int left;
};
#define COUNTDOWN_INIT(n)                                                                          \
	{                                                                                          \
		PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, (n)                           \
	}

static void countdown_one(struct countdown *cd)
{
	pthread_mutex_lock(&cd->mu);
	cd->left--;
	pthread_cond_signal(&cd->cv);
	pthread_mutex_unlock(&cd->mu);
}

/* Waits until no more than `until` jobs are left. */
static void countdown_wait(struct countdown *cd, int until)
{
	pthread_mutex_lock(&cd->mu);
	while (cd->left > until)
		pthread_cond_wait(&cd->cv, &cd->mu);
	pthread_mutex_unlock(&cd->mu);
}

struct send_job {
	struct vl_store_job job;
	int64_t sender;
	uint8_t cmid[16];
	struct countdown *cd;
};

static int run_send(struct vl_store *st, struct vl_store_job *job)
{
	struct send_job *j = (struct send_job *)job;
	bool dup;
	static const uint8_t msg[] = {0x42};
	return vl_store_send(st, GID, GL, 1, j->sender, j->cmid, msg, 1, NULL, NULL, &dup);
}

static void done_send(struct vl_store_job *job)
{
	countdown_one(((struct send_job *)job)->cd);
}

#define THREADS    4
#define PER_THREAD 250
struct submitter {
	struct vl_store_exec *x;
	struct send_job *jobs;
};

static void *submit_all(void *arg)
{
	struct submitter *s = arg;
	for (size_t i = 0; i < PER_THREAD; i++)
		assert_int_equal(vl_store_exec_submit(s->x, &s->jobs[i].job), VL_OK);
	return NULL;
}

/* Alice's group GID, to which she has added Bob: epoch 1. */
static void alice_adds_bob(struct fx *f, struct vl_store_device *a, struct vl_store_device *b)
{
	*a = add_device(f, "alice@ex.org", "laptop");
	*b = add_device(f, "bob@ex.org", "phone");
	assert_int_equal(vl_store_group_create(f->st, GID, GL, a->id, NOW), VL_OK);
	uint8_t cmid[16] = {7}, commit[] = {1};
	struct vl_store_device_name add[] = {{"bob@ex.org", "phone"}};
	struct vl_store_commit cm = {.gid = GID,
	                             .gid_len = GL,
	                             .sender = a->id,
	                             .client_msg_id = cmid,
	                             .commit = commit,
	                             .commit_len = 1,
	                             .added = add,
	                             .n_added = 1};
	uint64_t ne;
	bool dup;
	assert_int_equal(vl_store_commit_apply(f->st, &cm, NULL, NULL, &ne, &dup), VL_OK);
}

/* n jobs sending as sender with run, each under its own client id; each
 * counts cd down when done (cd->left starts at n). */
static struct send_job *send_jobs(size_t n, int (*run)(struct vl_store *, struct vl_store_job *),
                                  int64_t sender, struct countdown *cd)
{
	struct send_job *jobs = calloc(n, sizeof *jobs);
	assert_non_null(jobs);
	cd->left = (int)n;
	for (size_t i = 0; i < n; i++) {
		jobs[i] = (struct send_job){
		    .job = {.run = run, .done = done_send}, .sender = sender, .cd = cd};
		jobs[i].cmid[0] = (uint8_t)(i >> 8);
		jobs[i].cmid[1] = (uint8_t)i;
		jobs[i].cmid[2] = 0xee;
	}
	return jobs;
}

/* Reopens the store, then: how many entries wait in dev's queue. */
static uint64_t queued_after_reopen(struct fx *f, int64_t dev)
{
	reopen(f);
	uint64_t n;
	assert_int_equal(vl_store_queue_count(f->st, dev, &n), VL_OK);
	return n;
}

static void test_executor(void **state)
{
	struct fx *f = *state;
	struct vl_store_device a, b;
	alice_adds_bob(f, &a, &b);

	struct vl_store_stats s0, s1;
	vl_store_stats_get(f->st, &s0);
	struct vl_store_exec *x;
	assert_int_equal(vl_store_exec_new(f->st, 512, &x), VL_OK);
	struct countdown cd = COUNTDOWN_INIT(0);
	struct send_job *jobs = send_jobs(THREADS * PER_THREAD, run_send, a.id, &cd);
	pthread_t th[THREADS];
	struct submitter sub[THREADS];
	for (size_t t = 0; t < THREADS; t++) {
		sub[t] = (struct submitter){x, jobs + t * PER_THREAD};
		assert_int_equal(pthread_create(&th[t], NULL, submit_all, &sub[t]), 0);
	}
	for (size_t t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	countdown_wait(&cd, 0);
	vl_store_exec_free(x);
	for (size_t i = 0; i < THREADS * PER_THREAD; i++)
		assert_int_equal(jobs[i].job.status, VL_OK);
	vl_store_stats_get(f->st, &s1);
	uint64_t commits = s1.commits - s0.commits;
	assert_true(commits >= 1);
	assert_true(commits < THREADS * PER_THREAD);
	print_message("executor: %d sends in %llu commits\n", THREADS * PER_THREAD,
	              (unsigned long long)commits);
	assert_true(queued_after_reopen(f, b.id) == THREADS * PER_THREAD + 0);
	free(jobs);
}

static int run_big_send(struct vl_store *st, struct vl_store_job *job)
{
	struct send_job *j = (struct send_job *)job;
	bool dup;
	static uint8_t msg[16384];
	return vl_store_send(st, GID, GL, 1, j->sender, j->cmid, msg, sizeof msg, NULL, NULL, &dup);
}

/* On a database file the executor's store has a checkpointer thread: the
 * WAL is copied into the database there, not inside the store thread's
 * commits, and everything is in the database afterwards. */
static void test_checkpointer(void **state)
{
	struct fx *f = *state;
	struct vl_store_device a, b;
	alice_adds_bob(f, &a, &b);
	struct vl_store_stats s0, s1;
	vl_store_stats_get(f->st, &s0);
	struct vl_store_exec *x;
	assert_int_equal(vl_store_exec_new(f->st, 16, &x), VL_OK);
	/* 1,200 messages of 16 KiB: five pages each, some 6,000 frames, past
	 * the step at which the checkpointer is woken (4,096). */
	enum { N = 1200 };
	struct countdown cd = COUNTDOWN_INIT(0);
	struct send_job *jobs = send_jobs(N, run_big_send, a.id, &cd);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(vl_store_exec_submit(x, &jobs[i].job), VL_OK);
	countdown_wait(&cd, 0);
	/* The checkpointer runs on its own time: up to 10 s. */
	for (int i = 0; i < 1000; i++) {
		vl_store_stats_get(f->st, &s1);
		if (s1.checkpoints > s0.checkpoints)
			break;
		usleep(10000);
	}
	vl_store_exec_free(x);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(jobs[i].job.status, VL_OK);
	assert_true(s1.checkpoints > s0.checkpoints);
	assert_true(s1.checkpoint_ns > 0);
	assert_true(s1.commit_checkpoints == s0.commit_checkpoints);
	assert_true(queued_after_reopen(f, b.id) == N);
	free(jobs);
}

/* Runs SQL on the database file directly (migration tests). */
static void raw_sql(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK)
		print_error("sql: %s\n", err ? err : "?");
	sqlite3_free(err);
	sqlite3_close(db);
	assert_int_equal(rc, SQLITE_OK);
}

/* One integer from a query on the database file. */
static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* A version-2 database holding queued messages (written the way version
 * 2 wrote them: AUTOINCREMENT ids, the trigger counting references, the
 * newest message already deleted) is upgraded without losing any; ids
 * keep growing past every id version 2 gave. */
static void test_migrate_queues(void **state)
{
	struct fx *f = *state;
	char p2[160];
	snprintf(p2, sizeof p2, "%s/v2.db", f->dir);
	struct vl_store_config cfg = {.backend = "sqlite", .path = p2, .max_version = 2};
	struct vl_store *st;
	assert_int_equal(vl_store_open(&cfg, &st), VL_OK);
	assert_int_equal(vl_store_schema_version(st), 2);
	vl_store_free(st);
	raw_sql(p2, "INSERT INTO users (id, address, created) VALUES (1, 'a@x', 1), (2, 'b@x', 1);"
	            "INSERT INTO devices (id, user_id, name, suite, sig_pub, created) VALUES"
	            " (1, 1, 'd', 1, x'01', 1), (2, 2, 'd', 1, x'02', 1), (3, 2, 'e', 1, x'03', 1);"
	            "INSERT INTO groups (id, gid, epoch, created) VALUES (1, x'6767', 0, 1);"
	            "INSERT INTO members VALUES (1, 1), (1, 2), (1, 3);"
	            "INSERT INTO messages (group_id, sender, kind, data, refs) VALUES"
	            " (1, 1, 1, x'a1', 2), (1, 1, 1, x'a2', 2), (1, 1, 1, x'a3', 2),"
	            " (1, 1, 1, x'a4', 2);"
	            "INSERT INTO queue VALUES (2, 1), (3, 1), (2, 2), (3, 2), (2, 3), (3, 3),"
	            " (2, 4), (3, 4);"
	            "DELETE FROM queue WHERE seq = 4;");
	assert_true(raw_int(p2, "SELECT count(*) FROM messages") == 3);
	assert_true(raw_int(p2, "SELECT seq FROM sqlite_sequence WHERE name = 'messages'") == 4);

	cfg.max_version = 0;
	assert_int_equal(vl_store_open(&cfg, &st), VL_OK);
	assert_int_equal(vl_store_schema_version(st), vl_store_schema_latest());
	for (int64_t dev = 2; dev <= 3; dev++) {
		struct fetched fe = {0};
		assert_int_equal(vl_store_queue_fetch(st, dev, 0, 100, on_entry, &fe), VL_OK);
		assert_int_equal(fe.n, 3);
		for (size_t i = 0; i < 3; i++) {
			assert_true(fe.seq[i] == i + 1);
			assert_int_equal(fe.first[i], 0xa1 + i);
			assert_string_equal(fe.sender[i], "a@x#d");
		}
	}
	/* The next id is above the deleted newest one. */
	struct queued q = {0};
	uint8_t cmid[16] = {0x33};
	uint8_t msg[] = {0xa5};
	bool dup;
	assert_int_equal(
	    vl_store_send(st, (const uint8_t *)"gg", 2, 0, 1, cmid, msg, 1, on_queued, &q, &dup),
	    VL_OK);
	assert_int_equal(q.n, 2);
	assert_true(q.seq[0] == 5);
	/* References are still counted: a message goes with its last entry. */
	assert_int_equal(vl_store_queue_ack(st, 2, 3), VL_OK);
	assert_int_equal(vl_store_queue_ack(st, 3, 2), VL_OK);
	vl_store_free(st);
	assert_true(raw_int(p2, "SELECT count(*) FROM messages") == 2);
	assert_true(raw_int(p2, "SELECT refs FROM messages WHERE id = 3") == 1);
	assert_true(raw_int(p2, "SELECT refs FROM messages WHERE id = 5") == 2);
	assert_true(raw_int(p2, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'") == 0);
}

/* Whether SQLite's plan for sql names an index (a query on the file). */
static bool plan_uses(const char *path, const char *sql, const char *index)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	char q[512];
	snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK);
	bool found = false;
	while (sqlite3_step(s) == SQLITE_ROW)
		if (strstr((const char *)sqlite3_column_text(s, 3), index))
			found = true;
	sqlite3_finalize(s);
	sqlite3_close(db);
	return found;
}

/* A client message id that starts with the time in milliseconds. */
static void timed_id(uint8_t id[16], uint64_t ms, uint8_t tag)
{
	memset(id, 0, 16);
	for (int i = 0; i < 6; i++)
		id[i] = (uint8_t)(ms >> (40 - 8 * i));
	id[15] = tag;
}

static uint64_t wall_ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A version-4 database with idempotency records (the table keyed by
 * device first) is upgraded: the retries it recorded are still answered
 * as duplicates, SEND's with nothing queued and COMMIT's with its epoch,
 * the same id from another device is another message. Records whose ids
 * start with about their own time stay in `sent`, the others move to
 * `sent_odd`, where pruning by age takes the oldest through the age
 * index; `sent` is pruned along its key. */
static void test_migrate_sent(void **state)
{
	struct fx *f = *state;
	char p4[160];
	snprintf(p4, sizeof p4, "%s/v4.db", f->dir);
	struct vl_store_config cfg = {.backend = "sqlite", .path = p4, .max_version = 4};
	struct vl_store *st;
	assert_int_equal(vl_store_open(&cfg, &st), VL_OK);
	assert_int_equal(vl_store_schema_version(st), 4);
	vl_store_free(st);
	int64_t now = (int64_t)time(NULL);
	char sql[1024];
	snprintf(sql, sizeof sql,
	         "INSERT INTO users (id, address, created) VALUES (1, 'a@x', 1), (2, 'b@x', 1);"
	         "INSERT INTO devices (id, user_id, name, suite, sig_pub, created) VALUES"
	         " (1, 1, 'd', 1, x'01', 1), (2, 2, 'd', 1, x'02', 1);"
	         "INSERT INTO groups (id, gid, epoch, created) VALUES (1, x'6767', 1, 1);"
	         "INSERT INTO members (group_id, device_id, leaf) VALUES (1, 1, 0), (1, 2, 1);"
	         "INSERT INTO sent (device_id, client_msg_id, epoch, created) VALUES"
	         " (1, x'0000000000000000000000000000c0c0', 1, %lld),"
	         " (1, x'ffeeddccbbaa99887766554433221100', 0, %lld),"
	         " (2, x'0102030405060708090a0b0c0d0e0f10', 0, %lld),"
	         " (1, x'%012llx00000000000000000001', 0, %lld),"
	         " (2, x'%012llx00000000000000000002', 0, %lld);",
	         (long long)(now - 7200), (long long)now, (long long)now,
	         (unsigned long long)(now - 7200) * 1000u + 5u, (long long)(now - 7200),
	         (unsigned long long)now * 1000u + 700u, (long long)now);
	raw_sql(p4, sql);

	cfg.max_version = 0;
	assert_int_equal(vl_store_open(&cfg, &st), VL_OK);
	assert_int_equal(vl_store_schema_version(st), vl_store_schema_latest());
	assert_true(raw_int(p4, "SELECT count(*) FROM sent") == 2);
	assert_true(raw_int(p4, "SELECT count(*) FROM sent_odd") == 3);
	uint8_t timed_old[16];
	timed_id(timed_old, (uint64_t)(now - 7200) * 1000u + 5u, 1);
	const uint8_t commit_id[16] = {[14] = 0xc0, [15] = 0xc0};
	const uint8_t send_id[16] = {0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88,
	                             0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00};
	const uint8_t other_id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	uint8_t msg[] = {0xa1}, commit[] = {0xc1};
	bool dup;
	struct queued q = {0};
	assert_int_equal(
	    vl_store_send(st, (const uint8_t *)"gg", 2, 1, 1, send_id, msg, 1, on_queued, &q, &dup),
	    VL_OK);
	assert_true(dup);
	assert_int_equal(q.n, 0);
	assert_int_equal(vl_store_send(st, (const uint8_t *)"gg", 2, 1, 2, other_id, msg, 1,
	                               on_queued, &q, &dup),
	                 VL_OK);
	assert_true(dup);
	assert_int_equal(q.n, 0);
	/* The commit recorded at epoch 0 -> 1 is answered with epoch 1,
	 * though its request names an epoch the group has left. */
	struct vl_store_commit cm = {.gid = (const uint8_t *)"gg",
	                             .gid_len = 2,
	                             .sender = 1,
	                             .epoch = 0,
	                             .client_msg_id = commit_id,
	                             .commit = commit,
	                             .commit_len = 1};
	uint64_t ne = 0;
	assert_int_equal(vl_store_commit_apply(st, &cm, NULL, NULL, &ne, &dup), VL_OK);
	assert_true(dup);
	assert_true(ne == 1);
	/* Device 1's id sent by device 2 is a message of its own. */
	assert_int_equal(
	    vl_store_send(st, (const uint8_t *)"gg", 2, 1, 2, send_id, msg, 1, on_queued, &q, &dup),
	    VL_OK);
	assert_false(dup);
	assert_int_equal(q.n, 1);
	assert_true(q.dev[0] == 1);
	assert_true(raw_int(p4, "SELECT count(*) FROM sent_odd") == 4);
	/* Pruning: only the two-hour-old commit record is older than an
	 * hour, and it is found through the age index. The timed record as
	 * old stays an hour more. */
	size_t deleted = 0;
	assert_int_equal(vl_store_sent_prune(st, (uint64_t)(now - 3600), 100, &deleted), VL_OK);
	assert_int_equal(deleted, 1);
	assert_int_equal(
	    vl_store_send(st, (const uint8_t *)"gg", 2, 1, 1, timed_old, msg, 1, NULL, NULL, &dup),
	    VL_OK);
	assert_true(dup);
	vl_store_free(st);
	assert_true(raw_int(p4, "SELECT count(*) FROM sent_odd") == 3);
	assert_true(raw_int(p4, "SELECT count(*) FROM sent_odd WHERE client_msg_id ="
	                        " x'0000000000000000000000000000c0c0'") == 0);
	assert_true(raw_int(p4, "SELECT count(*) FROM sent") == 2);
	assert_true(plan_uses(p4,
	                      "SELECT client_msg_id, device_id FROM sent_odd WHERE created < 5"
	                      " ORDER BY created LIMIT 10",
	                      "sent_odd_by_age"));
	assert_true(
	    plan_uses(p4,
	              "SELECT client_msg_id, device_id FROM sent WHERE client_msg_id < x'00'"
	              " ORDER BY client_msg_id LIMIT 10",
	              "PRIMARY KEY"));
}

/* Sequence numbers are never reused: not after the newest message is
 * acknowledged and deleted, not across a reopen, not after a batch is
 * rolled back. */
static void test_seq_never_reused(void **state)
{
	struct fx *f = *state;
	struct vl_store_device a = add_device(f, "alice@ex.org", "laptop");
	struct vl_store_device b = add_device(f, "bob@ex.org", "phone");
	assert_int_equal(vl_store_group_create(f->st, GID, GL, a.id, NOW), VL_OK);
	uint8_t cmid[16] = {0x40}, commit[] = {0xc0}, msg[] = {1};
	struct vl_store_device_name add[] = {{"bob@ex.org", "phone"}};
	struct vl_store_commit cm = {.gid = GID,
	                             .gid_len = GL,
	                             .sender = a.id,
	                             .client_msg_id = cmid,
	                             .commit = commit,
	                             .commit_len = 1,
	                             .added = add,
	                             .n_added = 1};
	uint64_t ne, last = 0;
	bool dup;
	assert_int_equal(vl_store_commit_apply(f->st, &cm, NULL, NULL, &ne, &dup), VL_OK);
	for (uint8_t round = 0; round < 4; round++) {
		struct queued q = {0};
		uint8_t id[16] = {0x41, round};
		if (round == 2) {
			/* Ids given in a batch that is rolled back stay used. */
			assert_int_equal(vl_store_batch_begin(f->st), VL_OK);
			assert_int_equal(
			    vl_store_send(f->st, GID, GL, 1, a.id, id, msg, 1, on_queued, &q, &dup),
			    VL_OK);
			vl_store_batch_rollback(f->st);
			assert_true(q.seq[0] > last);
			last = q.seq[0];
			memset(&q, 0, sizeof q);
		}
		assert_int_equal(
		    vl_store_send(f->st, GID, GL, 1, a.id, id, msg, 1, on_queued, &q, &dup), VL_OK);
		assert_false(dup);
		assert_int_equal(q.n, 1);
		assert_true(q.seq[0] > last);
		last = q.seq[0];
		/* Acknowledged: the newest message is deleted, then reopen. */
		assert_int_equal(vl_store_queue_ack(f->st, b.id, last), VL_OK);
		uint64_t n;
		assert_int_equal(vl_store_queue_count(f->st, b.id, &n), VL_OK);
		assert_true(n == 0);
		reopen(f);
	}
	assert_true(raw_int(f->path, "SELECT count(*) FROM messages") == 0);
	assert_true(raw_int(f->path, "SELECT value FROM counters WHERE name = 'message'") >=
	            (int64_t)last);

	/* A floor (valised's clock at start) lifts the next id above it; one
	 * below the recorded ceiling changes nothing. Once an id passes the
	 * ceiling the next is written, far enough ahead that the next
	 * message leaves it alone. */
	for (int i = 0; i < 3; i++) {
		vl_store_free(f->st);
		uint64_t saved =
		    (uint64_t)raw_int(f->path, "SELECT value FROM counters WHERE name = 'message'");
		uint64_t floor = i == 0 ? saved + 1000000 : i == 1 ? 5 : 0;
		struct vl_store_config cfg = {
		    .backend = "sqlite", .path = f->path, .min_msg_id = floor};
		assert_int_equal(vl_store_open(&cfg, &f->st), VL_OK);
		/* A batch that writes nothing leaves the counter alone (and so
		 * commits on a full disk). */
		struct vl_store_device d;
		assert_int_equal(vl_store_batch_begin(f->st), VL_OK);
		assert_int_equal(vl_store_device_get(f->st, "alice@ex.org", "laptop", &d), VL_OK);
		assert_int_equal(vl_store_batch_commit(f->st), VL_OK);
		assert_true(raw_int(f->path, "SELECT value FROM counters WHERE name = 'message'") ==
		            (int64_t)saved);
		struct queued q = {0};
		uint8_t id[16] = {0x42, (uint8_t)i};
		assert_int_equal(
		    vl_store_send(f->st, GID, GL, 1, a.id, id, msg, 1, on_queued, &q, &dup), VL_OK);
		assert_int_equal(q.n, 1);
		assert_true(q.seq[0] == (floor > saved ? floor : saved) + 1);
		int64_t ceiling =
		    raw_int(f->path, "SELECT value FROM counters WHERE name = 'message'");
		assert_true(ceiling > (int64_t)q.seq[0]);
		id[2] = 1;
		assert_int_equal(
		    vl_store_send(f->st, GID, GL, 1, a.id, id, msg, 1, on_queued, &q, &dup), VL_OK);
		assert_true(q.seq[1] == q.seq[0] + 1);
		assert_true(raw_int(f->path, "SELECT value FROM counters WHERE name = 'message'") ==
		            ceiling);
	}
}

/* Inside one batch: a commit changes the roster and epoch that later
 * SENDs of the same batch see; a rollback undoes them for the SENDs after
 * it too. ACKs of one device coalesce, never take an entry created after
 * them, and are visible to every other operation of the batch. */
static void test_batch_delivery(void **state)
{
	struct fx *f = *state;
	struct vl_store_device a = add_device(f, "alice@ex.org", "laptop");
	struct vl_store_device b = add_device(f, "bob@ex.org", "phone");
	struct vl_store_device c = add_device(f, "carol@ex.org", "desk");
	assert_int_equal(vl_store_group_create(f->st, GID, GL, a.id, NOW), VL_OK);
	uint8_t cmid[16] = {0x50}, commit[] = {0xc0}, msg[] = {1};
	struct vl_store_device_name add_b[] = {{"bob@ex.org", "phone"}};
	struct vl_store_device_name add_c[] = {{"carol@ex.org", "desk"}};
	struct vl_store_commit cm = {.gid = GID,
	                             .gid_len = GL,
	                             .sender = a.id,
	                             .client_msg_id = cmid,
	                             .commit = commit,
	                             .commit_len = 1,
	                             .added = add_b,
	                             .n_added = 1};
	uint64_t ne, n;
	bool dup;
	assert_int_equal(vl_store_commit_apply(f->st, &cm, NULL, NULL, &ne, &dup), VL_OK);
	struct queued q = {0};
	uint8_t id1[16] = {0x51}, id2[16] = {0x52}, id3[16] = {0x53}, id4[16] = {0x54};
	/* Cached at epoch 1 before the batch. */
	assert_int_equal(vl_store_send(f->st, GID, GL, 1, a.id, id1, msg, 1, NULL, NULL, &dup),
	                 VL_OK);

	assert_int_equal(vl_store_batch_begin(f->st), VL_OK);
	uint8_t cmid2[16] = {0x55};
	cm.client_msg_id = cmid2;
	cm.epoch = 1;
	cm.added = add_c;
	assert_int_equal(vl_store_commit_apply(f->st, &cm, NULL, NULL, &ne, &dup), VL_OK);
	assert_true(ne == 2);
	assert_int_equal(vl_store_send(f->st, GID, GL, 1, a.id, id2, msg, 1, NULL, NULL, &dup),
	                 VL_ERR_STALE_EPOCH);
	assert_int_equal(vl_store_send(f->st, GID, GL, 2, c.id, id2, msg, 1, on_queued, &q, &dup),
	                 VL_OK);
	assert_int_equal(q.n, 2); /* Alice and Bob */
	vl_store_batch_rollback(f->st);
	/* Carol is not a member again, epoch 1 again (2 is ahead of it). */
	assert_int_equal(vl_store_send(f->st, GID, GL, 2, a.id, id3, msg, 1, NULL, NULL, &dup),
	                 VL_ERR_EPOCH_AHEAD);
	assert_int_equal(vl_store_send(f->st, GID, GL, 1, c.id, id3, msg, 1, NULL, NULL, &dup),
	                 VL_ERR_PERMISSION);
	/* A refused message left no idempotency record: accepted later. */
	memset(&q, 0, sizeof q);
	assert_int_equal(vl_store_send(f->st, GID, GL, 1, a.id, id3, msg, 1, on_queued, &q, &dup),
	                 VL_OK);
	assert_false(dup);
	assert_int_equal(q.n, 1);
	uint64_t s3 = q.seq[0];
	assert_int_equal(vl_store_queue_count(f->st, b.id, &n), VL_OK);
	assert_true(n == 2);

	/* Coalesced ACKs: the highest wins, a lower one changes nothing; an
	 * ACK beyond every id does not take the entry created after it. */
	assert_int_equal(vl_store_batch_begin(f->st), VL_OK);
	assert_int_equal(vl_store_queue_ack(f->st, b.id, s3 - 1), VL_OK);
	assert_int_equal(vl_store_queue_ack(f->st, b.id, s3), VL_OK);
	assert_int_equal(vl_store_queue_ack(f->st, b.id, 1), VL_OK);
	/* Visible to the operations of the batch. */
	assert_int_equal(vl_store_queue_count(f->st, b.id, &n), VL_OK);
	assert_true(n == 0);
	assert_int_equal(vl_store_queue_ack(f->st, b.id, UINT64_MAX >> 1), VL_OK);
	memset(&q, 0, sizeof q);
	assert_int_equal(vl_store_send(f->st, GID, GL, 1, a.id, id4, msg, 1, on_queued, &q, &dup),
	                 VL_OK);
	assert_int_equal(vl_store_batch_commit(f->st), VL_OK);
	assert_int_equal(vl_store_queue_count(f->st, b.id, &n), VL_OK);
	assert_true(n == 1);
	struct vl_store_device bd;
	assert_int_equal(vl_store_device_get(f->st, "bob@ex.org", "phone", &bd), VL_OK);
	assert_true(bd.acked_seq == UINT64_MAX >> 1);
	/* Only the newest message is still stored. */
	assert_true(raw_int(f->path, "SELECT count(*) FROM messages") == 1);

	/* Revoking Bob in a batch, after a SEND to him: his entries and the
	 * message (he was its only recipient) go, and SENDs after it in the
	 * batch no longer reach him. */
	assert_int_equal(vl_store_batch_begin(f->st), VL_OK);
	uint8_t id5[16] = {0x56}, id6[16] = {0x57};
	assert_int_equal(vl_store_send(f->st, GID, GL, 1, a.id, id5, msg, 1, NULL, NULL, &dup),
	                 VL_OK);
	assert_int_equal(vl_store_device_revoke(f->st, b.user_id, "phone", NULL), VL_OK);
	memset(&q, 0, sizeof q);
	assert_int_equal(vl_store_send(f->st, GID, GL, 1, a.id, id6, msg, 1, on_queued, &q, &dup),
	                 VL_OK);
	assert_int_equal(q.n, 0);
	assert_int_equal(vl_store_batch_commit(f->st), VL_OK);
	assert_true(raw_int(f->path, "SELECT count(*) FROM messages") == 0);
	assert_true(raw_int(f->path, "SELECT count(*) FROM queue") == 0);
}

/* Idempotency records older than the window are pruned in chunks; a
 * pruned message sent again is a new message. Records of ids that start
 * with the time go by the key, an hour after the window (they may have
 * been queued that long); the others by their age. An id recorded on
 * either side is a duplicate. The executor prunes by itself, even with no
 * job to run. */
static void test_sent_prune(void **state)
{
	struct fx *f = *state;
	struct vl_store_device a = add_device(f, "alice@ex.org", "laptop");
	struct vl_store_device b = add_device(f, "bob@ex.org", "phone");
	assert_int_equal(vl_store_group_create(f->st, GID, GL, a.id, NOW), VL_OK);
	uint8_t cmid[16] = {0x60}, commit[] = {0xc0}, msg[] = {1};
	struct vl_store_device_name add[] = {{"bob@ex.org", "phone"}};
	struct vl_store_commit cm = {.gid = GID,
	                             .gid_len = GL,
	                             .sender = a.id,
	                             .client_msg_id = cmid,
	                             .commit = commit,
	                             .commit_len = 1,
	                             .added = add,
	                             .n_added = 1};
	uint64_t ne;
	bool dup;
	assert_int_equal(vl_store_commit_apply(f->st, &cm, NULL, NULL, &ne, &dup), VL_OK);
	/* Five ids that are not times (0x61... is centuries ahead), three that
	 * are: now, 30 and 59 minutes late. */
	for (uint8_t i = 0; i < 5; i++) {
		uint8_t id[16] = {0x61, i};
		assert_int_equal(
		    vl_store_send(f->st, GID, GL, 1, a.id, id, msg, 1, NULL, NULL, &dup), VL_OK);
	}
	uint64_t now_ms = wall_ms_now();
	uint8_t timed[3][16];
	const uint64_t late_ms[3] = {0, 30 * 60000, 59 * 60000};
	for (uint8_t i = 0; i < 3; i++) {
		timed_id(timed[i], now_ms - late_ms[i], i);
		assert_int_equal(
		    vl_store_send(f->st, GID, GL, 1, a.id, timed[i], msg, 1, NULL, NULL, &dup),
		    VL_OK);
		assert_false(dup);
	}
	assert_true(raw_int(f->path, "SELECT count(*) FROM sent") == 3);
	assert_true(raw_int(f->path, "SELECT count(*) FROM sent_odd") == 6);
	size_t deleted = 99;
	uint64_t now = now_ms / 1000u;
	/* Nothing is older than an hour ago. */
	assert_int_equal(vl_store_sent_prune(f->st, now - 3600, 100, &deleted), VL_OK);
	assert_int_equal(deleted, 0);
	/* The others are older than a minute from now: two at a time. The
	 * timed ones stay an hour longer. */
	assert_int_equal(vl_store_sent_prune(f->st, now + 60, 2, &deleted), VL_OK);
	assert_int_equal(deleted, 2);
	assert_true(raw_int(f->path, "SELECT count(*) FROM sent_odd") == 4);
	uint8_t id0[16] = {0x61, 0};
	struct queued q = {0};
	/* The commit's record (the oldest) went first, then message 0's. */
	assert_int_equal(vl_store_send(f->st, GID, GL, 1, a.id, id0, msg, 1, on_queued, &q, &dup),
	                 VL_OK);
	assert_false(dup);
	assert_int_equal(q.n, 1);
	uint8_t id4[16] = {0x61, 4};
	assert_int_equal(vl_store_send(f->st, GID, GL, 1, a.id, id4, msg, 1, NULL, NULL, &dup),
	                 VL_OK);
	assert_true(dup);
	assert_int_equal(vl_store_sent_prune(f->st, now + 60, 100, &deleted), VL_OK);
	assert_int_equal(deleted, 5);
	assert_true(raw_int(f->path, "SELECT count(*) FROM sent") == 3);
	/* The timed ones go once the window's start is an hour past their
	 * time: the one 59 minutes late with a window from 2 minutes ahead,
	 * then, a chunk of one, the older by key of the other two. */
	assert_int_equal(vl_store_sent_prune(f->st, now + 120, 100, &deleted), VL_OK);
	assert_int_equal(deleted, 1);
	assert_int_equal(vl_store_sent_prune(f->st, now + 3600 + 120, 1, &deleted), VL_OK);
	assert_int_equal(deleted, 1);
	assert_int_equal(vl_store_send(f->st, GID, GL, 1, a.id, timed[0], msg, 1, NULL, NULL, &dup),
	                 VL_OK);
	assert_true(dup);
	assert_int_equal(vl_store_send(f->st, GID, GL, 1, a.id, timed[1], msg, 1, NULL, NULL, &dup),
	                 VL_OK);
	assert_false(dup);

	/* Either table answers for an id, whichever side of the span it is
	 * on now: a timed id recorded among the others (it came early), and
	 * an id that is not a time recorded among the timed ones. */
	uint8_t early[16], odd[16] = {0x62};
	timed_id(early, now_ms, 0xee);
	char sql[256];
	snprintf(sql, sizeof sql,
	         "INSERT INTO sent_odd VALUES (x'%012llx000000000000000000ee', %lld, 0, %llu);"
	         "INSERT INTO sent VALUES (x'62000000000000000000000000000000', %lld, 0);",
	         (unsigned long long)now_ms, (long long)a.id, (unsigned long long)now,
	         (long long)a.id);
	raw_sql(f->path, sql);
	assert_int_equal(vl_store_send(f->st, GID, GL, 1, a.id, early, msg, 1, NULL, NULL, &dup),
	                 VL_OK);
	assert_true(dup);
	assert_int_equal(vl_store_send(f->st, GID, GL, 1, a.id, odd, msg, 1, NULL, NULL, &dup),
	                 VL_OK);
	assert_true(dup);

	for (uint8_t i = 0; i < 3; i++) {
		uint8_t id[16] = {0x63, i};
		assert_int_equal(
		    vl_store_send(f->st, GID, GL, 1, a.id, id, msg, 1, NULL, NULL, &dup), VL_OK);
	}

	/* The executor, given a one-second window, prunes every record that
	 * is not a time once it is two seconds old, though no job comes; the
	 * timed ones wait for their hour. */
	sleep(2);
	struct vl_store_exec_config xc;
	vl_store_exec_config_defaults(&xc);
	xc.sent_ttl = 1;
	xc.prune_chunk = 2; /* several chunks, one after the other */
	struct vl_store_exec *x;
	assert_int_equal(vl_store_exec_start(f->st, &xc, &x), VL_OK);
	struct vl_store_exec_stats es = {0};
	for (int i = 0; i < 100 && es.sent_pruned < 4; i++) {
		usleep(50000);
		vl_store_exec_stats_get(x, &es);
	}
	vl_store_exec_free(x);
	assert_true(es.sent_pruned == 4);
	assert_true(raw_int(f->path, "SELECT count(*) FROM sent_odd") == 0);
	assert_true(raw_int(f->path, "SELECT count(*) FROM sent") == 3);
	(void)b;
}

/* Expired invites go, used or not, the longest-expired first; a live one
 * stays and still registers. The executor prunes them with sent_ttl 0. */
static void test_invite_prune(void **state)
{
	struct fx *f = *state;
	const char *codes[] = {"old-1", "old-2", "used", "live"};
	uint64_t expires[] = {NOW - 20, NOW - 10, NOW - 5, NOW + 3600};
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(vl_store_invite_create(f->st, (const uint8_t *)codes[i],
		                                        strlen(codes[i]), "alice@ex.org",
		                                        expires[i], NOW - 100),
		                 VL_OK);
	struct vl_store_device d;
	assert_int_equal(vl_store_device_register(f->st, (const uint8_t *)"used", 4, "alice@ex.org",
	                                          "phone", 1, KEY32, 32, 9, NOW - 50, &d),
	                 VL_OK);
	size_t deleted = 99;
	/* Nothing had expired by NOW - 20. */
	assert_int_equal(vl_store_invite_prune(f->st, NOW - 20, 100, &deleted), VL_OK);
	assert_int_equal(deleted, 0);
	assert_int_equal(vl_store_invite_prune(f->st, NOW, 2, &deleted), VL_OK);
	assert_int_equal(deleted, 2);
	assert_true(
	    raw_int(f->path, "SELECT count(*) FROM invites WHERE key = CAST('used' AS BLOB)") == 1);
	assert_int_equal(vl_store_invite_prune(f->st, NOW, 2, &deleted), VL_OK);
	assert_int_equal(deleted, 1);
	assert_true(raw_int(f->path, "SELECT count(*) FROM invites") == 1);
	assert_int_equal(vl_store_device_register(f->st, (const uint8_t *)"live", 4, "alice@ex.org",
	                                          "desk", 1, KEY32, 32, 9, NOW, &d),
	                 VL_OK);

	/* With no idempotency records to prune (sent_ttl 0), the executor
	 * still deletes expired invites, though no job comes. */
	invite(f, "stale", "bob@ex.org"); /* expired an hour after NOW */
	struct vl_store_exec_config xc;
	vl_store_exec_config_defaults(&xc);
	xc.sent_ttl = 0;
	struct vl_store_exec *x;
	assert_int_equal(vl_store_exec_start(f->st, &xc, &x), VL_OK);
	struct vl_store_exec_stats es = {0};
	for (int i = 0; i < 100 && es.invites_pruned < 2; i++) {
		usleep(50000);
		vl_store_exec_stats_get(x, &es);
	}
	vl_store_exec_free(x);
	assert_true(es.invites_pruned == 2);
	assert_true(es.sent_pruned == 0);
	assert_true(raw_int(f->path, "SELECT count(*) FROM invites") == 0);
}

/* The blob ids a backup lists, in a string of their first octets. */
struct blob_seen {
	char first[8];
	size_t n;
	int fail_at; /* fail on this call (1-based), 0: never */
};

static int blob_seen(void *ctx, const uint8_t *id, size_t id_len)
{
	struct blob_seen *b = ctx;
	assert_int_equal(id_len, 32);
	if (b->n + 1 < sizeof b->first)
		b->first[b->n] = (char)id[0];
	b->n++;
	return b->fail_at && (int)b->n == b->fail_at ? VL_ERR_IO : VL_OK;
}

/* A backup is the store as it was, in one file of its own, with the list
 * of the blobs it records (once each, whoever holds them); it never
 * replaces a file. */
static void test_backup(void **state)
{
	struct fx *f = *state;
	struct vl_store_device a = add_device(f, "alice@ex.org", "laptop");
	struct vl_store_device b = add_device(f, "bob@ex.org", "phone");
	uint8_t id[32] = {'x'};
	bool existed;
	assert_int_equal(vl_store_blob_add(f->st, id, 32, a.user_id, 10, 1000, NOW, &existed),
	                 VL_OK);
	assert_int_equal(vl_store_blob_add(f->st, id, 32, b.user_id, 10, 1000, NOW, &existed),
	                 VL_OK);
	id[0] = 'y';
	assert_int_equal(vl_store_blob_add(f->st, id, 32, b.user_id, 10, 1000, NOW, &existed),
	                 VL_OK);
	char dest[160];
	snprintf(dest, sizeof dest, "%s/copy.db", f->dir);
	uint64_t bytes = 0;
	struct blob_seen seen = {0};
	assert_int_equal(vl_store_backup(f->st, dest, blob_seen, &seen, &bytes), VL_OK);
	assert_true(bytes > 0);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.first, "xy");
	assert_int_equal(vl_store_backup(f->st, dest, NULL, NULL, &bytes), VL_ERR_EXISTS);
	add_device(f, "carol@ex.org", "phone"); /* after the copy */
	id[0] = 'z';
	assert_int_equal(vl_store_blob_add(f->st, id, 32, b.user_id, 10, 1000, NOW, &existed),
	                 VL_OK);
	char wal[170];
	snprintf(wal, sizeof wal, "%s-wal", dest);
	assert_int_not_equal(access(wal, F_OK), 0);
	assert_true(raw_int(dest, "SELECT count(*) FROM devices") == 2);
	assert_true(raw_int(dest, "SELECT count(*) FROM blobs") == 3);

	struct vl_store *copy;
	struct vl_store_config cfg = {.backend = "sqlite", .path = dest};
	assert_int_equal(vl_store_open(&cfg, &copy), VL_OK);
	struct vl_store_device d;
	assert_int_equal(vl_store_device_get(copy, "alice@ex.org", "laptop", &d), VL_OK);
	assert_int_equal(d.id, a.id);
	assert_int_equal(vl_store_device_get(copy, "carol@ex.org", "phone", &d), VL_ERR_NOT_FOUND);
	vl_store_free(copy);
	/* A failure of the caller's stops the backup, and leaves nothing. */
	snprintf(dest, sizeof dest, "%s/copy2.db", f->dir);
	seen = (struct blob_seen){.fail_at = 2};
	assert_int_equal(vl_store_backup(f->st, dest, blob_seen, &seen, &bytes), VL_ERR_IO);
	assert_int_equal(seen.n, 2);
	assert_int_not_equal(access(dest, F_OK), 0);
	snprintf(dest, sizeof dest, "%s/no/such/folder.db", f->dir);
	assert_int_equal(vl_store_backup(f->st, dest, NULL, NULL, &bytes), VL_ERR_IO);
}

/* A failure of the storage itself is counted, with SQLite's words for
 * it (what valised logs as store_fault); an expected one (a taken key)
 * is not. */
static void test_faults(void **state)
{
	struct fx *f = *state;
	struct vl_store_stats before, after;
	vl_store_stats_get(f->st, &before);
	invite(f, "taken", "alice@ex.org");
	assert_int_equal(vl_store_invite_create(f->st, (const uint8_t *)"taken", 5, "alice@ex.org",
	                                        NOW + 3600, NOW),
	                 VL_ERR_EXISTS);
	vl_store_stats_get(f->st, &after);
	assert_true(after.faults == before.faults);

	/* A second database whose pages after the first are overwritten. */
	char bad[160];
	snprintf(bad, sizeof bad, "%s/bad.db", f->dir);
	struct vl_store_config cfg = {.backend = "sqlite", .path = bad};
	struct vl_store *st;
	assert_int_equal(vl_store_open(&cfg, &st), VL_OK);
	vl_store_free(st); /* checkpointed into the file, no WAL left */
	FILE *fp = fopen(bad, "r+b");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	long size = ftell(fp);
	assert_true(size > 8192);
	uint8_t junk[4096];
	memset(junk, 0xa5, sizeof junk);
	assert_int_equal(fseek(fp, 4096, SEEK_SET), 0);
	for (long at = 4096; at < size; at += 4096)
		assert_int_equal(fwrite(junk, 1, sizeof junk, fp), sizeof junk);
	assert_int_equal(fclose(fp), 0);
	if (vl_store_open(&cfg, &st) == VL_OK) {
		struct vl_store_device d;
		assert_int_equal(vl_store_device_get(st, "alice@ex.org", "laptop", &d),
		                 VL_ERR_STORE);
		vl_store_free(st);
	}
	vl_store_stats_get(f->st, &after);
	assert_true(after.faults > before.faults);
	assert_non_null(strstr(after.last_fault, "malformed"));
}

/* An executor with a time limit per batch: jobs beyond it go to the next
 * batch, still in order, and every one completes. */
struct order_job {
	struct vl_store_job job;
	size_t index;
	size_t *next_run; /* executor thread only */
	bool in_order;
	struct countdown *cd;
};

static int run_order(struct vl_store *st, struct vl_store_job *job)
{
	struct order_job *j = (struct order_job *)job;
	j->in_order = *j->next_run == j->index;
	(*j->next_run)++;
	uint64_t n;
	/* A real store operation, so the batch takes some time. */
	return vl_store_queue_count(st, 1, &n);
}

static void done_order(struct vl_store_job *job)
{
	countdown_one(((struct order_job *)job)->cd);
}

static void test_executor_time_limit(void **state)
{
	struct fx *f = *state;
	struct vl_store_exec_config xc;
	vl_store_exec_config_defaults(&xc);
	xc.batch_us = 1; /* every 16th job finds the limit passed */
	xc.sent_ttl = 0;
	enum { N = 3000 };
	struct order_job *jobs = calloc(N, sizeof *jobs);
	assert_non_null(jobs);
	struct countdown cd = COUNTDOWN_INIT(N);
	size_t next_run = 0;
	struct vl_store_exec *x;
	assert_int_equal(vl_store_exec_start(f->st, &xc, &x), VL_OK);
	for (size_t i = 0; i < N; i++) {
		jobs[i] = (struct order_job){.job = {.run = run_order, .done = done_order},
		                             .index = i,
		                             .next_run = &next_run,
		                             .cd = &cd};
		assert_int_equal(vl_store_exec_submit(x, &jobs[i].job), VL_OK);
	}
	countdown_wait(&cd, 0);
	struct vl_store_exec_stats es;
	vl_store_exec_stats_get(x, &es);
	vl_store_exec_free(x);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(jobs[i].job.status, VL_OK);
		assert_true(jobs[i].in_order);
	}
	assert_true(es.jobs == N);
	/* Batches were cut at 16 jobs (the clock is read every 16). */
	assert_true(es.max_batch <= 16);
	assert_true(es.batches >= N / 16);
	free(jobs);
}

/* Pacing: after a batch, the next one starts batch_gap_us later at the
 * earliest, with whatever waits by then; batch_gap_jobs waiting start it
 * at once, and stopping runs what waits without waiting for the gap. */
static void test_executor_pacing(void **state)
{
	struct fx *f = *state;
	enum { N = 12 };
	struct order_job jobs[N];
	for (int round = 0; round < 3; round++) {
		struct vl_store_exec_config xc;
		vl_store_exec_config_defaults(&xc);
		xc.sent_ttl = 0;
		/* Round 0: a gap long enough that the burst below lands in it;
		 * rounds 1 and 2: a gap no test waits for, ended by a full
		 * batch (1) or by stopping (2). */
		xc.batch_gap_us = round == 0 ? 500000 : 60000000;
		xc.batch_gap_jobs = round == 1 ? N - 1 : 1000;
		struct countdown cd = COUNTDOWN_INIT(N);
		size_t next_run = 0;
		for (int i = 0; i < N; i++)
			jobs[i] = (struct order_job){.job = {.run = run_order, .done = done_order},
			                             .index = (size_t)i,
			                             .next_run = &next_run,
			                             .cd = &cd};
		struct vl_store_exec *x;
		assert_int_equal(vl_store_exec_start(f->st, &xc, &x), VL_OK);
		/* The first batch starts at once. */
		assert_int_equal(vl_store_exec_submit(x, &jobs[0].job), VL_OK);
		countdown_wait(&cd, N - 1);
		for (int i = 1; i < N; i++)
			assert_int_equal(vl_store_exec_submit(x, &jobs[i].job), VL_OK);
		if (round < 2)
			countdown_wait(&cd, 0);
		struct vl_store_exec_stats es;
		vl_store_exec_stats_get(x, &es);
		vl_store_exec_free(x); /* round 2: runs the paced jobs */
		assert_int_equal(cd.left, 0);
		if (round < 2) {
			assert_int_equal(es.batches, 2);
			assert_int_equal(es.max_batch, N - 1);
		}
		for (int i = 0; i < N; i++) {
			assert_int_equal(jobs[i].job.status, VL_OK);
			assert_true(jobs[i].in_order);
		}
	}
}

/* Deferred durability: each job writes, and its done() must come after a
 * sync that ended after the job ran, in submission order, on the syncer
 * (file database); a ":memory:" store has no log to sync and completes
 * on the store thread with no sync at all. */
struct sync_job {
	struct vl_store_job job;
	struct vl_store_exec **x;
	size_t index;
	uint64_t syncs_at_run, syncs_at_done;
	size_t done_pos;
	pthread_mutex_t *mu;
	pthread_cond_t *cv;
	size_t *done_count;
};

static int run_sync(struct vl_store *st, struct vl_store_job *job)
{
	struct sync_job *j = (struct sync_job *)job;
	struct vl_store_exec_stats es;
	vl_store_exec_stats_get(*j->x, &es);
	j->syncs_at_run = es.syncs;
	uint8_t key[32] = {0};
	memcpy(key, &j->index, sizeof j->index);
	/* Valid at NOW and not yet expired by the clock, which the executor's
	 * pruning reads. */
	return vl_store_invite_create(st, key, sizeof key, "carol@ex.org", UINT32_MAX, NOW);
}

static void done_sync(struct vl_store_job *job)
{
	struct sync_job *j = (struct sync_job *)job;
	struct vl_store_exec_stats es;
	vl_store_exec_stats_get(*j->x, &es);
	j->syncs_at_done = es.syncs;
	pthread_mutex_lock(j->mu);
	j->done_pos = (*j->done_count)++;
	pthread_cond_signal(j->cv);
	pthread_mutex_unlock(j->mu);
}

static void run_sync_jobs(struct vl_store *st, bool expect_sync)
{
	enum { N = 2000 };
	struct sync_job *jobs = calloc(N, sizeof *jobs);
	assert_non_null(jobs);
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	size_t done_count = 0;
	struct vl_store_exec_config xc;
	vl_store_exec_config_defaults(&xc);
	xc.sent_ttl = 0;
	xc.batch_max = 64; /* many batches, so syncs overlap the next batch */
	struct vl_store_exec *x = NULL;
	/* Jobs read the executor through x: set before the first submit. */
	assert_int_equal(vl_store_exec_start(st, &xc, &x), VL_OK);
	for (size_t i = 0; i < N; i++) {
		jobs[i] = (struct sync_job){.job = {.run = run_sync, .done = done_sync},
		                            .x = &x,
		                            .index = i,
		                            .mu = &mu,
		                            .cv = &cv,
		                            .done_count = &done_count};
		assert_int_equal(vl_store_exec_submit(x, &jobs[i].job), VL_OK);
	}
	pthread_mutex_lock(&mu);
	while (done_count < N)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	struct vl_store_exec_stats es;
	vl_store_exec_stats_get(x, &es);
	vl_store_exec_free(x);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(jobs[i].job.status, VL_OK);
		assert_true(jobs[i].done_pos == i);
		assert_true(jobs[i].job.t_durable >= jobs[i].job.t_run);
		if (expect_sync)
			assert_true(jobs[i].syncs_at_done > jobs[i].syncs_at_run);
		else
			assert_true(jobs[i].syncs_at_done == 0);
	}
	assert_true(es.jobs == N);
	if (expect_sync) {
		assert_true(es.syncs >= 1 && es.syncs <= es.batches);
		assert_true(es.sync.n == N);
	} else {
		assert_true(es.syncs == 0);
	}
	free(jobs);
}

static void test_executor_sync(void **state)
{
	struct fx *f = *state;
	run_sync_jobs(f->st, true);
	/* Back to durable commits after the executor: a direct write works
	 * and everything the jobs wrote survives a reopen. */
	uint8_t key[32] = {0xee};
	key[31] = 0xff; /* no job key has this byte */
	assert_int_equal(vl_store_invite_create(f->st, key, 32, "dave@ex.org", NOW + 3600, NOW),
	                 VL_OK);
	reopen(f);
	struct vl_store_device d;
	uint8_t first[32] = {0};
	assert_int_equal(vl_store_device_register(f->st, first, 32, "carol@ex.org", "pc", 1, KEY32,
	                                          32, 10, NOW, &d),
	                 VL_OK);
	assert_int_equal(vl_store_device_register(f->st, key, 32, "dave@ex.org", "pc", 1, KEY32, 32,
	                                          10, NOW, &d),
	                 VL_OK);

	struct vl_store *mem;
	struct vl_store_config cfg = {.backend = "sqlite", .path = ":memory:"};
	assert_int_equal(vl_store_open(&cfg, &mem), VL_OK);
	run_sync_jobs(mem, false);
	vl_store_free(mem);
}

static void test_blobs(void **state)
{
	struct fx *f = *state;
	struct vl_store_device a = add_device(f, "alice@ex.org", "laptop");
	struct vl_store_device b = add_device(f, "bob@ex.org", "phone");
	uint8_t id1[32] = {1}, id2[32] = {2};
	bool existed;
	uint64_t used;
	assert_int_equal(vl_store_blob_exists(f->st, id1, 32), VL_ERR_NOT_FOUND);
	assert_int_equal(vl_store_blob_add(f->st, id1, 32, a.user_id, 600, 1000, NOW, &existed),
	                 VL_OK);
	assert_false(existed);
	assert_int_equal(vl_store_blob_exists(f->st, id1, 32), VL_OK);
	/* The same content again: no second charge. */
	assert_int_equal(vl_store_blob_add(f->st, id1, 32, a.user_id, 600, 1000, NOW, &existed),
	                 VL_OK);
	assert_true(existed);
	assert_int_equal(vl_store_blob_usage(f->st, a.user_id, &used), VL_OK);
	assert_true(used == 600);
	/* Over the quota. */
	assert_int_equal(vl_store_blob_add(f->st, id2, 32, a.user_id, 500, 1000, NOW, &existed),
	                 VL_ERR_LIMIT);
	assert_int_equal(vl_store_blob_exists(f->st, id2, 32), VL_ERR_NOT_FOUND);
	/* Another user has its own quota. */
	assert_int_equal(vl_store_blob_add(f->st, id2, 32, b.user_id, 500, 1000, NOW, &existed),
	                 VL_OK);
	assert_int_equal(vl_store_blob_usage(f->st, b.user_id, &used), VL_OK);
	assert_true(used == 500);
}

struct gone_ids {
	uint8_t ids[8][32];
	size_t n;
};

static void on_gone(void *ctx, const uint8_t *id, size_t len)
{
	struct gone_ids *g = ctx;
	assert_int_equal(len, 32);
	assert_true(g->n < 8);
	memcpy(g->ids[g->n++], id, 32);
}

/* Retention: the oldest records first, usage given back, a file reported
 * only when no user holds its id, uploading again restarts the clock. */
static void test_blob_prune(void **state)
{
	struct fx *f = *state;
	struct vl_store_device a = add_device(f, "alice@ex.org", "laptop");
	struct vl_store_device b = add_device(f, "bob@ex.org", "phone");
	uint8_t id1[32] = {1}, id2[32] = {2}, id3[32] = {3};
	bool existed;
	uint64_t used;
	/* id1: Alice at NOW and Bob at NOW + 50; id2: Alice at NOW + 10,
	 * again at NOW + 100; id3: Alice at NOW + 20. */
	assert_int_equal(vl_store_blob_add(f->st, id1, 32, a.user_id, 100, 1000, NOW, &existed),
	                 VL_OK);
	assert_int_equal(
	    vl_store_blob_add(f->st, id1, 32, b.user_id, 100, 1000, NOW + 50, &existed), VL_OK);
	assert_int_equal(
	    vl_store_blob_add(f->st, id2, 32, a.user_id, 200, 1000, NOW + 10, &existed), VL_OK);
	assert_int_equal(
	    vl_store_blob_add(f->st, id2, 32, a.user_id, 200, 1000, NOW + 100, &existed), VL_OK);
	assert_true(existed);
	assert_int_equal(
	    vl_store_blob_add(f->st, id3, 32, a.user_id, 300, 1000, NOW + 20, &existed), VL_OK);
	assert_int_equal(vl_store_blob_usage(f->st, a.user_id, &used), VL_OK);
	assert_true(used == 600);

	/* Nothing before NOW. */
	struct gone_ids g = {0};
	size_t deleted = 9;
	assert_int_equal(vl_store_blob_prune(f->st, NOW, 10, on_gone, &g, &deleted), VL_OK);
	assert_int_equal(deleted, 0);
	/* Before NOW + 60, at most one: Alice's id1 (the oldest). Bob still
	 * holds id1, so its file stays. */
	assert_int_equal(vl_store_blob_prune(f->st, NOW + 60, 1, on_gone, &g, &deleted), VL_OK);
	assert_int_equal(deleted, 1);
	assert_int_equal(g.n, 0);
	assert_int_equal(vl_store_blob_usage(f->st, a.user_id, &used), VL_OK);
	assert_true(used == 500);
	assert_int_equal(vl_store_blob_exists(f->st, id1, 32), VL_OK);
	/* The rest before NOW + 60: id3 (Alice's only), then Bob's id1, the
	 * last holder. id2 was uploaded again at NOW + 100: kept. */
	assert_int_equal(vl_store_blob_prune(f->st, NOW + 60, 10, on_gone, &g, &deleted), VL_OK);
	assert_int_equal(deleted, 2);
	assert_int_equal(g.n, 2);
	assert_memory_equal(g.ids[0], id3, 32);
	assert_memory_equal(g.ids[1], id1, 32);
	assert_int_equal(vl_store_blob_exists(f->st, id1, 32), VL_ERR_NOT_FOUND);
	assert_int_equal(vl_store_blob_exists(f->st, id3, 32), VL_ERR_NOT_FOUND);
	assert_int_equal(vl_store_blob_exists(f->st, id2, 32), VL_OK);
	assert_int_equal(vl_store_blob_usage(f->st, a.user_id, &used), VL_OK);
	assert_true(used == 200);
	assert_int_equal(vl_store_blob_usage(f->st, b.user_id, &used), VL_OK);
	assert_true(used == 0);
	/* Later, id2 too; the freed quota takes a new blob. */
	assert_int_equal(vl_store_blob_prune(f->st, NOW + 101, 10, on_gone, &g, &deleted), VL_OK);
	assert_int_equal(deleted, 1);
	assert_int_equal(g.n, 3);
	assert_int_equal(vl_store_blob_usage(f->st, a.user_id, &used), VL_OK);
	assert_true(used == 0);
	assert_int_equal(vl_store_blob_add(f->st, id3, 32, a.user_id, 1000, 1000, NOW, &existed),
	                 VL_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_migrate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_register, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_device_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_packages, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_commits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_and_queue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_leaves_and_proposals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_leaves_migrated, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checkpointer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_executor, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_blobs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_blob_prune, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_queues, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_seq_never_reused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_delivery, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sent_prune, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invite_prune, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_sent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_executor_pacing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_executor_time_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_executor_sync, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
