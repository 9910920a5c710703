/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Frame and body codec of docs/protocol.md. Every decoder reads through a
 * bounded struct vl_reader and ends with vl_reader_finish, so a body with
 * trailing bytes is malformed; every encoder applies the same limits as the
 * matching decoder.
 */
#include "proto/proto.h"

#include <string.h>

/* Writers and readers carry a sticky error, checked once at the end. */
#define IGN(e)                                                                                     \
	do {                                                                                       \
		int ign_ = (e);                                                                    \
		(void)ign_;                                                                        \
	} while (0)

/* --- names ----------------------------------------------------------- */

const char *vl_proto_error_name(unsigned code)
{
	static const char *const names[] = {
	    [VL_PERR_MALFORMED] = "malformed",
	    [VL_PERR_TOO_LARGE] = "too_large",
	    [VL_PERR_UNKNOWN_TYPE] = "unknown_type",
	    [VL_PERR_UNSUPPORTED_VERSION] = "unsupported_version",
	    [VL_PERR_NOT_AUTHENTICATED] = "not_authenticated",
	    [VL_PERR_AUTH_FAILED] = "auth_failed",
	    [VL_PERR_FORBIDDEN] = "forbidden",
	    [VL_PERR_NOT_FOUND] = "not_found",
	    [VL_PERR_EXISTS] = "exists",
	    [VL_PERR_STALE_EPOCH] = "stale_epoch",
	    [VL_PERR_RATE_LIMITED] = "rate_limited",
	    [VL_PERR_LIMIT] = "limit",
	    [VL_PERR_INVALID] = "invalid",
	    [VL_PERR_INVALID_INVITE] = "invalid_invite",
	    [VL_PERR_INTERNAL] = "internal",
	    [VL_PERR_REVOKED] = "revoked",
	    [VL_PERR_SHUTTING_DOWN] = "shutting_down",
	    [VL_PERR_TOO_MANY_ERRORS] = "too_many_errors",
	    [VL_PERR_TOO_SLOW] = "too_slow",
	    [VL_PERR_REPLACED] = "replaced",
	    [VL_PERR_EPOCH_AHEAD] = "epoch_ahead",
	};
	if (code < sizeof names / sizeof names[0] && names[code])
		return names[code];
	return "unknown";
}

static const char *request_name(unsigned type)
{
	switch (type) {
	case VL_FRAME_REGISTER:
		return "REGISTER";
	case VL_FRAME_AUTH:
		return "AUTH";
	case VL_FRAME_DEVICE_LIST:
		return "DEVICE_LIST";
	case VL_FRAME_DEVICE_REVOKE:
		return "DEVICE_REVOKE";
	case VL_FRAME_DEVICE_INVITE:
		return "DEVICE_INVITE";
	case VL_FRAME_KP_UPLOAD:
		return "KP_UPLOAD";
	case VL_FRAME_KP_CLAIM:
		return "KP_CLAIM";
	case VL_FRAME_GROUP_CREATE:
		return "GROUP_CREATE";
	case VL_FRAME_COMMIT:
		return "COMMIT";
	case VL_FRAME_SEND:
		return "SEND";
	case VL_FRAME_ACK:
		return "ACK";
	case VL_FRAME_PING:
		return "PING";
	default:
		return NULL;
	}
}

bool vl_proto_is_request(unsigned type)
{
	return request_name(type) != NULL;
}

const char *vl_proto_type_name(unsigned type)
{
	static const char *const replies[] = {
	    [VL_FRAME_REGISTER] = "REGISTER_OK",
	    [VL_FRAME_AUTH] = "AUTH_OK",
	    [VL_FRAME_DEVICE_LIST] = "DEVICE_LIST_OK",
	    [VL_FRAME_DEVICE_REVOKE] = "DEVICE_REVOKE_OK",
	    [VL_FRAME_DEVICE_INVITE] = "DEVICE_INVITE_OK",
	    [VL_FRAME_KP_UPLOAD] = "KP_UPLOAD_OK",
	    [VL_FRAME_KP_CLAIM] = "KP_CLAIM_OK",
	    [VL_FRAME_GROUP_CREATE] = "GROUP_CREATE_OK",
	    [VL_FRAME_COMMIT] = "COMMIT_OK",
	    [VL_FRAME_SEND] = "SEND_OK",
	    [VL_FRAME_ACK] = "ACK_OK",
	    [VL_FRAME_PING] = "PONG",
	};
	const char *n = request_name(type);
	if (n)
		return n;
	switch (type) {
	case VL_FRAME_ERROR:
		return "ERROR";
	case VL_FRAME_CHALLENGE:
		return "CHALLENGE";
	case VL_FRAME_DELIVER:
		return "DELIVER";
	case VL_FRAME_KP_LOW:
		return "KP_LOW";
	case VL_FRAME_CLOSING:
		return "CLOSING";
	default:
		break;
	}
	if (type & VL_FRAME_REPLY) {
		unsigned t = type & 0x7f;
		if (t < sizeof replies / sizeof replies[0] && replies[t])
			return replies[t];
	}
	return "unknown";
}

/* --- syntax of names ------------------------------------------------- */

static bool local_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

static bool domain_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

bool vl_proto_address_valid(const uint8_t *s, size_t len)
{
	if (!s || len < 3 || len > VL_PROTO_ADDRESS_MAX)
		return false;
	const uint8_t *at = memchr(s, '@', len);
	if (!at)
		return false;
	size_t local_len = (size_t)(at - s);
	size_t domain_len = len - local_len - 1;
	if (local_len < 1 || local_len > VL_PROTO_LOCAL_MAX || domain_len < 1 ||
	    domain_len > VL_PROTO_DOMAIN_MAX)
		return false;
	for (size_t i = 0; i < local_len; i++)
		if (!local_char(s[i]))
			return false;
	for (size_t i = 0; i < domain_len; i++)
		if (!domain_char(at[1 + i]))
			return false;
	return true;
}

bool vl_proto_device_valid(const uint8_t *s, size_t len)
{
	if (!s || len < 1 || len > VL_PROTO_DEVICE_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* --- reading helpers ------------------------------------------------- */

static int rd_bytes(struct vl_reader *r, struct vl_bytes *b, size_t max)
{
	const uint8_t *p = NULL;
	size_t n = 0;
	int rc = vl_read_opaque(r, &p, &n, max);
	b->p = rc ? NULL : p;
	b->len = rc ? 0 : n;
	return rc;
}

static int rd_address(struct vl_reader *r, struct vl_bytes *b)
{
	int rc = rd_bytes(r, b, VL_PROTO_ADDRESS_MAX);
	if (rc)
		return rc;
	return vl_proto_address_valid(b->p, b->len) ? VL_OK : VL_ERR_INVALID;
}

static int rd_device(struct vl_reader *r, struct vl_bytes *b)
{
	int rc = rd_bytes(r, b, VL_PROTO_DEVICE_MAX);
	if (rc)
		return rc;
	return vl_proto_device_valid(b->p, b->len) ? VL_OK : VL_ERR_INVALID;
}

static int rd_flag(struct vl_reader *r, bool *v)
{
	uint8_t b;
	int rc = vl_read_u8(r, &b);
	if (rc)
		return rc;
	if (b > 1)
		return VL_ERR_DECODE;
	*v = b == 1;
	return VL_OK;
}

static int rd_body(const struct vl_bytes *body, struct vl_reader *r)
{
	vl_reader_init(r, body->p, body->len);
	return VL_OK;
}

/* Reads a list vector: checks each element with next_fn (which must
 * consume exactly one element or fail) and counts them, up to max. */
typedef int (*elem_check_fn)(struct vl_reader *r, void *scratch);

static int rd_list(struct vl_reader *r, struct vl_proto_iter *it, size_t max, elem_check_fn check,
                   void *scratch)
{
	struct vl_reader sub;
	int rc = vl_read_vector(r, &sub);
	if (rc)
		return rc;
	it->r = sub;
	it->count = 0;
	while (vl_reader_left(&sub) > 0) {
		if (it->count == max)
			return VL_ERR_LIMIT;
		rc = check(&sub, scratch);
		if (rc)
			return rc;
		it->count++;
	}
	return VL_OK;
}

/* --- writing helpers ------------------------------------------------- */

static int wfail(struct vl_writer *w, int err)
{
	if (!w->err)
		w->err = err;
	return w->err;
}

static int wr_bytes(struct vl_writer *w, const struct vl_bytes *b, size_t max)
{
	if (b->len > max)
		return wfail(w, VL_ERR_LIMIT);
	if (b->len && !b->p)
		return wfail(w, VL_ERR_ARG);
	return vl_write_opaque(w, b->p, b->len);
}

static int wr_address(struct vl_writer *w, const struct vl_bytes *b)
{
	if (!vl_proto_address_valid(b->p, b->len))
		return wfail(w, VL_ERR_INVALID);
	return wr_bytes(w, b, VL_PROTO_ADDRESS_MAX);
}

static int wr_device(struct vl_writer *w, const struct vl_bytes *b)
{
	if (!vl_proto_device_valid(b->p, b->len))
		return wfail(w, VL_ERR_INVALID);
	return wr_bytes(w, b, VL_PROTO_DEVICE_MAX);
}

/* --- frames ---------------------------------------------------------- */

int vl_frame_decode(const uint8_t *buf, size_t len, size_t max_len, struct vl_frame *f)
{
	memset(f, 0, sizeof *f);
	struct vl_reader r;
	vl_reader_init(&r, buf, len);
	IGN(vl_read_u8(&r, &f->version));
	IGN(vl_read_u8(&r, &f->type));
	IGN(vl_read_u32(&r, &f->request_id));
	if (len > max_len)
		return VL_ERR_LIMIT;
	if (r.err)
		return VL_ERR_DECODE;
	if (f->version < VL_PROTO_MIN_VERSION || f->version > VL_PROTO_MAX_VERSION)
		return VL_ERR_UNSUPPORTED;
	if (rd_bytes(&r, &f->body, VL_VARINT_MAX) || vl_reader_finish(&r)) {
		f->body.p = NULL;
		f->body.len = 0;
		return VL_ERR_DECODE;
	}
	return VL_OK;
}

size_t vl_frame_begin(struct vl_writer *w, uint8_t type, uint32_t request_id)
{
	IGN(vl_write_u8(w, VL_PROTO_VERSION));
	IGN(vl_write_u8(w, type));
	IGN(vl_write_u32(w, request_id));
	return vl_write_vector_begin(w);
}

int vl_frame_end(struct vl_writer *w, size_t mark)
{
	if (w->err)
		return w->err;
	return vl_write_vector_end(w, mark);
}

int vl_frame_encode_empty(struct vl_writer *w, uint8_t type, uint32_t request_id)
{
	return vl_frame_end(w, vl_frame_begin(w, type, request_id));
}

int vl_proto_empty_decode(const struct vl_bytes *body)
{
	return body->len == 0 ? VL_OK : VL_ERR_DECODE;
}

/* --- CHALLENGE and AuthTBS ------------------------------------------- */

int vl_msg_challenge_decode(const struct vl_bytes *body, struct vl_msg_challenge *m)
{
	struct vl_reader r;
	memset(m, 0, sizeof *m);
	rd_body(body, &r);
	int rc;
	if ((rc = vl_read_u8(&r, &m->min_version)) || (rc = vl_read_u8(&r, &m->max_version)) ||
	    (rc = rd_bytes(&r, &m->challenge, VL_PROTO_CHALLENGE_LEN)) ||
	    (rc = rd_bytes(&r, &m->server_name, VL_PROTO_SERVER_NAME_MAX)))
		return rc;
	if (m->challenge.len != VL_PROTO_CHALLENGE_LEN || m->min_version > m->max_version)
		return VL_ERR_DECODE;
	return vl_reader_finish(&r);
}

int vl_msg_challenge_encode(struct vl_writer *w, const struct vl_msg_challenge *m)
{
	if (m->challenge.len != VL_PROTO_CHALLENGE_LEN || m->min_version > m->max_version)
		return wfail(w, VL_ERR_ARG);
	size_t mark = vl_frame_begin(w, VL_FRAME_CHALLENGE, 0);
	IGN(vl_write_u8(w, m->min_version));
	IGN(vl_write_u8(w, m->max_version));
	IGN(wr_bytes(w, &m->challenge, VL_PROTO_CHALLENGE_LEN));
	IGN(wr_bytes(w, &m->server_name, VL_PROTO_SERVER_NAME_MAX));
	return vl_frame_end(w, mark);
}

int vl_proto_auth_tbs(struct vl_writer *w, const char *label, const struct vl_bytes *challenge,
                      const struct vl_bytes *server_name, const struct vl_bytes *user,
                      const struct vl_bytes *device)
{
	IGN(vl_write_opaque(w, label, strlen(label)));
	IGN(wr_bytes(w, challenge, VL_PROTO_CHALLENGE_LEN));
	IGN(wr_bytes(w, server_name, VL_PROTO_SERVER_NAME_MAX));
	IGN(wr_address(w, user));
	IGN(wr_device(w, device));
	return w->err;
}

/* --- REGISTER, AUTH -------------------------------------------------- */

int vl_msg_register_decode(const struct vl_bytes *body, struct vl_msg_register *m)
{
	struct vl_reader r;
	memset(m, 0, sizeof *m);
	rd_body(body, &r);
	int rc;
	if ((rc = rd_bytes(&r, &m->invite, VL_PROTO_INVITE_MAX)) ||
	    (rc = rd_address(&r, &m->user)) || (rc = rd_device(&r, &m->device)) ||
	    (rc = vl_read_u16(&r, &m->cipher_suite)) ||
	    (rc = rd_bytes(&r, &m->signature_key, VL_PROTO_SIG_KEY_MAX)) ||
	    (rc = rd_bytes(&r, &m->signature, VL_PROTO_SIGNATURE_MAX)))
		return rc;
	return vl_reader_finish(&r);
}

int vl_msg_register_encode(struct vl_writer *w, uint32_t id, const struct vl_msg_register *m)
{
	size_t mark = vl_frame_begin(w, VL_FRAME_REGISTER, id);
	IGN(wr_bytes(w, &m->invite, VL_PROTO_INVITE_MAX));
	IGN(wr_address(w, &m->user));
	IGN(wr_device(w, &m->device));
	IGN(vl_write_u16(w, m->cipher_suite));
	IGN(wr_bytes(w, &m->signature_key, VL_PROTO_SIG_KEY_MAX));
	IGN(wr_bytes(w, &m->signature, VL_PROTO_SIGNATURE_MAX));
	return vl_frame_end(w, mark);
}

int vl_msg_auth_decode(const struct vl_bytes *body, struct vl_msg_auth *m)
{
	struct vl_reader r;
	memset(m, 0, sizeof *m);
	rd_body(body, &r);
	int rc;
	if ((rc = rd_address(&r, &m->user)) || (rc = rd_device(&r, &m->device)) ||
	    (rc = rd_bytes(&r, &m->signature, VL_PROTO_SIGNATURE_MAX)))
		return rc;
	return vl_reader_finish(&r);
}

int vl_msg_auth_encode(struct vl_writer *w, uint32_t id, const struct vl_msg_auth *m)
{
	size_t mark = vl_frame_begin(w, VL_FRAME_AUTH, id);
	IGN(wr_address(w, &m->user));
	IGN(wr_device(w, &m->device));
	IGN(wr_bytes(w, &m->signature, VL_PROTO_SIGNATURE_MAX));
	return vl_frame_end(w, mark);
}

int vl_msg_auth_ok_decode(const struct vl_bytes *body, struct vl_msg_auth_ok *m)
{
	struct vl_reader r;
	memset(m, 0, sizeof *m);
	rd_body(body, &r);
	int rc;
	if ((rc = vl_read_u32(&r, &m->key_packages)) || (rc = vl_read_u64(&r, &m->acked_seq)))
		return rc;
	return vl_reader_finish(&r);
}

int vl_msg_auth_ok_encode(struct vl_writer *w, uint32_t id, const struct vl_msg_auth_ok *m)
{
	size_t mark = vl_frame_begin(w, VL_FRAME_AUTH | VL_FRAME_REPLY, id);
	IGN(vl_write_u32(w, m->key_packages));
	IGN(vl_write_u64(w, m->acked_seq));
	return vl_frame_end(w, mark);
}

/* --- devices --------------------------------------------------------- */

static int rd_device_info(struct vl_reader *r, struct vl_device_info *d)
{
	int rc;
	if ((rc = rd_device(r, &d->device)) || (rc = vl_read_u16(r, &d->cipher_suite)) ||
	    (rc = rd_bytes(r, &d->signature_key, VL_PROTO_SIG_KEY_MAX)) ||
	    (rc = vl_read_u64(r, &d->created)) || (rc = rd_flag(r, &d->revoked)))
		return rc;
	return VL_OK;
}

static int check_device_info(struct vl_reader *r, void *scratch)
{
	return rd_device_info(r, scratch);
}

int vl_msg_device_list_ok_decode(const struct vl_bytes *body, struct vl_msg_device_list_ok *m)
{
	struct vl_reader r;
	struct vl_device_info scratch;
	memset(m, 0, sizeof *m);
	rd_body(body, &r);
	int rc = rd_list(&r, &m->devices, VL_PROTO_LIST_MAX, check_device_info, &scratch);
	if (rc)
		return rc;
	return vl_reader_finish(&r);
}

int vl_msg_device_list_ok_encode(struct vl_writer *w, uint32_t id,
                                 const struct vl_device_info *devices, size_t n)
{
	if (n > VL_PROTO_LIST_MAX)
		return wfail(w, VL_ERR_LIMIT);
	size_t mark = vl_frame_begin(w, VL_FRAME_DEVICE_LIST | VL_FRAME_REPLY, id);
	size_t list = vl_write_vector_begin(w);
	for (size_t i = 0; i < n; i++) {
		IGN(wr_device(w, &devices[i].device));
		IGN(vl_write_u16(w, devices[i].cipher_suite));
		IGN(wr_bytes(w, &devices[i].signature_key, VL_PROTO_SIG_KEY_MAX));
		IGN(vl_write_u64(w, devices[i].created));
		IGN(vl_write_u8(w, devices[i].revoked ? 1 : 0));
	}
	IGN(vl_write_vector_end(w, list));
	return vl_frame_end(w, mark);
}

bool vl_device_info_next(struct vl_proto_iter *it, struct vl_device_info *out)
{
	if (vl_reader_left(&it->r) == 0)
		return false;
	return rd_device_info(&it->r, out) == VL_OK;
}

int vl_msg_device_revoke_decode(const struct vl_bytes *body, struct vl_msg_device_revoke *m)
{
	struct vl_reader r;
	memset(m, 0, sizeof *m);
	rd_body(body, &r);
	int rc = rd_device(&r, &m->device);
	if (rc)
		return rc;
	return vl_reader_finish(&r);
}

int vl_msg_device_revoke_encode(struct vl_writer *w, uint32_t id,
                                const struct vl_msg_device_revoke *m)
{
	size_t mark = vl_frame_begin(w, VL_FRAME_DEVICE_REVOKE, id);
	IGN(wr_device(w, &m->device));
	return vl_frame_end(w, mark);
}

int vl_msg_device_invite_ok_decode(const struct vl_bytes *body, struct vl_msg_device_invite_ok *m)
{
	struct vl_reader r;
	memset(m, 0, sizeof *m);
	rd_body(body, &r);
	int rc = rd_bytes(&r, &m->invite, VL_PROTO_INVITE_MAX);
	if (rc)
		return rc;
	return vl_reader_finish(&r);
}

int vl_msg_device_invite_ok_encode(struct vl_writer *w, uint32_t id,
                                   const struct vl_msg_device_invite_ok *m)
{
	size_t mark = vl_frame_begin(w, VL_FRAME_DEVICE_INVITE | VL_FRAME_REPLY, id);
	IGN(wr_bytes(w, &m->invite, VL_PROTO_INVITE_MAX));
	return vl_frame_end(w, mark);
}

/* --- KeyPackages ----------------------------------------------------- */

static int rd_kp_item(struct vl_reader *r, struct vl_kp_upload_item *it)
{
	int rc;
	if ((rc = rd_flag(r, &it->last_resort)) ||
	    (rc = rd_bytes(r, &it->key_package, VL_PROTO_KP_MAX)))
		return rc;
	return it->key_package.len ? VL_OK : VL_ERR_DECODE;
}

static int check_kp_item(struct vl_reader *r, void *scratch)
{
	return rd_kp_item(r, scratch);
}

int vl_msg_kp_upload_decode(const struct vl_bytes *body, struct vl_msg_kp_upload *m)
{
	struct vl_reader r;
	struct vl_kp_upload_item scratch;
	memset(m, 0, sizeof *m);
	rd_body(body, &r);
	int rc = rd_list(&r, &m->key_packages, VL_PROTO_KP_PER_UPLOAD, check_kp_item, &scratch);
	if (rc)
		return rc;
	return vl_reader_finish(&r);
}

int vl_msg_kp_upload_encode(struct vl_writer *w, uint32_t id, const struct vl_kp_upload_item *items,
                            size_t n)
{
	if (n > VL_PROTO_KP_PER_UPLOAD)
		return wfail(w, VL_ERR_LIMIT);
	size_t mark = vl_frame_begin(w, VL_FRAME_KP_UPLOAD, id);
	size_t list = vl_write_vector_begin(w);
	for (size_t i = 0; i < n; i++) {
		if (items[i].key_package.len == 0)
			IGN(wfail(w, VL_ERR_ARG));
		IGN(vl_write_u8(w, items[i].last_resort ? 1 : 0));
		IGN(wr_bytes(w, &items[i].key_package, VL_PROTO_KP_MAX));
	}
	IGN(vl_write_vector_end(w, list));
	return vl_frame_end(w, mark);
}

bool vl_kp_upload_item_next(struct vl_proto_iter *it, struct vl_kp_upload_item *out)
{
	if (vl_reader_left(&it->r) == 0)
		return false;
	return rd_kp_item(&it->r, out) == VL_OK;
}

int vl_msg_kp_count_decode(const struct vl_bytes *body, struct vl_msg_kp_count *m)
{
	struct vl_reader r;
	memset(m, 0, sizeof *m);
	rd_body(body, &r);
	int rc = vl_read_u32(&r, &m->key_packages);
	if (rc)
		return rc;
	return vl_reader_finish(&r);
}

int vl_msg_kp_count_encode(struct vl_writer *w, uint8_t type, uint32_t id,
                           const struct vl_msg_kp_count *m)
{
	if (type != (VL_FRAME_KP_UPLOAD | VL_FRAME_REPLY) && type != VL_FRAME_KP_LOW)
		return wfail(w, VL_ERR_ARG);
	size_t mark = vl_frame_begin(w, type, id);
	IGN(vl_write_u32(w, m->key_packages));
	return vl_frame_end(w, mark);
}

int vl_msg_kp_claim_decode(const struct vl_bytes *body, struct vl_msg_kp_claim *m)
{
	struct vl_reader r;
	memset(m, 0, sizeof *m);
	rd_body(body, &r);
	int rc = rd_address(&r, &m->user);
	if (rc)
		return rc;
	return vl_reader_finish(&r);
}

int vl_msg_kp_claim_encode(struct vl_writer *w, uint32_t id, const struct vl_msg_kp_claim *m)
{
	size_t mark = vl_frame_begin(w, VL_FRAME_KP_CLAIM, id);
	IGN(wr_address(w, &m->user));
	return vl_frame_end(w, mark);
}

static int rd_claimed(struct vl_reader *r, struct vl_claimed_kp *c)
{
	int rc;
	if ((rc = rd_device(r, &c->device)) || (rc = rd_bytes(r, &c->key_package, VL_PROTO_KP_MAX)))
		return rc;
	return c->key_package.len ? VL_OK : VL_ERR_DECODE;
}

static int check_claimed(struct vl_reader *r, void *scratch)
{
	return rd_claimed(r, scratch);
}

int vl_msg_kp_claim_ok_decode(const struct vl_bytes *body, struct vl_msg_kp_claim_ok *m)
{
	struct vl_reader r;
	struct vl_claimed_kp scratch;
	memset(m, 0, sizeof *m);
	rd_body(body, &r);
	int rc = rd_list(&r, &m->key_packages, VL_PROTO_LIST_MAX, check_claimed, &scratch);
	if (rc)
		return rc;
	return vl_reader_finish(&r);
}

int vl_msg_kp_claim_ok_encode(struct vl_writer *w, uint32_t id, const struct vl_claimed_kp *items,
                              size_t n)
{
	if (n > VL_PROTO_LIST_MAX)
		return wfail(w, VL_ERR_LIMIT);
	size_t mark = vl_frame_begin(w, VL_FRAME_KP_CLAIM | VL_FRAME_REPLY, id);
	size_t list = vl_write_vector_begin(w);
	for (size_t i = 0; i < n; i++) {
		if (items[i].key_package.len == 0)
			IGN(wfail(w, VL_ERR_ARG));
		IGN(wr_device(w, &items[i].device));
		IGN(wr_bytes(w, &items[i].key_package, VL_PROTO_KP_MAX));
	}
	IGN(vl_write_vector_end(w, list));
	return vl_frame_end(w, mark);
}

bool vl_claimed_kp_next(struct vl_proto_iter *it, struct vl_claimed_kp *out)
{
	if (vl_reader_left(&it->r) == 0)
		return false;
	return rd_claimed(&it->r, out) == VL_OK;
}

/* --- groups ------------------------------------------------------------ */

static int rd_group_id(struct vl_reader *r, struct vl_bytes *b)
{
	int rc = rd_bytes(r, b, VL_PROTO_GROUP_ID_MAX);
	if (rc)
		return rc;
	return b->len ? VL_OK : VL_ERR_DECODE;
}

static int wr_group_id(struct vl_writer *w, const struct vl_bytes *b)
{
	if (b->len == 0)
		return wfail(w, VL_ERR_ARG);
	return wr_bytes(w, b, VL_PROTO_GROUP_ID_MAX);
}

int vl_msg_group_create_decode(const struct vl_bytes *body, struct vl_msg_group_create *m)
{
	struct vl_reader r;
	memset(m, 0, sizeof *m);
	rd_body(body, &r);
	int rc = rd_group_id(&r, &m->group_id);
	if (rc)
		return rc;
	return vl_reader_finish(&r);
}

int vl_msg_group_create_encode(struct vl_writer *w, uint32_t id,
                               const struct vl_msg_group_create *m)
{
	size_t mark = vl_frame_begin(w, VL_FRAME_GROUP_CREATE, id);
	IGN(wr_group_id(w, &m->group_id));
	return vl_frame_end(w, mark);
}

static int rd_device_ref(struct vl_reader *r, struct vl_device_ref *d)
{
	int rc;
	if ((rc = rd_address(r, &d->user)) || (rc = rd_device(r, &d->device)))
		return rc;
	return VL_OK;
}

static int check_device_ref(struct vl_reader *r, void *scratch)
{
	return rd_device_ref(r, scratch);
}

bool vl_device_ref_next(struct vl_proto_iter *it, struct vl_device_ref *out)
{
	if (vl_reader_left(&it->r) == 0)
		return false;
	return rd_device_ref(&it->r, out) == VL_OK;
}

static void wr_device_refs(struct vl_writer *w, const struct vl_device_ref *refs, size_t n)
{
	if (n > VL_PROTO_LIST_MAX) {
		IGN(wfail(w, VL_ERR_LIMIT));
		return;
	}
	size_t list = vl_write_vector_begin(w);
	for (size_t i = 0; i < n; i++) {
		IGN(wr_address(w, &refs[i].user));
		IGN(wr_device(w, &refs[i].device));
	}
	IGN(vl_write_vector_end(w, list));
}

/* MLS messages in COMMIT and SEND are bounded by the frame limit only. */
#define MLS_MESSAGE_MAX VL_VARINT_MAX

int vl_msg_commit_decode(const struct vl_bytes *body, struct vl_msg_commit *m)
{
	struct vl_reader r;
	struct vl_device_ref scratch;
	memset(m, 0, sizeof *m);
	rd_body(body, &r);
	int rc;
	if ((rc = rd_group_id(&r, &m->group_id)) || (rc = vl_read_u64(&r, &m->epoch)) ||
	    (rc = vl_read_copy(&r, m->client_msg_id, VL_PROTO_MSG_ID_LEN)) ||
	    (rc = rd_bytes(&r, &m->commit, MLS_MESSAGE_MAX)) ||
	    (rc = rd_list(&r, &m->added, VL_PROTO_LIST_MAX, check_device_ref, &scratch)) ||
	    (rc = rd_list(&r, &m->removed, VL_PROTO_LIST_MAX, check_device_ref, &scratch)) ||
	    (rc = vl_read_optional(&r, &m->has_welcome)))
		return rc;
	if (m->commit.len == 0)
		return VL_ERR_DECODE;
	if (m->has_welcome) {
		if ((rc = rd_bytes(&r, &m->welcome, MLS_MESSAGE_MAX)))
			return rc;
		if (m->welcome.len == 0)
			return VL_ERR_DECODE;
	}
	return vl_reader_finish(&r);
}

int vl_msg_commit_encode(struct vl_writer *w, uint32_t id, const struct vl_msg_commit *m,
                         const struct vl_device_ref *added, size_t n_added,
                         const struct vl_device_ref *removed, size_t n_removed)
{
	if (m->commit.len == 0 || (m->has_welcome && m->welcome.len == 0))
		return wfail(w, VL_ERR_ARG);
	size_t mark = vl_frame_begin(w, VL_FRAME_COMMIT, id);
	IGN(wr_group_id(w, &m->group_id));
	IGN(vl_write_u64(w, m->epoch));
	IGN(vl_write_fixed(w, m->client_msg_id, VL_PROTO_MSG_ID_LEN));
	IGN(wr_bytes(w, &m->commit, MLS_MESSAGE_MAX));
	wr_device_refs(w, added, n_added);
	wr_device_refs(w, removed, n_removed);
	IGN(vl_write_optional(w, m->has_welcome));
	if (m->has_welcome)
		IGN(wr_bytes(w, &m->welcome, MLS_MESSAGE_MAX));
	return vl_frame_end(w, mark);
}

int vl_msg_commit_ok_decode(const struct vl_bytes *body, struct vl_msg_commit_ok *m)
{
	struct vl_reader r;
	memset(m, 0, sizeof *m);
	rd_body(body, &r);
	int rc = vl_read_u64(&r, &m->epoch);
	if (rc)
		return rc;
	return vl_reader_finish(&r);
}

int vl_msg_commit_ok_encode(struct vl_writer *w, uint32_t id, const struct vl_msg_commit_ok *m)
{
	size_t mark = vl_frame_begin(w, VL_FRAME_COMMIT | VL_FRAME_REPLY, id);
	IGN(vl_write_u64(w, m->epoch));
	return vl_frame_end(w, mark);
}

int vl_msg_send_decode(const struct vl_bytes *body, struct vl_msg_send *m)
{
	struct vl_reader r;
	memset(m, 0, sizeof *m);
	rd_body(body, &r);
	int rc;
	if ((rc = rd_group_id(&r, &m->group_id)) ||
	    (rc = vl_read_copy(&r, m->client_msg_id, VL_PROTO_MSG_ID_LEN)) ||
	    (rc = rd_bytes(&r, &m->message, MLS_MESSAGE_MAX)))
		return rc;
	if (m->message.len == 0)
		return VL_ERR_DECODE;
	return vl_reader_finish(&r);
}

int vl_msg_send_encode(struct vl_writer *w, uint32_t id, const struct vl_msg_send *m)
{
	if (m->message.len == 0)
		return wfail(w, VL_ERR_ARG);
	size_t mark = vl_frame_begin(w, VL_FRAME_SEND, id);
	IGN(wr_group_id(w, &m->group_id));
	IGN(vl_write_fixed(w, m->client_msg_id, VL_PROTO_MSG_ID_LEN));
	IGN(wr_bytes(w, &m->message, MLS_MESSAGE_MAX));
	return vl_frame_end(w, mark);
}

int vl_msg_ack_decode(const struct vl_bytes *body, struct vl_msg_ack *m)
{
	struct vl_reader r;
	memset(m, 0, sizeof *m);
	rd_body(body, &r);
	int rc = vl_read_u64(&r, &m->seq);
	if (rc)
		return rc;
	return vl_reader_finish(&r);
}

int vl_msg_ack_encode(struct vl_writer *w, uint32_t id, const struct vl_msg_ack *m)
{
	size_t mark = vl_frame_begin(w, VL_FRAME_ACK, id);
	IGN(vl_write_u64(w, m->seq));
	return vl_frame_end(w, mark);
}

int vl_msg_deliver_decode(const struct vl_bytes *body, struct vl_msg_deliver *m)
{
	struct vl_reader r;
	memset(m, 0, sizeof *m);
	rd_body(body, &r);
	int rc;
	if ((rc = vl_read_u64(&r, &m->seq)) || (rc = vl_read_u8(&r, &m->kind)) ||
	    (rc = rd_group_id(&r, &m->group_id)) || (rc = rd_device_ref(&r, &m->sender)) ||
	    (rc = rd_bytes(&r, &m->message, MLS_MESSAGE_MAX)))
		return rc;
	if (m->kind < VL_DELIVERY_APPLICATION || m->kind > VL_DELIVERY_WELCOME ||
	    m->message.len == 0)
		return VL_ERR_DECODE;
	return vl_reader_finish(&r);
}

int vl_msg_deliver_encode(struct vl_writer *w, const struct vl_msg_deliver *m)
{
	if (m->kind < VL_DELIVERY_APPLICATION || m->kind > VL_DELIVERY_WELCOME ||
	    m->message.len == 0)
		return wfail(w, VL_ERR_ARG);
	size_t mark = vl_frame_begin(w, VL_FRAME_DELIVER, 0);
	IGN(vl_write_u64(w, m->seq));
	IGN(vl_write_u8(w, m->kind));
	IGN(wr_group_id(w, &m->group_id));
	IGN(wr_address(w, &m->sender.user));
	IGN(wr_device(w, &m->sender.device));
	IGN(wr_bytes(w, &m->message, MLS_MESSAGE_MAX));
	return vl_frame_end(w, mark);
}

/* --- ERROR, CLOSING -------------------------------------------------- */

int vl_msg_error_decode(const struct vl_bytes *body, struct vl_msg_error *m)
{
	struct vl_reader r;
	memset(m, 0, sizeof *m);
	rd_body(body, &r);
	int rc;
	if ((rc = vl_read_u16(&r, &m->code)) ||
	    (rc = rd_bytes(&r, &m->detail, VL_PROTO_DETAIL_MAX)))
		return rc;
	return vl_reader_finish(&r);
}

int vl_msg_error_encode(struct vl_writer *w, uint32_t id, uint16_t code, const char *detail)
{
	size_t n = detail ? strnlen(detail, VL_PROTO_DETAIL_MAX) : 0;
	size_t mark = vl_frame_begin(w, VL_FRAME_ERROR, id);
	IGN(vl_write_u16(w, code));
	IGN(vl_write_opaque(w, detail, n));
	return vl_frame_end(w, mark);
}

int vl_msg_closing_decode(const struct vl_bytes *body, struct vl_msg_closing *m)
{
	struct vl_reader r;
	memset(m, 0, sizeof *m);
	rd_body(body, &r);
	int rc = vl_read_u16(&r, &m->code);
	if (rc)
		return rc;
	return vl_reader_finish(&r);
}

int vl_msg_closing_encode(struct vl_writer *w, const struct vl_msg_closing *m)
{
	size_t mark = vl_frame_begin(w, VL_FRAME_CLOSING, 0);
	IGN(vl_write_u16(w, m->code));
	return vl_frame_end(w, mark);
}
