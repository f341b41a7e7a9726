-- wrk script: request headers from the environment (KH_AUTH, KH_TICKET), and
-- one machine-readable line at the end with throughput, latency percentiles
-- (microseconds, from wrk's own histogram) and every error class.
local auth = os.getenv("KH_AUTH")
local ticket = os.getenv("KH_TICKET")
if auth and auth ~= "" then
    wrk.headers["Authorization"] = auth
end
if ticket and ticket ~= "" then
    wrk.headers["X-Ticket-Id"] = ticket
end

done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'WRK_JSON {"requests":%d,"duration_us":%d,"rps":%.2f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
        '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d}\n',
        summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
        e.connect, e.read, e.write, e.status, e.timeout))
end
