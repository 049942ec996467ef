#include "return_path.h"

#include <glib.h>

#include <charconv>
#include <memory>

namespace letterd {

namespace {

// The first 64 bits of HMAC-SHA-256(key, "letterd return path " + id), in
// lower-case hex. The prefix keeps this key's answers apart from any other
// use letterd may make of it.
std::string check_for(long long message_id, const ReturnPathKey& key) {
  std::string data = "letterd return path " + std::to_string(message_id);
  std::unique_ptr<gchar, decltype(&g_free)> hex(
      g_compute_hmac_for_data(G_CHECKSUM_SHA256, key.bytes.data(), key.bytes.size(),
                              reinterpret_cast<const guchar*>(data.data()), data.size()),
      &g_free);
  return std::string(hex.get(), 16);
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equal_folded(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

}  // namespace

std::string verp_address(std::string_view return_path, long long message_id, const ReturnPathKey& key) {
  auto at = return_path.rfind('@');
  return std::string(return_path.substr(0, at)) + "+" + std::to_string(message_id) + "-" + check_for(message_id, key) +
         std::string(return_path.substr(at));
}

std::optional<long long> verp_message(std::string_view address, std::string_view return_path,
                                      const ReturnPathKey& key) {
  auto at = return_path.rfind('@');
  auto address_at = address.rfind('@');
  if (at == std::string_view::npos || address_at == std::string_view::npos) return std::nullopt;
  std::string_view local = return_path.substr(0, at), domain = return_path.substr(at);
  std::string_view their_local = address.substr(0, address_at);
  if (!equal_folded(address.substr(address_at), domain)) return std::nullopt;
  if (their_local.size() <= local.size() + 1 || !equal_folded(their_local.substr(0, local.size()), local) ||
      their_local[local.size()] != '+')
    return std::nullopt;
  std::string_view token = their_local.substr(local.size() + 1);
  auto dash = token.find('-');
  if (dash == std::string_view::npos || dash == 0 || token[0] == '0') return std::nullopt;
  long long id = 0;
  auto [end, error] = std::from_chars(token.data(), token.data() + dash, id);
  if (error != std::errc() || end != token.data() + dash || id <= 0) return std::nullopt;
  if (!equal_folded(token.substr(dash + 1), check_for(id, key))) return std::nullopt;
  return id;
}

}  // namespace letterd
