/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The table of `valise` subcommands: names on the command line, JSON-RPC
 * method names, parameters and help. docs/cli.md documents the same list;
 * the two change together.
 */
#include "cli/commands.h"

#define END                                                                                        \
	{                                                                                          \
		NULL, 0, 0, 0, NULL, NULL, 0, 0                                                    \
	}
#define POS_REQ (CLI_P_POSITIONAL | CLI_P_REQUIRED)

static const struct cli_param p_register[] = {
    {"address", 0, CLI_T_STRING, POS_REQ, "ADDRESS", "your address, user@domain", 0, 0},
    {"invite", 0, CLI_T_STRING, POS_REQ, "INVITE", "the one-time invite code", 0, 0},
    {"server", 's', CLI_T_STRING, CLI_P_REQUIRED, "URL",
     "your server: wss://host[:port] (ws:// on loopback only)", 0, 0},
    {"device", 0, CLI_T_STRING, 0, "NAME", "this device's name (default: cli)", 0, 0},
    {"ca_file", 0, CLI_T_STRING, 0, "FILE", "CA certificate(s) to verify the server with", 0, 0},
    {"insecure", 0, CLI_T_BOOL, 0, NULL,
     "accept a self-signed server certificate (development only)", 0, 0},
    END,
};
static const struct cli_param p_device_revoke[] = {
    {"device", 0, CLI_T_STRING, POS_REQ, "DEVICE", "name of the device to revoke", 0, 0},
    END,
};
static const struct cli_param p_contact_add[] = {
    {"address", 0, CLI_T_STRING, POS_REQ, "ADDRESS", "the contact's address", 0, 0},
    {"name", 'n', CLI_T_STRING, 0, "NAME", "a display name", 0, 0},
    END,
};
static const struct cli_param p_address[] = {
    {"address", 0, CLI_T_STRING, POS_REQ, "ADDRESS", "the contact's address", 0, 0},
    END,
};
static const struct cli_param p_safety[] = {
    {"address", 0, CLI_T_STRING, POS_REQ, "ADDRESS", "the contact's address", 0, 0},
    {"qr", 0, CLI_T_BOOL, 0, NULL, "also draw it as a QR code", 0, 0},
    {"invert", 0, CLI_T_BOOL, 0, NULL, "QR code for a light terminal background", 0, 0},
    {"ascii", 0, CLI_T_BOOL, 0, NULL, "QR code in plain ASCII", 0, 0},
    END,
};
static const struct cli_param p_send[] = {
    {"chat", 0, CLI_T_STRING, POS_REQ, "CHAT",
     "chat id (or prefix), group name, or a contact's address", 0, 0},
    {"text", 0, CLI_T_STRING, CLI_P_POSITIONAL | CLI_P_REST, "TEXT",
     "the message (the reaction with --react)", 0, 0},
    {"reply_to", 'r', CLI_T_STRING, 0, "MSG", "reply to this message (id or prefix)", 0, 0},
    {"react", 0, CLI_T_STRING, 0, "MSG", "react to this message with TEXT", 0, 0},
    {"file", 'f', CLI_T_STRING, 0, "PATH", "send this file (TEXT is then not allowed)", 0, 0},
    {"media_type", 0, CLI_T_STRING, 0, "TYPE", "media type of the file (default: guessed)", 0, 0},
    {"file_name", 0, CLI_T_STRING, 0, "NAME", "file name shown to others", 0, 0},
    {"markdown", 'm', CLI_T_BOOL, 0, NULL, "TEXT is markdown", 0, 0},
    END,
};
static const struct cli_param p_edit[] = {
    {"chat", 0, CLI_T_STRING, POS_REQ, "CHAT", "the chat", 0, 0},
    {"message", 0, CLI_T_STRING, POS_REQ, "MSG", "your message to change", 0, 0},
    {"text", 0, CLI_T_STRING, POS_REQ | CLI_P_REST, "TEXT", "its new text", 0, 0},
    END,
};
static const struct cli_param p_delete[] = {
    {"chat", 0, CLI_T_STRING, POS_REQ, "CHAT", "the chat", 0, 0},
    {"message", 0, CLI_T_STRING, POS_REQ, "MSG", "your message to delete", 0, 0},
    END,
};
static const struct cli_param p_read[] = {
    {"chat", 0, CLI_T_STRING, POS_REQ, "CHAT", "the chat", 0, 0},
    {"limit", 'n', CLI_T_INT, 0, "N", "the last N messages (default 20; 0: all)", 0, 1000000},
    {"no_receipts", 0, CLI_T_BOOL, 0, NULL, "do not send read receipts", 0, 0},
    {"offline", 0, CLI_T_BOOL, 0, NULL, "do not contact the server", 0, 0},
    END,
};
static const struct cli_param p_download[] = {
    {"chat", 0, CLI_T_STRING, POS_REQ, "CHAT", "the chat", 0, 0},
    {"message", 0, CLI_T_STRING, POS_REQ, "MSG", "the message carrying the file", 0, 0},
    {"output", 'o', CLI_T_STRING, 0, "PATH",
     "where to write it (default: its file name, in the current folder)", 0, 0},
    END,
};
static const struct cli_param p_offline[] = {
    {"offline", 0, CLI_T_BOOL, 0, NULL, "do not contact the server", 0, 0},
    END,
};
static const struct cli_param p_group_info[] = {
    {"chat", 0, CLI_T_STRING, POS_REQ, "CHAT", "the chat", 0, 0},
    {"offline", 0, CLI_T_BOOL, 0, NULL, "do not contact the server", 0, 0},
    END,
};
static const struct cli_param p_export[] = {
    {"offline", 0, CLI_T_BOOL, 0, NULL, "do not contact the server", 0, 0},
    {"chat", 0, CLI_T_STRING, POS_REQ, "CHAT", "the chat", 0, 0},
    {"output", 'o', CLI_T_STRING, 0, "PATH", "write to this file (mode 0600)", 0, 0},
    END,
};
static const struct cli_param p_watch[] = {
    {"chat", 0, CLI_T_STRING, CLI_P_POSITIONAL, "CHAT", "only this chat", 0, 0},
    {"count", 'c', CLI_T_INT, 0, "N", "stop after N messages", 1, 1000000},
    {"timeout", 't', CLI_T_INT, 0, "SECONDS", "stop after this long", 1, 86400 * 365},
    END,
};
static const struct cli_param p_typing[] = {
    {"chat", 0, CLI_T_STRING, POS_REQ, "CHAT", "the chat", 0, 0},
    {"stop", 0, CLI_T_BOOL, 0, NULL, "stopped typing", 0, 0},
    END,
};
static const struct cli_param p_group_create[] = {
    {"name", 0, CLI_T_STRING, POS_REQ, "NAME", "the group's name", 0, 0},
    {"members", 0, CLI_T_LIST, CLI_P_POSITIONAL | CLI_P_REST, "ADDRESS", "members to add at once",
     0, 0},
    END,
};
static const struct cli_param p_group_members[] = {
    {"chat", 0, CLI_T_STRING, POS_REQ, "CHAT", "the group", 0, 0},
    {"members", 0, CLI_T_LIST, POS_REQ | CLI_P_REST, "ADDRESS", "users' addresses", 0, 0},
    END,
};
static const struct cli_param p_chat[] = {
    {"chat", 0, CLI_T_STRING, POS_REQ, "CHAT", "the chat", 0, 0},
    END,
};
static const struct cli_param p_group_rename[] = {
    {"chat", 0, CLI_T_STRING, POS_REQ, "CHAT", "the group", 0, 0},
    {"name", 0, CLI_T_STRING, POS_REQ | CLI_P_REST, "NAME", "its new name", 0, 0},
    END,
};
static const struct cli_param p_group_admin[] = {
    {"chat", 0, CLI_T_STRING, POS_REQ, "CHAT", "the group", 0, 0},
    {"address", 0, CLI_T_STRING, POS_REQ, "ADDRESS", "a member", 0, 0},
    {"revoke", 0, CLI_T_BOOL, 0, NULL, "withdraw admin rights instead", 0, 0},
    END,
};
static const struct cli_param p_daemon[] = {
    {"socket", 0, CLI_T_STRING, 0, "PATH",
     "listen on this Unix socket (mode 0600) instead of stdin/stdout", 0, 0},
    END,
};

const struct cli_cmd cli_commands[] = {
    {"register", "register", "Set up this device with an invite",
     "Creates the data folder and its sealed store, makes this device's keys and registers\n"
     "ADDRESS with the server. The invite comes from an administrator (`valised admin\n"
     "invite`) for a first device, or from `valise device invite` on another device.",
     p_register, cmd_register, human_register, CLI_C_NO_RPC},
    {"whoami", "whoami", "Show this device's address, name and server", NULL, NULL, cmd_whoami,
     human_whoami, 0},
    {"device list", "devices.list", "List your devices", NULL, NULL, cmd_device_list,
     human_device_list, 0},
    {"device invite", "devices.invite", "Make a one-time invite for another device", NULL, NULL,
     cmd_device_invite, human_device_invite, 0},
    {"device revoke", "devices.revoke", "Revoke one of your devices, for good", NULL,
     p_device_revoke, cmd_device_revoke, human_done, 0},
    {"sync", "sync", "Fetch what arrived and bring your devices into your chats", NULL, NULL,
     cmd_sync, human_done, 0},
    {"contact add", "contacts.add", "Add a contact (learns their device keys)", NULL, p_contact_add,
     cmd_contact_add, human_done, 0},
    {"contact list", "contacts.list", "List contacts", NULL, NULL, cmd_contact_list,
     human_contact_list, 0},
    {"contact verify", "contacts.verify", "Mark a contact's safety number as checked in person",
     NULL, p_address, cmd_contact_verify, human_done, 0},
    {"safety", "safety", "Show the safety number you share with a contact",
     "Compare it with the contact's, in person or on a trusted channel; --qr draws it for\n"
     "scanning. Then `valise contact verify ADDRESS`.",
     p_safety, cmd_safety, human_safety, 0},
    {"chats", "chats.list", "List chats, most recent first", NULL, p_offline, cmd_chats,
     human_chats, 0},
    {"send", "send", "Send a message, a reply, a reaction or a file",
     "CHAT may be a contact's address: the one-to-one chat with them is started if needed.\n"
     "Examples:\n"
     "  valise send bob@example.org 'Meeting moved to 3pm'\n"
     "  valise send allies --reply-to 01ab67fe 'Agreed'\n"
     "  valise send allies --react 01ab67fe '\xf0\x9f\x91\x8d'\n"
     "  valise send bob@example.org --file minutes.pdf",
     p_send, cmd_send, human_sent, 0},
    {"edit", "edit", "Change the text of one of your messages", NULL, p_edit, cmd_edit, human_done,
     0},
    {"delete", "delete", "Delete one of your messages for everyone", NULL, p_delete, cmd_delete,
     human_done, 0},
    {"read", "read", "Show a chat's messages (and send read receipts)", NULL, p_read, cmd_read,
     human_read, 0},
    {"download", "download", "Save a file someone sent (hash checked)", NULL, p_download,
     cmd_download, human_download, 0},
    {"watch", "watch", "Follow incoming messages and events live",
     "Prints each event as it arrives until interrupted (or --count / --timeout). With\n"
     "--json, one JSON object per line, as in the daemon's notifications.",
     p_watch, cmd_watch, NULL, CLI_C_NO_RPC},
    {"typing", "typing", "Tell a chat you are typing (ephemeral)", NULL, p_typing, cmd_typing,
     human_done, 0},
    {"export", "export", "Export a chat and its messages as JSON", NULL, p_export, cmd_export,
     human_export, 0},
    {"group create", "group.create", "Create a group", NULL, p_group_create, cmd_group_create,
     human_group_created, 0},
    {"group add", "group.add", "Add members to a group (admins)", NULL, p_group_members,
     cmd_group_add, human_done, 0},
    {"group remove", "group.remove", "Remove members from a group (admins)", NULL, p_group_members,
     cmd_group_remove, human_done, 0},
    {"group leave", "group.leave", "Leave a group", NULL, p_chat, cmd_group_leave, human_done, 0},
    {"group info", "group.info", "Show a chat's members, admins and state", NULL, p_group_info,
     cmd_group_info, human_group_info, 0},
    {"group rename", "group.rename", "Rename a group (admins)", NULL, p_group_rename,
     cmd_group_rename, human_done, 0},
    {"group admin", "group.admin", "Grant (or --revoke) admin rights (admins)", NULL, p_group_admin,
     cmd_group_admin, human_done, 0},
    {"daemon", "daemon", "Serve JSON-RPC 2.0 for bots and other programs",
     "Speaks JSON-RPC 2.0, one JSON text per line, on stdin/stdout or on a Unix socket.\n"
     "Every command above is a method (its name is shown in each command's --help), with\n"
     "the same parameters by name; incoming messages and events arrive as notifications.\n"
     "See docs/cli.md.",
     p_daemon, cmd_daemon, NULL, CLI_C_NO_RPC},
};
const size_t cli_n_commands = sizeof cli_commands / sizeof cli_commands[0];
