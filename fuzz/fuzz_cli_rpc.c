/* SPDX-License-Identifier: Apache-2.0 */
/* Drives what `valise daemon` does with bytes from its peers: the line
 * framing, JSON-RPC 2.0 dispatch and the params check of a command's
 * parameter table; and, on the same bytes split at NULs, the command-line
 * parser. Every reply must be a well-formed JSON-RPC response (or batch
 * of them), and every accepted argument list must give a params object
 * that the params check accepts in turn. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static const struct cli_param p_send[] = {
    {"chat", 0, CLI_T_STRING, CLI_P_POSITIONAL | CLI_P_REQUIRED, "CHAT", NULL, 0, 0},
    {"text", 0, CLI_T_STRING, CLI_P_POSITIONAL | CLI_P_REST, "TEXT", NULL, 0, 0},
    {"reply_to", 'r', CLI_T_STRING, 0, "MSG", NULL, 0, 0},
    {"markdown", 'm', CLI_T_BOOL, 0, NULL, NULL, 0, 0},
    {"limit", 'n', CLI_T_INT, 0, "N", NULL, 1, 1000},
    {NULL, 0, 0, 0, NULL, NULL, 0, 0},
};
static const struct cli_param p_add[] = {
    {"chat", 0, CLI_T_STRING, CLI_P_POSITIONAL | CLI_P_REQUIRED, "CHAT", NULL, 0, 0},
    {"members", 0, CLI_T_LIST, CLI_P_POSITIONAL | CLI_P_REQUIRED | CLI_P_REST, "ADDRESS", NULL, 0,
     0},
    {NULL, 0, 0, 0, NULL, NULL, 0, 0},
};
static const struct cli_cmd cmds[] = {
    {"send", "send", "", NULL, p_send, NULL, NULL, 0},
    {"group add", "group.add", "", NULL, p_add, NULL, NULL, 0},
};

static void handler(void *arg, const char *method, json_t *params, json_t **result,
                    struct cli_rpc_error *e)
{
	(void)arg;
	const struct cli_cmd *cmd = cli_cmd_by_method(cmds, 2, method);
	if (cmd == NULL) {
		e->code = CLI_RPC_METHOD_NOT_FOUND;
		return;
	}
	struct cli_err err = {0};
	json_t *checked = NULL;
	if (cli_params_check(cmd, params, &checked, &err) != VL_OK) {
		CHECK(checked == NULL && err.status == VL_ERR_ARG);
		cli_rpc_error_from(e, &err);
		return;
	}
	*result = checked;
}

static void check_response(json_t *r)
{
	CHECK(json_is_object(r));
	const char *v = json_string_value(json_object_get(r, "jsonrpc"));
	CHECK(v != NULL && strcmp(v, "2.0") == 0);
	json_t *id = json_object_get(r, "id");
	CHECK(id != NULL && (json_is_string(id) || json_is_number(id) || json_is_null(id)));
	bool has_result = json_object_get(r, "result") != NULL;
	json_t *e = json_object_get(r, "error");
	CHECK(has_result != (e != NULL));
	if (e != NULL) {
		CHECK(json_is_integer(json_object_get(e, "code")));
		CHECK(json_integer_value(json_object_get(e, "code")) != 0);
		CHECK(json_is_string(json_object_get(e, "message")));
	}
}

static void on_line(void *arg, const char *line, size_t len, bool too_long)
{
	(void)arg;
	json_t *r = too_long ? cli_rpc_too_long() : cli_rpc_handle(line, len, handler, NULL);
	if (r == NULL)
		return;
	if (json_is_array(r)) {
		CHECK(json_array_size(r) > 0 && json_array_size(r) <= CLI_RPC_MAX_BATCH);
		for (size_t i = 0; i < json_array_size(r); i++)
			check_response(json_array_get(r, i));
	} else {
		check_response(r);
	}
	char *s = json_dumps(r, JSON_COMPACT);
	CHECK(s != NULL && strchr(s, '\n') == NULL);
	free(s);
	json_decref(r);
}

static void fuzz_args(const uint8_t *data, size_t size)
{
	/* NUL-separated words; the first byte picks the command. */
	if (size < 1)
		return;
	const struct cli_cmd *cmd = &cmds[data[0] & 1];
	char *copy = malloc(size);
	CHECK(copy);
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	char *argv[64];
	int argc = 0;
	for (size_t i = 0; i < size - 1 && argc < 64;) {
		argv[argc++] = copy + i;
		i += strlen(copy + i) + 1;
	}
	struct cli_global g = {0};
	struct cli_err err = {0};
	json_t *params = NULL;
	if (cli_args_parse(cmd, argc, argv, &g, &params, NULL, &err) == VL_OK) {
		CHECK(json_is_object(params));
		json_t *again = NULL;
		if (!g.help) {
			CHECK(cli_params_check(cmd, params, &again, &err) == VL_OK);
			CHECK(json_equal(params, again));
		}
		json_decref(again);
		json_decref(params);
	} else {
		CHECK(params == NULL && err.msg[0] != '\0');
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The stream in two pieces, split where the first byte says. */
	struct cli_rpc_lines l;
	cli_rpc_lines_init(&l, 4096);
	size_t cut = size ? data[0] % (size + 1) : 0;
	CHECK(cli_rpc_lines_feed(&l, (const char *)data, cut, on_line, NULL) == VL_OK);
	CHECK(cli_rpc_lines_feed(&l, (const char *)data + cut, size - cut, on_line, NULL) == VL_OK);
	cli_rpc_lines_cleanup(&l);
	fuzz_args(data, size);
	return 0;
}
