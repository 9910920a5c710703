/* SPDX-License-Identifier: Apache-2.0 */
/* /metrics: the core's counters and the store executor's, in the
 * Prometheus text exposition format. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "server/transport.h"

struct sbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

__attribute__((format(printf, 2, 3))) static void put(struct sbuf *b, const char *fmt, ...)
{
	if (b->failed)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n;
		char *q = realloc(b->p, cap);
		if (!q) {
			b->failed = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
}

static void counter(struct sbuf *b, const char *name, const char *help, uint64_t v)
{
	put(b, "# HELP valised_%s %s\n# TYPE valised_%s counter\nvalised_%s %llu\n", name, help,
	    name, name, (unsigned long long)v);
}

static void gauge(struct sbuf *b, const char *name, const char *help, uint64_t v)
{
	put(b, "# HELP valised_%s %s\n# TYPE valised_%s gauge\nvalised_%s %llu\n", name, help, name,
	    name, (unsigned long long)v);
}

/* A Prometheus histogram in seconds, labelled by stage. */
static void hist(struct sbuf *b, const char *name, const char *stage, const struct vl_store_hist *h)
{
	uint64_t cum = 0;
	for (unsigned i = 0; i < VL_STORE_HIST_BUCKETS; i++) {
		cum += h->count[i];
		if (i + 1 < VL_STORE_HIST_BUCKETS)
			put(b, "valised_%s_bucket{stage=\"%s\",le=\"%g\"} %llu\n", name, stage,
			    vl_store_hist_bounds_us[i] / 1e6, (unsigned long long)cum);
		else
			put(b, "valised_%s_bucket{stage=\"%s\",le=\"+Inf\"} %llu\n", name, stage,
			    (unsigned long long)cum);
	}
	put(b, "valised_%s_sum{stage=\"%s\"} %.6f\nvalised_%s_count{stage=\"%s\"} %llu\n", name,
	    stage, h->sum_us / 1e6, name, stage, (unsigned long long)h->n);
}

/* The data folder's disk: the store's files and the space left. Read at
 * each scrape (two stat calls and a statvfs). */
static void disk(struct sbuf *b, const char *data_dir)
{
	static const char *const files[] = {"db", "wal"};
	static const char *const suffix[] = {"valise.db", "valise.db-wal"};
	put(b, "# HELP valised_store_file_bytes Size of the store's files.\n"
	       "# TYPE valised_store_file_bytes gauge\n");
	for (size_t i = 0; i < 2; i++) {
		char path[VL_CONFIG_PATH_MAX + 32];
		struct stat sb;
		snprintf(path, sizeof path, "%s/%s", data_dir, suffix[i]);
		if (stat(path, &sb) == 0)
			put(b, "valised_store_file_bytes{file=\"%s\"} %llu\n", files[i],
			    (unsigned long long)sb.st_size);
	}
	struct statvfs vf;
	if (statvfs(data_dir, &vf) == 0)
		gauge(b, "data_free_bytes",
		      "Space left for valised on the data folder's file system (the store "
		      "refuses writes when it is gone).",
		      (uint64_t)vf.f_bavail * (uint64_t)vf.f_frsize);
}

char *vl_server_metrics_text(struct vl_core *core, const char *data_dir, size_t *len)
{
	struct sbuf b = {malloc(8192), 0, 8192, false};
	if (!b.p)
		return NULL;
	const struct vl_core_metrics *m = vl_core_metrics(core);
	gauge(&b, "connections", "Open WebSocket connections.", m->conns_open);
	gauge(&b, "connections_authenticated", "Authenticated connections.", m->conns_authed);
	counter(&b, "connections_total", "WebSocket connections accepted.", m->conns_total);
	counter(&b, "frames_received_total", "Frames received.", m->frames_in);
	counter(&b, "frames_sent_total", "Frames sent.", m->frames_out);
	counter(&b, "bytes_received_total", "Frame bytes received.", m->bytes_in);
	counter(&b, "bytes_sent_total", "Frame bytes sent.", m->bytes_out);
	counter(&b, "malformed_frames_total", "Frames or bodies that did not decode.",
	        m->malformed);
	counter(&b, "oversized_frames_total", "Frames over the frame limit.", m->too_large);
	counter(&b, "connections_refused_per_addr_total",
	        "Connections closed at once because their address held max_conns_per_addr.",
	        m->addr_refused);
	counter(&b, "slow_transfers_total",
	        "Connections cut because a request head, an upload, a download or a WebSocket "
	        "message was too slow (http_timeout, transfer_min_rate).",
	        m->slow_transfers);
	gauge(&b, "send_buffered_bytes",
	      "Bytes waiting to be written, over all connections (send_budget).", m->send_held);
	counter(&b, "connections_shed_total",
	        "Connections reset because output over all connections passed send_budget.",
	        m->conns_shed);
	counter(&b, "assembly_refused_total",
	        "Connections closed (1013) because messages being received held assembly_budget.",
	        m->assembly_refused);
	counter(&b, "unknown_type_frames_total", "Frames of an unknown type.", m->unknown_type);
	counter(&b, "bad_version_frames_total", "Frames of an unsupported version.",
	        m->bad_version);
	counter(&b, "rate_limited_total", "Requests refused by the rate limit.", m->rate_limited);
	counter(&b, "auth_ok_total", "Successful authentications.", m->auth_ok);
	counter(&b, "auth_failed_total", "Failed authentications.", m->auth_failed);
	counter(&b, "devices_registered_total", "Devices registered.", m->registered);
	counter(&b, "devices_revoked_total", "Devices revoked.", m->revoked);
	counter(&b, "queued_total", "Queue entries created (fan-out).", m->queued);
	counter(&b, "pushed_live_total", "Messages pushed as they were queued.", m->pushed_live);
	counter(&b, "pushed_fetched_total", "Messages pushed from the durable queue.",
	        m->pushed_fetched);
	counter(&b, "acks_total", "Acknowledgements.", m->acks);
	counter(&b, "commits_total", "Commits accepted.", m->commits_ok);
	counter(&b, "commits_stale_total", "Commits refused with stale_epoch.", m->commits_stale);
	counter(&b, "sends_total", "Application messages accepted.", m->sends_ok);
	counter(&b, "sends_stale_total", "Sends refused with stale_epoch.", m->sends_stale);
	counter(&b, "duplicates_total", "Retried sends answered from the first outcome.",
	        m->duplicates);
	counter(&b, "key_packages_uploaded_total", "KeyPackages stored.", m->kp_uploaded);
	counter(&b, "key_packages_rejected_total", "KeyPackage uploads refused.", m->kp_rejected);
	counter(&b, "key_packages_claimed_total", "KeyPackages handed out.", m->kp_claimed);
	counter(&b, "blob_uploads_total", "Blobs stored.", m->blobs_stored);
	counter(&b, "blob_uploads_refused_total", "Blob upload requests refused.",
	        m->blobs_refused);
	counter(&b, "blob_upload_resumes_total",
	        "Requests that went on with a resumable upload where it had stopped.",
	        m->blob_resumes);
	gauge(&b, "blob_uploads_unfinished", "Resumable uploads held, unfinished.",
	      m->blob_unfinished);
	counter(&b, "blob_uploads_expired_total",
	        "Unfinished resumable uploads dropped after upload_ttl.", m->blob_expired);
	counter(&b, "blobs_retired_total", "Blob records dropped after blob_ttl (retention).",
	        m->blobs_retired);
	gauge(&b, "store_jobs_inflight", "Store jobs submitted and not completed.",
	      m->jobs_inflight);
	put(&b, "# HELP valised_errors_total ERROR frames sent, by code.\n"
	        "# TYPE valised_errors_total counter\n");
	for (unsigned i = 1; i < sizeof m->errors_sent / sizeof m->errors_sent[0]; i++)
		if (m->errors_sent[i])
			put(&b, "valised_errors_total{code=\"%s\"} %llu\n", vl_proto_error_name(i),
			    (unsigned long long)m->errors_sent[i]);
	put(&b, "# HELP valised_requests_total Requests, by type.\n"
	        "# TYPE valised_requests_total counter\n");
	for (unsigned i = 0; i < 256; i++)
		if (m->requests[i])
			put(&b, "valised_requests_total{type=\"%s\"} %llu\n", vl_proto_type_name(i),
			    (unsigned long long)m->requests[i]);
	struct vl_store_exec *x = vl_core_exec(core);
	if (x) {
		struct vl_store_exec_stats s;
		vl_store_exec_stats_get(x, &s);
		counter(&b, "store_batches_total", "Group commits (one fsync each when writing).",
		        s.batches);
		counter(&b, "store_jobs_total", "Store jobs run.", s.jobs);
		counter(&b, "store_failed_batches_total", "Group commits that failed.",
		        s.failed_batches);
		gauge(&b, "store_max_batch", "Largest group commit so far (jobs).", s.max_batch);
		counter(&b, "store_cpu_microseconds_total", "CPU time of the store thread.",
		        s.cpu_ns / 1000u);
		counter(&b, "store_sent_pruned_total",
		        "Idempotency records deleted for age (sent_ttl).", s.sent_pruned);
		counter(&b, "store_invites_pruned_total",
		        "Expired invites deleted (invite_ttl), used or not.", s.invites_pruned);
		counter(&b, "store_run_microseconds_total", "Wall time of batches running jobs.",
		        s.run_ns / 1000u);
		counter(
		    &b, "store_commit_microseconds_total",
		    "Wall time of batches committing (WAL write, checkpoint; fsync too when not "
		    "deferred).",
		    s.commit_ns / 1000u);
		counter(&b, "store_syncs_total",
		        "WAL syncs made by the store's syncer thread (deferred durability).",
		        s.syncs);
		counter(&b, "store_sync_microseconds_total", "Wall time of the syncer's WAL syncs.",
		        s.sync_ns / 1000u);
		counter(&b, "completion_turns_total",
		        "Event-loop turns that ran store completions.", m->completion_turns);
		/* Where a store job's time goes, stage by stage: request decoded
		 * -> submitted -> batch start (wait) -> batch SQL done (run) ->
		 * committed (commit) -> durable (sync; empty when the store
		 * commits durably itself) -> completion turn on the loop (handoff) ->
		 * reply and pushes handed to the transport (complete). */
		put(&b, "# HELP valised_job_stage_seconds Store job latency by stage.\n"
		        "# TYPE valised_job_stage_seconds histogram\n");
		hist(&b, "job_stage_seconds", "submit", &m->lat_submit);
		hist(&b, "job_stage_seconds", "wait", &s.wait);
		hist(&b, "job_stage_seconds", "run", &s.run);
		hist(&b, "job_stage_seconds", "commit", &s.commit);
		hist(&b, "job_stage_seconds", "sync", &s.sync);
		hist(&b, "job_stage_seconds", "handoff", &m->lat_handoff);
		hist(&b, "job_stage_seconds", "complete", &m->lat_complete);
		hist(&b, "job_stage_seconds", "total", &m->lat_total);
		hist(&b, "job_stage_seconds", "total_deliver", &m->lat_total_deliver);
	}
	struct vl_store *st = vl_core_store(core);
	if (st) {
		struct vl_store_stats ss;
		vl_store_stats_get(st, &ss);
		counter(&b, "store_faults_total",
		        "Failures of the store's storage (disk full, I/O error); each is logged "
		        "(store_fault).",
		        ss.faults);
		counter(&b, "store_checkpoints_total",
		        "WAL checkpoints made by the store's checkpointer thread.", ss.checkpoints);
		counter(&b, "store_checkpoint_microseconds_total",
		        "Wall time of the checkpointer's checkpoints.", ss.checkpoint_ns / 1000u);
		counter(&b, "store_commit_checkpoints_total",
		        "WAL checkpoints made inside a commit, which hold up the store's jobs.",
		        ss.commit_checkpoints);
	}
	if (data_dir)
		disk(&b, data_dir);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
