-- Shared by send.lua and verify.lua (loaded with dofile from the script's
-- directory). Numbers are 079 and seven digits: index i of a run is
-- (BENCH_BASE + i) mod 10^7, and thread t of T makes indexes t, t+T, t+2T...
--   BENCH_BASIC    base64 of "SID:TOKEN" (HTTP Basic)
--   BENCH_BASE     first number of the run (0-9999999)
--   BENCH_THREADS  wrk's -t
--   BENCH_SERVICE  service name (default "bench")
local M = {}
M.base = tonumber(os.getenv("BENCH_BASE") or "0")
M.nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
M.service = os.getenv("BENCH_SERVICE") or "bench"

function M.headers(path)
  wrk.method = "POST"
  wrk.path = path
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
  wrk.headers["Authorization"] = "Basic " .. assert(os.getenv("BENCH_BASIC"), "set BENCH_BASIC")
end

function M.number(i)
  return string.format("079%07d", (M.base + i) % 10000000)
end

return M
