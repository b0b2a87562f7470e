// Latency: p50 and p99 of latency, time to first token and gateway-added time, per provider and model.

import * as api from "../api.js";
import { legend, lines } from "../charts.js";
import { apiRange, describe, rangeControls, rangeOf } from "../controls.js";
import { card, emptyState, h, pageHead, select, table } from "../dom.js";
import * as f from "../format.js";

const CHARTS = [
  ["latency", "Latency", "Request to last byte", "#3b6fd4"],
  ["ttfb", "Time to first token", "Request to the provider's first byte", "#3f9e6e"],
  ["gateway", "Gateway-added time", "Time lmgate held a request before forwarding it", "#7b61c9"],
];

export default async function latency(params, ctx) {
  const r = rangeOf(params, ["hour", "day"]);
  const pick = params.model || "";
  const [provider, model] = pick ? pick.split("\u0000") : [null, null];
  const data = await api.get("latency", { ...apiRange(r), provider, model });
  const go = (p) => ctx.go({ ...params, ...p });
  const options = [["", "All providers and models"], ...data.rows.map((row) =>
    [`${row.provider ?? ""}\u0000${row.model ?? ""}`, `${row.provider ?? "(none)"} / ${row.model ?? "(none)"}`])];
  if (pick && !options.some(([v]) => v === pick)) options.push([pick, `${provider} / ${model}`]);
  const hasData = data.rows.length > 0;
  const boxes = {};
  const charts = CHARTS.map(([key, title, sub, color]) => {
    const values = data.series[key];
    const any = values.p50.some((v) => v != null);
    boxes[key] = h("div", { class: "chart small", id: `latency-${key}` });
    return card(title, any ? [legend([{ name: "p50", color, line: true }, { name: "p99", color, line: true, dashed: true }]), boxes[key]]
      : emptyState("No requests in this period"), { flush: true, sub });
  });
  const columns = [
    { label: "Provider / model", cls: "name", cell: (row) => h("span", { title: `${row.provider} / ${row.model}` }, row.model ?? "(none)", h("div", { class: "fine" }, row.provider ?? "(none)")) },
    { label: "Requests", num: true, opt: true, cell: (row) => f.count(row.requests) },
    { label: "Latency p50", num: true, cell: (row) => f.ms(row.latency_p50) },
    { label: "p99", num: true, opt: true, cell: (row) => f.ms(row.latency_p99) },
    { label: "First token p50", num: true, cell: (row) => f.ms(row.ttfb_p50) },
    { label: "p99", num: true, opt: true, cell: (row) => f.ms(row.ttfb_p99) },
    { label: "Gateway p50", num: true, opt: true, cell: (row) => f.ms(row.gateway_p50) },
    { label: "p99", num: true, opt: true, cell: (row) => f.ms(row.gateway_p99) },
  ];
  const el = h("div", {},
    pageHead("Latency", `${describe(r)}${pick ? `, ${provider} / ${model}` : ", all providers and models"}. Quantiles are within ${f.pct(data.relative_error)} of the exact value.`),
    h("div", { class: "stack" },
      h("div", { class: "controls" }, rangeControls(r, go, ["hour", "day"]), select("Model", options, pick, (v) => go({ model: v || null }))),
      h("div", { class: "grid grid-3" }, charts),
      card("Per provider and model", hasData ? table(columns, data.rows) : emptyState("No requests in this period"), { flush: true })));
  return {
    el,
    mount() {
      for (const [key, , , color] of CHARTS) {
        const values = data.series[key];
        if (!values.p50.some((v) => v != null)) continue;
        lines(boxes[key], {
          times: data.times, step: r.step, fmt: f.ms,
          series: [{ name: "p50", values: values.p50, color }, { name: "p99", values: values.p99, color, dashed: true }],
        });
      }
    },
  };
}
