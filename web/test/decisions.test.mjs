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

test("a recount is ordered when the latest decision on the superseded entry says so", async () => {
  const { recountOrdered } = await import("../decisions.js");
  const history = [{ index: 7, entry: "sha256:aa" }, { index: 42, entry: "sha256:bb" }];
  const d = (index, decision) => ({ index, decides: "sha256:aa", decision });
  assert.equal(recountOrdered({ history, decisions: [d(30, "recount")] }), true);
  assert.equal(recountOrdered({ history, decisions: [d(30, "recount"), d(31, "annul")] }), false);
  assert.equal(recountOrdered({ history, decisions: [] }), false);
  assert.equal(recountOrdered({ history: history.slice(0, 1), decisions: [d(30, "recount")] }), false);
});

test("a scan's path is its hash under blob/sha256, and nothing else", async () => {
  const { scanPath } = await import("../decisions.js");
  const h = "ab".repeat(32);
  assert.equal(scanPath(`sha256:${h}`), `blob/sha256/${h}`);
  assert.equal(scanPath(`sha256:${h}/../x`), null);
  assert.equal(scanPath(undefined), null);
});

test("a station without history (urna/unit/v2) has its current entry as its one revision", async () => {
  const { historyOf } = await import("../decisions.js");
  const st = {
    status: "quarantined",
    current: { index: 9, revision: 1, entry: "sha256:dd", counts: {}, votes: {}, violations: [] },
  };
  assert.deepEqual(historyOf(st), [{ index: 9, revision: 1, status: "quarantined", entry: "sha256:dd" }]);
  assert.deepEqual(stationSteps(st).map((s) => [s.kind, s.index, s.h.status]), [["revision", 9, "quarantined"]]);
  const prefs = { AP: { 1: 5 } };
  assert.deepEqual(historyOf({ status: "accepted", current: { ...st.current, preferences: prefs } })[0].preferences, prefs);
  assert.deepEqual(historyOf({ status: "not_reported", current: null }), []);
  const listed = [{ index: 1 }, { index: 2 }];
  assert.equal(historyOf({ history: listed, current: st.current }), listed);
});
