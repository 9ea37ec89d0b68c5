/**
 * The runner's side of a measurement child: spawns it, follows its protocol messages,
 * and sends it commands.
 */
import { spawn } from "node:child_process"
import * as nodePath from "node:path"
import * as readline from "node:readline"
import { entryFile } from "./build.js"
import type { Task } from "./child.js"
import { type ContenderName, leanNodeFlags, type Profile } from "./contender.js"
import { type ChildMessage, type ChildResult, type Command, now, parseMessage } from "./protocol.js"

/** How children are started: from the transpiled build (default) or through tsx. */
export interface Launcher {
  readonly command: string
  readonly args: (contender: ContenderName, profile: Profile, role: string) => ReadonlyArray<string>
}

let profiles = 0

/** Node flags writing a CPU profile of each child into `dir`, named after the contender and role. */
const profiling = (dir: string | undefined, contender: ContenderName, role: string) =>
  dir === undefined
    ? []
    : ["--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${contender}-${role}-${++profiles}.cpuprofile`]

/**
 * Children run the plain JavaScript the runner transpiled into `buildDir` (each contender's
 * bundle there, when `bundled`), with `nodeFlags`; the `lean` profile's from sluice's bundle,
 * with its own flags too.
 */
export const fromBuild = (
  buildDir: string,
  options: {
    readonly profileDir: string | undefined
    readonly nodeFlags: ReadonlyArray<string>
    readonly bundled: boolean
  }
): Launcher => ({
  command: process.execPath,
  args: (contender, profile, role) => [
    ...options.nodeFlags,
    ...(profile === "lean" ? leanNodeFlags : []),
    ...profiling(options.profileDir, contender, role),
    entryFile(buildDir, contender, options.bundled || profile === "lean")
  ]
})

/**
 * Children run the TypeScript sources through tsx (slower start, larger RSS), with `nodeFlags`;
 * there is no bundle to run the `lean` profile from (the plan leaves it out).
 */
export const throughTsx = (root: string, profileDir?: string, nodeFlags: ReadonlyArray<string> = []): Launcher => ({
  command: process.execPath,
  args: (contender, _profile, role) => [
    ...nodeFlags,
    ...profiling(profileDir, contender, role),
    "--import",
    "tsx",
    nodePath.join(root, "bench", `${contender}.ts`)
  ]
})

export type Progress = Extract<ChildMessage, { readonly type: "progress" }>

export interface Child {
  readonly label: string
  readonly ready: Promise<void>
  /** Resolves when a consumer has started claiming (after `go`). */
  readonly started: Promise<void>
  readonly result: Promise<ChildResult>
  /** The latest progress report. */
  readonly progress: () => Progress | undefined
  readonly command: (command: Command) => void
  /** Asks the child for its CPU time now. */
  readonly sample: () => Promise<{ readonly at: number; readonly cpuMs: number }>
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>
  /** Ends the process at once (after a failure elsewhere). */
  readonly kill: () => void
}

/** A promise with its settle functions; marked handled (a failure surfaces only where it is awaited). */
const deferred = <A>() => {
  let resolve: (value: A) => void = () => {}
  let reject: (error: Error) => void = () => {}
  const promise = new Promise<A>((res, rej) => {
    resolve = res
    reject = rej
  })
  promise.catch(() => {})
  return { promise, resolve, reject }
}

/** `promise`, failing after `ms`. Marked handled: a failure surfaces only where it is awaited. */
const timeout = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> => {
  const bounded = new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
    timer.unref()
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error instanceof Error ? error : new Error(String(error)))
      }
    )
  })
  bounded.catch(() => {})
  return bounded
}

/** Spawns a child for `task`. Output that is not protocol is kept and shown if the child fails. */
export const spawnChild = (launcher: Launcher, contender: ContenderName, task: Task): Child => {
  const label = `${contender} ${task.role}`
  const child = spawn(launcher.command, [...launcher.args(contender, task.profile, task.role), JSON.stringify(task)], {
    stdio: ["pipe", "pipe", "pipe"]
  })
  const output: Array<string> = []
  let latest: Progress | undefined
  const samples: Array<(sample: { at: number; cpuMs: number }) => void> = []
  const ready = deferred<void>()
  const started = deferred<void>()
  const result = deferred<ChildResult>()
  const fail = (error: Error) => {
    for (const waiting of [ready, started, result]) waiting.reject(error)
  }

  readline.createInterface({ input: child.stdout }).on("line", (line) => {
    let message: ChildMessage | undefined
    try {
      message = parseMessage(line)
    } catch {
      message = undefined
    }
    if (message === undefined) return void output.push(line)
    switch (message.type) {
      case "ready":
        return ready.resolve()
      case "started":
        return started.resolve()
      case "progress":
        latest = message
        return
      case "sample":
        return samples.shift()?.(message)
      case "result":
        return result.resolve(message.result)
    }
  })
  readline.createInterface({ input: child.stderr }).on("line", (line) => output.push(line))
  child.stdin.on("error", () => {})

  const exited = new Promise<void>((resolve) => {
    child.on("exit", (code, signal) => {
      // Settles whatever is still waiting (nothing, after a normal end).
      fail(new Error(`${label} exited with ${signal ?? `code ${code}`}:\n${output.slice(-40).join("\n")}`))
      resolve()
    })
    child.on("error", (error) => {
      fail(error)
      resolve()
    })
  })

  return {
    label,
    ready: timeout(ready.promise, 120_000, `${label} start`),
    started: timeout(started.promise, 120_000, `${label} consumer start`),
    result: result.promise,
    progress: () => latest,
    command: (command) => {
      if (child.exitCode === null) child.stdin.write(`${command}\n`)
    },
    sample: () =>
      timeout(
        new Promise((resolve) => {
          samples.push(resolve)
          child.stdin.write("sample\n")
        }),
        10_000,
        `${label} sample`
      ),
    exited,
    kill: () => {
      if (child.exitCode === null) child.kill("SIGKILL")
    }
  }
}

/** Total handled by a set of consumers, and the time of the last one handled. */
export const handledBy = (children: ReadonlyArray<Child>) => {
  let handled = 0
  let firstAt = Number.POSITIVE_INFINITY
  let lastAt = 0
  let cpuMs = 0
  for (const child of children) {
    const progress = child.progress()
    if (progress === undefined) continue
    handled += progress.handled
    if (progress.handled > 0) firstAt = Math.min(firstAt, progress.firstAt)
    lastAt = Math.max(lastAt, progress.lastAt)
    cpuMs += progress.cpuMs
  }
  return { handled, firstAt, lastAt, cpuMs }
}

/** Polls until `condition` holds or `deadline` (monotonic ms) passes; returns whether it held. */
export const until = async (condition: () => boolean, deadline: number): Promise<boolean> => {
  while (!condition()) {
    if (now() >= deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return true
}
