/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backend selection, dispatch of store operations, and the batch executor
 * that gives group commit: one thread takes every job waiting, runs them
 * inside one batch and commits once; when the backend can defer
 * durability, a second thread (the syncer) makes committed batches
 * durable with one fsync for all that wait, while the first runs the next
 * batch, and only then reports each job, in commit order.
 */
#include "server/store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <string.h>
#include <time.h>

#include "server/store/store_backend.h"

static const struct vl_store_backend *const backends[] = {&vl_store_sqlite_backend};

int vl_store_open(const struct vl_store_config *cfg, struct vl_store **out)
{
	*out = NULL;
	const char *name = cfg->backend ? cfg->backend : "sqlite";
	for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i]->open(cfg, out);
	return VL_ERR_UNSUPPORTED;
}

void vl_store_free(struct vl_store *st)
{
	if (st)
		st->be->free(st);
}

unsigned vl_store_schema_version(struct vl_store *st)
{
	return st->be->schema_version(st);
}

unsigned vl_store_schema_latest(void)
{
	return vl_store_sqlite_latest();
}

int vl_store_batch_begin(struct vl_store *st)
{
	return st->be->batch_begin(st);
}

int vl_store_batch_commit(struct vl_store *st)
{
	return st->be->batch_commit(st);
}

void vl_store_batch_rollback(struct vl_store *st)
{
	st->be->batch_rollback(st);
}

void vl_store_stats_get(struct vl_store *st, struct vl_store_stats *out)
{
	st->be->stats(st, out);
}

int vl_store_invite_create(struct vl_store *st, const uint8_t *key, size_t key_len,
                           const char *user, uint64_t expires, uint64_t now)
{
	return st->be->invite_create(st, key, key_len, user, expires, now);
}

int vl_store_invite_cancel(struct vl_store *st, const char *user, unsigned *cancelled)
{
	*cancelled = 0;
	return st->be->invite_cancel(st, user, cancelled);
}

int vl_store_device_register(struct vl_store *st, const uint8_t *key, size_t key_len,
                             const char *user, const char *name, uint16_t suite,
                             const uint8_t *sig_pub, size_t sig_pub_len, unsigned max_devices,
                             uint64_t now, struct vl_store_device *out)
{
	return st->be->device_register(st, key, key_len, user, name, suite, sig_pub, sig_pub_len,
	                               max_devices, now, out);
}

int vl_store_device_get(struct vl_store *st, const char *user, const char *name,
                        struct vl_store_device *out)
{
	return st->be->device_get(st, user, name, out);
}

int vl_store_device_list(struct vl_store *st, int64_t user_id, vl_store_device_fn fn, void *ctx)
{
	return st->be->device_list(st, user_id, fn, ctx);
}

int vl_store_user_get(struct vl_store *st, const char *user, int64_t *user_id)
{
	return st->be->user_get(st, user, user_id);
}

int vl_store_user_list(struct vl_store *st, vl_store_user_fn fn, void *ctx)
{
	return st->be->user_list(st, fn, ctx);
}

int vl_store_device_revoke(struct vl_store *st, int64_t user_id, const char *name,
                           int64_t *device_id)
{
	return st->be->device_revoke(st, user_id, name, device_id);
}

int vl_store_kp_add(struct vl_store *st, int64_t device_id, const struct vl_store_kp *kps, size_t n,
                    uint32_t *stock)
{
	return st->be->kp_add(st, device_id, kps, n, stock);
}

int vl_store_kp_count(struct vl_store *st, int64_t device_id, uint32_t *stock)
{
	return st->be->kp_count(st, device_id, stock);
}

int vl_store_kp_claim(struct vl_store *st, const char *user, vl_store_claim_fn fn, void *ctx)
{
	return st->be->kp_claim(st, user, fn, ctx);
}

int vl_store_group_create(struct vl_store *st, const uint8_t *gid, size_t gid_len, int64_t creator,
                          uint64_t now)
{
	return st->be->group_create(st, gid, gid_len, creator, now);
}

int vl_store_group_epoch(struct vl_store *st, const uint8_t *gid, size_t gid_len, uint64_t *epoch)
{
	return st->be->group_epoch(st, gid, gid_len, epoch);
}

int vl_store_group_is_member(struct vl_store *st, const uint8_t *gid, size_t gid_len,
                             int64_t device_id)
{
	return st->be->group_is_member(st, gid, gid_len, device_id);
}

int vl_store_commit_apply(struct vl_store *st, const struct vl_store_commit *c,
                          vl_store_queued_fn fn, void *ctx, uint64_t *new_epoch, bool *duplicate)
{
	return st->be->commit_apply(st, c, fn, ctx, new_epoch, duplicate);
}

int vl_store_send(struct vl_store *st, const uint8_t *gid, size_t gid_len, uint64_t epoch,
                  int64_t sender, const uint8_t *client_msg_id, const uint8_t *msg, size_t msg_len,
                  vl_store_queued_fn fn, void *ctx, bool *duplicate)
{
	return st->be->send(st, gid, gid_len, epoch, sender, client_msg_id, msg, msg_len, fn, ctx,
	                    duplicate);
}

int vl_store_proposal_send(struct vl_store *st, const uint8_t *gid, size_t gid_len, uint64_t epoch,
                           int64_t sender, const uint8_t *client_msg_id, const uint8_t *msg,
                           size_t msg_len, const uint8_t *ref, size_t ref_len,
                           vl_store_queued_fn fn, void *ctx, bool *duplicate)
{
	return st->be->proposal_send(st, gid, gid_len, epoch, sender, client_msg_id, msg, msg_len,
	                             ref, ref_len, fn, ctx, duplicate);
}

int vl_store_proposal_get(struct vl_store *st, const uint8_t *gid, size_t gid_len, uint64_t epoch,
                          const uint8_t *ref, size_t ref_len, vl_store_proposal_fn fn, void *ctx)
{
	return st->be->proposal_get(st, gid, gid_len, epoch, ref, ref_len, fn, ctx);
}

int vl_store_group_leaves(struct vl_store *st, const uint8_t *gid, size_t gid_len, uint64_t *epoch,
                          vl_store_leaf_fn fn, void *ctx)
{
	return st->be->group_leaves(st, gid, gid_len, epoch, fn, ctx);
}

int vl_store_queue_fetch(struct vl_store *st, int64_t device_id, uint64_t after, size_t limit,
                         vl_store_entry_fn fn, void *ctx)
{
	return st->be->queue_fetch(st, device_id, after, limit, fn, ctx);
}

int vl_store_queue_ack(struct vl_store *st, int64_t device_id, uint64_t seq)
{
	return st->be->queue_ack(st, device_id, seq);
}

int vl_store_queue_count(struct vl_store *st, int64_t device_id, uint64_t *count)
{
	return st->be->queue_count(st, device_id, count);
}

int vl_store_blob_usage(struct vl_store *st, int64_t user_id, uint64_t *bytes)
{
	return st->be->blob_usage(st, user_id, bytes);
}

int vl_store_blob_add(struct vl_store *st, const uint8_t *id, size_t id_len, int64_t user_id,
                      uint64_t size, uint64_t quota, uint64_t now, bool *existed)
{
	return st->be->blob_add(st, id, id_len, user_id, size, quota, now, existed);
}

int vl_store_blob_exists(struct vl_store *st, const uint8_t *id, size_t id_len)
{
	return st->be->blob_exists(st, id, id_len);
}

int vl_store_blob_prune(struct vl_store *st, uint64_t before, size_t limit,
                        vl_store_blob_gone_fn gone, void *ctx, size_t *deleted)
{
	return st->be->blob_prune(st, before, limit, gone, ctx, deleted);
}

int vl_store_sent_prune(struct vl_store *st, uint64_t before, size_t limit, size_t *deleted)
{
	return st->be->sent_prune(st, before, limit, deleted);
}

int vl_store_invite_prune(struct vl_store *st, uint64_t now, size_t limit, size_t *deleted)
{
	return st->be->invite_prune(st, now, limit, deleted);
}

int vl_store_backup(struct vl_store *st, const char *dest, vl_store_blob_each_fn blob, void *ctx,
                    uint64_t *bytes)
{
	return st->be->backup(st, dest, blob, ctx, bytes);
}

/* --- batch executor ------------------------------------------------------ */

/*
 * Latency: a job submitted while a batch runs waits for that batch and
 * then its own. With batch_us set, a batch stops taking jobs once it has
 * run that long: the jobs it has not run go back to the front of the
 * queue (in order) for the next batch, so no job waits behind more than
 * about two short batches after a burst. Off by default: under sustained
 * load smaller batches rewrite the same pages more often and cost more
 * per job than the wait they save (docs/internals/store.md).
 */
struct vl_store_exec {
	struct vl_store *st;
	struct vl_store_exec_config cfg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct vl_store_job *head, *tail; /* FIFO of submitted jobs */
	size_t queued;                    /* jobs in the FIFO */
	bool stopping;
	/* Where the store thread waits, so a submit wakes it only when it
	 * must: always when idle, while pacing only once enough jobs wait. */
	bool idle, pacing;
	uint64_t last_start_ns;           /* the last batch's start (store thread only) */
	struct vl_store_exec_stats stats; /* under mu */
	/* The syncer (deferred durability): FIFO of committed jobs waiting for
	 * their sync, under mu; sync_cv wakes the syncer. */
	bool deferred;
	pthread_t syncer;
	pthread_cond_t sync_cv;
	struct vl_store_job *sync_head, *sync_tail;
	bool sync_stopping;
	/* pruning (executor thread only) */
	uint64_t prune_next_ms; /* monotonic time of the next prune */
};

#define PRUNE_EVERY_MS 1000u

static uint64_t exec_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t vl_store_mono_ns(void)
{
	return exec_mono_ns();
}

/* Bucket upper bounds, chosen around the 10 ms p99 target. */
const uint32_t vl_store_hist_bounds_us[VL_STORE_HIST_BUCKETS] = {
    50,   100,   250,   500,   750,   1000,   1500,   2000,   3000, 5000,
    7500, 10000, 15000, 20000, 50000, 100000, 200000, 500000, 0};

void vl_store_hist_add(struct vl_store_hist *h, uint64_t ns)
{
	uint64_t us = ns / 1000u;
	size_t i = 0;
	while (i < VL_STORE_HIST_BUCKETS - 1 && us > vl_store_hist_bounds_us[i])
		i++;
	h->count[i]++;
	h->sum_us += us;
	h->n++;
}

void vl_store_exec_config_defaults(struct vl_store_exec_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->batch_max = 16384;
	cfg->batch_us = 0;
	cfg->sent_ttl = 24 * 3600;
	cfg->prune_chunk = 2000;
	cfg->batch_gap_us = 1000;
	cfg->batch_gap_jobs = 256;
}

void vl_store_exec_stats_get(struct vl_store_exec *x, struct vl_store_exec_stats *out)
{
	pthread_mutex_lock(&x->mu);
	*out = x->stats;
	pthread_mutex_unlock(&x->mu);
}

static bool prune_due(const struct vl_store_exec *x)
{
	return exec_mono_ns() / 1000000u >= x->prune_next_ms;
}

/* Takes up to batch_max jobs off the queue (in order). Returns NULL with
 * *prune set when only a prune is due, NULL without it when stopping with
 * nothing left. */
static void exec_wait_until(struct vl_store_exec *x, uint64_t mono_ns)
{
	struct timespec ts = {.tv_sec = (time_t)(mono_ns / 1000000000u),
	                      .tv_nsec = (long)(mono_ns % 1000000000u)};
	pthread_cond_timedwait(&x->cv, &x->mu, &ts); /* cv runs on CLOCK_MONOTONIC */
}

/*
 * Pacing (batch_gap_us): a batch starts at the earliest batch_gap_us after
 * the previous one started, or as soon as batch_gap_jobs wait. Each batch
 * costs about the same whatever it holds (BEGIN, the WAL frames of the
 * pages it dirtied, a handoff to the syncer, one fdatasync), so without a
 * gap the store thread takes every job the moment it is free: at 5,000
 * msg/s that was 5,300 batches and 2,900 syncs a second, the store thread
 * at 35 % of a core and the syncer at 22 %, CPU the event loop then
 * waited for (docs/internals/store.md). A job waits at most the gap for
 * its batch.
 */
static void exec_pace(struct vl_store_exec *x)
{
	if (!x->cfg.batch_gap_us || !x->last_start_ns)
		return;
	uint64_t due = x->last_start_ns + (uint64_t)x->cfg.batch_gap_us * 1000u;
	while (!x->stopping && x->queued < x->cfg.batch_gap_jobs && exec_mono_ns() < due) {
		x->pacing = true;
		exec_wait_until(x, due);
		x->pacing = false;
	}
}

static struct vl_store_job *exec_take(struct vl_store_exec *x, bool *prune)
{
	*prune = false;
	pthread_mutex_lock(&x->mu);
	while (!x->head && !x->stopping) {
		x->idle = true;
		/* Idle: wake for the next prune all the same, so old records
		 * go even when no traffic comes. */
		if (prune_due(x)) {
			x->idle = false;
			*prune = true;
			break;
		}
		exec_wait_until(x, exec_mono_ns() + PRUNE_EVERY_MS * 1000000ull);
		x->idle = false;
	}
	if (x->head)
		exec_pace(x);
	struct vl_store_job *first = x->head, *last = x->head;
	size_t n = first ? 1 : 0;
	while (last && last->next && n < x->cfg.batch_max) {
		last = last->next;
		n++;
	}
	if (first) {
		x->head = last->next;
		if (!x->head)
			x->tail = NULL;
		last->next = NULL;
		x->queued -= n;
		x->last_start_ns = exec_mono_ns();
	}
	pthread_mutex_unlock(&x->mu);
	if (first)
		*prune = prune_due(x);
	return first;
}

/* Puts jobs a batch did not run back at the front of the queue. */
static void exec_requeue(struct vl_store_exec *x, struct vl_store_job *first)
{
	struct vl_store_job *last = first;
	size_t n = 1;
	for (; last->next; n++)
		last = last->next;
	pthread_mutex_lock(&x->mu);
	x->queued += n;
	last->next = x->head;
	if (!x->head)
		x->tail = last;
	x->head = first;
	pthread_mutex_unlock(&x->mu);
}

/* Deletes one chunk of expired idempotency records (unless sent_ttl is 0)
 * and one of expired invites inside the open batch; *sent and *invites
 * are how many. A full chunk means more may wait: the next batch prunes
 * again. A failure is retried at the next prune time. */
static void exec_prune(struct vl_store_exec *x, size_t *sent, size_t *invites)
{
	uint64_t now = (uint64_t)time(NULL);
	size_t chunk = x->cfg.prune_chunk;
	*sent = *invites = 0;
	if (x->cfg.sent_ttl &&
	    vl_store_sent_prune(x->st, now > x->cfg.sent_ttl ? now - x->cfg.sent_ttl : 0, chunk,
	                        sent) != VL_OK)
		*sent = 0;
	if (vl_store_invite_prune(x->st, now, chunk, invites) != VL_OK)
		*invites = 0;
	bool more = chunk && (*sent == chunk || *invites == chunk);
	x->prune_next_ms = exec_mono_ns() / 1000000u + (more ? 0 : PRUNE_EVERY_MS);
}

/* Calls done() of each job of a list, in order. */
static void exec_complete(struct vl_store_job *j)
{
	while (j) {
		struct vl_store_job *next = j->next;
		j->next = NULL;
		j->done(j);
		j = next;
	}
}

/*
 * The syncer: takes every committed job waiting, syncs once (one sync
 * covers every batch committed before it began, so all of them), then
 * completes them in order. A send is thus answered, and its message
 * pushed, only once durable. A later batch may already have read what
 * these wrote (a duplicate SEND, an ACK); it completes only after its own
 * sync, which covers these frames too, so no client sees an answer a crash
 * could undo.
 *
 * A failed sync leaves the written frames in an unknown state while later
 * batches have already built on them: neither retrying (Linux may drop the
 * dirty pages and report the error once) nor failing these jobs alone
 * (the next batch's answers would rest on them) is safe. The process stops;
 * on restart SQLite recovers whatever the WAL durably holds, and clients
 * resend what was not acknowledged (sends are idempotent).
 */
static void *exec_sync_main(void *arg)
{
	struct vl_store_exec *x = arg;
	(void)prctl(PR_SET_NAME, "vl-store-sync", 0, 0, 0);
	for (;;) {
		pthread_mutex_lock(&x->mu);
		while (!x->sync_head && !x->sync_stopping)
			pthread_cond_wait(&x->sync_cv, &x->mu);
		struct vl_store_job *jobs = x->sync_head;
		x->sync_head = x->sync_tail = NULL;
		pthread_mutex_unlock(&x->mu);
		if (!jobs)
			return NULL; /* stopping, nothing left */
		uint64_t t0 = exec_mono_ns();
		if (x->st->be->sync(x->st) != VL_OK) {
			fputs("valised: store: syncing the write-ahead log failed; stopping\n",
			      stderr);
			abort();
		}
		uint64_t t1 = exec_mono_ns();
		pthread_mutex_lock(&x->mu);
		x->stats.syncs++;
		x->stats.sync_ns += t1 - t0;
		for (struct vl_store_job *j = jobs; j; j = j->next) {
			vl_store_hist_add(&x->stats.sync, t1 - j->t_durable);
			j->t_durable = t1;
		}
		pthread_mutex_unlock(&x->mu);
		exec_complete(jobs);
	}
}

static void *exec_main(void *arg)
{
	struct vl_store_exec *x = arg;
	struct vl_store_job *batch;
	bool prune;
	/* Named, so top -H and perf show the store thread apart. */
	(void)prctl(PR_SET_NAME, "vl-store", 0, 0, 0);
	while ((batch = exec_take(x, &prune)) != NULL || prune) {
		uint64_t t0 = exec_mono_ns(), limit = (uint64_t)x->cfg.batch_us * 1000u;
		int brc = vl_store_batch_begin(x->st);
		uint64_t n = 0;
		struct vl_store_job *j = batch, *last = NULL;
		for (; j; last = j, j = j->next, n++) {
			/* Checked every 16 jobs: reading the clock is not free. */
			if (limit && n && (n & 15) == 0 && exec_mono_ns() - t0 >= limit)
				break;
			j->status = brc ? brc : j->run(x->st, j);
		}
		if (j) {
			last->next = NULL;
			exec_requeue(x, j);
		}
		size_t pruned = 0, invites_pruned = 0;
		if (prune && brc == VL_OK)
			exec_prune(x, &pruned, &invites_pruned);
		bool failed = brc != VL_OK;
		uint64_t t_commit = exec_mono_ns();
		if (brc == VL_OK && vl_store_batch_commit(x->st) != VL_OK) {
			/* Nothing of the batch is durable: every job failed. */
			vl_store_batch_rollback(x->st);
			for (j = batch; j; j = j->next)
				j->status = VL_ERR_STORE;
			failed = true;
			pruned = invites_pruned = 0;
		}
		struct timespec ts;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
		pthread_mutex_lock(&x->mu);
		x->stats.cpu_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		x->stats.sent_pruned += pruned;
		x->stats.invites_pruned += invites_pruned;
		/* Deferred: the commit only wrote the log; t_durable is set
		 * again by the syncer. */
		uint64_t t_durable = exec_mono_ns();
		x->stats.run_ns += t_commit - t0;
		x->stats.commit_ns += t_durable - t_commit;
		/* One clock read per batch stage; per job only the histograms. */
		for (j = batch; j; j = j->next) {
			j->t_start = t0;
			j->t_run = t_commit;
			j->t_durable = t_durable;
			vl_store_hist_add(&x->stats.wait, t0 - j->t_submit);
			vl_store_hist_add(&x->stats.run, t_commit - t0);
			vl_store_hist_add(&x->stats.commit, t_durable - t_commit);
		}
		if (n) {
			x->stats.batches++;
			x->stats.jobs += n;
			if (n > x->stats.max_batch)
				x->stats.max_batch = n;
			if (failed)
				x->stats.failed_batches++;
		}
		if (x->deferred && batch) {
			/* Durable only once the syncer has synced: it completes
			 * the jobs, after those of every earlier batch. A failed
			 * batch goes the same way, so completions keep their
			 * order. */
			if (x->sync_tail)
				x->sync_tail->next = batch;
			else
				x->sync_head = batch;
			while (batch->next)
				batch = batch->next;
			x->sync_tail = batch;
			batch = NULL;
			pthread_cond_signal(&x->sync_cv);
		}
		pthread_mutex_unlock(&x->mu);
		exec_complete(batch);
	}
	return NULL;
}

/* Stops the syncer once it has completed every job handed to it. */
static void exec_sync_stop(struct vl_store_exec *x)
{
	pthread_mutex_lock(&x->mu);
	x->sync_stopping = true;
	pthread_cond_signal(&x->sync_cv);
	pthread_mutex_unlock(&x->mu);
	pthread_join(x->syncer, NULL);
}

int vl_store_exec_start(struct vl_store *st, const struct vl_store_exec_config *cfg,
                        struct vl_store_exec **out)
{
	*out = NULL;
	struct vl_store_exec *x = calloc(1, sizeof *x);
	if (!x)
		return VL_ERR_NOMEM;
	x->st = st;
	x->cfg = *cfg;
	if (!x->cfg.batch_max)
		x->cfg.batch_max = 1;
	pthread_mutex_init(&x->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&x->sync_cv, NULL);
	/* A backend without a log file to sync (sqlite ":memory:") keeps
	 * durable commits: jobs complete on the store thread as before. */
	if (st->be->sync_defer && st->be->sync && st->be->sync_defer(st, true) == VL_OK) {
		if (pthread_create(&x->syncer, NULL, exec_sync_main, x) != 0) {
			(void)st->be->sync_defer(st, false);
			goto fail;
		}
		x->deferred = true;
	}
	if (pthread_create(&x->thread, NULL, exec_main, x) != 0) {
		if (x->deferred) {
			exec_sync_stop(x);
			(void)st->be->sync_defer(st, false);
		}
		goto fail;
	}
	*out = x;
	return VL_OK;
fail:
	pthread_cond_destroy(&x->sync_cv);
	pthread_cond_destroy(&x->cv);
	pthread_mutex_destroy(&x->mu);
	free(x);
	return VL_ERR_NOMEM;
}

int vl_store_exec_new(struct vl_store *st, size_t batch_max, struct vl_store_exec **out)
{
	struct vl_store_exec_config cfg;
	vl_store_exec_config_defaults(&cfg);
	cfg.batch_max = batch_max;
	return vl_store_exec_start(st, &cfg, out);
}

int vl_store_exec_submit(struct vl_store_exec *x, struct vl_store_job *job)
{
	job->next = NULL;
	job->status = VL_OK;
	job->t_submit = exec_mono_ns();
	pthread_mutex_lock(&x->mu);
	if (x->stopping) {
		pthread_mutex_unlock(&x->mu);
		return VL_ERR_STATE;
	}
	if (x->tail)
		x->tail->next = job;
	else
		x->head = job;
	x->tail = job;
	x->queued++;
	/* A running store thread finds the job itself; a pacing one is only
	 * woken early by a full batch. */
	if (x->idle || (x->pacing && x->queued >= x->cfg.batch_gap_jobs))
		pthread_cond_signal(&x->cv);
	pthread_mutex_unlock(&x->mu);
	return VL_OK;
}

void vl_store_exec_free(struct vl_store_exec *x)
{
	if (!x)
		return;
	pthread_mutex_lock(&x->mu);
	x->stopping = true;
	pthread_cond_signal(&x->cv);
	pthread_mutex_unlock(&x->mu);
	pthread_join(x->thread, NULL);
	/* The store thread has committed its last batch: drain the syncer,
	 * then give the store back with durable commits. */
	if (x->deferred) {
		exec_sync_stop(x);
		(void)x->st->be->sync_defer(x->st, false);
	}
	pthread_cond_destroy(&x->sync_cv);
	pthread_cond_destroy(&x->cv);
	pthread_mutex_destroy(&x->mu);
	free(x);
}
