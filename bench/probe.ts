/**
 * How the machine itself is doing, measured before each phase of a run: a fixed piece of
 * JavaScript (the CPU) and single-row commits (the disk's flush). Every contender shares the
 * machine, so a phase whose probe is far off the others' was disturbed for all of them, and
 * its ratios are worth less than the rest.
 */
import type { Admin } from "./postgres.js"
import { now } from "./protocol.js"
import { percentile } from "./stats.js"

export interface Probe {
  /** What the run was about to measure. */
  readonly phase: string
  /** Median ms of a fixed arithmetic loop (5 runs). */
  readonly cpuMs: number
  /** Median and 95th percentile ms of a one-row insert's commit (30 commits). */
  readonly commitMs: number
  readonly commitP95Ms: number
}

const table = "bench_probe"

const loop = (): number => {
  let x = 0
  for (let i = 0; i < 5_000_000; i++) x = (x + i * 7) % 1_000_003
  return x
}

export const probe = async (admin: Admin, phase: string): Promise<Probe> => {
  const cpu: Array<number> = []
  for (let i = 0; i < 5; i++) {
    const start = now()
    loop()
    cpu.push(now() - start)
  }
  await admin.query(`CREATE TABLE IF NOT EXISTS ${table} (n int NOT NULL)`)
  const commits: Array<number> = []
  for (let i = 0; i < 30; i++) {
    const start = now()
    await admin.query(`INSERT INTO ${table} VALUES ($1)`, [i])
    commits.push(now() - start)
  }
  await admin.query(`DROP TABLE ${table}`)
  return {
    phase,
    cpuMs: percentile(cpu, 50) ?? Number.NaN,
    commitMs: percentile(commits, 50) ?? Number.NaN,
    commitP95Ms: percentile(commits, 95) ?? Number.NaN
  }
}
