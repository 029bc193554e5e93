// The API reference page: Swagger UI (loaded by the page as a classic script, a global) reads
// /openapi.json. A module of its own because the Content-Security-Policy allows no inline script.
/* global SwaggerUIBundle */

SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null, // no validator badge: it would call a remote host
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  onComplete: () => { document.body.dataset.ready = "1"; },
});
