#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Sums test cases over a meson testlog.json and prints `N passed, N failed`.

A cmocka program counts its test cases, a vector program the cases of its
`vectors:` lines; any other program counts as one case. A program that
failed without reporting a failed case counts one failure more; one that
meson skipped counts one skipped case unless it reported its own skips.
"""
import json
import re
import sys

CM_PASS = re.compile(r"^\[  PASSED  \] (\d+) test")
CM_FAIL = re.compile(r"^\[  FAILED  \] (\d+) test")
CM_SKIP = re.compile(r"^\[  SKIPPED \] (\d+) test")
VEC = re.compile(r"^vectors: .*: (\d+) passed, (\d+) failed, (\d+) skipped")
PLAIN = re.compile(r"^(?:\w+: )?(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$")


def main(path):
    passed = failed = skipped = 0
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError:
        print("0 passed, 1 failed")
        return 1
    for line in lines:
        rec = json.loads(line)
        out = (rec.get("stdout") or "") + "\n" + (rec.get("stderr") or "")
        p = f = s = 0
        seen = False
        for l in out.splitlines():
            l = l.strip()
            m = VEC.match(l)
            if m:
                p, f, s = p + int(m[1]), f + int(m[2]), s + int(m[3])
                seen = True
                continue
            for rx, k in ((CM_PASS, 0), (CM_FAIL, 1), (CM_SKIP, 2)):
                m = rx.match(l)
                if m:
                    seen = True
                    if k == 0:
                        p += int(m[1])
                    elif k == 1:
                        f += int(m[1])
                    else:
                        s += int(m[1])
            m = PLAIN.match(l)
            if m and not l.startswith("vectors:"):
                p, f, s = p + int(m[1]), f + int(m[2]), s + int(m[3] or 0)
                seen = True
        result = rec.get("result")
        if not seen:
            if result == "OK":
                p = 1
            elif result == "SKIP":
                s = 1
            else:
                f = 1
        elif result not in ("OK", "SKIP") and f == 0:
            f = 1
        passed, failed, skipped = passed + p, failed + f, skipped + s
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
