#include "review.h"

#include <glib.h>

#include <algorithm>
#include <memory>

namespace letterd {

namespace {

bool word_byte(unsigned char c) {
  // ASCII letters and digits, and every byte of a UTF-8 sequence: letters
  // beyond ASCII stay words (punctuation beyond ASCII does too: rare, and
  // harmless to the comparison).
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

// FNV-1a, 64 bits: stable from one version to the next, as stored hashes must be.
std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

// A final mix, so the sample (h % kRunSample) does not lean on FNV's low bits.
std::uint64_t mix(std::uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

}  // namespace

std::string normal_note(std::string_view note) {
  std::string out;
  out.reserve(note.size());
  bool gap = false;
  for (unsigned char c : note) {
    if (!word_byte(c)) {
      gap = !out.empty();
      continue;
    }
    if (gap) out += ' ';
    gap = false;
    out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  return out;
}

std::uint64_t note_fingerprint(std::string_view normal) {
  if (normal.empty()) return 0;
  std::unique_ptr<GChecksum, decltype(&g_checksum_free)> sum(g_checksum_new(G_CHECKSUM_SHA256), &g_checksum_free);
  g_checksum_update(sum.get(), reinterpret_cast<const guchar*>(normal.data()), static_cast<gssize>(normal.size()));
  guint8 digest[32];
  gsize length = sizeof digest;
  g_checksum_get_digest(sum.get(), digest, &length);
  std::uint64_t out = 0;
  for (int i = 0; i < 8; ++i) out = out << 8 | digest[i];
  // 0 means "no note" in the log: a real fingerprint never is.
  return out ? out : 1;
}

std::vector<std::uint64_t> note_runs(std::string_view normal) {
  std::vector<std::size_t> starts;
  for (std::size_t i = 0; i < normal.size(); ++i)
    if (i == 0 || normal[i - 1] == ' ') starts.push_back(i);
  std::vector<std::uint64_t> out;
  for (std::size_t w = 0; w + kRunWords <= starts.size(); ++w) {
    std::size_t end = w + kRunWords < starts.size() ? starts[w + kRunWords] - 1 : normal.size();
    std::uint64_t h = mix(fnv1a(normal.substr(starts[w], end - starts[w])));
    if (h % kRunSample == 0) out.push_back(h);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (out.size() < kMinRunsToCompare) out.clear();
  return out;
}

double note_similarity(const std::vector<std::uint64_t>& a, const std::vector<std::uint64_t>& b) {
  if (a.empty() || b.empty()) return 0;
  std::size_t common = 0;
  for (std::size_t i = 0, j = 0; i < a.size() && j < b.size();) {
    if (a[i] == b[j]) {
      ++common;
      ++i;
      ++j;
    } else if (a[i] < b[j]) {
      ++i;
    } else {
      ++j;
    }
  }
  return static_cast<double>(common) / static_cast<double>(a.size() + b.size() - common);
}

NoteSketch sketch_note(std::string_view note) {
  std::string normal = normal_note(note);
  return {note_fingerprint(normal), note_runs(normal)};
}

std::optional<ReviewVerdict> review_verdict(const ReviewRules& rules, const ReviewEvidence& evidence) {
  if (rules.same_note && evidence.same_note >= *rules.same_note)
    return ReviewVerdict{"same_note", "review (same_note): the same note as " + std::to_string(evidence.same_note) +
                                          " other supporter(s) wrote to this target"};
  // Without a same_note rule, a copy is as similar as a note can be.
  const double similar = !rules.same_note && evidence.same_note > 0 ? 1.0 : evidence.most_similar;
  if (rules.similar_note && similar >= *rules.similar_note)
    return ReviewVerdict{"similar_note", "review (similar_note): a note " +
                                             std::to_string(static_cast<int>(similar * 100)) +
                                             "% like another supporter's to this target"};
  if (rules.per_postcode_day && evidence.same_postcode_today >= *rules.per_postcode_day)
    return ReviewVerdict{"per_postcode_day",
                         "review (per_postcode_day): " + std::to_string(evidence.same_postcode_today) +
                             " other supporter(s) from this postcode wrote to this target today"};
  return std::nullopt;
}

}  // namespace letterd
