/**
 * One upstream record in the GEO series summary shape (what NCBI's `esummary` returns
 * for `db=gds`, reduced to the fields the archive uses). Sources return these; the
 * validation stage decides whether one is acceptable, so the shape is permissive here.
 */
import * as Schema from "effect/Schema"

export class UpstreamRecord extends Schema.Class<UpstreamRecord>("archive/UpstreamRecord")({
  /** GEO series accession, e.g. `GSE123456`. */
  accession: Schema.String,
  title: Schema.String,
  summary: Schema.String,
  /** Scientific name(s), `; `-separated as GEO gives them, e.g. `Homo sapiens`. */
  organism: Schema.String,
  /** Platform accession(s), e.g. `GPL24676`. */
  platform: Schema.String,
  sampleCount: Schema.Number,
  /** Publication date as GEO gives it: `YYYY/MM/DD`. */
  publicationDate: Schema.String,
  /** GEO series type, e.g. `Expression profiling by high throughput sequencing`. */
  type: Schema.String
}) {}
