// Refusals and DLP: refusals over time by reason, the latest refusals, DLP findings per entity type.

import * as api from "../api.js";
import { colorOf, legend, PALETTE, stackedBars } from "../charts.js";
import { apiRange, describe, rangeControls, rangeOf } from "../controls.js";
import { card, emptyState, h, pageHead, pager, table } from "../dom.js";
import * as f from "../format.js";

const LIMIT = 25;
const REASONS = {
  unauthorized: "Unknown or missing key", model: "Model not allowed", rpm: "Requests per minute", tpm: "Tokens per minute",
  budget: "Budget exhausted", max_parallel: "Too many in parallel", dlp: "DLP blocked", dlp_not_ready: "DLP starting",
  sidecar_unavailable: "Sidecar unavailable", too_large: "Body too large", upstream_unreachable: "Provider unreachable",
  store_unavailable: "Counter store down", other: "Other (no policy lists it)",
};
const reasonText = (r) => REASONS[r] ?? r;

function bars(rows, nameKey, valueKey, color) {
  const top = Math.max(1, ...rows.map((r) => r[valueKey]));
  return h("div", {}, rows.map((r, i) => {
    const fill = h("div", { class: "hbar-fill" });
    fill.style.width = `${((r[valueKey] / top) * 100).toFixed(1)}%`;
    fill.style.background = typeof color === "function" ? color(r, i) : color;
    return h("div", { class: "hbar-row" }, h("span", { class: "name", title: r[nameKey] }, r.label ?? r[nameKey]), h("div", { class: "hbar-track" }, fill), h("span", { class: "num" }, f.count(r[valueKey])));
  }));
}

export default async function refusals(params, ctx) {
  const r = rangeOf(params);
  const offset = Math.max(0, parseInt(params.offset, 10) || 0);
  const [data, recent] = await Promise.all([api.get("refusals", apiRange(r)), api.get("refusals/recent", { limit: LIMIT, offset })]);
  const go = (p) => ctx.go({ ...params, offset: null, ...p });
  const series = data.series.map((s) => ({ ...s, name: reasonText(s.name) }));
  const colors = Object.fromEntries(series.map((s, i) => [s.name, colorOf(s.name, i)]));
  const chartBox = h("div", { class: "chart", id: "refusals-chart" });
  const recentColumns = [
    { label: "Time (UTC)", cls: "nowrap", cell: (x) => h("span", { title: f.when(x.time) }, f.shortWhen(x.time)) },
    { label: "Request id", opt: true, cell: (x) => h("span", { class: "mono", title: x.request_id }, x.request_id ? `${x.request_id.slice(0, 12)}…` : "–") },
    { label: "Key id", cls: "name nowrap", cell: (x) => x.key_id ?? h("span", { class: "muted" }, "unknown key") },
    { label: "Model", cls: "name", opt: true, cell: (x) => x.model ?? "–" },
    { label: "Status", num: true, opt: true, cell: (x) => x.status || "–" },
    { label: "Reason", cell: (x) => reasonText(x.reason) },
  ];
  const el = h("div", {},
    pageHead("Refusals & DLP", `${describe(r)}: requests the gateway answered itself, and what DLP found. Times are UTC.`),
    h("div", { class: "stack" },
      h("div", { class: "controls" }, rangeControls(r, go)),
      h("div", { class: "grid grid-2" },
        card("Refusals by reason", data.refusals ? [legend(series.map((s) => ({ name: s.name, color: colors[s.name], value: f.count(s.values.reduce((a, b) => a + b, 0)) }))), chartBox]
          : emptyState("No refusals in this period", "Every request in this range was forwarded."),
          { flush: true, sub: `${f.count(data.refusals)} of ${f.count(data.requests)} requests (${f.pct(data.refusal_rate)})` }),
        h("div", { class: "stack" },
          card("Reasons", data.reasons.length ? bars(data.reasons.map((x) => ({ ...x, label: reasonText(x.reason) })), "reason", "refusals", (x) => colors[x.label] ?? PALETTE[0])
            : emptyState("No refusals"), { flush: true }),
          card("DLP findings by entity type", data.dlp.length ? bars(data.dlp, "entity", "findings", "#7b61c9")
            : emptyState("No DLP findings", "Keys with DLP in log, block or redact mode report findings here."), { flush: true, sub: "counts only, never a finding's value" }))),
      card("Latest refusals", recent.total ? [table(recentColumns, recent.rows), pager(recent.total, LIMIT, offset, (o) => ctx.go({ ...params, offset: o }))]
        : emptyState("No refusals recorded"), { flush: true, sub: "newest first, from the last 10,000 failed requests" })));
  return {
    el,
    mount() {
      if (data.refusals) stackedBars(chartBox, { times: data.times, series, fmt: f.countShort, step: r.step, integer: true });
    },
  };
}
