-- wrk script: POST /2fa/send with "channel":"email", each request to a fresh
-- address (userBASE-N@example.com). See common.lua for the environment.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local c = dofile(dir .. "common.lua")
c.headers("/2fa/send")

local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

id = 0 -- set per thread by setup
counter = 0
function request()
  local i = counter * c.nthreads + id
  counter = counter + 1
  return wrk.format(nil, nil, nil,
    '{"service":"' .. c.service .. '","channel":"email","to":"user' .. c.base .. '-' .. i .. '@example.com"}')
end
