/**
 * The line protocol between the runner and a measurement child.
 *
 * The child prints protocol messages on stdout as lines starting with {@link marker}
 * followed by JSON (anything else a library prints is passed through to stderr); the runner
 * writes commands on the child's stdin, one word a line.
 *
 *   child → runner: ready, started, progress*, sample*, result
 *   runner → child: open (the database exists: connect), go, sample*, stop
 *
 * Times are milliseconds on the machine's monotonic clock ({@link now}), which every process
 * on the machine shares, so a time taken in one process compares with one taken in another.
 */
import { readFileSync } from "node:fs"

/** Prefix of a protocol line on the child's stdout. */
export const marker = "@bench "

/** Milliseconds on the monotonic clock shared by all processes of the machine (CLOCK_MONOTONIC). */
export const now = (): number => Number(process.hrtime.bigint()) / 1e6

/** Worker CPU (user + system) in milliseconds since the process started. */
export const cpuMs = (): number => {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1000
}

/**
 * The peak resident set size of this process, in MB: Linux's `VmHWM`, the high-water mark
 * of the process's own memory. Not `getrusage`'s `maxRSS`: Linux carries that over from the
 * parent through fork and exec, so every child would report at least the runner's size.
 */
export const peakRssMb = (): number => {
  const status = readStatus()
  const kb = status === undefined ? undefined : /^VmHWM:\s*(\d+) kB$/m.exec(status)?.[1]
  return (kb === undefined ? process.resourceUsage().maxRSS : Number(kb)) / 1024
}

const readStatus = (): string | undefined => {
  try {
    return readFileSync("/proc/self/status", "utf8")
  } catch {
    return undefined
  }
}

/** A payload: the sequence number of the event and the time it was sent. */
export interface Payload {
  readonly n: number
  readonly at: number
}

/** Payloads `from`, `from + 1`, … (`count` of them), stamped now. */
export const payloads = (count: number, from = 0): Array<Payload> => {
  const at = now()
  return Array.from({ length: count }, (_, i) => ({ n: from + i, at }))
}

/** What the child tells the runner. */
export type ChildMessage =
  | { readonly type: "ready" }
  /** A consumer has started claiming (after `go`). */
  | { readonly type: "started" }
  | {
    readonly type: "progress"
    readonly handled: number
    readonly firstAt: number
    readonly lastAt: number
    /** Worker CPU since `go`. */
    readonly cpuMs: number
  }
  | { readonly type: "sample"; readonly at: number; readonly cpuMs: number }
  | { readonly type: "result"; readonly result: ChildResult }

/** The final report of a child. */
export interface ChildResult {
  /** Events emitted or handled. */
  readonly events: number
  /** Duration of the measured work, when the child measured it itself. */
  readonly elapsedMs?: number | undefined
  /** Worker CPU during the measured work (from go to the end of the work, or to stop). */
  readonly cpuMs: number
  readonly peakRssMb: number
  /** Latency scenario, producer: `[n, commit time]` per event. */
  readonly commits?: ReadonlyArray<readonly [number, number]> | undefined
  /** Latency scenario, consumer: `[n, handler start time]` per event. */
  readonly starts?: ReadonlyArray<readonly [number, number]> | undefined
}

/** A command of the runner. */
export type Command = "open" | "go" | "sample" | "stop"

/** Writes a protocol message on stdout. */
export const send = (message: ChildMessage): void => {
  process.stdout.write(`${marker}${JSON.stringify(message)}\n`)
}

/** Parses a protocol line; undefined for any other output. */
export const parseMessage = (line: string): ChildMessage | undefined =>
  line.startsWith(marker) ? JSON.parse(line.slice(marker.length)) as ChildMessage : undefined
