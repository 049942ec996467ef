"""Review of suspect letters against the real SMTP server: the same note
from six supporters to one target holds the sixth; a note a few words off
another holds too; a burst from one postcode holds the one past the limit;
`letterd review` shows the organiser each with its rule and note, and
`release` sends it as written. Template letters with different notes go."""
import json
import unittest

from harness import RelayTestCase, submission

NOTE = ("As a person who works with survivors of sexual violence, I see every week how the system fails them. "
        "An independent advocate at their side from the first report to the verdict would change that.")


def supporter(n, note, postcode="SW1A 1AA"):
    sub = submission(id=f"s{n}", personal_note=note)
    sub["supporter"] = dict(sub["supporter"], email=f"s{n}@example.org", name=f"Supporter {n}", postcode=postcode)
    return sub


class Review(RelayTestCase):
    def setUp(self):
        super().setUp()
        self.letterd.campaign["review"] = {"same_note": 5, "similar_note": 0.6, "per_postcode_day": 10}
        self.letterd.campaign["copy_to_supporter"] = "none"
        self.letterd.write_config()

    def accepted_order(self):
        """Submission ids in the order intake took them (the queue lists files in no set order)."""
        order = []
        for r in self.letterd.query("SELECT submission_id FROM messages ORDER BY id"):
            if r["submission_id"] not in order:
                order.append(r["submission_id"])
        return order

    def held(self):
        return self.letterd.query("SELECT id, submission_id, letter, review_rule, hold_reason FROM messages "
                                  "WHERE status = 'held' ORDER BY id")

    def test_the_same_note_from_six_supporters_holds_the_sixth_until_released(self):
        for n in range(1, 7):
            self.letterd.drop(f"s{n}.json", supporter(n, NOTE.upper() if n == 3 else NOTE, postcode=f"E1 {n}AA"))
        self.assertEqual(self.letterd.run_once().returncode, 0)
        held = self.held()
        sixth = self.accepted_order()[5]
        self.assertEqual([(r["submission_id"], r["review_rule"]) for r in held],
                         [(sixth, "same_note"), (sixth, "same_note")], "both of the sixth's letters, to each target")
        self.assertEqual(held[0]["hold_reason"],
                         "review (same_note): the same note as 5 other supporter(s) wrote to this target")
        self.assertEqual(len(self.server.wait_for(10)), 10)

        shown = self.letterd.cli("review", check=True).stdout
        self.assertIn("same_note: 2 letter(s)", shown)
        n = sixth[1:]
        self.assertIn(f"from Supporter {n} (E1 {n}AA)", shown)
        self.assertIn("note: " + NOTE, shown)
        listed = json.loads(self.letterd.cli("review", "--format", "json", check=True).stdout)
        self.assertEqual(sorted(r["id"] for r in listed), [r["id"] for r in held])

        self.letterd.cli("release", str(held[0]["id"]), check=True)
        self.letterd.cli("cancel", str(held[1]["id"]), "--reason", "a copied note", check=True)
        self.assertEqual(self.letterd.run_once().returncode, 0)
        self.assertEqual(len(self.server.wait_for(11)), 11)
        self.assertEqual(self.letterd.cli("review", check=True).stdout, "no letters wait for review\n")
        statuses = {r["id"]: r["status"] for r in self.letterd.query("SELECT id, status FROM messages")}
        self.assertEqual((statuses[held[0]["id"]], statuses[held[1]["id"]]), ("sent", "cancelled"))

    def test_a_note_a_few_words_off_anothers_is_held_and_different_notes_go(self):
        self.letterd.drop("a.json", supporter(1, NOTE, postcode="E1 1AA"))
        self.letterd.drop("b.json", supporter(2, "My daughter waited three years for her case to come to court, and "
                                                 "nobody explained anything to her in all that time.", "E1 2AA"))
        self.assertEqual(self.letterd.run_once().returncode, 0)
        self.letterd.drop("c.json", supporter(3, NOTE.replace("every week", "every single week") + " Thank you.",
                                              postcode="E1 3AA"))
        self.assertEqual(self.letterd.run_once().returncode, 0)
        self.assertEqual({(r["submission_id"], r["review_rule"]) for r in self.held()}, {("s3", "similar_note")})
        self.assertRegex(self.held()[0]["hold_reason"],
                         r"^review \(similar_note\): a note \d+% like another supporter's to this target$")

    def test_more_supporters_from_one_postcode_in_a_day_than_the_limit_are_held(self):
        for n in range(1, 13):
            self.letterd.drop(f"p{n}.json", supporter(n, f"Note number {n}, my own words.", postcode="sw1a1aa"))
        self.assertEqual(self.letterd.run_once().returncode, 0)
        held = self.held()
        self.assertEqual(sorted({r["submission_id"] for r in held}), sorted(self.accepted_order()[10:]))
        self.assertEqual({r["review_rule"] for r in held}, {"per_postcode_day"})

        # What review keeps of a supporter (their postcode, their note's hashes) goes with them.
        def kept_of(email):
            return self.letterd.query("SELECT count(*) AS n FROM review_notes r JOIN messages m ON m.id = r.message_id "
                                      "WHERE m.supporter_email = ?", email)[0]["n"]
        self.assertEqual(kept_of("s1@example.org"), 2)
        self.letterd.cli("purge", "--supporter", "s1@example.org", check=True)
        self.assertEqual(kept_of("s1@example.org"), 0)
        self.assertEqual(len(self.letterd.query("SELECT message_id FROM review_notes")), 22)


if __name__ == "__main__":
    unittest.main()
