/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's sealed local store (see store.h and
 * docs/internals/client-store.md).
 *
 * Invariants:
 *  1. No secret or content value reaches SQLite in clear: each is stored as
 *     nonce || AEAD(storage key, nonce, aad, value), ChaCha20-Poly1305 with
 *     a 256-bit key and a fresh random 96-bit nonce per write.
 *  2. The aad of a value is "valise-store-v1", its table, its column and
 *     its row key (with the epoch or timestamp kept in clear beside it), each
 *     length-prefixed: a value moved to another row, column or table, or
 *     paired with another epoch, fails to open.
 *  3. The storage key exists in clear only in struct vl_client_store, and
 *     in the file only wrapped (keyring table) under the key-wrapping key
 *     from Argon2id(passphrase) or from the 0600 key file; the wrap's aad
 *     covers the protection kind and the Argon2 parameters.
 *  4. Each public call is one transaction; a group's current state is only
 *     ever replaced by group_put or by pending_accept, never by
 *     pending_put, so a crash at any point leaves a usable current state
 *     and, if a commit was in flight, the commit and its resulting state.
 *
 * Pending-commit states of a group:
 *
 *   [current only] --pending_put--> [current + pending]
 *   [current + pending] --pending_accept--> [current := pending]
 *   [current + pending] --pending_discard--> [current only]
 */
#include "client/store.h"

#include <argon2.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "crypto/crypto.h"

#define STORE_KEY_LEN   32
#define STORE_NONCE_LEN 12
#define SALT_LEN        16
#define MAX_ROW_KEY     1024
#define AAD_LABEL       "valise-store-v1"

enum { PROTECT_PASSPHRASE = 1, PROTECT_KEYFILE = 2 };

struct vl_client_store {
	sqlite3 *db;
	const struct vl_suite *suite;
	uint8_t key[STORE_KEY_LEN];
	char err[200];
	bool batch; /* inside vl_client_store_batch_begin/_end */
};

/* Schema migrations: migrations[i] takes version i to i + 1. */
static const char *const migrations[] = {
    "CREATE TABLE keyring ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  kind INTEGER NOT NULL,"
    "  salt BLOB NOT NULL, t_cost INTEGER NOT NULL, m_kib INTEGER NOT NULL,"
    "  lanes INTEGER NOT NULL, wrapped BLOB NOT NULL);"
    "CREATE TABLE secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);"
    "CREATE TABLE groups (group_id BLOB PRIMARY KEY, epoch INTEGER NOT NULL,"
    "  state BLOB NOT NULL);"
    "CREATE TABLE pending_commits ("
    "  group_id BLOB PRIMARY KEY REFERENCES groups(group_id) ON DELETE CASCADE,"
    "  epoch INTEGER NOT NULL, commit_msg BLOB NOT NULL, state BLOB NOT NULL);"
    "CREATE TABLE messages ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  message_id BLOB NOT NULL UNIQUE, group_id BLOB NOT NULL,"
    "  ts INTEGER NOT NULL, body BLOB NOT NULL);"
    "CREATE INDEX messages_by_group ON messages (group_id, ts, seq);"
    "CREATE TABLE attachments (blob_id TEXT PRIMARY KEY, secret BLOB NOT NULL);",
};
#define N_MIGRATIONS (sizeof migrations / sizeof *migrations)
_Static_assert(N_MIGRATIONS == VL_CLIENT_STORE_SCHEMA_VERSION, "one migration per version");

static void set_err(struct vl_client_store *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_err(struct vl_client_store *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof s->err, fmt, ap);
	va_end(ap);
}

static int db_fail(struct vl_client_store *s, const char *what)
{
	set_err(s, "%s: %s", what, sqlite3_errmsg(s->db));
	return VL_ERR_STORE;
}

void vl_client_store_free(void *buf, size_t len)
{
	vl_wipe(buf, len);
	free(buf);
}

const char *vl_client_store_errmsg(const struct vl_client_store *s)
{
	return s && s->err[0] ? s->err : "no error";
}

/* --- Sealing ------------------------------------------------------------ */

struct row_key {
	uint8_t b[MAX_ROW_KEY + 64];
	size_t len;
};

static void rk_add(struct row_key *k, const void *p, size_t len)
{
	/* Callers check lengths against MAX_ROW_KEY first. */
	k->b[k->len++] = (uint8_t)(len >> 8);
	k->b[k->len++] = (uint8_t)len;
	memcpy(k->b + k->len, p, len);
	k->len += len;
}

static void rk_add_u64(struct row_key *k, uint64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	rk_add(k, b, 8);
}

static size_t build_aad(uint8_t *aad, const char *table, const char *column,
                        const struct row_key *k)
{
	size_t n = 0;
	const char *parts[] = {AAD_LABEL, table, column};
	for (size_t i = 0; i < 3; i++) {
		size_t l = strlen(parts[i]);
		aad[n++] = (uint8_t)l;
		memcpy(aad + n, parts[i], l);
		n += l;
	}
	memcpy(aad + n, k->b, k->len);
	return n + k->len;
}

#define AAD_MAX (3 * 64 + sizeof(((struct row_key *)0)->b))

static int seal(struct vl_client_store *s, const char *table, const char *column,
                const struct row_key *k, const void *pt, size_t len, uint8_t **out, size_t *out_len)
{
	*out = NULL;
	if (len > VL_CLIENT_STORE_MAX_VALUE)
		return VL_ERR_LIMIT;
	uint8_t aad[AAD_MAX];
	size_t aad_len = build_aad(aad, table, column, k);
	size_t n = STORE_NONCE_LEN + len + VL_AEAD_TAG_LEN;
	uint8_t *buf = malloc(n);
	if (!buf)
		return VL_ERR_NOMEM;
	int rc = vl_random(buf, STORE_NONCE_LEN);
	if (!rc)
		rc = vl_aead_seal(s->suite, s->key, buf, aad, aad_len, pt, len,
		                  buf + STORE_NONCE_LEN);
	if (rc) {
		free(buf);
		return VL_ERR_CRYPTO;
	}
	*out = buf;
	*out_len = n;
	return VL_OK;
}

static int unseal(struct vl_client_store *s, const char *table, const char *column,
                  const struct row_key *k, const void *sealed, size_t len, uint8_t **out,
                  size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	if (!sealed || len < STORE_NONCE_LEN + VL_AEAD_TAG_LEN)
		return VL_ERR_CRYPTO;
	uint8_t aad[AAD_MAX];
	size_t aad_len = build_aad(aad, table, column, k);
	size_t n = len - STORE_NONCE_LEN - VL_AEAD_TAG_LEN;
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		return VL_ERR_NOMEM;
	const uint8_t *p = sealed;
	if (vl_aead_open(s->suite, s->key, p, aad, aad_len, p + STORE_NONCE_LEN,
	                 len - STORE_NONCE_LEN, buf) != VL_OK) {
		free(buf);
		set_err(s, "a sealed value in %s.%s does not open", table, column);
		return VL_ERR_CRYPTO;
	}
	*out = buf;
	*out_len = n;
	return VL_OK;
}

/* --- SQL helpers ------------------------------------------------------- */

static int exec(struct vl_client_store *s, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		set_err(s, "%s", msg ? msg : "sqlite error");
		sqlite3_free(msg);
		return VL_ERR_STORE;
	}
	return VL_OK;
}

/* Inside a batch a call's transaction is a savepoint of the batch's, so
 * a failed call still undoes only itself. */
static int begin(struct vl_client_store *s)
{
	return exec(s, s->batch ? "SAVEPOINT call" : "BEGIN IMMEDIATE");
}

/* Commits if rc is VL_OK, else rolls back; returns the final status. */
static int end(struct vl_client_store *s, int rc)
{
	if (s->batch) {
		if (rc == VL_OK)
			return exec(s, "RELEASE call");
		sqlite3_exec(s->db, "ROLLBACK TO call; RELEASE call", NULL, NULL, NULL);
		return rc;
	}
	if (rc == VL_OK)
		return exec(s, "COMMIT");
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int vl_client_store_batch_begin(struct vl_client_store *s)
{
	if (s->batch)
		return VL_ERR_STATE;
	int rc = exec(s, "BEGIN IMMEDIATE");
	if (rc == VL_OK)
		s->batch = true;
	return rc;
}

int vl_client_store_batch_end(struct vl_client_store *s, bool commit)
{
	if (!s->batch)
		return VL_ERR_STATE;
	s->batch = false;
	if (commit)
		return exec(s, "COMMIT");
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return VL_OK;
}

static int prepare(struct vl_client_store *s, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
		return db_fail(s, "prepare");
	return VL_OK;
}

/* Runs a statement to completion (no rows expected). */
static int step_done(struct vl_client_store *s, sqlite3_stmt *st)
{
	int r = sqlite3_step(st);
	if (r == SQLITE_DONE)
		return VL_OK;
	if (r == SQLITE_CONSTRAINT)
		return VL_ERR_EXISTS;
	return db_fail(s, "step");
}

static int bind_blob(sqlite3_stmt *st, int i, const void *p, size_t len)
{
	return sqlite3_bind_blob64(st, i, len ? p : "", len, SQLITE_TRANSIENT) == SQLITE_OK
	           ? VL_OK
	           : VL_ERR_STORE;
}

/* --- Key protection ------------------------------------------------------ */

static int read_keyfile(struct vl_client_store *s, const char *path, bool create,
                        uint8_t kek[STORE_KEY_LEN])
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		/* A new key file: created exclusively with owner-only rights. */
		uint8_t fresh[STORE_KEY_LEN];
		int wfd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (wfd < 0) {
			set_err(s, "cannot create key file %s: %s", path, strerror(errno));
			return VL_ERR_IO;
		}
		int rc = vl_random(fresh, sizeof fresh);
		bool ok = !rc && fchmod(wfd, 0600) == 0 &&
		          write(wfd, fresh, sizeof fresh) == (ssize_t)sizeof fresh &&
		          fsync(wfd) == 0;
		vl_wipe(fresh, sizeof fresh);
		close(wfd);
		if (!ok) {
			unlink(path);
			set_err(s, "cannot write key file %s", path);
			return rc ? VL_ERR_CRYPTO : VL_ERR_IO;
		}
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		int e = errno;
		set_err(s, "cannot open key file %s: %s", path, strerror(e));
		return e == ENOENT ? VL_ERR_NOT_FOUND : e == ELOOP ? VL_ERR_PERMISSION : VL_ERR_IO;
	}
	struct stat st;
	int rc = VL_OK;
	/* Checked on the open descriptor, so the file cannot change between
	 * the check and the read. */
	if (fstat(fd, &st) != 0) {
		set_err(s, "cannot stat key file %s: %s", path, strerror(errno));
		rc = VL_ERR_IO;
	} else if (!S_ISREG(st.st_mode)) {
		set_err(s, "key file %s is not a regular file", path);
		rc = VL_ERR_PERMISSION;
	} else if (st.st_uid != geteuid()) {
		set_err(s, "key file %s belongs to uid %u, not to this user", path,
		        (unsigned)st.st_uid);
		rc = VL_ERR_PERMISSION;
	} else if (st.st_mode & 0077) {
		set_err(s,
		        "key file %s has mode %04o; it must be readable by its owner only "
		        "(chmod 600)",
		        path, (unsigned)(st.st_mode & 07777));
		rc = VL_ERR_PERMISSION;
	} else if (st.st_size != VL_CLIENT_STORE_KEYFILE_LEN) {
		set_err(s, "key file %s has %lld octets; a key file holds %d", path,
		        (long long)st.st_size, VL_CLIENT_STORE_KEYFILE_LEN);
		rc = VL_ERR_PERMISSION;
	} else if (read(fd, kek, STORE_KEY_LEN) != STORE_KEY_LEN) {
		set_err(s, "cannot read key file %s", path);
		rc = VL_ERR_IO;
	}
	close(fd);
	if (rc)
		vl_wipe(kek, STORE_KEY_LEN);
	return rc;
}

struct kdf_params {
	int kind;
	uint8_t salt[SALT_LEN];
	uint32_t t, m, p;
};

static bool params_ok(const struct kdf_params *k)
{
	return k->t >= 1 && k->t <= VL_CLIENT_STORE_ARGON2_T_MAX &&
	       k->m >= VL_CLIENT_STORE_ARGON2_M_MIN_KIB &&
	       k->m <= VL_CLIENT_STORE_ARGON2_M_MAX_KIB && k->p >= 1 &&
	       k->p <= VL_CLIENT_STORE_ARGON2_P_MAX && k->m >= 8 * k->p;
}

static int derive_kek(struct vl_client_store *s, const struct vl_client_store_opts *o,
                      const struct kdf_params *k, uint8_t kek[STORE_KEY_LEN])
{
	if (k->kind == PROTECT_KEYFILE)
		return read_keyfile(s, o->key_file, o->create, kek);
	if (!params_ok(k)) {
		set_err(s, "Argon2id parameters out of bounds");
		return VL_ERR_INVALID;
	}
	int r = argon2id_hash_raw(k->t, k->m, k->p, o->passphrase, o->passphrase_len, k->salt,
	                          SALT_LEN, kek, STORE_KEY_LEN);
	if (r != ARGON2_OK) {
		vl_wipe(kek, STORE_KEY_LEN);
		set_err(s, "Argon2id failed: %s", argon2_error_message(r));
		return r == ARGON2_MEMORY_ALLOCATION_ERROR ? VL_ERR_NOMEM : VL_ERR_CRYPTO;
	}
	return VL_OK;
}

/* The wrap binds the protection kind and KDF parameters. */
static size_t wrap_aad(const struct kdf_params *k, uint8_t aad[64])
{
	size_t n = 0;
	memcpy(aad, AAD_LABEL " keyring", sizeof AAD_LABEL " keyring" - 1);
	n += sizeof AAD_LABEL " keyring" - 1;
	aad[n++] = (uint8_t)k->kind;
	memcpy(aad + n, k->salt, SALT_LEN);
	n += SALT_LEN;
	uint32_t v[3] = {k->t, k->m, k->p};
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 4; j++)
			aad[n++] = (uint8_t)(v[i] >> (24 - 8 * j));
	return n;
}

/* Wraps the storage key under the protection o asks for and writes the
 * keyring row (insert for a new store, update for a rekey). */
static int keyring_write(struct vl_client_store *s, const struct vl_client_store_opts *o,
                         bool update)
{
	struct kdf_params k = {
	    .kind = o->passphrase ? PROTECT_PASSPHRASE : PROTECT_KEYFILE,
	    .t = o->argon2_t ? o->argon2_t : VL_CLIENT_STORE_ARGON2_T,
	    .m = o->argon2_m_kib ? o->argon2_m_kib : VL_CLIENT_STORE_ARGON2_M_KIB,
	    .p = o->argon2_p ? o->argon2_p : VL_CLIENT_STORE_ARGON2_P,
	};
	uint8_t kek[STORE_KEY_LEN], wrapped[STORE_NONCE_LEN + STORE_KEY_LEN + VL_AEAD_TAG_LEN];
	uint8_t aad[64];
	int rc;
	if ((rc = vl_random(k.salt, SALT_LEN)) || (rc = vl_random(wrapped, STORE_NONCE_LEN)))
		return VL_ERR_CRYPTO;
	if (!update && vl_random(s->key, STORE_KEY_LEN))
		return VL_ERR_CRYPTO;
	if ((rc = derive_kek(s, o, &k, kek)))
		return rc;
	size_t aad_len = wrap_aad(&k, aad);
	rc = vl_aead_seal(s->suite, kek, wrapped, aad, aad_len, s->key, STORE_KEY_LEN,
	                  wrapped + STORE_NONCE_LEN);
	vl_wipe(kek, sizeof kek);
	if (rc)
		return VL_ERR_CRYPTO;
	sqlite3_stmt *st;
	if ((rc =
	         prepare(s,
	                 update ? "UPDATE keyring SET kind = ?, salt = ?, t_cost = ?, m_kib = ?, "
	                          "lanes = ?, wrapped = ? WHERE id = 1"
	                        : "INSERT INTO keyring (kind, salt, t_cost, m_kib, lanes, wrapped, "
	                          "id) VALUES (?, ?, ?, ?, ?, ?, 1)",
	                 &st)))
		return rc;
	sqlite3_bind_int(st, 1, k.kind);
	bind_blob(st, 2, k.salt, SALT_LEN);
	sqlite3_bind_int64(st, 3, k.t);
	sqlite3_bind_int64(st, 4, k.m);
	sqlite3_bind_int64(st, 5, k.p);
	bind_blob(st, 6, wrapped, sizeof wrapped);
	rc = step_done(s, st);
	sqlite3_finalize(st);
	if (!rc && update && sqlite3_changes(s->db) != 1)
		rc = db_fail(s, "keyring row missing");
	return rc;
}

static int keyring_unlock(struct vl_client_store *s, const struct vl_client_store_opts *o,
                          sqlite3_stmt *st)
{
	struct kdf_params k = {.kind = sqlite3_column_int(st, 0)};
	sqlite3_int64 t = sqlite3_column_int64(st, 2), m = sqlite3_column_int64(st, 3),
	              p = sqlite3_column_int64(st, 4);
	const void *salt = sqlite3_column_blob(st, 1);
	const uint8_t *wrapped = sqlite3_column_blob(st, 5);
	if ((k.kind != PROTECT_PASSPHRASE && k.kind != PROTECT_KEYFILE) || !salt ||
	    sqlite3_column_bytes(st, 1) != SALT_LEN || !wrapped ||
	    sqlite3_column_bytes(st, 5) != STORE_NONCE_LEN + STORE_KEY_LEN + VL_AEAD_TAG_LEN ||
	    t < 0 || t > UINT32_MAX || m < 0 || m > UINT32_MAX || p < 0 || p > UINT32_MAX) {
		set_err(s, "the key record of the store is damaged");
		return VL_ERR_STORE;
	}
	memcpy(k.salt, salt, SALT_LEN);
	k.t = (uint32_t)t, k.m = (uint32_t)m, k.p = (uint32_t)p;
	int want = o->passphrase ? PROTECT_PASSPHRASE : PROTECT_KEYFILE;
	if (k.kind != want) {
		set_err(s, "this store is protected by a %s",
		        k.kind == PROTECT_KEYFILE ? "key file" : "passphrase");
		return VL_ERR_AUTH;
	}
	uint8_t kek[STORE_KEY_LEN], aad[64];
	int rc = derive_kek(s, o, &k, kek);
	if (rc)
		return rc;
	size_t aad_len = wrap_aad(&k, aad);
	rc = vl_aead_open(s->suite, kek, wrapped, aad, aad_len, wrapped + STORE_NONCE_LEN,
	                  STORE_KEY_LEN + VL_AEAD_TAG_LEN, s->key);
	vl_wipe(kek, sizeof kek);
	if (rc) {
		set_err(s, "wrong %s", k.kind == PROTECT_KEYFILE ? "key file" : "passphrase");
		return VL_ERR_AUTH;
	}
	return VL_OK;
}

/* --- Opening -------------------------------------------------------------- */

static int schema_version(struct vl_client_store *s, int *version)
{
	sqlite3_stmt *st;
	int rc = prepare(s,
	                 "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
	                 "name = 'schema_version'",
	                 &st);
	if (rc)
		return rc;
	bool exists = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
	sqlite3_finalize(st);
	*version = 0;
	if (!exists)
		return exec(s, "CREATE TABLE schema_version (version INTEGER NOT NULL);"
		               "INSERT INTO schema_version VALUES (0);");
	if ((rc = prepare(s, "SELECT version FROM schema_version", &st)))
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	else
		rc = db_fail(s, "schema_version is empty");
	sqlite3_finalize(st);
	return rc;
}

static int migrate(struct vl_client_store *s)
{
	int v, rc = schema_version(s, &v);
	if (rc)
		return rc;
	if (v < 0 || v > (int)N_MIGRATIONS) {
		set_err(s, "the store has schema version %d; this program knows up to %d", v,
		        (int)N_MIGRATIONS);
		return VL_ERR_UNSUPPORTED;
	}
	for (; v < (int)N_MIGRATIONS; v++) {
		if ((rc = exec(s, migrations[v])))
			return rc;
		char sql[64];
		snprintf(sql, sizeof sql, "UPDATE schema_version SET version = %d", v + 1);
		if ((rc = exec(s, sql)))
			return rc;
	}
	return VL_OK;
}

static int open_db(struct vl_client_store *s, const struct vl_client_store_opts *o)
{
	struct stat st;
	bool exists = stat(o->path, &st) == 0;
	if (!exists && !o->create) {
		set_err(s, "no store at %s", o->path);
		return VL_ERR_NOT_FOUND;
	}
	if (!exists) {
		/* Created here so that the file (and SQLite's -wal and -shm
		 * files, which copy its mode) is owner-only from the start. */
		int fd = open(o->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			set_err(s, "cannot create %s: %s", o->path, strerror(errno));
			return VL_ERR_IO;
		}
		close(fd);
	}
	if (sqlite3_open_v2(o->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL) !=
	    SQLITE_OK)
		return db_fail(s, "open");
	sqlite3_busy_timeout(s->db, 5000);
	/* WAL + FULL: a committed transaction survives a power cut;
	 * secure_delete overwrites freed pages. */
	return exec(s, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
	               "PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;");
}

/* Exactly one protection, and Argon2 costs in bounds when a new wrap is
 * to be made with them. */
static int check_protection(struct vl_client_store *s, const struct vl_client_store_opts *o,
                            bool new_wrap)
{
	if ((o->passphrase == NULL) == (o->key_file == NULL)) {
		set_err(s, "give a path and exactly one of a passphrase and a key file");
		return VL_ERR_ARG;
	}
	struct kdf_params k = {
	    .t = o->argon2_t ? o->argon2_t : VL_CLIENT_STORE_ARGON2_T,
	    .m = o->argon2_m_kib ? o->argon2_m_kib : VL_CLIENT_STORE_ARGON2_M_KIB,
	    .p = o->argon2_p ? o->argon2_p : VL_CLIENT_STORE_ARGON2_P,
	};
	if (o->passphrase && new_wrap && o->passphrase_len == 0) {
		set_err(s, "the passphrase is empty");
		return VL_ERR_ARG;
	}
	if (o->passphrase && new_wrap && !params_ok(&k)) {
		set_err(s, "Argon2id parameters out of bounds");
		return VL_ERR_ARG;
	}
	return VL_OK;
}

int vl_client_store_open(const struct vl_client_store_opts *o, struct vl_client_store **out)
{
	*out = NULL;
	struct vl_client_store *s = calloc(1, sizeof *s);
	if (!s)
		return VL_ERR_NOMEM;
	int rc = VL_OK;
	/* ChaCha20-Poly1305 (the AEAD of suite 0x0003): a 256-bit key and
	 * constant time without AES instructions. */
	s->suite = vl_suite_get(VL_SUITE_X25519_CHACHA20POLY1305_SHA256_ED25519);
	if (!o->path || !s->suite || (rc = check_protection(s, o, o->create)))
		goto cleanup;
	if (o->key_file && o->create && access(o->path, F_OK) == 0 &&
	    access(o->key_file, F_OK) != 0) {
		/* A new key file could never open an existing store. */
		set_err(s, "key file %s is missing", o->key_file);
		rc = VL_ERR_NOT_FOUND;
		goto cleanup;
	}
	if ((rc = open_db(s, o)) || (rc = begin(s)))
		goto cleanup;
	rc = migrate(s);
	sqlite3_stmt *st = NULL;
	if (!rc)
		rc = prepare(s, "SELECT kind, salt, t_cost, m_kib, lanes, wrapped FROM keyring",
		             &st);
	if (!rc) {
		int r = sqlite3_step(st);
		if (r == SQLITE_ROW)
			rc = keyring_unlock(s, o, st);
		else if (r == SQLITE_DONE)
			rc = keyring_write(s, o, false);
		else
			rc = db_fail(s, "keyring");
	}
	sqlite3_finalize(st);
	if ((rc = end(s, rc)))
		goto cleanup;
	*out = s;
	return VL_OK;
cleanup:
	if (o->errbuf && o->errbuf_len)
		snprintf(o->errbuf, o->errbuf_len, "%s", s->err[0] ? s->err : vl_strerror(rc));
	vl_client_store_close(s);
	return rc;
}

int vl_client_store_rekey(struct vl_client_store *s, const struct vl_client_store_opts *to)
{
	int rc = check_protection(s, to, true);
	if (rc || (rc = begin(s)))
		return rc;
	return end(s, keyring_write(s, to, true));
}

void vl_client_store_close(struct vl_client_store *s)
{
	if (!s)
		return;
	if (s->db)
		sqlite3_close(s->db);
	vl_wipe(s->key, sizeof s->key);
	free(s);
}

/* --- Generic sealed rows ---------------------------------------------------- */

static int check_key(size_t len)
{
	return len == 0 || len > MAX_ROW_KEY ? VL_ERR_LIMIT : VL_OK;
}

/* Reads one sealed column of the first row of a one-parameter query. */
static int get_sealed(struct vl_client_store *s, const char *sql, const void *param,
                      size_t param_len, bool param_text, const char *table, const char *column,
                      const struct row_key *k, uint8_t **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	sqlite3_stmt *st;
	int rc = prepare(s, sql, &st);
	if (rc)
		return rc;
	if (param_text)
		sqlite3_bind_text64(st, 1, param, param_len, SQLITE_TRANSIENT, SQLITE_UTF8);
	else
		bind_blob(st, 1, param, param_len);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		rc = unseal(s, table, column, k, sqlite3_column_blob(st, 0),
		            (size_t)sqlite3_column_bytes(st, 0), out, out_len);
	else
		rc = r == SQLITE_DONE ? VL_ERR_NOT_FOUND : db_fail(s, "select");
	sqlite3_finalize(st);
	return rc;
}

static int put_named(struct vl_client_store *s, const char *sql, const char *table,
                     const char *column, const char *name, const void *value, size_t len)
{
	size_t name_len = strlen(name);
	int rc = check_key(name_len);
	if (rc)
		return rc;
	struct row_key k = {0};
	rk_add(&k, name, name_len);
	uint8_t *sealed;
	size_t sealed_len;
	if ((rc = seal(s, table, column, &k, value, len, &sealed, &sealed_len)))
		return rc;
	sqlite3_stmt *st;
	if (!(rc = prepare(s, sql, &st))) {
		sqlite3_bind_text64(st, 1, name, name_len, SQLITE_TRANSIENT, SQLITE_UTF8);
		bind_blob(st, 2, sealed, sealed_len);
		rc = step_done(s, st);
		sqlite3_finalize(st);
	}
	free(sealed);
	return rc;
}

static int get_named(struct vl_client_store *s, const char *sql, const char *table,
                     const char *column, const char *name, uint8_t **out, size_t *len)
{
	size_t name_len = strlen(name);
	*out = NULL;
	*len = 0;
	int rc = check_key(name_len);
	if (rc)
		return rc;
	struct row_key k = {0};
	rk_add(&k, name, name_len);
	return get_sealed(s, sql, name, name_len, true, table, column, &k, out, len);
}

int vl_client_store_secret_put(struct vl_client_store *s, const char *name, const void *value,
                               size_t len)
{
	return put_named(s, "INSERT OR REPLACE INTO secrets (name, value) VALUES (?, ?)", "secrets",
	                 "value", name, value, len);
}

int vl_client_store_secret_get(struct vl_client_store *s, const char *name, uint8_t **value,
                               size_t *len)
{
	return get_named(s, "SELECT value FROM secrets WHERE name = ?", "secrets", "value", name,
	                 value, len);
}

static int delete_where(struct vl_client_store *s, const char *sql, const void *p, size_t len,
                        bool text)
{
	sqlite3_stmt *st;
	int rc = prepare(s, sql, &st);
	if (rc)
		return rc;
	if (text)
		sqlite3_bind_text64(st, 1, p, len, SQLITE_TRANSIENT, SQLITE_UTF8);
	else
		bind_blob(st, 1, p, len);
	rc = step_done(s, st);
	sqlite3_finalize(st);
	if (!rc && sqlite3_changes(s->db) == 0)
		rc = VL_ERR_NOT_FOUND;
	return rc;
}

int vl_client_store_secret_delete(struct vl_client_store *s, const char *name)
{
	return delete_where(s, "DELETE FROM secrets WHERE name = ?", name, strlen(name), true);
}

int vl_client_store_secret_list(struct vl_client_store *s, const char *prefix, char ***names,
                                size_t *n)
{
	*names = NULL;
	*n = 0;
	size_t plen = strlen(prefix);
	int rc = check_key(plen);
	if (rc)
		return rc;
	sqlite3_stmt *st;
	/* A range scan on the primary key: names from prefix up to (not
	 * including) prefix followed by the highest octet. */
	if ((rc = prepare(s, "SELECT name FROM secrets WHERE substr(name, 1, ?) = ? ORDER BY name",
	                  &st)))
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)plen);
	sqlite3_bind_text64(st, 2, prefix, plen, SQLITE_TRANSIENT, SQLITE_UTF8);
	char **list = NULL;
	size_t cnt = 0, cap = 0;
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (!name)
			continue;
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **nl = realloc(list, ncap * sizeof *nl);
			if (!nl) {
				rc = VL_ERR_NOMEM;
				break;
			}
			list = nl;
			cap = ncap;
		}
		if (!(list[cnt] = strdup(name))) {
			rc = VL_ERR_NOMEM;
			break;
		}
		cnt++;
	}
	if (!rc && r != SQLITE_DONE)
		rc = db_fail(s, "select");
	sqlite3_finalize(st);
	if (rc) {
		vl_client_store_names_free(list, cnt);
		return rc;
	}
	*names = list;
	*n = cnt;
	return VL_OK;
}

void vl_client_store_names_free(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

int vl_client_store_attachment_put(struct vl_client_store *s, const char *blob_id,
                                   const void *secret, size_t len)
{
	return put_named(s, "INSERT OR REPLACE INTO attachments (blob_id, secret) VALUES (?, ?)",
	                 "attachments", "secret", blob_id, secret, len);
}

int vl_client_store_attachment_get(struct vl_client_store *s, const char *blob_id, uint8_t **secret,
                                   size_t *len)
{
	return get_named(s, "SELECT secret FROM attachments WHERE blob_id = ?", "attachments",
	                 "secret", blob_id, secret, len);
}

/* --- Groups and pending commits -------------------------------------------- */

static void group_key(struct row_key *k, const uint8_t *gid, size_t gid_len, uint64_t epoch)
{
	k->len = 0;
	rk_add(k, gid, gid_len);
	rk_add_u64(k, epoch);
}

static int write_group(struct vl_client_store *s, const uint8_t *gid, size_t gid_len,
                       uint64_t epoch, const void *state, size_t len)
{
	if (epoch > INT64_MAX)
		return VL_ERR_ARG;
	struct row_key k;
	group_key(&k, gid, gid_len, epoch);
	uint8_t *sealed;
	size_t sealed_len;
	int rc = seal(s, "groups", "state", &k, state, len, &sealed, &sealed_len);
	if (rc)
		return rc;
	sqlite3_stmt *st;
	/* An upsert, not INSERT OR REPLACE: replacing the row would cascade
	 * to the group's pending commit. */
	if (!(rc = prepare(s,
	                   "INSERT INTO groups (group_id, epoch, state) VALUES (?, ?, ?) "
	                   "ON CONFLICT (group_id) DO UPDATE SET epoch = excluded.epoch, "
	                   "state = excluded.state",
	                   &st))) {
		bind_blob(st, 1, gid, gid_len);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)epoch);
		bind_blob(st, 3, sealed, sealed_len);
		rc = step_done(s, st);
		sqlite3_finalize(st);
	}
	free(sealed);
	return rc;
}

int vl_client_store_group_put(struct vl_client_store *s, const uint8_t *group_id,
                              size_t group_id_len, uint64_t epoch, const void *state,
                              size_t state_len)
{
	int rc = check_key(group_id_len);
	if (rc || (rc = begin(s)))
		return rc;
	return end(s, write_group(s, group_id, group_id_len, epoch, state, state_len));
}

/* Current epoch of a group; VL_ERR_NOT_FOUND if none. */
static int group_epoch(struct vl_client_store *s, const uint8_t *gid, size_t gid_len,
                       uint64_t *epoch)
{
	sqlite3_stmt *st;
	int rc = prepare(s, "SELECT epoch FROM groups WHERE group_id = ?", &st);
	if (rc)
		return rc;
	bind_blob(st, 1, gid, gid_len);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		*epoch = (uint64_t)sqlite3_column_int64(st, 0);
	else
		rc = r == SQLITE_DONE ? VL_ERR_NOT_FOUND : db_fail(s, "select");
	sqlite3_finalize(st);
	return rc;
}

int vl_client_store_group_get(struct vl_client_store *s, const uint8_t *group_id,
                              size_t group_id_len, uint64_t *epoch, uint8_t **state,
                              size_t *state_len)
{
	*state = NULL;
	*state_len = 0;
	int rc = check_key(group_id_len);
	if (rc || (rc = begin(s)))
		return rc;
	uint64_t e = 0;
	rc = group_epoch(s, group_id, group_id_len, &e);
	if (!rc) {
		struct row_key k;
		group_key(&k, group_id, group_id_len, e);
		rc = get_sealed(s, "SELECT state FROM groups WHERE group_id = ?", group_id,
		                group_id_len, false, "groups", "state", &k, state, state_len);
	}
	rc = end(s, rc);
	if (rc) {
		vl_client_store_free(*state, *state_len);
		*state = NULL;
		*state_len = 0;
		return rc;
	}
	*epoch = e;
	return VL_OK;
}

int vl_client_store_group_delete(struct vl_client_store *s, const uint8_t *group_id,
                                 size_t group_id_len)
{
	int rc = check_key(group_id_len);
	if (rc || (rc = begin(s)))
		return rc;
	sqlite3_stmt *st;
	if (!(rc = prepare(s, "DELETE FROM messages WHERE group_id = ?", &st))) {
		bind_blob(st, 1, group_id, group_id_len);
		rc = step_done(s, st);
		sqlite3_finalize(st);
	}
	if (!rc)
		rc = delete_where(s, "DELETE FROM groups WHERE group_id = ?", group_id,
		                  group_id_len, false);
	return end(s, rc);
}

static void pending_key(struct row_key *k, const uint8_t *gid, size_t gid_len, uint64_t epoch)
{
	group_key(k, gid, gid_len, epoch);
}

int vl_client_store_pending_put(struct vl_client_store *s, const uint8_t *group_id,
                                size_t group_id_len, uint64_t new_epoch, const void *commit,
                                size_t commit_len, const void *state, size_t state_len)
{
	int rc = check_key(group_id_len);
	if (rc || (rc = begin(s)))
		return rc;
	uint64_t cur;
	uint8_t *sc = NULL, *ss = NULL;
	size_t sc_len = 0, ss_len = 0;
	struct row_key k;
	pending_key(&k, group_id, group_id_len, new_epoch);
	sqlite3_stmt *st = NULL;
	if ((rc = group_epoch(s, group_id, group_id_len, &cur)))
		goto out;
	if (new_epoch != cur + 1 || new_epoch > INT64_MAX) {
		set_err(s, "a commit from epoch %llu must lead to epoch %llu",
		        (unsigned long long)cur, (unsigned long long)cur + 1);
		rc = VL_ERR_STATE;
		goto out;
	}
	if ((rc = seal(s, "pending_commits", "commit_msg", &k, commit, commit_len, &sc, &sc_len)) ||
	    (rc = seal(s, "pending_commits", "state", &k, state, state_len, &ss, &ss_len)) ||
	    (rc = prepare(s,
	                  "INSERT INTO pending_commits (group_id, epoch, commit_msg, state) "
	                  "VALUES (?, ?, ?, ?)",
	                  &st)))
		goto out;
	bind_blob(st, 1, group_id, group_id_len);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)new_epoch);
	bind_blob(st, 3, sc, sc_len);
	bind_blob(st, 4, ss, ss_len);
	rc = step_done(s, st);
	if (rc == VL_ERR_EXISTS)
		set_err(s, "a commit is already pending for this group");
out:
	sqlite3_finalize(st);
	free(sc);
	free(ss);
	return end(s, rc);
}

/* Reads the pending record: epoch and the wanted sealed columns, opened. */
static int pending_read(struct vl_client_store *s, const uint8_t *gid, size_t gid_len,
                        uint64_t *epoch, uint8_t **commit, size_t *commit_len, uint8_t **state,
                        size_t *state_len)
{
	sqlite3_stmt *st;
	int rc = prepare(
	    s, "SELECT epoch, commit_msg, state FROM pending_commits WHERE group_id = ?", &st);
	if (rc)
		return rc;
	bind_blob(st, 1, gid, gid_len);
	int r = sqlite3_step(st);
	if (r != SQLITE_ROW) {
		rc = r == SQLITE_DONE ? VL_ERR_NOT_FOUND : db_fail(s, "select");
		sqlite3_finalize(st);
		return rc;
	}
	*epoch = (uint64_t)sqlite3_column_int64(st, 0);
	struct row_key k;
	pending_key(&k, gid, gid_len, *epoch);
	if (commit)
		rc = unseal(s, "pending_commits", "commit_msg", &k, sqlite3_column_blob(st, 1),
		            (size_t)sqlite3_column_bytes(st, 1), commit, commit_len);
	if (!rc && state)
		rc = unseal(s, "pending_commits", "state", &k, sqlite3_column_blob(st, 2),
		            (size_t)sqlite3_column_bytes(st, 2), state, state_len);
	sqlite3_finalize(st);
	if (rc && commit) {
		vl_client_store_free(*commit, *commit_len);
		*commit = NULL;
	}
	return rc;
}

int vl_client_store_pending_get(struct vl_client_store *s, const uint8_t *group_id,
                                size_t group_id_len, uint64_t *new_epoch, uint8_t **commit,
                                size_t *commit_len, uint8_t **state, size_t *state_len)
{
	if (commit)
		*commit = NULL, *commit_len = 0;
	if (state)
		*state = NULL, *state_len = 0;
	int rc = check_key(group_id_len);
	if (rc || (rc = begin(s)))
		return rc;
	uint64_t e = 0;
	rc = end(s,
	         pending_read(s, group_id, group_id_len, &e, commit, commit_len, state, state_len));
	if (rc) {
		if (commit) {
			vl_client_store_free(*commit, *commit_len);
			*commit = NULL, *commit_len = 0;
		}
		if (state) {
			vl_client_store_free(*state, *state_len);
			*state = NULL, *state_len = 0;
		}
		return rc;
	}
	*new_epoch = e;
	return VL_OK;
}

int vl_client_store_pending_accept(struct vl_client_store *s, const uint8_t *group_id,
                                   size_t group_id_len)
{
	int rc = check_key(group_id_len);
	if (rc || (rc = begin(s)))
		return rc;
	uint64_t epoch = 0, cur = 0;
	uint8_t *state = NULL;
	size_t state_len = 0;
	rc = pending_read(s, group_id, group_id_len, &epoch, NULL, NULL, &state, &state_len);
	if (!rc && !(rc = group_epoch(s, group_id, group_id_len, &cur)) && epoch != cur + 1) {
		set_err(s, "the pending commit leads to epoch %llu but the group is at %llu",
		        (unsigned long long)epoch, (unsigned long long)cur);
		rc = VL_ERR_STATE;
	}
	/* The state is re-sealed for its new table and column; both writes
	 * commit together or not at all. */
	if (!rc)
		rc = write_group(s, group_id, group_id_len, epoch, state, state_len);
	if (!rc)
		rc = delete_where(s, "DELETE FROM pending_commits WHERE group_id = ?", group_id,
		                  group_id_len, false);
	vl_client_store_free(state, state_len);
	return end(s, rc);
}

int vl_client_store_pending_discard(struct vl_client_store *s, const uint8_t *group_id,
                                    size_t group_id_len)
{
	int rc = check_key(group_id_len);
	if (rc || (rc = begin(s)))
		return rc;
	return end(s, delete_where(s, "DELETE FROM pending_commits WHERE group_id = ?", group_id,
	                           group_id_len, false));
}

/* --- Messages --------------------------------------------------------------- */

static void message_key(struct row_key *k, const uint8_t *gid, size_t gid_len,
                        const uint8_t mid[32], uint64_t ts)
{
	k->len = 0;
	rk_add(k, gid, gid_len);
	rk_add(k, mid, 32);
	rk_add_u64(k, ts);
}

int vl_client_store_message_put(struct vl_client_store *s, const uint8_t *group_id,
                                size_t group_id_len, const uint8_t message_id[32],
                                uint64_t timestamp_ms, const void *body, size_t body_len)
{
	int rc = check_key(group_id_len);
	if (rc)
		return rc;
	if (timestamp_ms > INT64_MAX)
		return VL_ERR_ARG;
	struct row_key k;
	message_key(&k, group_id, group_id_len, message_id, timestamp_ms);
	uint8_t *sealed;
	size_t sealed_len;
	if ((rc = seal(s, "messages", "body", &k, body, body_len, &sealed, &sealed_len)))
		return rc;
	sqlite3_stmt *st;
	if (!(rc = prepare(
	          s, "INSERT INTO messages (message_id, group_id, ts, body) VALUES (?, ?, ?, ?)",
	          &st))) {
		bind_blob(st, 1, message_id, 32);
		bind_blob(st, 2, group_id, group_id_len);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)timestamp_ms);
		bind_blob(st, 4, sealed, sealed_len);
		rc = step_done(s, st);
		sqlite3_finalize(st);
	}
	free(sealed);
	return rc;
}

int vl_client_store_message_group(struct vl_client_store *s, const uint8_t message_id[32],
                                  uint8_t **group_id, size_t *group_id_len)
{
	*group_id = NULL;
	*group_id_len = 0;
	sqlite3_stmt *st;
	int rc = prepare(s, "SELECT group_id FROM messages WHERE message_id = ?", &st);
	if (rc)
		return rc;
	bind_blob(st, 1, message_id, 32);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		size_t len = (size_t)sqlite3_column_bytes(st, 0);
		const void *gid = sqlite3_column_blob(st, 0);
		if (check_key(len) || !gid) {
			rc = VL_ERR_STORE;
		} else if (!(*group_id = malloc(len))) {
			rc = VL_ERR_NOMEM;
		} else {
			memcpy(*group_id, gid, len);
			*group_id_len = len;
		}
	} else {
		rc = r == SQLITE_DONE ? VL_ERR_NOT_FOUND : db_fail(s, "select");
	}
	sqlite3_finalize(st);
	return rc;
}

int vl_client_store_message_get(struct vl_client_store *s, const uint8_t message_id[32],
                                uint8_t **body, size_t *body_len)
{
	*body = NULL;
	*body_len = 0;
	sqlite3_stmt *st;
	int rc = prepare(s, "SELECT group_id, ts, body FROM messages WHERE message_id = ?", &st);
	if (rc)
		return rc;
	bind_blob(st, 1, message_id, 32);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		size_t gid_len = (size_t)sqlite3_column_bytes(st, 0);
		const void *gid = sqlite3_column_blob(st, 0);
		if (check_key(gid_len) || !gid) {
			rc = VL_ERR_CRYPTO;
		} else {
			struct row_key k;
			message_key(&k, gid, gid_len, message_id,
			            (uint64_t)sqlite3_column_int64(st, 1));
			rc = unseal(s, "messages", "body", &k, sqlite3_column_blob(st, 2),
			            (size_t)sqlite3_column_bytes(st, 2), body, body_len);
		}
	} else {
		rc = r == SQLITE_DONE ? VL_ERR_NOT_FOUND : db_fail(s, "select");
	}
	sqlite3_finalize(st);
	return rc;
}

int vl_client_store_message_delete(struct vl_client_store *s, const uint8_t message_id[32])
{
	return delete_where(s, "DELETE FROM messages WHERE message_id = ?", message_id, 32, false);
}

int vl_client_store_message_list(struct vl_client_store *s, const uint8_t *group_id,
                                 size_t group_id_len, size_t offset, size_t max, uint8_t **ids,
                                 size_t *n)
{
	*ids = NULL;
	*n = 0;
	int rc = check_key(group_id_len);
	if (rc)
		return rc;
	if (max == 0)
		return VL_OK;
	if (max > 100000 || offset > INT64_MAX)
		return VL_ERR_LIMIT;
	/* Grown as rows come: max is a cap, not a size hint. */
	size_t cap = max < 64 ? max : 64;
	uint8_t *out = malloc(cap * 32);
	if (!out)
		return VL_ERR_NOMEM;
	sqlite3_stmt *st;
	if ((rc = prepare(s,
	                  "SELECT message_id FROM messages WHERE group_id = ? "
	                  "ORDER BY ts, seq LIMIT ? OFFSET ?",
	                  &st))) {
		free(out);
		return rc;
	}
	bind_blob(st, 1, group_id, group_id_len);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)offset);
	size_t count = 0;
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != 32 || count == max) {
			rc = VL_ERR_STORE;
			break;
		}
		if (count == cap) {
			size_t ncap = cap * 2 < max ? cap * 2 : max;
			uint8_t *no = realloc(out, ncap * 32);
			if (!no) {
				rc = VL_ERR_NOMEM;
				break;
			}
			out = no;
			cap = ncap;
		}
		memcpy(out + 32 * count++, sqlite3_column_blob(st, 0), 32);
	}
	if (!rc && r != SQLITE_DONE)
		rc = db_fail(s, "list");
	sqlite3_finalize(st);
	if (rc) {
		free(out);
		return rc;
	}
	*ids = out;
	*n = count;
	return VL_OK;
}
