import BigQuery
import Foundation
import SyncTestSupport
import Testing

/// Issue 18, point 10: job log lines carry the sync they are for.
@Suite("job log: the sync's name")
struct JobLogSyncTests {
    let select = QueryJob(sql: "SELECT id FROM `proj-test.crm.contacts`", reads: [table("proj-test.crm.contacts")])

    @Test func aJobLabelledForASyncNamesItInTheLog() async throws {
        let harness = Harness()
        var job = select
        job.labels = ["bqsync-sync": "contacts"]
        _ = try await harness.client.query(job)
        let lines = harness.logs.entries.filter { $0.hasPrefix("info job ") }
        #expect(!lines.isEmpty && lines.allSatisfy { $0.contains("sync=contacts") }, "\(harness.logs.entries)")
        #expect(await harness.client.records.allSatisfy { $0.sync == "contacts" })
    }

    @Test func theCallingTasksSyncNamesItExactly() async throws {
        let harness = Harness()
        try await JobLog.$sync.withValue("Contacts-EU") {
            _ = try await harness.client.query(select)
        }
        let lines = harness.logs.entries.filter { $0.hasPrefix("info job ") }
        #expect(!lines.isEmpty && lines.allSatisfy { $0.contains("sync=Contacts-EU") }, "\(harness.logs.entries)")
    }

    @Test func aJobForNoSyncNamesNone() async throws {
        let harness = Harness()
        _ = try await harness.client.query(select)
        #expect(!harness.logs.entries.contains { $0.contains("sync=") }, "\(harness.logs.entries)")
    }
}
