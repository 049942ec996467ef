"""Runs the real letterd binary in a throwaway directory: its own config,
queue and database, pointed at a CaptureServer on 127.0.0.1.

The config is written as JSON, which YAML (and so letterd) reads as is.
"""
import email
import email.policy
import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import unittest

# The tests provoke TLS and protocol failures on purpose; aiosmtpd's own
# tracebacks for them would only bury the test runner's report.
logging.getLogger("mail.log").setLevel(logging.CRITICAL)

LETTERD = os.environ.get("LETTERD_BIN", "letterd")
SOURCE = os.environ.get("LETTERD_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))


def free_port():
    """A port on 127.0.0.1 nothing listens on, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, what, log, timeout=15):
    """Waits until something accepts connections on 127.0.0.1:`port`; else fails with `log()`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what} did not listen:\n" + log())


def largest_window(times, span=1.0):
    """The most of `times` (seconds) that fall in any window of `span` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] >= span:
            start += 1
        best = max(best, end - start + 1)
    return best


def submission(**overrides):
    """A valid submission for the test campaign; keyword arguments replace keys."""
    base = {
        "campaign": "legal-advocacy",
        "supporter": {
            "name": "Jane Doe",
            "email": "jane@example.org",
            "postcode": "SW1A 1AA",
            "address": "1 Example Street, London",
        },
        "constituency": "Cities of London and Westminster",
        "personal_note": "As a person who works with survivors of sexual violence, I care.",
        "authorisation": {
            "given": True,
            "at": "2026-11-24T10:00:00Z",
            "statement": "I authorise Example Campaign to send these letters in my name.",
        },
    }
    base.update(overrides)
    return base


class Letterd:
    def __init__(self, port=None, relay=None, campaign=None, retry=None, extra=None):
        self.dir = tempfile.mkdtemp(prefix="letterd-test-")
        self.queue = os.path.join(self.dir, "queue")
        self.database = os.path.join(self.dir, "letterd.db")
        self.config_path = os.path.join(self.dir, "letterd.yaml")
        self.relay = {"url": f"smtp://127.0.0.1:{port}", "tls": "none", "timeout": "5s"}
        self.relay.update(relay or {})
        self.campaign = {
            "relay": "local",
            "from": {"address": "letters@example.org", "name": "{{supporter.name}} via Example Campaign"},
            "reply_to": "supporter",
            "copy_to_supporter": "bcc",
            "require": ["postcode", "address"],
            "targets": os.path.join(SOURCE, "config/targets/uk-mps.csv"),
            "letters": {
                "mp": {"template": os.path.join(SOURCE, "templates/mp.txt"), "to": {"by": "constituency"}},
                "justice-secretary": {
                    "template": os.path.join(SOURCE, "templates/justice-secretary.txt"),
                    "to": {"target": "justice-secretary"},
                },
            },
        }
        self.campaign.update(campaign or {})
        self.retry = retry or {"first": "500ms", "max": "2s", "lifetime": "1h"}
        self.extra = extra or {}
        self.process = None
        self.write_config()
        for sub in ("tmp", "new"):
            os.makedirs(os.path.join(self.queue, sub), exist_ok=True)

    def config(self):
        config = {
            "queue_dir": self.queue,
            "database": self.database,
            "log_level": "debug",
            "queue": {"rescan": "1s"},
            "relays": {"local": self.relay},
            "retry": self.retry,
            "campaigns": {"legal-advocacy": self.campaign},
        }
        config.update(self.extra)
        return config

    def write_config(self, text=None):
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(text if text is not None else json.dumps(self.config(), indent=2, ensure_ascii=False))

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- the queue ---

    def drop(self, name, content):
        """Writes a submission the way a web back end does: tmp/, then rename into new/."""
        if not isinstance(content, (str, bytes)):
            content = json.dumps(content, ensure_ascii=False)
        if isinstance(content, str):
            content = content.encode("utf-8")
        tmp = os.path.join(self.queue, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(content)
        os.rename(tmp, os.path.join(self.queue, "new", name))

    def waiting(self):
        return sorted(os.listdir(os.path.join(self.queue, "new")))

    def rejected(self):
        path = os.path.join(self.queue, "rejected")
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    def error_file(self, name):
        with open(os.path.join(self.queue, "rejected", name + ".error"), encoding="utf-8") as f:
            return f.read()

    # --- the binary ---

    def cli(self, *args, check=False, timeout=60, env=None):
        full_env = dict(os.environ)
        full_env.update(env or {})
        result = subprocess.run([LETTERD, "-c", self.config_path, *args], capture_output=True, text=True,
                                timeout=timeout, env=full_env)
        if check and result.returncode != 0:
            raise AssertionError(f"letterd {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    def run_once(self, env=None, timeout=60):
        return self.cli("run", "--once", check=False, timeout=timeout, env=env)

    def start(self, env=None):
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.log_path = os.path.join(self.dir, "daemon.log")
        self.log_file = open(self.log_path, "w")
        self.process = subprocess.Popen([LETTERD, "-c", self.config_path, "run"], stdout=self.log_file,
                                        stderr=subprocess.STDOUT, env=full_env)
        deadline = time.time() + 10
        while time.time() < deadline:
            if "letterd started" in self.daemon_log():
                return
            if self.process.poll() is not None:
                raise AssertionError("letterd exited at start:\n" + self.daemon_log())
            time.sleep(0.02)
        raise AssertionError("letterd did not start:\n" + self.daemon_log())

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if not self.process:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        self.process = None
        self.log_file.close()
        return code

    def daemon_log(self):
        with open(self.log_path, encoding="utf-8") as f:
            return f.read()

    # --- the database ---

    def query(self, sql, *params):
        with sqlite3.connect(self.database) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute(sql, params)]

    def messages(self):
        return self.query("SELECT * FROM messages ORDER BY id")

    def wait_for_status(self, status, count, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(self.database):
                try:
                    rows = self.query("SELECT count(*) AS n FROM messages WHERE status = ?", status)
                    if rows[0]["n"] >= count:
                        return
                except sqlite3.OperationalError:
                    pass  # the schema is not there yet
            time.sleep(0.05)
        raise AssertionError(f"fewer than {count} messages {status}: {self.messages()}")


def parse(data):
    """A received message, parsed the way a mail client would."""
    return email.message_from_bytes(data, policy=email.policy.default)


def body_of(msg):
    """The decoded text body with the wire's CRLF line ends read as newlines."""
    return msg.get_content().replace("\r\n", "\n")


class RelayTestCase(unittest.TestCase):
    """A test with a CaptureServer on 127.0.0.1 and a Letterd pointed at it."""

    def setUp(self):
        from smtp_server import CaptureServer
        self.server = CaptureServer()
        self.server.start()
        self.addCleanup(self.server.stop)
        self.letterd = Letterd(port=self.server.port)
        self.addCleanup(self.letterd.cleanup)
