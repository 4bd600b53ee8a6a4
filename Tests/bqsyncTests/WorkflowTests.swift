import Foundation
import SyncTestSupport
import Testing

/// docs/ci/bqsync-pr.yml, the pull-request workflow to copy: valid by GitHub's workflow schema (check-jsonschema's
/// vendored copy), doing what README says, with bqsync's real flags, and its apply step's summary right for each
/// exit status (run here with a stand-in bqsync).
@Suite("pull-request workflow", .enabled(if: CheckJSONSchema.runs, "check-jsonschema could not be installed"))
struct WorkflowTests {
    static let path = E2E.repoRoot + "/docs/ci/bqsync-pr.yml"

    /// The workflow as JSON, read by the YAML parser check-jsonschema itself uses (ruamel.yaml, in its venv).
    static func workflow() throws -> [String: Any] {
        let python = (try CheckJSONSchema.executable() as NSString).deletingLastPathComponent + "/python"
        let script =
            "import json,sys\nfrom ruamel.yaml import YAML\nprint(json.dumps(YAML(typ='safe').load(open(sys.argv[1]))))"
        let result = try Shell.run([python, "-c", script, path], timeout: 60)
        #expect(result.status == 0, "\(result.output)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
    }

    static func steps(_ workflow: [String: Any], job: String) throws -> [[String: Any]] {
        let jobs = try #require(workflow["jobs"] as? [String: Any])
        let job = try #require(jobs[job] as? [String: Any])
        return try #require(job["steps"] as? [[String: Any]])
    }

    static func step(_ steps: [[String: Any]], named name: String) throws -> [String: Any] {
        try #require(steps.first { ($0["name"] as? String) == name }, "no step '\(name)'")
    }

    @Test("it is a valid GitHub Actions workflow (check-jsonschema --builtin-schema vendor.github-workflows)")
    func schema() throws {
        let result = try CheckJSONSchema.run(["--builtin-schema", "vendor.github-workflows", Self.path])
        #expect(result.status == 0, "\(result.output)")
    }

    @Test("pull request: validate with annotations, plan to plan.json, one sticky comment, the plan kept")
    func pullRequest() throws {
        let workflow = try Self.workflow()
        // ruamel reads `on` as a string key (YAML 1.2), as GitHub does.
        let on = try #require(workflow["on"] as? [String: Any])
        #expect(on["pull_request"] != nil && on["push"] != nil)
        let steps = try Self.steps(workflow, job: "plan")
        #expect(try Self.step(steps, named: "Validate")["run"] as? String == "bqsync validate --format github")
        let plan = try #require(try Self.step(steps, named: "Plan")["run"] as? String)
        #expect(plan.contains("bqsync plan --detailed-exitcode --out plan.json --format markdown > plan.md"))
        let comment = try Self.step(steps, named: "Comment the plan (one comment, updated in place)")
        #expect(comment["uses"] as? String == "actions/github-script@v7")
        let script = try #require((comment["with"] as? [String: Any])?["script"] as? String)
        for piece in ["<!-- bqsync-plan -->", "updateComment", "createComment", "c.body.includes(marker)", "60000"] {
            #expect(script.contains(piece), "the comment script lacks \(piece)")
        }
        let keep = try Self.step(steps, named: "Keep the plan file")
        #expect(keep["uses"] as? String == "actions/upload-artifact@v4")
        #expect(((keep["with"] as? [String: Any])?["path"] as? String)?.contains("plan.json") == true)
        #expect((keep["with"] as? [String: Any])?["name"] as? String == "bqsync-plan")
    }

    @Test("merge: the reviewed artifact is applied, one apply at a time, credentials never on disk")
    func merge() throws {
        let workflow = try Self.workflow()
        let jobs = try #require(workflow["jobs"] as? [String: Any])
        let apply = try #require(jobs["apply"] as? [String: Any])
        let concurrency = try #require(apply["concurrency"] as? [String: Any])
        #expect((concurrency["group"] as? String)?.hasPrefix("bqsync-apply-") == true)
        #expect(concurrency["cancel-in-progress"] as? Bool == false)
        let steps = try Self.steps(workflow, job: "apply")
        let download = try #require(steps.first { ($0["uses"] as? String) == "actions/download-artifact@v4" })
        let with = try #require(download["with"] as? [String: Any])
        #expect(with["name"] as? String == "bqsync-plan")
        #expect(with["run-id"] as? String == "${{ steps.reviewed.outputs.run-id }}")
        #expect(try Self.step(steps, named: "Apply the reviewed plan")["run"] as? String != nil)
        for job in ["plan", "apply"] {
            let auth = try #require(
                try Self.steps(workflow, job: job).first { ($0["uses"] as? String) == "google-github-actions/auth@v2" })
            let settings = try #require(auth["with"] as? [String: Any])
            #expect(settings["create_credentials_file"] as? Bool == false)
            #expect(settings["token_format"] as? String == "access_token")
            #expect(settings["credentials_json"] == nil)
        }
        let text = try String(contentsOfFile: Self.path, encoding: .utf8)
        for secret in ["private_key", "BEGIN PRIVATE", "ya29.", "GOOGLE_APPLICATION_CREDENTIALS"] {
            #expect(!text.contains(secret))
        }
    }

    @Test("the apply step's summary: applied, refused as stale (exit 3, shown as such), failed", arguments: [0, 3, 1])
    func applySummary(_ code: Int32) throws {
        let steps = try Self.steps(try Self.workflow(), job: "apply")
        let script = try #require(try Self.step(steps, named: "Apply the reviewed plan")["run"] as? String)
        let workspace = try Workspace(prefix: "workflow")
        try workspace.write(
            "bin/bqsync",
            "#!/bin/sh\necho \"bqsync $*\"\necho 'plan is stale: syncs.d/a.yaml changed' >&2\nexit \(code)\n")
        chmod(workspace.path("bin/bqsync"), 0o755)
        try workspace.write("step.sh", script)
        try workspace.write("summary.md", "")
        let result = try Shell.run(
            [
                "/usr/bin/env", "PATH=\(workspace.path("bin")):/usr/bin:/bin",
                "GITHUB_STEP_SUMMARY=\(workspace.path("summary.md"))",
                "PR=7", "/bin/bash", "-e", workspace.path("step.sh"),
            ],
            timeout: 30, directory: workspace.root)
        #expect(result.status == code, "\(result.output)")
        let summary = try workspace.read("summary.md")
        #expect(summary.contains("## bqsync apply of the plan reviewed in #7"))
        #expect(summary.contains("bqsync apply plan.json"), "the log is in the summary:\n\(summary)")
        switch code {
        case 0: #expect(summary.contains("**Applied.**"))
        case 3: #expect(summary.contains("**Refused (exit 3): nothing was sent.** The plan is stale"))
        default: #expect(summary.contains("**Failed (exit 1).**"))
        }
    }

    @Test("the flags it uses are bqsync's: validate --format github annotates, plan has its options")
    func flags() throws {
        let workspace = try Workspace(prefix: "workflow")
        try workspace.write(
            "syncs.d/bad.yaml",
            "version: 1\nsource: {type: ndjsn, path: x.ndjson}\ntarget: {table: a.b}\nmerge: {keys: [id]}\n")
        // As the workflow runs it: from the repository's root, without -C, so annotations name repository paths.
        let validate = try Shell.run(
            [try E2E.binary, "validate", "--format", "github"], timeout: 60, directory: workspace.root)
        #expect(validate.status == 1)
        #expect(
            validate.output.hasPrefix(
                "::error file=syncs.d/bad.yaml,line=2,col=16::'source.type' must be one of"), "\(validate.output)")
        let help = try workspace.run("plan", "--help")
        for option in ["--detailed-exitcode", "--out", "--format"] { #expect(help.stdout.contains(option), "\(help)") }
    }
}
