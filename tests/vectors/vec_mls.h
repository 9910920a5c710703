/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers shared by the MLS vector programs: one tally per cipher
 * suite found in a file, and comparison of a computed value with a hex
 * field of the vector.
 */
#ifndef VL_VEC_MLS_H
#define VL_VEC_MLS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "testutil.h"

#define VEC_MAX_SUITES 16

struct vec_tallies {
	struct tu_tally t[VEC_MAX_SUITES];
	size_t n;
	const char *file;
};

/* The tally of a suite, created on first use (NULL past VEC_MAX_SUITES). */
static inline struct tu_tally *vec_tally(struct vec_tallies *v, unsigned suite)
{
	for (size_t k = 0; k < v->n; k++)
		if (v->t[k].suite == suite)
			return &v->t[k];
	if (v->n == VEC_MAX_SUITES)
		return NULL;
	v->t[v->n] = (struct tu_tally){.file = v->file, .suite = suite};
	return &v->t[v->n++];
}

/* Prints every line; returns 1 if anything failed. */
static inline int vec_report(const struct vec_tallies *v)
{
	int failed = 0;
	for (size_t k = 0; k < v->n; k++) {
		tu_tally_print(&v->t[k]);
		failed |= v->t[k].failed != 0;
	}
	return failed;
}

/* True if got equals the hex field key of obj; names the field otherwise. */
static inline bool vec_same(json_t *obj, const char *key, const uint8_t *got, size_t got_len)
{
	size_t n;
	uint8_t *want = tu_json_hex(obj, key, &n);
	bool ok = want && n == got_len && memcmp(want, got, n) == 0;
	if (!ok)
		fprintf(stderr, "  mismatch: %s\n", key);
	free(want);
	return ok;
}

/* Loads the file or prints the skip line; the caller returns 77 on NULL. */
static inline json_t *vec_load(int argc, char **argv, const char *rel, struct vec_tallies *v)
{
	const char *path = tu_vector_path(argc > 1 ? argv[1] : NULL, rel);
	v->n = 0;
	v->file = tu_basename(path);
	json_t *root = tu_load_json(path);
	if (!root)
		printf("vectors: %s: 0 passed, 0 failed, 1 skipped (file absent)\n", v->file);
	return root;
}

/* Checks one vector entry for its cipher suite; true if every value
 * matched. */
typedef bool (*vec_check_fn)(json_t *entry, const struct vl_suite *s);

/* The whole main of a program whose file is an array of entries that each
 * name a cipher_suite: every entry is checked and counted under its suite
 * (an unsupported suite is a skip with its reason, never a pass), then one
 * line per suite is printed. Returns the exit code: 77 if the file is
 * absent, 1 if a case failed. */
static inline int vec_main(int argc, char **argv, const char *rel, vec_check_fn check,
                           const char *mismatch)
{
	struct vec_tallies v;
	json_t *root = vec_load(argc, argv, rel, &v);
	if (!root)
		return 77;
	size_t i;
	json_t *e;
	json_array_foreach(root, i, e)
	{
		uint64_t cs = 0;
		(void)tu_json_uint(e, "cipher_suite", &cs);
		struct tu_tally *t = vec_tally(&v, (unsigned)cs);
		if (!t)
			continue;
		const struct vl_suite *s = vl_suite_get((uint16_t)cs);
		if (!s)
			tu_skip(t, "unsupported cipher suite");
		else if (check(e, s))
			t->passed++;
		else
			tu_fail(t, i, mismatch);
	}
	json_decref(root);
	return vec_report(&v);
}

#endif
