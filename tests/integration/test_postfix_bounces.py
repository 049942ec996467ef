"""Delivery truth with real parts end to end: letterd sends through a
private Postfix to an address with no mailbox; Postfix's own delivery-status
report comes back to the letter's return path, lands in a Maildir that
Dovecot serves over IMAPS, and letterd marks exactly that letter bounced
with 5.1.1, once; a report to a forged token marks nothing; the office's
auto-reply acknowledges its letter; the supporter hears once, with none of
the letter; two bounces hold the target until its address is corrected."""
import os
import re
import smtplib
import unittest
from email.message import EmailMessage

from harness import SOURCE, Letterd, parse, submission
from imap_server import PASSWORD, USER, Dovecot
from postfix_relay import UNKNOWN_USERS_DOMAIN, Postfix, why_not_runnable

GONE_MP = f"alex.mp@{UNKNOWN_USERS_DOMAIN}"  # accepted by the relay, then found to have no mailbox
OFFICE = "justice.secretary@example.org"
NEW_MP_ADDRESS = "alex.mp.office@example.org"


class ThroughPostfix(unittest.TestCase):
    def setUp(self):
        reason = why_not_runnable()
        if reason:
            self.skipTest(reason)
        self.imap = Dovecot()
        self.postfix = Postfix(os.path.join(self.imap.dir, "mail"),
                               {USER: "bounces/", "jane@example.org": "jane/", "sam@example.org": "sam/", "kim@example.org": "kim/",
                                OFFICE: "office/", NEW_MP_ADDRESS: "office/"},
                               self.imap.uid, self.imap.gid)
        self.addCleanup(self.imap.stop)
        self.imap.start()
        self.addCleanup(self.postfix.stop)
        self.postfix.start()

        self.letterd = Letterd(port=self.postfix.port)
        self.addCleanup(self.letterd.cleanup)
        with open(os.path.join(SOURCE, "config", "targets", "uk-mps.csv"), encoding="utf-8") as f:
            self.original_targets = f.read()
        self.targets = os.path.join(self.letterd.dir, "targets.csv")
        self.write_targets(GONE_MP)
        secret = os.path.join(self.letterd.dir, "imap.secret")
        with open(secret, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(secret, 0o600)
        self.letterd.campaign.update({
            "targets": self.targets,
            "return_path": "bounces@campaign.example.org",
            "notify_supporter": {"on": ["failed", "bounced"],
                                 "template": os.path.join(SOURCE, "templates", "notice.txt")},
        })
        self.letterd.extra = {"bounces": {"url": self.imap.url, "username": USER, "password_file": secret,
                                          "ca_file": self.imap.cert, "poll": "1h", "hold_target_after": 2}}
        self.letterd.write_config()

    def write_targets(self, mp_address):
        with open(self.targets, "w", encoding="utf-8") as f:
            f.write(self.original_targets.replace("alex.example.mp@example.org", mp_address))

    def letters(self):
        return {r["letter"]: r for r in self.letterd.query(
            "SELECT id, letter, status, bounce_status, bounce_diagnostic, acknowledged_at, message_id "
            "FROM messages WHERE submission_id = 'jane' ORDER BY id")}

    def send(self):
        """letterd run --once with no mailbox to read. The tests read Postfix's reports with `letterd bounces
        --once`, when they say; a run's own read, on a thread of its own from its first turn, met a report
        Postfix had already written when the run was slow (under the sanitizers)."""
        bounces = self.letterd.extra.pop("bounces")
        self.letterd.write_config()
        try:
            self.assertEqual(self.letterd.run_once().returncode, 0)
        finally:
            self.letterd.extra["bounces"] = bounces
            self.letterd.write_config()

    def read_bounces(self):
        result = self.letterd.cli("bounces", "--once")
        self.assertEqual(result.returncode, 0, result.stderr + self.imap.log())
        return result.stdout

    def relay(self, mail_from, to, message):
        """Hands a mail to the Postfix, as another mail system would."""
        with smtplib.SMTP("127.0.0.1", self.postfix.port, timeout=10) as smtp:
            smtp.send_message(message, from_addr=mail_from, to_addrs=[to])

    def test_postfixs_own_report_bounces_exactly_its_letter_and_its_supporter_hears_once(self):
        self.letterd.drop("jane.json", submission(id="jane"))
        self.send()
        self.assertEqual({r["status"] for r in self.letters().values()}, {"sent"}, "the relay took both")
        office_letter = parse(self.postfix.delivered("office/", 1)[0])
        copies = [parse(m) for m in self.postfix.delivered("jane/", 2)]
        self.assertEqual({c["Return-Path"] for c in copies}, {"<bounces@campaign.example.org>"},
                         "the supporter's copies carry no letter's token")

        report = parse(self.postfix.delivered("bounces/", 1)[0])
        self.assertEqual(report.get_content_type(), "multipart/report")
        self.assertIn("MAILER-DAEMON@example.net", report["From"])
        self.assertIn("1 mail(s) read: 1 hard bounce(s) (1 letter(s) marked bounced)", self.read_bounces())
        letters = self.letters()
        self.assertEqual(letters["mp"]["status"], "bounced")
        self.assertEqual(letters["mp"]["bounce_status"], "5.1.1")
        self.assertIn("unknown user", letters["mp"]["bounce_diagnostic"])
        self.assertNotIn("@", letters["mp"]["bounce_diagnostic"])
        self.assertEqual(letters["justice-secretary"]["status"], "sent", "only the letter the report names")
        self.assertIn("0 mail(s) read", self.read_bounces(), "a second poll counts nothing again")
        self.assertEqual(len(self.letterd.query("SELECT id FROM bounces")), 1)

        # The office's auto-responder answers the Return-Path of the letter it got.
        minister = letters["justice-secretary"]
        return_path = office_letter["Return-Path"].strip("<>")
        self.assertRegex(return_path, rf"^bounces\+{minister['id']}-[0-9a-f]{{16}}@campaign\.example\.org$")
        reply = EmailMessage()
        reply["From"] = f"Justice Secretary's office <{OFFICE}>"
        reply["To"] = return_path
        reply["Subject"] = "Automatic reply: " + office_letter["Subject"]
        reply["In-Reply-To"] = office_letter["Message-ID"]
        reply["Auto-Submitted"] = "auto-replied"
        reply.set_content("Thank you for writing to the Secretary of State. This office reads every letter.\n")
        self.relay("", return_path, reply)
        self.postfix.delivered("bounces/", 2)
        self.assertIn("1 automatic reply(ies)", self.read_bounces())
        self.assertIsNotNone(self.letters()["justice-secretary"]["acknowledged_at"])

        # A mail sent with a made-up check in the token: Postfix's report of it names no letter.
        forged = re.sub(r"-[0-9a-f]{16}@", "-0000000000000000@", return_path)
        lure = EmailMessage()
        lure["From"] = "someone@example.com"
        lure["To"] = f"no.such.person@{UNKNOWN_USERS_DOMAIN}"
        lure["Subject"] = "a bounce for a letter that went"
        lure.set_content("This is bound to bounce.\n")
        self.relay(forged, f"no.such.person@{UNKNOWN_USERS_DOMAIN}", lure)
        self.postfix.delivered("bounces/", 3)
        self.assertIn("1 named no letter (1 with a forged return path)", self.read_bounces())
        self.assertEqual(self.letters()["justice-secretary"]["status"], "sent")

        # The supporter hears of the bounced letter, through the same relay, once.
        self.assertEqual(self.letterd.run_once().returncode, 0)
        self.assertEqual(self.letterd.run_once().returncode, 0)
        mails = [parse(m) for m in self.postfix.delivered("jane/", 3)]
        notices = [m for m in mails if m["Subject"] == "Your letter to Alex Example MP did not arrive"]
        self.assertEqual(len(notices), 1, [m["Subject"] for m in mails])
        self.assertEqual(len(mails), 3, "two copies and one notice")
        text = notices[0].get_content()
        self.assertIn("it bounced (5.1.1)", text)
        for words in ("As a person who works with survivors", "legal advocacy", "1 Example Street", "SW1A 1AA"):
            self.assertNotIn(words, text)

    def test_two_real_bounces_hold_the_target_until_its_address_is_corrected(self):
        for name in ("jane", "sam"):
            sub = submission(id=name)
            sub["supporter"] = dict(sub["supporter"], email=f"{name}@example.org")
            self.letterd.drop(f"{name}.json", sub)
        self.send()
        self.postfix.delivered("bounces/", 2)
        self.assertIn("2 letter(s) marked bounced", self.read_bounces())

        later = submission(id="later")
        later["supporter"] = dict(later["supporter"], email="kim@example.org")
        self.letterd.drop("later.json", later)
        self.assertEqual(self.letterd.run_once().returncode, 0)
        held = self.letterd.query("SELECT status, hold_reason FROM messages WHERE submission_id = 'later' "
                                  "AND letter = 'mp'")
        self.assertEqual(held, [{"status": "held",
                                 "hold_reason": "the address of target mp-cities-of-london-and-westminster bounces"}])

        self.write_targets(NEW_MP_ADDRESS)
        self.assertEqual(self.letterd.run_once().returncode, 0)  # a start reads the corrected targets
        arrived = [parse(m) for m in self.postfix.delivered("office/", 4)]
        self.assertEqual(sorted(m["To"].addresses[0].addr_spec for m in arrived), [NEW_MP_ADDRESS] + [OFFICE] * 3)
        self.assertEqual(self.letterd.query("SELECT status FROM messages WHERE submission_id = 'later' "
                                            "AND letter = 'mp'"), [{"status": "sent"}])


if __name__ == "__main__":
    unittest.main()
