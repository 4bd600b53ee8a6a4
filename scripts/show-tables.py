"""Prints the rows of tables in the local emulator (demo helper): show-tables.py HOST PROJECT DATASET.TABLE…"""
import json
import sys
import urllib.request

host, project, tables = sys.argv[1], sys.argv[2], sys.argv[3:]
for table in tables:
    body = json.dumps({"query": f"SELECT * FROM `{project}.{table}` ORDER BY 1, 2", "useLegacySql": False}).encode()
    request = urllib.request.Request(f"{host}/bigquery/v2/projects/{project}/queries", data=body,
                                     headers={"Content-Type": "application/json"})
    answer = json.load(urllib.request.urlopen(request))
    fields = [f["name"] for f in answer.get("schema", {}).get("fields", [])]
    rows = [[cell.get("v") for cell in row["f"]] for row in answer.get("rows", [])]
    print(f"\n{project}.{table}: {len(rows)} rows")
    widths = [min(28, max([len(name)] + [len(str(r[i])) for r in rows])) for i, name in enumerate(fields)]
    print("  " + "  ".join(name.ljust(w)[:w] for name, w in zip(fields, widths)))
    for row in rows:
        print("  " + "  ".join(str(v).ljust(w)[:w] for v, w in zip(row, widths)))
