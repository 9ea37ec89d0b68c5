/**
 * The quick chaos run (`npm run chaos -- --quick`) as a test: worker processes killed,
 * terminated, stopped past their leases, their connections and the LISTEN connections
 * terminated, the database restarted, handlers failing, dying and hanging, while a
 * producer emits. Nothing may be lost and no in-transaction effect may happen twice. Once
 * as configured by default, once with a retention of zero (acknowledgements delete their
 * deliveries, and pruning deletes the events every few seconds).
 *
 * It runs on its own embedded server (`.sluice-chaos-quick`, never the other test files'
 * shared `.sluice-test`, since it stops and restarts its server), so `DATABASE_URL` is not
 * passed on.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { expect, it } from "vitest"

const repoRoot = fileURLToPath(new URL("../..", import.meta.url))
const main = fileURLToPath(new URL("main.ts", import.meta.url))

const runQuick = (seed: number, extra: ReadonlyArray<string>) =>
  new Promise<{ readonly code: number | null; readonly output: string }>((resolve, reject) => {
    const env = { ...process.env }
    delete env.DATABASE_URL
    const child = spawn(process.execPath, ["--import", "tsx", main, "--quick", "--seed", String(seed), ...extra], {
      cwd: repoRoot,
      env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (chunk) => (output += String(chunk)))
    child.stderr.on("data", (chunk) => (output += String(chunk)))
    child.on("error", reject)
    child.on("exit", (code) => resolve({ code, output }))
  })

it.each([
  { mode: "retention kept", extra: [] },
  { mode: "retention zero", extra: ["--retention-zero"] }
])("the quick chaos run loses nothing and duplicates no in-transaction effect ($mode)", async ({ extra, mode }) => {
  const { code, output } = await runQuick(20261128, extra)
  const lines = output.trimEnd().split("\n")
  const last = lines.at(-1) ?? ""
  const context = `--- chaos output ---\n${output.slice(-6_000)}`
  expect(last, context).toMatch(/^chaos: lost 0, duplicated 0, faults \d+$/)
  expect(code, context).toBe(0)
  expect(output).toContain("no violations")
  const header = lines.find((line) => line.startsWith("chaos: seed")) ?? ""
  expect(header.includes("retention zero"), header).toBe(mode === "retention zero")
  // Every kind of fault ran at least once (the quick run also fails itself when one did not).
  const injected = lines.find((line) => line.trimStart().startsWith("faults injected")) ?? ""
  for (const kind of ["sigkill", "sigterm", "sigstop", "db-restart", "terminate-backends", "terminate-listen"]) {
    expect(injected, context).toMatch(new RegExp(`\\b${kind} [1-9]`))
  }
  const handlerFailures = lines.find((line) => line.trimStart().startsWith("handler failures")) ?? ""
  for (const kind of ["handler-failure", "handler-defect", "handler-hang", "handler-permanent"]) {
    expect(handlerFailures, context).toMatch(new RegExp(`\\b${kind} [1-9]`))
  }
}, 150_000)
