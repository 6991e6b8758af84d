// The map's arithmetic: which list leads, which bin of the scale a value falls in, and what an
// area is named for screen readers; the map draws only areas that have a shape.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SCALE, bin, leadingList, measureValue, mapBlock } from "../map.js";

test("the leading list is the one with most votes, the first in ballot order on a tie", () => {
  assert.equal(leadingList({ votes: { A: 3, B: 5, C: 5 } }, ["A", "B", "C"]), "B");
  assert.equal(leadingList({ votes: { A: 5, B: 5 } }, ["B", "A"]), "B");
  assert.equal(leadingList({ votes: { A: 0 } }, ["A"]), null);
  assert.equal(leadingList({}, ["A"]), null);
});

test("bins split the range in equal parts, the largest value in the last", () => {
  assert.equal(bin(0, 0, 100), 0);
  assert.equal(bin(19.99, 0, 100), 0);
  assert.equal(bin(20, 0, 100), 1);
  assert.equal(bin(100, 0, 100), SCALE.length - 1);
  assert.equal(bin(7, 7, 7), SCALE.length - 1);
});

test("measures read the bundle's decimal strings", () => {
  const tot = { turnout: { percent: "46.30" }, stations: { percent_counted: "97.96" }, percent: { A: "48.61" } };
  assert.equal(measureValue(tot, "turnout"), 46.3);
  assert.equal(measureValue(tot, "progress"), 97.96);
  assert.equal(measureValue(tot, "share", "A"), 48.61);
  assert.equal(measureValue(tot, "share", "B"), null);
  assert.equal(measureValue(tot, "leading"), null);
});

test("the map draws the areas with shapes, named with their numbers", () => {
  const kid = (unit, a, b) => ({
    unit,
    votes: { A: a, B: b },
    percent: { A: String((100 * a) / (a + b)), B: String((100 * b) / (a + b)) },
    turnout: { percent: "50.00" },
    stations: { percent_counted: "100.00" },
  });
  const units = new Map([["X", { id: "X", name: "Ex" }], ["Y", { id: "Y", name: "Why" }], ["Z", { id: "Z", name: "Zed" }]]);
  const html = mapBlock({
    shapes: { width: 10, height: 10, units: [{ id: "X", path: "M0,0L1,0 1,1Z" }, { id: "Y", path: "M2,2L3,2 3,3Z" }] },
    contest: { id: "c", lists: [{ id: "A" }, { id: "B" }] },
    kids: [kid("X", 3, 1), kid("Y", 1, 3), kid("Z", 1, 1)],
    units,
    name: (u) => u.name,
    state: { measure: "leading" },
    t: (k, v = {}) => `${k}${JSON.stringify(v)}`,
    pct: (s) => Number(s).toFixed(2),
    esc: (s) => String(s).replace(/"/g, "&quot;"),
    href: (u) => `#/unit/${u.id}`,
    colour: (id) => ({ A: "#111111", B: "#222222" })[id],
    listName: (id) => `List ${id}`,
  });
  assert.equal((html.match(/<a href="#\/unit\/[XY]" data-unit/g) || []).length, 2);
  assert.ok(!html.includes('data-unit="Z"'), "Z has no shape");
  assert.match(html, /data-unit="X" aria-label="Ex: map.leads\{&quot;list&quot;:&quot;List A&quot;,&quot;percent&quot;:&quot;75.00&quot;\}"><path d="M0,0L1,0 1,1Z" fill="#111111"/);
  assert.match(html, /data-unit="Y" aria-label="Why: [^"]*List B[^"]*"><path d="M2,2L3,2 3,3Z" fill="#222222"/);
  assert.equal(mapBlock({ shapes: { units: [] }, contest: { id: "c", lists: [] }, kids: [kid("X", 1, 1)], units, state: {} }), "");
});
