/**
 * The pipeline as a graph: event types feed the consumer groups subscribed to them, and
 * a group feeds the event types its handler emits. Subscriptions give the first kind of
 * edge; the second is observed from the log (an event whose `causationId` names an
 * event of type T was emitted by a group subscribed to T; when several groups take T,
 * each is drawn as a possible emitter), plus any edges an application declares.
 *
 * Columns read left to right: types nothing emits come first, then each node one column
 * after the nearest node feeding it (breadth-first), so a chain such as the archive's
 * lays out in order, and a loop (a handler emitting the type it takes) does not stretch it.
 */

/** A node: an event type or a consumer group, in a column from the left. */
export interface Node {
  readonly id: string
  readonly kind: "type" | "group"
  readonly name: string
  readonly column: number
}

/** An edge: type → group (a subscription, with its routing key) or group → type (an emit). */
export interface Edge {
  readonly from: string
  readonly to: string
  readonly routingKey: string | null
}

export interface Topology {
  readonly nodes: ReadonlyArray<Node>
  readonly edges: ReadonlyArray<Edge>
}

export interface Inputs {
  readonly subscriptions: ReadonlyArray<
    { readonly group: string; readonly eventType: string; readonly routingKey: string | null }
  >
  /** Observed (cause type, emitted type) pairs. */
  readonly causes: ReadonlyArray<{ readonly causeType: string; readonly type: string }>
  /** Declared emits: group → the types its handler emits. */
  readonly emits?: ReadonlyArray<{ readonly group: string; readonly type: string }> | undefined
  /** Groups to show even without subscriptions. */
  readonly groups?: ReadonlyArray<string> | undefined
}

export const typeId = (name: string) => `type:${name}`
export const groupId = (name: string) => `group:${name}`

/** Builds the graph and lays out its columns. */
export const make = (inputs: Inputs): Topology => {
  const names = new Map<string, { kind: Node["kind"]; name: string }>()
  const addType = (name: string) => names.set(typeId(name), { kind: "type", name })
  const addGroup = (name: string) => names.set(groupId(name), { kind: "group", name })
  const edges = new Map<string, Edge>()
  const addEdge = (edge: Edge) => {
    const key = `${edge.from}\u0000${edge.to}\u0000${edge.routingKey ?? ""}`
    if (!edges.has(key)) edges.set(key, edge)
  }

  const takers = new Map<string, Array<string>>()
  for (const { eventType, group, routingKey } of inputs.subscriptions) {
    addType(eventType)
    addGroup(group)
    addEdge({ from: typeId(eventType), to: groupId(group), routingKey })
    takers.set(eventType, [...(takers.get(eventType) ?? []), group])
  }
  for (const group of inputs.groups ?? []) addGroup(group)
  const emits = [
    ...(inputs.emits ?? []),
    ...inputs.causes.flatMap(({ causeType, type }) => (takers.get(causeType) ?? []).map((group) => ({ group, type })))
  ]
  for (const { group, type } of emits) {
    addGroup(group)
    addType(type)
    addEdge({ from: groupId(group), to: typeId(type), routingKey: null })
  }

  const outgoing = new Map<string, Array<string>>()
  const fed = new Set<string>()
  for (const edge of edges.values()) {
    outgoing.set(edge.from, [...(outgoing.get(edge.from) ?? []), edge.to])
    if (edge.from !== edge.to) fed.add(edge.to)
  }
  const byName = (a: string, b: string) => a < b ? -1 : a > b ? 1 : 0
  const ids = [...names.keys()].sort(byName)
  const roots = ids.filter((id) => names.get(id)!.kind === "type" && !fed.has(id))
  const column = new Map<string, number>()
  const order: Array<string> = []
  const visit = (start: ReadonlyArray<string>, first: number) => {
    let frontier = start.filter((id) => !column.has(id))
    for (const id of frontier) column.set(id, first)
    while (frontier.length > 0) {
      order.push(...frontier)
      const next: Array<string> = []
      for (const id of frontier) {
        for (const to of outgoing.get(id) ?? []) {
          if (column.has(to)) continue
          column.set(to, column.get(id)! + 1)
          next.push(to)
        }
      }
      frontier = next
    }
  }
  visit(roots, 0)
  // Whatever only a loop reaches: start at its first type (or a lone group) by name.
  for (const id of ids) {
    if (column.has(id)) continue
    visit([id], names.get(id)!.kind === "type" ? 0 : 1)
  }
  return {
    nodes: order.map((id) => ({ id, ...names.get(id)!, column: column.get(id)! })),
    edges: [...edges.values()]
  }
}
