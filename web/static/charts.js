// Draws every plotly figure of the page. A figure travels as JSON in
// <script type="application/json" data-plotly-target="ID">, so the page needs no inline script
// and the Content-Security-Policy can forbid it.
"use strict";
(function () {
  function draw() {
    var blocks = document.querySelectorAll('script[type="application/json"][data-plotly-target]');
    blocks.forEach(function (block) {
      var target = document.getElementById(block.getAttribute("data-plotly-target"));
      if (!target || typeof Plotly === "undefined") {
        return;
      }
      var figure = JSON.parse(block.textContent);
      // The box reserves a default height before drawing; a figure that knows its own height
      // (the heat map, sized to its rows) gets exactly that, with no empty band under it.
      if (figure.layout && figure.layout.height) {
        target.style.minHeight = figure.layout.height + "px";
        target.style.height = figure.layout.height + "px";
      }
      Plotly.newPlot(target, figure.data || [], figure.layout || {}, {
        responsive: true,
        displaylogo: false,
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
