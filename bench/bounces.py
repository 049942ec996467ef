#!/usr/bin/python3
"""Bounce figures: how fast letterd reads what comes back, and what a poll
of a large IMAP mailbox costs when nothing is new.

Usage: bench/bounces.py [--mails N]   (default 10000)

N letters are sent to smtp-sink with a campaign return_path; then one
Postfix report (the test corpus's) per letter, addressed to that letter's
own return path, is put in a Maildir, and `letterd bounces --once` reads
them (mails/s). The same N mails are then served by Dovecot over IMAPS:
`letterd bounces --once` reads them all (mails/s), and once more with
nothing new (the poll's cost on an N-message mailbox).
"""
import argparse
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

from common import ROOT, Sink, letterd_config, set_up, timed_rss, write_submissions  # noqa: E402

RETURN_PATH = "bounces@campaign.example.org"
CORPUS = os.path.join(ROOT, "tests", "data", "bounces", "postfix-user-unknown.eml")


def reports(db_path):
    """One report per letter, each to the letter's own return path, computed as letterd signs it."""
    with sqlite3.connect(db_path) as db:
        key = bytes(db.execute("SELECT value FROM secrets WHERE name = 'return_path_key'").fetchone()[0])
        letters = db.execute("SELECT id, recipient FROM messages ORDER BY id").fetchall()
    template = open(CORPUS, encoding="utf-8").read()
    for letter_id, recipient in letters:
        check = hmac.new(key, b"letterd return path " + str(letter_id).encode(), hashlib.sha256).hexdigest()[:16]
        address = f"bounces+{letter_id}-{check}@campaign.example.org"
        text = template.replace("bounces+12-0123456789abcdef@campaign.example.org", address)
        yield letter_id, text.replace("former.mp@mp.example.org", recipient)


def deliver_all(maildir, mails, owner=None):
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(maildir, sub), exist_ok=True)
    for letter_id, text in mails:
        with open(os.path.join(maildir, "new", f"{letter_id:08d}.bench"), "w", encoding="utf-8") as f:
            f.write(text)
    if owner:
        for root, dirs, files in os.walk(maildir):
            for name in dirs + files + [""]:
                os.chown(os.path.join(root, name), *owner)


def run(letterd, config, *args):
    started = time.monotonic()
    result = subprocess.run([letterd, "-c", config, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"bench: letterd {' '.join(args)} exited {result.returncode}: {result.stderr[-500:]}")
    return time.monotonic() - started, result.stdout.strip()


def with_bounces(config, bounces):
    c = json.load(open(config))
    c["campaigns"]["bench"]["return_path"] = RETURN_PATH
    c["bounces"] = bounces
    json.dump(c, open(config, "w"))


def measure(letterd, mails):
    work = tempfile.mkdtemp(prefix="letterd-bounces-")
    sink = Sink()
    out = {"mails": mails}
    try:
        write_submissions(os.path.join(work, "queue", "new"), mails)
        os.makedirs(os.path.join(work, "queue", "tmp"))
        config = letterd_config(work, sink.port)
        maildir = os.path.join(work, "maildir")
        with_bounces(config, {"maildir": maildir})
        wall, rss, code = timed_rss([letterd, "-c", config, "run", "--once"], timeout=600)
        if code != 0:
            raise SystemExit(f"bench: letterd run --once exited {code}")
        db_path = os.path.join(work, "letterd.db")
        deliver_all(maildir, reports(db_path))
        wall, rss, code = timed_rss([letterd, "-c", config, "bounces", "--once"], timeout=600)
        if code != 0:
            raise SystemExit(f"bench: letterd bounces --once exited {code}")
        with sqlite3.connect(db_path) as db:
            bounced = db.execute("SELECT count(*) FROM messages WHERE status = 'bounced'").fetchone()[0]
        out["maildir"] = {"wall": wall, "rss": rss, "bounced": bounced}

        from imap_server import PASSWORD, USER, Dovecot
        imap = Dovecot()
        try:
            deliver_all(imap.maildir, reports(db_path), owner=(imap.uid, imap.gid))
            imap.start()
            secret = os.path.join(work, "imap.secret")
            with open(secret, "w") as f:
                f.write(PASSWORD + "\n")
            os.chmod(secret, 0o600)
            # A fresh database's view of the mailbox: every mail is new to it.
            shutil.copy(db_path, db_path + ".maildir")
            with sqlite3.connect(db_path) as db:
                db.execute("DELETE FROM bounces")
                db.execute("UPDATE messages SET status = 'sent', bounce_status = NULL, bounce_diagnostic = NULL, "
                           "bounced_at = NULL WHERE status = 'bounced'")
            with_bounces(config, {"url": imap.url, "username": USER, "password_file": secret, "ca_file": imap.cert})
            # A run reads until a batch comes back short; runs follow until one reads nothing, as polls would.
            wall, rss, code = timed_rss([letterd, "-c", config, "bounces", "--once"], timeout=1200)
            if code != 0:
                raise SystemExit(f"bench: letterd bounces --once over IMAP exited {code}")
            runs = 1
            while True:
                more, said = run(letterd, config, "bounces", "--once")
                wall += more
                runs += 1
                if said.startswith("0 mail(s) read") or runs > 1000:
                    break
            with sqlite3.connect(db_path) as db:
                recorded = db.execute("SELECT count(*) FROM bounces").fetchone()[0]
            out["imap_read"] = {"wall": wall, "rss": rss, "recorded": recorded, "runs": runs}
            idle = [run(letterd, config, "bounces", "--once")[0] for _ in range(5)]
            out["imap_idle_poll"] = sorted(idle)[len(idle) // 2]
        finally:
            imap.stop()
    finally:
        sink.stop()
        shutil.rmtree(work, ignore_errors=True)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mails", type=int, default=10000)
    args = parser.parse_args()
    letterd = set_up()
    r = measure(letterd, args.mails)
    n = r["mails"]
    print(f"bounces from a Maildir: {n} reports read in {r['maildir']['wall']:.2f} s "
          f"({n / r['maildir']['wall']:,.0f}/s), {r['maildir']['bounced']} letters marked bounced, "
          f"peak RSS {r['maildir']['rss'] / 1024:.1f} MiB")
    print(f"bounces over IMAPS (Dovecot on 127.0.0.1): {r['imap_read']['recorded']} of {n} recorded in "
          f"{r['imap_read']['wall']:.2f} s over {r['imap_read']['runs']} run(s) of letterd bounces --once "
          f"({r['imap_read']['recorded'] / r['imap_read']['wall']:,.0f}/s), peak RSS of the first "
          f"{r['imap_read']['rss'] / 1024:.1f} MiB")
    print(f"a poll of that {n}-message mailbox with nothing new: {r['imap_idle_poll'] * 1000:.0f} ms (median of 5)")


if __name__ == "__main__":
    main()
