// Starts GraphiQL from the vendored React, GraphiQL and explorer scripts; the server writes the
// endpoint, the opening query and the headers into #graphiql-config. The headers the user types
// (a bearer token) are not persisted: GraphiQL would keep them in localStorage, where any script of
// this origin, and anyone at the browser later, could read them.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("graphiql-config").textContent);
  var fetcher = GraphiQL.createFetcher({ url: config.endpoint });
  var explorer = GraphiQLPluginExplorer.explorerPlugin();
  var logo = React.createElement(GraphiQL.Logo, null, "Loan Officer Metrics");
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(
      GraphiQL,
      {
        fetcher: fetcher,
        plugins: [explorer],
        defaultQuery: config.query,
        defaultHeaders: config.headers,
        defaultEditorToolsVisibility: config.headers ? "headers" : false,
        isHeadersEditorEnabled: true,
        shouldPersistHeaders: false,
        inputValueDeprecation: true,
      },
      logo
    )
  );
})();
