-- wrk script for bench/run.sh: POST {"token": TOKEN} to a keyset's verify endpoint with a bearer
-- token (any role may verify). Every check runs, including provenance (a ledger lookup).
--   wrk -t2 -c64 -d10s --latency -s bench/verify.lua http://127.0.0.1:PORT/v1/keysets/NAME/verify -- BEARER JWT
function init(args)
  wrk.method = "POST"
  wrk.body = '{"token":"' .. args[2] .. '"}'
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[1]
end
