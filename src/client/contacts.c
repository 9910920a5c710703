/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Contacts, the device keys known for each user (trusted on first use),
 * safety numbers and device-change warnings. Construction of the safety
 * number: docs/internals/client.md.
 *
 * Keys are learned from the ratchet trees of the client's groups (conv.c),
 * from KeyPackages it claims (signed by the device key they carry) and
 * from this user's device list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"
#include "mls/struct/struct.h"

#define CONTACT_VERSION 1
#define DEVICES_MAX     64

struct cdev {
	char name[VL_CLIENT_DEVICE_MAX + 1];
	uint8_t key[VL_SIG_PUB_MAX];
	size_t key_len;
};

struct crec {
	char *display;
	bool verified, changed;
	struct cdev dev[DEVICES_MAX];
	size_t n_dev;
};

static void crec_cleanup(struct crec *r)
{
	free(r->display);
	memset(r, 0, sizeof *r);
}

static void rec_name(const char *user, char *out, size_t cap)
{
	snprintf(out, cap, "contact/%s", user);
}

static int crec_load(struct vl_client *c, const char *user, struct crec *r)
{
	memset(r, 0, sizeof *r);
	char name[300];
	rec_name(user, name, sizeof name);
	uint8_t *buf;
	size_t len;
	int rc = vl_client_store_secret_get(c->st, name, &buf, &len);
	if (rc)
		return rc;
	struct vl_reader rd;
	vl_reader_init(&rd, buf, len);
	uint8_t ver, ver_ok, ch;
	const uint8_t *p;
	size_t n;
	rc = vl_read_u8(&rd, &ver);
	if (!rc && ver != CONTACT_VERSION)
		rc = VL_ERR_UNSUPPORTED;
	if (!rc && !(rc = vl_read_opaque(&rd, &p, &n, 1024)) && n) {
		if ((r->display = malloc(n + 1))) {
			memcpy(r->display, p, n);
			r->display[n] = '\0';
		} else {
			rc = VL_ERR_NOMEM;
		}
	}
	if (!rc)
		rc = vl_read_u8(&rd, &ver_ok);
	if (!rc)
		rc = vl_read_u8(&rd, &ch);
	struct vl_reader sub;
	if (!rc)
		rc = vl_read_vector(&rd, &sub);
	while (!rc && vl_reader_left(&sub) > 0) {
		if (r->n_dev == DEVICES_MAX) {
			rc = VL_ERR_LIMIT;
			break;
		}
		struct cdev *d = &r->dev[r->n_dev++];
		if (!(rc = vl_read_opaque(&sub, &p, &n, VL_CLIENT_DEVICE_MAX))) {
			memcpy(d->name, p, n);
			d->name[n] = '\0';
		}
		if (!rc && !(rc = vl_read_opaque(&sub, &p, &n, VL_SIG_PUB_MAX))) {
			memcpy(d->key, p, n);
			d->key_len = n;
		}
	}
	if (!rc)
		rc = vl_reader_finish(&rd);
	vl_client_store_free(buf, len);
	if (rc) {
		crec_cleanup(r);
		return rc;
	}
	r->verified = ver_ok;
	r->changed = ch;
	return VL_OK;
}

static int crec_save(struct vl_client *c, const char *user, const struct crec *r)
{
	struct vl_writer w;
	vl_writer_init_heap(&w, 64 * 1024);
	(void)!vl_write_u8(&w, CONTACT_VERSION);
	(void)!vl_write_opaque(&w, r->display ? r->display : "",
	                       r->display ? strlen(r->display) : 0);
	(void)!vl_write_u8(&w, r->verified);
	(void)!vl_write_u8(&w, r->changed);
	size_t mark = vl_write_vector_begin(&w);
	for (size_t i = 0; i < r->n_dev; i++) {
		(void)!vl_write_opaque(&w, r->dev[i].name, strlen(r->dev[i].name));
		(void)!vl_write_opaque(&w, r->dev[i].key, r->dev[i].key_len);
	}
	(void)!vl_write_vector_end(&w, mark);
	uint8_t *buf;
	size_t len;
	int rc = vl_writer_take(&w, &buf, &len);
	if (rc)
		return rc;
	char name[300];
	rec_name(user, name, sizeof name);
	rc = vl_client_store_secret_put(c->st, name, buf, len);
	free(buf);
	return rc;
}

void cl_contact_learn(struct vl_client *c, const char *user, const char *device, const uint8_t *key,
                      size_t key_len)
{
	if (key_len == 0 || key_len > VL_SIG_PUB_MAX ||
	    !vl_proto_address_valid((const uint8_t *)user, strlen(user)))
		return;
	struct crec r;
	int rc = crec_load(c, user, &r);
	if (rc == VL_ERR_NOT_FOUND)
		memset(&r, 0, sizeof r);
	else if (rc)
		return;
	struct cdev *d = NULL;
	for (size_t i = 0; i < r.n_dev; i++)
		if (strcmp(r.dev[i].name, device) == 0)
			d = &r.dev[i];
	const char *what = NULL;
	if (d && d->key_len == key_len && memcmp(d->key, key, key_len) == 0) {
		crec_cleanup(&r);
		return; /* known */
	}
	if (d) {
		what = "changed its key";
	} else {
		if (r.n_dev == DEVICES_MAX) {
			crec_cleanup(&r);
			return;
		}
		d = &r.dev[r.n_dev++];
		snprintf(d->name, sizeof d->name, "%s", device);
		/* The first devices seen of a user are how we meet them; a
		 * device added later is the change users are warned about. */
		if (r.n_dev > 1)
			what = "was added";
	}
	memcpy(d->key, key, key_len);
	d->key_len = key_len;
	bool was_verified = r.verified;
	if (what) {
		r.changed = true;
		r.verified = false;
	}
	if (crec_save(c, user, &r) == VL_OK && what &&
	    !(strcmp(user, c->address) == 0 && strcmp(device, c->device) == 0)) {
		struct vl_event ev = {.type = VL_EVENT_DEVICES_CHANGED};
		snprintf(ev.sender, sizeof ev.sender, "%s", user);
		snprintf(ev.sender_device, sizeof ev.sender_device, "%s", device);
		ev.verified_broken = was_verified;
		char t[400];
		snprintf(t, sizeof t, "device %s of %s %s: compare safety numbers again", device,
		         user, what);
		ev.text = strdup(t);
		cl_event_push(c, &ev);
	}
	crec_cleanup(&r);
}

void cl_contact_learn_kp(struct vl_client *c, const uint8_t *kp, size_t kp_len)
{
	struct vl_mls_arena a;
	vl_mls_arena_init(&a, 0);
	struct vl_mls_message m;
	if (vl_mls_message_parse(kp, kp_len, &a, &m) == VL_OK &&
	    m.wire_format == VL_MLS_WIRE_KEY_PACKAGE) {
		const struct vl_mls_leaf_node *ln = &m.key_package.leaf_node;
		char user[VL_CLIENT_ADDRESS_MAX + 1], dev[VL_CLIENT_DEVICE_MAX + 1];
		if (ln->credential.type == VL_MLS_CREDENTIAL_BASIC &&
		    cl_split_identity(ln->credential.identity.data, ln->credential.identity.len,
		                      user, dev))
			cl_contact_learn(c, user, dev, ln->signature_key.data,
			                 ln->signature_key.len);
	}
	vl_mls_arena_cleanup(&a);
}

int vl_client_contact_add(struct vl_client *c, const char *address, const char *display_name)
{
	if (!address || !vl_proto_address_valid((const uint8_t *)address, strlen(address)))
		return cl_fail(c, VL_ERR_ARG, "bad address");
	if (display_name && strlen(display_name) > 1024)
		return cl_fail(c, VL_ERR_ARG, "display name too long");
	struct cl_claimed *list;
	size_t n;
	int rc = cl_kp_claim(c, address, &list, &n);
	if (rc)
		return rc == VL_ERR_NOT_FOUND ? cl_fail(c, rc, "%s has no device", address) : rc;
	cl_claimed_free(list, n);
	struct crec r;
	if ((rc = crec_load(c, address, &r)))
		return cl_fail(c, rc, "contact record missing");
	if (display_name) {
		free(r.display);
		r.display = *display_name ? strdup(display_name) : NULL;
	}
	rc = crec_save(c, address, &r);
	crec_cleanup(&r);
	return rc ? cl_fail(c, VL_ERR_STORE, "store: %s", vl_client_store_errmsg(c->st)) : VL_OK;
}

int vl_client_contacts(struct vl_client *c, struct vl_contact **list, size_t *n)
{
	*list = NULL;
	*n = 0;
	char **names;
	size_t k;
	int rc = vl_client_store_secret_list(c->st, "contact/", &names, &k);
	if (rc)
		return cl_fail(c, VL_ERR_STORE, "store: %s", vl_client_store_errmsg(c->st));
	struct vl_contact *out = calloc(k ? k : 1, sizeof *out);
	if (!out) {
		vl_client_store_names_free(names, k);
		return VL_ERR_NOMEM;
	}
	size_t got = 0;
	for (size_t i = 0; i < k; i++) {
		const char *user = names[i] + 8;
		if (strcmp(user, c->address) == 0)
			continue;
		struct crec r;
		if (crec_load(c, user, &r))
			continue;
		struct vl_contact *e = &out[got++];
		snprintf(e->address, sizeof e->address, "%s", user);
		e->display_name = r.display;
		r.display = NULL;
		e->n_devices = r.n_dev;
		e->verified = r.verified;
		e->changed = r.changed;
		crec_cleanup(&r);
	}
	vl_client_store_names_free(names, k);
	*list = out;
	*n = got;
	return VL_OK;
}

void vl_client_contacts_free(struct vl_contact *list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		free(list[i].display_name);
	free(list);
}

static int cmp_dev(const void *a, const void *b)
{
	return strcmp(((const struct cdev *)a)->name, ((const struct cdev *)b)->name);
}

/* fp(user) = SHA-256("valise safety v1" || len || user || for each device
 * in name order: len || name || len || key), lengths one octet. */
static int user_fp(const struct vl_suite *s, const char *user, struct crec *r, uint8_t out[32])
{
	qsort(r->dev, r->n_dev, sizeof *r->dev, cmp_dev);
	struct vl_writer w;
	vl_writer_init_heap(&w, 64 * 1024);
	static const char label[] = "valise safety v1";
	(void)!vl_write_fixed(&w, label, sizeof label - 1);
	(void)!vl_write_u8(&w, (uint8_t)strlen(user));
	(void)!vl_write_fixed(&w, user, strlen(user));
	for (size_t i = 0; i < r->n_dev; i++) {
		(void)!vl_write_u8(&w, (uint8_t)strlen(r->dev[i].name));
		(void)!vl_write_fixed(&w, r->dev[i].name, strlen(r->dev[i].name));
		(void)!vl_write_u8(&w, (uint8_t)r->dev[i].key_len);
		(void)!vl_write_fixed(&w, r->dev[i].key, r->dev[i].key_len);
	}
	uint8_t h[VL_HASH_MAX];
	int rc = w.err ? w.err : vl_hash(s, w.buf, w.len, h);
	vl_writer_cleanup(&w);
	if (!rc)
		memcpy(out, h, 32);
	return rc;
}

int vl_client_safety_number(struct vl_client *c, const char *address,
                            char out[VL_CLIENT_SAFETY_NUMBER_LEN + 1], char **qr)
{
	out[0] = '\0';
	if (qr)
		*qr = NULL;
	if (!address || !vl_proto_address_valid((const uint8_t *)address, strlen(address)))
		return cl_fail(c, VL_ERR_ARG, "bad address");
	struct crec mine, theirs;
	/* A contact who shares no group with us has no key on record yet:
	 * claim KeyPackages, signed by the device keys they carry. */
	if (crec_load(c, address, &theirs) == VL_OK)
		crec_cleanup(&theirs);
	else if (c->connected) {
		struct cl_claimed *list;
		size_t n;
		if (cl_kp_claim(c, address, &list, &n) == VL_OK)
			cl_claimed_free(list, n);
	}
	int rc = crec_load(c, c->address, &mine);
	if (rc)
		return cl_fail(c, VL_ERR_NOT_FOUND, "own device keys unknown");
	rc = crec_load(c, address, &theirs);
	if (rc || theirs.n_dev == 0) {
		crec_cleanup(&mine);
		if (!rc)
			crec_cleanup(&theirs);
		return cl_fail(c, VL_ERR_NOT_FOUND, "no device key of %s is known", address);
	}
	uint8_t f1[32], f2[32];
	rc = user_fp(c->s, c->address, &mine, f1);
	if (!rc)
		rc = user_fp(c->s, address, &theirs, f2);
	crec_cleanup(&mine);
	crec_cleanup(&theirs);
	if (rc)
		return rc;
	/* Both sides order the two fingerprints the same way. */
	uint8_t both[65];
	bool swap = memcmp(f1, f2, 32) > 0;
	memcpy(both + 1, swap ? f2 : f1, 32);
	memcpy(both + 33, swap ? f1 : f2, 32);
	uint8_t d[64], h[VL_HASH_MAX];
	both[0] = 1;
	if ((rc = vl_hash(c->s, both, sizeof both, h)))
		return rc;
	memcpy(d, h, 32);
	both[0] = 2;
	if ((rc = vl_hash(c->s, both, sizeof both, h)))
		return rc;
	memcpy(d + 32, h, 32);
	size_t o = 0;
	for (int i = 0; i < 12; i++) {
		uint64_t v = 0;
		for (int j = 0; j < 5; j++)
			v = v << 8 | d[5 * i + j];
		o += (size_t)snprintf(out + o, VL_CLIENT_SAFETY_NUMBER_LEN + 1 - o, "%s%05u",
		                      i ? " " : "", (unsigned)(v % 100000));
	}
	if (qr) {
		size_t ql = 16 + VL_CLIENT_SAFETY_NUMBER_LEN + 1;
		if (!(*qr = malloc(ql)))
			return VL_ERR_NOMEM;
		snprintf(*qr, ql, "valise-safety:1:%s", out);
	}
	return VL_OK;
}

int vl_client_contact_verify(struct vl_client *c, const char *address)
{
	if (!address || !vl_proto_address_valid((const uint8_t *)address, strlen(address)))
		return cl_fail(c, VL_ERR_ARG, "bad address");
	struct crec r;
	int rc = crec_load(c, address, &r);
	if (rc)
		return cl_fail(c, rc == VL_ERR_NOT_FOUND ? rc : VL_ERR_STORE, "unknown contact");
	r.verified = true;
	r.changed = false;
	rc = crec_save(c, address, &r);
	crec_cleanup(&r);
	return rc ? cl_fail(c, VL_ERR_STORE, "store: %s", vl_client_store_errmsg(c->st)) : VL_OK;
}
