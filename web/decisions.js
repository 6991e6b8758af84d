// The commission's decisions (urna/decision/v1 entries) in a station's history: the unit file
// lists a station's revisions and, apart, the decisions on them; the page shows both as one
// sequence in log order (protocol → quarantine → decision → the recount's amendment).

// A station's entries, oldest first. The unit file (urna/unit/v2) leaves `history` out when
// it would repeat `current` alone: one entry, no decision on it (its status is the station's).
export function historyOf(st) {
  if (st.history) return st.history;
  const c = st.current;
  if (!c) return [];
  const h = { index: c.index, revision: c.revision, status: st.status, entry: c.entry };
  if (c.preferences) h.preferences = c.preferences;
  return [h];
}

// Every step of a station in one contest, oldest first: `{ kind: "revision", h }` for an
// entry of its history, `{ kind: "decision", d, of }` for a decision, where `of` is the
// revision it decided on (undefined if the unit file does not list it).
export function stationSteps(st) {
  const history = historyOf(st);
  const steps = history.map((h) => ({ kind: "revision", index: h.index, h }));
  for (const d of st.decisions || []) {
    const of = history.find((h) => h.entry === d.decides);
    steps.push({ kind: "decision", index: d.index, d, of });
  }
  return steps.sort((a, b) => a.index - b.index);
}

// The i18n key of a decision's word: decision.accept, decision.recount, decision.annul.
export function decisionKey(d) {
  return ["accept", "recount", "annul"].includes(d.decision) ? `decision.${d.decision}` : "decision.unknown";
}

// Whether the station's current entry is the recount a decision ordered: the latest decision
// on the entry it superseded is a recount. Such an amendment may be signed by an authority
// over the station without the station (as intake and urna verify accept).
export function recountOrdered(st) {
  const h = historyOf(st);
  const prev = h.length > 1 ? h[h.length - 2] : null;
  if (!prev) return false;
  const on = (st.decisions || []).filter((d) => d.decides === prev.entry);
  return on.length > 0 && on[on.length - 1].decision === "recount";
}

// The bundle path of the scan a station's signed note names (`sha256:<hex>`), or null.
export function scanPath(scan) {
  const m = /^sha256:([0-9a-f]{64})$/.exec(scan || "");
  return m ? `blob/sha256/${m[1]}` : null;
}
