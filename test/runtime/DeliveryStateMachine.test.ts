/**
 * The delivery state machine, property-tested against the real database through `Store`.
 *
 * Random interleavings of claim (by one of three workers), heartbeat, acknowledge, fail
 * (retry or final), skip, release, reap and the passing of time run against a model of
 * the documented semantics. After every step the database must equal the model, and the
 * invariants hold: one state per delivery, a claimed delivery has a token and a lease,
 * stale tokens change nothing, attempts only fall on a release (by one), settled states
 * are terminal, nothing disappears.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import { randomUUID } from "node:crypto"
import type { DeliveryStatus, Settlement } from "../../src/runtime/Store.js"
import { Store } from "../../src/runtime/Store.js"
import * as Runtime from "../support/Runtime.js"
import * as TestDatabase from "../support/TestDatabase.js"

const group = "machine"
const eventType = "test.Machine"
const claimTimeoutMs = 10_000
const maxAttempts = 3
const workers = 3
const events = 5
const start = Date.UTC(2026, 0, 1)

interface Row {
  readonly event_id: string
  readonly status: DeliveryStatus
  readonly attempts: number
  readonly claim_token: string | null
  readonly claimed_at: Date | null
  readonly available_at: Date
  readonly last_error: string | null
  readonly routing_key: string | null
}

/** The model's view of one delivery (times in ms). */
interface State {
  readonly id: string
  readonly key: string | null
  status: DeliveryStatus
  attempts: number
  token: string | null
  claimedAt: number | null
  availableAt: number
  lastError: string | null
}

type Command =
  | { readonly _tag: "claim"; readonly worker: number; readonly limit: number; readonly fair: boolean }
  | { readonly _tag: "heartbeat"; readonly worker: number; readonly pick: number }
  | { readonly _tag: "ack"; readonly worker: number; readonly pick: number; readonly mask: ReadonlyArray<boolean> }
  | {
    readonly _tag: "fail"
    readonly worker: number
    readonly pick: number
    readonly mask: ReadonlyArray<boolean>
    readonly final: boolean
    readonly delay: number
  }
  | { readonly _tag: "skip"; readonly worker: number; readonly pick: number; readonly mask: ReadonlyArray<boolean> }
  | { readonly _tag: "release"; readonly worker: number; readonly pick: number }
  | { readonly _tag: "advance"; readonly ms: number }
  | { readonly _tag: "reap" }

const worker = fc.integer({ min: 0, max: workers - 1 })
const pick = fc.nat({ max: 7 })
const mask = fc.array(fc.boolean(), { minLength: 3, maxLength: 3 })

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    arbitrary: fc.record({
      _tag: fc.constant("claim"),
      worker,
      limit: fc.integer({ min: 1, max: 3 }),
      fair: fc.boolean()
    }),
    weight: 4
  },
  { arbitrary: fc.record({ _tag: fc.constant("heartbeat"), worker, pick }), weight: 2 },
  { arbitrary: fc.record({ _tag: fc.constant("ack"), worker, pick, mask }), weight: 3 },
  {
    arbitrary: fc.record({
      _tag: fc.constant("fail"),
      worker,
      pick,
      mask,
      final: fc.boolean(),
      delay: fc.constantFrom(0, 1_000, 20_000)
    }),
    weight: 3
  },
  { arbitrary: fc.record({ _tag: fc.constant("skip"), worker, pick, mask }), weight: 1 },
  { arbitrary: fc.record({ _tag: fc.constant("release"), worker, pick }), weight: 2 },
  {
    arbitrary: fc.record({ _tag: fc.constant("advance"), ms: fc.constantFrom(1_000, 5_000, 10_000, 30_000) }),
    weight: 3
  },
  { arbitrary: fc.record({ _tag: fc.constant("reap") }), weight: 2 }
) as fc.Arbitrary<Command>

const terminal = (status: DeliveryStatus) => status === "delivered" || status === "failed" || status === "skipped"

const dueInOrder = (model: ReadonlyArray<State>, now: number) =>
  model
    .filter((s) => s.status === "pending" && s.availableAt <= now)
    .sort((a, b) => a.availableAt - b.availableAt || Number(a.id) - Number(b.id))

/**
 * Checks a claim's choice. In order: exactly the first `limit` due deliveries by
 * (available_at, event_id). Interleaved: as many as possible, each key's share a prefix
 * of that key's order, and as many keys as the limit allows.
 */
const checkChoice = (
  model: ReadonlyArray<State>,
  now: number,
  limit: number,
  fair: boolean,
  chosen: ReadonlyArray<string>
) => {
  const due = dueInOrder(model, now)
  if (!fair) {
    assert.deepStrictEqual([...chosen].sort(), due.slice(0, limit).map((s) => s.id).sort(), "in-order claim")
    return
  }
  assert.strictEqual(chosen.length, Math.min(limit, due.length), "interleaved claim size")
  const byKey = new Map<string, Array<string>>()
  for (const s of due) byKey.set(s.key ?? "", [...(byKey.get(s.key ?? "") ?? []), s.id])
  let keysTaken = 0
  for (const ids of byKey.values()) {
    const taken = ids.filter((id) => chosen.includes(id))
    assert.deepStrictEqual(taken, ids.slice(0, taken.length), "each key's share is a prefix of its order")
    if (taken.length > 0) keysTaken++
  }
  assert.strictEqual(keysTaken, Math.min(limit, byKey.size), "interleaved claim spreads over keys")
}

const runScenario = (delays: ReadonlyArray<number>, commands: ReadonlyArray<Command>) =>
  Effect.gen(function*() {
    const store = yield* Store
    const sql = yield* SqlClient.SqlClient
    yield* TestDatabase.truncate
    yield* Runtime.registerGroup({ name: group, eventType, claimTimeoutMs, maxAttempts, interleave: true })
    let now = start
    yield* store.emit(
      delays.map((delay, i) => ({
        type: eventType,
        routing_key: i % 2 === 0 ? "even" : null,
        payload: { i },
        metadata: {},
        dedup_key: null,
        available_at: new Date(start + delay)
      })),
      new Date(now)
    )
    const model: Array<State> = delays.map((delay, i) => ({
      id: String(i + 1),
      key: i % 2 === 0 ? "even" : null,
      status: "pending",
      attempts: 0,
      token: null,
      claimedAt: null,
      availableAt: start + delay,
      lastError: null
    }))
    const holdings: Array<Array<{ readonly token: string; readonly ids: ReadonlyArray<string> }>> = Array.from(
      { length: workers },
      () => []
    )
    const held = (w: number, p: number) => {
      const mine = holdings[w]!
      return mine.length === 0
        ? { token: randomUUID(), ids: model.slice(0, 2).map((s) => s.id) }
        : mine[p % mine.length]!
    }
    const chosen = (ids: ReadonlyArray<string>, bits: ReadonlyArray<boolean>) =>
      ids.filter((_, i) => bits[i % bits.length])
    const fenced = (token: string, id: string) => {
      const s = model.find((x) => x.id === id)!
      return s.token === token && s.status === "claimed" ? s : undefined
    }
    const settleModel = (token: string, outcomes: ReadonlyArray<Settlement>) => {
      let n = 0
      for (const o of outcomes) {
        const s = fenced(token, o.event_id)
        if (s === undefined) continue
        n++
        s.status = o.status
        if (o.available_at !== null) s.availableAt = o.available_at.getTime()
        s.lastError = o.last_error
        if (o.release) s.attempts = Math.max(s.attempts - 1, 0)
        s.token = null
        s.claimedAt = null
      }
      return n
    }

    const readRows = sql<Row>`
      SELECT event_id::text AS event_id, status, attempts, claim_token::text AS claim_token, claimed_at,
             available_at, last_error, routing_key
      FROM sluice.deliveries d WHERE consumer_group = ${group} ORDER BY d.event_id`

    let before = yield* readRows
    for (const [step, c] of commands.entries()) {
      const where = `step ${step} ${JSON.stringify(c)}`
      let expected: number | undefined
      let actual: number | undefined
      switch (c._tag) {
        case "claim": {
          const token = randomUUID()
          const rows = yield* store.claim({ group, limit: c.limit, token, now: new Date(now), fair: c.fair })
          const ids = rows.map((r) => r.event_id)
          checkChoice(model, now, c.limit, c.fair, ids)
          for (const r of rows) {
            const s = model.find((x) => x.id === r.event_id)!
            s.status = "claimed"
            s.token = token
            s.claimedAt = now
            s.attempts++
            assert.strictEqual(r.attempts, s.attempts, `${where}: claim returns the new attempt count`)
            assert.strictEqual(r.type, eventType)
          }
          if (ids.length > 0) holdings[c.worker]!.push({ token, ids })
          break
        }
        case "heartbeat": {
          const h = held(c.worker, c.pick)
          actual = yield* store.heartbeat(group, h.token, h.ids, new Date(now))
          expected = 0
          for (const id of h.ids) {
            const s = fenced(h.token, id)
            if (s !== undefined) {
              s.claimedAt = now
              expected++
            }
          }
          break
        }
        case "ack": {
          const h = held(c.worker, c.pick)
          const ids = chosen(h.ids, c.mask)
          actual = yield* store.acknowledge(group, h.token, ids, new Date(now))
          expected = settleModel(
            h.token,
            ids.map((id) => ({
              event_id: id,
              status: "delivered",
              available_at: null,
              last_error: null,
              release: false
            }))
          )
          break
        }
        case "fail":
        case "skip": {
          const h = held(c.worker, c.pick)
          const outcomes = chosen(h.ids, c.mask).map((id): Settlement =>
            c._tag === "skip"
              ? { event_id: id, status: "skipped", available_at: null, last_error: "not mine", release: false }
              : c.final
              ? {
                event_id: id,
                status: "failed",
                available_at: null,
                last_error: "gave up; it's \"final\"",
                release: false
              }
              : {
                event_id: id,
                status: "pending",
                available_at: new Date(now + c.delay),
                last_error: "retry",
                release: false
              }
          )
          actual = yield* store.settle(group, h.token, outcomes, new Date(now))
          expected = settleModel(h.token, outcomes)
          break
        }
        case "release": {
          const h = held(c.worker, c.pick)
          const outcomes = h.ids.map((id): Settlement => ({
            event_id: id,
            status: "pending",
            available_at: new Date(now),
            last_error: null,
            release: true
          }))
          actual = yield* store.settle(group, h.token, outcomes, new Date(now))
          expected = settleModel(h.token, outcomes)
          break
        }
        case "advance":
          now += c.ms
          break
        case "reap": {
          const reaped = yield* store.reap(new Date(now), 1_000)
          const expiredIds: Array<string> = []
          for (const s of model) {
            if (s.status !== "claimed" || s.claimedAt! > now - claimTimeoutMs) continue
            expiredIds.push(s.id)
            s.status = s.attempts >= maxAttempts ? "failed" : "pending"
            s.availableAt = now
            s.token = null
            s.claimedAt = null
            s.lastError = `lease expired: not settled within the claim timeout of ${claimTimeoutMs} ms ` +
              `(attempt ${s.attempts} of ${maxAttempts})`
          }
          assert.deepStrictEqual(
            reaped.map((r) => [r.event_id, r.status]).sort(),
            expiredIds.map((id) => [id, model.find((s) => s.id === id)!.status]).sort(),
            `${where}: reaped rows`
          )
          break
        }
      }
      if (expected !== undefined) assert.strictEqual(actual, expected, `${where}: rows affected`)

      const after = yield* readRows
      // Nothing disappears, nothing appears.
      assert.deepStrictEqual(after.map((r) => r.event_id), model.map((s) => s.id), `${where}: the same deliveries`)
      for (const [i, row] of after.entries()) {
        const s = model[i]!
        const prev = before[i]!
        // A claimed delivery has a token and a lease; any other has neither.
        assert.strictEqual(row.status === "claimed", row.claim_token !== null, `${where}: token iff claimed`)
        assert.strictEqual(row.status === "claimed", row.claimed_at !== null, `${where}: lease iff claimed`)
        assert.isAtLeast(row.attempts, 0)
        if (terminal(prev.status)) assert.deepStrictEqual(row, prev, `${where}: ${prev.status} is terminal`)
        const released = c._tag === "release" && prev.status === "claimed" && row.status === "pending"
        assert.isAtLeast(
          row.attempts,
          prev.attempts - (released ? 1 : 0),
          `${where}: attempts never fall but on release`
        )
        assert.deepStrictEqual(
          {
            status: row.status,
            attempts: row.attempts,
            token: row.claim_token,
            claimedAt: row.claimed_at?.getTime() ?? null,
            availableAt: row.available_at.getTime(),
            lastError: row.last_error
          },
          {
            status: s.status,
            attempts: s.attempts,
            token: s.token,
            claimedAt: s.claimedAt,
            availableAt: s.availableAt,
            lastError: s.lastError
          },
          `${where}: delivery ${s.id} matches the model`
        )
      }
      before = after
    }
  })

type Action = "ack" | "retry" | "fail" | "skip" | "release" | "abandon"

interface WorkerStep {
  readonly limit: number
  readonly heartbeat: boolean
  readonly action: Action
}

const workerStep: fc.Arbitrary<WorkerStep> = fc.record({
  limit: fc.integer({ min: 1, max: 3 }),
  heartbeat: fc.boolean(),
  action: fc.constantFrom<Action>("ack", "ack", "retry", "fail", "skip", "release", "abandon")
})

/**
 * Workers and a reaper running at once on separate connections: whatever the interleaving,
 * every claim of a delivery ends exactly once (settled by its own token, reaped, or still
 * held at the end), attempts are claims minus releases, and a delivery reaches at most one
 * terminal outcome, the one it ends in.
 */
const runConcurrently = (programs: ReadonlyArray<ReadonlyArray<WorkerStep>>, reaps: number) =>
  Effect.gen(function*() {
    const store = yield* Store
    const sql = yield* SqlClient.SqlClient
    yield* TestDatabase.truncate
    yield* Runtime.registerGroup({ name: group, eventType, claimTimeoutMs: 3, maxAttempts: 4 })
    yield* store.emit(
      Array.from({ length: events }, (_, i) => ({
        type: eventType,
        routing_key: null,
        payload: { i },
        metadata: {},
        dedup_key: null,
        available_at: null
      })),
      new Date(start)
    )
    let clock = start
    const tick = () => new Date(++clock)
    const claims: Array<{ readonly token: string; readonly id: string }> = []
    const settled: Array<{ readonly token: string; readonly id: string; readonly status: DeliveryStatus }> = []
    const reaped: Array<{ readonly id: string; readonly status: "pending" | "failed" }> = []

    const runWorker = (steps: ReadonlyArray<WorkerStep>) =>
      Effect.forEach(steps, (step) =>
        Effect.gen(function*() {
          const token = randomUUID()
          const rows = yield* store.claim({ group, limit: step.limit, token, now: tick(), fair: false })
          for (const row of rows) claims.push({ token, id: row.event_id })
          yield* Effect.yieldNow()
          if (step.heartbeat) yield* store.heartbeat(group, token, rows.map((row) => row.event_id), tick())
          if (step.action === "abandon") return
          for (const row of rows) {
            const settlement: Settlement = {
              event_id: row.event_id,
              status: step.action === "ack"
                ? "delivered"
                : step.action === "fail"
                ? "failed"
                : step.action === "skip"
                ? "skipped"
                : "pending",
              available_at: step.action === "retry" || step.action === "release" ? new Date(clock) : null,
              last_error: step.action === "retry" ? "retry" : null,
              release: step.action === "release"
            }
            const n = step.action === "ack"
              ? yield* store.acknowledge(group, token, [row.event_id], tick())
              : yield* store.settle(group, token, [settlement], tick())
            if (n === 1) {
              settled.push({
                token,
                id: row.event_id,
                status: step.action === "release" ? "claimed" : settlement.status
              })
            }
          }
        }), { discard: true })

    const reaper = Effect.forEach(Array.from({ length: reaps }), () =>
      Effect.gen(function*() {
        yield* Effect.yieldNow()
        const rows = yield* store.reap(tick(), 1_000)
        for (const row of rows) reaped.push({ id: row.event_id, status: row.status })
      }), { discard: true })

    yield* Effect.all([...programs.map(runWorker), reaper], { concurrency: "unbounded", discard: true })

    const rows = yield* sql<Row>`
      SELECT event_id::text AS event_id, status, attempts, claim_token::text AS claim_token, claimed_at,
             available_at, last_error, routing_key
      FROM sluice.deliveries d WHERE consumer_group = ${group} ORDER BY d.event_id`
    assert.strictEqual(rows.length, events, "nothing disappears")
    for (const row of rows) {
      const id = row.event_id
      const mine = claims.filter((c) => c.id === id)
      const settles = settled.filter((s) => s.id === id)
      const reaps = reaped.filter((r) => r.id === id)
      const releases = settles.filter((s) => s.status === "claimed").length
      const held = row.status === "claimed" ? 1 : 0
      assert.strictEqual(row.status === "claimed", row.claim_token !== null, `${id}: token iff claimed`)
      assert.strictEqual(row.status === "claimed", row.claimed_at !== null, `${id}: lease iff claimed`)
      assert.strictEqual(mine.length, settles.length + reaps.length + held, `${id}: every claim ends exactly once`)
      assert.strictEqual(row.attempts, mine.length - releases, `${id}: attempts are claims minus releases`)
      for (const s of settles) {
        assert.isTrue(mine.some((c) => c.token === s.token), `${id}: settled only by a token that claimed it`)
      }
      assert.strictEqual(
        new Set(settles.map((s) => s.token)).size,
        settles.length,
        `${id}: one settlement per claim token`
      )
      const terminalOutcomes = [
        ...settles.filter((s) => terminal(s.status)).map((s) => s.status),
        ...reaps.filter((r) => r.status === "failed").map(() => "failed" as const)
      ]
      assert.isAtMost(terminalOutcomes.length, 1, `${id}: at most one terminal outcome`)
      if (terminal(row.status)) {
        assert.deepStrictEqual(terminalOutcomes, [row.status], `${id}: ends in its terminal outcome`)
      } else assert.deepStrictEqual(terminalOutcomes, [], `${id}: no terminal outcome while ${row.status}`)
      if (held === 1) {
        assert.strictEqual(row.claim_token, mine[mine.length - 1]!.token, `${id}: held by its last claim`)
      }
    }
  })

describe("Delivery state machine", () => {
  it.layer(Runtime.layer)((it) => {
    it.effect.prop(
      "random interleavings of claim, heartbeat, settle, release and reap keep the invariants",
      [
        fc.array(fc.constantFrom(0, 0, 0, 15_000), { minLength: events, maxLength: events }),
        fc.array(command, { minLength: 1, maxLength: 30 })
      ],
      ([delays, commands]) => runScenario(delays, commands),
      { fastCheck: { numRuns: 150 }, timeout: 120_000 }
    )

    it.effect.prop(
      "workers and a reaper racing on separate connections: each claim ends once, attempts add up",
      [
        fc.array(fc.array(workerStep, { minLength: 1, maxLength: 8 }), { minLength: 2, maxLength: 3 }),
        fc.integer({ min: 0, max: 8 })
      ],
      ([programs, reaps]) => runConcurrently(programs, reaps),
      { fastCheck: { numRuns: 40 }, timeout: 120_000 }
    )

    it.effect("a stale token (lease reaped and re-claimed) settles and heartbeats nothing", () =>
      runScenario([0, 0, 0, 0, 0], [
        { _tag: "claim", worker: 0, limit: 2, fair: false },
        { _tag: "advance", ms: 10_000 },
        { _tag: "reap" },
        { _tag: "claim", worker: 1, limit: 2, fair: false },
        { _tag: "heartbeat", worker: 0, pick: 0 },
        { _tag: "ack", worker: 0, pick: 0, mask: [true, true, true] },
        { _tag: "fail", worker: 0, pick: 0, mask: [true, true, true], final: true, delay: 0 },
        { _tag: "release", worker: 0, pick: 0 },
        { _tag: "ack", worker: 1, pick: 0, mask: [true, true, true] }
      ]))
  })
})
