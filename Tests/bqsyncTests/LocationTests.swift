import Foundation
import SyncTestSupport
import Testing

/// Targets in different locations, through the fault proxy's contract model (Tests/BigQueryModel/bqcontract.py), which keeps
/// the rules the emulator does not: a job runs in one location and cannot reference a table in another, and a
/// job outside the US and EU multi-regions is found only when its location is named (docs/bigquery.md,
/// "Locations").
@Suite struct LocationTests {
    /// One plan: a sync into an existing US table (inline) and one into a table, and a dataset, that it creates
    /// in europe-west1 (staged: a staging table, a load and a MERGE, all of which must be there too).
    @Test func onePlanWithTargetsInUSAndEuropePlansAndApplies() throws {
        let us = MergeScenario(seed: 350)
        let eu = MergeScenario(seed: 351)
        let ws = try Reliability.workspace("loc_us", scenario: us, strategy: "inline", batch: 5)
        let euDataset = ws.dataset + "_eu"
        defer {
            _ = try? EmulatorSQL(host: ws.host).status(
                "DELETE", "/bigquery/v2/projects/\(E2E.project)/datasets/\(euDataset)?deleteContents=true")
        }
        var euSync = EndToEndTests.sync(
            "eu", source: "type: ndjson\npath: data/eu.ndjson", table: "\(E2E.project).\(euDataset).t",
            schema: MergeScenario.schema, keys: ["id"], orderBy: "rev", deleteWhen: "del", batch: 5, strategy: "staged")
        euSync = euSync.replacingOccurrences(
            of: "  create_if_missing: true\n", with: "  create_if_missing: true\n  location: europe-west1\n")
        try ws.write("syncs.d/eu.yaml", euSync)
        try ws.write("syncs.d/data/eu.ndjson", try eu.sourceFile)

        let proxy = try FaultProxy(upstream: ws.host)
        let planned = try ws.run(["plan", "--out", "plan.json"], environment: proxy.holdingEnvironment)
        #expect(planned.status == 0, "\(planned)")
        let applied = try ws.run(
            ["--log-level", "info", "--log-format", "json", "apply", "plan.json"], environment: proxy.holdingEnvironment
        )
        #expect(applied.status == 0, "\(applied)")
        #expect(try ws.rows("t", orderBy: "id") == us.expected)
        #expect(
            try EmulatorSQL(host: ws.host).rows("SELECT * FROM `\(E2E.project).\(euDataset).t` ORDER BY id")
                == MergeScenario.rendered(eu.merged(into: [])))
        let dataset = try Curl.object("GET", ws.host + "/bigquery/v2/projects/\(E2E.project)/datasets/\(euDataset)")
        #expect(dataset["location"] as? String == "europe-west1", "the dataset was created where target.location says")
        // No job spanned two locations, and every look-up of a europe-west1 job named its location.
        let stats = try proxy.stats()
        #expect(stats.locationErrors.isEmpty, "\(stats.locationErrors)")
    }

    @Test func aTargetLocationTheDatasetIsNotInIsRefusedAtItsLine() throws {
        let scenario = MergeScenario(seed: 352)
        let ws = try Reliability.workspace("loc_clash", scenario: scenario, strategy: "inline", batch: 5)
        let text = try String(contentsOfFile: ws.path("syncs.d/s.yaml"), encoding: .utf8)
        try ws.write(
            "syncs.d/s.yaml",
            text.replacingOccurrences(
                of: "  create_if_missing: true\n", with: "  create_if_missing: true\n  location: EU\n"))
        let planned = try ws.run("--log-level", "debug", "--log-format", "json", "plan")
        #expect(planned.status == 1, "\(planned)")
        #expect(planned.stderr.contains("s.yaml:"), "\(planned)")
        #expect(
            planned.stderr.contains("target.location is EU, but dataset \(E2E.project).\(ws.dataset) is in US"),
            "\(planned)")
        #expect(planned.sentJobs.isEmpty, "\(planned.sentJobs)")
    }

    /// A query source that reads a US table into a europe-west1 target: BigQuery would fail the MERGE (one job,
    /// one location), so the plan refuses it at the query's line, naming both locations.
    @Test func aQuerySourceReadingAnotherLocationIsRefusedAtPlanTime() throws {
        let scenario = MergeScenario(seed: 353)
        let ws = try Reliability.workspace("loc_query", scenario: scenario, strategy: "inline", batch: 5)
        let euDataset = ws.dataset + "_eu"
        try ws.write(
            "syncs.d/q.yaml",
            """
            version: 1
            name: q
            source:
              type: query
              query: SELECT id, v, rev, del FROM `\(ws.table("t"))`
            target:
              table: \(E2E.project).\(euDataset).copy
              create_if_missing: true
              location: europe-west1
              schema: [\(MergeScenario.schema.joined(separator: ", "))]
            merge: {keys: [id]}

            """)
        try FileManager.default.removeItem(atPath: ws.path("syncs.d/s.yaml"))
        let proxy = try FaultProxy(upstream: ws.host)
        let planned = try ws.run(["plan"], environment: proxy.holdingEnvironment)
        #expect(planned.status == 1, "\(planned)")
        #expect(planned.stderr.contains("q.yaml:5:"), "at source.query: \(planned)")
        #expect(
            planned.stderr.contains(
                "the query reads \(E2E.project).\(ws.dataset), which is in US, but the target \(E2E.project).\(euDataset).copy "
                    + "is in europe-west1"), "\(planned)")
        #expect(
            try EmulatorSQL(host: ws.host).status("GET", "/bigquery/v2/projects/\(E2E.project)/datasets/\(euDataset)")
                == 404, "a plan creates nothing")
    }
}
