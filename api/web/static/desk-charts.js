/* Charts of the supervisors' and evaluators' pages (echarts, vendored, served from /assets).
   The numbers come from a JSON data block inside each chart's box: the CSP allows no inline
   script, and a page reads in full without this file (the same numbers are in its table). */
(function () {
  "use strict";
  var FONT = '"PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif';
  var draw = {
    coverage: function (data) {
      return {
        textStyle: { fontFamily: FONT },
        legend: { top: 0 },
        grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
        xAxis: { type: "value", minInterval: 1 },
        yAxis: { type: "category", data: data.names, inverse: true },
        series: [
          { name: "已结对薄弱村", type: "bar", stack: "weak", data: data.paired, itemStyle: { color: "#1a7f37" } },
          { name: "未结对薄弱村", type: "bar", stack: "weak", data: data.unpaired, itemStyle: { color: "#c8161d" } }
        ]
      };
    },
    dimensions: function (data) {
      return {
        textStyle: { fontFamily: FONT },
        legend: { top: 0, type: "scroll" },
        grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: data.dimensions, axisLabel: { interval: 0, rotate: 30 } },
        yAxis: { type: "value", min: 0 },
        series: data.series.map(function (s) { return { name: s.name, type: "bar", data: s.points }; })
      };
    }
  };
  function start() {
    if (typeof echarts === "undefined") { return; }
    var boxes = document.querySelectorAll("[data-chart]");
    Array.prototype.forEach.call(boxes, function (box) {
      var make = draw[box.getAttribute("data-chart")];
      var source = box.querySelector("script.chart-data");
      if (!make || !source) { return; }
      var data = JSON.parse(source.textContent);
      var chart = echarts.init(box, null, { renderer: "svg" });
      chart.setOption(make(data));
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
