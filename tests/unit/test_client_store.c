/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of src/client/store: passphrase and key-file protection (and
 * the refusal of a key file others can read), sealed values that cannot be
 * swapped between rows, columns or epochs, the pending-commit record across
 * a crash, schema versions, and a database file free of the plaintext of a
 * canary message and key. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "client/store.h"
#include "testutil.h"

static char dir[64];
static char db_path[128], key_path[128];

static const char PASS[] = "correct horse battery staple";
static const char CANARY_MSG[] = "CANARY-MESSAGE: the delegation accepts article 7 as drafted";
static const uint8_t CANARY_KEY[32] = {
    0xc4, 0x1a, 0x77, 0x3e, 0x5b, 0x90, 0x0d, 0xee, 0x42, 0x13, 0x37, 0x99, 0xab, 0xcd, 0xef, 0x01,
    0x23, 0x45, 0x67, 0x89, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, 0x0f, 0x1e, 0x2d, 0x3c};

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/vl-store-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(db_path, sizeof db_path, "%s/client.db", dir);
	snprintf(key_path, sizeof key_path, "%s/store.key", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	const char *names[] = {"client.db", "client.db-wal", "client.db-shm", "store.key",
	                       "other.key", "link.key",      "short.key"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		char p[160];
		snprintf(p, sizeof p, "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
	return 0;
}

/* Cheap Argon2id for tests (the defaults are for users). */
static struct vl_client_store_opts pass_opts(const char *pass, bool create)
{
	struct vl_client_store_opts o = {
	    .path = db_path,
	    .passphrase = pass,
	    .passphrase_len = strlen(pass),
	    .create = create,
	    .argon2_t = 1,
	    .argon2_m_kib = VL_CLIENT_STORE_ARGON2_M_MIN_KIB,
	    .argon2_p = 1,
	};
	return o;
}

static struct vl_client_store *open_pass(const char *pass, bool create, int want)
{
	struct vl_client_store_opts o = pass_opts(pass, create);
	struct vl_client_store *s = NULL;
	assert_int_equal(vl_client_store_open(&o, &s), want);
	return s;
}

/* Runs one SQL statement on the raw file, outside the store. */
static void raw_sql(const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
	sqlite3_close(db);
}

static void test_passphrase(void **state)
{
	(void)state;
	struct vl_client_store *s = open_pass(PASS, true, VL_OK);
	assert_int_equal(vl_client_store_secret_put(s, "device.sig", CANARY_KEY, 32), VL_OK);
	vl_client_store_close(s);

	s = open_pass(PASS, false, VL_OK);
	uint8_t *v;
	size_t len;
	assert_int_equal(vl_client_store_secret_get(s, "device.sig", &v, &len), VL_OK);
	assert_int_equal(len, 32);
	assert_memory_equal(v, CANARY_KEY, 32);
	vl_client_store_free(v, len);
	assert_int_equal(vl_client_store_secret_get(s, "nothing", &v, &len), VL_ERR_NOT_FOUND);
	assert_int_equal(vl_client_store_secret_delete(s, "device.sig"), VL_OK);
	assert_int_equal(vl_client_store_secret_delete(s, "device.sig"), VL_ERR_NOT_FOUND);
	vl_client_store_close(s);

	char err[200];
	struct vl_client_store_opts o = pass_opts("wrong horse", false);
	o.errbuf = err;
	o.errbuf_len = sizeof err;
	assert_int_equal(vl_client_store_open(&o, &s), VL_ERR_AUTH);
	assert_null(s);
	assert_non_null(strstr(err, "passphrase"));
	/* The wrap covers the Argon2 parameters: changing them locks out. */
	raw_sql("UPDATE keyring SET t_cost = 2");
	(void)open_pass(PASS, false, VL_ERR_AUTH);
	raw_sql("UPDATE keyring SET t_cost = 1000");
	(void)open_pass(PASS, false, VL_ERR_INVALID);
	raw_sql("UPDATE keyring SET t_cost = 1");
	s = open_pass(PASS, false, VL_OK);
	vl_client_store_close(s);

	/* Protected by a passphrase, not by a key file. */
	struct vl_client_store_opts k = {.path = db_path, .key_file = key_path};
	assert_int_equal(vl_client_store_open(&k, &s), VL_ERR_AUTH);
	teardown(NULL);
	setup(NULL);
}

static void test_options(void **state)
{
	(void)state;
	struct vl_client_store *s;
	struct vl_client_store_opts o = pass_opts(PASS, false);
	assert_int_equal(vl_client_store_open(&o, &s), VL_ERR_NOT_FOUND);
	o.key_file = key_path;
	o.create = true;
	assert_int_equal(vl_client_store_open(&o, &s), VL_ERR_ARG);
	o = pass_opts("", true);
	assert_int_equal(vl_client_store_open(&o, &s), VL_ERR_ARG);
	o = pass_opts(PASS, true);
	o.argon2_m_kib = 64;
	assert_int_equal(vl_client_store_open(&o, &s), VL_ERR_ARG);
	assert_int_equal(access(db_path, F_OK), -1);
}

static void test_key_file(void **state)
{
	(void)state;
	char err[200];
	struct vl_client_store_opts o = {
	    .path = db_path,
	    .key_file = key_path,
	    .create = true,
	    .errbuf = err,
	    .errbuf_len = sizeof err,
	};
	struct vl_client_store *s;
	assert_int_equal(vl_client_store_open(&o, &s), VL_OK);
	struct stat st;
	assert_int_equal(stat(key_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, VL_CLIENT_STORE_KEYFILE_LEN);
	assert_int_equal(stat(db_path, &st), 0);
	assert_int_equal(st.st_mode & 0077, 0);
	assert_int_equal(vl_client_store_attachment_put(s, "blob-1", CANARY_KEY, 32), VL_OK);
	vl_client_store_close(s);

	o.create = false;
	assert_int_equal(vl_client_store_open(&o, &s), VL_OK);
	uint8_t *v;
	size_t len;
	assert_int_equal(vl_client_store_attachment_get(s, "blob-1", &v, &len), VL_OK);
	assert_memory_equal(v, CANARY_KEY, 32);
	vl_client_store_free(v, len);
	vl_client_store_close(s);

	/* Readable by the group or others: refused, with the mode quoted. */
	assert_int_equal(chmod(key_path, 0640), 0);
	assert_int_equal(vl_client_store_open(&o, &s), VL_ERR_PERMISSION);
	assert_non_null(strstr(err, "0640"));
	assert_int_equal(chmod(key_path, 0604), 0);
	assert_int_equal(vl_client_store_open(&o, &s), VL_ERR_PERMISSION);
	assert_int_equal(chmod(key_path, 0400), 0);
	assert_int_equal(vl_client_store_open(&o, &s), VL_OK);
	vl_client_store_close(s);
	assert_int_equal(chmod(key_path, 0600), 0);

	/* A symbolic link is not followed. */
	char link_path[160];
	snprintf(link_path, sizeof link_path, "%s/link.key", dir);
	assert_int_equal(symlink(key_path, link_path), 0);
	o.key_file = link_path;
	assert_int_equal(vl_client_store_open(&o, &s), VL_ERR_PERMISSION);

	/* Another key: wrong. A short file: refused. */
	char other[160];
	snprintf(other, sizeof other, "%s/other.key", dir);
	o.key_file = other;
	o.create = true; /* the store exists: a missing key file is not made up */
	assert_int_equal(vl_client_store_open(&o, &s), VL_ERR_NOT_FOUND);
	FILE *f = fopen(other, "wb");
	uint8_t junk[32] = {1};
	fwrite(junk, 1, sizeof junk, f);
	fclose(f);
	chmod(other, 0600);
	o.create = false;
	assert_int_equal(vl_client_store_open(&o, &s), VL_ERR_AUTH);
	snprintf(other, sizeof other, "%s/short.key", dir);
	f = fopen(other, "wb");
	fwrite(junk, 1, 16, f);
	fclose(f);
	chmod(other, 0600);
	assert_int_equal(vl_client_store_open(&o, &s), VL_ERR_PERMISSION);
	/* And a passphrase does not open a key-file store. */
	(void)open_pass(PASS, false, VL_ERR_AUTH);
	teardown(NULL);
	setup(NULL);
}

/* Every file SQLite left, concatenated. */
static uint8_t *slurp_db(size_t *len)
{
	*len = 0;
	uint8_t *all = NULL;
	const char *suffix[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < 4; i++) {
		char p[160];
		snprintf(p, sizeof p, "%s%s", db_path, suffix[i]);
		size_t n;
		uint8_t *b = tu_read_file(p, &n);
		if (!b)
			continue;
		all = realloc(all, *len + n + 1);
		memcpy(all + *len, b, n);
		*len += n;
		free(b);
	}
	return all;
}

static void test_no_plaintext_in_file(void **state)
{
	(void)state;
	struct vl_client_store *s = open_pass(PASS, true, VL_OK);
	static const uint8_t gid[] = "group-canary";
	uint8_t mid[32];
	memset(mid, 0x5a, sizeof mid);
	assert_int_equal(vl_client_store_secret_put(s, "device.sig", CANARY_KEY, 32), VL_OK);
	assert_int_equal(
	    vl_client_store_group_put(s, gid, sizeof gid, 1, CANARY_MSG, sizeof CANARY_MSG), VL_OK);
	assert_int_equal(vl_client_store_pending_put(s, gid, sizeof gid, 2, CANARY_KEY, 32,
	                                             CANARY_MSG, sizeof CANARY_MSG),
	                 VL_OK);
	assert_int_equal(vl_client_store_message_put(s, gid, sizeof gid, mid, 1700000000000,
	                                             CANARY_MSG, sizeof CANARY_MSG),
	                 VL_OK);
	assert_int_equal(vl_client_store_attachment_put(s, "blob-9", CANARY_KEY, 32), VL_OK);
	/* Checked once with the WAL still open, once after close. */
	for (int pass = 0; pass < 2; pass++) {
		size_t len;
		uint8_t *all = slurp_db(&len);
		assert_non_null(all);
		assert_true(len > 4096);
		assert_null(memmem(all, len, "CANARY", 6));
		assert_null(memmem(all, len, CANARY_KEY, 8));
		assert_null(memmem(all, len, CANARY_KEY + 16, 8));
		assert_null(memmem(all, len, PASS, strlen(PASS)));
		free(all);
		if (pass == 0)
			vl_client_store_close(s);
	}
	teardown(NULL);
	setup(NULL);
}

static void test_values_cannot_move(void **state)
{
	(void)state;
	struct vl_client_store *s = open_pass(PASS, true, VL_OK);
	static const uint8_t g1[] = "g1", g2[] = "g2";
	uint8_t m1[32], m2[32];
	memset(m1, 1, 32);
	memset(m2, 2, 32);
	assert_int_equal(vl_client_store_secret_put(s, "a", "alpha", 5), VL_OK);
	assert_int_equal(vl_client_store_secret_put(s, "b", "bravo", 5), VL_OK);
	assert_int_equal(vl_client_store_attachment_put(s, "a", "attach", 6), VL_OK);
	assert_int_equal(vl_client_store_message_put(s, g1, 2, m1, 10, "one", 3), VL_OK);
	assert_int_equal(vl_client_store_message_put(s, g1, 2, m2, 20, "two", 3), VL_OK);
	assert_int_equal(vl_client_store_message_put(s, g1, 2, m2, 20, "two", 3), VL_ERR_EXISTS);
	assert_int_equal(vl_client_store_group_put(s, g1, 2, 4, "state-g1", 8), VL_OK);
	assert_int_equal(vl_client_store_group_put(s, g2, 2, 4, "state-g2", 8), VL_OK);
	vl_client_store_close(s);

	/* Row swap, table swap, clear-column change, and a flipped byte. */
	raw_sql("UPDATE secrets SET value = (SELECT value FROM secrets WHERE name = 'b') "
	        "WHERE name = 'a'");
	raw_sql("UPDATE attachments SET secret = (SELECT value FROM secrets WHERE name = 'b')");
	raw_sql(
	    "UPDATE messages SET body = (SELECT body FROM messages WHERE ts = 20) WHERE ts = 10");
	raw_sql("UPDATE messages SET ts = 21 WHERE ts = 20");
	raw_sql("UPDATE groups SET state = (SELECT state FROM groups WHERE group_id = X'6732') "
	        "WHERE group_id = X'6731'");
	raw_sql("UPDATE groups SET epoch = 5 WHERE group_id = X'6732'");
	s = open_pass(PASS, false, VL_OK);
	uint8_t *v;
	size_t len;
	uint64_t epoch;
	assert_int_equal(vl_client_store_secret_get(s, "a", &v, &len), VL_ERR_CRYPTO);
	assert_int_equal(vl_client_store_secret_get(s, "b", &v, &len), VL_OK);
	vl_client_store_free(v, len);
	assert_int_equal(vl_client_store_attachment_get(s, "a", &v, &len), VL_ERR_CRYPTO);
	assert_int_equal(vl_client_store_message_get(s, m1, &v, &len), VL_ERR_CRYPTO);
	assert_int_equal(vl_client_store_message_get(s, m2, &v, &len), VL_ERR_CRYPTO);
	assert_int_equal(vl_client_store_group_get(s, g1, 2, &epoch, &v, &len), VL_ERR_CRYPTO);
	assert_int_equal(vl_client_store_group_get(s, g2, 2, &epoch, &v, &len), VL_ERR_CRYPTO);
	assert_null(v);
	assert_non_null(strstr(vl_client_store_errmsg(s), "does not open"));
	assert_int_equal(vl_client_store_secret_put(s, "b", "bravo2", 6), VL_OK);
	vl_client_store_close(s);
	raw_sql("UPDATE secrets SET value = CAST(substr(value, 1, 12) || X'00' || "
	        "substr(value, 14) AS BLOB) WHERE name = 'b'");
	s = open_pass(PASS, false, VL_OK);
	assert_int_equal(vl_client_store_secret_get(s, "b", &v, &len), VL_ERR_CRYPTO);
	vl_client_store_close(s);
	teardown(NULL);
	setup(NULL);
}

/* A child process that records a pending commit and dies without closing
 * anything, as a crash would leave it. */
static void crash_after_pending(const uint8_t *gid, size_t gid_len)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vl_client_store_opts o = pass_opts(PASS, false);
		struct vl_client_store *s;
		if (vl_client_store_open(&o, &s) != VL_OK ||
		    vl_client_store_pending_put(s, gid, gid_len, 8, "commit-8", 8, "state-8", 7) !=
		        VL_OK)
			_exit(1);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_pending_commit(void **state)
{
	(void)state;
	struct vl_client_store *s = open_pass(PASS, true, VL_OK);
	static const uint8_t gid[] = {0xaa, 0xbb, 0xcc};
	assert_int_equal(vl_client_store_pending_put(s, gid, 3, 8, "c", 1, "s", 1),
	                 VL_ERR_NOT_FOUND);
	assert_int_equal(vl_client_store_group_put(s, gid, 3, 7, "state-7", 7), VL_OK);
	assert_int_equal(vl_client_store_pending_put(s, gid, 3, 9, "c", 1, "s", 1), VL_ERR_STATE);
	vl_client_store_close(s);

	crash_after_pending(gid, 3);

	s = open_pass(PASS, false, VL_OK);
	uint8_t *commit, *st, *cur;
	size_t commit_len, st_len, cur_len;
	uint64_t epoch;
	/* Both states survive: the current one and the pending one. */
	assert_int_equal(vl_client_store_group_get(s, gid, 3, &epoch, &cur, &cur_len), VL_OK);
	assert_int_equal(epoch, 7);
	assert_memory_equal(cur, "state-7", 7);
	vl_client_store_free(cur, cur_len);
	assert_int_equal(
	    vl_client_store_pending_get(s, gid, 3, &epoch, &commit, &commit_len, &st, &st_len),
	    VL_OK);
	assert_int_equal(epoch, 8);
	assert_memory_equal(commit, "commit-8", 8);
	assert_memory_equal(st, "state-8", 7);
	vl_client_store_free(commit, commit_len);
	vl_client_store_free(st, st_len);
	assert_int_equal(vl_client_store_pending_put(s, gid, 3, 8, "x", 1, "y", 1), VL_ERR_EXISTS);

	/* The server accepted it. */
	assert_int_equal(vl_client_store_pending_accept(s, gid, 3), VL_OK);
	assert_int_equal(vl_client_store_group_get(s, gid, 3, &epoch, &cur, &cur_len), VL_OK);
	assert_int_equal(epoch, 8);
	assert_int_equal(cur_len, 7);
	assert_memory_equal(cur, "state-8", 7);
	vl_client_store_free(cur, cur_len);
	assert_int_equal(vl_client_store_pending_get(s, gid, 3, &epoch, NULL, NULL, NULL, NULL),
	                 VL_ERR_NOT_FOUND);
	assert_int_equal(vl_client_store_pending_accept(s, gid, 3), VL_ERR_NOT_FOUND);

	/* Refused: another member's commit won epoch 9. */
	assert_int_equal(vl_client_store_pending_put(s, gid, 3, 9, "mine", 4, "state-9a", 8),
	                 VL_OK);
	assert_int_equal(vl_client_store_pending_discard(s, gid, 3), VL_OK);
	assert_int_equal(vl_client_store_group_get(s, gid, 3, &epoch, &cur, &cur_len), VL_OK);
	assert_int_equal(epoch, 8);
	vl_client_store_free(cur, cur_len);

	/* The group moved on under a pending commit: accepting is refused. */
	assert_int_equal(vl_client_store_pending_put(s, gid, 3, 9, "mine", 4, "state-9a", 8),
	                 VL_OK);
	assert_int_equal(vl_client_store_group_put(s, gid, 3, 9, "state-9b", 8), VL_OK);
	assert_int_equal(vl_client_store_pending_accept(s, gid, 3), VL_ERR_STATE);
	assert_int_equal(vl_client_store_group_get(s, gid, 3, &epoch, &cur, &cur_len), VL_OK);
	assert_int_equal(epoch, 9);
	assert_memory_equal(cur, "state-9b", 8);
	vl_client_store_free(cur, cur_len);
	assert_int_equal(vl_client_store_pending_discard(s, gid, 3), VL_OK);

	/* Deleting the group takes its pending commit and messages along. */
	uint8_t mid[32] = {7};
	assert_int_equal(vl_client_store_message_put(s, gid, 3, mid, 1, "m", 1), VL_OK);
	assert_int_equal(vl_client_store_pending_put(s, gid, 3, 10, "c", 1, "s", 1), VL_OK);
	assert_int_equal(vl_client_store_group_delete(s, gid, 3), VL_OK);
	assert_int_equal(vl_client_store_pending_get(s, gid, 3, &epoch, NULL, NULL, NULL, NULL),
	                 VL_ERR_NOT_FOUND);
	uint8_t *v;
	size_t len;
	assert_int_equal(vl_client_store_message_get(s, mid, &v, &len), VL_ERR_NOT_FOUND);
	assert_int_equal(vl_client_store_group_delete(s, gid, 3), VL_ERR_NOT_FOUND);
	vl_client_store_close(s);
	teardown(NULL);
	setup(NULL);
}

static void test_messages_in_order(void **state)
{
	(void)state;
	struct vl_client_store *s = open_pass(PASS, true, VL_OK);
	static const uint8_t gid[] = "chat", other[] = "other";
	uint64_t ts[] = {300, 100, 200, 100};
	for (uint8_t i = 0; i < 4; i++) {
		uint8_t mid[32] = {i};
		char body[16];
		int n = snprintf(body, sizeof body, "body %u", i);
		assert_int_equal(
		    vl_client_store_message_put(s, gid, sizeof gid, mid, ts[i], body, (size_t)n),
		    VL_OK);
	}
	uint8_t mid[32] = {9};
	assert_int_equal(vl_client_store_message_put(s, other, sizeof other, mid, 1, "x", 1),
	                 VL_OK);
	uint8_t *ids;
	size_t n;
	assert_int_equal(vl_client_store_message_list(s, gid, sizeof gid, 0, 10, &ids, &n), VL_OK);
	assert_int_equal(n, 4);
	/* ts 100 (id 1, then id 3 by arrival), 200 (id 2), 300 (id 0) */
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[32], 3);
	assert_int_equal(ids[64], 2);
	assert_int_equal(ids[96], 0);
	free(ids);
	assert_int_equal(vl_client_store_message_list(s, gid, sizeof gid, 1, 2, &ids, &n), VL_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], 3);
	free(ids);
	uint8_t *body;
	size_t len;
	uint8_t m2[32] = {2};
	assert_int_equal(vl_client_store_message_get(s, m2, &body, &len), VL_OK);
	assert_int_equal(len, 6);
	assert_memory_equal(body, "body 2", 6);
	vl_client_store_free(body, len);
	assert_int_equal(vl_client_store_message_delete(s, m2), VL_OK);
	assert_int_equal(vl_client_store_message_get(s, m2, &body, &len), VL_ERR_NOT_FOUND);
	vl_client_store_close(s);
	teardown(NULL);
	setup(NULL);
}

static void test_schema_version(void **state)
{
	(void)state;
	struct vl_client_store *s = open_pass(PASS, true, VL_OK);
	vl_client_store_close(s);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), VL_CLIENT_STORE_SCHEMA_VERSION);
	sqlite3_finalize(st);
	sqlite3_close(db);
	/* Reopening keeps it; a newer schema is refused, untouched. */
	s = open_pass(PASS, false, VL_OK);
	vl_client_store_close(s);
	raw_sql("UPDATE schema_version SET version = 99");
	(void)open_pass(PASS, false, VL_ERR_UNSUPPORTED);
	raw_sql("UPDATE schema_version SET version = 1");
	s = open_pass(PASS, false, VL_OK);
	vl_client_store_close(s);
	teardown(NULL);
	setup(NULL);
}

static void test_rekey(void **state)
{
	(void)state;
	struct vl_client_store *s = open_pass(PASS, true, VL_OK);
	assert_int_equal(vl_client_store_secret_put(s, "k", "value", 5), VL_OK);
	struct vl_client_store_opts to = pass_opts("a new passphrase", false);
	assert_int_equal(vl_client_store_rekey(s, &to), VL_OK);
	vl_client_store_close(s);
	(void)open_pass(PASS, false, VL_ERR_AUTH);
	s = open_pass("a new passphrase", false, VL_OK);
	/* To a key file, made on the way. */
	struct vl_client_store_opts kf = {.path = db_path, .key_file = key_path, .create = true};
	assert_int_equal(vl_client_store_rekey(s, &kf), VL_OK);
	vl_client_store_close(s);
	(void)open_pass("a new passphrase", false, VL_ERR_AUTH);
	kf.create = false;
	assert_int_equal(vl_client_store_open(&kf, &s), VL_OK);
	uint8_t *v;
	size_t len;
	assert_int_equal(vl_client_store_secret_get(s, "k", &v, &len), VL_OK);
	assert_memory_equal(v, "value", 5);
	vl_client_store_free(v, len);
	struct vl_client_store_opts both = {
	    .passphrase = "x", .passphrase_len = 1, .key_file = key_path};
	assert_int_equal(vl_client_store_rekey(s, &both), VL_ERR_ARG);
	vl_client_store_close(s);
	teardown(NULL);
	setup(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_passphrase),
	    cmocka_unit_test(test_options),
	    cmocka_unit_test(test_key_file),
	    cmocka_unit_test(test_no_plaintext_in_file),
	    cmocka_unit_test(test_values_cannot_move),
	    cmocka_unit_test(test_pending_commit),
	    cmocka_unit_test(test_messages_in_order),
	    cmocka_unit_test(test_schema_version),
	    cmocka_unit_test(test_rekey),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
