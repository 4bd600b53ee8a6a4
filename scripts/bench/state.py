"""What bookkeeping costs an apply: two bqsync binaries side by side on one emulator, every request counted at
the fault proxy (Tests/BigQueryModel/fault-proxy.py). Run by scripts/bench-state, which builds the binaries and starts the
emulator.

    state.py --emulator URL --bin LABEL=PATH [--bin LABEL=PATH …] [--syncs 50] [--latency 0.2]

Per binary, in its own dataset:
  1. one sync, 100 rows in one inline batch, into an existing table, the state dataset already there: `apply
     PLANFILE` through the proxy with no latency. Counted: every request, the job inserts by kind, the jobs that
     touch the state dataset and what BigQuery would bill them at least (a query job that reads or writes a table
     bills at least 10 MiB), and the plan's own estimate of its state steps;
  2. `bqsync status` through the proxy: its requests and query jobs;
  3. 50 syncs planned, then `apply PLANFILE` of all of them through the proxy holding every request 200 ms: wall
     time and requests.
The plans are made straight against the emulator (not counted).
"""
import argparse, json, os, re, shutil, subprocess, sys, tempfile, time, urllib.request

PROJECT = "bqsync-demo"
MiB = 1 << 20
MIN_BILLED = 10 * MiB


def proxy(emulator, latency):
    process = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "BigQueryModel", "fault-proxy.py"),
                                "--upstream", emulator, "--latency", str(latency)], stdout=subprocess.PIPE, text=True)
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}"


def stats(url):
    with urllib.request.urlopen(url + "/__proxy/stats") as answer:
        return json.load(answer)


def workspace(root, dataset, syncs, rows):
    os.makedirs(os.path.join(root, "syncs.d", "data"), exist_ok=True)
    os.makedirs(os.path.join(root, "policies"), exist_ok=True)
    with open(os.path.join(root, "policies", "default.yaml"), "w") as policy:
        # Generous limits: through the proxy every finished query job reports 10-59 MiB billed.
        policy.write("version: 1\nname: default\nsession: {max_queries: 100000, max_bytes_billed: 100 TB, max_cost_usd: 100000}\n")
    for i in range(1, syncs + 1):
        with open(os.path.join(root, "syncs.d", "data", f"s{i}.ndjson"), "w") as data:
            for r in range(rows):
                data.write(json.dumps({"id": r, "name": f"n{r}-{i}"}) + "\n")
        with open(os.path.join(root, "syncs.d", f"s{i}.yaml"), "w") as sync:
            sync.write(f"""version: 1
name: s{i}
source: {{type: ndjson, path: data/s{i}.ndjson}}
target:
  table: {PROJECT}.{dataset}.t{i}
  create_if_missing: true
  schema: [{{name: id, type: INT64, mode: REQUIRED}}, {{name: name, type: STRING}}]
merge: {{keys: [id]}}
batch: {{size: 500, strategy: inline}}
""")


def touch_sources(root, syncs, tag):
    for i in range(1, syncs + 1):
        with open(os.path.join(root, "syncs.d", "data", f"s{i}.ndjson"), "a") as data:
            data.write(json.dumps({"id": 1, "name": f"changed-{tag}"}) + "\n")


def bqsync(binary, root, host, *arguments):
    environment = dict(os.environ, BIGQUERY_EMULATOR_HOST=host, NO_COLOR="1")
    started = time.monotonic()
    done = subprocess.run([binary, "-C", root, *arguments], cwd=root, env=environment, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench-state: {binary} {' '.join(arguments)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return time.monotonic() - started, done


def is_state(entry):
    return any(".bqsync." in table and ".stage_" not in table and ".bqsync_stage_" not in table for table in entry.get("tables", []))


def counted(log):
    jobs = [e for e in log if e["method"] == "POST" and e["path"].endswith("/jobs")]
    real = [e for e in jobs if not e["dry"]]
    state = [e for e in jobs if is_state(e)]
    return {"requests": len(log), "job inserts": len(real), "dry runs": len(jobs) - len(real),
            "merges": sum(1 for e in real if e["statement"] == "MERGE" and not is_state(e)),
            "state jobs": len(state), "state billed at least": sum(MIN_BILLED for e in state if not e["dry"]),
            "query jobs": sum(1 for e in real if e["statement"] != "LOAD")}


def planned_state_bytes(root):
    with open(os.path.join(root, "plan.json")) as plan:
        document = json.load(plan)
    return sum(int((step.get("estimate") or {}).get("billed_bytes") or 0)
               for sync in document["syncs"] for step in sync["steps"] if step["kind"] == "state")


def measure(label, binary, emulator, syncs, latency, scratch):
    run = f"{int(time.time()) % 100000}_{re.sub(r'[^A-Za-z0-9_]', '_', label)}"
    one = os.path.join(scratch, run, "one")
    workspace(one, f"state_one_{run}", 1, 100)
    bqsync(binary, one, emulator, "apply", "--auto-approve")          # the target and the state dataset exist
    touch_sources(one, 1, "a")
    bqsync(binary, one, emulator, "plan", "--out", "plan.json")
    process, url = proxy(emulator, 0)
    try:
        seconds, _ = bqsync(binary, one, url, "apply", "plan.json")
        apply_counts = counted(stats(url)["log"])
        before = len(stats(url)["log"])
        bqsync(binary, one, url, "status")
        status_counts = counted(stats(url)["log"][before:])
    finally:
        process.kill()
    apply_counts["plan's state estimate"] = planned_state_bytes(one)
    apply_counts["wall"] = seconds

    many = os.path.join(scratch, run, "many")
    workspace(many, f"state_many_{run}", syncs, 100)
    bqsync(binary, many, emulator, "apply", "--auto-approve")
    touch_sources(many, syncs, "b")
    bqsync(binary, many, emulator, "plan", "--out", "plan.json")
    process, url = proxy(emulator, latency)
    try:
        many_seconds, _ = bqsync(binary, many, url, "apply", "plan.json")
        many_counts = counted(stats(url)["log"])
    finally:
        process.kill()
    return {"one": apply_counts, "status": status_counts, "many": many_counts, "many wall": many_seconds}


def mb(value):
    return f"{value / 1e6:.1f} MB"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--emulator", required=True)
    parser.add_argument("--bin", action="append", required=True, metavar="LABEL=PATH")
    parser.add_argument("--syncs", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="bqsync-bench-state-")
    try:
        results = {}
        for spec in args.bin:
            label, _, path = spec.partition("=")
            results[label] = measure(label, path, args.emulator, args.syncs, args.latency, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    labels = list(results)
    print("| one-sync `apply PLANFILE` (state dataset exists) | " + " | ".join(labels) + " |")
    print("|---|" + "---:|" * len(labels))
    rows = [("requests", lambda r: str(r["one"]["requests"])),
            ("job inserts (dry runs)", lambda r: f"{r['one']['job inserts']} ({r['one']['dry runs']})"),
            ("MERGE jobs", lambda r: str(r["one"]["merges"])),
            ("state job inserts, dry runs included", lambda r: str(r["one"]["state jobs"])),
            ("state billed on BigQuery, at least (10 MiB a job)", lambda r: mb(r["one"]["state billed at least"])),
            ("the plan's estimate for state", lambda r: mb(r["one"]["plan's state estimate"])),
            ("wall time (through the proxy, no latency)", lambda r: f"{r['one']['wall']:.2f} s"),
            ("`bqsync status`: requests", lambda r: str(r["status"]["requests"])),
            ("`bqsync status`: query jobs", lambda r: str(r["status"]["query jobs"])),
            (f"{args.syncs}-sync `apply PLANFILE`, {args.latency * 1000:.0f} ms a request: wall time",
             lambda r: f"{r['many wall']:.1f} s"),
            (f"{args.syncs}-sync apply: requests", lambda r: str(r["many"]["requests"])),
            (f"{args.syncs}-sync apply: state job inserts, dry runs included", lambda r: str(r["many"]["state jobs"]))]
    for name, cell in rows:
        print(f"| {name} | " + " | ".join(cell(results[label]) for label in labels) + " |")
    print(json.dumps(results), file=sys.stderr)


if __name__ == "__main__":
    main()
