/* The admin export page's "Select all" box (django-import-export), wired here
 * because its inline onchange attribute is blocked by the site's
 * Content-Security-Policy. The handler comes from import-export's own
 * export_selectable_fields.js; it sets every field box to the toggle's state,
 * so running it twice (if the inline attribute ever runs too) does no harm. */
(function () {
  "use strict";

  if (typeof window.onSelectToggleChange !== "function") return;
  document.querySelectorAll("input.select-toggle").forEach(function (toggle) {
    toggle.addEventListener("change", window.onSelectToggleChange);
  });
})();
