/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libvalise core: the client object, account set-up and opening, the
 * connection (authentication, requests and their replies, pushes), the
 * event queue, devices and KeyPackages.
 *
 * Design
 *  1. One connection, used synchronously: a request is written and the
 *     connection read until the frame with its id arrives. Pushes read in
 *     the meantime (DELIVER, KP_LOW, CLOSING) are queued in arrival order
 *     and processed by vl_client_poll(), never in the middle of a request,
 *     so processing never interleaves with a half-done operation.
 *  2. A delivery is processed, its effects (group state, message) stored,
 *     then its sequence number stored ("seq"), then acknowledged. A crash
 *     anywhere before the ACK means it is delivered again; deliveries at or
 *     below the stored sequence number are dropped (protocol.md §4.4).
 *  3. Secrets in memory (device key, KeyPackage keys) are wiped when
 *     released; the store seals everything it keeps.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/client_int.h"
#include "mls/struct/struct.h"

/* --- small helpers ------------------------------------------------------- */

int cl_fail(struct vl_client *c, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	return rc;
}

uint64_t cl_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint32_t cl_next_id(struct vl_client *c)
{
	if (++c->next_id == 0)
		c->next_id = 1; /* 0 is reserved for pushes */
	return c->next_id;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

bool cl_unhex(const char *hex, uint8_t *out, size_t max, size_t *len)
{
	size_t n = strlen(hex);
	if (n % 2 || n / 2 > max || n == 0)
		return false;
	for (size_t i = 0; i < n / 2; i++) {
		int a = hexval(hex[2 * i]), b = hexval(hex[2 * i + 1]);
		if (a < 0 || b < 0)
			return false;
		out[i] = (uint8_t)(a << 4 | b);
	}
	*len = n / 2;
	return true;
}

bool cl_split_identity(const uint8_t *id, size_t len, char user[VL_CLIENT_ADDRESS_MAX + 1],
                       char dev[VL_CLIENT_DEVICE_MAX + 1])
{
	const uint8_t *hash = NULL;
	for (size_t i = len; i > 0; i--)
		if (id[i - 1] == '#') {
			hash = id + i - 1;
			break;
		}
	if (!hash)
		return false;
	size_t ul = (size_t)(hash - id), dl = len - ul - 1;
	if (!vl_proto_address_valid(id, ul) || !vl_proto_device_valid(hash + 1, dl))
		return false;
	memcpy(user, id, ul);
	user[ul] = '\0';
	memcpy(dev, hash + 1, dl);
	dev[dl] = '\0';
	return true;
}

const char *vl_client_errmsg(const struct vl_client *c)
{
	return c->err[0] ? c->err : "no error";
}
const char *vl_client_address(const struct vl_client *c)
{
	return c->address;
}
const char *vl_client_device(const struct vl_client *c)
{
	return c->device;
}
const char *vl_client_server_url(const struct vl_client *c)
{
	return c->url;
}
bool vl_client_connected(const struct vl_client *c)
{
	return c->connected;
}
int vl_client_fd(const struct vl_client *c)
{
	return c->connected ? c->net.fd : -1;
}

/* --- persisted device record ------------------------------------------------ */

static int device_save(struct vl_client *c)
{
	struct vl_writer w;
	vl_writer_init_heap(&w, 4096);
	(void)!vl_write_u16(&w, c->suite);
	(void)!vl_write_opaque(&w, c->address, strlen(c->address));
	(void)!vl_write_opaque(&w, c->device, strlen(c->device));
	(void)!vl_write_opaque(&w, c->url, strlen(c->url));
	(void)!vl_write_opaque(&w, c->sig_priv, c->s->sig_priv_len);
	(void)!vl_write_opaque(&w, c->sig_pub, c->sig_pub_len);
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = vl_writer_take(&w, &buf, &len);
	if (rc == VL_OK)
		rc = vl_client_store_secret_put(c->st, "device", buf, len);
	vl_wipe(buf, len);
	free(buf);
	return rc;
}

static int read_str(struct vl_reader *r, char *out, size_t cap)
{
	const uint8_t *p;
	size_t n;
	int rc = vl_read_opaque(r, &p, &n, cap - 1);
	if (rc)
		return rc;
	memcpy(out, p, n);
	out[n] = '\0';
	return VL_OK;
}

static int device_load(struct vl_client *c)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = vl_client_store_secret_get(c->st, "device", &buf, &len);
	if (rc)
		return rc;
	struct vl_reader r;
	vl_reader_init(&r, buf, len);
	const uint8_t *p;
	size_t n;
	rc = vl_read_u16(&r, &c->suite);
	if (!rc)
		rc = read_str(&r, c->address, sizeof c->address);
	if (!rc)
		rc = read_str(&r, c->device, sizeof c->device);
	if (!rc)
		rc = read_str(&r, c->url, sizeof c->url);
	if (!rc && !(c->s = vl_suite_get(c->suite)))
		rc = VL_ERR_UNSUPPORTED;
	if (!rc && !(rc = vl_read_opaque(&r, &p, &n, VL_SIG_PRIV_MAX))) {
		if (n != c->s->sig_priv_len)
			rc = VL_ERR_DECODE;
		else
			memcpy(c->sig_priv, p, n);
	}
	if (!rc && !(rc = vl_read_opaque(&r, &p, &n, VL_SIG_PUB_MAX))) {
		memcpy(c->sig_pub, p, n);
		c->sig_pub_len = n;
	}
	if (!rc)
		rc = vl_reader_finish(&r);
	vl_client_store_free(buf, len);
	if (rc)
		return rc;
	snprintf(c->identity, sizeof c->identity, "%s#%s", c->address, c->device);
	if (cl_url_parse(c->url, &c->u))
		return VL_ERR_DECODE;
	uint8_t *sq = NULL;
	size_t sql = 0;
	if (vl_client_store_secret_get(c->st, "seq", &sq, &sql) == VL_OK && sql == 8) {
		uint64_t v = 0;
		for (int i = 0; i < 8; i++)
			v = v << 8 | sq[i];
		c->seq_done = v;
	}
	vl_client_store_free(sq, sql);
	return VL_OK;
}

static int seq_save(struct vl_client *c, uint64_t seq)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(seq >> (56 - 8 * i));
	return vl_client_store_secret_put(c->st, "seq", b, 8);
}

/* --- opening ------------------------------------------------------------------- */

static int client_alloc(const struct vl_client_opts *o, struct vl_client **out)
{
	struct vl_client *c = calloc(1, sizeof *c);
	if (!c)
		return VL_ERR_NOMEM;
	cl_net_init(&c->net);
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : CL_TIMEOUT_MS;
	c->kp_target = o->key_package_target ? o->key_package_target : CL_KP_TARGET;
	if (c->kp_target > VL_PROTO_KP_PER_UPLOAD - 1)
		c->kp_target = VL_PROTO_KP_PER_UPLOAD - 1;
	if (o->ca_file && !(c->ca_file = strdup(o->ca_file))) {
		free(c);
		return VL_ERR_NOMEM;
	}
	c->tls.ca_file = c->ca_file;
	c->tls.insecure = o->tls_insecure;
	*out = c;
	return VL_OK;
}

static int store_open(const struct vl_client_opts *o, bool create, struct vl_client_store **st,
                      char *err, size_t err_len)
{
	char path[4096];
	if (snprintf(path, sizeof path, "%s/store.db", o->data_dir) >= (int)sizeof path)
		return VL_ERR_ARG;
	struct vl_client_store_opts so = {
	    .path = path,
	    .passphrase = o->passphrase,
	    .passphrase_len = o->passphrase_len,
	    .key_file = o->key_file,
	    .create = create,
	    .argon2_m_kib = o->argon2_m_kib,
	    .errbuf = err,
	    .errbuf_len = err_len,
	};
	return vl_client_store_open(&so, st);
}

int vl_client_open(const struct vl_client_opts *o, struct vl_client **out)
{
	*out = NULL;
	if (!o || !o->data_dir)
		return VL_ERR_ARG;
	struct vl_client *c;
	int rc = client_alloc(o, &c);
	if (rc)
		return rc;
	rc = store_open(o, false, &c->st, c->err, sizeof c->err);
	if (!rc)
		rc = device_load(c);
	if (!rc)
		rc = cl_convs_load(c);
	if (rc) {
		if (o->errbuf && o->errbuf_len)
			snprintf(o->errbuf, o->errbuf_len, "%s",
			         c->err[0] ? c->err : vl_strerror(rc));
		vl_client_close(c);
		return rc;
	}
	cl_contact_learn(c, c->address, c->device, c->sig_pub, c->sig_pub_len);
	*out = c;
	return VL_OK;
}

void vl_client_close(struct vl_client *c)
{
	if (!c)
		return;
	vl_client_disconnect(c);
	cl_convs_free(c);
	for (size_t i = 0; i < c->n_push; i++)
		free(c->pushq[(c->push_head + i) % c->cap_push].buf);
	free(c->pushq);
	for (size_t i = 0; i < c->n_ev; i++)
		vl_event_cleanup(&c->evq[(c->ev_head + i) % c->cap_ev]);
	free(c->evq);
	vl_client_store_close(c->st);
	free(c->ca_file);
	vl_wipe(c->sig_priv, sizeof c->sig_priv);
	free(c);
}

/* --- connection ------------------------------------------------------------------- */

static int map_error(struct vl_client *c, const struct vl_bytes *body)
{
	struct vl_msg_error e;
	if (vl_msg_error_decode(body, &e))
		return cl_fail(c, VL_ERR_PROTOCOL, "malformed ERROR frame");
	int len = (int)(e.detail.len > 120 ? 120 : e.detail.len);
	int rc;
	switch (e.code) {
	case VL_PERR_STALE_EPOCH:
		rc = VL_ERR_STALE_EPOCH;
		break;
	case VL_PERR_EPOCH_AHEAD:
		rc = VL_ERR_EPOCH_AHEAD;
		break;
	case VL_PERR_FORBIDDEN:
		rc = VL_ERR_PERMISSION;
		break;
	case VL_PERR_NOT_FOUND:
		rc = VL_ERR_NOT_FOUND;
		break;
	case VL_PERR_EXISTS:
		rc = VL_ERR_EXISTS;
		break;
	case VL_PERR_RATE_LIMITED:
		rc = VL_ERR_AGAIN;
		break;
	case VL_PERR_LIMIT:
	case VL_PERR_TOO_LARGE:
		rc = VL_ERR_LIMIT;
		break;
	case VL_PERR_INVALID:
		rc = VL_ERR_INVALID;
		break;
	case VL_PERR_AUTH_FAILED:
	case VL_PERR_INVALID_INVITE:
		rc = VL_ERR_AUTH;
		break;
	default:
		rc = VL_ERR_PROTOCOL;
		break;
	}
	/* The detail is the server's short ASCII text; only printable octets
	 * are kept. */
	char d[121];
	for (int i = 0; i < len; i++) {
		uint8_t ch = e.detail.p[i];
		d[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	d[len] = '\0';
	/* internal: the server could not do it (its storage failed: a full
	 * disk...); a later try may work. */
	const char *hint = e.code == VL_PERR_INTERNAL && !len
	                       ? " (the server could not complete it; try again later)"
	                       : "";
	return cl_fail(c, rc, "server: %s%s%s%s", vl_proto_error_name(e.code), len ? ": " : "", d,
	               hint);
}

static void lost(struct vl_client *c, int why)
{
	if (!c->connected)
		return;
	cl_net_close(&c->net);
	c->connected = false;
	struct vl_event ev = {.type = VL_EVENT_DISCONNECTED, .code = why};
	cl_event_push(c, &ev);
}

static int push_queue(struct vl_client *c, uint8_t *buf, size_t len)
{
	if (c->n_push == CL_PUSH_MAX) {
		/* Nothing is lost: unacknowledged deliveries come again on the
		 * next connection. */
		free(buf);
		lost(c, VL_ERR_LIMIT);
		return cl_fail(c, VL_ERR_NET, "too many pushes while waiting");
	}
	if (c->n_push == c->cap_push) {
		size_t ncap = c->cap_push ? c->cap_push * 2 : 64;
		struct cl_push *nq = malloc(ncap * sizeof *nq);
		if (!nq) {
			free(buf);
			return VL_ERR_NOMEM;
		}
		for (size_t i = 0; i < c->n_push; i++)
			nq[i] = c->pushq[(c->push_head + i) % c->cap_push];
		free(c->pushq);
		c->pushq = nq;
		c->cap_push = ncap;
		c->push_head = 0;
	}
	c->pushq[(c->push_head + c->n_push) % c->cap_push] = (struct cl_push){buf, len};
	c->n_push++;
	return VL_OK;
}

/* Reads one frame; a push is queued, a reply is returned in *reply (heap)
 * with its decoded header, or dropped when reply is NULL. */
static int read_frame(struct vl_client *c, int timeout_ms, uint8_t **reply, size_t *reply_len,
                      struct vl_frame *f)
{
	uint8_t *msg;
	size_t len;
	int rc = cl_net_recv(&c->net, &msg, &len, timeout_ms);
	if (rc == VL_ERR_TIMEOUT)
		return rc;
	if (rc) {
		lost(c, rc);
		return cl_fail(c, VL_ERR_NET, "connection lost");
	}
	struct vl_frame fr;
	if (vl_frame_decode(msg, len, CL_NET_MSG_MAX, &fr)) {
		free(msg);
		lost(c, VL_ERR_PROTOCOL);
		return cl_fail(c, VL_ERR_NET, "undecodable frame from the server");
	}
	if (fr.type >= VL_FRAME_CHALLENGE)
		return push_queue(c, msg, len);
	if (reply) {
		*reply = msg;
		*reply_len = len;
		*f = fr;
	} else {
		free(msg); /* a reply nobody waits for (an ACK's) */
	}
	return VL_OK;
}

int cl_read_one(struct vl_client *c, int timeout_ms)
{
	if (!c->connected)
		return VL_ERR_NET;
	return read_frame(c, timeout_ms, NULL, NULL, NULL);
}

int cl_request(struct vl_client *c, struct vl_writer *w, uint32_t id, uint8_t **body,
               size_t *body_len)
{
	if (body) {
		*body = NULL;
		*body_len = 0;
	}
	if (w->err) {
		int e = w->err;
		vl_writer_cleanup(w);
		return cl_fail(c, e, "request does not encode");
	}
	if (!c->connected) {
		vl_writer_cleanup(w);
		return cl_fail(c, VL_ERR_NET, "not connected");
	}
	int rc = cl_net_send(&c->net, w->buf, w->len);
	vl_writer_cleanup(w);
	if (rc) {
		lost(c, rc);
		return cl_fail(c, VL_ERR_NET, "connection lost");
	}
	uint64_t deadline = cl_now_ms() + (uint64_t)c->timeout_ms;
	for (;;) {
		uint64_t now = cl_now_ms();
		if (now >= deadline)
			return cl_fail(c, VL_ERR_TIMEOUT, "no reply from the server");
		uint8_t *msg = NULL;
		size_t len = 0;
		struct vl_frame f;
		rc = read_frame(c, (int)(deadline - now), &msg, &len, &f);
		if (rc == VL_ERR_TIMEOUT)
			return cl_fail(c, rc, "no reply from the server");
		if (rc)
			return rc;
		if (!msg)
			continue;
		if (f.request_id != id) {
			free(msg);
			continue;
		}
		if (f.type == VL_FRAME_ERROR) {
			rc = map_error(c, &f.body);
			free(msg);
			return rc;
		}
		if (body) {
			uint8_t *b = malloc(f.body.len ? f.body.len : 1);
			if (!b) {
				free(msg);
				return VL_ERR_NOMEM;
			}
			memcpy(b, f.body.p, f.body.len);
			*body = b;
			*body_len = f.body.len;
		}
		free(msg);
		return VL_OK;
	}
}

/* Reads the CHALLENGE that opens every connection. */
static int read_challenge(struct vl_client *c)
{
	uint8_t *msg;
	size_t len;
	int rc = cl_net_recv(&c->net, &msg, &len, c->timeout_ms);
	if (rc)
		return cl_fail(c, rc == VL_ERR_TIMEOUT ? rc : VL_ERR_NET,
		               "no challenge from the server");
	struct vl_frame f;
	struct vl_msg_challenge ch;
	rc = vl_frame_decode(msg, len, CL_NET_MSG_MAX, &f);
	if (!rc && f.type != VL_FRAME_CHALLENGE)
		rc = VL_ERR_PROTOCOL;
	if (!rc)
		rc = vl_msg_challenge_decode(&f.body, &ch);
	if (!rc && (ch.challenge.len != VL_PROTO_CHALLENGE_LEN ||
	            ch.min_version > VL_PROTO_VERSION || ch.max_version < VL_PROTO_VERSION))
		rc = VL_ERR_PROTOCOL;
	if (!rc) {
		memcpy(c->challenge, ch.challenge.p, VL_PROTO_CHALLENGE_LEN);
		memcpy(c->server_name, ch.server_name.p, ch.server_name.len);
		c->server_name[ch.server_name.len] = '\0';
	}
	free(msg);
	return rc ? cl_fail(c, VL_ERR_PROTOCOL, "bad challenge from the server") : VL_OK;
}

/* Signs AuthTBS with label (protocol.md §4.1). */
static int sign_tbs(struct vl_client *c, const char *label, uint8_t *sig, size_t *sig_len)
{
	struct vl_writer w;
	vl_writer_init_heap(&w, 2048);
	struct vl_bytes ch = {c->challenge, VL_PROTO_CHALLENGE_LEN};
	struct vl_bytes sn = {(const uint8_t *)c->server_name, strlen(c->server_name)};
	struct vl_bytes u = {(const uint8_t *)c->address, strlen(c->address)};
	struct vl_bytes d = {(const uint8_t *)c->device, strlen(c->device)};
	int rc = vl_proto_auth_tbs(&w, label, &ch, &sn, &u, &d);
	if (!rc)
		rc = vl_sign(c->s, c->sig_priv, w.buf, w.len, sig, sig_len);
	vl_writer_cleanup(&w);
	return rc;
}

static int open_connection(struct vl_client *c)
{
	int rc = cl_net_connect(&c->net, &c->u, &c->tls, c->timeout_ms);
	if (rc)
		return cl_fail(c, rc == VL_ERR_TIMEOUT ? rc : VL_ERR_NET, "cannot connect to %s",
		               c->url);
	c->connected = true;
	c->seq_acked = c->seq_done;
	rc = read_challenge(c);
	if (rc) {
		cl_net_close(&c->net);
		c->connected = false;
	}
	return rc;
}

static int authenticate(struct vl_client *c)
{
	uint8_t sig[VL_SIG_MAX];
	size_t sig_len = 0;
	int rc = sign_tbs(c, VL_PROTO_LABEL_AUTH, sig, &sig_len);
	if (rc)
		return cl_fail(c, rc, "signing failed");
	struct vl_msg_auth a = {
	    .user = {(const uint8_t *)c->address, strlen(c->address)},
	    .device = {(const uint8_t *)c->device, strlen(c->device)},
	    .signature = {sig, sig_len},
	};
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	uint32_t id = cl_next_id(c);
	(void)!vl_msg_auth_encode(&w, id, &a);
	uint8_t *body;
	size_t len;
	rc = cl_request(c, &w, id, &body, &len);
	if (rc)
		return rc;
	struct vl_msg_auth_ok ok;
	struct vl_bytes b = {body, len};
	rc = vl_msg_auth_ok_decode(&b, &ok);
	free(body);
	if (rc)
		return cl_fail(c, VL_ERR_PROTOCOL, "bad AUTH reply");
	c->kp_stock = ok.key_packages;
	return VL_OK;
}

int vl_client_connect(struct vl_client *c)
{
	if (c->connected)
		return VL_OK;
	int rc = open_connection(c);
	if (!rc)
		rc = authenticate(c);
	if (!rc)
		rc = cl_resend_pending(c);
	/* Topping up KeyPackages is not fatal: a server that cannot store
	 * them now (its disk is full) must not keep this device from its
	 * messages. The next connection tries again. */
	if (!rc && c->kp_stock < c->kp_target && cl_kp_replenish(c, c->kp_target, NULL) != VL_OK &&
	    !c->connected)
		rc = cl_fail(c, VL_ERR_NET, "connection lost");
	/* Multi-device: add this user's devices that joined while we were
	 * away. Not fatal either: the connection is good, and the next sync
	 * (or the user's other devices) will do it. */
	if (!rc && vl_client_sync(c) != VL_OK && !c->connected)
		rc = cl_fail(c, VL_ERR_NET, "connection lost");
	if (rc && c->connected) {
		cl_net_close(&c->net);
		c->connected = false;
	}
	return rc;
}

void vl_client_disconnect(struct vl_client *c)
{
	if (c->connected) {
		cl_net_close(&c->net);
		c->connected = false;
	}
}

/* --- account set-up --------------------------------------------------------- */

static int rmtree_store(const char *dir)
{
	char p[4096];
	static const char *const files[] = {"store.db", "store.db-wal", "store.db-shm",
	                                    "store.db-journal"};
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, files[i]);
		unlink(p);
	}
	return rmdir(dir);
}

int vl_client_register(const struct vl_client_opts *o, const char *server_url, const char *address,
                       const char *device, const char *invite, struct vl_client **out)
{
	*out = NULL;
	if (!o || !o->data_dir || !server_url || !address || !device || !invite)
		return VL_ERR_ARG;
	if (!vl_proto_address_valid((const uint8_t *)address, strlen(address)) ||
	    !vl_proto_device_valid((const uint8_t *)device, strlen(device)) ||
	    strlen(invite) > VL_PROTO_INVITE_MAX || strlen(server_url) >= 300)
		return VL_ERR_ARG;
	struct cl_url u;
	if (cl_url_parse(server_url, &u))
		return VL_ERR_ARG;
	char path[4096];
	snprintf(path, sizeof path, "%s/store.db", o->data_dir);
	if (access(path, F_OK) == 0)
		return VL_ERR_EXISTS;
	/* A key file made here goes again if set-up fails. */
	bool made_key = o->key_file && access(o->key_file, F_OK) != 0;
	bool made_dir = false;
	if (mkdir(o->data_dir, 0700) == 0)
		made_dir = true;
	else if (errno != EEXIST)
		return VL_ERR_IO;
	struct vl_client *c;
	int rc = client_alloc(o, &c);
	if (rc)
		goto fail_dir;
	c->u = u;
	snprintf(c->url, sizeof c->url, "%s", server_url);
	snprintf(c->address, sizeof c->address, "%s", address);
	snprintf(c->device, sizeof c->device, "%s", device);
	snprintf(c->identity, sizeof c->identity, "%s#%s", address, device);
	c->suite = CL_SUITE;
	c->s = vl_suite_get(c->suite);
	rc = vl_sig_generate(c->s, c->sig_priv, c->sig_pub);
	c->sig_pub_len = c->s->sig_pub_len;
	if (!rc)
		rc = store_open(o, true, &c->st, c->err, sizeof c->err);
	if (!rc)
		rc = device_save(c);
	if (!rc)
		rc = open_connection(c);
	if (rc)
		goto fail;
	uint8_t sig[VL_SIG_MAX];
	size_t sig_len = 0;
	rc = sign_tbs(c, VL_PROTO_LABEL_REGISTER, sig, &sig_len);
	if (rc)
		goto fail;
	struct vl_msg_register m = {
	    .invite = {(const uint8_t *)invite, strlen(invite)},
	    .user = {(const uint8_t *)address, strlen(address)},
	    .device = {(const uint8_t *)device, strlen(device)},
	    .cipher_suite = c->suite,
	    .signature_key = {c->sig_pub, c->sig_pub_len},
	    .signature = {sig, sig_len},
	};
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	uint32_t id = cl_next_id(c);
	(void)!vl_msg_register_encode(&w, id, &m);
	rc = cl_request(c, &w, id, NULL, NULL);
	if (rc)
		goto fail;
	cl_contact_learn(c, c->address, c->device, c->sig_pub, c->sig_pub_len);
	rc = cl_kp_replenish(c, c->kp_target, NULL);
	if (rc)
		goto fail;
	*out = c;
	return VL_OK;
fail:
	if (o->errbuf && o->errbuf_len)
		snprintf(o->errbuf, o->errbuf_len, "%s", c->err[0] ? c->err : vl_strerror(rc));
	vl_client_close(c);
fail_dir:
	/* Nothing is left behind: the store (with the device key) goes. */
	if (made_key)
		unlink(o->key_file);
	if (made_dir)
		rmtree_store(o->data_dir);
	else {
		unlink(path);
		char p2[4200];
		snprintf(p2, sizeof p2, "%s-wal", path);
		unlink(p2);
		snprintf(p2, sizeof p2, "%s-shm", path);
		unlink(p2);
	}
	return rc;
}

/* --- events ----------------------------------------------------------------------- */

void cl_event_push(struct vl_client *c, struct vl_event *ev)
{
	if (c->n_ev == CL_EVENTS_MAX) {
		/* An application that never reads events loses the oldest ones,
		 * not its memory; messages stay in the store. */
		vl_event_cleanup(&c->evq[c->ev_head]);
		c->ev_head = (c->ev_head + 1) % c->cap_ev;
		c->n_ev--;
	}
	if (c->n_ev == c->cap_ev) {
		size_t ncap = c->cap_ev ? c->cap_ev * 2 : 32;
		struct vl_event *nq = malloc(ncap * sizeof *nq);
		if (!nq) {
			vl_event_cleanup(ev);
			return;
		}
		for (size_t i = 0; i < c->n_ev; i++)
			nq[i] = c->evq[(c->ev_head + i) % c->cap_ev];
		free(c->evq);
		c->evq = nq;
		c->cap_ev = ncap;
		c->ev_head = 0;
	}
	c->evq[(c->ev_head + c->n_ev) % c->cap_ev] = *ev;
	c->n_ev++;
	memset(ev, 0, sizeof *ev);
}

bool vl_client_next_event(struct vl_client *c, struct vl_event *ev)
{
	if (c->n_ev == 0)
		return false;
	*ev = c->evq[c->ev_head];
	c->ev_head = (c->ev_head + 1) % c->cap_ev;
	c->n_ev--;
	return true;
}

void vl_client_set_event_cb(struct vl_client *c, vl_event_fn cb, void *ctx)
{
	c->cb = cb;
	c->cb_ctx = ctx;
}

void vl_event_cleanup(struct vl_event *ev)
{
	if (!ev)
		return;
	free(ev->text);
	if (ev->has_msg)
		vl_message_cleanup(&ev->msg);
	memset(ev, 0, sizeof *ev);
}

/* --- pushes and polling ------------------------------------------------------------ */

static int send_ack(struct vl_client *c)
{
	if (!c->connected || c->seq_done <= c->seq_acked)
		return VL_OK;
	struct vl_writer w;
	vl_writer_init_heap(&w, 64);
	struct vl_msg_ack a = {.seq = c->seq_done};
	/* Request id 0: the server answers only a failure (protocol.md
	 * §4.4), an ERROR this client drops like any frame no request
	 * waits for; what was not deleted comes again and the next ACK
	 * covers it. */
	(void)!vl_msg_ack_encode(&w, 0, &a);
	int rc = w.err ? w.err : cl_net_send(&c->net, w.buf, w.len);
	vl_writer_cleanup(&w);
	if (rc) {
		lost(c, rc);
		return cl_fail(c, VL_ERR_NET, "connection lost");
	}
	c->seq_acked = c->seq_done;
	return VL_OK;
}

static int handle_push(struct vl_client *c, const uint8_t *buf, size_t len)
{
	struct vl_frame f;
	if (vl_frame_decode(buf, len, CL_NET_MSG_MAX, &f))
		return VL_OK;
	switch (f.type) {
	case VL_FRAME_DELIVER: {
		struct vl_msg_deliver d;
		if (vl_msg_deliver_decode(&f.body, &d))
			return cl_fail(c, VL_ERR_PROTOCOL, "malformed DELIVER");
		if (d.seq <= c->seq_done)
			return VL_OK; /* a duplicate (design 2) */
		/* One transaction per delivery: its effects and its sequence
		 * number are stored together, with one durable write. Handling
		 * a delivery sends nothing (receipts and leave commits wait for
		 * the end of the batch), so nothing leaves before it is stored. */
		int brc = vl_client_store_batch_begin(c->st);
		int rc = cl_deliver(c, &d);
		if (rc == VL_ERR_NET || rc == VL_ERR_STORE || rc == VL_ERR_NOMEM) {
			if (brc == VL_OK)
				(void)!vl_client_store_batch_end(c->st, false);
			return rc; /* not consumed: comes again */
		}
		rc = d.seq > c->seq_done ? seq_save(c, d.seq) : VL_OK;
		if (brc == VL_OK) {
			int erc = vl_client_store_batch_end(c->st, rc == VL_OK);
			if (rc == VL_OK && erc != VL_OK)
				rc = cl_fail(c, VL_ERR_STORE, "store: %s",
				             vl_client_store_errmsg(c->st));
		}
		if (rc == VL_OK && d.seq > c->seq_done)
			c->seq_done = d.seq;
		return rc;
	}
	case VL_FRAME_KP_LOW: {
		struct vl_msg_kp_count k;
		if (vl_msg_kp_count_decode(&f.body, &k) == VL_OK) {
			c->kp_stock = k.key_packages;
			c->kp_low = true;
		}
		return VL_OK;
	}
	case VL_FRAME_CLOSING: {
		struct vl_msg_closing cl;
		int why = VL_ERR_NET;
		if (vl_msg_closing_decode(&f.body, &cl) == VL_OK && cl.code == VL_PERR_REVOKED)
			why = VL_ERR_AUTH;
		lost(c, why);
		return VL_OK;
	}
	default:
		return VL_OK;
	}
}

int cl_process_pushes(struct vl_client *c)
{
	int rc = VL_OK;
	while (c->n_push > 0) {
		struct cl_push p = c->pushq[c->push_head];
		c->push_head = (c->push_head + 1) % c->cap_push;
		c->n_push--;
		rc = handle_push(c, p.buf, p.len);
		free(p.buf);
		if (rc)
			break;
	}
	int arc = send_ack(c);
	return rc ? rc : arc;
}

/* Work that follows a batch of deliveries and sends something: delivery
 * receipts, commits for leave requests, KeyPackages after KP_LOW. It runs
 * after the batch's events were handed over (so it never delays what the
 * user sees), at the latest at the start of the next poll. */
static void after_batch(struct vl_client *c)
{
	cl_receipts_flush(c);
	cl_convs_after_batch(c);
	if (c->kp_low && c->connected) {
		c->kp_low = false;
		uint32_t n = 0;
		if (cl_kp_replenish(c, c->kp_target, &n) == VL_OK && n > 0) {
			struct vl_event ev = {.type = VL_EVENT_KEY_PACKAGES, .code = (int)n};
			cl_event_push(c, &ev);
		}
	}
}

static void dispatch(struct vl_client *c)
{
	if (!c->cb)
		return;
	c->in_cb = true;
	struct vl_event ev;
	while (c->cb && vl_client_next_event(c, &ev)) {
		c->cb(c->cb_ctx, &ev);
		vl_event_cleanup(&ev);
	}
	c->in_cb = false;
}

int vl_client_poll(struct vl_client *c, int timeout_ms)
{
	if (c->in_cb || c->in_poll)
		return VL_ERR_STATE;
	c->in_poll = true;
	after_batch(c);
	int rc = VL_OK;
	if (c->n_push == 0 && c->connected) {
		rc = cl_read_one(c, timeout_ms < 0 ? -1 : timeout_ms);
		if (rc == VL_ERR_TIMEOUT)
			rc = VL_OK;
	}
	/* Drain whatever else is already buffered without waiting. */
	while (rc == VL_OK && c->connected && c->n_push < 256 && cl_net_pending(&c->net)) {
		rc = cl_read_one(c, 0);
		if (rc == VL_ERR_TIMEOUT) {
			rc = VL_OK;
			break;
		}
	}
	int prc = cl_process_pushes(c);
	if (!rc)
		rc = prc;
	c->in_poll = false;
	dispatch(c);
	if (c->n_ev == 0) { /* handed over: the follow-up work can go now */
		c->in_poll = true;
		after_batch(c);
		c->in_poll = false;
		dispatch(c);
	}
	if (!c->connected && rc == VL_OK)
		rc = cl_fail(c, VL_ERR_NET, "not connected");
	return rc;
}

int vl_client_catch_up(struct vl_client *c, int timeout_ms)
{
	if (c->in_cb || c->in_poll)
		return VL_ERR_STATE;
	if (!c->connected)
		return cl_fail(c, VL_ERR_NET, "not connected");
	/* The server pushes queued entries before it answers a later request
	 * on the same connection only as far as its window allows, so a PING
	 * reply marks "everything pushed so far"; deliveries that were still
	 * in the queue beyond the window follow as ACKs open it. Loop until a
	 * PING round trip brings no new delivery. */
	uint64_t deadline = cl_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : c->timeout_ms);
	for (;;) {
		uint64_t before = c->seq_done;
		size_t pushes_before = c->n_push;
		struct vl_writer w;
		vl_writer_init_heap(&w, 64);
		uint32_t id = cl_next_id(c);
		(void)!vl_frame_encode_empty(&w, VL_FRAME_PING, id);
		int rc = cl_request(c, &w, id, NULL, NULL);
		if (rc)
			return rc;
		bool got = c->n_push > pushes_before || c->n_push > 0;
		rc = vl_client_poll(c, 0);
		if (rc)
			return rc;
		if (!got && c->seq_done == before)
			return VL_OK;
		if (cl_now_ms() >= deadline)
			return cl_fail(c, VL_ERR_TIMEOUT, "catch-up did not finish");
	}
}

/* --- devices --------------------------------------------------------------------- */

int vl_client_devices(struct vl_client *c, struct vl_device_entry **list, size_t *n)
{
	*list = NULL;
	*n = 0;
	struct vl_writer w;
	vl_writer_init_heap(&w, 64);
	uint32_t id = cl_next_id(c);
	(void)!vl_frame_encode_empty(&w, VL_FRAME_DEVICE_LIST, id);
	uint8_t *body;
	size_t len;
	int rc = cl_request(c, &w, id, &body, &len);
	if (rc)
		return rc;
	struct vl_bytes b = {body, len};
	struct vl_msg_device_list_ok m;
	if (vl_msg_device_list_ok_decode(&b, &m)) {
		free(body);
		return cl_fail(c, VL_ERR_PROTOCOL, "bad DEVICE_LIST reply");
	}
	struct vl_device_entry *out = calloc(m.devices.count ? m.devices.count : 1, sizeof *out);
	if (!out) {
		free(body);
		return VL_ERR_NOMEM;
	}
	size_t k = 0;
	struct vl_device_info di;
	while (vl_device_info_next(&m.devices, &di)) {
		struct vl_device_entry *e = &out[k++];
		memcpy(e->name, di.device.p, di.device.len);
		e->cipher_suite = di.cipher_suite;
		size_t kl = di.signature_key.len < sizeof e->signature_key
		                ? di.signature_key.len
		                : sizeof e->signature_key;
		memcpy(e->signature_key, di.signature_key.p, kl);
		e->signature_key_len = kl;
		e->created = di.created;
		e->revoked = di.revoked;
		e->current = strcmp(e->name, c->device) == 0;
		if (!e->revoked)
			cl_contact_learn(c, c->address, e->name, e->signature_key, kl);
	}
	free(body);
	*list = out;
	*n = k;
	return VL_OK;
}

void vl_client_devices_free(struct vl_device_entry *list)
{
	free(list);
}

int vl_client_device_invite(struct vl_client *c, char **invite)
{
	*invite = NULL;
	struct vl_writer w;
	vl_writer_init_heap(&w, 64);
	uint32_t id = cl_next_id(c);
	(void)!vl_frame_encode_empty(&w, VL_FRAME_DEVICE_INVITE, id);
	uint8_t *body;
	size_t len;
	int rc = cl_request(c, &w, id, &body, &len);
	if (rc)
		return rc;
	struct vl_bytes b = {body, len};
	struct vl_msg_device_invite_ok m;
	rc = vl_msg_device_invite_ok_decode(&b, &m);
	if (!rc) {
		*invite = malloc(m.invite.len + 1);
		if (!*invite)
			rc = VL_ERR_NOMEM;
		else {
			memcpy(*invite, m.invite.p, m.invite.len);
			(*invite)[m.invite.len] = '\0';
		}
	} else {
		rc = cl_fail(c, VL_ERR_PROTOCOL, "bad DEVICE_INVITE reply");
	}
	free(body);
	return rc;
}

int vl_client_device_revoke(struct vl_client *c, const char *device)
{
	if (!vl_proto_device_valid((const uint8_t *)device, strlen(device)))
		return VL_ERR_ARG;
	struct vl_writer w;
	vl_writer_init_heap(&w, 256);
	uint32_t id = cl_next_id(c);
	struct vl_msg_device_revoke m = {.device = {(const uint8_t *)device, strlen(device)}};
	(void)!vl_msg_device_revoke_encode(&w, id, &m);
	int rc = cl_request(c, &w, id, NULL, NULL);
	if (rc)
		return rc;
	if (strcmp(device, c->device) == 0)
		return VL_OK; /* this device: the server closes the connection */
	/* Take the revoked device out of our conversations. */
	return vl_client_sync(c);
}

/* --- KeyPackages ---------------------------------------------------------------------- */

static const uint16_t kp_versions[] = {VL_MLS_VERSION_MLS10};
static const uint16_t kp_creds[] = {VL_MLS_CREDENTIAL_BASIC, VL_MLS_CREDENTIAL_X509};

/* Builds and signs a KeyPackage for this device (RFC 9420 §10) whose
 * private keys we keep: the engine's vl_key_package_new holds them only in
 * memory, and a Welcome may arrive after a restart. */
static int kp_build(struct vl_client *c, uint8_t init_priv[VL_KEM_PRIV_MAX],
                    uint8_t enc_priv[VL_KEM_PRIV_MAX], uint8_t **msg, size_t *msg_len)
{
	const struct vl_suite *s = c->s;
	uint8_t init_pub[VL_KEM_PUB_MAX], enc_pub[VL_KEM_PUB_MAX];
	uint8_t leaf_sig[VL_SIG_MAX], kp_sig[VL_SIG_MAX];
	size_t leaf_sig_len = 0, kp_sig_len = 0;
	int rc = vl_kem_generate(s, init_priv, init_pub);
	if (!rc)
		rc = vl_kem_generate(s, enc_priv, enc_pub);
	if (rc)
		return rc;
	uint16_t suite = c->suite;
	struct vl_mls_message m;
	memset(&m, 0, sizeof m);
	m.version = VL_MLS_VERSION_MLS10;
	m.wire_format = VL_MLS_WIRE_KEY_PACKAGE;
	struct vl_mls_key_package *kp = &m.key_package;
	kp->version = VL_MLS_VERSION_MLS10;
	kp->cipher_suite = suite;
	kp->init_key = (struct vl_mls_bytes){init_pub, s->kem_pub_len};
	struct vl_mls_leaf_node *ln = &kp->leaf_node;
	ln->encryption_key = (struct vl_mls_bytes){enc_pub, s->kem_pub_len};
	ln->signature_key = (struct vl_mls_bytes){c->sig_pub, c->sig_pub_len};
	ln->credential.type = VL_MLS_CREDENTIAL_BASIC;
	ln->credential.identity =
	    (struct vl_mls_bytes){(const uint8_t *)c->identity, strlen(c->identity)};
	ln->capabilities.versions = (struct vl_mls_u16_list){kp_versions, 1};
	ln->capabilities.cipher_suites = (struct vl_mls_u16_list){&suite, 1};
	ln->capabilities.credentials = (struct vl_mls_u16_list){kp_creds, 2};
	ln->source = VL_MLS_LEAF_SOURCE_KEY_PACKAGE;
	uint64_t now = (uint64_t)time(NULL);
	/* 90 days, from an hour back to allow for clock skew. */
	ln->lifetime = (struct vl_mls_lifetime){now - 3600, now + 90ull * 86400};
	struct vl_writer w;
	vl_writer_init_heap(&w, 1 << 16);
	rc = vl_mls_leaf_node_tbs_encode(&w, ln, NULL, 0);
	if (!rc)
		rc = vl_mls_sign_with_label(s, c->sig_priv, "LeafNodeTBS", w.buf, w.len, leaf_sig,
		                            &leaf_sig_len);
	vl_writer_cleanup(&w);
	if (rc)
		return rc;
	ln->signature = (struct vl_mls_bytes){leaf_sig, leaf_sig_len};
	vl_writer_init_heap(&w, 1 << 16);
	rc = vl_mls_key_package_tbs_encode(&w, kp);
	if (!rc)
		rc = vl_mls_sign_with_label(s, c->sig_priv, "KeyPackageTBS", w.buf, w.len, kp_sig,
		                            &kp_sig_len);
	vl_writer_cleanup(&w);
	if (rc)
		return rc;
	kp->signature = (struct vl_mls_bytes){kp_sig, kp_sig_len};
	return vl_mls_message_encode_alloc(&m, msg, msg_len);
}

/* The KeyPackageRef of an MLSMessage(KeyPackage): the ref hashes the
 * KeyPackage itself, after the message's 4-octet version and wire format. */
static int kp_ref(const struct vl_suite *s, const uint8_t *msg, size_t len, uint8_t *ref,
                  size_t *ref_len)
{
	if (len < 4)
		return VL_ERR_DECODE;
	*ref_len = s->hash_len;
	return vl_mls_key_package_ref(s, msg + 4, len - 4, ref);
}

static void kp_name(const uint8_t *ref, size_t ref_len, char *out)
{
	memcpy(out, "kp/", 3);
	vl_hex_encode(ref, ref_len, out + 3);
}

static int kp_store(struct vl_client *c, bool last_resort, const uint8_t *msg, size_t msg_len,
                    const uint8_t *init_priv, const uint8_t *enc_priv)
{
	uint8_t ref[VL_HASH_MAX];
	size_t ref_len;
	int rc = kp_ref(c->s, msg, msg_len, ref, &ref_len);
	if (rc)
		return rc;
	char name[3 + 2 * VL_HASH_MAX + 1];
	kp_name(ref, ref_len, name);
	struct vl_writer w;
	vl_writer_init_heap(&w, 1 << 17);
	(void)!vl_write_u8(&w, last_resort);
	(void)!vl_write_opaque(&w, msg, msg_len);
	(void)!vl_write_opaque(&w, init_priv, c->s->kem_priv_len);
	(void)!vl_write_opaque(&w, enc_priv, c->s->kem_priv_len);
	uint8_t *buf = NULL;
	size_t len = 0;
	rc = vl_writer_take(&w, &buf, &len);
	if (!rc)
		rc = vl_client_store_secret_put(c->st, name, buf, len);
	vl_wipe(buf, len);
	free(buf);
	return rc;
}

int cl_kp_lookup(struct vl_client *c, const uint8_t *ref, size_t ref_len,
                 struct vl_key_package **kp, bool *last_resort)
{
	*kp = NULL;
	if (ref_len > VL_HASH_MAX)
		return VL_ERR_NOT_FOUND;
	char name[3 + 2 * VL_HASH_MAX + 1];
	kp_name(ref, ref_len, name);
	uint8_t *buf;
	size_t len;
	int rc = vl_client_store_secret_get(c->st, name, &buf, &len);
	if (rc)
		return rc;
	struct vl_reader r;
	vl_reader_init(&r, buf, len);
	uint8_t lr = 0;
	const uint8_t *msg, *ip, *ep;
	size_t ml, il, el;
	rc = vl_read_u8(&r, &lr);
	if (!rc)
		rc = vl_read_opaque(&r, &msg, &ml, VL_PROTO_KP_MAX);
	if (!rc)
		rc = vl_read_opaque(&r, &ip, &il, VL_KEM_PRIV_MAX);
	if (!rc)
		rc = vl_read_opaque(&r, &ep, &el, VL_KEM_PRIV_MAX);
	if (!rc && (il != c->s->kem_priv_len || el != c->s->kem_priv_len))
		rc = VL_ERR_DECODE;
	if (!rc)
		rc = vl_key_package_from_parts(msg, ml, ip, ep, c->sig_priv, kp);
	*last_resort = lr;
	vl_client_store_free(buf, len);
	return rc;
}

void cl_kp_forget(struct vl_client *c, const uint8_t *ref, size_t ref_len)
{
	char name[3 + 2 * VL_HASH_MAX + 1];
	if (ref_len > VL_HASH_MAX)
		return;
	kp_name(ref, ref_len, name);
	(void)!vl_client_store_secret_delete(c->st, name);
}

int cl_kp_replenish(struct vl_client *c, uint32_t target, uint32_t *uploaded)
{
	if (uploaded)
		*uploaded = 0;
	if (target == 0)
		target = c->kp_target;
	if (target > VL_PROTO_KP_PER_UPLOAD - 1)
		target = VL_PROTO_KP_PER_UPLOAD - 1;
	uint32_t want = c->kp_stock >= target ? 0 : target - c->kp_stock;
	/* "kp-last-resort" marks that the server holds our last-resort
	 * package (it is kept there until replaced). */
	uint8_t *mark = NULL;
	size_t mark_len = 0;
	bool have_lr =
	    vl_client_store_secret_get(c->st, "kp-last-resort", &mark, &mark_len) == VL_OK;
	vl_client_store_free(mark, mark_len);
	size_t n = want + (have_lr ? 0 : 1);
	if (n == 0)
		return VL_OK;
	struct vl_kp_upload_item *items = calloc(n, sizeof *items);
	uint8_t **bufs = calloc(n, sizeof *bufs);
	int rc = (items && bufs) ? VL_OK : VL_ERR_NOMEM;
	for (size_t i = 0; !rc && i < n; i++) {
		uint8_t ip[VL_KEM_PRIV_MAX], ep[VL_KEM_PRIV_MAX];
		size_t len = 0;
		bool lr = !have_lr && i == n - 1;
		rc = kp_build(c, ip, ep, &bufs[i], &len);
		if (!rc)
			rc = kp_store(c, lr, bufs[i], len, ip, ep);
		vl_wipe(ip, sizeof ip);
		vl_wipe(ep, sizeof ep);
		items[i] =
		    (struct vl_kp_upload_item){.last_resort = lr, .key_package = {bufs[i], len}};
	}
	if (!rc) {
		struct vl_writer w;
		vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
		uint32_t id = cl_next_id(c);
		(void)!vl_msg_kp_upload_encode(&w, id, items, n);
		uint8_t *body;
		size_t len;
		rc = cl_request(c, &w, id, &body, &len);
		if (!rc) {
			struct vl_bytes b = {body, len};
			struct vl_msg_kp_count k;
			if (vl_msg_kp_count_decode(&b, &k) == VL_OK)
				c->kp_stock = k.key_packages;
			free(body);
			if (!have_lr)
				rc = vl_client_store_secret_put(c->st, "kp-last-resort", "1", 1);
			if (uploaded)
				*uploaded = (uint32_t)n;
		}
	}
	for (size_t i = 0; bufs && i < n; i++)
		free(bufs[i]);
	free(bufs);
	free(items);
	return rc;
}

int vl_client_key_packages_replenish(struct vl_client *c, uint32_t target, uint32_t *uploaded)
{
	return cl_kp_replenish(c, target, uploaded);
}

int cl_kp_claim(struct vl_client *c, const char *user, struct cl_claimed **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!vl_proto_address_valid((const uint8_t *)user, strlen(user)))
		return cl_fail(c, VL_ERR_ARG, "bad address");
	struct vl_writer w;
	vl_writer_init_heap(&w, 512);
	uint32_t id = cl_next_id(c);
	struct vl_msg_kp_claim m = {.user = {(const uint8_t *)user, strlen(user)}};
	(void)!vl_msg_kp_claim_encode(&w, id, &m);
	uint8_t *body;
	size_t len;
	int rc = cl_request(c, &w, id, &body, &len);
	if (rc)
		return rc;
	struct vl_bytes b = {body, len};
	struct vl_msg_kp_claim_ok ok;
	if (vl_msg_kp_claim_ok_decode(&b, &ok)) {
		free(body);
		return cl_fail(c, VL_ERR_PROTOCOL, "bad KP_CLAIM reply");
	}
	struct cl_claimed *list =
	    calloc(ok.key_packages.count ? ok.key_packages.count : 1, sizeof *list);
	if (!list) {
		free(body);
		return VL_ERR_NOMEM;
	}
	size_t k = 0;
	struct vl_claimed_kp ck;
	while (vl_claimed_kp_next(&ok.key_packages, &ck)) {
		struct cl_claimed *e = &list[k];
		memcpy(e->device, ck.device.p, ck.device.len);
		e->device[ck.device.len] = '\0';
		if (!(e->kp = malloc(ck.key_package.len))) {
			cl_claimed_free(list, k);
			free(body);
			return VL_ERR_NOMEM;
		}
		memcpy(e->kp, ck.key_package.p, ck.key_package.len);
		e->kp_len = ck.key_package.len;
		cl_contact_learn_kp(c, e->kp, e->kp_len);
		k++;
	}
	free(body);
	*out = list;
	*n = k;
	return VL_OK;
}

void cl_claimed_free(struct cl_claimed *list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		free(list[i].kp);
	free(list);
}
