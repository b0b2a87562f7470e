// Charts on uPlot (vendored): stacked bars over time and lines over time, with a hover read-out and a legend
// built from text nodes. Times are UTC.

import uPlot from "../vendor/uPlot.esm.js";
import { append, h } from "./dom.js";
import { bucketLabel, epoch, tick } from "./format.js";

export const PALETTE = [
  "#3b6fd4", "#e58a3a", "#3f9e6e", "#cf4c5c", "#7b61c9", "#2f9bb3", "#c4a02d", "#8d6e5b", "#c56aa3", "#7c8796",
  "#a9b9dc", "#b5cfa6", "#b8b8b8",
];
const OTHER_COLOR = "#b8bfca";
const STEP_SECONDS = { hour: 3600, day: 86400, month: 86400 * 30 };
const FONT = '12px Inter, system-ui, sans-serif';
const live = new Set();

export function colorOf(name, i) {
  return name === "(other)" ? OTHER_COLOR : PALETTE[i % PALETTE.length];
}

// Destroy every chart of the page being left (uPlot instances and their resize observers).
export function destroyAll() {
  for (const dispose of live) dispose();
  live.clear();
}

function axisSize(self, values, axisIdx, cycleNum) {
  const axis = self.axes[axisIdx];
  if (cycleNum > 1) return axis._size;
  let size = axis.ticks.size + axis.gap;
  const longest = (values || []).reduce((acc, v) => (v.length > acc.length ? v : acc), "");
  if (longest) {
    self.ctx.font = axis.font[0];
    size += self.ctx.measureText(longest).width / devicePixelRatio;
  }
  return Math.ceil(size) + 4;
}

// Nice label strides (in buckets) per step, the first that leaves room for every label.
const STRIDES = { hour: [1, 2, 3, 4, 6, 12, 24, 48, 72, 168], day: [1, 2, 3, 7, 14, 28, 56], month: [1, 2, 3, 6, 12] };
const LABEL_PX = { hour: 58, day: 56, month: 72 };

function xSplits(xs, step) {
  return (u) => {
    const room = Math.max(1, Math.floor(u.bbox.width / devicePixelRatio / LABEL_PX[step]));
    const stride = STRIDES[step].find((s) => xs.length / s <= room) ?? Math.ceil(xs.length / room);
    if (step === "hour" && stride <= 24) return xs.filter((t) => (t / 3600) % stride === 0);
    return xs.filter((_, i) => i % stride === 0);
  };
}

const INTEGER_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7, 1e8];

function axes(yFmt, xs, step, integer = false) {
  const common = { stroke: "#5d6878", font: FONT, grid: { stroke: "#eef0f3", width: 1 }, ticks: { stroke: "#e2e5ea", width: 1, size: 4 } };
  return [
    { ...common, grid: { show: false }, splits: xSplits(xs, step), values: (u, splits) => splits.map((t, i) => tick(t, step, i === 0)), size: step === "hour" ? 46 : 32 },
    { ...common, size: axisSize, values: (u, vals) => vals.map((v) => yFmt(v)), incrs: integer ? INTEGER_INCRS : undefined },
  ];
}

// A hover read-out: the bucket and each series' own value there.
function tooltip(container, times, step, rows) {
  const tip = h("div", { class: "tooltip", role: "status" });
  tip.hidden = true;
  container.append(tip);
  return (u) => {
    const idx = u.cursor.idx;
    if (idx == null || u.cursor.left < 0) {
      tip.hidden = true;
      return;
    }
    tip.replaceChildren(h("div", { class: "tooltip-title" }, bucketLabel(times[idx], step)));
    append(tip, rows(idx).map(([name, color, text]) => h("div", { class: "tooltip-row" },
      h("span", {}, h("span", { class: "swatch", "data-color": color }), name), h("span", {}, text))));
    for (const sw of tip.querySelectorAll(".swatch")) sw.style.background = sw.dataset.color;
    tip.hidden = false;
    const over = u.over.getBoundingClientRect();
    const box = container.getBoundingClientRect();
    const x = over.left - box.left + u.cursor.left;
    const width = tip.offsetWidth;
    tip.style.left = `${x + 14 + width > box.width ? Math.max(0, x - 14 - width) : x + 14}px`;
    tip.style.top = `${Math.max(0, over.top - box.top + u.cursor.top - tip.offsetHeight / 2)}px`;
  };
}

function mount(container, opts, data, height) {
  const width = Math.max(240, container.clientWidth);
  const chart = new uPlot({ ...opts, width, height }, data, container);
  let last = width;
  const observer = new ResizeObserver(() => {
    const w = Math.max(240, container.clientWidth);
    if (w !== last) {
      last = w;
      chart.setSize({ width: w, height });
    }
  });
  observer.observe(container);
  live.add(() => { observer.disconnect(); chart.destroy(); });
  return chart;
}

// Stacked bars: series [{name, values}] (bottom first) over times (labels of hours, days or months).
export function stackedBars(container, { times, series, fmt, step, height = 260, integer = false }) {
  const xs = times.map(epoch);
  const cumulative = [];
  let acc = xs.map(() => 0);
  for (const s of series) {
    acc = acc.map((a, i) => a + (s.values[i] || 0));
    cumulative.push(acc);
  }
  const order = series.map((_, i) => i).reverse(); // the tallest stack first, each lower one painted over it
  const half = (xs.length > 1 ? xs[1] - xs[0] : STEP_SECONDS[step]) / 2;
  const bars = uPlot.paths.bars({ size: [0.72, 56], gap: 1 });
  const top = Math.max(0, ...acc);
  const opts = {
    legend: { show: false },
    cursor: { points: { show: false }, drag: { x: false, y: false } },
    scales: {
      x: { time: true, range: (u, min, max) => [min - half, max + half] },
      y: { range: () => [0, top > 0 ? top * 1.1 : 1] },
    },
    series: [{}, ...order.map((i) => ({
      label: series[i].name, fill: colorOf(series[i].name, i), stroke: colorOf(series[i].name, i), width: 0, paths: bars,
      points: { show: false },
    }))],
    axes: axes(fmt, xs, step, integer),
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
    hooks: {
      setCursor: [tooltip(container, times, step, (idx) => series.map((s, i) => [s.name, colorOf(s.name, i), fmt(s.values[idx] || 0)]).reverse())],
    },
  };
  return mount(container, opts, [xs, ...order.map((i) => cumulative[i])], height);
}

// Lines: series [{name, values (null: no data), color, dashed}] over times.
export function lines(container, { times, series, fmt, step, height = 220 }) {
  const xs = times.map(epoch);
  const few = xs.length <= 40;
  const opts = {
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.12 : 1] } },
    series: [{}, ...series.map((s) => ({
      label: s.name, stroke: s.color, width: 2, dash: s.dashed ? [6, 4] : undefined, spanGaps: false,
      points: { show: few, size: 5, fill: s.color },
    }))],
    axes: axes(fmt, xs, step),
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
    hooks: { setCursor: [tooltip(container, times, step, (idx) => series.map((s) => [s.name, s.color, s.values[idx] == null ? "–" : fmt(s.values[idx])]))] },
  };
  return mount(container, opts, [xs, ...series.map((s) => s.values)], height);
}

// A legend: items [{name, color, dashed, value}] as text.
export function legend(items) {
  const el = h("div", { class: "legend" }, items.map((it) => {
    const mark = it.line ? h("span", { class: it.dashed ? "legend-line dashed" : "legend-line" }) : h("span", { class: "swatch" });
    const item = h("span", { class: "legend-item", title: it.name }, mark, it.name, it.value != null ? h("span", { class: "muted" }, `\u00a0· ${it.value}`) : null);
    if (it.line) mark.style.color = it.color;
    else mark.style.background = it.color;
    return item;
  }));
  return el;
}
