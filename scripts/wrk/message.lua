-- wrk script: POST /2010-04-01/Accounts/{SID}/Messages.json (Twilio's
-- messages API, form-encoded), each request to a fresh Jordanian number
-- (079xxxxxxx). See common.lua for the environment; also:
--   BENCH_SID      the account SID (in the path)
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local c = dofile(dir .. "common.lua")
c.headers("/2010-04-01/Accounts/" .. assert(os.getenv("BENCH_SID"), "set BENCH_SID") .. "/Messages.json")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

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
  return wrk.format(nil, nil, nil, "To=" .. c.number(i) .. "&From=OTPGate&Body=Your+order+has+shipped")
end
