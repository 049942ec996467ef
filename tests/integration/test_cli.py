"""The organiser's commands: check, preview, enqueue, log, status, and
the exit codes scripts rely on (0 done, 1 runtime failure, 2 bad usage or config)."""
import csv
import io
import json
import os
import time
import unittest

from harness import RelayTestCase, parse, submission


class Cli(RelayTestCase):
    def write_template(self, name, text):
        path = os.path.join(self.letterd.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def test_check_passes_a_good_config(self):
        result = self.letterd.cli("check")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("OK", result.stdout)
        self.assertIn("7 target(s)", result.stdout)

    def test_check_lists_every_problem_with_its_key_path_and_exits_2(self):
        typo = self.write_template("typo.txt", "---\nsubject: Hi {{target.nmae}}\n---\nDear {{target.name}},\n")
        unbalanced = self.write_template("unbalanced.txt", "---\nsubject: Hi\n---\nDear {{target.name}},\n"
                                                           "{{#personal_note}}\n{{personal_note}}\n\nYours,\n")
        self.letterd.campaign["letters"]["mp"]["template"] = typo
        self.letterd.campaign["letters"]["justice-secretary"]["template"] = unbalanced
        self.letterd.campaign["letters"]["third"] = {"template": "missing.txt", "to": {"target": "justice-secretary"}}
        self.letterd.campaign["relay"] = "nowhere"
        self.letterd.campaign["copy_to_supporter"] = "cc"
        self.letterd.retry = {"first": "5 minutes"}
        self.letterd.relay["pasword_file"] = "/etc/letterd/x"
        self.letterd.write_config()
        result = self.letterd.cli("check")
        self.assertEqual(result.returncode, 2)
        err = result.stderr
        c = "campaigns.legal-advocacy"
        self.assertIn(f"{c}.letters.third.template: no such file", err)
        self.assertIn(f"{c}.relay: no relay named 'nowhere'", err)
        self.assertIn(f"{c}.copy_to_supporter: 'cc' is not one of bcc | none", err)
        self.assertIn("retry.first: '5 minutes' is not a duration", err)
        self.assertIn("relays.local.pasword_file: unknown key", err)
        self.assertIn(f"{typo}:2: unknown name target.nmae", err)
        self.assertIn(f"{unbalanced}:5: section personal_note is never closed", err)
        self.assertIn("7 problem(s)", err)

    def test_check_outside_the_service_leaves_a_credential_to_it(self):
        self.letterd.relay.update({"username": "letters@example.org", "password_credential": "main"})
        self.letterd.write_config()
        result = self.letterd.cli("check")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("relays.local.password_credential: $CREDENTIALS_DIRECTORY/main is read by the service",
                      result.stdout)

    def test_run_with_a_bad_config_exits_2_and_touches_nothing(self):
        self.letterd.write_config("queue_dir: [not, a, path]\n")
        self.letterd.drop("a.json", submission(id="a"))
        result = self.letterd.run_once()
        self.assertEqual(result.returncode, 2)
        self.assertIn("queue_dir", result.stderr)
        self.assertEqual(self.letterd.waiting(), ["a.json"])

    def test_status_and_log_never_create_a_database(self):
        for command in ("status", "log"):
            result = self.letterd.cli(command)
            self.assertEqual(result.returncode, 1)
            self.assertIn("no database at", result.stderr)
        self.assertFalse(os.path.exists(self.letterd.database))

    def test_bad_usage_exits_2(self):
        self.assertEqual(self.letterd.cli("frobnicate").returncode, 2)
        self.assertEqual(self.letterd.cli("log", "--format", "xml").returncode, 2)
        self.assertEqual(self.letterd.cli("log", "--status", "lost").returncode, 2)
        self.assertEqual(self.letterd.cli("preview").returncode, 2)

    def test_preview_prints_the_messages_and_sends_nothing(self):
        path = os.path.join(self.letterd.dir, "web-9.json")
        with open(path, "w") as f:
            json.dump(submission(id="web-9", personal_note="My own words – £5"), f, ensure_ascii=False)
        result = self.letterd.cli("preview", path)
        self.assertEqual(result.returncode, 0, result.stderr)
        out = result.stdout
        self.assertIn("letter mp to target mp-cities-of-london-and-westminster", out)
        self.assertIn("To: Alex Example MP <alex.example.mp@example.org>", out)
        self.assertIn("To: Rt Hon Robert Buckland QC MP <justice.secretary@example.org>", out)
        self.assertIn("Content-Transfer-Encoding: quoted-printable", out)
        self.assertIn("My own words – £5", out)
        self.assertEqual(self.server.transactions, [])
        self.assertFalse(os.path.exists(self.letterd.database), "preview opens no database")

    def test_preview_shows_the_headers_run_sends(self):
        # Reflect mode adds a header of its own: preview must show it too.
        self.letterd.campaign["mode"] = "reflect"
        self.letterd.write_config()
        path = os.path.join(self.letterd.dir, "web-10.json")
        with open(path, "w") as f:
            json.dump(submission(id="web-10"), f)
        result = self.letterd.cli("preview", path)
        self.assertEqual(result.returncode, 0, result.stderr)
        previewed = []
        for block in result.stdout.split("=== message ")[1:]:
            headers = block.split("\n", 1)[1].split("\n\n", 1)[0]
            previewed.append(parse((headers + "\n\n").encode()))
        self.letterd.drop("web-10.json", submission(id="web-10"))
        self.letterd.run_once()
        sent = [parse(raw["data"]) for raw in self.server.wait_for(2)]
        varying = {"Date", "Message-ID"}
        shown = sorted([(k, str(v)) for k, v in m.items() if k not in varying] for m in previewed)
        went = sorted([(k, str(v)) for k, v in m.items() if k not in varying] for m in sent)
        self.assertEqual(shown, went)
        self.assertTrue(all(m["X-Letterd-Mode"] for m in previewed))

    def test_preview_of_a_bad_submission_names_the_problem(self):
        path = os.path.join(self.letterd.dir, "bad.json")
        with open(path, "w") as f:
            json.dump(submission(constituency="Atlantis"), f)
        result = self.letterd.cli("preview", path)
        self.assertEqual(result.returncode, 1)
        self.assertIn("constituency: matches none of the campaign's targets", result.stderr)

    def test_enqueue_drops_files_atomically_and_never_replaces_one(self):
        path = os.path.join(self.letterd.dir, "web-5.json")
        with open(path, "w") as f:
            json.dump(submission(id="web-5"), f)
        result = self.letterd.cli("enqueue", path)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.letterd.waiting(), ["web-5.json"])
        self.assertEqual(os.listdir(os.path.join(self.letterd.queue, "tmp")), [])
        again = self.letterd.cli("enqueue", path)
        self.assertEqual(again.returncode, 1)
        self.assertIn("web-5.json", again.stderr)
        self.assertEqual(self.letterd.cli("enqueue", "/nonexistent/file.json").returncode, 1)

    def test_log_formats_parse_back_and_filters_apply(self):
        self.server.reject_rcpt("justice.secretary@example.org", 550, "5.1.1 no such user")
        self.letterd.drop("a.json", submission(id="a"))
        self.letterd.run_once()

        table = self.letterd.cli("log", check=True).stdout
        self.assertIn("mp-cities-of-london-and-westminster", table)
        self.assertIn("failed", table)

        rows = list(csv.DictReader(io.StringIO(self.letterd.cli("log", "--format", "csv", check=True).stdout)))
        self.assertEqual([(r["letter"], r["status"]) for r in rows], [("mp", "sent"), ("justice-secretary", "failed")])
        self.assertEqual(rows[1]["smtp_code"], "550")
        self.assertIn("no such user", rows[1]["smtp_response"])

        data = json.loads(self.letterd.cli("log", "--format", "json", check=True).stdout)
        self.assertEqual(len(data), 2)
        self.assertEqual(data[0]["status"], "sent")
        self.assertEqual(data[0]["smtp_code"], 250)
        self.assertIsInstance(data[0]["attempts"], int)

        failed = json.loads(self.letterd.cli("log", "--status", "failed", "--format", "json", check=True).stdout)
        self.assertEqual([r["target"] for r in failed], ["justice-secretary"])
        by_target = json.loads(self.letterd.cli("log", "--target", "justice-secretary", "--format=json").stdout)
        self.assertEqual(len(by_target), 1)
        future = json.loads(self.letterd.cli("log", "--since", "2999-01-01", "--format", "json").stdout)
        self.assertEqual(future, [])
        self.assertEqual(json.loads(self.letterd.cli("log", "--campaign", "other", "--format", "json").stdout), [])

    def test_status_shows_counts_and_the_last_errors(self):
        self.server.fail_next(1, 451, "4.7.0 greylisted")
        self.letterd.drop("a.json", submission(id="a"))
        self.letterd.run_once()
        out = self.letterd.cli("status", check=True).stdout
        line = next(l for l in out.splitlines() if l.startswith("legal-advocacy"))
        queued, sending, deferred, sent, failed, held, cancelled, bounced, collecting = [int(x) for x in line.split()[1:]]
        self.assertEqual((deferred, sent, failed, held, cancelled, bounced, collecting), (1, 1, 0, 0, 0, 0, 0))
        self.assertIn("greylisted", out)
        self.assertIn("sent in the last minute: 1", out)
        self.assertRegex(out, r"local +smtp://127\.0\.0\.1:\d+, ok: last try")


if __name__ == "__main__":
    unittest.main()


class OrganiserCommands(RelayTestCase):
    def test_report_answers_did_every_mp_get_our_letters(self):
        self.server.reject_rcpt("justice.secretary@example.org", 550, "5.1.1 no such user")
        for i, constituency in enumerate(["Cities of London and Westminster", "Islington North", "Islington North"]):
            sub = submission(id=f"r{i}", constituency=constituency)
            sub["supporter"]["email"] = f"r{i}@example.org"
            self.letterd.drop(f"r{i}.json", sub)
        self.letterd.run_once()
        report = json.loads(self.letterd.cli("report", "--format", "json", check=True).stdout)
        by_target = {r["key"]: r for r in report if r["scope"] == "target"}
        self.assertEqual(by_target["mp-islington-north"]["sent"], 2)
        self.assertEqual(by_target["mp-cities-of-london-and-westminster"]["sent"], 1)
        self.assertEqual(by_target["justice-secretary"]["failed"], 3)
        self.assertEqual(by_target["mp-cardiff-east"]["sent"], 0, "a target no letter reached still shows")
        self.assertEqual(by_target["mp-cardiff-east"]["name"], "Morgan Test MP")
        # The counts are the database's own.
        for key, row in by_target.items():
            counted = self.letterd.query(
                "SELECT sum(status = 'sent') AS sent, sum(status = 'failed') AS failed FROM messages "
                "WHERE target_id = ?", key)[0]
            self.assertEqual((row["sent"], row["failed"]), (counted["sent"] or 0, counted["failed"] or 0), key)
        days = [r for r in report if r["scope"] == "day"]
        self.assertEqual(sum(d["sent"] for d in days), 3)
        self.assertEqual(sum(d["failed"] for d in days), 3)
        rows = list(csv.DictReader(io.StringIO(self.letterd.cli("report", "--format", "csv", check=True).stdout)))
        self.assertEqual(len(rows), len(report))
        table = self.letterd.cli("report", "--campaign", "legal-advocacy", check=True).stdout
        self.assertIn("Morgan Test MP", table)
        self.assertEqual(self.letterd.cli("report", "--campaign", "nope").returncode, 2)

    def test_retry_puts_failed_letters_back_and_they_go(self):
        self.server.fail_next(2, 554, "5.7.1 content rejected")
        self.letterd.drop("f.json", submission(id="f"))
        self.letterd.run_once()
        self.assertEqual([r["status"] for r in self.letterd.messages()], ["failed", "failed"])
        one = self.letterd.cli("retry", "1")
        self.assertEqual(one.returncode, 0, one.stderr)
        self.assertEqual(self.letterd.cli("retry", "1").returncode, 1, "a queued message is not failed")
        self.assertIn("no such message", self.letterd.cli("retry", "99").stderr)
        self.assertEqual(self.letterd.cli("retry", "x").returncode, 2)
        self.assertEqual(self.letterd.cli("retry", "--failed", check=True).returncode, 0)
        self.letterd.run_once()
        rows = self.letterd.messages()
        self.assertEqual([r["status"] for r in rows], ["sent", "sent"])
        self.assertEqual([r["attempts"] for r in rows], [2, 2])

    def test_purge_erases_bodies_and_notes_past_retention_and_keeps_counts(self):
        self.letterd.extra = {"retention": {"bodies": "300ms"}}
        self.letterd.write_config()
        self.server.fail_next(1, 451, "4.3.0 later")  # the first letter waits, so it keeps its body
        self.letterd.drop("p.json", submission(id="p", personal_note="Something very private."))
        self.letterd.run_once()
        time.sleep(0.4)
        out = self.letterd.cli("purge", check=True).stdout
        self.assertIn("erased 1 letter body and 0 personal note(s)", out)
        rows = self.letterd.messages()
        self.assertEqual([(r["status"], r["body"] is None) for r in rows], [("deferred", False), ("sent", True)])
        note = self.letterd.query("SELECT personal_note FROM submissions")[0]["personal_note"]
        self.assertEqual(note, "Something very private.", "a waiting letter still needs the note")
        time.sleep(0.6)
        self.letterd.run_once()
        time.sleep(0.4)
        self.letterd.cli("purge", check=True)
        self.assertTrue(all(r["body"] is None for r in self.letterd.messages()))
        self.assertIsNone(self.letterd.query("SELECT personal_note FROM submissions")[0]["personal_note"])
        self.assertEqual(self.letterd.query("SELECT count(*) AS n FROM messages WHERE status = 'sent'")[0]["n"], 2)

    def test_purge_supporter_erases_one_persons_data_and_keeps_anonymous_counts(self):
        jane = submission(id="jane", personal_note="What happened to me in 2019.")
        self.letterd.drop("jane.json", jane)
        bob = submission(id="bob", constituency="Islington North")
        bob["supporter"] = {"name": "Bob Example", "email": "bob@example.org", "postcode": "N7 8AA",
                            "address": "9 Other Road"}
        self.letterd.drop("bob.json", bob)
        self.server.reject_rcpt("justice.secretary@example.org", 451, "4.2.0 mailbox busy, try later")
        self.letterd.run_once()
        out = self.letterd.cli("purge", "--supporter", "JANE@example.org", check=True).stdout
        self.assertIn("erased the personal data of 1 submission(s) and 2 letter(s); 1 letter(s) not yet sent", out)

        raw = b""
        for suffix in ("", "-wal"):
            path = self.letterd.database + suffix
            if os.path.exists(path):
                with open(path, "rb") as f:
                    raw += f.read()
        for secret in (b"Jane Doe", b"jane@example.org", b"SW1A 1AA", b"1 Example Street", b"What happened to me"):
            at = raw.find(secret)
            self.assertEqual(at, -1, f"{secret!r} lingers in the database: {raw[max(0, at - 80):at + 40]!r}")
        self.assertTrue(b"Bob Example" in raw, "other supporters are untouched")

        rows = {(r["submission_id"], r["letter"]): r for r in self.letterd.messages()}
        self.assertEqual(rows[("jane", "mp")]["status"], "sent", "the anonymous fact stays")
        self.assertEqual(rows[("jane", "justice-secretary")]["status"], "failed", "a waiting letter is cancelled")
        self.assertIsNotNone(rows[("bob", "mp")]["body"])
        report = json.loads(self.letterd.cli("report", "--format", "json", check=True).stdout)
        city = next(r for r in report if r["key"] == "mp-cities-of-london-and-westminster")
        self.assertEqual(city["sent"], 1)
        self.assertEqual(self.letterd.cli("purge", "--supporter", "not-an-address").returncode, 2)

    def test_purge_supporter_stops_letters_a_running_daemon_already_claimed(self):
        # One session, stalled 3 s on the first letter: the next supporter's letters are claimed and wait.
        self.letterd.relay["connections"] = 1
        self.letterd.campaign["copy_to_supporter"] = "none"
        self.letterd.write_config()
        self.server.delay_next(1, 3)
        self.letterd.start()
        self.letterd.drop("first.json", submission(id="first", letters=["justice-secretary"]))
        deadline = time.time() + 5
        while not self.server.connections and time.time() < deadline:
            time.sleep(0.02)
        bob = submission(id="bob")
        bob["supporter"] = dict(bob["supporter"], name="Bob Example", email="bob@example.org")
        self.letterd.drop("bob.json", bob)
        self.letterd.wait_for_status("sending", 3, timeout=5)  # the stalled one and bob's two, claimed ahead
        out = self.letterd.cli("purge", "--supporter", "bob@example.org", check=True).stdout
        self.assertIn("2 letter(s) not yet sent", out)
        self.letterd.wait_for_status("sent", 1, timeout=10)
        time.sleep(0.5)
        self.assertEqual(self.letterd.stop(), 0)
        self.assertEqual(len(self.server.messages), 1, "bob's claimed letters never went out")
        statuses = [r["status"] for r in self.letterd.messages() if r["submission_id"] == "bob"]
        self.assertEqual(statuses, ["failed", "failed"])
        self.assertTrue(all(r["body"] is None for r in self.letterd.messages() if r["submission_id"] == "bob"))
        self.assertIn("was cancelled before it was sent", self.letterd.daemon_log())
