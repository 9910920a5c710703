/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of src/cli's framework: command lookup, argument parsing and
 * its diagnostics, JSON-RPC params checks, JSON-RPC 2.0 dispatch and line
 * framing, the progress bar, QR rendering, safe printing, tables and exit
 * codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <qrencode.h>

#include "cli/cli.h"
#include "cli/rpc.h"

/* ---- a small command table ---- */

static const struct cli_param p_send[] = {
    {"chat", 0, CLI_T_STRING, CLI_P_POSITIONAL | CLI_P_REQUIRED, "CHAT", "chat", 0, 0},
    {"text", 0, CLI_T_STRING, CLI_P_POSITIONAL | CLI_P_REST, "TEXT", "text", 0, 0},
    {"reply_to", 'r', CLI_T_STRING, 0, "MSG", "reply", 0, 0},
    {"markdown", 'm', CLI_T_BOOL, 0, NULL, "markdown", 0, 0},
    {"limit", 'n', CLI_T_INT, 0, "N", "limit", 1, 100},
    {NULL, 0, 0, 0, NULL, NULL, 0, 0},
};
static const struct cli_param p_add[] = {
    {"chat", 0, CLI_T_STRING, CLI_P_POSITIONAL | CLI_P_REQUIRED, "CHAT", "chat", 0, 0},
    {"members", 0, CLI_T_LIST, CLI_P_POSITIONAL | CLI_P_REQUIRED | CLI_P_REST, "ADDRESS", "who", 0,
     0},
    {NULL, 0, 0, 0, NULL, NULL, 0, 0},
};

static const struct cli_cmd table[] = {
    {"send", "send", "Send", NULL, p_send, NULL, NULL, 0},
    {"group add", "group.add", "Add", NULL, p_add, NULL, NULL, 0},
    {"group leave", "group.leave", "Leave", NULL, NULL, NULL, NULL, 0},
    {"daemon", "daemon", "Daemon", NULL, NULL, NULL, NULL, CLI_C_NO_RPC},
    {"ping", "ping", "Ping", NULL, NULL, NULL, NULL, CLI_C_NO_CLI},
};
#define NCMD (sizeof table / sizeof table[0])

static void test_cmd_find(void **state)
{
	(void)state;
	char *a1[] = {"send", "bob"};
	char *a2[] = {"group", "add", "x"};
	char *a3[] = {"group"};
	char *a4[] = {"group", "nope"};
	char *a5[] = {"frobnicate"};
	char *a6[] = {"ping"};
	int used;
	assert_ptr_equal(cli_cmd_find(table, NCMD, 2, a1, &used), &table[0]);
	assert_int_equal(used, 1);
	assert_ptr_equal(cli_cmd_find(table, NCMD, 3, a2, &used), &table[1]);
	assert_int_equal(used, 2);
	assert_null(cli_cmd_find(table, NCMD, 1, a3, &used));
	assert_int_equal(used, 1);
	assert_null(cli_cmd_find(table, NCMD, 2, a4, &used));
	assert_int_equal(used, 1);
	assert_null(cli_cmd_find(table, NCMD, 1, a5, &used));
	assert_int_equal(used, 0);
	assert_null(cli_cmd_find(table, NCMD, 1, a6, &used)); /* RPC only */
	assert_ptr_equal(cli_cmd_by_method(table, NCMD, "group.add"), &table[1]);
	assert_null(cli_cmd_by_method(table, NCMD, "daemon")); /* CLI only */
	assert_ptr_equal(cli_cmd_by_method(table, NCMD, "ping"), &table[4]);
}

/* Parses argv for cmd; returns the status and leaves the error in err. */
static enum vl_status parse(const struct cli_cmd *cmd, int argc, char **argv, struct cli_global *g,
                            json_t **out, struct cli_err *err)
{
	memset(err, 0, sizeof *err);
	return cli_args_parse(cmd, argc, argv, g, out, NULL, err);
}

static void test_args_ok(void **state)
{
	(void)state;
	struct cli_global g = {0};
	struct cli_err err;
	json_t *p = NULL;
	char *argv[] = {"bob@example.org", "hello", "--json", "there", "-r", "abcd",
	                "--limit=7",       "-mq",   "--",     "-x"};
	assert_int_equal(parse(&table[0], 10, argv, &g, &p, &err), VL_OK);
	assert_string_equal(cli_param_str(p, "chat"), "bob@example.org");
	assert_string_equal(cli_param_str(p, "text"), "hello there -x");
	assert_string_equal(cli_param_str(p, "reply_to"), "abcd");
	assert_int_equal(cli_param_int(p, "limit", 0), 7);
	assert_true(cli_param_bool(p, "markdown"));
	assert_true(g.json);
	assert_true(g.quiet);
	json_decref(p);

	/* Long option names with hyphens map to underscore keys; the
	 * global --dir takes a value, attached or not. */
	struct cli_global g2 = {0};
	char *argv2[] = {"c", "--reply-to", "ff", "-d/tmp/x", "--dir", "/tmp/y"};
	assert_int_equal(parse(&table[0], 6, argv2, &g2, &p, &err), VL_OK);
	assert_string_equal(cli_param_str(p, "reply_to"), "ff");
	assert_string_equal(g2.dir, "/tmp/y");
	json_decref(p);

	/* A list positional takes the rest, one element per word. */
	char *argv3[] = {"team", "a@x.org", "b@x.org", "c@x.org"};
	assert_int_equal(parse(&table[1], 4, argv3, &g2, &p, &err), VL_OK);
	json_t *m = json_object_get(p, "members");
	assert_int_equal(json_array_size(m), 3);
	assert_string_equal(json_string_value(json_array_get(m, 2)), "c@x.org");
	json_decref(p);

	/* Global options only: stops at the first word. */
	struct cli_global g3 = {0};
	char *argv4[] = {"--json", "-d", "/data", "send", "--json"};
	int stop = -1;
	assert_int_equal(cli_args_parse(NULL, 5, argv4, &g3, NULL, &stop, &err), VL_OK);
	assert_int_equal(stop, 3);
	assert_string_equal(g3.dir, "/data");
	assert_true(g3.json);

	/* --help skips the required-argument check. */
	struct cli_global g4 = {0};
	char *argv5[] = {"--help"};
	assert_int_equal(parse(&table[1], 1, argv5, &g4, &p, &err), VL_OK);
	assert_true(g4.help);
	json_decref(p);
}

static void expect_err(const struct cli_cmd *cmd, int argc, char **argv, const char *want)
{
	struct cli_global g = {0};
	struct cli_err err;
	json_t *p = (json_t *)1;
	assert_int_equal(parse(cmd, argc, argv, &g, &p, &err), VL_ERR_ARG);
	assert_null(p);
	if (strstr(err.msg, want) == NULL)
		fail_msg("diagnostic \"%s\" lacks \"%s\"", err.msg, want);
}

static void test_args_errors(void **state)
{
	(void)state;
	char *a1[] = {"bob", "--frobnicate"};
	expect_err(&table[0], 2, a1, "unknown option \"--frobnicate\"");
	char *a2[] = {"bob", "--limit", "abc"};
	expect_err(&table[0], 3, a2, "--limit: \"abc\" is not a whole number");
	char *a3[] = {"bob", "--limit", "500"};
	expect_err(&table[0], 3, a3, "500 is out of range (1..100)");
	char *a4[] = {"bob", "--reply-to"};
	expect_err(&table[0], 2, a4, "--reply-to needs a value");
	char *a5[] = {"--markdown"};
	expect_err(&table[0], 1, a5, "missing CHAT");
	char *a6[] = {"bob", "--markdown=yes"};
	expect_err(&table[0], 2, a6, "--markdown takes no value (got \"yes\")");
	char *a7[] = {"bob", "-r", "a", "-r", "b"};
	expect_err(&table[0], 5, a7, "-r given twice (second: \"b\")");
	char *a8[] = {"bob", "-z"};
	expect_err(&table[0], 2, a8, "unknown option \"-z\" in \"-z\"");
	char *a9[] = {"team"};
	expect_err(&table[1], 1, a9, "missing ADDRESS");
	char *a10[] = {"x", "y"};
	expect_err(&table[2], 2, a10, "unexpected argument \"x\"");
	/* Long and control-character values are shortened and defanged. */
	char longv[200];
	memset(longv, 'a', sizeof longv - 1);
	longv[sizeof longv - 1] = '\0';
	char *a11[] = {"bob", "--limit", longv};
	expect_err(&table[0], 3, a11, "\"aaaaaaaaaa");
	expect_err(&table[0], 3, a11, "...\" is not");
	char *a12[] = {"bob", "--limit", "1\x1b[2J"};
	expect_err(&table[0], 3, a12, "\"1?[2J\"");
	/* Invalid UTF-8 in a text argument. */
	char *a13[] = {"bob", "\xff\xfe"};
	expect_err(&table[0], 2, a13, "not valid UTF-8");
}

static void test_params_check(void **state)
{
	(void)state;
	struct cli_err err = {0};
	json_t *out;
	json_t *in = json_pack("{s:s,s:s,s:i}", "chat", "c1", "text", "hi", "limit", 5);
	assert_int_equal(cli_params_check(&table[0], in, &out, &err), VL_OK);
	assert_string_equal(cli_param_str(out, "text"), "hi");
	json_decref(out);
	json_decref(in);

	in = json_pack("[s,s]", "c1", "hello");
	assert_int_equal(cli_params_check(&table[0], in, &out, &err), VL_OK);
	assert_string_equal(cli_param_str(out, "chat"), "c1");
	assert_string_equal(cli_param_str(out, "text"), "hello");
	json_decref(out);
	json_decref(in);

	in = json_pack("[s,s,s]", "team", "a@x.org", "b@x.org");
	assert_int_equal(cli_params_check(&table[1], in, &out, &err), VL_OK);
	assert_int_equal(json_array_size(json_object_get(out, "members")), 2);
	json_decref(out);
	json_decref(in);

	struct {
		const char *json;
		const char *want;
	} bad[] = {
	    {"{\"chat\":\"c\",\"bogus\":1}", "unknown parameter \"bogus\""},
	    {"{\"chat\":5}", "parameter \"chat\" must be a string"},
	    {"{\"chat\":\"c\",\"limit\":\"5\"}", "\"limit\" must be an integer"},
	    {"{\"chat\":\"c\",\"limit\":0}", "0 is out of range (1..100)"},
	    {"{\"chat\":\"c\",\"markdown\":1}", "must be true or false"},
	    {"{\"text\":\"x\"}", "missing parameter \"chat\""},
	    {"[\"a\",\"b\",\"c\"]", "too many parameters"},
	    {"{\"chat\":\"a\\u0000b\"}", "must be a string without NUL"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_error_t je;
		in = json_loads(bad[i].json, JSON_ALLOW_NUL, &je);
		assert_non_null(in);
		memset(&err, 0, sizeof err);
		assert_int_equal(cli_params_check(&table[0], in, &out, &err), VL_ERR_ARG);
		if (strstr(err.msg, bad[i].want) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, bad[i].want);
		json_decref(in);
	}
	in = json_pack("{s:[s,i]}", "members", "a", 1);
	json_object_set_new(in, "chat", json_string("c"));
	assert_int_equal(cli_params_check(&table[1], in, &out, &err), VL_ERR_ARG);
	assert_non_null(strstr(err.msg, "array of strings"));
	json_decref(in);
	/* Absent params: fine when nothing is required. */
	assert_int_equal(cli_params_check(&table[2], NULL, &out, &err), VL_OK);
	assert_int_equal(json_object_size(out), 0);
	json_decref(out);
}

/* ---- JSON-RPC ---- */

static unsigned handler_calls;

static void handler(void *arg, const char *method, json_t *params, json_t **result,
                    struct cli_rpc_error *e)
{
	(void)arg;
	handler_calls++;
	if (strcmp(method, "echo") == 0) {
		*result = params ? json_incref(params) : NULL;
	} else if (strcmp(method, "fail") == 0) {
		struct cli_err err;
		cli_err_set(&err, VL_ERR_NOT_FOUND, "no chat \"x\"");
		cli_rpc_error_from(e, &err);
	} else if (strcmp(method, "badparams") == 0) {
		struct cli_err err;
		cli_err_set(&err, VL_ERR_ARG, "missing parameter \"chat\"");
		cli_rpc_error_from(e, &err);
	} else {
		e->code = CLI_RPC_METHOD_NOT_FOUND;
		snprintf(e->message, sizeof e->message, "Method not found");
	}
}

/* Dispatches text; returns the response as compact JSON (heap) or NULL. */
static char *rpc(const char *text)
{
	json_t *r = cli_rpc_handle(text, strlen(text), handler, NULL);
	if (r == NULL)
		return NULL;
	char *s = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(r);
	return s;
}

static void expect_rpc(const char *in, const char *want)
{
	char *got = rpc(in);
	if (want == NULL) {
		if (got != NULL)
			fail_msg("%s -> %s, want nothing", in, got);
		return;
	}
	if (got == NULL)
		fail_msg("%s -> nothing, want %s", in, want);
	if (strcmp(got, want) != 0)
		fail_msg("%s\n  got  %s\n  want %s", in, got, want);
	free(got);
}

static void test_rpc_dispatch(void **state)
{
	(void)state;
	/* Examples in the spirit of the specification's §7. */
	expect_rpc("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[42,23],\"id\":1}",
	           "{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":[42,23]}");
	expect_rpc("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"a\":1},\"id\":\"x\"}",
	           "{\"id\":\"x\",\"jsonrpc\":\"2.0\",\"result\":{\"a\":1}}");
	expect_rpc("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":null}",
	           "{\"id\":null,\"jsonrpc\":\"2.0\",\"result\":null}");
	/* Notifications get nothing, even when the method fails. */
	handler_calls = 0;
	expect_rpc("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1]}", NULL);
	expect_rpc("{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}", NULL);
	assert_int_equal(handler_calls, 2);
	expect_rpc("{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":2}",
	           "{\"error\":{\"code\":-32601,\"message\":\"Method not found\"},\"id\":2,"
	           "\"jsonrpc\":\"2.0\"}");
	expect_rpc("{\"jsonrpc\":\"2.0\",\"method\":\"rpc.discover\",\"id\":2}",
	           "{\"error\":{\"code\":-32601,\"message\":\"Method not found\"},\"id\":2,"
	           "\"jsonrpc\":\"2.0\"}");
	expect_rpc("{\"jsonrpc\":\"2.0\",\"method\":\"fail\",\"id\":3}",
	           "{\"error\":{\"code\":8,\"data\":{\"status\":\"not_found\"},\"message\":\"no "
	           "chat \\\"x\\\"\"},\"id\":3,\"jsonrpc\":\"2.0\"}");
	expect_rpc("{\"jsonrpc\":\"2.0\",\"method\":\"badparams\",\"id\":4}",
	           "{\"error\":{\"code\":-32602,\"data\":{\"status\":\"usage\"},\"message\":"
	           "\"missing parameter \\\"chat\\\"\"},\"id\":4,\"jsonrpc\":\"2.0\"}");
	/* Parse error and invalid requests. */
	expect_rpc("{\"jsonrpc\":\"2.0\",\"method\":\"foobar,\"params\":\"bar\",\"baz]",
	           "{\"error\":{\"code\":-32700,\"message\":\"Parse error\"},\"id\":null,"
	           "\"jsonrpc\":\"2.0\"}");
	expect_rpc("{\"jsonrpc\":\"2.0\",\"method\":1,\"params\":\"bar\"}",
	           "{\"error\":{\"code\":-32600,\"message\":\"Invalid Request: \\\"method\\\" must "
	           "be a string\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
	expect_rpc("{\"method\":\"echo\",\"id\":5}",
	           "{\"error\":{\"code\":-32600,\"message\":\"Invalid Request: \\\"jsonrpc\\\" "
	           "must be \\\"2.0\\\"\"},\"id\":5,\"jsonrpc\":\"2.0\"}");
	expect_rpc("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":\"x\",\"id\":6}",
	           "{\"error\":{\"code\":-32600,\"message\":\"Invalid Request: \\\"params\\\" "
	           "must be an object or an array\"},\"id\":6,\"jsonrpc\":\"2.0\"}");
	expect_rpc("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":{}}",
	           "{\"error\":{\"code\":-32600,\"message\":\"Invalid Request: id must be a "
	           "string, a number or null\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
	expect_rpc("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1,\"id\":2}",
	           "{\"error\":{\"code\":-32700,\"message\":\"Parse error\"},\"id\":null,"
	           "\"jsonrpc\":\"2.0\"}");
	expect_rpc("[]", "{\"error\":{\"code\":-32600,\"message\":\"Invalid Request: empty "
	                 "batch\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
	expect_rpc("[1]", "[{\"error\":{\"code\":-32600,\"message\":\"Invalid Request: not an "
	                  "object\"},\"id\":null,\"jsonrpc\":\"2.0\"}]");
	expect_rpc("42", "{\"error\":{\"code\":-32600,\"message\":\"Invalid Request: not an "
	                 "object\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
	/* A batch: responses for requests only, in order. */
	expect_rpc("[{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1],\"id\":\"1\"},"
	           "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[7]},"
	           "{\"foo\":\"boo\"},"
	           "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":\"5\"}]",
	           "[{\"id\":\"1\",\"jsonrpc\":\"2.0\",\"result\":[1]},"
	           "{\"error\":{\"code\":-32600,\"message\":\"Invalid Request: \\\"jsonrpc\\\" "
	           "must be \\\"2.0\\\"\"},\"id\":null,\"jsonrpc\":\"2.0\"},"
	           "{\"error\":{\"code\":-32601,\"message\":\"Method not found\"},\"id\":\"5\","
	           "\"jsonrpc\":\"2.0\"}]");
	expect_rpc("[{\"jsonrpc\":\"2.0\",\"method\":\"echo\"},"
	           "{\"jsonrpc\":\"2.0\",\"method\":\"echo\"}]",
	           NULL);
	/* A batch over the limit is refused as a whole, unprocessed. */
	size_t cap = (CLI_RPC_MAX_BATCH + 1) * 40 + 8;
	char *big = malloc(cap);
	size_t o = 0;
	big[o++] = '[';
	for (int i = 0; i <= CLI_RPC_MAX_BATCH; i++)
		o += (size_t)snprintf(big + o, cap - o, "%s{\"jsonrpc\":\"2.0\",\"method\":\"x\"}",
		                      i ? "," : "");
	big[o++] = ']';
	big[o] = '\0';
	handler_calls = 0;
	char *got = rpc(big);
	assert_non_null(strstr(got, "batch of more than 64 calls"));
	assert_int_equal(handler_calls, 0);
	free(got);
	free(big);
	/* Notifications carry their params. */
	json_t *n = cli_rpc_notification("message", json_pack("{s:s}", "text", "hi"));
	char *s = json_dumps(n, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"method\":\"message\",\"params\":{\"text\":"
	                       "\"hi\"}}");
	free(s);
	json_decref(n);
}

struct lines_seen {
	char lines[8][64];
	size_t n;
	unsigned too_long;
};

static void on_line(void *arg, const char *line, size_t len, bool too_long)
{
	struct lines_seen *s = arg;
	if (too_long) {
		assert_null(line);
		s->too_long++;
		return;
	}
	assert_true(s->n < 8 && len < 64);
	memcpy(s->lines[s->n], line, len);
	s->lines[s->n][len] = '\0';
	s->n++;
}

static void test_rpc_lines(void **state)
{
	(void)state;
	struct cli_rpc_lines l;
	struct lines_seen s = {0};
	cli_rpc_lines_init(&l, 16);
	assert_int_equal(cli_rpc_lines_feed(&l, "{\"a\":", 5, on_line, &s), VL_OK);
	assert_int_equal(s.n, 0);
	assert_int_equal(cli_rpc_lines_feed(&l, "1}\r\n\n{}\n[", 10, on_line, &s), VL_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.lines[0], "{\"a\":1}");
	assert_string_equal(s.lines[1], "{}");
	/* An over-long line is reported once and skipped to its newline,
	 * even when it arrives in pieces; the next line is whole. */
	assert_int_equal(cli_rpc_lines_feed(&l, "0123456789", 10, on_line, &s), VL_OK);
	assert_int_equal(cli_rpc_lines_feed(&l, "0123456789", 10, on_line, &s), VL_OK);
	assert_int_equal(cli_rpc_lines_feed(&l, "0123456789\n[1]\n", 15, on_line, &s), VL_OK);
	assert_int_equal(s.too_long, 1);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.lines[2], "[1]");
	/* Exactly at the limit is accepted. */
	assert_int_equal(cli_rpc_lines_feed(&l, "0123456789abcdef\n", 17, on_line, &s), VL_OK);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.lines[3], "0123456789abcdef");
	cli_rpc_lines_cleanup(&l);

	json_t *r = cli_rpc_too_long();
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "code")),
	                 CLI_RPC_INVALID_REQUEST);
	assert_true(json_is_null(json_object_get(r, "id")));
	json_decref(r);
	/* The dispatcher applies the same limit to text handed to it. */
	char *huge = malloc(CLI_RPC_MAX_REQUEST + 2);
	memset(huge, ' ', CLI_RPC_MAX_REQUEST + 1);
	huge[CLI_RPC_MAX_REQUEST + 1] = '\0';
	r = cli_rpc_handle(huge, CLI_RPC_MAX_REQUEST + 1, handler, NULL);
	assert_non_null(
	    strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
	           "larger than"));
	json_decref(r);
	free(huge);
}

/* ---- progress, QR, output ---- */

static void test_progress_render(void **state)
{
	(void)state;
	char b[200];
	cli_progress_render(b, sizeof b, "up", 10, 0, 2048, 0);
	assert_string_equal(b, "up [----------]   0%  0 B / 2.0 KiB");
	cli_progress_render(b, sizeof b, "up", 10, 1024, 2048, 1.0);
	assert_string_equal(b, "up [#####-----]  50%  1.0 KiB / 2.0 KiB  1.0 KiB/s");
	/* Not done is never shown as 100%. */
	cli_progress_render(b, sizeof b, "up", 10, 5242879, 5242880, 0);
	assert_non_null(strstr(b, "[#########-]  99%"));
	cli_progress_render(b, sizeof b, "up", 10, 5242880, 5242880, 2.0);
	assert_string_equal(b, "up [##########] 100%  5.0 MiB / 5.0 MiB  2.5 MiB/s");
	cli_progress_render(b, sizeof b, "x", 4, 10, 5, 0); /* done > total */
	assert_string_equal(b, "x [####] 100%  5 B / 5 B");
	cli_progress_render(b, sizeof b, "x", 4, 0, 0, 0); /* empty file */
	assert_string_equal(b, "x [####] 100%  0 B / 0 B");
	char small[8];
	cli_progress_render(small, sizeof small, "label", 10, 1, 2, 0);
	assert_int_equal(strlen(small), 7);

	/* A disabled bar writes nothing. */
	char *mem = NULL;
	size_t memlen = 0;
	FILE *f = open_memstream(&mem, &memlen);
	struct cli_progress p;
	cli_progress_init(&p, f, false, "x", 100);
	cli_progress_update(&p, 50);
	cli_progress_finish(&p, 100);
	fflush(f);
	assert_int_equal(memlen, 0);
	/* An enabled one redraws only on change, and ends its line. */
	cli_progress_init(&p, f, true, "x", 100);
	cli_progress_update(&p, 50);
	cli_progress_update(&p, 50);
	cli_progress_finish(&p, 100);
	fclose(f);
	size_t redraws = 0;
	for (char *c = mem; *c; c++)
		redraws += *c == '\r';
	assert_int_equal(redraws, 2);
	assert_int_equal(mem[memlen - 1], '\n');
	free(mem);
}

/* Reads a rendered UTF-8 QR back into modules and compares them with
 * libqrencode's own matrix. */
static void check_qr(const char *text, enum cli_qr_style style)
{
	char *mem = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&mem, &len);
	assert_int_equal(cli_qr_print(f, text, style), VL_OK);
	fclose(f);
	QRcode *q = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
	assert_non_null(q);
	int size = q->width + 8;
	bool *dark = calloc((size_t)size * (size_t)(size + 1), sizeof *dark);
	int y = 0;
	const char *s = mem;
	while (*s != '\0') {
		int x = 0;
		while (*s != '\n') {
			bool top, bot;
			if (style == CLI_QR_ASCII) {
				assert_true(s[0] == s[1] && (s[0] == '#' || s[0] == ' '));
				top = s[0] == '#';
				bot = false;
				s += 2;
			} else if (*s == ' ') {
				top = bot = false;
				s++;
			} else {
				assert_true((unsigned char)s[0] == 0xe2 &&
				            (unsigned char)s[1] == 0x96);
				unsigned char c = (unsigned char)s[2];
				top = c == 0x88 || c == 0x80;
				bot = c == 0x88 || c == 0x84;
				s += 3;
			}
			if (style == CLI_QR_UTF8) { /* light modules drawn */
				top = !top;
				bot = !bot;
			}
			dark[y * size + x] = top;
			if (style != CLI_QR_ASCII)
				dark[(y + 1) * size + x] = bot;
			x++;
		}
		assert_int_equal(x, size);
		s++;
		y += style == CLI_QR_ASCII ? 1 : 2;
	}
	assert_true(y >= size);
	for (int yy = 0; yy < size; yy++)
		for (int xx = 0; xx < size; xx++) {
			bool want = false;
			if (xx >= 4 && yy >= 4 && xx < size - 4 && yy < size - 4)
				want = q->data[(yy - 4) * q->width + (xx - 4)] & 1;
			if (dark[yy * size + xx] != want)
				fail_msg("module (%d,%d) differs", xx, yy);
		}
	free(dark);
	QRcode_free(q);
	free(mem);
}

static void test_qr(void **state)
{
	(void)state;
	const char *sn = "valise-safety:1:123451234512345123451234512345123451234512345123451234"
	                 "512345";
	check_qr(sn, CLI_QR_UTF8);
	check_qr(sn, CLI_QR_UTF8_INVERTED);
	check_qr(sn, CLI_QR_ASCII);
	check_qr("x", CLI_QR_UTF8);
	/* More than a version 40 code holds at level M. */
	size_t n = 3000;
	char *big = malloc(n + 1);
	memset(big, 'z', n);
	big[n] = '\0';
	FILE *f = fopen("/dev/null", "w");
	assert_int_equal(cli_qr_print(f, big, CLI_QR_UTF8), VL_ERR_LIMIT);
	fclose(f);
	free(big);

	char b[100];
	assert_true(cli_safety_format(b, sizeof b, "1234512345123451234567890"));
	assert_string_equal(b, "12345 12345 12345 12345\n67890");
	assert_false(cli_safety_format(b, sizeof b, "12a45"));
	assert_false(cli_safety_format(b, 6, "123456"));
}

static char *capture_safe(const char *s, bool keep)
{
	char *mem = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&mem, &len);
	cli_print_safe(f, s, keep);
	fclose(f);
	return mem;
}

static void test_output(void **state)
{
	(void)state;
	char *s = capture_safe("hi\x1b[31m red\n\tok \xc3\xa9 \xf0\x9f\x91\x8d", true);
	assert_string_equal(s, "hi\\x1b[31m red\n\tok \xc3\xa9 \xf0\x9f\x91\x8d");
	free(s);
	s = capture_safe("a\nb\xff\xc2\x9b"
	                 "c\xed\xa0\x80",
	                 false);
	assert_string_equal(s, "a\\x0ab\xef\xbf\xbd\\u009bc\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	free(s);

	char b[32];
	cli_size_human(b, sizeof b, 1023);
	assert_string_equal(b, "1023 B");
	cli_size_human(b, sizeof b, 5u << 20);
	assert_string_equal(b, "5.0 MiB");

	assert_int_equal(cli_exit_from_status(VL_OK), 0);
	assert_int_equal(cli_exit_from_status(VL_ERR_ARG), CLI_EXIT_USAGE);
	assert_int_equal(cli_exit_from_status(VL_ERR_NOT_FOUND), CLI_EXIT_NOT_FOUND);
	assert_int_equal(cli_exit_from_status(VL_ERR_AUTH), CLI_EXIT_DENIED);
	assert_int_equal(cli_exit_from_status(VL_ERR_NET), CLI_EXIT_NETWORK);
	assert_int_equal(cli_exit_from_status(VL_ERR_STORE), CLI_EXIT_STORE);
	assert_int_equal(cli_exit_from_status(VL_ERR_CRYPTO), CLI_EXIT_SECURITY);
	assert_int_equal(cli_exit_from_status(VL_ERR_NOMEM), CLI_EXIT_INTERNAL);
	assert_int_equal(cli_exit_from_status(VL_ERR_EXISTS), CLI_EXIT_FAILED);
	assert_string_equal(cli_status_name(VL_ERR_NOT_FOUND), "not_found");
	assert_string_equal(cli_status_name((enum vl_status)999), "error");

	struct cli_err err;
	cli_err_set(&err, VL_ERR_NOT_FOUND, "no contact \"%s\"", "x@y");
	json_t *j = cli_err_json(&err);
	char *d = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(d, "{\"error\":{\"exit\":3,\"message\":\"no contact \\\"x@y\\\"\","
	                       "\"status\":\"not_found\"}}");
	free(d);
	json_decref(j);

	static const char *const head[] = {"NAME", "N"};
	struct cli_table t;
	cli_table_init(&t, 2, head);
	const char *r1[] = {"alice", "1"};
	const char *r2[] = {"\xc3\xa9lodie-long", NULL};
	assert_int_equal(cli_table_add(&t, r1), VL_OK);
	assert_int_equal(cli_table_add(&t, r2), VL_OK);
	char *mem = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&mem, &len);
	cli_table_print(f, &t);
	fclose(f);
	assert_string_equal(mem, "NAME         N\nalice        1\n\xc3\xa9lodie-long  \n");
	free(mem);
	cli_table_cleanup(&t);
}

static void test_help(void **state)
{
	(void)state;
	char *mem = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&mem, &len);
	cli_help_cmd(f, "valise", &table[0]);
	fclose(f);
	assert_non_null(strstr(mem, "usage: valise send CHAT [TEXT...] [options]\n"));
	assert_non_null(strstr(mem, "-r, --reply-to MSG"));
	assert_non_null(strstr(mem, "--limit N"));
	assert_non_null(strstr(mem, "(1..100)"));
	assert_non_null(strstr(mem, "JSON-RPC method in `valise daemon`: \"send\""));
	free(mem);
	f = open_memstream(&mem, &len);
	cli_help_cmd(f, "valise", &table[1]);
	fclose(f);
	assert_non_null(strstr(mem, "usage: valise group add CHAT ADDRESS...\n"));
	assert_non_null(strstr(mem, "(repeatable)"));
	free(mem);
	f = open_memstream(&mem, &len);
	cli_help_all(f, "valise", table, NCMD);
	fclose(f);
	assert_non_null(strstr(mem, "  group add "));
	assert_non_null(strstr(mem, "  daemon "));
	assert_null(strstr(mem, "  ping ")); /* RPC only */
	assert_non_null(strstr(mem, "Exit codes:"));
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cmd_find),        cmocka_unit_test(test_args_ok),
	    cmocka_unit_test(test_args_errors),     cmocka_unit_test(test_params_check),
	    cmocka_unit_test(test_rpc_dispatch),    cmocka_unit_test(test_rpc_lines),
	    cmocka_unit_test(test_progress_render), cmocka_unit_test(test_qr),
	    cmocka_unit_test(test_output),          cmocka_unit_test(test_help),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
