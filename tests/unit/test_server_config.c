/* SPDX-License-Identifier: Apache-2.0 */
/* valised's configuration (src/server/config.c): the defaults
 * docs/operations.md lists, every kind of value a key takes, the refusals
 * and their messages, and the file format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/config.h"

static struct vl_server_config cfg;
static char err[512];

static int set(const char *key, const char *value)
{
	err[0] = 0;
	return vl_server_config_set(&cfg, key, value, err, sizeof err);
}

static void test_defaults(void **state)
{
	(void)state;
	vl_server_config_defaults(&cfg);
	assert_string_equal(cfg.listen_host, "0.0.0.0");
	assert_int_equal(cfg.port, 443);
	assert_string_equal(cfg.data_dir, "/var/lib/valised");
	assert_true(cfg.tls);
	assert_true(cfg.io_uring);
	assert_string_equal(cfg.server_name, "localhost");
	assert_int_equal(cfg.flush_threads, 1);
	assert_int_equal(cfg.batch_gap_us, 1000);
	assert_int_equal(cfg.send_buffer, 4u << 20);
	assert_int_equal(cfg.max_conns_per_addr, 2048);
	assert_int_equal(cfg.core.window_bytes, 1u << 20);
	assert_int_equal(cfg.upload_ttl, 3600);
	assert_int_equal(cfg.blob_ttl, 0);
	assert_int_equal(cfg.http_timeout, 30);
	assert_int_equal(cfg.transfer_min_rate, 512);
	assert_int_equal(cfg.send_budget, 1ull << 30);
}

static void test_listen(void **state)
{
	(void)state;
	vl_server_config_defaults(&cfg);
	assert_int_equal(set("listen", "127.0.0.1:8443"), VL_OK);
	assert_string_equal(cfg.listen_host, "127.0.0.1");
	assert_int_equal(cfg.port, 8443);
	assert_int_equal(set("listen", "[::]:443"), VL_OK);
	assert_string_equal(cfg.listen_host, "::");
	assert_int_equal(cfg.port, 443);
	assert_int_equal(set("listen", "[2001:db8::1]:0"), VL_OK);
	assert_string_equal(cfg.listen_host, "2001:db8::1");
	assert_int_equal(cfg.port, 0);
	assert_int_equal(set("listen", "::1:9000"), VL_OK);
	assert_string_equal(cfg.listen_host, "::1");
	assert_true(vl_server_host_is_loopback(cfg.listen_host));

	static const char *const bad[] = {
	    "8443",       /* no host */
	    ":8443",      /* empty host */
	    "[]:443",     /* empty brackets */
	    "[::1:443",   /* no closing bracket */
	    "[::1]x:443", /* text after the bracket */
	    "host:",      /* no port */
	    "host:65536", /* out of range */
	    "host:1K",    /* a size suffix is not a port */
	    "host:-1",    /* negative */
	    "host:44 3",  /* not a number */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(set("listen", bad[i]), VL_ERR_ARG);
		assert_non_null(strstr(err, bad[i])); /* the message quotes the value */
		assert_non_null(strstr(err, "HOST:PORT"));
	}
	char longhost[100];
	memset(longhost, 'a', sizeof longhost);
	memcpy(longhost + sizeof longhost - 5, ":443", 5);
	assert_int_equal(set("listen", longhost), VL_ERR_ARG);
}

static void test_switches(void **state)
{
	(void)state;
	vl_server_config_defaults(&cfg);
	assert_int_equal(set("io_uring", "off"), VL_OK);
	assert_false(cfg.io_uring);
	assert_true(cfg.tls);
	assert_int_equal(set("tls", "off"), VL_OK);
	assert_false(cfg.tls);
	assert_false(cfg.io_uring);
	assert_int_equal(set("io_uring", "on"), VL_OK);
	assert_true(cfg.io_uring);
	assert_false(cfg.tls);
	assert_int_equal(set("io_uring", "yes"), VL_ERR_ARG);
	assert_string_equal(err, "io_uring = \"yes\": expected on or off");
	assert_int_equal(set("tls", "ON"), VL_ERR_ARG);
	assert_int_equal(set("flush_threads", "2"), VL_ERR_ARG);
	assert_int_equal(set("flush_threads", "0"), VL_OK);
	assert_int_equal(cfg.flush_threads, 0);
}

static void test_sizes_and_counts(void **state)
{
	(void)state;
	vl_server_config_defaults(&cfg);
	assert_int_equal(set("window_bytes", "64K"), VL_OK);
	assert_int_equal(cfg.core.window_bytes, 64u << 10);
	assert_int_equal(set("send_buffer", "8m"), VL_OK);
	assert_int_equal(cfg.send_buffer, 8u << 20);
	assert_int_equal(set("blob_quota", "2G"), VL_OK);
	assert_int_equal(cfg.blob_quota, 2ull << 30);
	assert_int_equal(set("upload_ttl", "86400"), VL_OK);
	assert_int_equal(cfg.upload_ttl, 86400);
	assert_int_equal(set("blob_ttl", "2592000"), VL_OK);
	assert_int_equal(cfg.blob_ttl, 2592000);
	assert_int_equal(set("http_timeout", "120"), VL_OK);
	assert_int_equal(cfg.http_timeout, 120);
	assert_int_equal(set("transfer_min_rate", "2K"), VL_OK);
	assert_int_equal(cfg.transfer_min_rate, 2048);
	assert_int_equal(set("transfer_min_rate", "0"), VL_OK);
	assert_int_equal(cfg.transfer_min_rate, 0);
	assert_int_equal(set("send_budget", "4G"), VL_OK);
	assert_int_equal(cfg.send_budget, 4ull << 30);
	assert_int_equal(set("send_budget", "0"), VL_OK);
	assert_int_equal(cfg.send_budget, 0);
	assert_int_equal(set("max_frame", "1M"), VL_OK);
	assert_int_equal(cfg.core.max_frame, 1u << 20);
	assert_int_equal(set("batch_gap_us", "0"), VL_OK);
	assert_int_equal(cfg.batch_gap_us, 0);
	assert_int_equal(set("sent_ttl", "0"), VL_OK);
	assert_int_equal(cfg.sent_ttl, 0);
	assert_int_equal(set("max_conns_per_addr", "0"), VL_OK);

	/* Each refusal names the key, quotes the value and says what fits;
	 * the setting keeps its value. */
	static const struct {
		const char *key, *value, *why;
	} bad[] = {
	    {"window_bytes", "512", "1K..1G"},
	    {"window_bytes", "2G", "1K..1G"},
	    {"max_frame", "1K", "4K..64M"},
	    {"send_buffer", "1T", "64K..1G"},
	    {"batch_gap_us", "100001", "0..100000"},
	    {"sent_ttl", "30", "60..31536000"},
	    {"max_devices", "0", "1..256"},
	    {"rate", "-5", "1..1000000"},
	    {"rate", "", "1..1000000"},
	    {"burst", "10X", "1..1000000"},
	    {"window", "18446744073709551616", "1..65536"},
	    {"blob_quota", "99999999999999999999G", "byte count"},
	    {"upload_ttl", "0", "1..604800"},
	    {"upload_ttl", "8d", "1..604800"},
	    {"blob_ttl", "-1", "0 (forever) or seconds"},
	    {"http_timeout", "0", "1..3600 seconds"},
	    {"send_budget", "1K", "0 (none) or 64K..1T"},
	    {"transfer_min_rate", "2G", "0..1G octets per second"},
	    {"log_level", "loud", "debug, info, warn or error"},
	    {"server_name", "Example.ORG", "lower-case domain"},
	    {"data_dir", "", "empty or too long"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct vl_server_config before = cfg;
		assert_int_equal(set(bad[i].key, bad[i].value), VL_ERR_ARG);
		char want[256];
		snprintf(want, sizeof want, "%s = \"%s\": ", bad[i].key, bad[i].value);
		assert_memory_equal(err, want, strlen(want));
		assert_non_null(strstr(err, bad[i].why));
		assert_memory_equal(&before, &cfg, sizeof cfg);
	}
	assert_int_equal(set("no_such_key", "1"), VL_ERR_ARG);
	assert_string_equal(err, "unknown key \"no_such_key\"");
}

/* Writes text to a fresh file; returns its path (static). */
static const char *conf_file(const char *text)
{
	static char path[64];
	snprintf(path, sizeof path, "/tmp/vl_conf_XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t n = strlen(text);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
	return path;
}

static void test_file(void **state)
{
	(void)state;
	vl_server_config_defaults(&cfg);
	const char *p = conf_file("# valised\n"
	                          "\n"
	                          "  listen = [::1]:8443   # loopback, IPv6\n"
	                          "tls=off\n"
	                          "io_uring = off\n"
	                          "window_bytes = 256K\n"
	                          "server_name = example.org"); /* no final newline */
	assert_int_equal(vl_server_config_load(&cfg, p, err, sizeof err), VL_OK);
	unlink(p);
	assert_string_equal(cfg.listen_host, "::1");
	assert_int_equal(cfg.port, 8443);
	assert_false(cfg.tls);
	assert_false(cfg.io_uring);
	assert_int_equal(cfg.core.window_bytes, 256u << 10);
	assert_string_equal(cfg.server_name, "example.org");

	/* Errors give the file and the line. */
	p = conf_file("tls = on\n\nwindow = many\n");
	assert_int_equal(vl_server_config_load(&cfg, p, err, sizeof err), VL_ERR_ARG);
	char want[128];
	snprintf(want, sizeof want, "%s:3: window = \"many\": expected 1..65536", p);
	assert_string_equal(err, want);
	unlink(p);

	p = conf_file("listen 127.0.0.1:443\n");
	assert_int_equal(vl_server_config_load(&cfg, p, err, sizeof err), VL_ERR_ARG);
	snprintf(want, sizeof want, "%s:1: expected key = value", p);
	assert_string_equal(err, want);
	unlink(p);

	/* A line too long for the reader is refused, not read as two. */
	char *big = malloc(5000);
	assert_non_null(big);
	memcpy(big, "data_dir = /", 12);
	memset(big + 12, 'd', 5000 - 12 - 2);
	big[4998] = '\n';
	big[4999] = 0;
	p = conf_file(big);
	free(big);
	assert_int_equal(vl_server_config_load(&cfg, p, err, sizeof err), VL_ERR_ARG);
	assert_non_null(strstr(err, ":1: line longer than"));
	unlink(p);

	assert_int_equal(vl_server_config_load(&cfg, "/nonexistent/valised.conf", err, sizeof err),
	                 VL_ERR_IO);
	assert_non_null(strstr(err, "/nonexistent/valised.conf: "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults), cmocka_unit_test(test_listen),
	    cmocka_unit_test(test_switches), cmocka_unit_test(test_sizes_and_counts),
	    cmocka_unit_test(test_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
