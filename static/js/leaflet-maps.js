/* Starts django-leaflet maps and geometry widgets without inline scripts.
 *
 * django-leaflet's own templates initialise each map with an inline <script>,
 * which the site's Content-Security-Policy blocks. The overriding templates
 * (templates/leaflet/) put the same settings in data-* attributes instead and
 * include this file, once per map, so it guards against running twice.
 * Maps still announce themselves with the "map:init" event, which maps.js
 * and the geometry widgets below listen for. */
(function () {
  "use strict";

  if (window.leafletMapsStarted) return;
  window.leafletMapsStarted = true;

  /* "L.FieldStore" -> window.L.FieldStore, without eval. */
  function lookup(path) {
    return path.split(".").reduce(function (object, key) { return object == null ? object : object[key]; }, window);
  }

  function createMap(carrier) {
    if (carrier.dataset.leafletStarted) return;
    carrier.dataset.leafletStarted = "true";
    // The carrier is the map's own div, or stands in for a div made elsewhere.
    var container = carrier.dataset.leafletMap ? document.getElementById(carrier.dataset.leafletMap) : carrier;
    L.Map.djangoMap(container, {
      djoptions: JSON.parse(carrier.dataset.djoptions),
      globals: carrier.dataset.globals === "true",
      callback: carrier.dataset.callback ? lookup(carrier.dataset.callback) : null,
    });
  }

  /* The hidden template row of an admin inline is copied when an editor adds
   * a row; its map starts then (below), not while it is a template. */
  function isTemplate(carrier) {
    return carrier.closest(".empty-form") !== null || carrier.id.indexOf("__prefix__") !== -1;
  }

  function startMaps(root) {
    root.querySelectorAll("[data-djoptions]").forEach(function (carrier) {
      if (isTemplate(carrier)) return;
      var events = JSON.parse(carrier.dataset.loadevents || "[]");
      if (!events.length || root !== document) return createMap(carrier);
      events.forEach(function (name) {
        window.addEventListener(name, function () { createMap(carrier); });
      });
    });
  }

  /* A geometry widget: once its map exists, attach the drawing tools and the
   * textarea that holds the geometry (what django-leaflet's inline callback did). */
  window.addEventListener("map:init", function (event) {
    var map = event.detail.map;
    var widget = map.getContainer().closest("[data-leaflet-widget]");
    if (!widget) return;
    var settings = widget.dataset;
    var GeometryField = lookup(settings.geometryFieldClass);
    new GeometryField({
      fieldid: widget.querySelector("textarea").id,
      modifiable: settings.modifiable === "true",
      geom_type: settings.geomType,
      srid: Number(settings.srid),
      precision: event.detail.options.djoptions.precision,
      field_store_class: lookup(settings.fieldStoreClass),
    }).addTo(map);
  });

  // Rows added to an admin inline after the page loaded.
  document.addEventListener("formset:added", function (event) { startMaps(event.target); });

  startMaps(document);
})();
