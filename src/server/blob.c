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
 *
 * A resumable upload (X-Valise-Upload) writes to a part kept in
 * t->partials, not with the request: if the connection goes, the part
 * stays, for upload_ttl, and a later request of the same device appends
 * the rest (Content-Range) or asks how far it got. Each time a request
 * leaves a part unfinished, a note beside its file (NAME.part) says whose
 * it is, how far it got and the hash of that much; a stop (SIGTERM)
 * writes the notes again, with the files synced. The next start takes
 * back every part whose file still holds what its note says: all of them
 * after a stop, and after a crash those whose octets reached the disk
 * (the notes written on the way are not synced, so the hash decides).
 */
#include <dirent.h>
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
#include "wire/hex.h"

#define PENDING_MAX   (256u * 1024) /* body bytes held while authenticating */
#define UPLOAD_ID_LEN 16

enum up_state { UP_AUTH, UP_RECEIVING, UP_STORING, UP_DONE };

/* The file a blob is written to while it arrives, with the hash of what it
 * holds. A resumable upload's part outlives the connection that was
 * writing it: it stays in t->partials, unowned, until a later request of
 * the same device finishes it or it goes stale. */
struct blob_part {
	struct blob_part *next;    /* in t->partials, if resumable */
	struct blob_upload *owner; /* the request writing to it, or NULL */
	bool resumable;            /* in t->partials */
	char user[VL_PROTO_ADDRESS_MAX + 1];
	char device[VL_PROTO_DEVICE_MAX + 1];
	uint8_t upload_id[UPLOAD_ID_LEN];
	uint64_t total, got; /* the blob's size; octets in the file */
	uint64_t idle_since; /* monotonic seconds, while unowned */
	int fd;
	char tmp[VL_CONFIG_PATH_MAX + 64]; /* "": renamed, or none */
	bool noted;                        /* tmp.part is its note */
	struct vl_hash_ctx *hash;
};

/* One PUT /blob request. */
struct blob_upload {
	struct http_sess *h; /* NULL once the HTTP connection is gone */
	struct vl_transport *t;
	enum up_state st;
	char user[VL_PROTO_ADDRESS_MAX + 1];
	char device[VL_PROTO_DEVICE_MAX + 1];
	uint8_t challenge[VL_PROTO_CHALLENGE_LEN];
	uint8_t sig[VL_PROTO_SIGNATURE_MAX];
	size_t sig_len;
	bool resumable; /* X-Valise-Upload */
	bool query;     /* Content-Range: bytes STAR/total, no body */
	uint8_t upload_id[UPLOAD_ID_LEN];
	uint64_t first, total;  /* the body is octets first.. of total */
	uint64_t expected, got; /* this request's body */
	uint8_t *pending;
	size_t pending_len;
	bool body_done;
	struct blob_part *part; /* once authenticated */
	char final[VL_CONFIG_PATH_MAX + 96];
	uint8_t id[32];
	struct vl_store_device dev;
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

/* Makes the names in folder p durable (best effort). */
static void sync_dir(const char *p)
{
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

static void parts_reload(struct vl_transport *t, const char *dir);

/* Files left in blobs/tmp that no part holds (its file and its note):
 * those of parts a start could not take back. */
static void clear_tmp(struct vl_transport *t, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	unsigned n = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		bool held = false;
		for (struct blob_part *p = t->partials; p && !held; p = p->next) {
			const char *base = strrchr(p->tmp, '/');
			size_t len = base ? strlen(++base) : 0;
			held = len && strncmp(base, e->d_name, len) == 0 &&
			       (!e->d_name[len] ||
			        (p->noted && strcmp(e->d_name + len, ".part") == 0));
		}
		if (!held && unlinkat(dirfd(d), e->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	if (n)
		vl_log(VL_LOG_INFO, "blob_tmp_cleared", "files=%u", n);
}

int vl_blob_init(struct vl_transport *t)
{
	snprintf(t->blob_dir, sizeof t->blob_dir, "%s/blobs", t->cfg->data_dir);
	char tmp[sizeof t->blob_dir + 8];
	snprintf(tmp, sizeof tmp, "%s/tmp", t->blob_dir);
	if (mkdir_if(t->blob_dir) || mkdir_if(tmp))
		return VL_ERR_IO;
	parts_reload(t, tmp);
	clear_tmp(t, tmp);
	t->challenges = calloc(VL_BLOB_CHALLENGES, sizeof *t->challenges);
	return t->challenges ? VL_OK : VL_ERR_NOMEM;
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

/* A text reply, with extra header lines (or NULL), then close. */
static int reply_text_extra(struct http_sess *h, unsigned status, const char *text,
                            const char *extra)
{
	char *b = strdup(text);
	if (!b)
		return -1;
	h->close_after = true;
	return vl_http_reply_extra(h, status, "text/plain", b, strlen(b), extra);
}

static int reply_text(struct http_sess *h, unsigned status, const char *text)
{
	return reply_text_extra(h, status, text, NULL);
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

/* --- parts: the file an upload writes ---------------------------------------- */

/* Takes a part out of t->partials: it is no longer resumable. */
static void part_unlist(struct vl_transport *t, struct blob_part *p)
{
	if (!p->resumable)
		return;
	p->resumable = false;
	for (struct blob_part **pp = &t->partials; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			t->n_partials--;
			vl_core_metrics_mut(t->core)->blob_unfinished = t->n_partials;
			return;
		}
}

static void part_unnote(struct blob_part *p);

static void part_free(struct vl_transport *t, struct blob_part *p)
{
	part_unlist(t, p);
	part_unnote(p);
	if (p->fd >= 0)
		close(p->fd);
	if (p->tmp[0])
		unlink(p->tmp);
	vl_hash_ctx_free(p->hash);
	free(p);
}

static struct blob_part *part_new(struct vl_transport *t, const struct blob_upload *up)
{
	struct blob_part *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	snprintf(p->tmp, sizeof p->tmp, "%s/tmp/upload-XXXXXX", t->blob_dir);
	p->fd = mkstemp(p->tmp);
	if (p->fd < 0)
		p->tmp[0] = 0;
	if (p->fd < 0 || vl_hash_ctx_new(vl_suite_get(1), &p->hash) != VL_OK) {
		part_free(t, p);
		return NULL;
	}
	strcpy(p->user, up->user);
	strcpy(p->device, up->device);
	memcpy(p->upload_id, up->upload_id, sizeof p->upload_id);
	p->total = up->total;
	if (up->resumable) {
		p->resumable = true;
		p->next = t->partials;
		t->partials = p;
		t->n_partials++;
		vl_core_metrics_mut(t->core)->blob_unfinished = t->n_partials;
	}
	return p;
}

/* The device's resumable upload with that id, or NULL. */
static struct blob_part *part_find(struct vl_transport *t, const struct blob_upload *up)
{
	for (struct blob_part *p = t->partials; p; p = p->next)
		if (memcmp(p->upload_id, up->upload_id, UPLOAD_ID_LEN) == 0 &&
		    strcmp(p->user, up->user) == 0 && strcmp(p->device, up->device) == 0)
			return p;
	return NULL;
}

/* --- retention (blob_ttl) ---------------------------------------------------- */

/* Blob records per pass. Passes run every minute (or half of blob_ttl if
 * that is shorter), at once again after a full one. */
#define RETIRE_CHUNK   1000
#define RETIRE_EVERY_S 60

struct retire_job {
	struct vl_core_job job;
	struct vl_transport *t;
	uint64_t before; /* Unix seconds */
	size_t deleted, files;
};

/* On the store thread: the file of a blob no user holds any more. */
static void retire_file(void *ctx, const uint8_t *id, size_t len)
{
	struct retire_job *j = ctx;
	if (len != 32)
		return;
	char hex[65], path[sizeof j->t->blob_dir + 80];
	vl_hex_encode(id, 32, hex);
	snprintf(path, sizeof path, "%s/%.2s/%s", j->t->blob_dir, hex, hex);
	if (unlink(path) == 0)
		j->files++;
}

static int retire_run(struct vl_store *st, struct vl_core_job *job)
{
	struct retire_job *j = (struct retire_job *)job;
	return vl_store_blob_prune(st, j->before, RETIRE_CHUNK, retire_file, j, &j->deleted);
}

static void retire_complete(struct vl_core_job *job)
{
	struct retire_job *j = (struct retire_job *)job;
	struct vl_transport *t = j->t;
	t->retire_running = false;
	if (job->sj.status != VL_OK) {
		vl_log(VL_LOG_WARN, "blob_retention_failed", "%s", "");
		j->deleted = 0;
	} else if (j->deleted) {
		vl_log(VL_LOG_INFO, "blobs_retired", "records=%zu files=%zu", j->deleted, j->files);
		vl_core_metrics_mut(t->core)->blobs_retired += j->deleted;
	}
	/* After a full pass more may be due: the next sweep goes on. */
	uint64_t every = t->cfg->blob_ttl / 2;
	if (every > RETIRE_EVERY_S)
		every = RETIRE_EVERY_S;
	if (every == 0)
		every = 1;
	t->retire_next = mono_s() + (j->deleted == RETIRE_CHUNK ? 0 : every);
}

/* Starts a retention pass if blob_ttl is set and one is due. */
static void retire_maybe(struct vl_transport *t, uint64_t now)
{
	uint64_t wall = (uint64_t)time(NULL);
	if (!t->cfg->blob_ttl || t->retire_running || now < t->retire_next || !t->accepting ||
	    wall <= t->cfg->blob_ttl)
		return;
	struct retire_job *j = (struct retire_job *)vl_core_job_new_raw(
	    t->core, sizeof *j, retire_run, retire_complete);
	if (!j)
		return; /* the next sweep tries again */
	j->t = t;
	j->before = wall - t->cfg->blob_ttl;
	t->retire_running = true;
	vl_core_job_submit(&j->job);
}

void vl_blob_sweep(struct vl_transport *t)
{
	uint64_t now = mono_s();
	for (struct blob_part *p = t->partials, *next; p; p = next) {
		next = p->next;
		if (!p->owner && now - p->idle_since >= t->cfg->upload_ttl) {
			vl_log(VL_LOG_INFO, "blob_partial_expired", "user=%s device=%s got=%llu",
			       p->user, p->device, (unsigned long long)p->got);
			vl_core_metrics_mut(t->core)->blob_expired++;
			part_free(t, p);
		}
	}
	retire_maybe(t, now);
}

/* --- unfinished uploads across a restart ------------------------------------- */

/* "valise-part 2 USER DEVICE UPLOAD-ID TOTAL GOT HASH", user and device in
 * hex, HASH the SHA-256 of the file's first GOT octets: a part's note. */
#define PART_NOTE_MAX (160 + 4 * (VL_PROTO_ADDRESS_MAX + VL_PROTO_DEVICE_MAX))

/* Writes p's note (NAME.part, by rename): true if the next start may take
 * p back. With sync, the file and then the note are synced first (a
 * stop); without, a crash may leave less of the file than the note says,
 * and the next start finds out from the hash. */
static bool part_note(struct blob_part *p, bool sync)
{
	if (!p->resumable || !p->tmp[0] || !p->got)
		return false;
	int fd = sync ? open(p->tmp, O_RDONLY | O_CLOEXEC) : -1;
	bool ok = !sync || (fd >= 0 && fsync(fd) == 0);
	if (fd >= 0)
		close(fd);
	uint8_t h[VL_HASH_MAX];
	ok = ok && vl_hash_ctx_peek(p->hash, h) == VL_OK;
	char user[2 * VL_PROTO_ADDRESS_MAX + 1], device[2 * VL_PROTO_DEVICE_MAX + 1];
	char id[2 * UPLOAD_ID_LEN + 1], hash[2 * 32 + 1], note[PART_NOTE_MAX];
	vl_hex_encode((const uint8_t *)p->user, strlen(p->user), user);
	vl_hex_encode((const uint8_t *)p->device, strlen(p->device), device);
	vl_hex_encode(p->upload_id, UPLOAD_ID_LEN, id);
	vl_hex_encode(h, 32, hash);
	int n = snprintf(note, sizeof note, "valise-part 2 %s %s %s %llu %llu %s\n", user, device,
	                 id, (unsigned long long)p->total, (unsigned long long)p->got, hash);
	char path[sizeof p->tmp + 16], fresh[sizeof p->tmp + 16];
	snprintf(path, sizeof path, "%s.part", p->tmp);
	snprintf(fresh, sizeof fresh, "%s.part.new", p->tmp);
	fd = ok ? open(fresh, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
	if (fd < 0)
		return false;
	ok = n > 0 && (size_t)n < sizeof note && write(fd, note, (size_t)n) == n &&
	     (!sync || fsync(fd) == 0);
	close(fd);
	if (!ok || rename(fresh, path) != 0) {
		unlink(fresh);
		return false;
	}
	p->noted = true;
	return true;
}

/* Removes p's note: p is finished, or gone. */
static void part_unnote(struct blob_part *p)
{
	if (!p->noted)
		return;
	char path[sizeof p->tmp + 16];
	snprintf(path, sizeof path, "%s.part", p->tmp);
	unlink(path);
	p->noted = false;
}

/* Takes back one part from its note (dir/name, ending in ".part"): the
 * file is cut to what the note says arrived and hashed again, and kept
 * with its note if that hash is the note's. False if it is not taken
 * back (clear_tmp then removes the file and the note). */
static bool part_reload(struct vl_transport *t, const char *dir, const char *name)
{
	char note_path[VL_CONFIG_PATH_MAX + 64 + 256], note[PART_NOTE_MAX];
	int np = snprintf(note_path, sizeof note_path, "%s/%s", dir, name);
	if (np < 0 || (size_t)np >= sizeof note_path)
		return false;
	FILE *f = fopen(note_path, "r");
	bool ok = f && fgets(note, sizeof note, f);
	if (f)
		fclose(f);
	/* Eight space-separated fields, the sixth and seventh decimal. */
	char *field[8] = {0}, *save = NULL, *end = NULL;
	for (int i = 0; ok && i < 8; i++)
		ok = (field[i] = strtok_r(i ? NULL : note, " \n", &save)) != NULL;
	ok = ok && strcmp(field[0], "valise-part") == 0 && strcmp(field[1], "2") == 0;
	unsigned long long total = ok ? strtoull(field[5], &end, 10) : 0;
	ok = ok && *end == '\0';
	unsigned long long got = ok ? strtoull(field[6], &end, 10) : 0;
	ok = ok && *end == '\0';
	uint8_t noted[32], h[VL_HASH_MAX];
	ok = ok && from_hex(field[7], noted, sizeof noted);
	struct blob_part *p = ok ? calloc(1, sizeof *p) : NULL;
	if (!p)
		return false;
	p->fd = -1;
	size_t ul = strlen(field[2]) / 2, dl = strlen(field[3]) / 2;
	ok = ul && ul <= VL_PROTO_ADDRESS_MAX && dl && dl <= VL_PROTO_DEVICE_MAX &&
	     from_hex(field[2], (uint8_t *)p->user, ul) &&
	     from_hex(field[3], (uint8_t *)p->device, dl) &&
	     from_hex(field[4], p->upload_id, UPLOAD_ID_LEN) && got && got <= total &&
	     total <= t->cfg->max_blob && t->n_partials < VL_BLOB_PARTIALS_MAX;
	/* The part's file is the note's name without ".part". */
	snprintf(p->tmp, sizeof p->tmp, "%.*s", np - 5, note_path);
	int fd = ok ? open(p->tmp, O_RDWR | O_CLOEXEC) : -1;
	struct stat sb;
	ok = fd >= 0 && fstat(fd, &sb) == 0 && (uint64_t)sb.st_size >= got &&
	     ftruncate(fd, (off_t)got) == 0 && vl_hash_ctx_new(vl_suite_get(1), &p->hash) == VL_OK;
	static uint8_t buf[1 << 16];
	for (uint64_t at = 0; ok && at < got;) {
		size_t want = got - at < sizeof buf ? (size_t)(got - at) : sizeof buf;
		ssize_t n = pread(fd, buf, want, (off_t)at);
		ok = n > 0 && vl_hash_ctx_update(p->hash, buf, (size_t)n) == VL_OK;
		at += n > 0 ? (uint64_t)n : 0;
	}
	if (fd >= 0)
		close(fd);
	ok = ok && vl_hash_ctx_peek(p->hash, h) == VL_OK && memcmp(h, noted, sizeof noted) == 0;
	if (!ok) {
		vl_hash_ctx_free(p->hash);
		free(p); /* its file goes with the other leftovers */
		return false;
	}
	p->resumable = true;
	p->noted = true;
	p->total = total;
	p->got = got;
	p->idle_since = mono_s();
	p->next = t->partials;
	t->partials = p;
	t->n_partials++;
	return true;
}

/* Runs before valised listens: the log line says how long it took (each
 * kept part is read whole, at most VL_BLOB_PARTIALS_MAX of max_blob). */
static void parts_reload(struct vl_transport *t, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	size_t dropped = 0;
	for (struct dirent *e; (e = readdir(d));) {
		size_t n = strlen(e->d_name);
		if (n > 5 && strcmp(e->d_name + n - 5, ".part") == 0 &&
		    !part_reload(t, dir, e->d_name))
			dropped++;
	}
	closedir(d);
	vl_core_metrics_mut(t->core)->blob_unfinished = t->n_partials;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	uint64_t bytes = 0;
	for (const struct blob_part *p = t->partials; p; p = p->next)
		bytes += p->got;
	if (t->n_partials || dropped)
		vl_log(VL_LOG_INFO, "blob_partials_restored",
		       "uploads=%zu dropped=%zu bytes=%llu ms=%lld", t->n_partials, dropped,
		       (unsigned long long)bytes,
		       (long long)((t1.tv_sec - t0.tv_sec) * 1000 +
		                   (t1.tv_nsec - t0.tv_nsec) / 1000000));
}

void vl_blob_cleanup(struct vl_transport *t)
{
	/* Every connection has closed: no part has an owner. Resumable parts
	 * are kept for the next start (part_keep); the others go. */
	size_t kept = 0;
	while (t->partials) {
		struct blob_part *p = t->partials;
		if (part_note(p, true)) {
			p->tmp[0] = 0; /* part_free leaves the file and the note */
			p->noted = false;
			kept++;
		}
		part_free(t, p);
	}
	if (kept) {
		char tmp[sizeof t->blob_dir + 8];
		snprintf(tmp, sizeof tmp, "%s/tmp", t->blob_dir);
		sync_dir(tmp); /* the notes' names */
		vl_log(VL_LOG_INFO, "blob_partials_kept", "uploads=%zu", kept);
	}
	free(t->challenges);
	t->challenges = NULL;
}

/* --- uploads ------------------------------------------------------------------ */

/* A resumable part whose request has gone waits for the next one, without
 * a descriptor (a thousand of them would otherwise hold a thousand), and
 * with a note of how far it got for a start after a crash. */
static void part_release(struct blob_part *p)
{
	p->owner = NULL;
	p->idle_since = mono_s();
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	(void)part_note(p, false);
}

/* Frees an upload. Its part, if resumable and not yet complete, stays for
 * a later request to finish; a part that failed was freed already. */
static void upload_free(struct blob_upload *up)
{
	struct blob_part *p = up->part;
	if (p && p->resumable && up->st == UP_RECEIVING)
		part_release(p);
	else if (p)
		part_free(up->t, p);
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

/* Answers an upload with status (and extra header lines, or NULL), and
 * drops it. Returns -1 if the connection is gone or closed for want of
 * memory. */
static int upload_reply(struct blob_upload *up, unsigned status, const char *text,
                        const char *extra)
{
	struct http_sess *h = up->h;
	if (h) {
		h->up = NULL;
		up->h = NULL;
	}
	upload_free(up);
	if (!h)
		return -1;
	vl_http_pause(h, false);
	if (reply_text_extra(h, status, text, extra)) {
		vl_http_abort(h);
		return -1;
	}
	return 0;
}

/* Refuses an upload. */
static int upload_fail(struct blob_upload *up, unsigned status, const char *text)
{
	vl_log(VL_LOG_INFO, "blob_refused", "user=%s device=%s status=%u", up->user, up->device,
	       status);
	vl_core_metrics_mut(up->t->core)->blobs_refused++;
	return upload_reply(up, status, text, NULL);
}

/* Fails an upload whose part can no longer be trusted (a write failed):
 * the part goes too, resumable or not. */
static int upload_fail_part(struct blob_upload *up, unsigned status, const char *text)
{
	if (up->part) {
		up->part->owner = NULL;
		part_free(up->t, up->part);
		up->part = NULL;
	}
	return upload_fail(up, status, text);
}

/* Where a resumable upload stands: 200 (a query) or 409 (a request that
 * started elsewhere), with the octets held, in X-Valise-Offset and in
 * the body. */
static int upload_offset(struct blob_upload *up, unsigned status, uint64_t got)
{
	char text[32], extra[48];
	snprintf(text, sizeof text, "%llu\n", (unsigned long long)got);
	snprintf(extra, sizeof extra, "X-Valise-Offset: %llu\r\n", (unsigned long long)got);
	return upload_reply(up, status, text, extra);
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

static int take_bytes(struct blob_part *p, const uint8_t *in, size_t n)
{
	if (vl_hash_ctx_update(p->hash, in, n) != VL_OK || write_all(p->fd, in, n))
		return -1;
	p->got += n;
	return 0;
}

/* --- storing: fsync, rename to the content address, record ------------- */

static int store_run(struct vl_store *st, struct vl_core_job *job)
{
	struct blob_upload *up = ((struct blob_job *)job)->up;
	struct blob_part *p = up->part;
	/* Durable before it is recorded: the data, then the name. */
	if (fsync(p->fd))
		return VL_ERR_IO;
	close(p->fd);
	p->fd = -1;
	char dir[sizeof up->final];
	snprintf(dir, sizeof dir, "%s/%.2s", up->t->blob_dir, up->final + strlen(up->final) - 64);
	if (mkdir_if(dir))
		return VL_ERR_IO;
	if (access(up->final, F_OK) == 0) {
		/* Same bytes already stored: content addressing dedups. */
		unlink(p->tmp);
	} else {
		if (rename(p->tmp, up->final))
			return VL_ERR_IO;
		up->created = true;
		sync_dir(dir);
	}
	p->tmp[0] = 0; /* the temporary name is gone */
	up->st = UP_DONE;
	int rc = vl_store_blob_add(st, up->id, sizeof up->id, up->dev.user_id, p->total,
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
	if (!up->h) {
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
	char body[66];
	vl_hex_encode(up->id, sizeof up->id, body);
	body[64] = '\n';
	body[65] = 0;
	vl_log(VL_LOG_INFO, "blob_stored", "user=%s device=%s size=%llu", up->user, up->device,
	       (unsigned long long)up->part->total);
	vl_core_metrics_mut(up->t->core)->blobs_stored++;
	upload_reply(up, 201, body, NULL);
}

/* The whole blob is in: hash, then store off the loop. */
static int start_store(struct blob_upload *up)
{
	struct blob_part *p = up->part;
	if (up->got != up->expected || p->got != p->total)
		return upload_fail(up, 400, "body shorter than Content-Length\n");
	part_unlist(up->t, p); /* complete: this request owns it now */
	part_unnote(p);
	uint8_t h[VL_HASH_MAX];
	if (vl_hash_ctx_final(p->hash, h) != VL_OK)
		return upload_fail(up, 500, "hash failed\n");
	memcpy(up->id, h, sizeof up->id);
	char hex[65];
	vl_hex_encode(up->id, sizeof up->id, hex);
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
	return vl_store_device_get(st, up->user, up->device, &up->dev);
}

static bool signature_ok(struct vl_transport *t, struct blob_upload *up)
{
	const struct vl_suite *s = vl_suite_get(up->dev.suite);
	if (up->dev.revoked || !s)
		return false;
	uint8_t tbs[600];
	struct vl_writer w;
	vl_writer_init_fixed(&w, tbs, sizeof tbs);
	struct vl_bytes ch = {up->challenge, sizeof up->challenge};
	struct vl_bytes sn = {(const uint8_t *)t->cfg->server_name, strlen(t->cfg->server_name)};
	struct vl_bytes u = {(const uint8_t *)up->user, strlen(up->user)};
	struct vl_bytes d = {(const uint8_t *)up->device, strlen(up->device)};
	return vl_proto_auth_tbs(&w, VL_PROTO_LABEL_BLOB, &ch, &sn, &u, &d) == VL_OK &&
	       vl_verify(s, up->dev.sig_pub, up->dev.sig_pub_len, tbs, w.len, up->sig,
	                 up->sig_len) == VL_OK;
}

/* Finds or makes the part this authenticated request writes to; on
 * refusal, answers and returns NULL. */
static struct blob_part *upload_part(struct vl_transport *t, struct blob_upload *up)
{
	struct blob_part *p = up->resumable ? part_find(t, up) : NULL;
	if (p) {
		if (p->total != up->total) {
			upload_fail(up, 400, "not the size this upload started with\n");
			return NULL;
		}
		if (p->owner) {
			/* The device has given up on the request still writing
			 * (a connection it has lost but the server not yet):
			 * this one takes over from what has arrived. */
			struct blob_upload *old = p->owner;
			old->part = NULL;
			part_release(p);
			vl_log(VL_LOG_INFO, "blob_upload_taken_over", "user=%s device=%s got=%llu",
			       up->user, up->device, (unsigned long long)p->got);
			upload_reply(old, 409, "taken over by a newer request\n", NULL);
		}
		if (up->first != p->got) {
			upload_offset(up, 409, p->got);
			return NULL;
		}
		struct stat st;
		if (p->fd < 0)
			p->fd = open(p->tmp, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (p->fd < 0 || fstat(p->fd, &st) || (uint64_t)st.st_size != p->got) {
			part_free(t, p);
			upload_fail(up, 500, "cannot write\n");
			return NULL;
		}
		vl_core_metrics_mut(t->core)->blob_resumes++;
		return p;
	}
	if (up->first != 0) {
		upload_offset(up, 409, 0);
		return NULL;
	}
	/* The quota check proper comes once the content address is known
	 * (bytes already stored are not charged twice); until then the user's
	 * unfinished uploads may hold up to the quota besides. */
	uint64_t held = up->total;
	if (up->resumable) {
		unsigned mine = 0;
		for (struct blob_part *q = t->partials; q; q = q->next)
			if (strcmp(q->user, up->user) == 0) {
				held += q->total;
				mine += strcmp(q->device, up->device) == 0;
			}
		if (mine >= VL_BLOB_PARTIALS_PER_DEVICE) {
			upload_fail(up, 429, "too many unfinished uploads\n");
			return NULL;
		}
		if (t->n_partials >= VL_BLOB_PARTIALS_MAX) {
			upload_fail(up, 503, "too many unfinished uploads on this server\n");
			return NULL;
		}
	}
	if (held > t->cfg->blob_quota) {
		upload_fail(up, 507, "quota exceeded\n");
		return NULL;
	}
	p = part_new(t, up);
	if (!p)
		upload_fail(up, 500, "cannot write\n");
	return p;
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
	if (rc != VL_OK && rc != VL_ERR_NOT_FOUND) {
		upload_fail(up, 500, "store unavailable\n");
		return;
	}
	if (rc != VL_OK || !signature_ok(t, up)) {
		upload_fail(up, 401, "authentication failed\n");
		return;
	}
	if (up->query) {
		struct blob_part *p = part_find(t, up);
		if (p && p->total != up->total)
			upload_fail(up, 400, "not the size this upload started with\n");
		else
			upload_offset(up, 200, p ? p->got : 0);
		return;
	}
	struct blob_part *p = upload_part(t, up);
	if (!p)
		return;
	p->owner = up;
	up->part = p;
	up->st = UP_RECEIVING;
	if (up->pending_len && take_bytes(p, up->pending, up->pending_len)) {
		upload_fail_part(up, 500, "cannot write\n");
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

static int on_challenge(struct vl_transport *t, struct http_sess *h)
{
	if (!t->accepting)
		return reply_text(h, 503, "draining\n");
	struct blob_challenge *bc = &t->challenges[t->next_challenge++ % VL_BLOB_CHALLENGES];
	if (vl_random(bc->bytes, sizeof bc->bytes) != VL_OK)
		return reply_text(h, 500, "no randomness\n");
	bc->expires = mono_s() + VL_BLOB_CHALLENGE_TTL_S;
	char *body = malloc(2 * VL_PROTO_CHALLENGE_LEN + 2);
	if (!body)
		return -1;
	vl_hex_encode(bc->bytes, sizeof bc->bytes, body);
	strcat(body, "\n");
	return vl_http_reply(h, 200, "text/plain", body, strlen(body));
}

static int on_download(struct vl_transport *t, struct http_sess *h, const struct vl_http_req *req,
                       const char *uri)
{
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

/* What part of which blob the request's body is: the whole of it, or with
 * X-Valise-Upload a resumable upload's rest (Content-Range), or no body
 * and a question (how far that upload got). Returns 0, or the status to
 * refuse with and *why. */
static unsigned upload_shape(const struct vl_transport *t, const struct vl_http_req *req,
                             struct blob_upload *up, const char **why)
{
	if (req->content_length < 0) {
		*why = "Content-Length required\n";
		return 411;
	}
	up->expected = (uint64_t)req->content_length;
	char uid[2 * UPLOAD_ID_LEN + 2];
	size_t crl;
	const char *cr = vl_http_header(req, "content-range", &crl);
	up->resumable = vl_http_header(req, "x-valise-upload", NULL) != NULL;
	if (up->resumable && (!header(req, "x-valise-upload", uid, sizeof uid) ||
	                      !from_hex(uid, up->upload_id, UPLOAD_ID_LEN))) {
		*why = "X-Valise-Upload is 32 lower-case hex characters\n";
		return 400;
	}
	up->first = 0;
	up->total = up->expected;
	if (cr) {
		uint64_t last = 0;
		enum vl_http_range r =
		    vl_http_parse_content_range(cr, crl, &up->first, &last, &up->total);
		up->query = r == VL_HTTP_RANGE_UNSATISFIABLE;
		if (!up->resumable || r == VL_HTTP_RANGE_NONE ||
		    (r == VL_HTTP_RANGE_ONE &&
		     (last != up->total - 1 || up->expected != last - up->first + 1)) ||
		    (up->query && up->expected != 0)) {
			*why =
			    "bad Content-Range: with X-Valise-Upload, \"bytes first-last/size\" to "
			    "the end of the blob, or \"bytes */size\" with no body\n";
			return 400;
		}
	}
	if (up->total == 0 || (up->expected == 0 && !up->query)) {
		*why = "bad Content-Length\n";
		return 400;
	}
	if (up->total > t->cfg->max_blob) {
		*why = "blob too large\n";
		return 413;
	}
	return 0;
}

int vl_blob_on_http(struct vl_transport *t, struct http_sess *h, const struct vl_http_req *req,
                    const char *uri)
{
	bool get = req->method == VL_HTTP_GET || req->method == VL_HTTP_HEAD;
	bool put = req->method == VL_HTTP_PUT || req->method == VL_HTTP_POST;
	if (get && strcmp(uri, "/blob/challenge") == 0)
		return on_challenge(t, h);
	if (get && strncmp(uri, "/blob/", 6) == 0)
		return on_download(t, h, req, uri);
	if (!put || strcmp(uri, "/blob") != 0)
		return reply_text(h, 404, "not found\n");
	if (!t->accepting)
		return reply_text(h, 503, "draining\n");

	struct blob_upload *up = calloc(1, sizeof *up);
	if (!up)
		return -1;
	up->t = t;
	up->h = h;
	h->up = up;
	const char *why = NULL;
	unsigned status = upload_shape(t, req, up, &why);
	if (status)
		return upload_fail(up, status, why);
	char user[VL_PROTO_ADDRESS_MAX + 2] = "", dev[VL_PROTO_DEVICE_MAX + 2] = "";
	char chal[2 * VL_PROTO_CHALLENGE_LEN + 2] = "", sig[2 * VL_PROTO_SIGNATURE_MAX + 2] = "";
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
	if (take_bytes(up->part, in, len))
		return upload_fail_part(up, 500, "cannot write\n");
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
