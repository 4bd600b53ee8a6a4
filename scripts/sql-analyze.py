#!/usr/bin/env python3
"""Offline GoogleSQL checker: runs Google's ZetaSQL analyzer over the statements bqsync sends to BigQuery.

Usage (scripts/sql-analyzer-env installs the Python environment, then runs this script with the same arguments):
    scripts/sql-analyzer-env [FILE] [--bigquery-qualify]
    scripts/sql-analyzer-env --self-test [--bigquery-qualify]

Input is JSON Lines, from FILE or standard input, one statement per line:

    {"sql": "MERGE `proj.dataset.table` AS T USING (...) ...",
     "project": "proj",                       default project for `dataset.table` names, or null
     "tables": {"proj.dataset.table": [...]}, schema fields as in the REST API's tables resource
     "parameters": [{"name": "rows", "type": "STRING"}],
     "origin": "where the statement came from"}

A parameter's type is GoogleSQL type text ("STRING", "ARRAY<STRUCT<id INT64, name STRING>>") or a REST API
QueryParameterType object ({"type": "ARRAY", "arrayType": {"type": "INT64"}}).

Each table is known under its full name in every quoting (`p.d.t`, `p`.`d`.`t`, `p.d`.t, p.d.t, ...) and, when
the record's project is null or the table's own project, under dataset.table as well. Records identical in sql,
tables, parameters and project are analyzed once. The analyzer runs with BigQuery's language: external product
mode (INT64, FLOAT64, NUMERIC, ... type names) and the GoogleSQL features BigQuery supports (BIGQUERY_FEATURES).

QUALIFY: BigQuery reserves the keyword and accepts `FROM t QUALIFY ...` alone. ZetaSQL by default keeps QUALIFY
non-reserved and then refuses it unless WHERE, GROUP BY or HAVING comes first. This checker keeps that stricter
default, so the SQL it passes is also accepted by ZetaSQL-based tools and emulators; --bigquery-qualify reserves
QUALIFY as BigQuery does.

Output: each refused statement (its origins, the analyzer's message, the statement's first 40 lines) on
stdout, then "sql-analyze: N statements, K distinct, F refused" on stderr. Exit status: 0 when every statement
passes, 1 when any is refused, 2 on bad input.

Speed: the ZetaSQL WebAssembly module takes 20-30 s to compile, so the compiled module is cached in the Python
environment's directory (sys.prefix) and later runs load it in a few milliseconds. One analyzer serves the whole
run; each distinct set of tables is registered as a catalog once.
"""
import argparse
import hashlib
import importlib.metadata
import json
import os
import sys
import tempfile

import wasmtime
import zetasql
import zetasql.core.wasm_client
from zetasql.core.exceptions import ServerError
from zetasql.core.local_service import ZetaSqlLocalService
from zetasql.types import (
    AnalyzeRequest, AnalyzerOptions, ErrorMessageMode, LanguageFeature, LanguageOptions, ProductMode, SimpleCatalog,
    SimpleColumn, SimpleTable, Type, TypeKind, ZetaSQLBuiltinFunctionOptions,
)
from zetasql.wasi._pb2.zetasql.local_service import local_service_pb2

# GoogleSQL language features BigQuery supports (zetasql LanguageFeature names without the FEATURE_ prefix).
# Chosen from the features ZetaSQL 0.1.5 knows; features of other engines (protocol buffers, Spanner DDL, graph
# queries, lambdas, DML RETURNING, nanosecond timestamps, ...) stay off so that their syntax is refused.
BIGQUERY_FEATURES = (
    # Queries
    "ANALYTIC_FUNCTIONS", "QUALIFY", "NULL_HANDLING_MODIFIER_IN_ANALYTIC", "TABLESAMPLE", "TABLE_VALUED_FUNCTIONS",
    "GROUP_BY_ROLLUP", "GROUPING_SETS", "GROUPING_BUILTIN", "GROUP_BY_STRUCT", "GROUP_BY_ARRAY", "GROUP_BY_ALL",
    "SELECT_STAR_EXCEPT_REPLACE", "ORDER_BY_IN_AGGREGATE", "LIMIT_IN_AGGREGATE", "HAVING_IN_AGGREGATE",
    "NULL_HANDLING_MODIFIER_IN_AGGREGATE", "NULLS_FIRST_LAST_IN_ORDER_BY", "FOR_SYSTEM_TIME_AS_OF",
    "WITH_RECURSIVE", "PIVOT", "UNPIVOT", "BY_NAME", "CORRESPONDING", "CORRESPONDING_FULL", "PIPES",
    "BARE_ARRAY_ACCESS", "NAMED_ARGUMENTS", "SAFE_FUNCTION_CALL", "IS_DISTINCT", "LIKE_ANY_SOME_ALL",
    "FORMAT_IN_CAST", "CAST_DIFFERENT_ARRAY_TYPES", "ALLOW_DASHES_IN_TABLE_NAME", "AGGREGATION_THRESHOLD",
    "ANNOTATION_FRAMEWORK", "COLLATION_SUPPORT", "ORDER_BY_COLLATE",
    # Types
    "NUMERIC_TYPE", "BIGNUMERIC_TYPE", "DECIMAL_ALIAS", "PARAMETERIZED_TYPES", "CIVIL_TIME", "GEOGRAPHY",
    "JSON_TYPE", "INTERVAL_TYPE", "ENFORCE_MICROS_MODE_IN_INTERVAL_TYPE", "RANGE_TYPE",
    # Functions
    "JSON_ARRAY_FUNCTIONS", "JSON_VALUE_EXTRACTION_FUNCTIONS", "JSON_LAX_VALUE_EXTRACTION_FUNCTIONS",
    "JSON_ARRAY_VALUE_EXTRACTION_FUNCTIONS", "JSON_CONSTRUCTOR_FUNCTIONS", "JSON_MUTATOR_FUNCTIONS",
    "JSON_KEYS_FUNCTION", "JSON_QUERY_LAX", "ENABLE_CONSTANT_EXPRESSION_IN_JSON_PATH",
    "ADDITIONAL_STRING_FUNCTIONS", "ALLOW_REGEXP_EXTRACT_OPTIONALS", "DATE_TIME_CONSTRUCTORS",
    "EXTENDED_DATE_TIME_SIGNATURES", "WEEK_WITH_WEEKDAY", "TIME_BUCKET_FUNCTIONS", "EXTENDED_GEOGRAPHY_PARSERS",
    "ROUND_WITH_ROUNDING_MODE", "CBRT_FUNCTIONS", "INVERSE_TRIG_FUNCTIONS", "ENABLE_FLOAT_DISTANCE_FUNCTIONS",
    "ENCRYPTION",
    # DML
    "DML_UPDATE_WITH_JOIN", "OMIT_INSERT_COLUMN_LIST", "CORRELATED_REFS_IN_NESTED_DML",
    # DDL
    "CREATE_TABLE_PARTITION_BY", "CREATE_TABLE_CLUSTER_BY", "CREATE_TABLE_NOT_NULL",
    "CREATE_TABLE_FIELD_ANNOTATIONS", "CREATE_TABLE_AS_SELECT_COLUMN_LIST", "CREATE_TABLE_LIKE",
    "CREATE_TABLE_COPY", "CREATE_TABLE_CLONE", "CREATE_SNAPSHOT_TABLE", "CREATE_TABLE_WITH_CONNECTION",
    "CREATE_EXTERNAL_TABLE_WITH_TABLE_ELEMENT_LIST", "CREATE_EXTERNAL_TABLE_WITH_PARTITION_COLUMNS",
    "CREATE_EXTERNAL_TABLE_WITH_CONNECTION", "EXTERNAL_SCHEMA_DDL", "CREATE_MATERIALIZED_VIEW_PARTITION_BY",
    "CREATE_MATERIALIZED_VIEW_CLUSTER_BY", "CREATE_MATERIALIZED_VIEW_AS_REPLICA_OF",
    "CREATE_VIEW_WITH_COLUMN_LIST", "CREATE_VIEWS_WITH_COLUMN_OPTIONS", "ALTER_VIEWS_ALTER_COLUMN_SET_OPTIONS",
    "UNENFORCED_PRIMARY_KEYS", "FOREIGN_KEYS", "COLUMN_DEFAULT_VALUE", "ALTER_TABLE_RENAME_COLUMN",
    "ALTER_COLUMN_SET_DATA_TYPE", "CREATE_AGGREGATE_FUNCTION", "CREATE_TABLE_FUNCTION", "TEMPLATE_FUNCTIONS",
    "REMOTE_FUNCTION", "CREATE_FUNCTION_LANGUAGE_WITH_CONNECTION", "REMOTE_MODEL",
    "CREATE_MODEL_WITH_ALIASED_QUERY_LIST", "LOAD_DATA_PARTITIONS", "LOAD_DATA_TEMP_TABLE",
    # Scripting
    "CASE_STMT", "FOR_IN", "REPEAT", "SCRIPT_LABEL",
)

# BigQuery's other names for INT64, which ZetaSQL does not know: catalog types in every catalog here.
INT64_ALIASES = ("INT", "SMALLINT", "INTEGER", "BIGINT", "TINYINT", "BYTEINT")

# Schema field types of the REST API that are not GoogleSQL type names.
LEGACY_TYPE_NAMES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}

STATEMENT_LINES = 40  # lines of a refused statement that are printed


class BadInput(Exception):
    """A record that does not follow the input contract (exit status 2)."""


def load_cached_module(engine, path):
    """wasmtime.Module.from_file with a cache: compiling the 28 MB ZetaSQL module takes 20-30 s, loading the
    compiled form a few milliseconds. The cache file is named after everything that must match (the module file,
    zetasql and wasmtime versions); a missing, stale or unusable cache is rebuilt, and an unwritable location only
    costs the compile."""
    stat = os.stat(path)
    versions = f"{zetasql.__version__} {importlib.metadata.version('wasmtime')}"
    key = hashlib.sha256(f"{versions} {stat.st_size} {stat.st_mtime_ns}".encode())
    cache = os.path.join(sys.prefix, f"zetasql-{key.hexdigest()[:16]}.cwasm")
    if os.path.exists(cache):
        try:
            return wasmtime.Module.deserialize_file(engine, cache)
        except wasmtime.WasmtimeError:
            pass  # written by an incompatible build: compile again below
    print("sql-analyze: compiling the ZetaSQL WebAssembly module (once, about 30 s)", file=sys.stderr)
    module = wasmtime.Module.from_file(engine, path)
    try:
        fd, partial = tempfile.mkstemp(dir=sys.prefix, suffix=".partial")
        with os.fdopen(fd, "wb") as out:
            out.write(module.serialize())
        os.chmod(partial, 0o644)
        os.replace(partial, cache)
    except OSError as error:
        print(f"sql-analyze: cannot cache the compiled module in {sys.prefix}: {error}", file=sys.stderr)
    return module


class CachedModule(wasmtime.Module):
    """Stands in for wasmtime.Module inside zetasql.core.wasm_client, whose WasmClient loads the module with
    Module.from_file(engine, path) and offers no other hook (zetasql 0.1.5 is pinned)."""

    @classmethod
    def from_file(cls, engine, path):
        return load_cached_module(engine, path)


zetasql.core.wasm_client.Module = CachedModule  # before the service's first use, which loads the module


def quote(name):
    """A GoogleSQL quoted identifier."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def schema_fields(fields, where):
    """FIELDS, checked to be a list of REST API schema fields (objects with a string "name")."""
    if not isinstance(fields, list) or not all(isinstance(f, dict) and isinstance(f.get("name"), str) for f in fields):
        raise BadInput(f"{where}: schema is not a list of fields with names")
    return fields


def field_type_text(field):
    """GoogleSQL type text of a REST API schema field (mode REPEATED makes an ARRAY)."""
    kind = str(field.get("type", "")).upper()
    kind = LEGACY_TYPE_NAMES.get(kind, kind)
    if kind == "STRUCT":
        fields = schema_fields(field.get("fields"), f"field {field['name']!r}")
        text = "STRUCT<" + ", ".join(f"{quote(f['name'])} {field_type_text(f)}" for f in fields) + ">"
    elif kind == "RANGE":
        text = f"RANGE<{field_type_text({'name': field['name'], **(field.get('rangeElementType') or {})})}>"
    else:
        text = kind
    return f"ARRAY<{text}>" if str(field.get("mode", "")).upper() == "REPEATED" else text


def parameter_type_text(kind):
    """GoogleSQL type text of a parameter type: type text already, or a REST API QueryParameterType object."""
    if isinstance(kind, str):
        return kind
    if not isinstance(kind, dict):
        raise BadInput(f"parameter type {kind!r} is neither type text nor a QueryParameterType object")
    name = str(kind.get("type", "")).upper()
    if name == "ARRAY":
        return f"ARRAY<{parameter_type_text(kind.get('arrayType'))}>"
    if name == "STRUCT":
        fields = kind.get("structTypes")
        if not isinstance(fields, list) or not all(isinstance(f, dict) for f in fields):
            raise BadInput(f"parameter type {kind!r}: structTypes is not a list of objects")
        return "STRUCT<" + ", ".join((quote(f["name"]) + " " if f.get("name") else "")
                                     + parameter_type_text(f.get("type")) for f in fields) + ">"
    if name == "RANGE":
        return f"RANGE<{parameter_type_text(kind.get('rangeElementType'))}>"
    return LEGACY_TYPE_NAMES.get(name, name)


def table_names(path, project):
    """Every spelling under which a statement may name the table at PATH ("proj.dataset.table"): each split of
    the dotted path into quoted groups, of the full path and (for the default project) of dataset.table. Each
    spelling is a list of catalog names ending in the table's name."""
    parts = path.split(".")
    paths = [parts]
    if len(parts) == 3 and project in (None, parts[0]):
        paths.append(parts[1:])
    names = []
    for segments in paths:
        for cuts in range(2 ** (len(segments) - 1)):  # bit i set: a quote boundary after segment i
            groups, current = [], [segments[0]]
            for i, segment in enumerate(segments[1:]):
                if cuts >> i & 1:
                    groups.append(".".join(current))
                    current = [segment]
                else:
                    current.append(segment)
            names.append(groups + [".".join(current)])
    return names


class Analyzer:
    """One ZetaSQL analyzer with BigQuery's language, for the whole run."""

    def __init__(self, bigquery_qualify=False):
        self.service = ZetaSqlLocalService.get_instance()
        self.language = LanguageOptions(
            product_mode=ProductMode.PRODUCT_EXTERNAL,
            enabled_language_features=[LanguageFeature["FEATURE_" + name] for name in BIGQUERY_FEATURES],
            reserved_keywords=["QUALIFY"] if bigquery_qualify else [],
        )
        self.builtins = ZetaSQLBuiltinFunctionOptions(language_options=self.language)
        self.aliases = [SimpleCatalog.NamedType(name=name, type=Type(type_kind=TypeKind.TYPE_INT64))
                        for name in INT64_ALIASES]
        self.types = {}  # type text -> zetasql Type

    def resolve_type(self, text):
        """The zetasql Type named by GoogleSQL type text, resolved by the analyzer itself (CAST(NULL AS text))."""
        if text not in self.types:
            options = AnalyzerOptions(language_options=self.language)
            try:
                cast = self.service.analyze(sql_expression=f"CAST(NULL AS {text})", options=options,
                                            simple_catalog=SimpleCatalog(name="types", named_type=self.aliases))
            except ServerError as error:
                raise BadInput(f"type {text!r}: {error.message}") from None
            self.types[text] = cast.resolved_expression.type
        return self.types[text]

    def register(self, tables, project):
        """Registers a catalog of TABLES (path -> schema fields) and returns its id."""
        root = {"tables": {}, "catalogs": {}}
        for path, fields in tables.items():
            columns = [SimpleColumn(name=f["name"], type=self.resolve_type(field_type_text(f)),
                                    is_writable_column=True) for f in schema_fields(fields, f"table {path!r}")]
            for name in table_names(path, project):
                node = root
                for catalog in name[:-1]:
                    node = node["catalogs"].setdefault(catalog.lower(),
                                                       {"name": catalog, "tables": {}, "catalogs": {}})
                # A short name shared by tables of two projects stays with the first (the record has no project).
                node["tables"].setdefault(name[-1].lower(), SimpleTable(name=name[-1], column=columns))

        def catalog(name, node):
            return SimpleCatalog(name=name, table=list(node["tables"].values()),
                                 catalog=[catalog(child["name"], child) for child in node["catalogs"].values()])

        simple = catalog("bigquery", root)
        simple.named_type, simple.builtin_function_options = self.aliases, self.builtins
        return self.service.register_catalog(simple_catalog=simple).registered_id

    def unregister(self, catalog_id):
        self.service.unregister_catalog(registered_id=catalog_id)

    def analyze(self, sql, catalog_id, parameters):
        """None if the analyzer accepts SQL, else its message (with the line and a caret)."""
        options = AnalyzerOptions(
            language_options=self.language,
            error_message_mode=ErrorMessageMode.ERROR_MESSAGE_MULTI_LINE_WITH_CARET,
            query_parameters=[AnalyzerOptions.QueryParameter(name=p["name"],
                                                             type=self.resolve_type(parameter_type_text(p["type"])))
                              for p in parameters],
        )
        request = AnalyzeRequest(sql_statement=sql, options=options, registered_catalog_id=catalog_id).to_proto()
        try:
            # Not self.service.analyze(): that also turns the resolved tree into Python objects, which takes as
            # long as the analysis itself, and the verdict needs none of it.
            self.service.wasm_client.call_grpc_func("ZetaSqlLocalService_Analyze", request,
                                                    local_service_pb2.AnalyzeResponse)
        except ServerError as error:
            # raw_error is "Code: N, Message: TEXT"; ServerError.message keeps only TEXT's first line.
            return error.raw_error.split("Message: ", 1)[-1]
        return None


def read_records(stream):
    """The records of a JSON Lines stream, each checked against the input contract."""
    records = []
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise BadInput(f"line {number}: not JSON: {error}") from None
        if not isinstance(record, dict) or not isinstance(record.get("sql"), str):
            raise BadInput(f"line {number}: not an object with a string \"sql\"")
        tables, parameters = record.get("tables") or {}, record.get("parameters") or []
        if not isinstance(tables, dict):
            raise BadInput(f"line {number}: \"tables\" is not an object")
        if not isinstance(parameters, list) or not all(
                isinstance(p, dict) and isinstance(p.get("name"), str) and "type" in p for p in parameters):
            raise BadInput(f"line {number}: \"parameters\" is not a list of objects with \"name\" and \"type\"")
        if record.get("project") is not None and not isinstance(record["project"], str):
            raise BadInput(f"line {number}: \"project\" is neither a string nor null")
        record.update(tables=tables, parameters=parameters, origin=str(record.get("origin") or f"line {number}"))
        records.append(record)
    return records


def run(analyzer, records):
    """Analyzes the distinct records; returns [(record, origins, message)] of those refused and the number of
    distinct records."""
    distinct = {}  # what decides the verdict -> (record, origins)
    for record in records:
        key = json.dumps([record["sql"], record["tables"], record["parameters"], record.get("project")],
                         sort_keys=True)
        distinct.setdefault(key, (record, []))[1].append(record["origin"])
    by_catalog = {}  # each catalog is registered once, for all the statements that use it
    for record, origins in distinct.values():
        key = json.dumps([record["tables"], record.get("project")], sort_keys=True)
        by_catalog.setdefault(key, []).append((record, origins))
    refused = []
    for group in by_catalog.values():
        catalog_id = analyzer.register(group[0][0]["tables"], group[0][0].get("project"))
        try:
            for record, origins in group:
                message = analyzer.analyze(record["sql"], catalog_id, record["parameters"])
                if message is not None:
                    refused.append((record, origins, message))
        finally:
            analyzer.unregister(catalog_id)
    return refused, len(distinct)


def report(refused):
    """Prints each refused statement: its origins, the analyzer's message and the statement's first lines."""
    for record, origins, message in refused:
        origins = list(dict.fromkeys(origins))  # each origin once
        also = ""
        if len(origins) > 1:
            also = f" (and {len(origins) - 1} more: {', '.join(origins[1:4])}{', ...' if len(origins) > 4 else ''})"
        print(f"REFUSED  {origins[0]}{also}")
        print("  " + message.replace("\n", "\n  "))
        lines = record["sql"].strip("\n").splitlines()
        for number, line in enumerate(lines[:STATEMENT_LINES], 1):
            print(f"  {number:4} | {line}")
        if len(lines) > STATEMENT_LINES:
            print(f"       | ... {len(lines) - STATEMENT_LINES} more lines")
        print()


# The self-test's catalog: a target table and a staging table with BigQuery's schema fields.
SELF_TEST_TABLES = {
    "proj.ds.target": [
        {"name": "id", "type": "INTEGER", "mode": "REQUIRED"},
        {"name": "rev", "type": "INT64"},
        {"name": "name", "type": "STRING"},
        {"name": "amount", "type": "NUMERIC"},
        {"name": "doc", "type": "JSON"},
        {"name": "tags", "type": "STRING", "mode": "REPEATED"},
        {"name": "address", "type": "RECORD", "fields": [{"name": "city", "type": "STRING"},
                                                          {"name": "zip", "type": "STRING"}]},
        {"name": "updated", "type": "TIMESTAMP"},
        {"name": "deleted", "type": "BOOLEAN"},
    ],
    "proj.ds.staging": [
        {"name": "id", "type": "STRING"}, {"name": "rev", "type": "STRING"}, {"name": "name", "type": "STRING"},
        {"name": "doc", "type": "STRING"},
    ],
}
ROWS = [{"name": "rows", "type": "STRING"}]
MERGE_FROM_STAGING = """MERGE `proj.ds.target` AS T
USING (
SELECT SAFE_CAST(r.`id` AS INT64) AS `id`, CAST(r.`rev` AS INT64) AS `rev`, r.`name` AS `name`
FROM `proj.ds.staging` AS r{where}
QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY rev DESC) = 1
) AS S
ON T.`id` = S.`id`
WHEN MATCHED AND (T.`rev` IS NULL OR S.`rev` >= T.`rev`) THEN UPDATE SET `rev` = S.`rev`, `name` = S.`name`
WHEN NOT MATCHED THEN INSERT (`id`, `rev`, `name`) VALUES (S.`id`, S.`rev`, S.`name`)"""
MERGE_FROM_PARAMETER = """MERGE `proj`.`ds`.`target` AS T
USING (
SELECT CAST(JSON_VALUE(r, '$[0]') AS INT64) AS `id`, PARSE_NUMERIC(JSON_VALUE(r, '$[1]')) AS `amount`,
  PARSE_JSON(JSON_VALUE(r, '$[2]'), wide_number_mode=>'round') AS `doc`,
  CAST(JSON_VALUE(r, '$[3]') AS TIMESTAMP) AS `updated`, CAST(JSON_VALUE(r, '$[4]') AS BOOL) AS `deleted`
FROM UNNEST(JSON_QUERY_ARRAY(@rows)) AS r
) AS S
ON T.`id` = S.`id`
WHEN MATCHED AND COALESCE(S.`deleted`, FALSE) THEN DELETE
WHEN MATCHED THEN UPDATE SET `amount` = S.`amount`, `doc` = S.`doc`, `updated` = S.`updated`
WHEN NOT MATCHED AND NOT COALESCE(S.`deleted`, FALSE) THEN INSERT (`id`, `amount`, `doc`, `updated`)
  VALUES (S.`id`, S.`amount`, S.`doc`, S.`updated`)
WHEN NOT MATCHED BY SOURCE AND T.`updated` < TIMESTAMP '2020-01-01' THEN DELETE"""

# (description, expected verdict, statement, parameters); "qualify": refused unless --bigquery-qualify.
SELF_TESTS = [
    ("MERGE, WHERE TRUE before QUALIFY", "pass", MERGE_FROM_STAGING.format(where="\nWHERE TRUE"), []),
    ("MERGE, QUALIFY without WHERE", "qualify", MERGE_FROM_STAGING.format(where=""), []),
    ("MERGE from @rows: PARSE_JSON wide_number_mode, NOT MATCHED BY SOURCE", "pass", MERGE_FROM_PARAMETER, ROWS),
    ("SELECT of an unknown column", "refuse", "SELECT id, colour FROM `proj.ds.target`", []),
    ("INT64 compared with a STRING", "refuse", "SELECT name FROM `proj.ds.target` WHERE id = 'abc'", []),
    ("dataset.table with the default project, JSON_VALUE, TO_JSON_STRING, nested fields", "pass",
     "SELECT JSON_VALUE(doc, '$.a') AS a, TO_JSON_STRING(t) AS js, address.city, ARRAY_LENGTH(tags) AS n\n"
     "FROM ds.target AS t", []),
    ("ARRAY<STRUCT> parameter in UNNEST", "pass",
     "SELECT p.id, p.name FROM UNNEST(@people) AS p WHERE p.id > 0",
     [{"name": "people", "type": "ARRAY<STRUCT<id INT64, name STRING>>"}]),
    ("ARRAY<STRUCT> parameter as a REST QueryParameterType", "pass", "SELECT COUNT(*) FROM UNNEST(@people)",
     [{"name": "people", "type": {"type": "ARRAY", "arrayType": {"type": "STRUCT", "structTypes": [
         {"name": "id", "type": {"type": "INT64"}}, {"name": "name", "type": {"type": "STRING"}}]}}}]),
    ("undeclared parameter", "refuse", "SELECT * FROM UNNEST(JSON_QUERY_ARRAY(@rows_missing))", []),
    ("INSERT ... SELECT with SAFE_CAST and PARSE_BIGNUMERIC", "pass",
     "INSERT INTO `proj.ds.target` (id, name, amount)\n"
     "SELECT SAFE_CAST(id AS INT64), name, CAST(PARSE_BIGNUMERIC(rev) AS NUMERIC) FROM `proj.ds.staging`", []),
    ("CREATE TABLE with PARTITION BY, CLUSTER BY, OPTIONS", "pass",
     "CREATE TABLE IF NOT EXISTS `proj.ds.new_table` (id INT64 NOT NULL, payload JSON, created TIMESTAMP,\n"
     "  tags ARRAY<STRING>, amount BIGNUMERIC)\n"
     "PARTITION BY DATE(created) CLUSTER BY id OPTIONS (expiration_timestamp = TIMESTAMP '2030-01-01')", []),
    ("DROP TABLE", "pass", "DROP TABLE IF EXISTS `proj.ds.new_table`", []),
    ("a table not in the catalog", "refuse", "SELECT * FROM `proj.ds.missing`", []),
]


def self_test(bigquery_qualify):
    """Analyzes SELF_TESTS, prints each verdict and returns the exit status (0 when all are as expected)."""
    analyzer = Analyzer(bigquery_qualify)
    catalog_id = analyzer.register(SELF_TEST_TABLES, "proj")
    failures = 0
    for description, expected, sql, parameters in SELF_TESTS:
        if expected == "qualify":
            expected = "pass" if bigquery_qualify else "refuse"
        message = analyzer.analyze(sql, catalog_id, parameters)
        verdict = "pass" if message is None else "refuse"
        failures += verdict != expected
        print(f"{'ok  ' if verdict == expected else 'FAIL'} {description}: expected {expected}, got {verdict}")
        if message is not None:
            print("       " + message.replace("\n", "\n       "))
    analyzer.unregister(catalog_id)
    print(f"self-test: {len(SELF_TESTS) - failures} passed, {failures} failed")
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", nargs="?", help="JSON Lines input (default: standard input)")
    parser.add_argument("--self-test", action="store_true", help="analyze built-in statements and check verdicts")
    parser.add_argument("--bigquery-qualify", action="store_true",
                        help="reserve QUALIFY as BigQuery does (QUALIFY then needs no WHERE, GROUP BY or HAVING)")
    args = parser.parse_args()
    if args.self_test:
        return self_test(args.bigquery_qualify)
    try:
        with (open(args.file, encoding="utf-8") if args.file else sys.stdin) as stream:
            records = read_records(stream)
    except (OSError, UnicodeDecodeError) as error:
        print(f"sql-analyze: cannot read {args.file or 'standard input'}: {error}", file=sys.stderr)
        return 2
    except BadInput as error:
        print(f"sql-analyze: bad input: {error}", file=sys.stderr)
        return 2
    try:
        refused, distinct = run(Analyzer(args.bigquery_qualify), records)
    except BadInput as error:  # a schema or parameter type the analyzer does not know
        print(f"sql-analyze: bad input: {error}", file=sys.stderr)
        return 2
    report(refused)
    print(f"sql-analyze: {len(records)} statements, {distinct} distinct, {len(refused)} refused", file=sys.stderr)
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
