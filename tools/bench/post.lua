-- wrk script: POST the file named by BENCH_BODY with the header BENCH_AUTH_HEADER
-- (a full "Basic …" value), and print a JSON summary line at the end.
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH_HEADER")

-- summary.lua sits beside this script, wherever wrk is started from.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "summary.lua")
