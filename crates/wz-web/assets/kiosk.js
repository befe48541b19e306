// The verifier kiosk: scan the citizen's QR from the camera, take the PIN
// or the live face when the mode asks, show the verdict. Every check runs
// in the local kiosk service, which holds the RP key.
import { $, api, fill, h, initLang, msg, onLang, show, sleep, t } from './common.js';
import { STEP_TEXT, STEP_TEXTS, grab, guidedCapture, openCamera } from './camera.js';

const TEXTS = {
  zh: {
    title: '网证核验终端', mode: '核验方式', today: '今日核验', passed: '通过',
    show_qr: '请出示网证二维码', foreign_qr: '这不是网证二维码', reading: '正在核验…',
    pin_title: '请输入8位网证口令', clear: '清除', confirm: '确认', next: '下一位',
    pass: '核验通过', fail: '核验未通过', level: '网证等级', lightweight: '轻量版', upgraded: '升级版',
    pseudonym: '本场所匿名标识', name: '姓名', id_number: '公民身份号码', sex: '性别', birth_date: '出生日期',
    age_over_18: '已满18周岁', age_over_60: '已满60周岁', address: '住址', yes: '是', no: '否',
    male: '男', female: '女', real_name: '已完成实名核验', code: '结果代码', camera_error: '无法打开摄像头',
    'mode_0x04': '网证二维码', 'mode_0x06': '网证二维码 + 人脸', 'mode_0x0C': '网证二维码 + 网证口令',
    'mode_0x42': '姓名身份证号 + 人脸', hotel: '酒店入住', 'internet-cafe': '网吧上网', 'gov-hall': '政务大厅',
    'ticket-machine': '自助售票机', 'event-gate': '活动检票', courier: '快递收寄',
  },
  en: {
    title: '网证 verification kiosk', mode: 'Check', today: 'Checks today', passed: 'passed',
    show_qr: 'Show your 网证 QR code', foreign_qr: 'This is not a 网证 QR code', reading: 'Checking…',
    pin_title: 'Enter the 8-digit credential PIN', clear: 'Clear', confirm: 'Confirm', next: 'Next',
    pass: 'Verified', fail: 'Not verified', level: 'Credential level', lightweight: 'lightweight', upgraded: 'upgraded',
    pseudonym: 'Pseudonym at this place', name: 'Name', id_number: 'ID number', sex: 'Sex', birth_date: 'Date of birth',
    age_over_18: 'Aged 18 or over', age_over_60: 'Aged 60 or over', address: 'Address', yes: 'yes', no: 'no',
    male: 'male', female: 'female', real_name: 'Real-name verified', code: 'Result code', camera_error: 'The camera cannot be opened',
    'mode_0x04': '网证 QR', 'mode_0x06': '网证 QR + face', 'mode_0x0C': '网证 QR + credential PIN',
    'mode_0x42': 'name and ID number + face', hotel: 'hotel check-in', 'internet-cafe': 'internet café',
    'gov-hall': 'government hall', 'ticket-machine': 'ticket machine', 'event-gate': 'event gate', courier: 'courier counter',
  },
};
for (const l of ['zh', 'en']) Object.assign(TEXTS[l], STEP_TEXTS[l]);

const video = $('video');
const canvas = $('canvas');
let info = null;
let state = 'scan';
let promptKey = 'show_qr';
let lastVerdict = null;
let pin = '';
let pinResolve = null;

function prompt(key) { promptKey = key; $('prompt').textContent = key ? t(key) : ''; }
function error(text) { $('error').textContent = text || ''; }

async function refreshInfo() {
  info = await api('/api/kiosk');
  $('place').textContent = t(info.preset);
  $('mode').textContent = t(`mode_${info.mode}`);
  $('today').textContent = info.checks_today;
  $('passed').textContent = info.passed_today;
}

function pinDots() { $('pindots').textContent = '●'.repeat(pin.length) + '○'.repeat(8 - pin.length); $('pin-ok').disabled = pin.length !== 8; }

function askPin() {
  pin = '';
  pinDots();
  show('pin-panel');
  $('pinpad').querySelector('button')?.focus();
  return new Promise((resolve) => { pinResolve = resolve; });
}

function buildPinPad() {
  const keys = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '', '0', '⌫'];
  fill($('pinpad'), ...keys.map((k) => (k === '' ? h('span') : h('button', {
    type: 'button', text: k, 'aria-label': k === '⌫' ? 'backspace' : k,
    onclick: () => { pin = k === '⌫' ? pin.slice(0, -1) : (pin + k).slice(0, 8); pinDots(); },
  }))));
  $('pin-clear').addEventListener('click', () => { pin = ''; pinDots(); });
  $('pin-ok').addEventListener('click', () => { show('pin-panel', false); const r = pinResolve; pinResolve = null; r?.(pin); pin = ''; });
}

function attrValue(key, value) {
  if (key === 'age_over_18' || key === 'age_over_60') return t(value);
  if (key === 'sex') return t(value);
  return value;
}

function renderVerdict() {
  const v = lastVerdict;
  if (!v) return;
  $('verdict-box').className = `verdict ${v.passed ? 'pass' : 'fail'}`;
  $('verdict-title').textContent = v.passed ? t('pass') : t('fail');
  $('verdict-reason').textContent = `${msg(v)} (${t('code')}: ${v.code})`;
  const rows = [];
  if (v.passed) {
    if (v.attributes.length === 0 || v.attributes.every(([k]) => k.startsWith('age_'))) {
      rows.push(h('dt', { text: t('real_name') }), h('dd', { text: t('yes') }));
    }
    for (const [k, val] of v.attributes) {
      rows.push(h('dt', { text: t(k) }), h('dd', { text: attrValue(k, val), dataset: { attr: k } }));
    }
    if (v.level) rows.push(h('dt', { text: t('level') }), h('dd', { text: t(v.level), dataset: { level: v.level } }));
    if (v.pseudonym) rows.push(h('dt', { text: t('pseudonym') }), h('dd', { text: v.pseudonym.slice(0, 16), dataset: { pseudonym: '' } }));
  }
  fill($('verdict-data'), ...rows);
}

async function showVerdict(v) {
  lastVerdict = v;
  state = 'verdict';
  prompt('');
  renderVerdict();
  show('verdict');
  $('guide').className = 'guide qr';
  $('today').textContent = v.checks_today ?? $('today').textContent;
  $('passed').textContent = v.passed_today ?? $('passed').textContent;
  $('next').focus();
}

async function check(qr) {
  state = 'busy';
  error('');
  try {
    const body = { qr };
    if (info.needs_pin) {
      prompt('pin_title');
      body.pin = await askPin();
    }
    if (info.needs_face) {
      const ch = await api('/api/challenge', { method: 'POST' });
      $('guide').className = 'guide';
      await guidedCapture({
        video, canvas, challengeId: ch.challenge_id, actions: ch.actions,
        onStep: (name) => prompt(STEP_TEXT[name] || name),
      });
      body.challenge_id = ch.challenge_id;
    }
    prompt('reading');
    await showVerdict(await api('/api/verify', { json: body }));
  } catch (e) {
    // A refusal before a verdict (malformed QR, platform down …) is shown the same way.
    const b = e.body && e.body.code ? e.body : { code: e.message, zh: t(e.message), en: t(e.message) };
    await showVerdict({ passed: false, code: b.code, zh: b.zh, en: b.en, attributes: [] });
    refreshInfo().catch(() => {});
  }
}

async function scanLoop() {
  for (;;) {
    if (state !== 'scan') { await sleep(200); continue; }
    try {
      const blob = await grab(video, canvas);
      const r = await api('/api/scan', { method: 'POST', body: blob, headers: { 'content-type': 'image/jpeg' } });
      if (state !== 'scan') continue;
      if (r.qr) { await check(r.qr); continue; }
      prompt(r.foreign ? 'foreign_qr' : 'show_qr');
    } catch (e) {
      error(e.message);
      await sleep(1000);
    }
    await sleep(250);
  }
}

function next() {
  show('verdict', false);
  lastVerdict = null;
  error('');
  prompt('show_qr');
  state = 'scan';
}

async function main() {
  initLang(TEXTS);
  onLang(() => { prompt(promptKey); renderVerdict(); if (info) { $('place').textContent = t(info.preset); $('mode').textContent = t(`mode_${info.mode}`); } });
  buildPinPad();
  $('next').addEventListener('click', next);
  await refreshInfo();
  prompt('show_qr');
  try {
    await openCamera(video);
  } catch {
    error(t('camera_error'));
    return;
  }
  scanLoop();
}

main();
