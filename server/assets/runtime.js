// ferrex browser runtime: sends events, morphs #fx-root, handles downloads and
// uploads. Implements docs/PROTOCOL.md. Plain ES2020, no dependencies.
//
// Readings chosen where the protocol is silent:
// - `$value` comes from the element carrying data-fx-<event> if it is a form
//   control, else from the event target if that is one. Checkbox -> checked
//   (bool), radio -> value, <select multiple> -> array of values, contenteditable
//   -> textContent, anything else -> null. For submit: {name: value} over the
//   form's named controls (checkbox -> bool, unchecked radios skipped, files
//   skipped), plus the submitter button's name/value.
// - The progress handler is sent as {h: progress, args: [{loaded, total,
//   fraction, files: [{name, loaded, total}]}]}.
// - download: /_ferrex/download/<token> URLs are clicked directly (one-shot
//   token, must not be proxied); other same-origin URLs go through
//   /_ferrex/file?url=<path>&filename=<name or last segment>; cross-origin
//   URLs open in a new tab (the download attribute is ignored cross-origin).
// - Morph of form values: an input's .value is set from the new `value`
//   attribute; without one, it is left alone (uncontrolled field), unless the
//   old element had one (then cleared). Checkbox .checked follows a change of
//   the `checked` attribute; <select> follows `selected` when any option has
//   it. The focused element keeps its value, except when the server changed
//   its value attribute and no event is pending (e.g. clearing after submit).
// - Events already sent on a socket that drops are not resent (they may have
//   run); one toast says so. Queued, never-sent events are sent on reconnect.
// - Upload zones: max_files null or <= 0 means unlimited; when not multiple
//   the first valid file is kept and further ones are "too many files"; a
//   refused file joins the selection as an entry with its error (not sent,
//   removed with its button or a new choice); a choice with no accepted file
//   keeps the old accepted ones; duplicate files (same name, size, mtime) are
//   ignored; data-fx-drop runs (for drops and picker choices) only when at
//   least one file was accepted. A second upload on a zone while one runs is
//   refused with a toast. Files are sent one after another; one refused by the
//   server or removed while sent leaves the batch, the others go on, and the
//   handler gets those that arrived. On success only the files that were
//   uploaded leave the selection. Folder drops are walked.
// - Files dropped outside any zone are swallowed so the browser does not
//   navigate away to the file.
(() => {
  'use strict';

  // The facts this file shares with the server and the macros, each defined in the
  // ferrex-wire crate; a test checks this block against it, and that no other line here
  // spells a path or a marker.
  const WIRE = Object.freeze({
    WS_PATH: '/_ferrex/ws',
    UPLOAD_PATH: '/_ferrex/upload',
    FILE_PATH: '/_ferrex/file',
    TUS_PATH: '/_ferrex/tus',
    UPLOAD_FINISH_PATH: '/_ferrex/upload/finish',
    DIRECT_UPLOAD_PATH: '/_ferrex/upload/direct',
    SESSION_PATH: '/_ferrex/session',
    DOWNLOAD_PREFIX: '/_ferrex/download/',
    VALUE_MARKER: '$value',
    PROGRESS_MARKER: '$progress',
    REJECTED_MARKER: '$rejected',
  });
  const BACKOFF_MIN = 200, BACKOFF_MAX = 5000;
  const TOAST_MS = 6000, PROGRESS_MS = 100;
  const UPLOAD_RETRIES = 30;    // failed tries in a row (no byte gained) before an upload gives up
  const AWAY_MS = 400;          // a shorter drop shows no "reconnecting" notice
  const LOST_KEY = 'ferrex:lost'; // sessionStorage: actions a reload had to drop
  const RELOADED_KEY = 'ferrex:reloaded'; // sessionStorage: when this tab last reloaded itself
  const RELOAD_GAP_MS = 10000;  // a tab reloads itself at most this often (no reload loop)

  let root = null;             // #fx-root
  let base = '';               // the app's mount path (#fx-root's data-fx-base), e.g. '/app'
  let ws = null;               // current WebSocket, or null
  let connected = false;
  let backoff = BACKOFF_MIN;
  let nextId = 0;
  const queue = [];            // [{id, msg}] waiting for an open socket
  const pending = new Set();   // ids sent or queued, no reply yet
  const inflight = new Set();  // ids written to the current socket
  const selections = new Map(); // zone id -> its entries, one a file (survives morphs)
  const previews = new Map();   // File -> object URL of its thumbnail
  const relPaths = new WeakMap(); // File -> relative path from a folder drop
  const uploads = new Map();    // zone id -> the running upload: {aborted, finishing, entries, running}
  let entrySeq = 0;             // the last entry's uid
  let morphFocus = null;        // element focused when the running morph began
  let shownRev = 0;             // the server's render revision of the HTML on screen
  let boot = '';                // the server start that rendered this page (data-fx-boot)
  let everConnected = false;
  let awayTimer = null;
  let reloadRefused = false;    // a self-reload was skipped (too soon after the last)

  // ---------- small helpers ----------

  function parseJson(text, what) {
    try { return JSON.parse(text); } catch (e) {
      toast(`Malformed ${what} from server`);
      return undefined;
    }
  }

  // One of the runtime's own URLs, under the app's mount path.
  function own(path) {
    return base + path;
  }

  function pagePath() {
    return (root && root.getAttribute('data-fx-page')) || window.location.pathname;
  }

  function isControl(el) {
    return !!el && el.nodeType === 1 && el.matches('input, select, textarea, button, option, output');
  }

  // Deep-copies `v`, replacing {"$value":true}, {"$rejected":true} and
  // {"$progress":true} with values from ctx. {"$upload":id} stays as is.
  function replaceMarkers(v, ctx) {
    if (Array.isArray(v)) return v.map((x) => replaceMarkers(x, ctx));
    if (v === null || typeof v !== 'object') return v;
    const keys = Object.keys(v);
    if (keys.length === 1 && v[keys[0]] === true) {
      if (keys[0] === WIRE.VALUE_MARKER) return ctx.value();
      if (keys[0] === WIRE.REJECTED_MARKER && 'rejected' in ctx) return ctx.rejected;
      if (keys[0] === WIRE.PROGRESS_MARKER && 'progress' in ctx) return ctx.progress;
    }
    const out = {};
    for (const k of keys) out[k] = replaceMarkers(v[k], ctx);
    return out;
  }

  function controlValue(el) {
    if (el.tagName === 'INPUT' && el.type === 'checkbox') return el.checked;
    if (el.tagName === 'SELECT' && el.multiple) return Array.from(el.selectedOptions, (o) => o.value);
    return el.value;
  }

  function formValues(form) {
    const out = {};
    for (const el of Array.from(form.elements)) {
      if (!el.name || el.disabled || el.type === 'file') continue;
      if (el.tagName === 'BUTTON' || ['submit', 'button', 'reset', 'image'].includes(el.type)) continue;
      if (el.type === 'radio') { if (el.checked) out[el.name] = el.value; continue; }
      out[el.name] = controlValue(el);
    }
    return out;
  }

  // The value an event carries (see header comment).
  function eventValue(el, ev) {
    if (!el) return null;
    // The attribute may sit on a wrapper: then the target control/form speaks.
    const t = ev && ev.target && ev.target.nodeType === 1 ? ev.target : null;
    if (el.tagName !== 'FORM' && !isControl(el) && t && (t.tagName === 'FORM' || isControl(t))) el = t;
    if (el.tagName === 'FORM') {
      const vals = formValues(el);
      const sub = ev && ev.submitter;
      if (sub && sub.name) vals[sub.name] = sub.value;
      return vals;
    }
    if (isControl(el)) return controlValue(el);
    if (el.isContentEditable) return el.textContent;
    return null;
  }

  function humanSize(n) {
    if (n < 1024) return `${n} B`;
    const units = ['KB', 'MB', 'GB', 'TB'];
    let v = n / 1024, i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return `${v.toFixed(1)} ${units[i]}`;
  }

  // ---------- toasts ----------

  // `kind` 'info' is news (an upload cancelled), not a failure: calmer, and a status.
  function toast(message, kind) {
    let box = document.getElementById('fx-toasts');
    if (!box) {
      box = document.createElement('div');
      box.id = 'fx-toasts';
      document.body.appendChild(box);
    }
    const t = document.createElement('div');
    const info = kind === 'info';
    t.className = info ? 'fx-toast' : 'fx-toast fx-toast-error';
    t.setAttribute('role', info ? 'status' : 'alert');
    const text = document.createElement('span');
    text.className = 'fx-toast-message';
    text.textContent = String(message); // never HTML: messages may echo user input
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'fx-toast-close';
    close.setAttribute('aria-label', 'Close');
    close.textContent = '\u00d7';
    close.addEventListener('click', () => t.remove());
    t.append(text, close);
    box.appendChild(t);
    setTimeout(() => t.remove(), TOAST_MS);
  }

  // ---------- socket ----------

  function setConnected(on) {
    connected = on;
    document.documentElement.dataset.fxConnected = on ? 'true' : 'false';
    clearTimeout(awayTimer);
    if (on) showAway(false);
    else if (everConnected) awayTimer = setTimeout(() => showAway(true), AWAY_MS);
  }

  // The small notice shown while the server is away; outside #fx-root, so morphs leave it.
  function showAway(on) {
    let note = document.getElementById('fx-away');
    if (!on) {
      if (note) note.hidden = true;
      return;
    }
    if (!note) {
      note = document.createElement('div');
      note.id = 'fx-away';
      note.className = 'fx-away';
      note.setAttribute('role', 'status');
      note.textContent = 'Reconnecting\u2026';
      document.body.appendChild(note);
    }
    note.hidden = false;
  }

  // Reloads the page (same URL) into whatever session the server gives it; actions that
  // never reached the server are named by a toast after the reload.
  function reloadPage(why) {
    const lost = queue.length;
    try {
      // A page that reloaded itself moments ago and still finds no session (cookies
      // refused, say) would reload forever: it says so once and keeps trying instead.
      const last = Number(sessionStorage.getItem(RELOADED_KEY)) || 0;
      if (Date.now() - last < RELOAD_GAP_MS) {
        if (!reloadRefused) toast(`${why.replace(/, so it was reloaded\.$/, '.')} Reload the page to go on.`);
        reloadRefused = true;
        scheduleReconnect();
        return;
      }
      sessionStorage.setItem(RELOADED_KEY, String(Date.now()));
      if (lost) sessionStorage.setItem(LOST_KEY, `${why} ${lost === 1 ? 'Your last action was' : `Your last ${lost} actions were`} not applied.`);
    } catch (e) { /* storage refused: the reload still happens */ }
    window.location.reload();
  }

  function toastLostActions() {
    let note = null;
    try {
      note = sessionStorage.getItem(LOST_KEY);
      sessionStorage.removeItem(LOST_KEY);
    } catch (e) { return; }
    if (note) toast(note);
  }

  // Before a reconnect: ask the server whether it still knows this page's session. A
  // server that is away gets asked again later; one that forgot the session (it
  // restarted with in-memory sessions, or the session expired) gets a reload into a fresh
  // session; in development, a server started again since this page was rendered does
  // too, so a rebuild shows up without a manual reload.
  function probeThenConnect() {
    fetch(own(WIRE.SESSION_PATH), { cache: 'no-store', credentials: 'same-origin' })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`status ${r.status}`))))
      .then((answer) => {
        if (!answer || answer.known !== true) {
          reloadPage('The server no longer knew this page\u2019s session, so it was reloaded.');
        } else if (answer.reload_on_restart && boot && answer.boot !== boot) {
          reloadPage('The server was restarted, so the page was reloaded.');
        } else {
          connect();
        }
      })
      .catch(() => scheduleReconnect());
  }

  function updateBusy() {
    if (root) root.toggleAttribute('data-fx-busy', pending.size > 0);
  }

  function connect() {
    const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    let sock;
    try { sock = new WebSocket(`${proto}//${window.location.host}${own(WIRE.WS_PATH)}`); } catch (e) {
      scheduleReconnect();
      return;
    }
    ws = sock;
    sock.onopen = () => {
      backoff = BACKOFF_MIN;
      everConnected = true;
      setConnected(true);
      flushQueue();
    };
    sock.onmessage = (m) => {
      const reply = parseJson(m.data, 'reply');
      if (reply && typeof reply === 'object') applyReply(reply);
    };
    sock.onclose = () => {
      if (ws !== sock) return;
      ws = null;
      setConnected(false);
      // Sent-but-unanswered events may or may not have run: do not resend.
      if (inflight.size) {
        for (const id of inflight) pending.delete(id);
        inflight.clear();
        updateBusy();
        toast('Connection lost; your last action may not have been applied.');
      }
      scheduleReconnect();
    };
    sock.onerror = () => { /* onclose follows and reconnects */ };
  }

  function scheduleReconnect() {
    const delay = backoff;
    backoff = Math.min(backoff * 2, BACKOFF_MAX);
    setTimeout(probeThenConnect, delay);
  }

  function flushQueue() {
    while (queue.length && ws && ws.readyState === WebSocket.OPEN) {
      const { id, msg } = queue.shift();
      ws.send(msg);
      inflight.add(id);
    }
  }

  // Queue a server event; it leaves as soon as the socket is open.
  function sendEvent(h, args) {
    const id = ++nextId;
    const msg = JSON.stringify({ id, page: pagePath(), h, args: args || [], rev: shownRev });
    pending.add(id);
    queue.push({ id, msg });
    updateBusy();
    flushQueue();
    return id;
  }

  // A reply from the socket or an HTTP response: {id?, html, rev, actions, error}.
  // Replies come over the socket and over upload requests, so they can arrive out of the
  // order the server rendered them in: HTML older than what is shown is skipped.
  function applyReply(reply) {
    if (reply.id != null) {
      pending.delete(reply.id);
      inflight.delete(reply.id);
      updateBusy();
    }
    try {
      const rev = Number(reply.rev) || 0;
      if (typeof reply.html === 'string' && (rev === 0 || rev > shownRev)) {
        morphRoot(reply.html);
        if (rev) shownRev = rev;
      }
      if (Array.isArray(reply.actions)) runActions(reply.actions, { el: null, ev: null });
    } catch (e) {
      console.error('ferrex: applying reply failed', e);
      toast('Could not apply the server reply');
    }
    if (reply.error != null) toast(reply.error);
  }

  // ---------- actions ----------

  function runActions(list, ctx) {
    if (!Array.isArray(list)) { toast('Malformed actions from server'); return; }
    const full = Object.assign({ value: () => eventValue(ctx.el, ctx.ev) }, ctx);
    for (const a of list) {
      try { runAction(a, full); } catch (e) {
        console.error('ferrex: action failed', a, e);
        toast('An action failed to run');
      }
    }
  }

  function runAction(a, ctx) {
    switch (a && a.t) {
      case 'event': sendEvent(a.h, replaceMarkers(a.args || [], ctx)); break;
      case 'download': download(a); break;
      case 'upload': startUpload(a, ctx); break;
      case 'clear_selected_files': setSelection(a.id, []); break;
      case 'cancel_upload': cancelUpload(a.id); break;
      case 'redirect': window.location.assign(a.to); break;
      default: console.warn('ferrex: unknown action', a);
    }
  }

  function clickLink(href, filename, newTab) {
    const a = document.createElement('a');
    a.href = href;
    a.style.display = 'none';
    if (filename != null) a.download = filename; else a.setAttribute('download', '');
    if (newTab) { a.target = '_blank'; a.rel = 'noopener'; }
    document.body.appendChild(a);
    a.click();
    a.remove();
  }

  function lastSegment(path) {
    const seg = path.split('/').pop() || '';
    try { return decodeURIComponent(seg); } catch (e) { return seg; }
  }

  function download(a) {
    if (typeof a.data === 'string') {
      const bin = atob(a.data);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      const blob = new Blob([bytes], { type: a.type || 'application/octet-stream' });
      const href = window.URL.createObjectURL(blob);
      clickLink(href, a.filename || 'download', false);
      // Revoke later: the browser reads the blob asynchronously after the click.
      setTimeout(() => window.URL.revokeObjectURL(href), 30000);
      return;
    }
    const u = new window.URL(a.url, window.location.href);
    if (u.origin !== window.location.origin) { clickLink(u.href, a.filename, true); return; }
    if (u.pathname.startsWith(own(WIRE.DOWNLOAD_PREFIX))) { clickLink(u.href, a.filename, false); return; }
    // /_ferrex/file asks the app itself, which sees paths without its mount path.
    const inApp = base && u.pathname.startsWith(`${base}/`) ? u.pathname.slice(base.length) : u.pathname;
    const path = inApp + u.search;
    const name = a.filename || lastSegment(u.pathname) || 'download';
    const href = `${own(WIRE.FILE_PATH)}?url=${encodeURIComponent(path)}&filename=${encodeURIComponent(name)}`;
    clickLink(href, name, false);
  }

  // ---------- morph ----------

  function keyOf(n) {
    if (n.nodeType !== 1) return null;
    return n.getAttribute('data-fx-key') || n.getAttribute('id') || null;
  }

  function sameKind(a, b) {
    if (a.nodeType !== b.nodeType || a.nodeName !== b.nodeName) return false;
    if (a.nodeName === 'INPUT') {
      const ta = (a.getAttribute('type') || 'text').toLowerCase();
      const tb = (b.getAttribute('type') || 'text').toLowerCase();
      return ta === tb;
    }
    return true;
  }

  // Replace #fx-root's children by `html`, reusing matching nodes.
  function morphRoot(html) {
    const active = document.activeElement;
    let sel = null;
    try {
      if (active && typeof active.selectionStart === 'number') {
        sel = [active.selectionStart, active.selectionEnd, active.selectionDirection];
      }
    } catch (e) { /* inputs without selection API throw */ }
    const tpl = document.createElement('template');
    tpl.innerHTML = html;
    // Captured up front: moving an ancestor blurs the element mid-morph.
    morphFocus = active;
    try { morphChildren(root, tpl.content); } finally { morphFocus = null; }
    // Moving a node (or an ancestor) blurs it in some browsers: put focus back.
    if (active && active !== document.body && active.isConnected && document.activeElement !== active) {
      active.focus({ preventScroll: true });
      if (sel) try { active.setSelectionRange(sel[0], sel[1], sel[2] || undefined); } catch (e) { /* ignore */ }
    }
    afterMorph();
  }

  // Runtime-owned state the server's HTML does not carry.
  function afterMorph() {
    for (const id of uploads.keys()) {
      const zone = document.getElementById(id);
      if (zone) zone.setAttribute('data-fx-uploading', '');
    }
    syncAllZonesBusy();
    renderAllSelections();
  }

  function findMatch(start, nk) {
    const key = keyOf(nk);
    for (let n = start; n; n = n.nextSibling) {
      if (sameKind(n, nk) && keyOf(n) === key) return n;
    }
    return null;
  }

  function morphChildren(from, to) {
    let cur = from.firstChild;
    for (const nk of Array.from(to.childNodes)) {
      const match = findMatch(cur, nk);
      if (match) {
        if (match === cur) cur = cur.nextSibling;
        else if (onlyTextBetween(cur, match)) {
          // Skipped whitespace/comments: drop them rather than move (moving blurs).
          while (cur !== match) { const next = cur.nextSibling; from.removeChild(cur); cur = next; }
          cur = cur.nextSibling;
        } else from.insertBefore(match, cur); // moved forward; skipped olds may still match later
        morphNode(match, nk);
      } else {
        from.insertBefore(nk, cur);
      }
    }
    while (cur) {
      const next = cur.nextSibling;
      from.removeChild(cur);
      cur = next;
    }
  }

  function onlyTextBetween(start, end) {
    for (let n = start; n !== end; n = n.nextSibling) if (n.nodeType === 1) return false;
    return true;
  }

  function morphNode(old, nw) {
    if (old.nodeType !== 1) {
      if (old.nodeValue !== nw.nodeValue) old.nodeValue = nw.nodeValue;
      return;
    }
    const focused = old === morphFocus;
    const tag = old.nodeName;
    if (tag === 'INPUT') syncInput(old, nw, focused);
    if (tag === 'TEXTAREA') syncTextarea(old, nw, focused);
    syncAttributes(old, nw);
    if (tag === 'TEXTAREA') return; // its text is its value, handled above
    // A list of chosen files is the runtime's (the server renders it empty): kept as it
    // is, so its items and their buttons outlive the render.
    if (old.hasAttribute('data-fx-selected-files')) return;
    // A focused select follows the rule of a focused input: the server's choice wins only
    // when the server changed it and nothing the user did is in flight. Morphing the
    // options' `selected` attributes would move the choice, so the user's is kept aside.
    const kept = tag === 'SELECT' && focused ? focusedSelectChoice(old, nw) : null;
    morphChildren(old, nw);
    if (tag !== 'SELECT') return;
    if (kept) Array.from(old.options).forEach((o) => { o.selected = kept.has(o.value); });
    else syncSelect(old, nw);
  }

  // The values a focused select must keep through a morph, or null when the server may
  // set its choice.
  function focusedSelectChoice(old, nw) {
    const before = Array.from(old.options, (o) => o.hasAttribute('selected'));
    const after = Array.from(nw.querySelectorAll('option'), (o) => o.hasAttribute('selected'));
    const changed = before.length !== after.length || before.some((s, i) => s !== after[i]);
    if (focusedMayChange(changed)) return null;
    return new Set(Array.from(old.selectedOptions, (o) => o.value));
  }

  function syncAttributes(old, nw) {
    for (const { name } of Array.from(old.attributes)) {
      if (!nw.hasAttribute(name)) old.removeAttribute(name);
    }
    for (const { name, value } of Array.from(nw.attributes)) {
      if (old.getAttribute(name) !== value) old.setAttribute(name, value);
    }
  }

  // May the server's value overwrite the focused element's? Only when it
  // changed the value itself and nothing the user did is still in flight.
  function focusedMayChange(changed) {
    return changed && pending.size === 0;
  }

  function syncInput(old, nw, focused) {
    const type = (old.getAttribute('type') || 'text').toLowerCase();
    if (type === 'file') return; // keep .files; value cannot be set anyway
    if (type === 'checkbox' || type === 'radio') {
      const want = nw.hasAttribute('checked');
      if (old.hasAttribute('checked') !== want) old.checked = want;
      return;
    }
    const oldAttr = old.getAttribute('value');
    const newAttr = nw.getAttribute('value');
    if (newAttr === null && oldAttr === null) return; // uncontrolled: user's text stays
    if (focused && !focusedMayChange(oldAttr !== newAttr)) return;
    const want = newAttr === null ? '' : newAttr;
    if (old.value !== want) old.value = want;
  }

  function syncTextarea(old, nw, focused) {
    const oldText = old.defaultValue;
    const newText = nw.textContent;
    if (oldText !== newText) old.defaultValue = newText;
    if (focused && !focusedMayChange(oldText !== newText)) return;
    if (oldText === newText && newText === '') return; // uncontrolled
    if (old.value !== newText) old.value = newText;
  }

  function syncSelect(old, nw) {
    const wanted = Array.from(nw.querySelectorAll('option'), (o) => o.hasAttribute('selected'));
    if (!wanted.some(Boolean)) return; // server does not drive the choice
    Array.from(old.options).forEach((o, i) => { o.selected = !!wanted[i]; });
  }

  // ---------- upload zones: selection ----------

  function zoneOptions(zone) {
    const raw = zone.getAttribute('data-fx-upload');
    let o = {};
    try { o = JSON.parse(raw || '{}') || {}; } catch (e) { console.warn('ferrex: bad data-fx-upload', raw); }
    return o;
  }

  function zoneInput(zone) {
    return zone.querySelector('input[type=file].fx-upload-input');
  }

  // A zone's rules as the server renders them (a comma-separated string) or a list.
  function acceptList(acc) {
    if (!acc) return [];
    if (Array.isArray(acc)) return acc;
    return String(acc).split(',');
  }

  // The same reading of the rules as ferrex_wire::accepts on the server.
  function accepts(file, acc) {
    const list = acceptList(acc).map((a) => String(a).trim().toLowerCase()).filter(Boolean);
    if (!list.length) return true;
    const name = file.name.toLowerCase();
    const type = (file.type || '').split(';')[0].trim().toLowerCase();
    return list.some((a) => {
      if (a.startsWith('.')) return name.endsWith(a);
      if (a.endsWith('/*')) return type.split('/')[0] === a.slice(0, -2) && type.includes('/');
      return type === a;
    });
  }

  function sameFile(a, b) {
    return a.name === b.name && a.size === b.size && a.lastModified === b.lastModified
      && (relPaths.get(a) || '') === (relPaths.get(b) || '');
  }

  function fileName(f) {
    return relPaths.get(f) || f.webkitRelativePath || f.name;
  }

  // One file of a zone's selection. `status`: 'ready' (to upload), 'uploading', 'sent' (all
  // its bytes are on the server, waiting for the batch's finish) or 'error' (`error` says
  // why: { code, reason, message }, as the server's RejectedFile reads it).
  function newEntry(file, error = null) {
    return {
      uid: ++entrySeq, file, name: fileName(file), status: error ? 'error' : 'ready', loaded: 0, error,
      location: null, key: null, removed: false, ctl: null,
    };
  }

  // The words of each RejectedFile code, which `reason` carries.
  const REJECT_REASONS = Object.freeze({
    too_large: 'too large', too_small: 'too small', not_accepted: 'type not accepted',
    too_many: 'too many files', refused: 'refused', failed: 'failed',
  });

  function rejection(f, code, o, message = null) {
    const r = { name: fileName(f), size: f.size, code, reason: REJECT_REASONS[code] };
    r.message = message == null ? rejectionMessage(r, o) : `${r.name}: ${message}`;
    return r;
  }

  // Check new files against the zone's limits and add them to its selection: a refused file
  // joins it too, with its error beside it, until removed. Then report rejections and run
  // data-fx-drop.
  function addFiles(zone, files) {
    const o = zoneOptions(zone);
    const id = zone.id;
    const current = o.multiple ? (selections.get(id) || []).slice() : [];
    const limit = o.multiple ? (o.max_files > 0 ? o.max_files : Infinity) : 1;
    let counted = current.filter((e) => e.status !== 'error').length;
    const added = [];
    const rejected = [];
    for (const f of files) {
      if (current.some((e) => sameFile(e.file, f)) || added.some((e) => sameFile(e.file, f))) continue;
      let code = null;
      if (!accepts(f, o.accept)) code = 'not_accepted';
      else if (o.max_size != null && f.size > o.max_size) code = 'too_large';
      else if (o.min_size != null && f.size < o.min_size) code = 'too_small';
      else if (counted >= limit) code = 'too_many';
      if (code) {
        const r = rejection(f, code, o);
        rejected.push(r);
        added.push(newEntry(f, r));
      } else {
        counted++;
        added.push(newEntry(f));
      }
    }
    // A zone of one file keeps the file it had when the new choice brought none it takes.
    const kept = o.multiple || added.length > rejected.length ? current
      : (selections.get(id) || []).filter((e) => e.status !== 'error');
    if (added.length) setSelection(id, kept.concat(added));
    if (rejected.length) reportRejected(zone, rejected);
    const drop = zone.getAttribute('data-fx-drop');
    if (added.length > rejected.length && drop != null) {
      const list = parseJson(drop, 'data-fx-drop');
      if (list !== undefined) runActions(list, { el: zone, ev: null });
    }
  }

  function reportRejected(zone, rejected) {
    const attr = zone && zone.getAttribute('data-fx-drop-rejected');
    if (attr != null) {
      const list = parseJson(attr, 'data-fx-drop-rejected');
      if (list !== undefined) runActions(list, { el: zone, ev: null, rejected });
      return;
    }
    for (const r of rejected) toast(r.message);
  }

  // What the user reads about a refused file: its name, the reason, and the zone's limit
  // it broke, so they know what would pass.
  function rejectionMessage(r, o) {
    const head = `${r.name}: ${r.reason}`;
    switch (r.reason) {
      case 'too large': return `${head} (${humanSize(r.size)}; the limit is ${humanSize(o.max_size)})`;
      case 'too small': return `${head} (${humanSize(r.size)}; the minimum is ${humanSize(o.min_size)})`;
      case 'too many files': return `${head} (at most ${o.multiple ? o.max_files : 1} at a time)`;
      case 'type not accepted': {
        const list = acceptList(o.accept).map((a) => String(a).trim()).filter(Boolean);
        return list.length ? `${head} (accepted: ${list.join(', ')})` : head;
      }
      default: return head;
    }
  }

  function setSelection(id, entries) {
    if (entries.length) selections.set(id, entries); else selections.delete(id);
    // Free thumbnails of files no zone holds any more.
    const kept = new Set([].concat(...selections.values()).map((e) => e.file));
    for (const [f, href] of previews) {
      if (!kept.has(f)) { window.URL.revokeObjectURL(href); previews.delete(f); }
    }
    renderAllSelections();
  }

  // Takes one file out of zone `id`'s selection: before the upload it is just dropped; while
  // it is sent, its request is aborted and what the server has of it deleted, and the rest
  // of the batch goes on.
  function removeEntry(id, uid) {
    const entries = selections.get(id) || [];
    const entry = entries.find((e) => e.uid === uid);
    if (!entry) return;
    const state = uploads.get(id);
    if (state && state.finishing && entry.status === 'sent') return; // its handler is running
    entry.removed = true;
    if (entry.ctl && entry.ctl.xhr) entry.ctl.xhr.abort();
    forgetTusUpload(entry);
    setSelection(id, entries.filter((e) => e !== entry));
  }

  function forgetTusUpload(entry) {
    if (!entry.location) return;
    // The server drops what it has of it at once, rather than at its expiry.
    fetch(entry.location, { method: 'DELETE', headers: { 'Tus-Resumable': '1.0.0' }, keepalive: true }).catch(() => {});
    entry.location = null;
  }

  function previewUrl(file) {
    let href = previews.get(file);
    if (!href) { href = window.URL.createObjectURL(file); previews.set(file, href); }
    return href;
  }

  // The zone's files, each with its size, a remove button, its progress while it is sent,
  // and its error beside it. A file's item is kept and updated in place while the file
  // stays in the list, so a click on its button is never lost to a rebuild (another
  // file's status changing, a render of the page).
  function renderSelection(el, id, entries) {
    if (!entries.length) { el.textContent = ''; return; }
    let ul = el.querySelector(':scope > ul.fx-selected-files');
    if (!ul) {
      el.textContent = '';
      ul = document.createElement('ul');
      ul.className = 'fx-selected-files';
      el.appendChild(ul);
    }
    // Gone files leave first, so the items that stay are never moved (a move would cut
    // across a press on one of them, or take its focus).
    const wanted = new Set(entries.map((e) => String(e.uid)));
    const before = new Map();
    for (const li of Array.from(ul.children)) {
      const key = li.getAttribute('data-fx-entry');
      if (wanted.has(key)) before.set(key, li); else li.remove();
    }
    let prev = null;
    for (const e of entries) {
      const li = before.get(String(e.uid)) || entryItem(e);
      updateEntryItem(li, e);
      const at = prev ? prev.nextSibling : ul.firstChild;
      if (li !== at) ul.insertBefore(li, at);
      prev = li;
    }
  }

  // A new file's item: preview, name, size and its button; the rest follows its status.
  function entryItem(e) {
    const li = document.createElement('li');
    li.setAttribute('data-fx-entry', String(e.uid));
    const f = e.file;
    if ((f.type || '').startsWith('image/')) {
      const img = document.createElement('img');
      img.className = 'fx-preview';
      img.alt = '';
      img.src = previewUrl(f);
      li.appendChild(img);
    }
    const name = document.createElement('span');
    name.className = 'fx-file-name';
    name.textContent = e.name;
    const size = document.createElement('span');
    size.className = 'fx-file-size';
    size.textContent = humanSize(f.size);
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'fx-file-remove';
    remove.setAttribute('data-fx-remove', String(e.uid));
    remove.textContent = '\u00d7';
    li.append(name, ' ', size, remove);
    return li;
  }

  // Status, progress bar, the button's label and the error of a file's item.
  function updateEntryItem(li, e) {
    li.setAttribute('data-fx-status', e.status);
    const remove = li.querySelector(':scope > .fx-file-remove');
    let bar = li.querySelector(':scope > .fx-file-progress');
    if (e.status === 'uploading' || e.status === 'sent') {
      if (!bar) {
        bar = document.createElement('progress');
        bar.className = 'fx-file-progress';
        bar.setAttribute('aria-label', `${e.name} sent`);
        li.insertBefore(bar, remove);
      }
      bar.max = Math.max(e.file.size, 1);
      bar.value = e.status === 'sent' ? bar.max : e.loaded;
    } else if (bar) {
      bar.remove();
    }
    remove.setAttribute('aria-label', `${e.status === 'uploading' ? 'Cancel' : 'Remove'} ${e.name}`);
    let msg = li.querySelector(':scope > .fx-file-error');
    if (e.error) {
      if (!msg) {
        msg = document.createElement('span');
        msg.className = 'fx-file-error';
        msg.setAttribute('role', 'alert');
        li.appendChild(msg);
      }
      msg.textContent = e.error.message;
    } else if (msg) {
      msg.remove();
    }
  }

  function renderAllSelections() {
    for (const el of document.querySelectorAll('[data-fx-selected-files]')) {
      const id = el.getAttribute('data-fx-selected-files');
      renderSelection(el, id, selections.get(id) || []);
    }
  }

  // A file's progress bar follows its bytes without rebuilding the list.
  function showEntryProgress(entry) {
    for (const bar of document.querySelectorAll(`[data-fx-entry="${entry.uid}"] .fx-file-progress`)) {
      bar.value = entry.loaded;
    }
  }

  // Folder drops: walk directory entries (must start inside the drop event).
  function filesFromDrop(dt) {
    const entries = Array.from(dt.items || [])
      .filter((i) => i.kind === 'file' && i.webkitGetAsEntry)
      .map((i) => i.webkitGetAsEntry());
    if (!entries.some((e) => e && e.isDirectory)) return Promise.resolve(Array.from(dt.files || []));
    const out = [];
    return entries.reduce((p, e) => p.then(() => e && walkEntry(e, '', out)), Promise.resolve()).then(() => out);
  }

  async function walkEntry(entry, prefix, out) {
    if (entry.isFile) {
      const file = await new Promise((res, rej) => entry.file(res, rej));
      if (prefix) relPaths.set(file, prefix + file.name);
      out.push(file);
      return;
    }
    const reader = entry.createReader();
    for (;;) { // readEntries answers in batches until an empty one
      const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
      if (!batch.length) break;
      for (const child of batch) await walkEntry(child, `${prefix}${entry.name}/`, out);
    }
  }

  function openPicker(zone) {
    const input = zoneInput(zone);
    if (input) input.click();
  }

  // ---------- upload zones: sending ----------

  // Each file is its own tus upload (docs/PROTOCOL.md): created, then sent in one PATCH
  // from the server's offset; a PATCH cut off (network gone, server restarting) is taken
  // up again from the offset a HEAD reports, with backoff. A `direct` zone's files go
  // straight to the file store instead (`directSend`). A file the server refuses, or one
  // removed while it is sent, leaves the batch and the others go on. Once all are in, one
  // finish request runs the handler with them.
  function startUpload(a, ctx) {
    const id = a.id;
    if (uploads.has(id)) { toast('An upload is already running'); return; }
    const zone = document.getElementById(id);
    const o = zone ? zoneOptions(zone) : {};
    const entries = (selections.get(id) || []).filter((e) => {
      // A file the server refused or could not be sent is tried again; a broken rule is not.
      if (e.status === 'error' && (e.error.code === 'refused' || e.error.code === 'failed')) {
        e.status = 'ready';
        e.error = null;
      }
      return e.status === 'ready';
    });
    const args = replaceMarkers(a.args || [], ctx);
    // `running`: the controls of the request under way (a file's, or the finish's), to abort.
    const state = { aborted: false, finishing: false, entries, running: null, last: 0, finalSent: false };
    const direct = !!o.direct;
    uploads.set(id, state);
    setUploading(id, true);
    for (const e of entries) { e.loaded = 0; e.location = null; e.key = null; }
    renderAllSelections();

    const live = () => entries.filter((e) => !e.removed && e.status !== 'error');
    const progress = () => {
      const going = live();
      if (!a.progress || state.aborted || !going.length) return;
      const total = going.reduce((n, e) => n + e.file.size, 0);
      const loaded = going.reduce((n, e) => n + e.loaded, 0);
      const final = loaded >= total;
      const now = Date.now();
      if (final) { if (state.finalSent) return; state.finalSent = true; }
      else {
        // Bytes handed to a connection that was then cut are counted again from the
        // server's offset: the whole is reported once more when it is really there.
        state.finalSent = false;
        if (now - state.last < PROGRESS_MS) return;
      }
      state.last = now;
      const files = going.map((e) => ({ name: e.name, loaded: e.loaded, total: e.file.size }));
      sendEvent(a.progress, [{ loaded, total, fraction: total > 0 ? Math.min(loaded / total, 1) : 1, files }]);
    };
    const done = () => {
      if (uploads.get(id) === state) uploads.delete(id);
      setUploading(id, false);
    };
    // The file failed on its own: its error beside it and to the zone's on_drop_rejected.
    const failed = (entry, xhr) => {
      let r;
      if (!xhr) r = rejection(entry.file, 'failed', o, 'could not be sent (network error)');
      else {
        const body = xhr.responseText ? parseJson(xhr.responseText, 'upload reply') : {};
        const why = body && (body.reason || body.error);
        r = rejection(entry.file, 'refused', o, why ? `refused: ${why}` : `refused (status ${xhr.status})`);
      }
      entry.status = 'error';
      entry.error = r;
      entry.loaded = 0;
      forgetTusUpload(entry);
      renderAllSelections();
      reportRejected(zone, [r]);
    };

    // All of the file is with the server (or the store), waiting for the finish.
    const sentOne = (entry) => {
      entry.loaded = entry.file.size;
      entry.status = 'sent';
      entry.ctl = null;
      renderAllSelections();
      progress();
    };

    (async () => {
      for (const entry of entries) {
        if (state.aborted) return;
        if (entry.removed) continue;
        const ctl = { xhr: null, get aborted() { return state.aborted || entry.removed; } };
        entry.ctl = ctl;
        state.running = ctl;
        entry.status = 'uploading';
        renderAllSelections();
        const f = entry.file;
        const track = (n) => {
          entry.loaded = Math.min(n, f.size);
          showEntryProgress(entry);
          progress();
        };
        if (direct) {
          const out = await directSend(ctl, id, a.h, f, entry.name, track);
          if (state.aborted) return;
          // A removed file's form is never finished: the server sweeps its object.
          if (entry.removed) { progress(); continue; }
          if (out && out.key) { entry.key = out.key; sentOne(entry); continue; }
          if (!out || !out.through) { failed(entry, out); progress(); continue; }
        }
        const meta = { page: pagePath(), zone: id, handler: a.h, filename: entry.name, filetype: f.type || '' };
        const created = await tusRetrying(ctl, () => xhrSend(ctl, 'POST', own(WIRE.TUS_PATH), {
          'Upload-Length': String(f.size), 'Upload-Metadata': tusMetadata(meta),
        }));
        if (state.aborted) return;
        if (entry.removed) { forgetTusUpload(entry); progress(); continue; }
        if (!created || created.status !== 201) { failed(entry, created); progress(); continue; }
        entry.location = created.getResponseHeader('Location');
        const sentWhole = await tusSend(ctl, entry.location, f, track);
        if (state.aborted) return;
        if (entry.removed) { forgetTusUpload(entry); progress(); continue; }
        if (sentWhole !== true) { failed(entry, sentWhole); progress(); continue; }
        sentOne(entry);
      }
      state.running = null;
      const sent = entries.filter((e) => e.status === 'sent' && !e.removed);
      // Nothing chosen runs the handler with no files, as before; a batch whose every file
      // was refused or removed does not run it.
      if (!sent.length && entries.length) { done(); return; }
      state.finishing = true;
      // Sent again only when it never got an answer: a finish that ran answers a second
      // try with 404 (its uploads are gone), which is then reported.
      const finish = JSON.stringify({
        page: pagePath(), h: a.h, args, zone: id, rev: shownRev,
        uploads: sent.filter((e) => e.location).map((e) => e.location),
        direct: sent.filter((e) => e.key).map((e) => e.key),
      });
      const ctl = { xhr: null, get aborted() { return state.aborted; } };
      state.running = ctl;
      const xhr = await tusRetrying(ctl, () => xhrSend(ctl, 'POST', own(WIRE.UPLOAD_FINISH_PATH),
        { 'Content-Type': 'application/json' }, finish, null, false), true);
      if (state.aborted) return;
      done();
      // The finish used up the uploads it named, whatever it answered.
      for (const e of sent) { e.location = null; e.key = null; e.status = 'ready'; e.loaded = 0; }
      if (!xhr) { toast('Upload failed: network error'); renderAllSelections(); return; }
      const body = xhr.responseText ? parseJson(xhr.responseText, 'upload reply') : {};
      if (xhr.status >= 200 && xhr.status < 300) {
        setSelection(id, (selections.get(id) || []).filter((e) => !sent.includes(e)));
        if (body && typeof body === 'object') applyReply(body);
        return;
      }
      renderAllSelections();
      if (xhr.status === 422 && body && Array.isArray(body.actions)) {
        // The files arrived but the handler failed: show its reply (and error), keep the
        // selection for another try.
        applyReply(body);
      } else {
        const err = (body && body.error) || `Upload failed (status ${xhr.status})`;
        toast(body && body.file ? `${body.file}: ${err}` : err);
      }
    })();
  }

  // Sends file `f` to tus upload `location` until the server has all of it: true, or the
  // answer (null: the network) that ended the attempts. `ctl` holds the running request.
  async function tusSend(ctl, location, f, onProgress) {
    let offset = 0, failures = 0;
    for (;;) {
      const xhr = await xhrSend(ctl, 'PATCH', location, {
        'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream',
      }, f.slice(offset), (loaded) => onProgress(offset + loaded));
      if (ctl.aborted) return null;
      if (xhr && xhr.status === 204) {
        offset = Number(xhr.getResponseHeader('Upload-Offset'));
        if (offset >= f.size) return true;
        failures = 0;
        continue;
      }
      if (xhr && !tusRetryable(xhr.status)) return xhr;
      // Cut off or told to ask: find out what the server kept, then go on from there.
      for (;;) {
        if (++failures > UPLOAD_RETRIES) return xhr;
        await sleep(Math.min(BACKOFF_MIN * 2 ** (failures - 1), BACKOFF_MAX));
        if (ctl.aborted) return null;
        const head = await xhrSend(ctl, 'HEAD', location, {});
        if (ctl.aborted) return null;
        if (head && head.status === 200) {
          const kept = Number(head.getResponseHeader('Upload-Offset'));
          if (kept > offset) failures = 0;
          offset = kept;
          onProgress(offset);
          break;
        }
        if (head && !tusRetryable(head.status)) return head;
      }
      if (offset >= f.size) return true;
    }
  }

  // Sends file `f` of a `direct` zone straight to the file store: asks the server for a
  // presigned POST (the zone's limits are checked there, before any byte), then posts the
  // form's fields and the file to the store. Resolves with { key } once the store has it,
  // { through: true } when the app has no store to sign for (the file then goes through the
  // server), or the XHR that failed (null: the network, or aborted).
  async function directSend(ctl, zoneId, handler, f, name, onProgress) {
    const ask = JSON.stringify({ page: pagePath(), h: handler, zone: zoneId, name, size: f.size, type: f.type || '' });
    const signed = await tusRetrying(ctl, () => xhrSend(ctl, 'POST', own(WIRE.DIRECT_UPLOAD_PATH),
      { 'Content-Type': 'application/json' }, ask, null, false), true);
    if (ctl.aborted || !signed) return null;
    if (signed.status === 501) return { through: true };
    if (signed.status !== 200) return signed;
    const form = parseJson(signed.responseText, 'presigned upload');
    if (!form || typeof form.url !== 'string' || !Array.isArray(form.fields)) return signed;
    const body = new FormData();
    for (const [k, v] of form.fields) body.append(k, v);
    body.append('file', f); // S3 reads the fields before the file, which must come last
    const sent = await xhrSend(ctl, 'POST', form.url, {}, body, onProgress, false);
    if (ctl.aborted || !sent) return null;
    if (sent.status >= 200 && sent.status < 300) return { key: form.key };
    // The store answers in XML: say in the upload's own words what happened.
    const error = `the file store refused the file (status ${sent.status})`;
    return { status: sent.status, responseText: JSON.stringify({ error, file: name }) };
  }

  // Runs `send` again after a network failure or a retryable answer (`networkOnly`: only
  // after a network failure), with backoff.
  async function tusRetrying(ctl, send, networkOnly = false) {
    for (let failures = 0; ; failures++) {
      const xhr = await send();
      const again = !xhr || (!networkOnly && tusRetryable(xhr.status));
      if (ctl.aborted || !again || failures >= UPLOAD_RETRIES) return xhr;
      await sleep(Math.min(BACKOFF_MIN * 2 ** failures, BACKOFF_MAX));
    }
  }

  // 409: the offset moved under the request; 423: locked; 460: the chunk arrived damaged.
  function tusRetryable(status) {
    return status === 0 || status >= 500 || status === 409 || status === 423 || status === 460;
  }

  function tusMetadata(meta) {
    const b64 = (s) => {
      const bytes = new TextEncoder().encode(s);
      let bin = '';
      for (const b of bytes) bin += String.fromCharCode(b);
      return btoa(bin);
    };
    return Object.entries(meta).map(([k, v]) => `${k} ${b64(String(v))}`).join(',');
  }

  function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

  // One request of an upload, the running one kept in `ctl` (to abort on cancel);
  // resolves with the finished XHR, or null when the network failed or it was aborted.
  function xhrSend(ctl, method, url, headers, body = null, onProgress = null, tus = true) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      ctl.xhr = xhr;
      xhr.open(method, url);
      if (tus) xhr.setRequestHeader('Tus-Resumable', '1.0.0');
      for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
      if (onProgress) xhr.upload.onprogress = (e) => onProgress(e.loaded);
      xhr.onload = () => resolve(xhr);
      xhr.onerror = () => resolve(null);
      xhr.onabort = () => resolve(null);
      xhr.ontimeout = () => resolve(null);
      xhr.send(body);
    });
  }

  // Stops the whole upload of zone `id`; its files stay selected, to try again.
  function cancelUpload(id) {
    const state = uploads.get(id);
    if (!state) return;
    state.aborted = true; // silences late progress callbacks
    uploads.delete(id);
    setUploading(id, false);
    if (state.running && state.running.xhr) state.running.xhr.abort();
    for (const e of state.entries) {
      forgetTusUpload(e);
      e.ctl = null;
      e.loaded = 0;
      if (e.status !== 'error') e.status = 'ready';
    }
    renderAllSelections();
    toast('Upload cancelled', 'info');
  }

  function setUploading(id, on) {
    const zone = document.getElementById(id);
    if (zone) zone.toggleAttribute('data-fx-uploading', on);
    setZoneBusy(id, on);
  }

  // While zone `id` uploads, it and the buttons that start its upload are busy (aria-busy,
  // and those buttons disabled); while it does not, the buttons that cancel it are disabled.
  // The server's HTML carries none of this: `afterMorph` puts it back after each update.
  function setZoneBusy(id, on) {
    const zone = document.getElementById(id);
    if (zone) {
      if (on) zone.setAttribute('aria-busy', 'true'); else zone.removeAttribute('aria-busy');
    }
    for (const [el, action] of uploadControls(id)) {
      if (action === 'upload') {
        if (on) el.setAttribute('aria-busy', 'true'); else el.removeAttribute('aria-busy');
        setRuntimeDisabled(el, on);
      } else {
        setRuntimeDisabled(el, !on);
      }
    }
  }

  // The controls whose click starts ('upload') or cancels ('cancel_upload') zone `id`.
  function uploadControls(id) {
    const out = [];
    for (const el of document.querySelectorAll('[data-fx-click]')) {
      const raw = el.getAttribute('data-fx-click');
      if (!raw.includes('upload')) continue;
      let list;
      try { list = JSON.parse(raw); } catch (e) { continue; }
      if (!Array.isArray(list)) continue;
      const a = list.find((x) => x && (x.t === 'upload' || x.t === 'cancel_upload') && x.id === id);
      if (a) out.push([el, a.t]);
    }
    return out;
  }

  // Disables a control for the runtime's reasons, and enables again only what it disabled
  // itself: a button the page renders disabled stays so.
  function setRuntimeDisabled(el, off) {
    if (!('disabled' in el)) return;
    if (off && !el.disabled) {
      el.disabled = true;
      el.setAttribute('data-fx-runtime-disabled', '');
    } else if (!off && el.hasAttribute('data-fx-runtime-disabled')) {
      el.disabled = false;
      el.removeAttribute('data-fx-runtime-disabled');
    }
  }

  function syncAllZonesBusy() {
    for (const zone of document.querySelectorAll('.fx-upload[data-fx-upload]')) {
      if (zone.id) setZoneBusy(zone.id, uploads.has(zone.id));
    }
  }

  // ---------- DOM event delegation ----------

  function closestAttr(target, event) {
    const el = target && target.nodeType === 1 ? target : target && target.parentElement;
    return el ? el.closest(`[data-fx-${event}]`) : null;
  }

  function fire(el, event, ev) {
    const list = parseJson(el.getAttribute(`data-fx-${event}`), `data-fx-${event}`);
    if (list !== undefined) runActions(list, { el, ev });
  }

  function zoneOf(target) {
    const el = target && target.nodeType === 1 ? target : target && target.parentElement;
    return el ? el.closest('.fx-upload[data-fx-upload]') : null;
  }

  function onClick(ev) {
    const remove = ev.target.closest && ev.target.closest('.fx-file-remove[data-fx-remove]');
    const list = remove && remove.closest('[data-fx-selected-files]');
    if (list) {
      removeEntry(list.getAttribute('data-fx-selected-files'), Number(remove.getAttribute('data-fx-remove')));
      return;
    }
    const handler = closestAttr(ev.target, 'click');
    const zone = zoneOf(ev.target);
    if (handler) {
      // Links used as buttons must not navigate.
      if (handler.tagName === 'A' && (handler.getAttribute('href') || '#') === '#') ev.preventDefault();
      fire(handler, 'click', ev);
    }
    if (!zone || ev.target.classList.contains('fx-upload-input')) return;
    // Inner controls and click handlers inside the zone do their own thing.
    const inner = ev.target.closest('a, button, input, select, textarea, label, [data-fx-click]');
    if (inner && inner !== zone && zone.contains(inner)) return;
    const o = zoneOptions(zone);
    if (!o.disabled && !o.no_click) openPicker(zone);
  }

  function onInputOrChange(ev) {
    const t = ev.target;
    if (t && t.classList && t.classList.contains('fx-upload-input')) {
      const zone = zoneOf(t);
      if (ev.type === 'change' && zone && t.files) {
        const files = keepPickedPaths(Array.from(t.files));
        t.value = ''; // so choosing the same file again fires change
        if (!zoneOptions(zone).disabled) addFiles(zone, files);
      }
      return;
    }
    const el = closestAttr(t, ev.type);
    if (el) fire(el, ev.type, ev);
  }

  // A folder chosen with the picker (`directory`): each file's path inside it, kept as a
  // dropped folder's paths are.
  function keepPickedPaths(files) {
    for (const f of files) if (f.webkitRelativePath && !relPaths.has(f)) relPaths.set(f, f.webkitRelativePath);
    return files;
  }

  // Files pasted (Ctrl/Cmd+V) while a drop zone, or something in it, has the focus.
  function onPaste(ev) {
    const zone = zoneOf(ev.target);
    const files = ev.clipboardData ? Array.from(ev.clipboardData.files || []) : [];
    if (!zone || !files.length || zoneOptions(zone).disabled) return;
    ev.preventDefault();
    addFiles(zone, files);
  }

  function onSubmit(ev) {
    const el = closestAttr(ev.target, 'submit');
    if (!el) return;
    ev.preventDefault();
    fire(el, 'submit', ev);
  }

  function onKeydown(ev) {
    if (ev.key !== 'Enter' && ev.key !== ' ') return;
    const zone = zoneOf(ev.target);
    if (!zone || ev.target !== zone) return;
    const o = zoneOptions(zone);
    if (o.disabled || o.no_keyboard) return;
    ev.preventDefault(); // Space would scroll
    openPicker(zone);
  }

  function hasFiles(ev) {
    return !!ev.dataTransfer && Array.from(ev.dataTransfer.types || []).includes('Files');
  }

  function onDrag(ev) {
    if (!hasFiles(ev)) return;
    const zone = zoneOf(ev.target);
    const o = zone ? zoneOptions(zone) : null;
    const usable = zone && !o.disabled && !o.no_drag;
    if (ev.type === 'dragenter' || ev.type === 'dragover') {
      ev.preventDefault(); // needed for drop to fire; also stops navigating to stray files
      ev.dataTransfer.dropEffect = usable ? 'copy' : 'none';
      if (usable) zone.classList.add('fx-upload-dragover');
    } else if (ev.type === 'dragleave') {
      if (zone && !zone.contains(ev.relatedTarget)) zone.classList.remove('fx-upload-dragover');
    } else if (ev.type === 'drop') {
      ev.preventDefault();
      if (zone) zone.classList.remove('fx-upload-dragover');
      if (!usable) return;
      filesFromDrop(ev.dataTransfer)
        .then((files) => addFiles(zone, files))
        .catch((e) => { console.error('ferrex: drop failed', e); toast('Could not read the dropped files'); });
    }
  }

  // Listener errors must never stop the runtime.
  function guard(fn) {
    return (ev) => {
      try { fn(ev); } catch (e) {
        console.error('ferrex:', e);
        toast('Something went wrong in the page runtime');
      }
    };
  }

  // ---------- start ----------

  window.ferrex = {
    get connected() { return connected; },
    get pending() { return pending.size; },
    // Test hook: lose the socket as a network drop would (the runtime reconnects).
    // Handled at once, so `data-fx-connected` is "false" when this returns.
    dropSocket() {
      const sock = ws;
      if (!sock) return false;
      sock.onclose();
      sock.close();
      return true;
    },
    // The files zone `id` would upload (those with an error left out).
    selected(id) {
      return (selections.get(id) || []).filter((e) => e.status !== 'error').map((e) => ({ name: e.name, size: e.file.size }));
    },
    // Every entry of zone `id`: its name, size, status, bytes sent and error code.
    entries(id) {
      return (selections.get(id) || []).map((e) => ({
        name: e.name, size: e.file.size, status: e.status, loaded: e.loaded, error: e.error ? e.error.code : null,
      }));
    },
  };

  // The runtime's unit tests (tests/browser_runtime_unit.rs) call its inner functions
  // directly, so a change to the morph or the accept rules is caught without a whole app.
  // Only a page that sets `window.__ferrexTest = true` before this script runs gets them,
  // in place of that flag; such a page is a test bench, so the runtime does not start
  // there (no listeners, no socket). Every other page runs exactly the code above and below.
  if (window.__ferrexTest === true) {
    window.__ferrexTest = Object.freeze({
      morphRoot, morphChildren, morphNode, syncAttributes, syncInput, syncTextarea, syncSelect,
      keyOf, sameKind, acceptList, accepts, replaceMarkers, eventValue, humanSize, lastSegment,
      keepPickedPaths, rejectionMessage,
      sendEvent, applyReply, WIRE,
      // morphRoot morphs the page's #fx-root, which `init` would have looked up.
      useRoot(el) { root = el; },
    });
    return;
  }

  function init() {
    root = document.getElementById('fx-root');
    if (!root) return;
    base = (root.getAttribute('data-fx-base') || '').replace(/\/+$/, '');
    shownRev = Number(root.getAttribute('data-fx-rev')) || 0;
    boot = root.getAttribute('data-fx-boot') || '';
    document.addEventListener('click', guard(onClick));
    document.addEventListener('input', guard(onInputOrChange));
    document.addEventListener('change', guard(onInputOrChange));
    document.addEventListener('submit', guard(onSubmit));
    document.addEventListener('keydown', guard(onKeydown));
    document.addEventListener('paste', guard(onPaste));
    for (const t of ['dragenter', 'dragover', 'dragleave', 'drop']) document.addEventListener(t, guard(onDrag));
    setConnected(false);
    syncAllZonesBusy();
    renderAllSelections();
    toastLostActions();
    connect();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
