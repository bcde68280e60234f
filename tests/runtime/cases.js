// Unit cases for server/assets/runtime.js, run in Chromium by tests/browser_runtime_unit.rs.
//
// The page loads the shipped runtime after setting `window.__ferrexTest = true`, so
// `window.__ferrexTest` holds the runtime's inner functions. Each case gets a fresh
// `#stage` element as the runtime's root. When every case has run, `window.__results` is
// `{done: true, ran: [names], failures: [{name, message}]}` for the Rust side to read.
(() => {
  'use strict';

  const fx = window.__ferrexTest;
  const cases = [];
  let current = null; // this case's stage

  function test(name, fn) { cases.push({ name, fn }); }

  // ---------- assertions ----------

  class Failure extends Error {}

  // JSON with object keys sorted, so key order never decides equality.
  function show(v) {
    if (v === undefined) return 'undefined';
    return JSON.stringify(v, (k, x) => (x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.keys(x).sort().map((key) => [key, x[key]]))
      : x));
  }

  function eq(actual, expected, what) {
    const a = show(actual), e = show(expected);
    if (a !== e) throw new Failure(`${what}: expected ${e}, got ${a}`);
  }

  function same(actual, expected, what) {
    if (actual !== expected) throw new Failure(`${what}: not the same node/object`);
  }

  function ok(cond, what) {
    if (!cond) throw new Failure(what);
  }

  // ---------- fixtures ----------

  // A fresh root holding `html`, handed to the runtime as its #fx-root.
  function stage(html) {
    const el = document.createElement('div');
    el.id = 'stage';
    el.innerHTML = html;
    document.body.appendChild(el);
    fx.useRoot(el);
    current = el;
    return el;
  }

  function q(css) {
    return current.querySelector(css);
  }

  function morph(html) {
    fx.morphRoot(html);
  }

  function file(name, type) {
    return new File(['x'], name, { type: type || '' });
  }

  function attrs(el) {
    return Array.from(el.attributes, (a) => [a.name, a.value]).sort();
  }

  function fragment(html) {
    const tpl = document.createElement('template');
    tpl.innerHTML = html;
    return tpl.content;
  }

  function element(html) {
    return fragment(html).firstElementChild;
  }

  // ---------- the page itself ----------

  test('the test hook is frozen and the runtime did not start on this page', () => {
    ok(Object.isFrozen(fx), 'window.__ferrexTest is frozen');
    ok(!('fxConnected' in document.documentElement.dataset), 'no connection state was set');
    eq(window.ferrex.pending, 0, 'nothing pending');
  });

  // ---------- keyOf / sameKind ----------

  test('keyOf prefers data-fx-key over id and gives null without either', () => {
    eq(fx.keyOf(element('<div data-fx-key="k" id="i"></div>')), 'k', 'data-fx-key wins');
    eq(fx.keyOf(element('<div id="i"></div>')), 'i', 'id is a key');
    eq(fx.keyOf(element('<div class="c"></div>')), null, 'no key');
    eq(fx.keyOf(document.createTextNode('t')), null, 'text nodes have no key');
  });

  test('sameKind compares tag and node type', () => {
    ok(fx.sameKind(element('<p>a</p>'), element('<p>b</p>')), 'two <p>');
    ok(!fx.sameKind(element('<p></p>'), element('<span></span>')), '<p> vs <span>');
    ok(fx.sameKind(document.createTextNode('a'), document.createTextNode('b')), 'two texts');
    ok(!fx.sameKind(document.createTextNode('a'), document.createComment('a')), 'text vs comment');
  });

  test('sameKind compares input types case-insensitively, text by default', () => {
    ok(fx.sameKind(element('<input>'), element('<input type="TEXT">')), 'missing type is text');
    ok(fx.sameKind(element('<input type="Checkbox">'), element('<input type="checkbox">')), 'case');
    ok(!fx.sameKind(element('<input type="text">'), element('<input type="checkbox">')), 'text vs checkbox');
    ok(!fx.sameKind(element('<input type="file">'), element('<input>')), 'file vs text');
  });

  // ---------- morph: nodes, text, attributes ----------

  test('morph updates a text node in place', () => {
    stage('<p>before</p>');
    const p = q('p'), text = p.firstChild;
    morph('<p>after</p>');
    same(q('p'), p, 'the <p>');
    same(p.firstChild, text, 'its text node');
    eq(p.textContent, 'after', 'text');
  });

  test('morph reuses bare text and comment nodes at the root', () => {
    const root = stage('one<b>x</b><!--c1-->');
    const [text, b, comment] = Array.from(root.childNodes);
    morph('two<b>x</b><!--c2-->');
    same(root.childNodes[0], text, 'the text node');
    same(root.childNodes[1], b, 'the <b>');
    same(root.childNodes[2], comment, 'the comment');
    eq(text.nodeValue, 'two', 'text');
    eq(comment.nodeValue, 'c2', 'comment');
  });

  test('morph adds, changes and removes attributes', () => {
    stage('<div class="a" title="t" data-x="1"></div>');
    const div = q('div');
    morph('<div class="b" data-x="1" data-y="2"></div>');
    same(q('div'), div, 'the <div>');
    eq(attrs(div), [['class', 'b'], ['data-x', '1'], ['data-y', '2']], 'attributes');
  });

  test('morph removes a boolean attribute and adds it back', () => {
    stage('<button disabled>go</button>');
    const button = q('button');
    morph('<button>go</button>');
    ok(!button.disabled, 'enabled');
    morph('<button disabled>go</button>');
    same(q('button'), button, 'the <button>');
    ok(button.disabled, 'disabled again');
  });

  test('syncAttributes makes the attributes exactly the new ones', () => {
    const old = element('<a href="x" class="c" data-a="1"></a>');
    fx.syncAttributes(old, element('<a href="y" data-b="2"></a>'));
    eq(attrs(old), [['data-b', '2'], ['href', 'y']], 'attributes');
  });

  test('morphNode updates attributes and children of one element', () => {
    const old = element('<ul class="a"><li>1</li><li>2</li></ul>');
    const first = old.firstChild;
    fx.morphNode(old, element('<ul class="b"><li>one</li></ul>'));
    eq(old.outerHTML, '<ul class="b"><li>one</li></ul>', 'html');
    same(old.firstChild, first, 'the first <li>');
  });

  test('morphChildren works on detached nodes', () => {
    const from = element('<ol><li>1</li></ol>');
    const li = from.firstChild;
    fx.morphChildren(from, fragment('<li>1</li><li>2</li>'));
    eq(from.innerHTML, '<li>1</li><li>2</li>', 'html');
    same(from.firstChild, li, 'the first <li>');
  });

  test('morph replaces an element whose tag changed', () => {
    stage('<p id="x">a</p>');
    const p = q('#x');
    morph('<span id="x">a</span>');
    ok(!p.isConnected, 'the <p> is gone');
    eq(current.innerHTML, '<span id="x">a</span>', 'html');
  });

  test('morph replaces an input whose type changed', () => {
    stage('<input id="i" type="text">');
    const input = q('#i');
    morph('<input id="i" type="checkbox">');
    ok(!input.isConnected, 'the text input is gone');
    eq(q('#i').type, 'checkbox', 'new type');
  });

  test('morph keeps nested elements and updates deep text', () => {
    stage('<section><div><p>a</p></div></section>');
    const section = q('section'), p = q('p');
    morph('<section><div><p>b</p><p>c</p></div></section>');
    same(q('section'), section, 'the <section>');
    same(q('p'), p, 'the first <p>');
    eq(section.innerHTML, '<div><p>b</p><p>c</p></div>', 'html');
  });

  // ---------- morph: keyed and unkeyed children ----------

  function keyed(keys) {
    return keys.map((k) => `<li data-fx-key="${k}">${k}</li>`).join('');
  }

  function liByKey(root) {
    return Object.fromEntries(Array.from(root.querySelectorAll('li'), (li) => [li.dataset.fxKey, li]));
  }

  test('keyed children are moved, not rebuilt, when reordered', () => {
    const root = stage(`<ul>${keyed(['a', 'b', 'c'])}</ul>`);
    const before = liByKey(root);
    morph(`<ul>${keyed(['c', 'a', 'b'])}</ul>`);
    eq(Array.from(root.querySelectorAll('li'), (li) => li.textContent), ['c', 'a', 'b'], 'order');
    const after = liByKey(root);
    for (const k of ['a', 'b', 'c']) same(after[k], before[k], `<li> ${k}`);
  });

  test('removing a keyed child from the middle keeps its siblings', () => {
    const root = stage(`<ul>${keyed(['a', 'b', 'c'])}</ul>`);
    const before = liByKey(root);
    morph(`<ul>${keyed(['a', 'c'])}</ul>`);
    eq(Array.from(root.querySelectorAll('li'), (li) => li.textContent), ['a', 'c'], 'order');
    same(liByKey(root).a, before.a, '<li> a');
    same(liByKey(root).c, before.c, '<li> c');
    ok(!before.b.isConnected, '<li> b is gone');
  });

  test('inserting a keyed child at the front keeps the others', () => {
    const root = stage(`<ul>${keyed(['b', 'c'])}</ul>`);
    const before = liByKey(root);
    morph(`<ul>${keyed(['a', 'b', 'c'])}</ul>`);
    eq(Array.from(root.querySelectorAll('li'), (li) => li.textContent), ['a', 'b', 'c'], 'order');
    same(liByKey(root).b, before.b, '<li> b');
    same(liByKey(root).c, before.c, '<li> c');
  });

  test('ids act as keys', () => {
    stage('<div id="one">1</div><div id="two">2</div>');
    const one = q('#one'), two = q('#two');
    morph('<div id="two">2</div><div id="one">1!</div>');
    same(current.firstChild, two, 'first is #two');
    same(current.lastChild, one, 'last is #one');
    eq(one.textContent, '1!', '#one text');
  });

  test('a changed key makes a new element', () => {
    stage('<div data-fx-key="a">x</div>');
    const old = current.firstChild;
    morph('<div data-fx-key="b">x</div>');
    ok(!old.isConnected, 'the old element is gone');
    eq(current.firstChild.dataset.fxKey, 'b', 'new key');
  });

  test('data-fx-key keeps an element whose id changes', () => {
    stage('<div data-fx-key="k" id="one"></div>');
    const div = current.firstChild;
    morph('<div data-fx-key="k" id="two"></div>');
    same(current.firstChild, div, 'the <div>');
    eq(div.id, 'two', 'id');
  });

  test('unkeyed children are matched by position', () => {
    const root = stage('<p>1</p><p>2</p>');
    const [p1, p2] = root.children;
    morph('<p>1</p><p>two</p><p>3</p>');
    same(root.children[0], p1, 'first <p>');
    same(root.children[1], p2, 'second <p>');
    eq(root.innerHTML, '<p>1</p><p>two</p><p>3</p>', 'html');
  });

  test('extra unkeyed children are removed from the end', () => {
    const root = stage('<p>1</p><p>2</p><p>3</p>');
    const p1 = root.children[0];
    morph('<p>one</p>');
    same(root.firstChild, p1, 'first <p>');
    eq(root.innerHTML, '<p>one</p>', 'html');
  });

  test('whitespace before a matched element is dropped, not kept', () => {
    const root = stage('  <b id="b">x</b>');
    const b = q('#b');
    morph('<b id="b">x</b>');
    eq(root.childNodes.length, 1, 'one child');
    same(root.firstChild, b, 'the <b>');
  });

  // ---------- morph: form controls ----------

  test('an input takes a new value attribute', () => {
    stage('<input id="i" value="a">');
    const input = q('#i');
    input.value = 'typed';
    morph('<input id="i" value="b">');
    same(q('#i'), input, 'the <input>');
    eq(input.value, 'b', 'value');
  });

  test('an unfocused controlled input shows the server value again', () => {
    stage('<input id="i" value="a">');
    const input = q('#i');
    input.value = 'typed';
    morph('<input id="i" value="a" class="x">');
    eq(input.value, 'a', 'value');
  });

  test('an uncontrolled input keeps what the user typed', () => {
    stage('<input id="i" name="q">');
    const input = q('#i');
    input.value = 'typed';
    morph('<input id="i" name="q" class="x">');
    same(q('#i'), input, 'the <input>');
    eq(input.value, 'typed', 'value');
  });

  test('an input whose value attribute goes away is cleared', () => {
    stage('<input id="i" value="a">');
    const input = q('#i');
    morph('<input id="i">');
    eq(input.value, '', 'value');
  });

  test('a focused input keeps its text while the server value is unchanged', () => {
    stage('<input id="i" value="a">');
    const input = q('#i');
    input.focus();
    input.value = 'a and more';
    morph('<input id="i" value="a" class="x">');
    eq(input.value, 'a and more', 'value');
    same(document.activeElement, input, 'focus');
  });

  test('a focused input takes a changed server value when nothing is pending', () => {
    stage('<input id="i" value="draft">');
    const input = q('#i');
    input.focus();
    input.value = 'draft sent';
    morph('<input id="i" value="">');
    eq(input.value, '', 'value');
    same(document.activeElement, input, 'focus');
  });

  test('a focused input keeps its text while an event is pending', () => {
    stage('<input id="i" value="a">');
    const input = q('#i');
    input.focus();
    input.value = 'typing';
    const id = fx.sendEvent('Form.typed', ['typing']);
    try {
      eq(window.ferrex.pending, 1, 'pending events');
      ok(current.hasAttribute('data-fx-busy'), 'root marked busy');
      morph('<input id="i" value="server">');
      eq(input.value, 'typing', 'value while pending');
    } finally {
      // The reply ends the pending event even when an assertion failed, so later cases
      // start with nothing pending.
      fx.applyReply({ id, html: null });
    }
    eq(window.ferrex.pending, 0, 'pending after the reply');
    ok(!current.hasAttribute('data-fx-busy'), 'root not busy');
  });

  test('a focused input moved among its siblings keeps focus and caret', () => {
    stage('<p id="p">x</p><input id="i" value="hello">');
    const input = q('#i');
    input.focus();
    input.setSelectionRange(1, 3);
    morph('<input id="i" value="hello"><p id="p">x</p>');
    same(current.firstChild, input, 'the <input> moved first');
    same(document.activeElement, input, 'focus');
    eq([input.selectionStart, input.selectionEnd], [1, 3], 'selection');
  });

  test('focus survives a move of the focused element\'s ancestor', () => {
    stage('<div id="y"></div><div id="x"><input id="i"></div>');
    const input = q('#i');
    input.focus();
    input.value = 'abc';
    morph('<div id="x"><input id="i"></div><div id="y"></div>');
    same(current.firstChild, q('#x'), '#x moved first');
    same(document.activeElement, input, 'focus');
    eq(input.value, 'abc', 'value');
  });

  test('a checkbox follows a change of its checked attribute only', () => {
    stage('<input id="c" type="checkbox">');
    const box = q('#c');
    box.checked = true; // the user ticks it
    morph('<input id="c" type="checkbox" class="x">');
    ok(box.checked, 'still ticked: the server did not change it');
    morph('<input id="c" type="checkbox" checked>');
    ok(box.checked, 'ticked by the server');
    box.checked = false; // the user unticks it
    morph('<input id="c" type="checkbox" checked>');
    ok(!box.checked, 'still unticked: the server did not change it');
    morph('<input id="c" type="checkbox">');
    ok(!box.checked, 'unticked by the server');
    same(q('#c'), box, 'the <input>');
  });

  test('a radio button follows its checked attribute', () => {
    stage('<input type="radio" name="r" id="a" checked><input type="radio" name="r" id="b">');
    const a = q('#a'), b = q('#b');
    morph('<input type="radio" name="r" id="a"><input type="radio" name="r" id="b" checked>');
    ok(!a.checked && b.checked, 'b checked');
  });

  test('a file input keeps its element and its chosen files', () => {
    stage('<input id="f" type="file">');
    const input = q('#f');
    const dt = new DataTransfer();
    dt.items.add(file('a.txt', 'text/plain'));
    input.files = dt.files;
    morph('<input id="f" type="file" class="x">');
    same(q('#f'), input, 'the <input>');
    eq(input.files.length, 1, 'files');
    eq(input.className, 'x', 'class');
  });

  test('a textarea takes new text as its value', () => {
    stage('<textarea id="t">a</textarea>');
    const area = q('#t');
    area.value = 'typed';
    morph('<textarea id="t">b</textarea>');
    same(q('#t'), area, 'the <textarea>');
    eq([area.value, area.defaultValue], ['b', 'b'], 'value and default');
  });

  test('an empty textarea keeps what the user typed', () => {
    stage('<textarea id="t"></textarea>');
    const area = q('#t');
    area.value = 'mine';
    morph('<textarea id="t" class="x"></textarea>');
    eq(area.value, 'mine', 'value');
  });

  test('a focused textarea keeps its text unless the server changes it', () => {
    stage('<textarea id="t">a</textarea>');
    const area = q('#t');
    area.focus();
    area.value = 'ab';
    morph('<textarea id="t">a</textarea>');
    eq(area.value, 'ab', 'kept while unchanged');
    morph('<textarea id="t">reset</textarea>');
    eq(area.value, 'reset', 'changed by the server');
  });

  function options(sel) {
    return Array.from(sel.options, (o) => o.selected);
  }

  const SELECT = (chosen, extra) => `<select id="s"${extra || ''}>${['a', 'b', 'c']
    .map((v) => `<option value="${v}"${v === chosen ? ' selected' : ''}>${v}</option>`).join('')}</select>`;

  test('a select follows the selected attribute', () => {
    stage(SELECT('b'));
    const sel = q('#s');
    sel.options[0].selected = true; // the user picks a
    morph(SELECT('c'));
    same(q('#s'), sel, 'the <select>');
    eq(sel.value, 'c', 'value');
  });

  test('a select without selected options keeps the user\'s choice', () => {
    stage(SELECT(null));
    const sel = q('#s');
    sel.options[1].selected = true;
    morph(SELECT(null, ' class="x"'));
    eq(sel.value, 'b', 'value');
  });

  test('an unfocused select shows the server\'s unchanged choice again', () => {
    stage(SELECT('b'));
    const sel = q('#s');
    sel.options[0].selected = true; // the user picks a
    morph(SELECT('b', ' class="x"'));
    eq(sel.value, 'b', 'value');
  });

  test('a focused select keeps the user\'s choice while the server\'s is unchanged', () => {
    stage(SELECT('b'));
    const sel = q('#s');
    sel.focus();
    sel.options[0].selected = true; // the user picks a
    morph(SELECT('b', ' class="x"'));
    eq(sel.value, 'a', 'value');
    same(document.activeElement, sel, 'focus');
  });

  test('a focused select takes a choice the server changed, as a focused input does', () => {
    stage(SELECT('b'));
    const sel = q('#s');
    sel.focus();
    sel.options[0].selected = true; // the user picks a
    morph(SELECT('c'));
    eq(sel.value, 'c', 'value');
    same(document.activeElement, sel, 'focus');
  });

  test('a focused select keeps the user\'s choice while an event of theirs is in flight', () => {
    stage(SELECT('b'));
    const sel = q('#s');
    sel.focus();
    sel.options[0].selected = true; // the user picks a, and its event is on its way
    const id = fx.sendEvent('Form.picked', ['a']);
    try {
      morph(SELECT('c'));
      eq(sel.value, 'a', 'value while pending');
    } finally {
      fx.applyReply({ id, html: null });
    }
  });

  test('a multiple select takes every selected option', () => {
    stage('<select id="s" multiple><option selected>a</option><option>b</option><option selected>c</option></select>');
    const sel = q('#s');
    sel.options[2].selected = false;
    sel.options[1].selected = true;
    morph('<select id="s" multiple><option selected>a</option><option selected>b</option><option>c</option></select>');
    eq(options(sel), [true, true, false], 'selected');
  });

  test('an option added by the server can be the selected one', () => {
    stage('<select id="s"><option value="a" selected>a</option></select>');
    const sel = q('#s'), first = sel.options[0];
    morph('<select id="s"><option value="a">a</option><option value="b" selected>b</option></select>');
    same(sel.options[0], first, 'the first <option>');
    eq(sel.options.length, 2, 'options');
    eq(sel.value, 'b', 'value');
  });

  test('syncInput alone: focus guards the value, unfocused follows the attribute', () => {
    const old = element('<input value="a">');
    old.value = 'typed';
    fx.syncInput(old, element('<input value="a">'), true);
    eq(old.value, 'typed', 'focused, attribute unchanged');
    fx.syncInput(old, element('<input value="a">'), false);
    eq(old.value, 'a', 'unfocused');
  });

  test('syncTextarea and syncSelect alone', () => {
    const area = element('<textarea>a</textarea>');
    fx.syncTextarea(area, element('<textarea>b</textarea>'), false);
    eq(area.value, 'b', 'textarea value');
    const sel = element(SELECT('a'));
    fx.syncSelect(sel, element(SELECT('c')));
    eq(options(sel), [false, false, true], 'options');
  });

  // ---------- replies ----------

  test('a reply older than the page on screen does not morph it', () => {
    stage('<p>start</p>');
    // The runtime remembers the newest revision shown: no other case may send a revision.
    fx.applyReply({ html: '<p>new</p>', rev: 1000 });
    fx.applyReply({ html: '<p>old</p>', rev: 999 });
    eq(current.innerHTML, '<p>new</p>', 'html after an older reply');
    fx.applyReply({ html: '<p>unnumbered</p>' });
    eq(current.innerHTML, '<p>unnumbered</p>', 'html after a reply without rev');
  });

  test('a reply\'s error is shown as text, never as HTML', () => {
    stage('');
    fx.applyReply({ error: '<b>bad</b> input' });
    const messages = document.querySelectorAll('#fx-toasts .fx-toast-message');
    const last = messages[messages.length - 1];
    ok(last, 'a toast');
    eq(last.textContent, '<b>bad</b> input', 'message');
    eq(last.children.length, 0, 'no markup');
    document.getElementById('fx-toasts').remove();
  });

  test('a refused file\'s message names it, the reason and the limit it broke', () => {
    const o = { multiple: true, max_files: 2, max_size: 2 * 1024 * 1024 * 1024, min_size: 1, accept: '.txt,image/*' };
    eq(fx.rejectionMessage({ name: 'big.iso', size: 3 * 1024 * 1024 * 1024, reason: 'too large' }, o),
      'big.iso: too large (3.0 GB; the limit is 2.0 GB)', 'too large');
    eq(fx.rejectionMessage({ name: 'e.txt', size: 0, reason: 'too small' }, o),
      'e.txt: too small (0 B; the minimum is 1 B)', 'too small');
    eq(fx.rejectionMessage({ name: 'c.txt', size: 5, reason: 'too many files' }, o),
      'c.txt: too many files (at most 2 at a time)', 'too many');
    eq(fx.rejectionMessage({ name: 'c.txt', size: 5, reason: 'too many files' }, {}),
      'c.txt: too many files (at most 1 at a time)', 'a single-file zone');
    eq(fx.rejectionMessage({ name: 't.exe', size: 5, reason: 'type not accepted' }, o),
      't.exe: type not accepted (accepted: .txt, image/*)', 'type');
  });

  // ---------- accept rules ----------

  test('acceptList reads the rendered string and lists', () => {
    eq(fx.acceptList(null), [], 'null');
    eq(fx.acceptList(''), [], 'empty string');
    eq(fx.acceptList('.png,image/*'), ['.png', 'image/*'], 'string');
    eq(fx.acceptList(['.png', 'image/*']), ['.png', 'image/*'], 'array');
  });

  test('no accept rule accepts every file', () => {
    ok(fx.accepts(file('a.exe'), null), 'null');
    ok(fx.accepts(file('a.exe'), []), 'empty list');
    ok(fx.accepts(file('a.exe'), ' , '), 'blank entries only');
  });

  test('extensions match the end of the name, in any case', () => {
    ok(fx.accepts(file('photo.png'), '.PNG'), '.PNG accepts photo.png');
    ok(fx.accepts(file('PHOTO.PNG'), ['.png']), '.png accepts PHOTO.PNG');
    ok(fx.accepts(file('a.tar.gz'), '.tar.gz'), 'double extension');
    ok(!fx.accepts(file('png.txt'), '.png'), 'png.txt is not a .png');
    ok(!fx.accepts(file('photopng'), '.png'), 'no dot, no match');
  });

  test('type/* matches the major type only', () => {
    ok(fx.accepts(file('a', 'image/png'), 'image/*'), 'image/png');
    ok(fx.accepts(file('a', 'IMAGE/JPEG'), 'Image/*'), 'case');
    ok(!fx.accepts(file('a', 'application/pdf'), 'image/*'), 'application/pdf');
    ok(!fx.accepts(file('a', 'imagex/png'), 'image/*'), 'imagex/png');
    ok(!fx.accepts(file('a.png', ''), 'image/*'), 'a file without a type');
  });

  test('an exact type matches only that type, in any case', () => {
    ok(fx.accepts(file('a', 'application/pdf'), 'application/pdf'), 'same');
    ok(fx.accepts(file('a', 'application/pdf'), 'Application/PDF'), 'case');
    ok(!fx.accepts(file('a', 'application/pdfx'), 'application/pdf'), 'longer type');
    ok(!fx.accepts(file('a.pdf', ''), 'application/pdf'), 'no type');
  });

  test('any one rule of a list is enough, spaces around rules ignored', () => {
    const rules = ' .png , image/jpeg ';
    ok(fx.accepts(file('a.png', ''), rules), 'by extension');
    ok(fx.accepts(file('a', 'image/jpeg'), rules), 'by type');
    ok(!fx.accepts(file('a.gif', 'image/gif'), rules), 'neither');
  });

  test('accept rules agree with the server on every case it sent', () => {
    const table = window.__wireAcceptCases;
    ok(Array.isArray(table) && table.length > 0, 'the bench page set window.__wireAcceptCases');
    for (const { rules, name, type, expected } of table) {
      const got = fx.accepts(file(name, type), rules);
      ok(got === expected, `rules "${rules}", file "${name}" of type "${type}": server says ${expected}, runtime ${got}`);
    }
  });

  // ---------- markers ----------

  test('$value is replaced wherever it stands', () => {
    const out = fx.replaceMarkers([{ $value: true }, { a: [1, { $value: true }] }], { value: () => 'v' });
    eq(out, ['v', { a: [1, 'v'] }], 'args');
  });

  test('$value asks for the value once per marker and not without one', () => {
    let calls = 0;
    const ctx = { value: () => { calls += 1; return calls; } };
    fx.replaceMarkers([1, 'two', { three: 3 }], ctx);
    eq(calls, 0, 'calls without a marker');
    eq(fx.replaceMarkers([{ $value: true }, { $value: true }], ctx), [1, 2], 'args');
  });

  test('$progress and $rejected are replaced when the context has them', () => {
    const progress = { loaded: 5, total: 10, fraction: 0.5 };
    const rejected = [{ name: 'a.exe', size: 1, reason: 'type not accepted' }];
    const ctx = { value: () => null, progress, rejected };
    eq(fx.replaceMarkers([{ $progress: true }, { $rejected: true }], ctx), [progress, rejected], 'args');
  });

  test('$progress and $rejected stay as they are without a context value', () => {
    const args = [{ $progress: true }, { $rejected: true }];
    eq(fx.replaceMarkers(args, { value: () => null }), args, 'args');
  });

  test('$upload stays as is for the server', () => {
    const args = [{ $upload: 'files' }, 42];
    eq(fx.replaceMarkers(args, { value: () => 'v' }), args, 'args');
  });

  test('only a one-key object set to true is a marker', () => {
    const args = [{ $value: true, x: 1 }, { $value: false }, { $value: 'yes' }, { $other: true }];
    eq(fx.replaceMarkers(args, { value: () => 'v' }), args, 'args');
  });

  test('replaceMarkers copies and leaves its input alone', () => {
    const inner = { list: [{ $value: true }] };
    const args = [inner, null, 'text', 3, false];
    const out = fx.replaceMarkers(args, { value: () => 'v' });
    eq(out, [{ list: ['v'] }, null, 'text', 3, false], 'output');
    eq(args, [{ list: [{ $value: true }] }, null, 'text', 3, false], 'input untouched');
    ok(out !== args && out[0] !== inner, 'a copy');
  });

  // ---------- event values ----------

  test('the value of a control is its value, checkbox state or chosen options', () => {
    stage('<input id="t" value="hi"><input id="c" type="checkbox" checked>'
      + '<select id="m" multiple><option selected>a</option><option>b</option><option selected>c</option></select>'
      + '<div id="e" contenteditable="true">edited</div><div id="d">plain</div>');
    eq(fx.eventValue(q('#t'), null), 'hi', 'text input');
    eq(fx.eventValue(q('#c'), null), true, 'checkbox');
    eq(fx.eventValue(q('#m'), null), ['a', 'c'], 'multiple select');
    eq(fx.eventValue(q('#e'), null), 'edited', 'contenteditable');
    eq(fx.eventValue(q('#d'), null), null, 'plain element');
    eq(fx.eventValue(null, null), null, 'no element');
  });

  test('a wrapper\'s value comes from the control the event hit', () => {
    stage('<div id="w" data-fx-input="[]"><input id="i" value="inner"></div>');
    eq(fx.eventValue(q('#w'), { target: q('#i') }), 'inner', 'value');
  });

  test('a form\'s value maps its named controls, with the submitter', () => {
    stage('<form id="f"><input name="t" value="hi"><input type="checkbox" name="c">'
      + '<input type="radio" name="r" value="1"><input type="radio" name="r" value="2" checked>'
      + '<input type="radio" name="none" value="x"><input type="file" name="up">'
      + '<textarea name="ta">txt</textarea><input name="off" value="no" disabled><input value="nameless">'
      + '<button name="go" value="yes">Go</button><button name="other" value="no">No</button></form>');
    const form = q('#f');
    eq(fx.eventValue(form, { target: form, submitter: q('button[name=go]') }),
      { t: 'hi', c: false, r: '2', ta: 'txt', go: 'yes' }, 'form value');
  });

  // ---------- sizes and names ----------

  test('humanSize speaks in bytes, then binary units with one decimal', () => {
    eq([0, 1023, 1024, 1536, 1048576, 5.5 * 1073741824, 1099511627776, 1125899906842624].map(fx.humanSize),
      ['0 B', '1023 B', '1.0 KB', '1.5 KB', '1.0 MB', '5.5 GB', '1.0 TB', '1024.0 TB'], 'sizes');
  });

  test('lastSegment decodes the last path segment', () => {
    eq(fx.lastSegment('/a/b.png'), 'b.png', 'plain');
    eq(fx.lastSegment('/files/na%C3%AFve%20file.txt'), 'na\u00efve file.txt', 'percent-encoded');
    eq(fx.lastSegment('/a/'), '', 'trailing slash');
    eq(fx.lastSegment(''), '', 'empty');
    eq(fx.lastSegment('/a/100%'), '100%', 'a bad escape stays as is');
  });

  // ---------- run ----------

  function run() {
    const ran = [], failures = [];
    if (!fx || typeof fx.morphRoot !== 'function') {
      failures.push({ name: 'test hook', message: 'window.__ferrexTest was not filled in by the runtime' });
    } else {
      for (const { name, fn } of cases) {
        ran.push(name);
        try {
          fn();
          // A case must not leave state that changes how the next ones behave.
          if (window.ferrex.pending) throw new Failure(`left ${window.ferrex.pending} event(s) pending`);
        } catch (e) {
          const message = e instanceof Failure ? e.message : `threw ${e && e.stack ? e.stack : e}`;
          failures.push({ name, message });
        } finally {
          if (current) current.remove();
          current = null;
          if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
        }
      }
    }
    window.__results = { done: true, ran, failures };
  }

  run();
})();
