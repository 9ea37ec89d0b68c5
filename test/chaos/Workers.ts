/**
 * The chaos run's worker processes: one slot per process, each running `worker.ts`. A slot
 * whose process exits without the injector asking for it is restarted after a second, and
 * the exit is kept for the report.
 */
import * as Effect from "effect/Effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const repoRoot = fileURLToPath(new URL("../..", import.meta.url))
const workerScript = fileURLToPath(new URL("worker.ts", import.meta.url))

/** An exit of a worker process that no fault caused. */
export interface UnexpectedExit {
  readonly slot: number
  readonly pid: number
  readonly status: string
  readonly at: number
  readonly output: string
}

/** One worker slot. */
export interface Slot {
  readonly index: number
  /** The running process's pid, `undefined` while none runs. */
  pid: number | undefined
  /** SIGSTOPped by the injector. */
  stopped: boolean
  child: ChildProcess | undefined
  exited: Promise<string> | undefined
  /** The injector is about to end this process: its exit is not unexpected. */
  expectingExit: boolean
  output: string
  starts: number
}

/** Settings every worker process gets. */
export interface Settings {
  readonly url: string
  readonly seed: number
  readonly logDir: string
  readonly retentionZero: boolean
}

const keptOutput = 16 * 1024

/** The slots, and how to start, signal and await their processes. */
export const make = (count: number, settings: Settings) => {
  const slots: Array<Slot> = Array.from({ length: count }, (_, index) => ({
    index,
    pid: undefined,
    stopped: false,
    child: undefined,
    exited: undefined,
    expectingExit: false,
    output: "",
    starts: 0
  }))
  const unexpected: Array<UnexpectedExit> = []
  let closing = false

  const start = (slot: Slot): void => {
    const child = spawn(process.execPath, ["--import", "tsx", workerScript], {
      cwd: repoRoot,
      env: {
        ...process.env,
        CHAOS_URL: settings.url,
        CHAOS_SLOT: String(slot.index),
        CHAOS_SEED: String(settings.seed),
        CHAOS_LOG_DIR: settings.logDir,
        CHAOS_RETENTION_ZERO: String(settings.retentionZero)
      },
      stdio: ["ignore", "pipe", "pipe"]
    })
    const file = fs.createWriteStream(path.join(settings.logDir, "..", "workers", `w${slot.index}-${child.pid}.out`))
    const collect = (chunk: unknown) => {
      file.write(String(chunk))
      slot.output += String(chunk)
      if (slot.output.length > 2 * keptOutput) slot.output = slot.output.slice(-keptOutput)
    }
    slot.output = ""
    child.stdout?.on("data", collect)
    child.stderr?.on("data", collect)
    slot.child = child
    slot.pid = child.pid
    slot.stopped = false
    slot.expectingExit = false
    slot.starts++
    slot.exited = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        file.end()
        const status = signal !== null ? `killed by ${signal}` : `exit code ${code}`
        if (slot.child === child) {
          slot.child = undefined
          slot.pid = undefined
        }
        if (!slot.expectingExit && !closing) {
          unexpected.push({
            slot: slot.index,
            pid: child.pid ?? -1,
            status,
            at: Date.now(),
            output: slot.output.split("\n").filter((line) => line.trim() !== "" && !/^\s*at /.test(line)).slice(-8)
              .join("\n")
          })
          setTimeout(() => {
            if (!closing && slot.child === undefined) start(slot)
          }, 1_000)
        }
        resolve(status)
      })
    })
  }

  const signal = (slot: Slot, name: NodeJS.Signals) =>
    Effect.sync(() => {
      slot.child?.kill(name)
    })

  /** Ends the slot's process with `name` (as the injector), waiting at most `timeoutMs`; SIGKILL after that. */
  const end = (slot: Slot, name: NodeJS.Signals, timeoutMs: number) =>
    Effect.gen(function*() {
      const child = slot.child
      const exited = slot.exited
      if (child === undefined || exited === undefined) return "not running"
      slot.expectingExit = true
      if (slot.stopped) child.kill("SIGCONT")
      child.kill(name)
      const status = yield* Effect.promise(() => exited).pipe(Effect.timeoutOption(timeoutMs))
      if (status._tag === "Some") return status.value
      child.kill("SIGKILL")
      yield* Effect.promise(() => exited)
      return `did not exit within ${timeoutMs} ms of ${name}; killed`
    })

  /** Stops restarting and kills what still runs (SIGTERM, then SIGKILL after `timeoutMs`). */
  const closeAll = (timeoutMs: number) =>
    Effect.gen(function*() {
      closing = true
      return yield* Effect.forEach(slots, (slot) => end(slot, "SIGTERM", timeoutMs), { concurrency: "unbounded" })
    })

  const killNow = () => {
    closing = true
    for (const slot of slots) slot.child?.kill("SIGKILL")
  }

  return { slots, unexpected, start, signal, end, closeAll, killNow }
}

export type Workers = ReturnType<typeof make>
