#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End to end: `valise daemon` driven by a script, as a bot would.

A bot account runs the daemon on stdio and on a Unix socket; a person
(alice) uses the command. Checks JSON-RPC 2.0 framing (requests, batch,
notifications, parse errors, unknown methods, invalid params, an
over-long request), the same operations as the command, and the stream of
notifications for incoming messages, to which the bot answers.

usage: cli_e2e_daemon.py VALISED VALISE
"""
import json
import os
import select
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import Checks, Failed, Server, User, texts  # noqa: E402


class Rpc:
    """A JSON-RPC peer over a pair of byte streams (newline-delimited)."""

    def __init__(self, rfile, wfile):
        self.r, self.w = rfile, wfile
        self.buf = b""
        self.next_id = 1
        self.notifications = []

    def send_raw(self, data):
        self.w.write(data)
        self.w.flush()

    def recv(self, timeout=60.0):
        end = time.time() + timeout
        while b"\n" not in self.buf:
            left = end - time.time()
            if left <= 0:
                raise Failed("no answer from the daemon")
            ready, _, _ = select.select([self.r], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.r.fileno(), 65536)
            if not chunk:
                raise Failed("the daemon closed its output")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def reply(self, timeout=60.0):
        """The next response, keeping notifications that come first."""
        while True:
            m = self.recv(timeout)
            if isinstance(m, dict) and "id" not in m and "method" in m:
                self.notifications.append(m)
                continue
            return m

    def call(self, method, params=None):
        i = self.next_id
        self.next_id += 1
        req = {"jsonrpc": "2.0", "method": method, "id": i}
        if params is not None:
            req["params"] = params
        self.send_raw((json.dumps(req) + "\n").encode())
        r = self.reply()
        if r.get("id") != i:
            raise Failed(f"reply id {r.get('id')} for request {i}")
        return r

    def wait_notification(self, pred, timeout=30.0):
        end = time.time() + timeout
        while True:
            for n in self.notifications:
                if pred(n):
                    self.notifications.remove(n)
                    return n
            left = end - time.time()
            if left <= 0:
                return None
            try:
                m = self.recv(left)
            except Failed:
                return None
            self.notifications.append(m)


def main():
    valised, valise = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    t = Checks("cli_e2e_daemon")
    srv = Server(valised)
    users = []
    daemon = None
    try:
        srv.start()
        alice, bot = User(valise, srv, "alice"), User(valise, srv, "bot")
        users = [alice, bot]
        for u in users:
            u.register()
        alice.json("contact", "add", bot.address)

        # Sent while the bot is offline: its daemon catches up at start.
        early = alice.json("send", bot.address, "while the bot was offline")

        # --- stdio ---
        daemon = bot.popen("daemon")
        rpc = Rpc(daemon.stdout, daemon.stdin)
        n = rpc.wait_notification(lambda m: m.get("method") == "message")
        t.ok(n is not None and n["params"]["message"]["id"] == early["id"]
             and n["params"]["chat_name"] == alice.address,
             "backlog from offline time arrives as a notification", n)
        r = rpc.call("whoami")
        t.ok(r.get("result", {}).get("address") == bot.address, "whoami over stdio", r)
        r = rpc.call("nope.nothing")
        t.ok(r.get("error", {}).get("code") == -32601, "unknown method: -32601", r)
        r = rpc.call("send", {"text": "no chat"})
        t.ok(r.get("error", {}).get("code") == -32602
             and "chat" in r["error"]["message"], "missing param: -32602", r)
        r = rpc.call("send", {"chat": "x", "bogus": 1})
        t.ok(r.get("error", {}).get("code") == -32602 and "bogus" in r["error"]["message"],
             "unknown param: -32602", r)
        r = rpc.call("read", {"chat": "no-such-chat"})
        t.ok(r.get("error", {}).get("code") == 8
             and r["error"]["data"]["status"] == "not_found", "application error", r)
        rpc.send_raw(b'{"jsonrpc":"2.0","method":"whoami","id":1,\n')
        r = rpc.reply()
        t.ok(r.get("error", {}).get("code") == -32700 and r["id"] is None, "parse error", r)
        rpc.send_raw(b'[]\n')
        r = rpc.reply()
        t.ok(r.get("error", {}).get("code") == -32600, "empty batch: -32600", r)
        rpc.send_raw(b'{"jsonrpc":"2.0","method":"whoami"}\n'
                     b'[{"jsonrpc":"2.0","method":"whoami","id":"a"},'
                     b'{"jsonrpc":"2.0","method":"whoami"},'
                     b'{"jsonrpc":"2.0","method":"contacts.list","id":"b"}]\n')
        r = rpc.reply()
        t.ok(isinstance(r, list) and [x["id"] for x in r] == ["a", "b"],
             "notification ignored, batch answered in order", r)
        rpc.send_raw(b'{"pad":"' + b"x" * (1 << 20) + b'"}\n')
        r = rpc.reply()
        t.ok(r.get("error", {}).get("code") == -32600 and "larger" in r["error"]["message"],
             "over-long request refused", r)
        r = rpc.call("whoami")
        t.ok("result" in r, "still serving after the over-long request", r)

        # Incoming message -> notification; the bot answers through RPC.
        sent = alice.json("send", bot.address, "ping from alice")
        n = rpc.wait_notification(lambda m: m.get("method") == "message")
        t.ok(n is not None and n["params"]["message"]["text"] == "ping from alice"
             and n["params"]["message"]["id"] == sent["id"]
             and n["params"]["sender"] == alice.address, "message notification", n)
        chat = n["params"]["chat"] if n else alice.address
        r = rpc.call("send", {"chat": chat, "text": "pong from bot",
                              "reply_to": sent["id"]})
        t.ok("result" in r and len(r["result"]["id"]) == 64, "bot replies via send", r)
        r = rpc.call("read", [chat])
        t.ok("result" in r and "ping from alice" in texts(r["result"]),
             "read with positional params", r)
        r = alice.json("read", bot.address)
        t.ok("pong from bot" in texts(r), "alice reads the bot's reply", r)
        alice.json("typing", bot.address)
        n = rpc.wait_notification(lambda m: m.get("method") == "typing")
        t.ok(n is not None and n["params"]["typing"] is True
             and n["params"]["sender"] == alice.address, "typing notification", n)
        # Files through the daemon, with progress notifications.
        blob = os.urandom(3 << 20)
        src = os.path.join(bot.home, "bot-file.bin")
        with open(src, "wb") as f:
            f.write(blob)
        rpc.notifications.clear()
        r = rpc.call("send", {"chat": chat, "file": src})
        prog = [m["params"] for m in rpc.notifications if m.get("method") == "progress"]
        t.ok("result" in r and prog and prog[-1]["done"] == prog[-1]["total"] >= len(blob)
             and all(p["op"] == "send" for p in prog) and len(prog) <= 102,
             "send a file over RPC, with progress notifications", f"{r} {prog[-3:]}")
        got = alice.json("read", bot.address, "-n", "1")["messages"][-1]
        alice.json("download", bot.address, got["id"], "-o", "from-bot.bin")
        with open(os.path.join(alice.home, "from-bot.bin"), "rb") as f:
            t.ok(f.read() == blob, "alice downloads the bot's file")
        sent = alice.json("send", bot.address, "--file", os.path.join(alice.home, "from-bot.bin"))
        n = rpc.wait_notification(lambda m: m.get("method") == "message"
                                  and m["params"]["message"]["id"] == sent["id"])
        rpc.notifications.clear()
        dest = os.path.join(bot.home, "back.bin")
        r = rpc.call("download", {"chat": chat, "message": sent["id"], "output": dest})
        prog = [m["params"] for m in rpc.notifications if m.get("method") == "progress"]
        with open(dest, "rb") as f:
            back = f.read()
        t.ok("result" in r and back == blob and prog and prog[-1]["op"] == "download",
             "download over RPC, with progress", f"{r} {prog[-2:]}")
        r = rpc.call("chats.list")
        t.ok("result" in r and len(r["result"]) == 1, "chats.list", r)
        r = rpc.call("group.create", {"name": "bots", "members": [alice.address]})
        t.ok("result" in r, "group.create over RPC", r)
        gid = r["result"]["chat"] if "result" in r else None
        if gid:
            r = rpc.call("group.info", {"chat": gid})
            t.ok("result" in r and alice.address in r["result"]["members"], "group.info", r)
            alice.json("send", gid, "to the bot group")
            n = rpc.wait_notification(lambda m: m.get("method") == "message"
                                      and m["params"].get("chat") == gid)
            t.ok(n is not None, "group message notification", n)
        daemon.stdin.close()
        rc = daemon.wait(30)
        t.ok(rc == 0, "end of input ends the daemon", rc)
        daemon = None

        # --- Unix socket ---
        sock_path = os.path.join(bot.home, "rpc.sock")
        daemon = bot.popen("daemon", "--socket", sock_path)
        for _ in range(200):
            if os.path.exists(sock_path):
                break
            time.sleep(0.05)
        t.ok((os.stat(sock_path).st_mode & 0o777) == 0o600, "socket is owner-only")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock_path)
        f = s.makefile("rwb", buffering=0)
        srpc = Rpc(f, f)
        r = srpc.call("whoami")
        t.ok(r.get("result", {}).get("address") == bot.address, "whoami over the socket", r)
        alice.json("send", bot.address, "over the socket")
        n = srpc.wait_notification(lambda m: m.get("method") == "message")
        t.ok(n is not None and n["params"]["message"]["text"] == "over the socket",
             "notification over the socket", n)
        # The server goes away and comes back on the same port: the daemon
        # reconnects by itself and catches up.
        port = srv.port
        srv.stop()
        n = srpc.wait_notification(lambda m: m.get("method") == "disconnected", 20)
        t.ok(n is not None, "disconnected notification", n)
        srv.start(port)
        alice.json("send", bot.address, "after the restart")
        n = srpc.wait_notification(lambda m: m.get("method") == "message", 60)
        t.ok(n is not None and n["params"]["message"]["text"] == "after the restart",
             "the daemon reconnects and notifies", n)
        r = srpc.call("whoami")
        t.ok("result" in r, "and still answers", r)
        s.close()
        daemon.terminate()
        rc = daemon.wait(30)
        t.ok(rc == 0 and not os.path.exists(sock_path), "SIGTERM: clean exit, socket removed",
             rc)
        daemon = None
    except Exception as e:  # a failed check or a crash of the driver itself
        t.ok(False, "aborted", repr(e))
    finally:
        if daemon is not None:
            daemon.kill()
            daemon.wait()
        srv.cleanup()
        for u in users:
            u.cleanup()
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
