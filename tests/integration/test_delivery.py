"""letterd sends the seed campaign over real SMTP (aiosmtpd, strict like
Postfix) and records every outcome in SQLite."""
import os
import re
import signal
import tempfile
import time
import unittest

from harness import RelayTestCase, Letterd, body_of, parse, submission
from smtp_server import CaptureServer, make_self_signed_cert

NOTE_WITH_DOT = "First line of my note.\n.This line begins with a dot – “quoted” • bullet £5"


class PlainSmtp(RelayTestCase):

    def test_both_seed_letters_arrive_intact_and_are_logged_sent(self):
        self.letterd.drop("web-1.json", submission(id="web-1", personal_note=NOTE_WITH_DOT))
        result = self.letterd.run_once()
        self.assertEqual(result.returncode, 0, result.stderr)

        received = self.server.wait_for(2)
        rows = self.letterd.messages()
        self.assertEqual([r["status"] for r in rows], ["sent", "sent"])
        self.assertEqual(self.letterd.waiting(), [], "an accepted file must leave new/")

        by_to = {}
        for raw in received:
            self.assertNotIn(b"\n", raw["data"].replace(b"\r\n", b""), "bare LF in DATA")
            self.assertTrue(all(len(line) <= 998 for line in raw["data"].split(b"\r\n")))
            self.assertTrue(all(b < 128 for b in raw["data"]), "DATA must be 7-bit clean")
            msg = parse(raw["data"])
            by_to[msg["To"].addresses[0].addr_spec] = (raw, msg)

        raw, mp = by_to["alex.example.mp@example.org"]
        self.assertEqual(raw["mail_from"], "letters@example.org")
        # The letter goes to the target and, as a blind copy, to the supporter.
        self.assertEqual(raw["rcpt_tos"], ["alex.example.mp@example.org", "jane@example.org"])
        self.assertIsNone(mp["Bcc"])
        self.assertEqual(mp["From"].addresses[0].display_name, "Jane Doe via Example Campaign")
        self.assertEqual(mp["Reply-To"].addresses[0].addr_spec, "jane@example.org")
        self.assertEqual(str(mp["Subject"]),
                         "Please support free and independent legal advocacy for sexual offence complainants")
        self.assertEqual(mp.get_content_type(), "text/plain")
        self.assertEqual(mp.get_content_charset(), "utf-8")
        self.assertEqual(mp["Content-Transfer-Encoding"], "quoted-printable")
        self.assertIsNotNone(mp["Date"].datetime)
        body = body_of(mp)
        self.assertTrue(body.startswith("Dear Alex Example MP,\n"))
        self.assertIn("My name is Jane Doe and I’m writing as your constituent", body)
        self.assertIn("£12.2 billion", body)
        self.assertIn("  • Many victim-survivors regretted reporting", body)
        self.assertIn("\n.This line begins with a dot – “quoted” • bullet £5\n", body)
        self.assertTrue(body.rstrip("\n").endswith("Jane Doe\n1 Example Street, London\nSW1A 1AA"))
        self.assertNotIn("{{", body)

        mp_row = next(r for r in rows if r["letter"] == "mp")
        self.assertEqual(mp["Message-ID"], "<" + mp_row["message_id"] + ">")
        self.assertEqual(mp_row["recipient"], "alex.example.mp@example.org")
        self.assertEqual(mp_row["smtp_code"], 250)
        self.assertIn(raw["queue_id"], mp_row["smtp_response"], "the relay's queue id traces the letter")
        self.assertRegex(mp_row["sent_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(mp_row["attempts"], 1)

        _, js = by_to["justice.secretary@example.org"]
        self.assertTrue(body_of(js).startswith("Dear Rt Hon Robert Buckland QC MP,\n"))

        attempts = self.letterd.query("SELECT * FROM attempts")
        self.assertEqual(len(attempts), 2)
        self.assertTrue(all(a["smtp_code"] == 250 and a["duration_ms"] >= 0 for a in attempts))
        self.assertEqual(self.letterd.query("PRAGMA journal_mode")[0]["journal_mode"], "wal")
        self.assertGreaterEqual(self.letterd.query("PRAGMA user_version")[0]["user_version"], 1)

    def test_one_connection_carries_many_letters(self):
        for i in range(5):
            self.letterd.drop(f"s{i}.json", submission(
                id=f"s{i}", supporter={"name": f"Supporter {i}", "email": f"s{i}@example.org",
                                       "postcode": "SW1A 1AA", "address": "1 Example Street"}))
        self.assertEqual(self.letterd.run_once().returncode, 0)
        self.server.wait_for(10)
        self.assertEqual(self.server.connections, 1)

    def test_no_personal_note_leaves_no_gap(self):
        sub = submission(id="quiet")
        del sub["personal_note"]
        self.letterd.drop("quiet.json", sub)
        self.letterd.run_once()
        for raw in self.server.wait_for(2):
            body = body_of(parse(raw["data"]))
            self.assertNotIn("\n\n\n", body)

    def test_non_ascii_names_are_encoded_in_headers_and_survive(self):
        self.letterd.drop("zoe.json", submission(id="zoe", supporter={
            "name": "Zoë Brontë-O'Neill", "email": "zoe@example.com", "postcode": "BS1 5TR", "address": "7 Row"},
            constituency="bristol   CENTRAL"))
        self.letterd.run_once()
        received = self.server.wait_for(2)
        for raw in received:
            self.assertIn(b"=?UTF-8?", raw["data"].split(b"\r\n\r\n")[0])
            msg = parse(raw["data"])
            self.assertEqual(msg["From"].addresses[0].display_name, "Zoë Brontë-O'Neill via Example Campaign")
        self.assertIn("robin.fictional.mp@example.org", [r["rcpt_tos"][0] for r in received])

    def test_a_4xx_is_deferred_then_sent_with_the_same_message_id(self):
        self.letterd.campaign["letters"].pop("justice-secretary")
        self.letterd.write_config()
        self.server.fail_next(1, 451, "4.3.0 try again later")
        self.letterd.drop("w.json", submission(id="w"))
        self.letterd.run_once()
        row = self.letterd.messages()[0]
        self.assertEqual(row["status"], "deferred")
        self.assertEqual(row["attempts"], 1)
        self.assertEqual(row["smtp_code"], 451)
        self.assertIn("try again later", row["smtp_response"])
        self.assertGreater(row["next_attempt_at"], row["created_at"])

        time.sleep(0.6)  # retry.first is 500ms
        self.letterd.run_once()
        row = self.letterd.messages()[0]
        self.assertEqual(row["status"], "sent")
        self.assertEqual(row["attempts"], 2)
        self.assertEqual(len(self.server.transactions), 2)
        ids = [parse(t["data"])["Message-ID"] for t in self.server.transactions]
        self.assertEqual(ids[0], ids[1], "a retry must carry the same Message-ID")
        self.assertEqual(len(self.letterd.query("SELECT * FROM attempts")), 2)

    def test_a_5xx_fails_the_message_at_once_and_keeps_the_reply(self):
        self.letterd.campaign["letters"].pop("justice-secretary")
        self.letterd.write_config()
        self.server.fail_next(1, 554, "5.7.1 message content rejected")
        self.letterd.drop("f.json", submission(id="f"))
        self.letterd.run_once()
        row = self.letterd.messages()[0]
        self.assertEqual(row["status"], "failed")
        self.assertEqual(row["smtp_code"], 554)
        self.assertIn("message content rejected", row["smtp_response"])
        self.assertIsNone(row["next_attempt_at"])

    def test_a_refused_recipient_fails_only_that_letter(self):
        self.server.reject_rcpt("alex.example.mp@example.org", 550, "5.1.1 no such mailbox")
        self.letterd.drop("r.json", submission(id="r"))
        self.letterd.run_once()
        status = {r["letter"]: r for r in self.letterd.messages()}
        self.assertEqual(status["mp"]["status"], "failed")
        self.assertEqual(status["mp"]["smtp_code"], 550)
        self.assertEqual(status["justice-secretary"]["status"], "sent")

    def test_a_refused_supporter_copy_does_not_stop_the_letter(self):
        self.server.reject_rcpt("jane@example.org", 550, "5.1.1 <jane@example.org>: mailbox unavailable")
        self.letterd.drop("c.json", submission(id="c"))
        result = self.letterd.run_once()
        self.assertNotIn("jane@example.org", result.stderr, "the log must not carry the supporter's address")
        self.assertEqual([r["status"] for r in self.letterd.messages()], ["sent", "sent"])
        for raw in self.server.wait_for(2):
            self.assertNotIn("jane@example.org", raw["rcpt_tos"])

    def test_a_dropped_connection_defers_and_the_retry_delivers(self):
        self.letterd.campaign["letters"].pop("justice-secretary")
        self.letterd.write_config()
        self.server.close_next(1)
        self.letterd.drop("drop.json", submission(id="drop"))
        self.letterd.run_once()
        row = self.letterd.messages()[0]
        self.assertEqual(row["status"], "deferred")
        self.assertEqual(row["attempts"], 1)
        time.sleep(0.6)
        self.letterd.run_once()
        self.assertEqual(self.letterd.messages()[0]["status"], "sent")
        self.assertEqual(len(self.server.wait_for(1)), 1)

    def test_a_421_pauses_the_relay_without_costing_an_attempt(self):
        self.server.reply_421_next(1)
        self.letterd.drop("busy.json", submission(id="busy"))
        result = self.letterd.run_once()
        rows = self.letterd.messages()
        self.assertTrue(all(r["status"] in ("queued", "deferred") for r in rows), rows)
        self.assertTrue(all(r["attempts"] == 0 for r in rows))
        self.assertIn("relay local paused", result.stderr)
        time.sleep(0.6)
        self.letterd.run_once()
        self.assertEqual([r["status"] for r in self.letterd.messages()], ["sent", "sent"])

    def test_messages_left_sending_by_a_crash_are_sent_on_start(self):
        self.letterd.drop("k.json", submission(id="k"))
        self.letterd.run_once()
        self.server.wait_for(2)
        # As if letterd died after marking the letter sending, before the 2xx was recorded.
        import sqlite3
        with sqlite3.connect(self.letterd.database) as db:
            db.execute("UPDATE messages SET status = 'sending', sent_at = NULL WHERE letter = 'mp'")
        result = self.letterd.run_once()
        self.assertIn("will be sent again", result.stderr)
        received = self.server.wait_for(3)
        self.assertEqual(received[0]["data"], received[2]["data"], "the same bytes, the same Message-ID")
        self.assertEqual([r["status"] for r in self.letterd.messages()], ["sent", "sent"])

    def test_a_relay_that_refuses_by_policy_is_paused_and_fails_no_letter(self):
        # Postfix without the right credentials: "554 5.7.1 Relay access denied" at RCPT.
        for target in ("alex.example.mp@example.org", "justice.secretary@example.org"):
            self.server.reject_rcpt(target, 554, f"5.7.1 <{target}>: Relay access denied")
        self.letterd.drop("p.json", submission(id="p"))
        result = self.letterd.run_once()
        rows = self.letterd.messages()
        self.assertEqual([r["status"] for r in rows], ["deferred", "deferred"], rows)
        self.assertIn("relay local paused", result.stderr)
        self.assertIn("Relay access denied", rows[0]["smtp_response"])
        self.server.clear_faults()
        time.sleep(1.1)
        self.letterd.run_once()
        self.assertEqual([r["status"] for r in self.letterd.messages()], ["sent", "sent"])

    def test_a_second_letterd_on_the_same_database_refuses_to_run(self):
        self.letterd.start()
        result = self.letterd.run_once()
        self.assertEqual(result.returncode, 1)
        self.assertIn("another letterd is running", result.stderr)
        self.assertEqual(self.letterd.stop(), 0)

    def test_moving_a_campaign_to_another_relay_takes_its_waiting_letters(self):
        self.server.reply_421_next(1)
        self.letterd.drop("m.json", submission(id="m"))
        self.letterd.run_once()
        self.assertTrue(all(r["relay"] == "local" for r in self.letterd.messages()))
        self.letterd.extra = {"relays": {"renamed": dict(self.letterd.relay)}}
        self.letterd.campaign["relay"] = "renamed"
        self.letterd.write_config()
        time.sleep(0.6)
        result = self.letterd.run_once()
        self.assertIn("now go through relay renamed", result.stderr)
        rows = self.letterd.messages()
        self.assertEqual([(r["relay"], r["status"]) for r in rows], [("renamed", "sent"), ("renamed", "sent")])

    def test_reflect_mode_sends_to_the_supporter_marked_as_a_test(self):
        self.letterd.campaign["mode"] = "reflect"
        self.letterd.write_config()
        self.letterd.drop("t.json", submission(id="t"))
        self.letterd.run_once()
        for raw in self.server.wait_for(2):
            self.assertEqual(raw["rcpt_tos"], ["jane@example.org"])
            msg = parse(raw["data"])
            self.assertTrue(str(msg["Subject"]).startswith("[TEST] "))
            self.assertIn("When the campaign is live, this letter goes to", body_of(msg))

    def test_the_daemon_notices_a_drop_and_stops_cleanly_on_sigterm(self):
        self.letterd.start()
        self.letterd.drop("d.json", submission(id="d"))
        self.letterd.wait_for_status("sent", 2, timeout=10)
        self.assertEqual(self.letterd.stop(), 0)
        self.assertIn("letterd stopped", self.letterd.daemon_log())


class RelayDown(unittest.TestCase):
    def test_messages_wait_while_the_relay_is_unreachable_and_none_fail(self):
        server = CaptureServer()
        server.start()
        port = server.port
        server.stop()  # nothing listens on the port now
        letterd = Letterd(port=port)
        try:
            letterd.drop("x.json", submission(id="x"))
            result = letterd.run_once()
            self.assertEqual(result.returncode, 0, result.stderr)
            rows = letterd.messages()
            self.assertEqual(len(rows), 2)
            self.assertTrue(all(r["status"] in ("queued", "deferred") for r in rows), rows)
            self.assertTrue(all(r["attempts"] == 0 for r in rows), "a relay fault costs no attempt")
            self.assertEqual(result.stderr.count("relay local paused"), 1, result.stderr)
            status = letterd.cli("status", check=True).stdout
            self.assertRegex(status, r"local .*FAILING.*Couldn't connect")
        finally:
            letterd.cleanup()


class StartTlsAndAuth(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="letterd-tls-")
        self.cert, self.key = make_self_signed_cert(self.tmp)
        self.server = CaptureServer(tls_cert=self.cert, tls_key=self.key, require_starttls=True,
                                    auth_users={"letters@example.org": "correct horse"})
        self.server.start()
        self.secret = os.path.join(self.tmp, "relay.secret")
        with open(self.secret, "w") as f:
            f.write("correct horse\n")
        os.chmod(self.secret, 0o600)

    def tearDown(self):
        self.server.stop()

    def letterd_with(self, **relay):
        base = {"url": f"smtp://localhost:{self.server.port}", "tls": "required", "ca_file": self.cert,
                "username": "letters@example.org"}
        base.update(relay)
        letterd = Letterd(port=self.server.port, relay=base)
        self.addCleanup(letterd.cleanup)
        return letterd

    def test_starttls_and_auth_with_a_password_file(self):
        letterd = self.letterd_with(password_file=self.secret)
        letterd.drop("a.json", submission(id="a"))
        result = letterd.run_once()
        self.assertEqual(result.returncode, 0, result.stderr)
        received = self.server.wait_for(2)
        self.assertTrue(all(m["authenticated_user"] == "letters@example.org" for m in received))
        self.assertEqual([r["status"] for r in letterd.messages()], ["sent", "sent"])
        self.assertNotIn("correct horse", result.stderr, "a password must never reach the log")

    def test_auth_with_a_password_from_the_environment(self):
        letterd = self.letterd_with(password_env="LETTERD_TEST_PASSWORD")
        letterd.drop("b.json", submission(id="b"))
        letterd.run_once(env={"LETTERD_TEST_PASSWORD": "correct horse"})
        self.assertEqual(len(self.server.wait_for(2)), 2)

    def test_auth_with_a_password_from_a_systemd_credential(self):
        credentials = tempfile.mkdtemp(prefix="letterd-credentials-")
        with open(os.path.join(credentials, "main"), "w") as f:
            f.write("correct horse")
        letterd = self.letterd_with(password_credential="main")
        letterd.drop("cred.json", submission(id="cred"))
        result = letterd.run_once(env={"CREDENTIALS_DIRECTORY": credentials})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(len(self.server.wait_for(2)), 2)

    def test_a_refused_password_pauses_the_relay_and_fails_nothing(self):
        with open(self.secret, "w") as f:
            f.write("wrong\n")
        letterd = self.letterd_with(password_file=self.secret)
        letterd.drop("c.json", submission(id="c"))
        result = letterd.run_once()
        self.assertEqual(result.returncode, 0)
        rows = letterd.messages()
        self.assertTrue(all(r["status"] in ("queued", "deferred") for r in rows), rows)
        self.assertEqual(self.server.messages, [])
        self.assertIn("relay local paused", result.stderr)
        self.assertNotIn("wrong", re.sub(r"wrong(?= )", "", result.stderr.replace("went wrong", "")))

    def test_a_password_that_cannot_be_read_refuses_the_start_naming_the_key(self):
        letterd = self.letterd_with(password_env="LETTERD_TEST_PASSWORD")
        letterd.drop("p.json", submission(id="p"))
        result = letterd.run_once()
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("relays.local.password_env: $LETTERD_TEST_PASSWORD is not set", result.stderr)
        self.assertEqual(letterd.waiting(), ["p.json"], "a config that cannot send takes nothing in")

    def test_a_reload_whose_password_cannot_be_read_keeps_the_old_config(self):
        letterd = self.letterd_with(password_file=self.secret)
        letterd.start()
        os.remove(self.secret)
        letterd.process.send_signal(signal.SIGHUP)
        deadline = time.time() + 5
        while "reload refused" not in letterd.daemon_log() and time.time() < deadline:
            time.sleep(0.02)
        letterd.drop("r.json", submission(id="r"))
        letterd.wait_for_status("sent", 2)
        self.assertEqual(letterd.stop(), 0)
        log = letterd.daemon_log()
        self.assertIn(f"reload: relays.local.password_file: no such file ({self.secret})", log)
        self.assertNotIn("correct horse", log)

    def test_smtps_speaks_tls_from_the_first_byte(self):
        server = CaptureServer(tls_cert=self.cert, tls_key=self.key, implicit_tls=True,
                               auth_users={"letters@example.org": "correct horse"})
        server.start()
        self.addCleanup(server.stop)
        letterd = Letterd(port=server.port, relay={
            "url": f"smtps://localhost:{server.port}", "tls": "required", "ca_file": self.cert,
            "username": "letters@example.org", "password_file": self.secret})
        self.addCleanup(letterd.cleanup)
        letterd.drop("s.json", submission(id="s"))
        result = letterd.run_once()
        self.assertEqual(result.returncode, 0, result.stderr)
        received = server.wait_for(2)
        self.assertTrue(all(m["authenticated_user"] == "letters@example.org" for m in received))

    def test_an_untrusted_certificate_is_refused(self):
        other_dir = tempfile.mkdtemp(prefix="letterd-other-ca-")
        other_cert, _ = make_self_signed_cert(other_dir)
        letterd = self.letterd_with(password_file=self.secret, ca_file=other_cert)
        letterd.drop("u.json", submission(id="u"))
        result = letterd.run_once()
        self.assertEqual(result.returncode, 0)
        self.assertEqual(self.server.messages, [], "no letter may go to a relay whose certificate fails")
        self.assertTrue(all(r["status"] in ("queued", "deferred") for r in letterd.messages()))
        self.assertIn("relay local paused", result.stderr)

    def test_tls_required_refuses_a_server_without_starttls(self):
        plain = CaptureServer()
        plain.start()
        self.addCleanup(plain.stop)
        letterd = Letterd(port=plain.port, relay={"tls": "required"})
        self.addCleanup(letterd.cleanup)
        letterd.drop("d.json", submission(id="d"))
        letterd.run_once()
        self.assertEqual(plain.messages, [], "nothing may go in clear text when tls is required")
        self.assertTrue(all(r["status"] in ("queued", "deferred") for r in letterd.messages()))


if __name__ == "__main__":
    unittest.main()
