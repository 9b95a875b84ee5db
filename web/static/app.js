// tongdai web app: small progressive enhancements; every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Buttons that ask before a destructive action: <button data-confirm="...">.
  for (const button of document.querySelectorAll("button[data-confirm]")) {
    button.addEventListener("click", (event) => {
      if (!window.confirm(button.dataset.confirm)) event.preventDefault();
    });
  }
  // The tree picture opens on the selected node (the picture is wider than the column).
  const graph = document.querySelector(".graph[data-selected]");
  if (graph) {
    const node = document.getElementById("n_" + graph.dataset.selected);
    if (node) {
      const box = node.getBoundingClientRect();
      const frame = graph.getBoundingClientRect();
      graph.scrollLeft += box.left - frame.left - frame.width / 3;
      graph.scrollTop += box.top - frame.top - frame.height / 3;
    }
  }
});
