// Budgets: every key and owner with a budget: spent, limit, share used, reset, forecast at the period's end.

import * as api from "../api.js";
import { card, emptyState, h, pageHead, table } from "../dom.js";
import * as f from "../format.js";

function meter(used) {
  const share = Math.max(0, used ?? 0);
  const fill = h("div", { class: `meter-fill${share >= 1 ? " bad" : share >= 0.8 ? " warn" : ""}` });
  fill.style.width = `${Math.min(100, share * 100).toFixed(1)}%`;
  return h("div", { class: "meter", title: f.pct(share) }, h("div", { class: "meter-track" }, fill), h("span", { class: "meter-text" }, f.pct(share, 0)));
}

function status(b) {
  if (b.used >= 1) return h("span", { class: "badge badge-bad" }, "Exhausted");
  if (b.over) return h("span", { class: "badge badge-warn" }, "Forecast over");
  return h("span", { class: "badge badge-good" }, "On track");
}

export default async function budgets(params, ctx) {
  const data = await api.get("budgets");
  const over = data.rows.filter((b) => b.over).length;
  const columns = [
    { label: "Budget of", cls: "name nowrap", cell: (b) => h("span", { title: b.key_id ?? b.owner },
      h("span", { class: b.scope === "key" ? "badge" : "badge badge-accent" }, b.scope === "key" ? "key" : "owner"), "\u00a0 ", b.scope === "key" ? b.key_id : b.owner,
      b.scope === "key" ? h("div", { class: "fine" }, `owner ${b.owner}`) : null) },
    { label: "Period", opt: true, cell: (b) => ({ day: "Daily", month: "Monthly", total: "All time" })[b.period] },
    { label: "Spent", num: true, opt: true, cell: (b) => f.usd(b.spent_usd) },
    { label: "Limit", num: true, opt: true, cell: (b) => f.usd(b.limit_usd) },
    { label: "Used", cell: (b) => meter(b.used) },
    { label: "Resets", opt: true, cls: "nowrap", cell: (b) => (b.resets_at ? f.when(b.resets_at) : "never") },
    { label: "Forecast", num: true, opt: true, cell: (b) => (b.forecast_usd == null ? "–" : f.usd(b.forecast_usd)) },
    { label: "Status", cell: status },
  ];
  const el = h("div", {},
    pageHead("Budgets", "Spend this period against each budget. The forecast carries the rate so far (spend ÷ time elapsed) to the period's end."),
    data.error ? h("div", { class: "card error-card" }, `The counters could not be read (${data.error}); spend shown is from the rollups.`) : null,
    card(`${f.count(data.rows.length)} budget${data.rows.length === 1 ? "" : "s"}`,
      data.rows.length ? table(columns, data.rows) : emptyState("No budgets", "Set budget_usd in the allow-list or under policies.owners to see them here."),
      { flush: true, sub: over ? `${over} forecast to exceed` : "none forecast to exceed" }));
  return { el };
}
