"""Run bqemulator with every REST handler on its event loop: `python scripts/bqemulator-serial.py start …`.

bqemulator serves all SQL from one DuckDB connection. Its `async` routes (jobs.insert, jobs.query,
tabledata.insertAll, …) run on the event loop, one at a time, but its plain `def` routes run on Starlette's
thread pool, and one of them, tabledata.list, queries that same connection. DuckDB's Python connection is not
thread-safe (its documentation: use one `cursor()` per thread), so a tabledata.list that overlaps a query job
swaps results with it. The job then answers another statement's rows, no rows, or fails with "'NoneType'
object has no attribute 'schema'", and the list answers a 500 or the wrong rows. bqsync reads its run log
with tabledata.list while other syncs' jobs run, so the test suite, which runs many applies side by side on
one emulator, hit this now and then (docs/bigquery.md, "The emulator, and the contract model …").

BigQuery has no such race. Here the fix belongs to the emulator, not to bqsync: FastAPI is made to call the
`def` handlers and dependencies on the event loop, like the `async` ones. None of them waits for anything,
so this only removes the overlap. EmulatorClientTests.queriesAndTableReadsSideBySideEachGetTheirOwnRows
proves it: against bqemulator unpatched it finds wrong answers. The same overlap, with tabledata.insertAll
under the emulator's write lock, could also deadlock it for good.
"""

import sys

import fastapi.dependencies.utils
import fastapi.routing


async def _call_on_the_loop(func, *args, **kwargs):
    return func(*args, **kwargs)


# Both modules import the name from starlette.concurrency, so each binding is replaced where it is used. A FastAPI
# without that name would take no patch and run the race again: refuse to start instead.
for module in (fastapi.routing, fastapi.dependencies.utils):
    if not hasattr(module, "run_in_threadpool"):
        sys.exit(f"bqemulator-serial: {module.__name__} has no run_in_threadpool; this FastAPI needs a new patch")
    module.run_in_threadpool = _call_on_the_loop

from bqemulator.cli import main  # noqa: E402 (after the patch, so no route is built before it)

if __name__ == "__main__":
    sys.argv[0] = "bqemulator"
    sys.exit(main())
