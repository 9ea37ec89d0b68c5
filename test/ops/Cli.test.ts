/**
 * The `sluice` tool as a user runs it: a child process (`node --import tsx src/cli/sluice.ts`)
 * on this file's test database, checked against the database afterwards.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import * as Event from "../../src/runtime/Event.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import { Store } from "../../src/runtime/Store.js"
import * as Child from "../support/Child.js"
import { exec, type Output } from "../support/Command.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

class Item extends Event.Class<Item>()("cli.Item", { n: Schema.Number }) {}
class Other extends Event.Class<Other>()("cli.Other", { n: Schema.Number }) {}

const script = "src/cli/sluice.ts"

/** Runs `sluice ...args` on the test database. */
const sluice = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}) =>
  Effect.flatMap(TestDatabase.TestDatabase, ({ url }) =>
    exec(process.execPath, ["--import", "tsx", script, ...args], {
      env: { DATABASE_URL: url, SLUICE_SCHEMA: "sluice", NO_COLOR: "1", ...env },
      timeoutMillis: 60_000
    }))

const root = fileURLToPath(new URL("../..", import.meta.url))

/**
 * Runs `sluice ...args` on a pseudo-terminal (util-linux `script`), as a person at a
 * terminal would, and types `answer` once the confirmation prompt shows.
 */
const atTerminal = (args: ReadonlyArray<string>, answer: string) =>
  Effect.flatMap(TestDatabase.TestDatabase, ({ url }) =>
    Effect.async<Output>((resume) => {
      const command = [process.execPath, "--import", "tsx", script, ...args].join(" ")
      const child = spawn("script", ["-qec", command, "/dev/null"], {
        cwd: root,
        env: { ...process.env, DATABASE_URL: url, SLUICE_SCHEMA: "sluice" },
        stdio: "pipe"
      })
      let stdout = ""
      let answered = false
      child.stdout.on("data", (chunk) => {
        stdout += chunk
        if (!answered && stdout.includes("(y/N)")) {
          answered = true
          child.stdin.write(answer)
        }
      })
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
      child.on("close", (code, signal) => {
        clearTimeout(timer)
        resume(Effect.succeed({ code, signal, stdout, stderr: "" }))
      })
      return Effect.sync(() => {
        clearTimeout(timer)
        child.kill("SIGKILL")
      })
    }))

const describeRun = (args: ReadonlyArray<string>, output: Output) =>
  `sluice ${args.join(" ")} → ${output.code}\n--- stdout ---\n${output.stdout}\n--- stderr ---\n${output.stderr}`

/** Runs `sluice ...args` and expects exit code `code`. */
const run = (args: ReadonlyArray<string>, code = 0) =>
  Effect.tap(sluice(args), (output) => assert.strictEqual(output.code, code, describeRun(args, output)))

const settleAll = (group: string, status: "pending" | "failed" | "delivered", error: string | null) =>
  Effect.gen(function*() {
    const store = yield* Store
    const now = new Date()
    const token = crypto.randomUUID()
    const rows = yield* store.claim({ group, limit: 1_000, token, now, fair: false })
    yield* store.settle(
      group,
      token,
      rows.map((row) => ({ event_id: row.event_id, status, available_at: null, last_error: error, release: false })),
      now
    )
  })

/** Items 1–3 dead in `index` after two attempts; Other 4 delivered to `mail`. */
const fixture = Effect.gen(function*() {
  yield* TestDatabase.truncate
  yield* Runtime.registerGroup({ name: "index", eventType: "cli.Item" })
  yield* Runtime.registerGroup({ name: "mail", eventType: "cli.Other" })
  yield* Outbox.emitAll([1, 2, 3].map((n) => new Item({ n })))
  yield* Outbox.emit(new Other({ n: 4 }), { routingKey: "r-4" })
  yield* settleAll("index", "pending", "timeout talking to the index")
  yield* settleAll("index", "failed", "index rejected the document")
  yield* settleAll("mail", "delivered", null)
})

const statuses = (group: string) =>
  Effect.map(Runtime.deliveries(group), (rows) => rows.map((row) => `${row.event_id}:${row.status}`))

/** A test on its own database (cloned from the migrated template), on the real clock as the child processes are. */
const live = <E>(
  name: string,
  body: () => Effect.Effect<void, E, Effect.Effect.Context<typeof fixture> | TestDatabase.TestDatabase | Scope.Scope>,
  timeout: number
) => it.live(name, () => body().pipe(Effect.scoped, Effect.provide(Runtime.layer)), timeout)

describe("sluice (command line)", () => {
  live("status prints a table per consumer group, and --json the same numbers", () =>
    Effect.gen(function*() {
      yield* fixture
      const table = yield* run(["status"])
      const lines = table.stdout.trimEnd().split("\n")
      assert.match(lines[0]!, /^group +pending +due +claimed +failed +skipped +delivered 1h +oldest pending +per min/)
      assert.match(lines[2]!, /^index +0 +0 +0 +3 +0 +0 +- +0$/)
      assert.match(lines[3]!, /^mail +0 +0 +0 +0 +0 +1 +- +0\.2$/)
      const json = JSON.parse((yield* run(["status", "--json"])).stdout) as ReadonlyArray<Record<string, unknown>>
      assert.deepStrictEqual(json.map((g) => [g.group, g.failed, g.deliveredLastHour, g.throughputPerMinute]), [
        ["index", 3, 0, 0],
        ["mail", 0, 1, 0.2]
      ])
    }), 60_000)

  live(
    "failed lists dead letters; failed show prints the payload and every attempt's error",
    () =>
      Effect.gen(function*() {
        yield* fixture
        const list = yield* run(["failed"])
        assert.match(list.stdout, /^event +group +type +attempts +failed at +last error$/m)
        for (const id of ["1", "2", "3"]) {
          assert.match(
            list.stdout,
            new RegExp(`^ +${id}  index  cli\\.Item +2  \\S+  index rejected the document$`, "m")
          )
        }
        const filtered = JSON.parse((yield* run(["failed", "--group", "mail", "--json"])).stdout) as Array<unknown>
        assert.deepStrictEqual(filtered, [])
        const typed = JSON.parse(
          (yield* run(["failed", "--type", "cli.Item", "--limit", "2", "--json"])).stdout
        ) as Array<{ eventId: string; attempts: number; lastError: string }>
        assert.strictEqual(typed.length, 2)
        assert.isTrue(
          typed.every((letter) => letter.attempts === 2 && letter.lastError === "index rejected the document")
        )

        const show = yield* run(["failed", "show", "2"])
        assert.include(show.stdout, "event 2 · cli.Item · group index")
        assert.match(show.stdout, /"n": 2/)
        assert.match(
          show.stdout,
          /errors \(2\)\n +#1 +\S+\n +timeout talking to the index\n +#2 +\S+\n +index rejected the document/
        )
        const detail = JSON.parse((yield* run(["failed", "show", "2", "--json"])).stdout) as Array<{
          payload: unknown
          errors: Array<{ attempt: number; error: string }>
        }>
        assert.deepStrictEqual(detail[0]!.payload, { _tag: "cli.Item", n: 2 })
        assert.deepStrictEqual(detail[0]!.errors.map((e) => [e.attempt, e.error]), [
          [1, "timeout talking to the index"],
          [2, "index rejected the document"]
        ])
        const missing = yield* run(["failed", "show", "4"], 2)
        assert.include(missing.stderr, "event 4 has no dead letter")
      }),
    60_000
  )

  live(
    "retry and skip: by ids and by group with --yes; without --yes and no terminal nothing changes",
    () =>
      Effect.gen(function*() {
        yield* fixture
        const refused = yield* run(["retry", "--group", "index"], 2)
        assert.include(refused.stderr, "retry 3 dead letters of group index?: not a terminal to ask on; add --yes")
        assert.deepStrictEqual(yield* statuses("index"), ["1:failed", "2:failed", "3:failed"])

        const one = yield* run(["retry", "1", "--yes"])
        assert.include(one.stdout, "retry: retried 1 dead letter")
        const skipped = yield* run(["skip", "2", "--group", "index", "--yes"])
        assert.include(skipped.stdout, "skip: skipped 1 dead letter")
        assert.deepStrictEqual(yield* statuses("index"), ["1:pending", "2:skipped", "3:failed"])

        const rest = yield* run(["retry", "--group", "index", "--type", "cli.Item", "--since", "1h", "--yes"])
        assert.include(rest.stdout, "retry: retried 1 dead letter of group index, type cli.Item, failed since ")
        assert.deepStrictEqual(yield* statuses("index"), ["1:pending", "2:skipped", "3:pending"])
        const none = yield* run(["retry", "--group", "index", "--yes"])
        assert.include(none.stdout, "retry: no dead letters of group index")
        const sql = yield* SqlClient.SqlClient
        const [pending] = yield* sql<{ attempts: number; errors: number }>`SELECT
          (SELECT max(attempts) FROM sluice.deliveries WHERE status = 'pending')::int AS attempts,
          (SELECT count(*) FROM sluice.delivery_errors)::int AS errors`
        assert.deepStrictEqual(pending, { attempts: 0, errors: 6 })
      }),
    60_000
  )

  live(
    "at a terminal, retry and skip ask first: no leaves the dead letter, yes goes ahead",
    () =>
      Effect.gen(function*() {
        yield* fixture
        const declined = yield* atTerminal(["retry", "1"], "n")
        assert.strictEqual(declined.code, 0, describeRun(["retry", "1"], declined))
        assert.include(declined.stdout, "retry 1 dead letter: 1 (index)?")
        assert.include(declined.stdout, "retry: cancelled")
        assert.deepStrictEqual(yield* statuses("index"), ["1:failed", "2:failed", "3:failed"])
        const accepted = yield* atTerminal(["skip", "--group", "index", "2", "3"], "y")
        assert.strictEqual(accepted.code, 0, describeRun(["skip", "2", "3"], accepted))
        assert.include(accepted.stdout, "skip 2 dead letters: 2 (index), 3 (index)?")
        assert.include(accepted.stdout, "skip: skipped 2 dead letters")
        assert.deepStrictEqual(yield* statuses("index"), ["1:failed", "2:skipped", "3:skipped"])
      }),
    60_000
  )

  live(
    "replay queues past events for a group that registered later, with progress on stderr",
    () =>
      Effect.gen(function*() {
        yield* fixture
        yield* Runtime.registerGroup({ name: "late", eventType: "cli.Item" })
        const replay = yield* run([
          "replay",
          "--group",
          "late",
          "--type",
          "cli.Item",
          "--since",
          "2020-01-01",
          "--batch-size",
          "2"
        ])
        assert.include(
          replay.stdout,
          "replay: 3 deliveries of cli.Item since 2020-01-01T00:00:00.000Z queued for group late"
        )
        assert.deepStrictEqual(replay.stderr.trimEnd().split("\n").map((line) => line.replace(/\[[#.]+\]/, "[]")), [
          "replay []  67%  2/3",
          "replay [] 100%  3/3"
        ])
        assert.deepStrictEqual(yield* statuses("late"), ["1:pending", "2:pending", "3:pending"])
        const unknown = yield* run(["replay", "-g", "nobody", "-t", "cli.Item", "--since", "1d"], 1)
        assert.include(unknown.stderr, "sluice: no consumer group named nobody")
      }),
    60_000
  )

  live("prune deletes settled deliveries older than --older-than", () =>
    Effect.gen(function*() {
      yield* fixture
      const kept = yield* run(["prune"])
      assert.include(kept.stdout, "prune: deleted 0 rows settled more than 1 d ago")
      const all = yield* run(["prune", "--older-than", "1ms"])
      // the delivery of mail and its event; the dead letters stay
      assert.include(all.stdout, "prune: deleted 2 rows settled more than 1 ms ago")
      assert.deepStrictEqual(yield* statuses("mail"), [])
      assert.deepStrictEqual(yield* statuses("index"), ["1:failed", "2:failed", "3:failed"])
    }), 60_000)

  live("usage errors name the argument and exit 2 without touching the database", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["replay", "--group", "g", "--since", "2h"], "--type"],
        [["replay", "--group", "g", "--type", "T", "--since", "yesterday"], "--since \"yesterday\""],
        [["retry", "12", "abc", "--yes"], "<id> \"abc\""],
        [["failed", "--limit", "0"], "--limit 0"],
        [["prune", "--older-than", "soon"], "--older-than \"soon\""],
        [["status", "--bogus"], "--bogus"],
        [["retry", "--yes"], "give event ids, or --group"],
        [["retry", "3", "--type", "cli.Item", "--yes"], "--type and --since select by group"]
      ]
      const unreachable = { DATABASE_URL: "postgres://nobody:secret@127.0.0.1:1/none" }
      const outputs = yield* Effect.forEach(cases, ([args]) => sluice(args, unreachable), { concurrency: 3 })
      outputs.forEach((output, i) => {
        const [args, named] = cases[i]!
        assert.strictEqual(output.code, 2, describeRun(args, output))
        assert.include(output.stdout + output.stderr, named, describeRun(args, output))
        assert.notInclude(output.stderr, "cannot connect", describeRun(args, output))
      })
    }), 60_000)

  live("--help on every command", () =>
    Effect.gen(function*() {
      const commands = [
        [],
        ["migrate"],
        ["status"],
        ["failed"],
        ["failed", "show"],
        ["retry"],
        ["skip"],
        ["replay"],
        ["prune"],
        ["events"],
        ["events", "tail"]
      ]
      const outputs = yield* Effect.forEach(commands, (command) => sluice([...command, "--help"]), {
        concurrency: 4
      })
      outputs.forEach((output, i) => {
        const command = commands[i]!
        assert.strictEqual(output.code, 0, describeRun([...command, "--help"], output))
        assert.include(output.stdout, "USAGE")
        assert.include(output.stdout, "DESCRIPTION")
        assert.include(output.stdout, `$ ${command.at(-1) ?? "sluice"}`)
      })
      assert.include(outputs[5]!.stdout, "--since TIME")
    }), 120_000)

  live(
    "status --watch --json prints a snapshot every 2 seconds until SIGINT, then exits 0",
    () =>
      Effect.gen(function*() {
        yield* fixture
        const { url } = yield* TestDatabase.TestDatabase
        const watch = yield* Child.spawnScript(script, ["status", "--watch", "--json"], {
          DATABASE_URL: url,
          SLUICE_SCHEMA: "sluice"
        })
        const first = (yield* watch.next(Duration.seconds(30))) as ReadonlyArray<{ group: string; failed: number }>
        assert.deepStrictEqual(first.map((g) => [g.group, g.failed]), [["index", 3], ["mail", 0]])
        const sql = yield* SqlClient.SqlClient
        yield* sql`UPDATE sluice.deliveries SET status = 'skipped' WHERE consumer_group = 'index' AND event_id = 1`
        // a later snapshot shows the change (the next one, unless it was taken before the update)
        let later: ReadonlyArray<{ group: string; failed: number }> = first
        for (let i = 0; i < 3 && later[0]?.failed !== 2; i++) {
          later = (yield* watch.next(Duration.seconds(30))) as ReadonlyArray<{ group: string; failed: number }>
        }
        assert.deepStrictEqual(later.map((g) => [g.group, g.failed]), [["index", 2], ["mail", 0]])
        yield* watch.kill("SIGINT")
        assert.strictEqual(yield* watch.exited(Duration.seconds(20)), 0, watch.stderr())
      }),
    60_000
  )

  live(
    "migrate applies the schema once; events tail --json follows new events until SIGINT",
    () =>
      Effect.gen(function*() {
        const fresh = { SLUICE_SCHEMA: "ops_fresh" }
        const first = yield* sluice(["migrate"], fresh)
        assert.strictEqual(first.code, 0, describeRun(["migrate"], first))
        assert.include(first.stdout, "migrate: applied 0003_delivery_errors")
        const again = yield* sluice(["migrate"], fresh)
        assert.include(again.stdout, "migrate: schema up to date, nothing applied")
        const empty = yield* sluice(["status"], fresh)
        assert.strictEqual(empty.stdout.trim(), "no consumer groups yet")

        yield* fixture
        const { url } = yield* TestDatabase.TestDatabase
        const tail = yield* Child.spawnScript(script, ["events", "tail", "--json", "--type", "cli.Other"], {
          DATABASE_URL: url,
          SLUICE_SCHEMA: "sluice"
        })
        // emit until the tail prints (it starts whenever it has connected); the fixture's Other (n 4) came before
        const emitter = yield* Effect.gen(function*() {
          for (let n = 100;; n++) {
            yield* Outbox.emitAll([new Item({ n }), new Other({ n })])
            yield* Runtime.liveSleep("50 millis")
          }
        }).pipe(Effect.forkScoped)
        const printed = (yield* tail.next(Duration.seconds(30))) as { type: string; payload: { n: number } }
        assert.strictEqual(printed.type, "cli.Other")
        assert.isAtLeast(printed.payload.n, 100)
        yield* Fiber.interrupt(emitter)
        yield* tail.kill("SIGINT")
        assert.strictEqual(yield* tail.exited(Duration.seconds(20)), 0, tail.stderr())
      }),
    120_000
  )
})
