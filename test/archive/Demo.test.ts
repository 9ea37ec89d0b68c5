/**
 * The archive's entry points as a user runs them, on the test database: `npm run demo`
 * twice (the second ingests nothing new) and `npm start -- --no-http` stopped by SIGINT.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { exec, expectSuccess } from "../support/Command.js"
import * as TestDatabase from "../support/TestDatabase.js"

const lastLine = (stdout: string) => stdout.trimEnd().split("\n").at(-1)

it.live(
  "npm run demo ingests the sample set once; npm start resumes without re-ingesting and stops on SIGINT",
  () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase.TestDatabase
      const env = { DATABASE_URL: url, ARCHIVE_SCHEMA: "archive_demo" }

      const first = yield* exec("npm", ["run", "demo"], { env, timeoutMillis: 60_000 })
      expectSuccess("npm run demo", first)
      expect(first.stdout).toMatch(/^progress: pulled \d+ · validated \d+ \(rejected \d+\) · published \d+ · /m)
      expect(lastLine(first.stdout)).toBe(
        "demo: published 1128 records, rejected 72, indexed 1128 vector / 1128 keyword"
      )

      const second = yield* exec("npm", ["run", "demo"], { env, timeoutMillis: 60_000 })
      expectSuccess("npm run demo (again)", second)
      expect(lastLine(second.stdout)).toBe("demo: published 0 records, rejected 0, indexed 0 vector / 0 keyword")

      // What `npm start` runs; signalled directly, as Ctrl-C signals the whole process group.
      const start = yield* exec(process.execPath, ["--import", "tsx", "src/cli/main.ts", "--no-http"], {
        env,
        interruptWhen: /^running; press Ctrl-C to stop$/m,
        timeoutMillis: 60_000
      })
      expectSuccess("src/cli/main.ts --no-http, then SIGINT", start)
      expect(start.stdout).toMatch(/^ {2}records published +0$/m)

      const sql = yield* SqlClient.SqlClient
      const [counts] = yield* sql<{ records: number; open: number; runs: number }>`SELECT
        (SELECT count(*)::int FROM archive_demo.records) AS records,
        (SELECT count(*)::int FROM archive_demo.source_runs) AS runs,
        (SELECT count(*)::int FROM sluice.deliveries WHERE status IN ('pending', 'claimed')) AS open`
      expect(counts).toEqual({ records: 1128, runs: 1, open: 0 })
    }).pipe(Effect.provide(TestDatabase.layer)),
  180_000
)

it.live(
  "two processes on one database share the work without duplicates",
  () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase.TestDatabase
      const env = { DATABASE_URL: url, SLUICE_SCHEMA: "sluice_pair", ARCHIVE_SCHEMA: "archive_pair" }
      const run = () => exec(process.execPath, ["--import", "tsx", "src/cli/demo.ts"], { env, timeoutMillis: 90_000 })
      const [a, b] = yield* Effect.all([run(), run()], { concurrency: 2 })
      expectSuccess("first demo process", a)
      expectSuccess("second demo process", b)

      const sql = yield* SqlClient.SqlClient
      const [counts] = yield* sql<{ records: number; depositions: number; runs: number; keyword: number }>`SELECT
        (SELECT count(*)::int FROM archive_pair.records) AS records,
        (SELECT count(*)::int FROM archive_pair.depositions) AS depositions,
        (SELECT count(*)::int FROM archive_pair.source_runs) AS runs,
        (SELECT count(*)::int FROM archive_pair.keyword_index) AS keyword`
      expect(counts).toEqual({ records: 1128, depositions: 1200, runs: 1, keyword: 1128 })
      const [handled] = yield* sql<{ duplicated: number; open: number }>`SELECT
        (SELECT count(*)::int FROM sluice_pair.deliveries WHERE attempts > 1) AS duplicated,
        (SELECT count(*)::int FROM sluice_pair.deliveries WHERE status IN ('pending', 'claimed', 'failed')) AS open`
      expect(handled).toEqual({ duplicated: 0, open: 0 })
    }).pipe(Effect.provide(TestDatabase.layer)),
  180_000
)
