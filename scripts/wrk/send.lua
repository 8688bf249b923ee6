-- wrk script: POST /2fa/send, each request to a fresh Jordanian number
-- (079xxxxxxx). See common.lua for the environment. At the end it writes
-- to BENCH_STATE how many numbers from BENCH_BASE on were surely sent to,
-- for verify.lua: every thread got that far, less what was in flight when
-- wrk stopped (a request abandoned then may never have been stored). A slow
-- request can be overtaken by many on other connections, so the margin is
-- one request per connection plus what a thread makes in twice the slowest
-- latency seen (at least 100 ms).
--   BENCH_STATE    file to write the count to
--   BENCH_CONNS    wrk's -c
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local c = dofile(dir .. "common.lua")
c.headers("/2fa/send")

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

id = 0 -- set per thread by setup
counter = 0
function request()
  local i = counter * c.nthreads + id
  counter = counter + 1
  return wrk.format(nil, nil, nil,
    '{"service":"' .. c.service .. '","from":"OTPGate","to":"' .. c.number(i) .. '","body":"Your code is {code}"}')
end

function done(summary, latency, requests)
  local least
  for _, t in ipairs(threads) do
    local n = t:get("counter")
    if least == nil or n < least then least = n end
  end
  local perThread = math.ceil(tonumber(os.getenv("BENCH_CONNS") or "64") / #threads)
  local secs = summary.duration / 1e6
  local overtaken = math.ceil(summary.requests / #threads / secs * math.max(2 * latency.max / 1e6, 0.1))
  local sent = math.max(least - perThread - overtaken, 0) * #threads
  local path = os.getenv("BENCH_STATE")
  if path then
    local f = assert(io.open(path, "w"))
    f:write(sent, "\n")
    f:close()
  end
  io.write(string.format("numbers sent to (for verify.lua): %d\n", sent))
end
