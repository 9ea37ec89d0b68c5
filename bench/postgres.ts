/**
 * The runner's side of the server: fresh databases copied from templates, checkpoints,
 * and the CPU time of the PostgreSQL processes read from `/proc`.
 */
import { promises as fsp } from "node:fs"
import * as nodePath from "node:path"
import pg from "pg"

const quote = (identifier: string) => pg.escapeIdentifier(identifier)

/** The URL of database `name` on the server at `server`. */
export const databaseUrl = (server: string, name: string): string => {
  const url = new URL(server)
  url.pathname = `/${name}`
  return url.href
}

/** Runs `f` with a connection to one database, closed afterwards. */
export const withClient = async <A>(url: string, f: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: url, application_name: "bench-runner" })
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end()
  }
}

/** An administrative connection to the server's `postgres` database. */
export interface Admin {
  readonly server: string
  readonly query: (text: string, values?: ReadonlyArray<unknown>) => Promise<pg.QueryResult>
  /** Creates `name`, empty or as a copy of `template`; returns its URL. */
  readonly create: (name: string, template?: string) => Promise<string>
  readonly drop: (name: string) => Promise<void>
  /** Drops every database whose name starts with `prefix` (left over by an interrupted run). */
  readonly dropAll: (prefix: string) => Promise<void>
  readonly checkpoint: () => Promise<void>
  /** Committed plus rolled-back transactions of a database so far. */
  readonly transactions: (name: string) => Promise<number>
  /** Pids of the backends connected to a database. */
  readonly backends: (name: string) => Promise<ReadonlyArray<number>>
  readonly close: () => Promise<void>
}

export const connectAdmin = async (server: string): Promise<Admin> => {
  const client = new pg.Client({ connectionString: databaseUrl(server, "postgres"), application_name: "bench-runner" })
  await client.connect()
  // One query at a time: node-postgres deprecates overlapping queries on a client.
  let queue: Promise<unknown> = Promise.resolve()
  const query = (text: string, values?: ReadonlyArray<unknown>) => {
    const result = queue.then(() => client.query(text, values as Array<unknown>))
    queue = result.catch(() => undefined)
    return result
  }
  const drop = async (name: string) => {
    await query(`DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`)
  }
  return {
    server,
    query,
    create: async (name, template) => {
      // FILE_COPY: copies the files (after a checkpoint) instead of writing the copy through the WAL.
      await query(
        `CREATE DATABASE ${quote(name)}${
          template === undefined ? "" : ` TEMPLATE ${quote(template)}`
        } STRATEGY FILE_COPY`
      )
      return databaseUrl(server, name)
    },
    drop,
    dropAll: async (prefix) => {
      const { rows } = await query("SELECT datname FROM pg_database WHERE starts_with(datname, $1)", [prefix])
      for (const row of rows as Array<{ datname: string }>) await drop(row.datname)
    },
    checkpoint: async () => {
      await query("CHECKPOINT")
    },
    transactions: async (name) => {
      await query("SELECT pg_stat_clear_snapshot()")
      const { rows } = await query(
        "SELECT (xact_commit + xact_rollback)::float8 AS n FROM pg_stat_database WHERE datname = $1",
        [name]
      )
      return (rows[0] as { n: number } | undefined)?.n ?? 0
    },
    backends: async (name) => {
      const { rows } = await query("SELECT pid FROM pg_stat_activity WHERE datname = $1", [name])
      return (rows as Array<{ pid: number }>).map((row) => row.pid)
    },
    close: () => client.end()
  }
}

/** CPU time of each process, in milliseconds. */
export type CpuSample = ReadonlyMap<number, number>

const clockTicks = 100

/** CPU time of a process in ms (`/proc/<pid>/schedstat`, nanoseconds; else utime + stime in ticks). */
const processCpu = async (pid: number): Promise<number | undefined> => {
  try {
    const schedstat = await fsp.readFile(`/proc/${pid}/schedstat`, "utf8")
    const ns = Number(schedstat.split(" ")[0])
    if (ns > 0) return ns / 1e6
    const stat = await fsp.readFile(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks
  } catch {
    return undefined // the process is gone
  }
}

const parentOf = async (pid: number): Promise<number | undefined> => {
  try {
    const stat = await fsp.readFile(`/proc/${pid}/stat`, "utf8")
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
  } catch {
    return undefined
  }
}

/** The postmaster's pid, from `postmaster.pid` in the cluster folder. */
export const postmasterPid = async (dataDir: string): Promise<number> => {
  const text = await fsp.readFile(nodePath.join(dataDir, "pg", "postmaster.pid"), "utf8")
  return Number(text.split("\n")[0])
}

/** CPU of the given processes. */
export const cpuOf = async (pids: ReadonlyArray<number>): Promise<CpuSample> => {
  const sample = new Map<number, number>()
  await Promise.all(pids.map(async (pid) => {
    const cpu = await processCpu(pid)
    if (cpu !== undefined) sample.set(pid, cpu)
  }))
  return sample
}

/** CPU of the postmaster and all its children (backends, checkpointer, WAL writer, autovacuum…). */
export const serverCpu = async (postmaster: number): Promise<CpuSample> => {
  const pids = (await fsp.readdir("/proc")).filter((name) => /^\d+$/.test(name)).map(Number)
  const parents = await Promise.all(pids.map(parentOf))
  return cpuOf(pids.filter((pid, i) => pid === postmaster || parents[i] === postmaster))
}

/** CPU used between two samples: processes in both count their difference, new ones all their time. */
export const cpuBetween = (before: CpuSample, after: CpuSample): number => {
  let total = 0
  for (const [pid, cpu] of after) total += cpu - (before.get(pid) ?? 0)
  return total
}
