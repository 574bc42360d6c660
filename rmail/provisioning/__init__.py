"""The mail controller's interfaces: the declarative JSON document (parsed in `document`,
diffed in `plan`, applied in `apply`, fetched periodically by `task`) and the API keys of the
REST API (`keys`). Store work lives in `rmail.store.provisioning`, the HTTP routes in
`rmail.web.api.provisioning`."""
