-- A paced load for wrk: each connection waits PAUSE milliseconds (the first argument after
-- "--", default 2) before each request: -c64 offers about 20,000 requests/s here (wrk's timers add
-- about a millisecond to each pause).
-- Reporting as in report.lua; wrk counts replies of 400 and above (429 included) as
-- errors_status.
--   wrk -t2 -c40 -d10s -s paced.lua http://127.0.0.1:8080/limited -- 2

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local pause = 2

function init(args)
  pause = tonumber(args[1]) or 2
end

function delay()
  return pause
end
