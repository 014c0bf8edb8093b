// Starts Swagger UI from the vendored bundle on the server's own OpenAPI document. The validator
// badge is off: it would load an image from the internet. A token entered under Authorize is not
// persisted (Swagger UI would keep it in localStorage).
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("api-docs-config").textContent);
  window.ui = SwaggerUIBundle({
    url: config.openapi,
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    persistAuthorization: false,
    validatorUrl: null,
    defaultModelsExpandDepth: 0,
  });
})();
