/**
 * The chaos run's verdict, from the database and the external-effect logs once every
 * worker has stopped:
 *
 * - every emitted event is in the log once, and reached every group exactly once as a
 *   committed outcome (delivered, or failed with its reason); none is left claimed;
 * - each delivered delivery has exactly one in-transaction effect, committed by the very
 *   transaction that settled the delivery, under the claim token it replaced (so no
 *   worker whose lease was taken over acknowledged anything); no undelivered one has any;
 * - each delivered delivery has at least one external effect; duplicates are counted and
 *   attributed to the faults around them.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Faults from "./Faults.js"
import * as Scenario from "./Scenario.js"

/** A fault as it happened. */
export interface Injected {
  readonly kind: Faults.Kind
  readonly slot: number
  /** The process it hit, if one. */
  readonly pid: number | undefined
  readonly start: number
  end: number
  note: string
}

export interface Verdict {
  readonly lines: ReadonlyArray<string>
  readonly violations: ReadonlyArray<string>
  readonly lost: number
  readonly duplicated: number
}

interface DeliveryRow {
  readonly consumer_group: string
  readonly n: number
  readonly status: string
  readonly attempts: number
  readonly last_error: string | null
}

interface EffectCheck {
  readonly duplicated: number
  readonly undelivered: number
  readonly missing: number
  readonly stale: number
  readonly total: number
}

const reasonOf = (error: string | null): string => {
  if (error === null) return "no reason"
  if (error.includes("lease expired")) return "lease expired"
  if (error.startsWith("sluice/Permanent")) return "permanent"
  if (error.includes("gave up after")) return "gave up after retries"
  if (error.includes("retry schedule ended")) return "retry schedule ended"
  return "other"
}

const tally = (items: Iterable<string>) => {
  const counts = new Map<string, number>()
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1)
  return counts
}

const show = (counts: Map<string, number>) =>
  counts.size === 0 ? "none" : [...counts].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ")

/**
 * Which fault explains an external effect whose attempt did not commit. Only faults that can
 * cost a worker its transaction or its lease count: one aimed at its process (kill, terminate,
 * stop, its connections terminated) or a database restart, from the longest an attempt takes
 * (a hang, plus a second) before the fault to the lease length after it.
 */
const before = Duration.toMillis(Scenario.hangFor) + 1_000

const attribute = (
  line: Scenario.ExternalLine,
  committedToken: string | undefined,
  faults: ReadonlyArray<Injected>,
  leaseMs: number,
  reaped: ReadonlySet<string>
): string => {
  if (line.token === committedToken) return "batch re-run after a neighbour failed"
  const around = (fault: Injected) => line.at >= fault.start - before && line.at <= fault.end + leaseMs
  const targeted = faults.find((fault) => fault.pid === line.pid && fault.slot >= 0 && around(fault))
  if (targeted !== undefined) return targeted.kind
  if (faults.some((fault) => fault.kind === "db-restart" && around(fault))) return "db-restart"
  if (reaped.has(line.token)) return "lease expired (slow attempt)"
  return "unattributed"
}

export const verify = (options: {
  readonly events: number
  readonly faults: ReadonlyArray<Injected>
  readonly external: ReadonlyArray<Scenario.ExternalLine>
  readonly seed: number
  readonly leaseMs: number
}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const violations: Array<string> = []
    const lines: Array<string> = []
    const groupNames = Scenario.groups.map((group) => group.name)
    const E = options.events

    const [log] = yield* sql<{ readonly total: number; readonly keys: number; readonly matching: number }>`
      SELECT count(*)::int AS total, count(DISTINCT dedup_key)::int AS keys,
             count(*) FILTER (WHERE dedup_key = payload->>'n' AND (payload->>'n')::int BETWEEN 1 AND ${E})::int AS matching
      FROM ${sql(Scenario.tables.events)} WHERE type = ${Scenario.Tick._tag}`
    if (log!.total !== E || log!.keys !== E || log!.matching !== E) {
      violations.push(`event log: ${log!.total} events, ${log!.keys} keys, ${log!.matching} in 1..${E}; expected ${E}`)
    }

    const deliveries = yield* sql<DeliveryRow>`
      SELECT d.consumer_group, (e.payload->>'n')::int AS n, d.status, d.attempts, d.last_error
      FROM ${sql(Scenario.tables.deliveries)} d JOIN ${sql(Scenario.tables.events)} e ON e.id = d.event_id
      WHERE e.type = ${Scenario.Tick._tag}`
    const byKey = new Map<string, DeliveryRow>()
    for (const row of deliveries) {
      const key = `${row.consumer_group}/${row.n}`
      if (byKey.has(key)) violations.push(`two deliveries of event ${row.n} to ${row.consumer_group}`)
      byKey.set(key, row)
    }
    let lost = 0
    let delivered = 0
    let deadLettered = 0
    const leftClaimed: Array<string> = []
    const reasons: Array<string> = []
    const wronglyDelivered: Array<string> = []
    for (const group of groupNames) {
      for (let n = 1; n <= E; n++) {
        const row = byKey.get(`${group}/${n}`)
        if (row === undefined) {
          lost++
          if (lost <= 5) violations.push(`event ${n} never reached ${group} (no delivery)`)
          continue
        }
        if (row.status === "delivered") {
          delivered++
          if (Scenario.alwaysFails(options.seed, group, n)) wronglyDelivered.push(`${group}/${n}`)
        } else if (row.status === "failed") {
          deadLettered++
          reasons.push(reasonOf(row.last_error))
          if (row.last_error === null) violations.push(`event ${n} failed in ${group} without a reason`)
        } else {
          lost++
          if (row.status === "claimed") leftClaimed.push(`${group}/${n}`)
          if (lost <= 5) violations.push(`event ${n} is ${row.status} in ${group} after the quiet period`)
        }
      }
    }
    if (leftClaimed.length > 0) violations.push(`${leftClaimed.length} deliveries left claimed`)
    if (wronglyDelivered.length > 0) {
      violations.push(`delivered although its handler always fails: ${wronglyDelivered.slice(0, 5).join(", ")}`)
    }

    const [effects] = yield* sql<EffectCheck>`
      WITH per AS (
        SELECT consumer_group, event_id, count(*) AS c FROM ${sql(Scenario.tables.effects)}
        GROUP BY consumer_group, event_id
      )
      SELECT
        (SELECT count(*)::int FROM ${sql(Scenario.tables.effects)}) AS total,
        (SELECT coalesce(sum(c - 1), 0)::int FROM per WHERE c > 1) AS duplicated,
        (SELECT count(*)::int FROM ${sql(Scenario.tables.effects)} x
          JOIN ${sql(Scenario.tables.deliveries)} d ON d.consumer_group = x.consumer_group AND d.event_id = x.event_id
          WHERE d.status <> 'delivered') AS undelivered,
        (SELECT count(*)::int FROM ${sql(Scenario.tables.deliveries)} d
          WHERE d.status = 'delivered' AND NOT EXISTS (
            SELECT 1 FROM per WHERE per.consumer_group = d.consumer_group AND per.event_id = d.event_id)) AS missing,
        (SELECT count(*)::int FROM ${sql(Scenario.tables.effects)} x
          WHERE NOT EXISTS (
            SELECT 1 FROM ${sql(Scenario.tables.transitions)} t
            WHERE t.consumer_group = x.consumer_group AND t.event_id = x.event_id AND t.xid = x.xid
              AND t.old_status = 'claimed' AND t.new_status = 'delivered' AND t.old_token = x.claim_token)) AS stale`
    const duplicated = effects!.duplicated + effects!.undelivered
    if (effects!.duplicated > 0) violations.push(`${effects!.duplicated} duplicate in-transaction effects`)
    if (effects!.undelivered > 0) {
      violations.push(`${effects!.undelivered} in-transaction effects of undelivered events`)
    }
    if (effects!.missing > 0) violations.push(`${effects!.missing} deliveries delivered without their effect`)
    if (effects!.stale > 0) {
      violations.push(
        `${
          effects!.stale
        } effects not committed by the settling transaction under the token it replaced (stale acknowledgements)`
      )
    }

    // External effects: at least once per delivered delivery; the extras attributed.
    const committed = yield* sql<{ readonly consumer_group: string; readonly n: number; readonly token: string }>`
      SELECT consumer_group, n, claim_token::text AS token FROM ${sql(Scenario.tables.effects)}`
    const committedToken = new Map(committed.map((row) => [`${row.consumer_group}/${row.n}`, row.token]))
    const reapedRows = yield* sql<{ readonly token: string }>`
      SELECT old_token::text AS token FROM ${sql(Scenario.tables.transitions)}
      WHERE old_status = 'claimed' AND last_error LIKE 'lease expired%' AND old_token IS NOT NULL`
    const reaped = new Set(reapedRows.map((row) => row.token))
    const done = new Map<string, Array<Scenario.ExternalLine>>()
    for (const line of options.external) {
      if (line.kind !== "done") continue
      const key = `${line.group}/${line.n}`
      const list = done.get(key)
      if (list === undefined) done.set(key, [line])
      else list.push(line)
    }
    let externalMissing = 0
    let externalTotal = 0
    const duplicateCauses: Array<string> = []
    for (const [key, row] of byKey) {
      const list = done.get(key) ?? []
      externalTotal += list.length
      if (row.status === "delivered" && list.length === 0) externalMissing++
      if (list.length > 1) {
        const token = committedToken.get(key)
        const sorted = [...list].sort((a, b) => a.at - b.at)
        // The last line under the committed token is the committed attempt; every other one is a duplicate.
        const keep = sorted.map((line) => line.token).lastIndexOf(token ?? "")
        sorted.forEach((line, i) => {
          if (i !== keep) duplicateCauses.push(attribute(line, token, options.faults, options.leaseMs, reaped))
        })
      }
    }
    if (externalMissing > 0) violations.push(`${externalMissing} delivered deliveries without an external effect`)

    const [moves] = yield* sql<{
      readonly claims: number
      readonly reaped: number
      readonly released: number
      readonly retried: number
    }>`
      SELECT count(*) FILTER (WHERE new_status = 'claimed')::int AS claims,
             count(*) FILTER (WHERE old_status = 'claimed' AND last_error LIKE 'lease expired%')::int AS reaped,
             count(*) FILTER (WHERE old_status = 'claimed' AND new_status = 'pending' AND last_error IS NULL)::int
               AS released,
             count(*) FILTER (WHERE old_status = 'claimed' AND new_status = 'pending'
               AND last_error NOT LIKE 'lease expired%')::int AS retried
      FROM ${sql(Scenario.tables.transitions)}`
    // How old a lease already is when its claim statement runs: the claim's "now" is taken
    // before the statement waits for a connection and the server.
    const [claimAge] = yield* sql<
      { readonly p50: number; readonly p99: number; readonly max: number; readonly over: number }
    >`
      WITH ages AS (
        SELECT extract(epoch FROM at - claimed_at) * 1000 AS ms FROM ${sql(Scenario.tables.transitions)}
        WHERE new_status = 'claimed' AND claimed_at IS NOT NULL
      )
      SELECT coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), 0)::float8 AS p50,
             coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), 0)::float8 AS p99,
             coalesce(max(ms), 0)::float8 AS max,
             count(*) FILTER (WHERE ms > ${Duration.toMillis(Scenario.timings.claimTimeout) / 3})::int AS over
      FROM ages`
    const fenced = new Set(
      options.external.filter((line) => line.kind === "done" && reaped.has(line.token)).map((line) => line.token)
    )

    const injected = tally(options.faults.filter((fault) => fault.note !== "skipped").map((fault) => fault.kind))
    const handlerFaults = tally(
      options.external.flatMap((line) =>
        line.kind === "done" ? [] : [Scenario.handlerFaults[line.kind as keyof typeof Scenario.handlerFaults]]
      )
    )
    const faultTotal = [...injected.values(), ...handlerFaults.values()].reduce((a, b) => a + b, 0)

    lines.push(`  deliveries expected    ${E * groupNames.length} (${E} events x ${groupNames.length} groups)`)
    lines.push(`  delivered              ${delivered}`)
    lines.push(`  dead-lettered          ${deadLettered} (${show(tally(reasons))})`)
    lines.push(
      `  lost                   ${lost}${leftClaimed.length > 0 ? ` (${leftClaimed.length} left claimed)` : ""}`
    )
    lines.push(
      `  in-transaction effects ${effects!.total}: duplicated ${effects!.duplicated}, on undelivered ${
        effects!.undelivered
      }, missing ${effects!.missing}, not settled by their own token ${effects!.stale}`
    )
    lines.push(
      `  external effects       ${externalTotal}: duplicates ${duplicateCauses.length} (${
        show(tally(duplicateCauses))
      }), missing ${externalMissing}`
    )
    lines.push(
      `  runtime                ${moves!.claims} claims, ${moves!.retried} retries scheduled, ${
        moves!.reaped
      } expired leases reaped, ${moves!.released} released on shutdown; ${fenced.size} leases finished their ` +
        `work after being reaped (their acknowledgement was refused by the token fence or their process died)`
    )
    lines.push(
      `  lease age at claim     p50 ${claimAge!.p50.toFixed(1)} ms, p99 ${claimAge!.p99.toFixed(1)} ms, max ${
        claimAge!.max.toFixed(0)
      } ms; ${claimAge!.over} claims already older than a heartbeat interval when they ran`
    )
    const [deleted] = yield* sql<
      { readonly deliveries: number; readonly acknowledged: number; readonly events: number }
    >`
      SELECT (SELECT count(*)::int FROM ${sql(Scenario.tables.deletedDeliveries)}) AS deliveries,
             (SELECT count(*)::int FROM ${
      sql(Scenario.tables.deletedDeliveries)
    } WHERE status = 'delivered') AS acknowledged,
             (SELECT count(*)::int FROM ${sql(Scenario.tables.deletedEvents)}) AS events`
    if (deleted!.deliveries + deleted!.events > 0) {
      lines.push(
        `  deleted                ${deleted!.acknowledged} deliveries by their acknowledgement, ${
          deleted!.deliveries - deleted!.acknowledged
        } by pruning; ${deleted!.events} events by pruning (counted above as they were)`
      )
    }
    lines.push(`  faults injected        ${show(injected)}`)
    lines.push(`  handler failures       ${show(handlerFaults)}`)
    return { lines, violations, lost, duplicated, faultTotal, injected, handlerFaults }
  })
