// otpgate console: draws the overview's charts with uPlot from the data the
// page carries (#overview-data), refreshes them every 30 s from
// /console/api/overview, and sends the session's CSRF token with htmx's
// requests. No inline scripts: the page's CSP allows none.
(function () {
  "use strict";
  var palette = ["#2156d1", "#12805c", "#c4320a", "#7a5af8", "#b54708", "#0e9384", "#dd2590", "#667085"];
  window.otpgateCharts = [];

  document.addEventListener("htmx:configRequest", function (e) {
    e.detail.headers["X-CSRF-Token"] = document.body.dataset.csrf || "";
  });

  function seriesOf(data, key) {
    var cols = [data.times];
    var series = [{}];
    data.operators.forEach(function (op, i) {
      var values = op[key].map(function (v) {
        if (v === null) return null;
        return key === "delivery_rate" ? v * 100 : v;
      });
      cols.push(values);
      series.push({ label: op.name, stroke: palette[i % palette.length], width: 2, spanGaps: key !== "sends",
        points: { show: true, size: 4 }, value: function (u, v) { return v == null ? "–" : (Math.round(v * 10) / 10); } });
    });
    return { cols: cols, series: series };
  }

  function draw(data) {
    window.otpgateCharts.forEach(function (u) { u.destroy(); });
    window.otpgateCharts = [];
    document.querySelectorAll(".chart[data-series]").forEach(function (el) {
      var key = el.dataset.series;
      var s = seriesOf(data, key);
      var opts = {
        width: Math.max(el.clientWidth, 300), height: 220, series: s.series,
        tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
        fmtDate: function (tpl) { return uPlot.fmtDate(tpl.replace("{h}", "{HH}").replace("{aa}", "")); },
        axes: [{}, { size: 50 }],
        scales: { x: { time: true }, y: key === "delivery_rate" ? { range: [0, 100] } : { range: function (u, lo, hi) { return [0, Math.max(hi || 0, 1)]; } } },
        legend: { show: true }
      };
      el.textContent = "";
      var u = new uPlot(opts, s.cols, el);
      u.root.dataset.series = key;
      window.otpgateCharts.push(u);
    });
  }

  function refresh(win) {
    fetch("/console/api/overview?window=" + encodeURIComponent(win), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(draw)
      .catch(function () { /* keep the last charts; the next refresh tries again */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var holder = document.getElementById("overview-data");
    if (!holder || typeof uPlot === "undefined") return;
    var data = JSON.parse(holder.textContent);
    draw(data);
    setInterval(function () { refresh(data.window); }, 30000);
  });
})();
