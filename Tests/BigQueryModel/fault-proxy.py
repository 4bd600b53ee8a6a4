#!/usr/bin/env python3
"""A fault-injecting HTTP proxy on loopback between bqsync and the BigQuery emulator, for the end-to-end
reliability tests (Tests/bqsyncTests/Fault*.swift, scripts/soak-faults, scripts/soak-crash).

    fault-proxy.py --upstream http://127.0.0.1:PORT [--seed N] [--rate 0.2] [--kinds 429,500,...] [--hold 3]
                   [--latency SECONDS [--latency-max SECONDS]]
    fault-proxy.py --upstream http://127.0.0.1:PORT --transparent [--record FILE]

With --latency every request (but the control requests) is held that long before it is forwarded: a distant
server's round trip, for benchmarks (scripts/bench-plan) and the contention tests. With --latency-max too, each
request is held a time drawn uniformly between the two (from its own generator, seeded by --seed, so faults
stay where they were). Requests are held concurrently. With
--answer-dry-runs BYTES the proxy answers dry-run job inserts itself (after the latency), reporting BYTES
processed, PRECISE, as BigQuery does, instead of queueing them for the emulator, which serves one request at a
time: a model of a server that answers dry runs in parallel. The SQL is then not checked by anyone.

With --transparent the proxy only forwards: every request goes to the upstream unchanged and its answer comes
back unchanged (hop-by-hop headers aside), with none of what follows: no faults, latency, job-id or billing
semantics, contract rules (the fault options are ignored; the control requests still answer). With --record
FILE too (scripts/test, in front of the emulator for the whole suite), each job insert from bqsync (User-Agent
bqsync/...) whose configuration has a query, dry run or not, is written to FILE as one JSON line in the input
contract of scripts/sql-analyze.py: the SQL, the project of the URL, the declared parameters' names and types,
and the schema of every table the SQL names as `project.dataset.table` or `dataset.table`, read from the
upstream with tables.get just before the insert is forwarded (tables that do not exist are left out). A line
identical to one already written is not written again, nor a statement the upstream refused (a test that sends
bad SQL on purpose; the proxy says so on stderr). FILE is truncated first.

Prints its port on the first line of stdout, then serves until its parent exits (or it is killed).

Faults, chosen per request from one seeded generator in arrival order (so a seed and a request sequence give the
same faults every time), at `--rate`:

  before forwarding (the request never reaches the emulator)
    429        HTTP 429, reason rateLimitExceeded
    500        HTTP 500, reason backendError
    503        HTTP 503, reason backendError
    403        HTTP 403, reason rateLimitExceeded
    reset      the connection is reset without an answer
    timeout    the request is held for --hold seconds (longer than the client's timeout), then dropped
    jobfail    (job inserts only) the job is "created" but fails with reason backendError; jobs.get reports it
    conflict   (job inserts only, only when armed) the job is "created" but fails as a DML statement that lost to a
               concurrent update: reason invalidQuery, "Could not serialize access to table …"
    invalid    HTTP 400, reason invalidQuery (not retryable; only when armed, never in the random mix)
  forwarding
    slow       held 0.1-0.6 s, then forwarded and answered normally
  after forwarding (the emulator did the work; the answer is lost)
    500-after, 503-after    the emulator's answer is replaced by a 500 / 503 backendError
    reset-after             the connection is reset instead of answering
    timeout-after           the answer is held for --hold seconds, then the connection closed
    late                    held for --hold seconds first, then forwarded after the client gave up

Where the emulator differs from BigQuery in what makes jobs idempotent, the proxy behaves as BigQuery does,
so that what is tested is bqsync's behaviour against BigQuery's contract (docs/bigquery.md):
  - a job insert whose job id was already accepted is answered 409 Already Exists (the emulator re-runs it);
    one arriving while the first is still being forwarded waits for it, then gets the 409;
  - a multipart upload keeps the client's job id (the emulator names the job itself): the proxy maps the two
    ids and rewrites jobs.get and the answers;
  - a finished query job reports bytes billed (the emulator reports 0): a deterministic figure from its job
    id, 10-59 MiB, so the test can check the run summary against the sum over its jobs;
  - the rules of Tests/BigQueryModel/bqcontract.py: table etags and If-Match preconditions (412), expirationTime, dataset
    locations (a job spanning two refused; a regional job looked up without its location not found), and
    concurrent mutating DML on one table failing with "Could not serialize access" (insert-only MERGE never).

It counts, per job id, how many inserts reached the emulator and were accepted (`executions`), and answers
control requests under /__proxy/:
  GET  /__proxy/stats      counts, faults, the request log (JSON)
  POST /__proxy/config     {"rate": r, "kinds": [...], "seed": n}: change the fault settings
  POST /__proxy/arm        {"method": "POST", "path": regex, "body": regex, "nth": 1}: hold the nth request
                           matching (regexes searched in the path and the raw body); answers {"id": n}.
                           With "fault": kind, that request gets the fault instead of being held.
  GET  /__proxy/held?id=n  {"held": bool, "request": {...}} for that arm (default: the latest)
  POST /__proxy/release    {"id": n, "forward": bool}: forward the held request (the answer goes to the client
                           if it is still there) or drop it; answers once that is done
"""
import argparse, hashlib, http.client, io, json, os, random, re, socket, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit

from bqcontract import (SELF_DESCRIBING, DMLModel, InsertIds, LocationModel, SelfDescribingFiles, TableModel, TableSizes,
                        check_request_limits, error_body, missing_table, over_cap)

BEFORE = {"429", "500", "503", "403", "reset", "timeout", "jobfail", "invalid", "conflict"}
AFTER = {"500-after", "503-after", "reset-after", "timeout-after", "late"}
ALL_KINDS = sorted(BEFORE | AFTER | {"slow"})
ERRORS = {
    "429": (429, "rateLimitExceeded", "RESOURCE_EXHAUSTED", "Exceeded rate limits: too many api requests (injected)"),
    "500": (500, "backendError", "INTERNAL", "Backend error (injected)"),
    "503": (503, "backendError", "UNAVAILABLE", "The service is currently unavailable (injected)"),
    "403": (403, "rateLimitExceeded", "PERMISSION_DENIED", "Exceeded rate limits: too many table update operations (injected)"),
    "invalid": (400, "invalidQuery", "INVALID_ARGUMENT", "Invalid query (injected; not retryable)"),
    "500-after": (500, "backendError", "INTERNAL", "Backend error (injected after the request was served)"),
    "503-after": (503, "backendError", "UNAVAILABLE", "The service is currently unavailable (injected after the request was served)"),
}
HOP = {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "expect", "accept-encoding", "te",
       "upgrade", "proxy-connection", "proxy-authorization"}
JOB_ID = re.compile(rb'"jobId"\s*:\s*"([A-Za-z0-9_-]+)"')
DRY_RUN = re.compile(rb'"dryRun"\s*:\s*true')
STATEMENT = re.compile(rb'"query"\s*:\s*"\s*([A-Za-z]+)')
JOB_PATH = re.compile(r"^(/bigquery/v2/projects/[^/]+/(?:jobs|queries)/)([A-Za-z0-9_-]+)(.*)$")
TABLE_NAME = re.compile(r"`([^`]+)`")
STEP_ID = re.compile(r"^bqsync_[0-9a-f]{16}_\d+_\d+_\d+$")
BQSYNC_AGENT = "bqsync/"  # how bqsync's User-Agent starts (Sources/HTTP/CurlTransport.swift)


def billed_for(job_id):
    """The bytes billed of a finished query job the proxy did not see inserted (so could not size): 10-59 MiB,
    from its id."""
    digest = int(hashlib.sha256(job_id.encode()).hexdigest()[:8], 16)
    return (10 + digest % 50) << 20


class Proxy:
    def __init__(self, upstream, seed, rate, kinds, hold):
        parts = urlsplit(upstream if "://" in upstream else "http://" + upstream)
        self.upstream = (parts.hostname, parts.port or 80)
        self.hold = hold
        self.latency = self.latency_max = 0.0
        self.latency_rng = random.Random(seed)
        self.dry_run_bytes = None
        self.transparent = False  # --transparent: forward only
        self.recorder = None      # --record: a Recorder
        self.lock = threading.Condition()
        self.configure(seed, rate, kinds)
        self.seq = 0
        self.executions = {}      # job id -> inserts accepted by the emulator
        self.conflicts = {}       # job id -> duplicate inserts answered 409
        self.billed = {}          # job id -> bytes billed reported
        self.bills = {}           # job id -> (bytes processed, bytes billed) from its tables' sizes at insert
        self.sizes = TableSizes()
        self.inflight = set()     # job ids being forwarded
        self.failed = {}          # job id -> the failed job resource (jobfail)
        self.modeled = {}         # job id -> the resource of a job the model ran itself (self-describing loads)
        self.files = SelfDescribingFiles()
        self.idmap = {}           # client job id -> emulator job id (uploads)
        self.reverse = {}
        self.faults = []
        self.log = []
        self.arms = {}            # id -> {"method", "path", "body", "nth", "seen"}: requests to hold
        self.holds = {}           # id -> {"request": {...}, "event": Event, "forward": bool, "done": Event}
        self.next_arm = 0
        self.locations = LocationModel(self.get)
        self.tables = TableModel(self.locations, self.sizes)
        self.dml = DMLModel()
        self.insert_ids = InsertIds()

    def configure(self, seed, rate, kinds):
        self.rng = random.Random(seed)
        self.rate = rate
        self.kinds = [k for k in kinds if k in ALL_KINDS]

    def get(self, path):
        """A GET straight to the emulator, for the contract model's own look-ups: (status, body, headers)."""
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read(), response.getheaders()
        except OSError as error:
            return 502, str(error).encode(), []
        finally:
            connection.close()

    def next_latency(self):
        with self.lock:
            return self.latency + (self.latency_max - self.latency) * self.latency_rng.random() \
                if self.latency_max > self.latency else self.latency

    def next_fault(self, is_job_insert):
        """The fault for the next request, from the seeded generator (two draws per request, always)."""
        with self.lock:
            self.seq += 1
            seq = self.seq
            roll, pick, extra = self.rng.random(), self.rng.random(), self.rng.random()
            kinds = [k for k in self.kinds if k != "conflict" and (is_job_insert or k != "jobfail")]
            if not kinds or roll >= self.rate:
                return seq, None, extra
            return seq, kinds[int(pick * len(kinds)) % len(kinds)], extra

    def stats(self):
        with self.lock:
            return {"requests": self.seq, "executions": dict(self.executions), "conflicts": dict(self.conflicts),
                    "billed": dict(self.billed), "failed": sorted(self.failed), "faults": list(self.faults),
                    "log": list(self.log), **self.tables.stats(), **self.dml.stats(), **self.locations.stats()}


class Recorder:
    """--record: the distinct statements of bqsync's query jobs, as JSON lines for scripts/sql-analyze.py."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.written = set()  # what decides each line's verdict (all but its origin), so each is written once
        self.file = open(path, "w", encoding="utf-8")

    def statement(self, method, path, headers, body, forward):
        """The record of a job insert from bqsync, if it is a query job, with the schemas of the tables it names as
        they are now (None for any other request); `forward(method, path, body)` -> (status, data, headers) asks
        the upstream."""
        found = re.match(r"^/bigquery/v2/projects/([^/]+)/jobs$", path.split("?")[0])
        if method != "POST" or not found or not headers.get("User-Agent", "").startswith(BQSYNC_AGENT):
            return None
        try:
            job = json.loads(body)
            configuration = job["configuration"]
            sql = configuration["query"]["query"]
        except (ValueError, KeyError, TypeError):
            return None  # not a query job
        project = unquote(found.group(1))
        tables = {}
        for name in dict.fromkeys(TABLE_NAME.findall(sql)):  # each once: the schemas of this statement only
            parts = name.split(".")
            if len(parts) not in (2, 3):
                continue  # a column or an alias
            full = ".".join([project] + parts if len(parts) == 2 else parts)
            status, data, _ = forward("GET", "/bigquery/v2/projects/{}/datasets/{}/tables/{}".format(
                *(quote(part, safe="") for part in full.split("."))), b"")
            try:
                if status == 200:
                    tables[full] = (json.loads(data).get("schema") or {}).get("fields", [])
            except (ValueError, AttributeError):
                pass  # not a table resource: left out, as a missing table is
        return {"sql": sql, "project": project, "tables": tables,
                "parameters": [{"name": p.get("name", ""), "type": p.get("parameterType")}
                               for p in configuration["query"].get("queryParameters") or []],
                "origin": ("dry run " if configuration.get("dryRun") else "job ") + str((job.get("jobReference") or {}).get("jobId"))}

    def write(self, statement, status, data):
        """Appends STATEMENT unless an identical one (but for its origin) was written, or the upstream refused it
        (status and answer): a test that sends SQL the emulator refuses expects the refusal (bad SQL on purpose)."""
        try:
            refused = not 200 <= status < 300 or bool((json.loads(data).get("status") or {}).get("errorResult"))
        except (ValueError, AttributeError):
            refused = True
        if refused:
            print(f"fault-proxy: not recorded, the upstream refused it ({status}): {statement['sql'][:200]!r}",
                  file=sys.stderr, flush=True)
            return
        key = json.dumps({**statement, "origin": None}, sort_keys=True)
        with self.lock:
            if key not in self.written:
                self.written.add(key)
                self.file.write(json.dumps(statement) + "\n")
                self.file.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: Proxy = None

    def log_message(self, *args):
        pass

    # ---- plumbing

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def answer(self, status, body, headers=()):
        try:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def answer_json(self, status, obj):
        self.answer(status, json.dumps(obj).encode(), [("Content-Type", "application/json")])

    def reset(self):
        # SO_LINGER 0 makes close() send a RST.
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        self.drop()

    def drop(self):
        self.close_connection = True
        for closer in (self.rfile.close, self.wfile.close, self.connection.close):
            try:
                closer()
            except OSError:
                pass
        # The server still flushes and reads after the handler: give it harmless stand-ins.
        self.rfile, self.wfile = io.BytesIO(), io.BytesIO()

    def forward(self, method, path, body, withheld=frozenset()):
        """Sends the request to the upstream with the client's headers but the hop-by-hop ones and `withheld`
        (lowercase names); returns (status, body, headers)."""
        host, port = self.proxy.upstream
        connection = http.client.HTTPConnection(host, port, timeout=600)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP | withheld}
            if body or method in ("POST", "PUT", "PATCH"):
                headers["Content-Length"] = str(len(body))
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP | {"date", "server"}]
            return response.status, data, kept
        finally:
            connection.close()

    # ---- control

    def control(self, method, path, body):
        proxy = self.proxy
        request = json.loads(body or b"{}")
        if path == "/__proxy/stats":
            return self.answer_json(200, proxy.stats())
        if path == "/__proxy/config" and method == "POST":
            with proxy.lock:
                proxy.configure(request.get("seed", 0), float(request.get("rate", 0)), request.get("kinds", []))
            return self.answer_json(200, {"ok": True})
        if path == "/__proxy/arm" and method == "POST":
            with proxy.lock:
                proxy.next_arm += 1
                arm_id = proxy.next_arm
                proxy.arms[arm_id] = {"method": request.get("method"), "path": re.compile(request.get("path", "")),
                                      "body": re.compile(request.get("body", "").encode(), re.S),
                                      "nth": int(request.get("nth", 1)), "seen": 0, "fault": request.get("fault")}
            return self.answer_json(200, {"ok": True, "id": arm_id})
        if path == "/__proxy/sizes" and method == "POST":
            proxy.sizes.declare(request["table"], request["bytes"])
            return self.answer_json(200, {"ok": True})
        if path == "/__proxy/files" and method == "POST":
            proxy.files.register(request["uri"], request["schema"], request.get("rows", []))
            return self.answer_json(200, {"ok": True})
        arm_id = request.get("id")
        if path == "/__proxy/held":
            query = dict(part.split("=", 1) for part in self.path.partition("?")[2].split("&") if "=" in part)
            with proxy.lock:
                arm_id = int(query.get("id", proxy.next_arm))
                held = proxy.holds.get(arm_id)
                return self.answer_json(200, {"held": held is not None and not held["event"].is_set(),
                                              "request": held["request"] if held else None})
        if path == "/__proxy/release" and method == "POST":
            with proxy.lock:
                arm_id = int(arm_id or proxy.next_arm)
                held = proxy.holds.get(arm_id)
                proxy.arms.pop(arm_id, None)
            if held is None:
                return self.answer_json(409, {"error": "nothing is held"})
            held["forward"] = bool(request.get("forward", True))
            held["event"].set()
            held["done"].wait(600)
            return self.answer_json(200, {"ok": True, "outcome": held.get("outcome")})
        return self.answer_json(404, {"error": "unknown control path"})

    def should_hold(self, method, path, body):
        proxy = self.proxy
        with proxy.lock:
            for arm_id, arm in proxy.arms.items():
                if arm_id in proxy.holds:
                    continue
                if arm["method"] and arm["method"] != method:
                    continue
                if not arm["path"].search(path) or not arm["body"].search(body):
                    continue
                arm["seen"] += 1
                if arm["seen"] != arm["nth"]:
                    continue
                if arm["fault"]:
                    proxy.arms.pop(arm_id)
                    return arm["fault"]
                held = {"request": {"method": method, "path": path}, "event": threading.Event(), "done": threading.Event(),
                        "forward": True}
                proxy.holds[arm_id] = held
                return held
            return None

    # ---- proxying

    def handle_any(self):
        proxy = self.proxy
        method = self.command
        path = self.path
        body = self.read_body()
        if path.startswith("/__proxy/"):
            return self.control(method, path.split("?")[0], body)
        if proxy.transparent:
            recorded = proxy.recorder and proxy.recorder.statement(method, path, self.headers, body, self.forward_safely)
            # bqemulator's own race between tabledata.list and the statements it runs is mended where it starts,
            # in scripts/bqemulator-serial.py, so the calls pass here as they come.
            status, data, headers = self.forward_safely(method, path, body)
            if recorded:
                proxy.recorder.write(recorded, status, data)
            return self.answer(status, data, headers)

        is_insert = method == "POST" and (path.split("?")[0].endswith("/jobs"))
        is_upload = is_insert and path.startswith("/upload/")
        job_id = None
        dry = False
        statement = None
        if is_insert:
            found = JOB_ID.search(body)
            job_id = found.group(1).decode() if found else None
            dry = DRY_RUN.search(body) is not None
            found = STATEMENT.search(body)
            statement = found.group(1).decode().upper() if found else ("LOAD" if is_upload else None)
        job_insert = is_insert and not dry and job_id is not None

        entry = {"method": method, "path": path.split("?")[0], "job": job_id, "dry": dry, "statement": statement,
                 "tables": sorted(set(TABLE_NAME.findall(self.query_text(body) or ""))) if is_insert else [],
                 "step": bool(job_id and STEP_ID.match(job_id)), "start": time.time()}
        held = self.should_hold(method, path, body)
        armed_fault = None
        if isinstance(held, str):
            armed_fault, held = held, None
        if held is not None:
            entry["held"] = True
            held["request"].update({"job": job_id, "statement": statement, "dry": dry})
            held["event"].wait(600)
            if not held["forward"]:
                held["outcome"] = "dropped"
                self.finish_entry(entry, "held-dropped")
                self.drop()
                held["done"].set()
                return
            fault = None
            seq = None
            extra = 0.0
        else:
            seq, fault, extra = proxy.next_fault(job_insert)
        if armed_fault:
            fault = armed_fault
        entry["seq"] = seq
        if fault:
            with proxy.lock:
                proxy.faults.append({"seq": seq, "kind": fault, "method": method, "path": entry["path"], "job": job_id,
                                     "statement": statement})
        entry["fault"] = fault

        # Before forwarding.
        if fault in ERRORS and fault in BEFORE:
            code, reason, status, message = ERRORS[fault]
            self.finish_entry(entry, code)
            return self.answer(code, error_body(code, reason, status, message), [("Content-Type", "application/json")])
        if fault == "reset":
            self.finish_entry(entry, "reset")
            return self.reset()
        if fault == "timeout":
            time.sleep(proxy.hold)
            self.finish_entry(entry, "timeout")
            return self.drop()
        if fault == "jobfail" and job_insert:
            return self.job_failure(entry, job_id, body, "backendError", "Backend error: the job failed (injected)")
        if fault == "conflict" and job_insert:
            table = DMLModel.mutated_table(self.query_text(body), None) or "unknown.table"
            return self.job_failure(entry, job_id, body, "invalidQuery", DMLModel.conflict_message(table) + " (injected)")
        if proxy.latency:
            time.sleep(proxy.next_latency())
        if dry and proxy.dry_run_bytes is not None:
            self.finish_entry(entry, 200)
            return self.answer_json(200, self.dry_run_answer(body, statement))
        if fault == "slow":
            time.sleep(0.1 + 0.5 * extra)
        if fault == "late":
            time.sleep(proxy.hold)

        if is_insert and not is_upload:
            project = re.search(r"/projects/([^/]+)/jobs", path)
            refused = check_request_limits(body, self.query_text(body)) \
                or proxy.locations.check_job(project.group(1) if project else "", body, entry["tables"]) \
                or proxy.tables.check_partition_filter(self.query_text(body), entry["tables"]) \
                or (missing_table(entry["tables"], proxy.get, self.job_location(body), self.query_text(body)) if dry else None)
            if refused is not None:
                self.finish_entry(entry, refused[0])
                return self.answer(*refused)
        sizes = None
        if is_insert and not is_upload and self.query_text(body) is not None:
            sizes = proxy.sizes.of_tables(entry["tables"], proxy.get)
        if job_insert and sizes is not None:
            bill = TableSizes.billed(sizes.values())
            with proxy.lock:
                proxy.bills.setdefault(job_id, (sum(sizes.values()), bill))
            exceeded = over_cap(body, bill)
            if exceeded is not None:
                return self.job_failure(entry, job_id, body, "bytesBilledLimitExceeded", exceeded)
        if job_insert and not is_upload:
            load = self.load_configuration(body)
            if load is not None and str(load.get("sourceFormat", "")).upper() in SELF_DESCRIBING:
                return self.self_describing_load(entry, job_id, body, load)
        mutated = None
        if job_insert:
            project = re.search(r"/projects/([^/]+)/jobs", path)
            mutated = DMLModel.mutated_table(self.query_text(body), project.group(1) if project else None)
            if mutated is not None and not proxy.dml.begin(job_id, mutated):
                return self.job_failure(entry, job_id, body, "invalidQuery", DMLModel.conflict_message(mutated))
        inserted = []
        if method == "POST" and path.split("?")[0].endswith("/insertAll"):
            body, inserted = proxy.insert_ids.fresh(path.split("?")[0], body)
            if body is None:
                self.finish_entry(entry, 200)
                return self.answer_json(200, {"kind": "bigquery#tableDataInsertAllResponse"})
        try:
            status, data, headers = self.proxied(method, path, body, job_id if job_insert else None, is_upload)
        finally:
            if mutated is not None:
                proxy.dml.end(job_id, mutated)
        if inserted and 200 <= status < 300:
            proxy.insert_ids.remember(path.split("?")[0], inserted)
        if dry and sizes is not None and 200 <= status < 300:
            data = self.sized_dry_run(data, sizes)
        if held is not None:
            held["outcome"] = "forwarded"
        self.finish_entry(entry, status)
        if 200 <= status < 300 and not dry:
            project = re.match(r"^/bigquery/v2/projects/([^/]+)/", path)
            proxy.tables.written(method, path, self.query_text(body) or self.queries_text(body, path),
                                 project.group(1) if project else None)
        created = re.match(r"^/bigquery/v2/projects/([^/]+)/datasets$", entry["path"])
        if method == "POST" and created and status == 200:
            proxy.locations.created(created.group(1), body)

        # After forwarding.
        if fault in ("500-after", "503-after"):
            code, reason, status_text, message = ERRORS[fault]
            self.answer(code, error_body(code, reason, status_text, message), [("Content-Type", "application/json")])
        elif fault == "reset-after":
            self.reset()
        elif fault == "timeout-after":
            time.sleep(proxy.hold)
            self.drop()
        elif fault == "late":
            self.drop()
        else:
            self.answer(status, data, headers)
        if held is not None:
            held["done"].set()

    def finish_entry(self, entry, status):
        entry["status"] = status
        entry["end"] = time.time()
        with self.proxy.lock:
            self.proxy.log.append(entry)

    def job_location(self, body):
        try:
            return (json.loads(body).get("jobReference") or {}).get("location")
        except (ValueError, AttributeError):
            return None

    def query_text(self, body):
        try:
            return ((json.loads(body).get("configuration") or {}).get("query") or {}).get("query")
        except (ValueError, AttributeError):
            return None

    def queries_text(self, body, path):
        """The statement of a jobs.query request (`POST …/queries`), or None."""
        if not path.split("?")[0].endswith("/queries"):
            return None
        try:
            return json.loads(body).get("query")
        except (ValueError, AttributeError):
            return None

    def proxied(self, method, path, body, job_id, is_upload):
        """Forwards one request with BigQuery's job-id semantics and the contract model's rules; returns
        (status, body, headers)."""
        proxy = self.proxy
        modeled = proxy.tables.handle(method, path, self.headers, body, self.forward_modeled)
        if modeled is not None:
            return modeled
        if job_id is not None:
            return self.inserted(method, path, body, job_id, is_upload)
        return self.fetched(method, path, body)

    def forward_safely(self, method, path, body, withheld=frozenset()):
        try:
            return self.forward(method, path, body, withheld)
        except Exception as error:  # the emulator went away: answer as a gateway would
            return 502, error_body(502, "badGateway", "UNAVAILABLE", f"upstream: {error}"), []

    def forward_modeled(self, method, path, body):
        """forward_safely for the contract model, which has checked If-Match against its own etags: the upstream
        must not see them (a chained proxy's model would check them against its etags, the emulator ignores them)."""
        return self.forward_safely(method, path, body, frozenset({"if-match"}))

    def inserted(self, method, path, body, job_id, is_upload):
        """A job insert, with BigQuery's job-id semantics (409 for a job id already accepted)."""
        proxy = self.proxy
        with proxy.lock:
            while job_id in proxy.inflight:
                proxy.lock.wait(1)
            if job_id in proxy.executions or job_id in proxy.failed:
                proxy.conflicts[job_id] = proxy.conflicts.get(job_id, 0) + 1
                message = f"Already Exists: Job {job_id}"
                return 409, error_body(409, "duplicate", "ALREADY_EXISTS", message), [("Content-Type", "application/json")]
            proxy.inflight.add(job_id)
        try:
            status, data, headers = self.forward(method, path, body)
        except Exception as error:  # the emulator went away: answer as a gateway would
            with proxy.lock:
                proxy.inflight.discard(job_id)
                proxy.lock.notify_all()
            return 502, error_body(502, "badGateway", "UNAVAILABLE", f"upstream: {error}"), []
        with proxy.lock:
            proxy.inflight.discard(job_id)
            if 200 <= status < 300:
                proxy.executions[job_id] = proxy.executions.get(job_id, 0) + 1
            proxy.lock.notify_all()
        return status, self.rewrite(data, job_id, is_upload), headers

    def fetched(self, method, path, body):
        """Any other request; jobs.get and getQueryResults of a job the proxy knows better than the emulator."""
        proxy = self.proxy
        match = JOB_PATH.match(path)
        if match:
            project = re.match(r"^/bigquery/v2/projects/([^/]+)/", path).group(1)
            query = dict(part.split("=", 1) for part in path.partition("?")[2].split("&") if "=" in part)
            refused = proxy.locations.check_lookup(project, match.group(2), query)
            if refused is not None:
                return refused
        if method == "GET" and match:
            client_id = match.group(2)
            with proxy.lock:
                failed = proxy.failed.get(client_id)
                mapped = proxy.idmap.get(client_id)
                failed = failed or proxy.modeled.get(client_id)
            if failed is not None and "/jobs/" in match.group(1):
                return 200, json.dumps(failed).encode(), [("Content-Type", "application/json")]
            if mapped:
                path = match.group(1) + mapped + match.group(3)
            try:
                status, data, headers = self.forward(method, path, body)
            except Exception as error:
                return 502, error_body(502, "badGateway", "UNAVAILABLE", f"upstream: {error}"), []
            if "/jobs/" in match.group(1):
                data = self.rewrite(data, client_id, False)
            return status, data, headers
        return self.forward_safely(method, path, body)

    def rewrite(self, data, client_id, is_upload):
        """A job resource with the client's job id and, for a finished query job, bytes billed."""
        try:
            job = json.loads(data)
        except ValueError:
            return data
        if not isinstance(job, dict) or "jobReference" not in job:
            return data
        proxy = self.proxy
        reference = job["jobReference"]
        if is_upload and reference.get("jobId") and reference["jobId"] != client_id:
            with proxy.lock:
                proxy.idmap[client_id] = reference["jobId"]
                proxy.reverse[reference["jobId"]] = client_id
        location = proxy.locations.job_location(reference.get("projectId", ""), client_id)
        if location and reference.get("location") != location:
            reference["location"] = location
            job["id"] = f"{reference.get('projectId', '')}:{location}.{client_id}"
        if reference.get("jobId") != client_id:
            reference["jobId"] = client_id
            job["id"] = f"{reference.get('projectId', '')}:{reference.get('location', 'US')}.{client_id}"
        status = job.get("status") or {}
        query = (job.get("configuration") or {}).get("query")
        if status.get("state") == "DONE" and not status.get("errorResult") and query is not None \
                and not (job.get("configuration") or {}).get("dryRun"):
            with proxy.lock:
                processed, billed = proxy.bills.get(client_id) or (billed_for(client_id), billed_for(client_id))
            statistics = job.setdefault("statistics", {})
            statistics["totalBytesProcessed"] = str(processed)
            q = statistics.setdefault("query", {})
            q["totalBytesProcessed"] = str(processed)
            q["totalBytesBilled"] = str(billed)
            with proxy.lock:
                proxy.billed[client_id] = billed
        return json.dumps(job).encode()

    def sized_dry_run(self, data, sizes):
        """The emulator's dry-run answer with the bytes the model's table sizes give, and the tables referenced."""
        try:
            job = json.loads(data)
        except ValueError:
            return data
        if not isinstance(job, dict):
            return data
        processed = str(sum(sizes.values()))
        statistics = job.setdefault("statistics", {})
        statistics["totalBytesProcessed"] = processed
        q = statistics.setdefault("query", {})
        q["totalBytesProcessed"] = processed
        q["referencedTables"] = [dict(zip(("projectId", "datasetId", "tableId"), name.split(".")))
                                 for name in sorted(sizes)]
        return json.dumps(job).encode()

    def dry_run_answer(self, body, statement):
        """A BigQuery-shaped answer to a dry run, without running anything (--answer-dry-runs)."""
        project = re.search(r"/projects/([^/]+)/jobs", self.path)
        try:
            request = json.loads(body)
        except ValueError:
            request = {}
        reference = dict(request.get("jobReference") or {})
        reference.setdefault("projectId", project.group(1) if project else "")
        reference.setdefault("location", "US")
        processed = str(self.proxy.dry_run_bytes)
        return {"kind": "bigquery#job", "jobReference": reference, "configuration": request.get("configuration", {}),
                "status": {"state": "DONE"},
                "statistics": {"totalBytesProcessed": processed,
                               "query": {"totalBytesProcessed": processed, "totalBytesProcessedAccuracy": "PRECISE",
                                         "statementType": statement or "SELECT"}}}

    def job_failure(self, entry, job_id, body, reason, message):
        """BigQuery accepted the job, and it failed (nothing ran): jobfail, conflict, and a mutating DML statement
        that the contract model finds concurrent with another on its table; jobs.get reports the same."""
        proxy = self.proxy
        project = re.search(r"/projects/([^/]+)/jobs", self.path)
        configuration = {}
        try:
            configuration = json.loads(body).get("configuration", {})
        except ValueError:
            pass
        resource = {"kind": "bigquery#job", "id": f"{project.group(1) if project else ''}:US.{job_id}",
                    "jobReference": {"projectId": project.group(1) if project else "", "jobId": job_id, "location": "US"},
                    "configuration": configuration,
                    "status": {"state": "DONE", "errorResult": {"reason": reason, "message": message},
                               "errors": [{"reason": reason, "message": message}]},
                    "statistics": {"creationTime": str(int(time.time() * 1000))}}
        with proxy.lock:
            while job_id in proxy.inflight:
                proxy.lock.wait(1)
            if job_id in proxy.executions or job_id in proxy.failed:
                proxy.conflicts[job_id] = proxy.conflicts.get(job_id, 0) + 1
                self.finish_entry_locked(entry, 409)
                conflict = True
            else:
                proxy.failed[job_id] = resource
                self.finish_entry_locked(entry, "jobfail" if reason == "backendError" else reason)
                conflict = False
        if conflict:
            return self.answer(409, error_body(409, "duplicate", "ALREADY_EXISTS", f"Already Exists: Job {job_id}"),
                               [("Content-Type", "application/json")])
        self.answer_json(200, resource)

    def load_configuration(self, body):
        try:
            return (json.loads(body).get("configuration") or {}).get("load")
        except (ValueError, AttributeError):
            return None

    def upstream(self, method, path, payload=None):
        """One request of the model's own to the emulator (none of the client's headers): (status, JSON or None)."""
        host, port = self.proxy.upstream
        connection = http.client.HTTPConnection(host, port, timeout=120)
        try:
            body = json.dumps(payload).encode() if payload is not None else None
            headers = {"Content-Type": "application/json"} if body is not None else {}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            try:
                return response.status, json.loads(data) if data else None
            except ValueError:
                return response.status, None
        finally:
            connection.close()

    def self_describing_load(self, entry, job_id, body, load):
        """A load of Parquet or Avro files, as BigQuery runs it (bqcontract.py, "Loads of self-describing files"):
        the files' own schema, checked against one the load sends; WRITE_TRUNCATE replaces the destination's
        schema and rows with the files'. The emulator cannot read such files, so the model does it: the
        destination is recreated with its metadata and the files' schema, and their rows inserted."""
        proxy = self.proxy
        with proxy.lock:
            if job_id in proxy.executions or job_id in proxy.failed:  # BigQuery's 409 for a job id it has
                proxy.conflicts[job_id] = proxy.conflicts.get(job_id, 0) + 1
                self.finish_entry_locked(entry, 409)
                return self.answer(409, error_body(409, "duplicate", "ALREADY_EXISTS", f"Already Exists: Job {job_id}"),
                                   [("Content-Type", "application/json")])
        uris = load.get("sourceUris") or []
        destination = load.get("destinationTable") or {}
        project, dataset, table = (destination.get(k, "") for k in ("projectId", "datasetId", "tableId"))
        name = f"{project}:{dataset}.{table}"
        files = proxy.files.matching(uris)
        if len(files) != len(uris) or not files:
            missing = next((uri for uri in uris if not proxy.files.matching([uri])), "")
            return self.job_failure(entry, job_id, body, "notFound", f"Not found: URI {missing}")
        schema = files[0]["schema"]
        if any(other["schema"] != schema for other in files[1:]):
            return self.job_failure(entry, job_id, body, "invalid", "Error while reading data: the files' schemas differ")
        given = (load.get("schema") or {}).get("fields")
        refused = SelfDescribingFiles.clash(given, schema, name) if given is not None else None
        if refused is not None:
            return self.job_failure(entry, job_id, body, "invalid", refused)
        if load.get("writeDisposition") != "WRITE_TRUNCATE":
            return self.job_failure(entry, job_id, body, "invalid",
                                    "(contract model) only WRITE_TRUNCATE loads of self-describing files are modeled")
        base = f"/bigquery/v2/projects/{project}/datasets/{dataset}/tables"
        status, existing = self.upstream("GET", f"{base}/{table}")
        if status != 200 or not isinstance(existing, dict):
            return self.job_failure(entry, job_id, body, "notFound", f"Not found: Table {name}")
        kept = {key: existing[key] for key in ("tableReference", "description", "labels", "expirationTime")
                if key in existing}
        kept["schema"] = {"fields": schema}
        rows = [row for file in files for row in file["rows"]]
        self.upstream("DELETE", f"{base}/{table}")
        status, _ = self.upstream("POST", base, kept)
        if status == 200 and rows:
            status, _ = self.upstream("POST", f"{base}/{table}/insertAll", {"rows": [{"json": row} for row in rows]})
        if status != 200:
            return self.job_failure(entry, job_id, body, "backendError", f"(contract model) the emulator answered {status}")
        resource = {"kind": "bigquery#job", "id": f"{project}:US.{job_id}",
                    "jobReference": {"projectId": project, "jobId": job_id, "location": "US"},
                    "configuration": json.loads(body).get("configuration", {}), "status": {"state": "DONE"},
                    "statistics": {"creationTime": str(int(time.time() * 1000)),
                                   "load": {"inputFiles": str(len(files)), "outputRows": str(len(rows))}}}
        with proxy.lock:
            proxy.executions[job_id] = proxy.executions.get(job_id, 0) + 1
            proxy.modeled[job_id] = resource
            self.finish_entry_locked(entry, 200)
        self.answer_json(200, resource)

    def finish_entry_locked(self, entry, status):
        entry["status"] = status
        entry["end"] = time.time()
        self.proxy.log.append(entry)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--kinds", default=",".join(k for k in ALL_KINDS if k != "invalid"))
    parser.add_argument("--hold", type=float, default=3.0, help="seconds a timeout fault holds (more than the client's timeout)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds every request is held before it is forwarded")
    parser.add_argument("--latency-max", type=float, default=0.0, help="with --latency: hold each a uniform time up to this")
    parser.add_argument("--answer-dry-runs", type=int, default=None, metavar="BYTES",
                        help="answer dry runs here, reporting BYTES processed, instead of forwarding them")
    parser.add_argument("--transparent", action="store_true",
                        help="forward every request unchanged: no faults, latency, job-id or billing semantics, contract rules")
    parser.add_argument("--record", metavar="FILE",
                        help="with --transparent: write the distinct statements of bqsync's query jobs to FILE (JSON lines)")
    args = parser.parse_args()
    if args.record and not args.transparent:
        parser.error("--record needs --transparent")
    Handler.proxy = Proxy(args.upstream, args.seed, args.rate, [k for k in args.kinds.split(",") if k], args.hold)
    Handler.proxy.latency, Handler.proxy.latency_max = args.latency, args.latency_max
    Handler.proxy.dry_run_bytes = args.answer_dry_runs
    Handler.proxy.transparent = args.transparent
    # An answer is written as headers, then body: with Nagle's algorithm the body waits for the client's delayed
    # ACK of the headers, some 40 ms a request that no server adds (figures in docs/benchmarks.md measured before
    # this include it).
    Handler.disable_nagle_algorithm = True
    Handler.proxy.recorder = Recorder(args.record) if args.record else None
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 64
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    # Exit with the process that started us, even when it crashes and cannot stop us: an orphan would hold
    # the test runner's output pipe open.
    parent = os.getppid()

    def watch_parent():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
