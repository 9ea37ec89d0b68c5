/**
 * The README's code samples are quotes of the type-checked files in `examples/`: each
 * block that starts with `// from examples/<file>` must appear in that file verbatim.
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"

const root = new URL("../", import.meta.url)
const readme = readFileSync(new URL("README.md", root), "utf8")

const quotes = [...readme.matchAll(/```ts\n\/\/ from (examples\/[\w-]+\.ts)\n([\s\S]*?)```/g)].map((match) => ({
  file: match[1]!,
  code: match[2]!
}))

describe("README", () => {
  it("quotes at least one example per documented topic", () => {
    expect(new Set(quotes.map((quote) => quote.file))).toEqual(
      new Set([
        "examples/quickstart.ts",
        "examples/main.ts",
        "examples/batch-handler.ts",
        "examples/transaction-modes.ts",
        "examples/handler-with-services.ts"
      ])
    )
  })

  it.each(quotes.map((quote, i) => [`${i + 1}: ${quote.file}`, quote] as const))(
    "quote %s is verbatim",
    (_, quote) => {
      const source = readFileSync(new URL(quote.file, root), "utf8")
      expect(source).toContain(quote.code)
    }
  )

  it("gives the quick start as exactly the two commands", () => {
    expect(readme).toContain("npm install && npm start")
    expect(readme).toMatch(/^npm test\b/m)
  })
})
