#pragma once
// A Redis address as [cluster] redis writes it: redis://[[user]:password@]host[:port][/db] or
// unix://[[user]:password@]/path/to/socket[?db=N]. Read at load (a bad URL is a config error)
// and again when connecting.

#include <string>
#include <string_view>

namespace stubborn {

struct redis_endpoint {
  std::string host;  ///< empty for a unix socket
  unsigned short port = 6379;
  std::string unix_path;  ///< set for unix://
  std::string user;       ///< ACL user ("" = the default user)
  std::string password;   ///< "" = no AUTH (STUBBORN_REDIS_PASSWORD may supply one)
  unsigned db = 0;        ///< SELECTed after connecting when not 0
  /// "host:port" or the socket path, for log lines (never the password).
  std::string where() const;
};

/// Reads `url` into `out`; returns "" or what is wrong with it (a whole sentence).
std::string parse_redis_url(std::string_view url, redis_endpoint& out);

}  // namespace stubborn
