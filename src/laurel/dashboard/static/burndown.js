// Draws each budget's burn-down (reserved and spent, stacked, against the limit) from the JSON
// the page carries next to its canvas. Amounts are in major units for the axis only.
(function () {
  function draw(canvas) {
    var node = document.getElementById(canvas.id + "-data");
    if (!node || !window.Chart) return;
    var data = JSON.parse(node.textContent);
    new Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          { label: "Spent (" + data.currency + ")", data: data.spent, fill: true, stack: "used" },
          { label: "Reserved (" + data.currency + ")", data: data.reserved, fill: "-1", stack: "used" },
          { label: "Limit", data: data.labels.map(function () { return data.limit; }), stack: "limit", borderDash: [6, 4], pointRadius: 0 }
        ]
      },
      options: { animation: false, scales: { y: { beginAtZero: true, stacked: true } } }
    });
    canvas.dataset.ready = "1";
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("canvas.burn-down").forEach(draw);
  });
})();
