import ArgumentParser

@main
struct Loketd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loketd",
        abstract: "Loket server-side: the HTTP API, database migrations and sample data.",
        discussion: """
            Database settings come from --database-url, else LOKET_DATABASE_URL, else DATABASE_URL,
            else libpq's own PG* environment variables (PGHOST, PGPORT, PGUSER, PGDATABASE, …).
            A URL (postgres://user@host:5432/db) and a key=value conninfo are both accepted.
            """,
        subcommands: [Serve.self, Worker.self, Migrate.self, Seed.self, Admin.self]
    )
}
