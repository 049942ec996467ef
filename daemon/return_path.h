// Per-letter return paths (VERP). A campaign with `return_path:
// bounces@campaign.example.org` sends each letter with the envelope sender
// bounces+TOKEN@campaign.example.org, where TOKEN names the letter (its
// messages.id) and carries a keyed check: HMAC-SHA-256 under a key only
// letterd holds, cut to 64 bits. A bounce to that address names its letter
// for certain; one forged or guessed, with a token whose check fails,
// names none. Pure: the key is given.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace letterd {

struct ReturnPathKey {
  std::array<unsigned char, 32> bytes{};
};

// The longest local part a return_path may have: with "+", the longest
// token and the 64-octet limit of RFC 5321 on a local part.
inline constexpr std::size_t kMaxReturnPathLocal = 64 - 1 - 20 - 1 - 16;

// The envelope sender for letter `message_id` of a campaign whose return
// path is `return_path` (a valid address, its local part at most
// kMaxReturnPathLocal octets): LOCAL+ID-CHECK@DOMAIN.
std::string verp_address(std::string_view return_path, long long message_id, const ReturnPathKey& key);

// The letter a bounce's address names: `address` must be `return_path`
// with a token whose check holds under `key` (compared without regard to
// case: some systems fold it). nullopt for anything else.
std::optional<long long> verp_message(std::string_view address, std::string_view return_path, const ReturnPathKey& key);

}  // namespace letterd
