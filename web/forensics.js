// The forensics view of the results page (#/forensics, #/forensics/<unit id>): the statistical
// screens of v1/forensics.json (urna_forensics::bundle), their flags, a table per screened
// variable with the same numbers as the plots, and the plots themselves (v1/forensics/*.svg,
// each with its own <title> and <desc>). A flag is a reason to look, not proof: the page says
// so before anything else.

import { t, num, pct } from "./i18n.js";

function esc(s) {
  return String(s ?? "").replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );
}

// A number of the JSON with `d` decimals and the page language's decimal sign, or a dash.
export function fixed(x, d = 3) {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  const decimal = pct("1.5").charAt(1);
  return x.toFixed(d).replace(".", decimal).replace(/^-/, "−");
}

// The unit of the screens that `unitId` lies in (itself, or its ancestor at the screens'
// level), or null: `units` maps an id to the election's unit ({id, parent}).
export function screenedUnit(doc, units, unitId) {
  const ids = new Set(doc.units.map((u) => u.id));
  for (let u = units.get(unitId); u; u = u.parent ? units.get(u.parent) : null) {
    if (ids.has(u.id) && u.id !== "all") return u.id;
  }
  return null;
}

function caption(doc, plot) {
  const kind = plot.kind;
  const variable = plot.variable ? doc.variables.find((v) => v.id === plot.variable) : null;
  const name = variable ? (variable.id === "turnout" ? t("fx.turnout") : variable.name) : "";
  const all = variable ? variable.units[variable.units.length - 1] : null;
  const national = doc.units[doc.units.length - 1];
  switch (kind) {
    case "fingerprint":
      return {
        title: t("fx.plot.fingerprint", { list: doc.leader.name }),
        desc: t("fx.plot.fingerprint.desc", {
          list: doc.leader.name,
          r: fixed(national.stuffing.correlation),
          b: fixed(national.stuffing.sobyanin),
        }),
      };
    case "histogram":
      return {
        title: t("fx.plot.hist", { name }),
        desc: t("fx.plot.hist.desc", {
          name,
          n: num(doc.counted),
          obs: num(all.integer.observed),
          exp: fixed(all.integer.expected, 1),
        }),
      };
    case "last-digit":
      return {
        title: t("fx.plot.last", { name }),
        desc: t("fx.plot.last.desc", { name, lastc: fixed(all.LastC), c05s: fixed(all.C05s) }),
      };
    case "second-digit":
      return {
        title: t("fx.plot.second", { name }),
        desc: t("fx.plot.second.desc", { name, b2: fixed(all["2BL"]) }),
      };
    default:
      return { title: plot.title, desc: plot.desc };
  }
}

// Fetches v1/forensics.json; `counted` is the first contest's counted stations in the results
// shown, which the file must agree with (else it is of another checkpoint).
export async function forensicsFile(getJson, counted) {
  for (const fresh of [false, true]) {
    const doc = await getJson("v1/forensics.json", fresh);
    if (!doc.screened || doc.counted === counted) return doc;
  }
  throw new Error(t("error.stale", { path: "v1/forensics.json" }));
}

// The view. `units` maps unit ids to the election's units; `unitId` the unit asked for, if any.
export function forensicsHtml(doc, units, unitId) {
  let html = `<h2 tabindex="-1">${esc(t("fx.title"))}</h2>`;
  html += `<p class="warn" role="note" data-testid="fx-warning"><strong>${esc(t("fx.warning"))}</strong></p>`;
  if (!doc.screened) {
    return `${html}<p data-testid="fx-none">${esc(t("fx.none"))}</p>`;
  }
  const focus = unitId ? screenedUnit(doc, units, unitId) : null;
  const unitName = (id) => (id === "all" ? t("fx.all") : doc.units.find((u) => u.id === id)?.name || id);
  const mc = doc.monte_carlo;
  html += `<p>${esc(
    t("fx.intro", { n: num(doc.counted), level: doc.level, list: doc.leader.name }),
  )}</p><p class="small">${esc(
    t("fx.mc", { reps: num(mc.repetitions), seed: mc.seed, min: num(mc.min_denominator) }),
  )}</p>`;
  if (focus) {
    html += `<p data-testid="fx-focus">${esc(t("fx.focus", { unit: unitName(focus) }))} <a href="#/forensics">${esc(t("fx.allunits"))}</a></p>`;
  }
  // Flags.
  const flags = doc.flags.filter((f) => !focus || f.unit === focus || f.unit === "all");
  html += `<section aria-labelledby="fx-flags"><h3 id="fx-flags">${esc(t("fx.flags", { n: num(flags.length) }))}</h3>`;
  if (!flags.length) html += `<p>${esc(t("fx.noflags"))}</p>`;
  else {
    html += `<div class="scroll"><table data-testid="fx-flags" data-table="fx-flags" data-filter><thead><tr><th scope="col">${esc(t("fx.unit"))}</th><th scope="col">${esc(t("fx.screen"))}</th><th scope="col">${esc(t("fx.variable"))}</th><th scope="col">${esc(t("fx.numbers"))}</th></tr></thead><tbody>${flags
      .map(
        (f) =>
          `<tr data-screen="${esc(f.screen)}" data-unit="${esc(f.unit)}"><th scope="row">${esc(unitName(f.unit))}</th><td><abbr title="${esc(t(`fx.screen.${f.screen}`))}">${esc(f.screen)}</abbr></td><td>${esc(f.variable === "turnout" ? t("fx.turnout") : f.variable)}</td><td><code>${esc(f.detail)}</code></td></tr>`,
      )
      .join("")}</tbody></table></div>`;
  }
  html += `</section>`;
  // Summary per unit: stuffing, protocols, flags.
  const rows = doc.units.filter((u) => !focus || u.id === focus || u.id === "all");
  html += `<section aria-labelledby="fx-units"><h3 id="fx-units">${esc(t("fx.units"))}</h3><div class="scroll"><table data-testid="fx-units"><caption class="small">${esc(t("fx.units.caption", { list: doc.leader.name }))}</caption><thead><tr><th scope="col">${esc(t("fx.unit"))}</th><th scope="col" class="n">${esc(t("fx.counted"))}</th><th scope="col" class="n">${esc(t("fx.correlation"))}</th><th scope="col" class="n">${esc(t("fx.sobyanin"))}</th><th scope="col" class="n">${esc(t("fx.quarantined"))}</th><th scope="col" class="n">${esc(t("fx.amended"))}</th><th scope="col" class="n">${esc(t("fx.flagcount"))}</th></tr></thead><tbody>${rows
    .map((u) => {
      const p = u.protocols;
      const n = doc.flags.filter((f) => f.unit === u.id).length;
      const name = u.id === "all" ? esc(t("fx.all")) : `<a href="#/forensics/${encodeURIComponent(u.id)}">${esc(u.name)}</a>`;
      return `<tr data-unit="${esc(u.id)}"${u.id === focus ? ' aria-current="true" class="current"' : ""}><th scope="row">${name}</th><td class="n">${num(u.counted)}</td><td class="n">${fixed(u.stuffing.correlation)}</td><td class="n">${fixed(u.stuffing.sobyanin)}</td><td class="n">${p ? num(p.quarantined) : "–"}</td><td class="n">${p ? num(p.amended) : "–"}</td><td class="n">${num(n)}</td></tr>`;
    })
    .join("")}</tbody></table></div></section>`;
  // Per variable: the toolkit's statistics and integer percentages, then its plots.
  for (const [vi, v] of doc.variables.entries()) {
    const name = v.id === "turnout" ? t("fx.turnout") : v.name;
    html += `<section aria-labelledby="fx-v${vi}"><h3 id="fx-v${vi}">${esc(name)}</h3>`;
    html += `<div class="scroll"><table data-testid="fx-variable" data-variable="${esc(v.id)}"><thead><tr><th scope="col">${esc(t("fx.unit"))}</th><th scope="col" class="n"><abbr title="${esc(t("fx.col.2BL"))}">2BL</abbr></th><th scope="col" class="n"><abbr title="${esc(t("fx.col.LastC"))}">LastC</abbr></th><th scope="col" class="n"><abbr title="${esc(t("fx.col.C05s"))}">C05s</abbr></th><th scope="col" class="n"><abbr title="${esc(t("fx.col.P05s"))}">P05s</abbr></th><th scope="col" class="n">Skew</th><th scope="col" class="n">Kurt</th><th scope="col" class="n">${esc(t("fx.col.whole"))}</th><th scope="col" class="n">${esc(t("fx.col.expected"))}</th><th scope="col" class="n">p</th></tr></thead><tbody>${v.units
      .map((s, i) => [s, doc.units[i]])
      .filter(([, u]) => !focus || u.id === focus || u.id === "all")
      .map(
        ([s, u]) =>
          `<tr data-unit="${esc(u.id)}"><th scope="row">${esc(unitName(u.id))}</th><td class="n">${fixed(s["2BL"])}</td><td class="n">${fixed(s.LastC)}</td><td class="n">${fixed(s.C05s)}</td><td class="n">${fixed(s.P05s)}</td><td class="n">${fixed(s.Skew)}</td><td class="n">${fixed(s.Kurt)}</td><td class="n">${num(s.integer.observed)} / ${num(s.integer.included)}</td><td class="n">${fixed(s.integer.expected, 1)} ± ${fixed(s.integer.sd, 1)}</td><td class="n">${fixed(s.integer.p, 4)}</td></tr>`,
      )
      .join("")}</tbody></table></div>`;
    html += figures(doc, doc.plots.filter((p) => p.variable === v.id));
    html += `</section>`;
  }
  const fp = doc.plots.filter((p) => p.kind === "fingerprint");
  if (fp.length) {
    html += `<section aria-labelledby="fx-fp"><h3 id="fx-fp">${esc(t("fx.fingerprint"))}</h3>${figures(doc, fp)}</section>`;
  }
  html += `<p class="small">${esc(t("fx.more"))}</p>`;
  return html;
}

function figures(doc, plots) {
  return `<div class="fx-plots">${plots
    .map((p) => {
      const c = caption(doc, p);
      return `<figure data-testid="fx-plot" data-file="${esc(p.file)}"><img src="${esc(p.file)}" alt="${esc(`${c.title}. ${c.desc}`)}" loading="lazy"><figcaption>${esc(c.title)}</figcaption></figure>`;
    })
    .join("")}</div>`;
}
