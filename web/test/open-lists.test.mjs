// Unit tests of the page's open-list parts: `preferences:` lines of a signed note, their
// comparison with the numbers shown, and the rows of a list's candidates. The fixture holds
// the bundle's JSON shapes for a contest with preferences.
// Run: node --test web/test/
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as V from "../verify.js";
import { candidateRows, candidatesBlock, comparePreferences, share, sharedNumbers, standsAt } from "../app.js";
import { setLanguage } from "../i18n.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const F = JSON.parse(fs.readFileSync(path.join(here, "open-lists.json"), "utf8"));

// The canonical `preferences:` lines of parsed preferences: lists by id, numbers ascending.
function preferenceLines(prefs) {
  return Object.keys(prefs)
    .sort()
    .map(
      (l) =>
        `preferences: ${l} ` +
        Object.keys(prefs[l])
          .sort((a, b) => a - b)
          .map((n) => `${n}:${prefs[l][n]}`)
          .join(" "),
    );
}

test("preferences: lines parse into list → number → votes and write back the same text", () => {
  const p = V.parseProtocol(F.note);
  assert.deepEqual(p.preferences, { PD: { 2: 1 }, PS: { 1: 1, 2: 152, 7: 98 } });
  assert.deepEqual(p.votes, { PD: 3, PS: 407 });
  assert.equal(p.fields.valid, "410");
  assert.deepEqual(preferenceLines(p.preferences), F.note.split("\n").filter((l) => l.startsWith("preferences: ")));
  // The unit file carries what the note says: nothing to report.
  assert.equal(comparePreferences(p.preferences, F.station.current.preferences), "");
  // A closed-list note has none, and a closed-list station shows none.
  assert.deepEqual(V.parseProtocol("urna/protocol/v1\nvotes: A 1\n").preferences, {});
  assert.equal(comparePreferences({}, {}), "");
});

test("a preference number shown otherwise than signed is named by list and ballot number", () => {
  const signed = V.parseProtocol(F.note).preferences;
  const shown = structuredClone(F.station.current.preferences);
  shown.PS[2] = 153;
  assert.equal(comparePreferences(signed, shown), "preferences PS 2: signed 152, shown 153");
  // A candidate the note gives no line (zero) but the page shows with votes, and the reverse.
  const extra = structuredClone(F.station.current.preferences);
  extra.PS[4] = 5;
  assert.equal(comparePreferences(signed, extra), "preferences PS 4: signed 0, shown 5");
  const missing = structuredClone(F.station.current.preferences);
  delete missing.PD;
  assert.equal(comparePreferences(signed, missing), "preferences PD 2: signed 1, shown 0");
  // An explicit zero on screen is what the note means by writing no line.
  const zero = structuredClone(F.station.current.preferences);
  zero.PS[3] = 0;
  assert.equal(comparePreferences(signed, zero), "");
  // A signed line naming no candidate standing at the station is never shown (the quarantine
  // quotes it): not a difference, unless the page shows a number for it.
  const unknown = { ...signed, PS: { ...signed.PS, 99: 4 } };
  const counted = (list, n) => !(list === "PS" && n === "99");
  const page = F.station.current.preferences;
  assert.equal(comparePreferences(unknown, page, counted), "");
  assert.equal(comparePreferences(unknown, { ...page, PS: { ...page.PS, 99: 5 } }, counted), "preferences PS 99: signed 4, shown 5");
  assert.equal(comparePreferences(unknown, page), "preferences PS 99: signed 4, shown 0");
});

test("malformed preferences: lines are refused, naming the line", () => {
  const base = "urna/protocol/v1\nvotes: PS 10\n";
  for (const bad of ["preferences: PS", "preferences: PS 7", "preferences: PS 07:3", "preferences: PS 7:0", "preferences: PS seven:3", "preferences: PS 7:3:1", "preferences: PS 7:3  8:1", "preferences: PS 7 3"]) {
    assert.throws(() => V.parseProtocol(`${base}${bad}\n`), new RegExp(bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")), bad);
  }
  assert.throws(() => V.parseProtocol(`${base}preferences: PS 7:3 7:4\n`), /PS 7 written twice/);
  assert.throws(() => V.parseProtocol(`${base}preferences: PS 7:3\npreferences: PS 8:4\n`), /PS written twice/);
});

test("shares are urna_tally::totals::percent's: two decimals, half up, '-' of nothing", () => {
  assert.equal(share(1, 20000), "0.01"); // exactly half a hundredth
  assert.equal(share(1, 20001), "0.00");
  assert.equal(share(1, 3), "33.33");
  assert.equal(share(2, 3), "66.67");
  assert.equal(share(410, 410), "100.00");
  assert.equal(share(0, 7), "0.00");
  assert.equal(share(3, 0), "-");
  // Beyond 2^53: exact, not a float.
  assert.equal(share(2 ** 53 + 1, 2 ** 54 + 2), "50.00");
});

test("a list's candidates: most votes first, shares of the list, elected and withdrawn marked", () => {
  const ps = F.contest.lists[0];
  const elected = F.seats.lists[0].elected;
  const rows = candidateRows(ps, F.national.preferences.PS, F.national.votes.PS, elected);
  assert.deepEqual(
    rows.map((r) => [r.number, r.votes, r.share, r.elected, r.withdrawn]),
    [
      [2, 4210, "21.05", true, false], // ties broken by ballot number
      [7, 4210, "21.05", true, false],
      [4, 105, "0.53", false, false],
      [1, 1, "0.01", true, false], // 1 of 20000: half up, as the bundle rounds
      [3, 0, "0.00", false, true], // no votes: still listed, from the definition
    ],
  );
  assert.equal(rows[0].name, "Besnik Leka");
  // Where Elira Gjoni does not stand (outside AL-Berat) she is not listed.
  const elsewhere = candidateRows(ps, {}, 0, [], (c) => !c.unit);
  assert.deepEqual(elsewhere.map((r) => [r.number, r.share]), [[1, "-"], [2, "-"], [3, "-"], [7, "-"]]);
  // A number with votes but no candidate of that number still shows its votes.
  assert.deepEqual(candidateRows({ candidates: [] }, { 9: 4 }, 8).map((r) => [r.number, r.name, r.share]), [[9, "", "50.00"]]);
  // Elected is matched by number and name: another list's number 2 is not elected.
  const pd = candidateRows(F.contest.lists[1], F.national.preferences.PD, 3, F.seats.lists[1].elected);
  assert.deepEqual(pd.map((r) => [r.number, r.share, r.elected]), [[2, "66.67", false], [1, "33.33", false]]);
});

test("the candidates block: one table per list, every number on it; nothing for closed lists", () => {
  setLanguage("en");
  const html = candidatesBlock(F.contest, F.national, "AL", "Albania", () => true, F.seats);
  assert.equal((html.match(/<details /g) || []).length, 2);
  assert.equal((html.match(/<table /g) || []).length, 2);
  // Lists by votes, candidates by preference votes: the numbers in the order shown.
  assert.deepEqual([...html.matchAll(/data-pref="(\d+)"/g)].map((m) => Number(m[1])), [4210, 4210, 105, 1, 0, 2, 1]);
  assert.equal((html.match(/class="tag">elected</g) || []).length, 3);
  assert.equal((html.match(/class="tag out">withdrawn</g) || []).length, 1);
  assert.match(html, /<td class="n">21\.05 %<\/td>/);
  assert.match(html, /5 candidates; most preference votes: 2 Besnik Leka/);
  assert.match(html, /Preference marks per ballot: at most 2\./);
  const all = structuredClone(F.contest);
  all.preferences.marks = "all";
  assert.match(candidatesBlock(all, F.national, "AL", "Albania", () => true, F.seats), /no limit within the list/);
  const closed = structuredClone(F.contest);
  delete closed.preferences;
  assert.equal(candidatesBlock(closed, F.national, "AL", "Albania", () => true, F.seats), "");
});

test("a district's candidates show where the district is: above it, in it and below it", () => {
  const units = new Map(
    [
      { id: "AL" },
      { id: "AL-Berat", parent: "AL" },
      { id: "AL-Berat-1", parent: "AL-Berat" },
      { id: "AL-Fier", parent: "AL" },
      { id: "AL-Fier-1", parent: "AL-Fier" },
    ].map((u) => [u.id, u]),
  );
  const ps = F.contest.lists[0];
  const numbers = (id) => candidateRows(ps, {}, 0, [], standsAt(units, id)).map((r) => r.number);
  // Elira Gjoni (4) stands in AL-Berat only; the others everywhere.
  assert.deepEqual(numbers("AL"), [1, 2, 3, 4, 7]);
  assert.deepEqual(numbers("AL-Berat"), [1, 2, 3, 4, 7]);
  assert.deepEqual(numbers("AL-Berat-1"), [1, 2, 3, 4, 7]);
  assert.deepEqual(numbers("AL-Fier"), [1, 2, 3, 7]);
  assert.deepEqual(numbers("AL-Fier-1"), [1, 2, 3, 7]);
  // Above the districts, two candidates with one number share its row (the bundle sums
  // their votes under the number there).
  const two = { candidates: [{ number: 1, name: "A", unit: "AL-Berat" }, { number: 1, name: "B", unit: "AL-Fier" }] };
  const rows = candidateRows(two, { 1: 9 }, 10, [{ number: 1, name: "B" }], standsAt(units, "AL"));
  assert.deepEqual(rows.map((r) => [r.number, r.name, r.votes, r.elected]), [[1, "A / B", 9, true]]);
  assert.deepEqual(candidateRows(two, {}, 0, [], standsAt(units, "AL-Fier-1")).map((r) => r.name), ["B"]);
  // Such a shared number is several people: the block shows no row for it above the
  // districts, only a pointer to them; within a district it is one person again.
  assert.deepEqual([...sharedNumbers(two, standsAt(units, "AL"))], [1]);
  assert.equal(sharedNumbers(two, standsAt(units, "AL-Fier")).size, 0);
  assert.equal(sharedNumbers(ps, standsAt(units, "AL")).size, 0);
  const contest = { id: "assembly", preferences: { marks: 1 }, lists: [{ id: "X", name: "X", ...two }] };
  const tot = { votes: { X: 10 }, preferences: { X: { 1: 9 } } };
  const above = candidatesBlock(contest, tot, "AL", "Albania", standsAt(units, "AL"), null);
  assert.ok(above.includes('data-shared="1"') && !above.includes('data-number="1"'), above);
  const within = candidatesBlock(contest, tot, "AL-Fier", "Fier", standsAt(units, "AL-Fier"), null);
  assert.ok(within.includes('data-number="1"') && !within.includes("data-shared"), within);
});
