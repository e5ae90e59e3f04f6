// A Copy button on every chat message (ui/scroll.py loads it with follow.js, into the app's
// page, from the app's own origin). It copies the message's own text as the page shows it
// (its first markdown block: not the time or the "interrupted" line under it) to the clipboard,
// and nothing else: no text is ever put into the page's HTML, only read from it.
(function () {
  "use strict";
  if (window.copyMessages) return;
  window.copyMessages = true;

  var MESSAGE = '[data-testid="stChatMessage"]';
  var TEXT = '[data-testid="stChatMessageContent"] [data-testid="stMarkdownContainer"]';
  var DONE_MS = 1500;

  var STYLE =
    ".copy-message{position:absolute;top:.35rem;right:.35rem;z-index:1;display:inline-flex;" +
    "align-items:center;min-height:1.75rem;padding:0 .5rem;border-radius:.4rem;cursor:pointer;" +
    "font:inherit;font-size:.8rem;color:rgb(75,78,89);background:transparent;" +
    "border:1px solid transparent}" +
    ".copy-message:hover{border-color:rgba(49,51,63,.35)}" +
    ".copy-message:focus{outline:none}" +
    ".copy-message:focus-visible{outline:2px solid rgb(49,51,63);outline-offset:2px}" +
    // Room on the right for the button, so that it never lies over the text (on a phone
    // the text reaches the button's corner).
    "[data-testid=stChatMessage]{position:relative;padding-right:4rem}";

  function textOf(message) {
    var block = message.querySelector(TEXT);
    return block ? block.innerText.trim() : "";
  }

  function copyText(text, button) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Served over plain http on a school's network: the older way still copies.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var copied = document.execCommand("copy");
    area.remove();
    button.focus({ preventScroll: true }); // selecting the text took the keyboard's place
    return copied ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  // The label is what a screen reader reads on the focused button: it changes with the text.
  function say(button, label) {
    button.textContent = label;
    button.setAttribute("aria-label", label === "Copy" ? "Copy message" : label);
    clearTimeout(button.copyTimer);
    button.copyTimer = setTimeout(function () {
      say(button, "Copy");
    }, DONE_MS);
  }

  function addButton(message) {
    if (message.querySelector(":scope > .copy-message")) return;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy-message";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy message");
    button.addEventListener("click", function () {
      copyText(textOf(message), button).then(
        function () {
          say(button, "Copied");
        },
        function () {
          say(button, "Not copied");
        }
      );
    });
    message.appendChild(button);
  }

  function addButtons() {
    var messages = document.querySelectorAll(MESSAGE);
    for (var i = 0; i < messages.length; i++) addButton(messages[i]);
  }

  // Before Safari 16.4 no constructed sheets: a <style> element (inline styles are allowed).
  if ("adoptedStyleSheets" in document && window.CSSStyleSheet) {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLE);
    document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
  } else {
    var element = document.createElement("style");
    element.textContent = STYLE;
    document.head.appendChild(element);
  }
  new MutationObserver(addButtons).observe(document.body, { childList: true, subtree: true });
  addButtons();
})();
