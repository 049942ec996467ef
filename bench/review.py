"""bench/run's review figure: what campaigns.NAME.review costs intake per
submission, with no notes stored and with 100,000 stored, every one to the
same target (the Justice Secretary: the worst case, one target has them
all). Each submission's note is its own: forty words drawn from a
vocabulary of 600, with a suggested sentence every tenth note shares."""
import json
import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
import time

from common import letterd_config

WORDS = [f"w{i}" for i in range(600)]
SUGGESTED = "an independent advocate would change everything for survivors like me"


def note(rng, i):
    words = [rng.choice(WORDS) for _ in range(40)]
    text = " ".join(words)
    return text + ". " + SUGGESTED if i % 10 == 0 else text


def write_notes(directory, count, prefix, seed):
    rng = random.Random(seed)
    os.makedirs(directory, exist_ok=True)
    for i in range(count):
        sub = {"id": f"{prefix}{i}", "campaign": "bench", "letters": ["justice-secretary"],
               "supporter": {"name": f"Supporter {i}", "email": f"{prefix}{i}@example.org",
                             "postcode": f"E{i % 20 + 1} {i % 9 + 1}AA", "address": f"{i} Example Street, London"},
               "personal_note": note(rng, i),
               "authorisation": {"given": True, "at": "2026-11-24T10:00:00Z",
                                 "statement": "I authorise Example Campaign to send these letters in my name."}}
        with open(os.path.join(directory, f"{prefix}{i:07d}.json"), "w", encoding="utf-8") as f:
            json.dump(sub, f)


def config_with(work, review):
    path = letterd_config(work, 9)  # the discard port, where nothing listens: only intake is timed
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    if review:
        config["campaigns"]["bench"]["review"] = {"same_note": 5, "similar_note": 0.8, "per_postcode_day": 1000000}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f)
    return path


def intake(letterd, config, work, expected):
    started = time.monotonic()
    r = subprocess.run([letterd, "-c", config, "run", "--once"], capture_output=True, text=True, timeout=3600)
    wall = time.monotonic() - started
    with sqlite3.connect(os.path.join(work, "letterd.db")) as db:
        taken = db.execute("SELECT count(*) FROM messages").fetchone()[0]
    if r.returncode != 0 or taken != expected:
        raise SystemExit(f"bench: review intake exited {r.returncode} with {taken} of {expected}: {r.stderr[-300:]}")
    return wall


def review_cost(letterd, stored=100000, batch=2000):
    """Intake's seconds per submission with review and without, after `stored` notes."""
    base = tempfile.mkdtemp(prefix="letterd-review-")
    try:
        seeded = os.path.join(base, "seeded")
        os.makedirs(os.path.join(seeded, "queue", "tmp"))
        if stored:
            write_notes(os.path.join(seeded, "queue", "new"), stored, "old", 1)
            intake(letterd, config_with(seeded, True), seeded, stored)
        out = {"stored": stored, "batch": batch}
        for review in (True, False):
            work = os.path.join(base, "on" if review else "off")
            shutil.copytree(seeded, work)
            write_notes(os.path.join(work, "queue", "new"), batch, "new", 2)
            out["review" if review else "plain"] = intake(letterd, config_with(work, review), work, stored + batch)
            if review:
                with sqlite3.connect(os.path.join(work, "letterd.db")) as db:
                    out["held"] = db.execute("SELECT count(*) FROM messages WHERE review_rule IS NOT NULL").fetchone()[0]
        out["per_submission_ms"] = (out["review"] - out["plain"]) / batch * 1000
        return out
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    import argparse
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from common import set_up
    parser = argparse.ArgumentParser()
    parser.add_argument("--stored", type=int, default=100000)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()
    letterd = set_up()
    for stored in (0, args.stored):
        print(review_cost(letterd, stored, args.batch), flush=True)
