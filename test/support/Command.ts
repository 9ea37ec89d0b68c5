/**
 * Runs repository commands as a user would, for end-to-end tests of the entry points.
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))

export interface Output {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs a command to completion; with `interruptWhen`, sends SIGINT once stdout matches it.
 * `npm_*` variables are removed from the environment, as in a user's shell.
 */
export const exec = (
  command: string,
  args: ReadonlyArray<string>,
  options: {
    readonly env: Readonly<Record<string, string>>
    readonly interruptWhen?: RegExp
    /** Kill the command after this long; its output so far is returned. Default 120 s. */
    readonly timeoutMillis?: number
  }
) =>
  Effect.async<Output>((resume) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)))
    const child = spawn(command, args, { cwd: root, env: { ...env, ...options.env }, stdio: "pipe" })
    let stdout = ""
    let stderr = ""
    let interrupted = false
    child.stdout.on("data", (chunk) => {
      stdout += chunk
      if (!interrupted && options.interruptWhen?.test(stdout)) {
        interrupted = true
        child.kill("SIGINT")
      }
    })
    child.stderr.on("data", (chunk) => stderr += chunk)
    child.on("error", (cause) => resume(Effect.die(cause)))
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${options.timeoutMillis ?? 120_000} ms]`
      child.kill("SIGKILL")
    }, options.timeoutMillis ?? 120_000)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resume(Effect.succeed({ code, signal, stdout, stderr }))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      child.kill("SIGKILL")
    })
  })

export const expectSuccess = (what: string, output: Output) =>
  expect(output.code, `${what} failed (${output.signal ?? output.code}):\n${output.stdout}\n${output.stderr}`).toBe(0)
