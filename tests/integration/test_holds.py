"""Holds, release and cancel against a running daemon: an organiser's
command stops or resumes sending within a second, with no signal, and a
cancelled letter never reaches the relay."""
import json
import os
import time
import unittest

from harness import RelayTestCase, submission

JUSTICE = "justice.secretary@example.org"


def supporters(letterd, count, prefix="s"):
    """Drops `count` valid submissions from different supporters: two letters each."""
    for i in range(count):
        sub = submission(id=f"{prefix}{i}")
        sub["supporter"] = dict(sub["supporter"], email=f"{prefix}{i}@example.org", name=f"Supporter {i}")
        letterd.drop(f"{prefix}{i}.json", sub)


def utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Holds(RelayTestCase):
    def setUp(self):
        super().setUp()
        # Two letters a second, so letters are still waiting when the organiser
        # acts; no rescan for an hour, so only the database can tell the daemon.
        self.letterd.relay["rate"] = {"per_second": 2}
        self.letterd.extra = {"queue": {"rescan": "1h"}}
        self.letterd.write_config()

    def to_justice(self, since=0.0):
        return [m for m in self.server.messages if JUSTICE in m["rcpt_tos"] and m["received_at"] > since]

    def wait_until(self, predicate, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        self.fail(f"{what} within {timeout}s: {self.letterd.messages()}")

    def test_a_hold_stops_the_ministers_letters_within_a_second_and_release_sends_them(self):
        supporters(self.letterd, 6)  # 12 letters: six seconds at two a second
        self.letterd.start()
        self.server.wait_for(2)
        held = self.letterd.cli("hold", "--letter", "justice-secretary", "--reason", "reshuffle: no minister yet",
                                check=True)
        asked = time.time()
        self.assertRegex(held.stdout, r"^hold 1: letter justice-secretary, \d+ waiting letter\(s\) held")

        # The MPs' letters all go; after a second, none to the minister does.
        self.wait_until(lambda: len(self.server.messages) - len(self.to_justice()) == 6, 10, "the MPs' letters sent")
        time.sleep(1)
        self.assertEqual(self.to_justice(since=asked + 1.0), [], "a hold is heard within a second")
        rows = self.letterd.query("SELECT status, hold_reason FROM messages WHERE recipient = ?", JUSTICE)
        waiting = [r for r in rows if r["status"] == "held"]
        self.assertGreaterEqual(len(waiting), 2, rows)
        self.assertEqual({r["hold_reason"] for r in waiting}, {"reshuffle: no minister yet"})
        self.assertEqual(len(waiting) + len(self.to_justice()), 6, "every letter to the minister is sent or held")

        holds = self.letterd.cli("holds", check=True).stdout
        self.assertRegex(holds, rf"\n1\s+{len(waiting)}\s+\*\s+justice-secretary\s+\*\s+\S+\s+holding\s+reshuffle")
        status = self.letterd.cli("status", check=True).stdout
        line = next(l for l in status.splitlines() if l.startswith("legal-advocacy"))
        self.assertEqual(int(line.split()[6]), len(waiting), "status counts the held letters")
        logged = json.loads(self.letterd.cli("log", "--status", "held", "--format", "json", check=True).stdout)
        self.assertEqual(len(logged), len(waiting))
        self.assertEqual({r["hold_reason"] for r in logged}, {"reshuffle: no minister yet"})

        released = self.letterd.cli("release", "--hold", "1", check=True)
        self.assertIn(f"hold 1 released: {len(waiting)} letter(s) to send now", released.stdout)
        self.server.wait_for(12, timeout=10)
        self.letterd.wait_for_status("sent", 12)
        self.assertRegex(self.letterd.cli("holds", check=True).stdout, r"\n1\s+0\s+.*released ")

    def test_cancelled_letters_are_never_sent_and_their_words_are_erased(self):
        supporters(self.letterd, 5)  # 10 letters
        self.letterd.start()
        self.server.wait_for(1)
        cancelled = self.letterd.cli("cancel", "--campaign", "legal-advocacy", "--reason", "campaign withdrawn",
                                     check=True)
        count = int(cancelled.stdout.split()[0])
        self.assertGreaterEqual(count, 6, cancelled.stdout)
        time.sleep(2)
        rows = self.letterd.messages()
        sent = [r for r in rows if r["status"] == "sent"]
        gone = [r for r in rows if r["status"] == "cancelled"]
        self.assertEqual(len(sent) + len(gone), 10, rows)
        self.assertEqual(len(self.server.messages), len(sent), "nothing cancelled reached the relay")
        for r in gone:
            self.assertIsNone(r["body"])
            self.assertIsNone(r["sent_at"])
            self.assertIsNotNone(r["ended_at"])
            self.assertEqual(r["smtp_response"], "cancelled by an organiser: campaign withdrawn")
        report = json.loads(self.letterd.cli("report", "--format", "json", check=True).stdout)
        self.assertEqual(sum(r["cancelled"] for r in report if r["scope"] == "target"), len(gone))
        self.assertEqual(sum(r["waiting"] + r["held"] for r in report if r["scope"] == "target"), 0)
        # What is ended cannot be cancelled again.
        again = self.letterd.cli("cancel", str(sent[0]["id"]), "--reason", "too late")
        self.assertEqual(again.returncode, 1)
        self.assertIn("already sent", again.stderr)

    def test_a_hold_until_a_time_releases_its_letters_by_itself(self):
        self.letterd.start()
        until = time.time() + 4
        held = self.letterd.cli("hold", "--campaign", "legal-advocacy", "--until", utc(until), "--reason",
                                "Parliament dissolved", check=True)
        self.assertIn("until " + utc(until)[:19], held.stdout)
        supporters(self.letterd, 1)
        self.wait_until(lambda: len(self.letterd.query("SELECT id FROM messages WHERE status = 'held'")) == 2, 5,
                        "two letters held at intake")
        self.assertEqual(self.server.messages, [], "nothing goes while the hold stands")
        received = self.server.wait_for(2, timeout=10)
        self.assertGreaterEqual(min(m["received_at"] for m in received), int(until) - 0.05)
        self.assertLess(max(m["received_at"] for m in received), until + 2.5, "released within a second of its end")
        self.assertIn("1 hold(s) reached their end: 2 letter(s) released", self.letterd.daemon_log())

    def test_mistakes_are_refused_with_the_usage(self):
        supporters(self.letterd, 1)
        self.letterd.run_once()
        for args, said in [
            (["hold", "--letter", "mp"], "needs --reason"),
            (["hold", "--letter", "mayor", "--reason", "x"], "no letter mayor"),
            (["hold", "--campaign", "nope", "--reason", "x"], "no campaign nope"),
            (["hold", "--until", "2020-01-01", "--reason", "x"], "already passed"),
            (["cancel", "--reason", "everything"], "at least one of --campaign"),
            (["cancel", "1", "--campaign", "legal-advocacy", "--reason", "x"], "not both"),
            (["release"], "--hold N or message IDs"),
            (["release", "abc"], "not a message id"),
        ]:
            result = self.letterd.cli(*args)
            self.assertEqual(result.returncode, 2, args)
            self.assertIn(said, result.stderr, args)
        self.assertEqual(self.letterd.cli("release", "1").returncode, 1, "a sent letter is not held")
        self.assertEqual(self.letterd.cli("release", "--hold", "7").returncode, 1, "no such hold")
        self.assertEqual(self.letterd.cli("holds", check=True).stdout, "no holds\n")


if __name__ == "__main__":
    unittest.main()


class VacantSeat(RelayTestCase):
    def test_a_vacant_seats_letters_are_accepted_and_held_never_failed(self):
        targets = os.path.join(self.letterd.dir, "targets.csv")
        with open(targets, "w") as f:
            f.write("id,name,email,constituency,status\n"
                    "mp-cities,Vacant seat,vacant.seat@example.org,Cities of London and Westminster,vacant\n"
                    "justice-secretary,Justice Secretary,justice.secretary@example.org,,\n")
        self.letterd.campaign["targets"] = targets
        self.letterd.write_config()
        # An organiser's hold on the letter too: its end must not send a vacant seat's letter.
        self.assertEqual(self.letterd.run_once().returncode, 0)  # makes the database
        hold = self.letterd.cli("hold", "--letter", "mp", "--reason", "waiting for the by-election")
        self.assertEqual(hold.returncode, 0, hold.stderr)
        self.letterd.drop("v.json", submission(id="v"))
        self.assertEqual(self.letterd.run_once().returncode, 0)
        hold_id = self.letterd.query("SELECT id FROM holds")[0]["id"]
        self.assertEqual(self.letterd.cli("release", "--hold", str(hold_id)).returncode, 0)
        self.assertEqual(self.letterd.run_once().returncode, 0)
        rows = {r["letter"]: r for r in self.letterd.query("SELECT letter, status, hold_reason FROM messages")}
        self.assertEqual(rows["mp"]["status"], "held")
        self.assertEqual(rows["mp"]["hold_reason"], "target mp-cities is vacant")
        self.assertEqual(rows["justice-secretary"]["status"], "sent")
        self.assertEqual([m["rcpt_tos"][0] for m in self.server.messages], [JUSTICE])
        held = self.letterd.cli("log", "--status", "held").stdout
        self.assertIn("mp-cities", held)
