#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End to end: the `valise` command against the real valised.

Three users (alice, bob, carol), each with its own data folder and key file:
registration, usage errors and exit codes, contacts and safety numbers,
one-to-one messages both ways with a reply, a reaction, an edit and a
delete, a 5 MiB file with its hash checked, a group with add and remove
(the removed member reads nothing sent after), watch, export, the
operator revoking a user (whose next command says why it is refused),
and a check that the server's folder holds none of the plaintext.

usage: cli_e2e_chat.py VALISED VALISE
"""
import hashlib
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import Checks, Failed, Server, User, grep_tree, texts, wait_for  # noqa: E402

CANARY = "canary-7d1e5f0b plaintext must not reach the server"
FILE_MIB = 5


def main():
    valised, valise = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    t = Checks("cli_e2e_chat")
    srv = Server(valised)
    users = []
    try:
        srv.start()
        alice, bob, carol = (User(valise, srv, n) for n in ("alice", "bob", "carol"))
        users = [alice, bob, carol]

        # --- usage, help, exit codes (no account needed) ---
        code, out, _ = alice.run("--help")
        t.ok(code == 0 and "Commands:" in out and "group create" in out, "valise --help")
        code, out, _ = alice.run("send", "--help")
        t.ok(code == 0 and "--reply-to MSG" in out and '"send"' in out, "valise send --help")
        code, out, _ = alice.run("--help")
        listed = out.split("Commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()
        subs = [" ".join(line.split("  ")[1].split()) for line in listed]
        t.ok(len(subs) >= 25 and "group create" in subs, "the command list", subs)
        bad = []
        for sub in subs:
            code, out, _ = alice.run(*sub.split(), "--help")
            if code != 0 or not out.startswith("usage: valise " + sub):
                bad.append(sub)
        t.ok(not bad, f"--help on every one of the {len(subs)} commands", bad)
        code, _, err = alice.run("frobnicate")
        t.ok(code == 2 and '"frobnicate"' in err, "unknown command: exit 2, quoted", err)
        code, _, err = alice.run("read", "x", "--limit", "lots")
        t.ok(code == 2 and '"lots" is not a whole number' in err, "bad number quoted", err)
        code, _, err = alice.run("group")
        t.ok(code == 2 and "create" in err, "group alone lists its subcommands", err)
        code, out, _ = alice.run("--json", "read", "x", "--bogus")
        t.ok(code == 2 and json.loads(out)["error"]["status"] == "usage",
             "--json error object", out)
        code, _, err = alice.run("chats")
        t.ok(code == 6 and "register" in err, "no account yet: exit 6", f"{code} {err}")

        # --- registration ---
        for u in users:
            r = u.register()
            t.must(r["address"] == u.address, f"register {u.address}")
        code, _, err = alice.run("register", alice.address, "bad-invite", "--server", srv.url)
        t.ok(code != 0, "second register in the same folder refused", err)
        w = alice.json("whoami")
        t.ok(w["address"] == alice.address and w["device"] == "cli", "whoami")
        devs = alice.json("device", "list")
        t.ok(len(devs) == 1 and devs[0]["current"], "device list", devs)

        # --- contacts and safety numbers ---
        alice.json("contact", "add", bob.address, "--name", "Bob")
        bob.json("contact", "add", alice.address)
        cl = alice.json("contact", "list")
        t.ok(any(c["address"] == bob.address and c["name"] == "Bob" for c in cl),
             "contact list", cl)
        ca, oa, ea = alice.run("--json", "safety", bob.address)
        cb, ob, eb = bob.run("--json", "safety", alice.address)
        t.ok(ca == 0 and cb == 0 and json.loads(oa)["safety_number"] ==
             json.loads(ob)["safety_number"] and len(json.loads(oa)["safety_number"]) == 71,
             "safety numbers agree on both sides", f"{oa} {ob}")
        code, out, _ = alice.run("safety", bob.address, "--qr")
        t.ok(code == 0 and "\u2588" in out and "Not verified" in out, "safety --qr draws")
        alice.json("contact", "verify", bob.address)
        t.ok(alice.json("safety", bob.address)["verified"], "contact verify")
        code, _, err = alice.run("safety", "nobody@example.org")
        t.ok(code == 3, "safety of an unknown contact: exit 3", f"{code} {err}")

        # --- one-to-one, both ways ---
        s1 = alice.json("send", bob.address, "hello", "bob,", CANARY)
        t.must(len(s1["id"]) == 64, "alice sends to bob by address")
        r = bob.json("read", alice.address)
        t.ok(f"hello bob, {CANARY}" in texts(r), "bob reads it", r)
        t.ok(r["marked_read"] >= 1, "bob's read sends a read receipt", r)
        s2 = bob.json("send", alice.address, "--reply-to", s1["id"][:8], "hi alice")
        r = alice.json("read", bob.address)
        got = [m for m in r["messages"] if m["id"] == s2["id"]]
        t.ok(got and got[0]["in_reply_to"] == s1["id"] and got[0]["text"] == "hi alice",
             "alice reads bob's reply, linked to hers", r)
        code, out, _ = alice.run("read", bob.address)
        t.ok(code == 0 and "hi alice" in out and "(reply to" in out, "human read output")
        chats = alice.json("chats")
        t.ok(len(chats) == 1 and chats[0]["kind"] == "direct", "chats lists one direct chat")
        chat = chats[0]["id"]

        bob.json("send", alice.address, "--react", s1["id"], "\U0001F44D")
        r = alice.json("read", chat)
        m1 = [m for m in r["messages"] if m["id"] == s1["id"]][0]
        t.ok(m1.get("receipts", {}).get("all") == "read"
             and {"user": bob.address, "receipt": "read"} in m1["receipts"]["by"],
             "alice sees bob's read receipt", m1)
        t.ok(any(x["reaction"] == "\U0001F44D" and x["sender"] == bob.address
                 for x in m1.get("reactions", [])), "reaction arrives", m1)
        s3 = alice.json("send", chat, "typo here")
        alice.json("edit", chat, s3["id"], "typo fixed")
        s4 = alice.json("send", chat, "to be deleted")
        alice.json("delete", chat, s4["id"][:10])
        r = bob.json("read", alice.address)
        by = {m["id"]: m for m in r["messages"]}
        t.ok(by.get(s3["id"], {}).get("text") == "typo fixed" and by[s3["id"]].get("edited"),
             "edit arrives", by.get(s3["id"]))
        t.ok(s4["id"] in by and by[s4["id"]].get("deleted") and by[s4["id"]]["text"] == "",
             "delete arrives", by.get(s4["id"]))
        full = bob.json("read", alice.address, "-n", "0")["messages"]
        last2 = bob.json("read", alice.address, "-n", "2")["messages"]
        t.ok(len(full) >= 5 and [m["id"] for m in last2] == [m["id"] for m in full[-2:]],
             "read -n 2 gives the last two of -n 0", f"{len(full)} {last2}")
        code, _, err = bob.run("edit", alice.address, s3["id"], "not mine")
        t.ok(code == 4, "editing another's message: exit 4", f"{code} {err}")
        code, _, err = bob.run("read", "no-such-chat")
        t.ok(code == 3 and '"no-such-chat"' in err, "unknown chat: exit 3, quoted", err)

        # --- a 5 MiB file ---
        data = os.urandom(FILE_MIB << 20)
        src = os.path.join(alice.home, "report.bin")
        with open(src, "wb") as f:
            f.write(data)
        code, out, err = alice.run("--json", "send", bob.address, "--file", src)
        sf = json.loads(out) if out.strip() else {}
        if code != 0 and sf.get("error", {}).get("status") == "unsupported":
            # Only a server without a blob store says this; the file
            # checks then cannot run, and say so.
            t.skip("5 MiB file round trip", sf["error"]["message"])
        else:
            t.must(code == 0 and len(sf.get("id", "")) == 64, "alice sends a 5 MiB file",
                   f"{code} {out} {err}")
            r = bob.json("read", alice.address)
            fm = [m for m in r["messages"] if m["id"] == sf["id"]]
            t.ok(fm and fm[0]["attachment"]["size"] == len(data)
                 and fm[0]["attachment"]["file_name"] == "report.bin"
                 and len(fm[0]["attachment"]["content_hash"]) == 64,
                 "file message: name, size and hash", fm)
            dl = bob.json("download", alice.address, sf["id"], "-o", "got.bin")
            with open(os.path.join(bob.home, "got.bin"), "rb") as f:
                back = f.read()
            t.ok(back == data and dl["size"] == len(data)
                 and hashlib.sha256(back).digest() == hashlib.sha256(data).digest(),
                 "5 MiB file round trip, hash checked")
            code, _, err = bob.run("download", alice.address, sf["id"], "-o", "got.bin")
            t.ok(code == 1 and "exists" in err, "download refuses to overwrite", err)

        # --- a second device of alice's ---
        bob.json("contact", "verify", alice.address)
        before = bob.json("safety", alice.address)["safety_number"]
        inv = alice.json("device", "invite")["invite"]
        tablet = User(valise, srv, "alice", device="tablet")
        users.append(tablet)
        r = tablet.register(invite=inv)
        t.ok(r["address"] == alice.address and r["device"] == "tablet",
             "second device registers with a device invite", r)
        names = sorted(d["name"] for d in alice.json("device", "list"))
        t.ok(names == ["cli", "tablet"], "device list shows both devices", names)
        alice.json("sync")
        two = bob.json("send", alice.address, "to both of alice's devices")
        r = tablet.json("read", bob.address)
        t.ok("to both of alice's devices" in texts(r), "the new device reads new messages", r)
        r = alice.json("read", bob.address)
        t.ok(two["id"] in [m["id"] for m in r["messages"]], "the first device too")
        c = [x for x in bob.json("contact", "list") if x["address"] == alice.address][0]
        t.ok(c["changed"] and c["devices"] == 2, "bob's contact list flags alice's new device", c)
        sn = bob.json("safety", alice.address)
        t.ok(sn["changed"] and sn["safety_number"] != before,
             "and her safety number changed", sn)
        code, out, _ = bob.run("safety", alice.address)
        t.ok(code == 0 and "WARNING" in out, "safety warns in words", out)
        tablet.json("send", bob.address, "from the tablet")
        r = bob.json("read", alice.address)
        t.ok(any(m["text"] == "from the tablet" and m["sender_device"] == "tablet"
                 for m in r["messages"]), "bob reads the tablet's message", r)

        # --- watch (live) ---
        watcher = bob.popen("--json", "watch", "--count", "1", "--timeout", "60")
        time.sleep(1.0)
        live = alice.json("send", bob.address, "live one")
        try:
            out, err = watcher.communicate(timeout=60)
        except Exception:
            watcher.kill()
            out, err = watcher.communicate()
        evs = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
        msgs = [e for e in evs if e["event"] == "message"]
        t.ok(watcher.returncode == 0 and msgs and msgs[0]["message"]["id"] == live["id"]
             and msgs[0]["message"]["text"] == "live one", "watch shows a live message",
             f"{watcher.returncode} {evs} {err!r}")

        # --- groups ---
        g = alice.json("group", "create", "allies", bob.address, carol.address)
        gid = g["chat"]
        info = alice.json("group", "info", "allies")
        t.ok(sorted(info["members"]) == sorted([alice.address, bob.address, carol.address])
             and info["admins"] == [alice.address], "group info: members and admin", info)
        alice.json("send", "allies", "welcome all")
        for u in (bob, carol):
            r = u.json("read", gid)
            t.ok("welcome all" in texts(r), f"{u.address.split('@')[0]} reads the group", r)
        carol.json("send", gid, "carol here")
        r = bob.json("read", gid)
        t.ok("carol here" in texts(r), "bob reads carol in the group")
        code, _, err = bob.run("group", "remove", gid, carol.address)
        t.ok(code == 4, "a non-admin cannot remove: exit 4", f"{code} {err}")
        alice.json("group", "remove", "allies", carol.address)
        alice.json("send", gid, "after carol left: " + CANARY)
        r = bob.json("read", gid)
        t.ok("after carol left: " + CANARY in texts(r), "bob reads after the removal")
        r = carol.json("read", gid)
        t.ok(not any("after carol left" in (x or "") for x in texts(r))
             and not r["chat"]["active"], "removed carol reads nothing sent after", r)
        code, _, err = carol.run("send", gid, "still here?")
        t.ok(code != 0, "removed carol cannot send", f"{code} {err}")
        alice.json("group", "add", gid, carol.address)
        alice.json("send", gid, "carol is back")
        r = carol.json("read", gid)
        t.ok("carol is back" in texts(r), "re-added carol reads again", r)
        bob.json("group", "leave", gid)
        t.ok(bob.address not in alice.json("group", "info", gid)["members"],
             "bob left the group")

        # --- export ---
        ex = alice.json("export", bob.address)
        t.ok(ex["format"] == "valise-export/1" and any(
            m.get("text") == "hi alice" for m in ex["messages"]), "export to JSON")
        path = os.path.join(alice.home, "chat.json")
        with open(path, "w") as f:  # an existing, world-readable file
            f.write("old")
        os.chmod(path, 0o644)
        code, out, _ = alice.run("export", bob.address, "-o", "chat.json")
        with open(path) as f:
            doc = json.load(f)
        t.ok(code == 0 and len(doc["messages"]) == len(ex["messages"])
             and (os.stat(path).st_mode & 0o777) == 0o600, "export -o writes a 0600 file")

        # --- a passphrase instead of a key file ---
        dave = User(valise, srv, "dave")
        users.append(dave)
        dave.key = ""  # no key file: the passphrase unlocks the store
        pf = os.path.join(dave.home, "pass")
        with open(pf, "w") as f:
            f.write("correct horse battery staple\n")
        inv = srv.invite(dave.address)
        env_args = ("--passphrase-file", pf)
        os.environ["VALISE_ARGON2_M_KIB"] = "8192"  # the minimum: keeps the test quick
        code, out, err = dave.run(*env_args, "register", dave.address, inv, "--server", srv.url)
        t.ok(code == 0, "register with a passphrase file", f"{code} {out} {err}")
        code, out, err = dave.run(*env_args, "--json", "whoami")
        t.ok(code == 0 and json.loads(out)["address"] == dave.address,
             "the passphrase opens the store", err)
        with open(pf, "w") as f:
            f.write("wrong horse\n")
        code, _, err = dave.run(*env_args, "whoami")
        t.ok(code == 4 and "wrong passphrase" in err, "a wrong passphrase: exit 4", err)
        code, _, err = dave.run("whoami")
        t.ok(code == 2 and "no passphrase" in err, "no passphrase and no terminal: exit 2", err)

        # A key file that cannot be one: the reason, not only an exit code.
        frank = User(valise, srv, "frank")
        users.append(frank)
        os.makedirs(frank.home, exist_ok=True)
        with open(frank.key, "wb") as f:
            f.write(b"not 32 octets")
        os.chmod(frank.key, 0o600)
        code, _, err = frank.run("register", frank.address, srv.invite(frank.address),
                                 "--server", srv.url)
        t.ok(code != 0 and "has 13 octets" in err, "a key file of the wrong size is named as such",
             err)
        os.chmod(frank.key, 0o644)
        code, _, err = alice.run("--key-file", frank.key, "whoami")
        t.ok(code != 0 and "chmod 600" in err, "a key file others can read is named as such", err)

        # The prompt on a terminal: twice at registration, once after.
        try:
            fd_m, fd_s = os.openpty()
            os.close(fd_m)
            os.close(fd_s)
            have_pty = True
        except OSError as e:
            have_pty = False
            t.skip("passphrase prompt", f"no pseudo-terminal here ({e})")
        erin = User(valise, srv, "erin") if have_pty else None
        if erin is not None:
            users.append(erin)
            erin.key = ""
            inv = srv.invite(erin.address)
            code, out = erin.run_tty(["register", erin.address, inv, "--server", srv.url],
                                     [b"one", b"two"])
            t.ok(code == 2 and "passphrases differ" in out, "prompt: two different passphrases",
                 out)
            code, out = erin.run_tty(["register", erin.address, inv, "--server", srv.url],
                                     [b"s3cret", b"s3cret"])
            t.ok(code == 0 and "Registered" in out and "s3cret" not in out,
                 "prompt: register, passphrase not echoed", out)
            code, out = erin.run_tty(["whoami"], [b"s3cret"])
            t.ok(code == 0 and erin.address in out, "prompt: unlock", out)

        # --- carol leaves: the operator revokes her; her device is told why ---
        r = subprocess.run([srv.exe, "admin", "revoke", carol.address, "--data", srv.dir],
                           capture_output=True, text=True, timeout=30)
        t.ok(r.returncode == 0 and "revoked 1 device" in r.stdout, "admin revoke USER",
             r.stdout + r.stderr)
        code, _, err = carol.run("send", alice.address, "still here?")
        t.ok(code == 4 and "revoked" in err and "register" in err,
             "a revoked device's command says so: exit 4", err)

        # --- what the server holds ---
        srv.stop()
        found = grep_tree(srv.dir, [CANARY.encode(), data[:64], data[-64:]])
        t.ok(not found, "server folder holds neither the canary nor the file's plaintext",
             found)
    except Exception as e:  # a failed check or a crash of the driver itself
        t.ok(False, "aborted", repr(e))
    finally:
        srv.cleanup()
        for u in users:
            u.cleanup()
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
