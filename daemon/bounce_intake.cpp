#include "bounce_intake.h"

#include <glib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "imap.h"
#include "timefmt.h"

namespace letterd {

namespace {

namespace fs = std::filesystem;

// A bounce is a notice, not a letter: anything larger is read this far.
constexpr std::size_t kMaxBounceBytes = 1024 * 1024;

bool equal_folded(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Whether `address` is `return_path` with some token: local+...@domain.
bool has_return_path_shape(std::string_view address, std::string_view return_path) {
  auto at = return_path.rfind('@'), their_at = address.rfind('@');
  if (at == std::string_view::npos || their_at == std::string_view::npos) return false;
  std::string_view local = return_path.substr(0, at);
  return equal_folded(address.substr(their_at), return_path.substr(at)) && their_at > local.size() &&
         equal_folded(address.substr(0, local.size()), local) && address[local.size()] == '+';
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::string text(kMaxBounceBytes, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return text;
}

}  // namespace

TokenMatch letter_by_token(const BounceReport& report, const std::vector<std::string>& return_paths,
                           const ReturnPathKey& key) {
  TokenMatch match;
  for (const auto& address : report.addressed_to)
    for (const auto& return_path : return_paths) {
      if (auto id = verp_message(address, return_path, key)) {
        match.letter = id;
        return match;
      }
      if (has_return_path_shape(address, return_path)) match.forged = true;
    }
  return match;
}

bool returns_the_letter(const BounceReport& report, std::string_view recipient, bool with_copy) {
  if (!report.recipients.empty())
    return std::any_of(report.recipients.begin(), report.recipients.end(), [&](const BounceRecipient& r) {
      return r.action == "failed" && equal_folded(r.address, recipient);
    });
  if (!report.mentioned.empty())
    return std::any_of(report.mentioned.begin(), report.mentioned.end(),
                       [&](const std::string& a) { return equal_folded(a, recipient); });
  return !with_copy;  // it names no one: only a letter sent alone can be the one it returns
}

bool answered_by_recipient(const BounceReport& report, std::string_view recipient) {
  auto at = recipient.rfind('@'), their_at = report.from_address.rfind('@');
  return at != std::string_view::npos && their_at != std::string::npos &&
         equal_folded(recipient.substr(at), std::string_view(report.from_address).substr(their_at));
}

std::string bouncing_reason(const std::string& target_id) {
  return "the address of target " + target_id + " bounces";
}

bool address_bounces(Store& store, const Config& config, const std::string& campaign, const std::string& target_id,
                     const std::string& address) {
  // Without a bounce mailbox no letter is ever bounced: intake asks nothing of the log.
  return config.bounces.configured() &&
         store.bounces_of(campaign, target_id, address) >= config.bounces.hold_target_after;
}

BounceCounts& BounceCounts::operator+=(const BounceCounts& more) {
  read += more.read;
  bounced += more.bounced;
  hard += more.hard;
  delays += more.delays;
  auto_replies += more.auto_replies;
  unparsed += more.unparsed;
  unmatched += more.unmatched;
  forged += more.forged;
  unreadable += more.unreadable;
  looked_at += more.looked_at;
  return *this;
}

std::string BounceCounts::summary() const {
  std::ostringstream out;
  out << read << " mail(s) read: " << hard << " hard bounce(s) (" << bounced << " letter(s) marked bounced), " << delays
      << " delay(s), " << auto_replies << " automatic reply(ies), " << unparsed << " unparsed; " << unmatched
      << " named no letter (" << forged << " with a forged return path)";
  if (unreadable) out << "; " << unreadable << " could not be read and wait in new/";
  return out.str();
}

BounceIntake::BounceIntake(Store& store, const Config& config, const ReturnPathKey& key, spdlog::logger& log)
    : store_(store), config_(config), key_(key), log_(log) {
  for (const auto& [name, campaign] : config.campaigns)
    if (!campaign.return_path.empty()) return_paths_.push_back(campaign.return_path);
}

void BounceIntake::take(const std::string& where, std::string_view raw, TimePoint now, BounceCounts& counts) {
  BounceReport report = read_bounce(raw);
  TokenMatch token = letter_by_token(report, return_paths_, key_);
  std::optional<Store::ReturnedLetter> letter;
  if (token.letter) {
    letter = store_.returned_letter(*token.letter);
  } else if (!token.forged && !report.about_message_id.empty()) {
    // The Message-ID names a letter only of a campaign without return
    // paths: one sent with a token must come back to it, or anyone who saw
    // the letter (its supporter, the office) could mark it.
    letter = store_.returned_letter(report.about_message_id);
    if (letter) {
      const CampaignConfig* campaign = config_.campaign(letter->campaign);
      if (!campaign || !campaign->return_path.empty()) letter.reset();
    }
  }

  std::unique_ptr<gchar, decltype(&g_free)> digest(
      g_compute_checksum_for_data(G_CHECKSUM_SHA256, reinterpret_cast<const guchar*>(raw.data()), raw.size()), &g_free);
  Store::BounceRecord record{.letter = letter ? std::optional(letter->id) : std::nullopt,
                             .received_at = now,
                             .kind = report.kind,
                             .status = report.status,
                             .diagnostic = report.diagnostic,
                             .source = std::string("sha256:") + digest.get()};
  // A letter sent with its token went alone: its copy goes apart, from the bare return path.
  const bool copy_in_transaction = letter && letter->with_copy && !token.letter;
  if (letter && report.kind == BounceReport::Kind::hard)
    record.marks =
        letter->status == MessageStatus::sent && returns_the_letter(report, letter->recipient, copy_in_transaction);
  if (letter && report.kind == BounceReport::Kind::auto_reply)
    record.marks = answered_by_recipient(report, letter->recipient);
  if (!store_.record_bounce(record)) return;  // read before
  const std::string& source = where;

  ++counts.read;
  switch (report.kind) {
    case BounceReport::Kind::hard:
      ++counts.hard;
      break;
    case BounceReport::Kind::delay:
      ++counts.delays;
      break;
    case BounceReport::Kind::auto_reply:
      ++counts.auto_replies;
      break;
    case BounceReport::Kind::unparsed:
      ++counts.unparsed;
      break;
  }
  if (!letter) {
    ++counts.unmatched;
    if (token.forged) ++counts.forged;
    log_.info("{}: {} naming no letter{}", source, to_string(report.kind),
              token.forged ? " (its return path's check fails: forged or damaged)" : "");
    return;
  }
  if (record.marks && report.kind == BounceReport::Kind::hard) {
    ++counts.bounced;
    if (address_bounces(store_, config_, letter->campaign, letter->target_id, letter->recipient))
      if (int held = store_.hold_bouncing(letter->campaign, letter->target_id, letter->recipient,
                                          bouncing_reason(letter->target_id)))
        log_.warn(
            "campaign {}, target {}: its address bounced {} time(s) or more: {} waiting letter(s) held until "
            "the targets file gives it another address",
            letter->campaign, letter->target_id, config_.bounces.hold_target_after, held);
  }
  log_.info("{}: {}{}{} for message {} ({} to {}){}", source, to_string(report.kind), report.status.empty() ? "" : " ",
            report.status, letter->id, letter->campaign, letter->target_id,
            record.marks && report.kind == BounceReport::Kind::hard ? ": bounced"
            : report.kind == BounceReport::Kind::hard               ? ": not the letter's own recipient, or not sent"
                                                                    : "");
}

BounceCounts BounceIntake::read_all(std::size_t batch, const std::atomic<bool>* stop) {
  BounceCounts total;
  while (!stop || !stop->load()) {
    BounceCounts some = read_mailbox(now_ms(), batch);
    total += some;
    // A short batch means the mailbox had no more; a file that could not
    // be read waits in new/ for the next poll, not for this one again.
    // So does a batch that recorded nothing new: whatever holds it up, the next poll tries again.
    if (static_cast<std::size_t>(some.looked_at) < batch || some.unreadable || some.read == 0) break;
  }
  return total;
}

BounceCounts BounceIntake::read_imap(TimePoint now, std::size_t limit) {
  BounceCounts counts;
  const std::string& mailbox = config_.bounces.url;
  Store::MailboxState state = store_.mailbox_state(mailbox);
  ImapBatch batch = fetch_new_mail(config_.bounces, state.uidvalidity, state.last_uid, limit);
  if (state.uidvalidity && batch.uidvalidity != state.uidvalidity)
    log_.warn("bounce mailbox {}: its UIDVALIDITY changed ({} to {}): its mail is read again from the first", mailbox,
              state.uidvalidity, batch.uidvalidity);
  for (const auto& mail : batch.mails)
    take("imap:" + std::to_string(batch.uidvalidity) + ":" + std::to_string(mail.uid), mail.text, now, counts);
  counts.looked_at = static_cast<int>(batch.mails.size());
  // Remembered once a batch: a crash before it reads the batch again, and
  // each mail is recorded once by its content. UIDs no mail holds any more
  // (expunged) are passed with the rest, never searched again.
  if (state.uidvalidity != batch.uidvalidity || batch.looked_to > state.last_uid)
    store_.remember_mailbox(mailbox, {batch.uidvalidity, batch.looked_to});
  return counts;
}

BounceCounts BounceIntake::read_maildir(TimePoint now, std::size_t limit) {
  BounceCounts counts;
  const fs::path dir = config_.bounces.maildir;
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir / "new")) {
    std::string name = entry.path().filename().string();
    if (!name.empty() && name[0] != '.' && entry.is_regular_file()) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  if (names.size() > limit) names.resize(limit);
  counts.looked_at = static_cast<int>(names.size());
  for (const auto& name : names) {
    try {
      take("maildir:" + name, read_file(dir / "new" / name), now, counts);
      // Maildir's "seen": moved to cur/ with the flag S, so no reader takes it as new again.
      std::error_code gone;
      fs::rename(dir / "new" / name, dir / "cur" / (name + ":2,S"), gone);
      // Another reader (the daemon, letterd bounces) took it meanwhile: recorded once all the same.
      // But a missing cur/ leaves it in new/, to be told as unreadable, never read for ever.
      if (gone && (gone != std::errc::no_such_file_or_directory || fs::exists(dir / "new" / name)))
        throw fs::filesystem_error("rename to cur/", dir / "new" / name, gone);
    } catch (const std::exception& e) {
      ++counts.unreadable;
      log_.warn("bounce mailbox: {}: {}; it waits in new/ for the next poll", name, e.what());
    }
  }
  return counts;
}

}  // namespace letterd
