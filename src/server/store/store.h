/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's storage interface: accounts and devices, invites, the
 * KeyPackage directory, groups with their epoch and roster, per-device
 * delivery queues, and blob metadata. Delivery code calls only these
 * functions; a backend (sqlite.c today, a PostgreSQL one later) implements
 * them behind struct vl_store_backend (store_backend.h).
 *
 * Design:
 *  1. Every operation is atomic on its own: it either has its whole effect
 *     or none. Inside a batch (below) an operation that is refused (not
 *     found, not permitted, stale epoch, a broken constraint...) leaves
 *     nothing behind and the others of the batch still commit. A failure
 *     of the database itself (I/O, memory) while SEND writes fails the
 *     whole batch instead: SEND, the hot path, has no savepoint of its own.
 *  2. Durability comes in batches (group commit). A batch is opened with
 *     vl_store_batch_begin and made durable by vl_store_batch_commit: one
 *     fsync for every operation of the batch, whatever connection asked.
 *     An operation called outside a batch commits (and syncs) by itself.
 *     Inside a batch, ACKs are applied when the batch commits (or before
 *     any other operation that could see the queues), a device's several
 *     ACKs as one.
 *  3. The batch executor (struct vl_store_exec) runs submitted jobs on its
 *     own thread, as many per batch as are waiting (up to batch_max, and
 *     for at most batch_us), and reports each job only after its batch is
 *     durable. So the event loop never waits for the disk, and a reply
 *     that depends on a write is sent only once that write is on disk.
 *  4. A store handle is used by one thread at a time: the executor's
 *     thread while an executor runs on it, else its opener. It is the only
 *     writer of its database's groups, members and devices (the sqlite
 *     backend caches group rosters on that ground).
 *  5. Queue sequence numbers are the ids of stored messages: they only
 *     grow (never reused, even after deletion, a rolled-back batch or a
 *     restart), so each device's queue is ordered, with gaps.
 *  6. Revoked devices never receive queue entries, cannot authenticate
 *     and hold no KeyPackages; their names stay taken.
 *  7. Idempotency records (of accepted SENDs and COMMITs) are kept until
 *     pruned by age (vl_store_sent_prune; the executor does it).
 *
 * Strings (addresses, device names) are NUL-terminated; the protocol
 * layer has checked their syntax. Byte arrays come with their length.
 */
#ifndef VL_STORE_H
#define VL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "valise/status.h"

#define VL_STORE_ADDRESS_MAX  255
#define VL_STORE_DEVICE_MAX   64
#define VL_STORE_KEY_MAX      133
#define VL_STORE_GROUP_ID_MAX 255
#define VL_STORE_BLOB_ID_MAX  64 /* valised's are 32: SHA-256 */
/* Proposals recorded per group and epoch (vl_store_proposal_send). */
#define VL_STORE_PROPOSALS_MAX 1024

struct vl_store;

struct vl_store_config {
	const char *backend; /* "sqlite" (the only one so far) */
	const char *path;    /* sqlite: database file */
	/* sqlite: migrate only up to this schema version (0: the latest).
	 * For migration tests. */
	unsigned max_version;
	/* Message ids (the queues' sequence numbers) given from now on are
	 * above this, whatever the store last gave (0: no floor). valised
	 * passes one from the clock, so that ids never go back after the
	 * store is restored from a backup (docs/internals/store.md). */
	uint64_t min_msg_id;
};

/* Opens (creating and migrating as needed) a store. VL_ERR_UNSUPPORTED for
 * an unknown backend, VL_ERR_STORE if the database cannot be opened or is
 * newer than this program. *out is owned by the caller (vl_store_free). */
VL_MUST_CHECK int vl_store_open(const struct vl_store_config *cfg, struct vl_store **out);
void vl_store_free(struct vl_store *st);
/* Schema version of the open database. */
unsigned vl_store_schema_version(struct vl_store *st);
/* The latest schema version this program knows. */
unsigned vl_store_schema_latest(void);

/* Group commit. begin opens a batch (VL_ERR_STATE if one is open);
 * commit makes everything since begin durable with one sync; rollback
 * drops it. */
VL_MUST_CHECK int vl_store_batch_begin(struct vl_store *st);
VL_MUST_CHECK int vl_store_batch_commit(struct vl_store *st);
void vl_store_batch_rollback(struct vl_store *st);

#define VL_STORE_ERROR_MAX 160
struct vl_store_stats {
	uint64_t commits;       /* durable commits (each one fsync) */
	uint64_t operations;    /* operations run */
	uint64_t pages_written; /* sqlite: database pages written to the WAL */
	/* sqlite: checkpoints (WAL frames copied into the database) made by
	 * the checkpointer thread while durability is deferred, and their
	 * wall time; and those made inside a commit, which stall the store
	 * (at the WAL's bound, or all of them without a checkpointer). */
	uint64_t checkpoints, checkpoint_ns, commit_checkpoints;
	/* Failures of the storage itself (disk full, I/O error, corruption;
	 * for sqlite, of every database of the process), and the backend's
	 * words for the last one: no user data, fit for a log. */
	uint64_t faults;
	char last_fault[VL_STORE_ERROR_MAX];
};
/* A snapshot; callable from any thread (the operation counters may lag
 * while another thread uses the store). */
void vl_store_stats_get(struct vl_store *st, struct vl_store_stats *out);

/* --- accounts and devices ------------------------------------------------ */

struct vl_store_device {
	int64_t id;
	int64_t user_id;
	char user[VL_STORE_ADDRESS_MAX + 1];
	char name[VL_STORE_DEVICE_MAX + 1];
	uint16_t suite;
	uint8_t sig_pub[VL_STORE_KEY_MAX];
	size_t sig_pub_len;
	uint64_t created; /* Unix seconds */
	bool revoked;
	uint64_t acked_seq;
};

/* Records a one-time invite for user. key is what identifies the code
 * (the server passes a hash of it, never the code). VL_ERR_EXISTS if the
 * key is taken. */
VL_MUST_CHECK int vl_store_invite_create(struct vl_store *st, const uint8_t *key, size_t key_len,
                                         const char *user, uint64_t expires, uint64_t now);

/* Deletes every unused invite of user, whoever issued it (the operator or
 * one of its devices); *cancelled is how many there were. */
VL_MUST_CHECK int vl_store_invite_cancel(struct vl_store *st, const char *user,
                                         unsigned *cancelled);

/* Consumes the invite and registers device `name` of `user` (creating the
 * user on its first device) with its signature key. Returns VL_ERR_AUTH if
 * the invite is unknown, used, expired or for another user; VL_ERR_EXISTS
 * if the device name is taken (revoked names included); VL_ERR_LIMIT if the
 * user has max_devices devices that are not revoked. On success *out is
 * the new device. On failure nothing changes (the invite stays usable). */
VL_MUST_CHECK int vl_store_device_register(struct vl_store *st, const uint8_t *key, size_t key_len,
                                           const char *user, const char *name, uint16_t suite,
                                           const uint8_t *sig_pub, size_t sig_pub_len,
                                           unsigned max_devices, uint64_t now,
                                           struct vl_store_device *out);

/* Looks up a device by names. VL_ERR_NOT_FOUND if absent (revoked devices
 * are found; check ->revoked). */
VL_MUST_CHECK int vl_store_device_get(struct vl_store *st, const char *user, const char *name,
                                      struct vl_store_device *out);

/* Calls fn for every device of user (revoked included), in creation order.
 * A non-zero return from fn stops the walk and is returned. */
typedef int (*vl_store_device_fn)(void *ctx, const struct vl_store_device *d);
VL_MUST_CHECK int vl_store_device_list(struct vl_store *st, int64_t user_id, vl_store_device_fn fn,
                                       void *ctx);

/* The id of user (an address); VL_ERR_NOT_FOUND if it has never had a
 * device. */
VL_MUST_CHECK int vl_store_user_get(struct vl_store *st, const char *user, int64_t *user_id);

/* A user as the operator sees it. */
struct vl_store_user {
	char address[VL_STORE_ADDRESS_MAX + 1];
	uint64_t created;         /* its first device's registration, Unix seconds */
	unsigned active, revoked; /* devices */
	uint64_t blob_bytes;      /* what its blobs count against its quota */
};

/* Calls fn for every user that ever had a device, by address. A non-zero
 * return from fn stops the walk and is returned. */
typedef int (*vl_store_user_fn)(void *ctx, const struct vl_store_user *u);
VL_MUST_CHECK int vl_store_user_list(struct vl_store *st, vl_store_user_fn fn, void *ctx);

/* Revokes device `name` of the user: deletes its KeyPackages and queue.
 * VL_ERR_NOT_FOUND if no such device; VL_OK if it was already revoked.
 * *device_id (if not NULL) is set to the revoked device's id. */
VL_MUST_CHECK int vl_store_device_revoke(struct vl_store *st, int64_t user_id, const char *name,
                                         int64_t *device_id);

/* --- KeyPackage directory ------------------------------------------------ */

struct vl_store_kp {
	bool last_resort;
	const uint8_t *data;
	size_t len;
};

/* Stores KeyPackages of a device (already checked by the caller). A
 * last-resort package replaces the device's previous one. *stock is set to
 * the device's count of ordinary packages afterwards. */
VL_MUST_CHECK int vl_store_kp_add(struct vl_store *st, int64_t device_id,
                                  const struct vl_store_kp *kps, size_t n, uint32_t *stock);

/* Count of a device's ordinary (not last-resort) packages. */
VL_MUST_CHECK int vl_store_kp_count(struct vl_store *st, int64_t device_id, uint32_t *stock);

/* Claims one package for every non-revoked device of user, atomically: an
 * ordinary one (deleted) if any, else the last-resort one (kept). fn is
 * called per device with the package and that device's remaining ordinary
 * stock; the data pointer is valid only during the call. VL_ERR_NOT_FOUND
 * if the user does not exist or no device had a package. */
typedef int (*vl_store_claim_fn)(void *ctx, const struct vl_store_device *d, const uint8_t *kp,
                                 size_t kp_len, uint32_t stock_left);
VL_MUST_CHECK int vl_store_kp_claim(struct vl_store *st, const char *user, vl_store_claim_fn fn,
                                    void *ctx);

/* --- groups and delivery ----------------------------------------------- */

/* Called for every queue entry an operation creates: the recipient device
 * and the entry's sequence number. */
typedef void (*vl_store_queued_fn)(void *ctx, int64_t device_id, uint64_t seq, uint8_t kind);

/* Creates a group at epoch 0 with creator as its only member, at MLS
 * leaf 0 (RFC 9420 §11: the creator's one-member tree).
 * VL_ERR_EXISTS if the group id is taken. */
VL_MUST_CHECK int vl_store_group_create(struct vl_store *st, const uint8_t *gid, size_t gid_len,
                                        int64_t creator, uint64_t now);

/* Current epoch of a group; VL_ERR_NOT_FOUND if unknown. */
VL_MUST_CHECK int vl_store_group_epoch(struct vl_store *st, const uint8_t *gid, size_t gid_len,
                                       uint64_t *epoch);
/* True (VL_OK) if device is a member of the group, VL_ERR_NOT_FOUND if
 * not (or no such group). */
VL_MUST_CHECK int vl_store_group_is_member(struct vl_store *st, const uint8_t *gid, size_t gid_len,
                                           int64_t device_id);

/* Calls fn for every member of the group (revoked devices included: they
 * hold their leaf until a commit removes them) with its MLS leaf index, or
 * -1 where the leaf is not known (members of a group created before the
 * store recorded leaves). Order unspecified. *epoch is set to the group's
 * current epoch. A non-zero return from fn stops the walk and is returned.
 * VL_ERR_NOT_FOUND if no such group. */
typedef int (*vl_store_leaf_fn)(void *ctx, int64_t device_id, int64_t leaf);
VL_MUST_CHECK int vl_store_group_leaves(struct vl_store *st, const uint8_t *gid, size_t gid_len,
                                        uint64_t *epoch, vl_store_leaf_fn fn, void *ctx);

struct vl_store_device_name {
	const char *user, *name;
};

struct vl_store_commit {
	const uint8_t *gid;
	size_t gid_len;
	uint64_t epoch;
	int64_t sender;
	const uint8_t *client_msg_id; /* 16 octets */
	const uint8_t *commit;
	size_t commit_len;
	const struct vl_store_device_name *added;
	size_t n_added;
	/* The MLS leaf each added device takes (n_added entries), or NULL
	 * if the group's leaves are not known. */
	const uint32_t *added_leaves;
	const struct vl_store_device_name *removed;
	size_t n_removed;
	const uint8_t *welcome; /* NULL if none */
	size_t welcome_len;
};

/* Accepts a commit if its epoch is the group's current one, in one atomic
 * step: the epoch advances, added devices become members and removed ones
 * stop being members, the commit is queued for every other member of the
 * old roster and the Welcome for every added device, the proposals
 * recorded for the old epoch are dropped. *new_epoch is set.
 * A retry (same sender and client_msg_id) of an accepted commit returns
 * VL_OK with the epoch it produced and *duplicate set, queueing nothing.
 * Errors: VL_ERR_NOT_FOUND (no such group), VL_ERR_PERMISSION (sender not
 * a member), VL_ERR_STALE_EPOCH (an earlier epoch), VL_ERR_EPOCH_AHEAD (a
 * later one: the store lost commits, as after a restore from a backup),
 * VL_ERR_INVALID (an added device that does
 * not exist, is revoked or already a member and not removed by the same
 * commit; a removed device that is not a member; the sender removing
 * itself while adding others). Removes apply before Adds, so one commit
 * may remove a device and add it again (RFC 9420 §12.2). */
VL_MUST_CHECK int vl_store_commit_apply(struct vl_store *st, const struct vl_store_commit *c,
                                        vl_store_queued_fn fn, void *ctx, uint64_t *new_epoch,
                                        bool *duplicate);

/* Queues an application message made in MLS epoch `epoch` for every
 * member of the group but the sender. A retry with the same client_msg_id
 * of an accepted message queues nothing and sets *duplicate, whatever the
 * group's epoch is by then. VL_ERR_NOT_FOUND (no such group),
 * VL_ERR_PERMISSION (sender not a member), VL_ERR_STALE_EPOCH or
 * VL_ERR_EPOCH_AHEAD (epoch is before or after the group's current one, as
 * for vl_store_commit_apply; nothing is stored or recorded). */
VL_MUST_CHECK int vl_store_send(struct vl_store *st, const uint8_t *gid, size_t gid_len,
                                uint64_t epoch, int64_t sender, const uint8_t *client_msg_id,
                                const uint8_t *msg, size_t msg_len, vl_store_queued_fn fn,
                                void *ctx, bool *duplicate);

/* vl_store_send for a PublicMessage proposal (RFC 9420 §12.1), which in
 * the same atomic step is recorded under its ProposalRef `ref` for the
 * group's current epoch, so that a commit of that epoch may include it
 * by reference (vl_store_proposal_get). A retry of an accepted one records
 * nothing new. Errors as vl_store_send, and VL_ERR_LIMIT when the group
 * already holds VL_STORE_PROPOSALS_MAX proposals in this epoch (nothing is
 * then queued). */
VL_MUST_CHECK int vl_store_proposal_send(struct vl_store *st, const uint8_t *gid, size_t gid_len,
                                         uint64_t epoch, int64_t sender,
                                         const uint8_t *client_msg_id, const uint8_t *msg,
                                         size_t msg_len, const uint8_t *ref, size_t ref_len,
                                         vl_store_queued_fn fn, void *ctx, bool *duplicate);
/* Calls fn with the device that sent the proposal recorded under ref for
 * the group at epoch, and the proposal message (the pointer is valid only
 * during the call); returns what fn returns, or VL_ERR_NOT_FOUND if there
 * is none. */
typedef int (*vl_store_proposal_fn)(void *ctx, int64_t sender, const uint8_t *data, size_t len);
VL_MUST_CHECK int vl_store_proposal_get(struct vl_store *st, const uint8_t *gid, size_t gid_len,
                                        uint64_t epoch, const uint8_t *ref, size_t ref_len,
                                        vl_store_proposal_fn fn, void *ctx);

struct vl_store_entry {
	uint64_t seq;
	uint8_t kind; /* enum vl_delivery_kind */
	const uint8_t *gid;
	size_t gid_len;
	const char *sender_user, *sender_name;
	const uint8_t *msg;
	size_t msg_len;
};
/* Calls fn for up to limit entries of the device's queue with seq > after,
 * in order; pointers are valid only during the call. A non-zero return
 * from fn stops the walk and is returned. */
typedef int (*vl_store_entry_fn)(void *ctx, const struct vl_store_entry *e);
VL_MUST_CHECK int vl_store_queue_fetch(struct vl_store *st, int64_t device_id, uint64_t after,
                                       size_t limit, vl_store_entry_fn fn, void *ctx);
/* Deletes the device's entries up to and including seq and records seq as
 * acknowledged (it never moves backwards). */
VL_MUST_CHECK int vl_store_queue_ack(struct vl_store *st, int64_t device_id, uint64_t seq);
/* Number of entries in the device's queue. */
VL_MUST_CHECK int vl_store_queue_count(struct vl_store *st, int64_t device_id, uint64_t *count);

/* --- blobs ---------------------------------------------------------------- */

/* Bytes of blobs the user has stored (its quota use). */
VL_MUST_CHECK int vl_store_blob_usage(struct vl_store *st, int64_t user_id, uint64_t *bytes);
/* Records blob id (content address) of size bytes for user, adding to its
 * usage, unless the same user already has it (then *existed is set, the
 * record's time becomes now and the usage stays). VL_ERR_LIMIT if the
 * usage would exceed quota. */
VL_MUST_CHECK int vl_store_blob_add(struct vl_store *st, const uint8_t *id, size_t id_len,
                                    int64_t user_id, uint64_t size, uint64_t quota, uint64_t now,
                                    bool *existed);
/* VL_OK if a blob with this id is recorded, VL_ERR_NOT_FOUND if not. */
VL_MUST_CHECK int vl_store_blob_exists(struct vl_store *st, const uint8_t *id, size_t id_len);
typedef void (*vl_store_blob_gone_fn)(void *ctx, const uint8_t *id, size_t id_len);
/* Retention: deletes up to limit blob records made (or last uploaded
 * again, vl_store_blob_add) before `before` (Unix seconds), oldest first,
 * each giving its size back to its user's usage; *deleted is how many.
 * For each id that no user holds any more, calls gone (the caller deletes
 * the file) before returning. VL_ERR_STORE on a database failure. */
VL_MUST_CHECK int vl_store_blob_prune(struct vl_store *st, uint64_t before, size_t limit,
                                      vl_store_blob_gone_fn gone, void *ctx, size_t *deleted);

/* --- maintenance ------------------------------------------------------- */

/* Deletes up to limit idempotency records (of SENDs and COMMITs) recorded
 * before `before` (Unix seconds), oldest first; *deleted is how many. A
 * retry of a message whose record is gone is treated as a new message.
 * VL_ERR_STORE on a database failure (nothing deleted then). */
VL_MUST_CHECK int vl_store_sent_prune(struct vl_store *st, uint64_t before, size_t limit,
                                      size_t *deleted);
/* Deletes up to limit invites that expired before `now` (Unix seconds),
 * used or not, the longest-expired first; *deleted is how many. Such an
 * invite registers nothing either way (vl_store_device_register): the
 * table then holds only the invites of the last invite_ttl. VL_ERR_STORE
 * on a database failure (nothing deleted then). */
VL_MUST_CHECK int vl_store_invite_prune(struct vl_store *st, uint64_t now, size_t limit,
                                        size_t *deleted);

/* Called by vl_store_backup with each blob id its copy records; VL_OK to
 * go on, anything else to stop the backup with that status. */
typedef int (*vl_store_blob_each_fn)(void *ctx, const uint8_t *id, size_t id_len);
/* Writes a copy of the whole store, as of one moment, to a new database
 * file at dest and syncs it; *bytes is its size. A server may go on using
 * the store meanwhile (the copy reads one snapshot; SQLite's WAL lets the
 * writer continue). If blob is set, it is called once for each blob id
 * the copy records (the blobs of that moment, whatever has been stored or
 * deleted since), before the file is synced. VL_ERR_EXISTS if dest
 * exists, VL_ERR_IO if it cannot be written, VL_ERR_STORE on a database
 * failure, or blob's status: nothing is left at dest on any failure. */
VL_MUST_CHECK int vl_store_backup(struct vl_store *st, const char *dest, vl_store_blob_each_fn blob,
                                  void *ctx, uint64_t *bytes);

/* --- batch executor (group commit off the caller's thread) -------------- */

struct vl_store_job;
/* Runs on the executor thread inside an open batch; its status becomes
 * the job's status. */
typedef int (*vl_store_job_run_fn)(struct vl_store *st, struct vl_store_job *job);
/* Runs on an executor thread (the store thread, or the syncer when the
 * backend defers durability) once the job's batch is durable (or failed
 * to commit: then status is VL_ERR_STORE), jobs in the order their batches
 * committed. The job is the caller's again. */
typedef void (*vl_store_job_done_fn)(struct vl_store_job *job);

struct vl_store_job {
	vl_store_job_run_fn run;
	vl_store_job_done_fn done;
	void *ctx;
	int status;
	struct vl_store_job *next; /* executor's use */
	/* Monotonic nanoseconds, set by the executor for latency metrics:
	 * submitted, its batch started, its batch's SQL done, its batch
	 * durable. Read them in done or after. */
	uint64_t t_submit, t_start, t_run, t_durable;
};

/* A latency histogram in microseconds (Prometheus-style cumulative on
 * output; here each bucket counts only its own range). */
#define VL_STORE_HIST_BUCKETS 19
extern const uint32_t vl_store_hist_bounds_us[VL_STORE_HIST_BUCKETS]; /* last: no bound */
struct vl_store_hist {
	uint64_t count[VL_STORE_HIST_BUCKETS];
	uint64_t sum_us, n;
};
/* Counts one observation of ns nanoseconds. */
void vl_store_hist_add(struct vl_store_hist *h, uint64_t ns);
/* Monotonic clock in nanoseconds (the one the t_* fields use). */
uint64_t vl_store_mono_ns(void);

struct vl_store_exec;

struct vl_store_exec_config {
	size_t batch_max;   /* jobs of one batch at most */
	unsigned batch_us;  /* a batch takes no more jobs once it has run this
	                     * many microseconds (0: no time limit) */
	uint64_t sent_ttl;  /* seconds an idempotency record is kept before
	                     * pruning (0: kept forever) */
	size_t prune_chunk; /* idempotency records, and invites, deleted per batch at most */
	/* A batch starts at the earliest batch_gap_us after the previous one
	 * started (0: at once), or as soon as batch_gap_jobs wait. */
	unsigned batch_gap_us;
	size_t batch_gap_jobs;
};
/* batch_max 16384, batch_us 0 (no time limit: measured with bench_loadgen,
 * a 2 ms limit cost a quarter of the throughput and gained no latency),
 * sent_ttl 86400 (24 h), prune_chunk 2000. */
void vl_store_exec_config_defaults(struct vl_store_exec_config *cfg);

/* Starts an executor thread on st (which it uses exclusively until
 * vl_store_exec_free). When the backend can defer durability (sqlite on
 * a file), a second thread syncs committed batches while the first runs
 * the next one (an fsync failure then aborts the process: see
 * docs/internals/store.md). Besides the jobs, the thread prunes idempotency
 * records older than cfg->sent_ttl (vl_store_sent_prune) and expired
 * invites (vl_store_invite_prune), at most prune_chunk of each per batch,
 * about once a second while there are some, even when no job arrives. VL_ERR_NOMEM if the thread cannot start. */
VL_MUST_CHECK int vl_store_exec_start(struct vl_store *st, const struct vl_store_exec_config *cfg,
                                      struct vl_store_exec **out);
/* vl_store_exec_start with the defaults but batch_max. */
VL_MUST_CHECK int vl_store_exec_new(struct vl_store *st, size_t batch_max,
                                    struct vl_store_exec **out);
/* Queues a job (thread-safe). VL_ERR_STATE after vl_store_exec_free began. */
VL_MUST_CHECK int vl_store_exec_submit(struct vl_store_exec *x, struct vl_store_job *job);
struct vl_store_exec_stats {
	uint64_t batches;   /* group commits (each one fsync when it wrote) */
	uint64_t jobs;      /* jobs completed */
	uint64_t max_batch; /* largest batch so far */
	uint64_t failed_batches;
	uint64_t cpu_ns;         /* CPU time of the executor thread so far */
	uint64_t sent_pruned;    /* idempotency records deleted by age */
	uint64_t invites_pruned; /* expired invites deleted */
	uint64_t run_ns;         /* wall time running jobs (and pruning) */
	uint64_t commit_ns;      /* wall time committing (pending ACKs, WAL write, fsync) */
	/* Per job: submitted -> batch start, batch start -> batch SQL done,
	 * SQL done -> durable (commit and fsync). */
	struct vl_store_hist wait, run, commit;
	/* Deferred durability (the syncer; 0 when the backend cannot defer):
	 * syncs made, their wall time, and per job commit done -> synced. In
	 * that mode commit_ns and the commit histogram hold only the commit's
	 * WAL write, and t_durable is the end of the job's sync. */
	uint64_t syncs;
	uint64_t sync_ns;
	struct vl_store_hist sync;
};
/* A consistent snapshot (thread-safe). */
void vl_store_exec_stats_get(struct vl_store_exec *x, struct vl_store_exec_stats *out);
/* Runs every job already submitted, then stops the thread. Accepts NULL. */
void vl_store_exec_free(struct vl_store_exec *x);

#endif
