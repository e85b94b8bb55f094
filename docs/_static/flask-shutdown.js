// On a phone, tables are shown as one card per row (flask-shutdown.css).
// Label each cell with the header of its column so that a card reads on
// its own. Without this script the cards only lack those labels.
document.addEventListener("DOMContentLoaded", () => {
  for (const table of document.querySelectorAll("table.docutils")) {
    const heads = [...table.querySelectorAll("thead th")].map(
      (th) => th.textContent.trim()
    );

    if (!heads.length) continue;

    for (const row of table.querySelectorAll("tbody tr")) {
      [...row.children].forEach((cell, i) => {
        if (i > 0 && heads[i]) cell.dataset.label = heads[i];
      });
    }
  }
});
