// The timeline picture of one instance: a pure model built from its history, then drawn as SVG.
// One row per activity attempt, timer and child workflow: a bar from when it was scheduled to when
// it ended (failed ones red, retries labelled, in-flight ones growing to "now"); raised events,
// suspensions and the end of the execution are marks on the axis.
"use strict";

(function () {
  const ENDS = {
    TaskScheduled: ["TaskCompleted", "TaskFailed"],
    TimerCreated: ["TimerFired"],
    ChildWorkflowCreated: ["ChildWorkflowCompleted", "ChildWorkflowFailed"],
  };
  const FAILED_ENDS = new Set(["TaskFailed", "ChildWorkflowFailed"]);
  const MARKS = {
    EventRaised: "event", ExecutionSuspended: "suspend", ExecutionResumed: "suspend",
    ExecutionCompleted: "end", ExecutionFailed: "end", ExecutionTerminated: "end", ContinueAsNew: "end",
  };

  // events: HistoryEvent.to_dict() objects in recorded order; now: ms since the epoch.
  function build(events, now, live) {
    const t = (e) => Date.parse(e.timestamp);
    const ends = new Map();
    for (const e of events) {
      if (e.task_scheduled_id !== null && e.task_scheduled_id !== undefined) ends.set(e.event_type + ":" + e.task_scheduled_id, e);
    }
    const rows = [];
    const marks = [];
    const lastFailed = new Map();  // activity name -> attempt number of its last failed attempt
    for (const e of events) {
      const endTypes = ENDS[e.event_type];
      if (endTypes) {
        let end = null;
        for (const type of endTypes) end = end || ends.get(type + ":" + e.event_id) || null;
        const kind = e.event_type === "TaskScheduled" ? "activity" : e.event_type === "TimerCreated" ? "timer" : "child";
        const extra = e.extra || {};
        let label = e.name || kind;
        let attempt = 1;
        if (kind === "activity") {
          attempt = (lastFailed.get(label) || 0) + 1;
          if (end && FAILED_ENDS.has(end.event_type)) lastFailed.set(label, attempt); else lastFailed.delete(label);
          if (attempt > 1) label += " (retry " + (attempt - 1) + ")";
        } else if (kind === "timer") {
          label = e.name ? "timer " + e.name : "timer";
        } else if (extra.instance_id) {
          label += " → " + extra.instance_id;
        }
        rows.push({
          kind, label, attempt, eventId: e.event_id,
          start: t(e),
          end: end ? t(end) : null,
          due: kind === "timer" && extra.fire_at ? Date.parse(extra.fire_at) : null,
          outcome: end ? (FAILED_ENDS.has(end.event_type) ? "failed" : "ok") : (live ? "live" : "open"),
          child: kind === "child" ? extra.instance_id || null : null,
          error: end && end.failure_details ? end.failure_details.message : null,
        });
      } else if (MARKS[e.event_type]) {
        marks.push({ kind: MARKS[e.event_type], at: t(e), label: e.event_type + (e.name ? " " + e.name : "") });
      }
    }
    const times = events.map(t).filter((x) => !Number.isNaN(x));
    const from = times.length ? Math.min(...times) : now;
    let to = times.length ? Math.max(...times) : now;
    if (live) to = Math.max(to, now);
    for (const r of rows) if (r.due && r.outcome !== "ok") to = Math.max(to, Math.min(r.due, from + 10 * Math.max(1, to - from)));
    return { from, to: Math.max(to, from + 1), rows, marks };
  }

  const NS = "http://www.w3.org/2000/svg";
  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function span(ms) {
    if (ms < 10) return ms.toFixed(1) + "ms";
    if (ms < 1000) return Math.round(ms) + "ms";
    const s = ms / 1000;
    if (s < 60) return (s < 10 ? s.toFixed(1) : Math.round(s)) + "s";
    const m = s / 60;
    if (m < 60) return Math.round(m) + "m";
    const h = m / 60;
    return h < 48 ? Math.round(h) + "h" : Math.round(h / 24) + "d";
  }

  function render(model, now) {
    const W = 1000, LABEL = 230, ROW = 22, TOP = 24, width = W - LABEL - 10;
    const height = TOP + Math.max(1, model.rows.length) * ROW + 12;
    const x = (ms) => LABEL + ((ms - model.from) / (model.to - model.from)) * width;
    const svg = el("svg", { viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": "timeline" });
    for (let i = 0; i <= 4; i++) {
      const at = model.from + ((model.to - model.from) * i) / 4;
      svg.appendChild(el("line", { x1: x(at), x2: x(at), y1: TOP - 6, y2: height - 8, class: "grid" }));
      svg.appendChild(el("text", { x: x(at), y: 12, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle", class: "tick" },
        i === 0 ? "0" : "+" + span(at - model.from)));
    }
    model.rows.forEach((r, i) => {
      const y = TOP + i * ROW;
      const g = el("g", { class: "row", "data-kind": r.kind, "data-outcome": r.outcome });
      g.appendChild(el("text", { x: 4, y: y + 14, class: "label" }, r.label.length > 34 ? r.label.slice(0, 33) + "…" : r.label));
      const end = r.end !== null ? r.end : (r.outcome === "live" ? Math.max(now, r.start) : r.due || r.start);
      const cls = r.kind === "timer" ? (r.end !== null ? "bar-timer-done" : "bar-timer")
        : r.outcome === "failed" ? "bar-failed" : r.outcome === "ok" ? "bar-ok" : "bar-live";
      const x0 = x(r.start);
      const bar = el("rect", { x: x0, y: y + 4, width: Math.max(3, x(end) - x0), height: ROW - 8, rx: 3, class: "bar " + cls,
        "data-ms": Math.round(end - r.start) });
      const tip = r.label + ": " + (r.end !== null ? span(r.end - r.start) : "in flight " + span(now - r.start))
        + (r.error ? " — " + r.error : "");
      bar.appendChild(el("title", {}, tip));
      g.appendChild(bar);
      // Its duration beside the bar: after it, or inside it near the right edge, or before a thin one there.
      const x1 = x0 + Math.max(3, x(end) - x0);
      const where = x1 <= W - 60 ? "after" : x1 - x0 >= 60 ? "inside" : "before";
      const at = { after: [x1 + 4, "start"], inside: [x1 - 4, "end"], before: [x0 - 4, "end"] }[where];
      g.appendChild(el("text", { x: at[0], y: y + 14, "text-anchor": at[1], class: "dur" + (where === "inside" ? " in" : "") },
        (r.end === null && r.outcome === "live" ? "running " : "") + span(end - r.start)));
      if (r.due && r.end === null) {  // a pending timer: where it will fire
        g.appendChild(el("line", { x1: x(r.due), x2: x(r.due), y1: y + 2, y2: y + ROW - 2, class: "grid" }));
      }
      svg.appendChild(g);
    });
    for (const m of model.marks) {
      const cx = x(m.at);
      const shape = m.kind === "event"
        ? el("path", { d: `M${cx} ${TOP - 10} l5 5 l-5 5 l-5 -5 z`, class: "mark mark-event" })
        : el("rect", { x: cx - 2, y: TOP - 10, width: 4, height: 10, class: "mark mark-" + m.kind });
      shape.appendChild(el("title", {}, m.label + " at +" + span(m.at - model.from)));
      svg.appendChild(shape);
    }
    return svg;
  }

  window.WfTimeline = { build, render };
})();
