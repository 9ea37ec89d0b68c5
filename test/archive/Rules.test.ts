import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { UpstreamRecord } from "../../src/archive/source/UpstreamRecord.js"
import * as Rules from "../../src/archive/validation/Rules.js"

const today = new Date("2026-01-01T12:00:00Z")

const good = new UpstreamRecord({
  accession: "GSE123456",
  title: "Single-cell RNA-seq of mouse hippocampus after kainic acid-induced seizures",
  summary: "We performed single-cell RNA sequencing on mouse hippocampus.",
  organism: "Mus musculus",
  platform: "GPL24247",
  sampleCount: 8,
  publicationDate: "2021/06/15",
  type: "Expression profiling by high throughput sequencing"
})

const withFields = (fields: Partial<typeof UpstreamRecord.Type>) => new UpstreamRecord({ ...good, ...fields })

const ruleOf = (record: UpstreamRecord, rule: Rules.RuleName, at: Date = today) => {
  const result = Rules.validate(record, at).find((r) => r.rule === rule)
  assert.isDefined(result, rule)
  return result!
}

const passes = (record: UpstreamRecord, rule: Rules.RuleName, at?: Date) => {
  const result = ruleOf(record, rule, at)
  assert.isTrue(result.passed, `${rule} should pass: ${result.message}`)
  return result.message
}

const fails = (record: UpstreamRecord, rule: Rules.RuleName, at?: Date) => {
  const result = ruleOf(record, rule, at)
  assert.isFalse(result.passed, `${rule} should fail: ${result.message}`)
  return result.message
}

describe("Rules", () => {
  it("reports every rule, in order, and a good record passes them all", () => {
    const results = Rules.validate(good, today)
    assert.deepStrictEqual(results.map((r) => r.rule), [...Rules.ruleNames])
    assert.isTrue(results.every((r) => r.passed && r.message.length > 0))
    assert.strictEqual(Rules.status(results), "passed")
  })

  it("status is failed when any rule fails, and every other rule is still reported", () => {
    const results = Rules.validate(withFields({ sampleCount: 0 }), today)
    assert.strictEqual(results.length, Rules.ruleNames.length)
    assert.strictEqual(Rules.status(results), "failed")
    assert.deepStrictEqual(results.filter((r) => !r.passed).map((r) => r.rule), ["sample-count"])
  })

  it("required fields: accession, title, summary, organism and platform must not be blank", () => {
    passes(good, "required-fields")
    assert.include(fails(withFields({ title: "" }), "required-fields"), "title")
    assert.include(fails(withFields({ summary: "  \n" }), "required-fields"), "summary")
    const several = fails(withFields({ title: " ", organism: "", platform: "" }), "required-fields")
    assert.include(several, "title, organism, platform")
    assert.include(fails(withFields({ accession: "" }), "required-fields"), "accession")
    // The type is not required.
    passes(withFields({ type: "" }), "required-fields")
  })

  it("accession format: GSE followed by 3 to 9 digits", () => {
    for (const accession of ["GSE123", "GSE123456", "GSE123456789"]) {
      passes(withFields({ accession }), "accession-format")
    }
    for (
      const accession of ["GSX12", "GSE12", "gse123456", "GSE-123456", "GSE 123456", "GSM123456", "GSE1234567890", ""]
    ) {
      assert.include(fails(withFields({ accession }), "accession-format"), JSON.stringify(accession))
    }
  })

  it("known organism: every ;-separated name must be a known scientific name", () => {
    assert.isAtLeast(Rules.knownOrganisms.length, 40)
    for (const organism of ["Homo sapiens", "Danio rerio", "Homo sapiens; Mus musculus", "Arabidopsis thaliana"]) {
      passes(withFields({ organism }), "known-organism")
    }
    assert.include(fails(withFields({ organism: "Unicornus magicus" }), "known-organism"), "Unicornus magicus")
    const mixed = fails(withFields({ organism: "Homo sapiens; Unicornus magicus" }), "known-organism")
    assert.include(mixed, "Unicornus magicus")
    assert.notInclude(mixed, "Homo sapiens")
    fails(withFields({ organism: "homo sapiens" }), "known-organism")
    assert.include(fails(withFields({ organism: " " }), "known-organism"), "no organism")
  })

  it("publication date: a real calendar day as YYYY/MM/DD, not after today", () => {
    for (const publicationDate of ["2005/01/01", "2020/02/29", "2025/12/31", "2026/01/01"]) {
      passes(withFields({ publicationDate }), "publication-date")
    }
    const unparseable = fails(withFields({ publicationDate: "2019/13/45" }), "publication-date")
    assert.include(unparseable, "\"2019/13/45\"")
    assert.include(unparseable, "month 13")
    assert.include(fails(withFields({ publicationDate: "2019/02/30" }), "publication-date"), "28 days")
    assert.include(fails(withFields({ publicationDate: "2023/02/29" }), "publication-date"), "28 days")
    fails(withFields({ publicationDate: "2021/04/31" }), "publication-date")
    fails(withFields({ publicationDate: "2018/07/00" }), "publication-date")
    for (const publicationDate of ["2019-03-15", "15/03/2019", "March 2017", "", "2019/3/5"]) {
      assert.include(fails(withFields({ publicationDate }), "publication-date"), "YYYY/MM/DD")
    }
    const future = fails(withFields({ publicationDate: "2095/06/01" }), "publication-date")
    assert.include(future, "future")
    assert.include(future, "2026-01-01")
    // "Today" is a UTC day: the next day is in the future until it begins.
    fails(withFields({ publicationDate: "2026/01/02" }), "publication-date")
    passes(withFields({ publicationDate: "2026/01/02" }), "publication-date", new Date("2026-01-02T00:00:00Z"))
  })

  it("sample count: a whole number of at least 1", () => {
    for (const sampleCount of [1, 8, 400]) passes(withFields({ sampleCount }), "sample-count")
    for (const sampleCount of [0, -3, 2.5, Number.NaN]) {
      assert.include(fails(withFields({ sampleCount }), "sample-count"), String(sampleCount))
    }
  })

  it("platform format: every ;-separated platform is GPL followed by digits", () => {
    for (const platform of ["GPL570", "GPL24676", "GPL16791; GPL20301"]) {
      passes(withFields({ platform }), "platform-format")
    }
    for (
      const platform of ["Illumina HiSeq 2500", "GLP570", "GPL", "gpl96", "GPL570 Affymetrix", "GPL16791; NovaSeq"]
    ) {
      fails(withFields({ platform }), "platform-format")
    }
    assert.include(fails(withFields({ platform: "GPL16791; NovaSeq" }), "platform-format"), "\"NovaSeq\"")
  })

  describe("over the shipped sample set", () => {
    const file = fileURLToPath(new URL("../../data/geo-sample.json", import.meta.url))
    const sample = Schema.decodeUnknownSync(Schema.Array(UpstreamRecord))(JSON.parse(readFileSync(file, "utf8")))

    // Each deliberate breakage, recognised from the data (not from the rules), and the
    // one rule it must fail. Anything else is meant to be valid.
    const fakeOrganisms = ["Unicornus magicus", "Draco occidentalis", "Pegasus alatus"]
    const calendarShape = /^\d{4}\/(0[1-9]|1[0-2])\/(0[1-9]|[12]\d|3[01])$/
    const isRealDay = (text: string) => {
      const [y, m, d] = text.split("/").map(Number) as [number, number, number]
      const date = new Date(Date.UTC(y, m - 1, d))
      return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d
    }
    const kinds: ReadonlyArray<readonly [kind: string, rule: Rules.RuleName, matches: (r: UpstreamRecord) => boolean]> =
      [
        ["missing title", "required-fields", (r) => r.title.trim() === ""],
        ["missing summary", "required-fields", (r) => r.summary.trim() === ""],
        ["unknown organism", "known-organism", (r) => fakeOrganisms.some((name) => r.organism.includes(name))],
        ["sample count 0", "sample-count", (r) => r.sampleCount === 0],
        [
          "date in the future",
          "publication-date",
          (r) => calendarShape.test(r.publicationDate) && r.publicationDate >= "2090"
        ],
        ["unparseable date", "publication-date", (r) => !calendarShape.test(r.publicationDate)],
        [
          "impossible date",
          "publication-date",
          (r) => calendarShape.test(r.publicationDate) && !isRealDay(r.publicationDate)
        ],
        ["malformed accession", "accession-format", (r) => !/^GSE\d{5,6}$/.test(r.accession)],
        ["malformed platform", "platform-format", (r) => r.platform.split("; ").some((p) => !/^GPL\d+$/.test(p))]
      ]

    it("between 4% and 8% fail, each for one deliberate reason, every kind occurs, and no valid record fails", () => {
      assert.strictEqual(sample.length, 1200)
      assert.strictEqual(new Set(sample.map((r) => r.accession)).size, sample.length, "accessions are unique")
      const counts = new Map<string, number>()
      let failed = 0
      for (const record of sample) {
        const results = Rules.validate(record, today)
        const failedRules = results.filter((r) => !r.passed).map((r) => r.rule)
        const kind = kinds.filter(([, , matches]) => matches(record))
        assert.isAtMost(kind.length, 1, `${record.accession} is broken in more than one way`)
        if (kind.length === 0) {
          assert.deepStrictEqual(failedRules, [], `${record.accession} is meant to be valid`)
          assert.strictEqual(Rules.status(results), "passed")
        } else {
          const [name, rule] = kind[0]!
          assert.deepStrictEqual(failedRules, [rule], `${record.accession} (${name})`)
          assert.strictEqual(Rules.status(results), "failed")
          counts.set(name, (counts.get(name) ?? 0) + 1)
          failed++
        }
      }
      const share = failed / sample.length
      assert.isAtLeast(share, 0.04)
      assert.isAtMost(share, 0.08)
      for (const [name] of kinds) assert.isAtLeast(counts.get(name) ?? 0, 1, `no record with ${name}`)
      // The examples the sample set promises.
      const has = (predicate: (r: UpstreamRecord) => boolean) => sample.some(predicate)
      assert.isTrue(has((r) => r.organism === "Unicornus magicus"))
      assert.isTrue(has((r) => r.publicationDate === "2019/13/45"))
      assert.isTrue(has((r) => r.accession === "GSX12"))
    })

    it("valid records are GEO-shaped: 5-6 digit accessions, dates from 2005 to 2025, known organisms", () => {
      const valid = sample.filter((r) => Rules.status(Rules.validate(r, today)) === "passed")
      for (const r of valid) {
        assert.match(r.accession, /^GSE\d{5,6}$/)
        assert.isTrue(r.publicationDate >= "2005/01/01" && r.publicationDate <= "2025/12/31", r.publicationDate)
        assert.isAbove(r.title.length, 20)
        assert.isAbove(r.summary.length, 100)
      }
      // Topics cluster, so search has neighbours to find.
      const titled = (pattern: RegExp) => valid.filter((r) => pattern.test(r.title)).length
      assert.isAtLeast(titled(/^Single-cell RNA-seq of .*mouse hippocampus/), 5)
      assert.isAtLeast(titled(/H3K27ac .*in human liver cancer/), 3)
    })
  })
})
