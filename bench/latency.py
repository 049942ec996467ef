#!/usr/bin/python3
"""Drop -> end of DATA, one file at a time into an idle daemon.

Usage: bench/latency.py [COUNT]   (LETTERD_BIN names the binary; default build/letterd)
Prints p50, p99 and max in milliseconds. Loopback only: the relay is the
aiosmtpd capture server from tests/integration.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
os.environ.setdefault("LETTERD_BIN", os.path.join(HERE, "..", "build", "letterd"))

from harness import Letterd, submission  # noqa: E402
from smtp_server import CaptureServer  # noqa: E402


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    server = CaptureServer()
    server.start()
    letterd = Letterd(port=server.port)
    letterd.extra = {"queue": {"rescan": "1h"}, "log_level": "info"}
    letterd.write_config()
    letterd.start()
    latencies = []
    try:
        for i in range(count):
            sub = submission(id=f"l{i}", letters=["justice-secretary"])
            sub["supporter"]["email"] = f"l{i}@example.org"
            started = time.monotonic()
            letterd.drop(f"l{i}.json", sub)
            server.wait_for(i + 1, timeout=10)
            latencies.append((time.monotonic() - started) * 1000)
            time.sleep(0.02)  # idle again before the next drop
    finally:
        letterd.stop()
        letterd.cleanup()
        server.stop()
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    print(f"{count} drops, drop -> end of DATA: p50 {pick(0.5):.1f} ms, p99 {pick(0.99):.1f} ms, "
          f"max {latencies[-1]:.1f} ms")


if __name__ == "__main__":
    main()
