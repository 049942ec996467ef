"""bench/run --scale: letterd with 0 and with N letters already in its
delivery log (sending, start, the loop's longest turn, the organiser's
commands, retention), and the section "A million letters in the log" of
docs/BENCHMARKS.md that such a run rewrites.

Imported by bench/run from the folder they share; its options are bench/run's.
"""
import datetime
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time

from common import (JUSTICE_SECRETARY, ROOT, Sink, letterd_config, machine, set_up, sh, timed_rss,
                    write_submissions)

# The campaign of bench/make-log's logs: the MP's letter beside the Justice Secretary's.
BOTH_LETTERS = {"mp": {"template": os.path.join(ROOT, "templates", "mp.txt"), "to": {"by": "constituency"}},
                **JUSTICE_SECRETARY}


SCALE_DIR = "/tmp/letterd-scale"
MIB = 1024  # GNU time's RSS is in KiB
STARTED_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}) \S+ letterd started", re.M)
LONGEST_RE = re.compile(r"letterd stopped; the longest turn of the loop took (\d+) ms")
SLOW_TURN_RE = re.compile(r"\ba turn of the loop took (\d+) ms, \d+ ms of it in ([^(\n]+?)(?: \(|$)", re.M)


def slow_turns(text):
    """The loop's slow-turn warnings in a log: (ms, the part that took most of it), slowest first."""
    return sorted(((int(ms), part) for ms, part in SLOW_TURN_RE.findall(text)), reverse=True)


def slowest(turns):
    return f"{turns[0][0]:,} ms ({turns[0][1]})" if turns else None


def utc(text):
    """A time as letterd writes it, in the log (run with TZ=UTC) or the database, as epoch seconds."""
    text = text.rstrip("Z")[:23]
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc).timestamp()


def binary_tag(letterd):
    import hashlib
    h = hashlib.sha256()
    with open(letterd, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def scale_log(letterd, messages, path=None):
    """The pre-built log: the one given, or bench/make-log's for this binary, made when missing."""
    if path:
        return path, None
    path = os.path.join(SCALE_DIR, f"log-{messages}-{binary_tag(letterd)}.db")
    if os.path.exists(path):
        print(f"bench: using {path} (made earlier by bench/make-log with this binary)", flush=True)
        return path, None
    started = time.monotonic()
    sh(os.path.join(ROOT, "bench", "make-log"), "--messages", str(messages), "--out", path, "--letterd", letterd)
    return path, time.monotonic() - started


def db_files(path):
    return {"db": os.path.getsize(path), "wal": os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0}


def db_facts(path):
    """File sizes first (opening a connection must not move them), then SQLite's own figures, read only."""
    facts = db_files(path)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for pragma in ("page_size", "page_count", "freelist_count", "auto_vacuum"):
            facts[pragma] = db.execute(f"PRAGMA {pragma}").fetchone()[0]
        facts["messages"] = db.execute("SELECT count(*) FROM messages").fetchone()[0]
        facts["bodies"] = db.execute("SELECT count(*) FROM messages WHERE body IS NOT NULL").fetchone()[0]
    finally:
        db.close()
    return facts


def half_the_bodies(path):
    """retention.bodies that puts about half the erasable bodies past it, as letterd reads durations."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        n = db.execute("SELECT count(*) FROM messages WHERE body IS NOT NULL AND status IN ('sent', 'failed') "
                       "AND ended_at IS NOT NULL").fetchone()[0]
        if not n:
            return None
        median = db.execute("SELECT ended_at FROM messages WHERE body IS NOT NULL AND status IN ('sent', 'failed') "
                            "AND ended_at IS NOT NULL ORDER BY ended_at LIMIT 1 OFFSET ?", (n // 2,)).fetchone()[0]
    finally:
        db.close()
    return f"{max(1, int((time.time() - utc(median)) * 1000))}ms"


SEND_RUNS = 3  # the sending figure is the median of this many runs, each on a fresh copy of the log


def send_run(letterd, sink, log_path, letters, timeout, env):
    """`letterd run --once` sending `letters` new letters into a fresh copy of `log_path` (None: an empty log).
    Returns its figures and the working directory it left (the caller removes it)."""
    work = tempfile.mkdtemp(prefix="scale-", dir=SCALE_DIR)
    database = os.path.join(work, "letterd.db")
    os.makedirs(os.path.join(work, "queue", "tmp"))
    if log_path:
        shutil.copyfile(log_path, database)
        os.chmod(database, 0o600)
        db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        top = db.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]
        db.close()
    else:
        top = 0
    write_submissions(os.path.join(work, "queue", "new"), letters, prefix="new")
    config = letterd_config(work, sink.port, connections=2, letters=BOTH_LETTERS)
    subprocess.run(["sync"], check=False)  # the copy's writeback is not the run's

    daemon_log = os.path.join(work, "letterd.log")
    launched = time.time()
    wall, rss, code = timed_rss([letterd, "-c", config, "run", "--once"], log=daemon_log, timeout=timeout, env=env)
    text = open(daemon_log, encoding="utf-8", errors="replace").read()
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    sent, first = db.execute("SELECT count(*), min(sent_at) FROM messages WHERE id > ? AND status = 'sent'",
                             (top,)).fetchone()
    db.close()
    run = {"wall": wall, "rss": rss, "code": code, "sent": sent, "letters": letters,
           "rate": letters / wall if code == 0 and sent == letters else None}
    m = STARTED_RE.search(text)
    run["exec_to_started"] = utc(m.group(1)) - launched if m else None
    run["started_to_first_send"] = utc(first) - utc(m.group(1)) if m and first else None
    m = LONGEST_RE.search(text)
    slow = slow_turns(text)
    run["longest_turn"] = int(m.group(1)) if m else None
    run["slow_turns"] = len(slow)
    run["slowest_warned"] = slow[0] if slow else None
    return run, work


def scale_point(letterd, sink, log_path, letters, timeout):
    """letterd on a copy of `log_path` (None: an empty log): figures for one size."""
    env = dict(os.environ, TZ="UTC")  # the log's times in UTC, as the database's
    r = {"in_log": db_facts(log_path)["messages"] if log_path else 0}
    runs, work = [], None
    try:
        # Sending: letters/s end to end (the median run), start to first send, the loop's longest turn.
        for _ in range(SEND_RUNS):
            if work:
                shutil.rmtree(work, ignore_errors=True)
            run, work = send_run(letterd, sink, log_path, letters, timeout, env)
            runs.append(run)
            print(f"bench: scale {r['in_log']:,}: run --once {run}", flush=True)
            if run["rate"] is None:
                break
        rated = sorted((x for x in runs if x["rate"] is not None), key=lambda x: x["rate"])
        r["run"] = dict(rated[len(rated) // 2]) if len(rated) == len(runs) else dict(runs[-1])
        r["run"]["rates"] = [x["rate"] for x in runs]
        r["run"]["longest_turn"] = max((x["longest_turn"] for x in runs if x["longest_turn"] is not None),
                                       default=None)
        r["run"]["slow_turns"] = sum(x["slow_turns"] for x in runs)
        r["run"]["slowest_warned"] = max((x["slowest_warned"] for x in runs if x["slowest_warned"]), default=None)
        r["run"]["started_to_first_send"] = max((x["started_to_first_send"] for x in runs
                                                 if x["started_to_first_send"] is not None), default=None)
        database = os.path.join(work, "letterd.db")
        config = letterd_config(work, sink.port, connections=2, letters=BOTH_LETTERS)

        # The organiser's commands, on the log as the run left it.
        r["commands"] = {}
        for name, args in (("status", ["status"]), ("log", ["log", "--format", "csv"]), ("report", ["report"])):
            w, rs, c = timed_rss([letterd, "-c", config, *args], timeout=timeout, env=env)
            r["commands"][name] = {"wall": w, "rss": rs, "code": c}
            print(f"bench: scale {r['in_log']:,}: {' '.join(args)}: {r['commands'][name]}", flush=True)

        # Retention: about half the bodies past retention.bodies, then letterd purge.
        retention = half_the_bodies(database)
        config = letterd_config(work, sink.port, connections=2, letters=BOTH_LETTERS, retention=retention)
        before = db_facts(database)
        w, rs, c = timed_rss([letterd, "-c", config, "purge"], timeout=timeout, env=env)
        after = db_facts(database)
        r["commands"]["purge"] = {"wall": w, "rss": rs, "code": c, "retention": retention}
        r["purge"] = {"before": before, "after": after}
        print(f"bench: scale {r['in_log']:,}: purge (retention.bodies {retention}): {r['commands']['purge']}\n"
              f"       before {before}\n       after  {after}", flush=True)

        # The daemon's own retention at start, half of the bodies left past it: its turns while it erases.
        retention = half_the_bodies(database)
        config = letterd_config(work, sink.port, connections=2, letters=BOTH_LETTERS, retention=retention)
        r["housekeeping"] = housekeeping_run(letterd, config, work, os.path.join(work, "housekeeping.log"), timeout,
                                             env, letters)
        r["housekeeping"]["retention"] = retention
        print(f"bench: scale {r['in_log']:,}: the daemon's retention: {r['housekeeping']}", flush=True)
        return r
    finally:
        if work:
            shutil.rmtree(work, ignore_errors=True)


RETENTION_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}) \S+ retention: erased (\d+) letter bodies", re.M)


def housekeeping_run(letterd, config, work, log_path, timeout, env, letters):
    """`letterd run` with `letters` new letters waiting, until its retention at start has finished (its log says
    what it erased), then SIGTERM: how long the erasing took, the loop's longest turn meanwhile, and the letters
    sent while it erased."""
    database = os.path.join(work, "letterd.db")
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    top = db.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]
    db.close()
    write_submissions(os.path.join(work, "queue", "new"), letters, prefix="hk")
    subprocess.run(["sync"], check=False)
    with open(log_path, "w") as log:
        process = subprocess.Popen([letterd, "-c", config, "run"], stdout=subprocess.DEVNULL, stderr=log, env=env)
        deadline = time.time() + timeout
        text = ""
        while time.time() < deadline and process.poll() is None:
            text = open(log_path, encoding="utf-8", errors="replace").read()
            if RETENTION_RE.search(text):
                break
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            code = None
    text = open(log_path, encoding="utf-8", errors="replace").read()
    started, erased = STARTED_RE.search(text), RETENTION_RE.search(text)
    longest = LONGEST_RE.search(text)
    slow = slow_turns(text)
    took = utc(erased.group(1)) - utc(started.group(1)) if started and erased else None
    sent = None
    if started and erased:
        db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        sent = db.execute("SELECT count(*) FROM messages WHERE id > ? AND status = 'sent' AND sent_at <= ?",
                          (top, erased.group(1) + "Z")).fetchone()[0]
        db.close()
    return {"code": code, "bodies": int(erased.group(2)) if erased else None, "took": took,
            "longest_turn": int(longest.group(1)) if longest else None, "slow_turns": len(slow),
            "slowest_warned": slow[0] if slow else None, "letters": letters, "sent_meanwhile": sent,
            "rate_meanwhile": sent / took if sent is not None and took else None}


def scale(letterd, letters, messages, log_path, timeout):
    os.makedirs(SCALE_DIR, exist_ok=True)
    log_path, made_in = scale_log(letterd, messages, log_path)
    sink = Sink()
    try:
        points = [scale_point(letterd, sink, None, letters, timeout), scale_point(letterd, sink, log_path, letters, timeout)]
    finally:
        sink.stop()
    return {"points": points, "log": log_path, "made_in": made_in, "letters": letters, "timeout": timeout}


def git_rev():
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True).stdout
    return (rev.strip() or "?") + (" with uncommitted changes" if dirty.strip() else "")


def render_scale(s, letterd, started):
    empty, full = s["points"]
    timeout = s["timeout"]
    letters = s["letters"]

    def secs(x, digits=2):
        return "–" if x is None else f"{x:.{digits}f} s"

    def rate(p):
        run = p["run"]
        if run["rate"] is not None:
            each = ", ".join(f"{x:,.0f}" for x in run.get("rates", []) if x is not None)
            return f"{run['rate']:,.0f}/s" + (f" ({each})" if len(run.get("rates", [])) > 1 else "")
        if run["code"] is None:
            return f"did not finish in {timeout:g} s ({run['sent']:,} of {run['letters']:,} sent)"
        return f"exited {run['code']}, {run['sent']:,} of {run['letters']:,} sent"

    def first(p):
        run = p["run"]
        if run["started_to_first_send"] is None:
            return "no send" + (f" in {timeout:g} s" if run["code"] is None else "")
        return f"{run['started_to_first_send']:.2f} s (exec to `letterd started`: {secs(run['exec_to_started'])})"

    def turn(p):
        run = p["run"]
        if run["longest_turn"] is None:
            shown = "not reported"
            if run["code"] is None:
                shown += " (killed at the timeout)"
        else:
            shown = f"{run['longest_turn']:,} ms"
        if run["slow_turns"]:
            shown += f"; {run['slow_turns']} turn(s) over 100 ms warned, slowest {slowest([run['slowest_warned']])}"
        return shown

    def command(p, name):
        c = p["commands"][name]
        rss = "–" if c["rss"] is None else f"{c['rss'] / MIB:.1f} MiB"
        if c["code"] is None:
            return f"over {timeout:g} s (stopped), {rss}"
        return f"{c['wall']:.2f} s, {rss}" + ("" if c["code"] == 0 else f", exit {c['code']}")

    def per_letter(p, when):
        f = p["purge"][when]
        return f"{(f['db'] + f['wal']) / max(1, f['messages']):,.0f}"

    def pages(p):
        b, a = p["purge"]["before"], p["purge"]["after"]
        returned = b["page_count"] - a["page_count"]
        released = returned + (a["freelist_count"] - b["freelist_count"])
        return returned, released

    def retention(p):
        b, a = p["purge"]["before"], p["purge"]["after"]
        returned, released = pages(p)
        share = f"{returned / released:.0%}" if released > 0 else "–"
        return (f"file {(b['db'] + b['wal']) / 2**20:,.1f} → {(a['db'] + a['wal']) / 2**20:,.1f} MiB; "
                f"freelist {b['freelist_count']:,} → {a['freelist_count']:,} pages; "
                f"{returned:,} of {released:,} freed pages returned ({share}); "
                f"bodies {b['bodies']:,} → {a['bodies']:,}")

    def housekeeping(p):
        h = p["housekeeping"]
        if h["bodies"] is None:
            return "did not finish" + (f" in {timeout:g} s" if h["code"] is None else "")
        shown = (f"{h['bodies']:,} bodies in {h['took']:.1f} s, longest turn "
                 + ("not reported" if h["longest_turn"] is None else f"{h['longest_turn']:,} ms"))
        if h["slow_turns"]:
            shown += f"; {h['slow_turns']} turn(s) over 100 ms warned, slowest {slowest([h['slowest_warned']])}"
        if h.get("sent_meanwhile") is not None:
            shown += f"; {h['sent_meanwhile']:,} of {h['letters']:,} new letters sent meanwhile"
        return shown

    def ok(flag):
        return "–" if flag is None else ("yes" if flag else "**no**")

    pts = (empty, full)
    r0, r1 = empty["run"]["rate"], full["run"]["rate"]
    firsts = [p["run"]["started_to_first_send"] for p in pts]
    turns = [p["run"]["longest_turn"] for p in pts]
    rss_all = [p["commands"][n]["rss"] for p in pts for n in ("status", "log", "report", "purge")]
    returned, released = pages(full)
    goals = [
        (f"letters/s at {full['in_log']:,} within 20 % of an empty log",
         None if r0 is None else (r1 is not None and r1 >= 0.8 * r0),
         f"{rate(full)} vs {rate(empty)}" + (f" ({r1 / r0:.0%})" if r0 and r1 else "")),
        ("first send within 2 s of `letterd started`", all(f is not None and f <= 2 for f in firsts),
         " / ".join("no send" if f is None else f"{f:.2f} s" for f in firsts)),
        ("no turn of the loop over 100 ms",
         None if any(t is None for t in turns) and not any(p["run"]["slow_turns"] for p in pts)
         else all(t is not None and t <= 100 for t in turns) and not any(p["run"]["slow_turns"] for p in pts),
         " / ".join(turn(p) for p in pts)),
        ("no turn over 100 ms while the daemon's retention erases",
         all(p["housekeeping"]["longest_turn"] is not None and p["housekeeping"]["longest_turn"] <= 100
             and not p["housekeeping"]["slow_turns"] for p in pts),
         " / ".join(housekeeping(p) for p in pts)),
        ("every organiser command under 64 MiB resident", all(x is not None and x < 64 * MIB for x in rss_all)
         and all(p["commands"][n]["code"] == 0 for p in pts for n in p["commands"]),
         f"largest {max((x for x in rss_all if x is not None), default=0) / MIB:.1f} MiB"),
        ("retention returns ≥ 80 % of freed pages to the filesystem", released > 0 and returned >= 0.8 * released,
         f"{returned:,} of {released:,} pages" if released > 0 else "no page freed"),
    ]
    sizes = " | ".join(f"{p['in_log']:,} in the log" for p in pts)
    made = f", made in {s['made_in']:.0f} s" if s["made_in"] else ""
    lines = [
        MARK_BEGIN,
        "## A million letters in the log",
        "",
        f"Measured by `bench/run --scale` on {started:%Y-%m-%d} ({started:%H:%M} UTC): {machine()}.",
        f"letterd: {os.path.abspath(letterd)} (sha256 {binary_tag(letterd)}…), the repository at {git_rev()}.",
        "",
        f"The log: `bench/make-log --messages {full['in_log']:,}`{made}: a real campaign sent by letterd (200",
        "submissions of two letters, some deferred, some refused, some files rejected), its rows copied with",
        "fresh ids until the log holds that many letters, their times spread over the past `--days` (20).",
        "Each figure is one run on a fresh copy of it (sending: the median of three); the empty log is letterd's own new database. Every",
        f"command had {timeout:g} s; one that took longer was stopped (SIGTERM, SIGKILL 15 s later).",
        "",
        "| goal | met | measured (empty log / full log) |",
        "|---|---|---|",
        *[f"| {g} | {ok(m)} | {v} |" for g, m, v in goals],
        "",
        f"| figure | {sizes} | how |",
        "|---|---|---|---|",
        f"| sending {s['letters']:,} new letters | {rate(empty)} | {rate(full)} | the files dropped in `new/` before "
        "`letterd run --once` starts, sent to `smtp-sink`, 2 connections; letters ÷ wall time, the median of "
        f"{SEND_RUNS} runs (each in brackets), each on a fresh copy of the log |",
        f"| start to first send | {first(empty)} | {first(full)} | from the log line `letterd started` to the earliest "
        "`sent_at` among the new letters (letterd run with TZ=UTC, so both clocks read alike) |",
        f"| longest turn of the loop | {turn(empty)} | {turn(full)} | letterd's own line at stop, `the longest turn "
        "of the loop took N ms`, and its warnings `a turn of the loop took N ms` |",
        f"| peak RSS of that run | {command_rss(empty)} | {command_rss(full)} | GNU time |",
        f"| the daemon's retention at start | {housekeeping(empty)} | {housekeeping(full)} | `letterd run` after "
        "`letterd purge` below, `retention.bodies` set so about half the bodies left are past it "
        f"({empty['housekeeping']['retention']} / {full['housekeeping']['retention']}), with "
        f"{letters:,} new letters waiting in `new/`; from `letterd started` to its line `retention: "
        "erased N letter bodies`, the longest turn of the loop meanwhile, and how many of the new letters were "
        "sent by then |",
        *[f"| `letterd {how}` | {command(empty, name)} | {command(full, name)} | wall time and peak RSS (GNU time)"
          f"{note} |" for name, how, note in (
              ("status", "status", ""), ("log", "log --format csv", ", output to /dev/null"),
              ("report", "report", ""),
              ("purge", "purge", ", `retention.bodies` set so about half the bodies are past it "
               f"({empty['commands']['purge']['retention']} / {full['commands']['purge']['retention']})"))],
        f"| bytes a letter before retention | {per_letter(empty, 'before')} | {per_letter(full, 'before')} | "
        "database file with its `-wal`, ÷ letters in `messages`, after the run and the commands |",
        f"| bytes a letter after retention | {per_letter(empty, 'after')} | {per_letter(full, 'after')} | "
        "the same after `letterd purge` |",
        f"| what retention gave back | {retention(empty)} | {retention(full)} | file sizes, and `PRAGMA "
        "page_count` and `freelist_count` before and after: pages freed = fewer pages + more free ones; "
        "returned = fewer pages |",
        "",
        MARK_END,
    ]
    return "\n".join(lines)


def command_rss(p):
    rss = p["run"]["rss"]
    return "–" if rss is None else f"{rss / MIB:.1f} MiB"


MARK_BEGIN = "<!-- bench/run --scale: from here to its end mark -->"
MARK_END = "<!-- end of bench/run --scale -->"


def scale_section(text):
    """The --scale section of docs/BENCHMARKS.md as it stands, or ''."""
    if MARK_BEGIN in text and MARK_END in text:
        return text[text.index(MARK_BEGIN):text.index(MARK_END) + len(MARK_END)]
    return ""


def with_scale_section(text, section):
    """`text` with its --scale section replaced by `section`, or `section` put before ## Reproduce."""
    old = scale_section(text)
    if old:
        return text.replace(old, section)
    if "\n## Reproduce" in text:
        head, tail = text.split("\n## Reproduce", 1)
        return head.rstrip("\n") + "\n\n" + section + "\n\n## Reproduce" + tail
    return text.rstrip("\n") + "\n\n" + section + "\n"


def main_scale(args):
    q = args.quick
    letters = 500 if q else args.letters
    messages = 2000 if q else args.scale_messages
    letterd = set_up()
    started = datetime.datetime.now(datetime.timezone.utc)
    print(f"bench: {machine()}", flush=True)
    t = time.monotonic()
    result = scale(letterd, letters, messages, args.scale_log, args.step_timeout)
    print(f"bench: scale done in {time.monotonic() - t:.0f} s", flush=True)
    section = render_scale(result, letterd, started)
    print(section)
    if not q and not args.no_write:
        path = os.path.join(ROOT, "docs", "BENCHMARKS.md")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        with open(path, "w", encoding="utf-8") as f:
            f.write(with_scale_section(text, section))
        print("bench: section written to docs/BENCHMARKS.md")
