// xinfang officers' page: the 预警 (early warning) tab — possible group petitions
// (clusters of similar petitions) and unusual rises (spikes) of the signed-in officer's
// part of the group, with links to the cases they may see. Plain JavaScript; every text
// from the server is set with textContent. ledger.js builds the tab and says when it is
// opened ("xf:warnings").
"use strict";

(() => {
  let xf = null;
  const L = (key) => xf.label(`ledger_${key}`);
  const el = (...args) => xf.el(...args);

  document.addEventListener("xf:ready", (event) => {
    xf = event.detail;
  });
  if (window.xfReady) xf = window.xfReady; // this script may run after app.js is ready
  document.addEventListener("xf:warnings", (event) => {
    load(event.detail.pane);
  });

  async function load(pane) {
    const reload = el("button", { type: "button", class: "reload", text: L("warn_reload") });
    reload.addEventListener("click", () => load(pane));
    const heading = el("h2", { id: "warnings-heading", text: L("warn_heading") });
    pane.setAttribute("aria-busy", "true");
    const result = await xf.api(`/api/officer/warnings?locale=${encodeURIComponent(xf.state.locale)}`);
    pane.removeAttribute("aria-busy");
    if (result.status === 401) return location.reload();
    if (!result.ok) {
      const message = result.data.message || xf.label(`error_${result.data.error || "generic"}`);
      pane.replaceChildren(heading, el("p", { class: "status", role: "status", text: message }), reload);
      return;
    }
    const { clusters, spikes } = result.data;
    const parts = [heading, reload];
    if (!clusters.length && !spikes.length) parts.push(el("p", { class: "note", text: L("warn_none") }));
    if (clusters.length) parts.push(el("h3", { text: L("warn_clusters") }), clusterTable(clusters));
    if (spikes.length) parts.push(el("h3", { text: L("warn_spikes") }), spikeTable(spikes));
    pane.replaceChildren(...parts);
  }

  function table(headers, rows) {
    const head = el("tr");
    for (const key of headers) head.append(el("th", { scope: "col", text: L(key) }));
    const body = el("tbody");
    for (const cells of rows) {
      const tr = el("tr");
      cells.forEach((cell, i) => {
        const td = el("td", { "data-label": L(headers[i]) });
        td.append(...(Array.isArray(cell) ? cell : [String(cell)]));
        tr.append(td);
      });
      body.append(tr);
    }
    return el("div", { class: "table-wrap" }, el("table", { class: "ledger-table warnings-table" }, el("thead", {}, head), body));
  }

  function caseLinks(cases) {
    const nodes = [];
    cases.forEach((item, i) => {
      if (i) nodes.push(" ");
      nodes.push(el("a", { href: `#case-${item.id}`, text: item.number }));
    });
    return nodes;
  }

  function clusterTable(clusters) {
    const status = el("p", { class: "status", role: "status" });
    const wrap = table(
      ["warn_unit", "warn_count", "warn_matter", "warn_trend", "warn_cases", "warn_updated", "warn_link"],
      clusters.map((c) => [c.unit, c.count, c.matter || "—", `${c.trend.join(" → ")} ${c.chart}`, caseLinks(c.cases), c.updated, linkButton(c, status)])
    );
    wrap.append(status);
    return wrap;
  }

  // 合并为集体诉求: the chat's button, posted like the case page's (POST /api/officer/send);
  // the answer (what was linked, what was not and why) shows below the table.
  function linkButton(cluster, status) {
    if (!cluster.link) return ["—"];
    const node = el("button", { type: "button", class: "link-matter", "data-payload": cluster.link, text: L("warn_link") });
    node.addEventListener("click", async () => {
      node.disabled = true;
      const result = await xf.api("/api/officer/send", { json: { button: cluster.link } });
      node.disabled = false;
      if (result.status === 401) return location.reload();
      status.textContent = result.ok
        ? (result.data.replies || []).map((r) => r.text).join("\n")
        : xf.label(`error_${result.data.error || "generic"}`);
    });
    return [node];
  }

  function spikeTable(spikes) {
    return table(
      ["warn_unit", "warn_category", "warn_week", "warn_count", "warn_baseline", "warn_trend"],
      spikes.map((s) => [s.unit, s.category, s.week, s.count, s.baseline, `${s.history.join(" → ")} ${s.chart}`])
    );
  }
})();
