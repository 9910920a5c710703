/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a storage backend provides: one function per store operation, with
 * the contract documented in store.h. A backend's handle embeds struct
 * vl_store as its first member, so store.c dispatches through be without
 * knowing the backend. Adding a backend (PostgreSQL) means one file with
 * one of these tables and a line in store.c's backend list.
 */
#ifndef VL_STORE_BACKEND_H
#define VL_STORE_BACKEND_H

#include "server/store/store.h"

struct vl_store_backend {
	const char *name;
	int (*open)(const struct vl_store_config *cfg, struct vl_store **out);
	void (*free)(struct vl_store *st);
	unsigned (*schema_version)(struct vl_store *st);
	int (*batch_begin)(struct vl_store *st);
	int (*batch_commit)(struct vl_store *st);
	void (*batch_rollback)(struct vl_store *st);
	int (*invite_create)(struct vl_store *st, const uint8_t *key, size_t key_len,
	                     const char *user, uint64_t expires, uint64_t now);
	int (*invite_cancel)(struct vl_store *st, const char *user, unsigned *cancelled);
	int (*device_register)(struct vl_store *st, const uint8_t *key, size_t key_len,
	                       const char *user, const char *name, uint16_t suite,
	                       const uint8_t *sig_pub, size_t sig_pub_len, unsigned max_devices,
	                       uint64_t now, struct vl_store_device *out);
	int (*device_get)(struct vl_store *st, const char *user, const char *name,
	                  struct vl_store_device *out);
	int (*device_list)(struct vl_store *st, int64_t user_id, vl_store_device_fn fn, void *ctx);
	int (*user_get)(struct vl_store *st, const char *user, int64_t *user_id);
	int (*user_list)(struct vl_store *st, vl_store_user_fn fn, void *ctx);
	int (*device_revoke)(struct vl_store *st, int64_t user_id, const char *name,
	                     int64_t *device_id);
	int (*kp_add)(struct vl_store *st, int64_t device_id, const struct vl_store_kp *kps,
	              size_t n, uint32_t *stock);
	int (*kp_count)(struct vl_store *st, int64_t device_id, uint32_t *stock);
	int (*kp_claim)(struct vl_store *st, const char *user, vl_store_claim_fn fn, void *ctx);
	int (*group_create)(struct vl_store *st, const uint8_t *gid, size_t gid_len,
	                    int64_t creator, uint64_t now);
	int (*group_epoch)(struct vl_store *st, const uint8_t *gid, size_t gid_len,
	                   uint64_t *epoch);
	int (*group_is_member)(struct vl_store *st, const uint8_t *gid, size_t gid_len,
	                       int64_t device_id);
	int (*commit_apply)(struct vl_store *st, const struct vl_store_commit *c,
	                    vl_store_queued_fn fn, void *ctx, uint64_t *new_epoch, bool *duplicate);
	int (*send)(struct vl_store *st, const uint8_t *gid, size_t gid_len, uint64_t epoch,
	            int64_t sender, const uint8_t *client_msg_id, const uint8_t *msg,
	            size_t msg_len, vl_store_queued_fn fn, void *ctx, bool *duplicate);
	int (*proposal_send)(struct vl_store *st, const uint8_t *gid, size_t gid_len,
	                     uint64_t epoch, int64_t sender, const uint8_t *client_msg_id,
	                     const uint8_t *msg, size_t msg_len, const uint8_t *ref, size_t ref_len,
	                     vl_store_queued_fn fn, void *ctx, bool *duplicate);
	int (*proposal_get)(struct vl_store *st, const uint8_t *gid, size_t gid_len, uint64_t epoch,
	                    const uint8_t *ref, size_t ref_len, vl_store_proposal_fn fn, void *ctx);
	int (*group_leaves)(struct vl_store *st, const uint8_t *gid, size_t gid_len,
	                    uint64_t *epoch, vl_store_leaf_fn fn, void *ctx);
	int (*queue_fetch)(struct vl_store *st, int64_t device_id, uint64_t after, size_t limit,
	                   vl_store_entry_fn fn, void *ctx);
	int (*queue_ack)(struct vl_store *st, int64_t device_id, uint64_t seq);
	int (*queue_count)(struct vl_store *st, int64_t device_id, uint64_t *count);
	int (*blob_usage)(struct vl_store *st, int64_t user_id, uint64_t *bytes);
	int (*blob_add)(struct vl_store *st, const uint8_t *id, size_t id_len, int64_t user_id,
	                uint64_t size, uint64_t quota, uint64_t now, bool *existed);
	int (*blob_exists)(struct vl_store *st, const uint8_t *id, size_t id_len);
	int (*blob_prune)(struct vl_store *st, uint64_t before, size_t limit,
	                  vl_store_blob_gone_fn gone, void *ctx, size_t *deleted);
	int (*sent_prune)(struct vl_store *st, uint64_t before, size_t limit, size_t *deleted);
	int (*invite_prune)(struct vl_store *st, uint64_t now, size_t limit, size_t *deleted);
	int (*backup)(struct vl_store *st, const char *dest, vl_store_blob_each_fn blob, void *ctx,
	              uint64_t *bytes);
	void (*stats)(struct vl_store *st, struct vl_store_stats *out);
	/* Deferred durability (optional; NULL: commits are durable when they
	 * return). sync_defer(st, true), outside a batch, makes batch_commit
	 * return before its log is synced, and then sync, callable from
	 * another thread while st runs a batch, makes every commit that
	 * returned before it began durable. VL_ERR_UNSUPPORTED when the
	 * store has no log file (":memory:"): commits stay durable on
	 * return. sync_defer(st, false) restores durable commits. */
	int (*sync_defer)(struct vl_store *st, bool on);
	int (*sync)(struct vl_store *st);
};

/* The part of every backend handle that store.c reads. */
struct vl_store {
	const struct vl_store_backend *be;
	struct vl_store_stats stats;
};

extern const struct vl_store_backend vl_store_sqlite_backend;
/* Latest schema version of the sqlite backend. */
unsigned vl_store_sqlite_latest(void);

#endif
