-- wrk script for bench/run.sh: POST {"claims":{"sub":"u"},"ttl":300} with a bearer token.
--   wrk -t2 -c64 -d10s --latency -s bench/sign.lua http://127.0.0.1:PORT/v1/keysets/NAME/sign -- TOKEN
function init(args)
  wrk.method = "POST"
  wrk.body = '{"claims":{"sub":"u"},"ttl":300}'
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[1]
end
