/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attachments: a file is encrypted once with a fresh AES-128-GCM key and
 * nonce, the ciphertext uploaded once to the server's blob store
 * (docs/protocol.md §7), and one MIMI message carries the external part
 * (blob URL, key, nonce, SHA-256 of the ciphertext, size, media type, file
 * name) to the whole group — so the cost of sending does not grow with the
 * group. A lost connection is resumed where it stopped, both ways: an
 * upload from the offset the server reports, a download with a byte
 * range. Downloading checks the blob's hash, then decrypts.
 *
 * The file is held in memory whole (at most VL_CLIENT_ATTACHMENT_MAX):
 * AES-GCM through the crypto provider is one-shot.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client_int.h"

#define ATT_KEY_LEN   16
#define ATT_NONCE_LEN 12
#define ATT_AEAD_ID   1 /* IANA AEAD_AES_128_GCM */
/* Times a download that keeps making progress is resumed after a lost
 * connection. */
#define DOWNLOAD_RESUMES 16
/* The same for an upload (docs/protocol.md §7). */
#define UPLOAD_RESUMES 16

/* Counters for the benchmark's "one encryption, one upload" check. */
unsigned long cl_attach_encryptions, cl_attach_uploads;

int cl_attach_secret_put(struct vl_client *c, const char *blob_id, const struct vl_mimi_external *e)
{
	if (e->enc_alg != ATT_AEAD_ID || e->key.len != ATT_KEY_LEN || e->nonce.len != ATT_NONCE_LEN)
		return VL_ERR_UNSUPPORTED;
	uint8_t rec[2 + ATT_KEY_LEN + ATT_NONCE_LEN];
	rec[0] = 0;
	rec[1] = ATT_AEAD_ID;
	memcpy(rec + 2, e->key.data, ATT_KEY_LEN);
	memcpy(rec + 2 + ATT_KEY_LEN, e->nonce.data, ATT_NONCE_LEN);
	int rc = vl_client_store_attachment_put(c->st, blob_id, rec, sizeof rec);
	vl_wipe(rec, sizeof rec);
	return rc;
}

static void http_base(const struct vl_client *c, char *out, size_t cap)
{
	snprintf(out, cap, "%s://%s:%d", c->u.tls ? "https" : "http", c->u.host, c->u.port);
}

struct membuf {
	uint8_t *p;
	size_t len, cap;
	vl_progress_fn progress;
	void *ctx;
	uint64_t total;
	size_t off; /* for reading */
};

static bool mem_write(void *ctx, const uint8_t *d, size_t n)
{
	struct membuf *m = ctx;
	if (m->len + n > m->cap)
		return false;
	memcpy(m->p + m->len, d, n);
	m->len += n;
	if (m->progress && !m->progress(m->ctx, m->len, m->total))
		return false;
	return true;
}

static long mem_read(void *ctx, uint8_t *buf, size_t cap)
{
	struct membuf *m = ctx;
	size_t k = m->len - m->off < cap ? m->len - m->off : cap;
	memcpy(buf, m->p + m->off, k);
	m->off += k;
	if (m->progress && !m->progress(m->ctx, m->off, m->len))
		return -1;
	return (long)k;
}

/* GET /blob/challenge: a fresh challenge as 64 hex characters. */
static int blob_challenge(struct vl_client *c, uint8_t ch[VL_PROTO_CHALLENGE_LEN])
{
	uint8_t body[130];
	struct membuf mb = {.p = body, .cap = sizeof body - 1};
	struct cl_http_req req = {.method = "GET",
	                          .path = "/blob/challenge",
	                          .resp_write = mem_write,
	                          .resp_ctx = &mb,
	                          .resp_max = 128};
	int status;
	int rc = cl_http(&c->u, &c->tls, &req, c->timeout_ms, &status);
	if (rc)
		return cl_fail(c, rc == VL_ERR_TIMEOUT ? rc : VL_ERR_NET, "blob challenge: %s",
		               vl_strerror(rc));
	if (status == 404)
		return cl_fail(c, VL_ERR_UNSUPPORTED, "the server has no blob store");
	if (status != 200)
		return cl_fail(c, VL_ERR_PROTOCOL, "blob challenge: HTTP %d", status);
	while (mb.len > 0 && (body[mb.len - 1] == '\n' || body[mb.len - 1] == '\r'))
		mb.len--;
	body[mb.len] = '\0';
	size_t n;
	if (!cl_unhex((char *)body, ch, VL_PROTO_CHALLENGE_LEN, &n) || n != VL_PROTO_CHALLENGE_LEN)
		return cl_fail(c, VL_ERR_PROTOCOL, "blob challenge: bad body");
	return VL_OK;
}

/* The X-Valise-* headers of one upload request, over a fresh challenge,
 * followed by X-Valise-Upload: uidx. */
static int blob_auth(struct vl_client *c, const char *uidx, char *headers, size_t cap)
{
	uint8_t ch[VL_PROTO_CHALLENGE_LEN];
	int rc = blob_challenge(c, ch);
	if (rc)
		return rc;
	if (!c->server_name[0])
		return cl_fail(c, VL_ERR_NET,
		               "connect first: the server name comes with its challenge");
	struct vl_writer w;
	vl_writer_init_heap(&w, 2048);
	struct vl_bytes chb = {ch, sizeof ch};
	struct vl_bytes sn = {(const uint8_t *)c->server_name, strlen(c->server_name)};
	struct vl_bytes u = {(const uint8_t *)c->address, strlen(c->address)};
	struct vl_bytes d = {(const uint8_t *)c->device, strlen(c->device)};
	uint8_t sig[VL_SIG_MAX];
	size_t sig_len = 0;
	rc = vl_proto_auth_tbs(&w, VL_PROTO_LABEL_BLOB, &chb, &sn, &u, &d);
	if (!rc)
		rc = vl_sign(c->s, c->sig_priv, w.buf, w.len, sig, &sig_len);
	vl_writer_cleanup(&w);
	if (rc)
		return cl_fail(c, rc, "signing failed");
	char chx[2 * VL_PROTO_CHALLENGE_LEN + 1], sigx[2 * VL_SIG_MAX + 1];
	vl_hex_encode(ch, sizeof ch, chx);
	vl_hex_encode(sig, sig_len, sigx);
	snprintf(headers, cap,
	         "X-Valise-User: %s\r\nX-Valise-Device: %s\r\nX-Valise-Challenge: %s\r\n"
	         "X-Valise-Signature: %s\r\nX-Valise-Upload: %s\r\n"
	         "Content-Type: application/octet-stream\r\n",
	         c->address, c->device, chx, sigx, uidx);
	return VL_OK;
}

/* One PUT /blob of the resumable upload uidx: ct[from..), or with query
 * no body and the question how far it got. The reply's body, trimmed, in
 * body (up to 128 octets). Returns cl_http's result, *status the HTTP
 * status; or, with *status -1, the error (already reported) that kept the
 * request from being made. */
static int blob_put(struct vl_client *c, const char *uidx, const uint8_t *ct, size_t ct_len,
                    size_t from, bool query, vl_progress_fn pf, void *pctx, int *status,
                    char body[130])
{
	char headers[1200];
	int rc = blob_auth(c, uidx, headers, sizeof headers);
	if (rc) {
		*status = -1;
		return rc;
	}
	size_t hl = strlen(headers);
	if (query)
		snprintf(headers + hl, sizeof headers - hl, "Content-Range: bytes */%zu\r\n",
		         ct_len);
	else if (from)
		snprintf(headers + hl, sizeof headers - hl, "Content-Range: bytes %zu-%zu/%zu\r\n",
		         from, ct_len - 1, ct_len);
	/* The progress goes on from where the server is. */
	struct membuf in = {
	    .p = (uint8_t *)ct, .len = ct_len, .off = from, .progress = pf, .ctx = pctx};
	struct membuf out = {.p = (uint8_t *)body, .cap = 128};
	struct cl_http_req req = {
	    .method = "PUT",
	    .path = "/blob",
	    .headers = headers,
	    .body_len = query ? 0 : ct_len - from,
	    .body_read = query ? NULL : mem_read,
	    .body_ctx = &in,
	    .resp_write = mem_write,
	    .resp_ctx = &out,
	    .resp_max = 128,
	};
	rc = cl_http(&c->u, &c->tls, &req, c->timeout_ms, status);
	while (out.len > 0 && (body[out.len - 1] == '\n' || body[out.len - 1] == '\r'))
		out.len--;
	body[out.len] = '\0';
	return rc;
}

/* An offset the server sent (a 200 or 409 body), or -1. */
static long long blob_offset(const char *body, size_t ct_len)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(body, &end, 10);
	if (end == body || *end || errno || body[0] == '-' || v > ct_len)
		return -1;
	return (long long)v;
}

/* Uploads the ciphertext as a resumable upload (docs/protocol.md §7): a
 * connection lost part-way (or answered 408) is resumed from where the
 * server says it got to, as long as each attempt brings it more (one
 * attempt that does not is allowed: the server may have lost the part).
 * The server's blob id must be hash, the SHA-256 of ct. */
static int blob_upload(struct vl_client *c, const uint8_t *ct, size_t ct_len,
                       const uint8_t hash[32], vl_progress_fn pf, void *pctx,
                       char blob_id[VL_CLIENT_BLOB_ID_LEN + 1])
{
	uint8_t uid[16];
	char uidx[33], body[130];
	if (vl_random(uid, sizeof uid))
		return cl_fail(c, VL_ERR_CRYPTO, "no randomness");
	vl_hex_encode(uid, sizeof uid, uidx);
	size_t from = 0;
	int status = 0, rc;
	bool restarted = false;
	for (unsigned resumes = 0;; resumes++) {
		rc = blob_put(c, uidx, ct, ct_len, from, false, pf, pctx, &status, body);
		if (rc == VL_OK && status == 409) {
			/* The server holds another offset (it had read more than
			 * it had said): go on from there. */
			long long at = blob_offset(body, ct_len);
			if (at < 0 || resumes == UPLOAD_RESUMES)
				break;
			from = (size_t)at;
			continue;
		}
		/* 408: the server found the link too slow (transfer_min_rate) and
		 * kept what came, as when the connection is lost. */
		bool cut =
		    rc == VL_ERR_NET || rc == VL_ERR_TIMEOUT || (rc == VL_OK && status == 408);
		if (!cut || resumes == UPLOAD_RESUMES)
			break;
		/* Lost part-way: how far did the server get? */
		int qs = 0;
		if (blob_put(c, uidx, ct, ct_len, 0, true, NULL, NULL, &qs, body) || qs != 200)
			break;
		long long at = blob_offset(body, ct_len);
		if (at < 0)
			break;
		/* Nothing more than before: either nothing arrived, or the server
		 * lost what it held (it restarted, or upload_ttl passed). Once,
		 * go on from what it says; a second time, give up. */
		if ((size_t)at <= from && restarted)
			break;
		restarted = restarted || (size_t)at <= from;
		from = (size_t)at;
	}
	if (status == -1)
		return rc; /* no challenge, no signature: reported */
	if (rc == VL_ERR_STATE)
		return cl_fail(c, rc, "upload cancelled");
	if (rc)
		return cl_fail(c, rc == VL_ERR_TIMEOUT ? rc : VL_ERR_NET, "upload: %s",
		               vl_strerror(rc));
	cl_attach_uploads++;
	if (status == 413 || status == 507 || status == 429)
		return cl_fail(c, VL_ERR_LIMIT, "upload refused: HTTP %d (%s)", status,
		               status == 429 ? "too many unfinished uploads" : "size or quota");
	if (status != 201 && status != 200)
		return cl_fail(c, VL_ERR_PROTOCOL, "upload: HTTP %d%s", status,
		               status == 500 ? " (the server could not store it; try again later)"
		               : status == 503
		                   ? " (the server is busy or stopping; try again later)"
		                   : "");
	uint8_t idb[32];
	size_t n;
	if (strlen(body) != VL_CLIENT_BLOB_ID_LEN || !cl_unhex(body, idb, sizeof idb, &n) ||
	    n != sizeof idb)
		return cl_fail(c, VL_ERR_PROTOCOL, "upload: bad blob id");
	if (!vl_ct_equal(hash, idb, sizeof idb))
		return cl_fail(c, VL_ERR_PROTOCOL,
		               "upload: blob id is not the hash of what was sent");
	memcpy(blob_id, body, VL_CLIENT_BLOB_ID_LEN + 1);
	return VL_OK;
}

static int read_file(struct vl_client *c, const char *path, uint8_t **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cl_fail(c, VL_ERR_IO, "cannot open %.200s: %s", path, strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		close(fd);
		return cl_fail(c, VL_ERR_IO, "%.200s is not a regular file", path);
	}
	if ((uint64_t)sb.st_size > VL_CLIENT_ATTACHMENT_MAX) {
		close(fd);
		return cl_fail(c, VL_ERR_LIMIT, "%.200s is over the attachment limit", path);
	}
	size_t size = (size_t)sb.st_size;
	/* Room for the tag so the encryption can run in place. */
	uint8_t *buf = malloc(size + VL_AEAD_TAG_LEN);
	if (!buf) {
		close(fd);
		return VL_ERR_NOMEM;
	}
	size_t got = 0;
	while (got < size) {
		ssize_t r = read(fd, buf + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			close(fd);
			free(buf);
			return cl_fail(c, VL_ERR_IO, "cannot read %.200s", path);
		}
		got += (size_t)r;
	}
	close(fd);
	*out = buf;
	*len = size;
	return VL_OK;
}

static const char *guess_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} t[] = {{".txt", "text/plain"},        {".pdf", "application/pdf"},
	         {".png", "image/png"},         {".jpg", "image/jpeg"},
	         {".jpeg", "image/jpeg"},       {".gif", "image/gif"},
	         {".ogg", "audio/ogg"},         {".mp4", "video/mp4"},
	         {".json", "application/json"}, {".zip", "application/zip"}};
	const char *dot = strrchr(name, '.');
	for (size_t i = 0; dot && i < sizeof t / sizeof *t; i++)
		if (strcasecmp(dot, t[i].ext) == 0)
			return t[i].type;
	return "application/octet-stream";
}

int vl_client_send_file(struct vl_client *c, const char *conv, const char *path,
                        const char *media_type, const char *file_name, vl_progress_fn progress,
                        void *progress_ctx, char id[VL_CLIENT_MSG_ID_LEN + 1])
{
	if (id)
		id[0] = '\0';
	struct cl_conv *cv = conv ? cl_conv_find(c, conv) : NULL;
	if (!cv)
		return cl_fail(c, VL_ERR_NOT_FOUND, "no such conversation");
	if (!cv->active || !cv->g)
		return cl_fail(c, VL_ERR_STATE, "no longer a member of this conversation");
	if (!path)
		return cl_fail(c, VL_ERR_ARG, "no file");
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (!file_name)
		file_name = base;
	if (!media_type)
		media_type = guess_type(file_name);
	if (strlen(file_name) > 255 || strlen(media_type) > 255)
		return cl_fail(c, VL_ERR_ARG, "file name or media type too long");
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = read_file(c, path, &buf, &len);
	if (rc)
		return rc;
	uint8_t key[ATT_KEY_LEN], nonce[ATT_NONCE_LEN], hash[VL_HASH_MAX];
	const struct vl_suite *s = vl_suite_get(1); /* AES-128-GCM, SHA-256 */
	rc = vl_random(key, sizeof key);
	if (!rc)
		rc = vl_random(nonce, sizeof nonce);
	if (!rc)
		rc = vl_aead_seal(s, key, nonce, NULL, 0, buf, len, buf);
	if (!rc)
		cl_attach_encryptions++;
	size_t ct_len = len + VL_AEAD_TAG_LEN;
	if (!rc)
		rc = vl_hash(s, buf, ct_len, hash);
	char blob[VL_CLIENT_BLOB_ID_LEN + 1];
	if (!rc)
		rc = blob_upload(c, buf, ct_len, hash, progress, progress_ctx, blob);
	else
		rc = cl_fail(c, rc, "encryption failed");
	free(buf);
	if (rc) {
		vl_wipe(key, sizeof key);
		return rc;
	}
	char url[400];
	http_base(c, url, sizeof url - 80);
	size_t ul = strlen(url);
	snprintf(url + ul, sizeof url - ul, "/blob/%s", blob);
	struct vl_mimi_external e;
	memset(&e, 0, sizeof e);
	e.url = (struct vl_mimi_text){url, strlen(url)};
	e.size = len;
	e.enc_alg = ATT_AEAD_ID;
	e.key = (struct vl_mimi_bytes){key, sizeof key};
	e.nonce = (struct vl_mimi_bytes){nonce, sizeof nonce};
	e.hash_alg = VL_MIMI_HASH_SHA256;
	e.content_hash = (struct vl_mimi_bytes){hash, 32};
	e.filename = (struct vl_mimi_text){(char *)file_name, strlen(file_name)};
	struct vl_mimi_content mc;
	vl_mimi_content_init(&mc);
	rc = vl_mimi_part_set_external(&mc.body, VL_MIMI_DISP_ATTACHMENT, NULL, media_type, &e);
	if (!rc)
		rc = cl_attach_secret_put(c, blob, &e);
	if (!rc)
		rc = cl_msg_send(c, cv, &mc, true, id);
	vl_wipe(key, sizeof key);
	if (mc.body.external.key.data)
		vl_wipe(mc.body.external.key.data, mc.body.external.key.len);
	vl_mimi_content_cleanup(&mc);
	return rc;
}

int vl_client_download(struct vl_client *c, const char *message_id, const char *dest_path,
                       vl_progress_fn progress, void *progress_ctx)
{
	struct vl_message m;
	int rc = vl_client_message(c, message_id, &m);
	if (rc)
		return rc;
	if (m.kind != VL_MSG_ATTACHMENT || m.deleted) {
		vl_message_cleanup(&m);
		return cl_fail(c, VL_ERR_NOT_FOUND, "not an attachment");
	}
	uint8_t *sec;
	size_t sec_len;
	rc = vl_client_store_attachment_get(c->st, m.attachment.blob_id, &sec, &sec_len);
	if (rc || sec_len != 2 + ATT_KEY_LEN + ATT_NONCE_LEN) {
		if (!rc)
			vl_client_store_free(sec, sec_len);
		vl_message_cleanup(&m);
		return cl_fail(c, VL_ERR_NOT_FOUND, "attachment key missing");
	}
	uint64_t ct_len = m.attachment.size + VL_AEAD_TAG_LEN;
	uint8_t *buf = malloc((size_t)ct_len);
	if (!buf) {
		vl_client_store_free(sec, sec_len);
		vl_message_cleanup(&m);
		return VL_ERR_NOMEM;
	}
	char path[100];
	snprintf(path, sizeof path, "/blob/%s", m.attachment.blob_id);
	struct membuf mb = {.p = buf,
	                    .cap = (size_t)ct_len,
	                    .progress = progress,
	                    .ctx = progress_ctx,
	                    .total = ct_len};
	struct cl_http_req req = {
	    .method = "GET", .path = path, .resp_write = mem_write, .resp_ctx = &mb};
	int status = 0;
	/* A connection lost part-way is resumed where it stopped (a Range
	 * request), as long as each attempt brings more of the blob. */
	for (unsigned resumes = 0;; resumes++) {
		size_t before = mb.len;
		req.range_from = before;
		req.resp_max = ct_len - before;
		rc = cl_http(&c->u, &c->tls, &req, c->timeout_ms, &status);
		if ((rc != VL_ERR_NET && rc != VL_ERR_TIMEOUT) || mb.len == before ||
		    resumes == DOWNLOAD_RESUMES)
			break;
	}
	if (rc == VL_ERR_STATE)
		rc = cl_fail(c, VL_ERR_STATE, "download cancelled");
	else if (rc == VL_ERR_LIMIT)
		rc = cl_fail(c, VL_ERR_CRYPTO, "blob larger than announced");
	else if (rc)
		rc = cl_fail(c, rc == VL_ERR_TIMEOUT ? rc : VL_ERR_NET, "download: %s",
		             vl_strerror(rc));
	else if (status == 404)
		rc = cl_fail(c, VL_ERR_NOT_FOUND, "blob not found on the server");
	else if (status != 200)
		rc = cl_fail(c, VL_ERR_PROTOCOL, "download: HTTP %d", status);
	uint8_t h[VL_HASH_MAX];
	const struct vl_suite *s = vl_suite_get(1);
	if (!rc && (mb.len != ct_len || vl_hash(s, buf, mb.len, h) ||
	            !vl_ct_equal(h, m.attachment.hash, 32)))
		rc = cl_fail(c, VL_ERR_CRYPTO, "attachment hash does not match");
	if (!rc && vl_aead_open(s, sec + 2, sec + 2 + ATT_KEY_LEN, NULL, 0, buf, mb.len, buf))
		rc = cl_fail(c, VL_ERR_CRYPTO, "attachment does not decrypt");
	vl_client_store_free(sec, sec_len);
	if (!rc) {
		int fd = open(dest_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			rc = cl_fail(c, errno == EEXIST ? VL_ERR_EXISTS : VL_ERR_IO,
			             "cannot create %.200s", dest_path);
		} else {
			size_t off = 0, n = (size_t)m.attachment.size;
			while (!rc && off < n) {
				ssize_t wr = write(fd, buf + off, n - off);
				if (wr < 0 && errno == EINTR)
					continue;
				if (wr <= 0)
					rc =
					    cl_fail(c, VL_ERR_IO, "cannot write %.200s", dest_path);
				else
					off += (size_t)wr;
			}
			if (fsync(fd) && !rc)
				rc = cl_fail(c, VL_ERR_IO, "cannot write %.200s", dest_path);
			close(fd);
			if (rc)
				unlink(dest_path);
		}
		vl_wipe(buf, (size_t)m.attachment.size);
	}
	free(buf);
	vl_message_cleanup(&m);
	return rc;
}
