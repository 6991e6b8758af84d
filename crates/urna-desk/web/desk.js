// The desk's page: login, keying a protocol (keyboard first: Enter moves on), the
// coordinator's side-by-side view, the administrator's accounts, progress that refreshes by
// itself. Every POST carries the session's CSRF token; the server's checks are the ones that
// count, the page only shows them. No innerHTML: every text goes through textContent.

import { LANGUAGES, language, pickLanguage, setLanguage, t } from "./i18n.js";

const $ = (sel) => document.querySelector(sel);
let session = null;
let entry = null;
let diff = null;
let progressTimer = null;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function say(text) {
  $("#status").textContent = text;
}

async function api(method, path, body) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (method === "POST") {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify({ ...(body || {}), csrf: session ? session.csrf : "" });
  }
  const r = await fetch(path, init);
  const json = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = new Error(json.message || r.statusText);
    err.code = json.error;
    throw err;
  }
  return json;
}

function translate() {
  document.documentElement.lang = language();
  for (const e of document.querySelectorAll("[data-t]")) e.textContent = t(e.dataset.t);
  const station = session && session.station;
  if (station) {
    // Polling-station mode: one station, its board's chair and member.
    $("#title").textContent = document.title = t("station.title");
    if (session.user) {
      $("#who").textContent = t("who.station", { name: session.user.name, seat: t("seat." + station.seat), station: station.id });
    }
  } else if (session && session.user) {
    $("#who").textContent = t("who", {
      name: session.user.name,
      role: t("role." + session.user.role),
      centre: session.centre,
    });
  }
}

function show(...ids) {
  for (const id of ["login", "password", "typist", "coordinator", "admin", "progress", "audit"]) {
    $("#" + id).hidden = !ids.includes(id);
  }
  $("#logout").hidden = !(session && session.user);
}

async function load() {
  session = await api("GET", "/api/session");
  translate();
  const u = session.user;
  clearInterval(progressTimer);
  if (!u) return show("login");
  if (u.must_change) return show("password");
  if (u.role === "typist") show("typist", "progress", "audit");
  if (session.station) {
    // The station is fixed; with one contest, so is the contest.
    $("#claim-station").value = session.station.id;
    $("#claim-station").readOnly = true;
    if (session.station.contests.length === 1) $("#claim-contest").value = session.station.contests[0];
  }
  if (u.role === "coordinator") {
    show("coordinator", "progress", "audit");
    await loadDifferences();
    await loadQuarantine();
  }
  if (u.role === "administrator") show("admin", "progress");
  await loadProgress();
  progressTimer = setInterval(() => loadProgress().catch(() => {}), 5000);
}

// A polling station's protocols: one row a contest, with its round and what the last one decided.
function stationProgress(p) {
  const rows = $("#progress-rows");
  rows.replaceChildren();
  for (const c of p.contests) {
    const parts = [];
    if (c.queue) parts.push(t("station.queue." + c.queue));
    else parts.push(t("station.round", { round: c.round, entered: c.entered }));
    if (!c.queue && c.last === "differ") parts.push(t("station.last.differ", { round: c.round - 1 }));
    if (!c.queue && c.last === "confirm") parts.push(t("station.last.confirm", { round: c.round - 1, rules: c.rules }));
    const tr = el("tr");
    tr.dataset.contest = c.contest;
    const td = el("td", parts.join("; "));
    if (c.text) {
      // What was signed, as the note says it: after a restart the board sees the numbers the
      // station's key signed, whether or not anyone was told at the time.
      const d = el("details");
      d.append(el("summary", t("station.signed", { hash: c.sha256.slice(0, 16) })), el("pre", c.text));
      td.append(d);
    }
    tr.append(el("th", c.contest), td);
    rows.append(tr);
  }
  $("#progress h3").hidden = $("#progress-units").closest("table").hidden = true;
}

async function loadProgress() {
  const p = await api("GET", "/api/progress");
  if (session.station) return stationProgress(p);
  const rows = $("#progress-rows");
  rows.replaceChildren();
  for (const k of ["protocols", "not_started", "entering", "entered_once", "differences", "signed", "delivered", "refused"]) {
    const tr = el("tr");
    tr.append(el("th", t("progress." + k)), el("td", String(p[k])));
    rows.append(tr);
  }
  // Per municipality: refreshed with the rest, every 5 seconds.
  const cols = ["protocols", "entered_once", "entered_twice", "differences", "resolved", "signed", "delivered"];
  const head = $("#progress-units-head");
  head.replaceChildren(el("th", t("progress.unit")), ...cols.map((k) => el("th", t("progress." + k))));
  const units = $("#progress-units");
  units.replaceChildren();
  for (const u of p.units || []) {
    const tr = el("tr");
    tr.dataset.unit = u.unit;
    tr.append(el("th", `${u.name} (${u.unit})`), ...cols.map((k) => {
      const td = el("td", String(u[k]));
      td.dataset.k = k;
      return td;
    }));
    units.append(tr);
  }
  if (session.user.role === "coordinator") {
    await loadDifferences();
    await loadQuarantine();
  }
  if (session.user.role !== "administrator") await loadAudit();
}

// ---- typist ----

function renderChecks(v) {
  const box = $("#checks");
  box.replaceChildren();
  if (!v.complete) {
    box.append(el("p", t("entry.missing", { what: v.missing })));
    return;
  }
  if (v.violations.length === 0) box.append(el("p", t("entry.ok")));
  for (const x of v.violations) {
    box.append(el("p", `${t("severity." + x.severity)} ${x.rule}: ${x.message} (${x.detail})`, x.severity));
  }
}

// An audit hand count's entry names its own API; a protocol's is /api/entries/<id>.
function entryApi() {
  return entry.api || `/api/entries/${entry.entry}`;
}

// The hand count's invalid line is named in the page's language.
function lineLabel(e, line) {
  return e.audit && line.key === "invalid" ? t("audit.invalid") : line.label;
}

function openEntry(e) {
  entry = e;
  $("#entry").hidden = false;
  $("#entry-title").textContent = t(e.audit ? "audit.entry" : "entry.title", { station: e.station, contest: e.contest, slot: e.slot });
  $("#scan").closest("label").hidden = !!e.audit;
  const body = $("#entry-lines");
  body.replaceChildren();
  const inputs = [];
  for (const line of e.lines) {
    const tr = el("tr");
    const input = el("input");
    input.inputMode = "numeric";
    input.autocomplete = "off";
    input.dataset.key = line.key;
    input.id = "line-" + line.key.replaceAll(":", "-");
    input.value = e.values[line.key] ?? "";
    input.disabled = e.done;
    const label = el("label", lineLabel(e, line));
    label.htmlFor = input.id;
    const th = el("th");
    th.append(label);
    const td = el("td");
    td.append(input);
    tr.append(th, td);
    body.append(tr);
    inputs.push(input);
  }
  inputs.forEach((input, i) => {
    input.addEventListener("change", () => saveLine(input));
    input.addEventListener("keydown", (ev) => {
      if (ev.key !== "Enter") return;
      ev.preventDefault();
      saveLine(input);
      if (i + 1 < inputs.length) inputs[i + 1].focus();
      else $("#finish").focus();
    });
  });
  if (inputs.length) inputs[0].focus();
}

// Saves run one after another, in the order keyed; finishing waits for the last one.
let saving = Promise.resolve();

function saveLine(input) {
  saving = saving.then(() => saveNow(input));
  return saving;
}

async function saveNow(input) {
  if (!entry) return;
  try {
    const v = await api("POST", `${entryApi()}/line`, { key: input.dataset.key, value: input.value });
    input.removeAttribute("aria-invalid");
    renderChecks(v);
    say(t("entry.saved"));
  } catch (e) {
    input.setAttribute("aria-invalid", "true");
    say(t("error", { message: e.message }));
  }
}

// ---- coordinator ----

async function loadDifferences() {
  const d = await api("GET", "/api/differences");
  const list = $("#diff-list");
  list.replaceChildren();
  if (d.differences.length === 0 && !(d.refused || []).length) list.append(el("li", t("diff.none")));
  for (const x of d.differences) {
    const li = el("li");
    const b = el("button", `${x.contest} / ${x.station}`);
    b.type = "button";
    b.addEventListener("click", () => openDifference(x.contest, x.station));
    li.append(b);
    list.append(li);
  }
  // Protocols the log refused: the log's reason, and new entries as the way out.
  for (const x of d.refused || []) {
    const li = el("li");
    const b = el("button", t("diff.refused", { contest: x.contest, station: x.station, why: x.why || "" }));
    b.type = "button";
    b.addEventListener("click", () => openDifference(x.contest, x.station));
    li.append(b);
    list.append(li);
  }
}

async function openDifference(contest, station, path) {
  const p = await api("GET", path || `/api/protocols/${encodeURIComponent(contest)}/${encodeURIComponent(station)}`);
  diff = p;
  $("#diff").hidden = false;
  $("#diff-title").textContent =
    p.state === "refused" ? t("diff.refused", { contest, station, why: p.why || "" }) : `${contest} / ${station}`;
  const [a, b] = p.entries;
  $("#diff-h1").textContent = a ? t("diff.entry", { slot: 1, typist: a.typist }) : "";
  $("#diff-h2").textContent = b ? t("diff.entry", { slot: 2, typist: b.typist }) : "";
  const body = $("#diff-lines");
  body.replaceChildren();
  for (const line of p.lines) {
    const tr = el("tr", undefined, p.differing.includes(line.key) ? "differ" : "");
    tr.append(el("th", lineLabel(p, line)), el("td", String(a?.values[line.key] ?? "")), el("td", String(b?.values[line.key] ?? "")));
    body.append(tr);
  }
  const checks = $("#diff-checks");
  checks.replaceChildren();
  p.entries.forEach((e, i) => {
    for (const x of e.validation.violations) {
      checks.append(el("p", `${i + 1}: ${t("severity." + x.severity)} ${x.rule}: ${x.message} (${x.detail})`, x.severity));
    }
  });
}

async function resolve(action) {
  if (!diff) return;
  try {
    const path = diff.api || `/api/protocols/${encodeURIComponent(diff.contest)}/${encodeURIComponent(diff.station)}`;
    const r = await api("POST", `${path}/resolve`, {
      // The round shown: a decision on entries replaced meanwhile is refused, not applied to the new ones.
      round: diff.round,
      action,
      reason: $("#diff-reason").value,
    });
    say(t("diff.done", { state: t("state." + r.state) }));
    $("#diff").hidden = true;
    diff = null;
    await loadProgress();
  } catch (e) {
    say(t("error", { message: e.message }));
  }
}

// ---- coordinator: quarantine decisions ----

let quarantineShown = "";

async function loadQuarantine() {
  const q = await api("GET", "/api/quarantine");
  const json = JSON.stringify(q) + language();
  // Redrawn only when something changed, so a reason being typed is kept.
  if (json === quarantineShown) return;
  quarantineShown = json;
  const list = $("#quar-list");
  list.replaceChildren();
  if (q.quarantined.length === 0) list.append(el("li", t("quar.none")));
  for (const x of q.quarantined) {
    const li = el("li");
    li.dataset.station = x.station;
    li.append(el("h3", `${x.contest} / ${x.station}`));
    for (const v of x.violations.filter((v) => v.severity === "error")) {
      li.append(el("p", `${t("severity.error")} ${v.rule}: ${v.message} (${v.detail})`, "error"));
    }
    for (const d of x.decisions) {
      li.append(el("p", t("quar.decided", { decision: t("decision." + d.decision), by: d.by, reason: d.reason, state: t("quar.state." + d.state) }), "decided"));
    }
    if (x.state === "delivered") {
      const label = el("label");
      const input = el("input");
      input.className = "quar-reason";
      label.append(el("span", t("diff.reason") + " "), input);
      li.append(label);
      for (const kind of ["accept", "recount", "annul"]) {
        const b = el("button", t("quar." + kind));
        b.type = "button";
        b.dataset.decision = kind;
        b.addEventListener("click", () => decide(x, kind, input.value));
        li.append(b);
      }
    } else {
      li.append(el("p", t("quar.recounting")));
    }
    list.append(li);
  }
}

async function decide(x, decision, reason) {
  try {
    const r = await api("POST", "/api/decisions", { contest: x.contest, station: x.station, entry: x.entry, decision, reason });
    say(t("quar.done", { station: x.station, decision: t("decision." + r.decision) }));
    await loadQuarantine();
  } catch (e) {
    say(t("error", { message: e.message }));
  }
}

// ---- audit hand counts ----

let auditShown = "";

// The sampled stations of the centre: a typist opens one to key its hand count, a
// coordinator opens one in difference.
async function loadAudit() {
  const a = await api("GET", "/api/audit");
  $("#audit").hidden = !a.enabled;
  const json = JSON.stringify(a) + language();
  if (json === auditShown) return;
  auditShown = json;
  const list = $("#audit-list");
  list.replaceChildren();
  if (a.stations.length === 0) list.append(el("li", t("audit.none")));
  const role = session.user.role;
  for (const x of a.stations) {
    const li = el("li");
    li.dataset.station = x.station;
    const text = t("audit.item", { contest: x.contest, station: x.station, round: x.round, state: t("audit.state." + x.state) });
    const path = `/api/audit/counts/${encodeURIComponent(x.contest)}/${encodeURIComponent(x.station)}`;
    if (role === "typist" && (x.state === "open" || x.state === "entering")) {
      const b = el("button", text);
      b.type = "button";
      b.addEventListener("click", async () => {
        try {
          openEntry(await api("POST", "/api/audit/claim", { contest: x.contest, station: x.station }));
        } catch (e) {
          say(t("error", { message: e.message }));
        }
      });
      li.append(b);
    } else if (role === "coordinator" && x.state === "difference") {
      const b = el("button", text);
      b.type = "button";
      b.addEventListener("click", () => openDifference(x.contest, x.station, path));
      li.append(b);
    } else {
      li.append(el("span", text));
    }
    list.append(li);
  }
}

// ---- wiring ----

function form(id, handler) {
  $(id).addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await handler();
    } catch (e) {
      say(t("error", { message: e.message }));
    }
  });
}

function init() {
  const sel = $("#lang");
  for (const l of LANGUAGES) {
    const o = el("option", l.label);
    o.value = l.code;
    o.lang = l.code;
    sel.append(o);
  }
  setLanguage(new URLSearchParams(location.search).get("lang") || localStorage.getItem("urna.desk.lang") || pickLanguage());
  sel.value = language();
  sel.addEventListener("change", () => {
    setLanguage(sel.value);
    localStorage.setItem("urna.desk.lang", sel.value);
    translate();
  });
  form("#login", async () => {
    await api("POST", "/api/login", { name: $("#login-name").value, password: $("#login-password").value });
    $("#login-password").value = "";
    say("");
    await load();
  });
  form("#password", async () => {
    // The session is renewed with the password (new cookie, new token): load() reads it.
    await api("POST", "/api/password", { old: $("#pw-old").value, new: $("#pw-new").value });
    $("#pw-old").value = $("#pw-new").value = "";
    await load();
  });
  form("#claim", async () => {
    openEntry(await api("POST", "/api/claim", { contest: $("#claim-contest").value, station: $("#claim-station").value }));
  });
  form("#entry", async () => {
    await saving;
    const r = await api("POST", `${entryApi()}/finish`, {});
    say(t("entry.done", { state: t("state." + r.protocol) }));
    const audited = entry.audit;
    $("#entry").hidden = true;
    entry = null;
    if (audited) return loadAudit();
    if (session.station) {
      await loadProgress();
      $("#claim-contest").focus();
    } else {
      $("#claim-station").value = "";
      $("#claim-station").focus();
    }
  });
  form("#adduser", async () => {
    const name = $("#au-name").value;
    await api("POST", "/api/users", { name, role: $("#au-role").value, password: $("#au-password").value });
    say(t("admin.added", { name }));
    $("#au-name").value = $("#au-password").value = "";
  });
  form("#manageuser", async () => {
    const name = $("#mu-name").value;
    const action = $("#mu-action").value;
    const body = action === "reset" ? { password: $("#mu-password").value } : {};
    const r = await api("POST", `/api/users/${encodeURIComponent(name)}/${action}`, body);
    say(t("manage.done", { name, action: t("manage." + action), sessions: r.sessions_ended }));
    $("#mu-password").value = "";
  });
  $("#scan").addEventListener("change", async (ev) => {
    const file = ev.target.files[0];
    if (!file || !entry) return;
    // The file as it is; the CSRF token in a header, since the body is not JSON.
    const r = await fetch(`/api/scans/${encodeURIComponent(entry.contest)}/${encodeURIComponent(entry.station)}`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": session.csrf, "Content-Type": "application/octet-stream" },
      body: file,
    });
    const json = await r.json().catch(() => ({}));
    say(r.ok ? t("entry.scanned", { hash: json.scan }) : t("error", { message: json.message || r.statusText }));
  });
  $("#keep-1").addEventListener("click", () => resolve("keep-1"));
  $("#keep-2").addEventListener("click", () => resolve("keep-2"));
  $("#reenter").addEventListener("click", () => resolve("reenter"));
  $("#logout").addEventListener("click", async () => {
    await api("POST", "/api/logout", {});
    await load();
  });
  load().catch((e) => say(t("error", { message: e.message })));
}

init();
