/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Command lookup, argument parsing and help for the `valise` command, and
 * the check of JSON-RPC params against the same parameter tables. A
 * diagnostic always names the option or argument and quotes the value that
 * was refused, so a script's author sees at once what to fix.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* Longest accepted argument: a message text or a path, not a file. */
#define ARGS_MAX_VALUE (64u * 1024)
/* Quoted values in diagnostics are shortened to this many bytes. */
#define ARGS_QUOTE_MAX 60

enum vl_status cli_err_set(struct cli_err *err, enum vl_status status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	err->status = status;
	return status;
}

/* A value shortened for a diagnostic, with control characters shown as
 * '?' so a diagnostic cannot move the cursor. */
static const char *args_quote(char buf[static ARGS_QUOTE_MAX + 4], const char *v)
{
	size_t i = 0;
	for (; v[i] != '\0' && i < ARGS_QUOTE_MAX; i++)
		buf[i] = ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) ? '?' : v[i];
	if (v[i] != '\0') {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/* "reply_to" -> "reply-to" into buf. */
static const char *args_flag_name(char *buf, size_t len, const char *key)
{
	size_t i = 0;
	for (; key[i] != '\0' && i + 1 < len; i++)
		buf[i] = key[i] == '_' ? '-' : key[i];
	buf[i] = '\0';
	return buf;
}

/* Does the command-line spelling s (without "--", up to n bytes) name the
 * key (with underscores)? */
static bool args_name_eq(const char *key, const char *s, size_t n)
{
	if (strlen(key) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char k = key[i] == '_' ? '-' : key[i];
		if (k != s[i])
			return false;
	}
	return true;
}

const struct cli_cmd *cli_cmd_find(const struct cli_cmd *table, size_t n, int argc, char **argv,
                                   int *used)
{
	*used = 0;
	if (argc < 1)
		return NULL;
	bool prefix = false;
	for (size_t i = 0; i < n; i++) {
		const char *name = table[i].name;
		if (table[i].flags & CLI_C_NO_CLI)
			continue;
		const char *sp = strchr(name, ' ');
		if (sp == NULL) {
			if (strcmp(name, argv[0]) == 0) {
				*used = 1;
				return &table[i];
			}
			continue;
		}
		size_t head = (size_t)(sp - name);
		if (strlen(argv[0]) != head || memcmp(name, argv[0], head) != 0)
			continue;
		prefix = true;
		if (argc >= 2 && strcmp(sp + 1, argv[1]) == 0) {
			*used = 2;
			return &table[i];
		}
	}
	*used = prefix ? 1 : 0;
	return NULL;
}

const struct cli_cmd *cli_cmd_by_method(const struct cli_cmd *table, size_t n, const char *method)
{
	for (size_t i = 0; i < n; i++)
		if (!(table[i].flags & CLI_C_NO_RPC) && strcmp(table[i].method, method) == 0)
			return &table[i];
	return NULL;
}

/* ---- global options ---- */

enum args_gopt { G_DIR, G_PASS, G_KEYFILE, G_JSON, G_HELP, G_VERSION, G_QUIET, G_N };
static const struct {
	const char *name;
	char short_name;
	bool takes_value;
} args_globals[G_N] = {
    [G_DIR] = {"dir", 'd', true},        [G_PASS] = {"passphrase-file", 0, true},
    [G_KEYFILE] = {"key-file", 0, true}, [G_JSON] = {"json", 'j', false},
    [G_HELP] = {"help", 'h', false},     [G_VERSION] = {"version", 0, false},
    [G_QUIET] = {"quiet", 'q', false},
};

static int args_global_long(const char *s, size_t n)
{
	for (int i = 0; i < G_N; i++)
		if (strlen(args_globals[i].name) == n && memcmp(args_globals[i].name, s, n) == 0)
			return i;
	return -1;
}

static int args_global_short(char c)
{
	for (int i = 0; i < G_N; i++)
		if (args_globals[i].short_name == c)
			return i;
	return -1;
}

static void args_global_set(struct cli_global *g, int which, const char *value)
{
	switch (which) {
	case G_DIR:
		g->dir = value;
		break;
	case G_PASS:
		g->passphrase_file = value;
		break;
	case G_KEYFILE:
		g->key_file = value;
		break;
	case G_JSON:
		g->json = true;
		break;
	case G_HELP:
		g->help = true;
		break;
	case G_VERSION:
		g->version = true;
		break;
	case G_QUIET:
		g->quiet = true;
		break;
	}
}

/* ---- values ---- */

static enum vl_status args_parse_int(const struct cli_param *p, const char *shown, const char *v,
                                     int64_t *out, struct cli_err *err)
{
	char q[ARGS_QUOTE_MAX + 4];
	errno = 0;
	char *end = NULL;
	long long x = strtoll(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0)
		return cli_err_set(err, VL_ERR_ARG, "%s: \"%s\" is not a whole number", shown,
		                   args_quote(q, v));
	int64_t min = p->min, max = p->max;
	if (min == 0 && max == 0)
		max = INT64_MAX;
	if (x < min || x > max)
		return cli_err_set(err, VL_ERR_ARG, "%s: %lld is out of range (%lld..%lld)", shown,
		                   x, (long long)min, (long long)max);
	*out = x;
	return VL_OK;
}

/* Stores a command-line value for p into obj (appending for lists,
 * joining for rest positionals). */
static enum vl_status args_store(json_t *obj, const struct cli_param *p, const char *shown,
                                 const char *v, struct cli_err *err)
{
	char q[ARGS_QUOTE_MAX + 4];
	if (strlen(v) > ARGS_MAX_VALUE)
		return cli_err_set(err, VL_ERR_ARG, "%s: value longer than %u bytes", shown,
		                   ARGS_MAX_VALUE);
	json_t *val = NULL;
	switch (p->type) {
	case CLI_T_STRING: {
		if (json_object_get(obj, p->name) != NULL && !(p->flags & CLI_P_REST))
			return cli_err_set(err, VL_ERR_ARG, "%s given twice (second: \"%s\")",
			                   shown, args_quote(q, v));
		json_t *old = json_object_get(obj, p->name);
		if (old != NULL) {
			size_t a = json_string_length(old), b = strlen(v);
			if (a + 1 + b > ARGS_MAX_VALUE)
				return cli_err_set(err, VL_ERR_ARG, "%s: longer than %u bytes",
				                   shown, ARGS_MAX_VALUE);
			char *joined = malloc(a + 1 + b + 1);
			if (joined == NULL)
				return cli_err_set(err, VL_ERR_NOMEM, "out of memory");
			memcpy(joined, json_string_value(old), a);
			joined[a] = ' ';
			memcpy(joined + a + 1, v, b + 1);
			val = json_stringn_nocheck(joined, a + 1 + b);
			free(joined);
			/* Validity was checked piecewise: both parts are UTF-8. */
		} else {
			val = json_string(v);
			if (val == NULL)
				return cli_err_set(err, VL_ERR_ARG, "%s: \"%s\" is not valid UTF-8",
				                   shown, args_quote(q, v));
		}
		break;
	}
	case CLI_T_INT: {
		if (json_object_get(obj, p->name) != NULL)
			return cli_err_set(err, VL_ERR_ARG, "%s given twice (second: \"%s\")",
			                   shown, args_quote(q, v));
		int64_t x = 0;
		enum vl_status st = args_parse_int(p, shown, v, &x, err);
		if (st != VL_OK)
			return st;
		val = json_integer(x);
		break;
	}
	case CLI_T_LIST: {
		json_t *arr = json_object_get(obj, p->name);
		if (arr == NULL) {
			arr = json_array();
			if (arr == NULL || json_object_set_new(obj, p->name, arr) != 0)
				return cli_err_set(err, VL_ERR_NOMEM, "out of memory");
		}
		json_t *s = json_string(v);
		if (s == NULL)
			return cli_err_set(err, VL_ERR_ARG, "%s: \"%s\" is not valid UTF-8", shown,
			                   args_quote(q, v));
		if (json_array_append_new(arr, s) != 0)
			return cli_err_set(err, VL_ERR_NOMEM, "out of memory");
		return VL_OK;
	}
	case CLI_T_BOOL:
		val = json_true();
		break;
	}
	if (val == NULL || json_object_set_new(obj, p->name, val) != 0)
		return cli_err_set(err, VL_ERR_NOMEM, "out of memory");
	return VL_OK;
}

static const struct cli_param *args_find_long(const struct cli_cmd *cmd, const char *s, size_t n)
{
	if (cmd == NULL || cmd->params == NULL)
		return NULL;
	for (const struct cli_param *p = cmd->params; p->name != NULL; p++)
		if (!(p->flags & CLI_P_POSITIONAL) && args_name_eq(p->name, s, n))
			return p;
	return NULL;
}

static const struct cli_param *args_find_short(const struct cli_cmd *cmd, char c)
{
	if (cmd == NULL || cmd->params == NULL)
		return NULL;
	for (const struct cli_param *p = cmd->params; p->name != NULL; p++)
		if (!(p->flags & CLI_P_POSITIONAL) && p->short_name == c)
			return p;
	return NULL;
}

static const struct cli_param *args_positional(const struct cli_cmd *cmd, size_t idx)
{
	if (cmd == NULL || cmd->params == NULL)
		return NULL;
	size_t k = 0;
	for (const struct cli_param *p = cmd->params; p->name != NULL; p++) {
		if (!(p->flags & CLI_P_POSITIONAL))
			continue;
		if (k == idx || (p->flags & CLI_P_REST && k < idx))
			return p;
		k++;
	}
	return NULL;
}

/* Checks that every required parameter is present. */
static enum vl_status args_required(const struct cli_cmd *cmd, json_t *obj, bool cli,
                                    struct cli_err *err)
{
	if (cmd->params == NULL)
		return VL_OK;
	for (const struct cli_param *p = cmd->params; p->name != NULL; p++) {
		if (!(p->flags & CLI_P_REQUIRED) || json_object_get(obj, p->name) != NULL)
			continue;
		char f[64];
		if (!cli)
			return cli_err_set(err, VL_ERR_ARG, "missing parameter \"%s\"", p->name);
		if (p->flags & CLI_P_POSITIONAL)
			return cli_err_set(err, VL_ERR_ARG, "missing %s",
			                   p->metavar ? p->metavar : p->name);
		return cli_err_set(err, VL_ERR_ARG, "missing --%s",
		                   args_flag_name(f, sizeof f, p->name));
	}
	return VL_OK;
}

enum vl_status cli_args_parse(const struct cli_cmd *cmd, int argc, char **argv,
                              struct cli_global *g, json_t **params, int *stop, struct cli_err *err)
{
	char q[ARGS_QUOTE_MAX + 4];
	enum vl_status st = VL_OK;
	json_t *obj = json_object();
	size_t npos = 0;
	bool only_positional = false;
	if (stop != NULL)
		*stop = argc;
	if (params != NULL)
		*params = NULL;
	if (obj == NULL)
		return cli_err_set(err, VL_ERR_NOMEM, "out of memory");

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!only_positional && strcmp(a, "--") == 0) {
			only_positional = true;
			continue;
		}
		if (!only_positional && a[0] == '-' && a[1] == '-') {
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			size_t n = eq ? (size_t)(eq - name) : strlen(name);
			const struct cli_param *p = args_find_long(cmd, name, n);
			int gi = p == NULL ? args_global_long(name, n) : -1;
			if (p == NULL && gi < 0) {
				st = cli_err_set(err, VL_ERR_ARG, "unknown option \"%s\"",
				                 args_quote(q, a));
				goto cleanup;
			}
			bool takes = p ? p->type != CLI_T_BOOL : args_globals[gi].takes_value;
			char shown[80];
			snprintf(shown, sizeof shown, "--%.*s", (int)(n > 60 ? 60 : n), name);
			const char *v = NULL;
			if (takes) {
				if (eq != NULL) {
					v = eq + 1;
				} else if (i + 1 < argc) {
					v = argv[++i];
				} else {
					st =
					    cli_err_set(err, VL_ERR_ARG, "%s needs a value", shown);
					goto cleanup;
				}
			} else if (eq != NULL) {
				st = cli_err_set(err, VL_ERR_ARG, "%s takes no value (got \"%s\")",
				                 shown, args_quote(q, eq + 1));
				goto cleanup;
			}
			if (p != NULL) {
				if ((st = args_store(obj, p, shown, v ? v : "", err)) != VL_OK)
					goto cleanup;
			} else {
				args_global_set(g, gi, v);
			}
			continue;
		}
		if (!only_positional && a[0] == '-' && a[1] != '\0') {
			/* Short options; flags may be bundled (-jq), a value
			 * follows attached (-dDIR) or as the next word. */
			for (const char *c = a + 1; *c != '\0'; c++) {
				const struct cli_param *p = args_find_short(cmd, *c);
				int gi = p == NULL ? args_global_short(*c) : -1;
				char shown[4] = {'-', *c, '\0', '\0'};
				if (p == NULL && gi < 0) {
					if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
						shown[1] = '?';
					st = cli_err_set(err, VL_ERR_ARG,
					                 "unknown option \"%s\" in \"%s\"", shown,
					                 args_quote(q, a));
					goto cleanup;
				}
				bool takes =
				    p ? p->type != CLI_T_BOOL : args_globals[gi].takes_value;
				const char *v = NULL;
				if (takes) {
					if (c[1] != '\0') {
						v = c + 1;
					} else if (i + 1 < argc) {
						v = argv[++i];
					} else {
						st = cli_err_set(err, VL_ERR_ARG,
						                 "%s needs a value", shown);
						goto cleanup;
					}
				}
				if (p != NULL) {
					if ((st = args_store(obj, p, shown, v ? v : "", err)) !=
					    VL_OK)
						goto cleanup;
				} else {
					args_global_set(g, gi, v);
				}
				if (takes)
					break;
			}
			continue;
		}
		if (cmd == NULL) {
			/* Global options only: the first word is the command. */
			if (stop != NULL)
				*stop = i;
			goto cleanup;
		}
		const struct cli_param *p = args_positional(cmd, npos);
		if (p == NULL) {
			st = cli_err_set(err, VL_ERR_ARG, "unexpected argument \"%s\"",
			                 args_quote(q, a));
			goto cleanup;
		}
		if ((st = args_store(obj, p, p->metavar ? p->metavar : p->name, a, err)) != VL_OK)
			goto cleanup;
		npos++;
	}
	if (cmd != NULL && !g->help)
		st = args_required(cmd, obj, true, err);
cleanup:
	if (st != VL_OK || params == NULL)
		json_decref(obj);
	else
		*params = obj;
	return st;
}

enum vl_status cli_params_check(const struct cli_cmd *cmd, json_t *in, json_t **params,
                                struct cli_err *err)
{
	char q[ARGS_QUOTE_MAX + 4];
	*params = NULL;
	json_t *obj = json_object();
	if (obj == NULL)
		return cli_err_set(err, VL_ERR_NOMEM, "out of memory");
	enum vl_status st = VL_OK;

	if (in != NULL && json_is_array(in)) {
		/* By position: the positional parameters in table order. */
		size_t n = json_array_size(in);
		for (size_t i = 0; i < n; i++) {
			const struct cli_param *p = NULL;
			size_t k = 0;
			for (const struct cli_param *c = cmd->params; c && c->name; c++) {
				if (!(c->flags & CLI_P_POSITIONAL))
					continue;
				if (k++ == i) {
					p = c;
					break;
				}
			}
			if (p == NULL) {
				st = cli_err_set(err, VL_ERR_ARG, "too many parameters (%zu)", n);
				goto cleanup;
			}
			if (p->type == CLI_T_LIST && (p->flags & CLI_P_REST)) {
				/* The rest of the array is the list. */
				json_t *rest = json_array();
				for (size_t j = i; rest != NULL && j < n; j++)
					json_array_append(rest, json_array_get(in, j));
				if (rest == NULL || json_object_set_new(obj, p->name, rest) != 0) {
					st = cli_err_set(err, VL_ERR_NOMEM, "out of memory");
					goto cleanup;
				}
				break;
			}
			json_object_set(obj, p->name, json_array_get(in, i));
		}
	} else if (in != NULL && json_is_object(in)) {
		const char *key;
		json_t *v;
		json_object_foreach(in, key, v)
		{
			json_object_set(obj, key, v);
		}
	} else if (in != NULL) {
		st = cli_err_set(err, VL_ERR_ARG, "params must be an object or an array");
		goto cleanup;
	}

	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		const struct cli_param *p = NULL;
		for (const struct cli_param *c = cmd->params; c && c->name; c++)
			if (strcmp(c->name, key) == 0)
				p = c;
		if (p == NULL) {
			st = cli_err_set(err, VL_ERR_ARG, "unknown parameter \"%s\"",
			                 args_quote(q, key));
			goto cleanup;
		}
		bool ok = false;
		switch (p->type) {
		case CLI_T_STRING:
			ok = json_is_string(v) && json_string_length(v) <= ARGS_MAX_VALUE &&
			     strlen(json_string_value(v)) == json_string_length(v);
			break;
		case CLI_T_BOOL:
			ok = json_is_boolean(v);
			break;
		case CLI_T_INT:
			if (json_is_integer(v)) {
				int64_t x = json_integer_value(v), min = p->min, max = p->max;
				if (min == 0 && max == 0)
					max = INT64_MAX;
				if (x < min || x > max) {
					st = cli_err_set(err, VL_ERR_ARG,
					                 "parameter \"%s\": %lld is out of range "
					                 "(%lld..%lld)",
					                 key, (long long)x, (long long)min,
					                 (long long)max);
					goto cleanup;
				}
				ok = true;
			}
			break;
		case CLI_T_LIST:
			ok = json_is_array(v) && json_array_size(v) <= 1024;
			for (size_t i = 0; ok && i < json_array_size(v); i++) {
				json_t *e = json_array_get(v, i);
				ok = json_is_string(e) && json_string_length(e) <= ARGS_MAX_VALUE &&
				     strlen(json_string_value(e)) == json_string_length(e);
			}
			break;
		}
		if (!ok) {
			static const char *const what[] = {
			    [CLI_T_STRING] = "a string without NUL",
			    [CLI_T_INT] = "an integer",
			    [CLI_T_BOOL] = "true or false",
			    [CLI_T_LIST] = "an array of strings",
			};
			st = cli_err_set(err, VL_ERR_ARG, "parameter \"%s\" must be %s", key,
			                 what[p->type]);
			goto cleanup;
		}
	}
	st = args_required(cmd, obj, false, err);
cleanup:
	if (st != VL_OK)
		json_decref(obj);
	else
		*params = obj;
	return st;
}

const char *cli_param_str(json_t *params, const char *name)
{
	return json_string_value(json_object_get(params, name));
}

int64_t cli_param_int(json_t *params, const char *name, int64_t dflt)
{
	json_t *v = json_object_get(params, name);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

bool cli_param_bool(json_t *params, const char *name)
{
	return json_is_true(json_object_get(params, name));
}

/* ---- help ---- */

static void help_usage(FILE *out, const char *prog, const struct cli_cmd *cmd)
{
	fprintf(out, "usage: %s %s", prog, cmd->name);
	bool has_opts = false;
	for (const struct cli_param *p = cmd->params; p && p->name; p++) {
		if (!(p->flags & CLI_P_POSITIONAL)) {
			has_opts = true;
			continue;
		}
		const char *m = p->metavar ? p->metavar : p->name;
		const char *dots = (p->flags & CLI_P_REST) ? "..." : "";
		if (p->flags & CLI_P_REQUIRED)
			fprintf(out, " %s%s", m, dots);
		else
			fprintf(out, " [%s%s]", m, dots);
	}
	if (has_opts)
		fprintf(out, " [options]");
	fputc('\n', out);
}

void cli_help_cmd(FILE *out, const char *prog, const struct cli_cmd *cmd)
{
	help_usage(out, prog, cmd);
	fprintf(out, "\n%s\n", cmd->summary);
	if (cmd->help != NULL)
		fprintf(out, "\n%s\n", cmd->help);
	bool any = false;
	for (const struct cli_param *p = cmd->params; p && p->name; p++) {
		if (!any) {
			fprintf(out, "\n");
			any = true;
		}
		char left[96], f[64];
		if (p->flags & CLI_P_POSITIONAL) {
			snprintf(left, sizeof left, "%s", p->metavar ? p->metavar : p->name);
		} else {
			char sh[8] = "";
			if (p->short_name)
				snprintf(sh, sizeof sh, "-%c, ", p->short_name);
			snprintf(left, sizeof left, "%s--%s%s%s", sh,
			         args_flag_name(f, sizeof f, p->name),
			         p->type == CLI_T_BOOL ? "" : " ",
			         p->type == CLI_T_BOOL ? "" : (p->metavar ? p->metavar : "VALUE"));
		}
		fprintf(out, "  %-26s %s", left, p->help ? p->help : "");
		if (p->type == CLI_T_LIST)
			fprintf(out, " (repeatable)");
		if (p->type == CLI_T_INT && (p->min != 0 || p->max != 0))
			fprintf(out, " (%lld..%lld)", (long long)p->min, (long long)p->max);
		fputc('\n', out);
	}
	fprintf(out,
	        "\nGlobal options: --dir DIR, --json, --quiet, --passphrase-file FILE,\n"
	        "--key-file FILE, --help (see `%s --help`).\n",
	        prog);
	if (!(cmd->flags & CLI_C_NO_RPC))
		fprintf(out, "JSON-RPC method in `%s daemon`: \"%s\".\n", prog, cmd->method);
}

void cli_help_all(FILE *out, const char *prog, const struct cli_cmd *table, size_t n)
{
	fprintf(out,
	        "usage: %s [global options] COMMAND [arguments] [options]\n"
	        "\n"
	        "End-to-end-encrypted messaging from the command line.\n"
	        "\n"
	        "Global options:\n"
	        "  -d, --dir DIR              data folder (default $VALISE_DIR, else ~/.valise)\n"
	        "  --passphrase-file FILE     read the store passphrase from FILE\n"
	        "                             (default: $VALISE_PASSPHRASE, else a prompt)\n"
	        "  --key-file FILE            unlock the store with a key file (mode 0600)\n"
	        "  -j, --json                 one JSON value per result, for scripts\n"
	        "  -q, --quiet                no progress bars\n"
	        "  -h, --help                 this help, or a command's with COMMAND --help\n"
	        "  --version                  print the version\n"
	        "\n"
	        "Commands:\n",
	        prog);
	for (size_t i = 0; i < n; i++) {
		if (table[i].flags & CLI_C_NO_CLI)
			continue;
		fprintf(out, "  %-20s %s\n", table[i].name, table[i].summary);
	}
	fprintf(out, "\nExit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 denied, 5 network,\n"
	             "6 local store, 7 security check, 70 internal (docs/cli.md).\n");
}
