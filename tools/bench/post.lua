-- wrk script: POST the file named by BENCH_BODY with the credential header BENCH_AUTH_NAME
-- (default Authorization) set to BENCH_AUTH_HEADER (a full "Basic …"/"Bearer …" value, or a
-- header rule's key), and print a JSON summary line at the end.
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers[os.getenv("BENCH_AUTH_NAME") or "Authorization"] = os.getenv("BENCH_AUTH_HEADER")

-- summary.lua sits beside this script, wherever wrk is started from.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "summary.lua")
