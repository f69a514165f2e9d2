-- wrk script for benchmarks/intake.py: every request POSTs a new, unique comment.
--
-- Arguments (after "--"): PATH TAG BODY HEADERS
--   PATH     the request path (with its query string)
--   TAG      a word that makes this run's texts unique (e.g. "r2" for round 2)
--   BODY     the request body; "{n}" in it becomes TAG-thread-number
--   HEADERS  "Name: value" lines separated by newlines
--
-- done() prints one line "WRK-JSON {...}" with the status counts (every status,
-- counted in response(), so a 409 is never taken for a success), wrk's socket
-- errors and the latency distribution as 1999 quantiles (0.05 % apart, µs).

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  path = args[1]
  tag = args[2]
  local body = args[3]
  local at = body:find("{n}", 1, true)
  before, after = body:sub(1, at - 1), body:sub(at + 3)
  headers = {}
  for line in (args[4] .. "\n"):gmatch("([^\n]*)\n") do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then headers[name] = value end
  end
  counter = 0
  statuses = {}
end

function request()
  counter = counter + 1
  local body = before .. tag .. "-" .. tid .. "-" .. counter .. after
  return wrk.format("POST", path, headers, body)
end

function response(status, _headers, _body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, _requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    parts[#parts + 1] = string.format('"%d": %d', status, n)
  end
  local quantiles = {}
  if summary.requests > 0 then
    for k = 1, 1999 do
      quantiles[k] = string.format("%d", latency:percentile(k * 0.05))
    end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {"requests": %d, "duration_us": %d, "statuses": {%s}, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"latency_us": {"min": %d, "mean": %.1f, "max": %d, "quantiles": [%s]}}\n',
    summary.requests, summary.duration, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.timeout,
    latency.min, latency.mean, latency.max, table.concat(quantiles, ", ")))
end
