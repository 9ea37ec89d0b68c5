/**
 * Runs a TypeScript script of the test suite in a separate Node process (`node --import tsx`)
 * and talks to it by lines: it prints one JSON value per line on stdout, and reads commands
 * from stdin. The process is killed when the scope closes, if still running.
 */
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

/** A child process misbehaved: exited early, printed something unexpected, or was too slow. */
export class ChildError extends Data.TaggedError("ChildError")<{ readonly message: string }> {}

/** A running child process. */
export interface Child {
  readonly pid: number
  /** The next JSON value the child printed; fails if it exits first or takes longer than `timeout`. */
  readonly next: (timeout?: Duration.DurationInput) => Effect.Effect<unknown, ChildError>
  /** Writes one line to the child's stdin. */
  readonly send: (line: string) => Effect.Effect<void>
  /** Waits for the child to exit; its exit code, or the signal that ended it. */
  readonly exited: (timeout?: Duration.DurationInput) => Effect.Effect<number | NodeJS.Signals, ChildError>
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** What it printed on stderr so far. */
  readonly stderr: () => string
}

/** The path of a fixture script under `test/fixtures/`. */
export const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url))

const projectRoot = fileURLToPath(new URL("../..", import.meta.url))

/** Starts `node --import tsx <script> ...args`. */
export const spawnScript = (
  script: string,
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>> = {}
): Effect.Effect<Child, ChildError, Scope.Scope> =>
  Effect.gen(function*() {
    const lines = yield* Queue.unbounded<string>()
    const exit = yield* Deferred.make<number | NodeJS.Signals>()
    let stderr = ""
    const child = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          spawn(process.execPath, ["--import", "tsx", script, ...args], {
            cwd: projectRoot,
            env: { ...process.env, ...env },
            stdio: ["pipe", "pipe", "pipe"]
          }),
        catch: (cause) => new ChildError({ message: `cannot start ${script}: ${String(cause)}` })
      }),
      (child) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
    )
    let buffer = ""
    child.stdout!.on("data", (chunk) => {
      buffer += String(chunk)
      const parts = buffer.split("\n")
      buffer = parts.pop() ?? ""
      for (const line of parts) if (line.trim() !== "") Queue.unsafeOffer(lines, line)
    })
    child.stderr!.on("data", (chunk) => stderr += String(chunk))
    child.on("exit", (code, signal) => Deferred.unsafeDone(exit, Effect.succeed(code ?? signal ?? "SIGKILL")))
    const pid = child.pid ?? -1
    const describe = (what: string) => `${script} ${args.join(" ")} (pid ${pid}) ${what}\n--- stderr ---\n${stderr}`

    const next = (timeout: Duration.DurationInput = "30 seconds") =>
      Effect.raceFirst(
        Queue.take(lines),
        Effect.flatMap(Deferred.await(exit), (code) =>
          // Lines printed just before exiting may still be queued.
          Effect.flatMap(Queue.poll(lines), (line) =>
            line._tag === "Some"
              ? Effect.succeed(line.value)
              : new ChildError({ message: describe(`exited (${code})`) })))
      ).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => new ChildError({ message: describe(`printed nothing within ${Duration.format(timeout)}`) })
        }),
        Effect.flatMap((line) =>
          Effect.try({
            try: (): unknown => JSON.parse(line),
            catch: () => new ChildError({ message: describe(`printed a line that is not JSON: ${line}`) })
          })
        )
      )

    return {
      pid,
      next,
      send: (line) => Effect.sync(() => void child.stdin!.write(`${line}\n`)),
      exited: (timeout = "30 seconds") =>
        Deferred.await(exit).pipe(
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () => new ChildError({ message: describe(`did not exit within ${Duration.format(timeout)}`) })
          })
        ),
      kill: (signal) => Effect.sync(() => void child.kill(signal)),
      stderr: () => stderr
    }
  })
