-- wrk script for bench/run.sh section peer: oidc-provider's token endpoint, client-credentials grant,
-- Basic client authentication, one resource indicator (a JWT access token signed ES256).
--   wrk -t2 -c64 -d10s --latency -s bench/peer/oidc-provider/token.lua http://127.0.0.1:PORT/token
-- wrk itself counts non-2xx/3xx responses; this script also checks every response: status 200 and a
-- body whose access_token starts with the expected JWS header {"alg":"ES256","typ":"at+jwt",
-- "kid":"peer-es256"} (base64url, fixed by server.js). At the end it prints
--   PEER_CHECK responses=N bad=M
-- (bad = not 200, or 200 without such a token); bench_helper.py adds bad - non2xx to the errors.
local client_id, client_secret = "bench-client", "bench-secret"
local expected = '"access_token":"' .. "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6InBlZXItZXMyNTYifQ" .. "."

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
  return ((s:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end

wrk.method = "POST"
wrk.body = "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com&scope=api%3Aread"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. base64(client_id .. ":" .. client_secret)

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

responses, bad = 0, 0
function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 or not body:find(expected, 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local n, b = 0, 0
  for _, t in ipairs(threads) do
    n = n + (t:get("responses") or 0)
    b = b + (t:get("bad") or 0)
  end
  io.write(string.format("PEER_CHECK responses=%d bad=%d\n", n, b))
end
