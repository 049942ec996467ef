"""Daily digests against the real SMTP server: thirty letters to the
Justice Secretary arrive as one email at the digest's time, listing the
thirty writers and giving each letter once; with max_letters they go as
several; a SIGKILL while a digest is on the wire, then a restart, leaves
every letter in exactly one digest. The digest's time is computed from
the test's own clock, seconds ahead."""
import collections
import datetime
import re
import signal
import time
import unittest

from harness import RelayTestCase, parse, submission


def seconds_ahead(n):
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=n)
    if moment.date() != datetime.datetime.now(datetime.timezone.utc).date():
        time.sleep(n + 1)  # the digest's time must come today
        return seconds_ahead(n)
    return moment.replace(microsecond=0)


class Digests(RelayTestCase):
    def configure(self, at, max_letters=500):
        self.letterd.campaign["letters"]["justice-secretary"]["digest"] = {
            "at": at.strftime("%H:%M:%S"), "max_letters": max_letters}
        self.letterd.campaign["copy_to_supporter"] = "none"
        self.letterd.write_config()

    def drop(self, count):
        for n in range(count):
            sub = submission(id=f"d{n}", letters=["justice-secretary"])
            sub["supporter"] = dict(sub["supporter"], email=f"d{n}@example.org", name=f"Writer {n:02d}")
            self.letterd.drop(f"d{n}.json", sub)

    def test_thirty_letters_arrive_as_one_digest_listing_thirty_writers(self):
        at = seconds_ahead(4)
        self.configure(at)
        self.letterd.start()
        self.drop(30)
        self.letterd.wait_for_status("collecting", 30)
        self.assertEqual(self.server.messages, [], "nothing goes before the digest's time")
        digest = self.server.wait_for(1, timeout=15)[0]
        time.sleep(0.5)
        self.assertEqual(len(self.server.messages), 1, "one email for thirty letters")
        self.assertGreaterEqual(datetime.datetime.now(datetime.timezone.utc), at)
        message = parse(digest["data"])
        self.assertEqual(digest["rcpt_tos"], ["justice.secretary@example.org"])
        self.assertTrue(message["Subject"].startswith("30 constituents wrote to you: "), message["Subject"])
        text = message.get_content().replace("\r\n", "\n")
        listed = re.findall(r"^  \d+\. (Writer \d\d), SW1A 1AA$", text, re.M)
        self.assertEqual(sorted(listed), [f"Writer {n:02d}" for n in range(30)])
        letters = re.findall(r"^Letter \d+ of 30, from (Writer \d\d)$", text, re.M)
        self.assertEqual(sorted(letters), [f"Writer {n:02d}" for n in range(30)], "each letter once")
        self.assertEqual(text.count("Email: d"), 30)
        self.assertIn("As a person who works with survivors", text)

        self.letterd.wait_for_status("sent", 31)
        rows = self.letterd.query("SELECT letter, status, digest_message_id, message_id FROM messages")
        digest_row = [r for r in rows if r["letter"] == "digest/justice-secretary"]
        self.assertEqual(len(digest_row), 1)
        self.assertEqual(message["Message-ID"].strip("<>"), digest_row[0]["message_id"])
        self.assertEqual({(r["status"], r["digest_message_id"]) for r in rows if r["letter"] == "justice-secretary"},
                         {("sent", digest_row[0]["message_id"])}, "each letter names its digest")
        report = self.letterd.cli("report", "--format", "json", check=True).stdout
        self.assertNotIn("digest/", report, "a digest is no target's letter in the report")

    def test_a_kill_during_a_digest_leaves_every_letter_in_exactly_one_digest(self):
        at = seconds_ahead(4)
        self.configure(at, max_letters=10)
        self.server.delay_next(1, 4)  # the first digest's end of DATA is answered 4 s late
        self.letterd.start()
        self.drop(30)
        self.letterd.wait_for_status("collecting", 30)
        while datetime.datetime.now(datetime.timezone.utc) < at + datetime.timedelta(seconds=1.5):
            time.sleep(0.1)
        self.assertTrue(self.letterd.query("SELECT id FROM messages WHERE status = 'sending'"),
                        "digests are on the wire (claimed ahead, the first held by the relay)")
        self.letterd.stop(signal.SIGKILL)
        self.server.clear_faults()
        self.letterd.start()
        self.letterd.wait_for_status("sent", 33, timeout=20)
        self.letterd.stop()

        writers_by_digest = collections.defaultdict(set)
        for m in self.server.messages:
            message = parse(m["data"])
            writers = re.findall(r"^Letter \d+ of \d+, from (Writer \d\d)$",
                                 message.get_content().replace("\r\n", "\n"), re.M)
            writers_by_digest[message["Message-ID"]].update(writers)
        digests_of = collections.defaultdict(list)
        for message_id, writers in writers_by_digest.items():
            for w in writers:
                digests_of[w].append(message_id)
        self.assertEqual(len(writers_by_digest), 3, "three digests of ten")
        self.assertEqual(sorted(digests_of), [f"Writer {n:02d}" for n in range(30)])
        self.assertEqual({w: len(ids) for w, ids in digests_of.items() if len(ids) != 1}, {},
                         "every letter in exactly one digest")

    def test_a_supporters_erasure_takes_their_letter_out_of_a_digest_waiting_to_go(self):
        self.configure(seconds_ahead(3))
        self.server.fail_next(1000, 451, "4.3.0 try later")
        self.letterd.start()
        self.drop(5)
        self.letterd.wait_for_status("collecting", 5)
        deadline = time.time() + 15
        while not self.letterd.query("SELECT id FROM messages WHERE letter = 'digest/justice-secretary' "
                                     "AND status = 'deferred'"):
            self.assertLess(time.time(), deadline, "the digest was never tried")
            time.sleep(0.1)
        self.letterd.cli("purge", "--supporter", "d2@example.org", check=True)
        self.server.clear_faults()
        message = parse(self.server.wait_for(1, timeout=15)[0]["data"])
        text = message.get_content().replace("\r\n", "\n")
        self.assertEqual(sorted(re.findall(r"^Letter \d+ of 4, from (Writer \d\d)$", text, re.M)),
                         ["Writer 00", "Writer 01", "Writer 03", "Writer 04"], "the erased supporter's letter is out")
        self.assertTrue(message["Subject"].startswith("4 constituents"))
        digests = self.letterd.query("SELECT status, body IS NULL AS erased FROM messages "
                                     "WHERE letter = 'digest/justice-secretary' ORDER BY id")
        self.assertEqual(digests[0], {"status": "cancelled", "erased": 1}, "the first digest, with the letter in it")

    def test_a_failed_digest_fails_its_letters_and_retry_sends_the_digest_again_not_the_letters(self):
        self.configure(seconds_ahead(2))
        self.server.fail_next(1, 550, "5.7.1 refused")
        self.drop(3)
        self.assertEqual(self.letterd.run_once().returncode, 0)  # takes the files; the digest's time is to come
        time.sleep(2.5)
        self.assertEqual(self.letterd.run_once().returncode, 0)
        statuses = {(r["letter"], r["status"]) for r in self.letterd.query("SELECT letter, status FROM messages")}
        self.assertEqual(statuses, {("justice-secretary", "failed"), ("digest/justice-secretary", "failed")})
        self.letterd.cli("retry", "--failed", check=True)
        self.assertEqual(self.letterd.run_once().returncode, 0)
        delivered = self.server.wait_for(1)
        time.sleep(0.3)
        self.assertEqual(len(self.server.messages), 1, "the digest again, never its letters one by one")
        self.assertTrue(parse(delivered[0]["data"])["Subject"].startswith("3 constituents"))
        self.assertEqual({r["status"] for r in self.letterd.query("SELECT status FROM messages")}, {"sent"})

    def test_an_organisers_hold_keeps_collecting_letters_out_of_the_digest(self):
        self.configure(seconds_ahead(2))
        self.drop(2)
        self.assertEqual(self.letterd.run_once().returncode, 0)
        self.letterd.cli("hold", "--letter", "justice-secretary", "--reason", "reshuffle", check=True)
        time.sleep(2.5)
        self.assertEqual(self.letterd.run_once().returncode, 0)
        self.assertEqual(self.server.messages, [], "no digest of held letters")
        self.assertEqual({r["status"] for r in self.letterd.query("SELECT status FROM messages")}, {"held"})


if __name__ == "__main__":
    unittest.main()
