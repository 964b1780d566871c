// Every page: the language menu submits itself on change (its button stays for keyboards
// and for browsers without JavaScript), and <time> elements show the user's local time.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
  localiseTimes(document);
  document.body.addEventListener("htmx:afterSwap", (event) => localiseTimes(event.target));
});

function localiseTimes(root) {
  const lang = document.documentElement.lang || "en";
  const format = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "medium" });
  for (const element of root.querySelectorAll("time[datetime]")) {
    const value = element.getAttribute("datetime");
    if (!value) continue;
    const moment = new Date(value.split("/").pop());
    if (!Number.isNaN(moment.getTime())) element.textContent = format.format(moment);
  }
}
window.cityhelixLocaliseTimes = localiseTimes;
