#pragma once
// The test binary links with -Wl,--wrap=recvmmsg (test_connection_socket.cpp): the fast path's
// drained reads can be counted, and their absence proves a server runs without it.

#include "wire/connection_socket.hpp"

#ifdef STUBBORN_DRAINED_READ
/// recvmmsg() calls this process has made so far, on any descriptor.
int recvmmsg_calls();
#endif
