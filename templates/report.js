/* certcheck report: sort and filter the summary, open linked targets. The page reads without it. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var table = document.getElementById("summary-table");
  if (!table) { return; }
  var tbody = table.tBodies[0];
  var headings = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var rows = Array.prototype.slice.call(tbody.rows);
  var text = document.getElementById("filter-text");
  var verdict = document.getElementById("filter-verdict");
  var counter = document.getElementById("filter-count");
  var cards = Array.prototype.slice.call(document.querySelectorAll(".card[data-filter]"));
  var position = new Map(rows.map(function (row, index) { return [row, index]; }));
  var haystack = new Map(rows.map(function (row) {
    var words = [row.getAttribute("data-search"), row.textContent];
    var section = document.getElementById(row.getAttribute("data-target"));
    if (section) {
      Array.prototype.forEach.call(section.querySelectorAll(".rid"), function (rid) {
        words.push(rid.textContent);
      });
    }
    return [row, words.join(" ").toLowerCase()];
  }));

  function apply() {
    var query = text.value.trim().toLowerCase();
    var wanted = verdict.value;
    var shown = 0;
    rows.forEach(function (row) {
      var ok = (!wanted || row.getAttribute("data-overall") === wanted) &&
        (!query || haystack.get(row).indexOf(query) !== -1);
      row.hidden = !ok;
      var target = document.getElementById(row.getAttribute("data-target"));
      if (target) { target.hidden = !ok; }
      if (ok) { shown += 1; }
    });
    counter.textContent = counter.getAttribute("data-template")
      .replace("{shown}", String(shown)).replace("{total}", String(rows.length));
    cards.forEach(function (card) {
      card.classList.toggle("active", card.getAttribute("data-filter") === wanted);
    });
  }

  // data-k holds the row's sort numbers: overall, one per platform, days left, worst finding
  function sortKey(row, column) {
    if (column < 0) { return row.cells[0].textContent.trim().toLowerCase(); }
    return Number(row.getAttribute("data-k").split(" ")[column]);
  }

  function sortBy(th) {
    var column = Number(th.getAttribute("data-col"));
    var current = th.getAttribute("aria-sort");
    // verdicts and findings sort worst first on the first click; names A-Z; expiry soonest first
    var descending = current ? current === "ascending" : column >= 0 && column !== 4;
    headings.forEach(function (cell) { cell.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var sorted = rows.slice().sort(function (a, b) {
      var x = sortKey(a, column), y = sortKey(b, column);
      var order = column < 0 ? x.localeCompare(y) : x - y;
      if (order === 0) { return position.get(a) - position.get(b); }
      return descending ? -order : order;
    });
    var fragment = document.createDocumentFragment();
    sorted.forEach(function (row) { fragment.appendChild(row); });
    tbody.appendChild(fragment);
  }

  headings.forEach(function (th) {
    var button = th.querySelector("button");
    if (button && th.hasAttribute("data-col")) {
      button.addEventListener("click", function () { sortBy(th); });
    }
  });
  text.form.addEventListener("submit", function (event) { event.preventDefault(); });
  text.addEventListener("input", apply);
  verdict.addEventListener("change", apply);
  cards.forEach(function (card) {
    card.addEventListener("click", function () {
      var value = card.getAttribute("data-filter");
      verdict.value = verdict.value === value ? "" : value;
      apply();
      document.getElementById("summary").scrollIntoView();
    });
  });

  function openLinked() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var target = id ? document.getElementById(id) : null;
    if (target && target.tagName === "DETAILS") {
      target.hidden = false;
      target.open = true;
    }
  }
  window.addEventListener("hashchange", openLinked);
  openLinked();
  // a table wider than its box says so (the box scrolls sideways; the page does not)
  var wraps = Array.prototype.slice.call(document.querySelectorAll(".table-wrap"));
  var pending = false;
  function markScrolling() {
    pending = false;
    wraps.forEach(function (wrap) {
      wrap.classList.toggle("scrolls", wrap.scrollWidth > wrap.clientWidth + 1);
    });
  }
  function later() {
    if (!pending) { pending = true; window.requestAnimationFrame(markScrolling); }
  }
  markScrolling();
  window.addEventListener("resize", later);
  document.addEventListener("toggle", later, true);
  window.addEventListener("beforeprint", function () {
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) {
      d.open = true;
    });
  });
}());
