#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <csignal>

int main(int argc, char* argv[]) {
  // A test client writing to a connection the server has closed must see EPIPE, not die: the
  // TLS client (OpenSSL's socket BIO) sends without MSG_NOSIGNAL.
  std::signal(SIGPIPE, SIG_IGN);
  return Catch::Session().run(argc, argv);
}
