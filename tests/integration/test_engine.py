"""The delivery engine under load and faults: parallel sessions, rate
limits that hold in every window, retries, signals and crash safety."""
import os
import signal
import socket
import sqlite3
import time
import unittest

from harness import Letterd, RelayTestCase, largest_window, submission
from smtp_server import CaptureServer


def supporters(letterd, count, prefix="s", **overrides):
    """Drops `count` valid submissions from different supporters."""
    for i in range(count):
        sub = submission(id=f"{prefix}{i}", **overrides)
        sub["supporter"] = dict(sub["supporter"], email=f"{prefix}{i}@example.org", name=f"Supporter {i}")
        letterd.drop(f"{prefix}{i}.json", sub)


class Engine(RelayTestCase):
    def test_parallel_sessions_share_the_work(self):
        self.letterd.relay["connections"] = 3
        self.letterd.write_config()
        supporters(self.letterd, 15)
        self.server.delay_next(30, 0.05)  # slow replies, so sessions overlap
        result = self.letterd.run_once()
        self.assertEqual(result.returncode, 0, result.stderr)
        received = self.server.wait_for(30)
        self.assertEqual(len({m["session_id"] for m in received}), 3, "three sessions, each reused")
        self.assertEqual(self.server.connections, 3)
        self.assertEqual({r["status"] for r in self.letterd.messages()}, {"sent"})

    def test_the_rate_limit_holds_in_every_one_second_window(self):
        self.letterd.relay.update({"connections": 2, "rate": {"per_second": 10}})
        self.letterd.write_config()
        supporters(self.letterd, 20)  # 40 letters: at 10 a second, four seconds at least
        started = time.time()
        result = self.letterd.run_once()
        self.assertEqual(result.returncode, 0, result.stderr)
        received = self.server.wait_for(40)
        elapsed = time.time() - started
        sends = [r["at"] for r in self.letterd.query("SELECT at FROM attempts ORDER BY at")]
        # The limiter's own clock: when each send began, from the log.
        as_seconds = [time.mktime(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) + int(s[20:23]) / 1000 for s in sends]
        self.assertLessEqual(largest_window(as_seconds), 10)
        # At the relay too: a send counts from when the relay had it, not when it began.
        self.assertLessEqual(largest_window([m["received_at"] for m in received], 1.0), 10)
        self.assertGreaterEqual(elapsed, 3.0)
        achieved = (len(as_seconds) - 1) / (as_seconds[-1] - as_seconds[0])
        self.assertGreater(achieved, 8.5, f"{achieved:.1f}/s: the limit should be used, not wasted")

    def test_per_target_limits_hold_letters_back_without_costing_attempts(self):
        self.letterd.campaign["per_target"] = {"per_hour": 2}
        self.letterd.write_config()
        supporters(self.letterd, 4, letters=["justice-secretary"])
        self.letterd.run_once()
        rows = self.letterd.messages()
        self.assertEqual(sorted(r["status"] for r in rows), ["queued", "queued", "sent", "sent"])
        held = [r for r in rows if r["status"] == "queued"]
        self.assertTrue(all(r["attempts"] == 0 for r in held))
        self.assertTrue(all(r["next_attempt_at"] > r["created_at"] for r in held))
        self.assertEqual(len(self.server.messages), 2)

    def test_a_reply_slower_than_the_timeout_defers_and_the_retry_delivers(self):
        self.letterd.relay["timeout"] = "1s"
        self.letterd.campaign["letters"].pop("justice-secretary")
        self.letterd.write_config()
        self.server.delay_next(1, 3.5)
        self.letterd.drop("slow.json", submission(id="slow"))
        started = time.time()
        self.letterd.run_once()
        self.assertLess(time.time() - started, 4.5)
        row = self.letterd.messages()[0]
        self.assertEqual(row["status"], "deferred", row)
        self.assertIsNone(row["smtp_code"], "a timeout after 354 is no reply code")
        time.sleep(1)
        self.letterd.run_once()
        self.assertEqual(self.letterd.messages()[0]["status"], "sent")

    def test_a_drop_is_noticed_without_waiting_for_the_rescan(self):
        self.letterd.extra = {"queue": {"rescan": "1h"}}
        self.letterd.write_config()
        self.letterd.start()
        self.letterd.drop("fast.json", submission(id="fast"))
        self.letterd.wait_for_status("sent", 2, timeout=5)
        self.assertEqual(self.letterd.stop(), 0)

    def test_sigterm_finishes_the_send_in_flight_and_exits_0(self):
        self.letterd.campaign["letters"].pop("justice-secretary")
        self.letterd.write_config()
        self.server.delay_next(1, 1.0)
        self.letterd.start()
        self.letterd.drop("t.json", submission(id="t"))
        deadline = time.time() + 5
        while time.time() < deadline and not self.letterd.query("SELECT 1 FROM messages WHERE status = 'sending'"):
            time.sleep(0.01)
        self.assertEqual(self.letterd.stop(signal.SIGTERM), 0)
        self.assertEqual(self.letterd.messages()[0]["status"], "sent")
        self.assertEqual(len(self.server.messages), 1)

    def test_sighup_reloads_a_good_config_and_keeps_the_old_one_over_a_bad_one(self):
        self.letterd.start()
        self.letterd.write_config("campaigns: [this is not a config\n")
        self.letterd.process.send_signal(signal.SIGHUP)
        self.letterd.drop("a.json", submission(id="a"))
        self.letterd.wait_for_status("sent", 2)
        self.letterd.campaign["mode"] = "reflect"
        self.letterd.write_config()
        self.letterd.process.send_signal(signal.SIGHUP)
        deadline = time.time() + 5
        while "config reloaded" not in self.letterd.daemon_log() and time.time() < deadline:
            time.sleep(0.02)
        sub = submission(id="b")
        sub["supporter"]["email"] = "b@example.org"
        self.letterd.drop("b.json", sub)
        self.letterd.wait_for_status("sent", 4)
        self.assertEqual(self.letterd.stop(), 0)
        log = self.letterd.daemon_log()
        self.assertIn("reload refused", log)
        self.assertIn("config reloaded", log)
        rcpts = [m["rcpt_tos"] for m in self.server.messages]
        self.assertEqual(rcpts[2:], [["b@example.org"], ["b@example.org"]], "the reloaded config is in force")


class RelayComesBack(unittest.TestCase):
    def test_a_relay_down_at_start_gets_the_letters_once_it_is_up(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        letterd = Letterd(port=port, retry={"first": "300ms", "max": "600ms", "lifetime": "1h"})
        self.addCleanup(letterd.cleanup)
        letterd.start()
        letterd.drop("w.json", submission(id="w"))
        deadline = time.time() + 5
        while "relay local paused" not in letterd.daemon_log() and time.time() < deadline:
            time.sleep(0.02)
        server = CaptureServer(port=port)
        server.start()
        self.addCleanup(server.stop)
        letterd.wait_for_status("sent", 2, timeout=10)
        self.assertEqual(letterd.stop(), 0)
        log = letterd.daemon_log()
        self.assertEqual(log.count("relay local paused"), 1, "loud once, not once per message")
        self.assertIn("relay local is working again", log)
        self.assertTrue(all(r["attempts"] == 1 for r in letterd.messages()))


class CrashSafety(unittest.TestCase):
    def test_sigkill_mid_run_loses_nothing_and_duplicates_within_the_bound(self):
        server = CaptureServer()
        server.start()
        self.addCleanup(server.stop)
        letterd = Letterd(port=server.port, relay={"connections": 2})
        self.addCleanup(letterd.cleanup)
        letterd.campaign["copy_to_supporter"] = "none"
        letterd.write_config()
        supporters(letterd, 1000)  # 2,000 letters
        letterd.start()
        deadline = time.time() + 60
        while len(server.messages) < 400 and time.time() < deadline:
            time.sleep(0.01)
        letterd.process.kill()
        letterd.process.wait()
        letterd.process = None
        letterd.log_file.close()
        before = len(server.messages)
        self.assertGreater(before, 0)

        result = letterd.run_once(timeout=300)
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        counts = letterd.query("SELECT status, count(*) AS n FROM messages GROUP BY status")
        self.assertEqual(counts, [{"status": "sent", "n": 2000}], "every letter sent, none left sending")
        ids = [m["data"].split(b"Message-ID: <", 1)[1].split(b">", 1)[0] for m in server.messages]
        self.assertEqual(len(set(ids)), 2000, "every letter arrived")
        # Per relay: a letter in hand per session, and up to 8 × connections not yet committed (README).
        self.assertLessEqual(len(ids) - 2000, 2 * 9, "at most 9 × connections duplicates")
        self.assertEqual(letterd.waiting(), [], "every file taken in exactly once")


if __name__ == "__main__":
    unittest.main()


class Review(RelayTestCase):
    """What a careful operator would try: reloads, removed campaigns, a busy database."""

    def test_a_reload_cannot_move_the_database_under_a_running_daemon(self):
        self.letterd.start()
        original = self.letterd.database
        moved = os.path.join(self.letterd.dir, "other.db")
        self.letterd.extra = {"database": moved}
        self.letterd.write_config()
        self.letterd.process.send_signal(signal.SIGHUP)
        self.letterd.drop("a.json", submission(id="a"))
        self.letterd.wait_for_status("sent", 2)
        self.assertEqual(self.letterd.stop(), 0)
        self.assertFalse(os.path.exists(moved))
        self.assertIn("takes effect only when letterd restarts", self.letterd.daemon_log())
        self.assertEqual(self.letterd.database, original)

    def test_letters_of_a_campaign_removed_from_the_config_are_not_sent(self):
        self.server.fail_next(2, 451, "4.3.0 later")
        self.letterd.drop("a.json", submission(id="a"))
        self.letterd.run_once()
        campaign = self.letterd.campaign
        self.letterd.extra = {"campaigns": {"another": campaign}}
        self.letterd.write_config()
        time.sleep(0.6)
        result = self.letterd.run_once()
        self.assertIn("the config has no such campaign; they are not sent", result.stderr)
        self.assertEqual(self.server.messages, [])
        self.assertEqual({r["status"] for r in self.letterd.messages()}, {"deferred"})

    def test_an_outcome_waits_for_a_busy_database_and_is_never_sent_twice(self):
        self.letterd.campaign["letters"].pop("justice-secretary")
        self.letterd.write_config()
        self.server.delay_next(1, 0.5)
        self.letterd.drop("busy.json", submission(id="busy"))
        self.letterd.start()
        deadline = time.time() + 5
        while time.time() < deadline and not self.letterd.query("SELECT 1 FROM messages WHERE status = 'sending'"):
            time.sleep(0.01)
        # Someone holds the write lock longer than SQLite's busy timeout (5 s).
        db = sqlite3.connect(self.letterd.database, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        time.sleep(7)
        db.execute("ROLLBACK")
        db.close()
        self.letterd.wait_for_status("sent", 1, timeout=15)
        self.assertEqual(self.letterd.stop(), 0)
        self.letterd.run_once()
        self.assertEqual(len(self.server.messages), 1, "recorded late, but recorded: not sent again")

    def test_once_waits_for_a_near_per_target_slot(self):
        self.letterd.campaign["per_target"] = {"per_second": 1}
        self.letterd.write_config()
        supporters(self.letterd, 3, letters=["justice-secretary"])
        started = time.time()
        self.letterd.run_once()
        self.assertEqual([r["status"] for r in self.letterd.messages()], ["sent"] * 3)
        self.assertGreaterEqual(time.time() - started, 2.0, "one a second to the same inbox")

    def test_a_try_that_never_reached_the_relay_gives_its_rate_slot_back(self):
        self.letterd.campaign["per_target"] = {"per_hour": 1}
        self.letterd.retry = {"first": "300ms", "max": "600ms", "lifetime": "1h"}
        port = self.server.port
        self.server.stop()
        self.letterd.write_config()
        self.letterd.start()
        self.letterd.drop("x.json", submission(id="x", letters=["justice-secretary"]))
        deadline = time.time() + 5
        while "relay local paused" not in self.letterd.daemon_log() and time.time() < deadline:
            time.sleep(0.02)
        server = CaptureServer(port=port)
        server.start()
        self.addCleanup(server.stop)
        self.letterd.wait_for_status("sent", 1, timeout=10)
        self.assertEqual(self.letterd.stop(), 0)

    def test_policy_refusals_pause_with_growing_waits_and_cost_one_attempt_at_most(self):
        for target in ("alex.example.mp@example.org", "justice.secretary@example.org"):
            self.server.reject_rcpt(target, 554, f"5.7.1 <{target}>: Relay access denied")
        self.letterd.retry = {"first": "200ms", "max": "1s", "lifetime": "2s"}
        self.letterd.write_config()
        self.letterd.start()
        self.letterd.drop("p.json", submission(id="p"))
        time.sleep(4)  # twice the lifetime: a letter counted per refusal would have failed
        self.assertEqual(self.letterd.stop(), 0)
        rows = self.letterd.messages()
        self.assertEqual({r["status"] for r in rows}, {"deferred"}, rows)
        self.assertLessEqual(sum(r["attempts"] for r in rows), 1)
        log = self.letterd.daemon_log()
        self.assertEqual(log.count("relay local paused"), 1, "loud once")
        self.assertIn("relay local still failing", log)
