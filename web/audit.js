// The audit view of the results page (#/audit): the risk-limiting audits of v1/audit.json
// (urna_audit::public), as the log records them: what is audited (checkpoint, seat rules, risk
// limit), the public seed and who signed it, each round's sample (stations with the draw
// numbers that picked them), the hand counts so far and whether they match the protocols, the
// current risk per assertion, and the verdicts. Every number comes from the file, which
// `urna verify` recomputes from the log byte for byte; the page only says it in its languages.

import { t, num, pct } from "./i18n.js";

function esc(s) {
  return String(s ?? "").replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );
}

// A decimal of the file ("0.049952") with the page language's decimal sign.
export function decimal(s) {
  if (typeof s !== "string" || !/^\d+(\.\d+)?$/.test(s)) return "–";
  const sign = pct("1.5").charAt(1);
  return s.replace(".", sign);
}

// Whether a risk of the file is at most the limit (both decimals of at most six digits).
export function withinLimit(risk, limit) {
  const micros = (s) => {
    const [whole, frac = ""] = s.split(".");
    return Number(whole) * 1e6 + Number((frac + "000000").slice(0, 6));
  };
  return micros(risk) <= micros(limit);
}

// A sampled station's progress: `pending` (no hand count yet), `match` or `discrepancy`,
// with the columns that differ: [{column, reported, counted}] (`column` a list id of
// `lists`, or null for invalid ballots).
export function progress(station, lists) {
  if (!station.counted) return { state: "pending", diffs: [] };
  const diffs = [];
  station.reported.forEach((r, i) => {
    const c = station.counted[i];
    if (c !== r) diffs.push({ column: i < lists.length ? lists[i] : null, reported: r, counted: c });
  });
  return { state: diffs.length ? "discrepancy" : "match", diffs };
}

// An assertion in the page's language. `names.list(id)` and `names.unit(id)` give names.
export function assertionText(a, names) {
  const scope = (s) => {
    if (s === "national") return t("au.national");
    const m = /^district (.+)$/.exec(s || "");
    return m ? names.unit(m[1]) : s;
  };
  switch (a.kind) {
    case "seat":
      return t("au.seat", {
        district: names.unit(a.district),
        winner: names.list(a.winner),
        ws: num(a.winner_seat),
        loser: names.list(a.loser),
        ls: num(a.loser_seat),
      });
    case "above_threshold":
      return t("au.above", { list: names.list(a.list), share: a.share, scope: scope(a.scope) });
    case "below_threshold":
      return t("au.below", { list: names.list(a.list), share: a.share, scope: scope(a.scope) });
    default:
      return a.assertion;
  }
}

// Fetches v1/audit.json for the checkpoint of `size` entries: every audit entry it names must
// lie in that log (else the file is of a later checkpoint than the page shows, and is fetched
// again).
export async function auditFile(getJson, size) {
  for (const fresh of [false, true]) {
    const doc = await getJson("v1/audit.json", fresh);
    if (lastEntry(doc) < size) return doc;
  }
  throw new Error(t("error.stale", { path: "v1/audit.json" }));
}

// The highest log index the file names.
export function lastEntry(doc) {
  let last = -1;
  const see = (i) => {
    if (typeof i === "number" && i > last) last = i;
  };
  for (const r of doc.refused || []) see(r.entry);
  for (const a of doc.audits || []) {
    see(a.entry);
    see(a.seed?.entry);
    for (const s of a.samples) {
      see(s.entry);
      for (const st of s.stations) see(st.count_entry);
    }
    for (const v of a.verdicts) see(v.entry);
  }
  return last;
}

// The view. `names` gives `contest(id)`, `list(contestId, listId)` and `unit(id)` in the
// page's language.
export function auditHtml(doc, names) {
  let html = `<h2 tabindex="-1">${esc(t("au.title"))}</h2><p>${esc(t("au.intro"))}</p>`;
  if (doc.refused?.length) {
    html += `<div class="warn" role="note" data-testid="au-refused"><p><strong>${esc(
      t("au.refused", { n: num(doc.refused.length) }),
    )}</strong></p><ul>${doc.refused
      .map((r) => `<li>${esc(t("au.entry", { entry: String(r.entry) }))}: <code>${esc(r.value)}</code></li>`)
      .join("")}</ul></div>`;
  }
  if (!doc.audits?.length) return `${html}<p data-testid="au-none">${esc(t("au.none"))}</p>`;
  for (const [k, a] of doc.audits.entries()) html += auditSection(a, k, names);
  html += `<p class="small">${esc(t("au.more"))}</p>`;
  return html;
}

function auditSection(a, k, names) {
  const ln = { list: (id) => names.list(a.contest, id), unit: (id) => unitOrAll(names, id) };
  // Log indices are names of entries, not quantities: written without grouping.
  const signed = (signer, entry) => t("au.signed", { signer, entry: String(entry) });
  let html = `<section class="audit" data-testid="au-audit" data-contest="${esc(a.contest)}" data-status="${esc(a.status)}" aria-labelledby="au-h${k}">`;
  html += `<h3 id="au-h${k}">${esc(names.contest(a.contest))}</h3>`;
  const cls = a.status === "risk-limit-met" ? "ok" : a.status === "full-hand-count" ? "bad" : "pending";
  // An audit under other rules than the contest's confirms the outcome it audited only.
  const ownRules = a.audits_contest_seats !== false;
  const statusKey = a.status === "risk-limit-met" && !ownRules ? "au.status.risk-limit-met.other" : `au.status.${a.status}`;
  html += `<p class="au-status ${cls}" data-testid="au-status"><strong>${esc(t(statusKey))}</strong> ${esc(
    t("au.risk", { risk: decimal(a.risk), limit: decimal(a.risk_limit) }),
  )}</p>`;
  html += coverageHtml(a, ownRules);
  // Parameters.
  const rules = a.seats == null ? a.rules : t("au.rules.seats", { rules: a.rules, seats: num(a.seats) });
  html += `<dl class="au-params" data-testid="au-params">`;
  html += `<dt>${esc(t("au.checkpoint"))}</dt><dd data-testid="au-checkpoint">${esc(
    t("au.checkpoint.v", { size: num(a.checkpoint_size) }),
  )}<br><code class="hash">${esc(a.checkpoint_root)}</code></dd>`;
  html += `<dt>${esc(t("au.rules"))}</dt><dd data-testid="au-rules">${esc(rules)}</dd>`;
  html += `<dt>${esc(t("au.limit"))}</dt><dd data-testid="au-limit">${esc(decimal(a.risk_limit))}</dd>`;
  html += `<dt>${esc(t("au.method"))}</dt><dd>${esc(a.method === "macro-kaplan-markov" ? t("au.method.v") : a.method)}</dd>`;
  html += `<dt>${esc(t("au.rounds"))}</dt><dd>${esc(
    t("au.rounds.v", { planned: num(a.rounds_planned), possible: num(a.rounds_possible), first: num(a.first_round_draws) }),
  )}</dd>`;
  html += `<dt>${esc(t("au.scope"))}</dt><dd>${esc(
    t("au.scope.v", { stations: num(a.stations), ballots: num(a.ballots), q: num(a.quarantined) }),
  )}</dd>`;
  html += `<dt>${esc(t("au.started"))}</dt><dd>${esc(signed(a.signer, a.entry))}</dd>`;
  html += `<dt>${esc(t("au.seed"))}</dt><dd data-testid="au-seed">${
    a.seed
      ? `<code>${esc(a.seed.value)}</code> (${esc(signed(a.seed.signer, a.seed.entry))})`
      : esc(t("au.seed.none"))
  }</dd></dl>`;
  // Rounds.
  for (const s of a.samples) html += roundSection(a, s, ln, signed);
  if (!a.samples.length && a.seed) html += `<p>${esc(t("au.nosample"))}</p>`;
  // Assertions.
  html += `<section aria-labelledby="au-a${k}"><h4 id="au-a${k}">${esc(t("au.assertions", { n: num(a.assertions.length) }))}</h4><p class="small">${esc(
    t("au.assertions.intro"),
  )}</p><div class="scroll"><table data-testid="au-assertions" data-table="au-assertions|${esc(a.contest)}"${
    a.assertions.length > 10 ? " data-filter" : ""
  }><thead><tr><th scope="col">${esc(t("au.assertion"))}</th><th scope="col" class="n">${esc(t("au.margin"))}</th><th scope="col" class="n">${esc(
    t("au.diluted"),
  )}</th><th scope="col" class="n">${esc(t("au.arisk"))}</th><th scope="col">${esc(t("au.state"))}</th></tr></thead><tbody>${a.assertions
    .map((x, i) => {
      const ok = withinLimit(x.risk, a.risk_limit);
      return `<tr data-assertion="${i}" data-confirmed="${ok}"><th scope="row">${esc(assertionText(x, ln))}</th><td class="n">${esc(
        num(Number(x.margin)),
      )}</td><td class="n">${esc(decimal(x.diluted_margin))}</td><td class="n">${esc(decimal(x.risk))}</td><td>${esc(
        t(ok ? "au.confirmed" : "au.open"),
      )}</td></tr>`;
    })
    .join("")}</tbody></table></div></section>`;
  // Verdicts.
  html += `<section aria-labelledby="au-v${k}"><h4 id="au-v${k}">${esc(t("au.verdicts"))}</h4>`;
  if (!a.verdicts.length) html += `<p>${esc(t("au.noverdict"))}</p>`;
  else {
    html += `<div class="scroll"><table data-testid="au-verdicts"><thead><tr><th scope="col">${esc(t("au.v.round"))}</th><th scope="col" class="n">${esc(
      t("au.v.draws"),
    )}</th><th scope="col" class="n">${esc(t("au.arisk"))}</th><th scope="col">${esc(t("au.v.verdict"))}</th><th scope="col">${esc(
      t("au.v.signed"),
    )}</th></tr></thead><tbody>${a.verdicts
      .map(
        (v) =>
          `<tr data-round="${v.round}" data-verdict="${esc(v.verdict)}"><th scope="row">${num(v.round)}</th><td class="n">${num(v.draws)}</td><td class="n">${esc(
            decimal(v.risk),
          )}</td><td><strong>${esc(t(`au.verdict.${v.verdict}`))}</strong></td><td>${esc(signed(v.signer, v.entry))}</td></tr>`,
      )
      .join("")}</tbody></table></div>`;
  }
  html += `</section></section>`;
  return html;
}

// Whether the audit speaks of the contest's seats, and whether it still covers the results
// as published: both said plainly above the audit's details.
export function coverageHtml(a, ownRules = a.audits_contest_seats !== false) {
  let html = "";
  if (!ownRules) {
    const audited = a.seats == null ? a.rules : t("au.rules.seats", { rules: a.rules, seats: num(a.seats) });
    html += `<p class="warn" role="note" data-testid="au-other-rules">${esc(
      a.definition_rules
        ? t("au.other-rules", {
            audited,
            contest: a.definition_seats == null ? a.definition_rules : t("au.rules.seats", { rules: a.definition_rules, seats: num(a.definition_seats) }),
          })
        : t("au.other-rules.none", { audited }),
    )}</p>`;
  }
  const c = a.current;
  if (!c) return html;
  if (a.superseded_by != null) {
    html += `<p class="warn" role="note" data-testid="au-superseded">${esc(t("au.superseded", { entry: String(a.superseded_by) }))}</p>`;
  }
  if (c.covers_current_results) {
    html += `<p data-testid="au-coverage" data-covers="true">${esc(t("au.covers", { size: num(c.log_size) }))}</p>`;
    return html;
  }
  const shown = c.changed.slice(0, 20).map((id) => `<a href="#/station/${encodeURIComponent(id)}">${esc(id)}</a>`);
  const more = c.changed.length - shown.length;
  html += `<div class="warn" role="alert" data-testid="au-coverage" data-covers="false"><p><strong>${esc(
    t("au.stale", { n: num(c.changed_stations), audited: num(a.checkpoint_size), size: num(c.log_size) }),
  )}</strong></p><p>${esc(t(c.seats_as_audited ? "au.stale.seats-same" : "au.stale.seats-differ"))} ${esc(
    t("au.stale.todo"),
  )}</p><p class="small">${esc(t("au.stale.list"))}: ${shown.join(", ")}${more > 0 ? esc(` ${t("au.stale.more", { n: num(more) })}`) : ""}</p></div>`;
  return html;
}

function roundSection(a, s, ln, signed) {
  const rows = s.stations.map((st) => ({ st, p: progress(st, a.lists) }));
  const counted = rows.filter((r) => r.p.state !== "pending").length;
  const bad = rows.filter((r) => r.p.state === "discrepancy").length;
  const id = `au-r-${a.contest}-${s.round}`;
  let html = `<section data-testid="au-round" data-round="${s.round}" aria-labelledby="${esc(id)}"><h4 id="${esc(id)}">${esc(
    t("au.round", { round: num(s.round), first: num(s.draws[0]), last: num(s.draws[1]) }),
  )}</h4>`;
  html += `<p data-testid="au-progress">${esc(
    t("au.progress", { counted: num(counted), n: num(rows.length), bad: num(bad) }),
  )} <span class="small">${esc(signed(s.signer, s.entry))}</span></p>`;
  html += `<div class="scroll"><table data-testid="au-sample" data-table="au-sample|${esc(a.contest)}|${s.round}"${
    rows.length > 10 ? " data-filter" : ""
  }><thead><tr><th scope="col">${esc(t("au.station"))}</th><th scope="col">${esc(t("au.district"))}</th><th scope="col">${esc(
    t("au.draws"),
  )}</th><th scope="col" class="n">${esc(t("au.times"))}</th><th scope="col" class="n">${esc(t("au.ballots"))}</th><th scope="col">${esc(
    t("au.state"),
  )}</th><th scope="col">${esc(t("au.diffs"))}</th></tr></thead><tbody>${rows
    .map(({ st, p }) => {
      const diffs = p.diffs
        .map((d) => `${d.column === null ? t("au.invalid") : ln.list(d.column)}: ${num(d.reported)} → ${num(d.counted)}`)
        .join("; ");
      const ballots = st.reported.reduce((x, y) => x + y, 0);
      return `<tr data-station="${esc(st.id)}" data-state="${p.state}" data-times="${st.draws.length}"><th scope="row"><a href="#/station/${encodeURIComponent(
        st.id,
      )}">${esc(st.id)}</a></th><td>${esc(ln.unit(st.district))}</td><td>${esc(st.draws.map((d) => num(d)).join(", "))}</td><td class="n">${num(
        st.draws.length,
      )}</td><td class="n">${num(ballots)}</td><td class="au-${p.state}">${esc(t(`au.state.${p.state}`))}${
        st.count_entry != null ? `<br><span class="small">${esc(signed(st.count_signer, st.count_entry))}</span>` : ""
      }</td><td>${esc(diffs || (p.state === "pending" ? "–" : t("au.nodiff")))}</td></tr>`;
    })
    .join("")}</tbody></table></div></section>`;
  return html;
}

function unitOrAll(names, id) {
  return id === "all" ? t("au.national") : names.unit(id);
}
