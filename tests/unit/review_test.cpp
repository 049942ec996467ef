// The review's comparison of personal notes: the normal form, the
// fingerprint of the same note written with other case, spaces and
// punctuation, and the similarity of notes that share most of their words.
#include "review.h"

#include <gtest/gtest.h>

namespace letterd {
namespace {

const char* kNote =
    "As a person who works with survivors of sexual violence, I see every week how the system fails them. "
    "An independent advocate at their side from the first report to the verdict would change that.";

TEST(Review, NotesAreComparedWithCaseSpacesAndPunctuationFolded) {
  EXPECT_EQ(normal_note("  Hello,   World!\n\nIt's ME -- again... "), "hello world it s me again");
  EXPECT_EQ(normal_note("Café au lait"), "café au lait") << "letters beyond ASCII are kept";
  EXPECT_EQ(normal_note("?!"), "");
  EXPECT_EQ(note_fingerprint(normal_note(kNote)),
            note_fingerprint(normal_note("as a PERSON who works with survivors of sexual violence I see every week how "
                                         "the system fails them; an independent advocate at their side from the first "
                                         "report to the verdict would change that")));
  EXPECT_NE(note_fingerprint(normal_note(kNote)), note_fingerprint(normal_note("A different note entirely.")));
  EXPECT_EQ(note_fingerprint(""), 0u);
}

TEST(Review, ANoteWithAFewWordsChangedIsSimilarADifferentOneIsNot) {
  auto original = note_runs(normal_note(kNote));
  ASSERT_GE(original.size(), 3u) << "a note this long keeps enough runs to compare";
  EXPECT_DOUBLE_EQ(note_similarity(original, original), 1.0);

  // The same note with its supporter's name and one word changed.
  auto edited = note_runs(normal_note(
      "As a person who works with survivors of sexual violence, I see every single week how the system fails them. "
      "An independent advocate at their side from the first report to the verdict would change that. Sam."));
  EXPECT_GT(note_similarity(original, edited), 0.6);

  auto other = note_runs(normal_note(
      "My daughter waited three years for her case to come to court, and nobody explained anything to her in all "
      "that time; the police, the prosecutors and the court each told her to ask someone else."));
  EXPECT_LT(note_similarity(original, other), 0.1);
}

TEST(Review, AShortNoteIsComparedWholeOnly) {
  EXPECT_TRUE(note_runs(normal_note("Please act now. Thank you.")).empty());
  EXPECT_EQ(note_similarity({}, note_runs(normal_note(kNote))), 0.0);
  // Two different short notes that open alike are not similar for it.
  EXPECT_TRUE(
      note_runs(normal_note("I am writing to you because my sister was failed by the courts last year.")).empty());
}

TEST(Review, EachRuleHoldsPastItsLimitAndACopyIsSimilarWhenCopiesAreNotCounted) {
  ReviewRules rules{.same_note = 5, .similar_note = 0.8, .per_postcode_day = 10};
  EXPECT_EQ(review_verdict(rules, {.same_note = 4}), std::nullopt);
  EXPECT_EQ(review_verdict(rules, {.same_note = 5})->rule, "same_note");
  EXPECT_EQ(review_verdict(rules, {.same_note = 1, .most_similar = 0.5}), std::nullopt) << "a copy is same_note's";
  EXPECT_EQ(review_verdict(rules, {.most_similar = 0.85})->reason,
            "review (similar_note): a note 85% like another supporter's to "
            "this target");
  EXPECT_EQ(review_verdict(rules, {.same_postcode_today = 10})->rule, "per_postcode_day");
  ReviewRules similar_only{.similar_note = 0.8};
  EXPECT_EQ(review_verdict(similar_only, {.same_note = 1})->rule, "similar_note") << "a copy is 100 % alike";
  EXPECT_EQ(review_verdict({}, {.same_note = 100, .most_similar = 1, .same_postcode_today = 100}), std::nullopt);
}

}  // namespace
}  // namespace letterd
