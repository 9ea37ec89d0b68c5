/**
 * The measurement child: one process per measurement. Each contender's entry file calls
 * {@link runChild} with its implementation; the task comes as one JSON argument, the
 * commands on stdin (see {@link ./protocol.ts}), starting with `open` once the database exists:
 *
 *   node --import tsx bench/<contender>.ts '{"role":"consume","url":"postgres://…",…}'
 *
 * When stdin closes (the runner is gone), the child exits.
 */
import * as readline from "node:readline"
import type { Consumer, Contender, Profile } from "./contender.js"
import { type ChildResult, type Command, cpuMs, now, type Payload, payloads, peakRssMb, send } from "./protocol.js"

interface Common {
  readonly url: string
  readonly profile: Profile
  readonly groups: ReadonlyArray<string>
}

/** What a child is asked to do. */
export type Task =
  | Common & { readonly role: "install" }
  /** Emits `events` in one call (made into event instances first, with `instances`: sluice only). */
  | Common & { readonly role: "emit-batch"; readonly events: number; readonly instances?: boolean }
  /** Emits `events` one per transaction, back to back. */
  | Common & { readonly role: "emit-each"; readonly events: number; readonly warmup: number }
  /** Emits one event per transaction at `rate` per second for `seconds`, recording commit times. */
  | Common & { readonly role: "produce"; readonly rate: number; readonly seconds: number }
  /** Consumes until stopped, reporting progress (and handler start times when `record`). */
  | Common & {
    readonly role: "consume"
    readonly batch: number
    readonly concurrency: number
    readonly prune: boolean
    readonly record: boolean
  }
  /** Passes `events` through (emit a chunk, drain it, repeat) with retention pruning on. */
  | Common & {
    readonly role: "churn"
    readonly events: number
    readonly chunk: number
    readonly batch: number
    readonly concurrency: number
  }

/** Reads the runner's commands from stdin. */
const commands = () => {
  const waiting = new Map<Command, Array<() => void>>()
  const seen = new Set<Command>()
  const handlers = new Map<Command, () => void>()
  readline.createInterface({ input: process.stdin }).on("line", (line) => {
    const command = line.trim() as Command
    const handler = handlers.get(command)
    if (handler !== undefined) return handler()
    seen.add(command)
    for (const resolve of waiting.get(command) ?? []) resolve()
    waiting.delete(command)
  }).on("close", () => process.exit(2))
  return {
    /** Resolves once the command arrived (at once if it already has). */
    next: (command: Command) =>
      new Promise<void>((resolve) => {
        if (seen.has(command)) return resolve()
        waiting.set(command, [...(waiting.get(command) ?? []), resolve])
      }),
    /** Answers a command each time it arrives. */
    on: (command: Command, handler: () => void) => void handlers.set(command, handler)
  }
}

/** Counts handled events and reports progress at most every 20 ms (the report carries the exact times). */
const progress = (cpuSinceGo: () => number) => {
  let handled = 0
  let firstAt = 0
  let lastAt = 0
  let timer: NodeJS.Timeout | undefined
  const report = () => {
    timer = undefined
    send({ type: "progress", handled, firstAt, lastAt, cpuMs: cpuSinceGo() })
  }
  return {
    add: (count: number, at: number) => {
      if (handled === 0) firstAt = at
      handled += count
      lastAt = at
      timer ??= setTimeout(report, 20)
    },
    get handled() {
      return handled
    },
    flush: () => {
      if (timer !== undefined) clearTimeout(timer)
      report()
    }
  }
}

const sleepUntil = (time: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, time - now())))

const waitUntil = async (condition: () => boolean) => {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 2))
}

const finish = (result: ChildResult) => send({ type: "result", result })

type Control = ReturnType<typeof commands>

const produce = async (
  contender: Contender,
  task: Task & { readonly role: "emit-batch" | "emit-each" | "produce" },
  control: Control
) => {
  const producer = await contender.producer(task.url, task.profile, task.groups)
  const batch = task.role === "emit-batch" ? payloads(task.events) : []
  const warmup = task.role === "emit-each" ? task.warmup : 0
  for (let n = 0; n < warmup; n++) await producer.emitOne({ n: -1 - n, at: now() })
  send({ type: "ready" })
  await control.next("go")
  const cpu = cpuMs()
  const started = now()
  let events = 0
  const commits: Array<readonly [number, number]> = []
  if (task.role === "emit-batch") {
    await (task.instances === true && producer.emitInstances !== undefined
      ? producer.emitInstances(batch)
      : producer.emitBatch(batch))
    events = batch.length
  } else if (task.role === "emit-each") {
    for (; events < task.events; events++) await producer.emitOne({ n: events, at: now() })
  } else {
    const total = Math.round(task.rate * task.seconds)
    for (; events < total; events++) {
      await sleepUntil(started + (events * 1000) / task.rate)
      await producer.emitOne({ n: events, at: now() })
      commits.push([events, now()])
    }
  }
  const elapsedMs = now() - started
  finish({ events, elapsedMs, cpuMs: cpuMs() - cpu, peakRssMb: peakRssMb(), commits })
  // Stay connected until the runner has sampled the server's CPU (a backend that exits takes its count along).
  await control.next("stop")
  await producer.close()
}

const consume = async (contender: Contender, task: Task & { readonly role: "consume" }, control: Control) => {
  let cpu = 0
  const counter = progress(() => cpuMs() - cpu)
  const starts: Array<readonly [number, number]> = []
  const consumer: Consumer = await contender.consumer(task.url, {
    profile: task.profile,
    groups: task.groups,
    batch: task.batch,
    concurrency: task.concurrency,
    prune: task.prune,
    onHandle: (received: ReadonlyArray<Payload>) => {
      const at = now()
      counter.add(received.length, at)
      if (task.record) { for (const payload of received) starts.push([payload.n, at]) }
    }
  })
  control.on("sample", () => send({ type: "sample", at: now(), cpuMs: cpuMs() }))
  send({ type: "ready" })
  await control.next("go")
  cpu = cpuMs()
  await consumer.start()
  send({ type: "started" })
  await control.next("stop")
  await consumer.stop()
  counter.flush()
  finish({ events: counter.handled, cpuMs: cpuMs() - cpu, peakRssMb: peakRssMb(), starts })
}

const churn = async (contender: Contender, task: Task & { readonly role: "churn" }, control: Control) => {
  let handled = 0
  const consumer = await contender.consumer(task.url, {
    profile: task.profile,
    groups: task.groups,
    batch: task.batch,
    concurrency: task.concurrency,
    prune: true,
    onHandle: (received) => {
      handled += received.length
    }
  })
  const producer = await contender.producer(task.url, task.profile, task.groups)
  send({ type: "ready" })
  await control.next("go")
  const cpu = cpuMs()
  const started = now()
  await consumer.start()
  for (let emitted = 0; emitted < task.events; emitted += task.chunk) {
    await producer.emitBatch(payloads(Math.min(task.chunk, task.events - emitted), emitted))
    const target = Math.min(emitted + task.chunk, task.events) * task.groups.length
    await waitUntil(() => handled >= target)
  }
  const elapsedMs = now() - started
  finish({ events: task.events, elapsedMs, cpuMs: cpuMs() - cpu, peakRssMb: peakRssMb() })
  await control.next("stop")
  await Promise.all([consumer.stop(), producer.close()])
}

/** Runs the task given on the command line with a contender's implementation, then exits. */
export const runChild = async (contender: Contender): Promise<void> => {
  const task = JSON.parse(process.argv[2] ?? "{}") as Task
  const control = commands()
  try {
    // Loading the modules overlaps with the runner creating the database; connect once it exists.
    await control.next("open")
    switch (task.role) {
      case "install":
        await contender.install(task.url, task.profile, task.groups)
        finish({ events: 0, cpuMs: cpuMs(), peakRssMb: peakRssMb() })
        break
      case "emit-batch":
      case "emit-each":
      case "produce":
        await produce(contender, task, control)
        break
      case "consume":
        await consume(contender, task, control)
        break
      case "churn":
        await churn(contender, task, control)
        break
    }
    process.exit(0)
  } catch (error) {
    console.error(`${contender.name} ${task.role} failed:`, error)
    process.exit(1)
  }
}
