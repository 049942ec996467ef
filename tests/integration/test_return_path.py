"""Per-letter return paths against the real SMTP server: with a campaign's
return_path, every letter's envelope sender is LOCAL+ID-CHECK@DOMAIN, the
check an HMAC-SHA-256 under the key letterd made and keeps in its database,
so a bounce names its letter and a forged one names none. The supporter's
copy goes apart, from the bare return path: it names no letter, so its
supporter cannot make a bounce of their letter from it. Without a
return_path the envelope sender is the From address, as before."""
import hashlib
import hmac
import re
import unittest

from harness import RelayTestCase, submission


class ReturnPath(RelayTestCase):
    def test_each_letter_goes_with_its_own_signed_return_path(self):
        self.letterd.campaign["return_path"] = "bounces@campaign.example.org"
        self.letterd.write_config()
        for n in range(2):
            sub = submission(id=f"r{n}")
            sub["supporter"] = dict(sub["supporter"], email=f"r{n}@example.org")
            self.letterd.drop(f"r{n}.json", sub)
        self.assertEqual(self.letterd.run_once().returncode, 0)
        received = self.server.wait_for(8)
        copies = [m for m in received if m["rcpt_tos"][0] in ("r0@example.org", "r1@example.org")]
        received = [m for m in received if m not in copies]
        self.assertEqual([len(m["rcpt_tos"]) for m in received], [1] * 4, "each letter to its recipient alone")
        self.assertEqual(len(copies), 4, "each supporter has a copy of each of their letters")
        self.assertEqual({(m["mail_from"], len(m["rcpt_tos"])) for m in copies}, {("bounces@campaign.example.org", 1)})
        self.assertEqual(sorted(m["data"] for m in copies), sorted(m["data"] for m in received),
                         "the copy is the letter as sent")
        key = bytes(self.letterd.query("SELECT value FROM secrets WHERE name = 'return_path_key'")[0]["value"])
        self.assertEqual(len(key), 32)
        ids = set()
        for message in received:
            match = re.fullmatch(r"bounces\+(\d+)-([0-9a-f]{16})@campaign\.example\.org", message["mail_from"])
            self.assertIsNotNone(match, message["mail_from"])
            letter, check = match.groups()
            expected = hmac.new(key, b"letterd return path " + letter.encode(), hashlib.sha256).hexdigest()[:16]
            self.assertEqual(check, expected, "the check is the keyed hash of the letter's id")
            ids.add(int(letter))
        self.assertEqual(ids, {r["id"] for r in self.letterd.query("SELECT id FROM messages")},
                         "each letter names itself")

        # The key lasts as long as the database: a later run signs with the same one.
        self.letterd.drop("later.json", dict(submission(id="later"),
                                             supporter=dict(submission()["supporter"], email="later@example.org")))
        self.assertEqual(self.letterd.run_once().returncode, 0)
        self.server.wait_for(12)
        again = bytes(self.letterd.query("SELECT value FROM secrets WHERE name = 'return_path_key'")[0]["value"])
        self.assertEqual(again, key)

    def test_without_a_return_path_the_envelope_sender_is_the_from_address(self):
        self.letterd.drop("f.json", submission(id="f"))
        self.assertEqual(self.letterd.run_once().returncode, 0)
        received = self.server.wait_for(2)
        self.assertEqual({m["mail_from"] for m in received}, {"letters@example.org"})
        self.assertEqual([m["rcpt_tos"][1] for m in received], ["jane@example.org"] * 2,
                         "the copy rides in the letter's own transaction")

    def test_a_return_path_too_long_for_smtp_is_refused_naming_the_key(self):
        self.letterd.campaign["return_path"] = "a-very-long-mailbox-name-for-bounces@campaign.example.org"
        self.letterd.write_config()
        check = self.letterd.cli("check")
        self.assertEqual(check.returncode, 2)
        self.assertIn("campaigns.legal-advocacy.return_path: its local part is longer than 26 characters",
                      check.stderr + check.stdout)


if __name__ == "__main__":
    unittest.main()
