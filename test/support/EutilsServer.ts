/**
 * A local stand-in for NCBI's E-utilities (`esearch.fcgi` with history, `esummary.fcgi`,
 * JSON only, `db=gds`) over a fixed list of records, with scripted faults, for testing
 * the GEO source without the network.
 *
 * - `esearch`: filters by publication date (`datetype=pdat`, `mindate`/`maxdate`),
 *   pages the ids by `retstart`/`retmax` (default 20), and stores the whole result under
 *   a new `WebEnv` with `query_key` 1. The `term` is recorded but not interpreted.
 * - `esummary`: reads `retstart`/`retmax` of the history set named by `WebEnv` and
 *   `query_key` (or an `id` list). Entries look like GEO's: `gpl` without its `GPL`
 *   prefix, `taxon`, `n_samples`, `pdat`, `gdstype`, and `entrytype` from the accession
 *   prefix (`GSE`, `GDS`, `GPL`), so non-series entries can be served too.
 * - `unavailable` accessions are found but summarised as `{ uid, error }`, as NCBI does
 *   for withdrawn records.
 * - With `apiKey` set, a request whose `api_key` differs gets NCBI's 400 answer, which
 *   echoes the key it got.
 *
 * Each request takes the next scripted fault, if any (`"ok"` answers normally), and is
 * recorded with its endpoint, query and arrival time.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import type { UpstreamRecord } from "../../src/archive/source/UpstreamRecord.js"

/** What the server does with one request instead of (or before) answering it normally. */
export type Fault =
  /** Answer normally. */
  | "ok"
  /** 200 with the first half of the normal JSON body. */
  | "truncated"
  /** 200 with valid JSON of the wrong shape. */
  | "wrong-shape"
  /** 200 with an error inside the body, as NCBI does when its back end fails. */
  | "ncbi-error"
  /** Destroy the connection without answering. */
  | "reset"
  /** Answer with this status (and `Retry-After`, when given). */
  | { readonly status: number; readonly retryAfter?: string | undefined }
  /** Answer normally after this long. */
  | { readonly delay: Duration.DurationInput }

/** One request as the server saw it. */
export interface RecordedRequest {
  /** `esearch`, `esummary`, or the path's last segment for anything else. */
  readonly endpoint: string
  readonly path: string
  readonly query: Readonly<Record<string, string>>
  /** Arrival time, `Date.now()`. */
  readonly at: number
  /** The fault applied, `"ok"` if none. */
  readonly fault: Fault
}

export interface EutilsServer {
  /** Base URL, as `GEO_BASE_URL` takes it (`http://127.0.0.1:PORT/entrez/eutils`). */
  readonly url: string
  /** Every request so far, in arrival order. */
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Queues faults for the next requests, one each, after those already queued. */
  readonly script: (faults: ReadonlyArray<Fault>) => Effect.Effect<void>
  /** Forgets the recorded requests and the queued faults. */
  readonly reset: Effect.Effect<void>
}

export interface Options {
  /** When set, requests must carry this `api_key`. */
  readonly apiKey?: string | undefined
  /** Accessions found by `esearch` whose `esummary` entry is NCBI's `{ uid, error }` (withdrawn records). */
  readonly unavailable?: ReadonlyArray<string> | undefined
}

/** GEO's uid for an accession: series 200000000 + n, platforms 100000000 + n, datasets n. */
export const uidOf = (accession: string): string => {
  const match = /^(GSE|GPL|GDS|GSM)(\d+)$/.exec(accession)
  if (match === null) throw new Error(`not a GEO accession: ${accession}`)
  const offset = { GDS: 0, GPL: 100_000_000, GSE: 200_000_000, GSM: 300_000_000 }[match[1] as "GSE"]
  return String(offset + Number(match[2]))
}

const header = (type: string) => ({ type, version: "0.3" })

/** `YYYY`, `YYYY/MM` or `YYYY/MM/DD` as the first or last day it covers. */
const bound = (value: string, end: boolean): string | undefined => {
  const match = /^(\d{4})(?:\/(\d{1,2})(?:\/(\d{1,2}))?)?$/.exec(value)
  if (match === null) return undefined
  const pad = (part: string | undefined, fallback: string) => part === undefined ? fallback : part.padStart(2, "0")
  return `${match[1]}/${pad(match[2], end ? "12" : "01")}/${pad(match[3], end ? "31" : "01")}`
}

const toSummary = (record: UpstreamRecord) => {
  const uid = uidOf(record.accession)
  return {
    uid,
    accession: record.accession,
    gds: "",
    title: record.title,
    summary: record.summary,
    gpl: record.platform.split(";").map((part) => part.trim().replace(/^GPL/, "")).filter((p) => p !== "").join(";"),
    gse: record.accession.replace(/^GSE/, ""),
    taxon: record.organism,
    entrytype: record.accession.slice(0, 3),
    gdstype: record.type,
    ptechtype: "",
    valtype: "",
    ssinfo: "",
    subsetinfo: "",
    pdat: record.publicationDate,
    suppfile: "TXT",
    samples: [],
    relations: [],
    extrelations: [],
    n_samples: record.sampleCount,
    seriestitle: "",
    platformtitle: "",
    platformtaxa: "",
    samplestaxa: "",
    pubmedids: [],
    projects: [],
    ftplink: "",
    geo2r: "no",
    bioproject: ""
  }
}

const integer = (value: string | undefined, fallback: number) => {
  const n = value === undefined ? Number.NaN : Number.parseInt(value, 10)
  return Number.isNaN(n) || n < 0 ? fallback : n
}

/** Starts the server on 127.0.0.1 (a free port) for the scope's lifetime. */
export const make = (
  records: ReadonlyArray<UpstreamRecord>,
  options: Options = {}
): Effect.Effect<EutilsServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const recorded: Array<RecordedRequest> = []
    const faults: Array<Fault> = []
    const histories = new Map<string, ReadonlyArray<UpstreamRecord>>()
    let webenvs = 0

    const esearch = (query: Record<string, string>) => {
      let matching = records
      if (query.datetype === "pdat" && query.mindate !== undefined && query.maxdate !== undefined) {
        const min = bound(query.mindate, false)
        const max = bound(query.maxdate, true)
        if (min === undefined || max === undefined) {
          return { status: 200, body: { header: header("esearch"), esearchresult: { ERROR: "Invalid date" } } }
        }
        matching = records.filter((record) => record.publicationDate >= min && record.publicationDate <= max)
      }
      const retstart = integer(query.retstart, 0)
      const retmax = Math.min(integer(query.retmax, 20), 10_000)
      const page = matching.slice(retstart, retstart + retmax)
      const history = query.usehistory === "y"
      let webenv: string | undefined
      if (history) {
        webenvs += 1
        webenv = `MCID_${String(webenvs).padStart(24, "0")}`
        histories.set(webenv, matching)
      }
      return {
        status: 200,
        body: {
          header: header("esearch"),
          esearchresult: {
            count: String(matching.length),
            retmax: String(page.length),
            retstart: String(retstart),
            ...(history ? { querykey: "1", webenv } : {}),
            idlist: page.map((record) => uidOf(record.accession)),
            translationset: [],
            querytranslation: query.term ?? ""
          }
        }
      }
    }

    const esummary = (query: Record<string, string>) => {
      let selected: ReadonlyArray<UpstreamRecord>
      if (query.WebEnv !== undefined) {
        const history = histories.get(query.WebEnv)
        if (history === undefined || query.query_key !== "1") {
          return { status: 200, body: { header: header("esummary"), esummaryresult: ["Invalid query_key/WebEnv"] } }
        }
        const retstart = integer(query.retstart, 0)
        selected = history.slice(retstart, retstart + Math.min(integer(query.retmax, 20), 10_000))
      } else if (query.id !== undefined) {
        const ids = new Set(query.id.split(","))
        selected = records.filter((record) => ids.has(uidOf(record.accession)))
      } else {
        return { status: 200, body: { header: header("esummary"), esummaryresult: ["Empty id list - nothing todo"] } }
      }
      const result: Record<string, unknown> = { uids: selected.map((record) => uidOf(record.accession)) }
      for (const record of selected) {
        const uid = uidOf(record.accession)
        result[uid] = options.unavailable?.includes(record.accession)
          ? { uid, error: "cannot get document summary" }
          : toSummary(record)
      }
      return { status: 200, body: { header: header("esummary"), result } }
    }

    const answer = (endpoint: string, query: Record<string, string>): { status: number; body: unknown } => {
      if (options.apiKey !== undefined && query.api_key !== undefined && query.api_key !== options.apiKey) {
        return { status: 400, body: { error: "API key invalid", "api-key": query.api_key, type: "invalid" } }
      }
      if (query.db !== "gds") {
        return { status: 400, body: { error: `unsupported db ${JSON.stringify(query.db)}` } }
      }
      if (query.retmode !== "json") return { status: 400, body: { error: "this server speaks JSON only" } }
      if (endpoint === "esearch") return esearch(query)
      if (endpoint === "esummary") return esummary(query)
      return { status: 404, body: { error: "not found" } }
    }

    const send = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) => {
      if (res.destroyed || res.writableEnded) return
      res.writeHead(status, { "content-type": "application/json; charset=UTF-8", ...headers })
      res.end(body)
    }

    const handle = (req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1")
      const query = Object.fromEntries(url.searchParams)
      const endpoint = (url.pathname.split("/").pop() ?? "").replace(/\.fcgi$/, "")
      const fault = faults.shift() ?? "ok"
      recorded.push({ endpoint, path: url.pathname, query, at: Date.now(), fault })
      if (fault === "reset") {
        req.socket.destroy()
        return
      }
      if (typeof fault === "object" && "status" in fault) {
        send(
          res,
          fault.status,
          fault.status === 429
            ? JSON.stringify({ error: "API rate limit exceeded", "api-key": "127.0.0.1", count: "4", limit: "3" })
            : `<html><body>${fault.status} error</body></html>`,
          fault.retryAfter === undefined ? {} : { "retry-after": fault.retryAfter }
        )
        return
      }
      if (fault === "wrong-shape") {
        send(
          res,
          200,
          JSON.stringify(
            endpoint === "esearch"
              ? { header: header("esearch"), esearchresult: { count: "many", idlist: "none" } }
              : { header: header("esummary"), result: "none" }
          )
        )
        return
      }
      if (fault === "ncbi-error") {
        send(
          res,
          200,
          JSON.stringify(
            endpoint === "esearch"
              ? { header: header("esearch"), esearchresult: { ERROR: "Search backend failed, try again" } }
              : {
                header: header("esummary"),
                esummaryresult: [
                  "NCBI C++ Exception:\n    Error: EUTILSAPP(CException::eInvalid) --- backend unavailable"
                ]
              }
          )
        )
        return
      }
      const { body, status } = answer(endpoint, query)
      const text = JSON.stringify(body)
      if (fault === "truncated") {
        send(res, status, text.slice(0, Math.floor(text.length / 2)))
      } else if (typeof fault === "object") {
        const timer = setTimeout(() => send(res, status, text), Duration.toMillis(Duration.decode(fault.delay)))
        res.on("close", () => clearTimeout(timer))
      } else {
        send(res, status, text)
      }
    }

    const server = yield* Effect.acquireRelease(
      Effect.async<ReturnType<typeof createServer>>((resume) => {
        const server = createServer(handle)
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    const { port } = server.address() as AddressInfo

    return {
      url: `http://127.0.0.1:${port}/entrez/eutils`,
      requests: Effect.sync(() => [...recorded]),
      script: (next) => Effect.sync(() => void faults.push(...next)),
      reset: Effect.sync(() => {
        recorded.length = 0
        faults.length = 0
      })
    }
  })
