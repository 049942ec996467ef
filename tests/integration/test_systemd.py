"""letterd under systemd's eyes: sd_notify over a real AF_UNIX datagram
socket (NOTIFY_SOCKET), and journald-style logging (JOURNAL_STREAM)."""
import os
import signal
import socket
import subprocess
import tempfile
import time

from harness import LETTERD, RelayTestCase, submission


class Notify(RelayTestCase):
    def setUp(self):
        super().setUp()
        self.socket_dir = tempfile.mkdtemp(prefix="letterd-notify-")
        self.socket_path = os.path.join(self.socket_dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.socket_path)
        self.sock.settimeout(0.1)
        self.addCleanup(self.sock.close)
        self.heard = []

    def listen(self, until, timeout=10):
        """Collects notifications until one contains `until`."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                self.heard.append(self.sock.recv(4096).decode())
            except socket.timeout:
                continue
            if until in self.heard[-1]:
                return
        raise AssertionError(f"no {until!r} among {self.heard}")

    def index(self, text):
        return next(i for i, m in enumerate(self.heard) if text in m)

    def test_ready_status_watchdog_reloading_stopping_in_order(self):
        self.letterd.drop("a.json", submission(id="a"))
        env = {"NOTIFY_SOCKET": self.socket_path, "WATCHDOG_USEC": "400000"}
        self.letterd.start(env=env)
        self.listen("READY=1")
        self.listen("STATUS=")
        self.listen("WATCHDOG=1")
        self.listen("WATCHDOG=1")  # again: the keep-alive goes on while idle
        self.letterd.process.send_signal(signal.SIGHUP)
        self.listen("RELOADING=1")
        self.listen("READY=1")
        self.letterd.process.send_signal(signal.SIGTERM)
        self.listen("STOPPING=1")
        self.assertEqual(self.letterd.stop(), 0)
        self.assertLess(self.index("READY=1"), self.index("STATUS="))
        self.assertLess(self.index("STATUS="), self.index("WATCHDOG=1"))
        self.assertLess(self.index("RELOADING=1"), self.index("STOPPING=1"))
        status = next(m for m in self.heard if "STATUS=" in m)
        self.assertRegex(status, r"STATUS=\d+ letter\(s\) to send, \d+ deferred, \d+ held, \d+ sent in the last minute")

    def test_a_reload_during_a_slow_send_keeps_the_watchdog_fed(self):
        self.letterd.campaign["letters"].pop("justice-secretary")
        self.letterd.write_config()
        self.server.delay_next(1, 3.0)
        self.letterd.start(env={"NOTIFY_SOCKET": self.socket_path, "WATCHDOG_USEC": "1000000"})
        self.listen("READY=1")
        self.letterd.drop("slow.json", submission(id="slow"))
        deadline = time.time() + 5
        while time.time() < deadline and not self.letterd.query("SELECT 1 FROM messages WHERE status = 'sending'"):
            time.sleep(0.01)
        self.letterd.relay["timeout"] = "6s"  # the relay changes: its old sessions retire
        self.letterd.write_config()
        self.letterd.process.send_signal(signal.SIGHUP)
        self.listen("RELOADING=1")
        pings = []
        deadline = time.time() + 2.5
        while time.time() < deadline:
            try:
                if "WATCHDOG=1" in self.sock.recv(4096).decode():
                    pings.append(time.time())
            except socket.timeout:
                pass
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        self.assertGreaterEqual(len(pings), 3, "the loop goes on while the old session finishes its send")
        self.assertLess(max(gaps), 1.0)
        self.letterd.wait_for_status("sent", 1, timeout=10)
        self.assertEqual(self.letterd.stop(), 0)

    def test_under_journald_lines_carry_priorities_and_no_timestamps(self):
        log_path = os.path.join(self.letterd.dir, "journal.log")
        with open(log_path, "w") as log:
            st = os.fstat(log.fileno())
            env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
            self.server.fail_next(1, 554, "5.7.1 rejected")
            self.letterd.drop("b.json", submission(id="b", letters=["mp"]))
            subprocess.run([LETTERD, "-c", self.letterd.config_path, "run", "--once"], stderr=log, env=env,
                           timeout=60, check=False)
        with open(log_path) as f:
            lines = f.read().splitlines()
        self.assertTrue(lines)
        self.assertTrue(all(line[:3] in ("<3>", "<4>", "<6>", "<7>") for line in lines), lines)
        self.assertIn("<3>failed message 1 (mp to mp-cities-of-london-and-westminster): 554", "\n".join(lines))
        self.assertTrue(any(line.startswith("<6>letterd started") for line in lines))
        self.assertFalse(any(line[3:7].isdigit() for line in lines), "journald keeps the time, not the line")
