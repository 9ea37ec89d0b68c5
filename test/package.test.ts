/**
 * The published package, as a user gets it: `npm pack` (which builds `dist/` through
 * `prepack`), a fresh consumer project that installs the tarball from the npm cache,
 * a strict type check of a small program against the shipped `.d.ts`, and a run of the
 * compiled program with plain `node` against the test database; then the same program
 * bundled into one file with esbuild, as the README recommends for a smaller worker.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import { promises as fsp, readFileSync } from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import { fileURLToPath } from "node:url"
import { migrationNames } from "./support/MigrationFiles.js"
import * as TestDatabase from "./support/TestDatabase.js"

const root = fileURLToPath(new URL("..", import.meta.url))

interface Output {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs a command to completion, with `npm_*` variables removed from its environment so
 * that a nested `npm` behaves as in a user's shell, not as a child of `npm test`.
 */
const exec = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env?: Readonly<Record<string, string>> }
) =>
  Effect.async<Output>((resume) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)))
    const child = spawn(command, args, { cwd: options.cwd, env: { ...env, ...options.env }, stdio: "pipe" })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => stdout += chunk)
    child.stderr.on("data", (chunk) => stderr += chunk)
    child.on("error", (cause) => resume(Effect.die(cause)))
    child.on("close", (code, signal) => resume(Effect.succeed({ code, signal, stdout, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** Fails with everything the command printed unless it exited 0. */
const expectSuccess = (what: string, output: Output) =>
  expect(output.code, `${what} failed (${output.signal ?? output.code}):\n${output.stdout}\n${output.stderr}`).toBe(0)

/** The version of a package installed in this repository (so the consumer's install hits the npm cache). */
const installedVersion = (name: string): string =>
  (JSON.parse(readFileSync(nodePath.join(root, "node_modules", name, "package.json"), "utf8")) as {
    version: string
  }).version

const esbuild = nodePath.join(root, "node_modules/.bin/esbuild")

/** The README's flags for bundling a worker into one ES module. */
const bundleFlags = [
  "--bundle",
  "--minify",
  "--platform=node",
  "--format=esm",
  "--external:pg-native",
  "--banner:js=import { createRequire } from \"node:module\"; const require = createRequire(import.meta.url);"
]

const tempDir = Effect.acquireRelease(
  Effect.promise(() => fsp.mkdtemp(nodePath.join(os.tmpdir(), "sluice-package-"))),
  (dir) => Effect.promise(() => fsp.rm(dir, { recursive: true, force: true }))
)

const consumerSource = `import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as SqlClient from "@effect/sql/SqlClient"
import { Console, Deferred, Effect, Layer, Schema } from "effect"
import { Database, Event, Handler, Outbox, Sluice, WorkerPool } from "sluice"

class Greeted extends Event.Class<Greeted>()("consumer.Greeted", { name: Schema.String }) {}

const program = Effect.gen(function*() {
  const handled = yield* Deferred.make<string>()
  const greeter = Handler.make({
    name: "consumer.Greeter",
    event: Greeted,
    handle: (event, delivery) => {
      // The event's type comes through the shipped declarations (not \`any\`):
      // @ts-expect-error name is a string
      const wrong: number = event.name
      void wrong
      return Deferred.succeed(handled, \`\${event.name} (attempt \${delivery.attempt})\`)
    }
  })
  yield* Layer.build(WorkerPool.layer([greeter]))
  const sql = yield* SqlClient.SqlClient
  yield* sql.withTransaction(Outbox.emit(new Greeted({ name: "hello from the tarball" })))
  const line = yield* Deferred.await(handled).pipe(Effect.timeout("30 seconds"))
  yield* Console.log(\`consumer handled \${Event.typeName(Greeted)}: \${line}\`)
}).pipe(Effect.scoped)

// So are the pool's requirements: without the runtime and the database it does not type-check.
// @ts-expect-error missing Sluice and Database layers
export const unprovided: Effect.Effect<void> = Layer.launch(WorkerPool.layer([]))

// A schema of its own, so the run applies the migrations shipped in the tarball.
const schema = process.env["CONSUMER_SCHEMA"] ?? "consumer"
const Runtime = Sluice.layer({ schema }).pipe(Layer.provideMerge(Database.layerConfig))

program.pipe(Effect.provide(Runtime), NodeRuntime.runMain)
`

const consumerTsconfig = {
  compilerOptions: {
    target: "ES2022",
    lib: ["ES2022"],
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noUnusedLocals: true,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    // Check the shipped declarations too, not only the consumer's code.
    skipLibCheck: false,
    noEmitOnError: true,
    types: ["node"],
    rootDir: ".",
    outDir: "out"
  },
  files: ["consumer.ts"]
}

/** Bare specifiers imported by the shipped JavaScript (static and literal dynamic imports). */
const importedPackages = (source: string): ReadonlyArray<string> =>
  [...source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*)"([^"]+)"/g)]
    .map((match) => match[1]!)
    .filter((specifier) => !specifier.startsWith(".") && !specifier.startsWith("node:"))
    .map((specifier) =>
      specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0]!
    )

it.live(
  "the packed package installs into a fresh project, type-checks strictly and runs",
  () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase.TestDatabase
      const dir = yield* tempDir

      // 1. Pack: `prepack` builds dist/. Only runtime files are shipped.
      const pack = yield* exec("npm", ["pack", "--json", "--pack-destination", dir], { cwd: root })
      expectSuccess("npm pack", pack)
      const [packed] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>
      const files = packed!.files.map((file) => file.path)
      expect(files).toEqual(expect.arrayContaining([
        "package.json",
        "dist/index.js",
        "dist/index.d.ts",
        "dist/Migrations.js",
        "migrations/0001_core.sql"
      ]))
      expect(files.filter((file) => !/^(dist\/|src\/runtime\/|migrations\/|package\.json$|README\.md$)/.test(file)))
        .toEqual([])

      // 2. A consumer project depending on the tarball and on the peers it imports itself.
      const consumer = nodePath.join(dir, "consumer")
      yield* Effect.promise(() => fsp.mkdir(consumer))
      const manifest = {
        name: "sluice-consumer",
        private: true,
        type: "module",
        dependencies: {
          sluice: `file:${nodePath.join(dir, packed!.filename)}`,
          effect: installedVersion("effect"),
          "@effect/sql": installedVersion("@effect/sql"),
          "@effect/platform-node": installedVersion("@effect/platform-node")
        },
        devDependencies: {
          "@types/node": installedVersion("@types/node"),
          // @effect/sql-pg's declarations import "pg" (checked here with skipLibCheck off).
          "@types/pg": installedVersion("@types/pg")
        }
      }
      yield* Effect.promise(() =>
        Promise.all([
          fsp.writeFile(nodePath.join(consumer, "package.json"), JSON.stringify(manifest, null, 2)),
          fsp.writeFile(nodePath.join(consumer, "tsconfig.json"), JSON.stringify(consumerTsconfig, null, 2)),
          fsp.writeFile(nodePath.join(consumer, "consumer.ts"), consumerSource)
        ])
      )
      const install = yield* exec("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], { cwd: consumer })
      expectSuccess("npm install", install)

      // 3. The shipped code imports only the package's declared dependencies and peers.
      const installed = nodePath.join(consumer, "node_modules", "sluice")
      const installedManifest = JSON.parse(readFileSync(nodePath.join(installed, "package.json"), "utf8")) as {
        dependencies: Record<string, string>
        peerDependencies: Record<string, string>
      }
      const dependencies = { ...installedManifest.dependencies, ...installedManifest.peerDependencies }
      const shipped = (yield* Effect.promise(() => fsp.readdir(nodePath.join(installed, "dist"))))
        .filter((name) => name.endsWith(".js") || name.endsWith(".d.ts"))
      const imported = new Set(
        shipped.flatMap((name) => importedPackages(readFileSync(nodePath.join(installed, "dist", name), "utf8")))
      )
      expect([...imported].filter((name) => !(name in dependencies))).toEqual([])

      // 4. Type-check (strict, shipped declarations included) and compile with the repository's tsc.
      const tsc = yield* exec(process.execPath, [nodePath.join(root, "node_modules/typescript/bin/tsc"), "-p", "."], {
        cwd: consumer
      })
      expectSuccess("tsc", tsc)

      // 5. Run the compiled program with plain node: one event emitted, handled, printed.
      const run = yield* exec(process.execPath, ["out/consumer.js"], { cwd: consumer, env: { DATABASE_URL: url } })
      expectSuccess("node out/consumer.js", run)
      expect(run.stdout).toMatch(/^consumer handled consumer\.Greeted: hello from the tarball \(attempt 1\)$/m)

      // The migrations shipped in the tarball were found from node_modules/sluice/dist and applied.
      const sql = yield* SqlClient.SqlClient
      const applied = yield* sql<{ name: string }>`SELECT name FROM consumer.migrations ORDER BY migration_id`
      expect(applied.map((row) => row.name)).toEqual(migrationNames.map(([, name]) => name))
      const deliveries = yield* sql<{ status: string }>`SELECT status FROM consumer.deliveries`
      expect(deliveries.map((row) => row.status)).toEqual(["delivered"])

      // 6. The program bundled into one file (the README's command): it imports nothing but
      // Node's own modules, and finds the migrations in the installed package, not beside its code.
      const readme = readFileSync(nodePath.join(root, "README.md"), "utf8")
      for (const flag of bundleFlags) expect(readme).toContain(flag.replace("--banner:js=", ""))
      const bundle = yield* exec(esbuild, [
        "out/consumer.js",
        ...bundleFlags,
        "--outfile=bundle/worker.js"
      ], {
        cwd: consumer
      })
      expectSuccess("esbuild", bundle)
      expect(importedPackages(readFileSync(nodePath.join(consumer, "bundle/worker.js"), "utf8"))).toEqual([])
      const bundled = yield* exec(process.execPath, ["bundle/worker.js"], {
        cwd: consumer,
        env: { DATABASE_URL: url, CONSUMER_SCHEMA: "consumer_bundled" }
      })
      expectSuccess("node bundle/worker.js", bundled)
      expect(bundled.stdout).toMatch(/^consumer handled consumer\.Greeted: hello from the tarball \(attempt 1\)$/m)
      const appliedByBundle = yield* sql<
        { name: string }
      >`SELECT name FROM consumer_bundled.migrations ORDER BY migration_id`
      expect(appliedByBundle.map((row) => row.name)).toEqual(migrationNames.map(([, name]) => name))
    }).pipe(Effect.scoped, Effect.provide(TestDatabase.layer)),
  240_000
)
