/* Site maps: draws cities (coloured by reach) and planned bases (their area,
 * or lines joining their member cities) from GeoJSON, either embedded in the
 * page or fetched from the site. Map-page filters redraw without a reload.
 * Features are vector layers, so they show even when tiles cannot load. */
(function () {
  "use strict";

  var REACH_COLOURS = { upstream: "#1b7837", middle: "#b35806", downstream: "#2166ac" };
  var BASE_COLOUR = "#6a3d9a";

  function escapeHtml(text) {
    var span = document.createElement("span");
    span.textContent = text == null ? "" : String(text);
    return span.innerHTML;
  }

  function popupHtml(properties) {
    var html = '<a href="' + escapeHtml(properties.url) + '">' + escapeHtml(properties.label) + "</a>";
    if (properties.members && properties.members.length) {
      html += "<br><small>" + properties.members.map(escapeHtml).join(", ") + "</small>";
    }
    return html;
  }

  function cityMarker(feature) {
    var coords = feature.geometry.coordinates;
    return L.circleMarker([coords[1], coords[0]], {
      radius: 7,
      weight: 2,
      color: "#ffffff",
      fillColor: REACH_COLOURS[feature.properties.reach] || "#555555",
      fillOpacity: 0.95,
      className: "city-marker city-" + feature.properties.slug + " reach-" + feature.properties.reach,
    }).bindPopup(popupHtml(feature.properties));
  }

  /* A base without an area is drawn as lines from its first-listed city to
   * each of the others, so its reach across the region is visible. */
  function baseLayer(feature) {
    var geometry = feature.geometry;
    var style = { color: BASE_COLOUR, weight: 2, opacity: 0.7, className: "base-shape" };
    var layer;
    if (geometry.type === "MultiPoint") {
      var points = geometry.coordinates.map(function (c) { return [c[1], c[0]]; });
      var lines = points.slice(1).map(function (p) { return [points[0], p]; });
      layer = lines.length
        ? L.polyline(lines, Object.assign({}, style, { className: "base-shape base-link", dashArray: "4 4" }))
        : L.circleMarker(points[0], Object.assign({}, style, { radius: 12, fill: false, className: "base-shape base-point" }));
    } else {
      layer = L.geoJSON(geometry, { style: Object.assign({}, style, { className: "base-shape base-area" }) });
    }
    return layer.bindPopup(popupHtml(feature.properties));
  }

  function drawFeatures(features, cities, bases) {
    features.forEach(function (feature) {
      if (!feature.geometry) return;
      if (feature.properties.entity === "city") cities.addLayer(cityMarker(feature));
      else if (feature.properties.entity === "base") bases.addLayer(baseLayer(feature));
    });
  }

  function MapController(map, frame) {
    this.map = map;
    this.frame = frame;
    this.bases = L.featureGroup().addTo(map);
    this.cities = L.featureGroup().addTo(map);  // added last: markers stay clickable above lines
    var overlays = {};
    overlays[frame.dataset.labelCities || "Cities"] = this.cities;
    overlays[frame.dataset.labelBases || "Bases"] = this.bases;
    L.control.layers(null, overlays, { collapsed: false }).addTo(map);
  }

  MapController.prototype.clear = function () {
    this.cities.clearLayers();
    this.bases.clearLayers();
  };

  MapController.prototype.fit = function () {
    var bounds = this.cities.getBounds();
    if (this.bases.getLayers().length) bounds.extend(this.bases.getBounds());
    if (bounds.isValid()) this.map.fitBounds(bounds, { padding: [24, 24], maxZoom: 9 });
  };

  MapController.prototype.showEmbedded = function (scriptId) {
    var collection = JSON.parse(document.getElementById(scriptId).textContent);
    drawFeatures(collection.features, this.cities, this.bases);
    this.fit();
  };

  MapController.prototype.load = function (urls) {
    var self = this;
    var status = document.querySelector("[data-map-status]");
    var requests = urls.map(function (url) {
      return fetch(url, { headers: { Accept: "application/geo+json" } }).then(function (response) {
        if (!response.ok) throw new Error(response.status + " " + response.statusText);
        return response.json();
      });
    });
    return Promise.all(requests).then(function (collections) {
      self.clear();
      collections.forEach(function (c) { drawFeatures(c.features, self.cities, self.bases); });
      self.fit();
      self.frame.dataset.cityCount = self.cities.getLayers().length;
      self.frame.dataset.baseCount = self.bases.getLayers().length;
      self.frame.dataset.loaded = "true";
      if (status && status.dataset.template) {
        status.textContent = status.dataset.template
          .replace("{cities}", self.frame.dataset.cityCount)
          .replace("{bases}", self.frame.dataset.baseCount);
      }
    }).catch(function () {
      if (status) status.textContent = self.frame.dataset.loadError || "";
    });
  };

  function withQuery(url, query) {
    return url.split("?")[0] + (query ? "?" + query : "");
  }

  /* Map page: filters fetch new GeoJSON and redraw; the address follows. */
  function wireFilters(controller, form) {
    var baseUrls = controller.frame.dataset.sources.split(" ");
    function apply(event) {
      if (event) event.preventDefault();
      var query = new URLSearchParams(new FormData(form)).toString();
      history.replaceState(null, "", withQuery(window.location.pathname, query));
      controller.load(baseUrls.map(function (url) { return withQuery(url, query); }));
    }
    form.addEventListener("submit", apply);
    form.addEventListener("change", apply);
  }

  window.addEventListener("map:init", function (event) {
    var map = event.detail.map;
    var frame = map.getContainer().closest("[data-map-frame]");
    if (!frame) return;
    var controller = new MapController(map, frame);
    if (frame.dataset.embedded) {
      controller.showEmbedded(frame.dataset.embedded);
      frame.dataset.cityCount = controller.cities.getLayers().length;
      frame.dataset.loaded = "true";
    } else if (frame.dataset.sources) {
      controller.load(frame.dataset.sources.split(" "));
    }
    var form = document.querySelector("[data-map-filters]");
    if (form && frame.dataset.sources) wireFilters(controller, form);
  });
})();
