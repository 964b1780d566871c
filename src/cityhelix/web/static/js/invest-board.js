// The pipeline board: drag a lead card onto a later stage's column to move it. The move is
// the same POST as the card's own form (which stays for keyboards and for no JavaScript).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const board = document.getElementById("board");
  if (!board) return;
  const status = document.getElementById("board-status");
  let dragged = null;
  for (const card of board.querySelectorAll(".lead-card[draggable]")) {
    card.addEventListener("dragstart", (event) => {
      dragged = card;
      event.dataTransfer.setData("text/plain", card.dataset.lead);
      event.dataTransfer.effectAllowed = "move";
    });
    card.addEventListener("dragend", () => {
      dragged = null;
      for (const column of board.querySelectorAll(".drop-target")) column.classList.remove("drop-target");
    });
  }
  for (const column of board.querySelectorAll(".board-column")) {
    column.addEventListener("dragover", (event) => {
      if (!dragged || dragged.dataset.stage === column.dataset.stage) return;
      event.preventDefault();
      column.classList.add("drop-target");
    });
    column.addEventListener("dragleave", () => column.classList.remove("drop-target"));
    column.addEventListener("drop", async (event) => {
      event.preventDefault();
      column.classList.remove("drop-target");
      if (!dragged) return;
      const card = dragged;
      const form = card.querySelector("form.move-form");
      if (!form) return;
      const body = new FormData(form);
      body.set("stage", column.dataset.stage);
      status.textContent = status.dataset.moving;
      try {
        const response = await fetch(form.action, {
          method: "POST",
          body,
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        const type = response.headers.get("content-type") || "";
        const answer = type.includes("json") ? await response.json() : { detail: await response.text() };
        if (response.ok) {
          window.location.assign(`/invest/staff/pipeline?moved=${answer.id}`);
        } else {
          status.textContent = `${status.dataset.failed} ${answer.field || ""} ${answer.detail}`;
        }
      } catch (error) {
        status.textContent = `${status.dataset.failed} ${error}`;
      }
    });
  }
});
