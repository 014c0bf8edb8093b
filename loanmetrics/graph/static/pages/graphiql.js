// Starts GraphiQL from the vendored React, GraphiQL and explorer scripts; the server writes the
// endpoint, the opening query and the headers into #graphiql-config.
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
        shouldPersistHeaders: true,
        inputValueDeprecation: true,
      },
      logo
    )
  );
})();
