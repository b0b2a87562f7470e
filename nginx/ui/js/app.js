// The console's shell: sign-in and sign-out, the page router (#/page?params), loading and error states.

import * as api from "./api.js";
import { destroyAll } from "./charts.js";
import { h } from "./dom.js";
import budgets from "./pages/budgets.js";
import keys from "./pages/keys.js";
import latency from "./pages/latency.js";
import overview from "./pages/overview.js";
import refusals from "./pages/refusals.js";
import spend from "./pages/spend.js";

const PAGES = { overview, spend, budgets, keys, latency, refusals };
const TITLES = { overview: "Overview", spend: "Spend", budgets: "Budgets", keys: "Keys", latency: "Latency", refusals: "Refusals & DLP" };
const $ = (id) => document.getElementById(id);
const main = $("main");
let who = null;
let rendering = 0;

function parseHash() {
  const m = location.hash.match(/^#\/([a-z]+)(?:\?(.*))?$/);
  const name = m && Object.hasOwn(PAGES, m[1]) ? m[1] : "overview";
  return { name, params: Object.fromEntries(new URLSearchParams(m ? m[2] || "" : "")) };
}

function go(name, params) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== "") query.set(k, v);
  const qs = query.toString();
  location.hash = `#/${name}${qs ? `?${qs}` : ""}`;
}

function showSignIn(message) {
  destroyAll();
  who = null;
  main.replaceChildren();
  main.hidden = true;
  document.querySelector(".topbar").hidden = true;
  $("sign-in").hidden = false;
  const error = $("sign-in-error");
  error.hidden = !message;
  error.textContent = message || "";
  document.title = "Sign in · lmgate console";
  $("token").focus();
}

function showApp() {
  $("sign-in").hidden = true;
  document.querySelector(".topbar").hidden = false;
  main.hidden = false;
  $("who").textContent = who.scope === "all" ? "Admin · all keys" : `Key ${who.key_id}`;
  $("who").title = who.scope === "all" ? "Signed in with the admin token" : `Signed in with the key ${who.key_id} (owner ${who.owner})`;
}

async function render() {
  if (!api.token.get()) return showSignIn();
  const seq = ++rendering;
  try {
    if (!who) who = await api.get("whoami");
    showApp();
    const { name, params } = parseHash();
    for (const a of document.querySelectorAll(".nav a")) a.classList.toggle("active", a.dataset.page === name);
    document.title = `${TITLES[name]} · lmgate console`;
    main.dataset.ready = "0";
    if (!main.dataset.page || main.dataset.page !== name) {
      destroyAll();
      main.replaceChildren(h("div", { class: "loading" }, "Loading…"));
    }
    const page = await PAGES[name](params, { who, go: (p) => go(name, p) });
    if (seq !== rendering) return; // a newer navigation won
    destroyAll();
    main.replaceChildren(page.el);
    if (page.mount) page.mount();
    main.dataset.page = name;
    main.dataset.ready = "1";
  } catch (e) {
    if (seq !== rendering) return;
    if (e instanceof api.Unauthorized) {
      api.token.clear();
      return showSignIn("That is neither the admin token nor a key on the gateway's allow-list.");
    }
    destroyAll();
    main.replaceChildren(h("div", { class: "card error-card", role: "alert" }, `Could not load this page: ${e.message}`));
    main.dataset.ready = "1";
  }
}

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("token").value.trim();
  $("token").value = "";
  if (!value) return;
  api.token.set(value);
  render();
});

$("sign-out").addEventListener("click", () => {
  api.token.clear();
  showSignIn();
  history.replaceState(null, "", location.pathname);
});

window.addEventListener("hashchange", render);
render();
