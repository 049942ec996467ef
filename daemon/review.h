// Review of suspect letters (SPEC "Respecting the recipient's office"),
// the pure part: the personal note in a normal form, its fingerprint, and
// the sampled hashes of its word runs by which two notes are told similar.
// Only the supporter's own words are compared, never the template every
// letter shares, so a campaign's letters are not all alike to it.
// (WriteToThem hashes whole bodies, 32-byte windows sampled by CRC-32, and
// scores them by Dice: two letters of one template would score as copies.
// Runs of words, rather than of bytes, also survive a changed character in
// every sentence but one.)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace letterd {

// The note with case, spaces and punctuation folded: lower case, every run
// of characters that are neither letters nor digits one space, no space at
// either end. UTF-8 letters beyond ASCII are kept as they are.
std::string normal_note(std::string_view note);

// 64 bits of SHA-256 of the normal form: equal for notes that differ only
// in case, spacing and punctuation. 0 for an empty note.
std::uint64_t note_fingerprint(std::string_view normal);

// How many words a run has, and which runs are kept: one in kRunSample of
// them by hash, the same ones in every note, so two notes are compared by
// the runs both kept (as Broder's "mod-m" sample).
inline constexpr std::size_t kRunWords = 4;
inline constexpr std::uint64_t kRunSample = 4;
// A note that keeps fewer runs than this (about twenty words) is too short
// to call similar: one shared opener ("I am writing to") would make two
// notes alike. It is compared whole, by note_fingerprint, and no more.
inline constexpr std::size_t kMinRunsToCompare = 4;

// The sampled hashes of the note's runs of kRunWords words, distinct and
// ascending; empty for a note that keeps fewer than kMinRunsToCompare.
std::vector<std::uint64_t> note_runs(std::string_view normal);

// The share of runs two notes have in common (Jaccard over the sampled
// runs, both ascending and distinct): 1 for the same words in the same
// order, near 0 for notes that say different things.
double note_similarity(const std::vector<std::uint64_t>& a, const std::vector<std::uint64_t>& b);

// What the log keeps of a note for review: its fingerprint and sampled runs.
struct NoteSketch {
  std::uint64_t fingerprint = 0;  // 0: no note
  std::vector<std::uint64_t> runs;
};
NoteSketch sketch_note(std::string_view note);

// campaigns.NAME.review: when a letter waits for an organiser to read it.
struct ReviewRules {
  std::optional<int> same_note;         // a note given by more than this many supporters to one target
  std::optional<double> similar_note;   // a note at least this similar to another one to the same target
  std::optional<int> per_postcode_day;  // more than this many supporters from one postcode to one target in a day
  bool operator==(const ReviewRules&) const = default;
};

// What the log says of a new letter's note and postcode, among the
// letters to its target (store.h reads it).
struct ReviewEvidence {
  int same_note = 0;            // letters whose note has the same fingerprint
  double most_similar = 0;      // the highest similarity of another note (not the same one)
  int same_postcode_today = 0;  // letters from the same postcode in the last 24 hours
};

// The rule a letter trips, first of same_note, similar_note,
// per_postcode_day, or nullopt. `rule` is the rule's key; `reason` says it
// for `hold_reason`.
struct ReviewVerdict {
  std::string rule, reason;
};
std::optional<ReviewVerdict> review_verdict(const ReviewRules& rules, const ReviewEvidence& evidence);

}  // namespace letterd
