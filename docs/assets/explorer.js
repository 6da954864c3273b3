// The paper explorer's filters (docs/explorer.md, rendered from templates/explorer.md.j2).
//
// The page already lists every paper; this script only hides, counts and reorders the list
// items. It learns the facets from the form (one fieldset per facet, one checkbox per value, in
// the order of each item's data-v codes), so a facet added in scripts/reprogrammability/website.py
// needs no change here. Within a facet the ticked values are alternatives (OR); facets and the
// text search must all match (AND). The count beside a value is the number of papers with that
// value among those the other facets and the search let through. The state lives in the query
// string (?configuration=learnable&venue=ICLR&q=speech&sort=oldest), kept current with
// history.replaceState, so a filtered view can be bookmarked and shared.
//
// Only the first PAGE matching papers are shown ("Show more" adds another PAGE): a change then
// touches at most the items that enter or leave that window, so it costs the same at 100
// papers and at 10,000 (benchmarks/bench_site.py). Without the script every paper is shown.
(function () {
  "use strict";

  function init() {
    var root = document.getElementById("explorer");
    if (!root || root.getAttribute("data-ready")) return;
    root.setAttribute("data-ready", "1");
    var form = document.getElementById("explorer-filters");
    var list = document.getElementById("explorer-list");
    var status = document.getElementById("explorer-status");
    var search = document.getElementById("explorer-q");
    var sortSelect = document.getElementById("explorer-sort");
    var more = document.getElementById("explorer-more");
    var PAGE = Number(root.getAttribute("data-page")) || 50;
    var limit = PAGE;

    // Facets, from the form: key, checkboxes in value order, their count elements.
    var facets = Array.prototype.map.call(
      form.querySelectorAll("fieldset[data-facet]"),
      function (fieldset) {
        var boxes = Array.prototype.slice.call(fieldset.querySelectorAll("input[type=checkbox]"));
        return {
          key: fieldset.getAttribute("data-facet"),
          boxes: boxes,
          countEls: boxes.map(function (b) { return b.parentNode.querySelector(".explorer-count"); }),
          shownCounts: boxes.map(function () { return -1; }),
          mask: new Uint8Array(boxes.length),
          active: false,
        };
      });
    var nf = facets.length;

    // Papers, from the list: per facet the value indices, the searchable text, sort keys.
    var items = Array.prototype.slice.call(list.children);
    var n = items.length;
    // Per facet, the value indices of all papers in one typed array: paper k's values are
    // vals[f][start[f][k]] .. vals[f][start[f][k + 1] - 1] (compact, and fast to scan).
    var lists = facets.map(function () { return []; });
    var text = new Array(n);
    var years = new Int32Array(n);
    var titles = new Array(n);
    var hidden = new Uint8Array(n);
    var matches = new Uint8Array(n);
    var order = [];  // item indices in display order
    for (var o = 0; o < n; o++) order.push(o);
    items.forEach(function (li, k) {
      var parts = (li.getAttribute("data-v") || "").split(";");
      for (var f = 0; f < nf; f++) {
        var part = parts[f] || "";
        lists[f].push(part === "" ? [] : part.split(",").map(Number));
      }
      var t = li.querySelector(".t"), a = li.querySelector(".a"), note = li.querySelector(".n");
      titles[k] = t ? t.textContent : "";
      years[k] = parseInt(li.getAttribute("data-y"), 10) || 0;
      text[k] = (titles[k] + "\n" + (a ? a.textContent : "") + "\n" +
                 (note ? note.textContent : "")).toLowerCase();
    });

    var start = [], vals = [];
    lists.forEach(function (perPaper) {
      var offsets = new Int32Array(n + 1), flat = [];
      for (var k = 0; k < n; k++) {
        offsets[k] = flat.length;
        for (var i = 0; i < perPaper[k].length; i++) flat.push(perPaper[k][i]);
      }
      offsets[n] = flat.length;
      start.push(offsets);
      vals.push(Int32Array.from(flat));
    });
    lists = null;

    var collator = new Intl.Collator(undefined, { sensitivity: "base", numeric: true });
    var orders = {
      newest: null,  // the order of the HTML
      oldest: function (i, j) { return years[i] - years[j] || collator.compare(titles[i], titles[j]) || i - j; },
      title: function (i, j) { return collator.compare(titles[i], titles[j]) || i - j; },
    };
    var currentOrder = "newest";

    function readControls() {
      for (var f = 0; f < nf; f++) {
        var facet = facets[f];
        facet.active = false;
        for (var v = 0; v < facet.boxes.length; v++) {
          facet.mask[v] = facet.boxes[v].checked ? 1 : 0;
          if (facet.mask[v]) facet.active = true;
        }
      }
    }

    function filter() {
      readControls();
      var query = search.value.trim().toLowerCase();
      var active = [];
      for (var f = 0; f < nf; f++) if (facets[f].active) active.push(f);
      var na = active.length;
      var counts = facets.map(function (facet) { return new Int32Array(facet.boxes.length); });
      var visible = 0;
      for (var k = 0; k < n; k++) {
        var match = 0;
        if (!query || text[k].indexOf(query) !== -1) {
          // The active facets this paper fails: none (a match), one (it counts there), more.
          var failed = -1, failures = 0;
          for (var a = 0; a < na && failures < 2; a++) {
            f = active[a];
            var mask = facets[f].mask, v = vals[f], hit = false;
            for (var i = start[f][k], end = start[f][k + 1]; i < end; i++) {
              if (mask[v[i]]) { hit = true; break; }
            }
            if (!hit) { failures++; failed = f; }
          }
          if (failures === 0) {
            match = 1;
            visible++;
            for (f = 0; f < nf; f++) {
              var c = counts[f], w = vals[f];
              for (i = start[f][k], end = start[f][k + 1]; i < end; i++) c[w[i]]++;
            }
          } else if (failures === 1) {
            var cf = counts[failed], wf = vals[failed];
            for (i = start[failed][k], end = start[failed][k + 1]; i < end; i++) cf[wf[i]]++;
          }
        }
        matches[k] = match;
      }
      for (f = 0; f < nf; f++) {
        var facet = facets[f];
        for (var j = 0; j < facet.boxes.length; j++) {
          if (facet.shownCounts[j] !== counts[f][j]) {
            facet.shownCounts[j] = counts[f][j];
            if (facet.countEls[j]) facet.countEls[j].textContent = String(counts[f][j]);
          }
        }
      }
      root.setAttribute("data-visible", String(visible));
      return visible;
    }

    // Show the first `limit` matches in display order; touch only items whose state changes.
    function show(visible) {
      var shown = 0;
      for (var r = 0; r < n; r++) {
        var k = order[r];
        var hide = 1;
        if (matches[k] && shown < limit) { hide = 0; shown++; }
        if (hidden[k] !== hide) {
          hidden[k] = hide;
          items[k].hidden = hide === 1;
        }
      }
      status.textContent = visible + " of " + n + " papers" +
        (shown < visible ? ", the first " + shown + " shown" : "");
      if (more) {
        more.hidden = shown >= visible;
        more.textContent = "Show " + Math.min(PAGE, visible - shown) + " more";
      }
    }

    function sort() {
      var name = Object.prototype.hasOwnProperty.call(orders, sortSelect.value) ? sortSelect.value : "newest";
      if (name === currentOrder) return;
      currentOrder = name;
      order = [];
      for (var k = 0; k < n; k++) order.push(k);
      if (orders[name]) order.sort(orders[name]);
      var fragment = document.createDocumentFragment();
      for (k = 0; k < n; k++) fragment.appendChild(items[order[k]]);
      list.appendChild(fragment);
    }

    function writeUrl() {
      var params = new URLSearchParams();
      facets.forEach(function (facet) {
        facet.boxes.forEach(function (box) { if (box.checked) params.append(facet.key, box.value); });
      });
      if (search.value.trim()) params.set("q", search.value.trim());
      if (currentOrder !== "newest") params.set("sort", currentOrder);
      var query = params.toString();
      var url = window.location.pathname + (query ? "?" + query : "") + window.location.hash;
      if (url !== window.location.pathname + window.location.search + window.location.hash) {
        window.history.replaceState(null, "", url);
      }
    }

    function readUrl() {
      var params = new URLSearchParams(window.location.search);
      facets.forEach(function (facet) {
        var wanted = params.getAll(facet.key);
        facet.boxes.forEach(function (box) { box.checked = wanted.indexOf(box.value) !== -1; });
      });
      search.value = params.get("q") || "";
      var order = params.get("sort");
      sortSelect.value = order && Object.prototype.hasOwnProperty.call(orders, order) ? order : "newest";
    }

    function update() {
      limit = PAGE;
      sort();
      show(filter());
      writeUrl();
    }

    form.addEventListener("change", update);
    search.addEventListener("input", update);
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    form.addEventListener("reset", function (event) {
      event.preventDefault();
      facets.forEach(function (facet) { facet.boxes.forEach(function (box) { box.checked = false; }); });
      search.value = "";
      sortSelect.value = "newest";
      update();
    });
    window.addEventListener("popstate", function () { readUrl(); update(); });
    if (more) {
      more.addEventListener("click", function () {
        limit += PAGE;
        show(Number(root.getAttribute("data-visible")));
      });
    }

    readUrl();
    form.hidden = false;
    update();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
