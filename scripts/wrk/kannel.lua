-- wrk script for the baseline: Kannel's smsbox, GET /cgi-bin/sendsms, each
-- request to a fresh Jordanian number (+96279xxxxxxx), the text a code as
-- otpgate would send it. Kannel answers 202 once it has queued the message
-- (in memory).
--   KANNEL_USER, KANNEL_PASS   a sendsms-user of the smsbox
--   KANNEL_DLR_URL             if set, ask for each message's receipts
--                              (dlr-mask 3) and to have them called there
--   BENCH_BASE, BENCH_THREADS  as in common.lua
local base = tonumber(os.getenv("BENCH_BASE") or "0")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
local prefix = "/cgi-bin/sendsms?username=" .. assert(os.getenv("KANNEL_USER"), "set KANNEL_USER") ..
  "&password=" .. assert(os.getenv("KANNEL_PASS"), "set KANNEL_PASS") ..
  "&from=OTPGate&text=Your+bench+code+is+123456"
local dlr = os.getenv("KANNEL_DLR_URL")
if dlr and dlr ~= "" then
  prefix = prefix .. "&dlr-mask=3&dlr-url=" .. dlr:gsub("[^%w%-_%.~]", function(ch)
    return string.format("%%%02X", string.byte(ch))
  end)
end
prefix = prefix .. "&to=%2B96279"

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

id = 0 -- set per thread by setup
counter = 0
function request()
  local i = counter * nthreads + id
  counter = counter + 1
  return wrk.format("GET", prefix .. string.format("%07d", (base + i) % 10000000))
end
