/*
 * ui.js - the dashboard's building blocks: the API client (Bearer token
 * from sessionStorage, errors as ApiError), DOM construction and the
 * generic renderers for JSON the pages do not know field by field.
 * SECURITY: everything the server sends is data. It reaches the page only
 * as text nodes and attribute values set through the DOM (textContent,
 * setAttribute), never through innerHTML, so an address or an SMTP reply
 * holding markup shows as the characters it is.
 */
"use strict";

var Ferry = window.Ferry || {};
window.Ferry = Ferry;

(function () {
	var TOKEN_KEY = "ferry.token";

	/* ---- the session --------------------------------------------------- */

	Ferry.token = function () {
		return sessionStorage.getItem(TOKEN_KEY);
	};
	Ferry.tokenSet = function (t) {
		if (t)
			sessionStorage.setItem(TOKEN_KEY, t);
		else
			sessionStorage.removeItem(TOKEN_KEY);
	};

	/* ---- the API ------------------------------------------------------- */

	function ApiError(status, code, message) {
		this.status = status;
		this.code = code;
		this.message = message;
	}
	ApiError.prototype.toString = function () {
		return (this.status ? "HTTP " + this.status + (this.code ? " " + this.code : "") + ": " : "") +
		    this.message;
	};
	Ferry.ApiError = ApiError;

	/* The query string of params (an object), skipping empty values. */
	Ferry.query = function (params) {
		var parts = [];
		Object.keys(params || {}).forEach(function (k) {
			var v = params[k];
			if (v !== undefined && v !== null && v !== "")
				parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(v));
		});
		return parts.length ? "?" + parts.join("&") : "";
	};

	/* One request: the parsed JSON body, or an ApiError. A 401 ends the
	 * session (Ferry.onUnauthorized shows the login page). */
	Ferry.api = function (method, path, body, token) {
		var headers = { "Authorization": "Bearer " + (token || Ferry.token() || ""),
		    "Accept": "application/json" };
		var opt = { method: method, headers: headers, cache: "no-store", credentials: "omit" };
		if (body !== undefined) {
			headers["Content-Type"] = "application/json";
			opt.body = JSON.stringify(body);
		}
		return fetch(path, opt).catch(function (e) {
			throw new ApiError(0, "network", "ferryd did not answer (" + e.message + ")");
		}).then(function (resp) {
			return resp.text().then(function (text) {
				var data = null;
				try {
					data = text ? JSON.parse(text) : null;
				} catch (e) {
					data = null;
				}
				if (resp.ok)
					return data;
				var err = (data && data.error) || {};
				var e = new ApiError(resp.status, err.code || "",
				    err.message || text.slice(0, 300) || resp.statusText);
				if (resp.status === 401 && !token && Ferry.onUnauthorized)
					Ferry.onUnauthorized(e);
				throw e;
			});
		});
	};
	Ferry.get = function (path, params) {
		return Ferry.api("GET", path + Ferry.query(params));
	};

	/* ---- the DOM --------------------------------------------------------- */

	/* h("td", {class: "n"}, "text", node, ...): children that are strings
	 * or numbers become text nodes; null/undefined/false are skipped; arrays
	 * are flattened. on* attributes that are functions become listeners. */
	Ferry.h = function (tag, attrs) {
		var svg = tag.indexOf("svg:") === 0;
		var el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4)) :
		    document.createElement(tag);
		Object.keys(attrs || {}).forEach(function (k) {
			var v = attrs[k];
			if (v === undefined || v === null || v === false)
				return;
			if (typeof v === "function" && k.indexOf("on") === 0)
				el.addEventListener(k.slice(2), v);
			else
				el.setAttribute(k, v === true ? "" : String(v));
		});
		for (var i = 2; i < arguments.length; i++)
			Ferry.append(el, arguments[i]);
		return el;
	};
	Ferry.append = function (el, c) {
		if (c === undefined || c === null || c === false)
			return;
		if (Array.isArray(c))
			c.forEach(function (x) { Ferry.append(el, x); });
		else if (typeof c === "object" && c.nodeType)
			el.appendChild(c);
		else
			el.appendChild(document.createTextNode(String(c)));
	};
	Ferry.clear = function (el) {
		while (el.firstChild)
			el.removeChild(el.firstChild);
		return el;
	};

	/* A plain error line (the API's message as text). */
	Ferry.errorBox = function (e) {
		return Ferry.h("p", { class: "error", role: "alert" }, String(e));
	};

	/* A section that fills itself when promise settles: content(data)
	 * gives its nodes; a failure shows the error in its place. */
	Ferry.async = function (title, promise, content) {
		var body = Ferry.h("div", { class: "loading" }, "loading…");
		var sec = Ferry.h("section", { class: "card" }, title ? Ferry.h("h2", null, title) : null, body);
		promise.then(function (data) {
			Ferry.clear(body).className = "";
			Ferry.append(body, content(data));
		}, function (e) {
			Ferry.clear(body).className = "";
			body.appendChild(Ferry.errorBox(e));
		});
		return sec;
	};

	/* ---- values ---------------------------------------------------------- */

	Ferry.isObj = function (v) {
		return v !== null && typeof v === "object" && !Array.isArray(v);
	};
	/* The first of names that obj has (not null), else undefined. */
	Ferry.pick = function (obj, names) {
		if (!Ferry.isObj(obj))
			return undefined;
		for (var i = 0; i < names.length; i++)
			if (obj[names[i]] !== undefined && obj[names[i]] !== null)
				return obj[names[i]];
		return undefined;
	};
	/* The array in data: data itself, or its first array field of names. */
	Ferry.list = function (data, names) {
		if (Array.isArray(data))
			return data;
		var v = Ferry.pick(data, names);
		return Array.isArray(v) ? v : [];
	};
	Ferry.num = function (v) {
		var n = Number(v);
		return isFinite(n) ? n : 0;
	};
	/* "delivered_total" -> "delivered total" */
	Ferry.label = function (k) {
		return String(k).replace(/_/g, " ");
	};
	/* Times: RFC 3339 strings as they are, unix seconds as UTC text. */
	Ferry.time = function (v) {
		if (typeof v === "number" && v > 1e8)
			return new Date(v * 1000).toISOString().replace(".000Z", "Z");
		return v === undefined || v === null ? "" : String(v);
	};

	/* Is k a second form of another field (a time's "_timestamp" beside
	 * its RFC 3339 text)? Shown once, as text. */
	Ferry.hiddenKey = function (obj, k) {
		var m = /^(.*?)_?timestamp$/.exec(k);
		return !!m && (m[1] === "" ? obj.time !== undefined : obj[m[1]] !== undefined);
	};

	/* A scalar as text: booleans yes/no, null as "-". */
	Ferry.text = function (v) {
		if (v === null || v === undefined)
			return "-";
		if (typeof v === "boolean")
			return v ? "yes" : "no";
		return String(v);
	};

	/* Any JSON value as nodes: objects as key/value tables, arrays of
	 * objects as tables, other arrays as comma lists. depth bounds it. */
	Ferry.render = function (v, depth) {
		depth = depth || 0;
		if (Array.isArray(v)) {
			if (v.length && v.every(Ferry.isObj) && depth < 4)
				return Ferry.table(v, null, depth + 1);
			if (!v.length)
				return Ferry.h("span", { class: "muted" }, "none");
			return v.map(function (x) { return Ferry.isObj(x) || Array.isArray(x) ?
			    JSON.stringify(x) : Ferry.text(x); }).join(", ");
		}
		if (Ferry.isObj(v)) {
			if (depth >= 4)
				return JSON.stringify(v);
			return Ferry.kv(v, null, depth + 1);
		}
		return Ferry.text(v);
	};

	/* An object as a two-column table; keys: the order to show (others
	 * follow), or null for the object's own. */
	Ferry.kv = function (obj, keys, depth) {
		var order = (keys || []).filter(function (k) { return obj[k] !== undefined; });
		Object.keys(obj).forEach(function (k) {
			if (order.indexOf(k) < 0 && !Ferry.hiddenKey(obj, k))
				order.push(k);
		});
		return Ferry.h("table", { class: "kv" }, Ferry.h("tbody", null, order.map(function (k) {
			return Ferry.h("tr", null, Ferry.h("th", null, Ferry.label(k)),
			    Ferry.h("td", null, Ferry.render(obj[k], depth || 1)));
		})));
	};

	/* Rows (objects) as a table. cols: [{key, title, cell(row) -> nodes,
	 * num}] or null for the union of the rows' keys. */
	Ferry.table = function (rows, cols, depth) {
		if (!cols) {
			var keys = [];
			rows.forEach(function (r) {
				Object.keys(r).forEach(function (k) {
					if (keys.indexOf(k) < 0 && !Ferry.hiddenKey(r, k))
						keys.push(k);
				});
			});
			cols = keys.map(function (k) { return { key: k }; });
		}
		if (!rows.length)
			return Ferry.h("p", { class: "muted empty" }, "nothing to show");
		return Ferry.h("div", { class: "scroll" }, Ferry.h("table", { class: "grid" },
		    Ferry.h("thead", null, Ferry.h("tr", null, cols.map(function (c) {
			return Ferry.h("th", { class: c.num ? "n" : null }, c.title !== undefined ? c.title :
			    Ferry.label(c.key));
		    }))),
		    Ferry.h("tbody", null, rows.map(function (r) {
			return Ferry.h("tr", null, cols.map(function (c) {
				var v = c.cell ? c.cell(r) : Ferry.cell(r[c.key], depth);
				return Ferry.h("td", { class: c.num ? "n" : null }, v);
			}));
		    }))));
	};

	/* A table cell: a flat object inline ("open 1, limit 10"), else as render. */
	Ferry.cell = function (v, depth) {
		if (typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(v))
			return Ferry.h("span", { class: "nowrap", title: v }, v.slice(0, 10) + " " + v.slice(11, 19));
		if (Ferry.isObj(v) && Object.keys(v).every(function (k) {
			return v[k] === null || typeof v[k] !== "object";
		}))
			return Object.keys(v).filter(function (k) { return !Ferry.hiddenKey(v, k); }).map(function (k) {
				return Ferry.label(k) + " " + Ferry.text(v[k]);
			}).join(", ");
		return Ferry.render(v, (depth || 0) + 1);
	};

	/* A link inside the dashboard: "#/" + the segments, each encoded. */
	Ferry.link = function (text, segments, params) {
		return Ferry.h("a", { href: Ferry.href(segments, params) }, text);
	};
	Ferry.href = function (segments, params) {
		return "#/" + segments.map(encodeURIComponent).join("/") + Ferry.query(params);
	};

	/* A button that runs action (a promise); busy while it runs, errors
	 * shown beside it; done() after success. */
	Ferry.button = function (text, action, done, cls) {
		var msg = Ferry.h("span", { class: "error" });
		var b = Ferry.h("button", { type: "button", class: cls || null, onclick: function () {
			b.disabled = true;
			msg.textContent = "";
			action().then(function (r) {
				b.disabled = false;
				if (done)
					done(r);
			}, function (e) {
				b.disabled = false;
				msg.textContent = String(e);
			});
		} }, text);
		return Ferry.h("span", { class: "action" }, b, msg);
	};
})();
