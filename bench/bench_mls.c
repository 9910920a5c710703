/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_mls: the costs of the group engine, per cipher suite and group size
 * (2, 10, 100, 1000, 10000 by default; `bench_mls MAX_N [SUITE]` limits
 * them). Columns:
 *   (a) one member creates a group and adds N-1 members in one commit
 *       (the ratchet tree sent beside the Welcome, not inside it)
 *   join: a new member joins that group from the Welcome and the tree
 *   (b) a commit with an update path in the full group
 *   (c) another member processes it
 *   (d) a commit removing one member
 *   (e) protect + unprotect of a 100-byte and of a 64 KiB message
 *   (f) size of the exported state, export and import time
 * Beside (b), (c) and (e), "prim" is the time of the primitives the
 * operation cannot avoid, measured in the same run: for (b) its HPKE
 * encryptions, the node key derivations, the LeafNode signature and, over
 * the whole commit message, the content signature, membership tag and
 * transcript hash; for (c) the same on the receiving side with one HPKE
 * decryption; for (e) one signature, one verification and two AEAD seals
 * and opens. "x" is the ratio of the operation to its primitives. In a
 * group built by one big add the tree is sparse, so a commit encrypts to
 * about N-1 members and its message grows with N.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "mls/struct/struct.h"
#include "valise/mls.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void check(int rc, const char *what)
{
	if (rc != VL_OK) {
		fprintf(stderr, "bench_mls: %s: %s\n", what, vl_strerror(rc));
		exit(1);
	}
}

/* Seconds of the primitives of creating a commit of msg_len bytes: n_enc
 * HPKE encryptions (EncryptWithLabel), the LeafNode signature, the
 * FramedContent signature, membership tag and transcript hash over the
 * message, and n_keys node key derivations. */
static double prim_commit(const struct vl_suite *s, size_t n_enc, size_t n_keys, size_t msg_len)
{
	uint8_t priv[VL_KEM_PRIV_MAX], pub[VL_KEM_PUB_MAX], spriv[VL_SIG_PRIV_MAX];
	uint8_t spub[VL_SIG_PUB_MAX], ikm[64] = {1}, pt[64] = {2}, kem[VL_KEM_PUB_MAX];
	uint8_t ct[64 + 16], sig[VL_SIG_MAX];
	size_t sig_len;
	struct vl_sig_key *sk;
	check(vl_kem_generate(s, priv, pub), "kem");
	check(vl_sig_generate(s, spriv, spub), "sig");
	check(vl_sig_key_from_private(s, spriv, &sk), "sig key");
	uint8_t *big = calloc(1, msg_len + 1), mac[VL_HASH_MAX];
	int reps = n_enc > 100 ? 3 : 20;
	double t0 = now();
	for (int r = 0; r < reps; r++) {
		for (size_t i = 0; i < n_keys; i++)
			check(vl_kem_derive_keypair(s, ikm, s->hash_len, priv, pub), "derive");
		check(vl_mls_sign_with_label_key(sk, "X", pt, 64, sig, &sig_len), "sign");
		check(vl_mls_sign_with_label_key(sk, "X", big, msg_len, sig, &sig_len), "sign");
		check(vl_hmac(s, ikm, s->hash_len, big, msg_len, mac), "hmac");
		check(vl_hash(s, big, msg_len, mac), "hash");
		for (size_t i = 0; i < n_enc; i++)
			check(vl_mls_encrypt_with_label(s, pub, s->kem_pub_len, "UpdatePathNode",
			                                ikm, 32, pt, s->hash_len, kem, ct),
			      "enc");
	}
	double t = (now() - t0) / reps;
	vl_sig_key_free(sk);
	free(big);
	return t;
}

/* Seconds of the primitives of processing a commit of msg_len bytes: the
 * FramedContent verification, membership tag and transcript hash over the
 * message, the LeafNode verification, one HPKE decryption
 * (DecryptWithLabel) and n_keys key derivations. */
static double prim_process(const struct vl_suite *s, size_t n_keys, size_t msg_len)
{
	uint8_t priv[VL_KEM_PRIV_MAX], pub[VL_KEM_PUB_MAX], spriv[VL_SIG_PRIV_MAX];
	uint8_t spub[VL_SIG_PUB_MAX], ikm[64] = {1}, pt[64] = {2}, kem[VL_KEM_PUB_MAX];
	uint8_t ct[64 + 16], sig[VL_SIG_MAX], dpriv[VL_KEM_PRIV_MAX], dpub[VL_KEM_PUB_MAX];
	size_t sig_len;
	struct vl_sig_key *sk, *pk;
	check(vl_kem_generate(s, priv, pub), "kem");
	check(vl_sig_generate(s, spriv, spub), "sig");
	check(vl_sig_key_from_private(s, spriv, &sk), "sig key");
	check(vl_sig_key_from_public(s, spub, s->sig_pub_len, &pk), "sig key");
	uint8_t *big = calloc(1, msg_len + 1), mac[VL_HASH_MAX], sig2[VL_SIG_MAX];
	size_t sig2_len;
	check(vl_mls_sign_with_label_key(sk, "X", pt, 64, sig, &sig_len), "sign");
	check(vl_mls_sign_with_label_key(sk, "X", big, msg_len, sig2, &sig2_len), "sign");
	check(vl_mls_encrypt_with_label(s, pub, s->kem_pub_len, "UpdatePathNode", ikm, 32, pt,
	                                s->hash_len, kem, ct),
	      "enc");
	int reps = 50;
	double t0 = now();
	for (int r = 0; r < reps; r++) {
		for (size_t i = 0; i < n_keys; i++)
			check(vl_kem_derive_keypair(s, ikm, s->hash_len, dpriv, dpub), "derive");
		check(vl_mls_verify_with_label_key(pk, "X", pt, 64, sig, sig_len), "verify");
		check(vl_mls_verify_with_label_key(pk, "X", big, msg_len, sig2, sig2_len),
		      "verify");
		check(vl_hmac(s, ikm, s->hash_len, big, msg_len, mac), "hmac");
		check(vl_hash(s, big, msg_len, mac), "hash");
		check(vl_mls_decrypt_with_label(s, priv, "UpdatePathNode", ikm, 32, kem,
		                                s->kem_pub_len, ct, s->hash_len + 16, pt),
		      "dec");
	}
	double t = (now() - t0) / reps;
	vl_sig_key_free(sk);
	vl_sig_key_free(pk);
	free(big);
	return t;
}

/* Seconds of sign + verify + two AEAD seals and two opens for len bytes. */
static double prim_message(const struct vl_suite *s, size_t len)
{
	uint8_t spriv[VL_SIG_PRIV_MAX], spub[VL_SIG_PUB_MAX], sig[VL_SIG_MAX];
	uint8_t key[VL_AEAD_KEY_MAX] = {3}, nonce[VL_AEAD_NONCE_MAX] = {4};
	size_t sig_len;
	uint8_t *pt = calloc(1, len + 64), *ct = calloc(1, len + 64);
	struct vl_sig_key *sk, *pk;
	check(vl_sig_generate(s, spriv, spub), "sig");
	check(vl_sig_key_from_private(s, spriv, &sk), "sig key");
	check(vl_sig_key_from_public(s, spub, s->sig_pub_len, &pk), "sig key");
	int reps = len > 1000 ? 50 : 300;
	double t0 = now();
	for (int r = 0; r < reps; r++) {
		check(vl_mls_sign_with_label_key(sk, "FramedContentTBS", pt, len, sig, &sig_len),
		      "sign");
		check(vl_mls_verify_with_label_key(pk, "FramedContentTBS", pt, len, sig, sig_len),
		      "verify");
		check(vl_aead_seal(s, key, nonce, NULL, 0, pt, len, ct), "seal");
		check(vl_aead_open(s, key, nonce, NULL, 0, ct, len + 16, pt), "open");
		check(vl_aead_seal(s, key, nonce, NULL, 0, pt, 12, ct), "seal");
		check(vl_aead_open(s, key, nonce, NULL, 0, ct, 12 + 16, pt), "open");
	}
	double t = (now() - t0) / reps;
	vl_sig_key_free(sk);
	vl_sig_key_free(pk);
	free(pt);
	free(ct);
	return t;
}

/* HPKE encryptions and path nodes of an encoded commit. */
static void commit_shape(const uint8_t *msg, size_t len, size_t *n_enc, size_t *n_path)
{
	struct vl_mls_arena a;
	struct vl_mls_message m;
	vl_mls_arena_init(&a, 0);
	*n_enc = *n_path = 0;
	if (vl_mls_message_parse(msg, len, &a, &m) == VL_OK &&
	    m.wire_format == VL_MLS_WIRE_PUBLIC_MESSAGE) {
		const struct vl_mls_commit *c = &m.public_message.content.commit;
		*n_path = c->path.node_count;
		for (size_t i = 0; i < c->path.node_count; i++)
			*n_enc += c->path.nodes[i].encrypted_path_secret_count;
	}
	vl_mls_arena_cleanup(&a);
}

static double ms(double s)
{
	return s * 1e3;
}

static void bench_size(uint16_t suite, size_t n)
{
	const struct vl_suite *s = vl_suite_get(suite);
	struct vl_group *creator, *joiner;
	uint8_t gid[16];
	check(vl_random(gid, sizeof gid), "random");
	check(vl_group_create(suite, gid, sizeof gid, (const uint8_t *)"creator", 7, NULL, NULL,
	                      &creator),
	      "create");
	/* KeyPackages are made before the clock starts: they are the other
	 * members' work. */
	size_t k = n - 1;
	struct vl_key_package **kps = calloc(k ? k : 1, sizeof *kps);
	const uint8_t **kb = calloc(k ? k : 1, sizeof *kb);
	size_t *kl = calloc(k ? k : 1, sizeof *kl);
	for (size_t i = 0; i < k; i++) {
		char id[32];
		snprintf(id, sizeof id, "member%zu", i);
		check(vl_key_package_new(suite, (const uint8_t *)id, strlen(id), NULL, &kps[i]),
		      "kp");
		vl_key_package_bytes(kps[i], &kb[i], &kl[i]);
	}
	/* The tree travels beside the Welcome (see vl_commit_args): inside
	 * it, every new member's HPKE context would be the whole tree. */
	struct vl_commit_args args = {
	    .add = kb, .add_len = kl, .n_add = k, .tree_out_of_band = true};
	uint8_t *commit, *welcome;
	size_t commit_len, welcome_len;
	double t0 = now();
	check(vl_group_commit(creator, &args, &commit, &commit_len, &welcome, &welcome_len),
	      "commit adds");
	check(vl_group_commit_merge(creator), "merge");
	double t_add = now() - t0;
	free(commit);
	uint8_t *tree;
	size_t tree_len;
	check(vl_group_ratchet_tree(creator, &tree, &tree_len), "tree");
	t0 = now();
	check(vl_group_join(kps[0], welcome, welcome_len, tree, tree_len, NULL, &joiner), "join");
	double t_join = now() - t0;
	free(welcome);
	free(tree);

	/* (b) and (c): the joiner (leaf 1) commits, the creator (leaf 0)
	 * processes; best of a few rounds. */
	int rounds = n <= 100 ? 5 : 2;
	double t_commit = 1e9, t_process = 1e9;
	size_t n_enc = 0, n_path = 0, c_len = 0;
	for (int r = 0; r < rounds; r++) {
		struct vl_group_msg out;
		t0 = now();
		check(vl_group_commit(joiner, NULL, &commit, &commit_len, &welcome, &welcome_len),
		      "commit");
		double t = now() - t0;
		t_commit = t < t_commit ? t : t_commit;
		commit_shape(commit, commit_len, &n_enc, &n_path);
		c_len = commit_len;
		t0 = now();
		check(vl_group_process(creator, commit, commit_len, &out), "process");
		t = now() - t0;
		t_process = t < t_process ? t : t_process;
		check(vl_group_commit_merge(joiner), "merge");
		free(commit);
	}
	double p_commit = prim_commit(s, n_enc, n_path + 1, c_len);
	double p_process = prim_process(s, n_path, c_len);

	/* (e) */
	double t_msg[2], p_msg[2];
	static const size_t sizes[2] = {100, 65536};
	uint8_t *data = calloc(1, 65536);
	for (int i = 0; i < 2; i++) {
		int reps = i ? 50 : 300;
		t0 = now();
		for (int r = 0; r < reps; r++) {
			uint8_t *msg;
			size_t msg_len;
			struct vl_group_msg out;
			check(vl_group_encrypt(creator, data, sizes[i], NULL, 0, &msg, &msg_len),
			      "encrypt");
			check(vl_group_process(joiner, msg, msg_len, &out), "decrypt");
			free(out.data);
			free(msg);
		}
		t_msg[i] = (now() - t0) / reps;
		p_msg[i] = prim_message(s, sizes[i]);
	}
	free(data);

	/* (f) */
	uint8_t *state;
	size_t state_len;
	struct vl_group *copy;
	t0 = now();
	check(vl_group_export(creator, &state, &state_len), "export");
	double t_export = now() - t0;
	t0 = now();
	check(vl_group_import(state, state_len, NULL, &copy), "import");
	double t_import = now() - t0;
	vl_group_free(copy);
	free(state);

	/* (d) */
	double t_remove = 0;
	if (n > 2) {
		uint32_t victim = (uint32_t)(n - 1);
		struct vl_commit_args ra = {.remove = &victim, .n_remove = 1};
		t0 = now();
		check(vl_group_commit(creator, &ra, &commit, &commit_len, &welcome, &welcome_len),
		      "remove");
		t_remove = now() - t0;
		struct vl_group_msg out;
		check(vl_group_process(joiner, commit, commit_len, &out), "process remove");
		check(vl_group_commit_merge(creator), "merge");
		free(commit);
	}
	printf("%6zu %10.2f %9.2f | %8.3f %8.3f %5.2f | %8.3f %8.3f %5.2f | %8.3f | %7.1f %7.1f "
	       "%5.2f | %7.1f %7.1f %5.2f | %9zu %7.2f %7.2f\n",
	       n, ms(t_add), ms(t_join), ms(t_commit), ms(p_commit), t_commit / p_commit,
	       ms(t_process), ms(p_process), t_process / p_process, ms(t_remove), t_msg[0] * 1e6,
	       p_msg[0] * 1e6, t_msg[0] / p_msg[0], t_msg[1] * 1e6, p_msg[1] * 1e6,
	       t_msg[1] / p_msg[1], state_len, ms(t_export), ms(t_import));
	fflush(stdout);
	for (size_t i = 0; i < k; i++)
		vl_key_package_free(kps[i]);
	free(kps);
	free(kb);
	free(kl);
	vl_group_free(creator);
	vl_group_free(joiner);
}

/* A whole decimal number from an argument, or exits with a usage message
 * quoting it. */
static unsigned long arg_number(const char *prog, const char *arg)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end) {
		fprintf(stderr, "%s: \"%s\" is not a number\n", prog, arg);
		fprintf(stderr,
		        "usage: %s [MAX_GROUP_SIZE (default 10000)] [SUITE 1|2|3 (default all)]\n",
		        prog);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	size_t max_n = argc > 1 ? arg_number(argv[0], argv[1]) : 10000;
	unsigned only = argc > 2 ? (unsigned)arg_number(argv[0], argv[2]) : 0;
	static const uint16_t suites[] = {1, 2, 3};
	static const size_t sizes[] = {2, 10, 100, 1000, 10000};
	for (size_t si = 0; si < 3; si++) {
		if (only && suites[si] != only)
			continue;
		const struct vl_suite *s = vl_suite_get(suites[si]);
		printf("\nsuite %u %s (times in ms; messages in us)\n", s->id, s->name);
		printf(
		    "%6s %10s %9s | %8s %8s %5s | %8s %8s %5s | %8s | %7s %7s %5s | %7s %7s %5s | "
		    "%9s %7s %7s\n",
		    "N", "(a)add", "join", "(b)commit", "prim", "x", "(c)proc", "prim", "x",
		    "(d)remove", "(e)100B", "prim", "x", "(e)64K", "prim", "x", "(f)bytes",
		    "export", "import");
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0] && sizes[i] <= max_n; i++)
			bench_size(suites[si], sizes[i]);
	}
	return 0;
}
