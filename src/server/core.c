/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connections, dispatch, store jobs and delivery of the server core (see
 * the design block in core.h).
 */
#include "server/core.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/log.h"

#define REGISTRY_MIN_BUCKETS 1024u
#define JOB_QUEUED_MAX       (1u << 20) /* fan-out entries one job may record */

struct vl_conn {
	struct vl_core *core;
	uint64_t id;
	const struct vl_conn_ops *ops;
	void *tctx;
	unsigned refs;
	bool gone;    /* the transport reported it closed */
	bool closing; /* we asked the transport to close */
	bool authed;
	bool auth_pending;
	uint8_t challenge[VL_PROTO_CHALLENGE_LEN];
	struct vl_store_device dev;
	/* token bucket */
	double tokens;
	uint64_t refill_ms;
	unsigned malformed;
	unsigned pending_requests; /* jobs of this connection in flight */
	/* delivery (invariants 2 and 3) */
	uint64_t pushed_to; /* highest seq pushed */
	struct inflight {
		uint64_t seq;
		size_t len; /* its DELIVER frame's octets */
	} * inflight;       /* ring of unacknowledged pushes, lazily allocated */
	unsigned in_head, in_count;
	size_t in_bytes; /* octets of those pushes */
	bool blocked;    /* the next entry did not fit in window_bytes */
	bool fetching;   /* a queue fetch is in flight */
	bool backlog;    /* entries may wait in the queue beyond pushed_to */
	/* registry and list of all connections */
	struct vl_conn *hnext;
	struct vl_conn *prev, *next;
};

struct vl_core {
	struct vl_core_config cfg;
	char *server_name;
	struct vl_store *st;
	struct vl_store_exec *exec;
	void (*wake)(void *ctx);
	void *wake_ctx;
	struct vl_core_clock clock;
	struct vl_core_metrics m;
	/* device id -> authenticated connection */
	struct vl_conn **buckets;
	size_t n_buckets, n_registered;
	struct vl_conn *conns; /* every open connection */
	size_t n_conns;
	uint64_t next_conn_id;
	bool draining;
	/* completed jobs handed over by the executor thread */
	pthread_mutex_t done_mu;
	struct vl_core_job *done_head, *done_tail;
	size_t jobs_inflight;
};

/* --- configuration, clock ------------------------------------------------ */

void vl_core_config_defaults(struct vl_core_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->server_name = "localhost";
	cfg->max_frame = VL_PROTO_FRAME_MAX;
	cfg->max_devices = 16;
	cfg->rate = 50;
	cfg->burst = 200;
	cfg->window = 256;
	cfg->window_bytes = 1u << 20;
	cfg->kp_low = 10;
	cfg->max_malformed = 16;
	cfg->invite_ttl = 7 * 24 * 3600;
}

static uint64_t sys_mono_ms(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t sys_wall_s(void *ctx)
{
	(void)ctx;
	return (uint64_t)time(NULL);
}

uint64_t vl_core_now(struct vl_core *core)
{
	return core->clock.wall_s(core->clock.ctx);
}

const struct vl_core_config *vl_core_config(struct vl_core *core)
{
	return &core->cfg;
}

struct vl_core_metrics *vl_core_metrics_mut(struct vl_core *core)
{
	return &core->m;
}

const struct vl_core_metrics *vl_core_metrics(struct vl_core *core)
{
	return &core->m;
}

struct vl_store *vl_core_store(struct vl_core *core)
{
	return core->st;
}

struct vl_store_exec *vl_core_exec(struct vl_core *core)
{
	return core->exec;
}

size_t vl_core_conn_count(struct vl_core *core)
{
	return core->n_conns;
}

size_t vl_core_jobs_inflight(struct vl_core *core)
{
	return core->jobs_inflight;
}

int vl_core_new(const struct vl_core_config *cfg, struct vl_store *st, struct vl_store_exec *exec,
                void (*wake)(void *ctx), void *wake_ctx, const struct vl_core_clock *clock,
                struct vl_core **out)
{
	*out = NULL;
	struct vl_core *core = calloc(1, sizeof *core);
	if (!core)
		return VL_ERR_NOMEM;
	core->cfg = *cfg;
	core->server_name = strdup(cfg->server_name ? cfg->server_name : "localhost");
	core->buckets = calloc(REGISTRY_MIN_BUCKETS, sizeof *core->buckets);
	if (!core->server_name || !core->buckets) {
		free(core->server_name);
		free(core->buckets);
		free(core);
		return VL_ERR_NOMEM;
	}
	if (strlen(core->server_name) > VL_PROTO_SERVER_NAME_MAX)
		core->server_name[VL_PROTO_SERVER_NAME_MAX] = 0;
	core->cfg.server_name = core->server_name;
	if (core->cfg.window == 0)
		core->cfg.window = 1;
	core->n_buckets = REGISTRY_MIN_BUCKETS;
	core->st = st;
	core->exec = exec;
	core->wake = wake;
	core->wake_ctx = wake_ctx;
	if (clock)
		core->clock = *clock;
	else
		core->clock = (struct vl_core_clock){sys_mono_ms, sys_wall_s, NULL};
	core->next_conn_id = 1;
	pthread_mutex_init(&core->done_mu, NULL);
	*out = core;
	return VL_OK;
}

void vl_core_free(struct vl_core *core)
{
	if (!core)
		return;
	free(core->buckets);
	free(core->server_name);
	pthread_mutex_destroy(&core->done_mu);
	free(core);
}

/* --- registry: device id -> connection ----------------------------------- */

static size_t bucket_of(const struct vl_core *core, int64_t id)
{
	uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 32) & (core->n_buckets - 1);
}

static void registry_grow(struct vl_core *core)
{
	size_t n = core->n_buckets * 2;
	struct vl_conn **b = calloc(n, sizeof *b);
	if (!b)
		return; /* chains just get longer */
	struct vl_conn **old = core->buckets;
	size_t old_n = core->n_buckets;
	core->buckets = b;
	core->n_buckets = n;
	for (size_t i = 0; i < old_n; i++) {
		struct vl_conn *c = old[i];
		while (c) {
			struct vl_conn *next = c->hnext;
			size_t k = bucket_of(core, c->dev.id);
			c->hnext = b[k];
			b[k] = c;
			c = next;
		}
	}
	free(old);
}

struct vl_conn *vl_core_conn_of(struct vl_core *core, int64_t device_id)
{
	for (struct vl_conn *c = core->buckets[bucket_of(core, device_id)]; c; c = c->hnext)
		if (c->dev.id == device_id)
			return c;
	return NULL;
}

static void registry_remove(struct vl_conn *c)
{
	struct vl_core *core = c->core;
	struct vl_conn **pp = &core->buckets[bucket_of(core, c->dev.id)];
	while (*pp) {
		if (*pp == c) {
			*pp = c->hnext;
			c->hnext = NULL;
			core->n_registered--;
			return;
		}
		pp = &(*pp)->hnext;
	}
}

static void registry_add(struct vl_conn *c)
{
	struct vl_core *core = c->core;
	if (core->n_registered + 1 > core->n_buckets)
		registry_grow(core);
	size_t k = bucket_of(core, c->dev.id);
	c->hnext = core->buckets[k];
	core->buckets[k] = c;
	core->n_registered++;
}

/* --- connections ---------------------------------------------------------- */

/* Takes c out of the device registry (it stays open until closed). */
static void conn_unregister(struct vl_conn *c)
{
	if (!c->authed)
		return;
	registry_remove(c);
	c->authed = false;
	c->core->m.conns_authed--;
}

bool vl_conn_alive(const struct vl_conn *c)
{
	return c && !c->gone && !c->closing;
}

bool vl_conn_authed(const struct vl_conn *c)
{
	return c->authed;
}

const struct vl_store_device *vl_conn_device(const struct vl_conn *c)
{
	return &c->dev;
}

const uint8_t *vl_conn_challenge(const struct vl_conn *c)
{
	return c->challenge;
}

struct vl_core *vl_conn_core(const struct vl_conn *c)
{
	return c->core;
}

uint64_t vl_conn_id(const struct vl_conn *c)
{
	return c->id;
}

static void conn_unref(struct vl_conn *c)
{
	if (--c->refs > 0)
		return;
	free(c->inflight);
	free(c);
}

static void conn_send(struct vl_conn *c, const uint8_t *buf, size_t len)
{
	if (!vl_conn_alive(c))
		return;
	c->core->m.frames_out++;
	c->core->m.bytes_out += len;
	if (!c->ops->send(c->tctx, buf, len)) {
		/* The transport's bounded send buffer is full: this reader is
		 * too slow. Its messages stay in its durable queue. */
		vl_log(VL_LOG_INFO, "conn_too_slow", "conn=%llu", (unsigned long long)c->id);
		c->closing = true;
		c->ops->close(c->tctx);
	}
}

void vl_conn_send_writer(struct vl_conn *c, struct vl_writer *w)
{
	if (w->err == VL_OK)
		conn_send(c, w->buf, w->len);
	vl_writer_cleanup(w);
}

void vl_conn_error(struct vl_conn *c, uint32_t request_id, unsigned code, const char *detail)
{
	uint8_t buf[16 + VL_PROTO_DETAIL_MAX];
	struct vl_writer w;
	vl_writer_init_fixed(&w, buf, sizeof buf);
	if (code < sizeof c->core->m.errors_sent / sizeof c->core->m.errors_sent[0])
		c->core->m.errors_sent[code]++;
	if (vl_msg_error_encode(&w, request_id, (uint16_t)code, detail) == VL_OK)
		conn_send(c, buf, w.len);
}

void vl_conn_reply_empty(struct vl_conn *c, uint8_t type, uint32_t request_id)
{
	uint8_t buf[16];
	struct vl_writer w;
	vl_writer_init_fixed(&w, buf, sizeof buf);
	if (vl_frame_encode_empty(&w, type | VL_FRAME_REPLY, request_id) == VL_OK)
		conn_send(c, buf, w.len);
}

void vl_conn_close_with(struct vl_conn *c, unsigned code)
{
	if (!vl_conn_alive(c))
		return;
	uint8_t buf[16];
	struct vl_writer w;
	vl_writer_init_fixed(&w, buf, sizeof buf);
	struct vl_msg_closing m = {(uint16_t)code};
	if (vl_msg_closing_encode(&w, &m) == VL_OK)
		conn_send(c, buf, w.len);
	conn_unregister(c);
	if (!c->gone && !c->closing) {
		c->closing = true;
		c->ops->close(c->tctx);
	}
}

struct vl_conn *vl_core_conn_open(struct vl_core *core, const struct vl_conn_ops *ops, void *tctx,
                                  const char *peer)
{
	struct vl_conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->core = core;
	c->id = core->next_conn_id++;
	c->ops = ops;
	c->tctx = tctx;
	c->refs = 1; /* the transport's */
	c->tokens = core->cfg.burst;
	c->refill_ms = core->clock.mono_ms(core->clock.ctx);
	if (vl_random(c->challenge, sizeof c->challenge) != VL_OK) {
		free(c);
		return NULL;
	}
	c->next = core->conns;
	if (core->conns)
		core->conns->prev = c;
	core->conns = c;
	core->n_conns++;
	core->m.conns_open++;
	core->m.conns_total++;
	vl_log(VL_LOG_DEBUG, "conn_open", "conn=%llu peer=%s", (unsigned long long)c->id,
	       peer ? peer : "-");

	uint8_t buf[8 + VL_PROTO_CHALLENGE_LEN + VL_PROTO_SERVER_NAME_MAX + 8];
	struct vl_writer w;
	vl_writer_init_fixed(&w, buf, sizeof buf);
	struct vl_msg_challenge ch = {
	    VL_PROTO_MIN_VERSION,
	    VL_PROTO_MAX_VERSION,
	    {c->challenge, sizeof c->challenge},
	    {(const uint8_t *)core->server_name, strlen(core->server_name)},
	};
	if (vl_msg_challenge_encode(&w, &ch) == VL_OK)
		conn_send(c, buf, w.len);
	if (core->draining)
		vl_conn_close_with(c, VL_PERR_SHUTTING_DOWN);
	return c;
}

void vl_core_conn_closed(struct vl_conn *c)
{
	struct vl_core *core = c->core;
	if (c->gone)
		return;
	c->gone = true;
	conn_unregister(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		core->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	core->n_conns--;
	core->m.conns_open--;
	vl_log(VL_LOG_DEBUG, "conn_closed", "conn=%llu", (unsigned long long)c->id);
	conn_unref(c);
}

static void malformed(struct vl_conn *c, uint32_t request_id, unsigned code, const char *detail)
{
	c->core->m.malformed++;
	vl_conn_error(c, request_id, code, detail);
	if (++c->malformed >= c->core->cfg.max_malformed)
		vl_conn_close_with(c, VL_PERR_TOO_MANY_ERRORS);
}

void vl_conn_bad_body(struct vl_conn *c, uint32_t request_id, int rc)
{
	if (rc == VL_ERR_LIMIT)
		vl_conn_error(c, request_id, VL_PERR_LIMIT, "field or list over its limit");
	else if (rc == VL_ERR_INVALID)
		vl_conn_error(c, request_id, VL_PERR_INVALID, "bad address or device name");
	else
		malformed(c, request_id, VL_PERR_MALFORMED, "body does not decode");
}

void vl_conn_set_auth_pending(struct vl_conn *c, bool pending)
{
	c->auth_pending = pending;
}

void vl_conn_push_kp_low(struct vl_conn *c, uint32_t stock)
{
	uint8_t buf[16];
	struct vl_writer w;
	vl_writer_init_fixed(&w, buf, sizeof buf);
	struct vl_msg_kp_count m = {stock};
	if (vl_msg_kp_count_encode(&w, VL_FRAME_KP_LOW, 0, &m) == VL_OK)
		conn_send(c, buf, w.len);
}

void vl_core_conn_input_bad(struct vl_conn *c, uint32_t request_id, unsigned code,
                            const char *detail)
{
	if (!vl_conn_alive(c))
		return;
	if (code == VL_PERR_TOO_LARGE)
		c->core->m.too_large++;
	malformed(c, request_id, code, detail);
}

/* Token bucket: rate per second, burst deep. */
static bool take_token(struct vl_conn *c)
{
	struct vl_core *core = c->core;
	uint64_t now = core->clock.mono_ms(core->clock.ctx);
	if (now > c->refill_ms) {
		c->tokens += (double)(now - c->refill_ms) * core->cfg.rate / 1000.0;
		if (c->tokens > core->cfg.burst)
			c->tokens = core->cfg.burst;
		c->refill_ms = now;
	}
	if (c->tokens < 1.0)
		return false;
	c->tokens -= 1.0;
	return true;
}

typedef void (*handler_fn)(struct vl_conn *c, const struct vl_frame *f);

static handler_fn handler_of(uint8_t type)
{
	switch (type) {
	case VL_FRAME_REGISTER:
		return vl_handle_register;
	case VL_FRAME_AUTH:
		return vl_handle_auth;
	case VL_FRAME_DEVICE_LIST:
		return vl_handle_device_list;
	case VL_FRAME_DEVICE_REVOKE:
		return vl_handle_device_revoke;
	case VL_FRAME_DEVICE_INVITE:
		return vl_handle_device_invite;
	case VL_FRAME_KP_UPLOAD:
		return vl_handle_kp_upload;
	case VL_FRAME_KP_CLAIM:
		return vl_handle_kp_claim;
	case VL_FRAME_GROUP_CREATE:
		return vl_handle_group_create;
	case VL_FRAME_COMMIT:
		return vl_handle_commit;
	case VL_FRAME_SEND:
		return vl_handle_send;
	case VL_FRAME_ACK:
		return vl_handle_ack;
	case VL_FRAME_PING:
		return vl_handle_ping;
	default:
		return NULL;
	}
}

void vl_core_conn_input(struct vl_conn *c, const uint8_t *buf, size_t len)
{
	struct vl_core *core = c->core;
	if (!vl_conn_alive(c))
		return;
	core->m.frames_in++;
	core->m.bytes_in += len;
	struct vl_frame f;
	int rc = vl_frame_decode(buf, len, core->cfg.max_frame, &f);
	if (rc == VL_ERR_LIMIT) {
		core->m.too_large++;
		malformed(c, f.request_id, VL_PERR_TOO_LARGE, "frame too large");
		return;
	}
	if (rc == VL_ERR_UNSUPPORTED) {
		/* Protocol §2: answered in version 1, then closed. */
		core->m.bad_version++;
		vl_conn_error(c, f.request_id, VL_PERR_UNSUPPORTED_VERSION, "version 1 only");
		vl_conn_close_with(c, VL_PERR_UNSUPPORTED_VERSION);
		return;
	}
	if (rc) {
		malformed(c, f.request_id, VL_PERR_MALFORMED, "frame does not decode");
		return;
	}
	handler_fn h = handler_of(f.type);
	if (!h) {
		core->m.unknown_type++;
		vl_conn_error(c, f.request_id, VL_PERR_UNKNOWN_TYPE, "unknown frame type");
		return;
	}
	core->m.requests[f.type]++;
	if (!take_token(c)) {
		core->m.rate_limited++;
		vl_conn_error(c, f.request_id, VL_PERR_RATE_LIMITED, "rate limit");
		return;
	}
	if (core->draining && f.type != VL_FRAME_PING) {
		vl_conn_error(c, f.request_id, VL_PERR_INTERNAL, "shutting down");
		return;
	}
	bool pre_auth =
	    f.type == VL_FRAME_REGISTER || f.type == VL_FRAME_AUTH || f.type == VL_FRAME_PING;
	if (!c->authed && !pre_auth) {
		vl_conn_error(c, f.request_id, VL_PERR_NOT_AUTHENTICATED, "authenticate first");
		return;
	}
	if ((f.type == VL_FRAME_REGISTER || f.type == VL_FRAME_AUTH) &&
	    (c->authed || c->auth_pending)) {
		vl_conn_error(c, f.request_id, VL_PERR_FORBIDDEN, "already authenticated");
		return;
	}
	h(c, &f);
}

/* --- jobs -------------------------------------------------------------------- */

struct vl_core_job *vl_core_job_new(struct vl_conn *c, size_t size, uint32_t request_id,
                                    const uint8_t *buf, size_t len, vl_core_job_run_fn run,
                                    vl_core_job_complete_fn complete)
{
	struct vl_core_job *j = calloc(1, size);
	if (!j)
		return NULL;
	if (len) {
		j->frame = malloc(len);
		if (!j->frame) {
			free(j);
			return NULL;
		}
		memcpy(j->frame, buf, len);
		j->frame_len = len;
	}
	j->core = c->core;
	j->conn = c;
	j->request_id = request_id;
	j->run = run;
	j->complete = complete;
	j->t_new = c->core->exec ? vl_store_mono_ns() : 0;
	return j;
}

struct vl_core_job *vl_core_job_new_raw(struct vl_core *core, size_t size, vl_core_job_run_fn run,
                                        vl_core_job_complete_fn complete)
{
	struct vl_core_job *j = calloc(1, size);
	if (!j)
		return NULL;
	j->core = core;
	j->run = run;
	j->complete = complete;
	return j;
}

void vl_core_job_queued(void *ctx, int64_t device_id, uint64_t seq, uint8_t kind)
{
	struct vl_core_job *j = ctx;
	if (j->n_queued == j->cap_queued) {
		size_t cap = j->cap_queued ? j->cap_queued * 2 : 16;
		struct vl_core_queued *q = NULL;
		if (cap <= JOB_QUEUED_MAX)
			q = realloc(j->queued, cap * sizeof *q);
		if (!q) {
			/* Live push is an optimisation: the entries are in the
			 * durable queues and will be fetched. */
			j->queued_nomem = true;
			return;
		}
		j->queued = q;
		j->cap_queued = cap;
	}
	j->queued[j->n_queued++] = (struct vl_core_queued){device_id, seq, kind};
}

static int job_run(struct vl_store *st, struct vl_store_job *sj)
{
	struct vl_core_job *j = (struct vl_core_job *)sj;
	return j->run(st, j);
}

/* t_turn: when the completion turn that runs j started (0: not run by an
 * executor, no latency recorded). */
static void job_finish(struct vl_core_job *j, uint64_t t_turn)
{
	struct vl_core *core = j->core;
	if (t_turn && j->sj.t_durable)
		vl_store_hist_add(&core->m.lat_handoff,
		                  t_turn > j->sj.t_durable ? t_turn - j->sj.t_durable : 0);
	core->jobs_inflight--;
	core->m.jobs_completed++;
	core->m.jobs_inflight = core->jobs_inflight;
	if (j->conn)
		j->conn->pending_requests--;
	j->complete(j);
	if (t_turn && j->sj.t_durable) {
		/* The reply and any pushes are in the transport's buffers now;
		 * it writes them at the end of this loop turn. */
		uint64_t t = vl_store_mono_ns();
		vl_store_hist_add(&core->m.lat_complete, t - t_turn);
		if (j->t_new) {
			vl_store_hist_add(&core->m.lat_total, t - j->t_new);
			if (j->n_queued)
				vl_store_hist_add(&core->m.lat_total_deliver, t - j->t_new);
		}
	}
	if (j->conn) {
		struct vl_conn *c = j->conn;
		/* A draining connection closes once its answers are out. */
		if (core->draining && c->pending_requests == 0 && !c->fetching)
			vl_conn_close_with(c, VL_PERR_SHUTTING_DOWN);
		conn_unref(c);
	}
	free(j->queued);
	free(j->frame);
	free(j);
}

/* Executor thread: hand the job to the core's thread. */
static void job_done_thread(struct vl_store_job *sj)
{
	struct vl_core_job *j = (struct vl_core_job *)sj;
	struct vl_core *core = j->core;
	pthread_mutex_lock(&core->done_mu);
	j->next_done = NULL;
	if (core->done_tail)
		core->done_tail->next_done = j;
	else
		core->done_head = j;
	core->done_tail = j;
	pthread_mutex_unlock(&core->done_mu);
	if (core->wake)
		core->wake(core->wake_ctx);
}

void vl_core_run_completions(struct vl_core *core)
{
	pthread_mutex_lock(&core->done_mu);
	struct vl_core_job *j = core->done_head;
	core->done_head = core->done_tail = NULL;
	pthread_mutex_unlock(&core->done_mu);
	uint64_t t_turn = j ? vl_store_mono_ns() : 0;
	if (j)
		core->m.completion_turns++;
	while (j) {
		struct vl_core_job *next = j->next_done;
		job_finish(j, t_turn);
		j = next;
	}
}

void vl_core_job_submit(struct vl_core_job *j)
{
	struct vl_core *core = j->core;
	j->sj.run = job_run;
	j->sj.done = job_done_thread;
	core->jobs_inflight++;
	core->m.jobs_submitted++;
	core->m.jobs_inflight = core->jobs_inflight;
	if (j->conn) {
		j->conn->refs++;
		j->conn->pending_requests++;
	}
	if (core->exec && vl_store_exec_submit(core->exec, &j->sj) == VL_OK) {
		if (j->t_new)
			vl_store_hist_add(&core->m.lat_submit, j->sj.t_submit - j->t_new);
		return;
	}
	if (core->exec) {
		j->sj.status = VL_ERR_STATE;
	} else {
		/* No executor: run inline, as one durable operation. */
		j->sj.status = job_run(core->st, &j->sj);
	}
	job_finish(j, 0);
}

const char *vl_core_epoch_ahead(const struct vl_conn *c, const char *request)
{
	vl_log(VL_LOG_WARN, "group_behind", "conn=%llu user=%s device=%s request=%s",
	       (unsigned long long)c->id, c->dev.user, c->dev.name, request);
	return "the server has lost this group's later commits (restored from a backup?): "
	       "make the group again";
}

unsigned vl_core_error_of(int status)
{
	switch (status) {
	case VL_ERR_DECODE:
		return VL_PERR_MALFORMED;
	case VL_ERR_LIMIT:
		return VL_PERR_LIMIT;
	case VL_ERR_INVALID:
	case VL_ERR_CRYPTO:
	case VL_ERR_UNSUPPORTED:
		return VL_PERR_INVALID;
	case VL_ERR_NOT_FOUND:
		return VL_PERR_NOT_FOUND;
	case VL_ERR_STALE_EPOCH:
		return VL_PERR_STALE_EPOCH;
	case VL_ERR_EPOCH_AHEAD:
		return VL_PERR_EPOCH_AHEAD;
	case VL_ERR_PERMISSION:
		return VL_PERR_FORBIDDEN;
	case VL_ERR_EXISTS:
		return VL_PERR_EXISTS;
	case VL_ERR_AUTH:
		return VL_PERR_AUTH_FAILED;
	case VL_ERR_AGAIN:
		return VL_PERR_RATE_LIMITED;
	default:
		return VL_PERR_INTERNAL;
	}
}

/* --- delivery ---------------------------------------------------------------- */

/* Invariant 3: the window closes at `window` pushes, or when an entry did
 * not fit in `window_bytes` (until an ACK frees room). */
static bool window_full(const struct vl_conn *c)
{
	return c->in_count >= c->core->cfg.window || c->blocked;
}

/* Room left in the window, in octets (a fetch collects no more). */
static size_t window_room(const struct vl_conn *c)
{
	return c->in_bytes < c->core->cfg.window_bytes ? c->core->cfg.window_bytes - c->in_bytes
	                                               : 0;
}

/* Whether a frame of len octets fits in the window now. An empty window
 * takes any frame, so a message larger than window_bytes still goes. */
static bool window_fits(const struct vl_conn *c, size_t len)
{
	return c->in_count == 0 || (c->in_count < c->core->cfg.window && len <= window_room(c));
}

static bool inflight_push(struct vl_conn *c, uint64_t seq, size_t len)
{
	unsigned win = c->core->cfg.window;
	if (!c->inflight) {
		c->inflight = malloc(win * sizeof *c->inflight);
		if (!c->inflight)
			return false;
		c->in_head = c->in_count = 0;
		c->in_bytes = 0;
	}
	c->inflight[(c->in_head + c->in_count) % win] = (struct inflight){seq, len};
	c->in_count++;
	c->in_bytes += len;
	return true;
}

/* Encodes one DELIVER into w (a heap writer the caller cleans up). */
static int encode_deliver(struct vl_core *core, struct vl_writer *w, uint64_t seq, uint8_t kind,
                          const struct vl_bytes *gid, const char *suser, const char *sname,
                          const struct vl_bytes *msg)
{
	struct vl_msg_deliver d = {
	    .seq = seq,
	    .kind = kind,
	    .group_id = *gid,
	    .sender = {{(const uint8_t *)suser, strlen(suser)},
	               {(const uint8_t *)sname, strlen(sname)}},
	    .message = *msg,
	};
	vl_writer_init_heap(w, core->cfg.max_frame + 1024);
	return vl_msg_deliver_encode(w, &d);
}

/* Sends an encoded DELIVER of seq and counts it in the window; false if
 * it does not fit (the window then stays closed until an ACK). */
static bool push_frame(struct vl_conn *c, uint64_t seq, const struct vl_writer *w)
{
	if (w->err)
		return false;
	if (!window_fits(c, w->len)) {
		c->blocked = true; /* in_count > 0: an ACK will reopen it */
		return false;
	}
	if (!inflight_push(c, seq, w->len))
		return false;
	conn_send(c, w->buf, w->len);
	c->pushed_to = seq;
	return true;
}

static bool push_entry(struct vl_conn *c, uint64_t seq, uint8_t kind, const struct vl_bytes *gid,
                       const char *suser, const char *sname, const struct vl_bytes *msg)
{
	struct vl_writer w;
	bool ok = encode_deliver(c->core, &w, seq, kind, gid, suser, sname, msg) == VL_OK &&
	          push_frame(c, seq, &w);
	vl_writer_cleanup(&w);
	return ok;
}

struct fetch_job {
	struct vl_core_job job;
	int64_t device_id;
	uint64_t after;
	size_t limit;
	size_t room;     /* octets the window had left at submit */
	bool first_free; /* the window was empty: the first entry goes whatever its size */
	size_t bytes;    /* octets collected */
	bool more;       /* stopped at room: more entries wait */
	/* entries copied out of the store for the core's thread */
	struct fetched {
		uint64_t seq;
		uint8_t kind;
		uint8_t *gid;
		size_t gid_len;
		char *user, *name;
		uint8_t *msg;
		size_t msg_len;
	} * items;
	size_t n;
};

/* A DELIVER's octets beyond its message, sender and group id, at most. */
#define DELIVER_OVERHEAD 64

static int fetch_collect(void *ctx, const struct vl_store_entry *e)
{
	struct fetch_job *fj = ctx;
	/* Memory: a page holds what the window can take, not `limit`
	 * entries of up to max_frame each. */
	size_t len = e->msg_len + e->gid_len + strlen(e->sender_user) + strlen(e->sender_name) +
	             DELIVER_OVERHEAD;
	bool fits = fj->bytes <= fj->room && len <= fj->room - fj->bytes;
	if (!fits && !(fj->n == 0 && fj->first_free)) {
		fj->more = true;
		return VL_ERR_LIMIT; /* stops the walk; fetch_run reports VL_OK */
	}
	fj->bytes += len;
	struct fetched *it = &fj->items[fj->n];
	memset(it, 0, sizeof *it);
	it->seq = e->seq;
	it->kind = e->kind;
	it->gid = malloc(e->gid_len ? e->gid_len : 1);
	it->msg = malloc(e->msg_len ? e->msg_len : 1);
	it->user = strdup(e->sender_user);
	it->name = strdup(e->sender_name);
	if (!it->gid || !it->msg || !it->user || !it->name) {
		free(it->gid);
		free(it->msg);
		free(it->user);
		free(it->name);
		return VL_ERR_NOMEM;
	}
	memcpy(it->gid, e->gid, e->gid_len);
	memcpy(it->msg, e->msg, e->msg_len);
	it->gid_len = e->gid_len;
	it->msg_len = e->msg_len;
	fj->n++;
	return VL_OK;
}

static int fetch_run(struct vl_store *st, struct vl_core_job *job)
{
	struct fetch_job *fj = (struct fetch_job *)job;
	fj->items = calloc(fj->limit ? fj->limit : 1, sizeof *fj->items);
	if (!fj->items)
		return VL_ERR_NOMEM;
	int rc = vl_store_queue_fetch(st, fj->device_id, fj->after, fj->limit, fetch_collect, fj);
	return rc == VL_ERR_LIMIT && fj->more ? VL_OK : rc;
}

static void pump(struct vl_conn *c);

static void fetch_complete(struct vl_core_job *job)
{
	struct fetch_job *fj = (struct fetch_job *)job;
	struct vl_conn *c = job->conn;
	c->fetching = false;
	bool ok = job->sj.status == VL_OK;
	for (size_t i = 0; i < fj->n; i++) {
		struct fetched *it = &fj->items[i];
		/* Entries pushed live while the fetch ran are not sent twice. */
		if (ok && vl_conn_alive(c) && c->authed && c->dev.id == fj->device_id &&
		    it->seq > c->pushed_to && !window_full(c)) {
			struct vl_bytes gid = {it->gid, it->gid_len}, msg = {it->msg, it->msg_len};
			if (push_entry(c, it->seq, it->kind, &gid, it->user, it->name, &msg))
				c->core->m.pushed_fetched++;
		}
		free(it->gid);
		free(it->msg);
		free(it->user);
		free(it->name);
	}
	free(fj->items);
	if (!ok) {
		vl_log(VL_LOG_WARN, "fetch_failed", "conn=%llu status=%d",
		       (unsigned long long)c->id, job->sj.status);
		return; /* retried on the next ack or reconnect */
	}
	/* A short page means the queue is drained (for now), unless it was
	 * cut at the window's octets or an entry did not fit. When nothing
	 * fit, the window waits for an ACK, unless one came during the fetch
	 * and made room: then the next fetch tries again. */
	if (fj->n < fj->limit && !fj->more && !c->blocked)
		c->backlog = false;
	if (fj->more && fj->n == 0 && c->in_count && window_room(c) <= fj->room)
		c->blocked = true;
	pump(c);
}

/* Fetches waiting entries when the connection has room (invariant 2). */
static void pump(struct vl_conn *c)
{
	if (!vl_conn_alive(c) || !c->authed || c->fetching || !c->backlog || window_full(c))
		return;
	struct fetch_job *fj = (struct fetch_job *)vl_core_job_new(c, sizeof *fj, 0, NULL, 0,
	                                                           fetch_run, fetch_complete);
	if (!fj)
		return;
	fj->device_id = c->dev.id;
	fj->after = c->pushed_to;
	fj->limit = c->core->cfg.window - c->in_count;
	fj->room = window_room(c);
	fj->first_free = c->in_count == 0;
	c->fetching = true;
	vl_core_job_submit(&fj->job);
}

void vl_core_deliver(struct vl_core *core, const struct vl_core_job *job,
                     const struct vl_bytes *gid, const struct vl_conn *sender,
                     const struct vl_bytes msgs[4])
{
	core->m.queued += job->n_queued;
	/* Every recipient of one message gets the same frame (the seq is the
	 * message's): encode it once per message, not once per member. */
	struct vl_writer w;
	uint64_t w_seq = 0;
	bool have = false;
	for (size_t i = 0; i < job->n_queued; i++) {
		const struct vl_core_queued *q = &job->queued[i];
		struct vl_conn *c = vl_core_conn_of(core, q->device_id);
		if (!c || !vl_conn_alive(c) || q->seq <= c->pushed_to)
			continue;
		bool pushed = false;
		if (!c->backlog && !c->fetching && !window_full(c)) {
			if (!have || w_seq != q->seq) {
				if (have)
					vl_writer_cleanup(&w);
				have = true;
				w_seq = q->seq;
				(void)encode_deliver(core, &w, q->seq, q->kind, gid,
				                     sender->dev.user, sender->dev.name,
				                     &msgs[q->kind & 3]);
			}
			pushed = push_frame(c, q->seq, &w);
		}
		if (!pushed) {
			c->backlog = true;
			pump(c);
			continue;
		}
		core->m.pushed_live++;
	}
	if (have)
		vl_writer_cleanup(&w);
	if (job->queued_nomem) {
		/* Some recipients were not recorded: let every connection
		 * check its queue. */
		for (struct vl_conn *c = core->conns; c; c = c->next)
			if (c->authed) {
				c->backlog = true;
				pump(c);
			}
	}
}

void vl_conn_acked(struct vl_conn *c, uint64_t seq)
{
	unsigned win = c->core->cfg.window;
	while (c->in_count && c->inflight[c->in_head].seq <= seq) {
		c->in_bytes -= c->inflight[c->in_head].len;
		c->in_head = (c->in_head + 1) % win;
		c->in_count--;
		c->blocked = false;
	}
	if (c->in_count == 0) {
		/* An idle connection keeps no ring (memory per connection). */
		free(c->inflight);
		c->inflight = NULL;
	}
	pump(c);
}

void vl_conn_set_authed(struct vl_conn *c, const struct vl_store_device *d)
{
	struct vl_core *core = c->core;
	struct vl_conn *old = vl_core_conn_of(core, d->id);
	if (old && old != c) {
		vl_conn_close_with(old, VL_PERR_REPLACED);
		conn_unregister(old); /* even if its close already began */
	}
	c->dev = *d;
	c->authed = true;
	core->m.conns_authed++;
	registry_add(c);
	/* Invariant 2: start from the queue, after the last acknowledged. */
	c->pushed_to = d->acked_seq;
	c->backlog = true;
	pump(c);
}

/* --- draining ------------------------------------------------------------------ */

void vl_core_drain(struct vl_core *core)
{
	if (core->draining)
		return;
	core->draining = true;
	vl_log(VL_LOG_INFO, "drain_start", "connections=%zu jobs=%zu", core->n_conns,
	       core->jobs_inflight);
	struct vl_conn *c = core->conns;
	while (c) {
		struct vl_conn *next = c->next;
		if (c->pending_requests == 0 && !c->fetching)
			vl_conn_close_with(c, VL_PERR_SHUTTING_DOWN);
		c = next;
	}
}

bool vl_core_draining(struct vl_core *core)
{
	return core->draining;
}

/* --- invites ------------------------------------------------------------------ */

int vl_core_invite_code(char out[20])
{
	/* Crockford base32 without I, L, O, U: 16 symbols, 80 bits. */
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	uint8_t r[16];
	int rc = vl_random(r, sizeof r);
	if (rc)
		return rc;
	size_t k = 0;
	for (size_t i = 0; i < 16; i++) {
		if (i && i % 4 == 0)
			out[k++] = '-';
		out[k++] = alphabet[r[i] & 31];
	}
	out[k] = 0;
	vl_wipe(r, sizeof r);
	return VL_OK;
}

int vl_core_invite_key(const uint8_t *code, size_t len, uint8_t key[32])
{
	const struct vl_suite *s = vl_suite_get(VL_SUITE_X25519_AES128GCM_SHA256_ED25519);
	uint8_t h[VL_HASH_MAX];
	if (!s)
		return VL_ERR_CRYPTO;
	int rc = vl_hash(s, code, len, h);
	if (rc == VL_OK)
		memcpy(key, h, 32);
	vl_wipe(h, sizeof h);
	return rc;
}
