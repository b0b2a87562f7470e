// Spend: spend, tokens or requests over time stacked by owner, key, model or provider; the table; CSV export.

import * as api from "../api.js";
import { colorOf, legend, stackedBars } from "../charts.js";
import { apiRange, describe, rangeControls, rangeOf } from "../controls.js";
import { card, emptyState, h, pageHead, pager, segmented, select, table } from "../dom.js";
import * as f from "../format.js";

const BY = [["owner", "Owner"], ["key_id", "Key"], ["model", "Model"], ["provider", "Provider"]];
const METRICS = [["cost_usd", "Spend"], ["tokens", "Tokens"], ["requests", "Requests"]];
const FMT = { cost_usd: [f.usd, f.usdShort], tokens: [f.count, f.countShort], requests: [f.count, f.countShort] };
const LIMIT = 50;

export default async function spend(params, ctx) {
  const r = rangeOf(params);
  const by = BY.some(([b]) => b === params.by) ? params.by : "owner";
  const metric = METRICS.some(([m]) => m === params.metric) ? params.metric : "cost_usd";
  const offset = Math.max(0, parseInt(params.offset, 10) || 0);
  const query = { ...apiRange(r), by, metric };
  const data = await api.get("spend", { ...query, limit: LIMIT, offset });
  const [fmt, fmtShort] = FMT[metric];
  const byLabel = BY.find(([b]) => b === by)[1];
  const go = (p) => ctx.go({ ...params, offset: null, ...p });

  const controls = h("div", { class: "controls" },
    rangeControls(r, go),
    select("Stack by", BY, by, (v) => go({ by: v })),
    segmented("Measure", METRICS, metric, (v) => go({ metric: v })));
  const total = data.totals;
  const hasData = data.series.some((s) => s.values.some((v) => v > 0));
  const chartBox = h("div", { class: "chart", id: "spend-chart" });
  const items = data.series.map((s, i) => ({ name: s.name, color: colorOf(s.name, i), value: fmt(s.values.reduce((a, b) => a + b, 0)) }));
  const download = h("button", { type: "button", class: "btn", id: "csv" }, "Download CSV");
  download.addEventListener("click", async () => {
    download.disabled = true;
    try {
      const text = await api.get("spend", { ...query, format: "csv" }, "text");
      const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
      const a = h("a", { href: url, download: `lmgate-spend-by-${by}.csv` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } finally {
      download.disabled = false;
    }
  });
  const share = (row) => (total && total.cost_usd > 0 ? f.pct(row.cost_usd / total.cost_usd) : "–");
  const columns = [
    { label: byLabel, cls: "name", cell: (row) => h("span", { title: row[by] }, row[by]) },
    { label: "Requests", num: true, cell: (row) => f.count(row.requests), foot: (t) => f.count(t.requests) },
    { label: "Input tokens", num: true, opt: true, cell: (row) => f.count(row.input_tokens), foot: (t) => f.count(t.input_tokens) },
    { label: "Output tokens", num: true, opt: true, cell: (row) => f.count(row.output_tokens), foot: (t) => f.count(t.output_tokens) },
    { label: "Spend", num: true, cell: (row) => f.usd(row.cost_usd), foot: (t) => f.usd(t.cost_usd) },
    { label: "Share", num: true, cell: share, foot: () => (total && total.cost_usd > 0 ? "100%" : "–") },
  ];
  const el = h("div", {},
    pageHead("Spend", `${describe(r)}, by ${byLabel.toLowerCase()}. Times are UTC.`),
    h("div", { class: "stack" },
      controls,
      card(`${METRICS.find(([m]) => m === metric)[1]} by ${byLabel.toLowerCase()}`,
        hasData ? [legend(items), chartBox] : emptyState("No requests in this period", "Pick a longer range, or check back once traffic flows."),
        { flush: true, sub: total ? `${fmt(metric === "tokens" ? total.tokens : total[metric])} in total` : null }),
      card(`Per ${byLabel.toLowerCase()}`, data.total_rows
        ? [table(columns, data.rows, { foot: total }), data.total_rows > LIMIT ? pager(data.total_rows, LIMIT, offset, (o) => ctx.go({ ...params, offset: o })) : null]
        : emptyState("Nothing to list", "No requests in this period."),
      { flush: true, actions: data.total_rows ? download : null })));
  return {
    el,
    mount() {
      if (hasData) stackedBars(chartBox, { times: data.times, series: data.series, fmt: fmtShort, step: r.step, integer: metric !== "cost_usd" });
    },
  };
}
