-- serve-load.lua: wrk script for the `hat serve` load run (Reports/performance.md, "Serving"):
-- every request is a greedy, non-streamed 64-byte completion of a short prompt; the summary
-- prints the status counts, so intended 429s are told apart from errors.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"prompt": "It was a dark and stormy night; the rain fell in torrents", "max_tokens": 64, "temperature": 0}'

local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

-- wrk runs one Lua state per thread: collect each thread's counts in done().
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  for _, status in ipairs({200, 429, 400, 413, 500}) do
    local n = 0
    for _, thread in ipairs(threads) do
      local counts = thread:get("statuses")
      n = n + ((counts and counts[status]) or 0)
    end
    if n > 0 then io.write(string.format("status %d: %d\n", status, n)) end
  end
end
