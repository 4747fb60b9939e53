-- wrk reporting for benchmarks/run.py: prints the run's summary as one JSON line prefixed with
-- "WRK_JSON ". Latencies are wrk's, in microseconds. Used alone (-s report.lua) and loaded by
-- pipeline.lua, so stubborn and nginx are measured by exactly the same script.
--
-- wrk's percentile() can return 0 when pipelining: its coordinated-omission correction adds
-- samples below the recorded minimum, which percentile() counts in the total but never walks
-- (wrk issue #236). Then the percentiles are taken from the histogram buckets wrk does walk
-- (latency(i) for i = 1..#latency), and "lat_method" says so.

local function histogram_percentiles(latency, wanted)
  local values, counts, total = {}, {}, 0
  for i = 1, #latency do
    local value, count = latency(i)
    values[i], counts[i] = value, count
    total = total + count
  end
  local result = {}
  for _, p in ipairs(wanted) do
    local rank = math.floor(p / 100 * total + 0.5)
    if rank < 1 then rank = 1 end
    local seen = 0
    result[p] = values[#values] or 0
    for i = 1, #values do
      seen = seen + counts[i]
      if seen >= rank then
        result[p] = values[i]
        break
      end
    end
  end
  return result
end

function done(summary, latency, requests)
  local wanted = {50, 90, 99, 99.9}
  local pct, method = {}, "wrk"
  for _, p in ipairs(wanted) do pct[p] = latency:percentile(p) end
  if pct[99] == 0 or pct[50] == 0 then
    pct, method = histogram_percentiles(latency, wanted), "histogram"
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors_connect":%d,' ..
    '"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d,' ..
    '"lat_mean_us":%.1f,"lat_stdev_us":%.1f,"lat_p50_us":%d,"lat_p90_us":%d,' ..
    '"lat_p99_us":%d,"lat_p999_us":%d,"lat_max_us":%d,"lat_method":"%s"}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency.mean, latency.stdev, pct[50], pct[90], pct[99], pct[99.9], latency.max,
    method))
end
