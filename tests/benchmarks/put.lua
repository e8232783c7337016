-- wrk script: every request PUTs a small number to a fresh leaf, /bench/t<thread>_<n>.json.
-- Counts 2xx and non-2xx answers per thread and prints one JSON summary line at the end.

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  sent = 0
  ok = 0
  non2xx = 0
  prefix = "/bench/t" .. id .. "_"
  put_headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer owner",
  }
end

function request()
  sent = sent + 1
  return wrk.format("PUT", prefix .. sent .. ".json", put_headers, tostring(sent))
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local good, bad = 0, 0
  for _, thread in ipairs(threads) do
    good = good + thread:get("ok")
    bad = bad + thread:get("non2xx")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "ok": %d, "non2xx": %d, '
      .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, '
      .. '"status_errors": %d, "timeouts": %d, "latency_p50_us": %d, "latency_p99_us": %d}\n',
    summary.requests, summary.duration, good, bad, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99)))
end
