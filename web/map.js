// The map of a unit's areas: the SVG paths of v1/shapes.json (already projected and simplified
// by `urna publish`, so no geometry happens here), each area filled by what the reader picks:
// the leading list (its colour), turnout, the share of one list, or reporting progress. Every
// area is a link (keyboard focusable, named with its numbers for screen readers) and the same
// numbers are in the table below the map. Shown in a unit's view when its areas have shapes.

// Sequential scale of one hue, light to dark: readable without telling hues apart. Bins of
// equal width between the smallest and the largest value shown.
export const SCALE = ["#deebf7", "#9ecae1", "#6baed6", "#3182bd", "#08519c"];

export const MEASURES = ["leading", "turnout", "share", "progress"];

// The number a measure shows for an area's totals (a percentage as a number), or null.
export function measureValue(tot, measure, list) {
  const n = (s) => {
    const v = Number.parseFloat(s);
    return Number.isFinite(v) ? v : null;
  };
  if (measure === "turnout") return n(tot.turnout?.percent);
  if (measure === "progress") return n(tot.stations?.percent_counted);
  if (measure === "share") return n(tot.percent?.[list]);
  return null;
}

// The list with the most votes (the first in ballot order on a tie), or null if none has votes.
export function leadingList(tot, order) {
  let best = null;
  for (const id of order) {
    const v = tot.votes?.[id] ?? 0;
    if (v > 0 && (best === null || v > tot.votes[best])) best = id;
  }
  return best;
}

// The bin of `v` among SCALE.length equal bins from lo to hi (all in the last bin if hi = lo).
export function bin(v, lo, hi) {
  if (hi <= lo) return SCALE.length - 1;
  return Math.min(SCALE.length - 1, Math.floor(((v - lo) / (hi - lo)) * SCALE.length));
}

// The map and its table. `o`: { shapes (v1/shapes.json), contest (v1/election.json),
// kids (the children's totals), units (id → unit), name (unit → display name), state
// ({ measure, list }), t, num, pct, esc, href (unit → link), colour (list id → colour),
// listName (list id → name) }. Returns "" when no child has a shape.
export function mapBlock(o) {
  const { shapes, contest, kids, state, t, pct, esc } = o;
  const paths = new Map((shapes?.units || []).map((u) => [u.id, u.path]));
  const drawn = kids.filter((k) => paths.has(k.unit) && o.units.has(k.unit));
  if (!drawn.length) return "";
  const order = contest.lists.map((l) => l.id);
  const measure = MEASURES.includes(state.measure) ? state.measure : "leading";
  const list = order.includes(state.list) ? state.list : order[0];
  const values = drawn.map((k) => measureValue(k, measure, list)).filter((v) => v !== null);
  const lo = values.length ? Math.min(...values) : 0;
  const hi = values.length ? Math.max(...values) : 0;
  const cid = esc(contest.id);
  const areas = drawn
    .map((k) => {
      const u = o.units.get(k.unit);
      const lead = leadingList(k, order);
      const v = measureValue(k, measure, list);
      let fill;
      let what;
      if (measure === "leading") {
        fill = lead ? o.colour(lead) : "#ffffff";
        what = lead ? t("map.leads", { list: o.listName(lead), percent: pct(k.percent[lead]) }) : t("map.none");
      } else {
        fill = v === null ? "#ffffff" : SCALE[bin(v, lo, hi)];
        what = v === null ? t("map.none") : `${t(`map.${measure}`, { list: o.listName(list) })}: ${pct(v)}\u00a0%`;
      }
      const label = `${o.name(u)}: ${what}`;
      return `<a href="${o.href(u)}" data-unit="${esc(k.unit)}" aria-label="${esc(label)}"><path d="${esc(paths.get(k.unit))}" fill="${fill}" data-fill="${fill}"><title>${esc(label)}</title></path></a>`;
    })
    .join("");
  const legend =
    measure === "leading"
      ? [...new Set(drawn.map((k) => leadingList(k, order)).filter(Boolean))]
          .map((id) => `<li><span class="key" style="background:${o.colour(id)}"></span>${esc(o.listName(id))}</li>`)
          .join("")
      : SCALE.map((c, i) => {
          const a = lo + ((hi - lo) * i) / SCALE.length;
          const b = lo + ((hi - lo) * (i + 1)) / SCALE.length;
          return `<li><span class="key" style="background:${c}"></span>${esc(pct(a.toFixed(2)))}–${esc(pct(b.toFixed(2)))}\u00a0%</li>`;
        }).join("");
  const options = MEASURES.map(
    (m) => `<option value="${m}"${m === measure ? " selected" : ""}>${esc(t(`map.measure.${m}`))}</option>`,
  ).join("");
  const lists = contest.lists
    .map((l) => `<option value="${esc(l.id)}"${l.id === list ? " selected" : ""}>${esc(o.listName(l.id))}</option>`)
    .join("");
  const title = t("map.title");
  const rows = drawn
    .map((k) => {
      const u = o.units.get(k.unit);
      const lead = leadingList(k, order);
      return `<tr data-unit="${esc(k.unit)}"><th scope="row"><a href="${o.href(u)}">${esc(o.name(u))}</a></th><td>${lead ? `${esc(o.listName(lead))} (${esc(pct(k.percent[lead]))}\u00a0%)` : "–"}</td><td class="n" data-sort="${measureValue(k, "turnout") ?? -1}">${esc(pct(k.turnout.percent))}\u00a0%</td><td class="n" data-sort="${measureValue(k, "share", list) ?? -1}">${esc(pct(k.percent?.[list] ?? "0"))}\u00a0%</td><td class="n" data-sort="${measureValue(k, "progress") ?? -1}">${esc(pct(k.stations.percent_counted))}\u00a0%</td></tr>`;
    })
    .join("");
  return `<div class="map" data-testid="map" data-contest="${cid}" data-measure="${measure}" data-list="${esc(list)}">
<h4 id="map-${cid}">${esc(title)}</h4>
<div class="map-controls"><label>${esc(t("map.measure"))} <select data-map="measure" data-contest="${cid}">${options}</select></label>${
    measure === "share" ? ` <label>${esc(t("map.list"))} <select data-map="list" data-contest="${cid}">${lists}</select></label>` : ""
  }</div>
<svg class="map-svg" viewBox="0 0 ${shapes.width} ${shapes.height}" role="group" aria-labelledby="map-${cid}">${areas}</svg>
<ul class="legend" aria-label="${esc(t("map.legend"))}">${legend}</ul>
<div class="scroll"><table data-testid="map-table" data-table="map|${cid}" data-contest="${cid}">
<thead><tr><th scope="col">${esc(t("units.name"))}</th><th scope="col">${esc(t("units.leading"))}</th><th scope="col" class="n">${esc(t("units.turnout"))}</th><th scope="col" class="n">${esc(t("map.share", { list: o.listName(list) }))}</th><th scope="col" class="n">${esc(t("units.counted"))}</th></tr></thead>
<tbody>${rows}</tbody></table></div>
</div>`;
}
