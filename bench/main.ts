/**
 * The side-by-side benchmark: sluice, graphile-worker, pg-boss and a hand-written
 * node-postgres baseline on one embedded PostgreSQL, each measurement on a fresh database
 * in fresh processes, repeated and interleaved across contenders.
 *
 *   npm run bench                       full run (~13 min)
 *   npm run bench -- --quick            under 3 minutes
 *   npm run bench -- --json out.json    also write every cell as JSON
 *   npm run bench -- --only drain,latency --repetitions 5 --tsx
 *   npm run bench -- --quick --only drain --repetitions 1 --cpu-prof prof/   a CPU profile per child
 *   npm run bench -- --only drain --events 100000   drains of N = 100,000 (the steady state)
 *   npm run bench -- --only drain --node-flags="--max-semi-space-size=1"   every child with these Node flags
 *   npm run bench -- --only drain --bundle   every child from a minified esbuild bundle of its contender
 *   npm run bench -- --only drain --subjects "sluice tuned,raw effect"   only these subjects' cells
 *
 * `DATABASE_URL` is ignored: the run owns its server (`.sluice-bench/`, synchronous_commit on).
 */
import * as Effect from "effect/Effect"
import { promises as fsp } from "node:fs"
import * as nodePath from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { EmbeddedPostgres } from "../src/runtime/index.js"
import { build, buildDir, bundle } from "./build.js"
import { contenderNames } from "./contender.js"
import * as Measure from "./measure.js"
import { connectAdmin, postmasterPid } from "./postgres.js"
import { type Probe, probe } from "./probe.js"
import { now } from "./protocol.js"
import { render, renderProbes } from "./report.js"
import { Results } from "./results.js"
import {
  namedBy,
  plan as makePlan,
  producerSubjects,
  restrict,
  sluice,
  sluiceLean,
  type Subject,
  subjectName,
  subjects as allSubjects
} from "./scenarios.js"
import { fromBuild, throughTsx } from "./spawn.js"

const families = ["emit", "drain", "latency", "fanout", "bloat", "idle"] as const
type Family = typeof families[number]

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    json: { type: "string" },
    repetitions: { type: "string", default: "3" },
    events: { type: "string" },
    only: { type: "string" },
    subjects: { type: "string" },
    tsx: { type: "boolean", default: false },
    bundle: { type: "boolean", default: false },
    "cpu-prof": { type: "string" },
    "node-flags": { type: "string", default: "" },
    "data-dir": { type: "string", default: ".sluice-bench" }
  }
})

const root = nodePath.resolve(nodePath.dirname(fileURLToPath(import.meta.url)), "..")
const dataDir = nodePath.resolve(values["data-dir"])
const repetitions = Number(values.repetitions)
const only = new Set((values.only ?? families.join(",")).split(",").map((s) => s.trim()) as Array<Family>)
const nodeFlags = values["node-flags"].split(" ").filter((flag) => flag !== "")
if (nodeFlags.some((flag) => !flag.startsWith("--"))) {
  throw new Error(`--node-flags takes Node flags (each starting with --), got ${JSON.stringify(values["node-flags"])}`)
}
if (values.bundle && values.tsx) {
  throw new Error("--bundle and --tsx exclude each other: bundles are built from the transpiled code")
}
const events = values.events === undefined ? undefined : Number(values.events)
if (events !== undefined && (!Number.isSafeInteger(events) || events < 1)) {
  throw new Error(`--events must be a positive integer, got ${JSON.stringify(values.events)}`)
}
if (!Number.isSafeInteger(repetitions) || repetitions < 1) {
  throw new Error(`--repetitions must be a positive integer, got ${JSON.stringify(values.repetitions)}`)
}
const named = values.subjects?.split(",").map((name) => name.trim()).filter((name) => name !== "")
const chosen = named === undefined ? () => true : namedBy(named)
if (named !== undefined) {
  const known = new Set(
    [...allSubjects, ...makePlan(false, 1).drains.map((cell) => cell.subject)].flatMap((subject) => [
      subjectName(subject),
      subject.contender
    ])
  )
  const unknown = named.filter((name) => !known.has(name))
  if (unknown.length > 0 || named.length === 0) {
    throw new Error(
      `--subjects takes names from ${[...known].map((name) => JSON.stringify(name)).join(", ")}; ` +
        `got ${JSON.stringify(values.subjects)}`
    )
  }
}
const subjects = allSubjects.filter(chosen)
/** Through tsx there is no bundle, which sluice's `lean` profile runs from. */
const runnable = (subject: Subject) => chosen(subject) && !(values.tsx && subject.profile === sluiceLean.profile)
const plan = restrict(makePlan(values.quick, repetitions, events), runnable)

const started = now()
const log = (line: string) => process.stderr.write(`[${((now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}\n`)

/** Runs a measurement; a failure is reported and the run goes on without that sample. */
const attempt = async (what: string, f: () => Promise<void>) => {
  try {
    await f()
  } catch (error) {
    log(`FAILED ${what}: ${error instanceof Error ? error.message : String(error)}`)
  }
}

const run = async (server: string) => {
  const admin = await connectAdmin(server)
  const settings = await admin.query(
    `SELECT current_setting('server_version') AS version, current_setting('synchronous_commit') AS sync,
            current_setting('shared_buffers') AS buffers, current_setting('max_connections') AS connections`
  )
  const s = settings.rows[0] as { version: string; sync: string; buffers: string; connections: string }
  const profiles = values["cpu-prof"] === undefined ? undefined : nodePath.resolve(values["cpu-prof"])
  const launcher = values.tsx
    ? throughTsx(root, profiles, nodeFlags)
    : fromBuild(buildDir(root), { profileDir: profiles, nodeFlags, bundled: values.bundle })
  const results = new Results()
  const bench: Measure.Bench = { admin, launcher, postmaster: await postmasterPid(dataDir), plan, results, log }
  log(
    `PostgreSQL ${s.version}, synchronous_commit ${s.sync}, shared_buffers ${s.buffers}; ` +
      `${plan.quick ? "quick" : "full"} run, ${repetitions} repetitions`
  )
  await admin.dropAll("bench_")
  const probes: Array<Probe> = []
  /** Probes the machine before a phase (see `probe.ts`). */
  const before = async (phase: string) => {
    await attempt(`probe before ${phase}`, async () => {
      const measured = await probe(admin, phase)
      probes.push(measured)
      log(
        `probe before ${phase}: cpu ${measured.cpuMs.toFixed(1)} ms, commit ${measured.commitMs.toFixed(2)} ms ` +
          `(p95 ${measured.commitP95Ms.toFixed(2)})`
      )
    })
  }
  try {
    const reps = Array.from({ length: repetitions }, (_, i) => i)
    if (only.has("emit") || only.has("drain")) {
      await before("emit.batch")
      for (const rep of reps) {
        await attempt("emit.batch", () => Measure.prefill(bench, producerSubjects, rep))
      }
    }
    if (only.has("fanout")) {
      for (const rep of reps) await attempt("fan-out prefill", () => Measure.prefillFanout(bench, plan.fanout, rep))
    }
    if (only.has("drain")) {
      await before("drain")
      for (const rep of reps) {
        for (const cell of plan.drains) await attempt("drain", () => Measure.drain(bench, cell, rep))
      }
    }
    if (only.has("fanout")) {
      await before("fanout")
      for (const rep of reps) {
        for (const subject of plan.fanout) await attempt("fanout", () => Measure.fanout(bench, subject, rep))
      }
    }
    await Measure.dropKept(bench)
    if (only.has("emit")) {
      await before("emit.each")
      for (const rep of reps) {
        await attempt("emit.batch.instances", () => Measure.emitInstances(bench, sluice, rep))
        for (const subject of producerSubjects.filter(chosen)) {
          await attempt("emit.each", () => Measure.emitEach(bench, subject, rep, true))
          await attempt("emit.each.cold", () => Measure.emitEach(bench, subject, rep, false))
        }
      }
    }
    if (only.has("latency")) {
      await before("latency")
      for (const rep of reps) {
        for (const subject of plan.latency.subjects) {
          await attempt("latency", () => Measure.latency(bench, subject, rep))
        }
      }
    }
    if (only.has("bloat")) {
      await before("bloat")
      for (const rep of reps) {
        for (const subject of plan.bloat.subjects) await attempt("bloat", () => Measure.bloat(bench, subject, rep))
      }
    }
    await Measure.dropKept(bench)
    if (only.has("idle")) {
      await before("idle")
      await attempt("idle", () => Measure.idle(bench, subjects, repetitions))
    }
    await before("the end")
  } finally {
    await admin.dropAll("bench_")
    await admin.close()
  }
  const seconds = (now() - started) / 1000
  console.log(
    `## sluice benchmark: ${plan.quick ? "quick" : "full"} run, ${new Date().toISOString()}\n\n` +
      `PostgreSQL ${s.version} (embedded), synchronous_commit=${s.sync}, shared_buffers=${s.buffers}; ` +
      `${repetitions} repetitions, interleaved; N=${plan.events.toLocaleString("en-US")}; ` +
      `took ${Math.round(seconds)} s.` +
      (values.bundle ? " Every child ran from a minified bundle of its contender (`--bundle`)." : "") +
      (named === undefined ? "" : ` Only the subjects ${named.join(", ")} (\`--subjects\`).`) +
      (nodeFlags.length === 0 ? "" : ` Every child ran with the Node flags \`${nodeFlags.join(" ")}\`.`) +
      `\n\n${render(results)}\n\n${renderProbes(probes)}`
  )
  if (values.json !== undefined) {
    const cells = results.cells().map(({ subject: _subject, ...cell }) => cell)
    await fsp.writeFile(values.json, JSON.stringify(cells, null, 2) + "\n")
    log(`wrote ${cells.length} cells to ${values.json}`)
  }
}

const program = Effect.gen(function*() {
  if (!values.tsx) {
    const files = yield* Effect.promise(() => build(root, buildDir(root)))
    log(`transpiled ${files} files into ${nodePath.relative(root, buildDir(root))}`)
    const lean = only.has("drain") && plan.drains.some((cell) => cell.subject.profile === sluiceLean.profile)
    const bundled = values.bundle ? contenderNames : lean ? ["sluice"] : []
    if (bundled.length > 0) {
      yield* Effect.promise(() => bundle(buildDir(root), bundled))
      log(`bundled ${bundled.join(", ")}`)
    }
  }
  const server = yield* EmbeddedPostgres.make({ dataDir, settings: { synchronous_commit: "on" } })
  yield* Effect.promise(() => run(server.url))
})

Effect.runPromise(Effect.scoped(program)).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
