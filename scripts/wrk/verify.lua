-- wrk script: POST /2fa/verify with a wrong code (000000) for numbers
-- send.lua sent to: numbers 1 to BENCH_SENT-1 from BENCH_BASE, in turn.
-- A number gets at most 4 wrong codes (the fifth is answered 429) as long
-- as the phase makes fewer than 4 x BENCH_SENT requests; past that, wrk's
-- count of non-2xx answers shows it. See common.lua for the environment.
--   BENCH_SENT     numbers sent to, as send.lua wrote to BENCH_STATE
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local c = dofile(dir .. "common.lua")
c.headers("/2fa/verify")
local sent = tonumber(os.getenv("BENCH_SENT") or "")
assert(sent and sent > 1, "set BENCH_SENT to the count of numbers sent to (> 1)")

local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

id = 0 -- set per thread by setup
counter = 0
function request()
  -- Index 0 is skipped: wrk builds thread 0's first request once to check
  -- the script, and never sends it.
  local i = 1 + (counter * c.nthreads + id) % (sent - 1)
  counter = counter + 1
  return wrk.format(nil, nil, nil,
    '{"service":"' .. c.service .. '","number":"' .. c.number(i) .. '","code":"000000"}')
end
