// Keeps the end of the chat in view (ui/scroll.py), in the app's page itself; loaded once by
// frame.js from the app's own origin. It measures the scroll container and adds one button of
// its own; the only message text it touches is the newest answer, which it hands to a screen
// reader's status region in this same page once the answer is complete.
//
// - A new turn (the run that sends a message) scrolls to the end and follows it as the answer
//   streams in.
// - Following stops when the user scrolls up (wheel, keys, touch, scroll bar): then, and
//   whenever the view is not at the end, "Jump to latest" shows above the chat box. Clicking
//   it, or scrolling back to the end, follows again.
(function () {
  "use strict";
  if (window.turnInView) return;

  // The main area's scroll container: Streamlit's stick-to-bottom one when a chat box sits
  // at the page's foot by itself, else the main element (the chat page puts its box and Stop
  // in st.bottom together).
  var SCROLLERS = ['[data-testid="stAppScrollToBottomContainer"]', '[data-testid="stMain"]'];
  var COMPOSER = '[data-testid="stChatInput"]';
  var CHAT_BOX = '[data-testid="stChatInputTextArea"]';
  var AT_END_PX = 4; // this close to the end counts as at the end
  var INTENT_MS = 400; // after a user's move up, nothing scrolls for them
  var SHOW_AFTER_MS = 150; // a moment off the end (Streamlit's own scrolling) shows nothing
  var UP_KEYS = { PageUp: 1, ArrowUp: 1, Home: 1 };
  var NARROW = window.matchMedia("(max-width: 767.98px)"); // Streamlit's phone breakpoint

  var following = true;
  var intentAt = -Infinity; // when the user last moved up
  var offEndSince = null; // since when the view has been off the end, not following
  var lastTop = 0;
  var lastTurn = null;
  var frames = []; // the component's frames on the page: none on the app's other pages
  var scroller = null;
  var touchY = null;
  var button = null;

  var resizes = new ResizeObserver(function () {
    tick();
  });
  var mutations = new MutationObserver(function (records) {
    for (var i = 0; i < records.length; i++) {
      if (records[i].target === scroller && records[i].type === "childList") {
        watchChildren();
        break;
      }
    }
    tick();
  });

  function distanceToEnd(el) {
    return el.scrollHeight - el.clientHeight - el.scrollTop;
  }

  function toEnd(el) {
    el.scrollTop = el.scrollHeight;
    lastTop = el.scrollTop;
  }

  function userMovedUp() {
    if (!scroller || scroller.scrollTop <= 0) return; // nothing above: nothing to leave for
    following = false;
    intentAt = performance.now();
  }

  function onWheel(event) {
    if (event.deltaY < 0) userMovedUp();
  }

  function onKey(event) {
    var target = event.target;
    var editing =
      target &&
      (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName || ""));
    var up = UP_KEYS[event.key] || (event.key === " " && event.shiftKey);
    if (up && !editing && !event.altKey && !event.ctrlKey && !event.metaKey) userMovedUp();
  }

  function onTouchStart(event) {
    touchY = event.touches.length ? event.touches[0].clientY : null;
  }

  function onTouchMove(event) {
    if (touchY === null || !event.touches.length) return;
    var y = event.touches[0].clientY;
    if (y > touchY + AT_END_PX) userMovedUp(); // the finger drags the page down: it goes up
    touchY = y;
  }

  function watchChildren() {
    resizes.disconnect();
    if (!scroller) return;
    resizes.observe(scroller);
    for (var i = 0; i < scroller.children.length; i++) resizes.observe(scroller.children[i]);
  }

  // Streamlit keeps one scroll container for the main area; it is found again if React ever
  // replaces it.
  function bind() {
    var found = document.querySelector(SCROLLERS[0]) || document.querySelector(SCROLLERS[1]);
    if (found === scroller) return scroller;
    if (scroller) {
      scroller.removeEventListener("scroll", tick);
      scroller.removeEventListener("wheel", onWheel);
      scroller.removeEventListener("touchstart", onTouchStart);
      scroller.removeEventListener("touchmove", onTouchMove);
      mutations.disconnect();
    }
    scroller = found;
    if (!scroller) return null;
    scroller.addEventListener("scroll", tick, { passive: true });
    scroller.addEventListener("wheel", onWheel, { passive: true });
    scroller.addEventListener("touchstart", onTouchStart, { passive: true });
    scroller.addEventListener("touchmove", onTouchMove, { passive: true });
    mutations.observe(scroller, { childList: true, subtree: true, characterData: true });
    watchChildren();
    lastTop = scroller.scrollTop;
    return scroller;
  }

  function active() {
    frames = frames.filter(function (frame) {
      return frame.isConnected;
    });
    return frames.length > 0;
  }

  var STYLE =
    // The component's own element (ui/scroll.py's key): an empty frame takes no room.
    ".st-key-turn-in-view{display:none}" +
    ".turn-in-view-jump{position:fixed;z-index:100;display:inline-flex;align-items:center;" +
    "gap:.4rem;min-height:2.5rem;padding:.4rem 1rem;border-radius:1.25rem;cursor:pointer;" +
    "font:inherit;font-size:.9rem;line-height:1.2;transform:translateX(-50%);" +
    "color:var(--turn-in-view-fg);background:var(--turn-in-view-bg);" +
    "border:1px solid var(--turn-in-view-border);box-shadow:0 2px 8px rgba(0,0,0,.18)}" +
    ".turn-in-view-jump[hidden]{display:none}" +
    ".turn-in-view-jump:hover{background:var(--turn-in-view-hover)}" +
    ".turn-in-view-jump:focus{outline:none}" +
    ".turn-in-view-jump:focus-visible{outline:2px solid var(--turn-in-view-fg);" +
    "outline-offset:2px}" +
    // Heard, not seen: the usual visually hidden box.
    ".turn-in-view-status{position:absolute;width:1px;height:1px;margin:-1px;padding:0;" +
    "overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}";

  function addStyle() {
    // A constructed style sheet where the browser has them; before Safari 16.4, a <style>
    // element (the page's policy allows inline styles, which Streamlit itself needs).
    if ("adoptedStyleSheets" in document && window.CSSStyleSheet) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(STYLE);
      document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
      return;
    }
    var element = document.createElement("style");
    element.textContent = STYLE;
    document.head.appendChild(element);
  }

  function themed(el) {
    var app = document.querySelector(".stApp") || document.body;
    var style = getComputedStyle(app);
    var fg = style.color || "rgb(49, 51, 63)";
    el.style.setProperty("--turn-in-view-fg", fg);
    el.style.setProperty("--turn-in-view-bg", style.backgroundColor || "#fff");
    var rgb = fg.match(/\d+(\.\d+)?/g) || ["49", "51", "63"];
    var tint = "rgba(" + rgb.slice(0, 3).join(",") + ",";
    el.style.setProperty("--turn-in-view-border", tint + "0.35)");
    el.style.setProperty("--turn-in-view-hover", tint + "0.08)");
  }

  // Outside Streamlit's React tree (which would wipe a node added inside it), made again if
  // anything removes it.
  function jumpButton() {
    if (button && button.isConnected) return button;
    button = document.createElement("button");
    button.type = "button";
    button.className = "turn-in-view-jump";
    button.hidden = true;
    var arrow = document.createElement("span");
    arrow.setAttribute("aria-hidden", "true");
    arrow.textContent = "\u2193";
    button.appendChild(arrow);
    button.appendChild(document.createTextNode("Jump to latest"));
    button.addEventListener("click", jump);
    themed(button);
    document.body.appendChild(button);
    return button;
  }

  function place(el) {
    var anchor = document.querySelector(COMPOSER);
    var area = scroller.getBoundingClientRect();
    var above = anchor ? anchor.getBoundingClientRect().top : area.bottom;
    el.style.left = area.left + area.width / 2 + "px";
    el.style.bottom = Math.max(8, window.innerHeight - above + 12) + "px";
  }

  function show(visible) {
    var el = jumpButton();
    if (visible) {
      themed(el); // the theme may have changed since
      place(el);
    }
    if (el.hidden === !visible) return;
    if (!visible && el === document.activeElement) focusChatBox();
    el.hidden = !visible;
  }

  function focusChatBox() {
    var box = document.querySelector(CHAT_BOX);
    if (box && !box.disabled) box.focus({ preventScroll: true });
  }

  function follow() {
    following = true;
    intentAt = -Infinity;
    offEndSince = null;
    if (bind()) toEnd(scroller);
    show(false);
  }

  // The button goes once clicked: the chat box takes the focus, as the next thing to use.
  function jump() {
    follow();
    focusChatBox();
  }

  // A frame nobody can see (streamlit-authenticator's cookie manager is one, 0 px high)
  // must not be a stop for the keyboard: Tab would vanish into it on the way to the form.
  function quietHiddenFrames() {
    var all = document.querySelectorAll("iframe:not([tabindex='-1'])");
    for (var i = 0; i < all.length; i++) {
      var box = all[i].getBoundingClientRect();
      if (box.width === 0 || box.height === 0) all[i].setAttribute("tabindex", "-1");
    }
  }

  // Streamlit lets a page set no aria-live of its own, and an answer announced word by word
  // as it streams would be noise. So a polite status region outside Streamlit's tree says
  // "Writing an answer" while the chat box is away, and the whole answer once it is back.
  var ANSWER = '[data-testid="stChatMessageContent"][aria-label="Chat message from assistant"]';
  var ANSWER_TEXT = '[data-testid="stMarkdownContainer"]';
  var status = null;
  function announce(words) {
    if (!status || !status.isConnected) {
      status = document.createElement("div");
      status.className = "turn-in-view-status";
      status.setAttribute("role", "status");
      status.setAttribute("aria-live", "polite");
      document.body.appendChild(status);
    }
    status.textContent = words;
  }

  function newestAnswer() {
    var answers = document.querySelectorAll(ANSWER);
    if (!answers.length) return "";
    var text = answers[answers.length - 1].querySelector(ANSWER_TEXT);
    return text ? text.innerText.trim() : "";
  }

  // The chat box is disabled while an answer streams, and the browser drops the focus it had
  // to the page's body. When the box comes back, so does the focus, unless the user has put
  // it somewhere else meanwhile.
  var boxWasDisabled = false;
  function afterTheAnswer() {
    var box = document.querySelector(CHAT_BOX);
    if (!box) return;
    if (box.disabled && !boxWasDisabled) announce("Writing an answer\u2026");
    if (boxWasDisabled && !box.disabled) {
      announce(newestAnswer());
      var current = document.activeElement;
      var touch = NARROW.matches || window.matchMedia("(pointer: coarse)").matches;
      if (!touch && (!current || current === document.body)) {
        box.focus({ preventScroll: true });
      }
    }
    boxWasDisabled = box.disabled;
  }

  function tick() {
    quietHiddenFrames();
    afterTheAnswer();
    if (!bind()) {
      show(false); // a page of the app without a chat: its own kind of scroll container
      return;
    }
    if (!active()) {
      // Another page of the app (or the moment Streamlit draws the component afresh):
      // nothing to show or follow, but the position is kept track of.
      lastTop = scroller.scrollTop;
      offEndSince = null;
      show(false);
      return;
    }
    var now = performance.now();
    var top = scroller.scrollTop;
    var far = distanceToEnd(scroller) > AT_END_PX;
    if (!far) {
      if (now - intentAt > INTENT_MS) following = true; // back at the end: follow again
    } else if (top < lastTop - AT_END_PX) {
      following = false; // moved up, away from the end: the user did (growth only adds below)
      intentAt = now;
    } else if (following && now - intentAt > INTENT_MS) {
      toEnd(scroller); // the content grew under a view that follows it
      far = false;
    }
    lastTop = scroller.scrollTop;
    if (far && !following) {
      if (offEndSince === null) offEndSince = now;
    } else {
      offEndSince = null;
    }
    show(offEndSince !== null && now - offEndSince >= SHOW_AFTER_MS);
  }

  // A chat just opened (after sign-in, a pick in the sidebar, New chat): the keyboard's next
  // place is the chat box, unless the user is already typing somewhere else. Not on a touch
  // screen, where focusing a box opens the keyboard over the chat.
  var lastChat = null;
  function focusComposerOnArrival() {
    if (NARROW.matches || window.matchMedia("(pointer: coarse)").matches) return;
    var tries = 0;
    (function attempt() {
      var box = document.querySelector(CHAT_BOX);
      var current = document.activeElement;
      var elsewhere =
        current &&
        current !== document.body &&
        !current.closest('[data-testid="stSidebar"]') &&
        /^(INPUT|TEXTAREA|SELECT)$/.test(current.tagName || "");
      if (elsewhere) return;
      if (box && !box.disabled) {
        box.focus({ preventScroll: true });
        return;
      }
      if (++tries < 20) setTimeout(attempt, 100);
    })();
  }

  window.turnInView = {
    // Called by frame.js on each render of the component: `turn` is a new token in the run
    // that sends a message, else null. A page without a chat draws it with `follows` false:
    // there it only keeps invisible frames out of the keyboard's way.
    render: function (frame, turn, chat, follows) {
      quietHiddenFrames();
      if (follows === false) return;
      if (frame && frames.indexOf(frame) < 0) frames.push(frame);
      if (chat && chat !== lastChat) {
        lastChat = chat;
        focusComposerOnArrival();
      }
      if (turn && turn !== lastTurn) {
        lastTurn = turn;
        follow();
      } else {
        tick();
      }
    },
  };

  // On a phone the chats drawer lies over the conversation: once a chat is picked (or a new
  // one started) it closes, as the user's next look is at that chat. Streamlit's own button
  // closes it, so Streamlit knows it is closed.
  var PICKS = '[class*="st-key-open-"], .st-key-new-chat, .st-key-temporary-chat';
  function closeDrawerAfterAPick(event) {
    if (!NARROW.matches || !event.target.closest) return;
    var picked = event.target.closest('[data-testid="stSidebar"] button');
    if (!picked || !picked.closest(PICKS)) return;
    setTimeout(function () {
      var close = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
      if (close) close.click();
    }, 0);
  }

  addStyle();
  document.addEventListener("click", closeDrawerAfterAPick, true);
  document.addEventListener("keydown", onKey, true);
  window.addEventListener("resize", tick);
  // Streamlit may swap the scroll container or the chat box, and the delayed showing needs a
  // clock of its own.
  setInterval(tick, 100);
  tick();
})();
