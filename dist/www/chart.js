/*
 * chart.js - the dashboard's two charts, drawn as SVG by hand (a library
 * would be larger than both): lines over time (the hourly rates) and
 * horizontal bars (the queue by state, the top sites). Colours come from
 * app.css (classes s0..s5), so the charts follow the page's theme.
 * SECURITY: labels are server data; they go in as text nodes.
 */
"use strict";

(function () {
	var h = Ferry.h;
	var W = 720, H = 220, PAD_L = 44, PAD_R = 12, PAD_T = 10, PAD_B = 26;

	/* The y axis: a step of 1, 2 or 5 times a power of ten (whole numbers
	 * for counts) giving at most 5 grid lines, and the top it reaches. */
	function yAxis(max) {
		var want = Math.max(max / 4, 1), p = Math.pow(10, Math.floor(Math.log10(want))), step = 10 * p;
		[1, 2, 5].some(function (m) { return m * p >= want && (step = m * p); });
		return { step: step, top: Math.max(step, step * Math.ceil(max / step)) };
	}

	/* labels: the x values (text, oldest first); series: [{name, values}].
	 * An SVG with a legend; every point has a <title> with its value. */
	Ferry.lineChart = function (labels, series) {
		var max = 0;
		series.forEach(function (s) {
			s.values.forEach(function (v) { max = Math.max(max, v); });
		});
		var axis = yAxis(max);
		max = axis.top;
		var n = labels.length, iw = W - PAD_L - PAD_R, ih = H - PAD_T - PAD_B;
		function x(i) { return PAD_L + (n > 1 ? iw * i / (n - 1) : iw / 2); }
		function y(v) { return PAD_T + ih - ih * v / max; }
		var svg = h("svg:svg", { viewBox: "0 0 " + W + " " + H, class: "chart", role: "img",
		    "aria-label": series.map(function (s) { return s.name; }).join(", ") + " over time" });
		for (var gv = 0; gv <= max; gv += axis.step) {
			svg.appendChild(h("svg:line", { x1: PAD_L, x2: W - PAD_R, y1: y(gv), y2: y(gv), class: "grid" }));
			svg.appendChild(h("svg:text", { x: PAD_L - 6, y: y(gv) + 4, class: "tick", "text-anchor": "end" },
			    String(gv)));
		}
		var every = Math.max(1, Math.ceil(n / 6));
		labels.forEach(function (l, i) {
			if (i % every === 0 || (i === n - 1 && i % every >= every / 2))
				svg.appendChild(h("svg:text", { x: x(i), y: H - 8, class: "tick",
				    "text-anchor": i === n - 1 && n > 1 ? "end" : i === 0 && n > 1 ? "start" : "middle" }, l));
		});
		series.forEach(function (s, si) {
			var pts = s.values.map(function (v, i) { return x(i).toFixed(1) + "," + y(v).toFixed(1); });
			svg.appendChild(h("svg:polyline", { points: pts.join(" "), class: "line s" + si }));
			s.values.forEach(function (v, i) {
				svg.appendChild(h("svg:circle", { cx: x(i), cy: y(v), r: n > 30 ? 2 : 3, class: "dot s" + si },
				    h("svg:title", null, s.name + " " + labels[i] + ": " + v)));
			});
		});
		var legend = h("div", { class: "legend" }, series.map(function (s, si) {
			return h("span", null, h("i", { class: "swatch s" + si }), s.name);
		}));
		return h("div", { class: "chartbox" }, svg, legend);
	};

	/* rows: [{label, value}] as bars scaled to the largest; an optional
	 * href(row) makes the label a link. */
	Ferry.barChart = function (rows, href) {
		var max = 0;
		rows.forEach(function (r) { max = Math.max(max, r.value); });
		if (!rows.length)
			return h("p", { class: "muted empty" }, "nothing to show");
		return h("div", { class: "bars" }, rows.map(function (r, i) {
			var bar = h("span", { class: "bar s" + (r.cls !== undefined ? r.cls : i % 6) });
			bar.style.width = (max > 0 ? Math.max(0.5, 100 * r.value / max) : 0) + "%";
			return h("div", { class: "barrow" },
			    h("span", { class: "barlabel" }, href ? h("a", { href: href(r) }, r.label) : r.label),
			    h("span", { class: "bartrack" }, bar),
			    h("span", { class: "barvalue n" }, String(r.value)));
		}));
	};
})();
