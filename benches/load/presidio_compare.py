"""Records per second of Microsoft Presidio's presidio-structured over the
demo's customer records, with the field operators of
policies/customer-records.toml (route GET /customers/{customer}, no ticket).

Keyhole's side of the comparison is the criterion bench
`presidio_same_input/keyhole_1000_records` in benches/policy.rs, which judges
the very same records (DataSet::generate(DEMO_SEED, 1000), the data set
`keyhole demo` writes to customers.json).

Operator mapping (Keyhole action -> Presidio operator):
  mask keep_first/keep_last -> custom lambda keeping the same characters
  redact                    -> replace with "[redacted]"
  tokenize                  -> encrypt (AES, reversible: Presidio's analogue)
  generalize to year        -> custom lambda keeping "YYYY"
  pass                      -> no operator

Two ways of driving presidio-structured are timed:
  per-element: one anonymize() per record and one per element of each list,
               with element-relative keys; the output is correct.
  whole-record: one anonymize() per record with "devices.service_tag" style
               keys, as the JsonDataProcessor documents; faster but its list
               handling writes the last element's result into every element,
               which the script checks and reports.

Usage: python presidio_compare.py customers.json --seconds 3 --out presidio.json
"""

import argparse
import copy
import json
import logging
import sys
import time

from presidio_anonymizer.entities import OperatorConfig
from presidio_structured import JsonDataProcessor, StructuredAnalysis, StructuredEngine

REDACTED = "[redacted]"
# A fixed 128-bit key: this measures speed, nothing is kept.
KEY = "0123456789abcdef"


def mask(keep_first=0, keep_last=0):
    def op(text):
        n = len(text)
        if keep_first + keep_last >= n:
            return "*" * max(n, 1)
        return text[:keep_first] + "*" * (n - keep_first - keep_last) + text[n - keep_last:]

    return op


OPERATORS = {
    "EMAIL": OperatorConfig("custom", {"lambda": mask(keep_first=1)}),
    "PHONE": OperatorConfig("custom", {"lambda": mask(keep_last=2)}),
    "REDACT": OperatorConfig("replace", {"new_value": REDACTED}),
    "TOKEN": OperatorConfig("encrypt", {"key": KEY}),
    "YEAR": OperatorConfig("custom", {"lambda": lambda s: s[:4]}),
}

TOP = {
    "email": "EMAIL",
    "phone": "PHONE",
    "address.street": "REDACT",
    "address.postal_code": "REDACT",
}
DEVICE = {
    "service_tag": "TOKEN",
    "express_service_code": "TOKEN",
    "purchase_date": "YEAR",
}
CASE = {"service_tag": "TOKEN", "notes": "REDACT"}


def nested(prefix, mapping):
    return {f"{prefix}.{k}": v for k, v in mapping.items()}


WHOLE = {**TOP, **nested("devices", DEVICE), **nested("service_history", CASE)}


def per_element(engine, record):
    engine.anonymize(record, StructuredAnalysis(TOP), dict(OPERATORS))
    for device in record["devices"]:
        engine.anonymize(device, StructuredAnalysis(DEVICE), dict(OPERATORS))
    for case in record["service_history"]:
        engine.anonymize(case, StructuredAnalysis(CASE), dict(OPERATORS))
    return record


def whole_record(engine, record):
    return engine.anonymize(record, StructuredAnalysis(WHOLE), dict(OPERATORS))


def lists_intact(original, masked):
    """True when every list element got its own result (distinct tags stay distinct)."""
    tags = [d["service_tag"] for d in original["devices"]]
    out = [d["service_tag"] for d in masked["devices"]]
    return len(set(out)) == len(set(tags)) and all(t not in out for t in tags)


def measure(records, fn, seconds):
    engine = StructuredEngine(data_processor=JsonDataProcessor())
    done, spent, intact = 0, 0.0, True
    while spent < seconds:
        batch = copy.deepcopy(records)  # copying is outside the timing, as in the Rust bench
        start = time.perf_counter()
        out = [fn(engine, r) for r in batch]
        spent += time.perf_counter() - start
        done += len(batch)
        intact = intact and all(lists_intact(o, m) for o, m in zip(records[:50], out[:50]))
    return {"records": done, "seconds": round(spent, 3),
            "records_per_s": round(done / spent, 1), "lists_intact": intact}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help="customers.json written by `keyhole demo`")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--out", default="-")
    args = p.parse_args()
    logging.getLogger("presidio-structured").setLevel(logging.WARNING)
    with open(args.data, encoding="utf-8") as f:
        records = json.load(f)
    result = {
        "input_records": len(records),
        "presidio_per_element": measure(records, per_element, args.seconds),
        "presidio_whole_record": measure(records, whole_record, args.seconds),
    }
    text = json.dumps(result, indent=2)
    if args.out == "-":
        print(text)
    else:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        print(text, file=sys.stderr)


if __name__ == "__main__":
    main()
