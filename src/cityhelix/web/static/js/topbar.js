// The top bar's disclosures (the console's groups, the narrow screen's Menu, the user menu)
// are <details>, so they open and close without JavaScript. This adds what a menu bar is
// expected to do: one open at a time, Escape closes the innermost one and gives its summary
// the focus back, and a click or the focus going elsewhere closes them.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const bar = document.querySelector("header.topbar");
  if (!bar) return;
  const openOnes = () => Array.from(bar.querySelectorAll("details[open]"));
  // a summary hidden by the layout (the wide bar's Menu, the narrow Menu's groups) is not a
  // disclosure the user sees: Escape skips it
  const shown = (details) => details.querySelector(":scope > summary").getClientRects().length > 0;

  // `toggle` does not bubble: listen while it goes down
  bar.addEventListener(
    "toggle",
    (event) => {
      const opened = event.target;
      if (!(opened instanceof HTMLDetailsElement) || !opened.open) return;
      for (const other of openOnes()) {
        if (!other.contains(opened) && !opened.contains(other)) other.open = false;
      }
    },
    true,
  );

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const innermost = openOnes().filter(shown).pop();
    if (!innermost) return;
    innermost.open = false;
    innermost.querySelector(":scope > summary").focus();
  });

  const closeAllBut = (target) => {
    for (const details of openOnes()) {
      if (!(target instanceof Node) || !details.contains(target)) details.open = false;
    }
  };
  document.addEventListener("click", (event) => closeAllBut(event.target));
  document.addEventListener("focusin", (event) => closeAllBut(event.target));
});
