#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Benchmark 6's other side: the original tool's DNS log watcher.

Usage: orig-dns-watcher.py SRC LOG DOMAINS...

SRC is a directory holding the original's package (terok_shield/, taken
from its public source by bench-6-log.sh, never part of this project).
Its DnsLogWatcher (watchers/dns_log.py, stdlib only) is pointed at an
empty log in a scratch directory with DOMAINS as the profile's domains,
then LOG is appended to that file and one poll() reads and classifies
every line, as the watcher does when a burst arrives. Prints one line:
    LINES CPU_NS WALL_NS EVENTS
(CPU_NS: this thread's CPU time in the poll; EVENTS: blocked-query events).
"""
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    src, log = sys.argv[1], sys.argv[2]
    sys.path.insert(0, src)
    from terok_shield.watchers.dns_log import DnsLogWatcher  # noqa: E402

    with tempfile.TemporaryDirectory(prefix="orig-watcher-") as tmp:
        state = Path(tmp)
        (state / "profile.domains").write_text("\n".join(sys.argv[3:]) + "\n")
        path = state / "dnsmasq.log"
        path.write_bytes(b"")
        watcher = DnsLogWatcher(path, state, "bench")
        try:
            with open(log, "rb") as src_f, open(path, "ab") as dst_f:
                shutil.copyfileobj(src_f, dst_f, 1 << 20)
            with open(log, "rb") as f:
                lines = sum(1 for _ in f)
            c0, w0 = time.thread_time_ns(), time.monotonic_ns()
            events = watcher.poll()
            c1, w1 = time.thread_time_ns(), time.monotonic_ns()
        finally:
            watcher.close()
    print(lines, c1 - c0, w1 - w0, len(events))
    return 0


if __name__ == "__main__":
    sys.exit(main())
