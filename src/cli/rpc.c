/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON-RPC 2.0 framing and dispatch for `valise daemon` (see rpc.h). The
 * checks follow the specification's §4 (request object), §5 (response
 * object, error codes) and §6 (batch).
 */
#include <stdlib.h>
#include <string.h>

#include "cli/rpc.h"

void cli_rpc_error_from(struct cli_rpc_error *e, const struct cli_err *err)
{
	e->code = err->status == VL_ERR_ARG ? CLI_RPC_INVALID_PARAMS : (int)err->status;
	snprintf(e->message, sizeof e->message, "%s",
	         err->msg[0] ? err->msg : vl_strerror(err->status));
	json_decref(e->data);
	e->data = json_pack("{s:s}", "status", cli_status_name(err->status));
}

json_t *cli_rpc_error_response(json_t *id, int code, const char *message, json_t *data)
{
	json_t *e = json_pack("{s:i,s:s}", "code", code, "message", message);
	if (e == NULL)
		return NULL;
	if (data != NULL)
		json_object_set(e, "data", data);
	return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error",
	                 e);
}

json_t *cli_rpc_notification(const char *method, json_t *params)
{
	json_t *n = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", method);
	if (n == NULL) {
		json_decref(params);
		return NULL;
	}
	if (params != NULL && json_object_set_new(n, "params", params) != 0) {
		json_decref(n);
		return NULL;
	}
	return n;
}

json_t *cli_rpc_too_long(void)
{
	char msg[96];
	snprintf(msg, sizeof msg, "Invalid Request: larger than %zu bytes", CLI_RPC_MAX_REQUEST);
	return cli_rpc_error_response(NULL, CLI_RPC_INVALID_REQUEST, msg, NULL);
}

/* §4: an id is a string, a number or null. */
static bool rpc_id_ok(json_t *id)
{
	return json_is_string(id) || json_is_number(id) || json_is_null(id);
}

/* One request object (alone or in a batch). Returns its response or NULL
 * for a notification. */
static json_t *rpc_one(json_t *req, cli_rpc_handler h, void *arg)
{
	if (!json_is_object(req))
		return cli_rpc_error_response(NULL, CLI_RPC_INVALID_REQUEST,
		                              "Invalid Request: not an object", NULL);
	json_t *id = json_object_get(req, "id");
	bool notification = id == NULL;
	if (id != NULL && !rpc_id_ok(id))
		return cli_rpc_error_response(NULL, CLI_RPC_INVALID_REQUEST,
		                              "Invalid Request: id must be a string, a number "
		                              "or null",
		                              NULL);
	const char *why = NULL;
	json_t *ver = json_object_get(req, "jsonrpc");
	json_t *method = json_object_get(req, "method");
	json_t *params = json_object_get(req, "params");
	if (!json_is_string(ver) || strcmp(json_string_value(ver), "2.0") != 0)
		why = "Invalid Request: \"jsonrpc\" must be \"2.0\"";
	else if (!json_is_string(method))
		why = "Invalid Request: \"method\" must be a string";
	else if (params != NULL && !json_is_object(params) && !json_is_array(params))
		why = "Invalid Request: \"params\" must be an object or an array";
	if (why == NULL) {
		const char *key;
		json_t *v;
		json_object_foreach(req, key, v)
		{
			if (strcmp(key, "jsonrpc") != 0 && strcmp(key, "method") != 0 &&
			    strcmp(key, "params") != 0 && strcmp(key, "id") != 0) {
				why = "Invalid Request: unknown member";
				break;
			}
		}
	}
	if (why != NULL)
		return cli_rpc_error_response(id, CLI_RPC_INVALID_REQUEST, why, NULL);

	struct cli_rpc_error err = {0};
	json_t *result = NULL;
	const char *m = json_string_value(method);
	/* §4.1: names beginning with "rpc." are reserved for the
	 * specification's own extensions; none is implemented. */
	if (strncmp(m, "rpc.", 4) == 0) {
		err.code = CLI_RPC_METHOD_NOT_FOUND;
		snprintf(err.message, sizeof err.message, "Method not found");
	} else {
		h(arg, m, params, &result, &err);
	}
	if (notification) {
		json_decref(result);
		json_decref(err.data);
		return NULL;
	}
	if (err.code != 0) {
		json_decref(result);
		json_t *r = cli_rpc_error_response(id, err.code, err.message, err.data);
		json_decref(err.data);
		return r;
	}
	return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id, "result",
	                 result ? result : json_null());
}

json_t *cli_rpc_handle(const char *text, size_t len, cli_rpc_handler h, void *arg)
{
	if (len > CLI_RPC_MAX_REQUEST)
		return cli_rpc_too_long();
	json_error_t jerr;
	/* Duplicate keys are refused: two "method" members would leave which
	 * one was meant to the parser's whim. */
	json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (v == NULL)
		return cli_rpc_error_response(NULL, CLI_RPC_PARSE_ERROR, "Parse error", NULL);
	json_t *out = NULL;
	if (json_is_array(v)) {
		size_t n = json_array_size(v);
		if (n == 0) {
			out = cli_rpc_error_response(NULL, CLI_RPC_INVALID_REQUEST,
			                             "Invalid Request: empty batch", NULL);
		} else if (n > CLI_RPC_MAX_BATCH) {
			char msg[80];
			snprintf(msg, sizeof msg, "Invalid Request: batch of more than %d calls",
			         CLI_RPC_MAX_BATCH);
			out = cli_rpc_error_response(NULL, CLI_RPC_INVALID_REQUEST, msg, NULL);
		} else {
			out = json_array();
			for (size_t i = 0; out != NULL && i < n; i++) {
				json_t *r = rpc_one(json_array_get(v, i), h, arg);
				if (r != NULL)
					json_array_append_new(out, r);
			}
			if (out != NULL && json_array_size(out) == 0) {
				json_decref(out);
				out = NULL;
			}
		}
	} else {
		out = rpc_one(v, h, arg);
	}
	json_decref(v);
	return out;
}

void cli_rpc_lines_init(struct cli_rpc_lines *l, size_t max)
{
	memset(l, 0, sizeof *l);
	l->max = max;
}

void cli_rpc_lines_cleanup(struct cli_rpc_lines *l)
{
	free(l->buf);
	memset(l, 0, sizeof *l);
}

enum vl_status cli_rpc_lines_feed(struct cli_rpc_lines *l, const char *data, size_t n,
                                  cli_rpc_line_fn fn, void *arg)
{
	while (n > 0) {
		const char *nl = memchr(data, '\n', n);
		size_t take = nl ? (size_t)(nl - data) : n;
		if (l->discarding) {
			/* Skip the rest of an over-long line. */
		} else if (l->len + take > l->max) {
			l->discarding = true;
			l->len = 0;
			fn(arg, NULL, 0, true);
		} else if (take > 0) {
			if (l->len + take > l->cap) {
				size_t cap = l->cap ? l->cap : 4096;
				while (cap < l->len + take)
					cap *= 2;
				if (cap > l->max)
					cap = l->max;
				char *b = realloc(l->buf, cap);
				if (b == NULL)
					return VL_ERR_NOMEM;
				l->buf = b;
				l->cap = cap;
			}
			memcpy(l->buf + l->len, data, take);
			l->len += take;
		}
		if (nl == NULL)
			break;
		if (!l->discarding) {
			size_t len = l->len;
			if (len > 0 && l->buf[len - 1] == '\r')
				len--;
			/* Blank lines (keep-alives from a human typing) are
			 * not requests. */
			if (len > 0)
				fn(arg, l->buf, len, false);
		}
		l->discarding = false;
		l->len = 0;
		data += take + 1;
		n -= take + 1;
	}
	return VL_OK;
}
