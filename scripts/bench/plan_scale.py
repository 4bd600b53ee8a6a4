#!/usr/bin/env python3
"""Helpers of `scripts/bench-plan --scale` (standard library only).

    plan_scale.py setup DIR COUNT EMULATOR DATASET [BATCH]
                                                      COUNT ndjson syncs of 2,000 rows (plus one changed row each;
                                                      inline batches of BATCH rows, default 500: 4 dry runs a sync)
                                                      in DIR/syncs.d and DIR/data, and their target tables created
                                                      empty in bqsync-bench.DATASET straight through the emulator's
                                                      REST API (an apply creating them would first run every
                                                      sync's MERGEs against the emulator, one sync after another;
                                                      a dry run answered by the proxy does not read the table)
    plan_scale.py stats PORT                          the fault proxy's request log (GET /__proxy/stats) as one JSON
                                                      object: requests by kind (how many, their statuses, mean ms
                                                      held, and when they were sent), and how many were in flight
"""
import json, sys, urllib.request

SYNC = """version: 1
name: s{i}
source: {{type: ndjson, path: ../data/s{i}.ndjson}}
target:
  table: bqsync-bench.{dataset}.t{i}
  create_if_missing: true
  schema: [{{name: id, type: INT64, mode: REQUIRED}}, {{name: name, type: STRING}}]
merge: {{keys: [id]}}
batch: {{size: {batch}, strategy: inline}}
"""


def post(url, payload):
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


def setup(directory, count, emulator, dataset, batch=500):
    import os
    os.makedirs(f"{directory}/syncs.d", exist_ok=True)
    os.makedirs(f"{directory}/data", exist_ok=True)
    os.makedirs(f"{directory}/policies", exist_ok=True)
    with open(f"{directory}/policies/default.yaml", "w") as f:
        f.write("version: 1\nname: default\nsession: {max_queries: 100000, max_bytes_billed: 100 TB, max_cost_usd: 10000}\n")
    base = f"{emulator.rstrip('/')}/bigquery/v2/projects/bqsync-bench"
    post(f"{base}/datasets", {"datasetReference": {"projectId": "bqsync-bench", "datasetId": dataset}})
    for i in range(1, count + 1):
        with open(f"{directory}/data/s{i}.ndjson", "w") as f:
            f.writelines('{"id": %d, "name": "n%d-%d"}\n' % (r, r, i) for r in range(2000))
            f.write('{"id": 1, "name": "changed"}\n')  # the same shape as the 50-sync bench: 4 batches of 500
        with open(f"{directory}/syncs.d/s{i}.yaml", "w") as f:
            f.write(SYNC.format(i=i, dataset=dataset, batch=batch))
        post(f"{base}/datasets/{dataset}/tables",
             {"tableReference": {"projectId": "bqsync-bench", "datasetId": dataset, "tableId": f"t{i}"},
              "schema": {"fields": [{"name": "id", "type": "INT64", "mode": "REQUIRED"},
                                    {"name": "name", "type": "STRING"}]}})


def kind(entry):
    path, method = entry["path"], entry["method"]
    if entry.get("dry"):
        return "dry run"
    if path.endswith("/jobs") and method == "POST":
        return "job insert"
    if "/tables/" in path and method == "GET":
        return "tables.get (lease)" if "/datasets/bqsync/" in path else "tables.get (target)"
    if path.count("/") == 6 and "/datasets/" in path and method == "GET":
        return "datasets.get"
    return f"{method} other"


def stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__proxy/stats", timeout=60) as response:
        data = json.load(response)
    log = data["log"]
    kinds = {}
    first = min((e["start"] for e in log), default=0.0)
    for entry in log:
        k = kind(entry)
        row = kinds.setdefault(k, {"count": 0, "seconds": 0.0, "statuses": {}, "starts": []})
        row["count"] += 1
        row["seconds"] += entry["end"] - entry["start"]
        row["starts"].append(entry["start"] - first)
        row["statuses"][str(entry["status"])] = row["statuses"].get(str(entry["status"]), 0) + 1
    for row in kinds.values():
        row["mean_ms"] = round(1000 * row.pop("seconds") / row["count"], 1)  # held in the proxy, latency included
        starts = sorted(row.pop("starts"))
        # When this kind was sent, from the first request of the run: the first and last start, and the 5th and
        # 95th percentile (where most of them went).
        row["sent_s"] = [round(starts[0], 2), round(starts[len(starts) * 5 // 100], 2),
                         round(starts[len(starts) * 95 // 100], 2), round(starts[-1], 2)]
    # How many requests the proxy held at once (its own view of the client's concurrency), sampled at each start.
    events = sorted([(e["start"], 1) for e in log] + [(e["end"], -1) for e in log])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    span = (max(e["end"] for e in log) - min(e["start"] for e in log)) if log else 0.0
    busy = sum(e["end"] - e["start"] for e in log)
    print(json.dumps({"requests": len(log), "by_kind": kinds, "peak_in_flight": peak,
                      "mean_in_flight": round(busy / span, 1) if span else 0.0, "first_to_last_s": round(span, 2)}))


if __name__ == "__main__":
    if sys.argv[1] == "setup":
        setup(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]) if len(sys.argv) > 6 else 500)
    elif sys.argv[1] == "stats":
        stats(sys.argv[2])
    else:
        sys.exit(__doc__)
