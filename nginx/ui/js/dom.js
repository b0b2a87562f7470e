// Building DOM from data: every value becomes a text node or an attribute value, never markup.

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "style") throw new Error("set styles through el.style (the CSP forbids style attributes)");
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function emptyState(title, text) {
  return h("div", { class: "empty" }, h("div", { class: "empty-icon" }), h("div", { class: "empty-title" }, title),
    text ? h("div", {}, text) : null);
}

export function card(title, body, { actions = null, sub = null, flush = false } = {}) {
  return h("section", { class: "card" },
    h("div", { class: "card-head" }, h("div", {}, h("h2", {}, title), sub ? h("div", { class: "fine" }, sub) : null), actions),
    h("div", { class: flush ? "card-body flush" : "card-body" }, body));
}

export function pageHead(title, text, controls) {
  return h("div", { class: "page-head" }, h("div", {}, h("h1", {}, title), text ? h("p", {}, text) : null), controls);
}

// A segmented control: options [[value, label]], calls onPick(value).
export function segmented(label, options, current, onPick) {
  return h("div", { class: "seg", role: "group", "aria-label": label },
    options.map(([value, text]) => h("button", {
      type: "button", "aria-pressed": String(value === current), "data-value": value,
      onclick: () => onPick(value),
    }, text)));
}

export function select(label, options, current, onPick) {
  const el = h("select", { "aria-label": label, onchange: (e) => onPick(e.target.value) },
    options.map(([value, text]) => h("option", { value, selected: value === current }, text)));
  return h("label", { class: "field" }, label, el);
}

// A table: columns [{key, label, num, cell(row) -> node|text, cls}], rows; optional footer row.
export function table(columns, rows, { foot = null, caption = null } = {}) {
  // opt: a secondary column, hidden on narrow screens
  const cls = (c, extra = "") => [c.num ? "num" : "", c.opt ? "opt" : "", extra].join(" ").trim() || null;
  const head = h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: cls(c), scope: "col" }, c.label))));
  const body = h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) =>
    h("td", { class: cls(c, c.cls) }, c.cell ? c.cell(row) : row[c.key])))));
  const tfoot = foot ? h("tfoot", {}, h("tr", {}, columns.map((c, i) =>
    h("td", { class: cls(c) }, i === 0 ? "Total" : c.foot ? c.foot(foot) : "")))) : null;
  return h("div", { class: "table-wrap" }, h("table", {}, caption ? h("caption", { class: "fine" }, caption) : null, head, body, tfoot));
}

// Previous/next for a paged list: total rows, limit, offset, onPage(offset).
export function pager(total, limit, offset, onPage) {
  const first = total ? offset + 1 : 0;
  const last = Math.min(offset + limit, total);
  return h("div", { class: "pager" },
    h("span", {}, `${first.toLocaleString("en-US")}–${last.toLocaleString("en-US")} of ${total.toLocaleString("en-US")}`),
    h("div", { class: "pager-buttons" },
      h("button", { type: "button", class: "btn", disabled: offset <= 0, onclick: () => onPage(Math.max(0, offset - limit)) }, "Previous"),
      h("button", { type: "button", class: "btn", disabled: last >= total, onclick: () => onPage(offset + limit) }, "Next")));
}
