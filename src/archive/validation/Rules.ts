/**
 * The validation rules a deposition must pass before curation: plain functions over an
 * {@link UpstreamRecord}. Every rule reports a {@link RuleResult}, passed or not, with a
 * message a curator can act on. "Today" is a parameter, so the handler takes it from
 * Effect's `Clock` and tests pin it.
 *
 * @example
 * ```ts
 * const results = Rules.validate(record, new Date(yield* Clock.currentTimeMillis))
 * const outcome = Rules.status(results) // "passed" | "failed"
 * ```
 */
import { RuleResult } from "../Events.js"
import type { UpstreamRecord } from "../source/UpstreamRecord.js"

/** The rules, in the order {@link validate} reports them. */
export const ruleNames = [
  "required-fields",
  "accession-format",
  "known-organism",
  "publication-date",
  "sample-count",
  "platform-format"
] as const

/** The name of one rule. */
export type RuleName = typeof ruleNames[number]

/** The fields that must be present and not blank. */
export const requiredFields = ["accession", "title", "summary", "organism", "platform"] as const

/**
 * Scientific names the archive accepts as organisms: the common model organisms and a
 * generous set of others that GEO series often report.
 */
export const knownOrganisms: ReadonlyArray<string> = [
  "Homo sapiens",
  "Mus musculus",
  "Rattus norvegicus",
  "Danio rerio",
  "Drosophila melanogaster",
  "Caenorhabditis elegans",
  "Saccharomyces cerevisiae",
  "Schizosaccharomyces pombe",
  "Arabidopsis thaliana",
  "Oryza sativa",
  "Zea mays",
  "Triticum aestivum",
  "Glycine max",
  "Solanum lycopersicum",
  "Nicotiana benthamiana",
  "Physcomitrium patens",
  "Chlamydomonas reinhardtii",
  "Xenopus laevis",
  "Xenopus tropicalis",
  "Gallus gallus",
  "Sus scrofa",
  "Bos taurus",
  "Ovis aries",
  "Capra hircus",
  "Equus caballus",
  "Canis lupus familiaris",
  "Felis catus",
  "Oryctolagus cuniculus",
  "Macaca mulatta",
  "Macaca fascicularis",
  "Pan troglodytes",
  "Callithrix jacchus",
  "Cricetulus griseus",
  "Mesocricetus auratus",
  "Heterocephalus glaber",
  "Oryzias latipes",
  "Salmo salar",
  "Oncorhynchus mykiss",
  "Apis mellifera",
  "Anopheles gambiae",
  "Aedes aegypti",
  "Bombyx mori",
  "Escherichia coli",
  "Bacillus subtilis",
  "Pseudomonas aeruginosa",
  "Staphylococcus aureus",
  "Mycobacterium tuberculosis",
  "Candida albicans",
  "Plasmodium falciparum",
  "Toxoplasma gondii",
  "Severe acute respiratory syndrome coronavirus 2",
  "Human immunodeficiency virus 1"
]

const known: ReadonlySet<string> = new Set(knownOrganisms)

const accessionPattern = /^GSE\d{3,9}$/
const platformPattern = /^GPL\d+$/
const datePattern = /^(\d{4})\/(\d{2})\/(\d{2})$/

/** A calendar day. */
export interface CalendarDate {
  readonly year: number
  readonly month: number
  readonly day: number
}

const daysInMonth = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate()

/**
 * Parses a GEO publication date (`YYYY/MM/DD`) into a real calendar day, or explains why
 * it is not one.
 *
 * @example
 * ```ts
 * parsePublicationDate("2019/02/30") // { _tag: "Invalid", reason: "2019-02 has 28 days" }
 * ```
 */
export const parsePublicationDate = (
  value: string
):
  | { readonly _tag: "Valid"; readonly date: CalendarDate }
  | { readonly _tag: "Invalid"; readonly reason: string } =>
{
  const match = datePattern.exec(value)
  if (match === null) return { _tag: "Invalid", reason: "not in YYYY/MM/DD form" }
  const year = Number(match[1])
  const month = Number(match[2])
  const day = Number(match[3])
  if (month < 1 || month > 12) return { _tag: "Invalid", reason: `there is no month ${match[2]}` }
  const days = daysInMonth(year, month)
  if (day < 1 || day > days) {
    return { _tag: "Invalid", reason: `${match[1]}-${match[2]} has ${days} days, not a day ${match[3]}` }
  }
  return { _tag: "Valid", date: { year, month, day } }
}

const compareDates = (a: CalendarDate, b: CalendarDate): number => a.year - b.year || a.month - b.month || a.day - b.day

const isBlank = (value: string): boolean => value.trim() === ""

const splitList = (value: string): ReadonlyArray<string> =>
  value.split(";").map((part) => part.trim()).filter((part) => part !== "")

const result = (rule: RuleName, passed: boolean, message: string): RuleResult =>
  new RuleResult({ rule, passed, message })

const requiredFieldsRule = (record: UpstreamRecord): RuleResult => {
  const blank = requiredFields.filter((field) => isBlank(record[field]))
  return blank.length === 0
    ? result("required-fields", true, `all required fields present (${requiredFields.join(", ")})`)
    : result(
      "required-fields",
      false,
      `required field${blank.length > 1 ? "s" : ""} missing or blank: ${blank.join(", ")}`
    )
}

const accessionRule = (record: UpstreamRecord): RuleResult =>
  accessionPattern.test(record.accession)
    ? result("accession-format", true, `accession ${record.accession} is a GEO series accession`)
    : result(
      "accession-format",
      false,
      `accession ${JSON.stringify(record.accession)} is not a GEO series accession (GSE followed by 3 to 9 digits)`
    )

const organismRule = (record: UpstreamRecord): RuleResult => {
  const names = splitList(record.organism)
  if (names.length === 0) return result("known-organism", false, "no organism given")
  const unknown = names.filter((name) => !known.has(name))
  return unknown.length === 0
    ? result("known-organism", true, `organism${names.length > 1 ? "s" : ""} known: ${names.join("; ")}`)
    : result("known-organism", false, `unknown organism${unknown.length > 1 ? "s" : ""}: ${unknown.join("; ")}`)
}

const dateRule = (record: UpstreamRecord, today: Date): RuleResult => {
  const parsed = parsePublicationDate(record.publicationDate)
  const shown = JSON.stringify(record.publicationDate)
  if (parsed._tag === "Invalid") {
    return result("publication-date", false, `publication date ${shown} is not a real date: ${parsed.reason}`)
  }
  const now = { year: today.getUTCFullYear(), month: today.getUTCMonth() + 1, day: today.getUTCDate() }
  const todayText = today.toISOString().slice(0, 10)
  return compareDates(parsed.date, now) > 0
    ? result("publication-date", false, `publication date ${shown} is in the future (today is ${todayText})`)
    : result("publication-date", true, `published ${record.publicationDate}`)
}

const sampleCountRule = (record: UpstreamRecord): RuleResult =>
  Number.isInteger(record.sampleCount) && record.sampleCount >= 1
    ? result("sample-count", true, `${record.sampleCount} sample${record.sampleCount > 1 ? "s" : ""}`)
    : result("sample-count", false, `sample count ${record.sampleCount} is not a whole number of at least 1`)

const platformRule = (record: UpstreamRecord): RuleResult => {
  const platforms = splitList(record.platform)
  const bad = platforms.filter((platform) => !platformPattern.test(platform))
  if (platforms.length === 0) return result("platform-format", false, "no platform given")
  return bad.length === 0
    ? result("platform-format", true, `platform${platforms.length > 1 ? "s" : ""} ${platforms.join("; ")}`)
    : result(
      "platform-format",
      false,
      `platform ${
        bad.map((platform) => JSON.stringify(platform)).join(", ")
      } is not a GEO platform accession (GPL followed by digits)`
    )
}

/**
 * Runs every rule on a record and reports each one, passed or failed, in
 * {@link ruleNames} order. A publication date after `today` (compared as UTC days) fails.
 */
export const validate = (record: UpstreamRecord, today: Date): ReadonlyArray<RuleResult> => [
  requiredFieldsRule(record),
  accessionRule(record),
  organismRule(record),
  dateRule(record, today),
  sampleCountRule(record),
  platformRule(record)
]

/** `"passed"` when every rule passed, else `"failed"`. */
export const status = (results: ReadonlyArray<RuleResult>): "passed" | "failed" =>
  results.every((r) => r.passed) ? "passed" : "failed"
