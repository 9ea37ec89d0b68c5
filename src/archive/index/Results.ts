/** What every index backend's search returns, whatever its kind. */

/** Which page of results to return. */
export interface PageOptions {
  readonly limit: number
  readonly offset: number
}

/** One match: the record, its score (higher is better) and its title. */
export interface Hit {
  readonly srn: string
  readonly score: number
  readonly title: string
}

/** A page of matches and the number of all matches. */
export interface Page {
  readonly total: number
  readonly results: ReadonlyArray<Hit>
}
