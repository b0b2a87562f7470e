// Numbers as people read them: USD with cents (more digits for small amounts), thousands separators, units.

const LOCALE = "en-US";
const int = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
const usd2 = new Intl.NumberFormat(LOCALE, { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 2 });
const compact = new Intl.NumberFormat(LOCALE, { notation: "compact", maximumFractionDigits: 1 });

export function usd(v) {
  if (v == null) return "–";
  const a = Math.abs(v);
  if (a === 0) return "$0.00";
  if (a >= 0.01) return usd2.format(v);
  if (a < 0.000001) return v < 0 ? "-<$0.000001" : "<$0.000001";
  // small spends keep three significant digits: $0.00412, $0.000173, $0.0000057
  const digits = Math.min(8, 2 - Math.floor(Math.log10(a)));
  return `${v < 0 ? "-" : ""}$${a.toFixed(digits).replace(/(\.\d*?[1-9])0+$/, "$1")}`;
}

export function usdShort(v) {
  if (v == null) return "";
  const a = Math.abs(v);
  if (a >= 10000) return `$${compact.format(v)}`;
  if (a >= 100) return `$${int.format(v)}`;
  return usd(v);
}

export function count(v) {
  return v == null ? "–" : int.format(v);
}

export function countShort(v) {
  if (v == null) return "";
  return Math.abs(v) >= 10000 ? compact.format(v) : int.format(v);
}

export function ms(v) {
  if (v == null) return "–";
  if (v === 0) return "0 ms";
  if (v < 1) return `${v.toFixed(2)} ms`;
  if (v < 10) return `${v.toFixed(1)} ms`;
  if (v < 1000) return `${int.format(v)} ms`;
  if (v < 60000) return `${(v / 1000).toFixed(v < 10000 ? 2 : 1)} s`;
  return `${(v / 60000).toFixed(1)} min`;
}

export function pct(v, digits = 1) {
  if (v == null) return "–";
  if (v > 0 && v < 0.001) return "<0.1%";
  return `${(v * 100).toFixed(digits)}%`;
}

// The change from prev to cur as text and a direction: "up" / "down" / "flat"; null when nothing to compare.
export function change(cur, prev) {
  if (cur == null || prev == null) return null;
  if (prev === 0) return cur === 0 ? { text: "no change", dir: "flat" } : { text: "new", dir: "up" };
  const r = (cur - prev) / Math.abs(prev);
  if (Math.abs(r) < 0.0005) return { text: "no change", dir: "flat" };
  const shown = Math.abs(r) >= 10 ? `${int.format(r * 100)}%` : `${(r * 100).toFixed(1)}%`;
  return { text: `${r > 0 ? "+" : ""}${shown}`, dir: r > 0 ? "up" : "down" };
}

export function points(v) {
  if (v == null) return null;
  return `${v > 0 ? "+" : ""}${(v * 100).toFixed(2)} pts`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

// "2026-11-02T13:00:00Z" / "2026-11-02" / "2026-11" -> epoch seconds (UTC)
export function epoch(label) {
  const iso = label.length === 7 ? `${label}-01T00:00:00Z` : label.length === 10 ? `${label}T00:00:00Z` : label;
  return Date.parse(iso) / 1000;
}

export function when(t) {
  if (t == null) return "–";
  const d = new Date(typeof t === "number" ? t * 1000 : Date.parse(t));
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}, ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}

export function shortWhen(t) {
  const d = new Date(typeof t === "number" ? t * 1000 : Date.parse(t));
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}, ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

export function day(t) {
  const d = new Date(typeof t === "number" ? t * 1000 : Date.parse(t.length === 10 ? `${t}T00:00:00Z` : t));
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
}

// A short axis label: "6 Dec", "Dec 2026", or "13:00" (with the day at midnight: "6 Dec\n00:00").
export function tick(t, step, first) {
  const d = new Date(t * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  if (step === "month") return `${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
  const date = `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
  if (step === "day") return date;
  const time = `${pad(d.getUTCHours())}:00`;
  return first || d.getUTCHours() === 0 ? `${time}\n${date}` : time;
}

export function bucketLabel(label, step) {
  const d = new Date(epoch(label) * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  if (step === "month") return `${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
  if (step === "day") return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}, ${pad(d.getUTCHours())}:00 UTC`;
}

export function ago(t, now = Date.now() / 1000) {
  if (t == null) return "never";
  const s = now - (typeof t === "number" ? t : Date.parse(t) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}
