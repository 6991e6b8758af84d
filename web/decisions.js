// The commission's decisions (urna/decision/v1 entries) in a station's history: the unit file
// lists a station's revisions and, apart, the decisions on them; the page shows both as one
// sequence in log order (protocol → quarantine → decision → the recount's amendment).

// Every step of a station in one contest, oldest first: `{ kind: "revision", h }` for an
// entry of its history, `{ kind: "decision", d, of }` for a decision, where `of` is the
// revision it decided on (undefined if the unit file does not list it).
export function stationSteps(st) {
  const steps = (st.history || []).map((h) => ({ kind: "revision", index: h.index, h }));
  for (const d of st.decisions || []) {
    const of = (st.history || []).find((h) => h.entry === d.decides);
    steps.push({ kind: "decision", index: d.index, d, of });
  }
  return steps.sort((a, b) => a.index - b.index);
}

// The i18n key of a decision's word: decision.accept, decision.recount, decision.annul.
export function decisionKey(d) {
  return ["accept", "recount", "annul"].includes(d.decision) ? `decision.${d.decision}` : "decision.unknown";
}
