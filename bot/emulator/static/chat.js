/* The emulator's chat page: act as a member (through the emulator server, which posts the encrypted
   callback) and show what the assistant delivered through WeCom's API. Polls /emu/poll every second. */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 1000;
  const GAP_SECONDS = 300;
  const PALETTE = ["#3b82f6", "#10b981", "#f59e0b", "#8b5cf6", "#ef4444", "#06b6d4", "#ec4899", "#6366f1", "#14b8a6"];
  const MSG_LABELS = { text: "文本", markdown: "图文", template_card: "卡片", image: "图片", file: "文件", textcard: "文本卡片", news: "图文" };

  const st = {
    config: null, users: new Map(), current: null, version: -1, rendered: new Map(), lastTs: null,
    counts: {}, seen: null, voice: false, locMode: "gps", entered: new Set(), menuSig: "", menuNames: {},
    pollTimer: null, polling: false, stick: false, atBottom: true,
  };

  // ---- helpers --------------------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "html") el.innerHTML = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const safeUrl = (u) => (/^https?:\/\//i.test(String(u || "")) ? String(u) : null);

  function toast(text, bad = false) {
    const el = $("toast");
    el.textContent = text;
    el.className = bad ? "toast bad" : "toast";
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.hidden = true; }, bad ? 4000 : 2200);
  }

  async function post(path, body) {
    const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    let data = {};
    try { data = await r.json(); } catch (_) { /* not JSON */ }
    if (!r.ok) throw new Error(typeof data.detail === "string" ? data.detail : `请求失败（HTTP ${r.status}）`);
    return data;
  }

  function report(result, okText) {
    if (result && result.ok === false) toast(result.error || "发送失败", true);
    else if (okText) toast(okText);
    pollNow();
  }

  function colorFor(id) {
    let n = 0;
    for (const ch of String(id)) n = (n * 31 + ch.charCodeAt(0)) >>> 0;
    return PALETTE[n % PALETTE.length];
  }
  function avatar(user) {
    const name = user ? user.name : "?";
    const short = name.length <= 2 ? name : name.slice(-2);
    return h("div", { class: "avatar", style: `background:${colorFor(user ? user.userid : name)}` }, short);
  }

  // ---- rich text ------------------------------------------------------------------------------
  function inline(s) {
    return s
      .replace(/`([^`]+)`/g, "<code>$1</code>")
      .replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>")
      .replace(/\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)/g, '<a href="$2" target="_blank" rel="noopener">$1</a>')
      .replace(/&lt;font color=&quot;(info|comment|warning)&quot;&gt;([\s\S]*?)&lt;\/font&gt;/g, '<span class="c-$1">$2</span>');
  }
  function markdown(src) {
    const lines = esc(src).split(/\r?\n/);
    let html = "", list = null, para = [];
    const flushPara = () => { if (para.length) { html += `<p>${para.map(inline).join("<br>")}</p>`; para = []; } };
    const flushList = () => {
      if (list) {
        const start = list.start && list.start !== 1 ? ` start="${list.start}"` : "";
        html += `<${list.tag}${start}>${list.items.map((i) => `<li>${inline(i)}</li>`).join("")}</${list.tag}>`;
        list = null;
      }
    };
    // an ordered list keeps the number its first item was written with: items separated by other lines
    // (a product, then its selling points) are numbered 1, 2, 3 as written, not 1, 1, 1
    const listItem = (tag, text, start) => {
      flushPara();
      if (!list || list.tag !== tag) { flushList(); list = { tag, items: [], start }; }
      list.items.push(text);
    };
    for (const line of lines) {
      let m;
      if ((m = line.match(/^(#{1,6})\s+(.*)$/))) { flushPara(); flushList(); const n = Math.min(m[1].length, 4); html += `<h${n}>${inline(m[2])}</h${n}>`; }
      else if ((m = line.match(/^&gt;\s?(.*)$/))) { flushPara(); flushList(); html += `<blockquote>${inline(m[1])}</blockquote>`; }
      else if ((m = line.match(/^\s*[-*+]\s+(.*)$/))) listItem("ul", m[1]);
      else if ((m = line.match(/^\s*(\d+)[.)]\s+(.*)$/))) listItem("ol", m[2], Number(m[1]));
      else if (!line.trim()) { flushPara(); flushList(); }
      else { flushList(); para.push(line); }
    }
    flushPara(); flushList();
    return html;
  }
  // Text messages may carry <a href="…">…</a> (WeCom renders it as a link).
  const richText = (src) => esc(src).replace(/&lt;a href=&quot;(https?:\/\/.*?)&quot;&gt;(.*?)&lt;\/a&gt;/g,
    '<a href="$1" target="_blank" rel="noopener">$2</a>');
  const cardDesc = (src) => esc(src)
    .replace(/&lt;br\s*\/?&gt;/g, "\n")
    .replace(/&lt;div class=&quot;(gray|normal|highlight)&quot;&gt;([\s\S]*?)&lt;\/div&gt;/g, '<div class="tc-$1">$2</div>');

  // ---- users ----------------------------------------------------------------------------------
  function renderUsers() {
    const q = $("search").value.trim().toLowerCase();
    const box = $("user-groups");
    box.replaceChildren();
    for (const group of st.config.groups) {
      const users = group.users.filter((u) => !q || `${u.name}${u.userid}${u.title || ""}`.toLowerCase().includes(q));
      if (!users.length) continue;
      box.append(h("div", { class: "group-title" }, `${group.label}（${users.length}）`));
      for (const u of users) {
        const unread = st.seen ? (st.counts[u.userid] || 0) - (st.seen[u.userid] || 0) : 0;
        box.append(h("button", { class: `user${u.userid === st.current ? " active" : ""}`, onclick: () => select(u.userid) },
          avatar(u),
          h("div", { class: "user-main" }, h("div", { class: "user-name" }, u.name),
            h("div", { class: "user-sub" }, [u.role_label, u.title].filter(Boolean).join(" · ") + ` · ${u.userid}`)),
          unread > 0 && u.userid !== st.current ? h("span", { class: "badge" }, unread > 99 ? "99+" : unread) : null));
      }
    }
    if (!box.children.length) box.append(h("div", { class: "group-title" }, "没有匹配的成员"));
  }

  function select(userid) {
    if (st.current === userid) return;
    st.current = userid;
    st.version = -1;
    st.rendered.clear();
    st.lastTs = null;
    st.stick = true;
    st.atBottom = true;
    const u = st.users.get(userid);
    $("messages").replaceChildren();
    $("chat-sub").textContent = `当前身份：${u.name}（${u.role_label}）· ${u.userid}`;
    for (const id of ["btn-enter", "btn-contact", "btn-scan", "btn-location", "btn-photo", "btn-voice", "input", "btn-send"]) $(id).disabled = false;
    if (st.seen) st.seen[userid] = st.counts[userid] || 0;
    renderUsers();
    $("input").focus();
    if (!st.entered.has(userid)) {  // opening the app's chat sends enter_agent, as in WeCom
      st.entered.add(userid);
      post("/emu/send", { user: userid, type: "enter_agent" }).then((r) => report(r)).catch((e) => toast(e.message, true));
    }
    pollNow();
  }

  // ---- timeline -------------------------------------------------------------------------------
  function statusMeta(it) {
    const parts = [];
    if (it.attempts > 1) parts.push(h("span", {}, `企业微信已重试 ${it.attempts - 1} 次 `));
    if (it.error) parts.push(h("span", { class: "bad" }, `投递失败：${it.error}`));
    else if (it.status === null) parts.push(h("span", {}, "发送中…"));
    else if (it.status !== 200) parts.push(h("span", { class: "bad" }, `助手拒收（HTTP ${it.status}）`));
    if (it.error || (it.status !== null && it.status !== 200)) {
      parts.push(h("button", { class: "link", onclick: () => post("/emu/resend", { seq: it.seq }).then((r) => report(r, "已重新投递")).catch((e) => toast(e.message, true)) }, "重新投递"));
    }
    if (!parts.length) return null;
    const bad = it.error || (it.status !== null && it.status !== 200);
    return h("div", { class: `meta${bad ? " bad" : ""}` }, parts);
  }

  function sysLine(text, extra, warn = false) {
    return h("div", { class: `sys${warn ? " warn" : ""}` }, h("span", {}, text), extra);
  }

  function photo(mediaId) {
    const src = `/emu/media/${encodeURIComponent(mediaId)}`;
    return h("img", { class: "photo", src, alt: "图片", loading: "lazy",
      onload: () => { if (st.atBottom) scrollToEnd(); }, onclick: () => window.open(src, "_blank") });
  }

  function pin() {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("class", "loc-pin");
    svg.innerHTML = '<path d="M12 2a7 7 0 0 0-7 7c0 5.2 7 13 7 13s7-7.8 7-13a7 7 0 0 0-7-7zm0 9.5A2.5 2.5 0 1 1 12 6.5a2.5 2.5 0 0 1 0 5z"/>';
    return svg;
  }

  function fmt(n, places = 6) {
    const text = Number(n).toFixed(places);
    return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
  }

  function renderOut(it) {
    const f = it.fields || {};
    const me = st.users.get(st.current);
    const meta = statusMeta(it);
    switch (it.kind) {
      case "enter_agent": return sysLine("进入了应用", meta);
      case "location_report": return sysLine(`已自动上报位置 ${fmt(f.lat)}, ${fmt(f.lng)}（精度 ${fmt(f.precision, 0)} 米）`, meta);
      case "menu_click": return sysLine(`点击菜单「${st.menuNames[f.key] || f.key}」`, meta);
      case "add_external_contact": return sysLine(`添加了微信客户「${f.name}」`, meta);
      case "edit_external_contact": return sysLine("修改了微信客户的备注", meta);
      case "del_external_contact": return sysLine("删除了一位微信客户", meta);
      case "del_follow_user": return sysLine("被一位微信客户删除", meta);
      case "card_click": return sysLine(`点击了${f.card_title ? `「${f.card_title}」的` : "卡片"}按钮「${f.label || f.key}」`, meta);
      default: break;
    }
    let body;
    if (it.kind === "text") body = h("div", { class: "bubble" }, f.content);
    else if (it.kind === "voice") {
      body = h("div", { class: "bubble" }, h("div", { class: "voice-line" }, h("span", { class: "wave" }, "▍▍▌▍▌"), "语音"),
        h("div", { class: "voice-text" }, f.recognition));
    } else if (it.kind === "image") body = photo(f.media_id);
    else if (it.kind === "location") {
      body = h("div", { class: "loc-card" }, h("div", { class: "loc-map" }, pin()),
        h("div", { class: "loc-body" }, h("div", { class: "loc-label" }, f.label || "位置"),
          h("div", { class: "loc-coords" }, `${fmt(f.lat)}, ${fmt(f.lng)}`)));
    } else body = h("div", { class: "bubble raw" }, JSON.stringify(f));
    return h("div", { class: "row out" }, avatar(me), h("div", { class: "stack" }, body, meta));
  }

  function renderIn(it) {
    const c = it.content || {};
    let body;
    switch (it.msgtype) {
      case "text": body = h("div", { class: "bubble", html: richText(c.content) }); break;
      case "markdown": body = h("div", { class: "bubble md", html: markdown(c.content) }); break;
      case "image": body = photo(c.media_id); break;
      case "file": {
        const href = `/emu/media/${encodeURIComponent(c.media_id)}`;
        body = h("div", { class: "bubble" }, h("a", { class: "file-card", href, target: "_blank" },
          h("div", { class: "file-icon" }, "文件"), h("div", {}, "点击下载文件")));
        break;
      }
      case "voice": body = h("div", { class: "bubble" }, h("div", { class: "voice-line" }, h("span", { class: "wave" }, "▍▍▌▍▌"), "语音消息")); break;
      case "textcard": {
        const url = safeUrl(c.url);
        body = h("div", { class: "card textcard" }, h("div", { class: "tc-title" }, c.title),
          h("div", { class: "tc-desc", html: cardDesc(c.description) }),
          url ? h("a", { class: "card-link", href: url, target: "_blank", rel: "noopener" }, `${c.btntxt || "详情"} ›`) : null);
        break;
      }
      case "news": {
        body = h("div", { class: "card" }, (c.articles || []).map((a) => h("a", { class: "news-item", href: safeUrl(a.url) || "#", target: "_blank", rel: "noopener" },
          h("div", {}, h("div", { class: "nt" }, a.title), a.description ? h("div", { class: "nd" }, a.description) : null))));
        break;
      }
      case "template_card": body = renderCard(it); break;
      default: body = h("div", { class: "bubble raw" }, `[${it.msgtype}] ${JSON.stringify(c)}`);
    }
    const app = { userid: "__app__", name: "助" };
    const av = avatar(app);
    av.className = "avatar avatar-app";
    return h("div", { class: "row in" }, av, h("div", { class: "stack" }, body));
  }

  function renderCard(it) {
    const c = it.content || {};
    const card = h("div", { class: "card" });
    const qid = (qk) => `q-${it.id}-${qk}`;
    if (c.source) {
      card.append(h("div", { class: "card-source" }, h("span", { class: "dot" }, "助"), c.source.desc || st.config.app_name));
    }
    const mt = c.main_title || {};
    if (mt.title) card.append(h("div", { class: "card-title" }, mt.title));
    if (mt.desc) card.append(h("div", { class: "card-desc" }, mt.desc));
    if (c.emphasis_content) {
      card.append(h("div", { class: "card-emph" }, h("div", { class: "big" }, c.emphasis_content.title || ""),
        h("div", { class: "small" }, c.emphasis_content.desc || "")));
    }
    if (c.quote_area) {
      card.append(h("div", { class: "card-quote" }, c.quote_area.title ? h("div", { class: "q-title" }, c.quote_area.title) : null,
        c.quote_area.quote_text || ""));
    }
    if (c.sub_title_text) card.append(h("div", { class: "card-sub" }, c.sub_title_text));
    if ((c.horizontal_content_list || []).length) {
      const kv = h("div", { class: "kv" });
      for (const row of c.horizontal_content_list) {
        let value = row.value || "";
        if (row.type === 1 && safeUrl(row.url)) value = h("a", { href: row.url, target: "_blank", rel: "noopener" }, row.value || row.url);
        else if (row.type === 3) value = (st.users.get(row.userid) || {}).name || row.userid || value;
        kv.append(h("div", { class: "k" }, row.keyname), h("div", { class: "v" }, value));
      }
      card.append(kv);
    }
    if ((c.vertical_content_list || []).length) {
      card.append(h("div", { class: "card-vlist" }, c.vertical_content_list.map((v) => [h("div", { class: "vt" }, v.title), v.desc ? h("div", { class: "vd" }, v.desc) : null])));
    }
    const selects = [];
    const addSelect = (q) => {
      const sel = h("select", { "data-q": q.question_key }, (q.option_list || []).map((o) => h("option", { value: o.id, selected: o.id === q.selected_id }, o.text)));
      selects.push(sel);
      card.append(h("label", { class: "card-select" }, h("span", {}, q.title || "请选择"), sel));
    };
    if (c.button_selection) addSelect(c.button_selection);
    for (const q of c.select_list || []) addSelect(q);
    if (c.checkbox) {
      const multi = c.checkbox.mode === 1;
      card.append(h("div", { class: "card-options" }, (c.checkbox.option_list || []).map((o) => h("label", {},
        h("input", { type: multi ? "checkbox" : "radio", name: qid(c.checkbox.question_key), value: o.id, checked: !!o.is_checked }), o.text))));
    }
    const collect = () => {
      const out = {};
      for (const sel of selects) out[sel.dataset.q] = [sel.value];
      if (c.checkbox) out[c.checkbox.question_key] = [...card.querySelectorAll(`input[name="${qid(c.checkbox.question_key)}"]:checked`)].map((i) => i.value);
      return Object.keys(out).length ? out : null;
    };
    const buttons = h("div", { class: "card-buttons" });
    if (c.replaced_button !== undefined) {
      buttons.append(h("button", { class: "done", disabled: true }, c.replaced_button || "已处理"));
    } else {
      for (const b of c.button_list || []) {
        if (b.type === 1) {
          const url = safeUrl(b.url);
          buttons.append(h("button", { class: `s${b.style || 2}`, onclick: () => url && window.open(url, "_blank") }, b.text));
        } else {
          buttons.append(h("button", { class: `s${b.style || 1}`, onclick: (e) => clickCard(it, b.key, b.text, collect(), e.currentTarget, buttons) }, b.text));
        }
      }
      if (c.submit_button) {
        const sb = c.submit_button;
        buttons.append(h("button", { class: "s1", onclick: (e) => {
          const sel = collect();
          if (c.checkbox && !(sel[c.checkbox.question_key] || []).length) { toast("请先选择一项", true); return; }
          clickCard(it, sb.key, sb.text, sel, e.currentTarget, buttons);
        } }, sb.text));
      }
    }
    if (buttons.children.length) card.append(buttons);
    for (const j of c.jump_list || []) {
      const url = safeUrl(j.url);
      if (url) card.append(h("div", { class: "card-jumps" }, h("a", { href: url, target: "_blank", rel: "noopener" }, `${j.title} ›`)));
    }
    const action = c.card_action || {};
    if (action.type === 1 && safeUrl(action.url)) {
      card.append(h("a", { class: "card-link", href: action.url, target: "_blank", rel: "noopener" }, "查看详情 ›"));
    }
    return card;
  }

  async function clickCard(it, key, text, selected, button, group) {
    const all = [...group.querySelectorAll("button")];
    all.forEach((b) => { b.disabled = true; });
    button.classList.add("pending");
    try {
      const r = await post("/emu/card", { user: st.current, task_id: it.task_id, key, selected });
      report(r, r.ok ? `已点击「${text}」` : null);
    } catch (e) {
      toast(e.message, true);
    } finally {
      setTimeout(() => { all.forEach((b) => { b.disabled = false; }); button.classList.remove("pending"); }, 3000);
    }
  }

  function renderItem(it) {
    if (it.dir === "sys") {
      const per = it.reason === "rate_limit_hour" ? "每人每小时最多 1000 条" : "每人每分钟最多 30 条";
      return sysLine(`企业微信限频丢弃了一条${MSG_LABELS[it.msgtype] || ""}消息（${per}）`, null, true);
    }
    return it.dir === "out" ? renderOut(it) : renderIn(it);
  }

  function scrollToEnd() { const box = $("messages"); box.scrollTop = box.scrollHeight; }

  function renderTimeline(items) {
    const box = $("messages");
    const near = st.stick || st.atBottom;
    let appended = false;
    if (!items.length && !box.children.length) {
      box.append(h("div", { class: "empty" }, h("div", { class: "empty-title" }, "还没有消息"),
        h("div", { class: "empty-text" }, "试试发送定位、门店照片，或输入“帮助”。")));
      return;
    }
    if (items.length) box.querySelector(".empty")?.remove();
    for (const it of items) {
      const sig = JSON.stringify(it);
      const prev = st.rendered.get(it.id);
      if (prev && prev.sig === sig) continue;
      const el = renderItem(it);
      if (prev) prev.el.replaceWith(el);
      else {
        if (st.lastTs === null || it.ts - st.lastTs > GAP_SECONDS) box.append(h("div", { class: "time-sep" }, it.time));
        st.lastTs = it.ts;
        box.append(el);
        appended = true;
      }
      st.rendered.set(it.id, { sig, el });
    }
    if (appended && near) scrollToEnd();
    st.stick = false;
  }

  // ---- menu and stats -------------------------------------------------------------------------
  function menuAction(b) {
    switch (b.type) {
      case "click": return () => post("/emu/send", { user: st.current, type: "menu_click", key: b.key }).then((r) => report(r)).catch((e) => toast(e.message, true));
      case "view": return () => { const u = safeUrl(b.url); if (u) window.open(u, "_blank"); };
      case "location_select": return () => openLocation("map");
      case "pic_sysphoto": case "pic_photo_or_album": case "pic_weixin": return () => $("photo-input").click();
      default: return () => toast("模拟器暂不支持该菜单类型", true);
    }
  }

  function renderMenu(menu) {
    const sig = JSON.stringify(menu || []);
    if (sig === st.menuSig) return;
    st.menuSig = sig;
    st.menuNames = {};
    const bar = $("menu-bar");
    bar.replaceChildren();
    for (const top of menu || []) {
      const item = h("div", { class: "menu-item" });
      const subs = top.sub_button || [];
      for (const s of [top, ...subs]) if (s.key) st.menuNames[s.key] = s.name;
      if (subs.length) {
        const pop = h("div", { class: "submenu", hidden: true }, subs.map((s) => h("button", { onclick: () => { pop.hidden = true; menuAction(s)(); } }, s.name)));
        item.append(h("button", { onclick: (e) => { e.stopPropagation(); document.querySelectorAll(".submenu").forEach((p) => { if (p !== pop) p.hidden = true; }); pop.hidden = !pop.hidden; } }, `≡ ${top.name}`), pop);
      } else {
        item.append(h("button", { onclick: () => menuAction(top)() }, top.name));
      }
      bar.append(item);
    }
    bar.hidden = !(menu || []).length || !st.current;
  }

  function renderStats(s) {
    if (!s) return;
    $("stats").replaceChildren(
      "接口调用 ", h("b", {}, s.calls), " · 报错 ", h("b", { class: s.errors ? "bad" : "" }, s.errors), h("br"),
      "限频丢弃 ", h("b", { class: s.dropped ? "bad" : "" }, s.dropped), " · 重复抑制 ", h("b", {}, s.duplicates));
  }

  // ---- polling --------------------------------------------------------------------------------
  function pollNow() { clearTimeout(st.pollTimer); st.pollTimer = setTimeout(poll, 0); }

  async function poll() {
    if (st.polling) { st.pollTimer = setTimeout(poll, 150); return; }
    st.polling = true;
    const user = st.current;
    try {
      const r = await fetch(`/emu/poll?user=${encodeURIComponent(user || "")}&since=${st.version}`);
      const d = await r.json();
      if (d.changed && user === st.current) {
        st.version = d.version;
        st.counts = d.counts || {};
        if (!st.seen) st.seen = { ...st.counts };
        if (user) st.seen[user] = st.counts[user] || 0;
        if (user) renderTimeline(d.items || []);
        renderMenu(d.menu);
        $("menu-bar").hidden = !(d.menu || []).length || !st.current;
        renderStats(d.stats);
        renderUsers();
      }
    } catch (_) {
      /* the emulator restarted or the network hiccuped: try again next tick */
    } finally {
      st.polling = false;
      clearTimeout(st.pollTimer);
      st.pollTimer = setTimeout(poll, POLL_MS);
    }
  }

  // ---- composer -------------------------------------------------------------------------------
  async function sendText() {
    const input = $("input");
    const content = input.value.trim();
    if (!content || !st.current) return;
    input.value = "";
    st.stick = true;
    try {
      report(await post("/emu/send", { user: st.current, type: st.voice ? "voice" : "text", content }));
    } catch (e) {
      input.value = content;
      toast(e.message, true);
    }
  }

  function setVoice(on) {
    st.voice = on;
    $("btn-voice").setAttribute("aria-pressed", String(on));
    const input = $("input");
    input.classList.toggle("voice", on);
    input.placeholder = on ? "语音输入：写下要“说”的话，作为语音识别结果发送" : "输入消息，Enter 发送，Shift+Enter 换行";
    input.focus();
  }

  async function uploadPhotos(files) {
    if (!files.length || !st.current) return;
    const form = new FormData();
    form.append("user", st.current);
    for (const f of files) form.append("files", f, f.name);
    toast(`正在发送 ${files.length} 张照片…`);
    st.stick = true;
    try {
      const r = await fetch("/emu/upload", { method: "POST", body: form });
      const d = await r.json();
      if (!r.ok) throw new Error(typeof d.detail === "string" ? d.detail : "照片发送失败");
      const failed = (d.results || []).filter((x) => !x.ok);
      if (failed.length) toast(failed.map((x) => x.error).join("；"), true);
      else toast(`已发送 ${files.length} 张照片`);
    } catch (e) {
      toast(e.message, true);
    }
    pollNow();
  }

  // ---- location dialog ------------------------------------------------------------------------
  const HINTS = {
    gps: "模拟进入应用时企业微信自动上报的 GPS 定位（LOCATION 事件，带定位精度）。",
    map: "模拟成员在聊天里“+ → 位置”地图选点发送的位置消息（带地点名称，无精度）。",
  };

  function setLocMode(mode) {
    st.locMode = mode;
    document.querySelectorAll("#loc-modal .segmented button").forEach((b) => b.classList.toggle("active", b.dataset.mode === mode));
    document.querySelectorAll("#loc-modal [data-for]").forEach((el) => { el.hidden = el.dataset.for !== mode; });
    $("loc-hint").textContent = HINTS[mode];
  }

  function applyPlace() {
    const idx = $("loc-place").value;
    if (idx === "") return;
    const p = st.config.places[Number(idx)];
    $("loc-lat").value = p.lat;
    $("loc-lng").value = p.lng;
    $("loc-label").value = p.label;
  }

  function openLocation(mode) {
    if (!st.current) return;
    setLocMode(mode || st.locMode);
    $("loc-modal").hidden = false;
    $("loc-place").focus();
  }
  const closeLocation = () => { $("loc-modal").hidden = true; };

  async function sendLocation() {
    const lat0 = parseFloat($("loc-lat").value), lng = parseFloat($("loc-lng").value);
    const offset = parseFloat($("loc-offset").value) || 0;
    if (!Number.isFinite(lat0) || !Number.isFinite(lng) || Math.abs(lat0) > 90 || Math.abs(lng) > 180) {
      toast("请填写有效的经纬度", true);
      return;
    }
    const lat = Math.round((lat0 + offset / 111320) * 1e6) / 1e6;
    const body = st.locMode === "gps"
      ? { user: st.current, type: "location_report", lat, lng, precision: parseFloat($("loc-precision").value) || 30 }
      : { user: st.current, type: "location", lat, lng, label: $("loc-label").value.trim(), scale: parseInt($("loc-scale").value, 10) || 15 };
    closeLocation();
    st.stick = true;
    try { report(await post("/emu/send", body)); } catch (e) { toast(e.message, true); }
  }

  // ---- boot -----------------------------------------------------------------------------------
  async function boot() {
    st.config = await (await fetch("/emu/config")).json();
    for (const g of st.config.groups) for (const u of g.users) st.users.set(u.userid, u);
    $("corp-line").textContent = `企业 ${st.config.corp_id} · 应用 ${st.config.agent_id}`;
    const sel = $("loc-place");
    sel.append(h("option", { value: "" }, st.config.places.length ? "自定义坐标" : "（无预设地点）自定义坐标"));
    st.config.places.forEach((p, i) => sel.append(h("option", { value: String(i) }, p.label)));
    renderUsers();

    $("search").addEventListener("input", renderUsers);
    $("messages").addEventListener("scroll", () => {
      const box = $("messages");
      st.atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 120;
    });
    $("btn-send").addEventListener("click", sendText);
    $("input").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendText(); }
    });
    $("btn-voice").addEventListener("click", () => setVoice(!st.voice));
    $("btn-photo").addEventListener("click", () => $("photo-input").click());
    $("photo-input").addEventListener("change", (e) => { uploadPhotos([...e.target.files]); e.target.value = ""; });
    $("btn-location").addEventListener("click", () => openLocation());
    $("btn-enter").addEventListener("click", () => post("/emu/send", { user: st.current, type: "enter_agent" }).then((r) => report(r)).catch((e) => toast(e.message, true)));
    $("btn-contact").addEventListener("click", () => {
      const name = (window.prompt("微信客户的昵称（如 王强）") || "").trim();
      if (!name) return;
      const remark = (window.prompt("备注（如 华力 王总，可留空）") || "").trim();
      const mobile = (window.prompt("备注手机号（可留空）") || "").trim();
      post("/emu/external_contact", { user: st.current, name, remark, mobile }).then((r) => report(r)).catch((e) => toast(e.message, true));
    });
    $("btn-scan").addEventListener("click", () => post("/emu/qr/scan", { user: st.current }).then((r) => (r.ok ? toast("已扫码确认，电脑浏览器将登录") : toast(r.error, true))).catch((e) => toast(e.message, true)));
    // a link in the chat opens as the current member, as in the WeCom app (the assistant's pages sign in with it)
    $("messages").addEventListener("click", (e) => {
      const a = e.target.closest && e.target.closest("a[href]");
      if (!a || !st.current || !/^https?:\/\//.test(a.href) || a.href.startsWith(window.location.origin + "/emu/")) return;
      e.preventDefault();
      window.open(`/emu/as?${new URLSearchParams({ user: st.current, next: a.href })}`, "_blank", "noopener");
    });
    $("loc-place").addEventListener("change", applyPlace);
    $("loc-send").addEventListener("click", sendLocation);
    document.querySelectorAll("#loc-modal .segmented button").forEach((b) => b.addEventListener("click", () => setLocMode(b.dataset.mode)));
    document.querySelectorAll("#loc-modal [data-close]").forEach((b) => b.addEventListener("click", closeLocation));
    $("loc-modal").addEventListener("click", (e) => { if (e.target === $("loc-modal")) closeLocation(); });
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeLocation(); });
    document.addEventListener("click", () => document.querySelectorAll(".submenu").forEach((p) => { p.hidden = true; }));
    setLocMode("gps");
    const wanted = new URLSearchParams(window.location.search).get("user");  // deep link: /?user=rep001
    if (wanted && st.users.has(wanted)) select(wanted);
    poll();
  }

  boot().catch(() => toast("模拟器加载失败，请刷新页面", true));
})();
