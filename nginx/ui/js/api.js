// The console's JSON API (/lmgate/v1/console/...). The token lives in this tab's sessionStorage and travels
// only in the Authorization header: never in a URL.

const KEY = "lmgate.console.token";

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

export class Unauthorized extends Error {}

export async function get(path, params = {}, as = "json") {
  const secret = token.get();
  if (!secret) throw new Unauthorized("signed out");
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value != null && value !== "") query.set(name, value);
  }
  const qs = query.toString();
  const resp = await fetch(`../v1/console/${path}${qs ? `?${qs}` : ""}`, {
    headers: { Authorization: `Bearer ${secret}` },
    cache: "no-store",
    credentials: "omit",
    referrerPolicy: "no-referrer",
  });
  if (resp.status === 401) throw new Unauthorized("the gateway did not accept the token");
  if (!resp.ok) {
    let message = `${resp.status} ${resp.statusText}`;
    try { message = (await resp.json()).error.message; } catch { /* not JSON: keep the status */ }
    throw new Error(message);
  }
  return as === "text" ? resp.text() : resp.json();
}
