// xinfang web chat: the employee pane and the officers' pane.
// Plain JavaScript, no third-party code. Every text from the server is shown with
// textContent (never parsed as HTML), so markup typed into a petition stays text.
"use strict";

(() => {
  const state = { csrf: "", labels: {}, locale: "", local: false, locales: [], maxUpload: 0, maxUploadMb: 0 };
  const label = (key) => state.labels[key] || key;
  // The language switch's choice; the cookie holds the locale code and nothing else.
  const LOCALE_COOKIE = "xf_lang";
  // A tracking code as the receipt shows it (XXXX-XXXX-XXXX-XXXX, Crockford base32).
  const CODE_RE = /\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b/;
  const ACCEPT =
    "image/png,image/jpeg,image/gif,image/webp,.heic,.heif,application/pdf,text/plain," +
    ".docx,.xlsx,.pptx,.mp3,.wav,.amr,.mp4,.m4a,.mov";

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "text") node.textContent = value;
      else if (value !== null && value !== undefined) node.setAttribute(name, value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  async function api(path, { json, form } = {}) {
    const options = { method: "GET", credentials: "same-origin", headers: {} };
    if (json !== undefined || form !== undefined) {
      options.method = "POST";
      options.headers["X-CSRF-Token"] = state.csrf;
      if (json !== undefined) {
        options.headers["Content-Type"] = "application/json";
        options.body = JSON.stringify(json);
      } else {
        options.body = form;
      }
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (err) {
      return { ok: false, status: 0, data: { error: "generic" } };
    }
    let data = {};
    try {
      data = await response.json();
    } catch (err) {
      data = { error: response.ok ? "" : "generic" };
    }
    return { ok: response.ok, status: response.status, data };
  }

  function sizeText(bytes) {
    if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
    if (bytes >= 1024) return `${Math.ceil(bytes / 1024)} KB`;
    return `${bytes} B`;
  }

  // Stored evidence comes as a reference ({id, name, mime, size, inline}): the file is
  // fetched only when shown or clicked, from an endpoint that checks the officer's role.
  function evidenceLink(file) {
    const url = `/api/officer/evidence/${encodeURIComponent(String(file.id))}`;
    if (file.inline) {
      return el("img", { class: "evidence", alt: file.name, src: url, loading: "lazy" });
    }
    return el("a", {
      href: url,
      download: file.name,
      text: `${label("download")}: ${file.name} (${sizeText(Number(file.size) || 0)})`,
    });
  }

  function fileLink(file) {
    if (file.id !== undefined) return evidenceLink(file);
    if (file.inline) {
      return el("img", {
        class: "evidence",
        alt: file.name,
        src: `data:${file.mime};base64,${file.data}`,
      });
    }
    const bytes = Uint8Array.from(atob(file.data), (c) => c.charCodeAt(0));
    const url = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
    return el("a", { href: url, download: file.name, text: `${label("download")}: ${file.name}` });
  }

  class Pane {
    constructor(root, kind) {
      this.root = root;
      this.kind = kind;
      this.seen = new Set();
      this.queue = Promise.resolve();
      this.pending = 0;
      const level = document.querySelector(".banner") ? "h2" : "h1";
      this.heading = el(level, { id: `${kind}-heading`, text: label(`${kind}_heading`) });
      this.log = el("ol", { class: "log", role: "log", "aria-live": "polite" });
      this.status = el("p", { class: "status", role: "status" });
      root.replaceChildren(this.heading);
    }

    setStatus(text) {
      this.status.textContent = text || "";
    }

    showError(code) {
      this.setStatus(label(`error_${code || "generic"}`));
    }

    addMine(text) {
      const item = el("li", { class: "msg me" }, el("span", { class: "who", text: label("you") }));
      item.append(el("p", { class: "text", text }));
      this.log.append(item);
      this.scroll();
      return item;
    }

    addReplies(replies, { pushed = false } = {}) {
      for (const reply of replies || []) this.log.append(this.message(reply, pushed));
      this.scroll();
    }

    message(reply, pushed) {
      const item = el("li", { class: pushed ? "msg bot pushed" : "msg bot" });
      if (pushed) item.append(el("span", { class: "who", text: label("pushed") }));
      item.append(el("p", { class: "text", text: reply.text }));
      for (const file of reply.files || []) item.append(el("p", { class: "file" }, fileLink(file)));
      for (const row of reply.buttons || []) {
        const line = el("div", { class: "choices" });
        for (const button of row) {
          const node = el("button", {
            type: "button",
            "data-payload": button.payload,
            text: button.label,
          });
          node.addEventListener("click", () => this.press(button));
          line.append(node);
        }
        item.append(line);
      }
      this.decorate(item, reply);
      return item;
    }

    decorate() {}

    // A formal act's notice (告知书): a download link, once per notice.
    addNotices(notices) {
      this.noticesShown = this.noticesShown || new Set();
      for (const notice of notices || []) {
        if (this.noticesShown.has(notice.url)) continue;
        this.noticesShown.add(notice.url);
        const link = el("a", { class: "notice", href: notice.url, download: notice.name, text: `${label("download")}: ${notice.name}` });
        // Under the message it came with (the status of the act that issued it).
        const last = this.log.querySelector("li.msg.bot:last-child");
        if (last) last.append(el("p", { class: "file" }, link));
        else this.log.append(el("li", { class: "msg bot" }, el("p", { class: "file" }, link)));
      }
      this.scroll();
    }

    // The officers' page needs nothing more than the cookie: the server renders its feed
    // and answers in the page's language.
    async switchLanguage() {}

    scroll() {
      this.log.scrollTop = this.log.scrollHeight;
    }

    // One request at a time, in the order the person acted: a message typed while the
    // previous one is on its way waits for it instead of overtaking (or being lost).
    run(task) {
      this.pending += 1;
      this.root.setAttribute("aria-busy", "true");
      const next = this.queue.then(task).finally(() => {
        this.pending -= 1;
        if (this.pending === 0) this.root.removeAttribute("aria-busy");
      });
      this.queue = next.catch(() => undefined);
      return next;
    }

    listen(path) {
      const source = new EventSource(path);
      source.onopen = () => this.setStatus("");
      source.onerror = () => this.setStatus(label("offline"));
      source.onmessage = (event) => {
        const data = JSON.parse(event.data);
        if (this.seen.has(data.row)) return;
        this.seen.add(data.row);
        this.addReplies(data.replies, { pushed: true });
        this.addNotices(data.notices);
      };
      this.source = source;
    }

    composer(id, { attach }) {
      const form = el("form", { class: "composer" });
      const text = el("textarea", { id, name: "text", rows: "2", maxlength: "20000" });
      form.append(el("label", { for: id, class: "visually-hidden", text: label("message_label") }));
      form.append(text);
      if (attach) {
        const input = el("input", { type: "file", name: "file", accept: ACCEPT, id: `${id}-file` });
        input.addEventListener("change", () => {
          if (input.files.length) this.upload(input.files[0]).then(() => (input.value = ""));
        });
        form.append(el("label", { class: "attach" }, el("span", { text: label("attach") }), input));
      }
      form.append(el("button", { type: "submit", class: "send", text: label("send") }));
      text.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          form.requestSubmit();
        }
      });
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const value = text.value.trim();
        if (!value) return;
        text.value = "";
        this.say(value);
      });
      this.input = text;
      return form;
    }
  }

  class EmployeePane extends Pane {
    async start() {
      this.root.append(
        el("p", { class: "note", text: label("privacy") }),
        this.log,
        this.composer("employee-text", { attach: true }),
        this.status
      );
      this.listen("/api/chat/events");
      // After a reload the server says where the conversation stands (the current
      // question, or the case opened by its code); a new visitor gets the menu.
      const history = await api(`/api/chat/history?locale=${encodeURIComponent(state.locale)}`);
      if (history.ok && (history.data.replies || []).length) {
        this.addReplies(history.data.replies);
        this.addNotices(history.data.notices);
      } else await this.send({ text: "/start" }, null);
    }

    // The receipt of a submitted petition: the tracking code on its own, a copy button,
    // and a confirmation that it was saved before the chat goes on (it is never shown again).
    decorate(item, reply) {
      const found = CODE_RE.exec(reply.text || "");
      if (!found || item.classList.contains("pushed")) return;
      const code = found[0];
      const box = el("div", { class: "code-box", role: "group", "aria-label": label("code_heading") });
      const copied = el("p", { class: "code-copied", role: "status" });
      const copy = el("button", { type: "button", class: "code-copy", text: label("code_copy") });
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(code);
          copied.textContent = label("code_copied");
        } catch (err) {
          copied.textContent = label("code_copy_failed");
        }
      });
      const saved = el("button", { type: "button", class: "code-saved", text: label("code_saved") });
      saved.addEventListener("click", () => {
        this.awaitingSave = false;
        saved.disabled = true;
        this.setStatus("");
        this.input.disabled = false;
        this.input.focus();
      });
      box.append(
        el("p", { class: "code-heading", text: label("code_heading") }),
        el("output", { class: "code", text: code }),
        copy,
        copied,
        el("p", { class: "code-save-now", text: label("code_save_now") }),
        saved
      );
      item.append(box);
      this.awaitingSave = true;
      this.input.disabled = true;
      setTimeout(() => copy.focus(), 0);
    }

    // The bot's language for this chat, as the /lang command sets it.
    async switchLanguage(locale) {
      await this.queue;
      await api("/api/chat/send", { json: { button: `lang:${locale}`, locale } });
    }

    // Nothing else moves on until the employee says the code is saved.
    held() {
      if (!this.awaitingSave) return false;
      this.setStatus(label("code_confirm_first"));
      return true;
    }

    async send(body, mine) {
      if (this.held()) return;
      await this.run(async () => {
        if (mine) this.addMine(mine);
        const result = await api("/api/chat/send", { json: { ...body, locale: state.locale } });
        if (!result.ok) return this.showError(result.data.error);
        this.setStatus("");
        this.addReplies(result.data.replies);
        this.addNotices(result.data.notices);
      });
    }

    say(text) {
      return this.send({ text }, text);
    }

    press(button) {
      return this.send({ button: button.payload }, button.label);
    }

    async upload(file) {
      if (this.held()) return;
      await this.run(async () => {
        const mine = this.addMine(`📎 ${file.name}`);
        // Too big is refused here, before a single byte is sent; the server checks again.
        if (state.maxUpload && file.size > state.maxUpload) return this.rejected(mine, "too_big");
        const form = new FormData();
        form.append("locale", state.locale);
        form.append("file", file, file.name);
        const result = await api("/api/chat/upload", { form });
        if (!result.ok) return this.rejected(mine, result.data.error);
        this.setStatus("");
        this.addReplies(result.data.replies);
      });
    }

    // A refused file says so where it was shown as sent, and why, in the page's language.
    rejected(item, code) {
      const reason =
        code === "too_big"
          ? label("error_too_big_max").replace("{size}", String(state.maxUploadMb))
          : label(`error_${code || "generic"}`);
      item.classList.add("rejected");
      item.append(el("p", { class: "rejected-reason", text: label("upload_rejected").replace("{reason}", reason) }));
      this.setStatus(reason);
    }
  }

  class AdminPane extends Pane {
    async start() {
      const me = await api("/api/officer/me");
      if (me.ok && me.data.officer) return this.open(me.data.officer);
      this.showLogin();
    }

    showLogin() {
      const form = el("form", { class: "login" });
      const name = el("input", { id: "officer-login", name: "login", autocomplete: "username" });
      const password = el("input", {
        id: "officer-password",
        name: "password",
        type: "password",
        autocomplete: "current-password",
      });
      // The authenticator code: needed by officers who enrolled TOTP (custodians must).
      const code = el("input", {
        id: "officer-code",
        name: "code",
        inputmode: "numeric",
        autocomplete: "one-time-code",
        maxlength: "10",
      });
      form.append(
        el("h3", { text: label("login_heading") }),
        el("label", { for: "officer-login", text: label("login_name") }),
        name,
        el("label", { for: "officer-password", text: label("password") }),
        password,
        el("label", { for: "officer-code", text: label("totp_code") }),
        code,
        el("button", { type: "submit", text: label("login") })
      );
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const body = { login: name.value, password: password.value };
        if (code.value.trim()) body.code = code.value.trim();
        const result = await api("/api/officer/login", { json: body });
        code.value = "";
        if (result.data.error === "totp_required") {
          code.focus();
          return this.showError(result.data.error);
        }
        password.value = "";
        if (!result.ok) return this.showError(result.data.error);
        this.setStatus("");
        this.open(result.data.officer);
      });
      this.root.replaceChildren(this.heading, form, this.status);
      // The ledger (ledger.js) hides its tab while nobody is signed in.
      window.xfOfficer = null;
      document.dispatchEvent(new CustomEvent("xf:officer", { detail: null }));
    }

    async open(officer) {
      this.replyTo = null;
      const who = el("p", { class: "who-am-i" });
      who.append(`${label("signed_in_as")} ${officer.name} (${officer.role}) `);
      const logout = el("button", { type: "button", class: "logout", text: label("logout") });
      logout.addEventListener("click", async () => {
        await api("/api/officer/logout", { json: {} });
        if (this.source) this.source.close();
        this.log.replaceChildren();
        this.showLogin();
      });
      who.append(logout);
      this.target = el("p", { class: "target", hidden: "" });
      this.root.replaceChildren(
        this.heading,
        who,
        el("p", { class: "note", text: label("admin_hint") }),
        this.log,
        this.target,
        this.composer("admin-text", { attach: false }),
        this.status
      );
      if (officer.audit) this.root.insertBefore(this.auditSection(), this.status);
      const feed = await api("/api/officer/feed");
      if (feed.ok) {
        for (const message of feed.data.messages) {
          this.seen.add(message.row);
          this.addReplies(message.replies);
        }
      }
      this.listen("/api/officer/events");
      window.xfOfficer = officer;
      document.dispatchEvent(new CustomEvent("xf:officer", { detail: officer }));
    }

    // The audit trail, for custodians and discipline inspection only (the server checks
    // the role): who did what when to which case, never details.
    auditSection() {
      const section = el("details", { class: "audit" });
      section.append(el("summary", { text: label("audit_heading") }));
      const form = el("form", { class: "audit-filter" });
      const fields = {};
      for (const [key, type] of [["case", "text"], ["officer", "number"], ["from", "date"], ["to", "date"]]) {
        const id = `audit-${key}`;
        fields[key] = el("input", { id, name: key, type });
        form.append(el("label", { for: id, text: label(`audit_${key}`) }), fields[key]);
      }
      form.append(el("button", { type: "submit", text: label("audit_show") }));
      const head = el("p", { class: "audit-head" });
      const table = el("table", { class: "audit-entries" });
      const more = el("button", { type: "button", hidden: "", text: label("audit_more") });
      let last = null;
      const load = async (append) => {
        const query = new URLSearchParams();
        for (const [key, input] of Object.entries(fields)) {
          if (input.value.trim()) query.set(key, input.value.trim());
        }
        if (append && last !== null) query.set("after", String(last));
        const result = await api(`/api/officer/audit?${query}`);
        if (!result.ok) return this.showError(result.data.error);
        if (!append) {
          const header = el("tr");
          for (const key of ["time", "person", "role", "action", "case"]) {
            header.append(el("th", { scope: "col", text: label(`audit_${key}`) }));
          }
          table.replaceChildren(header);
        }
        head.textContent = result.data.head ? label("audit_head").replace("{head}", result.data.head) : "";
        for (const entry of result.data.entries) {
          const row = el("tr");
          const person = entry.officer || (entry.channel ? `${entry.role} (${entry.channel})` : entry.role);
          for (const value of [entry.at, person, entry.role, entry.action, entry.case]) {
            row.append(el("td", { text: String(value) }));
          }
          table.append(row);
          last = entry.id;
        }
        if (!append && !result.data.entries.length) {
          table.append(el("tr", {}, el("td", { colspan: "5", text: label("audit_empty") })));
        }
        if (result.data.entries.length >= 200) more.removeAttribute("hidden");
        else more.setAttribute("hidden", "");
      };
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        last = null;
        load(false);
      });
      more.addEventListener("click", () => load(true));
      section.addEventListener("toggle", () => {
        if (section.open && last === null) load(false);
      });
      section.append(form, head, table, more);
      return section;
    }

    decorate(item, reply) {
      if (reply.case_id === undefined) return;
      const answer = el("button", { type: "button", class: "reply-to", text: label("reply_to_case") });
      answer.addEventListener("click", () => this.answer(reply.case_id));
      item.append(el("div", { class: "choices reply" }, answer));
    }

    answer(caseId) {
      this.replyTo = caseId;
      const cancel = el("button", { type: "button", text: label("cancel_reply") });
      cancel.addEventListener("click", () => this.answer(null));
      this.target.replaceChildren(
        el("span", { text: label("answering").replace("{case}", String(caseId)) }),
        cancel
      );
      if (caseId === null) this.target.setAttribute("hidden", "");
      else this.target.removeAttribute("hidden");
      this.input.focus();
    }

    async send(body, mine) {
      await this.run(async () => {
        if (mine) this.addMine(mine);
        const result = await api("/api/officer/send", { json: body });
        if (result.status === 401) return this.showLogin();
        if (!result.ok) return this.showError(result.data.error);
        this.setStatus("");
        this.addReplies(result.data.replies);
      });
    }

    say(text) {
      const body = { text };
      if (this.replyTo !== null && !text.startsWith("/")) body.case_ref = this.replyTo;
      this.answer(null);
      return this.send(body, text);
    }

    press(button) {
      return this.send({ button: button.payload }, button.label);
    }
  }

  // A visible language switch on every page: it changes the page's texts and the bot's
  // (the employee conversation's language is set like the /lang command does), and is
  // remembered in a cookie holding only the locale.
  function languageSwitch(panes) {
    const nav = el("nav", { class: "lang-switch", "aria-label": label("language") });
    for (const choice of state.locales) {
      const current = choice.locale === state.locale;
      const button = el("button", {
        type: "button",
        lang: choice.lang,
        "data-locale": choice.locale,
        "aria-pressed": current ? "true" : "false",
        text: choice.name,
      });
      button.addEventListener("click", async () => {
        if (choice.locale === state.locale) return;
        const secure = location.protocol === "https:" ? "; Secure" : "";
        document.cookie = `${LOCALE_COOKIE}=${choice.locale}; Path=/; Max-Age=31536000; SameSite=Strict${secure}`;
        for (const pane of panes) await pane.switchLanguage(choice.locale);
        location.reload(); // the page's texts in the new language; the chat comes back from the server
      });
      nav.append(button);
    }
    return nav;
  }

  async function main() {
    // An explicit ?lang= wins; otherwise the server answers with the switch's choice or
    // the deployment's default language (not the browser's).
    const requested = new URLSearchParams(location.search).get("lang") || "";
    const [ui, session] = await Promise.all([
      api(`/api/ui?locale=${encodeURIComponent(requested)}`),
      api("/api/session"),
    ]);
    Object.assign(state, {
      labels: ui.data.labels || {},
      locale: ui.data.locale || "",
      local: Boolean(ui.data.local),
      locales: ui.data.locales || [],
      maxUpload: Number(ui.data.max_upload) || 0,
      maxUploadMb: Number(ui.data.max_upload_mb) || 0,
      csrf: session.data.csrf || "",
    });
    document.documentElement.lang = ui.data.lang || "zh-CN";
    document.title = label("title");
    for (const node of document.querySelectorAll("[data-label]")) {
      node.textContent = label(node.dataset.label);
    }
    // Other scripts of the page (ledger.js) share the texts, the CSRF token and helpers. A
    // script that runs after this moment finds them on window (its download may be late).
    window.xfReady = { state, api, el, label };
    document.dispatchEvent(new CustomEvent("xf:ready", { detail: window.xfReady }));
    const panes = [];
    for (const root of document.querySelectorAll("[data-pane]")) {
      panes.push(
        root.dataset.pane === "admin" ? new AdminPane(root, "admin") : new EmployeePane(root, "employee")
      );
    }
    if (state.locales.length > 1) document.body.prepend(languageSwitch(panes));
    for (const pane of panes) pane.start();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", main);
  else main();
})();
