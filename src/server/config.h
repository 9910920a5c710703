/* SPDX-License-Identifier: Apache-2.0 */
/*
 * valised's configuration: defaults, a `key = value` file (docs/operations.md
 * lists every key) and command-line overrides, all through one setter so
 * the file and the flags accept exactly the same keys and values.
 */
#ifndef VL_SERVER_CONFIG_H
#define VL_SERVER_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/core.h"

#define VL_CONFIG_PATH_MAX 1024

struct vl_server_config {
	char listen_host[64];
	unsigned port;
	char data_dir[VL_CONFIG_PATH_MAX];
	bool tls;
	/* empty: data_dir/tls/cert.pem and key.pem, made if absent */
	char tls_cert[VL_CONFIG_PATH_MAX + 32];
	char tls_key[VL_CONFIG_PATH_MAX + 32];
	char server_name[256];
	struct vl_core_config core;
	uint64_t max_blob;           /* bytes per blob */
	uint64_t blob_quota;         /* blob bytes per user */
	uint64_t upload_ttl;         /* seconds an interrupted resumable upload is kept */
	uint64_t blob_ttl;           /* seconds a blob is kept after its upload (0: forever) */
	unsigned batch_max;          /* store jobs per group commit */
	unsigned batch_us;           /* a group commit takes no more jobs after this long */
	unsigned batch_gap_us;       /* least time between group commit starts */
	uint64_t sent_ttl;           /* seconds idempotency records are kept (0: forever) */
	size_t send_buffer;          /* bytes queued per connection before it is too slow */
	size_t assembly_budget;      /* bytes of incoming messages held, all connections */
	uint64_t send_budget;        /* bytes of output held, all connections (0: none) */
	unsigned flush_threads;      /* threads besides the loop writing large fan-outs (0 or 1) */
	bool io_uring;               /* a turn's sends in one io_uring submission */
	unsigned max_handshakes;     /* TLS handshakes in progress at once; more wait */
	unsigned max_conns_per_addr; /* per client address (0: no limit) */
	unsigned limit_loopback;     /* 1: the limit above applies to loopback too */
	unsigned auth_timeout;       /* seconds a WebSocket connection has to authenticate */
	unsigned http_timeout;       /* seconds for an HTTP request head, an idle keep-alive,
	                              * and each window of a transfer */
	uint64_t transfer_min_rate;  /* octets/s a transfer must average over each window */
	unsigned drain_seconds;      /* SIGTERM: longest wait for in-flight work */
	int log_level;
};

void vl_server_config_defaults(struct vl_server_config *cfg);
/* Sets one key. Returns VL_OK, or VL_ERR_ARG with a message in err that
 * quotes the key or value. */
int vl_server_config_set(struct vl_server_config *cfg, const char *key, const char *value,
                         char *err, size_t err_len);
/* Reads a config file: `key = value` lines, `#` comments, blank lines.
 * VL_ERR_IO if it cannot be read; VL_ERR_ARG (err names file and line). */
int vl_server_config_load(struct vl_server_config *cfg, const char *path, char *err,
                          size_t err_len);
/* True if host is a loopback address (127.0.0.0/8, ::1, localhost). */
bool vl_server_host_is_loopback(const char *host);

#endif
