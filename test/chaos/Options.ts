/**
 * The chaos run's command line: `--quick`, `--retention-zero`, `--seed N`, `--duration D`,
 * `--processes N`, `--events N`, `--rate R`, `--data-dir DIR`. A bad value fails with the option's name,
 * the value and the rule.
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

/** The settings of one run. */
export interface Options {
  readonly quick: boolean
  /** The workers run with a retention of zero: acknowledgements delete, and pruning runs every few seconds. */
  readonly retentionZero: boolean
  /** Drives the fault schedule, the producer's mix and the handlers' failures. */
  readonly seed: number
  /** How long faults are injected. */
  readonly duration: Duration.Duration
  readonly processes: number
  readonly events: number
  /** Events emitted per second. */
  readonly rate: number
  /** The embedded server's folder (ignored when `DATABASE_URL` is set). */
  readonly dataDir: string
}

/** The defaults of a full run and of `--quick`. */
export const defaults = {
  full: { duration: Duration.minutes(10), processes: 4, events: 60_000, rate: 100, dataDir: ".sluice-chaos" },
  quick: { duration: Duration.seconds(30), processes: 3, events: 2_400, rate: 80, dataDir: ".sluice-chaos-quick" }
} as const

export const usage =
  `usage: npm run chaos -- [--quick] [--retention-zero] [--seed N] [--duration 10m] [--processes 4] [--events 60000]
                        [--rate 100] [--data-dir .sluice-chaos]

  --quick       a bounded run (30 s of faults, 3 processes, 2,400 events at 80/s; every fault kind at least once)
  --retention-zero  workers with a retention of zero: each acknowledgement deletes its delivery,
                and pruning deletes the events every few seconds, all under the faults
  --seed N      replays a run's fault schedule, producer mix and handler failures (default: random, printed)
  --duration D  how long faults are injected: 90s, 10m, 1h or plain seconds (default 10m)
  --processes N worker processes, 1 to 16 (default 4)
  --events N    events to emit, 1 to 10,000,000 (default 60,000)
  --rate R      events emitted per second, 1 to 5,000 (default 100)
  --data-dir D  folder of the run's own embedded PostgreSQL (default .sluice-chaos); DATABASE_URL overrides it`

/** A command-line value broke a rule. */
export class OptionError extends Error {
  constructor(readonly option: string, readonly value: string, readonly rule: string) {
    super(`invalid ${option} = ${JSON.stringify(value)}: ${rule}`)
  }
}

const integer = (option: string, value: string, min: number, max: number): number => {
  const parsed = /^\d+$/.test(value.replaceAll("_", "").replaceAll(",", ""))
    ? Number(value.replaceAll("_", "").replaceAll(",", ""))
    : Number.NaN
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new OptionError(
      option,
      value,
      `must be an integer from ${min.toLocaleString("en")} to ${max.toLocaleString("en")}`
    )
  }
  return parsed
}

const durationUnits: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }

/** `90s`, `10m`, `1h`, `500ms`, plain seconds, or an Effect duration such as `10 minutes`. */
export const parseDuration = (option: string, value: string): Duration.Duration => {
  const short = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim())
  const decoded = short !== null
    ? Option.some(Duration.millis(Number(short[1]) * durationUnits[short[2] ?? "s"]!))
    : Duration.decodeUnknown(value.trim())
  if (Option.isNone(decoded) || !Duration.isFinite(decoded.value) || Duration.toMillis(decoded.value) < 1_000) {
    throw new OptionError(option, value, "must be a duration of at least one second, e.g. 90s, 10m or 1h")
  }
  return decoded.value
}

/** Parses the arguments after the script name; throws {@link OptionError}. */
export const parse = (argv: ReadonlyArray<string>, randomSeed: () => number): Options => {
  const values = new Map<string, string>()
  let quick = false
  let retentionZero = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--quick") {
      quick = true
      continue
    }
    if (arg === "--retention-zero") {
      retentionZero = true
      continue
    }
    const [name, inline] = arg.startsWith("--") && arg.includes("=") ? arg.split("=", 2) as [string, string] : [arg]
    if (!["--seed", "--duration", "--processes", "--events", "--rate", "--data-dir"].includes(name)) {
      throw new OptionError("argument", arg, "is not an option of the chaos run (see usage)")
    }
    const value = inline ?? argv[++i]
    if (value === undefined || value.startsWith("--")) throw new OptionError(name, "", "needs a value")
    if (values.has(name)) throw new OptionError(name, value, "is given twice")
    values.set(name, value)
  }
  const base = quick ? defaults.quick : defaults.full
  const get = <A>(name: string, fallback: A, read: (value: string) => A): A => {
    const value = values.get(name)
    return value === undefined ? fallback : read(value)
  }
  return {
    quick,
    retentionZero,
    seed: get("--seed", randomSeed(), (v) => integer("--seed", v, 0, 2 ** 31 - 1)),
    duration: get("--duration", base.duration as Duration.Duration, (v) => parseDuration("--duration", v)),
    processes: get("--processes", base.processes as number, (v) => integer("--processes", v, 1, 16)),
    events: get("--events", base.events as number, (v) => integer("--events", v, 1, 10_000_000)),
    rate: get("--rate", base.rate as number, (v) => integer("--rate", v, 1, 5_000)),
    dataDir: get("--data-dir", base.dataDir as string, (v) => v)
  }
}
