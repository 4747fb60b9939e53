-- Soak client for benchmarks/run.py: exactly N keep-alive requests, then every connection goes
-- idle with nothing in flight, and each response is counted by status.
--   wrk -t2 -c50 -d600s -s soak.lua http://127.0.0.1:8080/hello -- N THREADS CONNECTIONS
--
-- wrk has no request count, only a duration, and when the duration ends it drops the requests
-- still in flight: the server has answered them but wrk never counts the answers. So each
-- thread gets a quota (N split over THREADS; CONNECTIONS is wrk's -c, a multiple of THREADS).
-- request() hands out the request until the quota is spent; after that it returns an empty
-- request, which wrk "writes" (zero bytes) and then waits on forever, so that connection is
-- parked with its last response read. When all of a thread's connections are parked, the thread
-- stops. The runner sees wrk's worker threads end, reads the server's own counters while the
-- connections are still open and idle, then sends SIGINT, and wrk prints its summary: done()
-- below adds a "WRK_SOAK" line (requests issued, connections parked, responses by status) to
-- report.lua's "WRK_JSON" line.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")
local report_done = done

-- Main Lua state: setup() runs there once per thread, before that thread's init().
local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

-- Each thread's own state. Globals, so that done() can read them with thread:get().
quota, issued, parked, connections, request_bytes = 0, 0, 0, 0, 0
statuses = {}
local req
-- wrk calls request() once on thread 0 before the run, only to check that it parses
-- (script_verify_request): that call must get the real request and is not counted.
local verifying = false

function init(args)
  local total, thread_count = tonumber(args[1]), tonumber(args[2])
  -- wrk gives each thread -c / -t connections (integer division)
  connections = math.floor(tonumber(args[3]) / thread_count)
  quota = math.floor(total / thread_count)
  if index < total % thread_count then quota = quota + 1 end
  req = wrk.format()
  request_bytes = string.len(req)
  verifying = index == 0
end

function request()
  if verifying then
    verifying = false
    return req
  end
  if issued < quota then
    issued = issued + 1
    return req
  end
  -- This connection's previous response is complete and the quota is spent: park it.
  parked = parked + 1
  if parked == connections then wrk.thread:stop() end
  return ""
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total_issued, total_parked, merged = 0, 0, {}
  for _, t in ipairs(threads) do
    total_issued = total_issued + t:get("issued")
    total_parked = total_parked + t:get("parked")
    for status, n in pairs(t:get("statuses")) do merged[status] = (merged[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(merged) do parts[#parts + 1] = string.format('"%d":%d', status, n) end
  io.write(string.format(
    'WRK_SOAK {"issued":%d,"parked":%d,"request_bytes":%d,"statuses":{%s}}\n',
    total_issued, total_parked, threads[1]:get("request_bytes"), table.concat(parts, ",")))
  report_done(summary, latency, requests)
end
