/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Account subcommands: register (set up this device with an invite),
 * whoami, device list / invite / revoke, and sync.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"

/* Keeps the TLS choices of registration beside the store, for later runs
 * (not secret: a path and a flag). */
static enum vl_status account_save_tls(struct cli_ctx *ctx, const char *ca_file, bool insecure,
                                       struct cli_err *err)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/cli.json", ctx->data_dir);
	json_t *c = json_pack("{s:s?,s:b}", "ca_file", ca_file, "tls_insecure", insecure);
	if (c == NULL)
		return cli_err_set(err, VL_ERR_NOMEM, "out of memory");
	int r = json_dump_file(c, path, JSON_INDENT(2));
	json_decref(c);
	if (r != 0)
		return cli_err_set(err, VL_ERR_IO, "cannot write \"%s\"", path);
	return VL_OK;
}

CLI_RUN(cmd_register)
{
	const char *ca_file = cli_param_str(params, "ca_file");
	/* Later runs may start in another folder: keep an absolute path. */
	char ca_abs[PATH_MAX];
	if (ca_file != NULL) {
		if (realpath(ca_file, ca_abs) == NULL)
			return cli_err_set(err, VL_ERR_IO, "--ca-file: cannot read \"%s\"",
			                   ca_file);
		ca_file = ca_abs;
	}
	bool insecure = cli_param_bool(params, "insecure");
	const char *device = cli_param_str(params, "device");
	if (device == NULL)
		device = "cli";
	struct vl_client_opts o;
	char pass[1024];
	enum vl_status st = cli_session_client_opts(ctx, &o, pass, sizeof pass, true, err);
	if (st != VL_OK)
		goto cleanup;
	o.ca_file = ca_file;
	o.tls_insecure = insecure;
	int r = vl_client_register(&o, cli_param_str(params, "server"),
	                           cli_param_str(params, "address"), device,
	                           cli_param_str(params, "invite"), &ctx->client);
	if (r == VL_ERR_EXISTS) {
		st = cli_err_set(err, VL_ERR_EXISTS,
		                 "\"%s\" already holds an account, or the server has a device "
		                 "named \"%s\"",
		                 ctx->data_dir, device);
		goto cleanup;
	}
	if (r == VL_ERR_AUTH) {
		st = cli_err_set(err, VL_ERR_AUTH,
		                 "the server refused the invite (unknown, used, expired, or for "
		                 "another address)");
		goto cleanup;
	}
	if (r != VL_OK) {
		st = cli_client_err(ctx, r, err, "registration failed");
		goto cleanup;
	}
	if ((st = account_save_tls(ctx, ca_file, insecure, err)) != VL_OK)
		goto cleanup;
	*result = json_pack("{s:s,s:s,s:s,s:s}", "address", vl_client_address(ctx->client),
	                    "device", vl_client_device(ctx->client), "server",
	                    vl_client_server_url(ctx->client), "dir", ctx->data_dir);
cleanup:
	cli_session_wipe_pass(pass, sizeof pass);
	return st;
}

CLI_HUMAN(human_register)
{
	fprintf(out, "Registered %s (device %s) on %s.\nData folder: %s\n",
	        json_string_value(json_object_get(result, "address")),
	        json_string_value(json_object_get(result, "device")),
	        json_string_value(json_object_get(result, "server")),
	        json_string_value(json_object_get(result, "dir")));
}

CLI_RUN(cmd_whoami)
{
	enum vl_status st = cli_session_open(ctx, err);
	if (st != VL_OK)
		return st;
	*result = json_pack("{s:s,s:s,s:s,s:s}", "address", vl_client_address(ctx->client),
	                    "device", vl_client_device(ctx->client), "server",
	                    vl_client_server_url(ctx->client), "dir", ctx->data_dir);
	return VL_OK;
}

CLI_HUMAN(human_whoami)
{
	fprintf(out, "%s (device %s) on %s\n",
	        json_string_value(json_object_get(result, "address")),
	        json_string_value(json_object_get(result, "device")),
	        json_string_value(json_object_get(result, "server")));
}

CLI_RUN(cmd_device_list)
{
	enum vl_status st = cli_session_connect(ctx, err);
	if (st != VL_OK)
		return st;
	struct vl_device_entry *list = NULL;
	size_t n = 0;
	int r = vl_client_devices(ctx->client, &list, &n);
	if (r != VL_OK)
		return cli_client_err(ctx, r, err, "listing devices");
	json_t *arr = json_array();
	for (size_t i = 0; arr != NULL && i < n; i++) {
		char key[2 * 65 + 1];
		static const char d[] = "0123456789abcdef";
		size_t kl = list[i].signature_key_len > 65 ? 65 : list[i].signature_key_len;
		for (size_t k = 0; k < kl; k++) {
			key[2 * k] = d[list[i].signature_key[k] >> 4];
			key[2 * k + 1] = d[list[i].signature_key[k] & 15];
		}
		key[2 * kl] = '\0';
		json_array_append_new(
		    arr, json_pack("{s:s,s:i,s:s,s:I,s:b,s:b}", "name", list[i].name,
		                   "cipher_suite", (int)list[i].cipher_suite, "signature_key", key,
		                   "created", (json_int_t)list[i].created, "revoked",
		                   list[i].revoked, "current", list[i].current));
	}
	vl_client_devices_free(list);
	if (arr == NULL)
		return cli_err_set(err, VL_ERR_NOMEM, "out of memory");
	*result = arr;
	return VL_OK;
}

CLI_HUMAN(human_device_list)
{
	static const char *const head[] = {"DEVICE", "CREATED", "STATE", "KEY"};
	struct cli_table t;
	cli_table_init(&t, 4, head);
	size_t i;
	json_t *d;
	json_array_foreach(result, i, d)
	{
		char when[32], key[24];
		cli_time_human(when, sizeof when,
		               json_integer_value(json_object_get(d, "created")));
		snprintf(key, sizeof key, "%.16s",
		         json_string_value(json_object_get(d, "signature_key")));
		const char *state = json_is_true(json_object_get(d, "revoked"))   ? "revoked"
		                    : json_is_true(json_object_get(d, "current")) ? "this device"
		                                                                  : "active";
		const char *row[] = {json_string_value(json_object_get(d, "name")), when, state,
		                     key};
		if (cli_table_add(&t, row) != VL_OK)
			break;
	}
	cli_table_print(out, &t);
	cli_table_cleanup(&t);
}

CLI_RUN(cmd_device_invite)
{
	enum vl_status st = cli_session_connect(ctx, err);
	if (st != VL_OK)
		return st;
	char *invite = NULL;
	int r = vl_client_device_invite(ctx->client, &invite);
	if (r != VL_OK)
		return cli_client_err(ctx, r, err, "asking for an invite");
	*result =
	    json_pack("{s:s,s:s,s:s}", "invite", invite, "address", vl_client_address(ctx->client),
	              "server", vl_client_server_url(ctx->client));
	free(invite);
	return *result ? VL_OK : cli_err_set(err, VL_ERR_NOMEM, "out of memory");
}

CLI_HUMAN(human_device_invite)
{
	const char *inv = json_string_value(json_object_get(result, "invite"));
	fprintf(out,
	        "%s\n\nOn the new device:\n  valise register %s %s --server %s --device NAME\n",
	        inv, json_string_value(json_object_get(result, "address")), inv,
	        json_string_value(json_object_get(result, "server")));
}

CLI_RUN(cmd_device_revoke)
{
	enum vl_status st = cli_session_connect(ctx, err);
	if (st != VL_OK)
		return st;
	const char *dev = cli_param_str(params, "device");
	int r = vl_client_device_revoke(ctx->client, dev);
	if (r == VL_ERR_NOT_FOUND)
		return cli_err_set(err, VL_ERR_NOT_FOUND, "no device \"%s\"", dev);
	if (r != VL_OK)
		return cli_client_err(ctx, r, err, "revoking");
	*result = json_pack("{s:s}", "revoked", dev);
	return VL_OK;
}

CLI_RUN(cmd_sync)
{
	enum vl_status st = cli_session_connect(ctx, err);
	if (st != VL_OK)
		return st;
	int r = vl_client_sync(ctx->client);
	if (r != VL_OK)
		return cli_client_err(ctx, r, err, "syncing");
	*result = json_pack("{s:b}", "synced", true);
	return VL_OK;
}

/* For commands whose success needs no more words than "done". */
CLI_HUMAN(human_done)
{
	(void)result;
	fputs("ok\n", out);
}
