// The chat box's text area (an anywidget view): Ctrl+Enter or Shift+Enter sends, Enter makes a
// new line. It also keeps the box's history scrolled to the newest message while the reader is
// at the bottom (scrolling up to read stops that until they scroll back down).

function followHistory(el) {
  let tries = 0;
  const observers = [];
  const attach = () => {
    const history = el.closest(".ollama-nb-chat")?.querySelector(".ollama-nb-history");
    if (!history) {
      if (tries++ < 100) requestAnimationFrame(attach); // the box lays out its children later
      return;
    }
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
  };
  attach();
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
  return () => {
    model.off("change:value", onValue);
    model.off("msg:custom", onMessage);
    unfollow();
  };
}

export default { render };
