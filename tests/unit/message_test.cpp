#include "message.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace letterd {
namespace {

using namespace std::chrono;
using namespace std::string_literals;

// Two paragraphs of the seed campaign: curly quotes, bullets, dashes, pounds.
const std::string kSeedBody =
    "Dear Ms Example,\n"
    "\n"
    "My name is Jane and I\u2019m writing as your constituent.\n"
    "  \u2022 Only 1 in 5 (21%) feel the criminal justice system treats victims with dignity;\n"
    "The Home Office estimated in 2018 that the annual cost of sexual offences to England "
    "and Wales is \u00a312.2 billion. Providing free and independent legal advocacy to "
    "complainants would cost a fraction of this \u2013 an estimated \u00a33.9 million \u2013 "
    "and would lead to savings elsewhere (e.g. health spending).\n"
    "\u201cAs a person who has experienced sexual violence, I\u2026\u201d\n";

OutgoingMessage sample(std::string body = kSeedBody) {
  OutgoingMessage m;
  m.from = {"Jane Supporter", "jane@example.org"};
  m.to = {"Ms Example MP", "mp@example.com"};
  m.subject = "Free legal advocacy for rape complainants";
  m.body = std::move(body);
  m.message_id = "20261124.abc123@letterd.example.org";
  m.date = TimePoint{sys_days{2026y / November / 24} + 10h};
  return m;
}

// Splits on CRLF; the text must end with CRLF.
std::vector<std::string> crlf_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find("\r\n", start)) != std::string::npos; start = end + 2) {
    lines.push_back(text.substr(start, end - start));
  }
  EXPECT_EQ(start, text.size()) << "text does not end with CRLF";
  return lines;
}

std::string body_of(const std::string& message) {
  const std::size_t sep = message.find("\r\n\r\n");
  EXPECT_NE(sep, std::string::npos);
  return message.substr(sep + 4);
}

// Just enough of an RFC 2047 reader to check what a mail client would show.
std::string decode_encoded_words(std::string folded) {
  std::string text;
  for (std::size_t p; (p = folded.find("\r\n")) != std::string::npos;) folded.erase(p, 2);
  // Readers drop the whitespace that opens a field body.
  std::size_t i = std::min(folded.find_first_not_of(' '), folded.size());
  bool after_word = false;
  while (i < folded.size()) {
    if (folded.compare(i, 8, "=?UTF-8?") != 0) {
      const std::size_t next = folded.find("=?UTF-8?", i);
      std::string gap = folded.substr(i, next - i);
      if (!(after_word && next != std::string::npos && gap.find_first_not_of(' ') == std::string::npos)) {
        text += gap;
      }
      if (next == std::string::npos) break;
      i = next;
    }
    const char kind = folded[i + 8];
    const std::size_t end = folded.find("?=", i + 10);
    const std::string payload = folded.substr(i + 10, end - i - 10);
    if (kind == 'Q') {
      std::string qp;
      for (char c : payload) qp += c == '_' ? ' ' : c;
      text += quoted_printable_decode(qp);
    } else {
      const std::string b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      unsigned bits = 0;
      int count = 0;
      for (char c : payload) {
        if (c == '=') break;
        bits = (bits << 6) | static_cast<unsigned>(b64.find(c));
        if ((count += 6) >= 8) {
          count -= 8;
          text += static_cast<char>((bits >> count) & 0xFF);
        }
      }
    }
    i = end + 2;
    after_word = true;
  }
  return text;
}

TEST(BuildMessage, SeedLetterSurvivesRoundTrip) {
  const std::string message = build_message(sample());
  EXPECT_EQ(quoted_printable_decode(body_of(message)), kSeedBody);
}

TEST(BuildMessage, CrlfBodyBecomesTheSameMessage) {
  std::string crlf;
  for (char c : kSeedBody) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  EXPECT_EQ(build_message(sample(crlf)), build_message(sample()));
}

TEST(BuildMessage, BodyIsSevenBitAndShortLined) {
  for (const std::string& line : crlf_lines(body_of(build_message(sample())))) {
    EXPECT_LE(line.size(), 76u) << line;
    for (unsigned char c : line) EXPECT_TRUE(c >= 0x20 && c < 0x7F) << line;
  }
}

TEST(BuildMessage, EveryLineEndsCrlfWithNoBareCrOrLf) {
  OutgoingMessage m = sample("line one\nbare\rcr\r\n\nno newline at end");
  m.reply_to = Mailbox{"Campaign Office", "office@example.org"};
  m.extra_headers = {{"X-Letterd-Mode", "reflect"}};
  const std::string message = build_message(m);
  ASSERT_TRUE(message.ends_with("\r\n"));
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\n') {
      EXPECT_TRUE(i > 0 && message[i - 1] == '\r') << "bare LF at " << i;
    }
    if (message[i] == '\r') {
      EXPECT_TRUE(i + 1 < message.size() && message[i + 1] == '\n') << "bare CR at " << i;
    }
  }
  for (const std::string& line : crlf_lines(message)) EXPECT_LE(line.size(), 998u);
  EXPECT_EQ(quoted_printable_decode(body_of(message)), "line one\nbare\rcr\n\nno newline at end\n");
}

TEST(BuildMessage, HeadersInOrder) {
  OutgoingMessage m = sample();
  m.reply_to = Mailbox{"Campaign Office", "office@example.org"};
  m.extra_headers = {{"X-Letterd-Mode", "reflect"}};
  EXPECT_EQ(render_headers(m),
            "Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n"
            "From: Jane Supporter <jane@example.org>\r\n"
            "Reply-To: Campaign Office <office@example.org>\r\n"
            "To: Ms Example MP <mp@example.com>\r\n"
            "Subject: Free legal advocacy for rape complainants\r\n"
            "Message-ID: <20261124.abc123@letterd.example.org>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=UTF-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n"
            "X-Letterd-Mode: reflect\r\n");
  EXPECT_TRUE(build_message(m).starts_with(render_headers(m) + "\r\n"));
}

TEST(BuildMessage, NoReplyToWhenUnset) {
  EXPECT_EQ(render_headers(sample()).find("Reply-To"), std::string::npos);
}

TEST(BuildMessage, RefusesAddressThatWouldAddAHeader) {
  OutgoingMessage m = sample();
  m.to.address = "mp@example.com>\r\nBcc: <victim@example.com";
  EXPECT_THROW(render_headers(m), std::invalid_argument);
  m = sample();
  m.extra_headers = {{"X-Evil\r\nBcc", "x"}};
  EXPECT_THROW(render_headers(m), std::invalid_argument);
}

TEST(BuildMessage, SubjectCannotBreakOutEvenIfUnchecked) {
  OutgoingMessage m = sample();
  m.subject = "Hi\r\nBcc: victim@example.com";
  const std::string headers = render_headers(m);
  EXPECT_EQ(headers.find("\r\nBcc:"), std::string::npos);
}

TEST(QuotedPrintable, DotAndFromLinesCannotStartALine) {
  const std::string body = ".\n.hidden\nFrom here on\nFrom\nFromage\n";
  const std::string encoded = quoted_printable(body);
  EXPECT_EQ(encoded, "=2E\r\n=2Ehidden\r\n=46rom here on\r\nFrom\r\nFromage\r\n");
  EXPECT_EQ(quoted_printable_decode(encoded), body);
}

TEST(QuotedPrintable, SoftBreakNeverExposesDotOrFrom) {
  const std::string body = std::string(75, 'a') + ".dot " + std::string(70, 'b') + "From x\n";
  const std::string encoded = quoted_printable(body);
  for (const std::string& line : crlf_lines(encoded)) {
    EXPECT_FALSE(line.starts_with(".")) << line;
    EXPECT_FALSE(line.starts_with("From ")) << line;
  }
  EXPECT_EQ(quoted_printable_decode(encoded), body);
}

TEST(QuotedPrintable, LongLineGetsSoftBreaks) {
  std::string body;
  for (int i = 0; body.size() < 2000; ++i) body += "word" + std::to_string(i) + " = \u2019 ";
  body += "\n";
  const std::string encoded = quoted_printable(body);
  const auto lines = crlf_lines(encoded);
  EXPECT_GT(lines.size(), 30u);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    EXPECT_LE(line.size(), 76u);
    if (i + 1 < lines.size()) {
      EXPECT_TRUE(line.ends_with("=")) << line;
    }
    // No =XX triplet is cut, and no character is split across soft breaks.
    const std::string content = line.ends_with("=") ? line.substr(0, line.size() - 1) : line;
    for (std::size_t p = content.find('='); p != std::string::npos; p = content.find('=', p + 1)) {
      ASSERT_LE(p + 2, content.size() - 1) << line;
    }
    EXPECT_TRUE(is_valid_utf8(quoted_printable_decode(content))) << line;
  }
  EXPECT_EQ(quoted_printable_decode(encoded), body);
}

TEST(QuotedPrintable, EncodesEqualsTrailingSpaceAndControls) {
  EXPECT_EQ(quoted_printable("a=b\ntrailing \ntab\t\nmid\tdle\n\x01\x7f\n"),
            "a=3Db\r\ntrailing=20\r\ntab=09\r\nmid\tdle\r\n=01=7F\r\n");
  EXPECT_EQ(quoted_printable("\u00a3"), "=C2=A3");
  EXPECT_EQ(quoted_printable(""), "");
}

TEST(QuotedPrintable, LineOfExactly76StaysWhole) {
  const std::string line(76, 'x');
  EXPECT_EQ(quoted_printable(line + "\n"), line + "\r\n");
  EXPECT_EQ(quoted_printable(line + "y\n"), std::string(75, 'x') + "=\r\nxy\r\n");
}

TEST(QuotedPrintableDecode, SoftBreaksHexAndLineEnds) {
  EXPECT_EQ(quoted_printable_decode("ab=\r\ncd=3d=3D\r\n=E2=80=99  \r\nx"), "abcd==\n\u2019\nx");
  EXPECT_EQ(quoted_printable_decode("keep =ZZ and =4"), "keep =ZZ and =4");
}

TEST(EncodeHeaderText, AsciiIsUnchanged) {
  EXPECT_EQ(encode_header_text("Free legal advocacy", 9), "Free legal advocacy");
  EXPECT_EQ(encode_header_text("", 9), "");
}

TEST(EncodeHeaderText, LongAsciiFoldsAtSpaces) {
  const std::string subject =
      "Please support free and independent legal advocacy for sexual offence "
      "complainants in the Victims Law this spring";
  const std::string folded = encode_header_text(subject, 9);
  EXPECT_NE(folded.find("\r\n "), std::string::npos);
  const auto lines = crlf_lines("Subject: " + folded + "\r\n");
  for (const std::string& line : lines) EXPECT_LE(line.size(), 78u) << line;
  std::string unfolded = folded;
  for (std::size_t p; (p = unfolded.find("\r\n")) != std::string::npos;) unfolded.erase(p, 2);
  EXPECT_EQ(unfolded, subject);
}

TEST(EncodeHeaderText, NonAsciiBecomesEncodedWord) {
  EXPECT_EQ(encode_header_text("Caf\u00e9 society", 9), "=?UTF-8?Q?Caf=C3=A9_society?=");
  const std::string subject = "Don\u2019t ignore \u201crape justice\u201d";
  const std::string encoded = encode_header_text(subject, 9);
  EXPECT_TRUE(encoded.starts_with("=?UTF-8?")) << encoded;
  EXPECT_EQ(decode_encoded_words(encoded), subject);
}

TEST(EncodeHeaderText, MostlyNonAsciiPicksBase64) {
  const std::string subject = "\u0417\u0434\u0440\u0430\u0432\u0441\u0442\u0432\u0443\u0439";
  const std::string encoded = encode_header_text(subject, 9);
  EXPECT_TRUE(encoded.starts_with("=?UTF-8?B?")) << encoded;
  EXPECT_EQ(decode_encoded_words(encoded), subject);
}

TEST(EncodeHeaderText, LongNonAsciiFoldsWithoutSplittingCharacters) {
  std::string subject;
  for (int i = 0; i < 12; ++i) subject += "\u2022 Zo\u00eb\u2019s \u201cletter\u201d \U0001F4E8 ";
  for (std::size_t used : {9u, 40u, 70u}) {
    const std::string encoded = encode_header_text(subject, used);
    const auto lines = crlf_lines(std::string(used, 'S') + encoded + "\r\n");
    EXPECT_GT(lines.size(), 3u);
    for (const std::string& line : lines) {
      EXPECT_LE(line.size(), 78u) << line;
      const std::size_t word = line.find("=?UTF-8?");
      if (word == std::string::npos) continue;
      const std::string w = line.substr(word);
      EXPECT_LE(w.size(), 75u) << w;
      EXPECT_TRUE(is_valid_utf8(decode_encoded_words(w))) << w;
    }
    EXPECT_EQ(decode_encoded_words(encoded), subject);
  }
}

TEST(EncodeHeaderText, AsciiLookingLikeEncodedWordIsEncoded) {
  const std::string subject = "=?UTF-8?Q?fake?=";
  const std::string encoded = encode_header_text(subject, 9);
  EXPECT_NE(encoded, subject);
  EXPECT_EQ(decode_encoded_words(encoded), subject);
}

TEST(FormatMailbox, Cases) {
  EXPECT_EQ(format_mailbox({"", "jane@example.org"}), "jane@example.org");
  EXPECT_EQ(format_mailbox({"Jane Doe", "jane@example.org"}), "Jane Doe <jane@example.org>");
  EXPECT_EQ(format_mailbox({"Doe, Jane", "jane@example.org"}), "\"Doe, Jane\" <jane@example.org>");
  EXPECT_EQ(format_mailbox({"J. \"JD\" Doe \\ co", "jane@example.org"}),
            "\"J. \\\"JD\\\" Doe \\\\ co\" <jane@example.org>");
  EXPECT_EQ(format_mailbox({"Zo\u00eb", "zoe@example.org"}), "=?UTF-8?Q?Zo=C3=AB?= <zoe@example.org>");
}

TEST(FormatMailbox, LongNameFolds) {
  const Mailbox mailbox{"The Right Honourable Member of Parliament for Somewhere Quite Long",
                        "a.very.long.mailbox.name@constituency-office.example.com"};
  const std::string formatted = format_mailbox(mailbox);
  EXPECT_NE(formatted.find("\r\n"), std::string::npos);
  for (const std::string& line : crlf_lines("Reply-To: " + formatted + "\r\n")) {
    EXPECT_LE(line.size(), 78u) << line;
  }
  EXPECT_TRUE(formatted.ends_with(" <" + mailbox.address + ">"));
}

TEST(HeaderBreakingChars, Detected) {
  for (const std::string& bad :
       {std::string("a\rb"), std::string("a\nb"), std::string("a\0b", 3), std::string("a\tb"), std::string("\x7f"),
        std::string("a\u2028b"), std::string("a\u2029b"), std::string("a\u0085b"), std::string("\xc2\x80"),
        std::string("\xff"), std::string("\xe2\x80"), std::string("\xc0\x8a")}) {
    EXPECT_TRUE(has_header_breaking_chars(bad)) << testing::PrintToString(bad);
  }
  EXPECT_FALSE(has_header_breaking_chars("Zo\u00eb \u2019\u201c\u201d \u2022 \u2013 \u00a3 \U0001F4E8"));
  EXPECT_FALSE(has_header_breaking_chars(""));
}

TEST(Utf8, StrictValidation) {
  EXPECT_TRUE(is_valid_utf8("plain \u00e9 \u2019 \U0001F4E8 \U0010FFFF"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xe0\x80\xaf"));      // overlong, 3 bytes
  EXPECT_FALSE(is_valid_utf8("\xf0\x80\x80\xaf"));  // overlong, 4 bytes
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate D800
  EXPECT_FALSE(is_valid_utf8("\xed\xbf\xbf"));      // surrogate DFFF
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe2\x80"));          // truncated
  EXPECT_FALSE(is_valid_utf8("\x80"));              // lone continuation
  EXPECT_FALSE(is_valid_utf8("\xf8\x88\x80\x80\x80"));
}

TEST(Address, Valid) {
  for (const char* ok : {"jane@example.org", "jane.doe+campaign@mail.example.com", "o'brien@example.org",
                         "a!#$%&'*+/=?^_`{|}~-z@example.org", "\"odd.\\\"quoted\"@example.org", "user@[192.0.2.1]",
                         "x@sub-domain.example.invalid", "X@EXAMPLE.ORG"}) {
    EXPECT_TRUE(is_valid_address(ok)) << ok;
  }
  EXPECT_TRUE(is_valid_address(std::string(64, 'a') + "@example.org"));
}

TEST(Address, Invalid) {
  const std::vector<std::string> invalid = {"",
                                            "jane",
                                            "@example.org",
                                            "jane@",
                                            "jane@localhost",
                                            "jane@@example.org",
                                            "ja@ne@example.org",
                                            ".jane@example.org",
                                            "jane.@example.org",
                                            "ja..ne@example.org",
                                            "jane doe@example.org",
                                            "\"jane doe\"@example.org",
                                            "<jane@example.org>",
                                            "jane@example..org",
                                            "jane@-example.org",
                                            "jane@example-.org",
                                            "jane@exa_mple.org",
                                            "jane@example.org.",
                                            "jane@[192.0.2.256]",
                                            "jane@[192.0.2]",
                                            "jane@[IPv6:::1]",
                                            "j\u00e9@example.org",
                                            "jane@ex\u00e4mple.org",
                                            "\"unterminated@example.org",
                                            "\"q\"x@example.org",
                                            "jane@example.org\r\nRCPT TO:<x@example.com>",
                                            "jane\0@example.org"s,
                                            "jane@example.org\0"s,
                                            "\"a\0\"@example.org"s};
  for (const std::string& bad : invalid) {
    EXPECT_FALSE(is_valid_address(bad)) << testing::PrintToString(bad);
  }
  EXPECT_FALSE(is_valid_address(std::string(65, 'a') + "@example.org"));
  EXPECT_FALSE(is_valid_address("a@" + std::string(64, 'b') + ".example.org"));
  std::string long_domain = "a@";
  while (long_domain.size() < 250) long_domain += "abcdefghij.";
  EXPECT_FALSE(is_valid_address(long_domain + "example.org"));
}

TEST(Address, Domain) {
  EXPECT_EQ(address_domain("Jane@Mail.Example.ORG"), "mail.example.org");
  EXPECT_EQ(address_domain("\"a@b\"@example.com"), "example.com");
  EXPECT_EQ(address_domain("no-at-sign"), "");
}

TEST(Date, Rfc5322) {
  EXPECT_EQ(rfc5322_date(TimePoint{sys_days{2026y / November / 24} + 10h}), "Tue, 24 Nov 2026 10:00:00 +0000");
  EXPECT_EQ(rfc5322_date(TimePoint{sys_days{2026y / February / 1} + 23h + 59min + 59s + 999ms}),
            "Sun, 01 Feb 2026 23:59:59 +0000");
  EXPECT_EQ(rfc5322_date(TimePoint{}), "Thu, 01 Jan 1970 00:00:00 +0000");
}

TEST(MessageId, IsAngleBracketed) {
  const std::string message = build_message(sample());
  EXPECT_NE(message.find("\r\nMessage-ID: <20261124.abc123@letterd.example.org>\r\n"), std::string::npos);
}

}  // namespace
TEST(RedactAddresses, EveryAddressInAReplyGoes) {
  EXPECT_EQ(redact_addresses("5.1.1 <jane@example.org>: Recipient address rejected"),
            "5.1.1 <[address]>: Recipient address rejected");
  EXPECT_EQ(redact_addresses("a@example.org and \"b@example.com\" both"), "[address] and \"[address]\" both");
  EXPECT_EQ(redact_addresses("2.0.0 Ok: queued as 4F2A1"), "2.0.0 Ok: queued as 4F2A1");
  EXPECT_EQ(redact_addresses("a lone @ sign, and x@"), "a lone @ sign, and x@");
}

}  // namespace letterd
