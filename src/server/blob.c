/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Encrypted attachments over HTTP on the WebSocket port (docs/protocol.md
 * §7). An upload is authenticated like a connection: the device signs a
 * one-time server challenge; the body streams to a temporary file while
 * its SHA-256 is computed; the file is then made durable and renamed to
 * its content address (blobs/xx/yyyy...) and recorded against the user's
 * quota, off the event loop. A download needs only the id: 32 bytes of a
 * hash of ciphertext under a fresh key are not guessable.
 *
 * Upload states: AUTH (challenge checked, device looked up, body bytes
 * held back) -> RECEIVING (streaming to disk) -> STORING (fsync, rename,
 * record) -> replied. Any failure replies with an HTTP status and closes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/log.h"
#include "server/transport_int.h"

#define PENDING_MAX (256u * 1024) /* body bytes held while authenticating */

enum up_state { UP_AUTH, UP_RECEIVING, UP_STORING, UP_DONE };

struct blob_upload {
	struct http_sess *h; /* NULL once the HTTP connection is gone */
	struct vl_transport *t;
	enum up_state st;
	char user[VL_PROTO_ADDRESS_MAX + 1];
	char device[VL_PROTO_DEVICE_MAX + 1];
	uint8_t challenge[VL_PROTO_CHALLENGE_LEN];
	uint8_t sig[VL_PROTO_SIGNATURE_MAX];
	size_t sig_len;
	uint64_t expected, got;
	uint8_t *pending;
	size_t pending_len;
	bool body_done;
	int fd;
	char tmp[VL_CONFIG_PATH_MAX + 64];
	char final[VL_CONFIG_PATH_MAX + 96];
	struct vl_hash_ctx *hash;
	uint8_t id[32];
	struct vl_store_device dev;
	uint64_t used;
	bool job_pending;
	bool created; /* this upload created the final file */
	bool existed;
};

struct blob_job {
	struct vl_core_job job;
	struct blob_upload *up;
};

static uint64_t mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

static int mkdir_if(const char *p)
{
	return mkdir(p, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

int vl_blob_init(struct vl_transport *t)
{
	snprintf(t->blob_dir, sizeof t->blob_dir, "%s/blobs", t->cfg->data_dir);
	char tmp[sizeof t->blob_dir + 8];
	snprintf(tmp, sizeof tmp, "%s/tmp", t->blob_dir);
	if (mkdir_if(t->blob_dir) || mkdir_if(tmp))
		return VL_ERR_IO;
	t->challenges = calloc(VL_BLOB_CHALLENGES, sizeof *t->challenges);
	return t->challenges ? VL_OK : VL_ERR_NOMEM;
}

void vl_blob_cleanup(struct vl_transport *t)
{
	free(t->challenges);
	t->challenges = NULL;
}

static void to_hex(const uint8_t *b, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[b[i] >> 4];
		out[2 * i + 1] = hx[b[i] & 15];
	}
	out[2 * n] = 0;
}

static bool from_hex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return false;
	for (size_t i = 0; i < 2 * n; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return false;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return true;
}

static int reply_text(struct http_sess *h, unsigned status, const char *text)
{
	char *b = strdup(text);
	if (!b)
		return -1;
	h->close_after = true;
	return vl_http_reply(h, status, "text/plain", b, strlen(b));
}

/* Takes a challenge out of the table if it is there and fresh. */
static bool consume_challenge(struct vl_transport *t, const uint8_t *c)
{
	uint64_t now = mono_s();
	for (size_t i = 0; i < VL_BLOB_CHALLENGES; i++) {
		struct blob_challenge *bc = &t->challenges[i];
		if (bc->expires && bc->expires >= now &&
		    vl_ct_equal(bc->bytes, c, VL_PROTO_CHALLENGE_LEN)) {
			bc->expires = 0;
			return true;
		}
	}
	return false;
}

static void upload_free(struct blob_upload *up)
{
	if (up->fd >= 0)
		close(up->fd);
	if (up->tmp[0] && up->st != UP_DONE)
		unlink(up->tmp);
	vl_hash_ctx_free(up->hash);
	free(up->pending);
	free(up);
}

void vl_blob_on_closed(struct http_sess *h)
{
	struct blob_upload *up = h->up;
	if (!up)
		return;
	h->up = NULL;
	up->h = NULL;
	if (!up->job_pending)
		upload_free(up);
}

/* Fails an upload: reply (if the connection is still there) and drop.
 * Returns -1 if the connection is gone or closed for want of memory. */
static int upload_fail(struct blob_upload *up, unsigned status, const char *text)
{
	struct http_sess *h = up->h;
	vl_log(VL_LOG_INFO, "blob_refused", "user=%s device=%s status=%u", up->user, up->device,
	       status);
	if (h) {
		h->up = NULL;
		up->h = NULL;
	}
	upload_free(up);
	if (!h)
		return -1;
	vl_http_pause(h, false);
	if (reply_text(h, status, text)) {
		vl_http_abort(h);
		return -1;
	}
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int take_bytes(struct blob_upload *up, const uint8_t *p, size_t n)
{
	if (vl_hash_ctx_update(up->hash, p, n) != VL_OK || write_all(up->fd, p, n))
		return -1;
	return 0;
}

/* --- storing: fsync, rename to the content address, record ------------- */

static int store_run(struct vl_store *st, struct vl_core_job *job)
{
	struct blob_upload *up = ((struct blob_job *)job)->up;
	/* Durable before it is recorded: the data, then the name. */
	if (fsync(up->fd))
		return VL_ERR_IO;
	close(up->fd);
	up->fd = -1;
	char dir[sizeof up->final];
	snprintf(dir, sizeof dir, "%s/%.2s", up->t->blob_dir, up->final + strlen(up->final) - 64);
	if (mkdir_if(dir))
		return VL_ERR_IO;
	if (access(up->final, F_OK) == 0) {
		/* Same bytes already stored: content addressing dedups. */
		unlink(up->tmp);
	} else {
		if (rename(up->tmp, up->final))
			return VL_ERR_IO;
		up->created = true;
		int dfd = open(dir, O_RDONLY | O_DIRECTORY);
		if (dfd >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
	}
	up->st = UP_DONE; /* the temporary name is gone */
	int rc = vl_store_blob_add(st, up->id, sizeof up->id, up->dev.user_id, up->expected,
	                           up->t->cfg->blob_quota, (uint64_t)time(NULL), &up->existed);
	if (rc != VL_OK && up->created) {
		unlink(up->final);
		up->created = false;
	}
	return rc;
}

static void store_complete(struct vl_core_job *job)
{
	struct blob_upload *up = ((struct blob_job *)job)->up;
	up->job_pending = false;
	int rc = job->sj.status;
	struct http_sess *h = up->h;
	if (!h) {
		upload_free(up);
		return;
	}
	if (rc == VL_ERR_LIMIT) {
		upload_fail(up, 507, "quota exceeded\n");
		return;
	}
	if (rc != VL_OK) {
		upload_fail(up, 500, "could not store\n");
		return;
	}
	char *body = malloc(66);
	if (body) {
		to_hex(up->id, sizeof up->id, body);
		body[64] = '\n';
		body[65] = 0;
	}
	vl_log(VL_LOG_INFO, "blob_stored", "user=%s device=%s size=%llu", up->user, up->device,
	       (unsigned long long)up->expected);
	h->up = NULL;
	upload_free(up);
	h->close_after = true;
	if (!body || vl_http_reply(h, 201, "text/plain", body, 65))
		vl_http_abort(h);
}

static int start_store(struct blob_upload *up)
{
	if (up->got != up->expected)
		return upload_fail(up, 400, "body shorter than Content-Length\n");
	uint8_t h[VL_HASH_MAX];
	if (vl_hash_ctx_final(up->hash, h) != VL_OK)
		return upload_fail(up, 500, "hash failed\n");
	memcpy(up->id, h, sizeof up->id);
	char hex[65];
	to_hex(up->id, sizeof up->id, hex);
	snprintf(up->final, sizeof up->final, "%s/%.2s/%s", up->t->blob_dir, hex, hex);
	struct blob_job *j = (struct blob_job *)vl_core_job_new_raw(up->t->core, sizeof *j,
	                                                            store_run, store_complete);
	if (!j)
		return upload_fail(up, 500, "out of memory\n");
	j->up = up;
	up->st = UP_STORING;
	up->job_pending = true;
	vl_core_job_submit(&j->job);
	return 0;
}

/* --- authenticating ----------------------------------------------------------- */

static int auth_run(struct vl_store *st, struct vl_core_job *job)
{
	struct blob_upload *up = ((struct blob_job *)job)->up;
	int rc = vl_store_device_get(st, up->user, up->device, &up->dev);
	if (rc == VL_OK)
		rc = vl_store_blob_usage(st, up->dev.user_id, &up->used);
	return rc;
}

static void auth_complete(struct vl_core_job *job)
{
	struct blob_upload *up = ((struct blob_job *)job)->up;
	struct vl_transport *t = up->t;
	up->job_pending = false;
	if (!up->h) {
		upload_free(up);
		return;
	}
	int rc = job->sj.status;
	const struct vl_suite *s = rc == VL_OK ? vl_suite_get(up->dev.suite) : NULL;
	bool ok = rc == VL_OK && !up->dev.revoked && s;
	if (ok) {
		uint8_t tbs[600];
		struct vl_writer w;
		vl_writer_init_fixed(&w, tbs, sizeof tbs);
		struct vl_bytes ch = {up->challenge, sizeof up->challenge};
		struct vl_bytes sn = {(const uint8_t *)t->cfg->server_name,
		                      strlen(t->cfg->server_name)};
		struct vl_bytes u = {(const uint8_t *)up->user, strlen(up->user)};
		struct vl_bytes d = {(const uint8_t *)up->device, strlen(up->device)};
		ok = vl_proto_auth_tbs(&w, VL_PROTO_LABEL_BLOB, &ch, &sn, &u, &d) == VL_OK &&
		     vl_verify(s, up->dev.sig_pub, up->dev.sig_pub_len, tbs, w.len, up->sig,
		               up->sig_len) == VL_OK;
	}
	if (!ok) {
		if (rc != VL_OK && rc != VL_ERR_NOT_FOUND)
			upload_fail(up, 500, "store unavailable\n");
		else
			upload_fail(up, 401, "authentication failed\n");
		return;
	}
	/* The usage check proper comes once the content address is known:
	 * re-uploading bytes already stored costs nothing. */
	if (up->expected > t->cfg->blob_quota) {
		upload_fail(up, 507, "quota exceeded\n");
		return;
	}
	snprintf(up->tmp, sizeof up->tmp, "%s/tmp/upload-XXXXXX", t->blob_dir);
	up->fd = mkstemp(up->tmp);
	if (up->fd < 0 || vl_hash_ctx_new(vl_suite_get(1), &up->hash) != VL_OK) {
		upload_fail(up, 500, "cannot write\n");
		return;
	}
	up->st = UP_RECEIVING;
	if (up->pending_len && take_bytes(up, up->pending, up->pending_len)) {
		upload_fail(up, 500, "cannot write\n");
		return;
	}
	free(up->pending);
	up->pending = NULL;
	up->pending_len = 0;
	if (up->body_done) {
		start_store(up);
		return;
	}
	vl_http_pause(up->h, false);
}

/* Copies a header's value into out (NUL-terminated); false if absent,
 * empty or too long. */
static bool header(const struct vl_http_req *req, const char *name, char *out, size_t cap)
{
	size_t n;
	const char *v = vl_http_header(req, name, &n);
	if (!v || !n || n >= cap)
		return false;
	memcpy(out, v, n);
	out[n] = 0;
	return true;
}

int vl_blob_on_http(struct vl_transport *t, struct http_sess *h, const struct vl_http_req *req,
                    const char *uri)
{
	bool get = req->method == VL_HTTP_GET || req->method == VL_HTTP_HEAD;
	bool put = req->method == VL_HTTP_PUT || req->method == VL_HTTP_POST;
	if (get && strcmp(uri, "/blob/challenge") == 0) {
		if (!t->accepting)
			return reply_text(h, 503, "draining\n");
		struct blob_challenge *bc =
		    &t->challenges[t->next_challenge++ % VL_BLOB_CHALLENGES];
		if (vl_random(bc->bytes, sizeof bc->bytes) != VL_OK)
			return reply_text(h, 500, "no randomness\n");
		bc->expires = mono_s() + VL_BLOB_CHALLENGE_TTL_S;
		char *body = malloc(2 * VL_PROTO_CHALLENGE_LEN + 2);
		if (!body)
			return -1;
		to_hex(bc->bytes, sizeof bc->bytes, body);
		strcat(body, "\n");
		return vl_http_reply(h, 200, "text/plain", body, strlen(body));
	}
	if (get && strncmp(uri, "/blob/", 6) == 0) {
		uint8_t id[32];
		if (!from_hex(uri + 6, id, sizeof id))
			return reply_text(h, 404, "not found\n");
		char path[sizeof t->blob_dir + 80];
		snprintf(path, sizeof path, "%s/%.2s/%s", t->blob_dir, uri + 6, uri + 6);
		if (access(path, R_OK) != 0)
			return reply_text(h, 404, "not found\n");
		if (vl_http_reply_file(h, path, "application/octet-stream", req))
			return reply_text(h, 404, "not found\n");
		return 0;
	}
	if (!put || strcmp(uri, "/blob") != 0)
		return reply_text(h, 404, "not found\n");
	if (!t->accepting)
		return reply_text(h, 503, "draining\n");

	char user[VL_PROTO_ADDRESS_MAX + 2] = "", dev[VL_PROTO_DEVICE_MAX + 2] = "";
	char chal[2 * VL_PROTO_CHALLENGE_LEN + 2] = "", sig[2 * VL_PROTO_SIGNATURE_MAX + 2] = "";
	if (req->content_length < 0)
		return reply_text(h, 411, "Content-Length required\n");
	uint64_t expected = (uint64_t)req->content_length;
	if (expected == 0)
		return reply_text(h, 400, "bad Content-Length\n");
	if (expected > t->cfg->max_blob)
		return reply_text(h, 413, "blob too large\n");
	struct blob_upload *up = calloc(1, sizeof *up);
	if (!up)
		return -1;
	up->fd = -1;
	up->t = t;
	up->h = h;
	up->expected = expected;
	h->up = up;
	if (!header(req, "x-valise-user", user, sizeof user) ||
	    !header(req, "x-valise-device", dev, sizeof dev) ||
	    !header(req, "x-valise-challenge", chal, sizeof chal) ||
	    !header(req, "x-valise-signature", sig, sizeof sig) ||
	    !vl_proto_address_valid((const uint8_t *)user, strlen(user)) ||
	    !vl_proto_device_valid((const uint8_t *)dev, strlen(dev)) ||
	    !from_hex(chal, up->challenge, sizeof up->challenge) || strlen(sig) % 2 ||
	    strlen(sig) / 2 > sizeof up->sig || !from_hex(sig, up->sig, strlen(sig) / 2))
		return upload_fail(up, 400, "missing or bad X-Valise headers\n");
	strcpy(up->user, user);
	strcpy(up->device, dev);
	up->sig_len = strlen(sig) / 2;
	if (!consume_challenge(t, up->challenge))
		return upload_fail(up, 401, "unknown or expired challenge\n");
	struct blob_job *j =
	    (struct blob_job *)vl_core_job_new_raw(t->core, sizeof *j, auth_run, auth_complete);
	if (!j)
		return upload_fail(up, 500, "out of memory\n");
	j->up = up;
	up->job_pending = true;
	/* Hold the body back until the device is known. */
	vl_http_pause(h, true);
	vl_core_job_submit(&j->job);
	return 0;
}

int vl_blob_on_body(struct vl_transport *t, struct http_sess *h, const uint8_t *in, size_t len)
{
	(void)t;
	struct blob_upload *up = h->up;
	if (!up)
		return 0; /* already answered; the rest is ignored */
	if (len > up->expected - up->got)
		return upload_fail(up, 400, "body longer than Content-Length\n");
	if (up->st == UP_AUTH) {
		if (up->pending_len + len > PENDING_MAX)
			return upload_fail(up, 503, "slow down\n");
		uint8_t *p = realloc(up->pending, up->pending_len + len);
		if (!p)
			return upload_fail(up, 500, "out of memory\n");
		memcpy(p + up->pending_len, in, len);
		up->pending = p;
		up->pending_len += len;
		up->got += len;
		return 0;
	}
	if (up->st != UP_RECEIVING)
		return 0;
	if (take_bytes(up, in, len))
		return upload_fail(up, 500, "cannot write\n");
	up->got += len;
	return 0;
}

int vl_blob_on_body_done(struct vl_transport *t, struct http_sess *h)
{
	(void)t;
	struct blob_upload *up = h->up;
	if (!up)
		return 0;
	if (up->st == UP_AUTH) {
		up->body_done = true; /* stored once authenticated */
		return 0;
	}
	if (up->st != UP_RECEIVING)
		return 0;
	return start_store(up);
}
