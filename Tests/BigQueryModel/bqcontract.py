"""BigQuery's contract where the emulator (bqemulator) does not keep it: the rules the fault proxy
(Tests/BigQueryModel/fault-proxy.py) enforces between bqsync and the emulator, so that what the end-to-end tests check is
bqsync's behaviour against BigQuery, not against the emulator. Each rule cites BigQuery's documentation, as
summarised in docs/bigquery.md.

Tables (metadata)
  - Every table has an etag that changes with every change to it; `tables.get`, `tables.insert` and
    `tables.patch` answer it. A `tables.patch`, `tables.update` or `tables.delete` sent with `If-Match: <etag>`
    is applied only if the table's etag is still that one, and is answered 412 "Precondition check failed"
    otherwise; the check and the change are one atomic step. (REST reference, Table resource `etag`; the
    client libraries' `update_table` sends `If-Match` for exactly this.) The emulator ignores If-Match.
  - `expirationTime` (ms since the epoch) is kept and answered, and a table past it is deleted: reads answer 404
    and `tables.insert` creates it anew. (Table resource `expirationTime`: "the table will be deleted and its
    storage reclaimed".) The emulator neither keeps nor enforces it.
  - `tables.insert` of an existing table is 409 Already Exists (the emulator agrees; the model relies on it).
  - `lastModifiedTime` moves with every change to a table's data: a DML statement (MERGE, UPDATE, DELETE,
    INSERT) that succeeds on it, or a `tabledata.insertAll` into it. (Table resource `lastModifiedTime`: "the
    time when this table was last modified".) The emulator keeps the creation time, and its `numRows` does not
    follow DML either.
  - A table with `requirePartitionFilter` refuses a query or DML statement, dry runs included, that has no
    filter on its partition column usable for partition elimination: invalidQuery, "Cannot query over table …
    without a filter over column(s) … that can be used for partition elimination". ("Querying partitioned
    tables", "Require a partition filter".) The emulator neither keeps the option nor enforces it. The model's
    test of "usable" is lexical: the partition column compared (=, <, >, BETWEEN, IN) somewhere in the statement.

Locations
  - A dataset has one location, US when created without one; a table is where its dataset is, and `tables.get`
    answers its `location`. ("Dataset locations".) A job runs in one location: the one it names in
    `jobReference.location`, else the one of the tables it references. A job that references a table in another
    location fails: "Not found: Dataset P:D was not found in location L". A load job's destination is held to
    the same rule. ("Locations": "you cannot query data in one location and write the results to another".)
  - `jobs.get`, `jobs.getQueryResults` and `jobs.cancel` of a job outside the US and EU multi-regions must name
    its location; without it the job is not found (404). (Jobs REST reference, `location` parameter.) The
    emulator keeps locations but enforces neither rule.

Missing tables (dry runs)
  - A dry run of a statement that reads or writes a table that does not exist fails: 404 notFound, "Not found:
    Table P:D.T was not found in location L". The emulator dry-runs a MERGE from a missing table happily. The
    table a `CREATE [OR REPLACE] TABLE` statement creates is exempt: it is written, not read.

Request limits and the bytes cap (jobs)
  - A request is at most 10 MB, query parameters included ("Request size ... 10 MB"), and a query's text at most
    1,024K characters ("Maximum query length"): answered 400, reason invalid / invalidQuery.
  - A query job whose bill would pass its `maximumBytesBilled` fails, uncharged and without effect, with reason
    bytesBilledLimitExceeded (the bill as below).

Bytes processed and billed (jobs, dry runs, tables.get)
  - A table's size is its rows times the width of its columns (BigQuery's "Data size calculation": 8 bytes for
    INT64, FLOAT64, DATE, DATETIME, TIME and TIMESTAMP, 16 for NUMERIC, 32 for BIGNUMERIC, 1 for BOOL, and 2 plus
    the length for STRING and BYTES, which the model takes as 2 + 30; JSON as 30), or the size a test declared for
    it (`/__proxy/sizes`, standing in for a table too large to fill in a test). `tables.get` answers it as
    `numBytes`; the emulator answers 0. A dry run reports as processed the sizes of the tables the statement names
    (the whole tables: BigQuery reads only the columns used and prunes partitions, so the model is the dear end),
    with the tables in `referencedTables`; the emulator reports 0.
  - A finished query job is billed as on-demand queries are ("On-demand compute pricing"): each referenced table
    rounded up to a whole MB (2^20 bytes) and at least 10 MB, and the query at least 10 MB. Sizes are taken when
    the job is inserted, before it changes anything.

Loads of self-describing files (jobs)
  - Parquet and Avro files carry their own schema, and a load job takes the table's schema from them ("Loading
    Parquet data", "Loading Avro data": "the table schema is automatically retrieved from the self-describing
    source data"). A WRITE_TRUNCATE load replaces the destination's data and schema with the files' ("Appending
    to and overwriting ... tables": overwriting uses the schema of the data loaded). A schema sent with the load
    must agree with the files' field by field: a field whose mode or type differs fails the job, reason invalid,
    "Provided Schema does not match Table …. Field x has changed mode from REQUIRED to NULLABLE". The emulator
    cannot read Parquet or Avro at all; the model stands in for Cloud Storage with files a test registers
    (their URI, schema and rows) and puts their rows in the destination as BigQuery would.

Streaming inserts (tabledata.insertAll)
  - A row sent with an insertId that was already inserted into the same table is dropped: "BigQuery uses the
    insertId property to de-duplicate your data on a best effort basis" for at least one minute ("Streaming data
    into BigQuery", "Best effort de-duplication"), which is what makes a retried insertAll whose first answer was
    lost insert its rows once. The emulator keeps both copies. The model dedups for the life of the proxy (a test
    is shorter than BigQuery's window); bqsync's readers still tolerate a duplicate, as de-duplication is best
    effort.

DML (jobs)
  - A mutating DML statement (UPDATE, DELETE, or a MERGE with a WHEN MATCHED or NOT MATCHED BY SOURCE clause)
    that runs while another mutating one on the same table is running conflicts: BigQuery retries it, then the
    job fails with reason invalidQuery, "Could not serialize access to table … due to concurrent update".
    A MERGE that only inserts never conflicts. ("DML statements" / "Concurrent jobs": at most 2 mutating DML
    statements run per table, 20 more are queued, the rest fail with "Too many DML statements outstanding".)
    The emulator runs one statement at a time, so it never conflicts. Here a mutating statement that arrives
    while another on its table is in flight fails as BigQuery's would after its retries: the conservative end of
    what BigQuery may do.
"""
import json, re, secrets, threading, time

TABLE_PATH = re.compile(r"^/bigquery/v2/projects/([^/?]+)/datasets/([^/?]+)/tables/([^/?]+)$")
TABLES_PATH = re.compile(r"^/bigquery/v2/projects/([^/?]+)/datasets/([^/?]+)/tables$")
DML_TARGET = re.compile(r"^\s*(?:MERGE(?:\s+INTO)?|UPDATE|DELETE(?:\s+FROM)?)\s+(`[^`]+`(?:\.`[^`]+`)*|[\w.-]+)", re.I)
WRITTEN_TABLE = re.compile(
    r"^\s*(?:MERGE(?:\s+INTO)?|UPDATE|DELETE(?:\s+FROM)?|INSERT(?:\s+INTO)?)\s+(`[^`]+`(?:\.`[^`]+`)*|[\w.-]+)", re.I)
INSERT_ALL_PATH = re.compile(r"^/bigquery/v2/projects/([^/?]+)/datasets/([^/?]+)/tables/([^/?]+)/insertAll$")
MUTATING_MERGE = re.compile(r"\bWHEN\s+MATCHED\b|\bNOT\s+MATCHED\s+BY\s+SOURCE\b", re.I)


def error_body(code, reason, status, message):
    return json.dumps({"error": {"code": code, "message": message,
                                 "errors": [{"domain": "global", "reason": reason, "message": message}],
                                 "status": status}}).encode()


def new_etag():
    return '"' + secrets.token_hex(8) + '"'


class TableModel:
    """Etags, If-Match preconditions and expiration of tables, over the emulator's tables."""

    def __init__(self, locations=None, sizes=None):
        self.lock = threading.Lock()
        self.locations = locations   # a LocationModel: answers carry the table's location, as BigQuery's do
        self.sizes = sizes           # a TableSizes: answers carry the table's modeled numBytes
        self.locks = {}       # (project, dataset, table) -> a lock held across a guarded change (the atomic step)
        self.etags = {}       # (project, dataset, table) -> its etag
        self.expirations = {}  # (project, dataset, table) -> ms since the epoch
        self.partition_filters = {}  # (project, dataset, table) -> the partition column a statement must filter on
        self.modified = {}    # (project, dataset, table) -> ms since the epoch of the last change to its data
        self.preconditions_failed = 0
        self.expired = []     # tables deleted for their expirationTime: "project.dataset.table"
        self.partition_filter_refusals = []  # tables a statement without their partition filter was refused on

    def key_lock(self, key):
        with self.lock:
            return self.locks.setdefault(key, threading.Lock())

    @staticmethod
    def key(path):
        found = TABLE_PATH.match(path)
        return (found.group(1), found.group(2), found.group(3)) if found else None

    def handle(self, method, path, headers, body, forward):
        """Answers a tables.* request under the model; None when the request is not one (forward it as is).
        `forward(method, path, body)` sends a request to the emulator and returns (status, data, headers)."""
        path = path.split("?")[0]
        key = self.key(path)
        if key is None:
            inserted = TABLES_PATH.match(path)
            if method != "POST" or not inserted:
                return None
            try:
                table_id = json.loads(body)["tableReference"]["tableId"]
            except (ValueError, KeyError, TypeError):
                return None
            key = (inserted.group(1), inserted.group(2), table_id)
        with self.key_lock(key):
            self.sweep(key, forward)
            if method == "GET":
                return self.answered(key, forward(method, path, body), changed=False)
            if method == "POST":
                return self.answered(key, forward(method, path, body), changed=True, body=body)
            if method in ("PATCH", "PUT", "DELETE"):
                wanted = headers.get("If-Match")
                status, data, kept = forward("GET", path, b"")
                if status == 404:
                    return status, data, kept
                current = self.etag(key)
                if wanted and wanted != "*" and wanted != current:
                    with self.lock:
                        self.preconditions_failed += 1
                    return 412, error_body(412, "conditionNotMet", "FAILED_PRECONDITION", "Precondition check failed."), \
                        [("Content-Type", "application/json")]
                if method == "DELETE":
                    answer = forward(method, path, body)
                    if 200 <= answer[0] < 300:
                        self.forget(key)
                    return answer
                return self.answered(key, forward(method, path, body), changed=True, body=body)
        return None

    def written(self, method, path, sql, default_project):
        """Notes a request that succeeded: a DML statement or an insertAll changed a table's data now."""
        key = None
        found = INSERT_ALL_PATH.match(path.split("?")[0]) if method == "POST" else None
        if found:
            key = (found.group(1), found.group(2), found.group(3))
        elif method == "POST" and sql:
            statement = WRITTEN_TABLE.match(sql)
            parts = [part for part in statement.group(1).replace("`", "").split(".") if part] if statement else []
            if len(parts) == 2 and default_project:
                parts.insert(0, default_project)
            key = tuple(parts) if len(parts) == 3 else None
        if key is not None:
            with self.lock:
                self.modified[key] = max(int(time.time() * 1000), self.modified.get(key, 0) + 1)

    def etag(self, key):
        with self.lock:
            return self.etags.setdefault(key, new_etag())

    def forget(self, key):
        with self.lock:
            self.etags.pop(key, None)
            self.expirations.pop(key, None)

    def answered(self, key, answer, changed, body=b""):
        """The emulator's answer to a read or a change, with the model's etag and expirationTime."""
        status, data, kept = answer
        if status == 404:
            self.forget(key)
        if not 200 <= status < 300:
            return answer
        with self.lock:
            if changed:
                self.etags[key] = new_etag()
                try:
                    sent = json.loads(body) if body else {}
                except ValueError:
                    sent = {}
                partitioning = (sent.get("timePartitioning") or {}) if isinstance(sent, dict) else {}
                if isinstance(sent, dict) and (sent.get("requirePartitionFilter") or partitioning.get("requirePartitionFilter")) \
                        and partitioning.get("field"):
                    self.partition_filters[key] = partitioning["field"]
                if isinstance(sent, dict) and "expirationTime" in sent:
                    if sent["expirationTime"] is None:
                        self.expirations.pop(key, None)
                    else:
                        self.expirations[key] = int(sent["expirationTime"])
            etag = self.etags.setdefault(key, new_etag())
            expiration = self.expirations.get(key)
            modified = self.modified.get(key)
            required = self.partition_filters.get(key)
        try:
            resource = json.loads(data)
        except ValueError:
            return answer
        if isinstance(resource, dict):
            resource["etag"] = etag
            if modified is not None:
                resource["lastModifiedTime"] = str(max(int(resource.get("lastModifiedTime") or 0), modified))
            if required:
                resource["requirePartitionFilter"] = True
            if self.sizes is not None and "numRows" in resource and "tableReference" in resource:
                resource["numBytes"] = str(self.sizes.of_resource(resource))
            location = self.locations.table_location(key) if self.locations else None
            if location:
                resource["location"] = location
            if expiration is None:
                resource.pop("expirationTime", None)
            else:
                resource["expirationTime"] = str(expiration)
            data = json.dumps(resource).encode()
        return status, data, kept

    def check_partition_filter(self, sql, tables):
        """The answer refusing a statement on a table that requires a partition filter it lacks, or None."""
        for name in tables:
            parts = tuple(name.split("."))
            with self.lock:
                field = self.partition_filters.get(parts) if len(parts) == 3 else None
            if field is None:
                continue
            usable = re.compile(r"`?" + re.escape(field) + r"`?\s*(?:=|<|>|\bBETWEEN\b|\bIN\b)", re.I)
            if not usable.search(sql or ""):
                message = (f"Cannot query over table '{name}' without a filter over column(s) '{field}' that can be used "
                           "for partition elimination")
                with self.lock:
                    self.partition_filter_refusals.append(name)
                return 400, error_body(400, "invalidQuery", "INVALID_ARGUMENT", message), [("Content-Type", "application/json")]
        return None

    def sweep(self, key, forward):
        """Deletes the table if it is past its expirationTime, as BigQuery would have by now."""
        with self.lock:
            expiration = self.expirations.get(key)
        if expiration is None or expiration > time.time() * 1000:
            return
        project, dataset, table = key
        forward("DELETE", f"/bigquery/v2/projects/{project}/datasets/{dataset}/tables/{table}", b"")
        self.forget(key)
        with self.lock:
            self.expired.append(f"{project}.{dataset}.{table}")

    def stats(self):
        with self.lock:
            return {"preconditions_failed": self.preconditions_failed, "expired": list(self.expired),
                    "partition_filter_refusals": list(self.partition_filter_refusals)}


MAX_REQUEST_BYTES = 10 * 1024 * 1024
MAX_QUERY_CHARACTERS = 1024 * 1024


def check_request_limits(body, query):
    """The answer refusing a jobs.insert over BigQuery's request or query-text limits, or None."""
    if len(body) > MAX_REQUEST_BYTES:
        message = f"Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes."
        return 400, error_body(400, "invalid", "INVALID_ARGUMENT", message), [("Content-Type", "application/json")]
    if query is not None and len(query) > MAX_QUERY_CHARACTERS:
        message = ("The query is too large. The maximum standard SQL query length is 1024.00K characters, including comments "
                   "and white space characters.")
        return 400, error_body(400, "invalidQuery", "INVALID_ARGUMENT", message), [("Content-Type", "application/json")]
    return None


CREATED_TABLE = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?`([^`]+)`", re.I)


def missing_table(tables, get, location, sql=None):
    """The answer refusing a dry run that names a table that does not exist, or None. `tables` are the statement's
    backticked names; `get(path)` reads from the emulator. The table a CREATE TABLE statement creates need not
    exist (BigQuery dry-runs `CREATE OR REPLACE TABLE … AS SELECT` of a new table)."""
    created = CREATED_TABLE.match(sql or "")
    for name in tables:
        if created and name == created.group(1):
            continue
        parts = name.split(".")
        if len(parts) != 3:
            continue
        status, _, _ = get(f"/bigquery/v2/projects/{parts[0]}/datasets/{parts[1]}/tables/{parts[2]}")
        if status == 404:
            message = f"Not found: Table {parts[0]}:{parts[1]}.{parts[2]} was not found in location {location or 'US'}"
            return 404, error_body(404, "notFound", "NOT_FOUND", message), [("Content-Type", "application/json")]
    return None


def over_cap(body, billed):
    """The bytesBilledLimitExceeded message when a job's `maximumBytesBilled` is below what it would bill, or None."""
    try:
        cap = ((json.loads(body).get("configuration") or {}).get("query") or {}).get("maximumBytesBilled")
    except (ValueError, AttributeError):
        return None
    if cap is None or int(cap) >= billed:
        return None
    return f"Query exceeded limit for bytes billed: {cap}. {billed} or higher required."


class LocationModel:
    """Dataset locations, the one location of a job, and look-ups of a regional job that must name it."""

    MULTI_REGIONS = {"US", "EU"}

    def __init__(self, forward_get):
        self.lock = threading.Lock()
        self.forward_get = forward_get   # (path) -> (status, data, headers) from the emulator
        self.datasets = {}    # (project, dataset) -> location, as BigQuery spells it
        self.jobs = {}        # (project, job id) -> location
        self.errors = []      # {"kind", "detail"}: calls refused by these rules

    @staticmethod
    def canonical(location):
        """US and EU in capitals, a region in lowercase; no location is US, BigQuery's default."""
        if not location or location.upper() in LocationModel.MULTI_REGIONS:
            return (location or "US").upper()
        return location.lower()

    def dataset_location(self, project, dataset):
        with self.lock:
            known = self.datasets.get((project, dataset))
        if known:
            return known
        status, data, _ = self.forward_get(f"/bigquery/v2/projects/{project}/datasets/{dataset}")
        if status != 200:
            return None
        try:
            location = self.canonical(json.loads(data).get("location"))
        except ValueError:
            return None
        with self.lock:
            self.datasets[(project, dataset)] = location
        return location

    def created(self, project, body):
        """A datasets.insert answered 200: remember where the dataset is."""
        try:
            request = json.loads(body)
            dataset = request["datasetReference"]["datasetId"]
        except (ValueError, KeyError, TypeError):
            return
        with self.lock:
            self.datasets[(project, dataset)] = self.canonical(request.get("location"))

    def table_location(self, key):
        return self.dataset_location(key[0], key[1])

    def refuse(self, kind, detail, message, code=404, reason="notFound"):
        with self.lock:
            self.errors.append({"kind": kind, "detail": detail})
        return code, error_body(code, reason, "NOT_FOUND", message), [("Content-Type", "application/json")]

    def check_job(self, project, body, tables):
        """The answer refusing a job insert that spans locations, or None; remembers where the job runs."""
        try:
            request = json.loads(body)
        except ValueError:
            return None
        reference = request.get("jobReference") or {}
        named = reference.get("location")
        job_location = self.canonical(named) if named else None
        destination = ((request.get("configuration") or {}).get("load") or {}).get("destinationTable")
        if destination:
            tables = list(tables) + [f"{destination.get('projectId')}.{destination.get('datasetId')}.{destination.get('tableId')}"]
        for name in tables:
            parts = name.split(".")
            if len(parts) != 3:
                continue
            location = self.dataset_location(parts[0], parts[1])
            if location is None:
                continue
            if job_location is None:
                job_location = location
            elif location != job_location:
                return self.refuse("cross-location", f"{name} is in {location}, the job in {job_location}",
                                   f"Not found: Dataset {parts[0]}:{parts[1]} was not found in location {job_location}")
        if reference.get("jobId"):
            with self.lock:
                self.jobs[(project, reference["jobId"])] = job_location or "US"
        return None

    def job_location(self, project, job_id):
        with self.lock:
            return self.jobs.get((project, job_id))

    def check_lookup(self, project, job_id, query):
        """The answer to a jobs.get / getQueryResults / cancel of a regional job that does not name its location."""
        location = self.job_location(project, job_id)
        if location is None or location in self.MULTI_REGIONS:
            return None
        asked = query.get("location")
        if asked and self.canonical(asked) == location:
            return None
        return self.refuse("job look-up without its location", f"{job_id} in {location}, asked {asked or 'none'}",
                           f"Not found: Job {project}:{job_id}")

    def stats(self):
        with self.lock:
            return {"location_errors": list(self.errors)}


class DMLModel:
    """Concurrent mutating DML on one table conflicts; insert-only MERGE never does."""

    def __init__(self):
        self.lock = threading.Lock()
        self.running = {}     # "project.dataset.table" -> job ids of mutating DML in flight
        self.conflicts = []   # {"job", "table"}: jobs failed for a concurrent update

    @staticmethod
    def mutated_table(query, default_project):
        """The table a mutating DML statement changes, `project.dataset.table`; None for anything else (SELECT,
        DDL, an insert-only MERGE, INSERT)."""
        found = DML_TARGET.match(query or "")
        if not found:
            return None
        if query.lstrip()[:5].upper() == "MERGE" and not MUTATING_MERGE.search(query):
            return None
        parts = [part for part in found.group(1).replace("`", "").split(".") if part]
        if len(parts) == 2 and default_project:
            parts.insert(0, default_project)
        return ".".join(parts)

    def begin(self, job_id, table):
        """Starts a mutating statement on `table`; False when another is in flight there (the job conflicts)."""
        with self.lock:
            running = self.running.setdefault(table, set())
            if running - {job_id}:
                self.conflicts.append({"job": job_id, "table": table})
                return False
            running.add(job_id)
            return True

    def end(self, job_id, table):
        with self.lock:
            self.running.get(table, set()).discard(job_id)

    @staticmethod
    def conflict_message(table):
        project, _, rest = table.partition(".")
        return f"Could not serialize access to table {project}:{rest} due to concurrent update"

    def stats(self):
        with self.lock:
            return {"dml_conflicts": list(self.conflicts)}


SELF_DESCRIBING = ("PARQUET", "AVRO")
LEGACY = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}


class SelfDescribingFiles:
    """The Parquet and Avro "files" a test registered, by URI (as a sync names it): their schema and rows."""

    def __init__(self):
        self.lock = threading.Lock()
        self.files = {}  # uri -> {"schema": [fields], "rows": [json objects]}

    def register(self, uri, schema, rows):
        with self.lock:
            self.files[uri] = {"schema": schema, "rows": rows}

    def matching(self, uris):
        with self.lock:
            return [self.files[uri] for uri in uris if uri in self.files]

    @staticmethod
    def clash(given, files, table):
        """BigQuery's refusal of a load whose schema disagrees with the files' own, or None."""
        named = {field["name"].lower(): field for field in given}
        for field in files:
            other = named.get(field["name"].lower())
            if other is None:
                return f"Provided Schema does not match Table {table}. Field {field['name']} is missing in new schema"
            mode, other_mode = field.get("mode", "NULLABLE").upper(), other.get("mode", "NULLABLE").upper()
            if mode != other_mode:
                return (f"Provided Schema does not match Table {table}. Field {field['name']} has changed mode "
                        f"from {mode} to {other_mode}")
            if LEGACY.get(field["type"].upper(), field["type"].upper()) != LEGACY.get(other["type"].upper(), other["type"].upper()):
                return (f"Provided Schema does not match Table {table}. Field {field['name']} has changed type "
                        f"from {field['type'].upper()} to {other['type'].upper()}")
        return None


class TableSizes:
    """Table sizes, and the bytes a query processes and is billed for (see "Bytes processed and billed" above)."""
    MB = 1 << 20
    MINIMUM = 10 << 20
    VARIABLE = 30  # the model's length of a STRING, BYTES or JSON value
    WIDTHS = {"INT64": 8, "INTEGER": 8, "FLOAT64": 8, "FLOAT": 8, "DATE": 8, "DATETIME": 8, "TIME": 8,
              "TIMESTAMP": 8, "NUMERIC": 16, "BIGNUMERIC": 32, "BOOL": 1, "BOOLEAN": 1, "STRING": 2 + VARIABLE,
              "BYTES": 2 + VARIABLE, "JSON": VARIABLE}

    def __init__(self):
        self.lock = threading.Lock()
        self.declared = {}  # "project.dataset.table" -> bytes a test declared

    def declare(self, table, size):
        with self.lock:
            self.declared[table] = int(size)

    def of_resource(self, resource):
        """The size of a table resource (as tables.get answers it): declared, else rows times column widths."""
        reference = resource.get("tableReference") or {}
        name = f"{reference.get('projectId')}.{reference.get('datasetId')}.{reference.get('tableId')}"
        with self.lock:
            if name in self.declared:
                return self.declared[name]
        rows = int(resource.get("numRows") or 0)
        fields = (resource.get("schema") or {}).get("fields") or []
        return rows * sum(self.WIDTHS.get(str(field.get("type", "")).upper(), 2 + self.VARIABLE) for field in fields)

    def of_tables(self, tables, get):
        """{name: size} of the statement's backticked `project.dataset.table` names that exist."""
        sizes = {}
        for name in tables:
            parts = name.split(".")
            if len(parts) != 3:
                continue
            status, data, _ = get(f"/bigquery/v2/projects/{parts[0]}/datasets/{parts[1]}/tables/{parts[2]}")
            if status == 200:
                try:
                    sizes[name] = self.of_resource(json.loads(data))
                except ValueError:
                    continue
        return sizes

    @classmethod
    def billed(cls, sizes):
        """On-demand billing: each table rounded up to a whole MB and at least 10 MB; the query at least 10 MB."""
        per_table = sum(max(-(-size // cls.MB) * cls.MB, cls.MINIMUM) for size in sizes)
        return max(per_table, cls.MINIMUM)


class InsertIds:
    """tabledata.insertAll's best-effort de-duplication by insertId (the module docstring, "Streaming inserts")."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}  # table path -> set of insertIds inserted

    def fresh(self, path, body):
        """The request body without the rows whose insertId the table has seen, and the kept rows' ids; None when
        every row was seen; the body as it is when it is not an insertAll body."""
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return body, []
        rows = request.get("rows")
        if not isinstance(rows, list):
            return body, []
        with self.lock:
            seen = self.seen.get(path, set())
            kept = [row for row in rows if not (isinstance(row, dict) and row.get("insertId") in seen)]
        if len(kept) == len(rows):
            return body, [row.get("insertId") for row in rows if isinstance(row, dict) and row.get("insertId")]
        if not kept:
            return None, []  # every row was inserted already: BigQuery answers as for an insert
        request["rows"] = kept
        return json.dumps(request).encode(), [row.get("insertId") for row in kept if row.get("insertId")]

    def remember(self, path, ids):
        with self.lock:
            self.seen.setdefault(path, set()).update(ids)
