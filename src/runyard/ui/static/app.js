// runyard ui: curves (uPlot), overlaid curves and parallel coordinates (plotly.js), drawn from /api/.
// No inline script anywhere: the pages' Content-Security-Policy allows scripts from this site only.
"use strict";

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"];

function pointsFor(el) {
  return Math.max(100, Math.min(2000, Math.round((el.clientWidth || 600) * 2)));
}

async function getJSON(url) {
  const response = await fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}});
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return response.json();
}

function showError(el, error) {
  const p = document.createElement("p");
  p.className = "error";
  p.textContent = String(error.message || error);  // text, never HTML
  el.appendChild(p);
}

function chartOptions(el, series, title) {
  return {
    width: Math.max(300, el.clientWidth || 600), height: 220, title: title,
    scales: {x: {time: false}},
    axes: [{label: "step"}, {}],
    series: [{label: "step"}].concat(series),
    legend: {live: true},
  };
}

async function drawCurve(el) {
  const url = "/api/runs/" + encodeURIComponent(el.dataset.run) + "/metrics/" +
    encodeURIComponent(el.dataset.metric) + "?points=" + pointsFor(el);
  const data = await getJSON(url);
  const table = [data.steps, data.values];
  if (el._plot) {
    el._plot.setData(table);
  } else {
    el._plot = new uPlot(chartOptions(el, [{label: data.metric, stroke: PALETTE[0], width: 1.5}]), table, el);
  }
  el.dataset.points = String(data.steps.length);
  el.dataset.total = String(data.total);
  el.dataset.drawn = "1";
}

function running() {
  const live = document.getElementById("live");
  const status = live ? live.dataset.status : "";
  return status === "running" || status === "ready" || status === "waiting";
}

function curves() {
  const holder = document.getElementById("curves");
  if (!holder) return;
  const figures = holder.querySelectorAll("figure.curve");
  const drawAll = () => Promise.all(Array.from(figures).map((el) => drawCurve(el).catch((e) => showError(el, e))));
  drawAll();
  if (holder.dataset.live === "1") {
    const timer = setInterval(() => {
      drawAll();
      if (!running()) clearInterval(timer);
    }, 1500);
  }
}

async function overlay() {
  const el = document.getElementById("overlay");
  if (!el || !el.dataset.runs) return;
  const params = new URLSearchParams({experiment: el.dataset.experiment, metric: el.dataset.metric,
                                      run: el.dataset.runs, points: String(pointsFor(el))});
  try {
    const data = await getJSON("/api/series?" + params.toString());
    const tables = data.series.map((s) => [s.steps, s.values]);
    const joined = tables.length ? uPlot.join(tables) : [[]];
    const series = data.series.map((s, i) => ({label: s.name, stroke: PALETTE[i % PALETTE.length], width: 1.5,
                                                spanGaps: true}));
    el._plot = new uPlot(chartOptions(el, series), joined, el);
    el.dataset.series = String(data.series.length);
    el.dataset.drawn = "1";
  } catch (e) {
    showError(el, e);
  }
}

async function parcoords() {
  const el = document.getElementById("parcoords");
  if (!el) return;
  const params = new URLSearchParams({experiment: el.dataset.experiment, metric: el.dataset.metric});
  if (el.dataset.where) params.set("where", el.dataset.where);
  try {
    const data = await getJSON("/api/parallel?" + params.toString());
    if (typeof Plotly === "undefined") throw new Error("plotly.js did not load");
    const metric = data.dimensions[data.dimensions.length - 1];
    const trace = {
      type: "parcoords",
      line: {color: metric.values, colorscale: "Viridis", reversescale: data.mode === "min", showscale: true},
      dimensions: data.dimensions.map((d) => {
        const dim = {label: d.label, values: d.values};
        if (d.tickvals) { dim.tickvals = d.tickvals; dim.ticktext = d.ticktext; }
        return dim;
      }),
    };
    await Plotly.newPlot(el, [trace], {margin: {l: 60, r: 60, t: 50, b: 30}, height: 360},
                         {displaylogo: false, responsive: true});
    el.dataset.runs = String(data.runs);
    el.dataset.dimensions = String(data.dimensions.length);
    el.dataset.drawn = "1";
  } catch (e) {
    showError(el, e);
  }
}

function start() {
  curves();
  overlay();
  parcoords();
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
