// Officer console: the live feed (Server-Sent Events) fills the screen-pop and the line.
"use strict";
(() => {
  const root = document.getElementById("console");
  if (!root || !window.EventSource) return;
  const $ = (id) => document.getElementById(id);
  const STATES = {
    available: "Sẵn sàng", ringing: "Đang đổ chuông", on_call: "Đang nghe máy",
    wrap_up: "Hoàn tất cuộc gọi", on_break: "Tạm nghỉ", signed_out: "Đã rời ca",
  };
  const minutes = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
  const text = (id, value) => { $(id).textContent = value || "—"; };
  const cell = (row, value) => { const td = row.insertCell(); td.textContent = value; return td; };

  function showPop(pop) {
    text("pop-caller", pop.caller);
    text("pop-waited", minutes(pop.waited_s));
    text("pop-dossier", pop.dossier_code + (pop.dossier_found === false ? " (không tìm thấy)" : ""));
    text("pop-status", pop.dossier_status);
    text("pop-check", pop.caller_check);
    text("pop-reason", pop.reason);
    text("pop-path", pop.menu_path.join(" → "));
    const said = $("pop-said");
    said.replaceChildren(...pop.said.map((line) => {
      const li = document.createElement("li");
      li.textContent = line;
      return li;
    }));
    if (!pop.said.length) said.replaceChildren(Object.assign(document.createElement("li"), { textContent: "—" }));
    $("pop-link").href = `/calls/${encodeURIComponent(pop.call_id)}`;
    const box = $("screen-pop");
    box.dataset.callId = pop.call_id;
    box.hidden = false;
    box.scrollIntoView({ block: "start" });
  }

  let received = 0;
  const waits = [];
  function showLine(data) {
    const own = $("own-state");
    own.dataset.state = data.state;
    own.textContent = STATES[data.state] || data.state;
    const body = $("line-rows");
    body.replaceChildren();
    waits.length = 0;
    received = Date.now();
    for (const r of data.line) {
      const row = body.insertRow();
      cell(row, String(r.place));
      cell(row, r.caller);
      cell(row, r.kind === "callback" ? "Gọi lại" : "Đang chờ");
      waits.push([cell(row, minutes(r.waited_s)), r.waited_s]);
    }
    if (!data.line.length) cell(body.insertRow(), "Không có ai đang chờ.").colSpan = 4;
    $("officer-states").replaceChildren(...data.officers.map((o) => {
      const li = document.createElement("li");
      li.textContent = `${o.extension}: ${o.label}`;
      return li;
    }));
  }
  // Waits tick in the browser; the server sends the line again only when it changes.
  setInterval(() => {
    const extra = (Date.now() - received) / 1000;
    for (const [td, base] of waits) td.textContent = minutes(base + extra);
  }, 1000);

  const feed = new EventSource(root.dataset.feed);
  feed.addEventListener("hello", () => {
    root.dataset.live = "on";
    text("live-status", "Đang nhận cuộc gọi trực tiếp.");
  });
  feed.addEventListener("screen-pop", (event) => showPop(JSON.parse(event.data)));
  feed.addEventListener("queue", (event) => showLine(JSON.parse(event.data)));
  // "Call back now": each step of the officer's calls (ringing you, calling, connected, outcome)
  feed.addEventListener("callback-call", (event) => {
    const call = JSON.parse(event.data);
    const status = $("callnow-status");
    status.dataset.state = call.state;
    status.textContent = call.label;
    const row = document.querySelector(`[data-call-now="${call.id}"] .callnow-label`);
    if (row) row.textContent = call.label;
  });
  feed.onerror = () => {
    root.dataset.live = "off";
    text("live-status", "Mất kết nối, đang thử lại…");
  };
  $("pop-close").addEventListener("click", () => { $("screen-pop").hidden = true; });
})();
