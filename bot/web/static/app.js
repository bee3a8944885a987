// xinfang web chat: the employee pane and the officers' pane.
// Plain JavaScript, no third-party code. Every text from the server is shown with
// textContent (never parsed as HTML), so markup typed into a petition stays text.
"use strict";

(() => {
  const state = { csrf: "", labels: {}, locale: "", local: false };
  const label = (key) => state.labels[key] || key;
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
      await this.send({ text: "/start" }, null);
    }

    async send(body, mine) {
      await this.run(async () => {
        if (mine) this.addMine(mine);
        const result = await api("/api/chat/send", { json: { ...body, locale: state.locale } });
        if (!result.ok) return this.showError(result.data.error);
        this.setStatus("");
        this.addReplies(result.data.replies);
      });
    }

    say(text) {
      return this.send({ text }, text);
    }

    press(button) {
      return this.send({ button: button.payload }, button.label);
    }

    async upload(file) {
      await this.run(async () => {
        this.addMine(`📎 ${file.name}`);
        const form = new FormData();
        form.append("locale", state.locale);
        form.append("file", file, file.name);
        const result = await api("/api/chat/upload", { form });
        if (!result.ok) return this.showError(result.data.error);
        this.setStatus("");
        this.addReplies(result.data.replies);
      });
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
      form.append(
        el("h3", { text: label("login_heading") }),
        el("label", { for: "officer-login", text: label("login_name") }),
        name,
        el("label", { for: "officer-password", text: label("password") }),
        password,
        el("button", { type: "submit", text: label("login") })
      );
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const result = await api("/api/officer/login", {
          json: { login: name.value, password: password.value },
        });
        password.value = "";
        if (!result.ok) return this.showError(result.data.error);
        this.setStatus("");
        this.open(result.data.officer);
      });
      this.root.replaceChildren(this.heading, form, this.status);
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
      const feed = await api("/api/officer/feed");
      if (feed.ok) {
        for (const message of feed.data.messages) {
          this.seen.add(message.row);
          this.addReplies(message.replies);
        }
      }
      this.listen("/api/officer/events");
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

  async function main() {
    const requested = new URLSearchParams(location.search).get("lang");
    const wanted = requested || navigator.language || "";
    const [ui, session] = await Promise.all([
      api(`/api/ui?locale=${encodeURIComponent(wanted)}`),
      api("/api/session"),
    ]);
    Object.assign(state, {
      labels: ui.data.labels || {},
      locale: ui.data.locale || "",
      local: Boolean(ui.data.local),
      csrf: session.data.csrf || "",
    });
    document.documentElement.lang = ui.data.lang || "zh-CN";
    document.title = label("title");
    for (const node of document.querySelectorAll("[data-label]")) {
      node.textContent = label(node.dataset.label);
    }
    for (const root of document.querySelectorAll("[data-pane]")) {
      const pane =
        root.dataset.pane === "admin" ? new AdminPane(root, "admin") : new EmployeePane(root, "employee");
      pane.start();
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", main);
  else main();
})();
