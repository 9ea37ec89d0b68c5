/** The runtime's migration files, as the Migrator reports them: `[id, name]` in order. */
import { readdirSync } from "node:fs"

const names = readdirSync(new URL("../../migrations/", import.meta.url))
  .flatMap((file) => {
    const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file)
    return match === null ? [] : [[Number(match[1]), match[2]!] as const]
  })
  .sort(([a], [b]) => a - b)

export const migrationNames: ReadonlyArray<readonly [number, string]> = names
export const migrationCount = names.length
