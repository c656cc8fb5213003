// The wf dashboard: plain JavaScript over wf serve's own API, same origin, no build step.
// Every piece of data is put into the page as text (h() below), never as HTML.
"use strict";

const API = "/v1.0/workflows/dapr";
const PAGE = 50;
const REFRESH_MS = 3000;
const TERMINAL = new Set(["COMPLETED", "FAILED", "TERMINATED", "CANCELED"]);
const STATUSES = ["RUNNING", "PENDING", "SUSPENDED", "COMPLETED", "FAILED", "TERMINATED", "CANCELED", "CONTINUED_AS_NEW", "STALLED"];
const RANK = { read: 0, operate: 1, admin: 2 };
// The least role each action needs (as wf serve checks it; the page only hides what would be refused).
const NEEDS = { raise: "operate", suspend: "operate", resume: "operate", terminate: "operate", rerun: "operate", purge: "admin", bulk: "admin", retention: "admin" };

const S = {
  token: sessionStorage.getItem("wf-token") || "",
  app: sessionStorage.getItem("wf-app") || "",
  meta: null,
  role: "admin",
  paused: false,
  timer: null,
  cursors: [null],  // continuation tokens of the pages seen, for "newer"
  selected: new Set(),
  counts: null,  // {key, value}: the status counts last drawn, kept across auto-refreshes
  seq: 0,  // render generation: a late answer for an older view is dropped
};

// ------------------------------------------------------------------------------------ DOM helpers

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  return node;
}
const $ = (sel) => document.querySelector(sel);
const allowed = (action) => RANK[S.role] >= RANK[NEEDS[action]];
const statusBadge = (s) => h("span", { class: "status " + s }, s);

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}
function ago(iso) {
  if (!iso) return "";
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  const a = Math.abs(s);
  const txt = a < 60 ? a + "s" : a < 3600 ? Math.round(a / 60) + "m" : a < 172800 ? Math.round(a / 3600) + "h" : Math.round(a / 86400) + "d";
  return s >= 0 ? txt + " ago" : "in " + txt;
}
function pretty(text) {
  if (text === null || text === undefined || text === "") return "";
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return String(text); }
}
function toast(text, bad) {
  const t = $("#toast");
  t.textContent = text;
  t.className = bad ? "bad" : "";
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, bad ? 7000 : 3500);
}

// Go-style durations plus d and w ("90s", "1h30m", "7d"), as the CLI takes them.
function parseDuration(text) {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g;
  const unit = { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 };
  let total = 0, used = 0, m;
  while ((m = re.exec(text)) !== null) { total += parseFloat(m[1]) * unit[m[2]]; used += m[0].length; }
  return used === text.length && used > 0 ? total : null;
}

// ------------------------------------------------------------------------------------------ API

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(method, path, { params, body, app = true } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v === null || v === undefined || v === "") continue;
    for (const one of [].concat(v)) url.searchParams.append(k, one);
  }
  if (app && S.app && !url.searchParams.has("appID")) url.searchParams.set("appID", S.app);
  const headers = {};
  if (S.token) headers["dapr-api-token"] = S.token;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  const r = await fetch(url, { method, headers, body: payload, cache: "no-store", credentials: "same-origin" });
  if (r.status === 401) {
    await login(S.token ? "That token was refused." : "");
    return api(method, path, { params, body, app });
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!r.ok) throw new ApiError(r.status, data && data.errorCode, (data && data.message) || r.status + " " + r.statusText);
  return data;
}

// Resolved once a token works (a 401 on any call opens the dialog again).
let loginWaiters = null;
function login(problem) {
  if (loginWaiters) return new Promise((ok) => loginWaiters.push(ok));
  loginWaiters = [];
  return new Promise((resolve) => {
    loginWaiters.push(resolve);
    const dlg = $("#login");
    const err = $("#login-error");
    err.textContent = problem || "";
    err.hidden = !problem;
    $("#login-token").value = "";
    const submit = async (ev) => {
      ev.preventDefault();
      const candidate = $("#login-token").value.trim();
      const r = await fetch("/v1.0/metadata", { headers: { "dapr-api-token": candidate }, cache: "no-store" });
      if (r.status === 401) { err.textContent = "That token was refused."; err.hidden = false; return; }
      S.token = candidate;
      sessionStorage.setItem("wf-token", candidate);
      $("#login-form").removeEventListener("submit", submit);
      dlg.close();
      const waiters = loginWaiters;
      loginWaiters = null;
      S.meta = null;
      waiters.forEach((w) => w());
    };
    $("#login-form").addEventListener("submit", submit);
    dlg.addEventListener("cancel", (ev) => ev.preventDefault());  // no way around it but a token
    dlg.showModal();
  });
}

async function loadMeta() {
  if (S.meta) return S.meta;
  S.meta = await api("GET", "/v1.0/metadata", { app: false });
  const wf = S.meta.wf || {};
  S.role = wf.role && RANK[wf.role] !== undefined ? wf.role : "admin";
  $("#who").textContent = (wf.tokenName ? wf.tokenName + " · " : "") + (S.token ? S.role : "");
  $("#logout").hidden = !S.token;
  if (!S.app) S.app = wf.appID || S.meta.id || "default";
  $("#app").replaceChildren(h("option", { value: S.app }, S.app));
  loadApps();  // in the background: the first page does not wait for a count over the whole store
  return S.meta;
}

async function loadApps() {
  const pick = $("#app");
  let apps = [S.app];
  try {
    const counts = await api("GET", API, { params: { countBy: "app" }, app: false });
    apps = [...new Set([S.app, ...Object.keys((counts && counts.counts) || {})])];
  } catch { /* an engine that cannot count still has the server's own app */ }
  pick.replaceChildren(...apps.sort().map((a) => h("option", { value: a, selected: a === S.app }, a)));
}

// --------------------------------------------------------------------------------- confirmations

// ask({title, text, fields: [{name, label, type, value, placeholder, options}], ok}) -> values | null
function ask({ title, text, fields = [], ok = "OK", danger = false, check }) {
  return new Promise((resolve) => {
    const dlg = $("#confirm");
    $("#confirm-title").textContent = title;
    $("#confirm-text").textContent = text || "";
    const err = $("#confirm-error");
    err.hidden = true;
    const inputs = {};
    $("#confirm-fields").replaceChildren(...fields.map((f) => {
      const id = "f-" + f.name;
      const input = f.options
        ? h("select", { id, name: f.name }, f.options.map((o) => h("option", { value: o.value }, o.label)))
        : f.type === "textarea"
          ? h("textarea", { id, name: f.name, placeholder: f.placeholder || "" })
          : h("input", { id, name: f.name, type: f.type || "text", placeholder: f.placeholder || "", required: f.required });
      if (f.value !== undefined) input.value = f.value;
      inputs[f.name] = input;
      return h("div", {}, h("label", { for: id }, f.label), input);
    }));
    const okButton = $("#confirm-ok");
    okButton.textContent = ok;
    okButton.className = danger ? "danger" : "primary";
    const done = (ev) => {
      if (dlg.returnValue !== "ok") { cleanup(); resolve(null); return; }
      const values = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.value]));
      const problem = check ? check(values) : null;
      if (problem) {  // keep the dialog open with the reason
        err.textContent = problem;
        err.hidden = false;
        dlg.showModal();
        return;
      }
      cleanup();
      resolve(values);
    };
    const cleanup = () => dlg.removeEventListener("close", done);
    dlg.addEventListener("close", done);
    dlg.returnValue = "";
    dlg.showModal();
  });
}

const jsonCheck = (...names) => (values) => {
  for (const n of names) {
    if (!values[n].trim()) continue;
    try { JSON.parse(values[n]); } catch { return n + " is not valid JSON"; }
  }
  return null;
};

async function act(label, fn) {
  try {
    const result = await fn();
    toast(label + ": done");
    return result;
  } catch (e) {
    toast(label + ": " + e.message, true);
    return undefined;
  }
}

// --------------------------------------------------------------------------------------- router

function route() {
  const hash = location.hash.slice(1) || "/";
  const [path, query] = hash.split("?");
  return { path, params: new URLSearchParams(query || "") };
}

async function render() {
  clearTimeout(S.timer);
  const seq = ++S.seq;
  const { path, params } = route();
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", false);
  try {
    const meta = loadMeta();  // the instances page asks for its rows meanwhile (same app by default)
    if (!path.startsWith("/i/") && path !== "/") await meta;
    if (seq !== S.seq) return;
    let view;
    if (path.startsWith("/i/")) view = await instanceView(decodeURIComponent(path.slice(3)), seq, meta);
    else if (path === "/workers") view = await workersView();
    else if (path === "/retention") view = await retentionView();
    else if (path === "/audit") view = await auditView(params);
    else view = await instancesView(params, seq, meta);
    if (seq !== S.seq || !view) return;
    const nav = path.startsWith("/i/") || path === "/" ? "instances" : path.slice(1);
    const link = document.querySelector(`[data-nav="${nav}"]`);
    if (link) link.classList.add("active");
    $("#view").replaceChildren(view);
    performance.mark("wf:view");  // bench/dashboard.py reads the first one: when the data was on the page
  } catch (e) {
    if (seq === S.seq) $("#view").replaceChildren(h("div", { class: "panel error" }, e.message));
  }
}

// Auto-refresh redraws the view; not while a dialog is open or someone is typing in a field.
function busy() {
  const a = document.activeElement;
  return document.querySelector("dialog[open]") !== null ||
    (a !== null && ["INPUT", "TEXTAREA", "SELECT"].includes(a.tagName) && a.type !== "checkbox");
}

function schedule(fn) {
  clearTimeout(S.timer);
  if (S.paused) return;
  const tick = () => { if (busy()) S.timer = setTimeout(tick, REFRESH_MS); else fn(); };
  S.timer = setTimeout(tick, REFRESH_MS);
}

// ------------------------------------------------------------------------------------ instances

function filtersFrom(params) {
  return {
    status: params.getAll("status"),
    name: params.get("name") || "",
    age: params.get("age") || "",
    prefix: params.get("prefix") || "",
    cursor: params.get("cursor") || "",
  };
}

function filterQuery(f, extra) {
  const q = new URLSearchParams();
  f.status.forEach((s) => q.append("status", s));
  if (f.name) q.set("name", f.name);
  if (f.age) q.set("age", f.age);
  if (f.prefix) q.set("prefix", f.prefix);
  for (const [k, v] of Object.entries(extra || {})) if (v) q.set(k, v);
  const s = q.toString();
  return "#/" + (s ? "?" + s : "");
}

function apiFilter(f) {
  const ms = f.age ? parseDuration(f.age) : null;
  return {
    status: f.status.length ? f.status.join(",") : null,
    name: f.name || null,
    createdAfter: ms ? new Date(Date.now() - ms).toISOString() : null,
    idPrefix: f.prefix || null,
  };
}

async function instancesView(params, seq, meta) {
  const f = filtersFrom(params);
  if (f.age && parseDuration(f.age) === null) toast(`"${f.age}" is not a duration (e.g. 90s, 2h, 7d)`, true);
  const flt = apiFilter(f);
  // The rows come first; the counts (a scan of the selection) fill the chips when they arrive.
  const counting = api("GET", API, { params: { ...flt, status: null, countBy: "status" } }).catch(() => null);
  const naming = api("GET", API, { params: { countBy: "name" } }).catch(() => null);
  const page = await api("GET", API, { params: { ...flt, limit: PAGE, continuationToken: f.cursor || null } });
  await meta;  // the role decides which bulk buttons show
  const rows = page.instances || [];
  const visible = new Set(rows.map((r) => r.instanceID));
  for (const id of [...S.selected]) if (!visible.has(id)) S.selected.delete(id);

  const go = (change) => { location.hash = filterQuery({ ...f, ...change }); };
  const nameInput = h("input", { id: "f-name", placeholder: "workflow name", list: "names", value: f.name });
  const ageInput = h("input", { id: "f-age", placeholder: "age: 1h, 7d", value: f.age });
  const prefixInput = h("input", { id: "f-prefix", placeholder: "id prefix", value: f.prefix });
  const apply = (ev) => {
    ev.preventDefault();
    S.cursors = [null];
    go({ name: nameInput.value.trim(), age: ageInput.value.trim(), prefix: prefixInput.value.trim(), cursor: "" });
  };
  const form = h("form", { class: "filters", id: "filters", onsubmit: apply },
    nameInput, h("datalist", { id: "names" }),
    ageInput, prefixInput,
    h("button", { type: "submit", class: "primary", id: "apply" }, "Filter"),
    h("button", { type: "button", onclick: () => { S.cursors = [null]; location.hash = "#/"; } }, "Clear"),
    h("span", { class: "spacer" }),
    h("button", { type: "button", id: "pause", onclick: () => { S.paused = !S.paused; render(); } },
      S.paused ? "Resume auto-refresh" : "Pause auto-refresh"));

  // Chips: every status until the counts arrive; then those present (or chosen), with their counts.
  const chips = h("div", { class: "chips", id: "chips" });
  const total = h("span", { class: "muted" });
  const drawChips = (counts) => {
    const countMap = (counts && counts.counts) || {};
    chips.replaceChildren(...STATUSES.filter((s) => !counts || countMap[s] || f.status.includes(s)).map((s) => {
      const on = f.status.includes(s);
      return h("button", { class: "chip" + (on ? " on" : ""), "data-status": s, type: "button",
        onclick: () => { S.cursors = [null]; go({ status: on ? f.status.filter((x) => x !== s) : [...f.status, s], cursor: "" }); } },
        s, counts ? h("b", {}, String(countMap[s] || 0)) : null);
    }));
    const selected = Object.entries(countMap).filter(([s]) => !f.status.length || f.status.includes(s)).reduce((a, [, n]) => a + n, 0);
    total.textContent = counts ? `${rows.length} shown of ${selected}` : `${rows.length} shown`;
  };
  const countKey = S.app + "|" + JSON.stringify({ ...flt, status: null });
  drawChips(S.counts && S.counts.key === countKey ? S.counts.value : null);  // the last counts, no flicker on refresh
  counting.then((counts) => {
    if (counts) S.counts = { key: countKey, value: counts };
    if (seq === S.seq && counts) drawChips(counts);
  });
  naming.then((names) => {
    if (seq === S.seq && names) form.querySelector("#names").replaceChildren(...Object.keys(names.counts || {}).map((n) => h("option", { value: n })));
  });

  const selectAll = h("input", { type: "checkbox", "aria-label": "select all on this page", checked: rows.length > 0 && rows.every((r) => S.selected.has(r.instanceID)),
    onchange: (ev) => { rows.forEach((r) => ev.target.checked ? S.selected.add(r.instanceID) : S.selected.delete(r.instanceID)); render(); } });
  const table = h("table", { id: "instances" },
    h("thead", {}, h("tr", {}, h("th", {}, selectAll), h("th", {}, "Instance"), h("th", {}, "Workflow"), h("th", {}, "Status"),
      h("th", {}, "Created"), h("th", {}, "Updated"), h("th", {}, "Custom status"))),
    h("tbody", {}, rows.length ? rows.map((r) => {
      const id = r.instanceID;
      return h("tr", { class: S.selected.has(id) ? "sel" : "", "data-id": id },
        h("td", {}, h("input", { type: "checkbox", "aria-label": "select " + id, checked: S.selected.has(id),
          onchange: (ev) => { ev.target.checked ? S.selected.add(id) : S.selected.delete(id); render(); } })),
        h("td", { class: "id" }, h("a", { href: "#/i/" + encodeURIComponent(id) }, id)),
        h("td", {}, r.workflowName),
        h("td", {}, statusBadge(r.runtimeStatus)),
        h("td", { title: when(r.createdAt) }, ago(r.createdAt)),
        h("td", { title: when(r.lastUpdatedAt) }, ago(r.lastUpdatedAt)),
        h("td", { class: "cut" }, (r.properties || {})["dapr.workflow.custom_status"] || ""));
    }) : h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No instances match."))));

  const cursorIndex = S.cursors.indexOf(f.cursor || null);
  const pager = h("div", { class: "pager" },
    h("button", { id: "newer", disabled: !f.cursor, onclick: () => go({ cursor: cursorIndex > 0 ? S.cursors[cursorIndex - 1] || "" : "" }) }, "← Newer"),
    h("button", { id: "older", disabled: !page.continuationToken, onclick: () => {
      if (!S.cursors.includes(page.continuationToken)) S.cursors.push(page.continuationToken);
      go({ cursor: page.continuationToken });
    } }, "Older →"),
    total);

  schedule(() => { if (seq === S.seq) render(); });
  return h("div", {},
    h("h1", {}, "Instances", h("span", { class: "muted" }, "app " + S.app)),
    h("div", { class: "panel" }, form, chips),
    bulkBar(f, [...S.selected]),
    table, pager);
}

function bulkBar(f, ids) {
  const flt = apiFilter(f);
  const described = [f.status.length ? f.status.join("/") : "", f.name, f.prefix ? "ids " + f.prefix + "*" : "", f.age ? "newer than " + f.age : ""]
    .filter(Boolean).join(", ") || "every instance";
  const ops = [
    { op: "suspend", label: "Suspend", reason: true },
    { op: "resume", label: "Resume", reason: true },
    { op: "terminate", label: "Terminate", reason: true, danger: true },
    { op: "purge", label: "Purge", danger: true },
  ].filter((o) => allowed(o.op) && allowed("bulk"));
  if (!ops.length) return null;
  const onSelected = (o) => async () => {
    const ids = [...S.selected];  // as of the click: a redraw for the last tick may still be on its way
    const values = await ask({ title: `${o.label} ${ids.length} instance${ids.length === 1 ? "" : "s"}?`,
      text: `${o.label} ${ids.join(", ").slice(0, 400)} in app ${S.app}.`, ok: o.label, danger: o.danger,
      fields: o.reason ? [{ name: "reason", label: "Reason (recorded in the audit trail)" }] : [] });
    if (!values) return;
    await act(`${o.label} ${ids.length}`, () => bulk(o.op, { instanceIDs: ids, reason: values.reason || undefined }));
    S.selected.clear();
    render();
  };
  const onFilter = (o) => async () => {
    const body = o.op === "purge" ? purgeFilter(flt) : bulkFilter(flt);
    let n;
    try {
      const dry = await bulk(o.op, { ...body, dryRun: true });
      n = dry.matchingInstanceCount;
    } catch (e) { toast(e.message, true); return; }
    const values = await ask({ title: `${o.label} ${n} instance${n === 1 ? "" : "s"}?`,
      text: `${o.label} the ${n} instance${n === 1 ? "" : "s"} of app ${S.app} matching: ${described}` +
        (o.op === "purge" ? " (finished ones only)." : " (those the operation applies to)."),
      ok: `${o.label} ${n}`, danger: o.danger,
      fields: o.reason ? [{ name: "reason", label: "Reason (recorded in the audit trail)" }] : [] });
    if (!values) return;
    const result = await act(`${o.label} ${n}`, () => bulk(o.op, { ...body, reason: values.reason || undefined }));
    if (result) toast(summary(o.label, result));
    render();
  };
  return h("div", { class: "panel actions", id: "bulk" },
    h("strong", {}, ids.length ? `${ids.length} selected:` : "Selected:"),
    ops.map((o) => h("button", { class: o.danger ? "danger" : "", disabled: !ids.length, "data-bulk": "selected-" + o.op, onclick: onSelected(o) }, o.label)),
    h("span", { class: "spacer" }),
    h("strong", {}, "All matching the filter:"),
    ops.map((o) => h("button", { class: o.danger ? "danger" : "", "data-bulk": "filter-" + o.op, onclick: onFilter(o) }, o.label + "…")));
}

function bulkFilter(flt) {
  const body = {};
  if (flt.status) body.status = flt.status;
  if (flt.name) body.name = flt.name;
  if (flt.createdAfter) body.createdAfter = flt.createdAfter;
  if (flt.idPrefix) body.idPrefix = flt.idPrefix;
  return body;
}
const purgeFilter = bulkFilter;

async function bulk(op, body) {
  const path = op === "purge" ? API + "/purge" : API + "/" + op;
  if (op === "purge" && body.instanceIDs) {  // a purge of chosen ids: one call each
    let done = 0;
    const failed = [];
    for (const id of body.instanceIDs) {
      try { await api("POST", `${API}/${encodeURIComponent(id)}/purge`); done++; } catch (e) { failed.push(id + ": " + e.message); }
    }
    if (failed.length) throw new Error(`${done} purged, ${failed.length} failed (${failed[0]})`);
    return { done };
  }
  const clean = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
  if (op === "purge") delete clean.reason;
  return api("POST", path, { body: clean });
}

function summary(label, r) {
  if (r.deletedInstanceCount !== undefined) return `${label}: ${r.deletedInstanceCount} purged`;
  const parts = [];
  for (const k of ["done", "skipped", "failed"]) if (r[k] !== undefined) parts.push(`${Array.isArray(r[k]) ? r[k].length : r[k]} ${k}`);
  return `${label}: ${parts.join(", ")}`;
}

// ------------------------------------------------------------------------------------- instance

async function instanceView(id, seq, meta) {
  const base = `${API}/${encodeURIComponent(id)}`;
  let state;
  try { [state] = await Promise.all([api("GET", base), meta]); } catch (e) {
    if (e.status === 404) return h("div", { class: "panel" }, h("h1", {}, id), h("p", { class: "error" }, e.message), h("a", { href: "#/" }, "← instances"));
    throw e;
  }
  const live = !TERMINAL.has(state.runtimeStatus);
  const [hist, pending] = await Promise.all([
    api("GET", base + "/history").catch(() => ({ events: [] })),
    live ? api("GET", base + "/pending").catch(() => null) : Promise.resolve(null),
  ]);
  const events = hist.events || [];
  const props = state.properties || {};
  const parent = props["dapr.workflow.parent_instance_id"] || props["wf.parent_instance_id"] || Object.entries(props).find(([k]) => k.endsWith("parent_instance_id"))?.[1];
  const children = events.filter((e) => e.event_type === "ChildWorkflowCreated" && e.extra && e.extra.instance_id);
  const failure = props["dapr.workflow.failure.error_message"];
  const stack = Object.entries(props).find(([k]) => k.endsWith("stack_trace"))?.[1];

  const card = h("dl", { class: "card", id: "state" },
    h("dt", {}, "Workflow"), h("dd", {}, state.workflowName),
    h("dt", {}, "Status"), h("dd", {}, statusBadge(state.runtimeStatus)),
    h("dt", {}, "App"), h("dd", {}, props["wf.app_id"] || S.app),
    h("dt", {}, "Created"), h("dd", {}, when(state.createdAt), " ", h("span", { class: "muted" }, ago(state.createdAt))),
    h("dt", {}, "Updated"), h("dd", {}, when(state.lastUpdatedAt), " ", h("span", { class: "muted" }, ago(state.lastUpdatedAt))),
    parent ? [h("dt", {}, "Parent"), h("dd", {}, h("a", { href: "#/i/" + encodeURIComponent(parent) }, parent))] : null,
    children.length ? [h("dt", {}, "Children"), h("dd", {}, children.map((c, i) => [i ? ", " : "", h("a", { href: "#/i/" + encodeURIComponent(c.extra.instance_id) }, c.extra.instance_id)]))] : null,
    h("dt", {}, "Input"), h("dd", {}, h("pre", { id: "input" }, pretty(props["dapr.workflow.input"]) || "—")),
    props["dapr.workflow.output"] !== undefined ? [h("dt", {}, "Output"), h("dd", {}, h("pre", { id: "output" }, pretty(props["dapr.workflow.output"])))] : null,
    props["dapr.workflow.custom_status"] ? [h("dt", {}, "Custom status"), h("dd", {}, h("pre", {}, pretty(props["dapr.workflow.custom_status"])))] : null,
    failure ? [h("dt", {}, "Failure"), h("dd", { class: "error", id: "failure" }, (props["dapr.workflow.failure.error_type"] || "Error") + ": " + failure,
      stack ? h("pre", {}, stack) : null)] : null);

  const waiting = pending && pending.pending && pending.pending.length
    ? h("div", { class: "panel", id: "waiting" }, h("h2", {}, "Waiting for"), h("ul", { class: "pending" }, pending.pending.map(pendingLine)))
    : null;

  const model = window.WfTimeline.build(events, Date.now(), live);
  const timeline = h("div", { class: "panel timeline", id: "timeline" }, h("h2", {}, "Timeline"),
    model.rows.length || model.marks.length ? window.WfTimeline.render(model, Date.now()) : h("p", { class: "muted" }, "Nothing scheduled yet."),
    h("div", { class: "legend" }, [["ok", "completed"], ["failed", "failed"], ["live", "in flight"], ["timer", "timer"],
      ["event", "event raised"], ["suspend", "suspend / resume"], ["end", "end"]].map(([k, t]) => h("span", {}, h("i", { class: "lg-" + k }), t))));

  const history = h("table", { id: "history" },
    h("thead", {}, h("tr", {}, ["#", "Event", "Name", "Time", "For", "Data / failure"].map((t) => h("th", {}, t)))),
    h("tbody", {}, events.map((e) => h("tr", { "data-event": e.event_type },
      h("td", {}, e.event_id >= 0 ? e.event_id : ""), h("td", {}, e.event_type), h("td", {}, e.name || ""),
      h("td", { title: e.timestamp }, when(e.timestamp)), h("td", {}, e.task_scheduled_id ?? ""),
      h("td", { class: "cut", title: e.failure_details ? e.failure_details.message : e.data || "" },
        e.failure_details ? e.failure_details.message : e.data || "")))));

  if (live) schedule(() => { if (seq === S.seq) render(); });
  return h("div", {},
    h("h1", {}, h("a", { href: "#/" }, "Instances"), " / ", h("span", { class: "mono", id: "instance-id" }, id), statusBadge(state.runtimeStatus)),
    instanceActions(id, state, events),
    h("div", { class: "panel" }, card),
    waiting, timeline,
    h("h2", {}, `History (${events.length} events)`), history);
}

function pendingLine(p) {
  const txt = {
    event: () => `external event "${p.name}"` + (p.since ? ` (waiting ${ago(p.since).replace(" ago", "")})` : ""),
    timer: () => `timer firing ${when(p.fire_at)} (${ago(p.fire_at)})`,
    activity: () => `activity ${p.name}` + (p.attempt ? `, attempt ${p.attempt}` : "") + (p.worker ? ` on ${p.worker}` : "") +
      (p.next_retry_at ? `, retry ${ago(p.next_retry_at)}` : "") + (p.error ? ` — ${p.error}` : ""),
    child: () => `child workflow ${p.instance_id}` + (p.status ? ` (${p.status})` : ""),
    start: () => `start at ${when(p.start_at)} (${ago(p.start_at)})`,
    suspended: () => `suspended ${ago(p.since)}` + (p.reason ? ` (${p.reason})` : ""),
    unconsumed_event: () => `event "${p.name}" arrived ×${p.count || 1}, nobody waits for it yet`,
    no_worker: () => p.message || "no live worker can run it",
  }[p.kind];
  return h("li", { "data-kind": p.kind }, txt ? txt() : p.kind);
}

function instanceActions(id, state, events) {
  const base = `${API}/${encodeURIComponent(id)}`;
  const status = state.runtimeStatus;
  const live = !TERMINAL.has(status);
  const refresh = () => render();
  const buttons = [];
  if (live && allowed("raise")) buttons.push(h("button", { id: "act-raise", onclick: async () => {
    const v = await ask({ title: "Raise an event", text: `Deliver an event to ${id}.`, ok: "Raise",
      fields: [{ name: "name", label: "Event name", required: true }, { name: "data", label: "Data (JSON, optional)", type: "textarea" }],
      check: (vals) => !vals.name.trim() ? "an event name is required" : jsonCheck("data")(vals) });
    if (!v) return;
    await act(`Raise ${v.name}`, () => api("POST", `${base}/raiseEvent/${encodeURIComponent(v.name.trim())}`, { body: v.data.trim() || "null" }));
    refresh();
  } }, "Raise event…"));
  if (live && status !== "SUSPENDED" && allowed("suspend")) buttons.push(h("button", { id: "act-suspend", onclick: async () => {
    const v = await ask({ title: `Suspend ${id}?`, text: "It makes no progress until resumed; events that arrive are kept.", ok: "Suspend",
      fields: [{ name: "reason", label: "Reason" }] });
    if (!v) return;
    await act("Suspend", () => api("POST", `${base}/pause`, { params: { reason: v.reason } }));
    refresh();
  } }, "Suspend…"));
  if (status === "SUSPENDED" && allowed("resume")) buttons.push(h("button", { id: "act-resume", onclick: async () => {
    const v = await ask({ title: `Resume ${id}?`, ok: "Resume", fields: [{ name: "reason", label: "Reason" }] });
    if (!v) return;
    await act("Resume", () => api("POST", `${base}/resume`, { params: { reason: v.reason } }));
    refresh();
  } }, "Resume…"));
  if (live && allowed("terminate")) buttons.push(h("button", { id: "act-terminate", class: "danger", onclick: async () => {
    const v = await ask({ title: `Terminate ${id}?`, text: "It ends as TERMINATED and runs no more of its work (children too).", ok: "Terminate", danger: true,
      fields: [{ name: "output", label: "Output (JSON, optional)", type: "textarea" }], check: jsonCheck("output") });
    if (!v) return;
    await act("Terminate", () => api("POST", `${base}/terminate`, v.output.trim() ? { body: v.output.trim() } : {}));
    refresh();
  } }, "Terminate…"));
  const rerunnable = events.filter((e) => ["TaskScheduled", "TimerCreated", "ChildWorkflowCreated"].includes(e.event_type));
  if (!live && rerunnable.length && allowed("rerun")) buttons.push(h("button", { id: "act-rerun", onclick: async () => {
    const v = await ask({ title: `Rerun ${id} from an event`, text: "A new instance replays this one's history up to the chosen event, then runs on.", ok: "Rerun",
      fields: [{ name: "event", label: "From event", options: rerunnable.map((e) => ({ value: e.event_id, label: `#${e.event_id} ${e.event_type} ${e.name || ""}` })) },
        { name: "newId", label: "New instance id (optional)" }, { name: "input", label: "New input of that event (JSON, optional)", type: "textarea" }],
      check: jsonCheck("input") });
    if (!v) return;
    const r = await act("Rerun", () => api("POST", `${base}/rerun`, { params: { eventID: v.event, newInstanceID: v.newId.trim() }, body: v.input.trim() || undefined }));
    if (r && r.instanceID) location.hash = "#/i/" + encodeURIComponent(r.instanceID);
  } }, "Rerun…"));
  if (allowed("purge")) buttons.push(h("button", { id: "act-purge", class: "danger", disabled: live, title: live ? "only finished instances can be purged" : null, onclick: async () => {
    const v = await ask({ title: `Purge ${id}?`, text: `Deletes ${id}, its history and its finished children from app ${S.app}. This cannot be undone.`, ok: "Purge", danger: true });
    if (!v) return;
    const r = await act("Purge", () => api("POST", `${base}/purge`));
    if (r !== undefined) location.hash = "#/";
  } }, "Purge…"));
  return buttons.length ? h("div", { class: "panel actions", id: "actions" }, buttons) : null;
}

// ------------------------------------------------------------------------- workers, retention, audit

function notOffered(title, e) {
  if (e.status === 404 || e.status === 501) return h("div", {}, h("h1", {}, title), h("p", { class: "panel muted" }, "This server does not offer it."));
  throw e;
}

async function workersView() {
  let data;
  try { data = await api("GET", "/v1.0/workers"); } catch (e) { return notOffered("Workers", e); }
  const workers = data.workers || [];
  schedule(() => render());
  return h("div", {}, h("h1", {}, "Workers", h("span", { class: "muted" }, `${workers.length} live`)),
    h("table", { id: "workers" },
      h("thead", {}, h("tr", {}, ["Worker", "App", "Host", "PID", "Started", "Heartbeat", "In flight", "Registers"].map((t) => h("th", {}, t)))),
      h("tbody", {}, workers.length ? workers.map((w) => h("tr", {},
        h("td", { class: "id" }, w.worker_id), h("td", {}, w.app_id), h("td", {}, w.host), h("td", {}, w.pid),
        h("td", {}, ago(w.started_at)), h("td", {}, ago(w.heartbeat)), h("td", {}, w.activities_in_flight),
        h("td", { class: "cut", title: [...(w.workflows || []), ...(w.activities || [])].join(", ") },
          [...(w.workflows || []).map((n) => "wf " + n), ...(w.activities || []).map((n) => "act " + n)].join(", "))))
        : h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No live worker.")))));
}

async function retentionView() {
  let p;
  try { p = await api("GET", "/v1.0/retention"); } catch (e) { return notOffered("Retention", e); }
  const keys = Object.keys(p).filter((k) => !["set", "appID", "app_id"].includes(k));
  const rows = keys.map((k) => h("tr", {}, h("td", {}, k), h("td", { class: "mono" }, p[k] === null ? "—" : typeof p[k] === "object" ? JSON.stringify(p[k]) : String(p[k]))));
  return h("div", {}, h("h1", {}, "Retention", h("span", { class: "muted" }, p.set ? "policy set" : "no policy")),
    h("p", { class: "muted" }, "Finished instances are purged this long after they finish. Change it with wf retention set."),
    h("table", { id: "retention" }, h("tbody", {}, rows)));
}

async function auditView(params) {
  let data;
  const op = params.get("operation") || "";
  try { data = await api("GET", "/v1.0/audit", { params: { operation: op, limit: 200 } }); } catch (e) { return notOffered("Audit", e); }
  const records = data.records || [];
  const cols = records.length ? Object.keys(records[0]) : ["at", "actor", "operation", "target", "count", "reason", "outcome"];
  return h("div", {}, h("h1", {}, "Audit", h("span", { class: "muted" }, `latest ${records.length}`)),
    h("table", { id: "audit" }, h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c)))),
      h("tbody", {}, records.map((r) => h("tr", {}, cols.map((c) => h("td", { class: "cut", title: String(r[c] ?? "") },
        typeof r[c] === "object" && r[c] !== null ? JSON.stringify(r[c]) : String(r[c] ?? ""))))))));
}

// ----------------------------------------------------------------------------------------- start

$("#app").addEventListener("change", (ev) => {
  S.app = ev.target.value;
  sessionStorage.setItem("wf-app", S.app);
  S.cursors = [null];
  S.selected.clear();
  location.hash = "#/";
  render();
});
$("#logout").addEventListener("click", () => {
  sessionStorage.removeItem("wf-token");
  S.token = "";
  S.meta = null;
  render();
});
window.addEventListener("hashchange", render);
render();
