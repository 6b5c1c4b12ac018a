// BanManager: see ban_manager.hpp for the semantics and the locking scheme.

#include "rdpgate/security/ban_manager.hpp"

#include <algorithm>
#include <cmath>
#include <future>
#include <mutex>

namespace rdpgate::security {
namespace {

using std::chrono::milliseconds;

std::string lower(std::string_view text) {
  std::string out{text};
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Drops the times at or before `now - window` from a vector kept in time order.
void slide(std::vector<TimePoint>& times, TimePoint now, milliseconds window) {
  const TimePoint oldest = now - window;
  times.erase(times.begin(),
              std::find_if(times.begin(), times.end(), [&](TimePoint t) { return t > oldest; }));
}

state::BanRecord to_record(const Ban& ban) {
  return {ban.cidr.to_string(), ban.until, ban.reason, ban.origin, ban.offenses};
}

}  // namespace

BanManager::BanManager(config::BruteforceConfig config, state::StateStore* store)
    : store_(store), config_(std::move(config)), exempt_(config_.exempt) {
  if (store_ == nullptr) return;
  for (const auto& record : store_->load_bans()) {
    const auto cidr = config::parse_cidr(record.cidr);
    if (!cidr) continue;  // written by a newer or broken version: skip rather than refuse
    file_locked(Ban{*cidr, record.until, record.reason, record.origin, record.offenses});
  }
  for (const auto& record : store_->load_offenders()) {
    if (const auto address = config::parse_ip(record.address)) {
      offenders_[*address] = Offender{record.offenses, record.last_ban};
    }
  }
}

milliseconds BanManager::ban_duration(std::uint32_t offenses) const {
  const auto base = static_cast<double>(config_.ban_time.count());
  const auto cap = config_.ban_time_max;
  const double grown = base * std::pow(config_.ban_time_factor, static_cast<double>(offenses));
  // `!(grown < cap)` also catches infinity and NaN from a huge exponent.
  if (!(grown < static_cast<double>(cap.count()))) return std::max(cap, config_.ban_time);
  return milliseconds{static_cast<milliseconds::rep>(grown)};
}

std::optional<Ban> BanManager::record_failure(const config::IpAddress& source,
                                              std::string_view username, TimePoint now,
                                              std::optional<Ban>* prefix_ban) {
  return record(source, username, now, prefix_ban, true);
}

std::optional<Ban> BanManager::record(const config::IpAddress& source, std::string_view username,
                                      TimePoint now, std::optional<Ban>* prefix_ban, bool local) {
  std::lock_guard writer{writer_mutex_};
  std::optional<Ban> created;
  std::optional<Ban> widened;
  std::optional<state::OffenderRecord> offender_record;
  {
    std::unique_lock lock{mutex_};
    if (!config_.enabled || exempt_.contains(source)) return std::nullopt;
    // In flight when its source was banned (or, in observe mode, found banned).
    if (find_locked(source, now, true)) return std::nullopt;
    if (!username.empty()) record_username_locked(username, now);
    if (local && listener_.failed) listener_.failed(source, username, now);

    // Failures count per source range (IPv6: a /64 by default), and the ban covers it.
    const config::Cidr range = source_of(source);
    const config::IpAddress& key = range.network;
    const std::size_t max_failures = std::max<std::uint32_t>(config_.max_failures, 1);
    auto& times = failures_[key];
    slide(times, now, config_.find_time);
    times.push_back(now);
    if (times.size() > max_failures) times.erase(times.begin());  // keep the bound
    if (times.size() >= max_failures) {
      failures_.erase(key);
      std::uint32_t offenses = 0;
      if (const auto it = offenders_.find(key);
          it != offenders_.end() && it->second.last_ban > now - offender_memory) {
        offenses = it->second.offenses;
      }
      const bool observed = config_.observe_only;
      Ban ban{range,
              now + ban_duration(offenses),
              std::to_string(max_failures) + " failures within " +
                  config::format_duration(config_.find_time),
              BanOrigin::automatic,
              offenses,
              observed};
      file_locked(ban);
      if (!observed) {
        offenders_[key] = Offender{offenses + 1, now};
        offender_record = state::OffenderRecord{key.to_string(), offenses + 1, now};
      }
      widened = prefix_ban_locked(range, now, ban_duration(offenses), observed);
      created = std::move(ban);
    }
    if (failures_.size() + username_failures_.size() > sweep_at_) {
      sweep_locked(now);
      sweep_at_ = std::max<std::size_t>(1024, 2 * (failures_.size() + username_failures_.size()));
    }
  }
  // Queued for the store's writer thread, in the order memory changed (writer_mutex_ is held);
  // a slow disk never holds up the worker that judged the failure. Observed bans live in memory
  // only: they enforce nothing a restart could lose.
  if (created && !created->observed && store_ != nullptr) {
    store_->put_ban(to_record(*created), {});
    store_->put_offender(*offender_record, {});
  }
  if (widened && !widened->observed && store_ != nullptr) {
    store_->put_ban(to_record(*widened), {});
  }
  if (listener_.banned) {
    if (created && !created->observed) listener_.banned(*created);
    if (widened && !widened->observed) listener_.banned(*widened);
  }
  if (prefix_ban != nullptr) *prefix_ban = std::move(widened);
  return created;
}

std::optional<Ban> BanManager::prefix_ban_locked(const config::Cidr& source, TimePoint now,
                                                 std::chrono::milliseconds duration,
                                                 bool observed) {
  if (config_.prefix_ban_threshold == 0) return std::nullopt;
  const config::Cidr prefix =
      config::source_range(source.network, config_.prefix_ban_ipv4, config_.prefix_ban_ipv6);
  if (prefix.prefix >= source.prefix) return std::nullopt;  // no wider than one source
  auto& times = prefix_bans_[prefix.network];
  slide(times, now, config_.find_time);
  times.push_back(now);
  if (times.size() < config_.prefix_ban_threshold) return std::nullopt;
  times.clear();
  // Never a range that holds an exempt one (or lies inside it).
  for (const auto& e : config_.exempt) {
    if (prefix.contains(e.network) || e.contains(prefix.network)) return std::nullopt;
  }
  if (const auto* b = find_locked(prefix.network, now, observed);
      b != nullptr && b->cidr.prefix <= prefix.prefix) {
    return std::nullopt;  // already banned as a whole
  }
  Ban ban{prefix,
          now + duration,
          std::to_string(config_.prefix_ban_threshold) + " sources of " + prefix.to_string() +
              " banned within " + config::format_duration(config_.find_time),
          BanOrigin::automatic,
          0,
          observed};
  file_locked(ban);
  return ban;
}

void BanManager::record_username_locked(std::string_view username, TimePoint now) {
  if (config_.username_max_failures == 0) return;
  std::string key = lower(username);
  if (const auto it = username_blocks_.find(key); it != username_blocks_.end()) {
    if (it->second > now) return;
    username_blocks_.erase(it);
  }
  auto& times = username_failures_[key];
  slide(times, now, config_.username_find_time);
  times.push_back(now);
  if (times.size() >= config_.username_max_failures) {
    username_failures_.erase(key);
    username_blocks_[std::move(key)] = now + config_.username_block_time;
  }
}

config::Cidr BanManager::source_of(const config::IpAddress& address) const noexcept {
  return config::source_range(address, config_.source_ipv4_prefix, config_.source_ipv6_prefix);
}

void BanManager::file_locked(Ban ban) {
  auto& index = ban.observed ? observed_ : enforced_;
  if (source_of(ban.cidr.network) == ban.cidr) {
    index.exact[ban.cidr.network] = std::move(ban);
    return;
  }
  const auto it = std::find_if(index.wide.begin(), index.wide.end(),
                               [&](const Ban& b) { return b.cidr == ban.cidr; });
  if (it != index.wide.end()) {
    *it = std::move(ban);
  } else {
    index.wide.push_back(std::move(ban));
  }
}

const Ban* BanManager::Index::find(const config::Cidr& source_range,
                                   const config::IpAddress& source, TimePoint now) const {
  if (const auto it = exact.find(source_range.network);
      it != exact.end() && it->second.until > now) {
    return &it->second;
  }
  for (const auto& ban : wide) {
    if (ban.until > now && ban.cidr.contains(source)) return &ban;
  }
  return nullptr;
}

bool BanManager::Index::erase(const config::Cidr& cidr) {
  if (const auto hit = exact.find(cidr.network); hit != exact.end() && hit->second.cidr == cidr) {
    exact.erase(hit);
    return true;
  }
  const auto it =
      std::remove_if(wide.begin(), wide.end(), [&](const Ban& b) { return b.cidr == cidr; });
  const bool found = it != wide.end();
  wide.erase(it, wide.end());
  return found;
}

void BanManager::Index::expire(TimePoint now) {
  std::erase_if(exact, [&](const auto& entry) { return entry.second.until <= now; });
  std::erase_if(wide, [&](const Ban& ban) { return ban.until <= now; });
}

std::size_t BanManager::Index::live(TimePoint now) const {
  auto is_live = [&](const Ban& ban) { return ban.until > now; };
  auto count = static_cast<std::size_t>(std::count_if(wide.begin(), wide.end(), is_live));
  for (const auto& entry : exact) count += is_live(entry.second) ? 1 : 0;
  return count;
}

void BanManager::Index::append_live(TimePoint now, std::vector<Ban>& out) const {
  for (const auto& [address, ban] : exact) {
    if (ban.until > now) out.push_back(ban);
  }
  for (const auto& ban : wide) {
    if (ban.until > now) out.push_back(ban);
  }
}

const Ban* BanManager::find_locked(const config::IpAddress& source, TimePoint now,
                                   bool observed) const {
  const auto range = source_of(source);
  if (const auto* ban = enforced_.find(range, source, now)) return ban;
  return observed ? observed_.find(range, source, now) : nullptr;
}

bool BanManager::is_banned(const config::IpAddress& source, TimePoint now) const {
  std::shared_lock lock{mutex_};
  return find_locked(source, now) != nullptr;
}

std::optional<Ban> BanManager::find(const config::IpAddress& source, TimePoint now) const {
  std::shared_lock lock{mutex_};
  if (const auto* ban = find_locked(source, now, true)) return *ban;
  return std::nullopt;
}

std::optional<BanManager::Cover> BanManager::cover(const config::IpAddress& source,
                                                   TimePoint now) const {
  std::shared_lock lock{mutex_};
  if (const auto* ban = find_locked(source, now, true)) return Cover{ban->origin, ban->observed};
  return std::nullopt;
}

bool BanManager::username_blocked(std::string_view username, TimePoint now) const {
  if (username.empty()) return false;
  std::shared_lock lock{mutex_};
  const auto it = username_blocks_.find(lower(username));
  return it != username_blocks_.end() && it->second > now;
}

namespace {

// A write queued while the caller holds its locks, waited for after it released them: an
// operator's ban is acknowledged only once durable, and the workers recording failures meanwhile
// never wait behind the disk.
struct Durable {
  std::promise<std::optional<std::string>> answer;
  state::StateStore::Done done() {
    return [this](const std::optional<std::string>& error) { answer.set_value(error); };
  }
  void wait() { state::reported(answer.get_future().get()); }
};

}  // namespace

Ban BanManager::ban(const config::Cidr& cidr, milliseconds duration, std::string reason,
                    TimePoint now) {
  Ban ban{cidr, now + duration, std::move(reason), BanOrigin::manual, 0};
  Durable durable;
  {
    std::lock_guard writer{writer_mutex_};
    {
      std::unique_lock lock{mutex_};
      file_locked(ban);
    }
    if (listener_.banned) listener_.banned(ban);
    if (store_ == nullptr) return ban;
    store_->put_ban(to_record(ban), durable.done());
  }
  durable.wait();
  return ban;
}

bool BanManager::unban(const config::Cidr& cidr) {
  bool found = false;
  Durable durable;
  {
    std::lock_guard writer{writer_mutex_};
    {
      std::unique_lock lock{mutex_};
      found = enforced_.erase(cidr);
      found = observed_.erase(cidr) || found;
      std::erase_if(failures_, [&](const auto& entry) { return cidr.contains(entry.first); });
    }
    if (listener_.unbanned) listener_.unbanned(cidr);
    if (store_ == nullptr) return found;
    store_->delete_ban(cidr.to_string(), durable.done());
  }
  durable.wait();
  return found;
}

std::vector<Ban> BanManager::list(TimePoint now) const {
  std::vector<Ban> out;
  {
    std::shared_lock lock{mutex_};
    enforced_.append_live(now, out);
    observed_.append_live(now, out);
  }
  std::sort(out.begin(), out.end(), [](const Ban& a, const Ban& b) {
    return a.cidr < b.cidr || (a.cidr == b.cidr && !a.observed && b.observed);
  });
  return out;
}

std::size_t BanManager::active_count(TimePoint now) const {
  std::shared_lock lock{mutex_};
  return enforced_.live(now);
}

std::size_t BanManager::blocked_username_count(TimePoint now) const {
  std::shared_lock lock{mutex_};
  return static_cast<std::size_t>(
      std::count_if(username_blocks_.begin(), username_blocks_.end(),
                    [&](const auto& entry) { return entry.second > now; }));
}

bool BanManager::exempt(const config::IpAddress& source) const {
  std::shared_lock lock{mutex_};
  return exempt_.contains(source);
}

void BanManager::reconfigure(config::BruteforceConfig config) {
  config::CidrSet exempt{config.exempt};
  std::unique_lock lock{mutex_};
  config_ = std::move(config);
  exempt_ = std::move(exempt);
  // The source prefixes may have changed: file every ban again.
  std::vector<Ban> all;
  for (auto* index : {&enforced_, &observed_}) {
    for (auto& [key, ban] : index->exact) all.push_back(std::move(ban));
    all.insert(all.end(), std::make_move_iterator(index->wide.begin()),
               std::make_move_iterator(index->wide.end()));
    *index = Index{};
  }
  for (auto& ban : all) file_locked(std::move(ban));
}

void BanManager::sweep_locked(TimePoint now) {
  enforced_.expire(now);
  observed_.expire(now);
  for (auto& [address, times] : failures_) slide(times, now, config_.find_time);
  std::erase_if(failures_, [](const auto& entry) { return entry.second.empty(); });
  std::erase_if(offenders_,
                [&](const auto& entry) { return entry.second.last_ban <= now - offender_memory; });
  for (auto& [prefix, times] : prefix_bans_) slide(times, now, config_.find_time);
  std::erase_if(prefix_bans_, [](const auto& entry) { return entry.second.empty(); });
  for (auto& [name, times] : username_failures_) slide(times, now, config_.username_find_time);
  std::erase_if(username_failures_, [](const auto& entry) { return entry.second.empty(); });
  std::erase_if(username_blocks_, [&](const auto& entry) { return entry.second <= now; });
}

void BanManager::purge(TimePoint now) {
  std::lock_guard writer{writer_mutex_};
  {
    std::unique_lock lock{mutex_};
    sweep_locked(now);
  }
  if (store_ != nullptr) store_->purge_expired(now, offender_memory, {});
}

}  // namespace rdpgate::security
