import ArgumentParser
import SyncKit

/// `bqsync schema sync|policy`: the JSON Schema (draft 2020-12) of sync definitions or of policies, for editors.
struct SchemaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema (draft 2020-12) of sync definitions or policies, for editors.",
        discussion: """
            Save it and point your editor at it, for example with a first line
              # yaml-language-server: $schema=../.bqsync/sync.schema.json
            in syncs.d/*.yaml (README: "Pull requests and editors"). The schema is built from the same rules
            'bqsync validate' uses; validate also checks what a schema cannot (columns against target.schema,
            the policy a sync names, a query's statements).
            """
    )

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case sync, policy
    }

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Which schema: sync (syncs.d/*.yaml) or policy (policies/*.yaml).")
    var kind: Kind

    func run() async throws {
        global.startLogging()
        let schema = JSONSchema.schema(kind == .sync ? .sync : .policy)
        Output.out(schema.rendered())
    }
}
