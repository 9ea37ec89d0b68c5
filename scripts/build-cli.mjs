// Bundles the `sluice` command-line tool (src/cli/sluice.ts) into dist/cli/sluice.js for the
// package's `bin`: the package's dependencies and peers stay imports, the rest (@effect/cli
// and its printers, the operations module, the runtime's code it uses) is bundled.
import { build } from "esbuild"
import { readFileSync } from "node:fs"

const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"))
const external = Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies })

await build({
  entryPoints: ["src/cli/sluice.ts"],
  outfile: "dist/cli/sluice.js",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external,
  banner: {
    js: [
      "#!/usr/bin/env node",
      "import { createRequire as __sluiceCreateRequire } from \"node:module\";",
      "const require = __sluiceCreateRequire(import.meta.url);"
    ].join("\n")
  },
  logLevel: "warning"
})
