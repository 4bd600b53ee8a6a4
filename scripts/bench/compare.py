"""Side by side: one MERGE per record, batched MERGE (both through google-cloud-bigquery), the same batched MERGE
through a lean client on Python's standard library only (http.client/urllib and json) and bqsync inline /
staged, on the same data against one local emulator. Run by scripts/bench-compare, which sets up the venv,
the release build and the emulator.

    compare.py run --bin BQSYNC --work DIR --sizes 10000 100000 --sample 1000 --table-rows 100000 --json OUT
    compare.py variant {per-record|batched|lean} --table T --data FILE --limit K --report FILE   (a child process)
    compare.py param-cost --work DIR      the emulator's cost per parameter row: ARRAY<STRUCT> and one JSON STRING

Every variant runs in a child process of the driver (started through a small launcher, see measure()), so its
wall time, user+sys CPU and peak RSS (os.wait4's rusage) are its own, not the emulator's and not the driver's.
"""

import argparse
import datetime as dt
import json
import math
import os
import re
import sys
import time

# `random` and `subprocess` are imported where the driver uses them, so that the variant children (the lean
# client above all) are not charged for imports they do not need.

PROJECT = "bqsync-demo"
DATASET = "bench"
BASE_ROWS = 100_000  # rows of the seeded table; `run --table-rows` (BENCH_TABLE_ROWS) sets it
BATCH = 500
COLUMNS = ["id", "email", "name", "score", "active", "updated_at"]
TYPES = {"id": "INT64", "email": "STRING", "name": "STRING", "score": "FLOAT64", "active": "BOOL", "updated_at": "TIMESTAMP"}
MiB = 1 << 20
TiB = 1 << 40
USD_PER_TIB = 6.25
TARGETS = {"1 GB": 10**9, "100 GB": 100 * 10**9}

LABEL = {
    "per-record": "a) per-record MERGE, google-cloud-bigquery",
    "batched": "b) batched MERGE (500-row ARRAY<STRUCT>), google-cloud-bigquery",
    "lean": "b2) batched MERGE, Python standard library only (urllib/json)",
    "inline": "c) bqsync, strategy: inline",
    "staged": "d) bqsync, strategy: staged",
}


# ---------------------------------------------------------------------------------------------- client

def client():
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    host = os.environ["BIGQUERY_EMULATOR_HOST"]
    c = bigquery.Client(project=PROJECT, credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=host))
    counts = {"jobs": 0, "http": 0}

    def count(response, *args, **kwargs):
        counts["http"] += 1
        request = response.request
        if request.method == "POST" and re.search(r"/projects/[^/]+/jobs(\?|$)", request.url):
            counts["jobs"] += 1

    c._http.hooks["response"].append(count)
    return c, counts


def table_id(name):
    return f"{PROJECT}.{DATASET}.{name}"


# ---------------------------------------------------------------------------------------------- data

def ts_text(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def generate(path, n):
    """n records, keys unique: half update existing keys (spread over the whole table), half insert new ones,
    in random order. A few NULL names, quotes, commas and non-ASCII text. Returns the set of updated keys."""
    import random
    if n // 2 > BASE_ROWS:
        raise SystemExit(f"bench-compare: {n:,} records update {n // 2:,} keys, more than the table's {BASE_ROWS:,} rows")
    rng = random.Random(6000 + n)
    updates = n // 2
    updated = rng.sample(range(BASE_ROWS), updates)
    fresh = [BASE_ROWS + 3 * i + 1 for i in range(n - updates)]
    keys = updated + fresh
    rng.shuffle(keys)
    start = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
    with open(path, "w", encoding="utf-8") as f:
        for i, key in enumerate(keys):
            record = {
                "id": key,
                "email": f"v{key}@example.net",
                "name": None if i % 11 == 0 else f'Näme "{key}", rev {i}',
                "score": round(key * 0.25 + (i % 1000) / 1000, 3),
                "active": i % 3 == 0,
                "updated_at": ts_text(start + dt.timedelta(seconds=i, microseconds=(i * 37) % 1_000_000)),
            }
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return set(updated)


def read_records(path, limit=None):
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if limit is not None and i >= limit:
                return
            yield json.loads(line)


def seed_sql(name):
    return f"""CREATE OR REPLACE TABLE `{table_id(name)}` AS
SELECT x AS id, CONCAT('u', CAST(x AS STRING), '@example.org') AS email, CONCAT('Name ', CAST(x AS STRING)) AS name,
  x * 0.5 AS score, MOD(x, 2) = 0 AS active,
  TIMESTAMP_ADD(TIMESTAMP '2026-01-01 00:00:00+00', INTERVAL x SECOND) AS updated_at
FROM UNNEST(GENERATE_ARRAY(0, {BASE_ROWS - 1})) AS x"""


def seed_row_bytes():
    """Average logical row size of the seeded table under BigQuery's sizes (INT64/FLOAT64/TIMESTAMP 8,
    BOOL 1, STRING 2 + UTF-8 bytes)."""
    total = 0
    for x in range(BASE_ROWS):
        total += 8 + (2 + len(f"u{x}@example.org")) + (2 + len(f"Name {x}")) + 8 + 1 + 8
    return total / BASE_ROWS


def staging_bytes(path):
    """Logical size of bqsync's staging table for this file: every column a STRING of its canonical text
    (2 + UTF-8 bytes; NULL 0). Timestamps as `YYYY-MM-DD HH:MM:SS.ffffff+00:00`."""
    total = 0
    for r in read_records(path):
        for c in COLUMNS:
            v = r[c]
            if v is None:
                continue
            if c == "updated_at":
                text = v.replace("T", " ").replace("Z", "+00:00")
            elif c == "active":
                text = "true" if v else "false"
            else:
                text = str(v)
            total += 2 + len(text.encode())
    return total


# ---------------------------------------------------------------------------------------------- the Python variants

MERGE_SET = ", ".join(f"{c} = S.{c}" for c in COLUMNS[1:])
MERGE_INSERT = f"INSERT ({', '.join(COLUMNS)}) VALUES ({', '.join('S.' + c for c in COLUMNS)})"


def per_record_sql(table):
    select = ", ".join(f"@{c} AS {c}" for c in COLUMNS)
    return (f"MERGE `{table_id(table)}` AS T\nUSING (SELECT {select}) AS S\nON T.id = S.id\n"
            f"WHEN MATCHED THEN UPDATE SET {MERGE_SET}\nWHEN NOT MATCHED THEN {MERGE_INSERT}")


def batched_sql(table):
    select = ", ".join(f"r.{c} AS {c}" for c in COLUMNS)
    return (f"MERGE `{table_id(table)}` AS T\nUSING (SELECT {select} FROM UNNEST(@rows) AS r) AS S\nON T.id = S.id\n"
            f"WHEN MATCHED THEN UPDATE SET {MERGE_SET}\nWHEN NOT MATCHED THEN {MERGE_INSERT}")


def scalars(bigquery, record):
    out = []
    for c in COLUMNS:
        v = record[c]
        if c == "updated_at" and v is not None:
            v = dt.datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
        out.append(bigquery.ScalarQueryParameter(c, TYPES[c], v))
    return out


def merge_per_record(c, table, records):
    from google.cloud import bigquery
    sql = per_record_sql(table)
    for record in records:
        c.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=scalars(bigquery, record))).result()


def merge_batched(c, table, records):
    from google.cloud import bigquery
    sql = batched_sql(table)

    def send(batch):
        rows = bigquery.ArrayQueryParameter("rows", "STRUCT", [bigquery.StructQueryParameter(None, *scalars(bigquery, r)) for r in batch])
        c.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=[rows])).result()

    batch = []
    for record in records:
        batch.append(record)
        if len(batch) == BATCH:
            send(batch)
            batch = []
    if batch:
        send(batch)


# ---------------------------------------------------------------------------------------------- the lean client

class Lean:
    """A batched MERGE client on Python's standard library only: http.client (urllib's own HTTP layer) with one
    keep-alive connection, json, no google-cloud-bigquery. The same REST calls as (b)'s client: jobs.insert with
    the query's ARRAY<STRUCT> parameter, then getQueryResults only while the job is not done; no sleeps."""

    def __init__(self, endpoint, project):
        import http.client
        import urllib.parse
        u = urllib.parse.urlsplit(endpoint)
        self.http_client = http.client
        self.secure = u.scheme == "https"
        self.host, self.port = u.hostname, u.port
        self.base = (u.path.rstrip("/") or "") + f"/bigquery/v2/projects/{urllib.parse.quote(project)}"
        self.project = project
        self.conn = None
        self.counts = {"jobs": 0, "http": 0}
        self.serial = 0
        self.run_id = os.urandom(6).hex()

    def connect(self):
        hc = self.http_client
        cls = hc.HTTPSConnection if self.secure else hc.HTTPConnection
        self.conn = cls(self.host, self.port, timeout=300)

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        for attempt in (0, 1):
            reused = self.conn is not None
            if not reused:
                self.connect()
            try:
                self.conn.request(method, self.base + path, body=data, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
            except (self.http_client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A kept-alive connection the server closed between two requests: once, on a new one. The job
                # id is the client's, so a repeated insert is the same job.
                self.conn.close()
                self.conn = None
                if reused and attempt == 0:
                    continue
                raise
            self.counts["http"] += 1
            if response.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            if response.status >= 300:
                raise SystemExit(f"lean client: {method} {path} → HTTP {response.status}: {payload[:2000].decode(errors='replace')}")
            return json.loads(payload) if payload else {}

    def query(self, sql, parameters):
        """Runs one query job to completion; raises if it failed."""
        self.serial += 1
        job_id = f"lean_{self.run_id}_{self.serial}"
        body = {"jobReference": {"projectId": self.project, "jobId": job_id},
                "configuration": {"query": {"query": sql, "useLegacySql": False, "parameterMode": "NAMED",
                                            "queryParameters": parameters}}}
        job = self.request("POST", "/jobs", body)
        self.counts["jobs"] += 1
        status = job.get("status", {})
        if status.get("state") != "DONE":
            location = job.get("jobReference", {}).get("location")
            path = f"/queries/{job_id}?maxResults=0&timeoutMs=10000" + (f"&location={location}" if location else "")
            # getQueryResults holds the request up to timeoutMs on the server, and answers an HTTP error for a
            # job that failed (as google-cloud-bigquery relies on).
            while not self.request("GET", path).get("jobComplete"):
                pass
        elif status.get("errorResult"):
            raise SystemExit(f"lean client: job {job_id} failed: {status['errorResult']}")


LEAN_STRUCT_TYPE = {"type": "ARRAY", "arrayType": {"type": "STRUCT", "structTypes": [
    {"name": c, "type": {"type": TYPES[c]}} for c in COLUMNS]}}


def lean_struct(record):
    """One ARRAY<STRUCT> element in the REST encoding, values as google-cloud-bigquery encodes them: INT64 as a
    decimal string, FLOAT64 as a JSON number, BOOL as "true"/"false", TIMESTAMP as `YYYY-MM-DD HH:MM:SS.ffffff+00:00`
    (parsed, so a malformed one fails here and not in the server), NULL as a null value."""
    ts = record["updated_at"]
    if ts is not None:
        ts = dt.datetime.fromisoformat(ts).astimezone(dt.timezone.utc).isoformat(" ", "microseconds")
    active = record["active"]
    score = record["score"]
    return {"structValues": {
        "id": {"value": str(record["id"])},
        "email": {"value": record["email"]},
        "name": {"value": record["name"]},
        "score": {"value": None if score is None else float(score)},
        "active": {"value": None if active is None else ("true" if active else "false")},
        "updated_at": {"value": ts},
    }}


def merge_lean(c, table, records):
    sql = batched_sql(table)

    def send(batch):
        c.query(sql, [{"name": "rows", "parameterType": LEAN_STRUCT_TYPE,
                       "parameterValue": {"arrayValues": [lean_struct(r) for r in batch]}}])

    batch = []
    for record in records:
        batch.append(record)
        if len(batch) == BATCH:
            send(batch)
            batch = []
    if batch:
        send(batch)


def cpu_seconds():
    import resource
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def variant_main(args):
    """A child process: one Python variant over the first `limit` records; reports its own loop figures."""
    if args.kind == "lean":
        c = Lean(os.environ["BIGQUERY_EMULATOR_HOST"], PROJECT)
        counts = c.counts
    else:
        c, counts = client()
    records = read_records(args.data, args.limit)
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    seen = []

    def counted(it):
        for r in it:
            seen.append(1)
            yield r

    if args.kind == "per-record":
        merge_per_record(c, args.table, counted(records))
    elif args.kind == "lean":
        merge_lean(c, args.table, counted(records))
    else:
        merge_batched(c, args.table, counted(records))
    report = {"records": len(seen), "loop_wall": time.perf_counter() - wall0, "loop_cpu": cpu_seconds() - cpu0,
              "jobs": counts["jobs"], "http": counts["http"]}
    with open(args.report, "w") as f:
        json.dump(report, f)


# ---------------------------------------------------------------------------------------------- measuring a child

# The child is started by this small launcher, not by the driver itself: a child's ru_maxrss counts the memory of
# the process image it replaced at exec (Linux keeps the old image's high-water mark), and a child spawned straight
# from the driver would report the driver's own 60-odd MiB (google-cloud-bigquery loaded) whenever it uses less.
# Spawned from the launcher, a child's peak RSS has the launcher's ~10 MiB as its floor.
LAUNCHER = r"""
import json, os, sys, time
t0 = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, u = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(sys.argv[1], "w") as f:
    json.dump({"wall": wall, "code": os.waitstatus_to_exitcode(status), "cpu": u.ru_utime + u.ru_stime,
               "rss_kib": u.ru_maxrss}, f)
"""


def measure(argv, env=None, stdout=None, stderr=None):
    """Runs argv as a child; returns wall seconds, user+sys CPU seconds and peak RSS (MiB) of that child (its own
    rusage from wait4, through LAUNCHER)."""
    import subprocess
    import tempfile
    with tempfile.NamedTemporaryFile("r", suffix=".rusage") as report:
        subprocess.run([sys.executable, "-I", "-S", "-c", LAUNCHER, report.name] + list(argv), env=env,
                       stdout=stdout, stderr=stderr, check=True)
        r = json.load(report)
    if r["code"] != 0:
        raise SystemExit(f"bench-compare: {' '.join(argv[:3])} … exited {r['code']}")
    return r["wall"], r["cpu"], r["rss_kib"] / 1024


# ---------------------------------------------------------------------------------------------- bqsync

POLICY = """version: 1
name: default
# The benchmark's own policy: the built-in session limits (500 queries, 5 GB, $0.03) would refuse 200-batch
# inline syncs outright. Every job still carries maximumBytesBilled (ignored by the emulator).
session: {max_queries: 100000, max_bytes_billed: 1000 TB, max_cost_usd: 100000}
query: {max_bytes_billed: 100 TB}
"""


def write_sync(work, name, table, data, strategy):
    with open(os.path.join(work, "syncs.d", f"{name}.yaml"), "w") as f:
        f.write(f"""version: 1
name: {name}
source: {{type: ndjson, path: ../data/{os.path.basename(data)}}}
target: {{table: {table_id(table)}}}
merge: {{keys: [id]}}
batch: {{size: {BATCH}, strategy: {strategy}}}
""")


PLAN_JOB = re.compile(r"^bqsync_[0-9a-f]+_\d+_\d+_\d+$")


def job_log(path):
    """Counts from bqsync's JSON job log (`--log-level info`): sync MERGEs (plan-step job ids), load jobs,
    state-dataset query jobs, dry runs."""
    counts = {"merge": 0, "load": 0, "state": 0, "dry": 0, "failed": 0}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            if entry.get("message") != "job":
                continue
            kind, outcome = entry.get("kind"), entry.get("outcome")
            if outcome == "failed":
                counts["failed"] += 1
            elif kind == "dry-run":
                counts["dry"] += 1
            elif kind == "load":
                counts["load"] += 1
            elif kind == "query" and outcome in ("done", "adopted"):
                if PLAN_JOB.match(entry.get("job_id", "")):
                    counts["merge"] += 1
                else:
                    counts["state"] += 1
    return counts


def run_bqsync(args, sync, tag):
    log = os.path.join(args.work, f"{tag}.log")
    out = os.path.join(args.work, f"{tag}.json")
    env = dict(os.environ, GOOGLE_CLOUD_PROJECT=PROJECT)
    argv = [args.bin, "-C", args.work, "--log-format", "json", "--log-level", "info", "apply", "--auto-approve", "--format", "json", sync]
    with open(out, "w") as o, open(log, "w") as e:
        wall, cpu, rss = measure(argv, env=env, stdout=o, stderr=e)
    return wall, cpu, rss, job_log(log)


# ---------------------------------------------------------------------------------------------- checks

def checksum(c, table, keys=None):
    """Row count and MD5 of every row's JSON in key order. With `keys`: of `table`'s rows with those keys
    plus the seed table's rows with every other key."""
    from google.cloud import bigquery
    source, params = f"`{table_id(table)}`", []
    if keys is not None:
        source = (f"(SELECT * FROM `{table_id(table)}` WHERE id IN UNNEST(@keys) UNION ALL "
                  f"SELECT * FROM `{table_id('base')}` WHERE id NOT IN UNNEST(@keys))")
        params = [bigquery.ArrayQueryParameter("keys", "INT64", keys)]
    sql = f"SELECT COUNT(*) AS n, TO_HEX(MD5(STRING_AGG(TO_JSON_STRING(t), '\\n' ORDER BY id))) AS h FROM {source} AS t"
    row = list(c.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params)).result())[0]
    return row["n"], row["h"]


# ---------------------------------------------------------------------------------------------- billing model

def round_mb(b):
    return int(math.ceil(b / MiB)) * MiB


def billed(processed, tables):
    """BigQuery on-demand: rounded up to the MB, at least 10 MB per table referenced (and per query)."""
    return max(round_mb(processed), 10 * MiB * max(1, tables))


def model(kind, size, target, key_share, updated_keys, data, jobs, stage_bytes):
    """Modeled bytes billed for a target of `size` bytes (see docs/benchmarks.md): a MERGE reads the
    target's key column (q = size × key_share) plus any staging table; one that updates adds t = the whole
    target; only-inserting MERGEs bill q. Query parameters are not table bytes; load jobs and dry runs are free.
    bqsync's state-dataset jobs touch tiny tables: 10 MB each."""
    q_target = size * key_share
    updating = q_target + size
    if kind == "per-record":
        total = 0
        for r in read_records(data):
            total += billed(updating if r["id"] in updated_keys else q_target, 1)
        return total
    if kind in ("batched", "lean"):
        total, batch = 0, []
        for r in read_records(data):
            batch.append(r["id"] in updated_keys)
            if len(batch) == BATCH:
                total += billed(updating if any(batch) else q_target, 1)
                batch = []
        if batch:
            total += billed(updating if any(batch) else q_target, 1)
        return total
    state = jobs["state"] * billed(0, 1)
    if kind == "inline":
        # Every 500-row batch of a half-update mix holds updates (bqsync's batches follow its dedup order).
        return jobs["merge"] * billed(updating, 1) + state
    return jobs["merge"] * billed(updating + stage_bytes, 2) + state


# ---------------------------------------------------------------------------------------------- the run

def fmt_bytes(b):
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6)):
        if b >= scale:
            return f"{b / scale:,.1f} {unit}"
    return f"{b:,} B"


def run_main(args):
    global BASE_ROWS
    BASE_ROWS = args.table_rows
    os.makedirs(os.path.join(args.work, "syncs.d"), exist_ok=True)
    os.makedirs(os.path.join(args.work, "policies"), exist_ok=True)
    os.makedirs(os.path.join(args.work, "data"), exist_ok=True)
    with open(os.path.join(args.work, "policies", "default.yaml"), "w") as f:
        f.write(POLICY)
    c, _ = client()
    c.create_dataset(DATASET, exists_ok=True)
    t0 = time.perf_counter()
    c.query(seed_sql("base")).result()
    print(f"seeded {DATASET}.base with {BASE_ROWS:,} rows in {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
    row_bytes = seed_row_bytes()
    key_share = 8 / row_bytes
    results = {"table_rows": BASE_ROWS, "row_bytes": row_bytes, "key_share": key_share, "sample": args.sample, "sizes": []}
    py = sys.executable
    me = os.path.abspath(__file__)
    for n in args.sizes:
        data = os.path.join(args.work, "data", f"sync{n}.ndjson")
        updated = generate(data, n)
        stage = staging_bytes(data)
        tables = {k: f"n{n}_{k.replace('-', '_')}" for k in LABEL}
        for table in tables.values():  # a fresh copy of the same seeded rows for each variant
            c.query(f"CREATE OR REPLACE TABLE `{table_id(table)}` AS SELECT * FROM `{table_id('base')}`").result()
        write_sync(args.work, f"n{n}_inline", tables["inline"], data, "inline")
        write_sync(args.work, f"n{n}_staged", tables["staged"], data, "staged")
        rows = []
        for kind in LABEL:
            print(f"{n:,} rows: {LABEL[kind]} …", file=sys.stderr, flush=True)
            entry = {"kind": kind, "label": LABEL[kind], "rows": n}
            if kind in ("per-record", "batched", "lean"):
                limit = min(n, args.sample) if kind == "per-record" else n
                report = os.path.join(args.work, f"{kind}-{n}.report")
                wall, cpu, rss = measure([py, me, "variant", kind, "--table", tables[kind], "--data", data,
                                          "--limit", str(limit), "--report", report])
                with open(report) as f:
                    r = json.load(f)
                scale = n / r["records"]
                entry.update(measured_records=r["records"], extrapolated=scale != 1,
                             wall=(wall - r["loop_wall"]) + r["loop_wall"] * scale,
                             cpu=(cpu - r["loop_cpu"]) + r["loop_cpu"] * scale, rss=rss,
                             sample_wall=wall, sample_cpu=cpu, per_job_ms=1000 * r["loop_wall"] / max(1, r["jobs"]),
                             jobs={"merge": round(r["jobs"] * scale), "load": 0, "state": 0, "dry": 0},
                             http=round(r["http"] * scale))
                entry["sample_keys"] = [rec["id"] for rec in read_records(data, r["records"])] if scale != 1 else None
            else:
                wall, cpu, rss, jobs = run_bqsync(args, f"n{n}_{kind}", f"{kind}-{n}")
                entry.update(measured_records=n, extrapolated=False, wall=wall, cpu=cpu, rss=rss, jobs=jobs, http=None)
            entry["billed"] = {label: model(kind, size, tables[kind], key_share, updated, data, entry["jobs"], stage)
                               for label, size in TARGETS.items()}
            print(f"  {entry['wall']:.1f}s wall, {entry['cpu']:.2f}s CPU, {entry['rss']:.0f} MiB, jobs {entry['jobs']}",
                  file=sys.stderr, flush=True)
            rows.append(entry)
        expected = BASE_ROWS + (n - len(updated))
        for e in rows:
            e["count"], e["checksum"] = checksum(c, tables[e["kind"]])
            if e.get("sample_keys"):
                # Only the sample was merged one record at a time: its table must equal the batched variant's
                # final rows for the sample's keys plus the untouched seed rows for every other key.
                e["expected_count"], e["expected_checksum"] = checksum(c, tables["batched"], keys=e.pop("sample_keys"))
                e["matches"] = (e["count"], e["checksum"]) == (e["expected_count"], e["expected_checksum"])
            else:
                e.pop("sample_keys", None)
                e["expected_count"] = expected
        full = [e for e in rows if "matches" not in e]
        sums = {(e["count"], e["checksum"]) for e in full}
        identical = len(sums) == 1 and all(e["count"] == expected for e in full) and all(e.get("matches", True) for e in rows)
        results["sizes"].append({"rows": n, "updates": len(updated), "inserts": n - len(updated), "staging_bytes": stage,
                                 "variants": rows, "identical": identical})
        print(f"  final tables: {[(e['kind'], e['count'], e['checksum'][:8]) for e in rows]} identical={identical}",
              file=sys.stderr, flush=True)
        for table in tables.values():
            c.delete_table(table_id(table), not_found_ok=True)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    print(markdown(results))
    if not all(s["identical"] for s in results["sizes"]):
        raise SystemExit("bench-compare: the final tables differ between variants")


def markdown(results):
    lines = ["| rows synced | variant | wall s | jobs sent | client CPU s | client peak RSS MiB | billed, 1 GB target | "
             "billed, 100 GB target | final table |",
             "|---:|---|---:|---|---:|---:|---:|---:|---|"]
    for size in results["sizes"]:
        for e in size["variants"]:
            j = e["jobs"]
            if e["kind"] in ("per-record", "batched", "lean"):
                jobs = f"{j['merge']:,} MERGE"
            else:
                parts = [f"{j['merge']:,} MERGE"]
                if j["load"]:
                    parts.append(f"{j['load']:,} load")
                parts.append(f"{j['state']} state")
                jobs = " + ".join(parts) + f" (+ {j['dry']:,} dry runs)"
            star = " *" if e["extrapolated"] else ""
            final = f"{e['count']:,} rows, md5 {e['checksum'][:8]}"
            if "matches" in e:
                final = f"sample rows match (b)'s: {'yes' if e['matches'] else 'NO'}"
            cost = {k: f"{fmt_bytes(v)} (${v / TiB * USD_PER_TIB:,.2f})" for k, v in e["billed"].items()}
            lines.append(f"| {size['rows']:,} | {e['label']}{star} | {e['wall']:,.1f} | {jobs} | {e['cpu']:,.2f} | {e['rss']:.0f} | "
                         f"{cost['1 GB']} | {cost['100 GB']} | {final} |")
    notes = []
    for size in results["sizes"]:
        v = {e["kind"]: e for e in size["variants"]}
        a, b, b2 = v["per-record"], v["batched"], v["lean"]
        if a["extrapolated"]:
            notes.append(f"* {size['rows']:,} rows, (a): {a['measured_records']:,} records measured ({a['sample_wall']:.1f} s wall, "
                         f"{a['sample_cpu']:.2f} s CPU, {a['per_job_ms']:.0f} ms a job), extrapolated linearly; "
                         f"its table was checked against the seed rows plus (b)'s final rows for the sampled keys.")
        for k in ("inline", "staged"):
            e = v[k]
            notes.append(f"{size['rows']:,} rows, bqsync {k}: {a['wall'] / e['wall']:,.1f}× faster than (a); "
                         f"{b['wall'] / e['wall']:.2f}× (b)'s speed, {e['cpu'] / b['cpu']:.2f}× (b)'s CPU; "
                         f"{b2['wall'] / e['wall']:.2f}× (b2)'s speed, {e['cpu'] / b2['cpu']:.2f}× (b2)'s CPU "
                         f"(issue 17's target: at most 0.5×, {'met' if e['cpu'] <= 0.5 * b2['cpu'] else 'NOT met'}).")
        notes.append(f"{size['rows']:,} rows, HTTP requests of the Python clients: (a) {a['http']:,}, (b) {b['http']:,} "
                     f"(jobs.insert, then getQueryResults until done); (b2) {b2['http']:,} (jobs.insert, polled only "
                     f"while not done, over one keep-alive connection).")
        notes.append(f"{size['rows']:,} rows into a {results.get('table_rows', BASE_ROWS):,}-row table: final tables "
                     f"identical across the {len(size['variants'])}: {'yes' if size['identical'] else 'NO'}")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes)


def json_text_sql(table):
    """The MERGE bqsync's inline strategy sends: one STRING parameter of positional JSON rows."""
    casts = {"id": "CAST({} AS INT64)", "score": "CAST({} AS FLOAT64)", "active": "CAST({} AS BOOL)",
             "updated_at": "CAST({} AS TIMESTAMP)"}
    select = ", ".join(casts.get(c, "{}").format(f"JSON_VALUE(r, '$[{i}]')") + f" AS {c}" for i, c in enumerate(COLUMNS))
    return (f"MERGE `{table_id(table)}` AS T\nUSING (SELECT {select} FROM UNNEST(JSON_QUERY_ARRAY(@rows)) AS r) AS S\n"
            f"ON T.id = S.id\nWHEN MATCHED THEN UPDATE SET {MERGE_SET}\nWHEN NOT MATCHED THEN {MERGE_INSERT}")


def json_text(records):
    def text(c, v):
        if v is None:
            return None
        if c == "active":
            return "true" if v else "false"
        if c == "updated_at":
            return v.replace("T", " ").replace("Z", "+00")
        return str(v)
    return json.dumps([[text(c, r[c]) for c in COLUMNS] for r in records])


def param_cost_main(args):
    """What the emulator charges per parameter row: the same MERGE as (b) and a bare SELECT COUNT(*) over the
    ARRAY<STRUCT> parameter, then both again with the rows as one JSON STRING parameter (bqsync's inline
    shape), at 1, 50, 500 and 2,000 rows."""
    from google.cloud import bigquery
    c, _ = client()
    c.create_dataset(DATASET, exists_ok=True)
    c.query(seed_sql("param_cost")).result()
    path = os.path.join(args.work, "param-cost.ndjson")
    os.makedirs(args.work, exist_ok=True)
    generate(path, 4 * 2551)
    records = list(read_records(path))
    merge, count = batched_sql("param_cost"), "SELECT COUNT(*) FROM UNNEST(@rows) AS r"
    json_merge, json_count = json_text_sql("param_cost"), "SELECT COUNT(*) FROM UNNEST(JSON_QUERY_ARRAY(@rows)) AS r"
    print("| parameter rows | ARRAY<STRUCT> MERGE ms | ms per row | ARRAY<STRUCT> SELECT COUNT(*) ms | ms per row "
          "| JSON STRING MERGE ms | ms per row | JSON STRING SELECT COUNT(*) ms | ms per row |\n"
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    offset = 0
    for n in (1, 50, 500, 2000):
        cells = []
        for sql, shape in ((merge, "struct"), (count, "struct"), (json_merge, "json"), (json_count, "json")):
            batch, offset = records[offset:offset + n], offset + n
            if shape == "struct":
                rows = bigquery.ArrayQueryParameter("rows", "STRUCT", [bigquery.StructQueryParameter(None, *scalars(bigquery, r)) for r in batch])
            else:
                rows = bigquery.ScalarQueryParameter("rows", "STRING", json_text(batch))
            t0 = time.perf_counter()
            c.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=[rows])).result()
            ms = 1000 * (time.perf_counter() - t0)
            cells += [f"{ms:,.0f}", f"{ms / n:.2f}"]
        print(f"| {n:,} | " + " | ".join(cells) + " |", flush=True)
    c.delete_table(table_id("param_cost"), not_found_ok=True)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--bin", required=True)
    r.add_argument("--work", required=True)
    r.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    r.add_argument("--sample", type=int, default=1000)
    r.add_argument("--table-rows", type=int, default=BASE_ROWS)
    r.add_argument("--json", required=True)
    v = sub.add_parser("variant")
    v.add_argument("kind", choices=["per-record", "batched", "lean"])
    v.add_argument("--table", required=True)
    v.add_argument("--data", required=True)
    v.add_argument("--limit", type=int)
    v.add_argument("--report", required=True)
    pc = sub.add_parser("param-cost")
    pc.add_argument("--work", required=True)
    args = p.parse_args()
    if args.cmd == "run":
        run_main(args)
    elif args.cmd == "param-cost":
        param_cost_main(args)
    else:
        variant_main(args)


if __name__ == "__main__":
    main()
