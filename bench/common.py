"""What bench/run's figures and its --scale figures both need: the peers and
packages a run installs, Postfix's smtp-sink as the relay, timing a command
with its peak RSS, submission files, letterd's config, and the machine.

Imported by bench/run and bench/scale.py from the folder they share.
"""
import glob
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PEERS = os.path.join(ROOT, "build", "bench-peers")
TEMPLATE = os.path.join(ROOT, "templates", "justice-secretary.txt")
TARGETS = os.path.join(ROOT, "config", "targets", "uk-mps.csv")

NOTE = ("As a person who works with survivors of sexual violence, I see every week how the system fails them. "
        "An independent advocate would change that.")


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


# --- setting up -------------------------------------------------------------

def missing_packages(names):
    out = []
    for name in names:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True)
        if r.stdout != "install ok installed":
            out.append(name)
    return out


def apt(*args):
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    sh(*sudo, "apt-get", *args, stdout=subprocess.DEVNULL,
       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def set_up():
    sh(os.path.join(ROOT, "scripts", "deps"))
    need = missing_packages(["time", "valgrind", "libgsasl18", "libsecret-1-0", "util-linux"])
    if need:
        print(f"bench: installing {' '.join(need)}", file=sys.stderr)
        apt("update", "-qq")
        apt("install", "-y", "-qq", "--no-install-recommends", *need)
    if not os.path.exists(os.path.join(PEERS, "usr", "sbin", "smtp-sink")):
        debs = os.path.join(PEERS, "debs")
        os.makedirs(debs, exist_ok=True)
        apt("update", "-qq")
        # apt-get download writes to the current directory; _apt cannot write a root-owned one, hence the chmod.
        os.chmod(debs, 0o777)
        sh("apt-get", "download", "-qq", "postfix", "msmtp", "nullmailer", cwd=debs)
        for deb in glob.glob(os.path.join(debs, "*.deb")):
            sh("dpkg", "-x", deb, PEERS)
    if not os.environ.get("LETTERD_BIN"):
        sh(os.path.join(ROOT, "scripts", "build"), stdout=subprocess.DEVNULL)
    return os.environ.get("LETTERD_BIN", os.path.join(ROOT, "build", "letterd"))


def peer(path):
    return os.path.join(PEERS, path)


POSTFIX_ENV = dict(os.environ, LD_LIBRARY_PATH=peer("usr/lib/postfix"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """Postfix's smtp-sink: accepts and discards, as fast as SMTP goes."""

    def __init__(self):
        self.port = free_port()
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self.process = subprocess.Popen([peer("usr/sbin/smtp-sink"), *user, f"127.0.0.1:{self.port}", "256"],
                                        env=POSTFIX_ENV)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("bench: smtp-sink did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait()


# --- measuring --------------------------------------------------------------

def timed_rss(cmd, log=os.devnull, timeout=None, **kw):
    """Runs a command to its end, its stderr to `log`: (wall seconds, its peak RSS in KiB, exit status).

    GNU time takes the RSS: a child forked from this Python would carry
    Python's own peak into the figure (the kernel keeps it across exec).
    Past `timeout` seconds the command gets SIGTERM (SIGKILL 15 s later) and
    the exit status is None."""
    with tempfile.NamedTemporaryFile("r", prefix="rss-") as out, open(log, "w") as err:
        started = time.monotonic()
        process = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", out.name, *cmd], stdout=subprocess.DEVNULL,
                                   stderr=err, **kw)
        timed_out = False
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            # The command is GNU time's child: signalled, it ends and time still writes its RSS.
            children = f"/proc/{process.pid}/task/{process.pid}/children"
            pids = [int(p) for p in open(children).read().split()] if os.path.exists(children) else []
            for sig, grace in ((15, 15), (9, 30)):
                for pid in pids:
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
                try:
                    process.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        wall = time.monotonic() - started
        text = out.read().split()
        rss = int(text[-1]) if text and text[-1].isdigit() else None
        return wall, rss, None if timed_out else process.returncode


def write_submissions(directory, count, prefix="s", extra=None):
    os.makedirs(directory, exist_ok=True)
    for i in range(count):
        sub = {"id": f"{prefix}{i}", "campaign": "bench", "letters": ["justice-secretary"],
               "supporter": {"name": f"Supporter {i}", "email": f"{prefix}{i}@example.org",
                             "postcode": "SW1A 1AA", "address": f"{i} Example Street, London"},
               "personal_note": NOTE,
               "authorisation": {"given": True, "at": "2026-11-24T10:00:00Z",
                                 "statement": "I authorise Example Campaign to send these letters in my name."}}
        sub.update(extra or {})
        with open(os.path.join(directory, f"{prefix}{i:07d}.json"), "w", encoding="utf-8") as f:
            json.dump(sub, f)


JUSTICE_SECRETARY = {"justice-secretary": {"template": TEMPLATE, "to": {"target": "justice-secretary"}}}


def letterd_config(work, port, connections=2, rate=None, log_level="info", letters=None, retention=None, extra=None):
    relay = {"url": f"smtp://127.0.0.1:{port}", "tls": "none", "connections": connections, "timeout": "30s"}
    if rate:
        relay["rate"] = rate
    config = {
        "queue_dir": os.path.join(work, "queue"),
        "database": os.path.join(work, "letterd.db"),
        "log_level": log_level,
        "queue": {"rescan": "1h"},
        "relays": {"relay": relay},
        "campaigns": {"bench": {
            "relay": "relay",
            "from": {"address": "letters@example.org", "name": "{{supporter.name}} via Example Campaign"},
            "copy_to_supporter": "none",
            "require": ["postcode", "address"],
            "targets": TARGETS,
            "letters": letters or JUSTICE_SECRETARY,
        }},
    }
    if retention:
        config["retention"] = {"bodies": retention}
    config.update(extra or {})
    path = os.path.join(work, "letterd.yaml")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)  # JSON is YAML
    return path


def machine():
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    debian = open("/etc/debian_version").read().strip() if os.path.exists("/etc/debian_version") else "?"
    fs = subprocess.run(["df", "--output=fstype", tempfile.gettempdir()], capture_output=True, text=True).stdout.split()[-1]
    return (f"{os.cpu_count()} × {cpu}, {mem_kib / 1024 / 1024:.0f} GiB RAM, Linux {platform.release()}, "
            f"Debian {debian}, /tmp on {fs}")
