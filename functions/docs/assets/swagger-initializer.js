// Starts Swagger UI on the API's own document. A file rather than an inline script, so the page's
// Content-Security-Policy can allow scripts from 'self' and nothing else.
window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    // BaseLayout: the standalone layout's top bar draws its logo with an inline <style>.
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    // By default Swagger UI sends the document's address to validator.swagger.io.
    validatorUrl: null,
  });
});
