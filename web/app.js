// The public results page: a static page that reads the bundle it is served from (relative
// paths, so any mirror or CDN works), follows the log's checkpoint, and never shows numbers
// of another checkpoint than the one it names. See README "The results page".

import { LANGUAGES, setLanguage, language, t, num, pct, dateTime, day, ruleMessage } from "./i18n.js";
import * as V from "./verify.js";
import { mapBlock } from "./map.js";
import { localName, stationPlace } from "./names.js";
import { stationSteps, decisionKey, recountOrdered, scanPath } from "./decisions.js";
import { forensicsFile, forensicsHtml } from "./forensics.js";
import { auditFile, auditHtml } from "./audit.js";

const params = new URLSearchParams(globalThis.location?.search);
const POLL_MS = Math.max(250, Number(params.get("poll")) || 5000);

const S = {
  election: null,
  keys: null,
  keysError: null,
  cpText: null, // the checkpoint whose results are shown
  cp: null,
  check: null, // checkCheckpoint's summary, or null when not checked
  state: "loading",
  reason: "",
  notice: "", // a transient line under the status (waiting, offline)
  results: null, // v1/summary.json of the checkpoint shown
  units: new Map(), // unit id → election.json unit
  areas: new Map(), // unit id → its v1/areas file, of the checkpoint shown
  unitFiles: new Map(), // path → {size, doc}
  shown: new Map(), // note-view toggles: entry index → text
  verdicts: new Map(), // "station|contest|size" → {state, html} of a finished verification
  open: new Set(), // candidate lists opened: "contest|unit or station|list"
  sorts: new Map(), // table key -> { col, dir } chosen by the reader, kept across new checkpoints
  filters: new Map(), // table key -> the text typed in its filter box
  amendments: new Map(), // entry index → { reason, by } of an amendment, read from its entry
  shapes: null, // v1/shapes.json, when the definition names unit shapes
  map: { measure: "leading", list: null }, // what the map shows, as the reader chose
  audit: false, // whether the bundle has v1/audit.json (its navigation link is shown then)
};

const $ = (sel) => document.querySelector(sel);

function esc(s) {
  return String(s ?? "").replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );
}

// ---------------------------------------------------------------------------------------------
// Fetching. Every path is relative to the page, so the bundle works under any prefix.

async function fetchOk(path, fresh) {
  let r;
  try {
    r = await fetch(path, { cache: fresh ? "no-store" : "no-cache" });
  } catch (e) {
    throw new Error(t("error.fetch", { path, reason: e.message }));
  }
  if (!r.ok) throw Object.assign(new Error(t("error.fetch", { path, reason: `HTTP ${r.status}` })), { status: r.status });
  return r;
}

async function getJson(path, fresh) {
  const r = await fetchOk(path, fresh);
  try {
    return await r.json();
  } catch (e) {
    throw new Error(t("error.fetch", { path, reason: e.message }));
  }
}

async function getText(path, fresh) {
  return (await fetchOk(path, fresh)).text();
}

// A file published only gzip-compressed (`*.gz`: the unit files, csv/stations.csv.gz).
async function getGzText(path, fresh) {
  const r = await fetchOk(path, fresh);
  try {
    return await V.gunzipText(new Uint8Array(await r.arrayBuffer()));
  } catch (e) {
    throw new Error(t("error.fetch", { path, reason: e.message }));
  }
}

async function getGzJson(path, fresh) {
  const text = await getGzText(path, fresh);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(t("error.fetch", { path, reason: e.message }));
  }
}

async function getBytes(path) {
  return new Uint8Array(await (await fetchOk(path, false)).arrayBuffer());
}

// ---------------------------------------------------------------------------------------------
// Loading and following the checkpoint.

async function start() {
  const lang = params.get("lang") || localStorage.getItem("urna.lang") || pickLanguage();
  setLanguage(lang);
  buildChrome();
  try {
    S.election = await getJson("v1/election.json");
  } catch (e) {
    return fatal(e.message);
  }
  for (const u of S.election.units) S.units.set(u.id, u);
  if (S.election.shapes) {
    try {
      S.shapes = await getJson(S.election.shapes);
    } catch (e) {
      note(e.message);
    }
  }
  try {
    S.keys = await getJson("v1/keys.json", true);
  } catch (e) {
    S.keysError = e.message;
  }
  await refresh();
  window.addEventListener("hashchange", () => {
    S.verdicts.clear();
    render(true);
  });
  // Charts are drawn at the view's width: redraw when that width changes (not on every
  // resize event: a phone's address bar collapsing changes only the height).
  let resized = 0;
  let width = $("#view").clientWidth;
  window.addEventListener("resize", () => {
    clearTimeout(resized);
    resized = setTimeout(() => {
      if ($("#view").clientWidth === width) return;
      width = $("#view").clientWidth;
      render(false);
    }, 200);
  });
  if (params.get("live") !== "0") setInterval(tick, POLL_MS);
}

function pickLanguage() {
  for (const want of navigator.languages || []) {
    const base = want.toLowerCase();
    if (base.startsWith("sq")) return "sq";
    if (base.startsWith("mk")) return "mk";
    if (/^(sr|bs|hr|cnr|sh)/.test(base)) return "sr-Latn";
    if (base.startsWith("en")) return "en";
  }
  return "en";
}

let ticking = false;
async function tick() {
  if (ticking || document.hidden) return;
  ticking = true;
  try {
    await refresh();
  } finally {
    ticking = false;
  }
}

// Reads the checkpoint and, if it changed, the results that go with it. v1/summary.json
// quotes the checkpoint it was computed at; a pair that does not match (a mirror half-way
// through switching) is not shown.
async function refresh() {
  let text;
  try {
    text = await getText("checkpoint", true);
  } catch (e) {
    if (!S.results) return fatal(e.message);
    return note(t("status.offline", { reason: e.message, size: num(S.cp.size) }));
  }
  if (text === S.cpText) {
    if (S.notice) note("");
    return;
  }
  let cp;
  try {
    cp = V.parseCheckpoint(text);
  } catch (e) {
    return fail(`checkpoint: ${e.message}`);
  }
  if (cp.origin !== S.election.log.origin) {
    return fail(`checkpoint: origin ${cp.origin} is not this election's log ${S.election.log.origin}`);
  }
  if (S.cp && cp.size < S.cp.size) {
    return fail(`the server's checkpoint went back from ${S.cp.size} to ${cp.size} entries`);
  }
  let results;
  try {
    results = await getJson("v1/summary.json", true);
  } catch (e) {
    if (!S.results) return fatal(e.message);
    return note(t("status.offline", { reason: e.message, size: num(S.cp.size) }));
  }
  if (results.checkpoint.note !== text) {
    if (!S.results) {
      S.state = "loading";
      return note(t("status.waiting", { size: num(cp.size), shown: "–" }));
    }
    return note(t("status.waiting", { size: num(cp.size), shown: num(S.cp.size) }));
  }
  const checked = await checkSignatures(cp);
  if (checked.state === "failed") {
    // A checkpoint that fails its signatures is never shown; what was shown stays, marked.
    return fail(checked.reason);
  }
  const first = !S.results;
  S.cpText = text;
  S.cp = cp;
  S.check = checked.check;
  S.state = checked.state;
  S.reason = checked.reason;
  S.results = results;
  S.areas = new Map();
  S.notice = "";
  await checkAudit();
  await render(false);
  if (!first) announce(t("status.updated", { size: num(cp.size) }));
}

async function checkSignatures(cp) {
  if (!V.hasSubtle()) return { state: "unverified", reason: t("verify.nosubtle"), check: null };
  if (!(await V.ed25519Supported())) {
    return { state: "unverified", reason: t("verify.noed25519"), check: null };
  }
  if (!S.keys) return { state: "unverified", reason: S.keysError || "v1/keys.json", check: null };
  let check;
  try {
    check = await V.checkCheckpoint(cp, S.keys);
  } catch (e) {
    return { state: "failed", reason: `v1/keys.json: ${e.message}` };
  }
  if (!check.logOk) {
    return { state: "failed", reason: `the checkpoint's signature by ${S.keys.log.key.split("+")[0]} is missing or invalid` };
  }
  if (check.valid < check.quorum) {
    return {
      state: "failed",
      reason: `${check.valid} valid co-signatures, ${check.quorum} required`,
    };
  }
  return { state: "verified", reason: "", check };
}

function fail(reason) {
  S.state = "failed";
  S.reason = reason;
  renderStatus();
}

function fatal(reason) {
  S.state = "failed";
  S.reason = t("status.error", { reason });
  renderStatus();
  $("#view").innerHTML = "";
}

function note(text) {
  S.notice = text;
  renderStatus();
}

function announce(text) {
  $("#live").textContent = text;
}

// ---------------------------------------------------------------------------------------------
// The frame: header, navigation, language, search, status. Built once, relabelled on a
// language change.

function buildChrome() {
  const sel = $("#lang");
  sel.innerHTML = LANGUAGES.map((l) => `<option value="${l.code}" lang="${l.code}">${esc(l.label)}</option>`).join("");
  sel.value = language().code;
  sel.addEventListener("change", () => {
    setLanguage(sel.value);
    localStorage.setItem("urna.lang", sel.value);
    render(false);
  });
  $("#search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    search($("#search input[name=q]").value.trim());
  });
  $("#view").addEventListener("click", onViewClick);
  $("#view").addEventListener("change", (ev) => {
    const which = ev.target.dataset?.map;
    if (!which) return;
    S.map[which] = ev.target.value;
    render(false).then(() => $(`#view select[data-map="${which}"]`)?.focus());
  });
  // An opened list of candidates stays open when the view is redrawn (a new checkpoint).
  $("#view").addEventListener(
    "toggle",
    (ev) => {
      const k = ev.target.dataset?.open;
      if (k) ev.target.open ? S.open.add(k) : S.open.delete(k);
    },
    true,
  );
}

function relabel() {
  document.documentElement.lang = language().code;
  document.title = S.election ? `${S.election.name}: ${t("page.title")}` : t("page.title");
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  for (const el of document.querySelectorAll("[data-t-placeholder]")) {
    el.placeholder = t(el.dataset.tPlaceholder);
  }
  $("#lang").value = language().code;
  if (S.election) {
    $("#election-name").textContent = S.election.name;
    $("#election-date").textContent = S.election.date ? day(S.election.date) : "";
  }
}

function renderStatus() {
  const el = $("#status");
  el.dataset.state = S.state;
  let text;
  if (S.state === "loading") text = t("status.loading");
  else if (!S.cp) text = S.reason;
  else if (S.state === "verified") {
    const n = (S.keys.witnesses || []).length;
    text = t(n ? "status.verified" : "status.verified.alone", { size: num(S.cp.size), k: S.check.valid, n });
  } else if (S.state === "unverified") text = t("status.unverified", { size: num(S.cp.size), reason: S.reason });
  else text = t("status.failed", { reason: S.reason });
  const names = S.check ? S.check.cosigners.filter((c) => c.ok).map((c) => c.name) : [];
  el.innerHTML = `<p>${esc(text)}</p>${
    names.length ? `<p class="cosigners">${esc(t("checkpoint.cosigned"))}: ${names.map((n) => `<strong>${esc(n)}</strong>`).join(", ")}</p>` : ""
  }${S.notice ? `<p class="notice">${esc(S.notice)}</p>` : ""}`;
  document.body.dataset.checkpoint = S.cp ? String(S.cp.size) : "";
}

// ---------------------------------------------------------------------------------------------
// Views, chosen by the URL's hash: #/, #/unit/<id>, #/station/<id>, #/quarantine,
// #/forensics[/<unit id>], #/audit.

function route() {
  const h = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  const [view, ...rest] = h.split("/");
  return { view: view || "national", id: rest.join("/") };
}

async function render(navigated) {
  relabel();
  renderStatus();
  if (!S.results) return;
  const r = route();
  let html;
  try {
    if (r.view === "unit" && S.units.has(r.id)) html = await unitView(S.units.get(r.id));
    else if (r.view === "station") html = await stationView(r.id);
    else if (r.view === "quarantine") html = await quarantineView();
    else if (r.view === "forensics") html = await forensicsView(r.id);
    else if (r.view === "audit") html = await auditView();
    else html = await unitView(S.election.units[0]);
  } catch (e) {
    html = `<p class="error" role="alert">${esc(e.message)}</p>`;
  }
  const y = window.scrollY;
  const typing = document.activeElement?.dataset?.filterFor;
  $("#view").innerHTML = html;
  enhanceTables($("#view"), typing);
  renderAside();
  if (navigated) {
    $("#view h2")?.focus();
    window.scrollTo(0, 0);
  } else {
    window.scrollTo(0, y);
  }
  document.body.dataset.ready = "1";
}

function breadcrumbs(unit) {
  const chain = [];
  for (let u = unit; u; u = u.parent ? S.units.get(u.parent) : null) chain.unshift(u);
  return `<nav class="crumbs" aria-label="breadcrumbs"><ol>${chain
    .map((u, i) =>
      i + 1 < chain.length
        ? `<li><a href="${unitHref(u)}">${esc(uname(u))}</a></li>`
        : `<li aria-current="page">${esc(uname(u))}</li>`,
    )
    .join("")}</ol></nav>`;
}

// A unit's name in the page's language (web/names.js).
function uname(u) {
  return localName(u, language().code);
}

function unitHref(u) {
  return u.parent ? `#/unit/${encodeURIComponent(u.id)}` : "#/";
}

async function unitView(unit) {
  const area = unit.area ? await areaFile(unit) : null;
  const file = unit.file ? await unitFile(unit) : null;
  let html = breadcrumbs(unit);
  html += `<h2 tabindex="-1">${esc(uname(unit))}</h2>`;
  html += `<p class="small"><a data-testid="fx-link" href="#/forensics${unit.parent ? `/${encodeURIComponent(unit.id)}` : ""}">${esc(t("fx.link"))}</a></p>`;
  for (const [ci, c] of S.results.contests.entries()) {
    const tot = await totalsOf(unit, ci);
    const contest = S.election.contests.find((x) => x.id === c.id);
    html += `<section class="contest" aria-labelledby="c-${esc(c.id)}"><h3 id="c-${esc(c.id)}">${esc(c.name)}</h3>`;
    html += progressBlock(tot);
    html += totalsBlock(contest, tot, unit);
    if (!unit.parent) html += seatsBlock(contest, c.seats);
    html += candidatesBlock(contest, tot, unit.id, uname(unit), standsAt(S.units, unit.id), c.seats);
    if (!unit.parent && c.warnings.length) {
      html += `<h4>${esc(t("warnings.title"))}</h4><ul>${c.warnings
        .map((w) => `<li>${esc(t("warnings.text", { message: ruleMessage(w.rule, w.message), n: num(w.stations) }))}</li>`)
        .join("")}</ul>`;
    }
    const kids = area?.contests.find((x) => x.id === c.id)?.children || [];
    if (kids.length && S.shapes) {
      html += mapBlock({
        shapes: S.shapes,
        contest,
        kids,
        units: S.units,
        name: uname,
        state: S.map,
        t,
        pct,
        esc,
        href: unitHref,
        colour: (id) => listColour(contest, id),
        listName: (id) => listName(contest, id),
      });
    }
    if (kids.length) html += childrenTable(contest, kids, unit.id);
    if (file) html += stationsTable(contest, file.contests.find((x) => x.id === c.id), unit.id);
    html += `</section>`;
  }
  return html;
}

function progressBlock(tot) {
  const st = tot.stations;
  return `<div class="facts">
  <div class="fact" data-testid="progress" data-reported="${st.reported}" data-expected="${st.total}" data-counted="${st.counted}">
    <h4>${esc(t("progress.title"))}</h4>
    <p class="big">${esc(pct(st.percent_counted))} %</p>
    <p class="detail">${esc(t("progress.text", { counted: num(st.counted), total: num(st.total), percent: pct(st.percent_counted) }))}</p>
    <p class="small detail">${esc(t("progress.detail", { reported: num(st.reported), quarantined: num(st.quarantined), missing: num(st.not_reported) }))}</p>
    ${meter(st.counted, st.total)}
  </div>
  <div class="fact">
    <h4>${esc(t("turnout.title"))}</h4>
    <p class="big">${esc(pct(tot.turnout.percent))} %</p>
    <p class="detail">${esc(t("turnout.text", { percent: pct(tot.turnout.percent), cast: num(tot.turnout.ballots_cast), registered: num(tot.turnout.registered_counted) }))}</p>
  </div>
</div>`;
}

function meter(value, max) {
  const w = max > 0 ? (300 * value) / max : 0;
  return `<svg class="meter" viewBox="0 0 300 12" preserveAspectRatio="none" aria-hidden="true" focusable="false"><rect width="300" height="12" class="track"/><rect width="${w.toFixed(1)}" height="12" class="fill"/></svg>`;
}

// Tables marked data-table="key" get sortable column headers (a button in each <th>, its state
// in aria-sort) and, with data-filter, a filter box above them; the reader's choice survives the
// re-rendering that every new checkpoint brings. A cell sorts by its data-sort if it has one
// (numbers), else by its text.
function enhanceTables(root, typing) {
  for (const table of root.querySelectorAll("table[data-table]")) {
    const key = table.dataset.table;
    const heads = [...table.querySelectorAll("thead th")];
    heads.forEach((th, col) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "sort";
      b.append(...th.childNodes);
      th.append(b);
      b.addEventListener("click", () => {
        const was = S.sorts.get(key);
        const dir = was?.col === col && was.dir === "ascending" ? "descending" : "ascending";
        S.sorts.set(key, { col, dir });
        sortTable(table, col, dir);
      });
    });
    const was = S.sorts.get(key);
    if (was) sortTable(table, was.col, was.dir);
    if (table.dataset.filter === undefined) continue;
    const label = document.createElement("label");
    label.className = "filter";
    const input = document.createElement("input");
    input.type = "search";
    input.dataset.filterFor = key;
    input.value = S.filters.get(key) || "";
    label.append(t("table.filter"), " ", input);
    (table.closest(".scroll") || table).before(label);
    input.addEventListener("input", () => {
      S.filters.set(key, input.value);
      filterTable(table, input.value);
    });
    filterTable(table, input.value);
    if (typing === key) {
      input.focus();
      input.setSelectionRange(input.value.length, input.value.length);
    }
  }
}

function filterTable(table, text) {
  const q = fold(text.trim());
  for (const tr of table.tBodies[0]?.rows || []) tr.hidden = q !== "" && !fold(tr.textContent).includes(q);
}

export function sortKey(cell) {
  const v = cell?.dataset?.sort;
  if (v !== undefined && v !== "" && !Number.isNaN(Number(v))) return Number(v);
  return (cell?.textContent || "").trim();
}

function sortTable(table, col, dir) {
  const body = table.tBodies[0];
  if (!body) return;
  const rows = [...body.rows];
  const sign = dir === "ascending" ? 1 : -1;
  rows.sort((a, b) => sign * compareKeys(sortKey(a.cells[col]), sortKey(b.cells[col])));
  body.append(...rows);
  table.querySelectorAll("thead th").forEach((th, i) => {
    if (i === col) th.setAttribute("aria-sort", dir);
    else th.removeAttribute("aria-sort");
  });
}

// Numbers before text; text in the page's language's collation.
export function compareKeys(a, b) {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "number") return -1;
  if (typeof b === "number") return 1;
  return a.localeCompare(b, undefined, { numeric: true, sensitivity: "base" });
}

function listName(contest, id) {
  const l = contest.lists.find((x) => x.id === id);
  return l ? localName(l, language().code) || id : id;
}

// A list's colour from v1/election.json (checked there against the page's background); the
// page's accent for anything that is not #rrggbb.
function listColour(contest, id) {
  const c = contest.lists.find((l) => l.id === id)?.colour;
  return typeof c === "string" && /^#[0-9a-f]{6}$/.test(c) ? c : "#1a4d8f";
}

// Seats of a parliament (hemicycle): rows of seats on concentric half circles, each row holding
// seats in proportion to its length; seats are taken left to right by angle, and the lists get
// them in ballot order, so each list is one wedge. Pure geometry, exported for the unit tests.
export function hemicycleSeats(n) {
  if (n <= 0) return { rows: 0, radius: 0, seats: [] };
  const inner = 0.4;
  // Rows so that seats are about as far apart along a row as the rows are apart:
  // π · Σ r_i / n ≈ (1 - inner) / (rows - 1), with Σ r_i ≈ rows · (1 + inner) / 2.
  const rows = Math.max(1, Math.round(Math.sqrt((n * (1 - inner)) / (Math.PI * ((1 + inner) / 2)))));
  const radii = Array.from({ length: rows }, (_, i) => (rows === 1 ? 1 : inner + ((1 - inner) * i) / (rows - 1)));
  const sum = radii.reduce((a, b) => a + b, 0);
  // Largest remainders, so that the rows hold exactly n seats.
  const exact = radii.map((r) => (n * r) / sum);
  const per = exact.map(Math.floor);
  let left = n - per.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i]).sort((a, b) => b[0] - a[0] || b[1] - a[1]);
  for (let k = 0; left > 0; k++, left--) per[order[k % rows][1]]++;
  const seats = [];
  radii.forEach((r, i) => {
    const m = per[i];
    for (let j = 0; j < m; j++) {
      const a = m === 1 ? Math.PI / 2 : Math.PI - (Math.PI * j) / (m - 1);
      seats.push({ a, r, x: r * Math.cos(a), y: -r * Math.sin(a) });
    }
  });
  seats.sort((p, q) => q.a - p.a || p.r - q.r);
  const spacing = rows === 1 ? Math.PI / Math.max(1, n) : (1 - inner) / (rows - 1);
  const arc = Math.min(...radii.map((r, i) => (per[i] > 1 ? (Math.PI * r) / (per[i] - 1) : 2)));
  return { rows, radius: Math.min(spacing, arc) * 0.42, seats };
}

function hemicycle(contest, lists, total, label) {
  const { radius, seats } = hemicycleSeats(total);
  let k = 0;
  const groups = lists
    .map((l) => {
      const mine = seats.slice(k, k + l.seats);
      k += l.seats;
      const dots = mine.map((p) => `<circle cx="${p.x.toFixed(4)}" cy="${p.y.toFixed(4)}" r="${radius.toFixed(4)}"/>`).join("");
      return `<g data-list="${esc(l.list)}" fill="${listColour(contest, l.list)}"><title>${esc(listName(contest, l.list))}: ${esc(num(l.seats))}</title>${dots}</g>`;
    })
    .join("");
  return `<svg class="hemicycle" data-testid="hemicycle" viewBox="-1.05 -1.05 2.1 1.12" role="img" aria-label="${esc(label)}" focusable="false"><title>${esc(label)}</title>${groups}<text x="0" y="-0.05" text-anchor="middle" class="total">${esc(num(total))}</text></svg>`;
}

// A horizontal bar chart: each row's label and value are written out, so it reads the same
// without colour; the table next to it carries the same numbers for screen readers.
function barChart(rows, label) {
  // Drawn at the width it is shown at, so its text stays at the page's size on a phone.
  const width = Math.round(Math.min(640, Math.max(280, $("#view").clientWidth || 640)));
  const max = Math.max(1, ...rows.map((r) => r.value));
  const barMax = width - 150;
  const rowH = 42;
  const h = rows.length * rowH + 4;
  const body = rows
    .map((r, i) => {
      const y = i * rowH;
      const w = Math.max(r.value > 0 ? 2 : 0, (barMax * r.value) / max);
      return `<text x="0" y="${y + 15}" class="lbl">${esc(r.label)}</text>
<rect x="0" y="${y + 22}" width="${w.toFixed(1)}" height="14" class="bar"${r.colour ? ` style="fill:${r.colour}"` : ""}/>
<text x="${(w + 6).toFixed(1)}" y="${y + 34}" class="val">${esc(r.text)}</text>`;
    })
    .join("");
  return `<svg class="chart" viewBox="0 0 ${width} ${h}" width="${width}" height="${h}" role="img" aria-label="${esc(label)}" focusable="false"><title>${esc(label)}</title>${body}</svg>`;
}

function totalsBlock(contest, tot, unit) {
  const ids = Object.keys(tot.votes).sort((a, b) => tot.votes[b] - tot.votes[a]);
  const rows = ids.map((id) => ({
    label: listName(contest, id),
    value: tot.votes[id],
    colour: listColour(contest, id),
    text: t("chart.of", { value: num(tot.votes[id]), percent: pct(tot.percent[id]) }),
  }));
  return `<h4>${esc(t("totals.title"))}</h4>
${barChart(rows, t("totals.chart", { unit: uname(unit) }))}
<table data-testid="totals" data-table="totals|${esc(contest.id)}|${esc(unit.id)}" data-contest="${esc(contest.id)}" data-unit="${esc(unit.id)}">
<caption class="sr">${esc(t("totals.chart", { unit: uname(unit) }))}</caption>
<thead><tr><th scope="col">${esc(t("totals.list"))}</th><th scope="col" class="n">${esc(t("totals.votes"))}</th><th scope="col" class="n">${esc(t("totals.percent"))}</th></tr></thead>
<tbody>${ids
    .map(
      (id) =>
        `<tr data-list="${esc(id)}"><th scope="row">${esc(listName(contest, id))}</th><td class="n" data-votes="${tot.votes[id]}">${num(tot.votes[id])}</td><td class="n">${pct(tot.percent[id])} %</td></tr>`,
    )
    .join("")}</tbody>
<tfoot><tr><th scope="row">${esc(t("counts.valid"))}</th><td class="n">${num(tot.votes_total)}</td><td></td></tr></tfoot>
</table>`;
}

function seatsBlock(contest, seats) {
  if (!seats) return "";
  if (seats.error) return `<h4>${esc(t("seats.title"))}</h4><p>${esc(t("seats.none", { reason: seats.error }))}</p>`;
  const lists = seats.lists.filter((l) => l.seats > 0).sort((a, b) => b.seats - a.seats);
  // The hemicycle takes the lists in ballot order, the table by seats.
  const ballot = contest.lists.map((l) => l.id);
  const arc = [...lists].sort((a, b) => ballot.indexOf(a.list) - ballot.indexOf(b.list));
  const total = lists.reduce((n, l) => n + l.seats, 0);
  const label = `${t("seats.chart")}: ${arc.map((l) => `${listName(contest, l.list)} ${num(l.seats)}`).join(", ")}`;
  return `<h4>${esc(t("seats.title"))} (${num(seats.house_seats)})</h4>
<div class="seats">
${hemicycle(contest, arc, total, label)}
<table data-testid="seats" data-contest="${esc(contest.id)}">
<caption class="sr">${esc(t("seats.chart"))}</caption>
<thead><tr><th scope="col">${esc(t("totals.list"))}</th><th scope="col" class="n">${esc(t("seats.seats"))}</th></tr></thead>
<tbody>${lists.map((l) => `<tr data-list="${esc(l.list)}"><th scope="row"><span class="swatch" style="background:${listColour(contest, l.list)}" aria-hidden="true"></span>${esc(listName(contest, l.list))}</th><td class="n" data-seats="${l.seats}">${num(l.seats)}</td></tr>`).join("")}</tbody>
</table>
</div>
<p class="small">${esc(t("seats.of", { n: num(seats.house_seats) }))}. ${esc(t("seats.rules"))}: ${esc(seats.title)}. <a href="${esc(seats.explanation)}">${esc(t("seats.details"))}</a></p>`;
}

// Open lists. A share as urna_tally::totals::percent writes it: "12.34", half up, "-" of 0.
export function share(n, d) {
  if (!(d > 0)) return "-";
  const s = (BigInt(n) * 20000n + BigInt(d)) / (2n * BigInt(d));
  return `${s / 100n}.${String(s % 100n).padStart(2, "0")}`;
}

// The rows of one list's candidates where `stands(c)`: ballot number, name, preference votes
// (`prefs`: number → votes, zero when absent), share of the list's `listVotes`, elected (by
// number and name, from the seats) and withdrawn; most votes first, then by ballot number.
// A number voted for but standing nowhere here still gets its row, without a name.
export function candidateRows(list, prefs = {}, listVotes = 0, elected = [], stands = () => true) {
  const rows = new Map();
  for (const c of list.candidates || []) {
    if (!stands(c)) continue;
    const old = rows.get(c.number);
    rows.set(c.number, {
      number: c.number,
      name: old ? `${old.name} / ${c.name}` : c.name,
      withdrawn: !!c.withdrawn && (!old || old.withdrawn),
    });
  }
  for (const n of Object.keys(prefs)) if (!rows.has(Number(n))) rows.set(Number(n), { number: Number(n), name: "", withdrawn: false });
  return [...rows.values()]
    .map((r) => {
      const votes = prefs[r.number] || 0;
      const won = elected.some((e) => e.number === r.number && r.name.split(" / ").includes(e.name));
      return { ...r, votes, share: share(votes, listVotes), elected: won };
    })
    .sort((a, b) => b.votes - a.votes || a.number - b.number);
}

// The ballot numbers that several of `list`'s candidates standing where `stands` says share
// (lists with their own candidates in each district, seen from above the districts).
export function sharedNumbers(list, stands) {
  const seen = new Set();
  const shared = new Set();
  for (const c of list.candidates || []) {
    if (!stands(c)) continue;
    if (seen.has(c.number)) shared.add(c.number);
    seen.add(c.number);
  }
  return shared;
}

// Whether a candidate of `c.unit` (a district) belongs on the view of unit `id` (`units`: id
// → election.json unit): it stands in an area that contains the unit, or inside it.
export function standsAt(units, id) {
  const up = (x) => {
    const out = new Set();
    for (let u = units.get(x); u; u = u.parent ? units.get(u.parent) : null) out.add(u.id);
    return out;
  };
  const mine = up(id);
  return (c) => !c.unit || mine.has(c.unit) || up(c.unit).has(id);
}

// Each list's candidates, one expandable table per list (a list may have dozens); the
// summary line names the list's first. Nothing at all for a closed-list contest.
export function candidatesBlock(contest, tot, where, label, stands, seats) {
  if (!contest.preferences) return "";
  const prefs = tot.preferences || {};
  const ids = contest.lists
    .filter((l) => l.candidates?.length || prefs[l.id])
    .map((l) => l.id)
    .sort((a, b) => (tot.votes[b] || 0) - (tot.votes[a] || 0));
  if (!ids.length) return "";
  const m = contest.preferences.marks;
  const marks = m === "all" ? t("cands.marks.all") : t("cands.marks", { n: num(m) });
  const body = ids
    .map((id) => {
      const list = contest.lists.find((l) => l.id === id);
      const elected = seats?.lists?.find((l) => l.list === id)?.elected || [];
      // Above the districts of a list with its own candidates in each district, one ballot
      // number is several people and the bundle sums their votes: such a number gets no row
      // here, only a pointer to the districts.
      const shared = sharedNumbers(list, stands);
      const rows = candidateRows(list, prefs[id], tot.votes[id] || 0, elected, stands).filter((r) => !shared.has(r.number));
      const perDistrict = shared.size ? `<p class="small" data-shared="${shared.size}">${esc(t("cands.perdistrict", { n: num(shared.size) }))}</p>` : "";
      const key = `${contest.id}|${where}|${id}`;
      const top = rows[0]?.votes > 0 ? `${rows[0].number} ${rows[0].name}` : "–";
      const name = listName(contest, id);
      const cap = t("cands.caption", { list: name, unit: label });
      return `<details data-list="${esc(id)}" data-open="${esc(key)}"${S.open.has(key) ? " open" : ""}><summary><strong>${esc(name)}</strong> <span class="small">${esc(rows.length || !shared.size ? t("cands.summary", { n: num(rows.length), name: top }) : t("cands.perdistrict", { n: num(shared.size) }))}</span></summary>
<div class="scroll"><table class="cands" data-list="${esc(id)}"><caption class="sr">${esc(cap)}</caption>
<thead><tr><th scope="col" class="n">${esc(t("cands.number"))}</th><th scope="col">${esc(t("cands.name"))}</th><th scope="col" class="n">${esc(t("cands.votes"))}</th><th scope="col" class="n">${esc(t("cands.share"))}</th></tr></thead>
<tbody>${rows
        .map(
          (r) => `<tr data-number="${r.number}"${r.elected ? ' class="elected"' : ""}><td class="n">${r.number}</td><th scope="row">${esc(r.name || "–")}${r.elected ? ` <span class="tag">${esc(t("cands.elected"))}</span>` : ""}${r.withdrawn ? ` <span class="tag out">${esc(t("cands.withdrawn"))}</span>` : ""}</th><td class="n" data-pref="${r.votes}">${num(r.votes)}</td><td class="n">${r.share === "-" ? "–" : `${pct(r.share)} %`}</td></tr>`,
        )
        .join("")}</tbody></table></div>${perDistrict}</details>`;
    })
    .join("");
  return `<h4>${esc(t("cands.title"))}</h4><p class="small">${esc(t("cands.intro"))} ${esc(marks)}</p><div data-testid="candidates" data-contest="${esc(contest.id)}" data-unit="${esc(where)}">${body}</div>`;
}

function childrenTable(contest, kids, where) {
  const rows = kids
    .map((tot) => {
      const k = S.units.get(tot.unit);
      if (!k) return "";
      const lead = Object.keys(tot.votes).sort((a, b) => tot.votes[b] - tot.votes[a])[0];
      const leading = lead && tot.votes[lead] > 0 ? `${listName(contest, lead)} (${pct(tot.percent[lead])} %)` : "–";
      return `<tr data-unit="${esc(k.id)}"><th scope="row"><a href="${unitHref(k)}">${esc(uname(k))}</a></th><td class="n">${pct(tot.stations.percent_counted)} %</td><td class="n">${pct(tot.turnout.percent)} %</td><td>${esc(leading)}</td></tr>`;
    })
    .join("");
  return `<h4>${esc(t("units.title"))}</h4><div class="scroll"><table class="units" data-table="units|${esc(contest.id)}|${esc(where)}" data-filter>
<thead><tr><th scope="col">${esc(t("units.name"))}</th><th scope="col" class="n">${esc(t("units.counted"))}</th><th scope="col" class="n">${esc(t("units.turnout"))}</th><th scope="col">${esc(t("units.leading"))}</th></tr></thead>
<tbody>${rows}</tbody></table></div>`;
}

function statusLabel(status) {
  return t(`status.${status}`);
}

function stationsTable(contest, uc, where) {
  if (!uc) return "";
  const rows = uc.stations
    .map((s) => {
      const c = s.current;
      return `<tr data-station="${esc(s.id)}" class="st-${esc(s.status)}"><th scope="row"><a href="#/station/${encodeURIComponent(s.id)}">${esc(s.id)}</a></th><td>${esc(statusLabel(s.status))}</td><td class="n" data-sort="${c ? (c.counts["ballots-cast"] ?? 0) : -1}">${c ? num(c.counts["ballots-cast"] ?? 0) : "–"}</td><td class="n" data-sort="${c ? (c.counts.valid ?? 0) : -1}">${c ? num(c.counts.valid ?? 0) : "–"}</td></tr>`;
    })
    .join("");
  return `<h4>${esc(t("stations.title"))}</h4><div class="scroll"><table class="stations" data-table="stations|${esc(contest.id)}|${esc(where)}" data-filter>
<thead><tr><th scope="col">${esc(t("stations.id"))}</th><th scope="col">${esc(t("stations.status"))}</th><th scope="col" class="n">${esc(t("stations.cast"))}</th><th scope="col" class="n">${esc(t("stations.valid"))}</th></tr></thead>
<tbody>${rows}</tbody></table></div>`;
}

// A unit's area file (its totals and its children's), which names the checkpoint it is of:
// it must be the one shown.
async function areaFile(unit) {
  const hit = S.areas.get(unit.id);
  if (hit) return hit;
  for (const fresh of [false, true]) {
    const doc = await getJson(unit.area, fresh);
    const cp = doc.checkpoint || {};
    if (doc.unit?.id === unit.id && cp.size === S.cp.size && cp.root_hash === S.cp.rootB64) {
      S.areas.set(unit.id, doc);
      return doc;
    }
  }
  throw new Error(t("error.stale", { path: unit.area }));
}

// A unit's totals in contest `ci`: the national ones from the summary, any other from its
// parent's area file.
async function totalsOf(unit, ci) {
  if (!unit.parent) return S.results.contests[ci].national;
  const parent = await areaFile(S.units.get(unit.parent));
  const id = S.results.contests[ci].id;
  const entry = parent.contests.find((c) => c.id === id)?.children.find((x) => x.unit === unit.id);
  if (!entry) throw new Error(t("error.stale", { path: S.units.get(unit.parent).area }));
  const { unit: _, ...totals } = entry;
  return totals;
}

// A unit's file (its stations) names no checkpoint: its totals must be the ones the area
// files give for the same unit at the checkpoint shown, or it is of another checkpoint.
async function unitFile(unit) {
  const cached = S.unitFiles.get(unit.file);
  if (cached && cached.size === S.cp.size) return cached.doc;
  for (const fresh of [false, true]) {
    const doc = await getGzJson(unit.file, fresh);
    if (await unitMatches(unit, doc)) {
      S.unitFiles.set(unit.file, { size: S.cp.size, doc });
      return doc;
    }
  }
  throw new Error(t("error.stale", { path: unit.file }));
}

async function unitMatches(unit, doc) {
  if (doc.unit?.id !== unit.id) return false;
  for (const [ci, c] of S.results.contests.entries()) {
    const mine = doc.contests.find((x) => x.id === c.id);
    const theirs = await totalsOf(unit, ci);
    if (!mine || JSON.stringify(mine.totals) !== JSON.stringify(theirs)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Finding a station: the station index shard named by the first byte of SHA-256(id).

async function findStation(id) {
  if (V.hasSubtle()) {
    const shard = V.hex((await V.sha256(new TextEncoder().encode(id))).subarray(0, 1));
    const path = S.election.station_index.path.replace("{shard}", shard);
    const doc = await getJson(path);
    return doc.stations.find((s) => s.id === id) || null;
  }
  // Without Web Crypto (a plain-http mirror): the stations CSV names every station's unit.
  const csv = await getGzText("csv/stations.csv.gz");
  for (const line of csv.split("\n")) {
    const [sid, unit] = line.split(",");
    if (sid === id) return { id, unit, file: S.units.get(unit)?.file };
  }
  return null;
}

async function stationView(id) {
  const found = await findStation(id);
  if (!found) return `<h2 tabindex="-1">${esc(t("station.title", { id }))}</h2><p>${esc(t("station.notfound", { id }))}</p>`;
  const unit = S.units.get(found.unit);
  const file = await unitFile(unit);
  let html = breadcrumbs(unit);
  html += `<div data-testid="station" data-station="${esc(id)}"><h2 tabindex="-1">${esc(t("station.title", { id }))}</h2>`;
  const about = file.contests.flatMap((x) => x.stations).find((x) => x.id === id);
  const place = stationPlace(about, language().code);
  const lang = (tag) => (tag ? ` lang="${esc(tag)}"` : "");
  if (place.name || place.address) {
    html += `<p data-testid="station-place">${place.name ? `<strong data-testid="station-name"${lang(place.nameLang)}>${esc(place.name)}</strong>` : ""}${
      place.name && place.address ? "<br>" : ""
    }${place.address ? `<span data-testid="station-address"${lang(place.addressLang)}>${esc(place.address)}</span>` : ""}</p>`;
  }
  for (const c of S.election.contests) {
    const uc = file.contests.find((x) => x.id === c.id);
    const st = uc?.stations.find((s) => s.id === id);
    if (!st) continue;
    html += `<section class="contest"><h3>${esc(c.name)}</h3>`;
    html += `<p>${esc(t("stations.status"))}: <strong class="st-${esc(st.status)}">${esc(statusLabel(st.status))}</strong></p>`;
    if (!st.current) {
      html += `<p>${esc(t("station.notreported"))}</p></section>`;
      continue;
    }
    const cur = st.current;
    if (cur.revision > 1) html += await amendmentBlock(cur, unit.id);
    html += `<h4>${esc(t("station.protocol"))}: ${esc(t("station.revision", { n: cur.revision }))}</h4>
<table class="protocol"><tbody>${Object.entries(cur.counts)
      .map(([k, v]) => `<tr><th scope="row">${esc(t(`counts.${k}`) === `counts.${k}` ? k : t(`counts.${k}`))}</th><td class="n" data-count="${esc(k)}">${num(v)}</td></tr>`)
      .join("")}${Object.entries(cur.votes)
      .map(([k, v]) => `<tr data-list="${esc(k)}"><th scope="row">${esc(listName(c, k))}</th><td class="n" data-votes="${v}">${num(v)}</td></tr>`)
      .join("")}</tbody></table>`;
    if (cur.preferences) {
      const seats = S.results.contests.find((x) => x.id === c.id)?.seats;
      html += candidatesBlock(c, cur, `station:${id}`, t("station.title", { id }), standsAt(S.units, unit.id), seats);
    }
    const errors = cur.violations.filter((v) => v.severity === "error");
    const warnings = cur.violations.filter((v) => v.severity !== "error");
    if (errors.length) html += `<h4>${esc(t("station.violations"))}</h4><ul>${errors.map((v) => `<li>${esc(ruleMessage(v.rule, v.message))}: <code>${esc(v.detail)}</code></li>`).join("")}</ul>`;
    if (warnings.length) html += `<h4>${esc(t("station.warnings"))}</h4><ul>${warnings.map((v) => `<li>${esc(ruleMessage(v.rule, v.message))}: <code>${esc(v.detail)}</code></li>`).join("")}</ul>`;
    html += `<p>${esc(t("station.entry"))}: #${num(cur.index)} <code class="hash">${esc(cur.entry)}</code></p>`;
    if (scanPath(cur.scan)) html += `<p>${esc(t("station.scan"))}: <a data-testid="scan" href="${esc(scanPath(cur.scan))}">${esc(cur.scan)}</a></p>`;
    html += `<p><button type="button" data-testid="verify" data-verify="${esc(c.id)}">${esc(t("verify.button"))}</button></p>
<div data-testid="verify-result" data-contest="${esc(c.id)}" role="status" aria-live="polite"${verdictOf(id, c.id)}</div>`;
    const noteToggle = (index) => `<button type="button" class="link" data-note="${index}" aria-expanded="${S.shown.has(index)}">${esc(t(S.shown.has(index) ? "station.hide" : "station.show"))}</button>
${S.shown.has(index) ? `<pre class="note">${esc(S.shown.get(index))}</pre>` : ""}`;
    html += `<h4>${esc(t("station.history"))}</h4><ol class="history">${stationSteps(st)
      .map(({ kind, h, d, of }) =>
        kind === "decision"
          ? `<li class="decision" data-testid="decision" data-decision="${esc(d.decision)}"><span>${esc(
              t("decision.line", { index: num(d.index), decision: t(decisionKey(d)), revision: of ? of.revision : "?", reason: d.reason }),
            )}</span>
${noteToggle(d.index)}</li>`
          : `<li><span>${esc(t("station.revision", { n: h.revision }))}, #${num(h.index)}: ${esc(statusLabel(h.status))}</span>
${noteToggle(h.index)}</li>`,
      )
      .join("")}</ol></section>`;
  }
  html += `</div>`;
  S.current = { id, file, unit: unit.id };
  return html;
}

function verdictKey(station, contest) {
  return `${station}|${contest}|${S.cp.size}`;
}

// A finished verification of this station at the checkpoint shown, kept across redraws.
function verdictOf(station, contest) {
  const v = S.verdicts.get(verdictKey(station, contest));
  return v ? ` data-state="${v.state}">${verdictHtml(v)}` : ">";
}

async function onViewClick(ev) {
  const b = ev.target.closest("button");
  if (!b) return;
  if (b.dataset.note) {
    const index = Number(b.dataset.note);
    if (S.shown.has(index)) S.shown.delete(index);
    else {
      try {
        const bytes = await new V.Tiles(S.cp.size, getBytes).entry(index);
        S.shown.set(index, new TextDecoder().decode(bytes));
      } catch (e) {
        S.shown.set(index, e.message);
      }
    }
    render(false);
  } else if (b.dataset.verify) {
    const out = b.closest("section").querySelector("[data-testid=verify-result]");
    await verifyStation(S.current, b.dataset.verify, out);
  }
}

// ---------------------------------------------------------------------------------------------
// "Verify this station": every link from the numbers on screen to the co-signed checkpoint.

async function verifyStation(cur, contestId, out) {
  out.dataset.state = "running";
  out.innerHTML = `<p>${esc(t("verify.running"))}</p>`;
  const uc = cur.file.contests.find((x) => x.id === contestId);
  const st = uc.stations.find((s) => s.id === cur.id);
  const steps = [];
  const step = (key, vars, ok, detail) => steps.push({ key, vars, ok, detail });
  let unsupported = "";
  try {
    if (!V.hasSubtle()) {
      out.dataset.state = "unsupported";
      out.innerHTML = `<p>${esc(t("verify.unsupported", { reason: t("verify.nosubtle") }))}</p>`;
      return;
    }
    const ed = await V.ed25519Supported();
    if (!ed) unsupported = t("verify.noed25519");
    const cp = S.cp;
    const c = S.check;
    const quorum = S.keys ? S.keys.quorum || 0 : 0;
    if (!ed || !S.keys) step("verify.step.checkpoint", { k: "?", q: quorum }, null, S.keysError || unsupported);
    else step("verify.step.checkpoint", { k: c.valid, q: quorum }, c.logOk && c.valid >= quorum, c.logOk ? `${c.valid} < ${quorum}` : "log signature");
    step("verify.step.match", {}, S.results.checkpoint.note === S.cpText, "v1/summary.json");

    const index = st.current.index;
    const tiles = new V.Tiles(cp.size, getBytes);
    const bytes = await tiles.entry(index);
    const hash = `sha256:${V.hex(await V.sha256(bytes))}`;
    step("verify.step.entry", { index: num(index), hash: `${st.current.entry.slice(7, 19)}…` }, hash === st.current.entry,
      `entry ${index} of the log hashes to ${hash}, but the page names ${st.current.entry}`);

    let text = null;
    let note = null;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      note = V.parseNote(text);
    } catch (e) {
      step("verify.step.numbers", {}, false, `entry ${index} is not a signed note: ${e.message}`);
    }
    if (note) {
      const diff = compareNumbers(V.parseProtocol(note.body), st, contestId, cur.unit);
      step("verify.step.numbers", {}, diff === "", diff);
      // The key the station held when the entry was logged: the replacement the last
      // revocation before the entry gave it (none if it gave none), else its own.
      const revoked = (st.revocations || []).filter((r) => r.index < index);
      const held = revoked.length ? revoked[revoked.length - 1].replacement : st.key;
      let key = null;
      try {
        key = held ? V.parseVerifierKey(held) : null;
      } catch (e) {
        step("verify.step.signature", {}, false, e.message);
      }
      // A first protocol keyed at a counting centre is signed by an authority whose scope
      // covers the station instead of the station (as intake and urna verify accept).
      // So may the amendment of a recount the commission ordered (web/decisions.js).
      const protocol = text.startsWith("urna/protocol/v1\n") || (text.startsWith("urna/amendment/v1\n") && recountOrdered(st));
      const byStation = key && note.sigs.some((sg) => sg.name === key.name);
      if (protocol && (key || revoked.length) && !byStation && ed) {
        const signers = authoritySigners(note);
        const name = signers.map((x) => x.a.name).join(", ") || "–";
        let ok = false;
        for (const x of signers) {
          if (covers(x.a.scope, cur.unit) && (await V.checkNoteSignature(note, x.k)) === true) ok = true;
        }
        step("verify.step.centre", { name }, ok, `the note carries no signature by the key ${st.id} held, nor a valid one by an authority over ${cur.unit}`);
      } else if (!key) {
        if (!st.key) step("verify.step.signature", {}, null, `${unitPathOf(cur)} names no key for ${st.id}`);
      } else if (!ed) step("verify.step.signature", {}, null, unsupported);
      else {
        const ok = (await V.keyIdMatches(key)) && (await V.checkNoteSignature(note, key));
        step("verify.step.signature", {}, ok === true, ok === null ? `the note carries no signature by ${key.name}` : `the signature by ${key.name} does not verify`);
      }
      if (text.startsWith("urna/amendment/v1\n")) {
        const signers = authoritySigners(note);
        const name = signers.map((x) => x.a.name).join(", ") || "–";
        if (!ed) step("verify.step.cosign", { name }, null, unsupported);
        else {
          let ok = false;
          for (const x of signers) if ((await V.checkNoteSignature(note, x.k)) === true) ok = true;
          step("verify.step.cosign", { name }, ok, "no valid co-signature by an authority of v1/election.json");
        }
      }
    }

    const leaf = await V.leafHash(bytes);
    const proof = await tiles.path(index, 0, cp.size);
    const root = await V.rootFromInclusion(index, cp.size, leaf, proof);
    step("verify.step.inclusion", {}, V.bytesEqual(root, cp.root),
      `the hash path of entry ${index} (${proof.length} hashes from the tiles) leads to root ${V.b64encode(root)}, but the checkpoint's root is ${cp.rootB64}`);
  } catch (e) {
    steps.push({ key: null, ok: false, detail: e.message });
  }
  const failed = steps.find((s) => s.ok === false);
  const state = failed ? "failed" : steps.some((s) => s.ok === null) ? "unsupported" : "verified";
  const reason = failed ? failed.detail : unsupported || steps.find((s) => s.ok === null)?.detail || "";
  const v = { state, reason, steps };
  // Kept, so a redraw (a new language, a wider window) shows it again in the new words.
  S.verdicts.set(verdictKey(cur.id, contestId), v);
  out.innerHTML = verdictHtml(v);
  out.dataset.state = state;
}

// The authorities of v1/election.json whose key name signs `note`, with their parsed keys.
// The reason an amendment gives and the authorities that signed it, read from its log entry
// (fetched from the tiles, so what is shown is what the log holds).
async function amendmentBlock(cur, unitId) {
  let info = S.amendments.get(cur.index);
  if (!info) {
    try {
      const text = new TextDecoder().decode(await new V.Tiles(S.cp.size, getBytes).entry(cur.index));
      const note = V.parseNote(text);
      const reason = /^reason: (.*)$/m.exec(note.body)?.[1] ?? "";
      // Named only when the authority's signature verifies (and covers the station's unit).
      const by = [];
      const can = V.hasSubtle() && (await V.ed25519Supported());
      for (const x of authoritySigners(note)) {
        if (!covers(x.a.scope, unitId)) continue;
        if (!can) by.push(`${x.a.name} (${t("amend.unchecked")})`);
        else if ((await V.checkNoteSignature(note, x.k)) === true) by.push(x.a.name);
      }
      info = { reason, by };
    } catch (e) {
      info = { reason: "", by: [], error: e.message };
    }
    S.amendments.set(cur.index, info);
  }
  if (info.error) return `<p class="error">${esc(info.error)}</p>`;
  return `<div data-testid="amendment"><h4>${esc(t("amend.title"))}</h4><p>${esc(t("amend.reason"))}: <q data-testid="amendment-reason">${esc(info.reason)}</q></p><p>${esc(t("amend.by"))}: <span data-testid="amendment-authority">${esc(info.by.join(", ") || "–")}</span></p></div>`;
}

function authoritySigners(note) {
  return (S.election.authorities || [])
    .map((a) => ({ a, k: safeKey(a.key) }))
    .filter((x) => x.k && note.sigs.some((sg) => sg.name === x.k.name));
}

// Whether the unit `scope` is `unit` or one of its ancestors.
function covers(scope, unit) {
  for (let u = S.units.get(unit); u; u = u.parent ? S.units.get(u.parent) : null) if (u.id === scope) return true;
  return false;
}

function verdictHtml(v) {
  const mark = (ok) => (ok === true ? "✓" : ok === false ? "✗" : "?");
  const head =
    v.state === "verified"
      ? t("verify.ok")
      : t(v.state === "failed" ? "verify.failed" : "verify.unsupported", { reason: v.reason });
  return `<p class="verdict ${v.state}">${mark(v.state === "verified" ? true : v.state === "failed" ? false : null)} ${esc(head)}</p>
<ul class="steps">${v.steps
    .filter((s) => s.key)
    .map(
      (s) =>
        `<li class="${s.ok === true ? "ok" : s.ok === false ? "bad" : "unknown"}"><span aria-hidden="true">${mark(s.ok)}</span> ${esc(t(s.key, s.vars))}<span class="sr"> (${esc(t(s.ok === true ? "sig.ok" : s.ok === false ? "sig.bad" : "sig.unknown"))})</span></li>`,
    )
    .join("")}</ul>`;
}

function safeKey(s) {
  try {
    return V.parseVerifierKey(s);
  } catch {
    return null;
  }
}

function unitPathOf(cur) {
  return S.units.get(cur.file.unit.id)?.file || "unit file";
}

// The fields of the signed note against what the page shows; "" when they agree, else the
// first difference, naming the field.
function compareNumbers(p, st, contestId, unitId) {
  const cur = st.current;
  const want = [
    ["election", S.election.id],
    ["contest", contestId],
    ["station", st.id],
    ["revision", String(cur.revision)],
  ];
  for (const [k, v] of want) if (p.fields[k] !== v) return `${k}: signed ${p.fields[k]}, shown ${v}`;
  for (const [k, v] of Object.entries(cur.counts)) {
    if (String(p.fields[k]) !== String(v)) return `${k}: signed ${p.fields[k]}, shown ${v}`;
  }
  const keys = new Set([...Object.keys(cur.votes), ...Object.keys(p.votes)]);
  for (const k of keys) {
    if (p.votes[k] !== cur.votes[k]) return `votes ${k}: signed ${p.votes[k]}, shown ${cur.votes[k]}`;
  }
  // A closed-list contest shows no preference votes, and its notes carry none.
  const def = S.election.contests.find((x) => x.id === contestId);
  if (!def?.preferences && !cur.preferences) return "";
  const here = standsAt(S.units, unitId);
  const counted = (list, n) =>
    (def?.lists.find((l) => l.id === list)?.candidates || []).some((c) => c.number === Number(n) && here(c));
  return comparePreferences(p.preferences, cur.preferences || {}, counted);
}

// Preference votes signed against shown, zero where no line is written; "" when they agree,
// else the first difference, naming list and ballot number. A signed line for a number that
// `counted(list, number)` says is no candidate standing at the station is never counted or
// shown (intake quarantines the protocol and its broken rule quotes the line), so it is not a
// difference unless the page shows a number for it.
export function comparePreferences(signed, shown, counted = () => true) {
  for (const k of new Set([...Object.keys(signed), ...Object.keys(shown)])) {
    const a = signed[k] || {};
    const b = shown[k] || {};
    const nums = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort((x, y) => x - y);
    for (const n of nums) {
      if (!(n in b) && !counted(k, n)) continue;
      if ((a[n] || 0) !== (b[n] || 0)) return `preferences ${k} ${n}: signed ${a[n] || 0}, shown ${b[n] || 0}`;
    }
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// Quarantine, search, and the panels beside every view.

// v1/quarantine.json names no checkpoint; it must list as many stations per contest as the
// results count in quarantine, or it is of another checkpoint.
async function quarantineFile() {
  for (const fresh of [false, true]) {
    const q = await getJson("v1/quarantine.json", fresh);
    const same = S.results.contests.every(
      (c) => q.contests.find((x) => x.id === c.id)?.stations.length === c.national.stations.quarantined,
    );
    if (same) return q;
  }
  throw new Error(t("error.stale", { path: "v1/quarantine.json" }));
}

// The statistical screens (web/forensics.js), of the checkpoint shown.
async function forensicsView(unitId) {
  const counted = S.results.contests[0]?.national.stations.counted;
  return forensicsHtml(await forensicsFile(getJson, counted), S.units, unitId || null);
}

// The risk-limiting audits (web/audit.js) the log of the checkpoint shown records.
async function auditView() {
  const contest = (id) => S.election.contests.find((c) => c.id === id);
  return auditHtml(await auditFile(getJson, S.cp.size), {
    contest: (id) => contest(id)?.name || id,
    list: (cid, id) => (contest(cid) ? listName(contest(cid), id) : id),
    unit: (id) => (S.units.has(id) ? uname(S.units.get(id)) : id),
  });
}

// Whether the bundle has v1/audit.json: a log with no audit has none, and the page then
// offers no audit view. Asked again with every new checkpoint (an audit starts after the
// results are published).
async function checkAudit() {
  if (!S.audit) {
    try {
      S.audit = (await fetch("v1/audit.json", { method: "HEAD", cache: "no-cache" })).ok;
    } catch {
      S.audit = false;
    }
  }
  const li = $("#nav-audit");
  if (li) li.hidden = !S.audit;
}

async function quarantineView() {
  const q = await quarantineFile();
  let html = `<h2 tabindex="-1">${esc(t("quarantine.title"))}</h2><p>${esc(t("quarantine.intro"))}</p>`;
  for (const c of q.contests) {
    const contest = S.election.contests.find((x) => x.id === c.id);
    html += `<section class="contest"><h3>${esc(contest?.name || c.id)}</h3>`;
    if (!c.stations.length) {
      html += `<p>${esc(t("quarantine.none"))}</p></section>`;
      continue;
    }
    html += `<div class="scroll"><table data-testid="quarantine" data-table="quarantine|${esc(c.id)}" data-filter><thead><tr><th scope="col">${esc(t("quarantine.station"))}</th><th scope="col">${esc(t("quarantine.place"))}</th><th scope="col">${esc(t("quarantine.reason"))}</th></tr></thead><tbody>${c.stations
      .map(
        (s) => `<tr data-station="${esc(s.station)}"><th scope="row"><a href="#/station/${encodeURIComponent(s.station)}">${esc(s.station)}</a></th><td>${esc(uname(S.units.get(s.unit)) || s.unit)}</td><td>${s.violations
          .map((v) => `${esc(ruleMessage(v.rule, v.message))}<br><code>${esc(v.detail)}</code>`)
          .join("<br>")}</td></tr>`,
      )
      .join("")}</tbody></table></div></section>`;
  }
  return html;
}

function fold(s) {
  return s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
}

async function search(q) {
  const out = $("#search-results");
  out.innerHTML = "";
  if (!q) return;
  out.textContent = t("search.searching");
  let station = null;
  try {
    station = await findStation(q);
  } catch (e) {
    out.textContent = e.message;
    return;
  }
  if (station) {
    out.innerHTML = "";
    location.hash = `#/station/${encodeURIComponent(station.id)}`;
    return;
  }
  const f = fold(q);
  const places = S.election.units
    .filter((u) => [u.name, ...Object.values(u.names || {})].some((n) => fold(n).includes(f)) || fold(u.id) === f)
    .slice(0, 20);
  out.innerHTML = places.length
    ? `<p>${esc(t("search.places"))}:</p><ul>${places.map((u) => `<li><a href="${unitHref(u)}">${esc(uname(u))}</a></li>`).join("")}</ul>`
    : `<p>${esc(t("search.none", { q }))}</p>`;
}

function renderAside() {
  const cp = S.cp;
  const k = S.keys;
  const base = new URL(".", location.href).href.replace(/\/$/, "");
  const cos = S.check ? S.check.cosigners : [];
  const cmd = [`urna verify ${base}`];
  if (k) {
    cmd.push(`  --log-key '${k.log.key}'`);
    for (const w of k.witnesses || []) cmd.push(`  --witness '${w.key}'`);
    if (k.quorum) cmd.push(`  --quorum ${k.quorum}`);
  }
  $("#checkpoint").innerHTML = `<h2 data-t="checkpoint.title">${esc(t("checkpoint.title"))}</h2>
<dl>
<dt>${esc(t("checkpoint.entries"))}</dt><dd>${num(cp.size)}</dd>
<dt>${esc(t("checkpoint.root"))}</dt><dd><code class="hash">${esc(cp.rootB64)}</code></dd>
<dt>${esc(t("checkpoint.signed"))}</dt><dd>${esc(cp.origin)}: ${esc(S.check ? t(S.check.logOk ? "sig.ok" : "sig.bad") : t("sig.unknown"))}</dd>
<dt>${esc(t("checkpoint.cosigned"))}</dt><dd>${
    cos.length
      ? `<ul>${cos.map((c) => `<li><strong>${esc(c.name)}</strong>, ${esc(dateTime(c.time))}: ${esc(t(c.ok ? "sig.ok" : "sig.bad"))}</li>`).join("")}</ul>`
      : esc(t("checkpoint.none"))
  }</dd>
</dl>
${k ? `<p class="small">${esc(t("checkpoint.logkey"))}: <code class="hash">${esc(k.log.key)}</code></p>` : ""}
<p class="small">${esc(t("checkpoint.compare"))}</p>`;
  $("#downloads").innerHTML = `<h2>${esc(t("downloads.title"))}</h2><ul>
<li><a href="csv/stations.csv.gz" download>${esc(t("downloads.stations"))}</a></li>
<li><a href="csv/units.csv" download>${esc(t("downloads.units"))}</a></li>${S.election.contests.some((c) => c.preferences) ? `
<li><a href="csv/preferences.csv" download>${esc(t("downloads.preferences"))}</a></li>` : ""}
<li id="cdf-link"><a href="cdf/election-report.json" download>${esc(t("downloads.cdf"))}</a></li></ul>`;
  checkCdf();
  $("#howto").innerHTML = `<h2>${esc(t("howto.title"))}</h2><p>${esc(t("howto.text"))}</p>
<pre class="cmd" data-testid="verify-command">${esc(cmd.join(" \\\n"))}</pre><p>${esc(t("howto.exit"))}</p>`;
}

let cdfPresent = null;
async function checkCdf() {
  if (cdfPresent === null) {
    try {
      cdfPresent = (await fetch("cdf/election-report.json", { method: "HEAD", cache: "no-cache" })).ok;
    } catch {
      cdfPresent = false;
    }
  }
  const li = $("#cdf-link");
  if (li && !cdfPresent) li.textContent = t("downloads.nocdf");
}

// Node's tests import this module for its pure functions; only a page starts it.
if (globalThis.document) start();
