// The citizen's wallet: unlock, the credential card, the rotating QR with
// its countdown, who verified me, suspend / resume, sync (a credential
// replaced on another phone is wiped here, and the page says why), PIN
// change, and lightweight enrolment with the camera.
import { $, api, fill, fmtTime, h, initLang, msg, onLang, show, sleep, t } from './common.js';
import { STEP_TEXT, STEP_TEXTS, guidedCapture, openCamera } from './camera.js';

const TEXTS = {
  zh: {
    title: '我的网证', create_title: '创建钱包', new_wallet_pin: '设置钱包密码（6位以上）', create: '创建',
    unlock_title: '输入钱包密码', wallet_pin: '钱包密码', unlock: '解锁',
    wrong_pin: '钱包密码错误，还可尝试 {n} 次，之后钱包将被清除', locked: '密码错误次数过多，请 {s} 秒后再试',
    enrol_title: '申领网证（轻量版）', name: '姓名', id_number: '公民身份号码', valid_from: '有效期起始日期',
    valid_to: '有效期截止日期（长期有效可不填）', enrol_start: '下一步：人脸核验', enrolled: '网证已申领：{level}',
    lightweight: '轻量版网证', upgraded: '升级版网证', valid: '有效期至 {d}',
    qr_title: '出示网证二维码', qr_label: '网证二维码', qr_note: '二维码每分钟更新，不含个人信息。',
    refresh: '刷新', sync: '同步状态', suspend: '暂停使用', resume: '恢复使用', lock: '锁定钱包',
    countdown: '{s} 秒后更新', history_title: '谁核验了我', when: '时间', who: '核验方', how: '方式', result: '结果',
    no_history: '暂无核验记录', change_pin: '修改钱包密码', save: '保存', pin_changed: '钱包密码已修改',
    credential_pin: '8位网证口令（升级版）', status_active: '网证状态：正常', status_suspended: '网证状态：已暂停',
    wiped_superseded: '此网证已在另一台设备上重新申领，本机的网证已清除。如非本人操作，请立即在新设备上暂停并联系发证机关。',
    wiped_revoked: '此网证已被注销，本机的网证已清除。', wiped_expired: '此网证已过期，本机的网证已清除，请重新申领。',
    camera_error: '无法打开摄像头',
  },
  en: {
    title: 'My 网证', create_title: 'Create the wallet', new_wallet_pin: 'New wallet PIN (6 or more characters)', create: 'Create',
    unlock_title: 'Enter the wallet PIN', wallet_pin: 'Wallet PIN', unlock: 'Unlock',
    wrong_pin: 'Wrong wallet PIN: {n} tries left before the wallet is wiped', locked: 'Too many wrong PINs: try again in {s} s',
    enrol_title: 'Get a credential (lightweight)', name: 'Name', id_number: 'ID number', valid_from: 'Card valid from',
    valid_to: 'Card valid to (empty for a long-term card)', enrol_start: 'Next: face check', enrolled: 'Credential issued: {level}',
    lightweight: 'Lightweight credential', upgraded: 'Upgraded credential', valid: 'Valid until {d}',
    qr_title: 'Show your 网证 QR', qr_label: '网证 QR code', qr_note: 'The QR changes every minute and carries no personal data.',
    refresh: 'Refresh', sync: 'Sync status', suspend: 'Suspend', resume: 'Resume', lock: 'Lock wallet',
    countdown: 'new code in {s} s', history_title: 'Who verified me', when: 'When', who: 'Verifier', how: 'Mode', result: 'Result',
    no_history: 'No verifications yet', change_pin: 'Change the wallet PIN', save: 'Save', pin_changed: 'Wallet PIN changed',
    credential_pin: '8-digit credential PIN (upgraded)', status_active: 'Credential status: active', status_suspended: 'Credential status: suspended',
    wiped_superseded: 'This credential was enrolled again on another device, so it was wiped from this one. If that was not you, suspend it on the new device and contact the issuer now.',
    wiped_revoked: 'This credential was revoked and wiped from this device.', wiped_expired: 'This credential expired and was wiped from this device; enrol again.',
    camera_error: 'The camera cannot be opened',
  },
};
for (const l of ['zh', 'en']) Object.assign(TEXTS[l], STEP_TEXTS[l]);

let st = null;
let card = null;
let history = [];
let qrExpires = 0;
let lockUntil = 0;
let statusKey = '';
let stream = null;

const error = (text) => { $('error').textContent = text || ''; };

async function refresh() {
  st = await api('/api/state');
  show('create-panel', !st.exists && st.can_create);
  show('unlock-panel', st.exists && !st.unlocked);
  show('enrol-panel', st.unlocked && !st.enrolled);
  show('card-panel', st.unlocked && st.enrolled);
  show('wiped', !!st.wiped);
  if (st.wiped) $('wiped').textContent = t(`wiped_${st.wiped}`);
  if (st.unlocked && st.enrolled) {
    card = await api('/api/card');
    renderCard();
    await loadQr();
    await loadHistory();
  }
}

function renderCard() {
  if (!card) return;
  $('idcard').className = `idcard ${card.level === 'lightweight' ? 'light' : ''}`;
  $('card-level').textContent = t(card.level);
  $('card-name').textContent = card.masked_name;
  $('card-id').textContent = card.masked_id_number;
  $('card-valid').textContent = t('valid', { d: fmtTime(card.not_after) });
  show('resume-pin-box', card.level === 'upgraded');
}

async function loadQr() {
  try {
    const q = await api('/api/qr', { method: 'POST' });
    const doc = new DOMParser().parseFromString(q.svg, 'image/svg+xml');
    fill($('qr'), document.importNode(doc.documentElement, true));
    $('qr').dataset.serial = String(Number($('qr').dataset.serial || 0) + 1);
    qrExpires = Date.now() + q.refresh_secs * 1000;
    tick();
  } catch (e) {
    fill($('qr'));
    qrExpires = 0;
    error(e.message);
  }
}

function tick() {
  if (lockUntil) {
    const left = Math.ceil((lockUntil - Date.now()) / 1000);
    if (left > 0) {
      $('unlock-error').textContent = t('locked', { s: left });
      $('unlock-button').disabled = true;
    } else {
      lockUntil = 0;
      $('unlock-error').textContent = '';
      $('unlock-button').disabled = false;
    }
  }
  if (!qrExpires || $('card-panel').hidden) return;
  const left = Math.ceil((qrExpires - Date.now()) / 1000);
  if (left <= 0) {
    qrExpires = 0;
    loadQr();
    return;
  }
  $('countdown').textContent = t('countdown', { s: left });
}

async function loadHistory() {
  history = await api('/api/history');
  renderHistory();
}

function renderHistory() {
  if (history.length === 0) {
    fill($('history'), h('tr', {}, h('td', { colSpan: 4, className: 'muted', text: t('no_history') })));
    return;
  }
  fill($('history'), ...history.map((e) => h('tr', { dataset: { result: e.code } },
    h('td', { text: fmtTime(e.time) }), h('td', { text: e.rp_name }), h('td', { text: e.mode }),
    h('td', { text: msg(e), className: e.code === 'pass' ? 'ok' : 'error' }))));
}

function showStatus(status) {
  statusKey = `status_${status}`;
  $('status').textContent = t(statusKey);
  show('resume', status === 'suspended');
  show('suspend', status !== 'suspended');
}

async function capture(purpose) {
  show('capture-panel');
  const video = $('video');
  try {
    stream = stream || await openCamera(video);
  } catch {
    show('capture-panel', false);
    throw new Error(t('camera_error'));
  }
  const ch = await api('/api/challenge', { json: { purpose } });
  try {
    await guidedCapture({
      video, canvas: $('canvas'), challengeId: ch.challenge_id, actions: ch.actions,
      onStep: (name) => { $('capture-prompt').textContent = t(STEP_TEXT[name] || name); },
    });
  } catch (e) {
    throw new Error(t(e.message));
  } finally {
    show('capture-panel', false);
    stream?.getTracks().forEach((tr) => tr.stop());
    stream = null;
  }
  return ch.challenge_id;
}

const guard = (f) => async (ev) => {
  ev?.preventDefault();
  error('');
  try { await f(); } catch (e) { error(e.message); }
};

function wire() {
  $('create-form').addEventListener('submit', guard(async () => {
    await api('/api/init', { json: { pin: $('create-pin').value } });
    $('create-pin').value = '';
    await refresh();
  }));
  $('unlock-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('unlock-error').textContent = '';
    try {
      await api('/api/unlock', { json: { pin: $('unlock-pin').value } });
      $('unlock-pin').value = '';
      await refresh();
    } catch (e) {
      const b = e.body || {};
      if (b.code === 'wrong_pin') $('unlock-error').textContent = t('wrong_pin', { n: b.tries_left });
      else if (b.code === 'wallet_locked') { lockUntil = Date.now() + b.retry_after * 1000; tick(); }
      else $('unlock-error').textContent = e.message;
      await refresh().catch(() => {});
    }
  });
  $('enrol-form').addEventListener('submit', guard(async () => {
    const form = {
      name: $('enrol-name').value, id_number: $('enrol-id').value.toUpperCase(),
      valid_from: $('enrol-from').value, valid_to: $('enrol-to').value,
    };
    const challenge_id = await capture('enrol_light');
    await api('/api/enrol', { json: { ...form, challenge_id } });
    await refresh();
  }));
  $('qr-refresh').addEventListener('click', guard(loadQr));
  $('history-refresh').addEventListener('click', guard(loadHistory));
  $('sync').addEventListener('click', guard(async () => {
    const s = await api('/api/sync', { method: 'POST' });
    if (s.wiped) { qrExpires = 0; await refresh(); return; }
    showStatus(s.status);
  }));
  $('suspend').addEventListener('click', guard(async () => {
    showStatus((await api('/api/suspend', { method: 'POST' })).status);
  }));
  $('resume').addEventListener('click', guard(async () => {
    const pin = $('resume-pin').value;
    const challenge_id = await capture('resume');
    showStatus((await api('/api/resume', { json: { challenge_id, pin } })).status);
    $('resume-pin').value = '';
  }));
  $('lock').addEventListener('click', guard(async () => {
    await api('/api/lock', { method: 'POST' });
    qrExpires = 0;
    await refresh();
  }));
  $('pin-form').addEventListener('submit', guard(async () => {
    await api('/api/pin', { json: { new_pin: $('new-pin').value } });
    $('new-pin').value = '';
    $('status').textContent = t('pin_changed');
  }));
}

async function main() {
  initLang(TEXTS);
  onLang(() => { renderCard(); renderHistory(); if (statusKey) $('status').textContent = t(statusKey); if (st?.wiped) $('wiped').textContent = t(`wiped_${st.wiped}`); tick(); });
  wire();
  setInterval(tick, 1000);
  try { await refresh(); } catch (e) { error(e.message); }
}

main();
