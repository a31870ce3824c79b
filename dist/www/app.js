/*
 * app.js - the dashboard's shell: log in (a token checked with GET
 * /v1/ping, kept in sessionStorage only: gone when the tab closes, never a
 * cookie, so there is no CSRF surface), log out, the hash routes and the
 * navigation. The pages themselves are in pages.js.
 * The token is the admin token or a tenant's API key; the server decides
 * what each may see. The dashboard only hides the pages a tenant cannot
 * use (tenants, queue) and lets the admin act for one tenant (?tenant=).
 */
"use strict";

(function () {
	var h = Ferry.h;
	var ACTAS_KEY = "ferry.actas";
	var $ = function (id) { return document.getElementById(id); };

	Ferry.who = null;          /* the /v1/ping answer: {tenant, admin} */

	/* Tenant routes' parameters: ?tenant= for the admin acting for one. */
	Ferry.scope = function (params) {
		var p = {};
		Object.keys(params || {}).forEach(function (k) { p[k] = params[k]; });
		var t = Ferry.who && Ferry.who.admin ? sessionStorage.getItem(ACTAS_KEY) : "";
		if (t)
			p.tenant = t;
		return p;
	};
	Ferry.actingFor = function () {
		return Ferry.who && Ferry.who.admin ? sessionStorage.getItem(ACTAS_KEY) || "" : "";
	};

	function loginShow(message) {
		Ferry.who = null;
		$("top").hidden = true;
		$("view").hidden = true;
		$("foot").hidden = true;
		Ferry.clear($("view"));
		$("login").hidden = false;
		$("login-error").textContent = message || "";
		$("token").value = "";
		$("token").focus();
	}

	Ferry.logout = function (message) {
		Ferry.tokenSet(null);
		sessionStorage.removeItem(ACTAS_KEY);
		loginShow(message);
	};
	Ferry.onUnauthorized = function (e) {
		Ferry.logout("Not logged in: " + e.message);
	};

	/* Check a token with /v1/ping; resolves with its answer. */
	function ping(token) {
		return Ferry.api("GET", "/v1/ping", undefined, token).then(function (r) {
			if (!Ferry.isObj(r))
				throw new Ferry.ApiError(0, "", "unexpected answer from /v1/ping");
			return { admin: r.admin === true, tenant: typeof r.tenant === "string" ? r.tenant : null };
		});
	}

	function sessionStart(who) {
		Ferry.who = who;
		$("login").hidden = true;
		$("top").hidden = false;
		$("view").hidden = false;
		$("foot").hidden = false;
		$("whoami").textContent = who.admin ? "admin" : "tenant " + (who.tenant || "?");
		document.querySelectorAll("#nav a[data-admin]").forEach(function (a) {
			a.hidden = !who.admin;
		});
		$("actas-wrap").hidden = !who.admin;
		if (who.admin)
			actasFill();
		route();
	}

	/* The admin's "acting for" list: every tenant from /v1/tenants. */
	function actasFill() {
		var sel = $("actas"), cur = sessionStorage.getItem(ACTAS_KEY) || "";
		Ferry.get("/v1/tenants").then(function (data) {
			while (sel.options.length > 1)
				sel.remove(1);
			Ferry.list(data, ["tenants", "items"]).forEach(function (t) {
				var name = typeof t === "string" ? t : Ferry.pick(t, ["name", "tenant"]);
				if (typeof name === "string")
					sel.appendChild(h("option", { value: name }, name));
			});
			sel.value = cur;
			if (sel.value !== cur) {
				sessionStorage.removeItem(ACTAS_KEY);
				sel.value = "";
			}
		}, function () { /* the page shows the error */ });
	}

	/* ---- routes ------------------------------------------------------------ */

	/* "#/queue/messages/ID?x=1" -> {page, segments (decoded), params} */
	function routeParse() {
		var hash = location.hash.replace(/^#\/?/, "");
		var q = hash.indexOf("?"), params = {};
		if (q >= 0) {
			hash.slice(q + 1).split("&").forEach(function (kv) {
				var i = kv.indexOf("=");
				if (i > 0)
					params[decodeURIComponent(kv.slice(0, i))] = decodeURIComponent(kv.slice(i + 1));
			});
			hash = hash.slice(0, q);
		}
		var segs = hash.split("/").filter(function (s) { return s !== ""; }).map(function (s) {
			try {
				return decodeURIComponent(s);
			} catch (e) {
				return s;
			}
		});
		return { page: segs[0] || "overview", segments: segs.slice(1), params: params };
	}

	function route() {
		if (!Ferry.who)
			return;
		var r = routeParse(), view = Ferry.clear($("view"));
		var page = Ferry.pages[r.page];
		if (!page || (page.admin && !Ferry.who.admin)) {
			view.appendChild(h("p", { class: "error" }, page ? "This page is for the admin." :
			    "No such page."));
			return;
		}
		document.querySelectorAll("#nav a").forEach(function (a) {
			a.classList.toggle("active", a.getAttribute("data-page") === r.page);
		});
		document.title = "ferry: " + r.page;
		try {
			Ferry.append(view, page.render(r));
		} catch (e) {
			view.appendChild(Ferry.errorBox(e));
		}
	}
	Ferry.reload = route;

	/* ---- start ------------------------------------------------------------- */

	$("login-form").addEventListener("submit", function (ev) {
		ev.preventDefault();
		var token = $("token").value.trim(), btn = $("login-button");
		if (!token)
			return;
		btn.disabled = true;
		$("login-error").textContent = "";
		ping(token).then(function (who) {
			btn.disabled = false;
			Ferry.tokenSet(token);
			sessionStart(who);
		}, function (e) {
			btn.disabled = false;
			$("login-error").textContent = e.status === 401 ? "That token is not valid." : String(e);
		});
	});
	$("logout").addEventListener("click", function () { Ferry.logout("Logged out."); });
	/* Act for tenant name ("": all tenants) and draw the page again. */
	Ferry.actAs = function (name) {
		if (name)
			sessionStorage.setItem(ACTAS_KEY, name);
		else
			sessionStorage.removeItem(ACTAS_KEY);
		$("actas").value = name;
		route();
	};
	$("actas").addEventListener("change", function () { Ferry.actAs(this.value); });
	window.addEventListener("hashchange", route);

	if (Ferry.token()) {
		ping(Ferry.token()).then(sessionStart, function (e) {
			if (e.status === 401)
				Ferry.logout("Not logged in: " + e.message);
			else
				loginShow(String(e));
		});
	} else {
		loginShow("");
	}
})();
