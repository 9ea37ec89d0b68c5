/**
 * The pipeline as a graph: event types feed the consumer groups subscribed to them, and
 * a group feeds the event types its handler emits. Subscriptions give the first kind of
 * edge; the second is observed from the log (an event whose `causationId` names an
 * event of type T was emitted by a group subscribed to T; when several groups take T,
 * each is drawn as a possible emitter), plus any edges an application declares.
 *
 * Columns read left to right: types nothing emits come first (groups nothing feeds one
 * column further), then each node one column after the nearest node feeding it
 * (breadth-first), so a chain such as the archive's lays out in order, and a loop (a
 * handler emitting the type it takes) does not stretch it.
 */

import * as Context from "effect/Context"

/**
 * Emits an application declares (group → type), for handlers whose emits cannot be
 * inferred: a batch handler's follow-ups carry no single `causationId`.
 */
export class DeclaredEmits extends Context.Tag("sluice/dashboard/DeclaredEmits")<
  DeclaredEmits,
  ReadonlyArray<{ readonly group: string; readonly type: string }>
>() {}

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
  const isType = (id: string) => names.get(id)!.kind === "type"
  const column = new Map<string, number>()
  const order: Array<string> = []
  /** Breadth-first from `starts` (each with its column), in increasing column order. */
  const visit = (starts: ReadonlyArray<readonly [string, number]>) => {
    const queue = starts.filter(([id]) => !column.has(id)).sort((a, b) => a[1] - b[1])
    for (const [id, at] of queue) column.set(id, at)
    while (queue.length > 0) {
      const [id, at] = queue.shift()!
      order.push(id)
      for (const to of outgoing.get(id) ?? []) {
        if (column.has(to)) continue
        column.set(to, at + 1)
        queue.push([to, at + 1])
      }
    }
  }
  // Types nothing emits start at the left; groups nothing feeds one column further.
  visit(ids.filter((id) => !fed.has(id)).map((id) => [id, isType(id) ? 0 : 1] as const))
  // What only a loop reaches starts at its first type by name.
  for (const id of [...ids.filter(isType), ...ids.filter((id) => !isType(id))]) {
    visit([[id, isType(id) ? 0 : 1]])
  }
  return {
    nodes: order.map((id) => ({ id, ...names.get(id)!, column: column.get(id)! })),
    edges: [...edges.values()]
  }
}
