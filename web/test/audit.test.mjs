// The audit view's pure parts: decimals in each language, the risk against the limit, a
// sampled station's progress, assertions said in each language, the staleness check, and the
// view itself from a small audit.json (urna_audit::public's shape).
import test from "node:test";
import assert from "node:assert/strict";
import { setLanguage, _strings } from "../i18n.js";
import { decimal, withinLimit, progress, assertionText, lastEntry, auditFile, auditHtml } from "../audit.js";

const lists = ["AP", "BX"];

const doc = {
  format: "urna/audit-report/v1",
  audits: [
    {
      contest: "assembly",
      lists,
      entry: 41,
      signer: "central-commission",
      checkpoint_size: 41,
      checkpoint_root: "ab".repeat(32),
      rules: "generic",
      seats: 1,
      method: "macro-kaplan-markov",
      risk_limit: "0.05",
      rounds_planned: 4,
      rounds_possible: 2,
      stations: 40,
      quarantined: 1,
      ballots: 12000,
      first_round_draws: 6,
      seed: { entry: 42, value: "12345678901234567890", signer: "central-commission" },
      status: "escalate",
      risk: "0.310000",
      assertions: [
        { assertion: "all: AP seat 1 beats BX seat 1", kind: "seat", district: "all", winner: "AP", winner_seat: 1, loser: "BX", loser_seat: 1, margin: "1200", diluted_margin: "0.100000", risk: "0.310000" },
        { assertion: "AP reached 5% (national)", kind: "above_threshold", list: "AP", scope: "national", share: "5%", margin: "9000", diluted_margin: "0.750000", risk: "0.000012" },
        { assertion: "BX stayed below 5% (district D01)", kind: "below_threshold", list: "BX", scope: "district D01", share: "5%", margin: "3", diluted_margin: "0.001000", risk: "1.000000" },
      ],
      samples: [
        {
          round: 1,
          entry: 43,
          signer: "central-commission",
          draws: [1, 6],
          stations: [
            { id: "S-1", district: "all", draws: [1, 4], reported: [100, 50, 3], counted: [100, 50, 3], count_entry: 44, count_signer: "central-commission" },
            { id: "S-<2>", district: "all", draws: [2], reported: [90, 60, 2], counted: [80, 70, 2], count_entry: 45, count_signer: "central-commission" },
            { id: "S-3", district: "all", draws: [3, 5, 6], reported: [70, 20, 1], counted: null, count_entry: null, count_signer: null },
          ],
        },
      ],
      verdicts: [{ round: 1, entry: 46, signer: "central-commission", draws: 6, risk: "0.310000", verdict: "escalate" }],
    },
  ],
  refused: [{ entry: 47, value: "audit seed note: field `kind`: the seed is already logged at entry 42" }],
};

const names = {
  contest: (id) => (id === "assembly" ? "Assembly" : id),
  list: (_c, id) => ({ AP: "Alliance <for> Progress", BX: "Bloc X" })[id] || id,
  unit: (id) => ({ D01: "Berat" })[id] || id,
};
const ln = { list: (id) => names.list("assembly", id), unit: names.unit };

test("decimals get the language's sign; malformed ones a dash", () => {
  setLanguage("en");
  assert.equal(decimal("0.049952"), "0.049952");
  assert.equal(decimal("1"), "1");
  assert.equal(decimal("x"), "–");
  setLanguage("sq");
  assert.equal(decimal("0.05"), "0,05");
});

test("a risk is within the limit up to the millionth", () => {
  assert.equal(withinLimit("0.050000", "0.05"), true);
  assert.equal(withinLimit("0.050001", "0.05"), false);
  assert.equal(withinLimit("0.000012", "0.05"), true);
  assert.equal(withinLimit("1.000000", "0.05"), false);
});

test("a station is pending, matching, or differing in named columns", () => {
  const st = doc.audits[0].samples[0].stations;
  assert.deepEqual(progress(st[0], lists), { state: "match", diffs: [] });
  assert.deepEqual(progress(st[1], lists), {
    state: "discrepancy",
    diffs: [
      { column: "AP", reported: 90, counted: 80 },
      { column: "BX", reported: 60, counted: 70 },
    ],
  });
  assert.deepEqual(progress(st[2], lists), { state: "pending", diffs: [] });
  const invalid = progress({ reported: [1, 2, 3], counted: [1, 2, 4] }, lists);
  assert.deepEqual(invalid.diffs, [{ column: null, reported: 3, counted: 4 }]);
});

test("assertions are said in the page's language with the lists' and places' names", () => {
  const [seat, above, below] = doc.audits[0].assertions;
  setLanguage("en");
  assert.equal(assertionText(seat, ln), "all: seat 1 of Alliance <for> Progress beats seat 1 of Bloc X");
  assert.equal(assertionText(above, ln), "Alliance <for> Progress reached 5% (whole election)");
  assert.equal(assertionText(below, ln), "Bloc X stayed below 5% (Berat)");
  setLanguage("sq");
  assert.equal(assertionText(below, ln), "Bloc X mbeti nën 5% (Berat)");
  setLanguage("mk");
  assert.equal(assertionText(above, ln), "Alliance <for> Progress постигна 5% (целите избори)");
  // An unknown kind falls back to the file's English line.
  assert.equal(assertionText({ kind: "new", assertion: "as written" }, ln), "as written");
});

test("the file is of the checkpoint shown only if every entry it names lies in it", async () => {
  assert.equal(lastEntry(doc), 47);
  assert.equal(lastEntry({ audits: [], refused: [] }), -1);
  let fetched = [];
  const getJson = async (path, fresh) => {
    fetched.push([path, fresh]);
    return doc;
  };
  assert.equal(await auditFile(getJson, 48), doc);
  assert.deepEqual(fetched, [["v1/audit.json", false]]);
  fetched = [];
  setLanguage("en");
  await assert.rejects(auditFile(getJson, 47), /another checkpoint/);
  assert.deepEqual(fetched, [
    ["v1/audit.json", false],
    ["v1/audit.json", true],
  ]);
});

test("the view shows parameters, seed, the sample with draws and progress, risks and verdicts, escaped", () => {
  setLanguage("en");
  const html = auditHtml(doc, names);
  assert.match(html, /<h2 tabindex="-1">Risk-limiting audit of the seats<\/h2>/);
  assert.match(html, /data-status="escalate"/);
  assert.match(html, /The risk is still above the limit/);
  assert.match(html, /Current risk 0.31 \(limit 0.05\)|Current risk 0.310000 \(limit 0.05\)/);
  assert.match(html, /the first 41 entries of the log/);
  assert.match(html, /generic, seats: 1/);
  assert.match(html, /<code>12345678901234567890<\/code> \(signed by central-commission, entry 42\)/);
  assert.match(html, /Round 1: draws 1–6/);
  assert.match(html, /2 of 3 stations counted by hand, 1 of them differing from the protocol/);
  // Every station with its draw numbers and multiplicity, its state and its differences.
  assert.equal((html.match(/<tr data-station=/g) || []).length, 3);
  assert.match(html, /<tr data-station="S-1" data-state="match" data-times="2">/);
  assert.match(html, /<td>1, 4<\/td><td class="n">2<\/td>/);
  assert.match(html, /data-station="S-&lt;2&gt;" data-state="discrepancy"/);
  assert.match(html, /Alliance &lt;for&gt; Progress: 90 → 80; Bloc X: 60 → 70/);
  assert.match(html, /data-station="S-3" data-state="pending" data-times="3"/);
  assert.ok(!html.includes("<for>") && !html.includes("S-<2>"));
  // Assertions: confirmed or not against the limit.
  assert.equal((html.match(/data-confirmed="true"/g) || []).length, 1);
  assert.equal((html.match(/data-confirmed="false"/g) || []).length, 2);
  assert.match(html, /<tr data-round="1" data-verdict="escalate">/);
  assert.match(html, /data-testid="au-refused"/);
  assert.match(html, /Entry 47/);
  // Another language: the words change, the numbers stay.
  setLanguage("sr-Latn");
  const sr = auditHtml(doc, names);
  assert.match(sr, /Kontrolno brojanje mandata s ograničenim rizikom/);
  assert.match(sr, /Rizik je još iznad granice/);
  assert.match(sr, /<td>1, 4<\/td>/);
  // No audit yet.
  setLanguage("en");
  assert.match(auditHtml({ audits: [], refused: [] }, names), /data-testid="au-none"/);
  // Before the seed: no sample, no verdict.
  const fresh = { ...doc.audits[0], seed: null, status: "awaiting-seed", samples: [], verdicts: [] };
  const early = auditHtml({ audits: [fresh], refused: [] }, names);
  assert.match(early, /Waiting for the public seed/);
  assert.match(early, /not rolled yet/);
  assert.match(early, /No verdict yet/);
});

test("every audit word exists in all four languages", () => {
  const keys = Object.keys(_strings.en).filter((k) => k.startsWith("au.") || k === "nav.audit");
  assert.ok(keys.length > 50);
  for (const code of ["sq", "mk", "sr-Latn"]) {
    for (const k of keys) assert.ok(_strings[code][k], `${code} lacks ${k}`);
  }
});

test("an audit whose results changed afterwards, or run under other rules, says so plainly", () => {
  const done = {
    ...doc.audits[0],
    status: "risk-limit-met",
    definition_rules: "albania",
    definition_seats: null,
    audits_contest_seats: false,
    superseded_by: null,
    current: { log_size: 315, covers_current_results: false, changed_stations: 9, changed: ["S-1", "S-<9>"], seats_as_audited: true },
  };
  setLanguage("en");
  const html = auditHtml({ audits: [done], refused: [] }, names);
  assert.match(html, /data-testid="au-coverage" data-covers="false"/);
  assert.match(html, /no longer covers the current results: 9 station\(s\) changed after the audited checkpoint \(the first 41 entries; the log now holds 315\)/);
  assert.match(html, /must start a new audit/);
  assert.match(html, /href="#\/station\/S-%3C9%3E">S-&lt;9&gt;<\/a>/);
  assert.match(html, /data-testid="au-other-rules"/);
  assert.match(html, /generic, seats: 1, not the contest&#39;s \(albania\): it does not confirm the contest&#39;s seats/);
  assert.match(html, /Risk limit met for the outcome audited, which is not the contest&#39;s seats/);
  assert.ok(!html.includes("the reported seats stand"));
  // Seats changed; then the audit's own rules and unchanged results.
  const moved = { ...done, current: { ...done.current, seats_as_audited: false } };
  assert.match(auditHtml({ audits: [moved], refused: [] }, names), /no longer the audited seats/);
  const fine = { ...done, audits_contest_seats: true, current: { log_size: 47, covers_current_results: true, changed_stations: 0, changed: [], seats_as_audited: true } };
  const ok = auditHtml({ audits: [fine], refused: [] }, names);
  assert.match(ok, /data-covers="true"/);
  assert.match(ok, /the reported seats stand/);
  assert.ok(!ok.includes("au-other-rules"));
  for (const code of ["sq", "mk", "sr-Latn"]) {
    setLanguage(code);
    const other = auditHtml({ audits: [done], refused: [] }, names);
    assert.match(other, /data-covers="false"/);
    assert.ok(!other.includes("au.stale"), `${code}: a key shown instead of its words`);
  }
  setLanguage("en");
});
