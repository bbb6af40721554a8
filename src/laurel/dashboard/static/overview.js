// Draws the trend chart from the JSON the numbers fragment carries, and redraws it after each
// htmx poll swaps the fragment (no page reload).
(function () {
  var chart = null;
  function draw() {
    var node = document.getElementById("series");
    var canvas = document.getElementById("trend");
    if (!node || !canvas || !window.Chart) return;
    var data = JSON.parse(node.textContent);
    var datasets = [
      { label: "Completions", data: data.completions },
      { label: "Rewards", data: data.rewards }
    ];
    if (chart) {
      chart.data.labels = data.labels;
      chart.data.datasets[0].data = data.completions;
      chart.data.datasets[1].data = data.rewards;
      chart.update("none");
      return;
    }
    chart = new Chart(canvas, { type: "line", data: { labels: data.labels, datasets: datasets },
      options: { animation: false, scales: { y: { beginAtZero: true } } } });
    canvas.dataset.ready = "1";
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.body.addEventListener("htmx:afterSwap", function (e) {
    if (e.target && e.target.id === "numbers") draw();
  });
})();
