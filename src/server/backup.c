/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backups of a data folder (backup.h). Blob files are named by their
 * content and never rewritten in place (blob.c writes a new file and
 * renames it over), so a hard link is as good as a copy and costs
 * nothing; a copy is made only across file systems.
 */
#include "server/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "valise/status.h"

#define PATH_CAP 4096

struct walk {
	struct vl_backup_result *r;
	void (*progress)(const struct vl_backup_result *r);
	time_t last;
	char *err;
	size_t err_len;
};

static int fail(struct walk *w, int rc, const char *what, const char *path)
{
	snprintf(w->err, w->err_len, "%s \"%s\": %s", what, path, strerror(errno));
	return rc;
}

/* dir/name into out (PATH_CAP octets); -1 if it does not fit. */
static int join(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_CAP, "%s/%s", dir, name);
	return n < 0 || n >= PATH_CAP ? -1 : 0;
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

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == '\0';
}

/* One blobs/xx folder: every 64-hex file into dst. */
static int backup_prefix(struct walk *w, const char *src, const char *dst)
{
	if (mkdir(dst, 0700) != 0)
		return fail(w, VL_ERR_IO, "cannot create", dst);
	DIR *d = opendir(src);
	if (!d)
		return fail(w, VL_ERR_IO, "cannot read", src);
	int rc = VL_OK;
	char from[PATH_CAP], to[PATH_CAP];
	for (struct dirent *e; rc == VL_OK && (e = readdir(d));) {
		if (!is_hex(e->d_name, 64))
			continue;
		if (join(from, src, e->d_name) || join(to, dst, e->d_name)) {
			errno = ENAMETOOLONG;
			rc = fail(w, VL_ERR_IO, "cannot copy", src);
			break;
		}
		struct stat sb;
		if (stat(from, &sb) != 0) {
			if (errno == ENOENT)
				continue; /* deleted since the snapshot (retention) */
			rc = fail(w, VL_ERR_IO, "cannot read", from);
			break;
		}
		if (link(from, to) == 0) {
			w->r->linked++;
		} else if (errno == ENOENT) {
			continue;
		} else if (copy_file(from, to) == 0) {
			w->r->copied++;
		} else if (errno == ENOENT) {
			unlink(to);
			continue;
		} else {
			rc = fail(w, VL_ERR_IO, "cannot copy a blob to", to);
			break;
		}
		w->r->blobs++;
		w->r->blob_bytes += (uint64_t)sb.st_size;
		time_t now = time(NULL);
		if (w->progress && now != w->last) {
			w->last = now;
			w->progress(w->r);
		}
	}
	closedir(d);
	if (rc == VL_OK && sync_dir(dst) != 0)
		rc = fail(w, VL_ERR_IO, "cannot sync", dst);
	return rc;
}

int vl_backup(struct vl_store *st, const char *data_dir, const char *dest,
              void (*progress)(const struct vl_backup_result *r), struct vl_backup_result *out,
              char *err, size_t err_len)
{
	memset(out, 0, sizeof *out);
	struct walk w = {.r = out, .progress = progress, .err = err, .err_len = err_len};
	char path[PATH_CAP], src[PATH_CAP];
	if (strlen(dest) + 80 > sizeof path || strlen(data_dir) + 80 > sizeof src) {
		errno = ENAMETOOLONG;
		return fail(&w, VL_ERR_IO, "path too long", dest);
	}
	if (mkdir(dest, 0700) != 0)
		return fail(&w, errno == EEXIST ? VL_ERR_EXISTS : VL_ERR_IO, "cannot create", dest);

	snprintf(path, sizeof path, "%s/valise.db", dest);
	int rc = vl_store_backup(st, path, &out->store_bytes);
	if (rc) {
		rmdir(dest);
		snprintf(err, err_len, "could not copy the store to \"%s\": %s", path,
		         vl_strerror(rc));
		return rc;
	}

	snprintf(path, sizeof path, "%s/blobs", dest);
	if (mkdir(path, 0700) != 0)
		return fail(&w, VL_ERR_IO, "cannot create", path);
	snprintf(src, sizeof src, "%s/blobs", data_dir);
	DIR *d = opendir(src);
	if (!d) {
		if (errno != ENOENT)
			return fail(&w, VL_ERR_IO, "cannot read", src);
	} else {
		char from[PATH_CAP], to[PATH_CAP];
		for (struct dirent *e; rc == VL_OK && (e = readdir(d));) {
			if (!is_hex(e->d_name, 2)) /* "tmp" holds unfinished uploads */
				continue;
			if (join(from, src, e->d_name) || join(to, path, e->d_name)) {
				errno = ENAMETOOLONG;
				rc = fail(&w, VL_ERR_IO, "cannot copy", src);
				break;
			}
			rc = backup_prefix(&w, from, to);
		}
		closedir(d);
		if (rc)
			return rc;
	}
	if (sync_dir(path) != 0)
		return fail(&w, VL_ERR_IO, "cannot sync", path);
	if (sync_dir(dest) != 0)
		return fail(&w, VL_ERR_IO, "cannot sync", dest);
	return VL_OK;
}
