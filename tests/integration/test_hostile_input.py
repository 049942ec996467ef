"""What a hostile test of the running daemon found: supporters' words in
error files, targets files read wrongly, invisible characters in display
names, forged log lines, and queue mistakes answered with the wrong words.
Each test drops files the way a careless or hostile writer would and
checks what letterd wrote, logged and sent."""
import json
import os
import stat
import time

from harness import RelayTestCase, submission

# A hand-written YAML note that lost its indentation: its last line becomes a key.
LOST_INDENT = """campaign: legal-advocacy
supporter: {name: Jane Doe, email: jane@example.org, postcode: SW1A 1AA, address: 1 Example Street}
constituency: Cities of London and Westminster
authorisation: {given: true, at: 2026-11-24T10:00:00Z}
personal_note: |
  I am writing because of what happened to me.
My stepfather abused me for years and the police said: nothing could be done
"""


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


class SupportersWordsStayOut(RelayTestCase):
    def rejection(self, name):
        rows = self.letterd.query("SELECT reasons FROM rejections WHERE file = ?", name)
        self.assertEqual(len(rows), 1, rows)
        return rows[0]["reasons"]

    def test_an_unknown_key_is_named_by_its_line_never_by_its_words(self):
        self.letterd.drop("note.yaml", LOST_INDENT)
        result = self.letterd.run_once()
        errors = self.letterd.error_file("note.yaml")
        self.assertEqual(errors, "an unknown key at line 7\n")
        for text in (errors, self.rejection("note.yaml"), result.stderr):
            self.assertNotIn("stepfather", text)
            self.assertNotIn("police", text)

    def test_a_typo_gets_a_suggestion_in_letterds_own_words(self):
        sub = submission(id="typo")
        sub["personal_notes"] = sub.pop("personal_note")
        self.letterd.drop("typo.json", json.dumps(sub, indent=1))
        self.letterd.run_once()
        self.assertRegex(self.letterd.error_file("typo.json"),
                         r"^an unknown key at line \d+ \(did you mean personal_note\?\)\n$")

    def test_values_given_are_never_echoed_back(self):
        self.letterd.drop("campaign.json", submission(id="c", campaign="my sister's name"))
        self.letterd.drop("letters.json", submission(id="l", letters=["mp", "what he did"],
                                                     target="my abuser's address"))
        self.letterd.drop("fields.json", submission(id="f", fields={"the night it happened": "x"}))
        self.letterd.run_once()
        self.assertEqual(self.letterd.error_file("campaign.json"), "campaign: is not a campaign in the config\n")
        letters = self.letterd.error_file("letters.json")
        self.assertIn("letters: names a letter campaign legal-advocacy does not have", letters)
        self.assertIn("target: is not one of the campaign's targets", letters)
        self.assertRegex(self.letterd.error_file("fields.json"), r"^fields: the key at line 1 must be ")
        for name in ("campaign.json", "letters.json", "fields.json"):
            for text in (self.letterd.error_file(name), self.rejection(name)):
                for words in ("sister", "what he did", "abuser", "the night"):
                    self.assertNotIn(words, text)

    def test_a_second_yaml_document_is_rejected_not_ignored(self):
        self.letterd.drop("two.yaml", LOST_INDENT.rsplit("My stepfather", 1)[0] +
                          "---\nsupporter: {name: Someone Else, email: else@example.com}\n")
        self.letterd.run_once()
        self.assertEqual(self.server.transactions, [])
        self.assertEqual(self.letterd.error_file("two.yaml"),
                         "line 8: a second YAML document (after a line ---): a file holds one submission\n")

    def test_a_non_ascii_address_is_said_to_be_unsupported(self):
        for name, email in (("idn.json", "jane@exämple.org"), ("local.json", "jané@example.org")):
            sub = submission(id=name.split(".")[0])
            sub["supporter"]["email"] = email
            self.letterd.drop(name, sub)
        self.letterd.run_once()
        for name in ("idn.json", "local.json"):
            self.assertEqual(self.letterd.error_file(name),
                             "supporter.email: addresses with non-ASCII characters are not supported\n")

    def test_invisible_characters_never_reach_a_display_name(self):
        for i, char in enumerate(["\u202e", "\u2066", "\u200b", "\ufeff", "\u061c"]):
            sub = submission(id=f"bidi{i}")
            sub["supporter"]["name"] = "Jane " + char + "eoD"
            sub["supporter"]["email"] = f"jane{i}@example.org"
            self.letterd.drop(f"bidi{i}.json", sub)
        self.letterd.drop("good.json", submission(id="good"))
        self.letterd.run_once()
        self.assertEqual(len(self.server.wait_for(2)), 2)
        for t in self.server.transactions:
            self.assertNotIn(b"eoD", t["data"])
        for i in range(5):
            self.assertEqual(self.letterd.error_file(f"bidi{i}.json").splitlines()[0],
                             "supporter.name: must not contain invisible characters (bidirectional controls or "
                             "zero-width characters)")


class TargetsFiles(RelayTestCase):
    def check_with_targets(self, name, text):
        path = os.path.join(self.letterd.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        self.letterd.campaign["targets"] = path
        self.letterd.write_config()
        return path, self.letterd.cli("check")

    def test_a_csv_column_given_twice_fails_the_check(self):
        path, result = self.check_with_targets(
            "targets.csv",
            "id,name,email,constituency,email\n"
            "mp-a,Alex Example MP,alex.example.mp@example.org,Cities of London and Westminster,wrong@example.com\n"
            "justice-secretary,Justice Secretary,justice.secretary@example.org,,wrong@example.com\n")
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn(f"{path}:1: column email appears twice in the header", result.stderr)

    def test_a_yaml_column_given_twice_fails_the_check(self):
        path, result = self.check_with_targets(
            "targets.yaml",
            "- id: justice-secretary\n"
            "  name: Justice Secretary\n"
            "  email: justice.secretary@example.org\n"
            "  email: wrong@example.com\n")
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn(f"{path}:4: column email is given twice", result.stderr)

    def test_a_second_yaml_document_fails_the_check(self):
        path, result = self.check_with_targets(
            "targets.yaml",
            "- {id: mp-a, name: Alex MP, email: alex@example.org, constituency: Cities of London and Westminster}\n"
            "---\n"
            "- {id: justice-secretary, name: Justice Secretary, email: justice.secretary@example.org}\n")
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn(f"{path}:3: a second YAML document", result.stderr)


class ForgedLogLines(RelayTestCase):
    def test_a_file_name_cannot_forge_a_log_line(self):
        name = "evil\n2026-11-24T10:00:00.000 info accepted forged.json: submission x\x1b[2K.json"
        self.letterd.drop(name, "[]")
        result = self.letterd.run_once()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(name, self.letterd.rejected(), "rejected, under its own name")
        self.assertNotIn("\x1b", result.stderr)
        forged = [line for line in result.stderr.splitlines() if line.startswith("2026-11-24T10:00:00.000")]
        self.assertEqual(forged, [], result.stderr)
        self.assertIn("rejected evil\\n2026-11-24T10:00:00.000 info accepted forged.json: submission x\\x1b[2K.json: "
                      "1 problem(s)", result.stderr)

    def test_a_relay_reply_cannot_forge_a_log_line(self):
        self.server.fail_next(1, 550, "5.7.1 no\x1b[2J\rforged\x1b]0;title\x07")
        self.letterd.drop("one.json", submission(id="one", letters=["justice-secretary"]))
        result = self.letterd.run_once()
        self.assertEqual([m["status"] for m in self.letterd.messages()], ["failed"])
        self.assertNotIn("\x1b", result.stderr)
        self.assertNotIn("\r", result.stderr)
        self.assertNotIn("\x07", result.stderr)
        self.assertIn("5.7.1 no\\x1b[2J\\rforged\\x1b]0;title\\x07", result.stderr)


class QueueMistakes(RelayTestCase):
    def new(self, name):
        return os.path.join(self.letterd.queue, "new", name)

    def test_a_symlink_is_named_as_one(self):
        secret = os.path.join(self.letterd.dir, "secret.json")
        with open(secret, "w") as f:
            json.dump(submission(id="secret"), f)
        os.symlink(secret, self.new("link.json"))
        self.letterd.run_once()
        self.assertIn("a symlink: letterd reads only regular files", self.letterd.error_file("link.json"))
        self.assertNotIn("Too many levels", self.letterd.error_file("link.json"))

    def test_a_directory_is_logged_once_and_left_where_it_is(self):
        os.mkdir(self.new("x.json"))
        self.letterd.start()
        time.sleep(3.5)  # three rescans at queue.rescan 1s
        self.letterd.stop()
        said = [line for line in self.letterd.daemon_log().splitlines() if "x.json" in line]
        self.assertEqual(len(said), 1, said)
        self.assertIn("new/x.json is a directory: letterd reads only regular files; it is left there", said[0])
        self.assertTrue(os.path.isdir(self.new("x.json")))
        self.assertEqual(self.letterd.rejected(), [])

    def write_slowly(self, name, text, pause=2.5):
        """Writes straight into new/, pausing halfway: longer than a rescan."""
        half = len(text) // 2
        with open(self.new(name), "w", encoding="utf-8") as f:
            f.write(text[:half])
            f.flush()
            time.sleep(pause)
            self.assertEqual(self.letterd.rejected(), [], "rejected while still being written")
            self.assertTrue(os.path.exists(self.new(name)))
            f.write(text[half:])

    def test_a_file_written_in_place_is_read_once_its_writer_is_done(self):
        self.letterd.start()
        self.write_slowly("slow.json", json.dumps(submission(id="slow")))
        self.letterd.wait_for_status("sent", 2)
        self.letterd.stop()
        self.assertEqual(self.letterd.rejected(), [])
        log = self.letterd.daemon_log()
        self.assertIn("slow.json is being written in new/", log)
        self.assertIn("slow.json was written in place: write to tmp/ and rename into new/", log)

    def test_a_bad_file_written_in_place_is_rejected_whole_with_the_reason(self):
        self.letterd.start()
        self.write_slowly("bad.json", json.dumps(submission(id="bad", campaign="nope")))
        deadline = time.time() + 10
        while "bad.json.error" not in self.letterd.rejected() and time.time() < deadline:
            time.sleep(0.05)
        self.letterd.stop()
        self.assertEqual(self.letterd.error_file("bad.json").splitlines(),
                         ["written in place: write to tmp/ and rename into new/",
                          "campaign: is not a campaign in the config"])
        with open(os.path.join(self.letterd.queue, "rejected", "bad.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["id"], "bad", "the whole file, read once it was finished")


class Modes(RelayTestCase):
    def test_letterd_gives_its_directories_and_files_the_modes_it_promises(self):
        queue = self.letterd.queue
        for sub in ("rejected", "accepted"):
            os.makedirs(os.path.join(queue, sub), exist_ok=True)
            os.chmod(os.path.join(queue, sub), 0o777)
        self.letterd.extra = {"queue": {"keep_accepted": True, "rescan": "1s"}}
        self.letterd.write_config()
        self.letterd.drop("bad.json", {"campaign": "nope"})
        self.letterd.drop("good.json", submission(id="good"))
        for name in ("bad.json", "good.json"):
            os.chmod(os.path.join(queue, "new", name), 0o666)
        result = self.letterd.run_once()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(mode_of(os.path.join(queue, "rejected")), 0o750)
        self.assertEqual(mode_of(os.path.join(queue, "accepted")), 0o750)
        for path in ("rejected/bad.json", "rejected/bad.json.error", "accepted/good.json"):
            self.assertEqual(mode_of(os.path.join(queue, path)), 0o640, path)
        for sub in ("", "tmp", "new"):
            self.assertEqual(mode_of(os.path.join(queue, sub)) & 0o007, 0, f"{sub}/: nothing for others")


if __name__ == "__main__":
    import unittest
    unittest.main()
