/**
 * `npm start` (examples/main.ts) against the test database: a first run places the orders
 * and drains the pipeline; a second run finds every order already placed and emits
 * nothing new (dedup keys), then stops cleanly on SIGINT, as after Ctrl-C.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import * as TestDatabase from "./support/TestDatabase.js"

const root = fileURLToPath(new URL("..", import.meta.url))

interface Output {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs a command to completion; with `interruptWhen`, sends SIGINT once stdout matches it.
 * `npm_*` variables are removed from the environment, as in a user's shell.
 */
const exec = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly env: Readonly<Record<string, string>>; readonly interruptWhen?: RegExp }
) =>
  Effect.async<Output>((resume) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)))
    const child = spawn(command, args, { cwd: root, env: { ...env, ...options.env }, stdio: "pipe" })
    let stdout = ""
    let stderr = ""
    let interrupted = false
    child.stdout.on("data", (chunk) => {
      stdout += chunk
      if (!interrupted && options.interruptWhen?.test(stdout)) {
        interrupted = true
        child.kill("SIGINT")
      }
    })
    child.stderr.on("data", (chunk) => stderr += chunk)
    child.on("error", (cause) => resume(Effect.die(cause)))
    child.on("close", (code, signal) => resume(Effect.succeed({ code, signal, stdout, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

const expectSuccess = (what: string, output: Output) =>
  expect(output.code, `${what} failed (${output.signal ?? output.code}):\n${output.stdout}\n${output.stderr}`).toBe(0)

const summary =
  /^summary: 1000 orders, 1000 payments captured, 1000 receipts sent, 1000 shipments \(eu 666, us 334\), 0 dead-lettered; drained in \d+\.\ds$/m

const countEvents = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<{ type: string; n: number }>`SELECT type, count(*)::int AS n FROM sluice.events GROUP BY type ORDER BY type`
)

it.live(
  "examples/main.ts drains the example pipeline; a second run adds nothing and stops on SIGINT",
  () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase.TestDatabase
      const env = { DATABASE_URL: url }

      const first = yield* exec("npm", ["start", "--", "--exit-when-drained"], { env })
      expectSuccess("npm start -- --exit-when-drained", first)
      expect(first.stdout).toContain("placed 1000 new orders (0 were already there)")
      expect(first.stdout).toMatch(/^\[\d+\.\ds\] pending\/delivered: payments \d+\/\d+ · receipts \d+\/\d+ · /m)
      expect(first.stdout).toMatch(summary)
      const events = yield* countEvents
      expect(events).toEqual([
        { type: "example.OrderPlaced", n: 1000 },
        { type: "example.PaymentCaptured", n: 1000 },
        { type: "example.ShipmentScheduled", n: 1000 }
      ])

      // Without the flag it keeps running after the summary, until Ctrl-C.
      const second = yield* exec(process.execPath, ["--import", "tsx", "examples/main.ts"], {
        env,
        interruptWhen: /^running; press Ctrl-C to stop$/m
      })
      expectSuccess("examples/main.ts, then SIGINT", second)
      expect(second.stdout).toContain("placed 0 new orders (1000 were already there)")
      expect(second.stdout).toMatch(summary)
      expect(second.stdout).toMatch(/^stopping: /m)
      expect(yield* countEvents).toEqual(events)

      const sql = yield* SqlClient.SqlClient
      const open = yield* sql<{ n: number }>`
        SELECT count(*)::int AS n FROM sluice.deliveries WHERE status NOT IN ('delivered', 'skipped')`
      expect(open[0]!.n).toBe(0)
    }).pipe(Effect.provide(TestDatabase.layer)),
  180_000
)
