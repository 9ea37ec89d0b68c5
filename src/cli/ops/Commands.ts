/**
 * The `sluice` tool's commands (`@effect/cli`): migrate, status, failed (list and show),
 * retry, skip, replay, prune and events tail. Each command opens the database only when
 * it runs (so `--help` and usage errors never start a server), through
 * {@link Environment}.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as Prompt from "@effect/cli/Prompt"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { type DeliveryRef, Operations, type Selection } from "../../ops/Operations.js"
import * as Environment from "./Environment.js"
import * as Format from "./Format.js"
import * as Parse from "./Parse.js"

/** The command line asks for something that cannot be done as given (exit code 2). */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

const invalid = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))

// Options shared by several commands.

const json = Options.boolean("json").pipe(Options.withDescription("print JSON instead of a table"))

const yes = Options.boolean("yes").pipe(
  Options.withAlias("y"),
  Options.withDescription("do it without asking for confirmation")
)

const groupOption = Options.text("group").pipe(
  Options.withAlias("g"),
  Options.withDescription("consumer group (a handler's name)")
)

const typeOption = Options.text("type").pipe(Options.withAlias("t"), Options.withDescription("event type"))

const sinceOption = Options.text("since").pipe(
  Options.withPseudoName("TIME"),
  Options.withDescription("an ISO date (2026-01-31, 2026-01-31T12:00:00Z) or a duration ago (90s, 15m, 2h, 7d)"),
  Options.mapEffect((text) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const at = Parse.pointInTime(text, now)
      return at === undefined
        ? Effect.fail(invalid(`--since ${JSON.stringify(text)}: not an ISO date nor a duration such as 2h or 7d`))
        : Effect.succeed(at)
    })
  )
)

const eventIds = (min: 0 | 1) =>
  Args.text({ name: "id" }).pipe(
    Args.withDescription("event id (as `sluice failed` lists them)"),
    (id) => min === 0 ? Args.repeated(id) : Args.atLeast(id, 1),
    Args.mapEffect((ids: ReadonlyArray<string>) => {
      const bad = ids.find((id) => !Parse.isEventId(id))
      return bad === undefined
        ? Effect.succeed(ids)
        : Effect.fail(HelpDoc.p(`<id> ${JSON.stringify(bad)}: an event id is a positive integer`))
    })
  )

const getOrUndefined = Option.getOrUndefined

const isInteractive = () => process.stdin.isTTY === true && process.stdout.isTTY === true

/** Asks before changing anything, unless `--yes`; refuses when nobody can answer. */
const confirm = (question: string, assumeYes: boolean) =>
  Effect.gen(function*() {
    if (assumeYes) return true
    if (!isInteractive()) {
      return yield* new UsageError({ message: `${question}: not a terminal to ask on; add --yes to go ahead` })
    }
    return yield* Prompt.confirm({ message: question, initial: false })
  })

/** Writes progress on stderr: one updated line on a terminal, a line per update otherwise. */
const progress = (line: string) =>
  Effect.sync(() => {
    if (process.stderr.isTTY) process.stderr.write(`\r${line}`)
    else process.stderr.write(`${line}\n`)
  })

const endProgress = Effect.sync(() => {
  if (process.stderr.isTTY) process.stderr.write("\n")
})

const plural = (n: number, word: string) =>
  `${n} ${n === 1 ? word : word.endsWith("y") ? `${word.slice(0, -1)}ies` : `${word}s`}`

// migrate

const migrate = Command.make("migrate", {}, () =>
  Effect.gen(function*() {
    const applied = yield* Environment.migrate
    if (applied.length === 0) yield* Console.log("migrate: schema up to date, nothing applied")
    for (const [id, name] of applied) yield* Console.log(`migrate: applied ${String(id).padStart(4, "0")}_${name}`)
  }).pipe(Effect.provide(Environment.database))).pipe(
    Command.withDescription("Apply sluice's pending migrations to the database (safe to run twice)")
  )

// status

const watchInterval = 2_000

const status = Command.make("status", {
  watch: Options.boolean("watch").pipe(
    Options.withAlias("w"),
    Options.withDescription("refresh every 2 seconds until Ctrl-C")
  ),
  json
}, ({ json, watch }) =>
  Effect.gen(function*() {
    const ops = yield* Operations
    const show = Effect.gen(function*() {
      const groups = yield* ops.status
      if (json) return yield* Console.log(JSON.stringify(groups, null, watch ? undefined : 2))
      const table = Format.statusTable(groups)
      if (!watch) return yield* Console.log(table)
      const now = new Date(yield* Clock.currentTimeMillis).toISOString()
      const clear = process.stdout.isTTY ? "\x1b[2J\x1b[H" : ""
      yield* Console.log(`${clear}sluice status · ${now} · every ${watchInterval / 1000} s, Ctrl-C to stop\n${table}\n`)
    })
    if (!watch) return yield* show
    return yield* Effect.forever(Effect.zipRight(show, Effect.sleep(watchInterval)))
  }).pipe(Effect.provide(Environment.operations))).pipe(
    Command.withDescription(
      "Per consumer group: pending, due, claimed, failed and skipped deliveries, delivered in the last hour, " +
        "the oldest pending delivery's wait and the throughput of the last 5 minutes"
    )
  )

// failed, failed show

const failedLimit = Options.integer("limit").pipe(
  Options.withDescription("show at most this many"),
  Options.withDefault(100),
  Options.mapEffect((n) => n > 0 ? Effect.succeed(n) : Effect.fail(invalid(`--limit ${n}: must be a positive integer`)))
)

const show = Command.make("show", {
  id: Args.text({ name: "id" }).pipe(
    Args.withDescription("event id"),
    Args.mapEffect((id) =>
      Parse.isEventId(id)
        ? Effect.succeed(id)
        : Effect.fail(HelpDoc.p(`<id> ${JSON.stringify(id)}: an event id is a positive integer`))
    )
  ),
  group: Options.optional(groupOption),
  json
}, ({ group, id, json }) =>
  Effect.gen(function*() {
    const letters = yield* (yield* Operations).failedDetail(id, getOrUndefined(group))
    if (letters.length === 0) {
      return yield* new UsageError({
        message: `event ${id} has no dead letter${Option.isSome(group) ? ` in group ${group.value}` : ""}`
      })
    }
    yield* Console.log(json ? JSON.stringify(letters, null, 2) : Format.detail(letters))
  }).pipe(Effect.provide(Environment.operations))).pipe(
    Command.withDescription("One event's dead letters: the payload, metadata and every attempt's error")
  )

const failed = Command.make("failed", {
  group: Options.optional(groupOption),
  type: Options.optional(typeOption),
  limit: failedLimit,
  json
}, ({ group, json, limit, type }) =>
  Effect.gen(function*() {
    const letters = yield* (yield* Operations).failed({
      group: getOrUndefined(group),
      type: getOrUndefined(type),
      limit
    })
    if (json) return yield* Console.log(JSON.stringify(letters, null, 2))
    yield* Console.log(Format.failedTable(letters))
    if (letters.length === limit) yield* Console.log(`(the newest ${limit}; --limit shows more)`)
  }).pipe(Effect.provide(Environment.operations))).pipe(
    Command.withDescription("Dead letters (failed deliveries), most recently failed first"),
    Command.withSubcommands([show])
  )

// retry, skip

/** The dead letters that ids (optionally within a group) name. */
const refsOf = (ids: ReadonlyArray<string>, group: string | undefined) =>
  Effect.gen(function*() {
    const ops = yield* Operations
    const refs: Array<DeliveryRef> = []
    const missing: Array<string> = []
    for (const id of ids) {
      const letters = yield* ops.failedDetail(id, group)
      if (letters.length === 0) missing.push(id)
      for (const letter of letters) refs.push({ eventId: letter.eventId, group: letter.group })
    }
    return { refs, missing }
  })

const describeSelection = (selection: Selection) =>
  [
    `group ${selection.group}`,
    ...(selection.type === undefined ? [] : [`type ${selection.type}`]),
    ...(selection.since === undefined ? [] : [`failed since ${selection.since.toISOString()}`])
  ].join(", ")

/** What `retry` and `skip` were asked to do. */
interface BulkOptions {
  readonly ids: ReadonlyArray<string>
  readonly group: string | undefined
  readonly type: string | undefined
  readonly since: Date | undefined
  readonly yes: boolean
}

const bulk = (
  verb: "retry" | "skip",
  options: BulkOptions
) =>
  Effect.gen(function*() {
    if (options.ids.length > 0 && (options.type !== undefined || options.since !== undefined)) {
      return yield* new UsageError({ message: `${verb}: --type and --since select by group; not with event ids` })
    }
    if (options.ids.length === 0 && options.group === undefined) {
      return yield* new UsageError({ message: `${verb}: give event ids, or --group to ${verb} a group's dead letters` })
    }
    return yield* bulkChecked(verb, options).pipe(Effect.provide(Environment.operations))
  })

const bulkChecked = (
  verb: "retry" | "skip",
  options: BulkOptions
) =>
  Effect.gen(function*() {
    const ops = yield* Operations
    const act = verb === "retry" ? ops.retry : ops.skip
    const done = verb === "retry" ? "retried" : "skipped"
    if (options.ids.length > 0) {
      const { missing, refs } = yield* refsOf(options.ids, options.group)
      if (missing.length > 0) {
        yield* Console.error(
          `${verb}: no dead letter for event ${missing.join(", ")}${
            options.group === undefined ? "" : ` in group ${options.group}`
          }`
        )
      }
      if (refs.length === 0) return yield* new UsageError({ message: `${verb}: nothing to do` })
      const listed = refs.map((ref) => `${ref.eventId} (${ref.group})`).join(", ")
      if (!(yield* confirm(`${verb} ${plural(refs.length, "dead letter")}: ${listed}?`, options.yes))) {
        return yield* Console.log(`${verb}: cancelled`)
      }
      const n = yield* act(refs)
      return yield* Console.log(`${verb}: ${done} ${plural(n, "dead letter")}`)
    }
    const selection: Selection = { group: options.group!, type: options.type, since: options.since }
    const matching = (yield* ops.failed({ group: selection.group, type: options.type, limit: 1_000_000 })).filter(
      (letter) => options.since === undefined || letter.failedAt.getTime() >= options.since.getTime()
    ).length
    if (matching === 0) return yield* Console.log(`${verb}: no dead letters of ${describeSelection(selection)}`)
    const question = `${verb} ${plural(matching, "dead letter")} of ${describeSelection(selection)}?`
    if (!(yield* confirm(question, options.yes))) return yield* Console.log(`${verb}: cancelled`)
    const n = yield* act(selection)
    yield* Console.log(`${verb}: ${done} ${plural(n, "dead letter")} of ${describeSelection(selection)}`)
  })

const retry = Command.make("retry", {
  ids: eventIds(0),
  group: Options.optional(groupOption),
  type: Options.optional(typeOption),
  since: Options.optional(sinceOption),
  yes
}, ({ group, ids, since, type, yes }) =>
  bulk("retry", {
    ids,
    group: getOrUndefined(group),
    type: getOrUndefined(type),
    since: getOrUndefined(since),
    yes
  })).pipe(
    Command.withDescription(
      "Deliver dead letters again (attempts from 0, due now): by event ids (all their failed groups, or --group's), " +
        "or every dead letter of --group, narrowed by --type and --since (failed at or after)"
    )
  )

const skip = Command.make("skip", {
  ids: eventIds(1),
  group: Options.optional(groupOption),
  yes
}, ({ group, ids, yes }) => bulk("skip", { ids, group: getOrUndefined(group), type: undefined, since: undefined, yes }))
  .pipe(
    Command.withDescription("Mark dead letters skipped (settled; retention removes them later)")
  )

// replay

const replay = Command.make("replay", {
  group: groupOption,
  type: typeOption,
  since: sinceOption,
  batchSize: Options.integer("batch-size").pipe(
    Options.withDescription("events per statement"),
    Options.withDefault(1_000),
    Options.mapEffect((n) =>
      n > 0 ? Effect.succeed(n) : Effect.fail(invalid(`--batch-size ${n}: must be a positive integer`))
    )
  )
}, ({ batchSize, group, since, type }) =>
  Effect.gen(function*() {
    const ops = yield* Operations
    const queued = yield* ops.replay(
      { group, type, since, batchSize },
      (done, total) => progress(`replay ${Format.bar(done, total)}`)
    ).pipe(Effect.ensuring(endProgress))
    yield* Console.log(
      `replay: ${plural(queued, "delivery")} of ${type} since ${since.toISOString()} queued for group ${group}`
    )
  }).pipe(Effect.provide(Environment.operations))).pipe(
    Command.withDescription(
      "Deliver past events of --type created since --since to --group again: those it never got (e.g. emitted " +
        "before it first registered) and those it already handled; in batches, with a progress bar"
    )
  )

// prune

const defaultRetention = "1d"

const prune = Command.make("prune", {
  olderThan: Options.text("older-than").pipe(
    Options.withPseudoName("DURATION"),
    Options.withDescription("delete what was settled longer ago than this (90m, 12h, 7d)"),
    Options.withDefault(defaultRetention),
    Options.mapEffect((text) => {
      const millis = Parse.durationMillis(text)
      return millis === undefined || millis <= 0
        ? Effect.fail(invalid(`--older-than ${JSON.stringify(text)}: not a positive duration such as 12h or 7d`))
        : Effect.succeed(millis)
    })
  )
}, ({ olderThan }) =>
  Effect.gen(function*() {
    const deleted = yield* (yield* Operations).prune(
      { olderThanMs: olderThan },
      (n) => progress(`prune: ${n} rows deleted`)
    ).pipe(Effect.ensuring(endProgress))
    yield* Console.log(`prune: deleted ${plural(deleted, "row")} settled more than ${Parse.formatAge(olderThan)} ago`)
  }).pipe(Effect.provide(Environment.operations))).pipe(
    Command.withDescription(
      `Retention by hand: delete delivered and skipped deliveries, their errors and events no group needs, older than ` +
        `--older-than (default ${defaultRetention}, as the worker pool's retention)`
    )
  )

// events tail

const tail = Command.make("tail", {
  type: Options.optional(typeOption),
  json: Options.boolean("json").pipe(Options.withDescription("one JSON object per line"))
}, ({ json, type }) =>
  Effect.gen(function*() {
    const ops = yield* Operations
    yield* Console.error(`tail: following new events${Option.isSome(type) ? ` of ${type.value}` : ""}; Ctrl-C to stop`)
    yield* Stream.runForEach(
      ops.tail({ type: getOrUndefined(type) }),
      (row) => Console.log(json ? JSON.stringify(Format.changeJson(row)) : Format.changeLine(row))
    )
  }).pipe(Effect.provide(Environment.operations))).pipe(
    Command.withDescription("Print new events as they are committed (the changefeed), until Ctrl-C")
  )

const events = Command.make("events").pipe(
  Command.withDescription("The event log"),
  Command.withSubcommands([tail])
)

/** The whole tool. */
export const sluice = Command.make("sluice").pipe(
  Command.withDescription(
    "Operate a sluice database: DATABASE_URL, else the embedded server in SLUICE_DATA_DIR (default .sluice); " +
      "schema SLUICE_SCHEMA (default sluice)"
  ),
  Command.withSubcommands([migrate, status, failed, retry, skip, replay, prune, events])
)
