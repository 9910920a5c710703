/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Group subcommands: create, add, remove, leave, info, rename, admin.
 * Every change is one MLS commit made by libvalise; the admin rule (who may
 * add or remove) is enforced there, and its refusal is reported here.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

/* The "members" list as a C array borrowed from params (NULL if empty). */
static const char **group_members(json_t *params, size_t *n)
{
	json_t *arr = json_object_get(params, "members");
	*n = json_array_size(arr);
	if (*n == 0)
		return NULL;
	const char **v = calloc(*n, sizeof *v);
	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < *n; i++)
		v[i] = json_string_value(json_array_get(arr, i));
	return v;
}

static enum vl_status group_err(struct cli_ctx *ctx, int r, struct cli_err *err, const char *what)
{
	if (r == VL_ERR_PERMISSION)
		return cli_err_set(err, VL_ERR_PERMISSION,
		                   "%s: only the group's admins may do this", what);
	return cli_client_err(ctx, r, err, what);
}

CLI_RUN(cmd_group_create)
{
	enum vl_status st = cli_session_connect(ctx, err);
	if (st != VL_OK)
		return st;
	size_t n;
	const char **m = group_members(params, &n);
	if (n > 0 && m == NULL)
		return cli_err_set(err, VL_ERR_NOMEM, "out of memory");
	char id[VL_CLIENT_ID_MAX + 1];
	int r = vl_client_conv_create(ctx->client, VL_CONV_GROUP, cli_param_str(params, "name"), m,
	                              n, id);
	free(m);
	if (r != VL_OK)
		return group_err(ctx, r, err, "creating the group");
	*result = json_pack("{s:s,s:s}", "chat", id, "name", cli_param_str(params, "name"));
	return VL_OK;
}

CLI_HUMAN(human_group_created)
{
	fprintf(out, "created group %.8s (", json_string_value(json_object_get(result, "chat")));
	cli_print_safe(out, json_string_value(json_object_get(result, "name")), false);
	fputs(")\n", out);
}

typedef int (*group_members_fn)(struct vl_client *, const char *, const char *const *, size_t);

static enum vl_status group_change(struct cli_ctx *ctx, json_t *params, json_t **result,
                                   struct cli_err *err, group_members_fn fn, const char *what,
                                   const char *key)
{
	enum vl_status st = cli_session_connect(ctx, err);
	if (st != VL_OK)
		return st;
	char conv[VL_CLIENT_ID_MAX + 1];
	if ((st = cli_chat_resolve(ctx, cli_param_str(params, "chat"), false, conv, err)) != VL_OK)
		return st;
	size_t n;
	const char **m = group_members(params, &n);
	if (m == NULL)
		return cli_err_set(err, VL_ERR_NOMEM, "out of memory");
	int r = fn(ctx->client, conv, m, n);
	free(m);
	if (r == VL_ERR_NOT_FOUND)
		return cli_client_err(ctx, r, err, what);
	if (r != VL_OK)
		return group_err(ctx, r, err, what);
	*result = json_pack("{s:s,s:O}", "chat", conv, key, json_object_get(params, "members"));
	return VL_OK;
}

CLI_RUN(cmd_group_add)
{
	return group_change(ctx, params, result, err, vl_client_conv_add, "adding", "added");
}

CLI_RUN(cmd_group_remove)
{
	return group_change(ctx, params, result, err, vl_client_conv_remove, "removing", "removed");
}

CLI_RUN(cmd_group_leave)
{
	enum vl_status st = cli_session_connect(ctx, err);
	if (st != VL_OK)
		return st;
	char conv[VL_CLIENT_ID_MAX + 1];
	if ((st = cli_chat_resolve(ctx, cli_param_str(params, "chat"), false, conv, err)) != VL_OK)
		return st;
	int r = vl_client_conv_leave(ctx->client, conv);
	if (r != VL_OK)
		return group_err(ctx, r, err, "leaving");
	*result = json_pack("{s:s}", "left", conv);
	return VL_OK;
}

CLI_RUN(cmd_group_info)
{
	bool online;
	char conv[VL_CLIENT_ID_MAX + 1];
	struct vl_conv_info info;
	enum vl_status st = cli_chat_info_load(ctx, params, &online, conv, &info, err);
	if (st != VL_OK)
		return st;
	*result = cli_json_conv(&info);
	vl_conv_info_cleanup(&info);
	return *result ? VL_OK : cli_err_set(err, VL_ERR_NOMEM, "out of memory");
}

CLI_HUMAN(human_group_info)
{
	fputs("Name:     ", out);
	cli_print_safe(out, json_string_value(json_object_get(result, "name")), false);
	fprintf(out, "\nChat:     %s\nKind:     %s%s\nEpoch:    %lld\nDevices:  %lld\n",
	        json_string_value(json_object_get(result, "id")),
	        json_string_value(json_object_get(result, "kind")),
	        json_is_true(json_object_get(result, "active")) ? "" : " (you are not a member)",
	        (long long)json_integer_value(json_object_get(result, "epoch")),
	        (long long)json_integer_value(json_object_get(result, "devices")));
	json_t *admins = json_object_get(result, "admins");
	fputs("Members:\n", out);
	size_t i, j;
	json_t *m, *a;
	json_array_foreach(json_object_get(result, "members"), i, m)
	{
		bool admin = false;
		json_array_foreach(admins, j, a)
		{
			if (json_equal(a, m))
				admin = true;
		}
		fputs("  ", out);
		cli_print_safe(out, json_string_value(m), false);
		fputs(admin ? "  (admin)\n" : "\n", out);
	}
}

CLI_RUN(cmd_group_rename)
{
	enum vl_status st = cli_session_connect(ctx, err);
	if (st != VL_OK)
		return st;
	char conv[VL_CLIENT_ID_MAX + 1];
	if ((st = cli_chat_resolve(ctx, cli_param_str(params, "chat"), false, conv, err)) != VL_OK)
		return st;
	int r = vl_client_conv_rename(ctx->client, conv, cli_param_str(params, "name"));
	if (r != VL_OK)
		return group_err(ctx, r, err, "renaming");
	*result = json_pack("{s:s,s:s}", "chat", conv, "name", cli_param_str(params, "name"));
	return VL_OK;
}

CLI_RUN(cmd_group_admin)
{
	enum vl_status st = cli_session_connect(ctx, err);
	if (st != VL_OK)
		return st;
	char conv[VL_CLIENT_ID_MAX + 1];
	if ((st = cli_chat_resolve(ctx, cli_param_str(params, "chat"), false, conv, err)) != VL_OK)
		return st;
	const char *addr = cli_param_str(params, "address");
	bool admin = !cli_param_bool(params, "revoke");
	int r = vl_client_conv_set_admin(ctx->client, conv, addr, admin);
	if (r == VL_ERR_NOT_FOUND)
		return cli_err_set(err, VL_ERR_NOT_FOUND, "\"%s\" is not a member", addr);
	if (r != VL_OK)
		return group_err(ctx, r, err, "changing admin rights");
	*result = json_pack("{s:s,s:s,s:b}", "chat", conv, "address", addr, "admin", admin);
	return VL_OK;
}
