/**
 * One measurement of each scenario: a fresh database copied from a template, fresh child
 * processes, the runner sampling PostgreSQL's CPU around the measured window.
 */
import type { Task } from "./child.js"
import type { Profile } from "./contender.js"
import { type Admin, cpuBetween, cpuOf, databaseUrl, serverCpu, withClient } from "./postgres.js"
import { now } from "./protocol.js"
import type { Results } from "./results.js"
import { units } from "./results.js"
import { type DrainCell, drainName, type Plan, type Subject, subjectName } from "./scenarios.js"
import { type Child, handledBy, type Launcher, spawnChild, until } from "./spawn.js"
import { percentile, type Value } from "./stats.js"

const single = ["g1"]
const fanoutGroups = ["g1", "g2", "g3"]

export interface Bench {
  readonly admin: Admin
  readonly launcher: Launcher
  readonly postmaster: number
  readonly plan: Plan
  readonly results: Results
  /** Prints one line of progress (stderr). */
  readonly log: (line: string) => void
}

type TaskOf<R extends Task["role"]> = Omit<Extract<Task, { readonly role: R }>, "role" | "url" | "profile" | "groups">

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** What an install of a subject depends on: only pg-boss's queues differ between profiles. */
const installProfile = (subject: Subject): Profile => subject.contender === "pg-boss" ? subject.profile : "default"

/** A database of the run; children connect to it once `created` resolves. */
interface Database {
  readonly name: string
  readonly url: string
  readonly created: Promise<unknown>
}

/** Creates a database (copied from `template`) while the children that use it are starting. */
const creating = (bench: Bench, name: string, template?: string): Database => {
  const created = bench.admin.create(name, template).then(() => bench.admin.checkpoint())
  created.catch(() => {})
  return { name, url: databaseUrl(bench.admin.server, name), created }
}

/** A child for `subject` running `task` on `database`; it connects once the database exists. */
const child = <R extends Task["role"]>(
  bench: Bench,
  subject: Subject,
  database: Database,
  groups: ReadonlyArray<string>,
  role: R,
  task: TaskOf<R>
): Child => {
  const spawned = spawnChild(
    bench.launcher,
    subject.contender,
    { ...task, role, url: database.url, profile: subject.profile, groups } as Task
  )
  database.created.then(() => spawned.command("open"), () => spawned.kill())
  return spawned
}

/**
 * Runs `work` with the children, then tells them to stop and waits for their results and
 * exits; on any failure ends them all.
 */
const settle = async <A>(children: ReadonlyArray<Child>, work: () => Promise<A>): Promise<A> => {
  try {
    const value = await work()
    for (const c of children) c.command("stop")
    await Promise.all(children.map((c) => c.result))
    await Promise.all(children.map((c) => c.exited))
    return value
  } catch (error) {
    for (const c of children) c.kill()
    await Promise.all(children.map((c) => c.exited))
    throw error
  }
}

let databases = 0

/** Runs `f` on a fresh database copied from `template`, dropped afterwards. */
const withDatabase = async <A>(bench: Bench, template: string, f: (database: Database) => Promise<A>) => {
  const database = creating(bench, `bench_${process.pid}_${++databases}`, template)
  try {
    return await f(database)
  } finally {
    await database.created.catch(() => {})
    await bench.admin.drop(database.name)
  }
}

const schemaTemplates = new Map<string, string>()

/** A database with the subject's schema and `groups` installed, to copy from. */
const schemaTemplate = async (bench: Bench, subject: Subject, groups: ReadonlyArray<string>): Promise<string> => {
  const profile = installProfile(subject)
  const key = `bench_tpl_${subject.contender.replace(/-/g, "_")}_${profile}_${groups.length}`
  const existing = schemaTemplates.get(key)
  if (existing !== undefined) return existing
  const installer = child(bench, { ...subject, profile }, creating(bench, key), groups, "install", {})
  await settle([installer], () => installer.result)
  schemaTemplates.set(key, key)
  return key
}

/** Records the rate, peak RSS and CPU per event of a throughput measurement. */
const recordThroughput = (
  bench: Bench,
  subject: Subject,
  scenario: string,
  unit: string,
  repetition: number,
  measured: {
    readonly events: number
    readonly ms: number
    readonly rssMb: number
    readonly workerCpuMs: number
    readonly pgCpuMs: number
  }
) => {
  const { results } = bench
  const perEvent = (cpuMs: number) => measured.events === 0 ? null : (cpuMs * 1000) / measured.events
  const rate = measured.ms > 0 ? (measured.events * 1000) / measured.ms : null
  results.record(subject, scenario, unit, rate, repetition)
  results.record(subject, `${scenario}:rss`, units.mb, measured.rssMb, repetition)
  results.record(subject, `${scenario}:cpu-worker`, units.cpu, perEvent(measured.workerCpuMs), repetition)
  results.record(subject, `${scenario}:cpu-pg`, units.cpu, perEvent(measured.pgCpuMs), repetition)
  bench.log(`${scenario} ${subjectName(subject)} #${repetition + 1}: ${rate === null ? "-" : Math.round(rate)}/s`)
}

/** Emits events in one call with the producer child of `subject`; returns the measurement. */
const emitInto = async (
  bench: Bench,
  subject: Subject,
  database: Database,
  groups: ReadonlyArray<string>,
  events: number,
  instances = false
) => {
  const producer = child(bench, subject, database, groups, "emit-batch", { events, instances })
  return settle([producer], async () => {
    await producer.ready
    const before = await serverCpu(bench.postmaster)
    producer.command("go")
    const result = await producer.result
    const pgCpuMs = cpuBetween(before, await serverCpu(bench.postmaster))
    return { events, ms: result.elapsedMs ?? 0, rssMb: result.peakRssMb, workerCpuMs: result.cpuMs, pgCpuMs }
  })
}

/**
 * Vacuums and analyzes a database now rather than leaving it to autovacuum, which would
 * run within the next minute, in the middle of whichever drain was measuring: after a
 * pre-fill (20,000 inserts are past autovacuum's threshold), after the bloat pass-through
 * (a plain `VACUUM` left its million modifications waiting for an analyze: 1–2 s of CPU),
 * and after each drain on the pass-through's database, which the next repetition drains again.
 */
const settleVacuum = (database: Database) => withClient(database.url, (client) => client.query("VACUUM ANALYZE"))

const prefilled = new Map<string, string>()
const prefillKey = (subject: Subject, groups: ReadonlyArray<string>, repetition: number) =>
  `bench_pf_${subject.contender.replace(/-/g, "_")}_${installProfile(subject)}_${groups.length}_r${repetition}`

/**
 * `emit.batch`: N events in one call on a fresh database. The database, vacuumed and
 * analysed, is kept as the pre-filled template of this repetition's drains.
 */
export const emitBatch = async (
  bench: Bench,
  subject: Subject,
  groups: ReadonlyArray<string>,
  repetition: number
): Promise<void> => {
  const database = creating(
    bench,
    prefillKey(subject, groups, repetition),
    await schemaTemplate(bench, subject, groups)
  )
  const measured = await emitInto(bench, subject, database, groups, bench.plan.events)
  recordThroughput(
    bench,
    subject,
    groups.length === 1 ? "emit.batch" : `emit.batch.fanout${groups.length}`,
    units.events,
    repetition,
    measured
  )
  await settleVacuum(database)
  prefilled.set(database.name, database.name)
}

/** Pre-fills (and measures `emit.batch`) for every drain of a repetition. */
export const prefill = async (bench: Bench, subjects: ReadonlyArray<Subject>, repetition: number): Promise<void> => {
  for (const subject of subjects) await emitBatch(bench, subject, single, repetition)
}

/**
 * Starts consumers on `database`, says go, and waits until they handled `target` events
 * or `capMs` passed. Returns what they did in that window.
 */
const consume = async (
  bench: Bench,
  subject: Subject,
  database: Database,
  options: {
    readonly groups: ReadonlyArray<string>
    readonly batch: number
    readonly concurrency: number
    readonly processes: number
    readonly prune: boolean
    readonly target: number
    readonly capMs: number
  }
) => {
  const consumers = Array.from(
    { length: options.processes },
    () =>
      child(bench, subject, database, options.groups, "consume", {
        batch: options.batch,
        concurrency: options.concurrency,
        prune: options.prune,
        record: false
      })
  )
  return settle(consumers, async () => {
    await Promise.all(consumers.map((c) => c.ready))
    const before = await serverCpu(bench.postmaster)
    const goAt = now()
    for (const c of consumers) c.command("go")
    const done = await until(() => handledBy(consumers).handled >= options.target, goAt + options.capMs)
    const endAt = now()
    const pgCpuMs = cpuBetween(before, await serverCpu(bench.postmaster))
    // Let the last progress reports arrive (they carry the exact times and CPU).
    await sleep(40)
    const progress = handledBy(consumers)
    if (options.prune) await untilPruned(bench, subject, database)
    for (const c of consumers) c.command("stop")
    const results = await Promise.all(consumers.map((c) => c.result))
    const events = done ? options.target : progress.handled
    return {
      events,
      ms: (done ? progress.lastAt : endAt) - goAt,
      startMs: progress.firstAt - goAt,
      rssMb: Math.max(...results.map((r) => r.peakRssMb)),
      workerCpuMs: progress.cpuMs,
      pgCpuMs
    }
  })
}

/** `drain.*`: N pre-filled events (from this repetition's template) through one group. */
export const drain = async (bench: Bench, cell: DrainCell, repetition: number): Promise<void> => {
  const template = prefilled.get(prefillKey(cell.subject, single, repetition))
  if (template === undefined) throw new Error(`no pre-filled template for ${subjectName(cell.subject)}`)
  const measured = await withDatabase(bench, template, (database) =>
    consume(bench, cell.subject, database, {
      groups: single,
      batch: cell.batch,
      concurrency: cell.concurrency,
      processes: cell.processes,
      prune: false,
      target: bench.plan.events,
      capMs: bench.plan.drainCapMs
    }))
  const scenario = drainName(cell)
  recordThroughput(bench, cell.subject, scenario, units.deliveries, repetition, measured)
  bench.results.record(cell.subject, `${scenario}:start`, units.ms, measured.startMs, repetition)
}

/** `fanout3`: N pre-filled events, each delivered to 3 groups; the rate is per delivery. */
export const fanout = async (bench: Bench, subject: Subject, repetition: number): Promise<void> => {
  const template = prefilled.get(prefillKey(subject, fanoutGroups, repetition))
  if (template === undefined) throw new Error(`no pre-filled fan-out template for ${subjectName(subject)}`)
  const measured = await withDatabase(bench, template, (database) =>
    consume(bench, subject, database, {
      groups: fanoutGroups,
      batch: 100,
      concurrency: 1,
      processes: 1,
      prune: false,
      target: bench.plan.events * fanoutGroups.length,
      capMs: bench.plan.drainCapMs * fanoutGroups.length
    }))
  recordThroughput(bench, subject, "fanout3.b100.c1", units.deliveries, repetition, measured)
}

/** Pre-fills the fan-out templates of a repetition (and measures `emit.batch.fanout3`). */
export const prefillFanout = async (bench: Bench, subjects: ReadonlyArray<Subject>, repetition: number) => {
  for (const subject of subjects) await emitBatch(bench, subject, fanoutGroups, repetition)
}

/**
 * `emit.each`: events one per transaction, back to back, on a fresh database, after
 * `emitWarmup` untimed ones; `emit.each.cold`: the first ones of a fresh process.
 */
export const emitEach = async (
  bench: Bench,
  subject: Subject,
  repetition: number,
  warm: boolean
): Promise<void> => {
  const template = await schemaTemplate(bench, subject, single)
  const events = bench.plan.emitEach
  const warmup = warm ? bench.plan.emitWarmup : 0
  const measured = await withDatabase(bench, template, async (database) => {
    const producer = child(bench, subject, database, single, "emit-each", { events, warmup })
    return settle([producer], async () => {
      await producer.ready
      const before = await serverCpu(bench.postmaster)
      producer.command("go")
      const result = await producer.result
      const pgCpuMs = cpuBetween(before, await serverCpu(bench.postmaster))
      return { events, ms: result.elapsedMs ?? 0, rssMb: result.peakRssMb, workerCpuMs: result.cpuMs, pgCpuMs }
    })
  })
  recordThroughput(bench, subject, warm ? "emit.each" : "emit.each.cold", units.events, repetition, measured)
}

/**
 * `emit.batch.instances` (sluice): `emit.batch` from event instances the timed call makes of
 * the payloads (`Outbox.emitAll`), where `emit.batch` hands the payloads to `Outbox.emitAllOf`.
 */
export const emitInstances = async (bench: Bench, subject: Subject, repetition: number): Promise<void> => {
  const template = await schemaTemplate(bench, subject, single)
  const measured = await withDatabase(
    bench,
    template,
    (database) => emitInto(bench, subject, database, single, bench.plan.events, true)
  )
  recordThroughput(bench, subject, "emit.batch.instances", units.events, repetition, measured)
}

/**
 * `latency.*`: one event per transaction at a steady rate from a producer process to a
 * consumer process; from the producer's commit to the start of the handler. An event not
 * handled by the end of the grace period counts as never (null when a percentile falls on it).
 */
export const latency = async (bench: Bench, subject: Subject, repetition: number): Promise<void> => {
  const { graceMs, rate, seconds } = bench.plan.latency
  const template = await schemaTemplate(bench, subject, single)
  const measured = await withDatabase(bench, template, async (database) => {
    const consumer = child(bench, subject, database, single, "consume", {
      batch: 100,
      concurrency: 1,
      prune: false,
      record: true
    })
    const producer = child(bench, subject, database, single, "produce", { rate, seconds })
    return settle([consumer, producer], async () => {
      await Promise.all([consumer.ready, producer.ready])
      consumer.command("go")
      await consumer.started
      await sleep(150)
      const before = await serverCpu(bench.postmaster)
      producer.command("go")
      const produced = await producer.result
      const events = produced.commits?.length ?? 0
      await until(() => handledBy([consumer]).handled >= events, now() + graceMs)
      const pgCpuMs = cpuBetween(before, await serverCpu(bench.postmaster))
      consumer.command("stop")
      const consumed = await consumer.result
      const startOf = new Map<number, number>()
      for (const [n, at] of consumed.starts ?? []) if (!startOf.has(n)) startOf.set(n, at)
      const latencies: Array<Value> = (produced.commits ?? []).map(([n, committed]) => {
        const started = startOf.get(n)
        return started === undefined ? null : started - committed
      })
      return { events, latencies, rssMb: consumed.peakRssMb, workerCpuMs: consumed.cpuMs, pgCpuMs }
    })
  })
  const { results } = bench
  for (const p of [50, 95, 99]) {
    results.record(subject, `latency.p${p}`, units.ms, percentile(measured.latencies, p), repetition)
  }
  const missed = measured.latencies.filter((value) => value === null).length
  results.record(subject, "latency:missed", "events", missed, repetition)
  results.record(subject, "latency:rss", units.mb, measured.rssMb, repetition)
  const perEvent = (cpuMs: number) => (cpuMs * 1000) / Math.max(1, measured.events)
  results.record(subject, "latency:cpu-worker", units.cpu, perEvent(measured.workerCpuMs), repetition)
  results.record(subject, "latency:cpu-pg", units.cpu, perEvent(measured.pgCpuMs), repetition)
  const p50 = percentile(measured.latencies, 50)
  const p99 = percentile(measured.latencies, 99)
  const show = (value: Value) => value === null ? "never" : `${value.toFixed(2)} ms`
  bench.log(`latency ${subjectName(subject)} #${repetition + 1}: p50 ${show(p50)}, p99 ${show(p99)}, missed ${missed}`)
}

/** Where each contender that prunes keeps its events and deliveries. */
const prunedTables: Partial<Record<Subject["contender"], ReadonlyArray<string>>> = {
  sluice: ["sluice.deliveries", "sluice.events"],
  raw: ["deliveries", "events"]
}

/**
 * Waits, with the consumers still running, until their retention pruning has deleted
 * everything they delivered. A consumer stopped earlier leaves a backlog (up to one pruning
 * interval of deliveries and their events) that the next consumer on the same database would
 * prune during its measured drain: a cost of the previous run, not of the tables' history.
 * Gives up when the count has not fallen for 60 s.
 */
const untilPruned = async (bench: Bench, subject: Subject, database: Database) => {
  const tables = prunedTables[subject.contender]
  if (tables === undefined) throw new Error(`no pruned tables known for ${subject.contender}`)
  const count = `SELECT ${tables.map((table) => `(SELECT count(*) FROM ${table})`).join(" + ")} AS n`
  const started = now()
  await withClient(database.url, async (client) => {
    let fewest = Number.POSITIVE_INFINITY
    let fellAt = now()
    let reportedAt = now()
    for (;;) {
      const { rows } = await client.query(count)
      const left = Number((rows[0] as { n: string }).n)
      if (left === 0) break
      if (left < fewest) {
        fewest = left
        fellAt = now()
      }
      if (now() - fellAt > 60_000) {
        throw new Error(`${subjectName(subject)}: retention left ${left} rows, none pruned for 60 s`)
      }
      if (now() - reportedAt > 10_000) {
        bench.log(`${subjectName(subject)}: waiting for retention, ${left} rows left`)
        reportedAt = now()
      }
      await sleep(100)
    }
  })
  const waited = now() - started
  if (waited > 5_000) bench.log(`${subjectName(subject)}: retention caught up after ${(waited / 1000).toFixed(0)} s`)
}

const churned = new Map<string, Database & { readonly rate: number }>()

/** The database `bloat.events` events went through (emit a chunk, drain it, repeat), made once per subject. */
const churnedDatabase = async (bench: Bench, subject: Subject) => {
  const key = `bench_churn_${subject.contender.replace(/-/g, "_")}`
  const existing = churned.get(key)
  if (existing !== undefined) return existing
  const { chunk, events } = bench.plan.bloat
  const database = creating(bench, key, await schemaTemplate(bench, subject, single))
  const churner = child(bench, subject, database, single, "churn", { events, chunk, batch: 100, concurrency: 2 })
  const result = await settle([churner], async () => {
    await churner.ready
    churner.command("go")
    const passed = await churner.result
    await untilPruned(bench, subject, database)
    return passed
  })
  await settleVacuum(database)
  const made = { ...database, rate: (events * 1000) / (result.elapsedMs ?? Number.POSITIVE_INFINITY) }
  churned.set(key, made)
  return made
}

/**
 * `bloat.*`: the drain (b100 c2, retention pruning on: 1 ms, every second) of N events
 * emitted in one call, on fresh tables and on the tables `bloat.events` events went
 * through with pruning on. The pass-through happens once per subject; each repetition
 * drains a fresh database and the pass-through one.
 */
export const bloat = async (bench: Bench, subject: Subject, repetition: number): Promise<void> => {
  const { events } = bench.plan.bloat
  const scale = events >= 1_000_000 ? `${events / 1_000_000}M` : `${events / 1_000}k`
  const probe = async (database: Database) => {
    await emitInto(bench, subject, database, single, bench.plan.events)
    await settleVacuum(database)
    await bench.admin.checkpoint()
    return consume(bench, subject, database, {
      groups: single,
      batch: 100,
      concurrency: 2,
      processes: 1,
      prune: true,
      target: bench.plan.events,
      capMs: bench.plan.drainCapMs * 5
    })
  }
  const after = await churnedDatabase(bench, subject)
  const fresh = await withDatabase(bench, await schemaTemplate(bench, subject, single), probe)
  const aged = await probe(after)
  await settleVacuum(after)
  recordThroughput(bench, subject, "bloat.fresh", units.deliveries, repetition, fresh)
  recordThroughput(bench, subject, `bloat.after${scale}`, units.deliveries, repetition, aged)
  const rate = (measured: { events: number; ms: number }) => measured.events / measured.ms
  const { results } = bench
  results.record(subject, "bloat.ratio", units.ratio, rate(aged) / rate(fresh), repetition)
  if (repetition === 0) results.record(subject, `bloat.churn${scale}`, units.events, after.rate, repetition)
  const { rows } = await bench.admin.query("SELECT pg_database_size($1)::float8 / 1048576 AS mb", [after.name])
  results.record(subject, `bloat.after${scale}:db-size`, units.mb, (rows[0] as { mb: number }).mb, repetition)
}

/**
 * `idle`: pools of `handlers` handlers with nothing to do, every subject and repetition at
 * once (each in its own database and process: they only wait); over the window, each
 * pool's worker CPU, the CPU of its backends, and its transactions per second (from
 * `pg_stat_database`).
 */
export const idle = async (bench: Bench, subjects: ReadonlyArray<Subject>, repetitions: number): Promise<void> => {
  const { handlers, seconds, settleMs } = bench.plan.idle
  const groups = Array.from({ length: handlers }, (_, i) => `g${i + 1}`)
  const pools = Array.from(
    { length: repetitions },
    (_, repetition) => subjects.map((subject) => ({ subject, repetition }))
  )
    .flat()
    .map((pool, i) => ({ ...pool, name: `bench_${process.pid}_idle_${i}` }))
  const templates = new Map<Subject, string>()
  for (const subject of subjects) templates.set(subject, await schemaTemplate(bench, subject, groups))
  const children = pools.map(({ name, subject }) =>
    child(bench, subject, creating(bench, name, templates.get(subject)), groups, "consume", {
      batch: 1,
      concurrency: 1,
      prune: false,
      record: false
    })
  )
  try {
    const windows = await settle(children, async () => {
      await Promise.all(children.map((c) => c.ready))
      for (const c of children) c.command("go")
      await Promise.all(children.map((c) => c.started))
      await sleep(settleMs)
      const sample = async () => {
        const samples = []
        for (const [i, c] of children.entries()) {
          const name = pools[i]!.name
          const worker = await c.sample()
          const transactions = await bench.admin.transactions(name)
          const backends = await cpuOf(await bench.admin.backends(name))
          samples.push({ worker, transactions, backends })
        }
        return samples
      }
      const before = await sample()
      await sleep(seconds * 1000)
      const after = await sample()
      for (const c of children) c.command("stop")
      const results = await Promise.all(children.map((c) => c.result))
      return pools.map((_, i) => ({ before: before[i]!, after: after[i]!, rssMb: results[i]!.peakRssMb }))
    })
    windows.forEach(({ after, before, rssMb }, i) => {
      const { repetition, subject } = pools[i]!
      const ms = after.worker.at - before.worker.at
      const share = (cpuMs: number) => (cpuMs / ms) * 100
      const queries = ((after.transactions - before.transactions) * 1000) / ms
      const { results } = bench
      results.record(subject, "idle.queries", units.queries, queries, repetition)
      results.record(
        subject,
        "idle:cpu-worker",
        units.share,
        share(after.worker.cpuMs - before.worker.cpuMs),
        repetition
      )
      results.record(
        subject,
        "idle:cpu-pg",
        units.share,
        share(cpuBetween(before.backends, after.backends)),
        repetition
      )
      results.record(subject, "idle:rss", units.mb, rssMb, repetition)
      bench.log(`idle ${subjectName(subject)} #${repetition + 1}: ${queries.toFixed(1)} queries/s`)
    })
  } finally {
    for (const pool of pools) await bench.admin.drop(pool.name)
  }
}

/** Drops the pre-filled templates and the pass-through databases (the schema templates stay until the run ends). */
export const dropKept = async (bench: Bench): Promise<void> => {
  for (const name of [...prefilled.keys(), ...[...churned.values()].map((kept) => kept.name)]) {
    await bench.admin.drop(name)
  }
  prefilled.clear()
  churned.clear()
}
