// xinfang officers' page: the case ledger (台账) beside the chat, and a case page.
// Plain JavaScript, no third-party code; every text from the server is set with
// textContent. The chat's script (app.js) hands over its texts, CSRF token and helpers
// ("xf:ready") and says who signed in or out ("xf:officer").
"use strict";

(() => {
  let xf = null;
  const view = { officer: null, built: false, query: {}, sort: "deadline", cursor: {}, count: 0, limit: 0 };
  const SORTABLE = { number: "number", registered: "created", deadline: "deadline" };
  const COLUMNS = ["number", "registered", "unit", "category", "state", "owner", "deadline", "overdue", "channel", "satisfaction", "similar"];
  const STATES = [
    "registered", "accepted", "not_accepted", "transferred", "in_progress", "extended",
    "responded", "review_requested", "reviewing", "reviewed", "recheck_requested",
    "rechecking", "closed", "finalized", "withdrawn",
  ];
  const CATEGORIES = ["pay", "labor", "insurance", "safety", "restructuring", "conduct", "discipline", "suggestion", "other"];
  const L = (key) => xf.label(`ledger_${key}`);
  const el = (...args) => xf.el(...args);
  const parts = {};

  function signedIn(officer) {
    view.officer = officer;
    if (view.officer) {
      build();
      route();
    } else if (view.built) {
      parts.tabs.hidden = true;
      show("chat");
    }
  }
  document.addEventListener("xf:ready", (event) => {
    xf = event.detail;
  });
  document.addEventListener("xf:officer", (event) => signedIn(event.detail));

  window.addEventListener("hashchange", () => {
    if (view.officer) route();
  });

  function build() {
    if (view.built) {
      parts.tabs.hidden = false;
      return;
    }
    view.built = true;
    const main = document.querySelector("main.panes");
    parts.chat = document.querySelector("[data-pane=admin]");
    parts.chat.id = "tab-panel-chat";
    parts.tabs = el("nav", { class: "ledger-tabs", role: "tablist", "aria-label": L("heading") });
    for (const [name, key] of [["chat", "tab_chat"], ["ledger", "tab_ledger"], ["warnings", "tab_warnings"]]) {
      const tab = el("button", {
        type: "button",
        role: "tab",
        id: `tab-${name}`,
        "aria-controls": `tab-panel-${name}`,
        "data-tab": name,
        text: L(key),
      });
      tab.addEventListener("click", () => {
        location.hash = `#${name}`;
      });
      parts.tabs.append(tab);
    }
    parts.ledger = el("section", { class: "pane ledger", id: "tab-panel-ledger", "aria-labelledby": "ledger-heading" });
    parts.casePage = el("section", { class: "pane case-page", id: "tab-panel-case", "aria-labelledby": "case-heading" });
    // 预警 (early warning): filled by warnings.js when the tab is opened.
    parts.warnings = el("section", { class: "pane warnings", id: "tab-panel-warnings", "aria-labelledby": "warnings-heading" });
    parts.ledger.hidden = true;
    parts.casePage.hidden = true;
    parts.warnings.hidden = true;
    main.prepend(parts.tabs);
    main.append(parts.ledger, parts.casePage, parts.warnings);
    buildLedger();
  }

  function show(name) {
    parts.chat.hidden = name !== "chat";
    parts.ledger.hidden = name !== "ledger";
    parts.casePage.hidden = name !== "case";
    parts.warnings.hidden = name !== "warnings";
    for (const tab of parts.tabs.querySelectorAll("[role=tab]")) {
      const selected = tab.dataset.tab === (name === "case" ? "ledger" : name);
      tab.setAttribute("aria-selected", selected ? "true" : "false");
    }
  }

  function route() {
    const hash = location.hash;
    const found = /^#case-(\d{1,18})$/.exec(hash);
    if (found) {
      show("case");
      openCase(found[1]);
    } else if (hash === "#ledger") {
      show("ledger");
      if (!view.loaded) load({});
    } else if (hash === "#warnings") {
      show("warnings");
      document.dispatchEvent(new CustomEvent("xf:warnings", { detail: { pane: parts.warnings } }));
    } else {
      show("chat");
    }
  }

  // -- the ledger -------------------------------------------------------------------
  function field(id, labelKey, control, hint) {
    const wrap = el("div", { class: "field" });
    wrap.append(el("label", { for: id, text: L(labelKey) }), control);
    if (hint) wrap.append(hint);
    return wrap;
  }

  function select(id, name, options) {
    const node = el("select", { id, name });
    for (const [value, text] of options) node.append(el("option", { value, text }));
    return node;
  }

  function buildLedger() {
    const form = el("form", { class: "ledger-filters", role: "search", "aria-label": L("filters") });
    const hint = el("p", { class: "hint", id: "ledger-q-hint", text: L("f_q_hint") });
    const q = el("input", { id: "ledger-q", name: "q", type: "search", maxlength: "100", "aria-describedby": "ledger-q-hint" });
    const state = select("ledger-state", "state", [
      ["open", L("f_open")],
      ["all", L("f_all")],
      ...STATES.map((s) => [s, xf.label(`ledger_state_${s}`)]),
    ]);
    const category = select("ledger-category", "category", [
      ["", L("f_all")],
      ...CATEGORIES.map((c) => [c, xf.label(`ledger_category_${c}`)]),
    ]);
    const owner = select("ledger-owner", "owner", [["", L("f_all")], ["mine", L("f_mine")], ["unassigned", L("f_unassigned")]]);
    const unit = el("input", { id: "ledger-unit", name: "unit", maxlength: "100" });
    const from = el("input", { id: "ledger-from", name: "from", type: "date" });
    const to = el("input", { id: "ledger-to", name: "to", type: "date" });
    const overdue = el("input", { id: "ledger-overdue", name: "overdue", type: "checkbox", value: "1" });
    const overdueField = el("div", { class: "field check" }, overdue, el("label", { for: "ledger-overdue", text: L("f_overdue") }));
    // 四早: only the petitions marked 紧急 at submission (a danger sign).
    const urgent = el("input", { id: "ledger-urgent", name: "urgent", type: "checkbox", value: "1" });
    const urgentField = el("div", { class: "field check" }, urgent, el("label", { for: "ledger-urgent", text: L("f_urgent") }));
    form.append(
      field("ledger-q", "f_q", q, hint),
      field("ledger-state", "f_state", state),
      field("ledger-category", "f_category", category),
      field("ledger-owner", "f_owner", owner),
      field("ledger-unit", "f_unit", unit),
      field("ledger-from", "f_from", from),
      field("ledger-to", "f_to", to),
      overdueField,
      urgentField,
      el("div", { class: "actions" },
        el("button", { type: "submit", class: "primary", text: L("apply") }),
        el("button", { type: "reset", text: L("reset") }))
    );
    parts.controls = { q, state, category, owner, unit, from, to, overdue, urgent };
    unitChoices(unit);
    // Enter in any field submits the form (the browser's own behaviour for a form).
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      load({});
    });
    form.addEventListener("reset", () => setTimeout(() => load({}), 0));
    parts.count = el("p", { class: "ledger-count", role: "status", "aria-live": "polite" });
    parts.notice = el("p", { class: "ledger-notice" });
    parts.table = el("table", { class: "ledger-table" });
    parts.prev = el("button", { type: "button", class: "prev", text: L("prev") });
    parts.next = el("button", { type: "button", class: "next", text: L("next") });
    parts.prev.addEventListener("click", () => load({ before: view.cursor.prev }));
    parts.next.addEventListener("click", () => load({ after: view.cursor.next }));
    parts.xlsx = el("a", { class: "button export-xlsx", text: L("export_xlsx") });
    parts.csv = el("a", { class: "button export-csv", text: L("export_csv") });
    for (const link of [parts.xlsx, parts.csv]) {
      link.addEventListener("click", (event) => {
        if (view.count > view.limit) {
          event.preventDefault();
          parts.notice.textContent = L("export_too_many").replace("{count}", String(view.count)).replace("{limit}", String(view.limit));
        }
      });
    }
    parts.status = el("p", { class: "status", role: "status" });
    parts.ledger.append(
      el("h2", { id: "ledger-heading", text: L("heading") }),
      form,
      parts.count,
      parts.notice,
      el("div", { class: "table-wrap" }, parts.table),
      el("nav", { class: "pager", "aria-label": L("heading") }, parts.prev, parts.next),
      el("div", { class: "exports" }, parts.xlsx, parts.csv),
      parts.status
    );
  }

  function filters() {
    const c = parts.controls;
    const query = {};
    for (const key of ["q", "state", "category", "unit", "from", "to"]) {
      if (c[key].value.trim()) query[key] = c[key].value.trim();
    }
    if (c.owner.value) query[c.owner.value] = "1";
    if (c.overdue.checked) query.overdue = "1";
    if (c.urgent.checked) query.urgent = "1";
    query.sort = view.sort;
    return query;
  }

  // With a unit tree, the unit filter is a list of the officer's units (a unit means its
  // whole subtree); without one it stays a text field.
  async function unitChoices(input) {
    const result = await xf.api("/api/officer/units");
    if (!result.ok || !result.data.units.length) return;
    const options = [["", L("f_all")]];
    for (const u of result.data.units) {
      options.push([u.code, `${"\u3000".repeat(u.depth)}${u.name}`]);
    }
    const choice = select("ledger-unit", "unit", options);
    input.replaceWith(choice);
    parts.controls.unit = choice;
  }

  async function load(cursor) {
    view.loaded = true;
    view.query = filters();
    const params = new URLSearchParams({ ...view.query, ...cleaned(cursor), locale: xf.state.locale });
    parts.ledger.setAttribute("aria-busy", "true");
    const result = await xf.api(`/api/officer/cases?${params}`);
    parts.ledger.removeAttribute("aria-busy");
    if (result.status === 401) return location.reload();
    if (!result.ok) {
      parts.status.textContent = xf.label(`error_${result.data.error || "generic"}`);
      return;
    }
    parts.status.textContent = "";
    const data = result.data;
    view.cursor = { next: data.next, prev: data.prev };
    view.count = data.count;
    view.limit = data.export_limit;
    // The server's words: an exact count, or "more than 10,000" past its cap.
    parts.count.textContent = data.count_text || L("count").replace("{count}", String(data.count));
    parts.notice.textContent = data.notice || "";
    renderTable(data.rows);
    parts.prev.disabled = !data.prev;
    parts.next.disabled = !data.next;
    const exportQuery = new URLSearchParams({ ...view.query, locale: xf.state.locale });
    parts.xlsx.href = `/api/officer/cases.xlsx?${exportQuery}`;
    parts.csv.href = `/api/officer/cases.csv?${exportQuery}`;
  }

  // 四早: the similar cases the officer may see — a count, then links (the first three in
  // the table, all of them on the case page).
  function similarLinks(similar, all) {
    const list = similar || [];
    if (!list.length) return [all ? "—" : ""];
    const shown = all ? list : list.slice(0, 3);
    const nodes = [`${list.length}: `];
    shown.forEach((item, i) => {
      if (i) nodes.push(" ");
      nodes.push(el("a", { href: `#case-${item.id}`, class: "similar", text: item.number }));
    });
    if (shown.length < list.length) nodes.push(" …");
    return nodes;
  }

  function cleaned(object) {
    const out = {};
    for (const [key, value] of Object.entries(object)) if (value) out[key] = value;
    return out;
  }

  function renderTable(rows) {
    const head = el("tr");
    for (const key of COLUMNS) {
      const th = el("th", { scope: "col" });
      const sort = SORTABLE[key];
      if (sort) {
        const current = view.sort.replace(/^-/, "") === sort;
        const descending = view.sort.startsWith("-");
        th.setAttribute("aria-sort", current ? (descending ? "descending" : "ascending") : "none");
        const button = el("button", { type: "button", class: "sort", "data-sort": sort, title: L("sort_by") });
        button.append(L(`col_${key}`), el("span", { class: "arrow", "aria-hidden": "true", text: current ? (descending ? " ▼" : " ▲") : "" }));
        button.addEventListener("click", () => {
          // Ascending first, then descending: decided from the sort in force now.
          view.sort = view.sort === sort ? `-${sort}` : sort;
          load({}).then(() => parts.table.querySelector(`[data-sort=${sort}]`).focus());
        });
        th.append(button);
      } else {
        th.textContent = L(`col_${key}`);
      }
      head.append(th);
    }
    const body = el("tbody");
    for (const row of rows) {
      const tr = el("tr", { "data-case": String(row.id) });
      if (row.overdue) tr.classList.add("overdue");
      for (const key of COLUMNS) {
        const td = el("td", { "data-label": L(`col_${key}`) });
        if (key === "number") {
          td.append(el("a", { href: `#case-${row.id}`, text: row.number }));
          // 紧急 and its kinds beside the number (a danger sign at submission).
          if (row.urgent_text) td.append(" ", el("strong", { class: "urgent", text: row.urgent_text }));
        }
        else if (key === "similar") td.append(...similarLinks(row.similar));
        else if (key === "overdue") td.textContent = row.overdue_text;
        else td.textContent = row[key];
        tr.append(td);
      }
      body.append(tr);
    }
    if (!rows.length) {
      body.append(el("tr", {}, el("td", { colspan: String(COLUMNS.length), class: "empty", text: L("empty") })));
    }
    parts.table.replaceChildren(el("thead", {}, head), body);
  }

  // -- the case page ------------------------------------------------------------------
  async function openCase(id) {
    const page = parts.casePage;
    page.replaceChildren(el("p", { text: L("loading") }));
    const result = await xf.api(`/api/officer/cases/${encodeURIComponent(id)}?locale=${encodeURIComponent(xf.state.locale)}`);
    if (result.status === 401) return location.reload();
    const back = el("button", { type: "button", class: "back", text: L("back") });
    back.addEventListener("click", () => {
      location.hash = "#ledger";
    });
    if (!result.ok) {
      page.replaceChildren(back, el("p", { class: "status", text: L(`error_${result.data.error}`) }));
      return;
    }
    const { row, card, timeline, acts, notices } = result.data;
    const heading = el("h2", { id: "case-heading", tabindex: "-1", text: L("case_heading").replace("{number}", row.number) });
    const facts = el("dl", { class: "case-facts" });
    for (const key of COLUMNS.slice(1)) {
      if (key === "similar") {
        facts.append(el("dt", { text: L(`col_${key}`) }), el("dd", {}, ...similarLinks(row.similar, true)));
        continue;
      }
      const value = key === "overdue" ? row.overdue_text : row[key];
      facts.append(el("dt", { text: L(`col_${key}`) }), el("dd", { text: value || "—" }));
    }
    const answers = el("ol", { class: "log case-log", "aria-live": "polite" });
    const actions = el("section", { class: "case-actions", "aria-labelledby": "case-actions-heading" });
    actions.append(
      el("h3", { id: "case-actions-heading", text: L("case_actions") }),
      el("p", { class: "note", text: L("case_actions_hint") }),
      actForms(acts || [], row, id),
      buttons(otherButtons(card.buttons, acts || []), answers, id),
      answers,
      answerForm(answers, id)
    );
    const noticeBox = el("section", { class: "case-notices", "aria-labelledby": "case-notices-heading" });
    noticeBox.append(el("h3", { id: "case-notices-heading", text: L("notices") }));
    if (!(notices || []).length) noticeBox.append(el("p", { class: "note", text: L("notices_none") }));
    for (const notice of notices || []) {
      const url = `${notice.url}?locale=${encodeURIComponent(xf.state.locale)}`;
      noticeBox.append(el("p", { class: "file" }, el("a", { href: url, download: `${notice.number}.pdf`, "data-kind": notice.kind, text: `${xf.label("download")}: ${notice.number}.pdf` })));
    }
    const evidence = el("section", { class: "case-evidence", "aria-labelledby": "case-evidence-heading" });
    evidence.append(el("h3", { id: "case-evidence-heading", text: L("case_evidence") }));
    const files = timeline.files || [];
    if (!files.length) evidence.append(el("p", { class: "note", text: L("case_no_evidence") }));
    for (const file of files) evidence.append(el("p", { class: "file" }, evidenceLink(file)));
    const lines = el("ol", { class: "timeline" });
    for (const line of (timeline.text || "").split("\n").slice(1)) {
      if (line.trim()) lines.append(el("li", { text: line.trim() }));
    }
    const reload = el("button", { type: "button", class: "reload", text: L("case_reload") });
    reload.addEventListener("click", () => openCase(id));
    page.replaceChildren(
      el("div", { class: "case-nav" }, back, reload),
      heading,
      facts,
      el("section", { class: "case-content", "aria-labelledby": "case-content-heading" },
        el("h3", { id: "case-content-heading", text: L("case_content") }),
        el("p", { class: "text", text: card.text })),
      actions,
      noticeBox,
      evidence,
      el("section", { class: "case-timeline", "aria-labelledby": "case-timeline-heading" },
        el("h3", { id: "case-timeline-heading", text: L("case_timeline") }),
        lines)
    );
    heading.focus();
  }

  function evidenceLink(file) {
    const url = `/api/officer/evidence/${encodeURIComponent(String(file.id))}`;
    if (file.inline) return el("a", { href: url, target: "_blank", rel: "noopener" }, el("img", { class: "evidence", alt: file.name, src: url, loading: "lazy" }));
    return el("a", { href: url, download: file.name, text: `${xf.label("download")}: ${file.name}` });
  }

  // The formal acts have forms of their own (below); the card's other buttons (查看, 认领,
  // 回复职工 …) still post the chat's payloads.
  function otherButtons(rows, acts) {
    const formal = new Set(["accept", "not_accept", "transfer", "start", "extend", "respond", "start_review", "complete_review", "close"]);
    for (const act of acts) formal.add(act.action);
    return (rows || []).map((r) => r.filter((b) => !formal.has((b.payload.split(":")[1] || "")))).filter((r) => r.length);
  }

  // One form per formal act this officer may take now: choices as selects, texts as
  // textareas; 预览 shows exactly what the employee will receive, 确认 applies the act.
  function actForms(acts, row, id) {
    const box = el("div", { class: "act-forms" });
    for (const act of acts) box.append(actForm(act, row, id));
    return box;
  }

  function actForm(act, row, id) {
    const form = el("form", { class: "act-form", "data-action": act.action, novalidate: "" });
    const set = el("fieldset", {}, el("legend", { text: act.label }));
    const controls = {};
    for (const field of act.fields) {
      const fid = `act-${act.action}-${field.name}`;
      let control;
      if (field.choices) {
        control = el("select", { id: fid, name: field.name });
        control.append(el("option", { value: "", text: L("form_choose") }));
        for (const [value, text] of field.choices) {
          control.append(el("option", { value, text: field.name === "extension_days" ? `${text} ${L("form_days")}` : text }));
        }
      } else {
        control = el("textarea", { id: fid, name: field.name, rows: "3", maxlength: "20000" });
      }
      controls[field.name] = control;
      set.append(el("div", { class: "field" }, el("label", { for: fid, text: field.label }), control));
    }
    const previewButton = el("button", { type: "submit", class: "preview", text: L("form_preview") });
    const message = el("p", { class: "form-error", role: "alert" });
    const preview = el("div", { class: "act-preview", hidden: "" });
    set.append(el("div", { class: "actions" }, previewButton), message, preview);
    form.append(set);
    const body = () => {
      const fields = {};
      for (const [name, control] of Object.entries(controls)) if (control.value.trim()) fields[name] = control.value.trim();
      return { action: act.action, fields, state: row.state_code, locale: xf.state.locale };
    };
    const failed = (result) => {
      if (result.status === 401) return location.reload();
      message.textContent = result.data.message || xf.label(`error_${result.data.error || "generic"}`);
      previewButton.focus();
    };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      message.textContent = "";
      const result = await xf.api(`/api/officer/cases/${encodeURIComponent(id)}/preview`, { json: body() });
      if (!result.ok) {
        preview.hidden = true;
        return failed(result);
      }
      const confirm = el("button", { type: "button", class: "primary confirm", text: L("form_confirm") });
      const edit = el("button", { type: "button", class: "edit", text: L("form_edit") });
      const heading = el("h4", { tabindex: "-1", text: L("form_preview_heading") });
      // 集体诉求: the act applies to every member; said above what the employee reads.
      const note = result.data.note ? [el("p", { class: "note collective-note", role: "note", text: result.data.note })] : [];
      preview.replaceChildren(heading, ...note, el("pre", { class: "preview-text", text: result.data.text }), el("div", { class: "actions" }, confirm, edit));
      preview.hidden = false;
      heading.focus();
      edit.addEventListener("click", () => {
        preview.hidden = true;
        (Object.values(controls)[0] || previewButton).focus();
      });
      confirm.addEventListener("click", async () => {
        confirm.disabled = true;
        const done = await xf.api(`/api/officer/cases/${encodeURIComponent(id)}/act`, { json: body() });
        confirm.disabled = false;
        if (!done.ok) return failed(done);
        preview.replaceChildren(el("p", { class: "done", role: "status", text: done.data.text || L("form_done") }));
        // The case moved on: its facts, the next acts and the notices are read again.
        await openCase(id);
        const heading = parts.casePage.querySelector("#case-actions-heading");
        if (heading) heading.after(el("p", { class: "act-done", role: "status", text: done.data.text || L("form_done") }));
      });
    });
    return form;
  }

  // The case card's buttons post the same payloads as the chat's (POST /api/officer/send),
  // so the chat's guided forms serve this page too; their questions appear below.
  function buttons(rows, answers, id) {
    const box = el("div", { class: "choices" });
    for (const row of rows || []) {
      for (const button of row) {
        const node = el("button", { type: "button", "data-payload": button.payload, text: button.label });
        node.addEventListener("click", () => send({ button: button.payload }, answers, id, button.label));
        box.append(node);
      }
    }
    return box;
  }

  function answerForm(answers, id) {
    const form = el("form", { class: "composer" });
    const text = el("textarea", { id: "case-answer", rows: "2", maxlength: "20000" });
    form.append(
      el("label", { for: "case-answer", text: L("case_answer") }),
      text,
      el("button", { type: "submit", class: "send", text: L("case_answer") })
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = text.value.trim();
      if (!value) return;
      text.value = "";
      send({ text: value }, answers, id, value);
    });
    return form;
  }

  async function send(body, answers, id, mine) {
    answers.append(el("li", { class: "msg me" }, el("p", { class: "text", text: mine })));
    const result = await xf.api("/api/officer/send", { json: body });
    if (result.status === 401) return location.reload();
    if (!result.ok) {
      answers.append(el("li", { class: "msg bot" }, el("p", { class: "text", text: xf.label(`error_${result.data.error || "generic"}`) })));
      return;
    }
    for (const reply of result.data.replies || []) {
      const item = el("li", { class: "msg bot" }, el("p", { class: "text", text: reply.text }));
      if ((reply.buttons || []).length) item.append(buttons(reply.buttons, answers, id));
      answers.append(item);
    }
    const input = document.getElementById("case-answer");
    if (input) input.focus();
  }
  // This script may run after app.js already started and signed the officer in.
  if (window.xfReady) xf = window.xfReady;
  if (xf && window.xfOfficer) signedIn(window.xfOfficer);
})();
