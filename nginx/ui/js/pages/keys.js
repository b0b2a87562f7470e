// Keys: the allow-list as loaded. Ids, owners and rules only: never a key or its hash.

import * as api from "../api.js";
import { card, emptyState, h, pageHead, pager, table } from "../dom.js";
import * as f from "../format.js";

const LIMIT = 50;

function limits(k) {
  const parts = [];
  if (k.rpm) parts.push(`${f.count(k.rpm)} rpm`);
  if (k.tpm) parts.push(`${f.count(k.tpm)} tpm`);
  if (k.max_parallel) parts.push(`${f.count(k.max_parallel)} parallel`);
  // the columns of policies from policies.extra, by name as the allow-list holds them, a line each that may
  // break after an underscore; read-only here like every column: `lmgate keys update ID --set COLUMN=VALUE`
  // or the keys API
  const other = Object.entries(k.other_limits || {}).map(([name, value]) =>
    h("div", { class: "fine" }, name.split("_").flatMap((w, i) => (i ? ["_", h("wbr", {}), w] : [w])), ` ${value}`));
  if (!parts.length && !other.length) return h("span", { class: "muted" }, "none");
  return [parts.length ? h("span", { class: "nowrap" }, parts.join(" · ")) : null, ...other];
}

export default async function keys(params, ctx) {
  const offset = Math.max(0, parseInt(params.offset, 10) || 0);
  const data = await api.get("keys", { limit: LIMIT, offset });
  const period = { day: "today", month: "this month", total: "all time" };
  const columns = [
    { label: "Key id", cls: "name nowrap", cell: (k) => h("span", { title: k.id }, h("span", { class: "key-id" }, k.id), k.virtual_key ? h("div", { class: "fine" }, "virtual key") : null) },
    { label: "Owner", cls: "name", cell: (k) => k.owner },
    { label: "Models", cls: "wrap", opt: true, cell: (k) => (k.models.length ? k.models.join(", ") : h("span", { class: "muted" }, "any")) },
    { label: "Limits", opt: true, cell: limits },
    { label: "Budget", num: true, cls: "nowrap", opt: true, cell: (k) => (k.budget_usd ? `${f.usd(k.budget_usd)} / ${{ day: "day", month: "month", total: "total" }[k.budget_period]}` : h("span", { class: "muted" }, "none")) },
    { label: "DLP", opt: true, cell: (k) => h("span", { class: k.dlp === "off" ? "badge" : "badge badge-accent" }, k.dlp) },
    { label: "Added", cls: "nowrap", opt: true, cell: (k) => (k.added ? f.day(k.added) : "–") },
    { label: "Last used", cls: "nowrap", cell: (k) => h("span", { title: k.last_used ? f.when(k.last_used) : "" }, f.ago(k.last_used)) },
    { label: "Requests", num: true, opt: true, cell: (k) => h("span", { title: period[k.period] }, f.count(k.requests)) },
    { label: "Spend", num: true, cell: (k) => h("span", { title: period[k.period] }, f.usd(k.cost_usd)) },
  ];
  const el = h("div", {},
    pageHead("Keys", "The allow-list as the gateway loaded it. Requests and spend are for each key's budget period (this month when it has none)."),
    card(`${f.count(data.total)} key${data.total === 1 ? "" : "s"}`, data.total
      ? [table(columns, data.rows), data.total > LIMIT ? pager(data.total, LIMIT, offset, (o) => ctx.go({ ...params, offset: o })) : null]
      : emptyState("No keys", "The allow-list is empty."), { flush: true }));
  return { el };
}
