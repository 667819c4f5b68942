-- wrk script for the benchmark's plain-HTTP keep-alive test. Through a proxy
-- the request line carries the absolute URI (GET http://target.test:PORT/)
-- with Proxy-Authorization; direct, it is origin-form. bench.py sets:
--   BENCH_PATH  the request target ("http://target.test:PORT/" or "/")
--   BENCH_HOST  the Host field ("target.test:PORT")
--   BENCH_AUTH  base64 of user:password, or empty for none
wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH") or "/"
wrk.headers["Host"] = os.getenv("BENCH_HOST")
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
	wrk.headers["Proxy-Authorization"] = "Basic " .. auth
end
