/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers of the test programs. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

uint8_t *tu_unhex(const char *hex, size_t *len)
{
	size_t n = strlen(hex);
	if (n % 2)
		return NULL;
	uint8_t *out = malloc(n / 2 + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(out);
			return NULL;
		}
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return out;
}

char *tu_hex(const uint8_t *buf, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *out = malloc(2 * len + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[buf[i] >> 4];
		out[2 * i + 1] = digits[buf[i] & 15];
	}
	out[2 * len] = 0;
	return out;
}

uint8_t *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			uint8_t *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	*len = n;
	return buf;
}

const char *tu_vectors_dir(void)
{
	static char path[4096];
	const char *env = getenv("VALISE_VECTORS");
	if (env && *env)
		return env;
	env = getenv("VALISE_VECTORS_DEFAULT"); /* set by meson test */
	if (env && *env)
		return env;
	const char *root = getenv("VALISE_SOURCE_ROOT");
	snprintf(path, sizeof path, "%s/../shared/vectors", root && *root ? root : ".");
	return path;
}

const char *tu_vector_path(const char *given, const char *rel)
{
	static char path[4096];
	/* A path that names an existing file is taken as it is; otherwise it
	 * is relative to the vector folder, so that VALISE_VECTORS applies. */
	if (given && access(given, R_OK) == 0)
		return given;
	snprintf(path, sizeof path, "%s/%s", tu_vectors_dir(), given ? given : rel);
	return path;
}

json_t *tu_load_json(const char *path)
{
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);
	if (!j)
		fprintf(stderr, "vectors: cannot load %s: %s (line %d)\n", path, e.text, e.line);
	return j;
}

uint8_t *tu_json_hex(json_t *obj, const char *key, size_t *len)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_string(v))
		return NULL;
	return tu_unhex(json_string_value(v), len);
}

bool tu_json_uint(json_t *obj, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

const char *tu_basename(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

void tu_tally_print(const struct tu_tally *t)
{
	if (t->suite)
		printf("vectors: %s suite %u: %u passed, %u failed, %u skipped\n", t->file,
		       t->suite, t->passed, t->failed, t->skipped);
	else
		printf("vectors: %s: %u passed, %u failed, %u skipped\n", t->file, t->passed,
		       t->failed, t->skipped);
	fflush(stdout);
}

void tu_skip(struct tu_tally *t, const char *reason)
{
	fprintf(stderr, "vectors: %s suite %u: skipped: %s\n", t->file, t->suite, reason);
	t->skipped++;
}

void tu_fail(struct tu_tally *t, size_t index, const char *what)
{
	fprintf(stderr, "vectors: %s suite %u: case %zu FAILED: %s\n", t->file, t->suite, index,
	        what);
	t->failed++;
}
