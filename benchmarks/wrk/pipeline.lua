-- HTTP/1.1 pipelining for wrk: each write carries DEPTH requests for the URL's path (default 16,
-- or the first argument after "--"); wrk counts every response. Reporting as in report.lua.
--   wrk -t1 -c50 -d10s -s pipeline.lua http://127.0.0.1:8080/hello -- 16

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local batch

function init(args)
  local depth = tonumber(args[1]) or 16
  local one = wrk.format("GET", wrk.path)
  batch = string.rep(one, depth)
end

function request()
  return batch
end
