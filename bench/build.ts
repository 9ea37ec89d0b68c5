/**
 * Transpiles the benchmark and the runtime to plain JavaScript once per run, so the
 * children start fast and their memory is the contender's own (the tsx loader adds a
 * thread and ~35–65 MB of RSS to every process).
 *
 * The output goes to `node_modules/.cache/sluice-bench/` (out of reach of git, ESLint and
 * the compiler; bare imports resolve to the project's `node_modules`). It mirrors the
 * sources, so relative imports work unchanged, and carries a copy of `migrations/`, which
 * the runtime looks for beside its code.
 */
import { build as esbuild } from "esbuild"
import { promises as fsp } from "node:fs"
import * as nodePath from "node:path"
import ts from "typescript"

const folders = ["bench", "src/runtime"]

/** Where the transpiled files go. */
export const buildDir = (root: string): string => nodePath.join(root, "node_modules", ".cache", "sluice-bench")

/** Writes `<outDir>/bench/**.js`, `<outDir>/src/runtime/**.js` and `<outDir>/migrations`; returns the number of files. */
export const build = async (root: string, outDir: string): Promise<number> => {
  let count = 0
  await fsp.rm(outDir, { recursive: true, force: true })
  for (const folder of folders) {
    for (const file of await fsp.readdir(nodePath.join(root, folder), { recursive: true })) {
      if (!file.endsWith(".ts") || file.endsWith(".d.ts")) continue
      const source = await fsp.readFile(nodePath.join(root, folder, file), "utf8")
      const { outputText } = ts.transpileModule(source, {
        fileName: nodePath.basename(file),
        compilerOptions: {
          target: ts.ScriptTarget.ES2022,
          module: ts.ModuleKind.ESNext,
          verbatimModuleSyntax: true,
          sourceMap: false
        }
      })
      const target = nodePath.join(outDir, folder, file.replace(/\.ts$/, ".js"))
      await fsp.mkdir(nodePath.dirname(target), { recursive: true })
      await fsp.writeFile(target, outputText)
      count++
    }
  }
  await fsp.cp(nodePath.join(root, "migrations"), nodePath.join(outDir, "migrations"), { recursive: true })
  // Inside node_modules, Node looks no further up for the package type.
  await fsp.writeFile(nodePath.join(outDir, "package.json"), JSON.stringify({ type: "module", private: true }) + "\n")
  return count
}

/** The file a contender's child runs from: its transpiled module, or its bundle (see {@link bundle}). */
export const entryFile = (outDir: string, contender: string, bundled: boolean): string =>
  nodePath.join(outDir, "bench", bundled ? `${contender}.bundle.js` : `${contender}.js`)

/**
 * Bundles each contender's transpiled entry with everything it imports into one minified
 * file beside it, as a deployment built with esbuild would ship it. A process then loads
 * one module instead of hundreds (`effect/Schema` alone pulls in ~250 files of fast-check),
 * which is most of what importing costs in memory.
 */
export const bundle = async (outDir: string, contenders: ReadonlyArray<string>): Promise<void> => {
  await esbuild({
    entryPoints: contenders.map((contender) => entryFile(outDir, contender, false)),
    outdir: nodePath.join(outDir, "bench"),
    entryNames: "[name].bundle",
    bundle: true,
    minify: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: ["pg-native"],
    banner: {
      js:
        "import { createRequire as __createRequire } from \"node:module\"; const require = __createRequire(import.meta.url);"
    },
    logLevel: "warning"
  })
}
