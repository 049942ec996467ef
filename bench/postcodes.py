"""bench/run's postcode figures: `letterd postcodes import` of a directory
as large as the ONS's (bench/make-onspd), and letters routed by postcode
beside the same letters routed by constituency."""
import os
import shutil
import sqlite3
import subprocess
import tempfile

from common import ROOT, letterd_config, timed_rss, write_submissions

MP_TEMPLATE = os.path.join(ROOT, "templates", "mp.txt")
EXAMPLE_LOOKUP = os.path.join(ROOT, "config", "postcodes-example.csv")


def postcode_import(letterd, rows):
    """Wall time, peak RSS and the lookup's size for an import of `rows` rows in the ONSPD layout."""
    work = tempfile.mkdtemp(prefix="letterd-onspd-")
    try:
        csv = os.path.join(work, "onspd.csv")
        subprocess.run([os.path.join(ROOT, "bench", "make-onspd"), "--rows", str(rows), "--out", csv],
                       check=True, stdout=subprocess.DEVNULL)
        lookup = os.path.join(work, "postcodes.db")
        config = letterd_config(work, 9, extra={"postcodes": lookup})
        wall, rss, code = timed_rss([letterd, "-c", config, "postcodes", "import", csv])
        if code != 0:
            raise SystemExit(f"bench: letterd postcodes import exited {code}")
        return {"rows": rows, "wall": wall, "rss": rss, "bytes": os.path.getsize(lookup)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def routed_throughput(letterd, sink, count, by):
    """Letters/s end to end for the MP's letter routed `by` postcode or constituency (2 connections)."""
    work = tempfile.mkdtemp(prefix="letterd-route-")
    try:
        os.makedirs(os.path.join(work, "queue", "tmp"))
        extra = {"letters": ["mp"]}
        if by == "constituency":
            extra["constituency"] = "Cities of London and Westminster"
        write_submissions(os.path.join(work, "queue", "new"), count, extra=extra)
        lookup = os.path.join(work, "postcodes.db")
        config = letterd_config(work, sink.port, connections=2, extra={"postcodes": lookup},
                                letters={"mp": {"template": MP_TEMPLATE, "to": {"by": by}}})
        subprocess.run([letterd, "-c", config, "postcodes", "import", EXAMPLE_LOOKUP], check=True,
                       stdout=subprocess.DEVNULL)
        wall, rss, code = timed_rss([letterd, "-c", config, "run", "--once"], log=os.path.join(work, "letterd.log"))
        db = sqlite3.connect(os.path.join(work, "letterd.db"))
        try:
            sent = db.execute("SELECT count(*) FROM messages WHERE status = 'sent'").fetchone()[0]
        finally:
            db.close()
        if code != 0 or sent != count:
            raise SystemExit(f"bench: letterd by {by} exited {code} with {sent} of {count} sent")
        return count / wall, rss
    finally:
        shutil.rmtree(work, ignore_errors=True)
