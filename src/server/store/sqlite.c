/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite backend of the store (store.h): one database file in WAL mode
 * with synchronous=FULL, so a commit is durable once it returns and costs
 * one fsync of the WAL; or, while an executor defers durability
 * (sync_defer), synchronous=NORMAL, where a commit only appends to the WAL
 * and sq_sync makes it durable from another thread. Every statement is prepared once, at open. The
 * schema is created and upgraded by the migrations table below, one step
 * per version, each in its own transaction.
 *
 * Operations run in their own transaction when no batch is open, and
 * inside a savepoint of the batch's transaction otherwise, so a failing
 * operation never takes the rest of its batch with it (store.h, 1-2);
 * except the two that run once per message, SEND and ACK: SEND checks
 * before it writes and undoes its one early write itself when refused,
 * ACK is only recorded and applied at commit. Message ids come from a
 * counter kept here, reference counts of messages are kept here, and
 * SEND reads groups from a cache: docs/internals/store.md has the why
 * and the figures.
 */
#define _GNU_SOURCE /* sync_file_range */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/store/store_backend.h"

/* A client message id is "timed" when its first 48 bits, a time in
 * milliseconds (docs/protocol.md), are at most SENT_PAST_MS before and
 * SENT_AHEAD_MS after the server's clock when the id first comes. Timed
 * records live in `sent` in key order, so the oldest are the leftmost
 * and are pruned by key range: everything below (window start -
 * SENT_PAST_MS) is older than the window, and nothing younger is. */
#define SENT_PAST_MS  3600000 /* an hour: clocks behind, messages queued */
#define SENT_AHEAD_MS 300000  /* five minutes: clocks ahead */
#define STR_(x)       #x
#define STR(x)        STR_(x)
/* The same test in SQL, for rows already stored with their time in
 * seconds (`created`), as 12 hexadecimal digits compared as text. */
/* clang-format off */
#define SENT_TIMED_SQL                                                                             \
	"(hex(substr(client_msg_id, 1, 6)) BETWEEN"                                                \
	" printf('%012X', max(0, created * 1000 - " STR(SENT_PAST_MS) ")) AND"                     \
	" printf('%012X', min(281474976710655, created * 1000 + 999 + " STR(SENT_AHEAD_MS) ")))"
/* clang-format on */

/* Migration N brings the schema from version N-1 to N. Never edit a
 * released step: add a new one. */
static const char *const migrations[] = {
    /* 1: accounts, devices, directory, groups, queues. */
    "CREATE TABLE users ("
    " id INTEGER PRIMARY KEY, address TEXT NOT NULL UNIQUE, created INTEGER NOT NULL);"
    "CREATE TABLE invites ("
    " key BLOB PRIMARY KEY, user TEXT NOT NULL, created INTEGER NOT NULL,"
    " expires INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "CREATE TABLE devices ("
    " id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),"
    " name TEXT NOT NULL, suite INTEGER NOT NULL, sig_pub BLOB NOT NULL,"
    " created INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0,"
    " acked_seq INTEGER NOT NULL DEFAULT 0, UNIQUE (user_id, name));"
    "CREATE TABLE key_packages ("
    " id INTEGER PRIMARY KEY, device_id INTEGER NOT NULL REFERENCES devices(id),"
    " last_resort INTEGER NOT NULL, data BLOB NOT NULL);"
    "CREATE INDEX key_packages_by_device ON key_packages (device_id, last_resort, id);"
    "CREATE TABLE groups ("
    " id INTEGER PRIMARY KEY, gid BLOB NOT NULL UNIQUE, epoch INTEGER NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE members ("
    " group_id INTEGER NOT NULL REFERENCES groups(id),"
    " device_id INTEGER NOT NULL REFERENCES devices(id),"
    " PRIMARY KEY (group_id, device_id)) WITHOUT ROWID;"
    /* AUTOINCREMENT: a message id is a queue sequence number and must
     * never be reused, even after the newest message is deleted. */
    "CREATE TABLE messages ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, group_id INTEGER NOT NULL,"
    " sender INTEGER NOT NULL, kind INTEGER NOT NULL, data BLOB NOT NULL,"
    " refs INTEGER NOT NULL);"
    "CREATE TABLE queue ("
    " device_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " PRIMARY KEY (device_id, seq)) WITHOUT ROWID;"
    "CREATE TRIGGER queue_unref AFTER DELETE ON queue BEGIN"
    " UPDATE messages SET refs = refs - 1 WHERE id = OLD.seq;"
    " DELETE FROM messages WHERE id = OLD.seq AND refs <= 0;"
    " END;"
    "CREATE TABLE sent ("
    " device_id INTEGER NOT NULL, client_msg_id BLOB NOT NULL, epoch INTEGER NOT NULL,"
    " created INTEGER NOT NULL, PRIMARY KEY (device_id, client_msg_id)) WITHOUT ROWID;",
    /* 2: blob metadata and per-user quota accounting. */
    "CREATE TABLE blobs ("
    " id BLOB NOT NULL, user_id INTEGER NOT NULL REFERENCES users(id),"
    " size INTEGER NOT NULL, created INTEGER NOT NULL,"
    " PRIMARY KEY (id, user_id)) WITHOUT ROWID;"
    "ALTER TABLE users ADD COLUMN blob_bytes INTEGER NOT NULL DEFAULT 0;",
    /* 3: message ids from a counter the store keeps (AUTOINCREMENT wrote
     * sqlite_sequence on every insert), reference counts kept by the store
     * (the per-row trigger ran two statements per deleted queue entry),
     * and idempotency records indexed by age so they can be pruned. The
     * counter starts above every id ever given, deleted ones included. */
    "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO counters VALUES ('message', max("
    " coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),"
    " coalesce((SELECT max(id) FROM messages), 0)));"
    "CREATE TABLE messages_v3 ("
    " id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL, sender INTEGER NOT NULL,"
    " kind INTEGER NOT NULL, data BLOB NOT NULL, refs INTEGER NOT NULL);"
    "INSERT INTO messages_v3 (id, group_id, sender, kind, data, refs)"
    " SELECT id, group_id, sender, kind, data, refs FROM messages;"
    "DROP TRIGGER queue_unref;"
    "DROP TABLE messages;"
    "ALTER TABLE messages_v3 RENAME TO messages;"
    "CREATE INDEX sent_by_age ON sent (created);",
    /* 4: the MLS leaf of each member (NULL in groups created before this
     * step: the server cannot map their leaves), and the PublicMessage
     * proposals relayed in each group's current epoch, by ProposalRef. */
    "ALTER TABLE members ADD COLUMN leaf INTEGER;"
    "CREATE TABLE proposals ("
    " group_id INTEGER NOT NULL REFERENCES groups(id), epoch INTEGER NOT NULL,"
    " ref BLOB NOT NULL, sender INTEGER NOT NULL REFERENCES devices(id),"
    " data BLOB NOT NULL,"
    " PRIMARY KEY (group_id, epoch, ref)) WITHOUT ROWID;",
    /* 5: idempotency records keyed by the client's id first. Clients
     * start their ids with a millisecond time (docs/protocol.md), so new
     * records land at the right edge of the b-tree, in pages the batch
     * has already dirtied, instead of one random page each. The age index
     * keeps its column; it now covers the key it points to. */
    "CREATE TABLE sent_v5 ("
    " client_msg_id BLOB NOT NULL, device_id INTEGER NOT NULL, epoch INTEGER NOT NULL,"
    " created INTEGER NOT NULL, PRIMARY KEY (client_msg_id, device_id)) WITHOUT ROWID;"
    "INSERT INTO sent_v5 (client_msg_id, device_id, epoch, created)"
    " SELECT client_msg_id, device_id, epoch, created FROM sent ORDER BY client_msg_id, device_id;"
    "DROP TABLE sent;"
    "ALTER TABLE sent_v5 RENAME TO sent;"
    "CREATE INDEX sent_by_age ON sent (created);",
    /* 6: blob records by age, for retention (blob_ttl). */
    "CREATE INDEX blobs_by_age ON blobs (created);",
    /* 7: a user's unused invites, cancelled when the user is revoked
     * (`valised admin revoke USER@DOMAIN`) without scanning them all. */
    "CREATE INDEX invites_unused_by_user ON invites (user) WHERE used = 0;",
    /* 8: invites by expiry, so expired ones (used or not) can be pruned. */
    "CREATE INDEX invites_by_expiry ON invites (expires);",
    /* 9: an idempotency record whose id starts with about the time it
     * came (timed: SENT_PAST_MS) is pruned by the range of its key, so
     * it needs neither a time of its own nor an age index, which cost
     * about a sixth of the pages a paced message writes. The others move
     * to sent_odd, kept by age as before. Rows already stored are tested
     * against their own `created`. */
    "CREATE TABLE sent_odd ("
    " client_msg_id BLOB NOT NULL, device_id INTEGER NOT NULL, epoch INTEGER NOT NULL,"
    " created INTEGER NOT NULL, PRIMARY KEY (client_msg_id, device_id)) WITHOUT ROWID;"
    "INSERT INTO sent_odd (client_msg_id, device_id, epoch, created)"
    " SELECT client_msg_id, device_id, epoch, created FROM sent"
    " WHERE NOT " SENT_TIMED_SQL ";"
    "DELETE FROM sent WHERE NOT " SENT_TIMED_SQL ";"
    "DROP INDEX sent_by_age;"
    "ALTER TABLE sent DROP COLUMN created;"
    "CREATE INDEX sent_odd_by_age ON sent_odd (created);",
};
#define LATEST ((unsigned)(sizeof migrations / sizeof migrations[0]))

#define DEVICE_COLS                                                                                \
	"d.id, d.user_id, u.address, d.name, d.suite, d.sig_pub, d.created, d.revoked, "           \
	"d.acked_seq FROM devices d JOIN users u ON u.id = d.user_id "

enum stmt {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_INVITE_INSERT,
	S_INVITE_GET,
	S_INVITE_USE,
	S_INVITE_CANCEL,
	S_INVITE_PRUNE,
	S_USER_GET,
	S_USER_LIST,
	S_USER_INSERT,
	S_DEVICE_COUNT_ACTIVE,
	S_DEVICE_EXISTS,
	S_DEVICE_INSERT,
	S_DEVICE_GET,
	S_DEVICE_GET_ID,
	S_DEVICE_LIST,
	S_DEVICE_REVOKE,
	S_KP_DELETE_DEVICE,
	S_QUEUE_DELETE_DEVICE,
	S_KP_DELETE_LR,
	S_KP_INSERT,
	S_KP_COUNT,
	S_KP_PICK,
	S_KP_DELETE,
	S_GROUP_INSERT,
	S_GROUP_GET,
	S_GROUP_SET_EPOCH,
	S_MEMBER_INSERT,
	S_MEMBER_DELETE,
	S_MEMBER_IS,
	S_MEMBER_LIST,
	S_ROSTER_BY_GID,
	S_MSG_INSERT,
	S_MSG_UNREF,
	S_MSG_DROP,
	S_QUEUE_INSERT,
	S_QUEUE_FETCH,
	S_QUEUE_ACK,
	S_QUEUE_SEQS,
	S_QUEUE_DEVICE_SEQS,
	S_DEVICE_SET_ACK,
	S_QUEUE_COUNT,
	S_SENT_GET,
	S_SENT_INSERT,
	S_SENT_ODD_GET,
	S_SENT_ODD_INSERT,
	S_BLOB_USAGE,
	S_BLOB_GET,
	S_BLOB_INSERT,
	S_BLOB_ADD_USAGE,
	S_BLOB_EXISTS,
	S_BLOB_TOUCH,
	S_BLOB_OLDEST,
	S_BLOB_DELETE,
	S_SENT_PRUNE,
	S_SENT_DELETE,
	S_SENT_ODD_PRUNE,
	S_SENT_ODD_DELETE,
	S_COUNTER_GET,
	S_COUNTER_SET,
	S_MEMBER_LEAVES,
	S_PROPOSAL_COUNT,
	S_PROPOSAL_INSERT,
	S_PROPOSAL_GET,
	S_PROPOSAL_PRUNE,
	S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT op",
    [S_RELEASE] = "RELEASE op",
    [S_ROLLBACK_TO] = "ROLLBACK TO op",
    [S_INVITE_INSERT] = "INSERT INTO invites (key, user, expires, created) VALUES (?, ?, ?, ?)",
    [S_INVITE_GET] = "SELECT user, expires, used FROM invites WHERE key = ?",
    [S_INVITE_USE] = "UPDATE invites SET used = 1 WHERE key = ?",
    [S_INVITE_CANCEL] = "DELETE FROM invites WHERE user = ? AND used = 0",
    [S_INVITE_PRUNE] = "DELETE FROM invites WHERE key IN"
                       " (SELECT key FROM invites WHERE expires < ? ORDER BY expires LIMIT ?)",
    [S_USER_GET] = "SELECT id FROM users WHERE address = ?",
    [S_USER_LIST] = "SELECT u.address, u.created,"
                    " (SELECT count(*) FROM devices d WHERE d.user_id = u.id AND d.revoked = 0),"
                    " (SELECT count(*) FROM devices d WHERE d.user_id = u.id AND d.revoked != 0),"
                    " u.blob_bytes FROM users u ORDER BY u.address",
    [S_USER_INSERT] = "INSERT INTO users (address, created) VALUES (?, ?)",
    [S_DEVICE_COUNT_ACTIVE] = "SELECT count(*) FROM devices WHERE user_id = ? AND revoked = 0",
    [S_DEVICE_EXISTS] = "SELECT 1 FROM devices WHERE user_id = ? AND name = ?",
    [S_DEVICE_INSERT] = "INSERT INTO devices (user_id, name, suite, sig_pub, created)"
                        " VALUES (?, ?, ?, ?, ?)",
    [S_DEVICE_GET] = "SELECT " DEVICE_COLS "WHERE u.address = ? AND d.name = ?",
    [S_DEVICE_GET_ID] = "SELECT " DEVICE_COLS "WHERE d.id = ?",
    [S_DEVICE_LIST] = "SELECT " DEVICE_COLS "WHERE d.user_id = ? ORDER BY d.id",
    [S_DEVICE_REVOKE] = "UPDATE devices SET revoked = 1 WHERE id = ?",
    [S_KP_DELETE_DEVICE] = "DELETE FROM key_packages WHERE device_id = ?",
    [S_QUEUE_DELETE_DEVICE] = "DELETE FROM queue WHERE device_id = ?",
    [S_KP_DELETE_LR] = "DELETE FROM key_packages WHERE device_id = ? AND last_resort = 1",
    [S_KP_INSERT] = "INSERT INTO key_packages (device_id, last_resort, data) VALUES (?, ?, ?)",
    [S_KP_COUNT] = "SELECT count(*) FROM key_packages WHERE device_id = ? AND last_resort = 0",
    [S_KP_PICK] = "SELECT id, last_resort, data FROM key_packages WHERE device_id = ?"
                  " ORDER BY last_resort, id LIMIT 1",
    [S_KP_DELETE] = "DELETE FROM key_packages WHERE id = ?",
    [S_GROUP_INSERT] = "INSERT INTO groups (gid, epoch, created) VALUES (?, 0, ?)",
    [S_GROUP_GET] = "SELECT id, epoch FROM groups WHERE gid = ?",
    [S_GROUP_SET_EPOCH] = "UPDATE groups SET epoch = ? WHERE id = ?",
    [S_MEMBER_INSERT] = "INSERT INTO members (group_id, device_id, leaf) VALUES (?, ?, ?)",
    [S_MEMBER_DELETE] = "DELETE FROM members WHERE group_id = ? AND device_id = ?",
    [S_MEMBER_IS] = "SELECT 1 FROM members WHERE group_id = ? AND device_id = ?",
    [S_MEMBER_LIST] = "SELECT m.device_id FROM members m JOIN devices d ON d.id = m.device_id"
                      " WHERE m.group_id = ? AND d.revoked = 0 ORDER BY m.device_id",
    [S_ROSTER_BY_GID] = "SELECT g.id, m.device_id, g.epoch FROM groups g"
                        " JOIN members m ON m.group_id = g.id"
                        " JOIN devices d ON d.id = m.device_id"
                        " WHERE g.gid = ? AND d.revoked = 0 ORDER BY m.device_id",
    [S_MSG_INSERT] = "INSERT INTO messages (id, group_id, sender, kind, data, refs)"
                     " VALUES (?, ?, ?, ?, ?, ?)",
    [S_MSG_UNREF] = "UPDATE messages SET refs = refs - ?2 WHERE id = ?1",
    [S_MSG_DROP] = "DELETE FROM messages WHERE id = ?1 AND refs <= ?2",
    [S_QUEUE_INSERT] = "INSERT INTO queue (device_id, seq) VALUES (?, ?)",
    [S_QUEUE_FETCH] = "SELECT q.seq, m.kind, g.gid, u.address, d.name, m.data FROM queue q"
                      " JOIN messages m ON m.id = q.seq JOIN groups g ON g.id = m.group_id"
                      " JOIN devices d ON d.id = m.sender JOIN users u ON u.id = d.user_id"
                      " WHERE q.device_id = ? AND q.seq > ? ORDER BY q.seq LIMIT ?",
    /* Entries are read, then deleted: with RETURNING, SQLite opened and
     * closed a temporary b-tree on every execution (16 % of the store
     * thread in bench_store). */
    [S_QUEUE_SEQS] = "SELECT seq FROM queue WHERE device_id = ? AND seq <= ?",
    [S_QUEUE_DEVICE_SEQS] = "SELECT seq FROM queue WHERE device_id = ?",
    [S_QUEUE_ACK] = "DELETE FROM queue WHERE device_id = ? AND seq <= ?",
    [S_DEVICE_SET_ACK] = "UPDATE devices SET acked_seq = max(acked_seq, ?) WHERE id = ?",
    [S_QUEUE_COUNT] = "SELECT count(*) FROM queue WHERE device_id = ?",
    [S_SENT_GET] = "SELECT epoch FROM sent WHERE client_msg_id = ?2 AND device_id = ?1",
    [S_BLOB_USAGE] = "SELECT blob_bytes FROM users WHERE id = ?",
    [S_BLOB_GET] = "SELECT 1 FROM blobs WHERE id = ? AND user_id = ?",
    [S_BLOB_INSERT] = "INSERT INTO blobs (id, user_id, size, created) VALUES (?, ?, ?, ?)",
    [S_BLOB_ADD_USAGE] = "UPDATE users SET blob_bytes = blob_bytes + ? WHERE id = ?",
    [S_BLOB_EXISTS] = "SELECT 1 FROM blobs WHERE id = ? LIMIT 1",
    [S_BLOB_TOUCH] = "UPDATE blobs SET created = max(created, ?) WHERE id = ? AND user_id = ?",
    [S_BLOB_OLDEST] = "SELECT id, user_id, size FROM blobs WHERE created < ?"
                      " ORDER BY created LIMIT ?",
    [S_BLOB_DELETE] = "DELETE FROM blobs WHERE id = ? AND user_id = ?",
    [S_SENT_INSERT] = "INSERT INTO sent (device_id, client_msg_id, epoch)"
                      " VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    [S_SENT_ODD_GET] = "SELECT epoch FROM sent_odd WHERE client_msg_id = ?2 AND device_id = ?1",
    [S_SENT_ODD_INSERT] = "INSERT INTO sent_odd (device_id, client_msg_id, epoch, created)"
                          " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
    [S_SENT_DELETE] = "DELETE FROM sent WHERE client_msg_id = ?2 AND device_id = ?1",
    [S_SENT_ODD_DELETE] = "DELETE FROM sent_odd WHERE client_msg_id = ?2 AND device_id = ?1",
    [S_COUNTER_GET] = "SELECT max(coalesce((SELECT value FROM counters WHERE name = 'message'),"
                      " 0), coalesce((SELECT max(id) FROM messages), 0))",
    [S_COUNTER_SET] = "UPDATE counters SET value = ? WHERE name = 'message'",
    /* Timed records below a key bound (SENT_PAST_MS): the table's left
     * edge. */
    [S_SENT_PRUNE] = "DELETE FROM sent WHERE (client_msg_id, device_id) IN"
                     " (SELECT client_msg_id, device_id FROM sent WHERE client_msg_id < ?"
                     " ORDER BY client_msg_id LIMIT ?)",
    /* Walks sent_odd_by_age, whose entries carry the primary key: the
     * oldest records, then one key lookup each. */
    [S_SENT_ODD_PRUNE] = "DELETE FROM sent_odd WHERE (client_msg_id, device_id) IN"
                         " (SELECT client_msg_id, device_id FROM sent_odd WHERE created < ?"
                         " ORDER BY created LIMIT ?)",
    [S_MEMBER_LEAVES] = "SELECT device_id, leaf FROM members WHERE group_id = ?",
    [S_PROPOSAL_COUNT] = "SELECT count(*) FROM proposals WHERE group_id = ? AND epoch = ?",
    [S_PROPOSAL_INSERT] = "INSERT OR IGNORE INTO proposals (group_id, epoch, ref, sender, data)"
                          " VALUES (?, ?, ?, ?, ?)",
    [S_PROPOSAL_GET] = "SELECT p.sender, p.data FROM proposals p JOIN groups g ON g.id = p.group_id"
                       " WHERE g.gid = ? AND p.epoch = ? AND p.ref = ?",
    [S_PROPOSAL_PRUNE] = "DELETE FROM proposals WHERE group_id = ? AND epoch <= ?",
};

/* A cached group (gid -> id, epoch, roster): SEND reads it instead of
 * three tables. Members are the non-revoked ones, ascending. */
struct gc_entry {
	struct gc_entry *next; /* bucket chain */
	int64_t id;
	uint64_t epoch;
	size_t gid_len;
	uint8_t gid[VL_STORE_GROUP_ID_MAX];
	size_t n;
	int64_t members[];
};

/* An ACK recorded in the open batch, applied before the batch commits. */
struct pending_ack {
	int64_t device;
	uint64_t ack_seq; /* highest acknowledged (devices.acked_seq) */
	int64_t del_seq;  /* entries up to here go */
	bool used;
};

struct sq {
	struct vl_store base; /* first: store.c sees only this */
	sqlite3 *db;
	/* Our own read-only descriptor on the -wal file while durability is
	 * deferred (sq_sync_defer), else -1. */
	int wal_fd;
	/* The checkpointer (see "checkpoints"): a thread with a connection of
	 * its own, running while durability is deferred. ck_mu guards
	 * ck_stop, ck_wake, ck_frames (the WAL's frames when it was last
	 * woken) and the counts of its checkpoints and their time. */
	pthread_t ck_thread;
	bool ck_running, ck_stop, ck_wake;
	pthread_mutex_t ck_mu;
	pthread_cond_t ck_cv;
	sqlite3 *ck_db;
	int ck_db_fd; /* the database file, to start its writeback */
	unsigned ck_frames;
	uint64_t ck_rounds, ck_ns;
	sqlite3_stmt *s[S_COUNT];
	unsigned version;
	bool in_batch;
	/* A write of the batch failed where no savepoint could undo it alone:
	 * every further operation fails and the batch can only roll back. */
	bool broken;
	/* Message ids (store.h, 5): next_msg is the next to give; msg_saved
	 * the ceiling in counters.message in the database, msg_saving the one
	 * the open transaction writes. */
	int64_t next_msg, msg_saved, msg_saving;
	/* sqlite3_total_changes64 when the open transaction began. */
	int64_t tx_changes;
	/* Group cache (GC_*), valid for the open transaction's view. */
	struct gc_entry **gc;
	size_t gc_n, gc_ids;
	/* ACKs of the open batch by device (open addressing), and the queue
	 * entries deleted whose messages lose a reference. */
	struct pending_ack *acks;
	size_t acks_cap, acks_n;
	int64_t *unref;
	size_t unref_n, unref_cap;
	/* Roster rows while a group is loaded into the cache. */
	int64_t *ids;
	size_t ids_cap;
};

static struct sq *SQ(struct vl_store *st)
{
	return (struct sq *)st;
}

/* Failures of the database's files (a full disk, an I/O error...),
 * process-wide: a count and SQLite's words for the last one, for
 * sq_stats. Not counted: what the store expects and handles itself (a
 * taken key, an empty result, a busy lock it retries). */
static pthread_mutex_t fault_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t fault_count;
static char fault_last[VL_STORE_ERROR_MAX];

static void note_fault(sqlite3 *db, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_NOMEM:
	case SQLITE_PROTOCOL:
		break;
	default:
		return;
	}
	pthread_mutex_lock(&fault_mu);
	fault_count++;
	snprintf(fault_last, sizeof fault_last, "%s (sqlite %d)", sqlite3_errstr(rc),
	         db ? sqlite3_extended_errcode(db) : rc);
	pthread_mutex_unlock(&fault_mu);
}

/* Binds, steps once and resets a statement that returns no row. */
static int run(struct sq *q, enum stmt which)
{
	sqlite3_stmt *s = q->s[which];
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		note_fault(q->db, rc);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return VL_OK;
	if (rc == SQLITE_CONSTRAINT)
		return VL_ERR_EXISTS;
	return VL_ERR_STORE;
}

static void done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Steps a query: VL_OK with a row, VL_ERR_NOT_FOUND at the end, else
 * VL_ERR_STORE. The caller resets with done(). */
static int step_row(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		return VL_OK;
	if (rc == SQLITE_DONE)
		return VL_ERR_NOT_FOUND;
	note_fault(sqlite3_db_handle(s), rc);
	return VL_ERR_STORE;
}

/* A count or a bound given unsigned, capped at the largest integer SQLite
 * holds. */
static void bind_u64(sqlite3_stmt *s, int i, uint64_t v)
{
	sqlite3_bind_int64(s, i, (sqlite3_int64)(v > INT64_MAX ? INT64_MAX : v));
}

static void bind_blob(sqlite3_stmt *s, int i, const void *p, size_t n)
{
	/* A zero-length blob must not bind as NULL. */
	sqlite3_bind_blob64(s, i, n ? p : "", n, SQLITE_STATIC);
}

static void bind_text(sqlite3_stmt *s, int i, const char *t)
{
	sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
}

/* --- message ids ------------------------------------------------------------ */

/* Queue sequence numbers are message ids and must never be reused, even
 * after the newest message is deleted and the server restarts (store.h,
 * 5). The counter lives in memory; counters.message holds a ceiling,
 * written by the transaction whose ids pass the last one, COUNTER_AHEAD
 * ids beyond them. So the database never holds an id above the recorded
 * value, and one UPDATE serves about a million messages (at 25,000 a
 * second it was a page in each commit's sixteen). A restart starts above
 * the ceiling: the ids below it never given are a gap, and gaps are
 * allowed. */
#define COUNTER_AHEAD ((int64_t)1 << 20)

static int counter_load(struct sq *q, uint64_t floor)
{
	sqlite3_stmt *s = q->s[S_COUNTER_GET];
	int rc = step_row(s);
	if (rc == VL_OK) {
		q->msg_saved = q->msg_saving = sqlite3_column_int64(s, 0);
		q->next_msg = q->msg_saved + 1;
		/* Written with the first id given (counter_flush). */
		if (floor < INT64_MAX && (int64_t)floor >= q->next_msg)
			q->next_msg = (int64_t)floor + 1;
	}
	done(s);
	return rc == VL_OK ? VL_OK : VL_ERR_STORE;
}

/* Covers the ids given in this transaction; called just before COMMIT. */
static int counter_flush(struct sq *q)
{
	int64_t used = q->next_msg - 1;
	if (used <= q->msg_saved)
		return VL_OK;
	int64_t ceiling = used > INT64_MAX - COUNTER_AHEAD ? INT64_MAX : used + COUNTER_AHEAD;
	sqlite3_bind_int64(q->s[S_COUNTER_SET], 1, ceiling);
	int rc = run(q, S_COUNTER_SET);
	if (rc == VL_OK)
		q->msg_saving = ceiling;
	return rc == VL_OK ? VL_OK : VL_ERR_STORE;
}

/* --- group cache ---------------------------------------------------------------- */

/*
 * The store thread is the only writer of groups, members and devices, so
 * the cache only has to follow this handle's own writes: commit_apply
 * drops its group, revoking a device and rolling back a batch drop every
 * group. An entry loaded inside a batch reflects that batch's writes; a
 * rollback of the batch therefore clears the cache too. Bounded by entry
 * count and member ids held; when full it is emptied.
 */
#define GC_BUCKETS     4096u
#define GC_ENTRIES_MAX 65536u
#define GC_IDS_MAX     (1u << 22)
#define GC_GROUP_MAX   (1u << 20) /* members of one group (a SEND to a bigger one fails) */

static size_t gc_bucket(const uint8_t *gid, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ gid[i]) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29)) & (GC_BUCKETS - 1);
}

static void gc_clear(struct sq *q)
{
	if (!q->gc)
		return;
	for (size_t i = 0; i < GC_BUCKETS; i++) {
		struct gc_entry *e = q->gc[i];
		while (e) {
			struct gc_entry *next = e->next;
			free(e);
			e = next;
		}
		q->gc[i] = NULL;
	}
	q->gc_n = q->gc_ids = 0;
}

static void gc_drop(struct sq *q, const uint8_t *gid, size_t len)
{
	if (!q->gc)
		return;
	for (struct gc_entry **pp = &q->gc[gc_bucket(gid, len)]; *pp; pp = &(*pp)->next) {
		struct gc_entry *e = *pp;
		if (e->gid_len == len && memcmp(e->gid, gid, len) == 0) {
			*pp = e->next;
			q->gc_n--;
			q->gc_ids -= e->n;
			free(e);
			return;
		}
	}
}

static int group_get(struct sq *q, const uint8_t *gid, size_t gid_len, int64_t *id,
                     uint64_t *epoch);

/* The group's cache entry, loaded if absent. VL_ERR_NOT_FOUND if there is
 * no such group. */
static int gc_get(struct sq *q, const uint8_t *gid, size_t len, const struct gc_entry **out)
{
	if (len > VL_STORE_GROUP_ID_MAX)
		return VL_ERR_NOT_FOUND; /* no stored group has such an id */
	if (!q->gc && !(q->gc = calloc(GC_BUCKETS, sizeof *q->gc)))
		return VL_ERR_NOMEM;
	size_t b = gc_bucket(gid, len);
	for (struct gc_entry *e = q->gc[b]; e; e = e->next)
		if (e->gid_len == len && memcmp(e->gid, gid, len) == 0) {
			*out = e;
			return VL_OK;
		}
	/* Group, epoch and non-revoked roster in one query. */
	int64_t group = 0;
	uint64_t epoch = 0;
	size_t n = 0;
	int rc;
	sqlite3_stmt *s = q->s[S_ROSTER_BY_GID];
	bind_blob(s, 1, gid, len);
	while ((rc = step_row(s)) == VL_OK) {
		if (n == q->ids_cap) {
			size_t cap = q->ids_cap ? 2 * q->ids_cap : 64;
			int64_t *more =
			    cap <= GC_GROUP_MAX ? realloc(q->ids, cap * sizeof *more) : NULL;
			if (!more) {
				rc = cap <= GC_GROUP_MAX ? VL_ERR_NOMEM : VL_ERR_LIMIT;
				break;
			}
			q->ids = more;
			q->ids_cap = cap;
		}
		group = sqlite3_column_int64(s, 0);
		q->ids[n++] = sqlite3_column_int64(s, 1);
		epoch = (uint64_t)sqlite3_column_int64(s, 2);
	}
	done(s);
	if (rc != VL_ERR_NOT_FOUND)
		return rc;
	if (n == 0 && (rc = group_get(q, gid, len, &group, &epoch)))
		return rc; /* no group (or a group whose members are all gone) */
	if (q->gc_n >= GC_ENTRIES_MAX || q->gc_ids + n > GC_IDS_MAX)
		gc_clear(q);
	struct gc_entry *e = malloc(sizeof *e + n * sizeof e->members[0]);
	if (!e)
		return VL_ERR_NOMEM;
	e->id = group;
	e->epoch = epoch;
	e->gid_len = len;
	memcpy(e->gid, gid, len);
	e->n = n;
	if (n)
		memcpy(e->members, q->ids, n * sizeof e->members[0]);
	e->next = q->gc[b];
	q->gc[b] = e;
	q->gc_n++;
	q->gc_ids += n;
	*out = e;
	return VL_OK;
}

static bool gc_is_member(const struct gc_entry *e, int64_t device)
{
	size_t lo = 0, hi = e->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (e->members[mid] == device)
			return true;
		if (e->members[mid] < device)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* --- reference counts ------------------------------------------------------- */

/* Every deleted queue entry takes one reference from its message; the
 * message goes with its last one. Deleted seqs are collected, then applied
 * once per distinct message (a fan-out acknowledged by many members in one
 * batch costs one statement, not one per member). */
#define UNREF_MAX (1u << 24) /* queue entries one batch may delete */

static int unref_collect(struct sq *q, sqlite3_stmt *s)
{
	int rc;
	while ((rc = step_row(s)) == VL_OK) {
		if (q->unref_n == q->unref_cap) {
			size_t cap = q->unref_cap ? 2 * q->unref_cap : 256;
			int64_t *more =
			    cap <= UNREF_MAX ? realloc(q->unref, cap * sizeof *more) : NULL;
			if (!more) {
				rc = cap <= UNREF_MAX ? VL_ERR_NOMEM : VL_ERR_LIMIT;
				break;
			}
			q->unref = more;
			q->unref_cap = cap;
		}
		q->unref[q->unref_n++] = sqlite3_column_int64(s, 0);
	}
	done(s);
	return rc == VL_ERR_NOT_FOUND ? VL_OK : rc;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int unref_apply(struct sq *q)
{
	int rc = VL_OK;
	if (q->unref_n > 1)
		qsort(q->unref, q->unref_n, sizeof *q->unref, cmp_i64);
	for (size_t i = 0; i < q->unref_n && rc == VL_OK;) {
		size_t j = i + 1;
		while (j < q->unref_n && q->unref[j] == q->unref[i])
			j++;
		sqlite3_int64 id = q->unref[i], k = (sqlite3_int64)(j - i);
		/* Most messages lose their last reference here (1:1). */
		sqlite3_bind_int64(q->s[S_MSG_DROP], 1, id);
		sqlite3_bind_int64(q->s[S_MSG_DROP], 2, k);
		rc = run(q, S_MSG_DROP);
		if (rc == VL_OK && sqlite3_changes(q->db) == 0) {
			sqlite3_bind_int64(q->s[S_MSG_UNREF], 1, id);
			sqlite3_bind_int64(q->s[S_MSG_UNREF], 2, k);
			rc = run(q, S_MSG_UNREF);
		}
		i = j;
	}
	q->unref_n = 0;
	return rc == VL_OK ? VL_OK : VL_ERR_STORE;
}

/* --- acknowledgements --------------------------------------------------------- */

/* Inside a batch an ACK is recorded, not run: several ACKs of a device in
 * one batch become one DELETE (only the highest matters), applied before
 * the batch commits or before any other operation that could read the
 * queues. An entry created after the ACK (a higher id) is never taken by
 * it: the deletion bound is clamped to the ids given so far. */
#define ACKS_MAX (1u << 20) /* devices with an ACK in one batch */
#define ACKS_RUN 128        /* recorded ACKs applied before the commit */

static struct pending_ack *ack_slot(struct sq *q, int64_t device)
{
	size_t mask = q->acks_cap - 1;
	size_t i = (size_t)(((uint64_t)device * 0x9e3779b97f4a7c15ull) >> 17) & mask;
	while (q->acks[i].used && q->acks[i].device != device)
		i = (i + 1) & mask;
	return &q->acks[i];
}

static int ack_flush(struct sq *q);

static int ack_record(struct sq *q, int64_t device, uint64_t seq)
{
	/* Kept at most half full. */
	if (2 * (q->acks_n + 1) > q->acks_cap) {
		size_t cap = q->acks_cap ? 2 * q->acks_cap : 256;
		if (cap > ACKS_MAX) {
			int rc = ack_flush(q);
			if (rc)
				return rc;
			cap = q->acks_cap;
		} else {
			struct pending_ack *old = q->acks, *grown = calloc(cap, sizeof *grown);
			if (!grown)
				return VL_ERR_NOMEM;
			size_t old_cap = q->acks_cap;
			q->acks = grown;
			q->acks_cap = cap;
			for (size_t i = 0; i < old_cap; i++)
				if (old[i].used)
					*ack_slot(q, old[i].device) = old[i];
			free(old);
		}
	}
	int64_t bound = seq > (uint64_t)(q->next_msg - 1) ? q->next_msg - 1 : (int64_t)seq;
	struct pending_ack *a = ack_slot(q, device);
	if (!a->used) {
		*a = (struct pending_ack){device, seq, bound, true};
		q->acks_n++;
		return VL_OK;
	}
	if (seq > a->ack_seq)
		a->ack_seq = seq;
	if (bound > a->del_seq)
		a->del_seq = bound;
	return VL_OK;
}

static int ack_flush(struct sq *q)
{
	int rc = VL_OK;
	for (size_t i = 0; i < q->acks_cap && q->acks_n && rc == VL_OK; i++) {
		struct pending_ack *a = &q->acks[i];
		if (!a->used)
			continue;
		size_t before = q->unref_n;
		sqlite3_stmt *s = q->s[S_QUEUE_SEQS];
		sqlite3_bind_int64(s, 1, a->device);
		sqlite3_bind_int64(s, 2, a->del_seq);
		rc = unref_collect(q, s);
		if (rc == VL_OK && q->unref_n > before) {
			sqlite3_bind_int64(q->s[S_QUEUE_ACK], 1, a->device);
			sqlite3_bind_int64(q->s[S_QUEUE_ACK], 2, a->del_seq);
			rc = run(q, S_QUEUE_ACK);
		}
		if (rc == VL_OK) {
			bind_u64(q->s[S_DEVICE_SET_ACK], 1, a->ack_seq);
			sqlite3_bind_int64(q->s[S_DEVICE_SET_ACK], 2, a->device);
			rc = run(q, S_DEVICE_SET_ACK);
		}
		a->used = false;
		q->acks_n--;
	}
	if (rc == VL_OK)
		rc = unref_apply(q);
	q->unref_n = 0;
	if (q->acks_n) {
		memset(q->acks, 0, q->acks_cap * sizeof *q->acks);
		q->acks_n = 0;
	}
	return rc == VL_OK ? VL_OK : VL_ERR_STORE;
}

/* --- transactions ---------------------------------------------------------- */

/* Every operation starts here: refuses a store below the latest schema
 * (migration tests) and a broken batch; applies the batch's recorded ACKs
 * unless the operation is one that cannot observe them (hot: SEND, ACK). */
static int op_ready(struct sq *q, bool hot)
{
	if (q->version != LATEST)
		return VL_ERR_STATE;
	if (q->broken)
		return VL_ERR_STORE;
	if (!hot && q->acks_n && ack_flush(q) != VL_OK) {
		q->broken = true;
		return VL_ERR_STORE;
	}
	return VL_OK;
}

static int op_begin(struct sq *q)
{
	q->base.stats.operations++;
	if (!q->in_batch)
		q->tx_changes = sqlite3_total_changes64(q->db);
	return run(q, q->in_batch ? S_SAVEPOINT : S_BEGIN);
}

/* Commits the transaction of an operation or a batch: pending ACKs and
 * the message counter first, in the same transaction. The counter only
 * where the transaction wrote: one that changed nothing holds no new id,
 * and stays read-only, so it commits even on a full disk (where a failed
 * SEND has taken ids the counter does not hold yet). */
static int tx_commit(struct sq *q)
{
	if (q->broken)
		return VL_ERR_STORE;
	int rc = q->acks_n ? ack_flush(q) : VL_OK;
	if (rc == VL_OK && sqlite3_total_changes64(q->db) != q->tx_changes)
		rc = counter_flush(q);
	if (rc == VL_OK)
		rc = run(q, S_COMMIT) == VL_OK ? VL_OK : VL_ERR_STORE;
	if (rc == VL_OK) {
		q->msg_saved = q->msg_saving;
		q->base.stats.commits++;
		int cur = 0, hi = 0;
		if (sqlite3_db_status(q->db, SQLITE_DBSTATUS_CACHE_WRITE, &cur, &hi, 0) ==
		    SQLITE_OK)
			q->base.stats.pages_written = (uint64_t)(unsigned)cur;
	}
	return rc;
}

/* Undoes the open transaction. Every cached group may hold its writes. */
static void tx_rollback(struct sq *q)
{
	(void)run(q, S_ROLLBACK);
	q->msg_saving = q->msg_saved;
	q->broken = false;
	q->unref_n = 0;
	if (q->acks_n) {
		memset(q->acks, 0, q->acks_cap * sizeof *q->acks);
		q->acks_n = 0;
	}
	gc_clear(q);
}

/* Ends an operation: keeps its effect if rc is VL_OK, else undoes it. */
static int op_end(struct sq *q, int rc)
{
	if (q->in_batch) {
		if (rc != VL_OK && run(q, S_ROLLBACK_TO) != VL_OK)
			rc = VL_ERR_STORE;
		if (run(q, S_RELEASE) != VL_OK && rc == VL_OK)
			rc = VL_ERR_STORE;
		return rc;
	}
	if (rc != VL_OK) {
		tx_rollback(q);
		return rc;
	}
	if (tx_commit(q) != VL_OK) {
		tx_rollback(q);
		return VL_ERR_STORE;
	}
	return VL_OK;
}

static int sq_batch_begin(struct vl_store *st)
{
	struct sq *q = SQ(st);
	if (q->in_batch)
		return VL_ERR_STATE;
	q->tx_changes = sqlite3_total_changes64(q->db);
	int rc = run(q, S_BEGIN);
	if (rc == VL_OK) {
		q->in_batch = true;
		q->broken = false;
	}
	return rc;
}

static int sq_batch_commit(struct vl_store *st)
{
	struct sq *q = SQ(st);
	if (!q->in_batch)
		return VL_ERR_STATE;
	int rc = tx_commit(q);
	if (rc != VL_OK)
		return rc; /* still in the batch: the caller rolls back */
	q->in_batch = false;
	return VL_OK;
}

static void sq_batch_rollback(struct vl_store *st)
{
	struct sq *q = SQ(st);
	if (!q->in_batch)
		return;
	tx_rollback(q);
	q->in_batch = false;
}

/* --- checkpoints ------------------------------------------------------------ */

/*
 * A checkpoint copies WAL frames into the database file, syncing the WAL
 * before and the database after: at 25,000 msg/s, run on the store thread
 * inside a commit, that was a stall of 10-16 ms every half second, which
 * every job arriving meanwhile waited out (docs/internals/store.md,
 * "Checkpoints on a thread of their own").
 *
 * So while durability is deferred (a database file: sq_sync_defer), a
 * thread of its own, the checkpointer (`vl-store-ckpt`), does them on a
 * connection of its own: the store thread's WAL hook wakes it every
 * CKPT_STEP frames, and it runs a PASSIVE checkpoint, which copies every
 * frame committed when it began while the store thread goes on
 * committing. SQLite starts the WAL over only when a transaction begins
 * with every frame copied; under load the store thread never stops
 * appending long enough for that, so once the WAL holds CKPT_BOUND frames
 * the store thread checkpoints itself inside a commit. Since the
 * checkpointer has left it at most about a step to copy, and has started
 * the writeback of what it copied (SQLite syncs the database only at the
 * WAL's end), that stall is short, and the next transaction starts the
 * WAL over. Without the checkpointer (a store whose durability
 * is not deferred) the store thread does every checkpoint, at WAL_BOUND.
 * A WAL hook replaces SQLite's autocheckpoint, hence these bounds.
 */
#define WAL_BOUND  8192u
#define CKPT_STEP  4096u
#define CKPT_BOUND 32768u

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct sq *q = arg;
	unsigned n = frames > 0 ? (unsigned)frames : 0;
	unsigned bound = WAL_BOUND;
	if (q->ck_running) {
		bound = CKPT_BOUND;
		pthread_mutex_lock(&q->ck_mu);
		if (n < q->ck_frames) /* the WAL started over */
			q->ck_frames = 0;
		if (n - q->ck_frames >= CKPT_STEP) {
			q->ck_frames = n;
			q->ck_wake = true;
			pthread_cond_signal(&q->ck_cv);
		}
		pthread_mutex_unlock(&q->ck_mu);
	}
	if (n >= bound) {
		int log = 0, copied = 0;
		/* A failure (or the checkpointer busy copying) leaves the
		 * frames in the WAL, where they are durable; the next commit
		 * tries again. */
		if (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &log, &copied) ==
		    SQLITE_OK)
			q->base.stats.commit_checkpoints++;
	}
	return SQLITE_OK;
}

static int exec_sql(sqlite3 *db, const char *sql);

static void *ck_main(void *arg)
{
	struct sq *q = arg;
	(void)prctl(PR_SET_NAME, "vl-store-ckpt", 0, 0, 0);
	pthread_mutex_lock(&q->ck_mu);
	while (!q->ck_stop) {
		if (!q->ck_wake) {
			pthread_cond_wait(&q->ck_cv, &q->ck_mu);
			continue;
		}
		q->ck_wake = false;
		pthread_mutex_unlock(&q->ck_mu);
		uint64_t t0 = vl_store_mono_ns();
		int log = 0, copied = 0;
		/* SQLITE_BUSY: the store thread is checkpointing itself. */
		int rc = sqlite3_wal_checkpoint_v2(q->ck_db, "main", SQLITE_CHECKPOINT_PASSIVE,
		                                   &log, &copied);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			note_fault(q->ck_db, rc);
		/* SQLite syncs the database only when a checkpoint reaches the
		 * WAL's end, which under load is the store thread's, at
		 * CKPT_BOUND: that sync would then write every page copied
		 * since. Writing them back now, without waiting and without a
		 * flush of the disk's cache, leaves it little to do. */
		if (rc == SQLITE_OK && copied > 0 && copied < log)
			(void)sync_file_range(q->ck_db_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		uint64_t t1 = vl_store_mono_ns();
		pthread_mutex_lock(&q->ck_mu);
		if (rc == SQLITE_OK) {
			q->ck_rounds++;
			q->ck_ns += t1 - t0;
		}
	}
	pthread_mutex_unlock(&q->ck_mu);
	return NULL;
}

/* Stops the checkpointer once its checkpoint in progress, if any, ends. */
static void ck_stop(struct sq *q)
{
	if (!q->ck_running)
		return;
	pthread_mutex_lock(&q->ck_mu);
	q->ck_stop = true;
	pthread_cond_signal(&q->ck_cv);
	pthread_mutex_unlock(&q->ck_mu);
	pthread_join(q->ck_thread, NULL);
	q->ck_running = false;
	sqlite3_close(q->ck_db);
	q->ck_db = NULL;
	close(q->ck_db_fd);
}

static int ck_start(struct sq *q, const char *path)
{
	/* Reading the journal mode opens the WAL for this connection; until
	 * then a checkpoint on it would find no WAL and do nothing. */
	q->ck_db_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (q->ck_db_fd < 0 ||
	    sqlite3_open_v2(path, &q->ck_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	        SQLITE_OK ||
	    exec_sql(q->ck_db, "PRAGMA journal_mode=WAL;") != VL_OK) {
		sqlite3_close(q->ck_db);
		q->ck_db = NULL;
		if (q->ck_db_fd >= 0)
			close(q->ck_db_fd);
		return VL_ERR_STORE;
	}
	q->ck_stop = q->ck_wake = false;
	q->ck_frames = 0;
	if (pthread_create(&q->ck_thread, NULL, ck_main, q) != 0) {
		sqlite3_close(q->ck_db);
		q->ck_db = NULL;
		close(q->ck_db_fd);
		return VL_ERR_NOMEM;
	}
	q->ck_running = true;
	return VL_OK;
}

/* --- deferred durability ------------------------------------------------- */

/*
 * With synchronous=NORMAL in WAL mode a COMMIT appends its frames to the
 * WAL without syncing it; SQLite still syncs the WAL before each
 * checkpoint copies from it (so no frame a checkpoint copies, and no frame
 * a WAL restart overwrites, is unsynced) and the database after it. What
 * stays unsynced is the tail of the WAL since the last sync: fdatasync on
 * any descriptor of the file flushes it on Linux, whichever descriptor
 * wrote the pages, so the executor's second thread can do it on its own
 * descriptor while the store thread runs the next batch on the
 * connection. Nothing here touches the connection: sq_sync is safe beside
 * it. The WAL file keeps its inode while the connection is open (it is
 * only deleted at the last close; no journal_size_limit is set).
 */
static int sq_sync_defer(struct vl_store *st, bool on)
{
	struct sq *q = SQ(st);
	if (q->in_batch)
		return VL_ERR_STATE;
	if (!on) {
		if (q->wal_fd < 0)
			return VL_OK;
		ck_stop(q);
		int rc = exec_sql(q->db, "PRAGMA synchronous=FULL;");
		close(q->wal_fd);
		q->wal_fd = -1;
		return rc;
	}
	if (q->wal_fd >= 0)
		return VL_OK;
	/* ":memory:" and temporary databases have no file name, and no WAL. */
	const char *db = sqlite3_db_filename(q->db, "main");
	if (!db || !*db)
		return VL_ERR_UNSUPPORTED;
	const char *wal = sqlite3_filename_wal(db);
	if (!wal || !*wal)
		return VL_ERR_UNSUPPORTED;
	/* The WAL exists once the connection has read the database in WAL
	 * mode, which open (migrations, counters) did. */
	int fd = open(wal, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return VL_ERR_STORE;
	if (exec_sql(q->db, "PRAGMA synchronous=NORMAL;") != VL_OK) {
		close(fd);
		return VL_ERR_STORE;
	}
	q->wal_fd = fd;
	/* Without it the store thread checkpoints by itself, as before. */
	(void)ck_start(q, db);
	return VL_OK;
}

static int sq_sync(struct vl_store *st)
{
	struct sq *q = SQ(st);
	if (q->wal_fd < 0)
		return VL_ERR_STATE;
	int rc;
	do
		rc = fdatasync(q->wal_fd);
	while (rc != 0 && errno == EINTR);
	return rc == 0 ? VL_OK : VL_ERR_STORE;
}

static void sq_stats(struct vl_store *st, struct vl_store_stats *out)
{
	struct sq *q = SQ(st);
	*out = q->base.stats;
	pthread_mutex_lock(&q->ck_mu);
	out->checkpoints = q->ck_rounds;
	out->checkpoint_ns = q->ck_ns;
	pthread_mutex_unlock(&q->ck_mu);
	pthread_mutex_lock(&fault_mu);
	out->faults = fault_count;
	memcpy(out->last_fault, fault_last, sizeof out->last_fault);
	pthread_mutex_unlock(&fault_mu);
}

/* --- open, migrate, free ------------------------------------------------ */

static int exec_sql(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		return VL_OK;
	note_fault(db, rc);
	return VL_ERR_STORE;
}

static int read_version(sqlite3 *db, unsigned *version)
{
	sqlite3_stmt *s;
	*version = 0;
	int rc = sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &s, NULL);
	if (rc != SQLITE_OK) {
		note_fault(db, rc);
		return VL_ERR_STORE;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*version = (unsigned)sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		note_fault(db, rc);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? VL_OK : VL_ERR_STORE;
}

/* Runs each missing migration step in its own transaction, recording the
 * new version with it, so a crash leaves the schema at some whole step. */
static int migrate(sqlite3 *db, unsigned target, unsigned *version)
{
	if (exec_sql(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"
	                 "INSERT INTO schema_version SELECT 0 WHERE NOT EXISTS"
	                 " (SELECT 1 FROM schema_version);"))
		return VL_ERR_STORE;
	if (read_version(db, version))
		return VL_ERR_STORE;
	if (*version > LATEST)
		return VL_ERR_STORE; /* written by a newer valised */
	while (*version < target) {
		char bump[64];
		snprintf(bump, sizeof bump, "UPDATE schema_version SET version = %u;",
		         *version + 1);
		if (exec_sql(db, "BEGIN IMMEDIATE"))
			return VL_ERR_STORE;
		if (exec_sql(db, migrations[*version]) || exec_sql(db, bump) ||
		    exec_sql(db, "COMMIT")) {
			(void)exec_sql(db, "ROLLBACK");
			return VL_ERR_STORE;
		}
		(*version)++;
	}
	return VL_OK;
}

static void sq_free(struct vl_store *st)
{
	struct sq *q = SQ(st);
	if (!q)
		return;
	sq_batch_rollback(st);
	if (q->wal_fd >= 0)
		(void)sq_sync_defer(st, false);
	for (size_t i = 0; i < S_COUNT; i++)
		sqlite3_finalize(q->s[i]);
	sqlite3_close(q->db);
	gc_clear(q);
	free(q->gc);
	free(q->acks);
	free(q->unref);
	free(q->ids);
	pthread_cond_destroy(&q->ck_cv);
	pthread_mutex_destroy(&q->ck_mu);
	free(q);
}

static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void sqlite_setup(void)
{
	/* Allocation statistics take a global mutex on every malloc; the
	 * store does not use them. Must precede sqlite3_initialize. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int sq_open(const struct vl_store_config *cfg, struct vl_store **out)
{
	*out = NULL;
	pthread_once(&sqlite_once, sqlite_setup);
	struct sq *q = calloc(1, sizeof *q);
	if (!q)
		return VL_ERR_NOMEM;
	q->base.be = &vl_store_sqlite_backend;
	q->wal_fd = -1;
	pthread_mutex_init(&q->ck_mu, NULL);
	pthread_cond_init(&q->ck_cv, NULL);
	int rc = VL_ERR_STORE;
	unsigned target = cfg->max_version && cfg->max_version < LATEST ? cfg->max_version : LATEST;
	if (!cfg->path ||
	    sqlite3_open_v2(cfg->path, &q->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK)
		goto cleanup;
	sqlite3_busy_timeout(q->db, 5000);
	/* WAL with synchronous=FULL: a commit returns once the WAL is
	 * fsynced. foreign_keys guards the references between tables. */
	if (exec_sql(q->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	                    " PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"))
		goto cleanup;
	/* Measured with bench_loadgen: the default 2 MiB page cache made
	 * every batch re-read pages with pread; checkpoints of a larger WAL
	 * are fewer and stall the writer less often. */
	if (exec_sql(q->db, "PRAGMA cache_size=-65536; PRAGMA mmap_size=268435456;"))
		goto cleanup;
	sqlite3_wal_hook(q->db, wal_hook, q);
	if (migrate(q->db, target, &q->version))
		goto cleanup;
	if (q->version == LATEST) {
		for (size_t i = 0; i < S_COUNT; i++) {
			int prc = sqlite3_prepare_v3(q->db, stmt_sql[i], -1,
			                             SQLITE_PREPARE_PERSISTENT, &q->s[i], NULL);
			if (prc != SQLITE_OK) {
				note_fault(q->db, prc);
				goto cleanup;
			}
		}
		if (counter_load(q, cfg->min_msg_id))
			goto cleanup;
	}
	*out = &q->base;
	return VL_OK;
cleanup:
	sq_free(&q->base);
	return rc;
}

static unsigned sq_schema_version(struct vl_store *st)
{
	return SQ(st)->version;
}

unsigned vl_store_sqlite_latest(void)
{
	return LATEST;
}

/* A store opened below the latest version (migration tests) has no
 * statements; every operation refuses it. */
#define NEED_STMTS(q)                                                                              \
	do {                                                                                       \
		int ready_ = op_ready((q), false);                                                 \
		if (ready_)                                                                        \
			return ready_;                                                             \
	} while (0)

/* --- accounts and devices ------------------------------------------------ */

static void copy_text(char *dst, size_t cap, sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	size_t n = t ? (size_t)sqlite3_column_bytes(s, col) : 0;
	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(dst, t, n);
	dst[n] = 0;
}

static void row_device(sqlite3_stmt *s, struct vl_store_device *d)
{
	memset(d, 0, sizeof *d);
	d->id = sqlite3_column_int64(s, 0);
	d->user_id = sqlite3_column_int64(s, 1);
	copy_text(d->user, sizeof d->user, s, 2);
	copy_text(d->name, sizeof d->name, s, 3);
	d->suite = (uint16_t)sqlite3_column_int(s, 4);
	size_t n = (size_t)sqlite3_column_bytes(s, 5);
	if (n > sizeof d->sig_pub)
		n = sizeof d->sig_pub;
	if (n)
		memcpy(d->sig_pub, sqlite3_column_blob(s, 5), n);
	d->sig_pub_len = n;
	d->created = (uint64_t)sqlite3_column_int64(s, 6);
	d->revoked = sqlite3_column_int(s, 7) != 0;
	d->acked_seq = (uint64_t)sqlite3_column_int64(s, 8);
}

static int sq_invite_create(struct vl_store *st, const uint8_t *key, size_t key_len,
                            const char *user, uint64_t expires, uint64_t now)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	int rc = op_begin(q);
	if (rc)
		return rc;
	sqlite3_stmt *s = q->s[S_INVITE_INSERT];
	bind_blob(s, 1, key, key_len);
	bind_text(s, 2, user);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)expires);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)now);
	rc = run(q, S_INVITE_INSERT);
	return op_end(q, rc);
}

static int sq_invite_cancel(struct vl_store *st, const char *user, unsigned *cancelled)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	int rc = op_begin(q);
	if (rc)
		return rc;
	bind_text(q->s[S_INVITE_CANCEL], 1, user);
	rc = run(q, S_INVITE_CANCEL);
	if (rc == VL_OK)
		*cancelled = (unsigned)sqlite3_changes(q->db);
	return op_end(q, rc);
}

static int user_id_of(struct sq *q, const char *user, int64_t *id)
{
	sqlite3_stmt *s = q->s[S_USER_GET];
	bind_text(s, 1, user);
	int rc = step_row(s);
	if (rc == VL_OK)
		*id = sqlite3_column_int64(s, 0);
	done(s);
	return rc;
}

static int device_by_id(struct sq *q, int64_t id, struct vl_store_device *d)
{
	sqlite3_stmt *s = q->s[S_DEVICE_GET_ID];
	sqlite3_bind_int64(s, 1, id);
	int rc = step_row(s);
	if (rc == VL_OK)
		row_device(s, d);
	done(s);
	return rc;
}

static int device_by_name(struct sq *q, const char *user, const char *name,
                          struct vl_store_device *d)
{
	sqlite3_stmt *s = q->s[S_DEVICE_GET];
	bind_text(s, 1, user);
	bind_text(s, 2, name);
	int rc = step_row(s);
	if (rc == VL_OK)
		row_device(s, d);
	done(s);
	return rc;
}

static int register_in_tx(struct sq *q, const uint8_t *key, size_t key_len, const char *user,
                          const char *name, uint16_t suite, const uint8_t *sig_pub,
                          size_t sig_pub_len, unsigned max_devices, uint64_t now,
                          struct vl_store_device *out)
{
	sqlite3_stmt *s = q->s[S_INVITE_GET];
	bind_blob(s, 1, key, key_len);
	int rc = step_row(s);
	if (rc == VL_OK) {
		const unsigned char *iu = sqlite3_column_text(s, 0);
		bool ok = iu && strcmp((const char *)iu, user) == 0 &&
		          (uint64_t)sqlite3_column_int64(s, 1) >= now &&
		          sqlite3_column_int(s, 2) == 0;
		rc = ok ? VL_OK : VL_ERR_AUTH;
	} else if (rc == VL_ERR_NOT_FOUND) {
		rc = VL_ERR_AUTH;
	}
	done(s);
	if (rc)
		return rc;

	int64_t uid;
	rc = user_id_of(q, user, &uid);
	if (rc == VL_ERR_NOT_FOUND) {
		s = q->s[S_USER_INSERT];
		bind_text(s, 1, user);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)now);
		if ((rc = run(q, S_USER_INSERT)))
			return rc == VL_ERR_EXISTS ? VL_ERR_STORE : rc;
		uid = sqlite3_last_insert_rowid(q->db);
	} else if (rc) {
		return rc;
	}

	s = q->s[S_DEVICE_EXISTS];
	sqlite3_bind_int64(s, 1, uid);
	bind_text(s, 2, name);
	rc = step_row(s);
	done(s);
	if (rc == VL_OK)
		return VL_ERR_EXISTS;
	if (rc != VL_ERR_NOT_FOUND)
		return rc;

	s = q->s[S_DEVICE_COUNT_ACTIVE];
	sqlite3_bind_int64(s, 1, uid);
	rc = step_row(s);
	int64_t active = rc == VL_OK ? sqlite3_column_int64(s, 0) : 0;
	done(s);
	if (rc)
		return rc;
	if (active >= (int64_t)max_devices)
		return VL_ERR_LIMIT;

	s = q->s[S_DEVICE_INSERT];
	sqlite3_bind_int64(s, 1, uid);
	bind_text(s, 2, name);
	sqlite3_bind_int(s, 3, suite);
	bind_blob(s, 4, sig_pub, sig_pub_len);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)now);
	if ((rc = run(q, S_DEVICE_INSERT)))
		return rc;
	int64_t did = sqlite3_last_insert_rowid(q->db);

	s = q->s[S_INVITE_USE];
	bind_blob(s, 1, key, key_len);
	if ((rc = run(q, S_INVITE_USE)))
		return rc;
	return device_by_id(q, did, out);
}

static int sq_device_register(struct vl_store *st, const uint8_t *key, size_t key_len,
                              const char *user, const char *name, uint16_t suite,
                              const uint8_t *sig_pub, size_t sig_pub_len, unsigned max_devices,
                              uint64_t now, struct vl_store_device *out)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	if (sig_pub_len > VL_STORE_KEY_MAX || strlen(name) > VL_STORE_DEVICE_MAX ||
	    strlen(user) > VL_STORE_ADDRESS_MAX)
		return VL_ERR_LIMIT;
	int rc = op_begin(q);
	if (rc)
		return rc;
	rc = register_in_tx(q, key, key_len, user, name, suite, sig_pub, sig_pub_len, max_devices,
	                    now, out);
	return op_end(q, rc);
}

static int sq_device_get(struct vl_store *st, const char *user, const char *name,
                         struct vl_store_device *out)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	/* A single SELECT: consistent without a transaction of its own. */
	q->base.stats.operations++;
	return device_by_name(q, user, name, out);
}

static int sq_device_list(struct vl_store *st, int64_t user_id, vl_store_device_fn fn, void *ctx)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	q->base.stats.operations++;
	sqlite3_stmt *s = q->s[S_DEVICE_LIST];
	sqlite3_bind_int64(s, 1, user_id);
	int rc;
	struct vl_store_device d;
	while ((rc = step_row(s)) == VL_OK) {
		row_device(s, &d);
		if ((rc = fn(ctx, &d)))
			break;
	}
	done(s);
	return rc == VL_ERR_NOT_FOUND ? VL_OK : rc;
}

static int sq_user_get(struct vl_store *st, const char *user, int64_t *user_id)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	q->base.stats.operations++;
	return user_id_of(q, user, user_id);
}

static int sq_user_list(struct vl_store *st, vl_store_user_fn fn, void *ctx)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	q->base.stats.operations++;
	sqlite3_stmt *s = q->s[S_USER_LIST];
	int rc;
	while ((rc = step_row(s)) == VL_OK) {
		struct vl_store_user u = {0};
		const unsigned char *a = sqlite3_column_text(s, 0);
		snprintf(u.address, sizeof u.address, "%s", a ? (const char *)a : "");
		u.created = (uint64_t)sqlite3_column_int64(s, 1);
		u.active = (unsigned)sqlite3_column_int64(s, 2);
		u.revoked = (unsigned)sqlite3_column_int64(s, 3);
		u.blob_bytes = (uint64_t)sqlite3_column_int64(s, 4);
		if ((rc = fn(ctx, &u)))
			break;
	}
	done(s);
	return rc == VL_ERR_NOT_FOUND ? VL_OK : rc;
}

static int revoke_in_tx(struct sq *q, int64_t user_id, const char *name, int64_t *device_id)
{
	sqlite3_stmt *g = q->s[S_DEVICE_LIST];
	int64_t id = 0;
	int rc;
	/* Find the device among the user's (names are unique per user). */
	sqlite3_bind_int64(g, 1, user_id);
	while ((rc = step_row(g)) == VL_OK) {
		const unsigned char *n = sqlite3_column_text(g, 3);
		if (n && strcmp((const char *)n, name) == 0) {
			id = sqlite3_column_int64(g, 0);
			break;
		}
	}
	done(g);
	if (rc)
		return rc;
	if (device_id)
		*device_id = id;
	sqlite3_bind_int64(q->s[S_DEVICE_REVOKE], 1, id);
	if ((rc = run(q, S_DEVICE_REVOKE)))
		return rc;
	sqlite3_bind_int64(q->s[S_KP_DELETE_DEVICE], 1, id);
	if ((rc = run(q, S_KP_DELETE_DEVICE)))
		return rc;
	sqlite3_bind_int64(q->s[S_QUEUE_DEVICE_SEQS], 1, id);
	if ((rc = unref_collect(q, q->s[S_QUEUE_DEVICE_SEQS])))
		return rc;
	sqlite3_bind_int64(q->s[S_QUEUE_DELETE_DEVICE], 1, id);
	if ((rc = run(q, S_QUEUE_DELETE_DEVICE)))
		return rc;
	return unref_apply(q);
}

static int sq_device_revoke(struct vl_store *st, int64_t user_id, const char *name,
                            int64_t *device_id)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	int rc = op_begin(q);
	if (rc)
		return rc;
	rc = op_end(q, revoke_in_tx(q, user_id, name, device_id));
	/* The device leaves every roster it was in. */
	gc_clear(q);
	return rc;
}

/* --- KeyPackages ----------------------------------------------------------- */

static int kp_count(struct sq *q, int64_t device_id, uint32_t *stock)
{
	sqlite3_stmt *s = q->s[S_KP_COUNT];
	sqlite3_bind_int64(s, 1, device_id);
	int rc = step_row(s);
	if (rc == VL_OK)
		*stock = (uint32_t)sqlite3_column_int64(s, 0);
	done(s);
	return rc;
}

static int kp_add_in_tx(struct sq *q, int64_t device_id, const struct vl_store_kp *kps, size_t n,
                        uint32_t *stock)
{
	int rc;
	for (size_t i = 0; i < n; i++) {
		if (kps[i].last_resort) {
			sqlite3_bind_int64(q->s[S_KP_DELETE_LR], 1, device_id);
			if ((rc = run(q, S_KP_DELETE_LR)))
				return rc;
		}
		sqlite3_stmt *s = q->s[S_KP_INSERT];
		sqlite3_bind_int64(s, 1, device_id);
		sqlite3_bind_int(s, 2, kps[i].last_resort ? 1 : 0);
		bind_blob(s, 3, kps[i].data, kps[i].len);
		if ((rc = run(q, S_KP_INSERT)))
			return rc == VL_ERR_EXISTS ? VL_ERR_NOT_FOUND : rc; /* no such device */
	}
	return kp_count(q, device_id, stock);
}

static int sq_kp_add(struct vl_store *st, int64_t device_id, const struct vl_store_kp *kps,
                     size_t n, uint32_t *stock)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	int rc = op_begin(q);
	if (rc)
		return rc;
	return op_end(q, kp_add_in_tx(q, device_id, kps, n, stock));
}

static int sq_kp_count(struct vl_store *st, int64_t device_id, uint32_t *stock)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	q->base.stats.operations++;
	return kp_count(q, device_id, stock);
}

/* Collects a user's non-revoked device ids (bounded by the device limit
 * in practice; capped here). */
#define CLAIM_DEVICES_MAX 256

static int claim_in_tx(struct sq *q, const char *user, vl_store_claim_fn fn, void *ctx)
{
	int64_t uid;
	int rc = user_id_of(q, user, &uid);
	if (rc)
		return rc;
	struct vl_store_device *devs = calloc(CLAIM_DEVICES_MAX, sizeof *devs);
	if (!devs)
		return VL_ERR_NOMEM;
	size_t n = 0;
	sqlite3_stmt *s = q->s[S_DEVICE_LIST];
	sqlite3_bind_int64(s, 1, uid);
	while (n < CLAIM_DEVICES_MAX && (rc = step_row(s)) == VL_OK) {
		row_device(s, &devs[n]);
		if (!devs[n].revoked)
			n++;
	}
	done(s);
	if (rc == VL_ERR_NOT_FOUND)
		rc = VL_OK;
	size_t handed = 0;
	for (size_t i = 0; i < n && rc == VL_OK; i++) {
		s = q->s[S_KP_PICK];
		sqlite3_bind_int64(s, 1, devs[i].id);
		rc = step_row(s);
		if (rc == VL_ERR_NOT_FOUND) {
			done(s);
			rc = VL_OK;
			continue;
		}
		if (rc) {
			done(s);
			break;
		}
		int64_t kp_id = sqlite3_column_int64(s, 0);
		bool last_resort = sqlite3_column_int(s, 1) != 0;
		size_t len = (size_t)sqlite3_column_bytes(s, 2);
		uint8_t *copy = malloc(len ? len : 1);
		if (!copy) {
			done(s);
			rc = VL_ERR_NOMEM;
			break;
		}
		if (len)
			memcpy(copy, sqlite3_column_blob(s, 2), len);
		done(s);
		/* RFC 9420 §16.8: a KeyPackage is used once, except the
		 * last-resort one, kept so a device can always be added. */
		if (!last_resort) {
			sqlite3_bind_int64(q->s[S_KP_DELETE], 1, kp_id);
			rc = run(q, S_KP_DELETE);
		}
		uint32_t left = 0;
		if (rc == VL_OK)
			rc = kp_count(q, devs[i].id, &left);
		if (rc == VL_OK)
			rc = fn(ctx, &devs[i], copy, len, left);
		free(copy);
		handed++;
	}
	free(devs);
	if (rc == VL_OK && handed == 0)
		rc = VL_ERR_NOT_FOUND;
	return rc;
}

static int sq_kp_claim(struct vl_store *st, const char *user, vl_store_claim_fn fn, void *ctx)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	int rc = op_begin(q);
	if (rc)
		return rc;
	return op_end(q, claim_in_tx(q, user, fn, ctx));
}

/* --- groups ------------------------------------------------------------------ */

static int group_get(struct sq *q, const uint8_t *gid, size_t gid_len, int64_t *id, uint64_t *epoch)
{
	sqlite3_stmt *s = q->s[S_GROUP_GET];
	bind_blob(s, 1, gid, gid_len);
	int rc = step_row(s);
	if (rc == VL_OK) {
		*id = sqlite3_column_int64(s, 0);
		*epoch = (uint64_t)sqlite3_column_int64(s, 1);
	}
	done(s);
	return rc;
}

static int is_member(struct sq *q, int64_t group, int64_t device)
{
	sqlite3_stmt *s = q->s[S_MEMBER_IS];
	sqlite3_bind_int64(s, 1, group);
	sqlite3_bind_int64(s, 2, device);
	int rc = step_row(s);
	done(s);
	return rc;
}

/* leaf < 0: not known (a group whose leaves the server cannot map). */
static int member_insert(struct sq *q, int64_t group, int64_t device, int64_t leaf)
{
	sqlite3_bind_int64(q->s[S_MEMBER_INSERT], 1, group);
	sqlite3_bind_int64(q->s[S_MEMBER_INSERT], 2, device);
	if (leaf >= 0)
		sqlite3_bind_int64(q->s[S_MEMBER_INSERT], 3, leaf);
	else
		sqlite3_bind_null(q->s[S_MEMBER_INSERT], 3);
	return run(q, S_MEMBER_INSERT);
}

static int sq_group_create(struct vl_store *st, const uint8_t *gid, size_t gid_len, int64_t creator,
                           uint64_t now)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	int rc = op_begin(q);
	if (rc)
		return rc;
	sqlite3_stmt *s = q->s[S_GROUP_INSERT];
	bind_blob(s, 1, gid, gid_len);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)now);
	rc = run(q, S_GROUP_INSERT);
	if (rc == VL_OK)
		rc = member_insert(q, sqlite3_last_insert_rowid(q->db), creator, 0); /* §11 */
	return op_end(q, rc);
}

static int sq_group_epoch(struct vl_store *st, const uint8_t *gid, size_t gid_len, uint64_t *epoch)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	int64_t id;
	q->base.stats.operations++;
	return group_get(q, gid, gid_len, &id, epoch);
}

static int sq_group_is_member(struct vl_store *st, const uint8_t *gid, size_t gid_len,
                              int64_t device_id)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	int64_t id;
	uint64_t epoch;
	q->base.stats.operations++;
	int rc = group_get(q, gid, gid_len, &id, &epoch);
	if (rc)
		return rc;
	return is_member(q, id, device_id);
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Whether a client message id coming now is timed (SENT_PAST_MS). */
static bool sent_timed(const uint8_t *cmid, uint64_t now_ms)
{
	uint64_t t = 0;
	for (int i = 0; i < 6; i++)
		t = t << 8 | cmid[i];
	return t + SENT_PAST_MS >= now_ms && t <= now_ms + SENT_AHEAD_MS;
}

/* One table's record of (device, client message id), by its GET
 * statement: VL_OK with *epoch, or VL_ERR_NOT_FOUND. */
static int sent_find(struct sq *q, enum stmt get, int64_t device, const uint8_t *cmid,
                     uint64_t *epoch)
{
	sqlite3_stmt *s = q->s[get];
	sqlite3_bind_int64(s, 1, device);
	bind_blob(s, 2, cmid, 16);
	int rc = step_row(s);
	if (rc == VL_OK)
		*epoch = (uint64_t)sqlite3_column_int64(s, 0);
	done(s);
	return rc;
}

/* Idempotency record of (device, client message id): VL_OK with *epoch if
 * seen before, VL_ERR_NOT_FOUND if not. */
static int sent_get(struct sq *q, int64_t device, const uint8_t *cmid, uint64_t *epoch)
{
	int rc = sent_find(q, S_SENT_GET, device, cmid, epoch);
	return rc == VL_ERR_NOT_FOUND ? sent_find(q, S_SENT_ODD_GET, device, cmid, epoch) : rc;
}

/* Records (device, client message id): a timed id in `sent`, any other
 * in `sent_odd` with the time, for pruning by age. VL_ERR_EXISTS if it
 * was recorded already (nothing changes then). The other table is asked
 * first: an id can come back on the other side of the timed span, from
 * ahead of it into it, or out of it into the past. */
static int sent_put(struct sq *q, int64_t device, const uint8_t *cmid, uint64_t epoch)
{
	uint64_t now = wall_ms(), seen;
	bool timed = sent_timed(cmid, now);
	int rc = sent_find(q, timed ? S_SENT_ODD_GET : S_SENT_GET, device, cmid, &seen);
	if (rc != VL_ERR_NOT_FOUND)
		return rc == VL_OK ? VL_ERR_EXISTS : VL_ERR_STORE;
	enum stmt put = timed ? S_SENT_INSERT : S_SENT_ODD_INSERT;
	sqlite3_stmt *s = q->s[put];
	sqlite3_bind_int64(s, 1, device);
	bind_blob(s, 2, cmid, 16);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)epoch);
	if (!timed)
		sqlite3_bind_int64(s, 4, (sqlite3_int64)(now / 1000u));
	rc = run(q, put);
	if (rc == VL_OK && sqlite3_changes(q->db) == 0)
		return VL_ERR_EXISTS;
	return rc == VL_OK ? VL_OK : VL_ERR_STORE;
}

/* Takes back the record sent_put just made, from whichever table. */
static int sent_del(struct sq *q, int64_t device, const uint8_t *cmid)
{
	static const enum stmt del[] = {S_SENT_DELETE, S_SENT_ODD_DELETE};
	int rc = VL_OK;
	for (size_t i = 0; i < sizeof del / sizeof del[0]; i++) {
		sqlite3_bind_int64(q->s[del[i]], 1, device);
		bind_blob(q->s[del[i]], 2, cmid, 16);
		if (run(q, del[i]))
			rc = VL_ERR_STORE;
	}
	return rc;
}

/* Stores one message and queues it for each device of to[n] except skip;
 * a message with no recipient is not kept. Its id is the next of the
 * store's counter and its reference count is known before it is written:
 * one INSERT for the message, one per recipient. */
static int fan_out(struct sq *q, int64_t group, int64_t sender, uint8_t kind, const uint8_t *data,
                   size_t len, const int64_t *to, size_t n, int64_t skip, vl_store_queued_fn fn,
                   void *ctx)
{
	int64_t refs = 0;
	for (size_t i = 0; i < n; i++)
		refs += to[i] != skip;
	if (refs == 0)
		return VL_OK;
	int64_t seq = q->next_msg++;
	sqlite3_stmt *s = q->s[S_MSG_INSERT];
	sqlite3_bind_int64(s, 1, seq);
	sqlite3_bind_int64(s, 2, group);
	sqlite3_bind_int64(s, 3, sender);
	sqlite3_bind_int(s, 4, kind);
	bind_blob(s, 5, data, len);
	sqlite3_bind_int64(s, 6, refs);
	int rc = run(q, S_MSG_INSERT);
	if (rc)
		return VL_ERR_STORE; /* an id is never taken twice: not a conflict */
	s = q->s[S_QUEUE_INSERT];
	for (size_t i = 0; i < n; i++) {
		if (to[i] == skip)
			continue;
		sqlite3_bind_int64(s, 1, to[i]);
		sqlite3_bind_int64(s, 2, seq);
		if (run(q, S_QUEUE_INSERT))
			return VL_ERR_STORE;
		if (fn)
			fn(ctx, to[i], (uint64_t)seq, kind);
	}
	return VL_OK;
}

/* The group's members that are not revoked, into a growing array. */
static int member_list(struct sq *q, int64_t group, int64_t **out, size_t *n)
{
	size_t cap = 16;
	int64_t *ids = malloc(cap * sizeof *ids);
	if (!ids)
		return VL_ERR_NOMEM;
	*n = 0;
	sqlite3_stmt *s = q->s[S_MEMBER_LIST];
	sqlite3_bind_int64(s, 1, group);
	int rc;
	while ((rc = step_row(s)) == VL_OK) {
		if (*n == cap) {
			int64_t *more = realloc(ids, 2 * cap * sizeof *ids);
			if (!more) {
				rc = VL_ERR_NOMEM;
				break;
			}
			ids = more;
			cap *= 2;
		}
		ids[(*n)++] = sqlite3_column_int64(s, 0);
	}
	done(s);
	if (rc != VL_ERR_NOT_FOUND) {
		free(ids);
		return rc;
	}
	*out = ids;
	return VL_OK;
}

static int commit_in_tx(struct sq *q, const struct vl_store_commit *c, vl_store_queued_fn fn,
                        void *ctx, uint64_t *new_epoch, bool *duplicate)
{
	uint64_t epoch;
	int64_t group;
	int rc = sent_get(q, c->sender, c->client_msg_id, &epoch);
	if (rc == VL_OK) {
		*new_epoch = epoch;
		*duplicate = true;
		return VL_OK;
	}
	if (rc != VL_ERR_NOT_FOUND)
		return rc;
	if ((rc = group_get(q, c->gid, c->gid_len, &group, &epoch)))
		return rc;
	rc = is_member(q, group, c->sender);
	if (rc)
		return rc == VL_ERR_NOT_FOUND ? VL_ERR_PERMISSION : rc;
	/* The delivery service's one rule for commits: exactly one per
	 * epoch, the first to arrive (ARCHITECTURE, MLS profile). */
	if (c->epoch != epoch)
		return c->epoch > epoch ? VL_ERR_EPOCH_AHEAD : VL_ERR_STALE_EPOCH;

	int64_t *added = calloc(c->n_added ? c->n_added : 1, sizeof *added);
	int64_t *removed = calloc(c->n_removed ? c->n_removed : 1, sizeof *removed);
	int64_t *roster = NULL;
	size_t n_roster = 0;
	if (!added || !removed) {
		rc = VL_ERR_NOMEM;
		goto cleanup;
	}
	/* Removes first: a device removed by this commit may be added again
	 * (RFC 9420 §12.2). */
	struct vl_store_device d;
	for (size_t i = 0; i < c->n_removed; i++) {
		rc = device_by_name(q, c->removed[i].user, c->removed[i].name, &d);
		if (rc == VL_ERR_NOT_FOUND)
			rc = VL_ERR_INVALID;
		if (rc == VL_OK && is_member(q, group, d.id) != VL_OK)
			rc = VL_ERR_INVALID;
		if (rc)
			goto cleanup;
		removed[i] = d.id;
	}
	for (size_t i = 0; i < c->n_added; i++) {
		rc = device_by_name(q, c->added[i].user, c->added[i].name, &d);
		if (rc == VL_ERR_NOT_FOUND || (rc == VL_OK && d.revoked))
			rc = VL_ERR_INVALID;
		bool readded = false;
		for (size_t j = 0; rc == VL_OK && j < c->n_removed && !readded; j++)
			readded = removed[j] == d.id;
		if (rc == VL_OK && !readded && is_member(q, group, d.id) == VL_OK)
			rc = VL_ERR_INVALID;
		for (size_t j = 0; rc == VL_OK && j < i; j++)
			if (added[j] == d.id)
				rc = VL_ERR_INVALID;
		if (rc)
			goto cleanup;
		added[i] = d.id;
	}
	if ((rc = member_list(q, group, &roster, &n_roster)))
		goto cleanup;
	/* The commit goes to the old roster (removed members learn of their
	 * removal from it), the Welcome to the added devices. */
	if ((rc = fan_out(q, group, c->sender, 2, c->commit, c->commit_len, roster, n_roster,
	                  c->sender, fn, ctx)))
		goto cleanup;
	for (size_t i = 0; i < c->n_removed; i++) {
		sqlite3_bind_int64(q->s[S_MEMBER_DELETE], 1, group);
		sqlite3_bind_int64(q->s[S_MEMBER_DELETE], 2, removed[i]);
		if ((rc = run(q, S_MEMBER_DELETE)))
			goto cleanup;
	}
	for (size_t i = 0; i < c->n_added; i++)
		if ((rc = member_insert(q, group, added[i],
		                        c->added_leaves ? (int64_t)c->added_leaves[i] : -1)))
			goto cleanup;
	if (c->welcome && c->n_added &&
	    (rc = fan_out(q, group, c->sender, 3, c->welcome, c->welcome_len, added, c->n_added, 0,
	                  fn, ctx)))
		goto cleanup;
	sqlite3_bind_int64(q->s[S_GROUP_SET_EPOCH], 1, (sqlite3_int64)(epoch + 1));
	sqlite3_bind_int64(q->s[S_GROUP_SET_EPOCH], 2, group);
	if ((rc = run(q, S_GROUP_SET_EPOCH)))
		goto cleanup;
	if ((rc = sent_put(q, c->sender, c->client_msg_id, epoch + 1))) {
		rc = rc == VL_ERR_EXISTS ? VL_ERR_STORE : rc; /* read as absent above */
		goto cleanup;
	}
	/* Proposals live for one epoch (RFC 9420 §12.1). */
	sqlite3_bind_int64(q->s[S_PROPOSAL_PRUNE], 1, group);
	sqlite3_bind_int64(q->s[S_PROPOSAL_PRUNE], 2, (sqlite3_int64)epoch);
	if ((rc = run(q, S_PROPOSAL_PRUNE)))
		goto cleanup;
	*new_epoch = epoch + 1;
cleanup:
	free(added);
	free(removed);
	free(roster);
	return rc;
}

static int sq_commit_apply(struct vl_store *st, const struct vl_store_commit *c,
                           vl_store_queued_fn fn, void *ctx, uint64_t *new_epoch, bool *duplicate)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	*duplicate = false;
	*new_epoch = 0;
	int rc = op_begin(q);
	if (rc)
		return rc;
	rc = op_end(q, commit_in_tx(q, c, fn, ctx, new_epoch, duplicate));
	/* Epoch and roster may have changed (or been rolled back). */
	gc_drop(q, c->gid, c->gid_len);
	return rc;
}

/*
 * SEND, the hot path: no savepoint. The idempotency record is written
 * first (its conflict is the duplicate test, one statement instead of a
 * lookup and an insert), then the checks read the cached group; a refused
 * message deletes its record again, so a check never leaves a write
 * behind. Past the checks only writes remain, which fail only when the
 * database itself does (I/O, memory): *partial then tells the caller that
 * something was written that only a rollback of the transaction undoes.
 */
static int send_in_tx(struct sq *q, const uint8_t *gid, size_t gid_len, uint64_t msg_epoch,
                      int64_t sender, const uint8_t *cmid, const uint8_t *msg, size_t msg_len,
                      vl_store_queued_fn fn, void *ctx, bool *duplicate, bool *partial)
{
	/* An accepted message keeps its answer even once the group has moved
	 * to a later epoch: the idempotency record comes first. */
	int rc = sent_put(q, sender, cmid, 0);
	if (rc == VL_ERR_EXISTS) {
		*duplicate = true;
		return VL_OK;
	}
	if (rc) {
		*partial = true;
		return rc;
	}
	const struct gc_entry *g = NULL;
	rc = gc_get(q, gid, gid_len, &g);
	if (rc == VL_OK && !gc_is_member(g, sender))
		rc = VL_ERR_PERMISSION;
	/* Members who have processed the group's last commit can read only
	 * messages of its current epoch: any other is refused before it is
	 * stored, and its sender re-encrypts. */
	else if (rc == VL_OK && msg_epoch != g->epoch)
		rc = msg_epoch > g->epoch ? VL_ERR_EPOCH_AHEAD : VL_ERR_STALE_EPOCH;
	if (rc) {
		if (sent_del(q, sender, cmid))
			*partial = true;
		return rc;
	}
	rc = fan_out(q, g->id, sender, 1, msg, msg_len, g->members, g->n, sender, fn, ctx);
	if (rc)
		*partial = true;
	return rc;
}

static int sq_send(struct vl_store *st, const uint8_t *gid, size_t gid_len, uint64_t epoch,
                   int64_t sender, const uint8_t *cmid, const uint8_t *msg, size_t msg_len,
                   vl_store_queued_fn fn, void *ctx, bool *duplicate)
{
	struct sq *q = SQ(st);
	*duplicate = false;
	int rc = op_ready(q, true);
	if (rc)
		return rc;
	bool partial = false;
	if (q->in_batch) {
		q->base.stats.operations++;
		rc = send_in_tx(q, gid, gid_len, epoch, sender, cmid, msg, msg_len, fn, ctx,
		                duplicate, &partial);
		if (partial)
			q->broken = true; /* the whole batch fails (store.h, 1) */
		return rc;
	}
	if ((rc = op_begin(q)))
		return rc;
	return op_end(q, send_in_tx(q, gid, gid_len, epoch, sender, cmid, msg, msg_len, fn, ctx,
	                            duplicate, &partial));
}

static int sq_proposal_send(struct vl_store *st, const uint8_t *gid, size_t gid_len, uint64_t epoch,
                            int64_t sender, const uint8_t *cmid, const uint8_t *msg, size_t msg_len,
                            const uint8_t *ref, size_t ref_len, vl_store_queued_fn fn, void *ctx,
                            bool *duplicate)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	*duplicate = false;
	int rc = op_begin(q);
	if (rc)
		return rc;
	/* A savepoint here, unlike SEND's hot path: op_end undoes a partial
	 * write, so *partial needs no handling. */
	bool partial = false;
	rc = send_in_tx(q, gid, gid_len, epoch, sender, cmid, msg, msg_len, fn, ctx, duplicate,
	                &partial);
	int64_t group;
	uint64_t cur;
	if (rc == VL_OK && !*duplicate)
		rc = group_get(q, gid, gid_len, &group, &cur);
	if (rc == VL_OK && !*duplicate) {
		/* send_in_tx accepted it: epoch is the group's current one. */
		sqlite3_stmt *s = q->s[S_PROPOSAL_COUNT];
		sqlite3_bind_int64(s, 1, group);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)epoch);
		rc = step_row(s);
		if (rc == VL_OK && sqlite3_column_int64(s, 0) >= VL_STORE_PROPOSALS_MAX)
			rc = VL_ERR_LIMIT;
		done(s);
	}
	if (rc == VL_OK && !*duplicate) {
		sqlite3_stmt *s = q->s[S_PROPOSAL_INSERT];
		sqlite3_bind_int64(s, 1, group);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)epoch);
		bind_blob(s, 3, ref, ref_len);
		sqlite3_bind_int64(s, 4, sender);
		bind_blob(s, 5, msg, msg_len);
		rc = run(q, S_PROPOSAL_INSERT);
	}
	return op_end(q, rc);
}

static int sq_proposal_get(struct vl_store *st, const uint8_t *gid, size_t gid_len, uint64_t epoch,
                           const uint8_t *ref, size_t ref_len, vl_store_proposal_fn fn, void *ctx)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	q->base.stats.operations++;
	sqlite3_stmt *s = q->s[S_PROPOSAL_GET];
	bind_blob(s, 1, gid, gid_len);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)epoch);
	bind_blob(s, 3, ref, ref_len);
	int rc = step_row(s);
	if (rc == VL_OK)
		rc = fn(ctx, sqlite3_column_int64(s, 0), sqlite3_column_blob(s, 1),
		        (size_t)sqlite3_column_bytes(s, 1));
	done(s);
	return rc;
}

static int sq_group_leaves(struct vl_store *st, const uint8_t *gid, size_t gid_len, uint64_t *epoch,
                           vl_store_leaf_fn fn, void *ctx)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	q->base.stats.operations++;
	int64_t group;
	int rc = group_get(q, gid, gid_len, &group, epoch);
	if (rc)
		return rc;
	sqlite3_stmt *s = q->s[S_MEMBER_LEAVES];
	sqlite3_bind_int64(s, 1, group);
	while ((rc = step_row(s)) == VL_OK) {
		int64_t leaf =
		    sqlite3_column_type(s, 1) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 1);
		if ((rc = fn(ctx, sqlite3_column_int64(s, 0), leaf)))
			break;
	}
	done(s);
	return rc == VL_ERR_NOT_FOUND ? VL_OK : rc;
}

/* --- queues ------------------------------------------------------------------ */

static int sq_queue_fetch(struct vl_store *st, int64_t device_id, uint64_t after, size_t limit,
                          vl_store_entry_fn fn, void *ctx)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	q->base.stats.operations++;
	sqlite3_stmt *s = q->s[S_QUEUE_FETCH];
	sqlite3_bind_int64(s, 1, device_id);
	bind_u64(s, 2, after);
	bind_u64(s, 3, limit);
	int rc;
	while ((rc = step_row(s)) == VL_OK) {
		struct vl_store_entry e = {
		    .seq = (uint64_t)sqlite3_column_int64(s, 0),
		    .kind = (uint8_t)sqlite3_column_int(s, 1),
		    .gid = sqlite3_column_blob(s, 2),
		    .gid_len = (size_t)sqlite3_column_bytes(s, 2),
		    .sender_user = (const char *)sqlite3_column_text(s, 3),
		    .sender_name = (const char *)sqlite3_column_text(s, 4),
		    .msg = sqlite3_column_blob(s, 5),
		    .msg_len = (size_t)sqlite3_column_bytes(s, 5),
		};
		if (!e.sender_user || !e.sender_name) {
			rc = VL_ERR_STORE;
			break;
		}
		if ((rc = fn(ctx, &e)))
			break;
	}
	done(s);
	return rc == VL_ERR_NOT_FOUND ? VL_OK : rc;
}

static int sq_queue_ack(struct vl_store *st, int64_t device_id, uint64_t seq)
{
	struct sq *q = SQ(st);
	int rc = op_ready(q, true);
	if (rc)
		return rc;
	if (q->in_batch) {
		/* Applied when the batch commits (ack_record), or once ACKS_RUN
		 * are waiting: then their cost falls in the executor's running
		 * phase, which batch_us bounds, rather than in its commit. */
		q->base.stats.operations++;
		rc = ack_record(q, device_id, seq);
		if (rc == VL_OK && q->acks_n >= ACKS_RUN && ack_flush(q) != VL_OK) {
			q->broken = true;
			rc = VL_ERR_STORE;
		}
		return rc;
	}
	if ((rc = op_begin(q)))
		return rc;
	rc = ack_record(q, device_id, seq);
	return op_end(q, rc == VL_OK ? ack_flush(q) : rc);
}

static int sq_queue_count(struct vl_store *st, int64_t device_id, uint64_t *count)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	q->base.stats.operations++;
	sqlite3_stmt *s = q->s[S_QUEUE_COUNT];
	sqlite3_bind_int64(s, 1, device_id);
	int rc = step_row(s);
	if (rc == VL_OK)
		*count = (uint64_t)sqlite3_column_int64(s, 0);
	done(s);
	return rc;
}

/* --- blobs --------------------------------------------------------------- */

static int blob_usage(struct sq *q, int64_t user_id, uint64_t *bytes)
{
	sqlite3_stmt *s = q->s[S_BLOB_USAGE];
	sqlite3_bind_int64(s, 1, user_id);
	int rc = step_row(s);
	if (rc == VL_OK)
		*bytes = (uint64_t)sqlite3_column_int64(s, 0);
	done(s);
	return rc;
}

static int sq_blob_usage(struct vl_store *st, int64_t user_id, uint64_t *bytes)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	q->base.stats.operations++;
	return blob_usage(q, user_id, bytes);
}

static int blob_add_in_tx(struct sq *q, const uint8_t *id, size_t id_len, int64_t user_id,
                          uint64_t size, uint64_t quota, uint64_t now, bool *existed)
{
	/* Content-addressed: the same user storing the same bytes twice uses
	 * its quota once. (Ids are hashes of ciphertext under fresh keys, so
	 * two users sharing one is no concern; each is charged.) */
	sqlite3_stmt *s = q->s[S_BLOB_GET];
	bind_blob(s, 1, id, id_len);
	sqlite3_bind_int64(s, 2, user_id);
	int rc = step_row(s);
	done(s);
	if (rc == VL_OK) {
		/* Uploaded again: its retention starts over. */
		*existed = true;
		s = q->s[S_BLOB_TOUCH];
		sqlite3_bind_int64(s, 1, (sqlite3_int64)now);
		bind_blob(s, 2, id, id_len);
		sqlite3_bind_int64(s, 3, user_id);
		return run(q, S_BLOB_TOUCH);
	}
	if (rc != VL_ERR_NOT_FOUND)
		return rc;
	uint64_t used;
	if ((rc = blob_usage(q, user_id, &used)))
		return rc;
	if (size > quota || used > quota - size)
		return VL_ERR_LIMIT;
	s = q->s[S_BLOB_INSERT];
	bind_blob(s, 1, id, id_len);
	sqlite3_bind_int64(s, 2, user_id);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)size);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)now);
	if ((rc = run(q, S_BLOB_INSERT)))
		return rc == VL_ERR_EXISTS ? VL_ERR_STORE : rc;
	sqlite3_bind_int64(q->s[S_BLOB_ADD_USAGE], 1, (sqlite3_int64)size);
	sqlite3_bind_int64(q->s[S_BLOB_ADD_USAGE], 2, user_id);
	return run(q, S_BLOB_ADD_USAGE);
}

static int sq_blob_add(struct vl_store *st, const uint8_t *id, size_t id_len, int64_t user_id,
                       uint64_t size, uint64_t quota, uint64_t now, bool *existed)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	*existed = false;
	int rc = op_begin(q);
	if (rc)
		return rc;
	return op_end(q, blob_add_in_tx(q, id, id_len, user_id, size, quota, now, existed));
}

static int sq_blob_exists(struct vl_store *st, const uint8_t *id, size_t id_len)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	q->base.stats.operations++;
	sqlite3_stmt *s = q->s[S_BLOB_EXISTS];
	bind_blob(s, 1, id, id_len);
	int rc = step_row(s);
	done(s);
	return rc;
}

struct blob_rec {
	uint8_t id[VL_STORE_BLOB_ID_MAX];
	size_t id_len;
	int64_t user_id;
	int64_t size;
	bool gone; /* no user holds it any more */
};

static int blob_prune_in_tx(struct sq *q, uint64_t before, size_t limit, vl_store_blob_gone_fn gone,
                            void *ctx, size_t *deleted)
{
	/* Read first, then delete: the oldest records, at most limit. */
	struct blob_rec *r = calloc(limit ? limit : 1, sizeof *r);
	if (!r)
		return VL_ERR_NOMEM;
	size_t n = 0;
	sqlite3_stmt *s = q->s[S_BLOB_OLDEST];
	bind_u64(s, 1, before);
	bind_u64(s, 2, limit);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < limit) {
		int len = sqlite3_column_bytes(s, 0);
		if (len <= 0 || (size_t)len > sizeof r[n].id)
			continue; /* not one of ours: left alone */
		memcpy(r[n].id, sqlite3_column_blob(s, 0), (size_t)len);
		r[n].id_len = (size_t)len;
		r[n].user_id = sqlite3_column_int64(s, 1);
		r[n].size = sqlite3_column_int64(s, 2);
		n++;
	}
	done(s);
	rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? VL_OK : VL_ERR_STORE;
	for (size_t i = 0; i < n && rc == VL_OK; i++) {
		s = q->s[S_BLOB_DELETE];
		bind_blob(s, 1, r[i].id, r[i].id_len);
		sqlite3_bind_int64(s, 2, r[i].user_id);
		rc = run(q, S_BLOB_DELETE);
		if (rc == VL_OK) {
			sqlite3_bind_int64(q->s[S_BLOB_ADD_USAGE], 1, -r[i].size);
			sqlite3_bind_int64(q->s[S_BLOB_ADD_USAGE], 2, r[i].user_id);
			rc = run(q, S_BLOB_ADD_USAGE);
		}
		if (rc == VL_OK) {
			s = q->s[S_BLOB_EXISTS];
			bind_blob(s, 1, r[i].id, r[i].id_len);
			rc = step_row(s);
			done(s);
			r[i].gone = rc == VL_ERR_NOT_FOUND;
			if (rc == VL_ERR_NOT_FOUND)
				rc = VL_OK;
		}
	}
	/* Only once every record is gone: a failure before leaves all the
	 * files. (A batch rolled back after this leaves records of expired
	 * blobs without their files; the next prune takes them.) */
	for (size_t i = 0; i < n && rc == VL_OK; i++)
		if (r[i].gone && gone)
			gone(ctx, r[i].id, r[i].id_len);
	if (rc == VL_OK)
		*deleted = n;
	free(r);
	return rc;
}

static int sq_blob_prune(struct vl_store *st, uint64_t before, size_t limit,
                         vl_store_blob_gone_fn gone, void *ctx, size_t *deleted)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	*deleted = 0;
	int rc = op_begin(q);
	if (rc)
		return rc;
	return op_end(q, blob_prune_in_tx(q, before, limit, gone, ctx, deleted));
}

/* --- maintenance ----------------------------------------------------------- */

/* Runs a pruning DELETE in its own operation: ?1, the bound, is bound by
 * the caller, ?2 is the limit. */
static int prune_run(struct sq *q, enum stmt stmt, size_t limit, size_t *deleted)
{
	*deleted = 0;
	int rc = op_begin(q);
	if (rc)
		return rc;
	bind_u64(q->s[stmt], 2, limit);
	rc = run(q, stmt);
	if (rc == VL_OK)
		*deleted = (size_t)sqlite3_changes64(q->db);
	rc = op_end(q, rc);
	if (rc)
		*deleted = 0;
	return rc;
}

/* Timed records first, by key: those whose id's time is more than
 * SENT_PAST_MS before the window's start (seconds) came before it. Then
 * the others, by age, with what is left of the limit. */
static int sq_sent_prune(struct vl_store *st, uint64_t before, size_t limit, size_t *deleted)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	uint64_t ms = before > UINT64_MAX / 1000u ? UINT64_MAX : before * 1000u;
	ms = ms > SENT_PAST_MS ? ms - SENT_PAST_MS : 0;
	if (ms > 0xffffffffffffu)
		ms = 0xffffffffffffu;
	uint8_t bound[6];
	for (int i = 0; i < 6; i++)
		bound[i] = (uint8_t)(ms >> (40 - 8 * i));
	bind_blob(q->s[S_SENT_PRUNE], 1, bound, sizeof bound);
	size_t timed;
	int rc = prune_run(q, S_SENT_PRUNE, limit, &timed);
	if (rc || timed >= limit) {
		*deleted = timed;
		return rc;
	}
	bind_u64(q->s[S_SENT_ODD_PRUNE], 1, before);
	rc = prune_run(q, S_SENT_ODD_PRUNE, limit - timed, deleted);
	*deleted += timed;
	return rc;
}

static int sq_invite_prune(struct vl_store *st, uint64_t now, size_t limit, size_t *deleted)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	bind_u64(q->s[S_INVITE_PRUNE], 1, now);
	return prune_run(q, S_INVITE_PRUNE, limit, deleted);
}

/* --- backup --------------------------------------------------------------- */

/* fsyncs path and the folder holding it; *bytes is path's size. */
static int sync_file_and_dir(const char *path, uint64_t *bytes)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return VL_ERR_IO;
	struct stat sb;
	int rc = fsync(fd) == 0 && fstat(fd, &sb) == 0 ? VL_OK : VL_ERR_IO;
	close(fd);
	if (rc)
		return rc;
	*bytes = (uint64_t)sb.st_size;
	char dir[4096] = ".";
	const char *slash = strrchr(path, '/');
	if (slash == path) {
		strcpy(dir, "/");
	} else if (slash) {
		size_t n = (size_t)(slash - path);
		if (n >= sizeof dir)
			return VL_ERR_IO;
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return VL_ERR_IO;
	rc = fsync(fd) == 0 ? VL_OK : VL_ERR_IO;
	close(fd);
	return rc;
}

/* SQLite's online backup, all pages in one step: one read snapshot of the
 * source, so a server writing meanwhile neither waits nor shows through.
 * The copy is then switched from WAL to a rollback journal, so it is one
 * self-contained file; valised puts it back in WAL mode when it opens it. */
/* Calls blob with each blob id the database db records. */
static int each_blob(sqlite3 *db, vl_store_blob_each_fn blob, void *ctx)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(db, "SELECT DISTINCT id FROM blobs", -1, &s, NULL) != SQLITE_OK)
		return VL_ERR_STORE;
	int rc = VL_OK, step;
	while (rc == VL_OK && (step = sqlite3_step(s)) == SQLITE_ROW)
		rc = blob(ctx, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
	if (rc == VL_OK && step != SQLITE_DONE)
		rc = VL_ERR_STORE;
	sqlite3_finalize(s);
	return rc;
}

static int sq_backup(struct vl_store *st, const char *dest, vl_store_blob_each_fn blob, void *ctx,
                     uint64_t *bytes)
{
	struct sq *q = SQ(st);
	NEED_STMTS(q);
	if (q->in_batch)
		return VL_ERR_STATE;
	int fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? VL_ERR_EXISTS : VL_ERR_IO;
	close(fd);
	sqlite3 *out = NULL;
	int rc = VL_ERR_IO;
	if (sqlite3_open_v2(dest, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) ==
	    SQLITE_OK) {
		sqlite3_backup *b = sqlite3_backup_init(out, "main", q->db, "main");
		rc = b && sqlite3_backup_step(b, -1) == SQLITE_DONE ? VL_OK : VL_ERR_STORE;
		if (b && sqlite3_backup_finish(b) != SQLITE_OK)
			rc = VL_ERR_STORE;
		if (rc == VL_OK && exec_sql(out, "PRAGMA journal_mode=DELETE;") != VL_OK)
			rc = VL_ERR_IO;
		if (rc == VL_OK && blob)
			rc = each_blob(out, blob, ctx);
	}
	if (sqlite3_close(out) != SQLITE_OK && rc == VL_OK)
		rc = VL_ERR_IO;
	if (rc == VL_OK)
		rc = sync_file_and_dir(dest, bytes);
	if (rc)
		unlink(dest);
	return rc;
}

const struct vl_store_backend vl_store_sqlite_backend = {
    .name = "sqlite",
    .open = sq_open,
    .free = sq_free,
    .schema_version = sq_schema_version,
    .batch_begin = sq_batch_begin,
    .batch_commit = sq_batch_commit,
    .batch_rollback = sq_batch_rollback,
    .invite_create = sq_invite_create,
    .invite_cancel = sq_invite_cancel,
    .device_register = sq_device_register,
    .device_get = sq_device_get,
    .device_list = sq_device_list,
    .user_get = sq_user_get,
    .user_list = sq_user_list,
    .device_revoke = sq_device_revoke,
    .kp_add = sq_kp_add,
    .kp_count = sq_kp_count,
    .kp_claim = sq_kp_claim,
    .group_create = sq_group_create,
    .group_epoch = sq_group_epoch,
    .group_is_member = sq_group_is_member,
    .commit_apply = sq_commit_apply,
    .send = sq_send,
    .proposal_send = sq_proposal_send,
    .proposal_get = sq_proposal_get,
    .group_leaves = sq_group_leaves,
    .queue_fetch = sq_queue_fetch,
    .queue_ack = sq_queue_ack,
    .queue_count = sq_queue_count,
    .blob_usage = sq_blob_usage,
    .blob_add = sq_blob_add,
    .blob_exists = sq_blob_exists,
    .blob_prune = sq_blob_prune,
    .sent_prune = sq_sent_prune,
    .invite_prune = sq_invite_prune,
    .backup = sq_backup,
    .stats = sq_stats,
    .sync_defer = sq_sync_defer,
    .sync = sq_sync,
};
