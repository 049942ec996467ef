"""Golden SMTP transcripts: the exact dialogue letterd holds with a relay.

Each test runs the real letterd against the capture server (aiosmtpd,
strict like Postfix) and compares every connection it opened, line by line,
with a file in transcripts/.  One command too many, a different envelope or
one byte of the message changed, and the test fails.

The files read like this (see transcripts/plain-send.txt):

    # comments, only before the first section
    === connection 1
    S: 220                      the relay's greeting
    C: EHLO <name>              a line letterd sent, CRLF stripped
    S: 250                      the code of the relay's reply to it
    C: DATA
    S: 354
    C: (message 1)              the DATA payload: the section "message 1"
    C: .                        the line that ends it
    S: 250                      the relay's reply to the end of DATA
    === message 1
    Date: DAY, DD MON YYYY HH:MM:SS +0000
    ...                         each line one line on the wire, sent with CRLF

The message is shown as it crossed the wire: dot-stuffed, before the relay
undid it.  A control character or a byte outside ASCII is written \\xNN and a
backslash \\\\, so a bare LF or CR shows up as \\x0a or \\x0d.  An AUTH line's
credentials are the capture server's AUTH_MASK, "<credentials>".

Only three things vary from run to run, and are written as follows
(NORMALISE_COMMAND and NORMALISE_MESSAGE below, each applied to a whole line,
and to nothing else):
  - the EHLO argument (this machine's name):          EHLO <name>
  - the Date header:          Date: DAY, DD MON YYYY HH:MM:SS +0000
  - the Message-ID's time and random parts:  <TIME.RANDOM.letterd@example.org>
A Date or Message-ID not in letterd's format is left as it is, and fails.
SIZE= in MAIL FROM is the size letterd gave libcurl: the message before the
normalisation and before dot-stuffing.
"""
import os
import re
import shutil
import tempfile
import time
import unittest

from harness import Letterd, submission
from smtp_server import AUTH_MASK, CaptureServer, make_self_signed_cert

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "transcripts")

# (pattern, replacement) for a command line, and for a line of a message.
NORMALISE_COMMAND = [(re.compile(r"^EHLO [^ ]+$"), "EHLO <name>")]
NORMALISE_MESSAGE = [
    (re.compile(r"^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
                r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d \+0000$"),
     "Date: DAY, DD MON YYYY HH:MM:SS +0000"),
    (re.compile(r"^Message-ID: <[0-9a-f]{12}\.[0-9a-f]{32}\.letterd@"),
     "Message-ID: <TIME.RANDOM.letterd@"),
]

# A short letter, so the golden message stays readable: a curly quote for
# quoted-printable, a line long enough for a soft break, the note in a section.
TEMPLATE = """---
subject: Free legal advocacy for complainants
---
Dear {{target.name}},

I\u2019m writing as your constituent to ask that you support free and independent legal advocacy for complainants.
{{#personal_note}}

{{personal_note}}
{{/personal_note}}

Yours sincerely,
{{supporter.name}}
{{supporter.address}}
{{supporter.postcode}}
"""

# A note with a line that starts with a dot, and a line of a dot alone: the
# line that would end DATA.
NOTE = "I care about this.\n.This line begins with a dot\n.\nThe end."

MP = "alex.example.mp@example.org"
SUPPORTER = "jane@example.org"


def visible(raw):
    """Bytes as golden text: printable ASCII as it is, anything else \\xNN."""
    out = []
    for b in raw:
        if b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


def normalised(text, rules):
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


def render(transcripts):
    """The capture server's transcripts in the golden files' form."""
    lines, messages = [], []
    for number, t in enumerate(transcripts, 1):
        lines.append("=== connection %d" % number)
        if t.greeting is not None:
            lines.append("S: %s" % t.greeting)
        payloads = iter(t.data)
        for command, reply in t:
            if command == ".":
                messages.append(next(payloads, None))
                lines.append("C: (message %d)" % len(messages))
            if command is not None:
                text = visible(command.encode("utf-8", "surrogateescape"))
                lines.append("C: " + normalised(text, NORMALISE_COMMAND))
            lines.append("S: %s" % ("(no reply)" if reply is None else reply))
        for cut in payloads:   # DATA the connection's end cut short
            messages.append(cut)
            lines.append("C: (message %d, cut short)" % len(messages))
    for number, data in enumerate(messages, 1):
        lines.append("=== message %d" % number)
        if data is None:
            lines.append("(no payload recorded)")
            continue
        wire = data.split(b"\r\n")
        for line in wire[:-1]:
            lines.append(normalised(visible(line), NORMALISE_MESSAGE))
        if wire[-1]:
            lines.append(normalised(visible(wire[-1]), NORMALISE_MESSAGE) + " (no CRLF at the end)")
    return "\n".join(lines) + "\n"


def golden(name):
    """A golden file's text without its leading comments."""
    with open(os.path.join(GOLDEN, name), encoding="utf-8") as f:
        text = f.read()
    return text[text.index("=== connection"):]


class TranscriptTestCase(unittest.TestCase):
    def setUp(self):
        self.server = self.make_server()
        self.server.start()
        self.addCleanup(self.server.stop)
        self.letterd = Letterd(port=self.server.port)
        self.addCleanup(self.letterd.cleanup)
        template = os.path.join(self.letterd.dir, "letter.txt")
        with open(template, "w", encoding="utf-8") as f:
            f.write(TEMPLATE)
        for letter in self.letterd.campaign["letters"].values():
            letter["template"] = template
        self.letterd.campaign["letters"].pop("justice-secretary")
        self.letterd.campaign["copy_to_supporter"] = "bcc"
        self.letterd.write_config()

    def make_server(self):
        return CaptureServer()

    def assertTranscripts(self, name):
        """Every connection letterd opened is, exactly, the golden file `name`."""
        transcripts = self.server.wait_closed()
        self.assertMultiLineEqual(render(transcripts), golden(name))
        # SIZE= in MAIL FROM is the true size of the message that follows it.
        for t in transcripts:
            payloads, size = iter(t.data), None
            for command, _ in t:
                declared = re.fullmatch(r"MAIL FROM:<[^>]*> SIZE=(\d+)", command or "")
                if declared:
                    size = int(declared.group(1))
                if command == ".":
                    lines = next(payloads).split(b"\r\n")
                    unstuffed = b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)
                    self.assertEqual(size, len(unstuffed), "SIZE= against the message that followed")
        return transcripts

    def run_letterd(self):
        result = self.letterd.run_once()
        self.assertEqual(result.returncode, 0, result.stderr)
        return result


class PlainSend(TranscriptTestCase):

    def test_one_letter(self):
        self.letterd.drop("a.json", submission(id="a", personal_note=NOTE))
        self.run_letterd()
        transcripts = self.assertTranscripts("plain-send.txt")
        [row] = self.letterd.messages()
        self.assertEqual((row["status"], row["attempts"], row["smtp_code"]), ("sent", 1, 250))
        self.assertIn(b"Message-ID: <%s>\r\n" % row["message_id"].encode(), transcripts[0].data[0],
                      "the Message-ID the relay saw is the one in the log")
        [message] = self.server.messages
        self.assertIn(message["queue_id"], row["smtp_response"])

    def test_two_letters_share_one_connection(self):
        letter = dict(self.letterd.campaign["letters"]["mp"])
        letter["to"] = {"target": "justice-secretary"}
        self.letterd.campaign["letters"]["justice-secretary"] = letter
        self.letterd.write_config()
        self.letterd.drop("a.json", submission(id="a", personal_note=NOTE))
        self.run_letterd()
        self.assertTranscripts("two-letters-one-connection.txt")
        self.assertEqual([(r["letter"], r["status"]) for r in self.letterd.messages()],
                         [("mp", "sent"), ("justice-secretary", "sent")])

    def test_the_daemon_keeps_the_connection_open_until_it_stops(self):
        self.letterd.drop("a.json", submission(id="a", personal_note=NOTE))
        self.letterd.start()
        self.letterd.wait_for_status("sent", 1)
        time.sleep(1.5)   # longer than queue.rescan: letterd has looked for work and found none
        [open_connection] = self.server.transcripts()
        self.assertFalse(open_connection.closed, "an idle daemon keeps its connection to the relay")
        self.assertEqual(open_connection[-1], (".", 250), "and says nothing more while idle")
        self.assertEqual(self.letterd.stop(), 0)
        self.assertTranscripts("plain-send.txt")


class RefusedSupporterCopy(TranscriptTestCase):

    def test_the_letter_goes_again_without_the_copy(self):
        self.server.reject_rcpt(SUPPORTER, 550, "5.1.1 <%s>: Recipient address rejected: User unknown" % SUPPORTER)
        self.letterd.drop("c.json", submission(id="c", personal_note=NOTE))
        result = self.run_letterd()
        self.assertTranscripts("refused-supporter-copy.txt")
        [message] = self.server.messages
        self.assertEqual(message["rcpt_tos"], [MP], "the letter arrives once, to its target alone")
        [row] = self.letterd.messages()
        self.assertEqual((row["status"], row["attempts"], row["smtp_code"]), ("sent", 1, 250))
        self.assertEqual([a["outcome"] for a in self.letterd.query("SELECT * FROM attempts")], ["sent"])
        self.assertIn("the relay refused the supporter's copy (550", result.stderr)
        self.assertNotIn(SUPPORTER, result.stderr)


class TemporaryRefusalAtRcpt(TranscriptTestCase):

    def test_the_letter_is_deferred(self):
        self.server.reject_rcpt(MP, 450, "4.2.1 <%s>: Recipient address rejected: try again later" % MP)
        self.letterd.drop("t.json", submission(id="t", personal_note=NOTE))
        result = self.run_letterd()
        self.assertTranscripts("rcpt-4xx.txt")
        self.assertEqual(self.server.messages, [])
        [row] = self.letterd.messages()
        self.assertEqual((row["status"], row["attempts"], row["smtp_code"]), ("deferred", 1, 450))
        self.assertIn("try again later", row["smtp_response"])
        self.assertIsNotNone(row["next_attempt_at"])
        self.assertEqual([a["outcome"] for a in self.letterd.query("SELECT * FROM attempts")], ["deferred"])
        self.assertIn("deferred message 1", result.stderr)


class ServiceClosing(TranscriptTestCase):

    def test_a_421_pauses_the_relay_and_the_next_run_sends_the_same_bytes(self):
        self.server.reply_421_next(1)
        self.letterd.drop("b.json", submission(id="b", personal_note=NOTE))
        result = self.run_letterd()
        self.assertIn("relay local paused: 421", result.stderr)
        [row] = self.letterd.messages()
        self.assertEqual((row["status"], row["attempts"], row["smtp_code"]), ("deferred", 0, 421),
                         "a 421 is the relay's trouble: it costs the letter no attempt")
        self.assertEqual([a["outcome"] for a in self.letterd.query("SELECT * FROM attempts")], ["relay-fault"])
        self.assertEqual(self.server.messages, [])

        time.sleep(0.6)   # the pause: retry.first is 500ms
        self.run_letterd()
        transcripts = self.assertTranscripts("421-at-end-of-data.txt")
        self.assertEqual(transcripts[0].data, transcripts[1].data, "the same letter, the same Message-ID")
        [row] = self.letterd.messages()
        self.assertEqual((row["status"], row["attempts"]), ("sent", 1))


class StartTlsWithAuth(TranscriptTestCase):

    def make_server(self):
        tls = tempfile.mkdtemp(prefix="letterd-tls-")
        self.addCleanup(shutil.rmtree, tls, True)
        self.cert, key = make_self_signed_cert(tls)
        self.secret = os.path.join(tls, "relay.secret")
        with open(self.secret, "w") as f:
            f.write("correct horse\n")
        os.chmod(self.secret, 0o600)
        return CaptureServer(tls_cert=self.cert, tls_key=key, require_starttls=True,
                             auth_users={"letters@example.org": "correct horse"})

    def setUp(self):
        super().setUp()
        self.letterd.relay.update({"url": "smtp://localhost:%d" % self.server.port, "tls": "required",
                                   "ca_file": self.cert, "username": "letters@example.org",
                                   "password_file": self.secret})
        self.letterd.write_config()

    def test_starttls_then_auth_plain_then_the_letter(self):
        self.letterd.drop("s.json", submission(id="s", personal_note=NOTE))
        result = self.run_letterd()
        transcripts = self.assertTranscripts("starttls-auth.txt")
        [message] = self.server.messages
        self.assertEqual(message["authenticated_user"], "letters@example.org")
        [row] = self.letterd.messages()
        self.assertEqual((row["status"], row["attempts"], row["smtp_code"]), ("sent", 1, 250))
        self.assertNotIn("correct horse", result.stderr)
        self.assertNotIn("correct horse", repr(transcripts))
        self.assertEqual(transcripts[0][3:5], [("AUTH PLAIN", 334), (AUTH_MASK, 235)])


if __name__ == "__main__":
    unittest.main()
