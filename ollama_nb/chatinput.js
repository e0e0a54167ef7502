// The chat box's text area (an anywidget view): Ctrl+Enter or Shift+Enter sends, Enter makes a
// new line. It also keeps the box's history scrolled to the newest message while the reader is
// at the bottom (scrolling up to read stops that until they scroll back down), and gives each
// code block of a reply a Copy button (a cell cannot be inserted from a widget without a lab
// extension: the code goes to the clipboard, for the reader to paste into a cell).

function withHistory(el, then) {
  let tries = 0;
  const attach = () => {
    const history = el.closest(".ollama-nb-chat")?.querySelector(".ollama-nb-history");
    if (history) then(history);
    else if (tries++ < 100) requestAnimationFrame(attach); // the box lays out its children later
  };
  attach();
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // no clipboard API (an insecure origin) or no permission: the old way, through a selection
    const area = document.createElement("textarea");
    area.value = text;
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    const done = document.execCommand("copy");
    area.remove();
    return done;
  }
}

function addCopyButtons(history) {
  for (const pre of history.querySelectorAll(".ollama-nb-answer pre")) {
    const code = pre.querySelector("code");
    if (!code || pre.querySelector(":scope > .ollama-nb-copy")) continue;
    const button = document.createElement("button");
    button.className = "ollama-nb-copy";
    button.type = "button";
    button.textContent = "Copy";
    button.title = "Copy this code, to paste into a cell";
    button.addEventListener("click", async () => {
      button.textContent = (await copyText(code.textContent)) ? "Copied" : "Copy failed";
      setTimeout(() => (button.textContent = "Copy"), 1500);
    });
    pre.append(button);
  }
}

function copyButtons(el) {
  let observer = null;
  withHistory(el, (history) => {
    observer = new MutationObserver(() => addCopyButtons(history));
    observer.observe(history, { childList: true, subtree: true });
    addCopyButtons(history);
  });
  return () => observer?.disconnect();
}

function followHistory(el) {
  const observers = [];
  withHistory(el, (history) => {
    let stick = true;
    const bottom = () => {
      history.scrollTop = history.scrollHeight;
    };
    history.addEventListener("scroll", () => {
      stick = history.scrollHeight - history.scrollTop - history.clientHeight < 40;
    });
    const follow = () => {
      if (stick) bottom();
    };
    observers.push(new MutationObserver(follow), new ResizeObserver(follow));
    observers[0].observe(history, { childList: true, subtree: true, characterData: true });
    observers[1].observe(history);
    el.addEventListener("ollama-nb-sent", () => {
      stick = true;
      bottom();
    });
    bottom();
  });
  return () => observers.forEach((observer) => observer.disconnect());
}

function render({ model, el }) {
  const area = document.createElement("textarea");
  area.className = "ollama-nb-input";
  area.rows = 3;
  area.placeholder = model.get("placeholder");
  area.value = model.get("value");
  area.setAttribute("aria-label", "Message");
  const send = () => {
    model.send({ type: "send", text: area.value });
    el.dispatchEvent(new Event("ollama-nb-sent"));
  };
  area.addEventListener("input", () => {
    model.set("value", area.value);
    model.save_changes();
  });
  area.addEventListener("keydown", (event) => {
    event.stopPropagation(); // typing here is not a notebook shortcut (Shift+Enter would run the cell)
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey || event.shiftKey)) {
      event.preventDefault();
      send();
    }
  });
  const onValue = () => {
    if (area.value !== model.get("value")) area.value = model.get("value");
  };
  const onMessage = (message) => {
    if (message?.type === "sent") el.dispatchEvent(new Event("ollama-nb-sent")); // sent from Python
  };
  model.on("change:value", onValue);
  model.on("msg:custom", onMessage);
  const hint = document.createElement("div");
  hint.className = "ollama-nb-hint";
  hint.textContent = "Ctrl+Enter or Shift+Enter sends · Enter makes a new line";
  el.classList.add("ollama-nb-input-box");
  el.append(area, hint);
  const unfollow = followHistory(el);
  const uncopy = copyButtons(el);
  return () => {
    model.off("change:value", onValue);
    model.off("msg:custom", onMessage);
    unfollow();
    uncopy();
  };
}

export default { render };
