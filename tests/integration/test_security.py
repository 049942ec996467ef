"""Hostile submissions, as a public web form will bring them: none can make
letterd write to anyone but the campaign's targets and the supporter's own
copy, nor add a header, nor smuggle a second message into the SMTP stream."""
import os
import stat

from harness import RelayTestCase, parse, submission

TARGETS = {"alex.example.mp@example.org", "sam.sample.mp@example.org", "jo.placeholder.mp@example.org",
           "robin.fictional.mp@example.org", "chris.demo.mp@example.org", "morgan.test.mp@example.org",
           "justice.secretary@example.org"}


def hostile_submissions():
    """(name, submission) pairs: every way in we could think of."""
    def supporter(**changes):
        base = {"name": "Eve Example", "email": "eve@example.org", "postcode": "E1 1AA", "address": "1 Road"}
        base.update(changes)
        return base
    yield "extra-keys", dict(submission(), to="victim@example.com", bcc=["victim@example.com"],
                             cc="victim@example.com", recipient="victim@example.com")
    yield "fields-addresses", submission(fields={"to": "victim@example.com", "bcc": "victim@example.com"})
    yield "email-list", submission(supporter=supporter(email="eve@example.org, victim@example.com"))
    yield "email-crlf", submission(supporter=supporter(email="eve@example.org\r\nRCPT TO:<victim@example.com>"))
    yield "email-angle", submission(supporter=supporter(email="eve@example.org>\r\nRCPT TO:<victim@example.com"))
    yield "email-encoded", submission(supporter=supporter(email="=?UTF-8?B?dmljdGltQGV4YW1wbGUuY29t?="))
    yield "name-header", submission(supporter=supporter(name="Eve\r\nBcc: victim@example.com"))
    yield "name-encoded-word", submission(supporter=supporter(name="=?UTF-8?Q?Eve=0D=0ABcc:_victim@example.com?="))
    yield "name-line-separator", submission(supporter=supporter(name="Eve\u2028Bcc: victim@example.com"))
    yield "target-address", submission(target="victim@example.com")
    yield "constituency-address", submission(constituency="victim@example.com")
    yield "letters-path", submission(letters=["../../etc/passwd"])
    yield "smuggling", submission(supporter=supporter(email="mallory@example.org"),
                                  personal_note="Hello\r\n.\r\nMAIL FROM:<x@example.com>\r\nRCPT TO:<victim@example.com>\r\n"
                                                "DATA\r\nSubject: smuggled\r\n\r\nhi\r\n.\r\n")
    yield "smuggling-lf", submission(supporter=supporter(email="trent@example.org"),
                                     personal_note="Hello\n.\nMAIL FROM:<x@example.com>\nRCPT TO:<victim@example.com>\n")
    yield "fields-in-subject", submission(supporter=supporter(email="peggy@example.org"),
                                          fields={"any": "x\r\nBcc: victim@example.com"})


class OpenRelay(RelayTestCase):
    def test_no_submission_reaches_anyone_but_targets_and_the_supporter(self):
        names = []
        for name, sub in hostile_submissions():
            sub.setdefault("id", name)
            self.letterd.drop(name + ".json", sub)
            names.append(name)
        result = self.letterd.run_once()
        self.assertEqual(result.returncode, 0, result.stderr)

        accepted = {r["id"]: r["supporter_email"] for r in self.letterd.query("SELECT id, supporter_email FROM submissions")}
        allowed = TARGETS | set(accepted.values())
        for t in self.server.transactions:
            for rcpt in t["rcpt_tos"]:
                self.assertIn(rcpt, allowed, f"letterd wrote to {rcpt}")
            self.assertEqual(t["mail_from"], "letters@example.org")
            msg = parse(t["data"])
            self.assertIsNone(msg["Bcc"])
            self.assertIsNone(msg["Cc"])
            self.assertEqual(len(msg.get_all("To")), 1)
            self.assertIn(msg["To"].addresses[0].addr_spec, TARGETS)
            # An encoded word stays a word: whatever it decodes to is one display name.
            self.assertEqual([a.addr_spec for a in msg["From"].addresses], ["letters@example.org"])
            self.assertNotIn("\n", msg["From"].addresses[0].display_name)
            if msg["Reply-To"]:
                self.assertEqual(len(msg["Reply-To"].addresses), 1)
                self.assertIn(msg["Reply-To"].addresses[0].addr_spec, accepted.values())
            self.assertEqual(sorted(msg.keys()), sorted(["Date", "From", "Reply-To", "To", "Subject", "Message-ID",
                                                         "MIME-Version", "Content-Type",
                                                         "Content-Transfer-Encoding"]))
        self.assertFalse(any("smuggled" in str(parse(t["data"])["Subject"]) for t in self.server.transactions))
        # The SMTP stream carried exactly the messages letterd logged, no more.
        self.assertEqual(len(self.server.transactions), len(self.letterd.messages()))
        # Smuggling attempts are only text: accepted, sent, and harmless.
        self.assertIn("smuggling", accepted)
        rejected = set(self.letterd.rejected())
        for name in ("extra-keys", "email-list", "email-crlf", "email-angle", "email-encoded", "name-header",
                     "name-line-separator", "target-address", "constituency-address", "letters-path",
                     "fields-in-subject"):
            self.assertIn(name + ".json", rejected, name)


class Files(RelayTestCase):
    def test_letterd_makes_its_files_private(self):
        self.letterd.drop("ok.json", submission(id="ok"))
        self.letterd.drop("bad.json", {"campaign": "nope"})
        self.letterd.run_once()
        mode = stat.S_IMODE(os.stat(self.letterd.database).st_mode)
        self.assertEqual(mode, 0o600, oct(mode))
        for name in ("bad.json.error",):
            mode = stat.S_IMODE(os.stat(os.path.join(self.letterd.queue, "rejected", name)).st_mode)
            self.assertEqual(mode & 0o027, 0, f"{name} is {oct(mode)}: no write for group, nothing for others")
        for sub in ("rejected", "accepted"):
            mode = stat.S_IMODE(os.stat(os.path.join(self.letterd.queue, sub)).st_mode)
            self.assertEqual(mode & 0o007, 0, f"{sub}/ is {oct(mode)}")

    def test_a_password_never_reaches_check_or_the_log(self):
        secret = os.path.join(self.letterd.dir, "relay.secret")
        with open(secret, "w") as f:
            f.write("s3cret-horse")
        os.chmod(secret, 0o600)
        self.letterd.relay.update({"username": "letters@example.org", "password_file": secret})
        self.letterd.write_config()
        for args in (("check",), ("run", "--once")):
            result = self.letterd.cli(*args)
            self.assertNotIn("s3cret-horse", result.stdout + result.stderr)
        os.chmod(secret, 0o644)
        result = self.letterd.cli("check")
        self.assertEqual(result.returncode, 2)
        self.assertIn("is readable by group or others (mode 0644): chmod 600 it", result.stderr)
