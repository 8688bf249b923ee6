-- wrk script: the POST /2fa/send that bench's generator makes, with one fixed
-- body and no Lua per request: the cheapest load wrk can make, for the
-- ceiling against otpgate noop-server.
--   BENCH_BASIC  base64 of "SID:TOKEN" (any value does for noop-server)
wrk.method = "POST"
wrk.path = "/2fa/send"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.headers["Authorization"] = "Basic " .. (os.getenv("BENCH_BASIC") or "QUMwOnQ=")
wrk.body = '{"service":"bench","from":"OTPGate","to":"+962790000000","body":"Your code is {code}"}'
