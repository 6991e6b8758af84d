// node --test web/test: a station's revisions and the decisions on them come out as one
// sequence in log order.
import { test } from "node:test";
import assert from "node:assert/strict";
import { stationSteps, decisionKey } from "../decisions.js";

test("revisions and decisions interleave by log index", () => {
  const st = {
    history: [
      { index: 7, revision: 1, status: "quarantined", entry: "sha256:aa" },
      { index: 42, revision: 2, status: "accepted", entry: "sha256:bb" },
    ],
    decisions: [{ index: 30, entry: "sha256:cc", decides: "sha256:aa", decision: "recount", reason: "r" }],
  };
  const steps = stationSteps(st);
  assert.deepEqual(steps.map((s) => [s.kind, s.index]), [["revision", 7], ["decision", 30], ["revision", 42]]);
  assert.equal(steps[1].of.revision, 1);
  assert.equal(decisionKey(steps[1].d), "decision.recount");
  assert.equal(decisionKey({ decision: "other" }), "decision.unknown");
  assert.deepEqual(stationSteps({ history: [{ index: 1 }] }).map((s) => s.kind), ["revision"]);
});
