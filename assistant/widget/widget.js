/*
 * <fibro-chat>: the patient chat widget of the fibromyalgia research assistant.
 *
 * Embed:  <script src="https://HOST/widget.js" data-title="Ask about fibromyalgia" async></script>
 *    or:  <fibro-chat data-title="..."></fibro-chat> plus the same script tag.
 * Options (data-* on the script tag or the element): data-title, data-api (the service's origin;
 * default: where this script came from), data-timeout (seconds of silence before a connection
 * counts as dead; default 40, the server pings every 15).
 *
 * A thin surface: the server retrieves, cites, hedges and triages; this file only shows what it
 * sends. Hand-written, no build step and no framework, so what is reviewed is what is shipped.
 * Safe to embed: every model or source text is inserted with textContent (never as HTML), there
 * is no eval and no inline script or style attribute, so it runs under a strict CSP
 * (script-src and connect-src naming the service's origin). Shadow DOM keeps the page's CSS out.
 */
(() => {
  "use strict";
  if (!window.customElements || window.customElements.get("fibro-chat")) return;

  const script = document.currentScript;
  const SCRIPT_ORIGIN =
    script && script.src ? new URL(script.src, location.href).origin : location.origin;
  const STORE = "fibro-chat:";
  const MAX_TURNS = 20; // the API accepts 40 turns; 10 exchanges are plenty for follow-ups
  const MAX_QUESTION = 2000;
  const MARKER = /(\[\d{1,3}\])/;
  // Phone numbers as the safety replies write them: 999, 116 123, 1-800-222-1222.
  const PHONE = /(?:^|[^\w/.-])(\d(?:-\d{3}){2}-\d{4}|\d{3}(?: \d{3})?)(?![\w/-])/g;
  const SOURCE_TYPES = {
    primary_study: "Primary study",
    review: "Review",
    guideline: "Clinical guideline",
    trial_registry: "Trial registry",
    commentary: "Commentary",
    press_release: "Press release",
    news: "News",
    patient_info: "Patient information",
  };
  const EVIDENCE = {
    animal: "evidence from animal (mouse) studies",
    human: "evidence from studies in people",
    mixed: "evidence from animal and human studies",
  };

  const CSS = `
:host{all:initial !important;display:block !important;position:static !important;
  contain:none !important;visibility:visible !important;opacity:1 !important;
  transform:none !important;filter:none !important;z-index:auto !important}
.root{all:initial;--accent:#1d5b86;--accent-dark:#143f5e;--ink:#1b1b1b;--muted:#4d4d4d;
  --line:#c9d3dc;--bg:#fff;--soft:#f1f5f8;
  font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:var(--ink);
  letter-spacing:normal;word-spacing:normal;text-transform:none;text-align:left;
  direction:ltr;-webkit-text-size-adjust:100%}
*,*::before,*::after{box-sizing:border-box}
[hidden]{display:none !important}
button,textarea{font:inherit;color:inherit;letter-spacing:inherit;margin:0}
button{cursor:pointer}
:focus-visible{outline:3px solid #f2a900;outline-offset:2px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.launcher{position:fixed;right:16px;bottom:16px;z-index:2147483646;min-height:48px;
  padding:12px 18px;border:0;border-radius:24px;background:var(--accent);color:#fff;
  font-weight:600;box-shadow:0 2px 10px rgba(0,0,0,.25)}
.launcher:hover{background:var(--accent-dark)}
.panel{position:fixed;right:16px;bottom:76px;z-index:2147483647;width:380px;
  max-width:calc(100vw - 16px);height:600px;max-height:calc(100vh - 92px);display:flex;
  flex-direction:column;background:var(--bg);border:1px solid var(--line);border-radius:12px;
  box-shadow:0 8px 30px rgba(0,0,0,.25);overflow:hidden;animation:rise .18s ease-out}
@keyframes rise{from{opacity:0;transform:translateY(12px)}to{opacity:1;transform:none}}
.head{display:flex;align-items:center;gap:8px;padding:10px 12px;background:var(--accent);color:#fff}
.head h2{flex:1;margin:0;font-size:16px;font-weight:600;line-height:1.3}
.head button{min-height:36px;min-width:36px;padding:4px 10px;border:1px solid #fff;
  border-radius:6px;background:transparent;color:#fff;font-size:13px}
.head .close{font-size:20px;line-height:1;padding:4px 8px}
.head button:hover{background:var(--accent-dark)}
.body{flex:1;overflow-y:auto;padding:10px 12px;display:flex;flex-direction:column;gap:10px}
.intro,.disclaimer{margin:0;font-size:13px;color:var(--muted)}
.crisis{border:2px solid #8c1515;border-radius:8px;background:#fdeeee;color:#5e0b0b;padding:10px 12px}
.crisis h3{margin:0 0 6px;font-size:16px}
.crisis ul{margin:0;padding:0;list-style:none;display:flex;flex-direction:column;gap:6px}
.crisis a{display:inline-block;min-height:40px;padding:8px 12px;border-radius:6px;
  background:#8c1515;color:#fff;font-weight:700;text-decoration:none}
.crisis a:hover{background:#5e0b0b}
.crisis .who{display:block;font-size:13px;margin-top:2px}
.log{display:flex;flex-direction:column;gap:10px}
.msg{max-width:92%;padding:8px 10px;border-radius:10px;overflow-wrap:anywhere}
.msg p{margin:0 0 6px;white-space:pre-line}
.msg p:last-child{margin-bottom:0}
.user{align-self:flex-end;background:var(--accent);color:#fff}
.bot{align-self:flex-start;background:var(--soft);border:1px solid var(--line)}
.bot .hedge,.bot .note{border-left:4px solid #9a6a00;background:#fff6dc;color:#3d2c00;
  padding:6px 8px;border-radius:4px;font-style:italic}
.bot .note{border-left-color:#4d4d4d;background:#f4f4f4;color:#2b2b2b}
.label{font-style:normal;font-weight:700}
.cite{display:inline-block;min-width:28px;min-height:24px;margin:0 1px;padding:0 4px;
  border:1px solid var(--accent);border-radius:4px;background:#fff;color:var(--accent);
  font-size:12px;font-weight:700;line-height:20px;vertical-align:baseline}
.cite[aria-expanded="true"]{background:var(--accent);color:#fff}
.source{margin-top:6px;padding:8px 10px;border:1px solid var(--line);border-radius:8px;background:#fff}
.source h3{margin:0 0 2px;font-size:14px}
.source .meta{margin:0 0 6px;font-size:12px;color:var(--muted)}
.source blockquote{margin:0 0 6px;padding:4px 0 4px 10px;border-left:3px solid var(--accent);font-style:normal}
.source a{color:var(--accent);font-weight:600}
.row{display:flex;flex-wrap:wrap;align-items:center;gap:8px;margin-top:6px}
.small{min-height:32px;padding:4px 10px;border:1px solid var(--accent);border-radius:6px;
  background:#fff;color:var(--accent);font-size:13px}
.small[aria-pressed="true"]{background:var(--accent);color:#fff}
.thanks{font-size:13px;color:var(--muted)}
.status{min-height:0;font-size:13px;color:var(--muted);padding:0 12px}
.status:not(:empty){padding:6px 12px}
.status.error{color:#8c1515}
.dots::after{content:"…";display:inline-block;animation:blink 1.2s steps(2) infinite}
@keyframes blink{50%{opacity:.2}}
.composer{display:flex;gap:8px;padding:10px 12px;border-top:1px solid var(--line);background:#fff}
.composer textarea{flex:1;min-width:0;min-height:44px;max-height:120px;resize:vertical;
  padding:8px 10px;border:1px solid #6b7a88;border-radius:8px;background:#fff;color:var(--ink)}
.primary{min-height:44px;padding:8px 14px;border:0;border-radius:8px;background:var(--accent);
  color:#fff;font-weight:600}
.primary:hover{background:var(--accent-dark)}
.stop{background:#8c1515}
.stop:hover{background:#5e0b0b}
@media (max-width:480px){
  .panel{left:8px;right:8px;width:auto;max-width:none;bottom:72px;height:auto;top:8px;max-height:none}
  .launcher{right:8px;bottom:8px}
}
@media (prefers-reduced-motion:reduce){
  *,*::before,*::after{animation:none !important;transition:none !important}
}`;

  /** One element with text set through textContent only (never HTML). */
  function h(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === false || value === null || value === undefined) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** Storage that never throws: blocked storage (sandboxes, privacy modes) degrades to memory. */
  function store(kind) {
    const memory = new Map();
    let backend = null;
    try {
      backend = window[kind];
      backend.setItem(STORE + "probe", "1");
      backend.removeItem(STORE + "probe");
    } catch (_) {
      backend = null;
    }
    return {
      get(key) {
        try {
          return JSON.parse((backend ? backend.getItem(STORE + key) : memory.get(key)) || "null");
        } catch (_) {
          return null;
        }
      },
      set(key, value) {
        const text = JSON.stringify(value);
        try {
          if (backend) backend.setItem(STORE + key, text);
          else memory.set(key, text);
        } catch (_) {
          memory.set(key, text);
        }
      },
      remove(key) {
        try {
          if (backend) backend.removeItem(STORE + key);
        } catch (_) {
          /* nothing stored */
        }
        memory.delete(key);
      },
    };
  }

  function randomId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** The distinct phone numbers in a text, in order of appearance. */
  function phoneNumbers(text) {
    const found = [];
    for (const match of String(text || "").matchAll(PHONE)) {
      if (!found.includes(match[1])) found.push(match[1]);
    }
    return found;
  }

  /** Split a Server-Sent Events buffer into complete events; the rest waits for more bytes. */
  function takeEvents(buffer) {
    const events = [];
    const blocks = buffer.split(/\r?\n\r?\n/);
    const rest = blocks.pop();
    for (const block of blocks) {
      let name = "message";
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (!line || line.startsWith(":")) continue; // comments are keep-alive pings
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      }
      if (data.length) events.push({ name, data: data.join("\n") });
    }
    return { events, rest };
  }

  class FibroChat extends HTMLElement {
    connectedCallback() {
      if (this.root) return;
      this.api = (this.dataset.api || SCRIPT_ORIGIN).replace(/\/+$/, "");
      this.timeoutMs = Math.max(1, Number(this.dataset.timeout) || 40) * 1000;
      this.session = store("sessionStorage");
      this.key = "conversation:" + this.api;
      const local = store("localStorage");
      this.clientId = local.get("client") || randomId();
      local.set("client", this.clientId);
      this.build();
      this.restore();
    }

    disconnectedCallback() {
      if (this.controller) this.controller.abort();
    }

    build() {
      const shadow = this.attachShadow({ mode: "open" });
      // A constructed stylesheet is not an inline <style>, so a strict style-src allows it.
      if (shadow.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
        const sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        shadow.adoptedStyleSheets = [sheet];
      } else {
        shadow.appendChild(h("style", {}, CSS));
      }
      const title = this.dataset.title || "Ask about fibromyalgia";
      this.root = h("div", { class: "root" });
      this.launcher = h(
        "button",
        { class: "launcher", type: "button", "aria-expanded": "false", "aria-controls": "panel" },
        title,
      );
      this.panel = h("section", {
        class: "panel",
        id: "panel",
        role: "dialog",
        "aria-modal": "false",
        "aria-labelledby": "title",
        hidden: true,
      });
      const head = h("div", { class: "head" });
      head.append(h("h2", { id: "title" }, title));
      this.newButton = h("button", { type: "button", class: "new" }, "New conversation");
      this.closeButton = h("button", { type: "button", class: "close", "aria-label": "Close chat" }, "×");
      head.append(this.newButton, this.closeButton);

      this.body = h("div", { class: "body" });
      this.banner = h("div", { class: "crisis", role: "alert", hidden: true });
      const intro = h(
        "p",
        { class: "intro" },
        "Answers come from published sources, each sentence with its source. General " +
          "information, not medical advice.",
      );
      this.log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
      this.body.append(this.banner, intro, this.log);

      this.status = h("div", { class: "status", role: "status" });
      this.form = h("form", { class: "composer" });
      const label = h("label", { for: "question", class: "sr" }, "Your question");
      this.input = h("textarea", {
        id: "question",
        rows: "2",
        maxlength: String(MAX_QUESTION),
        placeholder: "Type your question",
        autocomplete: "off",
      });
      this.sendButton = h("button", { type: "submit", class: "primary send" }, "Send");
      this.stopButton = h("button", { type: "button", class: "primary stop", hidden: true }, "Stop");
      this.form.append(label, this.input, this.sendButton, this.stopButton);

      this.panel.append(head, this.body, this.status, this.form);
      this.root.append(this.launcher, this.panel);
      shadow.append(this.root);

      this.launcher.addEventListener("click", () => this.toggle());
      this.closeButton.addEventListener("click", () => this.toggle(false));
      this.newButton.addEventListener("click", () => this.reset());
      this.stopButton.addEventListener("click", () => this.stop());
      this.form.addEventListener("submit", (event) => {
        event.preventDefault();
        this.submit();
      });
      this.input.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          this.submit();
        }
      });
      this.panel.addEventListener("keydown", (event) => {
        if (event.key === "Escape") {
          event.stopPropagation();
          this.toggle(false);
        }
      });
    }

    /** Open or close the panel; focus goes in on open and back to the launcher on close. */
    toggle(open) {
      const show = open === undefined ? this.panel.hidden : open;
      this.panel.hidden = !show;
      this.launcher.setAttribute("aria-expanded", String(show));
      if (show) {
        this.input.focus();
        this.scrollDown();
      } else {
        this.launcher.focus();
      }
    }

    // ---- conversation state -------------------------------------------------------------

    state() {
      const saved = this.session.get(this.key);
      if (saved && Array.isArray(saved.messages)) return saved;
      return { session_id: randomId(), messages: [] };
    }

    save(state) {
      state.messages = state.messages.slice(-MAX_TURNS);
      this.session.set(this.key, state);
    }

    /** The turns sent as `history`: completed exchanges only, newest last. */
    history() {
      return this.state()
        .messages.filter((m) => typeof m.text === "string" && m.text)
        .map((m) => ({ role: m.role, content: m.text.slice(0, 8000) }))
        .slice(-MAX_TURNS);
    }

    restore() {
      for (const message of this.state().messages) {
        if (message.role === "user") this.showUser(message.text);
        else if (message.answer) this.showAnswer(message.answer);
      }
    }

    reset() {
      this.stop(true);
      this.session.remove(this.key);
      this.log.replaceChildren();
      this.banner.replaceChildren();
      this.banner.hidden = true;
      this.setStatus("New conversation started.");
      this.input.value = "";
      this.input.focus();
    }

    // ---- asking ---------------------------------------------------------------------------

    submit() {
      const question = this.input.value.trim();
      if (!question || this.controller) return;
      this.input.value = "";
      this.ask(question);
    }

    async ask(question) {
      const history = this.history();
      this.showUser(question);
      const message = this.newAnswer();
      const controller = new AbortController();
      this.controller = controller;
      this.busy(true);
      this.setStatus("Finding sources", "dots");
      let timer = 0;
      let timedOut = false;
      const watchdog = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          timedOut = true;
          controller.abort();
        }, this.timeoutMs);
      };
      watchdog();
      let done = null;
      try {
        const response = await fetch(this.api + "/v1/answer/stream", {
          method: "POST",
          mode: "cors",
          credentials: "omit",
          headers: {
            "content-type": "application/json",
            accept: "text/event-stream",
            "x-client-id": this.clientId,
            "x-fibro-channel": "widget",
          },
          body: JSON.stringify({ question, history, session_id: this.state().session_id }),
          signal: controller.signal,
        });
        if (!response.ok) throw await this.httpError(response);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done: ended } = await reader.read();
          if (ended) break;
          watchdog();
          const parsed = takeEvents(buffer + value);
          buffer = parsed.rest;
          for (const event of parsed.events) {
            const data = JSON.parse(event.data);
            if (event.name === "error") throw new Error(data.message || "The answer failed.");
            const result = this.onEvent(message, event.name, data);
            if (result) done = result;
          }
        }
        if (!done) throw new Error("The answer was cut off.");
        this.remember(question, done);
        this.setStatus("");
      } catch (error) {
        if (controller.signal.aborted && !timedOut) {
          this.stopped(message);
        } else {
          const text = timedOut
            ? "The connection stopped responding."
            : error && error.name === "TypeError"
              ? "The assistant could not be reached."
              : String((error && error.message) || error);
          this.failed(message, text, question, error && error.retryAfter);
        }
      } finally {
        clearTimeout(timer);
        if (this.controller === controller) this.controller = null;
        this.busy(false);
      }
    }

    /** An Error for a non-2xx response, with the server's message and any Retry-After. */
    async httpError(response) {
      let text = "";
      try {
        const body = await response.json();
        text = (body && body.error && body.error.message) || "";
      } catch (_) {
        /* not JSON */
      }
      if (response.status === 403) text = "The assistant is not enabled on this site.";
      const error = new Error(text || `The assistant answered with an error (${response.status}).`);
      const wait = Number(response.headers.get("retry-after"));
      if (response.status === 429 || response.status === 503) {
        error.retryAfter = wait > 0 ? wait : 5;
        error.message = `Too many questions right now; please try again in ${error.retryAfter} s.`;
      }
      return error;
    }

    /** Render one stream event into the answer being built; the Answer when it is `done`. */
    onEvent(message, name, data) {
      if (name === "meta") {
        message.traceId = data.trace_id;
        message.route = data.route;
        if (data.route === "crisis" || data.route === "emergency") this.showBanner(data.route, [], "");
      } else if (name === "delta") {
        this.setStatus("");
        this.addSentence(message, data.text);
      } else if (name === "citations") {
        message.citations = data.citations || [];
        this.labelCitations(message);
      } else if (name === "done") {
        this.finish(message, data);
        return data;
      }
      return null;
    }

    stop(quiet) {
      if (this.controller) {
        this.controller.abort();
        this.controller = null;
      }
      if (!quiet) this.input.focus();
    }

    /** Swap Send and Stop; keep keyboard focus on whichever of them is showing. */
    busy(on) {
      const active = this.shadowRoot.activeElement;
      this.sendButton.hidden = on;
      this.stopButton.hidden = !on;
      this.input.setAttribute("aria-busy", String(on));
      if (on && active === this.sendButton) this.stopButton.focus();
      if (!on && active === this.stopButton) this.input.focus();
    }

    setStatus(text, kind) {
      this.status.className = "status" + (kind ? " " + kind : "");
      this.status.replaceChildren();
      if (text) this.status.append(h("span", {}, text));
    }

    remember(question, answer) {
      const state = this.state();
      state.messages.push({ role: "user", text: question });
      state.messages.push({ role: "assistant", text: answer.answer, answer });
      this.save(state);
    }

    // ---- rendering ------------------------------------------------------------------------

    scrollDown() {
      this.body.scrollTop = this.body.scrollHeight;
    }

    showUser(text) {
      const node = h("div", { class: "msg user" });
      node.append(h("span", { class: "sr" }, "You: "), h("p", {}, text));
      this.log.append(node);
      this.scrollDown();
    }

    newAnswer() {
      const node = h("div", { class: "msg bot" });
      node.append(h("span", { class: "sr" }, "Assistant: "));
      this.log.append(node);
      return { node, traceId: "", route: "answer", citations: [], paragraphs: [] };
    }

    /** One verified sentence (or fixed paragraph); its `[n]` markers become source buttons. */
    addSentence(message, text) {
      const p = h("p");
      for (const part of String(text).split(MARKER)) {
        const match = /^\[(\d{1,3})\]$/.exec(part);
        if (!match) {
          if (part) p.append(document.createTextNode(part));
          continue;
        }
        const n = Number(match[1]);
        const button = h(
          "button",
          { type: "button", class: "cite", "aria-expanded": "false", "aria-label": `Source ${n}` },
          `[${n}]`,
        );
        button.dataset.n = String(n);
        button.addEventListener("click", () => this.toggleSource(message, button, n));
        p.append(button);
      }
      p.dataset.cited = String(MARKER.test(text));
      p.dataset.text = text;
      message.node.append(p);
      message.paragraphs.push(p);
      this.scrollDown();
    }

    labelCitations(message) {
      for (const button of message.node.querySelectorAll(".cite")) {
        const citation = message.citations.find((c) => c.n === Number(button.dataset.n));
        if (citation) button.setAttribute("aria-label", `Source ${citation.n}: ${citation.title}`);
      }
    }

    /** Open (or close) the quoted passage behind a citation: title, type, quote and link. */
    toggleSource(message, button, n) {
      const open = message.node.querySelector(".source");
      const wasThis = open && open.dataset.n === String(n);
      if (open) this.closeSource(message, false);
      if (wasThis) return;
      const citation = message.citations.find((c) => c.n === n);
      if (!citation) return;
      const box = h("div", { class: "source", role: "group", tabindex: "-1", "aria-label": `Source ${n}` });
      box.dataset.n = String(n);
      box.append(h("h3", {}, `[${n}] ${citation.title}`));
      const kind = SOURCE_TYPES[citation.source_type] || citation.source_type || "Source";
      const evidence = EVIDENCE[citation.evidence];
      box.append(h("p", { class: "meta" }, evidence ? `${kind} · ${evidence}` : kind));
      box.append(h("blockquote", {}, `“${citation.quote}”`));
      const row = h("div", { class: "row" });
      if (/^https?:\/\//i.test(citation.url || "")) {
        const link = h("a", { href: citation.url, target: "_blank", rel: "noopener noreferrer" }, "Open the source");
        link.append(h("span", { class: "sr" }, " (opens in a new tab)"));
        row.append(link);
      }
      const close = h("button", { type: "button", class: "small" }, "Close source");
      close.addEventListener("click", () => this.closeSource(message, true));
      row.append(close);
      box.append(row);
      box.addEventListener("keydown", (event) => {
        if (event.key === "Escape") {
          event.stopPropagation();
          this.closeSource(message, true);
        }
      });
      const anchor = message.node.querySelector(".feedback") || null;
      message.node.insertBefore(box, anchor);
      button.setAttribute("aria-expanded", "true");
      box.focus();
    }

    closeSource(message, refocus) {
      const box = message.node.querySelector(".source");
      if (!box) return;
      const button = message.node.querySelector(`.cite[data-n="${box.dataset.n}"][aria-expanded="true"]`);
      box.remove();
      for (const b of message.node.querySelectorAll('.cite[aria-expanded="true"]')) {
        b.setAttribute("aria-expanded", "false");
      }
      if (refocus && button) button.focus();
    }

    /** Mark hedges and notes, add the disclaimer and the thumbs, show help lines on a crisis. */
    finish(message, answer) {
      message.traceId = answer.trace_id || message.traceId;
      message.route = answer.route || message.route;
      message.citations = answer.citations || message.citations;
      this.labelCitations(message);
      const hedges = new Set(answer.hedges || []);
      const fixed = answer.mode === "fixed";
      for (const p of message.paragraphs) {
        const text = p.dataset.text;
        if (hedges.has(text)) {
          p.className = "hedge";
          p.prepend(h("span", { class: "label" }, "Please note: "));
        } else if (!fixed && message.route === "answer" && p.dataset.cited === "false") {
          p.className = "note";
        }
      }
      if (message.route === "crisis" || message.route === "emergency") {
        this.showBanner(message.route, answer.resources || [], answer.answer);
      }
      if (answer.disclaimer) message.node.append(h("p", { class: "disclaimer" }, answer.disclaimer));
      if (message.traceId) message.node.append(this.thumbs(message.traceId));
      this.scrollDown();
    }

    /** Re-render a finished answer from sessionStorage (after a page reload). */
    showAnswer(answer) {
      const message = this.newAnswer();
      const texts = [];
      // The stream's deltas are not stored; the answer text is split back at its sentences
      // only where a hedge or fixed paragraph boundary is known, which is enough to read it.
      let rest = answer.answer || "";
      for (const hedge of answer.hedges || []) {
        const at = rest.lastIndexOf(hedge);
        if (at >= 0) rest = rest.slice(0, at) + rest.slice(at + hedge.length);
      }
      texts.push(rest.trim(), ...(answer.hedges || []));
      for (const text of texts) if (text) this.addSentence(message, text);
      message.route = answer.route;
      this.finish(message, answer);
    }

    showBanner(route, resources, text) {
      const heading = route === "emergency" ? "This may be an emergency. Call now:" : "You can talk to someone now:";
      const links = [];
      const seen = new Set();
      for (const r of resources) {
        const digits = String(r.contact || "").replace(/[^\d+]/g, "");
        if (!digits || seen.has(digits)) continue;
        seen.add(digits);
        links.push({ number: r.contact, digits, who: `${r.name} (${r.region})` });
      }
      for (const number of phoneNumbers(text)) {
        const digits = number.replace(/[^\d+]/g, "");
        if (!seen.has(digits)) {
          seen.add(digits);
          links.push({ number, digits, who: "" });
        }
      }
      this.banner.replaceChildren(h("h3", {}, heading));
      const list = h("ul");
      for (const link of links) {
        const item = h("li");
        const a = h("a", { href: `tel:${link.digits}` }, `Call ${link.number}`);
        if (link.who) a.setAttribute("aria-label", `Call ${link.number}, ${link.who}`);
        item.append(a);
        if (link.who) item.append(h("span", { class: "who" }, link.who));
        list.append(item);
      }
      if (links.length) this.banner.append(list);
      this.banner.hidden = false;
      this.body.scrollTop = 0;
    }

    stopped(message) {
      if (!message.node.isConnected) return; // "New conversation" stopped it
      message.node.append(h("p", { class: "note" }, "Stopped."));
      this.setStatus("Stopped.");
    }

    failed(message, text, question, retryAfter) {
      if (message.paragraphs.length === 0) message.node.remove();
      this.setStatus(text, "error");
      const retry = h("button", { type: "button", class: "small retry" }, "Retry");
      retry.addEventListener("click", () => {
        if (this.controller) return;
        if (message.node.isConnected) message.node.remove();
        const last = this.log.lastElementChild;
        if (last && last.classList.contains("user")) last.remove();
        this.setStatus("");
        this.ask(question);
      });
      this.status.append(document.createTextNode(" "), retry);
      if (retryAfter) {
        retry.disabled = true;
        setTimeout(() => (retry.disabled = false), retryAfter * 1000);
      }
      if (this.shadowRoot.activeElement === this.stopButton || !this.shadowRoot.activeElement) retry.focus();
    }

    /** Thumbs up and down for one answer; failures stay quiet (feedback is optional). */
    thumbs(traceId) {
      const row = h("div", { class: "row feedback", role: "group", "aria-label": "Was this answer helpful?" });
      const thanks = h("span", { class: "thanks", "aria-live": "polite" });
      // Words, not emoji: many systems (and screen readers) have no good glyph or name for them.
      const buttons = [
        ["up", "Helpful"],
        ["down", "Not helpful"],
      ].map(([rating, label]) => {
        const button = h("button", { type: "button", class: "small", "aria-pressed": "false" }, label);
        button.addEventListener("click", async () => {
          for (const b of buttons) b.setAttribute("aria-pressed", String(b === button));
          try {
            const response = await fetch(this.api + "/v1/feedback", {
              method: "POST",
              mode: "cors",
              credentials: "omit",
              headers: { "content-type": "application/json", "x-client-id": this.clientId },
              body: JSON.stringify({ trace_id: traceId, rating, channel: "widget" }),
            });
            if (!response.ok) throw new Error(String(response.status));
            thanks.textContent = "Thank you for your feedback.";
          } catch (_) {
            button.setAttribute("aria-pressed", "false");
          }
        });
        return button;
      });
      row.append(...buttons, thanks);
      return row;
    }
  }

  window.customElements.define("fibro-chat", FibroChat);

  // The one-tag embed: a <script data-title=...> with no <fibro-chat> on the page adds one.
  function mount() {
    if (document.querySelector("fibro-chat")) return;
    const chat = document.createElement("fibro-chat");
    if (script) {
      for (const key of ["title", "api", "timeout"]) {
        if (script.dataset[key]) chat.dataset[key] = script.dataset[key];
      }
    }
    document.body.appendChild(chat);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mount);
  else mount();
})();
