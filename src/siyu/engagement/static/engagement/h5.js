// Customer pages: how long and how far a reader reads, reported while the page is open.
(function () {
  var article = document.getElementById("content");
  if (!article) { return; }
  var url = article.getAttribute("data-progress");
  var shown = Date.now(), before = 0, deepest = 0;
  function seen() { return before + (document.hidden ? 0 : (Date.now() - shown)); }
  function depth() {
    var doc = document.documentElement, total = doc.scrollHeight - window.innerHeight;
    var pct = total <= 0 ? 100 : Math.round(100 * window.scrollY / total);
    deepest = Math.max(deepest, Math.min(100, pct));
    return deepest;
  }
  function report() {
    var body = JSON.stringify({dwell: Math.round(seen() / 1000), scroll: depth()});
    if (navigator.sendBeacon) { navigator.sendBeacon(url, body); }
    else { fetch(url, {method: "POST", body: body, keepalive: true}); }
  }
  window.addEventListener("scroll", depth, {passive: true});
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { before += Date.now() - shown; report(); } else { shown = Date.now(); }
  });
  depth();
  setInterval(function () { if (!document.hidden) { report(); } }, 5000);
})();
