import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Event from "../../src/runtime/Event.js"
import * as Outbox from "../../src/runtime/Outbox.js"
import { Store } from "../../src/runtime/Store.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

class Note extends Event.Class<Note>()("test.Note", { text: Schema.String }) {}
class Other extends Event.Class<Other>()("test.Other", { text: Schema.String }) {}

/** Reads the whole feed from a cursor, the way a client pages through it. */
const readFrom = (cursor: { tx: string; id: string }, types: ReadonlyArray<string> | null = null) =>
  Effect.gen(function*() {
    const store = yield* Store
    const rows = yield* store.changes({ afterTx: cursor.tx, afterId: cursor.id, limit: 100, types })
    const last = rows.at(-1)
    return { texts: rows.map((row) => (row.payload as { text: string }).text), cursor: last ?? cursor }
  })

/**
 * Reads until `count` events are visible. The horizon is the oldest running transaction
 * of the whole server, so a transaction open in another test file's database can hold
 * committed events back for a moment: never past them, which is what these tests check.
 */
const visible = (cursor: { tx: string; id: string }, count: number) =>
  Runtime.waitUntil(`${count} visible events`, readFrom(cursor), (read) => read.texts.length >= count)

/** Runs `body` in a transaction on its own connection, committing when `commit` completes. */
const openTransaction = (body: Effect.Effect<void, unknown, Outbox.Outbox>, commit: Deferred.Deferred<void>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const written = yield* Deferred.make<void>()
    const fiber = yield* Effect.fork(sql.withTransaction(Effect.gen(function*() {
      yield* body
      yield* Deferred.succeed(written, undefined)
      yield* Deferred.await(commit)
    })))
    yield* Deferred.await(written)
    return fiber
  })

describe("Changefeed", () => {
  it.layer(Runtime.layer)((it) => {
    it.effect("an event committed late is never skipped by a reader that moved on", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const start = { tx: "0", id: "0" }
        const commitEarly = yield* Deferred.make<void>()
        const commitLate = yield* Deferred.make<void>()
        const sql = yield* SqlClient.SqlClient
        // The late transaction takes its xid first, but inserts its event after the early one…
        const late = yield* openTransaction(
          Effect.zipRight(sql`SELECT pg_current_xact_id()`, Effect.void),
          commitLate
        )
        const early = yield* openTransaction(Outbox.emit(new Note({ text: "early" })), commitEarly)
        yield* Deferred.succeed(commitEarly, undefined)
        yield* Fiber.join(early)
        // …the early one committed: not readable yet, since an older transaction still runs.
        const first = yield* readFrom(start)
        assert.deepStrictEqual(first.texts, [])
        yield* Deferred.succeed(commitLate, undefined)
        yield* Fiber.join(late)
        const second = yield* visible(first.cursor, 1)
        assert.deepStrictEqual(second.texts, ["early"])
        assert.deepStrictEqual((yield* readFrom(second.cursor)).texts, [])
      }))

    it.effect("a reader past a later id still gets an event whose transaction commits afterwards", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const commitA = yield* Deferred.make<void>()
        const commitB = yield* Deferred.make<void>()
        // A inserts first (lower event id) and commits last; B inserts second and commits first.
        const a = yield* openTransaction(Outbox.emit(new Note({ text: "a" })), commitA)
        const b = yield* openTransaction(Outbox.emit(new Note({ text: "b" })), commitB)
        yield* Deferred.succeed(commitB, undefined)
        yield* Fiber.join(b)
        const first = yield* readFrom({ tx: "0", id: "0" })
        assert.deepStrictEqual(first.texts, [], "b waits behind the still-running a")
        yield* Deferred.succeed(commitA, undefined)
        yield* Fiber.join(a)
        const second = yield* visible(first.cursor, 2)
        assert.deepStrictEqual(second.texts, ["a", "b"])
      }))

    it.effect("pages in (transaction, id) order when the ids grow a digit", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        const texts = Array.from({ length: 12 }, (_, i) => String(i + 1))
        yield* Outbox.emitAll(texts.map((text) => new Note({ text })))
        yield* visible({ tx: "0", id: "0" }, 12)
        const store = yield* Store
        const read: Array<string> = []
        let cursor = { tx: "0", id: "0" }
        for (;;) {
          const page = yield* store.changes({ afterTx: cursor.tx, afterId: cursor.id, limit: 5, types: null })
          if (page.length === 0) break
          read.push(...page.map((row) => (row.payload as { text: string }).text))
          cursor = page.at(-1)!
        }
        // Sorted as text, the first page would be 1, 10, 11, 12, 2, and its cursor would skip 3 to 9.
        assert.deepStrictEqual(read, texts)
      }))

    it.effect("filters by type and pages by cursor", () =>
      Effect.gen(function*() {
        yield* TestDatabase.truncate
        yield* Outbox.emitAll([new Note({ text: "1" }), new Other({ text: "x" }), new Note({ text: "2" })])
        yield* Outbox.emit(new Note({ text: "3" }))
        yield* visible({ tx: "0", id: "0" }, 4)
        const notes = yield* readFrom({ tx: "0", id: "0" }, ["test.Note"])
        assert.deepStrictEqual(notes.texts, ["1", "2", "3"])
        const store = yield* Store
        const page = yield* store.changes({ afterTx: "0", afterId: "0", limit: 2, types: null })
        assert.strictEqual(page.length, 2)
        const rest = yield* readFrom(page[1]!)
        assert.deepStrictEqual(rest.texts, ["2", "3"])
      }))
  })
})
