// A WebSocket echo server for benchmarks/run.py's `ws-echo` scenario: Node.js with the `ws`
// package (installed by the runner into build-bench/npm, never committed), a fast peer to
// compare stubborn with. Every message goes back as it came (text as text, binary as binary),
// no compression.
//
//   NODE_PATH=build-bench/npm/node_modules node benchmarks/ws_echo_peer.mjs --port-file FILE \
//     [--workers N]
//
// Listens on 127.0.0.1 only. With --workers N (default 1), N processes share one listening
// socket (node:cluster; the primary accepts and hands each connection to a worker in turn),
// as nginx's worker_processes do. The port goes to FILE once every worker listens. Runs until
// SIGTERM or SIGINT.

import cluster from "node:cluster";
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:http";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const portFile = option("--port-file", null);
const workers = Math.max(1, Number(option("--workers", "1")));
if (!portFile) {
  console.error("ws_echo_peer.mjs: --port-file is required");
  process.exit(2);
}

function serve(port, onListening) {
  // ESM ignores NODE_PATH: resolve `ws` through require, which honours it.
  const { WebSocketServer } = createRequire(import.meta.url)("ws");
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 1 << 20 });
  wss.on("connection", (ws) => {
    ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on("error", () => {});
  });
  http.listen(port, "127.0.0.1", () => onListening(http.address().port));
}

if (workers === 1) {
  serve(0, (port) => writeFileSync(portFile, `${port}\n`));
  for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
} else if (cluster.isPrimary) {
  // Workers that listen on port 0 all get the same port (node:cluster's primary holds the
  // listening socket); each tells it, and the file is written once all listen.
  let listening = 0;
  for (let i = 0; i < workers; ++i) {
    cluster.fork().on("message", (port) => {
      if (++listening === workers) writeFileSync(portFile, `${port}\n`);
    });
  }
  for (const sig of ["SIGTERM", "SIGINT"]) {
    process.on(sig, () => {
      for (const w of Object.values(cluster.workers)) w.kill();
      process.exit(0);
    });
  }
} else {
  serve(0, (port) => process.send(port));
}
