// The forensics view's pure parts: numbers in each language, the unit a view is focused on,
// and the view itself from a small forensics.json (every flag and plot shown, with the warning).
import test from "node:test";
import assert from "node:assert/strict";
import { setLanguage } from "../i18n.js";
import { fixed, screenedUnit, forensicsHtml } from "../forensics.js";

const doc = {
  format: "urna/forensics/v1",
  warning: "A flag is a reason to look, not proof",
  contest: "assembly",
  screened: true,
  level: "district",
  counted: 40,
  leader: { list: "AP", name: "Alliance <for> Progress" },
  monte_carlo: { repetitions: 1000, seed: 2016, min_denominator: 100 },
  units: [
    { id: "D01", name: "Berat", counted: 20, stuffing: { stations: 20, correlation: 0.61, sobyanin: 0.2 }, protocols: { reported: 20, quarantined: 0, amended: 1 } },
    { id: "D02", name: "Dibër", counted: 20, stuffing: { stations: 20, correlation: null, sobyanin: null }, protocols: { reported: 20, quarantined: 3, amended: 0 } },
    { id: "all", name: "all", counted: 40, stuffing: { stations: 40, correlation: 0.5, sobyanin: -0.1 } },
  ],
  variables: [
    {
      id: "turnout",
      name: "turnout",
      units: [0, 1, 2].map((i) => ({ obs: 20, "2BL": 4.1 + i, LastC: 4.5, C05s: 0.2, P05s: 0.25, Skew: -0.5, Kurt: 3.1, integer: { included: 20, observed: 3, expected: 0.8, sd: 0.9, p: 0.0009 } })),
    },
  ],
  flags: [
    { unit: "D01", screen: "stuffing", variable: "Alliance <for> Progress", detail: "correlation 0.61" },
    { unit: "D02", screen: "quarantine", variable: "protocols", detail: "3 of 20" },
  ],
  plots: [
    { file: "v1/forensics/fingerprint.svg", kind: "fingerprint", variable: null, title: "t", desc: "d" },
    { file: "v1/forensics/turnout-hist.svg", kind: "histogram", variable: "turnout", title: "t", desc: "d" },
  ],
};

test("numbers get the language's decimal sign and a real minus", () => {
  setLanguage("en");
  assert.equal(fixed(4.18749), "4.187");
  assert.equal(fixed(-0.5, 1), "−0.5");
  assert.equal(fixed(null), "–");
  setLanguage("sq");
  assert.equal(fixed(4.18749), "4,187");
});

test("a municipality's view focuses on its district's screens", () => {
  const units = new Map([
    ["AL", { id: "AL", parent: null }],
    ["D01", { id: "D01", parent: "AL" }],
    ["M01", { id: "M01", parent: "D01" }],
  ]);
  assert.equal(screenedUnit(doc, units, "M01"), "D01");
  assert.equal(screenedUnit(doc, units, "AL"), null);
});

test("the view shows the warning, every flag, the tables and the plots, escaped", () => {
  setLanguage("en");
  const html = forensicsHtml(doc, new Map(), null);
  assert.match(html, /data-testid="fx-warning"/);
  assert.match(html, /reason to look, not proof/);
  assert.equal((html.match(/<tr data-screen=/g) || []).length, 2);
  assert.match(html, /Alliance &lt;for&gt; Progress/);
  assert.ok(!html.includes("<for>"));
  assert.equal((html.match(/data-testid="fx-plot"/g) || []).length, 2);
  assert.match(html, /alt="Turnout × share of Alliance &lt;for&gt; Progress\. /);
  assert.match(html, /<td class="n">0.0009<\/td>/);
  // Focused on Dibër: its flag and the whole election's only.
  const units = new Map([["D02", { id: "D02", parent: null }]]);
  const focused = forensicsHtml(doc, units, "D02");
  assert.equal((focused.match(/<tr data-screen=/g) || []).length, 1);
  assert.match(focused, /aria-current="true"/);
  const none = forensicsHtml({ ...doc, screened: false }, new Map(), null);
  assert.match(none, /data-testid="fx-none"/);
});
