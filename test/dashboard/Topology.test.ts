/**
 * The pipeline graph's layout: the archive's chain reads left to right (with its loop and
 * its per-backend routing keys), a type several groups take marks each as a possible
 * emitter, and a graph that is only a loop still gets columns.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Topology from "../../src/dashboard/Topology.js"

const columns = (topology: Topology.Topology) => topology.nodes.map((node) => `${node.column} ${node.id}`)

describe("Topology", () => {
  it("lays the archive's chain out left to right; its paging loop and routing keys stay", () => {
    const subscriptions = [
      ["archive.TriggerInitialSourceRun", "ServerStarted", null],
      ["archive.PullFromSource", "SourceRequested", null],
      ["archive.ValidateDeposition", "DepositionSubmitted", null],
      ["archive.ConvertDepositionToRecord", "DepositionApproved", null],
      ["archive.AutoApproveCuration", "ValidationCompleted", null],
      ["archive.FanOutToIndexBackends", "RecordPublished", null],
      ["archive.Index.keyword", "IndexRecord", "keyword"],
      ["archive.Index.vector", "IndexRecord", "vector"]
    ] as const
    const topology = Topology.make({
      subscriptions: subscriptions.map(([group, eventType, routingKey]) => ({ group, eventType, routingKey })),
      causes: [
        ["ServerStarted", "SourceRequested"],
        ["SourceRequested", "SourceRequested"],
        ["SourceRequested", "DepositionSubmitted"],
        ["SourceRequested", "SourceRunCompleted"],
        ["DepositionSubmitted", "ValidationCompleted"],
        ["ValidationCompleted", "DepositionApproved"],
        ["DepositionApproved", "RecordPublished"],
        ["RecordPublished", "IndexRecord"]
      ].map(([causeType, type]) => ({ causeType: causeType!, type: type! }))
    })
    assert.deepStrictEqual(columns(topology), [
      "0 type:ServerStarted",
      "1 group:archive.TriggerInitialSourceRun",
      "2 type:SourceRequested",
      "3 group:archive.PullFromSource",
      "4 type:DepositionSubmitted",
      "4 type:SourceRunCompleted",
      "5 group:archive.ValidateDeposition",
      "6 type:ValidationCompleted",
      "7 group:archive.AutoApproveCuration",
      "8 type:DepositionApproved",
      "9 group:archive.ConvertDepositionToRecord",
      "10 type:RecordPublished",
      "11 group:archive.FanOutToIndexBackends",
      "12 type:IndexRecord",
      "13 group:archive.Index.keyword",
      "13 group:archive.Index.vector"
    ])
    assert.deepInclude(topology.edges, {
      from: "group:archive.PullFromSource",
      to: "type:SourceRequested",
      routingKey: null
    })
    assert.deepInclude(topology.edges, {
      from: "type:IndexRecord",
      to: "group:archive.Index.vector",
      routingKey: "vector"
    })
  })

  it("marks every group taking a cause type as a possible emitter; lone groups and loops get columns", () => {
    const topology = Topology.make({
      subscriptions: [
        { group: "a", eventType: "T", routingKey: null },
        { group: "b", eventType: "T", routingKey: null },
        { group: "loop", eventType: "L", routingKey: null }
      ],
      causes: [{ causeType: "T", type: "U" }, { causeType: "L", type: "L" }],
      emits: [{ group: "declared", type: "T" }],
      groups: ["idle"]
    })
    assert.deepStrictEqual(columns(topology), [
      "1 group:declared",
      "1 group:idle",
      "2 type:T",
      "3 group:a",
      "3 group:b",
      "4 type:U",
      "0 type:L",
      "1 group:loop"
    ])
    const from = (id: string) => topology.edges.filter((edge) => edge.from === id).map((edge) => edge.to)
    assert.deepStrictEqual(from("group:a"), ["type:U"])
    assert.deepStrictEqual(from("group:b"), ["type:U"])
    assert.deepStrictEqual(from("group:loop"), ["type:L"])
    assert.deepStrictEqual(from("group:declared"), ["type:T"])
  })
})
