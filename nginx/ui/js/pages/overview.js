// Overview: today and this month at a glance, each against the previous period up to the same point.

import * as api from "../api.js";
import { legend, stackedBars } from "../charts.js";
import { card, emptyState, h, pageHead, table } from "../dom.js";
import * as f from "../format.js";

// metric -> how to show it; "worse" says which direction is bad (colours the change)
const TILES = [
  { key: "cost_usd", label: "Spend", fmt: f.usd },
  { key: "requests", label: "Requests", fmt: f.count },
  { key: "tokens", label: "Tokens", fmt: f.count, sub: "input + output" },
  { key: "refusal_rate", label: "Refusal rate", fmt: f.pct, worse: "up", sub: (m) => `${f.count(m.refusals.value)} refused` },
  { key: "latency_p50", label: "Latency p50", fmt: f.ms, worse: "up", sub: (m) => `p99 ${f.ms(m.latency_p99.value)}` },
  { key: "ttfb_p50", label: "First token p50", fmt: f.ms, worse: "up", sub: (m) => `p99 ${f.ms(m.ttfb_p99.value)}` },
];
const COMPARED = { today: "yesterday", month: "last month" };
const COMPARED_LONG = { today: "yesterday up to the same hour", month: "last month up to the same day and hour" };

function tile(t, metrics, period) {
  const m = metrics[t.key];
  const d = f.change(m.value, m.previous);
  let cls = "delta flat";
  if (d && d.dir !== "flat" && t.worse) cls = `delta ${d.dir}-${t.worse === d.dir ? "bad" : "good"}`;
  const sub = typeof t.sub === "function" ? t.sub(metrics) : t.sub;
  return h("div", { class: "card tile", "data-metric": t.key, "data-period": period },
    h("div", { class: "tile-label" }, t.label),
    h("div", { class: "tile-value", "data-value": m.value ?? "" }, t.fmt(m.value)),
    h("div", { class: "tile-sub" }, sub || "\u00a0"),
    h("div", { class: cls, title: `${COMPARED_LONG[period]}: ${t.fmt(m.previous)}` },
      d ? h("b", {}, d.text) : "–", ` vs ${COMPARED[period]}`));
}

export default async function overview(params, ctx) {
  const data = await api.get("overview");
  const periods = [["today", "Today"], ["month", "This month"]];
  const el = h("div", {},
    pageHead("Overview", ctx.who.scope === "all" ? "Every key and owner. Times are UTC." : `Key ${ctx.who.key_id} only. Times are UTC.`),
    periods.map(([p, title]) => [
      h("div", { class: "section-title" }, h("h2", {}, title),
        h("span", { class: "fine" }, `${p === "today" ? f.day(data.periods.today.since) : f.bucketLabel(new Date(data.periods.month.since * 1000).toISOString().slice(0, 7), "month")} · changes against ${COMPARED_LONG[p]}`)),
      h("div", { class: "tiles" }, TILES.map((t) => tile(t, data.periods[p].metrics, p))),
    ]));
  const spent = data.daily.cost_usd.some((v) => v > 0) || data.daily.requests.some((v) => v > 0);
  const chartBox = h("div", { class: "chart", id: "overview-chart" });
  const grid = h("div", { class: "grid grid-2" },
    card("Spend per day this month", spent ? [legend([{ name: "Spend", color: "#3b6fd4", value: f.usd(data.periods.month.metrics.cost_usd.value) }]), chartBox]
      : emptyState("No requests this month yet", "Spend appears here once traffic flows through the gateway."), { flush: true }),
    card("Top models this month", data.top_models.length ? table([
      { label: "Model", cls: "name", cell: (r) => h("span", { title: `${r.provider} / ${r.model}` }, r.model ?? "(none)", h("div", { class: "fine" }, r.provider)) },
      { label: "Requests", num: true, cell: (r) => f.count(r.requests) },
      { label: "Spend", num: true, cell: (r) => f.usd(r.cost_usd) },
    ], data.top_models) : emptyState("No models used this month"), { flush: true, sub: "by spend" }));
  grid.classList.add("overview-lower");
  el.append(h("div", { class: "section-title" }, h("h2", {}, "This month by day")), grid);
  return {
    el,
    mount() {
      if (spent) {
        stackedBars(chartBox, { times: data.days, series: [{ name: "Spend", values: data.daily.cost_usd }], fmt: f.usdShort, step: "day", height: 240 });
      }
    },
  };
}
