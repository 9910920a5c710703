/* SPDX-License-Identifier: Apache-2.0 */
/* Defaults, the config file reader and the one key setter. */
#include "server/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"

void vl_server_config_defaults(struct vl_server_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	strcpy(cfg->listen_host, "0.0.0.0");
	cfg->port = 443;
	strcpy(cfg->data_dir, "/var/lib/valised");
	cfg->tls = true;
	strcpy(cfg->server_name, "localhost");
	vl_core_config_defaults(&cfg->core);
	cfg->batch_max = 16384;
	cfg->batch_us = 0;
	cfg->batch_gap_us = 1000;
	cfg->sent_ttl = 24 * 3600;
	cfg->max_blob = 100u << 20;
	cfg->blob_quota = 1ull << 30;
	cfg->upload_ttl = 3600;
	cfg->blob_ttl = 0;
	cfg->send_buffer = 4u << 20;
	cfg->assembly_budget = 256u << 20;
	cfg->send_budget = 1ull << 30;
	cfg->flush_threads = 1;
	cfg->io_uring = true;
	cfg->max_handshakes = 4096;
	cfg->max_conns_per_addr = 2048;
	cfg->limit_loopback = 0;
	cfg->auth_timeout = 30;
	cfg->http_timeout = 30;
	cfg->transfer_min_rate = 512;
	cfg->drain_seconds = 10;
	cfg->log_level = VL_LOG_INFO;
}

static int bad(char *err, size_t err_len, const char *key, const char *value, const char *why)
{
	snprintf(err, err_len, "%s = \"%s\": %s", key, value, why);
	return VL_ERR_ARG;
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	if (!*s || *s == '-')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	uint64_t mult = 1;
	if (*end == 'K' || *end == 'k')
		mult = 1024, end++;
	else if (*end == 'M' || *end == 'm')
		mult = 1024 * 1024, end++;
	else if (*end == 'G' || *end == 'g')
		mult = 1024ull * 1024 * 1024, end++;
	if (errno || *end || v > max / mult || v * mult < min || v * mult > max)
		return false;
	*out = v * mult;
	return true;
}

static bool parse_on_off(const char *s, bool *out)
{
	if (strcmp(s, "on") != 0 && strcmp(s, "off") != 0)
		return false;
	*out = s[1] == 'n';
	return true;
}

static bool copy_str(char *dst, size_t cap, const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= cap)
		return false;
	memcpy(dst, s, n + 1);
	return true;
}

bool vl_server_host_is_loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
	       strcmp(host, "localhost") == 0;
}

int vl_server_config_set(struct vl_server_config *cfg, const char *key, const char *value,
                         char *err, size_t err_len)
{
	uint64_t v;
	if (strcmp(key, "listen") == 0) {
		/* HOST:PORT, an IPv6 host in brackets ([::]:443, RFC 3986) or
		 * bare (::1:443: the port follows the last colon). */
		const char *colon = strrchr(value, ':');
		const char *host = value;
		size_t host_len = colon ? (size_t)(colon - value) : 0;
		if (colon && value[0] == '[') {
			host = value + 1;
			host_len = colon > value + 1 && colon[-1] == ']' ? host_len - 2 : 0;
		}
		if (!colon || host_len == 0 || host_len >= sizeof cfg->listen_host ||
		    memchr(host, '[', host_len) || memchr(host, ']', host_len) ||
		    strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
		    !parse_u64(colon + 1, 0, 65535, &v))
			return bad(err, err_len, key, value, "expected HOST:PORT or [IPV6]:PORT");
		memcpy(cfg->listen_host, host, host_len);
		cfg->listen_host[host_len] = 0;
		cfg->port = (unsigned)v;
	} else if (strcmp(key, "data_dir") == 0) {
		if (!copy_str(cfg->data_dir, sizeof cfg->data_dir, value))
			return bad(err, err_len, key, value, "empty or too long");
	} else if (strcmp(key, "tls") == 0) {
		if (!parse_on_off(value, &cfg->tls))
			return bad(err, err_len, key, value, "expected on or off");
	} else if (strcmp(key, "io_uring") == 0) {
		if (!parse_on_off(value, &cfg->io_uring))
			return bad(err, err_len, key, value, "expected on or off");
	} else if (strcmp(key, "tls_cert") == 0) {
		if (!copy_str(cfg->tls_cert, sizeof cfg->tls_cert, value))
			return bad(err, err_len, key, value, "empty or too long");
	} else if (strcmp(key, "tls_key") == 0) {
		if (!copy_str(cfg->tls_key, sizeof cfg->tls_key, value))
			return bad(err, err_len, key, value, "empty or too long");
	} else if (strcmp(key, "server_name") == 0) {
		/* The domain of the server's addresses: the same rules. */
		char probe[300];
		snprintf(probe, sizeof probe, "x@%s", value);
		if (!vl_proto_address_valid((const uint8_t *)probe, strlen(probe)) ||
		    !copy_str(cfg->server_name, sizeof cfg->server_name, value))
			return bad(err, err_len, key, value, "not a lower-case domain");
	} else if (strcmp(key, "max_frame") == 0) {
		if (!parse_u64(value, 4096, 64u << 20, &v))
			return bad(err, err_len, key, value, "expected 4K..64M");
		cfg->core.max_frame = (size_t)v;
	} else if (strcmp(key, "max_devices") == 0) {
		if (!parse_u64(value, 1, 256, &v))
			return bad(err, err_len, key, value, "expected 1..256");
		cfg->core.max_devices = (unsigned)v;
	} else if (strcmp(key, "rate") == 0) {
		if (!parse_u64(value, 1, 1000000, &v))
			return bad(err, err_len, key, value, "expected 1..1000000 per second");
		cfg->core.rate = (double)v;
	} else if (strcmp(key, "burst") == 0) {
		if (!parse_u64(value, 1, 1000000, &v))
			return bad(err, err_len, key, value, "expected 1..1000000");
		cfg->core.burst = (double)v;
	} else if (strcmp(key, "window") == 0) {
		if (!parse_u64(value, 1, 65536, &v))
			return bad(err, err_len, key, value, "expected 1..65536");
		cfg->core.window = (unsigned)v;
	} else if (strcmp(key, "window_bytes") == 0) {
		if (!parse_u64(value, 1u << 10, 1ull << 30, &v))
			return bad(err, err_len, key, value, "expected 1K..1G");
		cfg->core.window_bytes = (size_t)v;
	} else if (strcmp(key, "invite_ttl") == 0) {
		if (!parse_u64(value, 1, 365ull * 86400, &v))
			return bad(err, err_len, key, value, "expected 1..31536000 seconds");
		cfg->core.invite_ttl = v;
	} else if (strcmp(key, "max_blob") == 0) {
		if (!parse_u64(value, 1, 1ull << 40, &v))
			return bad(err, err_len, key, value, "expected 1..1T bytes");
		cfg->max_blob = v;
	} else if (strcmp(key, "blob_quota") == 0) {
		if (!parse_u64(value, 1, 1ull << 50, &v))
			return bad(err, err_len, key, value, "expected a byte count");
		cfg->blob_quota = v;
	} else if (strcmp(key, "upload_ttl") == 0) {
		if (!parse_u64(value, 1, 7ull * 86400, &v))
			return bad(err, err_len, key, value, "expected 1..604800 seconds");
		cfg->upload_ttl = v;
	} else if (strcmp(key, "blob_ttl") == 0) {
		if (!parse_u64(value, 0, 100ull * 365 * 86400, &v))
			return bad(err, err_len, key, value, "expected 0 (forever) or seconds");
		cfg->blob_ttl = v;
	} else if (strcmp(key, "batch_max") == 0) {
		if (!parse_u64(value, 1, 1000000, &v))
			return bad(err, err_len, key, value, "expected 1..1000000");
		cfg->batch_max = (unsigned)v;
	} else if (strcmp(key, "batch_us") == 0) {
		if (!parse_u64(value, 0, 1000000, &v))
			return bad(err, err_len, key, value, "expected 0..1000000 microseconds");
		cfg->batch_us = (unsigned)v;
	} else if (strcmp(key, "batch_gap_us") == 0) {
		if (!parse_u64(value, 0, 100000, &v))
			return bad(err, err_len, key, value, "expected 0..100000 microseconds");
		cfg->batch_gap_us = (unsigned)v;
	} else if (strcmp(key, "sent_ttl") == 0) {
		if (!parse_u64(value, 0, 365ull * 86400, &v) || (v && v < 60))
			return bad(err, err_len, key, value,
			           "expected 0 (forever) or 60..31536000 seconds");
		cfg->sent_ttl = v;
	} else if (strcmp(key, "assembly_budget") == 0) {
		if (!parse_u64(value, 64u << 10, 1ull << 40, &v))
			return bad(err, err_len, key, value, "expected 64K..1T");
		cfg->assembly_budget = (size_t)v;
	} else if (strcmp(key, "send_budget") == 0) {
		if (!parse_u64(value, 0, 1ull << 40, &v) || (v && v < (64u << 10)))
			return bad(err, err_len, key, value, "expected 0 (none) or 64K..1T");
		cfg->send_budget = v;
	} else if (strcmp(key, "send_buffer") == 0) {
		if (!parse_u64(value, 64u << 10, 1ull << 30, &v))
			return bad(err, err_len, key, value, "expected 64K..1G");
		cfg->send_buffer = (size_t)v;
	} else if (strcmp(key, "auth_timeout") == 0) {
		if (!parse_u64(value, 1, 3600, &v))
			return bad(err, err_len, key, value, "expected 1..3600 seconds");
		cfg->auth_timeout = (unsigned)v;
	} else if (strcmp(key, "http_timeout") == 0) {
		if (!parse_u64(value, 1, 3600, &v))
			return bad(err, err_len, key, value, "expected 1..3600 seconds");
		cfg->http_timeout = (unsigned)v;
	} else if (strcmp(key, "transfer_min_rate") == 0) {
		if (!parse_u64(value, 0, 1ull << 30, &v))
			return bad(err, err_len, key, value, "expected 0..1G octets per second");
		cfg->transfer_min_rate = v;
	} else if (strcmp(key, "max_handshakes") == 0) {
		if (!parse_u64(value, 1, 65536, &v))
			return bad(err, err_len, key, value, "expected 1..65536");
		cfg->max_handshakes = (unsigned)v;
	} else if (strcmp(key, "max_conns_per_addr") == 0) {
		if (!parse_u64(value, 0, 1000000, &v))
			return bad(err, err_len, key, value, "expected 0 (no limit)..1000000");
		cfg->max_conns_per_addr = (unsigned)v;
	} else if (strcmp(key, "limit_loopback") == 0) {
		if (!parse_u64(value, 0, 1, &v))
			return bad(err, err_len, key, value, "expected 0 or 1");
		cfg->limit_loopback = (unsigned)v;
	} else if (strcmp(key, "flush_threads") == 0) {
		if (!parse_u64(value, 0, 1, &v))
			return bad(err, err_len, key, value, "expected 0 or 1");
		cfg->flush_threads = (unsigned)v;
	} else if (strcmp(key, "drain_seconds") == 0) {
		if (!parse_u64(value, 0, 3600, &v))
			return bad(err, err_len, key, value, "expected 0..3600");
		cfg->drain_seconds = (unsigned)v;
	} else if (strcmp(key, "log_level") == 0) {
		int l = vl_log_level_parse(value);
		if (l < 0)
			return bad(err, err_len, key, value, "expected debug, info, warn or error");
		cfg->log_level = l;
	} else {
		snprintf(err, err_len, "unknown key \"%s\"", key);
		return VL_ERR_ARG;
	}
	return VL_OK;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

int vl_server_config_load(struct vl_server_config *cfg, const char *path, char *err, size_t err_len)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return VL_ERR_IO;
	}
	char line[2048];
	unsigned n = 0;
	int rc = VL_OK;
	while (rc == VL_OK && fgets(line, sizeof line, f)) {
		n++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, err_len, "%s:%u: line longer than %zu characters", path, n,
			         sizeof line - 2);
			rc = VL_ERR_ARG;
			break;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		char *s = trim(line);
		if (!*s)
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, err_len, "%s:%u: expected key = value", path, n);
			rc = VL_ERR_ARG;
			break;
		}
		*eq = 0;
		char msg[512];
		rc = vl_server_config_set(cfg, trim(s), trim(eq + 1), msg, sizeof msg);
		if (rc)
			snprintf(err, err_len, "%s:%u: %s", path, n, msg);
	}
	fclose(f);
	return rc;
}
