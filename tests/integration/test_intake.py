"""Files dropped in the queue: what letterd accepts, what it rejects and
why, and that nothing accepted is ever sent twice."""
import json
import os
import unittest

from harness import RelayTestCase, submission


class Intake(RelayTestCase):
    def rejection_reasons(self):
        return {r["file"]: r["reasons"] for r in self.letterd.query("SELECT * FROM rejections")}

    def test_bad_files_are_rejected_with_every_reason_and_good_ones_still_go(self):
        bad_email = submission(id="bad-email", supporter={"name": "A", "email": "not an address",
                                                          "postcode": "X", "address": "Y"})
        typo = submission(id="typo")
        typo["suporter_note"] = "typo in a key"
        many = submission(id="many", constituency="Nowhere At All")
        many["authorisation"] = {"given": False, "at": "2999-01-01T00:00:00Z"}
        del many["supporter"]["postcode"]
        self.letterd.drop("bad-email.json", bad_email)
        self.letterd.drop("typo.json", typo)
        self.letterd.drop("many.json", many)
        self.letterd.drop("broken.json", '{"campaign": "legal-advocacy", ')
        self.letterd.drop("notes.txt", "hello")
        self.letterd.drop("good.json", submission(id="good"))
        result = self.letterd.run_once()
        self.assertEqual(result.returncode, 0, result.stderr)

        self.assertEqual(len(self.server.wait_for(2)), 2, "the good file's letters are sent")
        self.assertEqual({m["submission_id"] for m in self.letterd.messages()}, {"good"})
        self.assertEqual(self.letterd.waiting(), [])
        rejected = self.letterd.rejected()
        for name in ("bad-email.json", "typo.json", "many.json", "broken.json", "notes.txt"):
            self.assertIn(name, rejected)
            self.assertIn(name + ".error", rejected)

        self.assertIn("supporter.email", self.letterd.error_file("bad-email.json"))
        # The key itself is never echoed: a note that lost its indentation becomes a "key".
        self.assertIn("an unknown key at line 1", self.letterd.error_file("typo.json"))
        self.assertNotIn("suporter_note", self.letterd.error_file("typo.json"))
        many_errors = self.letterd.error_file("many.json").splitlines()
        for key in ("constituency:", "authorisation.at:", "supporter.postcode:", "authorisation.given:"):
            self.assertTrue(any(line.startswith(key) for line in many_errors), (key, many_errors))
        self.assertIn("not valid JSON", self.letterd.error_file("broken.json"))
        self.assertIn(".json, .yaml or .yml", self.letterd.error_file("notes.txt"))

        reasons = self.rejection_reasons()
        self.assertEqual(set(reasons), {"bad-email.json", "typo.json", "many.json", "broken.json", "notes.txt"})
        self.assertIn("supporter.email", reasons["bad-email.json"])
        self.assertIn("rejected many.json", result.stderr)

    def test_a_header_injection_attempt_is_rejected_and_nothing_is_sent(self):
        evil = submission(id="evil", supporter={"name": "Jane\r\nBcc: victim@example.com",
                                                "email": "jane@example.org", "postcode": "X", "address": "Y"})
        self.letterd.drop("evil.json", evil)
        self.letterd.run_once()
        self.assertEqual(self.server.transactions, [])
        self.assertIn("supporter.name", self.letterd.error_file("evil.json"))

    def test_a_submission_can_never_choose_its_own_recipient(self):
        sub = submission(id="relay", target="someone@example.com")
        self.letterd.drop("relay.json", sub)
        self.letterd.run_once()
        self.assertEqual(self.server.transactions, [])
        self.assertIn("target", self.letterd.error_file("relay.json"))

    def test_a_supporter_writes_once_to_each_target(self):
        self.letterd.drop("first.json", submission(id="first"))
        self.letterd.run_once()
        # Same supporter (address in another case), only the Justice Secretary letter is new: none is.
        again = submission(id="second")
        again["supporter"]["email"] = "JANE@Example.org"
        self.letterd.drop("second.json", again)
        # Another supporter in another constituency writing to the same Justice Secretary is fine.
        other = submission(id="third", constituency="Islington North")
        other["supporter"]["email"] = "other@example.org"
        self.letterd.drop("third.json", other)
        self.letterd.run_once()

        self.assertEqual(len(self.server.wait_for(4)), 4)
        self.assertIn("second.json", self.letterd.rejected())
        self.assertIn("duplicate", self.letterd.error_file("second.json"))
        self.assertIn("duplicate", self.rejection_reasons()["second.json"])
        self.assertEqual([m["submission_id"] for m in self.letterd.messages()], ["first", "first", "third", "third"])

    def test_a_partial_duplicate_sends_only_the_new_letter(self):
        self.letterd.drop("first.json", submission(id="first", letters=["justice-secretary"]))
        self.letterd.run_once()
        self.letterd.drop("second.json", submission(id="second"))
        self.letterd.run_once()
        letters = [(m["submission_id"], m["letter"]) for m in self.letterd.messages()]
        self.assertEqual(letters, [("first", "justice-secretary"), ("second", "mp")])
        self.assertNotIn("second.json", self.letterd.rejected(), "the file was accepted for its new letter")
        self.assertIn("duplicate", self.rejection_reasons()["second.json"])

    def test_the_same_submission_id_in_another_file_is_a_duplicate(self):
        self.letterd.drop("a.json", submission(id="same"))
        self.letterd.run_once()
        other = submission(id="same")
        other["supporter"]["email"] = "someone.else@example.org"
        self.letterd.drop("b.json", other)
        self.letterd.run_once()
        self.assertIn("b.json", self.letterd.rejected())
        self.assertIn("submission id same was already accepted", self.letterd.error_file("b.json"))
        self.assertEqual(len(self.letterd.messages()), 2)

    def test_a_file_read_again_after_a_crash_is_not_sent_twice(self):
        sub = submission(id="crash")
        self.letterd.drop("crash.json", sub)
        self.letterd.run_once()
        self.server.wait_for(2)
        # As if letterd died after the commit but before removing the file.
        self.letterd.drop("crash.json", sub)
        result = self.letterd.run_once()
        self.assertEqual(result.returncode, 0)
        self.assertEqual(self.letterd.waiting(), [])
        self.assertEqual(self.letterd.rejected(), [], "a re-read file is finished, not rejected")
        self.assertEqual(len(self.letterd.messages()), 2)
        self.assertEqual(len(self.server.transactions), 2)
        self.assertIn("already accepted", result.stderr)

    def test_a_new_file_reusing_an_accepted_name_is_rejected_not_dropped(self):
        jane = submission()
        del jane["personal_note"]
        self.letterd.drop("letter.json", jane)
        self.letterd.run_once()
        bob = submission(constituency="Islington North")
        bob["supporter"] = {"name": "Bob", "email": "bob@example.org", "postcode": "N1", "address": "2 Road"}
        self.letterd.drop("letter.json", bob)  # same name, other bytes, same default id "letter"
        result = self.letterd.run_once()
        self.assertIn("letter.json", self.letterd.rejected(), result.stderr)
        self.assertIn("submission id letter was already accepted", self.letterd.error_file("letter.json"))

    def test_one_submission_never_sends_one_target_two_letters(self):
        self.letterd.campaign["letters"]["again"] = {
            "template": self.letterd.campaign["letters"]["mp"]["template"],
            "to": {"target": "mp-cities-of-london-and-westminster"}}
        self.letterd.write_config()
        self.letterd.drop("twice.json", submission(id="twice"))
        self.letterd.run_once()
        to_mp = [m for m in self.letterd.messages() if m["target_id"] == "mp-cities-of-london-and-westminster"]
        self.assertEqual(len(to_mp), 1)
        self.assertIn("duplicate", self.rejection_reasons()["twice.json"])

    def test_a_failed_letter_or_a_test_in_reflect_mode_does_not_block_writing_again(self):
        self.letterd.campaign["mode"] = "reflect"
        self.letterd.write_config()
        self.letterd.drop("test.json", submission(id="test"))
        self.letterd.run_once()
        self.letterd.campaign["mode"] = "live"
        self.letterd.write_config()
        self.server.reject_rcpt("alex.example.mp@example.org", 550, "5.1.1 no such mailbox")
        self.letterd.drop("live.json", submission(id="live"))
        self.letterd.run_once()
        self.server.clear_faults()
        self.letterd.drop("again.json", submission(id="again", letters=["mp"]))
        self.letterd.run_once()
        rows = [(m["submission_id"], m["letter"], m["status"]) for m in self.letterd.messages()]
        self.assertEqual(rows[2:], [("live", "mp", "failed"), ("live", "justice-secretary", "sent"),
                                    ("again", "mp", "sent")])

    def test_rejections_name_the_problem_not_what_the_supporter_wrote(self):
        sub = submission(id="private", constituency="My Secret Village")
        sub["authorisation"]["at"] = "the day I was assaulted"
        self.letterd.drop("private.json", sub)
        result = self.letterd.run_once()
        self.assertIn("rejected private.json: 2 problem(s)", result.stderr)
        errors = self.letterd.error_file("private.json")
        reasons = self.rejection_reasons()["private.json"]
        for text in (result.stderr, errors, reasons):
            self.assertNotIn("My Secret Village", text)
            self.assertNotIn("assaulted", text)
        self.assertIn("constituency: matches none of the campaign's targets", errors)
        self.assertIn("authorisation.at: is not an RFC 3339 time", errors)

    def test_keep_accepted_moves_files_to_accepted(self):
        self.letterd.extra = {"queue": {"keep_accepted": True}}
        self.letterd.write_config()
        self.letterd.drop("keep.yaml", "id: keep\n" + json.dumps(submission())[1:-1].replace('", "', '",\n"'))
        self.letterd.drop("keep2.json", submission(id="keep2", supporter={
            "name": "B", "email": "b@example.org", "postcode": "X", "address": "Y"}))
        self.letterd.run_once()
        accepted = os.listdir(os.path.join(self.letterd.queue, "accepted"))
        self.assertIn("keep2.json", accepted)

    def test_a_symlink_is_rejected_not_followed(self):
        secret = os.path.join(self.letterd.dir, "secret.json")
        with open(secret, "w") as f:
            json.dump(submission(id="secret"), f)
        os.symlink(secret, os.path.join(self.letterd.queue, "new", "link.json"))
        result = self.letterd.run_once()
        self.assertEqual(result.returncode, 0)
        self.assertEqual(self.letterd.messages(), [])
        self.assertIn("link.json", self.letterd.rejected())
        self.assertIn("cannot open", self.letterd.error_file("link.json"))

    def test_hidden_files_are_left_alone(self):
        self.letterd.drop(".partial.json", submission(id="partial"))
        self.letterd.run_once()
        self.assertEqual(self.letterd.waiting(), [".partial.json"])
        self.assertEqual(self.letterd.messages(), [])

    def test_a_yaml_submission_and_a_default_id(self):
        self.letterd.drop("web-77.yaml", """
campaign: legal-advocacy
letters: [mp]
supporter: {name: Sam Writer, email: sam@example.com, postcode: CF24 0AA, address: 3 Test Terrace}
target: mp-cardiff-east
authorisation: {given: true, at: 2026-11-25T09:15:00+00:00, statement: I authorise it.}
""")
        self.letterd.run_once()
        rows = self.letterd.messages()
        self.assertEqual([(r["submission_id"], r["target_id"], r["status"]) for r in rows],
                         [("web-77", "mp-cardiff-east", "sent")])


if __name__ == "__main__":
    unittest.main()
