"""Delivery truth from a Maildir and from a real IMAP server (Dovecot, over
TLS), with letters sent to the real SMTP server: a report
that comes back to a letter's own return path marks exactly that letter
bounced, once however often the mailbox is read; a forged return path marks
nothing; an automatic reply acknowledges its letter; the daemon reads the
mailbox by itself every bounces.poll; log, status and report show it all."""
import json
import os
import re
import time
import unittest

from harness import SOURCE, RelayTestCase, parse, submission
from imap_server import PASSWORD, USER, Dovecot

CORPUS = os.path.join(SOURCE, "tests", "data", "bounces")


def return_path_of(server, letter_id):
    """The envelope sender the letter went with: its return path with its token."""
    return next(m["mail_from"] for m in server.messages if m["mail_from"].startswith(f"bounces+{letter_id}-"))


def corpus(name):
    with open(os.path.join(CORPUS, name), encoding="utf-8") as f:
        return f.read()


class MaildirCase(RelayTestCase):
    """A campaign with a return path, and its bounce mailbox a Maildir."""

    def setUp(self):
        super().setUp()
        self.maildir = os.path.join(self.letterd.dir, "bounces")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(self.maildir, sub))
        self.letterd.campaign["return_path"] = "bounces@campaign.example.org"
        self.letterd.extra = {"bounces": {"maildir": self.maildir, "poll": "1s"}}
        self.letterd.write_config()


class Bounces(MaildirCase):
    def send_two(self):
        self.letterd.drop("b.json", submission(id="b"))
        self.assertEqual(self.letterd.run_once().returncode, 0)
        self.server.wait_for(2)
        rows = self.letterd.query("SELECT id, letter, recipient, message_id FROM messages ORDER BY id")
        return {r["letter"]: dict(r, return_path=return_path_of(self.server, r["id"])) for r in rows}

    def deliver(self, name, text):
        """Drops a mail into the Maildir as a local delivery agent does: tmp/, then new/."""
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.rename(tmp, os.path.join(self.maildir, "new", name))

    def report_for(self, letter, token_address=None):
        """Postfix's own report of a user unknown, addressed to the letter's return path."""
        text = corpus("postfix-user-unknown.eml")
        text = text.replace("bounces+12-0123456789abcdef@campaign.example.org", token_address or letter["return_path"])
        text = text.replace("former.mp@mp.example.org", letter["recipient"])
        return text.replace("01a2.deadbeef.letterd@example.org", "no-such-id@example.org")

    def test_a_report_marks_exactly_its_letter_once(self):
        letters = self.send_two()
        self.assertRegex(letters["mp"]["return_path"], r"^bounces\+\d+-[0-9a-f]{16}@campaign\.example\.org$")
        self.deliver("1.relay", self.report_for(letters["mp"]))
        result = self.letterd.cli("bounces", "--once")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("1 mail(s) read: 1 hard bounce(s) (1 letter(s) marked bounced)", result.stdout)
        rows = {r["letter"]: r for r in self.letterd.query(
            "SELECT letter, status, bounce_status, bounce_diagnostic, bounced_at FROM messages")}
        self.assertEqual(rows["mp"]["status"], "bounced")
        self.assertEqual(rows["mp"]["bounce_status"], "5.1.1")
        self.assertIn("User unknown", rows["mp"]["bounce_diagnostic"])
        self.assertNotIn("@", rows["mp"]["bounce_diagnostic"], "addresses are replaced")
        self.assertIsNotNone(rows["mp"]["bounced_at"])
        self.assertEqual(rows["justice-secretary"]["status"], "sent", "the other letter is untouched")
        self.assertEqual(os.listdir(os.path.join(self.maildir, "new")), [])
        self.assertEqual(os.listdir(os.path.join(self.maildir, "cur")), ["1.relay:2,S"])

        # Read again, and the same mail delivered a second time under another name: counted once.
        self.deliver("2.relay", self.report_for(letters["mp"]))
        again = self.letterd.cli("bounces", "--once", check=True)
        self.assertIn("0 mail(s) read", again.stdout)
        self.assertEqual(len(self.letterd.query("SELECT id FROM bounces")), 1)

        logged = json.loads(self.letterd.cli("log", "--status", "bounced", "--format", "json", check=True).stdout)
        self.assertEqual([(r["letter"], r["bounce_status"]) for r in logged], [("mp", "5.1.1")])
        status = self.letterd.cli("status", check=True).stdout
        line = next(l for l in status.splitlines() if l.startswith("legal-advocacy"))
        self.assertEqual(int(line.split()[8]), 1, "status counts the bounced letter")
        report = json.loads(self.letterd.cli("report", "--format", "json", check=True).stdout)
        self.assertEqual(sum(r["bounced"] for r in report if r["scope"] == "target"), 1)

    def test_a_maildir_without_cur_is_said_and_its_mail_waits(self):
        letters = self.send_two()
        os.rmdir(os.path.join(self.maildir, "cur"))
        self.deliver("1.relay", self.report_for(letters["mp"]))
        result = self.letterd.cli("bounces", "--once", timeout=30)
        self.assertEqual(result.returncode, 1)
        self.assertIn("1 could not be read and wait in new/", result.stdout)
        self.assertEqual(os.listdir(os.path.join(self.maildir, "new")), ["1.relay"])

    def test_a_forged_return_path_marks_nothing(self):
        letters = self.send_two()
        real = letters["mp"]["return_path"]
        forged = re.sub(r"-[0-9a-f]{16}@", "-0000000000000000@", real)
        self.deliver("forged", self.report_for(letters["mp"], token_address=forged))
        result = self.letterd.cli("bounces", "--once", check=True)
        self.assertIn("1 named no letter (1 with a forged return path)", result.stdout)
        self.assertEqual({r["status"] for r in self.letterd.query("SELECT status FROM messages")}, {"sent"})
        self.assertEqual(self.letterd.query("SELECT message_id, kind FROM bounces"), [{"message_id": None, "kind": "hard"}])

    def test_a_bounce_by_message_id_alone_cannot_mark_a_letter_sent_with_a_return_path(self):
        letters = self.send_two()
        # Whoever saw the letter (its supporter's copy, the office) knows its Message-ID.
        text = corpus("qmail-failure-notice.eml").replace("bounces+16-0123456789abcdef@campaign.example.org",
                                                          "bounces@campaign.example.org")
        text = text.replace("01a6.abba.letterd@example.org", letters["mp"]["message_id"])
        text = text.replace("retired.mp@mp.example.org", letters["mp"]["recipient"])
        self.deliver("by-id", text)
        result = self.letterd.cli("bounces", "--once", check=True)
        self.assertIn("1 named no letter", result.stdout)
        self.assertEqual({r["status"] for r in self.letterd.query("SELECT status FROM messages")}, {"sent"})

    def test_the_supporters_own_out_of_office_does_not_acknowledge_the_letter(self):
        sub = submission(id="s")
        sub["supporter"] = dict(sub["supporter"], email="jane@supporter.example.com")
        self.letterd.drop("s.json", sub)
        self.assertEqual(self.letterd.run_once().returncode, 0)
        self.server.wait_for(2)
        minister = self.letterd.query("SELECT id, message_id, recipient FROM messages WHERE letter = "
                                      "'justice-secretary'")[0]
        # The supporter's copy came from the bare return path; their out-of-office answers it.
        copy = next(m for m in self.server.messages if m["rcpt_tos"] == ["jane@supporter.example.com"])
        self.assertEqual(copy["mail_from"], "bounces@campaign.example.org")
        text = corpus("out-of-office.eml").replace("bounces+18-0123456789abcdef@campaign.example.org", copy["mail_from"])
        text = text.replace("Robin Fictional MP <robin.fictional.mp@example.org>",
                            "Jane Doe <jane@supporter.example.com>")
        self.deliver("own-ooo", text.replace("01a8.face.letterd@example.org", minister["message_id"]))
        self.assertIn("1 named no letter", self.letterd.cli("bounces", "--once", check=True).stdout)
        self.assertIsNone(self.letterd.query("SELECT acknowledged_at FROM messages WHERE id = ?",
                                             minister["id"])[0]["acknowledged_at"])

    def test_an_automatic_reply_acknowledges_its_letter(self):
        letters = self.send_two()
        minister = letters["justice-secretary"]
        text = corpus("out-of-office.eml").replace("bounces+18-0123456789abcdef@campaign.example.org",
                                                   minister["return_path"])
        text = text.replace("01a8.face.letterd@example.org", minister["message_id"])
        self.deliver("ooo", text)
        self.assertIn("1 automatic reply(ies)", self.letterd.cli("bounces", "--once", check=True).stdout)
        row = self.letterd.query("SELECT status, acknowledged_at FROM messages WHERE id = ?", minister["id"])[0]
        self.assertEqual(row["status"], "sent")
        self.assertIsNotNone(row["acknowledged_at"])
        report = json.loads(self.letterd.cli("report", "--format", "json", check=True).stdout)
        self.assertEqual(sum(r["acknowledged"] for r in report if r["scope"] == "target"), 1)

    def test_an_address_that_keeps_bouncing_holds_its_letters_until_it_is_corrected(self):
        targets = os.path.join(self.letterd.dir, "targets.csv")
        with open(os.path.join(SOURCE, "config", "targets", "uk-mps.csv"), encoding="utf-8") as f:
            original = f.read()
        with open(targets, "w", encoding="utf-8") as f:
            f.write(original)
        self.letterd.campaign["targets"] = targets
        self.letterd.extra["bounces"]["hold_target_after"] = 2
        self.letterd.write_config()
        for n in (1, 2):
            sub = submission(id=f"s{n}")
            sub["supporter"] = dict(sub["supporter"], email=f"s{n}@example.org")
            self.letterd.drop(f"s{n}.json", sub)
        self.assertEqual(self.letterd.run_once().returncode, 0)
        self.server.wait_for(4)
        mp_letters = self.letterd.query(
            "SELECT m.id, recipient, supporter_email FROM messages m WHERE letter = 'mp' ORDER BY m.id")
        for i, letter in enumerate(mp_letters):
            letter["return_path"] = return_path_of(self.server, letter["id"])
            self.deliver(f"b{i}", self.report_for(letter))
        self.assertIn("2 letter(s) marked bounced", self.letterd.cli("bounces", "--once", check=True).stdout)

        # A third supporter writes to the same address: the letter waits.
        sub = submission(id="s3")
        sub["supporter"] = dict(sub["supporter"], email="s3@example.org")
        self.letterd.drop("s3.json", sub)
        self.assertEqual(self.letterd.run_once().returncode, 0)
        held = self.letterd.query("SELECT id, status, hold_reason FROM messages WHERE letter = 'mp' AND status = 'held'")
        self.assertEqual([r["hold_reason"] for r in held],
                         ["the address of target mp-cities-of-london-and-westminster bounces"])
        sent_before = len(self.server.messages)

        # The organiser corrects the address: the held letter goes there, and a retried one too.
        with open(targets, "w", encoding="utf-8") as f:
            f.write(original.replace("alex.example.mp@example.org", "alex.mp.office@example.org"))
        self.letterd.cli("retry", str(mp_letters[0]["id"]), check=True)
        self.assertEqual(self.letterd.run_once().returncode, 0)
        new = [m for m in self.server.wait_for(sent_before + 4)[sent_before:]]
        letters = [m for m in new if m["mail_from"] != "bounces@campaign.example.org"]  # not the copies
        self.assertEqual(sorted(m["rcpt_tos"][0] for m in letters), ["alex.mp.office@example.org"] * 2)

    def test_the_daemon_reads_the_mailbox_every_poll(self):
        letters = self.send_two()
        self.letterd.start()
        self.deliver("later", self.report_for(letters["mp"]))
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.letterd.query("SELECT status FROM messages WHERE id = ?", letters["mp"]["id"])[0]["status"] == "bounced":
                break
            time.sleep(0.1)
        else:
            self.fail("the daemon did not read the bounce: " + self.letterd.daemon_log())
        self.assertIn("bounce mailbox: 1 mail(s) read", self.letterd.daemon_log())


class Notices(MaildirCase):
    """campaigns.NAME.notify_supporter: one short notice per letter that did
    not arrive, to its supporter, with none of the letter in it."""

    def setUp(self):
        super().setUp()
        self.letterd.campaign["notify_supporter"] = {"on": ["failed", "bounced"],
                                                     "template": os.path.join(SOURCE, "templates", "notice.txt")}
        self.letterd.write_config()

    def notices(self):
        """What reached the supporter, but for the copies of their letters (from the bare return path)."""
        return [m for m in self.server.messages
                if m["rcpt_tos"] == ["jane@example.org"] and m["mail_from"] != "bounces@campaign.example.org"]

    def assert_nothing_of_the_letter(self, message):
        text = parse(message["data"]).get_content()
        for words in ("As a person who works with survivors", "legal advocacy", "Loughborough", "1 Example Street"):
            self.assertNotIn(words, text)
        return text

    def test_a_letter_that_failed_brings_its_supporter_one_notice(self):
        self.server.reject_rcpt("alex.example.mp@example.org")
        self.letterd.drop("n.json", submission(id="n"))
        self.assertEqual(self.letterd.run_once().returncode, 0)
        notices = self.notices()
        self.assertEqual(len(notices), 1, [m["rcpt_tos"] for m in self.server.messages])
        message = parse(notices[0]["data"])
        self.assertEqual(message["Subject"], "Your letter to Alex Example MP did not arrive")
        text = self.assert_nothing_of_the_letter(notices[0])
        self.assertIn("Dear Jane Doe,", text)
        self.assertIn("it failed (550)", text)
        rows = self.letterd.query("SELECT letter, status, notice_for FROM messages ORDER BY id")
        self.assertEqual([(r["letter"], r["status"]) for r in rows],
                         [("mp", "failed"), ("justice-secretary", "sent"), ("notice/mp", "sent")])
        self.assertEqual(self.letterd.run_once().returncode, 0)
        self.assertEqual(len(self.notices()), 1, "one notice per letter")
        logged = self.letterd.cli("log", check=True).stdout
        self.assertIn("notice/mp", logged)
        report = json.loads(self.letterd.cli("report", "--format", "json", check=True).stdout)
        self.assertFalse([r for r in report if r["key"].startswith("supporter/")], "notices are no target's letters")

    def test_a_letter_that_bounced_brings_its_supporter_one_notice(self):
        self.letterd.drop("n.json", submission(id="n"))
        self.assertEqual(self.letterd.run_once().returncode, 0)
        mp = self.letterd.query("SELECT id, recipient FROM messages WHERE letter = 'mp'")[0]
        return_path = return_path_of(self.server, mp["id"])
        report = corpus("postfix-user-unknown.eml").replace("bounces+12-0123456789abcdef@campaign.example.org",
                                                           return_path)
        with open(os.path.join(self.maildir, "new", "b"), "w") as f:
            f.write(report.replace("former.mp@mp.example.org", mp["recipient"]))
        self.assertEqual(self.letterd.run_once().returncode, 0)  # the daemon reads the mailbox, then notifies
        notices = self.notices()
        self.assertEqual(len(notices), 1)
        self.assertIn("it bounced (5.1.1)", self.assert_nothing_of_the_letter(notices[0]))


class BouncesOverImap(RelayTestCase):
    """The same, read from a real IMAP server (Dovecot) over TLS."""

    def setUp(self):
        super().setUp()
        self.imap = Dovecot()
        self.imap.start()
        self.addCleanup(self.imap.stop)
        secret = os.path.join(self.letterd.dir, "imap.secret")
        with open(secret, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(secret, 0o600)
        self.letterd.campaign["return_path"] = "bounces@campaign.example.org"
        self.letterd.extra = {"bounces": {"url": self.imap.url, "username": USER, "password_file": secret,
                                          "ca_file": self.imap.cert, "poll": "1s"}}
        self.letterd.write_config()

    def test_a_report_read_over_imaps_marks_its_letter_once(self):
        self.letterd.drop("b.json", submission(id="b"))
        self.assertEqual(self.letterd.run_once().returncode, 0)
        self.server.wait_for(2)
        mp = self.letterd.query("SELECT id, recipient FROM messages WHERE letter = 'mp'")[0]
        return_path = return_path_of(self.server, mp["id"])
        report = corpus("postfix-user-unknown.eml").replace("bounces+12-0123456789abcdef@campaign.example.org",
                                                           return_path)
        self.imap.deliver("1.relay", report.replace("former.mp@mp.example.org", mp["recipient"]))

        result = self.letterd.cli("bounces", "--once")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("1 mail(s) read: 1 hard bounce(s) (1 letter(s) marked bounced)", result.stdout)
        self.assertEqual(self.letterd.query("SELECT status FROM messages WHERE id = ?", mp["id"])[0]["status"],
                         "bounced")
        state = self.letterd.query("SELECT uidvalidity, last_uid FROM bounce_mailboxes")
        self.assertEqual(len(state), 1)
        self.assertEqual(state[0]["last_uid"], 1)
        self.assertIn("0 mail(s) read", self.letterd.cli("bounces", "--once", check=True).stdout,
                      "the last UID read is remembered")

        # The daemon polls the mailbox by itself.
        self.letterd.start()
        ooo = corpus("out-of-office.eml").replace("bounces+18-0123456789abcdef@campaign.example.org", return_path)
        self.imap.deliver("2.ooo", ooo)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.letterd.query("SELECT acknowledged_at FROM messages WHERE id = ?", mp["id"])[0]["acknowledged_at"]:
                break
            time.sleep(0.1)
        else:
            self.fail("the daemon did not read the IMAP mailbox: " + self.letterd.daemon_log() + self.imap.log())
        self.assertEqual(self.letterd.query("SELECT last_uid FROM bounce_mailboxes")[0]["last_uid"], 2)

    def test_a_large_mailbox_with_expunged_mail_is_read_whole_and_once(self):
        """More new mail than one search answer may hold (libcurl clips a line
        over 8 KiB: the 2,400 UIDs left here take 11 KiB), and a gap of
        expunged UIDs wider than a search window."""
        self.assertEqual(self.letterd.run_once().returncode, 0)  # makes the database
        report = corpus("postfix-user-unknown.eml")
        for n in range(1, 3201):
            self.imap.deliver(f"{n:05d}.relay", report.replace("bounces+12-0123456789abcdef@", f"bounces+{n}-@"),
                              own=False)
        self.imap.own_mail()
        import imaplib
        import ssl
        context = ssl.create_default_context(cafile=self.imap.cert)
        with imaplib.IMAP4_SSL("127.0.0.1", self.imap.port, ssl_context=context) as imap:
            imap.login(USER, PASSWORD)
            imap.select("INBOX")
            imap.uid("STORE", "1001:1800", "+FLAGS.SILENT", "(\\Deleted)")
            imap.expunge()
        result = self.letterd.cli("bounces", "--once", timeout=300)
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        self.assertTrue(result.stdout.startswith("2400 mail(s) read:"), result.stdout)
        self.assertEqual(self.letterd.query("SELECT last_uid FROM bounce_mailboxes")[0]["last_uid"], 3200)
        self.assertEqual(len(self.letterd.query("SELECT id FROM bounces")), 2400)
        self.assertIn("0 mail(s) read", self.letterd.cli("bounces", "--once", check=True).stdout)

    def test_a_wrong_password_is_said_without_the_password(self):
        self.assertEqual(self.letterd.run_once().returncode, 0)  # makes the database
        secret = self.letterd.extra["bounces"]["password_file"]
        with open(secret, "w") as f:
            f.write("not-the-password\n")
        result = self.letterd.cli("bounces", "--once")
        self.assertEqual(result.returncode, 1)
        self.assertIn("Login denied", result.stderr + result.stdout)
        self.assertNotIn("not-the-password", result.stderr + result.stdout)


if __name__ == "__main__":
    unittest.main()
