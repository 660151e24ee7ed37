/* Starts Swagger UI on the API docs page (templates/drf_spectacular/swagger_ui.html)
 * from the page's data-* attributes, in place of drf-spectacular's inline
 * script, which the site's Content-Security-Policy blocks. Unlike that script
 * it does not re-fetch the schema after "Authorize": the schema is public and
 * the same for everyone. */
(function () {
  "use strict";

  var root = document.getElementById("swagger-ui");
  var data = root.dataset;

  /* "Try it out" with a session login: Django wants the CSRF token on
   * requests that change data. */
  function requestInterceptor(request) {
    var safe = !request.method || request.method === "GET";
    if (!safe && request.credentials === "same-origin") request.headers[data.csrfHeader] = data.csrfToken;
    return request;
  }

  window.ui = SwaggerUIBundle(Object.assign({
    url: data.schemaUrl,
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    requestInterceptor: requestInterceptor,
  }, JSON.parse(data.settings || "{}")));
})();
