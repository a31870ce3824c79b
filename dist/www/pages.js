/*
 * pages.js - the dashboard's pages, one render(route) each, registered in
 * Ferry.pages: overview, tenants, queue, events, suppressions, domains.
 * Each asks the /v1 API (docs/api.md) and draws what comes back. Field
 * names the page knows are shown first; anything else the server adds is
 * still shown by the generic renderers (ui.js), and a missing field is
 * left out, so the pages keep working as the API grows.
 * SECURITY: server text goes through Ferry.h (text nodes) only.
 */
"use strict";

(function () {
	var h = Ferry.h, pick = Ferry.pick, list = Ferry.list, num = Ferry.num;
	var enc = encodeURIComponent;
	var pages = Ferry.pages = {};

	/* The counters a stats row may carry, in the order they are drawn. */
	var RATE_KEYS = ["sent", "delivered", "deferred", "bounced", "expired", "complained", "complaints",
	    "suppressed"];
	var CHART_KEYS = ["sent", "delivered", "deferred", "bounced", "complained", "complaints"];
	/* A queue row's counts by state. */
	var STATE_KEYS = ["ready", "scheduled", "sched", "active", "held", "deferred"];

	function title(text, extra) {
		return h("div", { class: "pagehead" }, h("h1", null, text), extra || null);
	}
	function scoped(note) {
		var t = Ferry.actingFor();
		return Ferry.who.admin ? h("p", { class: "muted" }, t ? "Tenant " + t + "." :
		    note || "All tenants (choose one under \u201cacting for\u201d to narrow).") : null;
	}
	/* Scalar fields of an object (nested ones are drawn apart). */
	function scalars(obj, skip) {
		var o = {};
		Object.keys(obj || {}).forEach(function (k) {
			if ((skip || []).indexOf(k) < 0 && (obj[k] === null || typeof obj[k] !== "object"))
				o[k] = obj[k];
		});
		return o;
	}
	function nested(obj, skip) {
		return Object.keys(obj || {}).filter(function (k) {
			return (skip || []).indexOf(k) < 0 && obj[k] !== null && typeof obj[k] === "object";
		});
	}
	/* A row's counts by state (the keys it has). */
	function stateCounts(row) {
		var out = {};
		STATE_KEYS.forEach(function (k) {
			if (typeof row[k] === "number")
				out[k === "sched" ? "scheduled" : k] = row[k];
		});
		return out;
	}
	function sum(o) {
		return Object.keys(o).reduce(function (a, k) { return a + num(o[k]); }, 0);
	}

	/* For the admin acting for no tenant on a page whose API needs one: a
	 * card to pick it (it becomes "acting for"), else null. */
	function tenantNeeded(page) {
		if (!Ferry.who.admin || Ferry.actingFor())
			return null;
		return Ferry.async("Choose a tenant", Ferry.get("/v1/tenants"), function (d) {
			var names = list(d, ["tenants", "items"]).map(function (t) {
				return String(Ferry.isObj(t) ? pick(t, ["name"]) : t);
			});
			return [h("p", { class: "muted" }, "The " + page + " page shows one tenant's; act for:"),
			    names.length ? h("div", { class: "actions", id: "tenant-pick" }, names.map(function (n) {
				return h("button", { type: "button", "data-tenant": n, onclick: function () {
					Ferry.actAs(n);
				} }, n);
			    })) : h("p", { class: "muted empty" }, "There are no tenants yet.")];
		});
	}

	/* ---- overview -------------------------------------------------------- */

	/* The hourly stats as totals and a line chart, one point per hour
	 * from since to now (hours without mail have no row: zeros). */
	function statsHourly(data, since) {
		var rows = list(data, ["rows", "stats", "hours", "items", "data"]).filter(Ferry.isObj);
		var ts = function (r) {
			var t = pick(r, ["timestamp", "hour_timestamp"]);
			return typeof t === "number" ? t : Date.parse(pick(r, ["hour", "time", "start"])) / 1000;
		};
		var byHour = {};
		rows.forEach(function (r) {
			var t = ts(r);
			if (isFinite(t))
				byHour[t - t % 3600] = r;
		});
		var hours = [], now = Date.now() / 1000;
		for (var t = since - since % 3600; t <= now && hours.length < 24 * 93; t += 3600)
			hours.push(byHour[t] || {});
		var keys = RATE_KEYS.filter(function (k) {
			return rows.some(function (r) { return typeof r[k] === "number"; });
		});
		var totals = Ferry.isObj(data && data.totals) ? data.totals : {};
		var tiles = h("div", { class: "tiles" }, keys.map(function (k) {
			var total = typeof totals[k] === "number" ? totals[k] :
			    rows.reduce(function (a, r) { return a + num(r[k]); }, 0);
			return h("div", { class: "tile", "data-key": k }, h("span", { class: "big" }, String(total)),
			    h("span", null, Ferry.label(k)));
		}));
		if (!rows.length || !keys.length)
			return h("p", { class: "muted empty" }, "No mail in this period.");
		var labels = hours.map(function (r, i) {
			var d = new Date((since - since % 3600 + 3600 * i) * 1000).toISOString();
			return (hours.length > 26 ? d.slice(5, 10) + " " : "") + d.slice(11, 16);
		});
		var drawn = keys.filter(function (k) { return CHART_KEYS.indexOf(k) >= 0; });
		return [tiles, Ferry.lineChart(labels, drawn.map(function (k) {
			return { name: Ferry.label(k), values: hours.map(function (r) { return num(r[k]); }) };
		}))];
	}

	/* The queue summary's sites: [{name, counts, row}] */
	function queueSites(data) {
		return list(data, ["sites", "by_site"]).filter(Ferry.isObj).map(function (r) {
			var name = pick(r, ["site", "name", "key"]);
			return { name: name === undefined ? "?" : String(name), counts: stateCounts(r), row: r };
		});
	}
	/* The queue by state: the summary's own totals, or the sites' sums. */
	function queueStates(data) {
		var st = pick(data, ["total", "states", "by_state", "totals"]);
		if (Ferry.isObj(st))
			return st;
		var out = {};
		queueSites(data).forEach(function (s) {
			Object.keys(s.counts).forEach(function (k) { out[k] = (out[k] || 0) + s.counts[k]; });
		});
		return out;
	}
	function stateBars(states) {
		return h("div", { id: "queue-states" }, Ferry.barChart(Object.keys(states).filter(function (k) {
			return typeof states[k] === "number";
		}).map(function (k, i) {
			return { label: Ferry.label(k), value: states[k], cls: i };
		})));
	}
	function topSites(data) {
		var sites = queueSites(data).map(function (s) {
			return { label: s.name, value: sum(s.counts) };
		}).sort(function (a, b) { return b.value - a.value; }).slice(0, 10);
		return Ferry.barChart(sites);
	}
	function topDomains(data) {
		var rows = list(data, ["rows", "stats", "domains", "items", "data"]).filter(Ferry.isObj)
		    .map(function (r) {
			return { label: String(pick(r, ["domain", "key", "name", "site"]) || "?"),
			    value: num(pick(r, ["sent", "total", "delivered"])) };
		    }).sort(function (a, b) { return b.value - a.value; }).slice(0, 10);
		return Ferry.barChart(rows);
	}

	var RANGES = { "24h": "24 hours", "48h": "48 hours", "7d": "7 days" };

	pages.overview = { render: function (r) {
		var range = RANGES[r.params.range] ? r.params.range : "24h";
		var hours = range === "7d" ? 168 : parseInt(range, 10);
		var rangeSel = h("select", { id: "range", "aria-label": "period" }, Object.keys(RANGES).map(function (k) {
			return h("option", { value: k }, "last " + RANGES[k]);
		}));
		rangeSel.value = range;
		rangeSel.addEventListener("change", function () {
			location.hash = Ferry.href(["overview"], { range: rangeSel.value });
		});
		var out = [title("Overview", rangeSel), scoped()];
		var since = Math.floor(Date.now() / 1000) - hours * 3600;
		out.push(Ferry.async("Mail per hour",
		    Ferry.get("/v1/stats", Ferry.scope({ by: "hour", since: since })), function (d) {
			return statsHourly(d, since);
		    }));
		var grid = h("div", { class: "cols" });
		if (Ferry.who.admin) {
			var q = Ferry.get("/v1/queue");
			grid.appendChild(Ferry.async("Queue by state", q, function (d) {
				return stateBars(queueStates(d));
			}));
			grid.appendChild(Ferry.async("Top sites in the queue", q, topSites));
		}
		grid.appendChild(Ferry.async("Top destination domains",
		    Ferry.get("/v1/stats", Ferry.scope({ by: "domain", since: since })), topDomains));
		out.push(grid);
		out.push(Ferry.async("Bounces", Ferry.get("/v1/stats/bounces", Ferry.scope({ since: since,
		    limit: 10 })), bounceInsights));
		if (!Ferry.who.admin || Ferry.actingFor())
			out.push(Ferry.async("Account", Ferry.get("/v1/account", Ferry.scope()), accountView));
		return out;
	} };

	/* A fraction as a percentage: 0.0123 -> "1.23%". */
	function pct(v) {
		return typeof v === "number" ? (Math.round(v * 10000) / 100) + "%" : Ferry.text(v);
	}

	/* /v1/stats/bounces: the failing domains and the categories, each with
	 * a sample reply. */
	function bounceInsights(d) {
		function part(rows, key, heading) {
			rows = rows.filter(Ferry.isObj);
			return h("div", { class: "part" }, h("h3", null, heading), Ferry.table(rows, [
				{ key: key, cell: function (r) { return Ferry.text(r[key]); } },
				{ key: "bounced", num: true }, { key: "rate", num: true, cell: function (r) { return pct(r.rate); } },
				{ key: "share", num: true, cell: function (r) { return pct(r.share); } },
				{ key: "sample_reply", title: "sample reply", cell: function (r) {
					var reply = Ferry.text(r.sample_reply || "");
					return h("span", { class: "wrap" }, r.sample_status && reply.indexOf(r.sample_status) < 0 ?
					    r.sample_status + " " + reply : reply);
				} }]));
		}
		var doms = list(d, ["domains"]), cats = list(d, ["categories"]);
		if (!doms.length && !cats.length)
			return h("p", { class: "muted empty" }, "No bounces in this period.");
		return h("div", { class: "cols", id: "bounce-insights" }, part(doms, "domain", "by domain"),
		    part(cats, "category", "by category"));
	}

	/* Usage beside the limits: one row per period (a limit of 0 is none). */
	function usageTable(usage, limits) {
		var rows = Object.keys(usage).filter(function (k) { return typeof usage[k] === "number"; })
		    .map(function (k) {
			var lim = Ferry.isObj(limits) ? limits["per_" + k] : undefined;
			return { period: k, used: usage[k], limit: lim === undefined ? "-" : lim === 0 ? "none" : lim };
		    });
		var other = Ferry.isObj(limits) ? Object.keys(limits).filter(function (k) {
			return usage[k.replace(/^per_/, "")] === undefined;
		}) : [];
		return [Ferry.table(rows, [{ key: "period" }, { key: "used", num: true }, { key: "limit", num: true }]),
		    other.length ? Ferry.kv(other.reduce(function (o, k) {
			o[k] = limits[k] === 0 ? "none" : limits[k];
			return o;
		    }, {})) : null];
	}

	/* The reputation windows side by side: a row per counter, a column per
	 * window; rates as percentages, bounce categories inline. */
	function repTable(rep) {
		var wins = Object.keys(rep).filter(function (w) { return Ferry.isObj(rep[w]); });
		var metrics = [];
		wins.forEach(function (w) {
			Object.keys(rep[w]).forEach(function (k) {
				var v = rep[w][k];
				if (Ferry.isObj(v) && k === "rates")
					Object.keys(v).forEach(function (r) {
						if (metrics.indexOf("rates." + r) < 0)
							metrics.push("rates." + r);
					});
				else if (metrics.indexOf(k) < 0)
					metrics.push(k);
			});
		});
		var rows = metrics.map(function (m) {
			var row = { metric: Ferry.label(m.indexOf("rates.") === 0 ? m.slice(6) + " rate" : m) };
			wins.forEach(function (w) {
				var v = m.indexOf("rates.") === 0 ? (rep[w].rates || {})[m.slice(6)] : rep[w][m];
				row[w] = m.indexOf("rates.") === 0 ? pct(v) : Ferry.isObj(v) ? Ferry.cell(v) || "-" : Ferry.text(v);
			});
			return row;
		});
		return h("div", { id: "reputation" }, Ferry.table(rows, [{ key: "metric", title: "" }].concat(
		    wins.map(function (w) { return { key: w, num: true }; }))));
	}

	/* /v1/account or /v1/tenants/{name}: the headline, then each part. */
	function accountView(t) {
		if (!Ferry.isObj(t))
			return Ferry.render(t);
		var order = ["usage", "limits", "reputation", "enforcement"];
		var parts = nested(t).sort(function (a, b) {
			var ia = order.indexOf(a), ib = order.indexOf(b);
			return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
		});
		var usage = Ferry.isObj(t.usage);
		return [Ferry.kv(scalars(t), ["name", "status", "suspend_reason"]),
		    h("div", { class: "cols" }, parts.map(function (k) {
			var body;
			if (k === "limits" && usage)
				return null;
			if (k === "usage" && usage)
				body = usageTable(t.usage, t.limits);
			else if (k === "reputation" && Ferry.isObj(t.reputation))
				body = repTable(t.reputation);
			else
				body = Ferry.render(t[k]);
			return h("div", { class: "part", "data-part": k }, h("h3", null, k === "usage" && usage ?
			    "usage and limits" : Ferry.label(k)), body);
		    }))];
	}

	/* ---- tenants (admin) ----------------------------------------------- */

	function tenantSuspended(t) {
		var s = pick(t, ["suspended", "status", "state"]);
		if (Ferry.isObj(s))
			s = pick(s, ["suspended", "state"]);
		return s === true || s === "suspended";
	}

	pages.tenants = { admin: true, render: function (r) {
		if (r.segments.length)
			return tenantPage(r.segments[0]);
		return [title("Tenants"), Ferry.async(null, Ferry.get("/v1/tenants"), function (data) {
			var rows = list(data, ["tenants", "items"]).filter(Ferry.isObj);
			var keys = [];
			rows.forEach(function (t) {
				Object.keys(scalars(t, ["name", "id"])).forEach(function (k) {
					if (keys.indexOf(k) < 0 && !Ferry.hiddenKey(t, k))
						keys.push(k);
				});
			});
			var cols = [{ key: "name", cell: function (t) {
				return [Ferry.link(String(t.name), ["tenants", String(t.name)]),
				    tenantSuspended(t) ? h("span", { class: "badge bad" }, "suspended") : null];
			} }].concat(keys.map(function (k) {
				return { key: k, num: rows.some(function (t) { return typeof t[k] === "number"; }) };
			}));
			return h("div", { id: "tenants-table" }, Ferry.table(rows, cols));
		})];
	} };

	function tenantPage(name) {
		var path = "/v1/tenants/" + enc(name);
		var head = title("Tenant " + name, h("a", { href: "#/tenants" }, "all tenants"));
		return [head, Ferry.async(null, Ferry.get(path), function (t) {
			var suspended = tenantSuspended(t);
			var reason = h("input", { type: "text", id: "suspend-reason", placeholder: "reason",
			    maxlength: 200 });
			var actions = h("div", { class: "actions" },
			    h("span", { class: "badge " + (suspended ? "bad" : "good"), id: "tenant-state" },
				suspended ? "suspended" : "active"),
			    suspended ? Ferry.button("Resume", function () {
				return Ferry.api("POST", path + "/resume", {});
			    }, Ferry.reload) : [reason, Ferry.button("Suspend", function () {
				return Ferry.api("POST", path + "/suspend", { reason: reason.value || "dashboard" });
			    }, Ferry.reload, "danger")]);
			return [actions, accountView(t)];
		}), Ferry.async("API keys", Ferry.get(path + "/keys"), function (d) {
			var keys = list(d, ["keys", "items"]);
			return keys.length ? Ferry.table(keys.filter(Ferry.isObj)) :
			    h("p", { class: "muted empty" }, "No API keys.");
		})];
	}

	/* ---- queue (admin) ---------------------------------------------------- */

	/* Summary rows: the name (first(row) or the field), then the rest. */
	function countTable(rows, key, first) {
		rows = rows.filter(Ferry.isObj);
		var keys = [];
		rows.forEach(function (s) {
			Object.keys(s).forEach(function (k) {
				if (keys.indexOf(k) < 0 && [key, "name", "tenant_id"].indexOf(k) < 0 && !Ferry.hiddenKey(s, k))
					keys.push(k);
			});
		});
		return Ferry.table(rows, [{ key: key, cell: first || function (s) {
			return Ferry.text(pick(s, [key, "name"]));
		} }].concat(keys.map(function (k) {
			return { key: k, num: rows.some(function (s) { return typeof s[k] === "number"; }) };
		})));
	}

	pages.queue = { admin: true, render: function (r) {
		if (r.segments[0] === "messages" && r.segments[1])
			return messagePage(r.segments[1]);
		var p = r.params;
		var summary = Ferry.get("/v1/queue");
		tenantNames = null;
		var out = [title("Queue"), h("div", { class: "cols" },
		    Ferry.async("By state", summary, function (d) { return stateBars(queueStates(d)); }),
		    Ferry.async("By tenant", summary, function (d) {
			return h("div", { id: "queue-tenants" }, countTable(list(d, ["tenants"]), "tenant", function (t) {
				var n = pick(t, ["tenant"]);
				return n ? Ferry.link(String(n), ["queue"], { tenant: String(n) }) :
				    h("span", { class: "muted" }, n === "" ? "(none)" : String(pick(t, ["tenant_id"])));
			}));
		    })),
		    Ferry.async("By site", summary, function (d) {
			return h("div", { id: "queue-sites" }, countTable(list(d, ["sites", "by_site"]), "site"));
		    }),
		    Ferry.async("By domain", summary, function (d) {
			return h("div", { id: "queue-domains" }, countTable(list(d, ["domains"]), "domain", function (x) {
				var n = String(pick(x, ["domain", "name"]));
				return Ferry.link(n, ["queue"], { domain: n });
			}));
		    })];
		var domain = h("input", { type: "text", name: "domain", value: p.domain || "", placeholder: "any domain" });
		var tenant = h("input", { type: "text", name: "tenant", value: p.tenant || "", placeholder: "any tenant" });
		var held = h("input", { type: "checkbox", name: "held", checked: p.held === "1" });
		var form = h("form", { class: "filters", id: "queue-filter" }, domain, tenant,
		    h("label", null, held, " held only"), h("button", { type: "submit" }, "Show"));
		form.addEventListener("submit", function (ev) {
			ev.preventDefault();
			location.hash = Ferry.href(["queue"], { domain: domain.value.trim(), tenant: tenant.value.trim(),
			    held: held.checked ? "1" : "" });
		});
		var msgs = Ferry.get("/v1/queue/messages", { domain: p.domain, tenant: p.tenant, held: p.held,
		    limit: 200 });
		out.push(h("section", { class: "card" }, h("h2", null, "Messages"), form,
		    Ferry.async(null, Promise.all([msgs, tenantNamesLoad()]), function (r) {
			return messageTable(r[0], r[1]);
		    })));
		return out;
	} };

	/* The admin's tenant names by id (for rows that carry only the id). */
	var tenantNames = null;
	function tenantNamesLoad() {
		if (!tenantNames)
			tenantNames = Ferry.get("/v1/tenants").then(function (d) {
				var m = {};
				list(d, ["tenants", "items"]).filter(Ferry.isObj).forEach(function (t) { m[t.id] = t.name; });
				return m;
			}, function () { return {}; });
		return tenantNames;
	}

	/* The queue's messages: id, state, times, tenant (by name), the rest. */
	function messageTable(data, names) {
		var rows = list(data, ["messages", "items"]).filter(Ferry.isObj);
		var first = ["id", "queue_id", "state", "arrival", "next_try", "tenant_id", "tenant"];
		var keys = [];
		rows.forEach(function (m) {
			Object.keys(m).forEach(function (k) {
				if (keys.indexOf(k) < 0 && first.indexOf(k) < 0 && !Ferry.hiddenKey(m, k) && k !== "domain")
					keys.push(k);
			});
		});
		return h("div", { id: "queue-messages" }, Ferry.table(rows, [{ key: "id", cell: function (m) {
			var id = String(pick(m, ["id", "queue_id"]));
			return Ferry.link(id, ["queue", "messages", id]);
		} }, { key: "state" }, { key: "arrival" }, { key: "next_try" }, { key: "tenant", cell: function (m) {
			var n = m.tenant !== undefined ? m.tenant : names[m.tenant_id];
			return n !== undefined ? Ferry.text(n) : m.tenant_id ? "#" + m.tenant_id : "-";
		} }].concat(keys.map(function (k) {
			return { key: k, num: rows.some(function (m) { return typeof m[k] === "number"; }) };
		}))));
	}

	function messagePage(id) {
		var path = "/v1/queue/messages/" + enc(id);
		return [title("Message " + id, h("a", { href: "#/queue" }, "queue")),
		    Ferry.async(null, Ferry.get(path), function (m) {
			var held = pick(m, ["held"]) === true || /^hold/.test(pick(m, ["state"]) || "");
			return [h("div", { class: "actions" },
			    h("span", { class: "badge " + (held ? "bad" : "good"), id: "message-state" },
				held ? "held" : String(pick(m, ["state"]) || "queued")),
			    held ? Ferry.button("Release", function () { return Ferry.api("POST", path + "/release", {}); },
				Ferry.reload) :
			    Ferry.button("Hold", function () { return Ferry.api("POST", path + "/hold", {}); },
				Ferry.reload, "danger"),
			    Ferry.link("events of this message", ["events"], { queue_id: id })),
			    Ferry.render(m)];
		    })];
	}

	/* ---- events ------------------------------------------------------------- */

	var EVENT_KINDS = ["received", "delivered", "deferred", "bounced", "expired", "suppressed",
	    "complained", "delayed", "autoreply", "report-unrecognized", "held", "released", "shaping",
	    "throttled", "review", "suspended", "resumed", "unsubscribed", "webhook-dropped"];

	function replyText(e) {
		var r = e.reply;
		if (!Ferry.isObj(r))
			return r === undefined ? "" : Ferry.text(r);
		var text = r.text === undefined ? "" : String(r.text);
		var status = r.status && text.indexOf(String(r.status)) !== 0 ? r.status : undefined;
		return [r.code, status, text].filter(function (x) { return x !== undefined && x !== ""; }).join(" ");
	}

	function eventRows(tbody, events) {
		events.filter(Ferry.isObj).forEach(function (e) {
			var detail = h("tr", { class: "detail", hidden: true },
			    h("td", { colspan: 9 }, Ferry.kv(e, ["id", "type", "time"])));
			var qid = e.queue_id ? (Ferry.who.admin ? Ferry.link(e.queue_id, ["queue", "messages", e.queue_id]) :
			    e.queue_id) : "";
			var toggle = h("button", { type: "button", class: "toggle", title: "every field",
			    "aria-expanded": "false", onclick: function () {
				detail.hidden = !detail.hidden;
				toggle.setAttribute("aria-expanded", String(!detail.hidden));
				toggle.textContent = detail.hidden ? "\u25b8" : "\u25be";
			    } }, "\u25b8");
			var row = h("tr", { class: "event", "data-id": e.id, "data-type": e.type }, h("td", null, toggle),
			    h("td", { class: "nowrap" }, Ferry.time(e.time || e.timestamp).replace("T", " ").replace(/Z$/, "")),
			    h("td", null, h("span", { class: "badge k-" + String(e.type).replace(/[^a-z-]/g, "") },
				Ferry.text(e.type))),
			    h("td", null, e.tenant || ""),
			    h("td", { class: "nowrap" }, e.recipient ? Ferry.link(e.recipient, ["events"],
				{ recipient: e.recipient }) : ""),
			    h("td", { class: "nowrap" }, qid),
			    h("td", { class: "wrap" }, e.message_id ? Ferry.link(e.message_id, ["events"],
				{ message_id: e.message_id }) : ""), h("td", { class: "nowrap" }, e.site || ""),
			    h("td", { class: "wrap" }, replyText(e), e.category ? " [" + e.category + "]" : ""));
			tbody.appendChild(row);
			tbody.appendChild(detail);
		});
	}

	pages.events = { render: function (r) {
		var p = r.params;
		var type = h("select", { name: "type" }, h("option", { value: "" }, "any type"),
		    EVENT_KINDS.map(function (k) { return h("option", { value: k }, k); }));
		type.value = p.type || "";
		if (p.type && type.value !== p.type)      /* several kinds, from a link */
			type.appendChild(h("option", { value: p.type }, p.type)).selected = true;
		var rcpt = h("input", { type: "text", name: "recipient", value: p.recipient || "",
		    placeholder: "recipient address" });
		var msgid = h("input", { type: "text", name: "message_id", value: p.message_id || "",
		    placeholder: "Message-ID" });
		var qid = h("input", { type: "text", name: "queue_id", value: p.queue_id || "", placeholder: "queue id" });
		var form = h("form", { class: "filters", id: "events-form" }, type, rcpt, msgid, qid,
		    h("button", { type: "submit" }, "Search"));
		form.addEventListener("submit", function (ev) {
			ev.preventDefault();
			location.hash = Ferry.href(["events"], { type: type.value, recipient: rcpt.value.trim(),
			    message_id: msgid.value.trim(), queue_id: qid.value.trim() });
		});
		var tbody = h("tbody");
		var status = h("div", { class: "status" });
		var more = h("button", { type: "button", id: "events-more", hidden: true }, "More");
		var table = h("div", { class: "scroll" }, h("table", { class: "grid", id: "events-table" },
		    h("thead", null, h("tr", null, ["", "time (UTC)", "type", "tenant", "recipient", "queue id", "message id",
			"site", "reply"].map(function (t) { return h("th", null, t); }))), tbody));
		var query = Ferry.scope({ type: p.type, recipient: p.recipient, message_id: p.message_id,
		    queue_id: p.queue_id, limit: /^\d+$/.test(p.limit || "") ? p.limit : 100 });
		var shown = 0;
		function page(cursor) {
			more.hidden = true;
			more.disabled = true;
			status.textContent = "loading…";
			query.cursor = cursor;
			Ferry.get("/v1/events", query).then(function (d) {
				var evs = list(d, ["events", "items"]);
				eventRows(tbody, evs);
				shown += evs.length;
				status.textContent = shown ? shown + " event" + (shown === 1 ? "" : "s") + " shown" :
				    "No events match.";
				var next = pick(d, ["next_cursor", "cursor"]);
				more.hidden = next === undefined || next === null || next === "";
				more.disabled = false;
				more.onclick = function () { page(String(next)); };
			}, function (e) {
				Ferry.clear(status).appendChild(Ferry.errorBox(e));
			});
		}
		page(undefined);
		return [title("Events"), scoped(), h("section", { class: "card" }, form, status, table, more)];
	} };

	/* ---- suppressions ------------------------------------------------------- */

	pages.suppressions = { render: function (r) {
		var p = r.params;
		var need = tenantNeeded("suppressions");
		if (need)
			return [title("Suppressions"), need];
		var addrs = h("textarea", { id: "supp-addresses", rows: 2, placeholder: "addresses, one a line" });
		var reason = h("input", { type: "text", id: "supp-reason", value: "manual", maxlength: 64 });
		var addMsg = h("span", { class: "status" });
		var add = h("form", { class: "filters", id: "supp-add" }, addrs, h("label", null, "reason ", reason),
		    h("button", { type: "submit" }, "Add"), addMsg);
		add.addEventListener("submit", function (ev) {
			ev.preventDefault();
			var list = addrs.value.split(/[\s,;]+/).filter(function (a) { return a !== ""; });
			if (!list.length)
				return;
			addMsg.textContent = "adding…";
			Ferry.api("POST", "/v1/suppressions" + Ferry.query(Ferry.scope()),
			    { addresses: list, reason: reason.value || "manual" }).then(function () {
				Ferry.reload();
			}, function (e) {
				addMsg.textContent = String(e);
				addMsg.className = "error";
			});
		});
		var filter = h("input", { type: "text", value: p.reason || "", placeholder: "reason" });
		var ff = h("form", { class: "filters" }, h("label", null, "show reason ", filter),
		    h("button", { type: "submit" }, "Filter"));
		ff.addEventListener("submit", function (ev) {
			ev.preventDefault();
			location.hash = Ferry.href(["suppressions"], { reason: filter.value.trim() });
		});
		var tbody = h("tbody"), status = h("div", { class: "status" });
		var more = h("button", { type: "button", hidden: true, id: "supp-more" }, "More");
		var query = Ferry.scope({ reason: p.reason, limit: 200 });
		var cols = null, thead = h("thead");
		function rows(items) {
			items.filter(Ferry.isObj).forEach(function (s) {
				if (!cols) {
					cols = ["address", "reason", "created", "expires"].concat(Object.keys(s).filter(function (k) {
						return ["address", "reason", "created", "expires"].indexOf(k) < 0 && !Ferry.hiddenKey(s, k);
					}));
					thead.appendChild(h("tr", null, cols.map(function (c) { return h("th", null, Ferry.label(c)); }),
					    h("th")));
				}
				var addr = String(s.address);
				tbody.appendChild(h("tr", { "data-address": addr }, cols.map(function (c) {
					return h("td", null, c === "created" || c === "expires" ? Ferry.time(s[c]) :
					    Ferry.render(s[c], 2));
				}), h("td", null, Ferry.button("Delete", function () {
					return Ferry.api("DELETE", "/v1/suppressions/" + enc(addr) + Ferry.query(Ferry.scope()));
				}, Ferry.reload, "small danger"))));
			});
		}
		var shown = 0;
		function page(cursor) {
			more.hidden = true;
			query.cursor = cursor;
			Ferry.get("/v1/suppressions", query).then(function (d) {
				var items = list(d, ["suppressions", "items"]);
				rows(items);
				shown += items.length;
				status.textContent = shown ? shown + " shown" : "The list is empty.";
				var next = pick(d, ["next_cursor", "cursor"]);
				more.hidden = next === undefined || next === null || next === "";
				more.onclick = function () { page(String(next)); };
			}, function (e) {
				Ferry.clear(status).appendChild(Ferry.errorBox(e));
			});
		}
		page(undefined);
		return [title("Suppressions"), scoped(), h("section", { class: "card" }, h("h2", null, "Add"), add),
		    h("section", { class: "card" }, ff, status, h("div", { class: "scroll" },
			h("table", { class: "grid", id: "supp-table" }, thead, tbody)), more)];
	} };

	/* ---- domains -------------------------------------------------------------- */

	pages.domains = { render: function (r) {
		if (r.segments.length)
			return domainPage(r.segments[0]);
		var need = tenantNeeded("domains");
		if (need)
			return [title("Domains"), need];
		return [title("Domains"), scoped(), Ferry.async(null, Ferry.get("/v1/domains", Ferry.scope()), function (d) {
			var rows = list(d, ["domains", "items"]).map(function (x) {
				return typeof x === "string" ? { domain: x } : x;
			}).filter(Ferry.isObj);
			var keys = [];
			rows.forEach(function (x) {
				Object.keys(scalars(x, ["domain", "name"])).forEach(function (k) {
					if (keys.indexOf(k) < 0 && !Ferry.hiddenKey(x, k))
						keys.push(k);
				});
			});
			return h("div", { id: "domains-table" }, Ferry.table(rows, [{ key: "domain", cell: function (x) {
				var n = String(pick(x, ["domain", "name"]));
				return Ferry.link(n, ["domains", n]);
			} }].concat(keys.map(function (k) { return { key: k }; }), [{ key: "selectors", cell: function (x) {
				return list(x, ["selectors"]).map(function (k) {
					return Ferry.isObj(k) ? String(pick(k, ["selector", "name"])) +
					    (k.algorithm ? " (" + k.algorithm + ")" : "") : Ferry.text(k);
				}).join(", ");
			} }])));
		})];
	}};

	/* A check's result as a badge: good / bad / warn from its words. */
	function checkBadge(c) {
		var v = Ferry.isObj(c) ? pick(c, ["ok", "status", "result", "state"]) : c;
		var s = v === true ? "ok" : v === false ? "fail" : String(v === undefined ? "" : v);
		var good = /^(ok|pass|good|valid|published|match)/i.test(s);
		var bad = /^(fail|error|bad|missing|wrong|invalid|mismatch|none)/i.test(s);
		return h("span", { class: "badge " + (good ? "good" : bad ? "bad" : "warn") }, s || "?");
	}

	/* The DNS check: the verdict, where mail comes from, each finding. */
	function domainCheck(chk) {
		if (!Ferry.isObj(chk))
			return h("p", { class: "muted" }, "The check did not run (see the notes).");
		var findings = list(chk, ["findings", "results"]).filter(Ferry.isObj);
		var rest = scalars(chk, ["ok"]);
		Object.keys(chk).forEach(function (k) {
			if (k !== "findings" && Array.isArray(chk[k]))
				rest[k] = chk[k].length ? chk[k].map(Ferry.text).join(", ") : "-";
		});
		return [h("p", null, checkBadge(chk.ok === undefined ? chk : chk.ok), " ",
		    chk.ok === true ? "every record is in place" : chk.ok === false ? "records need attention" : ""),
		    Ferry.kv(rest),
		    h("div", { id: "domain-checks" }, Ferry.table(findings, [{ key: "status", cell: checkBadge }]
			.concat(Object.keys(findings[0] || {}).filter(function (k) { return k !== "status"; })
			.map(function (k) { return { key: k }; }))))];
	}

	function domainPage(name) {
		var path = "/v1/domains/" + enc(name);
		var need = tenantNeeded("domain");
		if (need)
			return [title("Domain " + name), need];
		return [title("Domain " + name, h("a", { href: "#/domains" }, "all domains")), scoped(),
		    Ferry.async(null, Ferry.get(path, Ferry.scope()), function (d) {
			var out = [Ferry.kv(scalars(d))];
			var recs = list(d, ["records", "dns", "dns_records"]).filter(Ferry.isObj);
			var first = ["purpose", "type", "name", "value"], keys = first.slice();
			recs.forEach(function (x) {
				Object.keys(x).forEach(function (k) {
					if (keys.indexOf(k) < 0)
						keys.push(k);
				});
			});
			out.push(h("h3", null, "DNS records to publish"), h("div", { id: "domain-records" },
			    Ferry.table(recs, keys.map(function (k) {
				return { key: k, cell: k === "value" ? function (x) {
					return h("code", { class: "wrap" }, Ferry.text(x.value));
				} : null };
			    }))));
			var notes = list(d, ["notes"]);
			if (notes.length)
				out.push(h("ul", { class: "notes" }, notes.map(function (n) { return h("li", null, Ferry.text(n)); })));
			if (d.check !== undefined || d.checks !== undefined)
				out.push(h("h3", null, "DNS check"), domainCheck(d.check !== undefined ? d.check : d.checks));
			nested(d, ["records", "dns_records", "notes", "check", "checks"]).forEach(function (k) {
				out.push(h("h3", null, Ferry.label(k)), Ferry.render(d[k]));
			});
			return out;
		    })];
	}
})();
