/* Suggestions for the filter boxes that take slugs (cities, bases,
 * documents): as the reader types, ask the API's search for matching
 * records and offer them in the box's datalist (value: slug, label: name).
 * Filling the last box adds another, for a second value. */
(function () {
  "use strict";

  var DELAY_MS = 200;
  var SUGGESTIONS = 10;

  function fill(datalist, records) {
    datalist.replaceChildren.apply(
      datalist,
      records.map(function (record) {
        var option = document.createElement("option");
        option.value = record.slug;
        option.label = record.name_zh ? record.name + " · " + record.name_zh : record.name;
        return option;
      })
    );
  }

  function addEmptyBox(box) {
    var copy = box.cloneNode(false);
    copy.value = "";
    copy.removeAttribute("id");
    box.after(copy);
  }

  function attach(group) {
    var datalist = document.getElementById(group.dataset.datalist);
    var timer = null;
    group.addEventListener("input", function (event) {
      var box = event.target;
      var text = box.value.trim();
      var boxes = group.querySelectorAll("input");
      if (text && box === boxes[boxes.length - 1]) addEmptyBox(box);
      clearTimeout(timer);
      if (text.length < 2) return;
      timer = setTimeout(function () {
        var url = group.dataset.suggest + "?search=" + encodeURIComponent(text) + "&page_size=" + SUGGESTIONS;
        fetch(url, { headers: { Accept: "application/json" } })
          .then(function (response) { return response.ok ? response.json() : { results: [] }; })
          .then(function (page) { fill(datalist, page.results || []); })
          .catch(function () { /* no suggestions; typing a slug still works */ });
      }, DELAY_MS);
    });
  }

  document.querySelectorAll(".slug-search[data-suggest]").forEach(attach);
})();
