/**
 * What the chaos run moves and checks, shared by the orchestrator (`main.ts`) and the
 * worker processes (`worker.ts`): the event, the three consumer groups, the handlers'
 * seeded failures, the tables that record every committed handler invocation and every
 * status change of a delivery, and the external-effect log format.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Event from "../../src/runtime/Event.js"

/** The event: its producer-assigned sequence number, also its deduplication key. */
export class Tick extends Event.Class<Tick>()("chaos.Tick", { n: Schema.Int }) {}

/** How each group handles its deliveries: one at a time, a batch of singles (savepoints), a batch with outcomes. */
export const groups = [
  { name: "chaos.single", style: "single", batchSize: 1 },
  { name: "chaos.savepoints", style: "single", batchSize: 10 },
  { name: "chaos.outcomes", style: "batch", batchSize: 20 }
] as const

export type Group = (typeof groups)[number]

/** Handler and pool timings, the same in every worker process. */
export const timings = {
  claimTimeout: Duration.seconds(3),
  reapInterval: Duration.millis(500),
  pollInterval: Duration.millis(500),
  shutdownTimeout: Duration.seconds(2),
  /** With `--retention-zero`: pruning runs this often, under the faults. */
  pruneInterval: Duration.seconds(3),
  maxAttempts: 5,
  concurrency: 2
} as const

/** A hang outlasts the claim timeout: the heartbeat must keep the lease. */
export const hangFor = Duration.sum(timings.claimTimeout, Duration.seconds(1))

/** What a handler does on one attempt of one delivery. */
export type Behaviour = "ok" | "fail" | "defect" | "hang" | "permanent"

/** The injected handler failures, as counted in the report. */
export const handlerFaults = {
  fail: "handler-failure",
  defect: "handler-defect",
  hang: "handler-hang",
  permanent: "handler-permanent"
} as const

/** A 32-bit FNV-1a hash mapped to [0, 1). */
const unit = (text: string): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  hash ^= hash >>> 16
  hash = Math.imul(hash, 0x85ebca6b) >>> 0
  hash ^= hash >>> 13
  return (hash >>> 0) / 2 ** 32
}

/** Events whose handlers fail on every attempt: dead-lettered after `maxAttempts`. */
export const alwaysFails = (seed: number, group: string, n: number): boolean =>
  n === 7 || unit(`${seed}/${group}/${n}/always`) < 0.002

/**
 * The behaviour of attempt `attempt` of event `n` in `group`: a deterministic function of
 * seed, group, event and attempt, so a run replays. Events 3 to 7 carry one of each kind on
 * their first attempt, so even a short run injects every kind.
 */
export const decide = (seed: number, group: string, n: number, attempt: number): Behaviour => {
  if (alwaysFails(seed, group, n)) return "fail"
  if (attempt === 1) {
    if (n === 3) return "hang"
    if (n === 4) return "defect"
    if (n === 5) return "fail"
    if (n === 6) return "permanent"
  }
  const x = unit(`${seed}/${group}/${n}/${attempt}`)
  if (x < 0.02) return "fail"
  if (x < 0.03) return "defect"
  if (attempt === 1 && x < 0.033) return "permanent"
  if (attempt === 1 && x < 0.034) return "hang"
  return "ok"
}

/** A handler's typed, retryable failure. */
export class ChaosFailure extends Schema.TaggedError<ChaosFailure>()("ChaosFailure", {
  message: Schema.String
}) {}

/** The chaos tables, in schema `chaos`. */
export const tables = {
  effects: "chaos.effects",
  transitions: "chaos.transitions",
  ready: "chaos.ready",
  /** The runtime's deliveries and events, with the rows deleted from them (a retention of zero). */
  deliveries: "chaos.all_deliveries",
  events: "chaos.all_events",
  deletedDeliveries: "chaos.deleted_deliveries",
  deletedEvents: "chaos.deleted_events"
} as const

/**
 * Creates the chaos schema: the in-transaction effect table the handlers write, the worker
 * start-up table, and an audit trigger on the runtime's deliveries recording every status
 * change with the claim token it replaced, the lease's `claimed_at` and the writing transaction.
 * Deleted deliveries and events are kept in `chaos.deleted_*`, and the views
 * `chaos.all_deliveries`, `chaos.all_events` show them with the live rows: a delivery deleted
 * while claimed (an acknowledgement with a retention of zero) as delivered, recorded as a
 * `claimed → delivered` transition like an acknowledgement that marks.
 */
export const install = (runtimeSchema: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`DROP SCHEMA IF EXISTS chaos CASCADE`
    yield* sql`CREATE SCHEMA chaos`
    yield* sql`CREATE TABLE chaos.effects (
      consumer_group text   NOT NULL,
      n              int    NOT NULL,
      event_id       bigint NOT NULL,
      claim_token    uuid   NOT NULL,
      attempt        int    NOT NULL,
      pid            int    NOT NULL,
      xid            xid8   NOT NULL DEFAULT pg_current_xact_id(),
      at             timestamptz NOT NULL DEFAULT clock_timestamp()
    )`
    yield* sql`CREATE TABLE chaos.transitions (
      consumer_group text   NOT NULL,
      event_id       bigint NOT NULL,
      old_status     text   NOT NULL,
      new_status     text   NOT NULL,
      old_token      uuid,
      new_token      uuid,
      attempts       int    NOT NULL,
      last_error     text,
      claimed_at     timestamptz,
      xid            xid8   NOT NULL DEFAULT pg_current_xact_id(),
      at             timestamptz NOT NULL DEFAULT clock_timestamp()
    )`
    yield* sql`CREATE TABLE chaos.ready (slot int NOT NULL, pid int NOT NULL, at timestamptz NOT NULL DEFAULT now())`
    yield* sql.unsafe(`CREATE FUNCTION chaos.audit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.status IS DISTINCT FROM OLD.status THEN
          INSERT INTO chaos.transitions
            (consumer_group, event_id, old_status, new_status, old_token, new_token, attempts, last_error,
             claimed_at)
          VALUES
            (NEW.consumer_group, NEW.event_id, OLD.status, NEW.status, OLD.claim_token, NEW.claim_token,
             NEW.attempts, NEW.last_error, NEW.claimed_at);
        END IF;
        RETURN NEW;
      END $$`)
    yield* sql.unsafe(
      `CREATE TRIGGER chaos_audit AFTER UPDATE ON ${runtimeSchema}.deliveries
       FOR EACH ROW EXECUTE FUNCTION chaos.audit()`
    )
    /** Archives the rows deleted from a runtime table with `keeper`, and shows them with the live ones. */
    const keepDeleted = (table: "deliveries" | "events", keeper: string) =>
      Effect.all([
        sql.unsafe(`CREATE TRIGGER chaos_keep_deleted AFTER DELETE ON ${runtimeSchema}.${table}
          FOR EACH ROW EXECUTE FUNCTION chaos.${keeper}()`),
        sql.unsafe(`CREATE VIEW chaos.all_${table} AS
          SELECT * FROM ${runtimeSchema}.${table} UNION ALL SELECT * FROM chaos.deleted_${table}`)
      ], { discard: true })
    yield* sql.unsafe(`CREATE TABLE chaos.deleted_deliveries (LIKE ${runtimeSchema}.deliveries)`)
    yield* sql.unsafe(`CREATE TABLE chaos.deleted_events (LIKE ${runtimeSchema}.events)`)
    yield* sql.unsafe(`CREATE FUNCTION chaos.keep_deleted_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        kept ${runtimeSchema}.deliveries%ROWTYPE := OLD;
      BEGIN
        IF OLD.status = 'claimed' THEN
          kept.status := 'delivered';
          kept.claim_token := NULL;
          INSERT INTO chaos.transitions
            (consumer_group, event_id, old_status, new_status, old_token, new_token, attempts, last_error, claimed_at)
          VALUES
            (OLD.consumer_group, OLD.event_id, OLD.status, kept.status, OLD.claim_token, NULL, OLD.attempts, NULL,
             OLD.claimed_at);
        END IF;
        INSERT INTO chaos.deleted_deliveries SELECT (kept).*;
        RETURN OLD;
      END $$`)
    yield* keepDeleted("deliveries", "keep_deleted_delivery")
    yield* sql.unsafe(`CREATE FUNCTION chaos.keep_deleted_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO chaos.deleted_events SELECT (OLD).*;
        RETURN OLD;
      END $$`)
    yield* keepDeleted("events", "keep_deleted_event")
  })

/** One line of a worker's external-effect log. */
export interface ExternalLine {
  /** `done`: the external effect of a successful attempt; otherwise the injected failure. */
  readonly kind: "done" | Exclude<Behaviour, "ok">
  readonly group: string
  readonly n: number
  readonly eventId: string
  readonly attempt: number
  readonly token: string
  readonly pid: number
  /** Wall-clock milliseconds. */
  readonly at: number
}

export const formatLine = (line: ExternalLine): string =>
  `${line.kind}\t${line.group}\t${line.n}\t${line.eventId}\t${line.attempt}\t${line.token}\t${line.pid}\t${line.at}\n`

/** Parses a log's lines; a torn last line (a process killed mid-write) is dropped. */
export const parseLines = (text: string): Array<ExternalLine> => {
  const lines: Array<ExternalLine> = []
  for (const raw of text.split("\n")) {
    const f = raw.split("\t")
    if (f.length !== 8 || f[7] === "") continue
    lines.push({
      kind: f[0] as ExternalLine["kind"],
      group: f[1]!,
      n: Number(f[2]),
      eventId: f[3]!,
      attempt: Number(f[4]),
      token: f[5]!,
      pid: Number(f[6]),
      at: Number(f[7])
    })
  }
  return lines
}
