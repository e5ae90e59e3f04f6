// The component's own document (ui/scroll.py): an empty, same-origin iframe of height 0 that
// speaks Streamlit's v1 component protocol by hand (no build step, no library) and hands each
// render's arguments to follow.js, which it loads once into the app's page. It reads and
// writes no message text.
(function () {
  "use strict";
  var page = window.parent;
  if (page === window) return; // opened on its own: nothing to keep in view
  var frame = window.frameElement;
  if (frame) {
    // Nothing here for assistive technology or the keyboard (Python gives tabindex -1).
    frame.setAttribute("aria-hidden", "true");
    frame.setAttribute("tabindex", "-1");
  }

  // follow.js runs in the page itself, so that its listeners outlive this frame: Streamlit
  // may draw the component afresh at another place of the page on any run.
  function withController(then) {
    if (page.turnInView) {
      then(page.turnInView);
      return;
    }
    var doc = page.document;
    var script = doc.querySelector('script[data-turn-in-view="follow.js"]');
    if (!script) {
      script = doc.createElement("script");
      script.src = new URL("follow.js", document.baseURI).href;
      script.setAttribute("data-turn-in-view", "follow.js");
      doc.head.appendChild(script);
    }
    script.addEventListener("load", function () {
      if (page.turnInView) then(page.turnInView);
    });
  }

  // The messages' Copy buttons: loaded once into the page beside follow.js.
  function loadOnce(name) {
    var doc = page.document;
    if (doc.querySelector('script[data-turn-in-view="' + name + '"]')) return;
    var script = doc.createElement("script");
    script.src = new URL(name, document.baseURI).href;
    script.setAttribute("data-turn-in-view", name);
    doc.head.appendChild(script);
  }
  loadOnce("copy.js");

  window.addEventListener("message", function (event) {
    if (event.source !== page || event.origin !== window.location.origin) return;
    var data = event.data;
    if (!data || data.type !== "streamlit:render") return;
    var args = data.args || {};
    var turn = typeof args.turn === "string" ? args.turn : null;
    var chat = typeof args.chat === "string" ? args.chat : null;
    var follows = args.follows !== false;
    withController(function (controller) {
      controller.render(frame, turn, chat, follows);
    });
  });
  page.postMessage(
    { isStreamlitMessage: true, type: "streamlit:componentReady", apiVersion: 1 },
    window.location.origin
  );
})();
