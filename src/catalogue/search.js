// regtool's catalogue search: filters window.REGTOOL_CATALOGUE (from
// search-index.js) as the user types; `?q=` in the URL gives the first query.
// No framework; works from file:// too.
(function () {
  "use strict";
  var data = (window.REGTOOL_CATALOGUE && window.REGTOOL_CATALOGUE.crates) || [];
  var input = document.getElementById("q");
  var list = document.getElementById("results");
  var count = document.getElementById("count");
  var LIMIT = 500;
  function norm(s) {
    return s.toLowerCase().replace(/-/g, "_");
  }
  function show(query) {
    var words = norm(query).split(/\s+/).filter(Boolean);
    var exact = [];
    var rest = [];
    data.forEach(function (c) {
      var name = norm(c[0]);
      var hay = name + " " + norm(c[2] || "");
      if (words.every(function (w) { return hay.indexOf(w) >= 0; })) {
        (words.length === 1 && name === words[0] ? exact : rest).push(c);
      }
    });
    var found = exact.concat(rest);
    list.textContent = "";
    found.slice(0, LIMIT).forEach(function (c) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = "catalogue/crates/" + encodeURIComponent(c[0]) + ".html";
      a.textContent = c[0];
      a.className = "name";
      var v = document.createElement("span");
      v.className = "vers";
      v.textContent = c[1];
      li.appendChild(a);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(v);
      if (c[2]) {
        var d = document.createElement("span");
        d.className = "desc";
        d.textContent = c[2];
        li.appendChild(document.createTextNode(" "));
        li.appendChild(d);
      }
      list.appendChild(li);
    });
    count.textContent = (words.length ? found.length + " of " : "") + data.length +
      (data.length === 1 ? " crate" : " crates") +
      (found.length > LIMIT ? " (first " + LIMIT + " shown)" : "");
  }
  var first = new URLSearchParams(window.location.search).get("q") || "";
  input.value = first;
  show(first);
  input.addEventListener("input", function () {
    show(input.value);
    try {
      var q = input.value ? "?q=" + encodeURIComponent(input.value) : window.location.pathname;
      window.history.replaceState(null, "", q);
    } catch (e) { /* some file:// setups refuse; the search works anyway */ }
  });
})();
