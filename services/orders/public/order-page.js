// The customer's order page: follows the order's live stream (Server-Sent Events) with the stream
// token from the URL fragment; shows the status in the page's language and the PIN the moment it
// arrives. No framework, no build step.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("page-data").textContent);
  var t = data.strings;
  var $ = function (id) { return document.getElementById(id); };
  var token = new URLSearchParams(location.hash.slice(1)).get("token");
  var connection = $("connection");
  var finished = false;

  function setConnection(state, text) {
    connection.dataset.state = state;
    connection.textContent = text;
  }

  function render(order) {
    var status = order.status;
    $("status").dataset.status = status;
    $("status").dataset.version = String(order.version);
    $("status-text").textContent = t["status_" + status] || status;
    $("help").textContent = t["help_" + status] || "";
    $("package").textContent = order.packageId;
    $("player").textContent = order.playerId;
    $("updated").textContent = new Date(order.updatedAt).toLocaleString(data.lang === "ar" ? "ar" : "en");
    if (order.pin) {
      $("pin").textContent = order.pin;
      $("pin-box").hidden = false;
    }
  }

  $("copy").addEventListener("click", function () {
    var pin = $("pin").textContent;
    var done = function () {
      $("copy").textContent = t.copied;
      setTimeout(function () { $("copy").textContent = t.copy; }, 2000);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(pin).then(done, function () { selectPin(); });
    else selectPin();
  });

  function selectPin() {
    var range = document.createRange();
    range.selectNodeContents($("pin"));
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  if (!token) {
    setConnection("closed", t.no_token);
    return;
  }
  var source = new EventSource("/v1/orders/" + encodeURIComponent(data.orderId) + "/stream?token=" + encodeURIComponent(token));
  source.addEventListener("open", function () { setConnection("live", t.live); });
  source.addEventListener("order", function (event) {
    var order = JSON.parse(event.data);
    render(order);
    if (order.status === "completed" || order.status === "failed") {
      // Settled: nothing more will change; free the stream.
      finished = true;
      source.close();
      setConnection("done", "");
    }
  });
  source.addEventListener("error", function () {
    if (finished) return;
    // CLOSED: the server refused the stream (an expired or wrong token); CONNECTING: the browser retries with Last-Event-ID.
    if (source.readyState === EventSource.CLOSED) setConnection("closed", t.expired);
    else setConnection("reconnecting", t.reconnecting);
  });
})();
