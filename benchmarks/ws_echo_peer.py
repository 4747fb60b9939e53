#!/usr/bin/python3
"""A WebSocket echo server for benchmarks/run.py's `ws-echo` scenario: the floor stubborn is
compared with. Python `websockets` (Debian python3-websockets), asyncio, one process, one thread;
every message goes back as it came (text as text, binary as binary), no compression.

    /usr/bin/python3 benchmarks/ws_echo_peer.py --port-file FILE

Listens on 127.0.0.1 only, on a port of the kernel's choosing, which it writes to FILE once it
accepts connections. Runs until SIGTERM or SIGINT."""

import argparse
import asyncio
import signal

import websockets


async def echo(websocket, path=None):  # websockets 10 passes the path too
    try:
        async for message in websocket:
            await websocket.send(message)
    except websockets.ConnectionClosed:
        pass


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with websockets.serve(echo, "127.0.0.1", 0, compression=None,
                                max_size=1 << 20) as server:
        port = server.sockets[0].getsockname()[1]
        with open(args.port_file, "w") as f:
            f.write(f"{port}\n")
        await stop


if __name__ == "__main__":
    asyncio.run(main())
