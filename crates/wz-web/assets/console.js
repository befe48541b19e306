// The operator console: registry import with progress, relying parties,
// credential lookup by ID number (blind index, never a bulk list), the
// audit log and its chain check, live metrics, key rotation. The admin
// token lives in this module's memory only: never in storage or a URL.
import { $, api, fill, fmtTime, h, initLang, onLang, show, sleep, t } from './common.js';

// Scenario presets, as wz_terminal::presets defines them (a test checks they agree).
const PRESETS = /* presets */ [
  { "name": "hotel", "modes": ["0x06", "0x42"], "attributes": ["name", "id_number"], "rate_per_s": 20 },
  { "name": "internet-cafe", "modes": ["0x04"], "attributes": ["age_over_18"], "rate_per_s": 20 },
  { "name": "gov-hall", "modes": ["0x0C", "0x06"], "attributes": ["name", "id_number"], "rate_per_s": 50 },
  { "name": "ticket-machine", "modes": ["0x04"], "attributes": ["name", "id_number"], "rate_per_s": 100 },
  { "name": "event-gate", "modes": ["0x06", "0x04"], "attributes": [], "rate_per_s": 200 },
  { "name": "courier", "modes": ["0x04", "0x42"], "attributes": ["name"], "rate_per_s": 20 }
] /* end presets */;

const TEXTS = {
  zh: {
    title: '网证平台运维控制台', logout: '退出', login_title: '运维登录', token: '运维令牌', login: '登录',
    token_note: '令牌只保存在本页内存中，关闭或刷新页面即需重新登录。', bad_token: '令牌错误或缺失',
    tab_import: '户籍导入', tab_rps: '应用方', tab_creds: '网证查询', tab_audit: '审计日志', tab_metrics: '运行监控', tab_keys: '平台密钥',
    import_file: '文件', import_start: '开始导入', no_import_dir: '平台未配置导入目录（import_dir）。',
    import_dir_empty: '导入目录中没有 CSV 或 JSONL 文件。', import_counts: '已读 {rows}/{total} 行 · 新增 {inserted} · 已存在 {present} · 拒绝 {rejected}',
    import_done: '导入完成', import_failed: '导入中止：{e}', rejects: '被拒绝的行', line: '行号', reason: '原因', rejects_file: '完整列表见 {f}',
    rp_name: '名称', role: '角色', modes: '模式', attributes: '属性', rate: '限速/秒', state: '状态', register: '注册应用方',
    preset: '场景模板', public_key: 'SM2 公钥（十六进制）', add_key: '添加密钥 / 吊销密钥', add_key_button: '添加密钥',
    key_id: '密钥ID', revoke_key: '吊销密钥', revoke: '吊销', active: '有效', revoked: '已吊销', registered: '已注册，密钥ID {id}',
    key_added: '已添加密钥 {id}', key_revoked: '密钥已吊销', rp_revoked: '应用方已吊销', confirm_revoke: '确定吊销应用方 {id}？',
    id_number: '公民身份号码', lookup: '查询', lookup_note: '按身份证号经盲索引查询单人，不提供批量列表。',
    not_in_registry: '户籍库中无此号码', no_credentials: '此人尚无网证', cred_id: '网证ID', level: '等级', issued: '签发', not_after: '有效至',
    lightweight: '轻量版', upgraded: '升级版', suspended: '已暂停', superseded: '已替换', expired: '已过期',
    verify_chain: '校验哈希链', reload: '刷新', older: '更早', when: '时间', actor: '操作者', action: '操作', detail: '详情',
    chain_ok: '审计链完整：{n} 条，链头 {head}', chain_broken: '审计链在第 {seq} 条处断裂：{why}',
    rate_chart: '核验次数/秒', p99_chart: '核验 p99 延迟（毫秒）', codes: '结果代码', result: '结果', count: '次数',
    keys_note: '轮换后旧密钥继续用于解密已发出的二维码，过渡期结束后退役。', rotate_signing: '轮换签名密钥',
    rotate_encryption: '轮换加密密钥', rotated: '{usage} 密钥已轮换，新密钥ID {id}',
  },
  en: {
    title: '网证 operator console', logout: 'Log out', login_title: 'Operator login', token: 'Operator token', login: 'Log in',
    token_note: 'The token stays in this page\'s memory only: closing or reloading the page logs you out.', bad_token: 'The token is wrong or missing',
    tab_import: 'Registry import', tab_rps: 'Relying parties', tab_creds: 'Credentials', tab_audit: 'Audit log', tab_metrics: 'Metrics', tab_keys: 'Platform keys',
    import_file: 'File', import_start: 'Start import', no_import_dir: 'The platform has no import folder (import_dir).',
    import_dir_empty: 'The import folder holds no CSV or JSONL file.', import_counts: '{rows}/{total} rows read · {inserted} new · {present} already present · {rejected} rejected',
    import_done: 'Import finished', import_failed: 'Import stopped: {e}', rejects: 'Rejected rows', line: 'Line', reason: 'Reason', rejects_file: 'Full list in {f}',
    rp_name: 'Name', role: 'Role', modes: 'Modes', attributes: 'Attributes', rate: 'Rate/s', state: 'State', register: 'Register a relying party',
    preset: 'Scenario preset', public_key: 'SM2 public key (hex)', add_key: 'Add or revoke a key', add_key_button: 'Add key',
    key_id: 'Key id', revoke_key: 'Revoke key', revoke: 'Revoke', active: 'active', revoked: 'revoked', registered: 'Registered, key id {id}',
    key_added: 'Key {id} added', key_revoked: 'Key revoked', rp_revoked: 'Relying party revoked', confirm_revoke: 'Revoke relying party {id}?',
    id_number: 'ID number', lookup: 'Look up', lookup_note: 'One person by ID number, through the blind index; there is no bulk listing.',
    not_in_registry: 'This number is not in the registry', no_credentials: 'This person holds no credential yet', cred_id: 'Credential id', level: 'Level', issued: 'Issued', not_after: 'Valid until',
    lightweight: 'lightweight', upgraded: 'upgraded', suspended: 'suspended', superseded: 'superseded', expired: 'expired',
    verify_chain: 'Verify chain', reload: 'Reload', older: 'Older', when: 'When', actor: 'Actor', action: 'Action', detail: 'Detail',
    chain_ok: 'Audit chain intact: {n} entries, head {head}', chain_broken: 'Audit chain broken at entry {seq}: {why}',
    rate_chart: 'Verifications per second', p99_chart: 'Verification p99 latency (ms)', codes: 'Result codes', result: 'Result', count: 'Count',
    keys_note: 'After a rotation the old key still opens QR codes already shown, and retires after the drain period.', rotate_signing: 'Rotate signing key',
    rotate_encryption: 'Rotate encryption key', rotated: '{usage} key rotated, new key id {id}',
  },
};

let token = null;
let auditBefore = null;
let rps = [];
const error = (text) => { $('error').textContent = text || ''; };

const admin = (path, opts = {}) => api(path, { ...opts, headers: { ...(opts.headers || {}), authorization: `Bearer ${token}` } });
const guard = (f) => async (ev) => { ev?.preventDefault(); error(''); try { await f(ev); } catch (e) { error(e.message); } };

function selectTab(name) {
  document.querySelectorAll('#tabs button').forEach((b) => b.setAttribute('aria-selected', String(b.dataset.tab === name)));
  document.querySelectorAll('[role=tabpanel]').forEach((p) => { p.hidden = p.id !== `tab-${name}`; });
  const load = { import: loadImportFiles, rps: loadRps, audit: reloadAudit }[name];
  if (load) load().catch((e) => error(e.message));
}

// ---------------------------------------------------------------- import
async function loadImportFiles() {
  const f = await admin('/v1/admin/registry/files');
  fill($('import-file'), ...f.files.map((n) => h('option', { value: n, text: n })));
  $('import-start').disabled = f.files.length === 0;
  $('import-note').textContent = !f.configured ? t('no_import_dir') : (f.files.length ? '' : t('import_dir_empty'));
}

function showImport(s) {
  $('import-progress').max = Math.max(s.total, 1);
  $('import-progress').value = s.rows;
  $('import-counts').textContent = t('import_counts', { rows: s.rows, total: s.total, inserted: s.inserted, present: s.already_present, rejected: s.rejected })
    + (s.finished ? ` · ${s.error ? t('import_failed', { e: s.error }) : t('import_done')}` : '');
  $('import-counts').dataset.finished = String(s.finished);
  show('rejects-table', s.rejects.length > 0);
  fill($('rejects'), ...s.rejects.map((r) => h('tr', {}, h('td', { className: 'num', text: r.line }), h('td', { text: r.reason }))));
  if (s.rejects_file) $('rejects').append(h('tr', {}, h('td', { colSpan: 2, className: 'muted', text: t('rejects_file', { f: s.rejects_file }) })));
}

async function startImport() {
  $('import-start').disabled = true;
  try {
    let s = await admin('/v1/admin/registry/imports', { json: { file: $('import-file').value } });
    showImport(s);
    while (!s.finished) {
      await sleep(250);
      s = await admin(`/v1/admin/registry/imports/${s.job}`);
      showImport(s);
    }
  } finally {
    $('import-start').disabled = false;
  }
}

// ---------------------------------------------------------------- relying parties
async function loadRps() {
  rps = await admin('/v1/admin/rps');
  fill($('rps'), ...rps.map((r) => h('tr', { dataset: { rp: r.rp_id } },
    h('td', { text: r.rp_id }), h('td', { text: r.name }), h('td', { text: r.role }),
    h('td', { text: r.modes.join(' ') }), h('td', { text: r.attributes.join(' ') }),
    h('td', { className: 'num', text: r.rate_per_s }), h('td', { text: t(r.active ? 'active' : 'revoked') }),
    h('td', {}, r.active ? h('button', { type: 'button', text: t('revoke'), onclick: guard(async () => {
      if (!window.confirm(t('confirm_revoke', { id: r.rp_id }))) return;
      await admin(`/v1/admin/rps/${encodeURIComponent(r.rp_id)}/revoke`, { method: 'POST' });
      $('rp-result').textContent = t('rp_revoked');
      await loadRps();
    }) }) : null))));
}

function applyPreset() {
  const p = PRESETS.find((x) => x.name === $('rp-preset').value);
  if (!p) return;
  $('rp-modes').value = p.modes.join(' ');
  $('rp-attrs').value = p.attributes.join(' ');
  $('rp-rate').value = p.rate_per_s;
}

const words = (s) => s.split(/[\s,]+/).filter(Boolean);

// ---------------------------------------------------------------- credentials
async function lookup() {
  const r = await admin('/v1/admin/credentials/lookup', { json: { id_number: $('lookup-id').value.trim().toUpperCase() } });
  $('lookup-result').textContent = !r.in_registry ? t('not_in_registry') : (r.credentials.length ? '' : t('no_credentials'));
  fill($('creds'), ...r.credentials.map((c) => h('tr', { dataset: { status: c.status } },
    h('td', { text: c.cred_id.slice(0, 16) }), h('td', { text: t(c.level) }), h('td', { text: t(c.status) }),
    h('td', { text: fmtTime(c.issued_at) }), h('td', { text: fmtTime(c.not_after) }))));
}

// ---------------------------------------------------------------- audit
function auditRows(entries) {
  return entries.map((e) => h('tr', {}, h('td', { className: 'num', text: e.seq }), h('td', { text: fmtTime(e.time) }),
    h('td', { text: e.actor }), h('td', { text: e.action }), h('td', { text: e.detail }), h('td', { text: e.hash.slice(0, 12) })));
}

async function reloadAudit() {
  const page = await admin('/v1/admin/audit?limit=50');
  fill($('audit'), ...auditRows(page.entries));
  auditBefore = page.entries.length ? page.entries[page.entries.length - 1].seq : null;
}

async function olderAudit() {
  if (auditBefore === null) return;
  const page = await admin(`/v1/admin/audit?limit=50&before=${auditBefore}`);
  $('audit').append(...auditRows(page.entries));
  if (page.entries.length) auditBefore = page.entries[page.entries.length - 1].seq;
}

async function verifyChain() {
  const s = await admin('/v1/admin/audit/verify');
  const el = $('audit-status');
  el.className = s.intact ? 'ok' : 'error';
  el.dataset.intact = String(s.intact);
  el.textContent = s.intact
    ? t('chain_ok', { n: s.entries, head: (s.head_hash || '').slice(0, 16) })
    : t('chain_broken', { seq: s.first_break_seq, why: s.first_break });
}

// ---------------------------------------------------------------- metrics
const series = { rate: [], p99: [] };
let previous = null;

function parseMetrics(text) {
  const byResult = {};
  const buckets = [];
  let total = 0;
  for (const line of text.split('\n')) {
    let m = line.match(/^wz_verifications_total\{result="([^"]+)",mode="[^"]*"\} (\d+)/);
    if (m) { byResult[m[1]] = (byResult[m[1]] || 0) + Number(m[2]); total += Number(m[2]); continue; }
    m = line.match(/^wz_request_duration_seconds_bucket\{route="\/v1\/verify",le="([^"]+)"\} (\d+)/);
    if (m) buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
  }
  return { byResult, buckets, total, at: performance.now() };
}

function p99(now, before) {
  const d = now.buckets.map(([le, c], i) => [le, c - (before?.buckets[i]?.[1] || 0)]);
  const n = d.length ? d[d.length - 1][1] : 0;
  if (n <= 0) return 0;
  const hit = d.find(([, c]) => c >= 0.99 * n);
  return hit && Number.isFinite(hit[0]) ? hit[0] * 1000 : (d.length > 1 ? d[d.length - 2][0] * 1000 : 0);
}

function drawChart(canvas, values) {
  const g = canvas.getContext('2d');
  const { width: w, height: ht } = canvas;
  g.clearRect(0, 0, w, ht);
  const max = Math.max(1, ...values);
  g.fillStyle = '#57606a';
  g.font = '14px sans-serif';
  g.fillText(max.toFixed(1), 4, 14);
  g.strokeStyle = '#b4232a';
  g.lineWidth = 2;
  g.beginPath();
  values.forEach((v, i) => {
    const x = (i / Math.max(values.length - 1, 1)) * (w - 10) + 5;
    const y = ht - 5 - (v / max) * (ht - 25);
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
}

async function pollMetrics() {
  for (;;) {
    if (token && !$('tab-metrics').hidden) {
      try {
        const now = parseMetrics(await api('/metrics'));
        if (previous) {
          const secs = (now.at - previous.at) / 1000;
          series.rate.push(Math.max(0, (now.total - previous.total) / Math.max(secs, 0.001)));
          series.p99.push(p99(now, previous));
          for (const k of ['rate', 'p99']) if (series[k].length > 120) series[k].shift();
          drawChart($('chart-rate'), series.rate);
          drawChart($('chart-p99'), series.p99);
        }
        fill($('codes'), ...Object.entries(now.byResult).sort((a, b) => b[1] - a[1])
          .map(([k, v]) => h('tr', { dataset: { code: k } }, h('td', { text: k }), h('td', { className: 'num', text: v }))));
        previous = now;
      } catch (e) { error(e.message); }
    }
    await sleep(2000);
  }
}

// ---------------------------------------------------------------- keys
async function rotate(usage) {
  const r = await admin(`/v1/admin/platform-keys/${usage}/rotate`, { method: 'POST' });
  $('rotate-result').textContent = t('rotated', { usage, id: r.key_id });
}

// ---------------------------------------------------------------- login
async function login() {
  token = $('token').value;
  $('token').value = '';
  try {
    await admin('/v1/admin/audit/verify');
  } catch (e) {
    token = null;
    throw new Error(e.status === 401 ? t('bad_token') : e.message);
  }
  show('login-panel', false);
  show('app');
  show('logout');
  selectTab('import');
}

function logout() {
  token = null;
  show('app', false);
  show('logout', false);
  show('login-panel');
  $('token').focus();
}

function main() {
  initLang(TEXTS);
  fill($('rp-preset'), h('option', { value: '', text: '—' }), ...PRESETS.map((p) => h('option', { value: p.name, text: p.name })));
  $('login-form').addEventListener('submit', guard(login));
  $('logout').addEventListener('click', logout);
  document.querySelectorAll('#tabs button').forEach((b) => b.addEventListener('click', () => selectTab(b.dataset.tab)));
  $('import-start').addEventListener('click', guard(startImport));
  $('rp-preset').addEventListener('change', applyPreset);
  $('rp-form').addEventListener('submit', guard(async () => {
    const r = await admin('/v1/admin/rps', { json: {
      rp_id: $('rp-id').value.trim(), name: $('rp-name').value.trim(), role: $('rp-role').value,
      public_key: $('rp-key').value.trim(), modes: words($('rp-modes').value), attributes: words($('rp-attrs').value),
      rate_per_s: Number($('rp-rate').value),
    } });
    $('rp-result').textContent = t('registered', { id: r.key_id });
    await loadRps();
  }));
  $('key-form').addEventListener('submit', guard(async () => {
    const r = await admin(`/v1/admin/rps/${encodeURIComponent($('key-rp').value.trim())}/keys`, { json: { public_key: $('key-hex').value.trim() } });
    $('rp-result').textContent = t('key_added', { id: r.key_id });
  }));
  $('revoke-key-form').addEventListener('submit', guard(async () => {
    await admin(`/v1/admin/rp-keys/${encodeURIComponent($('revoke-key-id').value.trim())}/revoke`, { method: 'POST' });
    $('rp-result').textContent = t('key_revoked');
  }));
  $('lookup-form').addEventListener('submit', guard(lookup));
  $('audit-verify').addEventListener('click', guard(verifyChain));
  $('audit-reload').addEventListener('click', guard(reloadAudit));
  $('audit-older').addEventListener('click', guard(olderAudit));
  $('rotate-signing').addEventListener('click', guard(() => rotate('signing')));
  $('rotate-encryption').addEventListener('click', guard(() => rotate('encryption')));
  onLang(() => { if (token && !$('tab-rps').hidden) loadRps().catch(() => {}); });
  pollMetrics();
}

main();
