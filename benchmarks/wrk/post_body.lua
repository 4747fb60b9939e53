-- A POST with a body read from a file, for benchmarks/run.py's `conditions` scenario: every
-- request carries the same body, with the Content-Type given (application/json by default).
-- Reporting as in report.lua.
--   wrk -t2 -c50 -d8s -s post_body.lua http://127.0.0.1:8080/orders -- body.json application/json

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local req

function init(args)
  local file = assert(io.open(args[1], "rb"), "post_body.lua: cannot open " .. tostring(args[1]))
  local body = file:read("*a")
  file:close()
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["Content-Type"] = args[2] or "application/json"
  req = wrk.format("POST", wrk.path, headers, body)
end

function request()
  return req
end
