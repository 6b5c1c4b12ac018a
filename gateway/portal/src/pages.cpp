#include "pages.hpp"

#include <array>
#include <ctime>

namespace rdpgate::portal::detail {
namespace {

std::string head(std::string_view title) {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
         "<title>" +
         escape(title) +
         " · rdpgate</title><link rel=\"stylesheet\" href=\"/style.css\"></head><body>"
         "<header><span class=\"brand\">rdpgate</span> self-service access</header><main>";
}

constexpr std::string_view tail = "</main></body></html>\n";

std::string hidden(std::string_view name, std::string_view value) {
  return "<input type=\"hidden\" name=\"" + escape(name) + "\" value=\"" + escape(value) + "\">";
}

std::string signout_form(std::string_view csrf) {
  return "<form method=\"post\" action=\"/signout\" class=\"inline\">" + hidden("csrf", csrf) +
         "<button type=\"submit\" class=\"secondary\">Sign out</button></form>";
}

std::string minutes_text(long minutes) {
  if (minutes % 60 == 0) return std::to_string(minutes / 60) + " h";
  return std::to_string(minutes) + " min";
}

// "2026-12-02 18:00" (UTC).
std::string format_time(std::chrono::system_clock::time_point t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  std::array<char, 32> text{};
  const auto n = std::strftime(text.data(), text.size(), "%Y-%m-%d %H:%M", &tm);
  return std::string(text.data(), n);
}

}  // namespace

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string_view style_sheet() {
  return "body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}"
         "header{background:#1d2330;color:#fff;padding:14px 24px;font-size:15px}"
         ".brand{font-weight:700;margin-right:6px}"
         "main{max-width:640px;margin:32px auto;background:#fff;padding:24px 32px;"
         "border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.12)}"
         "h1{font-size:22px;margin-top:0}label{display:block;margin:12px 0 4px;font-weight:600}"
         "input[type=text],input[type=password]{width:100%;padding:8px;font-size:15px;"
         "box-sizing:border-box;border:1px solid #b8bfcc;border-radius:4px}"
         "button{margin-top:16px;padding:9px 18px;font-size:15px;border:0;border-radius:4px;"
         "background:#2458d3;color:#fff;cursor:pointer}button.secondary{background:#6b7385}"
         ".route{display:flex;align-items:center;gap:12px;border-top:1px solid #e3e6ec;"
         "padding:10px 0}.route button{margin-top:0}.route select{padding:6px}"
         ".message{background:#fdecea;color:#8a1c12;padding:10px;border-radius:4px}"
         "table{width:100%;border-collapse:collapse}td,th{text-align:left;padding:6px;"
         "border-top:1px solid #e3e6ec}form.inline{display:inline}"
         "nav{margin-top:20px;display:flex;gap:16px;align-items:center}nav button{margin-top:0}"
         ".route label{display:inline;font-weight:400;margin:0}\n";
}

std::string signin_page(std::string_view csrf, std::string_view message) {
  std::string page = head("Sign in") + "<h1>Sign in</h1>";
  if (!message.empty()) page += "<p class=\"message\" role=\"alert\">" + escape(message) + "</p>";
  page +=
      "<form method=\"post\" action=\"/signin\">" + hidden("csrf", csrf) +
      "<label for=\"username\">User name</label>"
      "<input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required>"
      "<label for=\"password\">Password</label>"
      "<input type=\"password\" id=\"password\" name=\"password\" "
      "autocomplete=\"current-password\" required>"
      "<label for=\"otp\">Code from your authenticator app</label>"
      "<input type=\"text\" id=\"otp\" name=\"otp\" inputmode=\"numeric\" "
      "autocomplete=\"one-time-code\" pattern=\"[0-9]{6}\" required>"
      "<button type=\"submit\">Sign in</button></form>";
  return page + std::string(tail);
}

std::vector<long> duration_choices(const config::PortalConfig& settings) {
  const auto base =
      std::chrono::duration_cast<std::chrono::minutes>(settings.grant_duration).count();
  const auto max =
      std::chrono::duration_cast<std::chrono::minutes>(settings.max_grant_duration).count();
  std::vector<long> out{static_cast<long>(base)};
  for (const long hours : {1L, 2L, 4L, 8L, 12L, 24L}) {
    if (hours * 60 > base && hours * 60 <= max) out.push_back(hours * 60);
  }
  if (out.back() != max) out.push_back(static_cast<long>(max));
  return out;
}

std::string routes_page(std::string_view user, const std::vector<std::string>& routes,
                        std::string_view csrf, const config::PortalConfig& settings) {
  std::string page = head("Routes") + "<h1>Hello, " + escape(user) + "</h1>";
  page += routes.empty() ? "<p>No routes are assigned to you.</p>"
                         : "<p>Choose a route: your current address gets access to it, and your "
                           "browser downloads a ready .rdp file for it.</p>";
  const auto choices = duration_choices(settings);
  for (const auto& route : routes) {
    page += "<form method=\"post\" action=\"/grant\" class=\"route\">" + hidden("csrf", csrf) +
            hidden("route", route) + "<button type=\"submit\">Connect to " + escape(route) +
            "</button><label class=\"inline\">for <select name=\"minutes\">";
    for (const long m : choices) {
      page += "<option value=\"" + std::to_string(m) + "\">" + minutes_text(m) + "</option>";
    }
    page += "</select></label></form>";
  }
  page += "<nav><a href=\"/grants\">Your active access</a>" + signout_form(csrf) + "</nav>";
  return page + std::string(tail);
}

std::string grants_page(std::string_view user, const std::vector<security::Grant>& grants,
                        std::string_view csrf) {
  std::string page = head("Active access") + "<h1>Active access of " + escape(user) + "</h1>";
  if (grants.empty()) {
    page += "<p>You have no active access.</p>";
  } else {
    page += "<table><tr><th>Route</th><th>Address</th><th>Until (UTC)</th><th></th></tr>";
    for (const auto& g : grants) {
      page += "<tr><td>" + escape(g.route) + "</td><td>" + escape(g.cidr.to_string()) +
              "</td><td>" + escape(format_time(g.until)) +
              "</td><td><form method=\"post\" action=\"/grants/end\" class=\"inline\">" +
              hidden("csrf", csrf) + hidden("id", g.id) +
              "<button type=\"submit\" class=\"secondary\">End</button></form></td></tr>";
    }
    page += "</table>";
  }
  page += "<nav><a href=\"/routes\">Routes</a>" + signout_form(csrf) + "</nav>";
  return page + std::string(tail);
}

std::string message_page(std::string_view title, std::string_view message) {
  return head(title) + "<h1>" + escape(title) + "</h1><p class=\"message\">" + escape(message) +
         "</p><nav><a href=\"/\">Sign in</a></nav>" + std::string(tail);
}

std::string rdp_file(const config::Endpoint& public_address, std::string_view routing_token) {
  // The .rdp format is "name:type:value" per line, CRLF-terminated (mstsc writes UTF-16; it
  // and xfreerdp both read UTF-8 too).
  std::string out = "full address:s:" + public_address.text + "\r\n";
  if (!routing_token.empty()) out += "loadbalanceinfo:s:" + std::string(routing_token) + "\r\n";
  out +=
      "enablecredsspsupport:i:1\r\n"       // NLA (CredSSP) on
      "authentication level:i:2\r\n"       // warn when the server cannot be verified
      "negotiate security layer:i:1\r\n";  // negotiate (NLA first)
  return out;
}

}  // namespace rdpgate::portal::detail
