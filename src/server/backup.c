/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backups of a data folder (backup.h). Blob files are named by their
 * content and never rewritten in place (blob.c writes a new file and
 * renames it over), so a hard link is as good as a copy and costs
 * nothing; a copy is made only across file systems.
 */
#include "server/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "valise/status.h"
#include "wire/hex.h"

#define PATH_CAP 4096

struct walk {
	struct vl_backup_result *r;
	void (*progress)(const struct vl_backup_result *r);
	time_t last;
	const char *src, *dst; /* data_dir/blobs, dest/blobs */
	bool made[256];        /* dest/blobs/xx created */
	char *err;
	size_t err_len;
};

static int fail(struct walk *w, int rc, const char *what, const char *path)
{
	snprintf(w->err, w->err_len, "%s \"%s\": %s", what, path, strerror(errno));
	return rc;
}

static int sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* Copies src to a new file dst and syncs it. */
static int copy_file(const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return -1;
	}
	static char buf[1 << 16];
	ssize_t n;
	int rc = 0;
	while ((n = read(in, buf, sizeof buf)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -1;
			break;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t m = write(out, buf + off, (size_t)(n - off));
			if (m < 0 && errno == EINTR)
				continue;
			if (m <= 0) {
				rc = -1;
				break;
			}
			off += m;
		}
		if (rc)
			break;
	}
	if (rc == 0)
		rc = fsync(out);
	int saved = errno;
	close(in);
	close(out);
	errno = saved;
	return rc;
}

/* One blob the store's copy records (vl_store_blob_each_fn): its file
 * into dest/blobs/xx/, linked or copied. A file deleted since the copy's
 * moment (retention) is left out: the copy's record of it then leads to a
 * 404, as a missing file does in the original. */
static int backup_blob(void *ctx, const uint8_t *id, size_t id_len)
{
	struct walk *w = ctx;
	if (id_len != 32)
		return VL_OK; /* not a content address: no file has that name */
	char hex[65], from[PATH_CAP], to[PATH_CAP];
	vl_hex_encode(id, id_len, hex);
	snprintf(to, sizeof to, "%s/%.2s", w->dst, hex);
	if (!w->made[id[0]]) {
		if (mkdir(to, 0700) != 0)
			return fail(w, VL_ERR_IO, "cannot create", to);
		w->made[id[0]] = true;
	}
	snprintf(from, sizeof from, "%s/%.2s/%s", w->src, hex, hex);
	snprintf(to, sizeof to, "%s/%.2s/%s", w->dst, hex, hex);
	struct stat sb;
	if (stat(from, &sb) != 0)
		return errno == ENOENT ? VL_OK : fail(w, VL_ERR_IO, "cannot read", from);
	if (link(from, to) == 0) {
		w->r->linked++;
	} else if (errno == ENOENT) {
		return VL_OK;
	} else if (copy_file(from, to) == 0) {
		w->r->copied++;
	} else if (errno == ENOENT) {
		unlink(to);
		return VL_OK;
	} else {
		return fail(w, VL_ERR_IO, "cannot copy a blob to", to);
	}
	w->r->blobs++;
	w->r->blob_bytes += (uint64_t)sb.st_size;
	time_t now = time(NULL);
	if (w->progress && now != w->last) {
		w->last = now;
		w->progress(w->r);
	}
	return VL_OK;
}

int vl_backup(struct vl_store *st, const char *data_dir, const char *dest,
              void (*progress)(const struct vl_backup_result *r), struct vl_backup_result *out,
              char *err, size_t err_len)
{
	memset(out, 0, sizeof *out);
	char path[PATH_CAP + 8], src[PATH_CAP], blobs[PATH_CAP];
	struct walk w = {.r = out,
	                 .progress = progress,
	                 .src = src,
	                 .dst = blobs,
	                 .err = err,
	                 .err_len = err_len};
	/* Room for /blobs/xx/ and 64 hex digits after either. */
	if (strlen(dest) + 80 > sizeof blobs || strlen(data_dir) + 80 > sizeof src) {
		errno = ENAMETOOLONG;
		return fail(&w, VL_ERR_IO, "path too long", dest);
	}
	if (mkdir(dest, 0700) != 0)
		return fail(&w, errno == EEXIST ? VL_ERR_EXISTS : VL_ERR_IO, "cannot create", dest);
	snprintf(src, sizeof src, "%s/blobs", data_dir);
	snprintf(blobs, sizeof blobs, "%s/blobs", dest);
	if (mkdir(blobs, 0700) != 0) {
		int rc = fail(&w, VL_ERR_IO, "cannot create", blobs);
		rmdir(dest);
		return rc;
	}

	/* The store first, in one snapshot; then the files of the blobs that
	 * snapshot records, so the copy holds no file it has no record of. */
	snprintf(path, sizeof path, "%s/valise.db", dest);
	err[0] = '\0';
	int rc = vl_store_backup(st, path, backup_blob, &w, &out->store_bytes);
	if (rc) {
		if (!err[0]) {
			snprintf(err, err_len, "could not copy the store to \"%s\": %s", path,
			         vl_strerror(rc));
			rmdir(blobs);
			rmdir(dest);
		}
		return rc;
	}
	for (unsigned i = 0; i < 256; i++) {
		if (!w.made[i])
			continue;
		snprintf(path, sizeof path, "%s/%02x", blobs, i);
		if (sync_dir(path) != 0)
			return fail(&w, VL_ERR_IO, "cannot sync", path);
	}
	if (sync_dir(blobs) != 0)
		return fail(&w, VL_ERR_IO, "cannot sync", blobs);
	if (sync_dir(dest) != 0)
		return fail(&w, VL_ERR_IO, "cannot sync", dest);
	return VL_OK;
}
