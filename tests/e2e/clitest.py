# SPDX-License-Identifier: Apache-2.0
"""Support for the end-to-end tests of the `valise` command and daemon.

Starts the real valised on an ephemeral loopback port with its own data
folder, issues invites with `valised admin invite`, and runs `valise` as
separate users, each with its own data folder and key file. Each check
prints one line; the driver exits non-zero if any failed.
"""
import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import tempfile
import time


class Failed(Exception):
    pass


class Checks:
    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print(f"ok   {what}")
        else:
            self.failed += 1
            print(f"FAIL {what} {detail}")
        sys.stdout.flush()
        return cond

    def skip(self, what, why):
        self.skipped += 1
        print(f"SKIP {what}: {why}")
        sys.stdout.flush()

    def must(self, cond, what, detail=""):
        if not self.ok(cond, what, detail):
            raise Failed(what)

    def finish(self):
        print(f"{self.name}: {self.passed} passed, {self.failed} failed, "
              f"{self.skipped} skipped")
        return 0 if self.failed == 0 else 1


class Server:
    def __init__(self, exe):
        self.exe = exe
        self.dir = tempfile.mkdtemp(prefix="vl_cli_srv_")
        self.proc = None
        self.port = None
        self.domain = "example.org"

    def start(self, port=0):
        """Starts valised; port 0 picks a free one, else reuses that one."""
        portfile = os.path.join(self.dir, "valised.port")
        if os.path.exists(portfile):
            os.unlink(portfile)
        self.log = open(os.path.join(self.dir, "valised.log"), "ab")
        self.proc = subprocess.Popen(
            [self.exe, "run", "--listen", f"127.0.0.1:{port}", "--data", self.dir,
             "--set", "server_name=" + self.domain, "--set", "log_level=info", "--plain"],
            stdout=self.log, stderr=self.log)
        for _ in range(1000):
            try:
                with open(portfile) as f:
                    p = int(f.read().strip() or 0)
                if p > 0:
                    self.port = p
                    return
            except (FileNotFoundError, ValueError):
                pass
            if self.proc.poll() is not None:
                raise Failed("valised exited at start")
            time.sleep(0.01)
        raise Failed("valised did not start")

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}"

    def invite(self, user):
        r = subprocess.run([self.exe, "admin", "invite", user, "--data", self.dir],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise Failed(f"invite for {user}: {r.stderr}")
        return r.stdout.strip().splitlines()[0]

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class User:
    """One device: a data folder, a key file, and `valise` runs on them."""

    def __init__(self, exe, server, name, device="cli"):
        self.exe = exe
        self.server = server
        self.address = f"{name}@{server.domain}"
        self.device = device
        self.home = tempfile.mkdtemp(prefix=f"vl_cli_{name}_")
        self.dir = os.path.join(self.home, "data")
        self.key = os.path.join(self.home, "store.key")

    def env(self):
        e = dict(os.environ)
        e["VALISE_DIR"] = self.dir
        e["VALISE_KEY_FILE"] = self.key
        e.pop("VALISE_PASSPHRASE", None)
        if not self.key:
            e.pop("VALISE_KEY_FILE")
        return e

    def run(self, *args, timeout=120, input=None):
        """Runs valise; returns (exit code, stdout, stderr)."""
        # Never a terminal on stdin: a prompt would wait for the person
        # running the tests.
        extra = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
        r = subprocess.run([self.exe, *args], capture_output=True, text=True, env=self.env(),
                           timeout=timeout, cwd=self.home, **extra)
        return r.returncode, r.stdout, r.stderr

    def json(self, *args, timeout=120):
        """Runs valise --json; returns the parsed result, raising on a failure."""
        code, out, err = self.run("--json", *args, timeout=timeout)
        if code != 0:
            raise Failed(f"{self.address}: valise {' '.join(args)} -> {code}: {out} {err}")
        return json.loads(out)

    def register(self, invite=None, device=None):
        if invite is None:
            invite = self.server.invite(self.address)
        return self.json("register", self.address, invite, "--server", self.server.url,
                         "--device", device or self.device)

    def run_tty(self, args, answers, timeout=60):
        """Runs valise on a pseudo-terminal, typing each answer at each
        passphrase prompt; returns (exit code, what the terminal showed)."""
        env = self.env()
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(self.home)
            os.execve(self.exe, [self.exe, *args], env)
        out = b""
        end = time.time() + timeout
        answers = list(answers)
        while time.time() < end:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if answers and (out.endswith(b"Passphrase: ") or out.endswith(b"Again: ")):
                os.write(fd, answers.pop(0) + b"\n")
        os.close(fd)
        _, st = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(st), out.decode(errors="replace")

    def popen(self, *args):
        return subprocess.Popen([self.exe, *args], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=self.env(), cwd=self.home)

    def cleanup(self):
        shutil.rmtree(self.home, ignore_errors=True)


def texts(read_result):
    return [m.get("text") for m in read_result["messages"] if m.get("kind") != "system"]


def wait_for(fn, timeout=20.0, step=0.2):
    """Calls fn until it returns a true value or the time is up."""
    end = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() >= end:
            return v
        time.sleep(step)


def grep_tree(root, needles):
    """Which of the byte strings occur in any file under root."""
    found = set()
    for d, _, files in os.walk(root):
        for f in files:
            try:
                with open(os.path.join(d, f), "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            for n in needles:
                if n in data:
                    found.add(n)
    return found
