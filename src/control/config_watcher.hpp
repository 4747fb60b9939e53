#pragma once
// Watches config files with inotify and reports changes, debounced: editors write a file in
// several steps (or write a new one and rename it over the old), so a burst of events becomes
// one call once the folder has been quiet for a moment.

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace stubborn {

class config_watcher {
 public:
  /// Watches the folders that hold `files`, and the folders among `sources`; `on_change` runs
  /// on the watcher's own thread after `quiet` without further changes to a watched file (for
  /// folders: any *.toml file in them). Throws std::system_error if inotify is unavailable.
  config_watcher(const std::vector<std::string>& files, const std::vector<std::string>& sources,
                 std::function<void()> on_change,
                 std::chrono::milliseconds quiet = std::chrono::milliseconds(200));
  ~config_watcher();
  config_watcher(const config_watcher&) = delete;
  config_watcher& operator=(const config_watcher&) = delete;

 private:
  struct watch {
    int descriptor;
    std::string folder;
    bool every_toml = false;         // a folder given as a source: any *.toml in it
    std::vector<std::string> names;  // else the files to care about
  };
  void run();
  bool wanted(int descriptor, const std::string& name) const;

  int inotify_ = -1;
  int stop_ = -1;  // an eventfd that ends run()
  std::vector<watch> watches_;
  std::function<void()> on_change_;
  std::chrono::milliseconds quiet_;
  std::thread thread_;
};

}  // namespace stubborn
