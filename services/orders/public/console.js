// The operator console: plain script, no framework. The operator's key is kept in this tab's
// sessionStorage and sent as a Bearer header with every call; the page itself holds no data.
(function () {
  "use strict";
  var KEY = "pinflow.operatorKey";
  var $ = function (id) { return document.getElementById(id); };
  var history = {};
  var current = null;
  var nextCursor = null;

  function key() { return sessionStorage.getItem(KEY); }
  function say(text) { $("message").textContent = text || ""; }
  function el(tag, text, attrs) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (attrs) Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }

  function api(path, init) {
    init = init || {};
    var headers = { authorization: "Bearer " + key() };
    if (init.body) headers["content-type"] = "application/json";
    return fetch(path, { method: init.method || "GET", headers: headers, body: init.body ? JSON.stringify(init.body) : undefined }).then(function (res) {
      return res.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch { body = text; }
        if (res.status === 401) { signOut("That key was not accepted."); throw new Error("unauthenticated"); }
        if (!res.ok) {
          var message = body && body.error ? body.error.code + ": " + body.error.message : "HTTP " + res.status;
          var err = new Error(message);
          err.status = res.status;
          throw err;
        }
        return body;
      });
    });
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    $("app").hidden = true;
    $("sign-in").hidden = false;
    $("sign-out").hidden = true;
    $("who").textContent = "";
    say(message);
  }

  function start() {
    $("sign-in").hidden = true;
    $("sign-out").hidden = false;
    $("app").hidden = false;
    $("who").textContent = "key " + (key().split("_")[1] || "");
    say("");
    loadReview();
    loadOrders(false);
    loadProviders();
    loadFigures();
  }

  $("sign-in").addEventListener("submit", function (e) {
    e.preventDefault();
    sessionStorage.setItem(KEY, $("key").value.trim());
    $("key").value = "";
    start();
  });
  $("sign-out").addEventListener("click", function () { signOut(""); });

  function age(seconds) {
    if (seconds < 120) return seconds + " s";
    if (seconds < 7200) return Math.round(seconds / 60) + " min";
    return Math.round(seconds / 3600) + " h";
  }

  // --- review queue -------------------------------------------------------
  function loadReview() {
    return api("/v1/review?limit=100").then(function (page) {
      var body = $("review").querySelector("tbody");
      body.textContent = "";
      page.orders.forEach(function (o) {
        var tr = el("tr", null, { "data-order": o.orderId });
        [o.orderId, o.tenantId, o.packageId, o.provider || "—", o.reviewReason || "—", o.providerNote || "", age(o.ageSeconds)].forEach(function (v) { tr.appendChild(el("td", v)); });
        tr.addEventListener("click", function () { showOrder(o.orderId); });
        body.appendChild(tr);
      });
      if (page.orders.length === 0) body.appendChild(el("tr")).appendChild(el("td", "No orders in review.", { colspan: "7" }));
    }).catch(function (e) { say("Review queue: " + e.message); });
  }
  $("review-refresh").addEventListener("click", loadReview);

  // --- orders list --------------------------------------------------------
  function filterQuery() {
    var form = new FormData($("filters"));
    var q = new URLSearchParams();
    ["status", "packageId", "provider", "player"].forEach(function (name) {
      var v = String(form.get(name) || "").trim();
      if (v) q.set(name, v);
    });
    ["from", "to"].forEach(function (name) {
      var v = String(form.get(name) || "");
      if (v) q.set(name, new Date(v).toISOString());
    });
    q.set("limit", "50");
    return q;
  }

  function loadOrders(more) {
    var q = filterQuery();
    if (more && nextCursor) q.set("cursor", nextCursor);
    return api("/v1/orders?" + q.toString()).then(function (page) {
      var body = $("orders").querySelector("tbody");
      if (!more) body.textContent = "";
      page.orders.forEach(function (o) {
        var tr = el("tr", null, { "data-order": o.orderId, "data-status": o.status });
        [o.orderId, o.status, o.packageId, o.provider || "—", o.playerId, new Date(o.createdAt).toLocaleString()].forEach(function (v) { tr.appendChild(el("td", v)); });
        tr.addEventListener("click", function () { showOrder(o.orderId); });
        body.appendChild(tr);
      });
      nextCursor = page.nextCursor;
      $("more").hidden = !nextCursor;
    }).catch(function (e) { say("Orders: " + e.message); });
  }
  $("filters").addEventListener("submit", function (e) {
    e.preventDefault();
    var id = String(new FormData($("filters")).get("orderId") || "").trim();
    if (id) showOrder(id);
    else loadOrders(false);
  });
  $("more").addEventListener("click", function () { loadOrders(true); });

  // --- one order ----------------------------------------------------------
  function showOrder(orderId) {
    current = orderId;
    return Promise.all([api("/v1/orders/" + encodeURIComponent(orderId)), api("/v1/orders/" + encodeURIComponent(orderId) + "/events")]).then(function (r) {
      var o = r[0];
      var events = r[1].events;
      $("order-box").hidden = false;
      $("order-box").dataset.status = o.status;
      $("order-title").textContent = o.orderId;
      var facts = $("order-facts");
      facts.textContent = "";
      [["status", o.status], ["package", o.packageId], ["player", o.playerId], ["provider", o.provider || "—"], ["reason", o.reasonCode || o.reviewReason || "—"], ["note", o.providerNote || "—"], ["created", o.createdAt], ["updated", o.updatedAt]].forEach(function (f) {
        facts.appendChild(el("dt", f[0]));
        facts.appendChild(el("dd", f[1], { "data-fact": f[0] }));
      });
      $("actions").hidden = o.status !== "review";
      var list = $("timeline");
      list.textContent = "";
      events.forEach(function (e) {
        var li = el("li", null, { "data-type": e.type });
        li.appendChild(el("strong", e.type));
        li.appendChild(document.createTextNode(" " + new Date(e.occurredAt).toLocaleString() + " "));
        li.appendChild(el("code", JSON.stringify(e.data)));
        list.appendChild(li);
      });
      $("order-box").scrollIntoView({ block: "nearest" });
    }).catch(function (e) { say("Order " + orderId + ": " + e.message); });
  }

  function acted(what) {
    return function () {
      say(what + " — done.");
      return Promise.all([showOrder(current), loadReview(), loadOrders(false)]);
    };
  }
  function failed(what) { return function (e) { say(what + " failed: " + e.message); }; }

  $("complete-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var form = new FormData(e.target);
    api("/v1/orders/" + encodeURIComponent(current) + "/complete", { method: "POST", body: { pin: form.get("pin"), reason: form.get("reason") } })
      .then(function () { e.target.reset(); }).then(acted("Completed " + current), failed("Complete"));
  });
  $("fail-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var form = new FormData(e.target);
    api("/v1/orders/" + encodeURIComponent(current) + "/fail", { method: "POST", body: { reasonCode: form.get("reasonCode"), reason: form.get("reason") } })
      .then(function () { e.target.reset(); }).then(acted("Failed " + current), failed("Fail"));
  });
  $("recheck").addEventListener("click", function () {
    api("/v1/console/orders/" + encodeURIComponent(current) + "/check-now", { method: "POST", body: { reason: "asked from the console" } }).then(acted("Check asked for " + current), failed("Check again"));
  });
  $("dispatch-again").addEventListener("click", function () {
    var path = "/v1/console/orders/" + encodeURIComponent(current) + "/dispatch-again";
    api(path).then(function (answer) {
      if (answer.kind !== "allowed") { say("Dispatch again is not allowed: " + answer.reason); return; }
      var reason = window.prompt("Dispatch again: why?");
      if (!reason) return;
      return api(path, { method: "POST", body: { reason: reason } }).then(acted("Dispatched again " + current));
    }).catch(failed("Dispatch again"));
  });

  // --- providers ----------------------------------------------------------
  function loadProviders() {
    return api("/v1/console/providers").then(function (r) {
      var body = $("providers").querySelector("tbody");
      body.textContent = "";
      r.providers.forEach(function (p) {
        var tr = el("tr", null, { "data-provider": p.provider });
        var circuit = p.circuitOpenForMs > 0 ? "open " + Math.round(p.circuitOpenForMs / 1000) + " s" : "closed";
        [p.provider, p.balance === null ? "— (" + (p.balanceError || "unknown") + ")" : p.balance, circuit, p.paused ? "paused" : "no", p.shutOut ? "since " + p.shutOut.since : "no", p.poller && p.poller.heldHere ? p.poller.heldHere.reason : "no"].forEach(function (v) { tr.appendChild(el("td", v)); });
        body.appendChild(tr);
      });
    }).catch(function (e) { say("Providers: " + e.message); });
  }

  // --- monitoring figures with small charts ----------------------------
  var FIGURES = [
    ["backlog", "Watched orders (backlog)", ""],
    ["oldestOverdueSeconds", "Oldest overdue check", " s"],
    ["checksPerCompletedOrder", "Checks per completed order", ""],
    ["detectionDelaySeconds", "Detection delay (mean)", " s"],
    ["deadLetters", "Dead letters", ""],
    ["inReview", "Orders in review", ""],
  ];
  function sparkline(values) {
    var w = 160, h = 32;
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("width", w); svg.setAttribute("height", h); svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    var nums = values.filter(function (v) { return typeof v === "number"; });
    if (nums.length < 2) return svg;
    var max = Math.max.apply(null, nums), min = Math.min.apply(null, nums);
    var span = max - min || 1;
    var points = values.map(function (v, i) {
      if (typeof v !== "number") return null;
      return (i * (w - 2) / Math.max(1, values.length - 1) + 1).toFixed(1) + "," + (h - 2 - ((v - min) / span) * (h - 4)).toFixed(1);
    }).filter(Boolean).join(" ");
    var line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", points); line.setAttribute("fill", "none"); line.setAttribute("stroke", "#3490dc"); line.setAttribute("stroke-width", "1.5");
    svg.appendChild(line);
    return svg;
  }
  function loadFigures() {
    return api("/v1/console/figures").then(function (f) {
      var box = $("figures");
      box.textContent = "";
      FIGURES.forEach(function (d) {
        var v = f[d[0]];
        var series = history[d[0]] = (history[d[0]] || []).concat([v]).slice(-60);
        var div = el("div", null, { "class": "figure", "data-figure": d[0] });
        div.appendChild(el("div", d[1]));
        div.appendChild(el("div", v === null || v === undefined ? "—" : (Math.round(v * 100) / 100) + d[2], { "class": "value" }));
        div.appendChild(sparkline(series));
        box.appendChild(div);
      });
      if (f.unavailable && f.unavailable.length) say("Figures missing from: " + f.unavailable.join(", "));
    }).catch(function (e) { say("Figures: " + e.message); });
  }

  setInterval(function () {
    if (!key()) return;
    loadFigures();
    loadProviders();
    loadReview();
  }, 5000);

  if (key()) start();
})();
