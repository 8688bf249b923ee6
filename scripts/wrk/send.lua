-- wrk script: POST /2fa/send, each request to a fresh Jordanian number
-- (079xxxxxxx). See common.lua for the environment. At the end it writes
-- to BENCH_STATE how many numbers from BENCH_BASE on were surely sent to
-- (every thread got that far, less one request per connection that may have
-- been built but not sent), for verify.lua.
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
  local sent = math.max(least - perThread, 0) * #threads
  local path = os.getenv("BENCH_STATE")
  if path then
    local f = assert(io.open(path, "w"))
    f:write(sent, "\n")
    f:close()
  end
  io.write(string.format("numbers sent to (for verify.lua): %d\n", sent))
end
