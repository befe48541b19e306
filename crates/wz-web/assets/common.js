// Shared by the three pages: language (Chinese first, English one click
// away), JSON calls with readable errors, small DOM helpers.

let lang = localStorage.getItem('wz-lang') === 'en' ? 'en' : 'zh';
let dict = { zh: {}, en: {} };
const listeners = [];

export const $ = (id) => document.getElementById(id);
export const show = (id, on = true) => { $(id).hidden = !on; };
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const currentLang = () => lang;

/** Text for `key` in the current language, `{name}` placeholders filled. */
export function t(key, vars = {}) {
  let s = dict[lang]?.[key] ?? dict.zh[key] ?? key;
  for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

/** A `{zh, en}` message from a service in the current language. */
export const msg = (m) => (m ? (lang === 'zh' ? m.zh : m.en) : '');

function apply() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  document.querySelectorAll('[data-t]').forEach((el) => { el.textContent = t(el.dataset.t); });
  document.querySelectorAll('[data-t-label]').forEach((el) => el.setAttribute('aria-label', t(el.dataset.tLabel)));
  document.querySelectorAll('[data-t-ph]').forEach((el) => { el.placeholder = t(el.dataset.tPh); });
  const title = document.querySelector('title[data-t]');
  if (title) document.title = t(title.dataset.t);
  const b = $('lang');
  if (b) b.textContent = lang === 'zh' ? 'English' : '中文';
  listeners.forEach((f) => f());
}

/** Installs the page's texts and the language button. */
export function initLang(texts) {
  dict = texts;
  $('lang')?.addEventListener('click', () => {
    lang = lang === 'zh' ? 'en' : 'zh';
    localStorage.setItem('wz-lang', lang);
    apply();
  });
  apply();
}

/** Calls `f` whenever the language changes (to redraw dynamic text). */
export const onLang = (f) => listeners.push(f);

/** fetch + JSON; a failed call throws an Error carrying the service's message. */
export async function api(path, opts = {}) {
  const init = { ...opts, headers: { ...(opts.headers || {}) } };
  if (opts.json !== undefined) {
    init.method = init.method || 'POST';
    init.body = JSON.stringify(opts.json);
    init.headers['content-type'] = 'application/json';
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!r.ok) {
    const e = new Error(body ? (msg(body) || body.detail || body.title || r.statusText) : r.statusText);
    e.status = r.status;
    e.body = body;
    throw e;
  }
  return body ?? text;
}

export function fmtTime(unix) {
  return new Date(unix * 1000).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB');
}

/** Replaces the children of `el` with `nodes`. */
export function fill(el, ...nodes) {
  el.replaceChildren(...nodes);
}

/** A new element: tag, properties (text, className, dataset …), children. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k in el) el[k] = v;
    else el.setAttribute(k, v);
  }
  el.append(...children.filter((c) => c !== null && c !== undefined));
  return el;
}
