"""Helpers for compare.sh (standard library only).

  summarize.py h2load STDOUT LOGFILE IN_FLIGHT
                                       -> one JSON line: rps, p50/p90/p99 (us), failures,
                                          and the Little's-law check of the latencies
  summarize.py report WORKDIR          -> WORKDIR/results.json and a table on stdout

The report takes the median over rounds of each (setup, protocol) pair, so one
disturbed run on a shared machine does not decide the result, and compares
setups round by round: the ratio to nginx is the median of each round's ratio.
"""

import json
import os
import re
import statistics
import sys

SETUPS = ["upstream", "nginx", "haproxy", "keyhole-passthrough", "keyhole-full", "keyhole-masking"]
# What each Keyhole setup adds to the one before it, in server CPU per request:
# the stack (TLS, HTTP both ways, JWT, the JSON body parsed and written back)
# over nginx, the policy over the stack, the disclosures over the policy.
STAGES = [
    ("stack: keyhole-passthrough - nginx", "keyhole-passthrough", "nginx"),
    ("policy: keyhole-masking - keyhole-passthrough", "keyhole-masking", "keyhole-passthrough"),
    ("disclosure: keyhole-full - keyhole-masking", "keyhole-full", "keyhole-masking"),
]
TARGETS = {
    "rps_vs_nginx_min": 0.8,
    "p99_vs_nginx_max": 1.5,
    "peak_rss_mib_max": 100,
    "policy_vs_presidio_min": 100,
}


def percentile(sorted_values, p):
    if not sorted_values:
        return 0
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def h2load(stdout_path, log_path, in_flight):
    """h2load prints no percentiles; its per-request log has the elapsed time.

    Little's law checks the latencies: with `in_flight` requests always
    outstanding, requests/s times the mean latency must come to about
    `in_flight`. Far above it, the latencies are not the requests' real ones
    (wrk's histogram failed this way, which is why h2load drives HTTP/1.1 too);
    far below, the load generator did not keep its connections busy.
    """
    with open(stdout_path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    rps = re.search(r"finished in [^,]+, ([0-9.]+) req/s", text)
    req = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", text)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    elapsed = []
    if os.path.exists(log_path):
        with open(log_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    elapsed.append(int(parts[2]))
    elapsed.sort()
    non_2xx = sum(int(codes.group(i)) for i in (2, 3, 4)) if codes else -1
    mean_us = sum(elapsed) / len(elapsed) if elapsed else 0
    rate = float(rps.group(1)) if rps else 0.0
    implied = rate * mean_us / 1e6
    out = {
        "requests": int(req.group(3)) if req else 0,
        "rps": rate,
        "p50_us": percentile(elapsed, 50),
        "p90_us": percentile(elapsed, 90),
        "p99_us": percentile(elapsed, 99),
        "max_us": elapsed[-1] if elapsed else 0,
        "mean_us": round(mean_us),
        "in_flight": in_flight,
        "in_flight_implied": round(implied, 1),
        "littles_law_ok": bool(elapsed) and 0.8 * in_flight <= implied <= 1.1 * in_flight,
        "failed": (int(req.group(4)) + int(req.group(5))) if req else -1,
        "errors_status": non_2xx,
    }
    print(json.dumps(out))


def load_jsonl(path):
    rows = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    return rows


def load_json(path):
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def median_or_none(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 1) if values else None


def medians(runs):
    table = {}
    for proto in ("h1", "h2"):
        for setup in SETUPS:
            rows = [r for r in runs if r["setup"] == setup and r["proto"] == proto]
            if not rows:
                continue
            table.setdefault(proto, {})[setup] = {
                "rounds": len(rows),
                "rps": round(statistics.median(r["rps"] for r in rows), 1),
                "p50_ms": round(statistics.median(r["p50_us"] for r in rows) / 1000, 3),
                "p99_ms": round(statistics.median(r["p99_us"] for r in rows) / 1000, 3),
                "cpu_us_per_req": median_or_none([r.get("cpu_us_per_req") for r in rows]),
                "sys_us_per_req": median_or_none([r.get("sys_us_per_req") for r in rows]),
                "clean": all(r.get("clean", False) for r in rows),
                "littles_law_ok": all(r.get("littles_law_ok", False) for r in rows),
            }
    return table


def ratios(runs):
    """Each setup against nginx in the same round, then the median over rounds.

    Setups in one round run back to back, so a round's ratio compares them
    under the same neighbours' load; the median of the rounds' ratios is
    steadier on a shared machine than the ratio of two medians, which can
    pair a quiet round of one setup with a busy round of the other.
    """
    out = {}
    for proto in ("h1", "h2"):
        by_round = {}
        for r in runs:
            if r["proto"] == proto:
                by_round.setdefault(r["round"], {})[r["setup"]] = r
        for name in ("keyhole-full", "keyhole-masking", "keyhole-passthrough", "haproxy"):
            pairs = [(rnd[name], rnd["nginx"]) for rnd in by_round.values()
                     if name in rnd and "nginx" in rnd and rnd["nginx"]["rps"]]
            if not pairs:
                continue
            rps = [s["rps"] / n["rps"] for s, n in pairs]
            out[f"{proto}/{name}_vs_nginx"] = {
                "rounds": len(pairs),
                "rps": round(statistics.median(rps), 3),
                "rps_by_round": [round(x, 3) for x in rps],
                "p99": median_ratio(pairs, "p99_us"),
                "cpu_per_req": median_ratio(pairs, "cpu_us_per_req"),
            }
    return out


def stages(table):
    """CPU per request each Keyhole stage adds, from the medians (user+system, and system alone)."""
    out = {}
    for proto, setups in table.items():
        for label, more, less in STAGES:
            a, b = setups.get(more), setups.get(less)
            if not a or not b or a["cpu_us_per_req"] is None or b["cpu_us_per_req"] is None:
                continue
            sys_a, sys_b = a.get("sys_us_per_req"), b.get("sys_us_per_req")
            out.setdefault(proto, {})[label] = {
                "cpu_us_per_req": round(a["cpu_us_per_req"] - b["cpu_us_per_req"], 1),
                "sys_us_per_req": round(sys_a - sys_b, 1) if sys_a is not None and sys_b is not None else None,
            }
    return out


def median_ratio(pairs, key):
    values = [s[key] / n[key] for s, n in pairs if s.get(key) and n.get(key)]
    return round(statistics.median(values), 3) if values else None


def presidio_ratio(presidio, bench):
    if not presidio or not bench:
        return None
    keyhole = bench["records_per_s"]
    afresh = bench.get("sealed_afresh_records_per_s")
    per_element = presidio["presidio_per_element"]["records_per_s"]
    return {
        "keyhole_records_per_s": round(keyhole, 1),
        "keyhole_sealed_afresh_records_per_s": afresh and round(afresh, 1),
        "ratio_sealed_afresh_vs_per_element": afresh and round(afresh / per_element, 1),
        "presidio_per_element_records_per_s": presidio["presidio_per_element"]["records_per_s"],
        "presidio_whole_record_records_per_s": presidio["presidio_whole_record"]["records_per_s"],
        "presidio_whole_record_lists_intact": presidio["presidio_whole_record"]["lists_intact"],
        "ratio_vs_per_element": round(keyhole / presidio["presidio_per_element"]["records_per_s"], 1),
        "ratio_vs_whole_record": round(keyhole / presidio["presidio_whole_record"]["records_per_s"], 1),
    }


def verdicts(rat, memory, pres):
    h1 = rat.get("h1/keyhole-full_vs_nginx", {})
    v = {}
    if h1:
        v["h1_rps_ge_0.8x_nginx"] = h1["rps"] >= TARGETS["rps_vs_nginx_min"]
        v["h1_p99_within_1.5x_nginx"] = h1["p99"] is not None and h1["p99"] <= TARGETS["p99_vs_nginx_max"]
    if memory:
        v["peak_rss_lt_100MiB"] = memory["peak_rss_mib"] < TARGETS["peak_rss_mib_max"]
    if pres:
        # Presidio encrypts every value afresh: so is Keyhole judged, where measured.
        ratio = pres["ratio_sealed_afresh_vs_per_element"] or pres["ratio_vs_per_element"]
        v["policy_ge_100x_presidio"] = ratio >= TARGETS["policy_vs_presidio_min"]
    return v


def print_cpu(environment):
    cpu = (environment or {}).get("cpu")
    if cpu:
        yes = {True: "yes", False: "no"}
        print(f"\nCPU: {cpu['model']} (SHA extensions: {yes[cpu['sha_extensions']]}, "
              f"AES-NI: {yes[cpu['aes_ni']]}, AVX2: {yes[cpu['avx2']]})")


def print_table(result):
    print_cpu(result.get("environment"))
    for proto, setups in result["medians"].items():
        tool = "h2load --h1" if proto == "h1" else "h2load"
        print(f"\n{proto} ({tool}), median of rounds")
        print(f"  {'setup':<21}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'CPU us/req':>12}"
              f"{'kernel':>8}  clean  Little")
        for name, s in setups.items():
            print(f"  {name:<21}{s['rps']:>10.1f}{s['p50_ms']:>10.3f}{s['p99_ms']:>10.3f}"
                  f"{str(s['cpu_us_per_req']):>12}{str(s.get('sys_us_per_req')):>8}"
                  f"  {str(s['clean']):<5}  {s['littles_law_ok']}")
    print("\nratios to nginx in the same round, median over rounds (req/s, p99, server CPU per request)")
    for k, r in result["ratios"].items():
        print(f"  {k:<40} req/s {r['rps']:.3f}   p99 {r['p99']}   cpu/req {r['cpu_per_req']}"
              f"   (req/s by round: {', '.join(str(x) for x in r['rps_by_round'])})")
    for proto, rows in result.get("stages", {}).items():
        print(f"\n{proto}: server CPU per request each stage adds (us; of it in the kernel)")
        for label, st in rows.items():
            print(f"  {label:<46}{st['cpu_us_per_req']:>8}  ({st['sys_us_per_req']})")
    if result.get("memory"):
        m = result["memory"]
        print(f"\nKeyhole memory at {m['connections']} keep-alive connections "
              f"({m['established_seen']} established seen): peak RSS {m['peak_rss_mib']} MiB "
              f"(idle {m['idle_rss_mib']} MiB)")
    if result.get("presidio"):
        p = result["presidio"]
        print(f"\npolicy engine vs Presidio (records/s): Keyhole {p['keyhole_records_per_s']}, "
              f"presidio-structured {p['presidio_per_element_records_per_s']} "
              f"(x{p['ratio_vs_per_element']}); every token sealed afresh "
              f"{p['keyhole_sealed_afresh_records_per_s']} (x{p['ratio_sealed_afresh_vs_per_element']}); "
              f"whole-record mode "
              f"{p['presidio_whole_record_records_per_s']} (x{p['ratio_vs_whole_record']}, "
              f"lists intact: {p['presidio_whole_record_lists_intact']})")
    print("\ntargets:", json.dumps(result["targets_met"]))
    print("features:", json.dumps(result.get("features")))


def report(work):
    runs = load_jsonl(os.path.join(work, "runs.jsonl"))
    table = medians(runs)
    rat = ratios(runs)
    memory = load_json(os.path.join(work, "memory.json"))
    pres = presidio_ratio(load_json(os.path.join(work, "presidio.json")),
                          load_json(os.path.join(work, "keyhole-policy-bench.json")))
    result = {
        "environment": load_json(os.path.join(work, "environment.json")),
        "features": load_json(os.path.join(work, "features.json")),
        "medians": table,
        "ratios": rat,
        "stages": stages(table),
        "memory": memory,
        "presidio": pres,
        "targets_met": verdicts(rat, memory, pres),
        "runs": runs,
    }
    with open(os.path.join(work, "results.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print_table(result)
    print(f"\nwritten: {os.path.join(work, 'results.json')}")


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "h2load":
        h2load(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 3 and sys.argv[1] == "report":
        report(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
