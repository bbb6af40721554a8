// Draws the trend chart from the JSON the numbers fragment carries, and redraws it after each
// htmx poll swaps the fragment (no page reload). Spend is drawn for the first currency, in
// major units, on its own axis.
(function () {
  var chart = null;
  function spendOf(data) {
    var currencies = Object.keys(data.spend);
    if (!currencies.length) return { label: "Spend", values: [] };
    var c = currencies[0];
    var unit = Math.pow(10, data.exponents[c]);
    return { label: "Spend (" + c + ")", values: data.spend[c].map(function (v) { return v / unit; }) };
  }
  function draw() {
    var node = document.getElementById("series");
    var canvas = document.getElementById("trend");
    if (!node || !canvas || !window.Chart) return;
    var data = JSON.parse(node.textContent);
    var spend = spendOf(data);
    if (chart) {
      chart.data.labels = data.labels;
      chart.data.datasets[0].data = data.completions;
      chart.data.datasets[1].data = data.rewards;
      chart.data.datasets[2].data = spend.values;
      chart.data.datasets[2].label = spend.label;
      chart.update("none");
      return;
    }
    chart = new Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          { label: "Completions", data: data.completions, yAxisID: "y" },
          { label: "Rewards", data: data.rewards, yAxisID: "y" },
          { label: spend.label, data: spend.values, yAxisID: "money" }
        ]
      },
      options: {
        animation: false,
        scales: {
          y: { beginAtZero: true, position: "left" },
          money: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } }
        }
      }
    });
    canvas.dataset.ready = "1";
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.body.addEventListener("htmx:afterSwap", function (e) {
    if (e.target && e.target.id === "numbers") draw();
  });
})();
