// The time range every data page shares: presets or custom dates, and the step of its charts.

import { h, segmented, select } from "./dom.js";

export const RANGES = [["24h", "24 hours"], ["7d", "7 days"], ["30d", "30 days"], ["90d", "90 days"], ["custom", "Custom"]];
const DEFAULT_STEP = { "24h": "hour", "7d": "day", "30d": "day", "90d": "day", custom: "day" };
const STEP_LABELS = { hour: "Hourly", day: "Daily", month: "Monthly" };

const today = () => new Date().toISOString().slice(0, 10);
const nextDay = (d) => new Date(Date.parse(`${d}T00:00:00Z`) + 86400000).toISOString().slice(0, 10);

// The page's range settings from its URL parameters, with defaults.
export function rangeOf(params, steps = ["hour", "day", "month"]) {
  const range = RANGES.some(([r]) => r === params.range) ? params.range : "7d";
  const step = steps.includes(params.step) ? params.step : DEFAULT_STEP[range];
  const to = params.to && params.to <= today() ? params.to : today();
  const from = params.from && params.from <= to ? params.from : to;
  return { range, step, from, to };
}

// since/until/step for the API.
export function apiRange(r) {
  if (r.range !== "custom") return { since: r.range, step: r.step };
  return { since: r.from, until: r.to >= today() ? null : nextDay(r.to), step: r.step };
}

export function rangeControls(r, change, steps = ["hour", "day", "month"]) {
  const el = h("div", { class: "controls" },
    segmented("Time range", RANGES, r.range, (range) => change({ range, step: null })),
    select("Step", steps.map((s) => [s, STEP_LABELS[s]]), r.step, (step) => change({ step })));
  if (r.range === "custom") {
    const date = (name, label, value) => h("label", { class: "field" }, label,
      h("input", { type: "date", value, max: today(), "aria-label": label, onchange: (e) => e.target.value && change({ [name]: e.target.value }) }));
    el.append(date("from", "From", r.from), date("to", "To", r.to));
  }
  return el;
}

export function describe(r) {
  if (r.range === "custom") return r.from === r.to ? `${r.from} (UTC)` : `${r.from} to ${r.to} (UTC)`;
  return `Last ${RANGES.find(([k]) => k === r.range)[1]}`;
}
