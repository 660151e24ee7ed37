/* Starts Redoc on the API reference page (templates/drf_spectacular/redoc.html)
 * from the page's data-* attributes, in place of drf-spectacular's inline
 * script, which the site's Content-Security-Policy blocks. Redoc adds its
 * styles as <style> elements; the policy allows them by the request's nonce,
 * which this script's tag carries. */
(function () {
  "use strict";

  var container = document.getElementById("redoc-container");
  var settings = JSON.parse(container.dataset.settings);
  settings.nonce = document.currentScript.nonce;
  Redoc.init(container.dataset.specUrl, settings, container);
})();
