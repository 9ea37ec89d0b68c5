/**
 * `sluice`: the command-line tool to operate a sluice database (status, dead letters,
 * retry, skip, replay, prune, event tail). `npm run sluice -- <command>`, or the
 * package's `sluice` bin. `sluice --help` lists the commands.
 *
 * Exit codes: 0 done (also after Ctrl-C), 1 the operation failed (the database, the
 * configuration), 2 the command line was wrong.
 */
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { sluice, UsageError } from "./ops/Commands.js"

const version = "0.1.0"

const hint = (message: string) =>
  /relation .* does not exist|schema .* does not exist/.test(message)
    ? `${message}\n(has the schema been migrated? run: sluice migrate)`
    : message

const messageOf = (error: unknown): string => {
  if (error instanceof Error && error.message !== "") return error.message
  if (typeof error === "object" && error !== null && "_tag" in error) return String(error._tag)
  return String(error)
}

/** `LOG_LEVEL`, default WARN (as `npm start`): the tables stay readable. */
const logLevel = Config.logLevel("LOG_LEVEL").pipe(Config.withDefault(LogLevel.Warning))

const setExitCode = (code: number) => Effect.sync(() => void (process.exitCode = code))

Command.run(sluice, { name: "sluice", version })(process.argv).pipe(
  Effect.catchAll((error) => {
    if (ValidationError.isValidationError(error)) return setExitCode(2)
    if (error instanceof UsageError) return Effect.zipRight(Console.error(`sluice: ${error.message}`), setExitCode(2))
    return Effect.zipRight(Console.error(`sluice: ${hint(messageOf(error))}`), setExitCode(1))
  }),
  Effect.provide(NodeContext.layer),
  (program) => Effect.flatMap(logLevel, (level) => Logger.withMinimumLogLevel(program, level)),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
